// runtime/live_runtime.hpp — the daemon's pipeline on the wall clock: bounded ingest queue, one control thread that
// owns every component plugin, and a TBB arena of warm-up workers that call the backend.
//
// Ingest: a caller hands over a whole request's events at once (try_ingest of a span). They are appended under one
// lock to the pending batch, which the control loop swaps out whole at the start of a step, so one request's events
// reach the engines in the same step, in the order given, and producers never spin: they wait at most for another
// append or for the swap, and the control thread is woken once per request (none when a batch is already pending).
//
// Threads:
//  - any thread (HTTP handlers): try_ingest(), call_on_control(), reload(), accepted_events(), catalog().
//  - the control thread: everything that touches an engine or a component plugin.
//  - workers (max_concurrent_warmups of them): backend load/unload only.
//  - the listing thread (one per worker pool): backend list_resident for reconciliation, one listing at a time, so a
//    slow listing never delays a load or an unload.
//
// Experiments: with `experiment.enabled`, the top-level components are the "control" arm and every entry of `arms`
// runs beside it with its own plugin instances and engine. Acting arms split the traffic by a stable hash of the
// tenant (or model) with their weights, and share the memory budget in proportion; shadow arms see every event and
// are scored on it, but their loads are simulated (they never call the backend). All arms record into the control
// arm's metrics plugin with their name as the `arm` label.
#pragma once

#include <tbb/concurrent_queue.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "config/config.hpp"
#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/errors.hpp"
#include "engine/warmup_engine.hpp"
#include "loader/plugin_loader.hpp"
#include "loader/plugin_set.hpp"
#include "runtime/config_file_watcher.hpp"
#include "runtime/experiment_arms.hpp"
#include "runtime/load_workers.hpp"
#include "runtime/sources/sources.hpp"
#include "runtime/state/journal.hpp"
#include "runtime/state/metrics_history.hpp"
#include "runtime/state/snapshot.hpp"
#include "runtime/state/state_lock.hpp"
#include "runtime/state/state_store.hpp"

namespace warmup::host {

/// What a reload did (or why it did nothing). JSON-ready for the HTTP answer.
struct ReloadResult {
    struct SlotChange {
        std::string slot;
        std::string from;  ///< "<id>@<version>"
        std::string to;
        std::string state;  ///< "handed over (<schema>, N bytes)" or "started cold: <why>"
    };
    bool ok = false;
    int http_status = 200;  ///< 200 done, 400 invalid config, 409 nothing to reload, 422 plugin, 500 hand-off
    std::string stage;      ///< on failure: "config", "load", "state"
    std::string error;
    std::vector<SlotChange> changes;  ///< control-arm components replaced; empty: none
    std::vector<std::string> notes;   ///< experiment arms started/stopped, settings that need a restart, budgets
    /// Something in force changed (a component replaced, an experiment arm started or stopped, the budget): the
    /// answer says "reloaded", else "unchanged".
    bool changed = false;
    double pause_us = 0;  ///< how long the control loop stood still to publish the new set
};

/// How many reloads (reload, reload_from_file: HTTP, SIGHUP, file watch; rollback) ended each way since the daemon
/// started. reset_to_safe is an operation of its own and not counted here.
struct ReloadCounts {
    uint64_t reloaded = 0;   ///< something in force changed
    uint64_t unchanged = 0;  ///< succeeded with nothing to change
    uint64_t failed = 0;     ///< the configuration was tried and refused or failed; the running set stayed
    uint64_t refused = 0;    ///< nothing to try: no file to reload (the embedded default), nothing to roll back to, or
                             ///< another reload still running
};

/// Settings that live outside the runtime (the HTTP API's access token) and follow reloads. Both functions run on
/// the reloading thread under the reload lock.
struct ReloadListener {
    /// Why `next` cannot be applied (the reload fails with 400 at stage "config", nothing changes), or nullopt.
    std::function<std::optional<std::string>(const Config& running, const Config& next)> check;
    /// Applies `next` once the reload has succeeded; returns one note per setting changed.
    std::function<std::vector<std::string>(const Config& running, const Config& next)> apply;
};

/// What an operations call did. JSON-ready for the HTTP answer: `status` 200 on success (202 when it is accepted for
/// later, a staged restore), else the HTTP error status with `error`; `facts` are name/value pairs for the answer
/// ("cancelled_warmups": 3); `notes` human-readable lines.
struct OperationResult {
    int http_status = 200;
    std::string error;
    std::vector<std::pair<std::string, double>> facts;
    std::vector<std::string> notes;
    std::string file;  ///< the snapshot or backup file written or read, if any
    [[nodiscard]] bool ok() const noexcept { return http_status == 200; }
    [[nodiscard]] bool accepted() const noexcept { return http_status == 202; }
};

/// One component's health for GET /api/warmup/health/components.
struct ComponentHealth {
    std::string component;  ///< slot key ("predictor"), or "workers", "state", "engine"
    std::string label;      ///< "<id>@<version>" for plugins, "" otherwise
    bool degraded = false;
    std::string reason;   ///< why degraded ("" when ok)
    uint64_t errors = 0;  ///< failed plugin calls since start (workers: timed-out loads; state: failed writes)
    std::string last_error;
    int64_t last_error_unix_ms = 0;      ///< 0 = never
    bool last_error_replaced = false;    ///< plugin components: that error was an instance's replaced since
    std::string circuit;                 ///< plugin components: "closed", "open" or "half-open"; "" otherwise
    std::optional<SourceHealth> source;  ///< sources ("source:<name>"): what the source did since it started
};

/// One arm of the live pipeline. Owned by the runtime; touched only on the control thread.
struct LiveArm {
    enum class Mode { Control, Acting, Shadow };
    uint32_t id = 0;  ///< unique for the runtime's life: late completions of a stopped arm match no arm
    std::string name;
    Mode mode = Mode::Control;
    double weight = 1;
    Arm definition;  ///< as configured (for reload diffs)
    std::unique_ptr<PluginSet> plugins;
    std::unique_ptr<LoadExecutor> executor;
    std::unique_ptr<WarmupEngine> engine;
    /// The control arm's figures in an experiment count from here (GET /api/warmup/experiments): its engine's
    /// counters and the time (unix ms) when a reload started the experiment; 0 = since the daemon started (an
    /// experiment configured at start, or none). An experiment arm counts from its own start (or goes on with what it
    /// had counted when a rollback or a restart gives it back), so counted_from stays empty for it. Control thread.
    EngineCounters counted_from{};
    int64_t counted_since_unix_ms = 0;
    /// The engine's counters since counted_from: the arm's figures in the experiment now.
    [[nodiscard]] EngineCounters counted_in_experiment() const;
};

class LiveRuntime {
  public:
    /// Loads every plugin of `config` (throws StartupError; nothing is started then). Does not start threads.
    explicit LiveRuntime(Config config);
    ~LiveRuntime();
    LiveRuntime(const LiveRuntime&) = delete;
    LiveRuntime& operator=(const LiveRuntime&) = delete;

