// core/clock.hpp — the host clock: wall time live, virtual time in replay. One code path, two clocks.
#pragma once

#include <warmup/common.h>

#include <atomic>
#include <chrono>

namespace warmup::host {

/// Thread-safety: now_ms() may be called from any thread.
class Clock {
  public:
    virtual ~Clock() = default;
    [[nodiscard]] virtual warmup_time_ms now_ms() const = 0;
};

/// Milliseconds since the Unix epoch (system_clock), what events posted over HTTP carry.
class SystemClock final : public Clock {
  public:
    [[nodiscard]] warmup_time_ms now_ms() const override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

/// A clock that moves only when told to: replay's virtual time and tests.
class ManualClock final : public Clock {
  public:
    explicit ManualClock(warmup_time_ms start_ms = 0) : now_(start_ms) {}
    [[nodiscard]] warmup_time_ms now_ms() const override { return now_.load(std::memory_order_relaxed); }
    void set(warmup_time_ms now_ms) { now_.store(now_ms, std::memory_order_relaxed); }
    void advance(warmup_time_ms delta_ms) { now_.fetch_add(delta_ms, std::memory_order_relaxed); }

  private:
    std::atomic<warmup_time_ms> now_;
};

}  // namespace warmup::host
