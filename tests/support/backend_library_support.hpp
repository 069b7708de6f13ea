// backend_library_support.hpp — for tests that drive a backend plugin library through its C ABI: the library opened
// the way the host opens it, and a catalog-backed host for its create call.
#pragma once

#include <dlfcn.h>
#include <warmup/warmup.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/host_services.hpp"

namespace warmup::test {

/// A plugin library opened with dlopen(RTLD_NOW | RTLD_LOCAL) and its one exported entry called. `handle` is null
/// when dlopen failed (dlerror() says why), `descriptor` null when the entry is missing. Closed on destruction.
struct PluginLibrary {
    void* handle = nullptr;
    const warmup_plugin_descriptor* descriptor = nullptr;
    explicit PluginLibrary(const std::string& path) {
        handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) return;
        auto entry = reinterpret_cast<warmup_plugin_entry_fn>(dlsym(handle, WARMUP_PLUGIN_ENTRY_SYMBOL));
        if (entry != nullptr) descriptor = entry();
    }
    ~PluginLibrary() {
        if (handle != nullptr) dlclose(handle);
    }
    PluginLibrary(const PluginLibrary&) = delete;
    PluginLibrary& operator=(const PluginLibrary&) = delete;
};

/// Host services over a catalog where every model is 1000 MiB, loads in 2 s and unloads in 100 ms, on a manual clock.
struct CatalogHost {
    explicit CatalogHost(std::string name) : services{catalog, clock, std::move(name)} {}
    warmup::host::Catalog catalog{std::vector<warmup::host::CatalogEntry>{{"*", 1000, 2000, 100, 1}}};
    warmup::host::ManualClock clock{0};
    warmup::host::HostServices services;
    /// The ABI record of `name`, registered on first use.
    warmup_model_info model(std::string_view name) {
        warmup_model_info info{};
        info.struct_size = sizeof info;
        services.raw()->model_info(services.raw(), *catalog.resolve(name), &info);
        return info;
    }
};

}  // namespace warmup::test
