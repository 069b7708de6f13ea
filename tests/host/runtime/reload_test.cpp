// Reload, hot-swap and rollback (host/runtime/reload.cpp) in a running LiveRuntime (in-process): no event lost under
// load, rebuilt libraries picked up, every failure mode leaving the running set in place, learned state handed over,
// rollback; and what a reload puts in force at once, without any event: fresh plans for every loaded model (also after
// a rollback and reset-to-safe, which applies its configuration through the same path), planned pre-warms back when a
// reload leaves the safe configuration, a smaller budget enforced by evictions.
//
// Each test builds its configuration in a temp folder (the real plugins from build/plugins, the sim backend at
// 1/100 of catalog time), starts the control loop, and reads the engine only through call_on_control. Waits are
// bounded polls; no assertion is about elapsed time.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "hotswap_test_config.hpp"
#include "live_runtime_test_fixture.hpp"
#include "runtime/live_runtime.hpp"

namespace {

using namespace warmup::host;
using namespace warmup::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kDrainTimeout = 10s;  // generous: the machine may be busy compiling; success returns at once

class ReloadTest : public ::testing::Test {
  protected:
    void TearDown() override { runtime_.reset(); }  // stop the control loop before the temp folder goes

    /// Writes the test configuration (with `overrides`) to <tmp>/hotswap.yaml and starts a runtime on it.
    void start_runtime(const std::map<std::string, std::string>& overrides = {}) {
        config_file_ = dir_.write("hotswap.yaml", config_yaml(overrides));
        runtime_ = std::make_unique<LiveRuntime>(load_config_file(config_file_, {}));
        runtime_->start();
    }

    /// Rewrites the configuration file with `overrides` and returns it parsed, as a reload would read it.
    Config rewrite_config(const std::map<std::string, std::string>& overrides) {
        dir_.write("hotswap.yaml", config_yaml(overrides));
        return load_config_file(config_file_, {});
    }

    std::string served_id(ComponentSlot slot) {
        return runtime_->call_on_control([&](WarmupEngine&) { return runtime_->plugins().at(slot)->library().id(); });
    }

    /// 20 uses of `model` 3000 ms apart, the last one now (the older ones are history), taken by the control loop.
    void ingest_rhythm(warmup_model_index model) {
        const warmup_time_ms last_ms = runtime_->clock().now_ms();
        for (int i = 0; i < 20; ++i) ASSERT_TRUE(runtime_->try_ingest(event(model, last_ms - (19 - i) * 3000)));
        ASSERT_TRUE(poll_until([&] { return runtime_->ingest_backlog() == 0; }, kDrainTimeout));
    }

    /// Rolls back and checks its one change: the instance from before the last reload taken back with what it had
    /// learned then (`learned`, the state of `slot` before that reload), for a reason that starts with `why`.
    void expect_rollback_takes_back(const std::string& slot, const std::string& learned, const std::string& why) {
        const ReloadResult back = runtime_->rollback();
        ASSERT_TRUE(back.ok) << back.stage << ": " << back.error;
        ASSERT_EQ(back.changes.size(), 1u);
        const std::string expected =
            "taken back as it was before the last reload, with what it had learned until then (" + why;
        EXPECT_EQ(back.changes[0].state.rfind(expected, 0), 0u) << back.changes[0].state;
        EXPECT_EQ(slot_state(slot), learned);
    }

    /// The state `slot` ("analyzer", "predictor", ...) would hand over now, as a snapshot takes it (empty: none).
    std::string slot_state(const std::string& slot) {
        const Snapshot snapshot = runtime_->capture_state();
        for (const SnapshotSection& section : snapshot.sections)
            if (section.slot == slot) return section.data;
        return {};
    }

    /// "<id>@<version>" of every slot, in slot order.
    std::vector<std::string> served_labels() {
        return runtime_->call_on_control([&](WarmupEngine&) {
            std::vector<std::string> labels;
            for (const ComponentSlot slot : kAllSlots) {
                const auto& library = runtime_->plugins().at(slot)->library();
                labels.push_back(library.id() + "@" + library.version());
            }
            return labels;
        });
    }

    uint64_t engine_events() {
        return runtime_->call_on_control([](WarmupEngine& engine) { return engine.counters().events; });
    }

    warmup_model_index model(const std::string& name) {
        const auto index = runtime_->catalog().resolve(name);
        if (!index) throw std::runtime_error("no catalog entry for " + name);
        return *index;
    }

    static warmup_usage_event event(warmup_model_index model, warmup_time_ms ts_ms) {
        warmup_usage_event e{};
        e.model = model;
        e.ts_ms = ts_ms;
        e.count = 1;
        return e;
    }

    /// One more event is accepted and reaches the engine (its event counter moves by exactly one).
    void expect_events_still_flow() {
        const uint64_t before = engine_events();
        ASSERT_TRUE(runtime_->try_ingest(event(model("load/after-failure"), runtime_->clock().now_ms())));
        uint64_t now = before;
        EXPECT_TRUE(poll_until([&] { return (now = engine_events()) == before + 1; }, kDrainTimeout))
            << "engine events stayed at " << now << " (expected " << before + 1 << ")";
    }

