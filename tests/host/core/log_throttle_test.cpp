// LogThrottle (host/core/log_throttle.hpp): one line per interval, and the next line counts the ones left out.
#include "core/log_throttle.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace warmup::host {
namespace {

TEST(LogThrottle, TheFirstLineOfEachIntervalGoesThroughAndCountsTheOthers) {
    LogThrottle throttle(10'000);
    uint64_t left_out = 99;
    ASSERT_TRUE(throttle.admit(1'000, left_out));
    EXPECT_EQ(left_out, 0u);
    EXPECT_EQ(left_out_note(left_out), "");
    for (int64_t t = 1'000; t < 11'000; t += 100) EXPECT_FALSE(throttle.admit(t, left_out)) << t;
    ASSERT_TRUE(throttle.admit(11'000, left_out));  // one interval after the last line
    EXPECT_EQ(left_out, 100u);
    EXPECT_EQ(left_out_note(left_out), " (100 more like it since the previous line, not logged)");
    EXPECT_FALSE(throttle.admit(20'999, left_out));
    ASSERT_TRUE(throttle.admit(60'000, left_out));  // a quiet spell: the next line goes through at once
    EXPECT_EQ(left_out, 1u);
}

TEST(LogThrottle, ConcurrentCallersLoseNoCount) {
    LogThrottle throttle(1'000'000);
    uint64_t first = 0;
    ASSERT_TRUE(throttle.admit(0, first));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&throttle] {
            uint64_t ignored = 0;
            for (int i = 0; i < 10'000; ++i) EXPECT_FALSE(throttle.admit(1, ignored));
        });
    for (auto& thread : threads) thread.join();
    uint64_t left_out = 0;
    ASSERT_TRUE(throttle.admit(1'000'000, left_out));
    EXPECT_EQ(left_out, 40'000u);
}

}  // namespace
}  // namespace warmup::host
