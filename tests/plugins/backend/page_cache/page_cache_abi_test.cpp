// page_cache_backend.so loaded like the host loads it (dlopen, the one exported entry, create through the C ABI), then
// a load, a refused load and an unload through the backend vtable.
#include <dlfcn.h>
#include <warmup/warmup.h>

#include "core/errors.hpp"
#include "page_cache_test_support.hpp"

namespace {

using warmup::host::ErrorPtr;
using warmup::test::kMiB;

struct Library {
    void* handle = nullptr;
    ~Library() {
        if (handle != nullptr) dlclose(handle);
    }
};

TEST(PageCacheBackendLibrary, LoadsAndUnloadsThroughTheAbi) {
    if (!warmup::test::may_lock(3 * kMiB)) GTEST_SKIP() << "RLIMIT_MEMLOCK too small for this test";
    Library library;
    const std::string path = std::string(WARMUP_TEST_PLUGIN_DIR) + "/page_cache_backend.so";
    library.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(library.handle, nullptr) << dlerror();
    auto entry = reinterpret_cast<warmup_plugin_entry_fn>(dlsym(library.handle, WARMUP_PLUGIN_ENTRY_SYMBOL));
    ASSERT_NE(entry, nullptr);
    const warmup_plugin_descriptor* descriptor = entry();
    EXPECT_STREQ(descriptor->id, "org.warmup.backend.page-cache");
    EXPECT_EQ(descriptor->kind, static_cast<uint32_t>(WARMUP_KIND_BACKEND));
    const auto* vtable = static_cast<const warmup_backend_vtable*>(descriptor->vtable);

    warmup::test::TempDir dir("page-cache-abi");
    warmup::test::write_model_file(dir.path() / "m" / "a.gguf", 2 * kMiB);
    warmup::test::write_model_file(dir.path() / "m" / "b.gguf", kMiB);
    warmup::test::PluginTestHost host;

    const std::string typo = "model_files: {m: /a.bin}\nmlok: true";
    void* refused = nullptr;
    ErrorPtr typo_error(descriptor->create(host.services.raw(), {typo.data(), typo.size()}, &refused));
    ASSERT_NE(typo_error, nullptr);
    EXPECT_EQ(typo_error->code, WARMUP_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(typo_error->message, "params.mlok: unknown parameter; did you mean 'mlock'?");

    const std::string params = "model_files: {'*': '" + dir.path().string() + "/${name}/*.gguf'}\nmlock: true";
    void* instance = nullptr;
    ErrorPtr create_error(descriptor->create(host.services.raw(), {params.data(), params.size()}, &instance));
    ASSERT_EQ(create_error, nullptr) << create_error->message;

    const warmup_cancel_token never{nullptr, [](void*) { return 0; }};
    const auto model = host.info("m");
    warmup_load_result result{sizeof(warmup_load_result), -1.0};
    ErrorPtr load_error(vtable->load(instance, &model, &never, &result));
    ASSERT_EQ(load_error, nullptr) << load_error->message;
    EXPECT_DOUBLE_EQ(result.memory_mb, 3.0);  // both files, locked hence resident

    const auto absent = host.info("absent");
    ErrorPtr absent_error(vtable->load(instance, &absent, &never, &result));
    ASSERT_NE(absent_error, nullptr);
    EXPECT_EQ(absent_error->code, WARMUP_ERROR_NOT_FOUND);

    EXPECT_EQ(ErrorPtr(vtable->unload(instance, &model)), nullptr);
    descriptor->destroy(instance);
}

}  // namespace
