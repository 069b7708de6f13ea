// runtime/load_workers.hpp — the live pipeline's backend workers: a TBB arena of max_concurrent_warmups threads that
// run Backend load and unload, a listing thread of their own that runs list_resident, and the per-arm LoadExecutors
// the engines call (ArmExecutor onto the shared workers, ShadowExecutor simulating loads on the wall clock for shadow
// arms).
//
// Threads: start_* and expire() on the control thread; loads and unloads on the arena's worker threads, listings on
// the listing thread (so a server slow to list never holds a slot a load or an unload waits for); results go back to
// the control thread through the WorkerOutbox's queues (owned by the LiveRuntime), followed by a wake-up.
#pragma once

#include <tbb/concurrent_queue.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/catalog.hpp"
#include "engine/warmup_engine.hpp"
#include "loader/plugin_instance.hpp"

namespace warmup::host {

/// A backend load's outcome, handed from a worker (or a timeout) to the control thread.
struct LoadCompletion {
    uint32_t arm_id;
    warmup_model_index model;
    uint64_t ticket;
    bool succeeded;
    double load_ms;
    double memory_mb;
    /// A failure another attempt cannot fix (the backend answered NOT_FOUND, INVALID_ARGUMENT or UNSUPPORTED: a model
    /// the server does not have, a bad name): the engine gives up at once instead of retrying.
    bool permanent_failure = false;
};

/// What one backend listing (list_resident, on the listing thread) found, handed back to the control thread.
struct ResidentListing {
    enum class Result { Listed, Failed, Unsupported } result = Result::Failed;
    std::string backend;                                       ///< "<id>@<version>"
    std::string error;                                         ///< Failed / Unsupported: why
    std::vector<std::pair<std::string, double>> models;        ///< (name as reported, memory MiB or 0)
    std::unordered_set<warmup_model_index> unloads_meanwhile;  ///< unloads ran while the server was asked
};

/// A backend unload's outcome, handed from a worker to the control thread. An engine's unload (ticket != 0) is
/// answered to that arm's engine, which holds the model's memory until then; a failed one may have left the model on
/// the server, which the runtime then has listed soon.
struct UnloadCompletion {
    /// The arm whose engine started the unload; meaningless with ticket 0.
    uint32_t arm_id = 0;
    warmup_model_index model = WARMUP_NO_MODEL;
    /// The engine's unload ticket; kNoTicket for an unload no engine started (a load that finished after its
    /// timeout: the engine had already let its memory go).
    uint64_t ticket = 0;
    bool succeeded = false;
    std::string error;  ///< failed: the backend's message
    static constexpr uint64_t kNoTicket = 0;
};

/// A backend unload running on a worker, as the host's deadline (budgets.unload_timeout_ms) sees it.
struct RunningUnload {
    uint32_t arm_id = 0;  ///< the arm whose engine started it (meaningless with kNoTicket)
    warmup_model_index model = WARMUP_NO_MODEL;
    /// The engine's unload ticket; UnloadCompletion::kNoTicket for the unload of a load that finished after its
    /// timeout (no engine charges it).
    uint64_t ticket = 0;
    std::chrono::steady_clock::time_point
        started;             ///< when the worker called the backend (its deadline runs from then)
    bool timed_out = false;  ///< reported past the deadline (expire_unloads) and still running
};

/// Where workers put their results for the control thread. The queues and the flag are owned by the runtime and
/// outlive every LoadWorkers; `wake` is called on worker threads after a push.
struct WorkerOutbox {
    tbb::concurrent_queue<LoadCompletion>* completions = nullptr;
    tbb::concurrent_queue<ResidentListing>* listings = nullptr;
    std::function<void()> wake;
    const std::atomic<bool>* running = nullptr;  ///< false once the daemon stops: running loads see their cancel token
    tbb::concurrent_queue<UnloadCompletion>* unload_completions = nullptr;
    /// [worker or listing thread] A backend call failed (a load, an unload, a listing): for the backend's health. May
    /// be empty.
    std::function<void(const std::string&)> backend_error;
};

/// Orders a late unload against newer loads of the same model, across worker pools (a restart of the workers keeps
/// the old pool's loads running). A load that finished after its timeout is unloaded only if no newer load of that
/// model has started since; and a load that starts while such an unload runs waits for it, so the backend never
/// sees "unload" overtake the load the engine now counts on. Thread-safety: every method from any thread.
class ModelLoadOrder {
  public:
    /// [control] A load of `model` is starting; returns its generation (increasing per model).
    uint64_t starting(warmup_model_index model) {
        std::lock_guard lock(mutex_);
        return ++latest_[model];
    }
    /// [worker] The load of `generation` finished after its timeout: true (and the model is marked as being unloaded)
    /// when no newer load has started, so the caller must unload it and then call unloaded().
    bool claim_late_unload(warmup_model_index model, uint64_t generation) {
        std::lock_guard lock(mutex_);
        if (latest_[model] != generation) return false;
        unloading_.insert(model);
        return true;
    }
    void unloaded(warmup_model_index model) {
        {
            std::lock_guard lock(mutex_);
            unloading_.erase(model);
        }
        unloading_done_.notify_all();
    }
    /// [worker] Blocks while a late unload of `model` runs (it is running on another worker: a bounded wait).
    void wait_for_late_unload(warmup_model_index model) {
        std::unique_lock lock(mutex_);
        unloading_done_.wait(lock, [&] { return unloading_.count(model) == 0; });
    }

