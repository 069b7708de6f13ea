// What the tail source reads from one JSON line: RFC 3339 and epoch-millisecond times, dotted field paths, and the
// reasons it gives for lines it cannot use.
#include "json_line_fields.hpp"

#include <gtest/gtest.h>

namespace warmup::plugins {
namespace {

TEST(Rfc3339, UtcWithAndWithoutFraction) {
    EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(parse_rfc3339_ms("2026-12-02T13:18:48Z"), 1796217528000);
    EXPECT_EQ(parse_rfc3339_ms("2026-12-02T13:18:48.123Z"), 1796217528123);
    EXPECT_EQ(parse_rfc3339_ms("2026-12-02T13:18:48.1Z"), 1796217528100);
    EXPECT_EQ(parse_rfc3339_ms("2026-12-02T13:18:48.123456789Z"), 1796217528123);  // past ms: dropped
    EXPECT_EQ(parse_rfc3339_ms("2026-12-02 13:18:48z"), 1796217528000);            // space and lower-case z
}

TEST(Rfc3339, OffsetsAreSubtracted) {
    EXPECT_EQ(parse_rfc3339_ms("2026-12-02T14:18:48+01:00"), 1796217528000);
    EXPECT_EQ(parse_rfc3339_ms("2026-12-02T08:48:48.5-04:30"), 1796217528500);
    EXPECT_EQ(parse_rfc3339_ms("2024-02-29T00:00:00Z"), 1709164800000);  // a leap day
}

TEST(Rfc3339, RefusesWhatIsNotOne) {
    for (const char* text :
         {"", "2026-12-02", "2026-12-02T13:18:48", "2026-12-02T13:18:48+0100", "2026-13-02T13:18:48Z",
          "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-12-02T24:00:00Z", "2026-12-02T13:60:00Z",
          "2026-12-02T13:18:48.Z", "2026-12-02T13:18:48Zjunk", "26-12-02T13:18:48Z", "yesterday"})
        EXPECT_FALSE(parse_rfc3339_ms(text).has_value()) << text;
}

TEST(FieldPath, NestedObjectsAndWholeKeysWithDots) {
    const auto object = nlohmann::json::parse(
        R"({"model": "a", "request": {"model": "b", "meta": {"team": "t"}}, "kubernetes.pod": "p"})");
    EXPECT_EQ(*find_field(object, "model"), "a");
    EXPECT_EQ(*find_field(object, "request.model"), "b");
    EXPECT_EQ(*find_field(object, "request.meta.team"), "t");
    EXPECT_EQ(*find_field(object, "kubernetes.pod"), "p");  // a key holding the whole path wins
    EXPECT_EQ(find_field(object, "request.missing"), nullptr);
    EXPECT_EQ(find_field(object, "model.deeper"), nullptr);  // a string has no fields
}

TEST(ParseLine, ModelTimeAndTenant) {
    LineFields fields{"request.model", "ts", "user.team"};
    std::string problem;
    const auto event = parse_line(R"({"request": {"model": "llama3:8b"}, "ts": "2026-12-02T13:18:48Z",)"
                                  R"( "user": {"team": "search"}})",
                                  fields, 42, problem);
    ASSERT_TRUE(event) << problem;
    EXPECT_EQ(event->model, "llama3:8b");
    EXPECT_EQ(event->ts_ms, 1796217528000);
    EXPECT_EQ(event->tenant, "search");
}

TEST(ParseLine, TimeAsEpochMillisecondsNumberOrDigits) {
    const LineFields fields;
    std::string problem;
    EXPECT_EQ(parse_line(R"({"model": "m", "timestamp": 1796217528123})", fields, 0, problem)->ts_ms, 1796217528123);
    EXPECT_EQ(parse_line(R"({"model": "m", "timestamp": "1796217528123"})", fields, 0, problem)->ts_ms, 1796217528123);
}

TEST(ParseLine, AbsentTimeIsTheReadTime) {
    std::string problem;
    EXPECT_EQ(parse_line(R"({"model": "m"})", LineFields{}, 777, problem)->ts_ms, 777);
    EXPECT_EQ(parse_line(R"({"model": "m", "timestamp": null})", LineFields{}, 778, problem)->ts_ms, 778);
}

TEST(ParseLine, ReasonsForLinesItCannotUse) {
    const LineFields fields{"model", "timestamp", "tenant"};
    const auto reason = [&](std::string_view line) {
        std::string problem;
        EXPECT_FALSE(parse_line(line, fields, 0, problem).has_value()) << line;
        return problem;
    };
    EXPECT_EQ(reason("not json"), "not JSON");
    EXPECT_EQ(reason("[1, 2]"), "not a JSON object");
    EXPECT_EQ(reason(R"({"other": 1})"), "no field 'model'");
    EXPECT_EQ(reason(R"({"model": 7})"), "field 'model' is 7, expected a non-empty string");
    EXPECT_EQ(reason(R"({"model": ""})"), "field 'model' is \"\", expected a non-empty string");
    EXPECT_EQ(reason(R"({"model": "m", "timestamp": "soon"})"),
              "field 'timestamp' is \"soon\", expected an RFC 3339 time or epoch milliseconds (>= 1e11)");
    // Epoch seconds (nginx $msec) would be January 1970 as milliseconds: refused rather than misread.
    EXPECT_EQ(reason(R"({"model": "m", "timestamp": 1796217528.123})"),
              "field 'timestamp' is 1796217528.123, expected an RFC 3339 time or epoch milliseconds (>= 1e11)");
    EXPECT_EQ(reason(R"({"model": "m", "tenant": {"id": 1}})"), "field 'tenant' is {\"id\":1}, expected a string");
}

}  // namespace
}  // namespace warmup::plugins
