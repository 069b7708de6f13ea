// Unit tests of the HTTP access policy (host/http/security): which bind addresses are loopback, when a bind must be
// refused, the bearer-token decision for each kind of request, and the constant-time comparison's answers.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <string>

#include "config/config.hpp"
#include "http/security.hpp"
#include "http/status_page/status_page.hpp"

namespace warmup::host {
namespace {

constexpr const char* kToken = "0123456789abcdef-secret";  // 23 bytes, above the 16-byte minimum

TEST(LoopbackAddress, AcceptsOnlyLoopbackLiteralsAndLocalhost) {
    for (const char* loopback : {"127.0.0.1", "127.255.255.254", "127.0.0.2", "::1", "localhost", "::ffff:127.0.0.1"})
        EXPECT_TRUE(is_loopback_address(loopback)) << loopback;
    for (const char* exposed :
         {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "126.255.255.255", "192.168.1.10", "::ffff:10.0.0.1", "::2",
          "example.com", "localhost.evil.com", "", "127.0.0.1 ", "127.0.0.1.5"})
        EXPECT_FALSE(is_loopback_address(exposed)) << exposed;
}

TEST(LoopbackAddress, AnOverlongStringIsNotLoopback) { EXPECT_FALSE(is_loopback_address(std::string(200, '1'))); }

constexpr std::string_view kDefaultSource = "the environment variable WARMUP_ACCESS_TOKEN";

TEST(BindPolicy, LoopbackNeedsNoTokenButEveryOtherAddressDoes) {
    EXPECT_FALSE(bind_refusal_reason("127.0.0.1", std::nullopt, kDefaultSource).has_value());
    EXPECT_FALSE(bind_refusal_reason("::1", std::nullopt, kDefaultSource).has_value());
    const auto refused = bind_refusal_reason("0.0.0.0", std::nullopt, kDefaultSource);
    ASSERT_TRUE(refused.has_value());
    EXPECT_NE(refused->find("'0.0.0.0'"), std::string::npos) << *refused;
    EXPECT_NE(refused->find("WARMUP_ACCESS_TOKEN"), std::string::npos) << *refused;
    EXPECT_FALSE(bind_refusal_reason("0.0.0.0", std::string(kToken), kDefaultSource).has_value());
}

TEST(BindPolicy, AShortOrMalformedTokenIsRefusedEvenOnLoopback) {
    const auto short_token =
        bind_refusal_reason("127.0.0.1", std::string("123456789012345"), kDefaultSource);  // 15 bytes
    ASSERT_TRUE(short_token.has_value());
    EXPECT_NE(short_token->find("15 bytes, expected at least 16"), std::string::npos) << *short_token;
    EXPECT_FALSE(
        bind_refusal_reason("127.0.0.1", std::string("1234567890123456"), kDefaultSource).has_value());  // exactly 16
    EXPECT_TRUE(bind_refusal_reason("0.0.0.0", std::string("0123456789abcdef ghij"), kDefaultSource).has_value());
    EXPECT_TRUE(bind_refusal_reason("0.0.0.0", std::string("0123456789abcdef\nghij"), kDefaultSource).has_value());
}

TEST(BindPolicy, UsesTheConfiguredTokenFromYamlOrTheEnvironment) {
    HttpConfig http;
    ::unsetenv(kAccessTokenEnvironmentVariable);
    EXPECT_TRUE(bind_refusal_reason("0.0.0.0", http.resolved_access_token(), http.access_token_source()).has_value());
    EXPECT_FALSE(
        bind_refusal_reason("127.0.0.1", http.resolved_access_token(), http.access_token_source()).has_value());
    ::setenv(kAccessTokenEnvironmentVariable, kToken, 1);
    EXPECT_FALSE(bind_refusal_reason("0.0.0.0", http.resolved_access_token(), http.access_token_source()).has_value());
    ::setenv(kAccessTokenEnvironmentVariable, "", 1);  // empty counts as unset
    EXPECT_TRUE(bind_refusal_reason("0.0.0.0", http.resolved_access_token(), http.access_token_source()).has_value());
    ::unsetenv(kAccessTokenEnvironmentVariable);
    http.access_token = kToken;  // http.access_token in the YAML wins over the environment
    EXPECT_FALSE(bind_refusal_reason("0.0.0.0", http.resolved_access_token(), http.access_token_source()).has_value());
    http.access_token.clear();
    http.access_token_env = "WARMUP_TEST_OTHER_TOKEN_VARIABLE";  // http.access_token_env names another variable
    ::setenv("WARMUP_TEST_OTHER_TOKEN_VARIABLE", kToken, 1);
    EXPECT_FALSE(bind_refusal_reason("0.0.0.0", http.resolved_access_token(), http.access_token_source()).has_value());
    ::unsetenv("WARMUP_TEST_OTHER_TOKEN_VARIABLE");
}

TEST(BindPolicy, ARefusalNamesWhereThisConfigurationReadsTheToken) {
    HttpConfig http;
    http.access_token_env = "WARMUP_TEST_OTHER_TOKEN_VARIABLE";
    ::unsetenv("WARMUP_TEST_OTHER_TOKEN_VARIABLE");
    const auto refused = bind_refusal_reason("0.0.0.0", http.resolved_access_token(), http.access_token_source());
    ASSERT_TRUE(refused.has_value());
    EXPECT_NE(refused->find("the environment variable WARMUP_TEST_OTHER_TOKEN_VARIABLE"), std::string::npos)
        << *refused;
    EXPECT_EQ(refused->find("WARMUP_ACCESS_TOKEN"), std::string::npos) << *refused;
    http.access_token = "short";  // a token written in the YAML is reported as the YAML's
    const auto short_token = bind_refusal_reason("127.0.0.1", http.resolved_access_token(), http.access_token_source());
    ASSERT_TRUE(short_token.has_value());
    EXPECT_NE(short_token->find("(http.access_token)"), std::string::npos) << *short_token;
}

TEST(SecretsEqual, ComparesWholeValues) {
    EXPECT_TRUE(secrets_equal(kToken, kToken));
    EXPECT_FALSE(secrets_equal(kToken, "0123456789abcdef-secreT"));  // last byte differs
    EXPECT_FALSE(secrets_equal(kToken, "0123456789abcdef-secre"));   // prefix
    EXPECT_FALSE(secrets_equal(kToken, std::string(kToken) + "x"));  // extension
    EXPECT_FALSE(secrets_equal(kToken, ""));
    EXPECT_TRUE(secrets_equal("", ""));
}

const std::string kBearer = std::string("Bearer ") + kToken;

TEST(RequestDecision, WithoutTokenLoopbackIsOpenAndNonLoopbackServesOnlyTheProbes) {
    const RequestGuard open{};
    EXPECT_EQ(decide_request(open, "POST", "/api/warmup/events", "127.0.0.1", "").status, 0);
    EXPECT_EQ(decide_request(open, "GET", "/api/warmup/status", "::1", "").status, 0);
    EXPECT_EQ(decide_request(open, "GET", "/healthz", "10.1.2.3", "").status, 0);
    EXPECT_EQ(decide_request(open, "GET", "/readyz", "10.1.2.3", "").status, 0);
    EXPECT_EQ(decide_request(open, "GET", "/api/warmup/status", "10.1.2.3", "").status, 403);
    EXPECT_EQ(decide_request(open, "POST", "/api/warmup/events", "10.1.2.3", kBearer).status, 403);
    EXPECT_EQ(decide_request(open, "GET", "/api/warmup/status", "", "").status, 403);  // unknown address: closed
}

TEST(LoopbackBrowserRequests, AHostThatIsNoLoopbackNameIsRefusedWhateverTheMethod) {
    for (const char* host :
         {"127.0.0.1:3000", "localhost:3000", "LOCALHOST", "[::1]:3000", "127.1.2.3", "app.localhost", ""})
        EXPECT_EQ(loopback_browser_problem("GET", "/api/warmup/status", host, "", ""), std::nullopt) << host;
    // A page of evil.example whose name was pointed at 127.0.0.1 (DNS rebinding) reads as a same-origin page.
    for (const char* method : {"GET", "POST"}) {
        const auto problem = loopback_browser_problem(method, "/api/warmup/status", "evil.example:3000", "", "");
        ASSERT_TRUE(problem) << method;
        EXPECT_NE(problem->find("Host header 'evil.example:3000'"), std::string::npos) << *problem;
    }
    EXPECT_TRUE(loopback_browser_problem("GET", "/api/warmup/status", "localhost.evil.example", "", ""));
    // Debian's other names for the loopback, a fully qualified "localhost.", and the machine's own name.
    for (const char* host : {"localhost.:3000", "ip6-localhost", "localhost.localdomain", "localhost4"})
        EXPECT_EQ(loopback_browser_problem("GET", "/api/warmup/status", host, "", ""), std::nullopt) << host;
    std::array<char, 256> own{};
    ASSERT_EQ(::gethostname(own.data(), own.size() - 1), 0);
    EXPECT_EQ(loopback_browser_problem("GET", "/api/warmup/status", std::string(own.data()) + ":3000", "", ""),
              std::nullopt);
    // The probes and the status page's files hold no data: open whatever the name.
    for (const char* path : {"/healthz", "/readyz", "/ui", "/ui/status_page.js", "/"})
        EXPECT_EQ(loopback_browser_problem("GET", path, "evil.example:3000", "", ""), std::nullopt) << path;
    EXPECT_TRUE(loopback_browser_problem("GET", "/api/warmup/status", "[::2]:3000", "", ""));
}

TEST(LoopbackBrowserRequests, AChangeAnotherSiteSentIsRefusedAndTheStatusPagesOwnAndProgramsAreNot) {
    // curl, warmupctl, Prometheus: no Origin, no Sec-Fetch-Site.
    EXPECT_EQ(loopback_browser_problem("POST", "/api/warmup/emergency-stop", "127.0.0.1:3000", "", ""), std::nullopt);
    // The status page's own buttons: same origin.
    EXPECT_EQ(loopback_browser_problem("POST", "/api/warmup/emergency-stop", "127.0.0.1:3000", "http://127.0.0.1:3000",
                                       "same-origin"),
              std::nullopt);
    EXPECT_EQ(
        loopback_browser_problem("POST", "/api/warmup/emergency-stop", "localhost:8080", "http://LOCALHOST:8080", ""),
        std::nullopt);
    // A form or fetch() on another site's page (a simple request: no preflight stops it).
    const auto cross = loopback_browser_problem("POST", "/api/warmup/emergency-stop", "127.0.0.1:3000",
                                                "http://evil.example", "cross-site");
    ASSERT_TRUE(cross);
    EXPECT_NE(cross->find("Sec-Fetch-Site: cross-site"), std::string::npos) << *cross;
    const auto other_origin =
        loopback_browser_problem("POST", "/api/warmup/emergency-stop", "127.0.0.1:3000", "http://127.0.0.1:8000", "");
    ASSERT_TRUE(other_origin);
    EXPECT_NE(other_origin->find("http://127.0.0.1:8000"), std::string::npos) << *other_origin;
    EXPECT_TRUE(loopback_browser_problem("POST", "/api/warmup/emergency-stop", "127.0.0.1:3000", "null",
                                         ""));  // a sandboxed frame, a file
    EXPECT_TRUE(loopback_browser_problem("DELETE", "/api/warmup/emergency-stop", "127.0.0.1:3000", "", "same-site"));
    // Behind a reverse proxy that passes Host as 127.0.0.1, the page's Origin is the proxy's address: the browser's
    // Sec-Fetch-Site says same-origin, and is believed.
    EXPECT_EQ(loopback_browser_problem("POST", "/api/warmup/emergency-stop", "127.0.0.1:3000", "https://warmup.corp",
                                       "same-origin"),
              std::nullopt);
    // Reads carry no change: another origin may not read them (the browser's same-origin rule), and they are open.
    EXPECT_EQ(
        loopback_browser_problem("GET", "/api/warmup/status", "127.0.0.1:3000", "http://evil.example", "cross-site"),
        std::nullopt);
}

TEST(RequestDecision, WithTokenEveryMutationNeedsTheBearerToken) {
    const RequestGuard guard{std::string(kToken)};
    for (const char* local : {"127.0.0.1", "10.1.2.3"}) {
        for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
            EXPECT_EQ(decide_request(guard, method, "/api/warmup/config/reload", local, "").status, 401)
                << method << " via " << local;
            EXPECT_EQ(decide_request(guard, method, "/api/warmup/config/reload", local, kBearer).status, 0)
                << method << " via " << local;
        }
    }
    EXPECT_EQ(decide_request(guard, "POST", "/x", "127.0.0.1", "bearer " + std::string(kToken)).status, 0);
    EXPECT_EQ(decide_request(guard, "POST", "/x", "127.0.0.1", "Bearer   " + std::string(kToken) + " ").status, 0);
    const GuardDecision wrong = decide_request(guard, "POST", "/x", "127.0.0.1", "Bearer wrong-token-0123456");
    EXPECT_EQ(wrong.status, 401);
    EXPECT_EQ(wrong.reason, "wrong access token");
    EXPECT_EQ(decide_request(guard, "POST", "/x", "127.0.0.1", "Basic " + std::string(kToken)).status, 401);
    EXPECT_EQ(decide_request(guard, "POST", "/x", "127.0.0.1", "Bearer").status, 401);
    EXPECT_EQ(decide_request(guard, "POST", "/x", "127.0.0.1", "Bearer ").status, 401);
    EXPECT_EQ(decide_request(guard, "POST", "/x", "127.0.0.1", kToken).status, 401);  // no scheme
}

TEST(RequestDecision, WithTokenReadsAreOpenOnLoopbackAndNeedTheTokenElsewhereExceptTheProbes) {
    const RequestGuard guard{std::string(kToken)};
    EXPECT_EQ(decide_request(guard, "GET", "/api/warmup/status", "127.0.0.1", "").status, 0);
    EXPECT_EQ(decide_request(guard, "HEAD", "/metrics", "::1", "").status, 0);
    EXPECT_EQ(decide_request(guard, "GET", "/api/warmup/status", "192.168.0.5", "").status, 401);
    EXPECT_EQ(decide_request(guard, "GET", "/api/warmup/status", "192.168.0.5", kBearer).status, 0);
    EXPECT_EQ(decide_request(guard, "GET", "/healthz", "192.168.0.5", "").status, 0);
    // A load balancer's or Kubernetes' readiness probe sends no token.
    EXPECT_EQ(decide_request(guard, "GET", "/readyz", "192.168.0.5", "").status, 0);
    EXPECT_EQ(decide_request(guard, "POST", "/healthz", "192.168.0.5", "").status, 401);  // only reads are exempt
    EXPECT_EQ(decide_request(guard, "GET", "/readyzz", "192.168.0.5", "").status, 401);
}

TEST(RequestDecision, LoopbackReadsNeedTheTokenWhenConfiguredSo) {
    // A reverse proxy on the same host connects through loopback: with the option, its clients need the token.
    const RequestGuard guard{std::string(kToken), true};
    EXPECT_EQ(decide_request(guard, "GET", "/api/warmup/status", "127.0.0.1", "").status, 401);
    EXPECT_EQ(decide_request(guard, "GET", "/metrics", "::1", "").status, 401);
    EXPECT_EQ(decide_request(guard, "GET", "/metrics", "::1", kBearer).status, 0);
    EXPECT_EQ(decide_request(guard, "GET", "/healthz", "127.0.0.1", "").status, 0);
    EXPECT_EQ(decide_request(guard, "GET", "/readyz", "127.0.0.1", "").status, 0);
    EXPECT_EQ(decide_request(guard, "GET", "/ui", "127.0.0.1", "").status, 0);  // the page itself holds no data
    // Without a token the option has nothing to ask for: loopback stays open.
    const RequestGuard no_token{std::nullopt, true};
    EXPECT_EQ(decide_request(no_token, "GET", "/api/warmup/status", "127.0.0.1", "").status, 0);
}

TEST(RequestDecision, TheStatusPageItselfIsOpenEverywhereButItsDataIsNot) {
    const RequestGuard guard{std::string(kToken)};
    const RequestGuard open{};
    for (const char* path : {"/ui", "/ui/status_page.css", "/ui/status_page.js", "/"}) {
        EXPECT_EQ(decide_request(guard, "GET", path, "192.168.0.5", "").status, 0) << path;
        EXPECT_EQ(decide_request(open, "GET", path, "192.168.0.5", "").status, 0) << path;
        EXPECT_EQ(decide_request(guard, "POST", path, "127.0.0.1", "").status, 401) << path;
    }
    EXPECT_EQ(decide_request(guard, "GET", "/ui/other", "192.168.0.5", "").status, 401);
    EXPECT_EQ(decide_request(guard, "GET", "/uix", "192.168.0.5", "").status, 401);
}

TEST(StatusPageAccess, TellsThePageWhatNeedsTheToken) {
    EXPECT_EQ(page_access(false, "10.1.2.3"), PageAccess::Open);
    EXPECT_EQ(page_access(false, "127.0.0.1"), PageAccess::Open);
    EXPECT_EQ(page_access(true, "127.0.0.1"), PageAccess::Changes);
    EXPECT_EQ(page_access(true, "::1"), PageAccess::Changes);
    EXPECT_EQ(page_access(true, "10.1.2.3"), PageAccess::All);
    EXPECT_EQ(page_access(true, ""), PageAccess::All);  // unknown address: closed
    // http.loopback_reads_need_token: loopback reads need the token too, so the page asks for it before reading.
    EXPECT_EQ(page_access(true, "127.0.0.1", /*loopback_reads_need_token=*/true), PageAccess::All);
    EXPECT_EQ(page_access(false, "127.0.0.1", /*loopback_reads_need_token=*/true), PageAccess::Open);
}

TEST(StatusPageAccess, TheServedPageCarriesItsAccessModeAndAContentSecurityPolicy) {
    httplib::Response response;
    ASSERT_TRUE(serve_status_page("/ui", PageAccess::All, response));
    EXPECT_EQ(response.status, 200);
    EXPECT_NE(response.body.find(R"(<meta name="warmup-access" content="all">)"), std::string::npos);
    EXPECT_EQ(response.body.find("@WARMUP_ACCESS@"), std::string::npos);
    EXPECT_NE(response.get_header_value("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
    EXPECT_EQ(response.get_header_value("Content-Type"), "text/html; charset=utf-8");
    httplib::Response script;
    ASSERT_TRUE(serve_status_page("/ui/status_page.js", PageAccess::Open, script));
    EXPECT_EQ(script.get_header_value("Content-Type"), "text/javascript; charset=utf-8");
    EXPECT_NE(script.body.find("Authorization"), std::string::npos);
    httplib::Response other;
    EXPECT_FALSE(serve_status_page("/ui/other", PageAccess::Open, other));
}

TEST(StatusPageAccess, TheRootSendsABrowserToThePage) {
    httplib::Response root;
    ASSERT_TRUE(serve_status_page("/", PageAccess::All, root));
    EXPECT_EQ(root.status, 302);
    EXPECT_EQ(root.get_header_value("Location"), "/ui");
    EXPECT_EQ(root.get_header_value("X-Content-Type-Options"), "nosniff");
}

}  // namespace
}  // namespace warmup::host
