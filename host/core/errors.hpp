// core/errors.hpp — the host side of warmup_error: creation for plugins, conversion to C++ exceptions for the host.
#pragma once

#include <warmup/common.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

/// The definition behind the opaque ABI type. Always allocated by the host (make_error), freed by the host.
struct warmup_error {
    warmup_status code;
    std::string message;
};

namespace warmup::host {

/// Stable name of a status code ("INVALID_ARGUMENT"), for logs and JSON.
std::string_view status_name(warmup_status code) noexcept;

/// Allocates an error in host memory (so it outlives the plugin that asked for it). Never returns null. [any]
warmup_error* make_error(warmup_status code, std::string_view message);

/// Frees an error made by make_error; null is ignored. Every error the host frees goes through here. [any]
void free_error(warmup_error* error) noexcept;

/// Errors made by make_error and not yet freed by free_error, in this process. [any] A leak check for tests: an
/// error returned by a plugin and dropped by the host, or made and not freed by a plugin, stays counted.
[[nodiscard]] std::size_t live_error_count() noexcept;

struct ErrorDeleter {
    void operator()(warmup_error* error) const noexcept { free_error(error); }
};
using ErrorPtr = std::unique_ptr<warmup_error, ErrorDeleter>;

/// A plugin call returned an error. `what()` is "<context>: <CODE>: <plugin's message>".
class PluginCallError : public std::runtime_error {
  public:
    PluginCallError(warmup_status code, std::string plugin_message, const std::string& context);
    [[nodiscard]] warmup_status code() const noexcept { return code_; }
    [[nodiscard]] const std::string& plugin_message() const noexcept { return plugin_message_; }

  private:
    warmup_status code_;
    std::string plugin_message_;
};

/// A command for the control loop was given up: the loop is stuck, in a plugin call that does not return or in one
/// long step (LiveRuntime::control_stall() says where). The command may still run once the loop resumes.
class ControlLoopStalled : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// Takes ownership of `error`; throws PluginCallError when it is non-null. `context` names the plugin and call.
void throw_if_error(warmup_error* error, std::string_view context);

}  // namespace warmup::host
