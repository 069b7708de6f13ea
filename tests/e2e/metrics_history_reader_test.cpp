// The metrics history read back: GET /api/warmup/history?since_ms=&until_ms= and `warmupctl history --since AGE`
// against build/bin/warmupd with a state folder. A history written before the daemon started pins the window
// filter and the table's numbers exactly; the samples the daemon writes at its own snapshots show the writer and the
// reader agree.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon_test_fixture.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using warmup::test::Daemon;
using warmup::test::poll_until;

int64_t unix_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// A configuration of budgets, a catalog and a state folder: the shipped components.
std::string config_with_state(int snapshot_interval_s) {
    return "apiVersion: warmup/v1\n"
           "budgets: {memory_mb: 8192}\n"
           "catalog:\n  - {model: \"m/*\", memory_mb: 100, load_ms: 10}\n"
           "state: {dir: state, snapshot_interval_s: " +
           std::to_string(snapshot_interval_s) + "}\n";
}

struct HistoryPoint {
    int64_t t_ms;
    double requests;
    double cold_requests;
};

/// Writes `points` to `state_dir` in the metrics history's own format (runtime/state/metrics_history.hpp): one file
/// per hour, lines "<unix_ms>\t<counter>\t<value>".
void write_history(const std::filesystem::path& state_dir, const std::vector<HistoryPoint>& points) {
    std::filesystem::create_directories(state_dir);
    for (const HistoryPoint& point : points) {
        const auto file = state_dir / ("metrics-history-" + std::to_string(point.t_ms / 3'600'000) + ".tsv");
        std::ofstream out(file, std::ios::app);
        out << point.t_ms << "\trequests\t" << point.requests << "\n"
            << point.t_ms << "\tcold_requests\t" << point.cold_requests << "\n"
            << point.t_ms << "\tused_mb\t" << 700 << "\n";
    }
}

struct CtlRun {
    int exit_code = -1;
    std::string output;
};

CtlRun warmupctl(const std::vector<std::string>& args) {
    Daemon process(args, Daemon::Capture::StdoutAndStderr, "warmupctl");
    const auto status = process.wait_exit(30s);
    EXPECT_TRUE(status.has_value()) << "warmupctl did not exit";
    EXPECT_TRUE(process.wait_for_log_end(10s));
    CtlRun run;
    run.output = process.log();
    if (status && status->exited) run.exit_code = status->code;
    return run;
}

class MetricsHistoryReaderTest : public warmup::test::DaemonTest {
  protected:
    MetricsHistoryReaderTest() : DaemonTest("warmup-history-test") {}

