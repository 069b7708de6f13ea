#include "hybrid_histogram_predictor.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>
#include <warmup/sdk/state_text.hpp>

namespace warmup::plugins {
namespace {

constexpr uint32_t kMaxSeriesLength = 256;   // bound of the stack buffer used by refresh_forecast
constexpr std::size_t kMinValuesForAr1 = 4;  // below this phi is mostly noise; forecast the mean

/// `start + delta`, saturating at WARMUP_TIME_NEVER.
warmup_time_ms add_ms(warmup_time_ms start_ms, warmup_time_ms delta_ms) noexcept {
    if (start_ms == WARMUP_TIME_NEVER || delta_ms == WARMUP_TIME_NEVER) return WARMUP_TIME_NEVER;
    if (delta_ms > 0 && start_ms > WARMUP_TIME_NEVER - delta_ms) return WARMUP_TIME_NEVER;
    return start_ms + delta_ms;
}

/// A window in ms scaled by `factor`, rounded to the nearest ms and kept representable.
warmup_time_ms scale_ms(double window_ms, double factor) noexcept {
    const double scaled = window_ms * factor;
    if (!(scaled > 0.0)) return 0;
    if (scaled >= static_cast<double>(WARMUP_TIME_NEVER / 2)) return WARMUP_TIME_NEVER / 2;
    return static_cast<warmup_time_ms>(std::llround(scaled));
}

double poisson(double rate_per_s, warmup_time_ms horizon_ms) noexcept {
    if (!std::isfinite(rate_per_s) || rate_per_s <= 0.0) return 0.0;
    return 1.0 - std::exp(-rate_per_s * static_cast<double>(horizon_ms) / 1000.0);
}

[[noreturn]] void bad_state(const std::string& why) {
    throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT,
                     std::string("hybrid-histogram state import refused: ") + why + " (state left unchanged)");
}

}  // namespace

HybridHistogramPredictor::HybridHistogramPredictor(sdk::Host host, sdk::Params& params)
    : sdk::Predictor(host),
      head_percentile_(params.get_double("head_percentile", 5.0, 0.0, 100.0)),
      tail_percentile_(params.get_double("tail_percentile", 99.0, 0.0, 100.0)),
      margin_(params.get_double("margin", 0.10, 0.0, 0.99)),
      cv_threshold_(params.get_double("cv_threshold", 2.0, 0.0)),
      min_samples_(static_cast<uint64_t>(params.get_int("min_samples", 10, 1))),
      default_keep_alive_ms_(params.get_int("default_keep_alive_ms", 14400000, 0, WARMUP_TIME_NEVER / 2)),
      out_of_range_share_(params.get_double("out_of_range_share", 0.5, 0.0, 1.0)),
      horizon_ms_(params.get_int("horizon_ms", 600000, 1)),
      series_length_(static_cast<uint32_t>(params.get_int("series_length", 16, 1, kMaxSeriesLength))) {
    if (tail_percentile_ < head_percentile_)
        throw sdk::InvalidArgument("params.tail_percentile: " + std::to_string(tail_percentile_) +
                                   " is below params.head_percentile (" + std::to_string(head_percentile_) + ")");
}

HybridHistogramPredictor::ModelState& HybridHistogramPredictor::state_of(warmup_model_index model) {
    if (model >= states_.size()) {
        // Grow to the catalog size at once so a burst of new models costs one reallocation, not one each.
        const std::size_t wanted = std::max<std::size_t>(std::size_t{model} + 1, host().model_count());
        states_.resize(wanted);
    }
    return states_[model];
}

double HybridHistogramPredictor::forecast_idle_ms(std::span<const double> values) noexcept {
    if (values.empty()) return 0.0;
    double sum = 0.0;
    double low = values.front();
    double high = values.front();
    for (const double value : values) {
        sum += value;
        low = std::min(low, value);
        high = std::max(high, value);
    }
    const double mean = sum / static_cast<double>(values.size());
    if (values.size() < kMinValuesForAr1) return mean;
    // Yule-Walker estimate of the lag-1 autocorrelation: phi = sum (x_t - m)(x_t-1 - m) / sum (x_t - m)^2.
    double variance_sum = 0.0;
    double lag1_sum = 0.0;
    for (std::size_t i = 0; i < values.size(); ++i) {
        const double deviation = values[i] - mean;
        variance_sum += deviation * deviation;
        if (i > 0) lag1_sum += deviation * (values[i - 1] - mean);
    }
    if (variance_sum <= 0.0) return mean;
    const double phi = std::clamp(lag1_sum / variance_sum, -1.0, 1.0);
    // A forecast outside what was ever seen is an extrapolation the short series cannot support.
    return std::clamp(mean + phi * (values.back() - mean), low, high);
}

