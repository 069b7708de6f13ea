// warmup/sdk/glob.hpp — the product's one glob dialect, shared by the host's catalog and by plugins that map model
// names (backends' name maps, file patterns), so a pattern means the same thing in every part of a configuration.
#pragma once

#include <cstddef>
#include <string_view>

namespace warmup::sdk {

/// `*` matches any run of characters (including '/' and none), `?` exactly one character; every other character
/// matches itself (no escapes, no classes). Iterative, backtracking only to the last '*': O(pattern x text) at worst,
/// no recursion, no allocation. Thread-safety: pure.
[[nodiscard]] inline bool glob_match(std::string_view pattern, std::string_view text) noexcept {
    std::size_t p = 0, t = 0;
    std::size_t star = std::string_view::npos, text_after_star = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            text_after_star = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++text_after_star;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

}  // namespace warmup::sdk
