// runtime/state/snapshot.hpp — the daemon's durable state: what a snapshot holds, its binary format, atomic files.
//
// File format (all integers little-endian, independent of the host's byte order):
//
//   header (32 bytes)
//     0  magic            8 bytes  "WUPSNAP\0"
//     8  format_version   u32      kSnapshotFormatVersion (a reader refuses any other)
//    12  flags            u32      0 (reserved; a reader refuses non-zero)
//    16  payload_length   u64      bytes after the header; the file is exactly 32 + payload_length long
//    24  payload_crc32    u32      CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of the payload
//    28  header_crc32     u32      CRC-32 of bytes 0..27 (a corrupt length is reported as such, not as truncation)
//   payload
//     created_unix_ms     u64
//     model_count         u32, then model_count strings: the catalog's model names by index 0..n-1
//     warm_count          u32, then warm_count strings: models that were ready or loading
//     section_count       u32, then per section: slot (string), schema (string), data (u64 length + bytes)
//   string = u32 length + bytes (no NUL)
//
// Plugin state bytes are private to their schema and keyed by model index; the model table is what lets a reader
// check that index i still names the same model before handing the bytes back to a plugin.
//
// Memory: the daemon never holds a whole file image. It writes a snapshot section by section through
// SnapshotFileWriter (snapshot_writer.hpp), and read_snapshot_file() checks the CRC in 64 KiB reads, then reads each
// field and section straight into the Snapshot it returns: what the reader holds is the decoded snapshot, once.
// encode_snapshot() and decode_snapshot() are the same format in memory (tests, fuzzing); the writer's files are
// byte-identical to encode_snapshot() of the same content.
//
// Thread-safety: pure functions; call from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace warmup::host {

inline constexpr uint32_t kSnapshotFormatVersion = 1;
inline constexpr std::size_t kSnapshotHeaderBytes = 32;

/// One component's exported state.
struct SnapshotSection {
    std::string slot;    ///< the YAML slot key ("analyzer", ...)
    std::string schema;  ///< the plugin's state schema, e.g. "org.warmup.state.usage-pattern/1"
    std::string data;    ///< export_state() bytes
    friend bool operator==(const SnapshotSection&, const SnapshotSection&) = default;
};

struct Snapshot {
    uint64_t created_unix_ms = 0;
    std::vector<std::string> models;       ///< catalog names, index i = model index i
    std::vector<std::string> warm_models;  ///< names of models ready (or loading) when the snapshot was taken
    std::vector<SnapshotSection> sections;
    friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

/// A file that is not a valid snapshot. what() is the reason, e.g. "truncated: payload has 10 of 200 bytes".
class SnapshotError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// CRC-32 (IEEE, reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF): crc32("123456789") = 0xCBF43926.
uint32_t crc32(std::string_view bytes) noexcept;

/// The file image of `snapshot`.
std::string encode_snapshot(const Snapshot& snapshot);

/// Parses a file image. Throws SnapshotError naming the first problem (truncated header, bad magic, unsupported
/// version, header checksum, truncated or oversized payload, payload checksum, malformed payload). Never returns a
/// partially read snapshot.
Snapshot decode_snapshot(std::string_view bytes);

/// Reads and decodes `file` as decode_snapshot() does (the same checks and messages), without a copy of the file
/// in memory: the payload CRC is checked in 64 KiB reads before anything is decoded, then the fields are read into
/// the result. I/O errors are SnapshotErrors too.
Snapshot read_snapshot_file(const std::filesystem::path& file);

/// The format version in the header of `file` when its magic and header checksum read (the payload is not checked);
/// nullopt when they do not (not a snapshot, damaged, unreadable). A version above kSnapshotFormatVersion is a file
/// written by a newer daemon: kept for it, never deleted by this one.
std::optional<uint32_t> snapshot_header_format(const std::filesystem::path& file);

/// The created_unix_ms of a valid snapshot `file`, after the same checks as read_snapshot_file() (the CRC in 64 KiB
/// reads), without decoding its sections. Throws SnapshotError.
uint64_t read_snapshot_created_unix_ms(const std::filesystem::path& file);

/// The 32-byte header of a payload of `payload_length` bytes whose CRC-32 is `payload_crc32` (layout above).
std::string encode_snapshot_header(uint64_t payload_length, uint32_t payload_crc32);

/// Writes `bytes` to `file` so that a crash at any point leaves either the old file or the complete new one:
/// a temporary file in the same folder ("<name>.tmp-<pid>"), fsync, rename over `file`, fsync of the folder.
/// Throws std::system_error (the temporary file is removed).
void write_file_atomically(const std::filesystem::path& file, std::string_view bytes);

}  // namespace warmup::host
