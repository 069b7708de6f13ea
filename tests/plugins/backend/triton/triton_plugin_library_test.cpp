// triton_backend.so loaded the way the host loads it (dlopen RTLD_NOW | RTLD_LOCAL, the one exported entry), then
// driven through the C vtable against FakeTriton: the descriptor, a load and an unload over HTTP, the error code and
// message crossing the ABI, and refusal of a bad parameter at create.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <warmup/warmup.h>

#include <string>

#include "backend_library_support.hpp"
#include "backend_test_support.hpp"
#include "core/errors.hpp"
#include "fake_triton.hpp"

namespace {

TEST(TritonPluginLibrary, LoadsAndUnloadsThroughTheCAbi) {
    warmup::test::PluginLibrary library(std::string(WARMUP_TEST_PLUGIN_DIR) + "/triton_backend.so");
    ASSERT_NE(library.handle, nullptr) << dlerror();
    ASSERT_NE(library.descriptor, nullptr);
    EXPECT_STREQ(library.descriptor->id, "org.warmup.backend.triton");
    EXPECT_EQ(library.descriptor->kind, static_cast<uint32_t>(WARMUP_KIND_BACKEND));
    EXPECT_EQ(library.descriptor->abi.major, WARMUP_ABI_MAJOR);
    const auto* vtable = static_cast<const warmup_backend_vtable*>(library.descriptor->vtable);

    warmup::test::FakeTriton fake;
    fake.fail_loads("broken", 400, R"({"error":"failed to load 'broken'"})");
    warmup::test::PluginTestHost host(warmup::test::every_model_is(1000, 2000, 100), {}, "triton-plugin-library-test");
    const std::string params = "base_url: " + fake.base_url();
    void* instance = nullptr;
    ASSERT_EQ(library.descriptor->create(host.services.raw(), {params.data(), params.size()}, &instance), nullptr);

    const warmup_model_info model = host.info("m");
    warmup_load_result result{sizeof(warmup_load_result), -1.0};
    EXPECT_EQ(vtable->load(instance, &model, &warmup::test::kNeverCancel, &result), nullptr);
    EXPECT_DOUBLE_EQ(result.memory_mb, 0.0);
    EXPECT_TRUE(fake.is_ready("m"));
    EXPECT_EQ(vtable->unload(instance, &model), nullptr);
    EXPECT_FALSE(fake.is_ready("m"));

    const warmup_model_info broken = host.info("broken");
    warmup::host::ErrorPtr error(vtable->load(instance, &broken, &warmup::test::kNeverCancel, &result));
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->code, WARMUP_ERROR_UNAVAILABLE);
    EXPECT_NE(error->message.find("failed to load 'broken'"), std::string::npos) << error->message;
    library.descriptor->destroy(instance);
}

TEST(TritonPluginLibrary, CreateRefusesABadParameterWithItsKeyPath) {
    warmup::test::PluginLibrary library(std::string(WARMUP_TEST_PLUGIN_DIR) + "/triton_backend.so");
    ASSERT_NE(library.descriptor, nullptr) << dlerror();
    warmup::test::PluginTestHost host(warmup::test::every_model_is(1000, 2000, 100), {}, "triton-plugin-library-test");
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
