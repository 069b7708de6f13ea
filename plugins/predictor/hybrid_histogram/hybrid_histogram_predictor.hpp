// hybrid_histogram_predictor.hpp — the hybrid histogram policy of Shahrad et al., "Serverless in the Wild:
// Characterizing and Optimizing the Serverless Workload at a Large Cloud Provider" (USENIX ATC 2020), section 4.
//
// Per model, from the analyzer's idle-time histogram (time between consecutive distinct arrivals):
//  1. More than `out_of_range_share` of the idle times beyond the histogram range -> time-series fallback: forecast
//     the next idle time from this predictor's own series of recent out-of-range idle times (the paper uses ARIMA;
//     this uses an AR(1) model fitted by Yule-Walker, see forecast_idle_ms), pre-warm at forecast x (1 - margin),
//     keep until forecast x (1 + margin).
//  2. Else, histogram representative (>= min_samples in-range idle times and coefficient of variation of the bin
//     counts >= cv_threshold): pre-warm window = head percentile (bin lower edge) x (1 - margin), keep-alive window =
//     tail percentile (bin upper edge) x (1 + margin). Pre-warm window 0: keep loaded for the keep-alive window after
//     use. Otherwise unload right after use, be ready again at last_seen + pre-warm window, keep until last_seen +
//     keep-alive window.
//  3. Else the fixed keep-alive (default 4 h, the histogram range), no pre-warm.
//
// Thread: control thread only (warmup/predictor.h). State: one ModelState per model index, grown when a new index
// appears; in steady state predict() allocates nothing (the series buffer is allocated once per model, on its first
// out-of-range idle time) and costs O(1) except when the histogram changed (one O(bins) integer compare against this
// predictor's copy of the histogram plus an O(bins / 16 + 16) percentile search, then cached) or in the histogram
// branch (p_use_within_horizon scans the bins up to now - last_seen + horizon). The copy costs 4 bytes per bin per
// model that reached the histogram rule check.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins {

class HybridHistogramPredictor final : public sdk::Predictor {
  public:
    static constexpr const char* kStateSchema = "org.warmup.state.hybrid-histogram/1";

    /// Which rule produced a prediction (exposed for tests and introspection).
    enum class Rule { kUnseen, kFixedKeepAlive, kHistogram, kTimeSeries };

    HybridHistogramPredictor(sdk::Host host, sdk::Params& params);

    void predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) override;

    [[nodiscard]] const char* state_schema() const override { return kStateSchema; }
    [[nodiscard]] std::string export_state() const override;
    /// Throws sdk::Error(INVALID_ARGUMENT) on malformed bytes; the current state is then unchanged.
    void import_state(std::string_view data) override;

    /// The rule the last predict() call for `model` used (kUnseen if never predicted).
    [[nodiscard]] Rule last_rule(warmup_model_index model) const noexcept;
    /// Out-of-range idle times recorded for `model`, oldest first (copies; for tests and introspection).
    [[nodiscard]] std::vector<warmup_time_ms> out_of_range_series(warmup_model_index model) const;

    /// AR(1) forecast (Yule-Walker) of the value after `values` (oldest first, non-empty): mean + phi x (last - mean),
    /// clamped to [min, max] of the values; with fewer than 4 values (too few to estimate phi) the mean.
    static double forecast_idle_ms(std::span<const double> values) noexcept;

  private:
    /// What one idle-time histogram says, computed once per histogram change.
    struct HistogramSummary {
        bool representative = false;
        warmup_time_ms head_ms = 0;    ///< lower edge of the head-percentile bin
        warmup_time_ms tail_ms = 0;    ///< upper edge of the tail-percentile bin
        warmup_time_ms median_ms = 0;  ///< midpoint of the median bin
    };

    /// Bins per block of HistogramCopy::block_totals: percentile searches skip whole blocks.
    static constexpr uint32_t kBlockBins = 16;

    /// This predictor's copy of a model's histogram as of its last summary, with integer aggregates kept up to date
    /// by comparing the copy with the analyzer's histogram (a new arrival changes one bin), so a summary costs one
    /// vectorised compare of the bins instead of a floating-point pass. All arithmetic is on integers, so the
    /// summary is exactly what the full pass computes (see summarize for the one case that still takes that pass).
    struct HistogramCopy {
        std::vector<uint32_t> counts;        ///< the bins; empty = no copy yet (or the geometry changed)
        std::vector<uint64_t> block_totals;  ///< sum of counts per kBlockBins consecutive bins
        uint64_t total = 0;                  ///< sum of counts
        uint64_t sum_of_squares = 0;         ///< sum of counts^2 modulo 2^64 (exact whenever total < 2^32)
    };

    struct ModelState {
        /// last_seen_ms of the pattern whose idle gap has been considered already (so each gap is counted once).
        warmup_time_ms last_recorded_seen_ms = WARMUP_TIME_NEVER;
        /// Ring buffer of recent out-of-range idle times, ms; capacity series_length_, allocated on first use.
        std::vector<warmup_time_ms> series_ms;
        uint32_t series_next_slot = 0;  ///< ring write position once series_ms is full
        double forecast_ms = 0;         ///< forecast_idle_ms(series) as of the last recorded gap

        /// Cache key of `summary`: the histogram can only change when a new arrival moves last_seen.
        warmup_time_ms summary_last_seen_ms = WARMUP_TIME_NEVER;
        uint64_t summary_samples = UINT64_MAX;
        uint64_t summary_out_of_range = UINT64_MAX;
        uint32_t summary_bins = 0;
        uint32_t summary_bin_ms = 0;
        HistogramSummary summary;
        HistogramCopy histogram_copy;  ///< allocated on the model's first summary (idle_bins counts)

        Rule last_rule = Rule::kUnseen;
    };

    ModelState& state_of(warmup_model_index model);
    void record_gap(ModelState& state, const warmup_usage_pattern& pattern);
    void append_to_series(ModelState& state, warmup_time_ms idle_ms);
    void refresh_forecast(ModelState& state) const;
    const HistogramSummary& summary_of(ModelState& state, const warmup_usage_pattern& pattern) const;
    HistogramSummary summarize(HistogramCopy& copy, const warmup_usage_pattern& pattern) const;
    static void sync_copy(HistogramCopy& copy, const uint32_t* histogram, uint32_t bins);
    double histogram_p_use(const warmup_usage_pattern& pattern, warmup_time_ms elapsed_ms) const;
    double poisson_p_use(const warmup_usage_pattern& pattern) const;

    double head_percentile_;
    double tail_percentile_;
    double margin_;
    double cv_threshold_;
    uint64_t min_samples_;
    warmup_time_ms default_keep_alive_ms_;
    double out_of_range_share_;
    warmup_time_ms horizon_ms_;
    uint32_t series_length_;

    std::vector<ModelState> states_;  ///< indexed by model index
};

}  // namespace warmup::plugins
