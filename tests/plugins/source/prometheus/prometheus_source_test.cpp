// org.warmup.source.prometheus in-process against a stand-in metrics endpoint: Triton's and vLLM's counters turn
// into events with count = increase, counter resets, a server that is down or answers an error, lines it cannot
// read, a full ingest queue, cancellation, a bearer token, and its parameters.
#include "prometheus_source.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <string>

#include "backend_test_support.hpp"
#include "fake_metrics_endpoint.hpp"
#include "plugin_test_host.hpp"
#include "source_test_support.hpp"

namespace warmup::plugins {
namespace {

using test::FakeMetricsEndpoint;
using test::FakeSourcePoll;

class PrometheusSourceTest : public ::testing::Test {
  protected:
    std::unique_ptr<PrometheusSource> make(const std::string& yaml) {
        sdk::Params params(yaml);
        auto source = std::make_unique<PrometheusSource>(host.host(), params);
        params.finish();
        return source;
    }
    std::unique_ptr<PrometheusSource> triton_source() {
        return make("url: " + endpoint.url() + "\nmetric: nv_inference_request_success\ninterval_ms: 1000");
    }
    /// (model, count) of the events received so far.
    static std::vector<std::pair<std::string, uint32_t>> counts(const FakeSourcePoll& poll) {
        std::vector<std::pair<std::string, uint32_t>> out;
        for (const auto& event : poll.events) out.emplace_back(event.model, event.count);
        return out;
    }
    using Counts = std::vector<std::pair<std::string, uint32_t>>;

    test::PluginTestHost host;
    FakeMetricsEndpoint endpoint;
};

TEST_F(PrometheusSourceTest, TritonSuccessCounterIncreasesBecomeEventsWithTheirCount) {
    auto source = triton_source();
    FakeSourcePoll poll;
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"resnet50", 100}, {"bert", 7}}));
    EXPECT_EQ(poll.poll(*source), 1000);
    EXPECT_TRUE(poll.events.empty());  // the baseline

    host.clock.set(1796217528000);
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"resnet50", 105}, {"bert", 7}}));
    poll.poll(*source);
    ASSERT_EQ(counts(poll), (Counts{{"resnet50", 5}}));
    EXPECT_EQ(poll.events[0].ts_ms, 1796217528000);  // the time of the scrape

    poll.poll(*source);  // nothing new served
    EXPECT_EQ(poll.events.size(), 1u);
    EXPECT_TRUE(poll.rejects.empty());
}

TEST_F(PrometheusSourceTest, ACounterResetCountsFromZero) {
    auto source = triton_source();
    FakeSourcePoll poll;
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"resnet50", 100}}));
    poll.poll(*source);
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"resnet50", 2}}));  // Triton restarted, served 2 since
    poll.poll(*source);
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"resnet50", 5}}));
    poll.poll(*source);
    EXPECT_EQ(counts(poll), (Counts{{"resnet50", 2}, {"resnet50", 3}}));
}

TEST_F(PrometheusSourceTest, VllmSuccessCounterSumsItsSeriesPerModelName) {
    auto source = make("url: " + endpoint.url() +
                       "\nmetric: \"vllm:request_success_total\"\nmodel_label: model_name\ninterval_ms: 500");
    FakeSourcePoll poll;
    endpoint.set_page(FakeMetricsEndpoint::vllm_page({{"meta-llama/Llama-3.1-8B-Instruct", 10}}));
    poll.poll(*source);
    endpoint.set_page(FakeMetricsEndpoint::vllm_page({{"meta-llama/Llama-3.1-8B-Instruct", 17}, {"qwen", 4}}));
    EXPECT_EQ(poll.poll(*source), 500);
    EXPECT_EQ(counts(poll), (Counts{{"meta-llama/Llama-3.1-8B-Instruct", 7}, {"qwen", 4}}));
}

