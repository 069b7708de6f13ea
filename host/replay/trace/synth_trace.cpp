// replay/trace/synth_trace.cpp — generates the events of a synth::Scenario, one local day at a time per model.
//
// Each model with a rhythm is one TraceReader. It walks the model's local days (its time zone's midnights); for a day
// it draws the day's session starts (a Poisson process over a piecewise-constant rate, or the periodic schedule),
// then each session's requests and its followers' requests, into a min-heap, and hands out the heap's events that
// come before the next local midnight (no later session can start earlier). Memory: one day of one model's events
// plus the sessions that spill over midnight. The readers are merged by the k-way merge of trace.cpp.
//
// Random streams (random.hpp), all seeded from (seed, a name), so adding or removing a model leaves the others'
// events unchanged: "<model>" draws its sessions, "<model>#activity" its activity factor, and "<leader>-><follower>"
// decides and places the follow-ups. Requests of one model in the same millisecond become one event with their count.
#include "replay/trace/synth_trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <queue>

#include "replay/trace/line_reader.hpp"
#include "replay/trace/random.hpp"

namespace warmup::host::replay::synth {
namespace {

constexpr int64_t day_ms = 86'400'000;
constexpr double hour_ms = 3.6e6;
constexpr double minute_ms = 6e4;
constexpr int64_t monday_reference_epoch_ms = 4 * day_ms;  // 1970-01-05 00:00, a Monday
constexpr uint32_t max_requests_per_session = 1'000'000;
constexpr int poisson_slots_per_day = 288;  // the diurnal cosine is held constant over 5-minute slots

int64_t floor_divide(int64_t value, int64_t divisor) noexcept {
    const int64_t quotient = value / divisor;
    return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient;
}

/// Whether a local day (days since 1970-01-01, a Thursday) is a Saturday or a Sunday.
bool is_weekend(int64_t local_day) noexcept {
    const int64_t weekday = local_day + 3 - floor_divide(local_day + 3, 7) * 7;  // 0 = Monday
    return weekday >= 5;
}

/// Draws a Spread: Gamma(shape 1/cv^2, scale mean cv^2), or the mean itself when cv is 0.
class SpreadSampler {
  public:
    explicit SpreadSampler(const Spread& spread) : mean_(spread.mean) {
        if (spread.cv > 0) gamma_.emplace(1.0 / (spread.cv * spread.cv), spread.mean * spread.cv * spread.cv);
    }
    double operator()(RandomStream& random) const { return gamma_ ? (*gamma_)(random) : mean_; }

  private:
    double mean_;
    std::optional<GammaSampler> gamma_;
};

uint32_t draw_count(const CountRange& range, RandomStream& random) {
    return range.min == range.max ? range.min : range.min + random.below(range.max - range.min + 1);
}

/// A rhythm with its samplers built once.
struct Phase {
    Phase(int64_t from, const Rhythm& r)
        : from_ms(from), rhythm(r), session_minutes(r.session_minutes), request_gap_ms(gap_spread(r)) {}

    static Spread gap_spread(const Rhythm& r) {
        return {minute_ms / r.requests_per_minute.mean, r.requests_per_minute.cv};
    }

