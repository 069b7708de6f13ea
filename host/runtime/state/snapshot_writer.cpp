// runtime/state/snapshot_writer.cpp — see snapshot_writer.hpp: the in-memory builder and the streaming file writer
// (one 64 KiB buffer, placeholders filled in at the end, the payload CRC read back before the header is written).
#include "runtime/state/snapshot_writer.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/crc.hpp>
#include <cerrno>
#include <stdexcept>

#include "core/file_io.hpp"

namespace warmup::host {
namespace {

// Offsets in the file (snapshot.hpp): the payload starts after the header with created_unix_ms, then the model count.
constexpr uint64_t kModelCountOffset = kSnapshotHeaderBytes + 8;

void append_le(std::string& out, uint64_t value, int width) {
    for (int i = 0; i < width; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

}  // namespace

void write_snapshot_to(const Snapshot& snapshot, SnapshotSink& sink) {
    sink.begin(snapshot.created_unix_ms);
    for (const auto& name : snapshot.models) sink.add_model(name);
    for (const auto& name : snapshot.warm_models) sink.add_warm_model(name);
    for (const auto& section : snapshot.sections) sink.add_section(section.slot, section.schema, section.data);
}

// ------------------------------------------------------------------------------------------------ SnapshotBuilder

void SnapshotBuilder::begin(uint64_t created_unix_ms) { snapshot_.created_unix_ms = created_unix_ms; }

void SnapshotBuilder::add_model(std::string_view name) {
    if (!snapshot_.warm_models.empty() || !snapshot_.sections.empty())
        throw std::logic_error("SnapshotBuilder: a model after the warm models or sections");
    snapshot_.models.emplace_back(name);
}

void SnapshotBuilder::add_warm_model(std::string_view name) {
    if (!snapshot_.sections.empty()) throw std::logic_error("SnapshotBuilder: a warm model after a section");
    snapshot_.warm_models.emplace_back(name);
}

void SnapshotBuilder::begin_section(std::string_view slot, std::string_view schema) {
    if (section_open_) throw std::logic_error("SnapshotBuilder: begin_section inside a section");
    snapshot_.sections.push_back({std::string(slot), std::string(schema), {}});
    section_open_ = true;
}

bool SnapshotBuilder::append_section_data(std::string_view bytes) {
    if (!section_open_) throw std::logic_error("SnapshotBuilder: section data outside a section");
    snapshot_.sections.back().data.append(bytes);
    return true;
}

void SnapshotBuilder::end_section() {
    if (!section_open_) throw std::logic_error("SnapshotBuilder: end_section outside a section");
    section_open_ = false;
}

void SnapshotBuilder::discard_section() {
    if (!section_open_) throw std::logic_error("SnapshotBuilder: discard_section outside a section");
    snapshot_.sections.pop_back();
    section_open_ = false;
}

Snapshot SnapshotBuilder::take() {
    Snapshot taken = std::move(snapshot_);
    snapshot_ = Snapshot{};
    section_open_ = false;
    return taken;
}

// --------------------------------------------------------------------------------------------- SnapshotFileWriter

SnapshotFileWriter::SnapshotFileWriter(std::filesystem::path temporary) : temporary_(std::move(temporary)) {
    // Read back for the CRC at commit, hence read-write.
    fd_ = ::open(temporary_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) throw io_error("cannot create", temporary_);
    buffer_.reserve(kBufferBytes);
    buffer_.append(kSnapshotHeaderBytes, '\0');  // the header, written at commit
}

SnapshotFileWriter::~SnapshotFileWriter() {
    if (phase_ != Phase::Committed) remove_temporary();
}

void SnapshotFileWriter::remove_temporary() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ::unlink(temporary_.c_str());
}

void SnapshotFileWriter::expect(Phase phase, std::string_view call) const {
    if (phase_ != phase) throw std::logic_error(fmt::format("SnapshotFileWriter: {} out of order", call));
}

void SnapshotFileWriter::begin(uint64_t created_unix_ms) {
    expect(Phase::Created, "begin");
    created_unix_ms_ = created_unix_ms;
    put_u64(created_unix_ms);
    put_u32(0);  // model count, filled in when the model list ends
    phase_ = Phase::Models;
}

void SnapshotFileWriter::add_model(std::string_view name) {
    expect(Phase::Models, "add_model");
    put_u32(static_cast<uint32_t>(name.size()));
    put(name);
    ++models_;
}

void SnapshotFileWriter::enter_warm_models() {
    patch(kModelCountOffset, models_, 4);
    warm_count_at_ = size();
    put_u32(0);
    phase_ = Phase::WarmModels;
}

void SnapshotFileWriter::add_warm_model(std::string_view name) {
    if (phase_ == Phase::Models) enter_warm_models();
    expect(Phase::WarmModels, "add_warm_model");
    put_u32(static_cast<uint32_t>(name.size()));
    put(name);
    ++warm_models_;
}

void SnapshotFileWriter::enter_sections() {
    if (phase_ == Phase::Models) enter_warm_models();
    expect(Phase::WarmModels, "a section");
    patch(warm_count_at_, warm_models_, 4);
    section_count_at_ = size();
    put_u32(0);
    phase_ = Phase::Sections;
}

void SnapshotFileWriter::begin_section(std::string_view slot, std::string_view schema) {
    if (phase_ == Phase::Models || phase_ == Phase::WarmModels) enter_sections();
    expect(Phase::Sections, "begin_section");
    section_start_ = size();
    put_u32(static_cast<uint32_t>(slot.size()));
    put(slot);
    put_u32(static_cast<uint32_t>(schema.size()));
    put(schema);
    section_length_at_ = size();
    put_u64(0);  // the data length, filled in by end_section
    phase_ = Phase::InSection;
}

bool SnapshotFileWriter::append_section_data(std::string_view bytes) {
    expect(Phase::InSection, "append_section_data");
    put(bytes);
    return !error_;
}

void SnapshotFileWriter::end_section() {
    expect(Phase::InSection, "end_section");
    patch(section_length_at_, size() - section_length_at_ - 8, 8);
    ++sections_;
    phase_ = Phase::Sections;
}

void SnapshotFileWriter::discard_section() {
    expect(Phase::InSection, "discard_section");
    if (section_start_ >= flushed_) {
        buffer_.resize(static_cast<std::size_t>(section_start_ - flushed_));
    } else {
        buffer_.clear();
        flushed_ = section_start_;
        if (!error_ && ::ftruncate(fd_, static_cast<off_t>(section_start_)) != 0) fail("cannot truncate");
    }
    phase_ = Phase::Sections;
}

void SnapshotFileWriter::put(std::string_view bytes) {
    if (error_) return;  // the file is lost; keep the capture going cheaply, commit reports the error
    while (!bytes.empty()) {
        const std::size_t room = kBufferBytes - buffer_.size();
        const std::size_t take = std::min(room, bytes.size());
        buffer_.append(bytes.substr(0, take));
        bytes.remove_prefix(take);
        if (buffer_.size() == kBufferBytes) flush();
        if (error_) return;
    }
}

void SnapshotFileWriter::put_u32(uint32_t value) {
    char bytes[4];
    for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
    put({bytes, sizeof bytes});
}

void SnapshotFileWriter::put_u64(uint64_t value) {
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
    put({bytes, sizeof bytes});
}

void SnapshotFileWriter::patch(uint64_t at, uint64_t value, int width) {
    if (error_) return;
    std::string bytes;
    append_le(bytes, value, width);
    if (at >= flushed_) {
        buffer_.replace(static_cast<std::size_t>(at - flushed_), bytes.size(), bytes);
        return;
    }
    // Possibly split between the file and the buffer.
    const auto in_file = static_cast<std::size_t>(std::min<uint64_t>(bytes.size(), flushed_ - at));
    ssize_t n = 0;
    do {
        n = ::pwrite(fd_, bytes.data(), in_file, static_cast<off_t>(at));
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(in_file)) {
        if (n >= 0) errno = EIO;  // a short write sets no errno; it must still count as a failure
        fail("cannot write");
        return;
    }
    if (in_file < bytes.size()) buffer_.replace(0, bytes.size() - in_file, bytes.substr(in_file));
}

void SnapshotFileWriter::flush() {
    std::size_t written = 0;
    while (written < buffer_.size()) {
        const ssize_t n =
            ::pwrite(fd_, buffer_.data() + written, buffer_.size() - written, static_cast<off_t>(flushed_ + written));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = EIO;
            fail("cannot write");
            return;
        }
        written += static_cast<std::size_t>(n);
    }
    flushed_ += written;
    buffer_.clear();
}

void SnapshotFileWriter::fail(const char* what) {
    if (error_) return;
    // errno 0 would make an error_code that tests as "no error" and the failure would be lost.
    error_ = std::error_code(errno != 0 ? errno : EIO, std::generic_category());
    error_what_ = fmt::format("{} {}", what, temporary_.string());
}

void SnapshotFileWriter::abandon(const std::system_error& error) {
    remove_temporary();
    throw error;
}

void SnapshotFileWriter::commit(const std::filesystem::path& target) {
    if (phase_ == Phase::Created) throw std::logic_error("SnapshotFileWriter: commit before begin");
    if (phase_ == Phase::InSection) throw std::logic_error("SnapshotFileWriter: commit inside a section");
    if (phase_ == Phase::Committed) throw std::logic_error("SnapshotFileWriter: committed twice");
    if (phase_ != Phase::Sections) enter_sections();
    patch(section_count_at_, sections_, 4);
    flush();
    if (error_) abandon(std::system_error(error_, error_what_));

    // The payload CRC, read back in buffer-sized pieces (the lengths filled in after their data rule out a running
    // CRC while writing).
    boost::crc_32_type crc;
    buffer_.resize(kBufferBytes);
    for (uint64_t at = kSnapshotHeaderBytes; at < flushed_;) {
        const auto want = static_cast<std::size_t>(std::min<uint64_t>(kBufferBytes, flushed_ - at));
        const ssize_t n = ::pread(fd_, buffer_.data(), want, static_cast<off_t>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = EIO;
            abandon(io_error("cannot read back", temporary_));
        }
        crc.process_bytes(buffer_.data(), static_cast<std::size_t>(n));
        at += static_cast<uint64_t>(n);
    }
    buffer_.clear();
    const std::string header = encode_snapshot_header(flushed_ - kSnapshotHeaderBytes, crc.checksum());
    if (::pwrite(fd_, header.data(), header.size(), 0) != static_cast<ssize_t>(header.size()))
        abandon(io_error("cannot write", temporary_));
    if (::fsync(fd_) != 0) abandon(io_error("cannot fsync", temporary_));
    const int closed = ::close(fd_);
    fd_ = -1;
    if (closed != 0) abandon(io_error("cannot close", temporary_));
    if (::rename(temporary_.c_str(), target.c_str()) != 0)
        abandon(io_error("cannot rename onto " + target.string() + " from", temporary_));
    phase_ = Phase::Committed;
    // The rename is durable only once the folder's entry is on disk.
    sync_folder(target.has_parent_path() ? target.parent_path() : std::filesystem::path("."));
}

}  // namespace warmup::host
