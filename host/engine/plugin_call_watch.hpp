// engine/plugin_call_watch.hpp — which plugin call the control thread is in, and since when, readable from any thread.
//
// A plugin runs in the host's process, on its control thread: one that never returns from a call stalls every
// decision. The host cannot interrupt the call, but it can say which one it is: the live runtime's watchdog reads this
// to log the stall, answer /healthz and /readyz with 503 naming it, and stop waiting for the control loop.
//
// Threads: begin() and end() on the control thread (the engine calls them around each plugin call it times, live
// only: the replay passes no watch); current() on any thread. (A fatal signal's report reads the crashing thread's own
// record instead: core/plugin_call_on_thread.hpp.) Cost per call: a mutex lock without contention and a string
// assignment that stops allocating once the longest label has been seen.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>

namespace warmup::host {

class PluginCallWatch {
  public:
    struct Call {
        std::string slot;   ///< the component's slot, e.g. "predictor"
        std::string label;  ///< its plugin, e.g. "org.warmup.predictor.cost-curve@1.11.0"
        std::string what;   ///< the call, e.g. "predict"
        std::chrono::steady_clock::duration running;
    };

    /// [control] The call `what` of the plugin `label` in `slot` starts now (`slot` and `what`: strings with static
    /// storage).
    void begin(const char* slot, const std::string& label, const char* what) {
        std::lock_guard lock(mutex_);
        slot_ = slot;
        label_ = label;
        what_ = what;
        started_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_release);
    }
    /// [control] The call begun last has returned.
    void end() noexcept { started_ns_.store(0, std::memory_order_release); }

    /// [any] The call in progress, or nullopt between calls.
    [[nodiscard]] std::optional<Call> current() const {
        std::lock_guard lock(mutex_);
        const int64_t started_ns = started_ns_.load(std::memory_order_acquire);
        if (started_ns == 0) return std::nullopt;
        const auto started = std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(started_ns));
        return Call{slot_, label_, what_, std::chrono::steady_clock::now() - started};
    }

  private:
    mutable std::mutex mutex_;
    const char* slot_ = "";               // under mutex_
    std::string label_;                   // under mutex_
    const char* what_ = "";               // under mutex_
    std::atomic<int64_t> started_ns_{0};  // steady clock ticks; 0 = not in a call
};

}  // namespace warmup::host
