// What an operator's monitoring sees of the real daemon: /metrics passes `promtool check metrics` with 10 k models
// (per-model series capped), every number of /api/warmup/status has a metric with the same value, the Grafana
// dashboard and the alert rules of configs/monitoring/ name only metrics a running warmupd exports, the rules pass
// `promtool check rules` and their unit tests, and a real Prometheus scrapes warmupd with the shipped configuration,
// evaluates every rule without error and answers every dashboard query with data.
//
// build/bin/warmupd runs as a child process (test_support.hpp Daemon) on a sim-backend configuration with an
// experiment arm, kept state (a snapshot every second), a model family whose loads always fail and a small ingest
// queue where a test needs refusals. promtool and prometheus come from the Debian package `prometheus`
// (scripts/install-deps.sh): without them the tests fail and say so. Every wait is bounded.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_test_fixture.hpp"
#include "test_support.hpp"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using warmup::test::Daemon;
using warmup::test::poll_until;

const std::string kMonitoringDir = std::string(WARMUP_TEST_SOURCE_DIR) + "/configs/monitoring";
constexpr const char* kPromtool = "/usr/bin/promtool";
constexpr const char* kPrometheus = "/usr/bin/prometheus";

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

/// Exit status and output (stdout and stderr) of a shell command.
std::pair<int, std::string> run(const std::string& command) {
    std::string out;
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return {-1, "popen failed"};
    char buffer[4096];
    std::size_t got = 0;
    while ((got = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, got);
    const int status = pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool have(const char* program) { return access(program, X_OK) == 0; }
#define REQUIRE_PROMETHEUS_TOOLS()                                                                    \
    ASSERT_TRUE(have(kPromtool) && have(kPrometheus))                                                 \
        << kPromtool << " or " << kPrometheus << " missing: install the Debian package `prometheus` " \
        << "(scripts/install-deps.sh)"

/// One sample line of the text format: "name{labels}" (exactly as written) -> value.
using Samples = std::map<std::string, double>;

Samples parse_samples(const std::string& text) {
    Samples samples;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto space = line.rfind(' ');
        samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return samples;
}

/// Every metric name a page exports: the families of its TYPE lines (with _bucket, _sum and _count for
/// histograms) and the names of its samples.
std::set<std::string> exported_names(const std::string& text) {
    std::set<std::string> names;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        std::smatch match;
        if (std::regex_match(line, match, std::regex(R"(# TYPE (\S+) (\S+))"))) {
            names.insert(match[1]);
            if (match[2] == "histogram")
                for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(match[1].str() + suffix);
        } else if (!line.empty() && line[0] != '#') {
            names.insert(line.substr(0, line.find_first_of("{ ")));
        }
    }
    return names;
}

/// The warmup_* metric names an expression mentions (recording rules, warmup:..., are not metric names).
std::set<std::string> metric_names_in(const std::string& expression) {
    std::set<std::string> names;
    const std::regex name(R"((^|[^A-Za-z0-9_:])(warmup_[A-Za-z0-9_]+))");
    for (std::sregex_iterator it(expression.begin(), expression.end(), name), end; it != end; ++it)
        names.insert((*it)[2]);
    return names;
}

/// Every PromQL text of the dashboard: panel targets' expr and the templating queries.
void collect_queries(const json& node, std::vector<std::string>& out) {
    if (node.is_object()) {
        for (const auto& [key, value] : node.items()) {
            if ((key == "expr" || key == "definition") && value.is_string()) out.push_back(value.get<std::string>());
            collect_queries(value, out);
        }
    } else if (node.is_array()) {
        for (const auto& item : node) collect_queries(item, out);
    }
}

std::vector<std::string> dashboard_queries() {
    const json dashboard = json::parse(read_file(kMonitoringDir + "/warmupd-dashboard.json"));
    std::vector<std::string> queries;
    collect_queries(dashboard["panels"], queries);
    collect_queries(dashboard["templating"], queries);
    return queries;
}

/// The expr: values of the alert rule file (a block scalar's lines joined).
std::vector<std::string> rule_expressions() {
    std::vector<std::string> expressions;
    std::istringstream lines(read_file(kMonitoringDir + "/warmupd-alerts.yaml"));
    std::string line;
    std::string* current = nullptr;
    std::size_t block_indent = 0;
    while (std::getline(lines, line)) {
        const auto indent = line.find_first_not_of(' ');
        if (current != nullptr && indent != std::string::npos && indent > block_indent) {
            *current += line.substr(indent) + " ";
            continue;
        }
        current = nullptr;
        std::smatch match;
        if (std::regex_match(line, match, std::regex(R"((\s*)(- )?expr: (.*))"))) {
            expressions.push_back(match[3] == "|" ? "" : match[3].str());
            if (match[3] == "|") {
                current = &expressions.back();
                block_indent = match[1].length() + match[2].length();
            }
        }
    }
    return expressions;
}

/// A TCP port nobody listens on now (bound to 0, read, closed).
int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t size = sizeof address;
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
    close(fd);
    return ntohs(address.sin_port);
}

