// plugins/resource/value/value_resource.cpp — eviction by predicted cold-request value per MiB (see the
// header for the model and its guarantees).
#include "value_resource.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <warmup/sdk/state_text.hpp>

namespace warmup::plugins {
namespace {

// Victim ages averaged (in log) for the horizon: enough to smooth one odd eviction, few enough to follow the load.
constexpr double kHorizonWindow = 64;
// Points of the expected residence's integral over the horizon (value_score: density): enough that a gap length
// anywhere in the horizon moves it, few enough that pick_victim stays cheap (two survival reads per point and model).
// Set before any measurement; 64 were measured too and are not better (docs/evaluation.md, "Value per memory-time
// held (value 1.5.0)").
constexpr int kResidencePoints = 16;
// The counts are rescaled when the growing scale gets this large (far from double's range, exact ratios kept).
constexpr double kRescaleAt = 1e100;

[[noreturn]] void bad_state(const std::string& why) {
    throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT,
                     std::string("resource-value state import refused: ") + why + " (state left unchanged)");
}

/// Position of t on the grid (0 at the first length, 4 per doubling); negative below the first length.
double grid_position(double t_ms) {
    return t_ms > 0 ? ValueResource::kLengthsPerDoubling * std::log2(t_ms / ValueResource::kFirstLengthMs) : -1.0;
}

}  // namespace

uint8_t ValueResource::Survival::longest_length_reached(double gap_ms) {
    const double position = grid_position(gap_ms);
    return static_cast<uint8_t>(position >= 0 ? std::min<std::size_t>(kLengths - 1, static_cast<std::size_t>(position))
                                              : 0);
}

void ValueResource::Survival::add(uint8_t last, double growth) {
    // Every gap counts at length 0 (the first count is of all gaps); those of 1 s or more also at the lengths they
    // reach, up to `last`.
    if (all == 0) {
        first = last;  // the first gap: it alone reaches every length up to its own
    } else if (last < first) {
        // A gap shorter than every one before: the lengths between it and the old shortest keep the count of all
        // the gaps before it, stored now since this one does not reach them.
        reach.insert(reach.begin(), first - last, all);
        first = last;
    }
    if (last > first) {
        const std::size_t reached = last - first;
        if (reach.size() < reached) reach.resize(reached, 0.0);
        for (std::size_t i = 0; i < reached; ++i) reach[i] += scale;
    }
    all += scale;
    scale *= growth;
    if (scale > kRescaleAt) {
        all /= scale;
        for (double& count : reach) count /= scale;
        scale = 1;
    }
}

double ValueResource::Survival::at(double t_ms) const {
    const double position = grid_position(t_ms);
    if (position <= 0) return all / scale;
    const auto k = static_cast<std::size_t>(position);
    if (k >= kLengths - 1) return count(kLengths - 1) / scale;
    const double fraction = position - static_cast<double>(k);
    return (count(k) * (1 - fraction) + count(k + 1) * fraction) / scale;
}

void ValueResource::Survival::assign(const std::array<double, kLengths>& counts) {
    all = counts[0];
    std::size_t shortest = 0;
    while (shortest + 1 < kLengths && counts[shortest + 1] == all) ++shortest;
    std::size_t end = kLengths;
    while (end > shortest + 1 && counts[end - 1] == 0) --end;
    first = static_cast<uint8_t>(shortest);
    reach.assign(counts.begin() + static_cast<std::ptrdiff_t>(shortest + 1),
                 counts.begin() + static_cast<std::ptrdiff_t>(end));
    scale = 1;
}

