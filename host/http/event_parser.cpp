#include "http/event_parser.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace warmup::host {
namespace {

using nlohmann::json;

// Validates one decoded item; returns the reason when it is refused.
std::optional<std::string> read_item(const json& item, ParsedEvent& out) {
    if (!item.is_object()) return "expected a JSON object";
    for (const auto& [key, value] : item.items()) {
        if (key != "model" && key != "ts_ms" && key != "tenant" && key != "count")
            return fmt::format("unknown field '{}' (expected model, ts_ms, tenant, count)", key);
    }
    const auto model = item.find("model");
    if (model == item.end()) return "missing field 'model'";
    if (!model->is_string()) return "'model' must be a string";
    out.model = model->get<std::string>();
    if (out.model.empty()) return "'model' must not be empty";
    if (const auto ts = item.find("ts_ms"); ts != item.end() && !ts->is_null()) {
        if (!ts->is_number_integer()) return "'ts_ms' must be an integer (milliseconds since the epoch)";
        const auto value = ts->get<int64_t>();
        if (value < 0) return "'ts_ms' must not be negative";
        out.ts_ms = value;
    }
    if (const auto tenant = item.find("tenant"); tenant != item.end() && !tenant->is_null()) {
        if (!tenant->is_string()) return "'tenant' must be a string";
        out.tenant = tenant->get<std::string>();
    }
    if (const auto count = item.find("count"); count != item.end() && !count->is_null()) {
        if (!count->is_number_integer()) return "'count' must be an integer";
        const auto value = count->get<int64_t>();
        if (value < 1 || value > 1'000'000) return "'count' must be between 1 and 1000000";
        out.count = static_cast<uint32_t>(value);
    }
    return std::nullopt;
}

void accept_or_reject(const json& item, std::size_t position, ParsedBody& body) {
    ParsedEvent event;
    event.position = position;
    if (auto reason = read_item(item, event)) {
        body.rejected.push_back({position, std::move(*reason)});
    } else {
        body.events.push_back(std::move(event));
    }
}

}  // namespace

ParsedBody parse_events_body(std::string_view text, std::size_t max_line_bytes) {
    ParsedBody body;
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && text[first] == '[') {
        body.is_array = true;
        const json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (parsed.is_discarded()) {
            // Fall back to reporting the parse error itself, with its byte offset.
            try {
                [[maybe_unused]] const json ignored = json::parse(text);
            } catch (const json::parse_error& error) {
                body.rejected.push_back({0, fmt::format("malformed JSON array at byte {}: {}", error.byte,
                                                        error.what())});
            }
            return body;
        }
        std::size_t index = 0;
        for (const auto& item : parsed) accept_or_reject(item, ++index, body);
        return body;
    }
    std::size_t line_number = 0;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(start, end - start);
        ++line_number;
        start = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find_first_not_of(" \t") == std::string_view::npos) {
            if (end == text.size()) break;
            continue;
        }
        if (line.size() > max_line_bytes) {
            body.rejected.push_back({line_number, fmt::format("line longer than {} bytes", max_line_bytes)});
        } else {
            const json item = json::parse(line, nullptr, /*allow_exceptions=*/false);
            if (item.is_discarded()) {
                body.rejected.push_back({line_number, "malformed JSON"});
            } else {
                accept_or_reject(item, line_number, body);
            }
        }
        if (end == text.size()) break;
    }
    return body;
}

}  // namespace warmup::host
