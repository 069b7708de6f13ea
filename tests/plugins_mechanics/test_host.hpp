// A real warmup_host (host/core) over a one-glob catalog and a manual clock, for plugin unit tests.
#pragma once

#include <string_view>
#include <warmup/sdk/plugin.hpp>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/host_services.hpp"

namespace warmup::test {

/// Every model name matches "*": 1000 MiB, 2000 ms load, 100 ms unload, priority class 1.
struct TestHost {
    host::Catalog catalog{std::vector<host::CatalogEntry>{{"*", 1000, 2000, 100, 1}}};
    host::ManualClock clock{0};
    host::HostServices services{catalog, clock, "plugins-mechanics-test"};

    [[nodiscard]] sdk::Host host() const { return sdk::Host(services.raw()); }
    warmup_model_index model(std::string_view name) { return *catalog.resolve(name); }
    [[nodiscard]] warmup_model_info info(warmup_model_index model) const { return *host().model_info(model); }
};

}  // namespace warmup::test
