// engine/warmup_engine.cpp — the discrete-event warm-up engine (see warmup_engine.hpp for the rules it implements):
// its state and plugin calls, requests and operations; the plans and timers are in engine_planning.cpp, the queue,
// loads, evictions and unloads in engine_loads.cpp.
// Single-threaded: every method runs on its owner's control thread. Times are ms on the owner's clock; memory MiB.
// Shared by the live daemon and the replay: a change here must leave replay results byte-identical (the replay
// only feeds time-ordered requests: on_history, replan_all and budget changes are live-only paths).
#include "engine/warmup_engine.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>
#include <warmup/sdk/model_table.hpp>

#include "core/errors.hpp"
#include "engine/engine_internal.hpp"

namespace warmup::host {

using namespace engine_internal;

std::string_view load_cause_name(LoadCause cause) noexcept {
    switch (cause) {
        case LoadCause::Demand:
            return "demand";
        case LoadCause::Prewarm:
            return "pre-warm";
        case LoadCause::Restore:
            return "restore";
        case LoadCause::Adopted:
            return "adopted";
    }
    return "demand";
}

WarmupEngine::WarmupEngine(ComponentSet components, LoadExecutor& executor, Catalog& catalog, EngineOptions options)
    : components_(std::move(components)),
      executor_(executor),
      catalog_(catalog),
      options_(std::move(options)),
      unloads_confirmed_(executor.confirms_unloads()) {
    budget_mb_ = resource_budget_mb(options_.memory_budget_mb);
    pending_metrics_.reserve(4096);
}

double WarmupEngine::resource_budget_mb(double configured_mb) {
    double effective_mb = 0;
    notified(ComponentKind::Resource, "effective_budget_mb", [&] {
        effective_mb = components_.resource.vtable->effective_budget_mb(components_.resource.self, configured_mb);
    });
    // Nothing left to lower: other clients' models hold the whole configured budget (RECONCILE_FOREIGN says so).
    if (!(configured_mb > 0)) return 0.0;
    if (effective_mb > 0 && effective_mb <= configured_mb) return effective_mb;  // NaN fails both
    spdlog::warn(
        "RESOURCE_BUDGET_IGNORED {} answered a memory budget of {} MiB for the configured {:.0f} MiB: a resource "
        "plugin may only lower the budget (to a number above 0); the configured budget applies",
        components_.resource.label, effective_mb, configured_mb);
    return configured_mb;
}

const char* circuit_state_name(CircuitState state) noexcept {
    switch (state) {
        case CircuitState::Closed:
            return "closed";
        case CircuitState::Open:
            return "open";
        case CircuitState::HalfOpen:
            return "half-open";
    }
    return "closed";
}

const std::string& WarmupEngine::record_failure(const std::string& label, std::string message) {
    ++counters_.plugin_errors;
    ComponentErrors& per_component = component_errors_[label];
    ++per_component.errors;
    per_component.last_error = std::move(message);
    per_component.by_replaced_instance = false;
    per_component.last_error_unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    // One line per failed call while the circuit is closed; an open circuit stops the calls, hence the lines.
    if (per_component.errors <= options_.logged_failures_per_component)
        spdlog::error("PLUGIN_CALL_ERROR {}{} {}", label, arm_note(), per_component.last_error);
    else if (per_component.errors == options_.logged_failures_per_component + 1)
        spdlog::error(
            "PLUGIN_CALL_ERROR {}{} failed {} calls; its further failures are counted (plugin_errors), not "
            "logged one by one",
            label, arm_note(), per_component.errors);
    return per_component.last_error;
}

void WarmupEngine::settle_notification(ComponentKind kind, const char* what,
                                       const std::optional<ReportedFailure>& failure, bool trip_now) noexcept {
    try {
        const bool open = circuits_[static_cast<std::size_t>(kind)].state == CircuitState::Open;
        if (!failure) {
            if (circuits_[static_cast<std::size_t>(kind)].state == CircuitState::Closed) circuit_succeeded(kind, what);
            return;
        }
        const std::string& error = record_failure(
            component_label(kind), fmt::format("{}: {}: {}", what, status_name(failure->code), failure->message));
        if (!open) circuit_failed(kind, what, error, trip_now);
    } catch (...) {  // no memory to say it: the failure is lost, the engine goes on
    }
}

std::string WarmupEngine::arm_note() const {
    if (options_.arm.empty() || options_.arm == "control") return {};
    return fmt::format(" (arm {})", options_.arm);
}

CircuitState WarmupEngine::circuit_state(ComponentKind kind) const noexcept {
    const CircuitStatus& circuit = circuits_[static_cast<std::size_t>(kind)];
    if (circuit.state == CircuitState::Open && now_ms_ - circuit.opened_at_ms >= options_.breaker_cooldown_ms)
        return CircuitState::HalfOpen;
    return circuit.state;
}

bool WarmupEngine::circuit_allows_slow(ComponentKind kind) {
    CircuitStatus& circuit = circuits_[static_cast<std::size_t>(kind)];
    if (circuit_state(kind) == CircuitState::Open) return false;
    // Past the cool-down: this call is the trial. The engine is single-threaded, so its outcome is recorded before
    // any other call of this component can start.
    circuit.state = CircuitState::HalfOpen;
    return true;
}

void WarmupEngine::circuit_succeeded_slow(ComponentKind kind, const char* what) {
    CircuitStatus& circuit = circuits_[static_cast<std::size_t>(kind)];
    std::erase_if(circuit.failing_calls, [what](const auto& call) { return std::string_view(call.first) == what; });
    circuit.consecutive_failures = 0;
    for (const auto& call : circuit.failing_calls)
        circuit.consecutive_failures = std::max(circuit.consecutive_failures, call.second);
    if (circuit.state == CircuitState::Closed) return;
    circuit.state = CircuitState::Closed;
    spdlog::warn("PLUGIN_CIRCUIT_CLOSED {}{} answered the trial call ({}); calls resume", component_label(kind),
                 arm_note(), what);
}

void WarmupEngine::circuit_failed(ComponentKind kind, const char* what, const std::string& error, bool trip_now) {
    CircuitStatus& circuit = circuits_[static_cast<std::size_t>(kind)];
    auto call = std::find_if(circuit.failing_calls.begin(), circuit.failing_calls.end(),
                             [what](const auto& failing) { return std::string_view(failing.first) == what; });
    if (call == circuit.failing_calls.end()) call = circuit.failing_calls.insert(call, {what, 0});
    circuit.consecutive_failures = std::max(circuit.consecutive_failures, ++call->second);
    circuit.last_error = error;
    const bool trial_failed = circuit.state == CircuitState::HalfOpen;
    if (!trip_now && !trial_failed && call->second < options_.breaker_failures) return;
    circuit.state = CircuitState::Open;
    circuit.opened_at_ms = now_ms_;
    ++circuit.times_opened;
    if (circuit.times_opened <= options_.logged_failures_per_component)
        spdlog::error(
            "PLUGIN_CIRCUIT_OPEN {}{} after {} failed {} call(s) in a row{}: {} (built-in safe choice for {} ms)",
            component_label(kind), arm_note(), call->second, what, trial_failed ? " (trial call failed)" : "", error,
            options_.breaker_cooldown_ms);
    if (kind == ComponentKind::Queue) move_queue_plugin_items_to_fallback();
}

void WarmupEngine::grow_slots_to(warmup_model_index model) {
    const std::size_t old_size = models_.size();
    // Not std::vector's doubling (amortised O(1) per new model all the same, warmup/sdk/model_table.hpp): at 10 k
    // models doubling left up to 6 k unused slots of ~250 bytes.
    models_.reserve(warmup::sdk::grown_model_capacity(models_.capacity(), std::size_t{model} + 1, catalog_.size()));
    models_.resize(std::size_t{model} + 1);
    for (std::size_t i = old_size; i < models_.size(); ++i) {
        const ModelRecord& record = catalog_.record(static_cast<warmup_model_index>(i));
        models_[i].catalog_load_ms = record.load_ms;
        models_[i].priority_class = record.priority;
    }
}

void WarmupEngine::advance(warmup_time_ms now_ms) {
    now_ms_ = std::max(now_ms_, now_ms);
    if (accounted_until_ms_ != kNever && now_ms > accounted_until_ms_)
        counters_.loaded_mb_ms += used_mb_ * static_cast<double>(now_ms - accounted_until_ms_);
    if (accounted_until_ms_ == kNever || now_ms > accounted_until_ms_) accounted_until_ms_ = now_ms;
}

void WarmupEngine::settle(warmup_time_ms now_ms) { advance(now_ms); }

void WarmupEngine::charge(ModelSlot& state, double memory_mb, warmup_time_ms now_ms) {
    assert(state.charged_since_ms == kNever && "a model is charged once per residency");
    state.charged_mb = memory_mb;
    state.charged_since_ms = now_ms;
    used_mb_ += memory_mb;
}

double WarmupEngine::current_charge_mb_ms(const ModelSlot& state, warmup_time_ms now_ms) {
    if (state.charged_since_ms == kNever || now_ms <= state.charged_since_ms) return 0;
    return state.charged_mb * static_cast<double>(now_ms - state.charged_since_ms);
}

void WarmupEngine::release_charge(ModelSlot& state, warmup_time_ms now_ms) {
    state.released_mb_ms += current_charge_mb_ms(state, now_ms);
    used_mb_ -= state.charged_mb;
    if (used_mb_ < 1e-9) used_mb_ = 0;
    state.charged_mb = 0;
    state.charged_since_ms = kNever;
}

void WarmupEngine::recharge(ModelSlot& state, double memory_mb, warmup_time_ms now_ms) {
    state.released_mb_ms += current_charge_mb_ms(state, now_ms);
    used_mb_ += memory_mb - state.charged_mb;
    if (used_mb_ < 1e-9) used_mb_ = 0;
    state.charged_mb = memory_mb;
    state.charged_since_ms = now_ms;
}

void WarmupEngine::account_resident_idle(warmup_time_ms now_ms) {
    for (const ModelSlot& state : models_) {
        if (state.residency != WARMUP_RESIDENCY_READY) continue;
        const warmup_time_ms idle_since =
            state.last_use_ms == kNever ? state.ready_since_ms : std::max(state.last_use_ms, state.ready_since_ms);
        if (now_ms > idle_since) counters_.idle_mb_ms += state.charged_mb * static_cast<double>(now_ms - idle_since);
    }
}

void WarmupEngine::metric(warmup_metric_kind kind, warmup_model_index model, warmup_time_ms ts_ms, double value) {
    // An open metrics circuit drops events: observability must not hold memory for a sink that cannot take them.
    if (components_.metrics.vtable == nullptr || circuit_open(ComponentKind::Metrics)) return;
    pending_metrics_.push_back(warmup_metric_event{
        static_cast<uint32_t>(kind), model, ts_ms, value, {options_.arm.data(), options_.arm.size()}});
    if (pending_metrics_.size() >= 4096) flush_metrics();
}

void WarmupEngine::flush_metrics() {
    if (components_.metrics.vtable == nullptr) return;
    // Appended here rather than through metric(), which flushes when the buffer is full and would recurse.
    if (!circuit_open(ComponentKind::Metrics))
        pending_metrics_.push_back(warmup_metric_event{static_cast<uint32_t>(WARMUP_METRIC_QUEUE_DEPTH),
                                                       WARMUP_NO_MODEL,
                                                       now_ms_,
                                                       static_cast<double>(queue_depth()),
                                                       {options_.arm.data(), options_.arm.size()}});
    if (pending_metrics_.empty()) return;
    guarded(ComponentKind::Metrics, "record", [&] {
        return components_.metrics.vtable->record(components_.metrics.self, pending_metrics_.data(),
                                                  pending_metrics_.size());
    });
    pending_metrics_.clear();
}

std::size_t WarmupEngine::queue_depth() const { return queued_in_plugin_ + fallback_queue_.size(); }

// ---------------------------------------------------------------------------------------------------------------
// Requests

void WarmupEngine::observe(std::span<const warmup_usage_event> events, warmup_time_ms now_ms) {
    advance(now_ms);
    guarded(ComponentKind::Analyzer, "observe", [&] {
        return components_.analyzer.vtable->observe(components_.analyzer.self, events.data(), events.size());
    });
    ++epoch_;
    touched_.clear();
}

void WarmupEngine::touch(warmup_model_index model) {
    ModelSlot& state = slot(model);
    if (state.touched_epoch != epoch_) {
        state.touched_epoch = epoch_;
        touched_.push_back(model);
    }
}

void WarmupEngine::replan(warmup_model_index model, warmup_time_ms now_ms) {
    const ModelSlot& state = models_[model];
    // Adopted (from the server's listing, or from another arm) and never requested in these books: no history here to
    // plan from, so it keeps the built-in keep-alive adopt_resident gave it until its first request plans it. A plan
    // now would be a never-used model's: unload at once.
    if (state.residency == WARMUP_RESIDENCY_READY && state.loaded_for == LoadCause::Adopted &&
        state.last_request_ms == kNever)
        return;
    if (state.residency == WARMUP_RESIDENCY_READY || state.residency == WARMUP_RESIDENCY_ABSENT)
        plan(model, state.prewarmed_unused ? WARMUP_TRIGGER_WARMED : WARMUP_TRIGGER_TIMER, now_ms);
}

void WarmupEngine::on_events(std::span<const warmup_usage_event> events, warmup_time_ms now_ms) {
    if (events.empty()) return;
    observe(events, now_ms);
    for (const auto& event : events) {
        handle_request(event, now_ms);
        touch(event.model);
    }
    for (const warmup_model_index model : touched_) plan(model, WARMUP_TRIGGER_USED, now_ms);
    plan_successions(now_ms);
    dispatch(now_ms);
}

void WarmupEngine::plan_followers_of(std::span<const warmup_model_index> leaders, warmup_time_ms now_ms) {
    if (successions_.empty()) return;
    ++epoch_;  // a set of their own: touched_ belongs to the last batch
    touched_.clear();
    for (const warmup_model_index leader : leaders) touch(leader);
    plan_successions(now_ms);
}

void WarmupEngine::plan_successions(warmup_time_ms now_ms) {
    for (const warmup_model_index model : successions_) {
        // touch() marks it: a model this batch used was just planned, and one named twice is planned once.
        if (model >= catalog_.size() || slot(model).touched_epoch == epoch_) continue;
        touch(model);
        replan(model, now_ms);
    }
    successions_.clear();
}

void WarmupEngine::on_history(std::span<const warmup_usage_event> events, warmup_time_ms now_ms) {
    if (events.empty()) return;
    observe(events, now_ms);
    // What was learned may move the model's next predicted use: a fresh plan now, not at its next request. Nothing is
    // scored and no load starts for the past itself (a plan may schedule a pre-warm, as after any plan).
    for (const auto& event : events) touch(event.model);
    for (const warmup_model_index model : touched_) replan(model, now_ms);
    dispatch(now_ms);
}

std::vector<warmup_usage_event> WarmupEngine::last_uses(warmup_time_ms now_ms) {
    std::vector<warmup_usage_event> uses;
    const auto models = std::max<std::size_t>(catalog_.size(), models_.size());
    for (warmup_model_index model = 0; model < models; ++model) {
        warmup_usage_pattern pattern = sized<warmup_usage_pattern>();
        const bool read = guarded(ComponentKind::Analyzer, "get_pattern", [&] {
            return components_.analyzer.vtable->get_pattern(components_.analyzer.self, model, &pattern);
        });
        if (!read || pattern.request_count == 0 || pattern.last_seen_ms == kNever) continue;
        // A clock that stepped back must not make a use in its future a request the analyzer has not seen yet.
        uses.push_back({std::min(pattern.last_seen_ms, now_ms), model, 1, 0, 0});
    }
    std::sort(uses.begin(), uses.end(),
              [](const auto& a, const auto& b) { return a.ts_ms != b.ts_ms ? a.ts_ms < b.ts_ms : a.model < b.model; });
    return uses;
}

bool WarmupEngine::has_learned_requests(warmup_model_index model) {
    warmup_usage_pattern pattern = sized<warmup_usage_pattern>();
    const bool read = guarded(ComponentKind::Analyzer, "get_pattern", [&] {
        return components_.analyzer.vtable->get_pattern(components_.analyzer.self, model, &pattern);
    });
    return read && pattern.request_count > 0;
}

void WarmupEngine::relearn_last_uses(std::span<const warmup_usage_event> last_uses, warmup_time_ms now_ms) {
    if (!last_uses.empty()) observe(last_uses, now_ms);
}

void WarmupEngine::replan_all(warmup_time_ms now_ms) {
    advance(now_ms);
    for (warmup_model_index model = 0; model < models_.size(); ++model) replan(model, now_ms);
    dispatch(now_ms);
}

// Long: the hot path of every request; its cases (ready, loading, queued, absent) read top to bottom in one place.
void WarmupEngine::handle_request(const warmup_usage_event& event, warmup_time_ms now_ms) {
    ModelSlot& state = slot(event.model);
    const uint32_t count = event.count == 0 ? 1 : event.count;
    ++counters_.events;
    counters_.requests += count;
    state.requests += count;

    // Recall: the first arrival after an idle gap longer than the load time is the one a pre-warm can save.
    const bool after_idle_gap = state.last_request_ms == kNever ||
                                static_cast<double>(event.ts_ms - state.last_request_ms) > state.catalog_load_ms;
    // Live, a request may be a little older than one already seen (posted late, inside the request window): the
    // last request time never goes back. (Replay events are time-ordered: there this is the plain assignment.)
    state.last_request_ms =
        state.last_request_ms == kNever ? event.ts_ms : std::max(state.last_request_ms, event.ts_ms);
    if (after_idle_gap) {
        ++counters_.idle_gap_requests;
        metric(WARMUP_METRIC_IDLE_GAP_REQUEST, event.model, event.ts_ms, 1);
    }

    // A request cancels the model's pending unload and pre-warm (the scheduler re-plans right after).
    state.unload_at = kNever;
    state.warm_start_at = kNever;
    state.left_memory_at = kNever;

    // Cold: one decision per load a request has to wait for (the first waiter), with the plan that was in force.
    if (options_.decisions != nullptr && state.residency != WARMUP_RESIDENCY_READY && state.waiting.empty()) {
        const char* reason = "a request found it unloaded: demand load";
        if (state.residency == WARMUP_RESIDENCY_LOADING)
            reason = state.reason == LoadReason::Demand ? "a request found its load still running"
                                                        : "a request found its pre-warm still loading";
        else if (state.residency == WARMUP_RESIDENCY_QUEUED)
            reason = state.in_memory_fifo ? "a request found its load waiting for memory"
                     : state.reason == LoadReason::Prewarm
                         ? "a request found its pre-warm still queued: now a demand load"
                         : "a request found its retry still queued: now a demand load";
        Decision& cold = decision(DecisionKind::DemandLoad, event.model, reason, by_engine(), now_ms);
        cold.at_ms = event.ts_ms;
        cold.need_mb = state.residency == WARMUP_RESIDENCY_ABSENT ? 0 : state.need_mb;
        options_.decisions->record(cold);
    }

    switch (state.residency) {
        case WARMUP_RESIDENCY_READY:
            counters_.warm_requests += count;
            metric(WARMUP_METRIC_REQUEST_WARM, event.model, event.ts_ms, count);
            if (state.prewarmed_unused) {
                state.prewarmed_unused = false;
                ++counters_.prewarms_used;
                metric(WARMUP_METRIC_PREWARM_USED, event.model, event.ts_ms, 1);
                if (after_idle_gap) {
                    ++counters_.idle_gap_prewarmed;
                    metric(WARMUP_METRIC_IDLE_GAP_WARM, event.model, event.ts_ms, 1);
                }
            }
            state.last_use_ms = std::max(state.last_use_ms == kNever ? event.ts_ms : state.last_use_ms, event.ts_ms);
            notify_resource_used(event.model, count, now_ms);
            return;
        case WARMUP_RESIDENCY_LOADING:
            break;
        case WARMUP_RESIDENCY_QUEUED:
            if (state.reason != LoadReason::Demand && !state.in_memory_fifo) {
                // A queued pre-warm becomes a demand load: it jumps to the demand class.
                unqueue(event.model);
                set_residency(state, WARMUP_RESIDENCY_ABSENT);
                state.retry_at = kNever;
                enqueue_load(event.model, LoadReason::Demand, now_ms);
            } else {
                state.reason = LoadReason::Demand;
            }
            break;
        case WARMUP_RESIDENCY_ABSENT:
            state.retry_at = kNever;
            enqueue_load(event.model, LoadReason::Demand, now_ms);
            break;
    }
    counters_.cold_requests += count;
    state.cold_requests += count;
    metric(WARMUP_METRIC_REQUEST_COLD, event.model, event.ts_ms, count);
    // Requests of the same millisecond share one entry (their waits are equal). Memory stays bounded when loads
    // cannot keep up with the traffic: past kMaxWaitingEntries distinct times, later requests join the newest
    // entry, so their recorded wait is counted from that entry's time (at most that much longer than the truth).
    constexpr std::size_t kMaxWaitingEntries = 4096;
    if (!state.waiting.empty() &&
        (state.waiting.back().ts_ms == event.ts_ms || state.waiting.size() >= kMaxWaitingEntries)) {
        state.waiting.back().count += count;
    } else {
        state.waiting.push_back({event.ts_ms, count});
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Operations

void WarmupEngine::set_memory_budget_mb(double configured_mb, warmup_time_ms now_ms) {
    advance(now_ms);
    options_.memory_budget_mb = configured_mb;
    budget_mb_ = resource_budget_mb(configured_mb);
    // While loads are held (a reload), the models this arm holds may still go to the arms that serve them now: what
    // is over the new budget is evicted when the hold ends, once they have.
    if (loads_held_)
        budget_shrunk_while_held_ = true;
    else
        evict_over_budget(now_ms);
    dispatch(now_ms);
}

void WarmupEngine::evict_over_budget(warmup_time_ms now_ms) {
    if (used_mb_ > budget_mb_ + 1e-9) {
        const uint64_t evictions_before = counters_.evictions;
        const double used_before_mb = used_mb_;
        evict_until_fits(WARMUP_NO_MODEL, 0, now_ms);
        // What stays over the budget for now: unloads not over yet (live), and loads, which are never cancelled.
        std::string charged_until;
        if (unloading_mb_ > 0)
            charged_until = fmt::format(", {:.0f} MiB of it until its unloads are over", unloading_mb_);
        if (used_mb_ - unloading_mb_ > budget_mb_ + 1e-9)
            charged_until += " (loading models are charged until they finish)";
        spdlog::warn("BUDGET_SHRUNK {:.0f} MiB budget: {} ready model(s) evicted, {:.0f} -> {:.0f} MiB in use{}",
                     budget_mb_, counters_.evictions - evictions_before, used_before_mb, used_mb_, charged_until);
    }
}

void WarmupEngine::emergency_stop(warmup_time_ms now_ms) {
    stopped_ = true;
    // A restore of the warm set waiting for memory is cancelled like any pre-warm, and kept for the resume.
    for (warmup_model_index model = 0; model < models_.size(); ++model)
        if (const ModelSlot& state = models_[model]; state.in_memory_fifo && state.operator_prewarm &&
                                                     state.reason != LoadReason::Demand && state.waiting.empty())
            keep_restore_for_resume(model);
    skip_waiting_prewarms("pre-warm cancelled by an emergency stop", now_ms);
    // Cancel queued pre-warms; demand loads stay queued (a request is waiting for each).
    for (warmup_model_index model = 0; model < models_.size(); ++model) {
        ModelSlot& state = models_[model];
        state.warm_start_at = kNever;
        if (state.residency == WARMUP_RESIDENCY_QUEUED && state.waiting.empty() && !state.in_memory_fifo) {
            if (state.operator_prewarm) keep_restore_for_resume(model);
            unqueue(model);
            set_residency(state, WARMUP_RESIDENCY_ABSENT);
        }
        refresh_timer(model);
    }
    metric(WARMUP_METRIC_QUEUE_DEPTH, WARMUP_NO_MODEL, now_ms, static_cast<double>(queue_depth()));
}

bool WarmupEngine::in_warm_set(warmup_model_index model) const {
    if (model >= models_.size()) return false;
    const ModelSlot& state = models_[model];
    if (state.residency == WARMUP_RESIDENCY_READY || state.residency == WARMUP_RESIDENCY_LOADING) return true;
    if (state.kept_for_resume || (state.residency == WARMUP_RESIDENCY_QUEUED && state.operator_prewarm)) return true;
    // A restore whose load failed, waiting for its retry.
    return state.residency == WARMUP_RESIDENCY_ABSENT && state.retry_at != kNever &&
           state.loaded_for == LoadCause::Restore;
}

std::size_t WarmupEngine::resume(warmup_time_ms now_ms, bool restore_warm_set) {
    advance(now_ms);  // loads may start now: the memory held so far is accounted up to here first
    stopped_ = false;
    std::vector<warmup_model_index> restores;
    restores.swap(restores_kept_by_stop_);
    std::size_t queued = 0;
    for (const warmup_model_index model : restores) {
        models_[model].kept_for_resume = false;
        const bool handed_over = std::exchange(models_[model].restore_handed_over, false);
        if (restore_warm_set && queue_restore(model, now_ms)) {
            models_[model].restore_handed_over = handed_over;
            ++queued;
        }
    }
    dispatch(now_ms);
    return queued;
}

void WarmupEngine::keep_for_builtin_keep_alive(warmup_model_index model, warmup_time_ms now_ms, const char* why) {
    ModelSlot& state = models_[model];
    state.unload_at = now_ms + options_.fallback_keep_alive_ms;
    state.warm_start_at = kNever;
    refresh_timer(model);
    if (options_.decisions != nullptr) {
        Decision& keep = decision(DecisionKind::Keep, model, why, by_builtin_keep_alive(), now_ms);
        keep.until_ms = state.unload_at;
        options_.decisions->record(keep);
    }
}

void WarmupEngine::keep_restore_for_resume(warmup_model_index model) {
    ModelSlot& state = slot(model);
    if (state.kept_for_resume) return;
    state.kept_for_resume = true;
    restores_kept_by_stop_.push_back(model);
}

bool WarmupEngine::queue_restore(warmup_model_index model, warmup_time_ms now_ms) {
    const bool was_absent = model >= models_.size() || models_[model].residency == WARMUP_RESIDENCY_ABSENT;
    enqueue_load(model, LoadReason::Prewarm, now_ms);
    if (!was_absent || models_[model].residency != WARMUP_RESIDENCY_QUEUED) return false;
    models_[model].operator_prewarm = true;
    return true;
}

void WarmupEngine::replace_components(const ComponentSet& components, warmup_time_ms now_ms) {
    advance(now_ms);  // the new components may load or evict now
    const bool new_resource = components.resource.self != components_.resource.self;
    const bool new_queue = components.queue.self != components_.queue.self;
    std::vector<warmup_model_index> queued;  // the old queue plugin's items, in its order, to hand to the new one
    if (new_queue) {
        // The instance being replaced: a failure it reports is its own (counted under its label, before the swap).
        warmup_queue_item item{};
        const auto pop_old = [&] {
            int popped = 0;
            notified(ComponentKind::Queue, "pop",
                     [&] { popped = components_.queue.vtable->pop(components_.queue.self, now_ms, &item); });
            return popped != 0;
        };
        while (pop_old()) {
            if (item.model >= models_.size() || models_[item.model].queued_in != QueuedIn::Plugin) continue;  // stale
            models_[item.model].queued_in = QueuedIn::Nowhere;
            --queued_in_plugin_;
            queued.push_back(item.model);
        }
        stale_plugin_items_.clear();  // they were the old plugin's
        // Items the old plugin lost are handed over too, so no queued model is left behind.
        for (warmup_model_index model = 0; model < models_.size(); ++model) {
            if (models_[model].queued_in != QueuedIn::Plugin) continue;
            models_[model].queued_in = QueuedIn::Nowhere;
            queued.push_back(model);
        }
        queued_in_plugin_ = 0;
    }
    // A new plugin instance starts with a closed circuit: the old one's failures say nothing about it.
    const std::array<const void*, kComponentKinds> old_selves{
        components_.analyzer.self, components_.predictor.self, components_.performance.self, components_.scheduler.self,
        components_.resource.self, components_.queue.self,     components_.metrics.self};
    const std::array<const void*, kComponentKinds> new_selves{
        components.analyzer.self, components.predictor.self, components.performance.self, components.scheduler.self,
        components.resource.self, components.queue.self,     components.metrics.self};
    // Nor its recent failures: the failure count stays (since start, per label), but a replacement with the same
    // label (new params, a rebuilt library) is not reported degraded for what the one it replaced did.
    for (std::size_t kind = 0; kind < kComponentKinds; ++kind) {
        if (old_selves[kind] == new_selves[kind]) continue;
        circuits_[kind] = CircuitStatus{};
        if (const auto errors = component_errors_.find(component_label(static_cast<ComponentKind>(kind)));
            errors != component_errors_.end())
            errors->second.by_replaced_instance = true;
    }
    components_ = components;
    if (new_resource) {
        budget_mb_ = resource_budget_mb(options_.memory_budget_mb);
        for (warmup_model_index model = 0; model < models_.size(); ++model) {
            const ModelSlot& state = models_[model];
            if (state.residency == WARMUP_RESIDENCY_READY)
                notified(ComponentKind::Resource, "on_ready", [&] {
                    components_.resource.vtable->on_ready(components_.resource.self, model, state.charged_mb,
                                                          state.catalog_load_ms, now_ms);
                });
        }
        // The new policy may allow less than is loaded: evict down to it in its own order, at once, or when the
        // hold ends while loads are held (a reload: the budget and the models this arm serves may still change).
        if (used_mb_ > budget_mb_ + 1e-9) {
            if (loads_held_)
                budget_shrunk_while_held_ = true;
            else
                evict_until_fits(WARMUP_NO_MODEL, 0, now_ms);
        }
    }
    for (const warmup_model_index model : queued) {
        ModelSlot& state = models_[model];
        if (state.residency != WARMUP_RESIDENCY_QUEUED) continue;
        set_residency(state, WARMUP_RESIDENCY_ABSENT);
        enqueue_again(model, state.reason, state.operator_prewarm, now_ms);
    }
    dispatch(now_ms);
}

warmup_error* WarmupEngine::render_metrics(const char* format, const warmup_byte_writer* writer) const {
    const auto in_call = marked(ComponentKind::Metrics, "render");
    return components_.metrics.vtable->render(components_.metrics.self, format, writer);
}

ModelStatus WarmupEngine::model_status(warmup_model_index model) const {
    ModelStatus status;
    status.model = model;
    if (model >= models_.size()) return status;
    const ModelSlot& state = models_[model];
    status.residency = state.residency;
    status.memory_mb = state.charged_mb;
    status.loaded_mb_ms = state.released_mb_ms + current_charge_mb_ms(state, now_ms_);
    if (state.pending_unloads != 0) {
        for (const PendingUnload& unload : pending_unloads_) {
            if (unload.model != model) continue;
            status.unloading_mb += unload.memory_mb;
            if (now_ms_ > unload.since_ms)
                status.loaded_mb_ms += unload.memory_mb * static_cast<double>(now_ms_ - unload.since_ms);
        }
    }
    status.requests = state.requests;
    status.cold_requests = state.cold_requests;
    status.last_use_ms = state.last_request_ms;
    status.unload_at_ms = state.residency == WARMUP_RESIDENCY_READY ? state.unload_at : kNever;
    status.warm_start_at_ms = state.warm_start_at;
    status.prewarmed_unused = state.prewarmed_unused;
    switch (state.residency) {
        case WARMUP_RESIDENCY_QUEUED:
            status.since_ms = state.queued_at_ms;
            status.cause = cause_of(state);
            break;
        case WARMUP_RESIDENCY_LOADING:
            status.since_ms = state.loading_since_ms;
            status.cause = state.waiting.empty() ? state.loaded_for : LoadCause::Demand;
            break;
        case WARMUP_RESIDENCY_READY:
            status.since_ms = state.ready_since_ms;
            status.cause = state.loaded_for;
            break;
        case WARMUP_RESIDENCY_ABSENT:
            break;
    }
    return status;
}

std::optional<std::string> WarmupEngine::predict_now(warmup_model_index model, warmup_time_ms now_ms,
                                                     warmup_prediction& out) {
    warmup_usage_pattern pattern = sized<warmup_usage_pattern>();
    out = empty_prediction(model);
    // A reader's question, not a decision: a failure is answered, not counted towards the breaker (a dashboard
    // polling this must not open the circuit of the plugin that decides), and an open circuit is not called.
    const auto ask = [&](ComponentKind kind, const char* what, auto&& call) -> std::optional<std::string> {
        const CircuitStatus& circuit = circuits_[static_cast<std::size_t>(kind)];
        if (circuit.state == CircuitState::Open)
            return fmt::format("{} {}: its circuit is open (the built-in fallback decides); last error: {}",
                               component_kind_name(kind), component_label(kind), circuit.last_error);
        if (options_.call_watch != nullptr)
            options_.call_watch->begin(component_kind_name(kind), component_label(kind), what);
        ErrorPtr error;
        {
            const auto in_call = marked(kind, what);
            error.reset(call());
        }
        if (options_.call_watch != nullptr) options_.call_watch->end();
        if (!error) return std::nullopt;
        return fmt::format("{} {}: {}: {}: {}", component_kind_name(kind), component_label(kind), what,
                           status_name(error->code), error->message);
    };
    if (auto failed = ask(ComponentKind::Analyzer, "get_pattern", [&] {
            return components_.analyzer.vtable->get_pattern(components_.analyzer.self, model, &pattern);
        }))
        return failed;
    return ask(ComponentKind::Predictor, "predict", [&] {
        return checked_prediction(
            components_.predictor.vtable->predict(components_.predictor.self, now_ms, &pattern, &out), out);
    });
}

}  // namespace warmup::host
