// Unit tests of parse_events_body (host/http/event_parser): the body of POST /api/warmup/events.
//
// What is pinned: both body shapes (JSON array, NDJSON), how positions are counted (1-based lines including blank
// ones, 1-based array items), that CR of CRLF and blank lines are ignored, every refusal reason, that good items
// survive next to bad ones, and the overlong-line limit at its exact boundary.
#include "http/event_parser.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace warmup::host {
namespace {

// --------------------------------------------------------------------------------------------------------------
// Accepted shapes

TEST(EventParser, JsonArrayKeepsEveryFieldAndNumbersItemsFromOne) {
    const ParsedBody body = parse_events_body(
        R"([{"model": "llama3:8b"}, {"model": "phi3:mini", "ts_ms": 1700000000123, "tenant": "acme", "count": 3}])");
    EXPECT_TRUE(body.is_array);
    EXPECT_TRUE(body.rejected.empty());
    ASSERT_EQ(body.events.size(), 2u);

    EXPECT_EQ(body.events[0].position, 1u);
    EXPECT_EQ(body.events[0].model, "llama3:8b");
    EXPECT_FALSE(body.events[0].ts_ms.has_value());  // absent: the server stamps its own clock
    EXPECT_EQ(body.events[0].tenant, "");
    EXPECT_EQ(body.events[0].count, 1u);  // default count

    EXPECT_EQ(body.events[1].position, 2u);
    EXPECT_EQ(body.events[1].model, "phi3:mini");
    ASSERT_TRUE(body.events[1].ts_ms.has_value());
    EXPECT_EQ(*body.events[1].ts_ms, 1700000000123);
    EXPECT_EQ(body.events[1].tenant, "acme");
    EXPECT_EQ(body.events[1].count, 3u);
}

TEST(EventParser, JsonArrayMayStartAfterWhitespace) {
    const ParsedBody body = parse_events_body(" \r\n\t[{\"model\": \"a\"}]\n");
    EXPECT_TRUE(body.is_array);
    ASSERT_EQ(body.events.size(), 1u);
    EXPECT_EQ(body.events[0].position, 1u);
}

TEST(EventParser, EmptyJsonArrayAndEmptyBodyYieldNothing) {
    const ParsedBody array = parse_events_body("[]");
    EXPECT_TRUE(array.is_array);
    EXPECT_TRUE(array.events.empty());
    EXPECT_TRUE(array.rejected.empty());

    const ParsedBody empty = parse_events_body("");
    EXPECT_FALSE(empty.is_array);
    EXPECT_TRUE(empty.events.empty());
    EXPECT_TRUE(empty.rejected.empty());
}

TEST(EventParser, NdjsonCountsBlankLinesInPositionsButSkipsThem) {
    // Line 1 blank, 2 event, 3 blank, 4 only CR, 5 spaces and a tab, 6 event (no trailing newline).
    const ParsedBody body = parse_events_body("\n{\"model\":\"a\"}\n\n\r\n  \t\n{\"model\":\"b\",\"count\":2}");
    EXPECT_FALSE(body.is_array);
    EXPECT_TRUE(body.rejected.empty());
    ASSERT_EQ(body.events.size(), 2u);
    EXPECT_EQ(body.events[0].position, 2u);
    EXPECT_EQ(body.events[0].model, "a");
    EXPECT_EQ(body.events[1].position, 6u);
    EXPECT_EQ(body.events[1].model, "b");
    EXPECT_EQ(body.events[1].count, 2u);
}

TEST(EventParser, NdjsonWithCrlfLineEndsParsesEveryLine) {
    const ParsedBody body =
        parse_events_body("{\"model\":\"a\",\"ts_ms\":1700000000010}\r\n{\"model\":\"b\",\"ts_ms\":1700000000020}\r\n");
    EXPECT_TRUE(body.rejected.empty());
    ASSERT_EQ(body.events.size(), 2u);
    EXPECT_EQ(body.events[0].position, 1u);
    EXPECT_EQ(*body.events[0].ts_ms, 1700000000010);
    EXPECT_EQ(body.events[1].position, 2u);
    EXPECT_EQ(*body.events[1].ts_ms, 1700000000020);
}

TEST(EventParser, NullOptionalFieldsCountAsAbsentAndBoundsAreInclusive) {
    const ParsedBody body = parse_events_body(
        "{\"model\":\"a\",\"ts_ms\":null,\"tenant\":null,\"count\":null}\n"
        "{\"model\":\"b\",\"ts_ms\":1000000000000,\"count\":1000000}\n");
    EXPECT_TRUE(body.rejected.empty());
    ASSERT_EQ(body.events.size(), 2u);
    EXPECT_FALSE(body.events[0].ts_ms.has_value());
    EXPECT_EQ(body.events[0].tenant, "");
    EXPECT_EQ(body.events[0].count, 1u);
    ASSERT_TRUE(body.events[1].ts_ms.has_value());
    EXPECT_EQ(*body.events[1].ts_ms, kMinEventTsMs);  // the earliest time accepted
    EXPECT_EQ(body.events[1].count, 1000000u);        // the largest count allowed
}

// --------------------------------------------------------------------------------------------------------------
// Refusals, one per reason

struct RefusalCase {
    const char* name;  ///< test-name suffix
    const char* line;
    const char* reason;
};

// Test names and failure messages show the case's name, not the struct's bytes.
void PrintTo(const RefusalCase& refusal, std::ostream* out) { *out << refusal.name; }

class EventParserRefusal : public ::testing::TestWithParam<RefusalCase> {};

TEST_P(EventParserRefusal, RefusesTheItemWithItsReasonAtItsLine) {
    // The bad item is on line 2, between two good ones: the good ones stay, the bad one is named by its line.
    const std::string text = std::string("{\"model\":\"good-1\"}\n") + GetParam().line + "\n{\"model\":\"good-3\"}\n";
    const ParsedBody body = parse_events_body(text);
    EXPECT_FALSE(body.is_array);
    ASSERT_EQ(body.rejected.size(), 1u) << GetParam().line;
    EXPECT_EQ(body.rejected[0].position, 2u);
    EXPECT_EQ(body.rejected[0].reason, GetParam().reason);
    ASSERT_EQ(body.events.size(), 2u);
    EXPECT_EQ(body.events[0].position, 1u);
    EXPECT_EQ(body.events[0].model, "good-1");
    EXPECT_EQ(body.events[1].position, 3u);
    EXPECT_EQ(body.events[1].model, "good-3");
}

INSTANTIATE_TEST_SUITE_P(
    EveryReason, EventParserRefusal,
    ::testing::Values(
        RefusalCase{"UnterminatedObject", R"({"model": "a")",
                    "malformed JSON at byte 14: syntax error while parsing object - unexpected end of input; "
                    "expected '}'"},
        RefusalCase{"TrailingJunk", R"({"model": "a"} trailing)",
                    "malformed JSON at byte 18: syntax error while parsing value - invalid literal; last read: "
                    "'\"a\"} tra'; expected end of input"},
        RefusalCase{"MissingModel", R"({"ts_ms": 5})", "missing field 'model'"},
        RefusalCase{"ModelNotString", R"({"model": 5})", "'model' must be a string"},
        RefusalCase{"EmptyModel", R"({"model": ""})", "'model' must not be empty"},
        RefusalCase{"TsMsString", R"({"model": "a", "ts_ms": "5"})",
                    "'ts_ms' must be an integer (milliseconds since the epoch)"},
        RefusalCase{"TsMsFraction", R"({"model": "a", "ts_ms": 1.5})",
                    "'ts_ms' must be an integer (milliseconds since the epoch)"},
        RefusalCase{"NegativeTsMs", R"({"model": "a", "ts_ms": -1})", "'ts_ms' must not be negative"},
        RefusalCase{"TsMsIn1970", R"({"model": "a", "ts_ms": 1})",
                    "'ts_ms' 1 is before 2001-09-09 (the earliest accepted, 1000000000000): ts_ms counts milliseconds "
                    "since the epoch, not seconds"},
        RefusalCase{"TsMsInSeconds", R"({"model": "a", "ts_ms": 1700000000})",
                    "'ts_ms' 1700000000 is before 2001-09-09 (the earliest accepted, 1000000000000): ts_ms counts "
                    "milliseconds since the epoch, not seconds"},
        RefusalCase{"BlankModel", R"({"model": " "})", "'model' must not be blank (it is only white space)"},
        RefusalCase{"UnicodeBlankModel", R"({"model": " \u00a0\u3000\u2009"})",
                    "'model' must not be blank (it is only white space)"},
        RefusalCase{"C1ControlInModel", R"({"model": "c1\u0085x"})",
                    "'model' contains the control character U+0085 at byte 2"},
        RefusalCase{"FirstC1ControlInModel", R"({"model": "\u0080"})",
                    "'model' contains the control character U+0080 at byte 0"},
        RefusalCase{"LastC1ControlInModel", R"({"model": "ok:\u009f"})",
                    "'model' contains the control character U+009F at byte 3"},
        RefusalCase{"RightToLeftOverrideInModel", R"({"model": "embed/\u202eLTR"})",
                    "'model' contains the bidirectional control character U+202E at byte 6 (it makes a name display "
                    "as another)"},
        RefusalCase{"IsolateInModel", R"({"model": "a\u2066b"})",
                    "'model' contains the bidirectional control character U+2066 at byte 1 (it makes a name display as "
                    "another)"},
        RefusalCase{"ArabicLetterMarkInModel", R"({"model": "a\u061cb"})",
                    "'model' contains the bidirectional control character U+061C at byte 1 (it makes a name display as "
                    "another)"},
        RefusalCase{"RightToLeftMarkInModel", R"({"model": "a\u200fb"})",
                    "'model' contains the bidirectional control character U+200F at byte 1 (it makes a name display as "
                    "another)"},
        RefusalCase{"TenantNotString", R"({"model": "a", "tenant": 7})", "'tenant' must be a string"},
        RefusalCase{"CountString", R"({"model": "a", "count": "2"})", "'count' must be an integer"},
        RefusalCase{"CountZero", R"({"model": "a", "count": 0})", "'count' must be between 1 and 1000000"},
        RefusalCase{"CountTooLarge", R"({"model": "a", "count": 1000001})", "'count' must be between 1 and 1000000"},
        RefusalCase{"CountNegative", R"({"model": "a", "count": -3})", "'count' must be between 1 and 1000000"},
        // Beyond even uint64_t the JSON library holds it as a double: still a count out of range, not "not an integer".
        RefusalCase{"CountBeyondAnyInteger", R"({"model": "a", "count": 99999999999999999999999})",
                    "'count' must be between 1 and 1000000"},
        RefusalCase{"CountFraction", R"({"model": "a", "count": 2.5})", "'count' must be an integer"},
        RefusalCase{"UnknownField", R"({"model": "a", "modle": "b"})",
                    "unknown field 'modle' (expected model, ts_ms, tenant, count)"},
        RefusalCase{"StringLine", R"("just a string")", "expected a JSON object"},
        RefusalCase{"NumberLine", "42", "expected a JSON object"},
        RefusalCase{"NullLine", "null", "expected a JSON object"},
        // An array inside NDJSON (not the body's first item) is one bad line, not a JSON-array body.
        RefusalCase{"ArrayLine", R"([{"model": "a"}])", "expected a JSON object"}),
    [](const ::testing::TestParamInfo<RefusalCase>& info) { return std::string(info.param.name); });

TEST(EventParser, UnknownFieldIsReportedEvenWhenModelIsMissing) {
    // A misspelt "model" must be named as such, not reported as a missing field: that is the useful message.
    const ParsedBody body = parse_events_body(R"({"modle": "a"})");
    ASSERT_EQ(body.rejected.size(), 1u);
    EXPECT_EQ(body.rejected[0].reason, "unknown field 'modle' (expected model, ts_ms, tenant, count)");
}

TEST(EventParser, ManyBadLinesAreEachReportedInOrderWithGoodOnesKept) {
    const ParsedBody body = parse_events_body(
        "{\"model\":\"a\"}\n"               // 1 good
        "not json\n"                        // 2 malformed
        "\n"                                // 3 blank
        "{\"model\":\"b\",\"count\":0}\n"   // 4 count 0
        "{\"model\":\"c\"}\r\n"             // 5 good (CRLF)
        "{\"count\":2}\n"                   // 6 missing model
        "{\"model\":\"d\",\"ts_ms\":-5}");  // 7 negative ts
    ASSERT_EQ(body.events.size(), 2u);
    EXPECT_EQ(body.events[0].position, 1u);
    EXPECT_EQ(body.events[0].model, "a");
    EXPECT_EQ(body.events[1].position, 5u);
    EXPECT_EQ(body.events[1].model, "c");
    ASSERT_EQ(body.rejected.size(), 4u);
    EXPECT_EQ(body.rejected[0].position, 2u);
    EXPECT_EQ(body.rejected[0].reason,
              "malformed JSON at byte 2: syntax error while parsing value - invalid literal; last read: 'no'");
    EXPECT_EQ(body.rejected[1].position, 4u);
    EXPECT_EQ(body.rejected[1].reason, "'count' must be between 1 and 1000000");
    EXPECT_EQ(body.rejected[2].position, 6u);
    EXPECT_EQ(body.rejected[2].reason, "missing field 'model'");
    EXPECT_EQ(body.rejected[3].position, 7u);
    EXPECT_EQ(body.rejected[3].reason, "'ts_ms' must not be negative");
}

TEST(EventParser, JsonArrayRefusesBadItemsByIndexAndKeepsTheRest) {
    const ParsedBody body = parse_events_body(
        R"([{"model": "a"}, 17, {"model": "b", "count": 0}, {"model": "c", "extra": true}, {"model": "d"}])");
    EXPECT_TRUE(body.is_array);
    ASSERT_EQ(body.events.size(), 2u);
    EXPECT_EQ(body.events[0].position, 1u);
    EXPECT_EQ(body.events[0].model, "a");
    EXPECT_EQ(body.events[1].position, 5u);
    EXPECT_EQ(body.events[1].model, "d");
    ASSERT_EQ(body.rejected.size(), 3u);
    EXPECT_EQ(body.rejected[0].position, 2u);
    EXPECT_EQ(body.rejected[0].reason, "expected a JSON object");
    EXPECT_EQ(body.rejected[1].position, 3u);
    EXPECT_EQ(body.rejected[1].reason, "'count' must be between 1 and 1000000");
    EXPECT_EQ(body.rejected[2].position, 4u);
    EXPECT_EQ(body.rejected[2].reason, "unknown field 'extra' (expected model, ts_ms, tenant, count)");
}

TEST(EventParser, MalformedJsonArrayIsOneRefusalAtPositionZeroWithTheByteOffset) {
    // A broken array cannot be split into items: nothing is accepted, and the refusal says where parsing stopped.
    // "[{\"model\": \"a\"}, x]": the unexpected 'x' is the 18th byte.
    const ParsedBody body = parse_events_body(R"([{"model": "a"}, x])");
    EXPECT_TRUE(body.is_array);
    EXPECT_TRUE(body.events.empty());
    ASSERT_EQ(body.rejected.size(), 1u);
    EXPECT_EQ(body.rejected[0].position, 0u);
    EXPECT_EQ(body.rejected[0].reason.rfind("malformed JSON array at byte 18: ", 0), 0u) << body.rejected[0].reason;
}

TEST(EventParser, ANumberBeyondDoubleRangeRefusesTheArrayAndOnlyItsLineInNdjson) {
    // 1e400 overflows a double: nlohmann's parser refuses it with out_of_range (not parse_error); it used to escape
    // as an exception (found by the event-parser fuzzer).
    const ParsedBody array = parse_events_body(R"([{"model": "a", "count": 1e400}])");
    EXPECT_TRUE(array.events.empty());
    ASSERT_EQ(array.rejected.size(), 1u);
    EXPECT_EQ(array.rejected[0].position, 0u);
    EXPECT_EQ(array.rejected[0].reason.rfind("malformed JSON array: ", 0), 0u) << array.rejected[0].reason;
    EXPECT_NE(array.rejected[0].reason.find("number overflow"), std::string::npos) << array.rejected[0].reason;

    const ParsedBody lines = parse_events_body("{\"model\": \"a\", \"ts_ms\": 1e400}\n{\"model\": \"b\"}\n");
    ASSERT_EQ(lines.events.size(), 1u);
    EXPECT_EQ(lines.events[0].model, "b");
    ASSERT_EQ(lines.rejected.size(), 1u);
    EXPECT_EQ(lines.rejected[0].position, 1u);
    EXPECT_EQ(lines.rejected[0].reason, "malformed JSON: number overflow parsing '1e400'");
}

TEST(EventParser, UnterminatedJsonArrayIsRefused) {
    const ParsedBody body = parse_events_body(R"([{"model": "a"},)");
    EXPECT_TRUE(body.is_array);
    EXPECT_TRUE(body.events.empty());
    ASSERT_EQ(body.rejected.size(), 1u);
    EXPECT_EQ(body.rejected[0].position, 0u);
    EXPECT_EQ(body.rejected[0].reason.rfind("malformed JSON array at byte ", 0), 0u) << body.rejected[0].reason;
}

// --------------------------------------------------------------------------------------------------------------
// Line length limit

TEST(EventParser, LineOfExactlyTheLimitIsParsedOneByteMoreIsRefused) {
    const std::string at_limit = R"({"model":"abcdefgh"})";     // 20 bytes
    const std::string over_limit = R"({"model":"abcdefghi"})";  // 21 bytes
    ASSERT_EQ(at_limit.size(), 20u);
    ASSERT_EQ(over_limit.size(), 21u);
    // The CR of a CRLF line end is not part of the line: line 3 is 20 bytes of content plus CR and is accepted.
    const ParsedBody body = parse_events_body(at_limit + "\n" + over_limit + "\n" + at_limit + "\r\n", 20);
    ASSERT_EQ(body.events.size(), 2u);
    EXPECT_EQ(body.events[0].position, 1u);
    EXPECT_EQ(body.events[0].model, "abcdefgh");
    EXPECT_EQ(body.events[1].position, 3u);
    ASSERT_EQ(body.rejected.size(), 1u);
    EXPECT_EQ(body.rejected[0].position, 2u);
    EXPECT_EQ(body.rejected[0].reason, "line longer than 20 bytes");
}

TEST(EventParser, OverlongLineIsRefusedWithoutParsingIt) {
    // Not even valid JSON: the length check comes first, so the reason is the length, not "malformed JSON".
    const std::string huge(64, 'x');
    const ParsedBody body = parse_events_body("{\"model\":\"a\"}\n" + huge + "\n", 32);
    ASSERT_EQ(body.events.size(), 1u);
    ASSERT_EQ(body.rejected.size(), 1u);
    EXPECT_EQ(body.rejected[0].position, 2u);
    EXPECT_EQ(body.rejected[0].reason, "line longer than 32 bytes");
}

TEST(EventParser, DefaultLimitIsOneMebibyte) {
    // A valid event padded with spaces to just over 1 MiB is refused by length under the default limit.
    std::string padded = "{\"model\":\"a\"}";
    padded.append((std::size_t{1} << 20) + 1 - padded.size(), ' ');
    const ParsedBody body = parse_events_body(padded);
    ASSERT_EQ(body.rejected.size(), 1u);
    EXPECT_EQ(body.rejected[0].reason, "line longer than 1048576 bytes");
    EXPECT_TRUE(body.events.empty());
}

}  // namespace
TEST(EventParser, ModelNamesWithControlCharactersAreRefusedWithTheByteAndItsPosition) {
    const ParsedBody body = parse_events_body(
        "{\"model\":\"a\\nb\"}\n{\"model\":\"del\\u007f\"}\n{\"model\":\"tab\\there\"}\n{\"model\":\"ok:\u00e9\"}\n",
        1 << 20, 0);
    ASSERT_EQ(body.events.size(), 1u);
    EXPECT_EQ(body.events[0].position, 4u);  // UTF-8 beyond ASCII is fine
    ASSERT_EQ(body.rejected.size(), 3u);
    EXPECT_EQ(body.rejected[0].reason, "'model' contains the control character 0x0a at byte 1");
    EXPECT_EQ(body.rejected[1].reason, "'model' contains the control character 0x7f at byte 3");
    EXPECT_EQ(body.rejected[2].reason, "'model' contains the control character 0x09 at byte 3");
}

