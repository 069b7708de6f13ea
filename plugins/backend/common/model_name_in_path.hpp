// plugins/backend/common/model_name_in_path.hpp — the check a backend makes before it writes a catalog model name into
// a file path (`${name}` in page_cache's files, vLLM's lora_paths). Header-only, compiled into each plugin.
//
// A catalog glob ("*") admits any name an event or a tailed log brings, so a name is data from outside: one with a
// ".." component would make the path leave the folder the operator configured ("x/../../etc"), and one with a NUL
// byte would cut it short.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

namespace warmup::plugins::backend {

/// Why `model_name` cannot be put into a path, or nullopt: it contains a NUL byte, or a "/"-separated component that
/// is exactly "..". Thread-safety: pure.
[[nodiscard]] inline std::optional<std::string> model_name_path_problem(std::string_view model_name) {
    if (model_name.find('\0') != std::string_view::npos) return "contains a NUL byte";
    for (std::size_t begin = 0; begin <= model_name.size();) {
        const std::size_t end = std::min(model_name.find('/', begin), model_name.size());
        if (model_name.substr(begin, end - begin) == "..")
            return "has a '..' path component (it would leave the configured folder)";
        begin = end + 1;
    }
    return std::nullopt;
}

}  // namespace warmup::plugins::backend
