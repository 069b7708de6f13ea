// The load workers (host/runtime/load_workers.cpp) on an in-process LiveRuntime: a warm-up that outlives its timeout
// is cancelled and counted and the workers restart; a load that finishes late is unloaded unless a newer load of the
// model has started; a slow backend listing delays no load. Waits are bounded polls; nothing asserts on elapsed time.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "live_runtime_test_fixture.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using test::config_text;
using test::OpsTest;
using warmup::test::poll_until;
using warmup::test::TempDir;

TEST_F(OpsTest, AWarmupOutlivingItsTimeoutIsCancelledCountedAndWorkersRestart) {
    TempDir dir("warmup-ops");
    Config config = load_config_text(config_text(1.0, 1), "ops.yaml", dir.path(), {});
    config.warmup_timeout_ms = 300;  // below the YAML minimum, to keep the test short
    start(config);
    const auto [healthy_status, healthy] = [&] {
        const auto result = client_->Get("/api/warmup/health/components");
        return std::pair{result ? result->status : 0, json::parse(result ? result->body : "", nullptr, false)};
    }();
    ASSERT_EQ(healthy_status, 200);
    EXPECT_EQ(healthy["status"], "ok");
    EXPECT_EQ(healthy["components"].size(), 11u);  // 8 slots + workers + engine + state

    ingest("slow/x", runtime_->clock().now_ms());  // 60 s load, cancelled after 300 ms
    EngineCounters counters{};
    ASSERT_TRUE(poll_until(
        [&] {
            counters = runtime_->call_on_control([](WarmupEngine& engine) { return engine.counters(); });
            return counters.loads_failed >= 1;
        },
        5s));
    EXPECT_EQ(residency("slow/x"), WARMUP_RESIDENCY_ABSENT);  // max_attempts 1: given up

    const auto health = client_->Get("/api/warmup/health/components");
    ASSERT_TRUE(health);
    const json body = json::parse(health->body);
    EXPECT_EQ(body["status"], "degraded");
    json workers;
    for (const auto& component : body["components"])
        if (component["component"] == "workers") workers = component;
    EXPECT_EQ(workers["state"], "degraded");
    EXPECT_EQ(workers["errors"], 1);

    const auto [restart_status, restart] = post("/api/warmup/queue/restart-workers");
    ASSERT_EQ(restart_status, 200) << restart.dump();
    EXPECT_EQ(restart["worker_restarts"], 1);
    EXPECT_EQ(restart["timed_out_loads"], 1);
    EXPECT_EQ(restart["workers"], 1);
    // The new workers load models.
    ingest("m/a", runtime_->clock().now_ms());
    EXPECT_TRUE(poll_until(
        [&] {
            return runtime_->call_on_control([](WarmupEngine& engine) { return engine.counters().loads_succeeded; }) ==
                   1;
        },
        5s));
}

/// The ops configuration with the stubborn test backend (loads ignore the cancel token; unloads logged to a file).
std::string stubborn_config_text(const std::string& backend_params, int workers = 1) {
    std::string yaml = config_text(1.0, workers);
    const std::string sim_backend = "{plugin: org.warmup.backend.sim, params: {time_scale: 1.000000}}";
    yaml.replace(yaml.find(sim_backend), sim_backend.size(),
                 "{plugin: org.warmup.test.stubborn-backend, params: " + backend_params + "}");
    yaml.replace(yaml.find("plugin_dirs: ["), std::string("plugin_dirs: [").size(),
                 std::string("plugin_dirs: [\"") + WARMUP_TEST_BAD_PLUGIN_DIR + "\", ");
    return yaml;
}

