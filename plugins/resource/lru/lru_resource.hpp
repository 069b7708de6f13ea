// plugins/resource/lru/lru_resource.hpp — resource plugin that evicts the least recently used ready model.
//
// Threads: every method is called on the host's control thread only; the class holds no locks.
// Cost: every call is O(1); memory grows only when a model index larger than any seen before appears.
#pragma once

#include <cstdint>
#include <vector>
#include <warmup/sdk/plugin.hpp>

#include "common/memory_admission.hpp"

namespace warmup::plugins {

class LruResource final : public sdk::Resource {
  public:
    LruResource(sdk::Host host, sdk::Params& params);

    double effective_budget_mb(double configured_budget_mb) override;
    void admit(const warmup_admission_request& request, warmup_admission& out) override;
    void on_ready(warmup_model_index model, double memory_mb, double load_ms, warmup_time_ms now_ms) override;
    void on_used(warmup_model_index model, warmup_time_ms now_ms) override;
    void on_removed(warmup_model_index model, warmup_time_ms now_ms) override;
    warmup_model_index pick_victim(warmup_time_ms now_ms) override;

    /// Ready models from least to most recently used (for tests and introspection; O(n), allocates).
    [[nodiscard]] std::vector<warmup_model_index> order_least_recent_first() const;

  private:
    /// Intrusive doubly linked list threaded through a vector indexed by model index: no node allocation, O(1)
    /// unlink and append. WARMUP_NO_MODEL marks the ends.
    struct Link {
        warmup_model_index previous = WARMUP_NO_MODEL;
        warmup_model_index next = WARMUP_NO_MODEL;
        bool linked = false;
    };

    void unlink(warmup_model_index model);
    void append_most_recent(warmup_model_index model);

    resource::MemoryAdmission admission_;
    std::vector<Link> links_;
    warmup_model_index least_recent_ = WARMUP_NO_MODEL;
    warmup_model_index most_recent_ = WARMUP_NO_MODEL;
};

}  // namespace warmup::plugins
