// scripts/replay-seeds.sh, the command behind docs/evaluation.md's figures over several seeds, run on the
// enterprise-batch scenario (generated, no trace files needed) with its reports in a temporary folder, and checked
// against them. Greedy-Dual fills the budget and is worse than a timer there, so the counts are not all zero.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
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
        try {
            while (fields >> word && word != "geomean") row.ratios.push_back(std::stod(word));
        } catch (const std::exception&) {
            continue;  // not a row of the table (a message of the replay)
        }
        char slash = 0;
        std::string p75, met;
        if (word == "geomean" && fields >> row.geomean >> word >> row.worse >> slash >> row.worse_of >> p75 >> met >>
                                     row.p75_met >> slash >> row.p75_of)
            rows[arm] = row;
    }
    return rows;
}

/// Runs the script with the build's replay and a temporary report folder; returns exit code and output.
std::pair<int, std::string> run_seeds(const TempDir& dir, const std::string& arguments) {
    return run_repository_script(dir, "replay-seeds.sh", {"REPLAY_SEEDS_OUT=" + (dir.path() / "out").string()},
                                 arguments, std::chrono::milliseconds(240'000));
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
                                          "'3 4' configs/evaluation/synth-enterprise-batch-1.5x.yaml "
                                          "synth:configs/scenarios/enterprise-batch.yaml --arms control,greedy-dual");
    ASSERT_EQ(code, 0) << output;
    const auto rows = rows_of(output);
    ASSERT_EQ(rows.size(), 2U) << "control and greedy-dual only (the curve's own arms are left out):\n" << output;
    std::map<std::string, std::vector<double>> ratios_by_seed;
    for (const int seed : {3, 4}) {
        std::ifstream file(dir.path() / "out" / ("seed-" + std::to_string(seed)) / "report.json");
        ASSERT_TRUE(file) << "no report for seed " << seed;
        const auto report = nlohmann::json::parse(file);
        EXPECT_EQ(report.at("seed"), seed);
        for (const auto& [name, row] : rows) {
            const auto arm = arm_of(report, name);
            ratios_by_seed[name].push_back(arm.at("keepalive_curve_ratio").get<double>());
            // At or under the curve's (a tie counts as met).
            const bool met = arm.at("per_model_cold_rate_p75").get<double>() <=
                             arm.at("keepalive_curve_p75_cold_rate").get<double>() + 1e-12;
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
    // Not all zero: the default beats a timer on both seeds, Greedy-Dual (the whole budget) on neither.
    EXPECT_EQ(rows.at("control").worse, 0) << output;
    EXPECT_EQ(rows.at("greedy-dual").worse, 2) << output;
    // The seed reaches the scenario's draws: the two seeds are two different workloads.
    EXPECT_NE(ratios_by_seed.at("control")[0], ratios_by_seed.at("control")[1]) << output;
}

TEST(ReplaySeeds, RefusesBadSeedsAndItsOwnOptionsBeforeReplayingAnything) {
    TempDir dir("warmup-replay-seeds");
    const std::string scenario = " configs/evaluation/synth-long-tail-1.5x.yaml synth:configs/scenarios/long-tail.yaml";
    const std::pair<std::string, std::string> cases[] = {
        {"'1 two'" + scenario, "'two' is not a seed"},
        {"'1 *'" + scenario, "'*' is not a seed"},
        {"'1 2 1'" + scenario, "seed 1 is given twice"},
        {"'1'" + scenario + " --seed 7", "'--seed' is the script's own"},
        {"'1'" + scenario + " --out=elsewhere", "'--out=elsewhere' is the script's own"},
    };
    for (const auto& [arguments, message] : cases) {
        const auto [code, output] = run_seeds(dir, arguments);
        EXPECT_EQ(code, 2) << arguments << "\n" << output;
        EXPECT_NE(output.find(message), std::string::npos) << arguments << "\n" << output;
    }
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "out")) << "refused before replaying anything";
}

}  // namespace
}  // namespace warmup::test