// --------------------------------------------------------------------------------------------------------------
// NDJSON lines take a fast reader (simdjson) that only accepts plain events and hands everything else to the reference
// reader (nlohmann), which JSON array bodies always use. A line must mean the same either way.

TEST(EventParser, AnEventThatNamesAFieldTwiceIsRefusedInEveryFormOfBody) {
    // Before, the last value counted (the JSON parser's choice): {"model":"a","model":"b"} was an event of b.
    const std::string reason = "field 'model' appears twice (an event names each field once)";
    const ParsedBody lines = parse_events_body("{\"model\":\"a\"}\n{\"model\":\"a\",\"model\":\"b\"}\n", 1 << 20, 0);
    ASSERT_EQ(lines.events.size(), 1u);
    ASSERT_EQ(lines.rejected.size(), 1u);
    EXPECT_EQ(lines.rejected[0].position, 2u);
    EXPECT_EQ(lines.rejected[0].reason, reason);

    const ParsedBody array =
        parse_events_body(R"([{"model":"a"}, 7, {"model":"a","model":"b"}, {"model":"c"}])", 1 << 20, 0);
    ASSERT_EQ(array.events.size(), 2u);
    EXPECT_EQ(array.events[1].model, "c");
    EXPECT_EQ(array.events[1].position, 4u);
    ASSERT_EQ(array.rejected.size(), 2u);
    EXPECT_EQ(array.rejected[0].position, 2u);  // 7: not an object
    EXPECT_EQ(array.rejected[1].position, 3u);
    EXPECT_EQ(array.rejected[1].reason, reason);

    // Objects written over several lines (as `jq .` writes them), each reported by the line it starts on.
    const ParsedBody pretty = parse_events_body(
        "{\n  \"model\": \"a\"\n}\n{\n  \"count\": 2,\n  \"count\": 3,\n  \"model\": \"b\"\n}\n", 1 << 20, 0);
    ASSERT_EQ(pretty.events.size(), 1u);
    ASSERT_EQ(pretty.rejected.size(), 1u);
    EXPECT_EQ(pretty.rejected[0].position, 4u);
    EXPECT_EQ(pretty.rejected[0].reason, "field 'count' appears twice (an event names each field once)");
}

