// warmupctl as an operator runs it: validate (the embedded default, a config with a bad plugin parameter), inspect
// (a good library, one built for another ABI major), --version, the operations against a real warmupd on an
// ephemeral port and against other web servers on the port (said to be another service, not a daemon's error), and
// the support bundle (opened with libarchive, the token checked redacted). Each run is a child
// process (build/bin/warmupctl); assertions are on its exit status, its output and the files it writes.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using warmup::test::Daemon;
using warmup::test::TempDir;

struct CtlRun {
    int exit_code = -1;
    std::string output;  // stdout and stderr, interleaved as written
};

/// Runs build/bin/warmupctl with `args` to completion.
CtlRun warmupctl(const std::vector<std::string>& args) {
    Daemon process(args, Daemon::Capture::StdoutAndStderr, "warmupctl");
    const auto status = process.wait_exit(30s);
    EXPECT_TRUE(status.has_value()) << "warmupctl did not exit";
    EXPECT_TRUE(process.wait_for_log_end(10s));
    CtlRun run;
    run.output = process.log();
    if (status && status->exited) run.exit_code = status->code;
    return run;
}

std::string plugin_file(const std::string& name) { return std::string(WARMUP_TEST_PLUGIN_DIR) + "/" + name; }

/// A complete configuration whose predictor has the parameter line `predictor_params` (written on line 8).
std::string config_with_predictor_params(const std::string& predictor_params) {
    return std::string("plugin_dirs: [\"") + WARMUP_TEST_PLUGIN_DIR +
           "\"]\n"
           "budgets: {memory_mb: 4096}\n"
           "components:\n"
           "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
           "  predictor:\n"
           "    plugin: org.warmup.predictor.idle-histogram\n"
           "    params:\n"
           "      " +
           predictor_params +
           "\n"
           "  performance: {plugin: org.warmup.performance.calibrated}\n"
           "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
           "  resource: {plugin: org.warmup.resource.lru}\n"
           "  queue: {plugin: org.warmup.queue.priority}\n"
           "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
           "  backend: {plugin: org.warmup.backend.sim}\n"
           "catalog:\n"
           "  - {model: small, memory_mb: 100, load_ms: 10}\n"
           "  - {model: huge, memory_mb: 5000, load_ms: 10}\n";
}

TEST(WarmupctlValidate, TheEmbeddedDefaultIsValidAndEveryComponentIsListed) {
    const CtlRun run = warmupctl({"validate"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find("predictor          org.warmup.predictor.cost-curve@"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("backend            org.warmup.backend.sim@"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("'qwen2:72b' needs 41000 MiB, more than the whole budget (16384 MiB)"), std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find("\nOK\n"), std::string::npos) << run.output;
}

TEST(WarmupctlValidate, AnUnknownPluginParameterIsRefusedWithFileLineColumnAndKeyPath) {
    TempDir dir("warmupctl-validate");
    const auto file = dir.path() / "bad.yaml";
    std::ofstream(file) << config_with_predictor_params("min_sampels: 5");
    const CtlRun run = warmupctl({"validate", "--config", file.string()});
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find(file.string() + ":8:7: components.predictor.params.min_sampels"), std::string::npos)
        << run.output;
    EXPECT_EQ(run.output.find("\nOK\n"), std::string::npos) << run.output;
}

TEST(WarmupctlValidate, RefusesWhatWarmupdRefusesAtStartBeyondItsPlugins) {
    TempDir dir("warmupctl-validate");
    const auto check = [&](const std::string& name, const std::string& extra) {
        const auto file = dir.path() / (name + ".yaml");
        std::ofstream(file) << config_with_predictor_params("min_samples: 5") << extra;
        return warmupctl({"validate", "--config", file.string()});
    };
    // A live experiment with a yardstick arm, or a second control arm: warmupd refuses both.
    const CtlRun yardstick =
        check("yardstick", "experiment: {enabled: true}\narms:\n  - {name: o, yardstick: oracle}\n");
    EXPECT_EQ(yardstick.exit_code, 2) << yardstick.output;
    EXPECT_NE(yardstick.output.find("only runs in warmup-replay"), std::string::npos) << yardstick.output;
    const CtlRun control = check("control",
                                 "experiment: {enabled: true}\narms:\n  - {name: control, components: {predictor: "
                                 "{plugin: org.warmup.predictor.keep-alive}}}\n");
    EXPECT_EQ(control.exit_code, 2) << control.output;
    EXPECT_NE(control.output.find("'control' is the top-level components' arm"), std::string::npos) << control.output;
    // The same arms in a replay's configuration (no live experiment) are fine.
    EXPECT_EQ(check("replay", "arms:\n  - {name: o, yardstick: oracle}\n").exit_code, 0);
    // A token written in the YAML that warmupd would refuse.
    const CtlRun token = check("token", "http: {access_token: short}\n");
    EXPECT_EQ(token.exit_code, 2) << token.output;
    EXPECT_NE(token.output.find("SECURITY_ERROR the access token is 5 bytes"), std::string::npos) << token.output;
    // A non-loopback bind whose token would come from the service's environment: a warning, not a refusal.
    const CtlRun bind = check("bind", "http: {bind: 0.0.0.0, access_token_env: WARMUPCTL_TEST_UNSET_TOKEN}\n");
    EXPECT_EQ(bind.exit_code, 0) << bind.output;
    EXPECT_NE(bind.output.find("warning: warmupd refuses to start unless its environment holds the token"),
              std::string::npos)
        << bind.output;
    EXPECT_NE(bind.output.find("WARMUPCTL_TEST_UNSET_TOKEN"), std::string::npos) << bind.output;
}

TEST(WarmupctlInspect, ShowsWhatALibraryDeclares) {
    const CtlRun run = warmupctl({"inspect", plugin_file("keep_alive_predictor.so")});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find("id           org.warmup.predictor.keep-alive\n"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("kind         predictor\n"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("abi          1.4 (this host: 1.4)"), std::string::npos) << run.output;
}

TEST(WarmupctlInspect, ALibraryForAnotherAbiMajorIsRefusedNamingBothVersions) {
    const std::string file = std::string(WARMUP_TEST_BAD_PLUGIN_DIR) + "/abi_major_2.so";
    const CtlRun run = warmupctl({"inspect", file});
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find(file), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("built for plugin ABI 2.4, this host speaks ABI 1.4"), std::string::npos) << run.output;
}

TEST(WarmupctlInspect, ALibraryWhoseVtableCannotBeCalledIsRefusedAsLoadingRefusesIt) {
    // inspect passes only what loads: the vtable checks of PluginInstance::create run on the static descriptor.
    for (const auto& [file, expected] :
         std::vector<std::pair<std::string, std::string>>{{"vtable_8_bytes.so", "vtable is 8 bytes, expected at least"},
                                                          {"plugin-safety/garbage_null_function.so", "is NULL"},
                                                          {"plugin-safety/garbage_vtable_size.so", "vtable claims"}}) {
        const std::string path = std::string(WARMUP_TEST_BAD_PLUGIN_DIR) + "/" + file;
        const CtlRun run = warmupctl({"inspect", path});
        EXPECT_EQ(run.exit_code, 2) << file << ": " << run.output;
        EXPECT_NE(run.output.find(expected), std::string::npos) << file << ": " << run.output;
    }
}

TEST(WarmupctlInspect, AFolderWithoutLibrariesIsReportedNotPassedSilently) {
    TempDir dir("warmupctl-inspect-empty");
    const CtlRun run = warmupctl({"inspect", dir.path().string()});
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find(dir.path().string() + " holds no plugin library (*.so)"), std::string::npos)
        << run.output;
}

TEST(WarmupctlInspect, AMissingLibraryIsSaidNotToExist) {
    TempDir dir("warmupctl-inspect-missing");
    const std::string missing = (dir.path() / "absent.so").string();
    const CtlRun run = warmupctl({"inspect", missing});
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find("plugin '" + missing + "': the file does not exist"), std::string::npos) << run.output;
}

