// cost_curve_constants.hpp — the cost-curve predictor's fixed constants and one helper, shared by its source files
// (cost_curve_predictor.cpp: the plans; learning.cpp: the curves; scoring.cpp: the plans against the timers, the lean
// controller and the exchange price; fairness_floors.cpp; state_text.cpp). Private to the plugin: not part of the SDK.
#pragma once

#include <warmup/common.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

namespace warmup::plugins::cost_curve {

inline constexpr int64_t kWeekMs = 7LL * 24 * 3'600'000;
// The fleet's pool forgets with this half-life in gaps (all models together): long enough to pool many models, short
// enough to follow a fleet whose rhythm changes within days.
inline constexpr double kPoolMemoryGaps = 4096;
// The lean controller compares memory over about this many recent gaps of the fleet. The log of the price is the sum
// of an integral (this much per gap and unit of relative excess) and a proportional term (this many times the current
// relative excess). The window lags the plans by hundreds of gaps, so an integral alone overshoots and swings (on a
// 14-day fleet the price went from 1 to 51 and stayed high for days, and the memory went from 1.12 to 0.94 of the
// reference's day by day); the proportional term damps it, and the integral removes the remaining steady excess.
inline constexpr double kLeanMemoryGaps = 2000;
inline constexpr double kLeanStep = 0.008;
inline constexpr double kLeanProportional = 6;
// The lean ceiling's log price multiplier stays within 0 .. this (a factor of e^30: any keep then ends at the first
// candidate).
inline constexpr double kMaxLogPrice = 30;
// The exchange price: it moves once the plans were scored on this many gaps (decayed, of the ~2,000 of the window),
// by this share of the distance to its target per scored gap (a fleet with 2,000 gaps a day covers 86 % of it in a
// day), within this factor either way of the configured price; the timers' slope is read over this many candidate
// keeps on each side of the plans' memory (a quarter doubling apart: a kink of the timers' curve, where many gaps end,
// would otherwise decide it alone).
inline constexpr double kExchangeMinGaps = 256;
inline constexpr double kExchangeStep = 0.001;
inline constexpr double kExchangeMaxLogFactor = 2.0794415416798357;  // ln 8
inline constexpr int kExchangeSlopeKeeps = 2;
// The fairness floors are computed again after this many closed gaps of the fleet.
inline constexpr uint32_t kFairnessRefreshGaps = 256;
// The fairness margin: while the plans leave at most this share of the same-memory keep-alive's cold requests, the
// band's models that the timer leaves at or over the target get one candidate keep more than the timer's (19 %).
inline constexpr double kFairnessMarginRatio = 0.9;
// The fairness band: models whose cold rate under the same-memory keep-alive is within this share of the target decide
// the quantile (below it, a model has room to spare; above it, lifting it costs more than its rank is worth).
inline constexpr double kFairnessBand = 0.25;
// The lean ceiling binds once its controller has raised the price of memory by more than this (log of the factor):
// from then on a floor's memory would be taken from the other models' keeps.
inline constexpr double kCeilingBindsLogPrice = 0.01;
// Successions (succession.cpp): the windows a leader's use may hold a follower for (1, 2, 5 and 10 minutes after the
// leader's latest use), and the evidence a pair needs before it is acted on (wake-ups of the follower that its own
// plan left cold, caught by the window).
inline constexpr std::array<double, 4> kSuccessionWindowsMs{60'000, 120'000, 300'000, 600'000};
inline constexpr double kSuccessionMinWakes = 3;
// A pair is acted on only where its window catches this many times what chance would (the follower's cold wake-ups x
// the share of the time the leader's tails covered), and two standard deviations (Poisson) more: a fleet of independent
// models has pairs that look good on a few wake-ups among thousands of candidates.
inline constexpr double kSuccessionMinLift = 2;
// A new pair keeps its slot until the follower has had this many cold wake-ups since (its trial): a slot is taken only
// from a pair that had its chance.
inline constexpr double kSuccessionTrialWakes = 6;
// The daily window (objective budget): a wake-up after an idle gap at least this long is a model's start of day (a
// night, a weekend, a shift apart), and the window opens before the span of this length that holds the most of its
// recent ones, if it holds at least kDailyMinWakes and half of them. Not fitted to a workload: a night is longer than
// 4 hours, and a working day starts within a few hours of the same clock time.
inline constexpr int64_t kDayMs = 86'400'000;
inline constexpr int64_t kDailyWakeGapMs = 4 * 3'600'000;
inline constexpr int64_t kDailySpanMs = 3 * 3'600'000;
inline constexpr std::size_t kDailyMinWakes = 3;
// ... and only within this long of its last use: a weekend is bridged, a model no longer used is not pre-warmed every
// day for ever.
inline constexpr int64_t kDailyMaxIdleMs = 3 * kDayMs;
// A daily or gap window whose ready-by time is within this long (or twice the load lead, if longer) is taken as under
// way when the plan is asked for: the next one is named instead.
inline constexpr int64_t kDailyDueMarginMs = 10 * 60'000;
// Confidence reaches 0.5 after this many observed gaps.
inline constexpr double kConfidenceHalfGaps = 10;

/// base_ms + offset_ms, rounded to whole ms; WARMUP_TIME_NEVER for a base that is never or an offset past ~3 M years.
inline warmup_time_ms add_offset(warmup_time_ms base_ms, double offset_ms) {
    if (base_ms == WARMUP_TIME_NEVER || !(offset_ms < 1e17)) return WARMUP_TIME_NEVER;
    // A plan's offsets are whole milliseconds: taken as they are, without the library call that rounds (on every
    // predict).
    if (offset_ms > -1e17) {
        const auto whole = static_cast<int64_t>(offset_ms);
        if (static_cast<double>(whole) == offset_ms) return base_ms + whole;
    }
    return base_ms + static_cast<int64_t>(std::llround(offset_ms));
}

}  // namespace warmup::plugins::cost_curve
