// bare_ingest_server — the yardstick of the daemon's ingest speed: a cpp-httplib server (the same compiled library as
// warmupd, its default worker pool) whose POST /api/warmup/events only counts the body's non-blank lines and answers
// {"accepted": N}. No parsing, no validation, no queue: what the HTTP layer alone costs on this machine.
//
// Connections are kept as warmupd keeps them (host/http/http_api.cpp, HttpServerOptions), so that the comparison is
// about what happens to a request: TCP_NODELAY (else every answer waits ~40 ms for a delayed ACK) and up to 1000
// requests per keep-alive connection. `--keep-alive-max 5` gives the library's default instead (the client then
// reconnects every 5 requests, which makes this server slower).
//
// Compare it with warmupd under the same wrk load (tests/bench/ingest_events.lua, docs/benchmarks.md, "Speed"):
//   build/bench/bare_ingest_server --port 3100 &
//   wrk -t2 -c8 -d10s -s tests/bench/ingest_events.lua http://127.0.0.1:3100/api/warmup/events
//
// Threads: the library's worker pool runs the handler; the counts are atomics. It runs until SIGINT/SIGTERM and then
// prints the requests and lines it served.
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

httplib::Server* running_server = nullptr;

void stop_on_signal(int) {
    // Server::stop() only exchanges an atomic and shuts down and closes the listening socket: async-signal-safe calls.
    if (running_server != nullptr) running_server->stop();
}

}  // namespace

int main(int argc, char** argv) {
    std::string bind = "127.0.0.1";
    int port = 3100;
    int keep_alive_max = 1000;  // warmupd's HttpServerOptions::keep_alive_max_requests
    // Every argument is a flag with a value; anything else (--help, a flag without its value) prints the usage.
    for (int i = 1; i < argc; i += 2) {
        const std::string_view flag = argv[i];
        const bool has_value = i + 1 < argc;
        if (flag == "--port" && has_value) {
            port = std::atoi(argv[i + 1]);
        } else if (flag == "--bind" && has_value) {
            bind = argv[i + 1];
        } else if (flag == "--keep-alive-max" && has_value) {
            keep_alive_max = std::max(1, std::atoi(argv[i + 1]));
        } else {
            std::fprintf(stderr, "usage: bare_ingest_server [--bind ADDRESS] [--port PORT] [--keep-alive-max N]\n");
            return flag == "--help" || flag == "-h" ? 0 : 2;
        }
    }

    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> lines{0};
    httplib::Server server;
    server.set_tcp_nodelay(true);
    server.set_keep_alive_max_count(static_cast<std::size_t>(keep_alive_max));
    server.Post("/api/warmup/events", [&](const httplib::Request& request, httplib::Response& response) {
        // Non-blank lines, as warmupd's parser counts items: a final line without '\n' counts, blank ones do not.
        uint64_t count = 0;
        std::string_view body = request.body;
        while (!body.empty()) {
            const auto end = body.find('\n');
            const std::string_view line = body.substr(0, end);
            if (line.find_first_not_of(" \t\r") != std::string_view::npos) ++count;
            if (end == std::string_view::npos) break;
            body.remove_prefix(end + 1);
        }
        requests.fetch_add(1, std::memory_order_relaxed);
        lines.fetch_add(count, std::memory_order_relaxed);
        response.set_content("{\"accepted\": " + std::to_string(count) + "}\n", "application/json");
    });

    running_server = &server;
    ::signal(SIGINT, stop_on_signal);
    ::signal(SIGTERM, stop_on_signal);
    if (!server.bind_to_port(bind, port)) {
        std::fprintf(stderr, "bare_ingest_server: cannot listen on %s:%d\n", bind.c_str(), port);
        return 2;
    }
    std::printf("bare_ingest_server: listening on %s:%d (up to %d requests per connection)\n", bind.c_str(), port,
                keep_alive_max);
    std::fflush(stdout);
    server.listen_after_bind();
    std::printf("bare_ingest_server: %llu request(s), %llu line(s)\n", static_cast<unsigned long long>(requests.load()),
                static_cast<unsigned long long>(lines.load()));
    return 0;
}
