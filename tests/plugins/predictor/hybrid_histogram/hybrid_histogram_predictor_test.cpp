#include "predictor/hybrid_histogram/hybrid_histogram_predictor.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "plugin_test_host.hpp"

namespace warmup::test {
namespace {

using plugins::HybridHistogramPredictor;
using Rule = HybridHistogramPredictor::Rule;

constexpr warmup_time_ms kMinuteMs = 60'000;
constexpr warmup_time_ms kHourMs = 60 * kMinuteMs;
constexpr warmup_time_ms kLastSeenMs = 10'000 * kHourMs;

/// A pattern with the analyzer's default histogram shape (60 s bins, 240 bins = 4 h), filled by hand.
struct HandMadePattern {
    std::array<uint32_t, 240> bins{};
    warmup_usage_pattern pattern{};

    HandMadePattern() {
        pattern.struct_size = sizeof pattern;
        pattern.model = kLlama;
        pattern.first_seen_ms = 0;
        pattern.last_seen_ms = kLastSeenMs;
        pattern.previous_seen_ms = WARMUP_TIME_NEVER;
        pattern.idle_histogram = bins.data();
        pattern.idle_histogram_bins = static_cast<uint32_t>(bins.size());
        pattern.idle_bin_ms = static_cast<uint32_t>(kMinuteMs);
    }
    void add_gaps(std::size_t bin, uint32_t count) {
        bins[bin] += count;
        pattern.idle_samples += count;
        pattern.request_count = pattern.idle_samples + pattern.idle_out_of_range + 1;
    }
    void add_out_of_range(uint32_t count) {
        pattern.idle_out_of_range += count;
        pattern.request_count = pattern.idle_samples + pattern.idle_out_of_range + 1;
    }
    /// A new arrival at last_seen + gap_ms (the analyzer's histogram update is done by the caller).
    void arrive_after(warmup_time_ms gap_ms) {
        pattern.previous_seen_ms = pattern.last_seen_ms;
        pattern.last_seen_ms += gap_ms;
    }
};

warmup_prediction predict(HybridHistogramPredictor& predictor, warmup_time_ms now_ms,
                          const warmup_usage_pattern& pattern) {
    warmup_prediction out{};
    out.struct_size = sizeof out;
    predictor.predict(now_ms, pattern, out);
    return out;
}

/// Feeds `gaps_ms` (all beyond the 4 h range) one arrival at a time, as the host does after every use.
warmup_prediction feed_out_of_range_gaps(HybridHistogramPredictor& predictor, HandMadePattern& model,
                                         const std::vector<warmup_time_ms>& gaps_ms) {
    warmup_prediction out = predict(predictor, model.pattern.last_seen_ms, model.pattern);
    for (const warmup_time_ms gap_ms : gaps_ms) {
        model.arrive_after(gap_ms);
        model.add_out_of_range(1);
        out = predict(predictor, model.pattern.last_seen_ms, model.pattern);
    }
    return out;
}

TEST(HybridHistogramPredictor, EveryTenMinutesPrewarmsAtNineAndKeepsUntilElevenPlusMargin) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<HybridHistogramPredictor>();
    HandMadePattern model;
    model.add_gaps(10, 20);  // 20 gaps of exactly 10 min: bin [10 min, 11 min)
    model.pattern.previous_seen_ms = kLastSeenMs - 10 * kMinuteMs;

