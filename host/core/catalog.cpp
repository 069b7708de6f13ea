#include "core/catalog.hpp"

#include <fmt/format.h>

#include <mutex>
#include <stdexcept>
#include <warmup/sdk/glob.hpp>

namespace warmup::host {

Catalog::Catalog(std::vector<CatalogEntry> entries, uint32_t max_models)
    : entries_(std::move(entries)), max_models_(max_models) {
    entry_of_pattern_.reserve(entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        entry_of_pattern_.emplace(entries_[i].pattern, i);  // the first entry of a pattern given twice wins
        if (entries_[i].pattern.find_first_of("*?") != std::string::npos) glob_entries_.push_back(i);
    }
}

std::optional<std::size_t> Catalog::match_entry(std::string_view name) const {
    // A name equal to a pattern is that entry, a glob's text included; then the first glob that matches.
    if (const auto exact = entry_of_pattern_.find(name); exact != entry_of_pattern_.end()) return exact->second;
    for (const std::size_t i : glob_entries_)
        if (sdk::glob_match(entries_[i].pattern, name)) return i;
    return std::nullopt;
}

std::optional<warmup_model_index> Catalog::resolve(std::string_view name, Registration registration) {
    {
        std::shared_lock lock(mutex_);
        if (auto it = by_name_.find(std::string(name)); it != by_name_.end()) return it->second;
    }
    const auto entry = match_entry(name);
    if (!entry) return std::nullopt;
    std::unique_lock lock(mutex_);
    if (auto it = by_name_.find(std::string(name)); it != by_name_.end()) return it->second;
    if (registration == Registration::within_limit && max_models_ != 0 && records_.size() >= max_models_)
        return std::nullopt;
    const auto index = static_cast<warmup_model_index>(records_.size());
    const CatalogEntry& e = entries_[*entry];
    records_.push_back(ModelRecord{index, std::string(name), e.memory_mb, e.load_ms, e.unload_ms, e.priority});
    by_name_.emplace(records_.back().name, index);
    return index;
}

std::optional<warmup_model_index> Catalog::find(std::string_view name) const {
    std::shared_lock lock(mutex_);
    if (auto it = by_name_.find(std::string(name)); it != by_name_.end()) return it->second;
    return std::nullopt;
}

const ModelRecord& Catalog::record(warmup_model_index index) const {
    std::shared_lock lock(mutex_);
    if (index >= records_.size()) throw std::out_of_range("unknown model index " + std::to_string(index));
    return records_[index];
}

uint32_t Catalog::size() const {
    std::shared_lock lock(mutex_);
    return static_cast<uint32_t>(records_.size());
}

std::string unknown_model_reason(const Catalog& catalog, std::string_view name) {
    if (catalog.full() && catalog.covers(name))
        return fmt::format(
            "model '{}' is not registered: this daemon already knows budgets.max_models ({}) models (raise it, or "
            "narrow the catalog glob that matches such names)",
            name, catalog.max_models());
    return fmt::format("unknown model '{}' (no catalog entry matches it)", name);
}

}  // namespace warmup::host
