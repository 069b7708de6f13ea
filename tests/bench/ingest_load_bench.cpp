// ingest_load_bench — holds a real warmupd at a high event rate over loopback and checks that nothing is silently
// dropped and that memory stays bounded.
//
// It starts build/bin/warmupd (--port 0) on a temporary config (sim backend, catalog glob `m/*`, 256 models), then N
// client threads (httplib::Client with keep-alive) post NDJSON batches to /api/warmup/events for a bounded time,
// timing every request. At the end it reads /api/warmup/status and checks:
//   - sent == events_accepted + events_refused (every event is counted one way or the other), and the daemon's
//     accepted count equals the sum of the "accepted" fields the clients received;
//   - the daemon's peak RSS (VmHWM of /proc/<pid>/status) is below the bound.
// It prints events/s, request latency p50/p99/max, the 200/503/other counts and the peak RSS; exit code 1 when a
// check fails. Not a Google Benchmark: one long scenario, not iterations.
//
// Settings (flag, or environment variable; flags win):
//   --seconds N   WARMUP_LOAD_SECONDS   duration of the load                    default 60
//   --clients N   WARMUP_LOAD_CLIENTS   client threads                          default 4
//   --batch N     WARMUP_LOAD_BATCH     events per POST (NDJSON lines)          default 500
//   --rss-mb N    WARMUP_LOAD_RSS_MB    peak-RSS bound of the daemon (MiB)      default 512
//   --ingest-capacity N  WARMUP_LOAD_INGEST_CAPACITY  budgets.ingest_queue_capacity  default 65536 (small: more 503s)
//   --journal 0|1 WARMUP_LOAD_JOURNAL   state.journal (the event journal in the temporary state folder)  default 1
//
//   build/bench/ingest_load_bench --seconds 30
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kModels = 256;

int64_t setting(int argc, char** argv, const std::string& flag, const char* env, int64_t fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (argv[i] == flag) return std::stoll(argv[i + 1]);
    if (const char* value = std::getenv(env); value != nullptr && *value != '\0') return std::stoll(value);
    return fallback;
}

/// A /proc/<pid>/status field in kB ("VmHWM", "VmRSS"), or -1.
int64_t proc_status_kb(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
    return -1;
}

std::string config_yaml(int64_t ingest_capacity, bool journal) {
    std::ostringstream yaml;
    yaml << "log_level: info\n"  // the "listening on" line is at info; refused batches log one warning each
         << "http: {bind: 127.0.0.1, port: 0}\n"
         << "plugin_dirs: [\"" << WARMUP_TEST_PLUGIN_DIR << "\"]\n"
         << "budgets: {memory_mb: 16384, max_concurrent_warmups: 2, ingest_queue_capacity: " << ingest_capacity << "}\n"
         << "components:\n"
         << "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
         << "  predictor: {plugin: org.warmup.predictor.hybrid-histogram}\n"
         << "  performance: {plugin: org.warmup.performance.calibrated}\n"
         << "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
         << "  resource: {plugin: org.warmup.resource.lru}\n"
         << "  queue: {plugin: org.warmup.queue.priority}\n"
         << "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
         << "  backend: {plugin: org.warmup.backend.sim, params: {time_scale: 0.01}}\n"
         << "catalog:\n"
         << "  - {model: \"m/*\", memory_mb: 1024, load_ms: 5000, unload_ms: 500}\n"
         << "state: {journal: " << (journal ? "true" : "false") << "}\n";
    return yaml.str();
}

struct ClientTally {
    uint64_t sent = 0;              // events posted
    uint64_t accepted_replies = 0;  // sum of the "accepted" fields received
    uint64_t ok = 0, unavailable = 0, other = 0;
    std::vector<double> latency_us;  // one per request
};

double percentile(std::vector<double>& sorted, double fraction) {
    if (sorted.empty()) return 0;
    const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(rank, sorted.size() - 1)];
}

