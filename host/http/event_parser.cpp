// http/event_parser.cpp — see event_parser.hpp.
//
// Two readers of one NDJSON line, one meaning:
//  - the fast path (simdjson's validating DOM parser) reads every line and accepts the ones that are plainly valid
//    events: a JSON object with only known, distinct keys, a model string that passes model_name_problem, ts_ms
//    and count as in-range int64 integers (ts_ms passing event_time_problem), tenant a string (null where read_item
//    allows it);
//  - anything else (malformed, a refusal, a duplicate key, a number that is not a plain int64, ...) is read again by
//    the reference path (nlohmann::json + read_item), which decides and words every refusal.
// So the fast path only ever accepts, and only lines the reference path accepts with the same values; refusals and
// their messages are the reference path's alone, but for one: an object that names a field twice, which nlohmann
// would read as its last value, is refused ("field 'model' appears twice"), found by simdjson, which keeps both.
// JSON array bodies take the reference path (and simdjson's look for repeated fields). The model and time checks
// are core/usage_event.hpp's, which events from source plugins pass too.
// The fast path is why POST /api/warmup/events keeps up with the HTTP layer (docs/benchmarks.md, "Speed"): parsing 100
// lines with nlohmann::json cost about ten times what simdjson does.
#include "http/event_parser.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "core/json_objects_over_lines.hpp"
#include "core/utf8.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;

