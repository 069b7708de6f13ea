// The SDK's HTTP client: base URL parsing, answers, headers, https, cancellation, deadlines and transport failures,
// against httplib servers on 127.0.0.1 inside the test process.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <warmup/sdk/http_client.hpp>

#include "backend_test_support.hpp"
#include "self_signed_certificate.hpp"
#include "test_support.hpp"

namespace warmup::test {
namespace {

using sdk::HttpClient;
using sdk::HttpClientOptions;
using sdk::HttpResponse;
using Outcome = HttpResponse::Outcome;

/// An httplib server (plain or TLS) on an ephemeral loopback port: /api/echo answers with what it received;
/// /api/hold waits until release() (or 30 s) and then answers 200. Every member is thread-safe.
class EchoServer {
  public:
    explicit EchoServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {
        const auto echo = [](const httplib::Request& request, httplib::Response& response) {
            std::string text = request.method + " " + request.path + "\n";
            for (const char* header : {"Authorization", "X-API-Key", "Content-Type"})
                text += std::string(header) + ": " + request.get_header_value(header) + "\n";
            text += request.body;
            response.set_content(text, "text/plain");
        };
        server_->Get("/prefix/api/echo", echo);
        server_->Post("/prefix/api/echo", echo);
        server_->Get("/prefix/api/status/418", [](const httplib::Request&, httplib::Response& response) {
            response.status = 418;
            response.set_content("teapot", "text/plain");
        });
        server_->Get("/prefix/api/hold", [this](const httplib::Request&, httplib::Response& response) {
            std::unique_lock lock(mutex_);
            ++holding_;
            released_changed_.wait_for(lock, std::chrono::seconds(30), [&] { return released_; });
            response.set_content("released", "text/plain");
        });
        port_ = server_->bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_->listen_after_bind(); });
        poll_until([&] { return server_->is_running(); }, std::chrono::seconds(5));
    }
    ~EchoServer() {
        release();
        server_->stop();
        thread_.join();
    }
    EchoServer(const EchoServer&) = delete;
    EchoServer& operator=(const EchoServer&) = delete;

    [[nodiscard]] int port() const { return port_; }
    /// Requests waiting in /api/hold (so far, including released ones).
    [[nodiscard]] int holding() {
        std::lock_guard lock(mutex_);
        return holding_;
    }
    void release() {
        {
            std::lock_guard lock(mutex_);
            released_ = true;
        }
        released_changed_.notify_all();
    }

  private:
    std::unique_ptr<httplib::Server> server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable released_changed_;
    bool released_ = false;
    int holding_ = 0;
};

HttpClient client_for(const std::string& base_url, HttpClientOptions options = {}) {
    return HttpClient(sdk::parse_http_base_url(base_url, "params.base_url", 80), std::move(options));
}

std::string plain_url(const EchoServer& server) {
    return "http://127.0.0.1:" + std::to_string(server.port()) + "/prefix/";
}

TEST(HttpBaseUrl, DefaultPortsPrefixAndIpv6) {
    const sdk::HttpEndpoint plain = sdk::parse_http_base_url("http://localhost", "k", 11434);
    EXPECT_FALSE(plain.https);
    EXPECT_EQ(plain.host, "localhost");
    EXPECT_EQ(plain.port, 11434);
    EXPECT_EQ(plain.path_prefix, "");
    EXPECT_EQ(plain.url, "http://localhost:11434");

    const sdk::HttpEndpoint secure = sdk::parse_http_base_url("HTTPS://gpu-box.internal/vllm/", "k", 8000);
    EXPECT_TRUE(secure.https);
    EXPECT_EQ(secure.port, 443);
    EXPECT_EQ(secure.path_prefix, "/vllm");
    EXPECT_EQ(secure.url, "https://gpu-box.internal:443/vllm");

    const sdk::HttpEndpoint ipv6 = sdk::parse_http_base_url("http://[::1]:8080/gpu-box/ollama//", "k", 11434);
    EXPECT_EQ(ipv6.host, "::1");
    EXPECT_EQ(ipv6.port, 8080);
    EXPECT_EQ(ipv6.path_prefix, "/gpu-box/ollama");
    EXPECT_EQ(ipv6.url, "http://[::1]:8080/gpu-box/ollama");
}

TEST(HttpBaseUrl, BadUrlsAreRefusedWithTheKeyPathAndTheReason) {
    const std::pair<const char*, const char*> cases[] = {
        {"ftp://host", "the scheme must be http:// or https://"},
        {"http://host:70000", "the port must be a number in 1..65535"},
        {"http://host:0", "the port must be a number in 1..65535"},
        {"http://:8080", "no host"},
        {"http://host/x?y=1", "user info, spaces, a query or a fragment are not allowed"},
        {"http://user@host", "user info, spaces, a query or a fragment are not allowed"},
        {"http://[::1", "unterminated IPv6 literal"},
        {"http://ho$t", "the host may only hold letters"},
    };
    for (const auto& [url, reason] : cases) {
        const sdk::Error error = sdk_error_of([&] { (void)sdk::parse_http_base_url(url, "params.servers.x", 80); });
        EXPECT_EQ(error.code(), WARMUP_ERROR_INVALID_ARGUMENT);
        EXPECT_EQ(std::string(error.what()).rfind(std::string("params.servers.x: '") + url + "': " + reason, 0), 0u)
            << error.what();
    }
}