void run_client(int port, int client, int batch, Clock::time_point deadline, ClientTally& tally) {
    httplib::Client http("127.0.0.1", port);
    http.set_keep_alive(true);
    http.set_tcp_nodelay(true);  // else Nagle + delayed ACK add ~40 ms to every keep-alive POST
    http.set_read_timeout(30, 0);
    uint64_t lcg = 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(client + 1);
    std::string body;
    while (Clock::now() < deadline) {
        body.clear();
        for (int i = 0; i < batch; ++i) {
            lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
            // A skewed mix: half the events go to 16 hot models, the rest spread over all 256.
            const uint64_t r = lcg >> 33;
            const uint64_t model = (r & 1) != 0 ? (r >> 1) % 16 : (r >> 1) % kModels;
            body += "{\"model\":\"m/" + std::to_string(model) + "\"}\n";
        }
        const auto started = Clock::now();
        const auto reply = http.Post("/api/warmup/events", body, "application/x-ndjson");
        tally.latency_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - started).count());
        tally.sent += static_cast<uint64_t>(batch);
        if (!reply) {
            ++tally.other;
            continue;
        }
        if (reply->status == 200)
            ++tally.ok;
        else if (reply->status == 503)
            ++tally.unavailable;
        else
            ++tally.other;
        const json answer = json::parse(reply->body, nullptr, false);
        if (answer.is_object() && answer.contains("accepted"))
            tally.accepted_replies += answer["accepted"].get<uint64_t>();
    }
}

}  // namespace

