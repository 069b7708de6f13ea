// runtime/log_format.cpp — text or JSON log lines for warmupd; see log_format.hpp.
#include "runtime/log_format.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

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

}  // namespace

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
    spdlog::set_level(spdlog::level::from_str(level));
    if (format == "json") {
        spdlog::set_formatter(std::make_unique<JsonLogFormatter>());
    } else {
        spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    }
}

}  // namespace warmup::host
