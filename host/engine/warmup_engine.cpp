// engine/warmup_engine.cpp — the discrete-event warm-up engine (see warmup_engine.hpp for the rules it implements).
// Single-threaded: every method runs on its owner's control thread. Times are ms on the owner's clock; memory MiB.
// Shared by the live daemon and the replay: a change here must leave replay results byte-identical (the replay
// only feeds time-ordered requests: on_history, replan_all and budget changes are live-only paths).
#include "engine/warmup_engine.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <unordered_map>
#include <utility>
#include <warmup/sdk/model_table.hpp>

#include "core/errors.hpp"

namespace warmup::host {
namespace {

constexpr warmup_time_ms kNever = WARMUP_TIME_NEVER;
/// The most followers one plan may name (warmup_prediction.replan_count beyond it is cut): bounds the work one request
/// can cause.
constexpr uint32_t kMaxSuccessions = 16;

template <class T>
T sized() {
    T value{};
    value.struct_size = sizeof(T);
    return value;
}

// Who decided, for the decisions the engine's own rules make (decided_by of a Decision).
const std::string& by_engine() {
    static const std::string label = "engine";
    return label;
}
const std::string& by_builtin_keep_alive() {
    static const std::string label = "built-in keep-alive";
    return label;
}
const std::string& by_builtin_oldest_idle() {
    static const std::string label = "built-in oldest-idle eviction";
    return label;
}

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

// The cause of a queued or starting load (ModelSlot is private to the engine; deduced here).
template <class ModelSlot>
LoadCause cause_of(const ModelSlot& state) {
    if (state.reason == LoadReason::Demand || !state.waiting.empty()) return LoadCause::Demand;
    return state.operator_prewarm ? LoadCause::Restore : LoadCause::Prewarm;
}

}  // namespace

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

double WarmupEngine::resource_budget_mb(double configured_mb) const {
    const auto in_call = marked(ComponentKind::Resource, "effective_budget_mb");
    const double effective_mb =
        components_.resource.vtable->effective_budget_mb(components_.resource.self, configured_mb);
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
        spdlog::error("PLUGIN_CALL_ERROR {} {}", label, per_component.last_error);
    else if (per_component.errors == options_.logged_failures_per_component + 1)
        spdlog::error(
            "PLUGIN_CALL_ERROR {} failed {} calls; its further failures are counted (plugin_errors), not "
            "logged one by one",
            label, per_component.errors);
    return per_component.last_error;
}

const std::string& WarmupEngine::component_label(ComponentKind kind) const noexcept {
    switch (kind) {
        case ComponentKind::Analyzer:
            return components_.analyzer.label;
        case ComponentKind::Predictor:
            return components_.predictor.label;
        case ComponentKind::Performance:
            return components_.performance.label;
        case ComponentKind::Scheduler:
            return components_.scheduler.label;
        case ComponentKind::Resource:
            return components_.resource.label;
        case ComponentKind::Queue:
            return components_.queue.label;
        case ComponentKind::Metrics:
            break;
    }
    return components_.metrics.label;
}

const char* component_kind_name(ComponentKind kind) noexcept {
    switch (kind) {
        case ComponentKind::Analyzer:
            return "analyzer";
        case ComponentKind::Predictor:
            return "predictor";
        case ComponentKind::Performance:
            return "performance";
        case ComponentKind::Scheduler:
            return "scheduler";
        case ComponentKind::Resource:
            return "resource";
        case ComponentKind::Queue:
            return "queue";
        case ComponentKind::Metrics:
            break;
    }
    return "metrics";
}

CircuitState WarmupEngine::circuit_state(ComponentKind kind) const noexcept {
    const CircuitStatus& circuit = circuits_[static_cast<std::size_t>(kind)];
    if (circuit.state == CircuitState::Open && now_ms_ - circuit.opened_at_ms >= options_.breaker_cooldown_ms)
        return CircuitState::HalfOpen;
    return circuit.state;
}

bool WarmupEngine::circuit_allows(ComponentKind kind) {
    CircuitStatus& circuit = circuits_[static_cast<std::size_t>(kind)];
    if (circuit.state == CircuitState::Closed) return true;
    if (circuit_state(kind) == CircuitState::Open) return false;
    // Past the cool-down: this call is the trial. The engine is single-threaded, so its outcome is recorded before
    // any other call of this component can start.
    circuit.state = CircuitState::HalfOpen;
    return true;
}

void WarmupEngine::circuit_succeeded(ComponentKind kind, const char* what) {
    CircuitStatus& circuit = circuits_[static_cast<std::size_t>(kind)];
    // The common case: no call of this component is failing (an open circuit always follows a failure).
    if (circuit.consecutive_failures == 0 && circuit.state == CircuitState::Closed) return;
    std::erase_if(circuit.failing_calls, [what](const auto& call) { return std::string_view(call.first) == what; });
    circuit.consecutive_failures = 0;
    for (const auto& call : circuit.failing_calls)
        circuit.consecutive_failures = std::max(circuit.consecutive_failures, call.second);
    if (circuit.state == CircuitState::Closed) return;
    circuit.state = CircuitState::Closed;
    spdlog::warn("PLUGIN_CIRCUIT_CLOSED {} answered the trial call ({}); calls resume", component_label(kind), what);
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
            "PLUGIN_CIRCUIT_OPEN {} after {} failed {} call(s) in a row{}: {} (built-in safe choice for {} ms)",
            component_label(kind), call->second, what, trial_failed ? " (trial call failed)" : "", error,
            options_.breaker_cooldown_ms);
    if (kind == ComponentKind::Queue) move_queue_plugin_items_to_fallback();
}

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

