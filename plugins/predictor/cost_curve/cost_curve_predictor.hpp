// cost_curve_predictor.hpp — the default predictor: per model, the keep time (and at most one pre-warm window
// per idle gap) that its own recent history says saves the most cold requests per byte-second, steered towards at
// most the memory a 20-minute keep-alive would hold.
//
// What it learns, per model, from the arrivals it is shown (no extra input beyond the analyzer's pattern):
//  - for each candidate keep time K on a log grid (4 per doubling from `min_keep_ms`, 48 candidates, up to ~2.4 days
//    at the 1-minute default), over the model's past idle gaps G >= min_keep_ms:
//      cold(K)   = requests that a keep of K would have made wait: the wake-up burst (the requests arriving within one
//                  load time after the gap) of every gap longer than K,
//      held(K)   = memory-time a keep of K would have held: sum of min(G, K) - min_keep,
//      longer(K) = number of gaps longer than K (the survival curve behind p_use and the median next arrival,
//                  interpolated on the log grid);
//    all three decayed with a half-life of `memory_gaps` gaps, so a model whose rhythm changes is followed, and shrunk
//    towards the fleet's pooled curves by `prior_gaps` pseudo-gaps, so a model seen idle twice is not planned on two
//    numbers alone;
//  - the wake-up burst size is measured per gap, not assumed: a busy model's cold start costs every request that
//    arrives while it loads, and long gaps are often followed by bigger bursts than short ones.
//  - a gap is learned as soon as it ends (the wake-up's later requests are added as they come), so the plan made right
//    after a lone request already knows the gap that request ended.
// Plan after each use: the keep K minimising cold(K) + lambda * (held(K) + open(K)), where open(K) charges the share
// of the fleet's idle spells that are longer than the reference keep and still open (models stopped, asleep, retired:
// the curves see such a spell only when it ends, which may be never) at K - min_keep each on the model's gaps; then,
// for the gaps the keep does not cover, at
// most one pre-warm window [W, E) placed on the exact values of the model's last 16 gaps longer than the reference keep
// (so a nightly job's 24 h +- 10 min gaps get a window of minutes, not of hours): the window that saves the most
// requests of those gaps for lambda x the memory it holds, if it catches at least 3 of them and saves more than it
// costs.
// lambda is the price of memory-time in requests (per ms of this model held): memory_mb / (cold_request_cost_loads x
// L x reference_memory_mb), i.e. one waiting request is worth holding a reference-sized model idle for
// cold_request_cost_loads times L. L is the mean load time of the catalog's models this instance has seen (from each
// one's first event or state import; `price_load: fleet`, 1.7.0), so every model pays the same per MiB and memory goes
// where it saves the most requests per GB·h, the unit a timer's memory is counted in. A plan keeps the price it was
// made at until the model's next gap. With `price_load: own` (1.6.1) L is the model's own load time; where load times
// grow with size, as on most hosts, a big model then paid about what a small one did per ms held, a quarter as much
// per GB at four times the size. Times two multipliers:
//  - the lean ceiling's (objective lean), raised by a controller while the memory-time the plans hold exceeds
//    `lean_memory_share` of what a keep-alive of `lean_reference_keep_ms` would hold on the same gaps;
//  - the exchange price's (`exchange_price`, on by default, objective lean): once the plans have been scored on 256
//    gaps, it follows the rate at which keep-alive timers trade memory for cold requests at the plans' memory, scaled
//    by the plans' cold requests over the timers' there: the price at which the plans beat the timers by the most
//    (see update_exchange_price), within 1/8 .. 8.
// Fairness (`fairness_quantile`, 0.75 by default; 1 = off): the plans keep the q-quantile of the per-model cold rates
// at or under what a keep-alive holding the same memory would give, so memory does not all go to the models where it
// saves the most while rarely used models are left cold. Every 256 closed gaps the same-memory keep-alive is found on
// memory-time weighted by model size (what each candidate keep would have held on the gaps the plans were scored on),
// and the target is the q-quantile of the models' own cold rates under it. While the lean ceiling leaves memory to
// spare (off once its controller raises the price, on again when the price is back; always on without a ceiling),
// the models with a shorter keep whose rate under that keep-alive is within 25 % of the target (the ones that decide
// the quantile) get its keep as their floor, so they fare as under the timer. Then the models whose keep would leave
// them above the target are lifted to the shortest keep that brings them under, cheapest first (extra cost per ms of
// idle history), until q of the fleet is served; a model no keep can bring under the target (its cold rate is its first
// load, or its gaps are longer than any keep) is not lifted. The guard (1.5.0), whatever the ceiling: the same
// quantile taken over whole histories (not decayed: the rates under the same-memory keep-alive since the model was
// first seen) is a second target, and a model that keep-alive serves over its whole history, whose whole-history rate
// under the plans it had is within 25 % of that target or over it, gets the keep-alive's keep as its floor. The margin
// (`fairness_margin`, 1.8.0): while the plans leave under 0.9 of that keep-alive's cold requests on the scored gaps,
// the band's models it leaves at or over the target get the next candidate keep instead of its keep.
// Start-up floor (`startup_keep_ms`, half the reference keep): in the fleet's first `lean_reference_keep_ms` only gaps
// shorter than the time elapsed can have closed, so the curves say gaps are short; until then every plan keeps at
// least the first candidate at or over startup_keep_ms. An imported state or a model seeded with back-filled history
// ends the period.
// Successions (`succession`, 1.9.0, lean only): a model used minutes after another model's use is held from each of
// that model's uses for the window (1-10 min) that saves the most requests for its memory, when the pair's count of
// caught cold requests is well beyond chance and its saving beyond its own noise; the leader's prediction names it in
// replan_models so the host plans it at once (succession.cpp). The pairs are in the state text since 1.10.0.
// With `objective: budget` models are never unloaded on a timer (the budget's eviction decides); a model's pre-warm
// window is given (while it is open) with a keep until evicted, for the host to load it again if the budget evicted
// it before the window (1.11.0); successions are off. Daily window (`daily_window`, 1.12.0, budget only): a model
// whose recent starts of day (wake-ups after 4 h or more idle, the latest 8) cluster within 3 hours of clock time (at
// least 3 of them and half) is also to be ready ready_margin_ms before that span each day, up to 3 days after its last
// use, kept until evicted; the host loads it only if the budget evicted it, and the resource plugin may refuse the
// evictions it would need. A working day starts by the clock, and the gap before it (from the last use of the
// evening) varies with both ends.
// Gap spread (`gap_spread`, off by default): a model seen idle a few times is planned on a few exact values, so its
// keep ends just past the longest gap it has shown and the first longer gap is cold. With gap_spread s, each learned
// gap adds to the curves (the model's and the fleet's pool) as a triangular spread over +-s' doublings around it,
// s' = s x sqrt(prior_gaps / (prior_gaps + the model's decayed count of gaps)): wide for a young model, narrower as its
// own gaps outweigh the prior (the count levels off at memory_gaps / ln 2: s' >= 0.35 at s = 3 with the defaults).
// The pre-warm windows keep the exact values, and so do the gaps seeded from the analyzer's histogram.
//
// Where each part lives: cost_curve_predictor.cpp (configuration, the plan and its pre-warm window, predict),
// learning.cpp (gaps, bursts and the open idle spells into the curves), succession.cpp (pairs of leader and
// follower), scoring.cpp (each closed gap scored for the
// plans and the candidate keep-alives; the lean controller and the exchange price), fairness_floors.cpp,
// state_text.cpp (export and import); cost_curve_constants.hpp holds the fixed constants.
//
// Threading: control thread only (SDK contract). Memory: ~1.3 KB per model index (plus ~0.5 KB for a model with
// candidate leaders or followers to name) up to the largest seen (indexes
// outside the host's catalog are refused). predict() right after a use is O(1) while the model's learned state is
// unchanged (the plan is cached); at an idle time > 0 (a pre-warm finished, an HTTP prediction) it bisects the survival
// curve, ~20 evaluations of O(48). A closed idle gap costs O(48) (O(48 x 8s) with gap_spread s); the next plan O(48)
// plus the window search, O(16^3) over the recent gaps; with fairness on, every 256 closed gaps the floors are
// recomputed in O(models x 48 + lifted log lifted). Counting the open idle spells costs amortised O(1) per predict (a
// FIFO with at most one entry per model).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <warmup/sdk/model_table.hpp>
#include <warmup/sdk/plugin.hpp>
#include <warmup/sdk/state_text.hpp>

