// Retries of failed loads (WarmupEngine::run_timers), on an engine stepped by hand with a predictor whose plan is fixed
// (keep 1 s after a use, pre-warm for 60 s after it, keep the pre-warmed model until 65 s) and the lead-time
// scheduler's back-off (1 s, then 2 s; given up at the 3rd failure). A retry of a pre-warm that comes after the
// pre-warm's keep window is dropped (the model would be unloaded as soon as it loaded); a retry inside the window, a
// retry with requests waiting and a retry of an operator's restore of the warm set still load, whatever the time.
#include <gtest/gtest.h>

#include <span>
#include <string>
#include <vector>

#include "engine/decision_log.hpp"
#include "manual_engine.hpp"

namespace warmup::host {
namespace {

constexpr int64_t kPrewarmTargetMs = 60'000;     // the use after the first request, at 0
constexpr int64_t kPrewarmKeptUntilMs = 65'000;  // the pre-warm's keep window ends here

class EngineRetry : public ::testing::Test {
  protected:
    EngineRetry() : engine_(setup(log_)) {}

    static test::ManualEngineSetup setup(DecisionLog& log) {
        test::ManualEngineSetup setup;
        setup.components["predictor"] =
            "{plugin: org.warmup.test.fixed-prewarm-predictor, params: {keep_ms: 1000, warm_after_ms: " +
            std::to_string(kPrewarmTargetMs) +
            ", warm_keep_ms: " + std::to_string(kPrewarmKeptUntilMs - kPrewarmTargetMs) + "}}";
        setup.catalog = {"{model: a, memory_mb: 1000, load_ms: 1000}"};
        setup.options.memory_budget_mb = 4000;
        setup.options.max_concurrent_loads = 2;
        setup.options.decisions = &log;
        return setup;
    }

    [[nodiscard]] ModelStatus status() const { return engine_.engine().model_status(engine_.model("a")); }

    /// A request at 0, its load done at 1000, the unload at 1000 (keep 1 s) and the planned pre-warm started.
    /// Returns when the pre-warm started.
    int64_t start_the_prewarm() {
        engine_.request("a", 0);
        engine_.complete_next_load(1000);
        engine_.run_timers(1000);
        EXPECT_EQ(status().residency, WARMUP_RESIDENCY_ABSENT);
        const int64_t prewarm_at = status().warm_start_at_ms;
        EXPECT_LT(prewarm_at, kPrewarmTargetMs);
        engine_.run_timers(prewarm_at);
        EXPECT_EQ(engine_.started().size(), 2u) << "the demand load, then the pre-warm";
        return prewarm_at;
    }

