// plugins/source/prometheus/prometheus_source.hpp — org.warmup.source.prometheus: scrapes a model server's Prometheus
// metrics (Triton :8002/metrics, vLLM /metrics) every interval_ms and turns the increase of a per-model request
// counter into usage events: one event per model that served requests since the last scrape, count = the increase.
// Examples: Triton `nv_inference_request_success{model="resnet50",version="1"}`, vLLM
// `vllm:request_success_total{finished_reason="stop",model_name="meta-llama/Llama-3.1-8B-Instruct"}`.
//
// Each poll is one GET through the SDK's HttpClient (http or https, bearer token or API key, cancelled by the host's
// token, bounded by timeout_ms), then exposition_parser.hpp reads the counter's samples and counter_increase.hpp the
// increase per model (first scrape = baseline, resets handled). A failed scrape is a failed poll (the host shows the
// source as degraded and retries); lines of the counter that cannot be read and series without the model label are
// reported to the host as bad records. Events the ingest queue has no room for are kept and offered first at the
// next poll. The time of an event is the time of the scrape.
//
// Not kept across restarts: the first scrape after a start is a new baseline, so requests served while warmupd was
// down are not counted (they are in the past: at most they would have been history).
//
// Threads: poll runs on the source's host thread; the constructor and destructor while it does not. No locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <warmup/sdk/http_client.hpp>
#include <warmup/sdk/plugin.hpp>

#include "counter_increase.hpp"

namespace warmup::plugins {

class PrometheusSource final : public sdk::Source {
  public:
    /// Wait before offering kept events again after the ingest queue was full.
    static constexpr int64_t kQueueFullRetryMs = 200;
    /// Largest count of one event (as a POSTed event's); a larger increase is split over several events.
    static constexpr uint64_t kMaxCountPerEvent = 1'000'000;
    /// A series that bounced (CounterIncrease::Result::bounced_series) is said at most once per this many scrapes.
    static constexpr uint64_t kHintEveryScrapes = 240;

    /// Reads and checks the params (see README.md). Contacts no server: one that is down is a failed poll.
    PrometheusSource(sdk::Host host, sdk::Params& params);

    int64_t poll(sdk::SourcePoll& poll) override;

    [[nodiscard]] const sdk::HttpClient& client() const noexcept { return client_; }

  private:
    struct PendingEvent {
        std::string model;
        int64_t ts_ms;
        uint32_t count;
    };
    /// Emits what is kept; true when the host took all of it.
    bool emit_pending(sdk::SourcePoll& poll);
    std::string fetch(sdk::SourcePoll& poll);

    sdk::HttpClient client_;
    std::string request_path_;
    std::string metric_;
    std::string model_label_;
    int64_t interval_ms_;
    int64_t timeout_ms_;
    std::size_t max_page_bytes_;
    CounterIncrease counter_;
    uint64_t scrapes_ = 0;                      ///< scrapes read since the start
    std::optional<uint64_t> last_hint_scrape_;  ///< when a bounce was last said
    std::vector<PendingEvent> pending_;
    bool said_metric_missing_ = false;
};

}  // namespace warmup::plugins
