// version/build_info.hpp — what this build is: the product version, the plugin ABI it implements and the git commit
// it was built from. Shown by every program's --version, by GET /api/warmup/status and as the
// warmup_build_info{version,abi,commit} series of /metrics.
//
// The commit is captured at build time (capture_commit.cmake runs on every build and rewrites the generated source
// only when HEAD moved); it is "unknown" when the sources are not a git checkout of their own. Immutable values,
// safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace warmup::host {

struct BuildInfo {
    std::string_view version;  ///< the project's version, "0.1.0"
    std::string_view abi;      ///< the plugin ABI the host implements, "<major>.<minor>"
    std::string_view commit;   ///< abbreviated git commit of the sources, or "unknown"
};

/// This build's identity.
const BuildInfo& build_info() noexcept;

/// The one line --version prints: "<program> <version> (plugin ABI <abi>, commit <commit>)".
std::string version_line(std::string_view program);

}  // namespace warmup::host
