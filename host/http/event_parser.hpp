// http/event_parser.hpp — parses the body of POST /api/warmup/events: a JSON array or NDJSON of
// {"model": str (not blank, no control characters), "ts_ms"?: int from kMinEventTsMs (2001-09-09) and not in the
// future, "tenant"?: str, "count"?: int in 1..1000000}.
//
// A bad item never spoils the good ones: each is accepted or refused on its own, with its position and reason.
// Thread-safety: pure function of its arguments (and of the wall clock when no server time is passed).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/usage_event.hpp"

namespace warmup::host {

/// The position of a refusal that concerns the whole body rather than one item: a JSON array that does not parse
/// (items and lines are numbered from 1).
inline constexpr std::size_t kWholeBody = 0;

struct RejectedEvent {
    std::size_t position = kWholeBody;  ///< the line or item (from 1), or kWholeBody
    std::string reason;
};

struct ParsedBody {
    bool is_array = false;  ///< positions are item indexes (true) or line numbers (false)
    std::vector<ParsedEvent> events;
    std::vector<RejectedEvent> rejected;  ///< in position order, at most kMaxListedRejections
    std::size_t unlisted_rejections = 0;  ///< refused items beyond the listed ones
};

/// Refusals listed one by one; beyond this many they are only counted, so that a body of garbage lines cannot make
/// the answer (and the memory to build it) many times larger than the body itself.
inline constexpr std::size_t kMaxListedRejections = 100;

/// Parses `body`. Lines longer than `max_line_bytes` are refused (NDJSON). Blank lines are skipped. An event whose
/// ts_ms is more than kMaxFutureSkewMs after `server_now_ms` is refused as "in the future"; when `server_now_ms` is
/// nullopt the system (wall) clock is read once per call — pass the host clock's now to keep this pure.
ParsedBody parse_events_body(std::string_view body, std::size_t max_line_bytes = 1 << 20,
                             std::optional<int64_t> server_now_ms = std::nullopt);

}  // namespace warmup::host
