// http/http_api.cpp — the routes of the operator's HTTP API; see http_api.hpp.
#include "http/http_api.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "http/daemon_metrics.hpp"
#include "http/event_parser.hpp"
#include "http/model_page.hpp"
#include "http/security.hpp"
#include "http/status_page/status_page.hpp"
#include "loader/plugin_library.hpp"
#include "version/build_info.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;

constexpr const char* kJson = "application/json";

std::string_view residency_name(warmup_residency residency) {
    switch (residency) {
        case WARMUP_RESIDENCY_ABSENT:
            return "absent";
        case WARMUP_RESIDENCY_QUEUED:
            return "queued";
        case WARMUP_RESIDENCY_LOADING:
            return "loading";
        case WARMUP_RESIDENCY_READY:
            return "ready";
    }
    return "absent";
}

json time_or_null(warmup_time_ms ms) { return ms == WARMUP_TIME_NEVER ? json(nullptr) : json(ms); }

/// After an answer that listed `entries` models: a list of thousands is a tree of small blocks (about 2 KiB per
/// prediction) that malloc keeps once freed, between the daemon's long-lived blocks: the whole predictions list of
/// 10 k models left warmupd ~23 MiB larger for good. malloc_trim hands those pages back (a few ms, on this HTTP
/// thread, only after such an answer).
void return_freed_memory(std::size_t entries) {
    constexpr std::size_t kLargeAnswerEntries = 1000;
    if (entries >= kLargeAnswerEntries) malloc_trim(0);
}

void reply(httplib::Response& response, int status, const json& body) {
    response.status = status;
    response.set_content(body.dump(2) + "\n", kJson);
}

/// Refusals of one events body, ordered by position: the first kMaxListedRejections are listed, the rest counted.
class RefusalList {
  public:
    explicit RefusalList(bool positions_are_items) : key_(positions_are_items ? "item" : "line") {}

    /// Adds the parser's refusals (already capped, in position order) and its count of unlisted ones.
    void add_parsed(const ParsedBody& body) {
        for (const auto& refusal : body.rejected) add(refusal.position, refusal.reason);
        total_ += body.unlisted_rejections;
    }
    void add(std::size_t position, std::string reason) {
        ++total_;
        // Keep the kMaxListedRejections lowest positions: parser refusals and later per-event refusals interleave.
        listed_.insert(std::upper_bound(listed_.begin(), listed_.end(), position,
                                        [](std::size_t p, const RejectedEvent& r) { return p < r.position; }),
                       RejectedEvent{position, std::move(reason)});
        if (listed_.size() > kMaxListedRejections) listed_.pop_back();
    }
    [[nodiscard]] bool empty() const noexcept { return total_ == 0; }
    [[nodiscard]] std::size_t total() const noexcept { return total_; }
    [[nodiscard]] const std::string& first_reason() const { return listed_.front().reason; }

    /// Into `answer`: "rejected" (the listed ones) and, when some are not listed, "rejected_not_listed".
    void write(json& answer) const {
        json list = json::array();
        for (const auto& refusal : listed_) list.push_back({{key_, refusal.position}, {"reason", refusal.reason}});
        answer["rejected"] = std::move(list);
        if (total_ > listed_.size()) answer["rejected_not_listed"] = total_ - listed_.size();
    }

  private:
    const char* key_;
    std::vector<RejectedEvent> listed_;
    std::size_t total_ = 0;
};

json counters_json(const EngineCounters& c) {
    return json{{"events", c.events},
                {"requests", c.requests},
                {"warm_requests", c.warm_requests},
                {"cold_requests", c.cold_requests},
                {"failed_requests", c.failed_requests},
                {"demand_loads", c.demand_loads},
                {"loads_queued_for_memory", c.loads_queued_for_memory},
                {"prewarms_started", c.prewarms_started},
                {"prewarms_used", c.prewarms_used},
                {"prewarms_wasted", c.prewarms_wasted},
                {"prewarms_skipped", c.prewarms_skipped},
                {"loads_succeeded", c.loads_succeeded},
                {"loads_failed", c.loads_failed},
                {"loads_given_up", c.loads_given_up},
                {"evictions", c.evictions},
                {"unloads", c.unloads},
                {"queue_rejections", c.queue_rejections},
                {"plugin_errors", c.plugin_errors}};
}

