#include "page_cache_backend.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <set>
#include <utility>

namespace warmup::plugins::page_cache {
namespace {

constexpr uint64_t kBytesPerMiB = uint64_t{1} << 20;

std::string name_of(const warmup_model_info& model) { return std::string(sdk::to_string_view(model.name)); }

std::string load_context(std::string_view model_name) {
    return "page cache load of model '" + std::string(model_name) + "': ";
}

}  // namespace

/// Holds a load's files in file_holders_ from before the first read until the load ends: a concurrent unload of
/// another model sharing a file then keeps it cached. Released (without DONTNEED) unless commit() was called.
class PageCacheBackend::FileReferences {
  public:
    FileReferences(PageCacheBackend& backend, std::vector<HeldFile> files)
        : backend_(backend), files_(std::move(files)) {
        std::lock_guard lock(backend_.mutex_);
        for (const HeldFile& file : files_) ++backend_.file_holders_[file.key];
    }
    ~FileReferences() {
        if (committed_) return;
        std::lock_guard lock(backend_.mutex_);
        for (const HeldFile& file : files_) {
            const auto holder = backend_.file_holders_.find(file.key);
            if (holder != backend_.file_holders_.end() && --holder->second == 0) backend_.file_holders_.erase(holder);
        }
    }
    FileReferences(const FileReferences&) = delete;
    FileReferences& operator=(const FileReferences&) = delete;

    /// Caller holds mutex_. The references now belong to the model's LoadedModel entry; returns its file list.
    std::vector<HeldFile> commit() {
        committed_ = true;
        return std::move(files_);
    }

  private:
    PageCacheBackend& backend_;
    std::vector<HeldFile> files_;
    bool committed_ = false;
};

PageCacheBackend::PageCacheBackend(sdk::Host host, sdk::Params& params) : sdk::Backend(host) {
    rules_ = ModelFileRules::parse(params);
    read_chunk_bytes_ = static_cast<uint64_t>(params.get_int("read_chunk_mb", 8, 1, 1024)) * kBytesPerMiB;
    mlock_ = params.get_bool("mlock", false);
    missing_files_ = params.get_choice("missing_files", "error", {"error", "skip"}) == "skip" ? MissingFiles::kSkip
                                                                                              : MissingFiles::kError;
    // A folder that does not exist yet is not an error (models may be mounted or downloaded later), but it is most
    // often a typo: say so now rather than at the first load.
    for (const ModelFileRule& rule : rules_.rules())
        for (const std::string& pattern : rule.path_patterns) {
            const std::string folder = describe_missing_folder(pattern);
            if (folder.ends_with(" exists")) continue;
            this->host().warn(rule.key_path + ": pattern '" + pattern + "': " + folder +
                              "; loads of the models it covers fail with NOT_FOUND until it exists");
        }
}

std::vector<ResolvedFile> PageCacheBackend::resolve_files(std::string_view model_name, MissingFiles missing) const {
    const ModelFileRule* rule = rules_.find(model_name);
    if (rule == nullptr)
        throw sdk::Error(WARMUP_ERROR_NOT_FOUND,
                         load_context(model_name) +
                             "no params.model_files entry covers it (entries: " + rules_.describe_keys() + ")");
    std::vector<ResolvedFile> files;
    std::set<FileKey> seen;
    std::string unmatched;  // for the message when kSkip leaves nothing
    for (const std::string& pattern : rule->path_patterns) {
        const std::string expanded = substitute_model_name(pattern, model_name);
        const std::vector<std::string> matches = expand_path_pattern(expanded);
        if (matches.empty()) {
            std::string what = "pattern '" + pattern + "' of " + rule->key_path;
            if (expanded != pattern) what += " (for this model '" + expanded + "')";
            what += " matches no file; " + describe_missing_folder(expanded);
            if (missing == MissingFiles::kError)
                throw sdk::Error(WARMUP_ERROR_NOT_FOUND, load_context(model_name) + what);
            unmatched += (unmatched.empty() ? "" : "; ") + what;
            continue;
        }
        for (const std::string& path : matches) {
            struct stat info {};
            if (stat(path.c_str(), &info) != 0) {
                const int error_number = errno;
                if (error_number == ENOENT && missing == MissingFiles::kSkip) continue;  // e.g. a dangling symlink
                throw sdk::Error(error_number == ENOENT ? WARMUP_ERROR_NOT_FOUND : WARMUP_ERROR_UNAVAILABLE,
                                 load_context(model_name) + "cannot open " + path + " (matched by '" + pattern +
                                     "'): " + errno_text(error_number));
            }
            if (!S_ISREG(info.st_mode))
                throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT, load_context(model_name) + path + " (matched by '" +
                                                                    pattern + "') is not a regular file or folder");
            const FileKey key{info.st_dev, info.st_ino};
            if (!seen.insert(key).second) continue;  // reached twice (two patterns, a symlink): read once
            files.push_back({path, key, static_cast<uint64_t>(info.st_size)});
        }
    }
    if (files.empty())
        throw sdk::Error(WARMUP_ERROR_NOT_FOUND, load_context(model_name) + "no existing file matches " +
                                                     rule->key_path + (unmatched.empty() ? "" : ": " + unmatched));
    return files;
}

