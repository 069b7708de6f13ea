// replay/replay_driver.hpp — warmup-replay's core: the same engine and plugins as the daemon, on a virtual clock.
//
// Event order at equal timestamps: load completions, then requests, then timers (a request at t cancels an unload
// due at t; a load that completes at t serves a request arriving at t). Loads take the time the backend's
// simulation extension says. Arms are independent engines fed the same events; they run in parallel (TBB), and
// their results do not depend on the interleaving. Besides the configured arms, a hidden keep-forever arm with
// unlimited memory measures the compulsory cold requests, and --frontier adds the keep-alive curve arms
// (docs/simulation-rules.md, section 8).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "replay/replay_report.hpp"
#include "replay/trace/trace.hpp"

namespace warmup::host::replay {

struct ReplayOptions {
    std::vector<std::string> traces;  ///< trace specs: csv:PATH, servegen:DIR, azure2019:FILE
    std::optional<uint64_t> seed;     ///< overrides replay.seed
    std::optional<int64_t> from_ms;   ///< replay only events in [from, to)
    std::optional<int64_t> to_ms;
    std::vector<std::string> only_arms;  ///< empty = every arm of the config
    bool progress = false;               ///< progress line on stderr
    bool frontier = false;               ///< add the keep-alive curve arms (as does replay.frontier: true)
    /// Keep-alive timers to run beside the curve, in minutes (> 0): one arm `keepalive-<K>m` each, built like a curve
    /// arm (the top-level components with keep-alive and LRU eviction) but reported as an arm with its ratio, for what
    /// a timer holding a given memory does between the curve's points.
    std::vector<double> keep_alive_minutes;
};

/// Runs every arm over the traces and returns the measurements. Throws ConfigError-like std::runtime_error for a
/// model the catalog does not cover, TraceError for a bad trace line, StartupError for a plugin that cannot start.
ReplayReport run_replay(const Config& config, const ReplayOptions& options);

/// The traces of `options` (paths relative to the working folder), merged, clipped to --from/--to and bounded in
/// time (trace.hpp, bound_span); a fresh reader per pass, since readers stream. Models and tenants are interned into
/// the tables, which must outlive the reader.
std::unique_ptr<TraceReader> open_traces(const ReplayOptions& options, uint64_t seed, ModelNames& models,
                                         ModelNames& tenants);

/// What a replay says when the traces hold no event: "... in [from, to)" when a range was chosen.
std::string no_event_message(const ReplayOptions& options);

/// Writes the merged event stream of `options.traces` (clipped, seeded) in the native CSV format and returns how many
/// events it wrote. Throws, and leaves no file, when the traces fail or hold no event.
uint64_t dump_events(const Config& config, const ReplayOptions& options, const std::filesystem::path& file);

}  // namespace warmup::host::replay