ValueResource::ValueResource(sdk::Host host, sdk::Params& params) : sdk::Resource(host), admission_(params) {
    fixed_horizon_ms_ = params.get_double("horizon_ms", 0.0, 0.0, 1e12);
    prior_gaps_ = params.get_double("prior_gaps", 4.0, 0.0, 1e6);
    const double memory_gaps = params.get_double("memory_gaps", 200.0, 1.0, 1e9);
    const double fleet_memory_gaps = params.get_double("fleet_memory_gaps", 10000.0, 1.0, 1e12);
    gap_growth_ = std::exp2(1.0 / memory_gaps);
    burst_decay_ = 1.0 / gap_growth_;
    fleet_growth_ = std::exp2(1.0 / fleet_memory_gaps);
    fleet_decay_ = 1.0 / fleet_growth_;
    shadow_enabled_ = params.get_bool("shadow", true);
    prewarm_gate_ = params.get_bool("prewarm_gate", true);
    density_score_ = params.get_choice("value_score", "density", {"density", "probability"}) == "density";
    shadow_greedy_dual_ = params.get_bool("shadow_greedy_dual", true);
    shadow_recency_ = params.get_bool("shadow_recency", false);
    count_requests_ = params.get_choice("burst_unit", "requests", {"requests", "uses"}) == "requests";
    shadow_decay_ = std::exp2(-1.0 / params.get_double("shadow_memory_misses", 200.0, 1.0, 1e9));
    shadow_confidence_ = params.get_double("shadow_confidence", 1.0, 0.0, 1e6);
    shadow_prior_misses_ = params.get_double("shadow_prior_misses", 8.0, 0.0, 1e6);
    const std::string start = params.get_choice("shadow_start", "lru", {"lru", "value", "greedy-dual"});
    in_force_ = start == "lru" ? Rule::lru : start == "value" ? Rule::value : Rule::greedy_dual;
    if (in_force_ == Rule::greedy_dual && !shadow_greedy_dual_)
        throw sdk::InvalidArgument("params.shadow_start: greedy-dual needs its shadow (shadow_greedy_dual: true)");
    for (const Rule rule : {Rule::value, Rule::lru, Rule::greedy_dual, Rule::recency})
        shadows_[index_of(rule)].rule = rule;
}

void ValueResource::GreedyDualBook::price(warmup_model_index model, const Model& entry, uint32_t use_count) {
    if (model >= priority.size()) {
        priority.resize(static_cast<std::size_t>(model) + 1);
        uses.resize(static_cast<std::size_t>(model) + 1);
    }
    uses[model] = use_count;
    priority[model] = clock + static_cast<double>(use_count) * entry.cost_ms / entry.size_mb;
}

double ValueResource::greedy_dual_priority(warmup_model_index model) const {
    if (model >= models_.size() || models_[model].ready_position == kNotReady)
        return std::numeric_limits<double>::quiet_NaN();
    return greedy_dual_.priority[model];
}

double ValueResource::effective_budget_mb(double configured_budget_mb) {
    budget_mb_ = admission_.effective_budget_mb(configured_budget_mb);
    return budget_mb_;
}

void ValueResource::admit(const warmup_admission_request& request, warmup_admission& out) {
    admission_.admit(request, out);
    if (!prewarm_gate_ || request.is_demand != 0 || out.admit == 0 || out.may_evict == 0) return;
    if (request.used_mb + request.memory_mb <= request.budget_mb + 1e-9) return;  // it fits: nothing is evicted
    if (!worth_its_evictions(request)) out.may_evict = 0;
}

