// End-to-end: an operator asks why a model was cold. The real daemon (build/bin/warmupd, keep-alive predictor with a
// short TTL, a budget that holds one of two models) loads, unloads and evicts a model on the wall clock; the test
// checks GET /api/warmup/decisions (newest first, filtered, limited, bad parameters refused) and the plain-language
// explanation of `warmupctl why`. A second test runs the daemon with `log_format: json` and parses every line.
//
// Every wait is a bounded poll of the daemon's state; no assertion is about elapsed time. The Daemon helper kills
// and reaps its child on every path (tests/support/test_support.hpp).
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
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

constexpr auto kPollInterval = 50ms;
constexpr auto kWait = 20s;  // bound of every poll (the machine may be busy compiling)
constexpr int64_t kTtlMs = 3000;

std::string config_yaml(const std::string& log_format) {
    std::ostringstream yaml;
    yaml << "log_level: info\n"
            "log_format: "
         << log_format
         << "\n"
            "http: {bind: 127.0.0.1, port: 3000}\n"
            "plugin_dirs: [\""
         << WARMUP_TEST_PLUGIN_DIR
         << "\"]\n"
            "budgets: {memory_mb: 1500, max_concurrent_warmups: 2}\n"
            "components:\n"
            "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
            "  predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: "
         << kTtlMs
         << "}}\n"
            "  performance: {plugin: org.warmup.performance.calibrated}\n"
            "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
            "  resource: {plugin: org.warmup.resource.lru}\n"
            "  queue: {plugin: org.warmup.queue.priority}\n"
            "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
            "  backend: {plugin: org.warmup.backend.sim, params: {time_scale: 1.0}}\n"
            "catalog:\n"
            "  - {model: \"m/a\", memory_mb: 1000, load_ms: 200, unload_ms: 20}\n"
            "  - {model: \"m/b\", memory_mb: 1000, load_ms: 200, unload_ms: 20}\n";
    return yaml.str();
}

class DecisionsTest : public warmup::test::DaemonTest {
  protected:
    DecisionsTest() : DaemonTest("warmupd-decisions") {}

    void start(const std::string& log_format) { start_daemon(config_yaml(log_format)); }

    /// GET `path`: (status, parsed body).
    std::pair<int, json> get(const std::string& path) {
        const auto result = client_->Get(path);
        if (!result) {
            ADD_FAILURE() << "GET " << path << " failed: " << httplib::to_string(result.error());
            return {0, nullptr};
        }
        return {result->status, json::parse(result->body, nullptr, false)};
    }

    json decisions(const std::string& query) {
        const auto [status, body] = get("/api/warmup/decisions?" + query);
        EXPECT_EQ(status, 200) << body.dump();
        return body["decisions"];
    }

    void request(const std::string& model) {
        const auto result = client_->Post("/api/warmup/events", json{{"model", model}}.dump(), "application/json");
        ASSERT_TRUE(result) << httplib::to_string(result.error());
        ASSERT_EQ(result->status, 200) << result->body;
    }

    bool warm(const std::string& model) {
        const auto [status, body] = get("/api/warmup/status");
        for (const auto& entry : body["warm"])
            if (entry["model"] == model) return true;
        return false;
    }

    /// Runs `warmupctl why MODEL` against the daemon; its output (the test fails unless it exits 0).
    std::string why(const std::string& model) {
        Daemon ctl({"--url", "http://127.0.0.1:" + std::to_string(port_), "why", model},
                   Daemon::Capture::StdoutAndStderr, "warmupctl");
        const auto status = ctl.wait_exit(kWait);
        EXPECT_TRUE(status && status->exited && status->code == 0) << ctl.log();
        EXPECT_TRUE(ctl.wait_for_log_end(kWait));
        return ctl.log();
    }
};

std::vector<std::string> kinds(const json& decisions) {
    std::vector<std::string> out;
    for (const auto& decision : decisions) out.push_back(decision["decision"].get<std::string>());
    return out;
}

