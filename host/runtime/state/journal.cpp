// runtime/state/journal.cpp — the event journal (see journal.hpp): record encoding, the buffered writer, and the
// reader that stops at a torn or corrupt record.
#include "runtime/state/journal.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>
#include <unordered_map>

#include "core/file_io.hpp"

namespace warmup::host {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kMagic{"WUPJRNL\0", 8};
constexpr std::string_view kPrefix = "journal-";
constexpr std::string_view kExtension = ".wjournal";
// Largest written buffer kept for reuse: 0.5 s of ~100 k events/s. Steady traffic below that allocates nothing per
// flush; a larger buffer is freed (blocks of 256 KiB and more go back to the system at once, see warmupd.cpp).
constexpr std::size_t kMaxSpareBufferBytes = std::size_t{1} << 20;

enum RecordType : uint8_t { kModels = 1, kEvents = 2, kCheckpoint = 3 };
constexpr std::size_t kEventBytes = 8 + 4 + 4 + 4;

uint32_t checksum(const char* data, std::size_t size) { return crc32({data, size}); }

void put_u32(std::string& out, uint32_t value) {
    char bytes[4];
    for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
    out.append(bytes, 4);
}
void put_u64(std::string& out, uint64_t value) {
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
    out.append(bytes, 8);
}
void put_string(std::string& out, std::string_view text) {
    put_u32(out, static_cast<uint32_t>(text.size()));
    out.append(text);
}
/// Writes `value` little-endian at `cursor` and advances it (compiles to one store on little-endian hosts).
template <class Unsigned>
void store_le(char*& cursor, Unsigned value) {
    for (std::size_t i = 0; i < sizeof value; ++i) cursor[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
    cursor += sizeof value;
}
uint64_t get_le(std::string_view bytes, std::size_t at, int width) {
    uint64_t value = 0;
    for (int i = 0; i < width; ++i)
        value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
    return value;
}

/// Appends a record: reserves its 8-byte frame, lets `body` append the body, then fills in length and checksum.
template <class Body>
void append_record(std::string& out, RecordType type, Body&& body) {
    const std::size_t frame = out.size();
    out.append(8, '\0');
    out.push_back(static_cast<char>(type));
    body(out);
    const std::size_t length = out.size() - frame - 8;
    const uint32_t crc = checksum(out.data() + frame + 8, length);
    for (int i = 0; i < 4; ++i) {
        out[frame + i] = static_cast<char>((length >> (8 * i)) & 0xFF);
        out[frame + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
    }
}

std::string encode_header(uint64_t seq, uint64_t base_ms) {
    std::string header(kMagic);
    put_u32(header, kJournalFormatVersion);
    put_u32(header, 0);
    put_u64(header, seq);
    put_u64(header, base_ms);
    put_u32(header, checksum(header.data(), header.size()));
    return header;
}

std::optional<uint64_t> seq_of(const fs::path& file) {
    const std::string name = file.filename().string();
    if (!name.starts_with(kPrefix) || !name.ends_with(kExtension)) return std::nullopt;
    const std::string digits = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kExtension.size());
    if (digits.empty() || digits.size() > 19 || digits.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    return std::stoull(digits);
}

std::string read_whole(const fs::path& file) {
    FileContent content = read_file(file, FileKind::regular_only);
    if (content.failure == FileContent::Failure::cannot_open)
        throw SnapshotError(fmt::format("cannot open: {}", content.problem()));
    if (!content.read()) throw SnapshotError(content.problem());
    return std::move(content.bytes);
}

/// The header's base_ms after checking magic, version, flags and checksum; throws SnapshotError.
JournalSegment decode_header(std::string_view bytes, const fs::path& file) {
    if (bytes.size() < kJournalHeaderBytes)
        throw SnapshotError(fmt::format("truncated header: {} of {} bytes", bytes.size(), kJournalHeaderBytes));
    if (bytes.substr(0, kMagic.size()) != kMagic) throw SnapshotError("not a warmup journal (bad magic)");
    if (checksum(bytes.data(), kJournalHeaderBytes - 4) != static_cast<uint32_t>(get_le(bytes, 32, 4)))
        throw SnapshotError("corrupt header: header checksum mismatch");
    const auto version = static_cast<uint32_t>(get_le(bytes, 8, 4));
    if (version != kJournalFormatVersion)
        throw SnapshotError(
            fmt::format("unsupported journal version {} (this reader knows {})", version, kJournalFormatVersion));
    if (get_le(bytes, 12, 4) != 0) throw SnapshotError("unsupported flags in the header");
    return {file, get_le(bytes, 16, 8), get_le(bytes, 24, 8)};
}

/// Bounds-checked reader of one record body; a failure throws SnapshotError naming what did not fit.
class BodyReader {
  public:
    explicit BodyReader(std::string_view body) : body_(body) {}
    uint32_t u32(std::string_view what) { return static_cast<uint32_t>(fixed(what, 4)); }
    uint64_t u64(std::string_view what) { return fixed(what, 8); }
    std::string_view bytes(std::string_view what, uint64_t length) {
        if (length > remaining())
            throw SnapshotError(fmt::format("{} of {} bytes overruns the record ({} left)", what, length, remaining()));
        const std::string_view out = body_.substr(at_, static_cast<std::size_t>(length));
        at_ += static_cast<std::size_t>(length);
        return out;
    }
    std::string_view string(std::string_view what) { return bytes(what, u32(what)); }
    /// A count of items of at least `min_bytes` each that the rest of the record can hold.
    uint32_t count(std::string_view what, std::size_t min_bytes) {
        const uint32_t n = u32(what);
        if (static_cast<uint64_t>(n) * min_bytes > remaining())
            throw SnapshotError(fmt::format("{} count {} does not fit in the {} bytes left", what, n, remaining()));
        return n;
    }
    [[nodiscard]] std::size_t remaining() const { return body_.size() - at_; }

  private:
    uint64_t fixed(std::string_view what, int width) {
        if (remaining() < static_cast<std::size_t>(width))
            throw SnapshotError(fmt::format("{} needs {} bytes, {} left", what, width, remaining()));
        const uint64_t value = get_le(body_, at_, width);
        at_ += static_cast<std::size_t>(width);
        return value;
    }
    std::string_view body_;
    std::size_t at_ = 0;
};

}  // namespace

// ------------------------------------------------------------------------------------------------------------ reading

std::vector<JournalSegment> list_journal_segments(const fs::path& dir, std::vector<RefusedSnapshot>* refused) {
    std::vector<JournalSegment> segments;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir, error)) {
        if (!seq_of(entry.path())) continue;
        try {
            const OpenedRegularFile opened = open_regular_file(entry.path());  // a FIFO would block the start
            if (opened.fd < 0) throw SnapshotError(opened.problem);
            std::string header(kJournalHeaderBytes, '\0');
            ssize_t got = 0;
            do got = ::pread(opened.fd, header.data(), header.size(), 0);
            while (got < 0 && errno == EINTR);
            const int read_error = errno;
            ::close(opened.fd);
            if (got < 0) throw SnapshotError(fmt::format("cannot read: {}", std::strerror(read_error)));
            header.resize(static_cast<std::size_t>(got));  // a short header is refused as truncated
            segments.push_back(decode_header(header, entry.path()));
        } catch (const SnapshotError& failure) {
            if (refused != nullptr) refused->push_back({entry.path(), failure.what()});
        }
    }
    std::sort(segments.begin(), segments.end(),
              [](const JournalSegment& a, const JournalSegment& b) { return a.seq < b.seq; });
    return segments;
}

