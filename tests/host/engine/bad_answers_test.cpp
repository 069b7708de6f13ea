// The engine's checks on what plugins and the catalog hand it: a performance plugin answering NaN, infinite or
// negative figures (org.warmup.test.garbage-performance from build/tests/bad-plugins) and a model larger than the
// whole memory budget; a resource plugin (org.warmup.test.garbage-resource) naming victims that are not ready, failing,
// or answering a budget above the configured one. None may block loads or charge the budget nonsense.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "manual_engine.hpp"

namespace warmup::host {
namespace {

test::ManualEngineSetup two_models_with_performance(const std::string& performance) {
    test::ManualEngineSetup setup;
    setup.components["performance"] = performance;
    setup.catalog = {"{model: a, memory_mb: 1000, load_ms: 1000}", "{model: b, memory_mb: 1500, load_ms: 1000}"};
    setup.options.memory_budget_mb = 4096;
    setup.options.max_concurrent_loads = 2;
    setup.options.breaker_failures = 5;
    return setup;
}

class GarbageEstimate : public ::testing::TestWithParam<std::string> {};

TEST_P(GarbageEstimate, CountsAsAFailureAndTheCatalogFiguresAreCharged) {
    test::ManualEngine engine(
        two_models_with_performance("{plugin: org.warmup.test.garbage-performance, params: "
                                    "{answer: " +
                                    GetParam() + "}}"));
    // Each request for an absent model asks for two estimates (planning, then the queued load's size): 2 failures.
    engine.request("a", 0);
    EXPECT_EQ(engine.errors(ComponentKind::Performance), 2u);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a"})) << "the load goes on with the catalog's size";
    EXPECT_DOUBLE_EQ(engine.engine().used_mb(), 1000.0);

    engine.request("b", 1);
    EXPECT_EQ(engine.errors(ComponentKind::Performance), 4u);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a", "b"}));
    EXPECT_DOUBLE_EQ(engine.engine().used_mb(), 2500.0);
    EXPECT_EQ(engine.engine().circuit_state(ComponentKind::Performance), CircuitState::Closed);

    engine.request("a", 2);  // still loading: plans once more, the fifth bad answer in a row opens the circuit
    EXPECT_EQ(engine.errors(ComponentKind::Performance), 5u);
    EXPECT_EQ(engine.engine().circuit_state(ComponentKind::Performance), CircuitState::Open);
    const std::string& error = engine.engine().circuit(ComponentKind::Performance).last_error;
    EXPECT_NE(error.find("INVALID_ARGUMENT"), std::string::npos) << error;

    engine.complete_all_loads(1000);
    EXPECT_EQ(engine.engine().counters().loads_succeeded, 2u);
    EXPECT_EQ(engine.engine().counters().failed_requests, 0u);
}

INSTANTIATE_TEST_SUITE_P(Answers, GarbageEstimate, ::testing::Values("nan", "infinite", "negative"));

TEST(GarbageEstimate, ValidAnswersBeforeTheGarbageAreNotFailures) {
    // The first two estimates are fine (0 MiB: "no estimate, use the catalog"), the next ones are NaN.
    test::ManualEngine engine(two_models_with_performance(
        "{plugin: org.warmup.test.garbage-performance, params: {answer: nan, good_calls: 2}}"));
    engine.request("a", 0);
    EXPECT_EQ(engine.errors(ComponentKind::Performance), 0u);
    engine.request("b", 1);
    EXPECT_EQ(engine.errors(ComponentKind::Performance), 2u);
    EXPECT_DOUBLE_EQ(engine.engine().used_mb(), 2500.0);
}

TEST(OversizedModel, ADemandLoadLargerThanTheBudgetIsGivenUpAndBlocksNothing) {
    test::ManualEngineSetup setup;
    setup.catalog = {"{model: huge, memory_mb: 5000, load_ms: 1000}", "{model: small, memory_mb: 100, load_ms: 1000}"};
    setup.options.memory_budget_mb = 4096;
    setup.options.max_concurrent_loads = 1;
    test::ManualEngine engine(setup);

    engine.request("huge", 0);
    EXPECT_TRUE(engine.started().empty());
    EXPECT_EQ(engine.engine().counters().loads_given_up, 1u);
    EXPECT_EQ(engine.engine().counters().failed_requests, 1u);
    EXPECT_EQ(engine.engine().memory_waiters(), 0u) << "it must not wait for memory that can never be freed";
    EXPECT_EQ(engine.engine().model_status(engine.model("huge")).residency, WARMUP_RESIDENCY_ABSENT);

    engine.request("small", 1);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"small"})) << "nothing blocks the next demand load";

    engine.complete_next_load(1001);
    engine.request("huge", 2000);  // every request for it fails the same way; nothing is charged
    EXPECT_EQ(engine.engine().counters().loads_given_up, 2u);
    EXPECT_EQ(engine.engine().counters().failed_requests, 2u);
    EXPECT_DOUBLE_EQ(engine.engine().used_mb(), 100.0);
}

