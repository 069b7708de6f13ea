// core/file_io.hpp — the POSIX steps the durable state (snapshots, the event journal, a fleet node's outbox) writes
// files with, each failure a std::system_error that names the file and carries errno; and the open of a file to read
// that must be a regular one (snapshots, plugin libraries).
//
// Thread-safety: pure functions of their arguments (and errno at the call).
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace warmup::host {

/// The error of the call that just failed (errno), as "<what> <path>": "cannot fsync /var/lib/warmup/snapshot.bin".
[[nodiscard]] inline std::system_error io_error(const std::string& what, const std::filesystem::path& path) {
    return {errno, std::generic_category(), fmt::format("{} {}", what, path.string())};
}

/// A file open_regular_file opened: its descriptor (the caller closes it) and size, or (fd < 0) why it was not opened.
struct OpenedRegularFile {
    int fd = -1;
    uint64_t size = 0;
    std::string problem;  ///< "cannot open: <why>", "cannot stat: <why>" or "not a regular file (...)"
};

/// Opens `file` read-only and only if it is a regular file. The open does not block (O_NONBLOCK, which reads of a
/// regular file ignore): a FIFO or a device named like a data file (a snapshot, a plugin library) would otherwise
/// block the reader for good.
[[nodiscard]] inline OpenedRegularFile open_regular_file(const std::filesystem::path& file) {
    OpenedRegularFile opened;
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        opened.problem = fmt::format("cannot open: {}", std::strerror(errno));
        return opened;
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0)
        opened.problem = fmt::format("cannot stat: {}", std::strerror(errno));
    else if (!S_ISREG(info.st_mode))
        opened.problem = "not a regular file (a FIFO, a device or a folder)";
    if (!opened.problem.empty()) {
        ::close(fd);
        return opened;
    }
    opened.fd = fd;
    opened.size = static_cast<uint64_t>(info.st_size);
    return opened;
}

/// Writes all of `bytes` to `fd` (short writes continued, EINTR retried); throws io_error("cannot write", file).
inline void write_all(int fd, std::string_view bytes, const std::filesystem::path& file) {
    std::size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw io_error("cannot write", file);
        written += static_cast<std::size_t>(n);
    }
}

/// fsyncs `folder`: a file created, renamed or removed in it is durable only once its entry is on disk.
inline void sync_folder(const std::filesystem::path& folder) {
    const int dir_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) throw io_error("cannot open the folder", folder);
    const int synced = ::fsync(dir_fd);
    ::close(dir_fd);
    if (synced != 0) throw io_error("cannot fsync the folder", folder);
}

}  // namespace warmup::host
