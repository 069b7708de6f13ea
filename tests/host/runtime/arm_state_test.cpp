// An experiment arm's durable state (host/runtime/arm_state.cpp): its learned state, counters and warm set across a
// restart, a restore, a rollback and safe mode, and where its models go when the arms changed meanwhile; on an
// in-process LiveRuntime driven over its HTTP API. Waits are bounded polls; nothing asserts on elapsed time.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "live_runtime_test_fixture.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using test::keep_alive_predictor;
using test::TransitionsTest;
using warmup::test::poll_until;

/// The YAML of an experiment split by model, state kept, whose treatment arm keeps models 2 h (the control arm 1 h:
/// a definition of its own), with weight `weight` (the control arm's is 1); `shadow`: a shadow arm instead.
std::string experiment_yaml(int weight = 1, bool shadow = false, warmup_time_ms treatment_ttl_ms = 7'200'000) {
    return "state: {dir: state, snapshot_interval_s: 3600}\n"
           "experiment: {enabled: true, split: model, control_weight: 1}\n"
           "arms:\n  - {name: treatment, weight: " +
           std::to_string(weight) + (shadow ? ", shadow: true" : "") +
           ", components: {predictor: " + keep_alive_predictor(treatment_ttl_ms) + "}}\n";
}

/// The data of section `slot` of `snapshot` ("" when it has none).
std::string section_data(const Snapshot& snapshot, const std::string& slot) {
    for (const auto& section : snapshot.sections)
        if (section.slot == slot) return section.data;
    return "";
}

class ArmStateTest : public TransitionsTest {
  protected:
    /// Arm `name` as GET /api/warmup/experiments shows it (null when no such arm runs).
    json arm_json(const std::string& name) {
        const json experiments = get_json("/api/warmup/experiments").second;
        for (const auto& arm : experiments["arms"])
            if (arm["name"] == name) return arm;
        return json();
    }
    double used_mb(const std::string& name) {
        const json arm = arm_json(name);
        return arm.is_null() ? -1 : arm["used_mb"].get<double>();
    }
    /// The sum of `field` over every arm.
    double total(const char* field) {
        const json experiments = get_json("/api/warmup/experiments").second;
        double sum = 0;
        for (const auto& arm : experiments["arms"]) sum += arm[field].get<double>();
        return sum;
    }
    /// One request of each of m/0 .. m/<count - 1> now.
    void use_models(int count) {
        const warmup_time_ms now_ms = runtime_->clock().now_ms();
        for (int i = 0; i < count; ++i) ingest("m/" + std::to_string(i), now_ms);
        drain();
    }
    /// The treatment arm's requests so far (-1 when it does not run).
    int treatment_requests() {
        const json arm = arm_json("treatment");
        return arm.is_null() ? -1 : arm["requests"].get<int>();
    }
    /// How many decisions in the log give `reason`.
    int decisions_saying(const std::string& reason) {
        const json log = get_json("/api/warmup/decisions").second;
        int count = 0;
        for (const auto& decision : log["decisions"])
            if (decision["reason"].get<std::string>().find(reason) != std::string::npos) ++count;
        return count;
    }
};

constexpr const char* kRestoredFromAnotherArm = "restored from the warm set another arm held";