    int64_t from_ms;
    Rhythm rhythm;
    SpreadSampler session_minutes;
    SpreadSampler request_gap_ms;  // working_hours: the gaps between a session's requests
};

struct FollowerPlan {
    uint32_t model;
    uint32_t tenant;
    int64_t begin_ms;  // the follower's life: requests outside are dropped
    int64_t end_ms;
    Follower params;
    RandomStream random;
};

/// A constant rate of session starts over [begin, end) ms of a local day.
struct RateSlot {
    double begin_ms;
    double end_ms;
    double per_ms;
};

struct Later {
    bool operator()(const TraceEvent& a, const TraceEvent& b) const noexcept {
        return a.ts_ms != b.ts_ms ? a.ts_ms > b.ts_ms : a.model > b.model;
    }
};

class ModelGenerator final : public TraceReader {
  public:
    ModelGenerator(const ModelSpec& spec, uint32_t model, uint32_t tenant, int64_t start_epoch_ms, uint64_t seed,
                   std::vector<FollowerPlan> followers)
        : model_(model),
          tenant_(tenant),
          begin_ms_(spec.appears_ms),
          end_ms_(spec.retires_ms),
          local_offset_ms_(start_epoch_ms + std::llround(spec.timezone_offset_h * hour_ms)),
          random_(series_seed(seed, spec.name)),
          followers_(std::move(followers)),
          name_(spec.name) {
        for (const RhythmPhase& phase : spec.phases) phases_.emplace_back(phase.from_ms, phase.rhythm);
        activity_ = spec.activity_min;
        if (spec.activity_max > spec.activity_min) {
            RandomStream activity_random(series_seed(seed, spec.name + "#activity"));
            const double low = std::log(spec.activity_min), high = std::log(spec.activity_max);
            activity_ = std::exp(low + activity_random.uniform01() * (high - low));
        }
        local_day_ = floor_divide(begin_ms_ + local_offset_ms_, day_ms);
    }

    bool next(TraceEvent& out) override {
        for (;;) {
            if (!pending_.empty() && pending_.top().ts_ms < ready_before_ms_) {
                out = pending_.top();
                pending_.pop();
                while (!pending_.empty() && pending_.top().ts_ms == out.ts_ms && pending_.top().model == out.model) {
                    out.count += pending_.top().count;
                    pending_.pop();
                }
                return true;
            }
            if (ready_before_ms_ == std::numeric_limits<int64_t>::max()) return false;
            if (local_day_ * day_ms - local_offset_ms_ >= end_ms_) {
                ready_before_ms_ = std::numeric_limits<int64_t>::max();  // all generated: drain
                continue;
            }
            generate_local_day();
        }
    }

    [[nodiscard]] std::string describe() const override { return "synth model " + name_; }

  private:
    void generate_local_day() {
        const int64_t day_begin = local_day_ * day_ms - local_offset_ms_;
        const int64_t day_end = day_begin + day_ms;
        const bool weekend = is_weekend(local_day_);
        const int64_t low = std::max(day_begin, begin_ms_);
        const int64_t high = std::min(day_end, end_ms_);
        for (std::size_t i = 0; i < phases_.size(); ++i) {
            const int64_t phase_end =
                i + 1 < phases_.size() ? phases_[i + 1].from_ms : std::numeric_limits<int64_t>::max();
            const int64_t from = std::max(low, phases_[i].from_ms);
            const int64_t to = std::min(high, phase_end);
            if (from >= to) continue;
            if (phases_[i].rhythm.kind == RhythmKind::periodic) {
                fire_periodic(phases_[i], from, to);
            } else {
                draw_sessions(phases_[i], day_begin, weekend, from, to);
            }
        }
        ++local_day_;
        ready_before_ms_ = day_end;
    }

    /// The session-start rate over a local day, by kind (activity and weekend included).
    std::vector<RateSlot> rate_slots(const Rhythm& r, bool weekend) const {
        const double factor = activity_ * (weekend ? r.weekend_factor : 1.0);
        std::vector<RateSlot> slots;
        if (factor <= 0) return slots;
        if (r.kind == RhythmKind::working_hours) {
            const double lunch_hours = std::max(0.0, r.lunch_end_h - r.lunch_begin_h);
            const double effective_hours =
                (r.hours_end_h - r.hours_begin_h - lunch_hours) + r.lunch_factor * lunch_hours;
            if (effective_hours <= 0) return slots;
            const double per_ms = r.sessions_per_day * factor / effective_hours / hour_ms;
            if (lunch_hours > 0) {
                slots.push_back({r.hours_begin_h * hour_ms, r.lunch_begin_h * hour_ms, per_ms});
                slots.push_back({r.lunch_begin_h * hour_ms, r.lunch_end_h * hour_ms, per_ms * r.lunch_factor});
                slots.push_back({r.lunch_end_h * hour_ms, r.hours_end_h * hour_ms, per_ms});
            } else {
                slots.push_back({r.hours_begin_h * hour_ms, r.hours_end_h * hour_ms, per_ms});
            }
            return slots;
        }
        const double per_ms = r.occurrences_per_hour * factor / hour_ms;
        if (r.kind == RhythmKind::rare || r.diurnal_amplitude == 0) {
            slots.push_back({0, static_cast<double>(day_ms), per_ms});
            return slots;
        }
        const double slot_ms = static_cast<double>(day_ms) / poisson_slots_per_day;
        for (int slot = 0; slot < poisson_slots_per_day; ++slot) {
            const double middle_h = (slot + 0.5) * slot_ms / hour_ms;
            const double shape =
                1 + r.diurnal_amplitude * std::cos(2 * std::numbers::pi * (middle_h - r.peak_hour) / 24);
            slots.push_back({slot * slot_ms, (slot + 1) * slot_ms, per_ms * shape});
        }
        return slots;
    }