TEST_F(DecisionsTest, AnOperatorSeesWhyAModelWasCold) {
    start("text");
    // 1. First request: a demand load; the keep-alive plan unloads it kTtlMs after the request.
    request("m/a");
    ASSERT_TRUE(poll_until([&] { return warm("m/a"); }, kWait, kPollInterval));
    ASSERT_TRUE(
        poll_until([&] { return get("/api/warmup/status").second["counters"]["unloads"] == 1; }, kWait, kPollInterval));
    // The unload counts when it starts; a request during it would wait for it ("demand load waits for memory being
    // unloaded", one decision more). Step 2 is the request after it.
    ASSERT_TRUE(
        poll_until([&] { return get("/api/warmup/status").second["unloading_mb"] == 0; }, kWait, kPollInterval));

    // 2. The next request is cold because of that unload.
    request("m/a");
    ASSERT_TRUE(poll_until([&] { return warm("m/a"); }, kWait, kPollInterval));
    json a = decisions("model=m/a&limit=10");
    ASSERT_EQ(kinds(a), (std::vector<std::string>{"keep", "demand_load", "unload", "keep", "demand_load"}))
        << a.dump(2);
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i]["model"], "m/a");
        if (i > 0) {
            EXPECT_GE(a[i - 1]["at_ms"].get<int64_t>(), a[i]["at_ms"].get<int64_t>()) << "newest first";
        }
    }
    const json& unload = a[2];
    EXPECT_EQ(unload["decided_by"].get<std::string>().rfind("org.warmup.predictor.keep-alive@", 0), 0u) << unload;
    EXPECT_TRUE(unload["plan"]["p_use_within_horizon"].is_number()) << unload;
    EXPECT_TRUE(unload["plan"]["predicted_next_use_ms"].is_number()) << unload;
    EXPECT_EQ(unload["memory"]["budget_mb"], 1500);
    EXPECT_EQ(unload["memory"]["used_mb"], 1000);
    EXPECT_EQ(a[1]["reason"], "a request found it unloaded: demand load");
    EXPECT_GE(a[1]["at_ms"].get<int64_t>(), unload["at_ms"].get<int64_t>());

    // warmupctl shows a time of another day than today with its date (a predicted next use after midnight).
    static const std::string kTime = R"((\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d)";
    static const std::regex kUnloaded("cold at " + kTime + ": unloaded at " + kTime +
                                      R"( by org\.warmup\.predictor\.keep-alive@[0-9.]+ plan, )"
                                      "predicted next use " +
                                      kTime + R"( with p=[0-9.e-]+)");
    const std::string first = why("m/a");
    EXPECT_TRUE(std::regex_search(first, kUnloaded)) << first;
    EXPECT_NE(first.find("recent decisions, newest first:"), std::string::npos) << first;
    EXPECT_NE(first.find("unload: idle until its planned unload time"), std::string::npos) << first;

    // 3. m/b does not fit beside m/a: the LRU policy evicts m/a for it, and m/a's next request is cold again. (A warm
    //    request first renews m/a's keep-alive, so that the TTL cannot unload it before m/b's load needs the room.)
    request("m/a");
    request("m/b");
    ASSERT_TRUE(poll_until([&] { return warm("m/b"); }, kWait, kPollInterval));
    a = decisions("model=m/a&limit=1");
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0]["decision"], "evict") << a.dump(2);
    EXPECT_EQ(a[0]["for_model"], "m/b");
    EXPECT_EQ(a[0]["decided_by"].get<std::string>().rfind("org.warmup.resource.lru@", 0), 0u) << a[0];
    request("m/a");
    ASSERT_TRUE(poll_until([&] { return warm("m/a"); }, kWait, kPollInterval));
    static const std::regex kEvicted(
        "cold at " + kTime + ": evicted at " + kTime +
        R"( by org\.warmup\.resource\.lru@[0-9.]+ to make room )"
        R"(for m/b \(1000 of 1500 MiB in use, needs 1000 MiB; its plan: by org\.warmup\.predictor\.keep-alive@)");
    const std::string second = why("m/a");
    EXPECT_TRUE(std::regex_search(second, kEvicted)) << second;

    // 4. Unfiltered and limited; other models' decisions are there too.
    const json two = decisions("limit=2");
    EXPECT_EQ(two.size(), 2u);
    bool saw_b = false;
    for (const auto& decision : decisions("limit=100")) saw_b = saw_b || decision["model"] == "m/b";
    EXPECT_TRUE(saw_b);

    // 5. Bad parameters are refused with a reason.
    EXPECT_EQ(get("/api/warmup/decisions?limit=0").first, 400);
    EXPECT_EQ(get("/api/warmup/decisions?limit=12x").first, 400);
    const auto [status, body] = get("/api/warmup/decisions?model=no-such-model");
    EXPECT_EQ(status, 404);
    EXPECT_NE(body["error"].get<std::string>().find("no-such-model"), std::string::npos) << body;
}

