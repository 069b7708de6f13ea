#include "idle_histogram_predictor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace warmup::plugins {
namespace {

constexpr int64_t kMsPerHour = 3'600'000;
constexpr int64_t kMsPerDay = 24 * kMsPerHour;
constexpr int64_t kHoursPerWeek = 24 * 7;
constexpr int64_t kEpochDayOfWeek = 3;  // 1970-01-01 was a Thursday; 0 = Monday

int64_t floor_div(int64_t value, int64_t divisor) {
    const int64_t quotient = value / divisor;
    return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient;
}

int64_t ceil_to_hour(int64_t ms) { return -floor_div(-ms, kMsPerHour) * kMsPerHour; }

warmup_time_ms add_offset(warmup_time_ms base_ms, int64_t offset_ms) {
    if (base_ms == WARMUP_TIME_NEVER) return WARMUP_TIME_NEVER;
    if (offset_ms > 0 && base_ms > std::numeric_limits<int64_t>::max() - offset_ms) return WARMUP_TIME_NEVER;
    return base_ms + offset_ms;
}

/// p(next arrival within [a, a+horizon) | idle already a) and the conditional median, from the histogram (uniform
/// inside a bin) plus the out-of-range mass, which wakes up memorylessly at `wake_rate_per_ms` beyond the range.
struct ConditionalArrival {
    double p_within_horizon = 0;
    int64_t median_offset_ms = -1;  ///< from last_seen; -1 = unknown
};

ConditionalArrival conditional_arrival(const warmup_usage_pattern& pattern, int64_t idle_ms, int64_t horizon_ms,
                                       double wake_rate_per_ms) {
    ConditionalArrival result;
    const uint32_t bins = pattern.idle_histogram != nullptr ? pattern.idle_histogram_bins : 0;
    const int64_t bin_ms = std::max<uint32_t>(pattern.idle_bin_ms, 1);
    const int64_t range_ms = int64_t{bins} * bin_ms;
    const int64_t horizon_end_ms = idle_ms + horizon_ms;
    const uint32_t* histogram = pattern.idle_histogram;

    // Whole bins are summed as integers (vectorised); only the bins cut by `idle_ms` or the horizon's end are split,
    // assuming gaps spread uniformly inside a bin.
    auto whole_bins = [&](int64_t from, int64_t to) {  // sum of bins [from, to) clamped to the range
        uint64_t sum = 0;
        for (int64_t i = std::max<int64_t>(from, 0); i < std::min<int64_t>(to, bins); ++i) sum += histogram[i];
        return static_cast<double>(sum);
    };
    auto part_of_bin = [&](int64_t bin, int64_t from_ms, int64_t to_ms) {  // mass of `bin` inside [from, to)
        if (bin < 0 || bin >= bins || to_ms <= from_ms) return 0.0;
        return histogram[bin] * static_cast<double>(to_ms - from_ms) / static_cast<double>(bin_ms);
    };
    // Sum of bins [from, bins). The ABI defines idle_samples as the in-range gap count, i.e. the sum of all bins, so
    // when `from` is in the first half the suffix is idle_samples minus the shorter prefix: the same integer, so the
    // same double, for half the reads or less (predict runs after every use, when `from` is 1). A prefix larger than
    // idle_samples (an analyzer breaking that definition) falls back to summing the suffix.
    auto bins_from = [&](int64_t from) {
        if (from >= bins) return 0.0;
        if (from > 0 && from <= bins / 2) {
            uint64_t prefix = 0;
            for (int64_t i = 0; i < from; ++i) prefix += histogram[i];
            if (prefix <= pattern.idle_samples) return static_cast<double>(pattern.idle_samples - prefix);
        }
        return whole_bins(from, bins);
    };
    const int64_t first_bin = std::min<int64_t>(idle_ms / bin_ms, bins);
    const double first_part = part_of_bin(first_bin, idle_ms, (first_bin + 1) * bin_ms);
    const double in_range_after = first_part + bins_from(first_bin + 1);
    const double out_of_range = static_cast<double>(pattern.idle_out_of_range);
    const double remaining = in_range_after + out_of_range;
    if (remaining <= 0) return result;

    double in_horizon = 0;
    if (idle_ms < range_ms) {
        const int64_t end_bin = horizon_end_ms / bin_ms;
        if (end_bin == first_bin) {
            in_horizon = part_of_bin(first_bin, idle_ms, horizon_end_ms);
        } else {
            in_horizon = first_part + whole_bins(first_bin + 1, end_bin) +
                         part_of_bin(end_bin, end_bin * bin_ms, horizon_end_ms);
        }
    }
    const int64_t oor_start_ms = std::max(idle_ms, range_ms);
    if (wake_rate_per_ms > 0 && horizon_end_ms > oor_start_ms)
        in_horizon -= out_of_range * std::expm1(-wake_rate_per_ms * static_cast<double>(horizon_end_ms - oor_start_ms));
    result.p_within_horizon = std::clamp(in_horizon / remaining, 0.0, 1.0);

    // Conditional median: walk the remaining mass until half of it is behind.
    const double half = remaining / 2;
    if (first_part >= half && first_bin < bins) {
        result.median_offset_ms = idle_ms + static_cast<int64_t>(half / histogram[first_bin] * bin_ms);
        return result;
    }
    double walked = first_part;
    for (int64_t i = first_bin + 1; i < bins; ++i) {
        if (walked + histogram[i] >= half) {
            result.median_offset_ms = i * bin_ms + static_cast<int64_t>((half - walked) / histogram[i] * bin_ms);
            return result;
        }
        walked += histogram[i];
    }
    if (wake_rate_per_ms > 0 && out_of_range > 0) {
        const double fraction = std::min((half - in_range_after) / out_of_range, 1.0 - 1e-12);
        result.median_offset_ms = oor_start_ms + static_cast<int64_t>(-std::log1p(-fraction) / wake_rate_per_ms);
    }
    return result;
}

}  // namespace