TEST(EventParser, EveryNdjsonLineMeansWhatTheSameItemMeansInAJsonArray) {
    constexpr int64_t kNowMs = 1'700'000'000'000;
    const std::vector<std::string> items = {
        R"({"model":"phi3:mini"})",
        R"({"model":"embed/x","tenant":"acme","count":3,"ts_ms":1699999999000})",
        R"({"count":1000000,"tenant":"","ts_ms":1000000000000,"model":"b"})",  // any key order, bounds inclusive
        R"({"model":"a","ts_ms":null,"tenant":null,"count":null})",
        R"({"model":"phi3\u003amini","tenant":"caf\u00e9"})",  // escapes decoded the same way
        R"({"model":"a","model":"b"})",                        // a field named twice: refused
        R"({"model":"a","ts_ms":5,"ts_ms":-1})",               // ... whatever its values
        R"({"model":"a","ts_ms":-0})",                         // -0 is the integer 0 (1970: refused)
        R"({"model":"a","ts_ms":1000000000000})",              // the earliest time accepted
        R"({"model":"a","ts_ms":999999999999})",               // one ms before it
        R"({"model":"a","ts_ms":1700000000})",                 // seconds, not milliseconds
        R"({"model":" "})",                                    // blank
        R"({"model":" a "})",                                  // white space around a name is not blank
        R"({"model":"\u2003"})",                               // blank in Unicode white space
        R"({"model":"c1\u0085x"})",                            // a C1 control character
        R"({"model":"\u00a0x\u00a0"})",                        // U+00A0 (after the C1 range) is fine
        R"({"model":"a","ts_ms":1700000300000})",              // exactly the allowed skew ahead
        R"({"model":"a","ts_ms":1700000300001})",              // one ms beyond it
        R"({"model":"a","ts_ms":9223372036854775807})",        // INT64_MAX: far in the future
        R"({"model":"a","ts_ms":9223372036854775808})",        // beyond int64
        R"({"model":"a","ts_ms":1e3})",
        R"({"model":"a","ts_ms":1.0})",
        R"({"model":"a","count":2.0})",
        R"({"model":"a","count":18446744073709551615})",
        R"({"model":"a","count":0})",
        R"({"model":"a","tenant":{"id":1}})",
        R"({"model":["a"]})",
        R"({"model":null})",
        R"({"model":""})",
        R"({"model":"a\u0000b"})",
        R"({"model":"x","extra":true})",
        R"({"Model":"x"})",
        R"({"ts_ms":5})",
        R"({})",
        R"([])",
        R"("phi3:mini")",
        R"(true)",
        "{\"model\":\"" + std::string(kMaxModelNameBytes, 'm') + "\"}",      // the longest name allowed
        "{\"model\":\"" + std::string(kMaxModelNameBytes + 1, 'm') + "\"}",  // one byte more
    };
    std::string ndjson;
    std::string array = "[";
    for (const auto& item : items) {
        ndjson += item + "\n";
        array += (array.size() > 1 ? "," : "") + item;
    }
    array += "]";
    const ParsedBody lines = parse_events_body(ndjson, 1 << 20, kNowMs);
    const ParsedBody reference = parse_events_body(array, 1 << 20, kNowMs);
    ASSERT_FALSE(lines.is_array);
    ASSERT_TRUE(reference.is_array);

    ASSERT_EQ(lines.events.size(), reference.events.size());
    for (std::size_t i = 0; i < lines.events.size(); ++i) {
        const ParsedEvent& line = lines.events[i];
        const ParsedEvent& item = reference.events[i];
        SCOPED_TRACE(items.at(item.position - 1));
        EXPECT_EQ(line.position, item.position);
        EXPECT_EQ(line.model, item.model);
        EXPECT_EQ(line.ts_ms, item.ts_ms);
        EXPECT_EQ(line.tenant, item.tenant);
        EXPECT_EQ(line.count, item.count);
    }
    ASSERT_EQ(lines.rejected.size(), reference.rejected.size());
    for (std::size_t i = 0; i < lines.rejected.size(); ++i) {
        SCOPED_TRACE(items.at(reference.rejected[i].position - 1));
        EXPECT_EQ(lines.rejected[i].position, reference.rejected[i].position);
        EXPECT_EQ(lines.rejected[i].reason, reference.rejected[i].reason);
    }
    // The corpus exercises both outcomes, and the values the fast reader must get right.
    EXPECT_EQ(lines.events.size(), 10u);
    EXPECT_EQ(lines.events[4].model, "phi3:mini");
    EXPECT_EQ(lines.events[4].tenant, "caf\u00e9");
    ASSERT_GE(lines.rejected.size(), 2u);
    EXPECT_EQ(lines.rejected[0].reason, "field 'model' appears twice (an event names each field once)");
    EXPECT_EQ(lines.rejected[1].reason, "field 'ts_ms' appears twice (an event names each field once)");
}

