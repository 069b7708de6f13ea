// plugins/resource/value/value_resource.hpp — resource plugin that evicts by predicted value per MiB: the ready
// model whose next use, predicted from its own idle-gap history, would avoid the fewest cold requests per MiB held.
//
// What it learns, from the calls every resource plugin receives (on_ready, on_used_requests, on_removed; the host calls
// on_used_requests for every usage event served warm and once when a load that requests waited for finishes, with the
// requests each served):
//  - per model, the survival curve of its idle gaps (the time from one use to the next): the decayed number of past
//    gaps, and of those at least L long for 4 log-spaced lengths L per doubling from 1 s (84 lengths, up to ~24 days).
//    A gap ends at the request that ends it; for a demand load that request arrived one load time before the load
//    finished (the host reports on_ready then the use at that instant). The counts forget with a half-life of
//    `memory_gaps` gaps and are shrunk towards the fleet's pooled curve by `prior_gaps` pseudo-gaps, so a model seen
//    twice is not judged on two numbers;
//  - per model, the cold cost of its next use: the uses are cut into windows of one load time, each opened by a use
//    outside the previous window, and a window's size is the requests a cold start at its first use would have made
//    wait. Measured only on windows that opened warm (a cold one reaches the policy as one use carrying all its
//    waiting requests, after the fact), decayed like the gaps and shrunk towards the fleet's mean. Counted in
//    requests since 1.6.0 (`burst_unit: requests`): one usage event can carry hundreds of a busy model's requests,
//    and a window counted in events made its cold start look as cheap as a lone request's; `burst_unit: uses` counts
//    each use once (1.5.0).
// Value of a ready model idle for t (ms since its last use), 1.5.0 (`value_score: density`):
//      P(next use within (t, t + H] | idle >= t) x expected burst x load_ms / memory_mb / residence
// i.e. the load time of the cold requests that keeping it over the horizon H is expected to avoid, per MiB and per
// unit of the memory-time it is expected to hold for them: residence = E[min(time to the next use, H) | idle >= t] / H,
// the survival curve's integral over the horizon (a hit density, as in LHD, Beckmann et al., NSDI 2018). Of two models
// equally likely to be used within H, the one used sooner is worth more: its memory is free again sooner.
// `value_score: probability` leaves the residence out (1.4.0). H is how long memory lasts under the current pressure:
// the geometric mean of the idle ages of the last ~64 models this policy evicted (at the first eviction, the oldest
// idle age among the ready models), or `horizon_ms` when set. The victim is the lowest value; ties go to the least
// recently used, then to the lower model index.
// The rule in force: one of three (LRU, value, Greedy-Dual), or four with `shadow_recency` (recency: the expected
// window x load time / MiB over the time idle), chosen by what each would have missed lately. A shadow cache per rule,
// of the same budget, sees every use, evicts by its rule, and counts the expected cold requests it would
// have missed; each pair of them keeps its own record of the difference (decayed, half-life `shadow_memory_misses` of
// the misses either of the two had). The policy starts on LRU (`shadow_start`) and takes another rule only once that
// rule's shadow is ahead of the one in force by more than `shadow_confidence` standard deviations of the difference,
// the spread counting `shadow_prior_misses` pseudo-misses of the fleet's mean wake-up (a lead of a handful of misses is
// noise: held out, such leads handed the cache to a rule that then did worse than LRU). Value alone misjudges a model
// whose rhythm changed until its history catches up (a once-a-day model turned busy), and it has little to go on in a
// short trace; Greedy-Dual (priority = clock + uses since loaded x load time / MiB, FaasCache's keep-alive) keeps
// small, frequently used models that neither recency nor one gap distribution per model favour. Whichever of the three
// fits the fleet's traffic takes over.
//
// Pre-warms (1.4.0, `prewarm_gate`): a pre-warm that does not fit evicts only when it is worth more than the models the
// rule in force would evict for it, by the cold requests each is expected to avoid over H (P(use within H) x expected
// burst x load time, summed over the victims: what is given up, whatever the memory-time); otherwise it is not allowed
// to evict (may_evict = 0): the host skips it, or lets it wait for unloads already running. A restore of the warm set
// is a pre-warm too, judged alike. A predictor's pre-warm window can be sharper than one survival curve, but a pre-warm
// that evicts a model more likely to be used costs a cold start to save one: held out, ungated pre-warms in a full
// budget evicted more than they saved on busy fleets. Threads: control thread only (SDK contract), no locks. Cost:
// on_ready / on_removed O(1); on_used O(1) for a gap under 1 s once one was seen, O(84) at most otherwise, plus
// O(models in the shadow) per shadow miss and eviction (a miss of a shadow is a cold start of its cache: rare next to
// uses); pick_victim O(ready models) with O(1) per model (32 survival reads for the residence; the value depends on the
// current time, so no ordered structure stays valid between calls; ready sets are hundreds of models at most on the
// evaluated workloads). Memory: ~0.13 KB per model index up to the largest seen, plus 8 bytes (and the vector's spare
// capacity) per grid length between its shortest and longest gap, plus per model index 9-13 bytes in the value and LRU
// shadows, 21-25 in Greedy-Dual's and 12 in the policy's own Greedy-Dual book. State extension
// `org.warmup.state.resource-value/1` (text): the learned curves, bursts, last uses and the horizon; the ready set is
// not state (the host reports it with on_ready after a swap), nor are the shadows (rebuilt from the uses that follow).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>
#include <warmup/sdk/plugin.hpp>