    TempDir dir_;
    fs::path config_file_;
    std::unique_ptr<LiveRuntime> runtime_;
};

std::string predictor_slot(const char* id) { return std::string("{plugin: ") + id + "}"; }

// --------------------------------------------------------------------------------------------------------------
// Under load

TEST_F(ReloadTest, TwentySwapsUnderASteadyEventStreamLoseNoEvent) {
    start_runtime();
    constexpr uint64_t kEvents = 20'000;
    constexpr int kReloads = 20;
    std::vector<warmup_model_index> models;
    for (int i = 0; i < 8; ++i) models.push_back(model("load/" + std::to_string(i)));

    // ~10 events per millisecond for ~2 s, from a thread of its own (as HTTP handlers would ingest).
    std::atomic<uint64_t> sent{0};
    std::jthread producer([&] {
        for (uint64_t i = 0; i < kEvents; ++i) {
            if (runtime_->try_ingest(event(models[i % models.size()], runtime_->clock().now_ms()))) sent.fetch_add(1);
            if (i % 10 == 9) std::this_thread::sleep_for(1ms);
        }
    });

    // Alternate the predictor while the stream runs; after each swap the new one must be the one served.
    for (int reload = 1; reload <= kReloads; ++reload) {
        const char* from = reload % 2 == 1 ? kIdlePredictorId : kHybridPredictorId;
        const char* to = reload % 2 == 1 ? kHybridPredictorId : kIdlePredictorId;
        const auto overrides = reload % 2 == 1 ? std::map<std::string, std::string>{{"predictor", predictor_slot(to)}}
                                               : std::map<std::string, std::string>{};  // the default: idle-histogram
        const ReloadResult result = runtime_->reload(rewrite_config(overrides));
        ASSERT_TRUE(result.ok) << "reload " << reload << ": " << result.stage << ": " << result.error;
        ASSERT_EQ(result.changes.size(), 1u) << "reload " << reload;
        EXPECT_EQ(result.changes[0].slot, "predictor");
        EXPECT_EQ(id_of(result.changes[0].from), from);
        EXPECT_EQ(id_of(result.changes[0].to), to);
        EXPECT_EQ(served_id(ComponentSlot::Predictor), to) << "after reload " << reload;
        std::this_thread::sleep_for(100ms);  // pacing only: spreads the swaps over the stream
    }
    producer.join();

    EXPECT_EQ(sent.load(), kEvents);  // the 65536-slot ingest queue never filled
    EXPECT_EQ(runtime_->accepted_events(), kEvents);
    EXPECT_EQ(runtime_->refused_events(), 0u);
    uint64_t counted = 0;
    EXPECT_TRUE(poll_until([&] { return (counted = engine_events()) == kEvents; }, kDrainTimeout))
        << "the engine counted " << counted << " of " << kEvents << " events";
    EXPECT_EQ(engine_events(), kEvents);                               // and no more than that
    EXPECT_EQ(served_id(ComponentSlot::Predictor), kIdlePredictorId);  // 20 swaps from idle end on idle
}

// --------------------------------------------------------------------------------------------------------------
// New code at the same path

TEST_F(ReloadTest, PluginRebuiltAtTheSamePathIsLoadedAsNewCodeOnReload) {
    const fs::path plugin_file = dir_.path() / "predictor.so";
    fs::copy_file(fs::path(WARMUP_TEST_PLUGIN_DIR) / "keep_alive_predictor.so", plugin_file);
    start_runtime({{"predictor", "{path: \"" + plugin_file.string() + "\"}"}});
    ASSERT_EQ(served_id(ComponentSlot::Predictor), kKeepAlivePredictorId);

    // "Rebuild": another predictor library lands at the same path; the configuration text does not change.
    fs::copy_file(fs::path(WARMUP_TEST_PLUGIN_DIR) / "hybrid_histogram_predictor.so", plugin_file,
                  fs::copy_options::overwrite_existing);
    const ReloadResult result = runtime_->reload(load_config_file(config_file_, {}));

    ASSERT_TRUE(result.ok) << result.stage << ": " << result.error;
    ASSERT_EQ(result.changes.size(), 1u) << "the rebuilt library was not noticed";
    EXPECT_EQ(result.changes[0].slot, "predictor");
    EXPECT_EQ(id_of(result.changes[0].from), kKeepAlivePredictorId);
    EXPECT_EQ(id_of(result.changes[0].to), kHybridPredictorId);
    EXPECT_EQ(served_id(ComponentSlot::Predictor), kHybridPredictorId);
}

TEST_F(ReloadTest, RollbackAfterAnUpgradeAtTheSamePathTakesTheOldBuildBack) {
    // The documented upgrade: the new build replaces the file, a reload puts it in force; the rollback must go back to
    // the instance of the old build it replaced, although the file at the path is the new build now.
    const fs::path plugin_file = dir_.path() / "predictor.so";
    fs::copy_file(fs::path(WARMUP_TEST_PLUGIN_DIR) / "keep_alive_predictor.so", plugin_file);
    start_runtime({{"predictor", "{path: \"" + plugin_file.string() + "\"}"}});
    fs::copy_file(fs::path(WARMUP_TEST_PLUGIN_DIR) / "hybrid_histogram_predictor.so", plugin_file,
                  fs::copy_options::overwrite_existing);
    ASSERT_TRUE(runtime_->reload(load_config_file(config_file_, {})).ok);
    ASSERT_EQ(served_id(ComponentSlot::Predictor), kHybridPredictorId);

    const ReloadResult back = runtime_->rollback();
    ASSERT_TRUE(back.ok) << back.stage << ": " << back.error;
    ASSERT_EQ(back.changes.size(), 1u) << "the rollback left the new build in force";
    EXPECT_EQ(id_of(back.changes[0].from), kHybridPredictorId);
    EXPECT_EQ(id_of(back.changes[0].to), kKeepAlivePredictorId);
    EXPECT_EQ(served_id(ComponentSlot::Predictor), kKeepAlivePredictorId);
    EXPECT_EQ(runtime_->rollback().http_status, 409);  // one step back, and it was taken
}

// --------------------------------------------------------------------------------------------------------------
// Failures leave the running set in place

TEST_F(ReloadTest, InvalidYamlOnReloadFromFileAnswers400AtStageConfigWithFileLineColumn) {
    start_runtime();
    const auto before = served_labels();
    // The valid file (18 lines) plus "bogus: a: b" on line 19: the second ':' (column 9) is an illegal map value.
    dir_.write("hotswap.yaml", config_yaml() + "bogus: a: b\n");

    const ReloadResult result = runtime_->reload_from_file();

    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.http_status, 400);
    EXPECT_EQ(result.stage, "config");
    EXPECT_EQ(result.error.rfind(config_file_.string() + ":19:9: ", 0), 0u) << result.error;
    EXPECT_EQ(served_labels(), before);
    expect_events_still_flow();
}

