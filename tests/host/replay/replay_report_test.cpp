// Tests of the warmup-replay report writers (host/replay/replay_report.cpp): report.json content, determinism and
// exclusions, timing.json, the Markdown table and report.md, and the self-contained HTML page with its SVG charts;
// and of the frontier arithmetic (host/replay/frontier.cpp): avoidable cold requests, interpolation on the keep-alive
// curve with its clamping, the ratio and its 0/0 rule, on hand-made curve points.
#include "replay/replay_report.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "replay/frontier.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace warmup::host::replay;
using nlohmann::json;

namespace {

constexpr int64_t hour_ms = 3'600'000;
constexpr int64_t day_ms = 24 * hour_ms;
constexpr int64_t start_ms = 1'700'000'000'000;

TimelineBucket bucket(int index, uint64_t requests, uint64_t cold_requests, double mean_resident_mb) {
    return TimelineBucket{start_ms + index * hour_ms, hour_ms, requests, cold_requests, mean_resident_mb};
}

/// Two policy arms and one yardstick; values chosen so every formatted number is exact (no rounding ties).
ReplayReport sample_report() {
    ReplayReport report;
    report.config_file = "configs/replay.yaml";
    report.traces = {"traces/azure.csv"};
    report.seed = 42;
    report.from_ms = start_ms;
    report.to_ms = start_ms + 2 * day_ms;
    report.events = 2000;
    report.requests = 1000;
    report.models = 12;
    report.budget_spec = "1.5xA95";
    report.a95_mb = 16384;
    report.budget_mb = 24576;
    report.max_concurrent_warmups = 4;
    report.compulsory_cold_requests = 5;
    report.wall_seconds = 1.25;
    report.events_per_second = 4800;
    report.compulsory_floor_cpu_seconds = 0.125;

    ArmResult keep_alive;
    keep_alive.name = "keep-alive-10m";
    keep_alive.plugins = {"predictor=org.warmup.predictor.keep_alive@1.0.0"};
    keep_alive.budget_mb = 24576;
    keep_alive.events = 2000;
    keep_alive.requests = 1000;
    keep_alive.cold_requests = 123;
    keep_alive.avoidable_cold_requests = 118;
    keep_alive.cold_rate = 0.123;
    keep_alive.per_model_cold_rate_p50 = 0.1;
    keep_alive.per_model_cold_rate_p75 = 0.25;
    keep_alive.per_model_cold_rate_p95 = 0.5;
    keep_alive.models_with_requests = 12;
    keep_alive.demand_loads = 130;
    keep_alive.loads_queued_for_memory = 7;
    keep_alive.cold_wait_total_s = 61.5;
    keep_alive.cold_wait_p50_ms = 350;
    keep_alive.cold_wait_p99_ms = 4200.5;
    keep_alive.loaded_gb_h = 40.25;
    keep_alive.idle_gb_h = 12.5;
    keep_alive.idle_gap_requests = 50;
    keep_alive.evictions = 9;
    keep_alive.unloads = 20;
    keep_alive.timeline = {bucket(0, 400, 100, 2048), bucket(1, 300, 20, 3072), bucket(2, 0, 0, 1024),
                           bucket(3, 300, 3, 1024)};
    keep_alive.cpu_seconds = 0.5;
    keep_alive.decision_cpu_s_per_million_events = 250;
    keep_alive.events_per_cpu_second = 4000;

    ArmResult hostile = keep_alive;  // a name that is markup in HTML
    hostile.name = "a<b&c";
    hostile.cold_requests = 45;
    hostile.avoidable_cold_requests = 40;
    hostile.cold_rate = 0.045;
    hostile.per_model_cold_rate_p75 = 0.125;
    hostile.per_model_cold_rate_p95 = 0.3;
    hostile.demand_loads = 60;
    hostile.loads_queued_for_memory = 2;
    hostile.cold_wait_p50_ms = 800;
    hostile.cold_wait_p99_ms = std::numeric_limits<double>::quiet_NaN();
    hostile.idle_gb_h = 20;
    hostile.loaded_gb_h = 30;
    hostile.prewarms_started = 10;
    hostile.prewarms_used = 3;
    hostile.prewarms_wasted = 1;
    hostile.precision = 0.75;
    hostile.idle_gap_requests = 40;
    hostile.idle_gap_prewarmed = 10;
    hostile.recall = 0.25;
    hostile.evictions = 4;
    hostile.prewarms_skipped = 1;
    hostile.timeline = {bucket(0, 400, 40, 4096), bucket(1, 300, 5, 4096), bucket(2, 0, 0, 4096),
                        bucket(3, 300, 0, 4096)};
    hostile.cpu_seconds = 0.75;

    ArmResult oracle = keep_alive;
    oracle.name = "oracle";
    oracle.yardstick = "oracle";
    oracle.cold_requests = 10;
    oracle.avoidable_cold_requests = 5;
    oracle.cold_rate = 0.01;
    oracle.idle_gb_h = 5;
    oracle.timeline = {bucket(0, 400, 10, 1024), bucket(1, 300, 0, 1024), bucket(2, 0, 0, 0), bucket(3, 300, 0, 512)};
    oracle.cpu_seconds = 0.25;
    oracle.events_per_cpu_second = std::numeric_limits<double>::infinity();

    report.arms = {keep_alive, hostile, oracle};
    return report;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::size_t count_occurrences(const std::string& text, const std::string& needle) {
    std::size_t count = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size()))
        ++count;
    return count;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

/// The HTML page cut into its SVG elements, in document order.
std::vector<std::string> svg_elements(const std::string& html) {
    std::vector<std::string> charts;
    for (std::size_t open = html.find("<svg"); open != std::string::npos; open = html.find("<svg", open + 1)) {
        const std::size_t close = html.find("</svg>", open);
        charts.push_back(html.substr(open, close == std::string::npos ? std::string::npos : close - open));
    }
    return charts;
}

const std::regex non_finite_token(R"(\b(nan|inf|infinity)\b)", std::regex::icase);

class ReplayReportTest : public ::testing::Test {
  protected:
    const warmup::test::TempDir temp_{"warmup-replay-report"};
    const fs::path dir_ = temp_.path() / "reports";  // not created: the writers create the folder they are given
};

TEST_F(ReplayReportTest, ReportJsonHasSchemaTagAndArmsInOrderWithTheirValues) {
    write_reports(sample_report(), dir_ / "out");  // also creates the missing directory
    const std::string text = read_file(dir_ / "out" / "report.json");
    EXPECT_EQ(text.rfind("{\n  \"schema\": \"warmup-replay-report/1\",\n", 0), 0u);  // the tag comes first
    const json report = json::parse(text);
    EXPECT_EQ(report.at("seed"), 42);
    EXPECT_EQ(report.at("to_ms").get<int64_t>() - report.at("from_ms").get<int64_t>(), 2 * day_ms);
    EXPECT_EQ(report.at("budget_spec"), "1.5xA95");
    EXPECT_EQ(report.at("traces"), json::array({"traces/azure.csv"}));

    const json& arms = report.at("arms");
    ASSERT_EQ(arms.size(), 3u);
    EXPECT_EQ(arms[0].at("name"), "keep-alive-10m");
    EXPECT_EQ(arms[1].at("name"), "a<b&c");
    EXPECT_EQ(arms[2].at("name"), "oracle");
    EXPECT_EQ(arms[0].at("yardstick"), "");
    EXPECT_EQ(arms[2].at("yardstick"), "oracle");
    EXPECT_EQ(arms[0].at("plugins"), json::array({"predictor=org.warmup.predictor.keep_alive@1.0.0"}));
    EXPECT_EQ(arms[0].at("cold_requests"), 123);
    EXPECT_DOUBLE_EQ(arms[0].at("cold_rate").get<double>(), 0.123);  // shortest round-trip: exact after parsing
    EXPECT_DOUBLE_EQ(arms[1].at("precision").get<double>(), 0.75);
    EXPECT_EQ(arms[1].at("prewarms_skipped"), 1);

    const json& timeline = arms[0].at("timeline");
    ASSERT_EQ(timeline.size(), 4u);
    EXPECT_EQ(timeline[1].at("start_ms"), start_ms + hour_ms);
    EXPECT_EQ(timeline[1].at("width_ms"), hour_ms);
    EXPECT_EQ(timeline[1].at("requests"), 300);
    EXPECT_EQ(timeline[1].at("cold_requests"), 20);
    EXPECT_DOUBLE_EQ(timeline[1].at("mean_resident_mb").get<double>(), 3072);
}

TEST_F(ReplayReportTest, ReportJsonKeysFollowTheDeclarationOrder) {
    write_reports(sample_report(), dir_);
    const auto report = nlohmann::ordered_json::parse(read_file(dir_ / "report.json"));
    std::vector<std::string> top_keys;
    for (const auto& [key, value] : report.items()) top_keys.push_back(key);
    EXPECT_EQ(top_keys,
              (std::vector<std::string>{"schema", "config_file", "traces", "seed", "from_ms", "to_ms", "events",
                                        "requests", "models", "budget_spec", "a95_mb", "budget_mb",
                                        "max_concurrent_warmups", "compulsory_cold_requests", "frontier", "arms"}));
    std::vector<std::string> arm_keys;
    for (const auto& [key, value] : report.at("arms")[0].items()) arm_keys.push_back(key);
    ASSERT_EQ(arm_keys.size(), 37u);
    EXPECT_EQ(arm_keys.front(), "name");
    EXPECT_EQ(arm_keys[2], "frontier_curve");
    EXPECT_EQ(arm_keys[9], "avoidable_cold_requests");
    EXPECT_EQ(arm_keys[11], "cold_rate");
    EXPECT_EQ(arm_keys[34], "keepalive_curve_ratio");
    EXPECT_EQ(arm_keys.back(), "timeline");
}

TEST_F(ReplayReportTest, ReportJsonExcludesMachineDependentFields) {
    write_reports(sample_report(), dir_);
    const std::string text = read_file(dir_ / "report.json");
    for (const char* key : {"wall_seconds", "events_per_second", "cpu_seconds", "decision_cpu_s_per_million_events",
                            "events_per_cpu_second", "compulsory_floor_cpu_seconds"})
        EXPECT_EQ(text.find(key), std::string::npos) << key;
}

TEST_F(ReplayReportTest, ReportJsonIsByteIdenticalAcrossRunsThatDifferOnlyInTiming) {
    const ReplayReport first = sample_report();
    ReplayReport second = sample_report();
    second.wall_seconds = 9.5;
    second.events_per_second = 123;
    second.compulsory_floor_cpu_seconds = 7;
    for (ArmResult& arm : second.arms) {
        arm.cpu_seconds *= 3;
        arm.decision_cpu_s_per_million_events *= 3;
        arm.events_per_cpu_second = 1;
    }
    write_reports(first, dir_ / "a");
    write_reports(first, dir_ / "b");
    write_reports(second, dir_ / "c");

    const std::string reference = read_file(dir_ / "a" / "report.json");
    EXPECT_EQ(read_file(dir_ / "b" / "report.json"), reference);
    EXPECT_EQ(read_file(dir_ / "c" / "report.json"), reference);
    EXPECT_NE(read_file(dir_ / "c" / "timing.json"), read_file(dir_ / "a" / "timing.json"));
}

TEST_F(ReplayReportTest, NonFiniteNumbersAreWrittenAsNull) {
    write_reports(sample_report(), dir_);
    const std::string report_text = read_file(dir_ / "report.json");
    const std::string timing_text = read_file(dir_ / "timing.json");
    EXPECT_FALSE(std::regex_search(report_text, non_finite_token));
    EXPECT_FALSE(std::regex_search(timing_text, non_finite_token));
    EXPECT_TRUE(json::parse(report_text).at("arms")[1].at("cold_wait_p99_ms").is_null());
    EXPECT_TRUE(json::parse(timing_text).at("arms")[2].at("events_per_cpu_second").is_null());
}

TEST_F(ReplayReportTest, TimingJsonHoldsTheMachineDependentFiguresPerArm) {
    write_reports(sample_report(), dir_);
    const json timing = json::parse(read_file(dir_ / "timing.json"));
    EXPECT_EQ(timing.at("schema"), "warmup-replay-timing/1");
    EXPECT_DOUBLE_EQ(timing.at("wall_seconds").get<double>(), 1.25);
    EXPECT_DOUBLE_EQ(timing.at("events_per_second").get<double>(), 4800);
    EXPECT_DOUBLE_EQ(timing.at("compulsory_floor_cpu_seconds").get<double>(), 0.125);
    const json& arms = timing.at("arms");
    ASSERT_EQ(arms.size(), 3u);
    EXPECT_EQ(arms[1].at("name"), "a<b&c");
    EXPECT_DOUBLE_EQ(arms[0].at("cpu_seconds").get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(arms[1].at("cpu_seconds").get<double>(), 0.75);
    EXPECT_DOUBLE_EQ(arms[0].at("decision_cpu_s_per_million_events").get<double>(), 250);
    EXPECT_DOUBLE_EQ(arms[0].at("events_per_cpu_second").get<double>(), 4000);
}

TEST_F(ReplayReportTest, MarkdownTableHasTheHeaderAndOneFormattedRowPerArmInOrder) {
    const std::vector<std::string> lines = lines_of(arms_table_markdown(sample_report()));
    ASSERT_EQ(lines.size(), 5u);  // header, alignment row, three arms
    EXPECT_EQ(lines[0],
              "| arm | cold rate % | p75 per-model cold % | p95 per-model cold % | cold requests | avoidable cold | "
              "ratio to keep-alive curve | curve p75 per-model cold % | demand loads | queued for memory | "
              "cold wait p50 ms | p99 ms | idle GB·h | loaded GB·h | pre-warms (started) | precision % | recall % | "
              "evictions | skipped pre-warms |");
    EXPECT_EQ(
        lines[1], "| --- |" + [] {
            std::string numeric;
            for (int i = 0; i < 18; ++i) numeric += " ---: |";
            return numeric;
        }());
    // No pre-warm finished its life: precision is undefined (n/a), not 0 %. Recall has 50 idle-gap requests: 0.00.
    // No keep-alive curve in this report: the ratio and the curve's p75 are n/a.
    EXPECT_EQ(lines[2],
              "| keep-alive-10m | 12.30 | 25.00 | 50.00 | 123 | 118 | n/a | n/a | 130 | 7 | 350.0 | 4200.5 | 12.50 | "
              "40.25 | 0 | n/a | 0.00 | 9 | 0 |");
    EXPECT_EQ(lines[3],
              "| a<b&c | 4.50 | 12.50 | 30.00 | 45 | 40 | n/a | n/a | 60 | 2 | 800.0 | n/a | 20.00 | 30.00 | 10 | "
              "75.00 | 25.00 | 4 | 1 |");
    EXPECT_EQ(lines[4].rfind("| oracle (yardstick) | 1.00 | 25.00 |", 0), 0u) << lines[4];
}

TEST_F(ReplayReportTest, MarkdownTableEscapesThePipeInArmNames) {
    ReplayReport report = sample_report();
    report.arms.resize(1);
    report.arms[0].name = "lru|gd";
    const std::vector<std::string> lines = lines_of(arms_table_markdown(report));
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[2].rfind("| lru\\|gd | 12.30 |", 0), 0u) << lines[2];
}

TEST_F(ReplayReportTest, ReportMdHasRunFactsTheArmsTableAndTiming) {
    const ReplayReport report = sample_report();
    write_reports(report, dir_);
    const std::string md = read_file(dir_ / "report.md");
    EXPECT_EQ(md.rfind("# ", 0), 0u);
    EXPECT_NE(md.find("**seed**: 42"), std::string::npos);
    EXPECT_NE(md.find("**replayed span**: 2.00 days"), std::string::npos);
    EXPECT_NE(md.find("**budget spec**: 1.5xA95"), std::string::npos);
    EXPECT_NE(md.find("16384 MiB"), std::string::npos);
    EXPECT_NE(md.find("**budget**: 24576 MiB"), std::string::npos);
    EXPECT_NE(md.find("**compulsory cold requests (keep forever, unlimited memory)**: 5"), std::string::npos);
    EXPECT_NE(md.find("**keep-alive curve**: not run (--frontier adds it)"), std::string::npos);
    EXPECT_NE(md.find("The compulsory-floor pass took 0.125 s of CPU."), std::string::npos);
    EXPECT_NE(md.find(arms_table_markdown(report)), std::string::npos);
    EXPECT_NE(md.find("they see the future"), std::string::npos);  // the yardstick caveat
    EXPECT_NE(md.find("| arm | decision CPU s | decision CPU s per 1 M events | events per CPU s |"),
              std::string::npos);
    EXPECT_NE(md.find("| keep-alive-10m | 0.500 | 250.000 | 4000 |"), std::string::npos);
    EXPECT_NE(md.find("| oracle | 0.250 | 250.000 | n/a |"), std::string::npos);
}

TEST_F(ReplayReportTest, AnArmWhosePluginCallsFailedIsFlaggedAboveTheTable) {
    ReplayReport report = sample_report();
    write_reports(report, dir_ / "clean");
    EXPECT_TRUE(arm_warnings(report).empty());
    EXPECT_EQ(read_file(dir_ / "clean" / "report.md").find("Warning"), std::string::npos);
    EXPECT_EQ(read_file(dir_ / "clean" / "report.html").find("class=\"warning\""), std::string::npos);

    report.arms[0].plugin_errors = 6588;
    const std::vector<std::string> warnings = arm_warnings(report);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].rfind("arm 'keep-alive-10m': 6588 plugin calls failed.", 0), 0u) << warnings[0];
    write_reports(report, dir_ / "failing");
    const std::string md = read_file(dir_ / "failing" / "report.md");
    const auto warning_at = md.find("> **Warning**: " + warnings[0]);
    ASSERT_NE(warning_at, std::string::npos) << md;
    EXPECT_LT(warning_at, md.find(arms_table_markdown(report)));
    const std::string html = read_file(dir_ / "failing" / "report.html");
    EXPECT_NE(html.find("<p class=\"warning\"><strong>Warning</strong>: arm &#39;keep-alive-10m&#39;: 6588"),
              std::string::npos)
        << html.substr(0, 3000);
}

