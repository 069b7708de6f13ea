// state_text.cpp — the predictor's state as text (export_state / import_state, and one model's line for a fleet
// moving a model between hosts).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <warmup/sdk/state_text.hpp>

#include "cost_curve_constants.hpp"
#include "cost_curve_predictor.hpp"

// Format (text, one record per line, numbers in decimal):
//   org.warmup.state.cost-curve/2
//   -1 <lean_held> <lean_reference_held> <lean_log_price (the controller's integral)> <pool curves>
//      <exchange_log_price>
//   <model index> <last_seen_ms> <request_count> <short_gaps> <reference_cold_requests> <curves> <recent gaps>
//      [<starts of day>]
// where <curves> = <gaps> <cold x 48> <held x 48> <longer x 48> and <recent gaps> = <count> then count pairs
// <gap_ms> <burst>, oldest first. <starts of day> (1.12.0, objective budget, only for a model that has any: the lean
// objective's text is 1.11.0's) = <count 1-8> then the clock
// times (ms since 00:00 UTC) of its latest wake-ups after 4 h or more idle, oldest first; 1.11.0 and before refuse a
// line that has them (a downgrade then starts without predictor state, as with successions below). The gap of an open
// wake-up is kept with the requests counted so far (its later requests are not added after an import).
// <exchange_log_price> came with 1.4.0: it is optional and last, so a text of 1.3.0 and before is read (the exchange
// price then starts at 1) under the same schema, which is what the host matches when it hands a state over (1.3.0
// refuses a text that has it: a downgrade starts cold). Not kept: the fairness floors (recomputed after 256 gaps) and
// the counts behind their cold rates (a model's first-load requests and its recent request count, rebuilt as it is
// used), the plans' and each candidate keep-alive's scores for the floors and the exchange price's target (measured
// again from the next gaps), and the open idle spells (counted again from the next uses). Model indexes are those of
// the host process (stable for its life), which is what a hot-swap or a backup of the same catalog hands over.
// Successions (1.10.0), after the model lines, one record per model that has candidate leaders or followers to name:
//   -2 <model> <cold wakes (0-255)> <cold wakes since its entry> <follower count> <followers>
//      <leader count> then per leader: <leader> <formed_ms> <cold wakes when formed> <caught x4> <caught wake-ups x4>
//      <held_ms x4> <tails started x4>
// where held_ms and tails started are what the pair would have held since it was formed (per window). An instance
// reading it keeps scoring each pair from there, so a restart or a hot-swap does not learn the pairs again. 1.9.0 and
// before refuse such a record (its model index -2): a restart with them restores no predictor state (logged), a
// rollback takes back the older instance a reload replaced with what it had learned then, and a reload to a new
// instance of them is refused while pairs exist (the running set stays). Not kept: the fleet's recent uses
// (leaders are found again from the next uses), the holds asked for, the open wake-up's catches (both renewed by the
// next uses), and the cold wake-ups of a model without candidate leaders or followers (counted again).

namespace warmup::plugins {

using namespace cost_curve;

namespace {

[[noreturn]] void bad_state(const std::string& why) {
    throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT,
                     std::string("cost-curve state import refused: ") + why + " (state left unchanged)");
}

double read_non_negative(sdk::StateTextReader& reader, const char* what) {
    const double value = reader.field<double>(what);
    if (!(value >= 0) || !std::isfinite(value)) bad_state(std::string(what) + " must be a finite number >= 0");
    return value;
}

/// A decayed count or sum, stored as float.
float read_counted(sdk::StateTextReader& reader, const char* what) {
    const double value = read_non_negative(reader, what);
    if (value > std::numeric_limits<float>::max()) bad_state(std::string(what) + " is out of range");
    return static_cast<float>(value);
}

void append_number(std::string& text, double value) {
    char number[32];
    const int length = std::snprintf(number, sizeof number, " %.9g", value);
    text.append(number, static_cast<std::size_t>(length));
}

/// A double written so that it reads back exactly (17 significant digits).
void append_exact(std::string& text, double value) {
    char number[40];
    const int length = std::snprintf(number, sizeof number, " %.17g", value);
    text.append(number, static_cast<std::size_t>(length));
}

}  // namespace

