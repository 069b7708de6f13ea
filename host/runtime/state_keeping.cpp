// runtime/state_keeping.cpp — the LiveRuntime's durable state: snapshots (periodic, backups), restore at start and
// on demand, the event journal and its replay, and the state and journal threads.
//
// Every method here runs on a caller thread (HTTP handler, the state thread, warmupd's main thread) and reaches the
// engines and plugins only through call_on_control, so plugins keep seeing one thread.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <tuple>

#include "core/errors.hpp"
#include "core/reported_call_failure.hpp"
#include "runtime/live_runtime.hpp"
#include "runtime/live_runtime_support.hpp"
#include "runtime/state_sections.hpp"

namespace warmup::host {
namespace {

const warmup_state_extension* state_extension(const PluginInstance& instance) {
    return static_cast<const warmup_state_extension*>(instance.extension(WARMUP_EXT_STATE));
}

}  // namespace

bool export_section(const PluginSet& plugins, ComponentSlot slot, SnapshotSink& out, std::vector<std::string>& problems,
                    std::string_view key) {
    const auto& instance = plugins.at(slot);
    const warmup_state_extension* state = state_extension(*instance);
    if (state == nullptr) return false;
    if (key.empty()) key = slot_key(slot);
    const char* schema = nullptr;
    {
        // A schema that fails (an exception the SDK turned into the empty schema, reported to the host) would keep
        // a section no import reads: the export is refused instead, and the state component says so.
        ReportedCallFailure::Collector failure;
        schema = state->schema(instance->self());
        if (failure.failed() || schema == nullptr) {
            problems.push_back(fmt::format("{} ({}) could not say its state schema: {}: {}", key, instance->label(),
                                           status_name(failure.failed() ? failure.code() : WARMUP_ERROR_INTERNAL),
                                           failure.failed() ? failure.message() : "it answered no schema"));
            return false;
        }
    }
    out.begin_section(key, schema);
    warmup_byte_writer writer{
        &out, [](void* context, const char* data, size_t size) {
            return static_cast<SnapshotSink*>(context)->append_section_data({data, size}) ? 0 : -1;
        }};
    warmup_error* error = nullptr;
    {
        const auto in_call = instance->marked("export_state");
        error = state->export_state(instance->self(), &writer);
    }
    if (error != nullptr) {
        ErrorPtr owned(error);
        out.discard_section();
        problems.push_back(fmt::format("{} ({}) could not export its state: {}: {}", key, instance->label(),
                                       status_name(owned->code), owned->message));
        return false;
    }
    out.end_section();
    return true;
}

namespace {

/// The backup a start keeps the newest state in when the catalog no longer covers one of its models.

// The control engine's totals (what /status shows) travel in the snapshot as one more section, beside the metrics
// plugin's own state: restored together, /status and /metrics agree after a restart. A JSON object by field name, so
// a field added later reads as 0 from an older snapshot, and an older daemon skips the section ("not a component
// slot") without failing the restore. The operator's emergency stop travels in the same object ("emergency_stop":
// true while it is in force; absent, as in a state written before it was kept, reads as not stopped), so it is in
// every snapshot and in every journal checkpoint.
constexpr std::string_view kEngineSectionSchema = "org.warmup.state.engine-counters/1";

struct CounterField {
    const char* name;
    uint64_t EngineCounters::*field;
};

constexpr CounterField kCounterFields[] = {
    {"events", &EngineCounters::events},
    {"requests", &EngineCounters::requests},
    {"warm_requests", &EngineCounters::warm_requests},
    {"cold_requests", &EngineCounters::cold_requests},
    {"failed_requests", &EngineCounters::failed_requests},
    {"demand_loads", &EngineCounters::demand_loads},
    {"loads_queued_for_memory", &EngineCounters::loads_queued_for_memory},
    {"prewarms_started", &EngineCounters::prewarms_started},
    {"prewarms_used", &EngineCounters::prewarms_used},
    {"prewarms_wasted", &EngineCounters::prewarms_wasted},
    {"prewarms_skipped", &EngineCounters::prewarms_skipped},
    {"loads_succeeded", &EngineCounters::loads_succeeded},
    {"loads_failed", &EngineCounters::loads_failed},
    {"loads_given_up", &EngineCounters::loads_given_up},
    {"evictions", &EngineCounters::evictions},
    {"unloads", &EngineCounters::unloads},
    {"queue_rejections", &EngineCounters::queue_rejections},
    {"idle_gap_requests", &EngineCounters::idle_gap_requests},
    {"idle_gap_prewarmed", &EngineCounters::idle_gap_prewarmed},
    {"plugin_errors", &EngineCounters::plugin_errors},
};

/// The daemon-level totals saved with the engine's.
struct IngestTotals {
    uint64_t accepted = 0;
    uint64_t refused = 0;
};

/// Why `name` cannot name a backup, for a 400 answer (backup and restore alike).
std::string invalid_backup_name(const std::string& name) {
    return fmt::format("backup name '{}': expected 1 to 64 characters of [A-Za-z0-9._-], not starting with '.'", name);
}

/// What the engine section holds.
struct EngineSection {
    EngineCounters counters;
    IngestTotals ingest;
    bool emergency_stop = false;
    std::pair<EngineCounters, int64_t> experiment_window;  ///< the control arm's (read_experiment_window)
};

std::string encode_counters(const EngineCounters& counters, const IngestTotals& ingest, bool emergency_stop,
                            const LiveArm& control) {
    nlohmann::json out = counters_as_state(counters);
    write_experiment_window(out, control.counted_from, control.counted_since_unix_ms);
    out["events_accepted"] = ingest.accepted;
    out["events_refused"] = ingest.refused;
    out["emergency_stop"] = emergency_stop;
    return out.dump();
}

uint64_t read_count(const nlohmann::json& in, const char* name) {
    const auto found = in.find(name);
    if (found == in.end()) return 0;
    if (!found->is_number_unsigned()) throw std::invalid_argument(fmt::format("'{}' is not a count", name));
    return found->get<uint64_t>();
}

/// Throws std::invalid_argument naming the first bad field; nothing is changed then.
EngineSection decode_counters(std::string_view data) {
    const nlohmann::json in = parse_object(data);
    const auto flag = [&](const char* name) {
        const auto found = in.find(name);
        if (found == in.end()) return false;
        if (!found->is_boolean()) throw std::invalid_argument(fmt::format("'{}' is not true or false", name));
        return found->get<bool>();
    };
    EngineSection out;
    out.counters = counters_from_state(in);
    out.ingest = IngestTotals{read_count(in, "events_accepted"), read_count(in, "events_refused")};
    out.emergency_stop = flag("emergency_stop");
    out.experiment_window = read_experiment_window(in);
    return out;
}

}  // namespace

nlohmann::json counters_as_state(const EngineCounters& counters) {
    nlohmann::json out = nlohmann::json::object();
    for (const CounterField& field : kCounterFields) out[field.name] = counters.*field.field;
    out["loaded_mb_ms"] = counters.loaded_mb_ms;
    out["idle_mb_ms"] = counters.idle_mb_ms;
    return out;
}

nlohmann::json parse_object(std::string_view data) {
    nlohmann::json in = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
    if (!in.is_object()) throw std::invalid_argument("not a JSON object");
    return in;
}

EngineCounters counters_from_state(const nlohmann::json& in) {
    const auto amount = [&](const char* name) -> double {
        const auto found = in.find(name);
        if (found == in.end()) return 0;
        if (!found->is_number() || found->get<double>() < 0)
            throw std::invalid_argument(fmt::format("'{}' is not a number >= 0", name));
        return found->get<double>();
    };
    EngineCounters out;
    for (const CounterField& field : kCounterFields) out.*field.field = read_count(in, field.name);
    out.loaded_mb_ms = amount("loaded_mb_ms");
    out.idle_mb_ms = amount("idle_mb_ms");
    return out;
}

EngineCounters counters_since(const EngineCounters& now, const EngineCounters& from) {
    const auto since = [](auto later, auto earlier) { return later > earlier ? later - earlier : decltype(later){}; };
    EngineCounters out;
    for (const CounterField& field : kCounterFields) out.*field.field = since(now.*field.field, from.*field.field);
    out.loaded_mb_ms = since(now.loaded_mb_ms, from.loaded_mb_ms);
    out.idle_mb_ms = since(now.idle_mb_ms, from.idle_mb_ms);
    return out;
}

void write_experiment_window(nlohmann::json& out, const EngineCounters& from, int64_t since_unix_ms) {
    if (since_unix_ms == 0) return;
    out["experiment_counted_from"] = counters_as_state(from);
    out["experiment_counted_since_unix_ms"] = since_unix_ms;
}

std::pair<EngineCounters, int64_t> read_experiment_window(const nlohmann::json& in) {
    const auto since = in.find("experiment_counted_since_unix_ms");
    if (since == in.end()) return {EngineCounters{}, 0};
    const auto from = in.find("experiment_counted_from");
    if (!since->is_number_integer() || since->get<int64_t>() <= 0 || from == in.end() || !from->is_object())
        throw std::invalid_argument("'experiment_counted_since_unix_ms' or 'experiment_counted_from' is malformed");
    return {counters_from_state(*from), since->get<int64_t>()};
}

std::vector<std::string> warm_model_names(const WarmupEngine& engine, const Catalog& catalog) {
    std::vector<std::string> names;
    for (warmup_model_index model = 0; model < engine.model_count(); ++model)
        if (engine.in_warm_set(model)) names.push_back(catalog.record(model).name);
    return names;
}

bool import_plugin_section(const PluginInstance& instance, const SnapshotSection& section,
                           const std::function<void(std::string)>& note, std::vector<std::string>& errors) {
    const warmup_state_extension* state = state_extension(instance);
    const char* schema = state != nullptr ? state->schema(instance.self()) : nullptr;
    if (schema == nullptr) {
        note(fmt::format("{} skipped: the running {} has no state extension", section.slot, instance.label()));
        return false;
    }
    if (section.schema != schema) {
        note(
            fmt::format("{} skipped: schema '{}' in the snapshot, '{}' running", section.slot, section.schema, schema));
        return false;
    }
    warmup_error* error = nullptr;
    {
        const auto in_call = instance.marked("import_state");
        error = state->import_state(instance.self(), {section.data.data(), section.data.size()});
    }
    if (error != nullptr) {
        ErrorPtr owned(error);
        errors.push_back(fmt::format("{} ({}) refused the state (unchanged): {}: {}", section.slot, instance.label(),
                                     status_name(owned->code), owned->message));
        return false;
    }
    note(fmt::format("{} restored ({}, {} bytes)", section.slot, section.schema, section.data.size()));
    return true;
}

void LiveRuntime::capture_state(SnapshotSink& out, std::vector<std::string>* notes) {
    std::vector<std::string> problems = call_on_control([&](WarmupEngine& engine) {
        std::vector<std::string> problems_here;
        // The cut: events accepted before it are in the engine (taken here) and in the journal's segments so far;
        // events accepted after it go to a new segment. The ingest totals are read at the same instant.
        IngestTotals ingest;
        const auto created_unix_ms = static_cast<uint64_t>(unix_now_ms());
        take_pending_events([&] {
            if (EventJournal* journal = journal_.load()) journal->rotate(created_unix_ms);
            ingest = {accepted_events_.load(), refused_events_.load()};
        });
        // The control loop flushed buffered metrics before running this command (and take_pending_events after the
        // events it fed), so the sink's counters are current. Everything goes to `out` as it is produced: no list
        // or section is held here.
        out.begin(created_unix_ms);
        const uint32_t known = catalog_.size();
        for (warmup_model_index model = 0; model < known; ++model) out.add_model(catalog_.record(model).name);
        for (const std::string& name : warm_set_of(*arms_.front())) out.add_warm_model(name);
        // In safe mode a restart runs the configuration's plugins, not the safe ones: for a slot the safe
        // configuration replaced (the predictor), the state kept is that of the instance held for the rollback, as
        // it was when the safe configuration took over (the safe keep-alive has none, and the learning would be lost).
        for (const ComponentSlot slot : kAllSlots) {
            const bool held_for_restart = safe_plugins_in_force_ && before_last_reload_ &&
                                          before_last_reload_->at(slot) != plugins().at(slot) &&
                                          state_extension(*before_last_reload_->at(slot)) != nullptr;
            export_section(held_for_restart ? *before_last_reload_ : plugins(), slot, out, problems_here);
        }
        // Every experiment arm's plugins and books, beside the control arm's above; and those of the arms reloads
        // stopped (reset-to-safe's included) whose name no running arm has, for a restart that starts them again.
        for (std::size_t i = 1; i < arms_.size(); ++i)
            write_arm_sections(*arms_[i], out, /*with_plugins=*/true, /*with_warm_set=*/true, problems_here);
        for (const StoppedArm& stopped : stopped_arms_) {
            const bool running = std::any_of(arms_.begin() + 1, arms_.end(),
                                             [&](const auto& arm) { return arm->name == stopped.definition.name; });
            if (!running)
                for (const SnapshotSection& section : stopped.sections)
                    out.add_section(section.slot, section.schema, section.data);
        }
        out.add_section(kEngineSectionSlot, kEngineSectionSchema,
                        encode_counters(engine.counters(), ingest, engine.stopped(), *arms_.front()));
        return problems_here;
    });
    for (const auto& problem : problems) spdlog::error("STATE_EXPORT_ERROR {}", problem);
    {
        std::lock_guard lock(state_mutex_);
        last_export_problem_ = fmt::format("{}", fmt::join(problems, "; "));
    }
    if (notes != nullptr) notes->insert(notes->end(), problems.begin(), problems.end());
}

Snapshot LiveRuntime::capture_state(std::vector<std::string>* notes) {
    SnapshotBuilder builder;
    capture_state(builder, notes);
    return builder.take();
}

std::vector<std::string> LiveRuntime::import_counter_sections(WarmupEngine& engine,
                                                              std::span<const SnapshotSection> sections,
                                                              std::vector<std::string>* notes, std::size_t* imported,
                                                              std::optional<bool>* emergency_stop,
                                                              std::size_t* counters_kept,
                                                              std::vector<RestoredArm>* restored_arms) {
    std::vector<std::string> import_errors;
    const std::function<void(std::string)> note = [&](std::string line) {
        if (notes != nullptr) notes->push_back(std::move(line));
    };
    std::vector<const SnapshotSection*> arm_sections;  // imported after the control arm's, arm by arm
    for (const SnapshotSection& section : sections) {
        if (section.slot == kEngineSectionSlot && section.schema == kEngineSectionSchema) {
            if (counters_kept != nullptr) {
                ++*counters_kept;
                note("engine counters kept counting (a restore on a running daemon does not set them back)");
                continue;
            }
            try {
                const EngineSection decoded = decode_counters(section.data);
                engine.restore_counters(decoded.counters);
                std::tie(arms_.front()->counted_from, arms_.front()->counted_since_unix_ms) = decoded.experiment_window;
                accepted_events_.store(decoded.ingest.accepted);
                refused_events_.store(decoded.ingest.refused);
                if (emergency_stop != nullptr) *emergency_stop = decoded.emergency_stop;
                ++*imported;
                note(fmt::format("engine counters restored ({} requests)", decoded.counters.requests));
            } catch (const std::exception& error) {
                import_errors.push_back(
                    fmt::format("engine counters refused (unchanged): {}: {}", section.schema, error.what()));
            }
            continue;
        }
        if (is_arm_section(section)) {
            arm_sections.push_back(&section);
            continue;
        }
        // A section written before a slot was renamed carries the old key; it is the same slot.
        const auto slot = slot_from_key_or_deprecated(section.slot);
        if (!slot) {
            note(fmt::format("section '{}' skipped: not a component slot", section.slot));
            continue;
        }
        if (counters_kept != nullptr && *slot == ComponentSlot::Metrics) {
            ++*counters_kept;
            note(fmt::format("{} kept counting (a restore on a running daemon does not set its counters back)",
                             section.slot));
            continue;
        }
        if (import_plugin_section(*plugins().at(*slot), section, note, import_errors)) ++*imported;
    }
    import_arm_sections(arm_sections, note, import_errors, imported, counters_kept, restored_arms);
    return import_errors;
}

std::optional<std::string> LiveRuntime::model_order_problem(const std::vector<std::string>& models,
                                                            bool suggest_next_start) const {
    // The models are numbered in the order they were first seen: a running daemon's order is fixed, but a start takes
    // a staged backup's order before any other.
    const std::string_view next_start = suggest_next_start
                                            ? "; a start numbers a staged backup's models first: restore it with "
                                              "\"at_next_start\": true and restart warmupd"
                                            : "";
    const std::size_t known = catalog_.size();
    for (std::size_t i = 0; i < models.size(); ++i) {
        const std::string& name = models[i];
        if (i < known) {
            const std::string& here = catalog_.record(static_cast<warmup_model_index>(i)).name;
            if (here != name && !catalog_.covers(name))
                return fmt::format("model '{}' (index {} in the snapshot) is not covered by this catalog", name, i);
            if (here != name)
                return fmt::format(
                    "model index {} is '{}' in the snapshot but '{}' here: the learned state would be "
                    "attributed to the wrong models{}",
                    i, name, here, next_start);
            continue;
        }
        // Numbered in order from `known` on when restored: one numbered already has its index elsewhere.
        if (const auto index = catalog_.find(name))
            return fmt::format("model '{}' (index {} in the snapshot) got index {} here{}", name, i, *index,
                               next_start);
        if (!catalog_.covers(name))
            return fmt::format("model '{}' (index {} in the snapshot) is not covered by this catalog", name, i);
    }
    return std::nullopt;
}

OperationResult LiveRuntime::restore_state(const Snapshot& snapshot, bool at_start) {
    OperationResult result = call_on_control([&](WarmupEngine& engine) {
        OperationResult out;
        // Plugin state is keyed by model index: index i must name the same model here as in the snapshot. Checked
        // whole before a model is numbered, so a refused snapshot numbers none.
        if (auto problem = model_order_problem(snapshot.models, /*suggest_next_start=*/!at_start))
            return failure(409, std::move(*problem));
        for (std::size_t i = catalog_.size(); i < snapshot.models.size(); ++i) catalog_.resolve(snapshot.models[i]);
        std::size_t restored = 0;
        std::size_t counters_kept = 0;
        std::optional<bool> stopped;
        std::vector<RestoredArm> restored_arms;
        // At start the counters come back with everything else (the process is new: /metrics starts again anyway);
        // an operator's restore on a running daemon keeps the counters running now.
        const std::vector<std::string> import_errors =
            import_counter_sections(engine, snapshot.sections, &out.notes, &restored, &stopped,
                                    at_start ? nullptr : &counters_kept, &restored_arms);
        // At start, an emergency stop saved with the state is in force again before the warm set is queued (so it
        // queues nothing). An operator's restore leaves the mode as it is: it brings back what was learned, not an
        // operator's earlier decision.
        if (at_start && stopped) set_emergency_stop(*stopped);
        WarmSetsToLoad warm_sets{snapshot.warm_models, restored > 0, std::move(restored_arms), snapshot.models.size()};
        const std::size_t arms_restored = static_cast<std::size_t>(
            std::count_if(warm_sets.arms.begin(), warm_sets.arms.end(),
                          [](const RestoredArm& arm) { return arm.arm != nullptr && arm.sections_taken > 0; }));
        // At start the journal written after the snapshot is replayed next: the warm sets are loaded once it is in
        // (the plans are then made from everything learned, and a checkpoint's counters, restored by the replay, do
        // not undo the count of these pre-warms).
        std::size_t prewarms = 0;
        if (at_start)
            warm_sets_after_journal_ = std::move(warm_sets);
        else
            prewarms = load_warm_sets_again(warm_sets);
        out.facts = {{"sections_restored", static_cast<double>(restored)},
                     {"counter_sections_kept", static_cast<double>(counters_kept)},
                     {"sections_in_snapshot", static_cast<double>(snapshot.sections.size())},
                     {"models", static_cast<double>(snapshot.models.size())},
                     {"prewarms_queued", static_cast<double>(prewarms)},
                     {"experiment_arms_restored", static_cast<double>(arms_restored)}};
        if (!import_errors.empty()) {
            // What the other plugins took stays in force (each import is whole or nothing per plugin, not across
            // them); the answer says it is a part, and no snapshot is taken of it (see restore_backup).
            out.http_status = 500;
            out.error = fmt::format("partly restored ({} of {} sections; {} refused): {}", restored,
                                    snapshot.sections.size(), import_errors.size(), import_errors.front());
            for (const auto& error : import_errors) out.notes.push_back(error);
        }
        return out;
    });
    return result;
}

std::vector<std::string> LiveRuntime::warm_set_of(const LiveArm& arm) const {
    std::vector<std::string> names = warm_model_names(*arm.engine, catalog_);
    if (!warm_sets_after_journal_) return names;
    const auto add_missing = [&](const std::vector<std::string>& pending) {
        for (const std::string& name : pending)
            if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    };
    if (&arm == arms_.front().get()) add_missing(warm_sets_after_journal_->control);
    for (const RestoredArm& restored : warm_sets_after_journal_->arms)
        if (restored.arm == &arm) add_missing(restored.warm_models);
    return names;
}

void LiveRuntime::set_warm_set_owner(std::function<bool(const std::string&)> owned_here) {
    if (!running_.load()) {  // no control thread to race with
        warm_set_owner_ = std::move(owned_here);
        return;
    }
    call_on_control([&](WarmupEngine&) {
        warm_set_owner_ = std::move(owned_here);
        return 0;
    });
}

std::size_t LiveRuntime::load_pending_warm_sets() {
    return call_on_control([this](WarmupEngine&) {
        const std::size_t prewarms = warm_sets_after_journal_ ? load_warm_sets_again(*warm_sets_after_journal_) : 0;
        warm_sets_after_journal_.reset();
        return prewarms;
    });
}

std::size_t LiveRuntime::load_warm_sets_again(const WarmSetsToLoad& sets) {
    const warmup_time_ms now_ms = clock_.now_ms();
    std::size_t prewarms = 0;
    std::size_t keeps_passed = 0;  // models of the warm set whose planned keep had passed
    // Per arm (an index into arms_): the models queued in it here, which keep that restore rather than a plan.
    std::vector<std::vector<bool>> queued(arms_.size(), std::vector<bool>(catalog_.size(), false));
    // `held_by`: the running arm that held the model (an index into arms_), or nullopt when its arm no longer runs.
    // On a fleet node only the models it owns (the others' owners load them).
    const auto owned_here = [&](const std::string& name) { return !warm_set_owner_ || warm_set_owner_(name); };
    const auto load_again = [&](std::optional<std::size_t> held_by, const std::string& name) {
        const auto index = catalog_.find(name);
        if (!index || !owned_here(name)) return;
        std::size_t at = held_by.value_or(arm_serving(*index));
        if (held_by && arms_[*held_by]->mode != LiveArm::Mode::Shadow && experiment_.split == "model")
            at = arm_serving(*index);
        WarmupEngine& target = *arms_[at]->engine;
        const bool was_absent = target.model_status(*index).residency == WARMUP_RESIDENCY_ABSENT;
        // Handed over: another arm held it, or this arm adopted it from one (a reload that stopped that arm) and has
        // no request of it to plan from; a plan would unload it at once, so it keeps the built-in keep-alive until
        // its first request here, as it did before the restart.
        const bool handed_over = !held_by || at != *held_by || !target.has_learned_requests(*index);
        // Its plan would unload it at once (the daemon was stopped longer than its keep): not loaded only to be
        // unloaded; planned with the rest below, so a pre-warm window ahead still brings it back.
        if (!handed_over && keep_has_passed(target, *index, now_ms)) {
            ++keeps_passed;
            return;
        }
        queued[at][*index] = true;
        target.request_prewarm(*index, now_ms, handed_over);
        if (was_absent && target.model_status(*index).residency != WARMUP_RESIDENCY_ABSENT) ++prewarms;
    };
    const auto index_of = [&](const LiveArm* arm) -> std::optional<std::size_t> {
        for (std::size_t i = 0; i < arms_.size(); ++i)
            if (arms_[i].get() == arm) return i;
        return std::nullopt;
    };
    for (const std::string& name : sets.control) load_again(0, name);
    for (const RestoredArm& arm : sets.arms) {
        // An arm that no longer runs as it was: its models are on the server only if it was acting.
        if (arm.arm == nullptr && !arm.acting) continue;
        const std::optional<std::size_t> held_by = arm.arm != nullptr ? index_of(arm.arm) : std::nullopt;
        for (const std::string& name : arm.warm_models) load_again(held_by, name);
    }
    // Every other model of a restored arm gets a fresh plan from what was learned, so pre-warms scheduled before the
    // restart are scheduled again.
    const auto plan_the_rest = [&](std::size_t at) {
        WarmupEngine& target = *arms_[at]->engine;
        for (std::size_t i = 0; i < sets.snapshot_models; ++i) {
            const auto model = static_cast<warmup_model_index>(i);
            if (!queued[at][i] && target.model_status(model).residency == WARMUP_RESIDENCY_ABSENT &&
                owned_here(catalog_.record(model).name))
                target.plan_ahead(model, now_ms);
        }
    };
    if (sets.plan_control) plan_the_rest(0);
    for (const RestoredArm& arm : sets.arms)
        if (arm.arm != nullptr && arm.sections_taken > 0)
            if (const auto at = index_of(arm.arm)) plan_the_rest(*at);
    if (keeps_passed > 0)
        spdlog::info(
            "WARM_SET_RESTORE {} model(s) of the warm set not loaded again: the keep their plan gives them has passed "
            "since their last use (the daemon was stopped longer); their next pre-warm is planned instead",
            keeps_passed);
    return prewarms;
}

bool LiveRuntime::keep_has_passed(WarmupEngine& engine, warmup_model_index model, warmup_time_ms now_ms) {
    warmup_prediction prediction{};
    if (engine.predict_now(model, now_ms, prediction)) return false;  // no answer: restored as before
    const bool in_prewarm_window = prediction.warm_at_ms != WARMUP_TIME_NEVER && prediction.warm_at_ms <= now_ms &&
                                   now_ms < prediction.warm_keep_until_ms;
    return prediction.keep_until_ms != WARMUP_TIME_NEVER && prediction.keep_until_ms <= now_ms && !in_prewarm_window;
}

OperationResult LiveRuntime::backup_state(const std::string& name, bool overwrite) {
    if (!state_store_)
        return failure(409,
                       "state is not kept by this daemon (state.enabled: false, or the embedded default "
                       "configuration without state.dir)");
    if (!name.empty() && !StateStore::valid_backup_name(name)) return failure(400, invalid_backup_name(name));
    // From the check of the name until the file is published, no other backup runs: the name seen free is still free
    // when it is written.
    std::lock_guard backup_lock(backup_mutex_);
    const auto exists = [&](const std::string& candidate) {
        std::error_code error;
        return std::filesystem::exists(state_store_->backup_file(candidate), error);
    };
    std::string backup_name = name;
    if (backup_name.empty()) {
        // Unnamed backups taken in the same millisecond (or an operator's backup named like one) must not replace
        // each other: the first free of at-<ms>, at-<ms>-1, at-<ms>-2, ...
        const std::string stamped = fmt::format("at-{}", unix_now_ms());
        backup_name = stamped;
        for (int n = 1; exists(backup_name); ++n) backup_name = fmt::format("{}-{}", stamped, n);
    }
    // A named backup is what an operator keeps to go back to: it is replaced only when asked for.
    if (!overwrite && exists(backup_name))
        return failure(409, fmt::format("a backup named '{}' exists ({}): choose another name, or send "
                                        "{{\"name\": \"{}\", \"overwrite\": true}} to replace it",
                                        backup_name, state_store_->backup_file(backup_name).string(), backup_name));
    OperationResult result;
    std::unique_ptr<SnapshotFileWriter> snapshot;
    try {
        snapshot = state_store_->begin_write();
        capture_state(*snapshot, &result.notes);
        result.file = state_store_->commit_backup(backup_name, *snapshot).string();
    } catch (const std::exception& error) {
        spdlog::error("STATE_BACKUP_ERROR {}", error.what());
        return failure(500, fmt::format("cannot write the backup: {}", error.what()));
    }
    result.facts = {{"sections", static_cast<double>(snapshot->section_count())},
                    {"models", static_cast<double>(snapshot->model_count())},
                    {"warm_models", static_cast<double>(snapshot->warm_model_count())}};
    result.notes.push_back("name: " + backup_name);
    spdlog::info("STATE_BACKUP written {} ({} section(s))", result.file, snapshot->section_count());
    return result;
}

OperationResult LiveRuntime::restore_backup(const std::string& name, bool at_next_start) {
    if (!state_store_)
        return failure(409,
                       "state is not kept by this daemon (state.enabled: false, or the embedded default "
                       "configuration without state.dir)");
    if (!name.empty() && !StateStore::valid_backup_name(name)) return failure(400, invalid_backup_name(name));
    LoadedSnapshot loaded;
    std::vector<RefusedSnapshot> skipped;  // newer backups that do not decode ("newest" only)
    try {
        loaded = state_store_->read_backup(name, &skipped);
    } catch (const SnapshotError& error) {
        const std::string reason = error.what();
        const bool missing = reason.starts_with("no backup");
        // An operator's mistyped name is answered (404) and logged as a warning: the daemon is not at fault.
        if (missing)
            spdlog::warn("STATE_RESTORE_ERROR {}", reason);
        else
            spdlog::error("STATE_RESTORE_ERROR {}", reason);
        return failure(missing ? 404 : 422, reason);
    }
    for (const auto& bad : skipped)
        spdlog::error("STATE_RESTORE_ERROR {}: {} (skipped, not loaded)", bad.file.string(), bad.reason);
    if (at_next_start) {
        const std::string staged = StateStore::backup_name_of(loaded.file);  // "" chose the newest
        OperationResult result;
        result.file = loaded.file.string();
        try {
            state_store_->stage_restore_at_next_start(staged);
        } catch (const std::exception& error) {
            spdlog::error("STATE_RESTORE_ERROR staging {}: {}", result.file, error.what());
            return failure(500, fmt::format("could not stage the restore: {}", error.what()));
        }
        result.http_status = 202;
        result.facts = {{"models", static_cast<double>(loaded.snapshot.models.size())},
                        {"sections_in_snapshot", static_cast<double>(loaded.snapshot.sections.size())}};
        result.notes.push_back(fmt::format(
            "staged: the next start of warmupd restores the backup '{}' before anything else, then learns the "
            "journal's events since it; restart warmupd to put it in force (until then nothing changes)",
            staged));
        for (const auto& bad : skipped)
            result.notes.push_back(fmt::format("skipped {}: {}", bad.file.filename().string(), bad.reason));
        spdlog::info("STATE_RESTORE staged {} for the next start", result.file);
        return result;
    }
    OperationResult result = restore_state(loaded.snapshot);
    result.file = loaded.file.string();
    for (const auto& bad : skipped)
        result.notes.push_back(fmt::format("skipped {}: {}", bad.file.filename().string(), bad.reason));
    if (result.ok()) {
        spdlog::info("STATE_RESTORED {} (backup)", result.file);
        {
            std::lock_guard lock(state_mutex_);
            start_restore_problem_.clear();  // the operator chose the state now in force
        }
        // A restart restores the newest snapshot and replays the journal after it: one taken now makes that the
        // state the operator chose, not the one before the restore.
        if (journal_.load() != nullptr) snapshot_now();
    } else {
        spdlog::error("STATE_RESTORE_ERROR {}: {}", result.file, result.error);
    }
    return result;
}

void LiveRuntime::note_start_restore_problem(const std::string& problem) {
    spdlog::error("STATE_RESTORE_ERROR {}", problem);
    std::lock_guard lock(state_mutex_);
    start_restore_problem_ = start_restore_problem_.empty() ? problem : start_restore_problem_ + "; " + problem;
}

std::optional<std::filesystem::path> LiveRuntime::restore_newest_snapshot(uint64_t* created_unix_ms) {
    if (created_unix_ms != nullptr) *created_unix_ms = 0;
    if (!state_store_) return std::nullopt;
    std::vector<RefusedSnapshot> refused;
    std::optional<LoadedSnapshot> loaded;
    // A backup an operator staged for this start comes first (restore-state with at_next_start).
    const std::optional<std::string> staged = state_store_->take_staged_restore();
    if (staged) {
        try {
            loaded = state_store_->read_backup(*staged);
            // Checked first: a staged backup that does not fit leaves the newest state to be restored instead.
            if (auto problem = model_order_problem(loaded->snapshot.models)) {
                note_start_restore_problem(fmt::format(
                    "the backup '{}' staged for this start was not restored: {} (the newest state is restored instead)",
                    *staged, *problem));
                loaded.reset();
            }
            if (loaded) spdlog::info("STATE_RESTORE the backup '{}' staged for this start", *staged);
        } catch (const SnapshotError& error) {
            note_start_restore_problem(fmt::format(
                "the backup '{}' staged for this start was not restored: {} (the newest state is restored instead)",
                *staged, error.what()));
        }
    }
    const bool from_stage = loaded.has_value();
    if (!from_stage) loaded = state_store_->newest_valid_snapshot(refused);
    // A named backup taken after the newest periodic snapshot (before an upgrade, say) is the newer state. A backup
    // that does not read is as much a loss as a snapshot that does not (it may have been the newest state): both are
    // logged and make the state component degraded.
    std::vector<RefusedSnapshot> skipped_backups;
    if (!from_stage && !state_store_->backups().empty()) {
        try {
            LoadedSnapshot backup = state_store_->read_backup("", &skipped_backups);
            if (!loaded || backup.snapshot.created_unix_ms > loaded->snapshot.created_unix_ms) {
                // A backup that numbers its models otherwise (copied from another daemon, or taken before the catalog
                // changed) would restore nothing: the daemon's own snapshot is restored instead, and the backup
                // stays for a restore by name once the catalog covers it.
                if (auto problem = model_order_problem(backup.snapshot.models)) {
                    note_start_restore_problem(fmt::format(
                        "the backup {} is newer than the newest snapshot but was not restored: {} ({})",
                        backup.file.filename().string(), *problem,
                        loaded ? "restored " + loaded->file.filename().string() + " instead"
                               : std::string("no snapshot of this daemon's own to restore instead: started cold")));
                } else {
                    loaded = std::move(backup);
                }
            }
        } catch (const SnapshotError& error) {
            // Every backup was refused: each is named below; any other failure is said here.
            if (skipped_backups.empty()) spdlog::error("STATE_RESTORE_ERROR {} (no backup considered)", error.what());
        }
    }
    for (const auto& bad : refused)
        spdlog::error("STATE_RESTORE_ERROR {}: {} (skipped, not loaded)", bad.file.string(), bad.reason);
    // A damaged backup written before the state restored lost nothing (that state is newer): said, not degraded.
    std::erase_if(skipped_backups, [&](const RefusedSnapshot& bad) {
        std::error_code error;
        const auto written = std::filesystem::last_write_time(bad.file, error);
        if (error || !loaded) return false;
        const auto written_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::file_clock::to_sys(written).time_since_epoch())
                                    .count();
        if (written_ms > static_cast<int64_t>(loaded->snapshot.created_unix_ms)) return false;
        spdlog::warn("STATE_RESTORE_ERROR {}: {} (backup skipped, not loaded; written before the state restored, {})",
                     bad.file.string(), bad.reason, loaded->file.filename().string());
        return true;
    });
    for (const auto& bad : skipped_backups)
        spdlog::error("STATE_RESTORE_ERROR {}: {} (backup skipped, not loaded)", bad.file.string(), bad.reason);
    if (!refused.empty() || !skipped_backups.empty()) {
        std::vector<std::string> reasons;
        for (const auto& bad : refused)
            reasons.push_back(fmt::format("{}: {}", bad.file.filename().string(), bad.reason));
        for (const auto& bad : skipped_backups)
            reasons.push_back(fmt::format("backup {}: {}", bad.file.filename().string(), bad.reason));
        const std::string problem = fmt::format(
            "at start {} unreadable snapshot(s) or backup(s) were skipped ({}); {}{}", reasons.size(),
            fmt::join(reasons, "; "),
            loaded ? "restored " + loaded->file.filename().string()
                   : std::string("no valid snapshot was left: started cold"),
            skipped_backups.empty() ? ""
                                    : " (a backup file that does not read is skipped at every start: move it out of "
                                      "the state folder once it is no longer wanted)");
        std::lock_guard lock(state_mutex_);  // each was logged above
        start_restore_problem_ = start_restore_problem_.empty() ? problem : start_restore_problem_ + "; " + problem;
    }
    if (!loaded) {
        spdlog::info("STATE_RESTORE no valid snapshot in {}: starting cold", state_store_->dir().string());
        return std::nullopt;
    }
    // The newest snapshot on disk is this one, whether or not it can be imported.
    last_snapshot_unix_ms_.store(static_cast<int64_t>(loaded->snapshot.created_unix_ms));
    const OperationResult result = restore_state(loaded->snapshot, /*at_start=*/true);
    if (!result.ok()) {
        spdlog::error("STATE_RESTORE_ERROR {}: {}", loaded->file.string(), result.error);
        // Nothing was imported (409: the catalog no longer covers a model of the snapshot, most often one taken out
        // of the configuration), or a part (500: a plugin refused its section, say a build that no longer reads its
        // own state). That file is now the only copy of what was learned, and the periodic snapshots of this run
        // would rotate it away: it is kept as a backup, to restore once the catalog or the plugin reads it again.
        if (result.http_status == 409 || result.http_status == 500) {
            std::string kept;
            try {
                kept = fmt::format(
                    "it is kept as the backup '{}' ({}): {}, POST /api/warmup/restore-state {{\"name\": \"{}\", "
                    "\"at_next_start\": true}} and restart warmupd",
                    StateStore::kRefusedAtStartBackup,
                    state_store_->write_backup(std::string(StateStore::kRefusedAtStartBackup), loaded->snapshot)
                        .string(),
                    result.http_status == 409 ? "make the catalog cover those models again"
                                              : "once the refusing plugin reads its section again",
                    StateStore::kRefusedAtStartBackup);
            } catch (const std::exception& error) {
                kept = fmt::format(
                    "it could not be kept as a backup ({}): copy {} aside before the periodic snapshots "
                    "rotate it away",
                    error.what(), loaded->file.string());
            }
            if (result.http_status == 409) {
                note_start_restore_problem(
                    fmt::format("at start {} was not restored ({}): started without learned state; {}",
                                loaded->file.filename().string(), result.error, kept));
                return std::nullopt;
            }
            note_start_restore_problem(
                fmt::format("at start {} was {}: the refusing plugins start without what they "
                            "learned; {}",
                            loaded->file.filename().string(), result.error, kept));
        }
    }
    if (created_unix_ms != nullptr) *created_unix_ms = loaded->snapshot.created_unix_ms;
    if (result.ok() || result.http_status == 500)  // 500: partly restored
        restored_state_created_unix_ms_.store(static_cast<int64_t>(loaded->snapshot.created_unix_ms));
    const double age_s =
        static_cast<double>(unix_now_ms() - static_cast<int64_t>(loaded->snapshot.created_unix_ms)) / 1000;
    spdlog::info("STATE_RESTORED {} ({} of {} section(s), {} model(s), snapshot {:.1f} s old)", loaded->file.string(),
                 result.facts.empty() ? 0.0 : result.facts[0].second, loaded->snapshot.sections.size(),
                 loaded->snapshot.models.size(), age_s);
    return loaded->file;
}

