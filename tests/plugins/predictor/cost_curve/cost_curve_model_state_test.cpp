// The cost-curve predictor's per-model state extension (ext/model_state.h): one model's learned plan moves to another
// instance under another index, leaves every other model alone, is refused whole when damaged, and is forgotten on its
// own. This is what a fleet relies on when a model changes owner.
#include <gtest/gtest.h>

#include <span>
#include <string>

#include "cost_curve_predictor.hpp"
#include "plugin_test_host.hpp"
#include "usage_pattern_analyzer.hpp"

namespace {

using warmup::plugins::CostCurvePredictor;
using warmup::plugins::UsagePatternAnalyzer;
using warmup::test::Built;
using warmup::test::numbered_models_host;
using warmup::test::PluginTestHost;

constexpr int64_t kStartMs = 1'700'000'000'000;

warmup_usage_pattern pattern_of(UsagePatternAnalyzer& analyzer, warmup_model_index model) {
    warmup_usage_pattern pattern{};
    pattern.struct_size = sizeof pattern;
    analyzer.get_pattern(model, pattern);
    return pattern;
}

// The predictor, fed by an analyzer, one predict per arrival as the engine does.
void learn_sessions(UsagePatternAnalyzer& analyzer, CostCurvePredictor& predictor, warmup_model_index model, int wakes,
                    int64_t gap_ms) {
    for (int wake = 0; wake < wakes; ++wake) {
        const int64_t t = kStartMs + wake * gap_ms;
        const warmup_usage_event event{t, model, 1, 0, 0};
        analyzer.observe(std::span<const warmup_usage_event>(&event, 1));
        auto pattern = pattern_of(analyzer, model);
        warmup_prediction prediction{};
        prediction.struct_size = sizeof prediction;
        predictor.predict(t, pattern, prediction);
    }
}

TEST(CostCurveModelState, OneModelMovesForgetsAndRefusesDamage) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> analyzer(host);
    Built<CostCurvePredictor> source(host);
    learn_sessions(analyzer.plugin, source.plugin, 0, 30, 15 * 60'000);
    learn_sessions(analyzer.plugin, source.plugin, 1, 10, 40 * 60'000);
    const std::string state = source.plugin.export_model_state(0);
    ASSERT_FALSE(state.empty());
    EXPECT_EQ(source.plugin.export_model_state(4), "");

    Built<CostCurvePredictor> target(host);
    target.plugin.import_model_state(3, state);
    EXPECT_EQ(target.plugin.export_model_state(3), state);
    EXPECT_EQ(target.plugin.export_model_state(0), "");
    ASSERT_NE(target.plugin.plan_of(3), nullptr);

    EXPECT_THROW(target.plugin.import_model_state(3, state + "7\n"), warmup::sdk::Error);
    EXPECT_THROW(target.plugin.import_model_state(3, "org.warmup.state.cost-curve/2\n-5 1\n"), warmup::sdk::Error);
    EXPECT_THROW(target.plugin.import_model_state(99, state), warmup::sdk::Error);
    EXPECT_EQ(target.plugin.export_model_state(3), state);

    const std::string other = source.plugin.export_model_state(1);
    source.plugin.forget_model_state(0);
    EXPECT_EQ(source.plugin.export_model_state(0), "");
    EXPECT_EQ(source.plugin.export_model_state(1), other);
}

}  // namespace