TEST_F(ReloadTest, PredictorPathToATextFileAnswers422AtStageLoad) {
    start_runtime();
    const auto before = served_labels();
    const fs::path text_file = dir_.write("not_a_plugin.so", "this is a text file, not a shared object\n");

    const ReloadResult result =
        runtime_->reload(rewrite_config({{"predictor", "{path: \"" + text_file.string() + "\"}"}}));

    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.http_status, 422);
    EXPECT_EQ(result.stage, "load");
    EXPECT_NE(result.error.find("components.predictor"), std::string::npos) << result.error;
    EXPECT_NE(result.error.find(text_file.string()), std::string::npos) << result.error;
    EXPECT_EQ(served_labels(), before);
    expect_events_still_flow();
}

TEST_F(ReloadTest, PredictorThatRefusesItsParamsAnswers422NamingTheKey) {
    start_runtime();
    const auto before = served_labels();

    // min_samples must be in [1, 1000000]: the plugin's constructor refuses 0.
    const ReloadResult result = runtime_->reload(
        rewrite_config({{"predictor", "{plugin: org.warmup.predictor.idle-histogram, params: {min_samples: 0}}"}}));

    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.http_status, 422);
    EXPECT_EQ(result.stage, "load");
    EXPECT_NE(result.error.find("params.min_samples"), std::string::npos) << result.error;
    EXPECT_EQ(served_labels(), before);
    expect_events_still_flow();
}

TEST_F(ReloadTest, AFailedReloadIsSaidInHealthUntilAReloadSucceeds) {
    // Before, only the answer, the log and a counter said it: a watched file that changed and failed to reload left
    // no trace where operators look.
    start_runtime();
    const auto engine_health = [&] {
        for (const ComponentHealth& component : runtime_->component_health())
            if (component.component == "engine") return component;
        return ComponentHealth{};
    };
    EXPECT_FALSE(engine_health().degraded) << engine_health().reason;
    const ReloadResult failed = runtime_->reload(
        rewrite_config({{"predictor", "{plugin: org.warmup.predictor.idle-histogram, params: {min_samples: 0}}"}}));
    ASSERT_FALSE(failed.ok);
    const ComponentHealth said = engine_health();
    EXPECT_TRUE(said.degraded);
    EXPECT_NE(said.reason.find("the last configuration reload failed"), std::string::npos) << said.reason;
    EXPECT_NE(said.reason.find("params.min_samples"), std::string::npos) << said.reason;
    EXPECT_NE(said.reason.find("stage load"), std::string::npos) << said.reason;
    const ReloadResult fixed = runtime_->reload(rewrite_config({}));
    ASSERT_TRUE(fixed.ok) << fixed.error;
    EXPECT_FALSE(engine_health().degraded) << engine_health().reason;
}

TEST_F(ReloadTest, StateHandOffRefusedByTheNewAnalyzerAnswers500AtStageState) {
    start_runtime();
    ASSERT_TRUE(runtime_->try_ingest(event(model("rhythm/a"), runtime_->clock().now_ms())));  // some state to export
    ASSERT_TRUE(poll_until([&] { return engine_events() == 1; }, kDrainTimeout));
    const auto before = served_labels();
    const fs::path refusing = fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "hotswap_state_refusing_analyzer.so";

    const ReloadResult result =
        runtime_->reload(rewrite_config({{"analyzer", "{path: \"" + refusing.string() + "\"}"}}));

    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.http_status, 500);
    EXPECT_EQ(result.stage, "state");
    EXPECT_NE(result.error.find("analyzer"), std::string::npos) << result.error;
    EXPECT_NE(result.error.find("refused on purpose"), std::string::npos) << result.error;
    EXPECT_NE(result.error.find("add `state: cold` to components.analyzer"), std::string::npos) << result.error;
    EXPECT_EQ(served_labels(), before);
    expect_events_still_flow();

    // The way out it names: the replacement starts without the running instance's state.
    const ReloadResult cold =
        runtime_->reload(rewrite_config({{"analyzer", "{path: \"" + refusing.string() + "\", state: cold}"}}));
    ASSERT_TRUE(cold.ok) << cold.error;
    ASSERT_EQ(cold.changes.size(), 1u);
    EXPECT_EQ(cold.changes[0].state, "started cold: components.analyzer.state is cold in the configuration");
    EXPECT_EQ(served_id(ComponentSlot::Analyzer), "org.warmup.test.analyzer.state-refusing");
    expect_events_still_flow();
}

TEST_F(ReloadTest, APluginThatCannotExportItsStateIsReplacedAndItsReplacementStartsCold) {
    // Before, the swap was refused (stage "state") and the plugin that cannot export stayed: the fixed build of it
    // could not be put in. Its state is lost either way (no snapshot holds it either).
    const fs::path refusing = fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "hotswap_state_refusing_analyzer.so";
    start_runtime({{"analyzer", "{path: \"" + refusing.string() + "\", params: {refuse_export: true}}"}});
    ASSERT_TRUE(runtime_->try_ingest(event(model("rhythm/a"), runtime_->clock().now_ms())));
    ASSERT_TRUE(poll_until([&] { return engine_events() == 1; }, kDrainTimeout));

    const ReloadResult result = runtime_->reload(rewrite_config({}));  // the shipped analyzer, the same schema
    ASSERT_TRUE(result.ok) << result.error;
    ASSERT_EQ(result.changes.size(), 1u);
    EXPECT_EQ(result.changes[0].slot, "analyzer");
    EXPECT_NE(result.changes[0].state.find("started cold: the running instance's state could not be exported"),
              std::string::npos)
        << result.changes[0].state;
    EXPECT_NE(result.changes[0].state.find("export refused on purpose"), std::string::npos) << result.changes[0].state;
    EXPECT_EQ(served_id(ComponentSlot::Analyzer), "org.warmup.analyzer.usage-pattern");
    expect_events_still_flow();
}