void HybridHistogramPredictor::append_to_series(ModelState& state, warmup_time_ms idle_ms) {
    if (state.series_ms.size() < series_length_) {
        if (state.series_ms.capacity() < series_length_) state.series_ms.reserve(series_length_);
        state.series_ms.push_back(idle_ms);
    } else {
        state.series_ms[state.series_next_slot] = idle_ms;
        state.series_next_slot = (state.series_next_slot + 1) % series_length_;
    }
}

void HybridHistogramPredictor::refresh_forecast(ModelState& state) const {
    std::array<double, kMaxSeriesLength> chronological{};
    const std::size_t count = state.series_ms.size();
    // Oldest value sits at series_next_slot once the ring is full (series_next_slot is 0 while it fills).
    for (std::size_t i = 0; i < count; ++i)
        chronological[i] = static_cast<double>(state.series_ms[(state.series_next_slot + i) % count]);
    state.forecast_ms = forecast_idle_ms(std::span<const double>(chronological.data(), count));
}

void HybridHistogramPredictor::record_gap(ModelState& state, const warmup_usage_pattern& pattern) {
    // The predictor sees a model's pattern after every use; a new last_seen means a new idle gap ended at it. Several
    // arrivals inside one batch show only their last gap: out-of-range gaps are hours long, so this loses none of them
    // in practice.
    if (pattern.last_seen_ms == state.last_recorded_seen_ms) return;
    state.last_recorded_seen_ms = pattern.last_seen_ms;
    if (pattern.previous_seen_ms == WARMUP_TIME_NEVER || pattern.previous_seen_ms >= pattern.last_seen_ms) return;
    const warmup_time_ms gap_ms = pattern.last_seen_ms - pattern.previous_seen_ms;
    const warmup_time_ms range_ms =
        static_cast<warmup_time_ms>(pattern.idle_histogram_bins) * static_cast<warmup_time_ms>(pattern.idle_bin_ms);
    if (gap_ms < range_ms) return;  // in range: the histogram has it
    append_to_series(state, gap_ms);
    refresh_forecast(state);
}

void HybridHistogramPredictor::sync_copy(HistogramCopy& copy, const uint32_t* histogram, uint32_t bins) {
    const std::size_t blocks = (std::size_t{bins} + kBlockBins - 1) / kBlockBins;
    if (copy.counts.size() != bins) {
        // First summary of this model (or a new geometry): take the whole histogram.
        copy.counts.assign(histogram, histogram + bins);
        copy.block_totals.assign(blocks, 0);
        copy.total = copy.sum_of_squares = 0;
        for (uint32_t i = 0; i < bins; ++i) {
            const uint64_t count = histogram[i];
            copy.block_totals[i / kBlockBins] += count;
            copy.total += count;
            copy.sum_of_squares += count * count;
        }
        return;
    }
    // Usually one bin changed. Compare a block at a time (the OR of XORs vectorises) and apply the differences of
    // the blocks that differ. Unsigned wrap-around is harmless: every aggregate ends equal to its true value modulo
    // 2^64, and total and block_totals never exceed 2^64 (bins <= 2^32 counts of < 2^32 each).
    for (std::size_t block = 0; block < blocks; ++block) {
        const std::size_t begin = block * kBlockBins;
        const std::size_t end = std::min<std::size_t>(begin + kBlockBins, bins);
        uint32_t differs = 0;
        for (std::size_t i = begin; i < end; ++i) differs |= histogram[i] ^ copy.counts[i];
        if (differs == 0) continue;
        for (std::size_t i = begin; i < end; ++i) {
            const uint64_t now = histogram[i];
            const uint64_t before = copy.counts[i];
            if (now == before) continue;
            copy.block_totals[block] += now - before;
            copy.total += now - before;
            copy.sum_of_squares += now * now - before * before;
            copy.counts[i] = static_cast<uint32_t>(now);
        }
    }
}

