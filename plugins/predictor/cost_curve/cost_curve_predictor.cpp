// cost_curve_predictor.cpp — construction, the plans (keep and pre-warm window per model) and predict().
#include "cost_curve_predictor.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <warmup/sdk/model_table.hpp>

#include "cost_curve_constants.hpp"

namespace warmup::plugins {

using namespace cost_curve;

namespace {

/// The decay factor that halves a sum after `half_life` further additions.
double decay_for(double half_life) { return std::exp2(-1.0 / std::max(half_life, 1.0)); }

}  // namespace

CostCurvePredictor::CostCurvePredictor(sdk::Host host, sdk::Params& params) : sdk::Predictor(host) {
    using Objective = CostCurvePredictorConfig::Objective;
    config_.objective =
        params.get_choice("objective", "lean", {"lean", "budget"}) == "budget" ? Objective::budget : Objective::lean;
    config_.horizon_ms = params.get_int("horizon_ms", config_.horizon_ms, 1, kWeekMs);
    config_.min_keep_ms = params.get_int("min_keep_ms", config_.min_keep_ms, 1000, 3'600'000);
    config_.cold_request_cost_loads =
        params.get_double("cold_request_cost_loads", config_.cold_request_cost_loads, 0.01, 1e6);
    config_.reference_memory_mb = params.get_double("reference_memory_mb", config_.reference_memory_mb, 1, 1e9);
    config_.default_load_ms = params.get_double("default_load_ms", config_.default_load_ms, 1, 3.6e6);
    config_.prior_gaps = params.get_double("prior_gaps", config_.prior_gaps, 0, 1e6);
    config_.memory_gaps = params.get_double("memory_gaps", config_.memory_gaps, 1, 1e9);
    config_.prewarm = params.get_bool("prewarm", config_.prewarm);
    config_.ready_margin_ms = params.get_int("ready_margin_ms", config_.ready_margin_ms, 0, 3'600'000);
    config_.daily_window = params.get_bool("daily_window", config_.daily_window);
    config_.lean_reference_keep_ms =
        params.get_int("lean_reference_keep_ms", config_.lean_reference_keep_ms, config_.min_keep_ms, kWeekMs);
    config_.lean_memory_share = params.get_double("lean_memory_share", config_.lean_memory_share, 0, 100);
    config_.fairness_quantile = params.get_double("fairness_quantile", config_.fairness_quantile, 0, 1);
    config_.fairness_margin = params.get_bool("fairness_margin", config_.fairness_margin);
    config_.open_gaps = params.get_bool("open_gaps", config_.open_gaps);
    config_.gap_spread = params.get_double("gap_spread", config_.gap_spread, 0, 4);
    config_.price_load = params.get_choice("price_load", "fleet", {"fleet", "own"}) == "own"
                             ? CostCurvePredictorConfig::PriceLoad::own
                             : CostCurvePredictorConfig::PriceLoad::fleet;
    config_.exchange_price = params.get_bool("exchange_price", config_.exchange_price);
    config_.succession = params.get_bool("succession", config_.succession);
    // By default half the reference keep: the period the floor applies in is the reference keep itself.
    config_.startup_keep_ms =
        params.get_int("startup_keep_ms", config_.lean_reference_keep_ms / 2, 0, config_.lean_reference_keep_ms);
    for (int i = 0; i < kKeeps; ++i)
        keeps_ms_[i] = static_cast<double>(config_.min_keep_ms) * std::exp2(static_cast<double>(i) / kKeepsPerDoubling);
    if (config_.startup_keep_ms > 0)
        while (startup_floor_ + 1 < kKeeps && keeps_ms_[startup_floor_] < static_cast<double>(config_.startup_keep_ms))
            ++startup_floor_;
    gap_decay_ = decay_for(config_.memory_gaps);
    pool_decay_ = decay_for(kPoolMemoryGaps);
    lean_decay_ = decay_for(kLeanMemoryGaps);
    unknown_figures_ = {config_.default_load_ms, config_.reference_memory_mb};
    recent_uses_.fill({WARMUP_TIME_NEVER, WARMUP_NO_MODEL});
}

CostCurvePredictor::ModelState& CostCurvePredictor::state_of(warmup_model_index model) {
    // Indexes come from the host's catalog (0 .. model_count - 1); anything else is a host bug, refused before it can
    // make the table huge.
    if (model >= models_.size()) {
        if (model >= host().model_count()) throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT, "model index out of range");
        // ~1 KB per model: grown a chunk at a time, never copied (warmup/sdk/model_table.hpp).
        models_.resize(std::size_t{model} + 1);
    }
    return models_[model];
}

