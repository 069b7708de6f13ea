// apps/history/history_table.hpp — `warmupctl history`: the answer of GET /api/warmup/history as a table a person
// reads, one row per interval between two samples (what happened in it), then the total of the window.
//
// Pure functions of their arguments; any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace warmup::host {

/// "90s", "30m", "1h", "7d" (a number with a unit ms, s, m, h or d; fractions allowed) as milliseconds; nullopt for
/// anything else, a negative number or zero.
[[nodiscard]] std::optional<int64_t> parse_age_ms(const std::string& text);

/// The table of `answer` (an enabled answer of GET /api/warmup/history). Counter columns are the change since the
/// previous sample (a counter that went down, after a restore or a reset, counts from zero again); `memory MiB` is
/// the memory in use at the sample. `time_text` formats a time in ms since the epoch. Throws
/// nlohmann::json::exception when the answer does not have the documented shape.
[[nodiscard]] std::string history_table(const nlohmann::json& answer,
                                        const std::function<std::string(int64_t)>& time_text);

}  // namespace warmup::host
