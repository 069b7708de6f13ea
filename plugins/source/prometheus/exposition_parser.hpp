// plugins/source/prometheus/exposition_parser.hpp — reads the samples of one metric from a Prometheus text
// exposition (format 0.0.4, what Triton's :8002/metrics and vLLM's /metrics serve; OpenMetrics text parses too, its
// extra comment lines being comments).
//
// No Debian package parses this format in C or C++ (prometheus-cpp only writes it), so this is the one small parser
// of the project, tested in tests/plugins/source/prometheus/exposition_parser_test.cpp. What it accepts, per line:
//   # ...                                          comment, HELP or TYPE: skipped
//   name[{label="value",...}] value [timestamp]    a sample; only samples whose name equals the wanted metric are
//                                                  parsed past their name (a line of another metric, or one this
//                                                  parser would refuse, costs nothing and is no error)
// Names: [a-zA-Z_:][a-zA-Z0-9_:]*; label values: any UTF-8 with \\, \" and \n escaped; whitespace around tokens;
// a trailing comma in the label set; values: floats (Go syntax), +Inf, -Inf, NaN; the timestamp is read and ignored.
// Pure functions: callable from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace warmup::plugins {

struct ExpositionSample {
    std::vector<std::pair<std::string, std::string>> labels;  ///< in the order given
    double value = 0;

    /// The value of label `name`, or nullptr.
    [[nodiscard]] const std::string* label(std::string_view name) const;
    /// One text per distinct label set, whatever the order the labels came in: the series' identity.
    [[nodiscard]] std::string series_key() const;
};

/// A line of the wanted metric that could not be read.
struct ExpositionProblem {
    std::size_t line = 0;  ///< 1-based
    std::string reason;
};

/// "JSON" or "HTML" when an answer is plainly not a text exposition (a Prometheus server's /api/v1/query, a web UI or
/// a proxy's error page): its Content-Type says JSON or HTML, or its body starts (after blanks) with '{', '[' or '<',
/// which no exposition line can start with. "" when it may be one.
std::string_view non_exposition_kind(std::string_view content_type, std::string_view body);

/// The samples named `metric` in `text`, in order. Lines of the metric that cannot be read go to `problems` and are
/// left out.
std::vector<ExpositionSample> parse_exposition_samples(std::string_view text, std::string_view metric,
                                                       std::vector<ExpositionProblem>& problems);

}  // namespace warmup::plugins
