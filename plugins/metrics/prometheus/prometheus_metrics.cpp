#include "prometheus_metrics.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <warmup/sdk/prometheus_text.hpp>

namespace warmup::plugins {
namespace {

constexpr std::string_view kDefaultArm = "default";
constexpr double kBytesPerMiB = 1024.0 * 1024.0;
constexpr std::string_view kStateHeader = "org.warmup.state.prometheus-counters/1";

/// Names of the counters in the exported state (stable: part of the schema).
constexpr std::array<std::string_view, PrometheusMetrics::kCounterCount> kCounterStateNames{
    "requests_warm",    "requests_cold",   "warmups_started",  "warmups_succeeded", "warmups_failed",
    "evictions",        "unloads",         "queue_rejections", "prewarms_used",     "prewarms_wasted",
    "prewarms_skipped", "events_accepted", "idle_gap_warm",    "idle_gap_any"};
constexpr std::array<std::string_view, PrometheusMetrics::kHistogramCount> kHistogramStateNames{
    "cold_wait", "decision_cycle", "load"};

/// A count carried in an event's value: rounded, and 0 for NaN or negative values (never a wrapped huge number).
uint64_t count_from(double value) {
    if (!(value > 0) || !std::isfinite(value)) return 0;
    // Nearly every value is a whole count: taken as it is, without the library call that rounds (once per event).
    if (value < 0x1p52) {
        const auto whole = static_cast<uint64_t>(value);
        if (static_cast<double>(whole) == value) return whole;
    }
    return static_cast<uint64_t>(std::llround(value));
}

void append_number(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
        return;
    }
    if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
        return;
    }
    // Shortest round-trip digits; plain decimals in the usual range (le="0.0001", 2500) and exponent notation only
    // for very small or large magnitudes, like the reference Go client. Either form is valid in the format.
    char buffer[64];
    const double magnitude = std::fabs(value);
    const bool plain = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e15);
    const auto result = plain ? std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed)
                              : std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
    out.append(buffer, result.ptr);
}

void append_number(std::string& out, uint64_t value) {
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, result.ptr);
}

void append_header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;  // our own help texts contain no backslash or line feed, so need no escaping
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

/// `name{arm="...",<extra>} value\n`; `extra` is already rendered label pairs or empty.
template <class Value>
void append_sample(std::string& out, std::string_view name, std::string_view arm, std::string_view extra_labels,
                   Value value) {
    out += name;
    out += "{arm=\"";
    sdk::append_prometheus_label_value(out, arm);
    out += '"';
    if (!extra_labels.empty()) {
        out += ',';
        out += extra_labels;
    }
    out += "} ";
    append_number(out, value);
    out += '\n';
}

// State text encoding of names: '=' followed by the name with every byte outside [A-Za-z0-9._:/@+-] as %XX, so a
// name (possibly empty, possibly with spaces) is always one whitespace-free token.
void append_encoded_name(std::string& out, std::string_view name) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    out += '=';
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) || std::string_view("._:/@+-").find(c) != std::string_view::npos) {
            out += c;
        } else {
            out += '%';
            out += kHex[byte >> 4];
            out += kHex[byte & 15];
        }
    }
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/// Thrown while parsing imported state; converted to one UNSUPPORTED/INVALID_ARGUMENT error with the line number.
struct StateParseError {
    std::string message;
};

