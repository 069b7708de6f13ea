// Circuit breakers of WarmupEngine, pinned with a deliberately failing predictor (org.warmup.test.flaky-predictor
// from build/tests/bad-plugins) and the real plugins for the other components. The engine is stepped by hand: every
// request and load completion is an explicit call, so the number of predictor calls is known exactly:
//   - a request for an absent model plans it once (1 predict call) and queues a demand load;
//   - the load's completion plans it again (1 call), since a request was waiting;
//   - a request for a ready model plans it once (1 call); timers (unloads) never call the predictor.
// Breaker settings: open after 5 consecutive failures, cool-down 30 s, fallback keep-alive 60 s.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "engine/warmup_engine.hpp"
#include "loader/plugin_loader.hpp"
#include "runtime/plugin_set.hpp"
#include "manual_engine.hpp"
#include "test_support.hpp"

namespace warmup::host {
namespace {

constexpr int64_t kCooldownMs = 30'000;
constexpr int64_t kFallbackKeepAliveMs = 60'000;
constexpr int64_t kModelLoadMs = 1'000;

/// One engine over one model `m` (1 GiB, 1 s load) with the flaky predictor configured by `predictor_params`.
class BreakerFixture {
  public:
    explicit BreakerFixture(const std::string& predictor_params, int64_t call_budget_us = 10'000'000)
        : dir_("warmup-breaker-test") {
        const auto file = dir_.path() / "breaker.yaml";
        std::ofstream(file) << "log_level: error\n"
                            << "plugin_dirs: [\"" << WARMUP_TEST_PLUGIN_DIR << "\", \"" << WARMUP_TEST_BAD_PLUGIN_DIR
                            << "\"]\n"
                            << "budgets: {memory_mb: 4096, max_concurrent_warmups: 2}\n"
                            << "components:\n"
                            << "  pattern_analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
                            << "  predictor: {plugin: org.warmup.test.flaky-predictor, params: " << predictor_params
                            << "}\n"
                            << "  performance_model: {plugin: org.warmup.performance.calibrated}\n"
                            << "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
                            << "  resource_policy: {plugin: org.warmup.resource.lru}\n"
                            << "  queue_policy: {plugin: org.warmup.queue.priority}\n"
                            << "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
                            << "  backend: {plugin: org.warmup.backend.sim}\n"
                            << "catalog:\n"
                            << "  - {model: m, memory_mb: 1024, load_ms: " << kModelLoadMs << "}\n";
        config_ = load_config_file(file, {});
        catalog_ = std::make_unique<Catalog>(config_.catalog);
        loader_ = std::make_unique<PluginLoader>(config_.plugin_dirs);
        plugins_ = PluginSet::create(config_.components, config_, *loader_, *catalog_, clock_);
        EngineOptions options;
        options.memory_budget_mb = 4096;
        options.fallback_keep_alive_ms = kFallbackKeepAliveMs;
        options.breaker_failures = 5;
        options.breaker_cooldown_ms = kCooldownMs;
        options.breaker_call_budget_us = call_budget_us;
        engine_ = std::make_unique<WarmupEngine>(plugins_->component_set(), executor_, *catalog_, options);
        model_ = *catalog_->resolve("m");
    }

    /// One request for `m` at t_ms (plus the completion of the load it starts, if any, kModelLoadMs later).
    void request(int64_t t_ms, bool complete_load = true) {
        clock_.set(t_ms);
        warmup_usage_event event{};
        event.ts_ms = t_ms;
        event.model = model_;
        event.count = 1;
        const std::size_t before = executor_.started.size();
        engine_->run_timers(t_ms);
        engine_->on_events(std::span<const warmup_usage_event>(&event, 1), t_ms);
        if (complete_load && executor_.started.size() > before) {
            const auto load = executor_.started.back();
            clock_.set(t_ms + kModelLoadMs);
            engine_->on_load_finished(load.model, load.ticket, true, kModelLoadMs, 0, t_ms + kModelLoadMs);
        }
    }

    [[nodiscard]] uint64_t predictor_errors() const {
        const auto& errors = engine_->component_errors();
        const auto found = errors.find(engine_->component_label(ComponentKind::Predictor));
        return found == errors.end() ? 0 : found->second.errors;
    }
    [[nodiscard]] const CircuitStatus& breaker() const { return engine_->circuit(ComponentKind::Predictor); }
    [[nodiscard]] CircuitState state() const { return engine_->circuit_state(ComponentKind::Predictor); }
    [[nodiscard]] ModelStatus status() const { return engine_->model_status(model_); }
    WarmupEngine& engine() { return *engine_; }

  private:
    warmup::test::TempDir dir_;
    Config config_;
    std::unique_ptr<Catalog> catalog_;
    ManualClock clock_;
    std::unique_ptr<PluginLoader> loader_;
    std::unique_ptr<PluginSet> plugins_;
    test::ManualExecutor executor_;
    std::unique_ptr<WarmupEngine> engine_;
    warmup_model_index model_ = WARMUP_NO_MODEL;
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