    /// [worker] Every backend unload, counted so a reconciliation can tell which models were being unloaded while it
    /// asked the server (the server may list them either way).
    void unload_began(warmup_model_index model) {
        std::lock_guard lock(mutex_);
        ++unloads_[model].began;
    }
    void unload_ended(warmup_model_index model) {
        std::lock_guard lock(mutex_);
        ++unloads_[model].ended;
    }
    /// [any] Per model with any backend unload so far: (unloads begun, unloads ended). Two of these taken around a
    /// listing show which models had an unload running at some moment in between.
    [[nodiscard]] std::map<warmup_model_index, std::pair<uint64_t, uint64_t>> unload_activity() {
        std::lock_guard lock(mutex_);
        std::map<warmup_model_index, std::pair<uint64_t, uint64_t>> activity;
        for (const auto& [model, counts] : unloads_) activity.emplace(model, std::pair{counts.began, counts.ended});
        return activity;
    }

  private:
    std::mutex mutex_;
    std::condition_variable unloading_done_;
    std::unordered_map<warmup_model_index, uint64_t> latest_;  // newest load generation per model
    std::unordered_set<warmup_model_index> unloading_;         // late unloads running now
    struct UnloadCounts {
        uint64_t began = 0;
        uint64_t ended = 0;
    };
    std::unordered_map<warmup_model_index, UnloadCounts> unloads_;  // every backend unload, begun and ended
};

/// Runs backend loads and unloads on a TBB arena with max_concurrent_warmups threads, and backend listings on a thread
/// of their own; completions and listings go back to the control thread through queues. The backend instance is
/// shared by all of them (backends are thread-safe by ABI: list_resident is called concurrently with load and unload).
class LoadWorkers {
  public:
    // No arena slot is reserved for the calling (control) thread: it only submits (enqueues, never waiting for a free
    // worker: a submission while every worker runs a long call must not hold the control loop), so all `workers`
    // slots are for worker threads (with the default reservation, an arena of 1 would never run a load).
    /// `load_order`: shared with the pools this one replaces (null: a new one).
    /// `catalog` and the queues of `outbox` outlive the workers.
    LoadWorkers(Catalog& catalog, WorkerOutbox outbox, std::shared_ptr<PluginInstance> backend, uint32_t workers,
                std::shared_ptr<ModelLoadOrder> load_order = nullptr)
        : catalog_(catalog),
          outbox_(std::move(outbox)),
          backend_(std::move(backend)),
          load_order_(load_order ? std::move(load_order) : std::make_shared<ModelLoadOrder>()),
          thread_limit_(tbb::global_control::max_allowed_parallelism, thread_limit_for(workers)),
          arena_(static_cast<int>(workers), /*reserved_for_masters=*/0) {}

