// plugins/backend/page_cache/model_file_patterns.hpp — which files hold a model's weights: the `model_files` param
// (catalog-name glob -> absolute path patterns with ${name}), its validation, and its expansion to files on disk.
//
// Threads: ModelFileRules is immutable after parse() and may be read from any number of threads at once.
// expand_path_pattern() and describe_missing_folder() are thread-safe (glob(3), which glibc marks MT-Unsafe, is
// serialized by a mutex private to this file).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>
#include <warmup/sdk/params.hpp>

namespace warmup::plugins::page_cache {

/// One `model_files` entry: the models it covers and the path patterns of their files.
struct ModelFileRule {
    std::string model_glob;                  ///< the YAML key: an exact catalog name or a glob
    std::vector<std::string> path_patterns;  ///< absolute, may contain ${name} and glob(7) wildcards
    std::string key_path;                    ///< "params.model_files.<key>", for messages
};

class ModelFileRules {
  public:
    /// Reads params.model_files (required, a non-empty mapping; each value a path pattern or a list of them).
    /// Throws sdk::InvalidArgument whose message starts with the key path of the offending entry.
    static ModelFileRules parse(sdk::Params& params);

    /// The rule covering `model_name`: an exact key first, else the first glob key in document order (the catalog's
    /// rule). nullptr when no key covers it.
    [[nodiscard]] const ModelFileRule* find(std::string_view model_name) const;
    [[nodiscard]] const std::vector<ModelFileRule>& rules() const noexcept { return rules_; }
    /// "'llama*', 'embed/*'": the keys, for a "no entry matches" message.
    [[nodiscard]] std::string describe_keys() const;

  private:
    std::vector<ModelFileRule> rules_;
};

/// `pattern` with every ${name} replaced by `model_name`, whose glob metacharacters (* ? [ \) are escaped so a
/// model name only ever matches itself. Throws sdk::Error(INVALID_ARGUMENT) for a name that could leave the
/// configured folder (a ".." path component) or contains a NUL byte.
std::string substitute_model_name(std::string_view pattern, std::string_view model_name);

/// Existing paths matching the glob(7) `pattern`, sorted; a matching folder is replaced by every regular file below
/// it (recursively, following symlinks to files, sorted). Empty when nothing matches. Throws sdk::Error(UNAVAILABLE)
/// naming the folder when a matched folder cannot be listed.
std::vector<std::string> expand_path_pattern(const std::string& pattern);

/// For a pattern that matched nothing: "folder /models/x: No such file or directory" for the deepest folder
/// before the first wildcard (or ${name}) when that folder cannot be searched, else "folder /models/x exists" — so the
/// message tells a typo in a folder from a file that is not there yet.
std::string describe_missing_folder(const std::string& pattern);

/// Thread-safe strerror text of `error_number`.
std::string errno_text(int error_number);

}  // namespace warmup::plugins::page_cache
