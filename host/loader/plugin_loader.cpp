#include "loader/plugin_loader.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <warmup/sdk/spelling.hpp>

namespace warmup::host {
namespace fs = std::filesystem;

namespace {

std::string octal_mode(mode_t mode) { return fmt::format("{:04o}", mode & 07777); }

// Throws when `path` (a file, or a directory on the way to it) can be modified by others than its owner.
void require_not_writable_by_others(const fs::path& path, const fs::path& plugin, const std::string& where) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)  // checked first on the file itself: nothing is there
            throw PluginLoadError(fmt::format("{}plugin '{}': the file does not exist", where, plugin.string()));
        throw PluginLoadError(fmt::format("{}plugin '{}': cannot check the permissions of '{}': {}", where,
                                          plugin.string(), path.string(), std::generic_category().message(errno)));
    }
    const bool writable_by_others = (info.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    const bool sticky_directory = S_ISDIR(info.st_mode) && (info.st_mode & S_ISVTX) != 0;
    if (!writable_by_others || sticky_directory) return;
    const bool is_plugin = path == plugin;
    throw PluginLoadError(fmt::format(
        "{}plugin '{}': refusing to load: {} '{}' is {}-writable (mode {}); anyone in {} could replace the code the "
        "host runs (fix with: chmod go-w '{}')",
        where, plugin.string(), is_plugin ? "the file" : "its folder", path.string(),
        (info.st_mode & S_IWOTH) != 0 ? "world" : "group", octal_mode(info.st_mode),
        (info.st_mode & S_IWOTH) != 0 ? "any account" : "the owning group", path.string()));
}

// Checks `file` and every directory above it up to "/".
void require_safe_chain(const fs::path& file, const fs::path& plugin, const std::string& where) {
    require_not_writable_by_others(file, plugin, where);
    for (fs::path dir = file.parent_path(); !dir.empty(); dir = dir.parent_path()) {
        require_not_writable_by_others(dir, plugin, where);
        if (dir == dir.root_path()) break;
    }
}

// Makes sure the plugin cache folder exists and is private: created 0700, or else an existing real folder (not a
// symlink) owned by this process's user and not writable by others. The folder lives under the shared temp dir with
// a predictable name, so another account could have created it first to plant a library.
void prepare_private_cache_dir(const fs::path& dir) {
    std::error_code ignored;
    fs::create_directories(dir.parent_path(), ignored);  // normally the temp dir, which exists
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw PluginLoadError(fmt::format("plugin cache '{}': cannot create it: {}", dir.string(),
                                          std::generic_category().message(errno)));
    struct stat info {};
    if (::lstat(dir.c_str(), &info) != 0)
        throw PluginLoadError(fmt::format("plugin cache '{}': cannot check it: {}", dir.string(),
                                          std::generic_category().message(errno)));
    if (!S_ISDIR(info.st_mode))
        throw PluginLoadError(
            fmt::format("plugin cache '{}': is not a folder (a symlink or a file stands there)", dir.string()));
    if (info.st_uid != ::geteuid())
        throw PluginLoadError(fmt::format("plugin cache '{}': owned by uid {}, not by this process's uid {}",
                                          dir.string(), info.st_uid, ::geteuid()));
    if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        throw PluginLoadError(fmt::format("plugin cache '{}': is group- or world-writable (mode {})", dir.string(),
                                          octal_mode(info.st_mode)));
}

}  // namespace

void require_safe_plugin_path(const fs::path& file, const std::string& where) {
    const std::string prefix = where.empty() ? std::string() : where + ": ";
    std::error_code error;
    const fs::path named = fs::absolute(file, error).lexically_normal();
    if (error)
        throw PluginLoadError(
            fmt::format("{}plugin '{}': cannot resolve the path: {}", prefix, file.string(), error.message()));
    require_safe_chain(named, named, prefix);
    const fs::path resolved = fs::canonical(named, error);
    if (error)
        throw PluginLoadError(
            fmt::format("{}plugin '{}': cannot resolve the path: {}", prefix, file.string(), error.message()));
    if (resolved != named) require_safe_chain(resolved, resolved, prefix);
}

PluginLoader::PluginLoader(std::vector<fs::path> plugin_dirs, fs::path cache_dir)
    : plugin_dirs_(std::move(plugin_dirs)), cache_dir_(std::move(cache_dir)) {}

std::vector<std::optional<fs::file_time_type>> PluginLoader::directory_stamps() const {
    std::vector<std::optional<fs::file_time_type>> stamps;
    for (const auto& dir : plugin_dirs_) {
        std::error_code error;
        const auto stamp = fs::last_write_time(dir, error);
        stamps.push_back(!error && fs::is_directory(dir, error) ? std::optional(stamp) : std::nullopt);
    }
    return stamps;
}