    ~LoadWorkers() {
        try {
            wait();
        } catch (...) {
            // A backend exception cannot escape the SDK guard; nothing useful to do at destruction.
        }
    }

    /// [control, or once the control thread has ended] Waits for every backend call started so far: the loads and
    /// unloads on the arena, and the listings asked for (then the listing thread ends; a later listing starts it
    /// again).
    void wait() {
        arena_.execute([this] { group_->wait(); });
        stop_listing_thread();
    }

    /// [control] Loads `model` on a worker for arm `arm_id`; the outcome comes back as one LoadCompletion with
    /// `ticket` (from the worker, or from expire() when it times out first). Returns at once: the load waits in the
    /// arena for a free worker, and its timeout runs from when one takes it.
    void start_load(uint32_t arm_id, warmup_model_index model, uint64_t ticket);

    /// [control] Cancels (through their cancel token) the loads running longer than timeout_ms (since a worker took
    /// them) and answers the
    /// engine with a failure for each at once, so the model can be retried. Returns how many timed out.
    uint64_t expire(int64_t timeout_ms);

    /// [any] Loads started and not yet answered.
    std::size_t loads_running() {
        std::lock_guard lock(running_mutex_);
        return running_.size();
    }

    /// [control, or once the control thread has ended] The unloads whose backend call has run longer than timeout_ms
    /// (counted from when the worker called the backend, not from the submission: an unload waiting for a free worker
    /// is not watched yet), each returned once (marked timed out). Nothing is cancelled (an unload has no cancel
    /// token): the call keeps its worker until it returns, and its completion is reported as usual then. Does not wake
    /// anyone; the caller acts on the list.
    std::vector<RunningUnload> expire_unloads(int64_t timeout_ms);
    /// [any] The unloads past their deadline whose call has not returned yet, oldest first.
    std::vector<RunningUnload> timed_out_unloads();
    /// [any] Unloads whose backend call has not returned yet (within their deadline or past it).
    std::size_t unloads_running() {
        std::lock_guard lock(running_mutex_);
        return unloads_running_.size();
    }
    /// [any] How many of them are past their deadline.
    std::size_t unloads_overdue() {
        std::lock_guard lock(running_mutex_);
        return static_cast<std::size_t>(std::count_if(unloads_running_.begin(), unloads_running_.end(),
                                                      [](const auto& entry) { return entry.second.timed_out; }));
    }

    /// [any] Whether every load and unload submitted so far has ended (queued ones and the late unload of a load that
    /// finished after its timeout included). Listings are not counted.
    [[nodiscard]] bool idle() const noexcept { return calls_pending_.load() == 0; }
    /// [control] Whether nothing of this pool can run any more: idle(), and no listing asked for or running; wait()
    /// then returns at once. A retired pool is dropped then (LiveRuntime::drop_finished_pools).
    [[nodiscard]] bool finished() {
        if (!idle()) return false;
        std::lock_guard lock(listing_mutex_);
        return listings_wanted_.empty() && !listing_now_;
    }

    /// [control] Unloads `model` on a worker for arm `arm_id`'s engine, whose unload `ticket` it is; the outcome comes
    /// back as one UnloadCompletion with that ticket (a failure is also logged, and the runtime has the server listed
    /// soon, so a model it still holds is charged again and unloaded again).
    void start_unload(uint32_t arm_id, warmup_model_index model, uint64_t ticket);

    /// [control] Asks the backend, on the listing thread, what its server holds now; the answer goes to the outbox's
    /// listings. Listings asked for while one runs wait for it and run one after another, never two at once (the
    /// runtime asks for one at a time anyway).
    void start_listing();

