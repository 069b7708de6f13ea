// runtime/reload.cpp — reload, reload_from_file and rollback: a new configuration's plugins loaded beside the
// running ones, state handed over, the new set published between two control-loop steps; any failure leaves the
// running set as it was.
#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/errors.hpp"
#include "core/paths.hpp"
#include "runtime/live_runtime.hpp"
#include "runtime/live_runtime_support.hpp"

namespace warmup::host {
namespace {

std::string instance_label(const PluginInstance& instance) {
    return fmt::format("{}@{}", instance.library().id(), instance.library().version());
}

/// Settings a reload cannot change in a running daemon (they size threads, sockets or the catalog). `running`: the
/// configuration the process started with, whose values of these keys stay in force until a restart whatever later
/// reloads said; so a change is reported on every reload until the restart, and a reload back to them reports none.
std::vector<std::string> restart_only_changes(const Config& running, const Config& next, const Catalog& known) {
    std::vector<std::string> notes;
    auto note = [&](bool changed, std::string_view key) {
        if (changed) notes.push_back(fmt::format("{} changed: takes effect at the next restart", key));
    };
    note(running.http.bind != next.http.bind || running.http.port != next.http.port ||
             running.http.max_body_mb != next.http.max_body_mb || running.http.threads != next.http.threads ||
             running.http.request_timeout_ms != next.http.request_timeout_ms,
         "http");
    note(running.plugin_dirs != next.plugin_dirs, "plugin_dirs");
    note(running.log_format != next.log_format, "log_format");
    note(running.max_concurrent_warmups != next.max_concurrent_warmups, "budgets.max_concurrent_warmups");
    note(running.ingest_queue_capacity != next.ingest_queue_capacity, "budgets.ingest_queue_capacity");
    note(running.max_models != next.max_models, "budgets.max_models");
    note(running.plugin_call_stall_ms != next.plugin_call_stall_ms, "budgets.plugin_call_stall_ms");
    note(running.state != next.state, "state");
    note(running.cluster != next.cluster, "cluster");
    const bool catalog_changed = running.catalog != next.catalog;
    note(catalog_changed, "catalog");
    if (catalog_changed) {
        // The state is restored at a start only if the new catalog covers every model it numbers (the indexes
        // plugins learned under): one model dropped costs every model's learned state. Said now, while the operator
        // can still keep an entry for it.
        const Catalog next_catalog(next.catalog);
        std::vector<std::string> dropped;
        for (warmup_model_index i = 0; i < known.size(); ++i) {
            const std::string& name = known.record(i).name;
            if (!next_catalog.covers(name)) dropped.push_back(fmt::format("'{}'", name));
        }
        if (!dropped.empty())
            notes.push_back(fmt::format(
                "the new catalog has no entry for {} model(s) this daemon has learned ({}{}): the next start will "
                "not restore the saved state and starts without any model's learned state (kept as the backup "
                "'refused-at-start'); keep an entry that matches them to keep it",
                dropped.size(),
                fmt::join(dropped.begin(), dropped.begin() + std::min<std::size_t>(dropped.size(), 5), ", "),
                dropped.size() > 5 ? ", ..." : ""));
    }
    return notes;
}

/// A reload refused before anything changed, with the notes on settings that need a restart.
ReloadResult refused(int http_status, std::string stage, std::string error, std::vector<std::string> notes) {
    ReloadResult result;
    result.notes = std::move(notes);
    result.http_status = http_status;
    result.stage = std::move(stage);
    result.error = std::move(error);
    return result;
}

/// What hand_over_state did, and its detail: the running instance's state went to its replacement ("<schema>, N
/// bytes"), the two share no state (why: a side without the state extension, or other schemas), the running
/// instance's export failed (ExportFailed: its state is lost whatever the reload does, so the replacement may start
/// cold), or the new instance's import failed (Failed; the error).
struct StateHandOver {
    enum class Outcome { HandedOver, NothingShared, ExportFailed, Failed };
    Outcome outcome;
    std::string detail;
};

/// [control] Hands `slot`'s state from the running instance to its replacement where both share a state schema.
StateHandOver hand_over_state(ComponentSlot slot, const PluginInstance& old_instance,
                              const PluginInstance& new_instance, const ReloadResult::SlotChange& change) {
    using Outcome = StateHandOver::Outcome;
    const auto* old_state = static_cast<const warmup_state_extension*>(old_instance.extension(WARMUP_EXT_STATE));
    const auto* new_state = static_cast<const warmup_state_extension*>(new_instance.extension(WARMUP_EXT_STATE));
    const char* old_schema = old_state != nullptr ? old_state->schema(old_instance.self()) : nullptr;
    const char* new_schema = new_state != nullptr ? new_state->schema(new_instance.self()) : nullptr;
    // Named by plugin: "the old plugin" does not say which of a reload, a reset-to-safe or a rollback's two it is.
    if (old_schema == nullptr && new_schema == nullptr)
        return {Outcome::NothingShared,
                change.from == change.to
                    ? fmt::format("{} has no state extension (its params or its library changed; nothing learned to "
                                  "hand over)",
                                  change.to)
                    : fmt::format("neither {} nor {} has a state extension", change.from, change.to)};
    if (old_schema == nullptr || new_schema == nullptr)
        return {Outcome::NothingShared,
                fmt::format("{} (the {} one) has no state extension", old_schema == nullptr ? change.from : change.to,
                            old_schema == nullptr ? "replaced" : "new")};
    if (std::string_view(old_schema) != std::string_view(new_schema))
        return {Outcome::NothingShared, fmt::format("state schemas differ ('{}' vs '{}')", old_schema, new_schema)};
    std::string bytes;
    warmup_byte_writer writer{&bytes, [](void* context, const char* data, size_t size) {
                                  static_cast<std::string*>(context)->append(data, size);
                                  return 0;
                              }};
    warmup_error* error = nullptr;
    {
        const auto in_call = old_instance.marked("export_state");
        error = old_state->export_state(old_instance.self(), &writer);
    }
    if (error != nullptr) {
        ErrorPtr owned(error);
        return {Outcome::ExportFailed, fmt::format("the export of {}'s state by {} failed: {}: {}", slot_key(slot),
                                                   change.from, status_name(owned->code), owned->message)};
    }
    {
        const auto in_call = new_instance.marked("import_state");
        error = new_state->import_state(new_instance.self(), {bytes.data(), bytes.size()});
    }
    if (error != nullptr) {
        ErrorPtr owned(error);
        return {Outcome::Failed, fmt::format("state hand-off of {} from {} to {} failed: {}: {}", slot_key(slot),
                                             change.from, change.to, status_name(owned->code), owned->message)};
    }
    return {Outcome::HandedOver, fmt::format("{}, {} bytes", old_schema, bytes.size())};
}

/// The sources a reload published, as changes (a source replaced) and notes (started, stopped).
void note_source_changes(const std::vector<Sources::Change>& changes, ReloadResult& result) {
    for (const Sources::Change& change : changes) {
        result.changed = true;
        if (change.from.empty())
            result.notes.push_back(fmt::format("source '{}' started ({})", change.name, change.to));
        else if (change.to.empty())
            result.notes.push_back(fmt::format("source '{}' stopped ({})", change.name, change.from));
        else
            result.changes.push_back({"sources." + change.name, change.from, change.to,
                                      "started from the position in its state folder, if any"});
    }
}

/// Settings applied without touching a component (read by the control loop and the workers' timeout check): one
/// note per setting that differs.
void note_setting_changes(const Config& running, const Config& next, ReloadResult& result) {
    const auto setting = [&](bool differs, std::string note) {
        if (!differs) return;
        result.notes.push_back(std::move(note));
        result.changed = true;
    };
    setting(next.log_level != running.log_level, fmt::format("log_level: {} -> {}", running.log_level, next.log_level));
    setting(next.warmup_timeout_ms != running.warmup_timeout_ms,
            fmt::format("budgets.warmup_timeout_ms: {} -> {} ms", running.warmup_timeout_ms, next.warmup_timeout_ms));
    setting(next.unload_timeout_ms != running.unload_timeout_ms,
            fmt::format("budgets.unload_timeout_ms: {} -> {} ms", running.unload_timeout_ms, next.unload_timeout_ms));
    setting(next.ingest_request_window_ms != running.ingest_request_window_ms,
            fmt::format("ingest.request_window_ms: {} -> {} ms", running.ingest_request_window_ms,
                        next.ingest_request_window_ms));
    setting(
        next.reconcile_interval_ms != running.reconcile_interval_ms,
        fmt::format("reconcile.interval_ms: {} -> {} ms", running.reconcile_interval_ms, next.reconcile_interval_ms));
    // The file watch follows the configuration in force (put_in_force): on, off or a new interval from this reload on.
    const auto on_off = [](bool on) { return on ? "on" : "off"; };
    setting(
        next.reload_watch_file != running.reload_watch_file,
        fmt::format("reload.watch_file: {} -> {}{}", on_off(running.reload_watch_file), on_off(next.reload_watch_file),
                    next.reload_watch_file && next.source_file.empty()
                        ? " (nothing to watch: the daemon runs the embedded default configuration)"
                        : ""));
    setting(next.reload_poll_ms != running.reload_poll_ms,
            fmt::format("reload.poll_ms: {} -> {} ms", running.reload_poll_ms, next.reload_poll_ms));
    // An experiment running before and after: its split and weights move traffic and budget shares between the arms
    // (starting or stopping it, or an arm, is said by the arms' own notes).
    if (running.experiment.enabled && next.experiment.enabled) {
        setting(next.experiment.split != running.experiment.split,
                fmt::format("experiment.split: {} -> {} (models and their budget move between the arms)",
                            running.experiment.split, next.experiment.split));
        setting(next.experiment.control_weight != running.experiment.control_weight,
                fmt::format("experiment.control_weight: {:g} -> {:g}", running.experiment.control_weight,
                            next.experiment.control_weight));
        for (const Arm& arm : next.arms) {
            const auto before = std::find_if(running.arms.begin(), running.arms.end(),
                                             [&](const Arm& old) { return old.name == arm.name; });
            if (before != running.arms.end())
                setting(before->weight != arm.weight,
                        fmt::format("arms.{}.weight: {:g} -> {:g}", arm.name, before->weight, arm.weight));
        }
    }
}

}  // namespace

ReloadResult LiveRuntime::counted(ReloadResult result) noexcept {
    // Refused for another reload still running (apply's "busy"): nothing was tried.
    if (!result.ok && result.stage == "busy") return counted_refusal(std::move(result));
    (result.ok ? (result.changed ? reloads_changed_ : reloads_unchanged_) : reloads_failed_).fetch_add(1);
    return result;
}

ReloadResult LiveRuntime::counted_refusal(ReloadResult result) noexcept {
    reloads_refused_.fetch_add(1);
    return result;
}

std::unique_lock<std::timed_mutex> LiveRuntime::lock_reloads() {
    std::unique_lock lock(reload_mutex_, std::defer_lock);
    while (!lock.try_lock_for(kStallCheckInterval))
        if (reload_stall(/*creating_plugins_only=*/false)) return {};
    return lock;
}

std::optional<std::chrono::steady_clock::duration> LiveRuntime::reload_stall(bool creating_plugins_only) const {
    if (creating_plugins_only && !reload_creating_plugins_.load()) return std::nullopt;
    const int64_t started_ns = reload_started_ns_.load();
    if (started_ns == 0) return std::nullopt;
    const auto running =
        std::chrono::steady_clock::now().time_since_epoch() - std::chrono::steady_clock::duration(started_ns);
    if (running < std::chrono::milliseconds(config_.plugin_call_stall_ms)) return std::nullopt;
    return running;
}

std::string LiveRuntime::reload_busy_message() const {
    const int64_t started_ns = reload_started_ns_.load();
    const double seconds = started_ns == 0
                               ? 0.0
                               : std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch() -
                                                               std::chrono::steady_clock::duration(started_ns))
                                     .count();
    if (reload_creating_plugins_.load())
        return fmt::format(
            "a reload started {:.1f} s ago has not finished: a plugin it creates has not returned from its "
            "constructor; reloads, rollbacks and reset-to-safe are refused until it does (restart the daemon to end "
            "it)",
            seconds);
    return fmt::format(
        "a reload started {:.1f} s ago has not finished: it waits for the control loop, or plans every model with the "
        "new plugins; reloads, rollbacks and reset-to-safe are refused until it does",
        seconds);
}

