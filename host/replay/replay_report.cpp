// replay/replay_report.cpp — writers of report.json, timing.json, per-model.csv, report.md and report.html for
// warmup-replay.
//
// Guarantees:
// - report.json depends only on the ReplayReport's input-determined fields: keys in a fixed order (ordered_json),
//   doubles printed by nlohmann's shortest round-trip formatter (locale-independent), NaN and infinities as null.
// - The Markdown and HTML arm tables come from one column list, so the two can never disagree.
// - The HTML page is self-contained: inline CSS, inline SVG drawn here, no script, no external resource; every piece
//   of text taken from the report (arm names, plugin ids, trace paths) is HTML-escaped.
// Thread: none of these functions keeps state; they may be called from any thread.
#include "replay/replay_report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "replay/frontier.hpp"

namespace warmup::host::replay {

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr std::string_view report_schema = "warmup-replay-report/1";
constexpr std::string_view timing_schema = "warmup-replay-timing/1";
constexpr double ms_per_day = 86'400'000.0;
constexpr double mb_per_gb = 1024.0;  // GB = 1024 MiB throughout the reports

// ---------------------------------------------------------------------------------------------------------------------
// Small helpers

/// A double as JSON: the number when finite, null otherwise (JSON has no NaN or infinity).
ordered_json finite_or_null(double value) { return std::isfinite(value) ? ordered_json(value) : ordered_json(nullptr); }

/// An optional double as JSON: null when absent or not finite.
ordered_json optional_or_null(const std::optional<double>& value) {
    return value ? finite_or_null(*value) : ordered_json(nullptr);
}

void write_text_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out)
        throw std::runtime_error(fmt::format("cannot open {} for writing: {}", path.string(), std::strerror(errno)));
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) throw std::runtime_error(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
}

/// Escapes the five characters that are markup in HTML text and attribute values (also valid inside inline SVG).
std::string escape_html(std::string_view text) {
    std::string escaped;
    escaped.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                escaped += "&amp;";
                break;
            case '<':
                escaped += "&lt;";
                break;
            case '>':
                escaped += "&gt;";
                break;
            case '"':
                escaped += "&quot;";
                break;
            case '\'':
                escaped += "&#39;";
                break;
            default:
                escaped += c;
        }
    }
    return escaped;
}

/// A Markdown table cell: '|' would end the cell and a newline the row.
std::string escape_markdown_cell(std::string_view text) {
    std::string escaped;
    escaped.reserve(text.size());
    for (const char c : text) {
        if (c == '|') {
            escaped += "\\|";
        } else if (c == '\n' || c == '\r') {
            escaped += ' ';
        } else {
            escaped += c;
        }
    }
    return escaped;
}

constexpr std::string_view not_available = "n/a";

/// A fraction (0..1) as a percentage with 2 decimals, "n/a" when not finite.
std::string format_percent(double fraction) {
    return std::isfinite(fraction) ? fmt::format("{:.2f}", fraction * 100.0) : std::string(not_available);
}

std::string format_fixed(double value, int decimals) {
    return std::isfinite(value) ? fmt::format("{:.{}f}", value, decimals) : std::string(not_available);
}

/// An arm's name as the tables and charts show it: yardsticks and curve arms marked.
std::string arm_label(const ArmResult& arm) {
    if (!arm.yardstick.empty()) return arm.name + " (yardstick)";
    if (arm.frontier_curve) return arm.name + " (keep-alive curve)";
    return arm.name;
}

/// The ratio to the keep-alive curve with 2 decimals; "∞" when the curve is at the floor there and the arm is not
/// (the curve value exists but the ratio does not), "n/a" without a curve and for the curve's own arms.
std::string format_curve_ratio(const ArmResult& arm) {
    if (arm.keepalive_curve_ratio) return format_fixed(*arm.keepalive_curve_ratio, 2);
    return arm.keepalive_curve_p75_cold_rate ? std::string("∞") : std::string(not_available);
}

double replayed_days(const ReplayReport& report) {
    return static_cast<double>(report.to_ms - report.from_ms) / ms_per_day;
}

// ---------------------------------------------------------------------------------------------------------------------
// report.json and timing.json

ordered_json timeline_to_json(const std::vector<TimelineBucket>& timeline) {
    ordered_json buckets = ordered_json::array();
    for (const TimelineBucket& bucket : timeline) {
        ordered_json entry;
        entry["start_ms"] = bucket.start_ms;
        entry["width_ms"] = bucket.width_ms;
        entry["requests"] = bucket.requests;
        entry["cold_requests"] = bucket.cold_requests;
        entry["mean_resident_mb"] = finite_or_null(bucket.mean_resident_mb);
        buckets.push_back(std::move(entry));
    }
    return buckets;
}