// Reads a non-negative JSON integer that must fit int64_t. nlohmann stores a literal above INT64_MAX as an unsigned
// integer, and get<int64_t>() on it wraps negative, so the unsigned case is checked first. Returns the reason when
// the value is refused.
std::optional<std::string> read_non_negative_int64(const json& value, std::string_view field,
                                                   std::string_view integer_hint, int64_t& out) {
    // A whole number beyond even uint64_t (20 digits or more) reaches us as a double: out of range, not "not an
    // integer".
    if (value.is_number_float() && std::abs(value.get<double>()) >= 0x1p63 && std::isfinite(value.get<double>()) &&
        std::floor(value.get<double>()) == value.get<double>())
        return fmt::format("'{}' is out of range ({:.0f} is above {})", field, value.get<double>(),
                           std::numeric_limits<int64_t>::max());
    if (!value.is_number_integer()) return fmt::format("'{}' must be an integer{}", field, integer_hint);
    if (value.is_number_unsigned()) {
        const auto unsigned_value = value.get<uint64_t>();
        if (unsigned_value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            return fmt::format("'{}' is out of range ({} is above {})", field, unsigned_value,
                               std::numeric_limits<int64_t>::max());
        out = static_cast<int64_t>(unsigned_value);
        return std::nullopt;
    }
    out = value.get<int64_t>();
    if (out < 0) return fmt::format("'{}' must not be negative", field);
    return std::nullopt;
}

/// Why `item` is refused for naming a field twice ("field 'model' appears twice ..."), or nullopt when it names each
/// once or is not an object (the reference path words those refusals).
std::optional<std::string> repeated_field(const simdjson::dom::element& item) {
    simdjson::dom::object object;
    if (item.get_object().get(object) != simdjson::SUCCESS) return std::nullopt;
    // An event has at most four known fields, so a handful of keys are compared; a long object of unknown fields is
    // refused for them by the reference path, so only its first 16 keys are looked at here.
    std::array<std::string_view, 16> seen;
    std::size_t count = 0;
    for (const simdjson::dom::key_value_pair field : object) {
        for (std::size_t i = 0; i < count; ++i)
            if (seen[i] == field.key)
                return fmt::format(
                    "field '{}' appears twice (an event names each field once)",
                    field.key.size() <= 64 ? std::string(field.key) : std::string(utf8_prefix(field.key, 64)) + "...");
        if (count == seen.size()) break;
        seen[count++] = field.key;
    }
    return std::nullopt;
}

/// repeated_field of the JSON value `text` holds, read by simdjson; nullopt when it does not parse (the reference path
/// then words why).
std::optional<std::string> repeated_field_in(std::string_view text) {
    const simdjson::padded_string padded(text);
    simdjson::dom::parser parser;
    simdjson::dom::element item;
    if (parser.parse(padded).get(item) != simdjson::SUCCESS) return std::nullopt;
    return repeated_field(item);
}

// Validates one decoded item; returns the reason when it is refused.
std::optional<std::string> read_item(const json& item, int64_t server_now_ms, ParsedEvent& out) {
    if (!item.is_object()) return "expected a JSON object";
    for (const auto& [key, value] : item.items()) {
        if (key != "model" && key != "ts_ms" && key != "tenant" && key != "count")
            // Cut at a character boundary: half of a character would be a byte that is not UTF-8 in the reason.
            return fmt::format("unknown field '{}' (expected model, ts_ms, tenant, count)",
                               key.size() <= 64 ? key : std::string(utf8_prefix(key, 64)) + "...");
    }
    const auto model = item.find("model");
    if (model == item.end()) return "missing field 'model'";
    if (!model->is_string()) return "'model' must be a string";
    const auto& model_name = model->get_ref<const std::string&>();
    if (auto problem = model_name_problem(model_name)) return problem;
    out.model = model_name;
    if (const auto ts = item.find("ts_ms"); ts != item.end() && !ts->is_null()) {
        int64_t value = 0;
        if (auto reason = read_non_negative_int64(*ts, "ts_ms", " (milliseconds since the epoch)", value))
            return reason;
        if (auto reason = event_time_problem(value, server_now_ms)) return reason;
        out.ts_ms = value;
    }
    if (const auto tenant = item.find("tenant"); tenant != item.end() && !tenant->is_null()) {
        if (!tenant->is_string()) return "'tenant' must be a string";
        out.tenant = tenant->get<std::string>();
    }
    if (const auto count = item.find("count"); count != item.end() && !count->is_null()) {
        // A whole number beyond uint64_t (20 digits or more) reaches us as a double: out of range, not "not an
        // integer".
        if (count->is_number_float() && std::isfinite(count->get<double>()) &&
            std::floor(count->get<double>()) == count->get<double>())
            return event_count_problem(count->get<double>() > 0 ? kMaxEventCount + 1 : 0);
        if (!count->is_number_integer()) return "'count' must be an integer";
        // Unsigned first: get<int64_t>() of a literal above INT64_MAX would wrap negative.
        const int64_t value = count->is_number_unsigned()
                                  ? static_cast<int64_t>(std::min<uint64_t>(count->get<uint64_t>(), kMaxEventCount + 1))
                                  : count->get<int64_t>();
        if (auto reason = event_count_problem(value)) return reason;
        out.count = static_cast<uint32_t>(value);
    }
    return std::nullopt;
}

// The fast path's reading of one decoded line: true (and `out` filled) when it is a valid event that read_item would
// accept with the same values; false when the reference path must decide (it may still accept the line, e.g. with a
// duplicate key, where nlohmann keeps the last value).
bool accept_plain_event(const simdjson::dom::element& item, int64_t server_now_ms, ParsedEvent& out) {
    simdjson::dom::object object;
    if (item.get_object().get(object) != simdjson::SUCCESS) return false;
    constexpr std::array<std::string_view, 4> kKeys = {"model", "ts_ms", "tenant", "count"};
    std::array<simdjson::dom::element, 4> values;
    std::array<bool, 4> seen{};
    for (const simdjson::dom::key_value_pair field : object) {
        const auto known = std::find(kKeys.begin(), kKeys.end(), field.key);
        if (known == kKeys.end()) return false;
        const auto slot = static_cast<std::size_t>(known - kKeys.begin());
        if (seen[slot]) return false;
        seen[slot] = true;
        values[slot] = field.value;
    }
    const auto is_null = [&](std::size_t slot) { return !seen[slot] || values[slot].is_null(); };

    std::string_view model;
    if (!seen[0] || values[0].get_string().get(model) != simdjson::SUCCESS) return false;
    if (model_name_problem(model)) return false;

    std::optional<int64_t> ts_ms;
    if (!is_null(1)) {
        // int64 only: simdjson types a literal above INT64_MAX as uint64 and one with a fraction or exponent as
        // double; both go to the reference path.
        int64_t value = 0;
        if (values[1].type() != simdjson::dom::element_type::INT64 || values[1].get_int64().get(value) ||
            event_time_problem(value, server_now_ms))
            return false;
        ts_ms = value;
    }

    std::string_view tenant;
    if (!is_null(2) && values[2].get_string().get(tenant) != simdjson::SUCCESS) return false;

    uint32_t count = 1;
    if (!is_null(3)) {
        int64_t value = 0;
        if (values[3].type() != simdjson::dom::element_type::INT64 || values[3].get_int64().get(value) ||
            event_count_problem(value))
            return false;
        count = static_cast<uint32_t>(value);
    }

    out.model.assign(model);
    out.ts_ms = ts_ms;
    out.tenant.assign(tenant);
    out.count = count;
    return true;
}

// Collects the outcome of each item, listing at most kMaxListedRejections refusals and counting the rest.
class BodyBuilder {
  public:
    explicit BodyBuilder(int64_t server_now_ms) : server_now_ms_(server_now_ms) {}

    void reject(std::size_t position, std::string reason) {
        if (body_.rejected.size() < kMaxListedRejections) {
            body_.rejected.push_back({position, std::move(reason)});
            return;
        }
        ++body_.unlisted_rejections;
    }

    void accept(ParsedEvent event) { body_.events.push_back(std::move(event)); }

    [[nodiscard]] int64_t server_now_ms() const noexcept { return server_now_ms_; }
    /// Whether the next refusal is listed (its reason is worth a second, slower parse) or only counted.
    [[nodiscard]] bool lists_next_refusal() const noexcept { return body_.rejected.size() < kMaxListedRejections; }

    void accept_or_reject(const json& item, std::size_t position) {
        ParsedEvent event;
        event.position = position;
        if (auto reason = read_item(item, server_now_ms_, event)) {
            reject(position, std::move(*reason));
        } else {
            body_.events.push_back(std::move(event));
        }
    }

    ParsedBody& body() { return body_; }

    ParsedBody finish() { return std::move(body_); }

  private:
    int64_t server_now_ms_;
    ParsedBody body_;
};

/// Why `text` does not parse as JSON, for a refusal: "<what> at byte N: <the parser's message>". The parser's message
/// quotes the bytes it read last, which may be the byte that is not UTF-8 (a parse error too): escaped, the reason
/// shows it as \xFF and stays valid UTF-8. A number beyond double's range (1e400) is out_of_range, not a parse_error.
/// A SAX handler that builds nothing and keeps the parser's first error: the error without a throw (a parse that
/// throws costs about 15 times more, and a body may hold many malformed lines).
class FirstJsonError final : public nlohmann::json_sax<json> {
  public:
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return true; }
    bool key(string_t&) override { return true; }
    bool end_object() override { return true; }
    bool start_array(std::size_t) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& error) override {
        byte = position;
        message = error.what();
        syntax = error.id >= 100 && error.id < 200;  // parse_error ids; out_of_range (1e400) is 4xx
        return false;
    }

    std::size_t byte = 0;
    std::string message;  ///< empty: the text parsed
    bool syntax = false;  ///< a syntax error at `byte`, rather than a value the parser refuses
};

