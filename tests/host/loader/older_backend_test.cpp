// ABI 1.1 appended list_resident to the backend vtable. A backend built against ABI 1.0 (abi {1, 0}, the shorter
// table: tests/host/loader/c_backend_abi_1_0_plugin.c) must still load and serve, and the host must see that it cannot
// list; a backend built with today's SDK offers the call.
#include <gtest/gtest.h>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/errors.hpp"
#include "loader/plugin_instance.hpp"
#include "loader/plugin_library.hpp"
#include "loader/plugin_loader.hpp"
#include "loader_test_support.hpp"

namespace warmup::test {
namespace {

using host::PluginInstance;
using host::PluginLoader;
using host::PluginRef;

PluginRef backend_at(const fs::path& file) {
    return PluginRef{.id = {}, .path = file, .sha256_pin = {}, .where = "components.backend"};
}

TEST(OlderBackend, AnAbi10BackendLoadsCreatesAndServes) {
    PluginLoader loader({});
    auto library = loader.load(backend_at(bad_plugin("c_backend_abi_1_0.so")), WARMUP_KIND_BACKEND);
    EXPECT_EQ(library->descriptor().abi.major, 1);
    EXPECT_EQ(library->descriptor().abi.minor, 0);
    host::Catalog catalog({{"*", 100, 10, 0, 1}});
    host::ManualClock clock;
    auto instance = PluginInstance::create(library, "", catalog, clock);
    const auto* table = instance->vtable<warmup_backend_vtable>();
    EXPECT_EQ(table->struct_size, offsetof(warmup_backend_vtable, list_resident));

    const warmup_model_info info = catalog.record(*catalog.resolve("m")).to_info();
    const warmup_cancel_token never{nullptr, [](void*) { return 0; }};
    warmup_load_result result{};
    result.struct_size = sizeof result;
    EXPECT_EQ(table->load(instance->self(), &info, &never, &result), nullptr);
    EXPECT_EQ(table->unload(instance->self(), &info), nullptr);
    // The host reads no field past the plugin's table: the 1.0 backend simply cannot list.
    EXPECT_EQ(host::list_resident_of(*instance), nullptr);
}

TEST(OlderBackend, ASdkBuiltBackendOffersListResident) {
    PluginLoader loader({WARMUP_TEST_PLUGIN_DIR});
    const PluginRef ref{.id = "org.warmup.backend.sim", .path = {}, .sha256_pin = {}, .where = "components.backend"};
    auto library = loader.load(ref, WARMUP_KIND_BACKEND);
    EXPECT_EQ(library->descriptor().abi.minor, WARMUP_ABI_MINOR);
    host::Catalog catalog({{"*", 100, 10, 0, 1}});
    host::ManualClock clock;
    auto instance = PluginInstance::create(library, "", catalog, clock);
    EXPECT_EQ(instance->vtable<warmup_backend_vtable>()->struct_size, sizeof(warmup_backend_vtable));
    const host::ListResidentFn list = host::list_resident_of(*instance);
    ASSERT_NE(list, nullptr);
    // The simulated backend has no server to ask: it answers UNSUPPORTED, which the host takes as "never ask again".
    const warmup_resident_model_writer writer{nullptr, [](void*, const warmup_resident_model*) { return 0; }};
    host::ErrorPtr error(list(instance->self(), &writer));
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->code, WARMUP_ERROR_UNSUPPORTED);
}

}  // namespace
}  // namespace warmup::test
