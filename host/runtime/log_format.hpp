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
// Thread-safety: configure_logging() changes the default spdlog logger; call it once at start, before other threads
// log. The formatter itself is called under spdlog's sink lock, like spdlog's own.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

namespace warmup::host {

class JsonLogFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override;
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;
};

/// Sets the default logger's level ("trace" ... "error") and format ("text" or "json"; anything else is text).
void configure_logging(const std::string& level, const std::string& format);

}  // namespace warmup::host
