// loader/plugin_loader.hpp — finds plugin libraries by id or path and refuses the ones that do not fit.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "loader/plugin_library.hpp"

namespace warmup::host {

/// What the configuration says about one plugin.
struct PluginRef {
    std::string id;              ///< reverse-DNS id, looked up in the plugin directories; or empty when `path` is set
    std::filesystem::path path;  ///< explicit library file (already resolved against the config folder)
    std::string sha256_pin;      ///< if set, the file's SHA-256 must match
    std::string where;           ///< the config key naming it, e.g. "components.predictor" (for messages)
};

/// Refuses (PluginLoadError naming the path and its mode) a plugin file that someone other than its owner could
/// replace or modify: the file, or any directory from its parent up to "/", is group- or world-writable. Both the
/// path as named and the path with symlinks resolved are checked (a symlink in a writable folder can be swapped).
/// Exception: a directory with the sticky bit (e.g. /tmp, mode 1777) is accepted, since there only an entry's owner
/// may rename or delete it. `where` prefixes the message (the config key). Thread-safety: pure (stat calls only).
void require_safe_plugin_path(const std::filesystem::path& file, const std::string& where = {});

/// Thread-safety: all methods may be called from any thread (internally locked); loading normally happens on the
/// control thread or at start-up.
class PluginLoader {
  public:
    /// `cache_dir`: when non-empty, libraries are copied to <cache_dir>/<sha256>.so and loaded from there, so a
    /// library rebuilt at the same path is new code (dlopen of a replaced file at the same path returns the old one).
    /// The cache folder is created 0700; an existing one must be a real folder owned by this process's user and not
    /// group/world-writable, and a cached copy is used only if its content still hashes to its name.
    /// Plugins load only from `plugin_dirs` (by id) or from explicit paths, and never from unsafe locations (see
    /// require_safe_plugin_path); the sha256 pin of a PluginRef is checked on the file's content.
    explicit PluginLoader(std::vector<std::filesystem::path> plugin_dirs, std::filesystem::path cache_dir = {});

    /// Loads (or reuses, when the same file content is already loaded) the library `ref` names, and checks that it
    /// declares `expected_kind`. `replacing_id`: the id may already be loaded from other content (hot-swap loads the
    /// new version beside the old one). Throws PluginLoadError with the file and what was expected and found.
    std::shared_ptr<PluginLibrary> load(const PluginRef& ref, uint32_t expected_kind, bool replacing_id = false);

    /// The file that provides `id` in the plugin directories, or nullopt. The directories are scanned again when one
    /// of them changed since the last scan (a library added, removed or renamed: a new version under another file
    /// name) and when `id` is not known or its file is gone (a reload finds a plugin installed after the start). A
    /// library cut short (still being copied) is skipped, not opened.
    std::optional<std::filesystem::path> find_by_id(const std::string& id);

    [[nodiscard]] const std::vector<std::filesystem::path>& plugin_dirs() const noexcept { return plugin_dirs_; }

  private:
    void scan_directories();
    /// The libraries of one folder that declare `id` when there are several (empty otherwise), from the last scan.
    [[nodiscard]] std::vector<std::filesystem::path> files_declaring(const std::string& id) const;

    std::vector<std::filesystem::path> plugin_dirs_;
    std::filesystem::path cache_dir_;
    mutable std::mutex mutex_;
    /// Each plugin directory's modification time at the last scan (nullopt: not a readable folder then).
    [[nodiscard]] std::vector<std::optional<std::filesystem::file_time_type>> directory_stamps() const;
    bool scanned_ = false;
    std::vector<std::optional<std::filesystem::file_time_type>> scanned_stamps_;
    std::map<std::string, std::filesystem::path> id_to_file_;  // from the directory scan
    /// Ids that more than one library of the folder that provides them declares (from the scan): which file would be
    /// loaded would depend on file names, so naming such an id is refused, listing the files.
    std::map<std::string, std::vector<std::filesystem::path>> ambiguous_ids_;
    std::map<std::string, std::weak_ptr<PluginLibrary>> by_sha_;  // content -> loaded library
    std::map<std::string, std::weak_ptr<PluginLibrary>> by_id_;   // id -> the library that holds it now
};

}  // namespace warmup::host
