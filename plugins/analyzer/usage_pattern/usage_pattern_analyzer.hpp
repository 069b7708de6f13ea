// usage_pattern_analyzer.hpp — the default analyzer: per-model counts, EWMA rate, idle-time histogram,
// hour-of-day / day-of-week profile and a bounded "who comes next" follower table.
//
// Threading: every method runs on the host's control thread (the SDK contract for component plugins); no locks.
// Cost: observe() is O(events) with no allocation in steady state (per-model arrays only grow when a new model index
// appears; the follow-window buffer keeps its capacity; a follower update moves one slot in the kept-sorted follower
// order, O(max_followers) at worst). get_pattern() is O(31) when the model had events since its last get_pattern,
// plus O(followers) when it had a new arrival or follower update since; O(1) otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <warmup/sdk/model_table.hpp>
#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins {

/// Validated parameters (see README.md for the YAML keys and why the defaults are what they are).
struct UsagePatternConfig {
    int64_t ewma_half_life_ms = 600'000;  ///< half-life of the EWMA request rate
    uint32_t idle_bin_ms = 60'000;        ///< width of one idle-histogram bin
    uint32_t idle_bins = 240;             ///< bins; range = idle_bins * idle_bin_ms (4 h by default)
    int64_t follow_window_ms = 60'000;    ///< a different model requested within this after an arrival "follows" it
    uint32_t max_followers = 8;           ///< space-saving slots per model
};

class UsagePatternAnalyzer final : public sdk::Analyzer {
  public:
    static constexpr const char* kStateSchema = "org.warmup.state.usage-pattern/1";

    UsagePatternAnalyzer(sdk::Host host, sdk::Params& params);

    void observe(std::span<const warmup_usage_event> events) override;
    void get_pattern(warmup_model_index model, warmup_usage_pattern& out) override;
    void reset() override;

    [[nodiscard]] const char* state_schema() const override { return kStateSchema; }
    [[nodiscard]] std::string export_state() const override;
    /// The same bytes, the payload in blocks of a few models (the host streams them to its snapshot file).
    void export_state_to(const sdk::StateWriter& out) const override;
    /// Accepts any exported v1 state; a different bin geometry or follower capacity is re-binned / trimmed. Throws
    /// InvalidArgument on malformed bytes and then leaves the current state untouched.
    void import_state(std::string_view data) override;

    /// Per-model state (a fleet moving one model between hosts): the model's counts, rates, idle histogram and
    /// calendar as text; its followers are left out (they name other models by this process's indexes). An import
    /// needs the same histogram geometry (idle_bin_ms, idle_bins) and clears the model's followers.
    [[nodiscard]] bool supports_model_state() const override { return true; }
    [[nodiscard]] std::string export_model_state(warmup_model_index model) const override;
    void import_model_state(warmup_model_index model, std::string_view data) override;
    void forget_model_state(warmup_model_index model) override;

    [[nodiscard]] const UsagePatternConfig& config() const noexcept { return config_; }

    /// One space-saving counter slot: `count` over-estimates the true count by at most `error`.
    struct FollowerSlot {
        warmup_model_index model = WARMUP_NO_MODEL;
        uint64_t count = 0;
        uint64_t error = 0;
    };

    /// Hot per-model scalars, kept together so one event touches one or two cache lines.
    struct ModelStats {
        uint64_t request_count = 0;
        uint64_t arrival_count = 0;  ///< distinct arrival timestamps (the denominator of follower shares)
        warmup_time_ms first_seen_ms = WARMUP_TIME_NEVER;
        warmup_time_ms last_seen_ms = WARMUP_TIME_NEVER;
        warmup_time_ms previous_seen_ms = WARMUP_TIME_NEVER;
        double ewma_rate_per_s = 0;  ///< as of last_seen_ms
        uint64_t idle_samples = 0;
        uint64_t idle_out_of_range = 0;
        uint32_t followers_used = 0;
        /// What this model's row of State::calendar holds: the counts (false), or the shares get_pattern handed out
        /// (true), which the next event of the model turns back into counts.
        bool calendar_in_shares = false;
        /// What get_pattern must recompute before handing out the follower view (a new arrival, the shares'
        /// denominator, or a follower change).
        bool followers_stale = true;  ///< followers_sorted_ of this model
    };