TEST_F(ReplayReportTest, AnArmWithFailedRequestsIsFlaggedAboveTheTable) {
    // The table shows them only as cold requests: an arm whose loads fail would read as one with cold starts.
    ReplayReport report = sample_report();
    report.arms[1].failed_requests = 12;
    const std::vector<std::string> warnings = arm_warnings(report);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(
        warnings[0].rfind(
            fmt::format("arm '{}': 12 of its {} requests failed", report.arms[1].name, report.arms[1].requests), 0),
        0u)
        << warnings[0];
    EXPECT_NE(warnings[0].find("counted among its cold requests"), std::string::npos);
    write_reports(report, dir_ / "failed");
    const std::string md = read_file(dir_ / "failed" / "report.md");
    const auto warning_at = md.find("> **Warning**: " + warnings[0]);
    ASSERT_NE(warning_at, std::string::npos) << md;
    EXPECT_LT(warning_at, md.find(arms_table_markdown(report)));
}

TEST_F(ReplayReportTest, HtmlIsSelfContainedWithFourChartsEscapedNamesAndNoNaN) {
    write_reports(sample_report(), dir_);
    const std::string html = read_file(dir_ / "report.html");
    EXPECT_EQ(count_occurrences(html, "<svg"), 4u);
    EXPECT_EQ(count_occurrences(html, "</svg>"), 4u);
    EXPECT_NE(html.find("a&lt;b&amp;c"), std::string::npos);
    EXPECT_EQ(html.find("a<b&c"), std::string::npos);
    EXPECT_FALSE(std::regex_search(html, non_finite_token));
    // No script, no external resource (the only URL is the SVG namespace, which is not fetched).
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("src="), std::string::npos);
    EXPECT_EQ(html.find("href="), std::string::npos);
    EXPECT_EQ(count_occurrences(html, "http"), count_occurrences(html, "http://www.w3.org/2000/svg"));
}

