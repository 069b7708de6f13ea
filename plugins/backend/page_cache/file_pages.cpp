#include "file_pages.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "model_file_patterns.hpp"

namespace warmup::plugins::page_cache {
namespace {

constexpr uint64_t kBytesPerMiB = uint64_t{1} << 20;

/// How many chunks ahead of the reader WILLNEED is issued: enough to keep the device busy while one chunk is copied,
/// few enough that a cancelled load has not queued much useless I/O.
constexpr uint64_t kReadAheadChunks = 2;

/// mincore() is called over windows of this many pages so its result vector stays small (256 KiB) for any file size.
constexpr uint64_t kResidencyWindowPages = uint64_t{1} << 18;

uint64_t page_size_bytes() {
    static const uint64_t size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    return size;
}

std::string memlock_limit_text() {
    struct rlimit limit {};
    if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return "unknown";
    if (limit.rlim_cur == RLIM_INFINITY) return "unlimited";
    return std::to_string(limit.rlim_cur / 1024) + " KiB";
}

}  // namespace

void CancelCheck::throw_if_cancelled() const {
    if (token_.is_cancelled != nullptr && token_.is_cancelled(token_.context) != 0)
        throw sdk::Error(WARMUP_ERROR_CANCELLED,
                         "page cache load of model '" + std::string(model_name_) + "' cancelled");
}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) close(fd_);
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

FileDescriptor::~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
}

FileDescriptor open_read_only(const std::string& path, int& error_number) noexcept {
    int fd = -1;
    do {
        fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    error_number = fd < 0 ? errno : 0;
    return FileDescriptor(fd);
}

FileMapping::FileMapping(FileMapping&& other) noexcept
    : address_(std::exchange(other.address_, nullptr)),
      length_bytes_(std::exchange(other.length_bytes_, 0)),
      locked_(std::exchange(other.locked_, false)) {}

FileMapping& FileMapping::operator=(FileMapping&& other) noexcept {
    if (this != &other) {
        release();
        address_ = std::exchange(other.address_, nullptr);
        length_bytes_ = std::exchange(other.length_bytes_, 0);
        locked_ = std::exchange(other.locked_, false);
    }
    return *this;
}

FileMapping::~FileMapping() { release(); }

void FileMapping::release() noexcept {
    if (address_ != nullptr) munmap(address_, length_bytes_);  // also unlocks: locks belong to the mapping
    address_ = nullptr;
    length_bytes_ = 0;
    locked_ = false;
}

FileMapping FileMapping::map(int fd, uint64_t length_bytes, int& error_number) noexcept {
    FileMapping mapping;
    void* address = mmap(nullptr, length_bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (address == MAP_FAILED) {
        error_number = errno;
        return mapping;
    }
    error_number = 0;
    mapping.address_ = address;
    mapping.length_bytes_ = length_bytes;
    return mapping;
}

void FileMapping::lock(uint64_t chunk_bytes, const CancelCheck& cancel, const std::string& path) {
    auto* base = static_cast<std::byte*>(address_);
    for (uint64_t offset = 0; offset < length_bytes_; offset += chunk_bytes) {
        cancel.throw_if_cancelled();
        const uint64_t length = std::min(chunk_bytes, length_bytes_ - offset);
        if (mlock(base + offset, length) != 0) {
            const int error_number = errno;
            throw sdk::Error(WARMUP_ERROR_RESOURCE_EXHAUSTED,
                             "mlock of " + path + " (" + std::to_string(length_bytes_ / kBytesPerMiB) +
                                 " MiB) failed at byte offset " + std::to_string(offset) + ": " +
                                 errno_text(error_number) + "; RLIMIT_MEMLOCK is " + memlock_limit_text() +
                                 ". Raise it (systemd LimitMEMLOCK=, ulimit -l) or grant CAP_IPC_LOCK, or set "
                                 "params.mlock: false");
        }
    }
    locked_ = true;
}

uint64_t FileMapping::resident_bytes() const {
    if (address_ == nullptr) return 0;
    const uint64_t page = page_size_bytes();
    const uint64_t pages = (length_bytes_ + page - 1) / page;
    std::vector<unsigned char> residency(static_cast<std::size_t>(std::min(pages, kResidencyWindowPages)));
    auto* base = static_cast<std::byte*>(address_);
    uint64_t resident_pages = 0;
    bool last_page_resident = false;
    for (uint64_t first = 0; first < pages; first += kResidencyWindowPages) {
        const uint64_t count = std::min(kResidencyWindowPages, pages - first);
        const uint64_t length = std::min(count * page, length_bytes_ - first * page);
        if (mincore(base + first * page, length, residency.data()) != 0) return length_bytes_;
        for (uint64_t i = 0; i < count; ++i) resident_pages += residency[i] & 1u;
        last_page_resident = (residency[count - 1] & 1u) != 0;
    }
    // Count only the file's bytes in a resident last page (it is padded to a whole page in memory).
    uint64_t bytes = resident_pages * page;
    if (last_page_resident) bytes -= pages * page - length_bytes_;
    return bytes;
}

uint64_t read_through_page_cache(int fd, const std::string& path, uint64_t size_bytes, std::span<std::byte> buffer,
                                 const CancelCheck& cancel) {
    const uint64_t chunk_bytes = buffer.size();
    // Advice only: a failure (e.g. a file system without read-ahead) does not stop the reading.
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    uint64_t advised_end = 0;
    uint64_t offset = 0;
    while (offset < size_bytes) {
        cancel.throw_if_cancelled();
        const uint64_t advise_until = std::min(size_bytes, offset + (kReadAheadChunks + 1) * chunk_bytes);
        if (advise_until > advised_end) {
            (void)posix_fadvise(fd, static_cast<off_t>(advised_end), static_cast<off_t>(advise_until - advised_end),
                                POSIX_FADV_WILLNEED);
            advised_end = advise_until;
        }
        const auto wanted = static_cast<std::size_t>(std::min(chunk_bytes, size_bytes - offset));
        const ssize_t got = pread(fd, buffer.data(), wanted, static_cast<off_t>(offset));
        if (got < 0) {
            if (errno == EINTR) continue;
            throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, "cannot read " + path + " at byte offset " +
                                                           std::to_string(offset) + ": " + errno_text(errno));
        }
        if (got == 0) break;  // the file shrank since fstat: what is there has been read
        offset += static_cast<uint64_t>(got);
    }
    return offset;
}

DropOutcome advise_drop(const std::string& path, dev_t device, ino_t inode, int& error_number) noexcept {
    error_number = 0;
    FileDescriptor fd = open_read_only(path, error_number);
    if (!fd.is_open()) return error_number == ENOENT ? DropOutcome::kFileGone : DropOutcome::kFailed;
    struct stat info {};
    if (fstat(fd.get(), &info) != 0) {
        error_number = errno;
        return DropOutcome::kFailed;
    }
    if (info.st_dev != device || info.st_ino != inode) return DropOutcome::kFileGone;
    error_number = posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);  // returns the error, does not set errno
    return error_number == 0 ? DropOutcome::kAdvised : DropOutcome::kFailed;
}

}  // namespace warmup::plugins::page_cache
