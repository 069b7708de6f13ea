// replay/stall_watch.hpp — says which arm of a replay has stopped making progress, and in which plugin call.
//
// A plugin runs in the replay's process, on the thread that feeds its arm, and every arm waits for the slowest at each
// chunk of the trace: one call that does not return stops the whole replay, with no report. The replay cannot
// interrupt the call; the watch says which arm and which call it is, on standard error, once the arm has made no
// progress for `stall` (budgets.plugin_call_stall_ms, as warmupd's), again at every doubling of that time, and once
// more when the arm goes on. warmupd's own watch is engine/plugin_call_watch.hpp; the replay times no call (a lock per
// call would cost the replay's speed), it counts steps instead.
//
// Threads: an ArmProgress is written by the thread running its arm at the moment (enter, step, leave) and read by the
// watch's thread; the watch's thread is started and stopped by the thread that owns the StallWatch.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/plugin_call_on_thread.hpp"

namespace warmup::host::replay {

/// One arm's progress, as its running thread reports it. Cost: two relaxed stores per step.
class ArmProgress {
  public:
    /// [arm's thread] Starts a stretch of work on the calling thread (whose plugin calls the watch then reads).
    void enter() noexcept {
        thread_call_.store(&t_plugin_call_on_thread, std::memory_order_relaxed);
        step();
        busy_.store(true, std::memory_order_release);
    }
    /// [arm's thread] One more step done (a timestamp's events, a timer, a load's completion).
    void step() noexcept { steps_.store(steps_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
    /// [arm's thread] The stretch of work is over: the arm waits for the others, which is no stall of its own.
    void leave() noexcept { busy_.store(false, std::memory_order_release); }

    /// [watch] Whether a stretch of work is under way, its steps so far, and the call its thread is in.
    [[nodiscard]] bool busy() const noexcept { return busy_.load(std::memory_order_acquire); }
    [[nodiscard]] uint64_t steps() const noexcept { return steps_.load(std::memory_order_relaxed); }
    [[nodiscard]] PluginCallOnThread::Call call() const noexcept {
        const PluginCallOnThread* record = thread_call_.load(std::memory_order_relaxed);
        return record != nullptr ? record->load() : PluginCallOnThread::Call{};
    }

  private:
    std::atomic<bool> busy_{false};
    std::atomic<uint64_t> steps_{0};
    std::atomic<const PluginCallOnThread*> thread_call_{nullptr};
};

/// Watches arms from a thread of its own, from construction to destruction.
class StallWatch {
  public:
    struct Arm {
        std::string name;
        const ArmProgress* progress;  ///< borrowed: outlives the watch
    };
    /// `say` gets each line, "REPLAY_STALLED arm 'x' has made no progress for 10.0 s: in predictor ...: predict (...)"
    /// and "REPLAY_RESUMED arm 'x' goes on after 12.3 s without progress", on the watch's thread.
    StallWatch(std::vector<Arm> arms, std::chrono::milliseconds stall, std::function<void(const std::string&)> say);
    ~StallWatch();
    StallWatch(const StallWatch&) = delete;
    StallWatch& operator=(const StallWatch&) = delete;

  private:
    struct Watched {
        Arm arm;
        uint64_t last_steps = 0;
        std::chrono::steady_clock::time_point still_since;  ///< when last_steps was first seen
        std::chrono::milliseconds next_report{0};           ///< 0: not stalled
    };
    void run();
    void check(Watched& watched, std::chrono::steady_clock::time_point now);

    std::vector<Watched> watched_;
    const std::chrono::milliseconds stall_;
    const std::function<void(const std::string&)> say_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;  // under mutex_
    std::thread thread_;
};

}  // namespace warmup::host::replay
