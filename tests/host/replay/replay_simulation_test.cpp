// The simulation rules of warmup-replay (docs/simulation-rules.md), pinned on small scenarios whose outcome is computed
// by hand. Every scenario is a YAML config and a csv trace written into a temporary folder and replayed through
// run_replay with the real plugins from the build's plugin folder; the budget invariant is also checked step by step
// on a WarmupEngine driven directly. Each expectation states the reasoning it comes from.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "engine/warmup_engine.hpp"
#include "loader/plugin_loader.hpp"
#include "loader/plugin_set.hpp"
#include "replay/frontier.hpp"
#include "replay/replay_driver.hpp"
#include "replay/replay_report.hpp"
#include "test_support.hpp"

namespace warmup::host::replay {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMinuteMs = 60'000;
constexpr double kMbMsPerGbH = 1024.0 * 3600.0 * 1000.0;  // the report's GB x h (GB = 1024 MiB)

using warmup::test::TempDir;

void write_file(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary);
    out << text;
    ASSERT_TRUE(out.good()) << file;
}

std::string read_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

/// One scenario: the parts of the YAML that vary, plus the csv trace ("ts_ms,model" lines without the header).
struct Scenario {
    double budget_mb = 32768;
    uint32_t max_concurrent = 2;
    std::string catalog;  ///< YAML list items, one "  - {...}" per line
    std::string analyzer = "{plugin: org.warmup.analyzer.usage-pattern}";
    std::string predictor = "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: never}}";
    std::string resource = "{plugin: org.warmup.resource.lru}";
    std::string backend = "{plugin: org.warmup.backend.sim}";
    std::string arms;        ///< YAML list items of `arms:`, or "" for none
    std::string experiment;  ///< the `experiment:` mapping, or "" for none
    std::string trace_header = "ts_ms,model";
    std::string trace_lines;  ///< csv body
};

std::string scenario_yaml(const Scenario& s) {
    std::ostringstream yaml;
    yaml << "log_level: error\n"
         << "plugin_dirs: [\"" << WARMUP_TEST_PLUGIN_DIR << "\"]\n"
         << "budgets: {memory_mb: " << s.budget_mb << ", max_concurrent_warmups: " << s.max_concurrent << "}\n"
         << "components:\n"
         << "  analyzer: " << s.analyzer << "\n"
         << "  predictor: " << s.predictor << "\n"
         << "  performance: {plugin: org.warmup.performance.calibrated}\n"
         << "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
         << "  resource: " << s.resource << "\n"
         << "  queue: {plugin: org.warmup.queue.priority}\n"
         << "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
         << "  backend: " << s.backend << "\n"
         << "catalog:\n"
         << s.catalog << "replay: {seed: 7}\n";
    if (!s.arms.empty()) yaml << "arms:\n" << s.arms;
    if (!s.experiment.empty()) yaml << "experiment: " << s.experiment << "\n";
    return yaml.str();
}

/// Writes the scenario into `dir` and returns the config and the options that replay it.
std::pair<Config, ReplayOptions> prepare(const Scenario& s, const fs::path& dir) {
    write_file(dir / "scenario.yaml", scenario_yaml(s));
    write_file(dir / "trace.csv", s.trace_header + "\n" + s.trace_lines);
    ReplayOptions options;
    options.traces = {"csv:" + (dir / "trace.csv").string()};
    return {load_config_file(dir / "scenario.yaml", {}), options};
}

ReplayReport replay(const Scenario& s, bool frontier = false) {
    TempDir dir("warmup-replay-test");
    auto [config, options] = prepare(s, dir.path());
    options.frontier = frontier;
    return run_replay(config, options);
}

const ArmResult& arm_named(const ReplayReport& report, const std::string& name) {
    for (const ArmResult& arm : report.arms)
        if (arm.name == name) return arm;
    throw std::runtime_error("no arm named " + name);
}

/// csv lines "<t>,<model>" for `count` requests `every_ms` apart starting at `first_ms`.
std::string periodic(const std::string& model, int64_t first_ms, int64_t every_ms, int count) {
    std::string lines;
    for (int i = 0; i < count; ++i) lines += std::to_string(first_ms + i * every_ms) + "," + model + "\n";
    return lines;
}

double gb_h(double mb, double ms) { return mb * ms / kMbMsPerGbH; }

// ---------------------------------------------------------------------------------------------------------------
// One model requested every 10 minutes, 20 times (t = 0, 10 min, ..., 190 min; the replay ends at the last request).
// Load 15 s, 16 GiB, budget 32 GiB: memory never constrains, only the policies differ. One replay, one arm each.

constexpr int kPeriodicRequests = 20;
constexpr int64_t kGapMs = 10 * kMinuteMs;
constexpr int64_t kLoadMs = 15'000;
constexpr double kModelMb = 16384;
constexpr int64_t kPeriodicEndMs = (kPeriodicRequests - 1) * kGapMs;

class PeriodicModel : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        Scenario s;
        s.catalog = "  - {model: m, memory_mb: 16384, load_ms: 15000, unload_ms: 1000}\n";
        s.arms =
            "  - {name: keepalive-5m, components: {predictor: {plugin: org.warmup.predictor.keep-alive, params: "
            "{ttl_ms: 300000}}}}\n"
            "  - {name: keepalive-15m, components: {predictor: {plugin: org.warmup.predictor.keep-alive, params: "
            "{ttl_ms: 900000}}}}\n"
            "  - {name: ttl-equal-gap, components: {predictor: {plugin: org.warmup.predictor.keep-alive, params: "
            "{ttl_ms: 600000}}}}\n"
            "  - {name: ttl-gap-minus-1ms, components: {predictor: {plugin: org.warmup.predictor.keep-alive, params: "
            "{ttl_ms: 599999}}}}\n"
            "  - {name: hybrid, components: {predictor: {plugin: org.warmup.predictor.hybrid-histogram, params: "
            "{default_keep_alive_ms: 300000}}}}\n"
            "  - {name: oracle, yardstick: oracle}\n"
            "  - {name: oracle-lean, yardstick: oracle-lean}\n";
        s.trace_lines = periodic("m", 0, kGapMs, kPeriodicRequests);
        report_ = new ReplayReport(replay(s));
    }
    static void TearDownTestSuite() {
        delete report_;
        report_ = nullptr;
    }
    static ReplayReport* report_;
};
ReplayReport* PeriodicModel::report_ = nullptr;