// --------------------------------------------------------------------------------------------------------------
// State hand-off

TEST_F(ReloadTest, ReplacingTheAnalyzerHandsItsLearnedPatternsOver) {
    start_runtime();
    const warmup_model_index rhythm = model("rhythm/a");
    // 20 uses 3000 ms apart, the last one now: 19 idle gaps, all in bin 12 = [3000, 3250) ms. (The older ones are
    // history, learned but not requests; so the wait is for the ingest queue to be taken, then one control step.)
    const warmup_time_ms last_ms = runtime_->clock().now_ms();
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(runtime_->try_ingest(event(rhythm, last_ms - (19 - i) * 3000)));
    ASSERT_TRUE(poll_until([&] { return runtime_->ingest_backlog() == 0; }, kDrainTimeout));
    ASSERT_GE(engine_events(), 1u);  // the last one (and the one before if taken within 2 s) is a request

    const warmup_time_ms at_ms = last_ms + 1000;  // a fixed "now" for both predictions
    auto predict = [&] {
        return runtime_->call_on_control([&](WarmupEngine& engine) {
            warmup_prediction p{};
            const bool ok = !engine.predict_now(rhythm, at_ms, p).has_value();
            return std::pair{ok, p};
        });
    };
    const auto [ok_before, before] = predict();
    ASSERT_TRUE(ok_before);
    // What the idle-histogram predictor makes of it (hand-computed): the next arrival is the bin's conditional
    // median, 3000 + (9.5 / 19) x 250 = 3125 ms after the last; be ready from the bin start minus the 1000 ms margin.
    ASSERT_EQ(before.next_arrival_ms, last_ms + 3125);
    ASSERT_EQ(before.warm_at_ms, last_ms + 3000 - kReadyMarginMs);

    // follow_window_ms does not touch the histogram geometry: the analyzer is replaced and its state imported as is.
    const ReloadResult result = runtime_->reload(
        rewrite_config({{"analyzer", "{plugin: org.warmup.analyzer.usage-pattern, params: {idle_bin_ms: " +
                                         std::to_string(kIdleBinMs) + ", idle_bins: 240, follow_window_ms: 30000}}"}}));
    ASSERT_TRUE(result.ok) << result.stage << ": " << result.error;
    ASSERT_EQ(result.changes.size(), 1u);
    EXPECT_EQ(result.changes[0].slot, "analyzer");
    EXPECT_EQ(id_of(result.changes[0].from), kAnalyzerId);
    EXPECT_EQ(id_of(result.changes[0].to), kAnalyzerId);
    EXPECT_EQ(result.changes[0].state.rfind("handed over (org.warmup.state.usage-pattern/1, ", 0), 0u)
        << result.changes[0].state;

    const auto [ok_after, after] = predict();
    ASSERT_TRUE(ok_after);
    EXPECT_EQ(after.next_arrival_ms, before.next_arrival_ms);
    EXPECT_EQ(after.warm_at_ms, before.warm_at_ms);
    EXPECT_EQ(after.warm_keep_until_ms, before.warm_keep_until_ms);
    EXPECT_EQ(after.keep_until_ms, before.keep_until_ms);
    EXPECT_EQ(after.horizon_ms, before.horizon_ms);
    EXPECT_EQ(after.p_use_within_horizon, before.p_use_within_horizon);
    EXPECT_EQ(after.confidence, before.confidence);
}

// --------------------------------------------------------------------------------------------------------------
// Rollback

TEST_F(ReloadTest, RollbackReturnsToThePreviousPredictorAndASecondRollbackAnswers409) {
    start_runtime();
    const ReloadResult reload =
        runtime_->reload(rewrite_config({{"predictor", predictor_slot(kKeepAlivePredictorId)}}));
    ASSERT_TRUE(reload.ok) << reload.stage << ": " << reload.error;
    ASSERT_EQ(served_id(ComponentSlot::Predictor), kKeepAlivePredictorId);

    const ReloadResult back = runtime_->rollback();
    ASSERT_TRUE(back.ok) << back.stage << ": " << back.error;
    ASSERT_EQ(back.changes.size(), 1u);
    EXPECT_EQ(id_of(back.changes[0].from), kKeepAlivePredictorId);
    EXPECT_EQ(id_of(back.changes[0].to), kIdlePredictorId);
    EXPECT_EQ(served_id(ComponentSlot::Predictor), kIdlePredictorId);

    const ReloadResult again = runtime_->rollback();
    EXPECT_FALSE(again.ok);
    EXPECT_EQ(again.http_status, 409);
    EXPECT_EQ(again.stage, "config");
    // Reloads did happen: the answer says that rollback goes back one step and has been used.
    EXPECT_NE(again.error.find("a rollback goes back one step"), std::string::npos) << again.error;
    EXPECT_NE(again.error.find("already rolled back"), std::string::npos) << again.error;
    EXPECT_EQ(again.error.find("no successful reload"), std::string::npos) << again.error;
    EXPECT_EQ(served_id(ComponentSlot::Predictor), kIdlePredictorId);

    // After a new reload, one step back is possible again.
    ASSERT_TRUE(runtime_->reload(rewrite_config({{"predictor", predictor_slot(kKeepAlivePredictorId)}})).ok);
    EXPECT_TRUE(runtime_->rollback().ok);
}