/// events.ndjson in `dir`: 12,000 events of the catalog's model `small`, but `nobody` (in no catalog entry) on the
/// lines `unknown_lines`.
std::filesystem::path write_events_file(const TempDir& dir, const std::vector<int>& unknown_lines) {
    const auto file = dir.path() / "events.ndjson";
    std::ofstream out(file);
    for (int line = 1; line <= 12000; ++line)
        out << (std::find(unknown_lines.begin(), unknown_lines.end(), line) != unknown_lines.end()
                    ? "{\"model\": \"nobody\"}\n"
                    : "{\"model\": \"small\"}\n");
    return file;
}

/// warmupd on a configuration in `dir` whose bodies are capped at 64 KiB (http.max_body_mb), started.
struct DaemonWithSmallBodies {
    explicit DaemonWithSmallBodies(const TempDir& dir)
        : daemon([&] {
              const auto config = dir.path() / "daemon.yaml";
              std::ofstream(config) << config_with_predictor_params("min_samples: 5")
                                    << "http: {max_body_mb: 0.0625}\n";
              return std::vector<std::string>{"--config", config.string(), "--port", "0"};
          }()),
          port(daemon.wait_until_listening()),
          url("http://127.0.0.1:" + std::to_string(port)) {}
    Daemon daemon;
    int port;
    std::string url;
};

TEST(WarmupctlOperate, SendEventsSplitsALargeFileIntoBodiesUnderTheCapAndReportsFileLineNumbers) {
    TempDir dir("warmupctl-send");
    DaemonWithSmallBodies capped(dir);  // the file below is about 3.5 times its cap
    ASSERT_GT(capped.port, 0) << capped.daemon.log();
    const std::string& url = capped.url;

    const auto events = write_events_file(dir, {9000});
    ASSERT_GT(std::filesystem::file_size(events), 3u * 64 * 1024);
    const CtlRun sent = warmupctl({"--url", url, "send-events", events.string()});  // default bodies: 1 MiB
    EXPECT_EQ(sent.exit_code, 1) << sent.output;
    EXPECT_NE(sent.output.find("HTTP 413"), std::string::npos) << sent.output;
    EXPECT_NE(sent.output.find("--body-kb"), std::string::npos) << sent.output;

    const CtlRun split = warmupctl({"--url", url, "send-events", "--body-kb", "60", events.string()});
    EXPECT_EQ(split.exit_code, 1) << split.output;  // the one unknown model
    EXPECT_NE(split.output.find("\"accepted\": 11999"), std::string::npos) << split.output;
    EXPECT_NE(split.output.find("\"bodies\": 4"), std::string::npos) << split.output;
    EXPECT_NE(split.output.find("\"line\": 9000"), std::string::npos) << split.output;
    EXPECT_NE(split.output.find("unknown model 'nobody'"), std::string::npos) << split.output;
}