std::string decode_name(std::string_view token) {
    if (token.empty() || token.front() != '=') throw StateParseError{"expected an encoded name starting with '='"};
    std::string name;
    for (std::size_t i = 1; i < token.size(); ++i) {
        if (token[i] != '%') {
            name += token[i];
            continue;
        }
        if (i + 2 >= token.size()) throw StateParseError{"truncated %XX escape"};
        const int high = hex_digit(token[i + 1]);
        const int low = hex_digit(token[i + 2]);
        if (high < 0 || low < 0) throw StateParseError{"bad %XX escape"};
        name += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return name;
}

uint64_t parse_count(std::string_view token) {
    uint64_t value = 0;
    const auto result = std::from_chars(token.data(), token.data() + token.size(), value);
    if (result.ec != std::errc{} || result.ptr != token.data() + token.size())
        throw StateParseError{"expected a non-negative integer, got '" + std::string(token) + "'"};
    return value;
}

double parse_finite(std::string_view token) {
    double value = 0;
    const auto result = std::from_chars(token.data(), token.data() + token.size(), value);
    if (result.ec != std::errc{} || result.ptr != token.data() + token.size() || !std::isfinite(value))
        throw StateParseError{"expected a finite number, got '" + std::string(token) + "'"};
    return value;
}

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t position = 0;
    while (position < line.size()) {
        const std::size_t start = line.find_first_not_of(' ', position);
        if (start == std::string_view::npos) break;
        const std::size_t end = std::min(line.find(' ', start), line.size());
        words.push_back(line.substr(start, end - start));
        position = end;
    }
    return words;
}

}  // namespace

// --- histograms and arms ---------------------------------------------------------------------------------------

void PrometheusMetrics::Histogram::observe(double seconds) {
    if (std::isnan(seconds)) return;
    seconds = std::max(0.0, seconds);
    // Buckets are upper-inclusive (le): the first bound >= the observation.
    const auto bound = std::lower_bound(bounds_seconds.begin(), bounds_seconds.end(), seconds);
    ++bucket_counts[static_cast<std::size_t>(bound - bounds_seconds.begin())];
    if (std::isfinite(seconds)) sum_seconds += seconds;
    ++count;
}

PrometheusMetrics::ArmMetrics::ArmMetrics() {
    histograms[kColdWait].bounds_seconds = kColdWaitBoundsSeconds;
    histograms[kDecisionCycle].bounds_seconds = kDecisionCycleBoundsSeconds;
    histograms[kLoad].bounds_seconds = kLoadBoundsSeconds;
    for (auto& histogram : histograms) histogram.bucket_counts.assign(histogram.bounds_seconds.size() + 1, 0);
}

