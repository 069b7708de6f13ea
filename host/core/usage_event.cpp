// core/usage_event.cpp — the checks every way of arrival applies to an event (see usage_event.hpp).
#include "core/usage_event.hpp"

#include <fmt/format.h>

#include "core/utf8.hpp"

namespace warmup::host {
namespace {

// The length in bytes of the Unicode White_Space character that starts at `at` in the UTF-8 text `name`, or 0 when
// another character starts there. The C0 ones (tab, line feed, ...) and U+0085 are control characters, refused before
// this is asked.
std::size_t white_space_length(std::string_view name, std::size_t at) {
    const auto byte = [&](std::size_t i) { return i < name.size() ? static_cast<unsigned char>(name[i]) : 0U; };
    const unsigned lead = byte(at);
    if (lead == ' ') return 1;
    if (lead == 0xc2 && byte(at + 1) == 0xa0) return 2;                          // U+00A0 no-break space
    if (lead == 0xe1 && byte(at + 1) == 0x9a && byte(at + 2) == 0x80) return 3;  // U+1680 ogham space mark
    if (lead == 0xe2 && byte(at + 1) == 0x80) {
        const unsigned last = byte(at + 2);
        // U+2000..U+200A (en quad .. hair space), U+2028, U+2029 (line, paragraph separator), U+202F
        if ((last >= 0x80 && last <= 0x8a) || last == 0xa8 || last == 0xa9 || last == 0xaf) return 3;
    }
    if (lead == 0xe2 && byte(at + 1) == 0x81 && byte(at + 2) == 0x9f) return 3;  // U+205F medium mathematical space
    if (lead == 0xe3 && byte(at + 1) == 0x80 && byte(at + 2) == 0x80) return 3;  // U+3000 ideographic space
    return 0;
}

// The code point of the bidirectional formatting character that starts at `at` (U+061C, U+200E, U+200F,
// U+202A..U+202E, U+2066..U+2069), or 0. They change how the text around them is displayed: "embed/\u202eLTR"
// shows as "embed/RTL", so one name could be made to look like another on the status page and in logs.
unsigned bidi_control_at(std::string_view name, std::size_t at) {
    const auto byte = [&](std::size_t i) { return i < name.size() ? static_cast<unsigned char>(name[i]) : 0U; };
    const unsigned lead = byte(at), second = byte(at + 1), third = byte(at + 2);
    if (lead == 0xd8 && second == 0x9c) return 0x061c;
    if (lead == 0xe2 && second == 0x80 && (third == 0x8e || third == 0x8f || (third >= 0xaa && third <= 0xae)))
        return 0x2000 + (third - 0x80);
    if (lead == 0xe2 && second == 0x81 && third >= 0xa6 && third <= 0xa9) return 0x2040 + (third - 0x80);
    return 0;
}

}  // namespace

std::optional<std::string> model_name_problem(std::string_view name) {
    if (name.empty()) return "'model' must not be empty";
    if (name.size() > kMaxModelNameBytes)
        return fmt::format("'model' is {} bytes, longer than {}", name.size(), kMaxModelNameBytes);
    bool only_white_space = true;
    for (std::size_t at = 0; at < name.size();) {
        const auto c = static_cast<unsigned char>(name[at]);
        if (c < 0x20 || c == 0x7f)
            return fmt::format("'model' contains the control character 0x{:02x} at byte {}", static_cast<unsigned>(c),
                               at);
        const std::size_t length = utf8_sequence_length(name, at);
        if (length == 0) return fmt::format("'model' is not valid UTF-8 (byte 0x{:02x} at byte {})", c, at);
        // In UTF-8, U+0080..U+009F are 0xc2 followed by 0x80..0x9f.
        if (c == 0xc2) {
            const auto next = static_cast<unsigned char>(name[at + 1]);
            if (next >= 0x80 && next <= 0x9f)
                return fmt::format("'model' contains the control character U+{:04X} at byte {}",
                                   static_cast<unsigned>(next), at);
        }
        if (const unsigned bidi = bidi_control_at(name, at); bidi != 0)
            return fmt::format(
                "'model' contains the bidirectional control character U+{:04X} at byte {} (it makes a name display "
                "as another)",
                bidi, at);
        if (white_space_length(name, at) == 0) only_white_space = false;
        at += length;
    }
    if (only_white_space) return "'model' must not be blank (it is only white space)";
    return std::nullopt;
}

std::optional<std::string> event_count_problem(int64_t count) {
    if (count >= 1 && count <= kMaxEventCount) return std::nullopt;
    return fmt::format("'count' must be between 1 and {}", kMaxEventCount);
}

std::optional<std::string> event_time_problem(int64_t ts_ms, int64_t now_ms) {
    if (ts_ms < kMinEventTsMs)
        return fmt::format(
            "'ts_ms' {} is before 2001-09-09 (the earliest accepted, {}): ts_ms counts milliseconds since the epoch, "
            "not seconds",
            ts_ms, kMinEventTsMs);
    // The lead is computed in uint64_t: exact for any two int64_t with ts_ms > now_ms, with no signed overflow.
    if (ts_ms > now_ms) {
        const uint64_t ahead_ms = static_cast<uint64_t>(ts_ms) - static_cast<uint64_t>(now_ms);
        if (ahead_ms > static_cast<uint64_t>(kMaxFutureSkewMs))
            return fmt::format("'ts_ms' {} is in the future ({} ms ahead of the server clock, at most {} allowed)",
                               ts_ms, ahead_ms, kMaxFutureSkewMs);
    }
    return std::nullopt;
}

}  // namespace warmup::host
