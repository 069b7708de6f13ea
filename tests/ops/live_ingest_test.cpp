// Timestamps of ingested events on an in-process LiveRuntime: every event is learned at its own timestamp, history
// (older than ingest.request_window_ms) is learned but never scored, a future timestamp moves no other model's clock,
// and what is learned does not depend on the order in which different models' events arrive.
//
// Every event timestamp is placed far from any boundary the wall clock could cross while a test runs (history is
// minutes old, requests are "now"), and drain() waits until the control loop has taken what was ingested, so no
// assertion depends on how fast the machine is.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "ops_test_support.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;
using test::config_text;
using test::OpsTest;
using warmup::test::TempDir;

/// A keep-alive predictor whose keep_until is last_seen + 10 min: predictions show where the analyzer put a model's
/// last use.
constexpr const char* kKeepAlive10m = "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 600000}}";
constexpr warmup_time_ms kTtlMs = 600'000;

/// The value of the Prometheus sample line "<series> <value>", or nullopt.
std::optional<double> metric_value(const std::string& text, const std::string& series) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    return std::nullopt;
}

class LiveIngestTest : public OpsTest {
  protected:
    void start_with(const std::string& predictor, const std::string& extra = "") {
        start(load_config_text(config_text(0, 2, extra, predictor), "ingest.yaml", dir_.path(), {}));
    }
    /// `count` uses of `name` `gap_ms` apart, the last at `last_ms`, ingested oldest first.
    void ingest_rhythm(const std::string& name, warmup_time_ms last_ms, int count, warmup_time_ms gap_ms) {
        for (int i = count - 1; i >= 0; --i) ingest(name, last_ms - i * gap_ms);
    }
    TempDir dir_{"warmup-ingest"};
};

