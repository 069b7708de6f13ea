// history_answer() over a metrics history written by MetricsHistory itself: both ends of the window are included,
// and a window of more than kMaxHistorySamples samples is thinned to every k-th, the newest kept, no count lost.
#include "http/history_endpoint.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>

#include "runtime/state/metrics_history.hpp"
#include "test_support.hpp"

namespace warmup::host {
namespace {

constexpr int64_t kStartMs = 1'790'000'000'000;  // 2026-09-21, any fixed time
constexpr int64_t kIntervalMs = 60'000;

std::multimap<std::string, std::string> window(int64_t since_ms, int64_t until_ms) {
    return {{"since_ms", std::to_string(since_ms)}, {"until_ms", std::to_string(until_ms)}};
}

TEST(HistoryEndpoint, ListsTheSamplesOfTheWindowWithBothEndsIncluded) {
    test::TempDir dir("warmup-history-endpoint");
    MetricsHistory history(dir.path(), int64_t{24} * 3600 * 1000);
    for (int i = 0; i < 10; ++i)
        history.append(kStartMs + i * kIntervalMs, {{"requests", 10.0 * i}, {"cold_requests", 1.0 * i}});
    const HistoryAnswer answer =
        history_answer(&history, window(kStartMs + 2 * kIntervalMs, kStartMs + 4 * kIntervalMs), 0);
    ASSERT_EQ(answer.status, 200);
    const auto& samples = answer.body["samples"];
    ASSERT_EQ(samples.size(), 3u) << answer.body.dump(2);
    EXPECT_EQ(samples[0]["t_ms"], kStartMs + 2 * kIntervalMs);
    EXPECT_EQ(samples[0]["requests"], 20);
    EXPECT_EQ(samples[2]["t_ms"], kStartMs + 4 * kIntervalMs);
    EXPECT_EQ(samples[2]["cold_requests"], 4);
    EXPECT_EQ(answer.body["counters"], nlohmann::json({"requests", "cold_requests"}));
    // The sample before the window, what its first sample changed from.
    EXPECT_EQ(answer.body["before"],
              (nlohmann::json{{"t_ms", kStartMs + kIntervalMs}, {"requests", 10}, {"cold_requests", 1}}));
    // Before the first sample there is none; samples hours older are found.
    EXPECT_TRUE(history_answer(&history, window(kStartMs, kStartMs + kIntervalMs), 0).body["before"].is_null());
    history.append(kStartMs + 5 * 3'600'000, {{"requests", 500.0}, {"cold_requests", 50.0}});
    const HistoryAnswer later = history_answer(&history, window(kStartMs + 5 * 3'600'000, kStartMs + 6 * 3'600'000), 0);
    EXPECT_EQ(later.body["before"]["t_ms"], kStartMs + 9 * kIntervalMs);
    EXPECT_EQ(later.body["before"]["requests"], 90);
}

TEST(HistoryEndpoint, ALongWindowIsThinnedKeepingTheNewestSample) {
    test::TempDir dir("warmup-history-thinned");
    MetricsHistory history(dir.path(), int64_t{24 * 30} * 3600 * 1000);
    const int count = static_cast<int>(2 * kMaxHistorySamples + 1);  // thinned to every 3rd
    for (int i = 0; i < count; ++i) history.append(kStartMs + i * kIntervalMs, {{"cold_requests", 1.0 * i}});
    const int64_t newest_ms = kStartMs + (count - 1) * kIntervalMs;
    const HistoryAnswer answer = history_answer(&history, window(kStartMs, newest_ms), 0);
    ASSERT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body["thinned_to_every"], 3);
    const auto& samples = answer.body["samples"];
    // 10,001 samples, every 3rd counted from the newest (index 10,000, 9,997, ..., 1): 3,334.
    ASSERT_EQ(samples.size(), 3334u);
    EXPECT_LE(samples.size(), kMaxHistorySamples);
    EXPECT_EQ(samples.back()["t_ms"], newest_ms);
    EXPECT_EQ(samples.back()["cold_requests"], count - 1);  // cumulative: the newest still says everything
    EXPECT_EQ(samples[samples.size() - 2]["t_ms"], newest_ms - 3 * kIntervalMs);
}

TEST(HistoryEndpoint, WithoutAHistoryItSaysSo) {
    const HistoryAnswer answer = history_answer(nullptr, {}, kStartMs);
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body["enabled"], false);
    EXPECT_EQ(answer.body["until_ms"], kStartMs);
    EXPECT_EQ(answer.body["since_ms"], kStartMs - kDefaultHistoryWindowMs);
}

}  // namespace
}  // namespace warmup::host
