// http/http_api.cpp — the operator's HTTP API: construction, the route table and its method checks, the probes and
// the status page; the other endpoints are in the files http_api.hpp names.
#include "http/http_api.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/utf8.hpp"
#include "http/api_json.hpp"
#include "http/security.hpp"
#include "http/status_page/status_page.hpp"

namespace warmup::host {

using nlohmann::json;

json reload_json(const ReloadResult& result) {
    if (!result.ok)
        return json{{"status", "failed"}, {"stage", result.stage}, {"error", result.error}, {"notes", result.notes}};
    json changes = json::array();
    for (const auto& change : result.changes)
        changes.push_back({{"slot", change.slot}, {"from", change.from}, {"to", change.to}, {"state", change.state}});
    return json{{"status", result.changed ? "reloaded" : "unchanged"},
                {"changed", changes},
                {"notes", result.notes},
                {"pause_us", result.pause_us}};
}

void reply_reload(httplib::Response& response, const ReloadResult& result) {
    reply(response, result.ok ? 200 : result.http_status, reload_json(result));
}

json json_number(double value) {
    constexpr double kExactIntegers = 9007199254740992.0;  // 2^53: every integer up to here is exact in a double
    if (std::isfinite(value) && std::trunc(value) == value && std::fabs(value) <= kExactIntegers)
        return json(static_cast<int64_t>(value));
    return json(value);
}

HttpServerOptions server_options(const HttpConfig& http) {
    HttpServerOptions options;
    options.threads = http.threads;
    options.request_timeout = std::chrono::milliseconds(http.request_timeout_ms);
    return options;
}

namespace {

RequestGuard request_guard_for(const HttpConfig& http) {
    return RequestGuard{http.resolved_access_token(), http.loopback_reads_need_token};
}

}  // namespace

HttpApi::HttpApi(LiveRuntime& runtime) : HttpApi(runtime, server_options(runtime.config().http)) {}

HttpApi::HttpApi(LiveRuntime& runtime, HttpServerOptions options)
    : runtime_(runtime),
      max_body_bytes_(static_cast<std::size_t>(runtime.config().http.max_body_mb * 1024 * 1024)),
      guard_(std::make_shared<GuardHolder>(request_guard_for(runtime.config().http))),
      server_(options) {
    server_.set_tcp_nodelay(true);  // without it a POST answer stalls ~40 ms on delayed ACKs
    server_.set_payload_max_length(max_body_bytes_);
    // Bearer-token check, then the route check, both before any body is read; JSON bodies for the library's own
    // error answers; see security.hpp.
    install_request_guard(server_, guard_, [this](const httplib::Request& request, httplib::Response& response) {
        return check_route(request, response);
    });
    routes();
    // A reload that changes the token applies it; one that would leave the daemon unusable is refused.
    runtime_.set_reload_listener(ReloadListener{
        [this](const Config& running, const Config& next) -> std::optional<std::string> {
            const auto token = next.http.resolved_access_token();
            if (token) {
                if (auto problem = access_token_problem(*token))
                    return fmt::format("{}: http: {}; the running token is kept", next.locate("http"), *problem);
                return std::nullopt;
            }
            // The address the server really listens on: a reload's http.bind waits for the next start.
            std::string listening = bound_address();
            if (listening.empty()) listening = running.http.bind;
            if (running.http.resolved_access_token() && !is_loopback_address(listening))
                return fmt::format(
                    "{}: http: the new configuration has no access token, but the daemon listens on "
                    "'{}', which needs one; the running token is kept",
                    next.locate("http"), listening);
            return std::nullopt;
        },
        [this](const Config& running, const Config& next) {
            std::vector<std::string> notes;
            const auto before = running.http.resolved_access_token();
            const auto after = next.http.resolved_access_token();
            const bool loopback_rule_changed =
                running.http.loopback_reads_need_token != next.http.loopback_reads_need_token;
            if (before == after && !loopback_rule_changed) return notes;
            guard_->replace(request_guard_for(next.http));
            if (before == after) {
                notes.push_back(next.http.loopback_reads_need_token
                                    ? "http.loopback_reads_need_token on: reads on loopback need the token too"
                                    : "http.loopback_reads_need_token off: reads on loopback need no token");
                spdlog::info("CONFIG_RELOADED {}", notes.back());
                return notes;
            }
            notes.push_back(after ? (before ? "http access token changed: the new token is required from now on, the "
                                              "old one is refused"
                                            : "http access token set: mutating requests need it from now on")
                                  : "http access token removed: loopback requests need no token from now on");
            spdlog::info("CONFIG_RELOADED {}", notes.back());
            return notes;
        }});
}

HttpApi::~HttpApi() {
    stop();
    runtime_.set_reload_listener({});
}

int HttpApi::bind(const std::string& address, int port) {
    const int bound = server_.bind_exclusive(address, port);
    std::lock_guard lock(bound_address_mutex_);
    bound_address_ = address;
    return bound;
}

std::string HttpApi::bound_address() const {
    std::lock_guard lock(bound_address_mutex_);
    return bound_address_;
}

void HttpApi::get(const std::string& path, GetHandler handler, QueryParams params) {
    get(
        path,
        [this, handler](const httplib::Request& request, httplib::Response& response) {
            (this->*handler)(request, response);
        },
        std::move(params));
}

void HttpApi::post(const std::string& path, PostHandler handler, QueryParams params) {
    post(
        path,
        [this, handler](const httplib::Request& request, httplib::Response& response, const std::string& body) {
            (this->*handler)(request, response, body);
        },
        std::move(params));
}

void HttpApi::get(const std::string& path, httplib::Server::Handler handler, QueryParams params) {
    methods_by_path_[path].push_back("GET");
    params_by_path_[path] = std::move(params);
    server_.Get(path, std::move(handler));
}

void HttpApi::post(const std::string& path, BodyHandler handler, QueryParams params) {
    methods_by_path_[path].push_back("POST");
    params_by_path_[path] = std::move(params);
    server_.Post(path,
                 [this, handler = std::move(handler)](const httplib::Request& request, httplib::Response& response,
                                                      const httplib::ContentReader& reader) {
                     std::string body;
                     if (auto refusal = read_request_body(request, response, reader, max_body_bytes_, body)) {
                         reply(response, refusal->status, {{"error", refusal->message}});
                         return;
                     }
                     handler(request, response, body);
                 });
}

httplib::Server::HandlerResponse HttpApi::check_route(const httplib::Request& request,
                                                      httplib::Response& response) const {
    const auto route = methods_by_path_.find(request.path);
    // Both arms are views: with "GET" against a std::string the conditional would be a temporary string.
    const std::string_view method =
        request.method == "HEAD" ? std::string_view("GET") : std::string_view(request.method);
    if (route != methods_by_path_.end() &&
        std::find(route->second.begin(), route->second.end(), method) != route->second.end()) {
        // The library reads no body for GET or HEAD: one announced would be parsed as the next request on the
        // connection (a proxy that forwarded it as this request's body would not see that one).
        if (method == "GET" && request_has_body(request)) {
            response.set_header("Connection", "close");
            reply(response, 400, {{"error", fmt::format("a {} request takes no body", request.method)}});
            return httplib::Server::HandlerResponse::Handled;
        }
        // One list per path: no path here takes GET and POST with different parameters. The status page holds no
        // data and reads no parameter: a bookmark or a link that adds one (?utm_source=...) still opens it.
        if (is_status_page_path(request.path)) return httplib::Server::HandlerResponse::Unhandled;
        auto unknown = unknown_query_parameter(request.params, params_by_path_.at(request.path));
        if (!unknown) unknown = repeated_query_parameter(request.target);
        if (unknown) {
            if (request_has_body(request)) response.set_header("Connection", "close");
            reply(response, 400, {{"error", *unknown}});
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    }
    // Answered without reading the body: a connection whose request announced one is closed after the answer.
    if (request_has_body(request)) response.set_header("Connection", "close");
    if (route == methods_by_path_.end()) {
        reply(response, 404, {{"error", fmt::format("no such endpoint: {} {}", request.method, request.path)}});
        return httplib::Server::HandlerResponse::Handled;
    }
    std::string allow;
    for (const std::string& allowed : route->second) {
        if (!allow.empty()) allow += ", ";
        allow += allowed == "GET" ? "GET, HEAD" : allowed;
    }
    response.set_header("Allow", allow);
    reply(response, 405,
          {{"error", fmt::format("method not allowed: {} {} (allowed: {})", request.method, request.path, allow)}});
    return httplib::Server::HandlerResponse::Handled;
}

void HttpApi::add_get_route(const std::string& path, std::function<nlohmann::json()> body) {
    get(path, [body = std::move(body)](const httplib::Request&, httplib::Response& response) {
        reply(response, 200, body());
    });
}

void HttpApi::start() {
    thread_ = std::thread([this] {
        server_.listen_after_bind();
        listen_returned_.store(true);
    });
}

std::optional<std::string> HttpApi::stop(const std::function<std::optional<std::string>()>& give_up) {
    if (!thread_.joinable()) return std::nullopt;
    // The library's stop() does nothing before its accept loop runs: a stop right after start (before the thread was
    // scheduled) would leave the loop running and the join below waiting forever. The loop starts at once, or the
    // listen returns at once (a socket that failed), so this wait is short.
    while (!server_.is_running() && !listen_returned_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server_.stop();
    // The listen returns once every worker has ended its request: at once, or within a poll slice of the idle
    // connections (100 ms), when none is being served. Past a second, a request is still being served, and
    // give_up says whether it waits on a call that may never return.
    const auto asked_from = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (give_up && !listen_returned_.load()) {
        if (std::chrono::steady_clock::now() >= asked_from)
            if (auto reason = give_up()) {
                thread_.detach();
                return reason;
            }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    thread_.join();
    return std::nullopt;
}

// The route table: one named handler per endpoint, grouped by file (http_api.hpp lists which file holds which).
void HttpApi::routes() {
    get("/healthz", &HttpApi::get_healthz);
    get("/readyz", &HttpApi::get_readyz);
    // The status page and its assets (status_page/status_page.hpp), served without a token: they hold no data, and
    // the page asks for the token its reads and buttons need.
    for (const std::string_view path : {kStatusPagePath, kStatusPageStylePath, kStatusPageScriptPath, kRootPath})
        get(std::string(path), &HttpApi::get_status_page);

    post("/api/warmup/events", &HttpApi::post_events);

    get("/api/warmup/status", &HttpApi::get_status, {"limit", "after", "per_state"});
    get("/api/warmup/plugins", &HttpApi::get_plugins);
    get("/api/warmup/predictions", &HttpApi::get_predictions, {"limit", "after", "soonest", "within_ms"});
    get("/api/warmup/experiments", &HttpApi::get_experiments);
    get("/api/warmup/decisions", &HttpApi::get_decisions, {"limit", "model", "arm"});
    get("/api/warmup/health/components", &HttpApi::get_component_health);
    get("/metrics", &HttpApi::get_metrics);
    get("/api/warmup/history", &HttpApi::get_history, {"since_ms", "until_ms"});

    post("/api/warmup/config/reload", &HttpApi::post_config_reload);
    post("/api/warmup/config/rollback", &HttpApi::post_config_rollback);
    post("/api/warmup/emergency-stop", &HttpApi::post_emergency_stop);
    post("/api/warmup/resume", &HttpApi::post_resume);
    post("/api/warmup/reset-to-safe", &HttpApi::post_reset_to_safe);
    post("/api/warmup/reset-data-collection", &HttpApi::post_reset_data_collection);
    post("/api/warmup/queue/restart-workers", &HttpApi::post_restart_workers);
    post("/api/warmup/backup-state", &HttpApi::post_backup_state);
    post("/api/warmup/restore-state", &HttpApi::post_restore_state);

    server_.set_exception_handler(
        [](const httplib::Request& request, httplib::Response& response, std::exception_ptr error) {
            std::string what = "internal error";
            try {
                std::rethrow_exception(error);
            } catch (const ControlLoopStalled& e) {
                reply(response, 503, {{"error", e.what()}});
                return;
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            // A handler that throws is a defect of this daemon, not of the request: the log says where.
            spdlog::error("HTTP_HANDLER_ERROR {} {}: {}", request.method, escape_invalid_utf8(request.path),
                          escape_invalid_utf8(what));
            reply(response, 500, {{"error", what}});
        });
}

// Both probes answer 503 while the control loop is stalled (a plugin call that does not return): the process is up,
// but it decides nothing, and a supervisor that restarts on a failed liveness probe is what can end the stall.
void HttpApi::get_healthz(const httplib::Request&, httplib::Response& response) {
    const auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (const auto stall = runtime_.control_stall()) {
        reply(response, 503, stalled_json(*stall));
        return;
    }
    reply(response, 200, {{"status", "ok"}, {"uptime_s", uptime}});
}

nlohmann::json HttpApi::stalled_json(const LiveRuntime::ControlStall& stall) {
    return {{"status", "stalled"},
            {"stalled_in", stall.where},
            {"stalled_for_s", static_cast<double>(stall.for_ms) / 1000.0},
            {"error", LiveRuntime::describe(stall)}};
}

void HttpApi::get_readyz(const httplib::Request&, httplib::Response& response) {
    if (const auto stall = runtime_.control_stall(); stall && phase_.load() == Phase::Ready) {
        reply(response, 503, stalled_json(*stall));
        return;
    }
    switch (phase_.load()) {
        case Phase::Ready:
            reply(response, 200, {{"status", "ready"}});
            return;
        case Phase::Starting:
            reply(response, 503, {{"status", "starting"}});
            return;
        case Phase::Stopping:
            reply(response, 503, {{"status", "stopping"}});
            return;
    }
}

void HttpApi::get_status_page(const httplib::Request& request, httplib::Response& response) {
    const auto guard = guard_->current();
    serve_status_page(
        request.path,
        page_access(guard->access_token.has_value(), request.local_addr, guard->loopback_reads_need_token), response);
}

}  // namespace warmup::host