TEST(EventParser, NdjsonLineWithAByteOrderMarkIsReadAsWithout) {
    // nlohmann skips a UTF-8 BOM at the start of its input; the fast reader refuses it and defers.
    const ParsedBody body = parse_events_body("\xEF\xBB\xBF{\"model\":\"a\",\"count\":2}\n", 1 << 20, 0);
    EXPECT_TRUE(body.rejected.empty());
    ASSERT_EQ(body.events.size(), 1u);
    EXPECT_EQ(body.events[0].model, "a");
    EXPECT_EQ(body.events[0].count, 2u);
}

TEST(EventParser, InvalidUtf8AndLoneSurrogatesAreMalformedLinesThatSayWhichByte) {
    const ParsedBody body =
        parse_events_body("{\"model\":\"a\xff\"}\n{\"model\":\"a\\ud800\"}\n{\"model\":\"ok\"}\n", 1 << 20, 0);
    ASSERT_EQ(body.events.size(), 1u);
    EXPECT_EQ(body.events[0].position, 3u);
    ASSERT_EQ(body.rejected.size(), 2u);
    // The byte that is not UTF-8 is shown escaped, so the reason itself stays valid UTF-8.
    EXPECT_EQ(body.rejected[0].reason,
              "malformed JSON at byte 12: syntax error while parsing value - invalid string: ill-formed UTF-8 byte; "
              "last read: '\"a\\xFF'");
    EXPECT_EQ(body.rejected[1].reason,
              "malformed JSON at byte 18: syntax error while parsing value - invalid string: surrogate U+D800..U+DBFF "
              "must be followed by U+DC00..U+DFFF; last read: '\"a\\ud800\"'");
}

