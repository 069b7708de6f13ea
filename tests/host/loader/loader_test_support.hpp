// loader_test_support.hpp — paths of the real and the broken test plugins; TempDir (test_support.hpp) and message_of
// (gtest_support.hpp) for the loader tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <typeinfo>

#include "gtest_support.hpp"
#include "test_support.hpp"

namespace warmup::test {

namespace fs = std::filesystem;

/// A shippable plugin built into build/plugins, e.g. real_plugin("keep_alive_predictor.so").
inline fs::path real_plugin(std::string_view file_name) { return fs::path(WARMUP_TEST_PLUGIN_DIR) / file_name; }

/// A library built by tests/host/loader into build/tests/bad-plugins, e.g. bad_plugin("abi_major_2.so").
inline fs::path bad_plugin(std::string_view file_name) { return fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / file_name; }

}  // namespace warmup::test
