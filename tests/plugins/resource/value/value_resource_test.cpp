// Unit tests of org.warmup.resource.value: the victim is the ready model whose predicted next use avoids the fewest
// cold requests per MiB (a frequent model over a daily one, a small one over a big one, a bursty one over a lone
// request), ties go to the least recently used, the horizon follows the evictions, and the learned state survives an
// export/import while bad state is refused without loss; three shadow caches (value, LRU, Greedy-Dual) decide which
// rule is in force, and a rule takes over only once its shadow clearly misses less than the one in force.
#include "value_resource.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "greedy_dual_resource.hpp"
#include "plugin_library_check.hpp"
#include "plugin_test_host.hpp"

namespace warmup::plugins {
namespace {

constexpr warmup_time_ms kMinute = 60'000;
constexpr warmup_time_ms kDay = 24 * 60 * kMinute;

using Rule = ValueResource::Rule;

ValueResource make_policy(test::PluginTestHost& host, const std::string& yaml = "") {
    sdk::Params params(yaml);
    return ValueResource(host.host(), params);
}

/// A demand load finishing at `at_ms`: on_ready then on_used at the same instant, as the engine reports it.
void cold_use(ValueResource& policy, warmup_model_index model, warmup_time_ms at_ms, double memory_mb = 1000) {
    policy.on_ready(model, memory_mb, 2000, at_ms);
    policy.on_used(model, at_ms);
}

/// A model loaded at 0 and kept ready, used every `every_ms` until `until_ms` (inclusive).
void steady_uses(ValueResource& policy, warmup_model_index model, warmup_time_ms every_ms, warmup_time_ms until_ms,
                 double memory_mb = 1000) {
    cold_use(policy, model, 0, memory_mb);
    for (warmup_time_ms t = every_ms; t <= until_ms; t += every_ms) policy.on_used(model, t);
}

/// A model used once a day at `offset_ms` (days 0 .. days-1), loaded for each use and evicted in between except the
/// last time (it stays ready).
void daily_uses(ValueResource& policy, warmup_model_index model, int days, warmup_time_ms offset_ms,
                double memory_mb = 1000) {
    for (int day = 0; day < days; ++day) {
        const warmup_time_ms at = day * kDay + offset_ms;
        cold_use(policy, model, at, memory_mb);
        if (day + 1 < days) policy.on_removed(model, at + kMinute);  // a planned unload, not an eviction
    }
}

TEST(ValueResource, KeepsAModelUsedEveryTenMinutesOverOneUsedOnceADay) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "horizon_ms: 300000");
    const auto frequent = host.model("frequent"), daily = host.model("daily");
    steady_uses(policy, frequent, 10 * kMinute, 3 * kDay);
    daily_uses(policy, daily, 4, 4 * kMinute);  // last use at 3 days + 4 min
    const warmup_time_ms now = 3 * kDay + 5 * kMinute;
    // LRU would evict `frequent` (idle 5 min against 1 min); its next use is 5 min away, the daily one's a day away.
    EXPECT_GT(policy.p_use_within_horizon(frequent, now), 0.8);
    EXPECT_LT(policy.p_use_within_horizon(daily, now), 0.05);
    EXPECT_EQ(policy.pick_victim(now), daily);
}

TEST(ValueResource, EvictsABigRarelyUsedModelBeforeASmallFrequentOne) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "horizon_ms: 300000");
    const auto small = host.model("small"), big = host.model("big");
    steady_uses(policy, small, 10 * kMinute, 3 * kDay, 1000);
    daily_uses(policy, big, 4, 4 * kMinute, 8000);
    EXPECT_EQ(policy.pick_victim(3 * kDay + 5 * kMinute), big);
}

TEST(ValueResource, SameHistoryTheBiggerModelGoesFirstThenTheLeastRecentlyUsed) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "horizon_ms: 300000");
    const auto a = host.model("a"), b = host.model("b"), c = host.model("c");
    steady_uses(policy, a, 10 * kMinute, kDay, 1000);
    steady_uses(policy, b, 10 * kMinute, kDay, 4000);
    steady_uses(policy, c, 10 * kMinute, kDay, 1000);
    const warmup_time_ms now = kDay + 7 * kMinute;  // the next use (10 min gaps) is within the 5 min horizon
    EXPECT_GT(policy.value_of(a, now), 0.0);
    EXPECT_NEAR(policy.value_of(b, now) * 4, policy.value_of(a, now), 1e-9 * policy.value_of(a, now));
    ASSERT_EQ(policy.pick_victim(now), b);  // a quarter of the value per MiB
    policy.on_removed(b, now);
    EXPECT_DOUBLE_EQ(policy.value_of(c, now), policy.value_of(a, now));
    EXPECT_EQ(policy.pick_victim(now), a);  // an exact tie, same idle time: the lower index
}

TEST(ValueResource, WithNoHistoryAnywhereItIsLruThenLowestIndex) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto a = host.model("a"), b = host.model("b"), c = host.model("c");
    EXPECT_EQ(policy.pick_victim(0), WARMUP_NO_MODEL);
    policy.on_ready(b, 1000, 2000, 10);  // pre-warmed, never used: no gap, no burst
    policy.on_ready(a, 1000, 2000, 10);
    policy.on_ready(c, 1000, 2000, 20);
    EXPECT_DOUBLE_EQ(policy.value_of(a, 30), 0.0);
    EXPECT_EQ(policy.pick_victim(30), a);  // a and b idle since 10: the lower index; c is younger
    policy.on_removed(a, 30);
    EXPECT_EQ(policy.pick_victim(30), b);
    policy.on_removed(b, 30);
    EXPECT_EQ(policy.pick_victim(30), c);
    policy.on_removed(c, 30);
    EXPECT_EQ(policy.pick_victim(30), WARMUP_NO_MODEL);
    EXPECT_TRUE(std::isnan(policy.value_of(c, 30)));
}