bool ValueResource::worth_its_evictions(const warmup_admission_request& request) const {
    // A model never used has no value to weigh: the shared admission rule decides alone.
    if (request.model >= models_.size()) return true;
    const Model& wanted = models_[request.model];
    if (wanted.last_used_ms == WARMUP_TIME_NEVER && wanted.gaps.all == 0) return true;
    // Both sides in the value's own unit, summed over models: the load-ms of cold requests each is expected to avoid
    // over the horizon if it stays (p_use x expected burst x load time). The victims are the ones the host would
    // evict: the rule in force's, in its order (victim_by's), until the pre-warm fits.
    const warmup_time_ms now_ms = request.now_ms;
    const double horizon = horizon_for_pick(now_ms);
    const double fleet_mean = fleet_mean_burst();
    const auto worth = [&](const Model& entry, double cost_ms) {
        return p_use(entry, idle_ms(entry, now_ms), horizon) * burst_of(entry, fleet_mean) * cost_ms;
    };
    double cost_ms = wanted.cost_ms;  // 0 until it was first loaded: the catalog's declared load time then
    if (!(cost_ms > 0)) {
        const auto info = host().model_info(request.model);
        cost_ms = info ? std::max(0.0, info->load_ms) : 0.0;
    }
    const double value = worth(wanted, cost_ms);

    // One pass over the ready models, then a heap in the rule's order: O(ready + victims x log ready).
    struct Candidate {
        double key;  // the rule's: value per MiB, 0 under LRU, Greedy-Dual's priority, recency's value per idle ms
        double idle_ms;
        warmup_model_index model;
    };
    const Rule rule = rule_in_force();
    std::vector<Candidate> heap;
    heap.reserve(ready_.size());
    for (const warmup_model_index model : ready_) {
        if (model == request.model) continue;
        const Model& entry = models_[model];
        const double idle = idle_ms(entry, now_ms);
        heap.push_back({eviction_key(rule, model, idle, horizon, fleet_mean, greedy_dual_), idle, model});
    }
    // std heaps put the largest first: "larger" here is the one victim_by picks first.
    const auto later_victim = [](const Candidate& a, const Candidate& b) {
        if (a.key != b.key) return a.key > b.key;
        if (a.idle_ms != b.idle_ms) return a.idle_ms < b.idle_ms;
        return a.model > b.model;
    };
    std::make_heap(heap.begin(), heap.end(), later_victim);
    double short_mb = request.used_mb + request.memory_mb - request.budget_mb;
    double victims_value = 0;
    while (short_mb > 1e-9 && !heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), later_victim);
        const Model& entry = models_[heap.back().model];
        heap.pop_back();
        victims_value += worth(entry, entry.cost_ms);
        if (victims_value >= value) return false;
        short_mb -= entry.size_mb;
    }
    return value > victims_value;
}

ValueResource::Model& ValueResource::model_at(warmup_model_index model) {
    if (model >= models_.size()) models_.resize(static_cast<std::size_t>(model) + 1);
    return models_[model];
}

void ValueResource::on_ready(warmup_model_index model, double memory_mb, double load_ms, warmup_time_ms now_ms) {
    if (model == WARMUP_NO_MODEL) return;
    Model& entry = model_at(model);
    // The host reports the measured load time; when it has none (0) fall back to the catalog's declared one.
    double cost_ms = load_ms;
    if (!(cost_ms > 0)) {
        const auto info = host().model_info(model);
        cost_ms = info ? std::max(0.0, info->load_ms) : 0.0;
    }
    entry.cost_ms = cost_ms;
    entry.size_mb = memory_mb >= 1.0 ? memory_mb : 1.0;  // a model declared with no memory counts as 1 MiB
    if (entry.ready_position == kNotReady) {
        ready_.push_back(model);
        entry.ready_position = static_cast<uint32_t>(ready_.size() - 1);
        entry.ready_since_ms = now_ms;
        entry.awaiting_first_use = true;
        // The load counts as Greedy-Dual's first use (the request, or predicted request, that caused it); the
        // demand load's on_used that follows adds the second, as the greedy-dual plugin counts it.
        greedy_dual_.entered(model, entry);
    } else {
        greedy_dual_.repriced(model, entry);  // reported ready again while ready (a reload): new cost and size
    }
}

void ValueResource::close_burst(Model& entry) {
    if (!entry.burst_open) return;
    entry.burst_open = false;
    if (!entry.burst_warm) return;  // a cold wake-up's waiting requests reached us as one use: not a measurement
    entry.burst_sum = entry.burst_sum * burst_decay_ + entry.burst_count;
    entry.burst_weight = entry.burst_weight * burst_decay_ + 1;
    fleet_burst_sum_ = fleet_burst_sum_ * fleet_decay_ + entry.burst_count;
    fleet_burst_weight_ = fleet_burst_weight_ * fleet_decay_ + 1;
}

