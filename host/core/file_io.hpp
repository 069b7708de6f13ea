// core/file_io.hpp — the POSIX steps the durable state (snapshots, the event journal, a fleet node's outbox) writes
// files with, each failure a std::system_error that names the file and carries errno; the open of a file to read that
// must be a regular one (snapshots, plugin libraries); and the read of a whole file (configurations, scenarios, events,
// journal segments, the outbox), each failure said in words the caller puts after the file's name.
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

/// Which files read_file() takes. A file an operator names is read whatever it is but a folder (a FIFO such as
/// `--config <(envsubst < warmupd.yaml)` is read to its end); a file the daemon finds in its own folders (a journal
/// segment, the outbox) must be a regular one, since a FIFO named like one would block the reader for good.
enum class FileKind { any_but_a_folder, regular_only };

/// What read_file() read: all of the file's bytes, or why not.
struct FileContent {
    enum class Failure { none, cannot_open, folder, not_regular, cannot_read };
    std::string bytes;
    Failure failure = Failure::none;
    int error = 0;  ///< errno of the open or read that failed

    [[nodiscard]] bool read() const noexcept { return failure == Failure::none; }
    /// Nothing has that name (the open failed with ENOENT).
    [[nodiscard]] bool missing() const noexcept { return failure == Failure::cannot_open && error == ENOENT; }
    /// Why it was not read, said after the file's name: "No such file or directory", "it is a folder, not a file",
    /// "it is not a regular file (a FIFO or a device)", "the read failed: Input/output error".
    [[nodiscard]] std::string problem() const {
        switch (failure) {
            case Failure::none:
                return {};
            case Failure::cannot_open:
                return std::strerror(error);
            case Failure::folder:
                return "it is a folder, not a file";
            case Failure::not_regular:
                return "it is not a regular file (a FIFO or a device)";
            case Failure::cannot_read:
                return fmt::format("the read failed: {}", std::strerror(error));
        }
        return {};
    }
};

/// Reads all of `file` (read(2), EINTR retried; a regular file's size reserved up front). Never throws: a file too
/// large for memory is a failed read (ENOMEM), and the descriptor is closed on every path.
[[nodiscard]] inline FileContent read_file(const std::filesystem::path& file, FileKind kind) {
    FileContent content;
    const auto fail = [&content](FileContent::Failure failure, int error) {
        content.failure = failure;
        content.error = error;
        content.bytes.clear();
        content.bytes.shrink_to_fit();
    };
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | (kind == FileKind::regular_only ? O_NONBLOCK : 0));
    if (fd < 0) {
        fail(FileContent::Failure::cannot_open, errno);
        return content;
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        fail(FileContent::Failure::cannot_open, errno);
    } else if (S_ISDIR(info.st_mode)) {
        fail(FileContent::Failure::folder, 0);
    } else if (kind == FileKind::regular_only && !S_ISREG(info.st_mode)) {
        fail(FileContent::Failure::not_regular, 0);
    } else {
        try {
            if (S_ISREG(info.st_mode)) content.bytes.reserve(static_cast<std::size_t>(info.st_size));
            char chunk[64 * 1024];
            for (;;) {
                const ssize_t got = ::read(fd, chunk, sizeof chunk);
                if (got < 0 && errno == EINTR) continue;
                if (got < 0) fail(FileContent::Failure::cannot_read, errno);
                if (got <= 0) break;
                content.bytes.append(chunk, static_cast<std::size_t>(got));
            }
        } catch (const std::exception&) {  // bad_alloc, length_error: larger than the memory there is
            fail(FileContent::Failure::cannot_read, ENOMEM);
        }
    }
    ::close(fd);
    return content;
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
