// http/history_endpoint.hpp — GET /api/warmup/history: the counters warmupd wrote to its metrics history
// (runtime/state/metrics_history.hpp) at every snapshot, over a time window, as JSON.
//
// Query: `?since_ms=&until_ms=`, both optional, milliseconds since the Unix epoch (default: the last hour up to now);
// a sample at since_ms or until_ms is included. Answer:
//
//   {"enabled": true, "since_ms": ..., "until_ms": ..., "counters": ["requests", "cold_requests", ...],
//    "samples": [{"t_ms": ..., "requests": 120, "cold_requests": 3, ...}, ...],   oldest first
//    "thinned_to_every": 1}
//
// The counters are cumulative (since the state was first kept; they are restored with a snapshot), so the change
// between two samples is what happened between them; `used_mb` is the memory in use at the sample. More than
// kMaxHistorySamples samples in the window are thinned to every k-th (`thinned_to_every`: k), the newest always
// kept, which keeps the answer small and loses no count. A daemon that keeps no history (no state folder, or
// state.history_retention_h: 0) answers {"enabled": false, "reason": ..., "samples": []}. A bad parameter is a 400
// whose `error` starts with the parameter's name.
//
// Pure function of its arguments apart from reading the history files: any thread (MetricsHistory has its own lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/state/metrics_history.hpp"

namespace warmup::host {

/// The most samples one answer lists (a week of the default 60 s snapshots is 10,080).
inline constexpr std::size_t kMaxHistorySamples = 5000;

/// The window when the query names none: the last hour.
inline constexpr int64_t kDefaultHistoryWindowMs = 3600 * 1000;

struct HistoryAnswer {
    int status = 200;
    nlohmann::json body;
};

/// The answer for the query `params` (name -> value, as cpp-httplib parses them), reading `history` (null when the
/// daemon keeps none); `now_unix_ms` is the wall clock, the default end of the window.
[[nodiscard]] HistoryAnswer history_answer(const MetricsHistory* history,
                                           const std::multimap<std::string, std::string>& params, int64_t now_unix_ms);

}  // namespace warmup::host