    /// Poisson session starts in [from, to) (trace ms) of the local day that begins at day_begin.
    void draw_sessions(const Phase& phase, int64_t day_begin, bool weekend, int64_t from, int64_t to) {
        for (const RateSlot& slot : rate_slots(phase.rhythm, weekend)) {
            if (slot.per_ms <= 0) continue;
            const double begin = std::max(static_cast<double>(day_begin) + slot.begin_ms, static_cast<double>(from));
            const double end = std::min(static_cast<double>(day_begin) + slot.end_ms, static_cast<double>(to));
            for (double t = begin;;) {
                t += random_.exponential() / slot.per_ms;
                if (t >= end) break;
                session(phase, t);
            }
        }
    }

    /// The periodic firings scheduled in [from, to): local times t with (t - Monday 00:00) mod every == at.
    void fire_periodic(const Phase& phase, int64_t from, int64_t to) {
        const Rhythm& r = phase.rhythm;
        const int64_t shift = local_offset_ms_ - monday_reference_epoch_ms;  // trace ms + shift = ms since a Monday
        const int64_t periods = floor_divide(from + shift - r.at_ms + r.every_ms - 1, r.every_ms);  // ceiling
        for (int64_t scheduled = periods * r.every_ms + r.at_ms - shift; scheduled < to; scheduled += r.every_ms) {
            const int64_t local_day = floor_divide(scheduled + local_offset_ms_, day_ms);
            const bool weekend = is_weekend(local_day);
            const double probability = r.probability * (weekend ? r.weekend_factor : 1.0);
            const double coin = random_.uniform01();
            const double jitter = random_.uniform01();
            if (coin >= probability) continue;
            session(phase, static_cast<double>(scheduled) + jitter * r.jitter_minutes * minute_ms);
        }
    }

    /// One session starting at `start` (trace ms): its requests, then its followers'.
    void session(const Phase& phase, double start) {
        const Rhythm& r = phase.rhythm;
        const double first = start;  // every kind puts its first request at the start
        double last = start;
        const auto request = [&](double t, uint32_t count) {
            last = std::max(last, t);
            push(model_, tenant_, t, count, begin_ms_, end_ms_);
        };
        switch (r.kind) {
            case RhythmKind::working_hours: {
                const double end = start + phase.session_minutes(random_) * minute_ms;
                uint32_t made = 0;
                for (double t = start; (t < end || made == 0) && made < max_requests_per_session; ++made) {
                    request(t, 1);
                    t += phase.request_gap_ms(random_);
                }
                break;
            }
            case RhythmKind::periodic: {
                const uint32_t count = draw_count(r.burst_requests, random_);
                const double spread_ms = r.burst_minutes * minute_ms;
                if (spread_ms <= 0) {
                    request(start, count);
                    break;
                }
                request(start, 1);  // the job's first request opens the burst
                for (uint32_t i = 1; i < count; ++i) request(start + random_.uniform01() * spread_ms, 1);
                break;
            }
            case RhythmKind::poisson:
            case RhythmKind::rare: {
                const uint32_t count = draw_count(r.requests, random_);
                double t = start;
                for (uint32_t i = 0; i < count; ++i) {
                    request(t, 1);
                    t += random_.exponential() * r.request_gap_seconds * 1000;
                }
                break;
            }
        }
        for (FollowerPlan& follower : followers_) follow(follower, first, last);
    }