IdleHistogramPredictor::IdleHistogramPredictor(sdk::Host host, sdk::Params& params) : sdk::Predictor(host) {
    constexpr int64_t kWeekMs = 7 * kMsPerDay;
    config_.horizon_ms = params.get_int("horizon_ms", config_.horizon_ms, 1, kWeekMs);
    config_.min_samples = static_cast<uint32_t>(params.get_int("min_samples", config_.min_samples, 1, 1'000'000));
    config_.fallback_keep_alive_ms =
        params.get_int("fallback_keep_alive_ms", config_.fallback_keep_alive_ms, 0, kWeekMs);
    config_.cold_start_cost_ratio = params.get_double("cold_start_cost_ratio", config_.cold_start_cost_ratio, 0, 1e6);
    config_.reference_memory_mb = params.get_double("reference_memory_mb", config_.reference_memory_mb, 1, 1e9);
    config_.default_load_ms = params.get_double("default_load_ms", config_.default_load_ms, 0, 3.6e6);
    config_.ready_margin_ms = params.get_int("ready_margin_ms", config_.ready_margin_ms, 0, kMsPerHour);
    config_.confidence_samples = params.get_double("confidence_samples", config_.confidence_samples, 0, 1e9);
    config_.max_prewarm_windows = static_cast<uint32_t>(
        params.get_int("max_prewarm_windows", config_.max_prewarm_windows, 0, kMaxPrewarmWindows));
    config_.plan_refresh_fraction = params.get_double("plan_refresh_fraction", config_.plan_refresh_fraction, 0, 10);
    config_.calendar_prewarm = params.get_bool("calendar_prewarm", config_.calendar_prewarm);
    config_.count_waiting_requests = params.get_bool("count_waiting_requests", config_.count_waiting_requests);
}

const IdleHistogramPredictor::ModelPlan& IdleHistogramPredictor::plan_for(const warmup_usage_pattern& pattern) {
    return refreshed_plan(pattern);
}

IdleHistogramPredictor::ModelPlan& IdleHistogramPredictor::refreshed_plan(const warmup_usage_pattern& pattern) {
    if (pattern.model >= plans_.size()) plans_.resize(std::size_t{pattern.model} + 1);
    ModelPlan& plan = plans_[pattern.model];
    const uint64_t gaps = pattern.idle_samples + pattern.idle_out_of_range;
    // Stale when the histogram is a different one (reset analyzer, new geometry) or grew by a meaningful fraction:
    // the histogram is cumulative, so a few more gaps on a long history do not move the optimum.
    const bool same_histogram = plan.valid && plan.first_seen_ms == pattern.first_seen_ms &&
                                plan.idle_bin_ms == pattern.idle_bin_ms &&
                                plan.idle_bins == pattern.idle_histogram_bins && gaps >= plan.gap_count;
    const double threshold = std::max(1.0, config_.plan_refresh_fraction * static_cast<double>(plan.gap_count));
    if (!same_histogram || static_cast<double>(gaps - plan.gap_count) >= threshold) compute_plan(pattern, plan);
    return plan;
}

