// runtime/log_format.cpp — text or JSON log lines for warmupd; see log_format.hpp.
#include "runtime/log_format.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

namespace warmup::host {
namespace {

/// The stable code at the start of `text` ("MODEL_LOAD_ERROR"), or an empty view.
std::string_view leading_code(std::string_view text) {
    std::size_t end = 0;
    while (end < text.size() &&
           ((text[end] >= 'A' && text[end] <= 'Z') || (text[end] >= '0' && text[end] <= '9') || text[end] == '_'))
        ++end;
    if (end < 2 || (end < text.size() && text[end] != ' ') || !(text[0] >= 'A' && text[0] <= 'Z')) return {};
    return text.substr(0, end);
}

/// The journal's priority of a level (syslog's: 2 critical, 3 error, 4 warning, 6 info, 7 debug).
int journal_priority(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::critical:
            return 2;
        case spdlog::level::err:
            return 3;
        case spdlog::level::warn:
            return 4;
        case spdlog::level::info:
            return 6;
        default:
            return 7;  // debug, trace
    }
}

/// How a line is written: the configured text or JSON, or "warmupd: <message>" before the configuration is read.
enum class LineFormat { text, json, before_configuration };

/// A formatter for `format`, with the journal's priorities when `fd` is the journal.
std::unique_ptr<spdlog::formatter> line_formatter(LineFormat format, int fd) {
    std::unique_ptr<spdlog::formatter> line;
    switch (format) {
        case LineFormat::json:
            line = std::make_unique<JsonLogFormatter>();
            break;
        case LineFormat::text:
            line = std::make_unique<OneLineFormatter>(
                std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v"));
            break;
        case LineFormat::before_configuration:
            line = std::make_unique<spdlog::pattern_formatter>("warmupd: %v");
            break;
    }
    if (!is_journal_stream(fd)) return line;
    return std::make_unique<JournalPriorityFormatter>(std::move(line));
}

/// The start-up logger: standard error, unsynchronised writes as spdlog's own stderr sink makes them.
std::shared_ptr<spdlog::logger> make_startup_logger() {
    auto logger =
        std::make_shared<spdlog::logger>("warmupd-startup", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_formatter(line_formatter(LineFormat::before_configuration, STDERR_FILENO));
    logger->flush_on(spdlog::level::trace);  // every line at once: the process may exit right after it
    return logger;
}

}  // namespace

void OneLineFormatter::format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) {
    const std::string_view payload(message.payload.data(), message.payload.size());
    const auto is_control = [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; };
    if (std::none_of(payload.begin(), payload.end(), is_control)) return line_->format(message, out);
    std::string escaped;
    escaped.reserve(payload.size() + 16);
    for (const char c : payload) {
        if (c == '\n')
            escaped += "\\n";
        else if (c == '\r')
            escaped += "\\r";
        else if (c == '\t')
            escaped += c;  // harmless: kept
        else if (is_control(c))
            escaped += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        else
            escaped += c;
    }
    spdlog::details::log_msg one_line = message;
    one_line.payload = spdlog::string_view_t(escaped.data(), escaped.size());
    line_->format(one_line, out);
    // The pattern marks where the level's colour goes on the message it formatted: the colour sink reads it from the
    // message it passed.
    message.color_range_start = one_line.color_range_start;
    message.color_range_end = one_line.color_range_end;
}

std::unique_ptr<spdlog::formatter> OneLineFormatter::clone() const {
    return std::make_unique<OneLineFormatter>(line_->clone());
}

void JournalPriorityFormatter::format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) {
    const std::string prefix = fmt::format("<{}>", journal_priority(message.level));
    out.append(prefix.data(), prefix.data() + prefix.size());
    line_->format(message, out);
}

std::unique_ptr<spdlog::formatter> JournalPriorityFormatter::clone() const {
    return std::make_unique<JournalPriorityFormatter>(line_->clone());
}

bool is_journal_stream(int fd) {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) return false;
    // "<device>:<inode>", both decimal; anything else (a value cut short, trailing bytes) names no stream.
    const std::string_view text(stream);
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) return false;
    unsigned long long device = 0, inode = 0;
    const auto device_end = std::from_chars(text.data(), text.data() + colon, device);
    const auto inode_end = std::from_chars(text.data() + colon + 1, text.data() + text.size(), inode);
    if (device_end.ec != std::errc() || device_end.ptr != text.data() + colon || inode_end.ec != std::errc() ||
        inode_end.ptr != text.data() + text.size())
        return false;
    struct stat status {};
    if (::fstat(fd, &status) != 0) return false;
    return static_cast<unsigned long long>(status.st_dev) == device &&
           static_cast<unsigned long long>(status.st_ino) == inode;
}

void log_to_standard_error(spdlog::level::level_enum level) {
    auto logger = std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_formatter(line_formatter(LineFormat::text, STDERR_FILENO));
    logger->set_level(level);
    spdlog::set_default_logger(std::move(logger));
}

spdlog::logger& startup_log() {
    static const std::shared_ptr<spdlog::logger> logger = make_startup_logger();
    return *logger;
}

void JsonLogFormatter::format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) {
    const std::string_view text(message.payload.data(), message.payload.size());
    const std::string_view code = leading_code(text);
    std::string_view rest = text.substr(code.size());
    if (!code.empty() && !rest.empty()) rest.remove_prefix(1);  // the space after the code

    const auto since_epoch = message.time.time_since_epoch();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
    const std::string ts =
        fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(message.time)),
                    static_cast<int>(ms));
    const spdlog::string_view_t level = spdlog::level::to_string_view(message.level);
    nlohmann::ordered_json line{{"ts", ts},
                                {"level", std::string_view(level.data(), level.size())},
                                {"code", code.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(code)},
                                {"msg", rest}};
    const std::string dumped = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    out.append(dumped.data(), dumped.data() + dumped.size());
    out.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const { return std::make_unique<JsonLogFormatter>(); }

void configure_logging(const std::string& level, const std::string& format) {
    const auto chosen = spdlog::level::from_str(level);
    spdlog::set_level(chosen);
    const LineFormat line = format == "json" ? LineFormat::json : LineFormat::text;
    spdlog::set_formatter(line_formatter(line, STDOUT_FILENO));
    // What warmupd says before it runs is said whatever the level (a wait of a minute for the bind name in silence
    // would look like a hang); a level below info (debug, trace) applies to it too.
    startup_log().set_level(std::min(chosen, spdlog::level::info));
    startup_log().set_formatter(line_formatter(line, STDERR_FILENO));
}

}  // namespace warmup::host
