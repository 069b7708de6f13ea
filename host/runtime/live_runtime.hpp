// runtime/live_runtime.hpp — the daemon's pipeline on the wall clock: bounded ingest queue, one control thread that
// owns every component plugin, and a TBB arena of warm-up workers that call the model backend.
//
// Threads:
//  - any thread (HTTP handlers): try_ingest(), call_on_control(), reload(), accepted_events(), catalog().
//  - the control thread: everything that touches an engine or a component plugin.
//  - workers (max_concurrent_warmups of them): backend load/unload only.
//
// Experiments: with `experiment.enabled`, the top-level components are the "control" arm and every entry of `arms`
// runs beside it with its own plugin instances and engine. Acting arms split the traffic by a stable hash of the
// tenant (or model) with their weights, and share the memory budget in proportion; shadow arms see every event and
// are scored on it, but their loads are simulated (they never call the backend). All arms record into the control
// arm's metrics sink with their name as the `arm` label.
#pragma once

#include <tbb/concurrent_queue.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "engine/warmup_engine.hpp"
#include "loader/plugin_loader.hpp"
#include "runtime/plugin_set.hpp"

namespace warmup::host {

/// What a reload did (or why it did nothing). JSON-ready for the HTTP answer.
struct ReloadResult {
    struct SlotChange {
        std::string slot;
        std::string from;   ///< "<id>@<version>"
        std::string to;
        std::string state;  ///< "handed over (<schema>, N bytes)" or "started cold: <why>"
    };
    bool ok = false;
    int http_status = 200;           ///< 200 done, 400 invalid config, 409 nothing to reload, 422 plugin, 500 hand-off
    std::string stage;               ///< on failure: "config", "load", "state"
    std::string error;
    std::vector<SlotChange> changes; ///< control-arm components replaced; empty: none
    std::vector<std::string> notes;  ///< experiment arms started/stopped, settings that need a restart, budgets
    double pause_us = 0;             ///< how long the control loop stood still to publish the new set
};

/// One arm of the live pipeline. Owned by the runtime; touched only on the control thread.
struct LiveArm {
    enum class Mode { Control, Acting, Shadow };
    uint32_t id = 0;  ///< unique for the runtime's life: late completions of a stopped arm match no arm
    std::string name;
    Mode mode = Mode::Control;
    double weight = 1;
    Arm definition;                         ///< as configured (for reload diffs)
    std::unique_ptr<PluginSet> plugins;
    std::unique_ptr<LoadExecutor> executor;
    std::unique_ptr<WarmupEngine> engine;
};

class LiveRuntime {
  public:
    /// Loads every plugin of `config` (throws StartupError; nothing is started then). Does not start threads.
    explicit LiveRuntime(Config config);
    ~LiveRuntime();
    LiveRuntime(const LiveRuntime&) = delete;
    LiveRuntime& operator=(const LiveRuntime&) = delete;

    void start();
    /// Stops the control thread and waits for running backend calls. Idempotent.
    void stop();

    /// [any thread but the control thread] Replaces the components whose choice or params changed in `next`,
    /// handing state over where both sides share a state schema, between two control-loop steps; starts, changes
    /// or stops experiment arms. Any failure leaves the running set exactly as it was. Reloads are serialised.
    ReloadResult reload(Config next);
    /// Re-reads the configuration file the daemon started with.
    ReloadResult reload_from_file();
    /// Returns to the configuration that was running before the last successful reload.
    ReloadResult rollback();
    /// Command-line overrides of http.bind / http.port, re-applied to every configuration read for a reload.
    void set_http_overrides(std::optional<std::string> bind, std::optional<uint16_t> port) {
        bind_override_ = std::move(bind);
        port_override_ = port;
    }

    /// [any] Queues one usage event; false when the bounded ingest queue is full (the caller answers 503).
    bool try_ingest(const warmup_usage_event& event);

