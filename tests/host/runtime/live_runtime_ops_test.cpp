// The operations endpoints on an in-process LiveRuntime, driven over its HTTP API: emergency stop, reset to safe,
// backup and restore of learned state, reset of data collection, health, worker restart and the warm-up timeout.
// Waits are bounded polls of the runtime's state; nothing asserts on elapsed time.
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

TEST_F(OpsTest, EmergencyStopCancelsQueuedWarmupsKeepsLoadedModelsAndResetToSafeLeavesIt) {
    TempDir dir("warmup-ops");
    // A 10-minute keep-alive holds m/a in memory; reset-to-safe replaces it with the keep-alive default.
    Config config =
        load_config_text(config_text(1.0, 1, "", "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 600000}}"),
                         "ops.yaml", dir.path(), {});
    start(config);
    // m/a loads (5 ms) and stays ready; then slow/x takes the only worker for 60 s.
    ingest("m/a", runtime_->clock().now_ms());
    ASSERT_TRUE(poll_until([&] { return residency("m/a") == WARMUP_RESIDENCY_READY; }, 5s));
    ingest("slow/x", runtime_->clock().now_ms());
    ASSERT_TRUE(poll_until([&] { return residency("slow/x") == WARMUP_RESIDENCY_LOADING; }, 5s));
    // Two pre-warms queue behind it (restored warm set: the same path a restore-state takes).
    Snapshot warm_set;
    warm_set.models = {"m/a", "slow/x"};
    (void)model("m/b");
    (void)model("m/c");
    warm_set.models = {"m/a", "slow/x", "m/b", "m/c"};
    warm_set.warm_models = {"m/b", "m/c"};
    const OperationResult restored = runtime_->restore_state(warm_set);
    ASSERT_TRUE(restored.ok()) << restored.error;
    EXPECT_EQ(residency("m/b"), WARMUP_RESIDENCY_QUEUED);
    EXPECT_EQ(residency("m/c"), WARMUP_RESIDENCY_QUEUED);

    const auto [status, body] = post("/api/warmup/emergency-stop");
    ASSERT_EQ(status, 200) << body.dump();
    EXPECT_EQ(body["cancelled_warmups"], 2);
    EXPECT_EQ(body["loads_in_flight"], 1);  // slow/x keeps loading
    EXPECT_EQ(residency("m/b"), WARMUP_RESIDENCY_ABSENT);
    EXPECT_EQ(residency("m/a"), WARMUP_RESIDENCY_READY);  // loaded models are kept
    EXPECT_TRUE(runtime_->call_on_control([](WarmupEngine& engine) { return engine.stopped(); }));
    // While stopped, a restored warm set queues nothing.
    EXPECT_EQ(runtime_->restore_state(warm_set).facts.back().second, 0);  // prewarms_queued

    const auto [safe_status, safe] = post("/api/warmup/reset-to-safe");
    ASSERT_EQ(safe_status, 200) << safe.dump();
    EXPECT_EQ(safe["memory_budget_mb"], 5000);
    EXPECT_TRUE(runtime_->safe_mode());
    const auto [predictor_params, budget_mb, stopped] = runtime_->call_on_control([&](WarmupEngine& engine) {
        return std::tuple{runtime_->plugins().components()[ComponentSlot::Predictor].params_yaml, engine.budget_mb(),
                          engine.stopped()};
    });
    EXPECT_EQ(predictor_params, "");  // the keep-alive predictor with its default TTL
    EXPECT_EQ(budget_mb, 5000);
    EXPECT_FALSE(stopped);
    // Twice is the same as once: the budget is not halved again.
    EXPECT_EQ(post("/api/warmup/reset-to-safe").first, 200);
    EXPECT_EQ(runtime_->call_on_control([](WarmupEngine& engine) { return engine.budget_mb(); }), 5000);

    // A normal reload leaves the safe configuration.
    ASSERT_TRUE(runtime_->reload(config).ok);
    EXPECT_FALSE(runtime_->safe_mode());
    EXPECT_EQ(runtime_->call_on_control([&](WarmupEngine&) {
        return runtime_->plugins().components()[ComponentSlot::Predictor].params_yaml;
    }),
              "ttl_ms: 600000");
}

TEST_F(OpsTest, BackupRestoreAndResetDataCollectionRoundTripTheLearnedPatterns) {
    TempDir dir("warmup-ops");
    start(load_config_text(config_text(0, 2, "state: {dir: state, snapshot_interval_s: 3600}\n"), "ops.yaml",
                           dir.path(), {}));
    learn_rhythm("m/a");
    const double learned = confidence("m/a");
    EXPECT_DOUBLE_EQ(learned, 19.0 / (19.0 + 10.0));  // idle-histogram: gaps / (gaps + confidence_samples 10)

    const auto [backup_status, backup] = post("/api/warmup/backup-state", R"({"name": "b1"})");
    ASSERT_EQ(backup_status, 200) << backup.dump();
    EXPECT_TRUE(fs::exists(dir.path() / "state" / "backup-b1.wsnap"));
    EXPECT_GE(backup["sections"].get<int>(), 3);  // analyzer, performance model, metrics
    EXPECT_EQ(post("/api/warmup/backup-state", R"({"name": "../x"})").first, 400);
    EXPECT_EQ(post("/api/warmup/backup-state", "[1]").first, 400);

    const auto [reset_status, reset] = post("/api/warmup/reset-data-collection");
    ASSERT_EQ(reset_status, 200) << reset.dump();
    EXPECT_EQ(reset["analyzers_reset"], 1);
    EXPECT_EQ(confidence("m/a"), 0);  // nothing learned any more

    const auto [restore_status, restore] = post("/api/warmup/restore-state");  // newest backup: b1
    ASSERT_EQ(restore_status, 200) << restore.dump();
    EXPECT_EQ(restore["file"], (dir.path() / "state" / "backup-b1.wsnap").string());
    EXPECT_EQ(restore["sections_restored"], restore["sections_in_snapshot"]);
    EXPECT_DOUBLE_EQ(confidence("m/a"), learned);
    EXPECT_EQ(post("/api/warmup/restore-state", R"({"name": "missing"})").first, 404);
}

TEST_F(OpsTest, RestoreRefusesASnapshotWhoseModelIndexesDisagree) {
    TempDir dir("warmup-ops");
    start(load_config_text(config_text(0, 2), "ops.yaml", dir.path(), {}));
    learn_rhythm("m/a");
    const Snapshot taken = runtime_->capture_state();
    Snapshot swapped = taken;
    swapped.models = {"m/other"};  // index 0 is m/a here
    const OperationResult refused = runtime_->restore_state(swapped);
    EXPECT_EQ(refused.http_status, 409);
    EXPECT_NE(refused.error.find("model index 0 is 'm/other' in the snapshot but 'm/a' here"), std::string::npos)
        << refused.error;
    EXPECT_GT(confidence("m/a"), 0);  // untouched
}

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

}  // namespace
}  // namespace warmup::host