    void follow(FollowerPlan& f, double first, double last) {
        const Follower& p = f.params;
        const double coin = f.random.uniform01();
        if (coin >= p.probability) return;
        const double delay = p.delay_min_minutes + f.random.uniform01() * (p.delay_max_minutes - p.delay_min_minutes);
        double t = (p.after_end ? last : first) + delay * minute_ms;
        const uint32_t count = draw_count(p.requests, f.random);
        for (uint32_t i = 0; i < count; ++i) {
            push(f.model, f.tenant, t, 1, f.begin_ms, f.end_ms);
            t += f.random.exponential() * p.gap_seconds * 1000;
        }
    }

    void push(uint32_t model, uint32_t tenant, double t, uint32_t count, int64_t begin_ms, int64_t end_ms) {
        const auto ts = static_cast<int64_t>(std::floor(t));
        if (ts < begin_ms || ts >= end_ms) return;
        pending_.push(TraceEvent{ts, model, count, tenant});
    }

    uint32_t model_;
    uint32_t tenant_;
    int64_t begin_ms_;
    int64_t end_ms_;
    int64_t local_offset_ms_;  // trace ms + this = local wall-clock ms since 1970-01-01
    RandomStream random_;
    std::vector<FollowerPlan> followers_;
    std::string name_;
    std::vector<Phase> phases_;
    double activity_ = 1;
    int64_t local_day_ = 0;  // the next local day to generate (days since 1970-01-01, local)
    int64_t ready_before_ms_ = std::numeric_limits<int64_t>::min();
    std::priority_queue<TraceEvent, std::vector<TraceEvent>, Later> pending_;
};

}  // namespace

std::unique_ptr<TraceReader> generate_scenario(const Scenario& scenario, ModelNames& models, ModelNames& tenants,
                                               uint64_t seed, std::string source) {
    if (tenants.size() == 0) tenants.intern("");
    std::vector<uint32_t> model_ids, tenant_ids;
    for (const ModelSpec& spec : scenario.models) {
        model_ids.push_back(models.intern(spec.name));
        tenant_ids.push_back(spec.tenant.empty() ? 0 : tenants.intern(spec.tenant));
    }
    std::vector<std::unique_ptr<TraceReader>> generators;
    for (std::size_t i = 0; i < scenario.models.size(); ++i) {
        const ModelSpec& spec = scenario.models[i];
        if (spec.phases.empty()) continue;  // requested only as a follower
        std::vector<FollowerPlan> followers;
        for (const Follower& follower : spec.followers) {
            const auto target =
                static_cast<std::size_t>(std::find_if(scenario.models.begin(), scenario.models.end(),
                                                      [&](const ModelSpec& m) { return m.name == follower.model; }) -
                                         scenario.models.begin());
            if (target == scenario.models.size())
                throw std::invalid_argument("generate_scenario: follower '" + follower.model + "' is not a model");
            const ModelSpec& to = scenario.models[target];
            followers.push_back({model_ids[target], tenant_ids[target], to.appears_ms, to.retires_ms, follower,
                                 RandomStream(series_seed(seed, spec.name + "->" + follower.model))});
        }
        generators.push_back(std::make_unique<ModelGenerator>(spec, model_ids[i], tenant_ids[i],
                                                              scenario.start_epoch_ms, seed, std::move(followers)));
    }
    std::string description =
        fmt::format("{} ({} models, {} days, seed {})", source, scenario.models.size(),
                    static_cast<double>(scenario.duration_ms) / static_cast<double>(day_ms), seed);
    return merge_described(std::move(generators), std::move(description));
}

}  // namespace warmup::host::replay::synth

namespace warmup::host::replay {

std::unique_ptr<TraceReader> open_synth_trace(const std::filesystem::path& file, ModelNames& models,
                                              ModelNames& tenants, uint64_t seed) {
    const synth::Scenario scenario = synth::load_scenario(file);
    return synth::generate_scenario(scenario, models, tenants, seed, "synth:" + file.string());
}

}  // namespace warmup::host::replay