void ValueResource::on_used_requests(warmup_model_index model, uint32_t requests, warmup_time_ms now_ms) {
    if (!count_requests_) requests = 1;
    if (model >= models_.size() || models_[model].ready_position == kNotReady) return;
    if (shadows_running()) {
        // Every shadow sees the use before it is learned: the evictions it causes are judged on what was known.
        std::array<bool, kRules> missed{};
        for (ShadowCache& shadow : shadows_) {
            if (!runs(shadow.rule)) continue;
            missed[index_of(shadow.rule)] = shadow_use(shadow, model, now_ms);
        }
        if (std::find(missed.begin(), missed.end(), true) != missed.end()) judge_shadows(missed, model);
    }
    greedy_dual_.used(model, models_[model]);
    Model& entry = models_[model];
    // A demand load reports on_ready then on_used at the same instant: its first request arrived one load earlier.
    const bool cold = entry.awaiting_first_use && now_ms == entry.ready_since_ms;
    entry.awaiting_first_use = false;
    const double arrival_ms = static_cast<double>(now_ms) - (cold ? entry.cost_ms : 0.0);
    if (entry.last_used_ms != WARMUP_TIME_NEVER) {
        const double gap_ms = std::max(0.0, arrival_ms - static_cast<double>(entry.last_used_ms));
        // One logarithm for both curves: the gap reaches the same grid lengths in each.
        const uint8_t last = Survival::longest_length_reached(gap_ms);
        entry.gaps.add(last, gap_growth_);
        fleet_gaps_.add(last, fleet_growth_);
    }
    // The uses are cut into windows of one load time, each opened by a use outside the previous one: a window holds
    // the requests that would wait if the model were cold at its first use.
    if (entry.burst_open && arrival_ms <= static_cast<double>(entry.burst_start_ms) + entry.cost_ms) {
        entry.burst_count += requests;
    } else {
        close_burst(entry);
        entry.burst_open = true;
        entry.burst_warm = !cold;
        entry.burst_start_ms = static_cast<warmup_time_ms>(arrival_ms);
        entry.burst_count = requests;
    }
    entry.last_used_ms = std::max(entry.last_used_ms == WARMUP_TIME_NEVER ? now_ms : entry.last_used_ms, now_ms);
}

void ValueResource::judge_shadows(const std::array<bool, kRules>& missed, warmup_model_index model) {
    const double burst = expected_burst(model);
    for (ShadowCache& shadow : shadows_)
        shadow.missed = shadow.missed * shadow_decay_ + (missed[index_of(shadow.rule)] ? burst : 0.0);
    for (std::size_t first = 0; first < kRules; ++first) {
        if (!runs(shadows_[first].rule)) continue;  // a shadow off has no record
        for (std::size_t second = first + 1; second < kRules; ++second) {
            if (!missed[first] && !missed[second]) continue;
            if (!runs(shadows_[second].rule)) continue;
            PairRecord& pair = pairs_[first][second];
            pair.lead = pair.lead * shadow_decay_ + (missed[first] ? burst : 0.0) - (missed[second] ? burst : 0.0);
            pair.spread = pair.spread * shadow_decay_ + (missed[first] != missed[second] ? burst * burst : 0.0);
        }
    }
    // A rule takes over only once its shadow is clearly ahead of the one in force: a shadow ignores load times and
    // concurrency, so a lead within `shadow_confidence` standard deviations of the difference (the misses only one of
    // the two shadows had, each a burst of either sign) is noise more often than not, and the rule in force stays.
    // Of two rules clearly ahead, the one further ahead takes over.
    const std::size_t current = index_of(in_force_);
    std::size_t chosen = current;
    double chosen_lead = 0;
    const double prior_spread = shadow_prior_misses_ * fleet_mean_burst() * fleet_mean_burst();
    for (std::size_t rule = 0; rule < kRules; ++rule) {
        if (rule == current || !runs(shadows_[rule].rule)) continue;
        // The pair holding both rules, and the rule's lead over the one in force in it.
        const bool rule_first = rule < current;
        const PairRecord& pair = rule_first ? pairs_[rule][current] : pairs_[current][rule];
        const double lead = rule_first ? -pair.lead : pair.lead;
        if (lead > shadow_confidence_ * std::sqrt(pair.spread + prior_spread) && lead > chosen_lead) {
            chosen = rule;
            chosen_lead = lead;
        }
    }
    in_force_ = shadows_[chosen].rule;
}