namespace warmup::plugins {

struct CostCurvePredictorConfig {
    enum class Objective { lean, budget };
    Objective objective = Objective::lean;  ///< lean: unload when keeping no longer pays; budget: never
    int64_t horizon_ms = 600'000;           ///< window of p_use_within_horizon
    int64_t min_keep_ms = 60'000;           ///< shortest keep; shorter gaps are always warm
    double cold_request_cost_loads = 30;    ///< a waiting request = this many load times (see price_load) of
                                            ///< reference idle
    double reference_memory_mb = 8192;      ///< model size at which that price applies unscaled
    double default_load_ms = 10'000;        ///< when the catalog declares no load time
    double prior_gaps = 4;                  ///< pseudo-gaps of the fleet's curves in each model's
    double memory_gaps = 200;               ///< half-life, in the model's own idle gaps, of what it learned
    bool prewarm = true;                    ///< one pre-warm window per gap, from the recent long gaps, when it pays
    int64_t ready_margin_ms = 5'000;        ///< a pre-warm is charged its load time plus this margin
    /// Budget only, with prewarm: a model the budget evicted is also pre-warmed at the clock time its recent starts of
    /// day (wake-ups after 4 h or more idle) cluster at, when they do (see daily_opening).
    bool daily_window = true;
    int64_t lean_reference_keep_ms = 1'200'000;  ///< lean: the keep-alive whose memory is the ceiling ...
    double lean_memory_share = 0.94;             ///< ... times this share (0 = no ceiling: the price alone)
    double fairness_quantile = 0.75;  ///< per-model cold-rate quantile held at a same-memory timer's (1 = off)
    bool fairness_margin = true;      ///< while the plans beat the timers by 10 %, the band's floor is one keep longer
    bool open_gaps = true;            ///< charge keeps for the fleet's open idle spells longer than the reference keep
    double gap_spread = 0;       ///< a model's first gap stands for gaps within this many doublings of it (0 = exact)
    bool exchange_price = true;  ///< the price of memory follows the keep-alive timers' exchange rate (lean only)
    int64_t startup_keep_ms = 600'000;  ///< the shortest keep in the fleet's first reference keep (0 = none);
                                        ///< when not configured, half of lean_reference_keep_ms
    /// Successions: a model whose wake-ups its own plan leaves cold but which tends to be used within minutes of
    /// another model's use (a summary after a chat session) is held from each such use for the window that saves the
    /// most requests for its memory, when that window pays (see succession.cpp). Lean only.
    bool succession = true;
    /// The load time the price counts a waiting request in: the fleet's mean (one price per MiB for every model) or
    /// the model's own (1.6.1; where load time is about proportional to size, about one price per ms held).
    enum class PriceLoad { fleet, own };
    PriceLoad price_load = PriceLoad::fleet;
};

class CostCurvePredictor final : public sdk::Predictor {
  public:
    /// Candidate keep times: keep_ms(i) = min_keep_ms x 2^(i/4), i = 0..kKeeps-1.
    static constexpr int kKeeps = 48;
    static constexpr int kKeepsPerDoubling = 4;

