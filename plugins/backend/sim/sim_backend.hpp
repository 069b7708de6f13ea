// plugins/backend/sim/sim_backend.hpp — a backend that pretends to load models: it takes the catalog's load
// time (optionally scaled, jittered and failed on purpose) and holds no real memory. Used for replay (through the
// simulation extension, in virtual time) and for live demos and tests (sleeping in wall time).
//
// Threads: load and unload run on worker threads, concurrently for different models; the loaded set and the live RNG
// are guarded by one mutex (held only for bookkeeping, never while sleeping). simulate_load/simulate_unload run on
// the control thread and use their own RNG, so replay results depend only on the seed and the call sequence, never on
// live traffic. No allocation per call in steady state.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins {

class SimBackend final : public sdk::Backend {
  public:
    SimBackend(sdk::Host host, sdk::Params& params);

    double load(const warmup_model_info& model, const warmup_cancel_token& cancel) override;
    void unload(const warmup_model_info& model) override;

    [[nodiscard]] bool supports_simulation() const override { return true; }
    std::pair<double, bool> simulate_load(const warmup_model_info& model, warmup_time_ms now_ms) override;
    double simulate_unload(const warmup_model_info& model, warmup_time_ms now_ms) override;

    /// Whether a live load of `model` finished and no unload followed ([any]).
    [[nodiscard]] bool is_loaded(warmup_model_index model) const;

  private:
    struct LoadOutcome {
        double duration_ms;
        bool succeeds;
    };
    /// Duration and outcome of one load, drawing exactly two numbers from `rng` (jitter, then failure), whatever the
    /// parameters, so the sequence stays aligned across configurations.
    [[nodiscard]] LoadOutcome draw_outcome(const warmup_model_info& model, std::mt19937_64& rng) const;
    [[nodiscard]] bool always_fails(std::string_view model_name) const;
    /// Sleeps `wall_ms` in slices of at most 50 ms, throwing CANCELLED as soon as the token says so.
    static void sleep_cancellable(double wall_ms, const warmup_cancel_token* cancel, std::string_view model_name);

    double time_scale_ = 1.0;
    double failure_rate_ = 0.0;
    double load_jitter_ = 0.0;
    std::vector<std::string> fail_model_globs_;

    mutable std::mutex mutex_;     // guards loaded_ and live_rng_
    std::vector<uint8_t> loaded_;  // by model index: 1 when loaded
    std::mt19937_64 live_rng_;
    std::mt19937_64 simulation_rng_;  // control thread only
};

}  // namespace warmup::plugins