JournalReadResult read_journal_segment(const fs::path& file, const JournalVisitor& visitor) {
    const std::string bytes = read_whole(file);
    decode_header(bytes, file);
    JournalReadResult result;
    std::unordered_map<uint32_t, std::string> names;  // index -> model name, for this segment
    std::vector<JournalEvent> events;
    std::size_t at = kJournalHeaderBytes;
    const auto stop = [&](std::string reason) {
        result.torn = true;
        result.torn_offset = at;
        result.skipped_bytes = bytes.size() - at;
        result.torn_reason = std::move(reason);
    };
    while (at < bytes.size()) {
        const std::size_t left = bytes.size() - at;
        if (left < 8) {
            stop(fmt::format("record frame of {} of 8 bytes (torn write)", left));
            break;
        }
        const auto length = static_cast<uint32_t>(get_le(bytes, at, 4));
        const auto crc = static_cast<uint32_t>(get_le(bytes, at + 4, 4));
        if (length == 0 || length > kJournalMaxRecordBytes) {
            stop(fmt::format("record length {} out of range (corrupt frame)", length));
            break;
        }
        if (length > left - 8) {
            stop(fmt::format("record of {} bytes, {} left (torn write)", length, left - 8));
            break;
        }
        const std::string_view body = std::string_view(bytes).substr(at + 8, length);
        if (checksum(body.data(), body.size()) != crc) {
            stop(fmt::format("record of {} bytes fails its checksum (corrupt)", length));
            break;
        }
        try {
            BodyReader reader(body.substr(1));
            switch (static_cast<uint8_t>(body[0])) {
                case kModels: {
                    const uint32_t n = reader.count("model", 8);
                    for (uint32_t i = 0; i < n; ++i) {
                        const uint32_t index = reader.u32("model index");
                        names[index] = std::string(reader.string("model name"));
                    }
                    break;
                }
                case kEvents: {
                    const uint32_t n = reader.count("event", kEventBytes);
                    events.clear();
                    events.reserve(n);
                    for (uint32_t i = 0; i < n; ++i) {
                        JournalEvent event;
                        event.ts_ms = static_cast<int64_t>(reader.u64("ts_ms"));
                        const uint32_t index = reader.u32("model index");
                        event.count = reader.u32("count");
                        event.tenant_hash = reader.u32("tenant hash");
                        const auto name = names.find(index);
                        if (name == names.end())
                            throw SnapshotError(fmt::format("model index {} was never named in this segment", index));
                        event.model = name->second;
                        events.push_back(event);
                    }
                    if (reader.remaining() != 0) throw SnapshotError("bytes left after the events");
                    if (visitor.events) visitor.events(events);
                    result.events += n;
                    break;
                }
                case kCheckpoint: {
                    const uint32_t n = reader.count("section", 16);
                    std::vector<SnapshotSection> sections;
                    for (uint32_t i = 0; i < n; ++i) {
                        SnapshotSection section;
                        section.slot = std::string(reader.string("section slot"));
                        section.schema = std::string(reader.string("section schema"));
                        section.data = std::string(reader.bytes("section data", reader.u64("section length")));
                        sections.push_back(std::move(section));
                    }
                    if (reader.remaining() != 0) throw SnapshotError("bytes left after the sections");
                    if (visitor.checkpoint) visitor.checkpoint(std::move(sections));
                    ++result.checkpoints;
                    break;
                }
                default:
                    throw SnapshotError(fmt::format("unknown record type {}", static_cast<int>(body[0])));
            }
        } catch (const SnapshotError& failure) {
            stop(fmt::format("malformed record: {}", failure.what()));
            break;
        }
        ++result.records;
        at += 8 + length;
    }
    return result;
}

