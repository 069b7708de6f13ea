// Behaviour of org.warmup.predictor.cost-curve, fed by the real usage-pattern analyzer, one predict() per arrival as
// the engine does. Catalog: every model 8192 MiB (the reference size), 10 s load; default price: a waiting request is
// worth 30 load times (300 s) of the model held idle.
#include "cost_curve_predictor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "plugin_test_host.hpp"
#include "usage_pattern_analyzer.hpp"

namespace {

using warmup::plugins::CostCurvePredictor;
using warmup::plugins::UsagePatternAnalyzer;
using warmup::test::Built;
using warmup::test::numbered_models_host;
using warmup::test::PluginTestHost;

constexpr int64_t kStartMs = 1'700'000'000'000;
constexpr int64_t kMinuteMs = 60'000;

/// Drives the analyzer and the predictor together: every arrival is observed, then predicted on, like the engine.
class Driver {
  public:
    Driver(const PluginTestHost& host, CostCurvePredictor& predictor) : analyzer_(host), predictor_(&predictor) {}
    /// From now on predicts with `next` (a hot-swap: the analyzer keeps what it learned).
    void swap_predictor(CostCurvePredictor& next) { predictor_ = &next; }

    warmup_prediction arrive(int64_t ts_ms, warmup_model_index model = 0, uint32_t count = 1) {
        const warmup_usage_event event{ts_ms, model, count, 0, 0};
        analyzer_.plugin.observe(std::span<const warmup_usage_event>(&event, 1));
        return predict(ts_ms, model);
    }
    /// Many arrivals observed in one batch (back-filled history), then one predict.
    warmup_prediction backfill(const std::vector<int64_t>& times_ms, warmup_model_index model = 0) {
        std::vector<warmup_usage_event> events;
        for (const int64_t ts : times_ms) events.push_back(warmup_usage_event{ts, model, 1, 0, 0});
        analyzer_.plugin.observe(std::span<const warmup_usage_event>(events));
        return predict(times_ms.back(), model);
    }
    warmup_prediction predict(int64_t now_ms, warmup_model_index model = 0) {
        warmup_usage_pattern pattern{};
        pattern.struct_size = sizeof pattern;
        analyzer_.plugin.get_pattern(model, pattern);
        warmup_prediction prediction{};
        prediction.struct_size = sizeof prediction;
        predictor_->predict(now_ms, pattern, prediction);
        return prediction;
    }
    /// `wakes` idle gaps of `gap_ms`, each followed by a burst of `burst` requests one second apart; returns the time
    /// of the last arrival.
    int64_t sessions(int wakes, int64_t gap_ms, int burst, warmup_model_index model = 0, int64_t start = kStartMs) {
        int64_t t = start;
        for (int wake = 0; wake < wakes; ++wake) {
            for (int i = 0; i < burst; ++i) arrive(t + i * 1000, model);
            t += (burst - 1) * 1000 + gap_ms;
        }
        return t - gap_ms;
    }

  private:
    Built<UsagePatternAnalyzer> analyzer_;
    CostCurvePredictor* predictor_;
};

/// Twelve nightly runs of 20 requests, 24 h apart +- a few minutes; returns the last arrival.
int64_t nightly(Driver& driver) {
    constexpr int64_t kDayMs = 24 * 60 * kMinuteMs;
    const int64_t jitter_min[] = {0, 3, -2, 1, -3, 2, 0, -1, 3, -2, 1, 0};
    int64_t last = 0;
    for (int night = 0; night < 12; ++night) {
        const int64_t start = kStartMs + night * kDayMs + jitter_min[night] * kMinuteMs;
        for (int i = 0; i < 20; ++i) last = start + i * 1000, driver.arrive(last);
    }
    return last;
}

TEST(CostCurvePredictor, AModelWokenWithBigBurstsIsKeptThroughItsGaps) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{lean_memory_share: 0}");
    Driver driver(host, predictor.plugin);
    // Gaps of 3 min, each ended by a burst of 5 requests within the 10 s load: a cold start costs 5 x 300 s of idle
    // memory, keeping through a gap ~3 min.
    const int64_t last = driver.sessions(40, 3 * kMinuteMs, 5);
    const auto prediction = driver.predict(last);
    EXPECT_GE(prediction.keep_until_ms, last + 3 * kMinuteMs);
    EXPECT_LE(prediction.keep_until_ms, last + 4 * kMinuteMs);  // the smallest candidate keep beyond the gaps
    EXPECT_EQ(prediction.warm_at_ms, WARMUP_TIME_NEVER);        // gaps under the reference keep: no window
}

TEST(CostCurvePredictor, ARarelyUsedModelWithLoneRequestsIsUnloadedAtTheShortestKeep) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{lean_memory_share: 0}");
    Driver driver(host, predictor.plugin);
    // Gaps of 6 h ended by one request: holding 6 h to save one 300 s-priced request never pays.
    const int64_t last = driver.sessions(30, 6 * 60 * kMinuteMs, 1);
    const auto prediction = driver.predict(last);
    EXPECT_EQ(prediction.keep_until_ms, last + kMinuteMs);
    const auto* plan = predictor.plugin.plan_of(0);
    ASSERT_NE(plan, nullptr);
    EXPECT_EQ(plan->keep_ms, kMinuteMs);
}

TEST(CostCurvePredictor, TheWakeUpBurstIsMeasuredPerModel) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{lean_memory_share: 0, prior_gaps: 0}");
    Driver driver(host, predictor.plugin);
    // Same 20-minute gaps; model 0 wakes with one request, model 1 with 10 (all within the 10 s load).
    const int64_t quiet = driver.sessions(30, 20 * kMinuteMs, 1, 0);
    const int64_t busy = driver.sessions(30, 20 * kMinuteMs, 10, 1, kStartMs + 7);
    const int64_t quiet_keep = driver.predict(quiet, 0).keep_until_ms - quiet;
    const int64_t busy_keep = driver.predict(busy, 1).keep_until_ms - busy;
    EXPECT_EQ(quiet_keep, kMinuteMs);      // 1 request for 20 min held: not worth it
    EXPECT_GE(busy_keep, 20 * kMinuteMs);  // 10 requests x 300 s > 20 min held: kept through
}

TEST(CostCurvePredictor, MemoryIsPricedPerMibSoABigModelIsKeptOnlyWhereItsWakeUpsPayForItsSize) {
    // Two models with the same 20-minute gaps, their wake-ups interleaved: "small" 8 GiB loading in 10 s, woken by 2
    // requests; "big" 32 GiB loading in 40 s (load time grows with size, as on real hosts), woken by 5. Holding a model
    // through a gap holds it 19 minutes (1,140 s) over the shortest keep.
    PluginTestHost host({{"small", 8192, 10'000, 500, 1}, {"big", 32768, 40'000, 1000, 1}}, {"small", "big"});
    const std::string fixed = "lean_memory_share: 0, prior_gaps: 0, open_gaps: false, fairness_quantile: 1";
    struct Keeps {
        int64_t small, big;
        std::string state;
    };
    const auto plan_keeps = [&](const std::string& params) {
        Built<CostCurvePredictor> predictor(host, params);
        Driver driver(host, predictor.plugin);
        int64_t t = kStartMs;
        for (int wake = 0; wake < 30; ++wake, t += 20 * kMinuteMs) {
            for (int i = 0; i < 2; ++i) driver.arrive(t + i * 1000, 0);
            for (int i = 0; i < 5; ++i) driver.arrive(t + 500 + i * 1000, 1);
        }
        t -= 20 * kMinuteMs;
        return Keeps{driver.predict(t + 1000, 0).keep_until_ms - (t + 1000),
                     driver.predict(t + 4500, 1).keep_until_ms - (t + 4500), predictor.plugin.export_state()};
    };
    // The fleet's mean load, 25 s: a waiting request is worth 750 s of 8 GiB held. Through a gap the small model costs
    // 1.5 requests against its 2, the big one (four times the memory) 6.1 against its 5.
    const Keeps fleet = plan_keeps("{" + fixed + "}");
    EXPECT_GE(fleet.small, 20 * kMinuteMs);
    EXPECT_EQ(fleet.big, kMinuteMs);
    // Each model's own load (1.6.1): 300 s of 8 GiB for the small one, 1,200 s for the big one, so both pay 3.8
    // requests through a gap: the small model is let go, the big one kept for four times the memory.
    const Keeps own = plan_keeps("{" + fixed + ", price_load: own}");
    EXPECT_EQ(own.small, kMinuteMs);
    EXPECT_GE(own.big, 20 * kMinuteMs);

    // An instance that imports the state prices the imported models at the same mean: the same plans.
    Built<CostCurvePredictor> imported(host, "{" + fixed + "}");
    imported.plugin.import_state(fleet.state);
    const auto* big_plan = imported.plugin.plan_of(1);
    ASSERT_NE(big_plan, nullptr);
    EXPECT_EQ(big_plan->keep_ms, kMinuteMs);
    const auto* small_plan = imported.plugin.plan_of(0);
    ASSERT_NE(small_plan, nullptr);
    EXPECT_GE(small_plan->keep_ms, 20 * kMinuteMs);
}

