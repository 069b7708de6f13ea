// Ingest (host/runtime/ingest.cpp): timestamps of ingested events on an in-process LiveRuntime: every event is learned
// at its own timestamp, history (older than ingest.request_window_ms) is learned but never scored, a future timestamp
// moves no other model's clock, and what is learned does not depend on the order in which different models' events
// arrive. Also how a POST reaches the control loop: all its events in one step, and a full ingest queue takes a body's
// first events and counts each refused one.
//
// Every event timestamp is placed far from any boundary the wall clock could cross while a test runs (history is
// minutes old, requests are "now"), and drain() waits until the control loop has taken what was ingested, so no
// assertion depends on how fast the machine is.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "live_runtime_test_fixture.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;
using test::config_text;
using test::metric_value;
using test::OpsTest;
using warmup::test::TempDir;

/// A keep-alive predictor whose keep_until is last_seen + 10 min: predictions show where the analyzer put a model's
/// last use.
constexpr const char* kKeepAlive10m = "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 600000}}";
constexpr warmup_time_ms kTtlMs = 600'000;

class IngestTest : public OpsTest {
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

TEST_F(IngestTest, ABackfillAfterANewerEventOfAnotherModelIsLearnedAtItsOwnTimestampsAndNotScored) {
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

TEST_F(IngestTest, AnEventInsideTheRequestWindowIsARequestAndTheWindowIsConfigurable) {
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

TEST_F(IngestTest, ARequestThatWaitedInTheQueueWhileTheLoopWasHeldUpStaysARequest) {
    // A control loop held longer than the request window (a slow plugin call): the event was a request when it was
    // accepted, and is still judged one when the loop takes it.
    start_with(kKeepAlive10m, "ingest: {request_window_ms: 1000}\n");
    std::promise<void> entered;
    std::thread held([&] {
        runtime_->call_on_control([&](WarmupEngine&) {
            entered.set_value();
            std::this_thread::sleep_for(std::chrono::milliseconds(3000));
            return 0;
        });
    });
    entered.get_future().wait();
    ingest("m/a", runtime_->clock().now_ms());
    held.join();
    drain();
    EXPECT_EQ(counters().requests, 1u);
    EXPECT_EQ(counters().cold_requests, 1u);
    EXPECT_NE(residency("m/a"), WARMUP_RESIDENCY_ABSENT);  // its demand load was started
}

TEST_F(IngestTest, NamesAGlobMatchesBeyondTheModelLimitAreRefusedWithTheReason) {
    // A client making up names under a glob would otherwise register models (memory in the host and every plugin)
    // for as long as it likes.
    std::string config = config_text(0, 2, "", kKeepAlive10m);
    const std::string budgets = "max_concurrent_warmups: 2}";
    ASSERT_NE(config.find(budgets), std::string::npos);
    config.replace(config.find(budgets), budgets.size(), "max_concurrent_warmups: 2, max_models: 2}");
    start(load_config_text(config, "limit.yaml", dir_.path(), {}));
    const auto [status, answer] = post(
        "/api/warmup/events", "{\"model\":\"m/a\"}\n{\"model\":\"m/b\"}\n{\"model\":\"m/c\"}\n{\"model\":\"m/a\"}\n");
    EXPECT_EQ(status, 400) << answer.dump();
    EXPECT_EQ(answer["accepted"], 3);  // a known model is still taken once the limit is reached
    ASSERT_EQ(answer["rejected"].size(), 1u) << answer.dump();
    EXPECT_EQ(answer["rejected"][0]["line"], 3);
    EXPECT_EQ(answer["rejected"][0]["reason"],
              "model 'm/c' is not registered: this daemon already knows budgets.max_models (2) models (raise it, or "
              "narrow the catalog glob that matches such names)");
    EXPECT_EQ(runtime_->catalog().size(), 2u);
}

TEST_F(IngestTest, AFutureTimestampIsARequestNowAndMovesNoOtherModelsClock) {
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

TEST_F(IngestTest, PredictionsDoNotDependOnTheOrderInWhichDifferentModelsEventsArrive) {
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

TEST_F(IngestTest, HistoryOlderThanAModelsLastUseAddsRequestsToItsCountsButNoIdleGap) {
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

TEST_F(IngestTest, AllEventsOfOnePostReachTheEnginesInTheSameControlLoopStep) {
    // Each body: 4999 uses of its own model a minute apart as history (the last a minute ago), then a request of it
    // now. While bodies are posted, the test thread looks at every model between two control-loop steps. Handled in one
    // step, a model is either untouched or has its history and its request: 4999 idle gaps learned (idle-histogram:
    // confidence = gaps / (gaps + 10)) and one request. Split across steps, a model could be seen with its history
    // alone (4998 gaps, no request), or any other part of its body; a load could start between the parts. Long bodies
    // give a split many chances to show.
    start_with(test::kLearningPredictor);
    constexpr int kBodies = 30;
    constexpr int kHistory = 4999;
    std::atomic<bool> posting{true};
    std::thread poster([&] {
        // The test thread does not use client_ until this thread is joined.
        for (int b = 0; b < kBodies; ++b) {
            const std::string name = "m/body-" + std::to_string(b);
            const warmup_time_ms now_ms = runtime_->clock().now_ms();
            std::string body;
            for (int i = kHistory - 1; i >= 0; --i)
                body += R"({"model":")" + name + R"(","ts_ms":)" + std::to_string(now_ms - 60'000 - i * 60'000) + "}\n";
            body += R"({"model":")" + name + "\"}\n";
            const auto reply = client_->Post("/api/warmup/events", body, "application/x-ndjson");
            EXPECT_TRUE(reply && reply->status == 200) << (reply ? reply->body : "no answer");
        }
        posting.store(false);
    });

    struct Seen {
        std::string model;
        uint64_t requests;
        double confidence;
    };
    const auto look = [&] {
        return runtime_->call_on_control([&](WarmupEngine& engine) {
            std::vector<Seen> seen;
            const warmup_time_ms now_ms = runtime_->clock().now_ms();
            for (warmup_model_index model = 0; model < engine.model_count(); ++model) {
                warmup_prediction prediction{};
                const double confidence = engine.predict_now(model, now_ms, prediction) ? -1 : prediction.confidence;
                seen.push_back(
                    {runtime_->catalog().record(model).name, engine.model_status(model).requests, confidence});
            }
            return seen;
        });
    };
    const double whole = (kHistory * 1.0) / (kHistory + 10.0);  // the history's gaps and the request's
    std::size_t looks = 0;
    bool last_look = false;
    while (!last_look) {
        last_look = !posting.load();  // one more look after the last post has been answered and drained
        if (last_look) drain();
        for (const Seen& model : look()) {
            SCOPED_TRACE(model.model);
            if (model.requests == 0) {
                EXPECT_EQ(model.confidence, 0.0) << "history without its request";
                EXPECT_FALSE(last_look) << "a body's request never arrived";
            } else {
                EXPECT_EQ(model.requests, 1u);
                EXPECT_DOUBLE_EQ(model.confidence, whole);
            }
        }
        ++looks;
        if (HasFailure()) break;  // one split is enough to tell
    }
    poster.join();
    EXPECT_EQ(counters().requests, static_cast<uint64_t>(kBodies));
    EXPECT_GT(looks, 1u);
}

TEST_F(IngestTest, AFullIngestQueueTakesTheBodysFirstEventsAndCountsEveryRefusedOne) {
    // Capacity 150 and a control loop held between two steps (a command that waits): nothing leaves the queue. A body
    // of 100 fits; of the next, the first 50 are queued and the last 50 refused; the next is refused whole. Every
    // event is counted once, accepted or refused, and the accepted ones reach the engines once the loop runs again.
    std::string config = config_text(0, 2, "", kKeepAlive10m);
    const std::string budgets = "max_concurrent_warmups: 2}";
    ASSERT_NE(config.find(budgets), std::string::npos);
    config.replace(config.find(budgets), budgets.size(), "max_concurrent_warmups: 2, ingest_queue_capacity: 150}");
    start(load_config_text(config, "capacity.yaml", dir_.path(), {}));

    // Holds the control loop in a command until released; released and joined on every exit from this test.
    struct Holder {
        std::promise<void> release;
        std::thread thread;
        bool released = false;
        void let_go() {
            if (!released) release.set_value();
            released = true;
            if (thread.joinable()) thread.join();
        }
        ~Holder() { let_go(); }
    } holder;
    std::promise<void> entered;
    std::shared_future<void> released = holder.release.get_future().share();
    holder.thread = std::thread([&] {
        runtime_->call_on_control([&](WarmupEngine&) {
            entered.set_value();
            released.wait();
            return 0;
        });
    });
    entered.get_future().wait();

    std::string body;
    for (int i = 0; i < 100; ++i) body += R"({"model":"m/full-)" + std::to_string(i % 5) + "\"}\n";
    const auto [first_status, first] = post("/api/warmup/events", body);
    EXPECT_EQ(first_status, 200) << first.dump();
    EXPECT_EQ(first["accepted"], 100);

    const auto [second_status, second] = post("/api/warmup/events", body);
    EXPECT_EQ(second_status, 503) << second.dump();
    EXPECT_EQ(second["accepted"], 50);
    ASSERT_EQ(second["rejected"].size(), 50u) << second.dump();
    for (std::size_t i = 0; i < 50; ++i) {
        EXPECT_EQ(second["rejected"][i]["line"], 51 + i);
        EXPECT_EQ(second["rejected"][i]["reason"], "ingest queue full, retry later");
    }

    const auto [third_status, third] = post("/api/warmup/events", body);
    EXPECT_EQ(third_status, 503) << third.dump();
    EXPECT_EQ(third["accepted"], 0);
    EXPECT_EQ(third["rejected"].size(), 100u);

    EXPECT_EQ(runtime_->accepted_events(), 150u);
    EXPECT_EQ(runtime_->refused_events(), 150u);
    EXPECT_EQ(runtime_->ingest_backlog(), 150u);

    holder.let_go();
    drain();
    EXPECT_EQ(counters().events, 150u);  // what was accepted, and only that, reached the engine
    const auto [status, answer] = get_json("/api/warmup/status");
    ASSERT_EQ(status, 200);
    EXPECT_EQ(answer["counters"]["events_accepted"], 150);
    EXPECT_EQ(answer["counters"]["events_refused"], 150);

    // Room again: the next body is taken whole.
    const auto [after_status, after] = post("/api/warmup/events", body);
    EXPECT_EQ(after_status, 200) << after.dump();
    EXPECT_EQ(after["accepted"], 100);
    EXPECT_EQ(runtime_->accepted_events(), 250u);
    EXPECT_EQ(runtime_->refused_events(), 150u);

    // A body larger than the whole queue can never be taken whole, however often it is retried: its refusal says so.
    drain();
    const std::string twice = body + body;
    const auto [large_status, large] = post("/api/warmup/events", twice);
    EXPECT_EQ(large_status, 503) << large.dump();
    EXPECT_EQ(large["accepted"], 150);
    EXPECT_EQ(large["retry_from"], 151);
    ASSERT_EQ(large["rejected"].size(), 50u) << large.dump();
    EXPECT_EQ(large["rejected"][0]["reason"],
              "the body holds 200 events, more than the ingest queue takes at once (budgets.ingest_queue_capacity: "
              "150): send the rest from retry_from, or smaller bodies");
}

}  // namespace
}  // namespace warmup::host
