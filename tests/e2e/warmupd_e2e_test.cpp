// End-to-end tests of warmupd: the real daemon (build/bin/warmupd) runs as a child process with a test configuration
// and the real plugins (build/plugins), and is driven over its HTTP API with cpp-httplib.
//
// The central scenario (PrewarmsAModelBeforeItsNextRhythmicRequest) checks the whole pipeline on the wall clock:
// a model used every 3 s is unloaded right after use and loaded again shortly before its next predicted use, so the
// next request finds it warm. Every wait is a bounded poll of the daemon's state; no assertion is about elapsed time.
//
// Process hygiene: each test owns one Daemon; its destructor SIGKILLs and reaps the child if it still runs, so a
// failing assertion never leaves a daemon behind. The child's stdout and stderr go through a pipe drained by a reader
// thread (so the child never blocks on a full pipe) into an in-memory log the test can wait on.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_test_fixture.hpp"
#include "test_support.hpp"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using warmup::test::Daemon;
using warmup::test::poll_until;
using warmup::test::TempDir;

constexpr auto kExitTimeout = 10s;
constexpr auto kPollInterval = 50ms;  // between HTTP polls of the daemon's state

int64_t system_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// --------------------------------------------------------------------------------------------------------------
// The test configuration

// The rhythm the central scenario plays, and the parameters that make it learnable within seconds.
constexpr int64_t kRhythmMs = 3000;       // one request every 3 s
constexpr int kBackfillEvents = 20;       // -> 19 gaps of exactly 3000 ms
constexpr int64_t kIdleBinMs = 250;       // analyzer bin; 3000 ms falls at the start of bin 12 = [3000, 3250)
constexpr int64_t kReadyMarginMs = 1000;  // predictor: be ready this long before the bin where the gaps fell
constexpr int64_t kLeadMarginMs = 200;    // scheduler: lead = ceil(load_ms * 1.1) + 200
constexpr int64_t kModelLoadMs = 400;     // catalog load time of rhythm/a (the sim backend sleeps this long)
// ingest.request_window_ms: longer than the whole back-fill (57 s), so all 20 of its events are requests. With the
// default 5 s most of them would be history (learned, not scored), and whether the model is then loaded by a demand
// load or by a pre-warm planned from that history depends on how the control loop happens to split the body into
// batches: counters a test cannot pin. History is covered in-process (tests/host/runtime/ingest_test.cpp).
constexpr int64_t kRequestWindowMs = 60000;

std::string test_config_yaml() {
    std::ostringstream yaml;
    yaml << "log_level: info\n"
            "http:\n"
            "  bind: 127.0.0.1\n"
            "  port: 3000\n"  // overridden by --port 0
            "plugin_dirs:\n"
            "  - \""
         << WARMUP_TEST_PLUGIN_DIR
         << "\"\n"
            "budgets:\n"
            "  memory_mb: 4000\n"
            "  max_concurrent_warmups: 2\n"
            "ingest:\n"
            "  request_window_ms: "
         << kRequestWindowMs
         << "\n"
            "components:\n"
            "  analyzer:\n"
            "    plugin: org.warmup.analyzer.usage-pattern\n"
            "    params: {idle_bin_ms: "
         << kIdleBinMs
         << ", idle_bins: 240}\n"
            "  predictor:\n"
            "    plugin: org.warmup.predictor.idle-histogram\n"
            "    params: {min_samples: 5, ready_margin_ms: "
         << kReadyMarginMs
         << "}\n"
            "  performance:\n"
            "    plugin: org.warmup.performance.calibrated\n"
            "  scheduler:\n"
            "    plugin: org.warmup.scheduler.lead-time\n"
            "    params: {lead_margin_ms: "
         << kLeadMarginMs
         << "}\n"
            "  resource:\n"
            "    plugin: org.warmup.resource.lru\n"
            "  queue:\n"
            "    plugin: org.warmup.queue.priority\n"
            "  metrics:\n"
            "    plugin: org.warmup.metrics.prometheus\n"
            "  backend:\n"
            "    plugin: org.warmup.backend.sim\n"
            "    params: {time_scale: 1.0}\n"
            "catalog:\n"
            "  - {model: \"rhythm/a\", memory_mb: 1000, load_ms: "
         << kModelLoadMs
         << ", unload_ms: 50}\n"
            "  - {model: \"embed/*\", memory_mb: 200, load_ms: 100}\n";
    return yaml.str();
}