// Field order follows the struct declaration in replay_report.hpp so a reader finds both in the same order.
ordered_json arm_to_json(const ArmResult& arm) {
    ordered_json json;
    json["name"] = arm.name;
    json["yardstick"] = arm.yardstick;
    json["frontier_curve"] = arm.frontier_curve;
    json["frontier_ttl_ms"] = arm.frontier_curve ? ordered_json(arm.frontier_ttl_ms) : ordered_json(nullptr);
    json["plugins"] = arm.plugins;
    json["budget_mb"] = finite_or_null(arm.budget_mb);
    json["events"] = arm.events;
    json["requests"] = arm.requests;
    json["cold_requests"] = arm.cold_requests;
    json["avoidable_cold_requests"] = arm.avoidable_cold_requests;
    json["failed_requests"] = arm.failed_requests;
    json["cold_rate"] = finite_or_null(arm.cold_rate);
    json["per_model_cold_rate_p50"] = finite_or_null(arm.per_model_cold_rate_p50);
    json["per_model_cold_rate_p75"] = finite_or_null(arm.per_model_cold_rate_p75);
    json["per_model_cold_rate_p95"] = finite_or_null(arm.per_model_cold_rate_p95);
    json["models_with_requests"] = arm.models_with_requests;
    json["demand_loads"] = arm.demand_loads;
    json["loads_queued_for_memory"] = arm.loads_queued_for_memory;
    json["cold_wait_total_s"] = finite_or_null(arm.cold_wait_total_s);
    json["cold_wait_p50_ms"] = finite_or_null(arm.cold_wait_p50_ms);
    json["cold_wait_p99_ms"] = finite_or_null(arm.cold_wait_p99_ms);
    json["loaded_gb_h"] = finite_or_null(arm.loaded_gb_h);
    json["idle_gb_h"] = finite_or_null(arm.idle_gb_h);
    json["prewarms_started"] = arm.prewarms_started;
    json["prewarms_used"] = arm.prewarms_used;
    json["prewarms_wasted"] = arm.prewarms_wasted;
    json["precision"] = finite_or_null(arm.precision);
    json["idle_gap_requests"] = arm.idle_gap_requests;
    json["idle_gap_prewarmed"] = arm.idle_gap_prewarmed;
    json["recall"] = finite_or_null(arm.recall);
    json["evictions"] = arm.evictions;
    json["unloads"] = arm.unloads;
    json["prewarms_skipped"] = arm.prewarms_skipped;
    json["plugin_errors"] = arm.plugin_errors;
    json["keepalive_curve_ratio"] = optional_or_null(arm.keepalive_curve_ratio);
    json["keepalive_curve_p75_cold_rate"] = optional_or_null(arm.keepalive_curve_p75_cold_rate);
    json["timeline"] = timeline_to_json(arm.timeline);
    return json;
}

ordered_json report_to_json(const ReplayReport& report) {
    ordered_json json;
    json["schema"] = report_schema;
    json["config_file"] = report.config_file;
    json["traces"] = report.traces;
    json["seed"] = report.seed;
    json["from_ms"] = report.from_ms;
    json["to_ms"] = report.to_ms;
    json["events"] = report.events;
    json["requests"] = report.requests;
    json["models"] = report.models;
    json["budget_spec"] = report.budget_spec;
    json["a95_mb"] = finite_or_null(report.a95_mb);
    json["budget_mb"] = finite_or_null(report.budget_mb);
    json["max_concurrent_warmups"] = report.max_concurrent_warmups;
    json["compulsory_cold_requests"] = report.compulsory_cold_requests;
    json["frontier"] = report.frontier;
    ordered_json arms = ordered_json::array();
    for (const ArmResult& arm : report.arms) arms.push_back(arm_to_json(arm));
    json["arms"] = std::move(arms);
    return json;
}

ordered_json timing_to_json(const ReplayReport& report) {
    ordered_json json;
    json["schema"] = timing_schema;
    json["wall_seconds"] = finite_or_null(report.wall_seconds);
    json["events_per_second"] = finite_or_null(report.events_per_second);
    json["compulsory_floor_cpu_seconds"] = finite_or_null(report.compulsory_floor_cpu_seconds);
    ordered_json arms = ordered_json::array();
    for (const ArmResult& arm : report.arms) {
        ordered_json entry;
        entry["name"] = arm.name;
        entry["cpu_seconds"] = finite_or_null(arm.cpu_seconds);
        entry["decision_cpu_s_per_million_events"] = finite_or_null(arm.decision_cpu_s_per_million_events);
        entry["events_per_cpu_second"] = finite_or_null(arm.events_per_cpu_second);
        arms.push_back(std::move(entry));
    }
    json["arms"] = std::move(arms);
    return json;
}

// ---------------------------------------------------------------------------------------------------------------------
// Tables shared by report.md and report.html

/// One column of the arms table: its header and how a cell is formatted from an arm (plain text, not escaped).
struct ArmColumn {
    std::string_view header;
    bool numeric;
    std::function<std::string(const ArmResult&)> cell;
};

const std::vector<ArmColumn>& arm_columns() {
    // Precision and recall are shown as n/a when their denominator is empty: the struct stores 0 there, which a
    // reader would take for "every pre-warm was wasted".
    static const std::vector<ArmColumn> columns = {
        {"arm", false, [](const ArmResult& a) { return arm_label(a); }},
        {"cold rate %", true, [](const ArmResult& a) { return format_percent(a.cold_rate); }},
        {"p75 per-model cold %", true, [](const ArmResult& a) { return format_percent(a.per_model_cold_rate_p75); }},
        {"p95 per-model cold %", true, [](const ArmResult& a) { return format_percent(a.per_model_cold_rate_p95); }},
        {"cold requests", true, [](const ArmResult& a) { return fmt::format("{}", a.cold_requests); }},
        {"avoidable cold", true, [](const ArmResult& a) { return fmt::format("{}", a.avoidable_cold_requests); }},
        {"ratio to keep-alive curve", true, [](const ArmResult& a) { return format_curve_ratio(a); }},
        {"curve p75 per-model cold %", true,
         [](const ArmResult& a) {
             return a.keepalive_curve_p75_cold_rate ? format_percent(*a.keepalive_curve_p75_cold_rate)
                                                    : std::string(not_available);
         }},
        {"demand loads", true, [](const ArmResult& a) { return fmt::format("{}", a.demand_loads); }},
        {"queued for memory", true, [](const ArmResult& a) { return fmt::format("{}", a.loads_queued_for_memory); }},
        {"cold wait p50 ms", true, [](const ArmResult& a) { return format_fixed(a.cold_wait_p50_ms, 1); }},
        {"p99 ms", true, [](const ArmResult& a) { return format_fixed(a.cold_wait_p99_ms, 1); }},
        {"idle GB·h", true, [](const ArmResult& a) { return format_fixed(a.idle_gb_h, 2); }},
        {"loaded GB·h", true, [](const ArmResult& a) { return format_fixed(a.loaded_gb_h, 2); }},
        {"pre-warms (started)", true, [](const ArmResult& a) { return fmt::format("{}", a.prewarms_started); }},
        {"precision %", true,
         [](const ArmResult& a) {
             return a.prewarms_used + a.prewarms_wasted == 0 ? std::string(not_available) : format_percent(a.precision);
         }},
        {"recall %", true,
         [](const ArmResult& a) {
             return a.idle_gap_requests == 0 ? std::string(not_available) : format_percent(a.recall);
         }},
        {"evictions", true, [](const ArmResult& a) { return fmt::format("{}", a.evictions); }},
        {"skipped pre-warms", true, [](const ArmResult& a) { return fmt::format("{}", a.prewarms_skipped); }},
    };
    return columns;
}

