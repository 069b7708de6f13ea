// http/daemon_metrics.hpp — the daemon's own Prometheus series, appended on GET /metrics to the text of the metrics
// plugin (which renders what the engines report through metric events: requests, warm-ups, histograms ...).
//
// What the host knows and no plugin sees: the build and start time, ingest refusals, the numbers of
// /api/warmup/status that no metric event carries (failed requests, given-up loads, plugin errors, demand loads,
// pre-warms started, loads that waited for memory, loads in flight, memory waiters, the budget, the memory being
// unloaded, how many models are ready / loading / queued), the circuit breaker
// of every engine component, reload outcomes, reconciliation drift, the age of the newest state snapshot, each
// source's health, the emergency stop, safe mode and which component of /api/warmup/health/components is degraded and,
// on a fleet node (`cluster:`), the node's counters (warmup_fleet_*).
//
// Guarantees: base units only (bytes, seconds); every family has HELP and TYPE and a name that no plugin family uses,
// so the whole page passes `promtool check metrics`; per-arm series carry the label arm (the arm's name, "control"
// for the top-level components, as the metric events do); daemon-wide series (build, start, refusals, reloads,
// snapshots) have no arm. Label values are escaped. The values are a copy taken on the control thread
// (DaemonMetrics); rendering is a pure function of it, any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster/fleet_counters.hpp"
#include "engine/warmup_engine.hpp"
#include "runtime/live_runtime.hpp"

namespace warmup::host {

/// One arm's engine as /metrics shows it.
struct ArmMetricsView {
    std::string arm;
    EngineCounters counters;
    double budget_mb = 0;
    double unloading_mb = 0;  ///< part of the resident memory whose unloads are not over yet
    uint32_t loads_in_flight = 0;
    std::size_t memory_waiters = 0;
    std::size_t models_ready = 0;                          ///< loaded (warm)
    std::size_t models_loading = 0;                        ///< being loaded
    std::size_t models_queued = 0;                         ///< waiting in the warm-up queue
    double ready_mb = 0;                                   ///< memory of the ready models, MiB
    double loading_mb = 0;                                 ///< memory of the models being loaded, MiB
    std::array<CircuitState, kComponentKinds> circuits{};  // by ComponentKind
};

/// A fleet node's counters as /metrics shows them (docs/fleet.md).
struct FleetMetricsView {
    cluster::FleetCounters counters;
    bool redis_reachable = false;
};

struct DaemonMetrics {
    std::chrono::system_clock::time_point started;
    std::chrono::system_clock::time_point now;
    uint64_t events_refused = 0;
    uint64_t events_invalid = 0;  ///< posted events refused for their content (400), since this start
    ReloadCounts reloads;
    uint64_t reconcile_adopted = 0;   ///< models found resident on the server but not in the books
    uint64_t reconcile_gone = 0;      ///< models in the books but no longer on the server
    uint64_t reconcile_foreign = 0;   ///< models on the server no catalog entry covers, each counted when first seen
    double foreign_mb = 0;            ///< the memory those on the server now hold, off the budget (MiB)
    uint64_t reconcile_failures = 0;  ///< backend listings that failed (the books were left as they were)
    uint64_t unloads_failed = 0;      ///< backend unloads that failed
    uint64_t unload_timeouts = 0;     ///< backend unloads that ran past budgets.unload_timeout_ms
    uint64_t unloads_overdue = 0;     ///< ... and have not returned yet
    bool state_kept = false;          ///< the snapshot series are shown only when the daemon keeps state
    double snapshot_interval_s = 0;
    std::optional<int64_t> last_snapshot_unix_ms;
    std::vector<ArmMetricsView> arms;
    std::vector<NamedSourceHealth> sources;  ///< the sources of `sources:` (series only when there are any)
    std::optional<FleetMetricsView> fleet;   ///< on a fleet node only (warmup_fleet_* series only then)
    bool emergency_stop = false;             ///< POST /api/warmup/emergency-stop in force (no warm-ups start)
    bool safe_mode = false;                  ///< the safe configuration in force (reset-to-safe, until a reload)
    /// Every component of GET /api/warmup/health/components, in its order: name and whether it is degraded.
    std::vector<std::pair<std::string, bool>> components;
};

/// The view of every arm of `runtime` (control arm first). Control thread only (inside call_on_control).
std::vector<ArmMetricsView> arm_metrics_views(const LiveRuntime& runtime);

/// The daemon's series in the Prometheus text format 0.0.4.
std::string render_daemon_metrics(const DaemonMetrics& metrics);

}  // namespace warmup::host
