// plugins/source/tail/followed_file.hpp — follows a growing line-oriented file by its path, like `tail -F`, and
// hands out whole lines with the byte position after each, so a reader can commit exactly how far it got.
//
// Rotation, both kinds logrotate does:
//  - rename (the writer's file is moved away, a new one created at the path): the old file is read to its end first
//    (lines the writer wrote before it switched), then the new file from its start. A writer that reopens on a signal
//    (nginx, Envoy) goes on appending to the renamed file until it does, so the old file is left only once it has
//    not grown for `rotation_grace`; only then is a last line without a newline taken as whole;
//  - truncate (copytruncate): the file at the path became shorter than the position, or its first bytes changed
//    (truncated and written again past the old position between two reads): read again from its start.
// A rename while no reader ran (warmupd stopped) is found too: when the saved position's file is no longer at the
// path, the followed file's directory is searched for it among the names rotation gives it (the followed name plus
// '.' or '-' and a suffix: access.json.1, access.json.3, access.json-20260102); found with the same first bytes, it is
// read on from the saved offset to its end, then every rotated sibling written after it (the rotations since, oldest
// first by modification time: access.json.1 after access.json.2), then the new file from its start. Compressed
// copies are other files and are not read. At most kMaxSiblingsLookedAt directory entries are looked at.
// A position is the file's identity (device, inode), the offset of the next unread line, the file's first bytes
// (up to kHeadBytes) and the bytes just before the offset (up to kTailBytes), which tell a file that was replaced or
// rewritten from the one the position was taken in (a log whose lines all begin alike has the same first bytes after
// a copytruncate; the end of the last line read is another line's).
// A file missing from the path throws FileMissing (a std::runtime_error): the tail source retries it every second.
// NUL bytes before a line (the hole a writer without O_APPEND leaves after a copytruncate) are not part of it.
//
// Threads: not thread-safe; one owner (the source's thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace warmup::plugins {

/// Where a reader is in a followed file; what the tail source keeps in its state folder.
struct FilePosition {
    std::string path;  ///< the followed path (a position for another path is not used)
    uint64_t device = 0;
    uint64_t inode = 0;
    uint64_t offset = 0;  ///< the byte after the last committed line
    std::string head;     ///< the file's first bytes when the position was taken (at most FollowedFile::kHeadBytes)
    bool inside_long_line = false;  ///< offset is inside a line over max_line_bytes, already reported: skip its rest
    /// The bytes just before `offset` (at most FollowedFile::kTailBytes; empty in positions of earlier versions): a
    /// file truncated and written again past the offset, whose first bytes are the same (lines that begin alike),
    /// has other bytes there.
    std::string tail;

    friend bool operator==(const FilePosition&, const FilePosition&) = default;
};

/// One piece of the file handed out by read().
struct FileLine {
    enum class Kind {
        Text,     ///< a whole line, without its newline (and without a trailing '\r')
        TooLong,  ///< the start of a line longer than max_line_bytes; the rest of it is skipped
        Skipped,  ///< the rest of a too-long line, or NUL bytes where a line starts (nothing to read in them)
    };
    Kind kind = Kind::Text;
    std::string_view text;  ///< Text: the line; TooLong: its first bytes; valid until the next read()
    uint64_t start_offset = 0;
    uint64_t end_offset = 0;  ///< commit(end_offset) once this line was handled
};

/// The followed path does not exist (ENOENT), and no earlier file is open.
class FileMissing : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class FollowedFile {
  public:
    static constexpr std::size_t kHeadBytes = 64;
    static constexpr std::size_t kTailBytes = 64;
    /// Directory entries looked at for the saved position's file after a rotation while stopped: a log folder has far
    /// fewer, and a bound keeps a pathological folder from stalling the first poll.
    static constexpr std::size_t kMaxSiblingsLookedAt = 10000;

    /// `start_at_end`: with no usable saved position, the first file is read from its last line end (only lines
    /// written from now on) instead of its start. Files after a rotation, and a file that did not exist yet at the
    /// first read, are always read from their start.
    /// `rotation_grace`: after a rename rotation, how long the old file must stay the same size before it is left
    /// for the new one (0: as soon as it is read to its end).
    FollowedFile(std::filesystem::path path, std::size_t max_line_bytes, bool start_at_end,
                 std::chrono::milliseconds rotation_grace = std::chrono::milliseconds(0));
    ~FollowedFile();
    FollowedFile(const FollowedFile&) = delete;
    FollowedFile& operator=(const FollowedFile&) = delete;