const std::vector<ArmColumn>& timing_columns() {
    static const std::vector<ArmColumn> columns = {
        {"arm", false, [](const ArmResult& a) { return a.name; }},
        {"decision CPU s", true, [](const ArmResult& a) { return format_fixed(a.cpu_seconds, 3); }},
        {"decision CPU s per 1 M events", true,
         [](const ArmResult& a) { return format_fixed(a.decision_cpu_s_per_million_events, 3); }},
        {"events per CPU s", true, [](const ArmResult& a) { return format_fixed(a.events_per_cpu_second, 0); }},
    };
    return columns;
}

std::string markdown_table(const std::vector<ArmColumn>& columns, const std::vector<ArmResult>& arms) {
    std::string table = "|";
    for (const ArmColumn& column : columns) table += fmt::format(" {} |", column.header);
    table += "\n|";
    for (const ArmColumn& column : columns) table += column.numeric ? " ---: |" : " --- |";
    table += "\n";
    for (const ArmResult& arm : arms) {
        table += "|";
        for (const ArmColumn& column : columns) table += fmt::format(" {} |", escape_markdown_cell(column.cell(arm)));
        table += "\n";
    }
    return table;
}

std::string html_table(const std::vector<ArmColumn>& columns, const std::vector<ArmResult>& arms) {
    std::string table = "<table>\n<thead><tr>";
    for (const ArmColumn& column : columns) table += fmt::format("<th>{}</th>", escape_html(column.header));
    table += "</tr></thead>\n<tbody>\n";
    for (const ArmResult& arm : arms) {
        table += "<tr>";
        for (const ArmColumn& column : columns)
            table +=
                fmt::format("<td{}>{}</td>", column.numeric ? " class=\"num\"" : "", escape_html(column.cell(arm)));
        table += "</tr>\n";
    }
    table += "</tbody>\n</table>\n";
    return table;
}

/// The run facts as (label, plain-text value) pairs, shared by report.md and report.html.
std::vector<std::pair<std::string, std::string>> run_facts(const ReplayReport& report) {
    std::string traces;
    for (const std::string& trace : report.traces) traces += (traces.empty() ? "" : ", ") + trace;
    return {
        {"configuration", report.config_file.empty() ? std::string("(embedded default)") : report.config_file},
        {"traces", traces.empty() ? std::string("(none)") : traces},
        {"seed", fmt::format("{}", report.seed)},
        {"replayed span", fmt::format("{} days", format_fixed(replayed_days(report), 2))},
        {"events", fmt::format("{}", report.events)},
        {"requests", fmt::format("{}", report.requests)},
        {"models", fmt::format("{}", report.models)},
        {"budget spec", report.budget_spec},
        {"A95 (memory of models active at once, 95th percentile)",
         report.a95_mb > 0 ? fmt::format("{} MiB", format_fixed(report.a95_mb, 0)) : std::string("not computed")},
        {"budget", fmt::format("{} MiB", format_fixed(report.budget_mb, 0))},
        {"max concurrent warm-ups", fmt::format("{}", report.max_concurrent_warmups)},
        {"compulsory cold requests (keep forever, unlimited memory)",
         fmt::format("{}", report.compulsory_cold_requests)},
        {"keep-alive curve", report.frontier ? fmt::format("{} arms, keep-alive {} min", kKeepAliveCurveMinutes.size(),
                                                           fmt::join(kKeepAliveCurveMinutes, ", "))
                                             : std::string("not run (--frontier adds it)")},
    };
}

constexpr std::string_view how_to_read =
    "**Cold rate** is the share of requests that found their model not loaded (they waited for a load). "
    "**p75 / p95 per-model cold** take each model's own cold rate, over the models with at least one request, and "
    "give the 75th / 95th percentile by nearest rank: the literature's headline, because a policy can look good "
    "overall while starving its rarely used models. **Cold wait** is how long cold requests waited for their model. "
    "**Idle GB·h** is memory-time spent by models kept resident after their last use (GB = 1024 MiB); **loaded GB·h** "
    "is all memory-time of loaded and loading models. **Precision** is the share of pre-warms that a request used "
    "(during or after the load) among those that were used or removed unused; **recall** is the share of requests "
    "arriving after an idle gap longer than their model's load time that found the model ready thanks to a "
    "pre-warm. Rows marked *yardstick* (`oracle`, `oracle-lean`) are not policies: they see the "
    "future, and show how far a policy is from the best achievable at this budget. **Compulsory** cold requests are "
    "those of keep-forever with unlimited memory (each model's first load); no online policy avoids them. **Avoidable "
    "cold** = cold requests - compulsory. The **keep-alive curve** (with `--frontier`) is keep-alive 1 to 240 min "
    "at the same budget: what memory buys without any prediction. The **ratio to the keep-alive curve** is an arm's "
    "avoidable cold requests divided by the curve's at the same loaded GB·h (linear interpolation between curve "
    "points, clamped at the ends): below 1.0 the arm predicts better than a timer, 1.0 is no better; ∞ means the "
    "curve is at the floor there and the arm is not. **Curve p75 per-model cold** is the curve's p75 per-model "
    "cold rate at the same loaded GB·h, to compare with the arm's own.";

// ---------------------------------------------------------------------------------------------------------------------
// SVG charts

/// A fixed palette (Tableau 10): distinct on screen and in grey print; arm i gets colour i modulo its size.
constexpr std::string_view palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

std::string_view arm_colour(std::size_t arm_index) { return palette[arm_index % std::size(palette)]; }

struct Point {
    double x = 0;
    double y = 0;
};

/// A line of a line chart, broken into runs where data is missing (a gap is not drawn as a line across it).
struct LineSeries {
    std::string name;
    std::string_view colour;
    bool yardstick = false;
    std::vector<std::vector<Point>> segments;
};