void ValueResource::on_removed(warmup_model_index model, warmup_time_ms now_ms) {
    if (model >= models_.size() || models_[model].ready_position == kNotReady) return;
    Model& entry = models_[model];
    if (model == last_picked_victim_) {
        greedy_dual_.clock = std::max(greedy_dual_.clock, victim_clock_);
        // How long this victim had lasted idle: the horizon over which memory is worth anything right now.
        const double age_ms = std::max(idle_ms(entry, now_ms), kFirstLengthMs);
        horizon_count_ = std::min(horizon_count_ + 1, kHorizonWindow);
        log_horizon_ms_ += (std::log(age_ms) - log_horizon_ms_) / horizon_count_;
        last_picked_victim_ = WARMUP_NO_MODEL;
    }
    close_burst(entry);
    const uint32_t position = entry.ready_position;
    const warmup_model_index last = ready_.back();
    ready_[position] = last;
    models_[last].ready_position = position;
    ready_.pop_back();
    entry.ready_position = kNotReady;
    entry.awaiting_first_use = false;
}

double ValueResource::idle_ms(const Model& entry, warmup_time_ms now_ms) const {
    // Idle since the last use, even across a reload without use (a pre-warm does not change when the next request
    // comes); since the load when the model was never used.
    const warmup_time_ms since = entry.last_used_ms == WARMUP_TIME_NEVER ? entry.ready_since_ms : entry.last_used_ms;
    return now_ms > since ? static_cast<double>(now_ms - since) : 0.0;
}

double ValueResource::p_use(const Model& entry, double idle, double horizon) const {
    const double fleet_total = fleet_gaps_.total();
    const double fleet_now = fleet_total > 0 ? fleet_gaps_.at(idle) / fleet_total : 0.0;
    const double fleet_later = fleet_total > 0 ? fleet_gaps_.at(idle + horizon) / fleet_total : 0.0;
    const double own_now = entry.gaps.at(idle);
    const double own_later = entry.gaps.at(idle + horizon);
    const double at_risk = own_now + prior_gaps_ * fleet_now;
    if (!(at_risk > 1e-12)) return 0.0;  // idle longer than any gap seen anywhere: no evidence it comes back
    return std::clamp((own_now - own_later + prior_gaps_ * (fleet_now - fleet_later)) / at_risk, 0.0, 1.0);
}

double ValueResource::expected_burst(warmup_model_index model) const {
    const double fleet_mean = fleet_mean_burst();
    if (model >= models_.size()) return fleet_mean;
    return burst_of(models_[model], fleet_mean);
}

double ValueResource::fleet_mean_burst() const {
    return fleet_burst_weight_ > 0 ? fleet_burst_sum_ / fleet_burst_weight_ : 1.0;
}

double ValueResource::burst_of(const Model& entry, double fleet_mean) const {
    const double weight = entry.burst_weight + prior_gaps_;
    return weight > 0 ? (entry.burst_sum + prior_gaps_ * fleet_mean) / weight : fleet_mean;
}

double ValueResource::horizon_ms() const {
    if (fixed_horizon_ms_ > 0) return fixed_horizon_ms_;
    return horizon_count_ > 0 ? std::exp(log_horizon_ms_) : 0.0;
}

double ValueResource::horizon_for_pick(warmup_time_ms now_ms) const {
    const double learned = horizon_ms();
    if (learned > 0) return learned;
    // No eviction yet: the oldest idle age among the ready models is how long memory has lasted so far.
    double oldest = kFirstLengthMs;
    for (const warmup_model_index model : ready_) oldest = std::max(oldest, idle_ms(models_[model], now_ms));
    return oldest;
}

