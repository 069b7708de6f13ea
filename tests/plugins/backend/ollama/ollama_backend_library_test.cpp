// The built ollama_backend.so loaded like the host loads it (dlopen + the one exported entry), driven through the C
// ABI against FakeOllama: the descriptor, a load filling warmup_load_result, and errors crossing the boundary with
// their codes.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <warmup/warmup.h>

#include <string>

#include "core/errors.hpp"
#include "fake_ollama.hpp"
#include "plugin_test_host.hpp"

namespace {

constexpr uint64_t kMebibyte = 1024 * 1024;

class OllamaBackendLibrary : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string path = std::string(WARMUP_TEST_PLUGIN_DIR) + "/ollama_backend.so";
        library_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        ASSERT_NE(library_, nullptr) << dlerror();
        auto entry = reinterpret_cast<warmup_plugin_entry_fn>(dlsym(library_, WARMUP_PLUGIN_ENTRY_SYMBOL));
        ASSERT_NE(entry, nullptr);
        descriptor_ = entry();
        fake_.add_model("llama3:8b", {4800 * kMebibyte, 4800 * kMebibyte});
    }
    void TearDown() override {
        if (library_ != nullptr) dlclose(library_);
    }

    void* library_ = nullptr;
    const warmup_plugin_descriptor* descriptor_ = nullptr;
    warmup::test::PluginTestHost host_;
    warmup::test::FakeOllama fake_;
};

TEST_F(OllamaBackendLibrary, ExportsTheOllamaBackendDescriptor) {
    EXPECT_STREQ(descriptor_->id, "org.warmup.backend.ollama");
    EXPECT_STREQ(descriptor_->version, "1.0.0");
    EXPECT_EQ(descriptor_->kind, static_cast<uint32_t>(WARMUP_KIND_BACKEND));
    EXPECT_EQ(descriptor_->abi.major, WARMUP_ABI_MAJOR);
}

TEST_F(OllamaBackendLibrary, LoadsThroughTheAbiAndReportsErrorsWithCodes) {
    const std::string params = "base_url: " + fake_.url();
    void* instance = nullptr;
    ASSERT_EQ(descriptor_->create(host_.services.raw(), {params.data(), params.size()}, &instance), nullptr);
    ASSERT_NE(instance, nullptr);
    const auto* vtable = static_cast<const warmup_backend_vtable*>(descriptor_->vtable);
    const warmup_cancel_token never{nullptr, [](void*) { return 0; }};

    const warmup_model_info known = host_.info(host_.model("llama3:8b"));
    warmup_load_result result{sizeof(warmup_load_result), -1.0};
    EXPECT_EQ(vtable->load(instance, &known, &never, &result), nullptr);
    EXPECT_DOUBLE_EQ(result.memory_mb, 4800.0);
    EXPECT_EQ(vtable->unload(instance, &known), nullptr);
    EXPECT_FALSE(fake_.is_loaded("llama3:8b"));

    const warmup_model_info unknown = host_.info(host_.model("gemma:2b"));
    warmup::host::ErrorPtr error(vtable->load(instance, &unknown, &never, &result));
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->code, WARMUP_ERROR_NOT_FOUND);
    EXPECT_NE(error->message.find("gemma:2b"), std::string::npos) << error->message;
    descriptor_->destroy(instance);
}

TEST_F(OllamaBackendLibrary, RefusesAnUnknownParameterThroughTheAbi) {
    const std::string typo = "keepalive: -1";
    void* instance = nullptr;
    warmup::host::ErrorPtr error(descriptor_->create(host_.services.raw(), {typo.data(), typo.size()}, &instance));
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->code, WARMUP_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(error->message.find("params.keepalive"), std::string::npos) << error->message;
    EXPECT_EQ(instance, nullptr);
}

}  // namespace