ReloadResult LiveRuntime::reload(Config next) {
    // A normal reload leaves the safe configuration.
    ReloadResult result = counted(apply(std::move(next), /*is_rollback=*/false, /*safe=*/false));
    note_reload_outcome(result);
    return result;
}

void LiveRuntime::note_reload_outcome(const ReloadResult& result) {
    std::lock_guard lock(reload_outcome_mutex_);
    if (result.ok) {
        last_reload_failure_.clear();
        last_reload_failure_unix_ms_ = 0;
        return;
    }
    last_reload_failure_ = fmt::format("{} (HTTP {}, stage {})", result.error, result.http_status, result.stage);
    last_reload_failure_busy_ = result.stage == "busy";
    last_reload_failure_unix_ms_ = unix_now_ms();
}

ReloadResult LiveRuntime::reload_from_file() {
    std::filesystem::path file;
    {
        const auto lock = lock_reloads();
        if (!lock) {
            ReloadResult busy = counted_refusal(refused(503, "busy", reload_busy_message(), {}));
            note_reload_outcome(busy);
            return busy;
        }
        file = running_config_.source_file;
    }
    ReloadResult result;
    if (file.empty()) {
        result.http_status = 409;
        result.stage = "config";
        result.error =
            "the daemon runs the embedded default configuration: there is no file to reload (start it "
            "with --config FILE)";
        spdlog::error("CONFIG_RELOAD_FAILED {}", result.error);  // as every other reload that fails
        return counted_refusal(std::move(result));
    }
    try {
        // load_config_file stamps the file before it reads it (Config::source_stamp): the file watch, if this reload
        // turns it on, starts from there.
        Config next = load_config_file(file, executable_dir());
        if (bind_override_) next.http.bind = *bind_override_;
        if (port_override_) next.http.port = *port_override_;
        result = reload(std::move(next));
    } catch (const std::exception& failure) {
        result.http_status = 400;
        result.stage = "config";
        result.error = failure.what();
        spdlog::error("CONFIG_RELOAD_FAILED {}", result.error);
        result = counted(std::move(result));
        note_reload_outcome(result);
    }
    // The YAML parser's tree (about 3.5 KB per listed catalog entry) is freed by now, in blocks malloc keeps and the
    // daemon's small allocations then pin: give those pages back (at 20,000 listed entries the daemon stayed at ~150 MB
    // after a reload instead of ~36).
    malloc_trim(0);
    return result;
}

