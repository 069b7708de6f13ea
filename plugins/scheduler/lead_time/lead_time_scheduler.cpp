#include "lead_time_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace warmup::plugins {
namespace {

constexpr warmup_time_ms kMaxDurationMs = WARMUP_TIME_NEVER / 4;  // bound for configured durations (no overflow)

/// `start + delta` saturating at NEVER.
warmup_time_ms add_ms(warmup_time_ms start_ms, warmup_time_ms delta_ms) noexcept {
    if (start_ms == WARMUP_TIME_NEVER || delta_ms == WARMUP_TIME_NEVER) return WARMUP_TIME_NEVER;
    if (delta_ms > 0 && start_ms > WARMUP_TIME_NEVER - delta_ms) return WARMUP_TIME_NEVER;
    return start_ms + delta_ms;
}

}  // namespace

LeadTimeScheduler::LeadTimeScheduler(sdk::Host host, sdk::Params& params)
    : sdk::Scheduler(host),
      lead_margin_fraction_(params.get_double("lead_margin_fraction", 0.1, 0.0, 100.0)),
      lead_margin_ms_(params.get_int("lead_margin_ms", 1000, 0, kMaxDurationMs)),
      max_priority_class_(static_cast<uint32_t>(params.get_int("max_priority_class", 3, 0, 1 << 20))),
      min_idle_to_unload_ms_(params.get_int("min_idle_to_unload_ms", 0, 0, kMaxDurationMs)),
      retry_base_ms_(params.get_int("retry_base_ms", 1000, 1, kMaxDurationMs)),
      retry_max_ms_(params.get_int("retry_max_ms", 60000, 1, kMaxDurationMs)),
      max_attempts_(static_cast<uint32_t>(params.get_int("max_attempts", 3, 1, UINT32_MAX))) {
    if (retry_max_ms_ < retry_base_ms_)
        throw sdk::InvalidArgument("params.retry_max_ms: " + std::to_string(retry_max_ms_) +
                                   " is below params.retry_base_ms (" + std::to_string(retry_base_ms_) + ")");
}

namespace {

/// a - b, clamped to the range of warmup_time_ms.
warmup_time_ms saturating_sub(warmup_time_ms a, warmup_time_ms b) noexcept {
    warmup_time_ms difference = 0;
    if (!__builtin_sub_overflow(a, b, &difference)) return difference;
    return b > 0 ? std::numeric_limits<warmup_time_ms>::min() : std::numeric_limits<warmup_time_ms>::max();
}

}  // namespace

warmup_time_ms LeadTimeScheduler::lead_ms(double load_ms) const noexcept {
    const double expected_load_ms = std::isfinite(load_ms) && load_ms > 0.0 ? load_ms : 0.0;
    const double lead = std::ceil(expected_load_ms * (1.0 + lead_margin_fraction_));
    if (lead >= static_cast<double>(kMaxDurationMs)) return kMaxDurationMs;
    return static_cast<warmup_time_ms>(lead) + lead_margin_ms_;
}

uint32_t LeadTimeScheduler::priority_class_of(warmup_model_index model) {
    // Catalog records never change once a model has an index, so the clamped priority is looked up once per model.
    if (model >= priority_by_model_.size())
        priority_by_model_.resize(std::max<std::size_t>(std::size_t{model} + 1, host().model_count()),
                                  kPriorityUnknown);
    uint32_t& cached = priority_by_model_[model];
    if (cached == kPriorityUnknown) {
        const auto info = host().model_info(model);
        // A model the catalog does not know (cannot normally happen) queues behind every known one.
        cached = info ? std::min(info->priority, max_priority_class_) : max_priority_class_;
    }
    return cached;
}

namespace {

/// The estimated load time of the model being planned (0 when the performance plugin gives none).
double load_ms_of(const warmup_plan_input& input) {
    return WARMUP_HAS_FIELD(input.estimate, warmup_performance_estimate, load_ms) ? input.estimate->load_ms : 0.0;
}

}  // namespace