TEST(WarmupctlOperate, SendEventsSplitsAPrettyPrintedFileBetweenObjectsAndReportsTheLinesTheyStartOn) {
    // `jq . events.ndjson > events.json`: each object over 3 lines. Before, the file was split at line ends inside
    // objects and every event of it was refused; and a body far over the daemon's limit ended this program with
    // SIGPIPE (status 141, nothing said).
    TempDir dir("warmupctl-send-pretty");
    DaemonWithSmallBodies capped(dir);
    ASSERT_GT(capped.port, 0) << capped.daemon.log();
    const std::string& url = capped.url;
    const int port = capped.port;
    // 6,000 objects of three lines each but three: a line break inside a string (object 100: four lines), one
    // left open (200: two lines), a trailing comma (5000); and an unknown model (4000).
    const auto events = dir.path() / "events.json";
    std::map<int, std::size_t> first_line;  // object -> the line it starts on
    {
        std::ofstream out(events);
        std::size_t line = 1;
        for (int i = 1; i <= 6000; ++i) {
            first_line[i] = line;
            std::string object = "{\n  \"model\": \"small\"\n}\n";
            if (i == 100) object = "{\n  \"model\": \"sma\nll\"\n}\n";
            if (i == 200) object = "{\n  \"model\": \"small\"\n";
            if (i == 4000) object = "{\n  \"model\": \"nobody\"\n}\n";
            if (i == 5000) object = "{\n  \"model\": \"small\",\n}\n";
            out << object;
            line += static_cast<std::size_t>(std::count(object.begin(), object.end(), '\n'));
        }
    }
    const CtlRun split = warmupctl({"--url", url, "send-events", "--body-kb", "60", events.string()});
    EXPECT_EQ(split.exit_code, 1) << split.output;
    const auto summary = nlohmann::json::parse(split.output.substr(0, split.output.find("\nwarmupctl:") + 1));
    EXPECT_EQ(summary["accepted"], 5996) << split.output;
    EXPECT_GE(summary["bodies"].get<int>(), 2) << split.output;
    ASSERT_EQ(summary["rejected"].size(), 4u) << split.output;
    EXPECT_EQ(summary["rejected"][0]["line"], first_line[100]) << split.output;
    EXPECT_EQ(summary["rejected"][1]["line"], first_line[200]) << split.output;
    EXPECT_EQ(summary["rejected"][2]["line"], first_line[4000]) << split.output;
    EXPECT_EQ(summary["rejected"][3]["line"], first_line[5000]) << split.output;
    EXPECT_NE(split.output.find("HTTP 400 (4 events refused)"), std::string::npos) << split.output;
    // The daemon reads such a body the same way: its first 1,000 objects sent as they are (under its 64 KiB).
    std::ifstream file(events);
    std::string head;
    for (std::size_t line = 1; line < first_line[1001]; ++line) {
        std::string text;
        std::getline(file, text);
        head += text + "\n";
    }
    httplib::Client direct("127.0.0.1", port);
    const auto answer = direct.Post("/api/warmup/events", head, "application/json");
    ASSERT_TRUE(answer);
    const auto direct_summary = nlohmann::json::parse(answer->body);
    EXPECT_EQ(direct_summary["accepted"], 998) << answer->body;
    ASSERT_EQ(direct_summary["rejected"].size(), 2u) << answer->body;
    EXPECT_EQ(direct_summary["rejected"][0]["line"], first_line[100]) << answer->body;
    EXPECT_EQ(direct_summary["rejected"][1]["line"], first_line[200]) << answer->body;

    // One body of about 4 MiB against a 64 KiB limit: the daemon answers 413 and closes the connection mid-body.
    std::string big;
    for (int i = 0; i < 200'000; ++i) big += "{\"model\": \"small\"}\n";
    const auto big_file = dir.write("big.ndjson", big);
    const CtlRun whole = warmupctl({"--url", url, "send-events", "--body-kb", "8192", big_file.string()});
    EXPECT_EQ(whole.exit_code, 1) << whole.output;
    EXPECT_NE(whole.output.find("--body-kb"), std::string::npos) << whole.output;
}

TEST(WarmupctlOperate, SendEventsSendsAgainWhatAFullIngestQueueRefusedAndCountsEachBadLineOnce) {
    TempDir dir("warmupctl-send-queue");
    const auto config = dir.path() / "daemon.yaml";
    // A queue of 2,000 events: a body of 12,000 is taken 2,000 at a time (the control loop drains it in between).
    std::string yaml = config_with_predictor_params("min_samples: 5");
    yaml.replace(yaml.find("budgets: {memory_mb: 4096}"), 26,
                 "budgets: {memory_mb: 4096, ingest_queue_capacity: 2000}");
    std::ofstream(config) << yaml;
    Daemon daemon({"--config", config.string(), "--port", "0"});
    const int port = daemon.wait_until_listening();
    ASSERT_GT(port, 0) << daemon.log();
    const std::string url = "http://127.0.0.1:" + std::to_string(port);

    const auto events = write_events_file(dir, {1500, 9000});
    const CtlRun sent = warmupctl({"--url", url, "send-events", events.string()});
    EXPECT_EQ(sent.exit_code, 1) << sent.output;  // the two unknown models
    const auto summary = nlohmann::json::parse(sent.output.substr(0, sent.output.find("\nwarmupctl:") + 1));
    EXPECT_EQ(summary["accepted"], 11998) << sent.output;
    ASSERT_EQ(summary["rejected"].size(), 2u) << sent.output;
    EXPECT_EQ(summary["rejected"][0]["line"], 1500) << sent.output;
    EXPECT_EQ(summary["rejected"][1]["line"], 9000) << sent.output;
    EXPECT_FALSE(summary.contains("rejected_not_listed")) << sent.output;
    EXPECT_GE(summary["resent_after_queue_full"], 5) << sent.output;
    EXPECT_NE(sent.output.find("HTTP 400 (2 events refused)"), std::string::npos) << sent.output;

    // Without retries the refused tail is reported, each event once, and the exit says why.
    const CtlRun once = warmupctl({"--url", url, "send-events", "--retry-s", "0", events.string()});
    EXPECT_EQ(once.exit_code, 1) << once.output;
    const auto first = nlohmann::json::parse(once.output.substr(0, once.output.find("\nwarmupctl:") + 1));
    EXPECT_EQ(first["accepted"].get<uint64_t>() + first["rejected"].size() + first.value("rejected_not_listed", 0u),
              12000u)
        << once.output;
    EXPECT_NE(once.output.find("HTTP 503"), std::string::npos) << once.output;
    // The body is larger than the whole queue: retrying it as it is could never succeed, and the reason says so.
    EXPECT_NE(once.output.find("still full after --retry-s 0: the body holds "), std::string::npos) << once.output;
    EXPECT_NE(once.output.find("more than the ingest queue takes at once (budgets.ingest_queue_capacity: 2000)"),
              std::string::npos)
        << once.output;
}

TEST(WarmupctlVersion, PrintsVersionAbiAndCommitAndExits0WithoutASubcommand) {
    const std::regex line(std::string("warmupctl ") + WARMUP_TEST_PROJECT_VERSION +
                          R"( \(plugin ABI [0-9]+\.[0-9]+, commit ([0-9a-f]{12}|unknown)\)\n)");
    const CtlRun run = warmupctl({"--version"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_TRUE(std::regex_match(run.output, line)) << run.output;
    // Before any subcommand is required or a daemon contacted.
    const CtlRun with_command = warmupctl({"--url", "http://127.0.0.1:1", "--version", "status"});
    EXPECT_EQ(with_command.exit_code, 0) << with_command.output;
    EXPECT_EQ(with_command.output, run.output);
}

TEST(WarmupctlOperate, AnUnreachableDaemonExitsWithStatus1NamingTheUrlAndWhy) {
    const CtlRun refused = warmupctl({"--url", "http://127.0.0.1:1", "status"});
    EXPECT_EQ(refused.exit_code, 1) << refused.output;
    EXPECT_NE(refused.output.find("cannot reach the daemon at http://127.0.0.1:1: connection refused"),
              std::string::npos)
        << refused.output;
    // A name that does not resolve is told apart from a refused connection.
    const CtlRun unresolved = warmupctl({"--url", "http://no-such-host.invalid:3000", "emergency-stop"});
    EXPECT_EQ(unresolved.exit_code, 1) << unresolved.output;
    EXPECT_NE(unresolved.output.find("cannot reach the daemon at http://no-such-host.invalid:3000: the host name "
                                     "'no-such-host.invalid' could not be resolved: "),
              std::string::npos)
        << unresolved.output;
}

/// Another service on the port warmupctl is pointed at: a cpp-httplib server in this process on a free loopback port
/// that answers every GET and POST with `answer`. Threads: httplib serves on its own threads; `answer` must be safe to
/// call from them (the tests' answers are pure).
class OtherService {
  public:
    explicit OtherService(std::function<void(const httplib::Request&, httplib::Response&)> answer) {
        server_.Get(".*", answer);
        server_.Post(".*", answer);
        port_ = server_.bind_to_any_port("127.0.0.1");
        serving_thread_ = std::thread([this] { server_.listen_after_bind(); });
        warmup::test::poll_until([&] { return server_.is_running(); }, 5s, std::chrono::milliseconds(1));
    }
    ~OtherService() {
        server_.stop();
        serving_thread_.join();
    }
    OtherService(const OtherService&) = delete;
    OtherService& operator=(const OtherService&) = delete;

    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  private:
    httplib::Server server_;
    int port_ = 0;
    std::thread serving_thread_;
};

/// The line warmupctl writes when the server at `url` answered `what` for `path`.
std::string not_warmupd_line(const std::string& url, const std::string& what, const std::string& path) {
    return "warmupctl: the server at " + url + " answered " + what + " for " + path +
           ": is warmupd listening there? (it may be another service)\n";
}

TEST(WarmupctlOperate, AnotherServiceOnThePortIsSaidToBeOneRatherThanAnsweringHttp404) {
    TempDir dir("warmupctl-other-service");
    const auto events = dir.path() / "events.ndjson";
    std::ofstream(events) << "{\"model\": \"small\"}\n";

    // A web server's own 404 page (nginx): the page is not printed, its title names it.
    const OtherService nginx([](const httplib::Request&, httplib::Response& response) {
        response.status = 404;
        response.set_content(
            "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1>"
            "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
            "text/html");
    });
    const CtlRun status = warmupctl({"--url", nginx.url(), "status"});
    EXPECT_EQ(status.exit_code, 1) << status.output;
    EXPECT_EQ(status.output,
              not_warmupd_line(nginx.url(), "HTTP 404 (an HTML page titled '404 Not Found')", "/api/warmup/status"));
    const CtlRun stop = warmupctl({"--url", nginx.url(), "emergency-stop"});
    EXPECT_EQ(stop.exit_code, 1) << stop.output;
    EXPECT_EQ(stop.output, not_warmupd_line(nginx.url(), "HTTP 404 (an HTML page titled '404 Not Found')",
                                            "/api/warmup/emergency-stop"));
    const auto log = dir.path() / "daemon.log";
    std::ofstream(log) << "a log line\n";
    const CtlRun bundle =
        warmupctl({"--url", nginx.url(), "support-bundle", "--log", log.string(), (dir.path() / "b.tar.gz").string()});
    EXPECT_EQ(bundle.exit_code, 1) << bundle.output;  // written, with what was available
    EXPECT_NE(bundle.output.find("status.json        GET /api/warmup/status answered HTTP 404 (an HTML page titled "
                                 "'404 Not Found'): not warmupd's answer (is warmupd listening at " +
                                 nginx.url() + "?)"),
              std::string::npos)
        << bundle.output;
    EXPECT_NE(bundle.output.find("warmupctl: the server at " + nginx.url() + " did not answer as warmupd"),
              std::string::npos)
        << bundle.output;
    const CtlRun metrics = warmupctl({"--url", nginx.url(), "metrics"});
    EXPECT_EQ(metrics.exit_code, 1) << metrics.output;
    EXPECT_NE(metrics.output.find("answered HTTP 404 (an HTML page titled '404 Not Found') for /metrics: is warmupd "
                                  "listening there?"),
              std::string::npos)
        << metrics.output;

    // A web application that answers every path with its page and 200 (a single-page app): not JSON, so not warmupd.
    const OtherService web_app([](const httplib::Request&, httplib::Response& response) {
        response.set_content(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Grafana</title>"
            "</head><body></body></html>\n",
            "text/html; charset=UTF-8");
    });
    const std::string page = "HTTP 200 (an HTML page titled 'Grafana')";
    const CtlRun health = warmupctl({"--url", web_app.url(), "health"});
    EXPECT_EQ(health.exit_code, 1) << health.output;
    EXPECT_EQ(health.output, not_warmupd_line(web_app.url(), page, "/api/warmup/health/components"));
    const CtlRun why = warmupctl({"--url", web_app.url(), "why", "small"});
    EXPECT_EQ(why.exit_code, 1) << why.output;
    EXPECT_EQ(why.output, not_warmupd_line(web_app.url(), page, "/api/warmup/decisions"));
    // Its page for /metrics too (before: printed, exit 0).
    const CtlRun page_metrics = warmupctl({"--url", web_app.url(), "metrics"});
    EXPECT_EQ(page_metrics.exit_code, 1) << page_metrics.output;
    EXPECT_EQ(page_metrics.output, not_warmupd_line(web_app.url(), page, "/metrics"));
    const CtlRun history = warmupctl({"--url", web_app.url(), "history"});
    EXPECT_EQ(history.exit_code, 1) << history.output;
    EXPECT_EQ(history.output, not_warmupd_line(web_app.url(), page, "/api/warmup/history"));
    const CtlRun sent = warmupctl({"--url", web_app.url(), "send-events", events.string()});
    EXPECT_EQ(sent.exit_code, 1) << sent.output;
    std::string sent_line = not_warmupd_line(web_app.url(), page, "/api/warmup/events");
    sent_line.insert(sent_line.size() - 1, "; the events from line 1 on did not reach warmupd (0 accepted before)");
    EXPECT_EQ(sent.output, sent_line);

    // Plain text (Go's net/http), another JSON API's 404 and a redirect to a login page.
    const OtherService go_server([](const httplib::Request&, httplib::Response& response) {
        response.status = 404;
        response.set_content("404 page not found\n", "text/plain; charset=utf-8");
    });
    const CtlRun go = warmupctl({"--url", go_server.url(), "status"});
    EXPECT_EQ(go.exit_code, 1) << go.output;
    EXPECT_EQ(go.output, not_warmupd_line(go_server.url(), "HTTP 404 (a body that is not JSON: '404 page not found')",
                                          "/api/warmup/status"));
    const OtherService json_api([](const httplib::Request&, httplib::Response& response) {
        response.status = 404;
        response.set_content(R"({"message": "Not found"})", "application/json");
    });
    const CtlRun api = warmupctl({"--url", json_api.url(), "plugins"});
    EXPECT_EQ(api.exit_code, 1) << api.output;
    EXPECT_EQ(api.output,
              not_warmupd_line(json_api.url(), R"(HTTP 404 (JSON without warmupd's "error": {"message":"Not found"}))",
                               "/api/warmup/plugins"));
    const OtherService login(
        [](const httplib::Request&, httplib::Response& response) { response.set_redirect("/login"); });
    const CtlRun redirected = warmupctl({"--url", login.url(), "status"});
    EXPECT_EQ(redirected.exit_code, 1) << redirected.output;
    EXPECT_EQ(redirected.output,
              not_warmupd_line(login.url(), "HTTP 302 (a redirect to /login)", "/api/warmup/status"));
}

TEST(WarmupctlOperate, ATokenVariableNamedOnPurposeButNotSetIsSaid) {
    ::unsetenv("WARMUPCTL_TEST_UNSET_TOKEN");
    const CtlRun run =
        warmupctl({"--url", "http://127.0.0.1:1", "--token-env", "WARMUPCTL_TEST_UNSET_TOKEN", "status"});
    EXPECT_NE(run.output.find("--token-env WARMUPCTL_TEST_UNSET_TOKEN names an environment variable that is not set"),
              std::string::npos)
        << run.output;
    // The default variable may well be unset (a loopback daemon needs no token): nothing to say then.
    const CtlRun by_default = warmupctl({"--url", "http://127.0.0.1:1", "status"});
    EXPECT_EQ(by_default.output.find("names an environment variable"), std::string::npos) << by_default.output;
}

TEST(WarmupctlOperate, UsageErrorsExitWithStatus2) {
    const CtlRun no_command = warmupctl({});
    EXPECT_EQ(no_command.exit_code, 2) << no_command.output;
    const CtlRun path_in_url = warmupctl({"--url", "http://127.0.0.1:3000/api", "status"});
    EXPECT_EQ(path_in_url.exit_code, 2) << path_in_url.output;
    EXPECT_NE(path_in_url.output.find("--url must be http://HOST[:PORT]"), std::string::npos) << path_in_url.output;
    // Addresses the HTTP client cannot take: refused with the reason (before: an abort for another scheme, or
    // "could not be resolved" for a port that is no number, a query or user information).
    const std::vector<std::pair<std::string, std::string>> bad_urls = {
        {"ftp://127.0.0.1:3000", "the scheme 'ftp' is not http or https"},
        {"http://127.0.0.1:abc", "its port 'abc' is not a number from 1 to 65535"},
        {"http://127.0.0.1:99999", "its port '99999' is not a number from 1 to 65535"},
        {"http://127.0.0.1:3000?x=1", "it has a path, a query or a fragment"},
        {"http://user@127.0.0.1:3000", "it has user information before '@'"},
        {"127.0.0.1:3000", "it has no scheme"},
        {"http://[fd00::g]:3000", "'fd00::g' in brackets is not an IPv6 address"},
        {"http://[1.2.3.4]:3000", "'1.2.3.4' in brackets is not an IPv6 address"},
        {"http://[fe80::1%25]:3000", "'fe80::1%25' in brackets is not an IPv6 address"},
    };
    for (const auto& [url, reason] : bad_urls) {
        const CtlRun run = warmupctl({"--url", url, "status"});
        EXPECT_EQ(run.exit_code, 2) << url << ": " << run.output;
        EXPECT_NE(run.output.find("not '" + url + "': " + reason), std::string::npos) << run.output;
    }
    // The scheme in capitals and the options after the subcommand are taken.
    const CtlRun capitals = warmupctl({"status", "--url", "HTTP://127.0.0.1:1"});
    EXPECT_EQ(capitals.exit_code, 1) << capitals.output;
    EXPECT_NE(capitals.output.find("cannot reach the daemon at http://127.0.0.1:1: connection refused"),
              std::string::npos)
        << capitals.output;
    // A token with a trailing newline (`echo` into the variable) is said to be one, not sent without a word.
    ::setenv("WARMUPCTL_TEST_NEWLINE_TOKEN", "0123456789abcdef-secret\n", 1);
    const CtlRun newline =
        warmupctl({"--url", "http://127.0.0.1:1", "--token-env", "WARMUPCTL_TEST_NEWLINE_TOKEN", "status"});
    ::unsetenv("WARMUPCTL_TEST_NEWLINE_TOKEN");
    EXPECT_EQ(newline.exit_code, 2) << newline.output;
    EXPECT_NE(newline.output.find("contains whitespace or control characters"), std::string::npos) << newline.output;
    // send-events of a folder or a missing file says why.
    const CtlRun folder = warmupctl({"--url", "http://127.0.0.1:1", "send-events", "/tmp"});
    EXPECT_EQ(folder.exit_code, 2) << folder.output;
    EXPECT_NE(folder.output.find("cannot read /tmp: it is a folder, not a file"), std::string::npos) << folder.output;
    const CtlRun missing = warmupctl({"--url", "http://127.0.0.1:1", "send-events", "/nonexistent/events.ndjson"});
    EXPECT_EQ(missing.exit_code, 2) << missing.output;
    EXPECT_NE(missing.output.find("cannot read /nonexistent/events.ndjson: No such file or directory"),
              std::string::npos)
        << missing.output;
    // A mistyped subcommand is named, not reported as a missing one.
    const CtlRun mistyped = warmupctl({"--url", "http://127.0.0.1:1", "restor", "nightly"});
    EXPECT_EQ(mistyped.exit_code, 2) << mistyped.output;
    EXPECT_NE(mistyped.output.find("'restor' is not a subcommand"), std::string::npos) << mistyped.output;
}

TEST(WarmupctlOperate, DrivesARunningDaemon) {
    TempDir dir("warmupctl-operate");
    const auto config = dir.path() / "daemon.yaml";
    std::ofstream(config) << config_with_predictor_params("min_samples: 5") << "state: {enabled: true, dir: \""
                          << (dir.path() / "state").string() << "\"}\n";
    Daemon daemon({"--config", config.string(), "--port", "0"});
    const int port = daemon.wait_until_listening();
    ASSERT_GT(port, 0) << daemon.log();
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";  // a trailing '/' is accepted

    // https:// to the plain-HTTP daemon: the handshake fails, and the answer says what to try.
    const CtlRun tls = warmupctl({"--url", "https://127.0.0.1:" + std::to_string(port), "status"});
    EXPECT_EQ(tls.exit_code, 1) << tls.output;
    EXPECT_NE(tls.output.find("no TLS handshake with it (the daemon serves plain HTTP unless a proxy in front adds "
                              "TLS: try http://)"),
              std::string::npos)
        << tls.output;

    // An IPv6 address with letters in it (here the IPv4-mapped form of 127.0.0.1, which reaches the daemon's IPv4
    // socket): the HTTP library's own URL parser takes digits and ':' only, so such a --url was refused before.
    // On a machine without IPv6 the connection fails, after the URL was taken all the same.
    const std::string mapped_url = "http://[::ffff:7f00:1]:" + std::to_string(port);
    const CtlRun mapped = warmupctl({"--url", mapped_url, "status"});
    if (mapped.exit_code == 0)
        EXPECT_NE(mapped.output.find("\"budget_mb\""), std::string::npos) << mapped.output;
    else
        EXPECT_NE(mapped.output.find("cannot reach the daemon at " + mapped_url), std::string::npos) << mapped.output;
    EXPECT_EQ(mapped.output.find("--url must be"), std::string::npos) << mapped.output;

    // Events: the good line is kept, the bad one is named (HTTP 400 -> exit 1, the answer printed).
    const auto events = dir.path() / "events.ndjson";
    std::ofstream(events) << "{\"model\": \"small\"}\n{\"model\": \"nobody\"}\n";
    const CtlRun sent = warmupctl({"--url", url, "send-events", events.string()});
    EXPECT_EQ(sent.exit_code, 1) << sent.output;
    EXPECT_NE(sent.output.find("unknown model 'nobody'"), std::string::npos) << sent.output;
    EXPECT_NE(sent.output.find("\"accepted\": 1"), std::string::npos) << sent.output;

    const CtlRun stop = warmupctl({"--url", url, "emergency-stop"});
    EXPECT_EQ(stop.exit_code, 0) << stop.output;
    const CtlRun status = warmupctl({"--url", url, "status"});
    EXPECT_EQ(status.exit_code, 0) << status.output;
    EXPECT_NE(status.output.find("\"emergency_stop\": true"), std::string::npos) << status.output;

    const CtlRun health = warmupctl({"--url", url, "health"});
    EXPECT_EQ(health.exit_code, 0) << health.output;
    EXPECT_NE(health.output.find("org.warmup.predictor.idle-histogram"), std::string::npos) << health.output;

    const CtlRun backup = warmupctl({"--url", url, "backup", "nightly"});
    EXPECT_EQ(backup.exit_code, 0) << backup.output;
    EXPECT_NE(backup.output.find("nightly"), std::string::npos) << backup.output;
    // An existing backup is replaced only when asked.
    const CtlRun again = warmupctl({"--url", url, "backup", "nightly"});
    EXPECT_EQ(again.exit_code, 1) << again.output;
    EXPECT_NE(again.output.find("HTTP 409: `warmupctl backup --overwrite NAME` replaces a backup of that name"),
              std::string::npos)
        << again.output;
    const CtlRun replaced = warmupctl({"--url", url, "backup", "--overwrite", "nightly"});
    EXPECT_EQ(replaced.exit_code, 0) << replaced.output;
    const CtlRun restore = warmupctl({"--url", url, "restore", "nightly"});
    EXPECT_EQ(restore.exit_code, 0) << restore.output;
    const CtlRun staged = warmupctl({"--url", url, "restore", "--at-next-start", "nightly"});
    EXPECT_EQ(staged.exit_code, 0) << staged.output;
    EXPECT_NE(staged.output.find("staged: the next start of warmupd restores the backup 'nightly'"), std::string::npos)
        << staged.output;
    const CtlRun missing = warmupctl({"--url", url, "restore", "no-such-backup"});
    EXPECT_EQ(missing.exit_code, 1) << missing.output;
    // warmupd's own refusal: its JSON answer is printed, with the status (not taken for another service's 404).
    EXPECT_NE(missing.output.find("\"error\":"), std::string::npos) << missing.output;
    EXPECT_NE(missing.output.find("warmupctl: the daemon answered HTTP 404\n"), std::string::npos) << missing.output;
    EXPECT_EQ(missing.output.find("is warmupd listening there"), std::string::npos) << missing.output;
}

/// Every regular file of a .tar.gz by its path, read back with libarchive.
std::map<std::string, std::string> read_tar_gz(const std::filesystem::path& file) {
    std::map<std::string, std::string> files;
    const std::unique_ptr<archive, decltype(&archive_read_free)> reader(archive_read_new(), &archive_read_free);
    archive_read_support_filter_gzip(reader.get());
    archive_read_support_format_tar(reader.get());
    if (archive_read_open_filename(reader.get(), file.c_str(), 1 << 16) != ARCHIVE_OK) {
        ADD_FAILURE() << "cannot open " << file << ": " << archive_error_string(reader.get());
        return files;
    }
    archive_entry* entry = nullptr;
    while (archive_read_next_header(reader.get(), &entry) == ARCHIVE_OK) {
        std::string content(static_cast<std::size_t>(archive_entry_size(entry)), '\0');
        if (!content.empty()) {
            EXPECT_EQ(archive_read_data(reader.get(), content.data(), content.size()),
                      static_cast<la_ssize_t>(content.size()));
        }
        files[archive_entry_pathname(entry)] = std::move(content);
    }
    return files;
}

TEST(WarmupctlSupportBundle, PacksWhatSupportNeedsWithTheTokensRedacted) {
    TempDir dir("warmupctl-bundle");
    const std::string file_token = "file-token-0123456789abcdef";
    const std::string env_token = "env-token-fedcba9876543210";
    const auto config = dir.path() / "daemon.yaml";
    std::ofstream(config) << "# rotated on 2026-01-01: the old token was " << env_token << "\n"
                          << config_with_predictor_params("min_samples: 5") << "http: {access_token: \"" << file_token
                          << "\"}\nstate: {enabled: true, dir: \"" << (dir.path() / "state").string() << "\"}\n";
    // Secrets of a backend and a fleet's Redis in a file the bundle also copies (before, only access_token was hidden).
    const std::string backend_token = "backend-bearer-0123456789";
    const std::string api_key = "backend-api-key-9876543210";
    const std::string redis_password = "redis-password-abcdef";
    const auto other = dir.path() / "other.yaml";
    std::ofstream(other) << "components:\n  backend: {plugin: org.warmup.backend.ollama, params: {bearer_token: \""
                         << backend_token << "\", api_key_header: X-API-Key, api_key: " << api_key
                         << ", bearer_token_env: OLLAMA_TOKEN}}\ncluster: {redis: \"redis://:" << redis_password
                         << "@10.0.0.5:6379/0\"}\n";
    {
        const CtlRun other_run = warmupctl({"--url", "http://127.0.0.1:1", "support-bundle", "--config", other.string(),
                                            "--log", config.string(), (dir.path() / "other.tar.gz").string()});
        const auto other_files = read_tar_gz(dir.path() / "other.tar.gz");
        ASSERT_FALSE(other_files.empty()) << other_run.output;
        for (const auto& [path, content] : other_files) {
            for (const std::string& secret : {backend_token, api_key, redis_password})
                EXPECT_EQ(content.find(secret), std::string::npos) << path << " holds " << secret << ":\n" << content;
            if (path.ends_with("config.yaml")) {
                EXPECT_NE(content.find("api_key_header: X-API-Key"), std::string::npos) << content;  // not a secret
                EXPECT_NE(content.find("bearer_token_env: OLLAMA_TOKEN"), std::string::npos) << content;
                EXPECT_NE(content.find("redis://:<redacted>@10.0.0.5:6379/0"), std::string::npos) << content;
            }
        }
    }
    Daemon daemon({"--config", config.string(), "--port", "0"});
    const int port = daemon.wait_until_listening();
    ASSERT_GT(port, 0) << daemon.log();
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    const auto log = dir.path() / "warmupd.log";
    std::ofstream(log) << daemon.log();  // the daemon's output, as a service would write it to a file
    ::setenv("BUNDLE_TEST_TOKEN", env_token.c_str(), 1);

    // A change without the token, or with another one: the refusal says where warmupctl reads the token from.
    const CtlRun unset = warmupctl({"--url", url, "--token-env", "WARMUPCTL_TEST_UNSET_TOKEN", "emergency-stop"});
    EXPECT_EQ(unset.exit_code, 1) << unset.output;
    EXPECT_NE(unset.output.find("HTTP 401: put the daemon's access token in the environment variable "
                                "WARMUPCTL_TEST_UNSET_TOKEN (or name another with --token-env)"),
              std::string::npos)
        << unset.output;
    const CtlRun wrong = warmupctl({"--url", url, "--token-env", "BUNDLE_TEST_TOKEN", "emergency-stop"});
    EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
    EXPECT_NE(wrong.output.find("HTTP 401: the token in BUNDLE_TEST_TOKEN is not the daemon's"), std::string::npos)
        << wrong.output;

    const auto bundle = dir.path() / "bundle.tar.gz";
    const CtlRun run = warmupctl({"--url", url, "--token-env", "BUNDLE_TEST_TOKEN", "support-bundle", "--config",
                                  config.string(), "--log", log.string(), "--log-lines", "50", bundle.string()});
    ASSERT_EQ(run.exit_code, 0) << run.output;
    // Owner-only, like the configuration and logs it holds (it was world-readable).
    EXPECT_EQ(std::filesystem::status(bundle).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const auto files = read_tar_gz(bundle);
    std::map<std::string, std::string> by_name;  // without the top folder
    for (const auto& [path, content] : files) {
        ASSERT_TRUE(path.starts_with("warmup-support-")) << path;
        by_name[path.substr(path.find('/') + 1)] = content;
        EXPECT_EQ(content.find(file_token), std::string::npos) << path << " holds the configured token";
        EXPECT_EQ(content.find(env_token), std::string::npos) << path << " holds the environment's token";
    }
    for (const char* name : {"version.txt", "config.yaml", "status.json", "health.json", "plugins.json",
                             "predictions.json", "experiments.json", "metrics.txt", "logs.txt", "manifest.json"})
        EXPECT_TRUE(by_name.count(name)) << name << " missing; output:\n" << run.output;
    EXPECT_NE(by_name["config.yaml"].find("access_token: \"<redacted>\""), std::string::npos) << by_name["config.yaml"];
    EXPECT_NE(by_name["config.yaml"].find("# rotated on 2026-01-01"), std::string::npos);  // comments kept
    EXPECT_NE(by_name["config.yaml"].find("min_samples: 5"), std::string::npos);
    EXPECT_NE(by_name["version.txt"].find(std::string("warmupd ") + WARMUP_TEST_PROJECT_VERSION), std::string::npos)
        << by_name["version.txt"];
    const auto status = nlohmann::json::parse(by_name["status.json"], nullptr, false);
    ASSERT_TRUE(status.is_object()) << by_name["status.json"];
    EXPECT_TRUE(status.contains("counters"));
    EXPECT_NE(by_name["metrics.txt"].find("warmup_build_info{"), std::string::npos);
    EXPECT_NE(by_name["logs.txt"].find("STARTUP warmupd listening"), std::string::npos) << by_name["logs.txt"];
    const auto manifest = nlohmann::json::parse(by_name["manifest.json"], nullptr, false);
    ASSERT_TRUE(manifest.is_object()) << by_name["manifest.json"];
    EXPECT_EQ(manifest["files"]["metrics.txt"], "GET /metrics");

    // A daemon that is gone still gets a bundle (configuration and logs), and the exit status says it was gone.
    daemon.kill_now();
    const auto offline = dir.path() / "offline.tar.gz";
    const CtlRun gone = warmupctl(
        {"--url", url, "support-bundle", "--config", config.string(), "--log", log.string(), offline.string()});
    EXPECT_EQ(gone.exit_code, 1) << gone.output;
    std::map<std::string, std::string> offline_files;
    for (const auto& [path, content] : read_tar_gz(offline)) offline_files[path.substr(path.find('/') + 1)] = content;
    EXPECT_TRUE(offline_files.count("config.yaml"));
    EXPECT_TRUE(offline_files.count("logs.txt"));
    EXPECT_FALSE(offline_files.count("status.json"));
    EXPECT_NE(offline_files["manifest.json"].find("could not be reached"), std::string::npos)
        << offline_files["manifest.json"];
}

}  // namespace