ReloadResult LiveRuntime::rollback() {
    std::optional<Config> previous;
    bool previous_safe = false;
    bool rolled_back = false;
    {
        const auto lock = lock_reloads();
        if (!lock) return counted_refusal(refused(503, "busy", reload_busy_message(), {}));
        previous = previous_config_;
        previous_safe = previous_safe_;
        rolled_back = rolled_back_;
    }
    if (!previous) {
        ReloadResult result;
        result.http_status = 409;
        result.stage = "config";
        result.error = rolled_back ? "nothing to roll back to: a rollback goes back one step, and the last change was "
                                     "already rolled back (the configuration before it is in force); reload a "
                                     "configuration to change it again"
                                   : "no previous configuration to roll back to: no reload or reset-to-safe has "
                                     "changed the configuration since the daemon started";
        return counted_refusal(std::move(result));
    }
    // The configuration goes back with its mode: a rollback to the safe configuration is in safe mode again, so that
    // a later reset-to-safe does not halve its budget once more.
    ReloadResult result = apply(std::move(*previous), /*is_rollback=*/true, previous_safe);
    if (result.ok && previous_safe)
        result.notes.push_back(
            "back on the safe configuration (safe_mode: true); POST /api/warmup/config/reload leaves it");
    return counted(std::move(result));
}

