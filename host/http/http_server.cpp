#include "http/http_server.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <limits>
#include <stdexcept>

namespace warmup::host {
namespace {

/// `address:port`, an IPv6 address in brackets (`[::1]:3000`), as a URL writes it.
std::string host_and_port(const std::string& address, int port) {
    return address.find(':') != std::string::npos ? fmt::format("[{}]:{}", address, port)
                                                  : fmt::format("{}:{}", address, port);
}

using Clock = std::chrono::steady_clock;

/// Waits until `sock` has `events` (POLLIN / POLLOUT) or `timeout` passes. True when ready (or in error, so that the
/// following recv/send reports it).
bool wait_for(socket_t sock, short events, std::chrono::milliseconds timeout) {
    pollfd descriptor{sock, events, 0};
    for (;;) {
        const auto started = Clock::now();
        const int millis = static_cast<int>(std::clamp<int64_t>(timeout.count(), 0, std::numeric_limits<int>::max()));
        const int ready = ::poll(&descriptor, 1, millis);
        if (ready > 0) return true;
        if (ready == 0) return false;
        if (errno != EINTR) return true;
        timeout -= std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    }
}

void address_of(const sockaddr_storage& address, std::string& ip, int& port) {
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (address.ss_family == AF_INET) {
        const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
        ::inet_ntop(AF_INET, &v4.sin_addr, text.data(), text.size());
        port = ntohs(v4.sin_port);
    } else if (address.ss_family == AF_INET6) {
        const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
        ::inet_ntop(AF_INET6, &v6.sin6_addr, text.data(), text.size());
        port = ntohs(v6.sin6_port);
    }
    ip = text.data();
}

/// One connection's socket as the library's Stream, with a deadline on reading the current request. Reads are
/// buffered (the library reads request lines one byte at a time). Owned by the worker serving the connection.
class DeadlineStream final : public httplib::Stream {
  public:
    DeadlineStream(socket_t sock, std::chrono::milliseconds write_timeout)
        : sock_(sock), write_timeout_(write_timeout) {}

    using httplib::Stream::write;

    /// Reads of the next request must finish by `deadline`.
    void start_request(Clock::time_point deadline) { deadline_ = deadline; }
    [[nodiscard]] bool has_buffered_bytes() const noexcept { return begin_ < end_; }

    bool is_readable() const override { return has_buffered_bytes() || wait_for(sock_, POLLIN, remaining()); }
    bool is_writable() const override { return wait_for(sock_, POLLOUT, write_timeout_); }

    ssize_t read(char* ptr, size_t size) override {
        if (!has_buffered_bytes()) {
            if (!wait_for(sock_, POLLIN, remaining())) return -1;  // the request's deadline passed
            const ssize_t received = ::recv(sock_, buffer_.data(), buffer_.size(), 0);
            if (received <= 0) return received;
            begin_ = 0;
            end_ = static_cast<std::size_t>(received);
        }
        const std::size_t n = std::min(size, end_ - begin_);
        std::memcpy(ptr, buffer_.data() + begin_, n);
        begin_ += n;
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const char* ptr, size_t size) override {
        if (!is_writable()) return -1;
        return ::send(sock_, ptr, size, MSG_NOSIGNAL);
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage address{};
        socklen_t length = sizeof(address);
        if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&address), &length) == 0) address_of(address, ip, port);
    }

    void get_local_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage address{};
        socklen_t length = sizeof(address);
        if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&address), &length) == 0) address_of(address, ip, port);
    }

    socket_t socket() const override { return sock_; }

  private:
    std::chrono::milliseconds remaining() const {
        return std::max(std::chrono::milliseconds(0),
                        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()));
    }

    socket_t sock_;
    std::chrono::milliseconds write_timeout_;
    Clock::time_point deadline_ = Clock::now();
    std::array<char, 16 * 1024> buffer_{};
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

/// Set by the post-routing handler when the response being sent says "Connection: close"; read by the connection
/// loop of the same worker thread after process_request returns.
thread_local bool close_after_response = false;

}  // namespace

