// replay/frontier.hpp — the frontier of warmup-replay: compulsory and avoidable cold requests, the keep-alive curve,
// and each arm's ratio to that curve (docs/simulation-rules.md, section 8).
//
// - Compulsory cold requests are measured by the driver (a hidden keep-forever arm with unlimited memory); here they
//   are only subtracted: avoidable = cold - compulsory, clamped at 0.
// - The keep-alive curve is the set of curve arms (ArmResult::frontier_curve) that --frontier adds: one point per TTL,
//   x = loaded GB·h, y = avoidable cold requests (or the per-model p75 cold rate).
// - A value "on the curve" at x is the linear interpolation between the two curve points whose loaded GB·h surround
//   x, clamped to the first (last) point's value below (above) the curve's range.
// - The curve's timers evict by LRU whatever the configured resource is (kKeepAliveCurveResourceId).
// Pure functions on values: no state, callable from any thread. Units as in ArmResult (GB = 1024 MiB).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "replay/replay_report.hpp"

namespace warmup::host::replay {

/// The keep-alive TTLs of the curve, in minutes, in the order the curve arms are added.
inline constexpr std::array<int64_t, 9> kKeepAliveCurveMinutes = {1, 2, 5, 10, 20, 30, 60, 120, 240};

/// The plugin every curve arm runs in the predictor slot, with params `ttl_ms: <TTL>`.
inline constexpr const char* kKeepAlivePredictorId = "org.warmup.predictor.keep-alive";

/// The plugin every curve arm runs in the resource slot, whatever the configuration's resource is: the curve is what
/// memory buys without prediction, so its timers evict the least recently used model when the budget binds rather
/// than borrow a predicting rule (value, Greedy-Dual) that would move the yardstick with the policy under test.
inline constexpr const char* kKeepAliveCurveResourceId = "org.warmup.resource.lru";

/// The params of the configured resource a curve arm keeps: the budget cap and admission rule every resource plugin
/// shipped here shares with LRU (plugins/resource/common/memory_admission.hpp), so the timers run under the same
/// effective budget. Every other param belongs to the configured plugin and is dropped.
inline constexpr std::array<const char*, 5> kKeepAliveCurveResourceParams = {
    "host_limit", "reserve_mb", "prewarm_may_evict", "cgroup_memory_max_path", "meminfo_path"};

/// `base`, made distinct from every name in `taken` by a "-2", "-3", ... suffix.
std::string distinct_arm_name(const std::string& base, const std::vector<std::string>& taken);

/// "keepalive-curve-<minutes>m", made distinct from every name in `taken` (distinct_arm_name).
std::string keepalive_curve_arm_name(int64_t minutes, const std::vector<std::string>& taken);

/// One point of the curve: an arm's loaded memory-time and the value read off it.
struct CurvePoint {
    double loaded_gb_h = 0;
    double value = 0;
};

/// The curve's value at `loaded_gb_h`: points are ordered by loaded_gb_h (equal ones keep their given order);
/// between two neighbours the value is interpolated linearly, below the first point it is the first point's value,
/// above the last the last's. Points with a non-finite coordinate are ignored. nullopt when no point is left or
/// `loaded_gb_h` is not finite.
std::optional<double> interpolate_on_curve(std::vector<CurvePoint> points, double loaded_gb_h);

/// `arm_avoidable / curve_avoidable`; 1.0 when both are 0 (the arm is exactly as good as the timer: both at the
/// floor); nullopt when the curve is at 0 and the arm is not (no finite ratio) or an input is not finite.
std::optional<double> keepalive_curve_ratio(double arm_avoidable, double curve_avoidable);

/// Fills every arm's avoidable_cold_requests from report.compulsory_cold_requests and, when the report holds curve
/// arms, every other arm's keepalive_curve_ratio and keepalive_curve_p75_cold_rate; the others stay nullopt.
void apply_frontier(ReplayReport& report);

}  // namespace warmup::host::replay
