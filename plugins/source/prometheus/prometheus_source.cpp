#include "prometheus_source.hpp"

#include <algorithm>
#include <cctype>

namespace warmup::plugins {
namespace {

bool is_metric_name(const std::string& name) {
    if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_' || name[0] == ':'))
        return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'; });
}

bool is_label_name(const std::string& name) {
    if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// "{a=\"1\",b=\"2\"}" from a series key (exposition_parser.hpp: name \x1f value \x1e ...).
std::string describe_series(const std::string& key) {
    std::string text = "{";
    for (const char c : key) {
        if (c == '\x1f')
            text += "=\"";
        else if (c == '\x1e')
            text += "\",";
        else
            text += c;
    }
    if (text.back() == ',') text.pop_back();
    return text + "}";
}

std::string shortened(const std::string& text, std::size_t limit = 200) {
    return text.size() <= limit ? text : text.substr(0, limit) + "...";
}

}  // namespace

PrometheusSource::PrometheusSource(sdk::Host host, sdk::Params& params)
    : Source(host),
      metric_(params.get_string("metric", "")),
      model_label_(params.get_string("model_label", "model")),
      interval_ms_(params.get_int("interval_ms", 15000, 100, 3'600'000)),
      timeout_ms_(params.get_int("timeout_ms", 5000, 1, 600'000)),
      max_page_bytes_(static_cast<std::size_t>(params.get_int("max_page_mb", 64, 1, 1024)) << 20),
      counter_(model_label_) {
    const std::string url = params.get_string("url", "");
    if (url.empty())
        throw sdk::InvalidArgument("params.url: required: the metrics URL, e.g. http://triton:8002/metrics");
    sdk::HttpEndpoint endpoint = sdk::parse_http_base_url(url, "params.url", 80);
    // The URL names the metrics page itself; one without a path means the usual /metrics.
    request_path_ = endpoint.path_prefix.empty() ? "/metrics" : "";
    client_ = sdk::HttpClient(std::move(endpoint), sdk::read_http_client_options(params));
    if (metric_.empty())
        throw sdk::InvalidArgument(
            "params.metric: required: the per-model request counter, e.g. nv_inference_request_success");
    if (!is_metric_name(metric_))
        throw sdk::InvalidArgument("params.metric: '" + metric_ + "' is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
    if (!is_label_name(model_label_))
        throw sdk::InvalidArgument("params.model_label: '" + model_label_ +
                                   "' is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
}

bool PrometheusSource::emit_pending(sdk::SourcePoll& poll) {
    if (pending_.empty()) return true;
    std::vector<warmup_source_event> events;
    events.reserve(pending_.size());
    for (const PendingEvent& event : pending_)
        events.push_back(sdk::source_event(event.model, {}, event.ts_ms, event.count));
    const std::size_t taken = poll.emit(events);
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(taken));
    return pending_.empty();
}

std::string PrometheusSource::fetch(sdk::SourcePoll& poll) {
    sdk::HttpRequest request;
    request.path = request_path_;
    request.timeout_ms = timeout_ms_;
    request.cancel = poll.raw().cancel;
    request.max_body_bytes = max_page_bytes_;
    const sdk::HttpResponse response = client_.send(request);
    const std::string what = "GET " + client_.url(request_path_);
    switch (response.outcome) {
        case sdk::HttpResponse::Outcome::Cancelled:
            throw sdk::Error(WARMUP_ERROR_CANCELLED, what + ": cancelled");
        case sdk::HttpResponse::Outcome::TimedOut:
            throw sdk::Error(WARMUP_ERROR_TIMEOUT,
                             what + ": no answer within " + std::to_string(timeout_ms_) + " ms (params.timeout_ms)");
        case sdk::HttpResponse::Outcome::TransportError:
            throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, what + ": " + response.transport_error +
                                                           (response.body_over_limit ? " (params.max_page_mb)" : ""));
        case sdk::HttpResponse::Outcome::Answered:
            break;
    }
    if (response.status != 200)
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE,
                         what + " answered " + std::to_string(response.status) + ": " + shortened(response.body));
    // A 200 page of another kind would parse as "no samples yet" and look healthy: a wrong url is a failed poll.
    const std::string_view kind = non_exposition_kind(response.content_type, response.body);
    if (!kind.empty())
        throw sdk::Error(
            WARMUP_ERROR_UNAVAILABLE,
            what + " answered " + std::string(kind) +
                ", not the Prometheus text format: point url at the model server's /metrics (" +
                (response.content_type.empty() ? "no Content-Type" : "Content-Type " + response.content_type) +
                ", body: " + shortened(response.body, 80) + ")");
    return response.body;
}

int64_t PrometheusSource::poll(sdk::SourcePoll& poll) {
    if (!emit_pending(poll)) return kQueueFullRetryMs;

    const std::string page = fetch(poll);
    const int64_t scraped_at_ms = host().now_ms();
    std::vector<ExpositionProblem> problems;
    const std::vector<ExpositionSample> samples = parse_exposition_samples(page, metric_, problems);
    for (const ExpositionProblem& problem : problems)
        poll.reject(client_.url(request_path_) + " line " + std::to_string(problem.line) + ": " + metric_ + ": " +
                    problem.reason);
    if (samples.empty() && problems.empty() && !said_metric_missing_) {
        // Not an error: a server exposes a labelled counter only once it served a request.
        host().warn("no samples of '" + metric_ + "' at " + client_.url(request_path_) +
                    " (yet): check params.metric if requests are being served");
        said_metric_missing_ = true;
    } else if (!samples.empty()) {
        said_metric_missing_ = false;
    }

    const CounterIncrease::Result increase = counter_.update(samples);
    for (const std::string& series : increase.series_without_model)
        poll.reject(client_.url(request_path_) + ": series " + metric_ + describe_series(series) + " has no label '" +
                    model_label_ + "' (params.model_label): not counted");
    if (increase.baseline)
        host().info("first scrape of " + client_.url(request_path_) + ": " + std::to_string(samples.size()) +
                    " series of '" + metric_ + "' taken as the baseline; requests count from the next scrape");
    if (increase.resets > 0)
        host().info(std::to_string(increase.resets) + " series of '" + metric_ + "' at " + client_.url(request_path_) +
                    " went down (a counter reset: the server restarted?): counted from 0");
    // Servers behind one URL (a load balancer) answer in turn: each switch to the lower counter reads as a reset that
    // counts it whole again. A series back at or above its value before a reset at the next scrape hints at that (a
    // counter that restarted from 0 rarely gets there so soon); it is only a hint (a model reloaded with little
    // traffic can do it too), so the source says it, at most once per kHintEveryScrapes, and counts as before.
    if (!increase.bounced_series.empty() &&
        (!last_hint_scrape_ || scrapes_ - *last_hint_scrape_ >= kHintEveryScrapes)) {
        last_hint_scrape_ = scrapes_;
        host().warn("series " + metric_ + describe_series(increase.bounced_series.front()) + " at " +
                    client_.url(request_path_) +
                    " went down and back above its old value at the next scrape: if several servers answer behind this "
                    "URL (a load balancer), every switch counts a whole counter again; scrape each server directly, "
                    "one source per server");
    }
    ++scrapes_;

    for (const auto& [model, requests] : increase.requests_by_model)
        for (uint64_t left = requests; left > 0;) {
            const uint64_t count = std::min(left, kMaxCountPerEvent);
            pending_.push_back({model, scraped_at_ms, static_cast<uint32_t>(count)});
            left -= count;
        }
    if (!emit_pending(poll)) return kQueueFullRetryMs;
    return interval_ms_;
}

}  // namespace warmup::plugins