PrometheusMetrics::PrometheusMetrics(sdk::Host host, sdk::Params& params) : sdk::Metrics(host) {
    per_model_ = params.get_bool("per_model", true);
    per_model_top_ = static_cast<std::size_t>(params.get_int("per_model_top", 100, 0, 100'000));
}

PrometheusMetrics::ArmMetrics& PrometheusMetrics::arm_for(std::string_view arm) {
    if (arm.empty()) arm = kDefaultArm;
    auto found = arms_.find(arm);
    if (found == arms_.end()) found = arms_.emplace(std::string(arm), ArmMetrics{}).first;
    return found->second;
}

void PrometheusMetrics::record(std::span<const warmup_metric_event> events) {
    // Within one call every event's name stays where the caller put it, so an event whose name is at the same place
    // with the same length as the previous one's has the same name: the lookup (a string compare) is skipped. The
    // host's batches hold up to 4096 events of one arm, so the map is searched about once per batch.
    std::string_view previous_name;
    ArmMetrics* arm = nullptr;
    for (const warmup_metric_event& event : events) {
        const std::string_view name = sdk::to_string_view(event.arm);
        if (arm == nullptr || name.data() != previous_name.data() || name.size() != previous_name.size()) {
            arm = &arm_for(name);
            previous_name = name;
        }
        record_one(*arm, event);
    }
}

void PrometheusMetrics::record_one(ArmMetrics& arm, const warmup_metric_event& event) {
    auto& counters = arm.counters;
    // A request of a model: its total, and either its own series (in the top, or a free place in it) or the rest's.
    const auto count_model_request = [&](uint64_t count, bool warm) {
        if (!per_model_ || event.model == WARMUP_NO_MODEL) return;
        if (event.model >= arm.per_model.size()) arm.per_model.resize(static_cast<std::size_t>(event.model) + 1);
        ModelCounts& model = arm.per_model[event.model];
        if (!model.shown && arm.shown_models < per_model_top_) {
            model.shown = true;
            ++arm.shown_models;
        }
        (warm ? model.warm : model.cold) += count;
        ModelCounts& series = model.shown ? model : arm.other;
        (warm ? series.shown_warm : series.shown_cold) += count;
    };
    switch (event.kind) {
        case WARMUP_METRIC_REQUEST_WARM: {
            const uint64_t count = count_from(event.value);
            counters[kRequestsWarm] += count;
            count_model_request(count, true);
            break;
        }
        case WARMUP_METRIC_REQUEST_COLD: {
            const uint64_t count = count_from(event.value);
            counters[kRequestsCold] += count;
            count_model_request(count, false);
            break;
        }
        case WARMUP_METRIC_COLD_WAIT_MS:
            arm.histograms[kColdWait].observe(event.value / 1e3);
            break;
        case WARMUP_METRIC_WARMUP_STARTED:
            ++counters[kWarmupsStarted];
            break;
        case WARMUP_METRIC_WARMUP_SUCCEEDED:
            ++counters[kWarmupsSucceeded];
            arm.histograms[kLoad].observe(event.value / 1e3);
            break;
        case WARMUP_METRIC_WARMUP_FAILED:
            ++counters[kWarmupsFailed];
            break;
        case WARMUP_METRIC_EVICTION:
            ++counters[kEvictions];
            break;
        case WARMUP_METRIC_UNLOAD:
            ++counters[kUnloads];
            break;
        case WARMUP_METRIC_QUEUE_DEPTH:
            arm.queue_depth = event.value;
            break;
        case WARMUP_METRIC_QUEUE_REJECTED:
            ++counters[kQueueRejections];
            break;
        case WARMUP_METRIC_PREWARM_USED:
            ++counters[kPrewarmsUsed];
            break;
        case WARMUP_METRIC_PREWARM_WASTED:
            ++counters[kPrewarmsWasted];
            break;
        case WARMUP_METRIC_IDLE_GAP_WARM:
            ++counters[kIdleGapWarm];
            break;
        case WARMUP_METRIC_IDLE_GAP_REQUEST:
            ++counters[kIdleGapAny];
            break;
        case WARMUP_METRIC_DECISION_CYCLE_US:
            arm.histograms[kDecisionCycle].observe(event.value / 1e6);
            break;
        case WARMUP_METRIC_EVENTS_ACCEPTED:
            counters[kEventsAccepted] += count_from(event.value);
            break;
        case WARMUP_METRIC_RESIDENT_MB:
            arm.resident_memory_mb = event.value;
            break;
        case WARMUP_METRIC_PREWARM_SKIPPED:
            ++counters[kPrewarmsSkipped];
            break;
        default:
            break;  // a kind added in a newer ABI minor: not ours to count
    }
}

std::string PrometheusMetrics::model_name(warmup_model_index model) const {
    if (const auto info = host().model_info(model); info && info->name.data != nullptr)
        return std::string(info->name.data, info->name.size);
    std::string fallback = "#";
    fallback += std::to_string(model);
    return fallback;
}

void PrometheusMetrics::resolve_imported_models(ArmMetrics& arm) {
    for (auto it = arm.unresolved_models.begin(); it != arm.unresolved_models.end();) {
        const warmup_model_index model = host().find_model(it->first);
        if (model == WARMUP_NO_MODEL) {
            ++it;
            continue;
        }
        if (model >= arm.per_model.size()) arm.per_model.resize(static_cast<std::size_t>(model) + 1);
        ModelCounts& target = arm.per_model[model];
        const ModelCounts& imported = it->second;
        target.cold += imported.cold;
        target.warm += imported.warm;
        target.shown_cold += imported.shown_cold;
        target.shown_warm += imported.shown_warm;
        if (imported.shown && target.shown) --arm.shown_models;  // one shown model where two were counted
        target.shown = target.shown || imported.shown;
        it = arm.unresolved_models.erase(it);
    }
}

void PrometheusMetrics::select_top_models(ArmMetrics& arm) const {
    std::vector<std::size_t> candidates;
    for (std::size_t model = 0; model < arm.per_model.size(); ++model)
        if (arm.per_model[model].cold + arm.per_model[model].warm > 0) candidates.push_back(model);
    if (candidates.size() <= per_model_top_ && arm.shown_models <= per_model_top_) return;
    const auto more_requests = [&](std::size_t a, std::size_t b) {
        const uint64_t total_a = arm.per_model[a].cold + arm.per_model[a].warm;
        const uint64_t total_b = arm.per_model[b].cold + arm.per_model[b].warm;
        return total_a != total_b ? total_a > total_b : a < b;
    };
    const std::size_t top = std::min(per_model_top_, candidates.size());
    std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(top), candidates.end(),
                     more_requests);
    for (ModelCounts& counts : arm.per_model) counts.shown = false;
    for (auto& [name, counts] : arm.unresolved_models) counts.shown = false;  // they get no requests until resolved
    for (std::size_t i = 0; i < top; ++i) arm.per_model[candidates[i]].shown = true;
    arm.shown_models = top;
}

// --- rendering -------------------------------------------------------------------------------------------------

void PrometheusMetrics::render(std::string_view format, std::string& out) {
    if (format != "prometheus")
        throw sdk::Error(WARMUP_ERROR_UNSUPPORTED,
                         "unknown metrics format '" + std::string(format) + "'; supported: prometheus");
    // With nothing recorded yet, still show every series at 0 for the default arm, so dashboards see the families.
    if (arms_.empty()) arm_for(kDefaultArm);
    out.reserve(out.size() + 8192 * arms_.size());

    struct CounterFamily {
        std::string_view name;
        std::string_view help;
        Counter counter;
    };
    static constexpr std::array<CounterFamily, 10> kPlainCounters{{
        {"warmup_warmups_started_total", "Warm-ups handed to a backend worker.", kWarmupsStarted},
        {"warmup_warmups_succeeded_total", "Warm-ups that left the model ready.", kWarmupsSucceeded},
        {"warmup_warmups_failed_total", "Warm-ups that failed.", kWarmupsFailed},
        {"warmup_evictions_total", "Unloads forced by the memory budget.", kEvictions},
        {"warmup_unloads_total", "Unloads planned by the scheduler.", kUnloads},
        {"warmup_queue_rejections_total",
         "Warm-ups the queue plugin refused because it was full: a pre-warm is skipped, a demand load waits in the "
         "host's own queue.",
         kQueueRejections},
        {"warmup_prewarms_used_total", "Pre-warmed models that served a request before leaving memory.", kPrewarmsUsed},
        {"warmup_prewarms_wasted_total", "Pre-warmed models that left memory unused.", kPrewarmsWasted},
        {"warmup_prewarms_skipped_total", "Pre-warms that did not fit the memory budget.", kPrewarmsSkipped},
        {"warmup_events_accepted_total", "Usage events accepted by the host.", kEventsAccepted},
    }};

    append_header(out, "warmup_requests_total", "counter",
                  "Requests by whether their model was ready (warm) or had to be loaded (cold).");
    for (const auto& [arm, metrics] : arms_) {
        append_sample(out, "warmup_requests_total", arm, "result=\"warm\"", metrics.counters[kRequestsWarm]);
        append_sample(out, "warmup_requests_total", arm, "result=\"cold\"", metrics.counters[kRequestsCold]);
    }
    for (const CounterFamily& family : kPlainCounters) {
        append_header(out, family.name, "counter", family.help);
        for (const auto& [arm, metrics] : arms_)
            append_sample(out, family.name, arm, "", metrics.counters[family.counter]);
    }
    append_header(out, "warmup_idle_gap_requests_total", "counter",
                  "Requests after an idle gap longer than their model's load time: found warm by a pre-warm, or any.");
    for (const auto& [arm, metrics] : arms_) {
        append_sample(out, "warmup_idle_gap_requests_total", arm, "result=\"warm\"", metrics.counters[kIdleGapWarm]);
        append_sample(out, "warmup_idle_gap_requests_total", arm, "result=\"any\"", metrics.counters[kIdleGapAny]);
    }

    append_header(out, "warmup_queue_depth", "gauge", "Warm-ups pending in the queue.");
    for (const auto& [arm, metrics] : arms_) append_sample(out, "warmup_queue_depth", arm, "", metrics.queue_depth);
    append_header(out, "warmup_resident_memory_bytes", "gauge",
                  "Memory held by ready, loading and unloading models, bytes.");
    for (const auto& [arm, metrics] : arms_)
        append_sample(out, "warmup_resident_memory_bytes", arm, "", metrics.resident_memory_mb * kBytesPerMiB);
    append_header(out, "warmup_prediction_precision", "gauge",
                  "Pre-warms used / (used + wasted); absent until a pre-warm was used or wasted.");
    for (const auto& [arm, metrics] : arms_) {
        const uint64_t decided = metrics.counters[kPrewarmsUsed] + metrics.counters[kPrewarmsWasted];
        if (decided > 0)
            append_sample(out, "warmup_prediction_precision", arm, "",
                          static_cast<double>(metrics.counters[kPrewarmsUsed]) / static_cast<double>(decided));
    }
    append_header(out, "warmup_prediction_recall", "gauge",
                  "Idle-gap requests found warm / all idle-gap requests; absent until an idle-gap request was seen.");
    for (const auto& [arm, metrics] : arms_) {
        if (metrics.counters[kIdleGapAny] > 0)
            append_sample(out, "warmup_prediction_recall", arm, "",
                          static_cast<double>(metrics.counters[kIdleGapWarm]) /
                              static_cast<double>(metrics.counters[kIdleGapAny]));
    }

    struct HistogramFamily {
        std::string_view name;
        std::string_view help;
        HistogramId id;
    };
    static constexpr std::array<HistogramFamily, kHistogramCount> kHistograms{{
        {"warmup_cold_wait_seconds", "Wait of each cold request for its model to load.", kColdWait},
        {"warmup_decision_cycle_seconds", "Duration of one control-loop step.", kDecisionCycle},
        {"warmup_load_seconds", "Duration of each successful warm-up.", kLoad},
    }};
    std::string bucket_name;
    std::string label;
    for (const HistogramFamily& family : kHistograms) {
        append_header(out, family.name, "histogram", family.help);
        bucket_name.assign(family.name).append("_bucket");
        for (const auto& [arm, metrics] : arms_) {
            const Histogram& histogram = metrics.histograms[family.id];
            uint64_t cumulative = 0;
            for (std::size_t i = 0; i < histogram.bucket_counts.size(); ++i) {
                cumulative += histogram.bucket_counts[i];
                label.assign("le=\"");
                if (i < histogram.bounds_seconds.size())
                    append_number(label, histogram.bounds_seconds[i]);
                else
                    label += "+Inf";
                label += '"';
                append_sample(out, bucket_name, arm, label, cumulative);
            }
            append_sample(out, std::string(family.name) + "_sum", arm, "", histogram.sum_seconds);
            append_sample(out, std::string(family.name) + "_count", arm, "", histogram.count);
        }
    }

    if (!per_model_) return;
    append_header(out, "warmup_model_requests_total", "counter",
                  "Requests per model, warm or cold, for the models with the most requests; the series with "
                  "models=\"other\" (and no model label) sums the rest.");
    for (auto& [arm, metrics] : arms_) {
        resolve_imported_models(metrics);
        select_top_models(metrics);
        // `labels` names the series: model="<name>" or kOtherModelsLabels.
        const auto append_series = [&](std::string_view labels, const ModelCounts& counts) {
            for (const bool warm : {true, false}) {
                label.assign(labels);
                label += warm ? ",result=\"warm\"" : ",result=\"cold\"";
                append_sample(out, "warmup_model_requests_total", arm, label,
                              warm ? counts.shown_warm : counts.shown_cold);
            }
        };
        std::string model_label;
        const auto append_model = [&](std::string_view name, const ModelCounts& counts) {
            model_label.assign("model=\"");
            sdk::append_prometheus_label_value(model_label, name);
            model_label += '"';
            append_series(model_label, counts);
        };
        for (std::size_t model = 0; model < metrics.per_model.size(); ++model) {
            const ModelCounts& counts = metrics.per_model[model];
            if (counts.shown) append_model(model_name(static_cast<warmup_model_index>(model)), counts);
        }
        for (const auto& [name, counts] : metrics.unresolved_models)
            if (counts.shown) append_model(name, counts);
        append_series(kOtherModelsLabels, metrics.other);
    }
}

// --- state extension -------------------------------------------------------------------------------------------
//
// Text, one record per line, every name encoded as one token (append_encoded_name):
//   org.warmup.state.prometheus-counters/1
//   arm =<name>
//   counter <state name> <count>            (every counter of kCounterStateNames)
//   gauge queue_depth|resident_memory_mb <number>
//   histogram <state name> <count> <sum seconds> <bucket 0> ... <+Inf bucket>   (non-cumulative)
//   model =<model name> <cold> <warm> <shown cold> <shown warm> <shown: 0|1>
//   other <cold> <warm>                     (requests counted in the models="other" series)
//   end
// A model line of three numbers (written before per-model series were capped) reads as shown, its series equal to
// its totals, as they were rendered then.

std::string PrometheusMetrics::export_state() const {
    std::string out(kStateHeader);
    out += '\n';
    for (const auto& [arm, metrics] : arms_) {
        out += "arm ";
        append_encoded_name(out, arm);
        out += '\n';
        for (std::size_t i = 0; i < kCounterCount; ++i) {
            out.append("counter ").append(kCounterStateNames[i]).append(" ");
            append_number(out, metrics.counters[i]);
            out += '\n';
        }
        out += "gauge queue_depth ";
        append_number(out, metrics.queue_depth);
        out += "\ngauge resident_memory_mb ";
        append_number(out, metrics.resident_memory_mb);
        out += '\n';
        for (std::size_t i = 0; i < kHistogramCount; ++i) {
            const Histogram& histogram = metrics.histograms[i];
            out.append("histogram ").append(kHistogramStateNames[i]).append(" ");
            append_number(out, histogram.count);
            out += ' ';
            append_number(out, histogram.sum_seconds);
            for (const uint64_t bucket : histogram.bucket_counts) {
                out += ' ';
                append_number(out, bucket);
            }
            out += '\n';
        }
        const auto append_model = [&](std::string_view name, const ModelCounts& counts) {
            out += "model ";
            append_encoded_name(out, name);
            for (const uint64_t value : {counts.cold, counts.warm, counts.shown_cold, counts.shown_warm}) {
                out += ' ';
                append_number(out, value);
            }
            out += counts.shown ? " 1\n" : " 0\n";
        };
        for (std::size_t model = 0; model < metrics.per_model.size(); ++model) {
            const ModelCounts& counts = metrics.per_model[model];
            if (counts.cold + counts.warm > 0) append_model(model_name(static_cast<warmup_model_index>(model)), counts);
        }
        for (const auto& [name, counts] : metrics.unresolved_models) append_model(name, counts);
        out += "other ";
        append_number(out, metrics.other.shown_cold);
        out += ' ';
        append_number(out, metrics.other.shown_warm);
        out += '\n';
    }
    out += "end\n";
    return out;
}

void PrometheusMetrics::import_state(std::string_view data) {
    ArmMap imported;
    ArmMetrics* arm = nullptr;
    std::size_t line_number = 0;
    bool ended = false;
    try {
        std::size_t position = 0;
        while (position < data.size() && !ended) {
            const std::size_t end = std::min(data.find('\n', position), data.size());
            const std::string_view line = data.substr(position, end - position);
            position = end + 1;
            ++line_number;
            if (line_number == 1) {
                if (line != kStateHeader)
                    throw StateParseError{"expected the header '" + std::string(kStateHeader) + "'"};
                continue;
            }
            const std::vector<std::string_view> words = split_words(line);
            if (words.empty()) throw StateParseError{"empty line"};
            const std::string_view keyword = words[0];
            if (keyword == "end" && words.size() == 1) {
                ended = true;
                continue;
            }
            if (keyword == "arm" && words.size() == 2) {
                std::string name = decode_name(words[1]);
                if (name.empty()) throw StateParseError{"empty arm name"};
                const auto [it, inserted] = imported.emplace(std::move(name), ArmMetrics{});
                if (!inserted) throw StateParseError{"arm listed twice"};
                arm = &it->second;
                continue;
            }
            if (arm == nullptr) throw StateParseError{"'" + std::string(keyword) + "' before any 'arm' line"};
            if (keyword == "counter" && words.size() == 3) {
                const auto found = std::find(kCounterStateNames.begin(), kCounterStateNames.end(), words[1]);
                if (found == kCounterStateNames.end())
                    throw StateParseError{"unknown counter '" + std::string(words[1]) + "'"};
                arm->counters[static_cast<std::size_t>(found - kCounterStateNames.begin())] = parse_count(words[2]);
            } else if (keyword == "gauge" && words.size() == 3) {
                const double value = parse_finite(words[2]);
                if (words[1] == "queue_depth")
                    arm->queue_depth = value;
                else if (words[1] == "resident_memory_mb")
                    arm->resident_memory_mb = value;
                else
                    throw StateParseError{"unknown gauge '" + std::string(words[1]) + "'"};
            } else if (keyword == "histogram" && words.size() >= 4) {
                const auto found = std::find(kHistogramStateNames.begin(), kHistogramStateNames.end(), words[1]);
                if (found == kHistogramStateNames.end())
                    throw StateParseError{"unknown histogram '" + std::string(words[1]) + "'"};
                Histogram& histogram = arm->histograms[static_cast<std::size_t>(found - kHistogramStateNames.begin())];
                if (words.size() != 4 + histogram.bucket_counts.size())
                    throw StateParseError{"histogram '" + std::string(words[1]) + "' needs " +
                                          std::to_string(histogram.bucket_counts.size()) + " buckets"};
                histogram.count = parse_count(words[2]);
                histogram.sum_seconds = parse_finite(words[3]);
                uint64_t total = 0;
                for (std::size_t i = 0; i < histogram.bucket_counts.size(); ++i)
                    total += histogram.bucket_counts[i] = parse_count(words[4 + i]);
                if (total != histogram.count) throw StateParseError{"histogram buckets do not add up to its count"};
            } else if (keyword == "model" && (words.size() == 4 || words.size() == 7)) {
                ModelCounts& counts = arm->unresolved_models[decode_name(words[1])];
                const uint64_t cold = parse_count(words[2]);
                const uint64_t warm = parse_count(words[3]);
                counts.cold += cold;
                counts.warm += warm;
                if (words.size() == 4) {  // before the cap every model with requests had its series
                    counts.shown_cold += cold;
                    counts.shown_warm += warm;
                    counts.shown = true;
                } else {
                    const uint64_t shown_cold = parse_count(words[4]);
                    const uint64_t shown_warm = parse_count(words[5]);
                    if (shown_cold > cold || shown_warm > warm)
                        throw StateParseError{"a model's series count more requests than the model has"};
                    if (words[6] != "0" && words[6] != "1") throw StateParseError{"expected 0 or 1 for 'shown'"};
                    counts.shown_cold += shown_cold;
                    counts.shown_warm += shown_warm;
                    counts.shown = counts.shown || words[6] == "1";
                }
            } else if (keyword == "other" && words.size() == 3) {
                arm->other.shown_cold = parse_count(words[1]);
                arm->other.shown_warm = parse_count(words[2]);
            } else {
                throw StateParseError{"unexpected record '" + std::string(line) + "'"};
            }
        }
        if (line_number == 0) throw StateParseError{"empty state"};
        if (!ended) throw StateParseError{"missing 'end' line (truncated state?)"};
        if (position < data.size()) throw StateParseError{"data after the 'end' line"};
    } catch (const StateParseError& error) {
        throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT, std::string(kStateSchema) + " state, line " +
                                                            std::to_string(line_number) + ": " + error.message);
    }
    // Attach imported model names to this host's indexes now where the catalog knows them.
    for (auto& [name, metrics] : imported) {
        for (const auto& [model, counts] : metrics.unresolved_models) metrics.shown_models += counts.shown ? 1 : 0;
        resolve_imported_models(metrics);
    }
    arms_.swap(imported);
}

}  // namespace warmup::plugins