double ValueResource::p_use_within_horizon(warmup_model_index model, warmup_time_ms now_ms) const {
    if (model >= models_.size()) return 0.0;
    return p_use(models_[model], idle_ms(models_[model], now_ms), horizon_for_pick(now_ms));
}

double ValueResource::value_of(warmup_model_index model, warmup_time_ms now_ms) const {
    if (model >= models_.size() || models_[model].ready_position == kNotReady)
        return std::numeric_limits<double>::quiet_NaN();
    const Model& entry = models_[model];
    return eviction_key(Rule::value, model, idle_ms(entry, now_ms), horizon_for_pick(now_ms), fleet_mean_burst(),
                        greedy_dual_);
}

double ValueResource::eviction_key(Rule rule, warmup_model_index model, double idle, double horizon, double fleet_mean,
                                   const GreedyDualBook& book) const {
    if (rule == Rule::greedy_dual) return book.priority[model];
    if (rule == Rule::lru) return 0.0;  // all equal: the longest idle goes first
    const Model& entry = models_[model];
    if (rule == Rule::recency)
        return burst_of(entry, fleet_mean) * entry.cost_ms / entry.size_mb / std::max(idle, kFirstLengthMs);
    const double per_mib = p_use(entry, idle, horizon) * burst_of(entry, fleet_mean) * entry.cost_ms / entry.size_mb;
    // Per unit of the memory-time it is expected to hold (value_score: density): of two models equally likely to be
    // used within H, the one used sooner frees its memory sooner for the next model.
    return density_score_ ? per_mib / expected_residence(entry, idle, horizon) : per_mib;
}

double ValueResource::expected_residence(const Model& entry, double idle, double horizon) const {
    // E[min(time to the next use, H) | idle >= t] / H: the share of the horizon the model is expected to hold its
    // memory before it is used (or would be evicted, at its end). The integral of the survival curve (the model's own,
    // shrunk towards the fleet's as in p_use) from t to t + H, by the midpoint rule on kResidencePoints points.
    const double fleet_total = fleet_gaps_.total();
    const double fleet_weight = fleet_total > 0 ? prior_gaps_ / fleet_total : 0.0;
    const auto surviving = [&](double t) { return entry.gaps.at(t) + fleet_weight * fleet_gaps_.at(t); };
    const double at_risk = surviving(idle);
    if (!(at_risk > 1e-12) || !(horizon > 0)) return 1.0;
    double sum = 0;
    for (int i = 0; i < kResidencePoints; ++i) sum += surviving(idle + horizon * (i + 0.5) / kResidencePoints);
    // Floored at one point's share: a use due at once is worth much, not infinitely much.
    return std::clamp(sum / (kResidencePoints * at_risk), 1.0 / kResidencePoints, 1.0);
}

warmup_model_index ValueResource::victim_by(Rule rule, const std::vector<warmup_model_index>& candidates,
                                            warmup_time_ms now_ms, warmup_model_index skip,
                                            const GreedyDualBook& book) const {
    const double horizon = rule == Rule::value ? horizon_for_pick(now_ms) : 0.0;
    const double fleet_mean = fleet_mean_burst();
    warmup_model_index best = WARMUP_NO_MODEL;
    double best_value = std::numeric_limits<double>::infinity();
    double best_idle = 0;
    for (const warmup_model_index model : candidates) {
        if (model == skip) continue;
        const Model& entry = models_[model];
        const double idle = idle_ms(entry, now_ms);
        const double value = eviction_key(rule, model, idle, horizon, fleet_mean, book);
        // Lowest value first; ties: idle the longest (least recently used), then the lower index.
        if (best == WARMUP_NO_MODEL || value < best_value ||
            (value == best_value && (idle > best_idle || (idle == best_idle && model < best)))) {
            best = model;
            best_value = value;
            best_idle = idle;
        }
    }
    return best;
}