TEST(HttpBaseUrl, PathSegmentsArePercentEncoded) {
    EXPECT_EQ(sdk::percent_encode_path_segment("llama3:8b"), "llama3:8b");
    EXPECT_EQ(sdk::percent_encode_path_segment("a b%c?d#e/f"), "a%20b%25c%3Fd%23e%2Ff");
    EXPECT_EQ(sdk::percent_encode_path_segment("\xC3\xA9"), "%C3%A9");
}

TEST(HttpClient, GetAndPostReachThePrefixedPathWithBody) {
    EchoServer server(std::make_unique<httplib::Server>());
    const HttpClient client = client_for(plain_url(server));
    const HttpResponse got = client.get("/api/echo", 5000);
    ASSERT_TRUE(got.succeeded()) << got.transport_error;
    EXPECT_EQ(got.status, 200);
    EXPECT_EQ(got.body.rfind("GET /prefix/api/echo\n", 0), 0u) << got.body;
    EXPECT_EQ(got.request_line, "GET /prefix/api/echo");

    const HttpResponse posted = client.post("/api/echo", R"({"lora_name":"a"})", 5000);
    ASSERT_TRUE(posted.succeeded());
    EXPECT_NE(posted.body.find("Content-Type: application/json\n{\"lora_name\":\"a\"}"), std::string::npos)
        << posted.body;
    EXPECT_TRUE(posted.sent);
}

TEST(HttpClient, NonSuccessStatusIsAnAnswerNotAFailure) {
    EchoServer server(std::make_unique<httplib::Server>());
    const HttpResponse answer = client_for(plain_url(server)).get("/api/status/418", 5000);
    EXPECT_EQ(answer.outcome, Outcome::Answered);
    EXPECT_EQ(answer.status, 418);
    EXPECT_EQ(answer.body, "teapot");
    EXPECT_FALSE(answer.succeeded());
}

TEST(HttpClient, BearerTokenAndApiKeyHeadersAreSentWithEveryRequest) {
    EchoServer server(std::make_unique<httplib::Server>());
    HttpClientOptions options;
    options.bearer_token = "s3cret";
    options.headers = {{"X-API-Key", "k-123"}};
    const HttpClient client = client_for(plain_url(server), options);
    for (const HttpResponse& answer : {client.get("/api/echo", 5000), client.post("/api/echo", "{}", 5000)}) {
        ASSERT_TRUE(answer.succeeded());
        EXPECT_NE(answer.body.find("Authorization: Bearer s3cret\n"), std::string::npos) << answer.body;
        EXPECT_NE(answer.body.find("X-API-Key: k-123\n"), std::string::npos) << answer.body;
    }
}

TEST(HttpClient, ServerDownIsATransportErrorThatSaysSo) {
    int closed_port = 0;
    {
        EchoServer server(std::make_unique<httplib::Server>());
        closed_port = server.port();
    }
    const HttpResponse answer = client_for("http://127.0.0.1:" + std::to_string(closed_port)).get("/x", 5000);
    EXPECT_EQ(answer.outcome, Outcome::TransportError);
    EXPECT_EQ(answer.transport_error, "connection refused or host unreachable");
    EXPECT_EQ(answer.status, 0);
}

TEST(HttpClient, CancelTokenInterruptsARequestTheServerHolds) {
    EchoServer server(std::make_unique<httplib::Server>());
    std::atomic<bool> cancelled{false};
    const warmup_cancel_token cancel{&cancelled,
                                     [](void* flag) { return static_cast<std::atomic<bool>*>(flag)->load() ? 1 : 0; }};
    std::thread canceller([&] {
        poll_until([&] { return server.holding() > 0; }, std::chrono::seconds(10));
        cancelled.store(true);
    });
    const HttpResponse answer = client_for(plain_url(server)).get("/api/hold", 60000, &cancel);
    canceller.join();
    EXPECT_EQ(server.holding(), 1);  // the request did reach the server before it was interrupted
    EXPECT_EQ(answer.outcome, Outcome::Cancelled);
    EXPECT_TRUE(answer.sent);
    EXPECT_TRUE(answer.interrupted());
}

TEST(HttpClient, AlreadyCancelledTokenSendsNothing) {
    EchoServer server(std::make_unique<httplib::Server>());
    CountingCancel cancel;
    const warmup_cancel_token token = cancel.token();
    const HttpResponse answer = client_for(plain_url(server)).get("/api/hold", 60000, &token);
    EXPECT_EQ(answer.outcome, Outcome::Cancelled);
    EXPECT_FALSE(answer.sent);
    EXPECT_EQ(server.holding(), 0);
}

