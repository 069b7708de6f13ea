// core/errors.hpp — the host side of warmup_error: creation for plugins, conversion to C++ exceptions for the host.
#pragma once

#include <warmup/common.h>

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

warmup_error* make_error(warmup_status code, std::string_view message);

struct ErrorDeleter {
    void operator()(warmup_error* error) const noexcept { delete error; }
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

/// Takes ownership of `error`; throws PluginCallError when it is non-null. `context` names the plugin and call.
void throw_if_error(warmup_error* error, std::string_view context);

}  // namespace warmup::host