bool ValueResource::shadow_use(ShadowCache& shadow, warmup_model_index model, warmup_time_ms now_ms) {
    if (model >= shadow.resident.size()) {
        shadow.resident.resize(models_.size());
        shadow.charged_mb.resize(models_.size());
        shadow.position.resize(models_.size());
    }
    const bool greedy_dual = shadow.rule == Rule::greedy_dual;
    if (shadow.resident[model]) {
        if (greedy_dual) shadow.greedy_dual.used(model, models_[model]);
        return false;
    }
    const double size_mb = models_[model].size_mb;
    shadow.resident[model] = 1;
    shadow.charged_mb[model] = static_cast<float>(size_mb);
    shadow.position[model] = static_cast<uint32_t>(shadow.members.size());
    shadow.members.push_back(model);
    shadow.used_mb += size_mb;
    while (shadow.used_mb > budget_mb_ && shadow.members.size() > 1) {
        const warmup_model_index victim = victim_by(shadow.rule, shadow.members, now_ms, model, shadow.greedy_dual);
        if (greedy_dual) shadow.greedy_dual.evicted(victim);
        shadow.used_mb -= shadow.charged_mb[victim];
        shadow.resident[victim] = 0;
        const warmup_model_index last = shadow.members.back();
        shadow.members[shadow.position[victim]] = last;
        shadow.position[last] = shadow.position[victim];
        shadow.members.pop_back();
    }
    if (greedy_dual) {
        // As the host reports a demand load to a resource plugin: the evictions first (the clock rises), then the load
        // (the first use) and the request it served (the second), priced at the risen clock.
        shadow.greedy_dual.entered(model, models_[model]);
        shadow.greedy_dual.used(model, models_[model]);
    }
    return true;
}

warmup_model_index ValueResource::pick_victim(warmup_time_ms now_ms) {
    last_picked_victim_ = victim_by(rule_in_force(), ready_, now_ms, WARMUP_NO_MODEL, greedy_dual_);
    // Greedy-Dual's clock is the lowest priority in the cache at each eviction: the victim's under Greedy-Dual, the
    // lowest of the ready models' when another rule chose (the victim's own could be far above it, and the clock would
    // then price every later load above every model in memory).
    victim_clock_ = ready_.empty() ? 0.0 : std::numeric_limits<double>::infinity();
    for (const warmup_model_index model : ready_) victim_clock_ = std::min(victim_clock_, greedy_dual_.priority[model]);
    return last_picked_victim_;
}

std::string ValueResource::export_state() const {
    return sdk::StateWriter::collect([this](const sdk::StateWriter& out) { export_state_to(out); });
}

void ValueResource::export_state_to(const sdk::StateWriter& out) const {
    // Handed on in blocks of about 32 KiB: the whole text (~180 bytes a model, megabytes at 10 k models) is never
    // held, so a snapshot does not raise the daemon's peak memory by its size.
    constexpr std::size_t kBlockBytes = 32 * 1024;
    std::string text = std::string(kStateSchema) + "\n";
    text.reserve(kBlockBytes + 4096);
    char number[32];
    auto put = [&](double value) {
        std::snprintf(number, sizeof number, " %.17g", value);
        text += number;
    };
    auto put_survival = [&](const Survival& survival) {
        for (std::size_t k = 0; k < kLengths; ++k) put(survival.count(k) / survival.scale);
    };
    text += "-1";
    put(log_horizon_ms_);
    put(horizon_count_);
    put(fleet_burst_sum_);
    put(fleet_burst_weight_);
    put_survival(fleet_gaps_);
    text += '\n';
    for (std::size_t model = 0; model < models_.size(); ++model) {
        const Model& entry = models_[model];
        if (entry.last_used_ms == WARMUP_TIME_NEVER && entry.gaps.all == 0 && entry.burst_weight == 0) continue;
        text += std::to_string(model) + ' ' +
                std::to_string(entry.last_used_ms == WARMUP_TIME_NEVER ? int64_t{-1} : entry.last_used_ms);
        put(entry.burst_sum);
        put(entry.burst_weight);
        put_survival(entry.gaps);
        text += '\n';
        if (text.size() >= kBlockBytes) {
            out.write(text);
            text.clear();
        }
    }
    out.write(text);
}