    CostCurvePredictor(sdk::Host host, sdk::Params& params);

    void predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) override;

    const char* state_schema() const override { return kStateSchema; }
    [[nodiscard]] std::string export_state() const override;
    /// The same text, a block of model lines at a time (the host streams it to its snapshot file).
    void export_state_to(const sdk::StateWriter& out) const override;
    void import_state(std::string_view data) override;

    /// Per-model state (a fleet moving one model between hosts): the model's line of export_state() without its
    /// index. The fleet's pooled curves, the lean controller and the exchange price stay with each host.
    [[nodiscard]] bool supports_model_state() const override { return true; }
    [[nodiscard]] std::string export_model_state(warmup_model_index model) const override;
    void import_model_state(warmup_model_index model, std::string_view data) override;
    void forget_model_state(warmup_model_index model) override;

    [[nodiscard]] const CostCurvePredictorConfig& config() const noexcept { return config_; }

    /// The plan of one model as offsets from its last use (ms): keep until keep_ms; if window_start_ms >= 0, be ready
    /// again at window_start_ms and unload at window_end_ms if unused.
    struct Plan {
        int64_t keep_ms = 0;
        int64_t window_start_ms = -1;
        int64_t window_end_ms = -1;
        /// Budget: the clock time (ms since 00:00 UTC) at which the daily pre-warm starts, -1 = none.
        int64_t daily_start_ms = -1;
        double median_gap_ms = -1;  ///< median of the next gap from the last use (-1 = unknown)
        double p_use_fresh = 0;     ///< p(next request within the horizon) right after a use
        /// Whether an idle gap of gap_ms ends cold under this plan: past the keep and outside the pre-warm window.
        [[nodiscard]] bool leaves_cold(int64_t gap_ms) const noexcept {
            return gap_ms > keep_ms && !(window_start_ms >= 0 && gap_ms >= window_start_ms && gap_ms < window_end_ms);
        }
    };
    /// The current plan of `model` (computed if stale), or nullptr for a model never seen. For tests and insight.
    const Plan* plan_of(warmup_model_index model);
    /// The current price multiplier of the lean ceiling (1 = the configured price alone).
    [[nodiscard]] double lean_price_factor() const noexcept;
    /// The current price multiplier of the timers' exchange rate (1/8 .. 8; 1 when exchange_price is off or the
    /// objective is budget).
    [[nodiscard]] double exchange_price_factor() const noexcept;
    /// The exchange price's target (requests per MiB x ms): at the plans' memory-time `plans_held` (MiB x ms), the
    /// timers' cold requests T, interpolated between the two candidate keep-alives whose memory brackets it, and the
    /// slope of their curve from one candidate below that bracket to one above it; returns plans_cold / T x -slope,
    /// or -1 when it tells nothing (T = 0, the curve not falling, or the plans leaving nothing cold). `timer_held`
    /// rises with the keep (nearly: a timer that unloads just before a gap ends also pays the load). See
    /// update_exchange_price().
    /// The plans' cold requests over those of the keep-alive holding the same memory, on the gaps they were scored
    /// on (decayed, ~2,000), or -1 before 256 of them were scored or while nothing was scored (fairness off and no
    /// exchange price). Under 1 the plans beat the timers; the fairness margin spends some of that (see
    /// update_fairness_floors).
    [[nodiscard]] double plans_to_timer_ratio() const noexcept;
    [[nodiscard]] static double exchange_target_price(const std::array<double, kKeeps>& timer_held,
                                                      const std::array<double, kKeeps>& timer_cold, double plans_held,
                                                      double plans_cold);