TEST_F(ReloadTest, NewParamsForAPluginWithoutStateNameItOnceInTheAnswer) {
    start_runtime({{"predictor", predictor_slot(kKeepAlivePredictorId)}});
    const ReloadResult result = runtime_->reload(rewrite_config(
        {{"predictor", std::string("{plugin: ") + kKeepAlivePredictorId + ", params: {ttl_ms: 123000}}"}}));
    ASSERT_TRUE(result.ok) << result.stage << ": " << result.error;
    ASSERT_EQ(result.changes.size(), 1u);
    EXPECT_EQ(result.changes[0].from, result.changes[0].to);
    EXPECT_EQ(result.changes[0].state, "started cold: " + result.changes[0].to +
                                           " has no state extension (its params or its library changed; nothing "
                                           "learned to hand over)");
}

TEST_F(ReloadTest, RollbackAfterResetToSafeTakesThePredictorBackWithWhatItHadLearned) {
    start_runtime({{"predictor", "{plugin: org.warmup.predictor.cost-curve}"}});
    ingest_rhythm(model("rhythm/a"));
    // Taken on the control thread after the events: what the predictor learned from the rhythm.
    const std::string learned = slot_state("predictor");
    ASSERT_FALSE(learned.empty());

    const OperationResult safe = runtime_->reset_to_safe();  // keep-alive: a predictor without state
    ASSERT_TRUE(safe.ok()) << safe.error;
    ASSERT_EQ(served_id(ComponentSlot::Predictor), kKeepAlivePredictorId);
    expect_rollback_takes_back("predictor", learned,
                               "the running instance had nothing to hand over: org.warmup.predictor.keep-alive@1.0.0 "
                               "(the replaced one) has no state extension)");
}

TEST_F(ReloadTest, RollbackKeepsWhatTheTakenBackInstanceLearnedWhenItCannotReadTheRunningOnesState) {
    // The running analyzer (a test plugin with the real one's schema) exports a state the real analyzer refuses, as
    // a newer plugin's state can be refused by the older version a rollback takes back.
    start_runtime();
    ingest_rhythm(model("rhythm/a"));
    const std::string learned = slot_state("analyzer");
    ASSERT_FALSE(learned.empty());
    const fs::path other = fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "hotswap_state_refusing_analyzer.so";
    const ReloadResult forward = runtime_->reload(
        rewrite_config({{"analyzer", "{path: \"" + other.string() + "\", params: {refuse_import: false}}"}}));
    ASSERT_TRUE(forward.ok) << forward.stage << ": " << forward.error;
    expect_rollback_takes_back("analyzer", learned, "the running instance's state could not be handed over: ");
    // A new instance that cannot read the running one's state is still refused: forward again, then to a new
    // instance of the real analyzer (other params), which refuses the test plugin's empty state.
    ASSERT_TRUE(runtime_
                    ->reload(rewrite_config(
                        {{"analyzer", "{path: \"" + other.string() + "\", params: {refuse_import: false}}"}}))
                    .ok);
    const ReloadResult fresh = runtime_->reload(rewrite_config(
        {{"analyzer", "{plugin: org.warmup.analyzer.usage-pattern, params: {idle_bin_ms: 60000, idle_bins: 120}}"}}));
    EXPECT_FALSE(fresh.ok);
    EXPECT_EQ(fresh.stage, "state") << fresh.error;
}

TEST_F(ReloadTest, AFailingPredictorReplacedByANewInstanceIsNoLongerReportedDegraded) {
    const std::string flaky = (fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "engine_breaker_flaky_predictor.so").string();
    start_runtime({{"predictor", "{path: \"" + flaky + "\", params: {failing_calls: 1000}}"}});
    const warmup_model_index rhythm = model("rhythm/a");
    ASSERT_TRUE(runtime_->try_ingest(event(rhythm, runtime_->clock().now_ms())));
    const auto predictor_health = [&] {
        for (const ComponentHealth& component : runtime_->component_health())
            if (component.component == "predictor") return component;
        return ComponentHealth{};
    };
    ASSERT_TRUE(poll_until([&] { return predictor_health().degraded; }, kDrainTimeout));
    const uint64_t errors = predictor_health().errors;
    ASSERT_GE(errors, 1u);

    // The same plugin with params that make it answer: a new instance under the same label.
    const ReloadResult fixed =
        runtime_->reload(rewrite_config({{"predictor", "{path: \"" + flaky + "\", params: {failing_calls: 0}}"}}));
    ASSERT_TRUE(fixed.ok) << fixed.stage << ": " << fixed.error;
    const ComponentHealth after = predictor_health();
    EXPECT_FALSE(after.degraded) << after.reason;
    EXPECT_GE(after.errors, errors);  // the count since start stays
    // The last error keeps its time, and says it was the replaced instance's.
    EXPECT_GT(after.last_error_unix_ms, 0);
    EXPECT_TRUE(after.last_error_replaced);
    EXPECT_NE(after.last_error.find("fails on purpose"), std::string::npos) << after.last_error;
}

TEST_F(ReloadTest, ANewPluginThatFailsWhileEveryModelIsPlannedAgainIsSaidInTheAnswer) {
    start_runtime();
    ASSERT_TRUE(runtime_->try_ingest(event(model("rhythm/a"), runtime_->clock().now_ms())));
    // Loaded (the sim backend runs at 1/100 of catalog time): a swap plans every loaded or absent model again.
    const warmup_model_index rhythm = model("rhythm/a");
    ASSERT_TRUE(poll_until(
        [&] {
            return runtime_->call_on_control(
                [&](WarmupEngine& engine) { return engine.model_status(rhythm).residency == WARMUP_RESIDENCY_READY; });
        },
        kDrainTimeout));
    const std::string flaky = (fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "engine_breaker_flaky_predictor.so").string();
    const ReloadResult swapped =
        runtime_->reload(rewrite_config({{"predictor", "{path: \"" + flaky + "\", params: {failing_calls: 1000}}"}}));
    ASSERT_TRUE(swapped.ok) << swapped.error;  // the swap itself succeeds: the fallback plans meanwhile
    std::string notes;
    for (const std::string& note : swapped.notes) notes += note + "\n";
    EXPECT_NE(notes.find("plugin call(s) failed or ran over their budget"), std::string::npos) << notes;
}

