// runtime/config_file_watcher.cpp — the reload.watch_file polling thread (see config_file_watcher.hpp).
#include "runtime/config_file_watcher.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace warmup::host {

namespace fs = std::filesystem;

ConfigFileWatcher::FileStamp ConfigFileWatcher::stamp_of(const fs::path& file) {
    // A missing or unreadable file reads as zero for both, so its coming back is a change too.
    std::error_code time_error;
    std::error_code size_error;
    const auto time = fs::last_write_time(file, time_error);
    const auto size = fs::file_size(file, size_error);
    return {time_error ? fs::file_time_type{} : time, size_error ? 0 : size};
}

void ConfigFileWatcher::configure(fs::path file, bool watch, uint32_t poll_ms) {
    // Taken here, on the reloading thread right after it read the file, not later on the polling thread: an edit
    // made once the reload has answered must be seen as a change.
    std::optional<FileStamp> reference;
    if (watch && !file.empty()) reference = stamp_of(file);
    {
        std::lock_guard lock(mutex_);
        if (file == file_ && watch == watch_ && poll_ms == poll_ms_) return;
        if (reference && (!watch_ || file != file_)) reference_ = reference;
        file_ = std::move(file);
        watch_ = watch;
        poll_ms_ = poll_ms;
        ++generation_;
    }
    changed_.notify_all();
}

void ConfigFileWatcher::start(std::function<void()> on_change) {
    if (thread_.joinable()) return;
    on_change_ = std::move(on_change);
    thread_ = std::thread([this] { run(); });
}

void ConfigFileWatcher::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void ConfigFileWatcher::run() {
    std::optional<FileStamp> seen;  // the file when last looked at while watching; none while not watching
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (!watch_ || file_.empty()) {
            seen.reset();
            changed_.wait(lock, [this] { return stopping_ || (watch_ && !file_.empty()); });
            continue;
        }
        const fs::path file = file_;
        const auto interval = std::chrono::milliseconds(poll_ms_);
        const uint64_t generation = generation_;
        if (auto reference = std::exchange(reference_, std::nullopt)) seen = reference;
        if (!seen) {
            // Watching since before start(): the file as it is now is what the daemon read at start.
            lock.unlock();
            seen = stamp_of(file);
            lock.lock();
            continue;
        }
        // A reconfiguration or stop() ends the wait early; the loop then reads the settings again.
        if (changed_.wait_for(lock, interval, [&] { return stopping_ || generation_ != generation; })) continue;
        lock.unlock();
        const FileStamp now = stamp_of(file);
        if (now != *seen) {
            seen = now;
            spdlog::info("CONFIG_RELOAD {} changed on disk", file.string());
            // Unlocked: the reload this runs calls configure() on this thread.
            on_change_();
        }
        lock.lock();
    }
}

}  // namespace warmup::host
