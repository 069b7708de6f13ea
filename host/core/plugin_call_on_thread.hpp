// core/plugin_call_on_thread.hpp — which plugin call a thread is in, for the report of a fatal signal and the replay's
// stall watch.
//
// A plugin runs in the host's process: its segmentation fault or abort() ends warmupd or warmup-replay. The report
// (runtime/crash_report.hpp) names the call the crashing thread was in. Every plugin call the host makes is marked
// with a PluginCallScope: the engine's calls, timed or not (a predictor's predict, a resource plugin's on_used, a
// queue's pop), the live load workers' backend calls, the replay's simulated loads, and every instance's create,
// destroy and state export and import (loader/plugin_instance.hpp, PluginInstance::marked).
//
// Threads: each thread has its own record, written by that thread only; read by its own signal handler, and by
// warmup-replay's stall watch (replay/stall_watch.hpp) from its own thread: hence relaxed atomics, which cost what
// plain stores cost. The four fields are not read as one: a reader on another thread may see a call's slot with the
// previous call's label for an instant, which a call stalled for seconds does not show. Cost: a few pointer stores
// per call, which the replay's speed does not show. Ownership: the record borrows; the label and the arm outlive the
// call (the engine's and the executors' own strings), `slot` and `what` have static storage.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

namespace warmup::host {

struct PluginCallOnThread {
    std::atomic<const char*> slot{nullptr};          ///< the component's slot, "predictor"; nullptr between calls
    std::atomic<const std::string*> label{nullptr};  ///< its plugin, "org.warmup.predictor.cost-curve@1.11.0"
    std::atomic<const char*> what{nullptr};          ///< the call, "predict"
    std::atomic<const std::string*> arm{nullptr};    ///< the engine's arm ("control", a replay or experiment arm)

    /// The call in progress as plain pointers (slot, label or what null: none).
    struct Call {
        const char* slot = nullptr;
        const std::string* label = nullptr;
        const char* what = nullptr;
        const std::string* arm = nullptr;
        [[nodiscard]] bool in_call() const noexcept { return slot != nullptr && label != nullptr && what != nullptr; }
    };
    [[nodiscard]] Call load() const noexcept {
        return {slot.load(std::memory_order_relaxed), label.load(std::memory_order_relaxed),
                what.load(std::memory_order_relaxed), arm.load(std::memory_order_relaxed)};
    }
    void store(const Call& call) noexcept {
        slot.store(call.slot, std::memory_order_relaxed);
        label.store(call.label, std::memory_order_relaxed);
        what.store(call.what, std::memory_order_relaxed);
        arm.store(call.arm, std::memory_order_relaxed);
    }
};
static_assert(std::atomic<const char*>::is_always_lock_free, "read in a signal handler");

/// The calling thread's call in progress (constant-initialised, trivially destructible: safe to read in a signal
/// handler of the same thread).
inline thread_local PluginCallOnThread t_plugin_call_on_thread;

/// Marks the calling thread as inside one plugin call for its lifetime; nests (a call made while another is marked
/// restores the outer one when it ends).
class PluginCallScope {
  public:
    PluginCallScope(const char* slot, const std::string& label, const char* what,
                    const std::string* arm = nullptr) noexcept
        : outer_(t_plugin_call_on_thread.load()) {
        t_plugin_call_on_thread.store({slot, &label, what, arm});
    }
    ~PluginCallScope() { t_plugin_call_on_thread.store(outer_); }
    PluginCallScope(const PluginCallScope&) = delete;
    PluginCallScope& operator=(const PluginCallScope&) = delete;

  private:
    PluginCallOnThread::Call outer_;
};

}  // namespace warmup::host