TEST(OversizedModel, ADemandLoadWaitingForMemoryIsGivenUpWhenTheBudgetShrinksBelowIt) {
    test::ManualEngineSetup setup;
    setup.catalog = {"{model: a, memory_mb: 3000, load_ms: 1000}", "{model: b, memory_mb: 2000, load_ms: 1000}",
                     "{model: c, memory_mb: 500, load_ms: 1000}"};
    setup.options.memory_budget_mb = 4096;
    setup.options.max_concurrent_loads = 2;
    test::ManualEngine engine(setup);

    engine.request("a", 0);
    engine.request("b", 1);  // 3000 + 2000 > 4096 and a loading model cannot be evicted: b waits for memory
    ASSERT_EQ(engine.engine().memory_waiters(), 1u);
    engine.engine().set_memory_budget_mb(1500, 2);  // a reload (or reset-to-safe) shrinks the budget below b's need

    engine.complete_next_load(1000);  // a is ready; the next dispatch finds b can never fit
    EXPECT_EQ(engine.engine().memory_waiters(), 0u);
    EXPECT_EQ(engine.engine().counters().loads_given_up, 1u);
    EXPECT_EQ(engine.engine().counters().failed_requests, 1u);
    EXPECT_EQ(engine.engine().model_status(engine.model("b")).residency, WARMUP_RESIDENCY_ABSENT);

    engine.request("c", 2000);  // nothing blocks the demand loads behind it: c evicts a and starts
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a", "c"}));
}

// A resource plugin whose pick_victim fails or names a model that is not ready: a failed call (counted), and the
// host evicts the ready model idle the longest itself, so a demand load does not wait for an event that may never
// come. One that says nothing is evictable is obeyed: the load waits.
test::ManualEngineSetup full_budget_with_resource(const std::string& resource) {
    test::ManualEngineSetup setup;
    setup.components["resource"] = resource;
    setup.components["predictor"] = "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: never}}";
    setup.catalog = {"{model: '*', memory_mb: 1000, load_ms: 1000}"};
    setup.options.memory_budget_mb = 2000;
    setup.options.max_concurrent_loads = 2;
    setup.options.breaker_failures = 5;
    return setup;
}

class GarbageVictim : public ::testing::TestWithParam<std::string> {};

TEST_P(GarbageVictim, CountsAsAFailureAndTheHostEvictsTheOldestIdleModel) {
    test::ManualEngine engine(
        full_budget_with_resource("{plugin: org.warmup.test.garbage-resource, params: {victim: " + GetParam() + "}}"));
    engine.request("a", 0);
    engine.complete_next_load(1000);
    engine.request("b", 2000);
    engine.complete_next_load(3000);
    engine.request("a", 4000);  // a used after b: b is idle the longest

    engine.request("c", 5000);  // the budget is full: one eviction, the plugin's answer is no use
    EXPECT_EQ(engine.unloaded(), (std::vector<std::string>{"b"}));
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(engine.errors(ComponentKind::Resource), 1u);
    engine.complete_next_load(6000);
    EXPECT_EQ(engine.engine().counters().failed_requests, 0u);
}