HttpServer::HttpServer(HttpServerOptions options) : options_(options) {
    const std::size_t threads = std::max<std::size_t>(options_.threads, 1);
    new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    set_socket_options([](socket_t sock) {
        // SO_REUSEADDR lets a restarted daemon bind while old connections are in TIME_WAIT, but (unlike SO_REUSEPORT)
        // not while another socket listens on the port.
        const int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    set_keep_alive_max_count(std::max<std::size_t>(options_.keep_alive_max_requests, 1));
    set_keep_alive_timeout(std::max<time_t>(1, std::chrono::ceil<std::chrono::seconds>(options_.keep_alive_timeout)
                                                   .count()));  // only advertised ("Keep-Alive: timeout=")
    set_write_timeout(options_.write_timeout);
    set_post_routing_handler([](const httplib::Request&, httplib::Response& response) {
        // Runs after the library added its own connection headers, before they are written. A response that closes
        // the connection says so once and advertises no keep-alive: a handler's "close" and the library's (for a
        // client that asked to close) would otherwise both be sent, and the library's Keep-Alive beside a handler's.
        bool close = false;
        const auto [first, last] = response.headers.equal_range("Connection");
        for (auto it = first; it != last; ++it) close = close || it->second == "close";
        if (!close) return;
        response.headers.erase("Connection");
        response.headers.erase("Keep-Alive");
        response.headers.emplace("Connection", "close");
        close_after_response = true;
    });
}

int HttpServer::bind_exclusive(const std::string& address, int port) {
    // The library resolves the address itself and reports no reason when that fails (errno is then unrelated):
    // resolve it first, so that a name that does not resolve is said to be one.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    if (const int resolved = ::getaddrinfo(address.c_str(), nullptr, &hints, &found); resolved != 0)
        throw std::runtime_error(fmt::format("cannot listen on {}: the address does not resolve: {}",
                                             host_and_port(address, port), ::gai_strerror(resolved)));
    ::freeaddrinfo(found);
    errno = 0;
    const int bound = port == 0 ? bind_to_any_port(address) : (bind_to_port(address, port) ? port : -1);
    if (bound <= 0) {
        const int error = errno;
        throw std::runtime_error(fmt::format(
            "cannot listen on {}: {}", host_and_port(address, port),
            error == EADDRINUSE ? "the address is already in use (another warmupd?)"
                                : (error == 0 ? std::string("the address cannot be bound") : std::strerror(error))));
    }
    // The library listened with its compiled-in backlog of 5; a second listen() on the bound socket resizes it.
    if (::listen(svr_sock_, options_.backlog) != 0)
        throw std::runtime_error(
            fmt::format("cannot set the listen backlog on {}:{}: {}", address, bound, std::strerror(errno)));
    return bound;
}

bool HttpServer::process_and_close_socket(socket_t sock) {
    DeadlineStream stream(sock, options_.write_timeout);
    bool served = false;
    for (std::size_t count = 0; count < options_.keep_alive_max_requests; ++count) {
        // Wait for the next request, in slices so that stop() is noticed.
        const auto idle_until = Clock::now() + options_.keep_alive_timeout;
        bool request_started = stream.has_buffered_bytes();
        while (!request_started && svr_sock_ != INVALID_SOCKET && Clock::now() < idle_until)
            request_started =
                wait_for(sock, POLLIN,
                         std::min(std::chrono::milliseconds(100),
                                  std::chrono::duration_cast<std::chrono::milliseconds>(idle_until - Clock::now())));
        if (!request_started || svr_sock_ == INVALID_SOCKET) break;

        stream.start_request(Clock::now() + options_.request_timeout);
        close_after_response = false;
        bool connection_closed = false;
        const bool last = count + 1 == options_.keep_alive_max_requests;
        served = process_request(stream, last, connection_closed, use_origin_form);
        if (!served || connection_closed || close_after_response) break;
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return served;
}

std::optional<std::string> ambiguous_framing(const httplib::Request& request) {
    const auto [first, last] = request.headers.equal_range("Content-Length");
    if (first == last) return std::nullopt;
    if (request.has_header("Transfer-Encoding"))
        return "the request has both Transfer-Encoding and Content-Length: its body's end is ambiguous";
    for (auto it = std::next(first); it != last; ++it)
        if (it->second != first->second)
            return fmt::format(
                "the request has {} Content-Length headers with different values: its body's end is "
                "ambiguous",
                std::distance(first, last));
    return std::nullopt;
}

std::optional<std::string> missing_host(const httplib::Request& request) {
    if (request.version != "HTTP/1.1" || request.has_header("Host")) return std::nullopt;
    return "an HTTP/1.1 request needs a Host header (curl, browsers and HTTP libraries send one)";
}

void use_origin_form(httplib::Request& request) {
    // Read from the raw target: the library's path is percent-decoded, and "http://127.0.0.1%2Fapi%2F..." must not
    // become a path a proxy in front did not see. The scheme must be written out; an authority with an escape or no
    // host is not rewritten (it is then routed as it is: 404).
    const std::string_view target = request.target;
    const auto scheme_end = target.find("://");
    if (target.empty() || target.front() == '/' || scheme_end == std::string_view::npos) return;
    std::string scheme(target.substr(0, scheme_end));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme != "http" && scheme != "https") return;
    const std::size_t authority_start = scheme_end + 3;
    const std::size_t authority_end = std::min(target.find_first_of("/?#", authority_start), target.size());
    std::string authority(target.substr(authority_start, authority_end - authority_start));
    if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);  // no user info
    if (authority.empty() || authority.front() == ':') return;
    // The decoded path starts with the same scheme and authority when they hold no escape: the rest is the path.
    const std::size_t prefix = authority_end;  // bytes of "scheme://[userinfo@]authority"
    if (target.substr(0, prefix).find('%') != std::string_view::npos ||
        request.path.compare(0, prefix, target.substr(0, prefix)) != 0)
        return;
    std::string origin_path = request.path.substr(prefix);
    if (origin_path.empty() || origin_path.front() != '/') origin_path.insert(0, "/");
    request.path = std::move(origin_path);
    request.headers.erase("Host");
    request.headers.emplace("Host", std::move(authority));
}

bool request_has_body(const httplib::Request& request) {
    if (request.has_header("Transfer-Encoding")) return true;
    if (!request.has_header("Content-Length")) return false;
    return request.get_header_value("Content-Length") != "0";
}

std::optional<BodyRefusal> read_request_body(const httplib::Request& request, httplib::Response& response,
                                             const httplib::ContentReader& reader, std::size_t max_bytes,
                                             std::string& body) {
    body.clear();
    const auto refuse = [&](int status, std::string message) {
        response.set_header("Connection", "close");
        return BodyRefusal{status, std::move(message)};
    };
    const bool has_length = request.has_header("Content-Length");
    const bool has_encoding = request.has_header("Transfer-Encoding");
    if (!has_length && !has_encoding) return std::nullopt;  // no body (RFC 9112 section 6.3)
    if (has_encoding) {
        std::string encoding = request.get_header_value("Transfer-Encoding");
        std::transform(encoding.begin(), encoding.end(), encoding.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (encoding != "chunked")
            return refuse(501, fmt::format("Transfer-Encoding '{}' is not supported (only chunked)",
                                           encoding.size() <= 64 ? encoding : encoding.substr(0, 64) + "..."));
    } else {
        const std::string length_text = request.get_header_value("Content-Length");
        uint64_t length = 0;
        const bool digits = !length_text.empty() && std::all_of(length_text.begin(), length_text.end(),
                                                                [](unsigned char c) { return c >= '0' && c <= '9'; });
        if (!digits) return refuse(400, "Content-Length is not a length (a number of bytes, 0 or more)");
        if (length_text.size() > 19)  // beyond any 64-bit length, so beyond the limit
            return refuse(413, fmt::format("request body too large: {} bytes, the limit is {} bytes (http.max_body_mb)",
                                           length_text.substr(0, 32), max_bytes));
        length = std::stoull(length_text);
        if (length > max_bytes)
            return refuse(413, fmt::format("request body too large: {} bytes, the limit is {} bytes (http.max_body_mb)",
                                           length, max_bytes));
        if (length == 0) return std::nullopt;
    }
    // Media types are case-insensitive (RFC 9110 section 8.3.1); the library's own test is not.
    std::string media_type = request.get_header_value("Content-Type");
    media_type = media_type.substr(0, std::min(media_type.find(';'), media_type.size()));
    std::transform(media_type.begin(), media_type.end(), media_type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (media_type.find("multipart/") != std::string::npos)
        return refuse(415, "multipart bodies are not accepted: send JSON or NDJSON");
    // cpp-httplib decodes "gzip", "deflate" and "br" as written here (it compares them case-sensitively); any other
    // value it hands over as it came, and the body would be read as if it were plain text.
    const std::string content_encoding = request.get_header_value("Content-Encoding");
    if (!content_encoding.empty() && content_encoding != "identity" && content_encoding != "gzip" &&
        content_encoding != "deflate" && content_encoding != "br")
        return refuse(415, fmt::format("Content-Encoding '{}' is not supported (gzip, deflate and br are)",
                                       content_encoding.size() <= 64 ? content_encoding
                                                                     : content_encoding.substr(0, 64) + "..."));
    bool over_cap = false;
    const bool complete = reader([&](const char* data, size_t size) {
        if (size > max_bytes - body.size()) {
            over_cap = true;
            return false;
        }
        body.append(data, size);
        return true;
    });
    if (over_cap) {
        body.clear();
        return refuse(413, fmt::format("request body too large: more than {} bytes (http.max_body_mb)", max_bytes));
    }
    if (!complete) {
        body.clear();
        // cpp-httplib decodes gzip, deflate and br on the way in: with one of them, a body that is not what its
        // header says fails the same way as a cut one, and the header is the likelier cause.
        const std::string encoding = request.get_header_value("Content-Encoding");
        if (!encoding.empty() && encoding != "identity")
            return refuse(400, fmt::format("the request body could not be decoded as Content-Encoding: {} (gzip, "
                                           "deflate and br are accepted), or did not arrive complete",
                                           encoding));
        return refuse(400,
                      "the request body did not arrive complete (malformed chunks, a timeout, or the client "
                      "closed the connection)");
    }
    return std::nullopt;
}

}  // namespace warmup::host
