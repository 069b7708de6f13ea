// The decisions a real engine reports (in-tree plugins, stepped by hand): what it decided, who decided it, and the
// numbers behind it, for a demand load, repeated keeps, an unload on the keep-alive plan, an eviction and a load
// larger than the whole budget.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/decision_log.hpp"
#include "manual_engine.hpp"

namespace warmup::host {
namespace {

constexpr int64_t kTtlMs = 10'000;

std::vector<DecisionKind> kinds(const std::vector<Decision>& decisions) {
    std::vector<DecisionKind> out;
    for (const Decision& decision : decisions) out.push_back(decision.kind);
    return out;
}

class EngineDecisions : public ::testing::Test {
  protected:
    EngineDecisions() : engine_(setup(log_)) {}

    static test::ManualEngineSetup setup(DecisionLog& log) {
        test::ManualEngineSetup setup;
        setup.components["predictor"] =
            "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: " + std::to_string(kTtlMs) + "}}";
        setup.catalog = {"{model: a, memory_mb: 1000, load_ms: 1000}", "{model: b, memory_mb: 1000, load_ms: 1000}",
                         "{model: huge, memory_mb: 5000, load_ms: 1000}"};
        setup.options.memory_budget_mb = 1500;  // a and b do not fit together
        setup.options.max_concurrent_loads = 2;
        setup.options.decisions = &log;
        return setup;
    }

    std::vector<Decision> of(const std::string& model) { return log_.newest(engine_.model(model), 100); }

