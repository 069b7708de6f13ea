// The HTTP server as operators and misbehaving clients use it, in process (in_process_daemon.hpp), with raw sockets
// where cpp-httplib's client would frame the request itself:
//  - a POST without Content-Length or Transfer-Encoding has an empty body and is answered at once, on every POST
//    endpoint;
//  - curl's default Content-Type (x-www-form-urlencoded) does not cap event bodies at 8 KiB;
//  - the body cap holds for chunked bodies too;
//  - idle and slow clients neither stall /healthz nor hold a connection past the request deadline;
//  - an endpoint that takes no body refuses one that is not blank or {};
//  - a wrong method gets 405 with Allow; a refused-lines list is capped; counts are JSON integers;
//  - a Content-Length that is no number is a 400 that says "Connection: close" once; a body whose end is ambiguous
//    (two different lengths, or a length beside chunked framing) is refused and nothing after it is served;
//  - a reload that changes the access token applies it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "in_process_daemon.hpp"

namespace warmup::host {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::InProcessDaemon;
using test::json_body_of;
using test::kToken;
using test::RawConnection;
using test::status_of;
using Clock = std::chrono::steady_clock;

// Every POST endpoint, as README.md and docs/http-api.md call them (curl -X POST URL: no body, no length).
const std::vector<std::string> kPostEndpoints = {"/api/warmup/events",
                                                 "/api/warmup/emergency-stop",
                                                 "/api/warmup/reset-to-safe",
                                                 "/api/warmup/backup-state",
                                                 "/api/warmup/restore-state",
                                                 "/api/warmup/reset-data-collection",
                                                 "/api/warmup/queue/restart-workers",
                                                 "/api/warmup/config/reload",
                                                 "/api/warmup/config/rollback"};

std::string bodyless_post(const std::string& path) {
    return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
}

TEST(BodylessPost, EveryPostEndpointAnswersAtOnceWithoutWaitingForABody) {
    InProcessDaemon daemon("16", std::nullopt);
    for (const std::string& path : kPostEndpoints) {
        RawConnection connection(daemon.port());
        ASSERT_TRUE(connection.send(bodyless_post(path)));
        const auto started = Clock::now();
        const std::string response = connection.read_response(3s);
        const auto waited = Clock::now() - started;
        // Before: the library read such a POST until EOF, so the answer came after its 5 s read timeout, as 400.
        EXPECT_LT(waited, 1s) << path;
        const int status = status_of(response);
        EXPECT_NE(status, 0) << path << ": no answer";
        EXPECT_NE(status, 400) << path << "\n" << response;
        EXPECT_TRUE(json_body_of(response).is_object()) << path << "\n" << response;
        if (path == "/api/warmup/emergency-stop") {  // it did what it says (reset-to-safe, next, leaves the mode)
            auto status = daemon.client().Get("/api/warmup/status");
            ASSERT_TRUE(status);
            EXPECT_EQ(json::parse(status->body)["emergency_stop"], true);
        }
    }
}

TEST(BodylessPost, AnEmptyEventsPostAcceptsNothingAndTheConnectionServesTheNextRequest) {
    InProcessDaemon daemon("16", std::nullopt);
    RawConnection connection(daemon.port());
    ASSERT_TRUE(connection.send(bodyless_post("/api/warmup/events")));
    const std::string first = connection.read_response(2s);
    EXPECT_EQ(status_of(first), 200) << first;
    EXPECT_EQ(json_body_of(first)["accepted"], 0);
    ASSERT_TRUE(connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    EXPECT_EQ(status_of(connection.read_response(2s)), 200);
}

TEST(BodylessPost, AnEndpointThatTakesNoBodyRefusesABodyButTakesABlankOneOrAnEmptyObject) {
    InProcessDaemon daemon("16", std::nullopt);
    const std::vector<std::string> takes_none = {
        "/api/warmup/emergency-stop",        "/api/warmup/reset-to-safe", "/api/warmup/reset-data-collection",
        "/api/warmup/queue/restart-workers", "/api/warmup/config/reload", "/api/warmup/config/rollback"};
    for (const std::string& path : takes_none)
        for (const std::string body : {"garbage", "[1]", "null", R"({"name": "x"})"}) {
            const auto result = daemon.client().Post(path, body, "application/json");
            ASSERT_TRUE(result) << path;
            EXPECT_EQ(result->status, 400) << path << " " << body << "\n" << result->body;
            EXPECT_EQ(json::parse(result->body)["error"], "this endpoint takes no body: send none (or {})")
                << path << " " << body;
        }
    // Nothing ran: no emergency stop is in force.
    auto status = daemon.client().Get("/api/warmup/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(json::parse(status->body)["emergency_stop"], false);
    // {} (what warmupctl sends) and a blank body stand for none.
    const auto stop = daemon.client().Post("/api/warmup/emergency-stop", "{}", "application/json");
    ASSERT_TRUE(stop);
    EXPECT_EQ(stop->status, 200) << stop->body;
    const auto safe = daemon.client().Post("/api/warmup/reset-to-safe", " \r\n", "application/json");
    ASSERT_TRUE(safe);
    EXPECT_EQ(safe->status, 200) << safe->body;
}

TEST(Headers, ANonNumericContentLengthIsRefusedSayingConnectionCloseOnceAndNoKeepAlive) {
    InProcessDaemon daemon("16", std::nullopt);
    // With and without the client's own "Connection: close" (which the library answers with one more).
    for (const std::string client_close : {"", "Connection: close\r\n"}) {
        RawConnection connection(daemon.port());
        ASSERT_TRUE(connection.send("POST /api/warmup/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + client_close +
                                    "Content-Length: abc\r\n\r\n"));
        const std::string response = connection.read_response(3s);
        EXPECT_EQ(status_of(response), 400) << response;
        const std::string headers = response.substr(0, response.find("\r\n\r\n"));
        std::size_t closes = 0;
        for (auto at = headers.find("Connection: close"); at != std::string::npos;
             at = headers.find("Connection: close", at + 1))
            ++closes;
        EXPECT_EQ(closes, 1u) << response;
        EXPECT_EQ(headers.find("Keep-Alive"), std::string::npos) << response;
        EXPECT_TRUE(connection.closed_within(3s));
    }
}

TEST(Headers, AContentLengthBeyondAnyLengthIsTooLargeAndANegativeOneIsNoLength) {
    InProcessDaemon daemon("16", std::nullopt);
    for (const auto& [length, status, words] : {std::tuple{"99999999999999999999999", 413, "request body too large"},
                                                std::tuple{"-1", 400, "Content-Length is not a length"}}) {
        RawConnection connection(daemon.port());
        ASSERT_TRUE(connection.send(std::string("POST /api/warmup/events HTTP/1.1\r\nHost: 127.0.0.1\r\n") +
                                    "Content-Length: " + length + "\r\n\r\n"));
        const std::string response = connection.read_response(3s);
        EXPECT_EQ(status_of(response), status) << response;
        EXPECT_NE(response.find(words), std::string::npos) << response;
    }
}

TEST(Headers, AnAmbiguousBodyEndIsRefusedAndWhatFollowsItIsNotServedAsAnotherRequest) {
    InProcessDaemon daemon("16", std::nullopt);
    // A proxy that took the second Content-Length (or the chunked framing) would see one request; a server that took
    // the first would serve the emergency stop hidden after the body as a second one.
    const std::string body = "{\"model\":\"known/a\"}";
    const std::string hidden =
        "POST /api/warmup/emergency-stop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
    const std::string length = std::to_string(body.size());
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"Content-Length: " + length + "\r\nContent-Length: 99\r\n", "2 Content-Length headers with different values"},
        {"Content-Length: " + length + "\r\nTransfer-Encoding: chunked\r\n",
         "both Transfer-Encoding and Content-Length"},
    };
    for (const auto& [framing, reason] : cases) {
        RawConnection connection(daemon.port());
        ASSERT_TRUE(connection.send("POST /api/warmup/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing + "\r\n" +
                                    body + hidden));
        const std::string response = connection.read_response(3s);
        EXPECT_EQ(status_of(response), 400) << response;
        EXPECT_NE(json_body_of(response).value("error", "").find(reason), std::string::npos) << response;
        EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
        EXPECT_TRUE(connection.closed_within(3s));
    }
    const auto status = daemon.client().Get("/api/warmup/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(json::parse(status->body)["emergency_stop"], false);
    // The same length given twice is not ambiguous: the body is read and the connection serves the next request.
    RawConnection connection(daemon.port());
    ASSERT_TRUE(connection.send("POST /api/warmup/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + length +
                                "\r\nContent-Length: " + length + "\r\n\r\n" + body));
    const std::string response = connection.read_response(3s);
    EXPECT_EQ(status_of(response), 200) << response;
    EXPECT_EQ(json_body_of(response)["accepted"], 1) << response;
    ASSERT_TRUE(connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    EXPECT_EQ(status_of(connection.read_response(3s)), 200);
}

TEST(Headers, AGetThatAnnouncesABodyIsRefusedAndItsBodyIsNotServedAsAnotherRequest) {
    InProcessDaemon daemon("16", std::nullopt);
    const std::string hidden =
        "POST /api/warmup/emergency-stop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
    for (const std::string& framing :
         {"Content-Length: " + std::to_string(hidden.size()) + "\r\n", std::string("Transfer-Encoding: chunked\r\n")}) {
        RawConnection connection(daemon.port());
        ASSERT_TRUE(connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing + "\r\n" + hidden));
        const std::string response = connection.read_response(3s);
        EXPECT_EQ(status_of(response), 400) << response;
        EXPECT_EQ(json_body_of(response).value("error", ""), "a GET request takes no body") << response;
        EXPECT_TRUE(connection.closed_within(3s));
    }
    const auto status = daemon.client().Get("/api/warmup/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(json::parse(status->body)["emergency_stop"], false);
}

TEST(Headers, AnHttp11RequestWithoutHostIsRefusedAndAnHttp10OneIsServed) {
    InProcessDaemon daemon("16", std::nullopt);
    RawConnection connection(daemon.port());
    ASSERT_TRUE(connection.send("GET /api/warmup/status HTTP/1.1\r\n\r\n"));
    const std::string refused = connection.read_response(3s);
    EXPECT_EQ(status_of(refused), 400) << refused;
    EXPECT_NE(json_body_of(refused).value("error", "").find("needs a Host header"), std::string::npos) << refused;
    RawConnection old_client(daemon.port());
    ASSERT_TRUE(old_client.send("GET /api/warmup/status HTTP/1.0\r\n\r\n"));
    EXPECT_EQ(status_of(old_client.read_response(3s)), 200);
}

TEST(Headers, AMalformedRequestIsAnsweredOnceAndNothingAfterItIsServed) {
    InProcessDaemon daemon("16", std::nullopt);
    const std::string hidden =
        "POST /api/warmup/emergency-stop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
    // A request line with a fourth word, one without a version (HTTP/0.9 style), an unknown method, a header line
    // over the library's 8 KiB: the library stops reading at the line it cannot parse.
    const std::vector<std::string> malformed = {
        "GET /a b HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(hidden.size()) + "\r\n\r\n" + hidden,
        "GET /healthz\r\n\r\n" + hidden,
        "FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + hidden,
        "POST /api/warmup/events HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(9000, 'a') + "\r\n\r\n" + hidden,
    };
    for (const std::string& request : malformed) {
        RawConnection connection(daemon.port());
        ASSERT_TRUE(connection.send(request));
        const std::string response = connection.read_response(3s);
        EXPECT_EQ(status_of(response), 400) << response;
        EXPECT_NE(json_body_of(response).value("error", "").find("does not parse"), std::string::npos) << response;
        EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
        // Before: one 400 per leftover line, then the hidden request was served on the same connection.
        EXPECT_TRUE(connection.closed_within(3s)) << request;
    }
    const auto status = daemon.client().Get("/api/warmup/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(json::parse(status->body)["emergency_stop"], false);
}

TEST(FormContentType, CurlsDefaultContentTypeDoesNotCapEventsAt8KiB) {
    InProcessDaemon daemon("16", std::nullopt);
    std::string body;
    for (int i = 0; i < 500; ++i) body += "{\"model\":\"known/a\",\"tenant\":\"t" + std::to_string(i) + "\"}\n";
    ASSERT_GT(body.size(), 16u * 1024);
    // curl --data-binary @- sends application/x-www-form-urlencoded; the library parsed that as a form, capped at
    // 8 KiB (413).
    const auto [status, answer] = daemon.post_events(body, {}, "application/x-www-form-urlencoded");
    EXPECT_EQ(status, 200) << answer.dump();
    EXPECT_EQ(answer["accepted"], 500);
}

/// A POST of `chunks` chunks of `chunk_bytes` each (NDJSON lines of 20 bytes, padded with spaces).
std::string chunked_events_post(int chunks, std::size_t chunk_bytes) {
    std::string line = "{\"model\":\"known/a\"}\n";
    std::string chunk;
    while (chunk.size() + line.size() <= chunk_bytes) chunk += line;
    chunk.resize(chunk_bytes, ' ');
    std::string request =
        "POST /api/warmup/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    char size_line[32];
    std::snprintf(size_line, sizeof(size_line), "%zx\r\n", chunk_bytes);
    for (int i = 0; i < chunks; ++i) request += size_line + chunk + "\r\n";
    return request + "0\r\n\r\n";
}

TEST(BodyCap, AChunkedBodyOverTheCapIsRefusedWith413AndOneUnderItIsServed) {
    InProcessDaemon daemon("0.001", std::nullopt);  // cap 1048 bytes
    {
        RawConnection connection(daemon.port());
        ASSERT_TRUE(connection.send(chunked_events_post(2, 500)));
        const std::string response = connection.read_response(3s);
        EXPECT_EQ(status_of(response), 200) << response;
        EXPECT_EQ(json_body_of(response)["accepted"], 50);
    }
    RawConnection connection(daemon.port());
    connection.send(chunked_events_post(100, 1000));  // 100 kB: the server may close before all of it is written
    const std::string response = connection.read_response(3s);
    // Before: chunked bodies were read whole whatever their size (a 53 MB one was accepted).
    EXPECT_EQ(status_of(response), 413) << response;
    EXPECT_NE(json_body_of(response)["error"].get<std::string>().find("http.max_body_mb"), std::string::npos)
        << response;
    EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
    EXPECT_TRUE(connection.closed_within(2s));
}

TEST(ContentEncoding, AGzipBodyIsReadAndOneThatIsNotGzipIsRefusedNamingTheEncoding) {
    InProcessDaemon daemon("16", std::nullopt);
    const std::string events = "{\"model\": \"known/a\"}\n{\"model\": \"known/b\"}\n";
    std::string gzipped;
    httplib::detail::gzip_compressor compressor;
    ASSERT_TRUE(compressor.compress(events.data(), events.size(), true, [&](const char* data, std::size_t size) {
        gzipped.append(data, size);
        return true;
    }));
    const auto [status, answer] = daemon.post_events(gzipped, {{"Content-Encoding", "gzip"}});
    EXPECT_EQ(status, 200) << answer.dump();
    EXPECT_EQ(answer["accepted"], 2);
    for (const std::string encoding : {"gzip", "br"}) {
        const auto [refused, error] = daemon.post_events("not compressed", {{"Content-Encoding", encoding}});
        EXPECT_EQ(refused, 400) << encoding;
        EXPECT_EQ(error.value("error", ""), "the request body could not be decoded as Content-Encoding: " + encoding +
                                                " (gzip, deflate and br are accepted), or did not arrive complete")
            << error.dump();
    }
}

TEST(ContentEncoding, AnEncodingTheServerCannotDecodeIsRefusedWith415NotReadAsPlainText) {
    InProcessDaemon daemon("16", std::nullopt);
    for (const std::string encoding : {"zstd", "compress", "GZIP"}) {  // the library decodes "gzip" as written
        const auto [status, answer] =
            daemon.post_events("{\"model\": \"known/a\"}\n", {{"Content-Encoding", encoding}});
        EXPECT_EQ(status, 415) << encoding;
        EXPECT_EQ(answer.value("error", ""),
                  "Content-Encoding '" + encoding + "' is not supported (gzip, deflate and br are)")
            << answer.dump();
    }
    const auto [status, answer] = daemon.post_events("{\"model\": \"known/a\"}\n", {{"Content-Encoding", "identity"}});
    EXPECT_EQ(status, 200) << answer.dump();
}

TEST(RequestTarget, ARequestInAbsoluteFormIsServedByItsPathAndJudgedByItsAuthority) {
    // RFC 9112 section 3.2.2: a server must accept the absolute form. Before, it was routed by the whole URL: 404.
    InProcessDaemon daemon("16", std::nullopt);
    const std::string here = "127.0.0.1:" + std::to_string(daemon.port());
    const auto answer = [&](const std::string& request) {
        RawConnection connection(daemon.port());
        EXPECT_TRUE(connection.send(request));
        return connection.read_response(2s);
    };
    const std::string health = answer("GET http://" + here + "/healthz HTTP/1.1\r\nHost: " + here + "\r\n\r\n");
    EXPECT_EQ(status_of(health), 200) << health;
    const std::string status =
        answer("GET HTTP://" + here + "/api/warmup/status?limit=1 HTTP/1.1\r\nHost: " + here + "\r\n\r\n");
    EXPECT_EQ(status_of(status), 200) << status;
    EXPECT_TRUE(json_body_of(status).contains("counters")) << status;
    // The authority is the Host that counts (RFC 9112: it replaces the Host header): a page's name pointed here is
    // refused as through any other Host.
    const std::string elsewhere =
        answer("GET http://evil.example/api/warmup/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    EXPECT_EQ(status_of(elsewhere), 403) << elsewhere;
    EXPECT_NE(elsewhere.find("evil.example"), std::string::npos) << elsewhere;
    // An escape in the authority is not rewritten (a proxy in front saw the path "/"), nor is a target without host.
    const std::string escaped =
        answer("GET http://127.0.0.1%2Fapi%2Fwarmup%2Freset-to-safe HTTP/1.1\r\nHost: " + here + "\r\n\r\n");
    EXPECT_EQ(status_of(escaped), 404) << escaped;
    EXPECT_EQ(status_of(answer("GET http:///healthz HTTP/1.1\r\nHost: " + here + "\r\n\r\n")), 404);
    // Without a path: the root, answered as GET / is.
    EXPECT_EQ(status_of(answer("GET http://" + here + " HTTP/1.1\r\nHost: " + here + "\r\n\r\n")),
              status_of(answer("GET / HTTP/1.1\r\nHost: " + here + "\r\n\r\n")));
}

TEST(QueryParameters, AParameterGivenTwiceIsRefusedEvenWithTheSameValueTwice) {
    // The HTTP library drops a repeated name=value pair before a handler sees it: before, ?limit=5&limit=5 was taken.
    InProcessDaemon daemon("16", std::nullopt);
    for (const std::string query : {"limit=5&limit=5", "limit=5&limit=6", "limit=5&li%6Dit=5", "soonest=3&soonest=3"}) {
        const auto answer = daemon.client().Get("/api/warmup/predictions?" + query);
        ASSERT_TRUE(answer) << query;
        EXPECT_EQ(answer->status, 400) << query << " " << answer->body;
        EXPECT_EQ(json::parse(answer->body)["error"],
                  query.starts_with("soonest") ? "soonest: given more than once" : "limit: given more than once")
            << query;
    }
    const auto once = daemon.client().Get("/api/warmup/predictions?soonest=5&within_ms=1000");
    ASSERT_TRUE(once);
    EXPECT_EQ(once->status, 200) << once->body;
}

TEST(ContentType, AMultipartBodyIsRefusedWhateverTheCaseOfItsMediaType) {
    // Media types are case-insensitive: before, "Multipart/Form-Data" was read as NDJSON and its JSON line ingested.
    InProcessDaemon daemon("16", std::nullopt);
    const std::string body =
        "--x\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n{\"model\": \"known/a\"}\r\n--x--\r\n";
    for (const std::string type :
         {"multipart/form-data; boundary=x", "Multipart/Form-Data; boundary=x", "MULTIPART/mixed; boundary=x"}) {
        const auto answer = daemon.client().Post("/api/warmup/events", body, type);
        ASSERT_TRUE(answer) << type;
        EXPECT_EQ(answer->status, 415) << type << " " << answer->body;
    }
    const auto status = daemon.client().Get("/api/warmup/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(json::parse(status->body)["counters"]["events_accepted"], 0) << status->body;
}

TEST(QueryParameters, AParameterAnEndpointDoesNotTakeIsRefusedBeforeAnythingIsDone) {
    InProcessDaemon daemon("16", std::nullopt);
    // A POST that looks like a dry run must not ingest.
    const auto refused =
        daemon.client().Post("/api/warmup/events?dry_run=1", "{\"model\": \"known/a\"}\n", "application/x-ndjson");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << refused->body;
    EXPECT_EQ(json::parse(refused->body)["error"], "unknown query parameter 'dry_run' (this endpoint takes none)");
    const auto status = daemon.client().Get("/api/warmup/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(json::parse(status->body)["counters"]["events_accepted"], 0) << status->body;
    for (const std::string path : {"/metrics?x=1", "/api/warmup/health/components?x=1", "/readyz?verbose"}) {
        const auto answer = daemon.client().Get(path);
        ASSERT_TRUE(answer) << path;
        EXPECT_EQ(answer->status, 400) << path << " " << answer->body;
    }
    // The parameters an endpoint takes still reach it.
    const auto decisions = daemon.client().Get("/api/warmup/decisions?limit=5");
    ASSERT_TRUE(decisions);
    EXPECT_EQ(decisions->status, 200) << decisions->body;
}

TEST(BodyCap, AContentLengthOverTheCapIsRefusedBeforeTheBodyIsSent) {
    InProcessDaemon daemon("0.001", std::nullopt);
    RawConnection connection(daemon.port());
    ASSERT_TRUE(
        connection.send("POST /api/warmup/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000000\r\n\r\n"));
    const std::string response = connection.read_response(2s);
    EXPECT_EQ(status_of(response), 413) << response;
}

TEST(IdleClients, HealthzAnswersPromptlyWhileIdleAndSlowClientsHoldConnections) {
    InProcessDaemon daemon("16", std::nullopt, ", request_timeout_ms: 1000");
    // 20 connections that send nothing, 10 that announce a body they never send, one that trickles a header.
    std::vector<std::unique_ptr<RawConnection>> idle;
    for (int i = 0; i < 20; ++i) idle.push_back(std::make_unique<RawConnection>(daemon.port()));
    for (int i = 0; i < 10; ++i) {
        idle.push_back(std::make_unique<RawConnection>(daemon.port()));
        ASSERT_TRUE(
            idle.back()->send("POST /api/warmup/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"));
    }
    RawConnection slow(daemon.port());
    const std::string header = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + std::string(200, 'a');
    std::atomic<bool> slow_closed{false};
    const auto slow_started = Clock::now();
    std::thread trickle([&] {
        for (const char byte : header) {
            if (!slow.send(std::string(1, byte))) break;
            std::this_thread::sleep_for(100ms);
            if (Clock::now() - slow_started > 5s) break;
        }
    });
    std::this_thread::sleep_for(200ms);  // every connection is accepted and waiting

    for (int probe = 0; probe < 3; ++probe) {
        RawConnection health(daemon.port());
        const auto started = Clock::now();
        ASSERT_TRUE(health.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        const std::string response = health.read_response(3s);
        // Before: 8 workers, each held by one of these clients, and /healthz waited seconds for a free one.
        EXPECT_EQ(status_of(response), 200) << response;
        EXPECT_LT(Clock::now() - started, 500ms) << "probe " << probe;
    }

    // The trickling client had 1 s for its whole request: it is dropped then, not after every byte's timeout.
    slow_closed = slow.closed_within(3s);
    const auto held = Clock::now() - slow_started;
    trickle.join();
    EXPECT_TRUE(slow_closed);
    EXPECT_LT(held, 2500ms);
    // The clients that announced a body and sent none are dropped at the same deadline.
    EXPECT_TRUE(idle.back()->closed_within(1s));
}

TEST(Methods, AWrongMethodGets405WithAllowAndNoBodyIsAwaited) {
    InProcessDaemon daemon("16", std::nullopt);
    auto get_events = daemon.client().Get("/api/warmup/events");
    ASSERT_TRUE(get_events);
    EXPECT_EQ(get_events->status, 405);
    EXPECT_EQ(get_events->get_header_value("Allow"), "POST");
    EXPECT_EQ(json::parse(get_events->body)["error"], "method not allowed: GET /api/warmup/events (allowed: POST)");

    RawConnection connection(daemon.port());
    ASSERT_TRUE(connection.send(bodyless_post("/api/warmup/status")));
    const auto started = Clock::now();
    const std::string response = connection.read_response(3s);
    EXPECT_LT(Clock::now() - started, 1s);
    EXPECT_EQ(status_of(response), 405) << response;
    EXPECT_NE(response.find("Allow: GET, HEAD\r\n"), std::string::npos) << response;

    auto unknown = daemon.client().Post("/api/warmup/nope", "{}", "application/json");
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, 404);
}

TEST(EventAnswers, TheRefusedLinesListIsCappedAtAHundredPlusACount) {
    InProcessDaemon daemon("16", std::nullopt);
    std::string body;
    for (int i = 0; i < 130; ++i) body += "not json\n";                   // refused by the parser
    for (int i = 0; i < 120; ++i) body += "{\"model\":\"unknown/x\"}\n";  // refused by the catalog
    body += "{\"model\":\"known/a\"}\n";
    const auto [status, answer] = daemon.post_events(body);
    EXPECT_EQ(status, 400);
    EXPECT_EQ(answer["accepted"], 1);
    ASSERT_EQ(answer["rejected"].size(), 100u) << answer.dump();
    EXPECT_EQ(answer["rejected"][0]["line"], 1);
    EXPECT_EQ(answer["rejected"][99]["line"], 100);
    EXPECT_EQ(answer["rejected_not_listed"], 150);
}

TEST(EventAnswers, AFullQueueRefusesATailFromRetryFromAndRegistersNoModelOfIt) {
    InProcessDaemon daemon("16", std::nullopt, "", ", ingest_queue_capacity: 10");
    std::string body;
    for (int i = 0; i < 10; ++i) body += "{\"model\": \"known/a\"}\n";
    for (int i = 0; i < 20; ++i) body += "{\"model\": \"known/new-" + std::to_string(i) + "\"}\n";
    body += "{\"model\": \"nobody/x\"}\n";  // line 31: refused for its content, whatever the queue
    const auto [status, answer] = daemon.post_events(body);
    EXPECT_EQ(status, 503) << answer.dump();
    EXPECT_EQ(answer["accepted"], 10);
    EXPECT_EQ(answer["retry_from"], 11) << answer.dump();
    ASSERT_EQ(answer["rejected"].size(), 21u) << answer.dump();
    EXPECT_EQ(answer["rejected"][0]["line"], 11);
    EXPECT_EQ(answer["rejected"][20]["line"], 31);
    EXPECT_EQ(answer["rejected"][20]["reason"], "unknown model 'nobody/x' (no catalog entry matches it)");
    // The refused events' models were not registered: the catalog holds known/a alone.
    EXPECT_TRUE(daemon.runtime().catalog().find("known/a").has_value());
    for (int i = 0; i < 20; ++i)
        EXPECT_FALSE(daemon.runtime().catalog().find("known/new-" + std::to_string(i)).has_value()) << i;
    EXPECT_EQ(daemon.runtime().refused_events(), 20u);
    EXPECT_EQ(daemon.runtime().invalid_events(), 1u);
}

TEST(EventAnswers, ModelNamesWithControlCharactersAreRefusedPerLine) {
    InProcessDaemon daemon("16", std::nullopt);
    const auto [status, answer] =
        daemon.post_events("{\"model\":\"known/a\"}\n{\"model\":\"known/\\u001b[31mred\"}\n{\"model\":\"known/b\"}\n");
    EXPECT_EQ(status, 400);
    EXPECT_EQ(answer["accepted"], 2);
    ASSERT_EQ(answer["rejected"].size(), 1u);
    EXPECT_EQ(answer["rejected"][0]["line"], 2);
    EXPECT_EQ(answer["rejected"][0]["reason"], "'model' contains the control character 0x1b at byte 6");
}

TEST(Answers, CountsAndWholeMebibytesAreJsonIntegers) {
    InProcessDaemon daemon("16", std::nullopt);
    auto stop = daemon.client().Post("/api/warmup/emergency-stop");
    ASSERT_TRUE(stop);
    const json stopped = json::parse(stop->body);
    bool saw_a_fact = false;
    for (const auto& [key, value] : stopped.items())
        if (value.is_number()) {
            saw_a_fact = true;
            EXPECT_TRUE(value.is_number_integer()) << key << " = " << value.dump() << " in " << stopped.dump();
        }
    EXPECT_TRUE(saw_a_fact) << stopped.dump();
    auto status = daemon.client().Get("/api/warmup/status");
    ASSERT_TRUE(status);
    const json body = json::parse(status->body);
    EXPECT_TRUE(body["budget_mb"].is_number_integer()) << body["budget_mb"].dump();
    EXPECT_TRUE(body["used_mb"].is_number_integer()) << body["used_mb"].dump();
    auto experiments = daemon.client().Get("/api/warmup/experiments");
    ASSERT_TRUE(experiments);
    const json arm = json::parse(experiments->body)["arms"][0];
    EXPECT_TRUE(arm["budget_mb"].is_number_integer()) << arm.dump();
    EXPECT_TRUE(arm["weight"].is_number_integer()) << arm.dump();
}

TEST(TokenReload, AReloadThatChangesTheTokenAppliesItAtOnce) {
    InProcessDaemon daemon("16", std::nullopt, std::string(", access_token: ") + kToken);
    const std::string new_token = "rotated-token-fedcba9876543210";
    const auto with_token = [](const std::string& token) {
        return httplib::Headers{{"Authorization", "Bearer " + token}};
    };
    EXPECT_EQ(daemon.post_events("{\"model\":\"known/a\"}", with_token(kToken)).first, 200);

    // The same configuration with another token.
    const ReloadResult reloaded = daemon.runtime().reload(
        load_config_text(test::config_yaml("16", ", access_token: " + new_token), "<security test>", {}, {}));
    ASSERT_TRUE(reloaded.ok) << reloaded.error;
    const json answer = reload_json(reloaded);
    // Before: "unchanged", and the old token kept working.
    EXPECT_EQ(answer["status"], "reloaded") << answer.dump();
    EXPECT_NE(answer["notes"].dump().find("http access token changed"), std::string::npos) << answer.dump();
    EXPECT_EQ(daemon.post_events("{\"model\":\"known/a\"}", with_token(kToken)).first, 401);
    EXPECT_EQ(daemon.post_events("{\"model\":\"known/a\"}", with_token(new_token)).first, 200);

    // A token that could not work is refused, and the one in force stays.
    const ReloadResult refused = daemon.runtime().reload(
        load_config_text(test::config_yaml("16", ", access_token: short"), "<security test>", {}, {}));
    EXPECT_FALSE(refused.ok);
    EXPECT_EQ(refused.http_status, 400);
    EXPECT_NE(refused.error.find("expected at least 16"), std::string::npos) << refused.error;
    EXPECT_EQ(daemon.post_events("{\"model\":\"known/a\"}", with_token(new_token)).first, 200);

    // Rolling back restores the previous token.
    ASSERT_TRUE(daemon.runtime().rollback().ok);
    EXPECT_EQ(daemon.post_events("{\"model\":\"known/a\"}", with_token(new_token)).first, 401);
    EXPECT_EQ(daemon.post_events("{\"model\":\"known/a\"}", with_token(kToken)).first, 200);
}

TEST(TokenReload, DroppingTheTokenIsJudgedOnTheAddressTheServerListensOn) {
    // A reload's http.bind waits for the next start, so the configuration in force can say loopback while the server
    // still listens on every address (here from the start, as after reloading bind: 127.0.0.1 on a daemon started on
    // 0.0.0.0). A reload without a token must be refused on the address the server has, not on the configuration's.
    // The server is bound but never started: nothing is served on that address.
    ::unsetenv(kAccessTokenEnvironmentVariable);
    LiveRuntime runtime(
        load_config_text(test::config_yaml("16", std::string(", access_token: ") + kToken), "<security test>", {}, {}));
    runtime.start();
    {
        HttpApi api(runtime);
        api.bind("0.0.0.0", 0);
        const ReloadResult refused =
            runtime.reload(load_config_text(test::config_yaml("16"), "<security test>", {}, {}));
        EXPECT_FALSE(refused.ok);
        EXPECT_EQ(refused.http_status, 400);
        EXPECT_NE(refused.error.find("listens on '0.0.0.0', which needs one"), std::string::npos) << refused.error;
    }
    runtime.stop();
}

}  // namespace
}  // namespace warmup::host