TEST_F(ReplayReportTest, ColdRateChartBreaksLinesAtBucketsWithoutRequests) {
    write_reports(sample_report(), dir_);
    const std::vector<std::string> charts = svg_elements(read_file(dir_ / "report.html"));
    ASSERT_EQ(charts.size(), 4u);
    // Each arm: buckets 0-1 form a line, bucket 2 has no requests, bucket 3 stands alone as a dot.
    EXPECT_EQ(count_occurrences(charts[0], "<polyline"), 3u);
    EXPECT_EQ(count_occurrences(charts[0], "r=\"2\""), 3u);
    // Highest bucket rate is 100 of 400 = 25 %: the y axis ends on a tick labelled 25.
    EXPECT_NE(charts[0].find(">25</text>"), std::string::npos);
    EXPECT_EQ(charts[0].find(">30</text>"), std::string::npos);
}

TEST_F(ReplayReportTest, MemoryChartDrawsEveryBucketAndTheBudgetLine) {
    write_reports(sample_report(), dir_);
    const std::vector<std::string> charts = svg_elements(read_file(dir_ / "report.html"));
    ASSERT_EQ(charts.size(), 4u);
    // Memory has a value in every bucket, with or without requests: one unbroken line per arm, no lone dots.
    EXPECT_EQ(count_occurrences(charts[1], "<polyline"), 3u);
    EXPECT_EQ(count_occurrences(charts[1], "r=\"2\""), 0u);
    // The budget (24576 MiB = 24 GB) is drawn as a labelled reference line.
    EXPECT_NE(charts[1].find(">budget 24.0 GB</text>"), std::string::npos);
}

