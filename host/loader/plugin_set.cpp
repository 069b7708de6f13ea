#include "loader/plugin_set.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"

namespace warmup::host {

std::string locate_plugin_error(const Config& config, const PluginChoice& choice, const std::string& message) {
    // The SDK starts params errors with "params.<key>: "; map that back to the file position of the key, which the
    // answer then names once, in full ("components.backend.params.failure_rate: 7 is outside [0, 1]").
    std::string key_path = choice.key_path;
    std::string reason = message;
    if (message.starts_with("params")) {
        const auto end = message.find(": ");
        if (end != std::string::npos && message.find_first_of(" \t") > end) {
            key_path = choice.key_path + "." + message.substr(0, end);
            reason = message.substr(end + 2);
        }
    }
    return fmt::format("{}: {}: {}", config.locate(key_path), key_path, reason);
}

std::unique_ptr<PluginSet> PluginSet::create(const Components& components, const Config& config, PluginLoader& loader,
                                             Catalog& catalog, const Clock& clock, const PluginSet* previous,
                                             bool allow_loaded_ids, const PluginSet* retained,
                                             bool take_back_retained) {
    auto set = std::make_unique<PluginSet>();
    set->components_ = components;
    for (const ComponentSlot slot : kAllSlots) {
        const PluginChoice& choice = components[slot];
        const auto index = static_cast<std::size_t>(slot);
        if (take_back_retained && retained != nullptr && retained->components_[slot] == choice &&
            retained->instances_[index] &&
            (previous == nullptr || previous->instances_[index] != retained->instances_[index])) {
            set->instances_[index] = retained->instances_[index];
            continue;
        }
        PluginRef ref{choice.id, choice.path, choice.sha256, choice.key_path};
        try {
            auto library = loader.load(ref, slot_kind(slot), /*replacing_id=*/previous != nullptr || allow_loaded_ids);
            // Reuse the running instance only when nothing changed: same choice and params, and the same library
            // content (a plugin rebuilt at the same path is new code and gets a new instance).
            const auto reusable = [&](const PluginSet* source) {
                return source != nullptr && source->components_[slot] == choice && source->instances_[index] &&
                       source->instances_[index]->library_ptr() == library;
            };
            if (reusable(previous)) {
                set->instances_[index] = previous->instances_[index];
                continue;
            }
            if (reusable(retained)) {
                set->instances_[index] = retained->instances_[index];
                continue;
            }
            set->instances_[index] = PluginInstance::create(std::move(library), choice.params_yaml, catalog, clock);
        } catch (const PluginCallError& error) {
            throw StartupError(
                locate_plugin_error(config, choice, error.plugin_message()) +
                fmt::format(" (plugin {} refused to start: {})", choice.describe(), status_name(error.code())));
        } catch (const std::exception& error) {
            throw StartupError(fmt::format("{}: {}", config.locate(choice.key_path), error.what()));
        }
    }
    return set;
}

ComponentSet PluginSet::component_set() const {
    ComponentSet set;
    auto bind = [this](auto& component, ComponentSlot slot) {
        const auto& instance = at(slot);
        using VTable = std::remove_cvref_t<decltype(*component.vtable)>;
        component.vtable = instance->template vtable<VTable>();
        component.self = instance->self();
        component.label = instance->label();
    };
    bind(set.analyzer, ComponentSlot::Analyzer);
    bind(set.predictor, ComponentSlot::Predictor);
    bind(set.performance, ComponentSlot::Performance);
    bind(set.scheduler, ComponentSlot::Scheduler);
    bind(set.resource, ComponentSlot::Resource);
    bind(set.queue, ComponentSlot::Queue);
    bind(set.metrics, ComponentSlot::Metrics);
    return set;
}

}  // namespace warmup::host
