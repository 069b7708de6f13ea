#include "loader/plugin_loader.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

namespace warmup::host {
namespace fs = std::filesystem;

PluginLoader::PluginLoader(std::vector<fs::path> plugin_dirs, fs::path cache_dir)
    : plugin_dirs_(std::move(plugin_dirs)), cache_dir_(std::move(cache_dir)) {}

void PluginLoader::scan_directories() {
    // Reads every library's descriptor once. Libraries that fail to open are skipped here (with a log line) and only
    // become an error if the configuration asks for them by path.
    for (const auto& dir : plugin_dirs_) {
        std::error_code error;
        if (!fs::is_directory(dir, error)) continue;
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(dir, error))
            if (entry.is_regular_file() && entry.path().extension() == ".so") files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            try {
                auto library = PluginLibrary::open(file, file, {});
                id_to_file_.try_emplace(library->id(), file);  // first directory wins
            } catch (const std::exception& failure) {
                spdlog::warn("PLUGIN_LOAD_ERROR skipping '{}' while scanning plugin directories: {}", file.string(),
                             failure.what());
            }
        }
    }
    scanned_ = true;
}

std::optional<fs::path> PluginLoader::find_by_id(const std::string& id) {
    std::lock_guard lock(mutex_);
    if (!scanned_) scan_directories();
    if (auto it = id_to_file_.find(id); it != id_to_file_.end()) return it->second;
    return std::nullopt;
}

std::shared_ptr<PluginLibrary> PluginLoader::load(const PluginRef& ref, uint32_t expected_kind, bool replacing_id) {
    fs::path file = ref.path;
    if (file.empty()) {
        auto found = find_by_id(ref.id);
        if (!found) {
            std::string dirs;
            for (const auto& dir : plugin_dirs_) dirs += (dirs.empty() ? "" : ", ") + dir.string();
            throw PluginLoadError(fmt::format("{}: no plugin with id '{}' in the plugin directories [{}]", ref.where,
                                              ref.id, dirs.empty() ? "none configured" : dirs));
        }
        file = *found;
    }
    std::error_code error;
    if (!fs::is_regular_file(file, error))
        throw PluginLoadError(fmt::format("{}: plugin '{}': no such file", ref.where, file.string()));

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
            fs::create_directories(cache_dir_, error);
            load_from = cache_dir_ / (sha256 + ".so");
            if (!fs::exists(load_from, error)) {
                const fs::path partial = cache_dir_ / (sha256 + ".so.partial");
                fs::copy_file(file, partial, fs::copy_options::overwrite_existing, error);
                if (!error) fs::rename(partial, load_from, error);
                if (error)
                    throw PluginLoadError(fmt::format("{}: plugin '{}': cannot copy to '{}': {}", ref.where,
                                                      file.string(), load_from.string(), error.message()));
            }
        }
        try {
            library = PluginLibrary::open(load_from, file, sha256);
        } catch (const PluginLoadError& failure) {
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
            throw PluginLoadError(fmt::format(
                "{}: plugin '{}' declares id '{}', which is already loaded from '{}' (ids must be unique)", ref.where,
                file.string(), descriptor.id, other->file().string()));
    }
    by_id_[descriptor.id] = library;
    by_sha_[sha256] = library;
    return library;
}

}  // namespace warmup::host
