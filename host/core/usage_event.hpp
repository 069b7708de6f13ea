// core/usage_event.hpp — the host's event model: a usage event as it arrives (a POST body item, a source
// plugin's event, a replayed trace line), the limits every way of arrival applies to it, and its conversion to the
// warmup_usage_event the engine and the analyzer see. The wire formats live with their readers (http/event_parser.hpp,
// runtime/sources/, replay/trace/); what an event is, and how it becomes an engine event, lives here once.
// Thread-safety: pure values and functions.
#pragma once

#include <warmup/analyzer.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/tenant_hash.hpp"

namespace warmup::host {

/// An event as a client posted it, before its model is looked up in the catalog.
struct ParsedEvent {
    std::size_t position = 0;  ///< 1-based line (NDJSON) or item index (JSON array)
    std::string model;
    std::optional<int64_t> ts_ms;  ///< nullopt: "now" on the host clock when the event is accepted
    std::string tenant;
    uint32_t count = 1;
};

/// A posted ts_ms may be at most this far ahead of the server clock (client clocks drift; a later one is a bug or an
/// attempt to plant a usage pattern in the future).
inline constexpr int64_t kMaxFutureSkewMs = 5 * 60 * 1000;

/// Earliest accepted ts_ms: 2001-09-09T01:46:40Z (10^12 ms). An earlier time is a mistake, not history: most often a
/// timestamp in seconds (today's is about 1.7 * 10^9, which read as milliseconds falls in January 1970).
inline constexpr int64_t kMinEventTsMs = 1'000'000'000'000;

/// Longest accepted model name, in bytes: catalog names are short, and a refusal echoes the name back.
inline constexpr std::size_t kMaxModelNameBytes = 1024;

/// Most requests one event may stand for. A larger count is a mistake (a byte count or a time in the wrong field), and
/// one event must not outweigh days of real traffic in what the analyzer learns; a source with more to report splits
/// it over several events.
inline constexpr uint32_t kMaxEventCount = 1'000'000;

/// Why `name` cannot be an event's model, or nullopt. Refused: empty, longer than kMaxModelNameBytes, not valid UTF-8,
/// a control character (C0, DEL or C1 U+0080..U+009F: they would reach log lines, metric labels and state files), or
/// only white space (it shows as nothing there). No catalog name is any of these. Every way in (a POSTed event, a
/// source plugin's event) asks this one function, so they refuse the same names with the same reasons; the reasons
/// name the field as the event formats do ('model').
std::optional<std::string> model_name_problem(std::string_view name);

/// Why an event at `ts_ms` is refused by a host whose clock reads `now_ms`, or nullopt. Refused: before kMinEventTsMs
/// (most often a time in seconds read as milliseconds) or more than kMaxFutureSkewMs ahead of `now_ms`. Exact for
/// every int64_t pair (no overflow). Shared by every way in, like model_name_problem; the reasons name 'ts_ms'.
std::optional<std::string> event_time_problem(int64_t ts_ms, int64_t now_ms);

/// Why an event standing for `count` requests is refused, or nullopt: outside 1..kMaxEventCount. Shared by every way
/// in, like model_name_problem; the reason names 'count'.
std::optional<std::string> event_count_problem(int64_t count);

/// The engine's event for `count` requests of catalog model `model` at `ts_ms` by `tenant` (empty: none); the tenant
/// travels as its hash (core/tenant_hash.hpp), the same whatever brought the event.
inline warmup_usage_event make_usage_event(warmup_model_index model, warmup_time_ms ts_ms, uint32_t count,
                                           std::string_view tenant) noexcept {
    warmup_usage_event event{};
    event.model = model;
    event.ts_ms = ts_ms;
    event.count = count;
    event.tenant_hash = tenant_hash(tenant);
    return event;
}

/// The engine's event for a posted one whose model resolved to `model`; an event without ts_ms happened at `now_ms`.
inline warmup_usage_event to_usage_event(const ParsedEvent& parsed, warmup_model_index model,
                                         warmup_time_ms now_ms) noexcept {
    return make_usage_event(model, parsed.ts_ms.value_or(now_ms), parsed.count, parsed.tenant);
}

}  // namespace warmup::host
