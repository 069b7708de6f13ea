#include "model_file_patterns.hpp"

#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <new>
#include <system_error>
#include <warmup/sdk/glob.hpp>

#include "common/model_name_in_path.hpp"

namespace warmup::plugins::page_cache {
namespace {

constexpr std::string_view kNamePlaceholder = "${name}";
constexpr std::string_view kGlobMetacharacters = "*?[\\";

/// glob(3) reads the environment and locale and is marked MT-Unsafe; loads of different models run on different
/// worker threads, so every call in this plugin goes through this one mutex. Internal linkage: not a GNU unique
/// symbol, so the library still unloads on hot-swap.
std::mutex glob_mutex;

/// Checks one path pattern of `key_path`; throws sdk::InvalidArgument naming it.
void validate_path_pattern(const std::string& pattern, const std::string& key_path) {
    if (pattern.empty()) throw sdk::InvalidArgument(key_path + ": empty path pattern");
    if (pattern.front() != '/')
        throw sdk::InvalidArgument(key_path + ": '" + pattern +
                                   "' is not an absolute path (a relative one would depend on the daemon's working "
                                   "folder); write it from the root, e.g. /models/${name}/*.gguf");
    for (std::size_t at = pattern.find("${"); at != std::string::npos; at = pattern.find("${", at + 2)) {
        if (pattern.compare(at, kNamePlaceholder.size(), kNamePlaceholder) != 0) {
            const std::size_t close = pattern.find('}', at);
            const std::string placeholder =
                close == std::string::npos ? pattern.substr(at) : pattern.substr(at, close - at + 1);
            throw sdk::InvalidArgument(key_path + ": unknown placeholder '" + placeholder + "' in '" + pattern +
                                       "' (only ${name}, the catalog model name, is supported)");
        }
    }
}

std::string read_pattern(const YAML::Node& node, const std::string& key_path) {
    if (!node.IsScalar()) throw sdk::InvalidArgument(key_path + ": expected a path pattern (a string)");
    std::string pattern = node.Scalar();
    validate_path_pattern(pattern, key_path);
    return pattern;
}

/// The pattern up to its first unescaped wildcard or ${name} placeholder, with escapes removed.
std::string literal_prefix(const std::string& pattern) {
    std::string prefix;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '$' && i + 1 < pattern.size() && pattern[i + 1] == '{') break;
        if (c == '\\' && i + 1 < pattern.size()) {
            prefix.push_back(pattern[++i]);
        } else if (c == '*' || c == '?' || c == '[') {
            break;
        } else {
            prefix.push_back(c);
        }
    }
    return prefix;
}

}  // namespace

ModelFileRules ModelFileRules::parse(sdk::Params& params) {
    if (!params.has("model_files"))
        throw sdk::InvalidArgument(
            "params.model_files: required: a mapping from catalog model name (or glob) to the absolute path (or glob, "
            "or list of them) of its weight files, e.g. {\"llama*\": \"/models/${name}/*.gguf\"}");
    const sdk::Params files = params.get_map("model_files");  // throws "params.model_files: expected a mapping"
    ModelFileRules parsed;
    for (const auto& entry : files.node()) {
        if (!entry.first.IsScalar() || entry.first.Scalar().empty())
            throw sdk::InvalidArgument("params.model_files: every key must be a non-empty model name or glob");
        ModelFileRule rule;
        rule.model_glob = entry.first.Scalar();
        rule.key_path = "params.model_files." + rule.model_glob;
        const YAML::Node& value = entry.second;
        if (value.IsSequence()) {
            if (value.size() == 0) throw sdk::InvalidArgument(rule.key_path + ": empty list of path patterns");
            for (std::size_t i = 0; i < value.size(); ++i)
                rule.path_patterns.push_back(read_pattern(value[i], rule.key_path + "[" + std::to_string(i) + "]"));
        } else if (value.IsScalar()) {
            rule.path_patterns.push_back(read_pattern(value, rule.key_path));
        } else {
            throw sdk::InvalidArgument(rule.key_path + ": expected a path pattern or a list of path patterns");
        }
        parsed.rules_.push_back(std::move(rule));
    }
    if (parsed.rules_.empty())
        throw sdk::InvalidArgument(
            "params.model_files: empty mapping; name at least one model (or glob) and its files");
    return parsed;
}

