// Transitions of an in-process LiveRuntime that change what is in force without any event: a hot-swapped predictor,
// a rollback, leaving emergency mode, a smaller budget, a restart or a restore of state. Each must act at once:
// fresh plans for every model, evictions down to the new budget, state that reads back with the same counters,
// corrupt files skipped and reported.
//
// Waits are bounded polls of the runtime's state; nothing asserts on elapsed time.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "live_runtime_test_fixture.hpp"

namespace warmup::host {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::config_text;
using test::OpsTest;
using warmup::test::poll_until;
using warmup::test::TempDir;
namespace fs = std::filesystem;

std::string keep_alive(warmup_time_ms ttl_ms) {
    return "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: " + std::to_string(ttl_ms) + "}}";
}

/// The value of the Prometheus sample line "<series> <value>", or nullopt.
std::optional<double> metric_value(const std::string& text, const std::string& series) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    return std::nullopt;
}

/// The component `name` of a /api/warmup/health/components answer.
json component(const json& health, const std::string& name) {
    for (const auto& entry : health["components"])
        if (entry["component"] == name) return entry;
    return nullptr;
}

class LiveTransitionsTest : public OpsTest {
  protected:
    Config config(const std::string& predictor, const std::string& extra = "") {
        return load_config_text(config_text(0, 2, extra, predictor), "transitions.yaml", dir_.path(), {});
    }
    /// A request of `name` now; returns its timestamp once the model is ready.
    warmup_time_ms use_and_wait_ready(const std::string& name) {
        const warmup_time_ms ts_ms = runtime_->clock().now_ms();
        ingest(name, ts_ms);
        EXPECT_TRUE(poll_until([&] { return residency(name) == WARMUP_RESIDENCY_READY; }, 5s)) << name;
        return ts_ms;
    }
    TempDir dir_{"warmup-transitions"};
};

// ---------------------------------------------------------------------------------------------------------------------
// Fresh plans after a swap, a rollback and emergency mode

