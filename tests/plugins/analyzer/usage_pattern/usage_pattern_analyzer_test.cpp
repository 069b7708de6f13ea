// Behaviour of org.warmup.analyzer.usage-pattern: counts, idle histogram, EWMA, calendar shares, followers, state
// hand-off, reset and parameter validation. Expectations are computed by hand in the comments.
#include "usage_pattern_analyzer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "plugin_test_host.hpp"

namespace {

using warmup::plugins::UsagePatternAnalyzer;
using warmup::test::Built;
using warmup::test::numbered_models_host;
using warmup::test::PluginTestHost;

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;

warmup_usage_event event(warmup_time_ms ts_ms, warmup_model_index model, uint32_t count = 1) {
    return warmup_usage_event{ts_ms, model, count, 0, 0};
}

warmup_usage_pattern pattern_of(UsagePatternAnalyzer& analyzer, warmup_model_index model) {
    warmup_usage_pattern pattern{};
    pattern.struct_size = sizeof pattern;
    analyzer.get_pattern(model, pattern);
    return pattern;
}

void observe(UsagePatternAnalyzer& analyzer, const std::vector<warmup_usage_event>& events) {
    analyzer.observe(std::span<const warmup_usage_event>(events));
}

TEST(UsagePatternAnalyzer, CountsRequestsAndTracksDistinctArrivalTimes) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> built(host);
    observe(built.plugin, {event(1000, 0, 2), event(1000, 0, 1), event(5000, 0, 1), event(7000, 1, 3)});

    const auto pattern = pattern_of(built.plugin, 0);
    EXPECT_EQ(pattern.request_count, 4u);
    EXPECT_EQ(pattern.first_seen_ms, 1000);
    EXPECT_EQ(pattern.last_seen_ms, 5000);
    EXPECT_EQ(pattern.previous_seen_ms, 1000);  // the two events at 1000 are one arrival
    EXPECT_EQ(pattern.idle_samples, 1u);        // one gap: 4000 ms
    EXPECT_EQ(pattern_of(built.plugin, 1).request_count, 3u);
}

TEST(UsagePatternAnalyzer, NeverObservedModelHasEmptyPattern) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> built(host);
    observe(built.plugin, {event(1000, 0)});
    const auto pattern = pattern_of(built.plugin, 5);
    EXPECT_EQ(pattern.request_count, 0u);
    EXPECT_EQ(pattern.last_seen_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(pattern.previous_seen_ms, WARMUP_TIME_NEVER);
    ASSERT_NE(pattern.idle_histogram, nullptr);
    EXPECT_EQ(pattern.idle_histogram[0], 0u);
    EXPECT_EQ(pattern.follower_count, 0u);
}

TEST(UsagePatternAnalyzer, IdleGapsFallIntoBinsAndBeyondRangeIsCountedSeparately) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> built(host, "idle_bin_ms: 60000\nidle_bins: 4\n");
    // Gaps: 30000 (bin 0), 60000 (bin 1: bins are [i*60000, (i+1)*60000)), 239999 (bin 3), 240000 (out of range).
    observe(built.plugin, {event(0, 2), event(30'000, 2), event(90'000, 2), event(329'999, 2), event(569'999, 2)});
    const auto pattern = pattern_of(built.plugin, 2);
    ASSERT_EQ(pattern.idle_histogram_bins, 4u);
    EXPECT_EQ(pattern.idle_bin_ms, 60'000u);
    EXPECT_EQ(pattern.idle_histogram[0], 1u);
    EXPECT_EQ(pattern.idle_histogram[1], 1u);
    EXPECT_EQ(pattern.idle_histogram[2], 0u);
    EXPECT_EQ(pattern.idle_histogram[3], 1u);
    EXPECT_EQ(pattern.idle_samples, 3u);
    EXPECT_EQ(pattern.idle_out_of_range, 1u);
}

