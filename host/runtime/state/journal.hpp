// runtime/state/journal.hpp — the event journal: every usage event the daemon accepted, appended to segment files in
// the state folder, so that a crash loses at most the events of the last flush interval, not everything since the last
// snapshot. Also the trace a team replays offline (warmup-replay --trace journal:DIR).
//
// Files (in the state folder, beside the snapshots):
//   journal-<seq, 16 digits>.wjournal   one segment per state capture (periodic snapshot or backup): the events
//                                       accepted after that capture and before the next one (a failed write also
//                                       starts a segment, with the same base); names sort by seq
//
// Segment format (integers little-endian, as the snapshot format):
//   header (36 bytes)
//     0  magic         8 bytes  "WUPJRNL\0"
//     8  version       u32      kJournalFormatVersion (a reader refuses any other)
//    12  flags         u32      0
//    16  seq           u64      the number in the file name
//    24  base_ms       u64      created_unix_ms of the snapshot or backup these events follow (0: a cold start)
//    32  header_crc32  u32      CRC-32 of bytes 0..31
//   records, each: u32 body_length, u32 body_crc32 (CRC-32 of the body), body = u8 type + payload
//     type 1 models       u32 n, n x (u32 index, string name)   binds the segment's model indexes to names; a
//                         segment names every index before the first event that uses it
//     type 2 events       u32 n, n x (i64 ts_ms, u32 model index, u32 count, u32 tenant_hash): one ingest call
//     type 3 checkpoint   u32 n, n x (string slot, string schema, u64 length + bytes): the engine's counters and the
//                         metrics plugin's state at one moment (what a snapshot holds of them), so a restart restores
//                         counters that are at most one flush interval old
//   string = u32 length + bytes. CRC-32 as in snapshots (crc32() of snapshot.hpp: Boost.CRC, IEEE 802.3).
//
// A record is appended whole or not at all by the writer, but a crash may tear the last one: the reader stops at the
// first record that is short, too long, fails its checksum or does not decode, and reports where (never throws for
// it); everything before it is returned.
//
// Durability: append_*() only buffers (memory, under a mutex, no system call); flush() writes the buffer and
// fdatasync()s the segment, and the daemon calls it every kJournalFlushIntervalMs. A killed process loses what was not
// flushed: events acknowledged more than one flush interval (plus the time of one flush) before the crash are on disk.
// A flush that fails (a full disk) keeps its records buffered and writes them again at the next flush, and the daemon
// refuses events (503) until one succeeds: no event acknowledged after the failure is lost, and none is dropped while
// the process lives. A segment removed while open (the state folder deleted by hand) is noticed at the next flush: the
// events of that flush interval go with it (counted in dropped_bytes()), and events are refused until a new segment can
// be made (the folder is back).
//
// Thread-safety: EventJournal's methods take an internal mutex; callable from any thread. flush() and prune() are
// meant for one thread (the daemon's journal thread) and serialise among themselves. The reading functions are pure.
#pragma once

#include <sys/types.h>
#include <warmup/analyzer.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/catalog.hpp"
#include "runtime/state/snapshot.hpp"
#include "runtime/state/state_store.hpp"

