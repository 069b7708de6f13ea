#include "core/host_services.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "core/errors.hpp"
#include "core/reported_call_failure.hpp"

namespace warmup::host {
namespace {

const HostServices& services(const warmup_host* host) { return *static_cast<const HostServices*>(host->host_data); }

warmup_error* host_make_error(const warmup_host*, warmup_status code, warmup_string_view message) {
    return make_error(code, std::string_view(message.data == nullptr ? "" : message.data, message.size));
}

void host_free_error(const warmup_host*, warmup_error* error) { free_error(error); }

void host_log(const warmup_host* host, warmup_log_level level, warmup_string_view message) {
    const std::string_view text(message.data == nullptr ? "" : message.data, message.size);
    const auto& label = services(host).plugin_label();
    switch (level) {
        case WARMUP_LOG_DEBUG:
            spdlog::debug("[{}] {}", label, text);
            break;
        case WARMUP_LOG_INFO:
            spdlog::info("[{}] {}", label, text);
            break;
        case WARMUP_LOG_WARN:
            spdlog::warn("[{}] {}", label, text);
            break;
        default:
            spdlog::error("[{}] {}", label, text);
            break;
    }
}

warmup_time_ms host_now_ms(const warmup_host* host) { return services(host).clock().now_ms(); }

uint32_t host_model_count(const warmup_host* host) { return services(host).catalog().size(); }

warmup_status host_model_info(const warmup_host* host, warmup_model_index model, warmup_model_info* out) {
    const Catalog& catalog = services(host).catalog();
    if (out == nullptr || model >= catalog.size()) return WARMUP_ERROR_NOT_FOUND;
    const ModelRecord& record = catalog.record(model);
    const uint32_t size = out->struct_size;
    const warmup_model_info info = record.to_info();
    // Write only as many bytes as the caller's struct has (an older plugin has a shorter struct).
    std::memcpy(out, &info, std::min<std::size_t>(size, sizeof info));
    out->struct_size = std::min<uint32_t>(size, sizeof info);
    return WARMUP_OK;
}

warmup_model_index host_find_model(const warmup_host* host, warmup_string_view name) {
    const auto found =
        services(host).catalog().find(std::string_view(name.data == nullptr ? "" : name.data, name.size));
    return found ? *found : WARMUP_NO_MODEL;
}

// A failure reported from inside a call that returns no error: counted by the engine's collector for the call, or
// logged as the plugin's error when the host is not counting this call.
void host_report_call_failure(const warmup_host* host, const char* call, warmup_status code,
                              warmup_string_view message) {
    const std::string_view text(message.data == nullptr ? "" : message.data, message.size);
    try {
        if (ReportedCallFailure::report(code, text)) return;
    } catch (...) {  // no memory for the message: logged below
    }
    spdlog::error("[{}] {} failed: {}: {}", services(host).plugin_label(), call == nullptr ? "a call" : call,
                  status_name(code), text);
}

// The host extension tables: static, shared by every instance (the functions find their instance through `host`).
constexpr warmup_host_log_extension kLogExtension{sizeof(warmup_host_log_extension), &host_log};
constexpr warmup_host_clock_extension kClockExtension{sizeof(warmup_host_clock_extension), &host_now_ms};
constexpr warmup_host_catalog_extension kCatalogExtension{sizeof(warmup_host_catalog_extension), &host_model_count,
                                                          &host_model_info, &host_find_model};
constexpr warmup_host_call_failure_extension kCallFailureExtension{sizeof(warmup_host_call_failure_extension),
                                                                   &host_report_call_failure};

const void* host_get_extension(const warmup_host*, const char* id) {
    if (id == nullptr) return nullptr;
    const std::string_view wanted(id);
    if (wanted == WARMUP_HOST_EXT_LOG) return &kLogExtension;
    if (wanted == WARMUP_HOST_EXT_CLOCK) return &kClockExtension;
    if (wanted == WARMUP_HOST_EXT_CATALOG) return &kCatalogExtension;
    if (wanted == WARMUP_HOST_EXT_CALL_FAILURE) return &kCallFailureExtension;
    return nullptr;
}

}  // namespace

HostServices::HostServices(Catalog& catalog, const Clock& clock, std::string plugin_label)
    : catalog_(catalog), clock_(clock), plugin_label_(std::move(plugin_label)) {
    host_.struct_size = sizeof(warmup_host);
    host_.abi = WARMUP_ABI_VERSION_INIT;
    host_.host_data = this;
    host_.make_error = &host_make_error;
    host_.log = &host_log;
    host_.now_ms = &host_now_ms;
    host_.model_count = &host_model_count;
    host_.model_info = &host_model_info;
    host_.find_model = &host_find_model;
    host_.get_extension = &host_get_extension;
    host_.free_error = &host_free_error;
}

}  // namespace warmup::host
