// cluster/outbox_file.cpp — the outbox on disk; see outbox_file.hpp.
#include "cluster/outbox_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>

#include "core/file_io.hpp"
#include "runtime/state/snapshot.hpp"

namespace warmup::host::cluster {
namespace {

/// The event of one line's JSON text, or false when it does not decode.
bool decode_event(std::string_view text, OutboxEvent& event) {
    const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
    if (!parsed.is_array() || parsed.size() != 5 || !parsed[0].is_string() || !parsed[1].is_number_integer() ||
        !parsed[2].is_number_unsigned() || !parsed[3].is_number_unsigned() || !parsed[4].is_number_unsigned())
        return false;
    const auto count = parsed[2].get<uint64_t>();
    const auto tenant = parsed[3].get<uint64_t>();
    const auto applied = parsed[4].get<uint64_t>();
    if (count == 0 || count > UINT32_MAX || tenant > UINT32_MAX || applied > 1) return false;
    event.model = parsed[0].get<std::string>();
    event.ts_ms = parsed[1].get<int64_t>();
    event.count = static_cast<uint32_t>(count);
    event.tenant_hash = static_cast<uint32_t>(tenant);
    event.applied_here = applied == 1;
    return !event.model.empty();
}

}  // namespace

std::string encode_outbox_line(const OutboxEvent& event) {
    const std::string text =
        nlohmann::json::array({event.model, event.ts_ms, event.count, event.tenant_hash, event.applied_here ? 1 : 0})
            .dump();
    return fmt::format("{:08x} {}\n", crc32(text), text);
}

OutboxReadResult read_outbox_file(const std::filesystem::path& file) {
    OutboxReadResult result;
    FileContent read = read_file(file, FileKind::regular_only);
    if (read.missing()) return result;
    if (!read.read()) throw std::runtime_error(fmt::format("cannot read {}: {}", file.string(), read.problem()));
    result.found = true;
    const std::string content = std::move(read.bytes);
    if (!content.starts_with(kOutboxHeader)) {
        result.problem = content.empty() ? "the file is empty (no header)"
                                         : fmt::format("the header is not \"{}\" (another format, or damaged)",
                                                       kOutboxHeader.substr(0, kOutboxHeader.size() - 1));
        return result;
    }
    std::vector<std::string> problems;
    std::size_t line_number = 1;
    for (std::size_t at = kOutboxHeader.size(); at < content.size();) {
        ++line_number;
        const std::size_t end = content.find('\n', at);
        if (end == std::string::npos) {
            ++result.bad_lines;
            problems.push_back(fmt::format("line {}: torn ({} bytes without a newline: a write cut short)", line_number,
                                           content.size() - at));
            break;
        }
        const std::string_view line(content.data() + at, end - at);
        at = end + 1;
        uint32_t stored = 0;
        OutboxEvent event;
        if (line.size() < 10 || line[8] != ' ' ||
            std::from_chars(line.data(), line.data() + 8, stored, 16).ptr != line.data() + 8) {
            ++result.bad_lines;
            problems.push_back(fmt::format("line {}: no CRC", line_number));
            continue;
        }
        const std::string_view text = line.substr(9);
        if (crc32(text) != stored) {
            ++result.bad_lines;
            problems.push_back(fmt::format("line {}: CRC mismatch", line_number));
            continue;
        }
        if (!decode_event(text, event)) {
            ++result.bad_lines;
            problems.push_back(fmt::format("line {}: not an event", line_number));
            continue;
        }
        result.events.push_back(std::move(event));
    }
    if (!problems.empty()) {
        // The first few: a file of garbage has as many problems as lines.
        std::string text = fmt::format("{} line(s) left out", result.bad_lines);
        for (std::size_t i = 0; i < std::min<std::size_t>(problems.size(), 3); ++i)
            text += (i ? ", " : ": ") + problems[i];
        if (problems.size() > 3) text += ", ...";
        result.problem = std::move(text);
    }
    return result;
}

OutboxFile::~OutboxFile() { close_file(); }

void OutboxFile::close_file() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void OutboxFile::append(std::span<const OutboxEvent> events) {
    if (needs_rewrite()) throw std::logic_error("OutboxFile::append before rewrite: " + file_.string());
    if (events.empty()) return;
    std::string bytes;
    for (const OutboxEvent& event : events) bytes += encode_outbox_line(event);
    std::size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t n = ::write(fd_, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            broken_ = true;  // a part may be in the file: only a rewrite makes it whole again
            throw io_error("cannot append to", file_);
        }
        written += static_cast<std::size_t>(n);
    }
    if (::fdatasync(fd_) != 0) {
        broken_ = true;
        throw io_error("cannot fdatasync", file_);
    }
    lines_ += events.size();
}

void OutboxFile::rewrite(std::span<const OutboxEvent> events) {
    std::string bytes(kOutboxHeader);
    for (const OutboxEvent& event : events) bytes += encode_outbox_line(event);
    close_file();
    broken_ = true;  // until the new file is in place and open
    write_file_atomically(file_, bytes);
    fd_ = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0) throw io_error("cannot open", file_);
    broken_ = false;
    lines_ = events.size();
}

void OutboxFile::clear() {
    if (needs_rewrite()) {
        rewrite({});
        return;
    }
    if (lines_ == 0) return;
    if (::ftruncate(fd_, static_cast<off_t>(kOutboxHeader.size())) != 0 || ::fdatasync(fd_) != 0) {
        broken_ = true;
        throw io_error("cannot cut back", file_);
    }
    lines_ = 0;
}

}  // namespace warmup::host::cluster
