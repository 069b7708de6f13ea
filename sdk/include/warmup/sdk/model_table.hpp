// warmup/sdk/model_table.hpp — how far to grow a table indexed by model (per-model state a plugin keeps).
//
// Model indexes are dense and only grow (host.h: model_count), so plugins keep per-model state in arrays indexed by
// model and grow them when a higher index appears. Doubling wastes up to half of the table: at 10 k models and a
// kilobyte or two per model, megabytes. grown_model_capacity() grows by a quarter (amortised O(1) per new model, as
// with doubling), and to exactly the catalog's size when the host already knows more models than needed and that is
// still a real step (an eighth, and at least 16 slots): a burst of new models ends with no unused slot.
//
// Pure function, any thread. Use with reserve() before resize(): resize() alone lets std::vector double.
#pragma once

#include <algorithm>
#include <cstddef>

namespace warmup::sdk {

/// The capacity for a table of `capacity` models that must hold `needed` (> capacity: else `capacity` is returned),
/// when the host's catalog has `catalog_models` models (host().model_count()).
[[nodiscard]] constexpr std::size_t grown_model_capacity(std::size_t capacity, std::size_t needed,
                                                         std::size_t catalog_models) noexcept {
    if (needed <= capacity) return capacity;
    const std::size_t geometric = capacity + capacity / 4 + 16;
    const std::size_t real_step = capacity + std::max<std::size_t>(capacity / 8, 16);
    if (catalog_models >= needed && catalog_models >= real_step && catalog_models < geometric) return catalog_models;
    return std::max(needed, geometric);
}

}  // namespace warmup::sdk
