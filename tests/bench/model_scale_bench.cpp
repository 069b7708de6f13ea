// model_scale_bench — the memory of a warmupd with 10 k active models, and the cost of reading their predictions and
// status whole or page by page (docs/benchmarks.md, "Ten thousand models on one node"). Not a Google Benchmark: one
// scenario.
//
// It starts build/bin/warmupd (--port 0) on a temporary configuration: the default plugin set of
// configs/default.yaml (usage-pattern analyzer with 240 1-minute bins, cost-curve predictor, ...), catalog `m/*`
// (64 MiB, 2 s load each), budget 64 GiB (about 1000 models loaded at once), the sim backend at 1/1000 of catalog
// time, state kept in a temporary folder with the event journal on (the defaults; --journal 0: off). Then:
//   1. VmRSS of the idle daemon (no model yet);
//   2. history: model i was used every (5 + i % 50) minutes over the past 24 uses, posted in time order (NDJSON bodies
//      of 5000 events, sent again after a 503); then one request per model now, so every model is learned and has
//      been requested; waits until the requests are counted and no load is queued, loading or waiting for memory;
//   3. VmRSS now: the daemon with every model active; bytes per model = (this - step 1) / models; VmHWM so far (the
//      peak while the history was posted as fast as the daemon took it);
//   4. the peak RSS across a snapshot: VmHWM is reset (`5` written to /proc/<pid>/clear_refs), then read once the
//      snapshot is done, so it is the largest RSS the daemon had while taking it: first a periodic one (the next
//      state.snapshot_interval_s tick, --snapshot-interval-s, default 5 s: waits for its file), then POST
//      /api/warmup/backup-state (the same capture, named);
//   5. GET /api/warmup/predictions and /api/warmup/status page by page (?limit=--page, following next_after): pages,
//      time per page (p50, max), bytes; then each unpaginated, with its time and bytes, the slowest answer of the
//      control loop meanwhile (GET /api/warmup/plugins asked again and again on another connection: how long the
//      whole list holds the control loop), and VmRSS / VmHWM after; then the two bounded reads of the status page
//      (predictions ?soonest=50&within_ms=3600000, status ?per_state=50), measured the same way;
//   6. a restart from that state: SIGTERM (a clean stop writes a last snapshot), a new warmupd on the same folder, and
//      its VmHWM once it serves (start, reading the snapshot back and importing it, replaying the journal after it).
// PASS when the RSS of step 3 and both snapshot peaks of step 4 are at most --rss-mb (default 64) MiB; exit code 1
// otherwise.
//
//   build/bench/model_scale_bench [--models 10000] [--rss-mb 64] [--page 500] [--journal 1] [--snapshot-interval-s 5]
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "test_support.hpp"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

int64_t flag(int argc, char** argv, const std::string& name, int64_t fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (argv[i] == name) return std::stoll(argv[i + 1]);
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

double mib(int64_t kb) { return static_cast<double>(kb) / 1024.0; }

/// Resets the process's VmHWM to its current RSS (Linux >= 4.0; needs the right to write /proc/<pid>/clear_refs,
/// which the parent of its own child has). False when the kernel refused.
bool reset_peak_rss(pid_t pid) {
    std::ofstream clear_refs("/proc/" + std::to_string(pid) + "/clear_refs");
    clear_refs << "5";
    clear_refs.flush();
    return static_cast<bool>(clear_refs);
}

/// The newest periodic snapshot file in `state_dir` ("" when none): names sort by creation time.
std::string newest_periodic_snapshot(const std::filesystem::path& state_dir) {
    std::string newest;
    for (const auto& entry : std::filesystem::directory_iterator(state_dir)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("snapshot-") && name.ends_with(".wsnap")) newest = std::max(newest, name);
    }
    return newest;
}

