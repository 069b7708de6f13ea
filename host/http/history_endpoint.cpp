#include "http/history_endpoint.hpp"

#include <fmt/format.h>
#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

#include "http/api_json.hpp"
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

/// A window of this many history lines (about 700 samples of 14 counters) or more is followed by malloc_trim.
constexpr std::size_t kTrimAfterLines = 10'000;

HistoryAnswer bad_request(std::string error) { return {400, json{{"error", std::move(error)}}}; }

/// What a window of the history holds, as the answer lists it.
struct WindowSamples {
    json samples = json::array();       ///< oldest first, thinned to every keep_every-th counted from the newest
    std::vector<std::string> counters;  ///< names in the order first met
    std::size_t keep_every = 1;
    std::size_t lines_read = 0;  ///< history lines read from the files (from since_ms to now, before until_ms cuts)
};

WindowSamples read_window(const MetricsHistory& history, int64_t since_ms, int64_t until_ms) {
    WindowSamples window;
    std::vector<HistorySample> lines = history.read(since_ms);
    window.lines_read = lines.size();  // what the read held in memory, whatever the window keeps of it
    std::erase_if(lines, [until_ms](const HistorySample& line) { return line.unix_ms > until_ms; });

    // One sample per snapshot time. The times to list are chosen before any JSON is built, so a week of samples
    // costs the JSON of the kept ones only.
    std::vector<int64_t> times;
    times.reserve(lines.size());
    for (const HistorySample& line : lines) times.push_back(line.unix_ms);
    std::sort(times.begin(), times.end());
    times.erase(std::unique(times.begin(), times.end()), times.end());
    const std::size_t keep_every =
        std::max<std::size_t>(1, (times.size() + kMaxHistorySamples - 1) / kMaxHistorySamples);
    const auto is_kept = [&](int64_t time) {
        const auto index = static_cast<std::size_t>(std::lower_bound(times.begin(), times.end(), time) - times.begin());
        return (times.size() - 1 - index) % keep_every == 0;  // counted from the newest, which is always kept
    };

    std::map<int64_t, json> kept;
    for (const HistorySample& line : lines) {
        if (std::find(window.counters.begin(), window.counters.end(), line.counter) == window.counters.end())
            window.counters.push_back(line.counter);
        if (!is_kept(line.unix_ms)) continue;
        json& sample = kept[line.unix_ms];
        if (sample.is_null()) sample = json{{"t_ms", line.unix_ms}};
        sample[line.counter] = json_number(line.value);
    }
    for (auto& [time, sample] : kept) window.samples.push_back(std::move(sample));
    window.keep_every = keep_every;
    return window;
}

}  // namespace

HistoryAnswer history_answer(const MetricsHistory* history, const std::multimap<std::string, std::string>& params,
                             int64_t now_unix_ms) {
    if (auto unknown = unknown_query_parameter(params, {"since_ms", "until_ms"})) return bad_request(*unknown);
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
                          {"before", nullptr},
                          {"thinned_to_every", 1}}};

    WindowSamples window = read_window(*history, since_ms, until_ms);
    // The last sample before the window: what the window's first sample changed from. Without it, what happened
    // between it and the window's first sample (the requests of a daemon started a minute ago) would be lost.
    json before = nullptr;
    for (const HistorySample& line : history->read_latest_before(since_ms)) {
        if (before.is_null()) before = json{{"t_ms", line.unix_ms}};
        before[line.counter] = json_number(line.value);
    }
    // The lines of a long window are many small blocks that malloc keeps once freed (the daemon stayed ~30 MiB
    // larger after a week of 60 s samples); hand those pages back, as after a long list of predictions.
    if (window.lines_read >= kTrimAfterLines) malloc_trim(0);
    return {200, json{{"enabled", true},
                      {"since_ms", since_ms},
                      {"until_ms", until_ms},
                      {"counters", std::move(window.counters)},
                      {"samples", std::move(window.samples)},
                      {"before", std::move(before)},
                      {"thinned_to_every", window.keep_every}}};
}

}  // namespace warmup::host
