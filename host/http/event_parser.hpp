// http/event_parser.hpp — parses the body of POST /api/warmup/events: a JSON array or NDJSON of
// {"model": str, "ts_ms"?: int >= 0, "tenant"?: str, "count"?: int >= 1}.
//
// A bad item never spoils the good ones: each is accepted or refused on its own, with its position and reason.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warmup::host {

struct ParsedEvent {
    std::size_t position = 0;  ///< 1-based line (NDJSON) or item index (JSON array)
    std::string model;
    std::optional<int64_t> ts_ms;
    std::string tenant;
    uint32_t count = 1;
};

struct RejectedEvent {
    std::size_t position = 0;
    std::string reason;
};

struct ParsedBody {
    bool is_array = false;  ///< positions are item indexes (true) or line numbers (false)
    std::vector<ParsedEvent> events;
    std::vector<RejectedEvent> rejected;
};

/// Parses `body`. Lines longer than `max_line_bytes` are refused (NDJSON). Blank lines are skipped.
ParsedBody parse_events_body(std::string_view body, std::size_t max_line_bytes = 1 << 20);

}  // namespace warmup::host
