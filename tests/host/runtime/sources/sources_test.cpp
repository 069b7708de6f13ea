// Sources inside a running LiveRuntime with its HTTP API: a tail source's events are counted like POSTed ones,
// a Prometheus source's counter increases (through a counter reset) become requests, each source has its health line, a
// failing source leaves the host running and shows unhealthy, reloads add, replace and remove sources, and a restart
// reads on from the position kept in the state folder.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "fake_metrics_endpoint.hpp"
#include "live_runtime_test_fixture.hpp"

namespace warmup::host {
namespace {

using test::config_text;
using test::FakeMetricsEndpoint;
using test::OpsTest;
using test::TempDir;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::poll_until;

void append(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::app | std::ios::binary);
    out << text;
}

class SourcesRuntimeTest : public OpsTest {
  protected:
    /// A tail source named `name` on the log file (start_at: beginning, polled every 20 ms).
    std::string tail_source(const std::string& name = "gateway", const std::string& extra_params = "") {
        return "  - {name: " + name + ", plugin: org.warmup.source.tail, params: {path: \"" + log_.string() +
               "\", start_at: beginning, poll_interval_ms: 20" + extra_params + "}}\n";
    }
    Config config(const std::string& sources) {
        const std::string extra = "state: {dir: \"" + (dir_.path() / "state").string() + "\", journal: false}\n" +
                                  (sources.empty() ? "" : "sources:\n" + sources);
        return load_config_text(config_text(0, 2, extra), "sources.yaml", dir_.path(), {});
    }
    void start_with_sources(const std::string& sources) {
        start(config(sources));
        runtime_->start_sources();
    }
    uint64_t events_accepted() {
        const auto [status, body] = get_json("/api/warmup/status");
        return status == 200 ? body["counters"]["events_accepted"].get<uint64_t>() : 0;
    }
    /// The health line of `component`, or null.
    json health_of(const std::string& component) {
        const auto [status, body] = get_json("/api/warmup/health/components");
        if (status != 200) return nullptr;
        for (const auto& line : body["components"])
            if (line["component"] == component) return line;
        return nullptr;
    }
    /// Waits until the source has polled `more` more times than now: it has read everything written before.
    void wait_for_polls(const std::string& component, uint64_t more = 2) {
        const uint64_t before = health_of(component).value("polls", uint64_t{0});
        ASSERT_TRUE(poll_until([&] { return health_of(component).value("polls", uint64_t{0}) >= before + more; }, 10s));
    }