TEST_F(ReloadTest, AReloadStuckInAPluginConstructorMakesTheNextOnesAnswerInsteadOfWaiting) {
    config_file_ = dir_.write("hotswap.yaml", config_yaml());
    Config config = load_config_file(config_file_, {});
    config.plugin_call_stall_ms = 300;
    config.state.enabled = true;  // a refused reset-to-safe must not replace the backup an earlier one left
    config.state.dir = dir_.path() / "state";
    runtime_ = std::make_unique<LiveRuntime>(config);
    runtime_->start();
    runtime_->start_state_keeping();
    const std::string flaky = (fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "engine_breaker_flaky_predictor.so").string();
    Config slow = rewrite_config(
        {{"predictor", "{path: \"" + flaky + "\", params: {failing_calls: 0, create_sleep_us: 3000000}}"}});
    slow.plugin_call_stall_ms = 300;
    slow.state = config.state;
    ReloadResult slow_result;
    std::thread reloading([&] { slow_result = runtime_->reload(slow); });
    std::this_thread::sleep_for(100ms);  // the reload holds the lock, creating the plugin

    const auto started = std::chrono::steady_clock::now();
    const ReloadResult rollback = runtime_->rollback();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
    EXPECT_EQ(rollback.http_status, 503);
    EXPECT_EQ(rollback.stage, "busy");
    EXPECT_NE(rollback.error.find("has not returned from its constructor"), std::string::npos) << rollback.error;
    const OperationResult safe = runtime_->reset_to_safe();
    EXPECT_EQ(safe.http_status, 503) << safe.error;
    EXPECT_FALSE(fs::exists(dir_.path() / "state" / "backup-before-reset-to-safe.wsnap")) << "refused: no backup";
    // Said without a retry too: the engine's health is degraded with the same words while it lasts.
    const auto engine_health = [&] {
        for (const ComponentHealth& component : runtime_->component_health())
            if (component.component == "engine") return component;
        return ComponentHealth{};
    };
    const ReloadResult from_file = runtime_->reload_from_file();  // SIGHUP's: refused as busy, noted as failed
    EXPECT_EQ(from_file.stage, "busy") << from_file.error;
    const ComponentHealth stalled = engine_health();
    EXPECT_TRUE(stalled.degraded);
    const std::string said = "has not returned from its constructor";
    const std::size_t first = stalled.reason.find(said);
    EXPECT_NE(first, std::string::npos) << stalled.reason;
    EXPECT_EQ(stalled.reason.find(said, first + 1), std::string::npos) << "said once: " << stalled.reason;

    reloading.join();  // the constructor returns after 3 s: that reload completes
    EXPECT_TRUE(slow_result.ok) << slow_result.error;
    EXPECT_FALSE(engine_health().degraded) << engine_health().reason;
    const ReloadResult back = runtime_->rollback();  // and the lock is free again
    EXPECT_TRUE(back.ok) << back.error;
}

TEST_F(ReloadTest, RollbackBeforeAnyChangeSaysNothingHasChangedYet) {
    start_runtime();
    const ReloadResult unchanged = runtime_->reload(rewrite_config({}));  // the same file: nothing changes
    ASSERT_TRUE(unchanged.ok) << unchanged.error;
    ASSERT_FALSE(unchanged.changed);
    const ReloadResult refused = runtime_->rollback();
    EXPECT_EQ(refused.http_status, 409);
    EXPECT_NE(refused.error.find("no reload or reset-to-safe has changed the configuration"), std::string::npos)
        << refused.error;
}

// --------------------------------------------------------------------------------------------------------------
// Settings outside the plugin set

/// `notes` joined, one per line, for the failure messages.
std::string joined(const std::vector<std::string>& notes) {
    std::string all;
    for (const auto& note : notes) all += note + "\n";
    return all;
}
bool has_note(const ReloadResult& result, const std::string& part) {
    return std::any_of(result.notes.begin(), result.notes.end(),
                       [&](const std::string& note) { return note.find(part) != std::string::npos; });
}

TEST_F(ReloadTest, RestartOnlyChangesAreComparedWithWhatTheProcessStartedWith) {
    start_runtime();
    const std::string started = config_yaml();
    std::string pending = started;
    const auto change = [&](const std::string& from, const std::string& to) {
        pending.replace(pending.find(from), from.size(), to);
    };
    change("port: 3000}", "port: 3000, threads: 32}");
    change("  memory_mb: 100000\n", "  memory_mb: 100000\n  max_concurrent_warmups: 3\n");
    const std::string http_note = "http changed: takes effect at the next restart";
    const std::string workers_note = "budgets.max_concurrent_warmups changed: takes effect at the next restart";

    dir_.write("hotswap.yaml", pending);
    const ReloadResult first = runtime_->reload_from_file();
    ASSERT_TRUE(first.ok) << first.error;
    EXPECT_TRUE(has_note(first, http_note)) << joined(first.notes);
    EXPECT_TRUE(has_note(first, workers_note)) << joined(first.notes);
    // The process still runs the values it started with: every later reload says the change is pending.
    const ReloadResult again = runtime_->reload_from_file();
    ASSERT_TRUE(again.ok) << again.error;
    EXPECT_TRUE(has_note(again, http_note)) << joined(again.notes);
    EXPECT_TRUE(has_note(again, workers_note)) << joined(again.notes);
    EXPECT_FALSE(again.changed);
    // Back to the values in force: nothing waits for a restart.
    dir_.write("hotswap.yaml", started);
    const ReloadResult back = runtime_->reload_from_file();
    ASSERT_TRUE(back.ok) << back.error;
    EXPECT_FALSE(has_note(back, "next restart")) << joined(back.notes);
    EXPECT_EQ(runtime_->config().http.threads, 64u);
    EXPECT_EQ(runtime_->config().max_concurrent_warmups, 2u);
}

