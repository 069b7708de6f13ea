#include "http/security.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "http/api_json.hpp"
#include "http/http_server.hpp"
#include "http/status_page/status_page.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;

void reply_json_error(httplib::Response& response, int status, const std::string& message) {
    response.status = status;
    response.set_content(answer_text(json{{"error", message}}), kJsonContentType);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

// Methods that cannot change state (RFC 9110 "safe" methods this server routes).
bool is_read_only_method(std::string_view method) noexcept { return method == "GET" || method == "HEAD"; }

// Reads open to anyone on any address and under any Host name: the probes (a load balancer or Kubernetes sends no
// token) and the status page's files (HTML, stylesheet, script: no data).
bool is_open_read(std::string_view method, std::string_view path) {
    return is_read_only_method(method) && (path == "/healthz" || path == "/readyz" || is_status_page_path(path));
}

// The token of an "Authorization: Bearer <token>" value (scheme case-insensitive, RFC 6750), or nullopt.
std::optional<std::string_view> bearer_token(std::string_view authorization) {
    constexpr std::string_view kScheme = "Bearer";
    if (authorization.size() <= kScheme.size() || !iequals(authorization.substr(0, kScheme.size()), kScheme) ||
        authorization[kScheme.size()] != ' ')
        return std::nullopt;
    std::string_view token = authorization.substr(kScheme.size() + 1);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (token.empty()) return std::nullopt;
    return token;
}

std::string_view status_phrase(int status) {
    switch (status) {
        case 400:
            return "bad request";
        case 404:
            return "no such endpoint";
        case 405:
            return "method not allowed";
        case 413:
            return "request body too large";
        case 414:
            return "request URI too long";
        default:
            return "request refused";
    }
}

}  // namespace

bool is_loopback_address(std::string_view address) noexcept {
    if (address == "localhost") return true;
    // inet_pton needs a NUL-terminated string; addresses are short, anything longer is not an IP literal.
    std::array<char, INET6_ADDRSTRLEN + 1> text{};
    if (address.empty() || address.size() >= text.size() - 1) return false;
    std::copy(address.begin(), address.end(), text.begin());
    in_addr v4{};
    if (::inet_pton(AF_INET, text.data(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (::inet_pton(AF_INET6, text.data(), &v6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
        if (IN6_IS_ADDR_V4MAPPED(&v6)) return v6.s6_addr[12] == 127;
    }
    return false;
}

std::optional<std::string> access_token_problem(std::string_view token) {
    if (token.size() < kMinAccessTokenBytes)
        return fmt::format("the access token is {} bytes, expected at least {} (e.g. `openssl rand -hex 32`)",
                           token.size(), kMinAccessTokenBytes);
    for (const unsigned char c : token)
        if (c <= 0x20 || c == 0x7f)
            return "the access token contains whitespace or control characters (it must fit in an HTTP header)";
    return std::nullopt;
}

std::optional<std::string> bind_refusal_reason(std::string_view bind_address, const std::optional<std::string>& token,
                                               std::string_view token_source) {
    if (token) {
        if (auto problem = access_token_problem(*token)) return fmt::format("{} ({})", *problem, token_source);
        return std::nullopt;
    }
    if (is_loopback_address(bind_address)) return std::nullopt;
    return fmt::format(
        "refusing to bind to '{}': it is not a loopback address (127.0.0.0/8, ::1), so anyone who can reach it could "
        "drive the daemon; set an access token in {} (clients then send 'Authorization: Bearer <token>'), or bind "
        "to 127.0.0.1",
        bind_address, token_source);
}

bool secrets_equal(std::string_view a, std::string_view b) noexcept {
    // Hashing first makes both operands 32 bytes, so the comparison time depends on neither length nor content.
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest_a{}, digest_b{};
    ::SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), digest_a.data());
    ::SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), digest_b.data());
    return ::CRYPTO_memcmp(digest_a.data(), digest_b.data(), digest_a.size()) == 0;
}

