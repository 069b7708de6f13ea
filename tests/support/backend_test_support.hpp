// backend_test_support.hpp — helpers for the backend tests: cancel tokens and catching an sdk::Error.
#pragma once

#include <gtest/gtest.h>
#include <warmup/backend.h>

#include <atomic>
#include <warmup/sdk/error.hpp>

namespace warmup::test {

/// A cancel token that never fires.
inline const warmup_cancel_token kNeverCancel{nullptr, [](void*) { return 0; }};

/// A cancel token that reports "cancelled" from its `cancel_on_check`-th poll on (1 = the first poll); counts polls.
/// Polls may come from any thread (the counter is atomic); the object must outlive the load it is passed to.
struct CountingCancel {
    std::atomic<int> checks{0};
    int cancel_on_check = 1;
    warmup_cancel_token token() {
        return warmup_cancel_token{this, [](void* context) {
                                       auto* self = static_cast<CountingCancel*>(context);
                                       return ++self->checks >= self->cancel_on_check ? 1 : 0;
                                   }};
    }
};

/// Runs `body`, which must throw sdk::Error, and returns the error (code and message) for exact expectations; a body
/// that does not throw fails the test and yields an error with code WARMUP_OK.
template <class Body>
sdk::Error sdk_error_of(Body&& body) {
    try {
        body();
    } catch (const sdk::Error& error) {
        return error;
    }
    ADD_FAILURE() << "expected an sdk::Error";
    return sdk::Error(WARMUP_OK, "");
}

}  // namespace warmup::test