INSTANTIATE_TEST_SUITE_P(Answers, GarbageVictim, ::testing::Values("out-of-range", "error"));

TEST(DelayedDemand, ADemandLoadTheResourcePluginDelaysStartsWithinASecondWithoutOtherEvents) {
    // A refusal of a demand load only delays it (a request waits). Before, it waited for an unrelated event: on a
    // quiet server, for ever (a replayed arm showed a cold wait p99 of 903 s).
    test::ManualEngine engine(
        full_budget_with_resource("{plugin: org.warmup.test.garbage-resource, params: {refuse_demand: 'not now'}}"));
    engine.request("a", 0);
    EXPECT_TRUE(engine.started().empty());
    // The daemon's loop and the replay run the engine's timers when the next one is due: the recheck is it.
    EXPECT_EQ(engine.engine().next_timer_ms(), 1000);
    engine.run_timers(1000);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a"}));
    engine.complete_next_load(2000);
    EXPECT_EQ(engine.engine().counters().failed_requests, 0u);
}

TEST(ThrowingNotification, AnExceptionInOnUsedIsAFailedCallCountedAndFedToTheBreaker) {
    // on_used returns no error: the SDK reports what escaped it (warmup/ext/host_call_failure.h) and the engine counts
    // it as a failed call. Before, it was only a log line per use: health, plugin_errors and the breaker saw nothing.
    // The host calls on_used_requests (ABI 1.4), which the SDK forwards to the plugin's on_used by default.
    test::ManualEngine engine(
        full_budget_with_resource("{plugin: org.warmup.test.garbage-resource, params: {throw_on_use: true}}"));
    engine.request("a", 0);
    engine.complete_next_load(1000);  // the demand load's on_used: the first failure
    EXPECT_EQ(engine.errors(ComponentKind::Resource), 1u);
    EXPECT_EQ(engine.engine().counters().plugin_errors, 1u);
    const auto errors = engine.engine().component_errors();
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors.begin()->second.last_error.find("on_used_requests: INTERNAL: on_used fails on purpose"),
              std::string::npos)
        << errors.begin()->second.last_error;
    for (int i = 1; i <= 4; ++i) engine.request("a", 1000 + i);  // served warm; each use fails again
    EXPECT_EQ(engine.errors(ComponentKind::Resource), 5u);
    EXPECT_EQ(engine.engine().circuit_state(ComponentKind::Resource), CircuitState::Open)
        << "five failures in a row open the circuit";
    EXPECT_EQ(engine.engine().counters().failed_requests, 0u) << "the requests are served all the same";
}