const CostCurvePredictor::CatalogFigures& CostCurvePredictor::figures(warmup_model_index model) const {
    if (model >= catalog_figures_.size()) {
        if (model >= host().model_count()) return unknown_figures_;  // not in the catalog: the defaults, not cached
        catalog_figures_.resize(std::size_t{model} + 1);
    }
    CatalogFigures& figures = catalog_figures_[model];
    if (figures.load_ms < 0) {
        const auto info = host().model_info(model);
        figures.load_ms = info && info->load_ms > 0 ? info->load_ms : config_.default_load_ms;
        figures.memory_mb = info && info->memory_mb > 0 ? info->memory_mb : config_.reference_memory_mb;
        ++looked_up_models_;
        looked_up_load_ms_ += figures.load_ms;
    }
    return figures;
}

double CostCurvePredictor::model_load_ms(warmup_model_index model) const { return figures(model).load_ms; }

double CostCurvePredictor::model_memory_mb(warmup_model_index model) const { return figures(model).memory_mb; }

double CostCurvePredictor::lean_price_factor() const noexcept { return std::exp(lean_log_price_); }

double CostCurvePredictor::exchange_price_factor() const noexcept { return std::exp(exchange_log()); }

// An imported value is kept whatever the configuration, so the state still hands it over; a configuration that turns
// the exchange price off (or fills the budget) prices memory at the configured price.
bool CostCurvePredictor::exchange_steered() const noexcept {
    return config_.objective == CostCurvePredictorConfig::Objective::lean && config_.exchange_price;
}

double CostCurvePredictor::exchange_log() const noexcept { return exchange_steered() ? exchange_log_price_ : 0.0; }

// Costs in requests of every candidate keep for `model`: cold(K) + lambda * (held(K) + open(K)), on the model's curves
// plus prior_gaps pseudo-gaps of the pool's. Returns false (costs untouched) when nothing is learned anywhere yet.
bool CostCurvePredictor::keep_costs(const ModelState& state, warmup_model_index model,
                                    std::array<double, kKeeps>& cost) const {
    const Curves& own = state.curves;
    const double prior = pool_.gaps > 0 ? config_.prior_gaps / pool_.gaps : 0.0;  // weight of one pool gap
    if (own.gaps + prior * pool_.gaps <= 0) return false;
    const double lambda = price(model);
    // The fleet's open idle spells longer than the reference keep, as a share of its gaps, charged on this model's
    // gaps (own and prior): each such spell holds a keep K for K - min_keep and saves nothing.
    const double open_share =
        config_.open_gaps && open_long_gaps_ > 0 ? open_long_gaps_ / (open_long_gaps_ + pool_.gaps) : 0.0;
    const double open_weight = open_share * (own.gaps + config_.prior_gaps);
    const auto min_keep = static_cast<double>(config_.min_keep_ms);
    for (int k = 0; k < kKeeps; ++k) {
        const double cold = own.cold[k] + prior * pool_.cold[k];
        const double held = own.held[k] + prior * pool_.held[k];
        cost[k] = cold + lambda * (held + open_weight * (keeps_ms_[k] - min_keep));
    }
    return true;
}

