// warmup/sdk/error.hpp — C++ exceptions a plugin throws, and the guard that turns them into ABI errors.
//
// Plugin code throws warmup::sdk::Error (or any std::exception); the generated vtable catches it at the boundary and
// returns a warmup_error created in host memory. Nothing ever unwinds across the C ABI.
#pragma once

#include <warmup/warmup.h>

#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

namespace warmup::sdk {

/// An error with a stable ABI code. Thrown by plugin code; converted to warmup_error* at the boundary.
class Error : public std::runtime_error {
  public:
    Error(warmup_status code, const std::string& message) : std::runtime_error(message), code_(code) {}
    [[nodiscard]] warmup_status code() const noexcept { return code_; }

  private:
    warmup_status code_;
};

/// A bad parameter: the message must name the key path, e.g. "params.horizon_ms: expected an integer".
class InvalidArgument : public Error {
  public:
    explicit InvalidArgument(const std::string& message) : Error(WARMUP_ERROR_INVALID_ARGUMENT, message) {}
};

inline warmup_string_view to_view(std::string_view text) noexcept { return {text.data(), text.size()}; }
inline std::string_view to_string_view(warmup_string_view text) noexcept {
    return text.data == nullptr ? std::string_view{} : std::string_view{text.data, text.size};
}

/// Stable name of a status code ("INVALID_ARGUMENT"), as the host spells it in its logs.
[[nodiscard]] inline const char* status_name(warmup_status code) noexcept {
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

namespace detail {

/// What escaped a plugin method: a stable code and a message. The message is borrowed from the exception object
/// (or static), valid only inside the catch handler that produced it.
struct EscapedError {
    warmup_status code;
    const char* message;
};

/// Classifies the exception being handled. Call only inside a catch handler; never throws.
inline EscapedError current_escaped_error() noexcept {
    try {
        throw;
    } catch (const Error& error) {
        return {error.code(), error.what()};
    } catch (const std::bad_alloc&) {
        return {WARMUP_ERROR_RESOURCE_EXHAUSTED, "out of memory"};
    } catch (const std::exception& error) {
        return {WARMUP_ERROR_INTERNAL, error.what()};
    } catch (...) {
        return {WARMUP_ERROR_INTERNAL, "unknown exception"};
    }
}

}  // namespace detail

/// Runs `body`; returns NULL on success or a host-owned error describing what escaped it.
/// Guarantees: no exception leaves this function.
template <class Body>
warmup_error* guard(const warmup_host* host, Body&& body) noexcept {
    try {
        body();
        return nullptr;
    } catch (...) {
        const detail::EscapedError escaped = detail::current_escaped_error();
        return host->make_error(host, escaped.code, to_view(escaped.message));
    }
}

namespace detail {

/// Says the exception being handled to the host: reported as a failure of the call now running
/// (warmup/ext/host_call_failure.h: the host counts it like a returned error and logs it, "<message>; <outcome>"), or,
/// from a host without that extension, logged at ERROR level attributed to the plugin: "<call> failed: <CODE>:
/// <message>; <outcome>". Call only inside a catch handler; never throws.
inline void log_escaped_error(const warmup_host* host, const char* call, const char* outcome) noexcept {
    const EscapedError escaped = current_escaped_error();
    const auto* failures = WARMUP_HAS_FIELD(host, warmup_host, get_extension) && host->get_extension != nullptr
                               ? static_cast<const warmup_host_call_failure_extension*>(
                                     host->get_extension(host, WARMUP_HOST_EXT_CALL_FAILURE))
                               : nullptr;
    if (failures != nullptr && failures->struct_size >= sizeof(warmup_host_call_failure_extension)) {
        try {
            const std::string message = std::string(escaped.message) + "; " + outcome;
            failures->report(host, call, escaped.code, to_view(message));
        } catch (...) {
            failures->report(host, call, escaped.code, to_view(outcome));  // no memory for the message
        }
        return;
    }
    try {
        const std::string line =
            std::string(call) + " failed: " + status_name(escaped.code) + ": " + escaped.message + "; " + outcome;
        host->log(host, WARMUP_LOG_ERROR, to_view(line));
    } catch (...) {
        host->log(host, WARMUP_LOG_ERROR, to_view(call));  // no memory for the message: the call's name at least
    }
}

}  // namespace detail

/// The guard for a call whose C signature has no error to return (a count, a flag, a schema): runs `body` and returns
/// its result, or `fallback` when an exception escaped it. The escape is logged through the host at ERROR level,
/// attributed to the plugin ("<call> failed: <CODE>: <message>; <outcome>"), so the failure is seen while the host
/// keeps running. `call` and `outcome` (what the host gets instead, e.g. "the host got 0") are static strings.
/// Guarantees: no exception leaves this function.
template <class Result, class Body>
Result guard_value(const warmup_host* host, const char* call, Result fallback, const char* outcome,
                   Body&& body) noexcept {
    try {
        return body();
    } catch (...) {
        detail::log_escaped_error(host, call, outcome);
        return fallback;
    }
}

/// The same for a call that returns nothing (a notification): an escape is logged with `outcome`.
template <class Body>
void guard_void(const warmup_host* host, const char* call, const char* outcome, Body&& body) noexcept {
    try {
        body();
    } catch (...) {
        detail::log_escaped_error(host, call, outcome);
    }
}

}  // namespace warmup::sdk