void CostCurvePredictor::append_curves(std::string& text, const Curves& curves) {
    append_number(text, curves.gaps);
    for (const float value : curves.cold) append_number(text, value);
    for (const float value : curves.held) append_number(text, value);
    for (const float value : curves.longer) append_number(text, value);
}

void CostCurvePredictor::append_model_fields(std::string& text, const ModelState& state) {
    text += std::to_string(state.last_seen_ms);
    text += ' ';
    text += std::to_string(state.request_count);
    append_number(text, state.short_gaps);
    append_number(text, state.reference_cold_requests);
    append_curves(text, state.curves);
    text += ' ';
    text += std::to_string(state.recent.count);
    for (std::size_t i = 0; i < state.recent.count; ++i) {
        const std::size_t slot = state.recent.oldest_first(i);
        text += ' ';
        text += std::to_string(state.recent.gap_ms[slot]);
        append_number(text, state.recent.burst[slot]);
    }
    if (state.daily.count > 0) {  // oldest first
        text += ' ';
        text += std::to_string(state.daily.count);
        for (std::size_t i = 0; i < state.daily.count; ++i) {
            const std::size_t slot = (state.daily.next + kDailyWakes - state.daily.count + i) % kDailyWakes;
            text += ' ';
            text += std::to_string(state.daily.time_of_day_ms[slot]);
        }
    }
    text += '\n';
}

std::string CostCurvePredictor::export_state() const {
    return sdk::StateWriter::collect([this](const sdk::StateWriter& out) { export_state_to(out); });
}

void CostCurvePredictor::export_state_to(const sdk::StateWriter& out) const {
    // About 1 KB of text per model, handed to the host in blocks of a few lines: at 10 k models the whole text
    // (~10 MB) is never held, by this plugin or by the host (which streams it to its snapshot file).
    constexpr std::size_t kBlockBytes = 32 * 1024;
    std::string block;
    block.reserve(kBlockBytes + 4096);
    const auto hand_over_if_full = [&] {
        if (block.size() < kBlockBytes) return;
        out.write(block);
        block.clear();
    };
    block += kStateSchema;
    block += "\n-1";
    append_number(block, lean_held_);
    append_number(block, lean_reference_held_);
    append_number(block, lean_integral_);  // the proportional term is recomputed at the next closed gap
    append_curves(block, pool_);
    append_number(block, exchange_log_price_);
    block += '\n';
    for (std::size_t model = 0; model < models_.size(); ++model) {
        const ModelState& state = models_[model];
        if (state.last_seen_ms == WARMUP_TIME_NEVER) continue;
        block += std::to_string(model);
        block += ' ';
        append_model_fields(block, state);
        hand_over_if_full();
    }
    for (std::size_t model = 0; model < models_.size(); ++model) {
        if (models_[model].pairs == kNoPairs) continue;
        append_pairs(block, static_cast<warmup_model_index>(model));
        hand_over_if_full();
    }
    out.write(block);
}

void CostCurvePredictor::append_pairs(std::string& text, warmup_model_index model) const {
    const ModelState& state = models_[model];
    const Pairs& own = pairs_[state.pairs];
    const auto named = [](warmup_model_index index) { return index != WARMUP_NO_MODEL; };
    const auto followers = std::count_if(own.followers.begin(), own.followers.end(), named);
    const auto leaders = std::count_if(own.leaders.begin(), own.leaders.end(),
                                       [&](const Leader& leader) { return named(leader.model); });
    if (followers == 0 && leaders == 0) return;  // an entry emptied by a forget: nothing to hand over
    text += "-2 ";
    text += std::to_string(model);
    text += ' ';
    text += std::to_string(state.cold_wakes);
    append_number(text, own.cold_wakes);
    text += ' ';
    text += std::to_string(followers);
    for (const warmup_model_index follower : own.followers) {
        if (!named(follower)) continue;
        text += ' ';
        text += std::to_string(follower);
    }
    text += ' ';
    text += std::to_string(leaders);
    for (const Leader& leader : own.leaders) {
        if (!named(leader.model)) continue;
        const ModelState& by = models_[leader.model];
        text += ' ';
        text += std::to_string(leader.model);
        text += ' ';
        text += std::to_string(leader.formed_ms);
        append_number(text, leader.cold_wakes_at);
        for (const float value : leader.caught) append_number(text, value);
        for (const float value : leader.caught_wakes) append_number(text, value);
        // Whole ms summed in a double: written with every digit, so a pair held for months comes back exactly.
        for (std::size_t w = 0; w < kWindows; ++w) append_exact(text, by.tail_ms[w] - leader.tail_ms_at[w]);
        for (std::size_t w = 0; w < kWindows; ++w) append_number(text, by.tail_starts[w] - leader.tail_starts_at[w]);
    }
    text += '\n';
}

