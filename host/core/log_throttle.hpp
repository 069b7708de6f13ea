// core/log_throttle.hpp — at most one log line per interval for a message that load repeats many times a second.
//
// Some lines are written once per occurrence of something that is normal under load: a POST refused with 503 because
// the ingest queue is full (a retrying client sends hundreds a second), a demand load that waits for unloads while the
// budget churns (one per load). Written each time, they fill the journal (hundreds of lines a second, gigabytes a day)
// and hide everything else. A LogThrottle lets the first one of each interval through and counts the rest; the next
// line that goes through says how many were left out, so nothing is lost from the count.
//
// Times are milliseconds on whatever clock the caller passes (a steady clock, or the engine's clock), as long as the
// same throttle always gets the same clock. Thread-safety: any thread (one mutex, held for a few instructions).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

namespace warmup::host {

class LogThrottle {
  public:
    /// At most one line per `interval_ms` (> 0).
    explicit LogThrottle(int64_t interval_ms) noexcept : interval_ms_(interval_ms) {}

    /// Whether the caller logs its line now. When true, `left_out` is the number of calls that returned false since
    /// the previous true (0 for the first line); the caller says so in the line. When false, the call is counted.
    [[nodiscard]] bool admit(int64_t now_ms, uint64_t& left_out) noexcept {
        std::lock_guard lock(mutex_);
        if (logged_once_ && now_ms - last_logged_ms_ < interval_ms_) {
            ++left_out_;
            return false;
        }
        logged_once_ = true;
        last_logged_ms_ = now_ms;
        left_out = left_out_;
        left_out_ = 0;
        return true;
    }

  private:
    const int64_t interval_ms_;
    std::mutex mutex_;
    bool logged_once_ = false;    // under mutex_
    int64_t last_logged_ms_ = 0;  // under mutex_
    uint64_t left_out_ = 0;       // under mutex_: calls refused since the last admitted one
};

/// The end of a line the throttle let through: "" when none was left out, else " (N more like it since the previous
/// line, not logged)".
[[nodiscard]] inline std::string left_out_note(uint64_t left_out) {
    if (left_out == 0) return {};
    return " (" + std::to_string(left_out) + " more like it since the previous line, not logged)";
}

}  // namespace warmup::host