double CostCurvePredictor::base_price(warmup_model_index model) const {
    // Looked up first in either mode: a model's first look-up adds it to the fleet's mean, so the mean is never empty
    // and counts the model being priced.
    const double own_load_ms = model_load_ms(model);
    const double load_ms = config_.price_load == CostCurvePredictorConfig::PriceLoad::fleet && looked_up_models_ > 0
                               ? looked_up_load_ms_ / static_cast<double>(looked_up_models_)
                               : own_load_ms;
    return 1 / (config_.cold_request_cost_loads * load_ms * config_.reference_memory_mb);
}

double CostCurvePredictor::price(warmup_model_index model) const {
    return model_memory_mb(model) * base_price(model) * std::exp(lean_log_price_ + exchange_log());
}

// The plan: exact search over the candidate keeps and windows, on the model's curves plus prior_gaps pseudo-gaps of
// the pool's (per-gap averages). Costs are in requests: cold(K) + lambda * held(K).
void CostCurvePredictor::compute_plan(ModelState& state, warmup_model_index model) {
    state.plan_stale = false;
    Plan& plan = state.plan;
    plan = Plan{};

    std::array<double, kKeeps> cost{};
    if (!keep_costs(state, model, cost)) {
        // Nothing learned anywhere yet: the reference keep-alive, no pre-warm.
        plan.keep_ms = config_.lean_reference_keep_ms;
        return;
    }
    // The shortest keep allowed: the fairness floor if this model is lifted (update_fairness_floors), and the start-up
    // floor in the fleet's first reference keep.
    const int floor = std::max(state.floor_keep, starting_up() ? startup_floor_ : 0);
    const int keep = static_cast<int>(std::min_element(cost.begin() + floor, cost.end()) - cost.begin());
    plan.keep_ms = static_cast<int64_t>(keeps_ms_[keep]);
    // Objective budget too: the window is for the case the budget evicts the model before it (the keep that places
    // it, the lean one, is not applied then).
    if (config_.prewarm) {
        place_window(state, plan, price(model), model_load_ms(model));
        if (learns_starts_of_day()) plan.daily_start_ms = daily_opening(state.daily);
    }
    plan.median_gap_ms = median_from(state, 0);
    const double alive = survival(state, 0);
    plan.p_use_fresh = alive > 0 ? 1 - survival(state, static_cast<double>(config_.horizon_ms)) / alive : 0.0;
}

// A start of day recurs by the clock, not by the gap before it: the gap from the evening's last use to the morning's
// first spreads by both ends, the morning's clock time by one. Clock times are circular: a span may cross midnight.
int64_t CostCurvePredictor::daily_opening(const DailyWakes& daily) const {
    const std::size_t count = daily.count;
    if (count < kDailyMinWakes) return -1;
    std::size_t best = 0;
    int64_t best_first = 0;
    for (std::size_t i = 0; i < count; ++i) {  // each start of day as the span's first: 8 x 8 comparisons at most
        const int64_t first = daily.time_of_day_ms[i];
        std::size_t held = 0;
        for (std::size_t j = 0; j < count; ++j)
            if ((daily.time_of_day_ms[j] - first + kDayMs) % kDayMs <= kDailySpanMs) ++held;
        if (held > best || (held == best && first < best_first)) {
            best = held;
            best_first = first;
        }
    }
    if (best < kDailyMinWakes || 2 * best < count) return -1;
    // Ready by then, with the margin the gap windows keep: the scheduler starts the load its own lead before.
    return ((best_first - config_.ready_margin_ms) % kDayMs + kDayMs) % kDayMs;
}

