// loader/plugin_set.hpp — the eight plugin instances chosen by a configuration (or one experiment arm).
#pragma once

#include <array>
#include <memory>
#include <stdexcept>
#include <string>

#include "config/config.hpp"
#include "loader/component_set.hpp"
#include "loader/plugin_instance.hpp"
#include "loader/plugin_loader.hpp"

namespace warmup::host {

/// A plugin that could not be loaded or started, with the configuration position when known.
/// what(): "<file>:<line>:<col>: <key path>: <reason>".
class StartupError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// Owns one instance per slot. Thread-safety: created and destroyed on the control thread (or before it starts).
class PluginSet {
  public:
    /// Loads and creates every slot of `components`. On failure throws StartupError and creates nothing (instances
    /// already made are destroyed). `previous`: slots whose choice is unchanged reuse its instances (hot-swap).
    /// `allow_loaded_ids`: a plugin id may already be loaded from another file (another version in an experiment
    /// arm, or the version being replaced). `retained`: a set replaced earlier (the one before the last reload);
    /// a slot that matches it and not `previous` reuses its instance, with what it had learned (a rollback).
    /// `take_back_retained` (a rollback): a slot whose choice is the retained instance's takes that instance back even
    /// when the file at its path is another build now (a plugin upgraded in place, then rolled back).
    static std::unique_ptr<PluginSet> create(const Components& components, const Config& config, PluginLoader& loader,
                                             Catalog& catalog, const Clock& clock, const PluginSet* previous = nullptr,
                                             bool allow_loaded_ids = false, const PluginSet* retained = nullptr,
                                             bool take_back_retained = false);

    [[nodiscard]] const std::shared_ptr<PluginInstance>& at(ComponentSlot slot) const {
        return instances_[static_cast<std::size_t>(slot)];
    }
    [[nodiscard]] const Components& components() const noexcept { return components_; }

    /// The borrowed vtables the engine calls.
    [[nodiscard]] ComponentSet component_set() const;

  private:
    Components components_;
    std::array<std::shared_ptr<PluginInstance>, kSlotCount> instances_;
};

/// Turns a plugin's own error ("params.horizon_ms: expected ...") into a located one using the config's key map.
std::string locate_plugin_error(const Config& config, const PluginChoice& choice, const std::string& message);

}  // namespace warmup::host
