// plugins/source/prometheus/counter_increase.hpp — turns successive scrapes of a per-model request counter into the
// number of requests per model since the previous scrape.
//
// Per series (one label set), as Prometheus' own increase() does:
//  - the first scrape after start is the baseline: it counts nothing (what happened before is not known);
//  - a value at or above the last one adds the difference;
//  - a value below the last one is a counter reset (the server restarted, or a model was reloaded): the counter
//    started again from 0, so the whole value is new;
//  - a series first seen after the baseline was created since the previous scrape: its whole value is new;
//  - a series missing from a scrape keeps its last value, so that when it comes back only what it gained since counts
//    (a page without it may be a proxy's empty answer, or another replica's page): a value below the last one is a
//    reset as above. A series missing from more than kMaxScrapesMissing scrapes in a row is forgotten (if it comes back
//    after that, it came back from 0: all of it is new);
//  - a series that was reset and, at its next scrape, is at or above its value before the reset "bounced": a second
//    server behind the same URL does that, a counter that restarted from 0 rarely so soon (Result::bounced_series, a
//    hint for the log; what is counted does not change).
// Several series of one model (Triton's `version`, vLLM's `finished_reason`) add up. Counters are floats; the
// fractional part carries over per model, so increases of 0.5 and 0.5 make one request.
//
// Threads: not thread-safe; one owner (the source's thread).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "exposition_parser.hpp"

namespace warmup::plugins {

class CounterIncrease {
  public:
    explicit CounterIncrease(std::string model_label) : model_label_(std::move(model_label)) {}

    struct Result {
        std::map<std::string, uint64_t> requests_by_model;  ///< whole requests since the last scrape, > 0 only
        std::vector<std::string> series_without_model;      ///< series keys lacking the model label, first seen now
        std::size_t resets = 0;                             ///< series whose counter went down
        /// Series back at or above the value they had before a reset seen at their previous scrape: a counter that
        /// restarted from 0 rarely gets there so soon, two servers answering in turn behind one URL do (a hint only).
        std::vector<std::string> bounced_series;
        bool baseline = false;  ///< this was the first scrape: nothing counted
    };

    /// Takes one scrape's samples of the counter.
    Result update(const std::vector<ExpositionSample>& samples);

    /// Consecutive scrapes a series may miss and still be compared with its last value when it comes back.
    static constexpr uint32_t kMaxScrapesMissing = 60;

  private:
    struct LastSeen {
        double value = 0;
        uint32_t scrapes_missing = 0;  ///< scrapes since it was last listed
        double before_reset = -1;      ///< the value before a reset in this scrape; -1: no reset
    };
    std::string model_label_;
    bool have_baseline_ = false;
    std::map<std::string, LastSeen> last_by_series_;
    std::map<std::string, double> carry_by_model_;  // fractional requests not yet emitted
    std::map<std::string, bool> reported_without_model_;
};

}  // namespace warmup::plugins