TEST(EventParser, OneEventObjectWrittenOverSeveralLinesIsThatEvent) {
    // As `jq .` prints it (curl -H 'Content-Type: application/json' -d @event.json): one event, not three malformed
    // lines; it is numbered by the line its object starts on.
    const ParsedBody body = parse_events_body("\n{\n  \"model\": \"a\",\n  \"count\": 2\n}\n", 1 << 20, 0);
    EXPECT_FALSE(body.is_array);
    EXPECT_TRUE(body.rejected.empty());
    ASSERT_EQ(body.events.size(), 1u);
    EXPECT_EQ(body.events[0].position, 2u);
    EXPECT_EQ(body.events[0].model, "a");
    EXPECT_EQ(body.events[0].count, 2u);
    // Its refusal is the item's own reason; and NDJSON whose first line is a whole object is still read by line.
    const ParsedBody refused = parse_events_body("{\n  \"model\": 5\n}\n", 1 << 20, 0);
    ASSERT_EQ(refused.rejected.size(), 1u);
    EXPECT_EQ(refused.rejected[0].position, 1u);
    EXPECT_EQ(refused.rejected[0].reason, "'model' must be a string");
    const ParsedBody lines = parse_events_body("{\"model\": \"a\"}\n{\"model\": \"b\"}\n", 1 << 20, 0);
    EXPECT_EQ(lines.events.size(), 2u);
}