    json get_history(const std::string& query, int expected_status = 200) {
        const auto result = client_->Get("/api/warmup/history" + query);
        EXPECT_TRUE(result) << httplib::to_string(result.error());
        if (!result) return nullptr;
        EXPECT_EQ(result->status, expected_status) << result->body;
        return json::parse(result->body, nullptr, false);
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    // Samples 3 h, 2 h, 90 min, 50 min, 40 min and 10 min ago. The daemon's own snapshots (one hour apart here)
    // write none during the test.
    const int64_t now_ms_ = unix_now_ms();
    const std::vector<HistoryPoint> points_{{now_ms_ - 180 * 60'000, 10, 1},  {now_ms_ - 120 * 60'000, 40, 4},
                                            {now_ms_ - 90 * 60'000, 70, 8},   {now_ms_ - 50 * 60'000, 100, 10},
                                            {now_ms_ - 40 * 60'000, 160, 13}, {now_ms_ - 10 * 60'000, 200, 15}};

    void start_with_written_history() {
        write_history(dir_.path() / "state", points_);
        start_daemon(config_with_state(3600));
    }
};

TEST_F(MetricsHistoryReaderTest, ServesTheSamplesOfTheAskedWindowOldestFirst) {
    ASSERT_NO_FATAL_FAILURE(start_with_written_history());
    const json window = get_history("?since_ms=" + std::to_string(points_[1].t_ms) +
                                    "&until_ms=" + std::to_string(points_[2].t_ms));  // both ends included
    ASSERT_TRUE(window.is_object());
    EXPECT_EQ(window["enabled"], true);
    EXPECT_EQ(window["thinned_to_every"], 1);
    ASSERT_EQ(window["samples"].size(), 2u) << window.dump(2);
    EXPECT_EQ(window["samples"][0]["t_ms"], points_[1].t_ms);
    EXPECT_EQ(window["samples"][0]["requests"], 40);
    EXPECT_EQ(window["samples"][0]["cold_requests"], 4);
    EXPECT_EQ(window["samples"][1]["t_ms"], points_[2].t_ms);
    EXPECT_EQ(window["samples"][1]["cold_requests"], 8);
    EXPECT_EQ(window["counters"], json({"requests", "cold_requests", "used_mb"}));
}

TEST_F(MetricsHistoryReaderTest, WithoutParametersServesTheLastHour) {
    ASSERT_NO_FATAL_FAILURE(start_with_written_history());
    const json hour = get_history("");
    ASSERT_TRUE(hour.is_object());
    std::vector<int64_t> times;
    for (const json& sample : hour["samples"]) times.push_back(sample["t_ms"].get<int64_t>());
    // 50, 40 and 10 minutes ago; not 90 minutes or more.
    EXPECT_EQ(times, (std::vector<int64_t>{points_[3].t_ms, points_[4].t_ms, points_[5].t_ms})) << hour.dump(2);
    EXPECT_LE(hour["until_ms"].get<int64_t>() - hour["since_ms"].get<int64_t>(), 3'600'000);
}

TEST_F(MetricsHistoryReaderTest, BadParametersAreRefusedNamingTheParameter) {
    ASSERT_NO_FATAL_FAILURE(start_with_written_history());
    EXPECT_EQ(get_history("?since_ms=yesterday", 400)["error"],
              "since_ms: expected milliseconds since the Unix epoch (an integer >= 0), got 'yesterday'");
    EXPECT_EQ(get_history("?until_ms=-5", 400)["error"],
              "until_ms: expected milliseconds since the Unix epoch (an integer >= 0), got '-5'");
    EXPECT_EQ(get_history("?since_ms=20&until_ms=10", 400)["error"], "since_ms: 20 is after until_ms 10");
    EXPECT_EQ(get_history("?since_ms=1&since_ms=2", 400)["error"], "since_ms: given more than once");
}

TEST_F(MetricsHistoryReaderTest, ServesTheSamplesTheDaemonWritesAtItsSnapshots) {
    ASSERT_NO_FATAL_FAILURE(start_daemon(config_with_state(1)));
    const auto posted =
        client_->Post("/api/warmup/events", "{\"model\":\"m/a\"}\n{\"model\":\"m/b\"}\n", "application/x-ndjson");
    ASSERT_TRUE(posted && posted->status == 200);
    json last;
    const bool seen = poll_until(
        [&] {
            last = get_history("");
            if (!last.is_object() || last["samples"].empty()) return false;
            const json& newest = last["samples"].back();
            return newest.value("requests", 0.0) >= 2 && newest.value("cold_requests", 0.0) >= 2;
        },
        20s, 100ms);
    EXPECT_TRUE(seen) << "no snapshot sample counted the two cold requests: " << last.dump(2);
    EXPECT_TRUE(last["samples"].back().contains("used_mb"));
}

TEST_F(MetricsHistoryReaderTest, WarmupctlHistoryPrintsEachIntervalAndTheTotal) {
    ASSERT_NO_FATAL_FAILURE(start_with_written_history());
    const CtlRun run = warmupctl({"--url", url(), "history", "--since", "55m"});
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find("3 sample(s)"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("time "), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("cold %"), std::string::npos) << run.output;
    // From the last sample before the window (90 min ago) to 50 min ago: 30 requests, 2 cold (6.7 %); 50 -> 40 min
    // ago: 60 requests, 3 cold (5.0 %); 40 -> 10 min ago: 40 requests, 2 cold (5.0 %); total 130 and 7 (5.4 %).
    std::vector<std::string> rows;
    std::istringstream lines(run.output);
    for (std::string line; std::getline(lines, line);) rows.push_back(line);
    const auto row_starting = [&](const std::string& start) -> std::string {
        for (const std::string& row : rows)
            if (row.rfind(start, 0) == 0) return row;
        return "";
    };
    const std::string total = row_starting("total");
    ASSERT_FALSE(total.empty()) << run.output;
    EXPECT_NE(total.find(" 130 "), std::string::npos) << total;
    EXPECT_NE(total.find(" 7 "), std::string::npos) << total;
    EXPECT_NE(total.find("5.4%"), std::string::npos) << total;
    std::size_t interval_rows = 0;
    for (const std::string& row : rows)
        if (row.find("5.0%") != std::string::npos && row.rfind("total", 0) != 0) ++interval_rows;
    EXPECT_EQ(interval_rows, 2u) << run.output;
    std::size_t first_rows = 0;
    for (const std::string& row : rows)
        if (row.find(" 30 ") != std::string::npos && row.find("6.7%") != std::string::npos) ++first_rows;
    EXPECT_EQ(first_rows, 1u) << run.output;
    EXPECT_EQ(run.output.find("not in the table"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("(local time)"), std::string::npos) << run.output;
}

TEST_F(MetricsHistoryReaderTest, WarmupctlHistoryOverTheWholeHistorySaysWhatCameBeforeItsFirstSample) {
    ASSERT_NO_FATAL_FAILURE(start_with_written_history());
    const CtlRun run = warmupctl({"--url", url(), "history", "--since", "4h"});
    ASSERT_EQ(run.exit_code, 0) << run.output;
    // No sample before the window: the table counts from the first one (10 requests before it, 190 after).
    EXPECT_NE(run.output.find("(10 request(s) before it are not in the table)"), std::string::npos) << run.output;
    std::istringstream lines(run.output);
    std::string total;
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("total", 0) == 0) total = line;
    EXPECT_NE(total.find(" 190 "), std::string::npos) << run.output;
    EXPECT_NE(total.find(" 14 "), std::string::npos) << run.output;
}

TEST_F(MetricsHistoryReaderTest, WarmupctlHistoryRefusesAnAgeItCannotRead) {
    ASSERT_NO_FATAL_FAILURE(start_with_written_history());
    const CtlRun run = warmupctl({"--url", url(), "history", "--since", "yesterday"});
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find("--since expects a duration such as 90s, 30m, 1h or 7d, got 'yesterday'"),
              std::string::npos)
        << run.output;
}

TEST_F(MetricsHistoryReaderTest, ADaemonWithoutStateSaysItKeepsNoHistory) {
    ASSERT_NO_FATAL_FAILURE(
        start_daemon("apiVersion: warmup/v1\ncatalog:\n  - {model: a, memory_mb: 1, load_ms: 0}\n"
                     "state: {enabled: false}\n"));
    const json answer = get_history("");
    EXPECT_EQ(answer["enabled"], false);
    EXPECT_TRUE(answer["samples"].empty());
    const CtlRun run = warmupctl({"--url", url(), "history"});
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_NE(run.output.find("keeps no metrics history"), std::string::npos) << run.output;
}

}  // namespace
