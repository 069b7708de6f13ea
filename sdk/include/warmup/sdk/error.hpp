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

/// Runs `body`; returns NULL on success or a host-owned error describing what escaped it.
/// Guarantees: no exception leaves this function.
template <class Body>
warmup_error* guard(const warmup_host* host, Body&& body) noexcept {
    try {
        body();
        return nullptr;
    } catch (const Error& error) {
        return host->make_error(host, error.code(), to_view(error.what()));
    } catch (const std::bad_alloc&) {
        return host->make_error(host, WARMUP_ERROR_RESOURCE_EXHAUSTED, to_view("out of memory"));
    } catch (const std::exception& error) {
        return host->make_error(host, WARMUP_ERROR_INTERNAL, to_view(error.what()));
    } catch (...) {
        return host->make_error(host, WARMUP_ERROR_INTERNAL, to_view("unknown exception"));
    }
}

}  // namespace warmup::sdk
