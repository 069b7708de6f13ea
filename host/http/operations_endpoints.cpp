// http/operations_endpoints.cpp — the mutating endpoints: POST /api/warmup/config/reload and /config/rollback (answered
// with reload_json), and the operations POST /api/warmup/emergency-stop, /reset-to-safe, /reset-data-collection,
// /queue/restart-workers, /backup-state and /restore-state. An operation answers {"status": "done"|"failed",
// facts..., "notes": [...], "error"?, "file"?} with the status of its OperationResult.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "http/api_json.hpp"
#include "http/http_api.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;

json operation_json(const OperationResult& result) {
    json body{{"status", result.ok() ? "done" : "failed"}, {"notes", result.notes}};
    for (const auto& [name, value] : result.facts) body[name] = json_number(value);
    if (!result.ok()) body["error"] = result.error;
    if (!result.file.empty()) body["file"] = result.file;
    return body;
}

void reply_operation(httplib::Response& response, const OperationResult& result) {
    reply(response, result.http_status, operation_json(result));
}

/// The optional {"name": "..."} body of backup-state / restore-state: "" when absent; nullopt (and a 400 answer)
/// when the body is not that shape.
std::optional<std::string> backup_name(const std::string& text, httplib::Response& response) {
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
}

}  // namespace

void HttpApi::post_config_reload(const httplib::Request&, httplib::Response& response, const std::string&) {
    reply_reload(response, runtime_.reload_from_file());
}

void HttpApi::post_config_rollback(const httplib::Request&, httplib::Response& response, const std::string&) {
    reply_reload(response, runtime_.rollback());
}

void HttpApi::post_emergency_stop(const httplib::Request&, httplib::Response& response, const std::string&) {
    reply_operation(response, runtime_.emergency_stop());
}

void HttpApi::post_reset_to_safe(const httplib::Request&, httplib::Response& response, const std::string&) {
    reply_operation(response, runtime_.reset_to_safe());
}

void HttpApi::post_reset_data_collection(const httplib::Request&, httplib::Response& response, const std::string&) {
    reply_operation(response, runtime_.reset_data_collection());
}

void HttpApi::post_restart_workers(const httplib::Request&, httplib::Response& response, const std::string&) {
    reply_operation(response, runtime_.restart_workers());
}

void HttpApi::post_backup_state(const httplib::Request&, httplib::Response& response, const std::string& text) {
    const auto name = backup_name(text, response);
    if (name) reply_operation(response, runtime_.backup_state(*name));
}

void HttpApi::post_restore_state(const httplib::Request&, httplib::Response& response, const std::string& text) {
    const auto name = backup_name(text, response);
    if (name) reply_operation(response, runtime_.restore_backup(*name));
}

}  // namespace warmup::host
