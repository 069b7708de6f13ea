// The queue component's fallback: when the queue plugin's circuit opens, the warm-ups it holds move to the
// engine's built-in queue (strict priority, then first come) and keep being served; pushes while open go there too.
// Pinned with org.warmup.test.flaky-queue (build/tests/bad-plugins), a LIFO queue whose pushes fail on purpose or that
// loses its items, so the plugin's order (last in, first out) and the fallback's (first come) differ visibly.
//
// Setup: ten 100 MB models m0..m9 with 1 s loads, one load at a time (max_concurrent_warmups 1), so every request
// after the first queues. All loads are demand loads (class 0): the built-in order among them is enqueue time.
// Breaker: open after 5 consecutive failures, cool-down 30 s. Loads complete only when the test says so.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "manual_engine.hpp"

namespace warmup::host {
namespace {

constexpr int64_t kCooldownMs = 30'000;
constexpr int kModels = 10;

/// The engine of this file's tests, with the flaky queue configured by `queue_params`.
class QueueFallbackFixture : public test::ManualEngine {
  public:
    explicit QueueFallbackFixture(const std::string& queue_params) : ManualEngine(setup(queue_params)) {}

    void request(int index, int64_t t_ms) { ManualEngine::request("m" + std::to_string(index), t_ms); }
    void complete_running_load(int64_t t_ms) { complete_next_load(t_ms); }
    /// Started loads as model numbers, in start order.
    [[nodiscard]] std::vector<int> started() const {
        std::vector<int> numbers;
        for (const std::string& name : ManualEngine::started()) numbers.push_back(std::stoi(name.substr(1)));
        return numbers;
    }
    [[nodiscard]] uint64_t queue_errors() const { return errors(ComponentKind::Queue); }
    /// Items the queue plugin holds by its own count (stale ones included).
    [[nodiscard]] std::size_t plugin_size() const {
        const auto& queue = engine().components().queue;
        return queue.vtable->size(queue.self);
    }
    using ManualEngine::model;
    [[nodiscard]] const CircuitStatus& breaker() { return engine().circuit(ComponentKind::Queue); }
    [[nodiscard]] CircuitState state() { return engine().circuit_state(ComponentKind::Queue); }

