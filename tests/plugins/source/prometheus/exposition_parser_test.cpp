// The Prometheus text exposition parser: the samples of one metric from pages as Triton and vLLM serve them, and the
// lines it refuses, with their line numbers.
#include "exposition_parser.hpp"

#include <gtest/gtest.h>

#include "fake_metrics_endpoint.hpp"

namespace warmup::plugins {
namespace {

std::vector<ExpositionSample> parse(std::string_view text, std::string_view metric,
                                    std::vector<ExpositionProblem>* problems_out = nullptr) {
    std::vector<ExpositionProblem> problems;
    auto samples = parse_exposition_samples(text, metric, problems);
    if (problems_out != nullptr)
        *problems_out = problems;
    else
        EXPECT_TRUE(problems.empty()) << problems.front().line << ": " << problems.front().reason;
    return samples;
}

TEST(ExpositionParser, TritonPage) {
    const auto samples =
        parse(test::FakeMetricsEndpoint::triton_page({{"resnet50", 12}, {"bert", 3}}), "nv_inference_request_success");
    ASSERT_EQ(samples.size(), 2u);
    EXPECT_EQ(*samples[0].label("model"), "bert");
    EXPECT_EQ(*samples[0].label("version"), "1");
    EXPECT_EQ(samples[0].value, 3);
    EXPECT_EQ(*samples[1].label("model"), "resnet50");
    EXPECT_EQ(samples[1].value, 12);
}

TEST(ExpositionParser, VllmPageWithColonsAndNamesThatStartTheSame) {
    const auto samples = parse(test::FakeMetricsEndpoint::vllm_page({{"meta-llama/Llama-3.1-8B-Instruct", 7}}),
                               "vllm:request_success_total");
    ASSERT_EQ(samples.size(), 2u);  // stop and length; not vllm:request_success_created
    EXPECT_EQ(*samples[0].label("model_name"), "meta-llama/Llama-3.1-8B-Instruct");
    EXPECT_EQ(samples[0].value + samples[1].value, 7);
}

TEST(ExpositionParser, EscapesSpacesTimestampsAndOddButValidForms) {
    const auto samples = parse(
        "m{a=\"x\\\"y\\\\z\\nw\"} 1\n"               // escaped quote, backslash, newline
        "  m { a = \"b\" , } 2.5e3 1700000000000\n"  // blanks around tokens, trailing comma, a timestamp
        "m 4\r\n"                                    // no labels, CRLF
        "m{} +5\n"
        "# m{a=\"comment\"} 99\n"
        "mm 6\nm_total 7\n",
        "m");
    ASSERT_EQ(samples.size(), 4u);
    EXPECT_EQ(*samples[0].label("a"), "x\"y\\z\nw");
    EXPECT_EQ(samples[1].value, 2500);
    EXPECT_EQ(*samples[1].label("a"), "b");
    EXPECT_EQ(samples[2].value, 4);
    EXPECT_TRUE(samples[2].labels.empty());
    EXPECT_EQ(samples[3].value, 5);
}

TEST(ExpositionParser, RefusedLinesOfTheMetricAreReportedAndSkipped) {
    std::vector<ExpositionProblem> problems;
    const auto samples = parse(
        "m{a=\"1\"} 1\n"
        "m{a=\"unterminated} 2\n"
        "m{a=1} 3\n"
        "m{a=\"1\"}\n"
        "m{a=\"1\"} lots\n"
        "m{a=\"1\"} NaN\n"
        "m{a=\"1\"} 5 later\n"
        "m{a=\"1\" b=\"2\"} 6\n"
        "m{a=\"\\t\"} 7\n"
        "other{broken 8\n"  // another metric: not parsed, no problem
        "m{a=\"2\"} 9\n",
        "m", &problems);
    ASSERT_EQ(samples.size(), 2u);
    EXPECT_EQ(samples[0].value, 1);
    EXPECT_EQ(samples[1].value, 9);
    ASSERT_EQ(problems.size(), 8u);
    EXPECT_EQ(problems[0].line, 2u);
    EXPECT_EQ(problems[0].reason, "unterminated value of label 'a'");
    EXPECT_EQ(problems[1].reason, "expected '\"' to open the value of label 'a'");
    EXPECT_EQ(problems[2].reason, "no value");
    EXPECT_EQ(problems[3].reason, "value 'lots' is not a finite number");
    EXPECT_EQ(problems[4].reason, "value 'NaN' is not a finite number");
    EXPECT_EQ(problems[5].reason, "timestamp 'later' is not a number");
    EXPECT_EQ(problems[6].reason, "expected ',' or '}' after a label");
    EXPECT_EQ(problems[7].line, 9u);
    EXPECT_EQ(problems[7].reason, "unknown escape '\\t' in the value of label 'a'");
}

TEST(ExpositionParser, OpenMetricsTimestampsInSecondsAndExemplarsAreRead) {
    std::vector<ExpositionProblem> problems;
    const auto samples = parse(
        "m_total{model_name=\"a\"} 2 1700000000.5\n"                     // a timestamp in seconds with a fraction
        "m_total{model_name=\"b\"} 3 # {trace_id=\"abc\"} 1.0\n"         // an exemplar, no timestamp
        "m_total{model_name=\"c\"} 4 1700000000 # {trace_id=\"d\"} 1\n"  // both
        "m_total{model_name=\"d\"} 5 1700000000000\n",                   // integer milliseconds (format 0.0.4)
        "m_total", &problems);
    EXPECT_TRUE(problems.empty()) << problems.front().reason;
    ASSERT_EQ(samples.size(), 4u);
    EXPECT_EQ(samples[0].value, 2);
    EXPECT_EQ(samples[1].value, 3);
    EXPECT_EQ(samples[2].value, 4);
    EXPECT_EQ(samples[3].value, 5);
}

TEST(ExpositionParser, SeriesKeyIgnoresLabelOrder) {
    const auto samples = parse("m{a=\"1\",b=\"2\"} 1\nm{b=\"2\",a=\"1\"} 1\nm{a=\"1\",b=\"3\"} 1\n", "m");
    ASSERT_EQ(samples.size(), 3u);
    EXPECT_EQ(samples[0].series_key(), samples[1].series_key());
    EXPECT_NE(samples[0].series_key(), samples[2].series_key());
}

}  // namespace
}  // namespace warmup::plugins