TEST_F(DecisionsTest, AResourcePluginsOwnReasonIsShownWithTheDecision) {
    // Before, the decision said "demand load delayed by the resource plugin" and dropped what the plugin said.
    std::string yaml = config_yaml("text");
    const std::string lru = "  resource: {plugin: org.warmup.resource.lru}";
    ASSERT_NE(yaml.find(lru), std::string::npos);
    yaml.replace(yaml.find(lru), lru.size(),
                 std::string("  resource: {path: \"") + WARMUP_TEST_BAD_PLUGIN_DIR +
                     "/engine_breaker_garbage_resource.so\", params: {refuse_demand: 'the GPUs train until 18:00'}}");
    start_daemon(yaml);
    ASSERT_FALSE(HasFatalFailure());
    request("m/a");
    json delayed;
    ASSERT_TRUE(poll_until(
        [&] {
            for (const auto& decision : decisions("model=m/a&limit=10"))
                if (decision["decision"] == "demand_load" && decision.contains("plugin_says")) delayed = decision;
            return !delayed.is_null();
        },
        kWait, kPollInterval))
        << decisions("model=m/a&limit=10").dump(2);
    EXPECT_EQ(delayed["reason"], "demand load delayed by the resource plugin");
    EXPECT_EQ(delayed["plugin_says"], "the GPUs train until 18:00");
    EXPECT_NE(why("m/a").find("demand_load: demand load delayed by the resource plugin: \"the GPUs train until "
                              "18:00\""),
              std::string::npos);
}

TEST_F(DecisionsTest, AModelWithoutAColdRequestSaysSo) {
    start("text");
    request("m/b");
    ASSERT_TRUE(poll_until([&] { return warm("m/b"); }, kWait, kPollInterval));
    // Its only cold request is its first: nothing unloaded or evicted it before.
    const std::string text = why("m/b");
    EXPECT_NE(text.find("no earlier unload or eviction of it is recorded"), std::string::npos) << text;
    Daemon ctl({"--url", "http://127.0.0.1:" + std::to_string(port_), "why", "never-seen"},
               Daemon::Capture::StdoutAndStderr, "warmupctl");
    const auto exit = ctl.wait_exit(kWait);
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(exit->code, 1) << ctl.log();
    ASSERT_TRUE(ctl.wait_for_log_end(kWait));
    EXPECT_NE(ctl.log().find("unknown model 'never-seen'"), std::string::npos) << ctl.log();
}

