// Behaviour of org.warmup.predictor.idle-histogram, fed by the real usage-pattern analyzer. Catalog: every model
// 8192 MiB, 10 s load; default ratio 10: cold cost = 10 * 10 s = 100 s of idle time per waiting request (times
// 1 + EWMA rate * 10 s requests per cold start), pre-warm cost = 10 s load + 6 s margin. Tests that pin the cost
// arithmetic set cold_start_cost_ratio: 30 explicitly (300 s), so they do not move when the tuned default does.
#include "idle_histogram_predictor.hpp"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "plugin_test_host.hpp"
#include "usage_pattern_analyzer.hpp"

namespace {

using warmup::plugins::IdleHistogramPredictor;
using warmup::plugins::UsagePatternAnalyzer;
using warmup::test::Built;
using warmup::test::numbered_models_host;
using warmup::test::PluginTestHost;

constexpr int64_t kStartMs = 1'700'000'000'000;  // 2023-11-14, a realistic epoch time
constexpr int64_t kMinuteMs = 60'000;

/// Arrival times -> pattern of model 0, through the real analyzer (default params: 60 s bins, 240 bins).
class Learned {
  public:
    explicit Learned(const PluginTestHost& host) : analyzer_(host) {}
    void arrive(const std::vector<int64_t>& times_ms, warmup_model_index model = 0, uint32_t count = 1) {
        std::vector<warmup_usage_event> events;
        for (const int64_t ts : times_ms) events.push_back(warmup_usage_event{ts, model, count, 0, 0});
        analyzer_.plugin.observe(std::span<const warmup_usage_event>(events));
    }
    warmup_usage_pattern pattern(warmup_model_index model = 0) {
        warmup_usage_pattern pattern{};
        pattern.struct_size = sizeof pattern;
        analyzer_.plugin.get_pattern(model, pattern);
        return pattern;
    }

