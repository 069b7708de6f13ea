// cluster/outbox_file.hpp — a fleet node's outbox on disk: the events it answered 200 for whose models other nodes
// own, kept in the state folder until Redis has taken them, so that neither a stop nor a crash while Redis does not
// take them loses them (cluster/fleet_node.hpp says when the node writes and reads it).
//
// File: <state.dir>/cluster-outbox.log, text, one line each:
//   "warmupd-outbox 1"                                header: format name and version (a reader refuses any other)
//   "<crc32> <json>"                                  one event: <json> = [model, ts_ms, count, tenant_hash,
//                                                     applied_here (0 or 1)], <crc32> = its CRC-32 as 8 lowercase
//                                                     hex digits (crc32() of runtime/state/snapshot.hpp)
// A model name cannot break a line: JSON escapes control characters.
//
// Writes: append() adds lines and fdatasync()s; rewrite() replaces the whole file atomically (temporary file, fsync,
// rename, fsync of the folder); clear() cuts the file back to its header and fdatasync()s. A crash during append()
// leaves at most a torn last line, which the reader leaves out; after a failed append() the file must be rewritten
// (the writer says so: needs_rewrite()), never appended to.
//
// Reads: read_outbox_file() returns every line that reads (right CRC, right fields) in file order and says what did
// not; it never throws for the content.
//
// Thread-safety: none; OutboxFile is used by one thread at a time (the node's outbox keeper, or start()/stop() while
// that thread does not run). read_outbox_file() is pure.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace warmup::host::cluster {

/// An event accepted for a model this node does not own (alone), waiting for Redis to take it.
struct OutboxEvent {
    std::string model;
    int64_t ts_ms = 0;
    uint32_t count = 1;
    uint32_t tenant_hash = 0;
    bool applied_here = false;  ///< already applied on this node (a replicated model this node also owns)
    friend bool operator==(const OutboxEvent&, const OutboxEvent&) = default;
};

inline constexpr std::string_view kOutboxFileName = "cluster-outbox.log";
/// A file that did not read completely at start is kept under its name plus this, for an operator (replacing an
/// older one), and the events that did read are written to a fresh file.
inline constexpr std::string_view kOutboxDamagedSuffix = ".damaged";
inline constexpr std::string_view kOutboxHeader = "warmupd-outbox 1\n";
/// The node writes what changed in its outbox this often (and at stop), as the event journal flushes.
inline constexpr int64_t kOutboxFlushIntervalMs = 500;

/// One event line, with its newline.
std::string encode_outbox_line(const OutboxEvent& event);

/// What reading an outbox file found.
struct OutboxReadResult {
    bool found = false;  ///< the file exists
    std::vector<OutboxEvent> events;
    std::size_t bad_lines = 0;  ///< lines left out: wrong CRC, fields that do not decode (a torn last line included)
    /// "" when every line read; otherwise what was wrong, for the log and the health (e.g. "line 3: CRC mismatch").
    std::string problem;
};

/// Reads `file`; a missing file reads as empty (found: false). Throws std::system_error only when it exists and cannot
/// be read. A header that is not kOutboxHeader makes the whole file unreadable (no events, problem set).
OutboxReadResult read_outbox_file(const std::filesystem::path& file);

class OutboxFile {
  public:
    explicit OutboxFile(std::filesystem::path file) : file_(std::move(file)) {}
    ~OutboxFile();
    OutboxFile(const OutboxFile&) = delete;
    OutboxFile& operator=(const OutboxFile&) = delete;

    /// Appends `events` and fdatasync()s. When the file is not open or needs a rewrite, throws std::logic_error
    /// (rewrite() first). Throws std::system_error; the file then needs a rewrite.
    void append(std::span<const OutboxEvent> events);
    /// Replaces the file with exactly `events` (header only when empty), atomically, and keeps it open for appends.
    /// Throws std::system_error (the old file is left as it was; still needs a rewrite).
    void rewrite(std::span<const OutboxEvent> events);
    /// Cuts the file back to its header (nothing waits) and fdatasync()s; rewrite() when it is not open. Throws
    /// std::system_error (the file then needs a rewrite).
    void clear();

    /// Event lines in the file since the last rewrite or clear (stale ones included: sent since, not yet cut).
    [[nodiscard]] std::size_t lines() const noexcept { return lines_; }
    /// True when the next write must be rewrite(): not written yet in this process, or the last write failed.
    [[nodiscard]] bool needs_rewrite() const noexcept { return fd_ < 0 || broken_; }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return file_; }

  private:
    void close_file() noexcept;

    std::filesystem::path file_;
    int fd_ = -1;
    bool broken_ = false;
    std::size_t lines_ = 0;
};

}  // namespace warmup::host::cluster