TEST_F(ReplayReportTest, ScatterDrawsYardsticksAsHollowDiamondsAndPoliciesAsDots) {
    write_reports(sample_report(), dir_);
    const std::vector<std::string> charts = svg_elements(read_file(dir_ / "report.html"));
    ASSERT_EQ(charts.size(), 4u);
    const std::string& scatter = charts[2];
    // Each marker appears once in the plot and once in the legend.
    EXPECT_EQ(count_occurrences(scatter, "<circle r=\"5\""), 4u);
    EXPECT_EQ(count_occurrences(scatter, "M0 -7 L7 0 L0 7 L-7 0 Z"), 2u);
    EXPECT_NE(scatter.find("fill-opacity=\"0\""), std::string::npos);
    EXPECT_NE(scatter.find(">oracle (yardstick)</text>"), std::string::npos);
    EXPECT_NE(scatter.find(">a&lt;b&amp;c</text>"), std::string::npos);
}

// ----- the keep-alive frontier

/// sample_report() plus a three-point keep-alive curve (1 min, 5 min, 2 h at 20, 35 and 50 loaded GB·h, avoidable
/// 200, 100 and 0, p75 cold 50 %, 30 %, 10 %), with the frontier fields computed by apply_frontier. The oracle is
/// moved to 60 GB·h, right of the curve, where the curve is at the floor and the oracle (5 avoidable) is not.
ReplayReport frontier_report() {
    ReplayReport report = sample_report();
    report.frontier = true;
    report.arms[2].loaded_gb_h = 60;
    const auto curve_arm = [&](const std::string& name, int64_t ttl_ms, double loaded_gb_h, uint64_t cold, double p75) {
        ArmResult arm = report.arms[0];
        arm.name = name;
        arm.frontier_curve = true;
        arm.frontier_ttl_ms = ttl_ms;
        arm.loaded_gb_h = loaded_gb_h;
        arm.cold_requests = cold;
        arm.per_model_cold_rate_p75 = p75;
        return arm;
    };
    report.arms.push_back(curve_arm("keepalive-curve-1m", 60'000, 20, 205, 0.5));
    report.arms.push_back(curve_arm("keepalive-curve-5m", 300'000, 35, 105, 0.3));
    report.arms.push_back(curve_arm("keepalive-curve-120m", 7'200'000, 50, 5, 0.1));
    apply_frontier(report);
    return report;
}

TEST(KeepAliveCurve, InterpolatesLinearlyBetweenNeighboursInLoadedMemoryOrder) {
    // Given out of order: the curve is read in loaded GB·h order, not in the order of the arms.
    const std::vector<CurvePoint> curve = {{35, 100}, {20, 200}, {50, 0}};
    EXPECT_DOUBLE_EQ(*interpolate_on_curve(curve, 20), 200);  // on a point: that point's value
    EXPECT_DOUBLE_EQ(*interpolate_on_curve(curve, 35), 100);
    EXPECT_DOUBLE_EQ(*interpolate_on_curve(curve, 50), 0);
    EXPECT_DOUBLE_EQ(*interpolate_on_curve(curve, 27.5), 150);  // half-way between 20 and 35
    EXPECT_DOUBLE_EQ(*interpolate_on_curve(curve, 38), 80);     // a fifth of the way from 35 to 50
}

TEST(KeepAliveCurve, IsClampedToTheEndPointsOutsideItsRange) {
    const std::vector<CurvePoint> curve = {{20, 200}, {35, 100}, {50, 0}};
    EXPECT_DOUBLE_EQ(*interpolate_on_curve(curve, 0), 200);  // below the leanest timer: its value, no extrapolation
    EXPECT_DOUBLE_EQ(*interpolate_on_curve(curve, 19.9), 200);
    EXPECT_DOUBLE_EQ(*interpolate_on_curve(curve, 1000), 0);   // above the fattest timer: its value
    EXPECT_DOUBLE_EQ(*interpolate_on_curve({{10, 7}}, 3), 7);  // one point: constant
    EXPECT_DOUBLE_EQ(*interpolate_on_curve({{10, 7}}, 30), 7);
}

TEST(KeepAliveCurve, IgnoresNonFinitePointsAndHasNoValueWithoutPointsOrForANonFiniteX) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    EXPECT_FALSE(interpolate_on_curve({}, 10).has_value());
    EXPECT_FALSE(interpolate_on_curve({{10, 1}}, nan).has_value());
    EXPECT_FALSE(interpolate_on_curve({{nan, 1}}, 10).has_value());
    EXPECT_DOUBLE_EQ(*interpolate_on_curve({{0, 0}, {nan, 50}, {10, 100}}, 5), 50);
}

TEST(KeepAliveCurve, EqualLoadedMemoryPointsNeverDivideByZero) {
    // Two timers with the same memory-time (e.g. both longer than every gap): left of them the first one's value,
    // right of them the interpolation starts from the last one.
    const std::vector<CurvePoint> curve = {{10, 40}, {20, 10}, {20, 0}, {30, 0}};
    EXPECT_DOUBLE_EQ(*interpolate_on_curve(curve, 15), 25);
    EXPECT_DOUBLE_EQ(*interpolate_on_curve(curve, 20), 10);
    EXPECT_DOUBLE_EQ(*interpolate_on_curve(curve, 25), 0);
}

TEST(KeepAliveCurve, RatioIsOneWhenBothAreAtTheFloorAndUndefinedWhenOnlyTheCurveIs) {
    EXPECT_DOUBLE_EQ(*keepalive_curve_ratio(50, 100), 0.5);
    EXPECT_DOUBLE_EQ(*keepalive_curve_ratio(150, 100), 1.5);
    EXPECT_DOUBLE_EQ(*keepalive_curve_ratio(0, 100), 0.0);
    EXPECT_DOUBLE_EQ(*keepalive_curve_ratio(0, 0), 1.0);
    EXPECT_FALSE(keepalive_curve_ratio(3, 0).has_value());
    EXPECT_FALSE(keepalive_curve_ratio(3, std::numeric_limits<double>::infinity()).has_value());
}

TEST(KeepAliveCurve, CurveArmNamesAreMadeDistinctFromTheConfiguredOnes) {
    EXPECT_EQ(keepalive_curve_arm_name(5, {"default", "keepalive-5m"}), "keepalive-curve-5m");
    EXPECT_EQ(keepalive_curve_arm_name(5, {"keepalive-curve-5m"}), "keepalive-curve-5m-2");
    EXPECT_EQ(keepalive_curve_arm_name(240, {"keepalive-curve-240m", "keepalive-curve-240m-2"}),
              "keepalive-curve-240m-3");
}

TEST(KeepAliveCurve, AvoidableIsColdMinusCompulsoryClampedAtZeroAndNoCurveMeansNoRatio) {
    ReplayReport report = sample_report();  // compulsory 5; cold 123, 45, 10
    report.arms[2].cold_requests = 3;       // fewer than the floor (a yardstick pre-warms first requests)
    apply_frontier(report);
    EXPECT_EQ(report.arms[0].avoidable_cold_requests, 118u);
    EXPECT_EQ(report.arms[1].avoidable_cold_requests, 40u);
    EXPECT_EQ(report.arms[2].avoidable_cold_requests, 0u);
    for (const ArmResult& arm : report.arms) {
        EXPECT_FALSE(arm.keepalive_curve_ratio.has_value()) << arm.name;
        EXPECT_FALSE(arm.keepalive_curve_p75_cold_rate.has_value()) << arm.name;
    }
}

TEST(KeepAliveCurve, ApplyFrontierReadsEveryOtherArmOffTheCurveAtItsLoadedMemory) {
    const ReplayReport report = frontier_report();
    // keep-alive-10m: 40.25 GB·h, 35 % of the way from 35 to 50: curve avoidable 100 - 35 = 65, p75 30 % - 7 % = 23 %.
    EXPECT_NEAR(*report.arms[0].keepalive_curve_ratio, 118.0 / 65.0, 1e-12);
    EXPECT_NEAR(*report.arms[0].keepalive_curve_p75_cold_rate, 0.23, 1e-12);
    // a<b&c: 30 GB·h, two thirds of the way from 20 to 35: curve avoidable 200 - 66.67, p75 50 % - 13.33 %.
    EXPECT_NEAR(*report.arms[1].keepalive_curve_ratio, 40.0 / (400.0 / 3.0), 1e-12);
    EXPECT_NEAR(*report.arms[1].keepalive_curve_p75_cold_rate, 0.5 - 0.2 * 2.0 / 3.0, 1e-12);
    // The oracle lies right of the curve (clamped: avoidable 0, p75 10 %) with 5 avoidable: no finite ratio.
    EXPECT_FALSE(report.arms[2].keepalive_curve_ratio.has_value());
    EXPECT_NEAR(*report.arms[2].keepalive_curve_p75_cold_rate, 0.1, 1e-12);
    // The curve's own arms are the yardstick, not judged by it.
    for (std::size_t i = 3; i < report.arms.size(); ++i) {
        EXPECT_FALSE(report.arms[i].keepalive_curve_ratio.has_value()) << report.arms[i].name;
        EXPECT_FALSE(report.arms[i].keepalive_curve_p75_cold_rate.has_value()) << report.arms[i].name;
    }
    EXPECT_EQ(report.arms[3].avoidable_cold_requests, 200u);
}

TEST_F(ReplayReportTest, FrontierFieldsAreInReportJsonAndTheTables) {
    const ReplayReport report = frontier_report();
    write_reports(report, dir_);
    const json written = json::parse(read_file(dir_ / "report.json"));
    EXPECT_EQ(written.at("compulsory_cold_requests"), 5);
    EXPECT_EQ(written.at("frontier"), true);
    const json& arms = written.at("arms");
    ASSERT_EQ(arms.size(), 6u);
    EXPECT_EQ(arms[0].at("frontier_curve"), false);
    EXPECT_TRUE(arms[0].at("frontier_ttl_ms").is_null());
    EXPECT_EQ(arms[0].at("avoidable_cold_requests"), 118);
    EXPECT_NEAR(arms[0].at("keepalive_curve_ratio").get<double>(), 118.0 / 65.0, 1e-12);
    EXPECT_NEAR(arms[0].at("keepalive_curve_p75_cold_rate").get<double>(), 0.23, 1e-12);
    EXPECT_TRUE(arms[2].at("keepalive_curve_ratio").is_null());
    EXPECT_EQ(arms[4].at("name"), "keepalive-curve-5m");
    EXPECT_EQ(arms[4].at("frontier_curve"), true);
    EXPECT_EQ(arms[4].at("frontier_ttl_ms"), 300000);
    EXPECT_TRUE(arms[4].at("keepalive_curve_ratio").is_null());

    const std::vector<std::string> lines = lines_of(arms_table_markdown(report));
    ASSERT_EQ(lines.size(), 8u);
    EXPECT_EQ(lines[3].rfind("| a<b&c | 4.50 | 12.50 | 30.00 | 45 | 40 | 0.30 | 36.67 | 60 |", 0), 0u) << lines[3];
    EXPECT_EQ(lines[4].rfind("| oracle (yardstick) | 1.00 | 25.00 | 50.00 | 10 | 5 | ∞ | 10.00 |", 0), 0u) << lines[4];
    EXPECT_EQ(
        lines[6].rfind("| keepalive-curve-5m (keep-alive curve) | 12.30 | 30.00 | 50.00 | 105 | 100 | n/a | n/a |", 0),
        0u)
        << lines[6];
    EXPECT_NE(read_file(dir_ / "report.md")
                  .find("**keep-alive curve**: 9 arms, keep-alive 1, 2, 5, 10, 20, 30, 60, "
                        "120, 240 min"),
              std::string::npos);
}

TEST_F(ReplayReportTest, FrontierChartDrawsTheCurveWithTtlLabelsAndEveryOtherArmAsALabelledPoint) {
    write_reports(frontier_report(), dir_);
    const std::vector<std::string> charts = svg_elements(read_file(dir_ / "report.html"));
    ASSERT_EQ(charts.size(), 4u);
    // The curve arms stay out of the three other charts: still one line per plugin or yardstick arm there.
    EXPECT_EQ(count_occurrences(charts[1], "<polyline"), 3u);
    EXPECT_EQ(charts[2].find("keepalive-curve"), std::string::npos);
    const std::string& frontier = charts[3];
    EXPECT_NE(frontier.find("below the keep-alive curve is better"), std::string::npos);
    EXPECT_NE(frontier.find(">loaded memory-time (GB·h)</text>"), std::string::npos);
    EXPECT_NE(frontier.find(">avoidable cold requests</text>"), std::string::npos);
    EXPECT_EQ(count_occurrences(frontier, "<polyline"), 1u);  // the curve
    EXPECT_EQ(count_occurrences(frontier, "r=\"3\""), 3u);    // its three points
    for (const char* ttl : {">1m</text>", ">5m</text>", ">2h</text>"}) EXPECT_NE(frontier.find(ttl), std::string::npos);
    // Three other arms: one marker each in the plot and in the legend, and a label.
    EXPECT_EQ(count_occurrences(frontier, "<circle r=\"5\""), 4u);
    EXPECT_EQ(count_occurrences(frontier, "M0 -7 L7 0 L0 7 L-7 0 Z"), 2u);
    EXPECT_NE(frontier.find(">keep-alive-10m</text>"), std::string::npos);
    EXPECT_NE(frontier.find(">oracle (yardstick)</text>"), std::string::npos);
    EXPECT_NE(frontier.find(">keep-alive curve (points labelled by TTL)</text>"), std::string::npos);
    // The curve is drawn left to right: its polyline's x coordinates ascend.
    const std::size_t at = frontier.find("<polyline points=\"");
    std::istringstream points(frontier.substr(at + 18, frontier.find('"', at + 18) - at - 18));
    double previous_x = -1;
    for (std::string point; points >> point;) {
        const double x = std::stod(point.substr(0, point.find(',')));
        EXPECT_GT(x, previous_x) << point;
        previous_x = x;
    }
}

TEST_F(ReplayReportTest, FrontierChartWithoutTheCurveSaysHowToGetIt) {
    write_reports(sample_report(), dir_);
    const std::vector<std::string> charts = svg_elements(read_file(dir_ / "report.html"));
    ASSERT_EQ(charts.size(), 4u);
    EXPECT_NE(charts[3].find("run with --frontier for the keep-alive curve"), std::string::npos);
    EXPECT_EQ(count_occurrences(charts[3], "<polyline"), 0u);
}

TEST_F(ReplayReportTest, WriteReportsThrowsWhenTheOutputDirectoryCannotBeCreated) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "a-file") << "x";
    EXPECT_THROW(write_reports(sample_report(), dir_ / "a-file" / "out"), std::runtime_error);
}

}  // namespace