TEST(UsagePatternAnalyzer, LateEventAddsRequestsButNoIdleGap) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> built(host);
    observe(built.plugin, {event(10'000, 0), event(20'000, 0)});
    observe(built.plugin, {event(15'000, 0)});  // out of order across batches
    const auto pattern = pattern_of(built.plugin, 0);
    EXPECT_EQ(pattern.request_count, 3u);
    EXPECT_EQ(pattern.last_seen_ms, 20'000);
    EXPECT_EQ(pattern.idle_samples, 1u);
}

TEST(UsagePatternAnalyzer, EwmaRateDecaysByHalfLife) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> built(host, "ewma_half_life_ms: 1000\n");
    const double impulse = std::log(2.0);  // ln2 / (1 s half-life): one request's weight at its own time, per second
    observe(built.plugin, {event(0, 0)});
    EXPECT_NEAR(pattern_of(built.plugin, 0).ewma_rate_per_s, impulse, 1e-12);
    observe(built.plugin, {event(1000, 0)});  // one half-life later: 0.5 * impulse + impulse
    EXPECT_NEAR(pattern_of(built.plugin, 0).ewma_rate_per_s, 1.5 * impulse, 1e-12);
    observe(built.plugin, {event(1000, 0, 2)});  // same instant, two more requests: + 2 * impulse
    EXPECT_NEAR(pattern_of(built.plugin, 0).ewma_rate_per_s, 3.5 * impulse, 1e-12);
}

TEST(UsagePatternAnalyzer, HourAndDaySharesAreWeightedByCountInUtc) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> built(host);
    // ts 0 = Thursday 1970-01-01 00:00 UTC (weekday 3); -1 h = Wednesday 23:00 (weekday 2);
    // 4 days + 5 h = Monday 05:00 (weekday 0).
    observe(built.plugin, {event(-kHourMs, 0, 1), event(0, 0, 2), event(4 * kDayMs + 5 * kHourMs, 0, 1)});
    const auto pattern = pattern_of(built.plugin, 0);
    EXPECT_DOUBLE_EQ(pattern.hour_of_day[23], 0.25);
    EXPECT_DOUBLE_EQ(pattern.hour_of_day[0], 0.5);
    EXPECT_DOUBLE_EQ(pattern.hour_of_day[5], 0.25);
    EXPECT_DOUBLE_EQ(pattern.day_of_week[2], 0.25);
    EXPECT_DOUBLE_EQ(pattern.day_of_week[3], 0.5);
    EXPECT_DOUBLE_EQ(pattern.day_of_week[0], 0.25);
    double hours = 0, days = 0;
    for (int i = 0; i < 24; ++i) hours += pattern.hour_of_day[i];
    for (int i = 0; i < 7; ++i) days += pattern.day_of_week[i];
    EXPECT_DOUBLE_EQ(hours, 1.0);
    EXPECT_DOUBLE_EQ(days, 1.0);
}

TEST(UsagePatternAnalyzer, FollowerIsTheNextOtherModelWithinTheWindow) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> built(host, "follow_window_ms: 60000\n");
    constexpr warmup_model_index a = 0, b = 1, c = 2;
    // A arrives at 0, 100000, 300000, 310000 (4 arrivals). B follows A@0 (10 s later) and both A@300000 and A@310000
    // (20 s and 10 s before B@320000). C@200000 is 100 s after A@100000: outside the window.
    observe(built.plugin, {event(0, a), event(10'000, b), event(100'000, a), event(200'000, c), event(300'000, a),
                           event(310'000, a), event(320'000, b)});
    const auto pattern = pattern_of(built.plugin, a);
    ASSERT_EQ(pattern.follower_count, 1u);
    EXPECT_EQ(pattern.followers[0].model, b);
    EXPECT_FLOAT_EQ(pattern.followers[0].share, 0.75f);
    EXPECT_EQ(pattern_of(built.plugin, b).follower_count, 0u);  // A@100000 came 90 s after B@10000
    EXPECT_EQ(pattern_of(built.plugin, c).follower_count, 0u);
}

TEST(UsagePatternAnalyzer, FollowerTableStaysBoundedAndKeepsTheHeavyFollower) {
    PluginTestHost host = numbered_models_host(16);
    Built<UsagePatternAnalyzer> built(host, "max_followers: 2\n");
    std::vector<warmup_usage_event> events;
    int64_t ts = 0;
    // Leader 0 is followed by model 1 ten times, then by models 2..9 once each (a space-saving worst case).
    for (int i = 0; i < 10; ++i) {
        events.push_back(event(ts += 1000, 0));
        events.push_back(event(ts += 1000, 1));
    }
    for (warmup_model_index other = 2; other < 10; ++other) {
        events.push_back(event(ts += 1000, 0));
        events.push_back(event(ts += 1000, other));
    }
    observe(built.plugin, events);
    const auto pattern = pattern_of(built.plugin, 0);
    ASSERT_EQ(pattern.follower_count, 2u);
    EXPECT_EQ(pattern.followers[0].model, 1u);
    EXPECT_FLOAT_EQ(pattern.followers[0].share, 10.0f / 18.0f);  // 10 of 18 arrivals, counted exactly
}