    void start();
    /// Starts polling the sources of `sources:` (their events go through try_ingest). Call once the daemon
    /// serves (after start_state_keeping, whose journal replay comes before any new event). Sources created before
    /// wait for this; sources a reload adds start at once afterwards.
    void start_sources();
    /// Stops the sources, then the control thread, and waits for running backend calls. Idempotent. Returns false
    /// when the control thread cannot stop because it is stalled in a plugin call (control_stall()): the thread is
    /// then left running, detached, and the caller must end the process without destroying this runtime (warmupd
    /// exits with status 1; the journal holds every event acknowledged up to its last flush). Also false when a
    /// backend unload has run past budgets.unload_timeout_ms (an unload cannot be cancelled): the same holds then.
    bool stop();
    /// [after stop()] Whether the last snapshot or the journal's last write failed at stop: what was learned since
    /// the previous snapshot (or events still buffered) is then not on disk (warmupd exits with status 1).
    [[nodiscard]] bool state_lost_at_stop() const noexcept { return state_lost_at_stop_.load(); }

    /// [any thread but the control thread] Replaces the components whose choice or params changed in `next`,
    /// handing state over where both sides share a state schema, between two control-loop steps; starts, changes
    /// or stops experiment arms. Any failure leaves the running set exactly as it was. Reloads are serialised.
    /// When it turns reload.watch_file on, the watch compares with `next.source_stamp` (the file before `next` was
    /// read from it) where set, else with the file as it is when `next` is put in force.
    ReloadResult reload(Config next);
    /// Records a reload's outcome for the "engine" health component (a failure is said until a reload succeeds).
    void note_reload_outcome(const ReloadResult& result);
    /// Re-reads the configuration file the daemon started with (the file's stamp is taken just before the read:
    /// Config::source_stamp).
    ReloadResult reload_from_file();
    /// Returns to the configuration that was running before the last reload that changed something (one step: a
    /// second rollback in a row answers 409, saying so).
    ReloadResult rollback();
    /// [any, once] Starts reload.watch_file: while the configuration in force has it on (and came from a file), a
    /// change of the file's modification time or size calls `on_change` on the watcher's own thread (warmupd reloads
    /// from the file there). Every reload puts its reload.watch_file and reload.poll_ms in force at once: the watch
    /// starts, stops or changes its interval without a restart. A change saved after the configuration in force was
    /// read (by the daemon's start or by the reload that turned the watch on) is reloaded too, even one saved before
    /// this call. An exception out of `on_change` is logged (CONFIG_RELOAD_FAILED) and the watch goes on. Ended by
    /// stop_config_file_watch() or stop().
    void start_config_file_watch(std::function<void()> on_change) { config_file_watcher_.start(std::move(on_change)); }
    /// [any but the watcher's thread] Ends the watch: no `on_change` call runs once it returns. Idempotent.
    void stop_config_file_watch() { config_file_watcher_.stop(); }
    /// Command-line overrides of http.bind / http.port, re-applied to every configuration read for a reload.
    void set_http_overrides(std::optional<std::string> bind, std::optional<uint16_t> port) {
        bind_override_ = std::move(bind);
        port_override_ = port;
    }

    /// [any] Installs (or, with an empty listener, removes) the listener consulted by every reload and rollback.
    void set_reload_listener(ReloadListener listener) {
        std::lock_guard lock(reload_mutex_);
        reload_listener_ = std::move(listener);
    }

    /// [any] Queues `events` as one batch: they reach the engines together, in one control-loop step. Returns how
    /// many were accepted, always a prefix of `events`: as many as budgets.ingest_queue_capacity leaves room for; the
    /// rest are refused (counted in refused_events(); the caller answers 503). The events are copied.
    /// `count_refusals` false: the rest are not counted as refused, because the caller keeps them and offers them
    /// again (a source waiting for room), so nothing is lost and a retry is not a second refusal.
    std::size_t try_ingest(std::span<const warmup_usage_event> events, bool count_refusals = true);
    /// [any] Why try_ingest refuses events now (a full queue, a journal behind the traffic or unable to write), for
    /// the caller's answer.
    /// `body_events`: the valid events of the request refused in part (one larger than the whole queue is told so).
    [[nodiscard]] std::string ingest_refusal_reason(std::size_t body_events = 0) const;
    /// [any] How many events try_ingest would take now (0 while the journal refuses). Other callers may take room
    /// before this caller's try_ingest: an upper bound, not a reservation.
    [[nodiscard]] std::size_t ingest_room() const;
    /// [any] Queues one usage event; false when the ingest queue is full.
    bool try_ingest(const warmup_usage_event& event) { return try_ingest(std::span(&event, 1)) == 1; }

    /// [any] Runs `work(control arm's engine)` on the control thread between two steps and returns its result.
    /// Throws ControlLoopStalled, instead of waiting on, when the loop is stalled (control_stall()) before it took
    /// `work`: `work` is then never run (it may refer to the caller's locals). Once taken, it is waited for.
    template <class Work>
    auto call_on_control(Work&& work) -> decltype(work(std::declval<WarmupEngine&>())) {
        using Result = decltype(work(std::declval<WarmupEngine&>()));
        enum : int { kPending, kTaken, kAbandoned };
        if (!running_.load()) throw std::runtime_error("the control loop is not running");
        auto task = std::make_shared<std::packaged_task<Result(WarmupEngine&)>>(std::forward<Work>(work));
        auto state = std::make_shared<std::atomic<int>>(kPending);
        auto result = task->get_future();
        commands_.push([task, state](WarmupEngine& engine) {
            int pending = kPending;
            if (state->compare_exchange_strong(pending, kTaken)) (*task)(engine);
        });
        wake();
        while (result.wait_for(kStallCheckInterval) != std::future_status::ready) {
            const auto stall = control_stall();
            if (!stall) continue;
            int pending = kPending;
            if (state->compare_exchange_strong(pending, kAbandoned)) throw ControlLoopStalled(describe(*stall));
            return result.get();  // taken meanwhile: it runs now
        }
        return result.get();
    }

    /// Where the control loop is stuck: in one plugin call, or one step, for longer than budgets.plugin_call_stall_ms.
    struct ControlStall {
        std::string where;  ///< "predictor org.example.predictor@1.0.0: predict", or "a control-loop step"
        int64_t for_ms = 0;
    };
    /// [any] Set while the control loop is stalled, nullopt otherwise.
    [[nodiscard]] std::optional<ControlStall> control_stall() const;
    /// "the control loop is stalled: <where> has not returned for <s> s"
    [[nodiscard]] static std::string describe(const ControlStall& stall);
    /// [any] What a caller waiting on the runtime may wait on for good, said in words: the control loop stalled
    /// (control_stall), or a reload holding the reload lock past budgets.plugin_call_stall_ms (a plugin's
    /// constructor or call that does not return); nullopt otherwise. The daemon's stop asks it while it waits for the
    /// HTTP requests being served (a reload's request holds one).
    [[nodiscard]] std::optional<std::string> stalled_in_plugin() const;

    // ----- Operations (POST /api/warmup/...). [any thread but the control thread]; the control loop must run.