TEST_F(LiveIngestTest, ABackfillAfterANewerEventOfAnotherModelIsLearnedAtItsOwnTimestampsAndNotScored) {
    start_with(test::kLearningPredictor);
    const warmup_time_ms now_ms = runtime_->clock().now_ms();
    ingest("m/b", now_ms);  // a request of another model, newer than the whole back-fill below
    drain();
    // m/a: 20 uses a minute apart, the last one a minute ago: all history.
    const warmup_time_ms last_ms = now_ms - 60'000;
    ingest_rhythm("m/a", last_ms, 20, 60'000);
    drain();

    // Learned: 19 idle gaps of one minute (idle-histogram: confidence = gaps / (gaps + 10)), the next use expected a
    // minute or so after the last back-filled one. Moved up to m/b's time, the back-fill would have no gap at all.
    const auto learned = prediction("m/a");
    ASSERT_TRUE(learned.has_value());
    EXPECT_DOUBLE_EQ(learned->confidence, 19.0 / (19.0 + 10.0));
    EXPECT_GE(learned->next_arrival_ms, last_ms + 60'000);
    EXPECT_LT(learned->next_arrival_ms, last_ms + 120'000);

    // Not scored: m/b's request is the only one, everywhere the daemon counts requests.
    const EngineCounters counted = counters();
    EXPECT_EQ(counted.events, 1u);
    EXPECT_EQ(counted.requests, 1u);
    EXPECT_EQ(counted.cold_requests, 1u);
    EXPECT_EQ(counted.warm_requests, 0u);
    EXPECT_EQ(counted.demand_loads, 1u);
    EXPECT_EQ(status_of("m/a").requests, 0u);
    EXPECT_EQ(runtime_->accepted_events(), 21u);  // every event was accepted

    const std::string metrics = get_text("/metrics");
    EXPECT_EQ(metric_value(metrics, R"(warmup_requests_total{arm="control",result="cold"})"), 1.0) << metrics;
    EXPECT_EQ(metric_value(metrics, R"(warmup_requests_total{arm="control",result="warm"})"), 0.0) << metrics;
    const auto [status, experiments] = get_json("/api/warmup/experiments");
    ASSERT_EQ(status, 200);
    ASSERT_EQ(experiments["arms"].size(), 1u) << experiments.dump();
    EXPECT_EQ(experiments["arms"][0]["name"], "control");
    EXPECT_EQ(experiments["arms"][0]["requests"], 1);
    EXPECT_EQ(experiments["arms"][0]["cold_requests"], 1);
}

TEST_F(LiveIngestTest, AnEventInsideTheRequestWindowIsARequestAndTheWindowIsConfigurable) {
    // 30 s old: history under the default 5 s window, a request under a 60 s one.
    start_with(kKeepAlive10m);
    const warmup_time_ms old_ms = runtime_->clock().now_ms() - 30'000;
    ingest("m/a", old_ms);
    drain();
    EXPECT_EQ(counters().requests, 0u);
    EXPECT_EQ(counters().demand_loads, 0u);
    EXPECT_EQ(residency("m/a"), WARMUP_RESIDENCY_ABSENT);
    EXPECT_EQ(prediction("m/a")->keep_until_ms, old_ms + kTtlMs);  // learned, at its own time
    stop();

    start_with(kKeepAlive10m, "ingest: {request_window_ms: 60000}\n");
    ingest("m/a", runtime_->clock().now_ms() - 30'000);
    drain();
    EXPECT_EQ(counters().requests, 1u);
    EXPECT_EQ(counters().cold_requests, 1u);
}

TEST_F(LiveIngestTest, AFutureTimestampIsARequestNowAndMovesNoOtherModelsClock) {
    start_with(kKeepAlive10m);
    const warmup_time_ms now_ms = runtime_->clock().now_ms();
    ingest("m/b", now_ms + 240'000);  // 4 minutes ahead: the event parser's skew allowance is 5
    drain();
    const warmup_time_ms after_ms = runtime_->clock().now_ms();
    // m/b was counted now, at the daemon's clock, not 4 minutes ahead.
    const ModelStatus b = status_of("m/b");
    EXPECT_EQ(b.requests, 1u);
    EXPECT_GE(b.last_use_ms, now_ms);
    EXPECT_LE(b.last_use_ms, after_ms);

    // A request of m/a stamped a second ago keeps its own time: keep-alive anchors on it, not on m/b's future.
    const warmup_time_ms a_ms = now_ms - 1000;
    ingest("m/a", a_ms);
    drain();
    const auto a = prediction("m/a");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->keep_until_ms, a_ms + kTtlMs);
    EXPECT_EQ(status_of("m/a").last_use_ms, a_ms);
    EXPECT_EQ(counters().requests, 2u);
}

TEST_F(LiveIngestTest, PredictionsDoNotDependOnTheOrderInWhichDifferentModelsEventsArrive) {
    // Two models' histories (m/b's newer than m/a's), posted in either order, each in its own batch. Both orders
    // must leave the same learned patterns, hence the same predictions at the same instants.
    const warmup_time_ms base_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const warmup_time_ms a_last_ms = base_ms - 600'000;  // 20 uses a minute apart, the last 10 minutes ago
    const warmup_time_ms b_last_ms = base_ms - 120'000;  // 20 uses 30 s apart, the last 2 minutes ago
    // Each model is predicted one second after its own last use: its next use is then still ahead.
    const std::vector<std::pair<const char*, warmup_time_ms>> predicted_at = {{"m/a", a_last_ms + 1000},
                                                                              {"m/b", b_last_ms + 1000}};

    const auto run = [&](bool a_first) {
        start_with(test::kLearningPredictor);
        for (const bool a_turn : {a_first, !a_first}) {
            if (a_turn)
                ingest_rhythm("m/a", a_last_ms, 20, 60'000);
            else
                ingest_rhythm("m/b", b_last_ms, 20, 30'000);
            drain();
        }
        std::vector<warmup_prediction> out;
        for (const auto& [name, at_ms] : predicted_at) {
            const auto predicted = prediction(name, at_ms);
            EXPECT_TRUE(predicted.has_value()) << name;
            out.push_back(predicted.value_or(warmup_prediction{}));
        }
        stop();
        return out;
    };
    const std::vector<warmup_prediction> a_then_b = run(true);
    const std::vector<warmup_prediction> b_then_a = run(false);
    for (std::size_t i = 0; i < 2; ++i) {
        SCOPED_TRACE(i == 0 ? "m/a" : "m/b");
        EXPECT_DOUBLE_EQ(a_then_b[i].confidence, 19.0 / (19.0 + 10.0));  // every gap learned in both orders
        EXPECT_EQ(b_then_a[i].confidence, a_then_b[i].confidence);
        EXPECT_EQ(b_then_a[i].next_arrival_ms, a_then_b[i].next_arrival_ms);
        EXPECT_EQ(b_then_a[i].keep_until_ms, a_then_b[i].keep_until_ms);
        EXPECT_EQ(b_then_a[i].warm_at_ms, a_then_b[i].warm_at_ms);
        EXPECT_EQ(b_then_a[i].warm_keep_until_ms, a_then_b[i].warm_keep_until_ms);
        EXPECT_EQ(b_then_a[i].p_use_within_horizon, a_then_b[i].p_use_within_horizon);
    }
    // Each model's next use is anchored on its own last use.
    EXPECT_GE(a_then_b[0].next_arrival_ms, a_last_ms + 60'000);
    EXPECT_LT(a_then_b[0].next_arrival_ms, a_last_ms + 120'000);
    EXPECT_GE(a_then_b[1].next_arrival_ms, b_last_ms + 30'000);
    EXPECT_LT(a_then_b[1].next_arrival_ms, b_last_ms + 90'000);
}

TEST_F(LiveIngestTest, HistoryOlderThanAModelsLastUseAddsRequestsToItsCountsButNoIdleGap) {
    // The documented limit: the analyzer keeps no list of past arrivals, so a back-fill that arrives after a newer
    // use of the same model cannot be placed between its arrivals. It is counted (request count, calendar), but
    // teaches no idle gap; and it never moves the model's last use.
    start_with(test::kLearningPredictor);
    const warmup_time_ms now_ms = runtime_->clock().now_ms();
    ingest("m/a", now_ms);
    drain();
    ingest_rhythm("m/a", now_ms - 60'000, 20, 60'000);
    drain();
    const auto learned = prediction("m/a");
    ASSERT_TRUE(learned.has_value());
    EXPECT_EQ(learned->confidence, 0.0);  // no gap
    EXPECT_EQ(status_of("m/a").last_use_ms, now_ms);
    EXPECT_EQ(counters().requests, 1u);
}

}  // namespace
}  // namespace warmup::host