TEST(EventParser, SeveralEventObjectsWrittenOverSeveralLinesAreEachAnEvent) {
    // `jq . events.ndjson` prints each object over several lines, one after another: each is an event, numbered by
    // the line it starts on, and a bad one is refused alone.
    const ParsedBody body = parse_events_body(
        "{\n  \"model\": \"a\"\n}\n{\n  \"model\": 7\n}\n\n{\n  \"model\": \"c\",\n  \"count\": 3\n}\n", 1 << 20, 0);
    ASSERT_EQ(body.events.size(), 2u);
    EXPECT_EQ(body.events[0].model, "a");
    EXPECT_EQ(body.events[0].position, 1u);
    EXPECT_EQ(body.events[1].model, "c");
    EXPECT_EQ(body.events[1].position, 8u);
    EXPECT_EQ(body.events[1].count, 3u);
    ASSERT_EQ(body.rejected.size(), 1u);
    EXPECT_EQ(body.rejected[0].position, 4u);
    EXPECT_EQ(body.rejected[0].reason, "'model' must be a string");
    // Two objects starting on one line would share its number: not this form, read line by line (three refusals).
    const ParsedBody same_line = parse_events_body("{\"model\": \"a\"}{\n\"model\": \"b\"\n}\n", 1 << 20, 0);
    EXPECT_TRUE(same_line.events.empty());
    EXPECT_EQ(same_line.rejected.size(), 3u);
    // Anything else between the objects: read line by line as before (one refusal per line that is not JSON).
    const ParsedBody mixed = parse_events_body("{\n  \"model\": \"a\"\n}\n[1]\n", 1 << 20, 0);
    EXPECT_TRUE(mixed.events.empty());
    EXPECT_EQ(mixed.rejected.size(), 4u);
}

