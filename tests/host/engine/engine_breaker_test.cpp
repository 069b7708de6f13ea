// Circuit breakers of WarmupEngine, pinned with a deliberately failing predictor (org.warmup.test.flaky-predictor
// from build/tests/bad-plugins) and the real plugins for the other components. The engine is stepped by hand: every
// request and load completion is an explicit call, so the number of predictor calls is known exactly:
//   - a request for an absent model plans it once (1 predict call) and queues a demand load;
//   - the load's completion plans it again (1 call), since a request was waiting;
//   - a request for a ready model plans it once (1 call); timers (unloads) never call the predictor.
// Breaker settings: open after 5 consecutive failures, cool-down 30 s, fallback keep-alive 60 s.
#include <gtest/gtest.h>

#include <string>

#include "manual_engine.hpp"

namespace warmup::host {
namespace {

constexpr int64_t kCooldownMs = 30'000;
constexpr int64_t kFallbackKeepAliveMs = 60'000;
constexpr int64_t kModelLoadMs = 1'000;

/// One engine over one model `m` (1 GiB, 1 s load) with the flaky predictor configured by `predictor_params`.
class BreakerFixture : public test::ManualEngine {
  public:
    explicit BreakerFixture(const std::string& predictor_params, int64_t call_budget_us = 10'000'000)
        : ManualEngine(setup(predictor_params, call_budget_us)) {}

    /// One request for `m` at t_ms (plus the completion of the load it starts, if any, kModelLoadMs later).
    void request(int64_t t_ms, bool complete_load = true) {
        const std::size_t before = started().size();
        ManualEngine::request("m", t_ms);
        if (complete_load && started().size() > before) complete_next_load(t_ms + kModelLoadMs, kModelLoadMs);
    }

    [[nodiscard]] uint64_t predictor_errors() const { return errors(ComponentKind::Predictor); }
    [[nodiscard]] const CircuitStatus& breaker() const { return engine().circuit(ComponentKind::Predictor); }
    [[nodiscard]] CircuitState state() const { return engine().circuit_state(ComponentKind::Predictor); }
    [[nodiscard]] ModelStatus status() const { return engine().model_status(model("m")); }

