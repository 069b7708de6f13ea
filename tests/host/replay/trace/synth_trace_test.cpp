// Tests of the scenario generator behind `synth:FILE.yaml` (host/replay/trace/synth_*.cpp): determinism per seed,
// independence of the models' random streams, each rhythm's property measured on a generated trace, located errors,
// and the shipped scenario files (configs/scenarios/) loading and generating in time order.
#include "replay/trace/synth_trace.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "gtest_support.hpp"
#include "replay/trace/trace.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace warmup::host::replay;

namespace {

constexpr int64_t minute = 60'000;
constexpr int64_t hour = 60 * minute;
constexpr int64_t day = 24 * hour;

/// An event with names instead of ids.
struct Named {
    int64_t ts_ms;
    std::string model;
    uint32_t count;
    std::string tenant;
    friend bool operator==(const Named&, const Named&) = default;
};

class SynthTest : public ::testing::Test {
  protected:
    /// Writes `yaml` as scenario.yaml and generates all its events with `seed`.
    std::vector<Named> generate(const std::string& yaml, uint64_t seed = 1) {
        const fs::path file = dir_.write("scenario.yaml", yaml);
        return generate_file(file, seed);
    }

    static std::vector<Named> generate_file(const fs::path& file, uint64_t seed) {
        ModelNames models, tenants;
        auto reader = open_trace("synth:" + file.string(), models, tenants, seed);
        std::vector<Named> events;
        TraceEvent event;
        while (reader->next(event))
            events.push_back({event.ts_ms, models.name(event.model), event.count, tenants.name(event.tenant)});
        return events;
    }

    /// what() of the TraceError that generating `yaml` throws.
    std::string error_of(const std::string& yaml) {
        return warmup::test::message_of<TraceError>([&] { generate(yaml); });
    }

    [[nodiscard]] std::string file() const { return (dir_.path() / "scenario.yaml").string(); }

    warmup::test::TempDir dir_{"synth-test"};
};

std::vector<Named> of_model(const std::vector<Named>& events, const std::string& model) {
    std::vector<Named> result;
    std::copy_if(events.begin(), events.end(), std::back_inserter(result),
                 [&](const Named& e) { return e.model == model; });
    return result;
}

uint64_t requests(const std::vector<Named>& events) {
    uint64_t total = 0;
    for (const Named& e : events) total += e.count;
    return total;
}

/// Local hour of day (fractional) and weekday (0 = Monday) of a trace time, for a trace starting on a Monday.
double local_hour(int64_t ts_ms, double offset_h) {
    const double local = static_cast<double>(ts_ms) + offset_h * static_cast<double>(hour);
    const double in_day =
        std::fmod(std::fmod(local, static_cast<double>(day)) + static_cast<double>(day), static_cast<double>(day));
    return in_day / static_cast<double>(hour);
}

int local_weekday(int64_t ts_ms, double offset_h) {
    const auto local = static_cast<int64_t>(std::floor(static_cast<double>(ts_ms) + offset_h * hour));
    const int64_t days = local >= 0 ? local / day : (local - day + 1) / day;
    return static_cast<int>(((days % 7) + 7) % 7);
}

void expect_time_ordered(const std::vector<Named>& events) {
    for (std::size_t i = 1; i < events.size(); ++i)
        ASSERT_LE(events[i - 1].ts_ms, events[i].ts_ms) << "event " << i << " of " << events[i].model;
}

const std::string two_models = R"(
duration: 14d
models:
  - name: "dev-{i}"
    count: 2
    tenant: "team-{i}"
    rhythm: {kind: working_hours, hours: [9, 17], sessions_per_day: 5,
             session_minutes: {mean: 20, cv: 0.8}, requests_per_minute_in_session: {mean: 2, cv: 1.5}}
    followers: [{model: "helper-{i}", probability: 0.5, delay_minutes: [1, 5], requests: [1, 3]}]
  - name: "helper-{i}"
    count: 2
)";

// ------------------------------------------------------------------------------------------------- determinism

