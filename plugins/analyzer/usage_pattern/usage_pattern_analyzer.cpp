#include "usage_pattern_analyzer.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <warmup/sdk/model_table.hpp>
#include <warmup/sdk/state_text.hpp>

namespace warmup::plugins {
namespace {

constexpr int64_t kMsPerHour = 3'600'000;
constexpr int64_t kMsPerDay = 24 * kMsPerHour;
// 1970-01-01 (day 0) was a Thursday; with 0 = Monday, Thursday is 3.
constexpr int64_t kEpochDayOfWeek = 3;

int64_t floor_div(int64_t value, int64_t divisor) {
    const int64_t quotient = value / divisor;
    return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient;
}

// ---- State serialisation: little-endian, explicit widths, independent of the host's byte order. ----

constexpr char kMagic[4] = {'W', 'U', 'P', 'A'};
constexpr uint32_t kFormatVersion = 1;
constexpr std::size_t kHeaderBytes = 4 + 4 + 8 + 8;  // magic, version, payload length, FNV-1a 64 of the payload
// Smallest possible per-model record: 8 fixed 8-byte fields, two u32 counts, the calendar.
constexpr std::size_t kMinModelRecordBytes = 8 * 8 + 4 + 4 + UsagePatternAnalyzer::kCalendarSlots * 8;
constexpr uint32_t kMaxImportBins = 1'000'000;

constexpr uint64_t kFnvOffsetBasis = 1469598103934665603ull;

/// FNV-1a 64 of `bytes`, continuing from `hash` (the hash of the bytes before them), so a payload can be hashed in
/// pieces.
uint64_t fnv1a64(std::string_view bytes, uint64_t hash = kFnvOffsetBasis) {
    for (const char byte : bytes) {
        hash ^= static_cast<unsigned char>(byte);
        hash *= 1099511628211ull;
    }
    return hash;
}

class ByteWriter {
  public:
    void u32(uint32_t value) {
        for (int shift = 0; shift < 32; shift += 8) bytes_.push_back(static_cast<char>((value >> shift) & 0xFF));
    }
    void u64(uint64_t value) {
        for (int shift = 0; shift < 64; shift += 8) bytes_.push_back(static_cast<char>((value >> shift) & 0xFF));
    }
    void i64(int64_t value) { u64(static_cast<uint64_t>(value)); }
    void f64(double value) { u64(std::bit_cast<uint64_t>(value)); }
    std::string& bytes() { return bytes_; }

  private:
    std::string bytes_;
};

/// Bounds-checked reader; every failure is an InvalidArgument naming what was being read.
class ByteReader {
  public:
    explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
    uint32_t u32(const char* what) { return static_cast<uint32_t>(read(4, what)); }
    uint64_t u64(const char* what) { return read(8, what); }
    int64_t i64(const char* what) { return static_cast<int64_t>(read(8, what)); }
    double f64(const char* what) { return std::bit_cast<double>(read(8, what)); }
    [[nodiscard]] std::size_t remaining() const { return bytes_.size() - offset_; }

  private:
    uint64_t read(std::size_t width, const char* what) {
        if (remaining() < width)
            throw sdk::InvalidArgument(std::string("usage-pattern state: truncated while reading ") + what);
        uint64_t value = 0;
        for (std::size_t i = 0; i < width; ++i)
            value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes_[offset_ + i])) << (8 * i);
        offset_ += width;
        return value;
    }
    std::string_view bytes_;
    std::size_t offset_ = 0;
};

[[noreturn]] void corrupt(const std::string& why) { throw sdk::InvalidArgument("usage-pattern state: " + why); }

/// The order of the follower view: larger count first, ties by model index (slots hold distinct models, so this is a
/// total order and the sorted view is unique).
bool follows_before(const UsagePatternAnalyzer::FollowerSlot& a, const UsagePatternAnalyzer::FollowerSlot& b) {
    return a.count != b.count ? a.count > b.count : a.model < b.model;
}

}  // namespace

