// http/http_api.hpp — the operator's HTTP API (cpp-httplib) over a LiveRuntime.
//
// Every route is registered here with its method; a request for a known path with another method gets 405 with an
// Allow header, an unknown path 404, both before any body is read. POST bodies are read by read_request_body
// (http_server.hpp): empty without Content-Length or Transfer-Encoding, capped at http.max_body_mb however framed.
// The access token follows reloads (a reload that changes it applies it at once).
//
// Readiness (GET /readyz): 503 "starting" until the daemon calls mark_ready() (plugins loaded, state restored), 200
// "ready" after, 503 "stopping" once mark_stopping() was called; GET /healthz (liveness) answers 200 throughout.
// GET /api/warmup/status carries the build (version, ABI, commit) and the start time; /metrics appends
// warmup_build_info{version,abi,commit} 1, warmup_start_time_seconds and the daemon's own series (daemon_metrics.hpp)
// to the metrics plugin's text. GET /api/warmup/predictions and /api/warmup/status take ?limit=&after= (catalog
// order, a next_after cursor; http/model_page.hpp); without them they list every model. For a bounded view (the status
// page) predictions take ?soonest=N&within_ms=W (the N models whose next event is soonest) and status ?per_state=N.
//
// Threads: HttpServer's pool runs the handlers; anything that reads plugin or engine state is marshalled onto the
// control thread with LiveRuntime::call_on_control, so plugins still see a single thread. GET /api/warmup/decisions
// reads the runtime's DecisionLog directly (it has its own lock) and does not stop the control loop.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/log_throttle.hpp"
#include "core/tenant_hash.hpp"
#include "http/daemon_metrics.hpp"
#include "http/http_server.hpp"
#include "http/security.hpp"
#include "runtime/live_runtime.hpp"

namespace warmup::host {

class HttpApi {
  public:
    /// Serves `runtime` with the connection limits of its http configuration.
    explicit HttpApi(LiveRuntime& runtime);
    HttpApi(LiveRuntime& runtime, HttpServerOptions options);
    ~HttpApi();

    /// Binds (port 0 = any free port) and returns the bound port. Throws std::runtime_error naming the address when
    /// it cannot bind, also when another process listens on it.
    int bind(const std::string& address, int port);
    /// Serves on a background thread until stop().
    void start();
    /// Stops accepting connections and waits for the requests being served to end. While one is still served after
    /// a second, `give_up` is asked every 50 ms: once it answers (a request waits on a plugin call that does not
    /// return, e.g. a reload's), the wait ends and that answer is returned; the serving thread is then left running, so
    /// the process must end without destroying this object (warmupd exits with status 1). nullopt: stopped.
    std::optional<std::string> stop(const std::function<std::optional<std::string>()>& give_up = {});

    /// What an event router took: `accepted` events, a prefix of the span (the rest are refused with 503), and why
    /// it refused the rest when the reason is its own ("": the ingest queue's, LiveRuntime::ingest_refusal_reason).
    struct RoutedEvents {
        std::size_t accepted = 0;
        std::string refusal;
    };
    /// Before start(): events accepted by POST /api/warmup/events go to `router` instead of LiveRuntime::try_ingest
    /// (the fleet routes each event to the node that owns its model). Called on HTTP threads.
    using EventRouter = std::function<RoutedEvents(std::span<const warmup_usage_event>)>;
    void set_event_router(EventRouter router) { event_router_ = std::move(router); }
    /// Before start(): one more GET route (a component outside the API, such as the fleet, serves its own view).
    void add_get_route(const std::string& path, std::function<nlohmann::json()> body);
    /// Before start(): a fleet node's counters for GET /metrics (warmup_fleet_*; none without it). [any thread]
    void set_fleet_metrics(std::function<FleetMetricsView()> source) { fleet_metrics_ = std::move(source); }
    /// Before start(): one more component for GET /api/warmup/health/components and the warmup_component_degraded
    /// series of GET /metrics, after the runtime's (the fleet's "cluster"). [any thread]
    void set_extra_component_health(std::function<ComponentHealth()> source) {
        extra_component_health_ = std::move(source);
    }

    /// [any thread] GET /readyz answers 200 from now on (until mark_stopping()).
    void mark_ready() noexcept { phase_.store(Phase::Ready); }
    /// [any thread] GET /readyz answers 503 "stopping" from now on; every other route is still served until stop().
    void mark_stopping() noexcept { phase_.store(Phase::Stopping); }

  private:
    /// The address the server listens on (empty before bind()): a reload that drops the access token is judged on
    /// it, not on the configuration in force, whose http.bind a reload changes only for the next start.
    [[nodiscard]] std::string bound_address() const;

    enum class Phase { Starting, Ready, Stopping };
    using BodyHandler = std::function<void(const httplib::Request&, httplib::Response&, const std::string& body)>;

    using GetHandler = void (HttpApi::*)(const httplib::Request&, httplib::Response&);
    using PostHandler = void (HttpApi::*)(const httplib::Request&, httplib::Response&, const std::string& body);

