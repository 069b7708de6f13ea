// scripts/timeline-ratio.py (docs/replay.md): each arm's ratio to the keep-alive curve over a part of a replay, read
// from report.json's timeline, on a report small enough to count by hand.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "test_support.hpp"

namespace warmup::test {
namespace {

// Four buckets of an hour. At 1024 MiB resident for an hour a bucket holds 1 GB·h: keep-alive 1 min holds 1 GB·h per
// bucket, keep-alive 20 min 3, the control arm 2.
const std::string kReport = R"({"arms": [
  {"name": "control", "frontier_curve": false, "timeline": [
    {"start_ms": 0, "width_ms": 3600000, "requests": 50, "cold_requests": 9, "mean_resident_mb": 2048},
    {"start_ms": 3600000, "width_ms": 3600000, "requests": 50, "cold_requests": 1, "mean_resident_mb": 2048},
    {"start_ms": 7200000, "width_ms": 3600000, "requests": 50, "cold_requests": 1, "mean_resident_mb": 2048},
    {"start_ms": 10800000, "width_ms": 3600000, "requests": 50, "cold_requests": 2, "mean_resident_mb": 2048}]},
  {"name": "keepalive-curve-1m", "frontier_curve": true, "frontier_ttl_ms": 60000, "timeline": [
    {"start_ms": 0, "width_ms": 3600000, "requests": 50, "cold_requests": 10, "mean_resident_mb": 1024},
    {"start_ms": 3600000, "width_ms": 3600000, "requests": 50, "cold_requests": 8, "mean_resident_mb": 1024},
    {"start_ms": 7200000, "width_ms": 3600000, "requests": 50, "cold_requests": 6, "mean_resident_mb": 1024},
    {"start_ms": 10800000, "width_ms": 3600000, "requests": 50, "cold_requests": 6, "mean_resident_mb": 1024}]},
  {"name": "keepalive-curve-20m", "frontier_curve": true, "frontier_ttl_ms": 1200000, "timeline": [
    {"start_ms": 0, "width_ms": 3600000, "requests": 50, "cold_requests": 4, "mean_resident_mb": 3072},
    {"start_ms": 3600000, "width_ms": 3600000, "requests": 50, "cold_requests": 2, "mean_resident_mb": 3072},
    {"start_ms": 7200000, "width_ms": 3600000, "requests": 50, "cold_requests": 2, "mean_resident_mb": 3072},
    {"start_ms": 10800000, "width_ms": 3600000, "requests": 50, "cold_requests": 2, "mean_resident_mb": 3072}]}
]})";

std::pair<int, std::string> run_ratio(const TempDir& dir, const std::string& arguments) {
    return run_repository_script(dir, "timeline-ratio.py", {}, arguments, std::chrono::milliseconds(30'000));
}

TEST(TimelineRatio, ReadsEachArmOverThePartAgainstTheCurveOverTheSamePart) {
    TempDir dir("warmup-timeline-ratio");
    const std::string report = "'" + dir.write("report.json", kReport).string() + "'";
    // Hours 2-4, one compulsory cold request: keep-alive 1 min 12 - 1 for 2 GB·h, 20 min 4 - 1 for 6; the control
    // arm 3 - 1 for 4 GB·h, where the curve leaves 7: 2 / 7.
    auto [code, output] = run_ratio(dir, report + " --from 2h --compulsory 1");
    ASSERT_EQ(code, 0) << output;
    EXPECT_NE(output.find("control                              2.0-4.0        3          2          4.0   0.286"
                          "                       0.667"),
              std::string::npos)
        << output;
    EXPECT_EQ(output.find("keepalive-curve"), std::string::npos) << output;  // the curve is the yardstick, not a row
    // The whole replay: 13 cold for 8 GB·h against the curve's 20 there.
    std::tie(code, output) = run_ratio(dir, report + " --from 0");
    ASSERT_EQ(code, 0) << output;
    EXPECT_NE(output.find("0.0-4.0       13         13          8.0   0.650"), std::string::npos) << output;
    // The first hour alone: 9 against the curve's 7 at 2 GB·h, worse than a timer.
    std::tie(code, output) = run_ratio(dir, report + " --from 0 --to 1h");
    ASSERT_EQ(code, 0) << output;
    EXPECT_NE(output.find("0.0-1.0        9          9          2.0   1.286"), std::string::npos) << output;
}

TEST(TimelineRatio, RefusesWhatItCannotRead) {
    TempDir dir("warmup-timeline-ratio");
    const std::string report = "'" + dir.write("report.json", kReport).string() + "'";
    auto [code, output] = run_ratio(dir, report + " --from soon");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("is not a time"), std::string::npos) << output;
    std::tie(code, output) = run_ratio(dir, report + " --from 5h");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("no timeline bucket of arm 'control' lies within the part"), std::string::npos) << output;
    const std::string no_curve =
        "'" + dir.write("no-curve.json", R"({"arms": [{"name": "control", "timeline": []}]})").string() + "'";
    std::tie(code, output) = run_ratio(dir, no_curve + " --from 0");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("has no keep-alive curve (replay with --frontier)"), std::string::npos) << output;
    std::tie(code, output) = run_ratio(dir, "'" + dir.write("text.json", "not json").string() + "' --from 0");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("is not a replay's report.json"), std::string::npos) << output;
}

}  // namespace
}  // namespace warmup::test