TEST_F(PrometheusSourceTest, AServerThatIsDownIsAFailedPollNamingTheUrl) {
    std::string url;
    {
        FakeMetricsEndpoint gone;
        url = gone.url();
    }
    auto source = make("url: " + url + "\nmetric: nv_inference_request_success\nconnect_timeout_ms: 1000");
    FakeSourcePoll poll;
    const sdk::Error error = test::sdk_error_of([&] { poll.poll(*source); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_EQ(std::string(error.what()), "GET " + url + ": connection refused or host unreachable");
}

TEST_F(PrometheusSourceTest, AnErrorStatusIsAFailedPollWithItsBody) {
    auto source = triton_source();
    FakeSourcePoll poll;
    endpoint.set_page("no metrics here", 404);
    const sdk::Error error = test::sdk_error_of([&] { poll.poll(*source); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_EQ(std::string(error.what()), "GET " + endpoint.url() + " answered 404: no metrics here");
}

TEST_F(PrometheusSourceTest, AJsonAnswerIsAFailedPollPointingAtTheMetricsPage) {
    auto source = triton_source();
    FakeSourcePoll poll;
    // What a Prometheus server's /api/v1/query answers: 200, JSON.
    endpoint.set_page(R"({"status":"success","data":{"resultType":"vector","result":[]}})", 200, "application/json");
    const sdk::Error error = test::sdk_error_of([&] { poll.poll(*source); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNAVAILABLE);
    const std::string message = error.what();
    EXPECT_NE(message.find("GET " + endpoint.url() +
                           " answered JSON, not the Prometheus text format: point url at the model server's /metrics"),
              std::string::npos)
        << message;
    EXPECT_TRUE(poll.rejects.empty());
}

TEST_F(PrometheusSourceTest, AnHtmlOrJsonBodyIsAFailedPollWhateverItsContentType) {
    auto source = triton_source();
    FakeSourcePoll poll;
    endpoint.set_page("\n<!DOCTYPE html><html><body>Grafana</body></html>", 200, "text/plain");
    std::string message = test::sdk_error_of([&] { poll.poll(*source); }).what();
    EXPECT_NE(message.find("answered HTML, not the Prometheus text format"), std::string::npos) << message;
    endpoint.set_page(R"({"models": []})", 200, "text/plain");
    message = test::sdk_error_of([&] { poll.poll(*source); }).what();
    EXPECT_NE(message.find("answered JSON, not the Prometheus text format"), std::string::npos) << message;
    endpoint.set_page("<html>x</html>", 200, "text/html; charset=utf-8");
    message = test::sdk_error_of([&] { poll.poll(*source); }).what();
    EXPECT_NE(message.find("answered HTML"), std::string::npos) << message;
    // A real page still reads.
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"resnet50", 1}}));
    EXPECT_NO_THROW(poll.poll(*source));
}

TEST_F(PrometheusSourceTest, APageOverItsLimitIsAFailedPollReadNoFurther) {
    auto source = make("url: " + endpoint.url() + "\nmetric: nv_inference_request_success\nmax_page_mb: 1");
    FakeSourcePoll poll;
    // A valid page, only too long: 2 MiB of other metrics before the counter.
    std::string page;
    while (page.size() < (std::size_t{2} << 20)) page += "other_metric{a=\"" + std::string(100, 'x') + "\"} 1\n";
    endpoint.set_page(page + FakeMetricsEndpoint::triton_page({{"resnet50", 1}}));
    const sdk::Error error = test::sdk_error_of([&] { poll.poll(*source); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_EQ(std::string(error.what()), "GET " + endpoint.url() +
                                             ": the answer's body is over 1 MiB: not read further (is the URL the "
                                             "right one?) (params.max_page_mb)");
    // Under the limit it reads.
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"resnet50", 1}}));
    EXPECT_NO_THROW(poll.poll(*source));
}

