// fixed_prewarm_predictor.cpp — a predictor with a fixed residency plan, for the engine's retry tests: keep a model
// `keep_ms` after its last use, pre-warm it for `warm_after_ms` after that use, and keep the pre-warmed model until
// `warm_keep_ms` after the pre-warm's target. Built into build/tests/bad-plugins (never build/plugins).
//
// Params (all optional, ms): keep_ms (default 1000), warm_after_ms (default 60000), warm_keep_ms (default 5000);
// until_evicted (default false): keep the model and the pre-warmed model until evicted instead (keep_until and
// warm_keep_until NEVER), as a predictor filling the budget does; period_ms (default 0 = off): pre-warm instead at the
// next multiple of period_ms more than 10 s after now, whenever asked (a daily window on a short clock); keep_only
// (default false): write keep_until_ms alone and leave every other field as the host handed it (the shortest predictor
// a plugin author writes).
// Threading: the host calls it on its control thread only (SDK contract); it keeps no state between calls.
#include <cstdint>
#include <warmup/sdk/plugin.hpp>

namespace {

class FixedPrewarmPredictor final : public warmup::sdk::Predictor {
  public:
    FixedPrewarmPredictor(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Predictor(host),
          keep_ms_(params.get_int("keep_ms", 1000, 0, 86'400'000)),
          warm_after_ms_(params.get_int("warm_after_ms", 60'000, 0, 86'400'000)),
          warm_keep_ms_(params.get_int("warm_keep_ms", 5000, 0, 86'400'000)),
          until_evicted_(params.get_bool("until_evicted", false)),
          period_ms_(params.get_int("period_ms", 0, 0, 86'400'000)),
          keep_only_(params.get_bool("keep_only", false)) {}

    void predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) override {
        if (keep_only_) {
            out.keep_until_ms = pattern.last_seen_ms + keep_ms_;
            return;
        }
        out.model = pattern.model;
        out.horizon_ms = warm_after_ms_;
        out.p_use_within_horizon = 1.0;
        out.confidence = 1.0;
        if (pattern.last_seen_ms == WARMUP_TIME_NEVER) {
            out.next_arrival_ms = out.keep_until_ms = out.warm_at_ms = out.warm_keep_until_ms = WARMUP_TIME_NEVER;
            return;
        }
        out.next_arrival_ms = pattern.last_seen_ms + warm_after_ms_;
        out.keep_until_ms = pattern.last_seen_ms + keep_ms_;
        out.warm_at_ms = out.next_arrival_ms;
        if (period_ms_ > 0) out.warm_at_ms = ((now_ms + 10'000) / period_ms_ + 1) * period_ms_;
        out.warm_keep_until_ms = out.warm_at_ms + warm_keep_ms_;
        if (until_evicted_) out.keep_until_ms = out.warm_keep_until_ms = WARMUP_TIME_NEVER;
    }

  private:
    int64_t keep_ms_;
    int64_t warm_after_ms_;
    int64_t warm_keep_ms_;
    bool until_evicted_;
    int64_t period_ms_;
    bool keep_only_;
};

}  // namespace

WARMUP_PLUGIN(FixedPrewarmPredictor, "org.warmup.test.fixed-prewarm-predictor", "1.0.0",
              "Test only: a fixed keep, pre-warm time and pre-warm keep window after each use")