/// A running daemon on the test configuration plus an HTTP client bound to it.
class WarmupdTest : public warmup::test::DaemonTest {
  protected:
    WarmupdTest() : DaemonTest("warmupd-e2e") {}

    void SetUp() override { start_daemon(test_config_yaml()); }

    /// GET `path` as JSON; fails the test (and returns null) on transport errors or a non-200 status.
    json get_json(const std::string& path) {
        const auto result = client_->Get(path);
        if (!result) {
            ADD_FAILURE() << "GET " << path << " failed: " << httplib::to_string(result.error());
            return nullptr;
        }
        EXPECT_EQ(result->status, 200) << path << ": " << result->body;
        return json::parse(result->body, nullptr, false);
    }

    /// POST an NDJSON body to /api/warmup/events; returns (status, parsed body).
    std::pair<int, json> post_events(const std::string& body) {
        const auto result = client_->Post("/api/warmup/events", body, "application/x-ndjson");
        if (!result) {
            ADD_FAILURE() << "POST /api/warmup/events failed: " << httplib::to_string(result.error());
            return {0, nullptr};
        }
        return {result->status, json::parse(result->body, nullptr, false)};
    }

    json counters() { return get_json("/api/warmup/status")["counters"]; }

    /// The status's "warm" entry of `model`, or null.
    static json warm_entry(const json& status, const std::string& model) {
        for (const auto& entry : status["warm"])
            if (entry["model"] == model) return entry;
        return nullptr;
    }
};

/// The value of the first sample line of /metrics that starts with `series` ("name{labels}"), or nullopt.
std::optional<double> metric_value(const std::string& metrics_text, const std::string& series) {
    std::istringstream lines(metrics_text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind(series, 0) == 0 && line.size() > series.size() && line[series.size()] == ' ')
            return std::stod(line.substr(series.size() + 1));
    }
    return std::nullopt;
}

// --------------------------------------------------------------------------------------------------------------
// Scenario: learn a rhythm, unload after use, pre-warm before the next use, serve it warm