TEST(EventParser, AMalformedObjectAmongSeveralWrittenOverSeveralLinesIsRefusedAlone) {
    // Before, one malformed object (a trailing comma here) sent the whole body to be read line by line: every event
    // in it refused, one refusal per line.
    const ParsedBody body = parse_events_body(
        "{\n  \"model\": \"a\"\n}\n{\n  \"model\": \"b\",\n}\n{\n  \"model\": \"c {\\\"}\"\n}\n{\n  \"model\": \"d\"\n",
        1 << 20, 0);
    ASSERT_EQ(body.events.size(), 2u);
    EXPECT_EQ(body.events[0].model, "a");
    EXPECT_EQ(body.events[1].model, "c {\"}");  // braces and an escaped quote inside a string do not end it
    EXPECT_EQ(body.events[1].position, 7u);
    ASSERT_EQ(body.rejected.size(), 2u);
    EXPECT_EQ(body.rejected[0].position, 4u);
    EXPECT_NE(body.rejected[0].reason.find("malformed JSON at byte"), std::string::npos) << body.rejected[0].reason;
    // The last object is cut short: refused with what is left of the body.
    EXPECT_EQ(body.rejected[1].position, 10u);
    EXPECT_NE(body.rejected[1].reason.find("malformed JSON (the body ends inside this object)"), std::string::npos)
        << body.rejected[1].reason;
}