#include "common/memory_admission.hpp"

namespace warmup::plugins {

class ValueResource final : public sdk::Resource {
  public:
    ValueResource(sdk::Host host, sdk::Params& params);

    double effective_budget_mb(double configured_budget_mb) override;
    void admit(const warmup_admission_request& request, warmup_admission& out) override;
    void on_ready(warmup_model_index model, double memory_mb, double load_ms, warmup_time_ms now_ms) override;
    void on_used(warmup_model_index model, warmup_time_ms now_ms) override { on_used_requests(model, 1, now_ms); }
    void on_used_requests(warmup_model_index model, uint32_t requests, warmup_time_ms now_ms) override;
    void on_removed(warmup_model_index model, warmup_time_ms now_ms) override;
    warmup_model_index pick_victim(warmup_time_ms now_ms) override;

    [[nodiscard]] const char* state_schema() const override { return kStateSchema; }
    [[nodiscard]] std::string export_state() const override;
    /// The same text, in blocks of about 32 KiB (what the host calls for a snapshot).
    void export_state_to(const sdk::StateWriter& out) const override;
    void import_state(std::string_view data) override;

    /// Value of a ready model at now_ms, the key the value rule evicts by (cold-request load-ms avoided per MiB over
    /// the horizon, divided by the expected residence with value_score: density), NaN when not ready.
    [[nodiscard]] double value_of(warmup_model_index model, warmup_time_ms now_ms) const;
    /// P(next use within the horizon | idle since the last use) of a model (ready or not) at now_ms.
    [[nodiscard]] double p_use_within_horizon(warmup_model_index model, warmup_time_ms now_ms) const;
    /// The expected wake-up burst (requests) of a model: its own decayed mean shrunk towards the fleet's.
    [[nodiscard]] double expected_burst(warmup_model_index model) const;
    /// The horizon H (ms) in use; 0 before the first eviction when `horizon_ms` is not set.
    [[nodiscard]] double horizon_ms() const;
    /// The eviction rules: evict the lowest predicted value per MiB, the least recently used, the lowest Greedy-Dual
    /// priority, or the lowest recency value (the expected wake-up in load-ms per MiB over the time idle: LRU weighed
    /// by what the model's next cold start would cost).
    enum class Rule : uint8_t { value, lru, greedy_dual, recency };
    /// The eviction rule in force: `shadow_start` (LRU by default) until another rule's shadow has clearly missed
    /// fewer expected cold requests lately, then that rule until another is clearly ahead of it (see ShadowCache);
    /// always value with `shadow: false` or before the host has reported a budget (nothing for the shadows to compare).
    [[nodiscard]] Rule rule_in_force() const { return shadows_running() ? in_force_ : Rule::value; }
    /// The decayed expected cold requests the shadow cache of a rule has missed; 0 before any use, for Greedy-Dual
    /// with `shadow_greedy_dual: false` and for recency with `shadow_recency: false`.
    [[nodiscard]] double shadow_missed(Rule rule) const { return shadows_[index_of(rule)].missed; }
    /// The Greedy-Dual priority of a ready model in this policy's own cache (clock + uses since loaded x load ms /
    /// MiB), NaN when not ready.
    [[nodiscard]] double greedy_dual_priority(warmup_model_index model) const;

