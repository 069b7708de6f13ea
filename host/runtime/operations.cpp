// runtime/operations.cpp — the operator's controls over a running LiveRuntime: emergency stop, the safe
// configuration, data-collection reset and restarting the workers.
//
// Every method here runs on a caller thread (HTTP handler, warmupd's main thread) and reaches the engines and
// plugins only through call_on_control, so plugins keep seeing one thread.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/errors.hpp"
#include "runtime/live_runtime.hpp"
#include "runtime/live_runtime_support.hpp"

namespace warmup::host {

OperationResult LiveRuntime::emergency_stop() {
    struct Counts {
        std::size_t cancelled = 0;
        uint32_t in_flight = 0;
        std::size_t arms = 0;
        bool already = false;  ///< a stop was in force before this one
    };
    const Counts counts = call_on_control([this](WarmupEngine& engine) {
        Counts out;
        out.already = engine.stopped();
        const warmup_time_ms now_ms = clock_.now_ms();
        for (auto& arm : arms_) {
            const std::size_t before = arm->engine->queue_depth();
            arm->engine->emergency_stop(now_ms);
            out.cancelled += before - std::min(before, arm->engine->queue_depth());
            out.in_flight += arm->engine->loads_in_flight();
        }
        out.arms = arms_.size();
        return out;
    });
    spdlog::warn(
        "EMERGENCY_STOP no new warm-ups; {} queued warm-up(s) cancelled, {} load(s) in flight finish, loaded "
        "models kept",
        counts.cancelled, counts.in_flight);
    OperationResult result;
    result.facts = {{"cancelled_warmups", static_cast<double>(counts.cancelled)},
                    {"loads_in_flight", static_cast<double>(counts.in_flight)},
                    {"arms", static_cast<double>(counts.arms)}};
    if (counts.already) result.notes.push_back("an emergency stop was already in force");
    result.notes.push_back(
        "demand loads (a request waits for them) still run; POST /api/warmup/resume lifts the stop, "
        "POST /api/warmup/reset-to-safe leaves it on the safe configuration");
    // Saved before the answer: a daemon restarted on this state folder, after a crash too, is still stopped.
    if (state_store_) {
        const OperationResult saved = snapshot_now();
        result.notes.push_back(saved.ok()
                                   ? "saved in the state folder: in force across a restart until "
                                     "POST /api/warmup/resume or /reset-to-safe"
                                   : "could not be saved in the state folder (a restart may end it): " + saved.error);
    }
    return result;
}

OperationResult LiveRuntime::resume() {
    struct Resumed {
        bool was_stopped = false;
        std::size_t restores = 0;  ///< models of the warm set the stop held back, queued now
    };
    const Resumed resumed = call_on_control([this](WarmupEngine& engine) {
        Resumed out;
        out.was_stopped = engine.stopped();
        const warmup_time_ms now_ms = clock_.now_ms();
        // Every arm, each planned again (the stop dropped every planned pre-warm), and the warm set restored while
        // stopped (a restart in an emergency stop) or cancelled by the stop loaded again.
        for (auto& arm : arms_) {
            if (!arm->engine->stopped()) continue;
            out.restores += arm->engine->resume(now_ms, /*restore_warm_set=*/true);
            arm->engine->replan_all(now_ms);
        }
        return out;
    });
    OperationResult result;
    if (!resumed.was_stopped) {
        result.notes.push_back("no emergency stop was in force: nothing changed");
        return result;
    }
    spdlog::warn(
        "EMERGENCY_STOP_LIFTED warm-ups start again on the running configuration; every model planned again, {} "
        "model(s) of the warm set queued again",
        resumed.restores);
    result.notes.push_back("emergency stop lifted: warm-ups start again on the running configuration");
    result.facts.emplace_back("warm_set_restores_queued", static_cast<double>(resumed.restores));
    // The stop was saved with the state; its end is saved the same way, so a restart does not stop again.
    if (state_store_) {
        const OperationResult saved = snapshot_now();
        result.notes.push_back(saved.ok() ? "saved in the state folder"
                                          : "the end of the emergency stop could not be saved in the state folder (a "
                                            "restart would stop again): " +
                                                saved.error);
    }
    return result;
}

void LiveRuntime::set_emergency_stop(bool stopped) {
    const warmup_time_ms now_ms = clock_.now_ms();
    for (auto& arm : arms_) {
        if (arm->engine->stopped() == stopped) continue;
        if (stopped) {
            arm->engine->emergency_stop(now_ms);
        } else {
            arm->engine->resume(now_ms);
            arm->engine->replan_all(now_ms);
        }
    }
}

namespace {

/// The note of a reset-to-safe answer that says what leaves the safe configuration. A reload needs a configuration
/// file (the embedded default has none: its reload is 409); a rollback needs a configuration from before, out of safe
/// mode; a restart always starts out of safe mode (safe mode is not part of the saved state).
std::string safe_configuration_exit_note(bool has_file, bool can_roll_back) {
    if (has_file) return "the next POST /api/warmup/config/reload (or rollback) leaves the safe configuration";
    if (can_roll_back)
        return "the daemon runs the embedded default configuration, with no file to reload: POST "
               "/api/warmup/config/rollback leaves the safe configuration (back to the configuration before it), "
               "and so does a restart";
    return "the daemon runs the embedded default configuration, with no file to reload and no configuration to roll "
           "back to: a restart leaves the safe configuration";
}

}  // namespace

OperationResult LiveRuntime::reset_to_safe() {
    std::unique_lock one_at_a_time(reset_to_safe_mutex_, std::defer_lock);
    while (!one_at_a_time.try_lock_for(kStallCheckInterval))
        if (reload_stall(/*creating_plugins_only=*/false)) return failure(503, reload_busy_message());
    OperationResult result;
    bool has_file = false;       // a reload has a configuration file to read
    bool can_roll_back = false;  // a rollback goes to a configuration out of safe mode
    if (safe_mode_.load()) {
        // Applying the safe transformation twice would halve the budget again: only leave emergency mode.
        {
            const auto lock = lock_reloads();
            if (!lock) return failure(503, reload_busy_message());
            has_file = !running_config_.source_file.empty();
            can_roll_back = previous_config_.has_value() && !previous_safe_;
        }
        result.notes.push_back("already on the safe configuration; emergency mode left");
    } else {
        Config safe;
        {
            const auto lock = lock_reloads();
            if (!lock) return failure(503, reload_busy_message());
            safe = running_config_;
        }
        // After the check above: a reset refused while a reload runs leaves an earlier reset's backup alone.
        if (state_store_) {
            // Replaces the backup of an earlier reset-to-safe: this one holds the state now, before this reset.
            const OperationResult backup =
                backup_state(std::string(StateStore::kBeforeResetToSafeBackup), /*overwrite=*/true);
            result.notes.push_back(backup.ok() ? "learned state backed up as 'before-reset-to-safe'"
                                               : "could not back up the learned state: " + backup.error);
        } else {
            result.notes.push_back("no backup of the learned state was taken: state keeping is off (state.enabled)");
        }
        has_file = !safe.source_file.empty();
        PluginChoice keep_alive;
        keep_alive.id = "org.warmup.predictor.keep-alive";  // default TTL: no params
        keep_alive.key_path = "components.predictor";
        safe.components[ComponentSlot::Predictor] = keep_alive;
        safe.experiment.enabled = false;
        safe.memory_budget.absolute_mb /= 2;
        const double budget_mb = safe.memory_budget.absolute_mb;
        const ReloadResult reloaded = apply(std::move(safe), /*is_rollback=*/false, /*safe=*/true);
        if (!reloaded.ok) {
            spdlog::error("RESET_TO_SAFE_FAILED {} (still in emergency mode)", reloaded.error);
            result.http_status = reloaded.http_status == 200 ? 500 : reloaded.http_status;
            result.error =
                fmt::format("the safe configuration could not be applied ({}): {}", reloaded.stage, reloaded.error);
            return result;
        }
        // A change that changed something keeps the configuration it replaced for a rollback (put_in_force).
        can_roll_back = reloaded.changed;
        for (const auto& change : reloaded.changes)
            result.notes.push_back(fmt::format("{}: {} -> {} ({})", change.slot, change.from, change.to, change.state));
        for (const auto& note : reloaded.notes) result.notes.push_back(note);
        result.facts.emplace_back("memory_budget_mb", budget_mb);
    }
    const bool was_stopped = call_on_control([this](WarmupEngine& engine) {
        const bool stopped = engine.stopped();
        // The emergency stop dropped every planned pre-warm: plan every model again now, not at its next event.
        const warmup_time_ms now_ms = clock_.now_ms();
        // The warm set the stop held back is not loaded on the safe configuration's smaller budget: it leaves from
        // what is loaded now.
        for (auto& arm : arms_) {
            arm->engine->resume(now_ms, /*restore_warm_set=*/false);
            arm->engine->replan_all(now_ms);
        }
        return stopped;
    });
    // The emergency stop was saved with the state; its end is saved the same way, so a restart does not stop again.
    if (was_stopped && state_store_) {
        const OperationResult saved = snapshot_now();
        if (!saved.ok())
            result.notes.push_back("the end of the emergency stop could not be saved in the state folder: " +
                                   saved.error);
    }
    spdlog::warn(
        "RESET_TO_SAFE predictive scheduling off (keep-alive predictor), experiments off, half the memory "
        "budget, until a reload, a rollback or a restart");
    result.notes.push_back(safe_configuration_exit_note(has_file, can_roll_back));
    return result;
}

OperationResult LiveRuntime::reset_data_collection() {
    // What is forgotten can be restored: the state before the reset is kept as a backup (replacing an earlier
    // reset's), as reset-to-safe keeps its own.
    std::string backup_note = "no backup of the learned state was taken: state keeping is off (state.enabled)";
    if (state_store_) {
        const OperationResult backup =
            backup_state(std::string(StateStore::kBeforeResetDataCollectionBackup), /*overwrite=*/true);
        // Nothing is forgotten that could not be taken back.
        if (!backup.ok())
            return failure(backup.http_status,
                           "nothing was reset: the learned state could not be backed up first (" + backup.error + ")");
        backup_note =
            "learned state backed up as 'before-reset-data-collection' (restore-state with that name takes it "
            "back; a later reset replaces it)";
    }
    struct Outcome {
        std::size_t reset = 0;
        std::vector<std::string> errors;
    };
    Outcome outcome = call_on_control([this](WarmupEngine&) {
        Outcome out;
        for (auto& arm : arms_) {
            const auto& analyzer = arm->plugins->at(ComponentSlot::Analyzer);
            // Each model's last use is kept through the reset (see WarmupEngine::relearn_last_uses).
            const warmup_time_ms now_ms = clock_.now_ms();
            const std::vector<warmup_usage_event> last_uses = arm->engine->last_uses(now_ms);
            warmup_error* error = analyzer->vtable<warmup_analyzer_vtable>()->reset(analyzer->self());
            if (error != nullptr) {
                ErrorPtr owned(error);
                out.errors.push_back(fmt::format("arm '{}': {} reset failed: {}: {}", arm->name, analyzer->label(),
                                                 status_name(owned->code), owned->message));
            } else {
                ++out.reset;
                arm->engine->relearn_last_uses(last_uses, now_ms);
            }
        }
        return out;
    });
    OperationResult result;
    result.facts.emplace_back("analyzers_reset", static_cast<double>(outcome.reset));
    result.notes.push_back(std::move(backup_note));
    if (!outcome.errors.empty()) {
        result.http_status = 500;
        result.error = outcome.errors.front();
        result.notes.insert(result.notes.end(), outcome.errors.begin(), outcome.errors.end());
        spdlog::error("DATA_COLLECTION_ERROR {}", result.error);
    } else {
        spdlog::warn("DATA_COLLECTION_RESET {} analyzer(s) forgot what they learned", outcome.reset);
        // The journal replays on top of the newest snapshot: one taken now keeps a restart from learning again what
        // was just forgotten.
        if (journal_.load() != nullptr) snapshot_now();
    }
    return result;
}

OperationResult LiveRuntime::restart_workers() {
    // On the control thread: no load can start while the executor is swapped. Loads running on the old arena keep
    // their entries there and still answer the engine (or time out through expire()); the old arena is kept until
    // stop(), because a task_group must not be destroyed while a stuck backend call still runs in it.
    OperationResult result;
    const auto [still_running, workers] = call_on_control([this](WarmupEngine&) {
        const std::size_t running = workers_->loads_running();
        auto fresh = std::make_unique<LoadWorkers>(catalog_, worker_outbox(), workers_->backend(),
                                                   running_config_workers(), workers_->load_order());
        retired_workers_.push_back(std::exchange(workers_, std::move(fresh)));
        return std::pair{running, running_config_workers()};
    });
    worker_restarts_.fetch_add(1);
    result.facts = {{"loads_left_on_old_workers", static_cast<double>(still_running)},
                    {"workers", static_cast<double>(workers)},
                    {"worker_restarts", static_cast<double>(worker_restarts_.load())},
                    {"timed_out_loads", static_cast<double>(timed_out_loads_.load())}};
    spdlog::info("WORKERS_RESTARTED {} worker thread(s); {} load(s) left running on the old workers", workers,
                 still_running);
    return result;
}

std::size_t LiveRuntime::loads_running_on_workers() {
    std::size_t running = workers_->loads_running();
    for (auto& retired : retired_workers_) running += retired->loads_running();
    return running;
}

}  // namespace warmup::host