  private:
    Built<UsagePatternAnalyzer> analyzer_;
};

warmup_prediction predict(IdleHistogramPredictor& predictor, warmup_time_ms now_ms,
                          const warmup_usage_pattern& pattern) {
    warmup_prediction prediction{};
    prediction.struct_size = sizeof prediction;
    predictor.predict(now_ms, pattern, prediction);
    return prediction;
}

std::vector<int64_t> every(int64_t period_ms, int count, int64_t start_ms = kStartMs) {
    std::vector<int64_t> times;
    for (int i = 0; i < count; ++i) times.push_back(start_ms + i * period_ms);
    return times;
}

TEST(IdleHistogramPredictor, TenMinutePeriodicModelIsUnloadedAndPrewarmedJustBeforeTheNextRequest) {
    PluginTestHost host = numbered_models_host();
    Learned learned(host);
    learned.arrive(every(10 * kMinuteMs, 30));  // 29 gaps of exactly 600 s: all in bin 10
    const auto pattern = learned.pattern();
    Built<IdleHistogramPredictor> predictor(host);
    const int64_t last = pattern.last_seen_ms;
    const int64_t next_request = last + 10 * kMinuteMs;
    const auto prediction = predict(predictor.plugin, last, pattern);

    // Per gap: keeping through costs ~630 s idle, unloading and pre-warming 30 s + 16 s, staying cold 300 s.
    EXPECT_EQ(prediction.keep_until_ms, last);
    EXPECT_LT(prediction.keep_until_ms, prediction.warm_at_ms);
    EXPECT_LT(prediction.warm_at_ms, next_request);
    EXPECT_EQ(prediction.warm_at_ms, next_request - 6'000);              // ready one margin before the bin opens
    EXPECT_EQ(prediction.warm_keep_until_ms, next_request + kMinuteMs);  // the bin's end
    // Conditional median of the next gap: the middle of bin 10.
    EXPECT_EQ(prediction.next_arrival_ms, last + 630'000);
}

TEST(IdleHistogramPredictor, ProbabilityIsConditionalOnTheTimeAlreadyIdle) {
    PluginTestHost host = numbered_models_host();
    Learned learned(host);
    learned.arrive(every(10 * kMinuteMs, 30));
    const auto pattern = learned.pattern();
    Built<IdleHistogramPredictor> predictor(host);  // horizon 600 s
    const int64_t last = pattern.last_seen_ms;
    // Right after the request the next 600 s hold none of the mass (all gaps are in [600 s, 660 s)).
    EXPECT_DOUBLE_EQ(predict(predictor.plugin, last, pattern).p_use_within_horizon, 0.0);
    // Five minutes later the window [300 s, 900 s) holds all of it.
    EXPECT_DOUBLE_EQ(predict(predictor.plugin, last + 5 * kMinuteMs, pattern).p_use_within_horizon, 1.0);
    // Halfway through bin 10, half of the remaining mass lies in the next 15 s of a 30 s remainder.
    Built<IdleHistogramPredictor> short_horizon(host, "horizon_ms: 15000\n");
    EXPECT_NEAR(predict(short_horizon.plugin, last + 630'000, pattern).p_use_within_horizon, 0.5, 1e-9);
}

TEST(IdleHistogramPredictor, BurstsSeparatedByLongIdleKeepThroughTheBurstAndPrewarmTheNextOne) {
    PluginTestHost host = numbered_models_host();
    Learned learned(host);
    // Ten bursts of 20 requests 10 s apart, bursts starting 2 h after the previous burst ended:
    // 190 gaps in bin 0 and 9 gaps of 7200 s in bin 120.
    std::vector<int64_t> times;
    int64_t ts = kStartMs;
    for (int burst = 0; burst < 10; ++burst) {
        for (int i = 0; i < 20; ++i) times.push_back(ts + i * 10'000);
        ts += 19 * 10'000 + 2 * 60 * kMinuteMs;
    }
    learned.arrive(times);
    const auto pattern = learned.pattern();
    ASSERT_EQ(pattern.idle_histogram[0], 190u);
    ASSERT_EQ(pattern.idle_histogram[120], 9u);
    Built<IdleHistogramPredictor> predictor(host);
    const int64_t last = pattern.last_seen_ms;
    const auto prediction = predict(predictor.plugin, last, pattern);
    // Keeping one bin (60 s) covers every in-burst gap for 190*30 s + 9*60 s; unloading then and pre-warming for bin
    // 120 saves 9 cold starts (9*300 s) for 9*(30 s + 16 s). Keeping 2 h instead would cost 9*7230 s.
    EXPECT_EQ(prediction.keep_until_ms, last + kMinuteMs);
    EXPECT_EQ(prediction.warm_at_ms, last + 120 * kMinuteMs - 6'000);
    EXPECT_EQ(prediction.warm_keep_until_ms, last + 121 * kMinuteMs);
}

TEST(IdleHistogramPredictor, ShortHistoryFallsBackToTheFixedKeepAlive) {
    PluginTestHost host = numbered_models_host();
    Learned learned(host);
    learned.arrive(every(10 * kMinuteMs, 4));  // 3 gaps < min_samples (10)
    const auto pattern = learned.pattern();
    Built<IdleHistogramPredictor> predictor(host, "fallback_keep_alive_ms: 900000\n");
    const auto prediction = predict(predictor.plugin, pattern.last_seen_ms, pattern);
    EXPECT_EQ(prediction.keep_until_ms, pattern.last_seen_ms + 900'000);
    EXPECT_EQ(prediction.warm_at_ms, WARMUP_TIME_NEVER);
    EXPECT_DOUBLE_EQ(prediction.confidence, 3.0 / 13.0);  // gaps / (gaps + confidence_samples)
}

TEST(IdleHistogramPredictor, ModelWithoutHistoryGetsNoProbabilityAndNoConfidence) {
    PluginTestHost host = numbered_models_host();
    Learned learned(host);
    Built<IdleHistogramPredictor> predictor(host);
    const int64_t now = kStartMs;
    const auto prediction = predict(predictor.plugin, now, learned.pattern(3));
    EXPECT_EQ(prediction.p_use_within_horizon, 0.0);
    EXPECT_EQ(prediction.confidence, 0.0);
    EXPECT_EQ(prediction.next_arrival_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(prediction.warm_at_ms, WARMUP_TIME_NEVER);
    EXPECT_LE(prediction.keep_until_ms, now);  // nothing to keep it for
    EXPECT_EQ(prediction.horizon_ms, 600'000);
}

TEST(IdleHistogramPredictor, ProbabilityIsMonotoneInTheHorizon) {
    PluginTestHost host = numbered_models_host();
    Learned learned(host);
    // Irregular gaps from 20 s to 6 h (some beyond the 4 h range).
    std::vector<int64_t> times{kStartMs};
    const int64_t gaps_ms[] = {20'000, 95'000, 400'000, 1'300'000, 3'000'000, 9'000'000, 21'600'000, 50'000, 700'000};
    for (int round = 0; round < 4; ++round)
        for (const int64_t gap : gaps_ms) times.push_back(times.back() + gap);
    learned.arrive(times);
    const auto pattern = learned.pattern();
    ASSERT_GT(pattern.idle_out_of_range, 0u);
    double previous = 0;
    for (const char* horizon : {"60000", "300000", "600000", "3600000", "14400000", "86400000", "604800000"}) {
        Built<IdleHistogramPredictor> predictor(host, std::string("horizon_ms: ") + horizon);
        for (const int64_t idle : {int64_t{0}, int64_t{200'000}, int64_t{16'000'000}}) {
            const double p = predict(predictor.plugin, pattern.last_seen_ms + idle, pattern).p_use_within_horizon;
            EXPECT_GE(p, 0.0);
            EXPECT_LE(p, 1.0);
            if (idle == 0) {
                EXPECT_GE(p, previous) << "horizon " << horizon;
                previous = p;
            }
        }
    }
    EXPECT_GT(previous, 0.9);  // a week covers almost every gap, including the out-of-range ones
}

TEST(IdleHistogramPredictor, ConfidenceGrowsWithSamples) {
    PluginTestHost host = numbered_models_host();
    Learned few(host), many(host);
    few.arrive(every(5 * kMinuteMs, 6));
    many.arrive(every(5 * kMinuteMs, 60));
    Built<IdleHistogramPredictor> predictor(host);
    const auto few_pattern = few.pattern();
    const auto many_pattern = many.pattern();
    EXPECT_LT(predict(predictor.plugin, few_pattern.last_seen_ms, few_pattern).confidence,
              predict(predictor.plugin, many_pattern.last_seen_ms, many_pattern).confidence);
}

TEST(IdleHistogramPredictor, PrewarmIsWorthItForAReferenceModelButNotForAHugeOne) {
    // Gaps alternate 90 s (bin 1) and 5 h (beyond the 4 h range): 10 of each.
    std::vector<int64_t> times{kStartMs};
    for (int i = 0; i < 20; ++i) times.push_back(times.back() + (i % 2 == 0 ? 90'000 : 5 * 60 * kMinuteMs));
    PluginTestHost reference_host = numbered_models_host(1, 8192, 10'000);
    PluginTestHost huge_host =
        numbered_models_host(1, 65'536, 10'000);  // 8x the reference: cold cost 300 s / 8 = 37.5 s of its idle time
    Learned reference_learned(reference_host), huge_learned(huge_host);
    reference_learned.arrive(times);
    huge_learned.arrive(times);
    // The last request follows a 5 h gap: EWMA ~ ln2/600 s, 1.01 requests per cold start (303 s, or 38 s when huge).
    const std::string_view ratio_30 = "cold_start_cost_ratio: 30\n";
    Built<IdleHistogramPredictor> reference_predictor(reference_host, ratio_30), huge_predictor(huge_host, ratio_30);
    const auto pattern = reference_learned.pattern();
    const int64_t last = pattern.last_seen_ms;
    const auto reference = predict(reference_predictor.plugin, last, pattern);
    const auto huge = predict(huge_predictor.plugin, last, huge_learned.pattern());
    // Window [60 s, 120 s): per 20 gaps it costs 10*(30 s + 16 s) for the captured and 10*(60 s + 16 s) for the
    // 5-hour gaps it wastes = 1220 s, and saves 10 cold starts: worth it at 300 s each, not at 37.5 s each.
    EXPECT_EQ(reference.keep_until_ms, last);
    EXPECT_EQ(reference.warm_at_ms, last + 54'000);
    EXPECT_EQ(reference.warm_keep_until_ms, last + 120'000);
    EXPECT_EQ(huge.keep_until_ms, last);
    EXPECT_EQ(huge.warm_at_ms, WARMUP_TIME_NEVER);  // no in-range window, and an hour-long calendar one costs more
}

TEST(IdleHistogramPredictor, BusyModelIsKeptThroughGapsALightOneWithTheSameGapsIsNot) {
    PluginTestHost host = numbered_models_host();
    Learned learned(host);
    // Same timestamps (19 gaps of 480 s, all in bin 8), 1 request per timestamp for model 0 and 50 for model 1.
    learned.arrive(every(8 * kMinuteMs, 20), 0, 1);
    learned.arrive(every(8 * kMinuteMs, 20), 1, 50);
    const auto light = learned.pattern(0);
    const auto busy = learned.pattern(1);
    ASSERT_EQ(light.idle_histogram[8], 19u);
    ASSERT_EQ(busy.idle_histogram[8], 19u);
    // Steady EWMA at a request (10-min half-life, period 480 s): n * ln2/600 s / (1 - 2^-0.8) = n * 0.002714/s,
    // so a 10 s load makes 1.027 (light) or 2.357 (busy) requests wait: cold cost 308 s or 707 s of idle time.
    // Without pre-warms, keeping through a gap costs its middle, 510 s: only the busy model is worth keeping.
    const std::string_view no_prewarm = "cold_start_cost_ratio: 30\nmax_prewarm_windows: 0\ncalendar_prewarm: false\n";
    Built<IdleHistogramPredictor> predictor(host, no_prewarm);
    EXPECT_NEAR(predictor.plugin.plan_for(light).cold_requests_per_start, 1.027, 0.001);
    EXPECT_NEAR(predictor.plugin.plan_for(busy).cold_requests_per_start, 2.357, 0.001);
    EXPECT_EQ(predict(predictor.plugin, light.last_seen_ms, light).keep_until_ms, light.last_seen_ms);
    EXPECT_EQ(predict(predictor.plugin, busy.last_seen_ms, busy).keep_until_ms, busy.last_seen_ms + 9 * kMinuteMs);
    // Counting only the first request of a cold start, both models are unloaded at once.
    Built<IdleHistogramPredictor> per_start(host,
                                            "cold_start_cost_ratio: 30\nmax_prewarm_windows: 0\n"
                                            "calendar_prewarm: false\n"
                                            "count_waiting_requests: false\n");
    EXPECT_EQ(predict(per_start.plugin, busy.last_seen_ms, busy).keep_until_ms, busy.last_seen_ms);
}

TEST(IdleHistogramPredictor, BadParamErrorsNameTheKey) {
    PluginTestHost host = numbered_models_host();
    EXPECT_EQ(host.create_error<IdleHistogramPredictor>(""), "");
    EXPECT_NE(host.create_error<IdleHistogramPredictor>("horizon_ms: 0").find("params.horizon_ms"), std::string::npos);
    EXPECT_NE(
        host.create_error<IdleHistogramPredictor>("cold_start_cost_ratio: -1").find("params.cold_start_cost_ratio"),
        std::string::npos);
    EXPECT_NE(host.create_error<IdleHistogramPredictor>("calendar_prewarm: perhaps").find("params.calendar_prewarm"),
              std::string::npos);
    const std::string unknown = host.create_error<IdleHistogramPredictor>("horizon: 5");
    EXPECT_NE(unknown.find("params.horizon"), std::string::npos) << unknown;
    EXPECT_NE(unknown.find("unknown parameter"), std::string::npos) << unknown;
}

}  // namespace