  private:
    static test::ManualEngineSetup setup(const std::string& queue_params) {
        test::ManualEngineSetup setup;
        setup.components["queue"] = "{plugin: org.warmup.test.flaky-queue, params: " + queue_params + "}";
        for (int i = 0; i < kModels; ++i)
            setup.catalog.push_back("{model: m" + std::to_string(i) + ", memory_mb: 100, load_ms: 1000}");
        setup.options.memory_budget_mb = 4096;
        setup.options.max_concurrent_loads = 1;
        setup.options.breaker_failures = 5;
        setup.options.breaker_cooldown_ms = kCooldownMs;
        return setup;
    }
};

/// The shipped queue, WeightedFair with room for three, one load at a time: models m0 .. m<requested - 1> with 1 s
/// loads, and `quick` models with 10 ms loads (their small cost gives their pre-warms the first finish tags).
test::ManualEngineSetup weighted_fair_setup(int requested, const std::vector<std::string>& quick) {
    test::ManualEngineSetup setup;
    setup.components["queue"] = "{plugin: org.warmup.queue.priority, params: {algorithm: WeightedFair, capacity: 3}}";
    for (int i = 0; i < requested; ++i)
        setup.catalog.push_back("{model: m" + std::to_string(i) + ", memory_mb: 100, load_ms: 1000}");
    for (const std::string& name : quick) setup.catalog.push_back("{model: " + name + ", memory_mb: 100, load_ms: 10}");
    setup.options.memory_budget_mb = 4096;
    setup.options.max_concurrent_loads = 1;
    return setup;
}

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

TEST(QueueFallback, APopThatThrowsIsOneFailureThatOpensTheCircuitAtOnceAndNothingIsLost) {
    // The SDK answers "nothing popped" for the exception and reports it: one failure (it was counted twice, the
    // report and then "the queue is empty but holds"), and the circuit opens at once as for a pop that lost its items.
    QueueFallbackFixture fixture("{throw_on_pop: true}");
    fixture.request(0, 0);
    EXPECT_EQ(fixture.queue_errors(), 1u);
    EXPECT_EQ(fixture.state(), CircuitState::Open);
    EXPECT_NE(fixture.breaker().last_error.find("pop: INTERNAL: flaky test queue: pop fails on purpose"),
              std::string::npos)
        << fixture.breaker().last_error;
    for (int i = 1; i < 3; ++i) fixture.request(i, i);
    fixture.complete_all_loads(1000);
    EXPECT_EQ(fixture.started(), (std::vector<int>{0, 1, 2}));
}

TEST(QueueFallback, ARemoveThatThrowsFiveTimesOpensTheCircuitAndTheQueuedCountStaysRight) {
    // remove_model returns no error: its failures are reported. The fifth in a row opens the circuit, which moves
    // the plugin's items to the built-in queue; the model being removed was already out of the books (before, the
    // count of items in the plugin wrapped around below zero).
    QueueFallbackFixture fixture("{throw_on_remove: true}");
    fixture.request(0, 0);  // loading: the one worker is busy
    for (int i = 1; i <= 6; ++i) fixture.engine().request_prewarm(fixture.model("m" + std::to_string(i)), 0);
    ASSERT_EQ(fixture.engine().queue_depth(), 6u);
    fixture.engine().emergency_stop(1);  // cancels the queued pre-warms: six removals, the first five fail
    EXPECT_EQ(fixture.queue_errors(), 5u);
    EXPECT_EQ(fixture.state(), CircuitState::Open);
    EXPECT_EQ(fixture.engine().queue_depth(), 0u);
    fixture.engine().resume(2);  // the six come back, through the built-in queue while the circuit is open
    EXPECT_EQ(fixture.engine().queue_depth(), 6u);
    fixture.complete_all_loads(1000);
    EXPECT_EQ(fixture.started().size(), 7u);
}

TEST(QueueFallback, APluginThatGivesAModelIndexItWasNeverGivenIsNamedAndNothingIsLost) {
    // A pop that returns an item with a made-up model index: the item it stands for is lost in the plugin. The error
    // names the index (not "the queue is empty"), the circuit opens at once, and m0's warm-up is served from the
    // built-in queue.
    QueueFallbackFixture fixture("{garble_models: true}");
    fixture.request(0, 0);
    EXPECT_EQ(fixture.queue_errors(), 1u);
    EXPECT_EQ(fixture.state(), CircuitState::Open);
    EXPECT_NE(fixture.breaker().last_error.find("gave model index 123456, which the host never pushed"),
              std::string::npos)
        << fixture.breaker().last_error;
    EXPECT_EQ(fixture.breaker().last_error.find("empty"), std::string::npos) << fixture.breaker().last_error;
    ASSERT_EQ(fixture.started(), (std::vector<int>{0}));
}

TEST(QueueFallback, APreWarmInTheBuiltInQueueWaitsForTheDemandLoadsThePluginHolds) {
    // Push 2 (m1's pre-warm) fails and lands in the built-in queue; the circuit stays closed. m2's request is pushed
    // into the plugin. When the slot frees, the waiting request goes first; the pre-warm only once the plugin is empty.
    QueueFallbackFixture fixture("{fail_pushes_after: 1, fail_push_count: 1}");
    fixture.request(0, 0);
    fixture.engine().request_prewarm(fixture.model("m1"), 1);
    fixture.request(2, 2);
    ASSERT_EQ(fixture.state(), CircuitState::Closed);
    ASSERT_EQ(fixture.engine().queue_depth(), 2u);
    fixture.complete_all_loads(1000);
    EXPECT_EQ(fixture.started(), (std::vector<int>{0, 2, 1}));
}

TEST(QueueFallback, RequestsBeyondAFullQueuePluginWaitBehindTheOnesItHolds) {
    // The shipped queue with room for two: m1 and m2 wait in it, m3..m6 are refused (full) and wait in the built-in
    // queue. Every one is a request: they start first come, first served, the overflow after the ones the plugin
    // holds (it once went first, so a burst larger than the queue served its first requests last).
    test::ManualEngineSetup setup;
    setup.components["queue"] = "{plugin: org.warmup.queue.priority, params: {capacity: 2}}";
    for (int i = 0; i < 7; ++i)
        setup.catalog.push_back("{model: m" + std::to_string(i) + ", memory_mb: 100, load_ms: 1000}");
    setup.options.memory_budget_mb = 4096;
    setup.options.max_concurrent_loads = 1;
    test::ManualEngine fixture(setup);
    for (int i = 0; i < 7; ++i) fixture.request("m" + std::to_string(i), i);
    EXPECT_EQ(fixture.engine().queue_depth(), 6u);
    EXPECT_EQ(fixture.engine().counters().queue_rejections, 4u) << "the plugin refused m3..m6";
    fixture.complete_all_loads(1000);
    EXPECT_EQ(fixture.started(), (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4", "m5", "m6"}));
    EXPECT_EQ(fixture.engine().queue_depth(), 0u);

    // Requests that arrive while the plugin has room again go to it, and wait behind the older overflow.
    test::ManualEngine second(setup);
    for (int i = 0; i < 5; ++i) second.request("m" + std::to_string(i), i);  // m0 runs, m1 m2 plugin, m3 m4 built-in
    second.complete_next_load(1000);                                         // m1 starts: the plugin has room for one
    second.request("m5", 1001);                                              // into the plugin, behind m3 and m4
    second.complete_all_loads(2000);
    EXPECT_EQ(second.started(), (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4", "m5"}));
}

TEST(QueueFallback, APreWarmTheFullPluginGivesFirstWaitsBehindTheRequestsInTheBuiltInQueue) {
    // WeightedFair with room for three: a pre-warm of a quick model (its small cost gives it the first finish tag),
    // then requests m1 and m2 fill it; m3 and m4 are refused and wait in the built-in queue. When the plugin is asked
    // for its older requests it gives the pre-warm first: that goes behind every waiting request, not before them.
    test::ManualEngine fixture(weighted_fair_setup(5, {"quick"}));
    fixture.request("m0", 0);
    fixture.engine().request_prewarm(fixture.model("quick"), 1);
    for (int i = 1; i < 5; ++i) fixture.request("m" + std::to_string(i), 1 + i);
    EXPECT_EQ(fixture.engine().queue_depth(), 5u);
    fixture.complete_all_loads(1000);
    EXPECT_EQ(fixture.started(), (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4", "quick"}));
}

TEST(QueueFallback, APreWarmSetAsideForRequestsGoesBackToThePluginOnceNoneWaits) {
    // As above, the plugin (WeightedFair, room for three) gives the pre-warm of "quick" while m3 waits in the built-in
    // queue, and again that of p2; both are set aside behind the requests. Once no request waits they go back to the
    // plugin, among its pre-warms in the order they came, rather than wait until the plugin holds nothing, which under
    // a steady stream of pre-warms (p3, p4, p5 ... one after each load here) would be never.
    test::ManualEngine fixture(weighted_fair_setup(4, {"quick", "p2", "p3", "p4", "p5", "p6", "p7"}));
    const auto prewarm = [&](const std::string& name, int64_t t_ms) {
        fixture.engine().request_prewarm(fixture.model(name), t_ms);
    };
    fixture.request("m0", 0);
    prewarm("quick", 1);
    for (int i = 1; i < 4; ++i) fixture.request("m" + std::to_string(i), 1 + i);  // m1 m2 in the plugin, m3 refused
    fixture.complete_next_load(1000);  // the plugin gives quick: set aside; then m1
    prewarm("p2", 1001);
    fixture.complete_next_load(2000);  // p2 set aside; m2
    prewarm("p3", 2001);
    fixture.complete_next_load(3000);  // m3, from the built-in queue
    prewarm("p4", 3001);
    for (int i = 5; i <= 7; ++i) {
        fixture.complete_next_load(1000 * i - 1000);
        prewarm("p" + std::to_string(i), 1000 * i - 999);
    }
    const std::vector<std::string> started = fixture.started();
    ASSERT_GE(started.size(), 7u);
    EXPECT_EQ(std::vector<std::string>(started.begin(), started.begin() + 4),
              (std::vector<std::string>{"m0", "m1", "m2", "m3"}));
    EXPECT_NE(std::find(started.begin(), started.end(), "quick"), started.end())
        << "the set-aside pre-warm started while the plugin still held others";
}

TEST(QueueFallback, ItemsLeftInThePluginWhileItsCircuitWasOpenAreRemovedOnceItCloses) {
    // m1..m3 wait in the plugin when pushes 5-9 fail (m4..m8) and open the circuit; m1..m3 move to the built-in
    // queue but their copies stay in the plugin (it is not called while open). After the successful trial push (m9),
    // the copies are removed: the plugin then holds exactly m9.
    QueueFallbackFixture fixture("{fail_pushes_after: 4, fail_push_count: 5}");
    for (int i = 0; i < 9; ++i) fixture.request(i, i);
    ASSERT_EQ(fixture.state(), CircuitState::Open);
    fixture.request(9, 8 + kCooldownMs);  // the trial push succeeds and closes the circuit
    ASSERT_EQ(fixture.state(), CircuitState::Closed);
    EXPECT_EQ(fixture.plugin_size(), 1u) << "the stale copies of m1..m3 are gone";
    fixture.complete_all_loads(8 + kCooldownMs + 1000);
    EXPECT_EQ(fixture.started(), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
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
