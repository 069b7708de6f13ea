#include "sim_backend.hpp"

#include <algorithm>
#include <chrono>
#include <thread>
#include <warmup/sdk/glob.hpp>

namespace warmup::plugins {
namespace {

constexpr double kMaxSleepSliceMs = 50.0;

/// A uniform double in [0, 1) from the top 53 bits: the same on every standard library (unlike
/// std::uniform_real_distribution, whose algorithm is implementation-defined).
double unit_interval(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::string name_of(const warmup_model_info& model) {
    return model.name.data == nullptr ? std::string() : std::string(model.name.data, model.name.size);
}

/// The fail_models list. sdk::Params has no string-list getter yet, so read the node ourselves; a scalar string is
/// accepted as a one-element list. get_string() is still called so Params marks the key as used (else finish()
/// would refuse it as unknown); for a list it throws "expected a string", which we swallow on purpose.
std::vector<std::string> read_string_list(sdk::Params& params, const std::string& key) {
    const YAML::Node node = params.node()[key];
    std::vector<std::string> values;
    if (!node.IsDefined() || node.IsNull()) return values;
    if (node.IsScalar()) return {params.get_string(key, "")};
    if (!node.IsSequence()) throw sdk::InvalidArgument("params." + key + ": expected a list of strings");
    for (std::size_t i = 0; i < node.size(); ++i) {
        if (!node[i].IsScalar())
            throw sdk::InvalidArgument("params." + key + "[" + std::to_string(i) + "]: expected a string");
        values.push_back(node[i].Scalar());
    }
    try {
        (void)params.get_string(key, "");
    } catch (const sdk::InvalidArgument&) {
        // Expected for a list: the call only marks the key as read.
    }
    return values;
}

}  // namespace

SimBackend::SimBackend(sdk::Host host, sdk::Params& params) : sdk::Backend(host) {
    time_scale_ = params.get_double("time_scale", 1.0, 0.0, 1e6);
    failure_rate_ = params.get_double("failure_rate", 0.0, 0.0, 1.0);
    fail_model_globs_ = read_string_list(params, "fail_models");
    load_jitter_ = params.get_double("load_jitter", 0.0, 0.0, 1.0);
    const auto seed = static_cast<uint64_t>(params.get_int("seed", 1));
    live_rng_.seed(seed);
    simulation_rng_.seed(seed);
}

SimBackend::LoadOutcome SimBackend::draw_outcome(const warmup_model_info& model, std::mt19937_64& rng) const {
    const double jitter_draw = 2.0 * unit_interval(rng) - 1.0;  // [-1, 1)
    const double failure_draw = unit_interval(rng);             // [0, 1)
    const double duration_ms = std::max(0.0, model.load_ms * (1.0 + load_jitter_ * jitter_draw));
    const bool succeeds = !(failure_draw < failure_rate_) && !always_fails(sdk::to_string_view(model.name));
    return {duration_ms, succeeds};
}

bool SimBackend::always_fails(std::string_view model_name) const {
    for (const std::string& glob : fail_model_globs_)
        if (sdk::glob_match(glob, model_name)) return true;
    return false;
}

void SimBackend::sleep_cancellable(double wall_ms, const warmup_cancel_token* cancel, std::string_view model_name) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double, std::milli>(std::max(0.0, wall_ms)));
    const auto is_cancelled = [&] {
        return cancel != nullptr && cancel->is_cancelled != nullptr && cancel->is_cancelled(cancel->context) != 0;
    };
    while (true) {
        if (is_cancelled())
            throw sdk::Error(WARMUP_ERROR_CANCELLED,
                             "simulated load of model " + std::string(model_name) + " cancelled");
        const auto now = Clock::now();
        if (now >= deadline) return;
        const auto slice = std::min<Clock::duration>(
            deadline - now,
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(kMaxSleepSliceMs)));
        std::this_thread::sleep_for(slice);
    }
}

double SimBackend::load(const warmup_model_info& model, const warmup_cancel_token& cancel) {
    LoadOutcome outcome{};
    {
        std::lock_guard lock(mutex_);
        if (model.index < loaded_.size() && loaded_[model.index] != 0) return model.memory_mb;  // already loaded
        outcome = draw_outcome(model, live_rng_);
    }
    sleep_cancellable(outcome.duration_ms * time_scale_, &cancel, sdk::to_string_view(model.name));
    if (!outcome.succeeds)
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, "simulated load failure of model " + name_of(model));
    {
        std::lock_guard lock(mutex_);
        if (model.index >= loaded_.size()) loaded_.resize(static_cast<std::size_t>(model.index) + 1, 0);
        loaded_[model.index] = 1;
    }
    return model.memory_mb;
}

void SimBackend::unload(const warmup_model_info& model) {
    {
        std::lock_guard lock(mutex_);
        if (model.index >= loaded_.size() || loaded_[model.index] == 0) return;  // not loaded: nothing to do
        // Marked absent before the wait: from here on a new load of the model must really load it again.
        loaded_[model.index] = 0;
    }
    sleep_cancellable(model.unload_ms * time_scale_, nullptr, sdk::to_string_view(model.name));
}

bool SimBackend::is_loaded(warmup_model_index model) const {
    std::lock_guard lock(mutex_);
    return model < loaded_.size() && loaded_[model] != 0;
}

std::pair<double, bool> SimBackend::simulate_load(const warmup_model_info& model, warmup_time_ms /*now_ms*/) {
    const LoadOutcome outcome = draw_outcome(model, simulation_rng_);
    return {outcome.duration_ms, outcome.succeeds};
}

double SimBackend::simulate_unload(const warmup_model_info& model, warmup_time_ms /*now_ms*/) {
    return std::max(0.0, model.unload_ms);
}

}  // namespace warmup::plugins