GuardDecision decide_request(const RequestGuard& guard, std::string_view method, std::string_view path,
                             std::string_view local_address, std::string_view authorization) {
    const bool read_only = is_read_only_method(method);
    // An unknown local address (empty) counts as non-loopback: fail closed.
    const bool via_loopback = is_loopback_address(local_address);
    if (is_open_read(method, path)) return {};
    if (read_only && via_loopback && !(guard.access_token && guard.loopback_reads_need_token)) {
        // Let through without a token; one that presents the configured token is also authenticated (a program
        // behind a reverse proxy that passes its own Host), and no page can forge that.
        GuardDecision allowed;
        if (guard.access_token) {
            const auto presented = bearer_token(authorization);
            allowed.authenticated = presented && secrets_equal(*presented, *guard.access_token);
        }
        return allowed;
    }
    if (!guard.access_token) {
        if (via_loopback) return {};  // loopback bind without a token: the documented default, open
        return {403,
                "this daemon has no access token configured (http.access_token or the environment variable "
                "http.access_token_env names), so it serves requests on non-loopback addresses only for GET /healthz "
                "and /readyz"};
    }
    const auto presented = bearer_token(authorization);
    if (!presented)
        return {401, read_only
                         ? (via_loopback ? "this endpoint needs 'Authorization: Bearer <token>' "
                                           "(http.loopback_reads_need_token is on)"
                                         : "this endpoint needs 'Authorization: Bearer <token>' on a non-loopback "
                                           "address")
                         : "mutating endpoints need 'Authorization: Bearer <token>'"};
    if (!secrets_equal(*presented, *guard.access_token)) return {401, "wrong access token"};
    return {.status = 0, .reason = {}, .authenticated = true};
}

namespace {

/// The host name of a Host header value ("127.0.0.1:3000" -> "127.0.0.1", "[::1]:3000" -> "::1").
std::string_view host_name(std::string_view host) {
    if (host.starts_with('[')) {
        const auto close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(1, close - 1);
    }
    const auto colon = host.find(':');
    return colon == std::string_view::npos ? host : host.substr(0, colon);
}

/// This machine's own name (gethostname), read once: Debian's /etc/hosts points it at a loopback address.
const std::string& own_host_name() {
    static const std::string name = [] {
        std::array<char, 256> buffer{};
        return ::gethostname(buffer.data(), buffer.size() - 1) == 0 ? std::string(buffer.data()) : std::string();
    }();
    return name;
}

bool is_loopback_name(std::string_view name) {
    if (name.ends_with('.')) name.remove_suffix(1);  // "localhost." is the same name, fully qualified
    if (is_loopback_address(name)) return true;
    // The names Debian's /etc/hosts gives the loopback addresses, and the machine's own name.
    for (const std::string_view alias :
         {"localhost", "localhost.localdomain", "localhost4", "localhost6", "ip6-localhost", "ip6-loopback"})
        if (iequals(name, alias)) return true;
    if (!own_host_name().empty() && iequals(name, own_host_name())) return true;
    constexpr std::string_view kLocalhostDomain = ".localhost";  // RFC 6761: always the loopback
    return name.size() > kLocalhostDomain.size() &&
           iequals(name.substr(name.size() - kLocalhostDomain.size()), kLocalhostDomain);
}

}  // namespace

std::optional<std::string> loopback_browser_problem(std::string_view method, std::string_view path,
                                                    std::string_view host, std::string_view origin,
                                                    std::string_view fetch_site) {
    if (is_open_read(method, path)) return std::nullopt;
    if (!host.empty() && !is_loopback_name(host_name(host)))
        return fmt::format(
            "the Host header '{}' does not name a loopback address: a request through loopback without the access "
            "token must be addressed to localhost, 127.0.0.1, [::1] or this machine's name (a web page whose name was "
            "made to point here must not read or drive the daemon; a reverse proxy passes Host as 127.0.0.1, or "
            "sends the token)",
            host);
    if (is_read_only_method(method)) return std::nullopt;
    // A browser that says where the request comes from is believed (behind a reverse proxy the page's Origin is the
    // proxy's address, not the Host the proxy passes on); Origin is compared with Host only without it.
    if (!fetch_site.empty()) {
        if (fetch_site == "same-origin" || fetch_site == "none") return std::nullopt;
        return fmt::format(
            "a browser sent this request on behalf of another site (Sec-Fetch-Site: {}): without an access token, "
            "warmupd takes changes from its own status page and from programs, not from other web pages",
            fetch_site);
    }
    if (!origin.empty() && !iequals(origin, fmt::format("http://{}", host)) &&
        !iequals(origin, fmt::format("https://{}", host)))
        return fmt::format(
            "a browser sent this request from the page of another origin ({}): without an access token, warmupd "
            "takes changes from its own status page and from programs, not from other web pages",
            origin);
    return std::nullopt;
}

