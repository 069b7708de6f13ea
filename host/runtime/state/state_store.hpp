// runtime/state/state_store.hpp — the state folder: periodic snapshots (newest `keep` kept), named backups, and the
// metrics history, all under one directory.
//
// Files:
//   snapshot-<unix_ms, 16 digits>-<seq, 6 digits>.wsnap   periodic snapshots; names sort by age
//   backup-<name>.wsnap                                     operator backups (POST /api/warmup/backup-state)
//   .snapshot.tmp-<pid>-<n>                                 a write in progress (left only by a crash; removed at
//                                                           open, never read)
//   metrics-history-<unix_hour>.tsv                         see MetricsHistory
//
// Thread-safety: every method takes an internal mutex; callable from any thread (HTTP handlers, the snapshot thread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/state/snapshot.hpp"
#include "runtime/state/snapshot_writer.hpp"

namespace warmup::host {

/// A snapshot found on disk and decoded, or why the newest candidates were refused.
struct LoadedSnapshot {
    std::filesystem::path file;
    Snapshot snapshot;
};
struct RefusedSnapshot {
    std::filesystem::path file;
    std::string reason;
};

class StateStore {
  public:
    /// Creates `dir` (and parents) if missing and removes temporary files a crash left behind. Throws
    /// std::system_error when the folder cannot be created. `keep` >= 1 periodic snapshots are kept.
    StateStore(std::filesystem::path dir, uint32_t keep);

    [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }

    /// A new snapshot file in the folder, under a temporary name: capture into it, then commit_snapshot() or
    /// commit_backup(). Dropped uncommitted, it leaves nothing. Throws std::system_error.
    [[nodiscard]] std::unique_ptr<SnapshotFileWriter> begin_write();
    /// Publishes `writer` as a periodic snapshot named after its created time (or after the newest name in the folder,
    /// if that is later: names stay in the order snapshots were taken whatever the clock did), then deletes the
    /// oldest beyond `keep`, never a file written by a newer format version (nor counting it).
    /// Returns the file. Throws std::system_error (the temporary file is removed).
    std::filesystem::path commit_snapshot(SnapshotFileWriter& writer);
    /// Publishes `writer` as backup-<name>.wsnap (replacing a backup of that name). `name`: [A-Za-z0-9._-]{1,64}, not
    /// starting with '.'; throws std::invalid_argument otherwise, std::system_error when the write fails.
    std::filesystem::path commit_backup(const std::string& name, SnapshotFileWriter& writer);

    /// Writes a periodic snapshot atomically (begin_write, the snapshot, commit_snapshot). Returns the file.
    std::filesystem::path write_snapshot(const Snapshot& snapshot);
    /// Writes backup-<name>.wsnap atomically (begin_write, the snapshot, commit_backup).
    std::filesystem::path write_backup(const std::string& name, const Snapshot& snapshot);

    /// Stages backup `name` (a valid name) to be restored by the next start instead of the newest state: writes the
    /// file restore-at-next-start in the folder, atomically, replacing an earlier stage. Throws std::system_error.
    void stage_restore_at_next_start(const std::string& name);
    /// The backup name staged by stage_restore_at_next_start(), or nullopt; the stage is removed either way (a start
    /// takes it once, whether or not the backup then restores).
    std::optional<std::string> take_staged_restore();
    /// The name of backup file `file` (backup-<name>.wsnap). Pure.
    static std::string backup_name_of(const std::filesystem::path& file);

    /// Periodic snapshots, newest first.
    [[nodiscard]] std::vector<std::filesystem::path> snapshots() const;
    /// Backups, newest (modification time) first.
    [[nodiscard]] std::vector<std::filesystem::path> backups() const;

    /// The newest snapshot that decodes; every newer one that does not is appended to `refused` with its reason.
    std::optional<LoadedSnapshot> newest_valid_snapshot(std::vector<RefusedSnapshot>& refused) const;

    /// The backup `name`, or when `name` is empty the newest backup that decodes: every newer one that does not is
    /// appended to `skipped` (when given) with its reason. Throws SnapshotError (no such backup, no backup at all, a
    /// named backup that does not decode, or no backup that decodes: the reason says which).
    [[nodiscard]] LoadedSnapshot read_backup(const std::string& name,
                                             std::vector<RefusedSnapshot>* skipped = nullptr) const;

    /// True when `name` can name a backup file.
    static bool valid_backup_name(std::string_view name) noexcept;
    /// The backups the daemon writes itself: a start's newest state its catalog no longer covers, and the state before
    /// an operator's reset-to-safe or reset-data-collection. An operator's backup-state may not take these names (they
    /// would be overwritten).
    static constexpr std::string_view kRefusedAtStartBackup = "refused-at-start";
    static constexpr std::string_view kBeforeResetToSafeBackup = "before-reset-to-safe";
    static constexpr std::string_view kBeforeResetDataCollectionBackup = "before-reset-data-collection";
    static bool daemon_backup_name(std::string_view name) noexcept {
        return name == kRefusedAtStartBackup || name == kBeforeResetToSafeBackup ||
               name == kBeforeResetDataCollectionBackup;
    }
    /// The file of backup `name` (a valid name), whether or not it exists.
    [[nodiscard]] std::filesystem::path backup_file(std::string_view name) const;

  private:
    std::filesystem::path dir_;
    uint32_t keep_;
    mutable std::mutex mutex_;
    uint64_t temporaries_ = 0;  // temporary files created, for unique names
};

}  // namespace warmup::host