void IdleHistogramPredictor::compute_plan(const warmup_usage_pattern& pattern, ModelPlan& plan) {
    const uint32_t bins = pattern.idle_histogram != nullptr ? pattern.idle_histogram_bins : 0;
    const double bin_ms = std::max<uint32_t>(pattern.idle_bin_ms, 1);
    const uint32_t* histogram = pattern.idle_histogram;
    const double out_of_range = static_cast<double>(pattern.idle_out_of_range);

    plan = ModelPlan{};
    plan.valid = true;
    plan.gap_count = pattern.idle_samples + pattern.idle_out_of_range;
    plan.first_seen_ms = pattern.first_seen_ms;
    plan.idle_bin_ms = pattern.idle_bin_ms;
    plan.idle_bins = pattern.idle_histogram_bins;

    // Costs in "ms of this model held idle" (memory_mb cancels): see the header for the cold-cost rationale.
    const auto info = host().model_info(pattern.model);
    const double memory_mb = info && info->memory_mb > 0 ? info->memory_mb : config_.reference_memory_mb;
    const double load_ms = info && info->load_ms > 0 ? info->load_ms : config_.default_load_ms;
    // A cold load is paid by every request that arrives before it completes, not just the first: a model busy at
    // `ewma_rate_per_s` when it was last used (10-minute half-life by default: the rate of its latest burst, a proxy
    // for the rate when it wakes up) makes 1 + rate * load requests wait. The plan is refreshed on gap growth only,
    // so this is the rate as of the last refresh.
    const double rate_per_ms = std::max(pattern.ewma_rate_per_s, 0.0) / 1000.0;
    plan.cold_requests_per_start = config_.count_waiting_requests ? 1.0 + rate_per_ms * load_ms : 1.0;
    const double cold = config_.cold_start_cost_ratio * plan.cold_requests_per_start * load_ms *
                        config_.reference_memory_mb / memory_mb;
    const double prewarm = load_ms + static_cast<double>(config_.ready_margin_ms);
    plan.cold_cost_ms = cold;
    plan.prewarm_cost_ms = prewarm;

    // prefix_count[i] = gaps in bins < i; prefix_mid[i] = their total length (bin middles); suffix[i] = gaps >= i*bin.
    prefix_count_.assign(std::size_t{bins} + 1, 0.0);
    prefix_mid_ms_.assign(std::size_t{bins} + 1, 0.0);
    suffix_count_.assign(std::size_t{bins} + 1, 0.0);
    nonzero_bins_.clear();
    for (uint32_t i = 0; i < bins; ++i) {
        prefix_count_[i + 1] = prefix_count_[i] + histogram[i];
        prefix_mid_ms_[i + 1] = prefix_mid_ms_[i] + histogram[i] * (i + 0.5) * bin_ms;
        if (histogram[i] != 0) nonzero_bins_.push_back(i);
    }
    const double in_range = prefix_count_[bins];
    for (uint32_t i = 0; i <= bins; ++i) suffix_count_[i] = in_range - prefix_count_[i] + out_of_range;

    // Memoryless wake-up rate beyond the range: out-of-range gaps / the time they spent beyond it. Their total length
    // is the observed span minus the in-range gaps (gaps partition [first_seen, last_seen]).
    if (out_of_range > 0 && pattern.first_seen_ms != WARMUP_TIME_NEVER) {
        const double span_ms = static_cast<double>(pattern.last_seen_ms - pattern.first_seen_ms);
        const double beyond_ms = span_ms - prefix_mid_ms_[bins] - out_of_range * bins * bin_ms;
        plan.wake_rate_per_ms = out_of_range / std::max(beyond_ms, out_of_range * bin_ms);
    }

    // Net cost of a pre-warm window over bins [w, e): captured gaps pay (G - W) + load + margin instead of a cold
    // start; gaps beyond E pay the whole window plus the load and are still cold; gaps before W are cold anyway.
    auto window_cost = [&](uint32_t w, uint32_t e) {
        const double captured = prefix_count_[e] - prefix_count_[w];
        const double start_ms = w * bin_ms;
        const double length_ms = (e - w) * bin_ms;
        return (prefix_mid_ms_[e] - prefix_mid_ms_[w]) - start_ms * captured + prewarm * captured +
               suffix_count_[e] * (length_ms + prewarm) - cold * captured;
    };
    // Only windows that start at a non-empty bin and end right after one can be optimal (an empty bin at either edge
    // adds memory and captures nothing). best_from[j] = the best window starting at nonzero_bins_[j] or later.
    using Window = WindowChoice;
    const std::size_t candidates = nonzero_bins_.size();
    std::vector<Window>& best_from = best_window_from_;
    best_from.assign(candidates + 1, Window{});
    for (std::size_t j = candidates; j-- > 0;) {
        Window best = best_from[j + 1];
        for (std::size_t k = j; k < candidates; ++k) {
            const double cost = window_cost(nonzero_bins_[j], nonzero_bins_[k] + 1);
            if (cost < best.cost) best = Window{cost, nonzero_bins_[j], nonzero_bins_[k] + 1};
        }
        best_from[j] = best;
    }

    // Keep-alive K = k*bin: gaps before K cost their length, later ones cost K and a cold start unless a window
    // (starting at or after K) catches them. Candidates: 0 and the end of each non-empty bin.
    double best_total = std::numeric_limits<double>::infinity();
    uint32_t best_keep_bin = 0;
    std::size_t best_first_candidate = 0;
    // With pre-warms disabled no window may be credited, or the keep-alive would be cut short for a window that is
    // never placed.
    const bool windows_allowed = config_.max_prewarm_windows > 0;
    for (std::size_t j = 0; j <= candidates; ++j) {
        const uint32_t keep_bin = j == 0 ? 0 : nonzero_bins_[j - 1] + 1;
        const double window_credit = windows_allowed ? std::min(0.0, best_from[j].cost) : 0.0;
        const double total = prefix_mid_ms_[keep_bin] + keep_bin * bin_ms * suffix_count_[keep_bin] +
                             cold * suffix_count_[keep_bin] + window_credit;
        if (total < best_total) {
            best_total = total;
            best_keep_bin = keep_bin;
            best_first_candidate = j;
        }
    }
    plan.keep_ms = static_cast<int64_t>(best_keep_bin * bin_ms);

    // Chain windows: after one closes unused, the best window among the later bins (same cost test) comes next.
    std::size_t next_candidate = best_first_candidate;
    while (plan.window_count < config_.max_prewarm_windows && next_candidate < candidates &&
           best_from[next_candidate].cost < 0) {
        const Window& window = best_from[next_candidate];
        const int64_t ready_ms = static_cast<int64_t>(window.start_bin * bin_ms) - config_.ready_margin_ms;
        plan.windows[plan.window_count++] =
            PrewarmWindow{std::max<int64_t>(ready_ms, plan.keep_ms), static_cast<int64_t>(window.end_bin * bin_ms)};
        while (next_candidate < candidates && nonzero_bins_[next_candidate] < window.end_bin) ++next_candidate;
    }
}

