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

/// Runs `call`, which must throw exactly `Exception` (or a subclass); returns what(). Records a test failure (and
/// returns "") when it throws nothing or something else.
template <class Exception, class Call>
std::string message_of(Call&& call) {
    try {
        call();
    } catch (const Exception& expected) {
        return expected.what();
    } catch (const std::exception& other) {
        ADD_FAILURE() << "expected " << typeid(Exception).name() << ", got another exception: " << other.what();
        return {};
    }
    ADD_FAILURE() << "expected " << typeid(Exception).name() << ", but nothing was thrown";
    return {};
}

}  // namespace warmup::test

/// Checks that `text` contains `part`, printing both when it does not.
#define EXPECT_CONTAINS(text, part)                                      \
    EXPECT_NE(std::string_view(text).find(part), std::string_view::npos) \
        << "expected to find: " << (part) << "\nin: " << (text)
