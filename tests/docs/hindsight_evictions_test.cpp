// scripts/hindsight-evictions.py, the command behind docs/evaluation.md's eviction orders chosen with hindsight: on a
// fleet counted by hand, and on the event stream of the long-tail scenario at 1x A95 (generated, no trace files
// needed) against the replay's own LRU arm.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>

#include "test_support.hpp"

namespace warmup::test {
namespace {

const std::string kConfig = std::string(WARMUP_TEST_SOURCE_DIR) + "/configs/evaluation/synth-long-tail-1x.yaml";
const std::string kTrace = "synth:" + std::string(WARMUP_TEST_SOURCE_DIR) + "/configs/scenarios/long-tail.yaml";

std::pair<int, std::string> run_hindsight(const TempDir& dir, const std::string& arguments) {
    return run_repository_script(dir, "hindsight-evictions.py", {}, arguments, std::chrono::milliseconds(120'000));
}

/// The avoidable cold requests of an order's row ("<order> <avoidable> <of LRU> <evictions> <over budget>"), -1 if
/// the output has no such row.
long avoidable_of(const std::string& output, const std::string& order) {
    const std::regex row("^" + order + R"(\s+(\d+)\s+[\d.]+\s+\d+\s+\d+\s*$)");
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        std::smatch m;
        if (std::regex_match(line, m, row)) return std::stol(m[1]);
    }
    return -1;
}

// Three models of 100 MiB, room for two, a 15 s load. a, b and c arrive in turn every 100 s, twice; b's second
// arrival wakes with 10 requests (1, then 9 a second later, inside its load time), the others with 1.
// - LRU: c at 200 s evicts a; a at 300 s (1 cold) evicts b; b at 400 s (10) evicts c; c at 500 s (1): 12 avoidable,
//   4 evictions.
// - Furthest next use: c evicts b (next at 400 s, a's at 300 s); a is warm; b (10) evicts a (never again); c is warm:
//   10 avoidable, 2 evictions.
// - Next use per cost: at 200 s a frees 100 s x 100 MiB per 1 x 15 s of cold requests, b 200 s per 10: a goes; a (1)
//   evicts c (200 s per 1, against b's 100 s per 10); b is warm; c (1) evicts a or b, neither used again: 2
//   avoidable, 3 evictions.
// - Idle per next cost: at 200 s a has been idle 200 s per 1 request next, b 100 s per 10: a goes; a (1) evicts c
//   (idle 100 s per 1, against b's 200 s per 10); b is warm; c (1) evicts a (never used again, as b, and idle
//   longer): 2 avoidable, 3 evictions.
TEST(HindsightEvictions, OrdersAFleetCountedByHand) {
    TempDir dir("warmup-hindsight-evictions");
    const auto config = dir.write("catalog.yaml", "catalog:\n  - {model: \"*\", memory_mb: 100, load_ms: 15000}\n");
    const auto events = dir.write("events.csv",
                                  "ts_ms,model,count,tenant\n"
                                  "0,a,1,\n100000,b,1,\n200000,c,1,\n300000,a,1,\n400000,b,1,\n401000,b,9,\n"
                                  "500000,c,1,\n");
    const auto [code, output] =
        run_hindsight(dir, "'" + config.string() + "' '" + events.string() + "' --budget-mb 200");
    ASSERT_EQ(code, 0) << output;
    EXPECT_NE(output.find("3 models, 15 requests, 3 compulsory cold requests, budget 200 MiB"), std::string::npos)
        << output;
    const std::regex lru(R"((^|\n)lru\s+12\s+1\.000\s+4\s+0\s*\n)");
    const std::regex furthest(R"((^|\n)furthest next use\s+10\s+0\.833\s+2\s+0\s*\n)");
    const std::regex per_cost(R"((^|\n)next use per cost\s+2\s+0\.167\s+3\s+0\s*(\n|$))");
    EXPECT_TRUE(std::regex_search(output, lru)) << output;
    EXPECT_TRUE(std::regex_search(output, furthest)) << output;
    EXPECT_TRUE(std::regex_search(output, per_cost)) << output;
    const std::regex idle_per_cost(R"((^|\n)idle per next cost\s+2\s+0\.167\s+3\s+0\s*(\n|$))");
    EXPECT_TRUE(std::regex_search(output, idle_per_cost)) << output;

    // Room for one: every arrival but a model's first is cold under any order, and no order can differ.
    const auto [one_code, one_output] =
        run_hindsight(dir, "'" + config.string() + "' '" + events.string() + "' --budget-mb 100");
    ASSERT_EQ(one_code, 0) << one_output;
    EXPECT_EQ(avoidable_of(one_output, "lru"), 12) << one_output;
    EXPECT_EQ(avoidable_of(one_output, "furthest next use"), 12) << one_output;
    EXPECT_EQ(avoidable_of(one_output, "next use per cost"), 12) << one_output;
    EXPECT_EQ(avoidable_of(one_output, "idle per next cost"), 12) << one_output;
}

// Room for two of three 100 MiB models: a at 0, b at 200 s, c at 300 s, a again at 320 s (1 request), b again at 900 s
// (5 requests in one event). When c comes, a has been idle 300 s and comes back in 20 s, b idle 100 s and comes back
// in 600 s with five times the requests.
// - LRU: c evicts a; a (1 cold) evicts b; b (5) evicts c: 6 avoidable, 3 evictions.
// - Furthest next use and next use per cost: c evicts b (600 s away, 600 s per 5 against a's 20 s per 1); a is warm;
//   b (5) evicts c (never used again, as a, and idle longer): 5 avoidable, 2 evictions.
// - Idle per next cost: c evicts a (300 s idle per 1 request against b's 100 s per 5); a (1) evicts c (never used
//   again; loaded at 300 s, it is ready by then); b is warm: 1 avoidable, 2 evictions. Knowing which wake-up is big
//   beats knowing which comes first here.
TEST(HindsightEvictions, KnowingTheNextWakeUpsSizeAloneCanBeatKnowingWhenItComes) {
    TempDir dir("warmup-hindsight-evictions-size");
    const auto config = dir.write("catalog.yaml", "catalog:\n  - {model: \"*\", memory_mb: 100, load_ms: 15000}\n");
    const auto events = dir.write("events.csv",
                                  "ts_ms,model,count,tenant\n"
                                  "0,a,1,\n200000,b,1,\n300000,c,1,\n320000,a,1,\n900000,b,5,\n");
    const auto [code, output] =
        run_hindsight(dir, "'" + config.string() + "' '" + events.string() + "' --budget-mb 200");
    ASSERT_EQ(code, 0) << output;
    EXPECT_NE(output.find("3 models, 9 requests, 3 compulsory cold requests, budget 200 MiB"), std::string::npos)
        << output;
    EXPECT_EQ(avoidable_of(output, "lru"), 6) << output;
    EXPECT_EQ(avoidable_of(output, "furthest next use"), 5) << output;
    EXPECT_EQ(avoidable_of(output, "next use per cost"), 5) << output;
    EXPECT_EQ(avoidable_of(output, "idle per next cost"), 1) << output;

    // A model that loads in no time (load_ms: 0) makes no request wait: its wake-ups cost nothing, and the orders that
    // weigh a wake-up's cost evict it first instead of dividing by its zero cost.
    const auto instant = dir.write("instant.yaml",
                                   "catalog:\n  - {model: a, memory_mb: 100, load_ms: 0}\n"
                                   "  - {model: \"*\", memory_mb: 100, load_ms: 15000}\n");
    const auto [instant_code, instant_output] =
        run_hindsight(dir, "'" + instant.string() + "' '" + events.string() + "' --budget-mb 200");
    ASSERT_EQ(instant_code, 0) << instant_output;
    EXPECT_NE(instant_output.find("3 models, 9 requests, 2 compulsory cold requests"), std::string::npos)
        << instant_output;
    // c evicts a (no cost); a comes back, loading in no time (0 cold), and evicts c (never used again); b is warm.
    EXPECT_EQ(avoidable_of(instant_output, "next use per cost"), 0) << instant_output;
    EXPECT_EQ(avoidable_of(instant_output, "idle per next cost"), 0) << instant_output;
}

// The script's LRU is the replay's lru arm without its queueing: on long-tail at 1x A95 within 1 % of it. The orders
// that know the future leave fewer.
TEST(HindsightEvictions, LruMatchesTheReplaysLruArmAndHindsightLeavesFewer) {
    TempDir dir("warmup-hindsight-evictions");
    Daemon replay({"--config", kConfig, "--trace", kTrace, "--arms", "lru", "--quiet", "--out",
                   (dir.path() / "out").string(), "--dump-events", (dir.path() / "events.csv").string()},
                  Daemon::Capture::StdoutAndStderr, "warmup-replay");
    const auto status = replay.wait_exit(std::chrono::milliseconds(120'000));
    ASSERT_TRUE(status && status->code == 0) << replay.log();
    std::ifstream file(dir.path() / "out" / "report.json");
    const nlohmann::json report = nlohmann::json::parse(file);
    long replay_lru = -1;
    for (const auto& arm : report.at("arms"))
        if (arm.at("name") == "lru") replay_lru = arm.at("avoidable_cold_requests").get<long>();
    ASSERT_GT(replay_lru, 0) << report.dump();

    const auto [code, output] =
        run_hindsight(dir, "'" + kConfig + "' '" + (dir.path() / "events.csv").string() + "' --report '" +
                               (dir.path() / "out" / "report.json").string() + "'");
    ASSERT_EQ(code, 0) << output;
    EXPECT_NE(output.find(std::to_string(report.at("compulsory_cold_requests").get<long>()) + " compulsory"),
              std::string::npos)
        << output;
    const long lru = avoidable_of(output, "lru");
    EXPECT_NEAR(lru, replay_lru, 0.01 * replay_lru + 2) << output;
    const long furthest = avoidable_of(output, "furthest next use");
    const long per_cost = avoidable_of(output, "next use per cost");
    EXPECT_GT(furthest, 0) << output;
    EXPECT_LT(furthest, lru) << output;
    EXPECT_GT(per_cost, 0) << output;
    EXPECT_LT(per_cost, lru) << output;
}

TEST(HindsightEvictionsInput, RefusesWhatIsNotADumpABudgetOrAReport) {
    TempDir dir("warmup-hindsight-evictions");
    const auto config = dir.write("catalog.yaml", "catalog:\n  - {model: \"a*\", memory_mb: 100, load_ms: 15000}\n");
    const auto events = dir.write("events.csv", "ts_ms,model,count,tenant\n0,a1,1,\n");
    const auto not_dump = dir.write("not-a-dump.csv", "time,model\n1,a\n");
    auto [code, output] = run_hindsight(dir, "'" + config.string() + "' '" + not_dump.string() + "' --budget-mb 100");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("is not a --dump-events file"), std::string::npos) << output;

    const auto stranger = dir.write("stranger.csv", "ts_ms,model,count,tenant\n1000,nobody/knows,1,\n");
    std::tie(code, output) =
        run_hindsight(dir, "'" + config.string() + "' '" + stranger.string() + "' --budget-mb 100");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("model 'nobody/knows' is not in the catalog"), std::string::npos) << output;

    std::tie(code, output) = run_hindsight(dir, "'" + config.string() + "' '" + events.string() + "' --budget-mb 0");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("--budget-mb 0 is not a budget"), std::string::npos) << output;

    std::tie(code, output) =
        run_hindsight(dir, "'" + config.string() + "' '" + events.string() + "' --report '" + events.string() + "'");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("is not a warmup-replay report.json with a budget_mb"), std::string::npos) << output;

    // One of the two is required.
    std::tie(code, output) = run_hindsight(dir, "'" + config.string() + "' '" + events.string() + "'");
    EXPECT_NE(code, 0) << output;
    EXPECT_NE(output.find("one of the arguments --budget-mb --report is required"), std::string::npos) << output;
}

}  // namespace
}  // namespace warmup::test