// Two models sure to be used within the horizon: one in about 1.5 minutes, the other in about 8.5. Per MiB they avoid
// the same cold requests; per memory-time held for them the sooner one is worth more, so the later one goes first.
// Scored by probability alone (1.4.0) they tie, and the lower index (the sooner one) would go.
TEST(ValueResource, OfTwoModelsSureToBeUsedTheOneUsedLaterGoesFirst) {
    constexpr warmup_time_ms kLastUse = 18 * 60 * kMinute;  // a multiple of both gaps
    const warmup_time_ms now = kLastUse + 30'000;
    for (const bool density : {true, false}) {
        SCOPED_TRACE(density ? "value_score: density" : "value_score: probability");
        test::PluginTestHost host;
        auto policy =
            make_policy(host, std::string("horizon_ms: 600000\nvalue_score: ") + (density ? "density" : "probability"));
        const auto sooner = host.model("sooner"), later = host.model("later");
        steady_uses(policy, sooner, 2 * kMinute, kLastUse);
        steady_uses(policy, later, 9 * kMinute, kLastUse);
        EXPECT_NEAR(policy.p_use_within_horizon(sooner, now), 1.0, 1e-9);
        EXPECT_NEAR(policy.p_use_within_horizon(later, now), 1.0, 1e-9);
        if (density) {
            // Residences about 0.15 and 0.85 of the 10-minute horizon.
            EXPECT_GT(policy.value_of(sooner, now), 4 * policy.value_of(later, now));
            EXPECT_LT(policy.value_of(sooner, now), 7 * policy.value_of(later, now));
            EXPECT_EQ(policy.pick_victim(now), later);
        } else {
            EXPECT_DOUBLE_EQ(policy.value_of(sooner, now), policy.value_of(later, now));
            EXPECT_EQ(policy.pick_victim(now), sooner);
        }
    }
}

