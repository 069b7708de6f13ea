#include "core/errors.hpp"

#include <atomic>
#include <warmup/sdk/error.hpp>

namespace warmup::host {

// The SDK's spelling, so the host's logs and a plugin's name a code the same way.
std::string_view status_name(warmup_status code) noexcept { return sdk::status_name(code); }

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
