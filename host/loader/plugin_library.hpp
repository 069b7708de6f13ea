// loader/plugin_library.hpp — one plugin shared object, opened with Boost.DLL and checked against the host's ABI.
#pragma once

#include <warmup/plugin.h>

#include <boost/dll/shared_library.hpp>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace warmup::host {

/// A library the host refused to load. what() names the file and what was expected and found.
class PluginLoadError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// Human name of a kind ("predictor"), as used in messages and in /api/warmup/plugins.
std::string_view kind_name(uint32_t kind) noexcept;

/// An open plugin library. Shared by every instance created from it (each PluginInstance holds a shared_ptr), so the
/// code stays mapped while any instance lives. While open, its code's addresses are registered under its id and
/// version, so a crash on a thread the plugin started names it (core/plugin_code_ranges.hpp). Thread-safety: immutable
/// after open; use from any thread.
class PluginLibrary {
  public:
    ~PluginLibrary();
    PluginLibrary(const PluginLibrary&) = delete;
    PluginLibrary& operator=(const PluginLibrary&) = delete;

    /// Opens `file` (RTLD_NOW | RTLD_LOCAL) and validates its descriptor. `original_file` is the path the user named
    /// (differs from `file` when the host loads a content-addressed copy). Throws PluginLoadError.
    static std::shared_ptr<PluginLibrary> open(const std::filesystem::path& file,
                                               const std::filesystem::path& original_file, std::string sha256);

    [[nodiscard]] const warmup_plugin_descriptor& descriptor() const noexcept { return *descriptor_; }
    [[nodiscard]] const std::filesystem::path& file() const noexcept { return original_file_; }
    [[nodiscard]] const std::filesystem::path& loaded_file() const noexcept { return loaded_file_; }
    [[nodiscard]] const std::string& sha256() const noexcept { return sha256_; }
    [[nodiscard]] std::string id() const { return descriptor_->id; }
    [[nodiscard]] std::string version() const { return descriptor_->version; }

  private:
    PluginLibrary() = default;

    boost::dll::shared_library library_;
    const warmup_plugin_descriptor* descriptor_ = nullptr;
    std::filesystem::path original_file_;
    std::filesystem::path loaded_file_;
    std::string sha256_;
    int code_entry_ = -1;  ///< its code's place in core/plugin_code_ranges.hpp (a crash report's lookup), or -1
};

/// Hex SHA-256 of a file's bytes. Throws std::runtime_error when unreadable.
std::string sha256_of_file(const std::filesystem::path& file);

}  // namespace warmup::host
