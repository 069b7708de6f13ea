#include "cost_curve_predictor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <warmup/sdk/model_table.hpp>
#include <warmup/sdk/state_text.hpp>

namespace warmup::plugins {
namespace {

constexpr int64_t kWeekMs = 7LL * 24 * 3'600'000;
// The fleet's pool forgets with this half-life in gaps (all models together): long enough to pool many models, short
// enough to follow a fleet whose rhythm changes within days.
constexpr double kPoolMemoryGaps = 4096;
// The lean controller compares memory over about this many recent gaps of the fleet. The log of the price is the sum
// of an integral (this much per gap and unit of relative excess) and a proportional term (this many times the current
// relative excess). The window lags the plans by hundreds of gaps, so an integral alone overshoots and swings (on a
// 14-day fleet the price went from 1 to 51 and stayed high for days, and the memory went from 1.12 to 0.94 of the
// reference's day by day); the proportional term damps it, and the integral removes the remaining steady excess.
constexpr double kLeanMemoryGaps = 2000;
constexpr double kLeanStep = 0.008;
constexpr double kLeanProportional = 6;
constexpr double kMaxLogPrice = 30;
// The exchange price: it moves once the plans were scored on this many gaps (decayed, of the ~2,000 of the window),
// by this share of the distance to its target per scored gap (a fleet with 2,000 gaps a day covers 86 % of it in a
// day), within this factor either way of the configured price; the timers' slope is read over this many candidate
// keeps on each side of the plans' memory (a quarter doubling apart: a kink of the timers' curve, where many gaps end,
// would otherwise decide it alone).
constexpr double kExchangeMinGaps = 256;
constexpr double kExchangeStep = 0.001;
constexpr double kExchangeMaxLogFactor = 2.0794415416798357;  // ln 8
constexpr int kExchangeSlopeKeeps = 2;
constexpr uint32_t kFairnessRefreshGaps = 256;
// The fairness margin: while the plans leave at most this share of the same-memory keep-alive's cold requests, the
// band's models that the timer leaves at or over the target get one candidate keep more than the timer's (19 %).
constexpr double kFairnessMarginRatio = 0.9;
// The fairness band: models whose cold rate under the same-memory keep-alive is within this share of the target decide
// the quantile (below it, a model has room to spare; above it, lifting it costs more than its rank is worth).
constexpr double kFairnessBand = 0.25;
// The lean ceiling binds once its controller has raised the price of memory by more than this (log of the factor):
// from then on a floor's memory would be taken from the other models' keeps.
constexpr double kCeilingBindsLogPrice = 0.01;
// Confidence reaches 0.5 after this many observed gaps.
constexpr double kConfidenceHalfGaps = 10;

[[noreturn]] void bad_state(const std::string& why) {
    throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT,
                     std::string("cost-curve state import refused: ") + why + " (state left unchanged)");
}

double read_non_negative(sdk::StateTextReader& reader, const char* what) {
    const double value = reader.field<double>(what);
    if (!(value >= 0) || !std::isfinite(value)) bad_state(std::string(what) + " must be a finite number >= 0");
    return value;
}

/// A decayed count or sum, stored as float.
float read_counted(sdk::StateTextReader& reader, const char* what) {
    const double value = read_non_negative(reader, what);
    if (value > std::numeric_limits<float>::max()) bad_state(std::string(what) + " is out of range");
    return static_cast<float>(value);
}

warmup_time_ms add_offset(warmup_time_ms base_ms, double offset_ms) {
    if (base_ms == WARMUP_TIME_NEVER || !(offset_ms < 1e17)) return WARMUP_TIME_NEVER;
    // A plan's offsets are whole milliseconds: taken as they are, without the library call that rounds (on every
    // predict).
    if (offset_ms > -1e17) {
        const auto whole = static_cast<int64_t>(offset_ms);
        if (static_cast<double>(whole) == offset_ms) return base_ms + whole;
    }
    return base_ms + static_cast<int64_t>(std::llround(offset_ms));
}

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
}

