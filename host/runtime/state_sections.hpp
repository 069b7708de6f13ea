// runtime/state_sections.hpp — what the LiveRuntime's state files are made of, shared by its state keeping
// (state_keeping.cpp: the control arm, the counters, snapshots and the journal) and the experiment arms' state
// (arm_state.cpp). Internal to host/runtime/. Functions marked [control] call plugins: control thread only.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/catalog.hpp"
#include "engine/warmup_engine.hpp"
#include "loader/plugin_set.hpp"
#include "runtime/state/snapshot.hpp"
#include "runtime/state/snapshot_writer.hpp"

namespace warmup::host {

/// The section of the control engine's counters (and the ingest totals, the emergency stop).
inline constexpr std::string_view kEngineSectionSlot = "engine";

/// [control] Streams the exported state of `slot`'s plugin to `out` as one section keyed `key` (the slot's own key
/// unless given), piece by piece as the plugin writes it; false when it has no state extension or its export fails
/// (then the section is discarded and `problems` gets why).
bool export_section(const PluginSet& plugins, ComponentSlot slot, SnapshotSink& out, std::vector<std::string>& problems,
                    std::string_view key = {});

/// [control] Hands `section` to `instance`'s state extension when its schema is the one running: true when imported
/// (`note` gets a line), false when skipped (`note` says why) or refused (`errors` says why; the plugin keeps its
/// state).
bool import_plugin_section(const PluginInstance& instance, const SnapshotSection& section,
                           const std::function<void(std::string)>& note, std::vector<std::string>& errors);

/// An engine's counters as a JSON object by field name.
nlohmann::json counters_as_state(const EngineCounters& counters);
/// The counters of `in` (a field left out reads as 0, so a field added later reads as 0 from an older file); throws
/// std::invalid_argument naming the first bad field.
EngineCounters counters_from_state(const nlohmann::json& in);
/// What `now` counted since `from` (an earlier reading of the same counters), field by field; a count lower than its
/// earlier reading (counters restored since) reads as 0.
EngineCounters counters_since(const EngineCounters& now, const EngineCounters& from);
/// Where an arm's experiment figures count from (LiveArm::counted_from, counted_since_unix_ms), as optional fields of
/// its engine section: written when a reload has set them, read back (absent: from the start) by a restart.
void write_experiment_window(nlohmann::json& out, const EngineCounters& from, int64_t since_unix_ms);
/// Throws std::invalid_argument naming the bad field.
std::pair<EngineCounters, int64_t> read_experiment_window(const nlohmann::json& in);
/// `data` as a JSON object; throws std::invalid_argument when it is not one.
nlohmann::json parse_object(std::string_view data);

/// [control] The models of `engine`'s warm set (WarmupEngine::in_warm_set), by name: what a restart loads again.
std::vector<std::string> warm_model_names(const WarmupEngine& engine, const Catalog& catalog);

}  // namespace warmup::host