    /// [worker] Unloads `record`'s model through `backend`. A failure is logged (MODEL_UNLOAD_ERROR) and its message
    /// returned.
    static std::optional<std::string> unload_now(const PluginInstance& backend, const ModelRecord& record);

    /// [control] The backend for loads started from now on.
    void set_backend(std::shared_ptr<PluginInstance> backend) { backend_ = std::move(backend); }
    [[nodiscard]] const std::shared_ptr<PluginInstance>& backend() const { return backend_; }
    [[nodiscard]] const std::shared_ptr<ModelLoadOrder>& load_order() const { return load_order_; }

  private:
    /// A load's cancel token: set when the daemon stops or the load times out. Shared by the worker and expire().
    class CancelState {
      public:
        explicit CancelState(const std::atomic<bool>* daemon_running) : daemon_running_(daemon_running) {}
        [[nodiscard]] bool cancelled() const { return cancelled_.load() || !daemon_running_->load(); }
        /// Cancelled because the daemon stops (not by a timeout).
        [[nodiscard]] bool by_shutdown() const { return !cancelled_.load() && !daemon_running_->load(); }
        void cancel() { cancelled_.store(true); }

      private:
        const std::atomic<bool>* daemon_running_;
        std::atomic<bool> cancelled_{false};
    };
    struct Running {
        uint32_t arm_id;
        warmup_model_index model;
        uint64_t ticket;
        std::chrono::steady_clock::time_point started;  ///< when a worker took it (its timeout runs from then)
        std::shared_ptr<CancelState> cancel;
        bool taken = false;  ///< a worker took it; until then it waits in the arena and cannot time out
    };

    /// TBB's process-wide thread pool defaults to one thread per core, the submitting thread included, so an arena
    /// of `workers` slots on a 2-core machine would get one worker thread. Backend calls mostly wait (HTTP, disk), so
    /// the pool is raised to serve this arena's slots plus those of one retired pool (restart-workers leaves stuck
    /// loads running there). TBB applies the smallest active limit; every pool asks for the same figure.
    static std::size_t thread_limit_for(uint32_t workers) {
        return std::max<std::size_t>(static_cast<std::size_t>(tbb::info::default_concurrency()),
                                     2 * static_cast<std::size_t>(workers) + 1);
    }

    Catalog& catalog_;
    WorkerOutbox outbox_;
    std::shared_ptr<PluginInstance> backend_;
    std::shared_ptr<ModelLoadOrder> load_order_;
    tbb::global_control thread_limit_;
    std::mutex running_mutex_;
    std::map<uint64_t, Running> running_;                // by serial, under running_mutex_
    uint64_t next_serial_ = 0;                           // under running_mutex_ (loads and unloads)
    std::map<uint64_t, RunningUnload> unloads_running_;  // by serial, under running_mutex_
    // Loads and unloads submitted to the arena whose task has not ended (queued or running).
    std::atomic<std::size_t> calls_pending_{0};
    /// Ends a submitted call's count when its task ends, however it ends.
    class PendingCall {
      public:
        explicit PendingCall(std::atomic<std::size_t>& pending) : pending_(pending) {}
        ~PendingCall() { pending_.fetch_sub(1); }
        PendingCall(const PendingCall&) = delete;
        PendingCall& operator=(const PendingCall&) = delete;

      private:
        std::atomic<std::size_t>& pending_;
    };

    /// [worker] Registers an unload about to call the backend (its deadline runs from now); returns its serial for
    /// unload_returned.
    uint64_t unload_starting(uint32_t arm_id, warmup_model_index model, uint64_t ticket);
    /// [worker] The unload of `serial` returned; if it had been reported past its deadline, says so in the log (the
    /// end of the MODEL_UNLOAD_TIMEOUT it was reported with).
    void unload_returned(uint64_t serial, const ModelRecord& record, bool failed);
    tbb::task_arena arena_;
    std::unique_ptr<tbb::task_group> group_ = std::make_unique<tbb::task_group>();

