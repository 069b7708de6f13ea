// test_support.hpp — helpers shared by the test binaries: a throw-away folder (TempDir), a bounded poll
// (poll_until), and a warmupd child process with its captured output (Daemon, ExitStatus).
//
// Header-only; every test target gets tests/support on its include path from warmup_add_test() (tests/CMakeLists.txt).
//
// Guarantees the tests rely on:
//  - Every wait is bounded: poll_until and each Daemon::wait_* return by their timeout at the latest. Nothing here
//    measures elapsed time for an assertion; a timeout only turns "never happened" into a failed expectation.
//  - TempDir removes its folder and everything in it when it goes out of scope, even when an assertion failed.
//  - A Daemon's child is always killed (SIGKILL) and reaped by the destructor unless the test already reaped it, and
//    its output reader thread is joined: no test leaves a process, a zombie or a thread behind.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;  // the child inherits the test's environment

namespace warmup::test {

/// Calls `condition` until it returns true (result: true) or `timeout` has passed (result: false), sleeping
/// `interval` between calls. The condition is evaluated at least once, and once more at or after the deadline, so a
/// condition that became true just before the deadline is still seen. Runs on the calling thread.
inline bool poll_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds interval = std::chrono::milliseconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (condition()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(interval);
    }
}

/// The whole content of the file at `path`, or "" when it cannot be read (the caller's assertions then fail on it).
inline std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A fresh, empty folder <system temp dir>/<prefix>-XXXXXX (mkdtemp: unique, mode 0700), removed with everything in
/// it at destruction. Not copyable: exactly one owner removes it.
class TempDir {
  public:
    explicit TempDir(const std::string& prefix = "warmup-test") {
        std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
        if (mkdtemp(pattern.data()) == nullptr)
            throw std::runtime_error("mkdtemp " + pattern + " failed: " + std::strerror(errno));
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;  // best effort: a destructor must not throw
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

    /// Writes `text` to <dir>/<name>, replacing any previous content, and returns the file's path. Throws when the
    /// file cannot be written.
    std::filesystem::path write(const std::string& name, const std::string& text) const {
        const auto file = path_ / name;
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out) throw std::runtime_error("cannot write " + file.string());
        return file;
    }

    /// The file names directly inside the folder, sorted (for exact expectations on what a component left there).
    [[nodiscard]] std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& entry : std::filesystem::directory_iterator(path_))
            out.push_back(entry.path().filename().string());
        std::sort(out.begin(), out.end());
        return out;
    }

  private:
    std::filesystem::path path_;
};

/// How a child process ended.
struct ExitStatus {
    bool exited = false;  ///< true: normal exit with `code`; false: killed by `signal`
    int code = -1;        ///< exit code when `exited`, else -1
    int signal = 0;       ///< terminating signal when killed, else 0
};

// The Daemon needs the build's bin folder, which warmup_add_test() defines for every test. Other users of this header
// (the benchmarks, through hotswap_test_config.hpp) do not define it and get only the helpers above.
#ifdef WARMUP_TEST_BIN_DIR

/// build/bin/warmupd running as a child process, with its output captured into an in-memory log.
///
/// The child's stdout (unless Capture::StderrOnly, which sends it to /dev/null) and stderr go to a pipe drained by a
/// reader thread, so the child never blocks on a full pipe; log() and the wait_for_log* calls may be used from any
/// thread. pid(), wait_exit(), kill_now() and the destructor are meant for the owning test thread only.
///
/// Lifetime: the destructor SIGKILLs and reaps the child unless wait_exit() or kill_now() already reaped it, then
/// joins the reader thread (the pipe reaches EOF once the child is gone: warmupd starts no processes of its own).
class Daemon {
  public:
    /// What of the child's output log() holds. AsTheJournal: both streams, with JOURNAL_STREAM set in the child's
    /// environment to the pipe's device and inode, as systemd sets it for a service whose output goes to its journal.
    enum class Capture { StdoutAndStderr, StderrOnly, AsTheJournal };