// The pre-warm window for the gaps the keep does not cover, from the model's recent long gaps (exact values, not the
// candidate grid: a nightly job's gaps of 24 h +- 10 min need a window of 20 minutes, not of hours). Every window
// [a - margin, b + margin] with a <= b two recent gaps longer than the keep plus the load lead, b - a at most
// max_window, is scored on the recent gaps: the requests of the gaps it catches against lambda x the memory it holds
// (from its pre-warm, one lead before its start, to the gap's end or the window's end, for every gap that reaches the
// pre-warm). The best one is kept if it catches at least kMinWindowGaps of them and saves more than it costs.
void CostCurvePredictor::place_window(const ModelState& state, Plan& plan, double lambda, double load_ms) const {
    const std::size_t count = state.recent.count;
    if (count < kMinWindowGaps) return;
    const auto& recent = state.recent;
    const double lead = prewarm_lead_ms(load_ms);
    const auto margin = static_cast<double>(config_.ready_margin_ms);
    const auto keep = static_cast<double>(plan.keep_ms);

    // The recent gaps in increasing order with prefix sums of their lengths and bursts, so that a window's score is
    // read in a few binary searches instead of a pass over the gaps (a plan is made again at every wake-up).
    std::array<std::size_t, kRecentGaps> order{};
    std::iota(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count), std::size_t{0});
    std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count),
              [&](std::size_t a, std::size_t b) { return recent.gap_ms[a] < recent.gap_ms[b]; });
    std::array<double, kRecentGaps> sorted{};
    std::array<double, kRecentGaps + 1> gap_sum{}, burst_sum{};
    for (std::size_t k = 0; k < count; ++k) {
        sorted[k] = static_cast<double>(recent.gap_ms[order[k]]);
        gap_sum[k + 1] = gap_sum[k] + sorted[k];
        burst_sum[k + 1] = burst_sum[k] + recent.burst[order[k]];
    }
    const auto sorted_end = sorted.begin() + static_cast<std::ptrdiff_t>(count);
    const auto below = [&](double t) {  // how many gaps are < t
        return static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted_end, t) - sorted.begin());
    };
    const auto at_or_below = [&](double t) {  // how many gaps are <= t
        return static_cast<std::size_t>(std::upper_bound(sorted.begin(), sorted_end, t) - sorted.begin());
    };

    // How many gaps end before each candidate window's end (a window ends one margin after one of the gaps).
    std::array<std::size_t, kRecentGaps> caught_to_of{};
    for (std::size_t j = 0; j < count; ++j) caught_to_of[j] = below(static_cast<double>(recent.gap_ms[j]) + margin);

    // Candidates in the ring's order, the first best one kept (as the plain triple loop over the gaps did).
    double best_value = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const double first = static_cast<double>(recent.gap_ms[i]);
        const double start = first - margin;
        if (start - lead <= keep) continue;  // the keep (or a merged keep) covers it
        const double pre_warm = start - lead;
        const std::size_t caught_from = below(start);         // gaps that end at or after the window opens
        const std::size_t held_from = at_or_below(pre_warm);  // gaps that reach the pre-warm
        for (std::size_t j = 0; j < count; ++j) {
            const double last = static_cast<double>(recent.gap_ms[j]);
            if (last < first || last - first > static_cast<double>(kMaxWindowMs)) continue;
            const double end = last + margin;
            const std::size_t caught_to = caught_to_of[j];
            const std::size_t caught = caught_to - caught_from;
            if (caught < kMinWindowGaps) continue;
            const double saved = burst_sum[caught_to] - burst_sum[caught_from];
            // Each gap that reaches the pre-warm holds the model from it to the gap's end or the window's end.
            const double held = (gap_sum[caught_to] - gap_sum[held_from]) -
                                static_cast<double>(caught_to - held_from) * pre_warm +
                                static_cast<double>(count - caught_to) * (end - pre_warm);
            const double value = saved - lambda * held;
            if (value > best_value) {
                best_value = value;
                plan.window_start_ms = static_cast<int64_t>(start);
                plan.window_end_ms = static_cast<int64_t>(end);
            }
        }
    }
}

