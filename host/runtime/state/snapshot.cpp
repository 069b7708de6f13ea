// runtime/state/snapshot.cpp — the snapshot file format (see snapshot.hpp): encoding, the bounds-checked decoder that
// names the first problem, and atomic file writes. CRC-32 is Boost.CRC's crc_32_type. Pure functions, any thread.
#include "runtime/state/snapshot.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/crc.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

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

/// Bounds-checked reader of the payload; every failure names what it was reading and where.
class PayloadReader {
  public:
    explicit PayloadReader(std::string_view payload) : payload_(payload) {}

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

    [[nodiscard]] std::size_t remaining() const { return payload_.size() - at_; }

  private:
    uint64_t fixed(std::string_view what, int width) {
        if (remaining() < static_cast<std::size_t>(width))
            fail(fmt::format("{} needs {} bytes at offset {}, {} left", what, width, at_, remaining()));
        const uint64_t value = get_le(payload_, at_, width);
        at_ += static_cast<std::size_t>(width);
        return value;
    }
    std::string bytes(std::string_view what, uint64_t length) {
        if (length > remaining())
            fail(fmt::format("{} of {} bytes at offset {} overruns the payload ({} left)", what, length, at_,
                             remaining()));
        std::string out(payload_.substr(at_, static_cast<std::size_t>(length)));
        at_ += static_cast<std::size_t>(length);
        return out;
    }
    [[noreturn]] static void fail(const std::string& message) { throw SnapshotError("malformed payload: " + message); }

    std::string_view payload_;
    std::size_t at_ = 0;
};

std::system_error io_error(const std::string& what, const std::filesystem::path& path) {
    return {errno, std::generic_category(), fmt::format("{} {}", what, path.string())};
}

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
    std::string header;
    header.append(kMagic);
    put_u32(header, kSnapshotFormatVersion);
    put_u32(header, 0);
    put_u64(header, payload.size());
    put_u32(header, crc32(payload));
    put_u32(header, crc32(header));
    file.replace(0, kSnapshotHeaderBytes, header);
    return file;
}

Snapshot decode_snapshot(std::string_view bytes) {
    if (bytes.size() < kSnapshotHeaderBytes) {
        if (bytes.size() >= kMagic.size() && bytes.substr(0, kMagic.size()) != kMagic)
            throw SnapshotError("not a warmup snapshot (bad magic)");
        throw SnapshotError(fmt::format("truncated: header has {} of {} bytes", bytes.size(), kSnapshotHeaderBytes));
    }
    if (bytes.substr(0, kMagic.size()) != kMagic) throw SnapshotError("not a warmup snapshot (bad magic)");
    const auto header_crc = static_cast<uint32_t>(get_le(bytes, 28, 4));
    if (crc32(bytes.substr(0, 28)) != header_crc) throw SnapshotError("corrupt header: header checksum mismatch");
    const auto version = static_cast<uint32_t>(get_le(bytes, 8, 4));
    if (version != kSnapshotFormatVersion)
        throw SnapshotError(
            fmt::format("unsupported format version {} (this reader knows {})", version, kSnapshotFormatVersion));
    if (get_le(bytes, 12, 4) != 0) throw SnapshotError("unsupported flags in the header");
    const uint64_t payload_length = get_le(bytes, 16, 8);
    const uint64_t have = bytes.size() - kSnapshotHeaderBytes;
    if (have < payload_length)
        throw SnapshotError(fmt::format("truncated: payload has {} of {} bytes", have, payload_length));
    if (have > payload_length)
        throw SnapshotError(fmt::format("{} unexpected bytes after the payload", have - payload_length));
    const std::string_view payload = bytes.substr(kSnapshotHeaderBytes);
    if (crc32(payload) != static_cast<uint32_t>(get_le(bytes, 24, 4)))
        throw SnapshotError("corrupt payload: checksum mismatch");

    PayloadReader reader(payload);
    Snapshot snapshot;
    snapshot.created_unix_ms = reader.u64("created time");
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
    return snapshot;
}

Snapshot read_snapshot_file(const std::filesystem::path& file) {
    std::ifstream stream(file, std::ios::binary);
    if (!stream) throw SnapshotError(fmt::format("cannot open: {}", std::strerror(errno)));
    std::ostringstream text;
    text << stream.rdbuf();
    if (stream.bad()) throw SnapshotError("cannot read the file");
    return decode_snapshot(text.str());
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
    std::size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("cannot write");
        written += static_cast<std::size_t>(n);
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
    // The rename is durable only once the folder's entry is on disk.
    const int dir_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) throw io_error("cannot open the folder", folder);
    const int synced = ::fsync(dir_fd);
    ::close(dir_fd);
    if (synced != 0) throw io_error("cannot fsync the folder", folder);
}

}  // namespace warmup::host
