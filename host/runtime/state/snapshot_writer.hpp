// runtime/state/snapshot_writer.hpp — a snapshot produced piece by piece: the sink a capture writes to, the
// in-memory sink (a Snapshot) and the streaming file writer the daemon uses.
//
// Why streaming: with 10 k models the plugins' state is ~15 MB. Built as one Snapshot and then encoded, it was held
// twice (sections, file image) on top of the plugins' own export buffers: ~30 MiB above the daemon's steady RSS for
// the fraction of a second a snapshot took. SnapshotFileWriter writes every field and every piece of a section's data
// through one 64 KiB buffer to a temporary file, so a capture costs the buffer, whatever the state's size.
//
// The file is the format of snapshot.hpp, byte for byte what encode_snapshot() makes of the same content (a length
// that is known only at the end of a list or section is written as a placeholder and filled in; the payload CRC is
// computed by reading the payload back in 64 KiB pieces before the header is written).
//
// Thread-safety: one writer (or builder) is used by one thread at a time; capture runs on the control thread and
// commit on the caller's. Not copyable.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "runtime/state/snapshot.hpp"

namespace warmup::host {

/// Where a captured snapshot goes, in the order of the format: begin(), the models by index, the warm models, then
/// the sections. A section's data may come in any number of pieces; a section whose producer fails is discarded and
/// leaves no trace. Calls out of this order throw std::logic_error.
class SnapshotSink {
  public:
    virtual ~SnapshotSink() = default;

    virtual void begin(uint64_t created_unix_ms) = 0;
    /// The catalog's model names by index 0..n-1, all before the first warm model.
    virtual void add_model(std::string_view name) = 0;
    virtual void add_warm_model(std::string_view name) = 0;
    virtual void begin_section(std::string_view slot, std::string_view schema) = 0;
    /// Appends to the open section's data. False when the sink can take nothing more (a file write failed; the
    /// failure is reported when the file is committed): the producer should stop.
    virtual bool append_section_data(std::string_view bytes) = 0;
    virtual void end_section() = 0;
    /// Drops the open section: the snapshot is as if begin_section() had not been called.
    virtual void discard_section() = 0;

    /// A whole section in one call.
    void add_section(std::string_view slot, std::string_view schema, std::string_view data) {
        begin_section(slot, schema);
        append_section_data(data);
        end_section();
    }
};

/// Writes `snapshot` to `sink` (for the in-memory Snapshot an API takes, e.g. StateStore::write_snapshot).
void write_snapshot_to(const Snapshot& snapshot, SnapshotSink& sink);

/// A Snapshot in memory (tests, and callers that need the content rather than a file).
class SnapshotBuilder final : public SnapshotSink {
  public:
    void begin(uint64_t created_unix_ms) override;
    void add_model(std::string_view name) override;
    void add_warm_model(std::string_view name) override;
    void begin_section(std::string_view slot, std::string_view schema) override;
    bool append_section_data(std::string_view bytes) override;
    void end_section() override;
    void discard_section() override;

    /// The snapshot built so far; the builder is empty afterwards.
    Snapshot take();

  private:
    Snapshot snapshot_;
    bool section_open_ = false;
};

/// Streams a snapshot into a new file, then publishes it atomically (fsync, rename, fsync of the folder). What a
/// crash at any point leaves: the old target or the complete new one, and maybe the temporary file (which
/// StateStore removes at start). Destroying a writer that was not committed removes its temporary file.
class SnapshotFileWriter final : public SnapshotSink {
  public:
    /// Size of the write buffer, the writer's whole memory.
    static constexpr std::size_t kBufferBytes = 64 * 1024;

    /// Creates `temporary` (which must not exist; O_EXCL). Throws std::system_error.
    explicit SnapshotFileWriter(std::filesystem::path temporary);
    ~SnapshotFileWriter() override;
    SnapshotFileWriter(const SnapshotFileWriter&) = delete;
    SnapshotFileWriter& operator=(const SnapshotFileWriter&) = delete;

    void begin(uint64_t created_unix_ms) override;
    void add_model(std::string_view name) override;
    void add_warm_model(std::string_view name) override;
    void begin_section(std::string_view slot, std::string_view schema) override;
    bool append_section_data(std::string_view bytes) override;
    void end_section() override;
    void discard_section() override;

    /// Completes the file (counts, header with both CRCs, fsync) and renames it onto `target`, then syncs the
    /// folder. Throws std::system_error, also for a write that failed earlier during the capture (the temporary
    /// file is removed; `target` is untouched).
    void commit(const std::filesystem::path& target);

    [[nodiscard]] uint64_t created_unix_ms() const noexcept { return created_unix_ms_; }
    [[nodiscard]] uint32_t model_count() const noexcept { return models_; }
    [[nodiscard]] uint32_t warm_model_count() const noexcept { return warm_models_; }
    [[nodiscard]] uint32_t section_count() const noexcept { return sections_; }
    /// Bytes of the file so far (header included).
    [[nodiscard]] uint64_t size() const noexcept { return flushed_ + buffer_.size(); }

  private:
    enum class Phase { Created, Models, WarmModels, Sections, InSection, Committed };

    void expect(Phase phase, std::string_view call) const;
    void enter_warm_models();  // from Models: fills in the model count
    void enter_sections();     // from Models or WarmModels: fills in the warm count
    void put(std::string_view bytes);
    void put_u32(uint32_t value);
    void put_u64(uint64_t value);
    /// Overwrites `width` bytes at file offset `at` (in the buffer or already in the file).
    void patch(uint64_t at, uint64_t value, int width);
    void flush();
    void fail(const char* what);
    void remove_temporary() noexcept;
    /// Removes the temporary file and throws `error`.
    [[noreturn]] void abandon(const std::system_error& error);

    std::filesystem::path temporary_;
    int fd_ = -1;
    Phase phase_ = Phase::Created;
    std::string buffer_;     // bytes after `flushed_`, not yet written
    uint64_t flushed_ = 0;   // file bytes written
    std::error_code error_;  // the first write error; later writes are skipped
    std::string error_what_;
    uint64_t created_unix_ms_ = 0;
    uint32_t models_ = 0;
    uint32_t warm_models_ = 0;
    uint32_t sections_ = 0;
    uint64_t warm_count_at_ = 0;      // file offset of the warm model count
    uint64_t section_count_at_ = 0;   // file offset of the section count
    uint64_t section_start_ = 0;      // file offset of the open section
    uint64_t section_length_at_ = 0;  // file offset of its data length
};

}  // namespace warmup::host
