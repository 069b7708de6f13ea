// succession.cpp — successions: a model used within minutes of another model's use (a summary after a chat session, a
// refactor model after a chat) is held from each of that model's uses for a few minutes, when that pays.
//
// A pair (leader A, follower B) is scored on what it would have done since it was formed, per window W of
// kSuccessionWindowsMs, with the same price of memory as B's own plan:
//   caught(W) = B's wake-ups that the plan in force left cold (the idle gap longer than its keep and outside its
//               pre-warm window) and that came between one load time of B and W after A's latest use, counted as
//               wake-ups (the evidence) and as requests (the saving);
//   held(W)   = the ms B would have been held: the union of the tails [use, use + W) of A's uses, plus one load time of
//               B per tail that starts anew (A's totals are kept per model, a pair remembers where they stood when it
//               was formed);
//   value(W)  = caught requests - price(B) x held(W).
// A window is acted on when it caught kSuccessionMinWakes wake-ups, kSuccessionMinLift times what chance would (B's
// cold wake-ups since the pair was formed x the share of that time A's tails covered) and two Poisson standard
// deviations more, and when its value is at least 2 x sqrt(caught requests); the best such window is used. B then
// goes onto A's follower list, and each later use of A names B (warmup_prediction.replan_models) with B's
// succession_until_ms = the use + W, so the host plans B again at once and B's prediction asks for it to be ready until
// then (predict). A pair that no longer passes is dropped from the list at A's next use. Counted from the times alone,
// never from what the host did, so the score does not depend on whether the pair was acted on. The hold's memory is
// counted beyond B's own keep from the time it is asked for (scoring.cpp, the lean ceiling).
// Leaders are found where the follower's cold wake-ups are (from its second one): the latest use, among the fleet's 16
// most recently used models, of another model from one load time to the longest window before it that is not yet a
// leader takes the slot of the leader that pays least (an empty slot first; a slot that pays, or whose pair is still on
// trial, is never taken).
//
// What the predictor cannot see: whether the host really loaded B (a budget full of busier models, B still unloading).
// A wake-up it asked B ready for is learned as warm all the same.
// Costs: a use costs O(kWindows + kRecentUses) plus O(kFollowersPerModel) pairs scored; a cold wake-up
// O(kLeadersPerModel x kWindows + kRecentUses). The pairs are in the state text (state_text.cpp), the fleet's recent
// uses are not.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "cost_curve_constants.hpp"
#include "cost_curve_predictor.hpp"

