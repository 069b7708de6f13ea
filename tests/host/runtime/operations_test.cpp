// Emergency stop and reset to safe (host/runtime/operations.cpp; reset to safe applies its configuration through
// reload.cpp, whose own tests are in reload_test.cpp) on an in-process LiveRuntime, driven over its HTTP
// API. Waits are bounded polls of the runtime's state; nothing asserts on elapsed time.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "live_runtime_test_fixture.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using test::config_text;
using test::keep_alive_predictor;
using test::metric_value;
using test::OpsTest;
using test::TransitionsTest;
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
    EXPECT_EQ(body.dump().find("already in force"), std::string::npos) << body.dump();
    // While stopped, a restored warm set queues nothing.
    const OperationResult while_stopped = runtime_->restore_state(warm_set);
    const auto queued = std::find_if(while_stopped.facts.begin(), while_stopped.facts.end(),
                                     [](const auto& fact) { return fact.first == "prewarms_queued"; });
    ASSERT_NE(queued, while_stopped.facts.end());
    EXPECT_EQ(queued->second, 0);
    // A second stop says the first one is in force.
    const auto [again_status, again] = post("/api/warmup/emergency-stop");
    ASSERT_EQ(again_status, 200) << again.dump();
    EXPECT_NE(again.dump().find("an emergency stop was already in force"), std::string::npos) << again.dump();

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

TEST_F(TransitionsTest, SnapshotsInSafeModeKeepTheConfiguredPredictorsStateForTheRestart) {
    // The safe keep-alive has no state; a restart runs the configured predictor again. A snapshot taken in safe mode
    // keeps that predictor's state as it was when the safe configuration took over, so the restart goes on with it.
    const Config configured = config("{plugin: org.warmup.predictor.cost-curve}",
                                     "state: {dir: state, snapshot_interval_s: 3600, journal: false}\n");
    start(configured);
    learn_rhythm("m/a");
    const auto predictor_section = [&] {
        const Snapshot snapshot = runtime_->capture_state();
        for (const SnapshotSection& section : snapshot.sections)
            if (section.slot == "predictor") return std::optional<SnapshotSection>(section);
        return std::optional<SnapshotSection>();
    };
    const auto learned = predictor_section();
    ASSERT_TRUE(learned.has_value());
    ASSERT_EQ(post("/api/warmup/reset-to-safe").first, 200);
    const auto in_safe_mode = predictor_section();
    ASSERT_TRUE(in_safe_mode.has_value()) << "the snapshot lost the configured predictor's state";
    EXPECT_EQ(in_safe_mode->schema, learned->schema);
    EXPECT_EQ(in_safe_mode->data, learned->data);
    // Back into safe mode by a rollback (a reload left it): the same.
    ASSERT_TRUE(runtime_->reload(configured).ok);
    ASSERT_EQ(post("/api/warmup/config/rollback").first, 200);
    ASSERT_TRUE(get_json("/api/warmup/status").second["safe_mode"].get<bool>());
    const auto rolled_back_into_safe_mode = predictor_section();
    ASSERT_TRUE(rolled_back_into_safe_mode.has_value()) << "a rollback into safe mode lost the predictor's state";
    EXPECT_EQ(rolled_back_into_safe_mode->data, learned->data);

    stop();  // the last snapshot is taken in safe mode
    start(configured);
    const auto restarted = predictor_section();
    ASSERT_TRUE(restarted.has_value());
    EXPECT_EQ(restarted->data, learned->data) << "the restart did not go on with what the predictor had learned";
}