// One -2 record (see the format above) into `pending`; refuses (throws) on a bad field. Indexes are checked against
// the host's catalog (a model's second record, once every record is read); the entries are made once every model line
// is read (apply_imported_pairs).
void CostCurvePredictor::read_pairs(sdk::StateTextReader& reader, std::vector<ImportedPairs>& pending) const {
    ImportedPairs record;
    const auto in_catalog = [&](const char* what) {
        const auto index = reader.field<int64_t>(what);
        if (index < 0 || index >= static_cast<int64_t>(host().model_count()))
            bad_state(std::string(what) + " " + std::to_string(index) + " is not in this host's catalog");
        return static_cast<warmup_model_index>(index);
    };
    const auto count_of = [&](const char* what, std::size_t most) {
        const auto count = reader.field<int64_t>(what);
        if (count < 0 || count > static_cast<int64_t>(most)) bad_state(std::string(what) + " out of range");
        return static_cast<std::size_t>(count);
    };
    record.model = in_catalog("(succession model)");
    const std::string whose = "the successions of model " + std::to_string(record.model);
    record.cold_wakes = static_cast<uint8_t>(count_of("(cold wake-ups)", UINT8_MAX));
    record.pairs.cold_wakes = read_non_negative(reader, "(cold wake-ups since the entry)");
    const std::size_t followers = count_of("(follower count)", kFollowersPerModel);
    for (std::size_t i = 0; i < followers; ++i) {
        const warmup_model_index follower = in_catalog("(follower)");
        if (follower == record.model) bad_state(whose + " name the model itself as a follower");
        if (std::find(record.pairs.followers.begin(), record.pairs.followers.end(), follower) !=
            record.pairs.followers.end())
            bad_state(whose + " name a follower twice");
        record.pairs.followers[i] = follower;
    }
    const std::size_t leaders = count_of("(leader count)", kLeadersPerModel);
    for (std::size_t i = 0; i < leaders; ++i) {
        Leader& leader = record.pairs.leaders[i];
        leader.model = in_catalog("(leader)");
        if (leader.model == record.model) bad_state(whose + " name the model itself as a leader");
        for (std::size_t j = 0; j < i; ++j)
            if (record.pairs.leaders[j].model == leader.model) bad_state(whose + " name a leader twice");
        leader.formed_ms = reader.field<int64_t>("(formed_ms)");
        if (leader.formed_ms < 0 || leader.formed_ms >= WARMUP_TIME_NEVER / 2)
            bad_state("formed_ms of " + whose + " is out of range");
        leader.cold_wakes_at = read_non_negative(reader, "(cold wake-ups when formed)");
        if (leader.cold_wakes_at > record.pairs.cold_wakes)
            bad_state(whose + ": a pair formed after more cold wake-ups than the entry has");
        for (float& value : leader.caught) value = read_counted(reader, "(caught)");
        for (float& value : leader.caught_wakes) value = read_counted(reader, "(caught wake-ups)");
        // Held since the pair was formed, kept as where the leader's totals stood then: an import starts every
        // model's totals at 0 (held_by_pair takes the difference).
        for (double& value : leader.tail_ms_at) value = -read_non_negative(reader, "(held_ms)");
        for (float& value : leader.tail_starts_at) value = -read_counted(reader, "(tails started)");
    }
    pending.push_back(record);
}

void CostCurvePredictor::apply_imported_pairs(const std::vector<ImportedPairs>& pending) {
    // Every model a record names gets a state (a leader or follower may have no model line: a model forgotten since,
    // e.g. moved to another host, is still named until its leader's next use drops it), so the indexes the
    // successions follow stay inside models_.
    for (const ImportedPairs& record : pending) {
        for (const Leader& leader : record.pairs.leaders)
            if (leader.model != WARMUP_NO_MODEL) state_of(leader.model);
        for (const warmup_model_index follower : record.pairs.followers)
            if (follower != WARMUP_NO_MODEL) state_of(follower);
        ModelState& state = state_of(record.model);
        state.cold_wakes = record.cold_wakes;
        state.pairs = static_cast<uint32_t>(pairs_.size());
        pairs_.push_back(record.pairs);
    }
}

