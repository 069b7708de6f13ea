// plugins/backend/page_cache/page_cache_backend.hpp — a backend for servers that mmap their weights (llama.cpp,
// Ollama's GGUF blobs, safetensors): their cold start is mostly reading the files from disk, so "loading" a model
// here means bringing its weight files into the OS page cache (optionally locking them there), and "unloading" means
// advising the kernel to drop them again. The model server itself is not contacted.
//
// Threads: load and unload run on worker threads, concurrently for different models (the host never runs two of them
// at once for the same model). The file reading happens without any lock; one mutex guards the bookkeeping (which
// models are loaded, which files they hold, their locked mappings) and is also held while DONTNEED is issued, so a
// file shared by two models (a base model under several adapters) is never dropped while another loaded or loading
// model holds it.
// Ownership: locked mappings belong to the model's bookkeeping entry and are unmapped by unload (or by the
// destructor: a discarded instance leaves no memory locked, and drops no cache either).
#pragma once

#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>
#include <warmup/sdk/plugin.hpp>

#include "file_pages.hpp"
#include "model_file_patterns.hpp"

namespace warmup::plugins::page_cache {

/// params.missing_files: what a path pattern that matches no file (or a matched file that vanished) means.
enum class MissingFiles { kError, kSkip };

/// The identity of a file on disk, independent of the path (or symlink) it was reached by.
struct FileKey {
    dev_t device = 0;
    ino_t inode = 0;
    auto operator<=>(const FileKey&) const = default;
};

/// A file of a model, as resolved from params.model_files.
struct ResolvedFile {
    std::string path;
    FileKey key;
    uint64_t size_bytes = 0;  ///< at resolution (stat); the load re-reads the size from the open descriptor
};

/// What one load did. resident_bytes is what mincore reported after the reads (see FileMapping::resident_bytes);
/// with mlock it equals file_bytes.
struct PageCacheLoadReport {
    std::vector<std::string> files;  ///< in read order, each file once (deduplicated by device and inode)
    uint64_t file_bytes = 0;         ///< sum of the files' sizes when opened
    uint64_t bytes_read = 0;         ///< bytes actually read (less than file_bytes only if a file shrank meanwhile)
    uint64_t resident_bytes = 0;
    std::size_t locked_files = 0;  ///< files whose whole mapping is mlocked (0 unless params.mlock)
    [[nodiscard]] double resident_mb() const { return static_cast<double>(resident_bytes) / (1 << 20); }
};

/// What one unload did. Every file of the model lands in exactly one of the four counters.
struct PageCacheUnloadReport {
    std::size_t mappings_released = 0;            ///< locked mappings unmapped
    std::size_t files_advised_dont_need = 0;      ///< POSIX_FADV_DONTNEED issued
    std::size_t files_kept_for_other_models = 0;  ///< still held by another loaded or loading model: left cached
    std::size_t files_gone = 0;                   ///< deleted or replaced since the load
    std::size_t files_failed = 0;                 ///< could not be opened or advised (logged as a warning)
};

class PageCacheBackend final : public sdk::Backend {
  public:
    /// Reads and validates params (see README.md). Throws sdk::InvalidArgument naming the key path.
    PageCacheBackend(sdk::Host host, sdk::Params& params);

    /// [worker] load_files(), returning resident MiB.
    double load(const warmup_model_info& model, const warmup_cancel_token& cancel) override;
    /// [worker] unload_files(); never fails (DONTNEED is advice; problems are logged).
    void unload(const warmup_model_info& model) override;

    /// [worker] Resolves the model's files, reads each through the page cache, locks them if params.mlock, and
    /// records them as held by the model (replacing an earlier load's record). Throws sdk::Error: NOT_FOUND (no
    /// entry or no file), UNAVAILABLE (a file cannot be read: path and errno text), RESOURCE_EXHAUSTED (mlock
    /// refused), CANCELLED (the token fired; checked before every chunk), INVALID_ARGUMENT (a name with "..").
    /// On any error nothing stays locked or recorded; pages already read stay cached (clean, reclaimable).
    PageCacheLoadReport load_files(const warmup_model_info& model, const warmup_cancel_token& cancel);

    /// [worker] Releases the model's locked mappings, then issues DONTNEED on each of its files no other model holds.
    /// A model this instance did not load (e.g. loaded before a restart) has its files resolved again, skipping
    /// missing ones.
    PageCacheUnloadReport unload_files(const warmup_model_info& model);

    /// [any] The model's files as params.model_files resolves them now (sorted per pattern, deduplicated). Throws as
    /// load_files() does for resolution; with MissingFiles::kSkip only "nothing at all" is an error.
    [[nodiscard]] std::vector<ResolvedFile> resolve_files(std::string_view model_name, MissingFiles missing) const;

    /// [any] Bookkeeping, for tests and introspection.
    [[nodiscard]] bool is_loaded(warmup_model_index model) const;
    [[nodiscard]] std::size_t locked_mapping_count() const;
    /// Distinct files held by loaded or loading models.
    [[nodiscard]] std::size_t held_file_count() const;

  private:
    struct HeldFile {
        std::string path;
        FileKey key;
    };
    struct LoadedModel {
        std::vector<HeldFile> files;
        std::vector<FileMapping> locked_mappings;
    };
    class FileReferences;  // RAII: holds files for a load in progress

    /// Caller holds mutex_. Decrements the reference of each file; issues DONTNEED for those no one holds any more
    /// and counts the outcome into `report`.
    void release_and_drop_locked(const std::vector<HeldFile>& files, std::string_view model_name,
                                 PageCacheUnloadReport& report);
    /// Caller holds mutex_. DONTNEED on one file, counted into `report`; failures are logged.
    void drop_locked(const HeldFile& file, std::string_view model_name, PageCacheUnloadReport& report);

    ModelFileRules rules_;
    uint64_t read_chunk_bytes_ = 0;
    bool mlock_ = false;
    MissingFiles missing_files_ = MissingFiles::kError;

    mutable std::mutex mutex_;                                    // guards the two maps below
    std::unordered_map<warmup_model_index, LoadedModel> loaded_;  // models whose last load succeeded
    std::map<FileKey, uint32_t> file_holders_;                    // loaded + loading models holding each file
};

}  // namespace warmup::plugins::page_cache
