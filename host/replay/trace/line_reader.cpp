// replay/trace/line_reader.cpp — see line_reader.hpp.
#include "replay/trace/line_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace warmup::host::replay {

LineReader::LineReader(const std::filesystem::path& path, std::string source, std::size_t buffer_bytes)
    : source_(std::move(source)), buffer_(std::max<std::size_t>(buffer_bytes, 4096)) {
    file_.reset(std::fopen(path.c_str(), "rb"));
    if (!file_) throw TraceError(source_, 0, fmt::format("cannot open: {}", std::strerror(errno)));
}

bool LineReader::next(std::string_view& line) {
    for (;;) {
        const char* start = buffer_.data() + begin_;
        const std::size_t available = end_ - begin_;
        if (const void* newline = std::memchr(start, '\n', available)) {
            std::size_t length = static_cast<const char*>(newline) - start;
            begin_ += length + 1;
            if (length > 0 && start[length - 1] == '\r') --length;
            line = std::string_view(start, length);
            ++line_number_;
            return true;
        }
        if (at_eof_) {
            if (available == 0) return false;
            std::size_t length = available;  // a last line without a newline
            if (start[length - 1] == '\r') --length;
            begin_ = end_;
            line = std::string_view(start, length);
            ++line_number_;
            return true;
        }
        refill();
    }
}

void LineReader::refill() {
    // Keep the partial line at the front; grow only when one line is longer than the whole buffer.
    if (begin_ > 0) {
        std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
    const std::size_t read = std::fread(buffer_.data() + end_, 1, buffer_.size() - end_, file_.get());
    if (read == 0) {
        if (std::ferror(file_.get())) {
            throw TraceError(source_, line_number_ + 1, fmt::format("read error: {}", std::strerror(errno)));
        }
        at_eof_ = true;
    }
    end_ += read;
}

void LineReader::fail(const std::string& reason) const { throw TraceError(source_, line_number_, reason); }

std::size_t split_fields(std::string_view line, std::span<std::string_view> fields) noexcept {
    std::size_t count = 0;
    std::size_t position = 0;
    for (;;) {
        const std::size_t comma = line.find(',', position);
        if (count == fields.size()) return count + 1;
        if (comma == std::string_view::npos) {
            fields[count++] = line.substr(position);
            return count;
        }
        fields[count++] = line.substr(position, comma - position);
        position = comma + 1;
    }
}

}  // namespace warmup::host::replay
