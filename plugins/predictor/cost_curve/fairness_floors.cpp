// fairness_floors.cpp — the floors that keep the 75th percentile of the per-model cold rates at or under what a
// keep-alive with the same memory would give (the band, the margin, the lifts and the whole-history guard).
#include <algorithm>
#include <cmath>

#include "cost_curve_constants.hpp"
#include "cost_curve_predictor.hpp"

namespace warmup::plugins {

using namespace cost_curve;

// The first wake-up's share of all requests, plus the cold share of the rest: cold[keep] / recent_requests is a rate
// over the requests after the first wake-up, so it weighs (1 - compulsory) of the total (added whole, it rated a
// model with 37 requests and a 40 % cold rate 1 point too cold, and such models decide the 75th percentile).
double CostCurvePredictor::cold_rate(const ModelState& state, int keep) const {
    if (state.request_count == 0) return 0;
    const double compulsory = std::min(state.first_burst / static_cast<double>(state.request_count), 1.0);
    // At most 1: after an import or a seed from the analyzer's histogram the curves hold more history than the
    // requests counted since (recent_requests is not kept in the state text).
    const double later =
        state.recent_requests > 0 ? std::min(state.curves.cold[keep] / state.recent_requests, 1.0) : 0.0;
    return compulsory + (1 - compulsory) * later;
}

double CostCurvePredictor::lifetime_cold_rate(const ModelState& state, int keep) {
    if (state.lifetime_requests <= 0) return 0;
    const double cold = keep < 0 ? state.lifetime_plans_cold : state.lifetime_timer_cold[keep];
    return std::min((state.first_burst + cold) / state.lifetime_requests, 1.0);
}

// The fairness floors (fairness_quantile q < 1). The target: the q-quantile of the per-model cold rates that the
// keep-alive holding the same memory as the plans would give (the first candidate whose memory-time on the scored gaps,
// weighted by model size as the plans' is, reaches the plans'). While the lean ceiling does not bind, the models whose
// rate under that keep-alive lies within kFairnessBand of the target, and whose own keep is shorter, get its keep as
// their floor: they are the ones that decide the quantile, and the timer's keep makes them fare as under the timer.
// Then models whose own keep already meets the target count as served; of the others, those that a longer keep brings
// under the target are lifted, cheapest first (the extra cold + lambda x held cost of the floor, per ms of the model's
// idle history), until q of the fleet (plus one model, for the estimate's noise) is served. A model no keep can bring
// under it (a rare model whose cold rate is its first load) is left alone: lifting it would cost memory and change
// nothing.
// The guard (1.5.0), whatever the ceiling: the decayed curves follow a model's last day or two, and a busy model whose
// recent days were calm is counted as served while its whole history is not. So the same quantile is also taken over
// whole histories (each model's rate under the same-memory keep-alive since this instance first saw it), and a model
// that keep-alive would serve over its whole history, whose own whole-history rate under the plans is over (1 -
// kFairnessBand) x that target, gets the keep-alive's keep as its floor: the models the timer serves stay served.
void CostCurvePredictor::update_fairness_floors() {
    gaps_since_fairness_ = 0;
    if (config_.fairness_quantile >= 1) return;
    int same_memory = 0;
    while (same_memory + 1 < kKeeps && timer_held_[same_memory] < plans_held_) ++same_memory;

    const auto in_use = static_cast<std::size_t>(
        std::count_if(models_.begin(), models_.end(), [](const ModelState& state) { return state.request_count > 0; }));
    if (in_use < 4) return;
    const auto served_needed = std::min(
        in_use, static_cast<std::size_t>(std::ceil(config_.fairness_quantile * static_cast<double>(in_use))) + 1);
    // The served_needed-th smallest of rate_of(state) over the models in use.
    auto quantile = [&](auto rate_of) {
        rates_scratch_.clear();
        for (const ModelState& state : models_)
            if (state.request_count > 0) rates_scratch_.push_back(rate_of(state));
        std::nth_element(rates_scratch_.begin(),
                         rates_scratch_.begin() + static_cast<std::ptrdiff_t>(served_needed - 1), rates_scratch_.end());
        return rates_scratch_[served_needed - 1];
    };
    const double target = quantile([&](const ModelState& state) { return cold_rate(state, same_memory); });
    const double lifetime_target =
        quantile([&](const ModelState& state) { return lifetime_cold_rate(state, same_memory); });

    for (ModelState& state : models_) {
        if (state.floor_keep != 0) state.plan_stale = true;
        state.floor_keep = 0;
    }
    // The band follows the lean ceiling with hysteresis: off as soon as the controller raises the price, on again
    // only once the price is back at the configured one (so the band's own memory does not switch it on and off at
    // every refresh). Without a ceiling (lean_memory_share 0) the price never rises and the band is always on.
    if (lean_log_price_ > kCeilingBindsLogPrice) band_on_ = false;
    if (lean_log_price_ <= 0) band_on_ = true;
    // The margin: the condition the floors serve compares the p75 with the keep-alive curve's drawn as straight lines
    // between a few timers, which lies under the same-memory timer's own p75 wherever that falls late, and a band
    // model's rate is decided by single requests (one gap just past the timer's keep). While the plans beat the
    // timers by a tenth, the models that decide the quantile from above (the timer leaves them at or over the
    // target) are floored one candidate past the timer's keep; the plans' saving pays for it.
    const double ratio = plans_to_timer_ratio();
    const bool margin = config_.fairness_margin && ratio >= 0 && ratio < kFairnessMarginRatio;
    std::size_t served = 0;
    lifts_scratch_.clear();
    std::array<double, kKeeps> cost{};
    for (warmup_model_index model = 0; model < models_.size(); ++model) {
        ModelState& state = models_[model];
        if (state.request_count == 0 || !keep_costs(state, model, cost)) continue;
        // The shortest keep the plan may choose: its own best, or the band's floor (a target of 0 makes no band).
        int keep = static_cast<int>(std::min_element(cost.begin(), cost.end()) - cost.begin());
        // Either floor is the same-memory keep-alive's keep: the band's on the decayed rates, the guard's on whole
        // histories.
        const auto in_band = [&] {
            const double timer_rate = cold_rate(state, same_memory);
            return band_on_ && target > 0 && timer_rate >= (1 - kFairnessBand) * target &&
                   timer_rate <= (1 + kFairnessBand) * target;
        };
        const auto guarded = [&] {
            return lifetime_cold_rate(state, same_memory) <= lifetime_target &&
                   lifetime_cold_rate(state, -1) > (1 - kFairnessBand) * lifetime_target;
        };
        const bool band = in_band();
        const int band_floor = margin && band && cold_rate(state, same_memory) >= target
                                   ? std::min(same_memory + 1, kKeeps - 1)
                                   : same_memory;
        if (keep < band_floor && (band || guarded())) {
            state.floor_keep = band_floor;
            state.plan_stale = true;
            keep = static_cast<int>(std::min_element(cost.begin() + band_floor, cost.end()) - cost.begin());
        }
        if (cold_rate(state, keep) <= target) {
            ++served;
            continue;
        }
        int floor = keep + 1;
        while (floor < kKeeps && cold_rate(state, floor) > target) ++floor;
        if (floor == kKeeps) continue;
        const double idle_ms = state.curves.held[kKeeps - 1] +
                               static_cast<double>(config_.min_keep_ms) * static_cast<double>(state.curves.gaps);
        lifts_scratch_.push_back({(cost[floor] - cost[keep]) / std::max(idle_ms, 1.0), model, floor});
    }
    std::sort(lifts_scratch_.begin(), lifts_scratch_.end(),
              [](const Lift& a, const Lift& b) { return a.cost_per_ms < b.cost_per_ms; });
    const std::size_t lifted = served >= served_needed ? 0 : std::min(served_needed - served, lifts_scratch_.size());
    for (std::size_t i = 0; i < lifted; ++i) {
        ModelState& state = models_[lifts_scratch_[i].model];
        state.floor_keep = std::max(state.floor_keep, lifts_scratch_[i].floor);
        state.plan_stale = true;
    }
}

}  // namespace warmup::plugins
