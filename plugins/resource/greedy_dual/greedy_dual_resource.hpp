// plugins/resource/greedy_dual/greedy_dual_resource.hpp — resource plugin implementing FaasCache's
// Greedy-Dual keep-alive (Fuerst & Sharma, "FaasCache: keeping serverless computing alive with greedy-dual caching",
// ASPLOS 2021).
//
// Every ready model has priority = clock + frequency x cost / size, with cost = its load time (ms, from on_ready)
// and size = its memory (MiB). The victim is the lowest priority; evicting it raises the clock to its priority, so
// models that have not been used since (whose priority was computed with an older clock) age relative to fresh ones.
// Frequency counts requests served while the model is ready: the load itself counts as one (the request that caused a
// demand load, or the predicted one for a pre-warm), each on_used adds one, and it restarts when the model leaves.
//
// Threads: control thread only, no locks. Cost: on_ready/on_used/on_removed O(log n), pick_victim O(1); an indexed
// binary heap over a vector, so no allocation in steady state (only when a larger model index first appears).
#pragma once

#include <cstdint>
#include <vector>
#include <warmup/sdk/plugin.hpp>

#include "common/memory_admission.hpp"

namespace warmup::plugins {

class GreedyDualResource final : public sdk::Resource {
  public:
    GreedyDualResource(sdk::Host host, sdk::Params& params);

    double effective_budget_mb(double configured_budget_mb) override;
    void admit(const warmup_admission_request& request, warmup_admission& out) override;
    void on_ready(warmup_model_index model, double memory_mb, double load_ms, warmup_time_ms now_ms) override;
    void on_used(warmup_model_index model, warmup_time_ms now_ms) override;
    void on_removed(warmup_model_index model, warmup_time_ms now_ms) override;
    warmup_model_index pick_victim(warmup_time_ms now_ms) override;

    /// The Greedy-Dual clock: the priority of the last model evicted through pick_victim (0 at start).
    [[nodiscard]] double clock() const noexcept { return clock_; }
    /// Priority of a ready model, or NaN when it is not ready (tests, introspection).
    [[nodiscard]] double priority_of(warmup_model_index model) const;
    /// Requests counted for a ready model (0 when not ready).
    [[nodiscard]] uint64_t frequency_of(warmup_model_index model) const;

  private:
    static constexpr uint32_t kNotInHeap = UINT32_MAX;

    struct Entry {
        double priority = 0;
        double cost_ms = 0;
        double size_mb = 1;
        uint64_t frequency = 0;
        warmup_time_ms last_used_ms = 0;
        uint32_t heap_position = kNotInHeap;
    };

    /// Heap order: lower priority first; ties broken by least recently used, then lower model index, so the victim
    /// never depends on insertion history.
    [[nodiscard]] bool evicts_before(warmup_model_index a, warmup_model_index b) const;
    [[nodiscard]] double priority_now(const Entry& entry) const;
    void sift_up(uint32_t position);
    void sift_down(uint32_t position);
    void restore_heap_at(uint32_t position);
    void place(uint32_t position, warmup_model_index model);

    resource::MemoryAdmission admission_;
    std::vector<Entry> entries_;            // indexed by model index
    std::vector<warmup_model_index> heap_;  // ready models, min-heap by evicts_before
    double clock_ = 0;
    warmup_model_index last_picked_victim_ = WARMUP_NO_MODEL;
};

}  // namespace warmup::plugins