    /// The query parameters an endpoint takes; any other is refused with 400 before its handler runs (a POST with
    /// `?dry_run=1` must not ingest as if it were understood).
    using QueryParams = std::vector<std::string_view>;

    /// Registers every endpoint with its handler below (the route table).
    void routes();
    void get(const std::string& path, GetHandler handler, QueryParams params = {});
    void post(const std::string& path, PostHandler handler, QueryParams params = {});
    void get(const std::string& path, httplib::Server::Handler handler, QueryParams params = {});
    void post(const std::string& path, BodyHandler handler, QueryParams params = {});

    // ----- One handler per endpoint, on an HTTP pool thread; the file that holds each is named above it.
    // http_api.cpp: liveness, readiness, the status page and its assets (without a token).
    void get_healthz(const httplib::Request& request, httplib::Response& response);
    void get_readyz(const httplib::Request& request, httplib::Response& response);
    /// The body of /healthz and /readyz while the control loop is stalled.
    static nlohmann::json stalled_json(const LiveRuntime::ControlStall& stall);
    void get_status_page(const httplib::Request& request, httplib::Response& response);
    // events_endpoint.cpp: POST /api/warmup/events.
    void post_events(const httplib::Request& request, httplib::Response& response, const std::string& body);
    // status_endpoints.cpp: GET /api/warmup/status, /plugins, /predictions, /experiments, /health/components.
    void get_status(const httplib::Request& request, httplib::Response& response);
    void get_plugins(const httplib::Request& request, httplib::Response& response);
    void get_predictions(const httplib::Request& request, httplib::Response& response);
    void get_experiments(const httplib::Request& request, httplib::Response& response);
    void get_component_health(const httplib::Request& request, httplib::Response& response);
    // decisions_endpoint.cpp: GET /api/warmup/decisions.
    void get_decisions(const httplib::Request& request, httplib::Response& response);
    // metrics_endpoint.cpp: GET /metrics and GET /api/warmup/history (counters over time).
    void get_metrics(const httplib::Request& request, httplib::Response& response);
    void get_history(const httplib::Request& request, httplib::Response& response);
    // operations_endpoints.cpp: reload, rollback and the operations.
    void post_config_reload(const httplib::Request& request, httplib::Response& response, const std::string& body);
    void post_config_rollback(const httplib::Request& request, httplib::Response& response, const std::string& body);
    void post_emergency_stop(const httplib::Request& request, httplib::Response& response, const std::string& body);
    void post_resume(const httplib::Request& request, httplib::Response& response, const std::string& body);
    void post_reset_to_safe(const httplib::Request& request, httplib::Response& response, const std::string& body);
    void post_reset_data_collection(const httplib::Request& request, httplib::Response& response,
                                    const std::string& body);
    void post_restart_workers(const httplib::Request& request, httplib::Response& response, const std::string& body);
    void post_backup_state(const httplib::Request& request, httplib::Response& response, const std::string& body);
    void post_restore_state(const httplib::Request& request, httplib::Response& response, const std::string& body);
    /// The pre-routing route check: 404 for an unknown path, 405 with Allow for a known path and another method, 400
    /// for a query parameter the endpoint does not take.
    httplib::Server::HandlerResponse check_route(const httplib::Request& request, httplib::Response& response) const;
    /// The runtime's components, then the extra one when there is one.
    std::vector<ComponentHealth> component_health();

    LiveRuntime& runtime_;
    std::size_t max_body_bytes_;
    std::shared_ptr<GuardHolder> guard_;
    std::map<std::string, std::vector<std::string>> methods_by_path_;  // filled before the server starts
    std::map<std::string, QueryParams> params_by_path_;                // likewise
    HttpServer server_;
    std::thread thread_;
    std::atomic<bool> listen_returned_{false};  ///< the listen thread's loop has returned (stop() need not wait)
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::chrono::system_clock::time_point started_wall_ = std::chrono::system_clock::now();
    std::atomic<Phase> phase_{Phase::Starting};
    EventRouter event_router_;                                 // empty: events go to runtime_.try_ingest
    std::function<FleetMetricsView()> fleet_metrics_;          // empty: not a fleet node
    std::function<ComponentHealth()> extra_component_health_;  // empty: none
    /// DATA_COLLECTION_ERROR (a POST with refused events): one line per 10 s at most, on the steady clock; a client
    /// retrying against a full queue would otherwise log every attempt.
    LogThrottle refused_events_log_{10'000};
    mutable std::mutex bound_address_mutex_;
    std::string bound_address_;  // under bound_address_mutex_: set by bind(), read by reloads on their own threads
};

/// The JSON answer of a reload or rollback (also logged by warmupd for SIGHUP and file-watch reloads).
nlohmann::json reload_json(const ReloadResult& result);
void reply_reload(httplib::Response& response, const ReloadResult& result);

/// The server options of an http configuration section (threads, request deadline).
HttpServerOptions server_options(const HttpConfig& http);

/// A JSON number that is an integer when `value` is a whole number (counts, MiB), else a double.
nlohmann::json json_number(double value);

}  // namespace warmup::host