    const warmup_prediction out = predict(*predictor, kLastSeenMs, model.pattern);
    EXPECT_EQ(predictor->last_rule(kLlama), Rule::kHistogram);
    EXPECT_EQ(out.keep_until_ms, kLastSeenMs);                              // unload right after use
    EXPECT_EQ(out.warm_at_ms, kLastSeenMs + 540'000);                       // 10 min x 0.9
    EXPECT_EQ(out.warm_keep_until_ms, kLastSeenMs + 726'000);               // 11 min x 1.1
    EXPECT_EQ(out.next_arrival_ms, kLastSeenMs + 10 * kMinuteMs + 30'000);  // median bin midpoint
    EXPECT_NEAR(out.confidence, 20.0 / 30.0, 1e-12);
    // Right after use the 10-minute horizon ends before the 10-minute gap; a minute later it covers it.
    EXPECT_EQ(out.p_use_within_horizon, 0.0);
    EXPECT_DOUBLE_EQ(predict(*predictor, kLastSeenMs + kMinuteMs, model.pattern).p_use_within_horizon, 1.0);
}

TEST(HybridHistogramPredictor, HeadAndTailPercentilesUseLowerAndUpperBinEdges) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<HybridHistogramPredictor>();
    HandMadePattern model;
    model.add_gaps(2, 5);    // ranks 1..5: the 5th percentile (rank 5) falls in bin 2
    model.add_gaps(10, 94);  // ranks 6..99: the 99th percentile (rank 99) falls in bin 10
    model.add_gaps(30, 1);   // rank 100, beyond the tail
    const warmup_prediction out = predict(*predictor, kLastSeenMs, model.pattern);
    EXPECT_EQ(out.warm_at_ms, kLastSeenMs + 108'000);          // 2 min x 0.9
    EXPECT_EQ(out.warm_keep_until_ms, kLastSeenMs + 726'000);  // 11 min x 1.1

    auto full_tail = test_host.make<HybridHistogramPredictor>("tail_percentile: 100");
    EXPECT_EQ(predict(*full_tail, kLastSeenMs, model.pattern).warm_keep_until_ms,
              kLastSeenMs + 2'046'000);  // 31 min x 1.1
}

TEST(HybridHistogramPredictor, HeadInFirstBinKeepsAliveWithoutPrewarm) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<HybridHistogramPredictor>();
    HandMadePattern model;
    model.add_gaps(0, 50);  // requests seconds apart: pre-warm window 0
    const warmup_prediction out = predict(*predictor, kLastSeenMs, model.pattern);
    EXPECT_EQ(out.keep_until_ms, kLastSeenMs + 66'000);  // 1 min x 1.1
    EXPECT_EQ(out.warm_at_ms, WARMUP_TIME_NEVER);
}

TEST(HybridHistogramPredictor, FlatHistogramFallsBackToFixedFourHourKeepAlive) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<HybridHistogramPredictor>();
    HandMadePattern model;
    for (std::size_t bin = 0; bin < model.bins.size(); ++bin) model.add_gaps(bin, 1);  // CV = 0
    const warmup_prediction out = predict(*predictor, kLastSeenMs, model.pattern);
    EXPECT_EQ(predictor->last_rule(kLlama), Rule::kFixedKeepAlive);
    EXPECT_EQ(out.keep_until_ms, kLastSeenMs + 4 * kHourMs);
    EXPECT_EQ(out.warm_at_ms, WARMUP_TIME_NEVER);
}

TEST(HybridHistogramPredictor, TooFewSamplesIsNotRepresentative) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<HybridHistogramPredictor>("min_samples: 10");
    HandMadePattern model;
    model.add_gaps(10, 9);
    EXPECT_EQ(predict(*predictor, kLastSeenMs, model.pattern).keep_until_ms, kLastSeenMs + 4 * kHourMs);
    model.add_gaps(10, 1);
    EXPECT_EQ(predict(*predictor, kLastSeenMs, model.pattern).warm_at_ms, kLastSeenMs + 540'000);
}

TEST(HybridHistogramPredictor, OutOfRangeGapsUseTheTimeSeriesForecast) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<HybridHistogramPredictor>();
    HandMadePattern model;
    const warmup_prediction out = feed_out_of_range_gaps(*predictor, model, {6 * kHourMs, 6 * kHourMs, 6 * kHourMs});
    const warmup_time_ms last_seen_ms = model.pattern.last_seen_ms;
    EXPECT_EQ(predictor->last_rule(kLlama), Rule::kTimeSeries);
    EXPECT_EQ(out.keep_until_ms, last_seen_ms);
    EXPECT_EQ(out.warm_at_ms, last_seen_ms + 19'440'000);          // 6 h x 0.9
    EXPECT_EQ(out.warm_keep_until_ms, last_seen_ms + 23'760'000);  // 6 h x 1.1
    EXPECT_EQ(out.next_arrival_ms, last_seen_ms + 6 * kHourMs);
}

TEST(HybridHistogramPredictor, TimeSeriesForecastFollowsAnAlternatingRhythm) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<HybridHistogramPredictor>();
    HandMadePattern model;
    // 5 h, 7 h, 5 h, 7 h: mean 6 h, phi = -3/4, forecast 6 + (-3/4)(7 - 6) = 5.25 h = 18 900 000 ms.
    const warmup_prediction out =
        feed_out_of_range_gaps(*predictor, model, {5 * kHourMs, 7 * kHourMs, 5 * kHourMs, 7 * kHourMs});
    EXPECT_EQ(out.warm_at_ms, model.pattern.last_seen_ms + 17'010'000);          // 5.25 h x 0.9
    EXPECT_EQ(out.warm_keep_until_ms, model.pattern.last_seen_ms + 20'790'000);  // 5.25 h x 1.1
}

TEST(HybridHistogramPredictor, ForecastIsTheMeanBelowFourValuesAndAr1FromFour) {
    const std::vector<double> two = {5.0, 7.0};
    EXPECT_DOUBLE_EQ(HybridHistogramPredictor::forecast_idle_ms(two), 6.0);
    // mean 5, deviations -4 -4 -4 12: phi = (16 + 16 - 48) / 192 = -1/12, forecast 5 - 1 = 4 (inside [1, 17]).
    const std::vector<double> spike = {1.0, 1.0, 1.0, 17.0};
    EXPECT_DOUBLE_EQ(HybridHistogramPredictor::forecast_idle_ms(spike), 4.0);
    // mean 2.5, phi = (0.75 - 0.25 + 0.75) / 5 = 0.25, forecast 2.5 + 0.25 x 1.5 = 2.875.
    const std::vector<double> rising = {1.0, 2.0, 3.0, 4.0};
    EXPECT_DOUBLE_EQ(HybridHistogramPredictor::forecast_idle_ms(rising), 2.875);
}

TEST(HybridHistogramPredictor, EachGapIsRecordedOnceAndTheSeriesKeepsTheMostRecent) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<HybridHistogramPredictor>("series_length: 3");
    HandMadePattern model;
    feed_out_of_range_gaps(*predictor, model, {5 * kHourMs, 6 * kHourMs, 7 * kHourMs, 8 * kHourMs});
    // Predicting again for the same arrival (a timer, a finished warm-up) must not count the last gap twice.
    predict(*predictor, model.pattern.last_seen_ms + kHourMs, model.pattern);
    const std::vector<warmup_time_ms> expected = {6 * kHourMs, 7 * kHourMs, 8 * kHourMs};
    EXPECT_EQ(predictor->out_of_range_series(kLlama), expected);
}

TEST(HybridHistogramPredictor, OutOfRangeDominanceWinsOverARepresentativeHistogram) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<HybridHistogramPredictor>("min_samples: 1");
    HandMadePattern model;
    model.add_gaps(10, 3);
    feed_out_of_range_gaps(*predictor, model, {6 * kHourMs, 6 * kHourMs, 6 * kHourMs, 6 * kHourMs});  // 4 of 7 out
    EXPECT_EQ(predictor->last_rule(kLlama), Rule::kTimeSeries);
    auto strict = test_host.make<HybridHistogramPredictor>("min_samples: 1\nout_of_range_share: 0.6");
    HandMadePattern same;
    same.add_gaps(10, 3);
    feed_out_of_range_gaps(*strict, same, {6 * kHourMs, 6 * kHourMs, 6 * kHourMs, 6 * kHourMs});
    EXPECT_EQ(strict->last_rule(kLlama), Rule::kHistogram);  // 4/7 = 0.57 is not > 0.6
}

