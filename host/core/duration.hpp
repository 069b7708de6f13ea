// core/duration.hpp — durations as people type them on a command line: "90s", "15m", "1.5h", "7d", "250ms".
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>

namespace warmup::host {

/// Milliseconds of `text`: a number >= 0 followed by one unit of ms, s, m, h or d; a bare number counts as
/// milliseconds when `bare_number_is_ms` is true and is refused otherwise. nullopt for anything else (no number, a
/// negative or non-finite one, an unknown unit, more milliseconds than int64_t holds). Rounded to the nearest
/// millisecond.
[[nodiscard]] inline std::optional<int64_t> parse_duration_ms(std::string_view text, bool bare_number_is_ms) {
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || !std::isfinite(value) || value < 0) return std::nullopt;
    const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
    double scale = 0;
    if (unit == "ms" || (unit.empty() && bare_number_is_ms))
        scale = 1;
    else if (unit == "s")
        scale = 1e3;
    else if (unit == "m")
        scale = 60e3;
    else if (unit == "h")
        scale = 3600e3;
    else if (unit == "d")
        scale = 86400e3;
    else
        return std::nullopt;
    const double ms = value * scale;
    if (!(ms < 9.2e18)) return std::nullopt;  // beyond int64_t milliseconds (about 292 million years)
    return static_cast<int64_t>(std::llround(ms));
}

}  // namespace warmup::host