// Long: one pass over the segments that feeds events and keeps the newest checkpoint, then restores the counters.
uint64_t LiveRuntime::replay_journal(uint64_t base_ms) {
    if (!state_store_) return 0;
    std::vector<RefusedSnapshot> refused;
    const auto segments = list_journal_segments(state_store_->dir(), &refused);
    for (const auto& bad : refused)
        spdlog::error("JOURNAL_TORN {}: {} (segment skipped)", bad.file.string(), bad.reason);
    // Segments carry the creation time of the state they follow. The restored state's first segment (the one begun
    // when it was taken) and every segment written after it, in seq order, hold the events it does not. Chosen by
    // seq from there, not by time: a wall clock set back between two snapshots gives a later state an earlier time,
    // and an older segment with a later time would be replayed again.
    std::vector<JournalSegment> after;
    const auto own = std::find_if(segments.begin(), segments.end(),
                                  [&](const JournalSegment& segment) { return segment.base_ms == base_ms; });
    if (own != segments.end()) {
        after.assign(own, segments.end());
    } else {
        for (const auto& segment : segments)
            if (segment.base_ms >= base_ms) after.push_back(segment);
    }
    if (after.empty()) return 0;
    if (after.front().base_ms != base_ms)
        spdlog::warn(
            "JOURNAL_GAP no journal segment follows the restored state (created {} ms); replaying the {} later "
            "segment(s) from {}",
            base_ms, after.size(), after.front().file.filename().string());

    uint64_t replayed = 0;
    uint64_t after_checkpoint = 0;  // events journaled after the newest checkpoint read so far
    std::optional<std::vector<SnapshotSection>> checkpoint;
    std::vector<warmup_usage_event> chunk;
    constexpr std::size_t kChunkEvents = 65536;
    // Each chunk is fed in time order as history, routed as live: every arm learns its share, as it would have.
    const auto feed = [&] {
        if (chunk.empty()) return;
        call_on_control([&](WarmupEngine&) {
            const warmup_time_ms now_ms = clock_.now_ms();
            for (auto& e : chunk) e.ts_ms = std::min(e.ts_ms, now_ms);
            std::stable_sort(chunk.begin(), chunk.end(),
                             [](const auto& a, const auto& b) { return a.ts_ms < b.ts_ms; });
            std::vector<std::vector<warmup_usage_event>> per_arm(arms_.size());
            for (const auto& e : chunk) route(e, per_arm);
            for (std::size_t i = 0; i < arms_.size(); ++i) {
                if (per_arm[i].empty()) continue;
                arms_[i]->engine->on_history(per_arm[i], now_ms);
                arms_[i]->engine->flush_metrics();
            }
            return 0;
        });
        chunk.clear();
    };
    JournalVisitor visitor;
    visitor.events = [&](std::span<const JournalEvent> events) {
        for (const JournalEvent& event : events) {
            const auto model = catalog_.resolve(event.model);
            if (!model) continue;  // no longer in the catalog
            chunk.push_back({event.ts_ms, *model, event.count, event.tenant_hash, 0});
        }
        replayed += events.size();
        after_checkpoint += events.size();
        if (chunk.size() >= kChunkEvents) feed();
    };
    visitor.checkpoint = [&](std::vector<SnapshotSection>&& sections) {
        checkpoint = std::move(sections);
        after_checkpoint = 0;
    };
    for (const auto& segment : after) {
        try {
            const JournalReadResult read = read_journal_segment(segment.file, visitor);
            if (read.torn)
                spdlog::error(
                    "JOURNAL_TORN {}: {} at byte {}; the {} byte(s) after it skipped ({} event(s) read before)",
                    segment.file.string(), read.torn_reason, read.torn_offset, read.skipped_bytes, read.events);
        } catch (const SnapshotError& error) {
            spdlog::error("JOURNAL_TORN {}: {} (segment skipped)", segment.file.string(), error.what());
        }
    }
    feed();
    std::size_t imported = 0;
    std::vector<std::string> problems;
    if (checkpoint)
        problems = call_on_control([&](WarmupEngine& engine) {
            // The newest checkpoint also says whether an emergency stop was in force at the crash.
            std::optional<bool> stopped;
            auto out = import_counter_sections(engine, *checkpoint, nullptr, &imported, &stopped);
            if (stopped) set_emergency_stop(*stopped);
            return out;
        });
    for (const auto& problem : problems) spdlog::error("STATE_RESTORE_ERROR journal checkpoint: {}", problem);
    // The checkpoint counted the events journaled before it; the ones after it are counted now.
    accepted_events_.fetch_add(checkpoint && imported > 0 ? after_checkpoint : replayed);
    spdlog::info("JOURNAL_REPLAYED {} event(s) from {} segment(s) ({} to {}); counters {}", replayed, after.size(),
                 after.front().file.filename().string(), after.back().file.filename().string(),
                 checkpoint ? fmt::format("from the newest checkpoint ({} section(s))", imported)
                            : std::string("of the restored state (no checkpoint in the journal)"));
    return replayed;
}

