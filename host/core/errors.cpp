#include "core/errors.hpp"

#include <atomic>

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

namespace {
// Relaxed: a count for leak checks, ordered with nothing else.
std::atomic<std::size_t> live_errors{0};
}  // namespace

warmup_error* make_error(warmup_status code, std::string_view message) {
    auto* error = new warmup_error{code, std::string(message)};
    live_errors.fetch_add(1, std::memory_order_relaxed);
    return error;
}

void free_error(warmup_error* error) noexcept {
    if (error == nullptr) return;
    live_errors.fetch_sub(1, std::memory_order_relaxed);
    delete error;
}

std::size_t live_error_count() noexcept { return live_errors.load(std::memory_order_relaxed); }

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
