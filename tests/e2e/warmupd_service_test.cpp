// What an operator or a service manager sees of the real daemon beyond its warm-up work: --version of the three
// programs, the readiness probe (GET /readyz) across start and a delayed shutdown, the sd_notify messages a
// Type=notify systemd unit relies on, warmup_build_info on /metrics and the build and start time in
// /api/warmup/status.
//
// build/bin/warmupd runs as a child process (test_support.hpp Daemon) on a small sim-backend configuration; every
// wait is bounded. The expected commit is what git reports for the source checkout (the build captured it at build
// time), or "unknown" when the sources are not a git checkout of their own.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <warmup/common.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "daemon_test_fixture.hpp"
#include "test_support.hpp"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using warmup::test::Daemon;
using warmup::test::poll_until;

constexpr auto kExitTimeout = 20s;

std::string config_yaml() {
    return std::string("plugin_dirs: [\"") + WARMUP_TEST_PLUGIN_DIR +
           "\"]\n"
           "budgets: {memory_mb: 4000}\n"
           "components:\n"
           "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
           "  predictor: {plugin: org.warmup.predictor.keep-alive}\n"
           "  performance: {plugin: org.warmup.performance.calibrated}\n"
           "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
           "  resource: {plugin: org.warmup.resource.lru}\n"
           "  queue: {plugin: org.warmup.queue.priority}\n"
           "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
           "  backend: {plugin: org.warmup.backend.sim}\n"
           "catalog:\n"
           "  - {model: \"m/*\", memory_mb: 100, load_ms: 5}\n"
           "  - {model: \"slow/*\", memory_mb: 100, load_ms: 600000}\n";
}

/// config_yaml() with a control loop counted as stalled past 300 ms and a predictor whose every predict call sleeps
/// `sleep_us` (org.warmup.test.flaky-predictor).
std::string config_with_a_sleeping_predictor(int64_t sleep_us) {
    std::string yaml = config_yaml();
    const std::string budgets = "budgets: {memory_mb: 4000}";
    const std::string predictor = "  predictor: {plugin: org.warmup.predictor.keep-alive}";
    yaml.replace(yaml.find(budgets), budgets.size(), "budgets: {memory_mb: 4000, plugin_call_stall_ms: 300}");
    yaml.replace(yaml.find(predictor), predictor.size(),
                 std::string("  predictor: {path: \"") + WARMUP_TEST_BAD_PLUGIN_DIR +
                     "/engine_breaker_flaky_predictor.so\", params: {failing_calls: 0, sleep_us: " +
                     std::to_string(sleep_us) + "}}");
    return yaml;
}

