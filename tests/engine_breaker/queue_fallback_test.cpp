// The queue component's fallback: when the WarmupQueue plugin's circuit opens, the warm-ups it holds move to the
// engine's built-in queue (strict priority, then first come) and keep being served; pushes while open go there too.
// Pinned with org.warmup.test.flaky-queue (build/tests/bad-plugins), a LIFO queue whose pushes fail on purpose or that
// loses its items, so the plugin's order (last in, first out) and the fallback's (first come) differ visibly.
//
// Setup: ten 100 MB models m0..m9 with 1 s loads, one load at a time (max_concurrent_warmups 1), so every request
// after the first queues. All loads are demand loads (class 0): the built-in order among them is enqueue time.
// Breaker: open after 5 consecutive failures, cool-down 30 s. Loads complete only when the test says so.
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
#include "test_support.hpp"

namespace warmup::host {
namespace {

constexpr int64_t kCooldownMs = 30'000;
constexpr int kModels = 10;

class ManualExecutor final : public LoadExecutor {
  public:
    void start_load(warmup_model_index model, uint64_t ticket, warmup_time_ms) override {
        started.push_back({model, ticket});
    }
    void start_unload(warmup_model_index, warmup_time_ms) override {}
    struct Started {
        warmup_model_index model;
        uint64_t ticket;
    };
    std::vector<Started> started;
};

class QueueFallbackFixture {
  public:
    explicit QueueFallbackFixture(const std::string& queue_params) : dir_("warmup-queue-fallback-test") {
        const auto file = dir_.path() / "queue.yaml";
        std::ofstream yaml(file);
        yaml << "log_level: error\n"
             << "plugin_dirs: [\"" << WARMUP_TEST_PLUGIN_DIR << "\", \"" << WARMUP_TEST_BAD_PLUGIN_DIR << "\"]\n"
             << "budgets: {memory_mb: 4096, max_concurrent_warmups: 1}\n"
             << "components:\n"
             << "  pattern_analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
             << "  predictor: {plugin: org.warmup.predictor.keep-alive}\n"
             << "  performance_model: {plugin: org.warmup.performance.calibrated}\n"
             << "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
             << "  resource_policy: {plugin: org.warmup.resource.lru}\n"
             << "  queue_policy: {plugin: org.warmup.test.flaky-queue, params: " << queue_params << "}\n"
             << "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
             << "  backend: {plugin: org.warmup.backend.sim}\n"
             << "catalog:\n";
        for (int i = 0; i < kModels; ++i) yaml << "  - {model: m" << i << ", memory_mb: 100, load_ms: 1000}\n";
        yaml.close();
        config_ = load_config_file(file, {});
        catalog_ = std::make_unique<Catalog>(config_.catalog);
        loader_ = std::make_unique<PluginLoader>(config_.plugin_dirs);
        plugins_ = PluginSet::create(config_.components, config_, *loader_, *catalog_, clock_);
        EngineOptions options;
        options.memory_budget_mb = 4096;
        options.max_concurrent_loads = 1;
        options.breaker_failures = 5;
        options.breaker_cooldown_ms = kCooldownMs;
        engine_ = std::make_unique<WarmupEngine>(plugins_->component_set(), executor_, *catalog_, options);
    }

    /// One request for model `index` at t_ms; its load is not completed.
    void request(int index, int64_t t_ms) {
        clock_.set(t_ms);
        warmup_usage_event event{};
        event.ts_ms = t_ms;
        event.model = model(index);
        event.count = 1;
        engine_->run_timers(t_ms);
        engine_->on_events(std::span<const warmup_usage_event>(&event, 1), t_ms);
    }

    /// Completes the running load at t_ms (one load runs at a time: the oldest started one not yet completed).
    void complete_running_load(int64_t t_ms) {
        ASSERT_LT(completed_, executor_.started.size()) << "no load is running";
        clock_.set(t_ms);
        const auto load = executor_.started[completed_++];
        engine_->on_load_finished(load.model, load.ticket, true, 1000, 0, t_ms);
    }

    /// Completes loads one after another, 1 s apart from t_ms, until none runs.
    void complete_all_loads(int64_t t_ms) {
        for (; completed_ < executor_.started.size(); t_ms += 1000) complete_running_load(t_ms);
    }

    /// Started loads so far, as catalog indexes in start order.
    [[nodiscard]] std::vector<int> started() const {
        std::vector<int> order;
        for (const auto& load : executor_.started) order.push_back(static_cast<int>(load.model) - first_model());
        return order;
    }
    [[nodiscard]] uint64_t queue_errors() const {
        const auto& errors = engine_->component_errors();
        const auto found = errors.find(engine_->component_label(ComponentKind::Queue));
        return found == errors.end() ? 0 : found->second.errors;
    }
    [[nodiscard]] const CircuitStatus& breaker() const { return engine_->circuit(ComponentKind::Queue); }
    [[nodiscard]] CircuitState state() const { return engine_->circuit_state(ComponentKind::Queue); }
    WarmupEngine& engine() { return *engine_; }

  private:
    warmup_model_index model(int index) const { return *catalog_->resolve("m" + std::to_string(index)); }
    int first_model() const { return static_cast<int>(model(0)); }