    /// Default bound of wait_until_listening(): generous because the machine may be busy compiling; a daemon that
    /// starts returns at once.
    static constexpr std::chrono::milliseconds kStartupTimeout{20'000};

    /// Spawns <bin>/<program> (warmupd, or another of the build's programs such as warmupctl; an absolute path is
    /// taken as it is, e.g. /usr/bin/prometheus) with `args`
    /// (argv[1...]). Throws when the pipe or the spawn fails; on success the child runs and is owned by this object.
    explicit Daemon(const std::vector<std::string>& args, Capture capture = Capture::StdoutAndStderr,
                    const std::string& program = "warmupd") {
        const std::string binary =
            program.starts_with('/') ? program : std::string(WARMUP_TEST_BIN_DIR) + "/" + program;
        std::vector<std::string> argv_strings{binary};
        argv_strings.insert(argv_strings.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& arg : argv_strings) argv.push_back(arg.data());
        argv.push_back(nullptr);

        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed: " + std::string(std::strerror(errno)));
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        // dup2 onto 1/2 clears close-on-exec for the copies; the originals close at exec (O_CLOEXEC).
        if (capture == Capture::StderrOnly) {
            posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        } else {
            posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
        }
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
        std::vector<std::string> environment_strings;
        for (char** variable = environ; *variable != nullptr; ++variable)
            if (capture != Capture::AsTheJournal || !std::string_view(*variable).starts_with("JOURNAL_STREAM="))
                environment_strings.emplace_back(*variable);
        if (capture == Capture::AsTheJournal) {
            struct stat pipe_status {};
            fstat(fds[1], &pipe_status);
            environment_strings.push_back("JOURNAL_STREAM=" + std::to_string(pipe_status.st_dev) + ":" +
                                          std::to_string(pipe_status.st_ino));
        }
        std::vector<char*> environment;
        for (auto& variable : environment_strings) environment.push_back(variable.data());
        environment.push_back(nullptr);
        const int spawn_error = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environment.data());
        posix_spawn_file_actions_destroy(&actions);
        close(fds[1]);  // the child holds the only write ends now: EOF on the read end means it has exited
        if (spawn_error != 0) {
            close(fds[0]);
            pid_ = -1;
            throw std::runtime_error("posix_spawn " + binary + " failed: " + std::strerror(spawn_error));
        }
        try {
            reader_ = std::thread([this, read_fd = fds[0]] { drain(read_fd); });
        } catch (...) {  // no destructor will run: do not leave the child behind
            close(fds[0]);
            kill_now();
            throw;
        }
    }

