#include "keep_alive_predictor.hpp"

#include <cmath>
#include <limits>
#include <string>

namespace warmup::plugins {
namespace {

constexpr warmup_time_ms kDefaultTtlMs = 300000;      // Ollama's OLLAMA_KEEP_ALIVE default (5 min)
constexpr warmup_time_ms kDefaultHorizonMs = 600000;  // 10 min
// Confidence reaches 0.5 after this many observed requests: n / (n + k). A handful of requests says little about a
// model's rate; a few dozen pins it down.
constexpr double kConfidenceHalfSamples = 10.0;

/// `start + delta`, saturating at WARMUP_TIME_NEVER (NEVER stays NEVER; no signed overflow).
warmup_time_ms add_ms(warmup_time_ms start_ms, warmup_time_ms delta_ms) noexcept {
    if (start_ms == WARMUP_TIME_NEVER || delta_ms == WARMUP_TIME_NEVER) return WARMUP_TIME_NEVER;
    if (delta_ms > 0 && start_ms > WARMUP_TIME_NEVER - delta_ms) return WARMUP_TIME_NEVER;
    return start_ms + delta_ms;
}

warmup_time_ms read_ttl_ms(sdk::Params& params) {
    const YAML::Node node = params.node()["ttl_ms"];
    if (node.IsDefined() && node.IsScalar() && node.Scalar() == "never") {
        (void)params.get_string("ttl_ms", "never");  // marks the key as read for Params::finish()
        return WARMUP_TIME_NEVER;
    }
    try {
        return params.get_int("ttl_ms", kDefaultTtlMs, 0, std::numeric_limits<int64_t>::max() - 1);
    } catch (const sdk::InvalidArgument&) {
        const std::string got = node.IsScalar() ? node.Scalar() : std::string("<not a scalar>");
        throw sdk::InvalidArgument("params.ttl_ms: expected milliseconds (an integer >= 0) or 'never', got '" + got +
                                   "'");
    }
}

}  // namespace

KeepAlivePredictor::KeepAlivePredictor(sdk::Host host, sdk::Params& params)
    : sdk::Predictor(host),
      ttl_ms_(read_ttl_ms(params)),
      horizon_ms_(params.get_int("horizon_ms", kDefaultHorizonMs, 1)) {}

void KeepAlivePredictor::predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) {
    out.model = pattern.model;
    out.horizon_ms = horizon_ms_;
    out.warm_at_ms = WARMUP_TIME_NEVER;  // this baseline never pre-warms
    out.warm_keep_until_ms = WARMUP_TIME_NEVER;

    if (pattern.last_seen_ms == WARMUP_TIME_NEVER || pattern.request_count == 0) {
        // Never used: nothing to anchor a TTL on. A resident but unused model is unloaded now, unless the TTL is
        // infinite (then only the budget evicts, as for every other model).
        out.p_use_within_horizon = 0.0;
        out.next_arrival_ms = WARMUP_TIME_NEVER;
        out.confidence = 0.0;
        out.keep_until_ms = ttl_ms_ == WARMUP_TIME_NEVER ? WARMUP_TIME_NEVER : now_ms;
        return;
    }

    // Poisson arrivals at the analyzer's EWMA rate: P(at least one request within the horizon) = 1 - exp(-rate * H).
    const double rate_per_ms = std::isfinite(pattern.ewma_rate_per_s) && pattern.ewma_rate_per_s > 0.0
                                   ? pattern.ewma_rate_per_s / 1000.0
                                   : 0.0;
    out.p_use_within_horizon = 1.0 - std::exp(-rate_per_ms * static_cast<double>(horizon_ms_));
    if (rate_per_ms > 0.0) {
        const double mean_gap_ms = 1.0 / rate_per_ms;
        out.next_arrival_ms =
            mean_gap_ms >= static_cast<double>(WARMUP_TIME_NEVER / 2)
                ? WARMUP_TIME_NEVER
                : add_ms(pattern.last_seen_ms, static_cast<warmup_time_ms>(std::llround(mean_gap_ms)));
    } else {
        out.next_arrival_ms = WARMUP_TIME_NEVER;
    }
    const double samples = static_cast<double>(pattern.request_count);
    out.confidence = samples / (samples + kConfidenceHalfSamples);
    out.keep_until_ms = add_ms(pattern.last_seen_ms, ttl_ms_);
}

}  // namespace warmup::plugins
