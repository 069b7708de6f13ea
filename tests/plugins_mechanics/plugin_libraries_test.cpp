// Loads each built .so like the host does (dlopen + the one exported entry) and checks its descriptor and that
// create/destroy work through the C ABI, including refusal of an unknown parameter.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <warmup/warmup.h>

#include <string>

#include "core/errors.hpp"
#include "test_host.hpp"

namespace {

struct Expected {
    const char* file;
    const char* id;
    warmup_plugin_kind kind;
    const char* version = "1.0.0";
};

class PluginLibrary : public ::testing::TestWithParam<Expected> {};

TEST_P(PluginLibrary, ExportsDescriptorAndCreatesInstances) {
    const Expected expected = GetParam();
    const std::string path = std::string(WARMUP_TEST_PLUGIN_DIR) + "/" + expected.file;
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(library, nullptr) << dlerror();
    auto entry = reinterpret_cast<warmup_plugin_entry_fn>(dlsym(library, WARMUP_PLUGIN_ENTRY_SYMBOL));
    ASSERT_NE(entry, nullptr);
    const warmup_plugin_descriptor* descriptor = entry();
    EXPECT_STREQ(descriptor->id, expected.id);
    EXPECT_STREQ(descriptor->version, expected.version);
    EXPECT_EQ(descriptor->kind, static_cast<uint32_t>(expected.kind));
    EXPECT_EQ(descriptor->abi.major, WARMUP_ABI_MAJOR);

    warmup::test::TestHost host;
    void* instance = nullptr;
    ASSERT_EQ(descriptor->create(host.services.raw(), {"", 0}, &instance), nullptr);
    ASSERT_NE(instance, nullptr);
    descriptor->destroy(instance);

    const std::string typo = "no_such_param: 1";
    void* refused = nullptr;
    warmup::host::ErrorPtr error(descriptor->create(host.services.raw(), {typo.data(), typo.size()}, &refused));
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->code, WARMUP_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(error->message.find("params.no_such_param"), std::string::npos) << error->message;
    EXPECT_EQ(refused, nullptr);
    dlclose(library);
}

INSTANTIATE_TEST_SUITE_P(
    MechanicsPlugins, PluginLibrary,
    ::testing::Values(
        Expected{"lru_resource_policy.so", "org.warmup.resource.lru", WARMUP_KIND_RESOURCE_POLICY},
        Expected{"greedy_dual_resource_policy.so", "org.warmup.resource.greedy-dual", WARMUP_KIND_RESOURCE_POLICY},
        Expected{"value_resource_policy.so", "org.warmup.resource.value", WARMUP_KIND_RESOURCE_POLICY, "1.1.0"},
        Expected{"priority_queue_policy.so", "org.warmup.queue.priority", WARMUP_KIND_QUEUE_POLICY},
        Expected{"prometheus_metrics_sink.so", "org.warmup.metrics.prometheus", WARMUP_KIND_METRICS_SINK, "1.1.0"},
        Expected{"sim_backend.so", "org.warmup.backend.sim", WARMUP_KIND_MODEL_BACKEND}),
    [](const auto& info) {
        std::string name = info.param.file;
        return name.substr(0, name.find('.'));
    });

}  // namespace