void IdleHistogramPredictor::compute_calendar(const warmup_usage_pattern& pattern, ModelPlan& plan,
                                              warmup_time_ms from_ms) {
    plan.calendar_last_seen_ms = pattern.last_seen_ms;
    plan.calendar_from_ms = from_ms;
    plan.calendar_ready_ms = plan.calendar_end_ms = WARMUP_TIME_NEVER;
    if (plan.wake_rate_per_ms <= 0 || pattern.hour_of_day == nullptr || pattern.day_of_week == nullptr) return;
    // Weekly intensity: the wake-up rate shaped by the hour-of-day x day-of-week request shares (assumed independent;
    // their product sums to 1 over the 168 hours, so the mean multiplier is 1). For each candidate hour: the chance
    // that the model first wakes in it, and the net value of holding it loaded for that hour.
    double survival = 1.0;
    double best_benefit = 0;
    int64_t best_start_ms = WARMUP_TIME_NEVER;
    const double hour_ms = static_cast<double>(kMsPerHour);
    for (int64_t slot = 0; slot < kHoursPerWeek && survival > 1e-6; ++slot) {
        const int64_t start_ms = from_ms + slot * kMsPerHour;
        const int64_t day = floor_div(start_ms, kMsPerDay);
        const auto hour = static_cast<std::size_t>((start_ms - day * kMsPerDay) / kMsPerHour);
        const auto weekday = static_cast<std::size_t>(((day + kEpochDayOfWeek) % 7 + 7) % 7);
        const double intensity_per_ms =
            plan.wake_rate_per_ms * pattern.hour_of_day[hour] * pattern.day_of_week[weekday] * kHoursPerWeek;
        const double p_wake_here = survival * -std::expm1(-intensity_per_ms * hour_ms);
        const double idle_cost =
            survival * plan.prewarm_cost_ms + (survival - p_wake_here) * hour_ms + p_wake_here * hour_ms / 2;
        const double benefit = plan.cold_cost_ms * p_wake_here - idle_cost;
        if (benefit > best_benefit) {
            best_benefit = benefit;
            best_start_ms = start_ms;
        }
        survival -= p_wake_here;
    }
    if (best_start_ms != WARMUP_TIME_NEVER) {
        plan.calendar_ready_ms = best_start_ms - config_.ready_margin_ms;
        plan.calendar_end_ms = best_start_ms + kMsPerHour;
    }
}