// Check the configuration, prepare its plugins beside the running ones, publish them on the control thread, then
// apply the settings and sources; the running set stays as it was if any step fails.
ReloadResult LiveRuntime::apply(Config next, bool is_rollback, bool safe) {
    const auto lock = lock_reloads();
    if (!lock) return refused(503, "busy", reload_busy_message(), {});
    reload_started_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count());
    struct Finished {
        std::atomic<int64_t>& started_ns;
        std::atomic<bool>& creating_plugins;
        ~Finished() {
            creating_plugins.store(false);
            started_ns.store(0);
        }
    } finished{reload_started_ns_, reload_creating_plugins_};
    // Against config_ (what the process started with), not running_config_: a reload puts the restart-only keys in
    // running_config_ as well, though the process still runs the old values.
    std::vector<std::string> restart_notes = restart_only_changes(config_, next, catalog_);
    if (next.memory_budget.is_relative())
        return refused(400, "config",
                       fmt::format("{}: budgets.memory_mb: a relative budget ({}) only makes sense in replay",
                                   next.locate("budgets.memory_mb"), next.memory_budget.describe()),
                       std::move(restart_notes));
    if (reload_listener_.check)
        if (auto refusal = reload_listener_.check(running_config_, next)) {
            spdlog::error("CONFIG_RELOAD_FAILED {}", *refusal);
            return refused(400, "config", std::move(*refusal), std::move(restart_notes));
        }

    PreparedReload prepared;
    try {
        reload_creating_plugins_.store(true);
        prepared = prepare_reload(next, is_rollback);
        reload_creating_plugins_.store(false);
    } catch (const std::exception& failure) {
        spdlog::error("CONFIG_RELOAD_FAILED PLUGIN_LOAD_ERROR {} (the running plugins are unchanged)", failure.what());
        return refused(422, "load", failure.what(), std::move(restart_notes));
    }

    const double next_budget_mb = next.memory_budget.absolute_mb;
    const bool budget_changed = next_budget_mb != running_config_.memory_budget.absolute_mb;
    PublishedReload published;
    try {
        published = call_on_control([&](WarmupEngine& engine) {
            return publish_reload(engine, next, prepared.control, budget_changed, is_rollback, safe);
        });
    } catch (const ControlLoopStalled& stalled) {
        // Nothing was published, and the command will not run: the running set stays as it is.
        spdlog::error("CONFIG_RELOAD_FAILED {}", stalled.what());
        return refused(503, "control", stalled.what(), std::move(restart_notes));
    }
    if (!published.ok) {
        spdlog::error("CONFIG_RELOAD_FAILED STATE_HANDOFF_ERROR {} (the running plugins are unchanged)",
                      published.error);
        return refused(500, "state", published.error, std::move(restart_notes));
    }

    ReloadResult result;
    result.ok = true;
    result.notes = std::move(restart_notes);
    result.changes = std::move(published.changes);
    // Sources are swapped after the components: a replaced source stops before its successor starts.
    note_source_changes(sources_->publish(std::move(prepared.sources)), result);
    result.pause_us = published.pause_us;
    for (auto& note : published.notes) result.notes.push_back(std::move(note));
    if (budget_changed)
        result.notes.push_back(
            fmt::format("budgets.memory_mb: {} -> {} MiB", running_config_.memory_budget.absolute_mb, next_budget_mb));
    result.changed = result.changed || published.changed;
    note_setting_changes(running_config_, next, result);
    if (reload_listener_.apply)
        for (auto& note : reload_listener_.apply(running_config_, next)) {
            result.notes.push_back(std::move(note));
            result.changed = true;
        }
    put_in_force(std::move(next), is_rollback, result.changed, safe);
    for (const auto& change : result.changes)
        spdlog::info("CONFIG_RELOADED {}: {} -> {}{} ({})", change.slot, change.from, change.to,
                     change.from == change.to ? " (a new instance: its params or its library changed)" : "",
                     change.state);
    if (result.changed || !result.changes.empty())
        spdlog::info("CONFIG_RELOADED {} component(s) replaced{}, control loop paused {:.0f} us", result.changes.size(),
                     is_rollback ? " by rollback" : "", result.pause_us);
    else
        spdlog::info("CONFIG_RELOADED nothing changed{}: every component and setting is as it was",
                     is_rollback ? " by rollback" : "");
    return result;
}

