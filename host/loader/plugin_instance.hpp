// loader/plugin_instance.hpp — one created plugin instance, which keeps its library alive.
#pragma once

#include <warmup/warmup.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/host_services.hpp"
#include "core/plugin_call_on_thread.hpp"
#include "loader/plugin_library.hpp"

namespace warmup::host {

/// Throws PluginLoadError when the library's vtable cannot be called: smaller than its kind's ABI 1.0 table, larger
/// than this host's (garbage), or with a NULL function among ABI 1.0's. PluginInstance::create checks it first;
/// `warmupctl inspect` too, so that it passes only what loads. Reads the static descriptor; creates nothing.
void check_vtable(const PluginLibrary& library);

/// Owns a plugin instance: destroys it through the descriptor, then drops its reference to the library (the library
/// is unloaded when the last instance made from it is gone). Thread-safety: the instance's own calls follow the
/// thread tags of the ABI ([control] for components, [worker] for backends); this wrapper adds no locking.
class PluginInstance {
  public:
    /// Creates an instance from `library` with the params YAML text. Throws PluginCallError (the plugin refused its
    /// params or failed to start) or PluginLoadError (the vtable is smaller than this ABI requires).
    static std::unique_ptr<PluginInstance> create(std::shared_ptr<PluginLibrary> library, std::string_view params_yaml,
                                                  Catalog& catalog, const Clock& clock);
    ~PluginInstance();
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    template <class VTable>
    [[nodiscard]] const VTable* vtable() const noexcept {
        return static_cast<const VTable*>(library_->descriptor().vtable);
    }
    [[nodiscard]] void* self() const noexcept { return instance_; }
    [[nodiscard]] const PluginLibrary& library() const noexcept { return *library_; }
    [[nodiscard]] const std::shared_ptr<PluginLibrary>& library_ptr() const noexcept { return library_; }
    [[nodiscard]] std::string_view params_yaml() const noexcept { return params_yaml_; }
    /// "<id>@<version>", used in log lines and error contexts.
    [[nodiscard]] const std::string& label() const noexcept { return services_->plugin_label(); }

    /// An extension table by id, or nullptr when the instance does not offer it.
    [[nodiscard]] const void* extension(const char* extension_id) const;

    /// Marks the calling thread as in this instance's call `what` (static storage) until the scope ends, for the
    /// report of a fatal signal (core/plugin_call_on_thread.hpp): the slot is the plugin's kind, `arm` (borrowed,
    /// outliving the scope) the replay arm or fleet node calling it, if any.
    [[nodiscard]] PluginCallScope marked(const char* what, const std::string* arm = nullptr) const noexcept;

  private:
    PluginInstance() = default;

    std::shared_ptr<PluginLibrary> library_;
    std::unique_ptr<HostServices> services_;
    std::string params_yaml_;
    void* instance_ = nullptr;
};

/// Minimum vtable size this host needs for a kind (ABI 1.0 fields).
std::size_t required_vtable_size(uint32_t kind) noexcept;

/// One function entry of a kind's vtable: its byte offset and the name its header gives it.
struct VtableFunction {
    std::size_t offset;
    const char* name;
};

/// Every function entry of a kind's table as this host's headers lay it out, in table order (empty for an unknown
/// kind). A NULL entry among the required ones is refused by this name (check_vtable).
std::vector<VtableFunction> vtable_functions(uint32_t kind);

/// Largest vtable size a plugin may declare for a kind: the table of this host's ABI minor (plugins are never newer).
/// Larger than required_vtable_size where a minor appended optional entries (the backend's list_resident, 1.1; the
/// resource's on_used_requests, 1.4).
std::size_t largest_vtable_size(uint32_t kind) noexcept;

/// A backend's list_resident (ABI 1.1), or nullptr when the backend cannot list: an ABI 1.0 plugin's table
/// ends before the field, or the plugin left it NULL. Precondition: `backend` is a backend instance.
using ListResidentFn = warmup_error* (*)(void* self, const warmup_resident_model_writer* out);
[[nodiscard]] ListResidentFn list_resident_of(const PluginInstance& backend) noexcept;

}  // namespace warmup::host
