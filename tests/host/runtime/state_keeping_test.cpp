// Backup and restore of learned state, the reset of data collection, the counters and the state component across a
// restart (host/runtime/state_keeping.cpp) on an in-process LiveRuntime, driven over its HTTP API. Waits are bounded
// polls; nothing asserts on elapsed time.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "live_runtime_test_fixture.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using test::config_text;
using test::health_component;
using test::keep_alive_predictor;
using test::metric_value;
using test::OpsTest;
using test::TransitionsTest;
using warmup::test::poll_until;
using warmup::test::TempDir;

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
    EXPECT_GE(backup["sections"].get<int>(), 3);  // analyzer, performance plugin, metrics
    EXPECT_EQ(post("/api/warmup/backup-state", R"({"name": "../x"})").first, 400);
    EXPECT_EQ(post("/api/warmup/backup-state", "[1]").first, 400);

    const auto [reset_status, reset] = post("/api/warmup/reset-data-collection");
    ASSERT_EQ(reset_status, 200) << reset.dump();
    EXPECT_EQ(reset["analyzers_reset"], 1);
    EXPECT_EQ(confidence("m/a"), 0);  // nothing learned any more
    // What it forgot is kept as a backup of the daemon's own name.
    ASSERT_TRUE(reset["notes"].is_array()) << reset.dump();
    EXPECT_NE(reset["notes"][0].get<std::string>().find("backed up as 'before-reset-data-collection'"),
              std::string::npos)
        << reset.dump();
    EXPECT_TRUE(fs::exists(dir.path() / "state" / "backup-before-reset-data-collection.wsnap"));
    EXPECT_EQ(post("/api/warmup/backup-state", R"({"name": "before-reset-data-collection"})").first, 400);

    // Events after the backup: the counters running now are ahead of the backup's.
    const warmup_time_ms now_ms = runtime_->clock().now_ms();
    for (int i = 0; i < 3; ++i) ingest("m/b", now_ms);
    drain();
    const json counters_before = get_json("/api/warmup/status").second["counters"];
    const auto [restore_status, restore] = post("/api/warmup/restore-state", R"({"name": "b1"})");
    ASSERT_EQ(restore_status, 200) << restore.dump();
    EXPECT_EQ(restore["file"], (dir.path() / "state" / "backup-b1.wsnap").string());
    // Everything learned comes back; the counters (the engine's, the metrics plugin's) keep counting: within one
    // process they never go backwards, which Prometheus would read as a reset.
    EXPECT_EQ(restore["counter_sections_kept"], 2) << restore.dump();
    EXPECT_EQ(restore["sections_restored"].get<int>() + restore["counter_sections_kept"].get<int>(),
              restore["sections_in_snapshot"].get<int>());
    EXPECT_DOUBLE_EQ(confidence("m/a"), learned);
    const json counters_after = get_json("/api/warmup/status").second["counters"];
    EXPECT_EQ(counters_after["events_accepted"], counters_before["events_accepted"]) << counters_after.dump();
    EXPECT_EQ(counters_after["requests"], counters_before["requests"]) << counters_after.dump();
    EXPECT_EQ(post("/api/warmup/restore-state", R"({"name": "missing"})").first, 404);
}