std::string config_yaml(const std::filesystem::path& state_dir, bool journal, int64_t snapshot_interval_s) {
    std::ostringstream yaml;
    yaml << "log_level: info\n"
         << "http: {bind: 127.0.0.1, port: 0}\n"
         << "plugin_dirs: [\"" << WARMUP_TEST_PLUGIN_DIR << "\"]\n"
         << "budgets: {memory_mb: 65536, max_concurrent_warmups: 8}\n"
         << "components:\n"
         << "  analyzer: {plugin: org.warmup.analyzer.usage-pattern, params: {idle_bin_ms: 60000, idle_bins: "
            "240}}\n"
         << "  predictor: {plugin: org.warmup.predictor.cost-curve}\n"
         << "  performance: {plugin: org.warmup.performance.calibrated}\n"
         << "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
         << "  resource: {plugin: org.warmup.resource.value}\n"
         << "  queue: {plugin: org.warmup.queue.priority, params: {algorithm: WeightedFair, capacity: 1024, "
            "weights: [8, 4, 2, 1]}}\n"
         << "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
         << "  backend: {plugin: org.warmup.backend.sim, params: {time_scale: 0.001}}\n"
         << "catalog:\n"
         << "  - {model: \"m/*\", memory_mb: 64, load_ms: 2000, unload_ms: 100}\n"
         << "state: {dir: \"" << state_dir.string() << "\", journal: " << (journal ? "true" : "false")
         << ", snapshot_interval_s: " << snapshot_interval_s << "}\n";
    return yaml.str();
}

