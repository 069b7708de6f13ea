// runtime/state/state_store.cpp — the state folder (see state_store.hpp): snapshot and backup files, newest first,
// corrupt ones skipped with their reason. Every public method takes the store's mutex.
#include "runtime/state/state_store.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

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
    // Two snapshots in the same millisecond get distinct, still ordered names.
    const uint64_t created_ms = writer.created_unix_ms();
    sequence_ = created_ms == last_snapshot_ms_ ? sequence_ + 1 : 0;
    last_snapshot_ms_ = created_ms;
    const fs::path file = dir_ / fmt::format("{}{:016}-{:06}{}", kSnapshotPrefix, created_ms, sequence_, kExtension);
    writer.commit(file);
    std::vector<fs::path> all;
    for (const auto& entry : fs::directory_iterator(dir_))
        if (named_like(entry.path(), kSnapshotPrefix)) all.push_back(entry.path());
    std::sort(all.begin(), all.end(), std::greater<>());
    for (std::size_t i = keep_; i < all.size(); ++i) {
        std::error_code ignored;
        fs::remove(all[i], ignored);
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
