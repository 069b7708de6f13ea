// http/http_server.hpp — cpp-httplib's Server with the connection handling a daemon needs, and the one way the API
// reads a request body.
//
// Debian's cpp-httplib (0.11.4) is a compiled library, so its compile-time limits (CPPHTTPLIB_THREAD_POOL_COUNT,
// CPPHTTPLIB_LISTEN_BACKLOG, CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH ...) are fixed in libcpp-httplib.so and a
// #define before <httplib.h> changes nothing. What it leaves open, and what HttpServer uses:
//  - the worker pool (the public `new_task_queue` factory): HttpServerOptions::threads workers, not max(8, cores-1);
//  - the socket options: SO_REUSEADDR only. The library's default sets SO_REUSEPORT, with which a second daemon binds
//    the same port and the kernel splits the clients between the two;
//  - the listen backlog: listen() is called again on the bound socket with HttpServerOptions::backlog (Linux lets a
//    listening socket change its backlog; the library's is 5);
//  - the per-connection loop (the virtual process_and_close_socket): a request in absolute form is routed by its path
//    (use_origin_form); each request gets one deadline for its request line, headers and body together
//    (HttpServerOptions::request_timeout), measured from its first byte, instead of the library's 5 s per read, which a
//    client sending a byte every few seconds renews forever. A connection idle between requests is closed after
//    keep_alive_timeout. A connection is closed after a response that says "Connection: close" (the library keeps
//    reading it, so an unread body would be parsed as the next request).
//
// read_request_body() is how every POST route reads its body (the routes are registered with a ContentReader, so the
// library never reads the body itself):
//  - neither Content-Length nor Transfer-Encoding: the body is empty (RFC 9112 section 6.3) and nothing is read. The
//    library would read such a POST until the client closes the connection or the read times out;
//  - the cap applies to the bytes received however the body is framed (Content-Length, chunked, or compressed);
//  - the content type is not interpreted: no form parsing (the library caps x-www-form-urlencoded bodies at 8 KiB,
//    curl's default type for --data), no multipart.
//
// Threads: handlers run on the pool's workers; the deadline state is per connection, owned by the worker serving it.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace warmup::host {

struct HttpServerOptions {
    /// Workers: each serves one connection at a time, mostly waiting on the network, so there are many more than
    /// cores. A client holds one for at most keep_alive_timeout (idle) or request_timeout (sending a request).
    std::size_t threads = 64;
    /// Connections the kernel queues before they are accepted (capped by net.core.somaxconn).
    int backlog = 1024;
    /// Request line, headers and body of one request must arrive within this, from the request's first byte.
    std::chrono::milliseconds request_timeout{10'000};
    /// A connection with no request started for this long is closed.
    std::chrono::milliseconds keep_alive_timeout{5'000};
    /// Requests served on one connection before it is closed (the client reconnects).
    std::size_t keep_alive_max_requests = 1000;
    /// Writing a response must make progress within this.
    std::chrono::milliseconds write_timeout{10'000};
};

class HttpServer : public httplib::Server {
  public:
    explicit HttpServer(HttpServerOptions options = {});

    /// Binds `address`:`port` (0 = any free port) without SO_REUSEPORT and sets the backlog. Returns the bound port;
    /// throws std::runtime_error naming the address when it cannot bind (in use, or not permitted).
    int bind_exclusive(const std::string& address, int port);

    [[nodiscard]] const HttpServerOptions& options() const noexcept { return options_; }

  private:
    bool process_and_close_socket(socket_t sock) override;

    HttpServerOptions options_;
};

/// Why a request body was not read (the answer's status and message), see read_request_body.
struct BodyRefusal {
    int status = 400;
    std::string message;
};

/// Reads the body of `request` through `reader`, at most `max_bytes`. On refusal, `response` is set to close the
/// connection (a body left partly unread cannot be skipped safely) and the reason is returned: 413 above the cap
/// (before reading anything when Content-Length says so), 415 multipart or a Content-Encoding other than gzip,
/// deflate or br, 501 a Transfer-Encoding other than chunked,
/// 400 a body that did not arrive (malformed chunks, timeout, connection closed).
std::optional<BodyRefusal> read_request_body(const httplib::Request& request, httplib::Response& response,
                                             const httplib::ContentReader& reader, std::size_t max_bytes,
                                             std::string& body);

/// Why the end of the request's body is ambiguous (RFC 9112 sections 6.1 and 6.3), or std::nullopt: Content-Length
/// given more than once with different values, or together with Transfer-Encoding. A proxy in front of the daemon that
/// framed such a request the other way would see different requests than the daemon (request smuggling): it is
/// refused before anything else and its connection closed.
std::optional<std::string> ambiguous_framing(const httplib::Request& request);

/// Why an HTTP/1.1 request without a Host header is refused (RFC 9112 section 3.2: a server answers it 400), or
/// std::nullopt. HTTP/1.0 requests may omit it.
std::optional<std::string> missing_host(const httplib::Request& request);

/// A request in absolute form (`GET http://127.0.0.1:3000/healthz HTTP/1.1`, RFC 9112 section 3.2.2: a server must
/// accept it, though clients send it to proxies) made the origin form the routes match: its path is the target's path
/// ("/" when it has none), and its Host header is the target's authority, which replaces any Host sent with it (as
/// the RFC says), so the Host checks judge the name the request was addressed to. Other requests are left as they are.
void use_origin_form(httplib::Request& request);

/// True when the request announces a body (Content-Length > 0 or any Transfer-Encoding). A handler that answers
/// without reading such a body must close the connection.
bool request_has_body(const httplib::Request& request);

}  // namespace warmup::host
