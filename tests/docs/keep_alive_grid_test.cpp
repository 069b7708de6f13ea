// scripts/keep-alive-grid.sh, the command behind docs/evaluation.md's figures for timers between the keep-alive curve's
// points, run on the long-tail scenario (generated, no trace files needed) with its report in a temporary folder.
#include <gtest/gtest.h>

#include <chrono>
#include <iterator>
#include <map>
#include <sstream>
#include <string>

#include "test_support.hpp"

namespace warmup::test {
namespace {

struct Row {
    double loaded_gb_h = 0;
    long avoidable = 0;
    std::string ratio;      ///< "n/a" for the curve's own points
    double p75 = 0;         ///< %
    std::string curve_p75;  ///< %, "n/a" for the curve's own points
};

/// The script's table: arm, loaded GB·h, avoidable, ratio, p75 %, curve p75, one arm per line after the header.
std::map<std::string, Row> rows_of(const std::string& output) {
    std::map<std::string, Row> rows;
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string arm;
        Row row;
        if (fields >> arm >> row.loaded_gb_h >> row.avoidable >> row.ratio >> row.p75 >> row.curve_p75) rows[arm] = row;
    }
    return rows;
}

/// Runs the script with the build's replay and a temporary report folder; returns exit code and output.
std::pair<int, std::string> run_grid(const TempDir& dir, const std::string& arguments) {
    return run_repository_script(dir, "keep-alive-grid.sh", {"KEEP_ALIVE_GRID_OUT=" + (dir.path() / "out").string()},
                                 arguments, std::chrono::milliseconds(120'000));
}

TEST(KeepAliveGrid, PlacesTimersBetweenTheCurvesPointsBesideTheDefault) {
    TempDir dir("warmup-keep-alive-grid");
    const auto [code, output] =
        run_grid(dir, "configs/evaluation/synth-long-tail-1.5x.yaml '3 4.5' synth:configs/scenarios/long-tail.yaml");
    ASSERT_EQ(code, 0) << output;
    const auto rows = rows_of(output);
    for (const char* arm : {"control", "keepalive-3m", "keepalive-4.5m", "keepalive-curve-2m", "keepalive-curve-5m"})
        ASSERT_EQ(rows.count(arm), 1U) << arm << " missing from:\n" << output;
    // A timer between two of the curve's keeps holds memory between theirs, and leaves avoidable cold requests
    // between theirs: longer keeps hold more and leave fewer.
    const char* by_keep[] = {"keepalive-curve-2m", "keepalive-3m", "keepalive-4.5m", "keepalive-curve-5m"};
    for (std::size_t i = 1; i < std::size(by_keep); ++i) {
        const Row& shorter = rows.at(by_keep[i - 1]);
        const Row& longer = rows.at(by_keep[i]);
        EXPECT_LT(shorter.loaded_gb_h, longer.loaded_gb_h) << by_keep[i - 1] << " / " << by_keep[i];
        EXPECT_GT(shorter.avoidable, longer.avoidable) << by_keep[i - 1] << " / " << by_keep[i];
    }
    const Row& two = rows.at("keepalive-curve-2m");
    const Row& three = rows.at("keepalive-3m");
    const Row& five = rows.at("keepalive-curve-5m");
    // The curve's own points have no ratio; every other arm has one, and the curve's p75 at its memory, which for a
    // timer between two points lies between theirs.
    EXPECT_EQ(two.ratio, "n/a");
    EXPECT_NE(three.ratio, "n/a");
    EXPECT_LT(std::stod(rows.at("control").ratio), 1.0) << output;
    EXPECT_LE(std::stod(three.curve_p75), two.p75) << output;
    EXPECT_GE(std::stod(three.curve_p75), five.p75) << output;
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "out" / "report.json")) << output;

    // The closing line: the default against the two timers whose memory brackets its own, linearly between them.
    // Here those are the 3- and 4.5-minute timers (the default holds a little less than a 4.5-minute timer's memory on
    // long-tail).
    const Row& control = rows.at("control");
    const Row& upper = rows.at("keepalive-4.5m");
    ASSERT_LT(three.loaded_gb_h, control.loaded_gb_h) << output;
    ASSERT_LT(control.loaded_gb_h, upper.loaded_gb_h) << output;
    const std::string lead = "control against the timers beside its memory (keepalive-3m, keepalive-4.5m): ";
    const auto at = output.find(lead);
    ASSERT_NE(at, std::string::npos) << output;
    const double share = (control.loaded_gb_h - three.loaded_gb_h) / (upper.loaded_gb_h - three.loaded_gb_h);
    const double timers_avoidable =
        static_cast<double>(three.avoidable) + share * static_cast<double>(upper.avoidable - three.avoidable);
    EXPECT_NEAR(std::stod(output.substr(at + lead.size())), static_cast<double>(control.avoidable) / timers_avoidable,
                0.0006)
        << output;
}

TEST(KeepAliveGrid, BracketsTheDefaultWithTheCurvesPointsWhenTheKeepsGivenDoNot) {
    TempDir dir("warmup-keep-alive-grid");
    // One timer, holding less than the default: the curve's own 2- and 5-minute points bracket it.
    const auto [code, output] =
        run_grid(dir, "configs/evaluation/synth-long-tail-1.5x.yaml 1.5 synth:configs/scenarios/long-tail.yaml");
    ASSERT_EQ(code, 0) << output;
    EXPECT_NE(output.find("(keepalive-curve-2m, keepalive-curve-5m)"), std::string::npos) << output;
}

TEST(KeepAliveGrid, RefusesAKeepThatIsNotANumberOfMinutes) {
    TempDir dir("warmup-keep-alive-grid");
    const auto [code, output] =
        run_grid(dir, "configs/evaluation/synth-long-tail-1.5x.yaml '3 soon' synth:configs/scenarios/long-tail.yaml");
    EXPECT_EQ(code, 2) << output;
    EXPECT_NE(output.find("'soon' is not a keep in minutes"), std::string::npos) << output;
    // Under a millisecond: refused too, not turned into a keep of 0.
    const auto [tiny_code, tiny_output] =
        run_grid(dir, "configs/evaluation/synth-long-tail-1.5x.yaml 0.00001 synth:configs/scenarios/long-tail.yaml");
    EXPECT_EQ(tiny_code, 2) << tiny_output;
    EXPECT_NE(tiny_output.find("'0.00001' is not a keep in minutes"), std::string::npos) << tiny_output;
}

}  // namespace
}  // namespace warmup::test
