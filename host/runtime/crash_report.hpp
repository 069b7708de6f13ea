// runtime/crash_report.hpp — one line on standard error when warmupd dies of a fatal signal, naming the plugin call
// the crashing thread was in.
//
// A plugin runs in the daemon's process: its segmentation fault or abort() ends warmupd, and without this a supervisor
// records only "status=11/SEGV". The line says which call of which plugin it was (when the control thread crashed in a
// plugin call) and that the journal replays into the same plugins at the next start, so a plugin that crashes on what
// it learned crashes again until it is taken out of the configuration. Then the signal's default action runs (a core
// dump where enabled), so the exit status is the signal's as before.
//
// The first thread to fault writes the line; another that faults meanwhile waits for it to end the process. A signal
// another process sent (kill -SEGV) is said to be one. Each thread that calls use_alternate_signal_stack() (warmupd's
// main thread and its control thread, where plugin calls run) has the handler run on a stack of its own, so a plugin's
// endless recursion is reported too.
//
// Lifetime: a CrashReport installs the handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT and, until it is
// destroyed, lets them read `watch`; the watch must outlive it. One at a time per process (warmupd's main()).
#pragma once

#include "engine/plugin_call_watch.hpp"

namespace warmup::host {

/// Gives the calling thread an alternate signal stack for the rest of its life (once per thread; idempotent).
void use_alternate_signal_stack();

class CrashReport {
  public:
    explicit CrashReport(const PluginCallWatch& watch);
    ~CrashReport();
    CrashReport(const CrashReport&) = delete;
    CrashReport& operator=(const CrashReport&) = delete;
};

}  // namespace warmup::host