    warmup::test::TempDir dir_{"sources"};
    fs::path log_ = dir_.path() / "gateway.json";
};

TEST_F(SourcesRuntimeTest, TailEventsAreCountedLikePostedOnesAndShownInHealth) {
    append(log_, "{\"model\": \"m/a\"}\n{\"model\": \"m/b\", \"tenant\": \"t\"}\n");
    start_with_sources(tail_source());
    ASSERT_TRUE(poll_until([&] { return events_accepted() == 2; }, 10s)) << events_accepted();
    EXPECT_EQ(post("/api/warmup/events", R"({"model": "m/c"})").first, 200);
    EXPECT_TRUE(poll_until([&] { return events_accepted() == 3; }, 10s));  // one counter for both ways in

    append(log_, "{\"model\": \"no-such-model\"}\nnot json\n{\"model\": \"m/a\"}\n");
    ASSERT_TRUE(poll_until([&] { return events_accepted() == 4; }, 10s)) << events_accepted();
    wait_for_polls("source:gateway");
    const json health = health_of("source:gateway");
    EXPECT_EQ(health["state"], "ok") << health.dump();  // bad input is counted, not the source's fault
    EXPECT_EQ(health["plugin"], "org.warmup.source.tail@1.0.0");
    EXPECT_EQ(health["events_accepted"], 3);
    EXPECT_EQ(health["events_refused"], 1);  // the unknown model
    EXPECT_EQ(health["bad_records"], 1);     // the line that is not JSON
    EXPECT_EQ(health["errors"], 0);
    EXPECT_NE(health["last_bad_record"].get<std::string>().find("not JSON"), std::string::npos) << health.dump();
    EXPECT_EQ(residency("m/a"), WARMUP_RESIDENCY_READY);  // a tailed request loads its model like a posted one

    const std::string metrics = get_text("/metrics");
    EXPECT_NE(metrics.find("warmup_source_up{source=\"gateway\"} 1\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("warmup_source_events_total{source=\"gateway\",result=\"accepted\"} 3\n"),
              std::string::npos);
    EXPECT_NE(metrics.find("warmup_source_events_total{source=\"gateway\",result=\"refused\"} 1\n"), std::string::npos);
    EXPECT_NE(metrics.find("warmup_source_bad_records_total{source=\"gateway\"} 1\n"), std::string::npos);
    // The page with the source series still passes promtool (the Debian package prometheus, in install-deps.sh).
    const fs::path page = dir_.write("metrics.txt", metrics);
    const fs::path complaints = dir_.path() / "promtool.txt";
    const int promtool = std::system(
        ("/usr/bin/promtool check metrics < '" + page.string() + "' > '" + complaints.string() + "' 2>&1").c_str());
    std::ifstream said(complaints);
    const std::string said_text((std::istreambuf_iterator<char>(said)), {});
    EXPECT_EQ(promtool, 0) << said_text;
    EXPECT_EQ(said_text, "");
}

TEST_F(SourcesRuntimeTest, PrometheusCounterIncreasesBecomeRequestsThroughAReset) {
    warmup::test::FakeMetricsEndpoint triton;
    triton.set_page(warmup::test::FakeMetricsEndpoint::triton_page({{"m/resnet", 40}}));
    start_with_sources("  - {name: triton, plugin: org.warmup.source.prometheus, params: {url: \"" + triton.url() +
                       "\", metric: nv_inference_request_success, interval_ms: 100}}\n");
    wait_for_polls("source:triton", 1);  // the baseline
    triton.set_page(warmup::test::FakeMetricsEndpoint::triton_page({{"m/resnet", 45}}));
    ASSERT_TRUE(poll_until([&] { return events_accepted() == 1; }, 10s));                // one event, count 5
    triton.set_page(warmup::test::FakeMetricsEndpoint::triton_page({{"m/resnet", 3}}));  // Triton restarted
    ASSERT_TRUE(poll_until([&] { return events_accepted() == 2; }, 10s));
    wait_for_polls("source:triton");
    EXPECT_EQ(events_accepted(), 2);
    drain();
    EXPECT_EQ(counters().requests, 8u);  // 5 + 3 requests
    EXPECT_EQ(residency("m/resnet"), WARMUP_RESIDENCY_READY);
    EXPECT_EQ(health_of("source:triton")["state"], "ok");
}

TEST_F(SourcesRuntimeTest, AFailingSourceLeavesTheHostRunningAndShowsUnhealthy) {
    const std::string failing = std::string("  - {name: broken, path: \"") + WARMUP_TEST_BAD_PLUGIN_DIR +
                                "/test_failing_source.so\", params: {message: upstream gone}}\n"
                                "  - {name: throwing, path: \"" +
                                WARMUP_TEST_BAD_PLUGIN_DIR + "/test_failing_source.so\", params: {throw: exception}}\n";
    start_with_sources(failing + tail_source("missing-file"));  // log_ was never created
    ASSERT_TRUE(poll_until(
        [&] {
            return health_of("source:broken")["errors"].get<uint64_t>() >= 1 &&
                   health_of("source:throwing")["errors"].get<uint64_t>() >= 1 &&
                   health_of("source:missing-file")["errors"].get<uint64_t>() >= 1;
        },
        10s));
    const json broken = health_of("source:broken");
    EXPECT_EQ(broken["state"], "degraded");
    EXPECT_NE(broken["reason"].get<std::string>().find("UNAVAILABLE: upstream gone"), std::string::npos)
        << broken.dump();
    EXPECT_NE(health_of("source:throwing")["last_error"].get<std::string>().find("INTERNAL"), std::string::npos);
    EXPECT_NE(health_of("source:missing-file")["reason"].get<std::string>().find("cannot open '" + log_.string()),
              std::string::npos);
    const auto [status, body] = get_json("/api/warmup/health/components");
    EXPECT_EQ(body["status"], "degraded");
    EXPECT_NE(get_text("/metrics").find("warmup_source_up{source=\"broken\"} 0\n"), std::string::npos);

    // The host still serves and ingests; the missing file is picked up once it exists, and the source recovers.
    EXPECT_EQ(post("/api/warmup/events", R"({"model": "m/a"})").first, 200);
    append(log_, "{\"model\": \"m/b\"}\n");
    EXPECT_TRUE(poll_until([&] { return health_of("source:missing-file")["state"] == "ok"; }, 20s));
    EXPECT_TRUE(poll_until([&] { return events_accepted() == 2; }, 10s)) << events_accepted();
}

TEST_F(SourcesRuntimeTest, AFollowedFileNotThereYetIsLookedForEverySecondWithoutBackingOff) {
    // Other failed polls back off (1, 2, 4 ... 30 s). A missing file costs a look only, and a file created while the
    // source waited 30 s would have its first lines read too late to count as requests.
    start_with_sources(tail_source("missing-file"));
    std::this_thread::sleep_for(5500ms);
    const json health = health_of("source:missing-file");
    EXPECT_EQ(health["state"], "degraded");
    EXPECT_GE(health["errors"].get<uint64_t>(), 5u)
        << "polls at 0, 1, 2, 3, 4, 5 s; backing off: 0, 1, 3 s" << health.dump();
}

TEST_F(SourcesRuntimeTest, ReloadAddsReplacesAndRemovesSources) {
    start_with_sources("");
    EXPECT_TRUE(health_of("source:gateway").is_null());

    append(log_, "{\"model\": \"m/a\"}\n");
    ReloadResult added = runtime_->reload(config(tail_source()));
    ASSERT_TRUE(added.ok) << added.error;
    EXPECT_TRUE(added.changed);
    EXPECT_NE(
        std::find(added.notes.begin(), added.notes.end(), "source 'gateway' started (org.warmup.source.tail@1.0.0)"),
        added.notes.end());
    ASSERT_TRUE(poll_until([&] { return events_accepted() == 1; }, 10s));

    // New params: a new instance, which reads on from where the old one stopped (no line twice, none lost).
    const ReloadResult replaced = runtime_->reload(config(tail_source("gateway", ", max_line_bytes: 4096")));
    ASSERT_TRUE(replaced.ok) << replaced.error;
    ASSERT_EQ(replaced.changes.size(), 1u);
    EXPECT_EQ(replaced.changes[0].slot, "sources.gateway");
    append(log_, "{\"model\": \"m/b\"}\n");
    ASSERT_TRUE(poll_until([&] { return events_accepted() == 2; }, 10s)) << events_accepted();
    wait_for_polls("source:gateway");
    EXPECT_EQ(events_accepted(), 2);

    const ReloadResult unchanged = runtime_->reload(config(tail_source("gateway", ", max_line_bytes: 4096")));
    EXPECT_TRUE(unchanged.ok);
    EXPECT_FALSE(unchanged.changed);

    const ReloadResult removed = runtime_->reload(config(""));
    ASSERT_TRUE(removed.ok) << removed.error;
    EXPECT_NE(std::find(removed.notes.begin(), removed.notes.end(),
                        "source 'gateway' stopped (org.warmup.source.tail@1.0.0)"),
              removed.notes.end());
    EXPECT_TRUE(health_of("source:gateway").is_null());
}

TEST_F(SourcesRuntimeTest, AReloadWithABadSourceChangesNothing) {
    append(log_, "{\"model\": \"m/a\"}\n");
    start_with_sources(tail_source());
    ASSERT_TRUE(poll_until([&] { return events_accepted() == 1; }, 10s));
    const ReloadResult refused = runtime_->reload(
        config("  - {name: gateway, plugin: org.warmup.source.tail, params: {path: relative.json}}\n"));
    EXPECT_FALSE(refused.ok);
    EXPECT_EQ(refused.http_status, 422);
    EXPECT_NE(refused.error.find("sources.yaml:"), std::string::npos) << refused.error;
    EXPECT_NE(refused.error.find("params.path: expected an absolute path"), std::string::npos) << refused.error;
    append(log_, "{\"model\": \"m/b\"}\n");  // the running source still reads
    EXPECT_TRUE(poll_until([&] { return events_accepted() == 2; }, 10s));
}

TEST_F(SourcesRuntimeTest, APluginOfAnotherKindIsRefusedAtItsPlaceInTheFile) {
    try {
        LiveRuntime runtime(config("  - {name: wrong, plugin: org.warmup.predictor.keep-alive}\n"));
        FAIL() << "expected a StartupError";
    } catch (const StartupError& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("sources.yaml:"), std::string::npos) << message;
        EXPECT_NE(message.find("is a predictor plugin, but this slot needs a source plugin"), std::string::npos)
            << message;
    }
}

TEST_F(SourcesRuntimeTest, ATailedLineAPostWouldRefuseIsRefusedAndTheOthersGoOn) {
    // Each bad line names a model the catalog's "m/*" matches, so only the checks a POST applies can refuse it.
    append(log_,
           "{\"model\": \"m/\\u0085next-line\"}\n"                              // a C1 control character
           "{\"model\": \"m/tab\\there\"}\n"                                    // a C0 one
           "{\"model\": \"m/y2k\", \"timestamp\": \"2000-01-01T00:00:00Z\"}\n"  // ts_ms 946684800000 < 10^12
           "{\"model\": \"m/a\"}\n");
    start_with_sources(tail_source());
    ASSERT_TRUE(poll_until([&] { return health_of("source:gateway").value("events_refused", uint64_t{0}) == 3; }, 10s))
        << health_of("source:gateway").dump();
    ASSERT_TRUE(poll_until([&] { return events_accepted() == 1; }, 10s)) << events_accepted();
    wait_for_polls("source:gateway");
    const json health = health_of("source:gateway");
    EXPECT_EQ(health["state"], "ok") << health.dump();  // bad input is counted, not the source's fault
    EXPECT_EQ(health["events_accepted"], 1);
    EXPECT_EQ(health["bad_records"], 0);
    EXPECT_EQ(health["last_bad_record"],
              "event refused: model 'm/y2k': 'ts_ms' 946684800000 is before 2001-09-09 (the earliest accepted, "
              "1000000000000): ts_ms counts milliseconds since the epoch, not seconds");
    EXPECT_EQ(events_accepted(), 1);
    // The same lines POSTed are refused for the same reasons.
    const auto [status, answer] =
        post("/api/warmup/events", "{\"model\": \"m/\\u0085next-line\"}\n{\"model\": \"m/tab\\there\"}\n");
    EXPECT_EQ(status, 400);
    ASSERT_EQ(answer["rejected"].size(), 2u) << answer.dump();
    EXPECT_EQ(answer["rejected"][0]["reason"], "'model' contains the control character U+0085 at byte 2");
    EXPECT_EQ(answer["rejected"][1]["reason"], "'model' contains the control character 0x09 at byte 5");
}

TEST_F(SourcesRuntimeTest, ARestartReadsOnFromThePositionInTheStateFolder) {
    append(log_, "{\"model\": \"m/a\"}\n{\"model\": \"m/b\"}\n");
    start_with_sources(tail_source());
    ASSERT_TRUE(poll_until([&] { return events_accepted() == 2; }, 10s));
    wait_for_polls("source:gateway");
    stop();  // a clean shutdown: the last snapshot keeps the counters, position.json the read position
    ASSERT_TRUE(fs::exists(dir_.path() / "state" / "sources" / "gateway" / "position.json"));

    append(log_, "{\"model\": \"m/c\"}\n");
    start_with_sources(tail_source());
    ASSERT_TRUE(poll_until([&] { return events_accepted() == 3; }, 10s)) << events_accepted();  // 2 restored + 1
    wait_for_polls("source:gateway");
    EXPECT_EQ(health_of("source:gateway")["events_accepted"], 1);  // only the line written while it was down
    EXPECT_EQ(events_accepted(), 3);
}

TEST(SourceRunner, AQueueThatTakesLittleAtATimeGetsEveryEventOnceInOrder) {
    // The real tail_source.so through the C ABI, with an ingest that takes at most two events per call and nothing on
    // every other call: the runner must report exactly the prefix taken, so the source offers the rest again.
    warmup::test::TempDir dir("source-runner");
    const fs::path log = dir.path() / "log.json";
    std::string lines;
    for (int i = 0; i < 25; ++i) lines += "{\"model\": \"m/" + std::to_string(i) + "\"}\n";
    lines += "{\"model\": \"unknown/x\"}\n{\"model\": \"m/last\"}\n";
    append(log, lines);

    Catalog catalog({{"m/*", 100, 5, 0, 1}});
    SystemClock clock;
    PluginLoader loader({WARMUP_TEST_PLUGIN_DIR});
    auto library = loader.load(PluginRef{"org.warmup.source.tail", {}, {}, "sources[0]"}, WARMUP_KIND_SOURCE);
    std::shared_ptr<PluginInstance> instance = PluginInstance::create(
        library, "path: " + log.string() + "\nstart_at: beginning\npoll_interval_ms: 10", catalog, clock);

    std::mutex mutex;
    std::vector<std::string> received;  // under mutex
    int calls = 0;                      // under mutex
    SourceIngest ingest{&catalog, &clock, [&](std::span<const warmup_usage_event> events) -> std::size_t {
                            std::lock_guard lock(mutex);
                            if (++calls % 2 == 0) return 0;  // full this time
                            const std::size_t taken = std::min<std::size_t>(2, events.size());
                            for (std::size_t i = 0; i < taken; ++i)
                                received.push_back(catalog.record(events[i].model).name);
                            return taken;
                        }};
    SourceRunner runner({"log", {}}, instance, {}, ingest);
    runner.start();
    ASSERT_TRUE(poll_until(
        [&] {
            std::lock_guard lock(mutex);
            return received.size() >= 26;
        },
        20s));
    ASSERT_TRUE(poll_until([&] { return runner.health().events_refused == 1; }, 10s));
    runner.stop();
    std::vector<std::string> expected;
    for (int i = 0; i < 25; ++i) expected.push_back("m/" + std::to_string(i));
    expected.push_back("m/last");
    EXPECT_EQ(received, expected);
    EXPECT_EQ(runner.health().events_accepted, 26u);
    EXPECT_EQ(runner.health().failed_polls, 0u);
}

/// What a SourceRunner made of test_scripted_source.so's batch with `bad` (see scripted_source.cpp): the models that
/// reached the ingest function, in order, and the runner's health once it refused `refusals` events. The catalog's
/// one entry "*" matches every name, so only the host's own checks can refuse an event.
struct ScriptedRun {
    std::vector<std::string> received;
    SourceHealth health;
};

ScriptedRun run_scripted_source(const std::string& bad, uint64_t refusals) {
    Catalog catalog({{"*", 100, 5, 0, 1}});
    SystemClock clock;
    PluginLoader loader({});
    auto library =
        loader.load(PluginRef{{}, fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "test_scripted_source.so", {}, "sources[0]"},
                    WARMUP_KIND_SOURCE);
    std::shared_ptr<PluginInstance> instance = PluginInstance::create(library, "bad: " + bad, catalog, clock);
    std::mutex mutex;
    ScriptedRun run;  // received: under mutex while the runner runs
    SourceIngest ingest{&catalog, &clock, [&](std::span<const warmup_usage_event> events) -> std::size_t {
                            std::lock_guard lock(mutex);
                            for (const warmup_usage_event& event : events)
                                run.received.push_back(catalog.record(event.model).name);
                            return events.size();
                        }};
    SourceRunner runner({"scripted", {}}, instance, {}, ingest);
    runner.start();
    EXPECT_TRUE(poll_until(
        [&] {
            std::lock_guard lock(mutex);
            return run.received.size() >= 2 && runner.health().events_refused >= refusals;
        },
        10s));
    runner.stop();
    run.health = runner.health();
    return run;
}

TEST(SourceRunner, AnEventAPostWouldRefuseIsRefusedWithThePostsReasonAndTheOthersArrive) {
    const struct {
        std::string bad;
        std::vector<std::string> reason_parts;  // the last refusal's reason holds each, in this order
        uint64_t refused = 1;                   // events of the batch the host refuses
    } kCases[] = {
        {"empty", {"event refused: 'model' must not be empty"}},
        {"blank", {"event refused: 'model' must not be blank (it is only white space)"}},
        {"c0", {"event refused: 'model' contains the control character 0x09 at byte 5"}},
        {"del", {"event refused: 'model' contains the control character 0x7f at byte 5"}},
        {"c1", {"event refused: 'model' contains the control character U+0085 at byte 2"}},
        {"not-utf8", {"event refused: 'model' is not valid UTF-8 (byte 0xe9 at byte 5)"}},
        {"seconds",
         {"event refused: model 'm/seconds': 'ts_ms' ",
          " is before 2001-09-09 (the earliest accepted, 1000000000000): ts_ms counts milliseconds since the epoch, "
          "not seconds"}},
        {"future", {"event refused: model 'm/future': 'ts_ms' ", " is in the future (", "at most 300000 allowed)"}},
        // Two events, the last one's reason: "m/none" (0 requests) is refused as well.
        {"count", {"event refused: model 'm/huge': 'count' must be between 1 and 1000000 (it is 1000001)"}, 2},
    };
    for (const auto& one : kCases) {
        SCOPED_TRACE(one.bad);
        const ScriptedRun run = run_scripted_source(one.bad, one.refused);
        EXPECT_EQ(run.received, (std::vector<std::string>{"m/first", "m/last"}));
        EXPECT_EQ(run.health.events_accepted, 2u);
        EXPECT_EQ(run.health.events_refused, one.refused);
        EXPECT_EQ(run.health.bad_records, 0u);  // the source read it; the host refused it
        EXPECT_EQ(run.health.failed_polls, 0u);
        std::size_t at = 0;
        for (const std::string& part : one.reason_parts) {
            at = run.health.last_bad_record.find(part, at);
            ASSERT_NE(at, std::string::npos) << "'" << part << "' not in: " << run.health.last_bad_record;
        }
    }
}

TEST(SourceRunner, ABatchMixingGoodAndRefusedEventsLosesNoGoodOneAndKeepsPolling) {
    const ScriptedRun run = run_scripted_source("all", 10);
    EXPECT_EQ(run.received, (std::vector<std::string>{"m/first", "m/last"}));
    EXPECT_EQ(run.health.events_accepted, 2u);
    EXPECT_EQ(run.health.events_refused, 10u);
    EXPECT_EQ(run.health.failed_polls, 0u);
    EXPECT_FALSE(run.health.failing);
    EXPECT_NE(run.health.last_bad_record.find("model 'm/huge'"), std::string::npos) << run.health.last_bad_record;
}

}  // namespace
}  // namespace warmup::host