  private:
    /// The cold requests of the keep-alive holding memory-time `plans_held`, interpolated between the two candidates
    /// whose memory brackets it (clamped at the ends); `below` is set to the lower of the two.
    static double timers_cold_at(const std::array<double, kKeeps>& timer_held,
                                 const std::array<double, kKeeps>& timer_cold, double plans_held, int& below);
    /// The host hands a state over only to a plugin with the same schema, so a field added to the format is optional
    /// and last (the exchange price, 1.4.0): a text of 1.3.0 and before is read with it at 1. Records are added the
    /// same way: the successions' pairs (1.10.0) come after the model lines, and a text without them is read as
    /// before.
    static constexpr const char* kStateSchema = "org.warmup.state.cost-curve/2";

    /// Decayed sums over past idle gaps, one entry per candidate keep (see the header comment).
    struct Curves {
        std::array<float, kKeeps> cold{};
        std::array<float, kKeeps> held{};
        std::array<float, kKeeps> longer{};
        float gaps = 0;
    };

    static constexpr std::size_t kRecentGaps = 16;
    /// The ring of a model's latest idle gaps longer than the reference keep, each with the requests of the wake-up
    /// that ended it (pre-warm windows). Two arrays rather than one of {gap, burst} pairs: a pair would be padded to
    /// 16 bytes, so this saves 64 bytes a model (0.6 MiB at 10 k models).
    struct RecentGaps {
        std::array<int64_t, kRecentGaps> gap_ms{};
        std::array<float, kRecentGaps> burst{};
        uint8_t next = 0;   ///< where the next gap goes
        uint8_t count = 0;  ///< gaps held, at most kRecentGaps
        void push(int64_t gap, float wake_burst) {
            gap_ms[next] = gap;
            burst[next] = wake_burst;
            next = static_cast<uint8_t>((next + 1) % kRecentGaps);
            count = static_cast<uint8_t>(std::min<std::size_t>(count + 1u, kRecentGaps));
        }
        /// The slot of the i-th gap held, oldest first (i < count).
        [[nodiscard]] std::size_t oldest_first(std::size_t i) const {
            return (next + kRecentGaps - count + i) % kRecentGaps;
        }
        /// The burst of the newest gap (count > 0).
        float& newest_burst() { return burst[(next + kRecentGaps - 1) % kRecentGaps]; }
    };
    static constexpr std::size_t kDailyWakes = 8;
    /// The ring of the clock times (ms since 00:00 UTC) of a model's latest starts of day: wake-ups after an idle gap
    /// of kDailyWakeGapMs or more. Budget mode places its daily window on them.
    struct DailyWakes {
        std::array<int32_t, kDailyWakes> time_of_day_ms{};
        uint8_t next = 0;   ///< where the next one goes
        uint8_t count = 0;  ///< held, at most kDailyWakes
        void push(int32_t time_of_day) {
            time_of_day_ms[next] = time_of_day;
            next = static_cast<uint8_t>((next + 1) % kDailyWakes);
            count = static_cast<uint8_t>(std::min<std::size_t>(count + 1u, kDailyWakes));
        }
    };
    static constexpr std::size_t kWindows = 4;            ///< succession windows (kSuccessionWindowsMs)
    static constexpr std::size_t kLeadersPerModel = 4;    ///< candidate leaders a follower keeps
    static constexpr std::size_t kFollowersPerModel = 4;  ///< followers a leader's use may name
    static constexpr std::size_t kRecentUses = 16;        ///< the fleet's latest distinct uses (leader discovery)
    /// A candidate leader of a model, and what holding the model after the leader's uses would have done since the
    /// pair was formed, per succession window W: the requests of the model's wake-ups its own plans left cold that
    /// arrived from one load time to W after the leader's latest use (caught), and where the leader's totals stood
    /// when the pair was formed (what the pair would have held is the difference: see held_by_pair).
    struct Leader {
        warmup_model_index model = WARMUP_NO_MODEL;
        warmup_time_ms formed_ms = 0;
        double cold_wakes_at = 0;                    ///< the follower's cold_wakes when the pair was formed
        std::array<float, kWindows> caught{};        ///< requests caught
        std::array<float, kWindows> caught_wakes{};  ///< wake-ups caught (the evidence: one per coincidence)
        std::array<double, kWindows> tail_ms_at{};
        std::array<float, kWindows> tail_starts_at{};
    };
    /// A model's part in successions, for the models that have candidate leaders or a follower to name (most have
    /// none: kept out of ModelState, ~0.5 KB each).
    struct Pairs {
        std::array<Leader, kLeadersPerModel> leaders{};  ///< as a follower: its candidate leaders
        /// As a leader: the followers its use names (the pairs that paid when last scored).
        std::array<warmup_model_index, kFollowersPerModel> followers{WARMUP_NO_MODEL, WARMUP_NO_MODEL, WARMUP_NO_MODEL,
                                                                     WARMUP_NO_MODEL};
        uint32_t open_caught = 0;  ///< the pairs that caught the open wake-up: bit leader x kWindows + window
        double cold_wakes = 0;     ///< wake-ups the plans in force left cold since the entry exists
    };
    static constexpr uint32_t kNoPairs = UINT32_MAX;
    static constexpr std::size_t kMinWindowGaps = 3;
    static constexpr int64_t kMaxWindowMs = 2 * 3'600'000;

