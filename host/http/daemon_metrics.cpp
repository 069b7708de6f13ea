// http/daemon_metrics.cpp — the daemon's own Prometheus series; see daemon_metrics.hpp.
#include "http/daemon_metrics.hpp"

#include <fmt/format.h>

#include <cmath>
#include <string_view>
#include <warmup/sdk/prometheus_text.hpp>

#include "config/config.hpp"
#include "version/build_info.hpp"

namespace warmup::host {
namespace {

constexpr double kBytesPerMiB = 1024.0 * 1024.0;

/// `mib` in whole bytes: a budget shared by weights (10,000 MiB over three arms) is not a whole number of bytes, and a
/// bytes gauge with a fraction reads as a bug.
double whole_bytes(double mib) { return std::round(mib * kBytesPerMiB); }

/// The configuration slot of each engine component (ComponentKind order), named as in the YAML and in
/// /api/warmup/health/components.
constexpr std::array<ComponentSlot, kComponentKinds> kComponentSlots{
    ComponentSlot::Analyzer, ComponentSlot::Predictor, ComponentSlot::Performance, ComponentSlot::Scheduler,
    ComponentSlot::Resource, ComponentSlot::Queue,     ComponentSlot::Metrics};

constexpr std::array<CircuitState, 3> kCircuitStates{CircuitState::Closed, CircuitState::Open, CircuitState::HalfOpen};

/// `value` escaped as a label value of the text format.
std::string escaped(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    sdk::append_prometheus_label_value(out, value);
    return out;
}

class TextWriter {
  public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    /// `labels` is already rendered (`a="x",b="y"`) or empty.
    template <class Value>
    void sample(std::string_view name, std::string_view labels, Value value) {
        if (labels.empty())
            fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
        else
            fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
    }
    std::string take() { return std::move(out_); }