LiveRuntime::PreparedReload LiveRuntime::prepare_reload(const Config& next, bool is_rollback) {
    // Unchanged slots reuse their instances; experiment arms whose definition is unchanged keep running. Nothing here
    // touches what the control thread uses: arms_ is only read (the pointers).
    PreparedReload prepared;
    prepared.sources = sources_->prepare(next.sources, next, loader_, catalog_, clock_);
    prepared.control = PluginSet::create(next.components, next, loader_, catalog_, clock_, arms_.front()->plugins.get(),
                                         false, before_last_reload_.get(), /*take_back_retained=*/is_rollback);
    // Experiment arms are rebuilt on the control thread (they own engines); here only validate that their plugins
    // load and start, so a failure is reported before anything changes.
    for (const Arm& arm : live_experiment_arms(next))
        prepared.validated_arms.push_back(
            PluginSet::create(arm.components, next, loader_, catalog_, clock_, nullptr, true));
    return prepared;
}

LiveRuntime::PublishedReload LiveRuntime::publish_reload(WarmupEngine& engine, const Config& next,
                                                         std::unique_ptr<PluginSet>& next_control, bool budget_changed,
                                                         bool is_rollback, bool safe) {
    PublishedReload out;
    const auto started = std::chrono::steady_clock::now();
    LiveArm& control = *arms_.front();
    for (const ComponentSlot slot : kAllSlots) {
        const auto& old_instance = control.plugins->at(slot);
        const auto& new_instance = next_control->at(slot);
        if (old_instance == new_instance) continue;
        ReloadResult::SlotChange change{std::string(slot_key(slot)), instance_label(*old_instance),
                                        instance_label(*new_instance), ""};
        // An instance taken back from before the last reload keeps what it had learned when the running one cannot
        // hand its own over: no state extension, another schema, or a state it cannot read (a rollback to an older
        // version of a plugin whose newer state has records the older refuses; a refused import leaves a plugin's
        // state as it was). A new instance that cannot read the running one's state is refused.
        const bool taken_back = before_last_reload_ && before_last_reload_->at(slot) == new_instance;
        // `state: cold` (the operator's choice): the replacement does not take the running instance's state.
        StateHandOver hand_over =
            next.components[slot].start_cold && !taken_back
                ? StateHandOver{StateHandOver::Outcome::NothingShared,
                                fmt::format("components.{}.state is cold in the configuration", slot_key(slot))}
                : hand_over_state(slot, *old_instance, *new_instance, change);
        if (hand_over.outcome == StateHandOver::Outcome::Failed) {
            if (!taken_back) {
                out.ok = false;
                out.error = fmt::format(
                    "{} (the running instance stays; to replace it all the same, starting without its state, add "
                    "`state: cold` to components.{} and reload)",
                    hand_over.detail, slot_key(slot));
                return out;  // nothing published yet: the running set is untouched
            }
            // What the running instance learned since the last reload is dropped with it: say so where it is seen.
            spdlog::warn(
                "STATE_HANDOFF_ERROR {} (the rollback goes on: the instance taken back keeps what it had "
                "learned before the last reload)",
                hand_over.detail);
            hand_over.detail = "the running instance's state could not be handed over: " + hand_over.detail;
        }
        if (hand_over.outcome == StateHandOver::Outcome::ExportFailed) {
            // Refusing would keep the plugin that cannot export (often the one being replaced for it): what it learned
            // is lost either way (no snapshot holds it either), so its replacement starts, said where it is seen.
            spdlog::warn("STATE_HANDOFF_ERROR {} (the reload goes on: {} starts without it)", hand_over.detail,
                         change.to);
            hand_over.detail = "the running instance's state could not be exported (" + hand_over.detail + ")";
        }
        if (hand_over.outcome == StateHandOver::Outcome::HandedOver)
            change.state = "handed over (" + hand_over.detail + ")";
        else if (taken_back)
            change.state = "taken back as it was before the last reload, with what it had learned until then (" +
                           (hand_over.outcome == StateHandOver::Outcome::Failed ||
                                    hand_over.outcome == StateHandOver::Outcome::ExportFailed
                                ? hand_over.detail
                                : "the running instance had nothing to hand over: " + hand_over.detail) +
                           ")";
        else
            change.state = "started cold: " + hand_over.detail;
        out.changes.push_back(std::move(change));
    }

    // Experiment arms: unchanged ones keep running, new or changed ones start cold, removed ones stop.
    for (auto& arm : arms_) arm->engine->flush_metrics();  // into the sink that is about to be replaced
    std::vector<std::unique_ptr<LiveArm>> old_arms;
    for (std::size_t i = 1; i < arms_.size(); ++i) old_arms.push_back(std::move(arms_[i]));
    std::vector<std::unique_ptr<LiveArm>> new_arms;
    try {
        new_arms = build_experiment_arms(next, old_arms);
    } catch (const std::exception& failure) {
        for (std::size_t i = 1; i < arms_.size(); ++i) arms_[i] = std::move(old_arms[i - 1]);
        out.ok = false;
        out.error = failure.what();
        return out;
    }
    for (const auto& arm : old_arms)
        if (arm) out.notes.push_back(fmt::format("experiment arm '{}' stopped", arm->name));
    std::vector<LiveArm*> started_arms;  // the arms this reload starts (their engines are made with the budgets below)
    for (const auto& arm : new_arms)
        if (!arm->engine) {
            started_arms.push_back(arm.get());
            out.notes.push_back(fmt::format("experiment arm '{}' started ({})", arm->name,
                                            arm->mode == LiveArm::Mode::Shadow ? "shadow" : "acting"));
        }

    // No arm starts a load until every arm's books are complete: the budgets change below (an arm's share may grow
    // by a stopped arm's), and the memory a stopped acting arm still holds on the server (its loaded models, its
    // unloads not over yet) reaches the arms that serve those models only after that. A load started in between would
    // count that memory free while the server still holds it, and the budget would be overcommitted.
    arms_.front()->engine->hold_loads();  // the other running arms are in new_arms (kept) or old_arms (stopping) now
    for (const auto& arm : new_arms)
        if (arm->engine) arm->engine->hold_loads();
    // Whatever leaves this function from here, an exception included (a plugin's constructor when an arm starts, a
    // replan), no engine stays held: its loads would never start again, nor a budget that shrank be enforced.
    const auto release_every_arm = [&] {
        const warmup_time_ms now_ms = clock_.now_ms();
        for (auto& arm : arms_)
            if (arm && arm->engine) arm->engine->release_loads(now_ms);
        for (auto& arm : new_arms)  // those not moved into arms_ yet
            if (arm && arm->engine) arm->engine->release_loads(now_ms);
    };
    struct ReleaseOnExit {
        const decltype(release_every_arm)& release;
        bool released = false;
        ~ReleaseOnExit() {
            if (released) return;
            try {
                release();
            } catch (const std::exception& error) {
                spdlog::error("CONFIG_RELOAD_FAILED the held loads could not be released: {}", error.what());
            }
        }
    } release_on_exit{release_every_arm};
    engine.replace_components(next_control->component_set(), clock_.now_ms());
    if (control.plugins->at(ComponentSlot::Backend) != next_control->at(ComponentSlot::Backend))
        workers_->set_backend(next_control->at(ComponentSlot::Backend));
    std::swap(control.plugins, next_control);
    safe_plugins_in_force_ = safe;
    control.weight = next.experiment.control_weight;
    const bool experiment_was_running = arms_.size() > 1;
    arms_.resize(1);
    for (auto& arm : new_arms) arms_.push_back(std::move(arm));
    experiment_ = next.experiment;
    // An experiment this reload starts compares the control arm from now on, as its arms count from their start:
    // the control arm's requests before it are not part of the comparison. One it stops leaves the control arm's
    // figures counting from the daemon's start again.
    if (arms_.size() > 1 && !experiment_was_running) {
        control.counted_from = control.engine->counters();
        control.counted_since_unix_ms = unix_now_ms();
    } else if (arms_.size() == 1) {
        control.counted_from = EngineCounters{};
        control.counted_since_unix_ms = 0;
    }
    // Arms that kept running need the (possibly new) shared metrics plugin.
    for (std::size_t i = 1; i < arms_.size(); ++i)
        if (arms_[i]->engine) {
            ComponentSet components = arms_[i]->plugins->component_set();
            components.metrics = control.plugins->component_set().metrics;
            arms_[i]->engine->replace_components(components, clock_.now_ms());
        }
    assign_budgets(next.memory_budget.absolute_mb);
    for (auto& arm : arms_) arm->engine->hold_loads();  // the arms started just now too
    // An arm started again (by a rollback, the reload that leaves safe mode, or one that adds it back) gets what it
    // had learned and counted when a reload stopped it; the arms this reload stops are kept for that in turn.
    take_back_stopped_arms(started_arms, out.notes);
    keep_stopped_arms(old_arms);
    // The unloads a stopped acting arm still runs go to the books of the arms that serve those models now, before any
    // plan: the server holds those models until the unloads return, so that memory is in use (and being unloaded) for
    // every load decided from here on.
    for (const auto& arm : old_arms) {
        if (!arm || arm->mode != LiveArm::Mode::Acting) continue;
        if (const std::size_t handed = hand_over_unloads(*arm); handed > 0)
            out.notes.push_back(fmt::format(
                "experiment arm '{}': its {} unload(s) not over yet stay charged, to the arms that serve those models "
                "now, until the backend answers",
                arm->name, handed));
    }
    // A new predictor, analyzer or scheduler (or a rollback to the old ones) would plan differently: every model
    // gets a fresh plan now, not at its next event, so loaded models drop the old unload plan and planned pre-warms
    // come back.
    out.changed = !out.changes.empty() || !out.notes.empty() || budget_changed;
    if (out.changed) {
        // The new plugins answer for every model here, with the control loop paused: a slow or failing one is said in
        // the answer, not only in the log (PLUGIN_CALL_ERROR, a call over the 50 ms budget counting as a failure).
        uint64_t failed_calls = 0;
        const auto replan_started = std::chrono::steady_clock::now();
        for (auto& arm : arms_) {
            const uint64_t before = arm->engine->counters().plugin_errors;
            arm->engine->replan_all(clock_.now_ms());
            failed_calls += arm->engine->counters().plugin_errors - before;
        }
        if (failed_calls > 0) {
            std::vector<std::string> opened;  // components whose fallback planned the rest
            for (auto& arm : arms_)
                for (std::size_t kind = 0; kind < kComponentKinds; ++kind)
                    if (arm->engine->circuit_state(static_cast<ComponentKind>(kind)) != CircuitState::Closed)
                        opened.push_back(arm->engine->component_label(static_cast<ComponentKind>(kind)));
            out.notes.push_back(fmt::format(
                "planning every model again with the new plugins took {:.1f} s and {} plugin call(s) failed or ran "
                "over their budget (PLUGIN_CALL_ERROR in the log; GET /api/warmup/health/components){}",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - replan_started).count(), failed_calls,
                opened.empty() ? std::string()
                               : fmt::format("; the circuit of {} opened and its built-in fallback planned the rest",
                                             fmt::join(opened, ", "))));
        }
    }
    // What a stopped acting arm had loaded is still on the backend: the arms that serve those models now take them
    // (else nothing would unload them, and their next request would load them a second time), after the replan: a
    // model their books never saw requested is kept for the built-in keep-alive until it is. Loads the arm had
    // running are taken when they complete (take_completions).
    for (const auto& arm : old_arms) {
        if (!arm || arm->mode != LiveArm::Mode::Acting) continue;
        if (const std::size_t handed = hand_over_resident(*arm); handed > 0)
            out.notes.push_back(
                fmt::format("experiment arm '{}': its {} loaded model(s) were handed to the arms that serve them now",
                            arm->name, handed));
    }
    // Split by model, a model may now be served by another running arm than the one that loaded it.
    if (const std::size_t moved = hand_over_to_serving_arms(); moved > 0)
        out.notes.push_back(fmt::format(
            "{} loaded model(s) were handed to the experiment arms that serve them now (split by model)", moved));
    // Every arm's books hold what the server does: what is over the new budgets is evicted and what fits starts now.
    release_on_exit.released = true;
    release_every_arm();
    out.pause_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
    // The replaced set is kept, as what a rollback goes back to, until the next reload that replaces a component;
    // sets are destroyed here, on the control thread, and their libraries go when nothing else holds them. A rollback
    // into the safe configuration keeps the configured set it replaced too, as reset-to-safe does: the snapshots
    // hold its predictor's state (the safe keep-alive has none), and the reload that leaves safe mode takes it back.
    if (!out.changes.empty()) before_last_reload_ = is_rollback && !safe ? nullptr : std::move(next_control);
    next_control.reset();
    // A stopped arm's gauges would keep their last values in the shared metrics plugin: its memory is counted by
    // the arms that took its models now.
    for (const auto& arm : old_arms)
        if (arm && arm->engine) arm->engine->publish_gauges(clock_.now_ms(), /*stopped=*/true);
    old_arms.clear();
    return out;
}