TEST_F(SynthTest, SameSeedSameEventsOtherSeedOtherEvents) {
    const auto first = generate(two_models, 7);
    const auto again = generate(two_models, 7);
    const auto other = generate(two_models, 8);
    ASSERT_GT(first.size(), 500u);
    EXPECT_EQ(first, again);
    EXPECT_NE(first, other);
    expect_time_ordered(first);
    EXPECT_EQ(of_model(first, "dev-1").front().tenant, "team-1");
    EXPECT_EQ(of_model(first, "helper-1").front().tenant, "");
}

TEST_F(SynthTest, AddingAModelLeavesTheOthersUnchanged) {
    const auto before = generate(two_models, 3);
    const auto after = generate(two_models + R"(
  - name: nightly
    rhythm: {kind: periodic, every: 24h, at: "02:00", burst_requests: 20, burst_minutes: 5}
)",
                                3);
    std::vector<Named> without_nightly;
    std::copy_if(after.begin(), after.end(), std::back_inserter(without_nightly),
                 [](const Named& e) { return e.model != "nightly"; });
    EXPECT_EQ(requests(of_model(after, "nightly")), 14u * 20u);
    EXPECT_EQ(without_nightly, before);
}

TEST_F(SynthTest, RequestsInTheSameMillisecondBecomeOneEvent) {
    const auto events = generate(R"(
duration: 2d
models:
  - name: batch
    rhythm: {kind: periodic, every: 24h, at: "03:00", burst_requests: 40}
)");
    ASSERT_EQ(events.size(), 2u);  // no burst_minutes: the whole burst in one millisecond
    EXPECT_EQ(events[0], (Named{3 * hour, "batch", 40, ""}));
    EXPECT_EQ(events[1].ts_ms, day + 3 * hour);
}

// ---------------------------------------------------------------------------------------------------- rhythms

TEST_F(SynthTest, WorkingHoursStayInsideLocalHoursOnWeekdaysAndSkipLunch) {
    // One-request sessions, so every request is a session start.
    const auto events = generate(R"(
duration: 28d
models:
  - name: "dev-{i}"
    count: 3
    timezone_offset_h: [-8, 0, 9]
    rhythm:
      kind: working_hours
      hours: [9, 17.5]
      lunch: [12, 13]
      lunch_factor: 0
      sessions_per_day: 20
      session_minutes: {mean: 0.001, cv: 0}
      requests_per_minute_in_session: {mean: 1, cv: 0}
)");
    const std::vector<double> offsets = {-8, 0, 9};
    for (int i = 0; i < 3; ++i) {
        const auto mine = of_model(events, "dev-" + std::to_string(i));
        // 20 weekdays x 20 sessions = 400 expected; Poisson sd 20.
        EXPECT_NEAR(static_cast<double>(mine.size()), 400.0, 80.0) << i;
        std::map<int, int> per_hour;
        for (const Named& e : mine) {
            const double h = local_hour(e.ts_ms, offsets[i]);
            ASSERT_GE(h, 9.0) << e.ts_ms;
            ASSERT_LT(h, 17.5) << e.ts_ms;
            ASSERT_FALSE(h >= 12.0 && h < 13.0) << "lunch at " << e.ts_ms;
            ASSERT_LT(local_weekday(e.ts_ms, offsets[i]), 5) << "weekend at " << e.ts_ms;
            ++per_hour[static_cast<int>(h)];
        }
        EXPECT_GT(per_hour[9], 0);
        EXPECT_GT(per_hour[17], 0);
    }
    // The time zones shift the working day: UTC hour of dev-0 (UTC-8) starts at 17:00.
    const auto dev0 = of_model(events, "dev-0");
    EXPECT_TRUE(std::all_of(dev0.begin(), dev0.end(), [](const Named& e) {
        const double utc = local_hour(e.ts_ms, 0);
        return utc >= 17.0 || utc < 1.5;
    }));
}

