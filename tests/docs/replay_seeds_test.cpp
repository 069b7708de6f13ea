// scripts/replay-seeds.sh, the command behind docs/evaluation.md's figures over several seeds, run on the long-tail
// scenario (generated, no trace files needed) with its reports in a temporary folder, and checked against them.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace warmup::test {
namespace {

struct Row {
    std::vector<double> ratios;  ///< one per seed, in the order given
    double geomean = 0;
    int worse = 0, worse_of = 0;
    int p75_met = 0, p75_of = 0;
};

/// The script's table: `arm r1 r2 ... geomean G worse W/N p75 met M/N`, one arm per line after the header.
std::map<std::string, Row> rows_of(const std::string& output) {
    std::map<std::string, Row> rows;
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string arm, word;
        Row row;
        if (!(fields >> arm) || arm == "arm") continue;  // the header
        while (fields >> word && word != "geomean") row.ratios.push_back(std::stod(word));
        char slash = 0;
        std::string p75, met;
        if (word == "geomean" && fields >> row.geomean >> word >> row.worse >> slash >> row.worse_of >> p75 >> met >>
                                     row.p75_met >> slash >> row.p75_of)
            rows[arm] = row;
    }
    return rows;
}

/// Runs the script from a shell with the build's replay and a temporary report folder; returns exit code and output.
std::pair<int, std::string> run_seeds(const TempDir& dir, const std::string& arguments) {
    const auto script = dir.write("seeds.sh", "export WARMUP_REPLAY='" + std::string(WARMUP_TEST_BIN_DIR) +
                                                  "/warmup-replay'\nexport REPLAY_SEEDS_OUT='" +
                                                  (dir.path() / "out").string() + "'\nexec '" + WARMUP_TEST_SOURCE_DIR +
                                                  "/scripts/replay-seeds.sh' " + arguments + "\n");
    Daemon shell({script.string()}, Daemon::Capture::StdoutAndStderr, "/bin/bash");
    const auto status = shell.wait_exit(std::chrono::milliseconds(240'000));
    EXPECT_TRUE(status.has_value()) << "the script did not finish in 240 s:\n" << shell.log();
    if (!status) return {-1, shell.log()};
    EXPECT_TRUE(shell.wait_for_log_end(std::chrono::milliseconds(10'000)));
    return {status->code, shell.log()};
}

nlohmann::json arm_of(const nlohmann::json& report, const std::string& name) {
    for (const auto& arm : report.at("arms"))
        if (arm.at("name") == name) return arm;
    ADD_FAILURE() << "no arm " << name << " in the report";
    return nlohmann::json::object();
}

TEST(ReplaySeeds, SumsUpEachArmOverTheSeedsFromTheirReports) {
    TempDir dir("warmup-replay-seeds");
    const auto [code, output] = run_seeds(dir,
                                          "'3 4' configs/evaluation/synth-long-tail-1.5x.yaml "
                                          "synth:configs/scenarios/long-tail.yaml --arms control,gap-spread");
    ASSERT_EQ(code, 0) << output;
    const auto rows = rows_of(output);
    ASSERT_EQ(rows.size(), 2U) << "control and gap-spread only (the curve's arms have no ratio):\n" << output;
    std::map<std::string, std::vector<double>> ratios_by_seed;
    for (const int seed : {3, 4}) {
        std::ifstream file(dir.path() / "out" / ("seed-" + std::to_string(seed)) / "report.json");
        ASSERT_TRUE(file) << "no report for seed " << seed;
        const auto report = nlohmann::json::parse(file);
        EXPECT_EQ(report.at("seed"), seed);
        for (const auto& [name, row] : rows) {
            const auto arm = arm_of(report, name);
            ratios_by_seed[name].push_back(arm.at("keepalive_curve_ratio").get<double>());
            const bool met = arm.at("per_model_cold_rate_p75").get<double>() <=
                             arm.at("keepalive_curve_p75_cold_rate").get<double>();
            ratios_by_seed[name + "/met"].push_back(met ? 1 : 0);
        }
    }
    for (const auto& [name, row] : rows) {
        SCOPED_TRACE(name);
        const auto& ratios = ratios_by_seed.at(name);
        ASSERT_EQ(row.ratios.size(), 2U) << output;
        // Each seed's ratio as in its own report (printed to 3 decimals), their geometric mean, and the counts.
        for (std::size_t i = 0; i < 2; ++i) EXPECT_NEAR(row.ratios[i], ratios[i], 0.00051) << output;
        EXPECT_NEAR(row.geomean, std::sqrt(ratios[0] * ratios[1]), 0.00051) << output;
        EXPECT_EQ(row.worse, (ratios[0] > 1) + (ratios[1] > 1)) << output;
        EXPECT_EQ(row.worse_of, 2);
        const auto& met = ratios_by_seed.at(name + "/met");
        EXPECT_EQ(row.p75_met, static_cast<int>(met[0] + met[1])) << output;
        EXPECT_EQ(row.p75_of, 2);
    }
    // The seed reaches the scenario's draws: the two seeds are two different workloads.
    EXPECT_NE(ratios_by_seed.at("control")[0], ratios_by_seed.at("control")[1]) << output;
}

TEST(ReplaySeeds, RefusesASeedThatIsNotAWholeNumber) {
    TempDir dir("warmup-replay-seeds");
    const auto [code, output] =
        run_seeds(dir, "'1 two' configs/evaluation/synth-long-tail-1.5x.yaml synth:configs/scenarios/long-tail.yaml");
    EXPECT_EQ(code, 2) << output;
    EXPECT_NE(output.find("'two' is not a seed"), std::string::npos) << output;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "out" / "seed-1")) << "refused before replaying anything";
}

}  // namespace
}  // namespace warmup::test