TEST(GarbageVictim, EachVictimThatIsNotReadyIsOneFailedCallOfPickVictimAndFiveInARowOpenTheCircuit) {
    // Counted once per eviction, as the call's error. The plugin's admit succeeds between them: before, that reset
    // the component's count of failures in a row, so a pick_victim that always failed never opened the circuit.
    test::ManualEngine engine(
        full_budget_with_resource("{plugin: org.warmup.test.garbage-resource, params: {victim: out-of-range}}"));
    int64_t t = 0;
    for (const std::string name : {"a", "b", "c", "d", "e", "f"}) {
        engine.request(name, t);
        engine.complete_next_load(t + 1000);
        t += 2000;
    }
    // a and b filled the budget; c .. f each needed one eviction: four failed calls, four evictions by the host.
    EXPECT_EQ(engine.errors(ComponentKind::Resource), 4u);
    EXPECT_EQ(engine.engine().circuit_state(ComponentKind::Resource), CircuitState::Closed);
    EXPECT_EQ(engine.engine().circuit(ComponentKind::Resource).consecutive_failures, 4u);
    engine.request("g", t);
    engine.complete_next_load(t + 1000);
    EXPECT_EQ(engine.errors(ComponentKind::Resource), 5u);
    EXPECT_EQ(engine.engine().circuit_state(ComponentKind::Resource), CircuitState::Open)
        << "five failed pick_victim calls in a row, admit answering in between";
    const std::string& error = engine.engine().circuit(ComponentKind::Resource).last_error;
    EXPECT_NE(error.find("pick_victim: INVALID_ARGUMENT: named model 4000000000, which is not a ready model"),
              std::string::npos)
        << error;
    EXPECT_EQ(engine.unloaded(), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
    EXPECT_EQ(engine.engine().counters().failed_requests, 0u);
    // The circuit open, the built-in choices decide alone (demand loads, the oldest idle model evicted): no more
    // calls fail, and the loads go on.
    engine.request("h", t + 2000);
    engine.complete_next_load(t + 3000);
    EXPECT_EQ(engine.errors(ComponentKind::Resource), 5u);
    EXPECT_EQ(engine.unloaded(), (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
    EXPECT_EQ(engine.engine().counters().failed_requests, 0u);
}

TEST(GarbageVictim, TheCircuitCountsFailuresInARowOfTheCallThatFails) {
    // Only the failing call is in the count (admit, answering between them, is not): what the health endpoint's
    // "after N consecutive failure(s)" reports. A call's own success resets its count (engine_breaker_test.cpp).
    test::ManualEngine engine(
        full_budget_with_resource("{plugin: org.warmup.test.garbage-resource, params: {victim: out-of-range}}"));
    int64_t t = 0;
    for (const std::string name : {"a", "b", "c", "d"}) {
        engine.request(name, t);
        engine.complete_next_load(t + 1000);
        t += 2000;
    }
    EXPECT_EQ(engine.engine().circuit(ComponentKind::Resource).consecutive_failures, 2u);
    const auto& calls = engine.engine().circuit(ComponentKind::Resource).failing_calls;
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(std::string(calls.front().first), "pick_victim");
    EXPECT_EQ(calls.front().second, 2u);
}

TEST(GarbageVictim, NothingEvictableIsAnAnswerAndTheLoadWaits) {
    test::ManualEngine engine(
        full_budget_with_resource("{plugin: org.warmup.test.garbage-resource, params: {victim: none}}"));
    engine.request("a", 0);
    engine.complete_next_load(1000);
    engine.request("b", 2000);
    engine.complete_next_load(3000);
    engine.request("c", 5000);
    EXPECT_TRUE(engine.unloaded().empty());
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(engine.errors(ComponentKind::Resource), 0u);
}

class GarbageBudget : public ::testing::TestWithParam<std::string> {};

TEST_P(GarbageBudget, AResourcePluginMayOnlyLowerTheBudget) {
    test::ManualEngine engine(full_budget_with_resource(
        "{plugin: org.warmup.test.garbage-resource, params: {victim: out-of-range, budget_factor: '" + GetParam() +
        "'}}"));
    EXPECT_DOUBLE_EQ(engine.engine().budget_mb(), 2000);  // the configured budget, not the answer
    engine.engine().set_memory_budget_mb(3000, 0);
    EXPECT_DOUBLE_EQ(engine.engine().budget_mb(), 3000);
}

INSTANTIATE_TEST_SUITE_P(Answers, GarbageBudget, ::testing::Values("1e300", "2", "0", "-1", "nan"));

TEST(GarbageBudget, ALowerBudgetIsTheOneEnforced) {
    test::ManualEngine engine(full_budget_with_resource(
        "{plugin: org.warmup.test.garbage-resource, params: {victim: none, budget_factor: '0.5'}}"));
    EXPECT_DOUBLE_EQ(engine.engine().budget_mb(), 1000);
}

}  // namespace
}  // namespace warmup::host
