// runtime/log_format.hpp — how warmupd writes its log lines: text (the default) or one JSON object per line.
//
// Text:  2026-12-02T10:42:07.123 info STARTUP warmupd listening on ...
// JSON:  {"ts":"2026-12-02T10:42:07.123Z","level":"info","code":"STARTUP","msg":"warmupd listening on ..."}
//
// JSON lines carry the same stable codes as the text lines: "code" is the message's first word when it is one
// (upper-case letters, digits and '_', at least two characters, e.g. MODEL_LOAD_ERROR), else null (a plugin's own
// lines, "[<id>@<version>] ..."); "msg" is the rest. Every string is escaped by nlohmann::json (quotes, backslashes,
// control characters; invalid UTF-8 bytes become U+FFFD), so each line parses as JSON whatever the message holds.
// "ts" is UTC with milliseconds.
//
// Under systemd, whose journal reads a "<N>" prefix on each line of a service's output as its priority (sd-daemon(3)),
// every line written to the journal starts with its level's: "<3>" for an error, "<4>" a warning, "<6>" info, "<7>"
// debug, so `journalctl -p err` finds the errors. Lines written anywhere else have no prefix.
//
// Thread-safety: configure_logging() changes the default spdlog logger and the start-up logger; call it once at start,
// before other threads log. The formatters are called under spdlog's sink lock, like spdlog's own.
#pragma once

#include <spdlog/formatter.h>
#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <utility>

namespace warmup::host {

class JsonLogFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override;
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;
};

/// Puts the journal's priority prefix of each line's level ("<3>" for an error) before the line another formatter
/// writes.
class JournalPriorityFormatter final : public spdlog::formatter {
  public:
    explicit JournalPriorityFormatter(std::unique_ptr<spdlog::formatter> line) : line_(std::move(line)) {}
    void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override;
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;

  private:
    std::unique_ptr<spdlog::formatter> line_;
};

/// Keeps every message on its line in the text format: a line feed, carriage return or other control character in a
/// message (text a model server sent, a name from its listing) is written escaped (\n, \r, \xHH), so that no text
/// from outside can start a line of its own that reads like the daemon's.
class OneLineFormatter final : public spdlog::formatter {
  public:
    explicit OneLineFormatter(std::unique_ptr<spdlog::formatter> line) : line_(std::move(line)) {}
    void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override;
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;

  private:
    std::unique_ptr<spdlog::formatter> line_;
};

/// Whether `fd` is the stream systemd connected to its journal: systemd sets JOURNAL_STREAM to "<device>:<inode>" of
/// that stream; output a program redirected elsewhere (a pipe, a file) has another one, or none is set.
[[nodiscard]] bool is_journal_stream(int fd);

/// Sets the default logger's level ("trace" ... "error") and format ("text" or "json"; anything else is text), and
/// the start-up logger's. The default logger writes to standard output.
void configure_logging(const std::string& level, const std::string& format);

/// For the command-line programs (warmupctl, warmup-replay), whose standard output is their answer (JSON, a table):
/// the default logger writes to standard error instead, in warmupd's text format, at `level`.
void log_to_standard_error(spdlog::level::level_enum level);

/// The logger of what warmupd says before it runs (the configuration read, the bind address's lookup, the access
/// token's check): standard error, in the configured format once configure_logging() ran, and until then one line
/// "warmupd: <message>" (the configuration that names the format is not read yet). Either way prefixed with the
/// level's priority when standard error is the journal.
[[nodiscard]] spdlog::logger& startup_log();

}  // namespace warmup::host
