// runtime/config_file_watcher.cpp — the reload.watch_file polling thread (see config_file_watcher.hpp).
#include "runtime/config_file_watcher.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <utility>

namespace warmup::host {

namespace fs = std::filesystem;

void ConfigFileWatcher::configure(fs::path file, bool watch, uint32_t poll_ms, std::optional<FileStamp> read_stamp) {
    // The fallback stamp is read here, on the calling thread, not later on the polling thread: an edit saved once
    // this call has returned must be seen as a change.
    std::optional<FileStamp> reference;
    if (watch && !file.empty()) reference = read_stamp ? *read_stamp : file_stamp(file);
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
        // configure() leaves a reference each time it turns the watch on or moves it to another file (the one before
        // start() included), so `seen` is set from here on.
        if (auto reference = std::exchange(reference_, std::nullopt)) seen = reference;
        // A reconfiguration or stop() ends the wait early; the loop then reads the settings again.
        if (changed_.wait_for(lock, interval, [&] { return stopping_ || generation_ != generation; })) continue;
        lock.unlock();
        const FileStamp now = file_stamp(file);
        if (seen != now) {
            seen = now;
            spdlog::info("CONFIG_RELOAD {} changed on disk", file.string());
            // Unlocked: the reload this runs calls configure() on this thread.
            notify_change(file);
        }
        lock.lock();
    }
}

void ConfigFileWatcher::notify_change(const fs::path& file) noexcept {
    // Nothing may leave this thread: an exception out of a std::thread ends the process. A failed reload is already
    // an answer, not an exception; what does arrive here (logging the answer, memory) fails this reload only, and
    // the next change is reloaded as usual.
    try {
        on_change_();
    } catch (const std::exception& failure) {
        spdlog::error("CONFIG_RELOAD_FAILED the reload after {} changed ended in an error: {}; still watching",
                      file.string(), failure.what());
    } catch (...) {
        spdlog::error("CONFIG_RELOAD_FAILED the reload after {} changed ended in an unknown error; still watching",
                      file.string());
    }
}

}  // namespace warmup::host
