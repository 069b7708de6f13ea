// replay/trace/synth_trace.hpp — the scenario generator behind `synth:FILE.yaml` (internal to the trace readers).
//
// A scenario file describes a population of models and the human rhythms that drive them (working hours in a time
// zone, weekdays, lunch gaps, editing sessions, periodic jobs, rare use, successions, appearance and drift mid-trace).
// load_scenario() validates it into a Scenario (plain values); open_synth_trace() turns that into a time-ordered
// stream of events, the same events for the same seed. The format is specified in docs/scenarios.md.
//
// Errors: every problem of a scenario file is a TraceError located at the YAML node, "<file>:<line>:<col>: <key.path>:
// <message>" (key paths like "models[2].rhythm.hours"). Units are in the names: *_ms in milliseconds since the trace
// origin (ts 0), *_h in hours, *_minutes in minutes. Thread-safety: none (values; the reader belongs to one thread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "replay/trace/trace.hpp"

namespace warmup::host::replay::synth {

/// A positive quantity drawn per use from a Gamma distribution with this mean and coefficient of variation
/// (cv 0: always the mean; cv 1: exponential; cv > 1: bursty).
struct Spread {
    double mean = 1;
    double cv = 1;
};

/// A whole number drawn uniformly from [min, max] (both included).
struct CountRange {
    uint32_t min = 1;
    uint32_t max = 1;
};

enum class RhythmKind { working_hours, periodic, poisson, rare };

/// What starts the sessions of a model, and what a session is. Fields that a kind does not use keep their defaults.
struct Rhythm {
    RhythmKind kind = RhythmKind::poisson;
    double weekend_factor = 1;  ///< rate multiplier (working_hours, poisson, rare) or firing probability (periodic)
                                ///< on local Saturdays and Sundays

    // working_hours: sessions start as a Poisson process inside [hours_begin_h, hours_end_h) local time, at
    // lunch_factor of the rate inside the lunch span, sessions_per_day expected per full weekday.
    double hours_begin_h = 9;
    double hours_end_h = 17;
    double lunch_begin_h = 0;  ///< lunch_begin_h == lunch_end_h: no lunch span
    double lunch_end_h = 0;
    double lunch_factor = 0.2;
    double sessions_per_day = 1;
    Spread session_minutes{20, 1};
    Spread requests_per_minute{1, 1};  ///< within a session: gaps are Gamma, mean 60/mean s, the given cv

    // periodic: one burst at every local time t with (t - Monday 00:00) mod every_ms == at_ms, started up to
    // jitter_minutes late, with `probability`; burst_requests spread uniformly over burst_minutes.
    int64_t every_ms = 86'400'000;
    int64_t at_ms = 0;
    double jitter_minutes = 0;
    CountRange burst_requests{1, 1};
    double burst_minutes = 0;
    double probability = 1;

    // poisson and rare: occurrences as a Poisson process (rare: rate 1/mean_gap_hours), poisson optionally shaped
    // by a daily cosine; each occurrence is `requests` requests, the first at its start, then exponential gaps.
    double occurrences_per_hour = 1;
    double diurnal_amplitude = 0;  ///< 0..1: rate x (1 + a cos(2 pi (hour - peak_hour) / 24))
    double peak_hour = 14;
    CountRange requests{1, 1};
    double request_gap_seconds = 20;
};

/// From `from_ms` on (until the next phase), the model follows `rhythm`.
struct RhythmPhase {
    int64_t from_ms = 0;
    Rhythm rhythm;
};

/// After each session of the leader, with `probability`, the follower gets `requests` requests: the first
/// delay_min..delay_max minutes (uniform) after the leader session's first request (after_end: its last), then
/// exponential gaps of mean gap_seconds.
struct Follower {
    std::string model;  ///< the follower's name, {i} already expanded with the leader's instance index
    double probability = 1;
    double delay_min_minutes = 0;
    double delay_max_minutes = 0;
    CountRange requests{1, 1};
    double gap_seconds = 30;
    bool after_end = false;
};

/// One model of the trace (a `count` entry is expanded into `count` of these).
struct ModelSpec {
    std::string name;
    std::string tenant;               ///< "" = none
    double timezone_offset_h = 0;     ///< local time = UTC + offset
    int64_t appears_ms = 0;           ///< no requests before
    int64_t retires_ms = 0;           ///< no requests at or after (the trace's duration when not given)
    double activity_min = 1;          ///< the rates are multiplied by a factor drawn log-uniformly from [min, max]
    double activity_max = 1;          ///< (per model, from its own random stream)
    std::vector<RhythmPhase> phases;  ///< increasing from_ms; empty: requests only as a follower
    std::vector<Follower> followers;
};

struct Scenario {
    int64_t duration_ms = 0;
    int64_t start_epoch_ms = 0;     ///< the UTC wall-clock time of ts 0 (ms since 1970-01-01); sets weekdays and hours
    std::vector<ModelSpec> models;  ///< in file order, names unique, every follower names one of them
};

/// Reads and validates a scenario file. Throws TraceError located at the offending node (or "<file>: ..." when the
/// file cannot be read).
Scenario load_scenario(const std::filesystem::path& file);

/// The events of `scenario`: one generator per model with a rhythm, seeded from (seed, model name), merged. Models
/// (and tenants) are interned in scenario order. `source` names the trace in describe().
std::unique_ptr<TraceReader> generate_scenario(const Scenario& scenario, ModelNames& models, ModelNames& tenants,
                                               uint64_t seed, std::string source);

}  // namespace warmup::host::replay::synth

namespace warmup::host::replay {

/// open_trace's factory for `synth:FILE.yaml`: load_scenario + generate_scenario.
std::unique_ptr<TraceReader> open_synth_trace(const std::filesystem::path& file, ModelNames& models,
                                              ModelNames& tenants, uint64_t seed);

}  // namespace warmup::host::replay
