#include "calibrated_performance.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <warmup/sdk/state_text.hpp>

namespace warmup::plugins {
namespace {

[[noreturn]] void bad_state(const std::string& why) {
    throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT,
                     std::string("calibrated-performance state import refused: ") + why + " (state left unchanged)");
}

std::string format_double(double value) {
    char buffer[40];
    const int length = std::snprintf(buffer, sizeof buffer, "%.17g", value);  // round-trips exactly
    return std::string(buffer, static_cast<std::size_t>(length));
}

}  // namespace

CalibratedPerformance::CalibratedPerformance(sdk::Host host, sdk::Params& params)
    : sdk::Performance(host), learning_rate_(params.get_double("learning_rate", 0.3, 0.0, 1.0)) {
    if (!(learning_rate_ > 0.0))
        throw sdk::InvalidArgument("params.learning_rate: must be > 0 (0 would never learn from observations)");
}

CalibratedPerformance::ModelEstimate CalibratedPerformance::from_catalog(warmup_model_index model) const {
    const auto info = host().model_info(model);
    if (!info)
        throw sdk::Error(WARMUP_ERROR_NOT_FOUND, "model index " + std::to_string(model) + " is not in the catalog");
    ModelEstimate estimate;
    estimate.initialized = true;
    estimate.load_ms = std::max(0.0, info->load_ms);
    estimate.unload_ms = std::max(0.0, info->unload_ms);
    estimate.memory_mb = std::max(0.0, info->memory_mb);
    return estimate;
}

CalibratedPerformance::ModelEstimate& CalibratedPerformance::estimate_of(warmup_model_index model) {
    if (model < estimates_.size() && estimates_[model].initialized) return estimates_[model];
    ModelEstimate fresh = from_catalog(model);  // throws before any state changes for an unknown model
    if (model >= estimates_.size())
        estimates_.resize(std::max<std::size_t>(std::size_t{model} + 1, host().model_count()));
    estimates_[model] = fresh;
    return estimates_[model];
}

void CalibratedPerformance::estimate(warmup_model_index model, warmup_performance_estimate& out) {
    const ModelEstimate& estimate = estimate_of(model);
    out.model = model;
    out.load_ms = estimate.load_ms;
    out.unload_ms = estimate.unload_ms;
    out.memory_mb = estimate.memory_mb;
    out.confidence = 1.0 - estimate.catalog_weight;
}

void CalibratedPerformance::observe_load(const warmup_load_observation& observation) {
    if (!observation.succeeded) return;  // a failed load's duration is not a load time
    if (!std::isfinite(observation.load_ms) || observation.load_ms < 0.0)
        throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT, "observe_load: load_ms must be a finite number >= 0, got " +
                                                            format_double(observation.load_ms));
    ModelEstimate& estimate = estimate_of(observation.model);
    estimate.load_ms += learning_rate_ * (observation.load_ms - estimate.load_ms);
    if (std::isfinite(observation.memory_mb) && observation.memory_mb > 0.0)
        estimate.memory_mb += learning_rate_ * (observation.memory_mb - estimate.memory_mb);
    ++estimate.observations;
    estimate.catalog_weight *= 1.0 - learning_rate_;
}

// Format (text, one model per line; doubles printed with 17 significant digits so they round-trip):
//   org.warmup.state.calibrated-performance/1
//   <model index> <load_ms> <memory_mb> <observations>
// Only models with at least one observation are written; the others are the catalog's figures anyway.
std::string CalibratedPerformance::export_state() const {
    std::string text = std::string(kStateSchema) + "\n";
    for (std::size_t model = 0; model < estimates_.size(); ++model) {
        const ModelEstimate& estimate = estimates_[model];
        if (!estimate.initialized || estimate.observations == 0) continue;
        text += std::to_string(model) + ' ' + format_double(estimate.load_ms) + ' ' +
                format_double(estimate.memory_mb) + ' ' + std::to_string(estimate.observations) + '\n';
    }
    return text;
}

void CalibratedPerformance::import_state(std::string_view data) {
    std::vector<ModelEstimate> imported;
    sdk::StateTextReader reader(data, kStateSchema, &bad_state);
    while (reader.next_record()) {
        const auto model = reader.field<uint32_t>("(model index)");
        const auto load_ms = reader.field<double>("(load_ms)");
        const auto memory_mb = reader.field<double>("(memory_mb)");
        const auto observations = reader.field<uint64_t>("(observations)");
        if (!reader.at_record_end()) bad_state("trailing characters on the line of model " + std::to_string(model));
        if (!std::isfinite(load_ms) || load_ms < 0.0 || !std::isfinite(memory_mb) || memory_mb < 0.0)
            bad_state("model " + std::to_string(model) + ": load_ms and memory_mb must be finite and >= 0");
        if (model >= imported.size()) imported.resize(std::size_t{model} + 1);
        if (imported[model].initialized) bad_state("model " + std::to_string(model) + " appears twice");
        ModelEstimate estimate;
        try {
            estimate = from_catalog(model);  // unload_ms is not learned: take it from this host's catalog
        } catch (const sdk::Error&) {
            bad_state("model " + std::to_string(model) + " is not in this host's catalog");
        }
        estimate.load_ms = load_ms;
        estimate.memory_mb = memory_mb;
        estimate.observations = observations;
        estimate.catalog_weight = std::pow(1.0 - learning_rate_, static_cast<double>(observations));
        imported[model] = estimate;
    }
    estimates_ = std::move(imported);
}

}  // namespace warmup::plugins
