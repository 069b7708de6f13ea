// The HTTP surface against hostile clients, in process: a LiveRuntime with real plugins (sim backend) behind the real
// HttpApi on 127.0.0.1, driven with cpp-httplib's client. Covers the body cap (413 with a JSON error), the bearer
// token on mutating endpoints, and bad event bodies (malformed JSON/NDJSON, wrong types, unknown models, negative,
// future and overflowing timestamps), each refused with its reason while the good items beside them are accepted.
// Also the event parser alone against bodies built to blow up the answer.
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "http/api_json.hpp"
#include "http/event_parser.hpp"
#include "http/http_api.hpp"
#include "http/security.hpp"
#include "in_process_daemon.hpp"
#include "runtime/live_runtime.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;
using test::InProcessDaemon;
using test::kToken;
using test::wall_now_ms;

TEST(BodyCap, ABodyOverTheCapIsRefusedWith413AndAJsonErrorWhileOneUnderItIsServed) {
    InProcessDaemon daemon("0.001", std::nullopt);  // cap 1048 bytes
    std::string under;
    while (under.size() + 32 < 1048) under += "{\"model\":\"known/a\"}\n";  // 20 bytes a line
    const auto [ok_status, ok_answer] = daemon.post_events(under);
    EXPECT_EQ(ok_status, 200);
    EXPECT_EQ(ok_answer["accepted"], under.size() / 20);

    const std::string over(2000, ' ');
    const auto [status, answer] = daemon.post_events(over);
    EXPECT_EQ(status, 413);
    ASSERT_TRUE(answer.is_object()) << "413 must carry a JSON body";
    EXPECT_NE(answer["error"].get<std::string>().find("too large"), std::string::npos) << answer.dump();
    // The daemon still serves afterwards (a fresh connection: 413 may close the old one).
    EXPECT_EQ(daemon.post_events("{\"model\":\"known/b\"}").first, 200);
}

TEST(BodyCap, ThePerLineCapAppliesToNdjsonBeforeJsonParsing) {
    // parse_events_body is what the endpoint calls; a line over max_line_bytes is refused without being parsed.
    const std::string long_line = "{\"model\":\"" + std::string(100, 'x') + "\"}";
    const ParsedBody body = parse_events_body("{\"model\":\"a\"}\n" + long_line + "\n", 64);
    ASSERT_EQ(body.events.size(), 1u);
    ASSERT_EQ(body.rejected.size(), 1u);
    EXPECT_EQ(body.rejected[0].position, 2u);
    EXPECT_EQ(body.rejected[0].reason, "line longer than 64 bytes");
}

