// loader/component_set.hpp — the borrowed vtables of the seven component plugins an engine drives, as a PluginSet
// hands them out (loader/plugin_set.hpp) and the engine calls them (engine/warmup_engine.hpp).
#pragma once

#include <warmup/warmup.h>

#include <string>

namespace warmup::host {

/// A borrowed plugin instance: its vtable and self pointer. Owned by a PluginInstance elsewhere.
template <class VTable>
struct Component {
    const VTable* vtable = nullptr;
    void* self = nullptr;
    std::string label;  ///< "<id>@<version>" for messages
};

/// The seven component plugins an engine drives.
struct ComponentSet {
    Component<warmup_analyzer_vtable> analyzer;
    Component<warmup_predictor_vtable> predictor;
    Component<warmup_performance_vtable> performance;
    Component<warmup_scheduler_vtable> scheduler;
    Component<warmup_resource_vtable> resource;
    Component<warmup_queue_vtable> queue;
    Component<warmup_metrics_vtable> metrics;
};

}  // namespace warmup::host
