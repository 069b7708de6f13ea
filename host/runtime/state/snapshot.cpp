// runtime/state/snapshot.cpp — the snapshot file format (see snapshot.hpp): encoding, the bounds-checked decoder that
// names the first problem (one decoder for a file image in memory and for a file read in 64 KiB pieces), and atomic
// file writes. CRC-32 is Boost.CRC's crc_32_type. Pure functions, any thread.
#include "runtime/state/snapshot.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/crc.hpp>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "core/file_io.hpp"

namespace warmup::host {
namespace {

constexpr std::string_view kMagic{"WUPSNAP\0", 8};

void put_u32(std::string& out, uint32_t value) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}
void put_u64(std::string& out, uint64_t value) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}
void put_string(std::string& out, std::string_view text) {
    put_u32(out, static_cast<uint32_t>(text.size()));
    out.append(text);
}

uint64_t get_le(std::string_view bytes, std::size_t at, int width) {
    uint64_t value = 0;
    for (int i = 0; i < width; ++i)
        value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
    return value;
}

/// Payload bytes already in memory (decode_snapshot).
class MemorySource {
  public:
    explicit MemorySource(std::string_view bytes) : bytes_(bytes) {}
    /// Copies the next `size` bytes to `out`; the caller checked that they exist.
    void read(char* out, std::size_t size) {
        std::memcpy(out, bytes_.data() + at_, size);
        at_ += size;
    }

  private:
    std::string_view bytes_;
    std::size_t at_ = 0;
};

/// Sequential reads of an open file through a 64 KiB buffer (read_snapshot_file): a section's data goes straight from
/// the file into its string, so the reader never holds the file twice.
class FileSource {
  public:
    static constexpr std::size_t kBufferBytes = 64 * 1024;

    FileSource(int fd, uint64_t offset) : fd_(fd), offset_(offset) { buffer_.resize(kBufferBytes); }

    void read(char* out, std::size_t size) {
        while (size > 0) {
            if (begin_ == end_) {
                if (size >= kBufferBytes) {  // large: no detour through the buffer
                    fill(out, size);
                    return;
                }
                end_ = fill_some(buffer_.data(), kBufferBytes);
                begin_ = 0;
            }
            const std::size_t take = std::min(size, end_ - begin_);
            std::memcpy(out, buffer_.data() + begin_, take);
            begin_ += take;
            out += take;
            size -= take;
        }
    }

  private:
    void fill(char* out, std::size_t size) {
        while (size > 0) {
            const std::size_t got = fill_some(out, size);
            out += got;
            size -= got;
        }
    }
    /// At least one byte, at most `size`; throws SnapshotError at the end of the file or on a read error (the file
    /// shrank after its size was checked, or the disk failed).
    std::size_t fill_some(char* out, std::size_t size) {
        while (true) {
            const ssize_t n = ::pread(fd_, out, size, static_cast<off_t>(offset_));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw SnapshotError(fmt::format("cannot read: {}", std::strerror(errno)));
            if (n == 0) throw SnapshotError("cannot read: the file ended early (changed while it was read)");
            offset_ += static_cast<uint64_t>(n);
            return static_cast<std::size_t>(n);
        }
    }

    int fd_;
    uint64_t offset_;
    std::string buffer_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

/// Bounds-checked reader of the payload; every failure names what it was reading and where.
template <class Source>
class PayloadReader {
  public:
    PayloadReader(Source& source, uint64_t payload_length) : source_(source), length_(payload_length) {}

    uint32_t u32(std::string_view what) { return static_cast<uint32_t>(fixed(what, 4)); }
    uint64_t u64(std::string_view what) { return fixed(what, 8); }
    std::string string(std::string_view what) { return bytes(what, u32(what)); }
    std::string blob(std::string_view what) { return bytes(what, u64(what)); }