    warmup::test::TempDir dir_;
    Config config_;
    std::unique_ptr<Catalog> catalog_;
    ManualClock clock_;
    std::unique_ptr<PluginLoader> loader_;
    std::unique_ptr<PluginSet> plugins_;
    ManualExecutor executor_;
    std::unique_ptr<WarmupEngine> engine_;
    std::size_t completed_ = 0;  // loads completed so far (a prefix of executor_.started)
};

TEST(QueueFallback, AHealthyPluginDecidesTheOrder) {
    QueueFallbackFixture fixture("{}");
    for (int i = 0; i < 4; ++i) fixture.request(i, i);  // m0 starts; m1, m2, m3 wait in the plugin
    EXPECT_EQ(fixture.engine().queue_depth(), 3u);
    fixture.complete_all_loads(1000);
    EXPECT_EQ(fixture.started(), (std::vector<int>{0, 3, 2, 1})) << "the plugin is last in, first out";
    EXPECT_EQ(fixture.state(), CircuitState::Closed);
    EXPECT_EQ(fixture.engine().queue_depth(), 0u);
}

TEST(QueueFallback, OpenCircuitMovesTheQueuedItemsToStrictPriorityOrder) {
    // Pushes 1-4 succeed (m0 starts at once, m1..m3 wait in the plugin); pushes 5-9 (m4..m8) fail and go to the
    // built-in queue; the fifth failure opens the circuit and m1..m3 move there too, in the order they came.
    QueueFallbackFixture fixture("{fail_pushes_after: 4}");
    for (int i = 0; i < 8; ++i) fixture.request(i, i);
    EXPECT_EQ(fixture.queue_errors(), 4u);
    EXPECT_EQ(fixture.state(), CircuitState::Closed);
    fixture.request(8, 8);
    EXPECT_EQ(fixture.queue_errors(), 5u);
    EXPECT_EQ(fixture.state(), CircuitState::Open);
    EXPECT_EQ(fixture.engine().queue_depth(), 8u) << "m1..m8 wait: none lost, none counted twice";

    // While open, the plugin is not called: m9's push goes straight to the built-in queue.
    fixture.request(9, 9);
    EXPECT_EQ(fixture.queue_errors(), 5u);
    EXPECT_EQ(fixture.engine().queue_depth(), 9u);

    fixture.complete_all_loads(1000);
    EXPECT_EQ(fixture.started(), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}))
        << "first come within the demand class, not the plugin's last in, first out";
    EXPECT_EQ(fixture.engine().queue_depth(), 0u);
}

TEST(QueueFallback, ASuccessfulTrialPushHandsNewItemsBackToThePlugin) {
    // Push 1 (m0) succeeds; pushes 2-6 (m1..m5) fail and open the circuit at t = 5; later pushes succeed.
    QueueFallbackFixture fixture("{fail_pushes_after: 1, fail_push_count: 5}");
    for (int i = 0; i < 6; ++i) fixture.request(i, i);
    ASSERT_EQ(fixture.state(), CircuitState::Open);
    fixture.complete_running_load(1000);  // m0 done; m1 starts from the built-in queue
    ASSERT_EQ(fixture.started(), (std::vector<int>{0, 1}));

    // After the cool-down the push of m6 is the trial: it succeeds and closes the circuit; m7 and m8 follow it into
    // the plugin. The built-in queue (m2..m5) drains first: those warm-ups have waited longest.
    for (int i = 6; i < 9; ++i) fixture.request(i, 5 + kCooldownMs + i);
    EXPECT_EQ(fixture.state(), CircuitState::Closed);
    EXPECT_EQ(fixture.engine().queue_depth(), 7u);
    fixture.complete_all_loads(5 + kCooldownMs + 1000);
    EXPECT_EQ(fixture.started(), (std::vector<int>{0, 1, 2, 3, 4, 5, 8, 7, 6}));
    EXPECT_EQ(fixture.queue_errors(), 5u);
}

TEST(QueueFallback, APluginThatLosesItsItemsOpensTheCircuitAtOnceAndNothingIsLost) {
    // Every pop comes back empty although the plugin was given an item: a broken contract, not a passing error, so
    // the first one opens the circuit and m0's lost warm-up is served from the built-in queue right away.
    QueueFallbackFixture fixture("{lose_items: true}");
    fixture.request(0, 0);
    EXPECT_EQ(fixture.queue_errors(), 1u);
    EXPECT_EQ(fixture.state(), CircuitState::Open);
    EXPECT_NE(fixture.breaker().last_error.find("empty but holds 1"), std::string::npos)
        << fixture.breaker().last_error;
    ASSERT_EQ(fixture.started(), (std::vector<int>{0}));

    for (int i = 1; i < 5; ++i) fixture.request(i, i);  // open: the plugin is not called
    EXPECT_EQ(fixture.queue_errors(), 1u);
    EXPECT_EQ(fixture.engine().queue_depth(), 4u);
    fixture.complete_all_loads(1000);
    EXPECT_EQ(fixture.started(), (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(QueueFallback, EmergencyStopKeepsDemandLoadsQueuedInTheBuiltInQueue) {
    QueueFallbackFixture fixture("{fail_pushes_after: 1}");
    for (int i = 0; i < 6; ++i) fixture.request(i, i);  // circuit open; m1..m5 in the built-in queue, all demand
    ASSERT_EQ(fixture.state(), CircuitState::Open);
    fixture.engine().emergency_stop(10);
    EXPECT_EQ(fixture.engine().queue_depth(), 5u) << "demand loads stay queued: a request waits for each";
    fixture.complete_all_loads(1000);
    EXPECT_EQ(fixture.started(), (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

}  // namespace
}  // namespace warmup::host