std::vector<SnapshotSection> LiveRuntime::counter_sections(WarmupEngine& engine, uint64_t accepted, uint64_t refused,
                                                           std::vector<std::string>* problems) {
    std::vector<std::string> failed;
    SnapshotBuilder metrics;
    export_section(plugins(), ComponentSlot::Metrics, metrics, failed);
    std::vector<SnapshotSection> sections = metrics.take().sections;
    // Each experiment arm's counters: its learned state and its models come back from the snapshot.
    SnapshotBuilder arm_counters;
    for (std::size_t i = 1; i < arms_.size(); ++i)
        write_arm_sections(*arms_[i], arm_counters, /*with_plugins=*/false, /*with_warm_set=*/false, failed);
    for (SnapshotSection& section : arm_counters.take().sections) sections.push_back(std::move(section));
    sections.push_back(
        {std::string(kEngineSectionSlot), std::string(kEngineSectionSchema),
         encode_counters(engine.counters(), IngestTotals{accepted, refused}, engine.stopped(), *arms_.front())});
    if (problems != nullptr) problems->insert(problems->end(), failed.begin(), failed.end());
    return sections;
}

void LiveRuntime::checkpoint_journal(bool forced) {
    EventJournal* journal = journal_.load();
    if (journal == nullptr || !running_.load()) return;
    const auto now = std::chrono::steady_clock::now();
    if (!forced && last_checkpoint_bytes_ > kJournalSmallCheckpointBytes) {
        // A large checkpoint waits until the events since the last one weigh as much, or until it is old: not even
        // exported meanwhile (the control thread would encode every model's counts twice a second for nothing).
        const uint64_t events_since = journal->event_bytes_appended() - event_bytes_at_last_checkpoint_;
        if (events_since < last_checkpoint_bytes_ &&
            now - last_checkpoint_at_ < std::chrono::milliseconds(kJournalLargeCheckpointMaxAgeMs))
            return;
    }
    std::vector<std::string> problems;
    try {
        problems = call_on_control([&](WarmupEngine& engine) {
            std::vector<std::string> out;
            // The sink's state is exported before taking the ingest lock (a plugin call must not hold up producers);
            // the engine's section is encoded and the record appended under it, so the checkpoint's events_accepted is
            // exactly the number of events journaled before it (the engine's counters may miss the few accepted and not
            // yet taken by the control loop, and the control thread changes neither meanwhile).
            std::vector<SnapshotSection> sections = counter_sections(engine, 0, 0, &out);
            std::lock_guard lock(ingest_mutex_);
            sections.back().data =
                encode_counters(engine.counters(), IngestTotals{accepted_events_.load(), refused_events_.load()},
                                engine.stopped(), *arms_.front());
            // An idle daemon changes nothing: a checkpoint equal to the last one would only fill the disk (the metrics
            // plugin's section holds every model's counts: tens of KiB twice a second for a few thousand models).
            if (sections == last_checkpoint_) return out;
            journal->append_checkpoint(sections);
            last_checkpoint_bytes_ = 0;
            for (const SnapshotSection& section : sections)
                last_checkpoint_bytes_ += section.slot.size() + section.schema.size() + section.data.size();
            event_bytes_at_last_checkpoint_ = journal->event_bytes_appended();  // under the ingest lock: exact
            last_checkpoint_at_ = now;
            last_checkpoint_ = std::move(sections);
            return out;
        });
    } catch (const ControlLoopStalled&) {
        return;  // no checkpoint while the loop is stuck (the stall watch says so); the events are still flushed
    }
    for (const auto& problem : problems) spdlog::warn("JOURNAL_CHECKPOINT_ERROR {}", problem);
}

