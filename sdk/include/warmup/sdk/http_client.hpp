// warmup/sdk/http_client.hpp — the HTTP client every backend (and any plugin that talks to a server) uses: base URL
// parsing, cancellable requests with a total deadline, http:// and https:// (cpp-httplib built with OpenSSL, as
// Debian ships it), bearer-token and API-key headers, and one Params reader for those settings so every plugin spells
// them the same way.
//
// Link target: warmup::sdk-http (warmup::sdk plus cpp-httplib through pkg-config, and Threads).
//
// Guarantees:
//  - HttpClient is immutable after construction and every request opens its own connection (no state is shared
//    between requests), so one HttpClient may be used from any number of threads at once.
//  - A request never throws for an HTTP or network failure: the HttpResponse says what happened (answered with a
//    status, transport error, cancelled, timed out). It throws only std::bad_alloc and the like.
//  - Cancellation: the request runs on a short-lived helper thread while the calling thread polls the cancel token
//    and the deadline every kHttpPollIntervalMs; when either fires it shuts the socket down (httplib's stop()), which
//    makes the blocked read return, and joins the helper. stop() cannot interrupt a connect still in progress, so it
//    is repeated until the helper is out: a cancel is honoured within ~kHttpPollIntervalMs, at worst within
//    connect_timeout_ms. No thread outlives the call.
//  - timeout_ms bounds the whole exchange (connect, send, wait, read), not each socket read.
#pragma once

#include <httplib.h>
#include <warmup/backend.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>
#include <warmup/sdk/error.hpp>
#include <warmup/sdk/params.hpp>

namespace warmup::sdk {

/// How often a waiting caller looks at its cancel token and deadline, and re-sends stop() while interrupting.
inline constexpr int64_t kHttpPollIntervalMs = 10;

/// Where a server is: parsed from a base URL "http[s]://host[:port][/path-prefix]".
struct HttpEndpoint {
    bool https = false;
    std::string host;         ///< name or IPv4 literal, or an IPv6 literal without brackets
    int port = 80;            ///< 1..65535
    std::string path_prefix;  ///< "" or "/prefix" without a trailing '/', put before every request path
    std::string url;          ///< normalised "http[s]://host:port/prefix", for messages
};

/// Parses `text` as a base URL. `default_port` applies to http:// without a port (https:// defaults to 443).
/// Throws InvalidArgument whose message starts with "<key_path>: '<text>': " and says what is wrong: a scheme other
/// than http/https, no host, a port outside 1..65535, user info, spaces, a query or a fragment.
HttpEndpoint parse_http_base_url(std::string_view text, std::string_view key_path, int default_port);

/// Percent-encodes `segment` for use as one URL path segment: unreserved characters (RFC 3986) and ':' stay, every
/// other byte becomes %XX.
std::string percent_encode_path_segment(std::string_view segment);

/// Connection settings shared by every request of one client.
struct HttpClientOptions {
    int64_t connect_timeout_ms = 2000;
    /// Sent as "Authorization: Bearer <token>" when not empty (vLLM --api-key, OpenAI-compatible gateways).
    std::string bearer_token;
    /// Extra headers sent with every request, e.g. {"X-API-Key", "..."}.
    std::vector<std::pair<std::string, std::string>> headers;
    /// https only: verify the server's certificate and host name (default); false accepts any certificate.
    bool verify_tls = true;
    /// https only: a PEM file of trusted CA certificates; "" = the system's trust store.
    std::string ca_file;
};

/// Reads the connection settings of a plugin's params, with these keys (all optional):
///   connect_timeout_ms  TCP connect timeout, in [1, 600000] (default `default_connect_timeout_ms`)
///   bearer_token_env    name of an environment variable holding the bearer token (preferred: keeps the secret out
///                       of the YAML); bearer_token: the token itself. At most one of the two.
///   api_key_header      header name for an API key (e.g. X-API-Key); api_key_env / api_key: its value, as above.
///   tls_verify          https: verify the certificate (default true); tls_ca_file: PEM bundle of trusted CAs.
/// A named environment variable that is unset or empty is refused, naming the key.
HttpClientOptions read_http_client_options(Params& params, int64_t default_connect_timeout_ms = 2000);

/// What came of one request.
struct HttpResponse {
    enum class Outcome {
        Answered,        ///< the server answered (any status): see status and body
        TransportError,  ///< no (complete) answer: see transport_error
        Cancelled,       ///< the cancel token fired; the request was interrupted
        TimedOut         ///< timeout_ms passed; the request was interrupted
    };
    Outcome outcome = Outcome::TransportError;
    int status = 0;  ///< HTTP status when Answered, else 0
    std::string body;
    std::string content_type;      ///< the answer's Content-Type header as sent ("" when none or not Answered)
    std::string transport_error;   ///< readable reason when TransportError ("connection refused or host unreachable")
    bool sent = false;             ///< the request was started, so the server may have acted on it
    bool body_over_limit = false;  ///< TransportError because the body passed HttpRequest::max_body_bytes
    std::string request_line;      ///< "POST /prefix/v1/load_lora_adapter", for messages
    int64_t timeout_ms = 0;
    int64_t elapsed_ms = 0;