    /// A count of items each taking at least `min_item_bytes`: a count the rest cannot hold is refused before any
    /// allocation, so garbage cannot make the reader reserve gigabytes.
    uint32_t count(std::string_view what, std::size_t min_item_bytes) {
        const uint32_t n = u32(what);
        if (static_cast<uint64_t>(n) * min_item_bytes > remaining())
            fail(fmt::format("{} count {} does not fit in the {} remaining bytes", what, n, remaining()));
        return n;
    }

    [[nodiscard]] uint64_t remaining() const { return length_ - at_; }

  private:
    uint64_t fixed(std::string_view what, int width) {
        if (remaining() < static_cast<uint64_t>(width))
            fail(fmt::format("{} needs {} bytes at offset {}, {} left", what, width, at_, remaining()));
        char bytes[8];
        source_.read(bytes, static_cast<std::size_t>(width));
        at_ += static_cast<uint64_t>(width);
        return get_le({bytes, sizeof bytes}, 0, width);
    }
    std::string bytes(std::string_view what, uint64_t length) {
        if (length > remaining())
            fail(fmt::format("{} of {} bytes at offset {} overruns the payload ({} left)", what, length, at_,
                             remaining()));
        std::string out(static_cast<std::size_t>(length), '\0');
        source_.read(out.data(), out.size());
        at_ += length;
        return out;
    }
    [[noreturn]] static void fail(const std::string& message) { throw SnapshotError("malformed payload: " + message); }

    Source& source_;
    uint64_t length_;
    uint64_t at_ = 0;
};

/// Checks the header (the file's first min(32, size) bytes, `file_bytes` in all) in the order decode_snapshot
/// documents and returns the payload length.
uint64_t check_header(std::string_view header, uint64_t file_bytes) {
    if (header.size() < kSnapshotHeaderBytes) {
        if (header.size() >= kMagic.size() && header.substr(0, kMagic.size()) != kMagic)
            throw SnapshotError("not a warmup snapshot (bad magic)");
        throw SnapshotError(fmt::format("truncated: header has {} of {} bytes", header.size(), kSnapshotHeaderBytes));
    }
    if (header.substr(0, kMagic.size()) != kMagic) throw SnapshotError("not a warmup snapshot (bad magic)");
    const auto header_crc = static_cast<uint32_t>(get_le(header, 28, 4));
    if (crc32(header.substr(0, 28)) != header_crc) throw SnapshotError("corrupt header: header checksum mismatch");
    const auto version = static_cast<uint32_t>(get_le(header, 8, 4));
    if (version > kSnapshotFormatVersion)
        throw SnapshotError(fmt::format("written by a newer version (snapshot format {}; this daemon reads format {})",
                                        version, kSnapshotFormatVersion));
    if (version != kSnapshotFormatVersion)
        throw SnapshotError(
            fmt::format("unsupported format version {} (this reader knows {})", version, kSnapshotFormatVersion));
    if (get_le(header, 12, 4) != 0) throw SnapshotError("unsupported flags in the header");
    const uint64_t payload_length = get_le(header, 16, 8);
    const uint64_t have = file_bytes - kSnapshotHeaderBytes;
    if (have < payload_length)
        throw SnapshotError(fmt::format("truncated: payload has {} of {} bytes", have, payload_length));
    if (have > payload_length)
        throw SnapshotError(fmt::format("{} unexpected bytes after the payload", have - payload_length));
    return payload_length;
}

/// The payload after the created time (which the caller read), in the order of the format.
template <class Source>
void decode_rest(PayloadReader<Source>& reader, Snapshot& snapshot) {
    const uint32_t models = reader.count("model", 4);
    snapshot.models.reserve(models);
    for (uint32_t i = 0; i < models; ++i) snapshot.models.push_back(reader.string("model name"));
    const uint32_t warm = reader.count("warm model", 4);
    snapshot.warm_models.reserve(warm);
    for (uint32_t i = 0; i < warm; ++i) snapshot.warm_models.push_back(reader.string("warm model name"));
    const uint32_t sections = reader.count("section", 16);
    snapshot.sections.reserve(sections);
    for (uint32_t i = 0; i < sections; ++i) {
        SnapshotSection section;
        section.slot = reader.string("section slot");
        section.schema = reader.string("section schema");
        section.data = reader.blob("section data");
        snapshot.sections.push_back(std::move(section));
    }
    if (reader.remaining() != 0)
        throw SnapshotError(fmt::format("malformed payload: {} bytes left after the last section", reader.remaining()));
}

/// An open snapshot file whose header and payload CRC were checked.
class CheckedFile {
  public:
    explicit CheckedFile(const std::filesystem::path& file) {
        // A FIFO or a device named like a snapshot in the state folder is refused, not waited on.
        const OpenedRegularFile opened = open_regular_file(file);
        if (opened.fd < 0) throw SnapshotError(opened.problem);
        fd_ = opened.fd;
        try {
            const uint64_t file_bytes = opened.size;
            std::string header(std::min<uint64_t>(file_bytes, kSnapshotHeaderBytes), '\0');
            FileSource(fd_, 0).read(header.data(), header.size());
            payload_length_ = check_header(header, file_bytes);
            // The whole payload's CRC before any of it is decoded: a damaged file is refused as such, not as the
            // malformed field its damage happens to produce.
            boost::crc_32_type crc;
            FileSource payload(fd_, kSnapshotHeaderBytes);
            std::string chunk(FileSource::kBufferBytes, '\0');
            for (uint64_t left = payload_length_; left > 0;) {
                const auto take = static_cast<std::size_t>(std::min<uint64_t>(left, chunk.size()));
                payload.read(chunk.data(), take);
                crc.process_bytes(chunk.data(), take);
                left -= take;
            }
            if (crc.checksum() != static_cast<uint32_t>(get_le(header, 24, 4)))
                throw SnapshotError("corrupt payload: checksum mismatch");
        } catch (...) {
            ::close(fd_);
            throw;
        }
    }
    ~CheckedFile() { ::close(fd_); }
    CheckedFile(const CheckedFile&) = delete;
    CheckedFile& operator=(const CheckedFile&) = delete;

