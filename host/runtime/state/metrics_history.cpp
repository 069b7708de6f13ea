#include "runtime/state/metrics_history.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string_view>
#include <system_error>

#include "core/file_io.hpp"

namespace warmup::host {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kSegmentMs = 3600 * 1000;
constexpr std::string_view kPrefix = "metrics-history-";
constexpr std::string_view kExtension = ".tsv";

}  // namespace

MetricsHistory::MetricsHistory(fs::path dir, int64_t retention_ms)
    : dir_(std::move(dir)), retention_ms_(std::max<int64_t>(retention_ms, 1)) {}

void MetricsHistory::append(int64_t unix_ms, const std::vector<std::pair<std::string, double>>& counters) {
    std::string lines;
    for (const auto& [name, value] : counters) {
        std::string clean = name;
        std::replace_if(
            clean.begin(), clean.end(), [](char c) { return c == '\t' || c == '\n'; }, '_');
        lines += fmt::format("{}\t{}\t{}\n", unix_ms, clean, value);
    }
    std::lock_guard lock(mutex_);
    const fs::path file = dir_ / fmt::format("{}{}{}", kPrefix, unix_ms / kSegmentMs, kExtension);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + file.string());
    std::size_t written = 0;
    while (written < lines.size()) {
        const ssize_t n = ::write(fd, lines.data() + written, lines.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int error = errno;
            ::close(fd);
            throw std::system_error(error, std::generic_category(), "cannot append to " + file.string());
        }
        written += static_cast<std::size_t>(n);
    }
    ::close(fd);
    // Pruning is cheap (one directory listing) and keeps the folder bounded without a separate timer.
    prune_locked(unix_ms);
}

void MetricsHistory::prune(int64_t now_unix_ms) {
    std::lock_guard lock(mutex_);
    prune_locked(now_unix_ms);
}

void MetricsHistory::prune_locked(int64_t now_unix_ms) {
    const int64_t cutoff = now_unix_ms - retention_ms_;
    for (const auto& [hour, segment] : segments())
        if ((hour + 1) * kSegmentMs <= cutoff) {
            std::error_code ignored;
            fs::remove(segment, ignored);
        }
}

std::vector<std::pair<int64_t, fs::path>> MetricsHistory::segments() const {
    std::vector<std::pair<int64_t, fs::path>> found;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir_, error)) {
        const std::string name = entry.path().filename().string();
        if (!name.starts_with(kPrefix) || !name.ends_with(kExtension)) continue;
        const std::string_view digits =
            std::string_view(name).substr(kPrefix.size(), name.size() - kPrefix.size() - kExtension.size());
        int64_t hour = 0;
        const auto [end, parse_error] = std::from_chars(digits.data(), digits.data() + digits.size(), hour);
        if (parse_error == std::errc() && end == digits.data() + digits.size()) found.emplace_back(hour, entry.path());
    }
    std::sort(found.begin(), found.end());
    return found;
}

namespace {

/// The well-formed lines of one segment file (a torn last line, or one that does not parse, is skipped); nothing when
/// the file does not read.
std::vector<HistorySample> read_segment(const fs::path& segment) {
    std::vector<HistorySample> samples;
    const FileContent content = read_file(segment, FileKind::regular_only);  // a FIFO would block the reader
    std::string_view rest = content.bytes;
    for (std::size_t end = rest.find('\n'); end != std::string_view::npos; end = rest.find('\n')) {
        const std::string_view line = rest.substr(0, end);  // a last line without '\n' (torn) is never taken
        rest.remove_prefix(end + 1);
        const auto tab1 = line.find('\t');
        const auto tab2 = tab1 == std::string::npos ? std::string::npos : line.find('\t', tab1 + 1);
        if (tab2 == std::string::npos) continue;
        HistorySample sample;
        const auto [end_ms, error_ms] = std::from_chars(line.data(), line.data() + tab1, sample.unix_ms);
        const auto [end_value, error_value] =
            std::from_chars(line.data() + tab2 + 1, line.data() + line.size(), sample.value);
        if (error_ms != std::errc() || end_ms != line.data() + tab1 || error_value != std::errc() ||
            end_value != line.data() + line.size())
            continue;
        sample.counter = std::string(line.substr(tab1 + 1, tab2 - tab1 - 1));
        samples.push_back(std::move(sample));
    }
    return samples;
}

}  // namespace

std::vector<HistorySample> MetricsHistory::read(int64_t since_ms) const {
    std::lock_guard lock(mutex_);
    std::vector<HistorySample> samples;
    for (const auto& [hour, segment] : segments()) {
        if ((hour + 1) * kSegmentMs <= since_ms) continue;
        for (HistorySample& sample : read_segment(segment))
            if (sample.unix_ms >= since_ms) samples.push_back(std::move(sample));
    }
    return samples;
}

std::vector<HistorySample> MetricsHistory::read_latest_before(int64_t before_ms) const {
    std::lock_guard lock(mutex_);
    const auto all = segments();
    // Newest segment first: the answer is nearly always in the segment of before_ms or the one before it.
    for (auto segment = all.rbegin(); segment != all.rend(); ++segment) {
        if (segment->first * kSegmentMs >= before_ms) continue;
        std::vector<HistorySample> lines = read_segment(segment->second);
        int64_t latest = INT64_MIN;
        for (const HistorySample& line : lines)
            if (line.unix_ms < before_ms) latest = std::max(latest, line.unix_ms);
        if (latest == INT64_MIN) continue;
        std::erase_if(lines, [latest](const HistorySample& line) { return line.unix_ms != latest; });
        return lines;
    }
    return {};
}

}  // namespace warmup::host
