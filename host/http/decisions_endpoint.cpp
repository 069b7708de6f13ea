// http/decisions_endpoint.cpp — GET /api/warmup/decisions: the newest decisions of every arm with their reasons,
// filtered by ?model= and ?arm= (404 for a model never seen, or an arm neither running nor in the log), at most
// ?limit= of them. Read-only and off the control thread: the decision log has
// its own lock.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "http/api_json.hpp"
#include "http/http_api.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;

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
                 {"unloading_mb", json_number(d.unloading_mb)},
                 {"budget_mb", json_number(d.budget_mb)},
                 {"pressure", d.budget_mb > 0 ? json(d.used_mb / d.budget_mb) : json(nullptr)}}}};
    if (d.until_ms != WARMUP_TIME_NEVER) entry["until_ms"] = d.until_ms;
    if (d.prewarm_at_ms != WARMUP_TIME_NEVER) entry["prewarm_at_ms"] = d.prewarm_at_ms;
    if (d.for_model != WARMUP_NO_MODEL) entry["for_model"] = name(d.for_model);
    if (d.attempt != 0) entry["attempt"] = d.attempt;
    if (!d.plugin_says.empty()) entry["plugin_says"] = d.plugin_says;
    if (d.repeats > 1) {
        entry["repeats"] = d.repeats;
        entry["first_at_ms"] = d.first_at_ms;
    }
    return entry;
}

}  // namespace

void HttpApi::get_decisions(const httplib::Request& request, httplib::Response& response) {
    // Unknown query parameters were refused by the route check (routes() lists this endpoint's).
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
    if (request.has_param("arm")) {
        arm = request.get_param_value("arm");
        // A name that is neither running nor in the log is a mistake (a typo, an arm of another configuration), not
        // an arm that has decided nothing yet: say so rather than answer an empty list.
        const std::vector<std::string> running = runtime_.arm_names();
        const std::vector<std::string> recorded = log.arms();
        if (std::find(running.begin(), running.end(), *arm) == running.end() &&
            std::find(recorded.begin(), recorded.end(), *arm) == recorded.end()) {
            reply(response, 404,
                  {{"error", fmt::format("unknown arm '{}': no running arm and no recorded decision has that name "
                                         "(arms running: {})",
                                         *arm, fmt::join(running, ", "))}});
            return;
        }
    }
    json list = json::array();
    for (const Decision& decision : log.newest(model, limit, arm))
        list.push_back(decision_json(decision, runtime_.catalog()));
    answer["now_ms"] = runtime_.clock().now_ms();
    answer["capacity"] = log.capacity();
    answer["held"] = log.size();
    answer["decisions"] = std::move(list);
    reply(response, 200, answer);
}

}  // namespace warmup::host
