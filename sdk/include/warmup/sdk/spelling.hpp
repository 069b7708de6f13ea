// warmup/sdk/spelling.hpp — the "did you mean" of an unknown key: the closest known name, when it is close enough to
// be a typo rather than a guess. Used for a plugin's params (Params::finish) and by the host for configuration keys.
//
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warmup::sdk {

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions, so "prot" is 1 away from "port").
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t substitution = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + substitution});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

/// The name of `known` closest to `key`, if within 2 edits for names of 6 or more characters and 1 for shorter ones
/// (the first of equally close ones); nullopt otherwise.
template <typename Names>
std::optional<std::string> closest_name(std::string_view key, const Names& known) {
    std::optional<std::string> best;
    std::size_t best_distance = 0;
    for (const auto& candidate : known) {
        const std::string_view name(candidate);
        const std::size_t distance = edit_distance(key, name);
        if (best && distance >= best_distance) continue;
        const std::size_t allowed = std::max(key.size(), name.size()) >= 6 ? 2 : 1;
        if (distance > allowed) continue;
        best = std::string(name);
        best_distance = distance;
    }
    return best;
}

}  // namespace warmup::sdk
