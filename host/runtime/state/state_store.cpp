// runtime/state/state_store.cpp — the state folder (see state_store.hpp): snapshot and backup files, newest first,
// corrupt ones skipped with their reason. Every public method takes the store's mutex.
#include "runtime/state/state_store.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>
#include <utility>

#include "core/file_io.hpp"

namespace warmup::host {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kSnapshotPrefix = "snapshot-";
constexpr std::string_view kBackupPrefix = "backup-";
constexpr std::string_view kExtension = ".wsnap";

bool named_like(const fs::path& file, std::string_view prefix) {
    const std::string name = file.filename().string();
    return name.starts_with(prefix) && name.ends_with(kExtension) && name.size() > prefix.size() + kExtension.size();
}

/// The (ms, sequence) of a snapshot-<ms>-<sequence>.wsnap name; (0, 0) for a name that does not parse.
std::pair<uint64_t, uint32_t> snapshot_name_order(const fs::path& file) {
    const std::string name = file.filename().string();
    uint64_t ms = 0;
    uint32_t sequence = 0;
    const char* at = name.data() + kSnapshotPrefix.size();
    const char* end = name.data() + name.size() - kExtension.size();
    const auto [after_ms, ms_error] = std::from_chars(at, end, ms);
    if (ms_error != std::errc{} || after_ms == end || *after_ms != '-') return {0, 0};
    const auto [after_sequence, sequence_error] = std::from_chars(after_ms + 1, end, sequence);
    if (sequence_error != std::errc{} || after_sequence != end) return {ms, 0};
    return {ms, sequence};
}

}  // namespace

StateStore::StateStore(fs::path dir, uint32_t keep) : dir_(std::move(dir)), keep_(std::max<uint32_t>(keep, 1)) {
    fs::create_directories(dir_);
    // A crash during a snapshot write leaves its temporary file; it was never renamed, so it is not state.
    for (const auto& entry : fs::directory_iterator(dir_)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with(".") && name.find(".tmp-") != std::string::npos) {
            std::error_code ignored;
            fs::remove(entry.path(), ignored);
        }
    }
}

bool StateStore::valid_backup_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= 64 && name.front() != '.' &&
           std::all_of(name.begin(), name.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
           });
}

std::unique_ptr<SnapshotFileWriter> StateStore::begin_write() {
    uint64_t number = 0;
    {
        std::lock_guard lock(mutex_);
        number = temporaries_++;
    }
    // Starts with '.' and holds ".tmp-": the constructor of a later store removes it if a crash leaves it.
    return std::make_unique<SnapshotFileWriter>(dir_ / fmt::format(".snapshot.tmp-{}-{}", ::getpid(), number));
}

fs::path StateStore::commit_snapshot(SnapshotFileWriter& writer) {
    std::lock_guard lock(mutex_);
    std::vector<fs::path> all;
    for (const auto& entry : fs::directory_iterator(dir_))
        if (named_like(entry.path(), kSnapshotPrefix)) all.push_back(entry.path());
    std::sort(all.begin(), all.end(), std::greater<>());
    // Named after its created time, but always after the newest name in the folder: after the clock stepped back (or
    // with files copied from a host whose clock was ahead) a new snapshot must still sort as the newest, or the
    // pruning below would delete it at once. Two snapshots in the same millisecond get distinct, ordered names.
    uint64_t name_ms = writer.created_unix_ms();
    uint32_t sequence = 0;
    if (!all.empty()) {
        const auto [newest_ms, newest_sequence] = snapshot_name_order(all.front());
        if (newest_ms >= name_ms) {
            name_ms = newest_ms;
            sequence = newest_sequence + 1;
        }
    }
    const fs::path file = dir_ / fmt::format("{}{:016}-{:06}{}", kSnapshotPrefix, name_ms, sequence, kExtension);
    writer.commit(file);
    all.insert(all.begin(), file);
    // The oldest beyond `keep` go, except files written by a newer version of the daemon (a rollback must not delete
    // the state the newer one will want back); they do not count towards `keep` either.
    std::size_t kept = 0;
    for (const fs::path& candidate : all) {
        const auto format = snapshot_header_format(candidate);
        if (format && *format > kSnapshotFormatVersion) continue;
        if (++kept <= keep_) continue;
        std::error_code ignored;
        fs::remove(candidate, ignored);
    }
    return file;
}

fs::path StateStore::backup_file(std::string_view name) const {
    return dir_ / fmt::format("{}{}{}", kBackupPrefix, name, kExtension);
}

fs::path StateStore::commit_backup(const std::string& name, SnapshotFileWriter& writer) {
    if (!valid_backup_name(name))
        throw std::invalid_argument(fmt::format(
            "backup name '{}': expected 1 to 64 characters of [A-Za-z0-9._-], not starting with '.'", name));
    std::lock_guard lock(mutex_);
    const fs::path file = dir_ / fmt::format("{}{}{}", kBackupPrefix, name, kExtension);
    writer.commit(file);
    return file;
}

