// warmupd — the warm-up daemon: loads the configured plugins and serves the HTTP API until SIGINT/SIGTERM.
//
//   warmupd [--config FILE] [--port N] [--bind ADDRESS] [--shutdown-delay-ms N] [--resolve-wait-s N]
//   warmupd --version        version, plugin ABI and git commit of this build
//
// Fleet (cluster: in the YAML, docs/fleet.md): the node joins the fleet in Redis before it serves events, routes every
// posted event to the node that owns its model, and serves GET /api/warmup/cluster (without `cluster:` that route
// answers {"enabled": false}).
//
// Readiness: GET /readyz answers 200 once the plugins are loaded and the state is restored (requests that arrive
// before wait in the listen queue), and 503 from the stop signal on; with --shutdown-delay-ms the daemon keeps
// serving that long after the signal (load balancers see /readyz fail and stop sending) before it closes the port.
// Under systemd (Type=notify) it sends READY=1 at that same point and STOPPING=1 at the stop signal (sd_notify; a
// no-op outside such a unit).
//
// State (state: in the YAML): snapshots every state.snapshot_interval_s into state.dir, the newest valid one (or a
// named backup taken after it) restored at start (corrupt or truncated ones are logged STATE_RESTORE_ERROR and
// skipped), a last one taken at a clean stop; with state.journal every accepted event is journaled (flushed every
// 0.5 s) and the journal after the restored state is replayed at start, so a crash loses at most the last second.
//
// SIGHUP (or POST /api/warmup/config/reload, or reload.watch_file: true) reloads the configuration file: the
// components whose choice or params changed are hot-swapped.
//
// One daemon per state folder: the folder is locked (flock on <state.dir>/warmupd.lock) for the daemon's whole run; a
// second daemon on the same folder stops with STATE_DIR_IN_USE naming the folder and the other daemon's pid. The kernel
// drops the lock when its holder dies, so a killed daemon's lock file never blocks a restart.
//
// One daemon per fleet node id: a second daemon with the cluster.node_id of a running one stops with
// CLUSTER_NODE_ID_IN_USE naming the other (cluster/fleet_node.hpp); a killed node's id is free again once its
// registration lapses (1.5 heartbeats), which a restart waits for.
//
// Exit status: 0 after a clean stop, 2 when the command line, the configuration or a plugin is refused, the HTTP
// address cannot be bound (in use, e.g. by another warmupd, or not permitted), the state folder is another daemon's or
// the fleet node id is another running daemon's; nothing is left running then. A host name in --bind or http.bind
// whose lookup fails for a temporary reason (no resolver reachable yet, as at boot) is looked up again every second
// for up to --resolve-wait-s (60 s by default); if it still cannot be looked up, the exit status is 75 (EX_TEMPFAIL),
// on which the shipped unit restarts it (2 is never restarted: trying again cannot help).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>

#include "cluster/fleet_node.hpp"
#include "config/config.hpp"
#include "core/paths.hpp"
#include "http/api_json.hpp"
#include "http/http_api.hpp"
#include "http/security.hpp"
#include "runtime/crash_report.hpp"
#include "runtime/live_runtime.hpp"
#include "runtime/log_format.hpp"
#include "version/build_info.hpp"

