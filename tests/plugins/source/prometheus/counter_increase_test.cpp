// CounterIncrease: requests per model from successive scrapes of a counter: baseline, growth, resets, series that come
// and go, several series per model, fractional counters, series without the model label.
#include "counter_increase.hpp"

#include <gtest/gtest.h>

namespace warmup::plugins {
namespace {

ExpositionSample series(std::string model, double value, std::string version = "1") {
    ExpositionSample sample;
    sample.labels = {{"model", std::move(model)}, {"version", std::move(version)}};
    sample.value = value;
    return sample;
}

using Requests = std::map<std::string, uint64_t>;

TEST(CounterIncrease, FirstScrapeIsTheBaselineThenDifferencesCount) {
    CounterIncrease counter("model");
    const auto first = counter.update({series("a", 100), series("b", 5)});
    EXPECT_TRUE(first.baseline);
    EXPECT_TRUE(first.requests_by_model.empty());
    const auto second = counter.update({series("a", 103), series("b", 5)});
    EXPECT_FALSE(second.baseline);
    EXPECT_EQ(second.requests_by_model, (Requests{{"a", 3}}));  // b did not move: no entry
}

TEST(CounterIncrease, ACounterThatWentDownWasResetAndCountsFromZero) {
    CounterIncrease counter("model");
    counter.update({series("a", 100)});
    const auto after_restart = counter.update({series("a", 4)});
    EXPECT_EQ(after_restart.resets, 1u);
    EXPECT_EQ(after_restart.requests_by_model, (Requests{{"a", 4}}));
    EXPECT_EQ(counter.update({series("a", 6)}).requests_by_model, (Requests{{"a", 2}}));
}

TEST(CounterIncrease, NewSeriesCountWhollyAndAVanishedSeriesBackBelowItsLastValueWasReset) {
    CounterIncrease counter("model");
    counter.update({series("a", 10)});
    EXPECT_EQ(counter.update({series("a", 10), series("b", 2)}).requests_by_model, (Requests{{"b", 2}}));
    EXPECT_TRUE(counter.update({series("a", 10)}).requests_by_model.empty());  // b unloaded: its series is gone
    EXPECT_EQ(counter.update({series("a", 10), series("b", 1)}).requests_by_model, (Requests{{"b", 1}}));
}

TEST(CounterIncrease, ASeriesMissingFromAScrapeCountsOnlyWhatItGainedWhenItComesBack) {
    // A proxy's empty page, or another replica's, lists none of the series: when they come back, their values are
    // what they were plus what they gained, not new requests.
    CounterIncrease counter("model");
    counter.update({series("a", 5000), series("b", 300)});
    EXPECT_TRUE(counter.update({}).requests_by_model.empty());
    EXPECT_EQ(counter.update({series("a", 5001)}).requests_by_model, (Requests{{"a", 1}}));
    EXPECT_EQ(counter.update({series("a", 5001), series("b", 304)}).requests_by_model, (Requests{{"b", 4}}));
    // Missing for longer than kMaxScrapesMissing scrapes: forgotten, and all of it is new when it comes back.
    for (uint32_t i = 0; i <= CounterIncrease::kMaxScrapesMissing; ++i) (void)counter.update({series("a", 5001)});
    EXPECT_EQ(counter.update({series("a", 5001), series("b", 310)}).requests_by_model, (Requests{{"b", 310}}));
}

TEST(CounterIncrease, SeriesOfOneModelAddUp) {
    CounterIncrease counter("model");
    counter.update({series("a", 10, "1"), series("a", 20, "2")});
    EXPECT_EQ(counter.update({series("a", 11, "1"), series("a", 25, "2")}).requests_by_model, (Requests{{"a", 6}}));
}

TEST(CounterIncrease, FractionsCarryOver) {
    CounterIncrease counter("model");
    counter.update({series("a", 0)});
    EXPECT_TRUE(counter.update({series("a", 0.5)}).requests_by_model.empty());
    EXPECT_EQ(counter.update({series("a", 1.0)}).requests_by_model, (Requests{{"a", 1}}));
}

TEST(CounterIncrease, SeriesWithoutTheModelLabelAreReportedOnce) {
    CounterIncrease counter("model_name");
    const auto first = counter.update({series("a", 1)});  // labelled "model", not "model_name"
    ASSERT_EQ(first.series_without_model.size(), 1u);
    EXPECT_EQ(counter.update({series("a", 2)}).series_without_model.size(), 0u);
}

}  // namespace
}  // namespace warmup::plugins
