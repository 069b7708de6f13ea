// runtime/state/state_lock.hpp — one daemon per state folder: an advisory lock on <dir>/warmupd.lock, held for as long
// as the StateDirLock lives (warmupd: its whole run).
//
// Two daemons on one folder would overwrite each other's snapshots and journal segments, and the one that restarts
// last would restore only its own: the other's acknowledged events would be lost. The lock is flock(2) on the file,
// taken without waiting. The kernel drops it when its holder exits however it ends (SIGKILL, crash, power loss), so a
// lock file left behind by a dead daemon never blocks the next start: the file stays and is simply locked again. The
// file holds the holder's pid (a line of text), for the message a refused daemon prints; it is not what decides.
//
// Advisory: it keeps out only programs that take it. warmup-replay --trace journal:DIR and the tests read a folder
// without it.
//
// Thread-safety: construct and destroy on one thread; the object holds no other state.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace warmup::host {

/// The state folder is locked by another process (see StateDirLock). what(): the folder, the holder's pid when it is
/// known, and what to do.
class StateDirBusy : public std::runtime_error {
  public:
    StateDirBusy(const std::filesystem::path& dir, pid_t holder);
    [[nodiscard]] pid_t holder() const noexcept { return holder_; }  ///< 0 when the lock file names none

  private:
    pid_t holder_;
};

class StateDirLock {
  public:
    /// The lock file's name inside the state folder.
    static constexpr const char* kFileName = "warmupd.lock";

    /// Creates `dir` (with its parents) if missing and takes its lock. Throws StateDirBusy when another open of the
    /// lock file holds it (another process, or another StateDirLock of this one), std::system_error when the folder
    /// or the file cannot be created or locked.
    explicit StateDirLock(const std::filesystem::path& dir);
    /// Releases the lock (the file is left in place).
    ~StateDirLock();
    StateDirLock(const StateDirLock&) = delete;
    StateDirLock& operator=(const StateDirLock&) = delete;

    [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

  private:
    std::filesystem::path file_;
    int fd_ = -1;
};

}  // namespace warmup::host