  private:
    static test::ManualEngineSetup setup(const std::string& predictor_params, int64_t call_budget_us) {
        test::ManualEngineSetup setup;
        setup.components["predictor"] = "{plugin: org.warmup.test.flaky-predictor, params: " + predictor_params + "}";
        setup.catalog = {"{model: m, memory_mb: 1024, load_ms: " + std::to_string(kModelLoadMs) + "}"};
        setup.options.memory_budget_mb = 4096;
        setup.options.fallback_keep_alive_ms = kFallbackKeepAliveMs;
        setup.options.breaker_failures = 5;
        setup.options.breaker_cooldown_ms = kCooldownMs;
        setup.options.breaker_call_budget_us = call_budget_us;
        return setup;
    }
};

/// Five failing predict calls: request at 0 (1), its load completing at 1000 (2), requests at 2000, 3000, 4000
/// (3, 4, 5). The circuit opens at t = 4000.
void fail_five_times(BreakerFixture& fixture) {
    fixture.request(0);
    for (const int64_t t : {2000, 3000}) fixture.request(t);
    ASSERT_EQ(fixture.predictor_errors(), 4u);
    ASSERT_EQ(fixture.state(), CircuitState::Closed) << "4 failures are below the threshold of 5";
    ASSERT_EQ(fixture.breaker().consecutive_failures, 4u);
    fixture.request(4000);
}

TEST(EngineBreaker, OpensAfterFiveConsecutiveFailuresAndStopsCallingThePredictor) {
    BreakerFixture fixture("{}");  // every call fails
    fail_five_times(fixture);
    EXPECT_EQ(fixture.predictor_errors(), 5u);
    EXPECT_EQ(fixture.state(), CircuitState::Open);
    EXPECT_EQ(fixture.breaker().times_opened, 1u);
    EXPECT_EQ(fixture.breaker().opened_at_ms, 4000);
    EXPECT_NE(fixture.breaker().last_error.find("fails on purpose"), std::string::npos) << fixture.breaker().last_error;

    // While open (cool-down ends at 34 000), requests plan without the predictor: its error count stays at 5.
    for (const int64_t t : {5000, 6000, 10'000}) fixture.request(t);
    EXPECT_EQ(fixture.predictor_errors(), 5u);
    EXPECT_EQ(fixture.state(), CircuitState::Open);
    // The fallback keep-alive: unload 60 s after the last use (10 000).
    EXPECT_EQ(fixture.status().residency, WARMUP_RESIDENCY_READY);
    EXPECT_EQ(fixture.status().unload_at_ms, 10'000 + kFallbackKeepAliveMs);
}

TEST(EngineBreaker, AReadersPredictionNeitherCountsTowardsTheBreakerNorCallsAnOpenCircuit) {
    BreakerFixture fixture("{}");  // every call fails
    fixture.request(0);
    const uint64_t errors_before = fixture.predictor_errors();
    const uint32_t failures_before = fixture.breaker().consecutive_failures;
    warmup_prediction prediction{};
    for (int i = 0; i < 10; ++i) {
        const auto failed = fixture.engine().predict_now(fixture.model("m"), 500, prediction);
        ASSERT_TRUE(failed.has_value());
        EXPECT_EQ(*failed,
                  "predictor org.warmup.test.flaky-predictor@1.0.0: predict: INTERNAL: flaky test predictor: "
                  "call " +
                      std::to_string(errors_before + i + 1) + " fails on purpose");
    }
    EXPECT_EQ(fixture.predictor_errors(), errors_before);
    EXPECT_EQ(fixture.breaker().consecutive_failures, failures_before);
    EXPECT_EQ(fixture.state(), CircuitState::Closed);

    // Opened by the decisions' own failures, the circuit is not called by a reader either: the answer says so.
    BreakerFixture open("{}");
    fail_five_times(open);
    ASSERT_EQ(open.state(), CircuitState::Open);
    const auto failed = open.engine().predict_now(open.model("m"), 4500, prediction);
    ASSERT_TRUE(failed.has_value());
    EXPECT_NE(failed->find("its circuit is open (the built-in fallback decides); last error: "), std::string::npos)
        << *failed;
    EXPECT_EQ(open.predictor_errors(), 5u);
}

TEST(EngineBreaker, APredictionThatCannotBeUsedIsAFailureNamingTheValue) {
    BreakerFixture fixture("{failing_calls: 0, nan_p_use: true}");  // answers, with p_use_within_horizon NaN
    fixture.request(0);
    EXPECT_GE(fixture.predictor_errors(), 1u);
    EXPECT_EQ(fixture.breaker().last_error,
              "predict: INVALID_ARGUMENT: returned p_use_within_horizon nan (expected 0..1)");
    // The plan is the fallback keep-alive's, not one built on the NaN.
    EXPECT_EQ(fixture.status().unload_at_ms, kModelLoadMs + kFallbackKeepAliveMs);
    warmup_prediction prediction{};
    const auto failed = fixture.engine().predict_now(fixture.model("m"), 500, prediction);
    ASSERT_TRUE(failed.has_value());
    EXPECT_NE(failed->find("returned p_use_within_horizon nan (expected 0..1)"), std::string::npos) << *failed;
}

TEST(EngineBreaker, APreWarmWindowThatEndsBeforeItStartsIsAFailureNamingBothTimes) {
    BreakerFixture fixture("{failing_calls: 0, inverted_window: true}");  // ready-by 10 min, kept until 9 min
    fixture.request(0);
    EXPECT_GE(fixture.predictor_errors(), 1u);
    const std::string& error = fixture.breaker().last_error;
    EXPECT_NE(error.find("predict: INVALID_ARGUMENT: returned a pre-warm window that ends before it starts"),
              std::string::npos)
        << error;
    // The last plan was made when the demand load finished: the window it asked for runs from 10 min after that
    // back to 9 min after it.
    EXPECT_NE(error.find("(warm_keep_until_ms " + std::to_string(kModelLoadMs + 540'000) + " < warm_at_ms " +
                         std::to_string(kModelLoadMs + 600'000) + ")"),
              std::string::npos)
        << error;
    // The plan is the fallback keep-alive's, without a pre-warm.
    EXPECT_EQ(fixture.status().unload_at_ms, kModelLoadMs + kFallbackKeepAliveMs);
    EXPECT_EQ(fixture.status().warm_start_at_ms, WARMUP_TIME_NEVER);
}

TEST(EngineBreaker, FallbackKeepAliveUnloadsTheModelWhileOpen) {
    BreakerFixture fixture("{}");
    fail_five_times(fixture);
    fixture.request(10'000);
    fixture.engine().run_timers(10'000 + kFallbackKeepAliveMs - 1);
    EXPECT_EQ(fixture.status().residency, WARMUP_RESIDENCY_READY);
    fixture.engine().run_timers(10'000 + kFallbackKeepAliveMs);
    EXPECT_EQ(fixture.status().residency, WARMUP_RESIDENCY_ABSENT);
    EXPECT_EQ(fixture.engine().counters().unloads, 1u);
    EXPECT_EQ(fixture.predictor_errors(), 5u) << "timers never call the predictor";
}

TEST(EngineBreaker, HalfOpenAfterCooldownAndAFailedTrialReopens) {
    BreakerFixture fixture("{}");
    fail_five_times(fixture);
    fixture.engine().run_timers(4000 + kCooldownMs - 1);
    EXPECT_EQ(fixture.state(), CircuitState::Open);
    fixture.engine().run_timers(4000 + kCooldownMs);
    EXPECT_EQ(fixture.state(), CircuitState::HalfOpen) << "the cool-down has passed: the next call is a trial";
    EXPECT_EQ(fixture.predictor_errors(), 5u);

    // The trial (request at 40 000; the model is still ready until 64 000) fails: open again, one more error only.
    fixture.request(40'000);
    EXPECT_EQ(fixture.predictor_errors(), 6u);
    EXPECT_EQ(fixture.state(), CircuitState::Open);
    EXPECT_EQ(fixture.breaker().times_opened, 2u);
    EXPECT_EQ(fixture.breaker().opened_at_ms, 40'000);
    fixture.request(41'000);
    EXPECT_EQ(fixture.predictor_errors(), 6u) << "re-opened: no call until 70 000";
    EXPECT_EQ(fixture.status().unload_at_ms, 41'000 + kFallbackKeepAliveMs);
}

TEST(EngineBreaker, SuccessfulTrialClosesTheCircuitAndThePredictorPlansAgain) {
    BreakerFixture fixture("{failing_calls: 5}");  // the 6th call and later succeed, keeping the model forever
    fail_five_times(fixture);
    ASSERT_EQ(fixture.state(), CircuitState::Open);
    fixture.request(10'000);
    EXPECT_EQ(fixture.status().unload_at_ms, 10'000 + kFallbackKeepAliveMs) << "fallback while open";

    fixture.request(4000 + kCooldownMs);  // trial call: succeeds
    EXPECT_EQ(fixture.state(), CircuitState::Closed);
    EXPECT_EQ(fixture.breaker().consecutive_failures, 0u);
    EXPECT_EQ(fixture.breaker().times_opened, 1u);
    EXPECT_EQ(fixture.predictor_errors(), 5u);
    // The predictor's own plan again: keep-until never, so no unload is scheduled.
    EXPECT_EQ(fixture.status().unload_at_ms, WARMUP_TIME_NEVER);
}

TEST(EngineBreaker, ASuccessResetsTheConsecutiveCount) {
    BreakerFixture fixture("{failing_calls: 4}");
    fixture.request(0);                                       // calls 1, 2
    for (const int64_t t : {2000, 3000}) fixture.request(t);  // calls 3, 4
    ASSERT_EQ(fixture.breaker().consecutive_failures, 4u);
    fixture.request(4000);  // call 5 succeeds
    EXPECT_EQ(fixture.breaker().consecutive_failures, 0u);
    EXPECT_EQ(fixture.state(), CircuitState::Closed);
    EXPECT_EQ(fixture.breaker().times_opened, 0u);
    EXPECT_EQ(fixture.predictor_errors(), 4u);
}

TEST(EngineBreaker, CallsOverTheTimeBudgetCountAsFailures) {
    // Every call answers correctly but sleeps 3 ms (at least; sleeps never end early) against a 1 ms budget.
    BreakerFixture fixture("{failing_calls: 0, sleep_us: 3000}", /*call_budget_us=*/1000);
    fail_five_times(fixture);
    EXPECT_EQ(fixture.state(), CircuitState::Open);
    EXPECT_EQ(fixture.predictor_errors(), 5u);
    EXPECT_NE(fixture.breaker().last_error.find("TIMEOUT"), std::string::npos) << fixture.breaker().last_error;
}

}  // namespace
}  // namespace warmup::host
