// lead_time_scheduler.hpp — turns a prediction's residency plan into timers: start a pre-warm early enough that it is
// ready when the model is predicted to be needed (expected load time plus a safety margin), and merge an unload and a
// following pre-warm when the gap between them is too short to be worth unloading.
//
// Thread: control thread only (warmup/scheduler.h). plan() and on_warmup_failed() are deterministic (no jitter) and
// allocate nothing once the model's catalog priority is cached (one vector slot per model index).
#pragma once

#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins {

class LeadTimeScheduler final : public sdk::Scheduler {
  public:
    /// Params (defaults): lead_margin_fraction 0.1, lead_margin_ms 1000, max_priority_class 3,
    /// min_idle_to_unload_ms 0, retry_base_ms 1000, retry_max_ms 60000, max_attempts 3.
    LeadTimeScheduler(sdk::Host host, sdk::Params& params);

    /// Throws sdk::Error(INVALID_ARGUMENT) when input.prediction or input.estimate is null.
    void plan(const warmup_plan_input& input, warmup_plan& out) override;
    /// now + retry_base_ms x 2^(attempt-1), capped by retry_max_ms; NEVER once attempt >= max_attempts.
    warmup_time_ms on_warmup_failed(warmup_model_index model, uint32_t attempt, warmup_time_ms now_ms) override;

    /// How long before warm_at a pre-warm must start: load_ms x (1 + lead_margin_fraction) + lead_margin_ms.
    [[nodiscard]] warmup_time_ms lead_ms(double load_ms) const noexcept;

  private:
    uint32_t priority_class_of(warmup_model_index model);

    double lead_margin_fraction_;
    warmup_time_ms lead_margin_ms_;
    uint32_t max_priority_class_;
    warmup_time_ms min_idle_to_unload_ms_;
    warmup_time_ms retry_base_ms_;
    warmup_time_ms retry_max_ms_;
    uint32_t max_attempts_;

    static constexpr uint32_t kPriorityUnknown = UINT32_MAX;
    std::vector<uint32_t> priority_by_model_;  ///< catalog priority, clamped; kPriorityUnknown until looked up
};

}  // namespace warmup::plugins
