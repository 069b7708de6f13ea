// core/paths.hpp — where the running executable lives (for ${WARMUP_EXE_DIR} in configurations).
#pragma once

#include <filesystem>

namespace warmup::host {

/// The folder of the running executable (from /proc/self/exe), or the current folder when it cannot be read.
inline std::filesystem::path executable_dir() {
    std::error_code error;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    return error ? std::filesystem::current_path() : self.parent_path();
}

}  // namespace warmup::host