void IdleHistogramPredictor::predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern,
                                     warmup_prediction& out) {
    warmup_prediction prediction{};
    prediction.struct_size = sizeof prediction;
    prediction.model = pattern.model;
    prediction.horizon_ms = config_.horizon_ms;
    prediction.next_arrival_ms = WARMUP_TIME_NEVER;
    prediction.warm_at_ms = WARMUP_TIME_NEVER;
    prediction.warm_keep_until_ms = WARMUP_TIME_NEVER;

    const warmup_time_ms last_ms = pattern.last_seen_ms;
    if (pattern.request_count == 0 || last_ms == WARMUP_TIME_NEVER) {
        // Nothing known: no reason to hold memory for it.
        prediction.keep_until_ms = now_ms;
    } else {
        const int64_t idle_ms = std::max<int64_t>(0, now_ms - last_ms);
        const uint64_t gaps = pattern.idle_samples + pattern.idle_out_of_range;
        prediction.confidence = static_cast<double>(gaps) / (static_cast<double>(gaps) + config_.confidence_samples);
        if (gaps == 0) {
            // Seen at one instant only: the EWMA rate as a Poisson rate is the only evidence (confidence stays 0).
            const double rate_per_ms = pattern.ewma_rate_per_s / 1000.0;
            if (rate_per_ms > 0) {
                prediction.p_use_within_horizon = -std::expm1(-rate_per_ms * static_cast<double>(config_.horizon_ms));
                prediction.next_arrival_ms = add_offset(now_ms, static_cast<int64_t>(std::log(2.0) / rate_per_ms));
            }
            prediction.keep_until_ms = add_offset(last_ms, config_.fallback_keep_alive_ms);
        } else {
            ModelPlan& plan = refreshed_plan(pattern);
            const ConditionalArrival arrival =
                conditional_arrival(pattern, idle_ms, config_.horizon_ms, plan.wake_rate_per_ms);
            prediction.p_use_within_horizon = arrival.p_within_horizon;
            if (arrival.median_offset_ms >= 0)
                prediction.next_arrival_ms = add_offset(last_ms, arrival.median_offset_ms);

            if (gaps < config_.min_samples) {
                prediction.keep_until_ms = add_offset(last_ms, config_.fallback_keep_alive_ms);
            } else {
                prediction.keep_until_ms = add_offset(last_ms, plan.keep_ms);
                // The first window that has not closed yet; past its end the model is idle longer than it predicted.
                int64_t horizon_of_windows_ms = plan.keep_ms;
                for (uint32_t i = 0; i < plan.window_count; ++i) {
                    horizon_of_windows_ms = std::max(horizon_of_windows_ms, plan.windows[i].end_ms);
                    if (plan.windows[i].end_ms > idle_ms) {
                        prediction.warm_at_ms = add_offset(last_ms, plan.windows[i].ready_ms);
                        prediction.warm_keep_until_ms = add_offset(last_ms, plan.windows[i].end_ms);
                        break;
                    }
                }
                if (prediction.warm_at_ms == WARMUP_TIME_NEVER && config_.calendar_prewarm &&
                    pattern.idle_out_of_range > 0) {
                    const int64_t range_ms = int64_t{pattern.idle_histogram_bins} * pattern.idle_bin_ms;
                    const warmup_time_ms from_ms =
                        ceil_to_hour(std::max(add_offset(last_ms, std::max(range_ms, horizon_of_windows_ms)), now_ms));
                    // Keep a chosen hour until it has passed, so the plan does not move while the model is warm.
                    const bool cached = plan.calendar_last_seen_ms == last_ms &&
                                        (plan.calendar_end_ms != WARMUP_TIME_NEVER ? now_ms < plan.calendar_end_ms
                                                                                   : plan.calendar_from_ms == from_ms);
                    if (!cached) compute_calendar(pattern, plan, from_ms);
                    prediction.warm_at_ms = plan.calendar_ready_ms;
                    prediction.warm_keep_until_ms = plan.calendar_end_ms;
                }
            }
        }
    }
    // Write only what the caller's struct has room for; a full-size caller gets a fixed-size copy (no memmove call).
    const uint32_t caller_size = out.struct_size;
    if (caller_size >= sizeof prediction) {
        std::memcpy(&out, &prediction, sizeof prediction);
    } else {
        std::memcpy(&out, &prediction, caller_size);
        out.struct_size = caller_size;
    }
}

}  // namespace warmup::plugins