TEST_F(ArmStateTest, AnExperimentArmGoesOnAfterARestartWithWhatItLearnedCountedAndHeld) {
    // Before, only the control arm's state was kept: after a restart the treatment started with no history, no
    // counts (so /experiments compared a week of control with minutes of treatment) and none of its models loaded.
    const Config with_experiment = config(keep_alive_predictor(3'600'000), experiment_yaml());
    start(with_experiment);
    const warmup_time_ms now_ms = runtime_->clock().now_ms();
    for (int round = 0; round < 3; ++round)
        for (int i = 0; i < 10; ++i) ingest("m/" + std::to_string(i), now_ms - (2 - round) * 60'000);
    drain();
    ASSERT_TRUE(
        poll_until([&] { return used_mb("treatment") > 0 && used_mb("treatment") + used_mb("control") == 1000; }, 5s));
    const json treatment_before = arm_json("treatment");
    const json control_before = arm_json("control");
    const std::string learned_before = section_data(runtime_->capture_state(), "arm:treatment:analyzer");
    ASSERT_FALSE(learned_before.empty());
    stop();

    start(with_experiment);
    // Its counts go on from where they were ...
    const json treatment_after = arm_json("treatment");
    EXPECT_EQ(treatment_after["requests"], treatment_before["requests"]) << treatment_after.dump();
    EXPECT_EQ(treatment_after["cold_requests"], treatment_before["cold_requests"]) << treatment_after.dump();
    EXPECT_EQ(arm_json("control")["requests"], control_before["requests"]);
    // ... its analyzer knows what it knew ...
    EXPECT_EQ(section_data(runtime_->capture_state(), "arm:treatment:analyzer"), learned_before);
    // ... and each arm loads again the models it held, as pre-warms, within its own share, counted as such (after
    // the journal's checkpoint brought the counters back, not undone by it).
    EXPECT_TRUE(poll_until([&] { return used_mb("treatment") == treatment_before["used_mb"].get<double>(); }, 5s))
        << arm_json("treatment").dump();
    EXPECT_TRUE(poll_until([&] { return used_mb("control") == control_before["used_mb"].get<double>(); }, 5s))
        << arm_json("control").dump();
    for (const auto& [name, before] : {std::pair{"treatment", treatment_before}, std::pair{"control", control_before}})
        EXPECT_EQ(arm_json(name)["prewarms_started"].get<double>(),
                  before["prewarms_started"].get<double>() + before["used_mb"].get<double>() / 100)
            << name;
    EXPECT_EQ(decisions_saying(kRestoredFromAnotherArm), 0);
}

TEST_F(ArmStateTest, AModelTheSplitMovedAcrossTheRestartIsLoadedInTheArmThatServesItNow) {
    // The treatment's weight goes from 1 to 3 across the restart: some models the control arm held are now served by
    // the treatment. Each is loaded there at once (not in the control arm and handed over when its load ends), and
    // kept until its first request there, which is warm.
    start(config(keep_alive_predictor(3'600'000), experiment_yaml(1)));
    use_models(20);
    ASSERT_TRUE(poll_until([&] { return total("used_mb") == 2000; }, 5s));
    const double control_mb = used_mb("control");
    stop();

    start(config(keep_alive_predictor(3'600'000), experiment_yaml(3)));
    ASSERT_TRUE(poll_until([&] { return total("used_mb") == 2000; }, 5s)) << total("used_mb");
    const int moved = decisions_saying(kRestoredFromAnotherArm);
    EXPECT_GT(moved, 0);
    EXPECT_EQ(moved, static_cast<int>((control_mb - used_mb("control")) / 100));
    EXPECT_EQ(decisions_saying("handed over by the arm that loaded it"), 0);
    const double cold_before = total("cold_requests");
    use_models(20);
    EXPECT_EQ(total("cold_requests"), cold_before);
    EXPECT_EQ(total("used_mb"), 2000);
}

TEST_F(ArmStateTest, AMovedModelKeepsItsHandOverThroughAnEmergencyStop) {
    // The same move, with an emergency stop in force across the restart: the restores wait for resume, and the
    // models moved to the treatment are still kept there (not planned from books that never saw them, which would
    // unload them at once).
    start(config(keep_alive_predictor(3'600'000), experiment_yaml(1)));
    use_models(20);
    ASSERT_TRUE(poll_until([&] { return total("used_mb") == 2000; }, 5s));
    ASSERT_EQ(post("/api/warmup/emergency-stop").first, 200);
    stop();

    start(config(keep_alive_predictor(3'600'000), experiment_yaml(3)));
    EXPECT_EQ(total("used_mb"), 0);
    ASSERT_EQ(post("/api/warmup/resume").first, 200);
    ASSERT_TRUE(poll_until([&] { return total("used_mb") == 2000; }, 5s)) << total("used_mb");
    EXPECT_GT(decisions_saying(kRestoredFromAnotherArm), 0);
    const double cold_before = total("cold_requests");
    use_models(20);
    EXPECT_EQ(total("cold_requests"), cold_before);
}

TEST_F(ArmStateTest, TheModelsOfAnArmRemovedAcrossARestartGoToTheArmThatServesThemNow) {
    // The experiment ends while the daemon is down: what the treatment held is loaded in the control arm, which
    // serves every model now, and kept there until its first request.
    Config with_experiment = config(keep_alive_predictor(3'600'000), experiment_yaml());
    start(with_experiment);
    use_models(20);
    ASSERT_TRUE(poll_until([&] { return total("used_mb") == 2000 && used_mb("treatment") > 0; }, 5s));
    const double treatment_mb = used_mb("treatment");
    stop();

    Config without = with_experiment;
    without.experiment.enabled = false;
    start(without);
    ASSERT_TRUE(poll_until([&] { return used_mb("control") == 2000; }, 5s)) << used_mb("control");
    EXPECT_EQ(decisions_saying(kRestoredFromAnotherArm), static_cast<int>(treatment_mb / 100));
    const double cold_before = total("cold_requests");
    use_models(20);
    EXPECT_EQ(total("cold_requests"), cold_before);
}

TEST_F(ArmStateTest, AnArmThatDoesNotRunAfterARestartIsKeptThroughMoreRestartsForTheOneThatStartsItAgain) {
    // The experiment is off across two restarts, then on again: the treatment goes on with what it had learned and
    // counted (before, the first restart without it skipped its sections and the next snapshot dropped them).
    Config with_experiment = config(keep_alive_predictor(3'600'000), experiment_yaml());
    start(with_experiment);
    use_models(20);
    ASSERT_TRUE(poll_until([&] { return total("used_mb") == 2000 && used_mb("treatment") > 0; }, 5s));
    const int requests = treatment_requests();
    ASSERT_GT(requests, 0);
    const std::string learned = section_data(runtime_->capture_state(), "arm:treatment:analyzer");
    stop();

    Config without = with_experiment;
    without.experiment.enabled = false;
    start(without);
    ASSERT_TRUE(poll_until([&] { return used_mb("control") == 2000; }, 5s)) << used_mb("control");
    const int handed_over = decisions_saying(kRestoredFromAnotherArm);
    EXPECT_GT(handed_over, 0);
    EXPECT_EQ(section_data(runtime_->capture_state(), "arm:treatment:analyzer"), learned);
    stop();
    start(without);  // its models went to the control arm once: they come back in its warm set, not twice
    EXPECT_LE(decisions_saying(kRestoredFromAnotherArm), handed_over);
    EXPECT_EQ(section_data(runtime_->capture_state(), "arm:treatment:analyzer"), learned);
    stop();

    start(with_experiment);
    EXPECT_EQ(treatment_requests(), requests);
    EXPECT_EQ(section_data(runtime_->capture_state(), "arm:treatment:analyzer"), learned);
}

TEST_F(ArmStateTest, AnExperimentStartedByAReloadComparesEveryArmFromItsStartAcrossARestart) {
    // Before, the control arm's figures ran from the daemon's start: requests before the experiment counted for it
    // alone, and the arms were compared over different traffic.
    Config with_experiment = config(keep_alive_predictor(3'600'000), experiment_yaml());
    Config without = with_experiment;
    without.experiment.enabled = false;
    start(without);
    use_models(20);  // control alone
    ASSERT_EQ(total("requests"), 20);
    const json before = get_json("/api/warmup/experiments").second;
    EXPECT_TRUE(before["arms"][0]["counted_since_unix_ms"].is_null()) << before.dump();
    ASSERT_TRUE(runtime_->reload(with_experiment).ok);
    use_models(20);  // split by model between the two arms
    const auto counted_since = [&] {
        std::vector<json> since;
        const json experiments = get_json("/api/warmup/experiments").second;
        for (const auto& arm : experiments["arms"]) since.push_back(arm["counted_since_unix_ms"]);
        return since;
    };
    const std::vector<json> since = counted_since();
    ASSERT_EQ(since.size(), 2u);
    EXPECT_TRUE(since[0].is_number_integer()) << "the control arm counts from the experiment's start";
    EXPECT_TRUE(since[1].is_null()) << "the new arm counts from its own start, the same";
    EXPECT_EQ(total("requests"), 20) << "the 20 requests since the experiment started, not the 20 before";
    EXPECT_GT(treatment_requests(), 0);
    const int treatment_requests_before_stop = treatment_requests();
    EXPECT_EQ(get_json("/api/warmup/status").second["counters"]["requests"], 40 - treatment_requests_before_stop)
        << "the daemon's own totals still count from its start";
    stop();

    start(with_experiment);  // the comparison goes on where it stood
    EXPECT_EQ(total("requests"), 20);
    EXPECT_EQ(counted_since(), since);
    ASSERT_TRUE(runtime_->reload(without).ok);  // stopped: the control arm's figures are the daemon's again
    EXPECT_EQ(total("requests"), 40 - treatment_requests_before_stop);
}

TEST_F(ArmStateTest, ModelsAdoptedFromAStoppedArmStayLoadedAcrossARestart) {
    // A reload stops the experiment: the control arm adopts the treatment's loaded models (it has no request of
    // them). After a restart its warm set brings them back and keeps them for the built-in keep-alive until their
    // first request, as before the restart, instead of loading each and unloading it at once.
    Config with_experiment = config(keep_alive_predictor(3'600'000), experiment_yaml());
    start(with_experiment);
    use_models(20);
    ASSERT_TRUE(poll_until([&] { return total("used_mb") == 2000 && used_mb("treatment") > 0; }, 5s));
    const int adopted = static_cast<int>(used_mb("treatment") / 100);
    Config without = with_experiment;
    without.experiment.enabled = false;
    ASSERT_TRUE(runtime_->reload(without).ok);
    ASSERT_TRUE(poll_until([&] { return used_mb("control") == 2000; }, 5s));
    stop();

    start(without);
    ASSERT_TRUE(poll_until([&] { return used_mb("control") == 2000; }, 5s)) << used_mb("control");
    EXPECT_EQ(decisions_saying(kRestoredFromAnotherArm), adopted);
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(used_mb("control"), 2000);
    const double cold_before = total("cold_requests");
    use_models(20);
    EXPECT_EQ(total("cold_requests"), cold_before);
}

TEST_F(ArmStateTest, AnArmWhoseDefinitionChangedAcrossARestartStartsAsANewArm) {
    // As a reload would: the treatment's predictor changed, so its counts and learned state are the old arm's, not
    // this one's; the models the old arm held are on the server all the same and go to the arms serving them.
    start(config(keep_alive_predictor(3'600'000), experiment_yaml()));
    use_models(20);
    ASSERT_TRUE(poll_until([&] { return total("used_mb") == 2000 && used_mb("treatment") > 0; }, 5s));
    ASSERT_GT(treatment_requests(), 0);
    const std::string learned = section_data(runtime_->capture_state(), "arm:treatment:analyzer");
    stop();

    start(config(keep_alive_predictor(3'600'000), experiment_yaml(1, false, 600'000)));
    EXPECT_EQ(arm_json("treatment")["requests"], 0);
    EXPECT_NE(section_data(runtime_->capture_state(), "arm:treatment:analyzer"), learned);
    ASSERT_TRUE(poll_until([&] { return total("used_mb") == 2000; }, 5s)) << total("used_mb");
    const double cold_before = total("cold_requests");
    use_models(20);
    EXPECT_EQ(total("cold_requests"), cold_before);
}

TEST_F(ArmStateTest, AShadowArmsSimulatedModelsAreNotLoadedWhenItComesBackActing) {
    // A shadow arm simulates the whole budget's loads; made acting across the restart, it is a new arm, and what it
    // simulated was never on the server: nothing of it is loaded (the control arm's own models come back).
    start(config(keep_alive_predictor(3'600'000), experiment_yaml(1, /*shadow=*/true)));
    use_models(20);
    ASSERT_TRUE(poll_until([&] { return used_mb("control") == 2000 && used_mb("treatment") == 2000; }, 5s));
    stop();

    start(config(keep_alive_predictor(3'600'000), experiment_yaml(1)));
    ASSERT_TRUE(poll_until([&] { return total("used_mb") == 2000; }, 5s)) << total("used_mb");
    EXPECT_EQ(arm_json("treatment")["requests"], 0);
    EXPECT_EQ(decisions_saying(kRestoredFromAnotherArm), static_cast<int>(used_mb("treatment") / 100));
}

TEST_F(ArmStateTest, ARollbackGivesAReplacedArmBackWhatItHadLearnedAndCounted) {
    // The treatment's definition changes (a new arm starts cold), then the operator rolls back: the treatment of
    // before comes back with its history and its counts, not as a new arm.
    const Config with_experiment = config(keep_alive_predictor(3'600'000), experiment_yaml());
    Config changed = config(keep_alive_predictor(3'600'000),
                            "state: {dir: state, snapshot_interval_s: 3600}\n"
                            "experiment: {enabled: true, split: model, control_weight: 1}\n"
                            "arms:\n  - {name: treatment, components: {predictor: " +
                                keep_alive_predictor(600'000) + "}}\n");
    start(with_experiment);
    use_models(20);
    const int requests = treatment_requests();
    ASSERT_GT(requests, 0);
    const std::string learned = section_data(runtime_->capture_state(), "arm:treatment:analyzer");
    ASSERT_FALSE(learned.empty());

    ASSERT_TRUE(runtime_->reload(changed).ok);
    EXPECT_EQ(treatment_requests(), 0);  // a new arm
    EXPECT_NE(section_data(runtime_->capture_state(), "arm:treatment:analyzer"), learned);
    const ReloadResult rolled_back = runtime_->rollback();
    ASSERT_TRUE(rolled_back.ok) << rolled_back.error;
    std::string notes;
    for (const auto& note : rolled_back.notes) notes += note + "\n";
    EXPECT_NE(
        notes.find("experiment arm 'treatment': what it had learned and counted when a reload stopped it taken back"),
        std::string::npos)
        << notes;
    EXPECT_EQ(treatment_requests(), requests);
    EXPECT_EQ(section_data(runtime_->capture_state(), "arm:treatment:analyzer"), learned);
}

TEST_F(ArmStateTest, ARestartInSafeModeKeepsTheExperimentArmsStateForTheConfigurationItRuns) {
    // reset-to-safe turns the experiment off; the restart runs the configuration again, experiment included, and its
    // arm goes on with what it had when reset-to-safe stopped it.
    const Config with_experiment = config(keep_alive_predictor(3'600'000), experiment_yaml());
    start(with_experiment);
    use_models(20);
    const int requests = treatment_requests();
    ASSERT_GT(requests, 0);
    const std::string learned = section_data(runtime_->capture_state(), "arm:treatment:analyzer");
    ASSERT_EQ(post("/api/warmup/reset-to-safe").first, 200);
    EXPECT_EQ(treatment_requests(), -1);  // the experiment is off
    stop();

    start(with_experiment);
    EXPECT_EQ(treatment_requests(), requests);
    EXPECT_EQ(section_data(runtime_->capture_state(), "arm:treatment:analyzer"), learned);
}

TEST_F(ArmStateTest, EventsJournaledAfterTheStateReachTheExperimentArmThatServesThem) {
    // A crash after the last snapshot: the journal's events are learned again at start, each by the arm the split
    // sends it to (before, only the control arm learned its share).
    const fs::path state = dir_.path() / "state";
    fs::create_directories(state);
    const auto now_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    const uint64_t taken_ms = now_ms - 3'600'000;
    Catalog catalog({{"m/*", 100, 5, 0, 1}});
    {
        EventJournal journal(state, taken_ms);
        std::vector<warmup_usage_event> events;
        for (int i = 0; i < 10; ++i)
            events.push_back({static_cast<warmup_time_ms>(taken_ms + 60'000 * (i + 1)),
                              *catalog.resolve("m/" + std::to_string(i)), 1, 0, 0});
        journal.append_events(events, catalog);
        journal.flush();
    }
    Snapshot taken;
    taken.created_unix_ms = taken_ms;
    StateStore(state, 10).write_snapshot(taken);

    start(config(keep_alive_predictor(3'600'000), experiment_yaml()));
    std::size_t learned_by_treatment = 0;
    for (int i = 0; i < 10; ++i) {
        const std::string name = "m/" + std::to_string(i);
        const uint64_t control = requests_learned(0, name), treatment = requests_learned(1, name);
        EXPECT_EQ(control + treatment, 1u) << name << ": learned by exactly one arm";
        learned_by_treatment += treatment;
    }
    EXPECT_GT(learned_by_treatment, 0u);
    EXPECT_LT(learned_by_treatment, 10u);
}

TEST_F(ArmStateTest, ARestoreOnTheRunningExperimentBringsTheArmsStateBackAndSkipsAnArmThatDoesNotRun) {
    Config with_experiment = config(keep_alive_predictor(3'600'000), experiment_yaml());
    start(with_experiment);
    use_models(10);
    ASSERT_EQ(post("/api/warmup/backup-state", R"({"name": "with-arms"})").first, 200);
    const std::string learned = section_data(runtime_->capture_state(), "arm:treatment:analyzer");
    use_models(10);  // learned after the backup
    ASSERT_NE(section_data(runtime_->capture_state(), "arm:treatment:analyzer"), learned);
    // An operator's restore on the running experiment: the arm's learned state comes back; its counters keep
    // counting, like the control arm's.
    const double requests = arm_json("treatment")["requests"].get<double>();
    const auto [same_status, same] = post("/api/warmup/restore-state", R"({"name": "with-arms"})");
    ASSERT_EQ(same_status, 200) << same.dump();
    EXPECT_EQ(same["experiment_arms_restored"], 1) << same.dump();
    EXPECT_NE(same["notes"].dump().find("arm:treatment:engine kept counting"), std::string::npos) << same.dump();
    EXPECT_EQ(section_data(runtime_->capture_state(), "arm:treatment:analyzer"), learned);
    EXPECT_EQ(arm_json("treatment")["requests"].get<double>(), requests);

    Config without = with_experiment;
    without.experiment.enabled = false;
    ASSERT_TRUE(runtime_->reload(without).ok);
    const auto [status, restored] = post("/api/warmup/restore-state", R"({"name": "with-arms"})");
    ASSERT_EQ(status, 200) << restored.dump();
    EXPECT_EQ(restored["experiment_arms_restored"], 0) << restored.dump();
    EXPECT_NE(restored["notes"].dump().find("experiment arm 'treatment':"), std::string::npos) << restored.dump();
    EXPECT_NE(restored["notes"].dump().find("skipped: no experiment arm of that name runs"), std::string::npos)
        << restored.dump();
}

TEST_F(ArmStateTest, TheReloadThatLeavesSafeModeGivesTheArmsBackWhatTheyHad) {
    // reset-to-safe turns the experiment off; a reload of the configuration (the way out of safe mode) starts its
    // arms again, each with what it had; a rollback into the safe configuration keeps them again, for the restart.
    const Config with_experiment = config(keep_alive_predictor(3'600'000), experiment_yaml());
    start(with_experiment);
    use_models(20);
    const int requests = treatment_requests();
    ASSERT_GT(requests, 0);
    ASSERT_EQ(post("/api/warmup/reset-to-safe").first, 200);
    const ReloadResult reloaded = runtime_->reload(with_experiment);
    ASSERT_TRUE(reloaded.ok) << reloaded.error;
    ASSERT_FALSE(runtime_->safe_mode());
    EXPECT_EQ(treatment_requests(), requests);
    const ReloadResult back = runtime_->rollback();  // into the safe configuration again
    ASSERT_TRUE(back.ok) << back.error;
    ASSERT_TRUE(runtime_->safe_mode());
    stop();
    start(with_experiment);
    EXPECT_EQ(treatment_requests(), requests);
}

TEST_F(ArmStateTest, AnArmWhosePluginLibraryMovedWithTheInstallIsTheSameArm) {
    // The same library and params from another folder (an upgrade that moved the install): the same arm.
    const fs::path built = fs::path(WARMUP_TEST_PLUGIN_DIR) / "keep_alive_predictor.so";
    for (const char* release : {"release-1", "release-2"}) {
        fs::create_directories(dir_.path() / release);
        fs::copy_file(built, dir_.path() / release / built.filename());
    }
    const auto from = [&](const char* release) {
        return config(keep_alive_predictor(3'600'000),
                      "state: {dir: state, snapshot_interval_s: 3600}\n"
                      "experiment: {enabled: true, split: model, control_weight: 1}\n"
                      "arms:\n  - {name: treatment, components: {predictor: {path: \"" +
                          (dir_.path() / release / built.filename()).string() + "\", params: {ttl_ms: 7200000}}}}\n");
    };
    start(from("release-1"));
    use_models(20);
    const int requests = treatment_requests();
    ASSERT_GT(requests, 0);
    stop();
    start(from("release-2"));
    EXPECT_EQ(treatment_requests(), requests);
}

}  // namespace
}  // namespace warmup::host
