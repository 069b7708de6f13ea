// http/operations_endpoints.cpp — the mutating endpoints: POST /api/warmup/config/reload and /config/rollback (answered
// with reload_json), and the operations POST /api/warmup/emergency-stop, /reset-to-safe, /reset-data-collection,
// /queue/restart-workers, /backup-state and /restore-state. An operation answers {"status": "done"|"failed",
// facts..., "notes": [...], "error"?, "file"?} with the status of its OperationResult. Bodies: backup-state takes
// {"name"?, "overwrite"?}, restore-state {"name"?, "at_next_start"?}, every other one none; a body that is not what the
// endpoint takes (not JSON, a key it does not know) is refused with 400 before anything runs. No body at all, a blank
// one and {} (what warmupctl sends) always stand for "none".
#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/api_json.hpp"
#include "http/http_api.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;

json operation_json(const OperationResult& result) {
    const bool failed = !result.ok() && !result.accepted();
    json body{{"status", result.ok() ? "done" : result.accepted() ? "staged" : "failed"}, {"notes", result.notes}};
    for (const auto& [name, value] : result.facts) body[name] = json_number(value);
    if (failed) body["error"] = result.error;
    if (!result.file.empty()) body["file"] = result.file;
    return body;
}

void reply_operation(httplib::Response& response, const OperationResult& result) {
    reply(response, result.http_status, operation_json(result));
}

void refuse_body(httplib::Response& response, const std::string& error) {
    reply(response, 400, {{"status", "failed"}, {"error", error}});
}

bool blank(const std::string& text) { return text.find_first_not_of(" \t\r\n") == std::string::npos; }

/// The body of an operation that takes none: true for no body, a blank one or an empty JSON object (warmupctl sends
/// {}); else false after a 400 answer, so that a request meant for another endpoint is not run as this one.
bool no_body(const std::string& text, httplib::Response& response) {
    if (blank(text)) return true;
    const json body = json::parse(text, nullptr, false);
    if (body.is_object() && body.empty()) return true;
    refuse_body(response, "this endpoint takes no body: send none (or {})");
    return false;
}

/// The optional JSON object body of backup-state and restore-state: an empty object for no body or a blank one;
/// nullopt (and a 400 answer) when the body is not a JSON object or holds a key other than `keys` (a misspelt key
/// must not be taken for an absent one). `shape` words the expected body.
std::optional<json> object_body(const std::string& text, std::initializer_list<std::string_view> keys,
                                const std::string& shape, httplib::Response& response) {
    if (blank(text)) return json::object();
    // A key given twice would be read as its last value ({"name": "b1", "name": "b2"} backing up as b2): refused, as
    // in an event object.
    std::vector<std::string> keys_seen;
    std::optional<std::string> twice;
    json body = json::parse(
        text,
        [&](int depth, json::parse_event_t event, json& parsed) {
            if (event != json::parse_event_t::key || depth != 1 || twice) return true;
            std::string key = parsed.get<std::string>();
            if (std::find(keys_seen.begin(), keys_seen.end(), key) != keys_seen.end()) twice = key;
            keys_seen.push_back(std::move(key));
            return true;
        },
        /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
        refuse_body(response, "expected an empty body or " + shape);
        return std::nullopt;
    }
    if (twice) {
        refuse_body(response, fmt::format("key \"{}\" appears twice in the body (each is given once)", *twice));
        return std::nullopt;
    }
    for (const auto& [key, value] : body.items())
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
            refuse_body(response,
                        fmt::format("unknown key \"{}\" in the body: expected an empty body or {}", key, shape));
            return std::nullopt;
        }
    return body;
}

/// The "name" of a backup body: "" when absent or null (the caller's default); nullopt (and a 400 answer) when it
/// is not a string or is empty. `absent` says what leaving it out does.
std::optional<std::string> backup_name(const json& body, std::string_view absent, httplib::Response& response) {
    const auto found = body.find("name");
    if (found == body.end() || found->is_null()) return std::string();
    if (!found->is_string()) {
        refuse_body(response, "\"name\" must be a string");
        return std::nullopt;
    }
    std::string name = found->get<std::string>();
    if (name.empty()) {
        refuse_body(response, fmt::format("\"name\" is empty: a backup name is 1 to 64 characters of "
                                          "[A-Za-z0-9._-], not starting with '.' (leave \"name\" out for {})",
                                          absent));
        return std::nullopt;
    }
    return name;
}

}  // namespace

void HttpApi::post_config_reload(const httplib::Request&, httplib::Response& response, const std::string& text) {
    if (no_body(text, response)) reply_reload(response, runtime_.reload_from_file());
}

void HttpApi::post_config_rollback(const httplib::Request&, httplib::Response& response, const std::string& text) {
    if (no_body(text, response)) reply_reload(response, runtime_.rollback());
}

void HttpApi::post_emergency_stop(const httplib::Request&, httplib::Response& response, const std::string& text) {
    if (no_body(text, response)) reply_operation(response, runtime_.emergency_stop());
}

void HttpApi::post_resume(const httplib::Request&, httplib::Response& response, const std::string& text) {
    if (no_body(text, response)) reply_operation(response, runtime_.resume());
}

void HttpApi::post_reset_to_safe(const httplib::Request&, httplib::Response& response, const std::string& text) {
    if (no_body(text, response)) reply_operation(response, runtime_.reset_to_safe());
}

void HttpApi::post_reset_data_collection(const httplib::Request&, httplib::Response& response,
                                         const std::string& text) {
    if (no_body(text, response)) reply_operation(response, runtime_.reset_data_collection());
}

void HttpApi::post_restart_workers(const httplib::Request&, httplib::Response& response, const std::string& text) {
    if (no_body(text, response)) reply_operation(response, runtime_.restart_workers());
}

void HttpApi::post_backup_state(const httplib::Request&, httplib::Response& response, const std::string& text) {
    const auto body = object_body(text, {"name", "overwrite"}, R"({"name": "...", "overwrite": true|false})", response);
    if (!body) return;
    const auto name = backup_name(*body, "a time-stamped name", response);
    if (!name) return;
    if (StateStore::daemon_backup_name(*name)) {
        refuse_body(response, fmt::format("'{}' is a backup the daemon writes itself (it would be overwritten): "
                                          "choose another name",
                                          *name));
        return;
    }
    const auto overwrite = body->find("overwrite");
    if (overwrite != body->end() && !overwrite->is_boolean()) {
        refuse_body(response, "\"overwrite\" must be true or false");
        return;
    }
    reply_operation(response, runtime_.backup_state(*name, overwrite != body->end() && overwrite->get<bool>()));
}

void HttpApi::post_restore_state(const httplib::Request&, httplib::Response& response, const std::string& text) {
    const auto body =
        object_body(text, {"name", "at_next_start"}, R"({"name": "...", "at_next_start": true|false})", response);
    if (!body) return;
    const auto name = backup_name(*body, "the newest backup", response);
    if (!name) return;
    const auto at_next_start = body->find("at_next_start");
    if (at_next_start != body->end() && !at_next_start->is_boolean()) {
        refuse_body(response, "\"at_next_start\" must be true or false");
        return;
    }
    reply_operation(response,
                    runtime_.restore_backup(*name, at_next_start != body->end() && at_next_start->get<bool>()));
}

}  // namespace warmup::host