std::string malformed_json_reason(std::string_view text, std::string_view what) {
    // The parser's own words only: "[json.exception.parse_error.101] parse error at line 1, column 12: syntax error
    // ..." loses its tag and its line and column (the byte offset says where, and in NDJSON it is always line 1).
    const auto parser_words = [](std::string_view message) {
        if (message.starts_with('[')) {
            if (const auto tag_end = message.find("] "); tag_end != std::string_view::npos)
                message.remove_prefix(tag_end + 2);
        }
        if (message.starts_with("parse error at line ")) {
            if (const auto colon = message.find(": "); colon != std::string_view::npos)
                message.remove_prefix(colon + 2);
        }
        return escape_invalid_utf8(message);
    };
    FirstJsonError error;
    json::sax_parse(text, &error);
    if (error.message.empty()) return std::string(what);
    return error.syntax ? fmt::format("{} at byte {}: {}", what, error.byte, parser_words(error.message))
                        : fmt::format("{}: {}", what, parser_words(error.message));
}

int64_t wall_clock_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

namespace {

/// One event object of a body written over several lines (see objects_one_after_another).
struct OneOfTheObjects {
    std::optional<json> object;          ///< nullopt: refused, for `refusal`
    std::size_t line = 0;                ///< the line it starts on (from 1)
    std::optional<std::string> refusal;  ///< malformed (with the parser's words), or a field named twice
};

/// The JSON objects of a body written one after another over several lines (pretty-printed, as `jq .` writes them),
/// each starting on a line of its own, with only white space between them; each with the line it starts on. Each
/// object's extent is found by its braces (those outside strings), so a malformed object (a trailing comma, a missing
/// quote) is refused alone and the objects around it are kept; one cut short at the end of the body is refused with
/// what is left. nullopt when the body holds anything else between objects, or two objects start on one line: it is
/// then read line by line.
std::optional<std::vector<OneOfTheObjects>> objects_one_after_another(std::string_view text,
                                                                      std::size_t max_line_bytes) {
    std::vector<OneOfTheObjects> objects;
    std::size_t line = 1;
    std::size_t at = 0;
    while (true) {
        const std::size_t start = text.find_first_not_of(" \t\r\n", at);
        if (start == std::string_view::npos) break;
        const auto newlines = static_cast<std::size_t>(std::count(
            text.begin() + static_cast<std::ptrdiff_t>(at), text.begin() + static_cast<std::ptrdiff_t>(start), '\n'));
        // Each object on a line of its own (as jq writes them): two starting on one line would share its number.
        if (!objects.empty() && newlines == 0) return std::nullopt;
        line += newlines;
        if (text[start] != '{') return std::nullopt;
        // The end of the object: its closing brace, or the line break before the next object when it is left open
        // (core/json_objects_over_lines.hpp), so that a malformed object does not take the objects after it along.
        ObjectsOverLines objects_over_lines;
        std::size_t end = start;  // the closing brace, or the line break before the next object, or the body's end
        bool closed = false;
        for (; end < text.size(); ++end) {
            const auto seen = objects_over_lines.step(text, end);
            if (seen == ObjectsOverLines::Seen::NextObjectStarts) break;
            if (seen == ObjectsOverLines::Seen::ObjectClosed) {
                closed = true;
                break;
            }
        }
        const bool cut_short = !closed && end == text.size();
        const std::string_view span = text.substr(start, closed ? end + 1 - start : end - start);
        if (span.find('\n') == std::string_view::npos && span.size() > max_line_bytes) {
            objects.push_back({std::nullopt, line, fmt::format("line longer than {} bytes", max_line_bytes)});
        } else {
            OneOfTheObjects one;
            one.line = line;
            json object = json::parse(span, nullptr, /*allow_exceptions=*/false);
            if (object.is_discarded())
                one.refusal = malformed_json_reason(
                    span, cut_short ? "malformed JSON (the body ends inside this object)" : "malformed JSON");
            else if (auto repeated = repeated_field_in(span))
                one.refusal = std::move(repeated);
            else
                one.object = std::move(object);
            objects.push_back(std::move(one));
        }
        if (cut_short) break;
        line += static_cast<std::size_t>(std::count(span.begin(), span.end(), '\n'));
        at = start + span.size();  // after the closing brace, or at the line break before the next object
    }
    return objects;
}

}  // namespace