namespace {

using namespace warmup::host;

/// The command line of warmupd.
struct DaemonOptions {
    std::string config_file;
    std::optional<int> port;
    std::optional<std::string> bind;
    int64_t shutdown_delay_ms = 0;
    int64_t resolve_wait_s = 60;
};

/// Exit status when the bind address's host name still cannot be looked up after --resolve-wait-s (sysexits.h's
/// EX_TEMPFAIL: a temporary failure, worth a restart).
constexpr int kExitTemporaryFailure = 75;

/// Malloc tuning for a long-running daemon with large, short-lived blocks.
void tune_malloc() {
    // Blocks of 256 KiB and more are mapped on their own and go back to the system when freed. glibc's default raises
    // that threshold to the size of the largest block freed so far (up to 32 MiB), after which the per-model tables
    // the plugins grow (megabytes at 10 k models), the snapshot buffers (every snapshot interval) and large HTTP
    // answers stay resident in the heap once freed: 10-20 MiB of RSS at 10 k models. A fixed threshold stops that.
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    // Two malloc arenas instead of up to 16 (8 per core): every HTTP thread that parses a body otherwise gets an arena
    // of its own that keeps a few hundred KiB after the body is freed (3-4 MiB of RSS at 10 k models). Ingest speed
    // is the same with two (build/bench/ingest_load_bench, alternating runs: 1.6-2.3 M events/s against 1.5-1.6 M).
    mallopt(M_ARENA_MAX, 2);
}

/// The configuration to start with (the file, or the embedded default) with the command-line overrides; nullopt
/// (after saying why on stderr) when it cannot be read.
std::optional<Config> read_daemon_config(const DaemonOptions& options) {
    Config config;
    try {
        config = options.config_file.empty() ? load_config_text(embedded_default_config, "<embedded default.yaml>",
                                                                std::filesystem::current_path(), executable_dir())
                                             : load_config_file(options.config_file, executable_dir());
    } catch (const std::exception& error) {  // a ConfigError, or a file that cannot be read
        startup_log().critical("CONFIG_ERROR {}", error.what());
        return std::nullopt;
    }
    if (options.port) config.http.port = static_cast<uint16_t>(*options.port);
    if (options.bind) config.http.bind = *options.bind;  // refused by the parser of --bind unless it may resolve later
    return config;
}

/// Whether the bind address names an address now, waiting out a lookup that fails for a temporary reason (EAI_AGAIN:
/// no resolver reachable yet, as at boot before the network is up): the name is looked up again every second for up
/// to --resolve-wait-s, and a stop signal (SIGINT, SIGTERM; not SIGHUP) ends the wait. Runs before the access-token
/// check, for which a name that names no address would otherwise be "not a loopback address". Returns nullopt to go on,
/// else the exit status: 2 when the name does not resolve, kExitTemporaryFailure when it still cannot be looked up
/// after the wait, 0 on a stop signal.
std::optional<int> await_bind_address(const Config& config, const DaemonOptions& options,
                                      const sigset_t& stop_signals) {
    const std::string where = options.bind ? "--bind" : config.locate("http.bind") + ": http.bind";
    bool temporary = false;
    double waited_s = 0;
    // A lookup itself may take seconds (the resolver's own timeouts), with the stop signals held until it returns.
    auto problem = bind_address_resolution_problem(config.http.bind, &temporary);
    if (problem && temporary) {
        startup_log().warn("BIND_ADDRESS_WAIT {}: {}; looking it up again every second for up to {} s", where, *problem,
                           options.resolve_wait_s);
        // Under systemd the start must not time out meanwhile (TimeoutStartSec, 90 s by default): its deadline is
        // moved to no earlier than the wait plus 30 s from now (a lookup's own timeouts), and once the name resolves
        // to no earlier than 90 s from then, for the plugins, the state and the fleet.
        sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%lld\nSTATUS=waiting to look up the bind address %s",
                   static_cast<long long>(options.resolve_wait_s + 30) * 1'000'000, config.http.bind.c_str());
        const auto started = std::chrono::steady_clock::now();
        const auto deadline = started + std::chrono::seconds(options.resolve_wait_s);
        while (problem && temporary && std::chrono::steady_clock::now() < deadline) {
            const timespec one_second{1, 0};
            const int received = sigtimedwait(&stop_signals, nullptr, &one_second);
            if (received == SIGINT || received == SIGTERM) {
                startup_log().info("SHUTDOWN stop signal while waiting to look up {}", where);
                return 0;
            }
            if (received == SIGHUP)  // nothing runs yet: the configuration read before the wait is the one started
                startup_log().warn("SIGHUP ignored while waiting to look up {}", where);
            problem = bind_address_resolution_problem(config.http.bind, &temporary);
        }
        waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (!problem) {
            startup_log().info("BIND_ADDRESS_RESOLVED {} '{}' looked up after {:.0f} s", where, config.http.bind,
                               waited_s);
            sd_notify(0, "EXTEND_TIMEOUT_USEC=90000000\nSTATUS=starting");
        }
    }
    if (!problem) return std::nullopt;
    if (temporary) {
        startup_log().error(
            "BIND_ADDRESS_UNRESOLVED {}: {} after {:.0f} s of trying; exit status {} (temporary: a unit with "
            "Restart=on-failure starts warmupd again)",
            where, *problem, waited_s, kExitTemporaryFailure);
        return kExitTemporaryFailure;
    }
    startup_log().critical("CONFIG_ERROR {}: {}", where, *problem);
    return 2;
}