const ModelFileRule* ModelFileRules::find(std::string_view model_name) const {
    for (const ModelFileRule& rule : rules_)
        if (rule.model_glob == model_name) return &rule;
    for (const ModelFileRule& rule : rules_)
        if (rule.model_glob.find_first_of("*?") != std::string::npos && sdk::glob_match(rule.model_glob, model_name))
            return &rule;
    return nullptr;
}

std::string ModelFileRules::describe_keys() const {
    std::string keys;
    for (const ModelFileRule& rule : rules_) keys += (keys.empty() ? "'" : ", '") + rule.model_glob + "'";
    return keys;
}

std::string substitute_model_name(std::string_view pattern, std::string_view model_name) {
    if (pattern.find(kNamePlaceholder) == std::string_view::npos) return std::string(pattern);
    if (const auto problem = backend::model_name_path_problem(model_name))
        throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT, "model name '" + std::string(model_name) + "' " + *problem +
                                                            "; refusing to substitute it into '" +
                                                            std::string(pattern) + "'");
    std::string escaped_name;
    for (const char c : model_name) {
        if (kGlobMetacharacters.find(c) != std::string_view::npos) escaped_name.push_back('\\');
        escaped_name.push_back(c);
    }
    std::string result;
    std::size_t copied = 0;
    for (std::size_t at = pattern.find(kNamePlaceholder); at != std::string_view::npos;
         at = pattern.find(kNamePlaceholder, copied)) {
        result.append(pattern.substr(copied, at - copied));
        result += escaped_name;
        copied = at + kNamePlaceholder.size();
    }
    result.append(pattern.substr(copied));
    return result;
}

std::vector<std::string> expand_path_pattern(const std::string& pattern) {
    std::vector<std::string> matches;
    {
        std::lock_guard lock(glob_mutex);
        glob_t found{};
        // Flags 0: results sorted, backslash escapes honoured (substitute_model_name relies on it), unreadable folders
        // skipped (describe_missing_folder explains an empty result).
        const int status = glob(pattern.c_str(), 0, nullptr, &found);
        if (status == 0)
            for (std::size_t i = 0; i < found.gl_pathc; ++i) matches.emplace_back(found.gl_pathv[i]);
        globfree(&found);
        if (status == GLOB_NOSPACE) throw std::bad_alloc();
    }
    std::vector<std::string> files;
    for (std::string& match : matches) {
        std::error_code error;
        if (!std::filesystem::is_directory(match, error)) {
            files.push_back(std::move(match));  // a file, or something the caller's stat will report on
            continue;
        }
        std::vector<std::string> below;
        // Folder symlinks are not followed (a cycle would never end); symlinks to files are (Hugging Face snapshots
        // are folders of symlinks into a blob store).
        std::filesystem::recursive_directory_iterator walk(match, error), end;
        for (; !error && walk != end; walk.increment(error)) {
            std::error_code type_error;  // a dangling symlink is skipped, not an error of the folder
            if (walk->is_regular_file(type_error)) below.push_back(walk->path().string());
        }
        if (error)
            throw sdk::Error(WARMUP_ERROR_UNAVAILABLE,
                             "cannot list folder " + match + " (matched by '" + pattern + "'): " + error.message());
        std::sort(below.begin(), below.end());
        files.insert(files.end(), below.begin(), below.end());
    }
    return files;
}

std::string describe_missing_folder(const std::string& pattern) {
    std::string folder = literal_prefix(pattern);
    const std::size_t slash = folder.rfind('/');
    folder = slash == 0 || slash == std::string::npos ? "/" : folder.substr(0, slash);
    struct stat info {};
    if (stat(folder.c_str(), &info) != 0) return "folder " + folder + ": " + errno_text(errno);
    if (!S_ISDIR(info.st_mode)) return folder + " is not a folder";
    if (access(folder.c_str(), R_OK | X_OK) != 0) return "folder " + folder + ": " + errno_text(errno);
    return "folder " + folder + " exists";
}

std::string errno_text(int error_number) {
    char buffer[256];
    // GNU strerror_r (g++ defines _GNU_SOURCE): returns a pointer to the text, possibly not `buffer`.
    return strerror_r(error_number, buffer, sizeof buffer);
}

}  // namespace warmup::plugins::page_cache
