// runtime/state/state_lock.cpp — the state folder's lock (see state_lock.hpp).
#include "runtime/state/state_lock.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <system_error>
#include <thread>

namespace warmup::host {
namespace {

/// The pid written in the lock file, or 0 when it holds none (yet).
pid_t read_holder(int fd) {
    std::array<char, 32> text{};
    const ssize_t got = ::pread(fd, text.data(), text.size() - 1, 0);
    if (got <= 0) return 0;
    pid_t pid = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + got, pid);
    return error == std::errc{} && end != text.data() && pid > 0 ? pid : 0;
}

std::string holder_text(pid_t holder) {
    return holder > 0 ? fmt::format("another warmupd (pid {})", holder) : std::string("another warmupd");
}

}  // namespace

StateDirBusy::StateDirBusy(const std::filesystem::path& dir, pid_t holder)
    : std::runtime_error(fmt::format(
          "the state folder {} is in use by {} (lock file {}): two daemons on one folder overwrite each other's "
          "snapshots and journal; stop that daemon, or give this one another state.dir",
          dir.string(), holder_text(holder), (dir / StateDirLock::kFileName).string())),
      holder_(holder) {}

StateDirLock::StateDirLock(const std::filesystem::path& dir) : file_(dir / kFileName) {
    std::filesystem::create_directories(dir);
    fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), fmt::format("cannot open {}", file_.string()));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        if (error != EWOULDBLOCK) {
            ::close(fd_);
            throw std::system_error(error, std::generic_category(), fmt::format("cannot lock {}", file_.string()));
        }
        // The holder writes its pid right after it took the lock: give a daemon that is starting that moment.
        pid_t holder = read_holder(fd_);
        for (int attempt = 0; holder == 0 && attempt < 10; ++attempt) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            holder = read_holder(fd_);
        }
        ::close(fd_);
        throw StateDirBusy(dir, holder);
    }
    // Ours now: the previous holder's pid (a daemon that has exited) is replaced by this process's. The pid only
    // words a refused daemon's message, so a write that fails (a full disk) leaves the lock held all the same.
    const std::string pid = fmt::format("{}\n", ::getpid());
    [[maybe_unused]] const bool written =
        ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
}

StateDirLock::~StateDirLock() {
    if (fd_ >= 0) ::close(fd_);  // closing the only descriptor of the open file releases the lock
}

}  // namespace warmup::host