    [[nodiscard]] bool answered() const noexcept { return outcome == Outcome::Answered; }
    [[nodiscard]] bool succeeded() const noexcept { return answered() && status >= 200 && status < 300; }
    [[nodiscard]] bool interrupted() const noexcept {
        return outcome == Outcome::Cancelled || outcome == Outcome::TimedOut;
    }
};

/// One request to send. `path` is relative to the endpoint's path prefix and may carry a query ("/sleep?level=1").
struct HttpRequest {
    std::string method = "GET";  ///< "GET" or "POST"
    std::string path;
    std::string body;                               ///< POST only
    std::string content_type = "application/json";  ///< POST only
    int64_t timeout_ms = 30000;                     ///< the whole exchange
    const warmup_cancel_token* cancel = nullptr;    ///< borrowed; may be null (then only the deadline interrupts)
    /// The longest answer body read: past it the request is interrupted and is a TransportError saying so (a wrong
    /// URL naming a download or an endless stream must not fill the host's memory).
    std::size_t max_body_bytes = std::size_t{64} << 20;
};

class HttpClient {
  public:
    /// An unusable client (no endpoint): for members assigned in a constructor body.
    HttpClient() = default;
    HttpClient(HttpEndpoint endpoint, HttpClientOptions options)
        : endpoint_(std::move(endpoint)), options_(std::move(options)) {}

    /// [any] Sends `request` and waits for its answer, the deadline or the cancel token (see the top of the file).
    [[nodiscard]] HttpResponse send(const HttpRequest& request) const;

    [[nodiscard]] HttpResponse get(std::string path, int64_t timeout_ms,
                                   const warmup_cancel_token* cancel = nullptr) const {
        return send(HttpRequest{"GET", std::move(path), {}, {}, timeout_ms, cancel, HttpRequest{}.max_body_bytes});
    }
    [[nodiscard]] HttpResponse post(std::string path, std::string body, int64_t timeout_ms,
                                    const warmup_cancel_token* cancel = nullptr) const {
        return send(HttpRequest{"POST", std::move(path), std::move(body), "application/json", timeout_ms, cancel,
                                HttpRequest{}.max_body_bytes});
    }

    [[nodiscard]] const HttpEndpoint& endpoint() const noexcept { return endpoint_; }
    [[nodiscard]] const HttpClientOptions& options() const noexcept { return options_; }
    /// endpoint().url + path, for messages.
    [[nodiscard]] std::string url(std::string_view path) const { return endpoint_.url + std::string(path); }