fs::path StateStore::write_snapshot(const Snapshot& snapshot) {
    const auto writer = begin_write();
    write_snapshot_to(snapshot, *writer);
    return commit_snapshot(*writer);
}

fs::path StateStore::write_backup(const std::string& name, const Snapshot& snapshot) {
    if (!valid_backup_name(name))
        throw std::invalid_argument(fmt::format(
            "backup name '{}': expected 1 to 64 characters of [A-Za-z0-9._-], not starting with '.'", name));
    const auto writer = begin_write();
    write_snapshot_to(snapshot, *writer);
    return commit_backup(name, *writer);
}

namespace {
constexpr const char* kStagedRestoreFile = "restore-at-next-start";
}  // namespace

void StateStore::stage_restore_at_next_start(const std::string& name) {
    std::lock_guard lock(mutex_);
    write_file_atomically(dir_ / kStagedRestoreFile, name + "\n");
}

std::optional<std::string> StateStore::take_staged_restore() {
    std::lock_guard lock(mutex_);
    const fs::path file = dir_ / kStagedRestoreFile;
    // A file of the daemon's own folder: a FIFO under that name must not block the start.
    const FileContent content = read_file(file, FileKind::regular_only);
    if (content.missing()) return std::nullopt;
    std::error_code ignored;
    fs::remove(file, ignored);
    if (!content.read()) return std::nullopt;
    return content.bytes.substr(0, content.bytes.find('\n'));
}

std::string StateStore::backup_name_of(const fs::path& file) {
    std::string name = file.stem().string();
    if (name.starts_with(kBackupPrefix)) name.erase(0, kBackupPrefix.size());
    return name;
}

std::vector<fs::path> StateStore::snapshots() const {
    std::lock_guard lock(mutex_);
    std::vector<fs::path> all;
    for (const auto& entry : fs::directory_iterator(dir_))
        if (named_like(entry.path(), kSnapshotPrefix)) all.push_back(entry.path());
    std::sort(all.begin(), all.end(), std::greater<>());
    return all;
}

std::vector<fs::path> StateStore::backups() const {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<fs::file_time_type, fs::path>> all;
    for (const auto& entry : fs::directory_iterator(dir_))
        if (named_like(entry.path(), kBackupPrefix)) {
            std::error_code error;
            all.emplace_back(fs::last_write_time(entry.path(), error), entry.path());
        }
    std::sort(all.begin(), all.end(), std::greater<>());
    std::vector<fs::path> files;
    for (auto& [time, file] : all) files.push_back(std::move(file));
    return files;
}

std::optional<LoadedSnapshot> StateStore::newest_valid_snapshot(std::vector<RefusedSnapshot>& refused) const {
    for (const fs::path& file : snapshots()) {
        try {
            return LoadedSnapshot{file, read_snapshot_file(file)};
        } catch (const SnapshotError& error) {
            refused.push_back({file, error.what()});
        }
    }
    return std::nullopt;
}

LoadedSnapshot StateStore::read_backup(const std::string& name, std::vector<RefusedSnapshot>* skipped) const {
    if (name.empty()) {
        const auto all = backups();
        if (all.empty()) throw SnapshotError(fmt::format("no backup in {}", dir_.string()));
        // The newest backup that reads cleanly: a corrupt or truncated newest one must not hide an older good one.
        std::vector<RefusedSnapshot> refused;
        for (const fs::path& file : all) {
            try {
                LoadedSnapshot loaded{file, read_snapshot_file(file)};
                if (skipped != nullptr) skipped->insert(skipped->end(), refused.begin(), refused.end());
                return loaded;
            } catch (const SnapshotError& error) {
                refused.push_back({file, error.what()});
            }
        }
        std::string reasons;
        for (const auto& bad : refused) reasons += fmt::format("; {}: {}", bad.file.string(), bad.reason);
        if (skipped != nullptr) skipped->insert(skipped->end(), refused.begin(), refused.end());
        throw SnapshotError(
            fmt::format("no valid backup in {} ({} refused){}", dir_.string(), refused.size(), reasons));
    }
    if (!valid_backup_name(name)) throw SnapshotError(fmt::format("'{}' is not a valid backup name", name));
    const fs::path file = dir_ / fmt::format("{}{}{}", kBackupPrefix, name, kExtension);
    std::error_code error;
    if (!fs::exists(file, error)) throw SnapshotError(fmt::format("no backup named '{}' in {}", name, dir_.string()));
    try {
        return {file, read_snapshot_file(file)};
    } catch (const SnapshotError& failure) {
        throw SnapshotError(fmt::format("{}: {}", file.string(), failure.what()));
    }
}

}  // namespace warmup::host