void install_request_guard(httplib::Server& server, std::shared_ptr<const GuardHolder> guard,
                           httplib::Server::HandlerWithResponse then) {
    server.set_pre_routing_handler([guard = std::move(guard), then = std::move(then)](const httplib::Request& request,
                                                                                      httplib::Response& response) {
        if (const auto ambiguous = ambiguous_framing(request)) {
            response.set_header("Connection", "close");
            reply_json_error(response, 400, *ambiguous);
            return httplib::Server::HandlerResponse::Handled;
        }
        if (const auto no_host = missing_host(request)) {
            if (request_has_body(request)) response.set_header("Connection", "close");
            reply_json_error(response, 400, *no_host);
            return httplib::Server::HandlerResponse::Handled;
        }
        const auto current = guard->current();  // one guard for the whole decision (a reload may replace it)
        const std::string authorization = request.get_header_value("Authorization");
        const GuardDecision decision =
            decide_request(*current, request.method, request.path, request.local_addr, authorization);
        if (decision.status == 0) {
            // Let through loopback without a token (any request without a configured token, reads with one): a
            // request a web browser on this machine sent on another page's behalf would be let through too. Browsers
            // name the page's origin and site and the host they addressed; programs send neither of the first two.
            // A request that presented the configured token (decide_request checked it) cannot be forged by a page;
            // one that merely carries an Authorization header can: a page may send any header to its own origin.
            if (is_loopback_address(request.local_addr) && !decision.authenticated) {
                if (const auto problem = loopback_browser_problem(
                        request.method, request.path, request.get_header_value("Host"),
                        request.get_header_value("Origin"), request.get_header_value("Sec-Fetch-Site"))) {
                    if (request_has_body(request)) response.set_header("Connection", "close");
                    reply_json_error(response, 403, *problem);
                    return httplib::Server::HandlerResponse::Handled;
                }
            }
            return then ? then(request, response) : httplib::Server::HandlerResponse::Unhandled;
        }
        if (decision.status == 401) response.set_header("WWW-Authenticate", "Bearer realm=\"warmupd\"");
        if (request_has_body(request)) response.set_header("Connection", "close");
        reply_json_error(response, decision.status, decision.reason);
        return httplib::Server::HandlerResponse::Handled;
    });
    // cpp-httplib answers some errors itself with an empty body (400 for a malformed request line or headers or a
    // body it could not read, 414 for a long URI); give those a JSON body. Answers a handler already filled are kept.
    // Such a request was not read to its end (the library stops at the line it could not parse), so what follows it
    // on the connection is no request of its own: the connection is closed after the answer (HttpServer's loop reads
    // "Connection: close"), or the rest of a malformed request, or a request hidden in its body, would be served. The
    // library's 404 comes after the request was read whole: that connection goes on.
    server.set_error_handler(
        httplib::Server::HandlerWithResponse([](const httplib::Request& request, httplib::Response& response) {
            if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            if (response.status != 404) response.set_header("Connection", "close");
            std::string message(status_phrase(response.status));
            // The library records the peer's address once the request line and headers parsed.
            if (response.status == 400)
                message += request.has_header("REMOTE_ADDR")
                               ? ": the body could not be read (its chunked framing is broken, or it did not arrive "
                                 "within http.request_timeout_ms)"
                               : ": the request line or a header line does not parse (expected 'METHOD /path "
                                 "HTTP/1.1' with a standard method, then 'Name: value' lines), or they did not "
                                 "arrive within http.request_timeout_ms";
            if (response.status == 413) message += " (the limit is http.max_body_mb)";
            if (response.status == 404) message += fmt::format(": {} {}", request.method, request.path);
            reply_json_error(response, response.status, message);
            return httplib::Server::HandlerResponse::Handled;
        }));
}

}  // namespace warmup::host