namespace warmup::host {

inline constexpr uint32_t kJournalFormatVersion = 1;
inline constexpr std::size_t kJournalHeaderBytes = 36;
/// The daemon flushes (write + fdatasync) the journal this often.
inline constexpr int64_t kJournalFlushIntervalMs = 500;
/// A checkpoint of the counters up to this size is written at every flush that changed them, so the restored counters
/// are at most one flush interval old. A larger one (the metrics plugin's per-model counts: about 40 bytes per model
/// that had requests, 0.8 MB at 20 k models) would outweigh the events it follows many times over (1.6 MB/s, 130 GB
/// a day, whatever the traffic): it is written once the events journaled since the previous checkpoint take at least
/// its size, and at the latest kJournalLargeCheckpointMaxAgeMs after it while the counters change. Checkpoints then
/// take at most as many bytes as the events, plus one per that interval.
inline constexpr std::size_t kJournalSmallCheckpointBytes = 64u << 10;
inline constexpr int64_t kJournalLargeCheckpointMaxAgeMs = 30'000;
/// A record body longer than this is refused by the reader as corrupt (the writer never makes one: an ingest call
/// holds at most budgets.ingest_queue_capacity events, and a checkpoint is far smaller).
inline constexpr uint32_t kJournalMaxRecordBytes = 256u << 20;

/// Past this many buffered (not yet written) bytes the daemon refuses new events with 503, as when its ingest queue is
/// full: an accepted event must reach the journal, and a disk slower than the traffic must not grow memory unbounded.
inline constexpr std::size_t kJournalMaxBufferedBytes = 64u << 20;

/// One event read back from a journal: the model by name (the daemon's catalog index is private to one run).
struct JournalEvent {
    int64_t ts_ms = 0;
    std::string_view model;  ///< views the segment's name table: valid during the visitor call
    uint32_t count = 1;
    uint32_t tenant_hash = 0;
};

/// A segment file found in a folder, with its header.
struct JournalSegment {
    std::filesystem::path file;
    uint64_t seq = 0;
    uint64_t base_ms = 0;
};

/// What reading a segment found. `torn` is set when reading stopped before the end of the file.
struct JournalReadResult {
    uint64_t records = 0;
    uint64_t events = 0;       ///< events delivered (sum of their records' n)
    uint64_t checkpoints = 0;  ///< checkpoint records delivered
    bool torn = false;
    uint64_t torn_offset = 0;    ///< byte offset of the record that could not be read
    uint64_t skipped_bytes = 0;  ///< bytes from there to the end of the file
    std::string torn_reason;     ///< e.g. "record of 4120 bytes, 1000 left (torn write)"
};

/// What a reader does with the records, in file order. Either may be empty.
struct JournalVisitor {
    std::function<void(std::span<const JournalEvent>)> events;
    std::function<void(std::vector<SnapshotSection>&&)> checkpoint;
};

/// The segments in `dir` whose header reads, by seq ascending. A file named like a segment whose header does not read
/// (torn at creation, another version) is appended to `refused` (when given) and left out.
std::vector<JournalSegment> list_journal_segments(const std::filesystem::path& dir,
                                                  std::vector<RefusedSnapshot>* refused = nullptr);

/// Reads one segment's records into `visitor`. Throws SnapshotError only when the file cannot be opened or its header
/// does not read; a damaged record ends the reading and is described in the result.
JournalReadResult read_journal_segment(const std::filesystem::path& file, const JournalVisitor& visitor);

/// The writer: buffers records for the current segment and writes them on flush().
class EventJournal {
  public:
    /// Opens the journal in `dir` (which must exist): the first segment gets the number after the highest one there
    /// and base_ms `base_ms` (the created_unix_ms of the state restored at start, 0 for none). Nothing is written
    /// before the first flush().
    EventJournal(std::filesystem::path dir, uint64_t base_ms);
    ~EventJournal();
    EventJournal(const EventJournal&) = delete;
    EventJournal& operator=(const EventJournal&) = delete;

    /// Buffers one events record (names every model of `events` not yet named in the segment). `ts_ms` is written as
    /// given; the caller clamps future timestamps. `catalog` resolves indexes to names.
    void append_events(std::span<const warmup_usage_event> events, const Catalog& catalog);
    /// Buffers one checkpoint record.
    void append_checkpoint(std::span<const SnapshotSection> sections);
    /// Starts a new segment following the state captured at `base_ms`: records appended from now on go to it.
    void rotate(uint64_t base_ms);

