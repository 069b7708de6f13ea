// core/catalog.hpp — the model catalog: what each model costs to load and to keep.
//
// Entries come from the configuration, one per model name or glob ("llama3:*", "*"). A model gets a dense index the
// first time it is resolved; indexes are never reused. Thread-safety: every method may be called from any thread.
// Records are stored in a deque and never move, so a reference from record() stays valid for the catalog's life.
//
// Matching a name costs one hash lookup plus the globs in order, whatever the number of exact entries: a catalog
// written out model by model (tens of thousands of entries) answers a name it does not know (every event of a
// misspelt model is one) as fast as a short one (build/bench/catalog_bench, docs/benchmarks.md).
#pragma once

#include <warmup/common.h>
#include <warmup/host.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace warmup::host {

/// One catalog line of the configuration.
struct CatalogEntry {
    std::string pattern;    ///< exact model name or a glob with * and ?
    double memory_mb = 0;   ///< resident memory once loaded, MiB
    double load_ms = 0;     ///< cold-load time, ms
    double unload_ms = 0;   ///< unload time, ms
    uint32_t priority = 1;  ///< queue priority class, 0 = highest

    bool operator==(const CatalogEntry&) const = default;
};

/// A model the host has seen, with the figures of the entry that matched it.
struct ModelRecord {
    warmup_model_index index = WARMUP_NO_MODEL;
    std::string name;
    double memory_mb = 0;
    double load_ms = 0;
    double unload_ms = 0;
    uint32_t priority = 1;

    /// The ABI view of this record handed to plugins. Borrows `name`: valid while this record lives.
    [[nodiscard]] warmup_model_info to_info() const noexcept {
        warmup_model_info info{};
        info.struct_size = sizeof info;
        info.index = index;
        info.name = {name.data(), name.size()};
        info.memory_mb = memory_mb;
        info.load_ms = load_ms;
        info.unload_ms = unload_ms;
        info.priority = priority;
        return info;
    }
};

class Catalog {
  public:
    /// `max_models`: the most models a client's name registers (0 = no limit): a glob entry would otherwise register
    /// every name a client makes up, each costing memory in the host and every plugin for the process's life.
    explicit Catalog(std::vector<CatalogEntry> entries = {}, uint32_t max_models = 0);

    /// Whether a registration counts against max_models: a name a client sends (an event, a source's line, a server's
    /// listing) does; a model the daemon already knew (a snapshot's, the journal's, another fleet node's) does not, so
    /// a state registered before the limit was lowered still restores.
    enum class Registration { known, within_limit };

    /// The index of `name`, registering it on first sight if an entry matches (exact names before globs, globs in
    /// configuration order). nullopt when no entry covers the name, or when a registration `within_limit` would go
    /// beyond max_models (covers() is true then).
    std::optional<warmup_model_index> resolve(std::string_view name, Registration registration = Registration::known);

    /// The index of an already registered model, or nullopt.
    [[nodiscard]] std::optional<warmup_model_index> find(std::string_view name) const;

    /// Whether resolve(`name`) would give an index (registered, or an entry matches it), without registering it.
    [[nodiscard]] bool covers(std::string_view name) const { return find(name) || match_entry(name); }

    /// The record of a registered model. Precondition: index < size().
    [[nodiscard]] const ModelRecord& record(warmup_model_index index) const;

    [[nodiscard]] uint32_t size() const;
    /// The registration limit (0 = none), and whether it is reached: a client's name not registered yet is refused.
    [[nodiscard]] uint32_t max_models() const noexcept { return max_models_; }
    [[nodiscard]] bool full() const { return max_models_ != 0 && size() >= max_models_; }
    [[nodiscard]] const std::vector<CatalogEntry>& entries() const noexcept { return entries_; }

  private:
    std::optional<std::size_t> match_entry(std::string_view name) const;

    const std::vector<CatalogEntry> entries_;
    const uint32_t max_models_;
    // Built once by the constructor, read-only after it (so read without the lock). The keys view the patterns of
    // entries_, which never change or move: the catalog can be neither copied nor moved (its mutex).
    std::unordered_map<std::string_view, std::size_t> entry_of_pattern_;  ///< every pattern (globs too) -> first entry
    std::vector<std::size_t> glob_entries_;                               ///< entries with `*` or `?`, in order
    mutable std::shared_mutex mutex_;
    std::deque<ModelRecord> records_;
    std::unordered_map<std::string, warmup_model_index> by_name_;
};

/// Why `catalog` gives no index for `name`: no entry matches it, or the model limit is reached (a refusal's words for
/// an event or a source's line).
[[nodiscard]] std::string unknown_model_reason(const Catalog& catalog, std::string_view name);

}  // namespace warmup::host
