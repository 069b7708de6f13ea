#include "tail_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

namespace warmup::plugins {
namespace {

constexpr const char* kPositionFile = "position.json";

std::string to_hex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(bytes.size() * 2);
    for (const unsigned char c : bytes) {
        hex.push_back(kDigits[c >> 4]);
        hex.push_back(kDigits[c & 15]);
    }
    return hex;
}

std::optional<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    const auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    std::string bytes;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int high = nibble(hex[i]), low = nibble(hex[i + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        bytes.push_back(static_cast<char>(high * 16 + low));
    }
    return bytes;
}

// Writes `text` to `file` atomically: a temporary file beside it, synced, renamed over it.
void write_file_atomically(const std::filesystem::path& file, const std::string& text) {
    const std::filesystem::path temporary = file.string() + ".partial";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot write '" + temporary.string() + "': " + std::strerror(errno));
    std::size_t written = 0;
    while (written < text.size()) {
        const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int error = errno;
            ::close(fd);
            throw std::runtime_error("cannot write '" + temporary.string() + "': " + std::strerror(error));
        }
        written += static_cast<std::size_t>(n);
    }
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced) throw std::runtime_error("cannot sync '" + temporary.string() + "': " + std::strerror(errno));
    std::error_code error;
    std::filesystem::rename(temporary, file, error);
    if (error) throw std::runtime_error("cannot rename to '" + file.string() + "': " + error.message());
}

}  // namespace

std::string position_to_json(const FilePosition& position) {
    nlohmann::json json{
        {"path", position.path},     {"device", position.device},         {"inode", position.inode},
        {"offset", position.offset}, {"head_hex", to_hex(position.head)}, {"tail_hex", to_hex(position.tail)}};
    if (position.inside_long_line) json["inside_long_line"] = true;  // absent (false) in files of earlier versions
    return json.dump() + "\n";
}

std::optional<FilePosition> position_from_json(std::string_view text) {
    const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) return std::nullopt;
    const auto string_at = [&](const char* key) -> const std::string* {
        const auto found = json.find(key);
        return found != json.end() && found->is_string() ? &found->get_ref<const std::string&>() : nullptr;
    };
    const auto number_at = [&](const char* key) -> std::optional<uint64_t> {
        const auto found = json.find(key);
        if (found == json.end() || !found->is_number_unsigned()) return std::nullopt;
        return found->get<uint64_t>();
    };
    const std::string* path = string_at("path");
    const std::string* head_hex = string_at("head_hex");
    const auto device = number_at("device"), inode = number_at("inode"), offset = number_at("offset");
    if (path == nullptr || head_hex == nullptr || !device || !inode || !offset) return std::nullopt;
    auto head = from_hex(*head_hex);
    if (!head || head->size() > FollowedFile::kHeadBytes) return std::nullopt;
    const auto inside_long_line = json.find("inside_long_line");
    if (inside_long_line != json.end() && !inside_long_line->is_boolean()) return std::nullopt;
    // tail_hex: absent in files of earlier versions (no check of the bytes before the offset then).
    std::optional<std::string> tail = std::string();
    if (json.contains("tail_hex")) {
        const std::string* tail_hex = string_at("tail_hex");
        if (tail_hex == nullptr) return std::nullopt;
        tail = from_hex(*tail_hex);
    }
    if (!tail || tail->size() > FollowedFile::kTailBytes || tail->size() > *offset) return std::nullopt;
    return FilePosition{
        *path,           *device,          *inode,
        *offset,         std::move(*head), inside_long_line != json.end() && inside_long_line->get<bool>(),
        std::move(*tail)};
}

TailSource::TailSource(sdk::Host host, sdk::Params& params)
    : Source(host),
      path_(params.get_string("path", "")),
      poll_interval_ms_(params.get_int("poll_interval_ms", 500, 10, 60000)),
      max_line_bytes_(static_cast<std::size_t>(params.get_int("max_line_bytes", 1 << 20, 1024, 64 << 20))),
      file_(path_, max_line_bytes_, params.get_choice("start_at", "end", {"end", "beginning"}) == "end",
            std::chrono::milliseconds(params.get_int("rotation_grace_ms", 2000, 0, 600000))) {
    if (path_.empty()) throw sdk::InvalidArgument("params.path: required: the JSON-lines file to follow");
    if (!path_.is_absolute())
        throw sdk::InvalidArgument("params.path: expected an absolute path, got '" + path_.string() + "'");
    fields_.model_field = params.get_string("model_field", "model");
    fields_.time_field = params.get_string("time_field", "timestamp");
    fields_.tenant_field = params.get_string("tenant_field", "");
    if (fields_.model_field.empty()) throw sdk::InvalidArgument("params.model_field: expected a field path");
    if (fields_.time_field.empty()) throw sdk::InvalidArgument("params.time_field: expected a field path");
}

void TailSource::restore_position(const std::filesystem::path& state_dir) {
    std::ifstream in(state_dir / kPositionFile, std::ios::binary);
    if (!in) return;  // never saved: start_at decides
    std::ostringstream text;
    text << in.rdbuf();
    if (auto position = position_from_json(text.str())) {
        file_.restore(*position);
        saved_ = std::move(position);
    } else {
        host().warn("'" + (state_dir / kPositionFile).string() + "' is not a saved position: not used");
    }
}