    /// Emergency stop on every arm: no new warm-ups, queued pre-warms cancelled, loaded models kept.
    OperationResult emergency_stop();
    /// Lifts the emergency stop on the running configuration (every model planned again at once) and saves that in
    /// the state folder; nothing else changes (reset_to_safe() also switches to the safe configuration). Without an
    /// emergency stop in force it changes nothing and says so.
    OperationResult resume();
    /// Leaves emergency mode on the safe configuration: the running configuration with the keep-alive predictor
    /// (default TTL), experiments off and half the memory budget, through reload(). A backup named
    /// "before-reset-to-safe" is written first when state is kept. On the safe configuration already (safe_mode()),
    /// it only leaves emergency mode: the budget is not halved again and the backup is not replaced.
    OperationResult reset_to_safe();
    /// [any] True while the configuration in force is the safe one: from reset_to_safe() until a reload or
    /// reload_from_file() puts another in force. A rollback restores the mode with the configuration it goes back
    /// to: into the safe configuration when that ran before the last reload, out of it otherwise.
    [[nodiscard]] bool safe_mode() const noexcept { return safe_mode_.load(); }
    /// The analyzer of every arm forgets what it learned (reset()); the pipeline keeps running.
    OperationResult reset_data_collection();
    /// Replaces the backend worker arena; loads on the old one keep running to their end (or their timeout) and
    /// still complete into the engine.
    OperationResult restart_workers();
    /// [control] Worker pools restart_workers() retired that are still kept (something ran on them when last looked).
    [[nodiscard]] std::size_t retired_worker_pools() const noexcept { return retired_workers_.size(); }
    /// Each control-arm component, the workers, the state store, the engine (emergency stop, safe mode) and each
    /// source ("source:<name>": degraded while its polls fail).
    std::vector<ComponentHealth> component_health();
    /// [any] Each source's health, in configuration order.
    [[nodiscard]] std::vector<NamedSourceHealth> source_health() const { return sources_->health(); }

    // ----- Durable state

    /// Locks config().state.dir for this runtime's life (StateDirLock: one daemon per folder), before start(): a
    /// daemon that cannot have the folder then stops before its control loop talks to any model server. No-op when
    /// state is disabled or the folder is locked already. Throws as start_state_keeping.
    void claim_state_dir();
    /// Locks config().state.dir if claim_state_dir did not already, restores the newest
    /// valid snapshot or backup (restore_newest_snapshot), replays the event journal written after it
    /// (state.journal), and starts the periodic snapshot thread and the journal's flush thread; stop() takes a last
    /// snapshot and flushes the journal. No-op when state is disabled. Call after start(), before serving. Returns the
    /// restored file. Throws StateDirBusy when another daemon holds the folder (nothing in it is touched then),
    /// std::system_error when the folder cannot be created.
    std::optional<std::filesystem::path> start_state_keeping();
    /// The state of every control-arm component with the state extension, the catalog's model table and the warm
    /// set. A component whose export fails is left out and described in `notes` (and logged STATE_EXPORT_ERROR).
    /// With a journal, the events accepted and not yet taken by the control loop are taken first and the journal
    /// starts a new segment at the same instant, so the snapshot holds exactly the events of the segments before it.
    /// Everything goes to `out` as it is produced (a SnapshotFileWriter: nothing of the state is held in memory).
    void capture_state(SnapshotSink& out, std::vector<std::string>* notes = nullptr);
    /// The same capture as a Snapshot in memory.
    Snapshot capture_state(std::vector<std::string>* notes = nullptr);
    /// Imports `snapshot` into the arms: sections whose slot and schema match a running plugin (an experiment arm's
    /// into the running arm of its name); then queues pre-warms of each arm's warm set and asks the scheduler to plan
    /// every restored model. Refused (409, nothing
    /// imported) when the snapshot's model table disagrees with this daemon's catalog indexes. `at_start`: the
    /// daemon's own state at start, whose emergency stop (if one was in force when it was written) is put in force
    /// again; an operator's restore (false) leaves the emergency stop as it is.
    OperationResult restore_state(const Snapshot& snapshot, bool at_start = false);
    /// Why `models` (a snapshot's model table) cannot keep their indexes in this catalog, or nullopt: an index that
    /// names another model here, a model numbered here at another index, or one the catalog does not cover. With
    /// `suggest_next_start` an order problem says how to restore the backup at the next start. Numbers nothing.
    [[nodiscard]] std::optional<std::string> model_order_problem(const std::vector<std::string>& models,
                                                                 bool suggest_next_start = false) const;
    /// Writes backup-<name>.wsnap (name "" = "at-<unix_ms>", or "at-<unix_ms>-<n>" when that backup exists: every
    /// unnamed backup is a file of its own). 400 for a name that cannot name a backup; 409 when state is disabled, or
    /// when a backup of that name exists and `overwrite` is false (nothing is written then). [any] Concurrent calls
    /// are serialised: of several for one new name without `overwrite`, exactly one writes it, the others get 409.
    OperationResult backup_state(const std::string& name, bool overwrite = false);
    /// Restores backup `name` ("" = the newest backup). 400 for a name that cannot name a backup, 404 when there is
    /// no such backup. `at_next_start`: checks that the backup reads and stages it for the next start instead (202),
    /// which restores it before anything else: the way back to a state whose models this run numbers in another
    /// order (a start that refused it, then numbered the models it saw as they came).
    OperationResult restore_backup(const std::string& name, bool at_next_start = false);
    /// At start: restores the backup an operator staged for it, else the newest valid periodic snapshot or backup,
    /// whichever was taken last; corrupt or truncated snapshots are logged (STATE_RESTORE_ERROR) and skipped. Returns
    /// the restored file, or nullopt;
    /// `created_unix_ms` (when given) receives its creation time (0 when nothing was restored).
    std::optional<std::filesystem::path> restore_newest_snapshot(uint64_t* created_unix_ms = nullptr);
    /// Logs `problem` (STATE_RESTORE_ERROR) and adds it to what the degraded `state` component says about the state
    /// restored at start (start_restore_problem_). Any thread.
    void note_start_restore_problem(const std::string& problem);
    /// At start, after restore_newest_snapshot: feeds the control arm the journal's events written after the state
    /// created at `base_ms` (learned at their own timestamps, as history) and restores the counters of the newest
    /// checkpoint among them. A torn or corrupt record ends its segment's replay with a JOURNAL_TORN log line.
    /// Returns the number of events replayed.
    uint64_t replay_journal(uint64_t base_ms);
    /// Writes the journal's buffer and syncs it (the journal thread does this every kJournalFlushIntervalMs, after
    /// a checkpoint of the counters). No-op without a journal.
    void flush_journal();
    /// Takes a periodic snapshot now (the snapshot thread does this every snapshot_interval_s) and appends the
    /// counters to the metrics history.
    OperationResult snapshot_now();
    /// The state folder, or nullptr when state is disabled or not started.
    [[nodiscard]] StateStore* state_store() noexcept { return state_store_.get(); }
    [[nodiscard]] MetricsHistory* metrics_history() noexcept { return history_.get(); }
    /// The event journal, or nullptr when state or state.journal is off or not started.
    [[nodiscard]] EventJournal* journal() noexcept { return journal_.load(); }