void ValueResource::import_state(std::string_view data) {
    sdk::StateTextReader reader(data, kStateSchema, &bad_state);
    auto non_negative = [&](const char* what) {
        const double value = reader.field<double>(what);
        if (!(value >= 0) || !std::isfinite(value)) bad_state(std::string(what) + " must be a finite number >= 0");
        return value;
    };
    auto read_survival = [&](Survival& survival, const std::string& whose) {
        std::array<double, kLengths> counts{};
        for (std::size_t k = 0; k < kLengths; ++k) {
            counts[k] = non_negative("(gap count)");
            if (k > 0 && counts[k] > counts[k - 1] * (1 + 1e-6))
                bad_state("the gap counts of " + whose + " increase with the gap length (they count gaps >= it)");
        }
        survival.assign(counts);
    };
    struct Learned {
        Survival gaps;
        double burst_sum = 0, burst_weight = 0;
        warmup_time_ms last_used_ms = WARMUP_TIME_NEVER;
        bool seen = false;
    };
    std::vector<Learned> learned;
    Survival fleet;
    double log_horizon = 0, horizon_count = 0, fleet_burst_sum = 0, fleet_burst_weight = 0;
    bool fleet_seen = false;
    while (reader.next_record()) {
        const auto model = reader.field<int64_t>("(model index)");
        if (model == -1) {
            if (fleet_seen) bad_state("the fleet record appears twice");
            fleet_seen = true;
            log_horizon = reader.field<double>("(log horizon)");
            if (!std::isfinite(log_horizon) || log_horizon < 0 || log_horizon > 60)
                bad_state("the log horizon must be in [0, 60]");
            horizon_count = std::min(non_negative("(horizon count)"), kHorizonWindow);
            fleet_burst_sum = non_negative("(fleet burst sum)");
            fleet_burst_weight = non_negative("(fleet burst weight)");
            read_survival(fleet, "the fleet");
        } else {
            if (model < 0 || model >= static_cast<int64_t>(host().model_count()))
                bad_state("model index " + std::to_string(model) + " is not in this host's catalog");
            if (static_cast<std::size_t>(model) >= learned.size()) learned.resize(static_cast<std::size_t>(model) + 1);
            Learned& entry = learned[static_cast<std::size_t>(model)];
            if (entry.seen) bad_state("model " + std::to_string(model) + " appears twice");
            entry.seen = true;
            const auto last_used = reader.field<int64_t>("(last_used_ms)");
            if (last_used < -1 || last_used >= WARMUP_TIME_NEVER / 2)
                bad_state("last_used_ms of model " + std::to_string(model) + " is out of range");
            entry.last_used_ms = last_used == -1 ? WARMUP_TIME_NEVER : last_used;
            entry.burst_sum = non_negative("(burst sum)");
            entry.burst_weight = non_negative("(burst weight)");
            read_survival(entry.gaps, "model " + std::to_string(model));
        }
        if (!reader.at_record_end()) bad_state("a record has extra fields");
    }
    if (!fleet_seen) bad_state("the fleet record (-1) is missing");

    // Everything parsed: replace what was learned, keep the ready set (the host's, not state).
    if (learned.size() > models_.size()) models_.resize(learned.size());
    for (std::size_t model = 0; model < models_.size(); ++model) {
        Model& entry = models_[model];
        const Learned fresh = model < learned.size() ? learned[model] : Learned{};
        entry.gaps = fresh.gaps;
        entry.burst_sum = fresh.burst_sum;
        entry.burst_weight = fresh.burst_weight;
        entry.last_used_ms = fresh.last_used_ms;
        entry.burst_open = false;
    }
    fleet_gaps_ = fleet;
    fleet_burst_sum_ = fleet_burst_sum;
    fleet_burst_weight_ = fleet_burst_weight;
    log_horizon_ms_ = log_horizon;
    horizon_count_ = horizon_count;
}

}  // namespace warmup::plugins
