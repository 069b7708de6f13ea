// Successions (warmup_prediction.replan_models): the followers a plan made on a use names are planned again at once,
// on an engine stepped by hand with a predictor that names them (tests/host/engine/succession_predictor.cpp: a
// prediction for a names b, one for b names c; a named model asks to be ready at once for 60 s). Loads take 1 s.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "manual_engine.hpp"

namespace warmup::host {
namespace {

class EngineSuccession : public ::testing::Test {
  protected:
    explicit EngineSuccession(const std::string& third = "2") : engine_(setup(third)) {
        // Indexes are given on first sight: a, b and c are 0, 1 and 2 from here on, as the predictor's params say.
        EXPECT_EQ(engine_.model("a"), 0u);
        EXPECT_EQ(engine_.model("b"), 1u);
        EXPECT_EQ(engine_.model("c"), 2u);
    }

    static test::ManualEngineSetup setup(const std::string& third) {
        test::ManualEngineSetup setup;
        setup.components["predictor"] =
            "{plugin: org.warmup.test.succession-predictor, params: {leader: 0, follower: 1, third: " + third + "}}";
        setup.catalog = {"{model: a, memory_mb: 1000, load_ms: 1000}", "{model: b, memory_mb: 1000, load_ms: 1000}",
                         "{model: c, memory_mb: 1000, load_ms: 1000}"};
        setup.options.memory_budget_mb = 10'000;
        setup.options.max_concurrent_loads = 4;
        return setup;
    }

    /// How many loads of `name` the engine has started.
    [[nodiscard]] long loads_of(const std::string& name) const {
        const auto started = engine_.started();
        return std::count(started.begin(), started.end(), name);
    }
    [[nodiscard]] ModelStatus status(const std::string& name) {
        return engine_.engine().model_status(engine_.model(name));
    }

    test::ManualEngine engine_;
};

TEST_F(EngineSuccession, AUseOfTheLeaderPreWarmsTheFollowerItNames) {
    engine_.request("a", 0);
    EXPECT_EQ(loads_of("a"), 1) << "the demand load";
    EXPECT_NE(status("b").warm_start_at_ms, WARMUP_TIME_NEVER) << "b was planned again on a's use";
    engine_.run_timers(0);
    EXPECT_EQ(loads_of("b"), 1) << "b's pre-warm started with a's request";
    engine_.complete_all_loads(1000);
    EXPECT_EQ(status("b").residency, WARMUP_RESIDENCY_READY);
    // b's plan was made by a replan (not a use): the c it names is not planned, and stays unloaded.
    engine_.run_timers(30'000);
    EXPECT_EQ(loads_of("c"), 0);
    EXPECT_EQ(status("c").warm_start_at_ms, WARMUP_TIME_NEVER);
    // b's own use names c: planned, and pre-warmed.
    engine_.request("b", 40'000);
    engine_.run_timers(40'000);
    EXPECT_EQ(loads_of("c"), 1);
    EXPECT_EQ(loads_of("b"), 1) << "b was ready: its request was warm";
}

class EngineSuccessionOutsideTheCatalog : public EngineSuccession {
  protected:
    EngineSuccessionOutsideTheCatalog() : EngineSuccession("99") {}
};

TEST_F(EngineSuccessionOutsideTheCatalog, AFollowerIndexOutsideTheCatalogIsSkipped) {
    engine_.request("b", 0);  // names model 99: no such model
    engine_.run_timers(0);
    engine_.complete_all_loads(1000);
    EXPECT_EQ(engine_.started().size(), 1u) << "b's demand load alone";
    EXPECT_EQ(status("b").residency, WARMUP_RESIDENCY_READY);
    // b is unloaded after its 1 s keep; a's use still has it planned and pre-warmed.
    engine_.request("a", 5000);
    EXPECT_EQ(status("b").residency, WARMUP_RESIDENCY_ABSENT);
    engine_.run_timers(5000);
    EXPECT_EQ(loads_of("a"), 1);
    EXPECT_EQ(loads_of("b"), 2) << "the follower the engine can plan is pre-warmed";
}

}  // namespace
}  // namespace warmup::host