void LeadTimeScheduler::plan(const warmup_plan_input& input, warmup_plan& out) {
    if (input.prediction == nullptr || input.estimate == nullptr)
        throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT, "plan: input.prediction and input.estimate are required");
    const warmup_prediction& prediction = *input.prediction;

    out.model = input.model;
    out.warm_start_at_ms = WARMUP_TIME_NEVER;
    out.warm_ready_by_ms = WARMUP_TIME_NEVER;
    out.warm_unload_at_ms = WARMUP_TIME_NEVER;
    out.priority_class = priority_class_of(input.model);

    if (input.trigger == WARMUP_TRIGGER_WARMED) {
        // A pre-warm just finished: hold it for the pre-warm's keep window; the next use re-plans. A model kept until
        // evicted whose prediction already names a later pre-warm (a daily one) gets it planned now, for the case it
        // is evicted before then unused (a weekend): otherwise nothing would plan it before its next use.
        out.unload_at_ms =
            prediction.warm_at_ms != WARMUP_TIME_NEVER ? prediction.warm_keep_until_ms : prediction.keep_until_ms;
        if (out.unload_at_ms == WARMUP_TIME_NEVER && prediction.warm_at_ms != WARMUP_TIME_NEVER) {
            const warmup_time_ms start = saturating_sub(prediction.warm_at_ms, lead_ms(load_ms_of(input)));
            if (start > input.now_ms) {
                out.warm_start_at_ms = start;
                out.warm_ready_by_ms = prediction.warm_at_ms;
                out.warm_unload_at_ms = prediction.warm_keep_until_ms;
            }
        }
        return;
    }

    // USED, TIMER, and any trigger a newer host may add: re-evaluate from the prediction.
    if (prediction.warm_at_ms == WARMUP_TIME_NEVER) {
        out.unload_at_ms = prediction.keep_until_ms;
        return;
    }
    const double load_ms = load_ms_of(input);
    // Any time a predictor answers is taken (one far in the past means at once): the arithmetic saturates instead of
    // wrapping round.
    const warmup_time_ms warm_start_at_ms = saturating_sub(prediction.warm_at_ms, lead_ms(load_ms));
    if (prediction.keep_until_ms == WARMUP_TIME_NEVER) {
        out.unload_at_ms = WARMUP_TIME_NEVER;
        out.warm_start_at_ms = warm_start_at_ms;
        out.warm_ready_by_ms = prediction.warm_at_ms;
        out.warm_unload_at_ms = prediction.warm_keep_until_ms;
        return;
    }
    // Unloading at keep_until only to start loading again shortly after costs a load and saves little memory-time:
    // keep the model loaded through the predicted use instead.
    const bool gap_too_short = warm_start_at_ms <= prediction.keep_until_ms ||
                               saturating_sub(warm_start_at_ms, prediction.keep_until_ms) < min_idle_to_unload_ms_;
    if (gap_too_short) {
        out.unload_at_ms = std::max(prediction.keep_until_ms, prediction.warm_keep_until_ms);
        return;
    }
    out.unload_at_ms = prediction.keep_until_ms;
    out.warm_start_at_ms = warm_start_at_ms;
    out.warm_ready_by_ms = prediction.warm_at_ms;
    out.warm_unload_at_ms = prediction.warm_keep_until_ms;
}

warmup_time_ms LeadTimeScheduler::on_warmup_failed(warmup_model_index /*model*/, uint32_t attempt,
                                                   warmup_time_ms now_ms) {
    if (attempt >= max_attempts_) return WARMUP_TIME_NEVER;
    // retry_base x 2^(attempt-1), doubling with a cap so a large attempt number cannot overflow.
    warmup_time_ms delay_ms = retry_base_ms_;
    for (uint32_t i = 1; i < attempt && delay_ms < retry_max_ms_; ++i) delay_ms *= 2;
    return add_ms(now_ms, std::min(delay_ms, retry_max_ms_));
}

}  // namespace warmup::plugins