    static constexpr std::size_t kLengths = 84;  // gap lengths on the grid: 1 s x 2^(k/4), k < 84 (~24 days)
    static_assert(kLengths <= 256, "Survival::first holds a grid length in a uint8_t");
    static constexpr double kFirstLengthMs = 1000;  // the grid's first length
    static constexpr double kLengthsPerDoubling = 4;

  private:
    static constexpr const char* kStateSchema = "org.warmup.state.resource-value/1";
    static constexpr uint32_t kNotReady = UINT32_MAX;

    /// Decayed survival counts: count(k) = weight of the past gaps >= length k, in units of `scale` (the weight the
    /// next gap gets; it grows by 2^(1/half-life) per gap instead of every count decaying, so adding a gap is one pass
    /// over the lengths it covers). Kept sparse, the same numbers as a dense array of kLengths counts: every gap
    /// reaches the lengths up to the shortest gap's (their counts are all equal, `all`) and none reaches a length past
    /// the longest gap's (0 there), so only the lengths in between are stored. A model whose gaps span a few lengths
    /// costs tens of bytes instead of 84 counts (10 k models: README.md, "Memory").
    struct Survival {
        double all = 0;             // the count at lengths 0 .. first (every gap reaches them)
        std::vector<double> reach;  // reach[i]: the count at length first + 1 + i; 0 past the end
        double scale = 1;
        uint8_t first = 0;
        /// The last grid length a gap of gap_ms reaches (0 below the first length).
        [[nodiscard]] static uint8_t longest_length_reached(double gap_ms);
        /// Counts one gap that reaches the grid lengths 0 .. last (longest_length_reached).
        void add(uint8_t last, double growth);
        /// The count at grid length k (< kLengths), in units of `scale`.
        [[nodiscard]] double count(std::size_t k) const {
            if (k <= first) return all;
            const std::size_t i = k - first - 1;
            return i < reach.size() ? reach[i] : 0.0;
        }
        /// Decayed count of gaps >= t (linear between grid lengths, the first length's count below it).
        [[nodiscard]] double at(double t_ms) const;
        [[nodiscard]] double total() const { return all / scale; }
        /// Replaces the counts by `counts` (non-increasing, in units of a scale of 1).
        void assign(const std::array<double, kLengths>& counts);
    };

    struct Model {
        Survival gaps;
        double burst_sum = 0;     // decayed sum of warm wake-up bursts (requests)
        double burst_weight = 0;  // decayed number of them
        warmup_time_ms last_used_ms = WARMUP_TIME_NEVER;
        warmup_time_ms ready_since_ms = 0;
        double cost_ms = 0;  // load time (ms)
        double size_mb = 1;  // memory (MiB, at least 1)
        uint32_t ready_position = kNotReady;
        bool awaiting_first_use = false;  // ready, and on_used not called since
        bool burst_open = false;          // a load-time window is being counted
        bool burst_warm = false;          // it opened with the model ready
        warmup_time_ms burst_start_ms = 0;
        double burst_count = 0;
    };

