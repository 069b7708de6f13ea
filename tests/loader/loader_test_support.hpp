// loader_test_support.hpp — paths of the real and the broken test plugins, a self-deleting temporary folder, and a
// helper that runs a call expected to throw one exception type and returns its message.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <string_view>
#include <typeinfo>

#include "gtest_support.hpp"

namespace warmup::test {

namespace fs = std::filesystem;

/// A shippable plugin built into build/plugins, e.g. real_plugin("keep_alive_predictor.so").
inline fs::path real_plugin(std::string_view file_name) { return fs::path(WARMUP_TEST_PLUGIN_DIR) / file_name; }

/// A library built by tests/loader into build/tests/bad-plugins, e.g. bad_plugin("abi_major_2.so").
inline fs::path bad_plugin(std::string_view file_name) { return fs::path(WARMUP_TEST_BAD_PLUGIN_DIR) / file_name; }

/// A fresh folder under the system temp folder, removed with everything in it when the object goes away.
class TemporaryDirectory {
  public:
    TemporaryDirectory() {
        static std::atomic<int> counter{0};
        path_ = fs::temp_directory_path() /
                ("warmup-loader-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TemporaryDirectory() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TemporaryDirectory(const TemporaryDirectory&) = delete;
    TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

    [[nodiscard]] const fs::path& path() const noexcept { return path_; }

  private:
    fs::path path_;
};

}  // namespace warmup::test
