#include "core/errors.hpp"

namespace warmup::host {

std::string_view status_name(warmup_status code) noexcept {
    switch (code) {
        case WARMUP_OK:
            return "OK";
        case WARMUP_ERROR_INVALID_ARGUMENT:
            return "INVALID_ARGUMENT";
        case WARMUP_ERROR_NOT_FOUND:
            return "NOT_FOUND";
        case WARMUP_ERROR_UNSUPPORTED:
            return "UNSUPPORTED";
        case WARMUP_ERROR_RESOURCE_EXHAUSTED:
            return "RESOURCE_EXHAUSTED";
        case WARMUP_ERROR_UNAVAILABLE:
            return "UNAVAILABLE";
        case WARMUP_ERROR_INTERNAL:
            return "INTERNAL";
        case WARMUP_ERROR_CANCELLED:
            return "CANCELLED";
        case WARMUP_ERROR_TIMEOUT:
            return "TIMEOUT";
    }
    return "INTERNAL";
}

warmup_error* make_error(warmup_status code, std::string_view message) {
    return new warmup_error{code, std::string(message)};
}

PluginCallError::PluginCallError(warmup_status code, std::string plugin_message, const std::string& context)
    : std::runtime_error(context + ": " + std::string(status_name(code)) + ": " + plugin_message),
      code_(code),
      plugin_message_(std::move(plugin_message)) {}

void throw_if_error(warmup_error* error, std::string_view context) {
    if (error == nullptr) return;
    ErrorPtr owned(error);
    throw PluginCallError(owned->code, std::move(owned->message), std::string(context));
}

}  // namespace warmup::host