    /// Greedy-Dual's bookkeeping for one cache: per model index, the uses since it entered the cache and its priority
    /// (clock + uses x load ms / MiB at its last use); the clock rises to the priority of each model it evicts.
    struct GreedyDualBook {
        std::vector<double> priority;
        std::vector<uint32_t> uses;
        double clock = 0;
        /// The model entered the cache: its first use (the load, or the request that caused it).
        void entered(warmup_model_index model, const Model& entry) { price(model, entry, 1); }
        /// One more use of a model in the cache.
        void used(warmup_model_index model, const Model& entry) { price(model, entry, uses[model] + 1); }
        /// The same uses priced again at the current clock and the model's current cost and size (a reload).
        void repriced(warmup_model_index model, const Model& entry) { price(model, entry, uses[model]); }
        void evicted(warmup_model_index model) { clock = std::max(clock, priority[model]); }  // its own victim
        void price(warmup_model_index model, const Model& entry, uint32_t use_count);
    };

    /// A cache of the same budget fed the same uses, that evicts by one rule only, and counts what that rule would have
    /// left cold: a use of a model it does not hold is a miss, worth the model's expected wake-up burst (requests), and
    /// the model is taken in, evicting by the rule until it fits. Loads are taken as instant, and the budget is the
    /// effective one. Misses forget with a half-life of `shadow_memory_misses` misses of any shadow. Not state: rebuilt
    /// from the uses after a swap or restart.
    struct ShadowCache {
        Rule rule = Rule::value;
        std::vector<uint8_t> resident;            // by model index
        std::vector<float> charged_mb;            // by model index: the size charged when taken in
        std::vector<warmup_model_index> members;  // in no particular order
        std::vector<uint32_t> position;           // by model index: where in `members`
        GreedyDualBook greedy_dual;               // kept by the Greedy-Dual shadow only
        double used_mb = 0;
        double missed = 0;
    };
    static constexpr std::size_t kRules = 4;
    static constexpr std::size_t index_of(Rule rule) { return static_cast<std::size_t>(rule); }
    [[nodiscard]] bool shadows_running() const { return shadow_enabled_ && budget_mb_ > 0; }
    /// Whether the shadow of `rule` runs (Greedy-Dual's only with `shadow_greedy_dual`, recency's with
    /// `shadow_recency`).
    [[nodiscard]] bool runs(Rule rule) const {
        return rule == Rule::greedy_dual ? shadow_greedy_dual_ : rule == Rule::recency ? shadow_recency_ : true;
    }
    /// Whether a pre-warm that does not fit is worth more than the ready models the rule in force would evict for it
    /// (each valued by the cold-request load-ms it is expected to avoid over the horizon); false stops it evicting
    /// (admit's may_evict = 0). True for a model never used (nothing to weigh). The victims are taken in victim_by's
    /// order at this instant: under the value rule with a learned horizon the host's own picks after the first may
    /// differ a little (each eviction moves H). O(ready models + victims x log ready models), only for a pre-warm that
    /// needs room.
    [[nodiscard]] bool worth_its_evictions(const warmup_admission_request& request) const;
    /// Feeds one use to a shadow cache; true when it was a miss.
    bool shadow_use(ShadowCache& shadow, warmup_model_index model, warmup_time_ms now_ms);
    /// Counts one use's misses and lets a rule whose shadow is clearly ahead of the one in force take over.
    void judge_shadows(const std::array<bool, kRules>& missed, warmup_model_index model);
    /// The rule's key of a ready model idle for `idle` ms (the lowest goes first): its value per MiB over `horizon`,
    /// 0 under LRU, its priority in `book` under Greedy-Dual, its expected wake-up load-ms per MiB over its idle time
    /// (at least 1 s) under recency.
    [[nodiscard]] double eviction_key(Rule rule, warmup_model_index model, double idle, double horizon,
                                      double fleet_mean, const GreedyDualBook& book) const;
    /// The victim among `candidates` by the rule: the lowest value, the least recently used, or the lowest priority in
    /// `book` (ties: the longest idle, then the lower index). `skip` is never chosen.
    [[nodiscard]] warmup_model_index victim_by(Rule rule, const std::vector<warmup_model_index>& candidates,
                                               warmup_time_ms now_ms, warmup_model_index skip,
                                               const GreedyDualBook& book) const;