TEST_F(SynthTest, LunchAndWeekendFactorsScaleTheRate) {
    const auto events = generate(R"(
duration: 28d
models:
  - name: dev
    rhythm:
      kind: working_hours
      hours: [8, 18]
      lunch: [12, 14]
      lunch_factor: 0.25
      weekend_factor: 0.5
      sessions_per_day: 400
      session_minutes: {mean: 0.001, cv: 0}
      requests_per_minute_in_session: 1
)");
    double lunch = 0, other = 0, weekday = 0, weekend = 0;
    for (const Named& e : events) {
        const double h = local_hour(e.ts_ms, 0);
        (h >= 12 && h < 14 ? lunch : other) += 1;
        (local_weekday(e.ts_ms, 0) >= 5 ? weekend : weekday) += 1;
    }
    // Per hour: lunch 0.25 x the rest (2 h of lunch vs 8 h of the rest); per day: weekend 0.5 x weekday (8 vs 20).
    EXPECT_NEAR((lunch / 2) / (other / 8), 0.25, 0.03);
    EXPECT_NEAR((weekend / 8) / (weekday / 20), 0.5, 0.05);
    // sessions_per_day counts a full weekday: 20 x 400 + 8 x 200 = 9600.
    EXPECT_NEAR(static_cast<double>(events.size()), 9600.0, 400.0);
}

TEST_F(SynthTest, SessionsAreBurstsOfRequests) {
    const auto events = generate(R"(
duration: 14d
models:
  - name: dev
    rhythm: {kind: working_hours, hours: [9, 17], sessions_per_day: 4,
             session_minutes: {mean: 30, cv: 0}, requests_per_minute_in_session: {mean: 2, cv: 0}}
)");
    // cv 0: every session is 60 requests 30 s apart; sessions are hours apart on average.
    std::vector<int64_t> gaps;
    for (std::size_t i = 1; i < events.size(); ++i) gaps.push_back(events[i].ts_ms - events[i - 1].ts_ms);
    const auto within = std::count_if(gaps.begin(), gaps.end(), [](int64_t g) { return g >= 29'999 && g <= 30'001; });
    // Sessions may overlap, so a few in-session gaps are hidden; nearly all gaps are the 30 s rhythm.
    EXPECT_GT(static_cast<double>(within) / static_cast<double>(gaps.size()), 0.9);
    EXPECT_NEAR(static_cast<double>(requests(events)) / 60.0, 10 * 4, 16);
}

TEST_F(SynthTest, PeriodicBurstsStartWithinTheJitterOfTheSchedule) {
    const auto events = generate(R"(
duration: 21d
models:
  - name: nightly
    timezone_offset_h: 1
    rhythm: {kind: periodic, every: 24h, at: "02:00", jitter_minutes: 10, burst_requests: 50, burst_minutes: 15}
  - name: weekly
    rhythm: {kind: periodic, every: 7d, at: "Wed 06:30", jitter_minutes: 30, burst_requests: [5, 10], burst_minutes: 5}
  - name: hourly
    rhythm: {kind: periodic, every: 1h, at: 15m, burst_requests: 1, weekend_factor: 0}
)");
    // nightly: 02:00 local (UTC+1) is 01:00 UTC; each burst's requests lie in [01:00, 01:00 + 10 + 15 min).
    std::map<int64_t, std::vector<int64_t>> nightly_by_day;
    for (const Named& e : of_model(events, "nightly")) nightly_by_day[(e.ts_ms - hour) / day].push_back(e.ts_ms);
    ASSERT_EQ(nightly_by_day.size(), 21u);
    std::set<int64_t> starts;
    for (const auto& [d, times] : nightly_by_day) {
        const int64_t scheduled = d * day + hour;
        EXPECT_GE(times.front(), scheduled);
        EXPECT_LT(times.front(), scheduled + 10 * minute);
        EXPECT_LT(times.back(), scheduled + 25 * minute);
        starts.insert((times.front() - scheduled) / minute);
    }
    EXPECT_GT(starts.size(), 4u) << "the jitter varies";
    EXPECT_EQ(requests(of_model(events, "nightly")), 21u * 50u);

    // weekly: Wednesdays 06:30 UTC, 3 bursts of 5..10.
    const auto weekly = of_model(events, "weekly");
    std::set<int64_t> weeks;
    for (const Named& e : weekly) {
        const int64_t week = e.ts_ms / (7 * day);
        const int64_t scheduled = week * 7 * day + 2 * day + 6 * hour + 30 * minute;
        EXPECT_GE(e.ts_ms, scheduled);
        EXPECT_LT(e.ts_ms, scheduled + 35 * minute);
        weeks.insert(week);
    }
    EXPECT_EQ(weeks.size(), 3u);
    EXPECT_GE(requests(weekly), 15u);
    EXPECT_LE(requests(weekly), 30u);

    // hourly at :15, weekdays only: 15 weekdays x 24.
    const auto hourly = of_model(events, "hourly");
    EXPECT_EQ(hourly.size(), 15u * 24u);
    for (const Named& e : hourly) EXPECT_EQ(e.ts_ms % hour, 15 * minute);
}