TEST_F(WarmupdTest, PrewarmsAModelBeforeItsNextRhythmicRequest) {
    // 1. History: 20 requests 3000 ms apart, the last one now, all inside the request window. The first finds the
    //    model absent (demand load) and the other 19 wait for that load: 20 cold requests, 1 demand load.
    const int64_t last_ms = system_now_ms();
    std::string history;
    for (int i = 0; i < kBackfillEvents; ++i)
        history +=
            json{{"model", "rhythm/a"}, {"ts_ms", last_ms - (kBackfillEvents - 1 - i) * kRhythmMs}}.dump() + "\n";
    const auto [post_status, post_body] = post_events(history);
    ASSERT_EQ(post_status, 200) << post_body.dump();
    EXPECT_EQ(post_body["accepted"], kBackfillEvents);

    // 2. The demand load finishes, the waiting requests are served, and the plan (keep-alive 0: holding the model
    //    3 s costs more than a pre-warm) unloads it at once.
    json c;
    ASSERT_TRUE(poll_until([&] { return (c = counters())["unloads"] == 1; }, 10s, kPollInterval)) << c.dump();
    EXPECT_EQ(c["events_accepted"], kBackfillEvents);
    EXPECT_EQ(c["requests"], kBackfillEvents);
    EXPECT_EQ(c["cold_requests"], kBackfillEvents);
    EXPECT_EQ(c["warm_requests"], 0);
    EXPECT_EQ(c["demand_loads"], 1);
    EXPECT_EQ(c["loads_succeeded"], 1);

    // 3. The learned plan, hand-computed from the idle histogram (19 gaps in bin 12 = [3000, 3250) ms):
    //    keep-alive 0; pre-warm window [12 * 250 - ready_margin, 13 * 250) = [2000, 3250) ms after the last request;
    //    conditional median of the next arrival: 12 * 250 + (9.5 / 19) * 250 = 3125 ms after it.
    const json predictions = get_json("/api/warmup/predictions");
    ASSERT_EQ(predictions["predictions"].size(), 1u) << predictions.dump();
    const json& p = predictions["predictions"][0];
    EXPECT_EQ(p["model"], "rhythm/a");
    EXPECT_EQ(p["keep_until_ms"], last_ms);
    EXPECT_EQ(p["warm_at_ms"], last_ms + 12 * kIdleBinMs - kReadyMarginMs);
    EXPECT_EQ(p["next_arrival_ms"], last_ms + 12 * kIdleBinMs + kIdleBinMs / 2);
    EXPECT_DOUBLE_EQ(p["confidence"].get<double>(), 19.0 / (19.0 + 10.0));  // gaps / (gaps + confidence_samples)
    // The pre-warm is planned to start a lead before warm_at: lead = ceil(load * 1.1) + 200 with a load estimate of
    // at least the catalog's 400 ms (the sim backend sleeps 400 ms, so no measurement is shorter), i.e. >= 640 ms.
    // That puts the start (and the model ready) well before the next expected request at last + 3000.
    if (p["residency"] == "absent") {
        ASSERT_FALSE(p["planned_warm_start_at_ms"].is_null()) << p.dump();
        const int64_t warm_start_ms = p["planned_warm_start_at_ms"].get<int64_t>();
        EXPECT_LE(warm_start_ms, last_ms + 12 * kIdleBinMs - kReadyMarginMs - (kModelLoadMs * 11 / 10 + kLeadMarginMs));
        EXPECT_GT(warm_start_ms, last_ms);
    }

    // 4. The pre-warm runs: the model comes back, ready and not yet used, and is held until the window's end.
    json status;
    ASSERT_TRUE(poll_until(
        [&] {
            status = get_json("/api/warmup/status");
            const json entry = warm_entry(status, "rhythm/a");
            return !entry.is_null() && entry["prewarmed_unused"] == true;
        },
        10s, kPollInterval))
        << status.dump();
    EXPECT_EQ(warm_entry(status, "rhythm/a")["unload_at_ms"], last_ms + 13 * kIdleBinMs);
    EXPECT_EQ(status["counters"]["prewarms_started"], 1);
    EXPECT_EQ(status["counters"]["prewarms_used"], 0);
    EXPECT_EQ(status["counters"]["unloads"], 1);
    EXPECT_EQ(status["counters"]["loads_succeeded"], 2);

    // 5. The next request on the rhythm comes while the model is pre-warmed: a warm hit that uses the pre-warm.
    const auto [next_status, next_body] = post_events(R"({"model": "rhythm/a"})");
    ASSERT_EQ(next_status, 200) << next_body.dump();
    ASSERT_TRUE(poll_until([&] { return (c = counters())["requests"] == kBackfillEvents + 1; }, 10s, kPollInterval))
        << c.dump();
    EXPECT_EQ(c["warm_requests"], 1);
    EXPECT_EQ(c["cold_requests"], kBackfillEvents);
    EXPECT_EQ(c["prewarms_used"], 1);
    EXPECT_EQ(c["prewarms_wasted"], 0);
    EXPECT_EQ(c["demand_loads"], 1);

    // 6. The Prometheus view agrees; the only arm is the control arm, named as /api/warmup/experiments names it.
    const auto metrics = client_->Get("/metrics");
    ASSERT_TRUE(metrics);
    ASSERT_EQ(metrics->status, 200);
    const auto warm = metric_value(metrics->body, R"(warmup_requests_total{arm="control",result="warm"})");
    const auto cold = metric_value(metrics->body, R"(warmup_requests_total{arm="control",result="cold"})");
    const auto started = metric_value(metrics->body, R"(warmup_warmups_started_total{arm="control"})");
    const auto used = metric_value(metrics->body, R"(warmup_prewarms_used_total{arm="control"})");
    ASSERT_TRUE(warm && cold && started && used) << metrics->body;
    EXPECT_EQ(*warm, 1.0);
    EXPECT_EQ(*cold, kBackfillEvents);
    EXPECT_EQ(*started, 2.0);  // the demand load and the pre-warm
    EXPECT_EQ(*used, 1.0);
    const json experiments = get_json("/api/warmup/experiments");
    ASSERT_EQ(experiments["arms"].size(), 1u) << experiments.dump();
    EXPECT_EQ(experiments["arms"][0]["name"], "control");
    EXPECT_EQ(experiments["arms"][0]["cold_requests"], kBackfillEvents);
}

// --------------------------------------------------------------------------------------------------------------
// Ingest refusals