json plugins_json(const PluginSet& plugins) {
    json list = json::array();
    for (const ComponentSlot slot : kAllSlots) {
        const auto& instance = plugins.at(slot);
        const auto& descriptor = instance->library().descriptor();
        list.push_back({{"slot", slot_key(slot)},
                        {"id", descriptor.id},
                        {"kind", kind_name(descriptor.kind)},
                        {"version", descriptor.version},
                        {"abi", fmt::format("{}.{}", descriptor.abi.major, descriptor.abi.minor)},
                        {"description", descriptor.description == nullptr ? "" : descriptor.description},
                        {"file", instance->library().file().string()},
                        {"sha256", instance->library().sha256()}});
    }
    return list;
}

/// "2026-12-02T10:42:07.123Z" for a time in ms since the Unix epoch.
std::string utc_iso(warmup_time_ms ms) {
    const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(time)),
                       static_cast<int>(((ms % 1000) + 1000) % 1000));
}

json decision_json(const Decision& d, Catalog& catalog) {
    const auto name = [&](warmup_model_index model) -> json {
        return model < catalog.size() ? json(catalog.record(model).name) : json(nullptr);
    };
    json entry{{"seq", d.seq},
               {"at_ms", d.at_ms},
               {"at", utc_iso(d.at_ms)},
               {"model", name(d.model)},
               {"arm", d.arm},
               {"decision", decision_kind_name(d.kind)},
               {"reason", d.reason},
               {"decided_by", d.decided_by},
               {"plan",
                {{"by", d.planned_by.empty() ? json(nullptr) : json(d.planned_by)},
                 {"fallback", d.from_fallback_plan},
                 {"predicted_next_use_ms", time_or_null(d.predicted_next_use_ms)},
                 {"p_use_within_horizon", std::isnan(d.p_use) ? json(nullptr) : json(d.p_use)},
                 {"horizon_ms", d.horizon_ms}}},
               {"memory",
                {{"need_mb", json_number(d.need_mb)},
                 {"used_mb", json_number(d.used_mb)},
                 {"budget_mb", json_number(d.budget_mb)},
                 {"pressure", d.budget_mb > 0 ? json(d.used_mb / d.budget_mb) : json(nullptr)}}}};
    if (d.until_ms != WARMUP_TIME_NEVER) entry["until_ms"] = d.until_ms;
    if (d.prewarm_at_ms != WARMUP_TIME_NEVER) entry["prewarm_at_ms"] = d.prewarm_at_ms;
    if (d.for_model != WARMUP_NO_MODEL) entry["for_model"] = name(d.for_model);
    if (d.attempt != 0) entry["attempt"] = d.attempt;
    if (d.repeats > 1) {
        entry["repeats"] = d.repeats;
        entry["first_at_ms"] = d.first_at_ms;
    }
    return entry;
}

}  // namespace

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

HttpApi::HttpApi(LiveRuntime& runtime) : HttpApi(runtime, server_options(runtime.config().http)) {}