/// Output of a shell command (its stdout), "" when it could not run.
std::string command_output(const std::string& command) {
    std::string out;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return out;
    std::array<char, 256> buffer{};
    while (fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) out += buffer.data();
    pclose(pipe);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

/// The commit the build must report: git's abbreviated HEAD when the source folder is the top of a work tree.
std::string expected_commit() {
    const std::string source = WARMUP_TEST_SOURCE_DIR;
    const std::string top = command_output("git -C '" + source + "' rev-parse --show-toplevel 2>/dev/null");
    std::error_code error;
    if (top.empty() || !std::filesystem::equivalent(top, source, error)) return "unknown";
    const std::string head = command_output("git -C '" + source + "' rev-parse --short=12 HEAD 2>/dev/null");
    return head.empty() ? "unknown" : head;
}

std::string expected_abi() { return std::to_string(WARMUP_ABI_MAJOR) + "." + std::to_string(WARMUP_ABI_MINOR); }

/// A datagram socket standing in for systemd's notify socket; the child finds it through $NOTIFY_SOCKET.
class NotifySocket {
  public:
    explicit NotifySocket(const std::filesystem::path& path) : path_(path) {
        fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw std::runtime_error("socket(AF_UNIX) failed");
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        if (path.string().size() >= sizeof address.sun_path) throw std::runtime_error("socket path too long");
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
        if (bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
            throw std::runtime_error("bind " + path.string() + " failed");
        const timeval timeout{0, 100'000};  // receive() polls in 100 ms slices
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
    ~NotifySocket() { close(fd_); }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    /// Every message received so far, appended to `seen` (one message per line); true once one contains `needle`,
    /// false when `timeout` passed first.
    bool wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
        return poll_until(
            [&] {
                std::array<char, 4096> buffer{};
                const ssize_t got = recv(fd_, buffer.data(), buffer.size() - 1, 0);
                if (got > 0) seen_ += std::string(buffer.data(), static_cast<std::size_t>(got)) + "\n";
                return seen_.find(needle) != std::string::npos;
            },
            timeout, 0ms);
    }
    [[nodiscard]] const std::string& seen() const { return seen_; }

  private:
    std::filesystem::path path_;
    int fd_ = -1;
    std::string seen_;
};

TEST(ProgramVersion, EveryProgramPrintsVersionAbiAndCommitAndExits0) {
    const std::string expected = std::string(" ") + WARMUP_TEST_PROJECT_VERSION + " (plugin ABI " + expected_abi() +
                                 ", commit " + expected_commit() + ")";
    for (const std::string program : {"warmupd", "warmup-replay", "warmupctl"}) {
        Daemon run({"--version"}, Daemon::Capture::StdoutAndStderr, program);
        const auto status = run.wait_exit(kExitTimeout);
        ASSERT_TRUE(status.has_value()) << program << " --version did not exit";
        EXPECT_TRUE(status->exited && status->code == 0) << program << ": exit " << status->code << "\n" << run.log();
        ASSERT_TRUE(run.wait_for_log_end(kExitTimeout));
        EXPECT_EQ(run.log(), program + expected + "\n");
    }
}

/// Runs `program` with `args` to its end; its exit status (-1 when it did not exit normally) and its output.
std::pair<int, std::string> run_to_end(const std::string& program, const std::vector<std::string>& args) {
    Daemon run(args, Daemon::Capture::StdoutAndStderr, program);
    const auto status = run.wait_exit(kExitTimeout);
    if (!status) return {-1, run.log() + "\n(did not exit)"};
    run.wait_for_log_end(kExitTimeout);
    return {status->exited ? status->code : -1, run.log()};
}

TEST(ProgramUsage, UsageErrorsExit2WithTheParsersMessageAndHelpExits0) {
    const auto [port_code, port_output] = run_to_end("warmupd", {"--port", "99999"});
    EXPECT_EQ(port_code, 2) << port_output;
    EXPECT_NE(port_output.find("--port"), std::string::npos) << port_output;
    EXPECT_NE(port_output.find("99999"), std::string::npos) << port_output;
    // An unknown option beside what each program requires, so that the option is what the parser refuses.
    const std::vector<std::pair<std::string, std::vector<std::string>>> bogus_runs = {
        {"warmupd", {"--bogus"}},
        {"warmup-replay", {"--config", "c.yaml", "--trace", "csv:t.csv", "--bogus"}},
        {"warmupctl", {"status", "--bogus"}}};
    for (const auto& [program, args] : bogus_runs) {
        const auto [bogus_code, bogus_output] = run_to_end(program, args);
        EXPECT_EQ(bogus_code, 2) << program << ":\n" << bogus_output;
        EXPECT_NE(bogus_output.find("--bogus"), std::string::npos) << program << ":\n" << bogus_output;
        const auto [help_code, help_output] = run_to_end(program, {"--help"});
        EXPECT_EQ(help_code, 0) << program << ":\n" << help_output;
        EXPECT_NE(help_output.find("--version"), std::string::npos) << program << ":\n" << help_output;
    }
}

TEST(ProgramSignals, ASighupOnTheEmbeddedDefaultIsLoggedAsAFailedReloadAndTheDaemonServesOn) {
    Daemon daemon({"--bind", "127.0.0.1", "--port", "0"});
    const int port = daemon.wait_until_listening();
    ASSERT_GT(port, 0) << daemon.log();
    ASSERT_EQ(kill(daemon.pid(), SIGHUP), 0);
    // At error level with the code every other failed reload has (an alert on CONFIG_RELOAD_FAILED sees it).
    EXPECT_TRUE(
        daemon.wait_for_log(" error CONFIG_RELOAD_FAILED the daemon runs the embedded default configuration: "
                            "there is no file to reload (start it with --config FILE)",
                            kExitTimeout))
        << daemon.log();
    httplib::Client client("127.0.0.1", port);
    const auto ready = client.Get("/readyz");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 200);
}

TEST(ProgramUsage, ABindAddressThatIsNoAddressIsRefusedUpFront) {
    // Without a token (it is no loopback address either) and with one: the same refusal, before any bind.
    for (const bool token : {false, true}) {
        if (token) setenv("WARMUP_ACCESS_TOKEN", "test-token-0123456789abcdef", 1);
        const auto [code, output] = run_to_end("warmupd", {"--bind", "999.1.1.1", "--port", "0"});
        unsetenv("WARMUP_ACCESS_TOKEN");
        EXPECT_EQ(code, 2) << output;
        EXPECT_NE(output.find("--bind: '999.1.1.1' is not a valid IPv4 address"), std::string::npos) << output;
        EXPECT_EQ(output.find("SECURITY_ERROR"), std::string::npos) << output;
        EXPECT_EQ(output.find("No such file"), std::string::npos) << output;
    }
    // The same address in the configuration file is a configuration error at its line.
    warmup::test::TempDir dir("warmupd-bind");
    const auto config = dir.write("bad-bind.yaml", config_yaml() + "http: {bind: 999.1.1.1}\n");
    const auto [code, output] = run_to_end("warmupd", {"--config", config.string()});
    EXPECT_EQ(code, 2) << output;
    EXPECT_NE(output.find("CONFIG_ERROR " + config.string() + ":"), std::string::npos) << output;
    EXPECT_NE(output.find("http.bind: '999.1.1.1' is not a valid IPv4 address"), std::string::npos) << output;
}

TEST(ProgramUsage, AMissingTmpdirIsNamedWithWhatToDo) {
    // The service unit points TMPDIR at the cache folder; gone, the start said only "temp_directory_path: No such
    // file or directory".
    const char* before = std::getenv("TMPDIR");
    const std::string saved = before != nullptr ? before : "";
    setenv("TMPDIR", "/nonexistent-warmup-tmpdir", 1);
    const auto [code, output] = run_to_end("warmupd", {"--port", "0"});
    if (before != nullptr)
        setenv("TMPDIR", saved.c_str(), 1);
    else
        unsetenv("TMPDIR");
    EXPECT_EQ(code, 2) << output;
    EXPECT_NE(output.find("TMPDIR=/nonexistent-warmup-tmpdir"), std::string::npos) << output;
    EXPECT_NE(output.find("set TMPDIR to a writable folder"), std::string::npos) << output;
}

TEST(ProgramUsage, AHostNameThatDoesNotResolveIsRefusedAsNoAddressBeforeTheSecurityCheck) {
    // .invalid never resolves (RFC 6761). Written like a host name, it names no address: refused as such, with or
    // without a token, and not as "not a loopback address", which would send the operator after the wrong problem.
    constexpr const char* kName = "notanaddr.invalid";
    for (const bool token : {false, true}) {
        if (token) setenv("WARMUP_ACCESS_TOKEN", "test-token-0123456789abcdef", 1);
        const auto [code, output] = run_to_end("warmupd", {"--bind", kName, "--port", "0"});
        unsetenv("WARMUP_ACCESS_TOKEN");
        EXPECT_EQ(code, 2) << output;
        EXPECT_NE(output.find(std::string("--bind: '") + kName + "' is not an address: the host name does not resolve"),
                  std::string::npos)
            << output;
        EXPECT_EQ(output.find("SECURITY_ERROR"), std::string::npos) << output;
        EXPECT_EQ(output.find("HTTP_BIND_ERROR"), std::string::npos) << output;
    }
    warmup::test::TempDir dir("warmupd-bind-name");
    const auto config = dir.write("no-address.yaml", config_yaml() + "http: {bind: " + kName + "}\n");
    const auto [code, output] = run_to_end("warmupd", {"--config", config.string()});
    EXPECT_EQ(code, 2) << output;
    EXPECT_NE(output.find("CONFIG_ERROR " + config.string() + ":"), std::string::npos) << output;
    EXPECT_NE(output.find(std::string("http.bind: '") + kName + "' is not an address: the host name does not resolve"),
              std::string::npos)
        << output;
    EXPECT_EQ(output.find("SECURITY_ERROR"), std::string::npos) << output;
}

TEST(ProgramLogging, WhatWarmupdSaysBeforeItRunsIsInTheConfiguredFormatAndCarriesTheJournalsPriority) {
    // A refused start (no token on a non-loopback address) under systemd: the refusal is a critical line the journal
    // files as one (`journalctl -p crit`, like every refused start), in the configured JSON; the lines of a running
    // daemon carry their levels too.
    warmup::test::TempDir dir("warmupd-journal");
    const auto refused = dir.write("refused.yaml", config_yaml() + "log_format: json\nhttp: {bind: 0.0.0.0}\n");
    Daemon refusal({"--config", refused.string()}, Daemon::Capture::AsTheJournal);
    const auto status = refusal.wait_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value()) << refusal.log();
    EXPECT_TRUE(status->exited && status->code == 2) << refusal.log();
    refusal.wait_for_log_end(kExitTimeout);
    const std::string line = refusal.log().substr(0, refusal.log().find('\n'));
    ASSERT_TRUE(line.starts_with("<2>")) << refusal.log();
    const json parsed = json::parse(line.substr(3), nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << line;
    EXPECT_EQ(parsed["code"], "SECURITY_ERROR");
    EXPECT_EQ(parsed["level"], "critical");

    const auto running = dir.write("running.yaml", config_yaml());
    Daemon daemon({"--config", running.string(), "--port", "0"}, Daemon::Capture::AsTheJournal);
    ASSERT_TRUE(daemon.wait_for_log(" info STARTUP warmupd listening on", kExitTimeout)) << daemon.log();
    EXPECT_TRUE(std::regex_search(daemon.log(), std::regex(R"((^|\n)<6>\d{4}-\d\d-\d\dT[0-9:.]+ info STARTUP )")))
        << daemon.log();
    kill(daemon.pid(), SIGTERM);
    ASSERT_TRUE(daemon.wait_exit(kExitTimeout).has_value()) << daemon.log();

    // Outside the journal (a terminal, a pipe; here with a JOURNAL_STREAM inherited from a service that started
    // warmupd with its output redirected) no line has a prefix.
    setenv("JOURNAL_STREAM", "1:1", 1);
    const auto [code, output] = run_to_end("warmupd", {"--config", refused.string()});
    unsetenv("JOURNAL_STREAM");
    EXPECT_EQ(code, 2) << output;
    EXPECT_TRUE(output.starts_with("{")) << output;
}

TEST(ProgramLogging, WarmupReplayLogsToStandardErrorItsStandardOutputBeingItsSummary) {
    // A replayed plugin that fails: its PLUGIN_CALL_ERROR lines go to standard error (only that is captured here), in
    // warmupd's text format; before, they went to standard output between the lines of the run's summary.
    warmup::test::TempDir dir("warmup-replay-stderr");
    std::string yaml = config_yaml();
    const std::string keep_alive = "  predictor: {plugin: org.warmup.predictor.keep-alive}";
    yaml.replace(
        yaml.find(keep_alive), keep_alive.size(),
        std::string("  predictor: {path: \"") + WARMUP_TEST_BAD_PLUGIN_DIR + "/engine_breaker_flaky_predictor.so\"}");
    const auto config = dir.write("replay.yaml", yaml);
    const auto trace = dir.write("trace.csv", "ts_ms,model\n1000,m/a\n2000,m/b\n");
    Daemon replay(
        {"--config", config.string(), "--trace", "csv:" + trace.string(), "--out", (dir.path() / "out").string()},
        Daemon::Capture::StderrOnly, "warmup-replay");
    const auto status = replay.wait_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value()) << replay.log();
    replay.wait_for_log_end(kExitTimeout);
    EXPECT_TRUE(std::regex_search(
        replay.log(), std::regex(R"((^|\n)\d{4}-\d\d-\d\dT[0-9:.]+ error PLUGIN_CALL_ERROR org\.warmup\.test\.flaky)")))
        << replay.log();
}

/// Sets the environment of the next programs started: `localhost` fails to look up for a temporary reason
/// (EAI_AGAIN) `failures` times (-1: always), through the LD_PRELOAD library flaky_resolver.c. Undone at scope exit.
class FlakyResolver {
  public:
    explicit FlakyResolver(int failures) {
        setenv("LD_PRELOAD", WARMUP_TEST_FLAKY_RESOLVER, 1);
        setenv("WARMUP_TEST_FLAKY_NAME", "localhost", 1);
        setenv("WARMUP_TEST_FLAKY_FAILURES", std::to_string(failures).c_str(), 1);
    }
    ~FlakyResolver() {
        unsetenv("LD_PRELOAD");
        unsetenv("WARMUP_TEST_FLAKY_NAME");
        unsetenv("WARMUP_TEST_FLAKY_FAILURES");
    }
    FlakyResolver(const FlakyResolver&) = delete;
    FlakyResolver& operator=(const FlakyResolver&) = delete;
};

TEST(ProgramUsage, ABindNameThatCannotBeLookedUpYetIsWaitedForThenServed) {
    // At boot the resolver may not be reachable yet: the lookup fails for a temporary reason, which is not a name
    // that names nothing (exit 2, never restarted by the unit). Two such failures (the --bind check, the first
    // lookup), then the name resolves: the daemon says it waited, starts and serves.
    warmup::test::TempDir dir("warmupd-resolve");
    const auto config = dir.write("c.yaml", config_yaml());
    std::optional<Daemon> daemon;
    {
        FlakyResolver flaky(2);
        daemon.emplace(std::vector<std::string>{"--config", config.string(), "--bind", "localhost", "--port", "0"});
    }
    ASSERT_TRUE(daemon->wait_for_log("listening on http://localhost:", kExitTimeout)) << daemon->log();
    const std::string log = daemon->log();
    std::smatch port;
    ASSERT_TRUE(std::regex_search(log, port, std::regex(R"(listening on http://localhost:(\d+) )"))) << log;
    httplib::Client http("127.0.0.1", std::stoi(port[1].str()));
    const auto ready = http.Get("/readyz");
    ASSERT_TRUE(ready) << log;
    EXPECT_EQ(ready->status, 200) << log;
    EXPECT_NE(log.find("BIND_ADDRESS_WAIT --bind: 'localhost' cannot be looked up now"), std::string::npos) << log;
    EXPECT_NE(log.find("BIND_ADDRESS_RESOLVED --bind 'localhost' looked up after"), std::string::npos) << log;
    EXPECT_EQ(log.find("CONFIG_ERROR"), std::string::npos) << log;
    kill(daemon->pid(), SIGTERM);
    const auto status = daemon->wait_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value()) << daemon->log();
    EXPECT_TRUE(status->exited && status->code == 0) << daemon->log();
}