  private:
    HttpEndpoint endpoint_;
    HttpClientOptions options_;
};

/// True when the token is present and fired.
inline bool is_cancelled(const warmup_cancel_token* cancel) noexcept {
    return cancel != nullptr && cancel->is_cancelled != nullptr && cancel->is_cancelled(cancel->context) != 0;
}

/// The readable text of a transport failure, as put into HttpResponse::transport_error.
std::string http_transport_error_text(httplib::Error error);

// ---------------------------------------------------------------------------------------------------------------------
// Implementation (inline: the SDK is header-only).

namespace detail {

inline std::string lowercase_ascii(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

/// How much longer than the request's deadline a socket may wait: the deadline watch decides, so a loaded machine
/// cannot make the socket's own timeout fire first and turn a passed deadline into a transport error.
inline constexpr int64_t kHttpSocketGraceMs = 1000;

}  // namespace detail

inline std::string http_transport_error_text(httplib::Error error) {
    switch (error) {
        case httplib::Error::Connection:
            return "connection refused or host unreachable";
        case httplib::Error::ConnectionTimeout:
            return "connect timed out (connect_timeout_ms)";
        case httplib::Error::Read:
            return "the connection closed or timed out before a complete answer";
        case httplib::Error::Write:
            return "the request could not be sent";
        case httplib::Error::SSLConnection:
            return "TLS handshake failed";
        case httplib::Error::SSLLoadingCerts:
            return "cannot load the trusted CA certificates (tls_ca_file)";
        case httplib::Error::SSLServerVerification:
            return "the server's TLS certificate is not trusted or does not name this host";
        default:
            return httplib::to_string(error);
    }
}

inline HttpEndpoint parse_http_base_url(std::string_view text_view, std::string_view key_path, int default_port) {
    const std::string text(text_view);
    const auto refuse = [&](const std::string& why) -> HttpEndpoint {
        throw InvalidArgument(
            std::string(key_path) + ": '" + text + "': " + why +
            " (expected http[s]://host[:port][/path], e.g. http://127.0.0.1:" + std::to_string(default_port) + ")");
    };
    const std::string lowered = detail::lowercase_ascii(text);
    HttpEndpoint endpoint;
    std::size_t scheme_length = 0;
    if (lowered.rfind("https://", 0) == 0) {
        endpoint.https = true;
        scheme_length = 8;
    } else if (lowered.rfind("http://", 0) == 0) {
        scheme_length = 7;
    } else {
        return refuse("the scheme must be http:// or https://");
    }
    if (text.find_first_of("?#@ ") != std::string::npos)
        return refuse("user info, spaces, a query or a fragment are not allowed");

    const std::string rest = text.substr(scheme_length);
    const std::size_t slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? std::string() : rest.substr(slash);
    while (!path.empty() && path.back() == '/') path.pop_back();

    std::string port_text;
    bool ipv6 = false;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string::npos) return refuse("unterminated IPv6 literal");
        endpoint.host = authority.substr(1, close - 1);
        ipv6 = true;
        const std::string after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return refuse("unexpected text after the IPv6 literal");
            port_text = after.substr(1);
            if (port_text.empty()) return refuse("empty port");
        }
        if (endpoint.host.empty() || endpoint.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos)
            return refuse("not an IPv6 address inside [ ]");
    } else {
        const std::size_t colon = authority.rfind(':');
        endpoint.host = authority.substr(0, colon);
        if (colon != std::string::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text.empty()) return refuse("empty port");
        }
        if (endpoint.host.empty()) return refuse("no host");
        for (char c : endpoint.host)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
                return refuse("the host may only hold letters, digits, '.', '-' and '_'");
    }
    endpoint.port = endpoint.https ? 443 : default_port;
    if (!port_text.empty()) {
        if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos)
            return refuse("the port must be a number in 1..65535");
        endpoint.port = std::stoi(port_text);
        if (endpoint.port < 1 || endpoint.port > 65535) return refuse("the port must be a number in 1..65535");
    }
    endpoint.path_prefix = path;
    endpoint.url = std::string(endpoint.https ? "https://" : "http://") +
                   (ipv6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port) +
                   endpoint.path_prefix;
    return endpoint;
}