TEST_F(SynthTest, FollowersComeWithinTheirDelayAfterTheLeader) {
    const auto events = generate(R"(
duration: 30d
models:
  - name: chat
    rhythm: {kind: rare, mean_gap_hours: 2}
    followers:
      - {model: refactor, probability: 0.4, delay_minutes: [1, 8], requests: 1}
      - {model: review, probability: 1, delay_minutes: 3, requests: [2, 2], gap_seconds: 10, after: end}
  - name: refactor
  - name: review
)");
    const auto chat = of_model(events, "chat");
    const auto refactor = of_model(events, "refactor");
    const auto review = of_model(events, "review");
    ASSERT_GT(chat.size(), 250u);  // ~360 expected
    // Every follow-up has a leader request 1..8 min before it (rare sessions are one request each here).
    for (const Named& e : refactor) {
        const bool led = std::any_of(chat.begin(), chat.end(), [&](const Named& c) {
            return e.ts_ms - c.ts_ms >= minute && e.ts_ms - c.ts_ms <= 8 * minute;
        });
        EXPECT_TRUE(led) << "refactor at " << e.ts_ms;
    }
    EXPECT_NEAR(static_cast<double>(refactor.size()) / static_cast<double>(chat.size()), 0.4, 0.08);
    // probability 1, 2 requests each: the first exactly 3 min after a chat request.
    EXPECT_NEAR(static_cast<double>(requests(review)), 2.0 * static_cast<double>(requests(chat)), 4.0);
    std::set<int64_t> chat_times;
    for (const Named& c : chat) chat_times.insert(c.ts_ms);
    std::size_t exact = 0;
    for (const Named& e : review) exact += chat_times.count(e.ts_ms - 3 * minute);
    EXPECT_GE(exact, chat.size() - 2);  // up to the trace's end
}

TEST_F(SynthTest, AppearsAtAndRetiresAtBoundTheModel) {
    const auto events = generate(R"(
duration: 10d
models:
  - name: "m-{i}"
    count: 2
    appears_at: [3d, 5d]
    retires_at: [8d, 10d]
    rhythm: {kind: poisson, rate_per_hour: 4}
)");
    const auto m0 = of_model(events, "m-0");
    const auto m1 = of_model(events, "m-1");
    ASSERT_FALSE(m0.empty());
    ASSERT_FALSE(m1.empty());
    EXPECT_GE(m0.front().ts_ms, 3 * day);
    EXPECT_LT(m0.front().ts_ms, 3 * day + 2 * hour);
    EXPECT_LT(m0.back().ts_ms, 8 * day);
    EXPECT_GT(m0.back().ts_ms, 8 * day - 2 * hour);
    EXPECT_GE(m1.front().ts_ms, 5 * day);
    EXPECT_LT(m1.back().ts_ms, 10 * day);
}