    DecisionLog log_;
    test::ManualEngine engine_;
};

TEST_F(EngineDecisions, ADemandLoadThenKeepsThenAnUnloadOnTheKeepAlivePlan) {
    const std::string predictor = engine_.engine().components().predictor.label;
    engine_.request("a", 0);
    engine_.complete_next_load(1000);
    engine_.request("a", 2000);  // warm: planned again, merged into the same keep
    engine_.engine().run_timers(2000 + kTtlMs);

    const auto decisions = of("a");
    ASSERT_EQ(kinds(decisions),
              (std::vector<DecisionKind>{DecisionKind::Unload, DecisionKind::Keep, DecisionKind::DemandLoad}));
    const Decision& unload = decisions[0];
    EXPECT_EQ(unload.at_ms, 2000 + kTtlMs);
    EXPECT_EQ(unload.decided_by, predictor);
    EXPECT_EQ(unload.planned_by, predictor);
    EXPECT_FALSE(unload.from_fallback_plan);
    EXPECT_FALSE(std::isnan(unload.p_use)) << "the probability of the prediction behind the plan";
    EXPECT_NE(unload.predicted_next_use_ms, WARMUP_TIME_NEVER);
    EXPECT_DOUBLE_EQ(unload.used_mb, 1000);
    EXPECT_DOUBLE_EQ(unload.need_mb, 1000) << "the memory it frees";
    EXPECT_DOUBLE_EQ(unload.budget_mb, 1500);
    EXPECT_EQ(unload.arm, "");

    const Decision& keep = decisions[1];
    EXPECT_EQ(keep.repeats, 2u);
    EXPECT_EQ(keep.first_at_ms, 1000) << "planned when the load finished";
    EXPECT_EQ(keep.at_ms, 2000);
    EXPECT_EQ(keep.until_ms, 2000 + kTtlMs) << "keep-alive: the last use plus the TTL";
    EXPECT_EQ(keep.decided_by, predictor);

    const Decision& cold = decisions[2];
    EXPECT_EQ(cold.at_ms, 0);
    EXPECT_EQ(cold.decided_by, "engine");
    EXPECT_EQ(std::string(cold.reason), "a request found it unloaded: demand load");
    EXPECT_DOUBLE_EQ(cold.used_mb, 0);
    EXPECT_EQ(cold.planned_by, "") << "its first request: no plan yet";
    EXPECT_TRUE(std::isnan(cold.p_use));
}

TEST_F(EngineDecisions, AnEvictionNamesThePolicyAndTheModelThatNeededTheRoom) {
    engine_.request("a", 0);
    engine_.complete_next_load(1000);
    engine_.request("b", 2000);  // 1000 + 1000 > 1500: a is evicted

    const auto decisions = of("a");
    ASSERT_FALSE(decisions.empty());
    const Decision& evict = decisions.front();
    EXPECT_EQ(evict.kind, DecisionKind::Evict);
    EXPECT_EQ(evict.decided_by, engine_.engine().components().resource.label);
    EXPECT_EQ(evict.planned_by, engine_.engine().components().predictor.label) << "whose plan it was under";
    EXPECT_EQ(evict.for_model, engine_.model("b"));
    EXPECT_DOUBLE_EQ(evict.need_mb, 1000);
    EXPECT_DOUBLE_EQ(evict.used_mb, 1000) << "memory in use when it was decided, before the eviction";
    EXPECT_EQ(std::string(evict.reason), "evicted to make room for another model's load");
    EXPECT_EQ(kinds(of("b")), (std::vector<DecisionKind>{DecisionKind::DemandLoad}));
}

TEST_F(EngineDecisions, ALoadLargerThanTheBudgetIsGivenUpByTheEngine) {
    engine_.request("huge", 0);
    const auto decisions = of("huge");
    ASSERT_EQ(kinds(decisions), (std::vector<DecisionKind>{DecisionKind::GiveUp, DecisionKind::DemandLoad}));
    EXPECT_EQ(decisions[0].decided_by, "engine");
    EXPECT_DOUBLE_EQ(decisions[0].need_mb, 5000);
    EXPECT_DOUBLE_EQ(decisions[0].budget_mb, 1500);
}

TEST_F(EngineDecisions, APreWarmTheResourcePluginRefusesCarriesThePluginsOwnWords) {
    // Before, the decision said "pre-warm refused by the resource plugin" and not what the plugin said of it.
    engine_.engine().request_prewarm(engine_.model("huge"), 0);
    const auto decisions = of("huge");
    ASSERT_EQ(kinds(decisions), (std::vector<DecisionKind>{DecisionKind::Skip}));
    EXPECT_EQ(std::string(decisions[0].reason), "pre-warm refused by the resource plugin");
    EXPECT_EQ(decisions[0].decided_by, engine_.engine().components().resource.label);
    EXPECT_EQ(decisions[0].plugin_says, "pre-warm refused: model " + std::to_string(engine_.model("huge")) +
                                            " needs 5000.0 MiB, more than the whole budget of 1500.0 MiB");
    // Other decisions carry none.
    engine_.request("a", 10);
    EXPECT_EQ(of("a").front().plugin_says, "");
}

TEST(DecisionLogWords, APluginsWordsAreCutAtACharacterAndKeptForTheNewestEntriesOnly) {
    DecisionLog log(4);
    Decision made;
    made.kind = DecisionKind::Skip;
    made.model = 0;
    made.plugin_says = std::string(kPluginWordsBytes - 1, 'x') + "\xC3\xA9 and more";  // é across the cut
    log.record(made);
    ASSERT_EQ(log.newest(0, 1).front().plugin_says, std::string(kPluginWordsBytes - 1, 'x'));
    made.plugin_says = "no";
    for (std::size_t i = 0; i < kPluginWordsKept + 1; ++i) log.record(made);
    EXPECT_EQ(log.newest(0, 1).front().plugin_says, "no");
    made.plugin_says.clear();
    log.record(made);
    EXPECT_EQ(log.newest(0, 1).front().plugin_says, "") << "a later entry without words does not take an older one's";
}

TEST_F(EngineDecisions, AWarmRequestIsNotACold) {
    engine_.request("a", 0);
    engine_.complete_next_load(1000);
    for (int64_t t = 2000; t < 9000; t += 1000) engine_.request("a", t);
    EXPECT_EQ(kinds(of("a")), (std::vector<DecisionKind>{DecisionKind::Keep, DecisionKind::DemandLoad}));
    EXPECT_EQ(of("a").front().repeats, 8u);
}

}  // namespace
}  // namespace warmup::host