    /// [any] Reload outcomes since start (for /metrics).
    [[nodiscard]] ReloadCounts reload_counts() const noexcept {
        return {reloads_changed_.load(), reloads_unchanged_.load(), reloads_failed_.load(), reloads_refused_.load()};
    }
    /// [any] A fleet node's test of which models it owns (by name; called on the control thread): a restore's warm
    /// set loads, and its fresh plans are made for, those models only.
    void set_warm_set_owner(std::function<bool(const std::string&)> owned_here);
    /// [any] Loads the warm set the start restored, if not loaded yet (a fleet node's wait for its first placement);
    /// returns the pre-warms queued.
    std::size_t load_pending_warm_sets();
    /// [any] When the state the start restored (a snapshot or backup of its state folder) was taken (Unix ms);
    /// nullopt when the start restored none.
    [[nodiscard]] std::optional<int64_t> restored_state_created_unix_ms() const noexcept {
        const int64_t at = restored_state_created_unix_ms_.load();
        return at > 0 ? std::optional<int64_t>(at) : std::nullopt;
    }
    /// [any] Creation time of the newest periodic snapshot written or restored (Unix ms); nullopt when none yet.
    [[nodiscard]] std::optional<int64_t> last_snapshot_unix_ms() const noexcept {
        const int64_t at = last_snapshot_unix_ms_.load();
        return at > 0 ? std::optional<int64_t>(at) : std::nullopt;
    }

    /// [any] Reconciliation drift since start: models adopted (resident on the server, unknown to the books) and
    /// models gone (in the books, not on the server); listings that failed.
    [[nodiscard]] uint64_t reconcile_drift_adopted() const noexcept { return drift_adopted_.load(); }
    [[nodiscard]] uint64_t reconcile_drift_gone() const noexcept { return drift_gone_.load(); }
    /// [any] Models the server holds that no catalog entry covers (another client's), each counted when first seen,
    /// and the memory those listed now hold (MiB, as the server reports it): the budget left to the catalog's models
    /// is lowered by it.
    [[nodiscard]] uint64_t reconcile_foreign_seen() const noexcept { return drift_foreign_.load(); }
    [[nodiscard]] double foreign_memory_mb() const noexcept { return foreign_mb_.load(); }
    [[nodiscard]] uint64_t reconcile_failures() const noexcept { return reconcile_failures_.load(); }
    /// [any] Backend unloads that failed since start (the model may still be on the server).
    [[nodiscard]] uint64_t unloads_failed() const noexcept { return unloads_failed_.load(); }
    /// [any] Backend unloads that ran past budgets.unload_timeout_ms since start (each counted once, when it did).
    [[nodiscard]] uint64_t unload_timeouts() const noexcept { return timed_out_unloads_.load(); }
    /// [any] Backend unloads past budgets.unload_timeout_ms whose call has not returned yet, on every worker pool (as
    /// of the control loop's last step).
    [[nodiscard]] uint64_t unloads_overdue() const noexcept { return unloads_overdue_.load(); }

    [[nodiscard]] uint64_t accepted_events() const noexcept { return accepted_events_.load(); }
    [[nodiscard]] uint64_t refused_events() const noexcept { return refused_events_.load(); }
    /// [any] Posted events refused for their content (400: unknown model, bad line, a time too far ahead), counted
    /// by the events endpoint since this start; refused_events() counts the ones a full queue refused.
    [[nodiscard]] uint64_t invalid_events() const noexcept { return invalid_events_.load(); }
    void count_invalid_events(uint64_t events) noexcept { invalid_events_.fetch_add(events); }
    /// [any] Events a full queue refused that were not offered to try_ingest (which counts its own refusals): the
    /// events endpoint refuses those past ingest_room() without offering them.
    void count_refused_events(uint64_t events) noexcept { refused_events_.fetch_add(events); }
    /// [any] Events accepted and not yet taken by the control loop. Once it reads 0, a call_on_control started
    /// afterwards runs after every event accepted before has reached the engines (a loop step takes the ingest queue
    /// and hands it to the engines before it runs commands).
    [[nodiscard]] std::size_t ingest_backlog() const noexcept { return ingest_backlog_.load(); }
    [[nodiscard]] Catalog& catalog() noexcept { return catalog_; }
    /// [any] Whether `model` is not covered by the catalog in force but is by the one a reload read, which takes
    /// effect at the next start (an event for it is refused now: the answer says so).
    [[nodiscard]] bool covered_only_at_next_start(std::string_view model) const;
    /// [any] Every arm's decisions with their reasons (a bounded ring; thread-safe).
    [[nodiscard]] const DecisionLog& decisions() const noexcept { return decisions_; }
    /// [any] The names of the arms running now: "control", then the experiment's arms.
    [[nodiscard]] std::vector<std::string> arm_names() const {
        std::lock_guard lock(arm_names_mutex_);
        return arm_names_;
    }
    [[nodiscard]] const Clock& clock() const noexcept { return clock_; }
    /// [any] Which plugin call the control thread is in (read by warmupd's crash report).
    [[nodiscard]] const PluginCallWatch& call_watch() const noexcept { return call_watch_; }
    /// The configuration the daemon started with (HTTP settings; immutable).
    [[nodiscard]] const Config& config() const noexcept { return config_; }
    /// Only on the control thread (inside call_on_control): the control arm's plugins, and every arm.
    [[nodiscard]] const PluginSet& plugins() const noexcept { return *arms_.front()->plugins; }
    [[nodiscard]] const std::vector<std::unique_ptr<LiveArm>>& arms() const noexcept { return arms_; }
    /// Only on the control thread: the experiment in force ("" split when none).
    [[nodiscard]] const ExperimentConfig& experiment() const noexcept { return experiment_; }

  private:
    /// [control] Starts a backend listing when reconcile.interval_ms has passed since the last one (none in flight).
    void maybe_start_reconcile(std::chrono::steady_clock::time_point now);
    /// [control] Reconciles every acting arm's books with `listing` (see WarmupEngine::reconcile); counts and logs
    /// the drift (RECONCILE_DRIFT).
    void apply_reconcile(const ResidentListing& listing);