/// An axis scale with "nice" tick steps (1, 2 or 5 times a power of ten), its domain widened to whole steps.
struct Axis {
    double low = 0;
    double high = 1;
    double step = 0.2;
    int decimals = 1;

    static Axis fit(double data_low, double data_high, int target_ticks = 5) {
        if (!std::isfinite(data_low) || !std::isfinite(data_high) || data_low > data_high) {
            data_low = 0;
            data_high = 1;
        }
        if (data_high - data_low <= 0) {
            // A flat series still needs a visible axis: open a unit range above it (or around it if negative).
            const double pad = std::max(std::abs(data_high) * 0.5, 1.0);
            data_high += pad;
            if (data_low < 0) data_low -= pad;
        }
        const double raw_step = (data_high - data_low) / target_ticks;
        const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
        const double fraction = raw_step / magnitude;
        const double nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
        Axis axis;
        axis.step = nice * magnitude;
        axis.low = std::floor(data_low / axis.step) * axis.step;
        axis.high = std::ceil(data_high / axis.step) * axis.step;
        axis.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(axis.step) + 1e-9)));
        return axis;
    }

    std::vector<double> ticks() const {
        std::vector<double> values;
        const auto count = static_cast<int>(std::llround((high - low) / step));
        for (int i = 0; i <= count; ++i) values.push_back(low + i * step);
        return values;
    }

    std::string label(double value) const {
        if (std::abs(value) < step * 1e-6) value = 0;  // no "-0.0"
        return fmt::format("{:.{}f}", value, decimals);
    }
};

/// Pixel geometry shared by the three charts; sized for a 900 px page (the SVG scales down below that).
struct ChartFrame {
    static constexpr double width = 860;
    static constexpr double left = 70;
    static constexpr double right = 24;
    static constexpr double top = 40;
    static constexpr double plot_height = 260;
    static constexpr double bottom_axis = 48;  // tick labels and axis title under the plot
    static constexpr double legend_row = 20;

    Axis x;
    Axis y;

    double plot_width() const { return width - left - right; }
    double px(double value) const { return left + (value - x.low) / (x.high - x.low) * plot_width(); }
    double py(double value) const { return top + plot_height - (value - y.low) / (y.high - y.low) * plot_height; }
    static constexpr double legend_top() { return top + plot_height + bottom_axis; }
};

/// Legend entries laid out left to right, wrapping into rows; text width estimated at 7 px per character (12 px
/// sans-serif), which is enough to avoid overlaps without measuring fonts.
struct LegendEntry {
    std::string label;
    std::string marker_svg;  // drawn with its centre at (0, 0), translated into place
};

struct LegendLayout {
    std::vector<Point> positions;
    int rows = 0;
};

LegendLayout layout_legend(const std::vector<LegendEntry>& entries) {
    LegendLayout layout;
    double x = ChartFrame::left;
    int row = 0;
    for (const LegendEntry& entry : entries) {
        const double entry_width = 30 + 7.0 * static_cast<double>(entry.label.size()) + 18;
        if (x > ChartFrame::left && x + entry_width > ChartFrame::width - ChartFrame::right) {
            x = ChartFrame::left;
            ++row;
        }
        layout.positions.push_back({x, static_cast<double>(row)});
        x += entry_width;
    }
    layout.rows = entries.empty() ? 0 : row + 1;
    return layout;
}

std::string svg_open(const std::string& title, const LegendLayout& legend, std::string_view aria_label) {
    const double height = ChartFrame::legend_top() + legend.rows * ChartFrame::legend_row + 8;
    return fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {:.0f} {:.0f}\" role=\"img\" aria-label=\"{}\">\n"
        "<text x=\"{:.0f}\" y=\"22\" class=\"chart-title\">{}</text>\n",
        ChartFrame::width, height, escape_html(aria_label), ChartFrame::left, escape_html(title));
}

std::string svg_axes(const ChartFrame& frame, const std::string& x_title, const std::string& y_title) {
    std::string svg;
    const double plot_bottom = ChartFrame::top + ChartFrame::plot_height;
    const double plot_right = ChartFrame::width - ChartFrame::right;
    for (const double tick : frame.y.ticks()) {
        const double y = frame.py(tick);
        svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" class=\"grid\"/>\n",
                           ChartFrame::left, y, plot_right, y);
        svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"end\">{}</text>\n",
                           ChartFrame::left - 6, y + 4, frame.y.label(tick));
    }
    for (const double tick : frame.x.ticks()) {
        const double x = frame.px(tick);
        svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" class=\"axis\"/>\n", x,
                           plot_bottom, x, plot_bottom + 5);
        svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"middle\">{}</text>\n", x,
                           plot_bottom + 18, frame.x.label(tick));
    }
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" class=\"axis\"/>\n",
                       ChartFrame::left, ChartFrame::top, plot_bottom);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" class=\"axis\"/>\n",
                       ChartFrame::left, plot_bottom, plot_right);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"axis-title\" text-anchor=\"middle\">{}</text>\n",
                       ChartFrame::left + frame.plot_width() / 2, plot_bottom + 38, escape_html(x_title));
    const double y_middle = ChartFrame::top + ChartFrame::plot_height / 2;
    svg += fmt::format(
        "<text x=\"18\" y=\"{0:.1f}\" class=\"axis-title\" text-anchor=\"middle\" transform=\"rotate(-90 18 "
        "{0:.1f})\">{1}</text>\n",
        y_middle, escape_html(y_title));
    return svg;
}

std::string svg_legend(const std::vector<LegendEntry>& entries, const LegendLayout& layout) {
    std::string svg;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const double x = layout.positions[i].x;
        const double y = ChartFrame::legend_top() + layout.positions[i].y * ChartFrame::legend_row + 6;
        svg += fmt::format("<g transform=\"translate({:.1f} {:.1f})\">{}</g>\n", x + 12, y, entries[i].marker_svg);
        svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"legend\">{}</text>\n", x + 30, y + 4,
                           escape_html(entries[i].label));
    }
    return svg;
}