// ------------------------------------------------------------------------------------------------------------ writing

EventJournal::EventJournal(fs::path dir, uint64_t base_ms) : dir_(std::move(dir)), base_ms_(base_ms) {
    uint64_t highest = 0;
    for (const auto& entry : fs::directory_iterator(dir_))
        if (const auto seq = seq_of(entry.path())) highest = std::max(highest, *seq);
    seq_ = highest + 1;
}

EventJournal::~EventJournal() {
    if (fd_ >= 0) ::close(fd_);
}

std::string EventJournal::segment_name(uint64_t seq) { return fmt::format("{}{:016}{}", kPrefix, seq, kExtension); }

EventJournal::Chunk& EventJournal::current_chunk() {
    if (pending_.empty() || pending_.back().seq != seq_) {
        // A buffer written by an earlier flush keeps its capacity: steady traffic allocates nothing here, and the
        // allocator is not left with the large blocks of many threads' reallocations.
        std::string bytes;
        if (!spare_.empty()) {
            bytes = std::move(spare_.back());
            spare_.pop_back();
        }
        pending_.push_back({seq_, base_ms_, std::move(bytes), 0});
    }
    return pending_.back();
}

void EventJournal::append_events(std::span<const warmup_usage_event> events, const Catalog& catalog) {
    if (events.empty()) return;
    std::lock_guard lock(mutex_);
    Chunk& chunk = current_chunk();
    chunk.events += events.size();
    std::string& out = chunk.bytes;
    const std::size_t before = out.size();
    // Models this segment has not named yet, in one record before the events that use them.
    std::vector<warmup_model_index> unnamed;
    for (const auto& event : events) {
        if (event.model >= named_.size()) named_.resize(static_cast<std::size_t>(event.model) + 1, false);
        if (!named_[event.model]) {
            named_[event.model] = true;
            unnamed.push_back(event.model);
        }
    }
    if (!unnamed.empty())
        append_record(out, kModels, [&](std::string& body) {
            put_u32(body, static_cast<uint32_t>(unnamed.size()));
            for (const warmup_model_index model : unnamed) {
                put_u32(body, model);
                put_string(body, catalog.record(model).name);
            }
        });
    append_record(out, kEvents, [&](std::string& body) {
        // One resize (std::string grows geometrically), then fixed-width stores: this runs under the ingest lock.
        const std::size_t at = body.size();
        body.resize(at + 4 + events.size() * kEventBytes);
        char* cursor = body.data() + at;
        store_le(cursor, static_cast<uint32_t>(events.size()));
        for (const auto& event : events) {
            store_le(cursor, static_cast<uint64_t>(event.ts_ms));
            store_le(cursor, static_cast<uint32_t>(event.model));
            store_le(cursor, static_cast<uint32_t>(event.count == 0 ? 1 : event.count));
            store_le(cursor, static_cast<uint32_t>(event.tenant_hash));
        }
    });
    buffered_.fetch_add(out.size() - before, std::memory_order_relaxed);
    event_bytes_appended_.fetch_add(out.size() - before, std::memory_order_relaxed);
}

