// learning_test_host.hpp — a real warmup_host (catalog + manual clock) for the learning plugins' unit tests.
#pragma once

#include <string>
#include <string_view>
#include <warmup/sdk/plugin.hpp>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/host_services.hpp"

namespace warmup::testing {

/// A catalog whose glob "*" gives every model `memory_mb` / `load_ms`; models "m0".."m<count-1>" are registered so
/// their indexes are 0..count-1.
struct LearningTestHost {
    explicit LearningTestHost(uint32_t model_count = 8, double memory_mb = 8192, double load_ms = 10'000)
        : catalog({host::CatalogEntry{"*", memory_mb, load_ms, 1000, 1}}), services(catalog, clock, "test") {
        for (uint32_t i = 0; i < model_count; ++i) {
            std::string name = std::to_string(i);  // "m" + to_string trips GCC 12's -Wrestrict false positive
            name.insert(name.begin(), 'm');
            catalog.resolve(name);
        }
    }
    [[nodiscard]] sdk::Host sdk_host() const { return sdk::Host(services.raw()); }

    host::Catalog catalog;
    host::ManualClock clock;
    host::HostServices services;
};

/// Builds plugin `T` from params YAML the way the SDK descriptor does (unknown keys refused after construction).
template <class T>
struct Built {
    explicit Built(const LearningTestHost& host, std::string_view yaml = "")
        : params(yaml), plugin(host.sdk_host(), params) {
        params.finish();
    }
    sdk::Params params;
    T plugin;
};

/// Runs the SDK create path and returns the error message ("" on success; the instance is destroyed).
template <class T>
std::string create_error(const LearningTestHost& host, std::string_view yaml) {
    void* instance = nullptr;
    warmup_error* error = sdk::detail::Descriptor<T>::create(host.services.raw(), sdk::to_view(yaml), &instance);
    if (error == nullptr) {
        sdk::detail::Descriptor<T>::destroy(instance);
        return "";
    }
    std::string message = error->message;
    const bool invalid_argument = error->code == WARMUP_ERROR_INVALID_ARGUMENT;
    host::free_error(error);
    return invalid_argument ? message : "unexpected code: " + message;
}

}  // namespace warmup::testing
