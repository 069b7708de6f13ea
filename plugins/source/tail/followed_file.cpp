#include "followed_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <tuple>

namespace warmup::plugins {
namespace {

/// How much of a too-long line is shown in the message about it.
constexpr std::size_t kTooLongShownBytes = 120;

std::string error_text(int error) { return std::strerror(error); }

// Reads up to `size` bytes at `offset` (fewer at the end of the file). Throws on a read error.
std::string read_at(int fd, uint64_t offset, std::size_t size) {
    std::string bytes(size, '\0');
    std::size_t got = 0;
    while (got < size) {
        const ssize_t n = ::pread(fd, bytes.data() + got, size - got, static_cast<off_t>(offset + got));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error("read error: " + error_text(errno));
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    bytes.resize(got);
    return bytes;
}

uint64_t size_of(int fd) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw std::runtime_error("fstat failed: " + error_text(errno));
    return static_cast<uint64_t>(info.st_size);
}

}  // namespace

FollowedFile::FollowedFile(std::filesystem::path path, std::size_t max_line_bytes, bool start_at_end,
                           std::chrono::milliseconds rotation_grace)
    : path_(std::move(path)),
      max_line_bytes_(max_line_bytes),
      start_at_end_(start_at_end),
      rotation_grace_(rotation_grace) {}

FollowedFile::~FollowedFile() {
    if (fd_ >= 0) ::close(fd_);
}

void FollowedFile::restore(const FilePosition& saved) { saved_ = saved; }

std::optional<FilePosition> FollowedFile::position() const {
    if (fd_ < 0) return std::nullopt;
    return FilePosition{path_.string(), device_, inode_, offset_, head_, skipping_long_line_, tail_};
}

std::vector<std::string> FollowedFile::take_notes() { return std::exchange(notes_, {}); }

void FollowedFile::commit(uint64_t end_offset) {
    if (end_offset > offset_ && end_offset >= buffer_offset_ && end_offset <= buffer_offset_ + buffer_.size()) {
        // The last kTailBytes before the new offset: from this read's bytes, and the old tail when they are fewer.
        const std::size_t in_buffer = end_offset - buffer_offset_;
        const std::size_t from_buffer = std::min(in_buffer, kTailBytes);
        std::string tail = offset_ == buffer_offset_ && from_buffer < kTailBytes ? tail_ : std::string();
        tail.append(buffer_, in_buffer - from_buffer, from_buffer);
        if (tail.size() > kTailBytes) tail.erase(0, tail.size() - kTailBytes);
        tail_ = std::move(tail);
    }
    offset_ = std::max(offset_, end_offset);
    // A commit that ends inside a too-long line leaves the rest of that line to skip.
    skipping_long_line_ = std::find(mid_line_ends_.begin(), mid_line_ends_.end(), offset_) != mid_line_ends_.end();
}

void FollowedFile::open_at_path() {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int error = errno;
        // A file created after the first attempt holds nothing older than this reader: read it from its start. A file
        // that exists but cannot be opened yet (permission denied) holds its history: start_at still applies to it.
        if (first_open_ && error == ENOENT) missing_at_start_ = true;
        if (error == ENOENT) throw FileMissing("cannot open '" + path_.string() + "': " + error_text(error));
        throw std::runtime_error("cannot open '" + path_.string() + "': " + error_text(error));
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        const int error = errno;
        ::close(fd);
        throw std::runtime_error("cannot stat '" + path_.string() + "': " + error_text(error));
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    device_ = static_cast<uint64_t>(info.st_dev);
    inode_ = static_cast<uint64_t>(info.st_ino);
    const auto size = static_cast<uint64_t>(info.st_size);
    head_.clear();
    tail_.clear();
    skipping_long_line_ = false;
    offset_ = 0;
    rotated_file_size_.reset();
    if (!first_open_) {
        rotated_after_.clear();  // at the path again: no file rotated while stopped is left to read
        return;                  // a file that replaced a rotated one is read from its start
    }
    first_open_ = false;

    if (saved_ && saved_->path == path_.string()) {
        const bool same_file = saved_->device == device_ && saved_->inode == inode_ && size >= saved_->offset &&
                               read_at(fd_, 0, saved_->head.size()) == saved_->head &&
                               read_at(fd_, saved_->offset - saved_->tail.size(), saved_->tail.size()) == saved_->tail;
        if (same_file) {
            offset_ = saved_->offset;
            head_ = saved_->head;
            tail_ = saved_->tail;
            skipping_long_line_ = saved_->inside_long_line;
            notes_.push_back("resumed '" + path_.string() + "' at byte " + std::to_string(offset_));
        } else if (!resume_rotated_saved_file()) {
            notes_.push_back("'" + path_.string() +
                             "' is not the file of the saved position (rotated or rewritten while stopped): reading "
                             "it from its start");
        }
        return;
    }
    if (saved_)
        notes_.push_back("the saved position is for '" + saved_->path + "', not '" + path_.string() + "': not used");
    if (!start_at_end_ || missing_at_start_ || size == 0) return;
    // From the end: after the last complete line, so the line being written now is read once it is whole.
    const std::size_t window = std::min<uint64_t>(size, max_line_bytes_ + 1);
    const std::string tail = read_at(fd_, size - window, window);
    const auto last_newline = tail.rfind('\n');
    if (last_newline != std::string::npos) {
        offset_ = size - window + last_newline + 1;
    } else if (window < size || window > max_line_bytes_) {
        offset_ = size;  // inside a line too long to read anyway: skip to its end
        skipping_long_line_ = true;
    }
    notes_.push_back("started at the end of '" + path_.string() + "' (byte " + std::to_string(offset_) + ")");
}

namespace {

/// A name rotation gives the followed file: its name, then '.' or '-' and a suffix; not a compressed copy.
bool rotated_name(const std::string& name, const std::string& followed) {
    if (name.size() <= followed.size() + 1 || name.compare(0, followed.size(), followed) != 0 ||
        (name[followed.size()] != '.' && name[followed.size()] != '-'))
        return false;
    for (const std::string_view compressed : {".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z"})
        if (name.ends_with(compressed)) return false;
    return true;
}

}  // namespace

bool FollowedFile::open_rotated(const RotatedFile& file) {
    const auto open_if_same = [&](const std::filesystem::path& path) {
        struct stat named {};  // a regular file only: opening a FIFO under a rotated name would block the source
        if (::stat(path.c_str(), &named) != 0 || !S_ISREG(named.st_mode)) return -1;
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat info {};
        if (fd >= 0 && ::fstat(fd, &info) == 0 && static_cast<uint64_t>(info.st_dev) == file.device &&
            static_cast<uint64_t>(info.st_ino) == file.inode)
            return fd;
        if (fd >= 0) ::close(fd);
        return -1;
    };
    std::filesystem::path found = file.path;
    int fd = open_if_same(found);
    if (fd < 0) {  // rotated again since it was listed: look for it under the other names of the rotation
        const std::string prefix = path_.filename().string();
        std::error_code error;
        std::filesystem::directory_iterator entries(path_.parent_path(), error);
        for (std::size_t seen = 0;
             !error && entries != std::filesystem::directory_iterator() && seen < kMaxSiblingsLookedAt && fd < 0;
             entries.increment(error), ++seen)
            if (rotated_name(entries->path().filename().string(), prefix)) {
                found = entries->path();
                fd = open_if_same(found);
            }
    }
    if (fd < 0) {
        notes_.push_back("'" + file.path.string() +
                         "' (a file rotated while stopped) is gone or cannot be read: "
                         "passed over");
        return false;
    }
    ::close(fd_);
    fd_ = fd;
    device_ = file.device;
    inode_ = file.inode;
    offset_ = 0;
    head_.clear();
    tail_.clear();
    skipping_long_line_ = false;
    rotated_file_size_.reset();
    notes_.push_back("reading '" + found.string() + "' from its start");
    return true;
}

bool FollowedFile::resume_rotated_saved_file() {
    // Only the followed file's own directory, and only names that extend the followed one: what rotation made of it.
    const std::string prefix = path_.filename().string();
    std::error_code error;
    std::filesystem::directory_iterator entries(path_.parent_path(), error);
    if (error) return false;
    struct Sibling {
        std::filesystem::path path;
        struct stat info;
    };
    std::vector<Sibling> siblings;
    for (std::size_t seen = 0; entries != std::filesystem::directory_iterator() && seen < kMaxSiblingsLookedAt;
         entries.increment(error), ++seen) {
        if (error) return false;
        struct stat info {};
        if (rotated_name(entries->path().filename().string(), prefix) && ::stat(entries->path().c_str(), &info) == 0 &&
            S_ISREG(info.st_mode))
            siblings.push_back({entries->path(), info});
    }
    for (const Sibling& sibling : siblings) {
        const struct stat& info = sibling.info;
        if (static_cast<uint64_t>(info.st_dev) != saved_->device ||
            static_cast<uint64_t>(info.st_ino) != saved_->inode || static_cast<uint64_t>(info.st_size) < saved_->offset)
            continue;
        const auto entries_path = sibling.path;
        const int fd = ::open(entries_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return false;
        if (read_at(fd, 0, saved_->head.size()) != saved_->head || saved_->offset < saved_->tail.size() ||
            read_at(fd, saved_->offset - saved_->tail.size(), saved_->tail.size()) != saved_->tail) {
            ::close(fd);  // the inode was reused by another file
            return false;
        }
        // Read on in the rotated file; read() moves to the file at the path, from its start, once this one is done.
        ::close(fd_);
        fd_ = fd;
        device_ = saved_->device;
        inode_ = saved_->inode;
        offset_ = saved_->offset;
        head_ = saved_->head;
        tail_ = saved_->tail;
        skipping_long_line_ = saved_->inside_long_line;
        // The rotations since: the siblings written after this one, oldest first (access.json.1 after .2).
        const auto written_after = [&](const struct stat& other) {
            // Strictly later: files written in the same clock tick (a few ms) cannot be ordered, and an older
            // rotation's is passed over rather than read as new.
            return std::tie(other.st_mtim.tv_sec, other.st_mtim.tv_nsec) >
                   std::tie(info.st_mtim.tv_sec, info.st_mtim.tv_nsec);
        };
        std::vector<const Sibling*> later;
        for (const Sibling& other : siblings)
            if (other.info.st_ino != info.st_ino && written_after(other.info)) later.push_back(&other);
        std::sort(later.begin(), later.end(), [](const Sibling* a, const Sibling* b) {
            return std::tie(a->info.st_mtim.tv_sec, a->info.st_mtim.tv_nsec, a->path) <
                   std::tie(b->info.st_mtim.tv_sec, b->info.st_mtim.tv_nsec, b->path);
        });
        rotated_after_.clear();
        std::string also;
        for (const Sibling* other : later) {
            rotated_after_.push_back(
                {other->path, static_cast<uint64_t>(other->info.st_dev), static_cast<uint64_t>(other->info.st_ino)});
            also += (also.empty() ? "" : ", ") + other->path.filename().string();
        }
        // Then the file at the path now, by its identity too: rotated in turn before the reader gets to it, it is
        // found under its new name, and the file then at the path follows it.
        struct stat at_path {};
        if (::stat(path_.c_str(), &at_path) == 0 && S_ISREG(at_path.st_mode))
            rotated_after_.push_back(
                {path_, static_cast<uint64_t>(at_path.st_dev), static_cast<uint64_t>(at_path.st_ino)});
        notes_.push_back("'" + path_.string() + "' was rotated while stopped: reading on in '" + entries_path.string() +
                         "' from byte " + std::to_string(offset_) + " (the saved position), then " +
                         (also.empty() ? std::string() : "the files rotated since (" + also + "), then ") +
                         "the new file from its start");
        return true;
    }
    return false;
}

void FollowedFile::check_same_content() {
    const uint64_t size = size_of(fd_);
    if (size < offset_) {
        notes_.push_back("'" + path_.string() + "' was truncated (" + std::to_string(size) + " bytes, position " +
                         std::to_string(offset_) +
                         "): reading it from its start; lines written to it after the last read and before it was "
                         "truncated (in a copytruncate's copy) are not read");
        offset_ = 0;
        head_.clear();
        tail_.clear();
        skipping_long_line_ = false;
    }
    if (size == 0) return;
    const std::string head = read_at(fd_, 0, std::min<uint64_t>(size, kHeadBytes));
    // Compared over the shorter of the two: a file rewritten with fewer bytes than were seen first changed too.
    const std::size_t common = std::min(head.size(), head_.size());
    if (head.compare(0, common, head_, 0, common) != 0) {
        notes_.push_back("'" + path_.string() +
                         "' was rewritten (its first bytes changed: truncated and written again): reading it from its "
                         "start");
        offset_ = 0;
        tail_.clear();
        skipping_long_line_ = false;
    } else if (!tail_.empty() && offset_ >= tail_.size() &&
               read_at(fd_, offset_ - tail_.size(), tail_.size()) != tail_) {
        // Truncated and written again past the position between two reads, the first bytes alike (lines that all
        // begin the same way): the end of the last line read is another line's now.
        notes_.push_back("'" + path_.string() +
                         "' was rewritten (the bytes before the position changed: truncated and written again past "
                         "it): reading it from its start");
        offset_ = 0;
        tail_.clear();
        skipping_long_line_ = false;
    }
    head_ = head;
}

void FollowedFile::close_if_deleted() {
    struct stat open_file {};
    if (::fstat(fd_, &open_file) != 0 || open_file.st_nlink != 0) return;  // renamed away, not deleted: read on
    const auto size = static_cast<uint64_t>(open_file.st_size);
    const auto now = std::chrono::steady_clock::now();
    if (deleted_file_size_ != size) {  // first seen deleted, or a writer still appends to it
        deleted_file_size_ = size;
        deleted_file_still_since_ = now;
    }
    if (offset_ < size || now - deleted_file_still_since_ < rotation_grace_) return;
    // Read to its end and left by its writer: held open, its disk space was never freed, and the source said nothing.
    ::close(fd_);
    fd_ = -1;
    deleted_file_size_.reset();
    throw std::runtime_error("'" + path_.string() +
                             "' was deleted and is not back: the deleted file, read to its end, is closed (its disk "
                             "space freed); the path is read from its start once it exists again");
}

std::vector<FileLine> FollowedFile::read(std::size_t max_bytes) {
    more_waiting_ = false;
    buffer_.clear();
    mid_line_ends_.clear();
    bool old_file_settled = false;  // renamed away and replaced, and no longer growing: the writer left it
    if (fd_ < 0) open_at_path();    // a saved position may resume in a file rotated away while stopped
    // Renamed away and replaced? (A path that is gone for now is no rotation yet: keep reading the old file.)
    struct stat at_path {};
    const bool path_exists = ::stat(path_.c_str(), &at_path) == 0;
    if (!path_exists && errno == ENOENT) {
        close_if_deleted();
    } else {
        deleted_file_size_.reset();
    }
    if (path_exists &&
        (static_cast<uint64_t>(at_path.st_dev) != device_ || static_cast<uint64_t>(at_path.st_ino) != inode_)) {
        const uint64_t old_size = size_of(fd_);
        const auto now = std::chrono::steady_clock::now();
        if (rotated_file_size_ != old_size) {  // first seen renamed, or the writer still appends to it
            rotated_file_size_ = old_size;
            rotated_file_still_since_ = now;
        }
        old_file_settled = now - rotated_file_still_since_ >= rotation_grace_;
        if (old_file_settled && offset_ >= old_size) {  // the old file is read to its end: on to the next one
            bool opened = false;
            while (!opened && !rotated_after_.empty()) {  // a rotation while stopped left more than one file
                const RotatedFile next = rotated_after_.front();
                rotated_after_.erase(rotated_after_.begin());
                opened = open_rotated(next);
            }
            if (!opened) {
                open_at_path();
                notes_.push_back("'" + path_.string() + "' was rotated: reading the new file from its start");
            }
            old_file_settled = false;
        }
    }
    check_same_content();

    const uint64_t size = size_of(fd_);
    const uint64_t available = size - offset_;
    const std::size_t to_read = std::min<uint64_t>(available, std::max(max_bytes, max_line_bytes_ + 1));
    buffer_ = read_at(fd_, offset_, to_read);
    buffer_offset_ = offset_;
    more_waiting_ = available > buffer_.size();

    std::vector<FileLine> lines;
    std::size_t at = 0;
    const auto offset_of = [&](std::size_t index) { return offset_ + index; };
    if (skipping_long_line_ && !buffer_.empty()) {
        const auto newline = buffer_.find('\n');
        const std::size_t end = newline == std::string::npos ? buffer_.size() : newline + 1;
        lines.push_back({FileLine::Kind::Skipped, {}, offset_of(0), offset_of(end)});
        if (newline == std::string::npos) mid_line_ends_.push_back(offset_of(end));
        at = end;
    }
    while (at < buffer_.size()) {
        // NUL bytes where a line starts are the hole a writer that does not append (no O_APPEND) leaves when the file
        // was truncated under it (copytruncate): as long as its old offset, megabytes, so skipped here, read after
        // read, rather than taken as the start of a line too long to read.
        if (buffer_[at] == '\0') {
            const auto text_at = buffer_.find_first_not_of('\0', at);
            const std::size_t end = text_at == std::string::npos ? buffer_.size() : text_at;
            lines.push_back({FileLine::Kind::Skipped, {}, offset_of(at), offset_of(end)});
            at = end;
            continue;
        }
        const auto newline = buffer_.find('\n', at);
        if (newline == std::string::npos) {
            const std::size_t rest = buffer_.size() - at;
            if (rest > max_line_bytes_) {
                lines.push_back({FileLine::Kind::TooLong, std::string_view(buffer_).substr(at, kTooLongShownBytes),
                                 offset_of(at), offset_of(buffer_.size())});
                mid_line_ends_.push_back(offset_of(buffer_.size()));
            } else if (old_file_settled && !more_waiting_ && rest > 0) {
                // The writer moved to the new file: this unterminated last line is as whole as it will get.
                std::string_view text = std::string_view(buffer_).substr(at);
                if (text.ends_with('\r')) text.remove_suffix(1);
                lines.push_back({FileLine::Kind::Text, text, offset_of(at), offset_of(buffer_.size())});
            }
            break;
        }
        std::string_view text = std::string_view(buffer_).substr(at, newline - at);
        if (text.size() > max_line_bytes_) {
            lines.push_back(
                {FileLine::Kind::TooLong, text.substr(0, kTooLongShownBytes), offset_of(at), offset_of(newline + 1)});
        } else {
            if (text.ends_with('\r')) text.remove_suffix(1);
            lines.push_back({FileLine::Kind::Text, text, offset_of(at), offset_of(newline + 1)});
        }
        at = newline + 1;
    }
    return lines;
}

}  // namespace warmup::plugins
