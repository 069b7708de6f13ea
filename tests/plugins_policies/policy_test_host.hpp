// policy_test_host.hpp — a real warmup_host (host/core HostServices over a Catalog and a ManualClock) for the policy
// plugin tests, plus helpers to construct a plugin class from YAML params the way the SDK's create() does.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <warmup/sdk/plugin.hpp>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/host_services.hpp"

namespace warmup::test {

/// Catalog: model 0 "llama3:8b" (4700 MiB, load 2000 ms, unload 200 ms, priority 1),
///          model 1 "big:70b"   (40000 MiB, load 20000 ms, unload 500 ms, priority 7).
struct PolicyTestHost {
    host::Catalog catalog{{{"llama3:8b", 4700, 2000, 200, 1}, {"big:*", 40000, 20000, 500, 7}}};
    host::ManualClock clock{0};
    host::HostServices services{catalog, clock, "policy-test"};

    static constexpr warmup_model_index kLlama = 0;
    static constexpr warmup_model_index kBig = 1;

    PolicyTestHost() {
        catalog.resolve("llama3:8b");
        catalog.resolve("big:70b");
    }

    [[nodiscard]] sdk::Host host() const { return sdk::Host(services.raw()); }

    /// Constructs Plugin from `params_yaml` and refuses unknown keys, as the SDK's create() does.
    template <class Plugin>
    std::unique_ptr<Plugin> make(std::string_view params_yaml = "") {
        sdk::Params params(params_yaml);
        auto plugin = std::make_unique<Plugin>(host(), params);
        params.finish();
        return plugin;
    }

    /// Runs the ABI create() of Plugin and returns the error message ("" on success; the instance is destroyed).
    template <class Plugin>
    std::string create_error(std::string_view params_yaml) {
        using Descriptor = sdk::detail::Descriptor<Plugin>;
        void* instance = nullptr;
        host::ErrorPtr error(Descriptor::create(services.raw(), sdk::to_view(params_yaml), &instance));
        if (!error) {
            Descriptor::destroy(instance);
            return "";
        }
        return error->message;
    }
};

}  // namespace warmup::test