WarmupEngine::ModelSlot& WarmupEngine::slot(warmup_model_index model) {
    if (model >= models_.size()) {
        const std::size_t old_size = models_.size();
        // Not std::vector's doubling (amortised O(1) per new model all the same, warmup/sdk/model_table.hpp): at 10 k
        // models doubling left up to 6 k unused slots of ~250 bytes.
        models_.reserve(warmup::sdk::grown_model_capacity(models_.capacity(), std::size_t{model} + 1, catalog_.size()));
        models_.resize(model + 1);
        for (std::size_t i = old_size; i < models_.size(); ++i) {
            const ModelRecord& record = catalog_.record(static_cast<warmup_model_index>(i));
            models_[i].catalog_load_ms = record.load_ms;
            models_[i].priority_class = record.priority;
        }
    }
    return models_[model];
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
            {
                const auto in_call = marked(ComponentKind::Resource, "on_used");
                components_.resource.vtable->on_used(components_.resource.self, event.model, now_ms);
            }
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
// Planning

namespace {

/// Why a prediction cannot be used (the numbers the scheduler and the status read), or nullopt: probabilities must be
/// finite in [0, 1] and the horizon not negative. Times need no check: any value has a meaning (<= now: at once).
std::optional<std::string> prediction_problem(const warmup_prediction& prediction) {
    const auto probability = [](double value) { return std::isfinite(value) && value >= 0 && value <= 1; };
    if (!probability(prediction.p_use_within_horizon))
        return fmt::format("returned p_use_within_horizon {} (expected 0..1)", prediction.p_use_within_horizon);
    if (!probability(prediction.confidence))
        return fmt::format("returned confidence {} (expected 0..1)", prediction.confidence);
    if (prediction.horizon_ms < 0) return fmt::format("returned horizon_ms {} (expected >= 0)", prediction.horizon_ms);
    return std::nullopt;
}

/// `error`, or when there is none and `prediction` cannot be used, an INVALID_ARGUMENT error saying why.
warmup_error* checked_prediction(warmup_error* error, const warmup_prediction& prediction) {
    if (error != nullptr) return error;
    if (const auto problem = prediction_problem(prediction)) return make_error(WARMUP_ERROR_INVALID_ARGUMENT, *problem);
    return nullptr;
}

}  // namespace

void WarmupEngine::plan(warmup_model_index model, warmup_plan_trigger trigger, warmup_time_ms now_ms) {
    ModelSlot& state = slot(model);
    warmup_usage_pattern pattern = sized<warmup_usage_pattern>();
    warmup_prediction prediction = sized<warmup_prediction>();
    warmup_performance_estimate estimate = sized<warmup_performance_estimate>();
    warmup_plan decision = sized<warmup_plan>();
    prediction.model = estimate.model = decision.model = model;
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
    timers_.set(model, due);
}

void WarmupEngine::run_timers(warmup_time_ms now_ms) {
    advance(now_ms);
    while (!timers_.empty() && timers_.next_due_ms() <= now_ms) {
        const warmup_model_index model = timers_.next_model();
        timers_.set(model, kNever);
        ModelSlot& state = models_[model];
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

// ---------------------------------------------------------------------------------------------------------------
// Loads

bool WarmupEngine::estimate(warmup_model_index model, warmup_performance_estimate& out) {
    return guarded(ComponentKind::Performance, "estimate", [&]() -> warmup_error* {
        if (warmup_error* error = components_.performance.vtable->estimate(components_.performance.self, model, &out))
            return error;
        // A NaN, infinite or negative figure is garbage: trusting it would charge the budget nonsense (an infinite
        // need would block every demand load behind it) or mislead the scheduler. It fails the call like an error.
        if (std::isfinite(out.memory_mb) && out.memory_mb >= 0 && std::isfinite(out.load_ms) && out.load_ms >= 0)
            return nullptr;
        return make_error(WARMUP_ERROR_INVALID_ARGUMENT, fmt::format("memory_mb {} load_ms {} for {}", out.memory_mb,
                                                                     out.load_ms, catalog_.record(model).name));
    });
}

double WarmupEngine::estimate_memory_mb(warmup_model_index model, double* load_ms) {
    warmup_performance_estimate estimate = sized<warmup_performance_estimate>();
    estimate.model = model;
    const ModelRecord& record = catalog_.record(model);
    // 0 MiB means "no estimate": the catalog's figures are used, as they are after a failed call.
    if (this->estimate(model, estimate) && estimate.memory_mb > 0) {
        if (load_ms != nullptr) *load_ms = estimate.load_ms;
        return estimate.memory_mb;
    }
    if (load_ms != nullptr) *load_ms = record.load_ms;
    return record.memory_mb;
}

void WarmupEngine::enqueue_again(warmup_model_index model, LoadReason reason, bool restoring, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    const bool handed_over = state.restore_handed_over;
    enqueue_load(model, reason, now_ms);
    if (restoring && state.residency == WARMUP_RESIDENCY_QUEUED) {
        state.operator_prewarm = true;
        state.restore_handed_over = handed_over;
    }
}

void WarmupEngine::enqueue_load(warmup_model_index model, LoadReason reason, warmup_time_ms now_ms) {
    ModelSlot& state = slot(model);
    if (state.residency != WARMUP_RESIDENCY_ABSENT) return;
    state.retry_at = kNever;            // this load supersedes a pending retry (a pre-warm or a request came first)
    state.operator_prewarm = false;     // request_prewarm sets it again for its own
    state.restore_handed_over = false;  // so does a hand-over's restore (request_prewarm, resume, its retries)
    double load_ms = 0;
    state.need_mb = estimate_memory_mb(model, &load_ms);
    state.reason = reason;
    set_residency(state, WARMUP_RESIDENCY_QUEUED);
    state.queued_in = QueuedIn::Nowhere;
    // Demand loads are class 0 (a request is waiting); pre-warms and retries use the plan's class, at least 1.
    state.queued_class = reason == LoadReason::Demand ? 0 : std::max<uint32_t>(1, state.priority_class);
    state.queued_at_ms = now_ms;

    // A full queue (RESOURCE_EXHAUSTED) is the policy's normal refusal: a demand load then goes to the built-in queue
    // (a waiting request is never dropped) and a pre-warm is skipped. A failed push or an open circuit sends either
    // kind to the built-in strict-priority queue (the queue component's fallback).
    const CallOutcome pushed = push_to_queue_plugin(model, load_ms);
    if (pushed == CallOutcome::Ok && !circuit_open(ComponentKind::Queue)) {
        state.queued_in = QueuedIn::Plugin;
        ++queued_in_plugin_;
        if (reason == LoadReason::Demand) {
            oldest_demand_in_plugin();  // drops the entries at the front the plugin no longer holds
            demand_in_plugin_.emplace_back(model, now_ms);
        }
    } else if (pushed == CallOutcome::Tolerated && reason != LoadReason::Demand) {
        ++counters_.queue_rejections;
        metric(WARMUP_METRIC_QUEUE_REJECTED, model, now_ms, 1);
        set_residency(state, WARMUP_RESIDENCY_ABSENT);
        ++counters_.prewarms_skipped;
        metric(WARMUP_METRIC_PREWARM_SKIPPED, model, now_ms, 1);
        if (options_.decisions != nullptr) {
            Decision& skip = decision(DecisionKind::Skip, model, "pre-warm refused by the queue plugin (full)",
                                      components_.queue.label, now_ms);
            skip.need_mb = state.need_mb;
            options_.decisions->record(skip);
        }
        spdlog::debug("RESOURCE_ALLOCATION_FAILED pre-warm of {} refused by the queue: {}", catalog_.record(model).name,
                      tolerated_message_);
    } else {
        // Refused demand, failed push, open circuit, or a push slow enough to open the circuit (its item in the
        // plugin is then stale and skipped when popped).
        if (pushed == CallOutcome::Tolerated) ++counters_.queue_rejections;
        if (pushed == CallOutcome::Tolerated || pushed == CallOutcome::Failed)
            metric(WARMUP_METRIC_QUEUE_REJECTED, model, now_ms, 1);
        push_fallback(model);
    }
    metric(WARMUP_METRIC_QUEUE_DEPTH, WARMUP_NO_MODEL, now_ms, static_cast<double>(queue_depth()));
}

WarmupEngine::CallOutcome WarmupEngine::push_to_queue_plugin(warmup_model_index model, double load_ms) {
    const ModelSlot& state = models_[model];
    warmup_queue_item item{};
    item.model = model;
    item.reason = static_cast<uint32_t>(state.reason);
    item.attempt = state.attempt + 1;
    item.enqueued_ms = state.queued_at_ms;
    item.priority_class = state.queued_class;
    item.deadline_ms = state.reason == LoadReason::Demand ? state.queued_at_ms : state.warm_ready_by;
    item.cost = load_ms;
    return guarded_call(
        ComponentKind::Queue, "push", [&] { return components_.queue.vtable->push(components_.queue.self, &item); },
        WARMUP_ERROR_RESOURCE_EXHAUSTED);
}

void WarmupEngine::hand_back_set_aside(warmup_time_ms now_ms) {
    const std::vector<warmup_model_index> models = std::exchange(set_aside_, {});
    for (const warmup_model_index model : models) {
        ModelSlot& state = models_[model];
        // Started, cancelled, or a demand load now (a request came for it): not a set-aside item any more.
        if (state.queued_in != QueuedIn::Fallback || state.residency != WARMUP_RESIDENCY_QUEUED ||
            state.in_memory_fifo || state.reason == LoadReason::Demand || !state.waiting.empty())
            continue;
        if (circuit_open(ComponentKind::Queue)) return;  // the rest wait in the built-in queue, as the circuit says
        fallback_queue_.erase(state.fallback_key);
        state.queued_in = QueuedIn::Nowhere;
        double load_ms = 0;
        estimate_memory_mb(model, &load_ms);
        if (push_to_queue_plugin(model, load_ms) == CallOutcome::Ok && !circuit_open(ComponentKind::Queue)) {
            state.queued_in = QueuedIn::Plugin;
            ++queued_in_plugin_;
        } else {
            push_fallback(model);  // refused (full) or failed: it waits in the built-in queue, as before
        }
    }
    metric(WARMUP_METRIC_QUEUE_DEPTH, WARMUP_NO_MODEL, now_ms, static_cast<double>(queue_depth()));
}

std::optional<warmup_time_ms> WarmupEngine::oldest_demand_in_plugin() {
    if (queued_in_plugin_ == 0) demand_in_plugin_.clear();  // the plugin holds nothing of ours: every entry is stale
    while (!demand_in_plugin_.empty()) {
        const auto [model, queued_at_ms] = demand_in_plugin_.front();
        const ModelSlot& state = models_[model];
        if (state.queued_in == QueuedIn::Plugin && state.reason == LoadReason::Demand &&
            state.queued_at_ms == queued_at_ms)
            return queued_at_ms;
        demand_in_plugin_.pop_front();  // served, cancelled or moved to the built-in queue since
    }
    return std::nullopt;
}

void WarmupEngine::push_fallback(warmup_model_index model) {
    ModelSlot& state = models_[model];
    state.fallback_key = fallback_queue_.push(model, state.queued_class, state.queued_at_ms);
    state.queued_in = QueuedIn::Fallback;
}

void WarmupEngine::unqueue(warmup_model_index model) {
    ModelSlot& state = models_[model];
    if (state.queued_in == QueuedIn::Plugin) {
        // With the circuit open the plugin is not called: its item turns stale (skipped if popped, removed once the
        // circuit has closed again).
        if (circuit_open(ComponentKind::Queue)) {
            stale_plugin_items_.push_back(model);
        } else {
            const auto in_call = marked(ComponentKind::Queue, "remove_model");
            components_.queue.vtable->remove_model(components_.queue.self, model);
        }
        --queued_in_plugin_;
    } else if (state.queued_in == QueuedIn::Fallback) {
        fallback_queue_.erase(state.fallback_key);
    }
    state.queued_in = QueuedIn::Nowhere;
}

void WarmupEngine::move_queue_plugin_items_to_fallback() {
    if (queued_in_plugin_ == 0) return;
    std::size_t moved = 0;
    for (warmup_model_index model = 0; model < models_.size(); ++model) {
        if (models_[model].queued_in != QueuedIn::Plugin) continue;
        push_fallback(model);
        stale_plugin_items_.push_back(model);  // the plugin's copy: removed from it once its circuit has closed
        ++moved;
    }
    queued_in_plugin_ = 0;
    spdlog::warn("QUEUE_FALLBACK {} queued warm-ups moved from {} to the built-in strict-priority queue", moved,
                 components_.queue.label);
}

void WarmupEngine::remove_stale_plugin_items() {
    // Only once the circuit is really closed (a successful trial): until then the plugin is not called. A model queued
    // in the plugin again since keeps its new item (its old one, if still there, is skipped when popped).
    if (stale_plugin_items_.empty() ||
        circuits_[static_cast<std::size_t>(ComponentKind::Queue)].state != CircuitState::Closed)
        return;
    const auto in_call = marked(ComponentKind::Queue, "remove_model");
    for (const warmup_model_index model : stale_plugin_items_)
        if (models_[model].queued_in != QueuedIn::Plugin)
            components_.queue.vtable->remove_model(components_.queue.self, model);
    stale_plugin_items_.clear();
}

void WarmupEngine::dispatch(warmup_time_ms now_ms) {
    if (loads_held_) return;  // release_loads() dispatches
    // 1. Demand loads waiting for memory, strictly first come, first served (head-of-line blocking is the rule).
    while (!memory_fifo_.empty() && in_flight_ < options_.max_concurrent_loads) {
        const warmup_model_index model = memory_fifo_.front();
        ModelSlot& state = models_[model];
        if (const char* blocked = blocked_by_timed_out_unloads(model, state.need_mb)) {
            // It would wait for a backend call that may never return: out of the FIFO, so the loads behind it go on.
            memory_fifo_.pop_front();
            state.in_memory_fifo = false;
            if (state.reason == LoadReason::Demand || !state.waiting.empty())
                give_up_blocked(model, blocked, now_ms);
            else
                skip_prewarm(model, blocked, by_engine(), now_ms);
            continue;
        }
        if (state.reason != LoadReason::Demand && state.waiting.empty()) {
            // A pre-warm waits only for the memory already being unloaded when it came: it evicts nothing more.
            if (make_room(model, state.need_mb, /*may_evict=*/false, now_ms)) {
                memory_fifo_.pop_front();
                state.in_memory_fifo = false;
                start_load(model, now_ms);
                continue;
            }
            if (waits_for_unloads(model, state.need_mb)) break;
            skip_waiting_prewarms("pre-warm no longer fits: the memory it waited for went to other loads", now_ms);
            continue;
        }
        if (state.need_mb > budget_mb_ + 1e-9) {
            // The budget shrank under it (reload, reset-to-safe): it can never fit, and waiting would block the rest.
            memory_fifo_.pop_front();
            state.in_memory_fifo = false;
            give_up_oversized(model, now_ms);
            continue;
        }
        if (!make_room(model, state.need_mb, true, now_ms)) break;
        memory_fifo_.pop_front();
        state.in_memory_fifo = false;
        start_load(model, now_ms);
    }
    // 2. The built-in queue's demand loads (class 0: refused by the full queue plugin, or taken from it when its
    //    circuit opened) once they are older than every demand load the plugin holds (a burst of requests larger than
    //    the plugin's capacity is served first come, first served, not its overflow first), then the queue plugin's
    //    order while its circuit is closed, then the rest of the built-in queue (pre-warms and retries it took over),
    //    so a speculative load never goes before a waiting request.
    remove_stale_plugin_items();
    while (in_flight_ < options_.max_concurrent_loads) {
        warmup_model_index model = WARMUP_NO_MODEL;
        std::optional<StrictPriorityQueue::Key> builtin = fallback_queue_.front();
        if (!set_aside_.empty() && !(builtin && builtin->priority_class == 0) && !circuit_open(ComponentKind::Queue)) {
            hand_back_set_aside(now_ms);  // no request waits in the built-in queue any more
            builtin = fallback_queue_.front();
        }
        const bool plugin_usable = !circuit_open(ComponentKind::Queue) && queued_in_plugin_ > 0;
        const auto builtin_demand_first = [&] {
            if (builtin->priority_class != 0) return false;
            const std::optional<warmup_time_ms> plugin_oldest = oldest_demand_in_plugin();
            return !plugin_oldest || builtin->enqueued_ms < *plugin_oldest;
        };
        if (builtin && (!plugin_usable || builtin_demand_first())) {
            model = *fallback_queue_.pop();
            models_[model].queued_in = QueuedIn::Nowhere;
        } else {
            warmup_queue_item item{};
            if (!plugin_usable) break;
            const auto popped = [&] {
                const auto in_call = marked(ComponentKind::Queue, "pop");
                return components_.queue.vtable->pop(components_.queue.self, now_ms, &item);
            }();
            if (popped == 0) {
                // Empty while it should hold warm-ups: the plugin lost items. Waiting would not bring them back (a
                // broken contract, not a passing error), so the circuit opens at once and the lost warm-ups move to
                // the built-in queue, which this loop serves next.
                circuit_failed(ComponentKind::Queue, "pop",
                               record_failure(components_.queue.label,
                                              fmt::format("pop: INTERNAL: the queue is empty but holds {} warm-ups",
                                                          queued_in_plugin_)),
                               /*trip_now=*/true);
                continue;
            }
            model = item.model;
            if (model >= models_.size()) {
                // A model index the host never pushed: the item it stands for is lost in the plugin, a broken
                // contract like an empty pop, so the circuit opens at once and the queued warm-ups move to the
                // built-in queue.
                circuit_failed(ComponentKind::Queue, "pop",
                               record_failure(components_.queue.label,
                                              fmt::format("pop: INVALID_ARGUMENT: gave model index {}, which the host "
                                                          "never pushed (the catalog has {} models)",
                                                          model, catalog_.size())),
                               /*trip_now=*/true);
                continue;
            }
            // An item of a model the plugin no longer holds for us (cancelled, or moved to the built-in queue while
            // the circuit was open) is stale.
            if (models_[model].queued_in != QueuedIn::Plugin) continue;
            models_[model].queued_in = QueuedIn::Nowhere;
            --queued_in_plugin_;
            // The plugin was asked for its older demand loads, and gave a speculative load (WeightedFair interleaves
            // the classes): it waits in the built-in queue, behind every request, so that a pre-warm never goes before
            // a waiting request.
            if (builtin && builtin->priority_class == 0 && models_[model].residency == WARMUP_RESIDENCY_QUEUED &&
                !models_[model].in_memory_fifo && models_[model].reason != LoadReason::Demand &&
                models_[model].waiting.empty()) {
                push_fallback(model);
                set_aside_.push_back(model);
                continue;
            }
        }
        ModelSlot& state = models_[model];
        if (state.residency != WARMUP_RESIDENCY_QUEUED || state.in_memory_fifo) continue;  // stale item
        const bool is_demand = state.reason == LoadReason::Demand || !state.waiting.empty();
        if (!is_demand && (stopped_ || !memory_fifo_.empty())) {
            // Emergency stop, or demand loads are waiting for memory: a pre-warm must not take memory before them. A
            // restore of the warm set the stop cancels (a failed one's retry, queued by its timer) waits for resume.
            if (stopped_ && state.operator_prewarm) keep_restore_for_resume(model);
            set_residency(state, WARMUP_RESIDENCY_ABSENT);
            ++counters_.prewarms_skipped;
            metric(WARMUP_METRIC_PREWARM_SKIPPED, model, now_ms, 1);
            if (options_.decisions != nullptr) {
                Decision& skip = decision(DecisionKind::Skip, model,
                                          stopped_ ? "pre-warm cancelled by an emergency stop"
                                                   : "pre-warm held back: loads are waiting for memory",
                                          by_engine(), now_ms);
                skip.need_mb = state.need_mb;
                options_.decisions->record(skip);
            }
            refresh_timer(model);
            continue;
        }
        try_start(model, is_demand, now_ms);
    }
    metric(WARMUP_METRIC_RESIDENT_MB, WARMUP_NO_MODEL, now_ms, used_mb_);
}

bool WarmupEngine::try_start(warmup_model_index model, bool is_demand, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    if (is_demand && state.need_mb > budget_mb_ + 1e-9) {
        // Larger than the whole budget: no eviction can make room, and in the memory FIFO it would block every demand
        // load behind it. (A pre-warm of it is skipped below, as make_room fails.)
        give_up_oversized(model, now_ms);
        return false;
    }
    if (const char* blocked = blocked_by_timed_out_unloads(model, state.need_mb)) {
        if (is_demand)
            give_up_blocked(model, blocked, now_ms);
        else
            skip_prewarm(model, blocked, by_engine(), now_ms);
        return false;
    }
    warmup_admission_request request = sized<warmup_admission_request>();
    request.now_ms = now_ms;
    request.model = model;
    request.memory_mb = state.need_mb;
    request.used_mb =
        used_mb_ - freeing_mb();  // ready and loading models (as documented); unloads under way are freeing
    request.budget_mb = budget_mb_;
    request.is_demand = is_demand ? 1 : 0;
    warmup_admission admission = sized<warmup_admission>();
    admission.admit = 1;
    admission.may_evict = 1;
    if (!guarded(ComponentKind::Resource, "admit",
                 [&] { return components_.resource.vtable->admit(components_.resource.self, &request, &admission); })) {
        admission.admit = is_demand ? 1 : 0;  // safe choice: demand goes on, speculation stops
        admission.may_evict = 1;
        refusal_words_.clear();
    } else if (options_.decisions != nullptr) {
        // The plugin's own words for a refusal go with the decision it leads to (`warmupctl why` shows them).
        if (admission.admit == 0 && admission.reason.data != nullptr)
            refusal_words_.assign(admission.reason.data, std::min<std::size_t>(admission.reason.size, 4096));
        else
            refusal_words_.clear();
    }
    if (is_demand) {
        // A demand load is never refused outright (a request waits for it): the policy may only delay it. It may
        // always evict (may_evict binds pre-warms only): waiting for memory that only an eviction would free could
        // leave its requests waiting for ever.
        if (admission.admit != 0 && make_room(model, state.need_mb, /*may_evict=*/true, now_ms)) {
            start_load(model, now_ms);
            return true;
        }
        // A waiting request goes before any speculative load: a pre-warm waiting for unloads gives way.
        skip_waiting_prewarms("pre-warm gave way to a demand load waiting for memory", now_ms);
        wait_for_memory(model, /*is_demand=*/true, admission.admit != 0, now_ms);
        return false;
    }
    if (admission.admit != 0 && make_room(model, state.need_mb, admission.may_evict != 0, now_ms)) {
        start_load(model, now_ms);
        return true;
    }
    if (admission.admit != 0 && waits_for_unloads(model, state.need_mb)) {
        // Its room is being freed (by its own evictions, or by unloads already running): it waits for the unloads,
        // alone in the memory FIFO (no pre-warm is taken while loads wait for memory).
        wait_for_memory(model, /*is_demand=*/false, true, now_ms);
        return false;
    }
    const char* reason = admission.admit == 0       ? "pre-warm refused by the resource plugin"
                         : admission.may_evict == 0 ? "pre-warm does not fit and the resource plugin allows no eviction"
                                                    : "pre-warm does not fit in the budget, even after evictions";
    skip_prewarm(model, reason, components_.resource.label, now_ms,
                 admission.admit == 0 ? std::string_view(refusal_words_) : std::string_view());
    return false;
}

void WarmupEngine::skip_prewarm(warmup_model_index model, const char* reason, const std::string& decided_by,
                                warmup_time_ms now_ms, std::string_view plugin_says) {
    ModelSlot& state = models_[model];
    set_residency(state, WARMUP_RESIDENCY_ABSENT);
    ++counters_.prewarms_skipped;
    metric(WARMUP_METRIC_PREWARM_SKIPPED, model, now_ms, 1);
    if (options_.decisions != nullptr) {
        Decision& skip = decision(DecisionKind::Skip, model, reason, decided_by, now_ms);
        skip.need_mb = state.need_mb;
        skip.plugin_says = plugin_says;
        options_.decisions->record(skip);
    }
    refresh_timer(model);
}

bool WarmupEngine::make_room(warmup_model_index model, double need_mb, bool may_evict, warmup_time_ms now_ms) {
    const double takes_over_mb = own_failed_unloads_mb(model);
    if (takes_over_mb < 0) return false;  // its own unload is running
    if (used_mb_ - takes_over_mb + need_mb <= budget_mb_ + 1e-9) return true;
    if (!may_evict) return false;
    // Evicting every ready model would not be enough, even once every unload under way is over (loading models cannot
    // be evicted, timed-out unloads are not counted on): evict nothing. (unloading_mb_ is exactly 0 with an executor
    // that does not confirm unloads.)
    if (used_mb_ - ready_mb_ - freeing_mb() + need_mb > budget_mb_ + 1e-9) return false;
    evict_until_fits(model, need_mb, now_ms);
    return used_mb_ - takes_over_mb + need_mb <= budget_mb_ + 1e-9;
}

double WarmupEngine::own_failed_unloads_mb(warmup_model_index model) const noexcept {
    if (models_[model].pending_unloads == 0) return 0;
    double failed_mb = 0;
    for (const PendingUnload& unload : pending_unloads_) {
        if (unload.model != model) continue;
        // A load must not overtake a running unload of the same model: the backend could carry them out in either
        // order.
        if (!unload.failed) return -1;
        failed_mb += unload.memory_mb;
    }
    return failed_mb;
}

bool WarmupEngine::waits_for_unloads(warmup_model_index model, double need_mb) const noexcept {
    if (pending_unloads_.empty()) return false;
    if (blocked_by_timed_out_unloads(model, need_mb) != nullptr) return false;  // nothing it could wait for in time
    if (own_failed_unloads_mb(model) < 0) return true;  // its own unload runs: it waits whatever the memory
    return used_mb_ - freeing_mb() + need_mb <= budget_mb_ + 1e-9;
}

const char* WarmupEngine::blocked_by_timed_out_unloads(warmup_model_index model, double need_mb) const noexcept {
    if (overdue_mb_ <= 0) return nullptr;
    if (models_[model].pending_unloads != 0)
        for (const PendingUnload& unload : pending_unloads_)
            if (unload.model == model && unload.timed_out)
                return "its own unload has not returned past its deadline (the server may still be unloading it)";
    // Everything else charged comes free in time (ready models by eviction, loads when they finish, failed unloads at
    // the next listing); the timed-out unloads only if their calls return.
    if (need_mb <= budget_mb_ + 1e-9 && need_mb + overdue_mb_ > budget_mb_ + 1e-9)
        return "memory held by unloads past their deadline leaves too little of the budget until they return";
    return nullptr;
}

void WarmupEngine::give_up_blocked(warmup_model_index model, const char* why, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    set_residency(state, WARMUP_RESIDENCY_ABSENT);
    ++counters_.loads_given_up;
    if (options_.decisions != nullptr) {
        Decision& give_up = decision(DecisionKind::GiveUp, model, why, by_engine(), now_ms);
        give_up.need_mb = state.need_mb;
        options_.decisions->record(give_up);
    }
    metric(WARMUP_METRIC_WARMUP_FAILED, model, now_ms, 1);
    if (uint64_t left_out = 0; blocked_load_log_.admit(now_ms, left_out))
        spdlog::error(
            "LOAD_BLOCKED_BY_UNLOAD demand load of {} ({:.0f} MiB) given up, its requests fail: {} ({:.0f} of "
            "{:.0f} MiB held by unloads past their deadline; a later request tries again){}",
            catalog_.record(model).name, state.need_mb, why, overdue_mb_, budget_mb_, left_out_note(left_out));
    fail_waiters(state);
    refresh_timer(model);
}

bool WarmupEngine::evict_until_fits(warmup_model_index model, double need_mb, warmup_time_ms now_ms,
                                    const char* reason) {
    std::size_t guard = models_.size() + 1;
    // Memory being unloaded is counted as freed (it will be, without another eviction): the evictions stop once the
    // load fits after the unloads, and the load waits for them. Not so the memory of timed-out unloads: their calls
    // may never return, so other models are evicted in their place.
    while (used_mb_ - freeing_mb() + need_mb > budget_mb_ + 1e-9 && guard-- > 0) {
        warmup_model_index victim = WARMUP_NO_MODEL;
        bool by_plugin = false;
        if (!circuit_open(ComponentKind::Resource)) {
            // A victim that is not a ready model is the plugin's error (its books are off): a failed call, counted
            // once and fed to the breaker like any other, and the plugin is told to forget that model.
            bool named_unready = false;
            const CallOutcome picked = guarded_call(
                ComponentKind::Resource, "pick_victim",
                [&]() -> warmup_error* {
                    warmup_error* error =
                        components_.resource.vtable->pick_victim(components_.resource.self, now_ms, &victim);
                    if (error != nullptr) return error;
                    named_unready = victim == model || victim >= models_.size() ||
                                    models_[victim].residency != WARMUP_RESIDENCY_READY;
                    if (!named_unready) return nullptr;
                    return make_error(WARMUP_ERROR_INVALID_ARGUMENT,
                                      fmt::format("named model {}, which is not a ready model", victim));
                },
                WARMUP_ERROR_NOT_FOUND);
            if (picked == CallOutcome::Tolerated) return false;  // the policy has nothing evictable: the load waits
            by_plugin = picked == CallOutcome::Ok;
            if (named_unready && victim != model && victim < models_.size()) {
                const auto in_call = marked(ComponentKind::Resource, "on_removed");
                components_.resource.vtable->on_removed(components_.resource.self, victim, now_ms);
            }
        }
        if (!by_plugin) {
            // The built-in choice while the circuit is open, and the documented fallback of a failed call: the ready
            // model idle the longest (O(models) per victim), so that a load (a demand load's requests wait on it) is
            // not left waiting for an event that may never come.
            victim = oldest_ready_model(model);
            if (victim == WARMUP_NO_MODEL) return false;
        }
        record_eviction(victim, model, need_mb, by_plugin ? components_.resource.label : by_builtin_oldest_idle(),
                        now_ms, reason);
        remove_from_memory(victim, /*eviction=*/true, now_ms);
    }
    return used_mb_ + need_mb <= budget_mb_ + 1e-9;
}

void WarmupEngine::record_eviction(warmup_model_index victim, warmup_model_index for_model, double need_mb,
                                   const std::string& decided_by, warmup_time_ms now_ms, const char* reason) {
    if (options_.decisions == nullptr) return;
    if (reason == nullptr)
        reason = for_model == WARMUP_NO_MODEL ? "evicted: the memory budget shrank below what is loaded"
                                              : "evicted to make room for another model's load";
    Decision& evict = decision(DecisionKind::Evict, victim, reason, decided_by, now_ms);
    evict.for_model = for_model;
    evict.need_mb = need_mb;
    options_.decisions->record(evict);
}

void WarmupEngine::start_load(warmup_model_index model, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    // Failed unloads of this model (make_room let no running one through): the server may still hold it, and this
    // load's charge takes their place.
    for (std::size_t i = 0; state.pending_unloads != 0 && i < pending_unloads_.size();) {
        if (pending_unloads_[i].model == model) {
            release_unload(i, now_ms);
        } else {
            ++i;
        }
    }
    set_residency(state, WARMUP_RESIDENCY_LOADING);
    charge(state, state.need_mb, now_ms);
    ++in_flight_;
    ++state.ticket;
    state.loading_since_ms = now_ms;
    state.loaded_for = cause_of(state);
    if (state.reason == LoadReason::Demand || !state.waiting.empty()) {
        ++counters_.demand_loads;
    } else {
        ++counters_.prewarms_started;
        if (options_.decisions != nullptr) {
            const bool retry = state.reason == LoadReason::Retry;
            const char* reason = retry ? "retry of a failed pre-warm" : "pre-warm started: its planned time came";
            if (state.operator_prewarm)
                reason =
                    retry ? "retry of a failed restore of the warm set" : "pre-warm started: restore of the warm set";
            Decision& prewarm = decision(DecisionKind::Prewarm, model, reason,
                                         state.operator_prewarm ? by_engine() : plan_author(state), now_ms);
            prewarm.need_mb = state.need_mb;
            prewarm.used_mb -= state.charged_mb;  // before this load was charged
            options_.decisions->record(prewarm);
        }
    }
    state.operator_prewarm = false;  // it describes the queued load, which has started
    metric(WARMUP_METRIC_WARMUP_STARTED, model, now_ms, 1);
    executor_.start_load(model, state.ticket, now_ms);
}

// Long: a completion's cases (stale, failed with retry or give-up, succeeded) in the order the simulation rules give.
void WarmupEngine::on_load_finished(warmup_model_index model, uint64_t ticket, bool succeeded, double load_ms,
                                    double memory_mb, warmup_time_ms now_ms, bool permanent_failure) {
    if (model >= models_.size()) return;
    ModelSlot& state = models_[model];
    if (state.residency != WARMUP_RESIDENCY_LOADING || state.ticket != ticket) return;  // cancelled or stale
    advance(now_ms);
    --in_flight_;
    if (!std::isfinite(memory_mb) || memory_mb < 0) memory_mb = 0;  // unknown
    if (succeeded && memory_mb > budget_mb_) {
        // Taken for a backend's mistake: learned, it would make the model need more than the budget for good (its
        // requests would fail at every later load), and charged, it would evict every other model. The budget in
        // force, which a resource plugin may have lowered below the configured one.
        if (uint64_t left_out = 0; implausible_memory_log_.admit(now_ms, left_out))
            spdlog::warn(
                "LOAD_MEMORY_IMPLAUSIBLE the backend measured {} at {:.0f} MiB, more than the whole memory budget of "
                "{:.0f} MiB: the figure is ignored ({:.0f} MiB, its estimate, stays charged){}",
                catalog_.record(model).name, memory_mb, budget_mb_, state.charged_mb, left_out_note(left_out));
        memory_mb = 0;
    }

    warmup_load_observation observation = sized<warmup_load_observation>();
    observation.model = model;
    observation.finished_ms = now_ms;
    observation.load_ms = load_ms;
    observation.memory_mb = memory_mb;
    observation.succeeded = succeeded ? 1 : 0;
    guarded(ComponentKind::Performance, "observe_load",
            [&] { return components_.performance.vtable->observe_load(components_.performance.self, &observation); });

    if (!succeeded) {
        release_charge(state, now_ms);
        set_residency(state, WARMUP_RESIDENCY_ABSENT);
        ++counters_.loads_failed;
        metric(WARMUP_METRIC_WARMUP_FAILED, model, now_ms, 1);
        ++state.attempt;
        warmup_time_ms retry_at = kNever;
        if (!permanent_failure && !guarded(ComponentKind::Scheduler, "on_warmup_failed", [&] {
                return components_.scheduler.vtable->on_warmup_failed(components_.scheduler.self, model, state.attempt,
                                                                      now_ms, &retry_at);
            }))
            retry_at = kNever;
        // No sooner than kMinRetryDelayMs after the failure, whatever the scheduler asks: a server that fails at once
        // would otherwise be asked again in a loop as fast as the host can go.
        if (retry_at != kNever) retry_at = std::max(retry_at, now_ms + kMinRetryDelayMs);
        spdlog::warn("MODEL_LOAD_ERROR load of {} failed (attempt {}){}", catalog_.record(model).name, state.attempt,
                     retry_at == kNever ? ", giving up" : "");
        if (options_.decisions != nullptr) {
            Decision& after_failure =
                decision(retry_at == kNever ? DecisionKind::GiveUp : DecisionKind::Retry, model,
                         permanent_failure
                             ? "the load failed with an error no retry can fix (the backend does not have the model, "
                               "or refused its name): waiting requests fail"
                         : retry_at == kNever ? "the load failed and the scheduler gave up: waiting requests fail"
                                              : "the load failed; the scheduler planned another attempt",
                         components_.scheduler.label, now_ms);
            after_failure.until_ms = retry_at;
            after_failure.attempt = state.attempt;
            options_.decisions->record(after_failure);
        }
        if (retry_at == kNever) {
            ++counters_.loads_given_up;
            state.attempt = 0;
            state.restore_handed_over = false;
            fail_waiters(state);
        } else {
            state.retry_at = retry_at;
        }
        refresh_timer(model);
        dispatch(now_ms);
        return;
    }

    state.attempt = 0;
    if (memory_mb > 0 && memory_mb != state.charged_mb) {
        // The books hold what the server says the model holds, not the estimate admission planned with (a first load,
        // a catalog entry that is off). Larger, and over the budget then: ready models make room for the difference
        // first, while this one still counts as loading (never a victim), in the resource plugin's order.
        const double estimated_mb = state.charged_mb;
        const double more_mb = memory_mb - estimated_mb;
        if (more_mb > 0 && used_mb_ - freeing_mb() + more_mb > budget_mb_ + 1e-9) {
            const uint64_t evictions_before = counters_.evictions;
            evict_until_fits(model, more_mb, now_ms, "evicted: a model just loaded holds more than its estimate");
            spdlog::warn(
                "LOAD_LARGER_THAN_ESTIMATED {} holds {:.0f} MiB, {:.0f} MiB more than the {:.0f} MiB it was admitted "
                "with: {} ready model(s) evicted, {:.0f} of {:.0f} MiB in use",
                catalog_.record(model).name, memory_mb, more_mb, estimated_mb, counters_.evictions - evictions_before,
                used_mb_ + more_mb, budget_mb_);
        }
        recharge(state, memory_mb, now_ms);
    }
    const bool handed_over = std::exchange(state.restore_handed_over, false);
    set_residency(state, WARMUP_RESIDENCY_READY);
    state.ready_since_ms = now_ms;
    if (!state.waiting.empty()) state.loaded_for = LoadCause::Demand;  // a request waited for it: it was needed
    ready_mb_ += state.charged_mb;
    ++counters_.loads_succeeded;
    metric(WARMUP_METRIC_WARMUP_SUCCEEDED, model, now_ms, load_ms);
    {
        const auto in_call = marked(ComponentKind::Resource, "on_ready");
        components_.resource.vtable->on_ready(components_.resource.self, model, state.charged_mb, load_ms, now_ms);
    }

    if (serve_waiters(model, state, now_ms)) {  // before anything can evict it
        if (state.reason != LoadReason::Demand) {
            ++counters_.prewarms_used;  // the pre-warm was already under way when the request came
            metric(WARMUP_METRIC_PREWARM_USED, model, now_ms, 1);
        }
        state.last_use_ms = now_ms;
        {
            const auto in_call = marked(ComponentKind::Resource, "on_used");
            components_.resource.vtable->on_used(components_.resource.self, model, now_ms);
        }
        plan(model, WARMUP_TRIGGER_USED, now_ms);
        plan_followers_of(std::span(&model, 1), now_ms);
    } else if (handed_over && state.last_request_ms == kNever) {
        // Restored here from another arm's warm set: a plan from these books, which never saw it requested, would
        // unload it at once. Kept like a model adopted from another arm until its first request here plans it.
        state.prewarmed_unused = true;
        state.last_use_ms = kNever;
        state.loaded_for = LoadCause::Adopted;
        keep_for_builtin_keep_alive(model, now_ms,
                                    "restored from the warm set another arm held, never requested in these books; "
                                    "kept for the built-in keep-alive until a request plans it");
    } else {
        state.prewarmed_unused = state.reason != LoadReason::Demand;
        state.last_use_ms = kNever;
        plan(model, WARMUP_TRIGGER_WARMED, now_ms);
    }
    dispatch(now_ms);
}

bool WarmupEngine::serve_waiters(warmup_model_index model, ModelSlot& state, warmup_time_ms now_ms) {
    if (state.waiting.empty()) return false;
    for (const Waiting& waiting : state.waiting) {
        const double wait_ms = static_cast<double>(now_ms - waiting.ts_ms);
        cold_waits_ms_.add(wait_ms, waiting.count);
        metric(WARMUP_METRIC_COLD_WAIT_MS, model, now_ms, wait_ms);
    }
    state.waiting.clear();
    return true;
}

warmup_model_index WarmupEngine::oldest_ready_model(warmup_model_index except) const {
    warmup_model_index oldest = WARMUP_NO_MODEL;
    warmup_time_ms oldest_idle_since = kNever;
    for (warmup_model_index model = 0; model < models_.size(); ++model) {
        const ModelSlot& state = models_[model];
        if (model == except || state.residency != WARMUP_RESIDENCY_READY) continue;
        const warmup_time_ms idle_since =
            state.last_use_ms == kNever ? state.ready_since_ms : std::max(state.last_use_ms, state.ready_since_ms);
        if (oldest == WARMUP_NO_MODEL || idle_since < oldest_idle_since) {
            oldest = model;
            oldest_idle_since = idle_since;
        }
    }
    return oldest;
}

void WarmupEngine::give_up_oversized(warmup_model_index model, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    set_residency(state, WARMUP_RESIDENCY_ABSENT);
    ++counters_.loads_given_up;
    if (options_.decisions != nullptr) {
        Decision& give_up = decision(DecisionKind::GiveUp, model,
                                     "needs more memory than the whole budget: its requests fail", by_engine(), now_ms);
        give_up.need_mb = state.need_mb;
        options_.decisions->record(give_up);
    }
    metric(WARMUP_METRIC_WARMUP_FAILED, model, now_ms, 1);
    if (!state.oversize_logged) {  // once per model: every later request for it would say the same
        state.oversize_logged = true;
        spdlog::error(
            "MODEL_LOAD_ERROR {} needs {:.0f} MiB, more than the whole memory budget of {:.0f} MiB: its "
            "requests fail until the budget or its memory figure changes",
            catalog_.record(model).name, state.need_mb, budget_mb_);
    }
    fail_waiters(state);
    refresh_timer(model);
}

void WarmupEngine::fail_waiters(ModelSlot& state) {
    for (const Waiting& waiting : state.waiting) counters_.failed_requests += waiting.count;
    state.waiting.clear();
}

void WarmupEngine::remove_from_memory(warmup_model_index model, bool eviction, warmup_time_ms now_ms) {
    forget_resident(model, eviction ? Removal::Eviction : Removal::Unload, now_ms);
}

void WarmupEngine::forget_resident(warmup_model_index model, Removal removal, warmup_time_ms now_ms) {
    const bool eviction = removal == Removal::Eviction;
    ModelSlot& state = models_[model];
    // A pre-warm whose time came while the model was loaded is over, as run_timers would have found had its timer run
    // before this removal (timers due now run after events and completions).
    if (prewarm_passed_while_loaded(state, now_ms)) state.warm_start_at = kNever;
    // Idle memory-time: from the last use (or from readiness when never used) to now.
    const warmup_time_ms idle_since =
        state.last_use_ms == kNever ? state.ready_since_ms : std::max(state.last_use_ms, state.ready_since_ms);
    if (idle_since != kNever && now_ms > idle_since)
        counters_.idle_mb_ms += state.charged_mb * static_cast<double>(now_ms - idle_since);
    if (state.prewarmed_unused) {
        ++counters_.prewarms_wasted;
        metric(WARMUP_METRIC_PREWARM_WASTED, model, now_ms, 1);
        state.prewarmed_unused = false;
    }
    ready_mb_ -= state.charged_mb;
    if (ready_mb_ < 1e-9) ready_mb_ = 0;
    const double freed_mb = state.charged_mb;
    const uint64_t unload_ticket = ++unload_tickets_;
    if (unloads_confirmed_ && removal != Removal::Vanished) {
        // The server holds the model until its unload is over: the charge moves to the unload and stays in used_mb_
        // until on_unload_finished (or, after a failure, until a listing settles it).
        state.released_mb_ms += current_charge_mb_ms(state, now_ms);
        pending_unloads_.push_back({model, unload_ticket, freed_mb, now_ms, false});
        unloading_mb_ += freed_mb;
        ++state.pending_unloads;
        state.charged_mb = 0;
        state.charged_since_ms = kNever;
    } else {
        release_charge(state, now_ms);
    }
    set_residency(state, WARMUP_RESIDENCY_ABSENT);
    state.unload_at = kNever;
    state.last_use_ms = kNever;
    state.left_memory_at = now_ms;
    {
        const auto in_call = marked(ComponentKind::Resource, "on_removed");
        components_.resource.vtable->on_removed(components_.resource.self, model, now_ms);
    }
    refresh_timer(model);
    if (removal == Removal::Vanished) return;  // the server dropped it on its own: nothing to unload, not our unload
    if (eviction) {
        ++counters_.evictions;
        metric(WARMUP_METRIC_EVICTION, model, now_ms, freed_mb);
    } else {
        ++counters_.unloads;
        metric(WARMUP_METRIC_UNLOAD, model, now_ms, freed_mb);
    }
    executor_.start_unload(model, unload_ticket, now_ms);
}

void WarmupEngine::release_unload(std::size_t index, warmup_time_ms now_ms) {
    const PendingUnload unload = pending_unloads_[index];
    ModelSlot& state = models_[unload.model];
    if (now_ms > unload.since_ms)
        state.released_mb_ms += unload.memory_mb * static_cast<double>(now_ms - unload.since_ms);
    --state.pending_unloads;
    used_mb_ -= unload.memory_mb;
    if (used_mb_ < 1e-9) used_mb_ = 0;
    unloading_mb_ -= unload.memory_mb;
    if (unload.timed_out) overdue_mb_ -= unload.memory_mb;
    pending_unloads_.erase(pending_unloads_.begin() + static_cast<std::ptrdiff_t>(index));
    if (pending_unloads_.empty() || unloading_mb_ < 1e-9) unloading_mb_ = 0;
    if (pending_unloads_.empty() || overdue_mb_ < 1e-9) overdue_mb_ = 0;
}

void WarmupEngine::on_unload_finished(warmup_model_index model, uint64_t ticket, bool succeeded,
                                      warmup_time_ms now_ms) {
    const auto found = std::find_if(pending_unloads_.begin(), pending_unloads_.end(), [&](const PendingUnload& unload) {
        return unload.ticket == ticket && unload.model == model;
    });
    if (found == pending_unloads_.end() || found->failed) return;  // settled already, or answered twice
    advance(now_ms);
    if (!succeeded) {
        // The server may still hold the model: its memory stays charged until a listing says (reconcile). A timed-out
        // one is a failed one now, which the next listing settles.
        if (found->timed_out) {
            found->timed_out = false;
            overdue_mb_ -= found->memory_mb;
            if (overdue_mb_ < 1e-9) overdue_mb_ = 0;
        }
        found->failed = true;
        spdlog::warn(
            "UNLOAD_UNCONFIRMED {:.0f} MiB of {} stay charged to the budget until a listing of the server "
            "settles its failed unload",
            found->memory_mb, catalog_.record(model).name);
        return;
    }
    release_unload(static_cast<std::size_t>(found - pending_unloads_.begin()), now_ms);
    dispatch(now_ms);
}

std::optional<double> WarmupEngine::on_unload_timed_out(warmup_model_index model, uint64_t ticket,
                                                        warmup_time_ms now_ms) {
    const auto found = std::find_if(pending_unloads_.begin(), pending_unloads_.end(), [&](const PendingUnload& unload) {
        return unload.ticket == ticket && unload.model == model;
    });
    if (found == pending_unloads_.end() || found->failed || found->timed_out) return std::nullopt;
    advance(now_ms);
    found->timed_out = true;
    overdue_mb_ += found->memory_mb;
    const double memory_mb = found->memory_mb;
    // The loads waiting for memory are decided again: evictions in its place, or given up (see dispatch).
    dispatch(now_ms);
    return memory_mb;
}

uint64_t WarmupEngine::adopt_unload(const PendingUnload& unload, warmup_time_ms now_ms) {
    advance(now_ms);
    ModelSlot& state = slot(unload.model);
    PendingUnload adopted = unload;
    adopted.ticket = ++unload_tickets_;
    pending_unloads_.push_back(adopted);
    ++state.pending_unloads;
    used_mb_ += adopted.memory_mb;
    unloading_mb_ += adopted.memory_mb;
    if (adopted.timed_out) overdue_mb_ += adopted.memory_mb;
    // Over the budget even once the unloads that will come free are over (a timed-out one may never): other models
    // are evicted in its place. Loads waiting for memory see it from here on.
    if (!loads_held_ && used_mb_ - freeing_mb() > budget_mb_ + 1e-9) evict_until_fits(WARMUP_NO_MODEL, 0, now_ms);
    dispatch(now_ms);
    return adopted.ticket;
}

void WarmupEngine::publish_gauges(warmup_time_ms now_ms, bool stopped) {
    metric(WARMUP_METRIC_RESIDENT_MB, WARMUP_NO_MODEL, now_ms, stopped ? 0.0 : used_mb_);
    flush_metrics();  // with the queue depth
}

void WarmupEngine::release_loads(warmup_time_ms now_ms) {
    loads_held_ = false;
    advance(now_ms);
    // What the hold deferred: the evictions of a budget that shrank (said as BUDGET_SHRUNK), or of models and unloads
    // adopted over it (evict_until_fits does nothing when the memory in use fits).
    if (std::exchange(budget_shrunk_while_held_, false))
        evict_over_budget(now_ms);
    else
        evict_until_fits(WARMUP_NO_MODEL, 0, now_ms);
    dispatch(now_ms);
}

std::size_t WarmupEngine::release_failed_unloads(warmup_model_index model, warmup_time_ms now_ms) {
    advance(now_ms);
    std::size_t released = 0;
    for (std::size_t i = 0; i < pending_unloads_.size();) {
        const PendingUnload& unload = pending_unloads_[i];
        if (unload.failed && (model == WARMUP_NO_MODEL || unload.model == model)) {
            release_unload(i, now_ms);
            ++released;
        } else {
            ++i;
        }
    }
    if (released != 0) dispatch(now_ms);
    return released;
}

void WarmupEngine::wait_for_memory(warmup_model_index model, bool is_demand, bool admitted, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    state.in_memory_fifo = true;
    memory_fifo_.push_back(model);
    if (is_demand) ++counters_.loads_queued_for_memory;
    const bool for_unloads = admitted && waits_for_unloads(model, state.need_mb);
    // Only live (replay unloads take no time), since the wait lasts an unload. A budget that churns makes nearly
    // every load wait (hundreds a second at a few thousand models): one line per 10 s of the engine's clock, which
    // counts the others; each wait is still a decision, recorded below.
    if (uint64_t left_out = 0; for_unloads && memory_wait_log_.admit(now_ms, left_out))
        spdlog::info(
            "MEMORY_WAIT_UNLOAD {} of {} ({:.0f} MiB) waits for unloads to finish: {:.0f} of {:.0f} MiB in "
            "use, {:.0f} MiB being unloaded{}",
            is_demand ? "demand load" : "pre-warm", catalog_.record(model).name, state.need_mb, used_mb_, budget_mb_,
            unloading_mb_, left_out_note(left_out));
    if (options_.decisions == nullptr) return;
    const char* reason = !admitted     ? "demand load delayed by the resource plugin"
                         : for_unloads ? (is_demand ? "demand load waits for memory being unloaded (first come, "
                                                      "first served)"
                                                    : "pre-warm waits for memory being unloaded")
                                       : "demand load waits for memory (first come, first served)";
    Decision& wait = decision(is_demand ? DecisionKind::DemandLoad : DecisionKind::Prewarm, model, reason,
                              is_demand                ? components_.resource.label
                              : state.operator_prewarm ? by_engine()
                                                       : plan_author(state),
                              now_ms);
    wait.need_mb = state.need_mb;
    if (!admitted) wait.plugin_says = refusal_words_;
    options_.decisions->record(wait);
}

void WarmupEngine::skip_waiting_prewarms(const char* reason, warmup_time_ms now_ms) {
    for (auto it = memory_fifo_.begin(); it != memory_fifo_.end();) {
        const warmup_model_index model = *it;
        ModelSlot& state = models_[model];
        if (state.reason == LoadReason::Demand || !state.waiting.empty()) {
            ++it;
            continue;
        }
        it = memory_fifo_.erase(it);
        state.in_memory_fifo = false;
        set_residency(state, WARMUP_RESIDENCY_ABSENT);
        ++counters_.prewarms_skipped;
        metric(WARMUP_METRIC_PREWARM_SKIPPED, model, now_ms, 1);
        if (options_.decisions != nullptr) {
            Decision& skip = decision(DecisionKind::Skip, model, reason, by_engine(), now_ms);
            skip.need_mb = state.need_mb;
            options_.decisions->record(skip);
        }
        refresh_timer(model);
    }
}

ReconcileOutcome WarmupEngine::reconcile(std::span<const ReportedResident> resident, uint64_t listed_after_sequence,
                                         const std::unordered_set<warmup_model_index>& unsure, bool adopt,
                                         warmup_time_ms now_ms) {
    advance(now_ms);
    ReconcileOutcome outcome;
    std::unordered_map<warmup_model_index, double> listed;
    for (const ReportedResident& entry : resident) listed.emplace(entry.model, entry.memory_mb);
    // A model whose residency changed after the listing started (a load finished or began, an unload started), or
    // whose unload ran while the server was asked, may be listed either way: it is left as it is this round.
    const auto settled = [&](warmup_model_index model) {
        return model < models_.size() && models_[model].residency_sequence <= listed_after_sequence &&
               unsure.count(model) == 0;
    };
    // A failed unload that this listing is sure of is settled (its residency changed when the unload started, so a
    // listing that started after that and saw no unload running tells what the failure left): its memory leaves the
    // books, and a model still on the server is adopted below, charged as the server reports it. A model still on
    // the server whose load is queued keeps the charge: its load takes it over when it starts (start_load).
    for (std::size_t i = 0; i < pending_unloads_.size();) {
        const PendingUnload& unload = pending_unloads_[i];
        const bool queued_and_resident =
            listed.count(unload.model) != 0 && models_[unload.model].residency == WARMUP_RESIDENCY_QUEUED;
        if (unload.failed && settled(unload.model) && !queued_and_resident) {
            release_unload(i, now_ms);
        } else {
            ++i;
        }
    }
    for (warmup_model_index model = 0; model < models_.size(); ++model) {
        if (models_[model].residency != WARMUP_RESIDENCY_READY || listed.count(model) != 0 || !settled(model)) continue;
        forget_resident(model, Removal::Vanished, now_ms);
        outcome.gone.push_back(model);
    }
    if (adopt) {
        std::vector<ReportedResident> absent;
        for (const auto& [model, reported_mb] : listed) {
            // A model beyond the table has never changed residency here; an unsure one waits all the same.
            const bool take = model >= models_.size() ? unsure.count(model) == 0 : settled(model);
            if (take) absent.push_back({model, reported_mb});
        }
        outcome.adopted = adopt_resident(absent, now_ms);  // dispatches
        return outcome;
    }
    dispatch(now_ms);
    return outcome;
}

std::optional<ReportedResident> WarmupEngine::hand_off_ready(warmup_model_index model, warmup_time_ms now_ms) {
    advance(now_ms);
    if (model >= models_.size() || models_[model].residency != WARMUP_RESIDENCY_READY) return std::nullopt;
    ModelSlot& state = models_[model];
    const ReportedResident handed{model, state.charged_mb};
    state.prewarmed_unused = false;  // not wasted: the engine that serves it now may use it
    forget_resident(model, Removal::Vanished, now_ms);
    // Served by another engine now: a pre-warm or retry planned here would load it a second time.
    state.warm_start_at = kNever;
    state.retry_at = kNever;
    refresh_timer(model);
    dispatch(now_ms);  // the memory it held is this engine's to use again
    return handed;
}

std::vector<warmup_model_index> WarmupEngine::adopt_resident(std::span<const ReportedResident> models,
                                                             warmup_time_ms now_ms, bool handed_over) {
    advance(now_ms);
    std::vector<warmup_model_index> adopted;
    for (const auto& [model, reported_mb] : models) {
        ModelSlot& state = slot(model);
        if (state.residency != WARMUP_RESIDENCY_ABSENT) continue;
        double memory_mb = reported_mb;
        if (!(memory_mb > 0)) memory_mb = estimate_memory_mb(model, nullptr);
        set_residency(state, WARMUP_RESIDENCY_READY);
        charge(state, memory_mb, now_ms);
        state.ready_since_ms = now_ms;
        state.last_use_ms = kNever;
        state.prewarmed_unused = false;
        state.loaded_for = LoadCause::Adopted;
        // A retry of a failed load planned before is moot now that the model is resident; kept, it would fire as soon
        // as the model is unloaded and load it again.
        state.retry_at = kNever;
        state.attempt = 0;
        ready_mb_ += memory_mb;
        {
            const auto in_call = marked(ComponentKind::Resource, "on_ready");
            components_.resource.vtable->on_ready(components_.resource.self, model, memory_mb, 0, now_ms);
        }
        // Requests still waiting (their load failed, a retry was planned) are served by the model now resident: the
        // server loaded it for them, most likely. Left waiting, they would never be served or counted failed.
        if (serve_waiters(model, state, now_ms)) {
            state.loaded_for = LoadCause::Demand;
            state.last_use_ms = now_ms;
            const auto in_call = marked(ComponentKind::Resource, "on_used");
            components_.resource.vtable->on_used(components_.resource.self, model, now_ms);
        }
        adopted.push_back(model);
    }
    std::sort(adopted.begin(), adopted.end());
    // A model with requests in its history is planned from what was learned. One never requested here has no
    // pattern to plan from (a policy would unload it at once, under the client that just loaded it): it is kept
    // for the built-in keep-alive from now, and its first request plans it like any other.
    std::vector<warmup_model_index> used;  // adopted models that served waiting requests: their followers next
    for (const warmup_model_index model : adopted) {
        ModelSlot& state = models_[model];
        if (state.last_request_ms != kNever) {
            const bool served = state.loaded_for == LoadCause::Demand;
            plan(model, served ? WARMUP_TRIGGER_USED : WARMUP_TRIGGER_TIMER, now_ms);
            if (served) used.push_back(model);
            continue;
        }
        keep_for_builtin_keep_alive(model, now_ms,
                                    handed_over ? "adopted: handed over by the arm that loaded it, never requested "
                                                  "in these books; kept for the built-in keep-alive until a "
                                                  "request plans it"
                                                : "adopted: resident on the server but not in the books; kept for "
                                                  "the built-in keep-alive until a request plans it");
    }
    plan_followers_of(used, now_ms);
    if (!loads_held_ && used_mb_ > budget_mb_ + 1e-9) evict_until_fits(WARMUP_NO_MODEL, 0, now_ms);
    dispatch(now_ms);
    return adopted;
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
        const auto in_call = marked(ComponentKind::Queue, "pop");  // the instance being replaced
        warmup_queue_item item{};
        while (components_.queue.vtable->pop(components_.queue.self, now_ms, &item) != 0) {
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
        const auto in_call = marked(ComponentKind::Resource, "on_ready");
        for (warmup_model_index model = 0; model < models_.size(); ++model) {
            const ModelSlot& state = models_[model];
            if (state.residency == WARMUP_RESIDENCY_READY)
                components_.resource.vtable->on_ready(components_.resource.self, model, state.charged_mb,
                                                      state.catalog_load_ms, now_ms);
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
    out = sized<warmup_prediction>();
    out.model = model;
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