HybridHistogramPredictor::HistogramSummary HybridHistogramPredictor::summarize(
    HistogramCopy& copy, const warmup_usage_pattern& pattern) const {
    HistogramSummary summary;
    const uint32_t bins = pattern.idle_histogram == nullptr ? 0 : pattern.idle_histogram_bins;
    if (bins == 0 || pattern.idle_bin_ms == 0) return summary;

    sync_copy(copy, pattern.idle_histogram, bins);
    const uint64_t total = copy.total;
    if (total == 0) return summary;

    // The definition is a double sum over the bins of count^2. When total <= 2^26 every count^2 and every partial
    // sum is an integer <= total^2 <= 2^52, so each addition of that sum is exact and it equals the integer
    // sum_of_squares (itself exact: < 2^64), converted exactly: the same bits, without the pass. Beyond that the
    // rounding of the sequential double sum is reproduced by doing it.
    constexpr uint64_t kExactSquaresTotal = uint64_t{1} << 26;
    double sum_of_squares = 0.0;
    if (total <= kExactSquaresTotal) {
        sum_of_squares = static_cast<double>(copy.sum_of_squares);
    } else {
        for (uint32_t i = 0; i < bins; ++i) {
            const uint32_t count = pattern.idle_histogram[i];
            sum_of_squares += static_cast<double>(count) * static_cast<double>(count);
        }
    }

    // Coefficient of variation of the bin counts (population standard deviation over the mean): high when the idle
    // times concentrate in a few bins, 0 for a flat histogram.
    const double mean = static_cast<double>(total) / bins;
    const double variance = std::max(0.0, sum_of_squares / bins - mean * mean);
    const double cv = std::sqrt(variance) / mean;
    summary.representative = total >= min_samples_ && cv >= cv_threshold_;

    // Nearest-rank percentiles: the first bin whose cumulative count reaches ceil(p% x total) (at least 1).
    const auto rank_of = [total](double percentile) {
        const double rank = std::ceil(percentile / 100.0 * static_cast<double>(total));
        return std::max<uint64_t>(1, static_cast<uint64_t>(rank));
    };
    // The first bin whose cumulative count reaches `rank` (bins if none): whole blocks first, then bins.
    const auto first_bin_reaching = [&copy, bins](uint64_t rank) -> uint32_t {
        uint64_t cumulative = 0;
        std::size_t block = 0;
        while (block < copy.block_totals.size() && cumulative + copy.block_totals[block] < rank)
            cumulative += copy.block_totals[block++];
        for (std::size_t i = block * kBlockBins; i < bins; ++i) {
            cumulative += copy.counts[i];
            if (cumulative >= rank) return static_cast<uint32_t>(i);
        }
        return bins;
    };
    const uint32_t head_bin = first_bin_reaching(rank_of(head_percentile_));
    const uint32_t median_bin = first_bin_reaching(rank_of(50.0));
    const uint32_t tail_bin = first_bin_reaching(rank_of(tail_percentile_));
    // A scan that stops at the tail bin (or runs through all bins when the tail is never reached) sees the head and
    // the median only when they come no later than that.
    const uint32_t last_scanned_bin = std::min(tail_bin, bins - 1);
    const warmup_time_ms bin_ms = pattern.idle_bin_ms;
    if (head_bin <= last_scanned_bin) summary.head_ms = static_cast<warmup_time_ms>(head_bin) * bin_ms;  // lower edge
    if (median_bin <= last_scanned_bin)
        summary.median_ms = static_cast<warmup_time_ms>(median_bin) * bin_ms + bin_ms / 2;
    if (tail_bin < bins) summary.tail_ms = static_cast<warmup_time_ms>(tail_bin + 1) * bin_ms;  // upper edge
    return summary;
}

const HybridHistogramPredictor::HistogramSummary& HybridHistogramPredictor::summary_of(
    ModelState& state, const warmup_usage_pattern& pattern) const {
    if (state.summary_last_seen_ms != pattern.last_seen_ms || state.summary_samples != pattern.idle_samples ||
        state.summary_out_of_range != pattern.idle_out_of_range || state.summary_bins != pattern.idle_histogram_bins ||
        state.summary_bin_ms != pattern.idle_bin_ms) {
        state.summary = summarize(state.histogram_copy, pattern);
        state.summary_last_seen_ms = pattern.last_seen_ms;
        state.summary_samples = pattern.idle_samples;
        state.summary_out_of_range = pattern.idle_out_of_range;
        state.summary_bins = pattern.idle_histogram_bins;
        state.summary_bin_ms = pattern.idle_bin_ms;
    }
    return state.summary;
}

