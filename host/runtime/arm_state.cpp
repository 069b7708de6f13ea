// runtime/arm_state.cpp — an experiment arm's durable state: its sections in snapshots, backups and journal
// checkpoints, read back into the running arm of the same name, mode and definition, and kept across a reload that
// stops the arm for the rollback that starts it again.
//
// An arm's state travels in sections of its own: "arm:<name>:engine" (its mode, a fingerprint of its definition, its
// counters and the models it held, ready or loading) and "arm:<name>:<slot>" for each plugin's state, so a restart or
// a restored backup goes on with every arm where it left off, not with the control arm alone. Arm names are
// [A-Za-z0-9._-]+ (checked with the configuration), so the name is what lies between the prefix and the last ':'. The
// metrics plugin is one sink shared by every arm (its section holds every arm's series): an arm has no metrics section
// of its own. A daemon that predates these sections skips them ("not a component slot").
//
// Every method here runs on the control thread (they call plugins and engines).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/fnv1a.hpp"
#include "runtime/live_runtime.hpp"
#include "runtime/state_sections.hpp"

namespace warmup::host {
namespace {

constexpr std::string_view kArmSectionPrefix = "arm:";

constexpr std::string_view kArmEngineSchema = "org.warmup.state.arm-engine/1";

std::string arm_section_slot(std::string_view arm, std::string_view part) {
    return fmt::format("{}{}:{}", kArmSectionPrefix, arm, part);
}

struct ArmSectionKey {
    std::string_view arm;
    std::string_view part;  ///< a component slot's key, or "engine"
};

std::optional<ArmSectionKey> parse_arm_section_slot(std::string_view slot) {
    if (!slot.starts_with(kArmSectionPrefix)) return std::nullopt;
    slot.remove_prefix(kArmSectionPrefix.size());
    const auto colon = slot.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    return ArmSectionKey{slot.substr(0, colon), slot.substr(colon + 1)};
}

const char* mode_name(LiveArm::Mode mode) { return mode == LiveArm::Mode::Shadow ? "shadow" : "acting"; }

/// A fingerprint of what makes an arm the same arm across a restart: each of its own slots' plugin (its id, or its
/// library's file name and pin: not the folder, which an upgrade or a move of the install changes), params and pin,
/// as 16 hex digits (FNV-1a 64 of a canonical text). A changed plugin or params is a new arm, as for a reload. The
/// metrics slot (one sink shared by every arm) and the backend slot (where models load, not what the arm learned) are
/// not part of it.
std::string definition_fingerprint(const Arm& definition) {
    std::string text;
    for (const ComponentSlot slot : kAllSlots) {
        if (slot == ComponentSlot::Metrics || slot == ComponentSlot::Backend) continue;
        const PluginChoice& choice = definition.components[slot];
        text += fmt::format("{}\n{}\n{}\n{}\n{}\n", slot_key(slot), choice.id, choice.path.filename().string(),
                            choice.sha256, choice.params_yaml);
    }
    return fmt::format("{:016x}", fnv1a64(text));
}

/// What an arm's engine section holds.
struct ArmEngineSection {
    std::string mode;        ///< "acting" or "shadow"
    std::string definition;  ///< definition_fingerprint() of the arm that wrote it
    EngineCounters counters;
    std::vector<std::string> warm_models;  ///< empty in a journal checkpoint and in a reload's kept state
    std::pair<EngineCounters, int64_t> experiment_window;  ///< read_experiment_window
};

/// Throws std::invalid_argument naming the first bad field; nothing is changed then.
ArmEngineSection decode_arm_engine(std::string_view data) {
    const nlohmann::json in = parse_object(data);
    const auto text = [&](const char* name) {
        const auto found = in.find(name);
        if (found == in.end() || !found->is_string())
            throw std::invalid_argument(fmt::format("'{}' is missing or not a string", name));
        return found->get<std::string>();
    };
    ArmEngineSection out;
    out.mode = text("mode");
    if (out.mode != "acting" && out.mode != "shadow")
        throw std::invalid_argument(fmt::format("'mode' is '{}', not acting or shadow", out.mode));
    out.definition = text("definition");
    out.counters = counters_from_state(in);
    out.experiment_window = read_experiment_window(in);
    if (const auto found = in.find("warm_models"); found != in.end()) {
        if (!found->is_array()) throw std::invalid_argument("'warm_models' is not a list");
        for (const auto& name : *found) {
            if (!name.is_string()) throw std::invalid_argument("'warm_models' holds something other than a name");
            out.warm_models.push_back(name.get<std::string>());
        }
    }
    return out;
}

}  // namespace

bool LiveRuntime::is_arm_section(const SnapshotSection& section) {
    return parse_arm_section_slot(section.slot).has_value();
}

void LiveRuntime::write_arm_sections(const LiveArm& arm, SnapshotSink& out, bool with_plugins, bool with_warm_set,
                                     std::vector<std::string>& problems) {
    // The engine section first: a reader decides from it whether the plugins' sections are this arm's.
    nlohmann::json engine = counters_as_state(arm.engine->counters());
    write_experiment_window(engine, arm.counted_from, arm.counted_since_unix_ms);
    engine["mode"] = mode_name(arm.mode);
    engine["definition"] = definition_fingerprint(arm.definition);
    engine["warm_models"] = with_warm_set ? warm_set_of(arm) : std::vector<std::string>{};
    out.add_section(arm_section_slot(arm.name, kEngineSectionSlot), kArmEngineSchema, engine.dump());
    if (!with_plugins) return;
    for (const ComponentSlot slot : kAllSlots)
        if (slot != ComponentSlot::Metrics)
            export_section(*arm.plugins, slot, out, problems, arm_section_slot(arm.name, slot_key(slot)));
}

void LiveRuntime::import_arm_sections(std::span<const SnapshotSection* const> sections,
                                      const std::function<void(std::string)>& note,
                                      std::vector<std::string>& import_errors, std::size_t* imported,
                                      std::size_t* counters_kept, std::vector<RestoredArm>* restored_arms) {
    // Arm by arm, in the order the snapshot names them.
    std::vector<std::string_view> names;
    std::map<std::string_view, std::vector<const SnapshotSection*>, std::less<>> by_arm;
    for (const SnapshotSection* section : sections) {
        const std::string_view name = parse_arm_section_slot(section->slot)->arm;
        if (!by_arm.contains(name)) names.push_back(name);
        by_arm[name].push_back(section);
    }
    for (const std::string_view name : names) {
        const std::vector<const SnapshotSection*>& of_arm = by_arm[name];
        const std::string engine_slot = arm_section_slot(name, kEngineSectionSlot);
        const auto engine_section = std::find_if(
            of_arm.begin(), of_arm.end(), [&](const SnapshotSection* section) { return section->slot == engine_slot; });
        if (engine_section == of_arm.end() || (*engine_section)->schema != kArmEngineSchema) {
            note(fmt::format("experiment arm '{}': {} section(s) skipped: no {} section of schema {}", name,
                             of_arm.size(), engine_slot, kArmEngineSchema));
            continue;
        }
        ArmEngineSection engine;
        try {
            engine = decode_arm_engine((*engine_section)->data);
        } catch (const std::exception& error) {
            import_errors.push_back(fmt::format("{} refused (the arm's {} section(s) unchanged): {}", engine_slot,
                                                of_arm.size(), error.what()));
            continue;
        }
        // The same arm: its name, its mode and its definition (a reload that changes an arm's definition starts a
        // new arm; a shadow arm's models are simulated, an acting arm's are on the server).
        LiveArm* arm = nullptr;
        for (std::size_t i = 1; i < arms_.size(); ++i)
            if (arms_[i]->name == name) arm = arms_[i].get();
        const bool same = arm != nullptr && engine.mode == mode_name(arm->mode) &&
                          engine.definition == definition_fingerprint(arm->definition);
        RestoredArm restored{same ? arm : nullptr, engine.mode == "acting", std::move(engine.warm_models), 0};
        if (arm == nullptr && restored_arms != nullptr) {
            // No arm of that name runs: its state is kept, as a reload keeps a stopped arm's, for a reload or a
            // restart that starts it again (and in this run's snapshots meanwhile). Without its warm set: its models
            // go to the arms that serve them now, once. Only from a restore: a journal checkpoint (no restored_arms)
            // holds the arm's counters alone.
            std::vector<SnapshotSection> kept;
            for (const SnapshotSection* section : of_arm) {
                kept.push_back(*section);
                if (section->slot == engine_slot) {
                    nlohmann::json without_models = parse_object(section->data);
                    without_models["warm_models"] = nlohmann::json::array();
                    kept.back().data = without_models.dump();
                }
            }
            std::erase_if(stopped_arms_, [&](const StoppedArm& stopped) { return stopped.definition.name == name; });
            Arm definition;
            definition.name = std::string(name);
            stopped_arms_.push_back({std::move(definition), std::move(kept)});
        }
        if (!same) {
            note(fmt::format("experiment arm '{}': {} section(s) skipped: {}{}", name, of_arm.size(),
                             arm == nullptr ? "no experiment arm of that name runs (kept for a reload or restart that "
                                              "starts it again)"
                                            : "the arm of that name runs another definition or mode (a new arm)",
                             restored.acting && !restored.warm_models.empty()
                                 ? fmt::format("; its {} loaded model(s) go to the arms that serve them now",
                                               restored.warm_models.size())
                                 : std::string()));
            if (restored_arms != nullptr) restored_arms->push_back(std::move(restored));
            continue;
        }
        if (counters_kept != nullptr) {
            ++*counters_kept;
            ++restored.sections_taken;
            note(fmt::format("{} kept counting (a restore on a running daemon does not set them back)", engine_slot));
        } else {
            arm->engine->restore_counters(engine.counters);
            std::tie(arm->counted_from, arm->counted_since_unix_ms) = engine.experiment_window;
            ++*imported;
            ++restored.sections_taken;
            note(fmt::format("{} restored ({} requests)", engine_slot, engine.counters.requests));
        }
        std::vector<ComponentSlot> taken;  // a slot's first section only (a file written otherwise is not ours)
        for (const SnapshotSection* section : of_arm) {
            if (section->slot == engine_slot) continue;
            const auto slot = slot_from_key_or_deprecated(parse_arm_section_slot(section->slot)->part);
            if (!slot || *slot == ComponentSlot::Metrics || std::ranges::find(taken, *slot) != taken.end()) {
                note(fmt::format("section '{}' skipped: not a component slot of an arm, or a second one",
                                 section->slot));
                continue;
            }
            taken.push_back(*slot);
            if (import_plugin_section(*arm->plugins->at(*slot), *section, note, import_errors)) {
                ++*imported;
                ++restored.sections_taken;
            }
        }
        if (restored_arms != nullptr) restored_arms->push_back(std::move(restored));
    }
}

void LiveRuntime::keep_stopped_arms(std::span<const std::unique_ptr<LiveArm>> stopped) {
    for (const auto& arm : stopped) {
        if (!arm || !arm->engine) continue;
        SnapshotBuilder sections;
        std::vector<std::string> problems;
        // Its models go to the arms that serve them now: what is kept is what it learned and counted.
        write_arm_sections(*arm, sections, /*with_plugins=*/true, /*with_warm_set=*/false, problems);
        for (const auto& problem : problems)
            spdlog::warn(
                "STATE_EXPORT_ERROR experiment arm '{}' stopped: {} (if it starts again, it starts without it)",
                arm->name, problem);
        std::erase_if(stopped_arms_, [&](const StoppedArm& kept) { return kept.definition.name == arm->name; });
        stopped_arms_.push_back({arm->definition, sections.take().sections});
    }
}

void LiveRuntime::take_back_stopped_arms(std::span<LiveArm* const> started, std::vector<std::string>& notes) {
    for (LiveArm* arm : started) {
        const auto kept = std::find_if(stopped_arms_.begin(), stopped_arms_.end(),
                                       [&](const StoppedArm& stopped) { return stopped.definition.name == arm->name; });
        if (kept == stopped_arms_.end()) continue;
        std::vector<const SnapshotSection*> sections;
        for (const SnapshotSection& section : kept->sections) sections.push_back(&section);
        std::vector<std::string> errors;
        std::size_t imported = 0;
        std::vector<RestoredArm> restored;
        // Another mode or definition under the same name is a new arm: the kept one stays kept.
        import_arm_sections(
            sections, [](std::string) {}, errors, &imported, nullptr, &restored);
        for (const auto& error : errors) spdlog::error("STATE_HANDOFF_ERROR experiment arm '{}': {}", arm->name, error);
        if (restored.empty() || restored.front().arm != arm) continue;
        notes.push_back(fmt::format(
            "experiment arm '{}': what it had learned and counted when a reload stopped it taken back ({} of {} "
            "section(s){})",
            arm->name, imported, kept->sections.size(),
            errors.empty() ? std::string() : fmt::format("; refused: {}", fmt::join(errors, "; "))));
        stopped_arms_.erase(kept);
    }
}

}  // namespace warmup::host
