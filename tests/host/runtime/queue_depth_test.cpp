// warmup_queue_depth on /metrics is the depth now: it follows the queue down as loads are taken from it and reads 0
// once the queue has drained (it used to keep the depth of the last enqueue, since taking a load from the queue
// recorded nothing). In process: a LiveRuntime with one warm-up worker and three slow demand loads.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <sstream>
#include <string>

#include "live_runtime_test_fixture.hpp"

namespace warmup::host {
namespace {

using test::config_text;
using test::OpsTest;
using test::poll_until;
using test::TempDir;

using namespace std::chrono_literals;

constexpr const char* kDepthSeries = R"(warmup_queue_depth{arm="control"})";

std::optional<double> metric_value(const std::string& text, const std::string& series) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    return std::nullopt;
}

class QueueDepthTest : public OpsTest {
  protected:
    warmup::test::TempDir dir_{"warmup-queue-depth"};
};

TEST_F(QueueDepthTest, TheGaugeIsTheDepthNowAndZeroOnceTheQueueHasDrained) {
    // slow/* loads take 60 s x 0.02 = 1.2 s; one worker: the first loads, the other two wait in the queue.
    start(load_config_text(
        config_text(0.02, 1, "", "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 600000}}"), "depth.yaml",
        dir_.path(), {}));
    const warmup_time_ms now_ms = runtime_->clock().now_ms();
    for (const char* model : {"slow/a", "slow/b", "slow/c"}) ingest(model, now_ms);
    drain();

    // While loads wait, the gauge and /api/warmup/status agree on how many.
    ASSERT_TRUE(warmup::test::poll_until(
        [&] { return get_json("/api/warmup/status").second.value("queue_depth", 0) >= 1; }, 10s));
    const auto waiting = metric_value(get_text("/metrics"), kDepthSeries);
    ASSERT_TRUE(waiting.has_value());
    EXPECT_GE(*waiting, 1.0);
    EXPECT_LE(*waiting, 2.0);

    // All three loaded: nothing is queued any more, and the gauge says so.
    ASSERT_TRUE(warmup::test::poll_until(
        [&] {
            return residency("slow/a") == WARMUP_RESIDENCY_READY && residency("slow/b") == WARMUP_RESIDENCY_READY &&
                   residency("slow/c") == WARMUP_RESIDENCY_READY;
        },
        20s));
    EXPECT_EQ(get_json("/api/warmup/status").second.value("queue_depth", -1), 0);
    const std::string metrics = get_text("/metrics");
    EXPECT_EQ(metric_value(metrics, kDepthSeries), 0.0) << metrics;
}

}  // namespace
}  // namespace warmup::host