double HybridHistogramPredictor::histogram_p_use(const warmup_usage_pattern& pattern, warmup_time_ms elapsed_ms) const {
    // P(next gap ends in [elapsed, elapsed + horizon) | gap >= elapsed) from the empirical distribution of idle times:
    // in-range gaps spread uniformly inside their bin, out-of-range gaps beyond the histogram's range.
    const uint64_t total = pattern.idle_samples + pattern.idle_out_of_range;
    if (total == 0) return poisson_p_use(pattern);
    const double bin_ms = static_cast<double>(pattern.idle_bin_ms);
    const double from_ms = static_cast<double>(std::max<warmup_time_ms>(0, elapsed_ms));
    const double to_ms = from_ms + static_cast<double>(horizon_ms_);
    // Share of bin [lower, lower + bin) before `edge_ms`: clamp((edge - lower) / bin, 0, 1). Only the bin that holds
    // the edge needs the division: an offset <= 0 gives (+)0.0 and an offset >= bin gives 1.0 either way (a
    // correctly rounded a / b with a >= b > 0 is >= 1), so the sums below are bit-identical to dividing every bin.
    const auto share_before = [bin_ms](double edge_ms, double lower) {
        const double offset_ms = edge_ms - lower;
        if (offset_ms <= 0.0) return 0.0;
        if (offset_ms >= bin_ms) return 1.0;
        return std::clamp(offset_ms / bin_ms, 0.0, 1.0);
    };
    double mass_before_from = 0.0;
    double mass_before_to = 0.0;
    for (uint32_t i = 0; i < pattern.idle_histogram_bins; ++i) {
        const double lower = static_cast<double>(i) * bin_ms;
        if (lower >= to_ms) break;
        const double count = pattern.idle_histogram[i];
        if (bin_ms > 0.0) {
            mass_before_from += count * share_before(from_ms, lower);
            mass_before_to += count * share_before(to_ms, lower);
        } else {  // a zero-width bin: keep the exact original arithmetic (0 / 0 is NaN there)
            mass_before_from += count * std::clamp((from_ms - lower) / bin_ms, 0.0, 1.0);
            mass_before_to += count * std::clamp((to_ms - lower) / bin_ms, 0.0, 1.0);
        }
    }
    const double surviving = static_cast<double>(total) - mass_before_from;
    if (surviving <= 0.0) return poisson_p_use(pattern);  // later than every gap seen: the histogram cannot tell
    return std::clamp((mass_before_to - mass_before_from) / surviving, 0.0, 1.0);
}

double HybridHistogramPredictor::poisson_p_use(const warmup_usage_pattern& pattern) const {
    return poisson(pattern.ewma_rate_per_s, horizon_ms_);
}

void HybridHistogramPredictor::predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern,
                                       warmup_prediction& out) {
    out.model = pattern.model;
    out.horizon_ms = horizon_ms_;
    out.warm_at_ms = WARMUP_TIME_NEVER;
    out.warm_keep_until_ms = WARMUP_TIME_NEVER;

    if (pattern.last_seen_ms == WARMUP_TIME_NEVER || pattern.request_count == 0) {
        // Never used: no history to keep it for; unload at once, never pre-warm.
        out.p_use_within_horizon = 0.0;
        out.next_arrival_ms = WARMUP_TIME_NEVER;
        out.confidence = 0.0;
        out.keep_until_ms = now_ms;
        if (pattern.model < states_.size()) states_[pattern.model].last_rule = Rule::kUnseen;
        return;
    }

    ModelState& state = state_of(pattern.model);
    record_gap(state, pattern);
    const warmup_time_ms last_seen_ms = pattern.last_seen_ms;
    const uint64_t total_gaps = pattern.idle_samples + pattern.idle_out_of_range;
    out.confidence = static_cast<double>(total_gaps) / (static_cast<double>(total_gaps) + min_samples_);

    // Plans "unload right after use, pre-warm at last_seen + prewarm, keep until last_seen + keep_alive" or, with no
    // pre-warm window, "keep for the keep-alive window".
    const auto plan_windows = [&](warmup_time_ms prewarm_ms, warmup_time_ms keep_alive_ms) {
        if (prewarm_ms <= 0) {
            out.keep_until_ms = add_ms(last_seen_ms, keep_alive_ms);
            return;
        }
        out.keep_until_ms = last_seen_ms;
        out.warm_at_ms = add_ms(last_seen_ms, prewarm_ms);
        out.warm_keep_until_ms = add_ms(last_seen_ms, std::max(keep_alive_ms, prewarm_ms));
    };

    const bool out_of_range_dominated = total_gaps > 0 && static_cast<double>(pattern.idle_out_of_range) >
                                                              out_of_range_share_ * static_cast<double>(total_gaps);
    if (out_of_range_dominated && !state.series_ms.empty()) {
        state.last_rule = Rule::kTimeSeries;
        plan_windows(scale_ms(state.forecast_ms, 1.0 - margin_), scale_ms(state.forecast_ms, 1.0 + margin_));
        out.next_arrival_ms = add_ms(last_seen_ms, scale_ms(state.forecast_ms, 1.0));
        out.p_use_within_horizon = poisson_p_use(pattern);
        return;
    }

    const HistogramSummary& summary = summary_of(state, pattern);
    if (summary.representative) {
        state.last_rule = Rule::kHistogram;
        plan_windows(scale_ms(static_cast<double>(summary.head_ms), 1.0 - margin_),
                     scale_ms(static_cast<double>(summary.tail_ms), 1.0 + margin_));
        out.next_arrival_ms = add_ms(last_seen_ms, summary.median_ms);
        out.p_use_within_horizon = histogram_p_use(pattern, now_ms - last_seen_ms);
        return;
    }

    state.last_rule = Rule::kFixedKeepAlive;
    out.keep_until_ms = add_ms(last_seen_ms, default_keep_alive_ms_);
    const double rate_per_s = pattern.ewma_rate_per_s;
    out.next_arrival_ms = std::isfinite(rate_per_s) && rate_per_s > 0.0
                              ? add_ms(last_seen_ms, scale_ms(1000.0 / rate_per_s, 1.0))
                              : WARMUP_TIME_NEVER;
    out.p_use_within_horizon = poisson_p_use(pattern);
}