    struct ModelState {
        warmup_time_ms last_seen_ms = WARMUP_TIME_NEVER;
        uint64_t request_count = 0;
        Curves curves;
        float short_gaps = 0;  ///< gaps < min_keep_ms, decayed with the long ones (their share, for p_use)
        /// Arrivals since the first use while it has no idle gap of its own (it is planned again at powers of 2).
        uint32_t busy_arrivals = 0;
        // The open wake-up: the gap that ended at the wake (-1 for the first use), its burst so far, and the plan
        // that was in force during the gap (to score the model's own cold requests and memory).
        int64_t open_gap_ms = -1;
        float open_gap_spread = 0;  ///< the spread the open gap was learned with
        warmup_time_ms burst_end_ms = WARMUP_TIME_NEVER;
        double burst_requests = 0;
        Plan plan_during_gap;
        double reference_cold_requests = 0;  ///< requests the reference keep-alive would have left cold
        RecentGaps recent;                   ///< the latest long gaps (pre-warm windows)
        DailyWakes daily;                    ///< the latest starts of day (budget's daily window)
        bool plan_stale = true;
        Plan plan;
        double first_burst = 0;      ///< requests of the first wake-up (compulsory cold)
        double recent_requests = 0;  ///< requests after the first wake-up, decayed per gap like the curves
        int floor_keep = 0;          ///< index of the shortest keep allowed (fairness floor; 0 = none)
        // The fairness guard's whole-history counts, since this instance first saw the model (not decayed, not in the
        // state text): the requests, the requests the plans in force left cold (first load excluded), and what each
        // candidate keep-alive would have left cold on the same gaps (with gap_spread, on the spread gaps).
        double lifetime_requests = 0;
        double lifetime_plans_cold = 0;
        std::array<float, kKeeps> lifetime_timer_cold{};
        // Successions. As a leader, over this instance's life per window W: the ms its uses' tails [use, use + W)
        // covered (a use ends the previous tail) and how many tails started (a use over W after the previous one).
        // Kept when the model's learned state is replaced (forgotten, imported): pairs are scored on their difference.
        std::array<double, kWindows> tail_ms{};
        std::array<float, kWindows> tail_starts{};
        uint32_t pairs = kNoPairs;  ///< its entry in pairs_, once it has a candidate leader or a follower to name
        /// Until when a leader's use asks for it to be ready, and when that hold's load is done.
        warmup_time_ms succession_until_ms = WARMUP_TIME_NEVER;
        warmup_time_ms succession_ready_ms = WARMUP_TIME_NEVER;
        bool open_own_cold = false;  ///< the open wake-up was left cold by the plan in force
        /// Wake-ups the plans in force left cold (saturating): a model looks for leaders from its second one, so a
        /// fleet of models woken once (back-filled, or seen a day) makes no pairs entry for each.
        uint8_t cold_wakes = 0;
        /// The open wake-up arrived while a succession had the model ready: none of its requests is cold under any
        /// keep, and its plan is scored as warm (the succession's memory is scored when it is asked for).
        bool open_covered = false;
        bool watched = false;    ///< has an entry in idle_watch_
        bool open_long = false;  ///< idle longer than the reference keep now (counted in open_long_gaps_)
    };

