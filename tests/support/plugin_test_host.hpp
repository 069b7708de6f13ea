// plugin_test_host.hpp — the one host the plugin unit tests run a plugin class against: a real warmup_host (host/core
// HostServices) over a Catalog and a ManualClock, and the SDK's own paths to construct a plugin from YAML params.
//
// Threads: test thread only. Ownership: the host owns its catalog, clock and services; a plugin built from it must
// not outlive it. Not copyable or movable (the services point at the catalog and the clock); the factory functions
// below return it by guaranteed copy elision.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <warmup/sdk/plugin.hpp>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/host_services.hpp"

namespace warmup::test {

/// A catalog with the one glob "*": every model name is known, with these numbers and priority class 1.
inline std::vector<host::CatalogEntry> every_model_is(double memory_mb, double load_ms, double unload_ms) {
    return {host::CatalogEntry{"*", memory_mb, load_ms, unload_ms, 1}};
}

class PluginTestHost {
  public:
    /// Every model name matches "*": 1000 MiB, 2000 ms load, 100 ms unload, priority class 1.
    PluginTestHost() : PluginTestHost(every_model_is(1000, 2000, 100)) {}

    /// `entries` as the catalog; `registered` names resolved in order, so their indexes are 0, 1, ...; `name` is what
    /// the host's log calls itself.
    explicit PluginTestHost(std::vector<host::CatalogEntry> entries, const std::vector<std::string>& registered = {},
                            std::string name = "plugin-test")
        : catalog(std::move(entries)), services(catalog, clock, std::move(name)) {
        for (const auto& model_name : registered) catalog.resolve(model_name);
    }
    PluginTestHost(const PluginTestHost&) = delete;
    PluginTestHost& operator=(const PluginTestHost&) = delete;

    [[nodiscard]] sdk::Host host() const { return sdk::Host(services.raw()); }

    /// The index of `name`, registered on first use (the catalog must have an entry or glob for it).
    warmup_model_index model(std::string_view name) { return *catalog.resolve(name); }

    /// The ABI record of a model, as a plugin reads it through the host.
    [[nodiscard]] warmup_model_info info(warmup_model_index model) const { return *host().model_info(model); }
    warmup_model_info info(std::string_view name) { return info(model(name)); }

    /// Constructs Plugin from `params_yaml` and refuses unknown keys afterwards, as the SDK's create() does.
    template <class Plugin>
    std::unique_ptr<Plugin> make(std::string_view params_yaml = "") const {
        sdk::Params params(params_yaml);
        auto plugin = std::make_unique<Plugin>(host(), params);
        params.finish();
        return plugin;
    }

    /// Runs the ABI create() of Plugin (what the exported entry calls) and returns its error message: "" on success
    /// (the instance is destroyed again), the message of a WARMUP_ERROR_INVALID_ARGUMENT, or "unexpected code: ..."
    /// for any other code.
    template <class Plugin>
    std::string create_error(std::string_view params_yaml) const {
        using Descriptor = sdk::detail::Descriptor<Plugin>;
        void* instance = nullptr;
        host::ErrorPtr error(Descriptor::create(services.raw(), sdk::to_view(params_yaml), &instance));
        if (!error) {
            Descriptor::destroy(instance);
            return "";
        }
        return error->code == WARMUP_ERROR_INVALID_ARGUMENT ? error->message : "unexpected code: " + error->message;
    }

    host::Catalog catalog;
    host::ManualClock clock{0};
    host::HostServices services;
};

/// Models "m0".."m<count-1>" on a catalog where every model takes `memory_mb` and `load_ms` (unload 1 s), registered
/// so their indexes are 0..count-1: the learning plugins' tests.
inline PluginTestHost numbered_models_host(uint32_t count = 8, double memory_mb = 8192, double load_ms = 10'000) {
    std::vector<std::string> names;
    for (uint32_t i = 0; i < count; ++i) {
        std::string name = std::to_string(i);  // "m" + to_string trips GCC 12's -Wrestrict false positive
        name.insert(name.begin(), 'm');
        names.push_back(std::move(name));
    }
    return PluginTestHost(every_model_is(memory_mb, load_ms, 1000), names);
}

/// Index 0 of two_models_host(): "llama3:8b", 4700 MiB, load 2000 ms, unload 200 ms, priority class 1.
inline constexpr warmup_model_index kLlama = 0;
/// Index 1 of two_models_host(): "big:70b" (glob "big:*"), 40000 MiB, load 20000 ms, unload 500 ms, priority class 7.
inline constexpr warmup_model_index kBig = 1;

/// A small and a large model of different priority classes (kLlama, kBig): the policy plugins' tests.
inline PluginTestHost two_models_host() {
    return PluginTestHost({{"llama3:8b", 4700, 2000, 200, 1}, {"big:*", 40000, 20000, 500, 7}},
                          {"llama3:8b", "big:70b"});
}

/// Plugin `T` built from params YAML the way the SDK descriptor does (unknown keys refused after construction); the
/// params stay alive beside the plugin.
template <class T>
struct Built {
    explicit Built(const PluginTestHost& host, std::string_view yaml = "") : params(yaml), plugin(host.host(), params) {
        params.finish();
    }
    sdk::Params params;
    T plugin;
};

}  // namespace warmup::test
