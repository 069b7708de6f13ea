#include "prometheus_metrics.hpp"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "plugin_library_check.hpp"
#include "plugin_test_host.hpp"

namespace warmup::plugins {
namespace {

PrometheusMetrics make_sink(test::PluginTestHost& host, const std::string& yaml = "") {
    sdk::Params params(yaml);
    return PrometheusMetrics(host.host(), params);
}

warmup_metric_event event(warmup_metric_kind kind, double value, std::string_view arm = "",
                          warmup_model_index model = WARMUP_NO_MODEL) {
    return warmup_metric_event{static_cast<uint32_t>(kind), model, 0, value, sdk::to_view(arm)};
}

std::string render(PrometheusMetrics& sink) {
    std::string text;
    sink.render("prometheus", text);
    return text;
}

bool contains_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

#define EXPECT_LINE(text, line) EXPECT_TRUE(contains_line(text, line)) << "missing line: " << (line) << "\n" << (text)
#define EXPECT_NO_LINE_STARTING(text, prefix) \
    EXPECT_EQ(("\n" + (text)).find("\n" + std::string(prefix)), std::string::npos) << (text)

/// A batch whose expected rendering is hand-computed in the tests below.
void record_reference_batch(PrometheusMetrics& sink, warmup_model_index llama, warmup_model_index phi) {
    const std::vector<warmup_metric_event> batch{
        event(WARMUP_METRIC_REQUEST_WARM, 3, "", llama),
        event(WARMUP_METRIC_REQUEST_COLD, 1, "", phi),
        event(WARMUP_METRIC_COLD_WAIT_MS, 1500),  // 1.5 s: le="2.5" and above
        event(WARMUP_METRIC_COLD_WAIT_MS, 100),   // 0.1 s: exactly on the first bound, counted in le="0.1"
        event(WARMUP_METRIC_WARMUP_STARTED, 1),
        event(WARMUP_METRIC_WARMUP_SUCCEEDED, 2000),  // 2 s load
        event(WARMUP_METRIC_WARMUP_FAILED, 1),
        event(WARMUP_METRIC_EVICTION, 1000),  // value is MiB freed; counted once
        event(WARMUP_METRIC_PREWARM_USED, 1),
        event(WARMUP_METRIC_PREWARM_USED, 1),
        event(WARMUP_METRIC_PREWARM_USED, 1),
        event(WARMUP_METRIC_PREWARM_WASTED, 1),  // precision 3/4
        event(WARMUP_METRIC_IDLE_GAP_WARM, 1),
        event(WARMUP_METRIC_IDLE_GAP_REQUEST, 1),
        event(WARMUP_METRIC_IDLE_GAP_REQUEST, 1),     // recall 1/2
        event(WARMUP_METRIC_DECISION_CYCLE_US, 200),  // 0.0002 s
        event(WARMUP_METRIC_EVENTS_ACCEPTED, 42),
        event(WARMUP_METRIC_QUEUE_DEPTH, 4),
        event(WARMUP_METRIC_QUEUE_DEPTH, 5),  // a gauge keeps the last value
        event(WARMUP_METRIC_RESIDENT_MB, 2500),
        event(WARMUP_METRIC_REQUEST_COLD, 2, "B"),
        event(static_cast<warmup_metric_kind>(999), 1),  // a kind from a newer ABI: ignored
    };
    sink.record(batch);
}

TEST(PrometheusMetrics, RendersRecordedBatch) {
    test::PluginTestHost host;
    auto sink = make_sink(host);
    record_reference_batch(sink, host.model("llama3:8b"), host.model("phi3"));
    const std::string text = render(sink);
    EXPECT_LINE(text, "# TYPE warmup_requests_total counter");
    EXPECT_LINE(text, "warmup_requests_total{arm=\"default\",result=\"warm\"} 3");
    EXPECT_LINE(text, "warmup_requests_total{arm=\"default\",result=\"cold\"} 1");
    EXPECT_LINE(text, "warmup_requests_total{arm=\"B\",result=\"cold\"} 2");
    EXPECT_LINE(text, "warmup_requests_total{arm=\"B\",result=\"warm\"} 0");
    EXPECT_LINE(text, "warmup_warmups_started_total{arm=\"default\"} 1");
    EXPECT_LINE(text, "warmup_warmups_succeeded_total{arm=\"default\"} 1");
    EXPECT_LINE(text, "warmup_warmups_failed_total{arm=\"default\"} 1");
    EXPECT_LINE(text, "warmup_evictions_total{arm=\"default\"} 1");
    EXPECT_LINE(text, "warmup_unloads_total{arm=\"default\"} 0");
    EXPECT_LINE(text, "warmup_prewarms_used_total{arm=\"default\"} 3");
    EXPECT_LINE(text, "warmup_prewarms_wasted_total{arm=\"default\"} 1");
    EXPECT_LINE(text, "warmup_events_accepted_total{arm=\"default\"} 42");
    EXPECT_LINE(text, "warmup_idle_gap_requests_total{arm=\"default\",result=\"warm\"} 1");
    EXPECT_LINE(text, "warmup_idle_gap_requests_total{arm=\"default\",result=\"any\"} 2");
    EXPECT_LINE(text, "# TYPE warmup_queue_depth gauge");
    EXPECT_LINE(text, "warmup_queue_depth{arm=\"default\"} 5");
    EXPECT_LINE(text, "warmup_resident_memory_bytes{arm=\"default\"} 2621440000");  // 2500 MiB
    EXPECT_LINE(text, "warmup_prediction_precision{arm=\"default\"} 0.75");
    EXPECT_LINE(text, "warmup_prediction_recall{arm=\"default\"} 0.5");
    EXPECT_NO_LINE_STARTING(text, "warmup_prediction_precision{arm=\"B\"}");  // no data: omitted, not 0 or NaN
    EXPECT_NO_LINE_STARTING(text, "warmup_prediction_recall{arm=\"B\"}");
    EXPECT_LINE(text, "# TYPE warmup_cold_wait_seconds histogram");
    EXPECT_LINE(text, "warmup_cold_wait_seconds_bucket{arm=\"default\",le=\"0.1\"} 1");
    EXPECT_LINE(text, "warmup_cold_wait_seconds_bucket{arm=\"default\",le=\"1\"} 1");
    EXPECT_LINE(text, "warmup_cold_wait_seconds_bucket{arm=\"default\",le=\"2.5\"} 2");
    EXPECT_LINE(text, "warmup_cold_wait_seconds_bucket{arm=\"default\",le=\"+Inf\"} 2");
    EXPECT_LINE(text, "warmup_cold_wait_seconds_sum{arm=\"default\"} 1.6");
    EXPECT_LINE(text, "warmup_cold_wait_seconds_count{arm=\"default\"} 2");
    EXPECT_LINE(text, "warmup_load_seconds_bucket{arm=\"default\",le=\"1\"} 0");
    EXPECT_LINE(text, "warmup_load_seconds_bucket{arm=\"default\",le=\"2.5\"} 1");
    EXPECT_LINE(text, "warmup_decision_cycle_seconds_bucket{arm=\"default\",le=\"0.0001\"} 0");
    EXPECT_LINE(text, "warmup_decision_cycle_seconds_bucket{arm=\"default\",le=\"0.00025\"} 1");
    EXPECT_LINE(text, "warmup_decision_cycle_seconds_sum{arm=\"default\"} 0.0002");
    EXPECT_LINE(text,
                "warmup_model_requests_total{arm=\"default\",model=\"phi3\",result=\"cold\"} 1");  // on by default
}

TEST(PrometheusMetrics, PerModelOffRendersNoModelSeries) {
    test::PluginTestHost host;
    auto sink = make_sink(host, "per_model: false");
    record_reference_batch(sink, host.model("llama3:8b"), host.model("phi3"));
    EXPECT_NO_LINE_STARTING(render(sink), "warmup_model_requests_total");
}

TEST(PrometheusMetrics, EmptySinkShowsDefaultArmAtZero) {
    test::PluginTestHost host;
    auto sink = make_sink(host);
    const std::string text = render(sink);
    EXPECT_LINE(text, "warmup_requests_total{arm=\"default\",result=\"warm\"} 0");
    EXPECT_LINE(text,
                "# HELP warmup_prediction_precision Pre-warms used / (used + wasted); absent until a pre-warm "
                "was used or wasted.");
    EXPECT_NO_LINE_STARTING(text, "warmup_prediction_precision{");
}

TEST(PrometheusMetrics, EscapesLabelValues) {
    test::PluginTestHost host;
    auto sink = make_sink(host);
    const std::vector<warmup_metric_event> batch{event(WARMUP_METRIC_WARMUP_STARTED, 1, "a\"b\\c\nd")};
    sink.record(batch);
    EXPECT_LINE(render(sink), "warmup_warmups_started_total{arm=\"a\\\"b\\\\c\\nd\"} 1");
}

// record() looks an arm up only when an event's name is not where the previous event's was: names of the same length
// in other buffers, and one name in two buffers, must still count under their own arms.
TEST(PrometheusMetrics, ABatchOfSeveralArmsCountsEachUnderItsOwnArm) {
    test::PluginTestHost host;
    auto sink = make_sink(host);
    const std::string arm_a = "arm-a", arm_b = "arm-b", arm_a_again = "arm-a";
    const std::vector<warmup_metric_event> batch{
        event(WARMUP_METRIC_WARMUP_STARTED, 1, arm_a), event(WARMUP_METRIC_WARMUP_STARTED, 1, arm_a),
        event(WARMUP_METRIC_WARMUP_STARTED, 1, arm_b), event(WARMUP_METRIC_WARMUP_STARTED, 1, arm_a_again),
        event(WARMUP_METRIC_WARMUP_STARTED, 1, ""),    event(WARMUP_METRIC_WARMUP_STARTED, 1, arm_b),
        event(WARMUP_METRIC_WARMUP_STARTED, 1, arm_b),
    };
    sink.record(batch);
    const std::string text = render(sink);
    EXPECT_LINE(text, "warmup_warmups_started_total{arm=\"arm-a\"} 3");
    EXPECT_LINE(text, "warmup_warmups_started_total{arm=\"arm-b\"} 3");
    EXPECT_LINE(text, "warmup_warmups_started_total{arm=\"default\"} 1");
}

TEST(PrometheusMetrics, PerModelCountersUseCatalogNames) {
    test::PluginTestHost host;
    auto sink = make_sink(host, "per_model: true");
    record_reference_batch(sink, host.model("llama3:8b"), host.model("phi3"));
    const std::string text = render(sink);
    EXPECT_LINE(text, "warmup_model_requests_total{arm=\"default\",model=\"llama3:8b\",result=\"warm\"} 3");
    EXPECT_LINE(text, "warmup_model_requests_total{arm=\"default\",model=\"llama3:8b\",result=\"cold\"} 0");
    EXPECT_LINE(text, "warmup_model_requests_total{arm=\"default\",model=\"phi3\",result=\"cold\"} 1");
}

/// Every warmup_model_requests_total sample of `arm`: "model/result" -> value.
/// The key of the series that sums the models outside the top (models="other", no model label) in model_samples.
constexpr std::string_view kRest = "models=other";

/// warmup_model_requests_total of `arm` by "<model>/<result>", the rest's series as "models=other/<result>".
std::map<std::string, uint64_t> model_samples(const std::string& text, const std::string& arm = "default") {
    std::map<std::string, uint64_t> samples;
    const std::regex line("warmup_model_requests_total\\{arm=\"" + arm +
                          "\",(?:model=\"([^\"]*)\"|(models=\"other\")),result=\"(warm|cold)\"\\} ([0-9]+)");
    for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it) {
        const std::string key = (*it)[2].matched ? std::string(kRest) : (*it)[1].str();
        samples[key + "/" + (*it)[3].str()] = std::stoull((*it)[4].str());
    }
    return samples;
}

TEST(PrometheusMetrics, TenThousandModelsMakeAtMostTopNPlusOtherSeries) {
    test::PluginTestHost host;
    auto sink = make_sink(host);  // per_model_top: 100 by default
    std::vector<warmup_metric_event> batch;
    uint64_t total = 0;
    for (int i = 0; i < 10'000; ++i) {
        const auto model = host.model("m/" + std::to_string(i));
        const int requests = 1 + i % 7 + (i % 1000 == 0 ? 100 : 0);  // every 1000th model is busy
        batch.push_back(
            event(i % 2 == 0 ? WARMUP_METRIC_REQUEST_COLD : WARMUP_METRIC_REQUEST_WARM, requests, "", model));
        total += static_cast<uint64_t>(requests);
    }
    sink.record(batch);
    const std::string text = render(sink);
    const auto samples = model_samples(text);
    EXPECT_EQ(samples.size(), 2u * 101u);
    // The first 100 models took the places on their first request, the rest went to the rest's series; past the cap
    // each render keeps the busiest (the ten with 100 more requests among them).
    uint64_t first_hundred = 0;
    for (int i = 0; i < 100; ++i) first_hundred += static_cast<uint64_t>(1 + i % 7 + (i % 1000 == 0 ? 100 : 0));
    EXPECT_EQ(samples.at(std::string(kRest) + "/cold") + samples.at(std::string(kRest) + "/warm"),
              total - first_hundred);
    for (int busy = 0; busy < 10'000; busy += 1000)
        EXPECT_TRUE(samples.contains("m/" + std::to_string(busy) + "/cold")) << busy;
    EXPECT_FALSE(samples.contains("m/1/warm"));  // 2 requests: below the top 100 of 10 k

    // One more request per model: the series' increases add up to exactly the requests made (what rate() sums).
    batch.clear();
    for (int i = 0; i < 10'000; ++i)
        batch.push_back(event(WARMUP_METRIC_REQUEST_COLD, 1, "", host.model("m/" + std::to_string(i))));
    sink.record(batch);
    const auto after = model_samples(render(sink));
    EXPECT_EQ(after.size(), 2u * 101u);
    uint64_t increase = 0;
    for (const auto& [key, value] : after) {
        ASSERT_TRUE(samples.contains(key)) << key << ": the top did not change, so neither may the series";
        ASSERT_GE(value, samples.at(key)) << key;
        increase += value - samples.at(key);
    }
    EXPECT_EQ(increase, 10'000u);
    EXPECT_EQ(after.at(std::string(kRest) + "/cold") - samples.at(std::string(kRest) + "/cold"), 9'900u);
}

TEST(PrometheusMetrics, ModelSeriesStayMonotonicAsTheTopChanges) {
    test::PluginTestHost host;
    auto sink = make_sink(host, "per_model_top: 2");
    const auto a = host.model("a"), b = host.model("b"), c = host.model("c");
    const auto requests = [&](warmup_model_index model, int count) {
        const std::vector<warmup_metric_event> batch{event(WARMUP_METRIC_REQUEST_COLD, count, "", model)};
        sink.record(batch);
    };
    requests(a, 5);
    requests(b, 3);
    requests(c, 1);  // no room: counted in the rest's series
    auto samples = model_samples(render(sink));
    EXPECT_EQ(samples["a/cold"], 5u);
    EXPECT_EQ(samples["b/cold"], 3u);
    EXPECT_EQ(samples[std::string(kRest) + "/cold"], 1u);
    EXPECT_FALSE(samples.contains("c/cold"));

    requests(c, 10);  // c (11) overtakes b (3): c's series starts at what it got while in the top, b goes to the rest
    samples = model_samples(render(sink));
    EXPECT_EQ(samples[std::string(kRest) + "/cold"], 11u);  // never decreases
    EXPECT_FALSE(samples.contains("b/cold"));
    EXPECT_EQ(samples["c/cold"], 0u);
    requests(c, 2);
    requests(b, 1);
    samples = model_samples(render(sink));
    EXPECT_EQ(samples["c/cold"], 2u);
    EXPECT_EQ(samples[std::string(kRest) + "/cold"], 12u);
    EXPECT_EQ(samples["a/cold"], 5u);  // the 3 requests since the last render: +2 on c, +1 on the rest

    requests(b, 20);  // b (24) back in the top with c (13), a (5) leaves it: b's series continues from 3
    samples = model_samples(render(sink));
    EXPECT_EQ(samples["b/cold"], 3u);  // continues where it stopped, not lower
    EXPECT_EQ(samples["c/cold"], 2u);
    EXPECT_FALSE(samples.contains("a/cold"));
    EXPECT_EQ(samples[std::string(kRest) + "/cold"], 32u);
}

TEST(PrometheusMetrics, CappedSeriesSurviveStateRoundTripAndOldStateReadsAsShown) {
    test::PluginTestHost host;
    auto source = make_sink(host, "per_model_top: 1");
    const std::vector<warmup_metric_event> batch{event(WARMUP_METRIC_REQUEST_COLD, 2, "", host.model("a")),
                                                 event(WARMUP_METRIC_REQUEST_WARM, 3, "", host.model("b"))};
    source.record(batch);
    const std::string before = render(source);
    auto target = make_sink(host, "per_model_top: 1");
    target.import_state(source.export_state());
    EXPECT_EQ(render(target), before);
    const std::vector<warmup_metric_event> more{event(WARMUP_METRIC_REQUEST_WARM, 1, "", host.model("b"))};
    source.record(more);
    target.record(more);
    EXPECT_EQ(render(target), render(source));

    // State written before the cap: "model =<name> <cold> <warm>", every model rendered with its totals.
    auto old = make_sink(host);
    old.import_state("org.warmup.state.prometheus-counters/1\narm =default\nmodel =a 4 1\nmodel =b 0 2\nend\n");
    const auto samples = model_samples(render(old));
    EXPECT_EQ(samples.at("a/cold"), 4u);
    EXPECT_EQ(samples.at("b/warm"), 2u);
    EXPECT_EQ(samples.at(std::string(kRest) + "/cold"), 0u);
    EXPECT_THROW(old.import_state("org.warmup.state.prometheus-counters/1\narm =x\nmodel =a 1 1 2 0 1\nend\n"),
                 sdk::Error);  // a series above the model's total
}

TEST(PrometheusMetrics, AModelNamedLikeTheOldAggregateHasItsOwnSeriesDistinctFromTheRest) {
    test::PluginTestHost host;
    auto sink = make_sink(host, "per_model_top: 1");
    const std::vector<warmup_metric_event> batch{event(WARMUP_METRIC_REQUEST_COLD, 2, "", host.model("(other)")),
                                                 event(WARMUP_METRIC_REQUEST_COLD, 1, "", host.model("beyond"))};
    sink.record(batch);
    const std::string text = render(sink);
    EXPECT_LINE(text, "warmup_model_requests_total{arm=\"default\",model=\"(other)\",result=\"cold\"} 2");
    EXPECT_LINE(text, "warmup_model_requests_total{arm=\"default\",models=\"other\",result=\"cold\"} 1");
    // Every series (name and labels) appears once: Prometheus refuses a page with a duplicate.
    std::set<std::string> series;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line.front() == '#') continue;
        EXPECT_TRUE(series.insert(line.substr(0, line.rfind(' '))).second) << "duplicate series: " << line;
    }
}

TEST(PrometheusMetrics, UnknownFormatIsUnsupported) {
    test::PluginTestHost host;
    auto sink = make_sink(host);
    std::string text;
    try {
        sink.render("openmetrics", text);
        FAIL() << "expected UNSUPPORTED";
    } catch (const sdk::Error& error) {
        EXPECT_EQ(error.code(), WARMUP_ERROR_UNSUPPORTED);
    }
}

TEST(PrometheusMetrics, StateRoundTripKeepsEverySeries) {
    test::PluginTestHost host;
    auto source = make_sink(host, "per_model: true");
    record_reference_batch(source, host.model("llama3:8b"), host.model("phi 3"));
    const std::vector<warmup_metric_event> odd_arm{event(WARMUP_METRIC_WARMUP_STARTED, 1, "arm with spaces=%")};
    source.record(odd_arm);
    const std::string state = source.export_state();

    auto target = make_sink(host, "per_model: true");
    target.import_state(state);
    EXPECT_EQ(render(target), render(source));
    EXPECT_EQ(target.export_state(), state);
    EXPECT_STREQ(target.state_schema(), "org.warmup.state.prometheus-counters/1");
}

TEST(PrometheusMetrics, ImportedModelNamesUnknownToCatalogAreKeptUntilSeen) {
    test::PluginTestHost exporting_host;
    auto source = make_sink(exporting_host, "per_model: true");
    const std::vector<warmup_metric_event> batch{
        event(WARMUP_METRIC_REQUEST_WARM, 2, "", exporting_host.model("late-model"))};
    source.record(batch);

    test::PluginTestHost fresh_host;  // another process: the catalog has not seen "late-model" yet
    auto target = make_sink(fresh_host, "per_model: true");
    target.import_state(source.export_state());
    EXPECT_LINE(render(target), "warmup_model_requests_total{arm=\"default\",model=\"late-model\",result=\"warm\"} 2");
    const auto late = fresh_host.model("other");  // index 0 here; "late-model" gets index 1
    const auto late_model = fresh_host.model("late-model");
    ASSERT_NE(late, late_model);
    const std::vector<warmup_metric_event> more{event(WARMUP_METRIC_REQUEST_WARM, 1, "", late_model)};
    target.record(more);
    const std::string text = render(target);
    EXPECT_LINE(text, "warmup_model_requests_total{arm=\"default\",model=\"late-model\",result=\"warm\"} 3");
    EXPECT_EQ(text.find("model=\"late-model\",result=\"warm\"} 2"), std::string::npos) << text;
}

TEST(PrometheusMetrics, GarbageImportThrowsAndKeepsState) {
    test::PluginTestHost host;
    auto sink = make_sink(host);
    record_reference_batch(sink, host.model("a"), host.model("b"));
    const std::string before = render(sink);
    const std::string good = sink.export_state();
    const std::vector<std::string> bad_states{
        "",
        "nonsense",
        good.substr(0, good.size() - 4),                                           // truncated: no "end"
        "org.warmup.state.prometheus-counters/1\ncounter requests_warm 1\nend\n",  // counter before arm
        "org.warmup.state.prometheus-counters/1\narm =x\ncounter nope 1\nend\n",
        "org.warmup.state.prometheus-counters/1\narm =x\ncounter requests_warm -1\nend\n",
        "org.warmup.state.prometheus-counters/1\narm =x\nhistogram load 1 1 0 0\nend\n",  // wrong bucket count
        "org.warmup.state.prometheus-counters/1\narm =x\nend\ntrailing\n",
    };
    for (const std::string& bad : bad_states) {
        EXPECT_THROW(sink.import_state(bad), sdk::Error) << bad;
        EXPECT_EQ(render(sink), before) << bad;
    }
}

}  // namespace
}  // namespace warmup::plugins

// The built library, opened as the host opens it (plugin_library_check.hpp).
INSTANTIATE_TEST_SUITE_P(MechanicsPlugins, PluginLibrary,
                         ::testing::Values(warmup::test::PluginLibraryExpectation{
                             "prometheus_metrics.so", "org.warmup.metrics.prometheus", WARMUP_KIND_METRICS, "1.1.0"}),
                         warmup::test::plugin_library_test_name);