void LiveRuntime::flush_journal() {
    EventJournal* journal = journal_.load();
    if (journal == nullptr) return;
    const uint64_t dropped_before = journal->dropped_bytes();
    const bool was_failing = journal->write_failing();
    try {
        journal->flush();
        if (was_failing) spdlog::info("JOURNAL_WRITE_RECOVERED the event journal writes again; events are accepted");
    } catch (const std::exception& error) {
        const uint64_t dropped = journal->dropped_bytes() - dropped_before;
        const std::string reason =
            dropped > 0 ? fmt::format("journal write failed, {} byte(s) of events dropped: {}", dropped, error.what())
                        : fmt::format(
                              "journal write failed, events kept in memory and refused (503) until a write "
                              "succeeds: {}",
                              error.what());
        // Retried every flush interval: said when it starts, then once a minute while it lasts.
        const int64_t now_ms = unix_now_ms();
        if (!was_failing || dropped > 0 || now_ms - journal_failure_logged_ms_ >= 60'000) {
            spdlog::error("JOURNAL_WRITE_ERROR {}", reason);
            journal_failure_logged_ms_ = now_ms;
        }
        note_state_error(reason, false);
    }
}

void LiveRuntime::note_state_error(const std::string& error, bool snapshot) {
    std::lock_guard lock(state_mutex_);
    ++state_write_errors_;
    last_state_error_ = error;
    last_state_error_unix_ms_ = unix_now_ms();
    if (snapshot) {
        last_snapshot_error_ = error;
        last_snapshot_error_unix_ms_ = last_state_error_unix_ms_;
    }
}