    /// Writes everything buffered to its segment files (creating them with their header, then syncing the folder)
    /// and fdatasync()s them. All or nothing: on a failure (a full disk, an I/O error) every file is taken back to its
    /// size before this flush (a file it created is removed), the records stay buffered to be written again by the
    /// next flush, write_failing() turns true until a flush succeeds, and std::system_error is thrown. The caller
    /// refuses new events meanwhile, so what is kept stays bounded. Only if a file cannot be taken back are its
    /// records dropped (counted in dropped_bytes()), and later records go to a new segment with the same base.
    void flush();
    /// [any, lock-free] Whether the last flush failed (and its records wait, buffered, for the next one).
    [[nodiscard]] bool write_failing() const noexcept { return write_failing_.load(std::memory_order_relaxed); }
    /// Why the last flush failed; empty once one succeeds.
    [[nodiscard]] std::string write_failure() const;
    /// Deletes segments older than the segment of `oldest_needed_base_ms` (the created time of the oldest state a
    /// restart may restore) whose files were last written more than `retention_ms` ago. Never the current segment.
    /// Returns how many were deleted.
    std::size_t prune(uint64_t oldest_needed_base_ms, int64_t retention_ms);

    /// [any, lock-free] Bytes appended and not yet written by flush(); the caller refuses events beyond
    /// kJournalMaxBufferedBytes.
    [[nodiscard]] std::size_t buffered_bytes() const noexcept { return buffered_.load(std::memory_order_relaxed); }
    /// [any, lock-free] Bytes of event records (with the model names they introduce) appended since the journal was
    /// opened; never decreases. The daemon paces its large checkpoints by it.
    [[nodiscard]] uint64_t event_bytes_appended() const noexcept {
        return event_bytes_appended_.load(std::memory_order_relaxed);
    }
    /// Events appended and not written yet: those of the last flush interval, or, while write_failing(), every event
    /// the failing flushes keep buffered (what a stop loses then, unless a snapshot holds what they taught).
    [[nodiscard]] uint64_t unwritten_events() const;
    [[nodiscard]] uint64_t current_seq() const;
    [[nodiscard]] uint64_t dropped_bytes() const;
    [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }
    /// The file name of segment `seq`.
    static std::string segment_name(uint64_t seq);

  private:
    struct Chunk {
        uint64_t seq = 0;
        uint64_t base_ms = 0;
        std::string bytes;
        uint64_t events = 0;  ///< usage events in `bytes`
    };
    /// A segment was removed while open: until a flush has made its successor (even with nothing to write), the
    /// journal is failing, so events stay refused while the folder is gone.
    bool segment_lost_ = false;  // under flush_mutex_
    Chunk& current_chunk();      // under mutex_
    /// After a failed write in flush(): files taken back, `chunks` kept ahead of pending_ (or dropped if a file could
    /// not be taken back, or the open segment was removed: `file_removed`), the failure recorded. `sizes_before`:
    /// (seq, size) of every file the flush wrote to.
    void keep_after_failed_write(std::vector<Chunk>& chunks,
                                 const std::vector<std::pair<uint64_t, off_t>>& sizes_before, const std::string& reason,
                                 bool file_removed);

    std::filesystem::path dir_;
    mutable std::mutex mutex_;        // the buffer and the current segment
    uint64_t seq_ = 0;                // current segment
    uint64_t base_ms_ = 0;            // of the current segment
    std::vector<bool> named_;         // model indexes named in the current segment
    std::vector<Chunk> pending_;      // buffered, oldest first; one chunk per segment
    std::vector<std::string> spare_;  // emptied buffers with their capacity, for the next chunks (mutex_)
    uint64_t dropped_bytes_ = 0;      // under mutex_
    std::string write_failure_;       // under mutex_: why the last flush failed, empty after a success
    std::atomic<bool> write_failing_{false};
    std::atomic<std::size_t> buffered_{0};           // bytes in pending_, written under mutex_, read without it
    std::atomic<uint64_t> event_bytes_appended_{0};  // written under mutex_, read without it
    std::mutex flush_mutex_;                         // flush() and prune()
    int fd_ = -1;                                    // open segment file (flush thread), -1 none
    uint64_t fd_seq_ = 0;                            // its seq
};

}  // namespace warmup::host