TEST_F(OpsTest, ARestoreOfABackupThatDoesNotExistIsLoggedAsAWarningNotAnError) {
    // An operator's mistyped name is answered 404; the log is for what went wrong in the daemon.
    TempDir dir("warmup-ops");
    start(load_config_text(config_text(0, 2, "state: {dir: state, snapshot_interval_s: 3600}\n"), "ops.yaml",
                           dir.path(), {}));
    std::ostringstream out;
    const auto previous = spdlog::default_logger();
    auto logger =
        std::make_shared<spdlog::logger>("restore-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
    const int status = post("/api/warmup/restore-state", R"({"name": "nosuch"})").first;
    spdlog::set_default_logger(previous);
    EXPECT_EQ(status, 404);
    EXPECT_NE(out.str().find("warning STATE_RESTORE_ERROR no backup"), std::string::npos) << out.str();
    EXPECT_EQ(out.str().find("error STATE_RESTORE_ERROR"), std::string::npos) << out.str();
}

TEST_F(OpsTest, ARestoreAPluginRefusesSaysItIsPartialKeepsTheOtherSectionsAndTakesNoSnapshot) {
    // The analyzer is a test plugin whose import always fails (it offers the usage-pattern schema).
    TempDir dir("warmup-ops");
    const std::string refusing = (fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "hotswap_state_refusing_analyzer.so").string();
    std::string text = config_text(0, 2, "state: {dir: state, snapshot_interval_s: 3600}\n");
    const std::string analyzer_line = "analyzer: {plugin: org.warmup.analyzer.usage-pattern}";
    text.replace(text.find(analyzer_line), analyzer_line.size(), "analyzer: {path: \"" + refusing + "\"}");
    start(load_config_text(text, "ops.yaml", dir.path(), {}));
    ingest("m/a", runtime_->clock().now_ms());
    drain();
    ASSERT_EQ(post("/api/warmup/backup-state", R"({"name": "b1"})").first, 200);
    const auto snapshots_before = [&] {
        std::size_t count = 0;
        for (const auto& entry : fs::directory_iterator(dir.path() / "state"))
            count += entry.path().filename().string().starts_with("snapshot-") ? 1 : 0;
        return count;
    };
    const std::size_t snapshots = snapshots_before();

    const auto [status, answer] = post("/api/warmup/restore-state", R"({"name": "b1"})");

    EXPECT_EQ(status, 500) << answer.dump();
    const std::string error = answer.value("error", "");
    EXPECT_TRUE(error.starts_with("partly restored (")) << error;
    EXPECT_NE(error.find("1 refused"), std::string::npos) << error;
    EXPECT_NE(error.find("refused on purpose"), std::string::npos) << error;
    // The performance plugin's section is restored, the two counter sections keep counting, the analyzer's refused.
    EXPECT_EQ(answer["sections_restored"], 1) << answer.dump();
    EXPECT_EQ(answer["counter_sections_kept"], 2) << answer.dump();
    EXPECT_EQ(answer["sections_in_snapshot"], 4) << answer.dump();
    EXPECT_EQ(snapshots_before(), snapshots) << "a partial restore is not made the state a restart returns to";
    // The daemon goes on.
    ingest("m/b", runtime_->clock().now_ms());
    drain();
    EXPECT_EQ(get_json("/healthz").first, 200);
    stop();
}

// A plugin whose export fails (a restart would start it without what it learned), or whose state_schema throws (the
// SDK answers the empty schema, which no import reads: before, that section was dropped with the state "ok"): the
// snapshot is still written with the other plugins' sections, and the operator is told through the state component,
// not only the log.
struct StateExportFailure {
    const char* analyzer_params;
    const char* reason;
};

class StateExportFailureTest : public OpsTest, public ::testing::WithParamInterface<StateExportFailure> {};

TEST_P(StateExportFailureTest, MakesTheStateComponentDegraded) {
    TempDir dir("warmup-ops");
    const std::string refusing = (fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "hotswap_state_refusing_analyzer.so").string();
    std::string text = config_text(0, 2, "state: {dir: state, snapshot_interval_s: 3600}\n");
    const std::string analyzer_line = "analyzer: {plugin: org.warmup.analyzer.usage-pattern}";
    text.replace(text.find(analyzer_line), analyzer_line.size(),
                 "analyzer: {path: \"" + refusing + "\", params: " + GetParam().analyzer_params + "}");
    start(load_config_text(text, "ops.yaml", dir.path(), {}));
    ingest("m/a", runtime_->clock().now_ms());
    drain();
    const auto [status, answer] = post("/api/warmup/backup-state", R"({"name": "b1"})");
    EXPECT_EQ(status, 200) << answer.dump();
    const auto [code, health] = get_json("/api/warmup/health/components");
    ASSERT_EQ(code, 200);
    const json state = health_component(health, "state");
    EXPECT_EQ(state["state"], "degraded") << health.dump();
    ASSERT_TRUE(state["reason"].is_string()) << health.dump();
    EXPECT_NE(state["reason"].get<std::string>().find(GetParam().reason), std::string::npos) << health.dump();
    stop();
}

INSTANTIATE_TEST_SUITE_P(APlugin, StateExportFailureTest,
                         ::testing::Values(StateExportFailure{"{refuse_export: true}", "export refused on purpose"},
                                           StateExportFailure{
                                               "{throw_schema: true}",
                                               "could not say its state schema: INTERNAL: schema refused on purpose"}));

TEST_F(OpsTest, BackupNamesAreCheckedAlikeByBackupAndRestoreAndAnExistingBackupIsReplacedOnlyWhenAsked) {
    TempDir dir("warmup-ops");
    start(load_config_text(config_text(0, 2, "state: {dir: state, snapshot_interval_s: 3600}\n"), "ops.yaml",
                           dir.path(), {}));
    const auto error_of = [](const json& answer) { return answer.value("error", std::string()); };
    for (const std::string path : {"/api/warmup/backup-state", "/api/warmup/restore-state"}) {
        SCOPED_TRACE(path);
        const auto [empty_status, empty] = post(path, R"({"name": ""})");
        EXPECT_EQ(empty_status, 400) << empty.dump();
        EXPECT_NE(error_of(empty).find("\"name\" is empty"), std::string::npos) << empty.dump();
        const auto [typo_status, typo] = post(path, R"({"nme": "x"})");
        EXPECT_EQ(typo_status, 400) << typo.dump();
        EXPECT_NE(error_of(typo).find("unknown key \"nme\""), std::string::npos) << typo.dump();
        // Before, a key given twice was read as its last value (a backup named b2 here).
        const auto [twice_status, twice] = post(path, R"({"name": "b1", "name": "b2"})");
        EXPECT_EQ(twice_status, 400) << twice.dump();
        EXPECT_EQ(error_of(twice), "key \"name\" appears twice in the body (each is given once)") << twice.dump();
        const auto [invalid_status, invalid] = post(path, R"({"name": "../x"})");
        EXPECT_EQ(invalid_status, 400) << invalid.dump();
        EXPECT_NE(error_of(invalid).find("backup name '../x': expected 1 to 64 characters"), std::string::npos)
            << invalid.dump();
    }
    EXPECT_EQ(post("/api/warmup/restore-state", R"({"name": "b1", "overwrite": true})").first, 400);
    EXPECT_TRUE(StateStore(dir.path() / "state", 10).backups().empty()) << "a refused body wrote a backup";

    ASSERT_EQ(post("/api/warmup/backup-state", R"({"name": "b1"})").first, 200);
    const fs::path file = dir.path() / "state" / "backup-b1.wsnap";
    const std::string first = warmup::test::read_text_file(file);
    learn_rhythm("m/a");  // the state changes
    const auto [again_status, again] = post("/api/warmup/backup-state", R"({"name": "b1"})");
    EXPECT_EQ(again_status, 409) << again.dump();
    EXPECT_NE(error_of(again).find("\"overwrite\": true"), std::string::npos) << again.dump();
    EXPECT_EQ(warmup::test::read_text_file(file), first);
    EXPECT_EQ(post("/api/warmup/backup-state", R"({"name": "b1", "overwrite": "yes"})").first, 400);
    const auto [replaced_status, replaced] = post("/api/warmup/backup-state", R"({"name": "b1", "overwrite": true})");
    EXPECT_EQ(replaced_status, 200) << replaced.dump();
    EXPECT_NE(warmup::test::read_text_file(file), first);
    // Without a name: a time-stamped one, as before.
    const auto [unnamed_status, unnamed] = post("/api/warmup/backup-state");
    EXPECT_EQ(unnamed_status, 200) << unnamed.dump();
    EXPECT_NE(unnamed["notes"].dump().find("name: at-"), std::string::npos) << unnamed.dump();
    EXPECT_EQ(post("/api/warmup/restore-state", R"({"name": "missing"})").first, 404);
}

// Backups requested at the same moment (several operators, a script in a loop): the check of the name and the write
// must not interleave, or two requests both see a name free and the second silently replaces the first.
TEST_F(OpsTest, ConcurrentBackupsOfOneNameWriteItOnceAndUnnamedOnesEachGetAFileOfTheirOwn) {
    TempDir dir("warmup-ops");
    start(load_config_text(config_text(0, 2, "state: {dir: state, snapshot_interval_s: 3600}\n"), "ops.yaml",
                           dir.path(), {}));
    constexpr int kRequests = 6;
    // Runs `backup` on kRequests threads released together and returns their results.
    const auto at_once = [](const std::function<OperationResult()>& backup) {
        std::vector<OperationResult> results(kRequests);
        std::latch go(kRequests);
        std::vector<std::thread> threads;
        for (int i = 0; i < kRequests; ++i)
            threads.emplace_back([&, i] {
                go.arrive_and_wait();
                results[i] = backup();
            });
        for (auto& thread : threads) thread.join();
        return results;
    };

    for (int round = 0; round < 3; ++round) {
        const std::string name = "race-" + std::to_string(round);
        const auto results = at_once([&] { return runtime_->backup_state(name); });
        const auto written = std::count_if(results.begin(), results.end(), [](const auto& r) { return r.ok(); });
        const auto refused =
            std::count_if(results.begin(), results.end(), [](const auto& r) { return r.http_status == 409; });
        EXPECT_EQ(written, 1) << name;
        EXPECT_EQ(refused, kRequests - 1) << name;
    }

    std::set<std::string> files;
    for (int round = 0; round < 3; ++round)
        for (const OperationResult& result : at_once([&] { return runtime_->backup_state(""); })) {
            ASSERT_TRUE(result.ok()) << result.error;
            EXPECT_TRUE(files.insert(result.file).second) << "two unnamed backups answered with " << result.file;
        }
    std::size_t unnamed_on_disk = 0;
    for (const fs::path& file : runtime_->state_store()->backups())
        if (file.filename().string().starts_with("backup-at-")) ++unnamed_on_disk;
    EXPECT_EQ(unnamed_on_disk, files.size());
    EXPECT_EQ(files.size(), 3u * kRequests);
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
    // The way forward: a start takes the backup's order.
    EXPECT_NE(refused.error.find("\"at_next_start\": true and restart warmupd"), std::string::npos) << refused.error;
    EXPECT_GT(confidence("m/a"), 0);  // untouched

    // A model no catalog entry covers is said as such, whatever its index.
    swapped.models = {"nowhere/x"};
    const OperationResult uncovered = runtime_->restore_state(swapped);
    EXPECT_EQ(uncovered.http_status, 409);
    EXPECT_NE(uncovered.error.find("model 'nowhere/x' (index 0 in the snapshot) is not covered by this catalog"),
              std::string::npos)
        << uncovered.error;
    EXPECT_EQ(uncovered.error.find("at_next_start"), std::string::npos) << uncovered.error;
}

TEST_F(TransitionsTest, AResetOfDataCollectionKeepsAWarmModelAsAfterItsLastUseBeforeAndAfterARestart) {
    // The default predictor unloads a model it has never seen at once (objective lean). After the analyzer forgot
    // everything, the model warm now would look never seen and be unloaded at its next plan, by any re-plan (here a
    // replan_all, as a reload or the end of an emergency stop does). Its last use is kept through the reset: the one
    // the engine saw, and after a restart the one the restored analyzer knows (the engine has seen no request then).
    const Config with_state =
        config("{plugin: org.warmup.predictor.cost-curve}", "state: {dir: state, snapshot_interval_s: 3600}\n");
    const auto reset_and_replan = [&] {
        const auto [reset_status, reset] = post("/api/warmup/reset-data-collection");
        ASSERT_EQ(reset_status, 200) << reset.dump();
        runtime_->call_on_control([&](WarmupEngine& engine) {
            engine.replan_all(runtime_->clock().now_ms());
            return 0;
        });
    };
    start(with_state);
    const warmup_time_ms used_ms = use_and_wait_ready("m/a");
    ASSERT_GT(status_of("m/a").unload_at_ms, used_ms);
    reset_and_replan();
    ModelStatus after = status_of("m/a");
    EXPECT_EQ(after.residency, WARMUP_RESIDENCY_READY);
    // Planned from its last use (above), with nothing else learned: at least the shortest keep (1 min).
    EXPECT_GE(after.unload_at_ms, used_ms + 60'000);

    stop();
    start(with_state);  // the warm set comes back, and the analyzer with the last use it had learned
    ASSERT_TRUE(poll_until([&] { return residency("m/a") == WARMUP_RESIDENCY_READY; }, 5s));
    reset_and_replan();
    after = status_of("m/a");
    EXPECT_EQ(after.residency, WARMUP_RESIDENCY_READY);
    EXPECT_GE(after.unload_at_ms, used_ms + 60'000);
}

TEST_F(TransitionsTest, StatusAndMetricsCountersAgreeAfterARestart) {
    const Config with_state =
        config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n");
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

TEST_F(TransitionsTest, AStartThatSkippedACorruptSnapshotShowsStateDegradedWithTheReason) {
    const Config with_state =
        config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n");
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
    const json state = health_component(health, "state");
    EXPECT_EQ(state["state"], "degraded") << health.dump();
    ASSERT_TRUE(state["reason"].is_string()) << health.dump();
    const std::string reason = state["reason"];
    EXPECT_NE(reason.find(snapshots.front().filename().string()), std::string::npos) << reason;
    EXPECT_NE(reason.find("skipped"), std::string::npos) << reason;

    // An operator's restore puts a chosen state in force: the state component is healthy again.
    ASSERT_EQ(post("/api/warmup/restore-state", R"({"name": "good"})").first, 200);
    std::tie(code, health) = get_json("/api/warmup/health/components");
    EXPECT_EQ(health_component(health, "state")["state"], "ok") << health.dump();
}

/// A start that finds a damaged named backup: a configuration that keeps state (its snapshots taken at stop).
class DamagedBackupAtStartTest : public TransitionsTest {
  protected:
    /// Starts, loads `model`, takes the backup `name` and stops (a last snapshot, newer than the backup). Returns the
    /// backup's file.
    fs::path start_use_back_up_and_stop(const std::string& model, const std::string& name) {
        start(with_state());
        use_and_wait_ready(model);
        EXPECT_EQ(post("/api/warmup/backup-state", R"({"name": ")" + name + R"("})").first, 200);
        stop();
        return dir_.path() / "state" / ("backup-" + name + ".wsnap");
    }
    host::Config with_state() {
        return config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n");
    }
    /// The state component after a start.
    json state_component_after_start() {
        start(with_state());
        const auto [code, health] = get_json("/api/warmup/health/components");
        EXPECT_EQ(code, 200);
        return health_component(health, "state");
    }
};

TEST_F(DamagedBackupAtStartTest, ANewerOneSkippedShowsStateDegradedWithTheReason) {
    // The newest state was a named backup taken after the last snapshot; the backup is damaged, so the start falls
    // back to the older snapshot. That loses what was learned in between: the state component says so.
    start(with_state());
    use_and_wait_ready("m/a");
    stop();  // the newest snapshot: m/a
    const fs::path backup = start_use_back_up_and_stop("m/b", "after-b");
    // As if the daemon had been killed after the backup: no snapshot newer than it.
    const auto snapshots = StateStore(dir_.path() / "state", 10).snapshots();
    ASSERT_GE(snapshots.size(), 2u);
    fs::remove(snapshots.front());
    {
        std::fstream file(backup, std::ios::binary | std::ios::in | std::ios::out);
        file.seekp(100);
        file.put('\xff');
    }
    const json state = state_component_after_start();
    EXPECT_EQ(state["state"], "degraded") << state.dump();
    const std::string reason = state.value("reason", "");
    EXPECT_NE(reason.find("backup-after-b.wsnap"), std::string::npos) << reason;
    EXPECT_NE(reason.find("skipped"), std::string::npos) << reason;
}

TEST_F(DamagedBackupAtStartTest, ANewerOneOfModelsThisCatalogDoesNotCoverIsSkippedForTheOwnSnapshot) {
    // A backup copied from another daemon (or taken before a model left the catalog) is the newest file but would
    // restore nothing: the start restores the daemon's own newest snapshot instead and says why in the state
    // component. Before, it started without any learned state.
    start(with_state());
    use_and_wait_ready("m/a");
    stop();
    TempDir other("warmup-foreign");  // another daemon, whose catalog also has x/*
    start(load_config_text(config_text(0, 2,
                                       "  - {model: \"x/*\", memory_mb: 100, load_ms: 5}\n"
                                       "state: {dir: state, snapshot_interval_s: 3600}\n",
                                       keep_alive_predictor(3'600'000)),
                           "transitions.yaml", other.path(), {}));
    use_and_wait_ready("x/a");
    ASSERT_EQ(post("/api/warmup/backup-state", R"({"name": "foreign"})").first, 200);
    stop();
    fs::copy_file(other.path() / "state" / "backup-foreign.wsnap", dir_.path() / "state" / "backup-foreign.wsnap");

    const json state = state_component_after_start();
    EXPECT_EQ(state["state"], "degraded") << state.dump();
    const std::string reason = state.value("reason", "");
    EXPECT_NE(reason.find("backup-foreign.wsnap"), std::string::npos) << reason;
    EXPECT_NE(reason.find("'x/a'"), std::string::npos) << reason;
    EXPECT_NE(reason.find("instead"), std::string::npos) << reason;
    EXPECT_TRUE(poll_until([&] { return residency("m/a") == WARMUP_RESIDENCY_READY; }, 5s)) << "its warm set is back";
}

TEST_F(DamagedBackupAtStartTest, OneOlderThanTheStateRestoredLosesNothingAndLeavesStateOk) {
    const fs::path backup = start_use_back_up_and_stop("m/a", "old");
    std::ofstream(backup, std::ios::binary | std::ios::trunc) << "torn";
    fs::last_write_time(backup, fs::file_time_type::clock::now() - std::chrono::hours(1));
    EXPECT_EQ(state_component_after_start()["state"], "ok");
}

TEST_F(TransitionsTest, AStartWhoseCatalogNoLongerCoversAModelKeepsTheStateAsABackupThatANextStartRestores) {
    // An operator takes a model out of the catalog and restarts: the snapshot cannot be imported (its indexes would
    // name the wrong models). The start says so in the state component, and the learned state is kept as a backup
    // (not rotated away by this run's snapshots). This run numbers the models it sees in its own order (m/c second),
    // so once the catalog covers the model again the backup comes back at a start, staged for it.
    const Config both = config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n");
    start(both);
    use_and_wait_ready("m/a");
    use_and_wait_ready("slow/b");
    use_and_wait_ready("m/c");
    stop();  // writes the newest snapshot: m/a, slow/b, m/c

    std::string without_slow =
        config_text(0, 2, "state: {dir: state, snapshot_interval_s: 3600}\n", keep_alive_predictor(3'600'000));
    const std::string slow_line = "  - {model: \"slow/*\", memory_mb: 100, load_ms: 60000}\n";
    ASSERT_NE(without_slow.find(slow_line), std::string::npos);
    without_slow.erase(without_slow.find(slow_line), slow_line.size());
    start(load_config_text(without_slow, "transitions.yaml", dir_.path(), {}));
    auto [code, health] = get_json("/api/warmup/health/components");
    ASSERT_EQ(code, 200);
    const json state = health_component(health, "state");
    EXPECT_EQ(state["state"], "degraded") << health.dump();
    const std::string reason = state.value("reason", "");
    EXPECT_NE(reason.find("'slow/b'"), std::string::npos) << reason;
    EXPECT_NE(reason.find("refused-at-start"), std::string::npos) << reason;
    EXPECT_NE(reason.find("\"at_next_start\": true"), std::string::npos) << reason;
    EXPECT_TRUE(fs::exists(dir_.path() / "state" / "backup-refused-at-start.wsnap"));
    EXPECT_EQ(post("/api/warmup/restore-state", R"({"name": "refused-at-start"})").first, 409) << "still not covered";
    // The daemon's own backup names are not an operator's to write.
    EXPECT_EQ(post("/api/warmup/backup-state", R"({"name": "refused-at-start", "overwrite": true})").first, 400);
    EXPECT_EQ(post("/api/warmup/backup-state", R"({"name": "before-reset-to-safe"})").first, 400);
    use_and_wait_ready("m/c");  // numbered 1 by this run
    stop();

    start(both);  // the model is back in the catalog, but this run's snapshot (m/a, m/c) came first
    EXPECT_EQ(*runtime_->catalog().find("m/c"), 1u);
    EXPECT_EQ(post("/api/warmup/restore-state", R"({"name": "refused-at-start"})").first, 409) << "another order";
    EXPECT_EQ(post("/api/warmup/restore-state", R"({"name": "refused-at-start", "at_next_start": "yes"})").first, 400);
    const auto [status, staged] =
        post("/api/warmup/restore-state", R"({"name": "refused-at-start", "at_next_start": true})");
    ASSERT_EQ(status, 202) << staged.dump();
    EXPECT_EQ(staged["status"], "staged") << staged.dump();
    EXPECT_FALSE(staged.contains("error")) << staged.dump();
    EXPECT_EQ(staged["models"], 3) << staged.dump();
    EXPECT_EQ(*runtime_->catalog().find("m/c"), 1u) << "nothing changes until the restart";
    stop();

    start(both);  // the staged backup first, then the journal's events since it (m/c's use in the run without slow/b)
    EXPECT_EQ(*runtime_->catalog().find("slow/b"), 1u);
    EXPECT_EQ(*runtime_->catalog().find("m/c"), 2u);
    EXPECT_EQ(requests_learned(0, "slow/b"), 1u);
    EXPECT_EQ(requests_learned(0, "m/c"), 2u) << "one in the backup, one learned from the journal";
    std::tie(code, health) = get_json("/api/warmup/health/components");
    EXPECT_EQ(health_component(health, "state")["state"], "ok") << health.dump();
    EXPECT_FALSE(fs::exists(dir_.path() / "state" / "restore-at-next-start")) << "a stage is taken once";
}

TEST_F(TransitionsTest, AStartWhereAPluginRefusesItsSectionSaysSoAndKeepsTheStateAsABackup) {
    // A new build of a plugin that cannot read its own older state: the start restores the other sections, and the
    // refused one would be lost with the next snapshots. Before, only the log said so, and nothing kept it.
    const std::string extra = "state: {dir: state, snapshot_interval_s: 3600}\n";
    start(config(keep_alive_predictor(3'600'000), extra));
    use_and_wait_ready("m/a");
    stop();
    const std::string refusing = (fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "hotswap_state_refusing_analyzer.so").string();
    std::string text = config_text(0, 2, extra, keep_alive_predictor(3'600'000));
    const std::string analyzer_line = "analyzer: {plugin: org.warmup.analyzer.usage-pattern}";
    text.replace(text.find(analyzer_line), analyzer_line.size(), "analyzer: {path: \"" + refusing + "\"}");
    start(load_config_text(text, "transitions.yaml", dir_.path(), {}));
    const auto [code, health] = get_json("/api/warmup/health/components");
    ASSERT_EQ(code, 200);
    const json state = health_component(health, "state");
    EXPECT_EQ(state["state"], "degraded") << health.dump();
    const std::string reason = state.value("reason", "");
    EXPECT_NE(reason.find("partly restored"), std::string::npos) << reason;
    EXPECT_NE(reason.find("refused on purpose"), std::string::npos) << reason;
    EXPECT_NE(reason.find("refused-at-start"), std::string::npos) << reason;
    EXPECT_TRUE(fs::exists(dir_.path() / "state" / "backup-refused-at-start.wsnap"));
}

TEST_F(TransitionsTest, AStateWithMoreModelsThanALoweredModelLimitStillRestoresAndOnlyNewNamesAreRefused) {
    // The limit bounds the names clients make up, not what the daemon already learned.
    start(config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n"));
    use_and_wait_ready("m/a");
    use_and_wait_ready("m/b");
    use_and_wait_ready("m/c");
    stop();
    std::string lowered =
        config_text(0, 2, "state: {dir: state, snapshot_interval_s: 3600}\n", keep_alive_predictor(3'600'000));
    const std::string budgets = "max_concurrent_warmups: 2}";
    ASSERT_NE(lowered.find(budgets), std::string::npos);
    lowered.replace(lowered.find(budgets), budgets.size(), "max_concurrent_warmups: 2, max_models: 2}");
    start(load_config_text(lowered, "transitions.yaml", dir_.path(), {}));
    EXPECT_EQ(runtime_->catalog().size(), 3u);
    auto [code, health] = get_json("/api/warmup/health/components");
    ASSERT_EQ(code, 200);
    EXPECT_EQ(health_component(health, "state")["state"], "ok") << health.dump();
    const auto [status, answer] = post("/api/warmup/events", "{\"model\":\"m/c\"}\n{\"model\":\"m/d\"}\n");
    EXPECT_EQ(status, 400) << answer.dump();
    EXPECT_EQ(answer["accepted"], 1);
    ASSERT_EQ(answer["rejected"].size(), 1u) << answer.dump();
    EXPECT_NE(answer["rejected"][0]["reason"].get<std::string>().find("budgets.max_models (2)"), std::string::npos)
        << answer.dump();
}

TEST_F(TransitionsTest, TheJournalIsReplayedFromTheRestoredStatesOwnSegmentEvenAfterTheClockWentBack) {
    // Segment 1 follows a state taken at T (3 events of m/a); the wall clock was then set back, and the next state was
    // taken at T - 1 h, beginning segment 2 (2 events of m/b). A restart restores that newest state: only segment 2
    // holds events it does not. Chosen by time (base >= T - 1 h), segment 1 would be learned a second time.
    const fs::path state = dir_.path() / "state";
    fs::create_directories(state);
    const auto now_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    const uint64_t before_the_step_ms = now_ms - 7'200'000, after_the_step_ms = now_ms - 10'800'000;
    Catalog catalog({{"m/*", 100, 5, 0, 1}});
    const warmup_model_index a = *catalog.resolve("m/a");
    const warmup_model_index b = *catalog.resolve("m/b");
    {
        EventJournal journal(state, before_the_step_ms);
        std::vector<warmup_usage_event> of_a(3, warmup_usage_event{});
        for (std::size_t i = 0; i < of_a.size(); ++i)
            of_a[i] = {static_cast<warmup_time_ms>(before_the_step_ms + 60'000 * (i + 1)), a, 1, 0, 0};
        journal.append_events(of_a, catalog);
        journal.rotate(after_the_step_ms);
        std::vector<warmup_usage_event> of_b(2, warmup_usage_event{});
        for (std::size_t i = 0; i < of_b.size(); ++i)
            of_b[i] = {static_cast<warmup_time_ms>(after_the_step_ms + 60'000 * (i + 1)), b, 1, 0, 0};
        journal.append_events(of_b, catalog);
        journal.flush();
    }
    Snapshot taken_after_the_step;
    taken_after_the_step.created_unix_ms = after_the_step_ms;
    taken_after_the_step.models = {"m/a", "m/b"};
    StateStore(state, 10).write_snapshot(taken_after_the_step);

    start(config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n"));
    EXPECT_EQ(requests_learned(0, "m/b"), 2u);
    EXPECT_EQ(requests_learned(0, "m/a"), 0u) << "the segment before the restored state was replayed again";
}

TEST_F(TransitionsTest, RestoreStateNewestFallsBackToTheNextGoodBackup) {
    start(config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n"));
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

TEST_F(OpsTest, RestoreFindsTheSlotOfASectionKeptUnderItsDeprecatedKey) {
    // A snapshot written before the slots were renamed names the analyzer's section by the old key; the state is
    // restored into the analyzer all the same.
    TempDir dir("warmup-ops");
    start(load_config_text(config_text(0, 2), "ops.yaml", dir.path(), {}));
    learn_rhythm("m/a");
    const double learned = confidence("m/a");
    ASSERT_GT(learned, 0);
    Snapshot older = runtime_->capture_state();
    std::size_t renamed = 0;
    for (SnapshotSection& section : older.sections) {
        if (section.slot != slot_key(ComponentSlot::Analyzer)) continue;
        section.slot = std::string(slot_deprecated_key(ComponentSlot::Analyzer));
        ++renamed;
    }
    ASSERT_EQ(renamed, 1u);

    ASSERT_TRUE(runtime_->reset_data_collection().ok());
    EXPECT_EQ(confidence("m/a"), 0);
    const OperationResult restored = runtime_->restore_state(older);
    ASSERT_TRUE(restored.ok()) << restored.error;
    EXPECT_DOUBLE_EQ(confidence("m/a"), learned);
    const std::string restored_note = std::string(slot_deprecated_key(ComponentSlot::Analyzer)) + " restored (";
    EXPECT_EQ(std::count_if(restored.notes.begin(), restored.notes.end(),
                            [&](const std::string& note) { return note.starts_with(restored_note); }),
              1);
    for (const std::string& note : restored.notes) EXPECT_EQ(note.find("skipped"), std::string::npos) << note;
}

TEST_F(TransitionsTest, AnEmergencyStopStaysInForceAcrossARestartUntilResetToSafe) {
    const Config with_state =
        config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n");
    start(with_state);
    use_and_wait_ready("m/a");
    ASSERT_EQ(post("/api/warmup/backup-state", R"({"name": "running"})").first, 200);
    const auto [stop_status, stopped] = post("/api/warmup/emergency-stop");
    ASSERT_EQ(stop_status, 200) << stopped.dump();
    EXPECT_NE(stopped["notes"].dump().find("in force across a restart"), std::string::npos) << stopped.dump();
    stop();

    start(with_state);
    EXPECT_EQ(get_json("/api/warmup/status").second["emergency_stop"], true);
    EXPECT_TRUE(runtime_->call_on_control([](WarmupEngine& engine) { return engine.stopped(); }));
    const json engine = health_component(get_json("/api/warmup/health/components").second, "engine");
    EXPECT_EQ(engine["state"], "degraded") << engine.dump();
    // The reason names resume, the way out on the running configuration, before reset-to-safe.
    const std::string reason = engine.value("reason", "");
    const auto resume_at = reason.find("POST /api/warmup/resume");
    const auto reset_to_safe_at = reason.find("POST /api/warmup/reset-to-safe");
    ASSERT_NE(resume_at, std::string::npos) << reason;
    ASSERT_NE(reset_to_safe_at, std::string::npos) << reason;
    EXPECT_LT(resume_at, reset_to_safe_at) << reason;
    // The warm set of the restored state is not pre-warmed during the stop.
    EXPECT_EQ(residency("m/a"), WARMUP_RESIDENCY_ABSENT);
    // An operator's restore of a state saved before the stop brings back what was learned, not the time before the
    // stop.
    ASSERT_EQ(post("/api/warmup/restore-state", R"({"name": "running"})").first, 200);
    EXPECT_EQ(get_json("/api/warmup/status").second["emergency_stop"], true);

    ASSERT_EQ(post("/api/warmup/reset-to-safe").first, 200);
    EXPECT_EQ(get_json("/api/warmup/status").second["emergency_stop"], false);
    // The safe configuration starts from what is loaded: the warm set the stop held back is not loaded.
    EXPECT_EQ(residency("m/a"), WARMUP_RESIDENCY_ABSENT);
    stop();
    start(with_state);
    EXPECT_EQ(get_json("/api/warmup/status").second["emergency_stop"], false);
}

TEST_F(TransitionsTest, AWarmSetModelWhoseKeepPassedWhileTheDaemonWasStoppedIsNotLoadedAgain) {
    // Kept for 3 s after its use; the daemon stops while m/a is loaded and starts again 4 s later. Before, m/a was
    // loaded again and unloaded at once (its plan's keep had passed): a load and an unload for nothing, for every
    // model of the warm set after a long stop.
    const Config with_state = config(keep_alive_predictor(3'000), "state: {dir: state, snapshot_interval_s: 3600}\n");
    start(with_state);
    use_and_wait_ready("m/a");
    ASSERT_EQ(residency("m/a"), WARMUP_RESIDENCY_READY);
    stop();
    std::this_thread::sleep_for(4s);  // past its keep (wall clock: the daemon's clock)
    start(with_state);
    const auto restored = counters();
    EXPECT_EQ(residency("m/a"), WARMUP_RESIDENCY_ABSENT);
    EXPECT_EQ(restored.prewarms_started, 0u);
    // A model whose keep has not passed is loaded again as before (the other restore tests).
}

TEST_F(TransitionsTest, ResumeAfterARestartDuringAnEmergencyStopLoadsTheWarmSetAgain) {
    // m/a is loaded when the operator stops new warm-ups, then the daemon restarts: the stop holds and m/a stays
    // unloaded. Resume lifts the stop and restores the warm set of before the restart, as a restart without a stop
    // would have.
    const Config with_state =
        config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n");
    start(with_state);
    use_and_wait_ready("m/a");
    ASSERT_EQ(post("/api/warmup/emergency-stop").first, 200);
    stop();

    start(with_state);
    EXPECT_EQ(residency("m/a"), WARMUP_RESIDENCY_ABSENT);
    const auto before = counters();  // restored with the state
    const auto [status, resumed] = post("/api/warmup/resume");
    ASSERT_EQ(status, 200) << resumed.dump();
    EXPECT_EQ(resumed["warm_set_restores_queued"], 1) << resumed.dump();
    EXPECT_TRUE(poll_until([&] { return residency("m/a") == WARMUP_RESIDENCY_READY; }, 5s));
    // A restore of the warm set (a pre-warm), not a request's load.
    EXPECT_EQ(counters().prewarms_started, before.prewarms_started + 1);
    EXPECT_EQ(counters().demand_loads, before.demand_loads);
}

TEST_F(TransitionsTest, ASecondRestartDuringAnEmergencyStopStillKeepsTheWarmSetForResume) {
    // The warm set a stopped daemon keeps for resume is in the snapshots it takes: before, the first restart's
    // snapshot held only loaded models, so a second restart (or a periodic snapshot) during the stop forgot it.
    const Config with_state =
        config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n");
    start(with_state);
    use_and_wait_ready("m/a");
    use_and_wait_ready("m/b");
    ASSERT_EQ(post("/api/warmup/emergency-stop").first, 200);
    stop();
    start(with_state);
    stop();
    start(with_state);
    const auto [status, resumed] = post("/api/warmup/resume");
    ASSERT_EQ(status, 200) << resumed.dump();
    EXPECT_EQ(resumed["warm_set_restores_queued"], 2) << resumed.dump();
}

TEST_F(TransitionsTest, ModelsOfTheWarmSetStillQueuedToLoadAgainAreInTheNextSnapshot) {
    // One warm-up worker and loads of 60 s: after a restart one restore loads and the other waits in the queue. A
    // restart then (or a periodic snapshot) kept only the loading one, and the other left the warm set for good.
    const std::string extra = "state: {dir: state, snapshot_interval_s: 3600}\n";
    const auto one_worker = [&] {
        return load_config_text(config_text(1, 1, extra, keep_alive_predictor(3'600'000)), "transitions.yaml",
                                dir_.path(), {});
    };
    start(load_config_text(config_text(1, 2, extra, keep_alive_predictor(3'600'000)), "transitions.yaml", dir_.path(),
                           {}));
    ingest("slow/a", runtime_->clock().now_ms());
    ingest("slow/b", runtime_->clock().now_ms());
    drain();
    ASSERT_TRUE(poll_until([&] { return residency("slow/b") == WARMUP_RESIDENCY_LOADING; }, 5s));
    stop();  // both loading: both in the warm set
    start(one_worker());
    ASSERT_TRUE(poll_until([&] { return residency("slow/a") != WARMUP_RESIDENCY_ABSENT; }, 5s));
    const int queued =
        (residency("slow/a") == WARMUP_RESIDENCY_QUEUED) + (residency("slow/b") == WARMUP_RESIDENCY_QUEUED);
    ASSERT_EQ(queued, 1) << "one restore loads, the other waits for the one worker";
    stop();
    start(one_worker());
    EXPECT_TRUE(poll_until(
        [&] {
            return residency("slow/a") != WARMUP_RESIDENCY_ABSENT && residency("slow/b") != WARMUP_RESIDENCY_ABSENT;
        },
        5s))
        << "both are restored again";
}

TEST_F(TransitionsTest, AnArmsMemoryGaugeSaysWhatItHoldsAfterARestartAndZeroOnceItStops) {
    // An experiment split by model: the treatment loads its share of m/0 .. m/9. Its memory gauge was kept with the
    // metrics plugin's state; after a restart the arm starts empty and loads its warm set again, and a reload that
    // stops the arm hands its models on: each time the gauge must say what the arm holds, not its last value.
    Config with_experiment = config(keep_alive_predictor(3'600'000),
                                    "state: {dir: state, snapshot_interval_s: 3600}\n"
                                    "experiment: {enabled: true, split: model, control_weight: 1}\n"
                                    "arms:\n  - {name: treatment, components: {predictor: " +
                                        keep_alive_predictor(3'600'000) + "}}\n");
    const auto treatment_bytes = [&] {
        const std::string metrics = get_text("/metrics");
        const std::string prefix = "\nwarmup_resident_memory_bytes{arm=\"treatment\"} ";
        const auto at = metrics.find(prefix);
        return at == std::string::npos ? -1.0 : std::stod(metrics.substr(at + prefix.size()));
    };
    const auto load_models = [&] {
        const warmup_time_ms now_ms = runtime_->clock().now_ms();
        for (int i = 0; i < 10; ++i) ingest("m/" + std::to_string(i), now_ms);
        drain();
        return poll_until([&] { return treatment_bytes() > 0; }, 5s);
    };
    start(with_experiment);
    ASSERT_TRUE(load_models());
    stop();

    const auto treatment_used_bytes = [&] {
        const json experiments = get_json("/api/warmup/experiments").second;
        for (const auto& arm : experiments["arms"])
            if (arm["name"] == "treatment") return arm["used_mb"].get<double>() * 1024 * 1024;
        return -1.0;
    };
    start(with_experiment);
    // The arm loads its warm set again, and the gauge follows it (not the earlier process's value kept with the
    // metrics plugin's state).
    EXPECT_TRUE(
        poll_until([&] { return treatment_used_bytes() > 0 && treatment_bytes() == treatment_used_bytes(); }, 5s))
        << treatment_bytes() << " against " << treatment_used_bytes();
    ASSERT_TRUE(load_models());
    EXPECT_TRUE(poll_until([&] { return treatment_bytes() == treatment_used_bytes(); }, 5s))
        << treatment_bytes() << " against " << treatment_used_bytes();
    Config without = with_experiment;
    without.experiment.enabled = false;
    ASSERT_TRUE(runtime_->reload(without).ok);
    EXPECT_EQ(treatment_bytes(), 0.0);
}

TEST_F(TransitionsTest, AnArmsBudgetGaugeIsAWholeNumberOfBytes) {
    // 10,000 MiB shared by three arms of weight 1: 3,333.33 MiB each, which is not a whole number of bytes.
    start(config(keep_alive_predictor(3'600'000),
                 "experiment: {enabled: true, split: model, control_weight: 1}\n"
                 "arms:\n  - {name: b, components: {predictor: " +
                     keep_alive_predictor(60'000) +
                     "}}\n  - {name: c, components: {predictor: " + keep_alive_predictor(120'000) + "}}\n"));
    const std::string metrics = get_text("/metrics");
    for (const char* arm : {"control", "b", "c"}) {
        const auto bytes = metric_value(metrics, fmt::format("warmup_memory_budget_bytes{{arm=\"{}\"}}", arm));
        ASSERT_TRUE(bytes) << arm << "\n" << metrics;
        EXPECT_EQ(*bytes, std::round(10000.0 / 3 * 1024 * 1024)) << arm;
    }
}

TEST_F(TransitionsTest, ResumeLiftsTheEmergencyStopOnTheRunningConfigurationAndSavesIt) {
    const Config with_state =
        config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n");
    start(with_state);
    use_and_wait_ready("m/a");
    const double budget_mb = get_json("/api/warmup/status").second["budget_mb"].get<double>();
    const auto [idle_status, idle] = post("/api/warmup/resume");
    ASSERT_EQ(idle_status, 200) << idle.dump();
    EXPECT_NE(idle["notes"].dump().find("nothing changed"), std::string::npos) << idle.dump();

    ASSERT_EQ(post("/api/warmup/emergency-stop").first, 200);
    const auto [status, resumed] = post("/api/warmup/resume");
    ASSERT_EQ(status, 200) << resumed.dump();
    EXPECT_NE(resumed["notes"].dump().find("emergency stop lifted"), std::string::npos) << resumed.dump();
    const json after = get_json("/api/warmup/status").second;
    EXPECT_EQ(after["emergency_stop"], false);
    EXPECT_EQ(after["safe_mode"], false);                    // unlike reset-to-safe: the configuration stays
    EXPECT_EQ(after["budget_mb"].get<double>(), budget_mb);  // nor is the budget halved
    EXPECT_EQ(residency("m/a"), WARMUP_RESIDENCY_READY);     // nothing evicted
    stop();
    start(with_state);  // saved: the restart is not stopped
    EXPECT_EQ(get_json("/api/warmup/status").second["emergency_stop"], false);
}

TEST_F(TransitionsTest, AStateWrittenWithoutTheEmergencyStopReadsAsNotStopped) {
    // The engine section as daemons wrote it before the emergency stop was kept: counters only.
    Snapshot older;
    older.created_unix_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    older.sections = {{"engine", "org.warmup.state.engine-counters/1", R"({"requests": 7, "cold_requests": 7})"}};
    StateStore(dir_.path() / "state", 10).write_snapshot(older);

    start(config(keep_alive_predictor(3'600'000), "state: {dir: state, snapshot_interval_s: 3600}\n"));
    const json status = get_json("/api/warmup/status").second;
    EXPECT_EQ(status["counters"]["requests"], 7) << status.dump();  // the section was read
    EXPECT_EQ(status["emergency_stop"], false);
}

}  // namespace
}  // namespace warmup::host
