// Shared by the page-cache backend tests: model files of exact sizes in
// a temporary folder, and cancel tokens. All single-threaded test helpers.
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <warmup/sdk/plugin.hpp>

#include "backend_test_support.hpp"
#include "plugin_test_host.hpp"
#include "test_support.hpp"

namespace warmup::test {

constexpr uint64_t kMiB = uint64_t{1} << 20;

/// Writes `size_bytes` bytes (a repeating pattern) to `path`, creating its folders. Returns the path as a string.
inline std::string write_model_file(const std::filesystem::path& path, uint64_t size_bytes) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    std::string block(64 * 1024, '\0');
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 31 + 7);
    for (uint64_t written = 0; written < size_bytes;) {
        const auto n = static_cast<std::streamsize>(std::min<uint64_t>(block.size(), size_bytes - written));
        out.write(block.data(), n);
        written += static_cast<uint64_t>(n);
    }
    if (!out) throw std::runtime_error("cannot write " + path.string());
    return path.string();
}

/// Whether this process may mlock `bytes` more: root (CAP_IPC_LOCK) or a large enough RLIMIT_MEMLOCK. Tests of
/// mlock skip themselves otherwise (an environment limit, not a plugin behaviour).
inline bool may_lock(uint64_t bytes) {
    struct rlimit limit {};
    if (geteuid() == 0) return true;
    return getrlimit(RLIMIT_MEMLOCK, &limit) == 0 && (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= bytes);
}

}  // namespace warmup::test