double CostCurvePredictor::survival(const ModelState& state, double t_ms) const {
    const double prior = pool_.gaps > 0 ? config_.prior_gaps / pool_.gaps : 0.0;
    const double long_gaps = state.curves.gaps + prior * pool_.gaps;
    const double all = long_gaps + state.short_gaps;
    if (all <= 0) return 0;
    const auto min_keep = static_cast<double>(config_.min_keep_ms);
    if (t_ms < min_keep) return (state.short_gaps * (1 - t_ms / min_keep) + long_gaps) / all;
    auto longer_at = [&](int i) { return state.curves.longer[i] + prior * pool_.longer[i]; };
    // Between candidates, linear in log time; below the first candidate from all long gaps; beyond the last, flat.
    const double position = std::log2(t_ms / min_keep) * kKeepsPerDoubling;
    if (position >= kKeeps - 1) return longer_at(kKeeps - 1) / all;
    const int below = static_cast<int>(position);
    const double fraction = position - below;
    const double low = longer_at(below);
    const double high = longer_at(below + 1);
    return (low + (high - low) * fraction) / all;
}

double CostCurvePredictor::median_from(const ModelState& state, double idle_ms) const {
    const double alive = survival(state, idle_ms);
    if (alive <= 0) return -1;
    const double target = alive / 2;
    double low = idle_ms, high = keeps_ms_[kKeeps - 1];
    if (survival(state, high) > target) return -1;  // more than half beyond the last candidate: unknown
    for (int step = 0; step < 40 && high - low > 500; ++step) {
        const double middle = (low + high) / 2;
        (survival(state, middle) > target ? low : high) = middle;
    }
    return high;
}

const CostCurvePredictor::Plan* CostCurvePredictor::plan_of(warmup_model_index model) {
    if (model >= models_.size() || models_[model].last_seen_ms == WARMUP_TIME_NEVER) return nullptr;
    ModelState& state = models_[model];
    if (state.plan_stale) compute_plan(state, model);
    return &state.plan;
}

