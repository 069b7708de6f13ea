// scoring.cpp — each closed gap scored for the plan in force during it and for every candidate keep-alive, and the
// two controllers of the price of memory that read those scores: the lean ceiling and the exchange price.
#include <algorithm>
#include <cmath>

#include "cost_curve_constants.hpp"
#include "cost_curve_predictor.hpp"

namespace warmup::plugins {

using namespace cost_curve;

// A wake-up burst is complete (one load time after the wake, or the next wake-up came first): its gap is already in
// the curves (learned at the wake-up, with the burst's later requests added as they came); now the plan is made again
// with the whole burst, the model's own plan and every candidate keep-alive are scored on the gap, and the exchange
// price and the lean controller take a step.
void CostCurvePredictor::close_burst(ModelState& state, warmup_model_index model) {
    const double burst = state.burst_requests;
    const int64_t gap_ms = state.open_gap_ms;
    state.burst_end_ms = WARMUP_TIME_NEVER;
    state.burst_requests = 0;
    state.plan_stale = true;
    if (gap_ms < 0) {  // the first use: compulsory, nothing to learn about gaps
        state.reference_cold_requests += burst;
        state.first_burst = burst;
        return;
    }
    const auto gap = static_cast<double>(gap_ms);
    const auto min_keep = static_cast<double>(config_.min_keep_ms);

    const double reference_keep = static_cast<double>(config_.lean_reference_keep_ms);
    if (gap > reference_keep) state.reference_cold_requests += burst;
    if (++gaps_since_fairness_ >= kFairnessRefreshGaps) update_fairness_floors();

    // Score the plan that was in force during the gap for the lean controller: what did it hold, with a cold load if
    // the wake-up was cold? No plan was in force (keep 0) after an import or a reset: nothing to score.
    const Plan& plan = state.plan_during_gap;
    if (plan.keep_ms <= 0) return;
    const double load_ms = model_load_ms(model);
    const double keep = static_cast<double>(plan.keep_ms);
    double held = std::min(gap, keep) - min_keep;
    const bool cold = plan.leaves_cold(gap_ms);
    if (gap > keep && plan.window_start_ms >= 0) {
        const double lead = load_ms + static_cast<double>(config_.ready_margin_ms);
        const auto start = static_cast<double>(plan.window_start_ms);
        const auto end = static_cast<double>(plan.window_end_ms);
        if (gap > start - lead) held += std::min(gap, end) - (start - lead);
    }
    // The plan's own score (a cold load if it left the wake-up cold) is what the exchange price and the fairness margin
    // compare with the timers: a succession's catches and memory are an addition priced at that price, so they are left
    // out (counted in, they made the plans look far better than the timers and the price fall). The whole-history cold
    // rates and the lean ceiling count what happened: a wake-up a succession had ready was warm.
    if (cold) {
        held += load_ms;
        if (!state.open_covered) state.lifetime_plans_cold += burst;
    }
    const double memory_mb = model_memory_mb(model);
    auto timer_held = [&](double keep_ms) {  // what a keep-alive of keep_ms would have held on this gap (MiB x ms)
        return std::max(std::min(gap, keep_ms) - min_keep + (gap > keep_ms ? load_ms : 0.0), 0.0) * memory_mb;
    };
    const double plan_held = std::max(held, 0.0) * memory_mb;
    lean_held_ = lean_held_ * lean_decay_ + plan_held;
    lean_reference_held_ = lean_reference_held_ * lean_decay_ + timer_held(reference_keep);
    const bool lean = config_.objective == CostCurvePredictorConfig::Objective::lean;
    if (config_.fairness_quantile < 1 || exchange_steered()) {  // only these two read the scores
        plans_held_ = plans_held_ * lean_decay_ + plan_held;
        plans_cold_ = plans_cold_ * lean_decay_ + (cold ? burst : 0.0);
        plans_base_price_held_ = plans_base_price_held_ * lean_decay_ + plan_held * base_price(model);
        scored_gaps_ = scored_gaps_ * lean_decay_ + 1;
        for (int k = 0; k < kKeeps; ++k) {
            timer_held_[k] = timer_held_[k] * lean_decay_ + timer_held(keeps_ms_[k]);
            timer_cold_[k] = timer_cold_[k] * lean_decay_ + (gap > keeps_ms_[k] ? burst : 0.0);
        }
        if (exchange_steered()) update_exchange_price();
    }
    if (lean && config_.lean_memory_share > 0 && lean_reference_held_ > 0) {
        const double excess = lean_held_ / lean_reference_held_ - config_.lean_memory_share;
        lean_integral_ = std::clamp(lean_integral_ + kLeanStep * excess, 0.0, kMaxLogPrice);
        lean_log_price_ = std::clamp(lean_integral_ + kLeanProportional * excess, 0.0, kMaxLogPrice);
    }
}

void CostCurvePredictor::score_succession_hold(warmup_model_index model, double held_ms) {
    if (held_ms <= 0) return;
    lean_held_ += held_ms * model_memory_mb(model);
}

// The exchange price. The plans minimise cold(K) + lambda x held(K); a fixed lambda puts them at one point of their own
// frontier, and which point beats the timers by the most depends on the fleet. Let T(H) be the cold requests of the
// keep-alive that holds memory-time H, and C(H) the plans' at H: C / T is smallest where C'(H) = (C / T) x T'(H),
// i.e. where one more unit of memory saves the plans (C / T) times what it saves a timer there. So the target price is
// lambda* = (C / T) x -T'(H) at the plans' memory H, all measured on the gaps the plans were scored on: H and C the
// plans' own, T and its slope from the candidate keep-alives' (interpolated between the two that bracket H, the slope
// over kExchangeSlopeKeeps candidates on each side of H). Where memory buys the timers many requests (a steep curve) it
// gets dearer: the plans give up less by holding a little less than the timers do; where it buys them few (a flat
// curve) it gets cheaper. Both in proportion to how far the plans beat the timers already (C / T).
// The log of the multiplier moves kExchangeStep of the way to log(lambda* / the configured price) per scored gap,
// within ln 8 either way. It waits for kExchangeMinGaps scored gaps, and holds still where the timers' curve tells
// nothing (no timer left a request cold, or the curve is flat). It also holds still while the lean ceiling binds: the
// ceiling decides the memory then, and two controllers moving one price would fight.
double CostCurvePredictor::exchange_target_price(const std::array<double, kKeeps>& timer_held,
                                                 const std::array<double, kKeeps>& timer_cold, double plans_held,
                                                 double plans_cold) {
    int below = 0;
    const double timer_cold_there = timers_cold_at(timer_held, timer_cold, plans_held, below);
    const int low = std::max(0, below + 1 - kExchangeSlopeKeeps);
    const int high = std::min(kKeeps - 1, below + kExchangeSlopeKeeps);
    const double memory = timer_held[high] - timer_held[low];
    const double slope = memory > 0 ? (timer_cold[low] - timer_cold[high]) / memory : 0.0;
    if (timer_cold_there <= 0 || slope <= 0 || plans_cold <= 0) return -1;
    return plans_cold / timer_cold_there * slope;
}

double CostCurvePredictor::timers_cold_at(const std::array<double, kKeeps>& timer_held,
                                          const std::array<double, kKeeps>& timer_cold, double plans_held, int& below) {
    below = 0;  // the candidates that bracket the plans' memory: below and below + 1
    while (below + 2 < kKeeps && timer_held[below + 1] <= plans_held) ++below;
    const double span = timer_held[below + 1] - timer_held[below];
    const double position = span > 0 ? std::clamp((plans_held - timer_held[below]) / span, 0.0, 1.0) : 0.0;
    return timer_cold[below] + (timer_cold[below + 1] - timer_cold[below]) * position;
}

double CostCurvePredictor::plans_to_timer_ratio() const noexcept {
    if (scored_gaps_ < kExchangeMinGaps || plans_held_ <= 0) return -1;
    int below = 0;
    const double timers_cold = timers_cold_at(timer_held_, timer_cold_, plans_held_, below);
    return timers_cold > 0 ? plans_cold_ / timers_cold : -1;
}

void CostCurvePredictor::update_exchange_price() {
    if (scored_gaps_ < kExchangeMinGaps || plans_held_ <= 0 || plans_base_price_held_ <= 0) return;
    if (lean_log_price_ > kCeilingBindsLogPrice) return;
    const double target_price = exchange_target_price(timer_held_, timer_cold_, plans_held_, plans_cold_);
    if (target_price <= 0) return;
    // The configured price's mean over the plans, weighted by memory-time held (MiB x ms).
    const double configured_price = plans_base_price_held_ / plans_held_;
    const double target =
        std::clamp(std::log(target_price / configured_price), -kExchangeMaxLogFactor, kExchangeMaxLogFactor);
    exchange_log_price_ += kExchangeStep * (target - exchange_log_price_);
}

}  // namespace warmup::plugins
