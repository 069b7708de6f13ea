// plugins/backend/page_cache/file_pages.hpp — the page-cache operations on one file: read it through the cache with
// read-ahead advice, map it, lock its pages, measure how much of it is resident, and advise the kernel to drop it.
//
// Threads: every function works on its own descriptor or mapping; nothing here is shared, so any thread may call any
// of them concurrently for different files (and, harmlessly, for the same file).
// Units: bytes everywhere (uint64_t); MiB only at the plugin boundary.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins::page_cache {

/// Polls the host's cancel token (borrowed: lives as long as the load call). throw_if_cancelled() throws
/// sdk::Error(CANCELLED) naming the model as soon as the token reports cancellation.
class CancelCheck {
  public:
    CancelCheck(const warmup_cancel_token& token, std::string_view model_name) noexcept
        : token_(token), model_name_(model_name) {}
    void throw_if_cancelled() const;

  private:
    const warmup_cancel_token& token_;
    std::string_view model_name_;
};

/// An open file descriptor, closed at destruction. Move-only.
class FileDescriptor {
  public:
    FileDescriptor() noexcept = default;
    explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
    FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    FileDescriptor& operator=(FileDescriptor&& other) noexcept;
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor();

    [[nodiscard]] int get() const noexcept { return fd_; }
    [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

/// Opens `path` read-only (O_NONBLOCK, so a FIFO swapped in after resolution cannot hang the worker). Returns a
/// closed descriptor and sets `error_number` on failure; never throws.
FileDescriptor open_read_only(const std::string& path, int& error_number) noexcept;

/// A read-only shared mapping of a whole file. munmap at destruction, which also releases any mlock. Move-only.
class FileMapping {
  public:
    FileMapping() noexcept = default;
    FileMapping(FileMapping&& other) noexcept;
    FileMapping& operator=(FileMapping&& other) noexcept;
    FileMapping(const FileMapping&) = delete;
    FileMapping& operator=(const FileMapping&) = delete;
    ~FileMapping();

    /// Maps `length_bytes` (> 0) of `fd`. Returns an unmapped FileMapping and sets `error_number` on failure.
    static FileMapping map(int fd, uint64_t length_bytes, int& error_number) noexcept;

    /// mlock()s the mapping `chunk_bytes` at a time, checking `cancel` before each chunk. Throws
    /// sdk::Error(RESOURCE_EXHAUSTED) naming `path`, its size, the errno text and RLIMIT_MEMLOCK when the kernel
    /// refuses; what was locked so far stays locked until this mapping is destroyed.
    void lock(uint64_t chunk_bytes, const CancelCheck& cancel, const std::string& path);

    /// Bytes of the file that mincore() reports resident, at most length_bytes(). For a file the caller neither owns
    /// nor may write, Linux >= 5.0 reports every page as resident (a side-channel guard), so this is an upper bound
    /// unless the mapping is locked. Falls back to length_bytes() if mincore fails.
    [[nodiscard]] uint64_t resident_bytes() const;

    [[nodiscard]] bool is_mapped() const noexcept { return address_ != nullptr; }
    [[nodiscard]] uint64_t length_bytes() const noexcept { return length_bytes_; }

  private:
    void release() noexcept;

    void* address_ = nullptr;
    uint64_t length_bytes_ = 0;
    bool locked_ = false;
};

/// Reads bytes [0, size_bytes) of `fd` with pread in buffer-sized chunks so the pages are in the page cache when it
/// returns, advising POSIX_FADV_SEQUENTIAL once and POSIX_FADV_WILLNEED for a window a few chunks ahead of the reader
/// (the kernel fetches the next chunks while this one is copied). Checks `cancel` before every chunk. Stops early at
/// end of file (the file shrank). Returns the bytes read. Throws sdk::Error(UNAVAILABLE) with `path`, the offset and
/// the errno text on a read error.
uint64_t read_through_page_cache(int fd, const std::string& path, uint64_t size_bytes, std::span<std::byte> buffer,
                                 const CancelCheck& cancel);

/// The outcome of advising the kernel to drop one file's pages.
enum class DropOutcome { kAdvised, kFileGone, kFailed };

/// Opens `path` and, if it is still the file (`device`, `inode`) the plugin read, calls
/// posix_fadvise(POSIX_FADV_DONTNEED) on all of it. Advisory: the kernel drops clean pages nobody maps; pages mapped
/// by a model server or locked stay. A path now naming another file counts as kFileGone (the old file's pages go with
/// its last reference). Sets `error_number` for kFailed.
DropOutcome advise_drop(const std::string& path, dev_t device, ino_t inode, int& error_number) noexcept;

}  // namespace warmup::plugins::page_cache
