// The daemon core in process for the HTTP tests: a LiveRuntime with real plugins (sim backend) behind the real HttpApi
// on 127.0.0.1:<free port>, a cpp-httplib client bound to it, and a raw-socket client for what cpp-httplib's client
// cannot send (body-less POSTs, chunked bodies written by hand, clients that stall).
//
// Ownership: an InProcessDaemon owns its runtime, API and client; the destructor stops the API, then the runtime. Test
// threads only; RawConnection is one socket owned by one thread.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "http/http_api.hpp"
#include "http/security.hpp"
#include "runtime/live_runtime.hpp"
#include "test_support.hpp"

namespace warmup::test {

inline constexpr const char* kToken = "test-token-0123456789abcdef";

/// The test configuration. `max_body_mb` 0.001 MiB = 1048 bytes (1048.576, truncated by the host): small enough to
/// exceed cheaply. `http_extra` is appended inside the http mapping (", request_timeout_ms: 1000"), `budgets_extra`
/// inside the budgets one (", ingest_queue_capacity: 10").
inline std::string config_yaml(const std::string& max_body_mb, const std::string& http_extra = "",
                               const std::string& budgets_extra = "") {
    return std::string(
               "log_level: warn\n"
               "http: {bind: 127.0.0.1, port: 0, max_body_mb: ") +
           max_body_mb + http_extra +
           "}\n"
           "plugin_dirs: [\"" WARMUP_TEST_PLUGIN_DIR
           "\"]\n"
           "budgets: {memory_mb: 100000" +
           budgets_extra +
           "}\n"
           "components:\n"
           "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
           "  predictor: {plugin: org.warmup.predictor.keep-alive}\n"
           "  performance: {plugin: org.warmup.performance.calibrated}\n"
           "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
           "  resource: {plugin: org.warmup.resource.lru}\n"
           "  queue: {plugin: org.warmup.queue.priority}\n"
           "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
           "  backend: {plugin: org.warmup.backend.sim, params: {time_scale: 0.01}}\n"
           "catalog:\n"
           "  - {model: \"known/*\", memory_mb: 10, load_ms: 20}\n";
}

inline int64_t wall_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// A running daemon core on 127.0.0.1:<free port>. The access token is read from the environment when the host::HttpApi
/// is constructed, so the fixture sets (or clears) WARMUP_ACCESS_TOKEN first.
class InProcessDaemon {
  public:
    InProcessDaemon(const std::string& max_body_mb, std::optional<std::string> token,
                    const std::string& http_extra = "", const std::string& budgets_extra = "") {
        if (token)
            ::setenv(host::kAccessTokenEnvironmentVariable, token->c_str(), 1);
        else
            ::unsetenv(host::kAccessTokenEnvironmentVariable);
        runtime_ = std::make_unique<host::LiveRuntime>(
            host::load_config_text(config_yaml(max_body_mb, http_extra, budgets_extra), "<security test>", {}, {}));
        runtime_->start();
        api_ = std::make_unique<host::HttpApi>(*runtime_);
        ::unsetenv(host::kAccessTokenEnvironmentVariable);
        port_ = api_->bind("127.0.0.1", 0);
        api_->start();
        client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
        client_->set_read_timeout(10, 0);
        // listen_after_bind starts on a thread; wait (bounded) until it answers.
        poll_until([&] { return static_cast<bool>(client_->Get("/healthz")); }, std::chrono::seconds(5));
    }
    ~InProcessDaemon() {
        client_.reset();
        api_->stop();
        runtime_->stop();
    }

    httplib::Client& client() { return *client_; }
    host::LiveRuntime& runtime() { return *runtime_; }
    [[nodiscard]] int port() const noexcept { return port_; }

    /// POSTs `body` to the events endpoint; returns {status, parsed JSON answer}.
    std::pair<int, nlohmann::json> post_events(const std::string& body, const httplib::Headers& headers = {},
                                               const std::string& content_type = "application/x-ndjson") {
        auto result = client_->Post("/api/warmup/events", headers, body, content_type.c_str());
        if (!result) return {-1, nlohmann::json()};
        return {result->status, nlohmann::json::parse(result->body, nullptr, false)};
    }

  private:
    std::unique_ptr<host::LiveRuntime> runtime_;
    std::unique_ptr<host::HttpApi> api_;
    std::unique_ptr<httplib::Client> client_;
    int port_ = 0;
};

/// One TCP connection to 127.0.0.1:`port` that writes exactly the bytes it is given.
class RawConnection {
  public:
    explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        if (fd_ < 0) throw std::runtime_error("socket() failed");
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<uint16_t>(port));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
            ::close(fd_);
            throw std::runtime_error("connect() failed");
        }
    }
    ~RawConnection() { ::close(fd_); }
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    /// False when the peer has closed the connection (the write fails).
    bool send(const std::string& bytes) {
        return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
    }

    /// Reads until one whole HTTP response (headers and Content-Length body) has arrived, the peer closes, or
    /// `timeout` passes. Returns what arrived ("" when nothing did).
    std::string read_response(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        std::string data;
        for (;;) {
            const auto header_end = data.find("\r\n\r\n");
            if (header_end != std::string::npos) {
                const auto length_at = data.find("Content-Length: ");
                const std::size_t length = length_at != std::string::npos && length_at < header_end
                                               ? std::stoul(data.substr(length_at + 16))
                                               : 0;
                if (data.size() >= header_end + 4 + length) return data;
            }
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return data;
            pollfd descriptor{fd_, POLLIN, 0};
            if (::poll(&descriptor, 1, static_cast<int>(left.count())) <= 0) return data;
            char buffer[4096];
            const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
            if (n <= 0) return data;
            data.append(buffer, static_cast<std::size_t>(n));
        }
    }

    /// True when the peer closes the connection (recv returns 0 or an error) within `timeout`; bytes that arrive
    /// meanwhile are discarded.
    bool closed_within(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd descriptor{fd_, POLLIN, 0};
            if (::poll(&descriptor, 1, static_cast<int>(left.count())) <= 0) return false;
            char buffer[4096];
            if (::recv(fd_, buffer, sizeof(buffer), 0) <= 0) return true;
        }
    }

  private:
    int fd_;
};

/// The status code of a raw HTTP response ("HTTP/1.1 200 OK..." -> 200), or 0 when there is none.
inline int status_of(const std::string& response) {
    if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
    return std::stoi(response.substr(9, 3));
}

/// The JSON body of a raw HTTP response (discarded when absent or not JSON).
inline nlohmann::json json_body_of(const std::string& response) {
    const auto header_end = response.find("\r\n\r\n");
    if (header_end == std::string::npos) return nlohmann::json(nlohmann::json::value_t::discarded);
    return nlohmann::json::parse(response.substr(header_end + 4), nullptr, false);
}

}  // namespace warmup::test
