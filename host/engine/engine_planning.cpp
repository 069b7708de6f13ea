// engine/engine_planning.cpp — the engine's plans: a model's prediction, estimate and schedule after a use, a
// pre-warm or a timer, the fallback when a plugin cannot answer, the decisions recorded, and the timers (unload,
// pre-warm, retry) that carry the plans out. Part of WarmupEngine (warmup_engine.hpp); same thread, units and
// replay guarantee as warmup_engine.cpp.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "core/errors.hpp"
#include "engine/engine_internal.hpp"
#include "engine/warmup_engine.hpp"

namespace warmup::host {

using namespace engine_internal;

namespace {

/// The most followers one plan may name (warmup_prediction.replan_count beyond it is cut): bounds the work one request
/// can cause.
constexpr uint32_t kMaxSuccessions = 16;

const char* keep_reason(warmup_plan_trigger trigger) {
    switch (trigger) {
        case WARMUP_TRIGGER_USED:
            return "planned after a request";
        case WARMUP_TRIGGER_WARMED:
            return "planned after a pre-warm finished";
        case WARMUP_TRIGGER_TIMER:
            break;
    }
    return "planned again (learned history, reload or timer)";
}

}  // namespace

void WarmupEngine::plan(warmup_model_index model, warmup_plan_trigger trigger, warmup_time_ms now_ms) {
    ModelSlot& state = slot(model);
    warmup_usage_pattern pattern = sized<warmup_usage_pattern>();
    warmup_prediction prediction = empty_prediction(model);
    warmup_performance_estimate estimate = sized<warmup_performance_estimate>();
    warmup_plan decision = sized<warmup_plan>();
    estimate.model = decision.model = model;
    decision.unload_at_ms = decision.warm_start_at_ms = decision.warm_ready_by_ms = decision.warm_unload_at_ms = kNever;

    // A failed call or an open circuit of any of these falls back to the keep-alive plan.
    const bool ok =
        guarded(ComponentKind::Analyzer, "get_pattern",
                [&] { return components_.analyzer.vtable->get_pattern(components_.analyzer.self, model, &pattern); }) &&
        guarded(ComponentKind::Predictor, "predict",
                [&] {
                    return checked_prediction(components_.predictor.vtable->predict(components_.predictor.self, now_ms,
                                                                                    &pattern, &prediction),
                                              prediction);
                }) &&
        this->estimate(model, estimate);
    if (!ok) return fallback_plan(model, now_ms);
    // The followers this use makes likely soon: copied now (the list is the predictor's until its next call); only a
    // plan made on a use names them, so a follower's own plan cannot start another round. The struct is the host's
    // (sized<> zeroes it): a plugin of ABI 1.2, which does not know the two fields, leaves them NULL and 0.
    if (trigger == WARMUP_TRIGGER_USED && prediction.replan_models != nullptr)
        successions_.insert(successions_.end(), prediction.replan_models,
                            prediction.replan_models + std::min<uint32_t>(prediction.replan_count, kMaxSuccessions));

    warmup_plan_input input = sized<warmup_plan_input>();
    input.now_ms = now_ms;
    input.model = model;
    input.trigger = trigger;
    input.residency = state.residency;
    input.prediction = &prediction;
    input.estimate = &estimate;
    if (!guarded(ComponentKind::Scheduler, "plan",
                 [&] { return components_.scheduler.vtable->plan(components_.scheduler.self, &input, &decision); }))
        return fallback_plan(model, now_ms);

    state.unload_at = decision.unload_at_ms;
    state.warm_start_at = decision.warm_start_at_ms;
    // Planned again without a request (a reload, a resume, late events), a pre-warm is over when it was meant to have
    // the model ready before it left memory (it was in memory then; one meant for then or later is not: a succession
    // asks for a model ready now, which may have left a moment ago), or when its keep window has already ended
    // (loaded, it would be unloaded at once).
    if (state.residency == WARMUP_RESIDENCY_ABSENT &&
        ((state.left_memory_at != kNever && decision.warm_ready_by_ms < state.left_memory_at) ||
         decision.warm_unload_at_ms <= now_ms))
        state.warm_start_at = kNever;
    state.warm_ready_by = decision.warm_ready_by_ms;
    state.warm_unload_at = decision.warm_unload_at_ms;
    state.priority_class = decision.priority_class;
    refresh_timer(model);
    if (options_.decisions != nullptr) {
        state.plan_was_fallback = false;
        state.plan_next_use_ms = prediction.next_arrival_ms;
        state.plan_p_use = prediction.p_use_within_horizon;
        state.plan_horizon_ms = prediction.horizon_ms;
        if (state.residency == WARMUP_RESIDENCY_READY) {
            Decision& keep =
                this->decision(DecisionKind::Keep, model, keep_reason(trigger), components_.predictor.label, now_ms);
            keep.until_ms = state.unload_at;
            keep.prewarm_at_ms = state.warm_start_at;
            options_.decisions->record(keep);
        }
    }
}

void WarmupEngine::fallback_plan(warmup_model_index model, warmup_time_ms now_ms) {
    // The built-in safe choice when a plugin fails: plain keep-alive after the last use, no pre-warm.
    ModelSlot& state = slot(model);
    const warmup_time_ms anchor = state.last_use_ms == kNever ? now_ms : std::max(state.last_use_ms, now_ms);
    state.unload_at = anchor + options_.fallback_keep_alive_ms;
    state.warm_start_at = kNever;
    refresh_timer(model);
    if (options_.decisions != nullptr) {
        state.plan_was_fallback = true;
        state.plan_next_use_ms = kNever;
        state.plan_p_use = -1;
        state.plan_horizon_ms = 0;
        if (state.residency == WARMUP_RESIDENCY_READY) {
            Decision& keep = decision(DecisionKind::Keep, model,
                                      "a plugin call failed or its circuit is open: keep-alive after the last use",
                                      by_builtin_keep_alive(), now_ms);
            keep.until_ms = state.unload_at;
            options_.decisions->record(keep);
        }
    }
}

Decision& WarmupEngine::decision(DecisionKind kind, warmup_model_index model, const char* reason,
                                 const std::string& decided_by, warmup_time_ms now_ms) {
    // Every field is set: the scratch entry is reused so that its strings keep their capacity (no allocation per
    // decision once they are long enough).
    Decision& made = decision_scratch_;
    made.seq = 0;
    made.at_ms = now_ms;
    made.first_at_ms = now_ms;
    made.repeats = 1;
    made.model = model;
    made.kind = kind;
    made.arm = options_.arm;
    made.reason = reason;
    made.decided_by = decided_by;
    made.used_mb = used_mb_;
    made.unloading_mb = unloading_mb_;
    made.budget_mb = budget_mb_;
    made.need_mb = 0;
    made.until_ms = kNever;
    made.prewarm_at_ms = kNever;
    made.for_model = WARMUP_NO_MODEL;
    made.attempt = 0;
    made.planned_by.clear();
    made.plugin_says.clear();
    made.from_fallback_plan = false;
    made.predicted_next_use_ms = kNever;
    made.p_use = std::nan("");
    made.horizon_ms = 0;
    if (model < models_.size()) {
        const ModelSlot& state = models_[model];
        made.from_fallback_plan = state.plan_was_fallback;
        if (state.plan_was_fallback || state.plan_p_use >= 0) made.planned_by = plan_author(state);  // "": no plan yet
        made.predicted_next_use_ms = state.plan_next_use_ms;
        if (state.plan_p_use >= 0) made.p_use = state.plan_p_use;
        made.horizon_ms = state.plan_horizon_ms;
    }
    return made;
}

const std::string& WarmupEngine::plan_author(const ModelSlot& state) const noexcept {
    return state.plan_was_fallback ? by_builtin_keep_alive() : components_.predictor.label;
}

void WarmupEngine::refresh_timer(warmup_model_index model) {
    const ModelSlot& state = models_[model];
    // A retry only applies to an absent model: counting a stale retry_at of a model that got loaded another way
    // would keep a timer due in the past, and run_timers would spin on it.
    warmup_time_ms due = kNever;
    // A ready model's planned pre-warm is due too: a pre-warm whose time comes while the model is loaded is over
    // (run_timers), so that a model evicted later is not loaded back for a time already past.
    if (state.residency == WARMUP_RESIDENCY_READY) due = std::min(state.unload_at, state.warm_start_at);
    if (state.residency == WARMUP_RESIDENCY_ABSENT) due = std::min(state.retry_at, state.warm_start_at);
    if (state.in_memory_fifo) due = std::min(due, state.delayed_demand_until);
    timers_.set(model, due);
}

void WarmupEngine::run_timers(warmup_time_ms now_ms) {
    advance(now_ms);
    while (!timers_.empty() && timers_.next_due_ms() <= now_ms) {
        const warmup_model_index model = timers_.next_model();
        timers_.set(model, kNever);
        ModelSlot& state = models_[model];
        // A delayed demand load's recheck: the dispatch after this loop starts it (or it waits for memory as any).
        if (state.delayed_demand_until <= now_ms) state.delayed_demand_until = kNever;
        if (state.retry_at <= now_ms && state.residency == WARMUP_RESIDENCY_ABSENT) {
            state.retry_at = kNever;
            if (retry_still_wanted(state, now_ms)) {
                // A restore's retry stays one.
                enqueue_again(model, state.waiting.empty() ? LoadReason::Retry : LoadReason::Demand,
                              state.loaded_for == LoadCause::Restore, now_ms);
            } else {
                drop_retry(model, now_ms);
            }
        }
        if (state.residency == WARMUP_RESIDENCY_ABSENT && state.warm_start_at <= now_ms) {
            state.warm_start_at = kNever;
            if (!stopped_) {
                enqueue_load(model, LoadReason::Prewarm, now_ms);
            } else if (options_.decisions != nullptr) {
                options_.decisions->record(decision(DecisionKind::Skip, model,
                                                    "planned pre-warm during an emergency stop", by_engine(), now_ms));
            }
        }
        if (prewarm_passed_while_loaded(state, now_ms)) {
            // Its pre-warm time came while it is loaded (a model kept until evicted, a plan whose pre-warm falls
            // before its unload, or one planned after an unload due now): nothing to load; it is kept at least to the
            // pre-warm's keep window, as a pre-warmed model would be, when that window ends later.
            state.warm_start_at = kNever;
            if (state.warm_unload_at > std::max(state.unload_at, now_ms))
                put_off_unload(model, now_ms);
            else if (state.unload_at == kNever)
                plan_next_prewarm(model, now_ms);
        }
        if (state.residency == WARMUP_RESIDENCY_READY && state.unload_at <= now_ms) {
            state.unload_at = kNever;
            if (options_.decisions != nullptr) {
                Decision& unload = decision(DecisionKind::Unload, model, "idle until its planned unload time",
                                            plan_author(state), now_ms);
                unload.need_mb = state.charged_mb;
                options_.decisions->record(unload);
            }
            remove_from_memory(model, /*eviction=*/false, now_ms);
        }
        refresh_timer(model);
    }
    dispatch(now_ms);
}

void WarmupEngine::plan_next_prewarm(warmup_model_index model, warmup_time_ms now_ms) {
    plan(model, WARMUP_TRIGGER_TIMER, now_ms);
    ModelSlot& state = models_[model];
    // Only a later one: the model is loaded, so a pre-warm due now has nothing to load (and would come due again at
    // once).
    if (state.warm_start_at <= now_ms) {
        state.warm_start_at = kNever;
        refresh_timer(model);
    }
}

void WarmupEngine::put_off_unload(warmup_model_index model, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    state.unload_at = state.warm_unload_at;
    if (options_.decisions == nullptr) return;
    Decision& keep = decision(DecisionKind::Keep, model, "unload put off: its planned pre-warm falls before then",
                              plan_author(state), now_ms);
    keep.until_ms = state.unload_at;
    options_.decisions->record(keep);
}

bool WarmupEngine::retry_still_wanted(const ModelSlot& state, warmup_time_ms now_ms) {
    // A request waits: always wanted (it fails only when the scheduler gives up). Otherwise the failed load was a
    // pre-warm (or its retry), wanted until the plan's keep window for the pre-warmed model ends; a restore of the
    // warm set has no such window and is retried as before. NEVER (no window: keep) stays wanted.
    return !state.waiting.empty() || state.loaded_for != LoadCause::Prewarm || state.warm_unload_at > now_ms;
}

void WarmupEngine::drop_retry(warmup_model_index model, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    // Loaded now, the model would be unloaded as soon as its load finished: no backend work, no memory churn. It
    // counts as a skipped pre-warm; the next request or plan starts afresh, from a first attempt.
    const uint32_t failed_attempts = state.attempt;
    state.attempt = 0;
    state.restore_handed_over = false;
    ++counters_.prewarms_skipped;
    metric(WARMUP_METRIC_PREWARM_SKIPPED, model, now_ms, 1);
    if (options_.decisions != nullptr) {
        Decision& skip = decision(DecisionKind::Skip, model,
                                  "retry dropped: no request waits for the model and its pre-warm's keep window has "
                                  "ended",
                                  by_engine(), now_ms);
        skip.until_ms = state.warm_unload_at;
        skip.attempt = failed_attempts;
        options_.decisions->record(skip);
    }
    spdlog::info(
        "MODEL_LOAD_RETRY_DROPPED retry of {} after {} failed attempt(s) dropped: no request waits for it and its "
        "pre-warm's keep window ended {} ms ago",
        catalog_.record(model).name, failed_attempts, now_ms - state.warm_unload_at);
}

}  // namespace warmup::host