// The fields of one model's line after its index (both formats share them): last_seen_ms, request_count, short gaps,
// reference cold requests, curves, recent gaps. Refuses (throws) on a bad field; `whose` names the model in messages.
void CostCurvePredictor::read_model_fields(sdk::StateTextReader& reader, ModelState& state, const std::string& whose) {
    state.last_seen_ms = reader.field<int64_t>("(last_seen_ms)");
    if (state.last_seen_ms < 0 || state.last_seen_ms >= WARMUP_TIME_NEVER / 2)
        bad_state("last_seen_ms of " + whose + " is out of range");
    state.request_count = reader.field<uint64_t>("(request_count)");
    state.short_gaps = read_counted(reader, "(short gaps)");
    state.reference_cold_requests = read_non_negative(reader, "(reference cold requests)");
    read_curves(reader, state.curves);
    const auto recent = reader.field<int64_t>("(recent gap count)");
    if (recent < 0 || recent > static_cast<int64_t>(kRecentGaps)) bad_state("recent gap count out of range");
    for (int64_t i = 0; i < recent; ++i) {
        const auto gap_ms = reader.field<int64_t>("(recent gap)");
        if (gap_ms <= 0) bad_state("a recent gap must be positive");
        state.recent.gap_ms[static_cast<std::size_t>(i)] = gap_ms;
        state.recent.burst[static_cast<std::size_t>(i)] = read_counted(reader, "(recent burst)");
    }
    state.recent.count = static_cast<uint8_t>(recent);
    state.recent.next = static_cast<uint8_t>(state.recent.count % kRecentGaps);
    if (!reader.at_record_end()) {  // written by 1.12.0 and later, for a model with starts of day
        const auto daily = reader.field<int64_t>("(start of day count)");
        if (daily < 1 || daily > static_cast<int64_t>(kDailyWakes)) bad_state("start of day count out of range");
        for (int64_t i = 0; i < daily; ++i) {
            const auto time_of_day = reader.field<int64_t>("(start of day)");
            if (time_of_day < 0 || time_of_day >= kDayMs) bad_state("a start of day must be within [0, 86400000) ms");
            state.daily.push(static_cast<int32_t>(time_of_day));
        }
    }
    state.plan_stale = true;
}

void CostCurvePredictor::read_curves(sdk::StateTextReader& reader, Curves& curves) {
    curves.gaps = read_counted(reader, "(gaps)");
    for (float& value : curves.cold) value = read_counted(reader, "(cold)");
    for (float& value : curves.held) value = read_counted(reader, "(held)");
    for (float& value : curves.longer) value = read_counted(reader, "(longer)");
}