void EventJournal::append_checkpoint(std::span<const SnapshotSection> sections) {
    std::lock_guard lock(mutex_);
    std::string& out = current_chunk().bytes;
    const std::size_t before = out.size();
    append_record(out, kCheckpoint, [&](std::string& body) {
        put_u32(body, static_cast<uint32_t>(sections.size()));
        for (const auto& section : sections) {
            put_string(body, section.slot);
            put_string(body, section.schema);
            put_u64(body, section.data.size());
            body += section.data;
        }
    });
    buffered_.fetch_add(out.size() - before, std::memory_order_relaxed);
}

void EventJournal::rotate(uint64_t base_ms) {
    std::lock_guard lock(mutex_);
    ++seq_;
    base_ms_ = base_ms;
    named_.clear();
    current_chunk();  // the new segment is created at the next flush even if no event comes
}

uint64_t EventJournal::current_seq() const {
    std::lock_guard lock(mutex_);
    return seq_;
}

uint64_t EventJournal::unwritten_events() const {
    std::lock_guard lock(mutex_);
    uint64_t events = 0;
    for (const Chunk& chunk : pending_) events += chunk.events;
    return events;
}

uint64_t EventJournal::dropped_bytes() const {
    std::lock_guard lock(mutex_);
    return dropped_bytes_;
}

void EventJournal::flush() {
    std::lock_guard flushing(flush_mutex_);
    std::vector<Chunk> chunks;
    {
        std::lock_guard lock(mutex_);
        // After a segment was removed, its successor is made even with nothing to write (header only).
        if (pending_.empty() && segment_lost_) pending_.push_back({seq_, base_ms_, {}, 0});
        chunks.swap(pending_);  // buffered_ keeps counting them until they are written
    }
    // The size of every file this flush writes to, before it did: a failure takes each back to it, so that the same
    // records can be written again whole by the next flush (0: the file did not exist, or was empty).
    std::vector<std::pair<uint64_t, off_t>> sizes_before;
    bool file_removed = false;
    try {
        for (const Chunk& chunk : chunks) {
            const fs::path file = dir_ / segment_name(chunk.seq);
            if (fd_ < 0 || fd_seq_ != chunk.seq) {
                if (fd_ >= 0) {
                    const int synced = ::fdatasync(fd_);
                    ::close(fd_);
                    fd_ = -1;
                    if (synced != 0) throw io_error("cannot fdatasync", dir_ / segment_name(fd_seq_));
                }
                fd_ = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (fd_ < 0) throw io_error("cannot open", file);
                fd_seq_ = chunk.seq;
                struct stat info {};
                if (::fstat(fd_, &info) != 0) throw io_error("cannot stat", file);
                sizes_before.emplace_back(chunk.seq, info.st_size);
                if (info.st_size == 0) {
                    write_all(fd_, encode_header(chunk.seq, chunk.base_ms), file);
                    sync_folder(dir_);  // the new file's entry must survive a crash too
                }
            } else if (sizes_before.empty()) {  // the segment the previous flush left open
                struct stat info {};
                if (::fstat(fd_, &info) != 0) throw io_error("cannot stat", file);
                // Removed meanwhile (the state folder deleted or cleaned by hand): writes to the open descriptor
                // would succeed and reach no file. A failed write instead: events are refused until the file can
                // be made again.
                if (info.st_nlink == 0) {
                    file_removed = true;
                    throw std::system_error(ENOENT, std::generic_category(),
                                            "the journal segment " + file.string() + " was removed while open");
                }
                sizes_before.emplace_back(chunk.seq, info.st_size);
            }
            write_all(fd_, chunk.bytes, file);
        }
        if (fd_ >= 0 && ::fdatasync(fd_) != 0) throw io_error("cannot fdatasync", dir_ / segment_name(fd_seq_));
    } catch (const std::exception& error) {
        keep_after_failed_write(chunks, sizes_before, error.what(), file_removed);
        throw;
    }
    std::size_t written = 0;
    std::lock_guard lock(mutex_);
    for (Chunk& chunk : chunks) {
        written += chunk.bytes.size();
        // A buffer grown by a burst (a back-fill of history, megabytes in half a second) is let go rather than
        // kept for steady traffic that needs a fraction of it: two of them were up to 8 MiB of RSS for good.
        if (spare_.size() < 2 && chunk.bytes.capacity() <= kMaxSpareBufferBytes) {
            chunk.bytes.clear();
            spare_.push_back(std::move(chunk.bytes));
        }
    }
    buffered_.fetch_sub(written, std::memory_order_relaxed);
    write_failure_.clear();
    segment_lost_ = false;
    write_failing_.store(false, std::memory_order_relaxed);
}

