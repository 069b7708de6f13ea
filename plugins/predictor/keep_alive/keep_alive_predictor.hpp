// keep_alive_predictor.hpp — the fixed keep-alive baseline: keep a model loaded for a fixed TTL after its last use,
// never pre-warm. With `ttl_ms: never` and an LRU resource plugin it becomes "LRU under the budget, no TTL".
//
// Thread: every method runs on the host's control thread (see warmup/predictor.h); the class holds no mutable state,
// so predict() is a pure function of the pattern and allocates nothing.
#pragma once

#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins {

class KeepAlivePredictor final : public sdk::Predictor {
  public:
    /// Reads `ttl_ms` (integer >= 0 or the string "never", default 300000 = Ollama's default 5 min) and `horizon_ms`
    /// (integer > 0, default 600000). Throws sdk::InvalidArgument naming the key ("params.ttl_ms: ...").
    KeepAlivePredictor(sdk::Host host, sdk::Params& params);

    void predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) override;

    /// WARMUP_TIME_NEVER when configured as `never` (keep until the budget evicts).
    [[nodiscard]] warmup_time_ms ttl_ms() const noexcept { return ttl_ms_; }
    [[nodiscard]] warmup_time_ms horizon_ms() const noexcept { return horizon_ms_; }

  private:
    warmup_time_ms ttl_ms_;
    warmup_time_ms horizon_ms_;
};

}  // namespace warmup::plugins