TEST_F(PeriodicModel, KeepAliveShorterThanTheGapMakesEveryRequestCold) {
    // Unloaded 5 min after each use, absent 5 min later when the next request comes: 20 demand loads.
    const ArmResult& arm = arm_named(*report_, "keepalive-5m");
    EXPECT_EQ(arm.requests, 20u);
    EXPECT_EQ(arm.cold_requests, 20u);
    EXPECT_EQ(arm.demand_loads, 20u);
    EXPECT_EQ(arm.unloads, 19u);  // the last load is still running when the replay ends
    // Each of the 19 completed cycles holds 16 GiB idle from readiness (t + 15 s, where the request is served) to the
    // unload at t + 5 min; the last load never completes before the end.
    EXPECT_NEAR(arm.idle_gb_h, 19 * gb_h(kModelMb, 300'000 - kLoadMs), 1e-9);
    // 19 cycles of 5 min loaded, plus the last load from its start to the end (0 ms).
    EXPECT_NEAR(arm.loaded_gb_h, 19 * gb_h(kModelMb, 300'000), 1e-9);
    EXPECT_DOUBLE_EQ(arm.cold_rate, 1.0);
}

TEST_F(PeriodicModel, KeepAliveLongerThanTheGapMakesOnlyTheFirstRequestCold) {
    const ArmResult& arm = arm_named(*report_, "keepalive-15m");
    EXPECT_EQ(arm.cold_requests, 1u);
    EXPECT_EQ(arm.demand_loads, 1u);
    EXPECT_EQ(arm.unloads, 0u);
    // Loaded from t = 0 to the end. Idle memory-time counts only the stretch after a model's last use that ended in an
    // unload or eviction without serving again (or the end): every gap here ended in a request, and the last request
    // is at the end, so there is none.
    EXPECT_NEAR(arm.loaded_gb_h, gb_h(kModelMb, kPeriodicEndMs), 1e-9);
    EXPECT_NEAR(arm.idle_gb_h, 0.0, 1e-12);
    // The one cold request waited exactly one load.
    EXPECT_DOUBLE_EQ(arm.cold_wait_total_s, 15.0);
}

TEST_F(PeriodicModel, RequestAtTheSameTimestampAsTheUnloadTimerComesFirst) {
    // TTL == gap: the unload timer is due exactly when the next request arrives. Requests run before timers at equal
    // timestamps, so the request finds the model ready and cancels the unload.
    EXPECT_EQ(arm_named(*report_, "ttl-equal-gap").cold_requests, 1u);
    // One millisecond less and the timer fires first: every request is cold.
    EXPECT_EQ(arm_named(*report_, "ttl-gap-minus-1ms").cold_requests, 20u);
}

TEST_F(PeriodicModel, HybridHistogramLearnsToPrewarmOnceTheHistogramIsRepresentative) {
    // The hybrid policy needs min_samples = 10 idle times; every gap falls in the same 1-minute bin, so the CV of the
    // 240 bin counts is sqrt(240 - 1) = 15.5 >= 2 (representative) from the 10th gap on, i.e. at the 11th request.
    // Before that: the 5-min default keep-alive of this arm, so requests 1..11 are cold. From request 11 on it
    // unloads right after use and pre-warms at last + 0.9 x 10 min - (1.1 x 15 s + 1 s): requests 12..20 are warm.
    const ArmResult& arm = arm_named(*report_, "hybrid");
    EXPECT_EQ(arm.cold_requests, 11u);
    EXPECT_EQ(arm.prewarms_started, 9u);
    EXPECT_EQ(arm.prewarms_used, 9u);
    EXPECT_EQ(arm.prewarms_wasted, 0u);
    EXPECT_DOUBLE_EQ(arm.precision, 1.0);
    // Every request follows a gap longer than the load time; the 9 pre-warmed ones count for recall.
    EXPECT_EQ(arm.idle_gap_requests, 20u);
    EXPECT_EQ(arm.idle_gap_prewarmed, 9u);
    EXPECT_DOUBLE_EQ(arm.recall, 9.0 / 20.0);
}

TEST_F(PeriodicModel, OracleHasNoColdRequestWhenTheBudgetHoldsTheModels) {
    // The driver plans every model of a yardstick arm before the trace starts (at the first arrival minus the largest
    // load time, here -15 s), so the oracle pre-warms even the first request: ready at 0, when it arrives. After that
    // it never unloads (the budget holds the model).
    const ArmResult& arm = arm_named(*report_, "oracle");
    EXPECT_EQ(arm.cold_requests, 0u);
    EXPECT_EQ(arm.prewarms_started, 1u);
    EXPECT_EQ(arm.prewarms_used, 1u);
    EXPECT_EQ(arm.unloads, 0u);
    EXPECT_EQ(arm.evictions, 0u);
    // Loaded from -15 s to the end; never idle in the sense of the report (each gap ended in a request served warm).
    EXPECT_NEAR(arm.loaded_gb_h, gb_h(kModelMb, kPeriodicEndMs + kLoadMs), 1e-9);
    EXPECT_NEAR(arm.idle_gb_h, 0.0, 1e-12);
}

TEST_F(PeriodicModel, OracleLeanUnloadsBetweenRequestsWithoutExtraColdRequests) {
    // Lean: unload right after each use, pre-warm exactly 15 s before the next request; the load completes at the
    // request's timestamp and completions run before requests, so the request is warm. No idle memory at all, and no
    // cold request the oracle does not have either (the first one is pre-warmed before the trace starts).
    const ArmResult& lean = arm_named(*report_, "oracle-lean");
    const ArmResult& oracle = arm_named(*report_, "oracle");
    EXPECT_EQ(lean.cold_requests, oracle.cold_requests);
    EXPECT_GE(lean.prewarms_used, 19u);
    EXPECT_EQ(lean.prewarms_wasted, 0u);
    EXPECT_EQ(lean.unloads, 20u);  // the last one at the end of the replay
    EXPECT_NEAR(lean.idle_gb_h, 0.0, 1e-12);
    EXPECT_LT(lean.loaded_gb_h, oracle.loaded_gb_h / 10);
    // Loaded: 20 loads of 15 s each.
    EXPECT_NEAR(lean.loaded_gb_h, 20 * gb_h(kModelMb, kLoadMs), 1e-9);
}

// ---------------------------------------------------------------------------------------------------------------
// Timers planned in the past and the end of the replay.

TEST(ReplayTime, TimerPlannedInThePastFiresAtTheCurrentTimeNotBackInTime) {
    // Hybrid histogram with 1-s bins, requests every 30 s, 15 s loads, a 5-s default keep-alive: requests 1..10 are
    // cold (unloaded 5 s after each use). From the 10th gap on the histogram is representative (every gap in the
    // 30-s bin): "unload at the last use, pre-warm at last + 0.9 x 30 s - (1.1 x 15 s + 1 s) = last + 9.5 s".
    // The 11th request is cold too, and that plan is made when its load completes, at last + 15 s: both times are
    // already past. The timer fires at last + 15 s, where the pre-warm time has come too, so the model is kept (until
    // last + 1.1 x 31 s) and request 12 is warm without a pre-warm. Firing back in time would unload it at "last" and
    // start a pre-warm at "last + 9.5 s", before the model was even ready.
    // Requests 13 and 14 are then served by pre-warms (unload right after use, ready 24.5 s later).
    Scenario s;
    s.catalog = "  - {model: m, memory_mb: 16384, load_ms: 15000}\n";
    s.analyzer = "{plugin: org.warmup.analyzer.usage-pattern, params: {idle_bin_ms: 1000}}";
    s.predictor = "{plugin: org.warmup.predictor.hybrid-histogram, params: {default_keep_alive_ms: 5000}}";
    s.trace_lines = periodic("m", 0, 30'000, 14);
    const ReplayReport report = replay(s);
    const ArmResult& arm = report.arms.at(0);
    EXPECT_EQ(arm.cold_requests, 11u);
    EXPECT_EQ(arm.prewarms_started, 2u);
    EXPECT_EQ(arm.prewarms_used, 2u);
    EXPECT_EQ(arm.unloads, 13u);  // after requests 1..10, 12, 13 and (at the end) 14
}

// ---------------------------------------------------------------------------------------------------------------
// The hard memory budget.

TEST(HardBudget, DemandLoadsQueueForMemoryAndTheirWaitsIncludeTheQueueing) {
    // Three 12 GiB models requested at t = 0 under a 16 GiB budget, two load slots. A loads at once; B and C cannot
    // fit beside the loading A (a loading model cannot be evicted): both wait for memory, first come first served.
    // A ready at 15 s (serves its request), evicted for B; B ready at 30 s, evicted for C; C ready at 45 s.
    // Waits 15, 30, 45 s. A request for C at 100 s is warm and ends the replay.
    Scenario s;
    s.budget_mb = 16384;
    s.catalog =
        "  - {model: a, memory_mb: 12288, load_ms: 15000}\n"
        "  - {model: b, memory_mb: 12288, load_ms: 15000}\n"
        "  - {model: c, memory_mb: 12288, load_ms: 15000}\n";
    s.trace_lines = "0,a\n0,b\n0,c\n100000,c\n";
    const ReplayReport report = replay(s);
    const ArmResult& arm = report.arms.at(0);
    EXPECT_EQ(arm.requests, 4u);
    EXPECT_EQ(arm.cold_requests, 3u);
    EXPECT_EQ(arm.demand_loads, 3u);
    EXPECT_EQ(arm.loads_queued_for_memory, 2u);
    EXPECT_EQ(arm.evictions, 2u);
    EXPECT_DOUBLE_EQ(arm.cold_wait_total_s, 15.0 + 30.0 + 45.0);
    EXPECT_GT(arm.cold_wait_p99_ms, 15'000 * 1.02);  // the slowest wait includes queueing (2 % histogram accuracy)
    EXPECT_NEAR(arm.cold_wait_p99_ms, 45'000, 45'000 * 0.02);
    // Exactly one 12 GiB model is charged at every instant from 0 to the end at 100 s.
    EXPECT_NEAR(arm.loaded_gb_h, gb_h(12288, 100'000), 1e-9);
    ASSERT_FALSE(arm.timeline.empty());
    for (const TimelineBucket& bucket : arm.timeline) EXPECT_LE(bucket.mean_resident_mb, arm.budget_mb + 1e-9);
}

/// Loads complete after the catalog's load time; the test steps time itself.
class SteppedExecutor final : public LoadExecutor {
  public:
    explicit SteppedExecutor(Catalog& catalog) : catalog_(catalog) {}
    void start_load(warmup_model_index model, uint64_t ticket, warmup_time_ms now_ms) override {
        pending_.push_back({now_ms + static_cast<int64_t>(catalog_.record(model).load_ms), sequence_++, model, ticket});
    }
    void start_unload(warmup_model_index, uint64_t, warmup_time_ms) override {}
    struct Pending {
        int64_t done_ms;
        uint64_t sequence;
        warmup_model_index model;
        uint64_t ticket;
    };
    [[nodiscard]] int64_t next_ms() const {
        int64_t next = WARMUP_TIME_NEVER;
        for (const Pending& p : pending_) next = std::min(next, p.done_ms);
        return next;
    }
    Pending pop() {
        const auto it = std::min_element(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
            return a.done_ms != b.done_ms ? a.done_ms < b.done_ms : a.sequence < b.sequence;
        });
        const Pending top = *it;
        pending_.erase(it);
        return top;
    }

  private:
    Catalog& catalog_;
    std::vector<Pending> pending_;
    uint64_t sequence_ = 0;
};

TEST(HardBudget, EngineNeverChargesMoreThanTheBudgetAfterAnyStep) {
    // A standalone engine with the real plugins of a PluginSet, six models of 3..12 GiB (42 GiB together) under a
    // 20 GiB budget, 600 pseudo-random requests over 3 h. After every step (events, completion, timers) the charged
    // memory is within the budget and equals the sum of what the engine reports per model.
    Scenario s;
    s.budget_mb = 20480;
    s.predictor = "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 120000}}";
    s.catalog =
        "  - {model: m0, memory_mb: 3072, load_ms: 3000}\n"
        "  - {model: m1, memory_mb: 4096, load_ms: 5000}\n"
        "  - {model: m2, memory_mb: 6144, load_ms: 8000}\n"
        "  - {model: m3, memory_mb: 8192, load_ms: 12000}\n"
        "  - {model: m4, memory_mb: 10240, load_ms: 16000}\n"
        "  - {model: m5, memory_mb: 12288, load_ms: 20000}\n";
    s.trace_lines = "0,m0\n";
    TempDir dir("warmup-replay-test");
    auto [config, options] = prepare(s, dir.path());
    Catalog catalog(config.catalog);
    std::vector<warmup_model_index> models;
    for (int i = 0; i < 6; ++i) models.push_back(*catalog.resolve("m" + std::to_string(i)));
    ManualClock clock;
    PluginLoader loader(config.plugin_dirs);
    auto plugins = PluginSet::create(config.components, config, loader, catalog, clock);
    SteppedExecutor executor(catalog);
    EngineOptions engine_options;
    engine_options.memory_budget_mb = 20480;
    engine_options.max_concurrent_loads = 2;
    WarmupEngine engine(plugins->component_set(), executor, catalog, engine_options);

    uint64_t steps = 0;
    const auto check = [&](int64_t now_ms) {
        ++steps;
        ASSERT_LE(engine.used_mb(), engine.budget_mb() + 1e-9) << "at " << now_ms << " ms";
        double charged_mb = 0;
        for (const warmup_model_index model : models) charged_mb += engine.model_status(model).memory_mb;
        ASSERT_NEAR(charged_mb, engine.used_mb(), 1e-6) << "at " << now_ms << " ms";
    };
    // The driver's order: completions up to t, timers before t (never back in time), then the events at t.
    int64_t now_ms = 0;
    const auto advance_to = [&](int64_t t) {
        for (;;) {
            const int64_t completion_ms = executor.next_ms();
            const int64_t timer_ms = std::max(engine.next_timer_ms(), now_ms);
            if (completion_ms <= t && completion_ms <= timer_ms) {
                now_ms = completion_ms;
                clock.set(now_ms);
                const auto done = executor.pop();
                engine.on_load_finished(done.model, done.ticket, true, catalog.record(done.model).load_ms, 0, now_ms);
            } else if (timer_ms < t) {
                now_ms = timer_ms;
                clock.set(now_ms);
                engine.run_timers(now_ms);
            } else {
                break;
            }
            check(now_ms);
        }
        now_ms = t;
        clock.set(t);
    };
    uint64_t lcg = 12345;
    const auto next_random = [&] {
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        return lcg >> 33;
    };
    int64_t t = 0;
    for (int i = 0; i < 600; ++i) {
        t += static_cast<int64_t>(next_random() % 36'000);  // mean gap 18 s
        // Skewed popularity: small models more often, so that the big ones are evicted and reloaded.
        const auto pick = next_random() % 21;
        const std::size_t model = pick < 6 ? 0 : pick < 11 ? 1 : pick < 15 ? 2 : pick < 18 ? 3 : pick < 20 ? 4 : 5;
        advance_to(t);
        warmup_usage_event event{};
        event.ts_ms = t;
        event.model = models[model];
        event.count = 1;
        engine.on_events(std::span<const warmup_usage_event>(&event, 1), t);
        check(t);
        if (HasFatalFailure()) return;
    }
    advance_to(t + 3'600'000);
    EXPECT_GT(steps, 600u);
    const EngineCounters& c = engine.counters();
    EXPECT_EQ(c.requests, 600u);
    EXPECT_GT(c.evictions, 0u);
    EXPECT_GT(c.loads_queued_for_memory, 0u);
    EXPECT_EQ(engine.memory_waiters(), 0u);  // everyone got served in the hour after the last request
    EXPECT_EQ(c.cold_requests, engine.cold_waits_ms().count());
}

TEST(HardBudget, PrewarmThatWouldEvictAModelNeededSoonerIsSkippedAndCounted) {
    // Oracle, two 16 GiB models, 16 GiB budget. a@0, b@100s, b@190s, a@200s, b@300s. Both are planned before the
    // trace: a pre-warmed at -15 s (warm at 0), b at 85 s, evicting a (next needed at 200 s, after b). a's pre-warm
    // falls due at 185 s (200 s - 15 s) but could only make room by evicting b, needed sooner (190 s): skipped and
    // counted, so a@200s is cold (its demand load evicts b). b's pre-warm at 285 s may evict a (never needed again):
    // b@300s is warm.
    Scenario s;
    s.budget_mb = 16384;
    s.catalog =
        "  - {model: a, memory_mb: 16384, load_ms: 15000}\n"
        "  - {model: b, memory_mb: 16384, load_ms: 15000}\n";
    s.arms = "  - {name: oracle, yardstick: oracle}\n";
    s.trace_lines = "0,a\n100000,b\n190000,b\n200000,a\n300000,b\n";
    const ArmResult& arm = arm_named(replay(s), "oracle");
    EXPECT_EQ(arm.prewarms_skipped, 1u);
    EXPECT_EQ(arm.cold_requests, 1u);     // a@200s
    EXPECT_EQ(arm.prewarms_started, 3u);  // a at -15 s, b at 85 s, b at 285 s
    EXPECT_EQ(arm.prewarms_used, 3u);
    EXPECT_EQ(arm.evictions, 3u);  // a at 85 s, b at 200 s, a at 285 s
}

// ---------------------------------------------------------------------------------------------------------------
// Eviction policies.

/// x: 8 GiB, 60 s load (expensive); y, z: 8 GiB, 1 s load. Budget 16 GiB, no TTL. x@0, y@100s, z@200s, x@300s.
/// At 200 s z needs room. LRU evicts the least recently used: x (used at 60 s) -> x@300s is cold and evicts y.
/// Greedy-Dual evicts the lowest frequency x cost / size: y (1000/8192) rather than x (60000/8192) -> x@300s warm.
Scenario expensive_model_scenario() {
    Scenario s;
    s.budget_mb = 16384;
    s.catalog =
        "  - {model: x, memory_mb: 8192, load_ms: 60000}\n"
        "  - {model: y, memory_mb: 8192, load_ms: 1000}\n"
        "  - {model: z, memory_mb: 8192, load_ms: 1000}\n";
    s.trace_lines = "0,x\n100000,y\n200000,z\n300000,x\n";
    return s;
}

TEST(Eviction, GreedyDualKeepsTheExpensiveModelWhereLruEvictsIt) {
    Scenario s = expensive_model_scenario();
    s.arms =
        "  - {name: lru}\n"
        "  - {name: greedy-dual, components: {resource: {plugin: org.warmup.resource.greedy-dual}}}\n";
    const ReplayReport report = replay(s);
    const ArmResult& lru = arm_named(report, "lru");
    const ArmResult& gd = arm_named(report, "greedy-dual");
    EXPECT_EQ(lru.cold_requests, 4u);
    EXPECT_EQ(lru.evictions, 2u);
    EXPECT_EQ(gd.cold_requests, 3u);
    EXPECT_EQ(gd.evictions, 1u);
}

TEST(Eviction, ValueKeepsTheModelUsedEveryMinuteWhereLruEvictsIt) {
    // f, r, n: 8 GiB, 10 s load; budget 16 GiB, no TTL. f is used every minute from 0 to 7,500 s; r at 5 s, 3,605 s
    // and 7,210 s (hourly); n first at 7,230 s and needs room. LRU evicts f (idle 30 s against r's 20 s), so f@7,260 s
    // is cold and evicts r. The value policy has learned f's 1-minute gaps and r's 1-hour ones: r's next use is an
    // hour away, f's within the horizon, so it evicts r and f stays warm. The arm starts on the value rule
    // (`shadow_start: value`): with one eviction to compare, 1.2.0's default start on LRU would still follow LRU.
    Scenario s;
    s.budget_mb = 16384;
    s.catalog =
        "  - {model: f, memory_mb: 8192, load_ms: 10000}\n"
        "  - {model: r, memory_mb: 8192, load_ms: 10000}\n"
        "  - {model: n, memory_mb: 8192, load_ms: 10000}\n";
    s.arms =
        "  - {name: lru}\n"
        "  - {name: value, components: {resource: {plugin: org.warmup.resource.value, params: {shadow_start: "
        "value}}}}\n";
    std::string lines;
    for (int64_t t = 0; t <= 7'500'000; t += 60'000) {
        lines += std::to_string(t) + ",f\n";
        for (const int64_t other : {int64_t{5'000}, int64_t{3'605'000}, int64_t{7'210'000}})
            if (other > t && other < t + 60'000) lines += std::to_string(other) + ",r\n";
        if (t == 7'200'000) lines += "7230000,n\n";
    }
    s.trace_lines = lines;
    const ReplayReport report = replay(s);
    const ArmResult& lru = arm_named(report, "lru");
    const ArmResult& value = arm_named(report, "value");
    EXPECT_EQ(lru.cold_requests, 4u);  // f, r and n first loads, then f@7,260 s
    EXPECT_EQ(lru.evictions, 2u);
    EXPECT_EQ(value.cold_requests, 3u);  // only the first loads
    EXPECT_EQ(value.evictions, 1u);
}

// ---------------------------------------------------------------------------------------------------------------
// The frontier: compulsory cold requests, avoidable ones, the keep-alive curve and the ratio.

/// Two models, a (15 s load) and b (30 s), one warm-up at a time, arms keep-forever and keep-alive 5 min; the trace of
/// the floor test below, whose counts are worked out there.
Scenario two_model_scenario() {
    Scenario s;
    s.budget_mb = 65536;
    s.max_concurrent = 1;
    s.catalog =
        "  - {model: a, memory_mb: 16384, load_ms: 15000}\n"
        "  - {model: b, memory_mb: 16384, load_ms: 30000}\n";
    s.arms =
        "  - {name: keep-forever}\n"
        "  - {name: keepalive-5m, components: {predictor: {plugin: org.warmup.predictor.keep-alive, params: "
        "{ttl_ms: 300000}}}}\n";
    s.trace_header = "ts_ms,model,count";
    s.trace_lines = "0,a,1\n5000,b,1\n10000,a,3\n15000,a,1\n34999,b,1\n35000,b,1\n1200000,a,1\n";
    return s;
}

// A live experiment's configuration replayed as it is (its own journal, say): the top-level components run as the arm
// `control` beside the experiment's arms, as warmupd runs them, and a configuration of arms alone runs its arms only.
TEST(ExperimentReplay, ALiveExperimentsConfigurationRunsItsControlArmBesideItsArms) {
    Scenario s;
    s.catalog = "  - {model: m, memory_mb: 1024, load_ms: 1000}\n";
    s.trace_lines = periodic("m", 0, 120'000, 5);
    s.predictor = "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 60000}}";
    s.arms = "  - {name: longer, components: {predictor: {params: {ttl_ms: 600000}}}}\n";
    s.experiment = "{enabled: true, split: model}";
    const ReplayReport live = replay(s);
    ASSERT_EQ(live.arms.size(), 2u);
    EXPECT_EQ(live.arms[0].name, "control");
    EXPECT_EQ(live.arms[0].cold_requests, 5u) << "a 1-minute keep, 2 minutes apart";
    EXPECT_EQ(live.arms[1].name, "longer");
    EXPECT_EQ(live.arms[1].cold_requests, 1u);
    s.experiment.clear();
    const ReplayReport offline = replay(s);
    ASSERT_EQ(offline.arms.size(), 1u);
    EXPECT_EQ(offline.arms[0].name, "longer");
}

TEST(CompulsoryFloor, CountsTheRequestsThatWaitForEachModelsFirstLoadWhateverTheBudgetAndConcurrency) {
    // a loads in 15 s, b in 30 s. One warm-up at a time for the arms; the floor has no such cap and no budget.
    //   0       a     first request of a: compulsory
    //   5 s     b     first request of b: compulsory (the floor loads b at once, ready at 35 s)
    //   10 s    a x3  a is still loading (ready at 15 s): 3 compulsory
    //   15 s    a     a's load completes at 15 s, before the request: warm in the floor
    //   34.999s b     b still loading: compulsory
    //   35 s    b     b's load completes at 35 s: warm in the floor
    //   20 min  a     kept forever in the floor: warm
    // Compulsory: 1 + 1 + 3 + 1 = 6.
    // The arms load b only after a (one at a time): 15 s -> 45 s, so b's requests at 5 s, 34.999 s and 35 s are all
    // cold there. keep-forever: 1 + 3 (a) + 3 (b) = 7 cold, 1 avoidable (the queueing). keep-alive 5 min also loses
    // a at 20 min: 8 cold, 2 avoidable.
    Scenario s = two_model_scenario();
    s.arms += "  - {name: oracle, yardstick: oracle}\n";
    const ReplayReport report = replay(s);
    EXPECT_EQ(report.compulsory_cold_requests, 6u);
    EXPECT_FALSE(report.frontier);
    ASSERT_EQ(report.arms.size(), 3u);  // the floor is not an arm of the report

    const ArmResult& forever = arm_named(report, "keep-forever");
    EXPECT_EQ(forever.cold_requests, 7u);
    EXPECT_EQ(forever.avoidable_cold_requests, 1u);
    const ArmResult& keepalive = arm_named(report, "keepalive-5m");
    EXPECT_EQ(keepalive.cold_requests, 8u);
    EXPECT_EQ(keepalive.avoidable_cold_requests, 2u);
    // The oracle pre-warms even first requests: fewer cold requests than the floor, avoidable clamped at 0.
    const ArmResult& oracle = arm_named(report, "oracle");
    EXPECT_LT(oracle.cold_requests, report.compulsory_cold_requests);
    EXPECT_EQ(oracle.avoidable_cold_requests, 0u);
    // Without the curve there is no ratio.
    for (const ArmResult& arm : report.arms) {
        EXPECT_FALSE(arm.keepalive_curve_ratio.has_value()) << arm.name;
        EXPECT_FALSE(arm.frontier_curve) << arm.name;
    }
}

TEST(PerModelResults, ListEachArmsRequestsColdRequestsAndMemoryPerModelInPerModelCsv) {
    // The two-model trace of the floor test above: a has 6 requests, b 3. keep-forever leaves a's first request and
    // the 3 made during its load cold, and all of b's (b loads after a, one load at a time); keep-alive 5 min also
    // loses a at 20 min.
    const ReplayReport report = replay(two_model_scenario());
    const ArmResult& forever = arm_named(report, "keep-forever");
    ASSERT_EQ(forever.per_model.size(), 2u);
    EXPECT_EQ(forever.per_model[0].model, "a");
    EXPECT_EQ(forever.per_model[0].requests, 6u);
    EXPECT_EQ(forever.per_model[0].cold_requests, 4u);

    // Memory-time per model (16 GB each; the replay ends at the last request, 20 min): keep-forever holds a from 0
    // and b from its load's start at 15 s; keep-alive 5 min holds a from 0 to 5 min after its request at 15 s (its
    // reload at 20 min ends the replay) and b from 15 s to 5 min after its last request at 35 s. Every arm's models
    // add up to the arm's loaded memory.
    for (const ArmResult& arm : report.arms)
        EXPECT_NEAR(arm.per_model[0].loaded_gb_h + arm.per_model[1].loaded_gb_h, arm.loaded_gb_h, 1e-9) << arm.name;

    TempDir dir("warmup-replay-test");
    write_reports(report, dir.path());
    EXPECT_EQ(read_file(dir.path() / "per-model.csv"),
              "arm,model,requests,cold_requests,cold_rate,loaded_gb_h\n"
              "keep-forever,a,6,4,0.6666666666666666,5.333333333333333\n"  // 1200 s
              "keep-forever,b,3,3,1,5.266666666666667\n"                   // 1185 s
              "keepalive-5m,a,6,5,0.8333333333333334,1.4\n"                // 315 s
              "keepalive-5m,b,3,3,1,1.4222222222222223\n");                // 320 s
}

TEST(CompulsoryFloor, EqualsAKeepForeverArmWithUnlimitedMemoryOnAJitteredFailingBackend) {
    // The floor skips the requests of models it has loaded for good; that must not change what it counts, even when
    // load times are jittered and loads fail and are retried (the backend's random draws follow the load sequence).
    spdlog::set_level(spdlog::level::err);  // the failing loads are on purpose
    Scenario s;
    s.budget_mb = 1e9;        // every model fits at once
    s.max_concurrent = 1024;  // the configuration's maximum: every load starts at once
    s.catalog = "  - {model: \"language/tiny/*\", memory_mb: 16384, load_ms: 15000, unload_ms: 1000}\n";
    s.backend = "{plugin: org.warmup.backend.sim, params: {load_jitter: 0.3, failure_rate: 0.2, seed: 3}}";
    s.arms = "  - {name: keep-forever}\n";  // the top level: keep-alive `never`, LRU
    TempDir dir("warmup-replay-test");
    auto [config, options] = prepare(s, dir.path());
    options.traces = {
        "servegen:" +
        (fs::path(WARMUP_TEST_SOURCE_DIR) / "tests/host/replay/trace/data/servegen/language/tiny").string()};
    const ReplayReport report = run_replay(config, options);
    const ArmResult& forever = arm_named(report, "keep-forever");
    ASSERT_GT(forever.demand_loads, report.models);  // some first loads failed and were retried
    EXPECT_EQ(report.compulsory_cold_requests, forever.cold_requests);
    EXPECT_EQ(forever.avoidable_cold_requests, 0u);
}

/// One model requested every 3 minutes for 90 minutes (31 requests), load 15 s; memory and concurrency are ample.
/// Keep-alive 1 and 2 min unload before every next request (all 31 cold); 5 min and longer keep it (only the first).
class KeepAliveFrontier : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        Scenario s;
        s.catalog = "  - {model: m, memory_mb: 16384, load_ms: 15000}\n";
        const auto keepalive = [](const std::string& name, int64_t ttl_ms) {
            return "  - {name: " + name + ", components: {predictor: {plugin: org.warmup.predictor.keep-alive, " +
                   "params: {ttl_ms: " + std::to_string(ttl_ms) + "}}}}\n";
        };
        // keepalive-curve-5m takes a curve arm's name on purpose; keepalive-90s lies between two curve points.
        s.arms = keepalive("keepalive-5m", 5 * kMinuteMs) + keepalive("keepalive-2m", 2 * kMinuteMs) +
                 keepalive("keepalive-90s", 90'000) + keepalive("keepalive-curve-5m", 5 * kMinuteMs) +
                 "  - {name: oracle-lean, yardstick: oracle-lean}\n";
        s.trace_lines = periodic("m", 0, 3 * kMinuteMs, 31);
        report_ = new ReplayReport(replay(s, /*frontier=*/true));
    }
    static void TearDownTestSuite() {
        delete report_;
        report_ = nullptr;
    }
    static ReplayReport* report_;
};
ReplayReport* KeepAliveFrontier::report_ = nullptr;

TEST_F(KeepAliveFrontier, AddsOneCurveArmPerTtlAfterTheConfiguredArms) {
    const ReplayReport& report = *report_;
    EXPECT_TRUE(report.frontier);
    EXPECT_EQ(report.compulsory_cold_requests, 1u);
    ASSERT_EQ(report.arms.size(), 5u + kKeepAliveCurveMinutes.size());
    EXPECT_EQ(report.arms[3].name, "keepalive-curve-5m");  // the configured one keeps its name
    EXPECT_FALSE(report.arms[3].frontier_curve);
    const std::vector<std::string> expected = {"keepalive-curve-1m",  "keepalive-curve-2m",   "keepalive-curve-5m-2",
                                               "keepalive-curve-10m", "keepalive-curve-20m",  "keepalive-curve-30m",
                                               "keepalive-curve-60m", "keepalive-curve-120m", "keepalive-curve-240m"};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const ArmResult& arm = report.arms[5 + i];
        EXPECT_EQ(arm.name, expected[i]);
        EXPECT_TRUE(arm.frontier_curve) << arm.name;
        EXPECT_EQ(arm.frontier_ttl_ms, kKeepAliveCurveMinutes[i] * kMinuteMs) << arm.name;
        EXPECT_EQ(arm.budget_mb, report.budget_mb) << arm.name;
        EXPECT_NE(std::find(arm.plugins.begin(), arm.plugins.end(), "predictor=org.warmup.predictor.keep-alive@1.0.0"),
                  arm.plugins.end())
            << arm.name;
    }
}

TEST_F(KeepAliveFrontier, ShortTimersLoseEveryRequestAndFiveMinutesOrMoreOnlyTheCompulsoryOne) {
    for (std::size_t i = 0; i < kKeepAliveCurveMinutes.size(); ++i) {
        const ArmResult& arm = report_->arms[5 + i];
        EXPECT_EQ(arm.avoidable_cold_requests, kKeepAliveCurveMinutes[i] < 3 ? 30u : 0u) << arm.name;
        // Longer TTLs hold more memory: the curve runs left to right as the TTL grows.
        if (i > 0) {
            EXPECT_GE(arm.loaded_gb_h, report_->arms[4 + i].loaded_gb_h) << arm.name;
        }
    }
}

TEST_F(KeepAliveFrontier, AnArmOnTheCurveHasRatioOne) {
    // keepalive-5m is the curve's 5-minute point: same memory, same avoidable cold requests (0, and 0/0 is 1.0).
    const ArmResult& five = arm_named(*report_, "keepalive-5m");
    EXPECT_DOUBLE_EQ(five.loaded_gb_h, arm_named(*report_, "keepalive-curve-5m-2").loaded_gb_h);
    ASSERT_TRUE(five.keepalive_curve_ratio.has_value());
    EXPECT_DOUBLE_EQ(*five.keepalive_curve_ratio, 1.0);
    EXPECT_DOUBLE_EQ(*five.keepalive_curve_p75_cold_rate, five.per_model_cold_rate_p75);
    // keepalive-2m is the 2-minute point, with 30 avoidable cold requests on both sides.
    const ArmResult& two = arm_named(*report_, "keepalive-2m");
    EXPECT_EQ(two.avoidable_cold_requests, 30u);
    EXPECT_DOUBLE_EQ(*two.keepalive_curve_ratio, 1.0);
    // keepalive-90s lies between the 1- and 2-minute points, both at 30: ratio 1.0 too, and a p75 of 100 %.
    const ArmResult& ninety = arm_named(*report_, "keepalive-90s");
    EXPECT_GT(ninety.loaded_gb_h, arm_named(*report_, "keepalive-curve-1m").loaded_gb_h);
    EXPECT_LT(ninety.loaded_gb_h, arm_named(*report_, "keepalive-curve-2m").loaded_gb_h);
    EXPECT_DOUBLE_EQ(*ninety.keepalive_curve_ratio, 1.0);
    EXPECT_DOUBLE_EQ(*ninety.keepalive_curve_p75_cold_rate, 1.0);
    // oracle-lean holds less memory than any timer and has no avoidable cold request: ratio 0 against the curve's
    // leftmost point (clamped), whose p75 cold rate is 100 %.
    const ArmResult& lean = arm_named(*report_, "oracle-lean");
    EXPECT_LT(lean.loaded_gb_h, arm_named(*report_, "keepalive-curve-1m").loaded_gb_h);
    EXPECT_DOUBLE_EQ(*lean.keepalive_curve_ratio, 0.0);
    EXPECT_DOUBLE_EQ(*lean.keepalive_curve_p75_cold_rate, 1.0);
}

TEST(KeepAliveFrontierConfig, ReplayFrontierTrueInTheConfigAddsTheCurveAsTheFlagDoes) {
    Scenario s;
    s.catalog = "  - {model: m, memory_mb: 16384, load_ms: 15000}\n";
    s.trace_lines = periodic("m", 0, 3 * kMinuteMs, 5);
    TempDir dir("warmup-replay-test");
    auto [config, options] = prepare(s, dir.path());
    EXPECT_EQ(run_replay(config, options).arms.size(), 1u);  // just the top-level "default"
    config.replay_frontier = true;
    const ReplayReport report = run_replay(config, options);
    ASSERT_EQ(report.arms.size(), 1u + kKeepAliveCurveMinutes.size());
    EXPECT_TRUE(report.frontier);
    EXPECT_TRUE(report.arms[0].keepalive_curve_ratio.has_value());
}

TEST(KeepAliveFrontierResource, CurveTimersEvictByLruWhateverResourceTheConfigurationNames) {
    // The expensive-model scenario with Greedy-Dual at the top level: a 4-hour timer under the configuration's
    // resource keeps x (3 cold requests, y evicted); the curve's 4-hour timer evicts by LRU (x leaves at 200 s and its
    // return is cold: 4 cold requests, 2 evictions), the timer of section 8 whatever resource the policy uses.
    Scenario s = expensive_model_scenario();
    s.resource = "{plugin: org.warmup.resource.greedy-dual}";
    s.arms =
        "  - {name: timer, components: {predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: "
        "14400000}}}}\n";
    const ReplayReport report = replay(s, /*frontier=*/true);
    const ArmResult& timer = arm_named(report, "timer");
    EXPECT_EQ(timer.cold_requests, 3u);
    EXPECT_EQ(timer.evictions, 1u);
    const ArmResult& curve = arm_named(report, "keepalive-curve-240m");
    EXPECT_EQ(curve.cold_requests, 4u);
    EXPECT_EQ(curve.evictions, 2u);
    for (const ArmResult& arm : report.arms) {
        if (!arm.frontier_curve) continue;
        EXPECT_NE(std::find(arm.plugins.begin(), arm.plugins.end(), "resource=org.warmup.resource.lru@1.0.0"),
                  arm.plugins.end())
            << arm.name;
    }
}

/// The expensive-model scenario under the value resource with a param of its own (shadow_start, which LRU would
/// refuse) and a host limit: MemTotal 16 GiB (a file in `dir`) less reserve_mb 8 GiB leaves room for one 8 GiB model.
Scenario host_limited_value_scenario(const fs::path& dir) {
    const fs::path meminfo = dir / "meminfo";
    write_file(meminfo, "MemTotal:       16777216 kB\n");
    Scenario s = expensive_model_scenario();
    s.resource =
        "{plugin: org.warmup.resource.value, params: {shadow_start: value, host_limit: meminfo, meminfo_path: \"" +
        meminfo.string() + "\", reserve_mb: 8192}}";
    return s;
}

TEST(KeepAliveFrontierResource, CurveTimersKeepTheBudgetParamsLruSharesAndDropTheOthers) {
    // The curve's timers run LRU under the same host limit, so every load evicts the model before it: 4 cold
    // requests, 3 evictions (2 with the 16 GiB budget alone).
    TempDir limit_dir("warmup-replay-test");
    const ReplayReport report = replay(host_limited_value_scenario(limit_dir.path()), /*frontier=*/true);
    const ArmResult& curve = arm_named(report, "keepalive-curve-240m");
    EXPECT_EQ(curve.cold_requests, 4u);
    EXPECT_EQ(curve.evictions, 3u);
}

TEST(KeepAliveFrontierResource, KeepAliveArmsBetweenTheCurvesPointsAreBuiltLikeItsArms) {
    // The host-limited value configuration: --keep-alive 240 and 3.5 add timers run exactly as the curve's (LRU under
    // the same 8 GiB: the 4-hour one has the curve's 240-minute figures, ratio 1) and reported as arms, after the
    // curve, with their ratio.
    TempDir limit_dir("warmup-replay-test");
    TempDir dir("warmup-replay-test");
    auto [config, options] = prepare(host_limited_value_scenario(limit_dir.path()), dir.path());
    options.frontier = true;
    options.keep_alive_minutes = {240, 3.5};
    const ReplayReport report = run_replay(config, options);
    ASSERT_EQ(report.arms.size(), 1u + kKeepAliveCurveMinutes.size() + 2u);
    const ArmResult& timer = report.arms[report.arms.size() - 2];
    EXPECT_EQ(timer.name, "keepalive-240m");
    EXPECT_FALSE(timer.frontier_curve);
    const ArmResult& curve = arm_named(report, "keepalive-curve-240m");
    EXPECT_EQ(timer.cold_requests, curve.cold_requests);
    EXPECT_EQ(timer.evictions, 3u);
    EXPECT_DOUBLE_EQ(timer.loaded_gb_h, curve.loaded_gb_h);
    ASSERT_TRUE(timer.keepalive_curve_ratio.has_value());
    EXPECT_DOUBLE_EQ(*timer.keepalive_curve_ratio, 1.0);
    EXPECT_EQ(report.arms.back().name, "keepalive-3.5m");
    EXPECT_NE(std::find(timer.plugins.begin(), timer.plugins.end(), "resource=org.warmup.resource.lru@1.0.0"),
              timer.plugins.end());
}

TEST(ReplayArms, AnArmMayCompareAnotherBuildOfAPluginIdTheTopLevelUses) {
    // The A/B case of a plugin team: the running build at the top level, a new build of the same id in an arm. warmupd
    // and `warmupctl validate` take it; the replay refused it as an id "already loaded from" the other file.
    TempDir dir("warmup-replay-test");
    const fs::path candidate = dir.path() / "keep_alive_predictor-candidate.so";
    fs::copy_file(fs::path(WARMUP_TEST_PLUGIN_DIR) / "keep_alive_predictor.so", candidate);
    std::ofstream(candidate, std::ios::app | std::ios::binary) << "another build";  // another SHA-256, the same id
    Scenario s;
    s.catalog = "  - {model: m, memory_mb: 16384, load_ms: 15000}\n";
    s.trace_lines = periodic("m", 0, 3 * kMinuteMs, 5);
    s.arms = "  - {name: current}\n  - {name: candidate, components: {predictor: {path: \"" + candidate.string() +
             "\", params: {ttl_ms: 60000}}}}\n";
    auto [config, options] = prepare(s, dir.path());
    const ReplayReport report = run_replay(config, options);
    ASSERT_EQ(report.arms.size(), 2u);
    EXPECT_EQ(arm_named(report, "current").cold_requests, 1u);    // kept for ever
    EXPECT_EQ(arm_named(report, "candidate").cold_requests, 5u);  // unloaded a minute after each use
}

/// m requested 4 times, 3 minutes apart, kept 1 minute: every request cold. Arms "sane" (the sim backend) and
/// "garbage" (a backend whose simulate_load answers `answer`).
Scenario garbage_simulation_scenario(const std::string& answer) {
    const std::string backend =
        (fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "replay_garbage_simulation_backend.so").string();
    Scenario s;
    s.catalog = "  - {model: m, memory_mb: 1024, load_ms: 15000}\n";
    s.predictor = "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 60000}}";
    s.trace_lines = periodic("m", 0, 3 * kMinuteMs, 4);
    s.arms = "  - {name: sane}\n  - {name: garbage, components: {backend: {path: \"" + backend +
             "\", params: {answer: " + answer + "}}}}\n";
    return s;
}

class GarbageSimulation : public ::testing::TestWithParam<std::string> {};

TEST_P(GarbageSimulation, ALoadTimeThatIsNotOneIsCountedAsAPluginErrorAndTheCatalogsTimeIsUsed) {
    // The arm is flagged (plugin_errors) and its figures stay sane: each load takes the catalog's 15 s.
    spdlog::set_level(spdlog::level::err);
    const ReplayReport report = replay(garbage_simulation_scenario(GetParam()));
    const ArmResult& sane = arm_named(report, "sane");
    const ArmResult& garbage = arm_named(report, "garbage");
    EXPECT_EQ(sane.plugin_errors, 0u);
    EXPECT_EQ(garbage.plugin_errors, 4u);  // one per load
    EXPECT_EQ(garbage.cold_requests, 4u);
    EXPECT_EQ(garbage.failed_requests, 0u);
    EXPECT_DOUBLE_EQ(garbage.loaded_gb_h, sane.loaded_gb_h);
    EXPECT_DOUBLE_EQ(garbage.cold_wait_p99_ms, sane.cold_wait_p99_ms);
    EXPECT_EQ(arm_warnings(report).size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Answers, GarbageSimulation, ::testing::Values("huge", "nan", "negative"));

TEST(GarbageSimulation, AFailedSimulateLoadIsAFailedLoadCountedAsAPluginError) {
    spdlog::set_level(spdlog::level::err);
    const ReplayReport report = replay(garbage_simulation_scenario("error"));
    const ArmResult& garbage = arm_named(report, "garbage");
    EXPECT_GE(garbage.plugin_errors, 4u);  // every attempt, retries included
    EXPECT_EQ(garbage.cold_requests, 4u);
    EXPECT_GT(garbage.failed_requests,
              0u);  // given up after the scheduler's attempts (the last may end with the trace)
    // One warning for the plugin errors, one for the failed requests the table shows only as cold ones.
    const std::vector<std::string> warnings = arm_warnings(report);
    ASSERT_EQ(warnings.size(), 2u);
    EXPECT_EQ(warnings[1].rfind(fmt::format("arm 'garbage': {} of its", garbage.failed_requests), 0), 0u)
        << warnings[1];
}

// ---------------------------------------------------------------------------------------------------------------
// Determinism.

/// The tiny ServeGen sample of the trace tests: synthetic arrivals drawn from the seed.
std::string servegen_tiny_spec() {
    const fs::path folder = fs::path(WARMUP_TEST_SOURCE_DIR) / "tests/host/replay/trace/data/servegen/language/tiny";
    return "servegen:" + folder.string();
}

Scenario servegen_scenario() {
    spdlog::set_level(spdlog::level::err);  // the failing loads are on purpose: no warning per failure
    // Several arms, a jittered and failing backend: everything that draws random numbers or depends on ordering.
    Scenario s;
    s.budget_mb = 24576;
    s.catalog = "  - {model: \"language/tiny/*\", memory_mb: 16384, load_ms: 15000, unload_ms: 1000}\n";
    s.backend = "{plugin: org.warmup.backend.sim, params: {load_jitter: 0.3, failure_rate: 0.1, seed: 3}}";
    s.arms =
        "  - {name: keepalive-5m, components: {predictor: {plugin: org.warmup.predictor.keep-alive, params: "
        "{ttl_ms: 300000}}}}\n"
        "  - {name: hybrid, components: {predictor: {plugin: org.warmup.predictor.hybrid-histogram}}}\n"
        "  - {name: idle-histogram, components: {predictor: {plugin: org.warmup.predictor.idle-histogram}}}\n"
        "  - {name: greedy-dual, components: {resource: {plugin: org.warmup.resource.greedy-dual}}}\n"
        "  - {name: oracle, yardstick: oracle}\n"
        "  - {name: oracle-lean, yardstick: oracle-lean}\n";
    return s;
}

TEST(Determinism, SameSeedAndInputsGiveByteIdenticalReportJson) {
    TempDir dir("warmup-replay-test");
    auto [config, options] = prepare(servegen_scenario(), dir.path());
    options.traces = {servegen_tiny_spec()};
    options.frontier = true;  // the curve arms and the floor too
    const ReplayReport first = run_replay(config, options);
    const ReplayReport second = run_replay(config, options);
    ASSERT_GT(first.events, 100u);
    write_reports(first, dir.path() / "first");
    write_reports(second, dir.path() / "second");
    const std::string first_json = read_file(dir.path() / "first" / "report.json");
    EXPECT_FALSE(first_json.empty());
    EXPECT_EQ(first_json, read_file(dir.path() / "second" / "report.json"));
    // The scenario exercises what it is meant to: failures and cold requests in every arm, a floor, a curve.
    for (const ArmResult& arm : first.arms) EXPECT_GT(arm.cold_requests, 0u) << arm.name;
    EXPECT_GT(first.compulsory_cold_requests, 0u);
    EXPECT_EQ(first.arms.size(), 6u + kKeepAliveCurveMinutes.size());
}

TEST(Determinism, DumpedEventsReplayToTheSameArmResults) {
    TempDir dir("warmup-replay-test");
    auto [config, options] = prepare(servegen_scenario(), dir.path());
    options.traces = {servegen_tiny_spec()};
    const ReplayReport direct = run_replay(config, options);
    dump_events(config, options, dir.path() / "events.csv");
    ReplayOptions from_dump;
    from_dump.traces = {"csv:" + (dir.path() / "events.csv").string()};
    const ReplayReport replayed = run_replay(config, from_dump);
    write_reports(direct, dir.path() / "direct");
    write_reports(replayed, dir.path() / "replayed");
    const auto direct_json = nlohmann::json::parse(read_file(dir.path() / "direct" / "report.json"));
    const auto replayed_json = nlohmann::json::parse(read_file(dir.path() / "replayed" / "report.json"));
    ASSERT_EQ(direct_json.at("events"), replayed_json.at("events"));
    EXPECT_EQ(direct_json.at("requests"), replayed_json.at("requests"));
    EXPECT_EQ(direct_json.at("from_ms"), replayed_json.at("from_ms"));
    EXPECT_EQ(direct_json.at("to_ms"), replayed_json.at("to_ms"));
    ASSERT_EQ(direct_json.at("arms").size(), replayed_json.at("arms").size());
    for (std::size_t i = 0; i < direct_json.at("arms").size(); ++i)
        EXPECT_EQ(direct_json.at("arms")[i], replayed_json.at("arms")[i]) << "arm " << i;
}

}  // namespace
}  // namespace warmup::host::replay