TEST(ValueResource, ABurstyModelIsWorthMoreThanALoneRequestWithTheSameGaps) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "horizon_ms: 300000\nprior_gaps: 1");
    const auto lone = host.model("lone"), bursty = host.model("bursty");
    cold_use(policy, lone, 0);
    cold_use(policy, bursty, 0);
    for (warmup_time_ms t = 10 * kMinute; t <= kDay; t += 10 * kMinute) {
        policy.on_used(lone, t);
        // Four requests within one load time (2 s) of the wake-up, all served warm.
        for (warmup_time_ms k = 0; k < 4; ++k) policy.on_used(bursty, t + k * 500);
    }
    policy.on_used(bursty, kDay + 5'000);  // outside the window: closes the last burst
    // The bursts are 4 and 1 requests (the cold first load is not a measurement); the fleet mean is between.
    EXPECT_GT(policy.expected_burst(bursty), 3.5);
    EXPECT_LT(policy.expected_burst(lone), 1.5);
    policy.on_used(lone, kDay + 5'000);
    EXPECT_EQ(policy.pick_victim(kDay + 6 * kMinute), lone);
}

// The host reports how many requests each use served (ABI 1.4): a wake-up is weighed by the requests a cold start
// would make wait, not by the usage events that carried them.
TEST(ValueResource, AWakeUpIsWeighedInRequestsAndWithBurstUnitUsesInEvents) {
    for (const bool in_requests : {true, false}) {
        SCOPED_TRACE(in_requests ? "burst_unit: requests" : "burst_unit: uses");
        test::PluginTestHost host;
        auto policy = make_policy(
            host, std::string("horizon_ms: 300000\nprior_gaps: 1\nburst_unit: ") + (in_requests ? "requests" : "uses"));
        const auto heavy = host.model("heavy"), light = host.model("light");
        cold_use(policy, light, 0);
        cold_use(policy, heavy, 0);
        // The same gaps; each of heavy's wake-ups is one event of 20 requests, then one of 5 within the load time.
        for (warmup_time_ms t = 10 * kMinute; t <= kDay; t += 10 * kMinute) {
            policy.on_used_requests(light, 1, t);
            policy.on_used_requests(heavy, 20, t);
            policy.on_used_requests(heavy, 5, t + 500);
        }
        policy.on_used_requests(heavy, 1, kDay + 5'000);  // outside the window: closes the last wake-up
        policy.on_used_requests(light, 1, kDay + 5'000);
        if (in_requests) {
            EXPECT_GT(policy.expected_burst(heavy), 24.0);
            EXPECT_LT(policy.expected_burst(light), 1.5);
            EXPECT_EQ(policy.pick_victim(kDay + 6 * kMinute), light);
        } else {
            EXPECT_NEAR(policy.expected_burst(heavy), 2.0, 0.2);  // two events a wake-up
            EXPECT_LT(policy.expected_burst(light), 1.5);
        }
    }
}

TEST(ValueResource, AColdWakeUpCountsItsGapFromTheRequestNotFromTheLoadEnd) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "horizon_ms: 20000\nprior_gaps: 0");
    const auto a = host.model("a");
    // Used at 0, evicted, then a 30 s demand load finishing at 90 s: its request came at 60 s, a 60 s gap (not 90 s).
    policy.on_ready(a, 1000, 30'000, 0);
    policy.on_used(a, 0);
    policy.on_removed(a, 10'000);
    policy.on_ready(a, 1000, 30'000, 90'000);
    policy.on_used(a, 90'000);
    // Idle 50 s: a 60 s gap ends within the 20 s horizon, a 90 s one would not.
    EXPECT_NEAR(policy.p_use_within_horizon(a, 90'000 + 50'000), 1.0, 1e-9);
    EXPECT_NEAR(policy.p_use_within_horizon(a, 90'000 + 75'000), 0.0, 1e-9);  // past every gap seen
    // The cold wake-up's waiting requests reached the policy as one use: no burst measured, the default of 1 stays.
    EXPECT_DOUBLE_EQ(policy.expected_burst(a), 1.0);
}

TEST(ValueResource, HorizonIsTheGeometricMeanOfTheEvictedModelsIdleAges) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto a = host.model("a"), b = host.model("b"), c = host.model("c");
    EXPECT_DOUBLE_EQ(policy.horizon_ms(), 0.0);
    cold_use(policy, a, 0);
    cold_use(policy, b, 0);
    cold_use(policy, c, 0);
    policy.on_used(b, 3 * kMinute);
    policy.on_used(c, 3 * kMinute);
    ASSERT_EQ(policy.pick_victim(4 * kMinute), a);  // no gaps: LRU order
    policy.on_removed(a, 4 * kMinute);              // idle 4 min
    EXPECT_NEAR(policy.horizon_ms(), 4.0 * kMinute, 1e-6);
    policy.on_removed(c, 5 * kMinute);  // not picked: a planned unload does not move the horizon
    EXPECT_NEAR(policy.horizon_ms(), 4.0 * kMinute, 1e-6);
    ASSERT_EQ(policy.pick_victim(4 * kMinute), b);
    policy.on_removed(b, 4 * kMinute);  // idle 1 min: geometric mean of 4 and 1 min
    EXPECT_NEAR(policy.horizon_ms(), 2.0 * kMinute, 1e-6);
}

TEST(ValueResource, StateRoundTripsAndBadStateIsRefusedWithoutLoss) {
    test::PluginTestHost host;
    auto source = make_policy(host);
    const auto frequent = host.model("frequent"), daily = host.model("daily");
    steady_uses(source, frequent, 10 * kMinute, 3 * kDay);
    daily_uses(source, daily, 4, 4 * kMinute);
    ASSERT_EQ(source.pick_victim(3 * kDay + 5 * kMinute), daily);
    source.on_removed(daily, 3 * kDay + 5 * kMinute);
    const std::string state = source.export_state();

    auto target = make_policy(host);
    target.import_state(state);
    EXPECT_EQ(target.export_state(), state);
    EXPECT_DOUBLE_EQ(target.horizon_ms(), source.horizon_ms());
    // The ready set is the host's: after a swap it reports the ready models with on_ready.
    // Its idle time still counts from the last use (3 days) that came with the state.
    target.on_ready(frequent, 1000, 2000, 3 * kDay + 6 * kMinute);
    const warmup_time_ms later = 3 * kDay + 7 * kMinute;
    EXPECT_NEAR(target.p_use_within_horizon(frequent, later), source.p_use_within_horizon(frequent, later), 1e-12);
    EXPECT_NEAR(target.value_of(frequent, later), source.value_of(frequent, later), 1e-9);
    EXPECT_NEAR(target.expected_burst(frequent), source.expected_burst(frequent), 1e-12);

    const std::string before = target.export_state();
    const std::string schema = "org.warmup.state.resource-value/1\n";
    std::string zeros, rising;
    for (std::size_t k = 0; k < ValueResource::kLengths; ++k) {
        zeros += " 0";
        rising += k == 3 ? " 2" : " 1";
    }
    const std::string fleet = "-1 10 1 0 0" + zeros + "\n";
    const std::string model = "1 5 0 0" + zeros + "\n";
    ASSERT_NO_THROW(make_policy(host).import_state(schema + fleet + model));
    for (const std::string& bad : {
             std::string("org.warmup.state.other/1\n") + fleet,  // another schema
             schema + model,                                     // no fleet record
             schema + fleet + fleet,                             // the fleet twice
             schema + fleet + model + model,                     // a model twice
             schema + fleet + "1 5 0 0" + rising + "\n",         // counts of gaps >= a length rising with it
             schema + "-1 10 1 0 0" + zeros + " 3\n",            // an extra field
             schema + "-1 10 1 0 0 1\n",                         // too few fields
             schema + "-1 nan 1 0 0" + zeros + "\n",             // not a number
             schema + fleet + "1 5 -1 0" + zeros + "\n",         // a negative burst sum
             schema + fleet + "99 5 0 0" + zeros + "\n",         // a model outside the catalog
         }) {
        SCOPED_TRACE(bad);
        EXPECT_THROW(target.import_state(bad), sdk::Error);
        EXPECT_EQ(target.export_state(), before);
    }
}

TEST(ValueResource, EachGapCountsAtEveryGridLengthItReachesWhateverOrderTheGapsCameIn) {
    // Gaps of 10 min, 30 s, 2 h, 10 min, 0.5 s and 1 day: the first, then one shorter than all before, a longer one,
    // an equal one, one under the grid's first length (it counts at length 0 only) and the longest. The count at grid
    // length k (1 s x 2^(k/4)) is the number of gaps at least that long (no forgetting to speak of: a half-life of
    // 1e9 gaps), whatever the order; the counts survive an export and import exactly.
    test::PluginTestHost host;
    auto policy = make_policy(host, "memory_gaps: 1000000000");
    const auto model = host.model("m");
    const std::vector<warmup_time_ms> gaps = {10 * kMinute, 30'000, 120 * kMinute, 10 * kMinute, 500, kDay};
    cold_use(policy, model, 0);
    warmup_time_ms t = 0;
    for (const warmup_time_ms gap : gaps) policy.on_used(model, t += gap);

    const std::string state = policy.export_state();
    const std::string prefix = "\n" + std::to_string(model) + ' ';
    const auto line_at = state.find(prefix);
    ASSERT_NE(line_at, std::string::npos) << state;
    std::istringstream fields(state.substr(line_at + 1, state.find('\n', line_at + 1) - line_at - 1));
    double index = 0, last_used = 0, burst_sum = 0, burst_weight = 0;
    fields >> index >> last_used >> burst_sum >> burst_weight;
    EXPECT_EQ(last_used, static_cast<double>(t));
    for (std::size_t k = 0; k < ValueResource::kLengths; ++k) {
        const double length_ms = 1000.0 * std::exp2(static_cast<double>(k) / 4);
        const auto reaching = std::count_if(gaps.begin(), gaps.end(), [&](warmup_time_ms gap) {
            return k == 0 || static_cast<double>(gap) >= length_ms;
        });
        double count = -1;
        ASSERT_TRUE(fields >> count) << "length " << k;
        EXPECT_NEAR(count, static_cast<double>(reaching), 1e-6) << "length " << k;
    }
    auto target = make_policy(host, "memory_gaps: 1000000000");
    target.import_state(state);
    EXPECT_EQ(target.export_state(), state);
}

TEST(ValueResource, GapCountsForgetWithTheirHalfLifeAcrossRescales) {
    // A half-life of one gap: each gap weighs twice the one before, so the counts are rescaled every ~330 gaps. 1,000
    // gaps cycle through 5 s, 5 s again (a gap as short as the shortest), 1 h and 20 s; the count at length k is the
    // sum over the gaps reaching k of 2^-(gaps after it), computed here directly.
    test::PluginTestHost host;
    auto policy = make_policy(host, "memory_gaps: 1");
    const auto model = host.model("m");
    const std::vector<warmup_time_ms> cycle = {5'000, 5'000, 3'600'000, 20'000};
    constexpr int kGaps = 1000;
    cold_use(policy, model, 0);
    warmup_time_ms t = 0;
    std::vector<warmup_time_ms> gaps;
    for (int i = 0; i < kGaps; ++i) {
        gaps.push_back(cycle[static_cast<std::size_t>(i) % cycle.size()]);
        policy.on_used(model, t += gaps.back());
    }
    const std::string state = policy.export_state();
    const std::string prefix = "\n" + std::to_string(model) + ' ';
    const auto line_at = state.find(prefix);
    ASSERT_NE(line_at, std::string::npos) << state;
    std::istringstream fields(state.substr(line_at + 1, state.find('\n', line_at + 1) - line_at - 1));
    double skipped = 0;
    for (int field = 0; field < 4; ++field) fields >> skipped;  // index, last use, burst sum and weight
    for (std::size_t k = 0; k < ValueResource::kLengths; ++k) {
        const double length_ms = 1000.0 * std::exp2(static_cast<double>(k) / 4);
        double expected = 0;
        for (int i = 0; i < kGaps; ++i)
            if (k == 0 || static_cast<double>(gaps[static_cast<std::size_t>(i)]) >= length_ms)
                expected += std::exp2(static_cast<double>(i - kGaps));
        double count = -1;
        ASSERT_TRUE(fields >> count) << "length " << k;
        EXPECT_NEAR(count, expected, 1e-12 * std::max(1.0, expected)) << "length " << k;
    }
}

/// A model used once a day for `days` days at `offset_ms`, then (from `phase_ms`) a stream of uses 10 s apart in the
/// order h, x, h, y, ... with h the once-a-day model: LRU keeps h (always the most recent but one), value evicts it
/// (its history says it does not come back for a day). Budget: two of the three 1000 MiB models. Returns the time
/// after the last use.
warmup_time_ms daily_model_turns_busy(ValueResource& policy, warmup_model_index h, warmup_model_index x,
                                      warmup_model_index y, int steps) {
    EXPECT_EQ(policy.effective_budget_mb(2000), 2000);
    daily_uses(policy, h, 30, 0);
    const warmup_time_ms phase_ms = 30 * kDay;
    policy.on_ready(x, 1000, 2000, phase_ms);
    policy.on_ready(y, 1000, 2000, phase_ms);
    warmup_time_ms t = phase_ms;
    for (int step = 0; step < steps; ++step) {
        t += 10'000;
        policy.on_used(step % 2 == 0 ? h : (step % 4 == 1 ? x : y), t);
    }
    return t + 1'000;
}

TEST(ValueResource, StartedOnValueFollowsLruOnceItsShadowClearlyMissesLessAndNotWithShadowOff) {
    test::PluginTestHost host;
    // Valued by probability alone (1.4.0's key), the value rule misjudges h for long enough that LRU's shadow gets
    // clearly ahead; valued per memory-time held, h's new short gaps soon weigh enough that the two stay close.
    const std::string params = "{horizon_ms: 60000, shadow_start: value, value_score: probability";
    auto policy = make_policy(host, params + "}");
    auto plain = make_policy(host, params + ", shadow: false}");
    const auto h = host.model("h"), x = host.model("x"), y = host.model("y");
    EXPECT_EQ(policy.rule_in_force(), Rule::value);  // nothing missed yet: the rule it was started on
    const warmup_time_ms now = daily_model_turns_busy(policy, h, x, y, 40);
    daily_model_turns_busy(plain, h, x, y, 40);
    // The last uses were ..., h, y (step 39 is y): x is the least recently used. Greedy-Dual keeps h too (it is used
    // twice as often as x or y) and misses as much as LRU: of two rules ahead by as much, the first (LRU) is taken.
    EXPECT_GT(policy.shadow_missed(Rule::value), policy.shadow_missed(Rule::lru));
    EXPECT_EQ(policy.shadow_missed(Rule::greedy_dual), policy.shadow_missed(Rule::lru));
    EXPECT_EQ(policy.rule_in_force(), Rule::lru);
    EXPECT_EQ(policy.pick_victim(now), x);
    // Without the shadows the value rule alone decides, and it still takes h for a once-a-day model.
    EXPECT_EQ(plain.rule_in_force(), Rule::value);
    EXPECT_EQ(plain.shadow_missed(Rule::value), 0.0);
    EXPECT_EQ(plain.pick_victim(now), h);
}

/// Two busy models (x, y: each used every 20 minutes, 10 minutes apart) and one used once a day (d, five minutes after
/// an x), for `days` days, all three ready, the budget holding two. At each of d's uses both shadows miss it and drop a
/// busy model; then LRU's drops the other busy one and misses it too, while value's drops d (a day away). Value's
/// shadow misses one busy model a day less. Returns the time just after d's last use.
warmup_time_ms busy_pair_and_a_daily_model(ValueResource& policy, warmup_model_index x, warmup_model_index y,
                                           warmup_model_index d, int days) {
    EXPECT_EQ(policy.effective_budget_mb(2000), 2000);
    for (const auto model : {x, y, d}) policy.on_ready(model, 1000, 2000, 0);
    warmup_time_ms last_d = 0;
    for (warmup_time_ms t = 0; t <= (days - 1) * kDay; t += 10 * kMinute) {
        policy.on_used((t / (10 * kMinute)) % 2 == 0 ? x : y, t);
        if (t % kDay == 0) {
            last_d = t + 5 * kMinute;
            policy.on_used(d, last_d);
        }
    }
    return last_d + 1'000;
}

/// Three 1000 MiB models in a cycle of three minutes, the budget holding two: x (one request) at 0, y (one request) at
/// 1 min, b (40 requests) at 2 min. LRU's shadow misses every use (three models cycled through two places); a rule
/// that keeps b misses x and y only. Returns one second after the last use (a y, with b idle two minutes, x one).
warmup_time_ms cycle_with_a_heavy_model(ValueResource& policy, warmup_model_index x, warmup_model_index y,
                                        warmup_model_index b, int cycles) {
    EXPECT_EQ(policy.effective_budget_mb(2000), 2000);
    for (const auto model : {x, y, b}) policy.on_ready(model, 1000, 2000, 0);
    warmup_time_ms t = 0;
    for (int cycle = 0; cycle < cycles; ++cycle) {
        t = cycle * 3 * kMinute;
        policy.on_used_requests(x, 1, t);
        policy.on_used_requests(y, 1, t + kMinute);
        policy.on_used_requests(b, 40, t + 2 * kMinute);
    }
    t += 3 * kMinute;
    policy.on_used_requests(x, 1, t);
    policy.on_used_requests(y, 1, t + kMinute);
    return t + kMinute + 1'000;
}

// With a horizon too short to see any next use, the value rule ties every model and evicts as LRU does; the recency
// rule (the expected wake-up per MiB over the time idle) keeps the model whose cold start would make 40 requests
// wait, its shadow misses under half of LRU's (each miss weighed by the model's expected wake-up, shrunk towards the
// fleet's), and it takes over.
TEST(ValueResource, WithTheRecencyShadowTheRuleThatKeepsHeavyWakeUpsTakesOverWhereLruThrashes) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "{horizon_ms: 10000, shadow_recency: true}");
    auto without = make_policy(host, "{horizon_ms: 10000, shadow_recency: false}");
    const auto x = host.model("x"), y = host.model("y"), b = host.model("b");
    const warmup_time_ms now = cycle_with_a_heavy_model(policy, x, y, b, 20);
    cycle_with_a_heavy_model(without, x, y, b, 20);
    EXPECT_GT(policy.expected_burst(b), 30.0);
    EXPECT_LT(policy.shadow_missed(Rule::recency) * 2, policy.shadow_missed(Rule::lru));
    EXPECT_EQ(policy.rule_in_force(), Rule::recency);
    // b is the least recently used (idle 2 min), x next (1 min): LRU drops b, recency x (1 request over 61 s against
    // about 40 over 121 s).
    EXPECT_EQ(policy.pick_victim(now), x);
    // Without its shadow the rule is never taken, and nothing counts its misses.
    EXPECT_EQ(without.shadow_missed(Rule::recency), 0.0);
    EXPECT_NE(without.rule_in_force(), Rule::recency);
    EXPECT_EQ(without.pick_victim(now), b);
}

TEST(ValueResource, StartsOnLruAndTakesTheValueRuleOnceItsShadowClearlyMissesLess) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "horizon_ms: 3600000");
    const auto x = host.model("x"), y = host.model("y"), d = host.model("d");
    EXPECT_EQ(policy.rule_in_force(), Rule::value);  // no budget reported yet: nothing for the shadows to compare
    EXPECT_EQ(policy.effective_budget_mb(2000), 2000);
    EXPECT_EQ(policy.rule_in_force(), Rule::lru);  // the default start: LRU, until another rule has proven itself
    const warmup_time_ms now = busy_pair_and_a_daily_model(policy, x, y, d, 30);
    EXPECT_LT(policy.shadow_missed(Rule::value), policy.shadow_missed(Rule::lru));
    EXPECT_EQ(policy.rule_in_force(), Rule::value);
    // d was used a second ago, so LRU would drop y (idle 15 min); value drops d, a day away from its next use.
    EXPECT_EQ(policy.pick_victim(now), d);

    // A lead within the margin is not enough: with a confidence no lead of 30 days reaches, LRU stays in force.
    auto cautious = make_policy(host, "{horizon_ms: 3600000, shadow_confidence: 100}");
    busy_pair_and_a_daily_model(cautious, x, y, d, 30);
    EXPECT_LT(cautious.shadow_missed(Rule::value), cautious.shadow_missed(Rule::lru));
    EXPECT_EQ(cautious.rule_in_force(), Rule::lru);
    EXPECT_EQ(cautious.pick_victim(now), y);

    // Nor is a lead of a few wake-ups: after 4 days value's shadow is ahead by 2, within what 8 pseudo-misses of the
    // fleet's mean wake-up add to the spread; without them, 2 disagreements are taken as clear.
    auto young = make_policy(host, "horizon_ms: 3600000");
    busy_pair_and_a_daily_model(young, x, y, d, 4);
    EXPECT_LT(young.shadow_missed(Rule::value), young.shadow_missed(Rule::lru));
    EXPECT_EQ(young.rule_in_force(), Rule::lru);
    auto no_prior = make_policy(host, "{horizon_ms: 3600000, shadow_prior_misses: 0}");
    busy_pair_and_a_daily_model(no_prior, x, y, d, 4);
    EXPECT_EQ(no_prior.rule_in_force(), Rule::value);
}

TEST(ValueResource, UnderGreedyDualTheVictimIsTheLowestUsesTimesLoadTimePerMiB) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "shadow_start: greedy-dual");
    EXPECT_EQ(policy.effective_budget_mb(100'000), 100'000);  // room for all: no shadow evicts, none gets ahead
    const auto a = host.model("a"), b = host.model("b"), c = host.model("c");
    // Loads of 2 s: a priority is (clock +) uses since loaded x 2000 / MiB, the load counting as the first use.
    policy.on_ready(a, 1000, 2000, 0);
    policy.on_ready(b, 1000, 2000, 0);
    policy.on_ready(c, 4000, 2000, 0);
    for (warmup_time_ms t = 10'000; t <= 50'000; t += 10'000) policy.on_used(a, t);
    policy.on_used(b, 100'000);
    policy.on_used(c, 200'000);
    EXPECT_EQ(policy.rule_in_force(), Rule::greedy_dual);
    EXPECT_DOUBLE_EQ(policy.greedy_dual_priority(a), 6 * 2.0);
    EXPECT_DOUBLE_EQ(policy.greedy_dual_priority(b), 2 * 2.0);
    EXPECT_DOUBLE_EQ(policy.greedy_dual_priority(c), 2 * 0.5);
    // LRU would take a (used last at 50 s); Greedy-Dual takes the big model c, used a moment ago.
    EXPECT_EQ(policy.pick_victim(210'000), c);
    // Evicting it raises the clock to its priority: every later use is priced from there.
    policy.on_removed(c, 210'000);
    EXPECT_TRUE(std::isnan(policy.greedy_dual_priority(c)));
    policy.on_used(b, 220'000);
    EXPECT_DOUBLE_EQ(policy.greedy_dual_priority(b), 1.0 + 3 * 2.0);
    // A removal the policy did not pick (a planned unload) leaves the clock alone; back in memory, a model starts
    // counting its uses again.
    policy.on_removed(a, 230'000);
    policy.on_ready(a, 1000, 2000, 240'000);
    EXPECT_DOUBLE_EQ(policy.greedy_dual_priority(a), 1.0 + 1 * 2.0);
}

/// x used every 10 s `busy_uses` times, then y and z in turns every 10 s for `turns` uses; all three ready, 1000 MiB,
/// the budget holding two. Greedy-Dual keeps x (its count of uses is high) and evicts y and z in turn until its clock
/// has climbed past x's priority; LRU and value drop x at once. Returns the time after the last use.
warmup_time_ms busy_model_then_two_in_turns(ValueResource& policy, warmup_model_index x, warmup_model_index y,
                                            warmup_model_index z, int busy_uses, int turns) {
    EXPECT_EQ(policy.effective_budget_mb(2000), 2000);
    for (const auto model : {x, y, z}) policy.on_ready(model, 1000, 2000, 0);
    warmup_time_ms t = 0;
    for (int use = 0; use < busy_uses; ++use) policy.on_used(x, t += 10'000);
    for (int turn = 0; turn < turns; ++turn) policy.on_used(turn % 2 == 0 ? y : z, t += 10'000);
    return t + 1'000;
}

TEST(ValueResource, LeavesGreedyDualOnceItsShadowClearlyMissesMore) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "shadow_start: greedy-dual");
    const auto x = host.model("x"), y = host.model("y"), z = host.model("z");
    busy_model_then_two_in_turns(policy, x, y, z, 50, 200);
    // Greedy-Dual's shadow missed about 25 uses of y and z before its clock passed x's priority; LRU's and value's only
    // their first use each.
    EXPECT_GT(policy.shadow_missed(Rule::greedy_dual), policy.shadow_missed(Rule::lru) + 15);
    EXPECT_NE(policy.rule_in_force(), Rule::greedy_dual);

    // Without Greedy-Dual's shadow (1.2.0's two rules) it never counts a miss.
    auto two_rules = make_policy(host, "shadow_greedy_dual: false");
    busy_model_then_two_in_turns(two_rules, x, y, z, 50, 200);
    EXPECT_EQ(two_rules.shadow_missed(Rule::greedy_dual), 0.0);
    EXPECT_EQ(two_rules.rule_in_force(), Rule::lru);
}

/// f used five times every 10 s, then two of four scan models (s0-s3, in turn) once each, the cycle repeated `cycles`
/// times; all five ready, 1000 MiB, the budget holding two. At the second scan model LRU drops f (used before the
/// first), which then misses: three misses a cycle. Greedy-Dual keeps f (its uses since loaded price it far above a
/// scan model's two) and drops the first scan model instead: two.
warmup_time_ms bursts_and_a_scan(ValueResource& policy, warmup_model_index f,
                                 const std::vector<warmup_model_index>& scan, int cycles) {
    EXPECT_EQ(policy.effective_budget_mb(2000), 2000);
    policy.on_ready(f, 1000, 2000, 0);
    for (const auto model : scan) policy.on_ready(model, 1000, 2000, 0);
    warmup_time_ms t = 0;
    for (int cycle = 0; cycle < cycles; ++cycle) {
        for (int use = 0; use < 5; ++use) policy.on_used(f, t += 10'000);
        for (int k = 0; k < 2; ++k) policy.on_used(scan[(2 * cycle + k) % scan.size()], t += 10'000);
    }
    return t + 1'000;
}

TEST(ValueResource, LeavesLruOnceAnotherShadowClearlyMissesLessAndGreedyDualsCountsItsMisses) {
    test::PluginTestHost host;
    const auto f = host.model("f");
    const std::vector<warmup_model_index> scan{host.model("s0"), host.model("s1"), host.model("s2"), host.model("s3")};
    auto policy = make_policy(host, "shadow_memory_misses: 1000000000");  // counts that do not forget: exact misses
    bursts_and_a_scan(policy, f, scan, 30);
    // Every use is its own wake-up of one request, so the counts are misses: 3 a cycle under LRU, 2 under Greedy-Dual.
    EXPECT_NEAR(policy.shadow_missed(Rule::lru), 90, 1e-3);
    EXPECT_NEAR(policy.shadow_missed(Rule::greedy_dual), 61, 1e-3);
    EXPECT_NE(policy.rule_in_force(), Rule::lru);
    // Whichever rule took over missed least: value learns the scan models' long gaps and may drop them as well.
    EXPECT_LE(policy.shadow_missed(policy.rule_in_force()), policy.shadow_missed(Rule::greedy_dual));

    // Without Greedy-Dual's shadow, Greedy-Dual never takes over, however much LRU thrashes.
    auto two_rules = make_policy(host, "shadow_greedy_dual: false");
    bursts_and_a_scan(two_rules, f, scan, 30);
    EXPECT_EQ(two_rules.shadow_missed(Rule::greedy_dual), 0.0);
    EXPECT_NE(two_rules.rule_in_force(), Rule::greedy_dual);
}

TEST(ValueResource, GreedyDualsShadowMissesWhatTheGreedyDualPluginMisses) {
    // The same uses, with models of three sizes, fed to the shadow and to org.warmup.resource.greedy-dual driven as the
    // host drives a resource plugin (a miss evicts its victims until the model fits, then on_ready and on_used).
    test::PluginTestHost host;
    std::vector<warmup_model_index> models;
    std::vector<double> sizes;
    for (int i = 0; i < 8; ++i) {
        models.push_back(host.model("m" + std::to_string(i)));
        sizes.push_back(i % 3 == 0 ? 500.0 : i % 3 == 1 ? 1000.0 : 2000.0);
    }
    const double budget = 3000;
    auto policy = make_policy(host, "shadow_memory_misses: 1000000000");
    ASSERT_EQ(policy.effective_budget_mb(budget), budget);
    for (std::size_t i = 0; i < models.size(); ++i) policy.on_ready(models[i], sizes[i], 2000, 0);
    sdk::Params params("");
    GreedyDualResource plugin(host.host(), params);
    std::vector<bool> resident(models.size(), false);
    double used_mb = 0;
    int plugin_misses = 0;
    uint32_t state = 12345;  // a fixed linear congruential sequence: skewed picks, deterministic
    warmup_time_ms t = 0;
    for (int step = 0; step < 2000; ++step) {
        state = state * 1664525u + 1013904223u;
        const std::size_t pick = std::min<std::size_t>(models.size() - 1, (state >> 16) % 64 / (1 + (state >> 8) % 8));
        t += 10'000;
        policy.on_used(models[pick], t);
        if (resident[pick]) {
            plugin.on_used(models[pick], t);
            continue;
        }
        ++plugin_misses;
        while (used_mb + sizes[pick] > budget) {
            const warmup_model_index victim = plugin.pick_victim(t);
            const auto index =
                static_cast<std::size_t>(std::find(models.begin(), models.end(), victim) - models.begin());
            plugin.on_removed(victim, t);
            resident[index] = false;
            used_mb -= sizes[index];
        }
        plugin.on_ready(models[pick], sizes[pick], 2000, t);
        plugin.on_used(models[pick], t);
        resident[pick] = true;
        used_mb += sizes[pick];
    }
    ASSERT_GT(plugin_misses, 200);  // the budget binds: the comparison says something
    EXPECT_NEAR(policy.shadow_missed(Rule::greedy_dual), plugin_misses, 0.01);  // decay of 2^(-1e-9) a miss
}

TEST(ValueResource, GreedyDualsClockRisesToTheLowestPriorityWhenAnotherRuleEvicts) {
    test::PluginTestHost host;
    auto policy = make_policy(host);  // LRU in force: no shadow gets ahead with room for all
    EXPECT_EQ(policy.effective_budget_mb(100'000), 100'000);
    const auto a = host.model("a"), b = host.model("b"), c = host.model("c");
    policy.on_ready(a, 100, 2000, 0);   // small and costly: priority 20 a use
    policy.on_ready(b, 1000, 2000, 0);  // priority 2 a use
    policy.on_used(a, 10'000);
    policy.on_used(b, 20'000);
    EXPECT_DOUBLE_EQ(policy.greedy_dual_priority(a), 40.0);
    EXPECT_DOUBLE_EQ(policy.greedy_dual_priority(b), 4.0);
    // LRU drops a (used first); the clock rises to the lowest priority in the cache (b's 4), not to a's 40, so a model
    // loaded now is priced above b, not above every model in memory.
    EXPECT_EQ(policy.rule_in_force(), Rule::lru);
    EXPECT_EQ(policy.pick_victim(30'000), a);
    policy.on_removed(a, 30'000);
    policy.on_ready(c, 1000, 2000, 40'000);
    EXPECT_DOUBLE_EQ(policy.greedy_dual_priority(c), 4.0 + 2.0);
    // A reload of a ready model (reported ready again) keeps its uses and reprices them at the clock and its new size.
    policy.on_ready(b, 500, 2000, 50'000);
    EXPECT_DOUBLE_EQ(policy.greedy_dual_priority(b), 4.0 + 2 * 4.0);
}

/// A pre-warm of `model` (1000 MiB) asked at `now` with `used_mb` in use of a 1500 MiB budget: the admission.
warmup_admission prewarm_admission(ValueResource& policy, warmup_model_index model, warmup_time_ms now, double used_mb,
                                   uint32_t is_demand = 0) {
    warmup_admission_request request{};
    request.struct_size = sizeof request;
    request.now_ms = now;
    request.model = model;
    request.memory_mb = 1000;
    request.used_mb = used_mb;
    request.budget_mb = 1500;
    request.is_demand = is_demand;
    warmup_admission out{};
    out.struct_size = sizeof out;
    policy.admit(request, out);
    return out;
}

TEST(ValueResource, APreWarmEvictsOnlyAModelWorthLessThanIt) {
    // Two daily models, one used at 00:04 and one at 12:00, each loaded for its use; at 00:02 on day 4 the first is
    // due within the 10-minute horizon, the second not for 12 hours.
    const warmup_time_ms now = 4 * kDay + 2 * kMinute;
    {
        // The due model's pre-warm would evict the one not due: allowed.
        test::PluginTestHost host;
        auto policy = make_policy(host, "{horizon_ms: 600000, shadow: false}");
        const auto due = host.model("due"), later = host.model("later");
        daily_uses(policy, due, 4, 4 * kMinute);
        policy.on_removed(due, 3 * kDay + 5 * kMinute);   // evicted since its last use
        daily_uses(policy, later, 4, 12 * 60 * kMinute);  // ready
        // (The survival grid has 4 lengths per doubling: near a day, the 10 minutes are a small share of a step.)
        ASSERT_GT(policy.p_use_within_horizon(due, now), 0.05);
        ASSERT_EQ(policy.p_use_within_horizon(later, now), 0.0);
        const warmup_admission out = prewarm_admission(policy, due, now, 1000);
        EXPECT_EQ(out.admit, 1u);
        EXPECT_EQ(out.may_evict, 1u);
    }
    {
        // The other way round: the model not due would evict the due one. Not allowed to evict; it may still load
        // where it fits without an eviction, and a demand load always may evict.
        test::PluginTestHost host;
        auto policy = make_policy(host, "{horizon_ms: 600000, shadow: false}");
        const auto due = host.model("due"), later = host.model("later");
        daily_uses(policy, later, 4, 12 * 60 * kMinute);
        policy.on_removed(later, 3 * kDay + 12 * 60 * kMinute + kMinute);
        daily_uses(policy, due, 4, 4 * kMinute);  // ready
        const warmup_admission refused = prewarm_admission(policy, later, now, 1000);
        EXPECT_EQ(refused.admit, 1u);
        EXPECT_EQ(refused.may_evict, 0u);
        EXPECT_EQ(prewarm_admission(policy, later, now, 400).may_evict, 1u) << "it fits: nothing to judge";
        EXPECT_EQ(prewarm_admission(policy, later, now, 1000, /*is_demand=*/1).may_evict, 1u);

        // With the gate off, the pre-warm may evict as the shared admission allows.
        test::PluginTestHost ungated_host;
        auto ungated = make_policy(ungated_host, "{horizon_ms: 600000, shadow: false, prewarm_gate: false}");
        const auto due2 = ungated_host.model("due"), later2 = ungated_host.model("later");
        daily_uses(ungated, later2, 4, 12 * 60 * kMinute);
        ungated.on_removed(later2, 3 * kDay + 12 * 60 * kMinute + kMinute);
        daily_uses(ungated, due2, 4, 4 * kMinute);
        EXPECT_EQ(prewarm_admission(ungated, later2, now, 1000).may_evict, 1u);
    }
}

TEST(ValueResource, APreWarmIsWeighedAgainstEveryModelItWouldEvictTogether) {
    // Three models with the same daily rhythm, all due now; the two ready ones load in 1.5 s, the one to pre-warm in
    // 2 s: each ready one is worth three quarters of it. Evicting one for it pays; evicting both does not.
    const warmup_time_ms now = 4 * kDay + 2 * kMinute;
    test::PluginTestHost host;
    auto policy = make_policy(host, "{horizon_ms: 600000, shadow: false}");
    const auto wanted = host.model("wanted"), first = host.model("first"), second = host.model("second");
    for (int day = 0; day < 4; ++day) {
        const warmup_time_ms at = day * kDay + 4 * kMinute;
        for (const auto model : {wanted, first, second}) {
            policy.on_ready(model, 1000, model == wanted ? 2000 : 1500, at);
            policy.on_used(model, at);
            if (day + 1 < 4 || model == wanted) policy.on_removed(model, at + kMinute);
        }
    }
    EXPECT_EQ(prewarm_admission(policy, wanted, now, 1000).may_evict, 1u) << "one to evict: 1.5 s against 2 s";
    EXPECT_EQ(prewarm_admission(policy, wanted, now, 2000).may_evict, 0u) << "both to evict: 3 s against 2 s";

    // A model never used has no value to weigh: the shared admission decides.
    EXPECT_EQ(prewarm_admission(policy, host.model("never-seen"), now, 2000).may_evict, 1u);
}

TEST(ValueResource, RefusesBadParams) {
    test::PluginTestHost host;
    EXPECT_THROW(make_policy(host, "horizon_ms: -1"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "memory_gaps: 0"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "prior_gaps: x"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "shadow_memory_misses: 0"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "shadow_confidence: -1"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "shadow: maybe"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "prewarm_gate: maybe"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "shadow_start: random"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "shadow_greedy_dual: maybe"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "shadow_recency: maybe"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "shadow_prior_misses: -1"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "burst_unit: bytes"), sdk::InvalidArgument);
    EXPECT_THROW(make_policy(host, "{shadow_start: greedy-dual, shadow_greedy_dual: false}"), sdk::InvalidArgument);
}

}  // namespace
}  // namespace warmup::plugins

// The built library, opened as the host opens it (plugin_library_check.hpp).
INSTANTIATE_TEST_SUITE_P(MechanicsPlugins, PluginLibrary,
                         ::testing::Values(warmup::test::PluginLibraryExpectation{
                             "value_resource.so", "org.warmup.resource.value", WARMUP_KIND_RESOURCE, "1.7.0"}),
                         warmup::test::plugin_library_test_name);