UsagePatternAnalyzer::UsagePatternAnalyzer(sdk::Host host, sdk::Params& params) : sdk::Analyzer(host) {
    constexpr int64_t kWeekMs = 7 * kMsPerDay;
    config_.ewma_half_life_ms = params.get_int("ewma_half_life_ms", config_.ewma_half_life_ms, 1, kWeekMs * 52);
    config_.idle_bin_ms = static_cast<uint32_t>(params.get_int("idle_bin_ms", config_.idle_bin_ms, 1, kMsPerDay));
    config_.idle_bins = static_cast<uint32_t>(params.get_int("idle_bins", config_.idle_bins, 1, 100'000));
    config_.follow_window_ms = params.get_int("follow_window_ms", config_.follow_window_ms, 0, kMsPerDay);
    config_.max_followers =
        static_cast<uint32_t>(params.get_int("max_followers", config_.max_followers, 0, kMaxFollowers));

    // r(t) = sum_i c_i * lambda * exp(-lambda (t - t_i)), lambda = ln2 / half-life: a constant rate R yields R.
    ewma_decay_per_ms_ = 1.0 / static_cast<double>(config_.ewma_half_life_ms);
    ewma_impulse_per_s_ = std::log(2.0) * 1000.0 / static_cast<double>(config_.ewma_half_life_ms);
    empty_histogram_.assign(config_.idle_bins, 0);
    empty_shares_.assign(kCalendarSlots, 0.0);
    state_ = empty_state();
    followers_sorted_ = sdk::ModelRows<warmup_follower>(config_.max_followers);
    follower_order_ = sdk::ModelRows<uint8_t>(config_.max_followers);
}

void UsagePatternAnalyzer::grow_to(uint32_t model_capacity) {
    if (model_capacity <= state_.model_capacity) return;
    // Tables of chunked rows (warmup/sdk/model_table.hpp): ~1.8 KB per model (the 240-bin default) grown a chunk
    // at a time, never copied, so a burst of new models costs no copy of the whole table inside one observe.
    state_.stats.resize(model_capacity);
    state_.idle_histogram.resize(model_capacity);
    state_.calendar.resize(model_capacity);
    state_.follower_slots.resize(model_capacity);
    followers_sorted_.resize(model_capacity);
    follower_order_.resize(model_capacity);
    state_.model_capacity = model_capacity;
}

UsagePatternAnalyzer::State UsagePatternAnalyzer::empty_state() const {
    State state;
    state.idle_histogram = sdk::ModelRows<uint32_t>(config_.idle_bins);
    state.calendar = sdk::ModelRows<double>(kCalendarSlots);
    state.follower_slots = sdk::ModelRows<FollowerSlot>(config_.max_followers);
    return state;
}

void UsagePatternAnalyzer::observe(std::span<const warmup_usage_event> events) {
    if (events.empty()) return;
    // Validate the whole batch first so a bad event leaves nothing half-applied. Indexes are dense and come from the
    // host catalog; checking against it also stops a corrupt index from allocating gigabytes.
    // The catalog only grows while the host runs (a new name matching a pattern gets the next index; indexes are
    // never reused), so an index under the count read last time needs no new call through the host (one per batch,
    // under the catalog's lock, was the replay's hot path).
    warmup_model_index highest = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const warmup_usage_event& event = events[i];
        if (event.model >= catalog_models_) catalog_models_ = host().model_count();
        if (event.model >= catalog_models_)
            throw sdk::InvalidArgument("events[" + std::to_string(i) + "].model: index " + std::to_string(event.model) +
                                       " is not in the catalog (" + std::to_string(catalog_models_) + " models)");
        if (event.count == 0) throw sdk::InvalidArgument("events[" + std::to_string(i) + "].count: must be >= 1");
        highest = std::max(highest, event.model);
    }
    grow_to(highest + 1);
    for (const warmup_usage_event& event : events) apply(event);
}

void UsagePatternAnalyzer::apply(const warmup_usage_event& event) {
    const warmup_model_index model = event.model;
    const warmup_time_ms ts_ms = event.ts_ms;
    const double count = static_cast<double>(event.count);
    ModelStats& stats = state_.stats[model];
    if (stats.calendar_in_shares) calendar_to_counts(model);  // before request_count, the shares' denominator, moves
    stats.request_count += event.count;

    // Events arrive sorted, so nearly every one falls into the hour of the previous one: skip the divisions then.
    if (!(ts_ms >= calendar_hour_.start_ms && ts_ms - calendar_hour_.start_ms < kMsPerHour)) {
        const int64_t day = floor_div(ts_ms, kMsPerDay);
        const int64_t hour = (ts_ms - day * kMsPerDay) / kMsPerHour;
        calendar_hour_.start_ms = day * kMsPerDay + hour * kMsPerHour;
        calendar_hour_.hour_slot = static_cast<uint32_t>(hour);
        calendar_hour_.weekday_slot = static_cast<uint32_t>(24 + ((day + kEpochDayOfWeek) % 7 + 7) % 7);
    }
    double* calendar = state_.calendar.row(model);
    calendar[calendar_hour_.hour_slot] += count;
    calendar[calendar_hour_.weekday_slot] += count;

    bool new_arrival = false;
    if (stats.arrival_count == 0) {
        stats.first_seen_ms = stats.last_seen_ms = ts_ms;
        stats.ewma_rate_per_s = count * ewma_impulse_per_s_;
        stats.arrival_count = 1;
        new_arrival = true;
    } else if (ts_ms > stats.last_seen_ms) {
        const int64_t gap_ms = ts_ms - stats.last_seen_ms;
        stats.ewma_rate_per_s = stats.ewma_rate_per_s * std::exp2(-static_cast<double>(gap_ms) * ewma_decay_per_ms_) +
                                count * ewma_impulse_per_s_;
        const uint64_t bin = static_cast<uint64_t>(gap_ms) / config_.idle_bin_ms;
        if (bin < config_.idle_bins) {
            ++state_.idle_histogram.row(model)[bin];
            ++stats.idle_samples;
        } else {
            ++stats.idle_out_of_range;
        }
        stats.previous_seen_ms = stats.last_seen_ms;
        stats.last_seen_ms = ts_ms;
        ++stats.arrival_count;
        new_arrival = true;
    } else {
        // Same timestamp (more requests of one arrival) or a late event: it adds requests, weighted as of
        // last_seen_ms, but no arrival and no idle gap (a negative gap has no meaning).
        const int64_t age_ms = stats.last_seen_ms - ts_ms;
        stats.ewma_rate_per_s += count * ewma_impulse_per_s_ *
                                 (age_ms == 0 ? 1.0 : std::exp2(-static_cast<double>(age_ms) * ewma_decay_per_ms_));
        stats.first_seen_ms = std::min(stats.first_seen_ms, ts_ms);
    }
    // A new arrival changes the denominator of this model's follower shares.
    if (new_arrival) stats.followers_stale = true;
    if (config_.max_followers > 0) note_follow(model, ts_ms, new_arrival);
}

void UsagePatternAnalyzer::drop_run_arrivals_before(warmup_time_ms cutoff_ms) {
    auto& arrivals = state_.run_arrivals_ms;
    while (state_.run_head < arrivals.size() && arrivals[state_.run_head] < cutoff_ms) ++state_.run_head;
    if (state_.run_head == arrivals.size()) {
        arrivals.clear();  // keeps capacity: no allocation in steady state
        state_.run_head = 0;
    } else if (state_.run_head >= 1024 && state_.run_head * 2 >= arrivals.size()) {
        // Compact occasionally so a long run of one model does not grow the buffer without bound.
        arrivals.erase(arrivals.begin(), arrivals.begin() + static_cast<std::ptrdiff_t>(state_.run_head));
        state_.run_head = 0;
    }
}

void UsagePatternAnalyzer::note_follow(warmup_model_index model, warmup_time_ms ts_ms, bool new_arrival) {
    const warmup_time_ms cutoff_ms = ts_ms - config_.follow_window_ms;
    if (model != state_.run_model) {
        // This request is the "next other model" for every pending arrival of the run; those inside the window count.
        if (state_.run_model != WARMUP_NO_MODEL) {
            drop_run_arrivals_before(cutoff_ms);
            const std::size_t followed = state_.run_arrivals_ms.size() - state_.run_head;
            if (followed > 0) add_follower(state_.run_model, model, followed);
        }
        state_.run_arrivals_ms.clear();
        state_.run_head = 0;
        state_.run_model = model;
    } else {
        drop_run_arrivals_before(cutoff_ms);
    }
    // Only a new distinct arrival can be followed, so each arrival counts for at most one follower: shares sum <= 1.
    if (new_arrival) state_.run_arrivals_ms.push_back(ts_ms);
}

void UsagePatternAnalyzer::add_follower(warmup_model_index leader, warmup_model_index follower, uint64_t weight) {
    // Space-saving (Metwally et al. 2005): a tracked model counts exactly; an untracked one replaces the smallest slot
    // and inherits its count as error, so every count is an over-estimate by at most `error` and memory is k slots.
    FollowerSlot* slots = state_.follower_slots.row(leader);
    ModelStats& stats = state_.stats[leader];
    stats.followers_stale = true;
    for (uint32_t i = 0; i < stats.followers_used; ++i) {
        if (slots[i].model == follower) {
            slots[i].count += weight;
            promote_follower(leader, i);
            return;
        }
    }
    if (stats.followers_used < config_.max_followers) {
        const uint32_t slot = stats.followers_used++;
        slots[slot] = FollowerSlot{follower, weight, 0};
        follower_order_.row(leader)[slot] = static_cast<uint8_t>(slot);
        promote_follower(leader, slot);
        return;
    }
    uint32_t smallest = 0;  // the first slot with the smallest count, in slot order
    for (uint32_t i = 1; i < stats.followers_used; ++i)
        if (slots[i].count < slots[smallest].count) smallest = i;
    slots[smallest] = FollowerSlot{follower, slots[smallest].count + weight, slots[smallest].count};
    promote_follower(leader, smallest);
}

void UsagePatternAnalyzer::promote_follower(warmup_model_index leader, uint32_t slot) {
    // The slot's count grew (weight >= 1), so every slot ordered after it still belongs after it; only those before
    // it may now belong behind it. One pass of insertion sort moves it into place: O(k), usually O(1).
    const FollowerSlot* slots = state_.follower_slots.row(leader);
    uint8_t* order = follower_order_.row(leader);
    uint32_t position = state_.stats[leader].followers_used - 1;
    while (order[position] != slot) --position;
    for (; position > 0 && follows_before(slots[order[position]], slots[order[position - 1]]); --position)
        std::swap(order[position], order[position - 1]);
}

void UsagePatternAnalyzer::calendar_to_shares(warmup_model_index model) {
    ModelStats& stats = state_.stats[model];
    double* row = state_.calendar.row(model);
    // One division, then multiplies of doubles (two per vector instruction): this and calendar_to_counts run once per
    // observed batch of the model (the replay's hot path).
    const double inverse_total = stats.request_count > 0 ? 1.0 / static_cast<double>(stats.request_count) : 0.0;
    for (uint32_t i = 0; i < kCalendarSlots; ++i) row[i] *= inverse_total;
    stats.calendar_in_shares = true;
}

void UsagePatternAnalyzer::calendar_to_counts(warmup_model_index model) {
    ModelStats& stats = state_.stats[model];
    double* row = state_.calendar.row(model);
    // Rounded to the nearest whole number in double arithmetic: adding and subtracting 1.5 x 2^52 leaves no fraction
    // for values from 0 to 2^51 (counts of requests are far below). Unlike a conversion to an integer and back, this
    // vectorises; it runs once per observed batch of the model and was the analyzer's costliest loop. Each value is a
    // whole count times its share, off by a few ulps, never near a half: it rounds to that count either way.
    constexpr double kRoundingBias = 0x1.8p52;
    const auto total = static_cast<double>(stats.request_count);
    for (uint32_t i = 0; i < kCalendarSlots; ++i) row[i] = (row[i] * total + kRoundingBias) - kRoundingBias;
    stats.calendar_in_shares = false;
}

uint64_t UsagePatternAnalyzer::calendar_count(warmup_model_index model, uint32_t slot) const {
    const double value = state_.calendar.row(model)[slot];
    const ModelStats& stats = state_.stats[model];
    return static_cast<uint64_t>(stats.calendar_in_shares ? value * static_cast<double>(stats.request_count) + 0.5
                                                          : value);
}

void UsagePatternAnalyzer::refresh_followers_view(warmup_model_index model) {
    // The order is maintained by add_follower; the shares change with every new arrival (their denominator).
    ModelStats& stats = state_.stats[model];
    const FollowerSlot* slots = state_.follower_slots.row(model);
    const uint8_t* order = follower_order_.row(model);
    warmup_follower* sorted = followers_sorted_.row(model);
    const double arrivals = static_cast<double>(std::max<uint64_t>(stats.arrival_count, 1));
    for (uint32_t i = 0; i < stats.followers_used; ++i) {
        const FollowerSlot& slot = slots[order[i]];
        // A count is at most the leader's arrivals (each counts for one follower at most), far below 2^63: int64's
        // conversion to double is one instruction where uint64's is a branchy sequence, and rounds the same way.
        const auto count = static_cast<double>(static_cast<int64_t>(slot.count));
        sorted[i] = warmup_follower{slot.model, static_cast<float>(std::min(1.0, count / arrivals))};
    }
    stats.followers_stale = false;
}

void UsagePatternAnalyzer::get_pattern(warmup_model_index model, warmup_usage_pattern& out) {
    warmup_usage_pattern pattern{};
    pattern.struct_size = sizeof pattern;
    pattern.model = model;
    pattern.idle_histogram_bins = config_.idle_bins;
    pattern.idle_bin_ms = config_.idle_bin_ms;
    if (model < state_.model_capacity && state_.stats[model].request_count > 0) {
        if (!state_.stats[model].calendar_in_shares) calendar_to_shares(model);
        if (state_.stats[model].followers_stale && config_.max_followers > 0) refresh_followers_view(model);
        const ModelStats& stats = state_.stats[model];
        pattern.request_count = stats.request_count;
        pattern.first_seen_ms = stats.first_seen_ms;
        pattern.last_seen_ms = stats.last_seen_ms;
        pattern.previous_seen_ms = stats.previous_seen_ms;
        pattern.ewma_rate_per_s = stats.ewma_rate_per_s;
        pattern.idle_histogram = state_.idle_histogram.row(model);
        pattern.idle_samples = stats.idle_samples;
        pattern.idle_out_of_range = stats.idle_out_of_range;
        pattern.hour_of_day = state_.calendar.row(model);
        pattern.day_of_week = pattern.hour_of_day + 24;
        pattern.followers = config_.max_followers > 0 ? followers_sorted_.row(model) : nullptr;
        pattern.follower_count = stats.followers_used;
    } else {
        pattern.first_seen_ms = pattern.last_seen_ms = pattern.previous_seen_ms = WARMUP_TIME_NEVER;
        pattern.idle_histogram = empty_histogram_.data();
        pattern.hour_of_day = empty_shares_.data();
        pattern.day_of_week = empty_shares_.data() + 24;
    }
    // Write only what the caller's (possibly older, shorter) struct has room for. The usual full-size caller gets a
    // fixed-size copy, which compiles to a few moves instead of a memmove call.
    const uint32_t caller_size = out.struct_size;
    if (caller_size >= sizeof pattern) {
        std::memcpy(&out, &pattern, sizeof pattern);
    } else {
        std::memcpy(&out, &pattern, caller_size);
        out.struct_size = caller_size;
    }
}

void UsagePatternAnalyzer::reset() {
    state_ = empty_state();
    followers_sorted_.clear();
    follower_order_.clear();
}

// Format v1 (all integers little-endian):
//   "WUPA" u32 version=1 u64 payload_length u64 fnv1a64(payload)
//   payload: u32 idle_bin_ms, u32 idle_bins, u32 max_followers, u32 model_count, then per model index:
//     u64 request_count, u64 arrival_count, i64 first_seen_ms, i64 last_seen_ms, i64 previous_seen_ms,
//     f64 ewma_rate_per_s, u64 idle_samples, u64 idle_out_of_range,
//     u32 nonzero_bins, {u32 bin, u32 count} * nonzero_bins (ascending bins),
//     u64 calendar_counts[31], u32 followers, {u32 model, u64 count, u64 error} * followers
//   then the follow run: u32 run_model, u32 pending, i64 arrival_ms * pending.
void UsagePatternAnalyzer::write_payload(const std::function<void(std::string_view)>& emit) const {
    // Handed on in blocks of about kBlockBytes: the whole payload (~500 bytes per model, megabytes at 10 k models)
    // is never held.
    constexpr std::size_t kBlockBytes = 32 * 1024;
    ByteWriter payload;
    payload.bytes().reserve(kBlockBytes + 4096);
    const auto hand_on = [&](bool always) {
        if (always || payload.bytes().size() >= kBlockBytes) {
            emit(payload.bytes());
            payload.bytes().clear();
        }
    };
    payload.u32(config_.idle_bin_ms);
    payload.u32(config_.idle_bins);
    payload.u32(config_.max_followers);
    payload.u32(state_.model_capacity);
    for (uint32_t model = 0; model < state_.model_capacity; ++model) {
        const ModelStats& stats = state_.stats[model];
        payload.u64(stats.request_count);
        payload.u64(stats.arrival_count);
        payload.i64(stats.first_seen_ms);
        payload.i64(stats.last_seen_ms);
        payload.i64(stats.previous_seen_ms);
        payload.f64(stats.ewma_rate_per_s);
        payload.u64(stats.idle_samples);
        payload.u64(stats.idle_out_of_range);
        const uint32_t* histogram = state_.idle_histogram.row(model);
        const auto nonzero = static_cast<uint32_t>(
            std::count_if(histogram, histogram + config_.idle_bins, [](uint32_t count) { return count != 0; }));
        payload.u32(nonzero);
        for (uint32_t bin = 0; bin < config_.idle_bins; ++bin) {
            if (histogram[bin] == 0) continue;
            payload.u32(bin);
            payload.u32(histogram[bin]);
        }
        for (uint32_t i = 0; i < kCalendarSlots; ++i) payload.u64(calendar_count(model, i));
        payload.u32(stats.followers_used);
        for (uint32_t i = 0; i < stats.followers_used; ++i) {
            const FollowerSlot& slot = state_.follower_slots.row(model)[i];
            payload.u32(slot.model);
            payload.u64(slot.count);
            payload.u64(slot.error);
        }
        hand_on(false);
    }
    payload.u32(state_.run_model);
    const std::size_t pending = state_.run_arrivals_ms.size() - state_.run_head;
    payload.u32(static_cast<uint32_t>(pending));
    for (std::size_t i = state_.run_head; i < state_.run_arrivals_ms.size(); ++i) {
        payload.i64(state_.run_arrivals_ms[i]);
        hand_on(false);
    }
    hand_on(true);
}

std::string UsagePatternAnalyzer::export_state() const {
    return sdk::StateWriter::collect([this](const sdk::StateWriter& out) { export_state_to(out); });
}

void UsagePatternAnalyzer::export_state_to(const sdk::StateWriter& out) const {
    // The header holds the payload's length and hash, so the payload is encoded twice: once to measure and hash it,
    // once to write it. Encoding is cheap next to holding megabytes.
    uint64_t length = 0;
    uint64_t hash = kFnvOffsetBasis;
    write_payload([&](std::string_view block) {
        length += block.size();
        hash = fnv1a64(block, hash);
    });
    ByteWriter header;
    header.bytes().append(kMagic, sizeof kMagic);
    header.u32(kFormatVersion);
    header.u64(length);
    header.u64(hash);
    out.write(header.bytes());
    write_payload([&](std::string_view block) { out.write(block); });
}

void UsagePatternAnalyzer::import_state(std::string_view data) {
    if (data.size() < kHeaderBytes || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0)
        corrupt("not a usage-pattern state (bad magic or shorter than its header)");
    ByteReader header(data.substr(sizeof kMagic));
    const uint32_t version = header.u32("version");
    if (version != kFormatVersion)
        throw sdk::Error(WARMUP_ERROR_UNSUPPORTED,
                         "usage-pattern state: format version " + std::to_string(version) + " is not supported (1)");
    const uint64_t payload_length = header.u64("payload length");
    const uint64_t checksum = header.u64("checksum");
    const std::string_view payload_bytes = data.substr(kHeaderBytes);
    if (payload_length != payload_bytes.size())
        corrupt("payload length " + std::to_string(payload_length) + " does not match the " +
                std::to_string(payload_bytes.size()) + " bytes received");
    if (fnv1a64(payload_bytes) != checksum) corrupt("checksum mismatch (bytes damaged in transit or storage)");

    ByteReader in(payload_bytes);
    const uint32_t source_bin_ms = in.u32("idle_bin_ms");
    const uint32_t source_bins = in.u32("idle_bins");
    const uint32_t source_max_followers = in.u32("max_followers");
    const uint32_t model_count = in.u32("model count");
    if (source_bin_ms == 0 || source_bins == 0 || source_bins > kMaxImportBins) corrupt("bad histogram geometry");
    if (model_count > in.remaining() / kMinModelRecordBytes) corrupt("model count exceeds the payload");

    // Build the replacement completely before touching state_ (import is all-or-nothing).
    State next = empty_state();
    if (model_count > 0) {
        next.stats.resize(model_count);
        next.idle_histogram.resize(model_count);
        next.calendar.resize(model_count);
        next.follower_slots.resize(model_count);
        next.model_capacity = model_count;
    }
    std::vector<FollowerSlot> imported_followers;
    for (uint32_t model = 0; model < model_count; ++model) {
        ModelStats& stats = next.stats[model];
        stats.request_count = in.u64("request_count");
        stats.arrival_count = in.u64("arrival_count");
        stats.first_seen_ms = in.i64("first_seen_ms");
        stats.last_seen_ms = in.i64("last_seen_ms");
        stats.previous_seen_ms = in.i64("previous_seen_ms");
        stats.ewma_rate_per_s = in.f64("ewma_rate_per_s");
        const uint64_t source_samples = in.u64("idle_samples");
        stats.idle_out_of_range = in.u64("idle_out_of_range");
        const std::string where = "model " + std::to_string(model) + ": ";
        if (stats.arrival_count > stats.request_count) corrupt(where + "more arrivals than requests");
        if (!std::isfinite(stats.ewma_rate_per_s) || stats.ewma_rate_per_s < 0) corrupt(where + "bad EWMA rate");
        if (stats.request_count == 0) {
            if (stats.arrival_count != 0 || stats.last_seen_ms != WARMUP_TIME_NEVER) corrupt(where + "inconsistent");
        } else if (stats.arrival_count == 0 || stats.first_seen_ms > stats.last_seen_ms ||
                   (stats.previous_seen_ms != WARMUP_TIME_NEVER && stats.previous_seen_ms >= stats.last_seen_ms)) {
            corrupt(where + "inconsistent timestamps");
        }

        const uint32_t nonzero = in.u32("nonzero bins");
        if (nonzero > source_bins) corrupt(where + "more histogram entries than bins");
        uint64_t sample_sum = 0;
        int64_t previous_bin = -1;
        uint32_t* histogram = next.idle_histogram.row(model);
        for (uint32_t i = 0; i < nonzero; ++i) {
            const uint32_t bin = in.u32("bin");
            const uint32_t count = in.u32("bin count");
            if (bin >= source_bins || static_cast<int64_t>(bin) <= previous_bin || count == 0)
                corrupt(where + "bad histogram entry");
            previous_bin = bin;
            sample_sum += count;
            // Re-bin when the geometry differs: the gap is placed at the middle of its source bin (exact when the
            // bin width is equal). Gaps beyond this instance's range move to idle_out_of_range.
            const uint64_t target =
                source_bin_ms == config_.idle_bin_ms
                    ? bin
                    : static_cast<uint64_t>((static_cast<double>(bin) + 0.5) * source_bin_ms / config_.idle_bin_ms);
            if (target < config_.idle_bins) {
                histogram[target] += count;
                stats.idle_samples += count;
            } else {
                stats.idle_out_of_range += count;
            }
        }
        if (sample_sum != source_samples) corrupt(where + "histogram does not add up to idle_samples");
        uint64_t calendar_hours = 0, calendar_days = 0;
        for (uint32_t i = 0; i < kCalendarSlots; ++i) {
            const uint64_t count = in.u64("calendar count");
            next.calendar.row(model)[i] = static_cast<double>(count);
            (i < 24 ? calendar_hours : calendar_days) += count;
        }
        if (calendar_hours != stats.request_count || calendar_days != stats.request_count)
            corrupt(where + "calendar counts do not add up to request_count");

        const uint32_t followers = in.u32("follower count");
        if (followers > source_max_followers) corrupt(where + "more followers than slots");
        imported_followers.clear();
        for (uint32_t i = 0; i < followers; ++i) {
            FollowerSlot slot;
            slot.model = in.u32("follower model");
            slot.count = in.u64("follower count");
            slot.error = in.u64("follower error");
            if (slot.model >= model_count || slot.model == model || slot.count == 0 || slot.error > slot.count)
                corrupt(where + "bad follower entry");
            imported_followers.push_back(slot);
        }
        // Fewer slots here than in the source: keep the largest counts (what space-saving would have kept).
        std::sort(imported_followers.begin(), imported_followers.end(),
                  [](const FollowerSlot& a, const FollowerSlot& b) { return a.count > b.count; });
        stats.followers_used = std::min<uint32_t>(followers, config_.max_followers);
        for (uint32_t i = 0; i < stats.followers_used; ++i) next.follower_slots.row(model)[i] = imported_followers[i];
        stats.calendar_in_shares = false;
        stats.followers_stale = true;
    }
    next.run_model = in.u32("run model");
    const uint32_t pending = in.u32("pending arrivals");
    if (next.run_model != WARMUP_NO_MODEL && next.run_model >= model_count) corrupt("run model out of range");
    if (pending > in.remaining() / 8) corrupt("pending arrivals exceed the payload");
    next.run_arrivals_ms.reserve(pending);
    for (uint32_t i = 0; i < pending; ++i) next.run_arrivals_ms.push_back(in.i64("pending arrival"));
    if (!std::is_sorted(next.run_arrivals_ms.begin(), next.run_arrivals_ms.end())) corrupt("pending arrivals unsorted");
    if (in.remaining() != 0) corrupt("trailing bytes after the state");

    // Commit: nothing below can throw except allocation of the derived views, which are rebuilt from scratch.
    sdk::ModelRows<warmup_follower> sorted(config_.max_followers);
    sdk::ModelRows<uint8_t> order(config_.max_followers);
    sorted.resize(next.stats.size());
    order.resize(next.stats.size());
    for (uint32_t model = 0; config_.max_followers > 0 && model < model_count; ++model) {
        const FollowerSlot* slots = next.follower_slots.row(model);
        uint8_t* model_order = order.row(model);
        const uint32_t used = next.stats[model].followers_used;
        for (uint32_t i = 0; i < used; ++i) model_order[i] = static_cast<uint8_t>(i);
        std::sort(model_order, model_order + used,
                  [slots](uint8_t a, uint8_t b) { return follows_before(slots[a], slots[b]); });
    }
    state_ = std::move(next);
    followers_sorted_ = std::move(sorted);
    follower_order_ = std::move(order);
}

// Per-model format (text, one record per line, after the schema line):
//   <idle_bin_ms> <idle_bins>
//   <request_count> <arrival_count> <first_seen_ms> <last_seen_ms> <previous_seen_ms> <ewma_rate_per_s>
//   <idle_samples> <idle_out_of_range>
//   <nonzero bins> then <bin> <count> per bin, ascending
//   <calendar count> x 31 (24 hours of the day, then 7 days of the week, UTC)
std::string UsagePatternAnalyzer::export_model_state(warmup_model_index model) const {
    if (model >= state_.model_capacity || state_.stats[model].request_count == 0) return {};
    const ModelStats& stats = state_.stats[model];
    std::string text = std::string(kStateSchema) + "\n";
    text += std::to_string(config_.idle_bin_ms) + ' ' + std::to_string(config_.idle_bins) + '\n';
    char rate[40];
    std::snprintf(rate, sizeof rate, "%.17g", stats.ewma_rate_per_s);
    text += std::to_string(stats.request_count) + ' ' + std::to_string(stats.arrival_count) + ' ' +
            std::to_string(stats.first_seen_ms) + ' ' + std::to_string(stats.last_seen_ms) + ' ' +
            std::to_string(stats.previous_seen_ms) + ' ' + rate + ' ' + std::to_string(stats.idle_samples) + ' ' +
            std::to_string(stats.idle_out_of_range) + '\n';
    const uint32_t* histogram = state_.idle_histogram.row(model);
    std::string bins;
    uint32_t nonzero = 0;
    for (uint32_t bin = 0; bin < config_.idle_bins; ++bin) {
        if (histogram[bin] == 0) continue;
        ++nonzero;
        bins += ' ' + std::to_string(bin) + ' ' + std::to_string(histogram[bin]);
    }
    text += std::to_string(nonzero) + bins + '\n';
    for (uint32_t i = 0; i < kCalendarSlots; ++i) {
        if (i > 0) text += ' ';
        text += std::to_string(calendar_count(model, i));
    }
    text += '\n';
    return text;
}

void UsagePatternAnalyzer::import_model_state(warmup_model_index model, std::string_view data) {
    if (model >= host().model_count())
        throw sdk::InvalidArgument("usage-pattern model state: model index " + std::to_string(model) +
                                   " is not in the catalog");
    sdk::StateTextReader reader(data, kStateSchema, [](const std::string& why) { corrupt("model state: " + why); });
    auto next_record = [&](const char* what) {
        if (!reader.next_record()) corrupt(std::string("model state: missing the ") + what + " line");
    };
    next_record("geometry");
    const auto bin_ms = reader.field<uint32_t>("(idle_bin_ms)");
    const auto bins = reader.field<uint32_t>("(idle_bins)");
    if (bin_ms != config_.idle_bin_ms || bins != config_.idle_bins)
        throw sdk::InvalidArgument("usage-pattern model state: histogram of " + std::to_string(bins) + " bins of " +
                                   std::to_string(bin_ms) + " ms, this instance has " +
                                   std::to_string(config_.idle_bins) + " of " + std::to_string(config_.idle_bin_ms) +
                                   " ms (give every node the same idle_bin_ms and idle_bins)");
    ModelStats stats;
    next_record("counts");
    stats.request_count = reader.field<uint64_t>("(request_count)");
    stats.arrival_count = reader.field<uint64_t>("(arrival_count)");
    stats.first_seen_ms = reader.field<int64_t>("(first_seen_ms)");
    stats.last_seen_ms = reader.field<int64_t>("(last_seen_ms)");
    stats.previous_seen_ms = reader.field<int64_t>("(previous_seen_ms)");
    stats.ewma_rate_per_s = reader.field<double>("(ewma_rate_per_s)");
    stats.idle_samples = reader.field<uint64_t>("(idle_samples)");
    stats.idle_out_of_range = reader.field<uint64_t>("(idle_out_of_range)");
    if (stats.request_count == 0 || stats.arrival_count == 0 || stats.arrival_count > stats.request_count)
        corrupt("model state: bad request or arrival count");
    if (!std::isfinite(stats.ewma_rate_per_s) || stats.ewma_rate_per_s < 0) corrupt("model state: bad EWMA rate");
    if (stats.first_seen_ms > stats.last_seen_ms ||
        (stats.previous_seen_ms != WARMUP_TIME_NEVER && stats.previous_seen_ms >= stats.last_seen_ms))
        corrupt("model state: inconsistent timestamps");
    next_record("histogram");
    std::vector<uint32_t> histogram(config_.idle_bins, 0);
    const auto nonzero = reader.field<uint32_t>("(nonzero bins)");
    if (nonzero > config_.idle_bins) corrupt("model state: more histogram entries than bins");
    uint64_t sample_sum = 0;
    int64_t previous_bin = -1;
    for (uint32_t i = 0; i < nonzero; ++i) {
        const auto bin = reader.field<uint32_t>("(bin)");
        const auto count = reader.field<uint32_t>("(bin count)");
        if (bin >= config_.idle_bins || static_cast<int64_t>(bin) <= previous_bin || count == 0)
            corrupt("model state: bad histogram entry");
        previous_bin = bin;
        histogram[bin] = count;
        sample_sum += count;
    }
    if (sample_sum != stats.idle_samples) corrupt("model state: histogram does not add up to idle_samples");
    if (!reader.at_record_end()) corrupt("model state: trailing characters after the histogram");
    next_record("calendar");
    std::array<uint64_t, kCalendarSlots> calendar{};
    uint64_t hours = 0, days = 0;
    for (uint32_t i = 0; i < kCalendarSlots; ++i) {
        calendar[i] = reader.field<uint64_t>("(calendar count)");
        (i < 24 ? hours : days) += calendar[i];
    }
    if (hours != stats.request_count || days != stats.request_count)
        corrupt("model state: calendar counts do not add up to request_count");
    if (!reader.at_record_end() || reader.next_record()) corrupt("model state: trailing data");

    // Commit (only allocation can throw before anything changes: grow_to first).
    grow_to(model + 1);
    stats.followers_used = 0;
    stats.calendar_in_shares = false;
    stats.followers_stale = true;
    state_.stats[model] = stats;
    std::copy(histogram.begin(), histogram.end(), state_.idle_histogram.row(model));
    std::transform(calendar.begin(), calendar.end(), state_.calendar.row(model),
                   [](uint64_t count) { return static_cast<double>(count); });
    std::fill_n(state_.follower_slots.row(model), config_.max_followers, FollowerSlot{});
}

void UsagePatternAnalyzer::forget_model_state(warmup_model_index model) {
    if (model >= state_.model_capacity) return;
    state_.stats[model] = ModelStats{};
    std::fill_n(state_.idle_histogram.row(model), config_.idle_bins, 0U);
    std::fill_n(state_.calendar.row(model), kCalendarSlots, 0.0);
    std::fill_n(state_.follower_slots.row(model), config_.max_followers, FollowerSlot{});
    if (state_.run_model == model) {
        state_.run_model = WARMUP_NO_MODEL;
        state_.run_arrivals_ms.clear();
        state_.run_head = 0;
    }
}

}  // namespace warmup::plugins