void CostCurvePredictor::predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) {
    out.model = pattern.model;
    out.horizon_ms = config_.horizon_ms;
    out.warm_at_ms = WARMUP_TIME_NEVER;
    out.warm_keep_until_ms = WARMUP_TIME_NEVER;
    if (WARMUP_HAS_FIELD(&out, warmup_prediction, replan_count)) {
        out.replan_models = nullptr;
        out.replan_count = 0;
    }
    ModelState& state = state_of(pattern.model);
    now_ms_ = now_ms;
    if (startup_ends_ms_ == WARMUP_TIME_NEVER)
        startup_ends_ms_ = add_offset(now_ms, static_cast<double>(config_.lean_reference_keep_ms));
    if (config_.open_gaps) watch_idle(now_ms);
    const warmup_time_ms previous_use_ms = state.last_seen_ms;
    learn(state, pattern);
    successions_.clear();
    if (succession_learned() && state.last_seen_ms != previous_use_ms && state.last_seen_ms != WARMUP_TIME_NEVER) {
        note_leader_use(pattern.model, previous_use_ms, pattern.previous_seen_ms, state.last_seen_ms);
        if (!successions_.empty() && WARMUP_HAS_FIELD(&out, warmup_prediction, replan_count)) {
            out.replan_models = successions_.data();
            out.replan_count = static_cast<uint32_t>(successions_.size());
        }
    }
    if (config_.open_gaps && !state.watched && state.last_seen_ms != WARMUP_TIME_NEVER) {
        idle_watch_.emplace_back(state.last_seen_ms, pattern.model);
        state.watched = true;
    }
    const bool lean = config_.objective == CostCurvePredictorConfig::Objective::lean;
    if (state.last_seen_ms == WARMUP_TIME_NEVER) {
        out.p_use_within_horizon = 0;
        out.next_arrival_ms = WARMUP_TIME_NEVER;
        out.confidence = 0;
        out.keep_until_ms = lean ? now_ms : WARMUP_TIME_NEVER;
        return;
    }
    if (state.plan_stale) compute_plan(state, pattern.model);
    const Plan& plan = state.plan;

    const double idle_ms = static_cast<double>(std::max<int64_t>(now_ms - state.last_seen_ms, 0));
    double median_ms = plan.median_gap_ms;
    if (idle_ms == 0) {
        out.p_use_within_horizon = plan.p_use_fresh;
    } else {
        const double alive = survival(state, idle_ms);
        out.p_use_within_horizon = std::clamp(
            alive > 0 ? 1 - survival(state, idle_ms + static_cast<double>(config_.horizon_ms)) / alive : 0.0, 0.0, 1.0);
        median_ms = median_from(state, idle_ms);
    }
    out.next_arrival_ms = median_ms < 0 ? WARMUP_TIME_NEVER : add_offset(state.last_seen_ms, median_ms);
    const double gaps = state.curves.gaps + state.short_gaps;
    out.confidence = gaps / (gaps + kConfidenceHalfGaps);

    if (!lean) {
        // Kept until the budget evicts it; evicted before its pre-warm window, it is loaded again for the window and
        // kept as before (the scheduler plans the pre-warm, the host starts it only if the model is not loaded then).
        out.keep_until_ms = WARMUP_TIME_NEVER;
        // Only while the window is open: a window that has ended (a plan asked again after a restart, say) would load
        // the model for a use that did not come.
        if (plan.window_start_ms >= 0 &&
            now_ms < add_offset(state.last_seen_ms, static_cast<double>(plan.window_end_ms)))
            out.warm_at_ms = add_offset(state.last_seen_ms, static_cast<double>(plan.window_start_ms));
        // The daily window's next opening, when it comes before the gap window's: not one whose pre-warm is under
        // way or due (asked when that pre-warm loaded the model, or when its time came while the model was loaded:
        // the next one is tomorrow's), nor one within a shortest keep of the last use (it is loaded). "Under way" is
        // judged with a margin of twice the lead this predictor counts, and at least kDailyDueMarginMs, since the
        // scheduler's own lead (its margins, the performance plugin's load time) may be longer. A gap window due as
        // soon gives way to it too: asked again at that window's own pre-warm, it would name itself, and the
        // scheduler would plan nothing after it.
        if (plan.daily_start_ms >= 0) {
            const int64_t due_by =
                now_ms + std::max<int64_t>(static_cast<int64_t>(2 * prewarm_lead_ms(model_load_ms(pattern.model))),
                                           kDailyDueMarginMs);
            if (out.warm_at_ms != WARMUP_TIME_NEVER && out.warm_at_ms <= due_by) out.warm_at_ms = WARMUP_TIME_NEVER;
            const int64_t from = std::max<int64_t>(due_by, state.last_seen_ms + config_.min_keep_ms);
            int64_t next = from - (from % kDayMs + kDayMs) % kDayMs + plan.daily_start_ms;
            if (next <= from) next += kDayMs;
            if (next - state.last_seen_ms <= kDailyMaxIdleMs &&
                (out.warm_at_ms == WARMUP_TIME_NEVER || next < out.warm_at_ms))
                out.warm_at_ms = next;
        }
        return;
    }
    out.keep_until_ms = add_offset(state.last_seen_ms, static_cast<double>(plan.keep_ms));
    if (plan.window_start_ms >= 0) {
        out.warm_at_ms = add_offset(state.last_seen_ms, static_cast<double>(plan.window_start_ms));
        out.warm_keep_until_ms = add_offset(state.last_seen_ms, static_cast<double>(plan.window_end_ms));
    }
    // A leader's use asked for this model (succession.cpp): ready now and until the succession ends, or until its own
    // pre-warm window ends when that window opens before then.
    if (state.succession_until_ms != WARMUP_TIME_NEVER && state.succession_until_ms > now_ms) {
        warmup_time_ms until = state.succession_until_ms;
        if (out.warm_at_ms != WARMUP_TIME_NEVER && out.warm_at_ms <= until)
            until = std::max(until, out.warm_keep_until_ms);
        out.warm_at_ms = now_ms;
        out.warm_keep_until_ms = until;
        // A keep that is over is put back to the last use: one that ended a moment ago (inside the load's lead) would
        // make a scheduler take the pre-warm for one too close to the unload, and skip it. A keep still running stays:
        // the model is held to the later of its end and the succession's.
        if (out.keep_until_ms < now_ms) out.keep_until_ms = std::min(out.keep_until_ms, state.last_seen_ms);
    }
}

}  // namespace warmup::plugins