HttpApi::HttpApi(LiveRuntime& runtime, HttpServerOptions options)
    : runtime_(runtime),
      max_body_bytes_(static_cast<std::size_t>(runtime.config().http.max_body_mb * 1024 * 1024)),
      guard_(std::make_shared<GuardHolder>(RequestGuard{runtime.config().http.resolved_access_token()})),
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
        [](const Config& running, const Config& next) -> std::optional<std::string> {
            const auto token = next.http.resolved_access_token();
            if (token) {
                if (auto problem = access_token_problem(*token))
                    return fmt::format("{}: http: {}; the running token is kept", next.locate("http"), *problem);
                return std::nullopt;
            }
            if (running.http.resolved_access_token() && !is_loopback_address(running.http.bind))
                return fmt::format(
                    "{}: http: the new configuration has no access token, but the daemon listens on "
                    "'{}', which needs one; the running token is kept",
                    next.locate("http"), running.http.bind);
            return std::nullopt;
        },
        [this](const Config& running, const Config& next) {
            std::vector<std::string> notes;
            const auto before = running.http.resolved_access_token();
            const auto after = next.http.resolved_access_token();
            if (before == after) return notes;
            guard_->replace(RequestGuard{after});
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

int HttpApi::bind(const std::string& address, int port) { return server_.bind_exclusive(address, port); }

void HttpApi::get(const std::string& path, httplib::Server::Handler handler) {
    methods_by_path_[path].push_back("GET");
    server_.Get(path, std::move(handler));
}

void HttpApi::post(const std::string& path, BodyHandler handler) {
    methods_by_path_[path].push_back("POST");
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
    const std::string_view method = request.method == "HEAD" ? "GET" : request.method;
    if (route != methods_by_path_.end() &&
        std::find(route->second.begin(), route->second.end(), method) != route->second.end())
        return httplib::Server::HandlerResponse::Unhandled;
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
    thread_ = std::thread([this] { server_.listen_after_bind(); });
}

void HttpApi::stop() {
    if (thread_.joinable()) {
        server_.stop();
        thread_.join();
    }
}

void HttpApi::routes() {
    get("/healthz", [this](const httplib::Request&, httplib::Response& response) {
        const auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        reply(response, 200, {{"status", "ok"}, {"uptime_s", uptime}});
    });

    get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
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
    });

    // The status page and its assets (status_page/status_page.hpp), served without a token: they hold no data, and
    // the page asks for the token its reads and buttons need.
    for (const std::string_view path : {kStatusPagePath, kStatusPageStylePath, kStatusPageScriptPath})
        get(std::string(path), [this](const httplib::Request& request, httplib::Response& response) {
            const bool token_configured = guard_->current()->access_token.has_value();
            serve_status_page(request.path, page_access(token_configured, request.local_addr), response);
        });

    post("/api/warmup/events", [this](const httplib::Request&, httplib::Response& response, const std::string& text) {
        const ParsedBody body = parse_events_body(text, 1 << 20, runtime_.clock().now_ms());
        RefusalList rejected(body.is_array);
        rejected.add_parsed(body);
        const warmup_time_ms now_ms = runtime_.clock().now_ms();
        // The body's valid events go to the runtime as one batch (one lock, at most one wake-up of the control loop),
        // so they reach the engines in one control-loop step: no timer, load completion or command runs between a
        // body's history lines and its requests.
        std::vector<warmup_usage_event> events;
        std::vector<std::size_t> positions;  // positions[i]: the line or item of events[i]
        events.reserve(body.events.size());
        positions.reserve(body.events.size());
        // Each catalog lookup takes the catalog's shared lock, which every HTTP worker contends for; a body names few
        // models, so the first kMaxRemembered distinct names are looked up once per body.
        constexpr std::size_t kMaxRemembered = 16;
        std::vector<std::pair<std::string_view, std::optional<warmup_model_index>>> looked_up;
        const auto resolve = [&](std::string_view name) {
            for (const auto& [known, index] : looked_up)
                if (known == name) return index;
            const auto index = runtime_.catalog().resolve(name);
            if (looked_up.size() < kMaxRemembered) looked_up.emplace_back(name, index);
            return index;
        };
        for (const auto& parsed : body.events) {
            const auto model = resolve(parsed.model);
            if (!model) {
                rejected.add(parsed.position,
                             fmt::format("unknown model '{}' (no catalog entry matches it)", parsed.model));
                continue;
            }
            events.push_back(to_usage_event(parsed, *model, now_ms));
            positions.push_back(parsed.position);
        }
        // The queue takes a prefix of the batch when it is nearly full; the rest is refused, each event by position.
        const std::size_t accepted =
            events.empty() ? 0 : (event_router_ ? event_router_(events) : runtime_.try_ingest(events));
        const bool queue_full = accepted < events.size();
        for (std::size_t i = accepted; i < events.size(); ++i)
            rejected.add(positions[i], "ingest queue full, retry later");
        if (!rejected.empty())
            spdlog::warn("DATA_COLLECTION_ERROR {} of {} posted events refused (first: {})", rejected.total(),
                         rejected.total() + accepted, rejected.first_reason());
        const int status = rejected.empty() ? 200 : (queue_full ? 503 : 400);
        json answer{{"accepted", accepted}};
        rejected.write(answer);
        reply(response, status, answer);
    });

    get("/api/warmup/status", [this](const httplib::Request& request, httplib::Response& response) {
        ModelPage page;
        if (const auto error = parse_model_page(request.params, runtime_.catalog(), page)) {
            reply(response, 400, {{"error", *error}});
            return;
        }
        json status = runtime_.call_on_control([this, &page](WarmupEngine& engine) {
            // The page holds the models that are warm, loading or queued, in catalog order from page.first; the
            // counters and totals always cover every model.
            json warm = json::array(), loading = json::array(), queued = json::array();
            std::size_t listed = 0;
            warmup_model_index last_listed = WARMUP_NO_MODEL;
            json next_after = nullptr;
            for (warmup_model_index model = page.first; model < engine.model_count(); ++model) {
                const ModelStatus s = engine.model_status(model);
                if (s.residency == WARMUP_RESIDENCY_ABSENT) continue;
                if (listed == page.limit) {  // one more model to list: the page is full and is not the last
                    next_after = runtime_.catalog().record(last_listed).name;
                    break;
                }
                ++listed;
                last_listed = model;
                const std::string& name = runtime_.catalog().record(model).name;
                const std::string_view cause = load_cause_name(s.cause);
                if (s.residency == WARMUP_RESIDENCY_READY)
                    warm.push_back({{"model", name},
                                    {"memory_mb", json_number(s.memory_mb)},
                                    {"prewarmed_unused", s.prewarmed_unused},
                                    {"unload_at_ms", time_or_null(s.unload_at_ms)},
                                    {"since_ms", time_or_null(s.since_ms)},
                                    {"cause", cause}});
                else if (s.residency == WARMUP_RESIDENCY_LOADING)
                    loading.push_back({{"model", name},
                                       {"memory_mb", json_number(s.memory_mb)},
                                       {"since_ms", time_or_null(s.since_ms)},
                                       {"cause", cause}});
                else if (s.residency == WARMUP_RESIDENCY_QUEUED)
                    queued.push_back({{"model", name}, {"since_ms", time_or_null(s.since_ms)}, {"cause", cause}});
            }
            json counters = counters_json(engine.counters());
            counters["events_accepted"] = runtime_.accepted_events();
            counters["events_refused"] = runtime_.refused_events();
            return json{{"now_ms", runtime_.clock().now_ms()},
                        {"emergency_stop", engine.stopped()},
                        {"safe_mode", runtime_.safe_mode()},
                        {"budget_mb", json_number(engine.budget_mb())},
                        {"used_mb", json_number(engine.used_mb())},
                        {"loads_in_flight", engine.loads_in_flight()},
                        {"queue_depth", engine.queue_depth()},
                        {"memory_waiters", engine.memory_waiters()},
                        {"counters", counters},
                        {"warm", warm},
                        {"loading", loading},
                        {"queued", queued},
                        {"next_after", next_after},
                        {"plugins", plugins_json(runtime_.plugins())}};
        });
        const BuildInfo& build = build_info();
        status["version"] = build.version;
        status["abi"] = build.abi;
        status["commit"] = build.commit;
        status["started_unix_ms"] =
            std::chrono::duration_cast<std::chrono::milliseconds>(started_wall_.time_since_epoch()).count();
        status["started_at"] =
            fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(started_wall_)));
        status["uptime_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        const std::size_t listed = status["warm"].size() + status["loading"].size() + status["queued"].size();
        reply(response, 200, status);
        status = json();
        return_freed_memory(listed);
    });

    get("/api/warmup/plugins", [this](const httplib::Request&, httplib::Response& response) {
        json plugins = runtime_.call_on_control([this](WarmupEngine&) { return plugins_json(runtime_.plugins()); });
        reply(response, 200,
              {{"host_abi", fmt::format("{}.{}", WARMUP_ABI_MAJOR, WARMUP_ABI_MINOR)}, {"plugins", plugins}});
    });

    get("/api/warmup/predictions", [this](const httplib::Request& request, httplib::Response& response) {
        ModelPage page;
        if (const auto error = parse_model_page(request.params, runtime_.catalog(), page)) {
            reply(response, 400, {{"error", *error}});
            return;
        }
        json predictions = runtime_.call_on_control([this, &page](WarmupEngine& engine) {
            json list = json::array();
            const warmup_time_ms now_ms = runtime_.clock().now_ms();
            // Every model the catalog knows: after a state restore a model has learned patterns before the engine
            // has seen a request for it. A page costs O(limit) predictions, whatever the number of models.
            const warmup_model_index known = std::max(engine.model_count(), runtime_.catalog().size());
            json next_after = nullptr;
            warmup_model_index model = page.first;
            for (; model < known && list.size() < page.limit; ++model) {
                warmup_prediction p{};
                if (!engine.predict_now(model, now_ms, p)) continue;
                const ModelStatus s = engine.model_status(model);
                list.push_back({{"model", runtime_.catalog().record(model).name},
                                {"residency", residency_name(s.residency)},
                                {"p_use_within_horizon", p.p_use_within_horizon},
                                {"horizon_ms", p.horizon_ms},
                                {"next_arrival_ms", time_or_null(p.next_arrival_ms)},
                                {"confidence", p.confidence},
                                {"keep_until_ms", time_or_null(p.keep_until_ms)},
                                {"warm_at_ms", time_or_null(p.warm_at_ms)},
                                {"planned_unload_at_ms", time_or_null(s.unload_at_ms)},
                                {"planned_warm_start_at_ms", time_or_null(s.warm_start_at_ms)}});
            }
            // The page is full and models remain after it: the cursor of the next page is the last model considered
            // (a model skipped because its prediction failed is not listed, and not visited again).
            if (model < known) next_after = runtime_.catalog().record(model - 1).name;
            return json{{"now_ms", now_ms}, {"predictions", list}, {"next_after", next_after}};
        });
        const std::size_t listed = predictions["predictions"].size();
        reply(response, 200, predictions);
        predictions = json();
        return_freed_memory(listed);
    });

    get("/api/warmup/experiments", [this](const httplib::Request&, httplib::Response& response) {
        json body = runtime_.call_on_control([this](WarmupEngine&) {
            json arms = json::array();
            for (const auto& arm : runtime_.arms()) {
                const EngineCounters& c = arm->engine->counters();
                const auto ratio = [](uint64_t part, uint64_t whole) -> json {
                    return whole == 0 ? json(nullptr) : json(static_cast<double>(part) / static_cast<double>(whole));
                };
                arms.push_back({{"name", arm->name},
                                {"mode", arm->mode == LiveArm::Mode::Control  ? "control"
                                         : arm->mode == LiveArm::Mode::Shadow ? "shadow"
                                                                              : "acting"},
                                {"weight", json_number(arm->weight)},
                                {"budget_mb", json_number(arm->engine->budget_mb())},
                                {"used_mb", json_number(arm->engine->used_mb())},
                                {"requests", c.requests},
                                {"cold_requests", c.cold_requests},
                                {"cold_request_rate", ratio(c.cold_requests, c.requests)},
                                {"prewarms_started", c.prewarms_started},
                                {"precision", ratio(c.prewarms_used, c.prewarms_used + c.prewarms_wasted)},
                                {"recall", ratio(c.idle_gap_prewarmed, c.idle_gap_requests)},
                                {"idle_gb_h", c.idle_mb_ms / (1024.0 * 3600.0 * 1000.0)},
                                {"plugins", plugins_json(*arm->plugins)}});
            }
            const auto& experiment = runtime_.experiment();
            return json{{"enabled", experiment.enabled && runtime_.arms().size() > 1},
                        {"split", experiment.split},
                        {"arms", arms}};
        });
        reply(response, 200, body);
    });

    // Newest first; read-only (the decision log is thread-safe, so the control loop is not involved).
    get("/api/warmup/decisions", [this](const httplib::Request& request, httplib::Response& response) {
        const DecisionLog& log = runtime_.decisions();
        std::size_t limit = 50;
        if (request.has_param("limit")) {
            const std::string text = request.get_param_value("limit");
            std::size_t parsed = 0;
            const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
            if (error != std::errc{} || end != text.data() + text.size() || parsed < 1 || parsed > log.capacity()) {
                reply(response, 400,
                      {{"error", fmt::format("limit: expected an integer 1..{}, got '{}'", log.capacity(), text)}});
                return;
            }
            limit = parsed;
        }
        std::optional<warmup_model_index> model;
        json answer = json::object();
        if (request.has_param("model")) {
            const std::string name = request.get_param_value("model");
            model = runtime_.catalog().find(name);
            if (!model) {
                reply(response, 404,
                      {{"error", fmt::format("unknown model '{}': no request or decision has named it", name)}});
                return;
            }
            answer["model"] = name;
        }
        std::optional<std::string> arm;
        if (request.has_param("arm")) arm = request.get_param_value("arm");
        json list = json::array();
        for (const Decision& decision : log.newest(model, limit, arm))
            list.push_back(decision_json(decision, runtime_.catalog()));
        answer["now_ms"] = runtime_.clock().now_ms();
        answer["capacity"] = log.capacity();
        answer["held"] = log.size();
        answer["decisions"] = std::move(list);
        reply(response, 200, answer);
    });

    post("/api/warmup/config/reload", [this](const httplib::Request&, httplib::Response& response, const std::string&) {
        reply_reload(response, runtime_.reload_from_file());
    });
    post("/api/warmup/config/rollback", [this](const httplib::Request&, httplib::Response& response,
                                               const std::string&) { reply_reload(response, runtime_.rollback()); });

    // ----- Operations (issue 5). Each answers {"status": "done"|"failed", facts..., "notes": [...], "error"?,
    // "file"?}.
    const auto operation_json = [](const OperationResult& result) {
        json body{{"status", result.ok() ? "done" : "failed"}, {"notes", result.notes}};
        for (const auto& [name, value] : result.facts) body[name] = json_number(value);
        if (!result.ok()) body["error"] = result.error;
        if (!result.file.empty()) body["file"] = result.file;
        return body;
    };
    // The optional {"name": "..."} body of backup-state / restore-state: "" when absent; nullopt (and a 400 answer)
    // when the body is not that shape.
    const auto backup_name = [](const std::string& text, httplib::Response& response) -> std::optional<std::string> {
        if (text.find_first_not_of(" \t\r\n") == std::string::npos) return std::string();
        const json body = json::parse(text, nullptr, false);
        if (body.is_discarded() || !body.is_object()) {
            reply(response, 400, {{"status", "failed"}, {"error", "expected an empty body or {\"name\": \"...\"}"}});
            return std::nullopt;
        }
        if (!body.contains("name") || body["name"].is_null()) return std::string();
        if (!body["name"].is_string()) {
            reply(response, 400, {{"status", "failed"}, {"error", "\"name\" must be a string"}});
            return std::nullopt;
        }
        return body["name"].get<std::string>();
    };
    post("/api/warmup/emergency-stop",
         [this, operation_json](const httplib::Request&, httplib::Response& response, const std::string&) {
             const OperationResult result = runtime_.emergency_stop();
             reply(response, result.http_status, operation_json(result));
         });
    post("/api/warmup/reset-to-safe",
         [this, operation_json](const httplib::Request&, httplib::Response& response, const std::string&) {
             const OperationResult result = runtime_.reset_to_safe();
             reply(response, result.http_status, operation_json(result));
         });
    post("/api/warmup/reset-data-collection",
         [this, operation_json](const httplib::Request&, httplib::Response& response, const std::string&) {
             const OperationResult result = runtime_.reset_data_collection();
             reply(response, result.http_status, operation_json(result));
         });
    post("/api/warmup/queue/restart-workers",
         [this, operation_json](const httplib::Request&, httplib::Response& response, const std::string&) {
             const OperationResult result = runtime_.restart_workers();
             reply(response, result.http_status, operation_json(result));
         });
    post("/api/warmup/backup-state",
         [this, operation_json, backup_name](const httplib::Request&, httplib::Response& response,
                                             const std::string& text) {
             const auto name = backup_name(text, response);
             if (!name) return;
             const OperationResult result = runtime_.backup_state(*name);
             reply(response, result.http_status, operation_json(result));
         });
    post("/api/warmup/restore-state",
         [this, operation_json, backup_name](const httplib::Request&, httplib::Response& response,
                                             const std::string& text) {
             const auto name = backup_name(text, response);
             if (!name) return;
             const OperationResult result = runtime_.restore_backup(*name);
             reply(response, result.http_status, operation_json(result));
         });
    get("/api/warmup/health/components", [this](const httplib::Request&, httplib::Response& response) {
        json components = json::array();
        bool degraded = false;
        for (const ComponentHealth& health : runtime_.component_health()) {
            degraded = degraded || health.degraded;
            json line = {{"component", health.component},
                         {"plugin", health.label.empty() ? json(nullptr) : json(health.label)},
                         {"state", health.circuit == "open" || health.circuit == "half-open"
                                       ? "open circuit"
                                       : (health.degraded ? "degraded" : "ok")},
                         {"circuit", health.circuit.empty() ? json(nullptr) : json(health.circuit)},
                         {"reason", health.reason.empty() ? json(nullptr) : json(health.reason)},
                         {"errors", health.errors},
                         {"last_error", health.last_error.empty() ? json(nullptr) : json(health.last_error)},
                         {"last_error_unix_ms",
                          health.last_error_unix_ms == 0 ? json(nullptr) : json(health.last_error_unix_ms)}};
            if (const auto& source = health.source) {
                line["polls"] = source->polls;
                line["events_accepted"] = source->events_accepted;
                line["events_refused"] = source->events_refused;
                line["bad_records"] = source->bad_records;
                line["last_bad_record"] =
                    source->last_bad_record.empty() ? json(nullptr) : json(source->last_bad_record);
                line["last_poll_unix_ms"] =
                    source->last_poll_unix_ms == 0 ? json(nullptr) : json(source->last_poll_unix_ms);
            }
            components.push_back(std::move(line));
        }
        reply(response, 200, {{"status", degraded ? "degraded" : "ok"}, {"components", components}});
    });

    get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
        DaemonMetrics daemon;
        auto [ok, text] = runtime_.call_on_control([this, &daemon](WarmupEngine& engine) {
            daemon.arms = arm_metrics_views(runtime_);
            engine.flush_metrics();
            std::string out;
            warmup_byte_writer writer{&out, [](void* context, const char* data, size_t size) {
                                          static_cast<std::string*>(context)->append(data, size);
                                          return 0;
                                      }};
            const auto& sink = engine.components().metrics;
            warmup_error* error = sink.vtable->render(sink.self, "prometheus", &writer);
            if (error != nullptr) {
                ErrorPtr owned(error);
                spdlog::error("METRICS_STORAGE_ERROR {} render failed: {}", sink.label, owned->message);
                return std::pair{false, owned->message};
            }
            return std::pair{true, out};
        });
        if (ok) {
            daemon.started = started_wall_;
            daemon.now = std::chrono::system_clock::now();
            daemon.events_refused = runtime_.refused_events();
            daemon.reloads = runtime_.reload_counts();
            daemon.reconcile_adopted = runtime_.reconcile_drift_adopted();
            daemon.reconcile_gone = runtime_.reconcile_drift_gone();
            daemon.reconcile_failures = runtime_.reconcile_failures();
            daemon.state_kept = runtime_.state_store() != nullptr;
            daemon.snapshot_interval_s = runtime_.config().state.snapshot_interval_s;
            daemon.last_snapshot_unix_ms = runtime_.last_snapshot_unix_ms();
            daemon.sources = runtime_.source_health();
            text += render_daemon_metrics(daemon);
        }
        response.status = ok ? 200 : 500;
        response.set_content(text, ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain");
    });

    server_.set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
        std::string what = "internal error";
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        reply(response, 500, {{"error", what}});
    });
}

}  // namespace warmup::host
