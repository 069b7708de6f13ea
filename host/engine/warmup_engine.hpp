// engine/warmup_engine.hpp — the warm-up pipeline as a discrete-event state machine, shared by live and replay.
//
// The engine owns no thread and never sleeps: its owner (the live control loop or the replay driver) feeds it usage
// events, load completions and the passing of time, always on one thread (the "control thread"), and the engine calls
// the component plugins in the order of the design brief:
//
//   events -> analyzer.observe -> per used model: analyzer.get_pattern -> predictor.predict
//          -> performance.estimate -> scheduler.plan -> timers (unload, pre-warm, retry)
//   timers / demand -> queue.push -> (free worker slot) queue.pop -> resource.admit / pick_victim -> executor.load
//   completion -> performance.observe_load, resource.on_ready, serve waiting requests, scheduler.plan
//
// Simulation rules (docs/simulation-rules.md has the full specification):
//  - A request finds its model ready (warm), loading or queued (cold: waits for the load), or absent (cold: a demand
//    load is queued).
//  - The memory budget is hard: a load starts only if used + need <= budget after evicting ready models (loading
//    models are never evicted). A demand load that cannot fit waits in a FIFO for memory; a pre-warm that cannot fit
//    is skipped and counted. A completed load serves its waiting requests before it can be evicted.
//  - A request cancels its model's pending unload and pre-warm timers.
//  - Memory is released when an unload is over. With an executor that does not confirm unloads (the replay: an unload
//    takes no time) that is when it starts. With one that confirms them (live: the server holds the model until its
//    backend call returns) `used` includes the memory being unloaded until the answer; evictions stop once that
//    memory covers the need, and the load waits for the unloads in the memory FIFO. A pre-warm waits there too (one
//    at a time: no pre-warm is taken while a load waits for memory) until a demand load has to wait for memory, which
//    skips it. No load of a model starts while an unload of it runs. A failed unload stays charged until a
//    reconciliation settles it (or release_failed_unloads), or the model's next load takes its memory over. An unload
//    whose call runs past the owner's deadline (on_unload_timed_out) stays charged until it returns, but no load
//    waits for it: evictions make room without it, and a load it blocks (its own model's, or one that cannot fit
//    beside it) is given up instead.
//
// Decisions: with EngineOptions::decisions set (live), each pre-warm, demand load, keep, unload, eviction, skipped
// pre-warm, retry and give-up is reported with its reason and numbers (engine/decision_log.hpp), on the control
// thread, from a reused scratch entry. Without it (replay) nothing is built.
#pragma once

#include <warmup/warmup.h>

#include <array>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/catalog.hpp"
#include "core/log_throttle.hpp"
#include "core/plugin_call_on_thread.hpp"
#include "core/reported_call_failure.hpp"
#include "engine/decision_log.hpp"
#include "engine/log_histogram.hpp"
#include "engine/plugin_call_watch.hpp"
#include "engine/strict_priority_queue.hpp"
#include "engine/timer_heap.hpp"
#include "loader/component_set.hpp"