    /// Where the workers hand completions and listings to the control thread.
    WorkerOutbox worker_outbox();
    void control_loop();
    // ----- The steps of one control-loop iteration, in order [control]. Each "take" returns whether it did work.
    /// Cancels the loads past budgets.warmup_timeout_ms on every worker pool and counts them.
    void expire_timed_out_loads();
    /// Reports the unloads that have just run past budgets.unload_timeout_ms on any worker pool (MODEL_UNLOAD_TIMEOUT,
    /// counted) to the engine that charges each (WarmupEngine::on_unload_timed_out), and refreshes unloads_overdue().
    void expire_timed_out_unloads();
    /// [control] Drops the retired worker pools on which nothing can run any more (LoadWorkers::finished).
    void drop_finished_pools();
    /// [control] The arm whose engine charges the unload that arm `arm_id` started with `ticket` now, and its ticket
    /// there: that arm, or the one a stopped arm's unload was handed to (hand_over_unloads), following hand-overs.
    /// {nullptr, 0} when no arm charges it. `consume`: the unload is answered, its hand-over entries are dropped.
    std::pair<LiveArm*, uint64_t> unload_owner(uint32_t arm_id, uint64_t ticket, bool consume);
    /// Hands finished loads to their arm's engine (an arm stopped by a reload matches none: dropped).
    bool take_completions();
    /// Swaps the pending ingest batch out (handing `batch`'s buffer back to producers) and feeds it to the arms.
    bool take_ingested(std::vector<warmup_usage_event>& batch, std::vector<std::vector<warmup_usage_event>>& per_arm);
    /// Completes due simulated loads of shadow arms and runs due engine timers; lowers `next_ms` to the next one.
    bool run_due_timers(warmup_time_ms now_ms, warmup_time_ms& next_ms);
    /// Applies the backend listings that arrived (reconciliation).
    bool take_listings();
    /// [control] Finished unloads from the workers, handed to the engine that started each (a successful one frees
    /// its memory). A failed one is counted and a listing asked for soon, which settles the memory the engine keeps
    /// charged for it (charged again as the model found on the server, and unloaded again when its keep says so);
    /// when no listing can come (reconciliation off, a backend that cannot list), the engine lets that memory go.
    bool take_unload_completions();
    /// [control] Lets every acting arm's engine release the memory of the failed unloads no listing will settle,
    /// logging each model concerned (`why`: the reason no listing comes).
    void release_unsettled_unloads(warmup_model_index model, const char* why);
    /// Runs the queued call_on_control commands on the control arm's engine (metrics flushed first).
    void run_commands();
    /// [control] Feeds one batch of ingested events to the arms: history (older than ingest.request_window_ms) is
    /// learned, the rest are requests; see the comments inside. Reorders and clamps `batch` in place.
    /// Each event is history or a request as try_ingest marked it when it was accepted (kHistoryMark in `reserved`,
    /// set back to 0 here): a loop held up by a slow plugin call does not turn the requests that waited into history.
    void ingest_batch(std::vector<warmup_usage_event>& batch, std::vector<std::vector<warmup_usage_event>>& per_arm);
    /// try_ingest's mark, in an accepted event's `reserved` field until ingest_batch reads it, of an event older than
    /// the request window when it was accepted.
    static constexpr uint32_t kHistoryMark = 1;
    void wake();
    /// [control] Worker threads per arena: max_concurrent_warmups of the configuration the daemon started with
    /// (restart-only, as the engines' concurrency limit).
    [[nodiscard]] uint32_t running_config_workers() const noexcept { return config_.max_concurrent_warmups; }
    /// [control] Loads started on any worker arena and not answered yet.
    std::size_t loads_running_on_workers();
    /// Applies `next` (see reload()); `safe`: `next` is the safe configuration (reset_to_safe, or a rollback to it).
    ReloadResult apply(Config next, bool is_rollback, bool safe);
    /// A reload's new plugins, loaded and started beside the running ones (nothing published yet).
    struct PreparedReload {
        std::unique_ptr<PluginSet> control;
        std::vector<std::unique_ptr<PluginSet>> validated_arms;  // keeps their libraries loaded until published
        Sources::Prepared sources;
    };
    /// What publishing a reload on the control thread did; !ok: nothing was published.
    struct PublishedReload {
        bool ok = true;
        std::string error;
        std::vector<ReloadResult::SlotChange> changes;
        std::vector<std::string> notes;
        bool changed = false;
        double pause_us = 0;
    };
    /// [reloading thread, under reload_mutex_] Loads and starts `next`'s plugins and sources. Throws on failure.
    PreparedReload prepare_reload(const Config& next, bool is_rollback);
    /// [control] Hands state over, swaps the control arm's plugins and the experiment arms, assigns budgets and
    /// re-plans; on failure leaves the running set as it was. `safe`: `next` is the safe configuration.
    PublishedReload publish_reload(WarmupEngine& engine, const Config& next, std::unique_ptr<PluginSet>& next_control,
                                   bool budget_changed, bool is_rollback, bool safe);
    /// [under reload_mutex_] Makes `next` the running configuration, `safe` the safe mode, and the old configuration
    /// with its mode the rollback target when something changed.
    void put_in_force(Config next, bool is_rollback, bool changed, bool safe);
    /// Counts `result` in reload_counts() and returns it.
    ReloadResult counted(ReloadResult result) noexcept;
    /// Counts a request that had no configuration to try (ReloadCounts::refused) and returns it.
    ReloadResult counted_refusal(ReloadResult result) noexcept;
    /// Builds the non-control arms of `config` (reusing unchanged ones from `current`). Throws StartupError.
    std::vector<std::unique_ptr<LiveArm>> build_experiment_arms(const Config& config,
                                                                std::vector<std::unique_ptr<LiveArm>>& current);
    std::unique_ptr<LiveArm> make_arm(const Arm& arm, LiveArm::Mode mode, const Config& config);
    /// [control] The listing's models no catalog entry covers, by name with their MiB: logged as they come and go,
    /// their memory taken off the budget (assign_budgets).
    void note_foreign_models(std::map<std::string, double> foreign);
    /// [control or before start] Shares `total_mb` (the configured budget) less the memory of the server's models no
    /// catalog entry covers (foreign_mb_) among the arms, and keeps it for the next listing to share again.
    void assign_budgets(double total_mb);
    void route(const warmup_usage_event& event, std::vector<std::vector<warmup_usage_event>>& per_arm) const;
    /// [control] The acting arm the split sends `key` (a model name's or tenant's hash) to: an index into arms_.
    [[nodiscard]] std::size_t acting_arm_for(uint64_t key) const;
    /// [control] The acting arm that serves `model` now (split by model: its arm; by tenant: the first acting arm).
    [[nodiscard]] std::size_t arm_serving(warmup_model_index model) const;
    /// [control] The ready models of `stopped` (an acting arm a reload stopped) go into the books of the arms that
    /// serve them now (adopt_resident): they are still loaded on the backend. Returns how many were taken.
    std::size_t hand_over_resident(const LiveArm& stopped);
    /// [control] Split by model, the arms of a running experiment change (started, weights, arms added or stopped):
    /// a model arms_[arm] has ready but another arm now serves (its events go there) is handed to that arm, which
    /// adopts it; the server keeps it, nothing is unloaded. Else both arms would charge it, and the one that no
    /// longer sees its requests would unload it under the other. Returns 1 when `model` was handed over.
    std::size_t hand_over_to_serving_arm(std::size_t arm, warmup_model_index model);
    /// [control] hand_over_to_serving_arm for every arm and model. Returns how many were handed over.
    std::size_t hand_over_to_serving_arms();
    /// [control] The unloads `stopped` (an acting arm a reload stopped) still charges (running, timed out or failed)
    /// go into the books of the arms that serve their models now (adopt_unload), so their memory stays charged until
    /// the backend answers (or a listing settles a failed one); their answers are routed there (unload_owner).
    /// Returns how many were handed over.
    std::size_t hand_over_unloads(const LiveArm& stopped);
    /// [control] Takes the events accepted and not yet taken (under the ingest lock, so no producer appends
    /// meanwhile), runs `under_lock()` still under it, then feeds the taken events to the engines.
    void take_pending_events(const std::function<void()>& under_lock);
    /// [control] The metrics plugin's state, each experiment arm's counters and the control engine's counters (last),
    /// as snapshot sections (ingest totals as given).
    std::vector<SnapshotSection> counter_sections(WarmupEngine& engine, uint64_t accepted, uint64_t refused,
                                                  std::vector<std::string>* problems);
    /// What a restore read of an experiment arm: the running arm it restored (null when no arm of that name, mode
    /// and definition runs: its sections were skipped), whether it was acting, the models it held (to load again)
    /// and how many of its sections were taken (imported, or counters kept on a running daemon).
    struct RestoredArm {
        LiveArm* arm = nullptr;
        bool acting = false;
        std::vector<std::string> warm_models;
        std::size_t sections_taken = 0;
    };
    /// What a restore loads again once its sections are in: the control arm's warm set (and whether its state was
    /// restored, so every model is planned again), each experiment arm's, and the snapshot's model count.
    struct WarmSetsToLoad {
        std::vector<std::string> control;
        bool plan_control = false;
        std::vector<RestoredArm> arms;
        std::size_t snapshot_models = 0;
    };
    /// [control] Queues the warm sets of `sets` as pre-warms (restore of the warm set), each model in the arm that
    /// held it, or, when a split by model now sends its events to another arm or its arm no longer runs, in the arm
    /// that serves it now (handed over: kept for the built-in keep-alive until its first request there); a shadow
    /// arm's models only in that arm. Then plans every other model of each restored arm. Returns the pre-warms queued.
    std::size_t load_warm_sets_again(const WarmSetsToLoad& sets);
    /// [control] Whether `model`'s plan, asked now, would unload it at once: its keep after its last use has passed
    /// and no pre-warm window of it is open. False when the analyzer or the predictor cannot answer.
    [[nodiscard]] static bool keep_has_passed(WarmupEngine& engine, warmup_model_index model, warmup_time_ms now_ms);
    /// [control] Imports snapshot sections: the control arm's plugins and counters (engine, metrics plugin), and each
    /// experiment arm's ("arm:<name>:<slot>", "arm:<name>:engine") into the running arm of the same name, mode and
    /// definition. Returns the problems (empty on success); `notes` gets one line per section imported or skipped;
    /// `emergency_stop` (when given) receives whether the engine section says an emergency stop was in force (left
    /// unset without one). `counters_kept` (when given): the counters running now are kept, not set back (an
    /// operator's restore on a live daemon: counters never go backwards within a process, which Prometheus would read
    /// as a reset); the sections holding only counters (the engines' and the metrics slot's) are skipped and counted
    /// there. `restored_arms` (when given) receives what was read of each experiment arm.
    std::vector<std::string> import_counter_sections(WarmupEngine& engine, std::span<const SnapshotSection> sections,
                                                     std::vector<std::string>* notes, std::size_t* imported,
                                                     std::optional<bool>* emergency_stop = nullptr,
                                                     std::size_t* counters_kept = nullptr,
                                                     std::vector<RestoredArm>* restored_arms = nullptr);
    /// [control] The experiment arms' sections for import_counter_sections, arm by arm (arm_state.cpp). With
    /// `restored_arms` (a restore, not a journal checkpoint), the sections of an arm no running arm has the name of
    /// are kept in stopped_arms_ for the reload or restart that starts it again.
    void import_arm_sections(std::span<const SnapshotSection* const> sections,
                             const std::function<void(std::string)>& note, std::vector<std::string>& import_errors,
                             std::size_t* imported, std::size_t* counters_kept,
                             std::vector<RestoredArm>* restored_arms);
    /// Whether `section` is an experiment arm's ("arm:<name>:<part>").
    [[nodiscard]] static bool is_arm_section(const SnapshotSection& section);
    /// [control] `arm`'s state as snapshot sections to `out`: its engine's first ("arm:<name>:engine": its mode, its
    /// definition's fingerprint, its counters and, with `with_warm_set`, the models it holds), then, with
    /// `with_plugins`, each plugin's ("arm:<name>:<slot>"; not the shared metrics plugin's). Export failures go to
    /// `problems`.
    /// [control] The warm set a snapshot keeps for `arm`: what its engine holds (WarmupEngine::in_warm_set), then the
    /// models of the warm set restored at start that are still waiting for the journal's replay or the cluster's
    /// first view (warm_sets_after_journal_), so a snapshot taken meanwhile does not forget them.
    [[nodiscard]] std::vector<std::string> warm_set_of(const LiveArm& arm) const;
    void write_arm_sections(const LiveArm& arm, SnapshotSink& out, bool with_plugins, bool with_warm_set,
                            std::vector<std::string>& problems);
    /// [control, in a reload] Keeps the state of the arms `stopped` (the reload's stopped or replaced arms) in
    /// stopped_arms_, each replacing what was kept under its name.
    void keep_stopped_arms(std::span<const std::unique_ptr<LiveArm>> stopped);
    /// [control, in a reload] Gives each arm in `started` (just started by the reload) the state kept under its name
    /// when the arm kept there has its mode and definition, and forgets that kept arm. One note per arm.
    void take_back_stopped_arms(std::span<LiveArm* const> started, std::vector<std::string>& notes);
    /// [control] Puts every arm in emergency stop, or out of it (then every model is planned again), when it is not
    /// already so. At start only: the stop saved with the state.
    void set_emergency_stop(bool stopped);
    /// [journal thread] Appends a checkpoint of the counters to the journal when they changed since the last one and,
    /// for a large one, when it is due (kJournalSmallCheckpointBytes); `forced`: whenever they changed (at stop).
    void checkpoint_journal(bool forced);
    /// Counts a failed state write for the "state" health component: a snapshot's (`snapshot`) or a journal write's.
    void note_state_error(const std::string& error, bool snapshot);