HybridHistogramPredictor::Rule HybridHistogramPredictor::last_rule(warmup_model_index model) const noexcept {
    return model < states_.size() ? states_[model].last_rule : Rule::kUnseen;
}

std::vector<warmup_time_ms> HybridHistogramPredictor::out_of_range_series(warmup_model_index model) const {
    std::vector<warmup_time_ms> values;
    if (model >= states_.size()) return values;
    const ModelState& state = states_[model];
    const std::size_t count = state.series_ms.size();
    for (std::size_t i = 0; i < count; ++i) values.push_back(state.series_ms[(state.series_next_slot + i) % count]);
    return values;
}

// Format (text, one model per line, integers in decimal):
//   org.warmup.state.hybrid-histogram/1
//   <model index> <last_recorded_seen_ms> <count> <idle_ms oldest> ... <idle_ms newest>
// Model indexes are those of the host process (stable for its life), which is what a hot-swap hands over.
std::string HybridHistogramPredictor::export_state() const {
    std::string text = std::string(kStateSchema) + "\n";
    for (std::size_t model = 0; model < states_.size(); ++model) {
        const ModelState& state = states_[model];
        if (state.last_recorded_seen_ms == WARMUP_TIME_NEVER && state.series_ms.empty()) continue;
        text += std::to_string(model) + ' ' + std::to_string(state.last_recorded_seen_ms) + ' ' +
                std::to_string(state.series_ms.size());
        for (const warmup_time_ms value : out_of_range_series(static_cast<warmup_model_index>(model)))
            text += ' ' + std::to_string(value);
        text += '\n';
    }
    return text;
}

void HybridHistogramPredictor::import_state(std::string_view data) {
    std::vector<ModelState> imported;
    sdk::StateTextReader reader(data, kStateSchema, &bad_state);
    while (reader.next_record()) {
        const auto model = reader.field<int64_t>("(model index)");
        if (model < 0 || model >= static_cast<int64_t>(WARMUP_NO_MODEL)) bad_state("model index out of range");
        const int64_t last_recorded_seen_ms = reader.field<int64_t>("(last_recorded_seen_ms)");
        const int64_t count = reader.field<int64_t>("(series length)");
        if (count < 0 || count > (1 << 20)) bad_state("series length out of range");
        if (static_cast<std::size_t>(model) >= imported.size()) imported.resize(static_cast<std::size_t>(model) + 1);
        ModelState& state = imported[static_cast<std::size_t>(model)];
        if (state.last_recorded_seen_ms != WARMUP_TIME_NEVER || !state.series_ms.empty())
            bad_state("model " + std::to_string(model) + " appears twice");
        state.last_recorded_seen_ms = last_recorded_seen_ms;
        for (int64_t i = 0; i < count; ++i) {
            const int64_t idle_ms = reader.field<int64_t>("(idle time)");
            if (idle_ms <= 0) bad_state("idle times must be positive");
            append_to_series(state, idle_ms);  // keeps the most recent series_length values
        }
        if (!reader.at_record_end()) bad_state("trailing characters on the line of model " + std::to_string(model));
        if (!state.series_ms.empty()) refresh_forecast(state);
    }
    states_ = std::move(imported);
}

}  // namespace warmup::plugins