namespace warmup::host {

/// How loads and unloads are carried out. Live: backend calls on worker threads; replay: the virtual clock.
/// Called on the control thread. Each start_load must be answered by exactly one WarmupEngine::on_load_finished with
/// the same ticket (on the control thread), unless the engine cancels it (then the answer is ignored).
class LoadExecutor {
  public:
    virtual ~LoadExecutor() = default;
    virtual void start_load(warmup_model_index model, uint64_t ticket, warmup_time_ms now_ms) = 0;
    /// `ticket` (never 0, unique per engine) names this unload in its answer, when the executor confirms unloads.
    virtual void start_unload(warmup_model_index model, uint64_t ticket, warmup_time_ms now_ms) = 0;
    /// True: an unload takes time and the server holds the model until it is over, so each start_unload is answered
    /// by exactly one WarmupEngine::on_unload_finished with its ticket (on the control thread, after start_unload has
    /// returned), and the model's memory stays charged to the budget until then. False (the replay, live shadow arms):
    /// an unload takes no time; its memory is free when start_unload is called and no answer comes. Read once, when the
    /// engine is built.
    [[nodiscard]] virtual bool confirms_unloads() const noexcept { return false; }
};

enum class LoadReason : uint8_t { Demand = 0, Prewarm = 1, Retry = 2 };

/// Why a model is queued, loading or loaded, as an operator reads it: a request needed it (Demand, also a pre-warm a
/// request found still queued or loading), the plan pre-warmed it (Prewarm, also its retries), an operator's
/// restore-state brought the warm set back (Restore), or this engine did not load it (Adopted: another client loaded
/// it, its unload failed, or an arm stopped by a reload handed it over; taken into the books as it was found).
enum class LoadCause : uint8_t { Demand, Prewarm, Restore, Adopted };
std::string_view load_cause_name(LoadCause cause) noexcept;  ///< "demand", "pre-warm", "restore", "adopted"

/// The seven guarded components; each has its own circuit breaker.
enum class ComponentKind : uint8_t { Analyzer, Predictor, Performance, Scheduler, Resource, Queue, Metrics };
inline constexpr std::size_t kComponentKinds = 7;
/// The component's configuration key: "analyzer", "predictor", ... Inline: every plugin call names its component
/// (the call marks on the thread, the breaker), several times per usage event in a replay.
[[nodiscard]] inline const char* component_kind_name(ComponentKind kind) noexcept {
    static constexpr const char* kNames[kComponentKinds] = {"analyzer", "predictor", "performance", "scheduler",
                                                            "resource", "queue",     "metrics"};
    const auto index = static_cast<std::size_t>(kind);
    return index < kComponentKinds ? kNames[index] : "metrics";
}

/// Closed: calls go through. Open: the engine uses its built-in safe choice instead of calling the plugin.
/// HalfOpen: the cool-down has passed; the next call is a trial (success closes, failure re-opens).
enum class CircuitState : uint8_t { Closed, Open, HalfOpen };
[[nodiscard]] const char* circuit_state_name(CircuitState state) noexcept;  // "closed", "open", "half-open"

/// One component's circuit breaker. Times are on the engine's clock (the now_ms passed in).
struct CircuitStatus {
    CircuitState state = CircuitState::Closed;
    /// The most failures in a row of any one of the component's calls (`failing_calls`' highest count).
    uint32_t consecutive_failures = 0;
    /// Failures in a row per call (its name, a string literal), only the calls with at least one: a call's success
    /// resets its own count, so a call that always fails (a resource plugin's pick_victim) opens the circuit even
    /// while the component's other calls (its admit) succeed in between.
    std::vector<std::pair<const char*, uint32_t>> failing_calls;
    uint64_t times_opened = 0;
    warmup_time_ms opened_at_ms = 0;  ///< when it last opened
    std::string last_error;           ///< the failure that opened it (or the newest one)
};

struct EngineOptions {
    double memory_budget_mb = 0;  ///< configured budget; the resource plugin may lower it
    uint32_t max_concurrent_loads = 2;
    std::string arm;  ///< experiment arm label on every metric ("" = none)
    /// Fallback keep-alive when a plugin call fails (ms after the last use).
    warmup_time_ms fallback_keep_alive_ms = 5 * 60 * 1000;
    /// Failed calls in a row (errors or time-budget overruns) of one call of a component that open its circuit.
    uint32_t breaker_failures = 5;
    /// How long an open circuit stays open before one trial call is let through (engine clock, ms).
    warmup_time_ms breaker_cooldown_ms = 30'000;
    /// A plugin call slower than this (steady_clock, µs) counts as a failure, even though its answer is used.
    int64_t breaker_call_budget_us = 50'000;
    /// Failed calls of one component logged one by one (PLUGIN_CALL_ERROR, PLUGIN_CIRCUIT_OPEN); past that they are
    /// counted only (plugin_errors, the component's errors), after one line saying so. Live: every one (an open
    /// circuit lets one trial call through per cool-down, so the lines are few); a replay runs days of engine time in
    /// seconds and logs the first ones only.
    uint64_t logged_failures_per_component = UINT64_MAX;
    /// Where decisions are reported with their reasons and numbers (engine/decision_log.hpp), or nullptr: none are
    /// built (the replay's choice: it then pays one pointer test per decision point). Borrowed; called on the
    /// control thread.
    DecisionSink* decisions = nullptr;
    /// Told which plugin call is in progress (live: the runtime's watchdog names a call that does not return), or
    /// nullptr (replay). Borrowed; written on the control thread around every call the engine times.
    PluginCallWatch* call_watch = nullptr;
};

/// Totals since the engine started. Memory-time in MiB x ms.
struct EngineCounters {
    uint64_t events = 0;
    uint64_t requests = 0;
    uint64_t warm_requests = 0;
    uint64_t cold_requests = 0;
    uint64_t failed_requests = 0;  ///< requests dropped because their model's load was given up
    uint64_t demand_loads = 0;
    uint64_t loads_queued_for_memory = 0;
    uint64_t prewarms_started = 0;
    uint64_t prewarms_used = 0;
    uint64_t prewarms_wasted = 0;
    /// Did not fit the budget, refused by the policy, queue full, or a pre-warm's retry due after its keep window.
    uint64_t prewarms_skipped = 0;
    uint64_t loads_succeeded = 0;
    uint64_t loads_failed = 0;
    uint64_t loads_given_up = 0;
    uint64_t evictions = 0;
    uint64_t unloads = 0;
    uint64_t queue_rejections = 0;
    uint64_t idle_gap_requests = 0;   ///< arrivals after an idle gap longer than the model's load time
    uint64_t idle_gap_prewarmed = 0;  ///< ... that found the model ready thanks to a pre-warm
    uint64_t plugin_errors = 0;
    double loaded_mb_ms = 0;
    double idle_mb_ms = 0;
};

/// Per-model view for status pages and reports.
struct ModelStatus {
    warmup_model_index model = WARMUP_NO_MODEL;
    warmup_residency residency = WARMUP_RESIDENCY_ABSENT;
    double memory_mb = 0;  ///< charged to the budget while loading or ready
    /// Charged to the budget for unloads of this model not yet over (running, or failed and not settled); 0 with an
    /// executor that does not confirm unloads.
    double unloading_mb = 0;
    /// Memory-time charged to this model since the engine started, up to the engine clock (MiB x ms). Not part of
    /// the counters a snapshot restores: after a restart it counts from the restart.
    double loaded_mb_ms = 0;
    uint64_t requests = 0;
    uint64_t cold_requests = 0;
    warmup_time_ms last_use_ms = WARMUP_TIME_NEVER;
    warmup_time_ms unload_at_ms = WARMUP_TIME_NEVER;
    warmup_time_ms warm_start_at_ms = WARMUP_TIME_NEVER;
    bool prewarmed_unused = false;
    /// Engine clock (ms): queued -> when the load was enqueued, loading -> when it started, ready -> when it became
    /// ready; WARMUP_TIME_NEVER when absent.
    warmup_time_ms since_ms = WARMUP_TIME_NEVER;
    LoadCause cause = LoadCause::Demand;  ///< of the queued, running or completed load (meaningless when absent)
};

/// An unload whose memory is still charged to the budget (an executor that confirms unloads): running, or failed and
/// waiting for a reconciliation to settle it.
struct PendingUnload {
    warmup_model_index model = WARMUP_NO_MODEL;
    uint64_t ticket = 0;
    double memory_mb = 0;
    warmup_time_ms since_ms = 0;  ///< when the unload started (engine clock)
    bool failed = false;          ///< the backend answered with a failure: the server may still hold the model
    /// The backend call is still running past the host's deadline (on_unload_timed_out): the host cannot know whether
    /// the server freed the memory, so it stays charged until the call returns, but no load waits for it any more.
    bool timed_out = false;
};

/// The soonest a failed load is retried, ms after the failure, whatever the scheduler plugin asks (0, or `now`, would
/// retry a server that fails at once in a loop as fast as the host can go).
inline constexpr int64_t kMinRetryDelayMs = 100;

/// A model the backend reported resident (reconciliation): catalog index and the memory it reported (<= 0: unknown).
struct ReportedResident {
    warmup_model_index model = WARMUP_NO_MODEL;
    double memory_mb = 0;
};

/// What one reconciliation changed in an engine's books.
struct ReconcileOutcome {
    std::vector<warmup_model_index> adopted;  ///< resident on the server, absent in the books: now ready and charged
    std::vector<warmup_model_index> gone;     ///< ready in the books, not on the server: now absent
};

class WarmupEngine {
  public:
    WarmupEngine(ComponentSet components, LoadExecutor& executor, Catalog& catalog, EngineOptions options);

    /// Usage events with ts_ms <= now_ms, sorted by time (control thread). Every event is a request: it is learned
    /// (analyzer.observe), scored warm or cold, and may start a load.
    void on_events(std::span<const warmup_usage_event> events, warmup_time_ms now_ms);

    /// Past usage (live only: back-filled or late events older than the daemon's request window), sorted by time,
    /// ts_ms <= now_ms (control thread). The analyzer learns it at its own timestamps and every model it names is
    /// re-planned (trigger TIMER, or WARMED for a pre-warmed model no request has used), but it is not a request: no
    /// counter, no metric, no load. The replay never calls this (its events are all requests), so its results do
    /// not depend on it.
    void on_history(std::span<const warmup_usage_event> events, warmup_time_ms now_ms);