TailSource::~TailSource() {
    if (state_dir_.empty()) return;
    const auto position = file_.position();
    if (!position) return;
    try {
        save_position(state_dir_, *position);
    } catch (const std::exception& failure) {
        host().warn(std::string("the position could not be kept at the stop (the next start reads on from an "
                                "earlier one): ") +
                    failure.what());
    }
}

void TailSource::save_position(const std::filesystem::path& state_dir, const FilePosition& position) {
    if (position == saved_) return;
    write_file_atomically(state_dir / kPositionFile, position_to_json(position));
    saved_ = position;
}

void TailSource::keep_position(const std::filesystem::path& state_dir, int64_t now_ms) {
    state_dir_ = state_dir;
    if (const auto position = file_.position();
        position && (unsaved_.empty() ? position != saved_ : *position != unsaved_.back().second))
        unsaved_.emplace_back(now_ms, *position);
    std::optional<FilePosition> due;
    // A host clock set back makes an entry look young for good: taken as old then.
    while (!unsaved_.empty() &&
           (now_ms - unsaved_.front().first >= kPositionLagMs || now_ms < unsaved_.front().first)) {
        due = std::move(unsaved_.front().second);
        unsaved_.pop_front();
    }
    if (due) save_position(state_dir, *due);
}

int64_t TailSource::poll(sdk::SourcePoll& poll) {
    const std::filesystem::path state_dir(poll.state_dir());
    if (first_poll_) {
        first_poll_ = false;
        if (!state_dir.empty()) restore_position(state_dir);
    }

    // Events of consecutive good lines go to the host together; a bad line first sends those before it, so the host
    // sees every line in file order and a line is reported (or emitted) exactly once.
    std::vector<LineEvent> pending;
    std::vector<uint64_t> pending_ends;
    std::vector<warmup_source_event> batch;
    const auto flush = [&]() -> bool {  // false: the queue is full, stop here
        if (pending.empty()) return true;
        batch.clear();
        for (const LineEvent& event : pending)
            batch.push_back(sdk::source_event(event.model, event.tenant, event.ts_ms));
        const std::size_t taken = poll.emit(batch);
        if (taken > 0) file_.commit(pending_ends[taken - 1]);
        const bool all_taken = taken == pending.size();
        pending.clear();
        pending_ends.clear();
        return all_taken;
    };

    bool queue_full = false;
    bool more_waiting = false;
    std::size_t bytes_this_poll = 0;
    std::string problem;
    while (!queue_full && !poll.cancelled()) {
        std::vector<FileLine> lines;
        try {
            lines = file_.read(kMaxBytesPerPoll - bytes_this_poll);
        } catch (const FileMissing& missing) {
            // NOT_FOUND: the host polls again every second rather than backing off, so the lines of a file created
            // later are read while they are still requests (ingest.request_window_ms).
            throw sdk::Error(WARMUP_ERROR_NOT_FOUND, missing.what());
        } catch (const std::exception& failure) {
            throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, failure.what());
        }
        for (const std::string& note : file_.take_notes()) host().info(note);
        const int64_t read_time_ms = host().now_ms();
        for (const FileLine& line : lines) {
            if (line.kind == FileLine::Kind::Text) {
                if (line.text.find_first_not_of(" \t") == std::string_view::npos) {  // blank: nothing to say
                    if (pending.empty())
                        file_.commit(line.end_offset);
                    else
                        pending_ends.back() = line.end_offset;
                    continue;
                }
                if (auto event = parse_line(line.text, fields_, read_time_ms, problem)) {
                    pending.push_back(std::move(*event));
                    pending_ends.push_back(line.end_offset);
                    continue;
                }
            }
            if (!flush()) {
                queue_full = true;
                break;
            }
            if (line.kind == FileLine::Kind::TooLong)
                poll.reject("'" + path_.string() + "' byte " + std::to_string(line.start_offset) +
                            ": a line longer than " + std::to_string(max_line_bytes_) +
                            " bytes (params.max_line_bytes), skipped: " + std::string(line.text) + "...");
            else if (line.kind == FileLine::Kind::Text)
                poll.reject("'" + path_.string() + "' byte " + std::to_string(line.start_offset) + ": " + problem);
            file_.commit(line.end_offset);
        }
        if (!queue_full && !flush()) queue_full = true;
        for (const FileLine& line : lines) bytes_this_poll += line.end_offset - line.start_offset;
        more_waiting = file_.more_waiting();
        if (!more_waiting || lines.empty() || bytes_this_poll >= kMaxBytesPerPoll) break;
    }
    if (!state_dir.empty()) {
        try {
            keep_position(state_dir, host().now_ms());
        } catch (const std::exception& failure) {
            throw sdk::Error(WARMUP_ERROR_UNAVAILABLE,
                             std::string("the lines were read, but the position cannot be kept: ") + failure.what());
        }
    }
    if (queue_full) return kQueueFullRetryMs;
    return more_waiting ? 0 : poll_interval_ms_;
}

}  // namespace warmup::plugins