void EventJournal::keep_after_failed_write(std::vector<Chunk>& chunks,
                                           const std::vector<std::pair<uint64_t, off_t>>& sizes_before,
                                           const std::string& reason, bool file_removed) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    // Each file back to its size before this flush: a partial record at its end would stop a reader there, and the
    // records the next flush writes again must not follow it. A file this flush created is removed.
    // A segment removed while open took the records that named its models with it: the kept ones could not be read
    // without them, so they go as if the file could not be taken back.
    bool taken_back = !file_removed;
    for (const auto& [seq, size] : sizes_before) {
        const fs::path file = dir_ / segment_name(seq);
        const int done = size == 0 ? ::unlink(file.c_str()) : ::truncate(file.c_str(), size);
        if (done != 0 && !(size == 0 && errno == ENOENT)) taken_back = false;
    }
    std::lock_guard lock(mutex_);
    write_failure_ = reason;
    write_failing_.store(true, std::memory_order_relaxed);
    if (taken_back) {
        // Kept, ahead of what was appended meanwhile (the same segment's records joined in order): the next flush
        // writes them again. The caller refuses new events while the journal is failing, so this stays bounded.
        if (!chunks.empty() && !pending_.empty() && chunks.back().seq == pending_.front().seq) {
            chunks.back().bytes += pending_.front().bytes;
            chunks.back().events += pending_.front().events;
            pending_.erase(pending_.begin());
        }
        pending_.insert(pending_.begin(), std::make_move_iterator(chunks.begin()),
                        std::make_move_iterator(chunks.end()));
        return;
    }
    // A file that cannot be taken back may end in a partial record (or is gone): what was not written is dropped, and
    // later records go to a new segment (same base), since the dropped ones may have named models the next records
    // use.
    segment_lost_ = segment_lost_ || file_removed;
    uint64_t lost = 0;
    for (const Chunk& chunk : chunks) lost += chunk.bytes.size();
    dropped_bytes_ += lost;
    buffered_.fetch_sub(lost, std::memory_order_relaxed);
    ++seq_;
    named_.clear();
}

std::string EventJournal::write_failure() const {
    std::lock_guard lock(mutex_);
    return write_failure_;
}

std::size_t EventJournal::prune(uint64_t oldest_needed_base_ms, int64_t retention_ms) {
    std::lock_guard flushing(flush_mutex_);
    const uint64_t current = current_seq();
    const auto segments = list_journal_segments(dir_);
    // The first segment a restart from the oldest needed state replays; everything before it is only history.
    uint64_t first_needed = current;
    for (const auto& segment : segments)
        if (segment.base_ms >= oldest_needed_base_ms) {
            first_needed = segment.seq;
            break;
        }
    const auto cutoff = fs::file_time_type::clock::now() - std::chrono::milliseconds(retention_ms);
    std::size_t deleted = 0;
    for (const auto& segment : segments) {
        if (segment.seq >= first_needed || segment.seq >= current) break;
        std::error_code error;
        const auto written = fs::last_write_time(segment.file, error);
        if (error || written >= cutoff) continue;
        if (fs::remove(segment.file, error)) ++deleted;
    }
    return deleted;
}

}  // namespace warmup::host
