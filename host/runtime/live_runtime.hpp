// runtime/live_runtime.hpp — the daemon's pipeline on the wall clock: bounded ingest queue, one control thread that
// owns every component plugin, and a TBB arena of warm-up workers that call the model backend.
//
// Threads:
//  - any thread (HTTP handlers): try_ingest(), call_on_control(), accepted_events(), catalog().
//  - the control thread: everything that touches the engine or a component plugin.
//  - workers (max_concurrent_warmups of them): backend load/unload only.
#pragma once

#include <tbb/concurrent_queue.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>
#include <stdexcept>
#include <thread>

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
        std::string state;  ///< "handed over (<schema>)" or "started cold: <why>"
    };
    bool ok = false;
    int http_status = 200;           ///< 200 done, 400 invalid config, 409 nothing to reload, 422 plugin, 500 hand-off
    std::string stage;               ///< on failure: "config", "load", "state"
    std::string error;
    std::vector<SlotChange> changes; ///< empty: nothing changed
    std::vector<std::string> notes;  ///< settings that need a restart, budgets applied, ...
    double pause_us = 0;             ///< how long the control loop stood still to publish the new set
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
    /// handing state over where both sides share a state schema, between two control-loop steps. Any failure leaves
    /// the running set exactly as it was. Reloads are serialised.
    ReloadResult reload(Config next);
    /// Re-reads the configuration file the daemon started with (or was last reloaded from).
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

    /// [any] Runs `work` on the control thread between two steps and returns its result.
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
    /// Only on the control thread (inside call_on_control).
    [[nodiscard]] const PluginSet& plugins() const noexcept { return *plugins_; }

  private:
    class WorkerExecutor;
    struct Completion {
        warmup_model_index model;
        uint64_t ticket;
        bool succeeded;
        double load_ms;
        double memory_mb;
    };

    void control_loop();
    void wake();
    ReloadResult apply(Config next, bool is_rollback);

    Config config_;
    SystemClock clock_;
    Catalog catalog_;
    PluginLoader loader_;
    std::unique_ptr<PluginSet> plugins_;   // replaced only on the control thread, under reload_mutex_

    std::mutex reload_mutex_;
    Config running_config_;                // the configuration of plugins_ (under reload_mutex_)
    std::optional<Config> previous_config_; // for rollback (under reload_mutex_)
    std::optional<std::string> bind_override_;
    std::optional<uint16_t> port_override_;
    std::unique_ptr<WorkerExecutor> executor_;
    std::unique_ptr<WarmupEngine> engine_;

    tbb::concurrent_bounded_queue<warmup_usage_event> ingest_;
    tbb::concurrent_queue<Completion> completions_;
    tbb::concurrent_queue<std::function<void(WarmupEngine&)>> commands_;
    std::atomic<uint64_t> accepted_events_{0};
    std::atomic<uint64_t> refused_events_{0};

    std::mutex wake_mutex_;
    std::condition_variable wake_cv_;
    bool woken_ = false;
    std::atomic<bool> running_{false};
    std::thread control_thread_;
};

}  // namespace warmup::host