/// The host part of a URL for a bind address: an IPv6 address in brackets (RFC 3986), http://[::1]:3000.
std::string url_host(const std::string& bind) { return bind.find(':') != std::string::npos ? "[" + bind + "]" : bind; }

/// The fleet (opt-in, `cluster:`), not started yet; nullptr without `cluster:`. Throws when it cannot reach Redis.
std::unique_ptr<cluster::FleetNode> make_fleet(const Config& config, LiveRuntime& runtime, int bound_port) {
    if (!config.cluster.enabled) return nullptr;
    const std::string advertise = config.cluster.advertise_url.empty()
                                      ? fmt::format("http://{}:{}", url_host(config.http.bind), bound_port)
                                      : config.cluster.advertise_url;
    return std::make_unique<cluster::FleetNode>(runtime, config, advertise);
}

/// The fleet node's link to Redis as the "cluster" component of GET /api/warmup/health/components: degraded while Redis
/// does not answer or refuses commands (the node decides on its last placement meanwhile), while another process
/// holds its node id, while its outbox file cannot be written, and for the process's life after the outbox file did
/// not read completely at start.
ComponentHealth cluster_component_health(const cluster::FleetHealth& fleet) {
    ComponentHealth component;
    component.component = "cluster";
    component.errors = fleet.redis_errors + fleet.outbox_file_errors;
    component.last_error = fleet.last_redis_error;
    component.last_error_unix_ms = fleet.last_redis_error_unix_ms;
    if (fleet.last_outbox_file_error_unix_ms > component.last_error_unix_ms) {
        component.last_error = fleet.last_outbox_file_error;
        component.last_error_unix_ms = fleet.last_outbox_file_error_unix_ms;
    }
    std::vector<std::string> reasons;
    if (!fleet.node_id_conflict.empty())
        reasons.push_back(fmt::format("this node's id is registered by {}: two warmupd share one cluster.node_id",
                                      fleet.node_id_conflict));
    if (!fleet.placement_inputs_differ.empty())
        reasons.push_back(fmt::format(
            "nodes place models by another catalog or other cluster settings (load_slack, replica_capacity_rps): {}; "
            "give every node the same",
            fleet.placement_inputs_differ));
    if (!fleet.redis_reachable)
        reasons.push_back(
            fmt::format("Redis at {} does not answer or refuses commands ({}); deciding on the last placement, "
                        "events for other nodes wait in the outbox",
                        fleet.redis_url, fleet.last_redis_error.empty() ? "not reached yet" : fleet.last_redis_error));
    if (!fleet.outbox_restore_problem.empty()) reasons.push_back(fleet.outbox_restore_problem);
    if (!fleet.outbox_write_failure.empty())
        reasons.push_back(fmt::format(
            "the outbox file cannot be written ({}): events for other nodes are kept in memory only until it can",
            fleet.outbox_write_failure));
    component.degraded = !reasons.empty();
    component.reason = fmt::format("{}", fmt::join(reasons, "; "));
    return component;
}

