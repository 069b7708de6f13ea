#include "apps/history/history_table.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <string_view>
#include <vector>

#include "core/duration.hpp"

namespace warmup::host {
namespace {

/// One counter column: its header and the history counter it shows the change of.
struct CounterColumn {
    std::string_view header;
    std::string_view counter;
};

constexpr std::array<CounterColumn, 7> kCounterColumns = {{
    {"requests", "requests"},
    {"cold", "cold_requests"},
    {"pre-warms", "prewarms_started"},
    {"used", "prewarms_used"},
    {"wasted", "prewarms_wasted"},
    {"evictions", "evictions"},
    {"failed loads", "loads_failed"},
}};

double counter_of(const nlohmann::json& sample, std::string_view counter) {
    const auto found = sample.find(std::string(counter));
    return found == sample.end() ? 0.0 : found->get<double>();
}

/// The change of a cumulative counter; one that went down restarted from zero (a restore or a reset).
double change(double previous, double current) { return current >= previous ? current - previous : current; }

std::string cold_share(double cold, double requests) {
    return requests > 0 ? fmt::format("{:.1f}%", 100.0 * cold / requests) : "-";
}

}  // namespace

std::optional<int64_t> parse_age_ms(const std::string& text) {
    const std::optional<int64_t> age_ms = parse_duration_ms(text, false);
    if (!age_ms || *age_ms <= 0) return std::nullopt;
    return age_ms;
}

std::string history_table(const nlohmann::json& answer, const std::function<std::string(int64_t)>& time_text) {
    const nlohmann::json& samples = answer.at("samples");
    std::string text =
        fmt::format("metrics history from {} to {}: {} sample(s)", time_text(answer.at("since_ms").get<int64_t>()),
                    time_text(answer.at("until_ms").get<int64_t>()), samples.size());
    const int thinned = answer.value("thinned_to_every", 1);
    if (thinned > 1) text += fmt::format(" (every {}th of the window)", thinned);
    text += "\n";
    // What the window's first sample changed from: the last sample before the window, when the history holds one.
    // Without it (the history began within the window, or older samples were pruned) the first sample is the start.
    // (A daemon older than `before` does not send the key: its first sample is the start, without the note below.)
    const auto before = answer.find("before");
    const bool has_before = before != answer.end() && before->is_object() && before->contains("t_ms");
    const bool says_before = before != answer.end();
    if (samples.empty() || (samples.size() < 2 && !has_before)) {
        text +=
            "fewer than two samples in this window: the history gains one at every snapshot "
            "(state.snapshot_interval_s); try a longer --since\n";
        return text;
    }
    if (!has_before && says_before)
        text += fmt::format(
            "counted from the history's first sample at {} ({} request(s) before it are not in the table)\n",
            time_text(samples[0].at("t_ms").get<int64_t>()), counter_of(samples[0], "requests"));

    std::vector<std::string> header{"time"};
    for (const CounterColumn& column : kCounterColumns) header.emplace_back(column.header);
    header.insert(header.begin() + 3, "cold %");
    header.emplace_back("memory MiB");
    std::vector<std::vector<std::string>> rows{header};
    std::array<double, kCounterColumns.size()> totals{};
    for (std::size_t i = has_before ? 0 : 1; i < samples.size(); ++i) {
        const nlohmann::json& previous = i == 0 ? *before : samples[i - 1];
        std::vector<std::string> row{time_text(samples[i].at("t_ms").get<int64_t>())};
        std::array<double, kCounterColumns.size()> changes{};
        for (std::size_t c = 0; c < kCounterColumns.size(); ++c) {
            changes[c] = change(counter_of(previous, kCounterColumns[c].counter),
                                counter_of(samples[i], kCounterColumns[c].counter));
            totals[c] += changes[c];
            row.push_back(fmt::format("{}", changes[c]));
        }
        row.insert(row.begin() + 3, cold_share(changes[1], changes[0]));
        row.push_back(fmt::format("{:.0f}", counter_of(samples[i], "used_mb")));
        rows.push_back(std::move(row));
    }
    std::vector<std::string> total_row{"total"};
    for (double total : totals) total_row.push_back(fmt::format("{}", total));
    total_row.insert(total_row.begin() + 3, cold_share(totals[1], totals[0]));
    total_row.emplace_back("");
    rows.push_back(std::move(total_row));

    // Right-aligned columns (the time left-aligned), two spaces apart.
    std::vector<std::size_t> widths(header.size(), 0);
    for (const auto& row : rows)
        for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
    for (const auto& row : rows) {
        std::string line = fmt::format("{:<{}}", row[0], widths[0]);
        for (std::size_t c = 1; c < row.size(); ++c) line += fmt::format("  {:>{}}", row[c], widths[c]);
        while (!line.empty() && line.back() == ' ') line.pop_back();
        text += line + "\n";
    }
    return text;
}

}  // namespace warmup::host