TEST_F(DecisionsTest, WhyNamesTheArmThatHoldsAModelsDecisionsDuringAnExperiment) {
    // Split by model, half the models' decisions are the treatment's: `why` without --arm looks in the control arm
    // and says where they are instead of "no decisions".
    std::string yaml = config_yaml("text");
    yaml +=
        "  - {model: \"x/*\", memory_mb: 100, load_ms: 50}\n"
        "experiment: {enabled: true, split: model}\n"
        "arms:\n"
        "  - {name: treatment, components: {predictor: {plugin: org.warmup.predictor.keep-alive}}}\n";
    start_daemon(yaml);
    for (int i = 0; i < 10; ++i) request("x/" + std::to_string(i));
    std::string in_treatment;
    ASSERT_TRUE(poll_until(
        [&] {
            for (int i = 0; i < 10 && in_treatment.empty(); ++i) {
                const std::string model = "x/" + std::to_string(i);
                if (decisions("model=" + model + "&arm=control").empty() &&
                    !decisions("model=" + model + "&arm=treatment").empty())
                    in_treatment = model;
            }
            return !in_treatment.empty();
        },
        kWait, kPollInterval));
    const std::string text = why(in_treatment);
    EXPECT_NE(
        text.find("no decisions recorded for it in arm control; arm(s) with decisions for it: treatment (warmupctl "
                  "why " +
                  in_treatment + " --arm treatment)"),
        std::string::npos)
        << text;
}

// A client that keeps posting refused events (a model missing from the catalog, or retries against a full ingest
// queue) used to get one DATA_COLLECTION_ERROR line per POST: hundreds a second. One line per 10 s now, the next one
// saying how many were left out (the count itself: tests/host/core/log_throttle_test.cpp).
TEST_F(DecisionsTest, ABurstOfRefusedPostsIsLoggedOnce) {
    start("text");
    for (int i = 0; i < 50; ++i) {
        const auto result =
            client_->Post("/api/warmup/events", R"({"model":"not-in-the-catalog"})", "application/json");
        ASSERT_TRUE(result);
        ASSERT_EQ(result->status, 400) << result->body;
    }
    ::kill(daemon_->pid(), SIGTERM);
    const auto status = daemon_->wait_exit(kWait);
    ASSERT_TRUE(status && status->exited && status->code == 0);
    ASSERT_TRUE(daemon_->wait_for_log_end(kWait));
    const std::string log = daemon_->log();
    std::size_t lines = 0;
    for (std::size_t at = log.find("DATA_COLLECTION_ERROR"); at != std::string::npos;
         at = log.find("DATA_COLLECTION_ERROR", at + 1))
        ++lines;
    EXPECT_EQ(lines, 1u) << log;
}

TEST_F(DecisionsTest, JsonLogFormatWritesOneParsableObjectPerLineWithTheStableCodes) {
    start("json");
    // A refused line whose reason quotes a name with a quote and a backslash: the message must be escaped.
    const auto result = client_->Post("/api/warmup/events", R"({"model":"evil\"na\\me"})", "application/json");
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400);
    ASSERT_TRUE(daemon_->wait_for_log("DATA_COLLECTION_ERROR", kWait)) << daemon_->log();
    ::kill(daemon_->pid(), SIGTERM);
    const auto status = daemon_->wait_exit(kWait);
    ASSERT_TRUE(status && status->exited && status->code == 0);
    ASSERT_TRUE(daemon_->wait_for_log_end(kWait));

    std::istringstream lines(daemon_->log());
    std::string line;
    std::vector<std::string> codes;
    while (std::getline(lines, line)) {
        const json parsed = json::parse(line, nullptr, false);
        ASSERT_TRUE(parsed.is_object()) << "not a JSON object: " << line;
        for (const char* key : {"ts", "level", "msg"}) EXPECT_TRUE(parsed[key].is_string()) << line;
        ASSERT_TRUE(parsed.contains("code")) << line;
        if (parsed["code"].is_string()) codes.push_back(parsed["code"]);
        if (parsed["code"] == "DATA_COLLECTION_ERROR") {
            EXPECT_NE(parsed["msg"].get<std::string>().find(R"(unknown model 'evil"na\me')"), std::string::npos)
                << line;
        }
    }
    for (const std::string expected : {"STARTUP", "DATA_COLLECTION_ERROR", "SHUTDOWN"})
        EXPECT_NE(std::find(codes.begin(), codes.end(), expected), codes.end()) << expected << "\n" << daemon_->log();
}

}  // namespace