TEST_F(SynthTest, DriftChangesTheRhythmAtItsTime) {
    const auto events = generate(R"(
duration: 14d
models:
  - name: team
    rhythm: {kind: working_hours, hours: [9, 17], sessions_per_day: 30,
             session_minutes: {mean: 0.001, cv: 0}, requests_per_minute_in_session: 1}
    drift:
      - {at: 7d, rhythm: {hours: [14, 22], sessions_per_day: 90}}
  - name: api
    rhythm: {kind: poisson, rate_per_hour: 10}
    drift: {at: 4d, rhythm: {kind: rare, mean_gap_hours: 1}}
)");
    double before = 0, after = 0;
    for (const Named& e : of_model(events, "team")) {
        const double h = local_hour(e.ts_ms, 0);
        if (e.ts_ms < 7 * day) {
            EXPECT_TRUE(h >= 9 && h < 17) << e.ts_ms;
            ++before;
        } else {
            EXPECT_TRUE(h >= 14 && h < 22) << e.ts_ms;
            ++after;
        }
    }
    EXPECT_NEAR(after / before, 3.0, 0.5);  // both halves hold 5 weekdays
    double api_before = 0, api_after = 0;
    for (const Named& e : of_model(events, "api")) (e.ts_ms < 4 * day ? api_before : api_after) += 1;
    EXPECT_NEAR(api_before / (4 * 24), 10, 1.2);
    EXPECT_NEAR(api_after / (10 * 24), 1, 0.25);
}

TEST_F(SynthTest, DiurnalPoissonPeaksAtItsHour) {
    const auto events = generate(R"(
duration: 20d
models:
  - name: consumer
    rhythm: {kind: poisson, rate_per_hour: 60, diurnal_amplitude: 0.8, peak_hour: 20}
)");
    std::vector<double> per_hour(24, 0);
    for (const Named& e : events) per_hour[static_cast<std::size_t>(local_hour(e.ts_ms, 0))] += 1;
    const auto peak = std::max_element(per_hour.begin(), per_hour.end()) - per_hour.begin();
    EXPECT_GE(peak, 19);
    EXPECT_LE(peak, 21);
    EXPECT_NEAR(per_hour[8] / per_hour[20], 0.2 / 1.8, 0.06);  // 1 - a vs 1 + a
}

TEST_F(SynthTest, StartDateSetsTheWeekdays) {
    // 2024-06-01 was a Saturday: a weekdays-only team is silent for the first two days.
    const auto events = generate(R"(
duration: 7d
start: 2024-06-01
models:
  - name: dev
    rhythm: {kind: working_hours, hours: [9, 17], sessions_per_day: 10, session_minutes: 5,
             requests_per_minute_in_session: 1}
)");
    ASSERT_FALSE(events.empty());
    EXPECT_GE(events.front().ts_ms, 2 * day + 9 * hour);
}

// ------------------------------------------------------------------------------------------------------ errors

