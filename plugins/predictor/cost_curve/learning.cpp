// learning.cpp — what the predictor learns from each model's arrivals: its idle gaps and wake-up bursts in the
// curves (the model's and the fleet's pool), the analyzer's history for a model first seen with one, and the open idle
// spells.
#include <algorithm>
#include <cmath>

#include "cost_curve_constants.hpp"
#include "cost_curve_predictor.hpp"

namespace warmup::plugins {

using namespace cost_curve;

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
        replace_model_state(state, ModelState{});
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
    // Only where they are used: otherwise the state text stays as 1.11.0 reads it.
    if (wake_gap_ms >= kDailyWakeGapMs && learns_starts_of_day())
        state.daily.push(static_cast<int32_t>((seen_ms % kDayMs + kDayMs) % kDayMs));
    if (wake_gap_ms != -2) {
        state.open_gap_ms = wake_gap_ms;
        state.burst_end_ms = add_offset(seen_ms, model_load_ms(model));
        // With history behind a first sight, the requests counted so far are the history's, not one wake-up's.
        state.burst_requests = seeded ? std::min(new_requests, 1.0) : new_requests;
        state.plan_during_gap = state.plan;
        // A wake-up a succession had the model ready for is warm whatever the keep: learned as a gap without cold
        // requests, so the model's own keep is not lengthened for what the succession catches.
        state.open_covered = wake_gap_ms >= 0 && succession_learned() &&
                             state.succession_until_ms != WARMUP_TIME_NEVER && seen_ms <= state.succession_until_ms &&
                             seen_ms >= state.succession_ready_ms;
        // The gap is learned now, with the wake-up's requests so far, so the very next plan knows it (a model that
        // wakes for one request and goes idle again must not plan that idle spell without its latest gap).
        if (wake_gap_ms >= 0) add_gap(state, wake_gap_ms, state.open_covered ? 0.0 : state.burst_requests);
        state.open_own_cold = false;
        if (state.pairs != kNoPairs) pairs_[state.pairs].open_caught = 0;
        if (succession_learned() && wake_gap_ms >= 0)
            note_follower_wake(state, model, wake_gap_ms, state.burst_requests, seen_ms);
    } else if (state.burst_end_ms != WARMUP_TIME_NEVER) {
        state.burst_requests += new_requests;
        if (state.open_gap_ms >= 0 && !state.open_covered) add_burst_requests(state, state.open_gap_ms, new_requests);
        add_caught_requests(state, new_requests);
    }
    state.succession_until_ms = state.succession_ready_ms = WARMUP_TIME_NEVER;  // used: its own plan decides now
    if (wake_gap_ms != -1) state.recent_requests += new_requests;               // the first use's are compulsory
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
    if (gap_ms >= config_.lean_reference_keep_ms && state.recent.count > 0) state.recent.newest_burst() += added;
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
        state.recent.push(gap_ms, static_cast<float>(burst));
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

}  // namespace warmup::plugins
