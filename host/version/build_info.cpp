// version/build_info.cpp — build_info() from the generated commit source (build_commit.cpp) and the ABI header.
#include "version/build_info.hpp"

#include <warmup/common.h>

#include <string>

namespace warmup::host {

// Defined in the source capture_commit.cmake generates into the build folder.
extern const std::string_view kBuildVersion;
extern const std::string_view kBuildCommit;

namespace {
#define WARMUP_STRINGIFY_(x) #x
#define WARMUP_STRINGIFY(x) WARMUP_STRINGIFY_(x)
constexpr std::string_view kAbi = WARMUP_STRINGIFY(WARMUP_ABI_MAJOR) "." WARMUP_STRINGIFY(WARMUP_ABI_MINOR);
#undef WARMUP_STRINGIFY
#undef WARMUP_STRINGIFY_
}  // namespace

const BuildInfo& build_info() noexcept {
    static const BuildInfo info{kBuildVersion, kAbi, kBuildCommit};
    return info;
}

std::string version_line(std::string_view program) {
    const BuildInfo& info = build_info();
    std::string line(program);
    line.append(" ").append(info.version);
    line.append(" (plugin ABI ").append(info.abi);
    line.append(", commit ").append(info.commit).append(")");
    return line;
}

}  // namespace warmup::host
