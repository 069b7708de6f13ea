// runtime/sources/source_runner.hpp — runs one source plugin on a thread of its own and feeds what it
// emits into the daemon's ingest queue, exactly like a POST of /api/warmup/events.
//
// The runner owns the thread that polls the source ([source] in source.h): poll, wait next_poll_in_ms (or a
// back-off after a failed poll), poll again, until stop(). Events are checked one by one as a POST checks them, by the
// same functions (core/usage_event.hpp: a model name that is empty, blank, not UTF-8 or holds a control character, a
// ts_ms before 10^12 or more than 5 minutes ahead; then a count outside 1..1000000, a model no catalog entry matches):
// a refused event is logged and counted for the source, and the others go on. The good ones go to the ingest function
// as one batch per emit call. A failed poll never leaves this runner: it is logged (SOURCE_ERROR, then
// SOURCE_RECOVERED), counted, and shown by health() until a poll succeeds.
#pragma once

#include <warmup/source.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "loader/plugin_instance.hpp"

namespace warmup::host {

/// Where a source's events go. `ingest` queues a batch and returns how many it took (a prefix; the rest: queue full),
/// callable from any thread (LiveRuntime::try_ingest).
struct SourceIngest {
    Catalog* catalog = nullptr;
    const Clock* clock = nullptr;
    std::function<std::size_t(std::span<const warmup_usage_event>)> ingest;
};

/// What a source did since it started, for /api/warmup/health/components. A copy, consistent at one instant.
struct SourceHealth {
    uint64_t polls = 0;         ///< polls that returned (failed ones included)
    uint64_t failed_polls = 0;  ///< polls that returned an error
    bool failing = false;       ///< the last poll failed
    std::string last_error;     ///< message of the last failed poll ("" = none yet)
    int64_t last_error_unix_ms = 0;
    uint64_t events_accepted = 0;   ///< events queued for the engines (also counted in the daemon's events_accepted)
    uint64_t events_refused = 0;    ///< events refused for their content (bad name, unknown model, count, time)
    uint64_t bad_records = 0;       ///< records the source could not read (reported through reject)
    std::string last_bad_record;    ///< the last of those, or the last refused event, with its reason
    int64_t last_poll_unix_ms = 0;  ///< when the last poll returned (0 = not yet)
    std::string state_problem;      ///< why the source runs without its state folder ("" = it has one, or none asked)
};

/// Thread-safety: start/stop/~ from one thread at a time (the daemon's start-up, reload or shutdown); health() from
/// any thread.
class SourceRunner {
  public:
    /// `instance` must be an source plugin instance. `state_dir` empty: the source keeps no state.
    SourceRunner(SourceConfig config, std::shared_ptr<PluginInstance> instance, std::filesystem::path state_dir,
                 SourceIngest ingest);
    ~SourceRunner();
    SourceRunner(const SourceRunner&) = delete;
    SourceRunner& operator=(const SourceRunner&) = delete;

    /// Creates the state folder (0700, when one is given) and starts polling. A folder that cannot be created is not
    /// fatal: the source runs without state and its health says why. Once only.
    void start();
    /// Cancels the running poll (cancel token) and waits for the thread. Idempotent. The instance is not destroyed.
    void stop();

    [[nodiscard]] SourceHealth health() const;
    [[nodiscard]] const SourceConfig& config() const noexcept { return config_; }
    [[nodiscard]] const std::shared_ptr<PluginInstance>& instance() const noexcept { return instance_; }

    /// Back-off after consecutive failed polls: 1 s, doubling, at most kMaxBackoffMs (or the source's own
    /// next_poll_in_ms when longer).
    static constexpr int64_t kFirstBackoffMs = 1000;
    static constexpr int64_t kMaxBackoffMs = 30000;

  private:
    void run();
    std::size_t emit(const warmup_source_event* events, std::size_t count);
    void reject(std::string_view reason);
    void note_bad(std::string reason, bool is_refused_event);
    /// Sleeps up to `delay_ms` or until stop(); false when stopping.
    bool wait(int64_t delay_ms);

    SourceConfig config_;
    std::shared_ptr<PluginInstance> instance_;
    std::filesystem::path state_dir_;
    std::string state_dir_text_;  // what the source sees: "" when no usable folder
    SourceIngest ingest_;

    std::thread thread_;
    std::atomic<bool> stopping_{false};
    std::mutex wait_mutex_;
    std::condition_variable wait_cv_;

    mutable std::mutex health_mutex_;
    SourceHealth health_;               // under health_mutex_
    int64_t last_bad_log_unix_ms_ = 0;  // the source thread's; SOURCE_BAD_RECORD lines are rate-limited
    uint64_t bad_since_last_log_ = 0;   // the source thread's
};

}  // namespace warmup::host
