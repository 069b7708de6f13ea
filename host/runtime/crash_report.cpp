// runtime/crash_report.cpp — the fatal signals' handler; see crash_report.hpp. Everything the handler calls is
// async-signal-safe: write(2), syscall(2), getpid(2), pause(2), signal(2), raise(3) and plain loops over a buffer on
// the stack; the one exception, backtrace(3) on a thread in no marked plugin call, is primed beforehand (below).
#include "runtime/crash_report.hpp"

#include <execinfo.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <string>
#include <vector>

#include "core/plugin_call_on_thread.hpp"
#include "core/plugin_code_ranges.hpp"
#include "runtime/log_format.hpp"

namespace warmup::host {
namespace {

constexpr std::array<int, 5> kFatalSignals{SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

CrashReportText g_text{"warmup", "", "", nullptr};  // set before the handlers are installed
bool g_stderr_is_journal = false;                   // likewise

const char* signal_name(int signal_number) noexcept {
    switch (signal_number) {
        case SIGSEGV:
            return "SIGSEGV";
        case SIGBUS:
            return "SIGBUS";
        case SIGFPE:
            return "SIGFPE";
        case SIGILL:
            return "SIGILL";
        case SIGABRT:
            return "SIGABRT";
        default:
            return "a fatal signal";
    }
}

/// A line assembled in a fixed buffer, cut at its end.
class Line {
  public:
    void put(const char* text) noexcept {
        for (; *text != '\0' && size_ + 1 < buffer_.size(); ++text) buffer_[size_++] = *text;
    }
    void put(const std::string& text) noexcept {
        for (std::size_t i = 0; i < text.size() && size_ + 1 < buffer_.size(); ++i) buffer_[size_++] = text[i];
    }
    void put_number(long value) noexcept {
        char digits[24];
        std::size_t count = 0;
        unsigned long rest = value < 0 ? 0UL : static_cast<unsigned long>(value);
        do {
            digits[count++] = static_cast<char>('0' + rest % 10);
            rest /= 10;
        } while (rest != 0 && count < sizeof digits);
        while (count > 0 && size_ + 1 < buffer_.size()) buffer_[size_++] = digits[--count];
    }
    /// Ends the line with '\n', in place of its last character when the buffer is full.
    void end_line() noexcept {
        if (size_ + 1 >= buffer_.size()) size_ = buffer_.size() - 2;
        buffer_[size_++] = '\n';
    }
    void write_to(int fd) const noexcept {
        for (std::size_t written = 0; written < size_;) {
            const ssize_t n = ::write(fd, buffer_.data() + written, size_ - written);
            if (n <= 0) return;
            written += static_cast<std::size_t>(n);
        }
    }

  private:
    std::array<char, 1024> buffer_{};
    std::size_t size_ = 0;
};

/// The thread that reports; a second thread that faults meanwhile waits here until the first ends the process.
std::atomic<bool> g_reporting{false};

/// Whether `text` reads `word` exactly (no strcmp: not on the list of async-signal-safe functions).
bool reads(const std::string& text, const char* word) noexcept {
    std::size_t i = 0;
    for (; word[i] != '\0'; ++i)
        if (i >= text.size() || text[i] != word[i]) return false;
    return i == text.size();
}

/// The thread writing the report and the signal it reports (set once, by the first thread to fault).
std::atomic<pid_t> g_reporting_thread{0};
std::atomic<int> g_first_signal{0};

/// "<program>: CRASH <signal> on thread N, outside the plugin calls the host makes (...)": the line when no plugin is
/// found, and when looking for one faulted.
void write_outside_line(pid_t thread) noexcept {
    Line line;
    if (g_stderr_is_journal) line.put("<2>");
    line.put(g_text.program);
    line.put(": CRASH ");
    line.put(signal_name(g_first_signal.load()));
    line.put(" on thread ");
    line.put_number(static_cast<long>(thread));
    line.put(", outside the plugin calls the host makes (");
    line.put(g_text.outside);
    line.put(").");
    line.end_line();
    line.write_to(STDERR_FILENO);
}

/// The default action of `signal_number` now (a core dump where enabled, and the signal's exit status). It is blocked
/// while its own handler runs, and a fault inside the handler arrives as another signal: unblocked before it is raised.
[[noreturn]] void end_with(int signal_number) noexcept {
    ::signal(signal_number, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, signal_number);
    ::pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
    ::raise(signal_number);
    ::_exit(128 + signal_number);  // not reached: the default action of a fatal signal ends the process
}

/// The instruction the signal interrupted, from the handler's context (0 where the architecture is not known here).
uintptr_t interrupted_instruction(const void* context) noexcept {
    if (context == nullptr) return 0;
    const auto& machine = static_cast<const ucontext_t*>(context)->uc_mcontext;
#if defined(__x86_64__)
    return static_cast<uintptr_t>(machine.gregs[REG_RIP]);
#elif defined(__aarch64__)
    return static_cast<uintptr_t>(machine.pc);
#else
    (void)machine;
    return 0;
#endif
}

/// The plugin whose code the crashing thread was running: the interrupted instruction (a fault in the plugin's own
/// code), else the nearest frame of the thread's stack in a plugin (an abort() or a fault in a library the plugin
/// called). backtrace(3) is not on the async-signal-safe list, but once primed (CrashReport's constructor loads the
/// unwinder) it reads the stack without allocating; it runs only when no plugin call was marked and it is the last
/// thing the process does.
const char* plugin_whose_code_crashed(const void* context) noexcept {
    if (const char* plugin = plugin_code_at(interrupted_instruction(context))) return plugin;
    std::array<void*, 64> frames{};
    const int count = ::backtrace(frames.data(), static_cast<int>(frames.size()));
    for (int i = 0; i < count; ++i)
        if (const char* plugin = plugin_code_at(reinterpret_cast<uintptr_t>(frames[static_cast<std::size_t>(i)]) - 1))
            return plugin;
    return nullptr;
}

void on_fatal_signal(int signal_number, siginfo_t* info, void* context) {
    const auto thread = static_cast<pid_t>(::syscall(SYS_gettid));
    if (g_reporting.exchange(true)) {
        if (g_reporting_thread.load() != thread) {
            for (;;) ::pause();  // another thread is writing the line; it then ends the process
        }
        // This thread faulted again while reporting (reading a smashed stack for the plugin's frames): the line
        // without that, and the first signal's end.
        write_outside_line(thread);
        end_with(g_first_signal.load());
    }
    g_reporting_thread.store(thread);
    g_first_signal.store(signal_number);
    Line line;
    if (g_stderr_is_journal) line.put("<2>");
    line.put(g_text.program);
    line.put(": CRASH ");
    line.put(signal_name(signal_number));
    const PluginCallOnThread::Call call = t_plugin_call_on_thread.load();
    const bool sent =
        info != nullptr && (info->si_code == SI_USER || info->si_code == SI_TKILL) && info->si_pid != ::getpid();
    if (sent) {
        line.put(" sent by process ");
        line.put_number(static_cast<long>(info->si_pid));
        line.put(" (a kill, not a fault of ");
        line.put(g_text.program);
        line.put("'s own).");
    } else if (call.in_call()) {
        line.put(" in a plugin call: ");
        line.put(call.slot);
        line.put(" ");
        line.put(*call.label);
        line.put(": ");
        line.put(call.what);
        if (call.arm != nullptr && !call.arm->empty() &&
            (g_text.quiet_arm == nullptr || !reads(*call.arm, g_text.quiet_arm))) {
            line.put(" (arm '");
            line.put(*call.arm);
            line.put("')");
        }
        line.put(". A plugin runs in ");
        line.put(g_text.program);
        line.put("'s process. ");
        line.put(g_text.after_plugin);
    } else if (const char* plugin = plugin_whose_code_crashed(context)) {
        line.put(" on thread ");
        line.put_number(static_cast<long>(::syscall(SYS_gettid)));
        line.put(" in the code of plugin ");
        line.put(plugin);
        line.put(
            ", outside the plugin calls the host makes (a thread the plugin started, or code it left running). "
            "A plugin runs in ");
        line.put(g_text.program);
        line.put("'s process. ");
        line.put(g_text.after_plugin);
    } else {
        write_outside_line(thread);
        end_with(signal_number);
    }
    line.end_line();
    line.write_to(STDERR_FILENO);
    end_with(signal_number);
}

}  // namespace

void use_alternate_signal_stack() {
    // Freed at the thread's exit, after the kernel is told to stop using it.
    struct AlternateStack {
        std::vector<char> memory;
        AlternateStack() : memory(std::max<std::size_t>(SIGSTKSZ, 64 * 1024)) {
            stack_t stack{};
            stack.ss_sp = memory.data();
            stack.ss_size = memory.size();
            ::sigaltstack(&stack, nullptr);
        }
        ~AlternateStack() {
            stack_t disable{};
            disable.ss_flags = SS_DISABLE;
            ::sigaltstack(&disable, nullptr);
        }
    };
    thread_local const AlternateStack stack;
}

CrashReport::CrashReport(const CrashReportText& text) {
    g_stderr_is_journal = is_journal_stream(STDERR_FILENO);
    g_text = text;
    use_alternate_signal_stack();  // this (main) thread's; the control thread sets its own
    // The first backtrace(3) loads the unwinder (dlopen, malloc): done here, not in the handler.
    std::array<void*, 4> frames{};
    (void)::backtrace(frames.data(), static_cast<int>(frames.size()));
    struct sigaction action {};
    action.sa_sigaction = on_fatal_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;  // on the thread's alternate stack where it has one
    for (const int signal_number : kFatalSignals) ::sigaction(signal_number, &action, nullptr);
}

CrashReport::~CrashReport() {
    for (const int signal_number : kFatalSignals) ::signal(signal_number, SIG_DFL);
}

}  // namespace warmup::host
