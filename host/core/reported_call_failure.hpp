// core/reported_call_failure.hpp — failures a plugin reports (warmup/ext/host_call_failure.h) from inside a call that
// returns no error, collected for the caller that made it.
//
// The engine opens a ReportedCallFailure::Collector around such a call (a resource plugin's notification, a queue's
// pop); the host's `report` records the first failure into the collector open on the calling thread, and the engine
// counts it once the call returns, as it counts a returned error. With no collector open (a call the engine does not
// count, a thread of the plugin's own) `report` answers false and the host logs the failure instead. Threads: one
// record per thread, touched by that thread only. Ownership: the collector is the caller's, on its stack.
#pragma once

#include <warmup/common.h>

#include <string>
#include <string_view>

namespace warmup::host {

class ReportedCallFailure {
  public:
    /// Collects the failures reported on this thread while it lives; nests (an inner collector hides the outer one
    /// until it ends).
    class Collector {
      public:
        Collector() noexcept : outer_(current_) { current_ = this; }
        ~Collector() { current_ = outer_; }
        Collector(const Collector&) = delete;
        Collector& operator=(const Collector&) = delete;

        [[nodiscard]] bool failed() const noexcept { return failed_; }
        [[nodiscard]] warmup_status code() const noexcept { return code_; }
        [[nodiscard]] const std::string& message() const noexcept { return message_; }

      private:
        friend class ReportedCallFailure;
        Collector* outer_;
        bool failed_ = false;
        warmup_status code_ = WARMUP_OK;
        std::string message_;
    };

    /// Records a failure into the collector open on this thread (the first one of the call only); false when none is
    /// open.
    static bool report(warmup_status code, std::string_view message) {
        if (current_ == nullptr) return false;
        if (!current_->failed_) {
            current_->failed_ = true;
            current_->code_ = code;
            current_->message_.assign(message);
        }
        return true;
    }

  private:
    static inline thread_local Collector* current_ = nullptr;
};

}  // namespace warmup::host
