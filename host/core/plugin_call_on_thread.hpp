// core/plugin_call_on_thread.hpp — which plugin call the calling thread is in, for the report of a fatal signal.
//
// A plugin runs in the host's process: its segmentation fault or abort() ends warmupd or warmup-replay. The report
// (runtime/crash_report.hpp) names the call the crashing thread was in. Every plugin call the host makes is marked
// with a PluginCallScope: the engine's calls, timed or not (a predictor's predict, a resource plugin's on_used, a
// queue's pop), the live load workers' backend calls, the replay's simulated loads, and every instance's create,
// destroy and state export and import (loader/plugin_instance.hpp, PluginInstance::marked).
//
// Threads: each thread has its own record, written by that thread and read by its own signal handler only (so no
// lock and no atomic: the handler runs on the thread it interrupted). Cost: a few pointer stores per call, which the
// replay's speed does not show. Ownership: the record borrows; the label and the arm outlive the call (the engine's
// and the executors' own strings), `slot` and `what` have static storage.
#pragma once

#include <cstddef>
#include <string>

namespace warmup::host {

struct PluginCallOnThread {
    const char* slot = nullptr;          ///< the component's slot, "predictor"; nullptr between calls
    const std::string* label = nullptr;  ///< its plugin, "org.warmup.predictor.cost-curve@1.10.0"
    const char* what = nullptr;          ///< the call, "predict"
    const std::string* arm = nullptr;    ///< the engine's arm ("control", a replay or experiment arm); may be null
};

/// The calling thread's call in progress (constant-initialised, trivially destructible: safe to read in a signal
/// handler of the same thread).
inline thread_local PluginCallOnThread t_plugin_call_on_thread;

/// Marks the calling thread as inside one plugin call for its lifetime; nests (a call made while another is marked
/// restores the outer one when it ends).
class PluginCallScope {
  public:
    PluginCallScope(const char* slot, const std::string& label, const char* what,
                    const std::string* arm = nullptr) noexcept
        : outer_(t_plugin_call_on_thread) {
        t_plugin_call_on_thread = PluginCallOnThread{slot, &label, what, arm};
    }
    ~PluginCallScope() { t_plugin_call_on_thread = outer_; }
    PluginCallScope(const PluginCallScope&) = delete;
    PluginCallScope& operator=(const PluginCallScope&) = delete;

  private:
    PluginCallOnThread outer_;
};

}  // namespace warmup::host