/// The follower models of `pattern`, in the order handed out.
std::vector<warmup_model_index> follower_models(const warmup_usage_pattern& pattern) {
    std::vector<warmup_model_index> models;
    for (uint32_t i = 0; i < pattern.follower_count; ++i) models.push_back(pattern.followers[i].model);
    return models;
}

TEST(UsagePatternAnalyzer, FollowersAreOrderedByCountThenModelAsCountsOvertakeAndSlotsAreReplaced) {
    // The order is kept up to date as counts change (not sorted on each read), so it is read between steps.
    PluginTestHost host = numbered_models_host(8);
    Built<UsagePatternAnalyzer> built(host, "max_followers: 3\nfollow_window_ms: 60000\n");
    int64_t ts = 0;
    const auto follow = [&](warmup_model_index follower) {  // leader 0, then `follower` 1 s later; pairs 100 s apart
        observe(built.plugin, {event(ts += 100'000, 0), event(ts + 1000, follower)});
    };
    for (const warmup_model_index follower : {3u, 3u, 1u, 2u}) follow(follower);
    auto pattern = pattern_of(built.plugin, 0);
    EXPECT_EQ(follower_models(pattern), (std::vector<warmup_model_index>{3, 1, 2})) << "3 has 2; 1 and 2 tie at 1";
    EXPECT_FLOAT_EQ(pattern.followers[0].share, 2.0f / 4.0f);

    follow(2);
    follow(2);  // 2 overtakes: 3 follows, 2 before 3 (2), 1 (1)
    pattern = pattern_of(built.plugin, 0);
    EXPECT_EQ(follower_models(pattern), (std::vector<warmup_model_index>{2, 3, 1}));
    EXPECT_FLOAT_EQ(pattern.followers[0].share, 3.0f / 6.0f);

    follow(4);  // table full: 4 takes the smallest slot (1's, count 1) with count 1 + 1 = 2, tying with 3
    pattern = pattern_of(built.plugin, 0);
    EXPECT_EQ(follower_models(pattern), (std::vector<warmup_model_index>{2, 3, 4}));
    EXPECT_FLOAT_EQ(pattern.followers[2].share, 2.0f / 7.0f);

    // The order is rebuilt on import: a fresh instance hands out the same one, and keeps it as counts change.
    Built<UsagePatternAnalyzer> imported(host, "max_followers: 3\nfollow_window_ms: 60000\n");
    imported.plugin.import_state(built.plugin.export_state());
    EXPECT_EQ(follower_models(pattern_of(imported.plugin, 0)), (std::vector<warmup_model_index>{2, 3, 4}));
    observe(imported.plugin,
            {event(ts += 100'000, 0), event(ts + 1000, 4), event(ts += 100'000, 0), event(ts + 1000, 4)});
    EXPECT_EQ(follower_models(pattern_of(imported.plugin, 0)), (std::vector<warmup_model_index>{4, 2, 3}));
}

TEST(UsagePatternAnalyzer, StateIsHandedOverInBlocksBehindAHeaderThatCoversThemAll) {
    constexpr uint32_t kModels = 400;  // ~400 bytes each: the payload takes several blocks
    PluginTestHost host = numbered_models_host(kModels);
    Built<UsagePatternAnalyzer> built(host);
    std::vector<warmup_usage_event> events;
    for (int use = 0; use < 20; ++use)
        for (warmup_model_index model = 0; model < kModels; ++model)
            events.push_back(event(1'700'000'000'000 + use * (60'000 + 1000 * model) + model, model));
    std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.ts_ms < b.ts_ms; });
    observe(built.plugin, events);

    std::vector<std::string> pieces;
    const warmup_byte_writer collect{&pieces, [](void* context, const char* data, size_t size) {
                                         static_cast<std::vector<std::string>*>(context)->emplace_back(data, size);
                                         return 0;
                                     }};
    built.plugin.export_state_to(warmup::sdk::StateWriter(collect));
    ASSERT_GT(pieces.size(), 3u);
    EXPECT_EQ(pieces.front().size(), 24u) << "the header first: magic, version, payload length and hash";
    std::string whole;
    for (const std::string& piece : pieces) {
        EXPECT_LE(piece.size(), 64u * 1024) << "a piece holds a few models, not the state";
        whole += piece;
    }
    EXPECT_TRUE(whole == built.plugin.export_state());
    // The header's length and hash, computed in a first pass, match the payload written in the second: the import
    // checks both (and refuses a mismatch) and rebuilds the same patterns.
    Built<UsagePatternAnalyzer> imported(host);
    imported.plugin.import_state(whole);
    for (warmup_model_index model = 0; model < kModels; ++model) {
        const warmup_usage_pattern before = pattern_of(built.plugin, model);
        const warmup_usage_pattern after = pattern_of(imported.plugin, model);
        EXPECT_EQ(after.request_count, 20u) << "model " << model;
        EXPECT_EQ(after.last_seen_ms, before.last_seen_ms) << "model " << model;
    }
}

TEST(UsagePatternAnalyzer, ObserveRefusesAModelOutsideTheCatalogAndChangesNothing) {
    PluginTestHost host = numbered_models_host(2);
    Built<UsagePatternAnalyzer> built(host);
    const std::vector<warmup_usage_event> batch{event(1000, 0), event(2000, 7)};
    try {
        built.plugin.observe(std::span<const warmup_usage_event>(batch));
        FAIL() << "model 7 is not in a 2-model catalog";
    } catch (const warmup::sdk::InvalidArgument& error) {
        EXPECT_NE(std::string(error.what()).find("events[1].model"), std::string::npos) << error.what();
    }
    EXPECT_EQ(pattern_of(built.plugin, 0).request_count, 0u);
}

// observe() reads the catalog's size again only for an index at or above the size it read last: a model the catalog
// gained since is accepted, an index beyond it still refused.
TEST(UsagePatternAnalyzer, ObserveAcceptsAModelTheCatalogGainedAndStillRefusesOneBeyondIt) {
    PluginTestHost host;  // every name matches: the catalog grows as names are resolved
    const warmup_model_index first = host.model("first");
    Built<UsagePatternAnalyzer> built(host);
    const std::vector<warmup_usage_event> before{event(1000, first)};
    built.plugin.observe(std::span<const warmup_usage_event>(before));
    const warmup_model_index gained = host.model("gained");
    const std::vector<warmup_usage_event> after{event(2000, gained, 3)};
    built.plugin.observe(std::span<const warmup_usage_event>(after));
    EXPECT_EQ(pattern_of(built.plugin, gained).request_count, 3u);
    const std::vector<warmup_usage_event> beyond{event(3000, first), event(3000, gained + 1)};
    EXPECT_THROW(built.plugin.observe(std::span<const warmup_usage_event>(beyond)), warmup::sdk::InvalidArgument);
    EXPECT_EQ(pattern_of(built.plugin, first).request_count, 1u);
}

void expect_same_pattern(const warmup_usage_pattern& left, const warmup_usage_pattern& right) {
    EXPECT_EQ(left.request_count, right.request_count);
    EXPECT_EQ(left.first_seen_ms, right.first_seen_ms);
    EXPECT_EQ(left.last_seen_ms, right.last_seen_ms);
    EXPECT_EQ(left.previous_seen_ms, right.previous_seen_ms);
    EXPECT_DOUBLE_EQ(left.ewma_rate_per_s, right.ewma_rate_per_s);
    EXPECT_EQ(left.idle_samples, right.idle_samples);
    EXPECT_EQ(left.idle_out_of_range, right.idle_out_of_range);
    ASSERT_EQ(left.idle_histogram_bins, right.idle_histogram_bins);
    for (uint32_t i = 0; i < left.idle_histogram_bins; ++i) EXPECT_EQ(left.idle_histogram[i], right.idle_histogram[i]);
    for (int i = 0; i < 24; ++i) EXPECT_DOUBLE_EQ(left.hour_of_day[i], right.hour_of_day[i]);
    for (int i = 0; i < 7; ++i) EXPECT_DOUBLE_EQ(left.day_of_week[i], right.day_of_week[i]);
    ASSERT_EQ(left.follower_count, right.follower_count);
    for (uint32_t i = 0; i < left.follower_count; ++i) {
        EXPECT_EQ(left.followers[i].model, right.followers[i].model);
        EXPECT_FLOAT_EQ(left.followers[i].share, right.followers[i].share);
    }
}

std::vector<warmup_usage_event> mixed_history() {
    std::vector<warmup_usage_event> events;
    int64_t ts = 1'700'000'000'000;
    for (int i = 0; i < 200; ++i) {
        ts += 7'000 + (i % 13) * 41'000;
        events.push_back(event(ts, static_cast<warmup_model_index>(i % 3), 1 + i % 2));
        if (i % 5 == 0) events.push_back(event(ts + 2'000, 3));
        ts += 2'000;
    }
    return events;
}

TEST(UsagePatternAnalyzer, TheCalendarHandedOutAsSharesKeepsItsExactCountsForLaterEventsAndTheState) {
    // One row holds a model's counts and, once read, its shares (in place): reading, then more events, then the state
    // must give the same counts as if it had never been read (here up to 1.7e11 requests a slot).
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> read(host);
    Built<UsagePatternAnalyzer> unread(host);
    constexpr uint32_t kBig = 4'000'000'000u;
    std::vector<warmup_usage_event> events;
    for (int i = 0; i < 300; ++i)  // 3 hours, 2 models; big counts so that a share times the total is far from whole
        events.push_back(event(i * 36'000, static_cast<warmup_model_index>(i % 2), i % 7 == 0 ? kBig : 1 + i % 3));
    for (std::size_t i = 0; i < events.size(); ++i) {
        observe(read.plugin, {events[i]});
        observe(unread.plugin, {events[i]});
        const auto a = pattern_of(read.plugin, 0);
        const std::vector<double> first_read(a.hour_of_day, a.hour_of_day + 24);
        (void)pattern_of(read.plugin, 1);
        // Both views stay valid until the next observe: reading model 1 did not change model 0's.
        EXPECT_EQ(std::vector<double>(a.hour_of_day, a.hour_of_day + 24), first_read) << i;
        double hours = 0;
        for (int h = 0; h < 24; ++h) hours += a.hour_of_day[h];
        EXPECT_NEAR(hours, a.request_count > 0 ? 1.0 : 0.0, 1e-12) << i;
    }
    EXPECT_EQ(read.plugin.export_state(), unread.plugin.export_state());
    EXPECT_EQ(read.plugin.export_model_state(0), unread.plugin.export_model_state(0));
    // The shares are exactly count / total, as before they shared a row with the counts.
    const auto pattern = pattern_of(read.plugin, 0);
    const auto again = pattern_of(unread.plugin, 0);
    for (int h = 0; h < 24; ++h) EXPECT_EQ(pattern.hour_of_day[h], again.hour_of_day[h]) << h;
}

TEST(UsagePatternAnalyzer, ExportedStateImportsIntoAFreshInstanceAndKeepsLearningIdentically) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> source(host);
    const auto history = mixed_history();
    observe(source.plugin, std::vector<warmup_usage_event>(history.begin(), history.begin() + 150));
    Built<UsagePatternAnalyzer> target(host);
    target.plugin.import_state(source.plugin.export_state());
    for (warmup_model_index model = 0; model < 5; ++model)
        expect_same_pattern(pattern_of(source.plugin, model), pattern_of(target.plugin, model));

    // The pending follow run and the last-seen times travel too: the rest of the trace gives identical patterns.
    const std::vector<warmup_usage_event> rest(history.begin() + 150, history.end());
    observe(source.plugin, rest);
    observe(target.plugin, rest);
    for (warmup_model_index model = 0; model < 5; ++model)
        expect_same_pattern(pattern_of(source.plugin, model), pattern_of(target.plugin, model));
}

TEST(UsagePatternAnalyzer, ImportRebinsAStateWithAnotherHistogramGeometry) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> source(host);  // 60 s bins
    // Gaps 30 s (bin 0), 150 s (bin 2) and 300 s (bin 5).
    observe(source.plugin, {event(0, 0), event(30'000, 0), event(180'000, 0), event(480'000, 0)});
    Built<UsagePatternAnalyzer> target(host, "idle_bin_ms: 120000\nidle_bins: 2\n");
    target.plugin.import_state(source.plugin.export_state());
    // Bin middles 30 s -> 0, 150 s -> 1, 330 s -> beyond 240 s: out of range.
    const auto pattern = pattern_of(target.plugin, 0);
    EXPECT_EQ(pattern.idle_histogram[0], 1u);
    EXPECT_EQ(pattern.idle_histogram[1], 1u);
    EXPECT_EQ(pattern.idle_samples, 2u);
    EXPECT_EQ(pattern.idle_out_of_range, 1u);
    EXPECT_EQ(pattern.request_count, 4u);
}

TEST(UsagePatternAnalyzer, ImportRefusesGarbageAndLeavesStateUntouched) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> built(host);
    observe(built.plugin, mixed_history());
    const auto before = pattern_of(built.plugin, 1);
    const std::string good = built.plugin.export_state();

    std::string flipped = good;
    flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x5A);
    const std::vector<std::string> garbage{"", "hello, world", good.substr(0, good.size() - 3), flipped,
                                           good + "trailing"};
    for (const std::string& bytes : garbage) {
        EXPECT_THROW(built.plugin.import_state(bytes), warmup::sdk::InvalidArgument) << bytes.size() << " bytes";
        expect_same_pattern(before, pattern_of(built.plugin, 1));
    }
}

TEST(UsagePatternAnalyzer, ResetForgetsEverything) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> built(host);
    observe(built.plugin, {event(0, 0), event(1000, 1), event(2000, 0)});
    built.plugin.reset();
    EXPECT_EQ(pattern_of(built.plugin, 0).request_count, 0u);
    EXPECT_EQ(pattern_of(built.plugin, 0).last_seen_ms, WARMUP_TIME_NEVER);
    // The first arrival after a reset is a first sighting again: no idle gap back to the forgotten one.
    observe(built.plugin, {event(500'000, 0)});
    const auto pattern = pattern_of(built.plugin, 0);
    EXPECT_EQ(pattern.request_count, 1u);
    EXPECT_EQ(pattern.first_seen_ms, 500'000);
    EXPECT_EQ(pattern.idle_samples + pattern.idle_out_of_range, 0u);
    EXPECT_EQ(pattern.follower_count, 0u);
}

TEST(UsagePatternAnalyzer, OlderCallerStructIsNotWrittenPastItsSize) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> built(host);
    observe(built.plugin, {event(0, 0), event(1000, 0)});
    struct {
        warmup_usage_pattern pattern;
        unsigned char guard[8];
    } buffer{};
    std::fill(std::begin(buffer.guard), std::end(buffer.guard), 0xAB);
    const uint32_t old_size = offsetof(warmup_usage_pattern, idle_histogram);  // a caller that knows fewer fields
    buffer.pattern.struct_size = old_size;
    built.plugin.get_pattern(0, buffer.pattern);
    EXPECT_EQ(buffer.pattern.request_count, 2u);
    EXPECT_EQ(buffer.pattern.struct_size, old_size);
    EXPECT_EQ(buffer.pattern.idle_histogram, nullptr);  // beyond the caller's size: untouched
}

TEST(UsagePatternAnalyzer, BadParamErrorsNameTheKey) {
    PluginTestHost host = numbered_models_host();
    EXPECT_EQ(host.create_error<UsagePatternAnalyzer>(""), "");
    EXPECT_NE(host.create_error<UsagePatternAnalyzer>("idle_bins: 0").find("params.idle_bins"), std::string::npos);
    EXPECT_NE(host.create_error<UsagePatternAnalyzer>("idle_bin_ms: soon").find("params.idle_bin_ms"),
              std::string::npos);
    EXPECT_NE(host.create_error<UsagePatternAnalyzer>("ewma_half_life_ms: -5").find("params.ewma_half_life_ms"),
              std::string::npos);
    EXPECT_NE(host.create_error<UsagePatternAnalyzer>("max_followers: 1000").find("params.max_followers"),
              std::string::npos);
}

TEST(UsagePatternAnalyzer, UnknownParamKeyIsRefused) {
    PluginTestHost host = numbered_models_host();
    const std::string message = host.create_error<UsagePatternAnalyzer>("idle_bins: 10\nidle_bin_size: 5");
    EXPECT_NE(message.find("params.idle_bin_size"), std::string::npos) << message;
    EXPECT_NE(message.find("unknown parameter"), std::string::npos) << message;
}

}  // namespace
