// runtime/component_health.cpp — GET /api/warmup/health/components: each control-arm component, the workers, the
// state store, the engine and each source, with why it is degraded.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/errors.hpp"
#include "runtime/live_runtime.hpp"
#include "runtime/live_runtime_support.hpp"

namespace warmup::host {
namespace {

/// A component whose last failure is younger than this is reported degraded.
constexpr int64_t kDegradedWindowMs = 60'000;

/// A failure at `at_ms` (Unix ms; 0 = never) is recent at `now_ms`.
bool recent(int64_t now_ms, int64_t at_ms) { return at_ms > 0 && now_ms - at_ms < kDegradedWindowMs; }

/// [control] The health of `slot`'s plugin: its failed calls (degraded while the last is recent) and its circuit
/// breaker in the engine (the backend has none there).
ComponentHealth plugin_health(ComponentSlot slot, const PluginSet& plugins, const WarmupEngine& engine,
                              int64_t now_ms) {
    ComponentHealth component;
    component.component = std::string(slot_key(slot));
    component.label = plugins.at(slot)->label();
    const auto& errors = engine.component_errors();
    if (const auto found = errors.find(component.label); found != errors.end()) {
        component.errors = found->second.errors;
        component.last_error = found->second.last_error;
        component.last_error_unix_ms = found->second.last_error_unix_ms;
        component.last_error_replaced = found->second.by_replaced_instance;
        if (recent(now_ms, component.last_error_unix_ms) && !component.last_error_replaced) {
            component.degraded = true;
            component.reason = fmt::format("a call failed {:.1f} s ago ({} failure(s) since start): {}",
                                           static_cast<double>(now_ms - component.last_error_unix_ms) / 1000,
                                           component.errors, component.last_error);
        }
    }
    for (std::size_t kind = 0; kind < kComponentKinds; ++kind) {
        const auto component_kind = static_cast<ComponentKind>(kind);
        if (engine.component_label(component_kind) != component.label) continue;
        const CircuitState circuit = engine.circuit_state(component_kind);
        component.circuit = circuit_state_name(circuit);
        if (circuit != CircuitState::Closed) {
            component.degraded = true;
            component.reason = fmt::format(
                "open circuit ({}): built-in safe choice in use after {} consecutive failure(s): {}", component.circuit,
                engine.circuit(component_kind).consecutive_failures, engine.circuit(component_kind).last_error);
        }
        break;
    }
    return component;
}

/// A source's health. Degraded while its polls fail (it is retried with a back-off), or when it cannot keep
/// its position. Bad records are the input's fault, not the source's: counted and shown, never degraded.
ComponentHealth source_component_health(NamedSourceHealth& named) {
    ComponentHealth source;
    source.component = "source:" + named.name;
    source.label = named.label;
    const SourceHealth& s = named.health;
    source.errors = s.failed_polls;
    source.last_error = s.last_error;
    source.last_error_unix_ms = s.last_error_unix_ms;
    std::vector<std::string> reasons;
    if (s.failing)
        reasons.push_back(
            fmt::format("its polls fail ({} of {} since start), the last: {}", s.failed_polls, s.polls, s.last_error));
    if (!s.state_problem.empty()) reasons.push_back(s.state_problem);
    source.degraded = !reasons.empty();
    source.reason = fmt::format("{}", fmt::join(reasons, "; "));
    source.source = std::move(named.health);
    return source;
}

}  // namespace

ComponentHealth LiveRuntime::workers_health(int64_t now_ms) {
    ComponentHealth workers;
    workers.component = "workers";
    const uint64_t load_timeouts = timed_out_loads_.load();
    const uint64_t unload_timeouts = timed_out_unloads_.load();
    const int64_t last_load_timeout_ms = last_timeout_unix_ms_.load();
    const int64_t last_unload_timeout_ms = last_unload_timeout_unix_ms_.load();
    workers.errors = load_timeouts + unload_timeouts;
    workers.last_error_unix_ms = std::max(last_load_timeout_ms, last_unload_timeout_ms);
    if (workers.errors > 0)
        workers.last_error = last_unload_timeout_ms > last_load_timeout_ms
                                 ? "a backend unload outlived budgets.unload_timeout_ms"
                                 : "a backend load outlived budgets.warmup_timeout_ms";
    std::vector<std::string> reasons;
    // Degraded for as long as an unload past its deadline has not returned, however long ago it timed out: its memory
    // is charged and its worker thread taken until then.
    std::vector<RunningUnload> stuck = workers_->timed_out_unloads();
    for (auto& retired : retired_workers_)
        for (RunningUnload& unload : retired->timed_out_unloads()) stuck.push_back(unload);
    if (!stuck.empty()) {
        const auto now = std::chrono::steady_clock::now();
        std::vector<std::string> named;
        for (const RunningUnload& unload : stuck)
            named.push_back(fmt::format("{} for {:.1f} s", catalog_.record(unload.model).name,
                                        std::chrono::duration<double>(now - unload.started).count()));
        reasons.push_back(fmt::format(
            "{} backend unload(s) past budgets.unload_timeout_ms have not returned ({}): their memory stays charged "
            "and each holds a worker thread until it returns (POST /api/warmup/queue/restart-workers gives loads "
            "fresh workers)",
            stuck.size(), fmt::join(named, ", ")));
    }
    if (recent(now_ms, last_load_timeout_ms))
        reasons.push_back(fmt::format("{} load(s) timed out since start, the last {:.1f} s ago; {} running",
                                      load_timeouts, static_cast<double>(now_ms - last_load_timeout_ms) / 1000,
                                      loads_running_on_workers()));
    workers.degraded = !reasons.empty();
    workers.reason = fmt::format("{}", fmt::join(reasons, "; "));
    return workers;
}

void LiveRuntime::add_backend_trouble(ComponentHealth& backend, int64_t now_ms) {
    std::lock_guard lock(backend_trouble_mutex_);
    if (backend_errors_ == 0) return;
    backend.errors += backend_errors_;
    if (backend_last_error_unix_ms_ >= backend.last_error_unix_ms) {
        backend.last_error = backend_last_error_;
        backend.last_error_unix_ms = backend_last_error_unix_ms_;
    }
    if (!backend.degraded && recent(now_ms, backend_last_error_unix_ms_)) {
        backend.degraded = true;
        backend.reason = fmt::format("a backend call failed {:.1f} s ago ({} failure(s) since start): {}",
                                     static_cast<double>(now_ms - backend_last_error_unix_ms_) / 1000, backend_errors_,
                                     backend_last_error_);
    }
}

std::vector<ComponentHealth> LiveRuntime::component_health() {
    const int64_t now_ms = unix_now_ms();
    std::vector<ComponentHealth> health = call_on_control([&](WarmupEngine& engine) {
        std::vector<ComponentHealth> out;
        for (const ComponentSlot slot : kAllSlots) {
            out.push_back(plugin_health(slot, plugins(), engine, now_ms));
            if (slot == ComponentSlot::Backend) add_backend_trouble(out.back(), now_ms);
        }
        // Each experiment arm decides with plugin instances of its own: one entry per arm, degraded while any of
        // them is (an acting arm serves real traffic; a shadow arm's figures are what the experiment compares).
        for (std::size_t i = 1; i < arms_.size(); ++i) {
            const LiveArm& arm = *arms_[i];
            ComponentHealth arm_health;
            arm_health.component = "arm:" + arm.name;
            std::vector<std::string> reasons;
            for (const ComponentSlot slot : kAllSlots) {
                if (slot == ComponentSlot::Backend) continue;  // the backend is shared: its entry above covers it
                const ComponentHealth of_slot = plugin_health(slot, *arm.plugins, *arm.engine, now_ms);
                arm_health.errors += of_slot.errors;
                if (of_slot.last_error_unix_ms > arm_health.last_error_unix_ms) {
                    arm_health.last_error =
                        fmt::format("{} {}: {}", of_slot.component, of_slot.label, of_slot.last_error);
                    arm_health.last_error_unix_ms = of_slot.last_error_unix_ms;
                }
                if (of_slot.degraded)
                    reasons.push_back(fmt::format("{} {}: {}", of_slot.component, of_slot.label, of_slot.reason));
            }
            arm_health.degraded = !reasons.empty();
            arm_health.reason = fmt::format("{}", fmt::join(reasons, "; "));
            out.push_back(std::move(arm_health));
        }
        out.push_back(workers_health(now_ms));
        ComponentHealth pipeline;
        pipeline.component = "engine";
        if (engine.stopped()) {
            pipeline.degraded = true;
            // Resume first: it lifts the stop on the running configuration; reset-to-safe also changes it.
            pipeline.reason =
                "emergency stop in force: no warm-ups start (POST /api/warmup/resume lifts it; "
                "POST /api/warmup/reset-to-safe leaves it on the safe configuration)";
        } else if (safe_mode_.load()) {
            pipeline.degraded = true;
            pipeline.reason = "safe configuration in force until a reload, a rollback or a restart";
        }
        const bool stalled = reload_stall(/*creating_plugins_only=*/true).has_value();
        {
            std::lock_guard lock(reload_outcome_mutex_);
            // A reload refused because the stalled one still runs is said once, by the stall below.
            if (!last_reload_failure_.empty() && !(stalled && last_reload_failure_busy_)) {
                // The file asks for a configuration that is not in force: an operator who reloaded (or a watched file
                // that changed) must see that here, not only in the answer and the log.
                const std::string failed = fmt::format(
                    "the last configuration reload failed ({} s ago) and the configuration before it stays in force "
                    "until a reload succeeds: {}",
                    std::max<int64_t>(0, (unix_now_ms() - last_reload_failure_unix_ms_) / 1000), last_reload_failure_);
                pipeline.degraded = true;
                pipeline.reason = pipeline.reason.empty() ? failed : pipeline.reason + "; " + failed;
            }
        }
        if (stalled) {  // the running plugins decide on; no configuration can be applied meanwhile
            pipeline.degraded = true;
            pipeline.reason =
                pipeline.reason.empty() ? reload_busy_message() : pipeline.reason + "; " + reload_busy_message();
        }
        out.push_back(std::move(pipeline));
        return out;
    });
    ComponentHealth state;
    state.component = "state";
    std::string restore_problem;
    std::string export_problem;
    std::string snapshot_error;
    int64_t snapshot_error_unix_ms = 0;
    {
        std::lock_guard lock(state_mutex_);
        state.errors = state_write_errors_;
        state.last_error = last_state_error_;
        state.last_error_unix_ms = last_state_error_unix_ms_;
        restore_problem = start_restore_problem_;
        export_problem = last_export_problem_;
        snapshot_error = last_snapshot_error_;
        snapshot_error_unix_ms = last_snapshot_error_unix_ms_;
    }
    if (!state_store_) {
        state.reason = "";  // disabled is a choice, not a fault
    } else {
        std::vector<std::string> reasons;
        if (!restore_problem.empty()) reasons.push_back(restore_problem);
        if (const EventJournal* journal = journal_.load(); journal != nullptr && journal->write_failing())
            reasons.push_back("the event journal cannot write (" + journal->write_failure() +
                              "): events are refused (503) until it can");
        // Recent, and no snapshot written since (a journal write's failure is said above while it lasts, and only
        // then).
        if (snapshot_error_unix_ms != 0 && recent(now_ms, snapshot_error_unix_ms) &&
            last_snapshot_unix_ms_.load() < snapshot_error_unix_ms)
            reasons.push_back("the last snapshot could not be written: " + snapshot_error);
        if (!export_problem.empty())
            reasons.push_back(
                "the last snapshot or backup lacks what a plugin could not export (a restart would start "
                "it without what it learned): " +
                export_problem);
        state.degraded = !reasons.empty();
        state.reason = fmt::format("{}", fmt::join(reasons, "; "));
    }
    health.push_back(std::move(state));
    for (NamedSourceHealth& named : sources_->health()) health.push_back(source_component_health(named));
    return health;
}

}  // namespace warmup::host