/// Membership and the first placement before events are served, so the first event already goes to its owner; the
/// fleet then routes POST /api/warmup/events and serves GET /api/warmup/cluster. Without a fleet (`fleet` null),
/// GET /api/warmup/cluster says it is off. `fleet` outlives the API's serving.
void serve_fleet(cluster::FleetNode* fleet, HttpApi& api) {
    if (fleet == nullptr) {
        api.add_get_route("/api/warmup/cluster", [] {
            return nlohmann::json{
                {"enabled", false}, {"nodes", nlohmann::json::array()}, {"owners", nlohmann::json::object()}};
        });
        return;
    }
    fleet->start();  // NodeIdInUse: another process holds this node's id
    api.set_event_router([fleet](std::span<const warmup_usage_event> events) {
        auto routed = fleet->route_events(events);
        return HttpApi::RoutedEvents{routed.accepted, std::move(routed.outbox_refusal)};
    });
    api.add_get_route("/api/warmup/cluster", [fleet] { return fleet->cluster_json(); });
    api.set_fleet_metrics([fleet] { return FleetMetricsView{fleet->counters(), fleet->redis_reachable()}; });
    api.set_extra_component_health([fleet] { return cluster_component_health(fleet->health()); });
}

/// Blocks SIGINT, SIGTERM and SIGHUP (reload) in this thread and every thread started after, so that the main
/// thread alone takes them with sigwait. Returns that set.
sigset_t block_stop_signals() {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);  // reload the configuration file
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    return stop_signals;
}

/// Logs the answer of a reload from the file (SIGHUP, reload.watch_file) on one line. Never throws: the answer may
/// quote bytes that are not UTF-8 (a file path, a plugin's or the dynamic loader's message), which log_text escapes;
/// a strict dump would throw there, out of main or out of the watcher's thread, and end the daemon.
void log_reload_result(const ReloadResult& result) {
    spdlog::info("CONFIG_RELOAD result {}", log_text(reload_json(result)));
}

/// Waits for SIGINT or SIGTERM (blocked in every thread), reloading the configuration file on each SIGHUP meanwhile.
/// Returns the stop signal.
int wait_for_stop_signal(const sigset_t& stop_signals, const Config& config, LiveRuntime& runtime) {
    int signal_number = 0;
    for (;;) {
        sigwait(&stop_signals, &signal_number);
        if (signal_number != SIGHUP) return signal_number;
        spdlog::info("CONFIG_RELOAD SIGHUP received, reloading {}",
                     config.source_file.empty() ? std::string("(none: the embedded default configuration runs)")
                                                : config.source_file.string());
        log_reload_result(runtime.reload_from_file());
    }
}

/// Keeps serving `delay_ms` with /readyz answering 503 (the caller marked the API stopping). A second SIGINT/SIGTERM
/// ends the delay at once; a SIGHUP now is ignored (no reload while stopping).
void serve_shutdown_delay(const sigset_t& stop_signals, int64_t delay_ms) {
    if (delay_ms <= 0) return;
    spdlog::info("SHUTDOWN /readyz answers 503; serving {} ms more before closing the port", delay_ms);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms);
    for (auto now = std::chrono::steady_clock::now(); now < deadline; now = std::chrono::steady_clock::now()) {
        const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count();
        const timespec timeout{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
        const int received = sigtimedwait(&stop_signals, nullptr, &timeout);
        if (received == SIGINT || received == SIGTERM) break;
    }
}

}  // namespace