TEST(AccessToken, MutatingEndpointsNeedTheBearerTokenAndReadsStayOpenOnLoopback) {
    InProcessDaemon daemon("16", std::string(kToken));
    const auto [refused_status, refused] = daemon.post_events("{\"model\":\"known/a\"}");
    EXPECT_EQ(refused_status, 401);
    EXPECT_EQ(refused["error"], "mutating endpoints need 'Authorization: Bearer <token>'");

    const auto [wrong_status, wrong] =
        daemon.post_events("{\"model\":\"known/a\"}", {{"Authorization", "Bearer not-the-token-0123456789"}});
    EXPECT_EQ(wrong_status, 401);
    EXPECT_EQ(wrong["error"], "wrong access token");

    auto reload = daemon.client().Post("/api/warmup/config/reload", "", "application/json");
    ASSERT_TRUE(reload);
    EXPECT_EQ(reload->status, 401);
    EXPECT_EQ(reload->get_header_value("WWW-Authenticate"), "Bearer realm=\"warmupd\"");

    const auto [ok_status, ok] =
        daemon.post_events("{\"model\":\"known/a\"}", {{"Authorization", std::string("Bearer ") + kToken}});
    EXPECT_EQ(ok_status, 200);
    EXPECT_EQ(ok["accepted"], 1);

    auto status = daemon.client().Get("/api/warmup/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->status, 200);  // loopback: reads need no token
}

TEST(AccessToken, WithoutATokenLoopbackPostsAreOpen) {
    InProcessDaemon daemon("16", std::nullopt);
    EXPECT_EQ(daemon.post_events("{\"model\":\"known/a\"}").first, 200);
}

TEST(AccessToken, WithoutATokenAnotherSitesPageCannotDriveTheDaemonNorAPageRenamedToItReadIt) {
    InProcessDaemon daemon("16", std::nullopt);
    // A form on another site's page posting to the daemon (a simple request, sent without a preflight).
    auto forged =
        daemon.client().Post("/api/warmup/emergency-stop",
                             {{"Origin", "http://evil.example"}, {"Sec-Fetch-Site", "cross-site"}}, "", "text/plain");
    ASSERT_TRUE(forged);
    EXPECT_EQ(forged->status, 403) << forged->body;
    EXPECT_NE(json::parse(forged->body)["error"].get<std::string>().find("another site"), std::string::npos);
    // A page of evil.example whose DNS name now points at 127.0.0.1.
    auto rebound = daemon.client().Get("/api/warmup/status", {{"Host", "evil.example:3000"}});
    ASSERT_TRUE(rebound);
    EXPECT_EQ(rebound->status, 403) << rebound->body;
    auto status = daemon.client().Get("/api/warmup/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(json::parse(status->body)["emergency_stop"], false);
    // The status page's own button (same origin) and programs (no Origin) still work.
    const std::string self = "http://127.0.0.1:" + std::to_string(daemon.port());
    auto own = daemon.client().Post("/api/warmup/emergency-stop", {{"Origin", self}, {"Sec-Fetch-Site", "same-origin"}},
                                    "", "text/plain");
    ASSERT_TRUE(own);
    EXPECT_EQ(own->status, 200) << own->body;
    EXPECT_EQ(daemon.client().Post("/api/warmup/resume", "", "application/json")->status, 200);
}

TEST(AccessToken, WithATokenARequestThatCarriesItIsServedWhateverItsHostAndAReadWithoutItOnlyForLoopbackNames) {
    // A change needs the token, which no page can forge: behind a reverse proxy that passes its own Host it is served.
    InProcessDaemon daemon("16", std::string(kToken));
    const std::string bearer = std::string("Bearer ") + kToken;
    const httplib::Headers headers = {
        {"Host", "warmup.internal:443"}, {"Origin", "https://warmup.internal"}, {"Authorization", bearer}};
    auto reset = daemon.client().Post("/api/warmup/reset-data-collection", headers, "", "application/json");
    ASSERT_TRUE(reset);
    EXPECT_EQ(reset->status, 200) << reset->body;
    // Reads through loopback need no token (unless http.loopback_reads_need_token), but a page whose name was pointed
    // at 127.0.0.1 must not read them: without the token, only a loopback name is served.
    auto rebound = daemon.client().Get("/api/warmup/status", {{"Host", "evil.example:3000"}});
    ASSERT_TRUE(rebound);
    EXPECT_EQ(rebound->status, 403) << rebound->body;
    // Such a page may send any header to what it takes for its own origin, an Authorization header too: one that does
    // not carry the token makes the read no less forged.
    for (const std::string forged_header : {"Bearer not-the-token-0123456789", "Basic Zm9vOmJhcg==", "x"}) {
        auto forged = daemon.client().Get("/api/warmup/status",
                                          {{"Host", "evil.example:3000"}, {"Authorization", forged_header}});
        ASSERT_TRUE(forged);
        EXPECT_EQ(forged->status, 403) << forged_header << ": " << forged->body;
    }
    auto with_token =
        daemon.client().Get("/api/warmup/status", {{"Host", "warmup.internal:443"}, {"Authorization", bearer}});
    ASSERT_TRUE(with_token);
    EXPECT_EQ(with_token->status, 200) << with_token->body;
    auto local = daemon.client().Get("/api/warmup/status");
    ASSERT_TRUE(local);
    EXPECT_EQ(local->status, 200) << local->body;
}

TEST(BadEvents, EachBadItemIsRefusedWithItsReasonAndTheGoodOnesAreAccepted) {
    InProcessDaemon daemon("16", std::nullopt);
    const int64_t now_ms = wall_now_ms();
    const std::string body =
        "{\"model\":\"known/a\"}\n"               // 1 ok
        "{\"model\":\"known/a\"\n"                // 2 malformed
        "{\"model\":42}\n"                        // 3 wrong type
        "{\"model\":\"unknown/x\"}\n"             // 4 unknown
        "{\"model\":\"known/a\",\"ts_ms\":-5}\n"  // 5 negative
        "{\"model\":\"known/a\",\"ts_ms\":" +
        std::to_string(now_ms + 3600000) +
        "}\n"                                                       // 6 future
        "{\"model\":\"known/a\",\"ts_ms\":9223372036854775808}\n"   // 7 > INT64_MAX
        "{\"model\":\"known/a\",\"count\":18446744073709551615}\n"  // 8 > INT64_MAX
        "[1,2]\n"                                                   // 9 not object
        "{\"model\":\"known/b\",\"ts_ms\":" +
        std::to_string(now_ms - 1000) +
        "}\n"                                                         // 10 ok
        "{\"model\":\"known/a\",\"ts_ms\":100000000000000000000}\n";  // 11 > UINT64_MAX: 20 digits
    const auto [status, answer] = daemon.post_events(body);
    EXPECT_EQ(status, 400);
    EXPECT_EQ(answer["accepted"], 2);
    std::map<int, std::string> reasons;
    for (const auto& refusal : answer["rejected"]) reasons[refusal["line"].get<int>()] = refusal["reason"];
    ASSERT_EQ(reasons.size(), 9u) << answer.dump(2);
    EXPECT_EQ(reasons[2].rfind("malformed JSON at byte ", 0), 0u) << reasons[2];
    EXPECT_EQ(reasons[3], "'model' must be a string");
    EXPECT_EQ(reasons[4], "unknown model 'unknown/x' (no catalog entry matches it)");
    EXPECT_EQ(reasons[5], "'ts_ms' must not be negative");
    EXPECT_NE(reasons[6].find("is in the future"), std::string::npos) << reasons[6];
    EXPECT_EQ(reasons[7], "'ts_ms' is out of range (9223372036854775808 is above 9223372036854775807)");
    EXPECT_EQ(reasons[8], "'count' must be between 1 and 1000000");
    EXPECT_EQ(reasons[9], "expected a JSON object");
    EXPECT_EQ(reasons[11], "'ts_ms' is out of range (100000000000000000000 is above 9223372036854775807)");
}

TEST(BadEvents, AMalformedJsonArrayIsRefusedWholeWithItsByteOffset) {
    InProcessDaemon daemon("16", std::nullopt);
    const auto [status, answer] = daemon.post_events("[{\"model\":\"known/a\"}, {\"model\": ]");
    EXPECT_EQ(status, 400);
    EXPECT_EQ(answer["accepted"], 0);
    ASSERT_EQ(answer["rejected"].size(), 1u);
    // Byte 33 (1-based) is the "]" where a value was expected: the item is bytes 2-20, ", {\"model\": " 21-32.
    EXPECT_NE(answer["rejected"][0]["reason"].get<std::string>().find("malformed JSON array at byte 33"),
              std::string::npos)
        << answer.dump();
    // The whole body is refused: no item is named (items are numbered from 1; there is no item 0).
    EXPECT_FALSE(answer["rejected"][0].contains("item")) << answer.dump();
    EXPECT_FALSE(answer["rejected"][0].contains("line")) << answer.dump();
}

TEST(Decisions, AnUnknownArmIs404NamingTheRunningArmsAsAnUnknownModelIs) {
    InProcessDaemon daemon("16", std::nullopt);
    ASSERT_EQ(daemon.post_events(R"({"model": "known/a"})").first, 200);
    const auto known = daemon.client().Get("/api/warmup/decisions?arm=control");
    ASSERT_TRUE(known);
    EXPECT_EQ(known->status, 200) << known->body;
    const auto unknown = daemon.client().Get("/api/warmup/decisions?arm=nope");
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, 404) << unknown->body;
    EXPECT_EQ(json::parse(unknown->body)["error"],
              "unknown arm 'nope': no running arm and no recorded decision has that name (arms running: control)");
    const auto model = daemon.client().Get("/api/warmup/decisions?model=nope");
    ASSERT_TRUE(model);
    EXPECT_EQ(model->status, 404) << model->body;
}

TEST(BadEvents, UnknownEndpointsAnswer404WithAJsonBody) {
    InProcessDaemon daemon("16", std::nullopt);
    auto result = daemon.client().Get("/api/warmup/nope");
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 404);
    EXPECT_EQ(json::parse(result->body)["error"], "no such endpoint: GET /api/warmup/nope");
}