TEST(CostCurvePredictor, TheLatestGapCountsInTheNextPlanEvenWhenItsWakeUpWasOneRequest) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{lean_memory_share: 0, prior_gaps: 0, open_gaps: false}");
    Driver driver(host, predictor.plugin);
    // Nothing learned: the reference keep (20 min). One 6-hour gap ended by a lone request is enough to plan the
    // next idle spell on, right away, before another request closes its wake-up.
    EXPECT_EQ(driver.arrive(kStartMs).keep_until_ms, kStartMs + 20 * kMinuteMs);
    const int64_t woke = kStartMs + 6 * 60 * kMinuteMs;
    EXPECT_EQ(driver.arrive(woke).keep_until_ms, woke + kMinuteMs);
}

TEST(CostCurvePredictor, AModelBusySinceItsFirstRequestIsPlannedAgainOnWhatTheFleetLearnedSince) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{lean_memory_share: 0, open_gaps: false, fairness_quantile: 1}");
    Driver driver(host, predictor.plugin);
    // Model 0 is seen first, with nothing learned: the reference keep (20 min).
    EXPECT_EQ(driver.arrive(kStartMs, 0).keep_until_ms, kStartMs + 20 * kMinuteMs);
    // Then it is never idle for a minute (a request every 30 s) while model 1 wakes 40 times after 2 h for one request:
    // the fleet learns that a long keep holds memory for nothing. Model 0 has no idle gap of its own to mark its plan
    // stale; it must not keep the one made on an empty fleet.
    constexpr int64_t kGapMs = 2 * 60 * kMinuteMs;
    int64_t t = kStartMs;
    for (int wake = 1; wake <= 40; ++wake) {
        for (const int64_t next = kStartMs + wake * kGapMs; t + 30'000 < next;) driver.arrive(t += 30'000, 0);
        driver.arrive(kStartMs + wake * kGapMs + 7, 1);
    }
    const auto* plan = predictor.plugin.plan_of(0);
    ASSERT_NE(plan, nullptr);
    EXPECT_EQ(plan->keep_ms, kMinuteMs);
    EXPECT_EQ(driver.arrive(t + 30'000, 0).keep_until_ms, t + 30'000 + kMinuteMs);
}

TEST(CostCurvePredictor, WithAGapSpreadAModelSeenIdleAFewTimesIsKeptWithAMarginThatNarrowsAsItsGapsAddUp) {
    PluginTestHost host = numbered_models_host();
    // No start-up floor: the young plans compared here are made in the fleet's first 20 minutes.
    Built<CostCurvePredictor> exact(host,
                                    "{lean_memory_share: 0, open_gaps: false, fairness_quantile: 1, "
                                    "startup_keep_ms: 0}");
    Built<CostCurvePredictor> spread(host,
                                     "{lean_memory_share: 0, open_gaps: false, fairness_quantile: 1, "
                                     "startup_keep_ms: 0, gap_spread: 3}");
    Driver exact_driver(host, exact.plugin);
    Driver spread_driver(host, spread.plugin);
    // Sessions of five wake-ups 3 min apart, each a burst of 5 requests (worth 5 x 300 s of memory: keeping through
    // pays), then 6 h idle (where every minute kept is memory lost).
    auto keep_after = [](Driver& driver, int from_wake, int to_wake) {
        int64_t t = kStartMs, last = 0;
        for (int wake = 0; wake < to_wake; ++wake) {
            if (wake >= from_wake)
                for (int i = 0; i < 5; ++i) last = t + i * 1000, driver.arrive(last);
            t += 4000 + (wake % 5 == 4 ? 6 * 60 : 3) * kMinuteMs;
        }
        return driver.predict(last).keep_until_ms - last;
    };
    // After 4 gaps of 3 min: exactly, the smallest candidate keep beyond them; spread (each gap standing for gaps
    // within 3 doublings of it at first), a keep with a margin, since a slightly longer gap would leave 5 cold.
    const int64_t exact_young = keep_after(exact_driver, 0, 5);
    const int64_t spread_young = keep_after(spread_driver, 0, 5);
    EXPECT_GT(exact_young, 3 * kMinuteMs);
    EXPECT_LE(exact_young, 4 * kMinuteMs);
    EXPECT_GT(spread_young, 5 * kMinuteMs);
    // 500 wake-ups later a new gap spreads over a few tenths of a doubling and the first, wide ones have decayed: the
    // margin has narrowed.
    const int64_t exact_old = keep_after(exact_driver, 5, 505);
    const int64_t spread_old = keep_after(spread_driver, 5, 505);
    EXPECT_EQ(exact_old, exact_young);
    EXPECT_LT(spread_old, spread_young);
    EXPECT_GT(spread_old, exact_old);
    EXPECT_LE(spread_old, 5 * kMinuteMs);
}