    ~Daemon() {
        if (pid_ > 0 && !status_) kill_now();
        if (reader_.joinable()) reader_.join();
    }
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }

    /// Everything the child has written so far.
    [[nodiscard]] std::string log() const {
        std::lock_guard lock(mutex_);
        return log_;
    }

    /// Waits until the log contains `needle` (true), or the output has ended or `timeout` passed without it (false).
    bool wait_for_log(const std::string& needle, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return log_.find(needle) != std::string::npos || log_closed_; }) &&
               log_.find(needle) != std::string::npos;
    }

    /// Waits until the child's output has ended (it exited and the pipe is drained); false on timeout.
    bool wait_for_log_end(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return log_closed_; });
    }

    /// Waits for the whole "listening on http://127.0.0.1:<port> " line (the space after the port means the number
    /// is complete) and returns the port; 0 when it did not come within `timeout` or the output ended first.
    int wait_until_listening(std::chrono::milliseconds timeout = kStartupTimeout) {
        static const std::regex kListening(R"(listening on http://127\.0\.0\.1:(\d+) )");
        std::unique_lock lock(mutex_);
        std::smatch match;  // refers into log_, so it is read while the lock is still held
        const bool found = cv_.wait_for(lock, timeout, [&] {
            return std::regex_search(log_, match, kListening) || log_closed_;
        }) && !match.empty();
        return found ? std::stoi(match[1].str()) : 0;
    }

    /// Reaps the child if it has exited or exits within `timeout` (polled every 10 ms); its status, or nullopt when
    /// it still runs. Once reaped, returns the same status at once.
    std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout) {
        if (status_ || pid_ <= 0) return status_;
        poll_until(
            [&] {
                int raw = 0;
                const pid_t done = waitpid(pid_, &raw, WNOHANG);
                if (done != pid_) return false;
                status_ = decode(raw);
                return true;
            },
            timeout);
        return status_;
    }

    /// SIGKILLs the child (as a crash would) and reaps it; returns how it ended (normally "killed by SIGKILL", or its
    /// real status when it had already exited). Blocks until reaped: SIGKILL cannot be caught or ignored.
    ExitStatus kill_now() {
        if (status_ || pid_ <= 0) return status_.value_or(ExitStatus{});
        kill(pid_, SIGKILL);
        int raw = 0;
        while (waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
        }
        status_ = decode(raw);
        return *status_;
    }

  private:
    static ExitStatus decode(int raw) {
        ExitStatus status;
        status.exited = WIFEXITED(raw);
        status.code = status.exited ? WEXITSTATUS(raw) : -1;
        status.signal = WIFSIGNALED(raw) ? WTERMSIG(raw) : 0;
        return status;
    }

    /// Reader thread: appends the child's output to log_ until EOF, then marks the log closed. Wakes every waiter on
    /// each chunk and at the end.
    void drain(int read_fd) {
        char buffer[4096];
        while (true) {
            const ssize_t got = read(read_fd, buffer, sizeof buffer);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            {
                std::lock_guard lock(mutex_);
                log_.append(buffer, static_cast<std::size_t>(got));
            }
            cv_.notify_all();
        }
        close(read_fd);
        {
            std::lock_guard lock(mutex_);
            log_closed_ = true;
        }
        cv_.notify_all();
    }

    pid_t pid_ = -1;
    std::optional<ExitStatus> status_;  // set once the child is reaped; owner thread only
    mutable std::mutex mutex_;          // guards log_ and log_closed_
    std::condition_variable cv_;
    std::string log_;
    bool log_closed_ = false;
    std::thread reader_;
};

#ifdef WARMUP_TEST_SOURCE_DIR
/// Runs scripts/<script> of the source tree from bash with `arguments` (shell words, quoted as on a command line),
/// WARMUP_REPLAY set to the build's warmup-replay and each of `environment` ("NAME=value") exported, as a user would
/// from the repository root. Waits up to `timeout`; returns the exit code and the merged stdout and stderr, or -1 and
/// what was read if it did not finish (a test expecting any exit code then fails, with the output). The wrapper script
/// is written into `dir`.
inline std::pair<int, std::string> run_repository_script(const TempDir& dir, const std::string& script,
                                                         const std::vector<std::string>& environment,
                                                         const std::string& arguments,
                                                         std::chrono::milliseconds timeout) {
    std::string text = "export WARMUP_REPLAY='" + std::string(WARMUP_TEST_BIN_DIR) + "/warmup-replay'\n";
    for (const auto& variable : environment) text += "export '" + variable + "'\n";
    text += "exec '" + std::string(WARMUP_TEST_SOURCE_DIR) + "/scripts/" + script + "' " + arguments + "\n";
    Daemon shell({dir.write(script + ".run", text).string()}, Daemon::Capture::StdoutAndStderr, "/bin/bash");
    const auto status = shell.wait_exit(timeout);
    if (!status) return {-1, shell.log() + "\n(" + script + " did not finish in time)"};
    if (!shell.wait_for_log_end(std::chrono::milliseconds(10'000)))
        return {-1, shell.log() + "\n(" + script + "'s output was not closed)"};
    return {status->code, shell.log()};
}
#endif  // WARMUP_TEST_SOURCE_DIR

#endif  // WARMUP_TEST_BIN_DIR

}  // namespace warmup::test