OperationResult LiveRuntime::snapshot_now() {
    if (!state_store_) return failure(409, "state is not kept by this daemon");
    OperationResult result;
    try {
        const auto snapshot = state_store_->begin_write();
        capture_state(*snapshot, &result.notes);
        result.file = state_store_->commit_snapshot(*snapshot).string();
        last_snapshot_unix_ms_.store(static_cast<int64_t>(snapshot->created_unix_ms()));
        spdlog::debug("STATE_SNAPSHOT written {} ({} section(s))", result.file, snapshot->section_count());
        if (history_) {
            std::vector<std::pair<std::string, double>> counters = call_on_control([](WarmupEngine& engine) {
                const EngineCounters& c = engine.counters();
                return std::vector<std::pair<std::string, double>>{
                    {"requests", static_cast<double>(c.requests)},
                    {"warm_requests", static_cast<double>(c.warm_requests)},
                    {"cold_requests", static_cast<double>(c.cold_requests)},
                    {"demand_loads", static_cast<double>(c.demand_loads)},
                    {"prewarms_started", static_cast<double>(c.prewarms_started)},
                    {"prewarms_used", static_cast<double>(c.prewarms_used)},
                    {"prewarms_wasted", static_cast<double>(c.prewarms_wasted)},
                    {"loads_failed", static_cast<double>(c.loads_failed)},
                    {"evictions", static_cast<double>(c.evictions)},
                    {"plugin_errors", static_cast<double>(c.plugin_errors)},
                    {"used_mb", engine.used_mb()}};
            });
            counters.emplace_back("events_accepted", static_cast<double>(accepted_events_.load()));
            counters.emplace_back("events_refused", static_cast<double>(refused_events_.load()));
            counters.emplace_back("timed_out_loads", static_cast<double>(timed_out_loads_.load()));
            history_->append(static_cast<int64_t>(snapshot->created_unix_ms()), counters);
        }
    } catch (const std::exception& error) {
        note_state_error(error.what(), true);
        spdlog::error("STATE_SNAPSHOT_ERROR {}", error.what());
        return failure(500, error.what());
    }
    // Journal segments older than the oldest snapshot kept (and older than journal_retention_h) are no longer needed.
    if (EventJournal* journal = journal_.load()) {
        const auto kept = state_store_->snapshots();
        try {
            // The oldest snapshot a restart could restore; one that does not read (damaged, or written by a newer
            // version) is not one, so the next older readable one decides.
            std::optional<uint64_t> oldest;
            for (auto file = kept.rbegin(); file != kept.rend() && !oldest; ++file) {
                try {
                    oldest = read_snapshot_created_unix_ms(*file);
                } catch (const SnapshotError&) {
                }
            }
            if (oldest) journal->prune(*oldest, int64_t{config_.state.journal_retention_h} * 3600 * 1000);
        } catch (const std::exception& error) {
            spdlog::warn("JOURNAL_PRUNE_ERROR {}", error.what());
        }
    }
    return result;
}

