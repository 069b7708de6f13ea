// core/utf8.hpp — UTF-8 validity, byte by byte: what the event checks (model names) and the configuration reader
// (whole files) refuse. Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace warmup::host {

/// The length in bytes of the valid UTF-8 sequence that starts at `at` in `text`, or 0 when the bytes there are not
/// one (a stray continuation byte, a truncated sequence, an overlong form, a surrogate, or beyond U+10FFFF).
std::size_t utf8_sequence_length(std::string_view text, std::size_t at);

/// The byte offset of the first byte of `text` that does not begin a valid UTF-8 sequence, or nullopt when all of
/// `text` is valid UTF-8.
std::optional<std::size_t> first_invalid_utf8(std::string_view text);

/// `text` with each byte that does not begin a valid UTF-8 sequence written as the four characters \xFF (its value
/// in upper-case hex); valid UTF-8 is copied unchanged. For quoting a client's bytes in a message: the result is valid
/// UTF-8, so a JSON answer can carry it, and it still shows which byte was wrong.
std::string escape_invalid_utf8(std::string_view text);

/// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a valid UTF-8 sequence: cutting
/// a quoted name short never creates an invalid byte of its own.
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes);

}  // namespace warmup::host