void PluginLoader::scan_directories() {
    // Reads every library's descriptor once per scan. Libraries that fail to open are skipped here (with a log line)
    // and only become an error if the configuration asks for them by path.
    id_to_file_.clear();
    ambiguous_ids_.clear();
    scanned_stamps_ = directory_stamps();
    for (const auto& dir : plugin_dirs_) {
        std::error_code error;
        if (!fs::is_directory(dir, error)) continue;
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(dir, error))
            if (entry.is_regular_file() && entry.path().extension() == ".so") files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        std::map<std::string, std::vector<fs::path>> in_this_dir;
        for (const auto& file : files) {
            try {
                // Before dlopen: opening a library runs its constructors.
                require_safe_plugin_path(file);
                auto library = PluginLibrary::open(file, file, {});
                in_this_dir[library->id()].push_back(file);
            } catch (const std::exception& failure) {
                spdlog::warn("PLUGIN_LOAD_ERROR skipping '{}' while scanning plugin directories: {}", file.string(),
                             failure.what());
            }
        }
        for (auto& [id, declaring] : in_this_dir) {
            if (!id_to_file_.try_emplace(id, declaring.front()).second) continue;  // an earlier folder provides it
            // The same library under two names (a version symlink, a copy) is no ambiguity.
            const auto same_library = [](const fs::path& a, const fs::path& b) {
                std::error_code error;
                if (fs::equivalent(a, b, error)) return true;
                try {
                    return sha256_of_file(a) == sha256_of_file(b);
                } catch (const std::exception&) {
                    return false;
                }
            };
            std::vector<fs::path> distinct;
            for (const fs::path& file : declaring)
                if (std::none_of(distinct.begin(), distinct.end(),
                                 [&](const fs::path& kept) { return same_library(kept, file); }))
                    distinct.push_back(file);
            if (distinct.size() > 1) ambiguous_ids_[id] = std::move(distinct);
        }
    }
    scanned_ = true;
}

std::optional<fs::path> PluginLoader::find_by_id(const std::string& id) {
    std::lock_guard lock(mutex_);
    // Read again when a folder's modification time changed (an entry added, removed or renamed: a new version under
    // another name), and whenever the id is not found or its file is gone: a folder's time does not change when a
    // file's content is written in place, and may not change within one tick of a coarse file-system clock.
    const auto known = [&]() -> std::optional<fs::path> {
        const auto it = id_to_file_.find(id);
        std::error_code error;
        if (it == id_to_file_.end() || !fs::is_regular_file(it->second, error)) return std::nullopt;
        return it->second;
    };
    if (scanned_ && directory_stamps() == scanned_stamps_)
        if (auto found = known()) return found;
    scan_directories();
    return known();
}

std::vector<fs::path> PluginLoader::files_declaring(const std::string& id) const {
    std::lock_guard lock(mutex_);
    const auto ambiguous = ambiguous_ids_.find(id);
    return ambiguous == ambiguous_ids_.end() ? std::vector<fs::path>{} : ambiguous->second;
}

