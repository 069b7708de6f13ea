// succession_predictor.cpp — a predictor that names followers, for the engine's succession tests: every model is kept
// `keep_ms` after its last use; a prediction for `leader` names `follower` (warmup_prediction.replan_models), and a
// prediction for `follower` names `third`; a model named since its last use asks to be ready at once and until
// `hold_ms` after the naming. Built into build/tests/bad-plugins (never build/plugins).
//
// Params: leader, follower, third (model indexes; defaults 0, 1, 2), keep_ms (default 1000), hold_ms (default 60000).
// Threading: the host calls it on its control thread only (SDK contract).
#include <cstdint>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace {

class SuccessionPredictor final : public warmup::sdk::Predictor {
  public:
    SuccessionPredictor(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Predictor(host),
          leader_(static_cast<warmup_model_index>(params.get_int("leader", 0, 0, 1000))),
          follower_(static_cast<warmup_model_index>(params.get_int("follower", 1, 0, 1000))),
          third_(static_cast<warmup_model_index>(params.get_int("third", 2, 0, 1000))),
          keep_ms_(params.get_int("keep_ms", 1000, 0, 86'400'000)),
          hold_ms_(params.get_int("hold_ms", 60'000, 0, 86'400'000)),
          named_at_(1001, WARMUP_TIME_NEVER) {}

    void predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) override {
        out.model = pattern.model;
        out.horizon_ms = hold_ms_;
        out.p_use_within_horizon = 0.5;
        out.confidence = 1.0;
        out.next_arrival_ms = WARMUP_TIME_NEVER;
        out.keep_until_ms = pattern.last_seen_ms == WARMUP_TIME_NEVER ? now_ms : pattern.last_seen_ms + keep_ms_;
        out.warm_at_ms = out.warm_keep_until_ms = WARMUP_TIME_NEVER;
        const warmup_time_ms named = named_at_[pattern.model];
        if (named != WARMUP_TIME_NEVER && (pattern.last_seen_ms == WARMUP_TIME_NEVER || named > pattern.last_seen_ms)) {
            // Ready now: the keep ends before the pre-warm's lead (at the last use, or a day ago for a model never
            // used), so the scheduler does not take the pre-warm for one too close to the unload.
            out.keep_until_ms = pattern.last_seen_ms == WARMUP_TIME_NEVER ? now_ms - 86'400'000 : pattern.last_seen_ms;
            out.warm_at_ms = now_ms;
            out.warm_keep_until_ms = named + hold_ms_;
        }
        names_.clear();
        if (pattern.model == leader_) names_.push_back(follower_);
        if (pattern.model == follower_) names_.push_back(third_);
        for (const warmup_model_index model : names_) named_at_[model] = now_ms;
        out.replan_models = names_.data();
        out.replan_count = static_cast<uint32_t>(names_.size());
    }

  private:
    warmup_model_index leader_, follower_, third_;
    int64_t keep_ms_, hold_ms_;
    std::vector<warmup_time_ms> named_at_;   ///< by model index: when a prediction last named it
    std::vector<warmup_model_index> names_;  ///< the list the last prediction handed out
};

}  // namespace

WARMUP_PLUGIN(SuccessionPredictor, "org.warmup.test.succession-predictor", "1.0.0",
              "Test only: a prediction for the leader names the follower, which is then asked ready for a while")
