// core/utf8.cpp — see utf8.hpp.
#include "core/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace warmup::host {

std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
    const auto byte = [&](std::size_t i) { return i < text.size() ? static_cast<unsigned char>(text[i]) : 0U; };
    const unsigned lead = byte(at);
    const auto continuation = [&](std::size_t i, unsigned low = 0x80, unsigned high = 0xbf) {
        const unsigned value = byte(i);
        return i < text.size() && value >= low && value <= high;
    };
    if (lead < 0x80) return 1;
    if (lead >= 0xc2 && lead <= 0xdf) return continuation(at + 1) ? 2 : 0;
    if (lead >= 0xe0 && lead <= 0xef) {
        // E0 needs A0..BF next (no overlong form), ED 80..9F (no UTF-16 surrogate).
        const unsigned low = lead == 0xe0 ? 0xa0 : 0x80;
        const unsigned high = lead == 0xed ? 0x9f : 0xbf;
        return continuation(at + 1, low, high) && continuation(at + 2) ? 3 : 0;
    }
    if (lead >= 0xf0 && lead <= 0xf4) {
        // F0 needs 90..BF next (no overlong form), F4 80..8F (nothing beyond U+10FFFF).
        const unsigned low = lead == 0xf0 ? 0x90 : 0x80;
        const unsigned high = lead == 0xf4 ? 0x8f : 0xbf;
        return continuation(at + 1, low, high) && continuation(at + 2) && continuation(at + 3) ? 4 : 0;
    }
    return 0;
}

std::optional<std::size_t> first_invalid_utf8(std::string_view text) {
    for (std::size_t at = 0; at < text.size();) {
        if (static_cast<unsigned char>(text[at]) < 0x80) {  // ASCII, nearly all of a configuration: one byte
            ++at;
            continue;
        }
        const std::size_t length = utf8_sequence_length(text, at);
        if (length == 0) return at;
        at += length;
    }
    return std::nullopt;
}

std::string escape_invalid_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t length = utf8_sequence_length(text, at);
        if (length == 0) {
            out += fmt::format("\\x{:02X}", static_cast<unsigned char>(text[at]));
            ++at;
            continue;
        }
        out.append(text, at, length);
        at += length;
    }
    return out;
}

std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return text;
    std::size_t end = 0;
    while (end < max_bytes) {
        // An invalid byte counts as one: it is cut as it is, no sequence of its own to keep whole.
        const std::size_t length = std::max<std::size_t>(utf8_sequence_length(text, end), 1);
        if (end + length > max_bytes) break;
        end += length;
    }
    return text.substr(0, end);
}

}  // namespace warmup::host