    /// For the operator's reset of data collection (control thread): each model's last use as the analyzer knows it
    /// (live requests, history, a restored state: everything it learned), one request at that time (at most now),
    /// sorted by time. Read before the analyzer's reset, handed back by relearn_last_uses after it.
    [[nodiscard]] std::vector<warmup_usage_event> last_uses(warmup_time_ms now_ms);
    /// After the analyzer forgot everything (control thread): teaches it again `last_uses` (from last_uses()), as
    /// history: not scored, no load, no plan changed now. Without it every model would look never used, and a lean
    /// predictor would unload every warm model at its next plan (a model still loading the moment its load ends);
    /// with it each model's next plan is made as after a first request at its last use. The plans in force stand
    /// until their own time or the model's next request; the patterns, rates and gaps learned before stay forgotten.
    void relearn_last_uses(std::span<const warmup_usage_event> last_uses, warmup_time_ms now_ms);

    /// Asks the scheduler for a fresh plan of every ready or absent model the engine knows (trigger TIMER; WARMED
    /// for a model ready through a pre-warm no request has used yet, so its pre-warm keep window is kept). For the
    /// transitions that change what a plan would say without any event: a hot-swapped predictor, analyzer or
    /// scheduler, a rollback, the end of an emergency stop. Queued and loading models are planned when their load
    /// finishes, as always.
    void replan_all(warmup_time_ms now_ms);

    /// A load started with `ticket` finished (control thread). `load_ms`: measured duration; `memory_mb`: measured
    /// resident memory or <= 0 when unknown. A measured size replaces the estimate the load was charged (ready models
    /// are evicted if the books are then over the budget). A stale ticket (the engine cancelled that load) is ignored.
    /// `permanent_failure`: the backend said no attempt can succeed (the server does not have the model): no retry
    /// is planned, the waiting requests fail at once (a later request tries again).
    void on_load_finished(warmup_model_index model, uint64_t ticket, bool succeeded, double load_ms, double memory_mb,
                          warmup_time_ms now_ms, bool permanent_failure = false);

    /// [control] The unload started with `ticket` is over (an executor that confirms unloads). Succeeded: its memory
    /// is released and the loads waiting for it may start. Failed: the server may still hold the model, so the memory
    /// stays charged until reconcile() settles it (or release_failed_unloads()). A ticket the engine no longer holds
    /// (already answered or settled) is ignored.
    void on_unload_finished(warmup_model_index model, uint64_t ticket, bool succeeded, warmup_time_ms now_ms);
    /// [control] Releases the memory of failed unloads, of `model` (WARMUP_NO_MODEL: of every model), that no listing
    /// will settle (reconciliation off, or a backend that cannot list): the books stop counting what the server may
    /// still hold. Returns how many were released.
    std::size_t release_failed_unloads(warmup_model_index model, warmup_time_ms now_ms);
    /// [control] The unload started with `ticket` has run past the host's deadline (live: budgets.unload_timeout_ms)
    /// and its backend call has not returned. Its memory stays charged (the server may still hold the model) until
    /// on_unload_finished, but it is no longer counted on to come free: evictions make room without it, and a load
    /// that cannot fit until it returns (its need plus the memory of such unloads exceeds the budget, or the unload is
    /// of the model itself) is given up, a demand load with its requests failed, instead of waiting for a call that
    /// may never return. Returns the memory it holds (MiB), or nullopt for a ticket the engine does not hold running
    /// (answered, settled, or timed out already).
    std::optional<double> on_unload_timed_out(warmup_model_index model, uint64_t ticket, warmup_time_ms now_ms);
    /// [control] Takes over `unload`, a pending unload of another engine that stops (an experiment arm a reload
    /// stopped), with its memory, start time and flags: charged to this engine's budget until it is answered here
    /// (on_unload_finished) with the returned ticket, or settled (a failed one, by reconcile()). Nothing is sent to
    /// the backend. Loads that start from now count that memory as in use (waiting for it while it is being
    /// unloaded); should this engine charge more than its budget without counting the unloads that will come free,
    /// ready models are evicted in its place, as adopt_resident does. Returns the new ticket.
    uint64_t adopt_unload(const PendingUnload& unload, warmup_time_ms now_ms);

    /// [control] Holds every load start (dispatch) until release_loads(): for a reload that changes budgets and moves
    /// models and unloads between engines, so that no load starts before every engine's books hold what the server
    /// does. The evictions that bring the memory in use back under the budget wait for the release too (a budget
    /// that shrank, models and unloads adopted over it): the models over it may be about to go to the arms that serve
    /// them now. Loads that need room still evict as usual once they start. Not nested: one release ends any number of
    /// holds.
    void hold_loads() noexcept { loads_held_ = true; }
    /// [control] Sends this arm's memory in use to the metrics plugin now (0 when `stopped`: an arm a reload stopped,
    /// whose gauge would otherwise stay at its last value), with its queue depth, and flushes: after a restore whose
    /// metrics state carries an earlier process's gauges, and for an arm that stops.
    void publish_gauges(warmup_time_ms now_ms, bool stopped = false);
    /// [control] Ends hold_loads(), evicts what is still over the budget, and starts what fits.
    void release_loads(warmup_time_ms now_ms);

    /// Asks the scheduler for a plan for `model` now (trigger TIMER), e.g. before its first request. Only a policy
    /// that knows the future can act on this for a model never seen; the clairvoyant yardsticks use it.
    void plan_ahead(warmup_model_index model, warmup_time_ms now_ms) {
        advance(now_ms);
        plan(model, WARMUP_TRIGGER_TIMER, now_ms);
    }
    /// [control] A fresh plan for `model` now from what its plugins hold (after its state was imported or forgotten),
    /// as replan_all makes one: only a ready or absent model, with trigger WARMED while it is pre-warmed and unused.
    void replan_now(warmup_model_index model, warmup_time_ms now_ms) {
        advance(now_ms);
        slot(model);  // a model this engine has not planned yet (moved in from another node) gets its slot first
        replan(model, now_ms);
    }

    /// Earliest pending timer, or NEVER.
    [[nodiscard]] warmup_time_ms next_timer_ms() const noexcept { return timers_.next_due_ms(); }
    /// Fires every timer due at or before now_ms, each at now_ms (callers step time to each due time in replay).
    void run_timers(warmup_time_ms now_ms);

    /// Queues a pre-warm of `model` now (operator's restore of the warm set). Ignored when the model is already
    /// queued, loading or ready. In emergency stop it is kept for resume(now, true) instead: a daemon restarted while
    /// stopped brings its warm set back when the stop is lifted. `handed_over`: another arm held it before (a split by
    /// model that moved across a restart), so these books have no history to plan it from: once loaded, it keeps the
    /// built-in keep-alive until its first request here plans it, as a model adopted from another arm does.
    void request_prewarm(warmup_model_index model, warmup_time_ms now_ms, bool handed_over = false) {
        if (stopped_) {
            keep_restore_for_resume(model);
            if (slot(model).residency == WARMUP_RESIDENCY_ABSENT) slot(model).restore_handed_over = handed_over;
            return;
        }
        advance(now_ms);
        if (queue_restore(model, now_ms)) models_[model].restore_handed_over = handed_over;
        dispatch(now_ms);
    }

    /// Whether the analyzer has learned a request of `model` (a model adopted from another arm has none here).
    /// False when the analyzer's call fails. Control thread.
    [[nodiscard]] bool has_learned_requests(warmup_model_index model);