TEST_F(SynthTest, BadFilesAreRefusedWithTheirLocation) {
    const std::string head = "duration: 7d\nmodels:\n";
    const std::string rhythm = "    rhythm: {kind: rare, mean_gap_hours: 5}\n";
    struct Case {
        std::string yaml;
        std::string expected;
    };
    const std::vector<Case> cases = {
        {head + "  - name: a\n    rythm: {kind: rare}\n", ":4:5: models[0].rythm: unknown key 'rythm'"},
        {head + "  - name: a\n    rhythm: {kind: rare, mean_gap_hours: -1}\n",
         ":4:42: models[0].rhythm.mean_gap_hours: expected a number above 0 and at most 1000000, got '-1'"},
        {head + "  - name: a\n    rhythm: {kind: rare, mean_gap_hours: 0}\n",
         ":4:42: models[0].rhythm.mean_gap_hours: expected a number above 0 and at most 1000000, got '0'"},
        {head + "  - name: a\n    rhythm: {kind: hourly}\n", ":4:20: models[0].rhythm.kind: expected one of"},
        {head + "  - name: a\n    rhythm: {kind: working_hours, hours: [9, 17]}\n",
         ":4:13: models[0].rhythm: missing required key 'sessions_per_day'"},
        {head + "  - name: a\n    rhythm: {kind: working_hours, hours: [18, 9], sessions_per_day: 1, "
                "session_minutes: 1, requests_per_minute_in_session: 1}\n",
         ":4:42: models[0].rhythm.hours: expected [min, max] with min <= max"},
        {head + "  - name: \"a-{i}\"\n    count: 2\n    timezone_offset_h: [1, 2, 3]\n" + rhythm,
         ":5:24: models[0].timezone_offset_h: expected one value or a list of 2"},
        {head + "  - name: a\n    count: 2\n" + rhythm, ":3:11: models[0].name: count is 2"},
        {head + "  - name: a\n" + rhythm + "  - name: a\n" + rhythm, ":5:11: models[1].name: model 'a' is also"},
        {head + "  - name: a\n" + rhythm + "    followers: [{model: b, delay_minutes: 1}]\n",
         ":5:25: models[0].followers[0].model: 'b' (follower of 'a') is not a model"},
        {head + "  - name: a\n", ":3:11: models[0].name: model 'a' has no rhythm"},
        {head + "  - name: a\n    appears_at: 9d\n" + rhythm, ":4:17: models[0].appears_at: '9d' is after the end"},
        {"duration: 7 days\nmodels: []\n", ":1:11: duration: expected a duration like"},
        {"duration: 4000d\nmodels: []\n",
         ":1:11: duration: expected a duration like 500ms, 90s, 30m, 12h or 7d, at most 3660d"},
        {"models: [{name: a}]\n", ":1:1: missing required key 'duration'"},
        {head + "  - name: a\n    rhythm: {kind: periodic, every: 1h, at: \"02:00\", burst_requests: 1}\n",
         ":4:13: models[0].rhythm: at (120 min into the period) must be less than every (60 min)"},
        {head + "  - name: a\n" + rhythm + "    drift: {at: 2d, rhythm: {rate_per_hour: 3}}\n",
         ":5:30: models[0].drift.rhythm.rate_per_hour: unknown key 'rate_per_hour'"},
        {head + "  - name: a\n" + rhythm + "    name: b\n", ":5:5: models[0].name: duplicate key 'name'"},
        {"duration: 7d\n---\nduration: 8d\n", ":2:1: expected one YAML document"},
        {"duration: [7d\n", ":2:1: "},
        {", : :\n", ":1:1: unexpected ',' here; remove or quote it"},
        {"duration: 7d\nmodels: &m [*m]\n", ":2:9: models[0]: expected a mapping, got a list"},
        {"duration: 7d\nstart: 2024-02-30\nmodels: [{name: a, rhythm: {kind: rare, mean_gap_hours: 1}}]\n",
         ":2:8: start: expected epoch milliseconds or a UTC date"},
    };
    for (const Case& c : cases) {
        const std::string message = error_of(c.yaml);
        EXPECT_CONTAINS(message, file() + c.expected);
    }
}

TEST_F(SynthTest, AMissingFileIsATraceError) {
    ModelNames models, tenants;
    const std::string message = warmup::test::message_of<TraceError>(
        [&] { open_trace("synth:" + (dir_.path() / "absent.yaml").string(), models, tenants, 1); });
    EXPECT_CONTAINS(message, "absent.yaml: cannot open the scenario file");
}

// ------------------------------------------------------------------------------------------- shipped scenarios

TEST_F(SynthTest, ShippedScenariosGenerateInTimeOrderAndQuickly) {
    const fs::path folder = fs::path(WARMUP_TEST_SOURCE_DIR) / "configs" / "scenarios";
    std::size_t files = 0;
    for (const auto& entry : fs::directory_iterator(folder)) {
        if (entry.path().extension() != ".yaml") continue;
        ++files;
        const auto started = std::chrono::steady_clock::now();
        const auto events = generate_file(entry.path(), 1);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        SCOPED_TRACE(entry.path().filename().string());
        EXPECT_GT(events.size(), 10'000u);
        expect_time_ordered(events);
        EXPECT_LT(seconds, 20.0);  // a few seconds in a release build; generous for sanitizer builds
        const auto scenario = synth::load_scenario(entry.path());
        std::set<std::string> seen;
        for (const Named& e : events) seen.insert(e.model);
        EXPECT_GE(static_cast<double>(seen.size()), 0.8 * static_cast<double>(scenario.models.size()));
        EXPECT_LT(events.back().ts_ms, scenario.duration_ms);
    }
    EXPECT_GE(files, 3u);
}

}  // namespace
