// warmup/sdk/prometheus_text.hpp: label values escaped as the text format requires, the rest copied byte for byte.
#include <gtest/gtest.h>

#include <string>
#include <warmup/sdk/prometheus_text.hpp>

namespace warmup::sdk {
namespace {

std::string label(std::string_view value) {
    std::string out = "model=\"";
    append_prometheus_label_value(out, value);
    return out + '"';
}

TEST(PrometheusLabelValue, EscapesBackslashQuoteAndLineFeedOnly) {
    EXPECT_EQ(label("llama3:8b"), "model=\"llama3:8b\"");
    EXPECT_EQ(label("a\\b\"c\nd"), "model=\"a\\\\b\\\"c\\nd\"");
    EXPECT_EQ(label("tab\there\rcr"), "model=\"tab\there\rcr\"") << "only the three the format names are escaped";
    EXPECT_EQ(label("caf\xC3\xA9"), "model=\"caf\xC3\xA9\"");
    EXPECT_EQ(label(""), "model=\"\"");
}

TEST(PrometheusLabelValue, AppendsAfterWhatIsThere) {
    std::string out = "x";
    append_prometheus_label_value(out, "\"");
    EXPECT_EQ(out, "x\\\"");
}

}  // namespace
}  // namespace warmup::sdk