  private:
    std::string out_;
};

/// One counter of EngineCounters per arm.
struct ArmCounter {
    std::string_view name;
    std::string_view help;
    uint64_t EngineCounters::*field;
};

constexpr std::array<ArmCounter, 7> kArmCounters{{
    {"warmup_request_events_total", "Usage events scored as requests (one per event, whatever its count).",
     &EngineCounters::events},
    {"warmup_failed_requests_total", "Requests dropped because their model's load was given up.",
     &EngineCounters::failed_requests},
    {"warmup_loads_given_up_total", "Loads given up after the scheduler's retries (MODEL_LOAD_ERROR).",
     &EngineCounters::loads_given_up},
    {"warmup_plugin_errors_total",
     "Failed plugin calls: errors, exceptions and calls slower than the breaker's call budget.",
     &EngineCounters::plugin_errors},
    {"warmup_demand_loads_total", "Loads started because a request found its model absent.",
     &EngineCounters::demand_loads},
    {"warmup_prewarms_started_total", "Loads started ahead of a predicted request.", &EngineCounters::prewarms_started},
    {"warmup_loads_queued_for_memory_total", "Loads that had to wait for memory to be freed first.",
     &EngineCounters::loads_queued_for_memory},
}};

/// One series of a fleet node (a FleetCounters field), in the order /metrics lists them.
struct FleetSeries {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    uint64_t cluster::FleetCounters::*field;
};

constexpr std::array<FleetSeries, 18> kFleetSeries{{
    {"warmup_fleet_events_local_total", "counter",
     "Events of models this node owns, applied here (posted here, or moved here by a new placement).",
     &cluster::FleetCounters::events_local},
    {"warmup_fleet_events_forwarded_total", "counter",
     "Events written to another node's Redis stream, one per owner: events of models this node does not own "
     "(or also owns with replicas).",
     &cluster::FleetCounters::events_forwarded},
    {"warmup_fleet_events_received_total", "counter",
     "Entries read from this node's Redis stream, each counted once however often it is read (an entry left pending "
     "by a refused pass-on, or unacknowledged at a Redis error, is read again).",
     &cluster::FleetCounters::events_received},
    {"warmup_fleet_events_acknowledged_total", "counter",
     "Entries of this node's stream applied to its engine and acknowledged.",
     &cluster::FleetCounters::events_acknowledged},
    {"warmup_fleet_events_dropped_unknown_total", "counter",
     "Entries received for a model no catalog entry of this node covers (acknowledged and logged, not applied).",
     &cluster::FleetCounters::events_dropped_unknown},
    {"warmup_fleet_events_passed_on_total", "counter",
     "Entries received for a model this node no longer owns, forwarded to its owners.",
     &cluster::FleetCounters::events_passed_on},
    {"warmup_fleet_events_pass_on_refused_total", "counter",
     "Stream writes of such entries Redis refused (OOM, READONLY, WRONGTYPE on the owner's key ...), one per owner and "
     "attempt: the entry stays unacknowledged in this node's stream and is passed on again a quarter heartbeat later.",
     &cluster::FleetCounters::events_pass_on_refused},
    {"warmup_fleet_forward_buffered", "gauge",
     "Events for other nodes waiting in the outbox now (Redis slow or unreachable; at most cluster.forward_buffer).",
     &cluster::FleetCounters::forward_buffered},
    {"warmup_fleet_forward_refused_total", "counter",
     "Events refused with 503 because the outbox for other nodes was full.", &cluster::FleetCounters::forward_refused},
    {"warmup_fleet_placement_changes_total", "counter", "Placements applied that differ from the one before.",
     &cluster::FleetCounters::placement_changes},
    {"warmup_fleet_models_taken_over_total", "counter", "Models this node started to own (re-homed here).",
     &cluster::FleetCounters::models_taken_over},
    {"warmup_fleet_models_handed_over_total", "counter",
     "Models that moved to another node (their state written to Redis, then forgotten here).",
     &cluster::FleetCounters::models_handed_over},
    {"warmup_fleet_state_imports_total", "counter",
     "Per-model states imported from Redis (one per model and component).", &cluster::FleetCounters::state_imports},
    {"warmup_fleet_state_import_errors_total", "counter", "Per-model states a component refused to import.",
     &cluster::FleetCounters::state_import_errors},
    {"warmup_fleet_state_writes_total", "counter", "Per-model states written (exported) to Redis.",
     &cluster::FleetCounters::state_writes},
    {"warmup_fleet_redis_errors_total", "counter",
     "Redis commands that failed: Redis unreachable, or an error reply (OOM, READONLY, LOADING ...).",
     &cluster::FleetCounters::redis_errors},
    {"warmup_fleet_dead_stream_entries_moved_total", "counter",
     "Unread entries of a dead node's stream moved to the models' new owners.",
     &cluster::FleetCounters::dead_stream_entries_moved},
    {"warmup_fleet_rejoins_total", "counter",
     "Times this node renewed its registration after it had lapsed (the process was stopped or stalled): its peers "
     "had placed its models elsewhere.",
     &cluster::FleetCounters::rejoins},
}};

}  // namespace

std::vector<ArmMetricsView> arm_metrics_views(const LiveRuntime& runtime) {
    std::vector<ArmMetricsView> views;
    for (const auto& arm : runtime.arms()) {
        const WarmupEngine& engine = *arm->engine;
        ArmMetricsView view;
        view.arm = arm->name;
        view.counters = engine.counters();
        view.budget_mb = engine.budget_mb();
        view.unloading_mb = engine.unloading_mb();
        view.loads_in_flight = engine.loads_in_flight();
        view.memory_waiters = engine.memory_waiters();
        for (warmup_model_index model = 0; model < engine.model_count(); ++model) {
            const ModelStatus status = engine.model_status(model);
            if (status.residency == WARMUP_RESIDENCY_READY) {
                ++view.models_ready;
                view.ready_mb += status.memory_mb;
            } else if (status.residency == WARMUP_RESIDENCY_LOADING) {
                ++view.models_loading;
                view.loading_mb += status.memory_mb;
            } else if (status.residency == WARMUP_RESIDENCY_QUEUED) {
                ++view.models_queued;
            }
        }
        for (std::size_t kind = 0; kind < kComponentKinds; ++kind)
            view.circuits[kind] = engine.circuit_state(static_cast<ComponentKind>(kind));
        views.push_back(std::move(view));
    }
    return views;
}

namespace {

// One function per section of the page, each a block per series.

/// Seconds since the Unix epoch, with a fraction.
double unix_seconds(std::chrono::system_clock::time_point at) {
    return std::chrono::duration<double>(at.time_since_epoch()).count();
}

/// The build and the start time.
void render_process(const DaemonMetrics& metrics, TextWriter& text) {
    const BuildInfo& info = build_info();
    // The build's label values are the project version, "<major>.<minor>" and a hex commit or "unknown".
    text.family("warmup_build_info", "gauge",
                "The running warmupd: product version, plugin ABI version and git commit (value 1).");
    text.sample("warmup_build_info",
                fmt::format("version=\"{}\",abi=\"{}\",commit=\"{}\"", escaped(info.version), escaped(info.abi),
                            escaped(info.commit)),
                1);
    text.family("warmup_start_time_seconds", "gauge", "When this warmupd started, seconds since the Unix epoch.");
    text.sample("warmup_start_time_seconds", "", fmt::format("{:.3f}", unix_seconds(metrics.started)));
}

/// Refused events, the emergency stop and safe mode, degraded components, reloads, reconciliation and unloads.
void render_operations(const DaemonMetrics& metrics, TextWriter& text) {
    text.family("warmup_events_refused_total", "counter",
                "Usage events refused with 503 because the ingest queue was full.");
    text.sample("warmup_events_refused_total", "", metrics.events_refused);
    text.family("warmup_events_invalid_total", "counter",
                "Posted usage events refused with 400 for their content (unknown model, bad line, a time too far "
                "ahead), since this start.");
    text.sample("warmup_events_invalid_total", "", metrics.events_invalid);

    text.family("warmup_emergency_stop", "gauge",
                "1 while an emergency stop is in force (no warm-ups start; POST /api/warmup/resume lifts it, and so "
                "does POST /api/warmup/reset-to-safe), else 0.");
    text.sample("warmup_emergency_stop", "", metrics.emergency_stop ? 1 : 0);
    text.family("warmup_safe_mode", "gauge",
                "1 while the safe configuration of reset-to-safe is in force (until a reload, a rollback or a "
                "restart), else 0.");
    text.sample("warmup_safe_mode", "", metrics.safe_mode ? 1 : 0);
    text.family("warmup_component_degraded", "gauge",
                "1 while a component of /api/warmup/health/components is degraded (its reason is there), else 0; one "
                "series per component listed.");
    for (const auto& [component, degraded] : metrics.components)
        text.sample("warmup_component_degraded", fmt::format("component=\"{}\"", escaped(component)), degraded ? 1 : 0);

    text.family("warmup_config_reloads_total", "counter",
                "Configuration reloads and rollbacks by outcome: reloaded (something changed), unchanged, failed "
                "(the configuration was refused; the running set kept), refused (nothing to try: no file, nothing to "
                "roll back to, or another reload running).");
    text.sample("warmup_config_reloads_total", "result=\"reloaded\"", metrics.reloads.reloaded);
    text.sample("warmup_config_reloads_total", "result=\"unchanged\"", metrics.reloads.unchanged);
    text.sample("warmup_config_reloads_total", "result=\"failed\"", metrics.reloads.failed);
    text.sample("warmup_config_reloads_total", "result=\"refused\"", metrics.reloads.refused);

    text.family("warmup_reconcile_drift_total", "counter",
                "Differences between the host's books and what the backend's server holds, found by reconciliation "
                "(reconcile.interval_ms): adopted (resident, not in the books), gone (in the books, not resident) and "
                "foreign (resident, covered by no catalog entry: another client's; counted when first seen).");
    text.sample("warmup_reconcile_drift_total", "kind=\"adopted\"", metrics.reconcile_adopted);
    text.sample("warmup_reconcile_drift_total", "kind=\"gone\"", metrics.reconcile_gone);
    text.sample("warmup_reconcile_drift_total", "kind=\"foreign\"", metrics.reconcile_foreign);
    text.family("warmup_foreign_memory_bytes", "gauge",
                "Memory the server reports for the models it holds that no catalog entry covers (another client's): "
                "taken off this host's budget while they stay.");
    text.sample("warmup_foreign_memory_bytes", "",
                static_cast<uint64_t>(std::llround(metrics.foreign_mb * 1024.0 * 1024.0)));
    text.family("warmup_reconcile_failures_total", "counter",
                "Backend listings for reconciliation that failed (server unreachable); nothing was changed.");
    text.sample("warmup_reconcile_failures_total", "", metrics.reconcile_failures);
    text.family("warmup_unloads_failed_total", "counter",
                "Backend unloads that failed: the server may still hold the model; the next listing charges it again "
                "and it is unloaded again.");
    text.sample("warmup_unloads_failed_total", "", metrics.unloads_failed);
    text.family("warmup_unload_timeouts_total", "counter",
                "Backend unloads whose call ran past budgets.unload_timeout_ms (MODEL_UNLOAD_TIMEOUT); their memory "
                "stays charged until the call returns.");
    text.sample("warmup_unload_timeouts_total", "", metrics.unload_timeouts);
    text.family("warmup_unloads_overdue", "gauge",
                "Backend unloads past budgets.unload_timeout_ms whose call has not returned yet: their memory is "
                "charged and a worker thread held until it does.");
    text.sample("warmup_unloads_overdue", "", metrics.unloads_overdue);
}

/// The state snapshots' interval and age (only when state is kept).
void render_state(const DaemonMetrics& metrics, TextWriter& text) {
    text.family("warmup_state_snapshot_interval_seconds", "gauge",
                "Configured time between periodic state snapshots (state.snapshot_interval_s).");
    text.sample("warmup_state_snapshot_interval_seconds", "", metrics.snapshot_interval_s);
    // Since the newest snapshot written or restored; before the first one, since the start.
    const double since = metrics.last_snapshot_unix_ms ? static_cast<double>(*metrics.last_snapshot_unix_ms) / 1000
                                                       : unix_seconds(metrics.started);
    text.family("warmup_state_snapshot_age_seconds", "gauge",
                "Seconds since the newest state snapshot was written (or restored at start); before the first, "
                "since the start.");
    text.sample("warmup_state_snapshot_age_seconds", "",
                fmt::format("{:.3f}", std::max(0.0, unix_seconds(metrics.now) - since)));
    if (metrics.last_snapshot_unix_ms) {
        text.family("warmup_state_last_snapshot_timestamp_seconds", "gauge",
                    "When the newest state snapshot was written, seconds since the Unix epoch.");
        text.sample("warmup_state_last_snapshot_timestamp_seconds", "",
                    fmt::format("{:.3f}", static_cast<double>(*metrics.last_snapshot_unix_ms) / 1000));
    }
}

/// Per arm: the engine's counters, memory, loads, models by residency and the circuit breakers.
void render_arms(const DaemonMetrics& metrics, TextWriter& text) {
    std::vector<std::string> arm_labels;
    for (const ArmMetricsView& arm : metrics.arms) arm_labels.push_back("arm=\"" + escaped(arm.arm) + "\"");

    for (const ArmCounter& counter : kArmCounters) {
        text.family(counter.name, "counter", counter.help);
        for (std::size_t i = 0; i < metrics.arms.size(); ++i)
            text.sample(counter.name, arm_labels[i], metrics.arms[i].counters.*counter.field);
    }
    text.family("warmup_memory_budget_bytes", "gauge",
                "Memory budget of the arm's models (an acting arm's share of budgets.memory_mb), bytes.");
    for (std::size_t i = 0; i < metrics.arms.size(); ++i)
        text.sample("warmup_memory_budget_bytes", arm_labels[i], whole_bytes(metrics.arms[i].budget_mb));
    text.family("warmup_unloading_memory_bytes", "gauge",
                "Part of warmup_resident_memory_bytes held by unloads not over yet (running, or failed until the "
                "server is listed): loads that need it wait, bytes.");
    for (std::size_t i = 0; i < metrics.arms.size(); ++i)
        text.sample("warmup_unloading_memory_bytes", arm_labels[i], whole_bytes(metrics.arms[i].unloading_mb));
    text.family("warmup_loads_in_flight", "gauge", "Loads handed to a backend worker and not finished.");
    for (std::size_t i = 0; i < metrics.arms.size(); ++i)
        text.sample("warmup_loads_in_flight", arm_labels[i], metrics.arms[i].loads_in_flight);
    text.family("warmup_memory_waiters", "gauge", "Loads waiting for memory to be freed before they can start.");
    for (std::size_t i = 0; i < metrics.arms.size(); ++i)
        text.sample("warmup_memory_waiters", arm_labels[i], metrics.arms[i].memory_waiters);

    text.family("warmup_models", "gauge",
                "Models by residency: ready (loaded, warm), loading, queued (waiting for a warm-up worker or memory).");
    for (std::size_t i = 0; i < metrics.arms.size(); ++i) {
        const ArmMetricsView& arm = metrics.arms[i];
        text.sample("warmup_models", arm_labels[i] + ",state=\"ready\"", arm.models_ready);
        text.sample("warmup_models", arm_labels[i] + ",state=\"loading\"", arm.models_loading);
        text.sample("warmup_models", arm_labels[i] + ",state=\"queued\"", arm.models_queued);
    }
    text.family("warmup_models_memory_bytes", "gauge",
                "Memory of the models by residency: ready (loaded, warm) and loading, bytes (the status's warm_mb and "
                "loading_mb; unloads not over yet are warmup_unloading_memory_bytes).");
    for (std::size_t i = 0; i < metrics.arms.size(); ++i) {
        text.sample("warmup_models_memory_bytes", arm_labels[i] + ",state=\"ready\"",
                    whole_bytes(metrics.arms[i].ready_mb));
        text.sample("warmup_models_memory_bytes", arm_labels[i] + ",state=\"loading\"",
                    whole_bytes(metrics.arms[i].loading_mb));
    }

    text.family("warmup_circuit_breaker_state", "gauge",
                "Circuit breaker of each engine component: 1 for its current state (closed, open, half-open), 0 "
                "for the others. Open: the built-in safe choice is used instead of the plugin.");
    for (std::size_t i = 0; i < metrics.arms.size(); ++i)
        for (std::size_t kind = 0; kind < kComponentKinds; ++kind)
            for (const CircuitState state : kCircuitStates)
                text.sample("warmup_circuit_breaker_state",
                            fmt::format("{},component=\"{}\",state=\"{}\"", arm_labels[i],
                                        slot_key(kComponentSlots[kind]), circuit_state_name(state)),
                            metrics.arms[i].circuits[kind] == state ? 1 : 0);
}

/// Per event source: up, events, bad records and failed polls.
void render_sources(const DaemonMetrics& metrics, TextWriter& text) {
    std::vector<std::string> source_labels;
    for (const auto& source : metrics.sources)
        source_labels.push_back(fmt::format("source=\"{}\"", escaped(source.name)));
    text.family("warmup_source_up", "gauge", "1 while a source's polls succeed, 0 while they fail.");
    for (std::size_t i = 0; i < metrics.sources.size(); ++i)
        text.sample("warmup_source_up", source_labels[i], metrics.sources[i].health.failing ? 0 : 1);
    text.family("warmup_source_events_total", "counter",
                "Events a source handed over since it started: accepted (queued, also counted in "
                "/api/warmup/status events_accepted) or refused (unknown model, bad count or time).");
    for (std::size_t i = 0; i < metrics.sources.size(); ++i) {
        text.sample("warmup_source_events_total", source_labels[i] + ",result=\"accepted\"",
                    metrics.sources[i].health.events_accepted);
        text.sample("warmup_source_events_total", source_labels[i] + ",result=\"refused\"",
                    metrics.sources[i].health.events_refused);
    }
    text.family("warmup_source_bad_records_total", "counter",
                "Records a source could not read (a line that is not JSON, a missing model field ...).");
    for (std::size_t i = 0; i < metrics.sources.size(); ++i)
        text.sample("warmup_source_bad_records_total", source_labels[i], metrics.sources[i].health.bad_records);
    text.family("warmup_source_poll_failures_total", "counter",
                "Polls of a source that failed (file missing, server down); each is retried.");
    for (std::size_t i = 0; i < metrics.sources.size(); ++i)
        text.sample("warmup_source_poll_failures_total", source_labels[i], metrics.sources[i].health.failed_polls);
}

/// The fleet node's link to Redis and its counters.
void render_fleet(const FleetMetricsView& fleet, TextWriter& text) {
    text.family("warmup_fleet_redis_up", "gauge",
                "1 while this fleet node's Redis commands succeed, 0 from a failed or refused one until they succeed "
                "again (meanwhile it decides on its last placement and buffers events for other nodes).");
    text.sample("warmup_fleet_redis_up", "", fleet.redis_reachable ? 1 : 0);
    for (const FleetSeries& series : kFleetSeries) {
        text.family(series.name, series.type, series.help);
        text.sample(series.name, "", fleet.counters.*series.field);
    }
}

}  // namespace

std::string render_daemon_metrics(const DaemonMetrics& metrics) {
    TextWriter text;  // the sections in the order /metrics lists them
    render_process(metrics, text);
    render_operations(metrics, text);
    if (metrics.state_kept) render_state(metrics, text);
    render_arms(metrics, text);
    if (!metrics.sources.empty()) render_sources(metrics, text);
    if (metrics.fleet) render_fleet(*metrics.fleet, text);
    return text.take();
}

}  // namespace warmup::host