inline std::string percent_encode_path_segment(std::string_view segment) {
    constexpr std::string_view kHex = "0123456789ABCDEF";
    std::string out;
    out.reserve(segment.size());
    for (const char c : segment) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(kHex[byte >> 4]);
            out.push_back(kHex[byte & 0x0F]);
        }
    }
    return out;
}

inline HttpClientOptions read_http_client_options(Params& params, int64_t default_connect_timeout_ms) {
    HttpClientOptions options;
    options.connect_timeout_ms = params.get_int("connect_timeout_ms", default_connect_timeout_ms, 1, 600000);
    // A secret given directly or through an environment variable (named by <key>_env), never both.
    const auto secret = [&](const std::string& key) -> std::string {
        const std::string env_key = key + "_env";
        const bool direct = params.has(key);
        const bool from_env = params.has(env_key);
        if (direct && from_env)
            throw InvalidArgument(params.key_path(key) + ": give either " + key + " or " + env_key + ", not both");
        if (from_env) {
            const std::string variable = params.get_string(env_key, "");
            const char* value = variable.empty() ? nullptr : std::getenv(variable.c_str());
            if (value == nullptr || *value == '\0')
                throw InvalidArgument(params.key_path(env_key) + ": the environment variable '" + variable +
                                      "' is not set or empty");
            return value;
        }
        if (direct) {
            std::string value = params.get_string(key, "");
            if (value.empty()) throw InvalidArgument(params.key_path(key) + ": expected a non-empty string");
            return value;
        }
        return {};
    };
    options.bearer_token = secret("bearer_token");
    const std::string api_key_header = params.get_string("api_key_header", "");
    const std::string api_key = secret("api_key");
    if (api_key_header.empty() != api_key.empty())
        throw InvalidArgument(params.key_path(api_key_header.empty() ? "api_key_header" : "api_key") +
                              ": api_key_header and api_key (or api_key_env) go together");
    if (!api_key_header.empty()) {
        const bool valid_name = std::all_of(api_key_header.begin(), api_key_header.end(),
                                            [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
        if (!valid_name)
            throw InvalidArgument(params.key_path("api_key_header") + ": '" + api_key_header +
                                  "' is not an HTTP header name (letters, digits, '-', '_')");
        options.headers.emplace_back(api_key_header, api_key);
    }
    options.verify_tls = params.get_bool("tls_verify", true);
    options.ca_file = params.get_string("tls_ca_file", "");
    if (!options.ca_file.empty()) {
        std::error_code error;
        if (!std::filesystem::is_regular_file(options.ca_file, error))
            throw InvalidArgument(params.key_path("tls_ca_file") + ": '" + options.ca_file +
                                  "' is not a readable file");
    }
    return options;
}

inline HttpResponse HttpClient::send(const HttpRequest& request) const {
    using Clock = std::chrono::steady_clock;
    using Milliseconds = std::chrono::milliseconds;
    HttpResponse result;
    const std::string full_path = endpoint_.path_prefix + request.path;
    result.request_line = request.method + " " + full_path;
    result.timeout_ms = request.timeout_ms;
    const auto start = Clock::now();
    if (is_cancelled(request.cancel)) {
        result.outcome = HttpResponse::Outcome::Cancelled;
        return result;
    }

    // A client per request: an httplib client is not meant for concurrent requests, and loads of different models run
    // at once. Connection reuse would not pay off for requests that take seconds.
    std::unique_ptr<httplib::ClientImpl> client;
    if (endpoint_.https) {
        auto tls = std::make_unique<httplib::SSLClient>(endpoint_.host, endpoint_.port);
        tls->enable_server_certificate_verification(options_.verify_tls);
        if (!options_.ca_file.empty()) tls->set_ca_cert_path(options_.ca_file);
        client = std::move(tls);
    } else {
        client = std::make_unique<httplib::ClientImpl>(endpoint_.host, endpoint_.port);
    }
    const int64_t socket_timeout_ms = request.timeout_ms + detail::kHttpSocketGraceMs;
    client->set_connection_timeout(Milliseconds(std::min(options_.connect_timeout_ms, request.timeout_ms + 1)));
    client->set_read_timeout(Milliseconds(socket_timeout_ms));
    client->set_write_timeout(Milliseconds(socket_timeout_ms));
    client->set_tcp_nodelay(true);  // else a POST answer can stall ~40 ms on delayed ACKs
    client->set_keep_alive(false);
    if (!options_.bearer_token.empty()) client->set_bearer_token_auth(options_.bearer_token);
    httplib::Headers headers;
    for (const auto& [name, value] : options_.headers) headers.emplace(name, value);

    std::mutex mutex;
    std::condition_variable finished_changed;
    bool finished = false;  // under mutex
    std::exception_ptr failure;
    const bool is_post = request.method == "POST";
    result.sent = true;
    std::thread helper([&] {
        HttpResponse answer;
        std::exception_ptr error;
        try {
            httplib::Request exchange;
            exchange.method = is_post ? "POST" : "GET";
            exchange.path = full_path;
            exchange.headers = std::move(headers);
            if (is_post) {
                exchange.body = request.body;
                exchange.set_header("Content-Type", request.content_type);
            }
            // The body is read here rather than by the library, so that an answer over max_body_bytes stops the read.
            bool too_large = false;
            exchange.content_receiver = [&](const char* data, std::size_t size, uint64_t, uint64_t) {
                if (answer.body.size() + size > request.max_body_bytes) {
                    too_large = true;
                    return false;
                }
                answer.body.append(data, size);
                return true;
            };
            httplib::Result reply = client->send(exchange);
            if (too_large) {
                answer.outcome = HttpResponse::Outcome::TransportError;
                answer.body_over_limit = true;
                answer.transport_error = "the answer's body is over " + std::to_string(request.max_body_bytes >> 20) +
                                         " MiB: not read further (is the URL the right one?)";
                answer.body.clear();
            } else if (reply) {
                answer.outcome = HttpResponse::Outcome::Answered;
                answer.status = reply->status;
                answer.content_type = reply->get_header_value("Content-Type");
            } else {
                answer.outcome = HttpResponse::Outcome::TransportError;
                answer.transport_error = http_transport_error_text(reply.error());
                answer.body.clear();
            }
        } catch (...) {
            error = std::current_exception();
        }
        std::lock_guard lock(mutex);
        result.outcome = answer.outcome;
        result.status = answer.status;
        result.body = std::move(answer.body);
        result.content_type = std::move(answer.content_type);
        result.transport_error = std::move(answer.transport_error);
        result.body_over_limit = answer.body_over_limit;
        failure = error;
        finished = true;
        finished_changed.notify_all();
    });

    // Watch the token and the deadline. Once either fires, keep calling stop() until the helper is out.
    std::optional<HttpResponse::Outcome> interrupted;
    const auto deadline = start + Milliseconds(request.timeout_ms);
    {
        std::unique_lock lock(mutex);
        while (!finished) {
            if (!interrupted) {
                if (is_cancelled(request.cancel))
                    interrupted = HttpResponse::Outcome::Cancelled;
                else if (Clock::now() >= deadline)
                    interrupted = HttpResponse::Outcome::TimedOut;
            }
            if (interrupted) {
                lock.unlock();
                client->stop();
                lock.lock();
            }
            finished_changed.wait_for(lock, Milliseconds(kHttpPollIntervalMs), [&] { return finished; });
        }
    }
    helper.join();
    // Once we decided to interrupt, that is the outcome even if an answer slipped in meanwhile: callers then treat
    // the operation as not done and clean up, which is consistent either way. A transport failure at or after the
    // deadline is the deadline, whichever timer noticed first.
    if (interrupted)
        result.outcome = *interrupted;
    else if (result.outcome == HttpResponse::Outcome::TransportError && Clock::now() >= deadline)
        result.outcome = HttpResponse::Outcome::TimedOut;
    if (failure && !interrupted) std::rethrow_exception(failure);
    result.elapsed_ms = std::chrono::duration_cast<Milliseconds>(Clock::now() - start).count();
    return result;
}

}  // namespace warmup::sdk
