#include "http/history_endpoint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

#include "http/http_api.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;

/// `name`'s value as milliseconds since the epoch, `fallback` when absent; an error text for a 400 otherwise.
std::optional<std::string> read_time_parameter(const std::multimap<std::string, std::string>& params,
                                               const std::string& name, int64_t fallback, int64_t& out) {
    out = fallback;
    if (params.count(name) > 1) return fmt::format("{}: given more than once", name);
    const auto found = params.find(name);
    if (found == params.end()) return std::nullopt;
    const std::string& text = found->second;
    int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < 0)
        return fmt::format("{}: expected milliseconds since the Unix epoch (an integer >= 0), got '{}'", name, text);
    out = value;
    return std::nullopt;
}

HistoryAnswer bad_request(std::string error) { return {400, json{{"error", std::move(error)}}}; }

}  // namespace

HistoryAnswer history_answer(const MetricsHistory* history, const std::multimap<std::string, std::string>& params,
                             int64_t now_unix_ms) {
    int64_t until_ms = 0;
    if (auto error = read_time_parameter(params, "until_ms", now_unix_ms, until_ms)) return bad_request(*error);
    int64_t since_ms = 0;
    if (auto error =
            read_time_parameter(params, "since_ms", std::max<int64_t>(0, until_ms - kDefaultHistoryWindowMs), since_ms))
        return bad_request(*error);
    if (since_ms > until_ms) return bad_request(fmt::format("since_ms: {} is after until_ms {}", since_ms, until_ms));
    if (history == nullptr)
        return {200, json{{"enabled", false},
                          {"reason",
                           "this daemon keeps no metrics history (no state folder, or "
                           "state.history_retention_h: 0)"},
                          {"since_ms", since_ms},
                          {"until_ms", until_ms},
                          {"counters", json::array()},
                          {"samples", json::array()},
                          {"thinned_to_every", 1}}};

    // One sample per snapshot time; the file lists each time's counters one per line, in time order.
    std::vector<std::string> counters;
    std::map<int64_t, json> by_time;
    for (const HistorySample& line : history->read(since_ms)) {
        if (line.unix_ms > until_ms) continue;
        if (std::find(counters.begin(), counters.end(), line.counter) == counters.end())
            counters.push_back(line.counter);
        json& sample = by_time[line.unix_ms];
        if (sample.is_null()) sample = json{{"t_ms", line.unix_ms}};
        sample[line.counter] = json_number(line.value);
    }
    const std::size_t stride = (by_time.size() + kMaxHistorySamples - 1) / std::max<std::size_t>(1, kMaxHistorySamples);
    const std::size_t keep_every = std::max<std::size_t>(1, stride);
    json samples = json::array();
    std::size_t index = 0;
    for (auto& [time, sample] : by_time) {
        // Counted from the newest, so the newest sample is always listed.
        if ((by_time.size() - 1 - index) % keep_every == 0) samples.push_back(std::move(sample));
        ++index;
    }
    return {200, json{{"enabled", true},
                      {"since_ms", since_ms},
                      {"until_ms", until_ms},
                      {"counters", counters},
                      {"samples", std::move(samples)},
                      {"thinned_to_every", keep_every}}};
}

}  // namespace warmup::host