TEST_F(WarmupdTest, MixedNdjsonAnswers400WithEachBadLineAndKeepsTheGoodOnes) {
    const std::string body =
        "{\"model\": \"rhythm/a\"}\n"                   // 1 good
        "{\"model\": \"rhythm/a\"\n"                    // 2 malformed JSON
        "{\"model\": \"embed/small\", \"count\": 2}\n"  // 3 good (glob entry), two requests
        "{\"model\": \"nobody/knows\"}\n"               // 4 unknown model
        "{\"count\": 1}\n"                              // 5 missing model
        "\n"                                            // 6 blank
        "{\"model\": \"rhythm/a\", \"ts_ms\": -4}\n"    // 7 negative time
        "{\"model\": \"embed/other\"}\n";               // 8 good
    const auto [status, answer] = post_events(body);
    EXPECT_EQ(status, 400);
    EXPECT_EQ(answer["accepted"], 3);
    std::map<int, std::string> reasons;
    for (const auto& refusal : answer["rejected"]) reasons[refusal["line"].get<int>()] = refusal["reason"];
    const std::map<int, std::string> expected{
        {2, "malformed JSON at byte 21: syntax error while parsing object - unexpected end of input; expected '}'"},
        {4, "unknown model 'nobody/knows' (no catalog entry matches it)"},
        {5, "missing field 'model'"},
        {7, "'ts_ms' must not be negative"},
    };
    EXPECT_EQ(reasons, expected) << answer.dump();

    json c;
    ASSERT_TRUE(poll_until([&] { return (c = counters())["events"] == 3; }, 10s, kPollInterval)) << c.dump();
    EXPECT_EQ(c["events_accepted"], 3);
    EXPECT_EQ(c["events_refused"], 0);  // counts ingest-queue overflow only, not bad input
    EXPECT_EQ(c["requests"], 4);        // 1 + 2 + 1
}

TEST_F(WarmupdTest, UnknownModelIsRefusedAndNothingIsIngested) {
    const auto [ndjson_status, ndjson_answer] = post_events(R"({"model": "nobody/knows"})");
    EXPECT_EQ(ndjson_status, 400);
    EXPECT_EQ(ndjson_answer["accepted"], 0);
    ASSERT_EQ(ndjson_answer["rejected"].size(), 1u) << ndjson_answer.dump();
    EXPECT_EQ(ndjson_answer["rejected"][0]["line"], 1);
    EXPECT_EQ(ndjson_answer["rejected"][0]["reason"], "unknown model 'nobody/knows' (no catalog entry matches it)");

    // JSON array form: refusals name the item, not the line. "embed" alone does not match the glob "embed/*".
    const auto array = client_->Post("/api/warmup/events", R"([{"model": "embed"}])", "application/json");
    ASSERT_TRUE(array);
    EXPECT_EQ(array->status, 400);
    const json array_answer = json::parse(array->body);
    ASSERT_EQ(array_answer["rejected"].size(), 1u) << array_answer.dump();
    EXPECT_EQ(array_answer["rejected"][0]["item"], 1);
    EXPECT_EQ(array_answer["rejected"][0]["reason"], "unknown model 'embed' (no catalog entry matches it)");

    const json c = counters();
    EXPECT_EQ(c["events_accepted"], 0);
    EXPECT_EQ(c["events"], 0);
    EXPECT_TRUE(get_json("/api/warmup/predictions")["predictions"].empty());
}

// --------------------------------------------------------------------------------------------------------------
// Process behaviour

TEST_F(WarmupdTest, SigtermStopsTheDaemonWithStatusZero) {
    const auto health = client_->Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);

    ASSERT_EQ(kill(daemon_->pid(), SIGTERM), 0);
    const auto status = daemon_->wait_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value()) << "warmupd did not stop within the bounded wait";
    EXPECT_TRUE(status->exited) << "killed by signal " << status->signal;
    EXPECT_EQ(status->code, 0);
    EXPECT_TRUE(daemon_->wait_for_log("SHUTDOWN done", kExitTimeout)) << daemon_->log();
    EXPECT_FALSE(client_->Get("/healthz")) << "the port still answers after the daemon exited";
}