TEST_F(LiveTransitionsTest, APredictorSwapARollbackAndResetToSafeReplanLoadedModelsAtOnce) {
    start(config(keep_alive(600'000)));
    const warmup_time_ms used_ms = use_and_wait_ready("m/a");
    ASSERT_EQ(status_of("m/a").unload_at_ms, used_ms + 600'000);

    // A shorter keep-alive: the loaded model's unload moves at once, not at its next request.
    const ReloadResult swapped = runtime_->reload(config(keep_alive(3'600'000)));
    ASSERT_TRUE(swapped.ok) << swapped.error;
    ASSERT_EQ(swapped.changes.size(), 1u);
    EXPECT_EQ(status_of("m/a").unload_at_ms, used_ms + 3'600'000);

    const ReloadResult rolled_back = runtime_->rollback();
    ASSERT_TRUE(rolled_back.ok) << rolled_back.error;
    EXPECT_EQ(status_of("m/a").unload_at_ms, used_ms + 600'000);

    // Emergency stop, then the safe configuration: the keep-alive predictor with its default TTL (5 minutes).
    ASSERT_EQ(post("/api/warmup/emergency-stop").first, 200);
    const auto [safe_status, safe] = post("/api/warmup/reset-to-safe");
    ASSERT_EQ(safe_status, 200) << safe.dump();
    EXPECT_EQ(status_of("m/a").unload_at_ms, used_ms + 300'000);
}

TEST_F(LiveTransitionsTest, PlannedPrewarmsComeBackWhenAReloadLeavesTheSafeConfiguration) {
    // big/* (8 GiB, 10 s loads): a cold start costs the idle-histogram predictor ~100 s of idle memory, less than
    // holding the model through a 30-minute gap but more than a one-bin pre-warm window.
    const Config learning =
        config(test::kLearningPredictor, "  - {model: \"big/*\", memory_mb: 8192, load_ms: 10000}\n");
    start(learning);
    // big/a was used every 30 minutes, the last time 10 minutes ago (history): a pre-warm is planned ~20 minutes ahead.
    const warmup_time_ms last_ms = runtime_->clock().now_ms() - 600'000;
    for (int i = 19; i >= 0; --i) ingest("big/a", last_ms - i * 1'800'000);
    drain();
    const warmup_time_ms planned = status_of("big/a").warm_start_at_ms;
    ASSERT_NE(planned, WARMUP_TIME_NEVER) << "history plans a pre-warm";
    ASSERT_GT(planned, runtime_->clock().now_ms() + 600'000);
    ASSERT_LT(planned, last_ms + 1'800'000);

    ASSERT_EQ(post("/api/warmup/emergency-stop").first, 200);
    EXPECT_EQ(status_of("big/a").warm_start_at_ms, WARMUP_TIME_NEVER);  // cancelled
    ASSERT_EQ(post("/api/warmup/reset-to-safe").first, 200);
    EXPECT_EQ(status_of("big/a").warm_start_at_ms, WARMUP_TIME_NEVER);  // keep-alive never pre-warms

    // Back to the learning predictor: the pre-warm is planned again at once (the pattern did not change).
    const ReloadResult back = runtime_->reload(learning);
    ASSERT_TRUE(back.ok) << back.error;
    EXPECT_EQ(status_of("big/a").warm_start_at_ms, planned);
}

// ---------------------------------------------------------------------------------------------------------------------
// A smaller budget is enforced at once

TEST_F(LiveTransitionsTest, ResetToSafeEvictsDownToTheHalvedBudgetAtOnceLeastRecentlyUsedFirst) {
    start(config(keep_alive(3'600'000)));
    // 60 models of 100 MiB: 6000 MiB of the 10000 MiB budget.
    for (int i = 0; i < 60; ++i) ingest("m/" + std::to_string(i), runtime_->clock().now_ms());
    ASSERT_TRUE(poll_until([&] { return counters().loads_succeeded == 60; }, 10s));
    // Use m/10..m/59 again, so m/0..m/9 are the least recently used.
    for (int i = 10; i < 60; ++i) ingest("m/" + std::to_string(i), runtime_->clock().now_ms());
    ASSERT_TRUE(poll_until([&] { return counters().warm_requests == 50; }, 5s));

    const auto [status, safe] = post("/api/warmup/reset-to-safe");  // halves the budget: 5000 MiB
    ASSERT_EQ(status, 200) << safe.dump();
    const auto [used_mb, budget_mb] = runtime_->call_on_control([](WarmupEngine& engine) {
        return std::pair{engine.used_mb(), engine.budget_mb()};
    });
    EXPECT_DOUBLE_EQ(budget_mb, 5000);
    EXPECT_DOUBLE_EQ(used_mb, 5000);
    EXPECT_EQ(counters().evictions, 10u);
    for (int i = 0; i < 60; ++i)
        EXPECT_EQ(residency("m/" + std::to_string(i)), i < 10 ? WARMUP_RESIDENCY_ABSENT : WARMUP_RESIDENCY_READY)
            << "m/" << i;
    const std::string metrics = get_text("/metrics");
    EXPECT_EQ(metric_value(metrics, R"(warmup_evictions_total{arm="control"})"), 10.0) << metrics;
}

TEST_F(LiveTransitionsTest, AReloadWithASmallerBudgetEvictsReadyModelsButNeverALoadingOne) {
    // time_scale 1: m/* load in 5 ms, slow/* in 60 s (cancelled when the test stops the runtime).
    const Config running =
        load_config_text(config_text(1.0, 2, "", keep_alive(3'600'000)), "budget.yaml", dir_.path(), {});
    start(running);
    for (int i = 0; i < 5; ++i) use_and_wait_ready("m/" + std::to_string(i));  // 500 MiB ready, m/0 least recent
    ingest("slow/x", runtime_->clock().now_ms());
    ASSERT_TRUE(poll_until([&] { return residency("slow/x") == WARMUP_RESIDENCY_LOADING; }, 5s));

    Config smaller = running;
    smaller.memory_budget.absolute_mb = 250;  // 600 MiB charged: 500 ready + 100 loading
    const ReloadResult reloaded = runtime_->reload(smaller);
    ASSERT_TRUE(reloaded.ok) << reloaded.error;
    EXPECT_EQ(reload_json(reloaded)["status"], "reloaded");
    // Four ready models go (m/0..m/3, least recently used first): 100 ready + 100 loading = 200 <= 250.
    EXPECT_EQ(counters().evictions, 4u);
    EXPECT_DOUBLE_EQ(runtime_->call_on_control([](WarmupEngine& engine) { return engine.used_mb(); }), 200);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(residency("m/" + std::to_string(i)), WARMUP_RESIDENCY_ABSENT) << i;
    EXPECT_EQ(residency("m/4"), WARMUP_RESIDENCY_READY);
    EXPECT_EQ(residency("slow/x"), WARMUP_RESIDENCY_LOADING);
}

// ---------------------------------------------------------------------------------------------------------------------
// Durable state: restart, corrupt files

TEST_F(LiveTransitionsTest, StatusAndMetricsCountersAgreeAfterARestart) {
    const Config with_state = config(keep_alive(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n");
    start(with_state);
    use_and_wait_ready("m/a");
    use_and_wait_ready("m/b");
    ingest("m/a", runtime_->clock().now_ms());  // a warm hit
    ASSERT_TRUE(poll_until([&] { return counters().warm_requests == 1; }, 5s));
    stop();  // a clean stop writes a last snapshot

    start(with_state);
    const auto [status_code, status] = get_json("/api/warmup/status");
    ASSERT_EQ(status_code, 200);
    const json& counted = status["counters"];
    EXPECT_EQ(counted["requests"], 3) << counted.dump();
    EXPECT_EQ(counted["cold_requests"], 2);
    EXPECT_EQ(counted["warm_requests"], 1);
    EXPECT_EQ(counted["demand_loads"], 2);
    EXPECT_EQ(counted["events_accepted"], 3);
    const std::string metrics = get_text("/metrics");
    EXPECT_EQ(metric_value(metrics, R"(warmup_requests_total{arm="control",result="cold"})"), 2.0) << metrics;
    EXPECT_EQ(metric_value(metrics, R"(warmup_requests_total{arm="control",result="warm"})"), 1.0) << metrics;
    EXPECT_EQ(metric_value(metrics, R"(warmup_warmups_started_total{arm="control"})"),
              counted["demand_loads"].get<double>() + counted["prewarms_started"].get<double>());
}

TEST_F(LiveTransitionsTest, AStartThatSkippedACorruptSnapshotShowsStateDegradedWithTheReason) {
    const Config with_state = config(keep_alive(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n");
    start(with_state);
    use_and_wait_ready("m/a");
    ASSERT_EQ(post("/api/warmup/backup-state", R"({"name": "good"})").first, 200);
    stop();  // writes the newest snapshot
    const auto snapshots = StateStore(dir_.path() / "state", 10).snapshots();
    ASSERT_FALSE(snapshots.empty());
    std::ofstream(snapshots.front(), std::ios::binary | std::ios::trunc) << "torn";

    start(with_state);
    auto [code, health] = get_json("/api/warmup/health/components");
    ASSERT_EQ(code, 200);
    EXPECT_EQ(health["status"], "degraded") << health.dump();
    const json state = component(health, "state");
    EXPECT_EQ(state["state"], "degraded") << health.dump();
    ASSERT_TRUE(state["reason"].is_string()) << health.dump();
    const std::string reason = state["reason"];
    EXPECT_NE(reason.find(snapshots.front().filename().string()), std::string::npos) << reason;
    EXPECT_NE(reason.find("skipped"), std::string::npos) << reason;

    // An operator's restore puts a chosen state in force: the state component is healthy again.
    ASSERT_EQ(post("/api/warmup/restore-state", R"({"name": "good"})").first, 200);
    std::tie(code, health) = get_json("/api/warmup/health/components");
    EXPECT_EQ(component(health, "state")["state"], "ok") << health.dump();
}

TEST_F(LiveTransitionsTest, RestoreStateNewestFallsBackToTheNextGoodBackup) {
    start(config(keep_alive(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n"));
    use_and_wait_ready("m/a");
    ASSERT_EQ(post("/api/warmup/backup-state", R"({"name": "older"})").first, 200);
    ASSERT_EQ(post("/api/warmup/backup-state", R"({"name": "newer"})").first, 200);
    const fs::path older = dir_.path() / "state" / "backup-older.wsnap";
    const fs::path newer = dir_.path() / "state" / "backup-newer.wsnap";
    fs::last_write_time(older, fs::file_time_type::clock::now() - std::chrono::hours(1));
    std::ofstream(newer, std::ios::binary | std::ios::trunc) << "torn";
    fs::last_write_time(newer, fs::file_time_type::clock::now());

    const auto [status, restored] = post("/api/warmup/restore-state");  // no name: the newest good backup
    ASSERT_EQ(status, 200) << restored.dump();
    EXPECT_EQ(restored["file"], older.string());
    EXPECT_NE(restored["notes"].dump().find("skipped backup-newer.wsnap"), std::string::npos) << restored.dump();
}

}  // namespace
}  // namespace warmup::host