TEST_F(PrometheusSourceTest, TwoServersBehindOneUrlAreHintedAtInTheLog) {
    // Two replicas behind one URL answer in turn: A's counter at 1000, B's at 500, each gaining 1 per scrape. Every
    // switch from A to B reads as a reset; A's counter back above 1000 at the next scrape is what the source says.
    // It cannot tell that from every real restart, so it counts as before: the README's "scrape each server directly".
    std::ostringstream log;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
    const auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("prometheus-source-test", sink));
    auto source = triton_source();
    FakeSourcePoll poll;
    double a = 1000, b = 500;
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"resnet50", a}}));
    poll.poll(*source);  // the baseline
    for (int scrape = 1; scrape <= 8; ++scrape) {
        const bool from_b = scrape % 2 == 1;
        endpoint.set_page(FakeMetricsEndpoint::triton_page({{"resnet50", from_b ? ++b : ++a}}));
        EXPECT_NO_THROW(poll.poll(*source));
    }
    spdlog::set_default_logger(previous);
    const std::string said = log.str();
    const std::string hint = "series nv_inference_request_success{model=\"resnet50\",version=\"1\"} at " +
                             endpoint.url() + " went down and back above its old value at the next scrape";
    ASSERT_NE(said.find(hint), std::string::npos) << said;
    EXPECT_EQ(said.find(hint), said.rfind(hint)) << "said once, not at every switch";
}

TEST_F(PrometheusSourceTest, ModelsReloadedByTheirServerOftenAreCountedFromZeroEachTime) {
    // Triton drops a model's series when it unloads it and starts it from 0 when it loads it again: resets on many
    // scrapes, none coming back above its old value, are real and counted. Each model serves one request per scrape;
    // resnet50 is reloaded every third scrape, bert every fourth.
    auto source = triton_source();
    FakeSourcePoll poll;
    double resnet = 50, bert = 50;
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"resnet50", resnet}, {"bert", bert}}));
    poll.poll(*source);
    for (int scrape = 1; scrape <= 12; ++scrape) {
        resnet = scrape % 3 == 0 ? 1 : resnet + 1;
        bert = scrape % 4 == 0 ? 1 : bert + 1;
        endpoint.set_page(FakeMetricsEndpoint::triton_page({{"resnet50", resnet}, {"bert", bert}}));
        EXPECT_NO_THROW(poll.poll(*source)) << "scrape " << scrape;
    }
    uint64_t counted = 0;
    for (const auto& event : poll.events) counted += event.count;
    EXPECT_EQ(counted, 24u);  // every request once
}

TEST(ExpositionKind, OnlyPagesThatCannotBeTextExpositionsAreRefused) {
    EXPECT_EQ(non_exposition_kind("application/json", "x 1"), "JSON");
    EXPECT_EQ(non_exposition_kind("Text/HTML", ""), "HTML");
    EXPECT_EQ(non_exposition_kind("", "  [1, 2]"), "JSON");
    EXPECT_EQ(non_exposition_kind("text/plain", "# HELP x\nx 1\n"), "");
    EXPECT_EQ(non_exposition_kind("application/openmetrics-text; version=1.0.0", "x_total 1\n# EOF\n"), "");
    EXPECT_EQ(non_exposition_kind("text/plain", ""), "");
}

TEST_F(PrometheusSourceTest, UnreadableLinesAndSeriesWithoutTheModelLabelAreReported) {
    auto source = make("url: " + endpoint.url() + "\nmetric: requests_total\nmodel_label: model");
    FakeSourcePoll poll;
    endpoint.set_page("requests_total{model=\"a\"} 1\nrequests_total{model=\"b} 1\nrequests_total{route=\"/x\"} 9\n");
    poll.poll(*source);
    ASSERT_EQ(poll.rejects.size(), 2u);
    EXPECT_EQ(poll.rejects[0], endpoint.url() + " line 2: requests_total: unterminated value of label 'model'");
    EXPECT_EQ(poll.rejects[1], endpoint.url() +
                                   ": series requests_total{route=\"/x\"} has no label 'model' "
                                   "(params.model_label): not counted");
    endpoint.set_page("requests_total{model=\"a\"} 3\nrequests_total{route=\"/x\"} 10\n");
    poll.poll(*source);
    EXPECT_EQ(counts(poll), (Counts{{"a", 2}}));
    EXPECT_EQ(poll.rejects.size(), 2u);  // the unlabelled series is reported once, not at every scrape
}

