#include "exposition_parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

namespace warmup::plugins {
namespace {

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_' || c == ':'; }
bool is_name_char(char c) { return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_label_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_'; }
bool is_label_name_char(char c) { return is_label_name_start(c) || std::isdigit(static_cast<unsigned char>(c)) != 0; }

void skip_blanks(std::string_view line, std::size_t& at) {
    while (at < line.size() && (line[at] == ' ' || line[at] == '\t')) ++at;
}

/// A sample value as Go's strconv.ParseFloat reads it (what the Prometheus client libraries write).
std::optional<double> parse_value(std::string_view text) {
    if (text == "+Inf" || text == "Inf" || text == "+inf" || text == "inf")
        return std::numeric_limits<double>::infinity();
    if (text == "-Inf" || text == "-inf") return -std::numeric_limits<double>::infinity();
    if (text == "NaN" || text == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

/// Reads `{label="value",...}` at `at` (which points at '{'). Returns the reason when it cannot.
std::string parse_labels(std::string_view line, std::size_t& at, ExpositionSample& sample) {
    ++at;  // '{'
    while (true) {
        skip_blanks(line, at);
        if (at < line.size() && line[at] == '}') {
            ++at;
            return {};
        }
        const std::size_t name_start = at;
        if (at >= line.size() || !is_label_name_start(line[at])) return "expected a label name or '}'";
        while (at < line.size() && is_label_name_char(line[at])) ++at;
        std::string name(line.substr(name_start, at - name_start));
        skip_blanks(line, at);
        if (at >= line.size() || line[at] != '=') return "expected '=' after label '" + name + "'";
        ++at;
        skip_blanks(line, at);
        if (at >= line.size() || line[at] != '"') return "expected '\"' to open the value of label '" + name + "'";
        ++at;
        std::string value;
        bool closed = false;
        while (at < line.size()) {
            const char c = line[at++];
            if (c == '"') {
                closed = true;
                break;
            }
            if (c != '\\') {
                value.push_back(c);
                continue;
            }
            if (at >= line.size()) break;
            const char escaped = line[at++];
            if (escaped == 'n')
                value.push_back('\n');
            else if (escaped == '\\' || escaped == '"')
                value.push_back(escaped);
            else
                return "unknown escape '\\" + std::string(1, escaped) + "' in the value of label '" + name + "'";
        }
        if (!closed) return "unterminated value of label '" + name + "'";
        sample.labels.emplace_back(std::move(name), std::move(value));
        skip_blanks(line, at);
        if (at < line.size() && line[at] == ',') {
            ++at;
            continue;
        }
        if (at < line.size() && line[at] == '}') {
            ++at;
            return {};
        }
        return "expected ',' or '}' after a label";
    }
}

std::string lowercase(std::string_view text) {
    std::string lowered(text);
    std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lowered;
}

}  // namespace

std::string_view non_exposition_kind(std::string_view content_type, std::string_view body) {
    const std::string type = lowercase(content_type);
    if (type.find("json") != std::string::npos) return "JSON";  // application/json, application/problem+json
    if (type.find("html") != std::string::npos) return "HTML";  // text/html, application/xhtml+xml
    const std::size_t first = body.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return "";
    if (body[first] == '{' || body[first] == '[') return "JSON";
    if (body[first] == '<') return "HTML";
    return "";
}

const std::string* ExpositionSample::label(std::string_view name) const {
    for (const auto& [key, value] : labels)
        if (key == name) return &value;
    return nullptr;
}

std::string ExpositionSample::series_key() const {
    auto sorted = labels;
    std::sort(sorted.begin(), sorted.end());
    std::string key;
    for (const auto& [name, value] : sorted) {
        key += name;
        key += '\x1f';  // unit separators: cannot occur in a label name, and the value is last in its pair
        key += value;
        key += '\x1e';
    }
    return key;
}

std::vector<ExpositionSample> parse_exposition_samples(std::string_view text, std::string_view metric,
                                                       std::vector<ExpositionProblem>& problems) {
    std::vector<ExpositionSample> samples;
    std::size_t line_number = 0;
    while (!text.empty()) {
        const std::size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        ++line_number;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        std::size_t at = 0;
        skip_blanks(line, at);
        if (at >= line.size() || line[at] == '#' || !is_name_start(line[at])) continue;
        const std::size_t name_start = at;
        while (at < line.size() && is_name_char(line[at])) ++at;
        if (line.substr(name_start, at - name_start) != metric) continue;

        ExpositionSample sample;
        const auto refuse = [&](std::string reason) { problems.push_back({line_number, std::move(reason)}); };
        skip_blanks(line, at);
        if (at < line.size() && line[at] == '{') {
            if (std::string reason = parse_labels(line, at, sample); !reason.empty()) {
                refuse(std::move(reason));
                continue;
            }
        }
        skip_blanks(line, at);
        const std::size_t value_start = at;
        while (at < line.size() && line[at] != ' ' && line[at] != '\t') ++at;
        if (value_start == at) {
            refuse("no value");
            continue;
        }
        const std::string_view value_text = line.substr(value_start, at - value_start);
        const auto value = parse_value(value_text);
        if (!value || !std::isfinite(*value)) {
            // NaN and infinities are valid samples, but say nothing about a count of requests.
            refuse("value '" + std::string(value_text) + "' is not a finite number");
            continue;
        }
        skip_blanks(line, at);
        // An optional timestamp (not used: the scrape's time is the events'): integer milliseconds in format 0.0.4,
        // seconds with a fraction in OpenMetrics; then, in OpenMetrics, an optional exemplar after " # ".
        const std::size_t timestamp_start = at;
        if (at < line.size() && line[at] != '#') {
            while (at < line.size() && line[at] != ' ' && line[at] != '\t') ++at;
            const std::string_view timestamp_text = line.substr(timestamp_start, at - timestamp_start);
            if (const auto timestamp = parse_value(timestamp_text); !timestamp || !std::isfinite(*timestamp)) {
                refuse("timestamp '" + std::string(timestamp_text) + "' is not a number");
                continue;
            }
            skip_blanks(line, at);
        }
        if (at < line.size() && line[at] == '#') at = line.size();  // an exemplar: not a count of requests
        if (at != line.size()) {
            refuse("unexpected text after the sample");
            continue;
        }
        sample.value = *value;
        samples.push_back(std::move(sample));
    }
    return samples;
}

}  // namespace warmup::plugins