std::string line_marker(std::string_view colour, bool yardstick) {
    return fmt::format("<line x1=\"-11\" y1=\"0\" x2=\"11\" y2=\"0\" stroke=\"{}\" stroke-width=\"2.5\"{}/>", colour,
                       yardstick ? " stroke-dasharray=\"5 3\"" : "");
}

std::string circle_marker(std::string_view colour) {
    return fmt::format("<circle r=\"5\" fill=\"{}\" stroke=\"#333\" stroke-width=\"0.8\"/>", colour);
}

std::string diamond_marker(std::string_view colour) {
    return fmt::format(
        "<path d=\"M0 -7 L7 0 L0 7 L-7 0 Z\" fill=\"#fff\" fill-opacity=\"0\" stroke=\"{}\" "
        "stroke-width=\"2.2\"/>",
        colour);
}

std::string legend_name(const ArmResult& arm) {
    return arm.yardstick.empty() ? arm.name : arm.name + " (yardstick, sees the future)";
}

/// A line chart: one polyline per series and run, yardsticks dashed; lone points (a run of one) drawn as dots.
/// A horizontal line across a chart with a label at its right end (e.g. the memory budget).
struct ReferenceLine {
    double y = 0;
    std::string label;
};

std::string line_chart(const std::string& title, const std::string& x_title, const std::string& y_title,
                       const std::vector<LineSeries>& series, double x_low, double x_high,
                       const std::optional<ReferenceLine>& reference = std::nullopt) {
    double y_low = 0, y_high = 0;  // from 0 unless a value lies below it
    if (reference && std::isfinite(reference->y)) {
        y_low = std::min(y_low, reference->y);
        y_high = std::max(y_high, reference->y);
    }
    for (const LineSeries& line : series)
        for (const auto& segment : line.segments)
            for (const Point& point : segment) {
                y_low = std::min(y_low, point.y);
                y_high = std::max(y_high, point.y);
            }
    ChartFrame frame{Axis::fit(x_low, x_high), Axis::fit(y_low, y_high)};

    std::vector<LegendEntry> entries;
    for (const LineSeries& line : series) {
        entries.push_back({line.yardstick ? line.name + " (yardstick, sees the future)" : line.name,
                           line_marker(line.colour, line.yardstick)});
    }
    const LegendLayout layout = layout_legend(entries);

    std::string svg = svg_open(title, layout, title);
    svg += svg_axes(frame, x_title, y_title);
    if (reference && std::isfinite(reference->y)) {
        const double y = frame.py(reference->y);
        const double plot_right = ChartFrame::width - ChartFrame::right;
        svg += fmt::format(
            "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#555\" stroke-width=\"1\" "
            "stroke-dasharray=\"2 3\"/>\n",
            ChartFrame::left, y, plot_right, y);
        svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"axis-title\" text-anchor=\"end\">{}</text>\n",
                           plot_right - 4, y - 5, escape_html(reference->label));
    }
    for (const LineSeries& line : series) {
        for (const auto& segment : line.segments) {
            if (segment.size() == 1) {
                svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2\" fill=\"{}\"/>\n",
                                   frame.px(segment[0].x), frame.py(segment[0].y), line.colour);
                continue;
            }
            std::string points;
            for (const Point& point : segment)
                points +=
                    fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", frame.px(point.x), frame.py(point.y));
            svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"{}/>\n", points,
                               line.colour, line.yardstick ? " stroke-dasharray=\"5 3\"" : "");
        }
    }
    svg += svg_legend(entries, layout);
    svg += "</svg>\n";
    return svg;
}

/// The x extent (days since the first replayed event) covered by all arms' timelines.
std::pair<double, double> timeline_extent_days(const ReplayReport& report) {
    double low = std::numeric_limits<double>::infinity();
    double high = -std::numeric_limits<double>::infinity();
    for (const ArmResult& arm : report.arms) {
        for (const TimelineBucket& bucket : arm.timeline) {
            low = std::min(low, static_cast<double>(bucket.start_ms - report.from_ms) / ms_per_day);
            high = std::max(high, static_cast<double>(bucket.start_ms + bucket.width_ms - report.from_ms) / ms_per_day);
        }
    }
    if (low > high) return {0.0, std::max(replayed_days(report), 0.0)};
    return {low, high};
}

/// x of a bucket: its middle, in days since the first replayed event.
double bucket_middle_days(const ReplayReport& report, const TimelineBucket& bucket) {
    return (static_cast<double>(bucket.start_ms - report.from_ms) + static_cast<double>(bucket.width_ms) / 2) /
           ms_per_day;
}

std::string cold_rate_chart(const ReplayReport& report) {
    std::vector<LineSeries> series;
    for (std::size_t i = 0; i < report.arms.size(); ++i) {
        const ArmResult& arm = report.arms[i];
        if (arm.frontier_curve) continue;  // drawn in the frontier chart only
        LineSeries line{arm.name, arm_colour(i), !arm.yardstick.empty(), {}};
        bool in_run = false;
        for (const TimelineBucket& bucket : arm.timeline) {
            if (bucket.requests == 0) {  // no requests: the rate is undefined, the line breaks here
                in_run = false;
                continue;
            }
            if (!in_run) line.segments.emplace_back();
            in_run = true;
            const double percent =
                100.0 * static_cast<double>(bucket.cold_requests) / static_cast<double>(bucket.requests);
            line.segments.back().push_back({bucket_middle_days(report, bucket), percent});
        }
        series.push_back(std::move(line));
    }
    const auto [low, high] = timeline_extent_days(report);
    return line_chart("Cold-request rate over time", "days since start", "cold requests (% of requests)", series, low,
                      high);
}

