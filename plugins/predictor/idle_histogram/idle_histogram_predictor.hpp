// idle_histogram_predictor.hpp — the default predictor: a cost-aware idle-time-histogram policy.
//
// From the analyzer's idle-time histogram (the distribution of the next idle gap G after a request) it chooses, per
// model, the keep-alive window K and up to `max_prewarm_windows` pre-warm windows [W, E) that minimise
//     E[idle memory-time] + cold_cost * P(cold start)
// in units of "ms of this model held idle", where cold_cost = cold_start_cost_ratio * waiting * load_ms *
// reference_memory_mb / memory_mb, waiting = 1 + EWMA rate * load_ms requests expected to wait for a cold load: a cold
// start of a reference-sized model is worth holding it idle for ratio * load_ms (the ski-rental break-even time), and a
// smaller model is cheaper to hold, so it is held longer. Shahrad et al.'s hybrid policy picks fixed percentiles (5th /
// 99th); this one picks the boundaries that the cost trade-off prefers, so a bimodal or periodic histogram gets an
// unload between the modes and a pre-warm just before the next one. Gaps beyond the histogram range are served by an
// hour-of-day x day-of-week pre-warm when the cost test allows it; models with fewer than `min_samples` gaps get a
// fixed keep-alive.
//
// Threading: control thread only (SDK contract). predict() is O(idle_bins) for p/next-arrival plus an amortised plan
// refresh (O(nonzero_bins^2)) only when the model's gap count grew by `plan_refresh_fraction` since the last one.
#pragma once

#include <array>
#include <cstdint>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins {

struct IdleHistogramPredictorConfig {
    int64_t horizon_ms = 600'000;              ///< window of p_use_within_horizon
    uint32_t min_samples = 10;                 ///< idle gaps needed before the histogram plan replaces the fallback
    int64_t fallback_keep_alive_ms = 600'000;  ///< fixed keep-alive with a short history
    double cold_start_cost_ratio = 10;         ///< a waiting request costs ratio * load_ms of reference-model idle
    double reference_memory_mb = 8192;         ///< model size at which the ratio applies unscaled
    double default_load_ms = 10'000;           ///< used when the catalog declares no load time
    int64_t ready_margin_ms = 6'000;           ///< pre-warms aim to be ready this much before the window opens
    double confidence_samples = 10;            ///< confidence = gaps / (gaps + this)
    uint32_t max_prewarm_windows = 4;          ///< chained pre-warm windows per plan
    double plan_refresh_fraction = 0.0625;     ///< re-plan when gaps grew by this fraction (at least 1 gap)
    bool calendar_prewarm = true;              ///< pre-warm beyond the histogram range from the hour/day profile
    bool count_waiting_requests = true;        ///< cold cost x requests expected to arrive during the load
};

class IdleHistogramPredictor final : public sdk::Predictor {
  public:
    static constexpr uint32_t kMaxPrewarmWindows = 16;

    IdleHistogramPredictor(sdk::Host host, sdk::Params& params);

    void predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) override;

    [[nodiscard]] const IdleHistogramPredictorConfig& config() const noexcept { return config_; }

    /// A pre-warm window as offsets from last_seen_ms: ready by `ready_ms`, unload at `end_ms` if unused.
    struct PrewarmWindow {
        int64_t ready_ms = 0;
        int64_t end_ms = 0;
    };

    /// The derived plan of one model. Pure function of the histogram and the catalog figures; cached, never exported
    /// (a new instance rebuilds it from the analyzer's patterns), so this plugin offers no state extension.
    struct ModelPlan {
        bool valid = false;
        uint64_t gap_count = 0;  ///< idle_samples + idle_out_of_range when computed
        warmup_time_ms first_seen_ms = WARMUP_TIME_NEVER;
        uint32_t idle_bin_ms = 0;
        uint32_t idle_bins = 0;
        int64_t keep_ms = 0;  ///< keep-alive after the last use
        std::array<PrewarmWindow, kMaxPrewarmWindows> windows{};
        uint32_t window_count = 0;
        double wake_rate_per_ms = 0;  ///< arrival rate once idle beyond the histogram range (memoryless estimate)
        double cold_cost_ms = 0;      ///< break-even idle time of one cold start of this model (all its waiters)
        double cold_requests_per_start = 1;  ///< requests expected to wait for one cold load (>= 1)
        double prewarm_cost_ms = 0;          ///< idle-equivalent cost of one pre-warm: load + ready margin
        // Calendar pre-warm, cached per (last_seen, first candidate hour).
        warmup_time_ms calendar_last_seen_ms = WARMUP_TIME_NEVER;
        warmup_time_ms calendar_from_ms = WARMUP_TIME_NEVER;
        warmup_time_ms calendar_ready_ms = WARMUP_TIME_NEVER;
        warmup_time_ms calendar_end_ms = WARMUP_TIME_NEVER;
    };

    /// The plan for `pattern` (refreshed if stale). Exposed for tests and introspection.
    const ModelPlan& plan_for(const warmup_usage_pattern& pattern);

  private:
    /// A candidate window over bins [start_bin, end_bin) and its net cost (negative = worth pre-warming).
    struct WindowChoice {
        double cost = 0;
        uint32_t start_bin = 0;
        uint32_t end_bin = 0;
    };

    ModelPlan& refreshed_plan(const warmup_usage_pattern& pattern);
    void compute_plan(const warmup_usage_pattern& pattern, ModelPlan& plan);
    void compute_calendar(const warmup_usage_pattern& pattern, ModelPlan& plan, warmup_time_ms from_ms);

    IdleHistogramPredictorConfig config_;
    std::vector<ModelPlan> plans_;  ///< by model index, grows on demand
    // Scratch for compute_plan, reused so a refresh allocates only when bins grow.
    std::vector<double> suffix_count_;
    std::vector<double> prefix_count_;
    std::vector<double> prefix_mid_ms_;
    std::vector<uint32_t> nonzero_bins_;
    std::vector<WindowChoice> best_window_from_;
};

}  // namespace warmup::plugins
