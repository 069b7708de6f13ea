// replay/virtual_executor.hpp — the LoadExecutor of a replay: a load takes the time the backend's simulation extension
// reports (the catalog's load_ms when it does not change it), and its completion waits in a time-ordered heap until
// the driver's virtual clock reaches it. Shared by the single-node replay and the fleet replay (one per node).
//
// Threads: one replay arm (or node) at a time, on the thread that drives it. Ownership: holds the backend instance
// alive; `simulation` and `catalog` must outlive it.
#pragma once

#include <spdlog/spdlog.h>
#include <warmup/ext/simulation.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <utility>
#include <vector>

#include "core/catalog.hpp"
#include "core/errors.hpp"
#include "engine/warmup_engine.hpp"
#include "loader/plugin_instance.hpp"

namespace warmup::host::replay {

class VirtualExecutor final : public LoadExecutor {
  public:
    /// A finished load: when (virtual ms), in start order among equal times, which model and ticket, and its outcome.
    struct Completion {
        int64_t done_ms;
        uint64_t sequence;
        warmup_model_index model;
        uint64_t ticket;
        bool succeeded;
        double duration_ms;
        bool operator>(const Completion& other) const {
            return done_ms != other.done_ms ? done_ms > other.done_ms : sequence > other.sequence;
        }
    };

    VirtualExecutor(std::shared_ptr<PluginInstance> backend, const warmup_simulation_extension* simulation,
                    Catalog& catalog)
        : backend_(std::move(backend)), simulation_(simulation), catalog_(catalog) {}

    void start_load(warmup_model_index model, uint64_t ticket, warmup_time_ms now_ms) override {
        const ModelRecord& record = catalog_.record(model);
        warmup_model_info info = record.to_info();
        double duration_ms = record.load_ms;
        int succeeds = 1;
        if (ErrorPtr error{simulation_->simulate_load(backend_->self(), &info, now_ms, &duration_ms, &succeeds)}) {
            spdlog::warn("MODEL_LOAD_ERROR {} simulate_load({}) failed: {}", backend_->label(), record.name,
                         error->message);
            succeeds = 0;
        }
        const auto done_ms = now_ms + static_cast<int64_t>(std::llround(std::max(0.0, duration_ms)));
        pending_.push({done_ms, sequence_++, model, ticket, succeeds != 0, duration_ms});
    }
    /// The replay's rule (docs/simulation-rules.md, section 3 rule 7): an unload takes no time, so its memory is free
    /// when it starts; confirms_unloads() keeps its default, false, and no answer is sent.
    void start_unload(warmup_model_index, uint64_t, warmup_time_ms) override {}

    /// The earliest pending completion's time; WARMUP_TIME_NEVER when none is pending.
    [[nodiscard]] int64_t next_completion_ms() const {
        return pending_.empty() ? WARMUP_TIME_NEVER : pending_.top().done_ms;
    }
    /// Removes and returns the earliest completion. Precondition: one is pending.
    Completion pop() {
        Completion top = pending_.top();
        pending_.pop();
        return top;
    }

  private:
    std::shared_ptr<PluginInstance> backend_;
    const warmup_simulation_extension* simulation_;
    Catalog& catalog_;
    std::priority_queue<Completion, std::vector<Completion>, std::greater<>> pending_;
    uint64_t sequence_ = 0;
};

}  // namespace warmup::host::replay