    ModelState& state_of(warmup_model_index model);
    /// Reads one model's fields of the state text (import_state and import_model_state share them).
    static void read_model_fields(sdk::StateTextReader& reader, ModelState& state, const std::string& whose);
    static void read_curves(sdk::StateTextReader& reader, Curves& curves);
    /// The writers of read_model_fields and read_curves: one model's line after its index (newline included), and
    /// the curves with a space before each number.
    static void append_model_fields(std::string& text, const ModelState& state);
    static void append_curves(std::string& text, const Curves& curves);
    /// One model's successions as read from the state text (a -2 record), before they join pairs_.
    struct ImportedPairs {
        warmup_model_index model = WARMUP_NO_MODEL;
        uint8_t cold_wakes = 0;
        Pairs pairs;
    };
    /// The successions' records of the state text (state_text.cpp): the writer of one model's record (nothing for an
    /// entry with no leader and no follower), its reader, and the entries made from what was read once every model
    /// line is in models_.
    void append_pairs(std::string& text, warmup_model_index model) const;
    void read_pairs(sdk::StateTextReader& reader, std::vector<ImportedPairs>& pending) const;
    void apply_imported_pairs(const std::vector<ImportedPairs>& pending);
    void learn(ModelState& state, const warmup_usage_pattern& pattern);
    void close_burst(ModelState& state, warmup_model_index model);
    /// What one idle gap of gap_ms adds to the curves per candidate keep, the gap spread over [-spread, +spread]
    /// doublings (a triangular kernel; spread 0: the gap exactly): the share of it longer than the keep (to scale its
    /// burst in cold, and in longer) and, if `held` is given, the memory-time the keep holds on it. Returns the share
    /// shorter than min_keep_ms (0 unless spread).
    double gap_profile(double gap_ms, double spread, std::array<float, kKeeps>& longer,
                       std::array<float, kKeeps>* held) const;
    /// The spread (doublings) of the next gap the model learns: gap_spread x sqrt(prior_gaps / (prior_gaps + its
    /// decayed count of gaps)), narrower as its own gaps outweigh the prior.
    [[nodiscard]] double spread_of(const ModelState& state) const;
    /// Adds one idle gap with its wake-up burst so far to the model's curves, the pool and (if long) the recent gaps.
    void add_gap(ModelState& state, int64_t gap_ms, double burst);
    /// Adds later requests of the open wake-up after `gap_ms` to what add_gap recorded.
    void add_burst_requests(ModelState& state, int64_t gap_ms, double requests);
    void seed_from_histogram(ModelState& state, const warmup_usage_pattern& pattern);
    void update_fairness_floors();
    /// The model's cold rate (its first load's share plus its recent gaps') if it were kept keeps_ms_[keep].
    [[nodiscard]] double cold_rate(const ModelState& state, int keep) const;
    /// The model's cold rate over its whole history under the plans it had (`keep` < 0) or under keep-alive
    /// keeps_ms_[keep]: its first load and the later cold requests over the requests this instance counted.
    [[nodiscard]] static double lifetime_cold_rate(const ModelState& state, int keep);
    bool keep_costs(const ModelState& state, warmup_model_index model, std::array<double, kKeeps>& cost) const;
    /// lambda: the price of holding `model` one ms, in requests (memory-scaled, with the lean controller's factor).
    [[nodiscard]] double price(warmup_model_index model) const;
    /// The configured price of holding one MiB of `model` one ms, in requests (before the multipliers): the same for
    /// every model with `price_load: fleet`. Looks the model up, which adds it to the fleet's mean the first time.
    [[nodiscard]] double base_price(warmup_model_index model) const;
    /// Counts the models that have been idle longer than the reference keep by now (see open_long_gaps_).
    void watch_idle(warmup_time_ms now_ms);
    void place_window(const ModelState& state, Plan& plan, double lambda, double load_ms) const;
    /// The clock time (ms since 00:00 UTC) by which the model should be ready (ready_margin_ms before the earliest
    /// of the span of kDailySpanMs that holds the most of its recent starts of day; the scheduler starts the load its
    /// own lead before), or -1 if that span holds fewer than kDailyMinWakes of them or under half.
    [[nodiscard]] int64_t daily_opening(const DailyWakes& daily) const;
    /// Whether starts of day are learned and used: objective budget with prewarm and daily_window. Otherwise none are
    /// kept (an imported text's are dropped), so the state text is 1.11.0's.
    [[nodiscard]] bool learns_starts_of_day() const noexcept {
        return config_.objective == CostCurvePredictorConfig::Objective::budget && config_.prewarm &&
               config_.daily_window;
    }
    /// How long before a window opens its pre-warm starts: the lead-time scheduler's (load time x 1.1 + 1 s) plus the
    /// ready margin (the memory a window's pre-warm holds is counted from then).
    [[nodiscard]] double prewarm_lead_ms(double load_ms) const {
        return load_ms * 1.1 + 1000 + static_cast<double>(config_.ready_margin_ms);
    }
    // Successions (succession.cpp).
    /// Uses of `model` up to seen_ms after its last one at previous_ms (NEVER: none known), the one before seen_ms at
    /// before_last_ms (NEVER or <= previous_ms: none in between): its tails, the fleet's recent uses, and the followers
    /// it names in successions_ (each one's succession_until_ms set) while their hold is still to come.
    void note_leader_use(warmup_model_index model, warmup_time_ms previous_ms, warmup_time_ms before_last_ms,
                         warmup_time_ms seen_ms);
    /// A wake-up of `model` at seen_ms after an idle gap of gap_ms with `burst` requests so far: if the plan in force
    /// left it cold, the pairs whose window caught it count it, and the latest recent use not yet a leader becomes one.
    void note_follower_wake(ModelState& state, warmup_model_index model, int64_t gap_ms, double burst,
                            warmup_time_ms seen_ms);
    /// A succession's hold of `model` for held_ms more (its load included) joins the memory the lean ceiling counts
    /// (scoring.cpp).
    void score_succession_hold(warmup_model_index model, double held_ms);
    /// Later requests of the open wake-up join the pairs that caught it (as requests; not as wake-ups).
    void add_caught_requests(ModelState& state, double requests);
    /// What the pair would have held (ms, loads included) since it was formed, in window w.
    [[nodiscard]] double held_by_pair(const Leader& leader, std::size_t w, double load_ms) const;
    /// A pair's score: the window to act in (-1: none passes the tests of succession.cpp) and the most any window
    /// saves (caught requests - price x held, in requests; may be negative).
    struct PairScore {
        int window = -1;
        double value = 0;
    };
    [[nodiscard]] PairScore score_pair(const Leader& leader, warmup_model_index follower) const;
    void compute_plan(ModelState& state, warmup_model_index model);
    /// P(gap > t) of the model (short and long gaps mixed, pool prior included), t in ms from the last use.
    [[nodiscard]] double survival(const ModelState& state, double t_ms) const;
    [[nodiscard]] double median_from(const ModelState& state, double idle_ms) const;
    [[nodiscard]] double model_load_ms(warmup_model_index model) const;
    [[nodiscard]] double model_memory_mb(warmup_model_index model) const;

