// http/status_endpoints.cpp — the read-only views of the control arm and the experiment: GET /api/warmup/status,
// /plugins, /predictions, /experiments and /health/components. Engine and plugin state is read on the control thread
// (LiveRuntime::call_on_control); the answer is built and sent on the HTTP thread.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "http/api_json.hpp"
#include "http/http_api.hpp"
#include "http/model_page.hpp"
#include "version/build_info.hpp"

namespace warmup::host {

using nlohmann::json;

void HttpApi::get_status(const httplib::Request& request, httplib::Response& response) {
    ModelPage page;
    if (const auto error = parse_model_page(request.params, runtime_.catalog(), ModelList::Status, page)) {
        reply(response, 400, {{"error", *error}});
        return;
    }
    // On the control thread only the figures are read (the page's models, the unloads, the counters); the JSON,
    // about 110 bytes a model (19 k models waiting for memory made 2 MB), is built here, off the control loop.
    std::vector<ModelStatus> listed_models;
    std::vector<PendingUnload> unloads;
    EngineCounters engine_counters;
    warmup_model_index next_after = WARMUP_NO_MODEL;
    // Per residency (indexed by warmup_residency): models in that state, their memory, and how many are listed.
    std::array<std::size_t, 4> in_state{}, listed_in_state{};
    std::array<double, 4> state_mb{};
    json status = runtime_.call_on_control([&](WarmupEngine& engine) {
        // The page holds the models that are warm, loading or queued, in catalog order from page.first (or, with
        // per_state, the first of each list); the counters and totals always cover every model.
        for (warmup_model_index model = 0; model < engine.model_count(); ++model) {
            ModelStatus s = engine.model_status(model);
            if (s.residency == WARMUP_RESIDENCY_ABSENT) continue;
            const auto state = static_cast<std::size_t>(s.residency);
            if (state >= in_state.size()) continue;
            ++in_state[state];
            state_mb[state] += s.memory_mb;
            if (page.per_state != 0) {
                if (listed_in_state[state] == page.per_state) continue;
            } else {
                if (model < page.first || next_after != WARMUP_NO_MODEL) continue;
                if (listed_models.size() == page.limit) {  // one more model to list: the page is full, not the last
                    next_after = listed_models.back().model;
                    continue;
                }
            }
            ++listed_in_state[state];
            listed_models.push_back(std::move(s));
        }
        unloads = engine.pending_unloads();  // few: not paginated
        engine_counters = engine.counters();
        return json{{"now_ms", runtime_.clock().now_ms()},         {"emergency_stop", engine.stopped()},
                    {"safe_mode", runtime_.safe_mode()},           {"budget_mb", json_number(engine.budget_mb())},
                    {"used_mb", json_number(engine.used_mb())},    {"unloading_mb", json_number(engine.unloading_mb())},
                    {"loads_in_flight", engine.loads_in_flight()}, {"queue_depth", engine.queue_depth()},
                    {"memory_waiters", engine.memory_waiters()},   {"plugins", plugins_json(runtime_.plugins())}};
    });
    status["state_keeping"] = runtime_.state_store() != nullptr;  // a state folder: backups and restores work
    status["warm_count"] = in_state[WARMUP_RESIDENCY_READY];
    status["loading_count"] = in_state[WARMUP_RESIDENCY_LOADING];
    status["queued_count"] = in_state[WARMUP_RESIDENCY_QUEUED];
    status["warm_mb"] = json_number(state_mb[WARMUP_RESIDENCY_READY]);
    status["loading_mb"] = json_number(state_mb[WARMUP_RESIDENCY_LOADING]);
    json warm = json::array(), loading = json::array(), queued = json::array();
    for (const ModelStatus& s : listed_models) {
        const std::string& name = runtime_.catalog().record(s.model).name;
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
    json unloading = json::array();
    for (const PendingUnload& unload : unloads)
        unloading.push_back({{"model", runtime_.catalog().record(unload.model).name},
                             {"memory_mb", json_number(unload.memory_mb)},
                             {"since_ms", time_or_null(unload.since_ms)},
                             {"failed", unload.failed},
                             {"timed_out", unload.timed_out}});
    json counters = counters_json(engine_counters);
    counters["events_accepted"] = runtime_.accepted_events();
    counters["events_refused"] = runtime_.refused_events();
    counters["events_invalid"] = runtime_.invalid_events();
    status["counters"] = std::move(counters);
    status["warm"] = std::move(warm);
    status["loading"] = std::move(loading);
    status["queued"] = std::move(queued);
    status["unloading"] = std::move(unloading);
    status["next_after"] =
        next_after == WARMUP_NO_MODEL ? json(nullptr) : json(runtime_.catalog().record(next_after).name);
    listed_models = {};
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
}

void HttpApi::get_plugins(const httplib::Request&, httplib::Response& response) {
    json plugins = runtime_.call_on_control([this](WarmupEngine&) { return plugins_json(runtime_.plugins()); });
    reply(response, 200,
          {{"host_abi", fmt::format("{}.{}", WARMUP_ABI_MAJOR, WARMUP_ABI_MINOR)}, {"plugins", plugins}});
}

namespace {

/// One model's line of GET /api/warmup/predictions, as read on the control thread: plain figures, so that the
/// control loop spends only the predictions themselves on a request and the JSON is built on the HTTP thread.
struct PredictionRow {
    warmup_model_index model = WARMUP_NO_MODEL;
    ModelStatus status;
    warmup_prediction prediction{};
    std::optional<std::string> error;                  ///< set when the analyzer or predictor could not answer
    warmup_time_ms soonest_at_ms = WARMUP_TIME_NEVER;  ///< `soonest`: the model's first event within the window
};

/// `soonest` order: the earlier event first, then the catalog's order.
bool sooner(const PredictionRow& a, const PredictionRow& b) {
    return a.soonest_at_ms != b.soonest_at_ms ? a.soonest_at_ms < b.soonest_at_ms : a.model < b.model;
}

/// The first of the row's predicted next use, planned pre-warm and planned unload within [from, to], or
/// WARMUP_TIME_NEVER when none is.
warmup_time_ms first_event_within(const PredictionRow& row, warmup_time_ms from, warmup_time_ms to) {
    warmup_time_ms first = WARMUP_TIME_NEVER;
    const auto consider = [&](warmup_time_ms at) {
        if (at != WARMUP_TIME_NEVER && at >= from && at <= to) first = std::min(first, at);
    };
    if (!row.error) consider(row.prediction.next_arrival_ms);
    consider(row.status.warm_start_at_ms);
    consider(row.status.unload_at_ms);
    return first;
}

}  // namespace

void HttpApi::get_predictions(const httplib::Request& request, httplib::Response& response) {
    ModelPage page;
    if (const auto error = parse_model_page(request.params, runtime_.catalog(), ModelList::Predictions, page)) {
        reply(response, 400, {{"error", *error}});
        return;
    }
    std::vector<PredictionRow> rows;
    warmup_time_ms now_ms = 0;
    warmup_model_index next_after = WARMUP_NO_MODEL;
    std::size_t in_window = 0;  // `soonest`: the models with an event in the window, listed or not
    runtime_.call_on_control([&](WarmupEngine& engine) {
        now_ms = runtime_.clock().now_ms();
        // Every model the catalog knows: after a state restore a model has learned patterns before the engine
        // has seen a request for it. A page costs O(limit) predictions, whatever the number of models.
        const warmup_model_index known = std::max(engine.model_count(), runtime_.catalog().size());
        if (page.soonest != 0) {
            // Every model is predicted, and the `soonest` first events kept in a heap (the latest on top): the
            // control loop copies at most that many rows, whatever the number of models.
            const warmup_time_ms window_end =
                now_ms > WARMUP_TIME_NEVER - page.within_ms ? WARMUP_TIME_NEVER - 1 : now_ms + page.within_ms;
            rows.reserve(std::min<std::size_t>(page.soonest, known));
            for (warmup_model_index model = 0; model < known; ++model) {
                PredictionRow row;
                row.model = model;
                row.status = engine.model_status(model);
                row.error = engine.predict_now(model, now_ms, row.prediction);
                row.soonest_at_ms = first_event_within(row, now_ms, window_end);
                if (row.soonest_at_ms == WARMUP_TIME_NEVER) continue;
                ++in_window;
                if (rows.size() == page.soonest) {
                    if (!sooner(row, rows.front())) continue;
                    std::pop_heap(rows.begin(), rows.end(), sooner);
                    rows.back() = std::move(row);
                } else {
                    rows.push_back(std::move(row));
                }
                std::push_heap(rows.begin(), rows.end(), sooner);
            }
            return;
        }
        warmup_model_index model = page.first;
        rows.reserve(std::min<std::size_t>(page.limit, known - std::min(known, page.first)));
        for (; model < known && rows.size() < page.limit; ++model) {
            PredictionRow& row = rows.emplace_back();
            row.model = model;
            row.status = engine.model_status(model);
            row.error = engine.predict_now(model, now_ms, row.prediction);
        }
        // The page is full and models remain after it: the cursor of the next page is the last model considered.
        if (model < known) next_after = model - 1;
    });
    if (page.soonest != 0) std::sort_heap(rows.begin(), rows.end(), sooner);  // soonest first
    // The JSON (about 360 bytes a model, a quarter of a second for 20 k models) is built here, off the control loop.
    json list = json::array();
    for (const PredictionRow& row : rows) {
        const ModelStatus& s = row.status;
        if (row.error) {
            list.push_back({{"model", runtime_.catalog().record(row.model).name},
                            {"residency", residency_name(s.residency)},
                            {"error", *row.error},
                            {"planned_unload_at_ms", time_or_null(s.unload_at_ms)},
                            {"planned_warm_start_at_ms", time_or_null(s.warm_start_at_ms)}});
            continue;
        }
        const warmup_prediction& p = row.prediction;
        list.push_back({{"model", runtime_.catalog().record(row.model).name},
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
    rows = {};
    json predictions{{"now_ms", now_ms},
                     {"predictions", std::move(list)},
                     {"next_after", next_after == WARMUP_NO_MODEL ? json(nullptr)
                                                                  : json(runtime_.catalog().record(next_after).name)}};
    if (page.soonest != 0) {
        predictions["within_ms"] = page.within_ms;
        predictions["total"] = in_window;
    }
    const std::size_t listed = predictions["predictions"].size();
    reply(response, 200, predictions);
    predictions = json();
    return_freed_memory(listed);
}

void HttpApi::get_experiments(const httplib::Request&, httplib::Response& response) {
    json body = runtime_.call_on_control([this](WarmupEngine&) {
        json arms = json::array();
        for (const auto& arm : runtime_.arms()) {
            const EngineCounters c = arm->counted_in_experiment();
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
                            // An arm whose plugin calls fail is partly decided by the host's fallbacks: its figures
                            // are not the plugin's alone (as a replay flags such an arm above its table).
                            {"plugin_errors", c.plugin_errors},
                            {"counted_since_unix_ms",
                             arm->counted_since_unix_ms == 0 ? json(nullptr) : json(arm->counted_since_unix_ms)},
                            {"plugins", plugins_json(*arm->plugins)}});
        }
        const auto& experiment = runtime_.experiment();
        return json{
            {"enabled", experiment.enabled && runtime_.arms().size() > 1}, {"split", experiment.split}, {"arms", arms}};
    });
    reply(response, 200, body);
}

std::vector<ComponentHealth> HttpApi::component_health() {
    std::vector<ComponentHealth> health = runtime_.component_health();
    if (extra_component_health_) health.push_back(extra_component_health_());
    return health;
}

void HttpApi::get_component_health(const httplib::Request&, httplib::Response& response) {
    json components = json::array();
    bool degraded = false;
    for (const ComponentHealth& health : component_health()) {
        degraded = degraded || health.degraded;
        json line = {
            {"component", health.component},
            {"plugin", health.label.empty() ? json(nullptr) : json(health.label)},
            {"state", health.circuit == "open" || health.circuit == "half-open"
                          ? "open circuit"
                          : (health.degraded ? "degraded" : "ok")},
            {"circuit", health.circuit.empty() ? json(nullptr) : json(health.circuit)},
            {"reason", health.reason.empty() ? json(nullptr) : json(health.reason)},
            {"errors", health.errors},
            {"last_error", health.last_error.empty() ? json(nullptr) : json(health.last_error)},
            {"last_error_unix_ms", health.last_error_unix_ms == 0 ? json(nullptr) : json(health.last_error_unix_ms)}};
        // A plugin's last error may be an instance's that a hot-swap replaced: the running one has not failed.
        if (slot_from_key(health.component) && health.last_error_unix_ms != 0)
            line["last_error_by_replaced_instance"] = health.last_error_replaced;
        if (const auto& source = health.source) {
            line["polls"] = source->polls;
            line["events_accepted"] = source->events_accepted;
            line["events_refused"] = source->events_refused;
            line["bad_records"] = source->bad_records;
            line["last_bad_record"] = source->last_bad_record.empty() ? json(nullptr) : json(source->last_bad_record);
            line["last_poll_unix_ms"] =
                source->last_poll_unix_ms == 0 ? json(nullptr) : json(source->last_poll_unix_ms);
        }
        components.push_back(std::move(line));
    }
    reply(response, 200, {{"status", degraded ? "degraded" : "ok"}, {"components", components}});
}

}  // namespace warmup::host