TEST(ProgramUsage, ABindNameStillNotLookedUpAfterTheWaitExitsWithTheTemporaryFailureStatus) {
    warmup::test::TempDir dir("warmupd-resolve-late");
    const auto config = dir.write("c.yaml", config_yaml() + "http: {bind: localhost}\n");
    FlakyResolver flaky(-1);
    // --resolve-wait-s 1: two lookups a second apart, then exit 75 (EX_TEMPFAIL), on which the unit restarts.
    const auto [code, output] = run_to_end("warmupd", {"--config", config.string(), "--resolve-wait-s", "1"});
    EXPECT_EQ(code, 75) << output;
    EXPECT_NE(output.find("BIND_ADDRESS_UNRESOLVED " + config.string() + ":"), std::string::npos) << output;
    EXPECT_NE(output.find("http.bind: 'localhost' cannot be looked up now"), std::string::npos) << output;
    EXPECT_EQ(output.find("STARTUP"), std::string::npos) << output;
    // A reload signal does not end the wait (nothing runs yet); a stop signal does: exit 0 at once, nothing started.
    Daemon waiting({"--config", config.string()});
    ASSERT_TRUE(waiting.wait_for_log("BIND_ADDRESS_WAIT", kExitTimeout)) << waiting.log();
    kill(waiting.pid(), SIGHUP);
    ASSERT_TRUE(waiting.wait_for_log("SIGHUP ignored while waiting", kExitTimeout)) << waiting.log();
    EXPECT_FALSE(waiting.wait_exit(std::chrono::milliseconds(500)).has_value()) << waiting.log();
    kill(waiting.pid(), SIGTERM);
    const auto status = waiting.wait_exit(std::chrono::milliseconds(10'000));
    ASSERT_TRUE(status.has_value()) << waiting.log();
    EXPECT_TRUE(status->exited && status->code == 0) << waiting.log();
    EXPECT_EQ(waiting.log().find("STARTUP"), std::string::npos) << waiting.log();
}

TEST(ProgramUsage, ReplayRefusesWhatItWouldOtherwiseIgnoreOrMisread) {
    warmup::test::TempDir dir("replay-usage");
    const std::string config = dir.write("c.yaml", config_yaml()).string();
    const std::string trace = "csv:" + dir.write("t.csv", "ts_ms,model\n0,m/a\n60000,m/b\n").string();
    const std::string out = (dir.path() / "out").string();
    struct Case {
        std::vector<std::string> args;
        std::string expected;
    };
    const std::vector<Case> cases = {
        {{"--arms", "control,contrl"}, "--arms: no configured arm is named 'contrl' (configured: control)"},
        {{"--arms", "control, contrl "}, "--arms: no configured arm is named 'contrl' (configured: control)"},
        {{"--arms", ""}, "--arms names no arm"},
        {{"--arms", ","}, "--arms names no arm"},
        {{"--seed", "-1"}, "bad --seed '-1' (expected an integer in [0, 18446744073709551615])"},
        {{"--seed", "18446744073709551616"}, "bad --seed '18446744073709551616'"},
        {{"--from", "2m", "--to", "1m"}, "--from 2m is not before --to 1m"},
        {{"--from", "1h"}, "no event in the chosen time range [3600000 ms, -): its events run from 0 ms to 60000 ms"},
        {{"--load-slack", "0.5"}, "--load-slack applies to a fleet replay: give --nodes N too"},
        {{"--nodes", "2", "--frontier"}, "--arms, --frontier, --keep-alive and --dump-events do not apply to it"},
        {{"--keep-alive", "5,x"},
         "bad --keep-alive 'x' (expected keeps in minutes, comma-separated, each at least 1 ms)"},
        {{"--keep-alive", "0"}, "bad --keep-alive '0'"},
        {{"--keep-alive", "5,,6"}, "bad --keep-alive ''"},
        {{"--keep-alive", "5, x"}, "bad --keep-alive 'x'"},
    };
    for (const Case& c : cases) {
        std::vector<std::string> args = {"--config", config, "--trace", trace, "--out", out, "--quiet"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        const auto [code, output] = run_to_end("warmup-replay", args);
        EXPECT_EQ(code, 2) << c.expected << "\n" << output;
        EXPECT_NE(output.find(c.expected), std::string::npos) << output;
    }
    // Traces in milliseconds and microseconds together are refused by their span, in a fleet replay too (its own
    // reading of the traces once skipped the bound, and ran out of memory).
    const std::string ms_trace = "csv:" + dir.write("ms.csv", "ts_ms,model\n1700000000000,m/a\n").string();
    const std::string us_trace = "csv:" + dir.write("us.csv", "ts_ms,model\n170000000000000,m/b\n").string();
    for (const std::vector<std::string>& fleet :
         {std::vector<std::string>{}, std::vector<std::string>{"--nodes", "2"}}) {
        std::vector<std::string> args = {"--config", config,  "--trace", ms_trace, "--trace",
                                         us_trace,   "--out", out,       "--quiet"};
        args.insert(args.end(), fleet.begin(), fleet.end());
        const auto [code, output] = run_to_end("warmup-replay", args);
        EXPECT_EQ(code, 2) << output;
        EXPECT_NE(output.find("model 'm/b': timestamp 170000000000000 ms (7357-01-31 UTC) is 1947917 days after the "
                              "first event's"),
                  std::string::npos)
            << output;
    }
    // A dump of a trace that fails part-way leaves no file behind; a good one is written whole.
    const std::string bad_trace = "csv:" + dir.write("bad.csv", "ts_ms,model\n0,m/a\nlater,m/b\n").string();
    const auto dump = dir.path() / "dump.csv";
    const auto [bad_code, bad_output] =
        run_to_end("warmup-replay", {"--config", config, "--trace", bad_trace, "--dump-events", dump.string()});
    EXPECT_EQ(bad_code, 2) << bad_output;
    EXPECT_NE(bad_output.find("bad timestamp 'later'"), std::string::npos) << bad_output;
    EXPECT_FALSE(std::filesystem::exists(dump));
    const auto [good_code, good_output] =
        run_to_end("warmup-replay", {"--config", config, "--trace", trace, "--dump-events", dump.string()});
    EXPECT_EQ(good_code, 0) << good_output;
    EXPECT_EQ(warmup::test::read_text_file(dump), "ts_ms,model,count,tenant\n0,m/a,1,\n60000,m/b,1,\n");
}

TEST(ProgramUsage, ReplayLogsAFailingPluginsFirstErrorsAndCountsTheRest) {
    // A predictor that fails every call, over a day of events: the circuit's trial call fails every 30 s of engine
    // time, thousands of times in a few seconds of replay. The first failures are logged, then one line says the rest
    // are counted; the report still counts every one.
    warmup::test::TempDir dir("replay-failing-plugin");
    std::string yaml = config_yaml();
    const std::string keep_alive = "{plugin: org.warmup.predictor.keep-alive}";
    yaml.replace(yaml.find(keep_alive), keep_alive.size(),
                 "{path: \"" + std::string(WARMUP_TEST_BAD_PLUGIN_DIR) + "/engine_breaker_flaky_predictor.so\"}");
    const std::string config = dir.write("c.yaml", yaml).string();
    std::string events = "ts_ms,model\n";
    for (int minute = 0; minute < 24 * 60; ++minute) events += std::to_string(minute * 60'000) + ",m/a\n";
    const std::string trace = "csv:" + dir.write("t.csv", events).string();
    const std::string out = (dir.path() / "out").string();
    const auto [code, output] =
        run_to_end("warmup-replay", {"--config", config, "--trace", trace, "--out", out, "--quiet"});
    ASSERT_EQ(code, 0) << output;
    const auto lines_with = [&](const std::string& text) {
        std::size_t count = 0;
        for (std::size_t at = output.find(text); at != std::string::npos; at = output.find(text, at + 1)) ++count;
        return count;
    };
    EXPECT_LE(lines_with("PLUGIN_CALL_ERROR"), 11u) << output.substr(0, 4000);
    EXPECT_LE(lines_with("PLUGIN_CIRCUIT_OPEN"), 10u) << output.substr(0, 4000);
    EXPECT_EQ(lines_with("its further failures are counted (plugin_errors), not logged one by one"), 1u);
    const json report = json::parse(warmup::test::read_text_file(dir.path() / "out" / "report.json"));
    EXPECT_GT(report["arms"][0]["plugin_errors"].get<uint64_t>(), 1000u) << "every failure is still counted";
}

TEST(ProgramUsage, AReplayArmHeldUpByAPluginCallThatDoesNotReturnIsNamedWhileTheReplayWaits) {
    // Every predict call of the arm's predictor sleeps 1.5 s; past 300 ms without progress the replay names the arm and
    // the call on standard error, and says when the arm goes on. The replay still ends with its report.
    warmup::test::TempDir dir("replay-stall");
    const std::string yaml = config_with_a_sleeping_predictor(1'500'000);
    const std::string config = dir.write("c.yaml", yaml).string();
    const std::string trace = "csv:" + dir.write("t.csv", "ts_ms,model\n0,m/a\n").string();
    const auto [code, output] = run_to_end(
        "warmup-replay", {"--config", config, "--trace", trace, "--out", (dir.path() / "out").string(), "--quiet"});
    EXPECT_EQ(code, 0) << output;
    EXPECT_NE(output.find("REPLAY_STALLED arm 'control' has made no progress for 0."), std::string::npos) << output;
    EXPECT_NE(output.find(": in predictor org.warmup.test.flaky-predictor@1.0.0: predict (a call that does not return"),
              std::string::npos)
        << output;
    EXPECT_NE(output.find("REPLAY_RESUMED arm 'control' goes on after 1."), std::string::npos) << output;
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "out" / "report.json"));
}

class WarmupdExperimentTest : public warmup::test::DaemonTest {
  protected:
    WarmupdExperimentTest() : DaemonTest("warmupd-experiment") {}
};

TEST_F(WarmupdExperimentTest, AnArmWhosePluginCallsFailSaysHowManyInTheExperimentsAnswer) {
    // An acting arm whose predictor throws on every call: its figures are partly the host's fallbacks', which the
    // experiments answer says by the arm (a replay flags such an arm above its table).
    const std::string yaml = config_yaml() +
                             "experiment: {enabled: true, split: model, control_weight: 1}\n"
                             "arms:\n  - {name: broken, components: {predictor: {path: \"" +
                             WARMUP_TEST_BAD_PLUGIN_DIR + "/engine_breaker_flaky_predictor.so\"}}}\n";
    start_daemon(yaml);
    ASSERT_FALSE(HasFatalFailure());
    std::string events;
    for (int i = 0; i < 20; ++i) events += "{\"model\": \"m/" + std::to_string(i) + "\"}\n";
    const auto posted = client_->Post("/api/warmup/events", events, "application/x-ndjson");
    ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
    json arms;
    ASSERT_TRUE(warmup::test::poll_until(
        [&] {
            const auto answer = client_->Get("/api/warmup/experiments");
            if (!answer || answer->status != 200) return false;
            arms = json::parse(answer->body)["arms"];
            for (const json& arm : arms)
                if (arm["name"] == "broken" && arm["plugin_errors"].get<uint64_t>() > 0) return true;
            return false;
        },
        10s))
        << arms.dump();
    for (const json& arm : arms) {
        if (arm["name"] == "control") {
            EXPECT_EQ(arm["plugin_errors"], 0) << arm.dump();
        }
    }
}

class WarmupdStallTest : public warmup::test::DaemonTest {
  protected:
    WarmupdStallTest() : DaemonTest("warmupd-stall") {}

    /// The body of /healthz once it answers 503 (the control loop stalled), polled every 20 ms for `within`; null
    /// when it did not within that.
    json stalled_health(std::chrono::milliseconds within) {
        json stalled;
        warmup::test::poll_until(
            [&] {
                const auto health = client_->Get("/healthz");
                if (!health || health->status != 503) return false;
                stalled = json::parse(health->body);
                return true;
            },
            within, 20ms);
        return stalled;
    }
};

TEST_F(WarmupdStallTest, APluginCallThatDoesNotReturnIsNamedByTheProbesAndDoesNotHoldUpRequestsOrAStop) {
    // Every predict call sleeps 4 s; past 300 ms the daemon counts the control loop as stalled.
    const std::string yaml = config_with_a_sleeping_predictor(4'000'000);
    start_daemon(yaml);
    ASSERT_FALSE(HasFatalFailure());
    httplib::Client& client = *client_;
    ASSERT_EQ(client.Get("/healthz")->status, 200);

    const auto posted = client.Post("/api/warmup/events", R"({"model": "m/a"})", "application/json");
    ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
    const json stalled = stalled_health(3s);
    ASSERT_FALSE(stalled.is_null()) << daemon_->log();
    EXPECT_EQ(stalled["status"], "stalled");
    EXPECT_EQ(stalled["stalled_in"], "predictor org.warmup.test.flaky-predictor@1.0.0: predict") << stalled.dump();
    EXPECT_GE(stalled["stalled_for_s"].get<double>(), 0.3);
    const auto ready = client.Get("/readyz");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 503);
    // A request that needs the control loop is answered, not held until the call returns.
    const auto started = std::chrono::steady_clock::now();
    const auto status = client.Get("/api/warmup/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->status, 503) << status->body;
    EXPECT_NE(status->body.find("the control loop is stalled: predictor org.warmup.test.flaky-predictor@1.0.0: "
                                "predict has not returned for"),
              std::string::npos)
        << status->body;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
    ASSERT_TRUE(daemon_->wait_for_log("CONTROL_LOOP_STALLED the control loop is stalled: predictor", 5s));
    // The call returns: the daemon says so and its probes pass again.
    ASSERT_TRUE(daemon_->wait_for_log("CONTROL_LOOP_RESUMED predictor", 20s)) << daemon_->log();
    ASSERT_TRUE(warmup::test::poll_until([&] { return client.Get("/healthz")->status == 200; }, 20s, 50ms));

    // Stalled again (a new model is predicted), a SIGTERM ends the process with status 1 instead of waiting on.
    const auto again = client.Post("/api/warmup/events", R"({"model": "m/b"})", "application/json");
    ASSERT_TRUE(again && again->status == 200);
    ASSERT_TRUE(warmup::test::poll_until([&] { return client.Get("/healthz")->status == 503; }, 3s, 20ms));
    ::kill(daemon_->pid(), SIGTERM);
    const auto exit = daemon_->wait_exit(3s);
    ASSERT_TRUE(exit.has_value()) << "warmupd did not exit while stalled";
    EXPECT_TRUE(exit->exited && exit->code == 1) << daemon_->log();
    EXPECT_NE(daemon_->log().find("SHUTDOWN_STALLED the control loop is stalled: predictor"), std::string::npos);
}

TEST_F(WarmupdStallTest, AReloadHeldUpByItsPluginCallsNamesThemAndDoesNotHoldUpAStop) {
    // A reload plans every model with its new plugins, on the reload request's thread, with the control loop paused:
    // here 400 predict calls of 25 ms each (under the 50 ms call budget, so none counts as a failure), 10 s in all.
    // Before, a SIGTERM then waited for that request and the daemon exited with status 0 once it ended; and the
    // probes said only "a control-loop step", no call of which was slow enough to be named.
    std::string yaml = config_yaml();
    const std::string budgets = "budgets: {memory_mb: 4000}";
    ASSERT_NE(yaml.find(budgets), std::string::npos);
    yaml.replace(yaml.find(budgets), budgets.size(), "budgets: {memory_mb: 100000, plugin_call_stall_ms: 300}");
    start_daemon(yaml);
    ASSERT_FALSE(HasFatalFailure());
    httplib::Client& client = *client_;
    std::string events;
    for (int i = 0; i < 400; ++i) events += R"({"model": "m/)" + std::to_string(i) + "\"}\n";
    const auto posted = client.Post("/api/warmup/events", events, "application/x-ndjson");
    ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
    // Every model loaded before the reload (its replan plans the loaded and the absent ones).
    ASSERT_TRUE(warmup::test::poll_until(
        [&] {
            const auto status = client.Get("/api/warmup/status");
            return status && status->status == 200 &&
                   json::parse(status->body)["counters"].value("loads_succeeded", uint64_t{0}) == 400;
        },
        10s, 50ms))
        << daemon_->log();

    const std::string keep_alive = "  predictor: {plugin: org.warmup.predictor.keep-alive}";
    ASSERT_NE(yaml.find(keep_alive), std::string::npos);
    yaml.replace(yaml.find(keep_alive), keep_alive.size(),
                 std::string("  predictor: {path: \"") + WARMUP_TEST_BAD_PLUGIN_DIR +
                     "/engine_breaker_flaky_predictor.so\", params: {failing_calls: 0, sleep_us: 25000}}");
    dir_.write("warmupd.yaml", yaml);
    std::thread reload([port = port_] {
        httplib::Client reloader("127.0.0.1", port);
        reloader.set_read_timeout(120s);
        reloader.Post("/api/warmup/config/reload");  // answered, or cut by the daemon's exit
    });
    const json stalled = stalled_health(8s);
    ASSERT_FALSE(stalled.is_null()) << daemon_->log();
    EXPECT_NE(stalled["stalled_in"].get<std::string>().find(
                  "a control-loop step (now in predictor org.warmup.test.flaky-predictor@1.0.0: predict, for "),
              std::string::npos)
        << stalled.dump();
    ::kill(daemon_->pid(), SIGTERM);
    const auto exit = daemon_->wait_exit(5s);
    reload.join();
    ASSERT_TRUE(exit.has_value()) << "warmupd waited for the reload's request";
    EXPECT_TRUE(exit->exited && exit->code == 1) << daemon_->log();
    EXPECT_NE(daemon_->log().find("SHUTDOWN_STALLED an HTTP request being served waits on it: the control loop is "
                                  "stalled: a control-loop step (now in predictor "
                                  "org.warmup.test.flaky-predictor@1.0.0: predict"),
              std::string::npos)
        << daemon_->log();
}

TEST_F(WarmupdStallTest, APluginThatCrashesTheDaemonIsNamedOnTheWayOut) {
    // The second predict call aborts: the process dies of SIGABRT as before, and its last line names the call.
    for (const auto& [params, signal_number, name] :
         std::vector<std::tuple<std::string, int, std::string>>{{"abort_on_call: 2", SIGABRT, "SIGABRT"},
                                                                // A stack overflow: reported on its own stack.
                                                                {"overflow_on_call: 2", SIGSEGV, "SIGSEGV"}}) {
        std::string yaml = config_yaml();
        const auto predictor = yaml.find("  predictor: {plugin: org.warmup.predictor.keep-alive}");
        ASSERT_NE(predictor, std::string::npos);
        yaml.replace(predictor, std::string("  predictor: {plugin: org.warmup.predictor.keep-alive}").size(),
                     std::string("  predictor: {path: \"") + WARMUP_TEST_BAD_PLUGIN_DIR +
                         "/engine_breaker_flaky_predictor.so\", params: {failing_calls: 0, " + params + "}}");
        // No state: the next run must not replay the crashed one's journal into its plugin.
        start_daemon(yaml + "state: {enabled: false}\n");
        ASSERT_FALSE(HasFatalFailure());
        for (const char* model : {"m/a", "m/b"})  // each a first use: one predict call each
            client_->Post("/api/warmup/events", std::string(R"({"model": ")") + model + "\"}", "application/json");
        const auto exit = daemon_->wait_exit(10s);
        ASSERT_TRUE(exit.has_value()) << daemon_->log();
        EXPECT_FALSE(exit->exited);
        EXPECT_EQ(exit->signal, signal_number) << daemon_->log();
        daemon_->wait_for_log_end(5s);
        EXPECT_NE(daemon_->log().find("warmupd: CRASH " + name +
                                      " in a plugin call: predictor org.warmup.test.flaky-predictor@1.0.0: predict. "
                                      "A plugin runs in warmupd's process."),
                  std::string::npos)
            << daemon_->log();
    }
}

TEST_F(WarmupdStallTest, APluginThatCrashesInACallTheHostDoesNotTimeIsNamedToo) {
    // A resource plugin's on_used is a notification (no answer, no time budget): its crash is named like predict's.
    std::string yaml = config_yaml();
    const std::string lru = "  resource: {plugin: org.warmup.resource.lru}";
    ASSERT_NE(yaml.find(lru), std::string::npos);
    yaml.replace(yaml.find(lru), lru.size(),
                 std::string("  resource: {path: \"") + WARMUP_TEST_BAD_PLUGIN_DIR +
                     "/engine_breaker_garbage_resource.so\", params: {abort_on_use: true}}");
    start_daemon(yaml + "state: {enabled: false}\n");
    ASSERT_FALSE(HasFatalFailure());
    // A first use: the load ends with the request waiting for it, and the host tells the resource plugin it was used.
    client_->Post("/api/warmup/events", R"({"model": "m/a"})", "application/json");
    const auto exit = daemon_->wait_exit(10s);
    ASSERT_TRUE(exit.has_value()) << daemon_->log();
    EXPECT_EQ(exit->signal, SIGABRT) << daemon_->log();
    daemon_->wait_for_log_end(5s);
    EXPECT_NE(daemon_->log().find(
                  "warmupd: CRASH SIGABRT in a plugin call: resource "
                  "org.warmup.test.garbage-resource@1.0.0: on_used_requests. A plugin runs in warmupd's process."),
              std::string::npos)
        << daemon_->log();
}

/// warmupd started on `yaml` (state keeping off) in `dir`, waited for until it ends; its standard error. The test
/// fails unless it ended by `signal_number`.
std::string log_of_warmupd_ended_by(const warmup::test::TempDir& dir, const std::string& yaml, int signal_number) {
    const auto config = dir.write("c.yaml", yaml + "state: {enabled: false}\n");
    Daemon daemon({"--config", config.string(), "--port", "0"}, Daemon::Capture::StderrOnly, "warmupd");
    const auto status = daemon.wait_exit(kExitTimeout);
    EXPECT_TRUE(status.has_value() && status->signal == signal_number) << daemon.log();
    if (status) daemon.wait_for_log_end(kExitTimeout);
    return daemon.log();
}

class PluginThreadCrash : public ::testing::TestWithParam<std::pair<std::string, int>> {};

TEST_P(PluginThreadCrash, ACrashOnAThreadThePluginStartedNamesThePlugin) {
    // Before, a crash on a thread of the plugin's own (in no call the host makes) was reported by thread number only.
    // abort() crashes in the C library, called from the plugin (found on the stack); segv in the plugin's own code.
    const auto& [how, signal_number] = GetParam();
    warmup::test::TempDir dir("thread-crash");
    std::string yaml = config_yaml();
    const std::string lru = "  resource: {plugin: org.warmup.resource.lru}";
    ASSERT_NE(yaml.find(lru), std::string::npos);
    yaml.replace(yaml.find(lru), lru.size(),
                 std::string("  resource: {path: \"") + WARMUP_TEST_BAD_PLUGIN_DIR +
                     "/engine_breaker_garbage_resource.so\", params: {crash_on_own_thread: " + how + "}}");
    const std::string log = log_of_warmupd_ended_by(dir, yaml, signal_number);
    const std::string signal_name = signal_number == SIGABRT ? "SIGABRT" : "SIGSEGV";
    const auto line = log.find("warmupd: CRASH " + signal_name + " on thread ");
    ASSERT_NE(line, std::string::npos) << log;
    EXPECT_NE(log.find(" in the code of plugin org.warmup.test.garbage-resource@1.0.0, outside the plugin calls the "
                       "host makes (a thread the plugin started, or code it left running). A plugin runs in warmupd's "
                       "process.",
                       line),
              std::string::npos)
        << log;
}

INSTANTIATE_TEST_SUITE_P(Ways, PluginThreadCrash,
                         ::testing::Values(std::pair<std::string, int>{"abort", SIGABRT},
                                           std::pair<std::string, int>{"segv", SIGSEGV}),
                         [](const auto& info) { return info.param.first; });

TEST(ProgramCrash, APluginThatCrashesAsItIsCreatedIsNamed) {
    // Before, the report was installed once the plugins were created: a crash in a constructor was a bare SIGABRT.
    warmup::test::TempDir dir("create-crash");
    std::string yaml = config_yaml();
    const std::string keep_alive = "  predictor: {plugin: org.warmup.predictor.keep-alive}";
    yaml.replace(yaml.find(keep_alive), keep_alive.size(),
                 std::string("  predictor: {path: \"") + WARMUP_TEST_BAD_PLUGIN_DIR +
                     "/engine_breaker_flaky_predictor.so\", params: {abort_on_create: true}}");
    const std::string log = log_of_warmupd_ended_by(dir, yaml, SIGABRT);
    EXPECT_NE(log.find("warmupd: CRASH SIGABRT in a plugin call: predictor org.warmup.test.flaky-predictor@1.0.0: "
                       "create. A plugin runs in warmupd's process."),
              std::string::npos)
        << log;
}

TEST(ReplayCrash, APluginThatCrashesAReplayIsNamedWithItsArm) {
    // Before, a replay whose plugin crashed ended in the shell's "Aborted" with nothing to say which arm or plugin.
    warmup::test::TempDir dir("replay-crash");
    const auto config = dir.write("replay.yaml", config_yaml() +
                                                     "arms:\n"
                                                     "  - name: control\n"
                                                     "  - name: fragile\n"
                                                     "    components: {predictor: {path: \"" +
                                                     WARMUP_TEST_BAD_PLUGIN_DIR +
                                                     "/engine_breaker_flaky_predictor.so\", params: "
                                                     "{failing_calls: 0, abort_on_call: 3}}}\n");
    const auto trace = dir.write("trace.csv", "ts_ms,model\n1000,m/a\n2000,m/b\n3000,m/c\n4000,m/a\n");
    Daemon replay({"--config", config.string(), "--trace", "csv:" + trace.string(), "--out",
                   (dir.path() / "out").string(), "--quiet"},
                  Daemon::Capture::StderrOnly, "warmup-replay");
    const auto status = replay.wait_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value()) << replay.log();
    EXPECT_EQ(status->signal, SIGABRT) << replay.log();
    replay.wait_for_log_end(kExitTimeout);
    EXPECT_NE(replay.log().find("warmup-replay: CRASH SIGABRT in a plugin call: predictor "
                                "org.warmup.test.flaky-predictor@1.0.0: predict (arm 'fragile'). A plugin runs in "
                                "warmup-replay's process. Replay that arm alone (--arms NAME)"),
              std::string::npos)
        << replay.log();
    // The arms that do not crash replay alone.
    const auto [code, output] =
        run_to_end("warmup-replay", {"--config", config.string(), "--trace", "csv:" + trace.string(), "--out",
                                     (dir.path() / "out").string(), "--quiet", "--arms", "control"});
    EXPECT_EQ(code, 0) << output;
}

