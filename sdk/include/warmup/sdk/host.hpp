// warmup/sdk/host.hpp — a thin C++ view of warmup_host.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <warmup/sdk/error.hpp>

namespace warmup::sdk {

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

  private:
    const warmup_host* raw_;
};

}  // namespace warmup::sdk
