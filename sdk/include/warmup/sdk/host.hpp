// warmup/sdk/host.hpp — a thin C++ view of warmup_host.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <warmup/sdk/error.hpp>

namespace warmup::sdk {

/// The id of a host extension table type, for Host::extension<Table>(). One specialisation per table in
/// warmup/ext/host_*.h; a plugin may add its own for a vendor's host extension.
template <class Table>
struct HostExtensionId;
template <>
struct HostExtensionId<warmup_host_log_extension> {
    static constexpr const char* value = WARMUP_HOST_EXT_LOG;
};
template <>
struct HostExtensionId<warmup_host_clock_extension> {
    static constexpr const char* value = WARMUP_HOST_EXT_CLOCK;
};
template <>
struct HostExtensionId<warmup_host_catalog_extension> {
    static constexpr const char* value = WARMUP_HOST_EXT_CATALOG;
};

/// Non-owning handle on the host. Valid for the life of the plugin instance that received it. All calls are [any].
class Host {
  public:
    explicit Host(const warmup_host* raw) noexcept : raw_(raw) {}

    [[nodiscard]] const warmup_host* raw() const noexcept { return raw_; }
    [[nodiscard]] warmup_time_ms now_ms() const { return raw_->now_ms(raw_); }
    [[nodiscard]] uint32_t model_count() const { return raw_->model_count(raw_); }

    /// Catalog entry of `model`, or nullopt when the index is unknown. The name view lives as long as the host.
    [[nodiscard]] std::optional<warmup_model_info> model_info(warmup_model_index model) const {
        warmup_model_info info{};
        info.struct_size = sizeof info;
        if (raw_->model_info(raw_, model, &info) != WARMUP_OK) return std::nullopt;
        return info;
    }

    [[nodiscard]] warmup_model_index find_model(std::string_view name) const {
        return raw_->find_model(raw_, to_view(name));
    }

    void log(warmup_log_level level, std::string_view message) const { raw_->log(raw_, level, to_view(message)); }
    void info(std::string_view message) const { log(WARMUP_LOG_INFO, message); }
    void warn(std::string_view message) const { log(WARMUP_LOG_WARN, message); }

    /// The host extension `id` (a NUL-terminated string), or nullptr when this host does not offer it. The table is
    /// the host's and lives as long as the host; its functions take raw() first.
    [[nodiscard]] const void* extension(const char* id) const noexcept {
        if (!WARMUP_HAS_FIELD(raw_, warmup_host, get_extension) || raw_->get_extension == nullptr) return nullptr;
        return raw_->get_extension(raw_, id);
    }

    /// The host extension of table type `Table` (e.g. warmup_host_clock_extension), looked up by its id, or nullptr
    /// when this host does not offer it. Fields added to a table after its id's first version are checked with
    /// WARMUP_HAS_FIELD before use.
    template <class Table>
    [[nodiscard]] const Table* extension() const noexcept {
        return static_cast<const Table*>(extension(HostExtensionId<Table>::value));
    }

    /// Frees an error this plugin made with raw()->make_error and will not return (ABI 1.2; the SDK's create refuses
    /// a host older than its headers, so the function is there). Null is ignored. Never free an error that was
    /// returned to the host.
    void free_error(warmup_error* error) const noexcept {
        if (error != nullptr) raw_->free_error(raw_, error);
    }

  private:
    const warmup_host* raw_;
};

}  // namespace warmup::sdk