class MonitoringTest : public warmup::test::DaemonTest {
  protected:
    MonitoringTest() : DaemonTest("warmupd-monitoring") {}

    void start(uint32_t ingest_queue_capacity = 65536) {
        const std::string plugins = WARMUP_TEST_PLUGIN_DIR;
        std::ostringstream yaml;
        yaml << "plugin_dirs: [\"" << plugins << "\"]\n"
             << "budgets: {memory_mb: 4000, ingest_queue_capacity: " << ingest_queue_capacity << "}\n"
             << "components:\n"
                "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
                "  predictor: {plugin: org.warmup.predictor.keep-alive}\n"
                "  performance: {plugin: org.warmup.performance.calibrated}\n"
                "  scheduler: {plugin: org.warmup.scheduler.lead-time, params: {retry_base_ms: 10, max_attempts: 2}}\n"
                "  resource: {plugin: org.warmup.resource.lru}\n"
                "  queue: {plugin: org.warmup.queue.priority}\n"
                "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
                "  backend: {plugin: org.warmup.backend.sim, params: {fail_models: [\"bad/*\"]}}\n"
                "catalog:\n"
                "  - {model: \"m/*\", memory_mb: 100, load_ms: 5}\n"
                "  - {model: \"bad/*\", memory_mb: 100, load_ms: 5}\n"
             << "state: {dir: \"" << (dir_.path() / "state").string() << "\", snapshot_interval_s: 1}\n"
             << "experiment: {enabled: true, split: model, control_weight: 1}\n"
                "arms:\n"
                "  - {name: treatment, weight: 1, components: {predictor: {plugin: "
                "org.warmup.predictor.idle-histogram}}}\n";
        start_daemon(yaml.str());
        if (HasFatalFailure()) return;
        client_->set_read_timeout(30);  // 10 k models: the /metrics page takes a while on a loaded machine
        client_->set_write_timeout(30);
    }
    std::string metrics() {
        const auto result = client_->Get("/metrics");
        if (!result || result->status != 200) return "";
        return result->body;
    }
    json status() {
        const auto result = client_->Get("/api/warmup/status");
        return result ? json::parse(result->body, nullptr, false) : json();
    }
    int post_events(const std::string& ndjson) {
        const auto result = client_->Post("/api/warmup/events", ndjson, "application/x-ndjson");
        return result ? result->status : 0;
    }
    /// `promtool check metrics` of the page; "" when it passes, else its complaints.
    std::string promtool_complaints(const std::string& page) {
        const auto file = dir_.write("metrics.txt", page);
        const auto [code, out] = run(std::string(kPromtool) + " check metrics < '" + file.string() + "'");
        return code == 0 && out.empty() ? "" : "exit " + std::to_string(code) + ": " + out;
    }
};