// Long: the daemon's start-up and shutdown steps in order, each failure answered where it happens.
int main(int argc, char** argv) {
    tune_malloc();
    CLI::App app{"warmupd: loads models shortly before they are needed and unloads them when they will not be"};
    DaemonOptions options;
    app.add_option("--config", options.config_file, "YAML configuration (default: the embedded configs/default.yaml)");
    app.add_option("--port", options.port, "HTTP port (0 = pick a free port and log it); overrides http.port")
        ->check(CLI::Range(0, 65535));
    app.add_option("--bind", options.bind, "HTTP bind address; overrides http.bind")
        ->check(CLI::Validator(
            [](const std::string& address) {
                // A lookup that fails for a temporary reason is waited out after the configuration is read.
                bool temporary = false;
                const auto problem = bind_address_resolution_problem(address, &temporary);
                return temporary ? std::string() : problem.value_or(std::string());
            },
            "ADDRESS"));
    app.add_option("--shutdown-delay-ms", options.shutdown_delay_ms,
                   "after SIGTERM/SIGINT, keep serving this long with /readyz answering 503 before stopping")
        ->check(CLI::Range(int64_t{0}, int64_t{600000}));
    app.add_option("--resolve-wait-s", options.resolve_wait_s,
                   "at start, how long to keep looking up a --bind or http.bind host name whose lookup fails for a "
                   "temporary reason (no resolver reachable yet) before exiting with status 75")
        ->check(CLI::Range(int64_t{0}, int64_t{3600}));
    app.set_version_flag("--version", version_line("warmupd"), "print the version, plugin ABI and git commit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        // --help and --version exit 0 through CLI11; a usage error is a refused start: exit 2, like the others.
        return app.exit(error) == 0 ? 0 : 2;
    }

    const sigset_t stop_signals = block_stop_signals();
    // A file size limit (ulimit -f, LimitFSIZE=) reached by a snapshot or the journal makes that write fail with
    // EFBIG, which is handled like a full disk, instead of killing the daemon with SIGXFSZ.
    std::signal(SIGXFSZ, SIG_IGN);

    const std::optional<Config> read = read_daemon_config(options);
    if (!read) return 2;
    const Config& config = *read;
    configure_logging(config.log_level, config.log_format);
    if (const auto status = await_bind_address(config, options, stop_signals)) return *status;
    // A non-loopback bind needs an access token; then every mutating request must carry it.
    if (const auto refused = bind_refusal_reason(config.http.bind, config.http.resolved_access_token(),
                                                 config.http.access_token_source())) {
        startup_log().critical("SECURITY_ERROR {}", *refused);
        return 2;
    }
    for (const std::string& notice : config.notices) spdlog::info("CONFIG_NOTICE {}", notice);

    // A plugin that crashes the process is named on the way out, from its creation on (the report reads only what the
    // crashing thread marked, core/plugin_call_on_thread.hpp).
    const CrashReport crash_report(CrashReportText{
        "warmupd",
        "The next start replays the journal into the same plugins, so a plugin that crashes on what it learned "
        "crashes again: take it out of the configuration (or back to the build before) before restarting.",
        "a thread a backend or source plugin started, or the host itself", "control"});
    std::unique_ptr<LiveRuntime> runtime;
    try {
        runtime = std::make_unique<LiveRuntime>(config);
    } catch (const std::exception& error) {
        startup_log().critical("PLUGIN_LOAD_ERROR {}", error.what());
        return 2;
    }
    // The YAML parser's tree of the configuration (about 3.5 KB per listed catalog entry, ~70 MB at 20,000) is freed
    // by now, in blocks malloc keeps: give those pages back before serving.
    malloc_trim(0);
    runtime->set_http_overrides(
        options.bind, options.port ? std::optional<uint16_t>(static_cast<uint16_t>(*options.port)) : std::nullopt);
    // The address is claimed first: a daemon that cannot have it (another warmupd listens there) stops before it
    // touches the state folder, which may be that other daemon's.
    HttpApi api(*runtime);
    int bound_port = 0;
    try {
        bound_port = api.bind(config.http.bind, config.http.port);
    } catch (const std::exception& error) {
        startup_log().critical(
            "HTTP_BIND_ERROR {} (another address: --port and --bind, or http.port and http.bind in the configuration)",
            error.what());
        return 2;
    }
    // Durable state: the folder is claimed before the control loop starts (a daemon that cannot have it talks to no
    // model server), and the newest valid snapshot is restored before requests are served (clients that connect
    // meanwhile wait in the listen queue), so the first request is answered with what was learned before.
    const auto with_state_folder = [&](auto&& step) {
        try {
            step();
            return true;
        } catch (const StateDirBusy& error) {
            startup_log().critical("STATE_DIR_IN_USE {}", error.what());
        } catch (const std::exception& error) {
            startup_log().critical("STATE_ERROR cannot use the state folder {}: {}", config.state.dir.string(),
                                   error.what());
        }
        runtime->stop();
        return false;
    };
    if (!with_state_folder([&] { runtime->claim_state_dir(); })) return 2;
    runtime->start();
    if (!with_state_folder([&] { runtime->start_state_keeping(); })) return 2;
    std::unique_ptr<cluster::FleetNode> fleet;
    try {
        fleet = make_fleet(config, *runtime, bound_port);
    } catch (const std::exception& error) {
        startup_log().critical("CONFIG_ERROR {}: cluster.redis: {}", config.locate("cluster.redis"), error.what());
        runtime->stop();
        return 2;
    }
    try {
        serve_fleet(fleet.get(), api);
    } catch (const cluster::NodeIdInUse& error) {
        startup_log().critical("CLUSTER_NODE_ID_IN_USE {}", error.what());
        runtime->stop();
        return 2;
    }
    api.start();
    runtime->start_sources();  // after the journal replay: a source's events come after what was learned before
    api.mark_ready();
    const std::string listening = url_host(config.http.bind);  // can be pasted into curl
    spdlog::info("STARTUP warmupd listening on http://{}:{} (config {}; {})", listening, bound_port,
                 config.display_name, version_line("warmupd"));
    sd_notifyf(0, "READY=1\nSTATUS=listening on http://%s:%d", listening.c_str(), bound_port);

    // reload.watch_file (opt-in): reloads when the file changes, on the watcher's thread. Reloads turn it on or off
    // and change its interval live, so it runs whatever the configuration says now.
    runtime->start_config_file_watch([&live = *runtime] { log_reload_result(live.reload_from_file()); });
    const int signal_number = wait_for_stop_signal(stop_signals, config, *runtime);
    spdlog::info("SHUTDOWN received {}, stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    api.mark_stopping();
    sd_notify(0, "STOPPING=1");
    serve_shutdown_delay(stop_signals, options.shutdown_delay_ms);
    runtime->stop_config_file_watch();
    // A request held by a plugin call that does not return (a reload planning every model with a plugin that hangs)
    // would hold the stop for as long: past budgets.plugin_call_stall_ms the stop goes on without it, and ends with
    // status 1 like any stop a stalled call prevents.
    const std::optional<std::string> request_held = api.stop([&live = *runtime] { return live.stalled_in_plugin(); });
    if (request_held)
        spdlog::critical(
            "SHUTDOWN_STALLED an HTTP request being served waits on it: {}; the daemon cannot stop "
            "cleanly",
            *request_held);
    if (fleet) fleet->stop();  // hands the owned models' state over while the control loop still runs
    if (!runtime->stop() || request_held) {
        // A plugin call that never returns holds the control thread, or a backend unload past its deadline holds a
        // worker; nothing can end it but the end of the process. The journal has every event acknowledged up to its
        // last flush; the next start replays it.
        spdlog::critical(
            "SHUTDOWN exiting with status 1: a call that does not return keeps the daemon from stopping "
            "cleanly (SHUTDOWN_STALLED above)");
        spdlog::shutdown();
        std::_Exit(1);
    }
    if (runtime->state_lost_at_stop()) {
        // A supervisor (systemd) must not record a clean stop when the state on disk is older than the process's.
        spdlog::error("SHUTDOWN the last snapshot or journal write failed (logged above): exiting with status 1");
        return 1;
    }
    spdlog::info("SHUTDOWN done");
    return 0;
}
