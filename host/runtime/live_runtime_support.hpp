// runtime/live_runtime_support.hpp — small helpers shared by the LiveRuntime's source files (operations, health,
// state keeping). Internal to host/runtime/. Pure functions: any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "runtime/live_runtime.hpp"

namespace warmup::host {

/// The wall clock in ms since the Unix epoch (what the API reports as *_unix_ms).
inline int64_t unix_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// An operation that failed with HTTP `status` and `error`.
inline OperationResult failure(int status, std::string error) {
    OperationResult result;
    result.http_status = status;
    result.error = std::move(error);
    return result;
}

}  // namespace warmup::host
