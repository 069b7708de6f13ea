#include "predictor/keep_alive/keep_alive_predictor.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "plugin_test_host.hpp"

namespace warmup::test {
namespace {

using plugins::KeepAlivePredictor;

constexpr warmup_time_ms kLastSeenMs = 1'000'000'000;

warmup_usage_pattern used_pattern(uint64_t requests, double rate_per_s) {
    warmup_usage_pattern pattern{};
    pattern.struct_size = sizeof pattern;
    pattern.model = kLlama;
    pattern.request_count = requests;
    pattern.first_seen_ms = kLastSeenMs - 3'600'000;
    pattern.last_seen_ms = kLastSeenMs;
    pattern.previous_seen_ms = kLastSeenMs - 60'000;
    pattern.ewma_rate_per_s = rate_per_s;
    return pattern;
}

warmup_prediction predict(KeepAlivePredictor& predictor, warmup_time_ms now_ms, const warmup_usage_pattern& pattern) {
    warmup_prediction out{};
    out.struct_size = sizeof out;
    predictor.predict(now_ms, pattern, out);
    return out;
}

TEST(KeepAlivePredictor, DefaultKeepsFiveMinutesAfterLastUseAndNeverPrewarms) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<KeepAlivePredictor>();
    const warmup_prediction out = predict(*predictor, kLastSeenMs + 10, used_pattern(30, 0.01));
    EXPECT_EQ(out.keep_until_ms, kLastSeenMs + 300'000);
    EXPECT_EQ(out.warm_at_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(out.model, kLlama);
}

TEST(KeepAlivePredictor, NeverTtlKeepsForever) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<KeepAlivePredictor>("ttl_ms: never");
    EXPECT_EQ(predictor->ttl_ms(), WARMUP_TIME_NEVER);
    const warmup_prediction out = predict(*predictor, kLastSeenMs, used_pattern(30, 0.01));
    EXPECT_EQ(out.keep_until_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(out.warm_at_ms, WARMUP_TIME_NEVER);
}

TEST(KeepAlivePredictor, ConfiguredTtlIsAnchoredOnLastSeenNotNow) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<KeepAlivePredictor>("ttl_ms: 60000");
    const warmup_prediction out = predict(*predictor, kLastSeenMs + 45'000, used_pattern(30, 0.01));
    EXPECT_EQ(out.keep_until_ms, kLastSeenMs + 60'000);
}

TEST(KeepAlivePredictor, PoissonProbabilityNextArrivalAndConfidenceFromEwmaRate) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<KeepAlivePredictor>();
    // rate 0.01/s over the 600 s horizon: 1 - exp(-6); mean gap 100 s; confidence 30 / (30 + 10).
    const warmup_prediction out = predict(*predictor, kLastSeenMs, used_pattern(30, 0.01));
    EXPECT_EQ(out.horizon_ms, 600'000);
    EXPECT_NEAR(out.p_use_within_horizon, 1.0 - std::exp(-6.0), 1e-12);
    EXPECT_EQ(out.next_arrival_ms, kLastSeenMs + 100'000);
    EXPECT_DOUBLE_EQ(out.confidence, 0.75);
}

TEST(KeepAlivePredictor, ZeroRateGivesZeroProbabilityAndUnknownNextArrival) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<KeepAlivePredictor>();
    const warmup_prediction out = predict(*predictor, kLastSeenMs, used_pattern(1, 0.0));
    EXPECT_EQ(out.p_use_within_horizon, 0.0);
    EXPECT_EQ(out.next_arrival_ms, WARMUP_TIME_NEVER);
}

TEST(KeepAlivePredictor, NeverUsedModelIsUnloadedNowUnlessTtlIsNever) {
    PluginTestHost test_host = two_models_host();
    warmup_usage_pattern unseen{};
    unseen.struct_size = sizeof unseen;
    unseen.model = kBig;
    unseen.first_seen_ms = unseen.last_seen_ms = unseen.previous_seen_ms = WARMUP_TIME_NEVER;
    auto five_minutes = test_host.make<KeepAlivePredictor>();
    EXPECT_EQ(predict(*five_minutes, 5'000, unseen).keep_until_ms, 5'000);
    auto forever = test_host.make<KeepAlivePredictor>("ttl_ms: never");
    EXPECT_EQ(predict(*forever, 5'000, unseen).keep_until_ms, WARMUP_TIME_NEVER);
}

TEST(KeepAlivePredictor, ParamsErrorsNameTheKey) {
    PluginTestHost test_host = two_models_host();
    EXPECT_EQ(test_host.create_error<KeepAlivePredictor>("ttl_ms: 300000\nhorizon_ms: 1000"), "");
    EXPECT_EQ(test_host.create_error<KeepAlivePredictor>("ttl_ms: soon").rfind("params.ttl_ms: ", 0), 0u);
    EXPECT_EQ(test_host.create_error<KeepAlivePredictor>("ttl_ms: -5").rfind("params.ttl_ms: ", 0), 0u);
    EXPECT_EQ(test_host.create_error<KeepAlivePredictor>("horizon_ms: 0").rfind("params.horizon_ms: ", 0), 0u);
    EXPECT_EQ(test_host.create_error<KeepAlivePredictor>("ttl: 5"), "params.ttl: unknown parameter");
}

}  // namespace
}  // namespace warmup::test
