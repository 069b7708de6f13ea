// replay/virtual_executor.hpp — the LoadExecutor of a replay: a load takes the time the backend's simulation extension
// reports (the catalog's load_ms when it does not change it), and its completion waits in a time-ordered heap until
// the driver's virtual clock reaches it. Shared by the single-node replay and the fleet replay (one per node).
//
// Threads: one replay arm (or node) at a time, on the thread that drives it. Ownership: holds the backend instance
// alive; `simulation` and `catalog` must outlive it.
#pragma once

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <warmup/ext/simulation.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <string>
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

    /// `arm`: the replay arm (or fleet node) this executor serves, named if its backend crashes.
    VirtualExecutor(std::shared_ptr<PluginInstance> backend, const warmup_simulation_extension* simulation,
                    Catalog& catalog, std::string arm)
        : backend_(std::move(backend)), simulation_(simulation), catalog_(catalog), arm_(std::move(arm)) {}

    void start_load(warmup_model_index model, uint64_t ticket, warmup_time_ms now_ms) override {
        const ModelRecord& record = catalog_.record(model);
        warmup_model_info info = record.to_info();
        double duration_ms = record.load_ms;
        int succeeds = 1;
        ErrorPtr error;
        {
            const auto in_call = backend_->marked("simulate_load", &arm_);
            error.reset(simulation_->simulate_load(backend_->self(), &info, now_ms, &duration_ms, &succeeds));
        }
        if (error) {
            failed(record, error->message);
            succeeds = 0;
            duration_ms = record.load_ms;
        } else if (!std::isfinite(duration_ms) || duration_ms < 0 || duration_ms > kLongestLoadMs) {
            failed(record, fmt::format("a load time of {} ms is not one (0 .. {:.0f} ms); the catalog's {:.0f} ms is "
                                       "used",
                                       duration_ms, kLongestLoadMs, record.load_ms));
            duration_ms = record.load_ms;
        }
        const auto done_ms = now_ms + static_cast<int64_t>(std::llround(duration_ms));
        pending_.push({done_ms, sequence_++, model, ticket, succeeds != 0, duration_ms});
    }
    /// The replay's rule (docs/simulation-rules.md, section 3 rule 7): an unload takes no time, so its memory is free
    /// when it starts; confirms_unloads() keeps its default, false, and no answer is sent.
    void start_unload(warmup_model_index, uint64_t, warmup_time_ms) override {}

    /// simulate_load calls that failed or answered a load time that is not one: the replay counts them with the arm's
    /// plugin errors (the report flags the arm).
    [[nodiscard]] uint64_t simulation_failures() const noexcept { return failures_; }

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
    /// A simulated load longer than this (30 days) is taken for a backend's mistake, as a time past the end of the
    /// int64 clock would be.
    static constexpr double kLongestLoadMs = 30.0 * 24 * 3600 * 1000;
    /// The first failures are logged one by one, the rest counted (days of replay pass in seconds).
    static constexpr uint64_t kLoggedFailures = 10;

    void failed(const ModelRecord& record, const std::string& why) {
        ++failures_;
        if (failures_ <= kLoggedFailures)
            spdlog::warn("MODEL_LOAD_ERROR {} simulate_load({}) failed: {}", backend_->label(), record.name, why);
        else if (failures_ == kLoggedFailures + 1)
            spdlog::warn(
                "MODEL_LOAD_ERROR {} simulate_load failed {} times; its further failures are counted with the "
                "arm's plugin errors, not logged one by one",
                backend_->label(), failures_);
    }

    std::shared_ptr<PluginInstance> backend_;
    const warmup_simulation_extension* simulation_;
    Catalog& catalog_;
    const std::string arm_;
    std::priority_queue<Completion, std::vector<Completion>, std::greater<>> pending_;
    uint64_t sequence_ = 0;
    uint64_t failures_ = 0;
};

}  // namespace warmup::host::replay