    [[nodiscard]] int fd() const noexcept { return fd_; }
    [[nodiscard]] uint64_t payload_length() const noexcept { return payload_length_; }

  private:
    int fd_ = -1;
    uint64_t payload_length_ = 0;
};

}  // namespace

uint32_t crc32(std::string_view bytes) noexcept {
    boost::crc_32_type crc;  // IEEE 802.3, reflected, init and final XOR 0xFFFFFFFF
    crc.process_bytes(bytes.data(), bytes.size());
    return crc.checksum();
}

std::string encode_snapshot(const Snapshot& snapshot) {
    // One buffer of the exact size, the payload written after room for the header: with 10 k models the sections are
    // megabytes, and a payload built apart then copied behind the header held up to three copies of them at once.
    std::size_t payload_bytes = 8 + 4 + 4 + 4;
    for (const auto& name : snapshot.models) payload_bytes += 4 + name.size();
    for (const auto& name : snapshot.warm_models) payload_bytes += 4 + name.size();
    for (const auto& section : snapshot.sections)
        payload_bytes += 4 + section.slot.size() + 4 + section.schema.size() + 8 + section.data.size();

    std::string file;
    file.reserve(kSnapshotHeaderBytes + payload_bytes);
    file.append(kSnapshotHeaderBytes, '\0');
    put_u64(file, snapshot.created_unix_ms);
    put_u32(file, static_cast<uint32_t>(snapshot.models.size()));
    for (const auto& name : snapshot.models) put_string(file, name);
    put_u32(file, static_cast<uint32_t>(snapshot.warm_models.size()));
    for (const auto& name : snapshot.warm_models) put_string(file, name);
    put_u32(file, static_cast<uint32_t>(snapshot.sections.size()));
    for (const auto& section : snapshot.sections) {
        put_string(file, section.slot);
        put_string(file, section.schema);
        put_u64(file, section.data.size());
        file += section.data;
    }

    const std::string_view payload = std::string_view(file).substr(kSnapshotHeaderBytes);
    file.replace(0, kSnapshotHeaderBytes, encode_snapshot_header(payload.size(), crc32(payload)));
    return file;
}

