// runtime/state/metrics_history.hpp — counters over time on disk, with a retention period.
//
// Why an append-only text file rather than SQLite: the history is written once per snapshot tick and read rarely;
// appends of whole lines with O_APPEND cost one write(2), need no schema migrations, no new library in the host, and
// a crash can at worst tear the last line, which the reader skips. Retention is by whole segment files (one per hour
// of wall time), so dropping old data is an unlink, never a rewrite.
//
//   metrics-history-<unix_hour>.tsv     lines "<unix_ms>\t<counter>\t<value>\n"
//
// Thread-safety: append/read/prune take an internal mutex; callable from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace warmup::host {

struct HistorySample {
    int64_t unix_ms = 0;
    std::string counter;
    double value = 0;
};

class MetricsHistory {
  public:
    /// `dir` must exist. `retention_ms` > 0: samples older than that (relative to the newest append) are dropped,
    /// by whole hour segments, so up to one extra hour may be kept.
    MetricsHistory(std::filesystem::path dir, int64_t retention_ms);

    /// Appends one line per counter, all at `unix_ms`, in one write. Throws std::system_error. Counter names must not
    /// contain tabs or newlines (they are replaced by '_').
    void append(int64_t unix_ms, const std::vector<std::pair<std::string, double>>& counters);

    /// Every sample with unix_ms >= since_ms, oldest first. Malformed lines (a torn tail) are skipped.
    [[nodiscard]] std::vector<HistorySample> read(int64_t since_ms) const;
    /// The counters of the latest sample time before `before_ms` (every counter written at that time); empty when the
    /// history holds nothing older. Reads segments from the newest older one back until it finds one.
    [[nodiscard]] std::vector<HistorySample> read_latest_before(int64_t before_ms) const;

    /// Deletes the segments that end before now_unix_ms - retention. Called by append.
    void prune(int64_t now_unix_ms);

  private:
    void prune_locked(int64_t now_unix_ms);
    [[nodiscard]] std::vector<std::pair<int64_t, std::filesystem::path>> segments() const;

    std::filesystem::path dir_;
    int64_t retention_ms_;
    mutable std::mutex mutex_;
};

}  // namespace warmup::host
