// plugin_library_check.hpp — one parameterized test for a built plugin library: loaded like the host loads it
// (dlopen + the one exported entry), its descriptor (id, version, kind, ABI major) as expected, create/destroy
// working through the C ABI, and an unknown parameter refused with WARMUP_ERROR_INVALID_ARGUMENT.
//
// A plugin's test instantiates it for its own library:
//   INSTANTIATE_TEST_SUITE_P(MechanicsPlugins, PluginLibrary,
//                            ::testing::Values(PluginLibraryExpectation{"lru_resource.so", ...}),
//                            plugin_library_test_name);
// Include it in one translation unit per test binary (it defines the test).
#pragma once

#include <gtest/gtest.h>
#include <warmup/warmup.h>

#include <string>

#include "backend_library_support.hpp"
#include "core/errors.hpp"

namespace warmup::test {

/// What a shipped plugin library must declare; `file` is looked up in the build's plugin folder.
struct PluginLibraryExpectation {
    const char* file;
    const char* id;
    warmup_plugin_kind kind;
    const char* version = "1.0.0";
};

/// The test name of an instantiation: the library's file name without ".so".
inline std::string plugin_library_test_name(const ::testing::TestParamInfo<PluginLibraryExpectation>& info) {
    const std::string name = info.param.file;
    return name.substr(0, name.find('.'));
}

}  // namespace warmup::test

// In the global namespace, like the test it replaces, so ctest names stay <prefix>/PluginLibrary.<test>/<library>.
class PluginLibrary : public ::testing::TestWithParam<warmup::test::PluginLibraryExpectation> {};

TEST_P(PluginLibrary, ExportsDescriptorAndCreatesInstances) {
    const warmup::test::PluginLibraryExpectation expected = GetParam();
    const warmup::test::PluginLibrary library(std::string(WARMUP_TEST_PLUGIN_DIR) + "/" + expected.file);
    ASSERT_NE(library.handle, nullptr) << dlerror();
    ASSERT_NE(library.descriptor, nullptr);
    const warmup_plugin_descriptor* descriptor = library.descriptor;
    EXPECT_STREQ(descriptor->id, expected.id);
    EXPECT_STREQ(descriptor->version, expected.version);
    EXPECT_EQ(descriptor->kind, static_cast<uint32_t>(expected.kind));
    EXPECT_EQ(descriptor->abi.major, WARMUP_ABI_MAJOR);

    warmup::test::PluginTestHost host;
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
}
