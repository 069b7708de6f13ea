// runtime/config_file_watcher.hpp — reload.watch_file: polls the configuration file and calls back when its
// modification time or size changes. A reload may turn the watch on or off or change reload.poll_ms at any time,
// also from the callback itself; the settings apply from the next poll, without waiting for the polling thread.
//
// Thread-safety: configure() from any thread (the polling thread included); start() and stop() from any thread but
// the polling thread. The callback runs on the polling thread, never two at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "config/config.hpp"

namespace warmup::host {

class ConfigFileWatcher {
  public:
    ConfigFileWatcher() = default;
    ~ConfigFileWatcher() { stop(); }
    ConfigFileWatcher(const ConfigFileWatcher&) = delete;
    ConfigFileWatcher& operator=(const ConfigFileWatcher&) = delete;

    /// The settings in force from now on. `watch` false or `file` empty: no polling (the file is not read at all).
    /// When this call turns the watch on or moves it to another file, the polls compare with `read_stamp`: the
    /// stamp `file` had just before the configuration being put in force was read from it (Config::source_stamp).
    /// An edit saved since, while that reload or the daemon's start was still under way, is then a change at the
    /// first poll. Without one (the configuration was not read from the file just now, e.g. a rollback), the file
    /// as it is at this call is the reference: only a later edit is a change. Already watching `file`, the polls go
    /// on comparing with what they last saw. A new interval ends the wait in progress. Never blocks on the polling
    /// thread: it takes a short internal lock (and, without `read_stamp`, reads the file's stamp).
    void configure(std::filesystem::path file, bool watch, uint32_t poll_ms, std::optional<FileStamp> read_stamp);

    /// Starts the polling thread; `on_change` is called on it after each change seen while watching. An exception
    /// out of `on_change` is logged (CONFIG_RELOAD_FAILED) and the watch goes on. Before start(), configure() only
    /// records the settings. A second start() does nothing.
    void start(std::function<void()> on_change);

    /// Ends the polling thread: when it returns, no callback runs and none will. Idempotent; not on the polling thread.
    void stop();

  private:
    void run();  // the polling thread
    /// [polling thread, unlocked] Calls on_change_; what it throws is logged, never let out of the thread.
    void notify_change(const std::filesystem::path& file) noexcept;

    std::mutex mutex_;
    std::condition_variable changed_;     // signalled by configure() and stop()
    std::filesystem::path file_;          // under mutex_
    bool watch_ = false;                  // under mutex_
    uint32_t poll_ms_ = 1000;             // under mutex_
    uint64_t generation_ = 0;             // under mutex_: counts configure() calls that changed something
    std::optional<FileStamp> reference_;  // under mutex_: set by configure() turning the watch on, not yet used
    bool stopping_ = false;               // under mutex_
    std::function<void()> on_change_;     // set by start() before the thread exists; read by the thread only
    std::thread thread_;                  // started and joined under no lock, by start() and stop()
};

}  // namespace warmup::host