// A byte that is not UTF-8 in anything the daemon quotes back (a body, a query parameter, a path) must get the
// documented 4xx with a readable message, never a 500 from the JSON writer. Such a byte is shown as \xFF.

/// GETs `target` (sent byte for byte: "%FF" stays an escape the server decodes); returns {status, parsed body}.
std::pair<int, json> raw_get(int port, const std::string& target) {
    test::RawConnection connection(port);
    EXPECT_TRUE(connection.send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    const std::string response = connection.read_response(std::chrono::seconds(10));
    return {test::status_of(response), test::json_body_of(response)};
}

/// The `error` of an answer, or "" when it has none.
std::string error_of(const json& answer) {
    return answer.is_object() && answer.contains("error") && answer["error"].is_string()
               ? answer["error"].get<std::string>()
               : std::string();
}

int64_t events_invalid(InProcessDaemon& daemon) {
    const auto [status, answer] = raw_get(daemon.port(), "/api/warmup/status");
    EXPECT_EQ(status, 200);
    return answer["counters"]["events_invalid"].get<int64_t>();
}

TEST(InvalidUtf8, AnAnswerWithANonUtf8ByteInAStringOrKeyIsWrittenWithTheByteEscaped) {
    const json body{{"error", "unknown model 'a\xff'"},
                    {"owners", {{"m\xfe", json::array({"node-\xc3\xa9", "n\xc3"})}}},
                    {"count", 3}};
    const std::string text = answer_text(body);
    const json parsed = json::parse(text);  // valid JSON, valid UTF-8
    EXPECT_EQ(parsed["error"], "unknown model 'a\\xFF'");
    EXPECT_EQ(parsed["owners"]["m\\xFE"], json::array({"node-\xc3\xa9", "n\\xC3"}));
    EXPECT_EQ(parsed["count"], 3);
    // A valid answer is written as it always was.
    EXPECT_EQ(answer_text(json{{"a", "b"}}), "{\n  \"a\": \"b\"\n}\n");
}

TEST(InvalidUtf8, ALoggedAnswerWithANonUtf8ByteIsOneLineOfJsonWithTheByteEscaped) {
    // A reload's answer quoting the path of a configuration file in a folder named with the byte 0xFF.
    const json answer{{"status", "failed"}, {"error", "/srv/conf-\xff/warmupd.yaml:9:1: no_such_key: unknown key"}};
    const std::string line = log_text(answer);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    EXPECT_EQ(json::parse(line)["error"], "/srv/conf-\\xFF/warmupd.yaml:9:1: no_such_key: unknown key");
    // A valid answer is written as a compact dump.
    EXPECT_EQ(log_text(json{{"a", "b"}, {"n", 1}}), R"({"a":"b","n":1})");
}

TEST(InvalidUtf8, AJsonArrayWithANonUtf8ByteIsRefusedWholeNamingTheByte) {
    InProcessDaemon daemon("16", std::nullopt);
    const int64_t invalid_before = events_invalid(daemon);
    const auto [status, answer] =
        daemon.post_events("[{\"model\":\"known/a\"}, {\"model\":\"known/\xff\"}]", {}, "application/json");
    EXPECT_EQ(status, 400) << answer.dump();
    EXPECT_EQ(answer["accepted"], 0);
    ASSERT_EQ(answer["rejected"].size(), 1u) << answer.dump();
    EXPECT_FALSE(answer["rejected"][0].contains("item")) << answer.dump();
    // Byte 39 (1-based) is the 0xFF: "[" 1, the first item 2-20, ", " 21-22, {"model":" 23-32, known/ 33-38.
    const std::string reason = answer["rejected"][0]["reason"];
    EXPECT_EQ(reason.rfind("malformed JSON array at byte 39: ", 0), 0u) << reason;
    EXPECT_NE(reason.find("\\xFF"), std::string::npos) << reason;
    EXPECT_EQ(events_invalid(daemon), invalid_before + 1);
}

TEST(InvalidUtf8, AnNdjsonLineWithANonUtf8ByteIsRefusedAloneAndTheOtherLinesAreKept) {
    InProcessDaemon daemon("16", std::nullopt);
    const int64_t invalid_before = events_invalid(daemon);
    const auto [status, answer] =
        daemon.post_events("{\"model\":\"known/a\"}\n{\"model\":\"known/\xff\"}\n{\"model\":\"known/b\"}\n");
    EXPECT_EQ(status, 400) << answer.dump();
    EXPECT_EQ(answer["accepted"], 2);
    ASSERT_EQ(answer["rejected"].size(), 1u) << answer.dump();
    EXPECT_EQ(answer["rejected"][0]["line"], 2);
    EXPECT_EQ(answer["rejected"][0]["reason"],
              "malformed JSON at byte 17: syntax error while parsing value - invalid string: ill-formed UTF-8 byte; "
              "last read: '\"known/\\xFF'");
    EXPECT_EQ(events_invalid(daemon), invalid_before + 1);
}

TEST(InvalidUtf8, ABadQueryParameterIs400WithAnErrorThatStartsWithItsName) {
    InProcessDaemon daemon("16", std::nullopt);
    const std::pair<std::string, std::string> cases[] = {
        {"/api/warmup/status?after=%FF", "after: unknown model '\\xFF'"},
        {"/api/warmup/predictions?after=%FF", "after: unknown model '\\xFF'"},
        {"/api/warmup/predictions?limit=%FF", "limit: expected an integer 1..10000, got '\\xFF'"},
        {"/api/warmup/status?limit=1%FF", "limit: expected an integer 1..10000, got '1\\xFF'"},
        {"/api/warmup/decisions?limit=%FF", "limit: expected an integer 1..16384, got '\\xFF'"},
        {"/api/warmup/history?since_ms=%FF", "since_ms: expected milliseconds since the Unix epoch"},
        {"/api/warmup/history?until_ms=%C3", "until_ms: expected milliseconds since the Unix epoch"},
        {"/api/warmup/status?%FF=1", "unknown query parameter '\\xFF' (this endpoint takes "},
        {"/api/warmup/decisions?a%FFb=1", "unknown query parameter 'a\\xFFb' (this endpoint takes "},
    };
    for (const auto& [target, error] : cases) {
        const auto [status, answer] = raw_get(daemon.port(), target);
        EXPECT_EQ(status, 400) << target << ": " << answer.dump();
        EXPECT_EQ(error_of(answer).rfind(error, 0), 0u) << target << ": " << answer.dump();
    }
}

TEST(BadEvents, TheStatusPageOpensWithAnyQueryParameterAsTheApiRefusesUnknownOnes) {
    InProcessDaemon daemon("16", std::nullopt);
    // A bookmark or a shared link that adds a parameter (before: 400 "unknown query parameter").
    auto page = daemon.client().Get("/ui?utm_source=wiki");
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_NE(page->body.find("<html"), std::string::npos);
    auto root = daemon.client().Get("/?x=1");
    ASSERT_TRUE(root);
    EXPECT_EQ(root->status, 302);
    auto api = daemon.client().Get("/api/warmup/status?x=1");
    ASSERT_TRUE(api);
    EXPECT_EQ(api->status, 400);
}

TEST(InvalidUtf8, AnUnknownModelOrArmOrPathWithANonUtf8ByteIs404NamingIt) {
    InProcessDaemon daemon("16", std::nullopt);
    const std::pair<std::string, std::string> cases[] = {
        {"/api/warmup/decisions?model=%FF", "unknown model '\\xFF': no request or decision has named it"},
        {"/api/warmup/decisions?arm=%FF", "unknown arm '\\xFF': no running arm"},
        {"/%FF", "no such endpoint: GET /\\xFF"},
        // A valid two-byte character stays as it is beside the invalid byte.
        {"/%C3%A9%FF", "no such endpoint: GET /\xc3\xa9\\xFF"},
    };
    for (const auto& [target, error] : cases) {
        const auto [status, answer] = raw_get(daemon.port(), target);
        EXPECT_EQ(status, 404) << target << ": " << answer.dump();
        EXPECT_EQ(error_of(answer).rfind(error, 0), 0u) << target << ": " << answer.dump();
    }
    // The daemon still answers afterwards.
    EXPECT_EQ(raw_get(daemon.port(), "/healthz").first, 200);
}

TEST(HostileBody, FutureSkewIsMeasuredAgainstTheServerTimeGiven) {
    constexpr int64_t kNow = 1'700'000'000'000;
    const std::string at_limit = "{\"model\":\"a\",\"ts_ms\":" + std::to_string(kNow + kMaxFutureSkewMs) + "}\n";
    const std::string past_limit = "{\"model\":\"a\",\"ts_ms\":" + std::to_string(kNow + kMaxFutureSkewMs + 1) + "}";
    const ParsedBody body = parse_events_body(at_limit + past_limit, 1 << 20, kNow);
    ASSERT_EQ(body.events.size(), 1u);
    EXPECT_EQ(*body.events[0].ts_ms, kNow + kMaxFutureSkewMs);
    ASSERT_EQ(body.rejected.size(), 1u);
    EXPECT_EQ(body.rejected[0].reason,
              "'ts_ms' 1700000300001 is in the future (300001 ms ahead of the server clock, at most 300000 allowed)");
    // INT64_MAX itself is a valid integer, and far in the future.
    const ParsedBody max = parse_events_body("{\"model\":\"a\",\"ts_ms\":9223372036854775807}", 1 << 20, kNow);
    ASSERT_EQ(max.rejected.size(), 1u);
    EXPECT_NE(max.rejected[0].reason.find("is in the future"), std::string::npos) << max.rejected[0].reason;
}

TEST(HostileBody, GarbageLinesAreListedUpToTheCapAndTheRestCounted) {
    std::string garbage;
    for (int i = 0; i < 5000; ++i) garbage += "x\n";
    garbage += "{\"model\":\"a\"}\n";  // line 5001: still accepted after the listing stopped
    const ParsedBody body = parse_events_body(garbage, 1 << 20, 0);
    EXPECT_EQ(body.events.size(), 1u);
    ASSERT_EQ(body.rejected.size(), kMaxListedRejections);
    EXPECT_EQ(body.rejected.back().position, kMaxListedRejections);
    EXPECT_EQ(body.unlisted_rejections, 5000 - kMaxListedRejections);
}

TEST(HostileBody, AnUnknownKeyCutShortIsNotCutInsideACharacter) {
    // 63 ASCII bytes then "é" (2 bytes): a cut at 64 bytes would keep 0xC3 alone, which is not UTF-8.
    const std::string key = std::string(63, 'k') + "\xc3\xa9" + "tail";
    const ParsedBody body = parse_events_body("{\"" + key + "\":1}", 1 << 20, 0);
    ASSERT_EQ(body.rejected.size(), 1u);
    EXPECT_EQ(body.rejected[0].reason,
              "unknown field '" + std::string(63, 'k') + "...' (expected model, ts_ms, tenant, count)");
    // Through the daemon the same key is a 400 with that reason.
    InProcessDaemon daemon("16", std::nullopt);
    const auto [status, answer] = daemon.post_events("{\"model\":\"known/a\",\"" + key + "\":1}");
    EXPECT_EQ(status, 400) << answer.dump();
    ASSERT_EQ(answer["rejected"].size(), 1u) << answer.dump();
    EXPECT_EQ(answer["rejected"][0]["reason"], body.rejected[0].reason);
}

TEST(HostileBody, OverlongModelNamesAndUnknownKeysAreNotEchoedInFull) {
    const std::string model(kMaxModelNameBytes + 1, 'm');
    const ParsedBody body =
        parse_events_body("{\"model\":\"" + model + "\"}\n{\"" + std::string(500, 'k') + "\":1}", 1 << 20, 0);
    ASSERT_EQ(body.rejected.size(), 2u);
    EXPECT_EQ(body.rejected[0].reason, "'model' is 1025 bytes, longer than 1024");
    EXPECT_LT(body.rejected[1].reason.size(), 200u);
}

TEST(HostileBody, DeeplyNestedJsonIsRefusedWithoutExhaustingTheStack) {
    // 100000 levels: a recursive parser or destructor would overflow the stack here.
    const std::string nested_array = std::string(100000, '[') + std::string(100000, ']');
    const ParsedBody as_array = parse_events_body(nested_array, 1 << 20, 0);
    EXPECT_TRUE(as_array.events.empty());
    ASSERT_EQ(as_array.rejected.size(), 1u);
    EXPECT_EQ(as_array.rejected[0].reason, "expected a JSON object");
    std::string nested_object;
    for (int i = 0; i < 100000; ++i) nested_object += "{\"a\":";
    nested_object += "1" + std::string(100000, '}');
    const ParsedBody as_line = parse_events_body(nested_object, 1 << 22, 0);
    ASSERT_EQ(as_line.rejected.size(), 1u);
    EXPECT_EQ(as_line.rejected[0].reason, "unknown field 'a' (expected model, ts_ms, tenant, count)");
}

}  // namespace
}  // namespace warmup::host
