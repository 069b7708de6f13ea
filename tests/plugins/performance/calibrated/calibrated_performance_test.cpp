#include "performance/calibrated/calibrated_performance.hpp"

#include <gtest/gtest.h>

#include "plugin_test_host.hpp"

namespace warmup::test {
namespace {

using plugins::CalibratedPerformance;

warmup_performance_estimate estimate(CalibratedPerformance& model, warmup_model_index index) {
    warmup_performance_estimate out{};
    out.struct_size = sizeof out;
    model.estimate(index, out);
    return out;
}

warmup_load_observation observation(warmup_model_index model, double load_ms, double memory_mb, bool succeeded) {
    warmup_load_observation out{};
    out.struct_size = sizeof out;
    out.model = model;
    out.finished_ms = 1'000;
    out.load_ms = load_ms;
    out.memory_mb = memory_mb;
    out.succeeded = succeeded ? 1 : 0;
    return out;
}

TEST(CalibratedPerformance, StartsFromTheCatalogWithZeroConfidence) {
    PluginTestHost test_host = two_models_host();
    auto model = test_host.make<CalibratedPerformance>();
    const warmup_performance_estimate big = estimate(*model, kBig);
    EXPECT_EQ(big.model, kBig);
    EXPECT_DOUBLE_EQ(big.load_ms, 20'000);
    EXPECT_DOUBLE_EQ(big.unload_ms, 500);
    EXPECT_DOUBLE_EQ(big.memory_mb, 40'000);
    EXPECT_DOUBLE_EQ(big.confidence, 0.0);
}

TEST(CalibratedPerformance, MovesTowardObservationsByTheLearningRate) {
    PluginTestHost test_host = two_models_host();
    auto model = test_host.make<CalibratedPerformance>();
    model->observe_load(observation(kLlama, 3'000, 5'000, true));
    // 2000 + 0.3 x (3000 - 2000) = 2300; 4700 + 0.3 x (5000 - 4700) = 4790; confidence 1 - 0.7.
    warmup_performance_estimate llama = estimate(*model, kLlama);
    EXPECT_DOUBLE_EQ(llama.load_ms, 2'300);
    EXPECT_DOUBLE_EQ(llama.memory_mb, 4'790);
    EXPECT_DOUBLE_EQ(llama.confidence, 0.3);
    EXPECT_DOUBLE_EQ(llama.unload_ms, 200);  // never observed: the catalog figure

    // A backend that cannot measure memory reports 0: load time still learns, memory does not move.
    model->observe_load(observation(kLlama, 3'000, 0, true));
    llama = estimate(*model, kLlama);
    EXPECT_DOUBLE_EQ(llama.load_ms, 2'510);  // 2300 + 0.3 x 700
    EXPECT_DOUBLE_EQ(llama.memory_mb, 4'790);
    EXPECT_NEAR(llama.confidence, 1.0 - 0.7 * 0.7, 1e-12);
    EXPECT_DOUBLE_EQ(estimate(*model, kBig).load_ms, 20'000);  // other models untouched
}

TEST(CalibratedPerformance, FailedLoadsDoNotMoveTheEstimate) {
    PluginTestHost test_host = two_models_host();
    auto model = test_host.make<CalibratedPerformance>("learning_rate: 0.5");
    model->observe_load(observation(kLlama, 90'000, 9'000, false));
    const warmup_performance_estimate llama = estimate(*model, kLlama);
    EXPECT_DOUBLE_EQ(llama.load_ms, 2'000);
    EXPECT_DOUBLE_EQ(llama.memory_mb, 4'700);
    EXPECT_DOUBLE_EQ(llama.confidence, 0.0);
}

TEST(CalibratedPerformance, UnknownModelAndBadObservationAreErrors) {
    PluginTestHost test_host = two_models_host();
    auto model = test_host.make<CalibratedPerformance>();
    try {
        estimate(*model, 42);
        ADD_FAILURE() << "estimate of an unknown model succeeded";
    } catch (const sdk::Error& error) {
        EXPECT_EQ(error.code(), WARMUP_ERROR_NOT_FOUND);
    }
    EXPECT_THROW(model->observe_load(observation(kLlama, -1.0, 0, true)), sdk::Error);
    EXPECT_DOUBLE_EQ(estimate(*model, kLlama).load_ms, 2'000);
}

TEST(CalibratedPerformance, StateRoundTripsAndGarbageIsRefusedKeepingState) {
    PluginTestHost test_host = two_models_host();
    auto model = test_host.make<CalibratedPerformance>();
    model->observe_load(observation(kBig, 26'000, 41'000, true));
    model->observe_load(observation(kBig, 26'000, 41'000, true));
    const warmup_performance_estimate before = estimate(*model, kBig);
    const std::string state = model->export_state();

    auto successor = test_host.make<CalibratedPerformance>();
    successor->import_state(state);
    const warmup_performance_estimate after = estimate(*successor, kBig);
    EXPECT_DOUBLE_EQ(after.load_ms, before.load_ms);
    EXPECT_DOUBLE_EQ(after.memory_mb, before.memory_mb);
    EXPECT_DOUBLE_EQ(after.confidence, before.confidence);
    EXPECT_DOUBLE_EQ(after.unload_ms, 500);

    const std::string header = std::string(CalibratedPerformance::kStateSchema) + "\n";
    for (const std::string& garbage : {std::string("garbage"), header + "1 abc 3 2\n", header + "1 100 -4 2\n",
                                       header + "1 100 4 2 extra\n", header + "77 100 4 2\n", std::string()}) {
        try {
            successor->import_state(garbage);
            ADD_FAILURE() << "accepted: " << garbage;
        } catch (const sdk::Error& error) {
            EXPECT_EQ(error.code(), WARMUP_ERROR_INVALID_ARGUMENT);
        }
        EXPECT_DOUBLE_EQ(estimate(*successor, kBig).load_ms, before.load_ms);
    }
}

TEST(CalibratedPerformance, ParamsErrorsNameTheKey) {
    PluginTestHost test_host = two_models_host();
    EXPECT_EQ(test_host.create_error<CalibratedPerformance>("learning_rate: 0.3"), "");
    EXPECT_EQ(test_host.create_error<CalibratedPerformance>("learning_rate: 0").rfind("params.learning_rate: ", 0), 0u);
    EXPECT_EQ(test_host.create_error<CalibratedPerformance>("learning_rate: 1.5").rfind("params.learning_rate: ", 0),
              0u);
    EXPECT_EQ(test_host.create_error<CalibratedPerformance>("rate: 0.3"), "params.rate: unknown parameter");
}

}  // namespace
}  // namespace warmup::test