std::string file_text(const fs::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST_F(OpsTest, ALoadThatFinishesAfterItsTimeoutIsUnloadedAtOnce) {
    // The backend ignores the cancel token and reports success 600 ms after a load starts, past the 200 ms timeout:
    // the engine already counted the load failed and freed its memory, so the host must unload it again.
    TempDir dir("warmup-ops");
    const fs::path unload_log = dir.path() / "unloads.txt";
    Config config =
        load_config_text(stubborn_config_text("{load_ms: 600, unload_log: \"" + unload_log.string() + "\"}"),
                         "ops.yaml", dir.path(), {});
    config.warmup_timeout_ms = 200;  // below the YAML minimum, to keep the test short
    start(config);

    ingest("m/late", runtime_->clock().now_ms());
    ASSERT_TRUE(poll_until([&] { return file_text(unload_log) == "m/late\n"; }, 10s))
        << "unload log: '" << file_text(unload_log) << "'";
    const EngineCounters counters = runtime_->call_on_control([](WarmupEngine& engine) { return engine.counters(); });
    EXPECT_EQ(counters.loads_failed, 1u);
    EXPECT_EQ(counters.loads_succeeded, 0u);
    EXPECT_EQ(residency("m/late"), WARMUP_RESIDENCY_ABSENT);
}

TEST_F(OpsTest, ALoadWaitingForAWorkerDoesNotTimeOutBeforeItStarts) {
    // Two acting arms share one worker. The first load holds it for 600 ms (the backend ignores the cancel token)
    // against a 300 ms timeout; the loads queued behind it have not been asked of the backend yet, so their timeout
    // has not started: they must load once the worker is free, not be counted failed while they wait.
    TempDir dir("warmup-ops");
    std::string yaml = stubborn_config_text("{load_ms: 600, slow_loads: 1}");
    yaml +=
        "experiment: {enabled: true, split: model, control_weight: 1}\n"
        "arms:\n  - {name: b, components: {predictor: {plugin: org.warmup.predictor.keep-alive}}}\n";
    Config config = load_config_text(yaml, "ops.yaml", dir.path(), {});
    config.warmup_timeout_ms = 300;  // below the YAML minimum, to keep the test short
    start(config);
    constexpr int kModels = 8;
    for (int i = 0; i < kModels; ++i) ingest("m/" + std::to_string(i), runtime_->clock().now_ms());
    const auto totals = [&] {
        return runtime_->call_on_control([&](WarmupEngine&) {
            std::pair<uint64_t, uint64_t> succeeded_failed{0, 0};
            for (const auto& arm : runtime_->arms()) {
                succeeded_failed.first += arm->engine->counters().loads_succeeded;
                succeeded_failed.second += arm->engine->counters().loads_failed;
            }
            return succeeded_failed;
        });
    };
    ASSERT_TRUE(poll_until([&] { return totals().first + totals().second >= kModels; }, 10s));
    EXPECT_EQ(totals().second, 1u) << "only the load that held the worker past its timeout failed";
    EXPECT_EQ(totals().first, static_cast<uint64_t>(kModels - 1));
}

TEST_F(OpsTest, RetiredWorkerPoolsAreDroppedOnceNothingRunsOnThem) {
    // restart-workers keeps the old pool while a stuck call may still run on it; an idle one goes (with its threads)
    // at the next control-loop step, however often an automation restarts the workers.
    TempDir dir("warmup-ops");
    start(load_config_text(config_text(1.0, 1), "ops.yaml", dir.path(), {}));
    for (int i = 0; i < 3; ++i) ASSERT_EQ(post("/api/warmup/queue/restart-workers").first, 200);
    EXPECT_TRUE(poll_until(
        [&] { return runtime_->call_on_control([&](WarmupEngine&) { return runtime_->retired_worker_pools(); }) == 0; },
        5s));
    // The pool in use still loads.
    ingest("m/a", runtime_->clock().now_ms());
    EXPECT_TRUE(poll_until([&] { return residency("m/a") == WARMUP_RESIDENCY_READY; }, 5s));
}

TEST_F(OpsTest, ALateLoadIsNotUnloadedWhenANewerLoadOfTheModelHasStarted) {
    // Load 1 takes 1500 ms against a 200 ms timeout; once it is counted failed, a new request starts load 2 (instant,
    // on the second worker). When load 1 finally succeeds, load 2 is the one the engine counts on: no unload may be
    // sent, and the model stays ready.
    TempDir dir("warmup-ops");
    const fs::path unload_log = dir.path() / "unloads.txt";
    const fs::path load_log = dir.path() / "loads.txt";
    const std::string backend_params = "{load_ms: 1500, slow_loads: 1, unload_log: \"" + unload_log.string() +
                                       "\", load_log: \"" + load_log.string() + "\"}";
    Config config = load_config_text(stubborn_config_text(backend_params, 2), "ops.yaml", dir.path(), {});
    config.warmup_timeout_ms = 200;
    start(config);

    ingest("m/late", runtime_->clock().now_ms());
    ASSERT_TRUE(poll_until(
        [&] {
            return runtime_->call_on_control([](WarmupEngine& engine) { return engine.counters().loads_failed; }) == 1;
        },
        5s));
    ingest("m/late", runtime_->clock().now_ms());  // load 1 is still running (it ends 1500 ms after it started)
    ASSERT_TRUE(poll_until([&] { return residency("m/late") == WARMUP_RESIDENCY_READY; }, 10s));
    EXPECT_EQ(runtime_->call_on_control([](WarmupEngine& engine) { return engine.counters().loads_succeeded; }), 1u);
    // Load 1 returns about 1.3 s later; stopping the runtime waits for its worker, so its decision has been made.
    ASSERT_TRUE(poll_until([&] { return file_text(load_log) == "m/late\nm/late\n"; }, 10s)) << file_text(load_log);
    api_->stop();
    runtime_->stop();
    EXPECT_EQ(file_text(unload_log), "") << "the late load must not unload the model the newer load brought in";
}

TEST_F(OpsTest, ALoadDoesNotWaitForASlowBackendListing) {
    // One warm-up worker. The server is slow to list what it holds: the listing the runtime asks for at start (for
    // reconciliation) answers only once a load has returned, or after 20 s. A load requested meanwhile must not wait
    // for the listing to free a worker. Both logs go to one file, so its order shows the load returned while the
    // listing still ran.
    TempDir dir("warmup-ops");
    const fs::path backend_log = dir.path() / "backend.txt";
    const std::string backend_params = "{slow_loads: 0, load_log: \"" + backend_log.string() + "\", list_log: \"" +
                                       backend_log.string() + "\", list_waits_for_load_ms: 20000}";
    start(load_config_text(stubborn_config_text(backend_params, 1), "ops.yaml", dir.path(), {}));
    ASSERT_TRUE(poll_until([&] { return file_text(backend_log) == "listing\n"; }, 10s)) << file_text(backend_log);

    ingest("m/a", runtime_->clock().now_ms());
    EXPECT_TRUE(poll_until([&] { return residency("m/a") == WARMUP_RESIDENCY_READY; }, 10s))
        << "the load waited for the listing";
    EXPECT_TRUE(poll_until([&] { return file_text(backend_log) == "listing\nm/a\nlisted\n"; }, 10s))
        << file_text(backend_log);
}

}  // namespace
}  // namespace warmup::host