std::string resident_memory_chart(const ReplayReport& report) {
    std::vector<LineSeries> series;
    for (std::size_t i = 0; i < report.arms.size(); ++i) {
        const ArmResult& arm = report.arms[i];
        if (arm.frontier_curve) continue;  // drawn in the frontier chart only
        LineSeries line{arm.name, arm_colour(i), !arm.yardstick.empty(), {}};
        bool in_run = false;
        for (const TimelineBucket& bucket : arm.timeline) {
            if (!std::isfinite(bucket.mean_resident_mb)) {
                in_run = false;
                continue;
            }
            if (!in_run) line.segments.emplace_back();
            in_run = true;
            line.segments.back().push_back({bucket_middle_days(report, bucket), bucket.mean_resident_mb / mb_per_gb});
        }
        series.push_back(std::move(line));
    }
    const auto [low, high] = timeline_extent_days(report);
    std::optional<ReferenceLine> budget;
    if (report.budget_mb > 0 && std::isfinite(report.budget_mb))
        budget = ReferenceLine{report.budget_mb / mb_per_gb,
                               fmt::format("budget {} GB", format_fixed(report.budget_mb / mb_per_gb, 1))};
    return line_chart("Mean resident memory over time", "days since start", "resident memory (GB)", series, low, high,
                      budget);
}

/// Point labels placed greedily, in call order: each at the first of nine spots around its marker (right above, right
/// below, left above, left below, centred above, centred below, then one line higher: right, left, centred) whose box
/// (estimated at 7 px per character, 14 px high) stays inside the plot and overlaps no earlier label; when none is
/// free, at the inside spot that overlaps the fewest earlier labels (the first spot if none is inside).
class LabelPlacer {
  public:
    /// The <text> element of `label` for the marker at pixel (x, y); `label` is plain text (escaped here).
    std::string place(double x, double y, const std::string& label) {
        const double label_width = 7.0 * static_cast<double>(label.size());
        const Spot* chosen = nullptr;
        Box chosen_box{};
        std::size_t best_score = std::numeric_limits<std::size_t>::max();
        for (const Spot& spot : spots) {
            const double text_left = spot.anchor == Anchor::Start ? x + spot.dx
                                     : spot.anchor == Anchor::End ? x + spot.dx - label_width
                                                                  : x + spot.dx - label_width / 2;
            const Box box{text_left, y + spot.baseline_dy - 11, text_left + label_width, y + spot.baseline_dy + 3};
            const bool inside = box.left >= ChartFrame::left && box.right <= ChartFrame::width - ChartFrame::right &&
                                box.top >= ChartFrame::top && box.bottom <= ChartFrame::top + ChartFrame::plot_height;
            const auto overlaps = static_cast<std::size_t>(
                std::count_if(placed_.begin(), placed_.end(), [&](const Box& other) { return box.overlaps(other); }));
            const std::size_t score = (inside ? 0 : placed_.size() + 1) + overlaps;
            if (score < best_score) {
                best_score = score;
                chosen = &spot;
                chosen_box = box;
            }
            if (score == 0) break;
        }
        placed_.push_back(chosen_box);
        constexpr std::string_view anchors[] = {"start", "middle", "end"};
        return fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"point-label\" text-anchor=\"{}\">{}</text>\n",
                           x + chosen->dx, y + chosen->baseline_dy, anchors[static_cast<int>(chosen->anchor)],
                           escape_html(label));
    }

  private:
    struct Box {
        double left, top, right, bottom;
        bool overlaps(const Box& other) const {
            return left < other.right && other.left < right && top < other.bottom && other.top < bottom;
        }
    };
    enum class Anchor { Start, Middle, End };
    struct Spot {
        double dx, baseline_dy;
        Anchor anchor;
    };
    static constexpr Spot spots[] = {{10, -8, Anchor::Start},  {10, 18, Anchor::Start},  {-10, -8, Anchor::End},
                                     {-10, 18, Anchor::End},   {0, -10, Anchor::Middle}, {0, 22, Anchor::Middle},
                                     {10, -22, Anchor::Start}, {-10, -22, Anchor::End},  {0, -24, Anchor::Middle}};
    std::vector<Box> placed_;
};

/// One point per arm: x = idle memory-time, y = cold rate. Policies as filled circles, yardsticks as hollow diamonds;
/// every point labelled with its arm's name (to its right, or to its left near the right edge). The keep-alive curve
/// arms are left to the frontier chart.
std::string tradeoff_scatter(const ReplayReport& report) {
    // Both axes start at 0 (the ideal corner) unless a value lies below it; 8 % head-room keeps the markers and
    // labels at the maximum inside the plot.
    double x_low = 0, x_high = 0, y_low = 0, y_high = 0;
    for (const ArmResult& arm : report.arms) {
        if (arm.frontier_curve || !std::isfinite(arm.idle_gb_h) || !std::isfinite(arm.cold_rate)) continue;
        x_low = std::min(x_low, arm.idle_gb_h);
        x_high = std::max(x_high, arm.idle_gb_h);
        y_low = std::min(y_low, arm.cold_rate * 100.0);
        y_high = std::max(y_high, arm.cold_rate * 100.0);
    }
    ChartFrame frame{Axis::fit(x_low * 1.08, x_high * 1.08), Axis::fit(y_low * 1.08, y_high * 1.08)};

    std::vector<LegendEntry> entries;
    for (std::size_t i = 0; i < report.arms.size(); ++i) {
        const ArmResult& arm = report.arms[i];
        if (arm.frontier_curve) continue;
        entries.push_back(
            {legend_name(arm), arm.yardstick.empty() ? circle_marker(arm_colour(i)) : diamond_marker(arm_colour(i))});
    }
    const LegendLayout layout = layout_legend(entries);

    const std::string title = "Cold-request rate vs idle memory (lower left is better)";
    std::string svg = svg_open(title, layout, title);
    svg += svg_axes(frame, "idle memory-time (GB·h)", "cold requests (% of requests)");
    LabelPlacer labels;
    for (std::size_t i = 0; i < report.arms.size(); ++i) {
        const ArmResult& arm = report.arms[i];
        if (arm.frontier_curve || !std::isfinite(arm.idle_gb_h) || !std::isfinite(arm.cold_rate)) continue;
        const double x = frame.px(arm.idle_gb_h);
        const double y = frame.py(arm.cold_rate * 100.0);
        const bool yardstick = !arm.yardstick.empty();
        svg += fmt::format("<g transform=\"translate({:.1f} {:.1f})\">{}</g>\n", x, y,
                           yardstick ? diamond_marker(arm_colour(i)) : circle_marker(arm_colour(i)));
        svg += labels.place(x, y, yardstick ? arm.name + " (yardstick)" : arm.name);
    }
    svg += svg_legend(entries, layout);
    svg += "</svg>\n";
    return svg;
}