    // Listings: a thread of their own, started by the first listing and ended by wait(). Never an arena slot: a
    // server that takes seconds to list would keep a load or an unload waiting for that slot.
    std::mutex listing_mutex_;
    std::condition_variable listing_wanted_;
    std::deque<std::shared_ptr<PluginInstance>> listings_wanted_;  // backends to list, in order; under listing_mutex_
    bool listing_thread_stopping_ = false;                         // under listing_mutex_
    bool listing_now_ = false;    // a listing is being asked of the backend; under listing_mutex_
    std::thread listing_thread_;  // started by start_listing, joined by wait()

    /// [worker] Hands an unload's outcome back to the control thread (and a failure to the backend's health).
    void report_unload(UnloadCompletion completion) const;
    /// [listing thread] Lists the models wanted in listings_wanted_ until wait() stops it with none left.
    void listing_loop();
    /// [listing thread] Asks `backend` what its server holds and hands the answer to the outbox's listings.
    void list_resident_now(const PluginInstance& backend);
    /// [control, or once the control thread has ended] Ends the listing thread once the listings wanted have run.
    void stop_listing_thread();
};

/// An acting arm's view of the shared workers: its completions come back tagged with its name.
class ArmExecutor final : public LoadExecutor {
  public:
    /// `workers` is the runtime's pointer: restart_workers() may replace the workers it points to.
    ArmExecutor(std::unique_ptr<LoadWorkers>& workers, const std::string& name) : workers_(workers), name_(name) {}
    void set_arm_id(uint32_t arm_id) { arm_id_ = arm_id; }
    void start_load(warmup_model_index model, uint64_t ticket, warmup_time_ms) override {
        workers_->start_load(arm_id_, model, ticket);
    }
    void start_unload(warmup_model_index model, uint64_t ticket, warmup_time_ms) override {
        workers_->start_unload(arm_id_, model, ticket);
    }
    /// The backend's server holds a model until its unload returns: the engine keeps it charged until then.
    [[nodiscard]] bool confirms_unloads() const noexcept override { return true; }

  private:
    std::unique_ptr<LoadWorkers>& workers_;
    std::string name_;
    uint32_t arm_id_ = 0;
};

/// A shadow arm never touches the backend: a load "completes" after the catalog's load time on the wall clock.
class ShadowExecutor final : public LoadExecutor {
  public:
    explicit ShadowExecutor(Catalog& catalog) : catalog_(catalog) {}
    void start_load(warmup_model_index model, uint64_t ticket, warmup_time_ms now_ms) override {
        const auto done = now_ms + static_cast<warmup_time_ms>(std::ceil(catalog_.record(model).load_ms));
        pending_.push({done, model, ticket});
    }
    /// Nothing is unloaded (nothing was loaded): the memory of a shadow arm is free at once.
    void start_unload(warmup_model_index, uint64_t, warmup_time_ms) override {}
    /// [control] Completes the simulated loads due by now_ms.
    void complete_due(WarmupEngine& engine, warmup_time_ms now_ms) {
        while (!pending_.empty() && pending_.top().done_ms <= now_ms) {
            const Pending done = pending_.top();
            pending_.pop();
            engine.on_load_finished(done.model, done.ticket, true, catalog_.record(done.model).load_ms, 0, now_ms);
        }
    }
    [[nodiscard]] warmup_time_ms next_due_ms() const {
        return pending_.empty() ? WARMUP_TIME_NEVER : pending_.top().done_ms;
    }

  private:
    struct Pending {
        warmup_time_ms done_ms;
        warmup_model_index model;
        uint64_t ticket;
        bool operator>(const Pending& other) const { return done_ms > other.done_ms; }
    };
    Catalog& catalog_;
    std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending_;
};

}  // namespace warmup::host