std::string encode_snapshot_header(uint64_t payload_length, uint32_t payload_crc32) {
    std::string header;
    header.reserve(kSnapshotHeaderBytes);
    header.append(kMagic);
    put_u32(header, kSnapshotFormatVersion);
    put_u32(header, 0);
    put_u64(header, payload_length);
    put_u32(header, payload_crc32);
    put_u32(header, crc32(header));
    return header;
}

Snapshot decode_snapshot(std::string_view bytes) {
    const uint64_t payload_length = check_header(bytes.substr(0, kSnapshotHeaderBytes), bytes.size());
    const std::string_view payload = bytes.substr(kSnapshotHeaderBytes);
    if (crc32(payload) != static_cast<uint32_t>(get_le(bytes, 24, 4)))
        throw SnapshotError("corrupt payload: checksum mismatch");
    MemorySource source(payload);
    PayloadReader reader(source, payload_length);
    Snapshot snapshot;
    snapshot.created_unix_ms = reader.u64("created time");
    decode_rest(reader, snapshot);
    return snapshot;
}

Snapshot read_snapshot_file(const std::filesystem::path& file) {
    const CheckedFile checked(file);
    FileSource source(checked.fd(), kSnapshotHeaderBytes);
    PayloadReader reader(source, checked.payload_length());
    Snapshot snapshot;
    snapshot.created_unix_ms = reader.u64("created time");
    decode_rest(reader, snapshot);
    return snapshot;
}

std::optional<uint32_t> snapshot_header_format(const std::filesystem::path& file) {
    std::string header(kSnapshotHeaderBytes, '\0');
    const OpenedRegularFile opened = open_regular_file(file);
    if (opened.fd < 0) return std::nullopt;
    bool whole = true;
    try {
        FileSource(opened.fd, 0).read(header.data(), header.size());
    } catch (const SnapshotError&) {
        whole = false;
    }
    ::close(opened.fd);
    if (!whole) return std::nullopt;
    if (header.substr(0, kMagic.size()) != kMagic) return std::nullopt;
    if (crc32(std::string_view(header).substr(0, 28)) != static_cast<uint32_t>(get_le(header, 28, 4)))
        return std::nullopt;
    return static_cast<uint32_t>(get_le(header, 8, 4));
}

uint64_t read_snapshot_created_unix_ms(const std::filesystem::path& file) {
    const CheckedFile checked(file);
    FileSource source(checked.fd(), kSnapshotHeaderBytes);
    PayloadReader reader(source, checked.payload_length());
    return reader.u64("created time");
}

void write_file_atomically(const std::filesystem::path& file, std::string_view bytes) {
    const std::filesystem::path folder = file.has_parent_path() ? file.parent_path() : ".";
    const std::filesystem::path temporary = folder / fmt::format(".{}.tmp-{}", file.filename().string(), ::getpid());
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw io_error("cannot create", temporary);
    auto fail = [&](const std::string& what) {
        const std::system_error error = io_error(what, temporary);
        ::close(fd);
        ::unlink(temporary.c_str());
        throw error;
    };
    try {
        write_all(fd, bytes, temporary);
    } catch (...) {
        ::close(fd);
        ::unlink(temporary.c_str());
        throw;
    }
    if (::fsync(fd) != 0) fail("cannot fsync");
    if (::close(fd) != 0) {
        const std::system_error error = io_error("cannot close", temporary);
        ::unlink(temporary.c_str());
        throw error;
    }
    if (::rename(temporary.c_str(), file.c_str()) != 0) {
        const std::system_error error = io_error("cannot rename onto " + file.string() + " from", temporary);
        ::unlink(temporary.c_str());
        throw error;
    }
    sync_folder(folder);  // the rename is durable only once the folder's entry is on disk
}

}  // namespace warmup::host