    Model& model_at(warmup_model_index model);
    void close_burst(Model& entry);
    [[nodiscard]] double p_use(const Model& entry, double idle_ms, double horizon) const;
    [[nodiscard]] double idle_ms(const Model& entry, warmup_time_ms now_ms) const;
    /// The model's mean window size shrunk towards `fleet_mean` by prior_gaps pseudo-windows.
    [[nodiscard]] double burst_of(const Model& entry, double fleet_mean) const;
    /// E[min(time to the next use, H) | idle >= idle] / H, in [1/16, 1]; 1 without evidence of a next use.
    [[nodiscard]] double expected_residence(const Model& entry, double idle, double horizon) const;
    /// The fleet's mean warm wake-up (requests), 1 before any was measured.
    [[nodiscard]] double fleet_mean_burst() const;
    [[nodiscard]] double horizon_for_pick(warmup_time_ms now_ms) const;

    resource::MemoryAdmission admission_;
    double fixed_horizon_ms_ = 0;  // 0 = learned from the evictions
    double prior_gaps_ = 4;
    double gap_growth_ = 1;    // 2^(1/memory_gaps)
    double burst_decay_ = 1;   // 2^(-1/memory_gaps)
    double fleet_growth_ = 1;  // 2^(1/fleet_memory_gaps)
    double fleet_decay_ = 1;

    std::vector<Model> models_;              // indexed by model index
    std::vector<warmup_model_index> ready_;  // the ready models, in no particular order
    Survival fleet_gaps_;                    // every model's gaps, pooled
    double fleet_burst_sum_ = 0, fleet_burst_weight_ = 0;
    double log_horizon_ms_ = 0;  // mean of log(victim idle age), over `horizon_count_` evictions (capped window)
    double horizon_count_ = 0;
    warmup_model_index last_picked_victim_ = WARMUP_NO_MODEL;
    bool shadow_enabled_ = true;
    bool density_score_ = true;   // value_score: density (1.5.0); false = probability, 1.4.0's key
    bool count_requests_ = true;  // burst_unit: requests (1.6.0); false = uses, each event once (1.5.0)
    bool prewarm_gate_ = true;    // a pre-warm evicts only models worth less than it (admit)
    double shadow_decay_ = 1;     // 2^(-1/shadow_memory_misses)
    double shadow_confidence_ = 1;
    double shadow_prior_misses_ = 8;
    bool shadow_greedy_dual_ = true;  // whether Greedy-Dual's shadow runs (false: LRU and value only, 1.2.0)
    bool shadow_recency_ = false;     // whether recency's shadow runs
    double budget_mb_ = 0;            // the effective budget last returned to the host (0: unknown, shadows off)
    std::array<ShadowCache, kRules> shadows_;  // by index_of(rule)
    Rule in_force_ = Rule::lru;                // the rule in force once the shadows run (see rule_in_force)
    /// What two shadows' misses say of their rules, decayed by `shadow_memory_misses` at every use that either of the
    /// two missed (so a third shadow's misses do not age it): the lead of the second rule over the first (the first's
    /// missed bursts minus the second's) and the spread (the sum of squared bursts of the misses only one of them had).
    struct PairRecord {
        double lead = 0;
        double spread = 0;
    };
    /// pairs_[a][b], a < b: the record of rules a and b (the lead is b's over a); every pair, so that any rule can be
    /// weighed against the one in force.
    std::array<std::array<PairRecord, kRules>, kRules> pairs_{};
    double victim_clock_ = 0;     // the lowest Greedy-Dual priority in the cache when the last victim was picked
    GreedyDualBook greedy_dual_;  // this policy's own cache (the ready models), kept whatever rule is in force
};

}  // namespace warmup::plugins
