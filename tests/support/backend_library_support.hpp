// backend_library_support.hpp — for tests that drive a plugin library through its C ABI: the library opened the way
// the host opens it. Its create call takes the services of a PluginTestHost (plugin_test_host.hpp, included here).
#pragma once

#include <dlfcn.h>
#include <warmup/warmup.h>

#include <string>

#include "plugin_test_host.hpp"

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

}  // namespace warmup::test