class WarmupdServiceTest : public warmup::test::DaemonTest {
  protected:
    WarmupdServiceTest() : DaemonTest("warmupd-service") {}

    /// Starts warmupd on the test configuration with `args` added, with $NOTIFY_SOCKET pointing at notify_.
    void start(const std::vector<std::string>& extra_args) {
        notify_ = std::make_unique<NotifySocket>(dir_.path() / "notify.sock");
        // The child inherits the environment at spawn; the variable is removed again once it is started (no other
        // process is spawned meanwhile).
        setenv("NOTIFY_SOCKET", (dir_.path() / "notify.sock").c_str(), 1);
        before_start_ms_ = now_ms();
        start_daemon(config_yaml(), extra_args);
        unsetenv("NOTIFY_SOCKET");
    }
    static int64_t now_ms() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
    std::pair<int, json> get(const std::string& path) {
        const auto result = client_->Get(path);
        if (!result) return {0, nullptr};
        return {result->status, json::parse(result->body, nullptr, false)};
    }

    std::unique_ptr<NotifySocket> notify_;
    int64_t before_start_ms_ = 0;
};

TEST_F(WarmupdServiceTest, ReadyOnceServingThenNotReadyWhileShuttingDownAndSystemdIsTold) {
    start({"--shutdown-delay-ms", "600000"});
    EXPECT_TRUE(notify_->wait_for("READY=1", 10s)) << "notify messages:\n" << notify_->seen();
    EXPECT_EQ(get("/readyz"), std::make_pair(200, json{{"status", "ready"}}));

    ASSERT_EQ(kill(daemon_->pid(), SIGTERM), 0);
    EXPECT_TRUE(notify_->wait_for("STOPPING=1", 10s)) << "notify messages:\n" << notify_->seen();
    // During the shutdown delay the probe fails while everything else is still served.
    EXPECT_TRUE(poll_until([&] { return get("/readyz").first == 503; }, 10s)) << daemon_->log();
    EXPECT_EQ(get("/readyz"), std::make_pair(503, json{{"status", "stopping"}}));
    EXPECT_EQ(get("/healthz").first, 200);
    EXPECT_EQ(get("/api/warmup/status").first, 200);
    EXPECT_FALSE(daemon_->wait_exit(300ms).has_value()) << "stopped before its shutdown delay";

    // A second stop signal ends the (here ten-minute) delay at once: a clean stop, exit 0.
    ASSERT_EQ(kill(daemon_->pid(), SIGTERM), 0);
    const auto status = daemon_->wait_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value()) << "the second SIGTERM did not end the shutdown delay\n" << daemon_->log();
    EXPECT_TRUE(status->exited && status->code == 0) << daemon_->log();
    EXPECT_TRUE(daemon_->wait_for_log("SHUTDOWN done", kExitTimeout)) << daemon_->log();
}