    /// [any] Runs `work(control arm's engine)` on the control thread between two steps and returns its result.
    template <class Work>
    auto call_on_control(Work&& work) -> decltype(work(std::declval<WarmupEngine&>())) {
        using Result = decltype(work(std::declval<WarmupEngine&>()));
        if (!running_.load()) throw std::runtime_error("the control loop is not running");
        auto task = std::make_shared<std::packaged_task<Result(WarmupEngine&)>>(std::forward<Work>(work));
        auto result = task->get_future();
        commands_.push([task](WarmupEngine& engine) { (*task)(engine); });
        wake();
        return result.get();
    }

    [[nodiscard]] uint64_t accepted_events() const noexcept { return accepted_events_.load(); }
    [[nodiscard]] uint64_t refused_events() const noexcept { return refused_events_.load(); }
    [[nodiscard]] Catalog& catalog() noexcept { return catalog_; }
    [[nodiscard]] const Clock& clock() const noexcept { return clock_; }
    /// The configuration the daemon started with (HTTP settings; immutable).
    [[nodiscard]] const Config& config() const noexcept { return config_; }
    /// Only on the control thread (inside call_on_control): the control arm's plugins, and every arm.
    [[nodiscard]] const PluginSet& plugins() const noexcept { return *arms_.front()->plugins; }
    [[nodiscard]] const std::vector<std::unique_ptr<LiveArm>>& arms() const noexcept { return arms_; }
    /// Only on the control thread: the experiment in force ("" split when none).
    [[nodiscard]] const ExperimentConfig& experiment() const noexcept { return experiment_; }

  private:
    class WorkerExecutor;
    class ArmExecutor;
    class ShadowExecutor;
    struct Completion {
        uint32_t arm_id;
        warmup_model_index model;
        uint64_t ticket;
        bool succeeded;
        double load_ms;
        double memory_mb;
    };

    void control_loop();
    void wake();
    ReloadResult apply(Config next, bool is_rollback);
    /// Builds the non-control arms of `config` (reusing unchanged ones from `current`). Throws StartupError.
    std::vector<std::unique_ptr<LiveArm>> build_experiment_arms(const Config& config,
                                                                std::vector<std::unique_ptr<LiveArm>>& current);
    std::unique_ptr<LiveArm> make_arm(const Arm& arm, LiveArm::Mode mode, const Config& config);
    void assign_budgets(double total_mb);
    void route(const warmup_usage_event& event, std::vector<std::vector<warmup_usage_event>>& per_arm) const;

    Config config_;
    SystemClock clock_;
    Catalog catalog_;
    PluginLoader loader_;
    std::unique_ptr<WorkerExecutor> workers_;
    std::vector<std::unique_ptr<LiveArm>> arms_;  // [0] is the control arm; changed only on the control thread
    ExperimentConfig experiment_;                 // control thread
    std::vector<std::size_t> acting_;             // indexes of acting arms (control first), control thread
    std::vector<double> acting_cumulative_;       // cumulative weight shares in [0, 1]
    uint32_t next_arm_id_ = 0;                    // control thread (or constructor)

    tbb::concurrent_bounded_queue<warmup_usage_event> ingest_;
    tbb::concurrent_queue<Completion> completions_;
    tbb::concurrent_queue<std::function<void(WarmupEngine&)>> commands_;
    std::atomic<uint64_t> accepted_events_{0};
    std::atomic<uint64_t> refused_events_{0};

    std::mutex reload_mutex_;
    Config running_config_;                  // the configuration in force (under reload_mutex_)
    std::optional<Config> previous_config_;  // for rollback (under reload_mutex_)
    std::optional<std::string> bind_override_;
    std::optional<uint16_t> port_override_;

    std::mutex wake_mutex_;
    std::condition_variable wake_cv_;
    bool woken_ = false;
    std::atomic<bool> running_{false};
    std::thread control_thread_;
};

}  // namespace warmup::host