/// "5m", "2h": a curve point's TTL as its label.
std::string ttl_label(int64_t ttl_ms) {
    const int64_t minutes = ttl_ms / 60'000;
    if (ttl_ms % 60'000 != 0) return fmt::format("{}s", ttl_ms / 1000);
    return minutes % 60 == 0 ? fmt::format("{}h", minutes / 60) : fmt::format("{}m", minutes);
}

/// The frontier: x = loaded memory-time, y = avoidable cold requests. The keep-alive curve as a grey line through its
/// points (in loaded GB·h order), each labelled with its TTL; every other arm a labelled point (circles, yardsticks
/// hollow diamonds). Arm labels are placed before the TTL labels, so they win a contested spot.
std::string frontier_chart(const ReplayReport& report) {
    constexpr std::string_view curve_colour = "#555";
    double x_low = std::numeric_limits<double>::infinity(), x_high = 0, y_high = 0;
    std::vector<std::pair<Point, int64_t>> curve;  // (loaded GB·h, avoidable) and the TTL
    for (const ArmResult& arm : report.arms) {
        if (!std::isfinite(arm.loaded_gb_h)) continue;
        x_low = std::min(x_low, arm.loaded_gb_h);
        x_high = std::max(x_high, arm.loaded_gb_h);
        y_high = std::max(y_high, static_cast<double>(arm.avoidable_cold_requests));
        if (arm.frontier_curve)
            curve.push_back({{arm.loaded_gb_h, static_cast<double>(arm.avoidable_cold_requests)}, arm.frontier_ttl_ms});
    }
    std::stable_sort(curve.begin(), curve.end(), [](const auto& a, const auto& b) { return a.first.x < b.first.x; });
    // y from 0 (the floor); x over the arms' range only (no policy holds no memory), with 5 % / 8 % margins so the
    // markers and labels at the ends stay inside the plot.
    const double x_span = x_high - x_low;
    ChartFrame frame{Axis::fit(std::max(0.0, x_low - 0.05 * x_span), x_high + 0.08 * x_span),
                     Axis::fit(0, y_high * 1.08)};

    std::vector<LegendEntry> entries;
    if (!curve.empty())
        entries.push_back({"keep-alive curve (points labelled by TTL)", line_marker(curve_colour, false)});
    for (std::size_t i = 0; i < report.arms.size(); ++i) {
        const ArmResult& arm = report.arms[i];
        if (arm.frontier_curve) continue;
        entries.push_back(
            {legend_name(arm), arm.yardstick.empty() ? circle_marker(arm_colour(i)) : diamond_marker(arm_colour(i))});
    }
    const LegendLayout layout = layout_legend(entries);

    const std::string title =
        curve.empty() ? "Avoidable cold requests vs loaded memory (run with --frontier for the keep-alive curve)"
                      : "Avoidable cold requests vs loaded memory: below the keep-alive curve is better";
    std::string svg = svg_open(title, layout, title);
    svg += svg_axes(frame, "loaded memory-time (GB·h)", "avoidable cold requests");
    if (curve.size() > 1) {
        std::string points;
        for (const auto& [point, ttl] : curve)
            points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", frame.px(point.x), frame.py(point.y));
        svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"/>\n", points,
                           curve_colour);
    }
    for (const auto& [point, ttl] : curve)
        svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", frame.px(point.x),
                           frame.py(point.y), curve_colour);
    LabelPlacer labels;
    for (std::size_t i = 0; i < report.arms.size(); ++i) {
        const ArmResult& arm = report.arms[i];
        if (arm.frontier_curve || !std::isfinite(arm.loaded_gb_h)) continue;
        const double x = frame.px(arm.loaded_gb_h);
        const double y = frame.py(static_cast<double>(arm.avoidable_cold_requests));
        const bool yardstick = !arm.yardstick.empty();
        svg += fmt::format("<g transform=\"translate({:.1f} {:.1f})\">{}</g>\n", x, y,
                           yardstick ? diamond_marker(arm_colour(i)) : circle_marker(arm_colour(i)));
        svg += labels.place(x, y, yardstick ? arm.name + " (yardstick)" : arm.name);
    }
    for (const auto& [point, ttl] : curve) svg += labels.place(frame.px(point.x), frame.py(point.y), ttl_label(ttl));
    svg += svg_legend(entries, layout);
    svg += "</svg>\n";
    return svg;
}

// ---------------------------------------------------------------------------------------------------------------------
// report.md and report.html

std::string markdown_report(const ReplayReport& report) {
    std::string md = "# warmup-replay report\n\n";
    for (const auto& [label, value] : run_facts(report)) md += fmt::format("- **{}**: {}\n", label, value);
    md += "\n## Arms\n\n";
    for (const std::string& warning : arm_warnings(report)) md += "> **Warning**: " + warning + "\n\n";
    md += arms_table_markdown(report);
    md += "\n## How to read this\n\n";
    md += how_to_read;
    md += "\n\n## Timing (machine-dependent)\n\n";
    md += fmt::format(
        "Wall time {} s, {} events/s (events x arms / wall time). The compulsory-floor pass took {} s of CPU.\n\n",
        format_fixed(report.wall_seconds, 2), format_fixed(report.events_per_second, 0),
        format_fixed(report.compulsory_floor_cpu_seconds, 3));
    md += markdown_table(timing_columns(), report.arms);
    return md;
}

constexpr std::string_view html_style = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 900px;
       margin: 1.5em auto; padding: 0 12px; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.3em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; font-size: 0.92em; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.8em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; }