CostCurvePredictor::ModelState& CostCurvePredictor::state_of(warmup_model_index model) {
    // Indexes come from the host's catalog (0 .. model_count - 1); anything else is a host bug, refused before it can
    // make the table huge.
    if (model >= models_.size()) {
        if (model >= host().model_count()) throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT, "model index out of range");
        // Not std::vector's doubling: ~1 KB per model, so doubling left up to 8 MiB of a 10 k-model table unused.
        // Still amortised O(1) per new model (warmup/sdk/model_table.hpp).
        models_.reserve(sdk::grown_model_capacity(models_.capacity(), std::size_t{model} + 1, host().model_count()));
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

// Learns from what changed since the model's last predict: one new arrival (live, possibly a batch of several: then
// only the gap before the newest one is exact, and the span from the previous batch to the newest's predecessor is
// taken as one more gap).
void CostCurvePredictor::learn(ModelState& state, const warmup_usage_pattern& pattern) {
    const bool forgotten = pattern.request_count < state.request_count ||
                           (state.last_seen_ms != WARMUP_TIME_NEVER &&
                            (pattern.last_seen_ms == WARMUP_TIME_NEVER || pattern.last_seen_ms < state.last_seen_ms));
    if (forgotten) {  // the analyzer was reset (operator's reset): forget this model too
        if (state.open_long) open_long_gaps_ -= 1;
        const bool watched = state.watched;  // its FIFO entry stays, and is dropped when it comes due
        state = ModelState{};
        state.watched = watched;
    }
    if (pattern.last_seen_ms == WARMUP_TIME_NEVER || pattern.last_seen_ms == state.last_seen_ms) {
        state.request_count = pattern.request_count;
        return;
    }
    const auto model = pattern.model;
    const double new_requests = static_cast<double>(pattern.request_count - state.request_count);
    const warmup_time_ms seen_ms = pattern.last_seen_ms;

    int64_t wake_gap_ms = -2;  // -2: no wake-up; -1: the first use; >= 0: the idle gap that ended
    bool seeded = false;
    if (state.last_seen_ms == WARMUP_TIME_NEVER) {
        wake_gap_ms = -1;
        seeded = pattern.idle_samples + pattern.idle_out_of_range > 0;
        if (seeded) {
            seed_from_histogram(state, pattern);
            end_startup();  // its history has the long gaps a young fleet has not seen yet
        }
    } else {
        const warmup_time_ms previous = pattern.previous_seen_ms;
        const warmup_time_ms before_last =
            previous != WARMUP_TIME_NEVER && previous > state.last_seen_ms ? previous : state.last_seen_ms;
        for (const int64_t gap_ms : {before_last - state.last_seen_ms, seen_ms - before_last}) {
            if (gap_ms <= 0) continue;
            if (gap_ms >= config_.min_keep_ms) {
                wake_gap_ms = gap_ms;  // the later one wins: it ends at this arrival
            } else {
                state.short_gaps += 1;
            }
        }
        if (wake_gap_ms == -2 && state.curves.gaps <= 0) {
            // Busy since its first use: no idle gap of its own has marked its plan stale, so the plan made at the
            // first request, on a fleet that had seen little, would stand for as long as it stays busy (a day and
            // more on a busy fleet). It is made again at every doubling of these arrivals: what the fleet has
            // learned since reaches it, at a cost of log2(arrivals) plans.
            state.busy_arrivals += 1;
            if ((state.busy_arrivals & (state.busy_arrivals - 1)) == 0) state.plan_stale = true;
        }
    }
    if (state.open_long) {  // its open idle spell ended (it is in the curves from now on)
        state.open_long = false;
        open_long_gaps_ -= 1;
    }
    if (state.burst_end_ms != WARMUP_TIME_NEVER && (wake_gap_ms != -2 || seen_ms >= state.burst_end_ms))
        close_burst(state, model);
    if (wake_gap_ms != -2) {
        state.open_gap_ms = wake_gap_ms;
        state.burst_end_ms = add_offset(seen_ms, model_load_ms(model));
        // With history behind a first sight, the requests counted so far are the history's, not one wake-up's.
        state.burst_requests = seeded ? std::min(new_requests, 1.0) : new_requests;
        state.plan_during_gap = state.plan;
        // The gap is learned now, with the wake-up's requests so far, so the very next plan knows it (a model that
        // wakes for one request and goes idle again must not plan that idle spell without its latest gap).
        if (wake_gap_ms >= 0) add_gap(state, wake_gap_ms, state.burst_requests);
    } else if (state.burst_end_ms != WARMUP_TIME_NEVER) {
        state.burst_requests += new_requests;
        if (state.open_gap_ms >= 0) add_burst_requests(state, state.open_gap_ms, new_requests);
    }
    if (wake_gap_ms != -1) state.recent_requests += new_requests;  // the first use's are compulsory
    // A first sight with history behind it counts as one request, as its wake-up does (the history's cold requests
    // are unknown, so its requests would only dilute the whole-history rates).
    state.lifetime_requests += seeded ? std::min(new_requests, 1.0) : new_requests;
    state.last_seen_ms = seen_ms;
    state.request_count = pattern.request_count;
}

// Later requests of an open wake-up: they join the cold counts of the keeps shorter than the gap, in the model's
// curves, the pool and the recent long gap (the newest entry of the ring). No decay: nothing was added in between to
// the model's curves (the pool's other gaps since the wake-up make this a slight over-weight, under 0.1 % per 6 gaps).
// The plan is not recomputed for each of them: the burst's end (close_burst) marks it stale.
void CostCurvePredictor::add_burst_requests(ModelState& state, int64_t gap_ms, double requests) {
    if (requests <= 0) return;
    std::array<float, kKeeps> longer{};
    gap_profile(static_cast<double>(gap_ms), state.open_gap_spread, longer, nullptr);
    const auto added = static_cast<float>(requests);
    for (int i = 0; i < kKeeps && longer[i] > 0; ++i) {
        state.curves.cold[i] += added * longer[i];
        state.lifetime_timer_cold[i] += added * longer[i];
        pool_.cold[i] += added * longer[i];
    }
    if (gap_ms >= config_.lean_reference_keep_ms && state.recent_count > 0)
        state.recent[(state.recent_next + kRecentGaps - 1) % kRecentGaps].burst += added;
}

double CostCurvePredictor::spread_of(const ModelState& state) const {
    if (config_.gap_spread <= 0 || config_.prior_gaps <= 0) return 0;
    return config_.gap_spread * std::sqrt(config_.prior_gaps / (config_.prior_gaps + state.curves.gaps));
}

double CostCurvePredictor::gap_profile(double gap_ms, double spread, std::array<float, kKeeps>& longer,
                                       std::array<float, kKeeps>* held) const {
    // A triangular kernel reaching zero at +-spread doublings, sampled at points = ceil(4 x spread) on each side of the
    // gap, spread / (points + 1) apart (at most a quarter doubling, the candidates' spacing), weights points + 1 - |j|.
    constexpr int kMaxPoints = 16;
    const int points = spread > 1e-3 ? std::min(kMaxPoints, static_cast<int>(std::ceil(spread * 4))) : 0;
    std::array<double, 2 * kMaxPoints + 1> gaps{}, weights{};
    double total = 0;
    for (int j = -points; j <= points; ++j) {
        gaps[j + points] = gap_ms * std::exp2(spread * j / (points + 1));
        total += weights[j + points] = points + 1 - std::abs(j);
    }
    const auto min_keep = static_cast<double>(config_.min_keep_ms);
    double below = 0;  // the share shorter than the shortest keep: a short gap, always warm
    for (int p = 0; p <= 2 * points; ++p) {
        weights[p] /= total;
        if (gaps[p] < min_keep) below += weights[p];
    }
    for (int i = 0; i < kKeeps; ++i) {
        double share = 0, memory = 0;
        for (int p = 0; p <= 2 * points; ++p) {
            if (gaps[p] > keeps_ms_[i]) share += weights[p];
            memory += weights[p] * std::max(std::min(gaps[p], keeps_ms_[i]) - min_keep, 0.0);
        }
        longer[i] = static_cast<float>(share);
        if (held != nullptr) (*held)[i] = static_cast<float>(memory);
    }
    return below;
}

void CostCurvePredictor::add_gap(ModelState& state, int64_t gap_ms, double burst) {
    Curves& curves = state.curves;
    const auto decay = static_cast<float>(gap_decay_);
    const auto pool_decay = static_cast<float>(pool_decay_);
    std::array<float, kKeeps> longer{}, held{};
    state.open_gap_spread = static_cast<float>(spread_of(state));
    // The share of a spread gap below the shortest keep counts as a short gap (p_use and the median see it there).
    const auto below =
        static_cast<float>(gap_profile(static_cast<double>(gap_ms), state.open_gap_spread, longer, &held));
    for (int i = 0; i < kKeeps; ++i) {
        const float cold = static_cast<float>(burst) * longer[i];
        curves.cold[i] = curves.cold[i] * decay + cold;
        state.lifetime_timer_cold[i] += cold;
        curves.held[i] = curves.held[i] * decay + held[i];
        curves.longer[i] = curves.longer[i] * decay + longer[i];
        pool_.cold[i] = pool_.cold[i] * pool_decay + cold;
        pool_.held[i] = pool_.held[i] * pool_decay + held[i];
        pool_.longer[i] = pool_.longer[i] * pool_decay + longer[i];
    }
    curves.gaps = curves.gaps * decay + (1 - below);
    pool_.gaps = pool_.gaps * pool_decay + (1 - below);
    state.short_gaps = state.short_gaps * decay + below;
    state.recent_requests *= decay;
    state.plan_stale = true;
    if (gap_ms >= config_.lean_reference_keep_ms) {  // a candidate for pre-warm windows
        state.recent[state.recent_next] = RecentGap{gap_ms, static_cast<float>(burst)};
        state.recent_next = (state.recent_next + 1) % kRecentGaps;
        state.recent_count = std::min<std::size_t>(state.recent_count + 1, kRecentGaps);
    }
}

// A model first seen with history behind it (back-filled events the analyzer learned in one batch, or a predictor
// swapped in on a running host) starts from the analyzer's idle-time histogram: each gap at its bin's lower edge (a
// gap of exactly one bin width stays exactly that), gaps beyond the histogram's range beyond the last candidate keep
// (no keep catches them), each with a burst of one request (bursts are measured only on wake-ups this instance sees).
// All seeded gaps count as equally old, scaled so that their weight is at most what a steady stream of gaps keeps
// (memory_gaps / ln 2), and they stay out of the fleet's pool: one back-filled model must not become the prior.
void CostCurvePredictor::seed_from_histogram(ModelState& state, const warmup_usage_pattern& pattern) {
    if (pattern.idle_histogram == nullptr || pattern.idle_bin_ms == 0) return;
    const int64_t bin_ms = pattern.idle_bin_ms;
    double long_gaps = static_cast<double>(pattern.idle_out_of_range), short_gaps = 0;
    for (uint32_t bin = 0; bin < pattern.idle_histogram_bins; ++bin)
        (int64_t{bin} * bin_ms >= config_.min_keep_ms ? long_gaps : short_gaps) += pattern.idle_histogram[bin];
    const double steady_weight = config_.memory_gaps / std::log(2.0);
    const double scale = long_gaps > steady_weight ? steady_weight / long_gaps : 1.0;
    state.short_gaps += static_cast<float>(short_gaps * scale);
    auto seed = [&](double gap_ms, double weight) {
        if (weight <= 0) return;
        Curves& curves = state.curves;
        const auto min_keep = static_cast<double>(config_.min_keep_ms);
        for (int i = 0; i < kKeeps; ++i) {
            const bool longer = gap_ms > keeps_ms_[i];
            curves.cold[i] += static_cast<float>(longer ? weight : 0.0);
            curves.held[i] += static_cast<float>(weight * (std::min(gap_ms, keeps_ms_[i]) - min_keep));
            curves.longer[i] += static_cast<float>(longer ? weight : 0.0);
        }
        curves.gaps += static_cast<float>(weight);
    };
    for (uint32_t bin = 0; bin < pattern.idle_histogram_bins; ++bin) {
        const int64_t gap_ms = int64_t{bin} * bin_ms;
        if (gap_ms >= config_.min_keep_ms) seed(static_cast<double>(gap_ms), pattern.idle_histogram[bin] * scale);
    }
    seed(2 * keeps_ms_[kKeeps - 1], static_cast<double>(pattern.idle_out_of_range) * scale);
    state.plan_stale = true;
}

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
    bool cold = gap > keep;
    if (cold && plan.window_start_ms >= 0) {
        const double lead = load_ms + static_cast<double>(config_.ready_margin_ms);
        const auto start = static_cast<double>(plan.window_start_ms);
        const auto end = static_cast<double>(plan.window_end_ms);
        if (gap > start - lead) held += std::min(gap, end) - (start - lead);
        cold = !(gap >= start && gap < end);
    }
    if (cold) {
        held += load_ms;
        state.lifetime_plans_cold += burst;
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

// Pops the last uses older than the reference keep: a model not used since is idle longer than the reference keep
// now; one used since is watched again from its latest use. Each model has at most one entry, so the FIFO holds at
// most one per model, and its order is that of the last uses (exact in replay, nearly so live).
void CostCurvePredictor::watch_idle(warmup_time_ms now_ms) {
    const warmup_time_ms horizon_ms = now_ms - config_.lean_reference_keep_ms;
    while (!idle_watch_.empty() && idle_watch_.front().first < horizon_ms) {
        const auto [seen_ms, model] = idle_watch_.front();
        idle_watch_.pop_front();
        ModelState& state = models_[model];
        state.watched = false;
        if (state.last_seen_ms == seen_ms) {
            if (!state.open_long) {
                state.open_long = true;
                open_long_gaps_ += 1;
            }
        } else if (state.last_seen_ms != WARMUP_TIME_NEVER) {
            idle_watch_.emplace_back(state.last_seen_ms, model);
            state.watched = true;
        }
    }
}

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
    if (config_.prewarm && config_.objective == CostCurvePredictorConfig::Objective::lean)
        place_window(state, plan, price(model), model_load_ms(model));
    plan.median_gap_ms = median_from(state, 0);
    const double alive = survival(state, 0);
    plan.p_use_fresh = alive > 0 ? 1 - survival(state, static_cast<double>(config_.horizon_ms)) / alive : 0.0;
}

// The pre-warm window for the gaps the keep does not cover, from the model's recent long gaps (exact values, not the
// candidate grid: a nightly job's gaps of 24 h +- 10 min need a window of 20 minutes, not of hours). Every window
// [a - margin, b + margin] with a <= b two recent gaps longer than the keep plus the load lead, b - a at most
// max_window, is scored on the recent gaps: the requests of the gaps it catches against lambda x the memory it holds
// (from its pre-warm, one lead before its start, to the gap's end or the window's end, for every gap that reaches the
// pre-warm). The best one is kept if it catches at least kMinWindowGaps of them and saves more than it costs.
void CostCurvePredictor::place_window(const ModelState& state, Plan& plan, double lambda, double load_ms) const {
    const auto& recent = state.recent;
    const double lead = load_ms * 1.1 + 1000 + static_cast<double>(config_.ready_margin_ms);
    const auto margin = static_cast<double>(config_.ready_margin_ms);
    const auto keep = static_cast<double>(plan.keep_ms);
    double best_value = 0;
    for (std::size_t i = 0; i < state.recent_count; ++i) {
        const double first = static_cast<double>(recent[i].gap_ms);
        const double start = first - margin;
        if (start - lead <= keep) continue;  // the keep (or a merged keep) covers it
        for (std::size_t j = 0; j < state.recent_count; ++j) {
            const double last = static_cast<double>(recent[j].gap_ms);
            if (last < first || last - first > static_cast<double>(kMaxWindowMs)) continue;
            const double end = last + margin;
            double saved = 0, held = 0;
            std::size_t caught = 0;
            for (std::size_t g = 0; g < state.recent_count; ++g) {
                const double gap = static_cast<double>(recent[g].gap_ms);
                if (gap >= start && gap < end) {
                    saved += recent[g].burst;
                    ++caught;
                }
                if (gap > start - lead) held += std::min(gap, end) - (start - lead);
            }
            const double value = saved - lambda * held;
            if (caught >= kMinWindowGaps && value > best_value) {
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
    ModelState& state = state_of(pattern.model);
    now_ms_ = now_ms;
    if (startup_ends_ms_ == WARMUP_TIME_NEVER)
        startup_ends_ms_ = add_offset(now_ms, static_cast<double>(config_.lean_reference_keep_ms));
    if (config_.open_gaps) watch_idle(now_ms);
    learn(state, pattern);
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
        out.keep_until_ms = WARMUP_TIME_NEVER;
        return;
    }
    out.keep_until_ms = add_offset(state.last_seen_ms, static_cast<double>(plan.keep_ms));
    if (plan.window_start_ms >= 0) {
        out.warm_at_ms = add_offset(state.last_seen_ms, static_cast<double>(plan.window_start_ms));
        out.warm_keep_until_ms = add_offset(state.last_seen_ms, static_cast<double>(plan.window_end_ms));
    }
}

// Format (text, one record per line, numbers in decimal):
//   org.warmup.state.cost-curve/2
//   -1 <lean_held> <lean_reference_held> <lean_log_price (the controller's integral)> <pool curves>
//      <exchange_log_price>
//   <model index> <last_seen_ms> <request_count> <short_gaps> <reference_cold_requests> <curves> <recent gaps>
// where <curves> = <gaps> <cold x 48> <held x 48> <longer x 48> and <recent gaps> = <count> then count pairs
// <gap_ms> <burst>, oldest first. The gap of an open wake-up is kept with the requests counted so far (its later
// requests are not added after an import). <exchange_log_price> came with 1.4.0: it is optional and last, so a text of
// 1.3.0 and before is read (the exchange price then starts at 1) under the same schema, which is what the host matches
// when it hands a state over (1.3.0 refuses a text that has it: a downgrade starts cold). Not kept: the
// fairness floors (recomputed after 256 gaps) and the counts behind their cold rates (a model's first-load requests and
// its recent request count, rebuilt as it is used), the plans' and each candidate keep-alive's scores for the
// floors and the exchange price's target (measured again from the next gaps), and the open idle spells (counted again
// from the next uses). Model indexes are those of the host process (stable for its life), which is what a hot-swap or a
// backup of the same catalog hands over.
namespace {

void append_number(std::string& text, double value) {
    char number[32];
    const int length = std::snprintf(number, sizeof number, " %.9g", value);
    text.append(number, static_cast<std::size_t>(length));
}

}  // namespace

void CostCurvePredictor::append_curves(std::string& text, const Curves& curves) {
    append_number(text, curves.gaps);
    for (const float value : curves.cold) append_number(text, value);
    for (const float value : curves.held) append_number(text, value);
    for (const float value : curves.longer) append_number(text, value);
}

void CostCurvePredictor::append_model_fields(std::string& text, const ModelState& state) {
    text += std::to_string(state.last_seen_ms);
    text += ' ';
    text += std::to_string(state.request_count);
    append_number(text, state.short_gaps);
    append_number(text, state.reference_cold_requests);
    append_curves(text, state.curves);
    text += ' ';
    text += std::to_string(state.recent_count);
    for (std::size_t i = 0; i < state.recent_count; ++i) {
        const RecentGap& gap = state.recent[(state.recent_next + kRecentGaps - state.recent_count + i) % kRecentGaps];
        text += ' ';
        text += std::to_string(gap.gap_ms);
        append_number(text, gap.burst);
    }
    text += '\n';
}

std::string CostCurvePredictor::export_state() const {
    return sdk::StateWriter::collect([this](const sdk::StateWriter& out) { export_state_to(out); });
}

void CostCurvePredictor::export_state_to(const sdk::StateWriter& out) const {
    // About 1 KB of text per model, handed to the host in blocks of a few lines: at 10 k models the whole text
    // (~10 MB) is never held, by this plugin or by the host (which streams it to its snapshot file).
    constexpr std::size_t kBlockBytes = 32 * 1024;
    std::string block;
    block.reserve(kBlockBytes + 4096);
    block += kStateSchema;
    block += "\n-1";
    append_number(block, lean_held_);
    append_number(block, lean_reference_held_);
    append_number(block, lean_integral_);  // the proportional term is recomputed at the next closed gap
    append_curves(block, pool_);
    append_number(block, exchange_log_price_);
    block += '\n';
    for (std::size_t model = 0; model < models_.size(); ++model) {
        const ModelState& state = models_[model];
        if (state.last_seen_ms == WARMUP_TIME_NEVER) continue;
        block += std::to_string(model);
        block += ' ';
        append_model_fields(block, state);
        if (block.size() >= kBlockBytes) {
            out.write(block);
            block.clear();
        }
    }
    out.write(block);
}

// The fields of one model's line after its index (both formats share them): last_seen_ms, request_count, short gaps,
// reference cold requests, curves, recent gaps. Refuses (throws) on a bad field; `whose` names the model in messages.
void CostCurvePredictor::read_model_fields(sdk::StateTextReader& reader, ModelState& state, const std::string& whose) {
    state.last_seen_ms = reader.field<int64_t>("(last_seen_ms)");
    if (state.last_seen_ms < 0 || state.last_seen_ms >= WARMUP_TIME_NEVER / 2)
        bad_state("last_seen_ms of " + whose + " is out of range");
    state.request_count = reader.field<uint64_t>("(request_count)");
    state.short_gaps = read_counted(reader, "(short gaps)");
    state.reference_cold_requests = read_non_negative(reader, "(reference cold requests)");
    read_curves(reader, state.curves);
    const auto recent = reader.field<int64_t>("(recent gap count)");
    if (recent < 0 || recent > static_cast<int64_t>(kRecentGaps)) bad_state("recent gap count out of range");
    for (int64_t i = 0; i < recent; ++i) {
        const auto gap_ms = reader.field<int64_t>("(recent gap)");
        if (gap_ms <= 0) bad_state("a recent gap must be positive");
        state.recent[static_cast<std::size_t>(i)] = RecentGap{gap_ms, read_counted(reader, "(recent burst)")};
    }
    state.recent_count = static_cast<std::size_t>(recent);
    state.recent_next = state.recent_count % kRecentGaps;
    state.plan_stale = true;
}

void CostCurvePredictor::read_curves(sdk::StateTextReader& reader, Curves& curves) {
    curves.gaps = read_counted(reader, "(gaps)");
    for (float& value : curves.cold) value = read_counted(reader, "(cold)");
    for (float& value : curves.held) value = read_counted(reader, "(held)");
    for (float& value : curves.longer) value = read_counted(reader, "(longer)");
}

void CostCurvePredictor::import_state(std::string_view data) {
    sdk::StateTextReader reader(data, kStateSchema, &bad_state);
    std::vector<ModelState> imported;
    Curves pool;
    double lean_held = 0, lean_reference_held = 0, lean_log_price = 0, exchange_log_price = 0;
    bool fleet_seen = false;
    auto non_negative = [&](const char* what) { return read_non_negative(reader, what); };
    while (reader.next_record()) {
        const auto model = reader.field<int64_t>("(model index)");
        if (model == -1) {
            if (fleet_seen) bad_state("the fleet record appears twice");
            fleet_seen = true;
            lean_held = non_negative("(lean held)");
            lean_reference_held = non_negative("(lean reference held)");
            lean_log_price = std::min(non_negative("(lean log price)"), kMaxLogPrice);
            read_curves(reader, pool);
            if (!reader.at_record_end()) {  // written by 1.4.0 and later
                exchange_log_price = reader.field<double>("(exchange log price)");
                if (!(std::abs(exchange_log_price) <= kExchangeMaxLogFactor))
                    bad_state("the exchange log price must be within +-ln 8");
            }
        } else {
            if (model < 0 || model >= static_cast<int64_t>(host().model_count()))
                bad_state("model index " + std::to_string(model) + " is not in this host's catalog");
            if (static_cast<std::size_t>(model) >= imported.size())
                imported.resize(static_cast<std::size_t>(model) + 1);
            ModelState& state = imported[static_cast<std::size_t>(model)];
            if (state.last_seen_ms != WARMUP_TIME_NEVER) bad_state("model " + std::to_string(model) + " appears twice");
            read_model_fields(reader, state, "model " + std::to_string(model));
        }
        if (!reader.at_record_end()) bad_state("trailing characters on the line of model " + std::to_string(model));
    }
    if (!fleet_seen) bad_state("no fleet record");
    models_ = std::move(imported);
    // The imported models enter the fleet's mean load time now, as they did in the exporting instance when it first
    // saw them: their plans are priced as there.
    for (std::size_t model = 0; model < models_.size(); ++model)
        if (models_[model].last_seen_ms != WARMUP_TIME_NEVER) figures(static_cast<warmup_model_index>(model));
    pool_ = pool;
    lean_held_ = lean_held;
    lean_reference_held_ = lean_reference_held;
    lean_integral_ = lean_log_price;
    lean_log_price_ = lean_log_price;
    exchange_log_price_ = exchange_log_price;
    // Not in the state text: the plans' and each candidate keep-alive's scores start again from the next gaps (the
    // first fairness refresh comes after kFairnessRefreshGaps of them, the exchange price moves after
    // kExchangeMinGaps).
    plans_held_ = plans_cold_ = plans_base_price_held_ = scored_gaps_ = 0;
    timer_held_.fill(0);
    timer_cold_.fill(0);
    gaps_since_fairness_ = 0;
    idle_watch_.clear();  // rebuilt from the next uses
    open_long_gaps_ = 0;
    end_startup();  // the imported curves have seen the fleet's long gaps
}

// Per-model format: the schema line, then one line as in export_state() without the model index:
//   <last_seen_ms> <request_count> <short_gaps> <reference_cold_requests> <curves> <recent gaps>
std::string CostCurvePredictor::export_model_state(warmup_model_index model) const {
    if (model >= models_.size() || models_[model].last_seen_ms == WARMUP_TIME_NEVER) return {};
    std::string text = std::string(kStateSchema) + "\n";
    append_model_fields(text, models_[model]);
    return text;
}

void CostCurvePredictor::import_model_state(warmup_model_index model, std::string_view data) {
    if (model >= host().model_count())
        bad_state("model index " + std::to_string(model) + " is not in this host's catalog");
    sdk::StateTextReader reader(data, kStateSchema, &bad_state);
    if (!reader.next_record()) bad_state("the model state has no model line");
    ModelState state;
    read_model_fields(reader, state, "model " + std::to_string(model));
    if (!reader.at_record_end() || reader.next_record()) bad_state("trailing data after the model line");

    ModelState& slot = state_of(model);
    if (slot.open_long) open_long_gaps_ -= 1;
    state.watched = slot.watched;  // its FIFO entry stays, and is dropped or renewed when it comes due
    slot = state;
    figures(model);  // the moved model enters the fleet's mean load time
}

void CostCurvePredictor::forget_model_state(warmup_model_index model) {
    if (model >= models_.size()) return;
    ModelState& slot = models_[model];
    if (slot.open_long) open_long_gaps_ -= 1;
    const bool watched = slot.watched;
    slot = ModelState{};
    slot.watched = watched;
}

}  // namespace warmup::plugins