    /// Failed plugin calls of one component (by its label), for /api/warmup/health/components.
    struct ComponentErrors {
        uint64_t errors = 0;
        std::string last_error;  ///< "<call>: <status>: <message>" of the newest failure
        /// Wall-clock time of the newest failure (also in replay: for operators); 0 = none.
        int64_t last_error_unix_ms = 0;
        /// The newest failure was an instance's that a hot-swap has replaced since (a rebuilt library, new params
        /// under the same label): the running instance has not failed yet.
        bool by_replaced_instance = false;
    };
    /// Keyed by component label ("<id>@<version>"); only components that failed at least once appear.
    [[nodiscard]] const std::map<std::string, ComponentErrors, std::less<>>& component_errors() const noexcept {
        return component_errors_;
    }

    /// The circuit breaker of one component, and its state now (an open circuit past its cool-down reads HalfOpen:
    /// the next call will be the trial).
    [[nodiscard]] const CircuitStatus& circuit(ComponentKind kind) const noexcept {
        return circuits_[static_cast<std::size_t>(kind)];
    }
    [[nodiscard]] CircuitState circuit_state(ComponentKind kind) const noexcept;
    [[nodiscard]] const std::string& component_label(ComponentKind kind) const noexcept {
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

    /// Emergency stop: no new warm-ups start, queued ones are cancelled, loaded models stay. Demand loads still run
    /// (a waiting request must be served). resume() leaves the mode.
    void emergency_stop(warmup_time_ms now_ms);
    /// Leaves the emergency stop. The restores of the warm set the stop held back (asked for while stopped, or queued
    /// and cancelled by it) are queued again when `restore_warm_set`, else forgotten; returns how many were queued.
    std::size_t resume(warmup_time_ms now_ms, bool restore_warm_set = true);
    [[nodiscard]] bool stopped() const noexcept { return stopped_; }

    /// Replaces component plugins between two steps (hot-swap). The caller keeps the old instances alive until this
    /// returns. Ready models are re-announced to a new resource plugin; queued warm-ups to a new queue.
    void replace_components(const ComponentSet& components, warmup_time_ms now_ms);

    /// Buffers one metric event for the sink (flushed in batches). Also used by the owner for loop-level metrics.
    void metric(warmup_metric_kind kind, warmup_model_index model, warmup_time_ms ts_ms, double value);

    /// A new configured budget (reload, reset-to-safe); the resource plugin may lower it. A budget that shrank below
    /// what is loaded is enforced at once (while loads are held, at their release): ready models are evicted in the
    /// resource plugin's pick_victim order
    /// (oldest idle while its circuit is open) until the rest fits, each counted as an eviction; loading models are
    /// never evicted (they are charged until they finish, and the next load makes room as usual).
    void set_memory_budget_mb(double configured_mb, warmup_time_ms now_ms);

    /// [control] Increases with every change of any model's residency. Read it when a backend listing starts and pass
    /// it to reconcile(): models that changed since are left alone.
    [[nodiscard]] uint64_t residency_sequence() const noexcept { return residency_sequence_; }

    /// [control] Reconciles the books with what the backend listed as resident (`resident`, a listing that started
    /// when residency_sequence() was `listed_after_sequence`). A model ready in the books but not listed is marked
    /// absent (no unload is sent, no unload or eviction counted: its next request is a cold start). With `adopt`, a
    /// listed model that is absent in the books becomes ready, charged with its reported memory (or the performance
    /// plugin's estimate, else the catalog's) and announced to the resource plugin; a model with requests in its
    /// history is planned (trigger TIMER), one without is kept for fallback_keep_alive_ms (no pattern to plan from).
    /// If the budget is then exceeded, ready models are evicted in the resource plugin's order. Models whose residency
    /// changed after the listing started, models that are queued or loading, and models in `unsure` (an unload ran
    /// while the server was asked) are left as they are. A failed unload (on_unload_finished) of a model the listing
    /// is sure of is settled first: its memory is released, and the model, if listed and absent, is adopted as found;
    /// a listed model whose load is queued keeps that memory charged until its load takes it over.
    ReconcileOutcome reconcile(std::span<const ReportedResident> resident, uint64_t listed_after_sequence,
                               const std::unordered_set<warmup_model_index>& unsure, bool adopt, warmup_time_ms now_ms);
    /// [control] Takes `models`, resident on the server, into the books (as reconcile's `adopt` does: each one absent
    /// here becomes ready, charged with its memory or the estimate, and is planned, and a retry planned for it is
    /// cancelled; over the budget, ready models are evicted). For models another engine loaded and no longer tracks
    /// (an experiment arm a reload stopped). Returns the adopted models, sorted; the others were not absent here and
    /// are left as they are.
    /// `handed_over`: the models come from another arm's books (a hand-over), not from the server's listing; it
    /// only changes what the decision log says.
    std::vector<warmup_model_index> adopt_resident(std::span<const ReportedResident> models, warmup_time_ms now_ms,
                                                   bool handed_over = false);
    /// [control] Gives up `model`, ready here, to another engine that serves it now (an experiment split by model
    /// whose arms changed): it leaves these books without an unload, since the server keeps it for the engine that
    /// adopts it. Returns it with the memory it was charged; nullopt when it is not ready here (left as it is).
    std::optional<ReportedResident> hand_off_ready(warmup_model_index model, warmup_time_ms now_ms);

    /// Sends buffered metric events to the metrics plugin, ending with the queue depth now (a gauge: loads taken from
    /// the queue are not events of their own, so without it the sink would keep the depth of the last enqueue).
    void flush_metrics();
    /// [control] The metrics plugin's render of `format` into `writer`, marked on the thread as that plugin's call (a
    /// stall or a crash inside it is named). Returns the plugin's error, owned by the caller, or nullptr.
    [[nodiscard]] warmup_error* render_metrics(const char* format, const warmup_byte_writer* writer) const;

    /// Accounting up to now_ms (memory-time integrals). Call before reading counters at the end of a run.
    void settle(warmup_time_ms now_ms);
    /// End of a replay: counts the idle memory-time of models still resident at now_ms as if unloaded then.
    void account_resident_idle(warmup_time_ms now_ms);

    [[nodiscard]] const EngineCounters& counters() const noexcept { return counters_; }
    /// Continues the totals from a restored snapshot (the metrics plugin restores its own counters from the same
    /// snapshot, so /status and /metrics keep agreeing across a restart or a restore).
    void restore_counters(const EngineCounters& counters) noexcept { counters_ = counters; }
    [[nodiscard]] const LogHistogram& cold_waits_ms() const noexcept { return cold_waits_ms_; }
    /// Memory charged to the budget: loading, ready and being unloaded (unloading_mb()).
    [[nodiscard]] double used_mb() const noexcept { return used_mb_; }
    /// The part of used_mb() held by unloads not yet over (pending_unloads()).
    [[nodiscard]] double unloading_mb() const noexcept { return unloading_mb_; }
    /// The part of unloading_mb() held by unloads whose backend call ran past the host's deadline (timed_out).
    [[nodiscard]] double timed_out_unloads_mb() const noexcept { return overdue_mb_; }
    /// Unloads whose memory is still charged, oldest first (empty with an executor that does not confirm unloads).
    [[nodiscard]] const std::vector<PendingUnload>& pending_unloads() const noexcept { return pending_unloads_; }
    [[nodiscard]] double budget_mb() const noexcept { return budget_mb_; }
    [[nodiscard]] uint32_t loads_in_flight() const noexcept { return in_flight_; }
    [[nodiscard]] std::size_t queue_depth() const;
    /// Loads waiting for memory (the memory FIFO): demand loads, and at most one pre-warm waiting for unloads.
    [[nodiscard]] std::size_t memory_waiters() const noexcept { return memory_fifo_.size(); }
    [[nodiscard]] uint32_t model_count() const noexcept { return static_cast<uint32_t>(models_.size()); }
    [[nodiscard]] ModelStatus model_status(warmup_model_index model) const;
    /// Whether `model` belongs to the warm set a snapshot keeps: ready or loading, or a restore of the warm set not
    /// done yet (queued, waiting for memory, waiting for a retry, or kept for the end of an emergency stop). Without
    /// the restores, a snapshot taken while the warm set comes back after a restart, or during an emergency stop, would
    /// forget it.
    [[nodiscard]] bool in_warm_set(warmup_model_index model) const;
    [[nodiscard]] const ComponentSet& components() const noexcept { return components_; }
    [[nodiscard]] const std::string& arm() const noexcept { return options_.arm; }

    /// A fresh prediction for `model` at now_ms (for /api/warmup/predictions): nullopt, or why the analyzer or the
    /// predictor could not answer. Failures do not count towards the breaker; a component whose circuit is open is
    /// not called.
    std::optional<std::string> predict_now(warmup_model_index model, warmup_time_ms now_ms, warmup_prediction& out);

  private:
    struct Waiting {
        warmup_time_ms ts_ms;
        uint32_t count;
    };
    /// Where a QUEUED model's warm-up waits (a model in the memory FIFO is in neither).
    enum class QueuedIn : uint8_t { Nowhere, Plugin, Fallback };
    struct ModelSlot {
        warmup_residency residency = WARMUP_RESIDENCY_ABSENT;
        LoadReason reason = LoadReason::Demand;  // of the queued or running load
        QueuedIn queued_in = QueuedIn::Nowhere;
        StrictPriorityQueue::Key fallback_key;  // valid while queued_in == Fallback
        uint32_t queued_class = 1;              // priority class of the queued item
        warmup_time_ms queued_at_ms = 0;        // when the queued item was enqueued
        bool in_memory_fifo = false;
        uint32_t pending_unloads = 0;   // entries of pending_unloads_ for this model (see own_failed_unloads_mb)
        bool prewarmed_unused = false;  // ready through a pre-warm, no request served since
        bool oversize_logged = false;   // "larger than the budget" was logged for this model
        warmup_time_ms unload_at = WARMUP_TIME_NEVER;
        warmup_time_ms warm_start_at = WARMUP_TIME_NEVER;
        warmup_time_ms warm_ready_by = WARMUP_TIME_NEVER;
        warmup_time_ms warm_unload_at = WARMUP_TIME_NEVER;
        warmup_time_ms retry_at = WARMUP_TIME_NEVER;
        // A demand load the resource plugin delayed (admit said no): the memory FIFO is dispatched again then at the
        // latest (kDelayedDemandRecheckMs after), so its requests do not wait for an unrelated event. In the FIFO only.
        warmup_time_ms delayed_demand_until = WARMUP_TIME_NEVER;
        // When it last left memory (evicted, unloaded, gone from the server), NEVER since its last request: a plan
        // whose pre-warm was to have it ready before then is not started (that time passed with the model in memory).
        warmup_time_ms left_memory_at = WARMUP_TIME_NEVER;
        warmup_time_ms last_request_ms = WARMUP_TIME_NEVER;
        warmup_time_ms last_use_ms = WARMUP_TIME_NEVER;  // last served request (arrival or service time)
        warmup_time_ms ready_since_ms = WARMUP_TIME_NEVER;
        warmup_time_ms loading_since_ms = WARMUP_TIME_NEVER;
        LoadCause loaded_for = LoadCause::Demand;  // set when a load starts; Demand once a request waited for it
        uint64_t residency_sequence = 0;           // residency_sequence_ at this model's last residency change
        double charged_mb = 0;
        warmup_time_ms charged_since_ms = WARMUP_TIME_NEVER;  // when charged_mb was last set above 0
        double released_mb_ms = 0;  // memory-time of this model's past residencies (MiB x ms), see model_status
        double need_mb = 0;         // memory the queued load needs
        double catalog_load_ms = 0;
        uint64_t ticket = 0;
        uint32_t attempt = 0;
        uint32_t priority_class = 1;
        uint64_t requests = 0;
        uint64_t cold_requests = 0;
        uint64_t touched_epoch = 0;
        std::vector<Waiting> waiting;
        // The prediction the plan in force came from; kept only while a decision sink is installed.
        bool plan_was_fallback = false;
        bool operator_prewarm = false;  // the queued pre-warm restores the warm set (request_prewarm)
        // The restore asked for (queued, loading, kept for resume or waiting for its retry) is of a model another arm
        // held (request_prewarm's handed_over). Any other load of the model clears it (enqueue_load); a restore
        // carries it through an emergency stop (resume) and its retries, until its load succeeds or is given up.
        bool restore_handed_over = false;
        bool kept_for_resume = false;  // in restores_kept_by_stop_
        warmup_time_ms plan_next_use_ms = WARMUP_TIME_NEVER;
        double plan_p_use = -1;  // < 0: no prediction
        warmup_time_ms plan_horizon_ms = 0;
    };

    /// The model's books, grown to it when it is new (inline: a few lookups per usage event).
    ModelSlot& slot(warmup_model_index model) {
        if (model >= models_.size()) grow_slots_to(model);
        return models_[model];
    }
    void grow_slots_to(warmup_model_index model);
    /// The budget the resource plugin makes of the configured one: it may lower it, never raise it (budgets.memory_mb
    /// is a hard budget); any other answer (larger, 0, negative, NaN) is logged and the configured budget applies.
    [[nodiscard]] double resource_budget_mb(double configured_mb);
    /// Sets or clears a model's charge to the budget, keeping used_mb_ and its per-model memory-time in step.
    void charge(ModelSlot& state, double memory_mb, warmup_time_ms now_ms);
    void release_charge(ModelSlot& state, warmup_time_ms now_ms);
    /// Replaces a charged model's charge by memory_mb from now_ms (the memory-time held so far keeps the old charge).
    void recharge(ModelSlot& state, double memory_mb, warmup_time_ms now_ms);
    /// Memory-time (MiB x ms) of the model's current charge, from when it was set to now_ms (0 when not charged).
    static double current_charge_mb_ms(const ModelSlot& state, warmup_time_ms now_ms);
    void advance(warmup_time_ms now_ms);
    void handle_request(const warmup_usage_event& event, warmup_time_ms now_ms);
    /// Advances to now_ms, feeds `events` to the analyzer and starts a new set of touched models.
    void observe(std::span<const warmup_usage_event> events, warmup_time_ms now_ms);
    /// Adds `model` to touched_ once per batch.
    void touch(warmup_model_index model);
    /// Plans a model that is not loading or queued again (trigger WARMED for a pre-warmed unused one, else TIMER).
    void replan(warmup_model_index model, warmup_time_ms now_ms);
    void plan(warmup_model_index model, warmup_plan_trigger trigger, warmup_time_ms now_ms);
    /// Plans again the followers in successions_ that this batch did not touch (each once), and empties it.
    void plan_successions(warmup_time_ms now_ms);
    /// After models used outside a batch of events were planned (a load requests waited for, models adopted that
    /// served them): the followers their plans named, as on_events plans them after a batch (leaders not again).
    void plan_followers_of(std::span<const warmup_model_index> leaders, warmup_time_ms now_ms);
    void fallback_plan(warmup_model_index model, warmup_time_ms now_ms);
    /// A decision about `model` now, with the memory figures and the basis of the model's plan in force filled in.
    /// Only call while options_.decisions is set; hand the result to options_.decisions->record().
    /// The result is the engine's scratch entry, valid until the next call.
    [[nodiscard]] Decision& decision(DecisionKind kind, warmup_model_index model, const char* reason,
                                     const std::string& decided_by, warmup_time_ms now_ms);
    /// Who decided a plan-driven keep, unload or pre-warm of `state`: the predictor, or the built-in keep-alive.
    [[nodiscard]] const std::string& plan_author(const ModelSlot& state) const noexcept;
    void refresh_timer(warmup_model_index model);
    /// Whether a ready model's planned pre-warm time has come: there is nothing to load, the pre-warm is over, whether
    /// its unload is due yet or not (run_timers, and a removal before its timer ran, decide alike).
    [[nodiscard]] static bool prewarm_passed_while_loaded(const ModelSlot& state, warmup_time_ms now_ms) noexcept {
        return state.residency == WARMUP_RESIDENCY_READY && state.warm_start_at <= now_ms;
    }
    /// A ready model whose planned pre-warm falls before its unload: kept to the pre-warm's keep window instead (the
    /// Keep decision says so).
    void put_off_unload(warmup_model_index model, warmup_time_ms now_ms);
    /// A model kept until evicted whose pre-warm time came while it was loaded: planned again (trigger TIMER), so that
    /// a later pre-warm the plan names (a daily one) stands for the case it is evicted unused before then. A pre-warm
    /// due by now is dropped (nothing to load).
    void plan_next_prewarm(warmup_model_index model, warmup_time_ms now_ms);
    /// Whether a retry of `state`'s failed load still has a use now: a request waits for it, or it retries a pre-warm
    /// whose keep window (the plan's warm_unload_at) has not ended, or a restore of the warm set.
    [[nodiscard]] static bool retry_still_wanted(const ModelSlot& state, warmup_time_ms now_ms);
    /// Drops `model`'s due retry that is no longer wanted: counted as a skipped pre-warm, reported and logged; the
    /// model stays absent and its next load counts attempts from the first again.
    void drop_retry(warmup_model_index model, warmup_time_ms now_ms);
    void enqueue_load(warmup_model_index model, LoadReason reason, warmup_time_ms now_ms);
    /// enqueue_load for a model queued before (a retry, a queue plugin's items handed to its replacement): a restore's
    /// load stays a restore, handed over or not (enqueue_load clears both marks for a load of its own).
    void enqueue_again(warmup_model_index model, LoadReason reason, bool restoring, warmup_time_ms now_ms);
    /// Evicts ready models until the memory in use fits the budget (after it shrank), and says so (BUDGET_SHRUNK).
    void evict_over_budget(warmup_time_ms now_ms);
    /// Keeps `model`, ready and never requested in these books, for the built-in keep-alive (fallback_keep_alive_ms)
    /// from now, and records why.
    void keep_for_builtin_keep_alive(warmup_model_index model, warmup_time_ms now_ms, const char* why);
    /// Adds `model` to restores_kept_by_stop_ once (a restore of the warm set the emergency stop holds back).
    void keep_restore_for_resume(warmup_model_index model);
    /// Queues a restore of the warm set for `model` (a pre-warm marked operator_prewarm) when it is absent; no
    /// dispatch. Returns whether it was queued.
    bool queue_restore(warmup_model_index model, warmup_time_ms now_ms);
    /// Queues `model` in the built-in strict-priority queue, with the class and time of its queued item.
    void push_fallback(warmup_model_index model);
    /// Takes `model`'s queued item out of whichever queue holds it (a cancelled or superseded warm-up).
    void unqueue(warmup_model_index model);
    /// The queue plugin's circuit just opened: the items it holds move to the built-in queue, in strict priority.
    void move_queue_plugin_items_to_fallback();
    /// Removes the stale items of stale_plugin_items_ from the queue plugin, once its circuit is closed.
    void remove_stale_plugin_items();
    void dispatch(warmup_time_ms now_ms);
    bool try_start(warmup_model_index model, bool is_demand, warmup_time_ms now_ms);
    /// True when `model`'s load may start now (evicting ready models if `may_evict`). False: it does not fit yet;
    /// the evictions it made may still be unloading (waits_for_unloads says whether waiting for them is enough).
    bool make_room(warmup_model_index model, double need_mb, bool may_evict, warmup_time_ms now_ms);
    /// Evicts ready models other than `model` in the resource plugin's order until used + need_mb fits the budget once
    /// the unloads under way are over. True when it fits now; false when it does not (yet: the unloads are still
    /// running; or for good: nothing evictable is left, or the policy failed).
    bool evict_until_fits(warmup_model_index model, double need_mb, warmup_time_ms now_ms,
                          const char* reason = nullptr);
    /// Whether `model`'s load of need_mb has to wait for unloads under way: one of its own is running, or once they
    /// are all over it would fit.
    [[nodiscard]] bool waits_for_unloads(warmup_model_index model, double need_mb) const noexcept;
    /// The memory of `model`'s failed unloads, which its next load takes over (start_load); -1 when an unload of it is
    /// still running (no load of it may start).
    [[nodiscard]] double own_failed_unloads_mb(warmup_model_index model) const noexcept;
    /// Puts `model` (queued, taken from its queue) at the back of the memory FIFO; logs and records that it waits
    /// for unloads when it does. Demand loads only count in loads_queued_for_memory.
    void wait_for_memory(warmup_model_index model, bool is_demand, bool admitted, warmup_time_ms now_ms);
    /// Takes the pre-warm waiting in the memory FIFO, if any, out of it and skips it (counted, recorded with `reason`).
    void skip_waiting_prewarms(const char* reason, warmup_time_ms now_ms);
    /// Memory of pending unloads that will come free without another eviction: the running ones within their
    /// deadline and the failed ones (a listing settles them soon), not the timed-out ones.
    [[nodiscard]] double freeing_mb() const noexcept { return unloading_mb_ - overdue_mb_; }
    /// Why `model`'s load of need_mb cannot start until a timed-out unload returns (its own unload timed out, or
    /// need_mb plus the memory timed-out unloads hold exceeds the budget), or nullptr when nothing such blocks it.
    [[nodiscard]] const char* blocked_by_timed_out_unloads(warmup_model_index model, double need_mb) const noexcept;
    /// Gives up `model`'s demand load that a timed-out unload blocks (`why`): counted and recorded like an oversized
    /// one, logged LOAD_BLOCKED_BY_UNLOAD (throttled), its waiting requests failed; a later request tries again.
    void give_up_blocked(warmup_model_index model, const char* why, warmup_time_ms now_ms);
    /// Skips `model`'s pre-warm, queued and taken from its queue, that cannot start now (`reason`): counted, recorded
    /// (with the deciding plugin's own words when it gave any).
    void skip_prewarm(warmup_model_index model, const char* reason, const std::string& decided_by,
                      warmup_time_ms now_ms, std::string_view plugin_says = {});
    /// Releases pending_unloads_[index]: its memory leaves used_mb_ and the entry is erased.
    void release_unload(std::size_t index, warmup_time_ms now_ms);
    void start_load(warmup_model_index model, warmup_time_ms now_ms);
    /// Reports the eviction of `victim` (to make room for `for_model`'s need_mb, or NO_MODEL: the budget shrank).
    /// The eviction's decision; `reason` (static storage) when it is not the usual "room for another model's load"
    /// (or "the budget shrank" when for_model is WARMUP_NO_MODEL).
    void record_eviction(warmup_model_index victim, warmup_model_index for_model, double need_mb,
                         const std::string& decided_by, warmup_time_ms now_ms, const char* reason = nullptr);
    void remove_from_memory(warmup_model_index model, bool eviction, warmup_time_ms now_ms);
    /// Why a ready model leaves memory: our unload, our eviction (both send the backend an unload and are counted),
    /// or the server dropped it on its own (reconciliation: nothing sent, nothing counted).
    enum class Removal : uint8_t { Unload, Eviction, Vanished };
    void forget_resident(warmup_model_index model, Removal removal, warmup_time_ms now_ms);
    void set_residency(ModelSlot& state, warmup_residency residency) noexcept {
        state.residency = residency;
        state.residency_sequence = ++residency_sequence_;
    }
    /// A demand load larger than the whole budget: given up at once (counted, logged once per model), its waiting
    /// requests failed.
    void give_up_oversized(warmup_model_index model, warmup_time_ms now_ms);
    void fail_waiters(ModelSlot& state);
    /// The requests waiting for `model`, which is ready now: each one's wait is recorded (cold waits, the metric),
    /// then the list is cleared. Returns how many requests there were (0: none).
    uint64_t serve_waiters(warmup_model_index model, ModelSlot& state, warmup_time_ms now_ms);
    /// Tells the resource plugin that `model` served `requests` requests: on_used_requests where its table has it
    /// (ABI 1.4), else on_used.
    void notify_resource_used(warmup_model_index model, uint64_t requests, warmup_time_ms now_ms);
    /// Records one failed call of `label` (counters, component_errors_, log line). Returns the formatted message.
    const std::string& record_failure(const std::string& label, std::string message);
    /// " (arm <name>)" for an experiment arm's engine (a plugin may serve the control arm and an arm at once), empty
    /// for the control arm's: what the plugin log lines add to the plugin's label.
    [[nodiscard]] std::string arm_note() const;
    /// Outcome of a guarded plugin call.
    enum class CallOutcome : uint8_t { Ok, Tolerated, Failed, CircuitOpen };
    /// Calls `call` (returning warmup_error*) unless the component's circuit is open, timing it against the call
    /// budget and feeding the breaker. An error whose code is `tolerated_code` (e.g. a full queue) is a normal answer,
    /// not a failure; its message lands in tolerated_message_.
    template <class Call>
    CallOutcome guarded_call(ComponentKind kind, const char* what, Call&& call, int tolerated_code = -1);
    template <class Call>
    bool guarded(ComponentKind kind, const char* what, Call&& call) {
        return guarded_call(kind, what, std::forward<Call>(call)) == CallOutcome::Ok;
    }
    /// Marks the calling thread as in the call `what` of the component's plugin until the scope ends (the report of a
    /// fatal signal names it: core/plugin_call_on_thread.hpp). guarded_call marks its calls; the untimed ones (a
    /// resource plugin's notifications, the queue's pop and remove_model) are marked with this.
    [[nodiscard]] PluginCallScope marked(ComponentKind kind, const char* what) const noexcept {
        return PluginCallScope(component_kind_name(kind), component_label(kind), what, &options_.arm);
    }
    /// What a plugin reported failing inside a call that returns no error (warmup/ext/host_call_failure.h; the SDK
    /// reports an exception that escaped such a call so).
    struct ReportedFailure {
        warmup_status code = WARMUP_OK;
        std::string message;
    };
    /// Runs `call`, one plugin call whose C signature returns no error (a resource plugin's notification or budget, a
    /// queue's pop or remove_model), marked as `what` of the component's plugin, and returns the failure the plugin
    /// reported from inside it, if any. Counting it is the caller's (settle_notification), once the engine's own books
    /// are in order: a failure may open the circuit, and a queue's circuit moves the queued items. Control thread.
    template <class Call>
    [[nodiscard]] std::optional<ReportedFailure> notify(ComponentKind kind, const char* what, Call&& call) {
        ReportedCallFailure::Collector collector;
        {
            const auto in_call = marked(kind, what);
            call();
        }
        if (!collector.failed()) return std::nullopt;
        return ReportedFailure{collector.code(), collector.message()};
    }
    /// A notification's outcome for the breaker: a reported failure is a failed call as guarded_call counts a returned
    /// error (PLUGIN_CALL_ERROR, plugin_errors, the component's errors; it feeds the breaker unless the circuit is
    /// already open: notifications go on while it is, and do not restart its cool-down); a success ends that call's
    /// failures in a row while the circuit is closed (a notification is no trial call). Never throws.
    void settle_notification(ComponentKind kind, const char* what, const std::optional<ReportedFailure>& failure,
                             bool trip_now = false) noexcept;
    /// notify, then settle_notification at once: for a call after which the engine's books need nothing more.
    template <class Call>
    void notified(ComponentKind kind, const char* what, Call&& call) {
        settle_notification(kind, what, notify(kind, what, std::forward<Call>(call)));
    }
    /// True when the component may be called: its circuit is closed, or its cool-down is over (this call is then the
    /// trial). The closed case is inline: it is every call's first question.
    bool circuit_allows(ComponentKind kind) {
        return circuits_[static_cast<std::size_t>(kind)].state == CircuitState::Closed || circuit_allows_slow(kind);
    }
    bool circuit_allows_slow(ComponentKind kind);
    /// `what` (a string literal) answered: its failures in a row end; a trial call's success closes the circuit. The
    /// common case (nothing of the component failing: an open circuit always follows a failure) is inline.
    void circuit_succeeded(ComponentKind kind, const char* what) {
        const CircuitStatus& circuit = circuits_[static_cast<std::size_t>(kind)];
        if (circuit.consecutive_failures == 0 && circuit.state == CircuitState::Closed) return;
        circuit_succeeded_slow(kind, what);
    }
    void circuit_succeeded_slow(ComponentKind kind, const char* what);
    /// Counts a failure of `what` (a string literal); opens the circuit when that call has failed the threshold's
    /// number of times in a row, on a failed trial call, or at once with `trip_now`.
    void circuit_failed(ComponentKind kind, const char* what, const std::string& error, bool trip_now = false);
    [[nodiscard]] bool circuit_open(ComponentKind kind) const noexcept {
        return circuits_[static_cast<std::size_t>(kind)].state == CircuitState::Open &&
               circuit_state(kind) == CircuitState::Open;
    }
    warmup_model_index oldest_ready_model(warmup_model_index except) const;
    double estimate_memory_mb(warmup_model_index model, double* load_ms);
    /// When the oldest demand load the queue plugin still holds was queued; nothing when it holds none.
    std::optional<warmup_time_ms> oldest_demand_in_plugin();
    /// Pushes `model`'s queued warm-up (reason, class and time as enqueue_load set them) to the queue plugin, guarded;
    /// a full queue is Tolerated. `load_ms` is the item's cost.
    CallOutcome push_to_queue_plugin(warmup_model_index model, double load_ms);
    /// The speculative loads set aside while requests waited in the built-in queue go back to the queue plugin, to be
    /// ordered among the others again (those it refuses stay in the built-in queue).
    void hand_back_set_aside(warmup_time_ms now_ms);
    /// The performance plugin's estimate for `model`, guarded; an answer with NaN, infinite or negative figures is a
    /// failed call. False when the call failed or the circuit is open (`out` is then not to be used).
    bool estimate(warmup_model_index model, warmup_performance_estimate& out);

    ComponentSet components_;
    LoadExecutor& executor_;
    Catalog& catalog_;
    EngineOptions options_;

    std::vector<ModelSlot> models_;
    TimerHeap timers_;
    std::deque<warmup_model_index> memory_fifo_;  // loads waiting for memory, FIFO (see memory_waiters)
    LogThrottle memory_wait_log_{10'000};         // MEMORY_WAIT_UNLOAD lines, on the engine's clock
    LogThrottle implausible_memory_log_{10'000};  // LOAD_MEMORY_IMPLAUSIBLE lines, on the engine's clock
    LogThrottle blocked_load_log_{10'000};        // LOAD_BLOCKED_BY_UNLOAD lines, on the engine's clock
    // Warm-ups the queue plugin does not hold: its circuit is open, a push failed, or it refused a demand load.
    StrictPriorityQueue fallback_queue_;
    // Models whose item the queue plugin holds (queued_in == Plugin). The plugin may also hold stale items (models
    // moved to the fallback queue or cancelled while its circuit was open); dispatch skips those when it pops them.
    std::size_t queued_in_plugin_ = 0;
    // The demand loads pushed to the queue plugin, in the order they came (model, queued_at_ms): the oldest one still
    // held decides whether the built-in queue's demand loads (refused by the full plugin, so younger) may go first.
    // Entries the plugin no longer holds are dropped when they reach the front.
    std::deque<std::pair<warmup_model_index, warmup_time_ms>> demand_in_plugin_;
    // Pre-warms and retries the queue plugin gave while requests waited in the built-in queue: set aside there, behind
    // the requests, and handed back to the plugin once none waits (dispatch), so that the plugin's later items do not
    // go before them for as long as it holds any.
    std::vector<warmup_model_index> set_aside_;
    // Models whose item stayed in the plugin while its circuit was open (moved to the built-in queue, or cancelled):
    // removed from the plugin once the circuit has closed, so they hold none of its capacity.
    std::vector<warmup_model_index> stale_plugin_items_;
    std::vector<warmup_model_index> touched_;
    uint64_t epoch_ = 0;
    /// Followers a batch's plans named (warmup_prediction.replan_models of the plans made on a use): planned again once
    /// the batch's own plans are made (plan_successions). Control thread; emptied by each batch.
    std::vector<warmup_model_index> successions_;

    double budget_mb_ = 0;
    double used_mb_ = 0;       // ready + loading + unloading
    double ready_mb_ = 0;      // ready only (evictable)
    double unloading_mb_ = 0;  // pending_unloads_' memory (exactly 0 when there is none)
    double overdue_mb_ = 0;    // the part of unloading_mb_ held by timed-out unloads (exactly 0 when there is none)
    // Unloads not over yet, oldest first; only with an executor that confirms unloads (few: each one runs seconds at
    // most, and a failed one lasts until the next listing).
    std::vector<PendingUnload> pending_unloads_;
    uint64_t unload_tickets_ = 0;     // the last ticket handed to start_unload
    bool unloads_confirmed_ = false;  // executor_.confirms_unloads(), read once
    uint32_t in_flight_ = 0;
    uint64_t residency_sequence_ = 0;  // see residency_sequence()
    bool stopped_ = false;
    std::vector<warmup_model_index> restores_kept_by_stop_;  // request_prewarm's models held back by the stop
    bool loads_held_ = false;                // hold_loads(): dispatch starts nothing until release_loads()
    bool budget_shrunk_while_held_ = false;  // set_memory_budget_mb() during a hold: release_loads() says BUDGET_SHRUNK
    warmup_time_ms accounted_until_ms_ = WARMUP_TIME_NEVER;

    EngineCounters counters_;
    std::map<std::string, ComponentErrors, std::less<>> component_errors_;  // only the failure path touches it
    std::array<CircuitStatus, kComponentKinds> circuits_{};
    warmup_time_ms now_ms_ = 0;  // the newest now_ms passed in: the breakers' clock
    std::string tolerated_message_;
    LogHistogram cold_waits_ms_;
    std::vector<warmup_metric_event> pending_metrics_;
    std::vector<warmup_usage_pattern> pattern_scratch_;
    Decision decision_scratch_;  // reused by decision() (only while options_.decisions is set)
    /// The resource plugin's reason for its last refusal (admit = 0), copied from its answer (valid only until its
    /// next call); "" when it gave none. Read by the decisions that refusal leads to (only with options_.decisions).
    std::string refusal_words_;
};

}  // namespace warmup::host