    static constexpr uint32_t kCalendarSlots = 24 + 7;
    static constexpr uint32_t kMaxFollowers = 64;  ///< upper bound of the max_followers param (fits follower_order_)

    /// Everything learned; one value so import can build a replacement and swap it in only when it is complete.
    struct State {
        uint32_t model_capacity = 0;
        sdk::ModelTable<ModelStats> stats;
        sdk::ModelRows<uint32_t> idle_histogram;  ///< a row of idle_bins per model
        /// A row of kCalendarSlots per model: its requests per hour of the day (UTC) then per day of the
        /// week. One row serves as the counts and as the shares get_pattern hands out (count / request_count), in
        /// place (ModelStats::calendar_in_shares says which): the view must stay valid until the next observe, and the
        /// next event of the model is the first thing that needs the counts again, so a row is never needed both
        /// ways at once. That halves the calendar's memory (248 bytes a model, 2.4 MiB at 10 k models). Counts are
        /// whole numbers held as doubles; back from shares they are round(share x request_count), exact up to 2^50
        /// requests a slot (the share's rounding is 3 parts in 2^53). Read with calendar_count().
        sdk::ModelRows<double> calendar;
        sdk::ModelRows<FollowerSlot> follower_slots;  ///< a row of max_followers per model, unsorted
        // Follow-window run: the arrivals of `run_model` since a different model was last requested. Every other
        // model's pending arrivals were closed by that request, so one run is all the state followers need.
        warmup_model_index run_model = WARMUP_NO_MODEL;
        std::vector<warmup_time_ms> run_arrivals_ms;  ///< sorted; entries before run_head are consumed
        std::size_t run_head = 0;
    };

  private:
    /// The payload of export_state() (format in the .cpp), handed to `emit` in blocks of about 32 KiB, in order.
    void write_payload(const std::function<void(std::string_view)>& emit) const;
    void grow_to(uint32_t model_capacity);
    /// A State with no model, its row widths set from config_.
    [[nodiscard]] State empty_state() const;
    void apply(const warmup_usage_event& event);
    void note_follow(warmup_model_index model, warmup_time_ms ts_ms, bool new_arrival);
    void drop_run_arrivals_before(warmup_time_ms cutoff_ms);
    void add_follower(warmup_model_index leader, warmup_model_index follower, uint64_t weight);
    /// Moves `slot` of `leader` forward in follower_order_ after its count grew (or it was added at the end).
    void promote_follower(warmup_model_index leader, uint32_t slot);
    /// The row of `model` in state_.calendar as shares (for get_pattern) or as counts (for an event).
    void calendar_to_shares(warmup_model_index model);
    void calendar_to_counts(warmup_model_index model);
    /// The count of one calendar slot of `model`, whichever way its row holds it.
    [[nodiscard]] uint64_t calendar_count(warmup_model_index model, uint32_t slot) const;
    void refresh_followers_view(warmup_model_index model);

    UsagePatternConfig config_;
    double ewma_decay_per_ms_;   ///< log2 units: weight of an event dt ms old is exp2(-dt * this)
    double ewma_impulse_per_s_;  ///< rate contribution of one request at its own time, 1/s
    State state_;

    /// The UTC hour of the last event, so consecutive events of one hour skip two 64-bit divisions.
    struct CalendarHour {
        warmup_time_ms start_ms = WARMUP_TIME_NEVER;  ///< hour start (UTC ms); NEVER = nothing cached yet
        uint32_t hour_slot = 0;
        uint32_t weekday_slot = 24;
    };
    CalendarHour calendar_hour_;
    /// The catalog's model count as last read: observe validates indexes against it, and reads it again only when an
    /// event names an index at or above it (the catalog only grows while the host runs).
    uint32_t catalog_models_ = 0;

    // Read-only views handed out by get_pattern (derived from state_, rebuilt lazily per model; the calendar's are
    // State::calendar itself).
    sdk::ModelRows<warmup_follower> followers_sorted_;  ///< a row of max_followers per model
    /// A row of max_followers per model: its used slot indexes ordered by count (descending), then model
    /// index. Kept sorted by add_follower (a count only grows, so a slot only moves forward): no sort per read.
    sdk::ModelRows<uint8_t> follower_order_;
    std::vector<uint32_t> empty_histogram_;  ///< idle_bins zeros, for never-seen models
    std::vector<double> empty_shares_;       ///< kCalendarSlots zeros
};

}  // namespace warmup::plugins
