// calibrated_performance.hpp — load time and memory per model: the catalog's figures, corrected online by an
// exponentially weighted moving average over the warm-ups the workers measured.
//
// After n successful observations the catalog figure keeps weight (1 - learning_rate)^n and the observations the
// rest, so confidence = 1 - (1 - learning_rate)^n is exactly the weight of measured data in the estimate.
// Failed loads say nothing about a successful load's duration or footprint and leave the estimate alone; memory is
// learned only from observations that measured it (memory_mb > 0). unload_ms is not observed: the catalog figure.
//
// Thread: control thread only (warmup/performance.h). State: one entry per model index, created from the
// catalog on first use; estimate() and observe_load() allocate nothing once the model has an entry.
#pragma once

#include <string>
#include <string_view>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins {

class CalibratedPerformance final : public sdk::Performance {
  public:
    static constexpr const char* kStateSchema = "org.warmup.state.calibrated-performance/1";

    /// Reads `learning_rate` (in (0, 1], default 0.3).
    CalibratedPerformance(sdk::Host host, sdk::Params& params);

    /// Throws sdk::Error(NOT_FOUND) for a model index the catalog does not know.
    void estimate(warmup_model_index model, warmup_performance_estimate& out) override;
    /// Throws sdk::Error(NOT_FOUND) for an unknown model, INVALID_ARGUMENT for a negative or non-finite load_ms of a
    /// successful load.
    void observe_load(const warmup_load_observation& observation) override;

    [[nodiscard]] const char* state_schema() const override { return kStateSchema; }
    [[nodiscard]] std::string export_state() const override;
    /// Throws sdk::Error(INVALID_ARGUMENT) on malformed bytes or a model this catalog does not know; state unchanged.
    void import_state(std::string_view data) override;

  private:
    struct ModelEstimate {
        bool initialized = false;
        double load_ms = 0;
        double unload_ms = 0;
        double memory_mb = 0;
        uint64_t observations = 0;    ///< successful loads learned from
        double catalog_weight = 1.0;  ///< (1 - learning_rate)^observations
    };

    ModelEstimate& estimate_of(warmup_model_index model);
    [[nodiscard]] ModelEstimate from_catalog(warmup_model_index model) const;

    double learning_rate_;
    std::vector<ModelEstimate> estimates_;  ///< indexed by model index
};

}  // namespace warmup::plugins