void CostCurvePredictor::import_state(std::string_view data) {
    sdk::StateTextReader reader(data, kStateSchema, &bad_state);
    sdk::ModelTable<ModelState> imported;
    std::vector<ImportedPairs> pairs;
    Curves pool;
    double lean_held = 0, lean_reference_held = 0, lean_log_price = 0, exchange_log_price = 0;
    bool fleet_seen = false;
    auto non_negative = [&](const char* what) { return read_non_negative(reader, what); };
    while (reader.next_record()) {
        const auto model = reader.field<int64_t>("(model index)");
        if (model == -1) {
            if (fleet_seen) bad_state("the fleet record appears twice");
            fleet_seen = true;
            lean_held = non_negative("(lean held)");
            lean_reference_held = non_negative("(lean reference held)");
            lean_log_price = std::min(non_negative("(lean log price)"), kMaxLogPrice);
            read_curves(reader, pool);
            if (!reader.at_record_end()) {  // written by 1.4.0 and later
                exchange_log_price = reader.field<double>("(exchange log price)");
                if (!(std::abs(exchange_log_price) <= kExchangeMaxLogFactor))
                    bad_state("the exchange log price must be within +-ln 8");
            }
        } else if (model == -2) {
            read_pairs(reader, pairs);
        } else {
            if (model < 0 || model >= static_cast<int64_t>(host().model_count()))
                bad_state("model index " + std::to_string(model) + " is not in this host's catalog");
            if (static_cast<std::size_t>(model) >= imported.size())
                imported.resize(static_cast<std::size_t>(model) + 1);
            ModelState& state = imported[static_cast<std::size_t>(model)];
            if (state.last_seen_ms != WARMUP_TIME_NEVER) bad_state("model " + std::to_string(model) + " appears twice");
            read_model_fields(reader, state, "model " + std::to_string(model));
        }
        if (!reader.at_record_end())
            bad_state(model == -2 ? std::string("trailing characters on a successions record")
                                  : "trailing characters on the line of model " + std::to_string(model));
    }
    if (!fleet_seen) bad_state("no fleet record");
    std::sort(pairs.begin(), pairs.end(),
              [](const ImportedPairs& a, const ImportedPairs& b) { return a.model < b.model; });
    for (std::size_t i = 1; i < pairs.size(); ++i)
        if (pairs[i].model == pairs[i - 1].model)
            bad_state("the successions of model " + std::to_string(pairs[i].model) + " appear twice");
    models_ = std::move(imported);
    if (!learns_starts_of_day())  // not used here: not kept, and not written back
        for (ModelState& state : models_) state.daily = {};
    // The pairs as they were scored (their leaders' tails start again at 0 with the imported states); the fleet's
    // recent uses start empty.
    pairs_.clear();
    apply_imported_pairs(pairs);
    recent_uses_.fill({WARMUP_TIME_NEVER, WARMUP_NO_MODEL});
    // The imported models enter the fleet's mean load time now, as they did in the exporting instance when it first
    // saw them: their plans are priced as there.
    for (std::size_t model = 0; model < models_.size(); ++model)
        if (models_[model].last_seen_ms != WARMUP_TIME_NEVER) figures(static_cast<warmup_model_index>(model));
    pool_ = pool;
    lean_held_ = lean_held;
    lean_reference_held_ = lean_reference_held;
    lean_integral_ = lean_log_price;
    lean_log_price_ = lean_log_price;
    exchange_log_price_ = exchange_log_price;
    // Not in the state text: the plans' and each candidate keep-alive's scores start again from the next gaps (the
    // first fairness refresh comes after kFairnessRefreshGaps of them, the exchange price moves after
    // kExchangeMinGaps).
    plans_held_ = plans_cold_ = plans_base_price_held_ = scored_gaps_ = 0;
    timer_held_.fill(0);
    timer_cold_.fill(0);
    gaps_since_fairness_ = 0;
    idle_watch_.clear();  // rebuilt from the next uses
    open_long_gaps_ = 0;
    end_startup();  // the imported curves have seen the fleet's long gaps
}

// Per-model format: the schema line, then one line as in export_state() without the model index:
//   <last_seen_ms> <request_count> <short_gaps> <reference_cold_requests> <curves> <recent gaps> [<starts of day>]
std::string CostCurvePredictor::export_model_state(warmup_model_index model) const {
    if (model >= models_.size() || models_[model].last_seen_ms == WARMUP_TIME_NEVER) return {};
    std::string text = std::string(kStateSchema) + "\n";
    append_model_fields(text, models_[model]);
    return text;
}

void CostCurvePredictor::import_model_state(warmup_model_index model, std::string_view data) {
    if (model >= host().model_count())
        bad_state("model index " + std::to_string(model) + " is not in this host's catalog");
    sdk::StateTextReader reader(data, kStateSchema, &bad_state);
    if (!reader.next_record()) bad_state("the model state has no model line");
    ModelState state;
    read_model_fields(reader, state, "model " + std::to_string(model));
    if (!reader.at_record_end() || reader.next_record()) bad_state("trailing data after the model line");

    if (!learns_starts_of_day()) state.daily = {};
    ModelState& slot = state_of(model);
    if (slot.open_long) open_long_gaps_ -= 1;
    state.watched = slot.watched;  // its FIFO entry stays, and is dropped or renewed when it comes due
    replace_model_state(slot, state);
    figures(model);  // the moved model enters the fleet's mean load time
}

void CostCurvePredictor::forget_model_state(warmup_model_index model) {
    if (model >= models_.size()) return;
    ModelState& slot = models_[model];
    if (slot.open_long) open_long_gaps_ -= 1;
    const bool watched = slot.watched;
    replace_model_state(slot, ModelState{});
    slot.watched = watched;
}

}  // namespace warmup::plugins
