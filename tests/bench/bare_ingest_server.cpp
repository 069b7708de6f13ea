// bare_ingest_server — the yardstick of the daemon's ingest speed: a cpp-httplib server (the same compiled library as
// warmupd, with its default worker pool, and TCP_NODELAY like warmupd) whose POST /api/warmup/events only counts the
// body's non-blank lines and answers
// {"accepted": N}. No parsing, no validation, no queue: what the HTTP layer alone costs on this machine.
//
// Compare it with warmupd under the same wrk load (tests/bench/ingest_events.lua, README "Speed"):
//   build/bench/bare_ingest_server --port 3100 &
//   wrk -t2 -c8 -d10s -s tests/bench/ingest_events.lua http://127.0.0.1:3100/api/warmup/events
//
// Threads: the library's worker pool runs the handler; the line total is an atomic. It runs until SIGINT/SIGTERM and
// then prints the requests and lines it served.
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

namespace {

httplib::Server* running_server = nullptr;

void stop_on_signal(int) {
    if (running_server != nullptr) running_server->stop();  // only closes the listening socket: signal-safe enough
}

}  // namespace

int main(int argc, char** argv) {
    std::string bind = "127.0.0.1";
    int port = 3100;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") {
            port = std::atoi(argv[i + 1]);
        } else if (flag == "--bind") {
            bind = argv[i + 1];
        } else {
            std::fprintf(stderr, "usage: bare_ingest_server [--bind ADDRESS] [--port PORT]\n");
            return 2;
        }
    }

    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> lines{0};
    httplib::Server server;
    server.set_tcp_nodelay(true);  // as warmupd: without it every answer waits ~40 ms for a delayed ACK
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
    std::printf("bare_ingest_server: listening on %s:%d\n", bind.c_str(), port);
    std::fflush(stdout);
    server.listen_after_bind();
    std::printf("bare_ingest_server: %llu request(s), %llu line(s)\n", static_cast<unsigned long long>(requests.load()),
                static_cast<unsigned long long>(lines.load()));
    return 0;
}