ParsedBody parse_events_body(std::string_view text, std::size_t max_line_bytes, std::optional<int64_t> server_now_ms) {
    BodyBuilder builder(server_now_ms.value_or(wall_clock_now_ms()));
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && text[first] == '[') {
        builder.body().is_array = true;
        const json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (parsed.is_discarded()) {
            builder.reject(kWholeBody, malformed_json_reason(text, "malformed JSON array"));
            return builder.finish();
        }
        if (!parsed.is_array()) {  // e.g. "[1] 2" is discarded above; this guards any other top-level shape
            builder.reject(kWholeBody, "expected a JSON array of event objects");
            return builder.finish();
        }
        // The items that name a field twice, which nlohmann read as its last value (simdjson keeps both).
        std::vector<std::optional<std::string>> repeated(parsed.size());
        {
            const simdjson::padded_string padded(text);
            simdjson::dom::parser parser;
            simdjson::dom::array items;
            if (parser.parse(padded).get_array().get(items) == simdjson::SUCCESS) {
                std::size_t i = 0;
                for (const simdjson::dom::element item : items) {
                    if (i == repeated.size()) break;
                    repeated[i++] = repeated_field(item);
                }
            }
        }
        std::size_t index = 0;
        for (const auto& item : parsed) {
            if (repeated[index]) {
                builder.reject(index + 1, std::move(*repeated[index]));
                ++index;
                continue;
            }
            builder.accept_or_reject(item, ++index);
        }
        return builder.finish();
    }
    // One simdjson parser for the body's lines (its buffers grow to the longest line parsed) and one padded copy of
    // the current line: simdjson reads up to SIMDJSON_PADDING bytes past the end of its input.
    simdjson::dom::parser fast_parser;
    std::string padded_line;
    std::size_t line_number = 0;
    std::size_t start = 0;
    bool body_first_line = true;  // no line with content seen yet
    while (start <= text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(start, end - start);
        ++line_number;
        start = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const std::size_t content = line.find_first_not_of(" \t");
        if (content == std::string_view::npos) {
            if (end == text.size()) break;
            continue;
        }
        const bool first_line = std::exchange(body_first_line, false);
        if (line.size() > max_line_bytes) {
            builder.reject(line_number, fmt::format("line longer than {} bytes", max_line_bytes));
        } else {
            padded_line.assign(line);
            padded_line.resize(line.size() + simdjson::SIMDJSON_PADDING);
            simdjson::dom::element decoded;
            ParsedEvent event;
            event.position = line_number;
            const bool decodes =
                fast_parser.parse(padded_line.data(), line.size(), /*realloc_if_needed=*/false).get(decoded) ==
                simdjson::SUCCESS;
            if (decodes && accept_plain_event(decoded, builder.server_now_ms(), event)) {
                builder.accept(std::move(event));
                if (end == text.size()) break;
                continue;
            }
            if (decodes) {
                if (auto repeated = repeated_field(decoded)) {
                    builder.reject(line_number, std::move(*repeated));
                    if (end == text.size()) break;
                    continue;
                }
            }
            const json item = json::parse(line, nullptr, /*allow_exceptions=*/false);
            // Event objects written over several lines (pretty-printed, as `jq .` writes them: one, or several one
            // after another) are those events, each reported by the line it starts on (a malformed one refused
            // alone), not one malformed line per line: tried once, when the body's first line is not JSON and more
            // lines follow (nothing is decided before that line, so the body's answer is theirs alone).
            if (item.is_discarded() && first_line && end < text.size() && line[content] == '{') {
                if (const auto objects = objects_one_after_another(text, max_line_bytes)) {
                    for (const auto& one : *objects) {
                        if (one.refusal)
                            builder.reject(one.line, *one.refusal);
                        else
                            builder.accept_or_reject(*one.object, one.line);
                    }
                    return builder.finish();
                }
            }
            if (item.is_discarded()) {
                // The parser's message needs a second pass: only for a listed refusal.
                builder.reject(line_number, builder.lists_next_refusal() ? malformed_json_reason(line, "malformed JSON")
                                                                         : std::string("malformed JSON"));
            } else {
                builder.accept_or_reject(item, line_number);
            }
        }
        if (end == text.size()) break;
    }
    return builder.finish();
}

}  // namespace warmup::host