    /// A position saved earlier; used when the file is first opened if it is still that file (same device and inode,
    /// same first bytes, at least that long). Otherwise the file was rotated or rewritten meanwhile and is read from
    /// its start. Call before the first read().
    void restore(const FilePosition& saved);

    /// Opens the file and notices rotation or truncation, then reads the whole lines available now, at most about
    /// `max_bytes` of them, from the committed position. Returns them in order; nothing is committed. Empty when
    /// nothing new is there. Throws std::runtime_error when the path cannot be opened and no earlier file is open
    /// (the message names the path and the reason).
    std::vector<FileLine> read(std::size_t max_bytes);

    /// Everything up to `end_offset` (a FileLine's) is handled: the next read() starts there.
    void commit(uint64_t end_offset);

    /// The committed position (path, identity, offset, head); nullopt before a file was opened.
    [[nodiscard]] std::optional<FilePosition> position() const;
    /// Notes on what happened in the last read() (rotation, truncation, a saved position not used), for the log.
    [[nodiscard]] std::vector<std::string> take_notes();
    /// True when the last read() stopped at max_bytes with more data waiting.
    [[nodiscard]] bool more_waiting() const noexcept { return more_waiting_; }

  private:
    /// Opens the file now at the path: at the saved position or start_at for the first file, else at its start.
    void open_at_path();
    /// A rotated sibling to read after the saved position's file: where it was, and which file it is.
    struct RotatedFile {
        std::filesystem::path path;
        uint64_t device = 0;
        uint64_t inode = 0;
    };
    /// Opens `file` from its start: at its path, or under the name a rotation since gave it (found by device and
    /// inode); false when it is gone or cannot be opened (it is then passed over, with a note).
    bool open_rotated(const RotatedFile& file);
    /// The file open was deleted (no link left) while the path is gone: once it is read to its end and has not grown
    /// for rotation_grace, it is closed and the read fails saying so (throws std::runtime_error).
    void close_if_deleted();
    /// First open with a saved position whose file is no longer at the path: finds that file among the rotated
    /// siblings in the same directory and makes it the open file at the saved offset. False when it is not there.
    bool resume_rotated_saved_file();
    /// Notices truncation (shorter than the position) and rewriting (other first bytes); updates head_.
    void check_same_content();

    std::filesystem::path path_;
    std::size_t max_line_bytes_;
    bool start_at_end_;
    std::chrono::milliseconds rotation_grace_;
    std::optional<FilePosition> saved_;

    int fd_ = -1;
    uint64_t device_ = 0;
    uint64_t inode_ = 0;
    uint64_t offset_ = 0;         // committed
    std::string head_;            // first bytes of the open file, once it had any
    std::string tail_;            // the bytes just before offset_ (at most kTailBytes)
    uint64_t buffer_offset_ = 0;  // the file offset of buffer_'s first byte
    bool skipping_long_line_ = false;
    bool first_open_ = true;
    bool missing_at_start_ = false;  // the first attempt found no file: when it appears, it is read from its start
    bool more_waiting_ = false;
    // After a rename rotation was seen: the open (old) file's size, and since when it has had that size.
    std::optional<uint64_t> rotated_file_size_;
    std::chrono::steady_clock::time_point rotated_file_still_since_;
    // The file open was deleted and the path is gone: its size when last seen growing, and since when it is still.
    std::optional<uint64_t> deleted_file_size_;
    std::chrono::steady_clock::time_point deleted_file_still_since_;
    std::string buffer_;                   // the last read's bytes; FileLine views point into it
    std::vector<uint64_t> mid_line_ends_;  // end offsets of the last read's pieces that end inside a too-long line
    std::vector<std::string> notes_;
    // Rotated siblings written after the saved position's file (rotations while stopped), oldest first: read after it,
    // before the file at the path.
    std::vector<RotatedFile> rotated_after_;
};

}  // namespace warmup::plugins