    DecisionLog log_;
    test::ManualEngine engine_;
};

TEST_F(EngineRetry, APrewarmRetryDueAfterThePrewarmsKeepWindowIsDroppedNotLoaded) {
    const int64_t prewarm_at = start_the_prewarm();
    engine_.fail_next_load(prewarm_at + 500);  // attempt 1: retry 1 s later, inside the window
    engine_.run_timers(prewarm_at + 1500);
    ASSERT_EQ(engine_.started().size(), 3u) << "a retry inside the pre-warm's keep window loads";

    engine_.fail_next_load(kPrewarmKeptUntilMs + 1000);  // attempt 2: retry 2 s later, past the window
    const uint64_t skipped_before = engine_.engine().counters().prewarms_skipped;
    engine_.run_timers(kPrewarmKeptUntilMs + 3000);

    EXPECT_EQ(engine_.started().size(), 3u) << "loaded only to be unloaded at once";
    EXPECT_EQ(status().residency, WARMUP_RESIDENCY_ABSENT);
    EXPECT_EQ(engine_.engine().next_timer_ms(), WARMUP_TIME_NEVER) << "nothing left pending for the model";
    EXPECT_EQ(engine_.engine().counters().prewarms_skipped, skipped_before + 1);
    EXPECT_EQ(engine_.engine().counters().loads_failed, 2u);
    EXPECT_EQ(engine_.engine().counters().loads_given_up, 0u) << "not a failure: no longer wanted";
    const auto decisions = log_.newest(engine_.model("a"), 1);
    ASSERT_EQ(decisions.size(), 1u);
    EXPECT_EQ(decisions[0].kind, DecisionKind::Skip);
    EXPECT_EQ(std::string(decisions[0].reason),
              "retry dropped: no request waits for the model and its pre-warm's keep window has ended");
    EXPECT_EQ(decisions[0].decided_by, "engine");
    EXPECT_EQ(decisions[0].until_ms, kPrewarmKeptUntilMs) << "when the window ended";
    EXPECT_EQ(decisions[0].attempt, 2u);

    // The next request is an ordinary demand load, counted from a first attempt again.
    engine_.request("a", kPrewarmKeptUntilMs + 10'000);
    EXPECT_EQ(engine_.started().size(), 4u);
    engine_.fail_next_load(kPrewarmKeptUntilMs + 11'000);
    EXPECT_EQ(log_.newest(engine_.model("a"), 1).at(0).attempt, 1u);
}

TEST_F(EngineRetry, APlanMadeAgainAfterAStateImportKeepsAnUnusedPrewarmForItsWindow) {
    // What the fleet does after it imports or forgets a model's state: a fresh plan from what the plugins hold. A
    // pre-warmed model nobody has used yet is planned as one (trigger WARMED: the scheduler holds it for the
    // pre-warm's window), as replan_all does, not as a timer's re-plan (which a scheduler reads as "re-evaluate from
    // the last use").
    const int64_t prewarm_at = start_the_prewarm();
    engine_.complete_next_load(prewarm_at + 1000);
    ASSERT_EQ(status().residency, WARMUP_RESIDENCY_READY);
    engine_.engine().replan_now(engine_.model("a"), prewarm_at + 2000);
    const auto decisions = log_.newest(engine_.model("a"), 1);
    ASSERT_EQ(decisions.size(), 1u);
    EXPECT_EQ(std::string(decisions[0].reason), "planned after a pre-warm finished");
    engine_.run_timers(prewarm_at + 2000);
    EXPECT_EQ(status().residency, WARMUP_RESIDENCY_READY);
    EXPECT_EQ(status().unload_at_ms, kPrewarmKeptUntilMs);
    engine_.run_timers(kPrewarmKeptUntilMs);
    EXPECT_EQ(status().residency, WARMUP_RESIDENCY_ABSENT);
}

TEST_F(EngineRetry, ARestoreOfTheWarmSetIsRetriedWhateverThePlansWindowSays) {
    // The plan's pre-warm failed and its retry came after the window (dropped): the plan no longer wants the model.
    const int64_t prewarm_at = start_the_prewarm();
    engine_.fail_next_load(kPrewarmKeptUntilMs + 1000);
    engine_.run_timers(kPrewarmKeptUntilMs + 2000);
    ASSERT_EQ(engine_.started().size(), 2u);
    EXPECT_LT(prewarm_at, kPrewarmKeptUntilMs);

    // An operator's restore asks for it all the same: each of its retries loads, even with the window long over.
    const int64_t restore_at = kPrewarmKeptUntilMs + 10'000;
    engine_.engine().request_prewarm(engine_.model("a"), restore_at);
    ASSERT_EQ(engine_.started().size(), 3u);
    engine_.fail_next_load(restore_at + 1000);  // attempt 1: retry 1 s later
    engine_.run_timers(restore_at + 2000);
    ASSERT_EQ(engine_.started().size(), 4u);
    EXPECT_EQ(std::string(log_.newest(engine_.model("a"), 1).at(0).reason),
              "retry of a failed restore of the warm set");
    engine_.fail_next_load(restore_at + 3000);  // attempt 2: retry 2 s later
    engine_.run_timers(restore_at + 5000);
    EXPECT_EQ(engine_.started().size(), 5u);
    EXPECT_EQ(status().cause, LoadCause::Restore);
}

TEST_F(EngineRetry, ARestoreHandedOverFromAnotherArmStaysOneThroughItsRetries) {
    // A model another arm held, never requested here: once its restore loads, after a failed attempt, it is kept for
    // the built-in keep-alive (a plan from these books would unload it at once), not planned.
    engine_.engine().request_prewarm(engine_.model("a"), 0, /*handed_over=*/true);
    ASSERT_EQ(engine_.started().size(), 1u);
    engine_.fail_next_load(1000);  // retried 1 s later
    engine_.run_timers(2000);
    ASSERT_EQ(engine_.started().size(), 2u);
    engine_.complete_next_load(3000);
    EXPECT_EQ(status().residency, WARMUP_RESIDENCY_READY);
    EXPECT_EQ(status().cause, LoadCause::Adopted);
    EXPECT_EQ(std::string(log_.newest(engine_.model("a"), 1).at(0).reason),
              "restored from the warm set another arm held, never requested in these books; kept for the built-in "
              "keep-alive until a request plans it");
    EXPECT_EQ(status().unload_at_ms, 3000 + test::ManualEngineSetup{}.options.fallback_keep_alive_ms);
}

TEST(EngineRestoreQueued, ARestoreHandedOverStaysOneWhenTheQueuePluginIsReplacedWhileItWaits) {
    // Both load slots busy, so the restore waits in the queue plugin; a reload then swaps every plugin instance.
    test::ManualEngineSetup setup = test::keep_alive_setup(8000);
    test::ManualEngine engine(setup);
    engine.request("b", 0);
    engine.request("c", 0);
    engine.engine().request_prewarm(engine.model("a"), 0, /*handed_over=*/true);
    ASSERT_EQ(engine.started().size(), 2u);
    ASSERT_EQ(engine.engine().model_status(engine.model("a")).residency, WARMUP_RESIDENCY_QUEUED);
    engine.replace_components(500);
    engine.complete_next_load(1000);
    ASSERT_EQ(engine.started().size(), 3u) << "the restore starts in the freed slot";
    engine.complete_all_loads(2000);
    // Loaded as the restore it was: kept for the built-in keep-alive, not planned from books that never saw a request.
    const ModelStatus a = engine.engine().model_status(engine.model("a"));
    EXPECT_EQ(a.residency, WARMUP_RESIDENCY_READY);
    EXPECT_EQ(a.cause, LoadCause::Adopted);
}

TEST_F(EngineRetry, ARetryPlannedBeforeTheModelWasAdoptedNeverLoadsIt) {
    const int64_t prewarm_at = start_the_prewarm();
    engine_.fail_next_load(prewarm_at + 500);  // a retry is planned 1 s later
    const ReportedResident found{engine_.model("a"), 1000};
    engine_.engine().adopt_resident(std::span(&found, 1), prewarm_at + 1000);  // another client loaded it meanwhile
    ASSERT_EQ(status().residency, WARMUP_RESIDENCY_READY);

    // Kept through the pre-warm's window, then unloaded; the retry planned before the adoption must not load it again.
    engine_.run_timers(kPrewarmKeptUntilMs);
    EXPECT_EQ(status().residency, WARMUP_RESIDENCY_ABSENT);
    EXPECT_EQ(engine_.started().size(), 2u);
    EXPECT_EQ(engine_.engine().next_timer_ms(), WARMUP_TIME_NEVER);
}

TEST_F(EngineRetry, ARetryWithARequestWaitingLoadsEvenAfterTheKeepWindow) {
    const int64_t request_at = start_the_prewarm() + 100;
    engine_.request("a", request_at);  // waits for the pre-warm, still loading; the plan's windows now follow it
    const int64_t window_end = request_at + kPrewarmKeptUntilMs;
    engine_.fail_next_load(window_end + 1000);  // attempt 1: retry 1 s later, past the keep window
    engine_.run_timers(window_end + 2000);
    EXPECT_EQ(engine_.started().size(), 3u) << "a request waits: the retry loads, as a demand load";
    EXPECT_EQ(status().residency, WARMUP_RESIDENCY_LOADING);
    EXPECT_EQ(engine_.engine().counters().prewarms_skipped, 0u);
}

TEST_F(EngineRetry, AFailedDemandLoadIsRetriedLongAfterThePlansWindows) {
    engine_.request("a", 0);
    engine_.fail_next_load(1000);  // retry at 2000; the request still waits
    engine_.run_timers(kPrewarmKeptUntilMs + 60'000);
    EXPECT_EQ(engine_.started().size(), 2u);
    EXPECT_EQ(status().residency, WARMUP_RESIDENCY_LOADING);
    engine_.complete_next_load(kPrewarmKeptUntilMs + 61'000);
    EXPECT_EQ(status().residency, WARMUP_RESIDENCY_READY);
    EXPECT_EQ(engine_.engine().counters().failed_requests, 0u);
}

}  // namespace
}  // namespace warmup::host