    /// A model's catalog load time and memory (the configured defaults where the catalog has none).
    struct CatalogFigures {
        double load_ms = -1;  ///< < 0: not read yet
        double memory_mb = -1;
    };
    /// The figures of `model`, read from the host once per model: the host never changes a model's catalog entry while
    /// it runs (a catalog change takes effect at a restart), and the fairness refresh asks for every model's figures
    /// every 256 closed gaps (10 k calls through the host, each under the catalog's lock, at 10 k models). A model's
    /// first look-up (its first event, or an import of its state) also adds its load time to the fleet's mean
    /// (looked_up_*), where it stays while this instance runs, even if its state is forgotten later.
    const CatalogFigures& figures(warmup_model_index model) const;

    CostCurvePredictorConfig config_;
    std::array<double, kKeeps> keeps_ms_{};                ///< the candidate keep times
    sdk::ModelTable<ModelState> models_;                   ///< by model index, grows on demand without moving an entry
    mutable std::vector<CatalogFigures> catalog_figures_;  ///< by model index, filled by figures() (control thread)
    mutable std::size_t looked_up_models_ = 0;             ///< models in catalog_figures_ filled so far ...
    mutable double looked_up_load_ms_ = 0;                 ///< ... and the sum of their load times (ms)
    CatalogFigures unknown_figures_;                       ///< for an index outside the catalog: the defaults
    Curves pool_;                                          ///< the fleet's curves (sum over models, decayed per gap)
    double gap_decay_ = 1;                                 ///< per-gap decay of a model's curves
    double pool_decay_ = 1;                                ///< per-gap decay of the pool
    double lean_decay_ = 1;                                ///< per-gap decay of the lean controller's sums
    // Lean ceiling: decayed memory-time (MiB x ms) the plans held and the reference keep-alive would have held, and
    // the log of the price multiplier they steer (its integral part, and the whole: integral + proportional term).
    double lean_held_ = 0;
    double lean_reference_held_ = 0;
    double lean_integral_ = 0;
    double lean_log_price_ = 0;
    // The plans against the candidate keep-alive timers, on the gaps the plans were scored on (decayed like
    // lean_held_): the memory-time (MiB x ms) the plans held and the cold requests they left, and what each candidate
    // keep-alive would have held and left cold. The fairness floors' same-memory keep-alive is the first candidate
    // whose memory reaches the plans'; the exchange price reads the timers' curve at the plans' memory. Not in the
    // state text: all start again at an import, together.
    double plans_held_ = 0;
    double plans_cold_ = 0;
    /// Sum of memory-time x the configured price per MiB x ms of its model: divided by plans_held_, the configured
    /// price's mean weighted by memory-time held.
    double plans_base_price_held_ = 0;
    double scored_gaps_ = 0;
    std::array<double, kKeeps> timer_held_{};
    std::array<double, kKeeps> timer_cold_{};
    // The exchange price: the log of its multiplier of the price, moved a step per scored gap towards the target of
    // update_exchange_price(). In the state text.
    double exchange_log_price_ = 0;
    void update_exchange_price();
    /// The exchange price's log multiplier in effect: exchange_log_price_ where it is steered (lean, exchange_price
    /// on), else 0.
    [[nodiscard]] double exchange_log() const noexcept;
    /// Whether the exchange price is steered and applied: objective lean with exchange_price on.
    [[nodiscard]] bool exchange_steered() const noexcept;
    bool band_on_ = true;  ///< the band floor, switched off while the lean ceiling binds (update_fairness_floors)
    // Fairness floors, refreshed every kFairnessRefreshGaps closed gaps.
    struct Lift {
        double cost_per_ms;  ///< extra cost of the floor per ms of the model's idle history
        warmup_model_index model;
        int floor;
    };
    uint32_t gaps_since_fairness_ = 0;
    std::vector<double> rates_scratch_;
    std::vector<Lift> lifts_scratch_;
    // Open idle spells: the curves learn a gap only when it ends, so a fleet where models stop or fall asleep (the
    // evening, a retired model, the end of a trace) looks busier in them than it is. The models idle longer than the
    // reference keep right now are counted (a FIFO of last uses, swept on every predict: amortised O(1)), and each
    // keep is charged for the share of such spells, which would hold it to its end and save nothing.
    std::deque<std::pair<warmup_time_ms, warmup_model_index>> idle_watch_;
    double open_long_gaps_ = 0;
    // Start-up: in the fleet's first lean_reference_keep_ms only the gaps shorter than the time elapsed can have
    // closed, so the curves (the pool first of all, every young model's prior) know nothing of the longer ones, and
    // the plans made then would be short. Until startup_ends_ms_ every plan's keep is at least startup_floor_ (the
    // first candidate at or over startup_keep_ms; 0 = none). The period starts at the first predict; an imported
    // state or a model seeded with back-filled history ends it (they carry the long gaps).
    int startup_floor_ = 0;
    /// WARMUP_TIME_NEVER until the first predict sets it; the lowest time once the period is ended early.
    warmup_time_ms startup_ends_ms_ = WARMUP_TIME_NEVER;
    std::vector<Pairs> pairs_;  ///< successions' entries, by ModelState::pairs (never shrinks while the instance runs)
    /// The entry of `state` in pairs_, made on first use.
    Pairs& pairs_of(ModelState& state);
    /// Replaces a model's learned state by `fresh`, keeping what successions count over the instance's life (the
    /// leader's tails) and emptying its pairs (forgotten, imported or reset models start them again).
    void replace_model_state(ModelState& slot, ModelState fresh);
    /// The latest uses of the fleet's 16 most recently used models (time, model), newest first: where a follower's new
    /// leader is looked for.
    std::array<std::pair<warmup_time_ms, warmup_model_index>, kRecentUses> recent_uses_{};
    /// The followers the predict being served names (warmup_prediction.replan_models), valid until the next predict.
    std::vector<warmup_model_index> successions_;
    warmup_time_ms now_ms_ = 0;  ///< the time of the predict being served (plans made in it are made at this time)
    /// Whether a plan made now gets the start-up floor (none before the first predict: a model imported on its own).
    [[nodiscard]] bool starting_up() const noexcept {
        return startup_ends_ms_ != WARMUP_TIME_NEVER && now_ms_ < startup_ends_ms_;
    }
    /// Whether successions are learned and acted on: objective lean with succession on.
    [[nodiscard]] bool succession_learned() const noexcept {
        return config_.succession && config_.objective == CostCurvePredictorConfig::Objective::lean;
    }
    void end_startup() noexcept { startup_ends_ms_ = std::numeric_limits<warmup_time_ms>::min(); }
};

}  // namespace warmup::plugins