TEST(CostCurvePredictor, InTheFleetsFirstReferenceKeepEveryPlanKeepsAtLeastTheStartUpKeep) {
    PluginTestHost host = numbered_models_host();
    const std::string params = "{lean_memory_share: 0, open_gaps: false, fairness_quantile: 1";
    Built<CostCurvePredictor> predictor(host, params + "}");
    Built<CostCurvePredictor> no_floor(host, params + ", startup_keep_ms: 0}");
    Driver driver(host, predictor.plugin);
    Driver no_floor_driver(host, no_floor.plugin);
    // Lone requests 8 min apart: holding 7 min past the shortest keep to save one request priced at 300 s never pays,
    // so the learned keep is the shortest (1 min). But 16 minutes into the fleet's life no longer gap can have closed
    // yet: the plan keeps the first candidate at or over 10 min (11.3 min) until the first 20 minutes are over.
    const int64_t young = driver.sessions(3, 8 * kMinuteMs, 1);
    no_floor_driver.sessions(3, 8 * kMinuteMs, 1);
    EXPECT_EQ(young, kStartMs + 16 * kMinuteMs);
    EXPECT_EQ(driver.predict(young).keep_until_ms - young, 678'822);  // 60 s x 2^(14/4)
    EXPECT_EQ(no_floor_driver.predict(young).keep_until_ms - young, kMinuteMs);
    // 32 minutes in, the same rhythm: the floor is over.
    const int64_t older = driver.sessions(2, 8 * kMinuteMs, 1, 0, young + 8 * kMinuteMs);
    EXPECT_EQ(older, kStartMs + 32 * kMinuteMs);
    EXPECT_EQ(driver.predict(older).keep_until_ms - older, kMinuteMs);

    // Unset, the start-up keep is half the reference keep: with a 5-minute reference keep, lone requests 2 min apart
    // priced at 30 s each are planned for the first candidate at or over 2.5 min (2.8 min) in the first 5 minutes.
    Built<CostCurvePredictor> short_reference(host,
                                              params + ", lean_reference_keep_ms: 300000, cold_request_cost_loads: 3}");
    Driver short_reference_driver(host, short_reference.plugin);
    const int64_t early = short_reference_driver.sessions(3, 2 * kMinuteMs, 1);
    EXPECT_EQ(short_reference_driver.predict(early).keep_until_ms - early, 169'705);  // 60 s x 2^(6/4)

    // A state handed over (hot swap, restore) has seen the fleet: a predictor that imports it plans without the floor
    // from its first minutes on; one that starts empty on the same arrivals (model 1's) has it.
    Built<CostCurvePredictor> swapped(host, params + "}");
    Built<CostCurvePredictor> fresh(host, params + "}");
    swapped.plugin.import_state(predictor.plugin.export_state());
    Driver swapped_driver(host, swapped.plugin);
    Driver fresh_driver(host, fresh.plugin);
    const int64_t start = older + 8 * kMinuteMs;
    const int64_t swapped_last = swapped_driver.sessions(3, 8 * kMinuteMs, 1, 1, start);
    const int64_t fresh_last = fresh_driver.sessions(3, 8 * kMinuteMs, 1, 1, start);
    EXPECT_EQ(swapped_driver.predict(swapped_last, 1).keep_until_ms - swapped_last, kMinuteMs);
    EXPECT_EQ(fresh_driver.predict(fresh_last, 1).keep_until_ms - fresh_last, 678'822);
}

/// Ten models with 10-minute gaps, each ended by two requests (worth keeping through them, by a small margin); then
/// all but model 0 go quiet for an hour, while model 0 keeps its rhythm. Returns model 0's last arrival.
int64_t fleet_falls_quiet(Driver& driver) {
    int64_t t = kStartMs;
    for (int gap = 0; gap < 8; ++gap, t += 10 * kMinuteMs)
        for (warmup_model_index model = 0; model < 10; ++model)
            driver.arrive(t + model * 1000, model), driver.arrive(t + model * 1000 + 500, model);
    for (const int64_t end = t + 60 * kMinuteMs; t < end; t += 10 * kMinuteMs)
        driver.arrive(t, 0), driver.arrive(t + 500, 0);
    return t - 10 * kMinuteMs + 500;
}

TEST(CostCurvePredictor, KeepsShortenWhileMuchOfTheFleetIsIdleLongerThanTheReferenceKeep) {
    PluginTestHost host = numbered_models_host(10);
    Built<CostCurvePredictor> counting(host, "{lean_memory_share: 0}");
    Built<CostCurvePredictor> blind(host, "{lean_memory_share: 0, open_gaps: false}");
    Driver counting_driver(host, counting.plugin);
    Driver blind_driver(host, blind.plugin);
    const int64_t last = fleet_falls_quiet(counting_driver);
    ASSERT_EQ(fleet_falls_quiet(blind_driver), last);
    // Without counting the open idle spells, model 0's own gaps (and the fleet's, all closed) say: keep through them.
    EXPECT_GT(blind_driver.predict(last, 0).keep_until_ms, last + 10 * kMinuteMs);
    // Nine of ten models idle for longer than the reference keep, none of those spells ended yet: such spells hold a
    // keep and save nothing, so the margin is gone.
    EXPECT_EQ(counting_driver.predict(last, 0).keep_until_ms, last + kMinuteMs);
    // The quiet models come back: their spells end (and join the curves), and model 0 is kept through its gaps again.
    const int64_t back = last + 10 * kMinuteMs;
    for (warmup_model_index model = 1; model < 10; ++model) counting_driver.arrive(back + model * 1000, model);
    counting_driver.arrive(back, 0);
    EXPECT_GT(counting_driver.arrive(back + 500, 0).keep_until_ms, back + 10 * kMinuteMs);
}

/// A fleet of 8, priced at 15 load times (a waiting request = 150 s of a model held): models 0-2 woken every 3 minutes
/// by 5 requests and models 3-5 every 30 minutes by 30 requests (all worth keeping through their gaps), models 6 and 7
/// by one request every 5 minutes (not worth 4 minutes held: left cold on their own plans). A keep-alive holding the
/// same memory (~14 minutes) would leave the 30-minute models cold and serve the lone-request ones. Over 2 days.
int64_t mixed_fleet(Driver& driver) {
    int64_t last = 0;
    for (int64_t minute = 0; minute < 2 * 24 * 60; ++minute) {
        const int64_t t = kStartMs + minute * kMinuteMs;
        if (minute % 3 == 0)
            for (warmup_model_index model = 0; model < 3; ++model)
                for (int i = 0; i < 5; ++i) driver.arrive(last = t + model * 10'000 + i * 100, model);
        if (minute % 30 == 0)
            for (warmup_model_index model = 3; model < 6; ++model)
                for (int i = 0; i < 30; ++i) driver.arrive(last = t + model * 10'000 + i * 100, model);
        if (minute % 5 == 0) {
            driver.arrive(t + 59'000, 6);
            driver.arrive(last = t + 59'500, 7);
        }
    }
    return last;
}

TEST(CostCurvePredictor, TheFairnessFloorLiftsTheModelsASameMemoryTimerWouldServe) {
    PluginTestHost host = numbered_models_host();
    const std::string common = "lean_memory_share: 0, open_gaps: false, prewarm: false, cold_request_cost_loads: 15";
    Built<CostCurvePredictor> fair(host, "{" + common + ", fairness_quantile: 0.5}");
    Built<CostCurvePredictor> unfair(host, "{" + common + ", fairness_quantile: 1}");
    Driver fair_driver(host, fair.plugin);
    Driver unfair_driver(host, unfair.plugin);
    const int64_t last = mixed_fleet(fair_driver);
    ASSERT_EQ(mixed_fleet(unfair_driver), last);
    auto keep_of = [](CostCurvePredictor& predictor, warmup_model_index model) {
        const auto* plan = predictor.plan_of(model);
        return plan == nullptr ? int64_t{-1} : plan->keep_ms;
    };
    // Without the floor both lone-request models get the shortest keep.
    EXPECT_EQ(keep_of(unfair.plugin, 6), kMinuteMs);
    EXPECT_EQ(keep_of(unfair.plugin, 7), kMinuteMs);
    // With it, 0.5 x 8 (+1 for noise) = 5 models must be served as well as by the same-memory timer, which serves the
    // three 3-minute models and the two lone-request ones: those two are lifted through their 5-minute gaps.
    EXPECT_GE(keep_of(fair.plugin, 6), 5 * kMinuteMs);
    EXPECT_GE(keep_of(fair.plugin, 7), 5 * kMinuteMs);
    // The others keep their own keeps.
    for (warmup_model_index model = 0; model < 6; ++model)
        EXPECT_EQ(keep_of(fair.plugin, model), keep_of(unfair.plugin, model)) << "model " << model;
}

/// Two heavy models woken every 30 minutes by `heavy_burst` requests (30: kept through their gaps) and six light ones
/// woken by one request after gaps of 3 and 60 minutes in turn (on their own, not worth 2 more minutes held per request
/// saved: left at the shortest keep, every request cold). A keep-alive holding the same memory catches the 3-minute
/// gaps, so the light models' cold rate under it is 1/2, which is the fleet's median. Over 2 days.
int64_t heavy_and_light_fleet(Driver& driver, int heavy_burst = 30) {
    int64_t last = 0;
    for (int64_t minute = 0; minute < 2 * 24 * 60; ++minute) {
        const int64_t t = kStartMs + minute * kMinuteMs;
        if (minute % 30 == 0)
            for (warmup_model_index model = 0; model < 2; ++model)
                for (int i = 0; i < heavy_burst; ++i) driver.arrive(last = t + model * 10'000 + i * 100, model);
        if (minute % 63 == 0 || minute % 63 == 3)
            for (warmup_model_index model = 2; model < 8; ++model) driver.arrive(last = t + model * 1'000, model);
    }
    return last;
}

TEST(CostCurvePredictor, WithMemoryToSpareTheModelsThatDecideTheQuantileGetTheSameMemoryTimersKeep) {
    PluginTestHost host = numbered_models_host();
    auto keep_of = [](CostCurvePredictor& predictor, warmup_model_index model) {
        const auto* plan = predictor.plan_of(model);
        return plan == nullptr ? int64_t{-1} : plan->keep_ms;
    };
    // A predictor with these parameters (besides the common ones) after the 2-day fleet.
    auto after_fleet = [&](const std::string& params) {
        auto built = std::make_unique<Built<CostCurvePredictor>>(
            host, "{open_gaps: false, prewarm: false, cold_request_cost_loads: 15, " + params + "}");
        Driver driver(host, built->plugin);
        heavy_and_light_fleet(driver);
        return built;
    };
    const auto unfair = after_fleet("fairness_quantile: 1, lean_memory_share: 0");
    for (warmup_model_index model = 2; model < 8; ++model) ASSERT_EQ(keep_of(unfair->plugin, model), kMinuteMs);

    // No lean ceiling: all six light models decide the median (their rate under the same-memory keep-alive is the
    // target itself), so all six get that keep-alive's keep, well beyond the 3 minutes that catch their short gaps.
    const auto spare = after_fleet("fairness_quantile: 0.5, lean_memory_share: 0");
    for (warmup_model_index model = 2; model < 8; ++model)
        EXPECT_GE(keep_of(spare->plugin, model), 10 * kMinuteMs) << "model " << model;
    for (warmup_model_index model = 0; model < 2; ++model)
        EXPECT_EQ(keep_of(spare->plugin, model), keep_of(unfair->plugin, model)) << "model " << model;

    // A ceiling with room under it (5 x keep-alive 20 min's memory) never raises the price: the same floors.
    const auto roomy = after_fleet("fairness_quantile: 0.5, lean_memory_share: 5");
    EXPECT_EQ(roomy->plugin.lean_price_factor(), 1.0);
    for (warmup_model_index model = 0; model < 8; ++model)
        EXPECT_EQ(keep_of(roomy->plugin, model), keep_of(spare->plugin, model)) << "model " << model;

    // A ceiling that binds (a third of keep-alive 20 min's memory): no band floor, whose memory would come out of the
    // other keeps. The guard still holds, whatever the ceiling: over their whole two days, the same-memory keep-alive
    // leaves each light model's 60-minute gaps cold and its 3-minute ones warm (half its requests cold: the median),
    // while their own plans left both cold. So all six get that keep-alive's keep, beyond the 3 to 5 minutes that
    // the lift alone would give three of them (1.4.0); the ceiling takes that memory back from the heavy models.
    const auto tight = after_fleet("fairness_quantile: 0.5, lean_memory_share: 0.3");
    EXPECT_GT(tight->plugin.lean_price_factor(), 1.0);
    for (warmup_model_index model = 2; model < 8; ++model) {
        EXPECT_GE(keep_of(tight->plugin, model), 5 * kMinuteMs) << "model " << model;
        EXPECT_LT(keep_of(tight->plugin, model), 20 * kMinuteMs) << "model " << model;
    }
}

TEST(CostCurvePredictor, WhileThePlansBeatTheTimersTheModelsThatDecideTheQuantileGetOneKeepMore) {
    PluginTestHost host = numbered_models_host();
    auto keep_of = [](CostCurvePredictor& predictor, warmup_model_index model) {
        const auto* plan = predictor.plan_of(model);
        return plan == nullptr ? int64_t{-1} : plan->keep_ms;
    };
    // The 2-day fleet of heavy and light models, no lean ceiling (the band floor on), the heavy models woken by
    // `heavy_burst` requests.
    auto after_fleet = [&](bool margin, int heavy_burst) {
        auto built = std::make_unique<Built<CostCurvePredictor>>(
            host, std::string("{open_gaps: false, prewarm: false, cold_request_cost_loads: 15, fairness_quantile: 0.5, "
                              "lean_memory_share: 0, fairness_margin: ") +
                      (margin ? "true" : "false") + "}");
        Driver driver(host, built->plugin);
        heavy_and_light_fleet(driver, heavy_burst);
        return built;
    };
    // Heavy models woken by 30 requests: the plans keep them through their 30-minute gaps, which a timer holding the
    // same memory does not, so the plans leave under a tenth of that timer's cold requests. The light models decide
    // the median: without the margin they get the same-memory timer's keep; with it, those the timer leaves at or over
    // the target (the light models' rates differ only by rounding, so most of them) get the next candidate, 19 %
    // longer. The heavy models keep their own keeps.
    const auto margin = after_fleet(true, 30);
    const auto timer_floor = after_fleet(false, 30);
    EXPECT_LT(margin->plugin.plans_to_timer_ratio(), 0.2);
    for (warmup_model_index model = 0; model < 2; ++model)
        EXPECT_EQ(keep_of(margin->plugin, model), keep_of(timer_floor->plugin, model)) << "model " << model;
    int one_keep_more = 0;
    for (warmup_model_index model = 2; model < 8; ++model) {
        const int64_t floor = keep_of(timer_floor->plugin, model);
        const int64_t with_margin = keep_of(margin->plugin, model);
        ASSERT_GE(floor, 10 * kMinuteMs) << "model " << model;  // the same-memory timer's keep
        if (with_margin == floor) continue;
        EXPECT_NEAR(static_cast<double>(with_margin) / static_cast<double>(floor), std::exp2(0.25), 1e-3)
            << "model " << model;
        ++one_keep_more;
    }
    EXPECT_GE(one_keep_more, 4);

    // Heavy models woken by 3 requests: the plans do about as well as the timer (ratio over 0.9), and the margin is
    // off: every keep is the one without it, the light models' the same-memory timer's.
    const auto even = after_fleet(true, 3);
    const auto even_timer_floor = after_fleet(false, 3);
    EXPECT_GT(even->plugin.plans_to_timer_ratio(), 0.9);
    for (warmup_model_index model = 0; model < 8; ++model) {
        EXPECT_EQ(keep_of(even->plugin, model), keep_of(even_timer_floor->plugin, model)) << "model " << model;
        EXPECT_GT(keep_of(even->plugin, model), kMinuteMs) << "model " << model;  // floored, not the shortest keep
    }
}

TEST(CostCurvePredictor, TheLeanCeilingRaisesThePriceWhenKeepsWouldOutgrowTheReferenceKeepAlive) {
    PluginTestHost host = numbered_models_host();
    // A very high price of a waiting request would keep every model through 2-hour gaps; the ceiling (the memory of
    // a 20-minute keep-alive) must bring the price of memory up until the keeps come down.
    Built<CostCurvePredictor> predictor(host, "{cold_request_cost_loads: 100000}");
    Driver driver(host, predictor.plugin);
    int64_t last = 0;
    for (warmup_model_index model = 0; model < 8; ++model)
        last = driver.sessions(300, 2 * 60 * kMinuteMs, 1, model, kStartMs + model);
    EXPECT_GT(predictor.plugin.lean_price_factor(), 2.0);
    const auto prediction = driver.predict(last, 7);
    EXPECT_LT(prediction.keep_until_ms, last + 2 * 60 * kMinuteMs);

    Built<CostCurvePredictor> unbounded(host, "{cold_request_cost_loads: 100000, lean_memory_share: 0}");
    Driver unbounded_driver(host, unbounded.plugin);
    last = unbounded_driver.sessions(300, 2 * 60 * kMinuteMs, 1);
    EXPECT_EQ(unbounded.plugin.lean_price_factor(), 1.0);
    EXPECT_GT(unbounded_driver.predict(last).keep_until_ms, last + 2 * 60 * kMinuteMs);
}

TEST(CostCurvePredictor, TheLeanPriceAnswersAnExcessWithinAFewGaps) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{cold_request_cost_loads: 100000, fairness_quantile: 1}");
    Driver driver(host, predictor.plugin);
    // Eight models woken every 2 h by one request, priced so high that every plan keeps through the 2 h: six times
    // the reference keep-alive's memory. The controller's window lags by hundreds of gaps; an integral alone would
    // still be near the configured price after these 40 gaps (e^(0.008 x 40 x 5) < 5). The proportional term
    // answers the excess at once.
    constexpr int64_t kGapMs = 2 * 60 * kMinuteMs;
    int64_t t = kStartMs;
    for (int wake = 0; wake < 6; ++wake, t += kGapMs)
        for (warmup_model_index model = 0; model < 8; ++model) driver.arrive(t + model * 1000, model);
    EXPECT_GT(predictor.plugin.lean_price_factor(), 20.0);
    // The next plan of a model already reflects it: no longer through the 2 h.
    EXPECT_LT(driver.arrive(t, 0).keep_until_ms, t + kGapMs);
}

TEST(CostCurvePredictor, TheExchangeTargetIsThePlansRatioTimesTheTimersSlopeAtThePlansMemory) {
    constexpr int kKeeps = CostCurvePredictor::kKeeps;
    std::array<double, kKeeps> held{}, cold{};
    // A straight timer curve: 100 units of memory more per candidate, 10 cold requests fewer.
    for (int k = 0; k < kKeeps; ++k) held[k] = 100.0 * k, cold[k] = 1000.0 - 10.0 * k;
    // At 1050 the timers leave 895 cold; plans with half of that, at a slope of 0.1 request per unit: 0.05.
    EXPECT_DOUBLE_EQ(CostCurvePredictor::exchange_target_price(held, cold, 1050, 447.5), 0.05);
    EXPECT_DOUBLE_EQ(CostCurvePredictor::exchange_target_price(held, cold, 1050, 895), 0.1);

    // A kink at candidate 10: steep below (100 requests per candidate), flat above (1). The slope is read from one
    // candidate below the bracket to one above it, so a kink inside that span is averaged, not taken whole.
    for (int k = 0; k < kKeeps; ++k) cold[k] = k <= 10 ? 2000.0 - 100.0 * k : 1000.0 - 1.0 * (k - 10);
    // Plans at 1050 (between candidates 10 and 11): the slope from 9 to 12, (1100 - 998) / 300; T = 999.5.
    EXPECT_NEAR(CostCurvePredictor::exchange_target_price(held, cold, 1050, 999.5), 102.0 / 300, 1e-12);
    // At 550 (between 5 and 6), all steep: 1 request per unit.
    EXPECT_NEAR(CostCurvePredictor::exchange_target_price(held, cold, 550, 1450), 1.0, 1e-12);

    // Outside the candidates' memory: the nearest end of the curve, its slope over the three candidates there.
    for (int k = 0; k < kKeeps; ++k) held[k] = 100.0 + 100.0 * k, cold[k] = 1000.0 - 10.0 * k;
    EXPECT_DOUBLE_EQ(CostCurvePredictor::exchange_target_price(held, cold, 50, 500), 0.05);  // T = 1000
    EXPECT_DOUBLE_EQ(CostCurvePredictor::exchange_target_price(held, cold, 1e9, 530), 0.1);  // T = 530

    // Nothing to read: the plans leave nothing cold, no timer left a request cold, or more memory buys them nothing.
    EXPECT_EQ(CostCurvePredictor::exchange_target_price(held, cold, 1050, 0), -1);
    cold.fill(0);
    EXPECT_EQ(CostCurvePredictor::exchange_target_price(held, cold, 1050, 10), -1);
    cold.fill(50);
    EXPECT_EQ(CostCurvePredictor::exchange_target_price(held, cold, 1050, 10), -1);
}

/// Arrivals of several models in time order: model m wakes every gaps[m] ms with bursts[m] requests 1 s apart,
/// until `end_ms`.
void interleave(Driver& driver, const std::vector<int64_t>& gaps_ms, const std::vector<int>& bursts, int64_t end_ms) {
    std::vector<std::pair<int64_t, warmup_model_index>> arrivals;
    for (warmup_model_index model = 0; model < gaps_ms.size(); ++model)
        for (int64_t wake = kStartMs + model * 1000; wake < end_ms; wake += gaps_ms[model] + (bursts[model] - 1) * 1000)
            for (int i = 0; i < bursts[model]; ++i) arrivals.emplace_back(wake + i * 1000, model);
    std::sort(arrivals.begin(), arrivals.end());
    for (const auto& [ts, model] : arrivals) driver.arrive(ts, model);
}

TEST(CostCurvePredictor, TheExchangePriceMakesMemoryCheaperWherePlansBeatTheTimersByFar) {
    // Four models wake every 3 minutes with 20 requests, four every 30 minutes with one. The plans keep the first
    // four through their gaps and unload the others after a minute: 1 cold request per 9 short gaps and 1 long one.
    // A timer with that memory (about 2.8 minutes) leaves all 181 cold. The timers' curve falls by about 17
    // requests per minute of keep there, so the target is 17 / 181 x 1 minute = 0.1 request per minute held,
    // half the configured 0.2 (a request is worth 300 s of a reference model held).
    PluginTestHost host = numbered_models_host();
    const std::vector<int64_t> gaps{3 * kMinuteMs,  3 * kMinuteMs,  3 * kMinuteMs,  3 * kMinuteMs,
                                    30 * kMinuteMs, 30 * kMinuteMs, 30 * kMinuteMs, 30 * kMinuteMs};
    const std::vector<int> bursts{20, 20, 20, 20, 1, 1, 1, 1};
    constexpr int64_t kEndMs = kStartMs + 100 * 60 * kMinuteMs;
    Built<CostCurvePredictor> exchange(host, "{fairness_quantile: 1}");
    Driver driver(host, exchange.plugin);
    interleave(driver, gaps, bursts, kEndMs);
    EXPECT_LT(exchange.plugin.exchange_price_factor(), 0.7);
    EXPECT_GT(exchange.plugin.exchange_price_factor(), 0.35);
    EXPECT_EQ(exchange.plugin.lean_price_factor(), 1.0);  // far under the lean ceiling

    // The price is part of the state, the last field of the fleet's line. A text without it (1.3.0 and before, under
    // the same schema, which is what the host matches) is still read, the price then starting at 1.
    const std::string state = exchange.plugin.export_state();
    Built<CostCurvePredictor> imported(host, "{fairness_quantile: 1}");
    imported.plugin.import_state(state);
    EXPECT_NEAR(imported.plugin.exchange_price_factor(), exchange.plugin.exchange_price_factor(), 1e-6);
    const std::size_t fleet_end = state.find('\n', state.find("\n-1 ") + 1);
    const std::size_t last_field = state.rfind(' ', fleet_end);
    const std::string previous = state.substr(0, last_field) + state.substr(fleet_end);
    imported.plugin.import_state(previous);
    EXPECT_EQ(imported.plugin.exchange_price_factor(), 1.0);
    EXPECT_EQ(imported.plugin.export_model_state(0), exchange.plugin.export_model_state(0));
    // A bad price, or a field too many, is refused, and the state stays what it was.
    const std::string before = imported.plugin.export_state();
    for (const char* bad : {" nan", " 3", " -2.5", " x", " 0.1 0.1"})
        EXPECT_THROW(imported.plugin.import_state(state.substr(0, last_field) + bad + state.substr(fleet_end)),
                     warmup::sdk::Error)
            << bad;
    EXPECT_EQ(imported.plugin.export_state(), before);
    // A configuration without the exchange price keeps the handed-over value (and hands it on) but does not apply it.
    Built<CostCurvePredictor> switched_off(host, "{fairness_quantile: 1, exchange_price: false}");
    switched_off.plugin.import_state(state);
    EXPECT_EQ(switched_off.plugin.exchange_price_factor(), 1.0);
    EXPECT_EQ(switched_off.plugin.export_state(), state);

    Built<CostCurvePredictor> fixed(host, "{fairness_quantile: 1, exchange_price: false}");
    Driver fixed_driver(host, fixed.plugin);
    interleave(fixed_driver, gaps, bursts, kEndMs);
    EXPECT_EQ(fixed.plugin.exchange_price_factor(), 1.0);
}

TEST(CostCurvePredictor, BackFilledHistoryTeachesItThroughTheAnalyzersHistogram) {
    PluginTestHost host = numbered_models_host(8, 2300, 1200);  // the README's phi3:mini
    Built<CostCurvePredictor> predictor(host);
    Driver driver(host, predictor.plugin);
    std::vector<int64_t> times;
    for (int i = 0; i < 20; ++i) times.push_back(kStartMs + i * kMinuteMs);  // once a minute, seen in one batch
    const auto prediction = driver.backfill(times);
    const int64_t last = times.back();
    EXPECT_EQ(prediction.keep_until_ms, last + kMinuteMs);  // a gap of exactly the keep stays warm
    EXPECT_DOUBLE_EQ(prediction.p_use_within_horizon, 1.0);
    EXPECT_NEAR(static_cast<double>(prediction.next_arrival_ms - last), 60'000.0, 1'000.0);
    EXPECT_GT(prediction.confidence, 0.6);
}

TEST(CostCurvePredictor, ANightlyJobIsUnloadedAndPrewarmedInANarrowWindowBeforeItsNextRun) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{lean_memory_share: 0}");  // pre-warm windows are on by default
    Driver driver(host, predictor.plugin);
    const int64_t last = nightly(driver);
    const auto prediction = driver.predict(last);
    // Keeping an 8 GiB model for a day to save the 10 requests that arrive within its 10 s load never pays; a window
    // a few minutes wide around the next run does.
    constexpr int64_t kDayMs = 24 * 60 * kMinuteMs;
    EXPECT_LT(prediction.keep_until_ms - last, 60 * kMinuteMs);
    ASSERT_NE(prediction.warm_at_ms, WARMUP_TIME_NEVER);
    const int64_t from = prediction.warm_at_ms - last, to = prediction.warm_keep_until_ms - last;
    EXPECT_LT(to - from, 20 * kMinuteMs);
    EXPECT_GT(from, kDayMs - 10 * kMinuteMs);
    EXPECT_LT(to, kDayMs + 10 * kMinuteMs);

    Built<CostCurvePredictor> without(host, "{prewarm: false, lean_memory_share: 0}");
    Driver plain(host, without.plugin);
    const int64_t plain_last = nightly(plain);
    const auto plain_prediction = plain.predict(plain_last);
    EXPECT_EQ(plain_prediction.warm_at_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(plain_prediction.keep_until_ms - plain_last, prediction.keep_until_ms - last);  // same keep
}

TEST(CostCurvePredictor, BudgetObjectiveNeverUnloadsOnATimerAndPlansAPreWarmForTheCaseTheBudgetEvicts) {
    // Kept until evicted; the nightly job's window is planned all the same, to load it again if the budget has evicted
    // it by then, and to keep it as before (until evicted) once loaded.
    constexpr int64_t kDayMs = 24 * 60 * kMinuteMs;
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{objective: budget}");
    Driver driver(host, predictor.plugin);
    const int64_t last = nightly(driver);
    const auto prediction = driver.predict(last);
    EXPECT_EQ(prediction.keep_until_ms, WARMUP_TIME_NEVER);
    ASSERT_NE(prediction.warm_at_ms, WARMUP_TIME_NEVER);
    EXPECT_GT(prediction.warm_at_ms - last, kDayMs - 10 * kMinuteMs);
    EXPECT_LT(prediction.warm_at_ms - last, kDayMs);
    EXPECT_EQ(prediction.warm_keep_until_ms, WARMUP_TIME_NEVER);

    PluginTestHost plain_host = numbered_models_host();
    Built<CostCurvePredictor> without(plain_host, "{objective: budget, prewarm: false}");
    Driver plain(plain_host, without.plugin);
    const auto plain_prediction = plain.predict(nightly(plain));
    EXPECT_EQ(plain_prediction.keep_until_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(plain_prediction.warm_at_ms, WARMUP_TIME_NEVER);
}

/// Six days of one model, day d from midnight_ms + d days: a first use at start_min[d] minutes past 00:00 UTC, then one
/// every 5 minutes until end_min[d]; returns the last arrival.
int64_t six_days(Driver& driver, int64_t midnight_ms, const std::array<int, 6>& start_min,
                 const std::array<int, 6>& end_min) {
    constexpr int64_t kDayMs = 24 * 60 * kMinuteMs;
    int64_t last = 0;
    for (std::size_t day = 0; day < start_min.size(); ++day)
        for (int minute = start_min[day]; minute <= end_min[day]; minute += 5)
            last = midnight_ms + static_cast<int64_t>(day) * kDayMs + minute * kMinuteMs, driver.arrive(last);
    return last;
}

TEST(CostCurvePredictor, BudgetObjectivePreWarmsAModelAtTheClockTimeItsWorkingDaysStart) {
    // Working days that start between 08:30 and 09:40 UTC and end between 15:00 and 21:00: the nights' gaps spread
    // over 7 hours (no gap window catches 3 of them), the mornings' clock times over 70 minutes.
    constexpr int64_t kDayMs = 24 * 60 * kMinuteMs;
    constexpr int64_t kReadyMarginMs = 5'000;  // ready this much before the span (the scheduler adds its lead)
    const int64_t midnight = (kStartMs / kDayMs + 1) * kDayMs;
    const std::array<int, 6> starts{9 * 60, 9 * 60 + 25, 8 * 60 + 30, 9 * 60 + 40, 9 * 60 + 10, 8 * 60 + 45};
    const std::array<int, 6> ends{15 * 60, 21 * 60, 17 * 60, 19 * 60, 16 * 60, 20 * 60};

    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{objective: budget}");
    Driver driver(host, predictor.plugin);
    const int64_t last = six_days(driver, midnight, starts, ends);
    const auto evening = driver.predict(last);
    EXPECT_EQ(evening.keep_until_ms, WARMUP_TIME_NEVER);
    // Ready by the earliest start of the span (08:30) the next morning, and kept until evicted.
    EXPECT_EQ(evening.warm_at_ms, midnight + 6 * kDayMs + (8 * 60 + 30) * kMinuteMs - kReadyMarginMs);
    EXPECT_EQ(evening.warm_keep_until_ms, WARMUP_TIME_NEVER);
    // Asked again once that time has passed (pre-warmed and not used, say): the morning after, and the one after
    // that (a weekend), but not past 3 days since the last use (a model no longer used).
    EXPECT_EQ(driver.predict(evening.warm_at_ms + kMinuteMs).warm_at_ms, evening.warm_at_ms + kDayMs);
    EXPECT_EQ(driver.predict(evening.warm_at_ms + kDayMs + kMinuteMs).warm_at_ms, evening.warm_at_ms + 2 * kDayMs);
    EXPECT_EQ(driver.predict(evening.warm_at_ms + 2 * kDayMs + kMinuteMs).warm_at_ms, WARMUP_TIME_NEVER);
    // The starts of day are learned state: an instance that imports it plans the same morning.
    Built<CostCurvePredictor> imported(host, "{objective: budget}");
    imported.plugin.import_state(predictor.plugin.export_state());
    EXPECT_EQ(imported.plugin.export_state(), predictor.plugin.export_state());
    const auto* plan = imported.plugin.plan_of(0);
    ASSERT_NE(plan, nullptr);
    EXPECT_EQ(plan->daily_start_ms, (8 * 60 + 30) * kMinuteMs - kReadyMarginMs);
    // They end the model's line (the starts of days 1-5, oldest first: day 0's first use ended no idle gap); an
    // instance that does not use them drops them, so its text is the one 1.11.0 reads.
    const std::string budget_text = predictor.plugin.export_state();
    const std::string starts_of_day = " 5 33900000 30600000 34800000 33000000 31500000\n";
    ASSERT_NE(budget_text.find(starts_of_day), std::string::npos) << budget_text;
    std::string without = budget_text;
    without.replace(without.find(starts_of_day), starts_of_day.size(), "\n");
    Built<CostCurvePredictor> lean(host, "{lean_memory_share: 0}");
    lean.plugin.import_state(budget_text);
    EXPECT_EQ(lean.plugin.export_state(), without);

    // Not with `daily_window: false` or `prewarm: false`, nor in lean mode (whose windows are priced against the
    // memory they hold).
    for (const char* params : {"{objective: budget, daily_window: false}", "{objective: budget, prewarm: false}",
                               "{lean_memory_share: 0}"}) {
        PluginTestHost other_host = numbered_models_host();
        Built<CostCurvePredictor> other(other_host, params);
        Driver plain(other_host, other.plugin);
        EXPECT_EQ(plain.predict(six_days(plain, midnight, starts, ends)).warm_at_ms, WARMUP_TIME_NEVER) << params;
    }
}

TEST(CostCurvePredictor, StartsOfDayScatteredOverTheClockMakeNoDailyPreWarm) {
    // No span of 3 hours holds 3 of the 6 starts (00:00, 04:00, ... 20:00): the daily window changes nothing.
    constexpr int64_t kDayMs = 24 * 60 * kMinuteMs;
    const int64_t midnight = (kStartMs / kDayMs + 1) * kDayMs;
    const std::array<int, 6> starts{0, 4 * 60, 8 * 60, 12 * 60, 16 * 60, 20 * 60};
    const std::array<int, 6> ends{60, 5 * 60, 9 * 60, 13 * 60, 17 * 60, 21 * 60};
    std::array<int64_t, 2> warm_at{};
    for (const bool daily : {true, false}) {
        PluginTestHost host = numbered_models_host();
        Built<CostCurvePredictor> predictor(host,
                                            daily ? "{objective: budget}" : "{objective: budget, daily_window: false}");
        Driver driver(host, predictor.plugin);
        warm_at[daily ? 0 : 1] = driver.predict(six_days(driver, midnight, starts, ends)).warm_at_ms;
    }
    EXPECT_EQ(warm_at[0], warm_at[1]);
}

TEST(CostCurvePredictor, PredictionsAreConditionalOnTheTimeAlreadyIdle) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host);
    Driver driver(host, predictor.plugin);
    const int64_t last = driver.sessions(40, 30 * kMinuteMs, 1);
    const auto fresh = driver.predict(last);
    EXPECT_LT(fresh.p_use_within_horizon, 0.2);  // the next request is ~30 min away, the horizon 10 min
    const auto later = driver.predict(last + 25 * kMinuteMs);
    EXPECT_GT(later.p_use_within_horizon, 0.8);  // 25 min idle: it is due within 10 min
    EXPECT_NEAR(static_cast<double>(later.next_arrival_ms - last), 30.0 * kMinuteMs, 2.0 * kMinuteMs);
    EXPECT_GT(later.confidence, 0.7);
}

TEST(CostCurvePredictor, StateHandsOverKeepAndPrewarmAndACorruptStateChangesNothing) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> first(host, "{lean_memory_share: 0}");
    Driver driver(host, first.plugin);
    const int64_t last = nightly(driver);
    const auto before = driver.predict(last);
    ASSERT_NE(before.warm_at_ms, WARMUP_TIME_NEVER);
    const std::string state = first.plugin.export_state();

    Built<CostCurvePredictor> second(host, "{lean_memory_share: 0}");
    second.plugin.import_state(state);
    const auto* plan = second.plugin.plan_of(0);
    ASSERT_NE(plan, nullptr);
    EXPECT_EQ(last + plan->keep_ms, before.keep_until_ms);
    EXPECT_EQ(last + plan->window_start_ms, before.warm_at_ms);  // the recent gaps came along
    EXPECT_EQ(last + plan->window_end_ms, before.warm_keep_until_ms);
    EXPECT_EQ(second.plugin.export_state(), state);

    // Refused whole, whatever record is bad: the state stays what it was.
    EXPECT_THROW(second.plugin.import_state(state + "3 5 1 x\n"), warmup::sdk::Error);
    EXPECT_THROW(second.plugin.import_state(state + "4000000 5 1 0 0\n"), warmup::sdk::Error);  // not in the catalog
    EXPECT_THROW(second.plugin.import_state("org.warmup.state.other/1\n"), warmup::sdk::Error);
    EXPECT_EQ(second.plugin.export_state(), state);
}

/// The pieces a plugin's export_state_to() hands the host, one string each.
template <class Plugin>
std::vector<std::string> exported_pieces(const Plugin& plugin) {
    std::vector<std::string> pieces;
    const warmup_byte_writer collect{&pieces, [](void* context, const char* data, size_t size) {
                                         static_cast<std::vector<std::string>*>(context)->emplace_back(data, size);
                                         return 0;
                                     }};
    plugin.export_state_to(warmup::sdk::StateWriter(collect));
    return pieces;
}

TEST(CostCurvePredictor, StateIsHandedOverInBlocksOfModelLinesThatMakeTheWholeState) {
    constexpr uint32_t kModels = 300;  // ~1 KB of text each: several blocks
    PluginTestHost host = numbered_models_host(kModels);
    Built<CostCurvePredictor> predictor(host);
    Driver driver(host, predictor.plugin);
    for (warmup_model_index model = 0; model < kModels; ++model)
        driver.sessions(6, (5 + model % 40) * kMinuteMs, 1 + model % 3, model);

    const std::vector<std::string> pieces = exported_pieces(predictor.plugin);
    ASSERT_GT(pieces.size(), 2u);
    std::string whole;
    for (const std::string& piece : pieces) {
        EXPECT_LE(piece.size(), 64u * 1024) << "a piece holds a few models, not the state";
        EXPECT_EQ(piece.back(), '\n') << "a piece ends with a whole model line";
        whole += piece;
    }
    EXPECT_TRUE(whole == predictor.plugin.export_state());
    // Every model's line is its index, then exactly what the per-model export (a fleet's hand-over) writes.
    for (warmup_model_index model = 0; model < kModels; ++model) {
        const std::string one = predictor.plugin.export_model_state(model);
        const std::string line = std::to_string(model) + ' ' + one.substr(one.find('\n') + 1);
        EXPECT_NE(whole.find('\n' + line), std::string::npos) << "model " << model;
    }
    Built<CostCurvePredictor> imported(host);
    imported.plugin.import_state(whole);
    EXPECT_TRUE(imported.plugin.export_state() == whole);
}

TEST(CostCurvePredictor, ParamsAreValidated) {
    PluginTestHost host = numbered_models_host();
    EXPECT_NE(host.create_error<CostCurvePredictor>("{objective: fast}").find("objective"), std::string::npos);
    EXPECT_NE(host.create_error<CostCurvePredictor>("{open_gaps: 3}").find("open_gaps"), std::string::npos);
    EXPECT_NE(host.create_error<CostCurvePredictor>("{min_keep_ms: 10}").find("min_keep_ms"), std::string::npos);
    EXPECT_NE(host.create_error<CostCurvePredictor>("{fairness_quantile: 2}").find("fairness_quantile"),
              std::string::npos);
    EXPECT_NE(host.create_error<CostCurvePredictor>("{keep_ms: 5}").find("keep_ms"), std::string::npos);
    EXPECT_NE(host.create_error<CostCurvePredictor>("{gap_spread: 5}").find("gap_spread"), std::string::npos);
    EXPECT_NE(host.create_error<CostCurvePredictor>("{exchange_price: 0.5}").find("exchange_price"), std::string::npos);
    EXPECT_NE(host.create_error<CostCurvePredictor>("{price_load: mean}").find("price_load"), std::string::npos);
    EXPECT_NE(host.create_error<CostCurvePredictor>("{fairness_margin: 2}").find("fairness_margin"), std::string::npos);
    // The start-up keep is at most the reference keep (the period it applies in).
    EXPECT_NE(host.create_error<CostCurvePredictor>("{startup_keep_ms: 1200001}").find("startup_keep_ms"),
              std::string::npos);
    EXPECT_EQ(host.create_error<CostCurvePredictor>("{startup_keep_ms: 1200000}"), "");
    EXPECT_EQ(host.create_error<CostCurvePredictor>("{objective: budget, prewarm: true}"), "");
}

}  // namespace

/// Sessions of the leader (model 0: 6 requests 20 s apart) `hours_apart(i)` apart; with `follows`, each followed 60 s
/// after its last request by 3 requests of model 1, 5 s apart. Returns the time of the next session's start.
int64_t leader_sessions(Driver& driver, int64_t start, int count, bool follows) {
    int64_t t = start;
    for (int i = 0; i < count; ++i) {
        for (int r = 0; r < 6; ++r) driver.arrive(t + r * 20'000, 0);
        const int64_t end = t + 5 * 20'000;
        if (follows)
            for (int r = 0; r < 3; ++r) driver.arrive(end + 60'000 + r * 5000, 1);
        t = end + (180 + (i * 97) % 360) * kMinuteMs;  // 3 to 9 hours, never twice the same
    }
    return t;
}

TEST(CostCurvePredictor, AFollowerUsedMinutesAfterItsLeaderIsAskedReadyAtTheLeadersUse) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{lean_memory_share: 0}");
    Driver driver(host, predictor.plugin);
    const int64_t next = leader_sessions(driver, kStartMs, 12, true);
    // Its own keep leaves the follower cold after hours idle; holding it ~3 minutes per session saves 3 requests.
    EXPECT_EQ(predictor.plugin.plan_of(1)->keep_ms, kMinuteMs);
    const auto leader = driver.arrive(next, 0);
    ASSERT_EQ(leader.replan_count, 1u);
    EXPECT_EQ(leader.replan_models[0], 1u);
    const auto follower = driver.predict(next, 1);
    EXPECT_EQ(follower.warm_at_ms, next);                      // ready at once
    EXPECT_GE(follower.warm_keep_until_ms, next + kMinuteMs);  // and through the window after the leader's use
    EXPECT_LT(follower.keep_until_ms, next);  // its own keep is over: the pre-warm is not merged into it
    // The follower's use ends the succession: its own plan decides again.
    driver.arrive(next + 60'000, 1);
    EXPECT_EQ(driver.predict(next + 60'000, 1).warm_at_ms, WARMUP_TIME_NEVER);
}

TEST(CostCurvePredictor, AFollowerThatStopsFollowingIsNoLongerAskedFor) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{lean_memory_share: 0}");
    Driver driver(host, predictor.plugin);
    int64_t next = leader_sessions(driver, kStartMs, 8, true);
    EXPECT_EQ(driver.arrive(next, 0).replan_count, 1u);
    // Forty sessions without the follower: each hold is memory for nothing, and the pair's saving is spent.
    next = leader_sessions(driver, next + kMinuteMs, 40, false);
    EXPECT_EQ(driver.arrive(next, 0).replan_count, 0u);
}

TEST(CostCurvePredictor, LearnedSuccessionsAreHandedOverWithTheState) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> first(host, "{lean_memory_share: 0}");
    Driver driver(host, first.plugin);
    const int64_t next = leader_sessions(driver, kStartMs, 12, true);
    const std::string state = first.plugin.export_state();
    ASSERT_NE(state.find("\n-2 1 "), std::string::npos) << "the follower's pairs are in the text";

    // A hot-swap to an instance that imports the state: the leader's next use names the follower at once.
    Built<CostCurvePredictor> second(host, "{lean_memory_share: 0}");
    second.plugin.import_state(state);
    EXPECT_EQ(second.plugin.export_state(), state);
    driver.swap_predictor(second.plugin);
    const auto leader = driver.arrive(next, 0);
    ASSERT_EQ(leader.replan_count, 1u);
    EXPECT_EQ(leader.replan_models[0], 1u);
    EXPECT_EQ(driver.predict(next, 1).warm_at_ms, next);

    // The same state without its successions' records: the pair has to be learned again.
    std::string without;
    for (std::size_t at = 0, end = 0; at < state.size(); at = end + 1) {
        end = state.find('\n', at);
        if (state.compare(at, 3, "-2 ") != 0) without += state.substr(at, end - at + 1);
    }
    ASSERT_LT(without.size(), state.size());
    Built<CostCurvePredictor> third(host, "{lean_memory_share: 0}");
    third.plugin.import_state(without);
    driver.swap_predictor(third.plugin);
    EXPECT_EQ(driver.arrive(next + 6 * 60 * kMinuteMs, 0).replan_count, 0u);
}

TEST(CostCurvePredictor, AFollowerForgottenBeforeTheStateWasWrittenIsDroppedAtItsLeadersNextUse) {
    // A fleet moves the follower to another host (its state forgotten here) while its leader still names it: the
    // state written then names a model with no line of its own, which the importing instance must still know.
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> first(host, "{lean_memory_share: 0}");
    Driver driver(host, first.plugin);
    const int64_t next = leader_sessions(driver, kStartMs, 12, true);
    first.plugin.forget_model_state(1);
    const std::string state = first.plugin.export_state();
    ASSERT_NE(state.find("\n-2 0 "), std::string::npos) << "the leader's record still names its follower";
    ASSERT_EQ(state.find("\n1 "), std::string::npos) << "the follower has no model line";
    Built<CostCurvePredictor> second(host, "{lean_memory_share: 0}");
    second.plugin.import_state(state);
    driver.swap_predictor(second.plugin);
    EXPECT_EQ(driver.arrive(next, 0).replan_count, 0u);
    EXPECT_EQ(second.plugin.export_state().find("\n-2 0 "), std::string::npos) << "dropped from the leader's list";
}

TEST(CostCurvePredictor, AWakeUpWithoutAPlanInForceIsNoEvidenceForASuccession) {
    // After an import no plan is in force until the model is planned again: its first wake-up is not scored (as the
    // plans' scoring does not score it), so a follower looks for leaders from its second cold wake-up after that.
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> first(host, "{lean_memory_share: 0}");
    Driver driver(host, first.plugin);
    int64_t next = leader_sessions(driver, kStartMs, 12, true);
    std::string without_pairs;
    const std::string state = first.plugin.export_state();
    for (std::size_t at = 0, end = 0; at < state.size(); at = end + 1) {
        end = state.find('\n', at);
        if (state.compare(at, 3, "-2 ") != 0) without_pairs += state.substr(at, end - at + 1);
    }
    Built<CostCurvePredictor> second(host, "{lean_memory_share: 0}");
    second.plugin.import_state(without_pairs);
    driver.swap_predictor(second.plugin);
    const auto has_pairs = [&] { return second.plugin.export_state().find("\n-2 1 ") != std::string::npos; };
    next = leader_sessions(driver, next, 2, true);  // the first wake-up unscored, the second the first cold one
    EXPECT_FALSE(has_pairs());
    leader_sessions(driver, next, 1, true);  // the second cold one: the leader used a minute before is a candidate
    EXPECT_TRUE(has_pairs());
}

TEST(CostCurvePredictor, DamagedSuccessionsInTheStateAreRefusedWhole) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> first(host, "{lean_memory_share: 0}");
    Driver driver(host, first.plugin);
    leader_sessions(driver, kStartMs, 12, true);
    const std::string state = first.plugin.export_state();
    Built<CostCurvePredictor> second(host, "{lean_memory_share: 0}");
    second.plugin.import_state(state);
    // <model> <cold wakes> <since the entry> <followers...> <leaders: model formed_ms at caught x4 wakes x4 held x4
    // starts x4>
    const std::string pair = " 0 1700000000000 1 3 3 3 3 3 3 3 3 1000 1000 1000 1000 1 1 1 1\n";
    for (const std::string& bad : std::vector<std::string>{
             "-2 1 5 5 0 1" + pair,              // a second record for model 1
             "-2 2 5 5 0 1 2" + pair.substr(2),  // a model that leads itself
             "-2 2 5 5 0 2 0" + pair.substr(2, pair.size() - 3) + pair.substr(0, pair.size()),  // a leader twice
             "-2 2 5 5 2 3 3 0\n",                                                              // a follower twice
             "-2 2 5 0 0 1" + pair,                    // a pair formed after more cold wake-ups than the entry has
             "-2 2 5 5 0 1 4000000" + pair.substr(2),  // a leader outside the catalog
             "-2 2 5 5 0 5" + pair,                    // more leaders than a model keeps
             "-2 2 300 5 0 0\n",                       // cold wake-ups over 255
             "-2 2 5 5 0 1 0 1700000000000 1 3 3 3 3 3 3 3 3 -1 1000 1000 1000 1 1 1 1\n",  // negative memory
             "-2 2 5 5 0 0 7\n",                                                            // trailing characters
         }) {
        EXPECT_THROW(second.plugin.import_state(state + bad), warmup::sdk::Error) << bad;
        EXPECT_EQ(second.plugin.export_state(), state) << bad;
    }
    // A well-formed record for another model is read and written back as it came.
    second.plugin.import_state(state + "-2 2 5 5 0 1" + pair);
    EXPECT_NE(second.plugin.export_state().find("\n-2 2 5 5 0 1" + pair), std::string::npos);
}

TEST(CostCurvePredictor, SuccessionsAreOffOnRequestAndWithTheBudgetObjective) {
    for (const char* params : {"{lean_memory_share: 0, succession: false}", "{objective: budget}"}) {
        PluginTestHost host = numbered_models_host();
        Built<CostCurvePredictor> predictor(host, params);
        Driver driver(host, predictor.plugin);
        const int64_t next = leader_sessions(driver, kStartMs, 12, true);
        EXPECT_EQ(driver.arrive(next, 0).replan_count, 0u) << params;
        EXPECT_NE(driver.predict(next, 1).warm_at_ms, next) << params;  // not asked ready at the leader's use
    }
}

TEST(CostCurvePredictor, AFollowerIsNotHeldAfterALeaderSoBusyThatHoldingCostsMoreThanItSaves) {
    PluginTestHost host = numbered_models_host();
    Built<CostCurvePredictor> predictor(host, "{lean_memory_share: 0}");
    Driver driver(host, predictor.plugin);
    // Model 0 used every 2 minutes all along, model 1 woken for 3 requests every 3 to 9 hours: each wake-up comes
    // within a minute of a use of model 0, and holding model 1 after every use of model 0 would hold it all the time.
    int64_t t = kStartMs, wake = kStartMs + 7 * kMinuteMs;
    for (int i = 0; i < 30; ++i) {
        for (; t < wake; t += 2 * kMinuteMs) driver.arrive(t, 0);
        for (int r = 0; r < 3; ++r) driver.arrive(wake + 30'000 + r * 5000, 1);
        wake += (180 + (i * 97) % 360) * kMinuteMs;
    }
    EXPECT_EQ(driver.arrive(t, 0).replan_count, 0u);
}
