// replay/stall_watch.cpp — the replay's stall watch: one look at every arm per tick.
#include "replay/stall_watch.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace warmup::host::replay {

namespace {

std::string seconds(std::chrono::steady_clock::duration duration) {
    return fmt::format("{:.1f} s", std::chrono::duration<double>(duration).count());
}

/// "predictor org.acme.predictor.x@1.0.0: predict", or what the thread is doing when it is in no plugin call.
std::string call_text(const PluginCallOnThread::Call& call) {
    if (!call.in_call()) return "in the replay's own code, outside any plugin call";
    return fmt::format("in {} {}: {}", call.slot, *call.label, call.what);
}

}  // namespace

StallWatch::StallWatch(std::vector<Arm> arms, std::chrono::milliseconds stall,
                       std::function<void(const std::string&)> say)
    : stall_(stall), say_(std::move(say)) {
    const auto now = std::chrono::steady_clock::now();
    for (Arm& arm : arms) watched_.push_back({std::move(arm), 0, now, std::chrono::milliseconds{0}});
    thread_ = std::thread([this] { run(); });
}

StallWatch::~StallWatch() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void StallWatch::run() {
    // A tick of a tenth of the stall time (at most a second): a stall is said within 10 % of its threshold.
    const auto tick = std::clamp(stall_ / 10, std::chrono::milliseconds{10}, std::chrono::milliseconds{1000});
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, tick, [this] { return stopping_; })) {
        const auto now = std::chrono::steady_clock::now();
        for (Watched& watched : watched_) check(watched, now);
    }
    // A last look when the watch ends: an arm said to be stalled whose call returned since the last tick goes on.
    const auto now = std::chrono::steady_clock::now();
    for (Watched& watched : watched_) check(watched, now);
}

void StallWatch::check(Watched& watched, std::chrono::steady_clock::time_point now) {
    const uint64_t steps = watched.arm.progress->steps();
    const bool busy = watched.arm.progress->busy();
    if (steps != watched.last_steps || !busy) {
        if (watched.next_report.count() > 0)
            say_(fmt::format("REPLAY_RESUMED arm '{}' goes on after {} without progress", watched.arm.name,
                             seconds(now - watched.still_since)));
        watched.last_steps = steps;
        watched.still_since = now;
        watched.next_report = std::chrono::milliseconds{0};
        return;
    }
    const auto still = now - watched.still_since;
    const auto due = watched.next_report.count() > 0 ? watched.next_report : stall_;
    if (still < due) return;
    say_(
        fmt::format("REPLAY_STALLED arm '{}' has made no progress for {}: {} (a call that does not return; the "
                    "replay waits for it, and every other arm with it; an interrupt ends the run without a report)",
                    watched.arm.name, seconds(still), call_text(watched.arm.progress->call())));
    watched.next_report = due * 2;
}

}  // namespace warmup::host::replay
