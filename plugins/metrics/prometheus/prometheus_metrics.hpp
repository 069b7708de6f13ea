// plugins/metrics/prometheus/prometheus_metrics.hpp — metrics plugin that keeps counters, gauges and
// histograms per experiment arm and renders them in the Prometheus text exposition format 0.0.4.
//
// Every series carries the label arm (an empty arm is shown as arm="default"). Counters are exact integers; histogram
// buckets are fixed (see kColdWaitBoundsSeconds etc.) so series stay comparable across restarts and arms.
// Ratios: warmup_prediction_precision = prewarms used / (used + wasted) and warmup_prediction_recall = idle-gap
// requests found warm / all idle-gap requests are OMITTED for an arm while their denominator is 0 (an absent series
// says "no data"; a 0 would read as "every prediction was wrong").
//
// Base units: seconds and bytes (the resident-memory events arrive in MiB and are rendered in bytes).
//
// Per-model series (per_model: true, the default) are capped: at most per_model_top models have their own
// warmup_model_requests_total series per arm, the rest are summed in one series per result that has no model label
// but models="other" instead (so it never collides with a model's series, whatever the model is called; every model
// series has a non-empty model label, as no way of ingest accepts an empty name), so a catalog of 10 k models
// still makes at most 2 x (per_model_top + 1) series per arm. A model gets a series on its first request while fewer
// than per_model_top models have one; once more models have requests, each render keeps the per_model_top with the
// most requests (ties: lower model index). Every series stays monotonic as models move in and out of the top: a
// model's series counts only the requests recorded while it was in the top (its earlier and later ones are in
// the models="other" series), so the sum over all series is the true total and rate() never sees a false counter reset.
//
// Offers the state extension (schema org.warmup.state.prometheus-counters/1): counters, gauges and histogram buckets
// survive a hot-swap or a backup. Per-model counts are exported by model name (indexes are only stable within one
// host process) and re-attached to an index when the catalog knows the name.
//
// Threads: control thread only (record, render, export/import), no locks. Cost: record is O(1) per event (O(log b)
// for b histogram bounds); no allocation in steady state (a new arm, or a model index larger than any seen with
// per_model on, allocates once). Render is O(models with requests) per arm for the top-N selection.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins {

class PrometheusMetrics final : public sdk::Metrics {
  public:
    static constexpr const char* kStateSchema = "org.warmup.state.prometheus-counters/1";

    PrometheusMetrics(sdk::Host host, sdk::Params& params);

    void record(std::span<const warmup_metric_event> events) override;
    void render(std::string_view format, std::string& out) override;

    [[nodiscard]] const char* state_schema() const override { return kStateSchema; }
    [[nodiscard]] std::string export_state() const override;
    void import_state(std::string_view data) override;

    enum Counter : std::size_t {
        kRequestsWarm,
        kRequestsCold,
        kWarmupsStarted,
        kWarmupsSucceeded,
        kWarmupsFailed,
        kEvictions,
        kUnloads,
        kQueueRejections,
        kPrewarmsUsed,
        kPrewarmsWasted,
        kPrewarmsSkipped,
        kEventsAccepted,
        kIdleGapWarm,
        kIdleGapAny,
        kCounterCount
    };
    enum HistogramId : std::size_t { kColdWait, kDecisionCycle, kLoad, kHistogramCount };

    /// Fixed bucket upper bounds, seconds (the +Inf bucket is implicit).
    static constexpr std::array<double, 11> kColdWaitBoundsSeconds{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
    static constexpr std::array<double, 12> kDecisionCycleBoundsSeconds{1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
                                                                        1e-3, 2.5e-3, 5e-3, 0.01, 0.025,  0.1};
    static constexpr std::array<double, 12> kLoadBoundsSeconds{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};

    struct Histogram {
        std::span<const double> bounds_seconds;
        std::vector<uint64_t> bucket_counts;  // not cumulative; size bounds + 1, the last is the +Inf overflow
        double sum_seconds = 0;
        uint64_t count = 0;
        void observe(double seconds);
    };

    /// The labels (besides arm and result) of the series that sums the models outside the top per_model_top: a label
    /// of its own instead of a model="..." value, which a real model could be named (a catalog glob lets any name in).
    static constexpr std::string_view kOtherModelsLabels = "models=\"other\"";

    struct ModelCounts {
        uint64_t cold = 0;  ///< every request of the model (ranks the top models; exported in the state)
        uint64_t warm = 0;
        uint64_t shown_cold = 0;  ///< requests recorded while the model was in the top: its series' values
        uint64_t shown_warm = 0;
        bool shown = false;  ///< in the top now: its requests go to its own series, else to models="other"
    };

    struct ArmMetrics {
        ArmMetrics();
        std::array<uint64_t, kCounterCount> counters{};
        double queue_depth = 0;
        double resident_memory_mb = 0;
        std::array<Histogram, kHistogramCount> histograms;
        std::vector<ModelCounts> per_model;                                 // by model index (per_model: true)
        std::map<std::string, ModelCounts, std::less<>> unresolved_models;  // imported names the catalog lacks yet
        std::size_t shown_models = 0;  // models with shown == true, in per_model and unresolved_models
        ModelCounts other;             // requests of models outside the top (cold / warm)
    };

  private:
    using ArmMap = std::map<std::string, ArmMetrics, std::less<>>;

    ArmMetrics& arm_for(std::string_view arm);
    void record_one(ArmMetrics& arm, const warmup_metric_event& event);
    void resolve_imported_models(ArmMetrics& arm);
    /// Keeps the per_model_top models with the most requests shown (only needed once more models have requests).
    void select_top_models(ArmMetrics& arm) const;
    [[nodiscard]] std::string model_name(warmup_model_index model) const;

    bool per_model_ = true;
    std::size_t per_model_top_ = 100;
    ArmMap arms_;
};

}  // namespace warmup::plugins