PageCacheLoadReport PageCacheBackend::load_files(const warmup_model_info& model,
                                                 const warmup_cancel_token& cancel_token) {
    const std::string model_name = name_of(model);
    const CancelCheck cancel(cancel_token, model_name);
    cancel.throw_if_cancelled();

    const std::vector<ResolvedFile> resolved = resolve_files(model_name, missing_files_);
    std::vector<HeldFile> held;
    held.reserve(resolved.size());
    for (const ResolvedFile& file : resolved) held.push_back({file.path, file.key});
    FileReferences references(*this, std::move(held));

    // One buffer per load, not zero-filled: its content is never looked at, only the kernel's copy into it matters.
    const auto buffer = std::make_unique_for_overwrite<std::byte[]>(read_chunk_bytes_);
    PageCacheLoadReport report;
    std::vector<FileMapping> locked_mappings;
    for (const ResolvedFile& file : resolved) {
        cancel.throw_if_cancelled();
        int error_number = 0;
        const FileDescriptor fd = open_read_only(file.path, error_number);
        if (!fd.is_open()) {
            if (error_number == ENOENT && missing_files_ == MissingFiles::kSkip) continue;  // vanished since resolution
            throw sdk::Error(error_number == ENOENT ? WARMUP_ERROR_NOT_FOUND : WARMUP_ERROR_UNAVAILABLE,
                             load_context(model_name) + "cannot open " + file.path + ": " + errno_text(error_number));
        }
        struct stat info {};
        if (fstat(fd.get(), &info) != 0)
            throw sdk::Error(WARMUP_ERROR_UNAVAILABLE,
                             load_context(model_name) + "cannot stat " + file.path + ": " + errno_text(errno));
        if (!S_ISREG(info.st_mode))
            throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT,
                             load_context(model_name) + file.path + " is no longer a regular file");
        const auto size_bytes = static_cast<uint64_t>(info.st_size);
        report.files.push_back(file.path);
        report.file_bytes += size_bytes;
        const uint64_t bytes_read = read_through_page_cache(
            fd.get(), file.path, size_bytes, std::span<std::byte>(buffer.get(), read_chunk_bytes_), cancel);
        report.bytes_read += bytes_read;
        if (bytes_read == 0) continue;  // an empty file: nothing to map, lock or measure

        FileMapping mapping = FileMapping::map(fd.get(), bytes_read, error_number);
        if (!mapping.is_mapped()) {
            if (mlock_)
                throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, load_context(model_name) + "cannot mmap " + file.path +
                                                               " to lock it: " + errno_text(error_number));
            report.resident_bytes += bytes_read;  // cannot measure: the bytes just read are the best estimate
            continue;
        }
        if (mlock_) {
            try {
                mapping.lock(read_chunk_bytes_, cancel, file.path);
            } catch (const sdk::Error& error) {
                if (error.code() == WARMUP_ERROR_CANCELLED) throw;
                throw sdk::Error(error.code(), load_context(model_name) + error.what());
            }
        }
        report.resident_bytes += mapping.resident_bytes();
        if (mlock_) locked_mappings.push_back(std::move(mapping));
    }
    report.locked_files = locked_mappings.size();

    // Commit. A previous load's entry (a reload without unload) is replaced: its files lose one reference each, so
    // only files the new load no longer covers can reach zero and be dropped; its mappings are unmapped after the new
    // ones are in place, so a file in both never stops being locked.
    std::optional<LoadedModel> previous;
    {
        std::lock_guard lock(mutex_);
        LoadedModel entry{references.commit(), std::move(locked_mappings)};
        const auto existing = loaded_.find(model.index);
        if (existing != loaded_.end()) {
            previous = std::move(existing->second);
            existing->second = std::move(entry);
            PageCacheUnloadReport ignored;
            release_and_drop_locked(previous->files, model_name, ignored);
        } else {
            loaded_.emplace(model.index, std::move(entry));
        }
    }
    return report;  // `previous` (and its mappings) goes away here, outside the lock
}