TEST_F(TransitionsTest, ResetToSafeEvictsDownToTheHalvedBudgetAtOnceLeastRecentlyUsedFirst) {
    start(config(keep_alive_predictor(3'600'000)));
    // 60 models of 100 MiB: 6000 MiB of the 10000 MiB budget.
    for (int i = 0; i < 60; ++i) ingest("m/" + std::to_string(i), runtime_->clock().now_ms());
    ASSERT_TRUE(poll_until([&] { return counters().loads_succeeded == 60; }, 10s));
    // Use m/10..m/59 again, so m/0..m/9 are the least recently used.
    for (int i = 10; i < 60; ++i) ingest("m/" + std::to_string(i), runtime_->clock().now_ms());
    ASSERT_TRUE(poll_until([&] { return counters().warm_requests == 50; }, 5s));

    const auto [status, safe] = post("/api/warmup/reset-to-safe");  // halves the budget: 5000 MiB
    ASSERT_EQ(status, 200) << safe.dump();
    // The evicted models' memory stays charged until their unloads are over (the server still holds them).
    const auto memory = [&] {
        return runtime_->call_on_control([](WarmupEngine& engine) {
            return std::tuple{engine.used_mb(), engine.unloading_mb(), engine.budget_mb()};
        });
    };
    const auto [used_mb, unloading_mb, budget_mb] = memory();
    EXPECT_DOUBLE_EQ(budget_mb, 5000);
    EXPECT_DOUBLE_EQ(used_mb - unloading_mb, 5000);
    ASSERT_TRUE(poll_until([&] { return std::get<1>(memory()) == 0; }, 5s));
    EXPECT_DOUBLE_EQ(std::get<0>(memory()), 5000);
    EXPECT_EQ(counters().evictions, 10u);
    for (int i = 0; i < 60; ++i)
        EXPECT_EQ(residency("m/" + std::to_string(i)), i < 10 ? WARMUP_RESIDENCY_ABSENT : WARMUP_RESIDENCY_READY)
            << "m/" << i;
    const std::string metrics = get_text("/metrics");
    EXPECT_EQ(metric_value(metrics, R"(warmup_evictions_total{arm="control"})"), 10.0) << metrics;
}