th { background: #f3f3f3; vertical-align: bottom; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafafa; }
p.warning { background: #fff4e5; border-left: 4px solid #e08a00; padding: 6px 10px; }
svg { width: 100%; height: auto; display: block; margin: 0.6em 0 1.2em; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; fill: #222; }
svg .chart-title { font-size: 15px; font-weight: 600; }
svg .tick, svg .legend, svg .point-label { font-size: 12px; }
svg .axis-title { font-size: 12px; fill: #555; }
svg .grid { stroke: #e6e6e6; stroke-width: 1; }
svg .axis { stroke: #555; stroke-width: 1; }
)";

std::string html_report(const ReplayReport& report) {
    std::string html =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>warmup-replay report</title>\n<style>";
    html += html_style;
    html += "</style>\n</head>\n<body>\n<h1>warmup-replay report</h1>\n<dl class=\"facts\">\n";
    for (const auto& [label, value] : run_facts(report))
        html += fmt::format("<dt>{}</dt><dd>{}</dd>\n", escape_html(label), escape_html(value));
    html += "</dl>\n<h2>Arms</h2>\n";
    for (const std::string& warning : arm_warnings(report))
        html += "<p class=\"warning\"><strong>Warning</strong>: " + escape_html(warning) + "</p>\n";
    html += "<div class=\"table-wrap\">\n";
    html += html_table(arm_columns(), report.arms);
    html += "</div>\n<h2>How to read this</h2>\n<p>";
    // how_to_read is our own text with Markdown emphasis; turn **x** into <strong>, *x* into <em>, `x` into <code>.
    const std::string escaped = escape_html(how_to_read);
    bool strong = false, emphasis = false, code = false;
    for (std::size_t i = 0; i < escaped.size(); ++i) {
        if (escaped.compare(i, 2, "**") == 0) {
            html += strong ? "</strong>" : "<strong>";
            strong = !strong;
            ++i;
        } else if (escaped[i] == '*') {
            html += emphasis ? "</em>" : "<em>";
            emphasis = !emphasis;
        } else if (escaped[i] == '`') {
            html += code ? "</code>" : "<code>";
            code = !code;
        } else {
            html += escaped[i];
        }
    }
    html += "</p>\n<h2>Charts</h2>\n";
    html += cold_rate_chart(report);
    html += resident_memory_chart(report);
    html += tradeoff_scatter(report);
    html += frontier_chart(report);
    html += "<h2>Timing (machine-dependent)</h2>\n";
    html += fmt::format(
        "<p>Wall time {} s, {} events/s (events &times; arms / wall time). The compulsory-floor pass took {} s of "
        "CPU.</p>\n",
        format_fixed(report.wall_seconds, 2), format_fixed(report.events_per_second, 0),
        format_fixed(report.compulsory_floor_cpu_seconds, 3));
    html += "<div class=\"table-wrap\">\n";
    html += html_table(timing_columns(), report.arms);
    html += "</div>\n</body>\n</html>\n";
    return html;
}

// per-model.csv: one row per arm and model with at least one request, in the arms' order and then the catalog's. A
// field holding a comma, a double quote or a line break is quoted (RFC 4180), so any model name reads back.
std::string csv_field(std::string_view text) {
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
    std::string quoted = "\"";
    for (const char c : text) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    return quoted + '"';
}

std::string per_model_csv(const ReplayReport& report) {
    std::string csv = "arm,model,requests,cold_requests,cold_rate,loaded_gb_h\n";
    for (const ArmResult& arm : report.arms) {
        for (const ModelResult& model : arm.per_model) {
            const double rate =
                model.requests > 0 ? static_cast<double>(model.cold_requests) / static_cast<double>(model.requests) : 0;
            csv += fmt::format("{},{},{},{},{},{}\n", csv_field(arm.name), csv_field(model.model), model.requests,
                               model.cold_requests, rate, model.loaded_gb_h);
        }
    }
    return csv;
}

}  // namespace

std::vector<std::string> arm_warnings(const ReplayReport& report) {
    std::vector<std::string> warnings;
    for (const ArmResult& arm : report.arms) {
        if (arm.plugin_errors == 0) continue;
        warnings.push_back(fmt::format(
            "arm '{}': {} plugin calls failed. The host answered them with its fallbacks (and, while a plugin's "
            "circuit was open, decided without it), so this arm's figures are partly the fallbacks', not its "
            "plugins'; the errors are logged on stderr.",
            arm.name, arm.plugin_errors));
    }
    for (const ArmResult& arm : report.arms) {
        if (arm.failed_requests == 0) continue;
        warnings.push_back(fmt::format(
            "arm '{}': {} of its {} requests failed (their model's load failed and was given up, or the model could "
            "not fit the budget). They are counted among its cold requests, and so among the avoidable ones unless "
            "the compulsory floor (unlimited memory) failed them too; per model in per-model.csv, the loads' "
            "failures on stderr.",
            arm.name, arm.failed_requests, arm.requests));
    }
    return warnings;
}

std::string arms_table_markdown(const ReplayReport& report) { return markdown_table(arm_columns(), report.arms); }

void write_reports(const ReplayReport& report, const std::filesystem::path& out_dir) {
    std::error_code error;
    std::filesystem::create_directories(out_dir, error);
    if (error)
        throw std::runtime_error(
            fmt::format("cannot create report directory {}: {}", out_dir.string(), error.message()));
    // Invalid UTF-8 in a name or path is replaced (U+FFFD) rather than failing the whole run after hours of replay.
    constexpr auto on_invalid_utf8 = nlohmann::json::error_handler_t::replace;
    write_text_file(out_dir / "report.json", report_to_json(report).dump(2, ' ', false, on_invalid_utf8) + "\n");
    write_text_file(out_dir / "timing.json", timing_to_json(report).dump(2, ' ', false, on_invalid_utf8) + "\n");
    write_text_file(out_dir / "per-model.csv", per_model_csv(report));
    write_text_file(out_dir / "report.md", markdown_report(report));
    write_text_file(out_dir / "report.html", html_report(report));
}

}  // namespace warmup::host::replay