int64_t system_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// POSTs an NDJSON body, again after each 503 (the ingest queue is full while the control loop catches up).
bool post_events(httplib::Client& http, const std::string& body) {
    for (int attempt = 0; attempt < 2000; ++attempt) {
        const auto answer = http.Post("/api/warmup/events", body, "application/x-ndjson");
        if (!answer) return false;
        if (answer->status == 200) return true;
        if (answer->status != 503) {
            std::fprintf(stderr, "model_scale_bench: POST /api/warmup/events: %d %s\n", answer->status,
                         answer->body.substr(0, 300).c_str());
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

struct Walk {
    int pages = 0;
    std::size_t entries = 0;
    std::size_t bytes = 0;
    std::vector<double> page_ms;
};

/// Follows next_after from the first page to the last; `list` names the entries counted ("predictions", or the
/// status's three lists).
bool walk_pages(httplib::Client& http, const std::string& path, int64_t limit, Walk& walk) {
    std::string after;
    while (true) {
        std::string query = path + "?limit=" + std::to_string(limit);
        if (!after.empty()) query += "&after=" + httplib::detail::encode_query_param(after);
        const auto started = Clock::now();
        const auto answer = http.Get(query);
        walk.page_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
        if (!answer || answer->status != 200) return false;
        walk.bytes += answer->body.size();
        ++walk.pages;
        const json page = json::parse(answer->body);
        for (const char* list : {"predictions", "warm", "loading", "queued"})
            if (page.contains(list)) walk.entries += page[list].size();
        if (page["next_after"].is_null()) return true;
        after = page["next_after"].get<std::string>();
    }
}

/// A read of `path` whole, and how long it held the control loop: meanwhile another connection asks GET
/// /api/warmup/plugins (a round trip through the control loop that reads only the plugin list) again and again;
/// `longest_control_ms` is the slowest of those answers.
struct WholeRead {
    double ms = 0;
    std::size_t bytes = 0;
    double longest_control_ms = 0;
};

bool read_whole(httplib::Client& http, int port, const std::string& path, WholeRead& out) {
    std::atomic<bool> done{false};
    double longest = 0;
    std::thread prober([&] {
        httplib::Client probe("127.0.0.1", port);
        while (!done.load()) {
            const auto started = Clock::now();
            const auto answer = probe.Get("/api/warmup/plugins");
            if (answer && answer->status == 200)
                longest = std::max(longest, std::chrono::duration<double, std::milli>(Clock::now() - started).count());
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the prober is connected and running
    const auto started = Clock::now();
    const auto answer = http.Get(path);
    out.ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    done.store(true);
    prober.join();
    if (!answer || answer->status != 200) return false;
    out.bytes = answer->body.size();
    out.longest_control_ms = longest;
    return true;
}

double percentile(std::vector<double> values, double fraction) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<std::size_t>(fraction * (values.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
    const auto models = static_cast<int>(flag(argc, argv, "--models", 10'000));
    const int64_t rss_bound_mb = flag(argc, argv, "--rss-mb", 64);
    const int64_t page = flag(argc, argv, "--page", 500);
    const bool journal = flag(argc, argv, "--journal", 1) != 0;
    const int64_t snapshot_interval_s = flag(argc, argv, "--snapshot-interval-s", 5);
    if (models <= 0 || page < 1 || page > 10'000 || snapshot_interval_s < 1) {
        std::fprintf(stderr,
                     "model_scale_bench: --models must be > 0, --page 1..10000 and --snapshot-interval-s >= 1\n");
        return 2;
    }

    warmup::test::TempDir dir("warmup-scale-bench");
    const auto state_dir = dir.path() / "state";
    const auto config = dir.write("scale.yaml", config_yaml(state_dir, journal, snapshot_interval_s));
    warmup::test::Daemon daemon({"--config", config.string(), "--port", "0"});
    const int port = daemon.wait_until_listening();
    if (port == 0) {
        std::fprintf(stderr, "model_scale_bench: warmupd did not start:\n%s\n", daemon.log().c_str());
        return 1;
    }
    httplib::Client http("127.0.0.1", port);
    http.set_read_timeout(120, 0);
    http.set_tcp_nodelay(true);
    const pid_t pid = daemon.pid();
    const int64_t rss_idle_kb = proc_status_kb(pid, "VmRSS");

    // 2. 24 past uses per model, in time order, then one request each now.
    constexpr int kPastUses = 24;
    const int64_t now_ms = system_now_ms();
    std::vector<std::pair<int64_t, int>> history;
    history.reserve(static_cast<std::size_t>(models) * kPastUses);
    for (int model = 0; model < models; ++model) {
        const int64_t period_ms = (5 + model % 50) * 60'000LL;
        for (int use = kPastUses; use >= 1; --use) history.emplace_back(now_ms - 60'000 - use * period_ms, model);
    }
    std::sort(history.begin(), history.end());
    std::string body;
    for (std::size_t i = 0; i < history.size(); ++i) {
        body += "{\"model\":\"m/" + std::to_string(history[i].second) +
                "\",\"ts_ms\":" + std::to_string(history[i].first) + "}\n";
        if ((i + 1) % 5000 == 0 || i + 1 == history.size()) {
            if (!post_events(http, body)) return 1;
            body.clear();
        }
    }
    for (int model = 0; model < models; ++model) {
        body += "{\"model\":\"m/" + std::to_string(model) + "\"}\n";
        if ((model + 1) % 5000 == 0 || model + 1 == models) {
            if (!post_events(http, body)) return 1;
            body.clear();
        }
    }
    const bool settled = warmup::test::poll_until(
        [&] {
            const auto answer = http.Get("/api/warmup/status?limit=1");
            if (!answer || answer->status != 200) return false;
            const json status = json::parse(answer->body);
            return status["counters"]["requests"].get<int64_t>() >= models && status["queue_depth"] == 0 &&
                   status["loads_in_flight"] == 0 && status["memory_waiters"] == 0;
        },
        std::chrono::minutes(5), std::chrono::milliseconds(200));
    if (!settled) {
        std::fprintf(stderr, "model_scale_bench: the daemon did not settle within 5 minutes\n");
        return 1;
    }
    const int64_t rss_active_kb = proc_status_kb(pid, "VmRSS");
    const int64_t hwm_active_kb = proc_status_kb(pid, "VmHWM");

    // 4. The peak across a periodic snapshot, then across a backup: VmHWM reset before each, read after it.
    if (!reset_peak_rss(pid)) {
        std::fprintf(stderr, "model_scale_bench: cannot reset VmHWM (/proc/%d/clear_refs)\n", static_cast<int>(pid));
        return 1;
    }
    const std::string before = newest_periodic_snapshot(state_dir);
    const bool periodic_written =
        warmup::test::poll_until([&] { return newest_periodic_snapshot(state_dir) > before; },
                                 std::chrono::seconds(snapshot_interval_s * 2 + 30), std::chrono::milliseconds(20));
    if (!periodic_written) {
        std::fprintf(stderr, "model_scale_bench: no periodic snapshot within %lld s\n",
                     static_cast<long long>(snapshot_interval_s * 2 + 30));
        return 1;
    }
    // The file is renamed into place before the snapshot thread prunes old snapshots and journal segments and
    // appends to the metrics history: give those their moment inside the measured window.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const int64_t hwm_periodic_kb = proc_status_kb(pid, "VmHWM");
    const std::uintmax_t periodic_bytes = std::filesystem::file_size(state_dir / newest_periodic_snapshot(state_dir));

    reset_peak_rss(pid);
    const auto backup_started = Clock::now();
    const auto backup = http.Post("/api/warmup/backup-state", "{\"name\": \"scale\"}", "application/json");
    const double backup_ms = std::chrono::duration<double, std::milli>(Clock::now() - backup_started).count();
    if (!backup || backup->status != 200) {
        std::fprintf(stderr, "model_scale_bench: backup-state failed\n");
        return 1;
    }
    const std::uintmax_t snapshot_bytes = std::filesystem::file_size(state_dir / "backup-scale.wsnap");
    const int64_t rss_snapshot_kb = proc_status_kb(pid, "VmRSS");
    const int64_t hwm_snapshot_kb = proc_status_kb(pid, "VmHWM");

    // 5. Pages, then the whole lists.
    Walk predictions, status;
    if (!walk_pages(http, "/api/warmup/predictions", page, predictions) ||
        !walk_pages(http, "/api/warmup/status", page, status)) {
        std::fprintf(stderr, "model_scale_bench: a page could not be read\n");
        return 1;
    }
    const int64_t rss_pages_kb = proc_status_kb(pid, "VmRSS");
    const int64_t hwm_pages_kb = proc_status_kb(pid, "VmHWM");
    std::vector<std::pair<std::string, WholeRead>> whole;
    for (const char* path : {"/api/warmup/predictions", "/api/warmup/status"}) {
        WholeRead read;
        if (!read_whole(http, port, path, read)) return 1;
        whole.emplace_back(path, read);
    }
    const int64_t rss_whole_kb = proc_status_kb(pid, "VmRSS");
    const int64_t hwm_whole_kb = proc_status_kb(pid, "VmHWM");
    std::vector<std::pair<std::string, WholeRead>> page_reads;  // what the status page reads every 3 s
    for (const char* path :
         {"/api/warmup/predictions?soonest=50&within_ms=3600000", "/api/warmup/status?per_state=50"}) {
        WholeRead read;
        if (!read_whole(http, port, path, read)) return 1;
        page_reads.emplace_back(path, read);
    }

    std::printf("model_scale_bench: %d models, warmupd pid %d (default plugin set, journal %s)\n", models,
                static_cast<int>(pid), journal ? "on" : "off");
    std::printf("  RSS idle (no model)            %7.1f MiB\n", mib(rss_idle_kb));
    std::printf("  RSS with every model active    %7.1f MiB  (peak so far %.1f MiB); %.0f bytes per model\n",
                mib(rss_active_kb), mib(hwm_active_kb),
                static_cast<double>(rss_active_kb - rss_idle_kb) * 1024.0 / models);
    std::printf("  peak across a periodic snapshot %6.1f MiB  (VmHWM reset before it; a %.1f MiB file)\n",
                mib(hwm_periodic_kb), static_cast<double>(periodic_bytes) / (1024.0 * 1024.0));
    std::printf(
        "  peak across backup-state        %6.1f MiB  (VmHWM reset before it; %.1f MiB file in %.0f ms); "
        "RSS after %.1f MiB\n",
        mib(hwm_snapshot_kb), static_cast<double>(snapshot_bytes) / (1024.0 * 1024.0), backup_ms, mib(rss_snapshot_kb));
    for (const auto& [name, walk] : {std::pair<const char*, const Walk&>{"predictions", predictions},
                                     std::pair<const char*, const Walk&>{"status", status}})
        std::printf("  %-11s pages of %lld: %3d pages, %zu entries, %.1f MiB; per page p50 %.1f ms, max %.1f ms\n",
                    name, static_cast<long long>(page), walk.pages, walk.entries,
                    static_cast<double>(walk.bytes) / (1024.0 * 1024.0), percentile(walk.page_ms, 0.5),
                    percentile(walk.page_ms, 1.0));
    std::printf("  after reading every page       %7.1f MiB  (peak %.1f MiB)\n", mib(rss_pages_kb), mib(hwm_pages_kb));
    for (const auto& [path, read] : whole)
        std::printf("  %-24s unpaginated: %.1f ms, %.1f MiB; the control loop answered within %.1f ms meanwhile\n",
                    path.c_str(), read.ms, static_cast<double>(read.bytes) / (1024.0 * 1024.0),
                    read.longest_control_ms);
    std::printf("  after the unpaginated reads    %7.1f MiB  (peak %.1f MiB)\n", mib(rss_whole_kb), mib(hwm_whole_kb));
    for (const auto& [path, read] : page_reads)
        std::printf("  status page: %-52s %.1f ms, %.1f KiB; the control loop answered within %.1f ms meanwhile\n",
                    path.c_str(), read.ms, static_cast<double>(read.bytes) / 1024.0, read.longest_control_ms);

    // 6. A restart from the state just written.
    ::kill(pid, SIGTERM);
    if (!daemon.wait_exit(std::chrono::minutes(2))) {
        std::fprintf(stderr, "model_scale_bench: warmupd did not stop within 2 minutes\n");
        return 1;
    }
    warmup::test::Daemon restarted({"--config", config.string(), "--port", "0"});
    if (restarted.wait_until_listening() == 0) {
        std::fprintf(stderr, "model_scale_bench: warmupd did not restart:\n%s\n", restarted.log().c_str());
        return 1;
    }
    const int64_t rss_restarted_kb = proc_status_kb(restarted.pid(), "VmRSS");
    const int64_t hwm_restarted_kb = proc_status_kb(restarted.pid(), "VmHWM");
    std::printf(
        "  restarted from that state       %6.1f MiB  (peak %.1f MiB: start, snapshot read back and imported, "
        "journal replayed)\n",
        mib(rss_restarted_kb), mib(hwm_restarted_kb));

    const int64_t bound_kb = rss_bound_mb * 1024;
    const bool steady_ok = rss_active_kb > 0 && rss_active_kb <= bound_kb;
    const bool snapshots_ok =
        hwm_periodic_kb > 0 && hwm_periodic_kb <= bound_kb && hwm_snapshot_kb > 0 && hwm_snapshot_kb <= bound_kb;
    std::printf("RSS with %d models active %.1f MiB, peak across a snapshot %.1f MiB: %s (bound %lld MiB)\n", models,
                mib(rss_active_kb), mib(std::max(hwm_periodic_kb, hwm_snapshot_kb)),
                steady_ok && snapshots_ok ? "PASS" : "FAIL", static_cast<long long>(rss_bound_mb));
    return steady_ok && snapshots_ok ? 0 : 1;
}
