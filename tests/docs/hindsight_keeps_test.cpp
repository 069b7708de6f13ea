// scripts/hindsight-keeps.py, the command behind docs/evaluation.md's hindsight bounds, run on the event stream of the
// long-tail scenario (generated, no trace files needed), and checked against the replay's own keep-alive curve.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace warmup::test {
namespace {

const std::string kConfig = std::string(WARMUP_TEST_SOURCE_DIR) + "/configs/evaluation/synth-long-tail-1.5x.yaml";
const std::string kTrace = "synth:" + std::string(WARMUP_TEST_SOURCE_DIR) + "/configs/scenarios/long-tail.yaml";

struct Timer {
    double loaded_gb_h = 0;
    double avoidable = 0;
};

/// A line "<who> at keep-alive N min's: R at M of its memory, p75 P % (curve's B %)".
struct Bound {
    double ratio = 0, memory_share = 0, p75 = 0, curve_p75 = 0;
};

/// Replays the control arm with the frontier, dumping the events; returns the report.
nlohmann::json replay_with_dump(const TempDir& dir) {
    Daemon replay({"--config", kConfig, "--trace", kTrace, "--arms", "control", "--frontier", "--quiet", "--out",
                   (dir.path() / "out").string(), "--dump-events", (dir.path() / "events.csv").string()},
                  Daemon::Capture::StdoutAndStderr, "warmup-replay");
    const auto status = replay.wait_exit(std::chrono::milliseconds(120'000));
    EXPECT_TRUE(status && status->code == 0) << replay.log();
    std::ifstream file(dir.path() / "out" / "report.json");
    return nlohmann::json::parse(file);
}

std::pair<int, std::string> run_hindsight(const TempDir& dir, const std::string& arguments) {
    return run_repository_script(dir, "hindsight-keeps.py", {}, arguments, std::chrono::milliseconds(120'000));
}

TEST(HindsightKeeps, TimersMatchTheReplaysCurveAndPerModelKeepsBeatThem) {
    TempDir dir("warmup-hindsight-keeps");
    const nlohmann::json report = replay_with_dump(dir);
    const auto [code, output] = run_hindsight(dir, "'" + kConfig + "' '" + (dir.path() / "events.csv").string() + "'");
    ASSERT_EQ(code, 0) << output;

    // The timers' table: "<T>m GB·h avoidable p75", against the replay's keepalive-curve-<T>m arms.
    std::map<std::string, Timer> timers;
    const std::regex timer_line(R"(^\s*(\d+)m\s+([\d.]+)\s+(\d+)\s+[\d.]+\s*$)");
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        std::smatch m;
        if (std::regex_match(line, m, timer_line))
            timers["keepalive-curve-" + m[1].str() + "m"] = {std::stod(m[2]), std::stod(m[3])};
    }
    ASSERT_EQ(timers.size(), 9U) << output;
    int compared = 0;
    for (const auto& arm : report.at("arms")) {
        const auto name = arm.at("name").get<std::string>();
        // Up to 20 minutes, where the bounds are read: the replay's longer timers fill the memory budget here and are
        // evicted, which the script does not model.
        if (!timers.contains(name) || arm.at("frontier_ttl_ms").get<double>() > 20 * 60'000) continue;
        ++compared;
        const Timer& mine = timers.at(name);
        // The script models a timer without the replay's queueing: within 2 % of the replay's memory and cold requests.
        EXPECT_NEAR(mine.loaded_gb_h, arm.at("loaded_gb_h").get<double>(), 0.02 * arm.at("loaded_gb_h").get<double>())
            << name << "\n"
            << output;
        const auto avoidable = arm.at("avoidable_cold_requests").get<double>();
        EXPECT_NEAR(mine.avoidable, avoidable, 0.02 * avoidable + 2) << name << "\n" << output;
    }
    EXPECT_EQ(compared, 5) << output;
    EXPECT_NE(output.find(std::to_string(report.at("compulsory_cold_requests").get<long>()) + " compulsory"),
              std::string::npos)
        << output;

    // The bounds, three memories each. Per-model keeps include every uniform keep, so with hindsight they never do
    // worse than the timers at their memory; with the p75 condition their p75 is under the curve's.
    const std::regex bound_line(
        R"(^\s*(per-model keeps|with the p75 condition) at keep-alive (\d+) min's: ([\d.]+) at ([\d.]+) of its memory, )"
        R"(p75 ([\d.]+) % \(curve's ([\d.]+) %\)$)");
    std::map<std::string, Bound> bounds;
    std::istringstream again(output);
    while (std::getline(again, line)) {
        std::smatch m;
        if (std::regex_match(line, m, bound_line))
            bounds[m[1].str() + " " + m[2].str()] = {std::stod(m[3]), std::stod(m[4]), std::stod(m[5]),
                                                     std::stod(m[6])};
    }
    ASSERT_EQ(bounds.size(), 6U) << output;
    for (const auto& [which, bound] : bounds) {
        EXPECT_LE(bound.ratio, 1.0 + 1e-9) << which << "\n" << output;
        EXPECT_GT(bound.ratio, 0.0) << which << "\n" << output;
        EXPECT_LE(bound.memory_share, 1.0005) << which << "\n" << output;
        if (which.starts_with("with")) {
            EXPECT_LE(bound.p75, bound.curve_p75 + 1e-9) << which << "\n" << output;
        }
    }
}

TEST(HindsightKeepsInput, RefusesFilesThatAreNotADumpAndModelsOutsideTheCatalog) {
    TempDir dir("warmup-hindsight-keeps");
    const auto not_dump = dir.write("not-a-dump.csv", "time,model\n1,a\n");
    auto [code, output] = run_hindsight(dir, "'" + kConfig + "' '" + not_dump.string() + "'");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("is not a --dump-events file"), std::string::npos) << output;

    // long-tail's catalog covers its own models only.
    const auto stranger = dir.write("stranger.csv", "ts_ms,model,count,tenant\n1000,nobody/knows,1,\n");
    std::tie(code, output) = run_hindsight(dir, "'" + kConfig + "' '" + stranger.string() + "'");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("model 'nobody/knows' is not in the catalog"), std::string::npos) << output;

    std::tie(code, output) = run_hindsight(dir, "'" + kConfig + "' '" + stranger.string() + "' --at 'soon'");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("is not a list of keeps in minutes"), std::string::npos) << output;
}

}  // namespace
}  // namespace warmup::test