TEST_F(WarmupdServiceTest, ALoadCancelledByAShutdownIsLoggedAsSuchNotAsALoadError) {
    start({});
    const auto posted = client_->Post("/api/warmup/events", R"({"model": "slow/a"})", "application/json");
    ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
    ASSERT_TRUE(poll_until([&] { return get("/api/warmup/status").second["loading"].size() == 1; }, 10s))
        << daemon_->log();

    ASSERT_EQ(kill(daemon_->pid(), SIGTERM), 0);
    const auto status = daemon_->wait_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value()) << daemon_->log();
    EXPECT_TRUE(status->exited && status->code == 0) << daemon_->log();
    ASSERT_TRUE(daemon_->wait_for_log_end(kExitTimeout));
    const std::string log = daemon_->log();
    EXPECT_NE(log.find("MODEL_LOAD_CANCELLED load of slow/a cancelled by the shutdown"), std::string::npos) << log;
    EXPECT_EQ(log.find("MODEL_LOAD_ERROR"), std::string::npos) << log;
}

TEST_F(WarmupdServiceTest, MetricsAndStatusCarryTheBuildAndTheStartTime) {
    start({});
    const int64_t after_start_ms = now_ms();
    const auto metrics = client_->Get("/metrics");
    ASSERT_TRUE(metrics);
    ASSERT_EQ(metrics->status, 200);
    const std::string build_info = std::string("\nwarmup_build_info{version=\"") + WARMUP_TEST_PROJECT_VERSION +
                                   "\",abi=\"" + expected_abi() + "\",commit=\"" + expected_commit() + "\"} 1\n";
    EXPECT_NE(metrics->body.find(build_info), std::string::npos) << metrics->body;
    EXPECT_NE(metrics->body.find("# TYPE warmup_build_info gauge\n"), std::string::npos);
    std::smatch start_match;
    ASSERT_TRUE(std::regex_search(metrics->body, start_match, std::regex(R"(\nwarmup_start_time_seconds ([0-9.]+)\n)")))
        << metrics->body;
    const double start_s = std::stod(start_match[1].str());
    EXPECT_GE(start_s * 1000, static_cast<double>(before_start_ms_ - 1));
    EXPECT_LE(start_s * 1000, static_cast<double>(after_start_ms + 1));

    const auto [code, status] = get("/api/warmup/status");
    ASSERT_EQ(code, 200);
    EXPECT_EQ(status.value("version", ""), WARMUP_TEST_PROJECT_VERSION);
    EXPECT_EQ(status.value("abi", ""), expected_abi());
    EXPECT_EQ(status.value("commit", ""), expected_commit());
    const int64_t started = status.value("started_unix_ms", int64_t{0});
    EXPECT_GE(started, before_start_ms_);
    EXPECT_LE(started, after_start_ms);
    // started_at is the same instant in UTC, to the second.
    const std::time_t started_s = static_cast<std::time_t>(started / 1000);
    std::tm utc{};
    gmtime_r(&started_s, &utc);
    std::array<char, 32> text{};
    std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
    EXPECT_EQ(status.value("started_at", ""), std::string(text.data()));
    EXPECT_GE(status.value("uptime_s", -1.0), 0.0);
}

}  // namespace
