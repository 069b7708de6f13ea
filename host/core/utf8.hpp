// core/utf8.hpp — UTF-8 validity, byte by byte: what the event checks (model names) and the configuration reader
// (whole files) refuse. Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace warmup::host {

/// The length in bytes of the valid UTF-8 sequence that starts at `at` in `text`, or 0 when the bytes there are not
/// one (a stray continuation byte, a truncated sequence, an overlong form, a surrogate, or beyond U+10FFFF).
std::size_t utf8_sequence_length(std::string_view text, std::size_t at);

/// The byte offset of the first byte of `text` that does not begin a valid UTF-8 sequence, or nullopt when all of
/// `text` is valid UTF-8.
std::optional<std::size_t> first_invalid_utf8(std::string_view text);

}  // namespace warmup::host
