// vllm_backend.so loaded the way the host loads it (dlopen RTLD_NOW | RTLD_LOCAL, the one exported entry), then driven
// through the C vtable against FakeVllm in LoRA mode: the descriptor (this tree's ABI; list_resident since 1.1), a
// load, the listing through list_resident and its writer, an unload, and an error code crossing the ABI.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <warmup/warmup.h>

#include <set>
#include <string>

#include "backend_library_support.hpp"
#include "backend_test_support.hpp"
#include "core/errors.hpp"
#include "fake_vllm.hpp"

namespace {

TEST(VllmPluginLibrary, LoadsListsAndUnloadsAdaptersThroughTheCAbi) {
    warmup::test::PluginLibrary library(std::string(WARMUP_TEST_PLUGIN_DIR) + "/vllm_backend.so");
    ASSERT_NE(library.handle, nullptr) << dlerror();
    ASSERT_NE(library.descriptor, nullptr);
    EXPECT_STREQ(library.descriptor->id, "org.warmup.backend.vllm");
    EXPECT_EQ(library.descriptor->kind, static_cast<uint32_t>(WARMUP_KIND_BACKEND));
    EXPECT_EQ(library.descriptor->abi.major, 1);
    EXPECT_EQ(library.descriptor->abi.minor, WARMUP_ABI_MINOR);  // built with this tree's SDK
    const auto* vtable = static_cast<const warmup_backend_vtable*>(library.descriptor->vtable);
    ASSERT_TRUE(WARMUP_HAS_FIELD(vtable, warmup_backend_vtable, list_resident));
    ASSERT_NE(vtable->list_resident, nullptr);

    warmup::test::FakeVllm fake(/*dev_mode=*/false, /*runtime_lora=*/true);
    fake.add_adapter_path("/adapters/sql");
    warmup::test::PluginTestHost host(warmup::test::every_model_is(1000, 2000, 100), {}, "vllm-plugin-library-test");
    const std::string params =
        "mode: lora\nservers: {'*': '" + fake.url() + "'}\nlora_paths: {'*': '/adapters/${name}'}";
    void* instance = nullptr;
    ASSERT_EQ(library.descriptor->create(host.services.raw(), {params.data(), params.size()}, &instance), nullptr);

    const warmup_model_info sql = host.info("sql");
    warmup_load_result result{};
    result.struct_size = sizeof result;
    EXPECT_EQ(vtable->load(instance, &sql, &warmup::test::kNeverCancel, &result), nullptr);

    std::set<std::string> listed;
    const warmup_resident_model_writer writer{
        &listed, [](void* context, const warmup_resident_model* model) {
            static_cast<std::set<std::string>*>(context)->insert(std::string(model->name.data, model->name.size));
            return 0;
        }};
    EXPECT_EQ(vtable->list_resident(instance, &writer), nullptr);
    EXPECT_EQ(listed, (std::set<std::string>{"sql"}));

    EXPECT_EQ(vtable->unload(instance, &sql), nullptr);
    listed.clear();
    EXPECT_EQ(vtable->list_resident(instance, &writer), nullptr);
    EXPECT_TRUE(listed.empty());

    const warmup_model_info missing = host.info("no-such-adapter");
    warmup::host::ErrorPtr error(vtable->load(instance, &missing, &warmup::test::kNeverCancel, &result));
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->code, WARMUP_ERROR_NOT_FOUND);
    EXPECT_NE(error->message.find("No adapter found for /adapters/no-such-adapter"), std::string::npos)
        << error->message;
    library.descriptor->destroy(instance);
}

}  // namespace