TEST(HybridHistogramPredictor, StateRoundTripsAndGarbageIsRefusedKeepingState) {
    PluginTestHost test_host = two_models_host();
    auto predictor = test_host.make<HybridHistogramPredictor>();
    HandMadePattern model;
    const warmup_prediction before =
        feed_out_of_range_gaps(*predictor, model, {5 * kHourMs, 7 * kHourMs, 5 * kHourMs, 7 * kHourMs});
    const std::string state = predictor->export_state();
    EXPECT_EQ(state.rfind(HybridHistogramPredictor::kStateSchema, 0), 0u);

    auto successor = test_host.make<HybridHistogramPredictor>();
    successor->import_state(state);
    const warmup_prediction after = predict(*successor, model.pattern.last_seen_ms, model.pattern);
    EXPECT_EQ(after.warm_at_ms, before.warm_at_ms);
    EXPECT_EQ(successor->out_of_range_series(kLlama), predictor->out_of_range_series(kLlama));

    for (const std::string& garbage :
         {std::string("not a state"), std::string(state).replace(0, 3, "xyz"),
          std::string(HybridHistogramPredictor::kStateSchema) + "\n0 5 2 100\n",
          std::string(HybridHistogramPredictor::kStateSchema) + "\n0 5 1 -3\n",
          std::string(HybridHistogramPredictor::kStateSchema) + "\n0 5 0 junk\n", std::string()}) {
        try {
            successor->import_state(garbage);
            ADD_FAILURE() << "accepted: " << garbage;
        } catch (const sdk::Error& error) {
            EXPECT_EQ(error.code(), WARMUP_ERROR_INVALID_ARGUMENT);
        }
        EXPECT_EQ(successor->out_of_range_series(kLlama).size(), 4u);
    }
}

TEST(HybridHistogramPredictor, ParamsErrorsNameTheKey) {
    PluginTestHost test_host = two_models_host();
    EXPECT_EQ(test_host.create_error<HybridHistogramPredictor>(
                  "head_percentile: 5\ntail_percentile: 99\nmargin: 0.1\ncv_threshold: 2\nmin_samples: 10\n"
                  "default_keep_alive_ms: 14400000\nout_of_range_share: 0.5"),
              "");
    EXPECT_EQ(
        test_host.create_error<HybridHistogramPredictor>("tail_percentile: 3").rfind("params.tail_percentile: ", 0),
        0u);
    EXPECT_EQ(test_host.create_error<HybridHistogramPredictor>("margin: 1.5").rfind("params.margin: ", 0), 0u);
    EXPECT_EQ(test_host.create_error<HybridHistogramPredictor>("min_samples: zero").rfind("params.min_samples: ", 0),
              0u);
    EXPECT_EQ(test_host.create_error<HybridHistogramPredictor>("cv: 2"), "params.cv: unknown parameter");
}

}  // namespace
}  // namespace warmup::test