TEST(HttpClient, DeadlineBoundsTheWholeExchangeWithoutAToken) {
    EchoServer server(std::make_unique<httplib::Server>());
    const HttpResponse answer = client_for(plain_url(server)).get("/api/hold", 300);
    EXPECT_EQ(answer.outcome, Outcome::TimedOut);
    EXPECT_EQ(server.holding(), 1);
    EXPECT_EQ(answer.timeout_ms, 300);
}

class HttpsClient : public ::testing::Test {
  protected:
    TempDir folder{"warmup-https"};
    CertificateFiles files = write_self_signed_certificate(folder.path());
    EchoServer server{std::make_unique<httplib::SSLServer>(files.certificate.c_str(), files.private_key.c_str())};
    std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/prefix";
};

TEST_F(HttpsClient, TrustedCertificateFromCaFileIsAccepted) {
    HttpClientOptions options;
    options.ca_file = files.certificate.string();
    options.bearer_token = "over-tls";
    const HttpResponse answer = client_for(url, options).get("/api/echo", 10000);
    ASSERT_TRUE(answer.succeeded()) << answer.transport_error;
    EXPECT_NE(answer.body.find("Authorization: Bearer over-tls\n"), std::string::npos);
}

TEST_F(HttpsClient, UntrustedCertificateIsRefusedUnlessVerificationIsOff) {
    const HttpResponse refused = client_for(url).get("/api/echo", 10000);  // the system store does not know it
    EXPECT_EQ(refused.outcome, Outcome::TransportError);
    EXPECT_EQ(refused.transport_error, "the server's TLS certificate is not trusted or does not name this host");

    HttpClientOptions insecure;
    insecure.verify_tls = false;
    EXPECT_TRUE(client_for(url, insecure).get("/api/echo", 10000).succeeded());
}

TEST_F(HttpsClient, PlainHttpClientCannotTalkToATlsServer) {
    const HttpResponse answer =
        client_for("http://127.0.0.1:" + std::to_string(server.port()) + "/prefix").get("/api/echo", 5000);
    EXPECT_FALSE(answer.succeeded());
}

TEST(HttpClientOptions, SecretsComeFromTheYamlOrFromTheEnvironment) {
    ::setenv("WARMUP_TEST_HTTP_TOKEN", "from-env", 1);
    sdk::Params params(
        "bearer_token_env: WARMUP_TEST_HTTP_TOKEN\napi_key_header: X-API-Key\napi_key: k\n"
        "connect_timeout_ms: 150\ntls_verify: false");
    const HttpClientOptions options = sdk::read_http_client_options(params);
    params.finish();
    EXPECT_EQ(options.bearer_token, "from-env");
    ASSERT_EQ(options.headers.size(), 1u);
    EXPECT_EQ(options.headers[0], (std::pair<std::string, std::string>{"X-API-Key", "k"}));
    EXPECT_EQ(options.connect_timeout_ms, 150);
    EXPECT_FALSE(options.verify_tls);

    sdk::Params defaults("");
    const HttpClientOptions plain = sdk::read_http_client_options(defaults, 4000);
    EXPECT_EQ(plain.connect_timeout_ms, 4000);
    EXPECT_TRUE(plain.bearer_token.empty());
    EXPECT_TRUE(plain.headers.empty());
    EXPECT_TRUE(plain.verify_tls);
}

TEST(HttpClientOptions, BadSettingsAreRefusedWithTheirKeyPath) {
    ::unsetenv("WARMUP_TEST_HTTP_UNSET");
    const std::pair<const char*, const char*> cases[] = {
        {"bearer_token: a\nbearer_token_env: B", "params.bearer_token: give either bearer_token or bearer_token_env"},
        {"bearer_token_env: WARMUP_TEST_HTTP_UNSET",
         "params.bearer_token_env: the environment variable 'WARMUP_TEST_HTTP_UNSET' is not set or empty"},
        {"bearer_token: ''", "params.bearer_token: expected a non-empty string"},
        {"api_key: k", "params.api_key_header: api_key_header and api_key (or api_key_env) go together"},
        {"api_key_header: X-Key", "params.api_key: api_key_header and api_key (or api_key_env) go together"},
        {"api_key_header: 'X Key'\napi_key: k", "params.api_key_header: 'X Key' is not an HTTP header name"},
        {"tls_ca_file: /no/such/file.pem", "params.tls_ca_file: '/no/such/file.pem' is not a readable file"},
        {"connect_timeout_ms: 0", "params.connect_timeout_ms: 0 is outside"},
        {"tls_verify: maybe", "params.tls_verify: expected true or false"},
    };
    for (const auto& [yaml, expected] : cases) {
        sdk::Params params(yaml);
        const sdk::Error error = sdk_error_of([&] { (void)sdk::read_http_client_options(params); });
        EXPECT_EQ(error.code(), WARMUP_ERROR_INVALID_ARGUMENT);
        EXPECT_EQ(std::string(error.what()).rfind(expected, 0), 0u) << yaml << " -> " << error.what();
    }
}

}  // namespace
}  // namespace warmup::test
