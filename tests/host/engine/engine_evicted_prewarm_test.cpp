// A model kept until the budget evicts it, with a pre-warm planned (a predictor filling the budget, such as cost-curve
// with objective budget): evicted before its pre-warm time, it is loaded again then; evicted after that time has
// passed, it is not loaded again at once (the resource policy has just chosen it to leave, and loading it back would
// only evict another). On an engine stepped by hand: two of three 100 MB models fit, 1 s loads, LRU eviction, and a
// predictor whose plan is fixed (pre-warm for 60 s after each use, kept until evicted).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "manual_engine.hpp"

namespace warmup::host {
namespace {

constexpr int64_t kPrewarmTargetMs = 60'000;  // after each use

test::ManualEngineSetup setup() {
    test::ManualEngineSetup setup;
    setup.components["predictor"] =
        "{plugin: org.warmup.test.fixed-prewarm-predictor, params: {until_evicted: true, warm_after_ms: " +
        std::to_string(kPrewarmTargetMs) + "}}";
    setup.catalog = {"{model: a, memory_mb: 100, load_ms: 1000}", "{model: b, memory_mb: 100, load_ms: 1000}",
                     "{model: c, memory_mb: 100, load_ms: 1000}"};
    setup.options.memory_budget_mb = 200;
    setup.options.max_concurrent_loads = 4;
    return setup;
}

/// a requested at 0 and b at 10 s, each loaded on demand: the budget is full.
void load_a_then_b(test::ManualEngine& engine) {
    engine.request("a", 0);
    engine.complete_next_load(1000);
    engine.request("b", 10'000);
    engine.complete_next_load(11'000);
}

TEST(EngineEvictedPrewarm, AModelEvictedBeforeItsPreWarmIsLoadedAgainForIt) {
    test::ManualEngine engine(setup());
    load_a_then_b(engine);
    const ModelStatus kept = engine.engine().model_status(engine.model("a"));
    EXPECT_EQ(kept.unload_at_ms, WARMUP_TIME_NEVER) << "never unloaded by a timer";
    EXPECT_LT(kept.warm_start_at_ms, kPrewarmTargetMs);
    engine.request("c", 20'000);  // evicts a, the least recently used
    engine.complete_next_load(21'000);
    ASSERT_EQ(engine.engine().model_status(engine.model("a")).residency, WARMUP_RESIDENCY_ABSENT);

    engine.run_timers(kept.warm_start_at_ms);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a", "b", "c", "a"})) << "pre-warmed again for its use";
    EXPECT_EQ(engine.engine().counters().prewarms_started, 1u);
    engine.complete_next_load(kept.warm_start_at_ms + 1000);
    const ModelStatus again = engine.engine().model_status(engine.model("a"));
    EXPECT_EQ(again.residency, WARMUP_RESIDENCY_READY);
    EXPECT_EQ(again.unload_at_ms, WARMUP_TIME_NEVER) << "kept until evicted, as before";
}

TEST(EngineEvictedPrewarm, AModelEvictedAfterItsPreWarmTimeIsNotLoadedBackAtOnce) {
    test::ManualEngine engine(setup());
    load_a_then_b(engine);
    const int64_t warm_start = engine.engine().model_status(engine.model("a")).warm_start_at_ms;
    engine.run_timers(warm_start + 100);  // a is loaded then: nothing to do
    EXPECT_EQ(engine.started().size(), 2u);
    EXPECT_EQ(engine.engine().model_status(engine.model("a")).warm_start_at_ms, WARMUP_TIME_NEVER);
    // Evicted after the time it was to be ready by: not loaded back, evicting b.
    engine.request("c", kPrewarmTargetMs + 1000);
    engine.run_timers(kPrewarmTargetMs + 1100);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a", "b", "c"})) << "a was not loaded back, evicting b";
    // Planned again without a request (a reload, a resume): the predictor gives the same pre-warm, meant to have a
    // ready while it was still in memory, and it is not started either.
    engine.engine().replan_all(kPrewarmTargetMs + 1200);
    engine.run_timers(kPrewarmTargetMs + 1300);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(engine.engine().model_status(engine.model("a")).warm_start_at_ms, WARMUP_TIME_NEVER);
}

TEST(EngineEvictedPrewarm, AModelEvictedAtItsPreWarmTimeBeforeItsTimerRanIsNotLoadedBack) {
    // The budget halved at the pre-warm's instant, before the timers due then run (live, the control loop takes
    // requests, completions and operations before the timers due): a, the least recently used, is evicted first.
    test::ManualEngine engine(setup());
    load_a_then_b(engine);
    const int64_t warm_start = engine.engine().model_status(engine.model("a")).warm_start_at_ms;
    engine.engine().set_memory_budget_mb(100, warm_start);
    ASSERT_EQ(engine.engine().model_status(engine.model("a")).residency, WARMUP_RESIDENCY_ABSENT);
    engine.run_timers(warm_start);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a", "b"})) << "a was not loaded back";
}

TEST(EngineEvictedPrewarm, AResumeAfterAPreWarmsKeepWindowEndedDoesNotLoadTheModel) {
    // The fixed plan of a lean predictor: kept 1 s after a use, pre-warmed for 60 s after it, kept to 65 s. An
    // emergency stop cancels the pre-warm; the resume after 65 s plans the model again with the same window, which
    // has ended: loading it would only unload it at once.
    test::ManualEngineSetup lean = setup();
    lean.components["predictor"] =
        "{plugin: org.warmup.test.fixed-prewarm-predictor, params: {keep_ms: 1000, warm_after_ms: 60000, "
        "warm_keep_ms: 5000}}";
    test::ManualEngine engine(lean);
    engine.request("a", 0);
    engine.complete_next_load(1000);
    engine.run_timers(2000);  // unloaded after its keep
    ASSERT_EQ(engine.engine().model_status(engine.model("a")).residency, WARMUP_RESIDENCY_ABSENT);
    engine.engine().emergency_stop(3000);
    engine.engine().resume(70'000, /*restore_warm_set=*/false);
    engine.engine().replan_all(70'000);
    engine.run_timers(70'001);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a"}));
    EXPECT_EQ(engine.engine().model_status(engine.model("a")).warm_start_at_ms, WARMUP_TIME_NEVER);
}

TEST(EngineEvictedPrewarm, AHandedOffModelIsNotPreWarmedByTheEngineThatGaveItAway) {
    // An experiment split by model moves a to another arm's engine: a pre-warm planned here would load it twice.
    test::ManualEngine engine(setup());
    load_a_then_b(engine);
    ASSERT_NE(engine.engine().model_status(engine.model("a")).warm_start_at_ms, WARMUP_TIME_NEVER);
    ASSERT_TRUE(engine.engine().hand_off_ready(engine.model("a"), 12'000).has_value());
    engine.run_timers(kPrewarmTargetMs);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a", "b"}));
}

TEST(EngineEvictedPrewarm, APeriodicPreWarmIsCarriedForwardWhileTheModelStaysLoadedAndAfterItLoadedItUnused) {
    // A model kept until evicted, pre-warmed at every multiple of 60 s (a daily window on a short clock): used once,
    // never again. Each pre-warm time that comes while it is loaded plans the next one; evicted, it is loaded again
    // at the next one, and that pre-warm plans the one after: no use is needed to keep the windows coming.
    test::ManualEngineSetup with_period = setup();
    with_period.components["predictor"] =
        "{plugin: org.warmup.test.fixed-prewarm-predictor, params: {until_evicted: true, period_ms: 60000}}";
    test::ManualEngine engine(with_period);
    engine.request("a", 0);
    engine.complete_next_load(1000);
    const auto status = [&] { return engine.engine().model_status(engine.model("a")); };
    const int64_t lead = 60'000 - status().warm_start_at_ms;  // the scheduler's lead before the ready-by time
    ASSERT_GT(lead, 0);
    engine.run_timers(60'000 - lead);  // its time comes while it is loaded: the next one, at 120 s, is planned
    EXPECT_EQ(status().residency, WARMUP_RESIDENCY_READY);
    EXPECT_EQ(status().warm_start_at_ms, 120'000 - lead);
    EXPECT_EQ(engine.started().size(), 1u);

    engine.request("b", 70'000);
    engine.complete_next_load(71'000);
    engine.request("c", 80'000);  // evicts a, the least recently used
    engine.complete_next_load(81'000);
    ASSERT_EQ(status().residency, WARMUP_RESIDENCY_ABSENT);
    engine.run_timers(120'000 - lead);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a", "b", "c", "a"})) << "pre-warmed at the next window";
    engine.complete_next_load(120'000 - lead + 1000);
    EXPECT_EQ(status().residency, WARMUP_RESIDENCY_READY);
    EXPECT_EQ(status().warm_start_at_ms, 180'000 - lead) << "the pre-warm plans the window after it";
}

// A predictor that writes its keep alone (the shortest one a plugin author writes) predicts nothing else: the host
// hands it the prediction with no next use and no pre-warm (the times NEVER), so none starts and none is reported.
TEST(EngineEvictedPrewarm, APredictionLeftAloneButItsKeepNamesNoNextUseAndNoPreWarm) {
    test::ManualEngineSetup keep_only = setup();
    keep_only.components["predictor"] =
        "{plugin: org.warmup.test.fixed-prewarm-predictor, params: {keep_only: true, keep_ms: 5000}}";
    test::ManualEngine engine(keep_only);
    engine.request("a", 0);
    engine.complete_next_load(1000);
    const ModelStatus status = engine.engine().model_status(engine.model("a"));
    EXPECT_EQ(status.unload_at_ms, 5000);
    EXPECT_EQ(status.warm_start_at_ms, WARMUP_TIME_NEVER);
    warmup_prediction prediction{};
    ASSERT_FALSE(engine.engine().predict_now(engine.model("a"), 2000, prediction).has_value());
    EXPECT_EQ(prediction.next_arrival_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(prediction.warm_at_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(prediction.keep_until_ms, 5000);
    engine.run_timers(120'000);
    EXPECT_EQ(engine.started(), (std::vector<std::string>{"a"})) << "no pre-warm";
    EXPECT_EQ(engine.engine().counters().prewarms_started, 0u);
}

}  // namespace
}  // namespace warmup::host