    Config config_;  // as the process started with it; never changed (restart-only keys stay at these values)
    SystemClock clock_;
    Catalog catalog_;
    DecisionLog decisions_;  // every engine reports here (EngineOptions::decisions); outlives the arms
    /// A folder removed (with what is in it) when the owner goes, a constructor that throws included.
    struct RemovedWithOwner {
        std::filesystem::path path;
        ~RemovedWithOwner() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);  // mapped libraries stay valid after unlink
        }
    };
    std::filesystem::path plugin_cache_dir_;  // content-addressed library copies, removed with the runtime
    RemovedWithOwner plugin_cache_removal_{plugin_cache_dir_};  // also when a plugin refuses the start
    PluginLoader loader_;
    std::unique_ptr<LoadWorkers> workers_;
    std::vector<std::unique_ptr<LiveArm>> arms_;  // [0] is the control arm; changed only on the control thread
    ExperimentConfig experiment_;                 // control thread
    std::vector<std::size_t> acting_;             // indexes of acting arms (control first), control thread
    std::vector<double> acting_cumulative_;       // cumulative weight shares in [0, 1]
    uint32_t next_arm_id_ = 0;                    // control thread (or constructor)
    mutable std::mutex arm_names_mutex_;
    std::vector<std::string> arm_names_;  // arms_' names for any thread (under arm_names_mutex_; set by assign_budgets)

    // Events accepted and not yet taken by the control loop, at most config_.ingest_queue_capacity. Producers (any
    // thread) append a whole request under ingest_mutex_; the control thread swaps the vector out whole and owns
    // what it took until its next swap hands the emptied buffer back. ingest_backlog_ is the vector's size, written
    // under the lock and read without it.
    mutable std::mutex ingest_mutex_;
    std::vector<warmup_usage_event> ingest_pending_;  // under ingest_mutex_; `reserved` holds kHistoryMark or 0
    /// The room of ingest_room(); caller holds ingest_mutex_.
    [[nodiscard]] std::size_t ingest_room_locked() const;
    std::atomic<std::size_t> ingest_backlog_{0};
    tbb::concurrent_queue<LoadCompletion> completions_;
    tbb::concurrent_queue<ResidentListing> listings_;  // listing thread -> control: listings for reconciliation
    tbb::concurrent_queue<UnloadCompletion> unload_completions_;  // worker -> control: finished backend unloads
    std::atomic<uint64_t> unloads_failed_{0};
    // The backend's failed calls (loads, unloads, listings), for its health: the engine's error counts see only the
    // plugins it calls itself. Any thread, under backend_trouble_mutex_.
    std::mutex backend_trouble_mutex_;
    uint64_t backend_errors_ = 0;
    std::string backend_last_error_;
    int64_t backend_last_error_unix_ms_ = 0;
    void note_backend_error(const std::string& error);
    /// The backend's failed calls into its health entry (degraded while the last is recent).
    void add_backend_trouble(ComponentHealth& backend, int64_t now_ms);
    /// [control] The "workers" health entry: loads past budgets.warmup_timeout_ms (degraded while the last is
    /// recent) and unloads past budgets.unload_timeout_ms (degraded while one has not returned).
    ComponentHealth workers_health(int64_t now_ms);

    // Reconciliation (reconcile.interval_ms). The control thread starts at most one listing at a time.
    std::atomic<int64_t> reconcile_interval_ms_{10000};    // follows the running config
    bool reconcile_in_flight_ = false;                     // control thread
    bool reconcile_unsupported_ = false;                   // control thread: the backend said it can never list
    const void* reconcile_unsupported_backend_ = nullptr;  // control thread: ... for this backend instance
    std::chrono::steady_clock::time_point reconcile_last_start_{};  // control thread
    // Control thread: a listing wanted before the interval is up (after a failed unload), not before this time.
    std::optional<std::chrono::steady_clock::time_point> reconcile_early_{};
    // Control thread: models whose unload failed, with the error, until a listing has settled them (named in the
    // drift it logs).
    std::map<warmup_model_index, std::string> unload_failed_models_;
    std::map<uint32_t, uint64_t> reconcile_sequences_;  // control thread: arm id -> residency sequence at start
    // Control thread: running unloads of arms a reload stopped, handed to another arm: (stopped arm id, its ticket)
    // -> (arm id, ticket there). Each waits for the one answer of its backend call, which removes it (unload_owner);
    // a failed unload, already answered, is handed over without an entry (a listing settles it).
    std::map<std::pair<uint32_t, uint64_t>, std::pair<uint32_t, uint64_t>> unload_handovers_;
    std::atomic<uint64_t> drift_adopted_{0};
    std::atomic<uint64_t> drift_gone_{0};
    std::atomic<uint64_t> drift_foreign_{0};
    // Control thread: the server's models no catalog entry covers, by name, with the MiB the server reports (0:
    // not reported), from the last listing; their sum is foreign_mb_ (read anywhere), taken off the budget.
    std::map<std::string, double> foreign_models_;
    std::atomic<double> foreign_mb_{0};
    double configured_budget_mb_ = 0;  // control thread: the total last given to assign_budgets
    std::atomic<uint64_t> reconcile_failures_{0};
    tbb::concurrent_queue<std::function<void(WarmupEngine&)>> commands_;
    std::atomic<uint64_t> accepted_events_{0};
    std::atomic<uint64_t> refused_events_{0};
    std::atomic<uint64_t> invalid_events_{0};

    // Serialises reloads, rollbacks and reset-to-safe. Timed: a reload stuck in a plugin constructor that does not
    // return holds it for good, and the next ones are refused (lock_reloads) rather than left waiting.
    std::timed_mutex reload_mutex_;
    // One reset-to-safe at a time, from its look at safe mode to its end: it applies the safe configuration (halving
    // the budget) without holding reload_mutex_ throughout, and two at once would each find the daemon out of safe
    // mode and each halve it. Taken before reload_mutex_, never while holding it.
    std::timed_mutex reset_to_safe_mutex_;
    std::atomic<int64_t> reload_started_ns_{0};  // steady clock ticks when the reload holding the lock began; 0: none
    std::atomic<bool> reload_creating_plugins_{false};  // that reload is creating its plugins (prepare_reload)
    /// [any] reload_mutex_, or an empty lock when a reload has held it for longer than budgets.plugin_call_stall_ms.
    std::unique_lock<std::timed_mutex> lock_reloads();
    /// Why lock_reloads() gave up, for the refusal.
    [[nodiscard]] std::string reload_busy_message() const;
    /// [any] How long the reload holding the lock has run, once that is past budgets.plugin_call_stall_ms; nullopt
    /// otherwise, and with `creating_plugins_only` also while it is past creating its plugins (the stall nothing
    /// else reports: a constructor that does not return; a plugin call that does not return is the control loop's).
    [[nodiscard]] std::optional<std::chrono::steady_clock::duration> reload_stall(bool creating_plugins_only) const;
    Config running_config_;  // the configuration in force (under reload_mutex_)
    /// The catalog of the configuration a reload put in force when it differs from the one the process started
    /// with (catalogs change at a restart only), else null. Read by any thread (covered_only_at_next_start).
    std::shared_ptr<const Catalog> catalog_at_next_start_;  // under catalog_at_next_start_mutex_
    mutable std::mutex catalog_at_next_start_mutex_;
    // Follows running_config_'s reload.* (put_in_force configures it under reload_mutex_, possibly on its own thread:
    // configure() never waits for that thread). Turned on by a configuration just read from the file (at start or by
    // reload_from_file), it compares with the stamp the file had just before that read (Config::source_stamp), so an
    // edit saved while the reload or the start was under way is reloaded. Stopped first by stop().
    ConfigFileWatcher config_file_watcher_;
    /// The control arm's plugin set that the last reload replacing a component replaced (not a rollback): a rollback
    /// takes its instances back with what they had learned. Written on the control thread while a reload waits
    /// under reload_mutex_, read under it.
    std::unique_ptr<PluginSet> before_last_reload_;
    /// The experiment arms reloads stopped or replaced (a rollback's included), by name (the last one stopped under
    /// each name), as they were when stopped: their definition and their state as arm sections (their plugins', their
    /// counters; their models went to the arms that serve them). A reload, a rollback or a restart that starts an arm
    /// of the same name, mode and definition gives it this state back (take_back_stopped_arms; the snapshots carry the
    /// sections of those whose name no running arm has). Control thread.
    struct StoppedArm {
        Arm definition;
        std::vector<SnapshotSection> sections;
    };
    std::vector<StoppedArm> stopped_arms_;
    /// The warm sets the state restored at start loads once the journal is replayed (start_state_keeping). Control
    /// thread.
    std::optional<WarmSetsToLoad> warm_sets_after_journal_;
    /// set_warm_set_owner()'s test, or empty (every model). Control thread.
    std::function<bool(const std::string&)> warm_set_owner_;
    std::optional<Config> previous_config_;  // for rollback (under reload_mutex_)
    bool previous_safe_ = false;             // previous_config_ is the safe configuration (under reload_mutex_)
    bool rolled_back_ = false;        // the configuration in force was put there by a rollback (under reload_mutex_)
    ReloadListener reload_listener_;  // under reload_mutex_
    std::atomic<uint64_t> reloads_changed_{0};
    std::atomic<uint64_t> reloads_unchanged_{0};
    std::atomic<uint64_t> reloads_failed_{0};
    std::atomic<uint64_t> reloads_refused_{0};
    /// The last reload of the configuration that failed, and when (unix ms), until a reload succeeds: the "engine"
    /// health component says the configuration asked for is not in force. Under reload_outcome_mutex_.
    std::string last_reload_failure_;
    int64_t last_reload_failure_unix_ms_ = 0;
    bool last_reload_failure_busy_ = false;  // refused for a reload still running (the stall says it while it lasts)
    mutable std::mutex reload_outcome_mutex_;
    std::optional<std::string> bind_override_;
    std::optional<uint16_t> port_override_;

    std::atomic<bool> safe_mode_{false};  // written under reload_mutex_ (put_in_force), read anywhere
    // The plugins in force are the safe configuration's: set on the control thread with the swap itself (safe_mode_
    // follows a little later, on the reloading thread), for what a snapshot keeps. Control thread.
    bool safe_plugins_in_force_ = false;

    // The sources of `sources:` (their own threads; they call try_ingest). Swapped by reloads under
    // reload_mutex_; stopped first in stop().
    std::unique_ptr<Sources> sources_;

    // Workers replaced by restart_workers(): kept while their loads or unloads still run, dropped once all has ended
    // (drop_finished_pools), waited for at stop(). Control thread.
    std::vector<std::unique_ptr<LoadWorkers>> retired_workers_;  // until all that ran on each has ended
    std::atomic<uint64_t> timed_out_loads_{0};
    std::atomic<int64_t> last_timeout_unix_ms_{0};
    std::atomic<uint64_t> timed_out_unloads_{0};           // unloads past budgets.unload_timeout_ms, since start
    std::atomic<int64_t> last_unload_timeout_unix_ms_{0};  // when the last one was reported; 0 = never
    std::atomic<uint64_t> unloads_overdue_{0};             // past it and still running (control loop's last step)
    std::atomic<int64_t> unload_timeout_ms_{120000};       // follows budgets.unload_timeout_ms of the running config
    std::atomic<uint64_t> worker_restarts_{0};
    std::atomic<int64_t> warmup_timeout_ms_{600000};  // follows budgets.warmup_timeout_ms of the running config
    std::atomic<int64_t> request_window_ms_{5000};    // follows ingest.request_window_ms of the running config

    // Durable state (start_state_keeping). The thread waits on state_cv_ between snapshots. The folder's lock is
    // declared first so that it is released last, after every writer of the folder.
    std::unique_ptr<StateDirLock> state_lock_;
    std::unique_ptr<StateStore> state_store_;
    std::atomic<int64_t> last_snapshot_unix_ms_{0};           // 0 = none written or restored yet
    std::atomic<int64_t> restored_state_created_unix_ms_{0};  // 0 = the start restored none
    std::unique_ptr<MetricsHistory> history_;
    // The event journal (state.journal): set once by start_state_keeping before events are served, read by
    // try_ingest on any thread; appended under ingest_mutex_ so that a rotation cuts between two ingest calls.
    std::unique_ptr<EventJournal> journal_owner_;
    /// The sections of the last journal checkpoint written ([control]): an unchanged one is not written again.
    std::vector<SnapshotSection> last_checkpoint_;
    // Pacing of large checkpoints ([journal thread]; set from the control call that wrote the checkpoint, which the
    // journal thread waits for): its size in bytes, the journal's event_bytes_appended() then, and when.
    std::size_t last_checkpoint_bytes_ = 0;
    uint64_t event_bytes_at_last_checkpoint_ = 0;
    std::chrono::steady_clock::time_point last_checkpoint_at_{};
    std::atomic<EventJournal*> journal_{nullptr};
    std::thread journal_thread_;
    bool journal_stopping_ = false;  // under state_mutex_
    std::thread state_thread_;
    std::mutex state_mutex_;
    std::condition_variable state_cv_;
    bool state_stopping_ = false;                  // under state_mutex_
    uint64_t state_write_errors_ = 0;              // under state_mutex_
    std::atomic<bool> state_lost_at_stop_{false};  // set by the state or journal thread as it stops
    int64_t journal_failure_logged_ms_ = 0;        // journal thread: when a failing journal was last logged (unix ms)
    std::string last_state_error_;                 // under state_mutex_
    int64_t last_state_error_unix_ms_ = 0;         // under state_mutex_
    /// The last snapshot's failure and when (0 = none): what health says while no snapshot was written since. A
    /// journal write's failure is said from the journal itself while it lasts. Under state_mutex_.
    std::string last_snapshot_error_;
    int64_t last_snapshot_error_unix_ms_ = 0;
    /// What the last capture of the state could not export (a plugin's export failed: a restart would start that
    /// plugin without what it learned); empty when it exported everything. Under state_mutex_.
    std::string last_export_problem_;
    // Why the state restored at start is not the newest one (corrupt snapshots skipped); "" when it is. Shown as a
    // degraded "state" component until an operator's restore-state succeeds. Under state_mutex_.
    std::string start_restore_problem_;
    // Serialises backup_state() from the check of the name to the published file: two requests for one name cannot
    // both see it free, and two unnamed backups in one millisecond get distinct names. Never held together with
    // reload_mutex_, in either order: reset-to-safe takes its backup before it locks reloads, and a backup locks no
    // reloads. A backup waits for the control loop under it; the control thread never takes it.
    std::mutex backup_mutex_;

    std::mutex wake_mutex_;
    std::condition_variable wake_cv_;
    bool woken_ = false;
    std::atomic<bool> running_{false};
    std::thread control_thread_;
    std::atomic<bool> control_exited_{false};  // set by the control thread as its last act

    // Stall watch: the plugin call in progress (written by the engines of every arm), the start of the step in
    // progress (steady clock ticks, 0 while the loop sleeps), and the thread that logs a stall and its end.
    static constexpr std::chrono::milliseconds kStallCheckInterval{200};
    PluginCallWatch call_watch_;
    std::atomic<int64_t> step_started_ns_{0};
    std::thread stall_watch_thread_;
    std::mutex stall_watch_mutex_;
    std::condition_variable stall_watch_cv_;
    bool stall_watch_stopping_ = false;  // under stall_watch_mutex_
    void watch_for_stalls();
    void stop_stall_watch();
    /// [the stopping thread, once the control thread has ended] Waits until every worker pool (the current one and
    /// those retired by restart_workers()) has no load or unload left, marking the unloads past
    /// budgets.unload_timeout_ms meanwhile (on every pool); false (logged SHUTDOWN_STALLED) as soon as one is: the
    /// workers cannot be waited for then, and stop() returns false.
    bool wait_for_unloads_at_stop();
};

}  // namespace warmup::host