double PageCacheBackend::load(const warmup_model_info& model, const warmup_cancel_token& cancel) {
    return load_files(model, cancel).resident_mb();
}

PageCacheUnloadReport PageCacheBackend::unload_files(const warmup_model_info& model) {
    const std::string model_name = name_of(model);
    PageCacheUnloadReport report;
    std::optional<LoadedModel> entry;
    {
        std::lock_guard lock(mutex_);
        const auto found = loaded_.find(model.index);
        if (found != loaded_.end()) {
            entry = std::move(found->second);
            loaded_.erase(found);
        }
    }
    if (entry) {
        // Unmapped first: DONTNEED never drops locked or mapped pages.
        report.mappings_released = entry->locked_mappings.size();
        entry->locked_mappings.clear();
        std::lock_guard lock(mutex_);
        release_and_drop_locked(entry->files, model_name, report);
        return report;
    }

    // Not loaded by this instance: resolve again, tolerating missing files, and drop what nobody here holds.
    std::vector<ResolvedFile> resolved;
    try {
        resolved = resolve_files(model_name, MissingFiles::kSkip);
    } catch (const sdk::Error& error) {
        host().log(WARMUP_LOG_DEBUG,
                   "page cache unload of model '" + model_name + "': nothing to drop: " + error.what());
        return report;
    }
    std::lock_guard lock(mutex_);
    for (const ResolvedFile& file : resolved) {
        if (file_holders_.count(file.key) != 0) {
            ++report.files_kept_for_other_models;
            continue;
        }
        drop_locked({file.path, file.key}, model_name, report);
    }
    return report;
}

void PageCacheBackend::unload(const warmup_model_info& model) { (void)unload_files(model); }

void PageCacheBackend::release_and_drop_locked(const std::vector<HeldFile>& files, std::string_view model_name,
                                               PageCacheUnloadReport& report) {
    for (const HeldFile& file : files) {
        const auto holder = file_holders_.find(file.key);
        if (holder != file_holders_.end() && --holder->second > 0) {
            ++report.files_kept_for_other_models;
            continue;
        }
        if (holder != file_holders_.end()) file_holders_.erase(holder);
        drop_locked(file, model_name, report);
    }
}

void PageCacheBackend::drop_locked(const HeldFile& file, std::string_view model_name, PageCacheUnloadReport& report) {
    int error_number = 0;
    switch (advise_drop(file.path, file.key.device, file.key.inode, error_number)) {
        case DropOutcome::kAdvised:
            ++report.files_advised_dont_need;
            break;
        case DropOutcome::kFileGone:
            ++report.files_gone;
            break;
        case DropOutcome::kFailed:
            ++report.files_failed;
            host().warn("page cache unload of model '" + std::string(model_name) + "': cannot drop " + file.path +
                        " from the page cache: " + errno_text(error_number));
            break;
    }
}

bool PageCacheBackend::is_loaded(warmup_model_index model) const {
    std::lock_guard lock(mutex_);
    return loaded_.count(model) != 0;
}

std::size_t PageCacheBackend::locked_mapping_count() const {
    std::lock_guard lock(mutex_);
    std::size_t count = 0;
    for (const auto& [index, entry] : loaded_) count += entry.locked_mappings.size();
    return count;
}

std::size_t PageCacheBackend::held_file_count() const {
    std::lock_guard lock(mutex_);
    return file_holders_.size();
}

}  // namespace warmup::plugins::page_cache