int main(int argc, char** argv) {
    const int64_t seconds = setting(argc, argv, "--seconds", "WARMUP_LOAD_SECONDS", 60);
    const int clients = static_cast<int>(setting(argc, argv, "--clients", "WARMUP_LOAD_CLIENTS", 4));
    const int batch = static_cast<int>(setting(argc, argv, "--batch", "WARMUP_LOAD_BATCH", 500));
    const int64_t rss_bound_mb = setting(argc, argv, "--rss-mb", "WARMUP_LOAD_RSS_MB", 512);
    const int64_t ingest_capacity = setting(argc, argv, "--ingest-capacity", "WARMUP_LOAD_INGEST_CAPACITY", 65536);
    if (seconds <= 0 || clients <= 0 || batch <= 0) {
        std::fprintf(stderr, "ingest_load_bench: --seconds, --clients and --batch must be > 0\n");
        return 2;
    }

    warmup::test::TempDir dir("warmup-load-bench");
    const auto config = dir.path() / "load.yaml";
    const bool journal = setting(argc, argv, "--journal", "WARMUP_LOAD_JOURNAL", 1) != 0;
    std::ofstream(config) << config_yaml(ingest_capacity, journal);
    warmup::test::Daemon daemon({"--config", config.string(), "--port", "0"});
    const int port = daemon.wait_until_listening();
    if (port == 0) {
        std::fprintf(stderr, "ingest_load_bench: warmupd did not start:\n%s\n", daemon.log().c_str());
        return 1;
    }
    const int64_t rss_at_start_kb = proc_status_kb(daemon.pid(), "VmRSS");

    std::vector<ClientTally> tallies(static_cast<std::size_t>(clients));
    std::vector<std::thread> threads;
    const auto started = Clock::now();
    const auto deadline = started + std::chrono::seconds(seconds);
    for (int c = 0; c < clients; ++c)
        threads.emplace_back(run_client, port, c, batch, deadline, std::ref(tallies[static_cast<std::size_t>(c)]));
    for (auto& thread : threads) thread.join();
    const double elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();

    ClientTally total;
    for (ClientTally& tally : tallies) {
        total.sent += tally.sent;
        total.accepted_replies += tally.accepted_replies;
        total.ok += tally.ok;
        total.unavailable += tally.unavailable;
        total.other += tally.other;
        total.latency_us.insert(total.latency_us.end(), tally.latency_us.begin(), tally.latency_us.end());
    }
    std::sort(total.latency_us.begin(), total.latency_us.end());

    httplib::Client http("127.0.0.1", port);
    const auto status = http.Get("/api/warmup/status");
    if (!status || status->status != 200) {
        std::fprintf(stderr, "ingest_load_bench: GET /api/warmup/status failed\n");
        return 1;
    }
    const json counters = json::parse(status->body)["counters"];
    const auto accepted = counters["events_accepted"].get<uint64_t>();
    const auto refused = counters["events_refused"].get<uint64_t>();
    const int64_t peak_rss_kb = proc_status_kb(daemon.pid(), "VmHWM");
    const int64_t rss_end_kb = proc_status_kb(daemon.pid(), "VmRSS");
    const bool breaker_opened = daemon.log().find("PLUGIN_CIRCUIT_OPEN") != std::string::npos;

    std::printf("ingest_load_bench: %d client(s) x %d events/request for %.1f s against warmupd pid %d\n", clients,
                batch, elapsed_s, static_cast<int>(daemon.pid()));
    std::printf("  requests        %zu (200: %llu, 503: %llu, other: %llu)\n", total.latency_us.size(),
                static_cast<unsigned long long>(total.ok), static_cast<unsigned long long>(total.unavailable),
                static_cast<unsigned long long>(total.other));
    std::printf("  events sent     %llu = %.0f events/s; accepted %llu (%.0f/s), refused %llu\n",
                static_cast<unsigned long long>(total.sent), static_cast<double>(total.sent) / elapsed_s,
                static_cast<unsigned long long>(accepted), static_cast<double>(accepted) / elapsed_s,
                static_cast<unsigned long long>(refused));
    std::printf("  latency         p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", percentile(total.latency_us, 0.50) / 1000,
                percentile(total.latency_us, 0.99) / 1000,
                total.latency_us.empty() ? 0.0 : total.latency_us.back() / 1000);
    std::printf("  daemon RSS      start %.1f MiB, end %.1f MiB, peak (VmHWM) %.1f MiB (bound %lld MiB)\n",
                static_cast<double>(rss_at_start_kb) / 1024, static_cast<double>(rss_end_kb) / 1024,
                static_cast<double>(peak_rss_kb) / 1024, static_cast<long long>(rss_bound_mb));
    std::printf("  circuit opened  %s\n", breaker_opened ? "yes (see the daemon log)" : "no");
    uint64_t journal_bytes = 0;  // segments on disk at the end (the flush thread may still hold up to 0.5 s)
    std::error_code listing;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "state", listing))
        if (entry.path().extension() == ".wjournal") journal_bytes += entry.file_size();
    std::printf("  journal         %s, %.1f MiB on disk\n", journal ? "on" : "off",
                static_cast<double>(journal_bytes) / (1024.0 * 1024.0));

    bool passed = true;
    if (total.sent != accepted + refused) {
        std::printf("FAIL: sent %llu != accepted %llu + refused %llu (events silently dropped or double-counted)\n",
                    static_cast<unsigned long long>(total.sent), static_cast<unsigned long long>(accepted),
                    static_cast<unsigned long long>(refused));
        passed = false;
    }
    if (total.accepted_replies != accepted) {
        std::printf("FAIL: the replies accepted %llu events, the daemon counted %llu\n",
                    static_cast<unsigned long long>(total.accepted_replies), static_cast<unsigned long long>(accepted));
        passed = false;
    }
    if (total.other != 0) {
        std::printf("FAIL: %llu request(s) neither 200 nor 503\n", static_cast<unsigned long long>(total.other));
        passed = false;
    }
    if (peak_rss_kb < 0 || peak_rss_kb > rss_bound_mb * 1024) {
        std::printf("FAIL: peak RSS %lld kB above the bound of %lld MiB\n", static_cast<long long>(peak_rss_kb),
                    static_cast<long long>(rss_bound_mb));
        passed = false;
    }
    std::printf("%s\n", passed ? "PASS" : "FAIL");
    return passed ? 0 : 1;
}