TEST(EventParser, AnObjectLeftOpenDoesNotTakeTheObjectsAfterItAlong) {
    // A missing quote or closing brace: the objects that start on the lines after it are still read. A line break
    // ends a string (JSON strings hold none), and a '{' starting a line begins the next object.
    const ParsedBody pretty =
        parse_events_body("{\n  \"model: \"a\"\n}\n{\n  \"model\": \"b\"\n}\n{\n  \"model\": \"c\"\n", 1 << 20, 0);
    ASSERT_EQ(pretty.events.size(), 1u);
    EXPECT_EQ(pretty.events[0].model, "b");
    EXPECT_EQ(pretty.events[0].position, 4u);
    ASSERT_EQ(pretty.rejected.size(), 2u);
    EXPECT_EQ(pretty.rejected[0].position, 1u);
    EXPECT_EQ(pretty.rejected[1].position, 7u);
    // NDJSON whose first line is cut: the lines after it are events, as when it is read line by line.
    const ParsedBody lines =
        parse_events_body("{\"model\":\"a\"\n{\"model\":\"b\"}\n{\"model\":\"c\n{\"model\":\"d\"}\n", 1 << 20, 0);
    ASSERT_EQ(lines.events.size(), 2u);
    EXPECT_EQ(lines.events[0].model, "b");
    EXPECT_EQ(lines.events[1].model, "d");
    EXPECT_EQ(lines.events[1].position, 4u);
    ASSERT_EQ(lines.rejected.size(), 2u);
    EXPECT_EQ(lines.rejected[0].position, 1u);
    EXPECT_EQ(lines.rejected[1].position, 3u);
    // A line over the limit is refused for its length there too.
    const ParsedBody long_line = parse_events_body(
        "{\"model\":\"a\"\n{\"model\":\"" + std::string(100, 'x') + "\"}\n{\"model\":\"c\"}\n", 64, 0);
    ASSERT_EQ(long_line.events.size(), 1u);
    ASSERT_EQ(long_line.rejected.size(), 2u);
    EXPECT_EQ(long_line.rejected[1].position, 2u);
    EXPECT_EQ(long_line.rejected[1].reason, "line longer than 64 bytes");
}

}  // namespace warmup::host