namespace warmup::plugins {

using namespace cost_curve;

CostCurvePredictor::Pairs& CostCurvePredictor::pairs_of(ModelState& state) {
    if (state.pairs == kNoPairs) {
        state.pairs = static_cast<uint32_t>(pairs_.size());
        pairs_.emplace_back();
    }
    return pairs_[state.pairs];
}

void CostCurvePredictor::replace_model_state(ModelState& slot, ModelState fresh) {
    fresh.tail_ms = slot.tail_ms;
    fresh.tail_starts = slot.tail_starts;
    fresh.pairs = slot.pairs;
    if (fresh.pairs != kNoPairs) pairs_[fresh.pairs] = Pairs{};
    slot = std::move(fresh);
}

double CostCurvePredictor::held_by_pair(const Leader& leader, std::size_t w, double load_ms) const {
    const ModelState& by = models_[leader.model];
    return (by.tail_ms[w] - leader.tail_ms_at[w]) +
           load_ms * static_cast<double>(by.tail_starts[w] - leader.tail_starts_at[w]);
}

CostCurvePredictor::PairScore CostCurvePredictor::score_pair(const Leader& leader, warmup_model_index follower) const {
    const double lambda = price(follower);
    const double load_ms = model_load_ms(follower);
    PairScore score{-1, -std::numeric_limits<double>::infinity()};
    // What chance alone would catch: the follower's cold wake-ups since the pair was formed, times the share of that
    // time the leader's tails covered. The evidence is counted in wake-ups (one per coincidence, whatever its burst);
    // the saving in requests. The windows are nested (a longer one catches what a shorter one does).
    const ModelState& by = models_[leader.model];
    const uint32_t entry = models_[follower].pairs;
    const double cold_wakes = entry == kNoPairs ? 0.0 : pairs_[entry].cold_wakes - leader.cold_wakes_at;
    const double elapsed_ms = static_cast<double>(now_ms_ - leader.formed_ms);
    double acted_value = 0;
    for (std::size_t w = 0; w < kWindows; ++w) {
        const double caught = leader.caught[w];
        const double wakes = leader.caught_wakes[w];
        const double saved = caught - lambda * held_by_pair(leader, w, load_ms);
        score.value = std::max(score.value, saved);
        const double coverage =
            elapsed_ms > 0 ? std::min((by.tail_ms[w] - leader.tail_ms_at[w]) / elapsed_ms, 1.0) : 1.0;
        const double chance = cold_wakes * coverage;
        const bool beyond_chance =
            wakes >= kSuccessionMinLift * chance && wakes - chance >= 2 * std::sqrt(std::max(chance, 1.0));
        // The saving, too, must stand out of the noise of the count it rests on: a pair that only breaks even on
        // paper (co-periodic jobs, models of one team) costs memory for nothing in practice.
        const bool pays = saved >= 2 * std::sqrt(caught);
        if (wakes >= kSuccessionMinWakes && beyond_chance && pays && saved > acted_value) {
            acted_value = saved;
            score.window = static_cast<int>(w);
        }
    }
    return score;
}

void CostCurvePredictor::note_leader_use(warmup_model_index model, warmup_time_ms previous_ms,
                                         warmup_time_ms before_last_ms, warmup_time_ms seen_ms) {
    ModelState& leader = models_[model];
    // The tails: each gap between uses ends the earlier use's tail (at most W); a gap over W starts a new one. A batch
    // of uses is taken as its first gap (previous to the one before the newest) and its last, as learn() does.
    const auto add_gap = [&](warmup_time_ms from_ms, warmup_time_ms to_ms) {
        const auto gap = static_cast<double>(std::max<warmup_time_ms>(to_ms - from_ms, 0));
        for (std::size_t w = 0; w < kWindows; ++w) {
            leader.tail_ms[w] += std::min(gap, kSuccessionWindowsMs[w]);
            if (gap > kSuccessionWindowsMs[w]) leader.tail_starts[w] += 1;
        }
    };
    if (previous_ms == WARMUP_TIME_NEVER || previous_ms > seen_ms) {  // the first use known (or time went back)
        for (std::size_t w = 0; w < kWindows; ++w) leader.tail_starts[w] += 1;
    } else if (before_last_ms != WARMUP_TIME_NEVER && before_last_ms > previous_ms && before_last_ms < seen_ms) {
        add_gap(previous_ms, before_last_ms);
        add_gap(before_last_ms, seen_ms);
    } else {
        add_gap(previous_ms, seen_ms);
    }
    // The fleet's 16 most recently used models, newest first: this one moves to the front, from its old place if it
    // has one, else the oldest drops out. A short contiguous scan: the busy models are found in the first places.
    std::size_t at = kRecentUses - 1;
    for (std::size_t place = 0; place < kRecentUses; ++place) {
        if (recent_uses_[place].second == model) {
            at = place;
            break;
        }
    }
    std::move_backward(recent_uses_.begin(), recent_uses_.begin() + static_cast<std::ptrdiff_t>(at),
                       recent_uses_.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    recent_uses_[0] = {seen_ms, model};
    if (leader.pairs == kNoPairs) return;
    // The followers this use names: each pair scored again, dropped when it no longer pays (or its slot was retaken).
    // No entry is made below, so the reference into pairs_ stays valid.
    for (auto& follower : pairs_[leader.pairs].followers) {
        if (follower == WARMUP_NO_MODEL) continue;
        if (follower >= models_.size()) {  // not a model this instance knows (kept out by the import; never else)
            follower = WARMUP_NO_MODEL;
            continue;
        }
        ModelState& state = models_[follower];
        int window = -1;
        if (state.pairs != kNoPairs) {
            const auto& leaders = pairs_[state.pairs].leaders;
            const auto pair = std::find_if(leaders.begin(), leaders.end(),
                                           [&](const Leader& candidate) { return candidate.model == model; });
            if (pair != leaders.end()) window = score_pair(*pair, follower).window;
        }
        if (window < 0) {
            follower = WARMUP_NO_MODEL;
            continue;
        }
        const warmup_time_ms until = add_offset(seen_ms, kSuccessionWindowsMs[static_cast<std::size_t>(window)]);
        if (until <= now_ms_) continue;  // a use learned late (back-filled history): its hold is over already
        // What this use adds to the follower's hold beyond its own keep and the succession already asked for: a new
        // hold (neither in force) starts with a load.
        const warmup_time_ms own_until = add_offset(state.last_seen_ms, static_cast<double>(state.plan.keep_ms));
        const bool asked = state.succession_until_ms != WARMUP_TIME_NEVER && state.succession_until_ms >= seen_ms;
        warmup_time_ms held_from = std::max(seen_ms, now_ms_);
        if (own_until != WARMUP_TIME_NEVER) held_from = std::max(held_from, own_until);
        if (asked) held_from = std::max(held_from, state.succession_until_ms);
        double held_ms = until > held_from ? static_cast<double>(until - held_from) : 0.0;
        if (!asked) {
            state.succession_ready_ms = add_offset(seen_ms, model_load_ms(follower));
            if (own_until == WARMUP_TIME_NEVER || own_until < seen_ms) held_ms += model_load_ms(follower);
        }
        if (!asked || state.succession_until_ms < until) state.succession_until_ms = until;
        score_succession_hold(follower, held_ms);
        successions_.push_back(follower);
    }
}

void CostCurvePredictor::note_follower_wake(ModelState& state, warmup_model_index model, int64_t gap_ms, double burst,
                                            warmup_time_ms seen_ms) {
    // learn() has cleared the open wake-up's marks (open_own_cold, open_caught) before this call. Without a plan in
    // force during the gap (keep 0: history back-filled before the first plan, or the first gap after an import or a
    // reset) there is nothing a succession would have added to: the wake-up is not counted, as the plans' scoring
    // does not count it either (scoring.cpp).
    if (state.plan_during_gap.keep_ms <= 0) return;
    state.open_own_cold = state.plan_during_gap.leaves_cold(gap_ms);
    if (!state.open_own_cold) return;  // its own plan had it warm: nothing for a succession to save
    if (state.cold_wakes < UINT8_MAX) ++state.cold_wakes;
    const double load_ms = model_load_ms(model);
    const auto lag_of = [&](warmup_time_ms used_ms) { return static_cast<double>(seen_ms - used_ms); };

    if (state.pairs != kNoPairs) {
        Pairs& own = pairs_[state.pairs];
        own.cold_wakes += 1;
        // The pairs whose window caught this wake-up count its requests.
        for (std::size_t slot = 0; slot < kLeadersPerModel; ++slot) {
            Leader& leader = own.leaders[slot];
            if (leader.model == WARMUP_NO_MODEL) continue;
            const warmup_time_ms used_ms = models_[leader.model].last_seen_ms;
            if (used_ms == WARMUP_TIME_NEVER || used_ms > seen_ms) continue;
            const double lag = lag_of(used_ms);
            if (lag < load_ms) continue;  // too late to be ready
            for (std::size_t w = 0; w < kWindows; ++w) {
                if (lag > kSuccessionWindowsMs[w]) continue;
                leader.caught[w] += static_cast<float>(burst);
                leader.caught_wakes[w] += 1;
                own.open_caught |= 1U << (slot * kWindows + w);
            }
        }
        // The pairs that pay now join their leader's follower list (acted on from the leader's next use). pairs_of
        // may grow pairs_: the follower's entry is found again by its index each time.
        for (std::size_t slot = 0; slot < kLeadersPerModel; ++slot) {
            const Leader leader = pairs_[state.pairs].leaders[slot];
            if (leader.model == WARMUP_NO_MODEL || score_pair(leader, model).window < 0) continue;
            auto& followers = pairs_of(models_[leader.model]).followers;
            if (std::find(followers.begin(), followers.end(), model) != followers.end()) continue;
            const auto free = std::find(followers.begin(), followers.end(), WARMUP_NO_MODEL);
            if (free != followers.end()) *free = model;
        }
    }

    // A new leader: the latest recent use of another model, not yet a leader, that could have caught this wake-up.
    const auto is_leader = [&](warmup_model_index candidate) {
        if (state.pairs == kNoPairs) return false;
        const auto& leaders = pairs_[state.pairs].leaders;
        return std::any_of(leaders.begin(), leaders.end(),
                           [&](const Leader& leader) { return leader.model == candidate; });
    };
    warmup_model_index candidate = WARMUP_NO_MODEL;
    for (const auto& [used_ms, used] : recent_uses_) {              // newest first
        if (used >= models_.size() || used_ms > seen_ms) continue;  // an empty entry (WARMUP_NO_MODEL) included
        const double lag = lag_of(used_ms);
        if (lag > kSuccessionWindowsMs[kWindows - 1]) break;  // older entries are older still
        if (used == model || lag < load_ms || is_leader(used)) continue;
        candidate = used;
        break;
    }
    if (candidate == WARMUP_NO_MODEL || (state.pairs == kNoPairs && state.cold_wakes < 2)) return;
    Pairs& own = pairs_of(state);
    std::size_t weakest = kLeadersPerModel;
    double weakest_value = 0;  // a slot that pays (value > 0) is never taken
    for (std::size_t slot = 0; slot < kLeadersPerModel; ++slot) {
        const Leader& leader = own.leaders[slot];
        if (leader.model == WARMUP_NO_MODEL) {
            weakest = slot;
            break;
        }
        // A pair on trial (fewer cold requests since it was formed than its evidence needs) keeps its slot.
        if (own.cold_wakes - leader.cold_wakes_at < kSuccessionTrialWakes) continue;
        const double value = score_pair(leader, model).value;
        if (value <= weakest_value) {
            weakest_value = value;
            weakest = slot;
        }
    }
    if (weakest == kLeadersPerModel) return;
    const ModelState& by = models_[candidate];
    Leader& formed = own.leaders[weakest];
    formed = Leader{};
    own.open_caught &= ~(((1U << kWindows) - 1) << (weakest * kWindows));  // the previous leader's bits
    formed.model = candidate;
    formed.formed_ms = seen_ms;
    // This wake-up chose the pair, so it is no evidence: counted before the pair (a new entry counts from here on).
    formed.cold_wakes_at = own.cold_wakes;
    formed.tail_ms_at = by.tail_ms;
    formed.tail_starts_at = by.tail_starts;
}

void CostCurvePredictor::add_caught_requests(ModelState& state, double requests) {
    if (state.pairs == kNoPairs || requests <= 0) return;
    Pairs& own = pairs_[state.pairs];
    for (std::size_t slot = 0; slot < kLeadersPerModel; ++slot)
        for (std::size_t w = 0; w < kWindows; ++w)
            if ((own.open_caught >> (slot * kWindows + w)) & 1U)
                own.leaders[slot].caught[w] += static_cast<float>(requests);
}

}  // namespace warmup::plugins
