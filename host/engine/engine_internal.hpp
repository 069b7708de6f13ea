// engine/engine_internal.hpp — what the engine's source files share: small helpers and the guarded plugin call.
// Private to the engine: included only by warmup_engine.cpp (the engine's state, requests and operations),
// engine_planning.cpp (predictions, plans and timers) and engine_loads.cpp (the queue, loads, evictions and unloads).
// Everything here runs on the control thread, as the engine does.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "core/errors.hpp"
#include "engine/warmup_engine.hpp"

namespace warmup::host {
namespace engine_internal {

inline constexpr warmup_time_ms kNever = WARMUP_TIME_NEVER;

template <class T>
T sized() {
    T value{};
    value.struct_size = sizeof(T);
    return value;
}

// Who decided, for the decisions the engine's own rules make (decided_by of a Decision).
inline const std::string& by_engine() {
    static const std::string label = "engine";
    return label;
}
inline const std::string& by_builtin_keep_alive() {
    static const std::string label = "built-in keep-alive";
    return label;
}
inline const std::string& by_builtin_oldest_idle() {
    static const std::string label = "built-in oldest-idle eviction";
    return label;
}

// The cause of a queued or starting load (ModelSlot is private to the engine; deduced here).
template <class ModelSlot>
LoadCause cause_of(const ModelSlot& state) {
    if (state.reason == LoadReason::Demand || !state.waiting.empty()) return LoadCause::Demand;
    return state.operator_prewarm ? LoadCause::Restore : LoadCause::Prewarm;
}

/// How long a resource plugin's refusal delays a demand load at most when nothing else happens (ms): the memory FIFO
/// is dispatched again then, and the load starts, evicting as needed (a demand load is never refused outright: a
/// request waits for it). An event or a load's end dispatches it sooner, as before.
inline constexpr warmup_time_ms kDelayedDemandRecheckMs = 1'000;

/// Why a prediction cannot be used (the numbers the scheduler and the status read), or nullopt: probabilities must be
/// finite in [0, 1] and the horizon not negative. Times need no check: any value has a meaning (<= now: at once; a
/// replayed trace may start before the epoch).
inline std::optional<std::string> prediction_problem(const warmup_prediction& prediction) {
    const auto probability = [](double value) { return std::isfinite(value) && value >= 0 && value <= 1; };
    if (!probability(prediction.p_use_within_horizon))
        return fmt::format("returned p_use_within_horizon {} (expected 0..1)", prediction.p_use_within_horizon);
    if (!probability(prediction.confidence))
        return fmt::format("returned confidence {} (expected 0..1)", prediction.confidence);
    if (prediction.horizon_ms < 0) return fmt::format("returned horizon_ms {} (expected >= 0)", prediction.horizon_ms);
    // A pre-warm window that ends before it starts cannot be meant: used as given, the scheduler would drop it
    // without a word, and the plugin's mistake would look like a choice not to pre-warm.
    if (prediction.warm_at_ms != kNever && prediction.warm_keep_until_ms != kNever &&
        prediction.warm_keep_until_ms < prediction.warm_at_ms)
        return fmt::format(
            "returned a pre-warm window that ends before it starts (warm_keep_until_ms {} < warm_at_ms {})",
            prediction.warm_keep_until_ms, prediction.warm_at_ms);
    return std::nullopt;
}

/// `error`, or when there is none and `prediction` cannot be used, an INVALID_ARGUMENT error saying why.
inline warmup_error* checked_prediction(warmup_error* error, const warmup_prediction& prediction) {
    if (error != nullptr) return error;
    if (const auto problem = prediction_problem(prediction)) return make_error(WARMUP_ERROR_INVALID_ARGUMENT, *problem);
    return nullptr;
}

/// The prediction a predictor is handed to fill for `model`: what a plugin leaves alone reads as nothing predicted
/// (no next use known, no pre-warm: the times NEVER, as warmup/predictor.h says), everything else 0.
inline warmup_prediction empty_prediction(warmup_model_index model) {
    warmup_prediction prediction = sized<warmup_prediction>();
    prediction.model = model;
    prediction.next_arrival_ms = prediction.warm_at_ms = prediction.warm_keep_until_ms = kNever;
    return prediction;
}

}  // namespace engine_internal

template <class Call>
WarmupEngine::CallOutcome WarmupEngine::guarded_call(ComponentKind kind, const char* what, Call&& call,
                                                     int tolerated_code) {
    if (!circuit_allows(kind)) return CallOutcome::CircuitOpen;
    // Timing costs two clock reads per plugin call; replay disables the budget (INT64_MAX) and skips them.
    const bool timed = options_.breaker_call_budget_us != INT64_MAX;
    const auto started = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if (options_.call_watch != nullptr)
        options_.call_watch->begin(component_kind_name(kind), component_label(kind), what);
    warmup_error* error = nullptr;
    {
        const auto in_call = marked(kind, what);
        error = call();
    }
    if (options_.call_watch != nullptr) options_.call_watch->end();
    const int64_t took_us =
        timed
            ? std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count()
            : 0;
    const std::string& label = component_label(kind);
    CallOutcome outcome = CallOutcome::Ok;
    if (error != nullptr) {
        ErrorPtr owned(error);
        if (static_cast<int>(owned->code) != tolerated_code) {
            circuit_failed(
                kind, what,
                record_failure(label, fmt::format("{}: {}: {}", what, status_name(owned->code), owned->message)));
            return CallOutcome::Failed;
        }
        tolerated_message_ = owned->message;
        outcome = CallOutcome::Tolerated;
    }
    if (took_us > options_.breaker_call_budget_us) {
        // The answer is used (it is valid), but a plugin this slow stalls the control loop: it counts as a failure.
        circuit_failed(kind, what,
                       record_failure(label, fmt::format("{}: TIMEOUT: took {} us, budget {} us", what, took_us,
                                                         options_.breaker_call_budget_us)));
    } else {
        circuit_succeeded(kind, what);
    }
    return outcome;
}

}  // namespace warmup::host