TEST_F(ReloadTest, ACatalogThatDropsALearnedModelSaysTheNextStartLosesTheLearnedState) {
    start_runtime();
    ingest_rhythm(model("rhythm/a"));
    (void)model("load/x");  // learned too
    const std::string started = config_yaml();
    const std::string learned_entry = "  - {model: \"rhythm/a\", memory_mb: 1000, load_ms: 400, unload_ms: 50}\n";
    ASSERT_NE(started.find(learned_entry), std::string::npos);
    std::string dropped = started;
    dropped.erase(dropped.find(learned_entry), learned_entry.size());
    dir_.write("hotswap.yaml", dropped);
    const ReloadResult reload = runtime_->reload_from_file();
    ASSERT_TRUE(reload.ok) << reload.error;
    EXPECT_TRUE(has_note(reload, "catalog changed: takes effect at the next restart")) << joined(reload.notes);
    EXPECT_TRUE(has_note(reload, "no entry for 1 model(s) this daemon has learned ('rhythm/a')"))
        << joined(reload.notes);
    EXPECT_TRUE(has_note(reload, "starts without any model's learned state")) << joined(reload.notes);

    // A model only the new catalog covers is refused until the restart, and the refusal says why.
    EXPECT_FALSE(runtime_->covered_only_at_next_start("rhythm/a"));  // still in force until the restart
    std::string added = started;
    added += "  - {model: \"later/*\", memory_mb: 10, load_ms: 20}\n";
    dir_.write("hotswap.yaml", added);
    ASSERT_TRUE(runtime_->reload_from_file().ok);
    EXPECT_TRUE(runtime_->covered_only_at_next_start("later/x"));
    EXPECT_FALSE(runtime_->covered_only_at_next_start("nobody"));

    // Changed figures, or a glob that still covers it: the state is restored, nothing to warn about.
    std::string renamed = started;
    renamed.replace(renamed.find(learned_entry), learned_entry.size(),
                    "  - {model: \"rhythm/*\", memory_mb: 2000, load_ms: 400, unload_ms: 50}\n");
    dir_.write("hotswap.yaml", renamed);
    const ReloadResult covered = runtime_->reload_from_file();
    ASSERT_TRUE(covered.ok) << covered.error;
    EXPECT_TRUE(has_note(covered, "catalog changed")) << joined(covered.notes);
    EXPECT_FALSE(has_note(covered, "learned state")) << joined(covered.notes);
}

TEST_F(ReloadTest, AReloadTurnsTheFileWatchOnAndOffAtOnceAndSaysSo) {
    start_runtime();
    // The raw pointer: the callback may still run while runtime_ is being reset (the destructor stops the watch).
    runtime_->start_config_file_watch([runtime = runtime_.get()] { (void)runtime->reload_from_file(); });
    // Replaced whole (rename): the watcher never reads a half-written file. Each edit is numbered and longer than
    // the one before, so its size changes with its content: the watch sees it whatever the file system's timestamp
    // granularity.
    int edits = 0;
    std::size_t last_size = 0;
    const auto replace_config = [&](std::string yaml) {
        yaml += "# edit " + std::to_string(++edits) + "\n";
        if (yaml.size() <= last_size) yaml += "#" + std::string(last_size - yaml.size(), '.') + "\n";
        last_size = yaml.size();
        fs::rename(dir_.write("hotswap.yaml.new", yaml), config_file_);
    };
    const std::string keep_alive = config_yaml({{"predictor", predictor_slot(kKeepAlivePredictorId)}});

    replace_config(config_yaml() + "reload: {watch_file: true, poll_ms: 100}\n");
    const ReloadResult on = runtime_->reload_from_file();
    ASSERT_TRUE(on.ok) << on.error;
    EXPECT_TRUE(on.changed);
    EXPECT_TRUE(has_note(on, "reload.watch_file: off -> on")) << joined(on.notes);
    EXPECT_TRUE(has_note(on, "reload.poll_ms: 1000 -> 100 ms")) << joined(on.notes);
    EXPECT_FALSE(has_note(on, "next restart")) << joined(on.notes);

    // Watching now: an edit is reloaded without a request. The count moves once the reload has answered, on the
    // watcher's thread (the served predictor changes earlier, on the control thread): waiting for the count means
    // that reload is over before the next edit.
    const uint64_t reloaded = runtime_->reload_counts().reloaded;
    replace_config(keep_alive + "reload: {watch_file: true, poll_ms: 100}\n");
    ASSERT_TRUE(poll_until([&] { return runtime_->reload_counts().reloaded == reloaded + 1; }, kDrainTimeout));
    EXPECT_EQ(served_id(ComponentSlot::Predictor), kKeepAlivePredictorId);

    // Turned off by an edit the watch itself reloads: from then on, edits wait for a request.
    replace_config(keep_alive + "reload: {watch_file: false, poll_ms: 100}\n");
    ASSERT_TRUE(poll_until([&] { return runtime_->reload_counts().reloaded == reloaded + 2; }, kDrainTimeout));
    replace_config(config_yaml() + "reload: {watch_file: false, poll_ms: 100}\n");
    std::this_thread::sleep_for(1s);  // ten polls, had the watch kept running
    EXPECT_EQ(served_id(ComponentSlot::Predictor), kKeepAlivePredictorId);
    EXPECT_EQ(runtime_->reload_counts().reloaded, reloaded + 2);
    const ReloadResult by_request = runtime_->reload_from_file();
    ASSERT_TRUE(by_request.ok) << by_request.error;
    EXPECT_EQ(served_id(ComponentSlot::Predictor), kIdlePredictorId);
}

