// triton_backend.so loaded the way the host loads it (dlopen RTLD_NOW | RTLD_LOCAL, the one exported entry), then
// driven through the C vtable against FakeTriton: the descriptor, a load and an unload over HTTP, the error code and
// message crossing the ABI, and refusal of a bad parameter at create.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <warmup/warmup.h>

#include <string>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/host_services.hpp"
#include "fake_triton.hpp"

namespace {

struct Library {
    void* handle = nullptr;
    const warmup_plugin_descriptor* descriptor = nullptr;
    Library() {
        const std::string path = std::string(WARMUP_TEST_PLUGIN_DIR) + "/triton_backend.so";
        handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) return;
        auto entry = reinterpret_cast<warmup_plugin_entry_fn>(dlsym(handle, WARMUP_PLUGIN_ENTRY_SYMBOL));
        if (entry != nullptr) descriptor = entry();
    }
    ~Library() {
        if (handle != nullptr) dlclose(handle);
    }
};

struct Host {
    warmup::host::Catalog catalog{std::vector<warmup::host::CatalogEntry>{{"*", 1000, 2000, 100, 1}}};
    warmup::host::ManualClock clock{0};
    warmup::host::HostServices services{catalog, clock, "triton-plugin-library-test"};
    warmup_model_info model(std::string_view name) {
        warmup_model_info info{};
        info.struct_size = sizeof info;
        services.raw()->model_info(services.raw(), *catalog.resolve(name), &info);
        return info;
    }
};

const warmup_cancel_token kNeverCancel{nullptr, [](void*) { return 0; }};

TEST(TritonPluginLibrary, LoadsAndUnloadsThroughTheCAbi) {
    Library library;
    ASSERT_NE(library.handle, nullptr) << dlerror();
    ASSERT_NE(library.descriptor, nullptr);
    EXPECT_STREQ(library.descriptor->id, "org.warmup.backend.triton");
    EXPECT_EQ(library.descriptor->kind, static_cast<uint32_t>(WARMUP_KIND_MODEL_BACKEND));
    EXPECT_EQ(library.descriptor->abi.major, WARMUP_ABI_MAJOR);
    const auto* vtable = static_cast<const warmup_model_backend_vtable*>(library.descriptor->vtable);

    warmup::test::FakeTriton fake;
    fake.fail_loads("broken", 400, R"({"error":"failed to load 'broken'"})");
    Host host;
    const std::string params = "base_url: " + fake.base_url();
    void* instance = nullptr;
    ASSERT_EQ(library.descriptor->create(host.services.raw(), {params.data(), params.size()}, &instance), nullptr);

    const warmup_model_info model = host.model("m");
    warmup_load_result result{sizeof(warmup_load_result), -1.0};
    EXPECT_EQ(vtable->load(instance, &model, &kNeverCancel, &result), nullptr);
    EXPECT_DOUBLE_EQ(result.memory_mb, 0.0);
    EXPECT_TRUE(fake.is_ready("m"));
    EXPECT_EQ(vtable->unload(instance, &model), nullptr);
    EXPECT_FALSE(fake.is_ready("m"));

    const warmup_model_info broken = host.model("broken");
    warmup::host::ErrorPtr error(vtable->load(instance, &broken, &kNeverCancel, &result));
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->code, WARMUP_ERROR_UNAVAILABLE);
    EXPECT_NE(error->message.find("failed to load 'broken'"), std::string::npos) << error->message;
    library.descriptor->destroy(instance);
}

TEST(TritonPluginLibrary, CreateRefusesABadParameterWithItsKeyPath) {
    Library library;
    ASSERT_NE(library.descriptor, nullptr) << dlerror();
    Host host;
    const std::string params = "base_url: ftp://triton:8000";
    void* instance = nullptr;
    warmup::host::ErrorPtr error(
        library.descriptor->create(host.services.raw(), {params.data(), params.size()}, &instance));
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->code, WARMUP_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(error->message.rfind("params.base_url:", 0), 0u) << error->message;
    EXPECT_EQ(instance, nullptr);
}

}  // namespace