// Long: a library's trust checks in the order their errors are reported (file, SHA-256 pin, copy, ABI, kind, id).
std::shared_ptr<PluginLibrary> PluginLoader::load(const PluginRef& ref, uint32_t expected_kind, bool replacing_id) {
    fs::path file = ref.path;
    if (file.empty()) {
        auto found = find_by_id(ref.id);
        if (!found) {
            std::string dirs;
            for (const auto& dir : plugin_dirs_) {
                std::error_code error;
                dirs += (dirs.empty() ? "" : ", ") + dir.string();
                if (!fs::is_directory(dir, error)) dirs += " (no such folder)";
            }
            // A mistyped id is pointed at the closest one found (the same rule as a mistyped configuration key).
            std::string suggestion;
            {
                std::lock_guard lock(mutex_);
                std::vector<std::string> ids;
                for (const auto& [id, file] : id_to_file_) ids.push_back(id);
                if (auto closest = sdk::closest_name(ref.id, ids))
                    suggestion = fmt::format("; did you mean '{}'?", *closest);
            }
            throw PluginLoadError(fmt::format("{}: no plugin with id '{}' in the plugin directories [{}]{}", ref.where,
                                              ref.id, dirs.empty() ? "none configured" : dirs, suggestion));
        }
        if (const std::vector<fs::path> declaring = files_declaring(ref.id); declaring.size() > 1) {
            std::vector<std::string> names;
            for (const fs::path& candidate : declaring) names.push_back(candidate.filename().string());
            throw PluginLoadError(fmt::format(
                "{}: plugin id '{}' is declared by {} libraries in {} ({}): which one is meant cannot be told; remove "
                "all but one, or name one with path:",
                ref.where, ref.id, names.size(), declaring.front().parent_path().string(), fmt::join(names, ", ")));
        }
        file = *found;
    }
    std::error_code error;
    if (!fs::is_regular_file(file, error))
        throw PluginLoadError(fmt::format("{}: plugin '{}': no such file", ref.where, file.string()));
    require_safe_plugin_path(file, ref.where);

    std::string sha256;
    try {
        sha256 = sha256_of_file(file);
    } catch (const std::exception& failure) {
        throw PluginLoadError(fmt::format("{}: plugin '{}': {}", ref.where, file.string(), failure.what()));
    }
    if (!ref.sha256_pin.empty() && ref.sha256_pin != sha256)
        throw PluginLoadError(fmt::format("{}: plugin '{}': SHA-256 is {}, but the configuration pins {}", ref.where,
                                          file.string(), sha256, ref.sha256_pin));

    std::lock_guard lock(mutex_);
    std::shared_ptr<PluginLibrary> library;
    if (auto it = by_sha_.find(sha256); it != by_sha_.end()) library = it->second.lock();
    if (!library) {
        fs::path load_from = file;
        if (!cache_dir_.empty()) {
            try {
                prepare_private_cache_dir(cache_dir_);
            } catch (const PluginLoadError& failure) {
                throw PluginLoadError(fmt::format("{}: plugin '{}': {}", ref.where, file.string(), failure.what()));
            }
            load_from = cache_dir_ / (sha256 + ".so");
            // A cached copy is trusted only if its content still matches its name (the folder is private, so this
            // guards against a truncated copy from a crash rather than against another account).
            bool cached_copy_valid = false;
            if (fs::is_regular_file(load_from, error)) {
                try {
                    cached_copy_valid = sha256_of_file(load_from) == sha256;
                } catch (const std::exception&) {
                    cached_copy_valid = false;
                }
            }
            if (!cached_copy_valid) {
                const fs::path partial = cache_dir_ / (sha256 + ".so.partial");
                fs::copy_file(file, partial, fs::copy_options::overwrite_existing, error);
                if (!error) fs::rename(partial, load_from, error);
                if (error)
                    throw PluginLoadError(fmt::format("{}: plugin '{}': cannot copy to '{}': {}", ref.where,
                                                      file.string(), load_from.string(), error.message()));
                // The copy is what gets loaded: hash it again, so a file changed between the pin check and the copy
                // is refused rather than loaded under the pinned hash.
                std::string copied_sha256;
                try {
                    copied_sha256 = sha256_of_file(load_from);
                } catch (const std::exception&) {
                }
                if (copied_sha256 != sha256) {
                    fs::remove(load_from, error);
                    throw PluginLoadError(fmt::format(
                        "{}: plugin '{}': the file changed while it was being loaded (SHA-256 {} at the check, {} "
                        "after the copy)",
                        ref.where, file.string(), sha256, copied_sha256.empty() ? "unreadable" : copied_sha256));
                }
            }
        }
        try {
            library = PluginLibrary::open(load_from, file, sha256);
        } catch (const PluginLoadError& failure) {
            // A cached copy that cannot be loaded (taken while the original was cut short) must not be reused.
            if (load_from != file) fs::remove(load_from, error);
            throw PluginLoadError(fmt::format("{}: {}", ref.where, failure.what()));
        }
    }

    const auto& descriptor = library->descriptor();
    if (descriptor.kind != expected_kind)
        throw PluginLoadError(fmt::format("{}: plugin '{}' (id {}) is a {} plugin, but this slot needs a {} plugin",
                                          ref.where, file.string(), descriptor.id, kind_name(descriptor.kind),
                                          kind_name(expected_kind)));
    if (!ref.id.empty() && ref.id != descriptor.id)
        throw PluginLoadError(fmt::format("{}: plugin '{}' declares id '{}', expected '{}'", ref.where, file.string(),
                                          descriptor.id, ref.id));
    if (auto it = by_id_.find(descriptor.id); it != by_id_.end()) {
        auto other = it->second.lock();
        if (other && other != library && !replacing_id)
            throw PluginLoadError(
                fmt::format("{}: plugin '{}' declares id '{}', which is already loaded from '{}' (ids must be unique)",
                            ref.where, file.string(), descriptor.id, other->file().string()));
    }
    by_id_[descriptor.id] = library;
    by_sha_[sha256] = library;
    return library;
}

}  // namespace warmup::host