void LiveRuntime::put_in_force(Config next, bool is_rollback, bool changed, bool safe) {
    if (changed) {
        if (!is_rollback) {
            previous_config_ = running_config_;
            previous_safe_ = safe_mode_.load();
        } else {
            previous_config_.reset();
            previous_safe_ = false;
        }
        rolled_back_ = is_rollback;
    }
    safe_mode_.store(safe);
    if (next.log_level != running_config_.log_level) spdlog::set_level(spdlog::level::from_str(next.log_level));
    warmup_timeout_ms_.store(next.warmup_timeout_ms);
    unload_timeout_ms_.store(next.unload_timeout_ms);
    request_window_ms_.store(next.ingest_request_window_ms);
    reconcile_interval_ms_.store(next.reconcile_interval_ms);
    // A configuration just read from the file carries the file's stamp from before that read: should this reload turn
    // the watch on, an edit saved since (while the plugins were being created) is a change. A rollback's configuration
    // was read before the reloads it undoes, and the safe one is derived from the running one: neither says what the
    // file holds now, so for them the watch starts from the file as it is.
    const bool just_read = !is_rollback && !safe;
    config_file_watcher_.configure(next.source_file, next.reload_watch_file, next.reload_poll_ms,
                                   just_read ? next.source_stamp : std::nullopt);
    {
        // The catalog the next start will use, when it is not the one in force (a change a reload cannot make).
        std::shared_ptr<const Catalog> at_next_start;
        if (next.catalog != config_.catalog) at_next_start = std::make_shared<const Catalog>(next.catalog);
        std::lock_guard lock(catalog_at_next_start_mutex_);
        catalog_at_next_start_ = std::move(at_next_start);
    }
    running_config_ = std::move(next);
}

bool LiveRuntime::covered_only_at_next_start(std::string_view model) const {
    std::shared_ptr<const Catalog> at_next_start;
    {
        std::lock_guard lock(catalog_at_next_start_mutex_);
        at_next_start = catalog_at_next_start_;
    }
    return at_next_start != nullptr && at_next_start->covers(model) && !catalog_.covers(model);
}

}  // namespace warmup::host
