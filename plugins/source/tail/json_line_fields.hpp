// plugins/source/tail/json_line_fields.hpp — what the tail source takes from one JSON access-log line: the model, the
// time and the tenant, each found by a field path, and the time formats it reads.
//
// Field paths: "model", or dotted for nested objects ("request.model", "metadata.team"). At each level a key that
// holds the whole remaining path wins ("kubernetes.pod" as one key), then the path is split at its first dot.
//
// Times: a JSON number is epoch milliseconds; a string is RFC 3339 ("2026-12-02T13:18:48Z",
// "2026-12-02T14:18:48.123+01:00", a space instead of the T, any number of fraction digits) or a string of digits
// (epoch milliseconds). A number below 1e11 (before 1973 as milliseconds) is refused as probably epoch seconds.
// Pure functions: callable from any thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace warmup::plugins {

/// Milliseconds since the Unix epoch of an RFC 3339 date-time (zone required: Z or ±hh:mm), or nullopt when `text`
/// is not one (a date that does not exist, such as February 30, is not one either).
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);

/// The value at `path` in `object`, or nullptr when any step is missing or not an object.
const nlohmann::json* find_field(const nlohmann::json& object, std::string_view path);

/// Which fields of a line mean what. `tenant_field` empty: lines carry no tenant.
struct LineFields {
    std::string model_field = "model";
    std::string time_field = "timestamp";
    std::string tenant_field;
};

/// One line turned into an event, or the reason it could not be.
struct LineEvent {
    std::string model;
    std::string tenant;  ///< "" when none
    int64_t ts_ms = 0;
};

/// Parses `line` (one JSON object) into a LineEvent. A line without the time field gets `read_time_ms`. On failure
/// returns nullopt and sets `problem` to a reason naming the field ("no field 'model'", "not a JSON object").
std::optional<LineEvent> parse_line(std::string_view line, const LineFields& fields, int64_t read_time_ms,
                                    std::string& problem);

}  // namespace warmup::plugins
