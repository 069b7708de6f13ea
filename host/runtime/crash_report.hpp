// runtime/crash_report.hpp — one line on standard error when warmupd or warmup-replay dies of a fatal signal, naming
// the plugin call the crashing thread was in.
//
// A plugin runs in the host's process: its segmentation fault or abort() ends the program, and without this a
// supervisor records only "status=11/SEGV" and a replay ends in "Segmentation fault". The line says which call of
// which plugin it was (any call the host makes, on any of its threads: core/plugin_call_on_thread.hpp), in which
// arm when the program runs several, and what to do next (the program's own advice). On a thread in no such call (one
// a plugin started) it names the plugin whose code was running, by the crashing instruction or the thread's stack
// (core/plugin_code_ranges.hpp). Then the signal's default action
// runs (a core dump where enabled), so the exit status is the signal's as before.
//
// The first thread to fault writes the line; another that faults meanwhile waits for it to end the process. A signal
// another process sent (kill -SEGV) is said to be one. Each thread that calls use_alternate_signal_stack() (warmupd's
// main and control threads, a replay's arm while it runs) has the handler run on a stack of its own, so a plugin's
// endless recursion is reported too.
//
// Lifetime: a CrashReport installs the handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT until it is destroyed.
// One at a time per process (the program's main()); the texts it is given must outlive it.
#pragma once

namespace warmup::host {

/// Gives the calling thread an alternate signal stack for the rest of its life (once per thread; idempotent).
void use_alternate_signal_stack();

struct CrashReportText {
    const char* program;       ///< "warmupd": the line starts "<program>: CRASH <signal>"
    const char* after_plugin;  ///< what to do when a plugin call crashed, after "A plugin runs in <program>'s process."
    const char* outside;       ///< what ran when no plugin call was marked on the crashing thread
    const char* quiet_arm;     ///< an arm not worth naming (warmupd's "control"); nullptr: every arm is named
};

class CrashReport {
  public:
    explicit CrashReport(const CrashReportText& text);
    ~CrashReport();
    CrashReport(const CrashReport&) = delete;
    CrashReport& operator=(const CrashReport&) = delete;
};

}  // namespace warmup::host