// The file watch starts from the file as it was just before the configuration turning it on was read, so an edit
// saved between that read and the moment the watch is on (a daemon creates the plugins meanwhile, which may take
// seconds) is reloaded rather than taken as already read.

TEST_F(ReloadTest, AnEditSavedWhileAReloadTurnsTheWatchOnIsReloaded) {
    start_runtime();
    runtime_->start_config_file_watch([runtime = runtime_.get()] { (void)runtime->reload_from_file(); });
    const std::string watch_on = "reload: {watch_file: true, poll_ms: 100}\n";
    dir_.write("hotswap.yaml", config_yaml() + watch_on);
    Config watching = load_config_file(config_file_, {});  // read by the reload ...
    // ... and edited before that reload is in force (longer: its size changes too).
    dir_.write("hotswap.yaml", config_yaml({{"predictor", predictor_slot(kKeepAlivePredictorId)}}) + watch_on +
                                   "# saved while the reload was under way\n");
    ASSERT_TRUE(watching.source_stamp.has_value());
    ASSERT_NE(file_stamp(config_file_), *watching.source_stamp);

    const ReloadResult on = runtime_->reload(std::move(watching));
    ASSERT_TRUE(on.ok) << on.error;
    EXPECT_TRUE(has_note(on, "reload.watch_file: off -> on")) << joined(on.notes);
    EXPECT_EQ(served_id(ComponentSlot::Predictor), kIdlePredictorId);
    EXPECT_TRUE(
        poll_until([&] { return served_id(ComponentSlot::Predictor) == kKeepAlivePredictorId; }, kDrainTimeout));
}

TEST_F(ReloadTest, AnEditSavedWhileTheRuntimeStartsIsReloadedOnceTheWatchRuns) {
    const std::string watch_on = "reload: {watch_file: true, poll_ms: 100}\n";
    config_file_ = dir_.write("hotswap.yaml", config_yaml() + watch_on);
    Config started = load_config_file(config_file_, {});  // read at start ...
    // ... and edited while the plugins are created, before the watch runs.
    dir_.write("hotswap.yaml", config_yaml({{"predictor", predictor_slot(kKeepAlivePredictorId)}}) + watch_on +
                                   "# saved while the daemon was starting\n");
    ASSERT_NE(file_stamp(config_file_), started.source_stamp.value());
    runtime_ = std::make_unique<LiveRuntime>(std::move(started));
    runtime_->start();
    EXPECT_EQ(served_id(ComponentSlot::Predictor), kIdlePredictorId);

    runtime_->start_config_file_watch([runtime = runtime_.get()] { (void)runtime->reload_from_file(); });
    EXPECT_TRUE(
        poll_until([&] { return served_id(ComponentSlot::Predictor) == kKeepAlivePredictorId; }, kDrainTimeout));
}

}  // namespace

namespace warmup::host {
namespace {

using namespace std::chrono_literals;
using test::config_text;
using test::keep_alive_predictor;
using test::TransitionsTest;
using warmup::test::poll_until;

// --------------------------------------------------------------------------------------------------------------
// What a reload puts in force at once

TEST_F(TransitionsTest, APredictorSwapARollbackAndResetToSafeReplanLoadedModelsAtOnce) {
    start(config(keep_alive_predictor(600'000)));
    const warmup_time_ms used_ms = use_and_wait_ready("m/a");
    ASSERT_EQ(status_of("m/a").unload_at_ms, used_ms + 600'000);

    // A shorter keep-alive: the loaded model's unload moves at once, not at its next request.
    const ReloadResult swapped = runtime_->reload(config(keep_alive_predictor(3'600'000)));
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

TEST_F(TransitionsTest, PlannedPrewarmsComeBackWhenAReloadLeavesTheSafeConfiguration) {
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

TEST_F(TransitionsTest, AReloadWithASmallerBudgetEvictsReadyModelsButNeverALoadingOne) {
    // time_scale 1: m/* load in 5 ms, slow/* in 60 s (cancelled when the test stops the runtime).
    const Config running =
        load_config_text(config_text(1.0, 2, "", keep_alive_predictor(3'600'000)), "budget.yaml", dir_.path(), {});
    start(running);
    for (int i = 0; i < 5; ++i) use_and_wait_ready("m/" + std::to_string(i));  // 500 MiB ready, m/0 least recent
    ingest("slow/x", runtime_->clock().now_ms());
    ASSERT_TRUE(poll_until([&] { return residency("slow/x") == WARMUP_RESIDENCY_LOADING; }, 5s));

    Config smaller = running;
    smaller.memory_budget.absolute_mb = 250;  // 600 MiB charged: 500 ready + 100 loading
    const ReloadResult reloaded = runtime_->reload(smaller);
    ASSERT_TRUE(reloaded.ok) << reloaded.error;
    EXPECT_EQ(reload_json(reloaded)["status"], "reloaded");
    // Four ready models go (m/0..m/3, least recently used first): 100 ready + 100 loading = 200 <= 250, once their
    // unloads are over (until then their memory stays charged: the server still holds them).
    EXPECT_EQ(counters().evictions, 4u);
    const auto charged = [&] {
        return runtime_->call_on_control([](WarmupEngine& engine) {
            return std::pair{engine.used_mb(), engine.unloading_mb()};
        });
    };
    const auto [used_at_reload, unloading_at_reload] = charged();
    EXPECT_DOUBLE_EQ(used_at_reload - unloading_at_reload, 200);
    ASSERT_TRUE(poll_until([&] { return charged().second == 0; }, 5s));
    EXPECT_DOUBLE_EQ(charged().first, 200);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(residency("m/" + std::to_string(i)), WARMUP_RESIDENCY_ABSENT) << i;
    EXPECT_EQ(residency("m/4"), WARMUP_RESIDENCY_READY);
    EXPECT_EQ(residency("slow/x"), WARMUP_RESIDENCY_LOADING);
}

}  // namespace
}  // namespace warmup::host