TEST_F(MonitoringTest, MetricsPassPromtoolAndStayBoundedWithTenThousandModels) {
    REQUIRE_PROMETHEUS_TOOLS();
    start();
    ASSERT_TRUE(poll_until([&] { return !metrics().empty(); }, 10s));
    const std::string idle = metrics();
    EXPECT_EQ(promtool_complaints(idle), "") << idle;

    std::string body;
    for (int i = 0; i < 10'000; ++i) body += "{\"model\":\"m/" + std::to_string(i) + "\"}\n";
    ASSERT_EQ(post_events(body), 200);
    const auto requests = [](const Samples& samples) {
        double total = 0;
        for (const auto& [series, value] : samples)
            if (series.starts_with("warmup_requests_total{")) total += value;
        return total;
    };
    std::string page;
    ASSERT_TRUE(poll_until(
        [&] {
            page = metrics();
            return requests(parse_samples(page)) == 10'000;
        },
        30s))
        << page;
    EXPECT_EQ(promtool_complaints(page), "");

    // Both arms saw about half the models each; each shows at most 100 models plus the rest (models="other").
    const Samples samples = parse_samples(page);
    std::map<std::string, int> model_series;
    double model_requests = 0;
    for (const auto& [series, value] : samples)
        if (series.starts_with("warmup_model_requests_total{")) {
            ++model_series[series.substr(0, series.find(",model"))];  // ",model=" or the rest's ",models="
            model_requests += value;
        }
    ASSERT_EQ(model_series.size(), 2u) << page.substr(0, 2000);
    for (const auto& [arm, count] : model_series) EXPECT_EQ(count, 2 * 101) << arm;
    EXPECT_LE(samples.size(), 1000u) << "series on the page with 10 k models";
    // No model has left the top yet (each has one request), so the series still add up to every request.
    EXPECT_EQ(model_requests, 10'000);
}

/// /api/warmup/status key -> the control arm's metric with the same number (several: their sum; a factor converts
/// MiB to bytes). A /status counter missing here fails the test.
struct StatusMetric {
    std::vector<std::string> series;
    double factor = 1;
};
const std::map<std::string, StatusMetric> kCounterMetrics{
    {"events", {{"warmup_request_events_total{arm=\"control\"}"}}},
    {"requests",
     {{"warmup_requests_total{arm=\"control\",result=\"warm\"}",
       "warmup_requests_total{arm=\"control\",result=\"cold\"}"}}},
    {"warm_requests", {{"warmup_requests_total{arm=\"control\",result=\"warm\"}"}}},
    {"cold_requests", {{"warmup_requests_total{arm=\"control\",result=\"cold\"}"}}},
    {"failed_requests", {{"warmup_failed_requests_total{arm=\"control\"}"}}},
    {"demand_loads", {{"warmup_demand_loads_total{arm=\"control\"}"}}},
    {"loads_queued_for_memory", {{"warmup_loads_queued_for_memory_total{arm=\"control\"}"}}},
    {"prewarms_started", {{"warmup_prewarms_started_total{arm=\"control\"}"}}},
    {"prewarms_used", {{"warmup_prewarms_used_total{arm=\"control\"}"}}},
    {"prewarms_wasted", {{"warmup_prewarms_wasted_total{arm=\"control\"}"}}},
    {"prewarms_skipped", {{"warmup_prewarms_skipped_total{arm=\"control\"}"}}},
    {"loads_succeeded", {{"warmup_warmups_succeeded_total{arm=\"control\"}"}}},
    {"loads_failed", {{"warmup_warmups_failed_total{arm=\"control\"}"}}},
    {"loads_given_up", {{"warmup_loads_given_up_total{arm=\"control\"}"}}},
    {"evictions", {{"warmup_evictions_total{arm=\"control\"}"}}},
    {"unloads", {{"warmup_unloads_total{arm=\"control\"}"}}},
    {"queue_rejections", {{"warmup_queue_rejections_total{arm=\"control\"}"}}},
    {"plugin_errors", {{"warmup_plugin_errors_total{arm=\"control\"}"}}},
    {"events_accepted", {{"warmup_events_accepted_total{arm=\"control\"}"}}},
    {"events_refused", {{"warmup_events_refused_total"}}},
    {"events_invalid", {{"warmup_events_invalid_total"}}},
};
const std::map<std::string, StatusMetric> kTopLevelMetrics{
    {"budget_mb", {{"warmup_memory_budget_bytes{arm=\"control\"}"}, 1024.0 * 1024.0}},
    {"used_mb", {{"warmup_resident_memory_bytes{arm=\"control\"}"}, 1024.0 * 1024.0}},
    {"unloading_mb", {{"warmup_unloading_memory_bytes{arm=\"control\"}"}, 1024.0 * 1024.0}},
    {"loads_in_flight", {{"warmup_loads_in_flight{arm=\"control\"}"}}},
    {"queue_depth", {{"warmup_queue_depth{arm=\"control\"}"}}},
    {"memory_waiters", {{"warmup_memory_waiters{arm=\"control\"}"}}},
    {"warm_count", {{"warmup_models{arm=\"control\",state=\"ready\"}"}}},
    {"loading_count", {{"warmup_models{arm=\"control\",state=\"loading\"}"}}},
    {"queued_count", {{"warmup_models{arm=\"control\",state=\"queued\"}"}}},
    {"warm_mb", {{"warmup_models_memory_bytes{arm=\"control\",state=\"ready\"}"}, 1024.0 * 1024.0}},
    {"loading_mb", {{"warmup_models_memory_bytes{arm=\"control\",state=\"loading\"}"}, 1024.0 * 1024.0}},
};
// The numbers of /api/warmup/status that are clocks: now, the time since the start (Prometheus has time() -
// warmup_start_time_seconds), and the start, which the metric gives to the millisecond (compared apart).
const std::set<std::string> kStatusNumbersWithoutMetric{"now_ms", "uptime_s", "started_unix_ms"};

TEST_F(MonitoringTest, EveryStatusNumberHasAMetricWithTheSameValue) {
    start(/*ingest_queue_capacity=*/8);
    // One body of 20 events into an 8-event queue: 8 accepted, 12 refused (503).
    std::string body;
    for (int i = 0; i < 20; ++i) body += "{\"model\":\"m/" + std::to_string(i % 4) + "\"}\n";
    EXPECT_EQ(post_events(body), 503);
    // Models whose loads fail (given up after 2 attempts, their requests failed; the split sends some of them to the
    // control arm, the one /status shows), and one that loads.
    // The control thread may not have drained the queue yet (a loaded machine): a post refused with 503 is sent again,
    // and counted, so the refused total stays known.
    int refused_again = 0;
    for (const std::string model : {"bad/1", "bad/2", "bad/3", "bad/4", "bad/5", "bad/6", "m/7"}) {
        int answer = 0;
        ASSERT_TRUE(poll_until(
            [&] {
                answer = post_events("{\"model\":\"" + model + "\"}\n");
                if (answer == 503) ++refused_again;
                return answer != 503;
            },
            30s));
        EXPECT_EQ(answer, 200);
    }

    // Two lines refused for their content (400): an unknown model and a line that is no event; the good one kept.
    EXPECT_EQ(post_events("{\"model\":\"nobody/1\"}\nnot json\n{\"model\":\"m/1\"}\n"), 400);

    // Compare once the daemon is quiet: /status unchanged before and after the scrape, nothing loading.
    json before, after;
    std::string page;
    ASSERT_TRUE(poll_until(
        [&] {
            before = status();
            page = metrics();
            after = status();
            return before.is_object() && before["counters"] == after["counters"] && before["loading"].empty() &&
                   before["counters"]["loads_given_up"].get<int>() >= 1 && before["queue_depth"] == 0 &&
                   before["used_mb"] == after["used_mb"];
        },
        30s))
        << before.dump(2);
    const Samples samples = parse_samples(page);
    const auto metric_value = [&](const StatusMetric& metric) {
        double total = 0;
        for (const std::string& series : metric.series) {
            const auto found = samples.find(series);
            if (found == samples.end()) return std::nan("");
            total += found->second;
        }
        return total / metric.factor;
    };
    for (const auto& [key, value] : before["counters"].items()) {
        const auto metric = kCounterMetrics.find(key);
        ASSERT_NE(metric, kCounterMetrics.end()) << "/status counter '" << key << "' has no metric";
        EXPECT_EQ(metric_value(metric->second), value.get<double>()) << key;
    }
    for (const auto& [key, metric] : kTopLevelMetrics)
        EXPECT_EQ(metric_value(metric), before[key].get<double>()) << key;
    for (const auto& [key, value] : before.items())
        EXPECT_TRUE(!value.is_number() || kTopLevelMetrics.contains(key) || kStatusNumbersWithoutMetric.contains(key))
            << "/status number '" << key << "' has no metric";
    EXPECT_NEAR(samples.at("warmup_start_time_seconds") * 1000, before["started_unix_ms"].get<double>(), 1.0);
    EXPECT_EQ(before["counters"]["events_refused"], 12 + refused_again);
    EXPECT_EQ(before["counters"]["events_invalid"], 2);
    EXPECT_GE(before["counters"]["failed_requests"].get<int>(), 1);
    EXPECT_EQ(samples.at("warmup_models{arm=\"control\",state=\"ready\"}"), static_cast<double>(before["warm"].size()));
    EXPECT_EQ(samples.at("warmup_models{arm=\"control\",state=\"queued\"}"),
              static_cast<double>(before["queued"].size()));
}

TEST_F(MonitoringTest, BreakersReloadsAndSnapshotAge) {
    start();
    ASSERT_EQ(client_->Post("/api/warmup/config/reload")->status, 200);    // same file: unchanged
    ASSERT_EQ(client_->Post("/api/warmup/config/rollback")->status, 409);  // nothing to roll back to: refused
    dir_.write("warmupd.yaml", "budgets: {memory_mb: -1}\n");              // a file the next start would refuse
    ASSERT_EQ(client_->Post("/api/warmup/config/reload")->status, 400);    // failed
    Samples samples;
    ASSERT_TRUE(poll_until(
        [&] {
            samples = parse_samples(metrics());
            return samples.contains("warmup_state_last_snapshot_timestamp_seconds");
        },
        20s));
    EXPECT_EQ(samples.at("warmup_config_reloads_total{result=\"unchanged\"}"), 1);
    EXPECT_EQ(samples.at("warmup_config_reloads_total{result=\"failed\"}"), 1);
    EXPECT_EQ(samples.at("warmup_config_reloads_total{result=\"refused\"}"), 1);
    EXPECT_EQ(samples.at("warmup_config_reloads_total{result=\"reloaded\"}"), 0);
    EXPECT_EQ(samples.at("warmup_state_snapshot_interval_seconds"), 1);
    EXPECT_GE(samples.at("warmup_state_snapshot_age_seconds"), 0);
    EXPECT_LT(samples.at("warmup_state_snapshot_age_seconds"), 10);
    const double now_s = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_NEAR(samples.at("warmup_state_last_snapshot_timestamp_seconds"), now_s, 10);
    // Each component of each arm is in exactly one state, closed here.
    for (const std::string arm : {"control", "treatment"})
        for (const std::string component :
             {"analyzer", "predictor", "performance", "scheduler", "resource", "queue", "metrics"}) {
            const std::string prefix =
                "warmup_circuit_breaker_state{arm=\"" + arm + "\",component=\"" + component + "\",state=";
            EXPECT_EQ(samples.at(prefix + "\"closed\"}"), 1) << arm << " " << component;
            EXPECT_EQ(samples.at(prefix + "\"open\"}"), 0) << arm << " " << component;
            EXPECT_EQ(samples.at(prefix + "\"half-open\"}"), 0) << arm << " " << component;
        }
}

TEST_F(MonitoringTest, EmergencyStopSafeModeAndEveryHealthComponentHaveAGauge) {
    start();
    // One warmup_component_degraded series per component of /api/warmup/health/components, with its state.
    const auto expect_gauges_match_health = [&](const Samples& samples) {
        const auto result = client_->Get("/api/warmup/health/components");
        ASSERT_TRUE(result);
        const json health = json::parse(result->body);
        std::size_t series = 0;
        for (const auto& [name, value] : samples) series += name.starts_with("warmup_component_degraded{") ? 1 : 0;
        EXPECT_EQ(series, health["components"].size());
        for (const auto& component : health["components"]) {
            const std::string name =
                "warmup_component_degraded{component=\"" + component["component"].get<std::string>() + "\"}";
            ASSERT_TRUE(samples.contains(name)) << name;
            EXPECT_EQ(samples.at(name), component["state"] == "ok" ? 0 : 1) << component.dump();
        }
    };
    Samples samples = parse_samples(metrics());
    EXPECT_EQ(samples.at("warmup_emergency_stop"), 0);
    EXPECT_EQ(samples.at("warmup_safe_mode"), 0);
    EXPECT_EQ(samples.at("warmup_component_degraded{component=\"engine\"}"), 0);
    expect_gauges_match_health(samples);

    ASSERT_EQ(client_->Post("/api/warmup/emergency-stop")->status, 200);
    const std::string stopped = metrics();
    EXPECT_EQ(promtool_complaints(stopped), "");
    samples = parse_samples(stopped);
    EXPECT_EQ(samples.at("warmup_emergency_stop"), 1);
    EXPECT_EQ(samples.at("warmup_component_degraded{component=\"engine\"}"), 1);
    expect_gauges_match_health(samples);

    ASSERT_EQ(client_->Post("/api/warmup/reset-to-safe")->status, 200);
    samples = parse_samples(metrics());
    EXPECT_EQ(samples.at("warmup_emergency_stop"), 0);
    EXPECT_EQ(samples.at("warmup_safe_mode"), 1);
    EXPECT_EQ(samples.at("warmup_component_degraded{component=\"engine\"}"), 1);  // safe configuration in force
    expect_gauges_match_health(samples);
}

TEST_F(MonitoringTest, DashboardAndAlertRulesNameOnlyExportedMetrics) {
    start();
    const std::set<std::string> exported = exported_names(metrics());
    const std::vector<std::string> queries = dashboard_queries();
    ASSERT_GE(queries.size(), 20u);
    std::set<std::string> used;
    for (const std::string& query : queries)
        for (const std::string& name : metric_names_in(query)) {
            used.insert(name);
            EXPECT_TRUE(exported.contains(name)) << "the dashboard queries " << name << ", which warmupd does not "
                                                 << "export: " << query;
        }
    // What the dashboard must show: budget and resident memory, warm/loading/queued, cold rate and wait,
    // precision and recall, loads and evictions, breakers, arms.
    for (const std::string name :
         {"warmup_memory_budget_bytes", "warmup_resident_memory_bytes", "warmup_models", "warmup_requests_total",
          "warmup_cold_wait_seconds_bucket", "warmup_prewarms_used_total", "warmup_idle_gap_requests_total",
          "warmup_demand_loads_total", "warmup_evictions_total", "warmup_circuit_breaker_state"})
        EXPECT_TRUE(used.contains(name)) << "the dashboard does not show " << name;

    const std::vector<std::string> rules = rule_expressions();
    ASSERT_GE(rules.size(), 8u);
    for (const std::string& rule : rules)
        for (const std::string& name : metric_names_in(rule))
            EXPECT_TRUE(exported.contains(name))
                << "an alert rule uses " << name << ", which warmupd does not export: " << rule;
}

TEST(MonitoringFiles, AlertRulesPassPromtoolCheckAndTheirUnitTests) {
    REQUIRE_PROMETHEUS_TOOLS();
    const std::string cd = "cd '" + kMonitoringDir + "' && ";
    for (const std::string command :
         {"check rules warmupd-alerts.yaml", "test rules warmupd-alerts.test.yaml", "check config prometheus.yaml"}) {
        const auto [code, out] = run(cd + kPromtool + " " + command);
        EXPECT_EQ(code, 0) << "promtool " << command << "\n" << out;
    }
}

/// A real Prometheus (the Debian package's) scraping the daemon every second with the shipped configuration.
TEST_F(MonitoringTest, RealPrometheusScrapesEvaluatesEveryRuleAndAnswersEveryDashboardQuery) {
    REQUIRE_PROMETHEUS_TOOLS();
    start();
    std::string body;
    for (int i = 0; i < 50; ++i) body += "{\"model\":\"m/" + std::to_string(i % 10) + "\"}\n";
    ASSERT_EQ(post_events(body), 200);
    ASSERT_EQ(post_events("{\"model\":\"bad/1\"}\n"), 200);

    std::string config = read_file(kMonitoringDir + "/prometheus.yaml");
    const auto replace = [&](const std::string& from, const std::string& to) {
        const auto at = config.find(from);
        ASSERT_NE(at, std::string::npos) << from;
        config.replace(at, from.size(), to);
    };
    replace("targets: [\"127.0.0.1:3000\"]", "targets: [\"127.0.0.1:" + std::to_string(port_) + "\"]");
    replace("scrape_interval: 15s", "scrape_interval: 1s");
    replace("evaluation_interval: 15s", "evaluation_interval: 1s");
    replace("- warmupd-alerts.yaml", "- " + kMonitoringDir + "/warmupd-alerts.yaml");
    const auto config_file = dir_.write("prometheus.yaml", config);
    const int port = free_port();
    Daemon prometheus(
        {"--config.file=" + config_file.string(), "--storage.tsdb.path=" + (dir_.path() / "tsdb").string(),
         "--web.listen-address=127.0.0.1:" + std::to_string(port)},
        Daemon::Capture::StdoutAndStderr, kPrometheus);
    httplib::Client api("127.0.0.1", port);
    api.set_read_timeout(10);
    const auto query = [&](const std::string& promql) {
        const auto result = api.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
        const json answer = result ? json::parse(result->body, nullptr, false) : json();
        return answer.is_object() ? answer : json::object();
    };
    json answer;
    ASSERT_TRUE(poll_until(
        [&] {
            answer = query("count_over_time(warmup_build_info{job=\"warmupd\"}[1m])");
            return answer.value("status", "") == "success" && !answer["data"]["result"].empty() &&
                   std::stod(answer["data"]["result"][0]["value"][1].get<std::string>()) >= 5;
        },
        60s))
        << answer.dump() << "\n"
        <<
        [&] {
            const auto targets = api.Get("/api/v1/targets");
            return targets ? targets->body : std::string("no answer from /api/v1/targets");
        }()
        << "\n"
        << prometheus.log();

    // Every dashboard query, with Grafana's variables as a user leaving them at "All" would send them.
    for (std::string promql : dashboard_queries()) {
        for (const auto& [variable, value] : std::vector<std::pair<std::string, std::string>>{
                 {"$instance", ".*"}, {"$arm", ".*"}, {"$__rate_interval", "4s"}, {"$__range", "1m"}}) {
            for (auto at = promql.find(variable); at != std::string::npos; at = promql.find(variable, at))
                promql.replace(at, variable.size(), value);
        }
        if (promql.starts_with("label_values(")) continue;  // Grafana's own function, checked below
        const json answer = query(promql);
        EXPECT_EQ(answer.value("status", ""), "success") << promql << "\n" << answer.dump();
        // Precision is absent until a pre-warm was used or wasted (none in this short run); everything else has data.
        if (promql.find("warmup_prediction_precision") == std::string::npos) {
            EXPECT_FALSE(answer["data"]["result"].empty()) << "no data for " << promql;
        }
    }
    const auto instances = api.Get("/api/v1/label/instance/values");
    ASSERT_TRUE(instances);
    EXPECT_NE(instances->body.find("127.0.0.1:" + std::to_string(port_)), std::string::npos) << instances->body;

    // Every rule of the shipped file loaded and evaluated without error.
    json groups;
    ASSERT_TRUE(poll_until(
        [&] {
            const auto result = api.Get("/api/v1/rules");
            if (!result) return false;
            groups = json::parse(result->body, nullptr, false)["data"]["groups"];
            if (!groups.is_array() || groups.empty()) return false;
            for (const json& rule : groups[0]["rules"])
                if (rule.value("lastEvaluation", "").starts_with("0001-")) return false;  // not evaluated yet
            return true;
        },
        20s));
    ASSERT_EQ(groups[0]["rules"].size(), 13u);
    for (const json& rule : groups[0]["rules"]) EXPECT_EQ(rule.value("health", ""), "ok") << rule.dump(2);
}

}  // namespace