void LiveRuntime::claim_state_dir() {
    if (config_.state.enabled && !state_lock_) state_lock_ = std::make_unique<StateDirLock>(config_.state.dir);
}

std::optional<std::filesystem::path> LiveRuntime::start_state_keeping() {
    if (!config_.state.enabled || state_store_) return std::nullopt;
    // Before anything in the folder is read or removed: the temporary files StateStore clears at open may be another
    // daemon's writes in progress.
    claim_state_dir();
    state_store_ = std::make_unique<StateStore>(config_.state.dir, config_.state.keep);
    if (config_.state.history_retention_h > 0)
        history_ = std::make_unique<MetricsHistory>(config_.state.dir,
                                                    int64_t{config_.state.history_retention_h} * 3600 * 1000);
    // Restore before the first periodic snapshot can overwrite what was learned with an empty state; then the
    // journal written after the restored state, then journal anew from there.
    uint64_t base_ms = 0;
    auto restored = restore_newest_snapshot(&base_ms);
    if (config_.state.journal) replay_journal(base_ms);
    // A fleet node loads the warm set once it knows which models it owns (the fleet's first placement calls
    // load_pending_warm_sets); any other daemon now.
    if (!config_.cluster.enabled) load_pending_warm_sets();
    // The metrics plugin's state came back with its gauges as the earlier process left them (an experiment arm's
    // memory in use among them): every arm says what it holds now.
    call_on_control([this](WarmupEngine&) {
        for (auto& arm : arms_)
            if (arm->engine) arm->engine->publish_gauges(clock_.now_ms());
        return 0;
    });
    if (call_on_control([](WarmupEngine& engine) { return engine.stopped(); }))
        spdlog::warn(
            "EMERGENCY_STOP still in force: an operator stopped new warm-ups before the restart (saved in {}); no "
            "pre-warm starts until POST /api/warmup/resume (or POST /api/warmup/reset-to-safe, on the safe "
            "configuration)",
            config_.state.dir.string());
    if (config_.state.journal) {
        journal_owner_ = std::make_unique<EventJournal>(config_.state.dir, base_ms);
        journal_.store(journal_owner_.get());
        journal_thread_ = std::thread([this] {
            const auto interval = std::chrono::milliseconds(kJournalFlushIntervalMs);
            auto next = std::chrono::steady_clock::now() + interval;
            std::unique_lock lock(state_mutex_);
            while (!journal_stopping_) {
                if (state_cv_.wait_until(lock, next, [this] { return journal_stopping_; })) break;
                next += interval;
                lock.unlock();
                checkpoint_journal(/*forced=*/false);
                flush_journal();
                lock.lock();
            }
            lock.unlock();
            checkpoint_journal(/*forced=*/true);
            flush_journal();  // a clean stop leaves nothing unwritten
            if (journal_owner_->write_failing()) state_lost_at_stop_.store(true);
            if (journal_owner_->write_failing() && journal_owner_->unwritten_events() > 0) {
                spdlog::error(
                    "JOURNAL_UNWRITTEN {} acknowledged event(s) could not be written to the journal as the daemon "
                    "stops ({}); the next start has them only if the final snapshot is written (STATE_SNAPSHOT_ERROR "
                    "otherwise): make {} writable again (free space, or create it again) before stopping to keep them",
                    journal_owner_->unwritten_events(), journal_owner_->write_failure(), config_.state.dir.string());
            }
        });
    }
    state_thread_ = std::thread([this] {
        const auto interval = std::chrono::seconds(config_.state.snapshot_interval_s);
        std::unique_lock lock(state_mutex_);
        while (!state_stopping_) {
            if (state_cv_.wait_for(lock, interval, [this] { return state_stopping_; })) break;
            lock.unlock();
            snapshot_now();
            lock.lock();
        }
        lock.unlock();
        // A clean stop keeps everything learned up to now.
        if (!snapshot_now().ok()) state_lost_at_stop_.store(true);
    });
    return restored;
}

}  // namespace warmup::host