TEST(WarmupdConfig, BadConfigExitsWithStatus2AndNamesFileLineColumnAndKeyPath) {
    TempDir dir("warmupd-e2e");
    // The test configuration with a negative memory budget; its key is at line 8, column 3.
    const std::string yaml = test_config_yaml();
    const std::string needle = "  memory_mb: 4000\n";
    const auto at = yaml.find(needle);
    ASSERT_NE(at, std::string::npos);
    const std::string bad = yaml.substr(0, at) + "  memory_mb: -5\n" + yaml.substr(at + needle.size());
    const int line = 1 + static_cast<int>(std::count(bad.begin(), bad.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
    ASSERT_EQ(line, 8);  // log_level, http (3 lines), plugin_dirs (2 lines), budgets, memory_mb
    const auto config = dir.write("bad.yaml", bad);

    Daemon daemon({"--config", config.string(), "--port", "0"}, Daemon::Capture::StderrOnly);
    const auto status = daemon.wait_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value()) << "warmupd did not exit; stderr:\n" << daemon.log();
    EXPECT_TRUE(status->exited);
    EXPECT_EQ(status->code, 2);
    EXPECT_TRUE(daemon.wait_for_log_end(kExitTimeout));  // everything it wrote has been read
    const std::string expected = config.string() + ":8:3: budgets.memory_mb: ";
    EXPECT_NE(daemon.log().find(expected), std::string::npos) << "stderr:\n" << daemon.log();
    EXPECT_EQ(daemon.log().find("listening"), std::string::npos);
}

TEST_F(WarmupdTest, AStartAPluginRefusesLeavesNoLibraryCopiesBehind) {
    // The plugins are copied to a folder of temporary files as they load; the backend's unknown param refuses the
    // start after the others were copied.
    std::string yaml = test_config_yaml();
    const std::string backend_params = "params: {time_scale: 1.0}";
    ASSERT_NE(yaml.find(backend_params), std::string::npos);
    yaml.replace(yaml.find(backend_params), backend_params.size(), "params: {time_scale: 1.0, no_such_param: 1}");
    const auto config = dir_.write("refused.yaml", yaml);
    const auto temp = dir_.path() / "tmp";
    std::filesystem::create_directories(temp);
    const char* previous = std::getenv("TMPDIR");
    const std::string saved = previous != nullptr ? previous : "";
    setenv("TMPDIR", temp.c_str(), 1);
    Daemon refused({"--config", config.string(), "--port", "0"}, Daemon::Capture::StderrOnly);
    if (previous != nullptr)
        setenv("TMPDIR", saved.c_str(), 1);
    else
        unsetenv("TMPDIR");
    const auto status = refused.wait_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value()) << refused.log();
    EXPECT_EQ(status->code, 2);
    EXPECT_TRUE(refused.wait_for_log_end(kExitTimeout));
    EXPECT_NE(refused.log().find("no_such_param"), std::string::npos) << refused.log();
    std::vector<std::string> left;
    for (const auto& entry : std::filesystem::directory_iterator(temp)) left.push_back(entry.path().string());
    EXPECT_TRUE(left.empty()) << "left behind: " << (left.empty() ? "" : left.front());
}

TEST_F(WarmupdTest, ASecondDaemonOnTheSamePortExitsWithStatus2NamingTheAddress) {
    // Before: the library set SO_REUSEPORT, so the second daemon listened too and the kernel split the clients.
    const auto config = dir_.write("second.yaml", test_config_yaml());
    // A refused start is said on standard error (stdout may be a log pipe nobody reads at start).
    Daemon second({"--config", config.string(), "--port", std::to_string(port_)}, Daemon::Capture::StderrOnly);
    const auto status = second.wait_exit(kExitTimeout);
    ASSERT_TRUE(status.has_value()) << "the second warmupd kept running; log:\n" << second.log();
    EXPECT_TRUE(status->exited);
    EXPECT_EQ(status->code, 2);
    EXPECT_TRUE(second.wait_for_log_end(kExitTimeout));
    EXPECT_NE(second.log().find("HTTP_BIND_ERROR cannot listen on 127.0.0.1:" + std::to_string(port_) +
                                ": the address is already in use"),
              std::string::npos)
        << second.log();
    EXPECT_NE(second.log().find("(another address: --port and --bind, or http.port and http.bind"), std::string::npos)
        << second.log();
    // The first one still serves every request.
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(client_->Get("/healthz"));
}

}  // namespace