TEST_F(TransitionsTest, ARollbackIntoTheSafeConfigurationIsSafeModeAgainAndResetToSafeDoesNotHalveItTwice) {
    const fs::path file = dir_.write("safe.yaml", config_text(0, 2, "", keep_alive_predictor(600'000)));
    start(load_config_file(file, {}));
    const auto status = [&] { return get_json("/api/warmup/status").second; };

    const auto [safe_status, safe] = post("/api/warmup/reset-to-safe");
    ASSERT_EQ(safe_status, 200) << safe.dump();
    EXPECT_EQ(safe["memory_budget_mb"], 5000);
    EXPECT_EQ(status()["safe_mode"], true);
    const fs::path backup = dir_.path() / "state" / "backup-before-reset-to-safe.wsnap";
    const std::string backed_up = warmup::test::read_text_file(backup);
    ASSERT_FALSE(backed_up.empty());

    // A reload leaves the safe configuration; the rollback goes back to it, and to safe mode with it.
    const auto [reload_status, reloaded] = post("/api/warmup/config/reload");
    ASSERT_EQ(reload_status, 200) << reloaded.dump();
    EXPECT_EQ(status()["safe_mode"], false);
    EXPECT_EQ(status()["budget_mb"], 10000);
    const auto [rollback_status, rolled_back] = post("/api/warmup/config/rollback");
    ASSERT_EQ(rollback_status, 200) << rolled_back.dump();
    EXPECT_EQ(status()["safe_mode"], true) << rolled_back.dump();
    EXPECT_EQ(status()["budget_mb"], 5000);
    EXPECT_NE(rolled_back["notes"].dump().find("back on the safe configuration"), std::string::npos)
        << rolled_back.dump();
    const json engine = test::health_component(get_json("/api/warmup/health/components").second, "engine");
    EXPECT_EQ(engine["state"], "degraded") << engine.dump();

    // The safe configuration runs: reset-to-safe only leaves emergency mode, the backup of the state before it stays.
    const auto [again_status, again] = post("/api/warmup/reset-to-safe");
    ASSERT_EQ(again_status, 200) << again.dump();
    EXPECT_EQ(status()["budget_mb"], 5000);
    EXPECT_EQ(runtime_->call_on_control([](WarmupEngine& engine) { return engine.budget_mb(); }), 5000);
    EXPECT_EQ(warmup::test::read_text_file(backup), backed_up);
}

TEST_F(TransitionsTest, ResetsToSafeSentAtOnceHalveTheBudgetOnce) {
    // Before, each of several resets sent together found the daemon out of safe mode and halved the budget again
    // (5 at once: 1/32 of it), and a rollback undid one halving.
    start(config(keep_alive_predictor(600'000)));
    std::vector<std::thread> operators;
    std::vector<int> statuses(5, 0);
    for (std::size_t i = 0; i < statuses.size(); ++i)
        operators.emplace_back([&, i] {
            httplib::Client client("127.0.0.1", port());
            client.set_read_timeout(30s);
            const auto answer = client.Post("/api/warmup/reset-to-safe");
            statuses[i] = answer ? answer->status : 0;
        });
    for (auto& thread : operators) thread.join();
    EXPECT_EQ(statuses, std::vector<int>(5, 200));
    EXPECT_EQ(get_json("/api/warmup/status").second["budget_mb"], 5000);
    EXPECT_EQ(runtime_->call_on_control([](WarmupEngine& engine) { return engine.budget_mb(); }), 5000);
    // One rollback leaves the safe configuration, back to the whole budget.
    const auto [rollback_status, rolled_back] = post("/api/warmup/config/rollback");
    ASSERT_EQ(rollback_status, 200) << rolled_back.dump();
    EXPECT_EQ(get_json("/api/warmup/status").second["budget_mb"], 10000);
}

/// The notes of an answer as one text.
std::string notes_of(const json& answer) { return answer.value("notes", json::array()).dump(); }

TEST_F(TransitionsTest, ResetToSafeFromAFileSaysTheNextReloadOrRollbackLeavesIt) {
    const fs::path file = dir_.write("safe.yaml", config_text(0, 2, "", keep_alive_predictor(600'000)));
    start(load_config_file(file, {}));
    const auto [status, safe] = post("/api/warmup/reset-to-safe");
    ASSERT_EQ(status, 200) << safe.dump();
    EXPECT_NE(
        notes_of(safe).find("the next POST /api/warmup/config/reload (or rollback) leaves the safe configuration"),
        std::string::npos)
        << safe.dump();
}

TEST_F(TransitionsTest, ResetToSafeWithoutAFileNamesRollbackAndRestartNotReloadAsTheWaysOut) {
    // No configuration file (as with the embedded default): a reload has nothing to read.
    start(config(keep_alive_predictor(600'000)));
    const auto [status, safe] = post("/api/warmup/reset-to-safe");
    ASSERT_EQ(status, 200) << safe.dump();
    const std::string notes = notes_of(safe);
    EXPECT_EQ(notes.find("config/reload"), std::string::npos) << notes;
    // No state folder: the answer says no backup was taken (it named one only when it was).
    EXPECT_NE(notes.find("no backup of the learned state was taken: state keeping is off"), std::string::npos) << notes;
    EXPECT_NE(notes.find("POST /api/warmup/config/rollback leaves the safe configuration"), std::string::npos) << notes;
    EXPECT_NE(notes.find("a restart"), std::string::npos) << notes;
    // What the note says holds: reload is refused, rollback leaves the safe configuration.
    EXPECT_EQ(post("/api/warmup/config/reload").first, 409);
    EXPECT_TRUE(runtime_->safe_mode());
    const auto [rollback_status, rolled_back] = post("/api/warmup/config/rollback");
    ASSERT_EQ(rollback_status, 200) << rolled_back.dump();
    EXPECT_FALSE(runtime_->safe_mode());
    EXPECT_EQ(get_json("/api/warmup/status").second["budget_mb"], 10000);
}

TEST_F(TransitionsTest, ARollbackOutOfTheSafeConfigurationLeavesSafeMode) {
    const fs::path file = dir_.write("safe.yaml", config_text(0, 2, "", keep_alive_predictor(600'000)));
    start(load_config_file(file, {}));
    ASSERT_EQ(post("/api/warmup/reset-to-safe").first, 200);
    ASSERT_TRUE(runtime_->safe_mode());
    const auto [status, rolled_back] = post("/api/warmup/config/rollback");
    ASSERT_EQ(status, 200) << rolled_back.dump();
    EXPECT_FALSE(runtime_->safe_mode());
    EXPECT_EQ(get_json("/api/warmup/status").second["budget_mb"], 10000);
}

}  // namespace
}  // namespace warmup::host
