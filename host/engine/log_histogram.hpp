// engine/log_histogram.hpp — percentiles of a non-negative quantity (cold waits, ms) in bounded memory.
//
// Buckets grow geometrically by 2 % (bucket i covers [1.02^i - 1, 1.02^(i+1) - 1) ms), so a reported percentile is
// within 2 % of the exact one, and memory is a few kB whatever the number of observations.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace warmup::host {

class LogHistogram {
  public:
    void add(double value, uint64_t count = 1) {
        if (count == 0) return;
        const double clamped = value < 0 ? 0 : value;
        const auto bucket = static_cast<std::size_t>(std::log1p(clamped) / kLogGrowth);
        if (bucket >= counts_.size()) counts_.resize(bucket + 1, 0);
        counts_[bucket] += count;
        total_ += count;
        sum_ += clamped * static_cast<double>(count);
    }
    [[nodiscard]] uint64_t count() const noexcept { return total_; }
    [[nodiscard]] double sum() const noexcept { return sum_; }
    /// Nearest-rank percentile (p in [0, 100]); the midpoint of the bucket holding that rank. 0 when empty.
    [[nodiscard]] double percentile(double p) const {
        if (total_ == 0) return 0;
        const auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
        uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= (rank == 0 ? 1 : rank)) {
                const double low = std::expm1(static_cast<double>(i) * kLogGrowth);
                const double high = std::expm1(static_cast<double>(i + 1) * kLogGrowth);
                return (low + high) / 2;
            }
        }
        return std::expm1(static_cast<double>(counts_.size()) * kLogGrowth);
    }

  private:
    static constexpr double kLogGrowth = 0.0198026272961797;  // ln(1.02)
    std::vector<uint64_t> counts_;
    uint64_t total_ = 0;
    double sum_ = 0;
};

}  // namespace warmup::host
