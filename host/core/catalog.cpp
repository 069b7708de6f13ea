#include "core/catalog.hpp"

#include <mutex>
#include <stdexcept>

namespace warmup::host {

bool glob_match(std::string_view pattern, std::string_view name) noexcept {
    // Iterative matcher with single-star backtracking: linear in practice, no recursion.
    std::size_t p = 0, n = 0, star = std::string_view::npos, star_n = 0;
    while (n < name.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
            ++p;
            ++n;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            star_n = n;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            n = ++star_n;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

Catalog::Catalog(std::vector<CatalogEntry> entries) : entries_(std::move(entries)) {}

std::optional<std::size_t> Catalog::match_entry(std::string_view name) const {
    for (std::size_t i = 0; i < entries_.size(); ++i)
        if (entries_[i].pattern == name) return i;
    for (std::size_t i = 0; i < entries_.size(); ++i)
        if (entries_[i].pattern.find_first_of("*?") != std::string::npos && glob_match(entries_[i].pattern, name))
            return i;
    return std::nullopt;
}

std::optional<warmup_model_index> Catalog::resolve(std::string_view name) {
    {
        std::shared_lock lock(mutex_);
        if (auto it = by_name_.find(std::string(name)); it != by_name_.end()) return it->second;
    }
    const auto entry = match_entry(name);
    if (!entry) return std::nullopt;
    std::unique_lock lock(mutex_);
    if (auto it = by_name_.find(std::string(name)); it != by_name_.end()) return it->second;
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

}  // namespace warmup::host