TEST_F(PrometheusSourceTest, EventsTheQueueHasNoRoomForAreOfferedFirstNextTime) {
    auto source = triton_source();
    FakeSourcePoll poll;
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"a", 0}, {"b", 0}}));
    poll.poll(*source);
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"a", 1}, {"b", 2}}));
    poll.room = 1;
    EXPECT_EQ(poll.poll(*source), PrometheusSource::kQueueFullRetryMs);
    EXPECT_EQ(counts(poll), (Counts{{"a", 1}}));
    const int scrapes = endpoint.scrapes();
    poll.room = 0;
    EXPECT_EQ(poll.poll(*source), PrometheusSource::kQueueFullRetryMs);
    EXPECT_EQ(endpoint.scrapes(), scrapes);  // no scrape while events wait
    poll.room = SIZE_MAX;
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"a", 4}, {"b", 2}}));
    poll.poll(*source);
    EXPECT_EQ(counts(poll), (Counts{{"a", 1}, {"b", 2}, {"a", 3}}));  // nothing lost, kept ones first
}

TEST_F(PrometheusSourceTest, ACancelledPollStopsAtOnce) {
    auto source = triton_source();
    FakeSourcePoll poll;
    poll.cancelled = true;
    EXPECT_EQ(test::sdk_error_of([&] { poll.poll(*source); }).code(), WARMUP_ERROR_CANCELLED);
}

TEST_F(PrometheusSourceTest, BearerTokenIsSentWhenConfigured) {
    endpoint.require_bearer("s3cret");
    endpoint.set_page(FakeMetricsEndpoint::triton_page({{"a", 1}}));
    FakeSourcePoll poll;
    auto without = triton_source();
    EXPECT_NE(std::string(test::sdk_error_of([&] { poll.poll(*without); }).what()).find("answered 401"),
              std::string::npos);
    auto with = make("url: " + endpoint.url() + "\nmetric: nv_inference_request_success\nbearer_token: s3cret");
    EXPECT_NO_THROW(poll.poll(*with));
}

TEST_F(PrometheusSourceTest, AUrlWithoutPathScrapesSlashMetrics) {
    auto source = make("url: http://127.0.0.1:" + std::to_string(endpoint.port()) + "\nmetric: m");
    EXPECT_EQ(source->client().url("/metrics"), endpoint.url());
    endpoint.set_page("m{model=\"a\"} 1\n");
    FakeSourcePoll poll;
    EXPECT_NO_THROW(poll.poll(*source));
    EXPECT_EQ(endpoint.scrapes(), 1);
}

TEST_F(PrometheusSourceTest, ParamsAreChecked) {
    const auto refusal = [&](const std::string& yaml) {
        try {
            make(yaml);
        } catch (const sdk::InvalidArgument& error) {
            return std::string(error.what());
        }
        return std::string("accepted");
    };
    EXPECT_EQ(refusal("metric: m"), "params.url: required: the metrics URL, e.g. http://triton:8002/metrics");
    EXPECT_EQ(refusal("url: http://h/metrics"),
              "params.metric: required: the per-model request counter, e.g. nv_inference_request_success");
    EXPECT_EQ(refusal("url: http://h/metrics\nmetric: 9lives"),
              "params.metric: '9lives' is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
    EXPECT_EQ(refusal("url: http://h/metrics\nmetric: m\nmodel_label: \"a:b\""),
              "params.model_label: 'a:b' is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
    EXPECT_EQ(refusal("url: http://h/metrics\nmetric: m\ninterval_ms: 10"),
              "params.interval_ms: 10 is outside [100, 3600000]");
    EXPECT_NE(refusal("url: ftp://h/metrics\nmetric: m").find("params.url: 'ftp://h/metrics': the scheme must be"),
              std::string::npos);
    EXPECT_EQ(refusal("url: https://h:8443/metrics\nmetric: m\nintervall_ms: 5"),
              "params.intervall_ms: unknown parameter; did you mean 'interval_ms'?");
    EXPECT_EQ(refusal("url: https://h:8443/metrics\nmetric: m"), "accepted");
}

}  // namespace
}  // namespace warmup::plugins
