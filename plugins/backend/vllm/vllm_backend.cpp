#include "vllm_backend.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>
#include <warmup/sdk/glob.hpp>

#include "common/model_name_in_path.hpp"

namespace warmup::plugins {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

/// Longest piece of a server's answer quoted in an error message (an HTML error page must not flood the log).
constexpr std::size_t kMaxQuotedBodyChars = 300;
constexpr double kBytesPerMebibyte = 1024.0 * 1024.0;

std::string name_of(const warmup_model_info& model) { return std::string(sdk::to_string_view(model.name)); }

bool has_glob_characters(std::string_view text) { return text.find_first_of("*?") != std::string_view::npos; }

/// vLLM's error text: {"error": {"message": ...}} (current releases), {"message": ...} (older ones) or FastAPI's
/// {"detail": ...}; else the start of the body.
std::string server_error_text(const std::string& body) {
    const Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object()) {
        if (parsed.contains("error") && parsed["error"].is_object() && parsed["error"].contains("message") &&
            parsed["error"]["message"].is_string())
            return parsed["error"]["message"].get<std::string>();
        for (const char* key : {"message", "detail", "error"})
            if (parsed.contains(key) && parsed[key].is_string()) return parsed[key].get<std::string>();
    }
    if (body.empty()) return "(empty body)";
    return body.size() > kMaxQuotedBodyChars ? body.substr(0, kMaxQuotedBodyChars) + "..." : body;
}

/// Who answered a 404: nobody (not a 404), the web framework itself (`{"detail": ...}`: the route does not exist, the
/// feature's flag is off), vLLM's handler (its own error object: e.g. an adapter it does not hold), or something in
/// front of vLLM (a body that is not JSON: a proxy or ingress whose server is away, typically while it restarts).
enum class NotFoundBy { NotA404, MissingRoute, Vllm, Foreign };

NotFoundBy not_found_by(const sdk::HttpResponse& answer) {
    if (!answer.answered() || answer.status != 404) return NotFoundBy::NotA404;
    const Json parsed = Json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return NotFoundBy::Foreign;
    const bool framework =
        parsed.is_object() && parsed.contains("detail") && !parsed.contains("message") && !parsed.contains("error");
    return framework ? NotFoundBy::MissingRoute : NotFoundBy::Vllm;
}

/// The sdk::Error for an exchange that did not succeed. `what` is e.g. "load of adapter 'x'"; `missing_route_hint`
/// says which server flags expose the endpoint.
[[noreturn]] void throw_for(const sdk::HttpClient& client, const sdk::HttpResponse& answer, const std::string& what,
                            const std::string& missing_route_hint) {
    const std::string where = "vLLM " + client.endpoint().url + ": " + what;
    switch (answer.outcome) {
        case sdk::HttpResponse::Outcome::Cancelled:
            throw sdk::Error(WARMUP_ERROR_CANCELLED,
                             where + " cancelled by the host after " + std::to_string(answer.elapsed_ms) + " ms");
        case sdk::HttpResponse::Outcome::TimedOut:
            throw sdk::Error(WARMUP_ERROR_TIMEOUT, where + ": " + answer.request_line + " did not finish within " +
                                                       std::to_string(answer.timeout_ms) + " ms");
        case sdk::HttpResponse::Outcome::TransportError:
            throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, where + ": cannot reach the server (" + answer.request_line +
                                                           ": " + answer.transport_error +
                                                           "); is `vllm serve` running at " + client.endpoint().url +
                                                           "?");
        case sdk::HttpResponse::Outcome::Answered:
            break;
    }
    const std::string text =
        answer.request_line + " answered HTTP " + std::to_string(answer.status) + ": " + server_error_text(answer.body);
    if (not_found_by(answer) == NotFoundBy::MissingRoute)
        throw sdk::Error(WARMUP_ERROR_UNSUPPORTED, where + ": " + text + "; the server does not offer this endpoint (" +
                                                       missing_route_hint + ")");
    if (not_found_by(answer) == NotFoundBy::Foreign)
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE,
                         where + ": " + text +
                             "; not vLLM's answer (its routes answer JSON): a proxy in front of a "
                             "server that is not there, or restarting?");
    warmup_status code = WARMUP_ERROR_UNAVAILABLE;  // 5xx and anything unexpected: a retry may succeed
    if (answer.status == 404)
        code = WARMUP_ERROR_NOT_FOUND;
    else if (answer.status == 408 || answer.status == 504)
        code = WARMUP_ERROR_TIMEOUT;
    else if (answer.status == 429)
        code = WARMUP_ERROR_UNAVAILABLE;  // rate limited (a gateway in front of the server): a later retry may pass
    else if (answer.status >= 400 && answer.status < 500)
        code = WARMUP_ERROR_INVALID_ARGUMENT;
    throw sdk::Error(code, where + ": " + text);
}

const std::string kSleepFlags = "start vllm serve with --enable-sleep-mode and the environment VLLM_SERVER_DEV_MODE=1";
const std::string kLoraFlags =
    "start vllm serve with --enable-lora and the environment VLLM_ALLOW_RUNTIME_LORA_UPDATING=True";

}  // namespace

VllmBackend::VllmBackend(sdk::Host host, sdk::Params& params) : sdk::Backend(host) {
    if (!params.has("mode"))
        throw sdk::InvalidArgument(
            "params.mode: required: sleep (one server per model, woken and put to sleep) or "
            "lora (models are LoRA adapters loaded into a server)");
    mode_ = params.get_choice("mode", "sleep", {"sleep", "lora"}) == "lora" ? Mode::Lora : Mode::Sleep;

    const sdk::HttpClientOptions connection = sdk::read_http_client_options(params);
    const sdk::NameMap server_urls =
        sdk::read_name_map(params, "servers", "a vLLM base URL such as http://127.0.0.1:8000");
    for (const auto& [glob, url] : server_urls.entries())
        servers_.push_back(
            {glob, sdk::HttpClient(sdk::parse_http_base_url(url, "params.servers." + glob, 8000), connection)});
    if (servers_.empty())
        throw sdk::InvalidArgument(
            "params.servers: required: a mapping from catalog name glob to the base URL of "
            "the vLLM server that serves it, e.g. {\"llama-8b\": http://127.0.0.1:8001}");

    if (mode_ == Mode::Sleep) {
        sleep_level_ = static_cast<int>(params.get_int("sleep_level", 1, 1, 2));
        memory_metric_ = params.get_string("memory_metric", "");
        if (params.has("lora_paths")) throw sdk::InvalidArgument("params.lora_paths: only used with mode: lora");
    } else {
        if (params.has("sleep_level")) throw sdk::InvalidArgument("params.sleep_level: only used with mode: sleep");
        if (params.has("memory_metric")) throw sdk::InvalidArgument("params.memory_metric: only used with mode: sleep");
        lora_paths_ =
            sdk::read_name_map(params, "lora_paths", "an adapter path (${name} is replaced by the model name)");
        if (lora_paths_.empty())
            throw sdk::InvalidArgument(
                "params.lora_paths: required with mode: lora: a mapping from catalog name glob "
                "to the adapter's path on the server, e.g. {\"*\": /adapters/${name}}");
    }
    load_timeout_ms_ = params.get_int("load_timeout_ms", 600000, 1, 86400000);
    request_timeout_ms_ = params.get_int("request_timeout_ms", 30000, 1, 3600000);
    wake_poll_ms_ = params.get_int("wake_poll_ms", 200, 10, 60000);
    seen_.resize(servers_.size());
}

void VllmBackend::record_change(const Server& server, const std::function<void(SeenState&)>& change) {
    std::lock_guard lock(seen_mutex_);
    SeenState& seen = seen_[index_of(server)];
    change(seen);
    ++seen.changes;
}

const VllmBackend::Server* VllmBackend::server_for(std::string_view catalog_name) const {
    for (const Server& server : servers_)
        if (server.glob == catalog_name) return &server;
    for (const Server& server : servers_)
        if (sdk::glob_match(server.glob, catalog_name)) return &server;
    return nullptr;
}

std::string VllmBackend::lora_path_for(std::string_view catalog_name) const {
    const auto* mapped = lora_paths_.find(catalog_name);
    if (mapped == nullptr) return {};
    std::string path = mapped->second;
    const std::string placeholder = "${name}";
    if (path.find(placeholder) != std::string::npos)
        if (const auto problem = backend::model_name_path_problem(catalog_name))
            throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT, "vLLM: model name '" + std::string(catalog_name) + "' " +
                                                                *problem + "; refusing to substitute it into '" +
                                                                mapped->second + "' (params.lora_paths)");
    for (std::size_t at = path.find(placeholder); at != std::string::npos;
         at = path.find(placeholder, at + catalog_name.size()))
        path.replace(at, placeholder.size(), catalog_name);
    return path;
}

const VllmBackend::Server& VllmBackend::require_server(std::string_view catalog_name) const {
    const Server* server = server_for(catalog_name);
    if (server == nullptr)
        throw sdk::Error(WARMUP_ERROR_NOT_FOUND, "vLLM: no params.servers entry matches model '" +
                                                     std::string(catalog_name) +
                                                     "'; add its name or a glob that matches it");
    return *server;
}

double VllmBackend::load(const warmup_model_info& model, const warmup_cancel_token& cancel) {
    const std::string name = name_of(model);
    const Server& server = require_server(name);
    if (mode_ == Mode::Sleep) {
        wake(server, name, cancel);
        record_change(server, [](SeenState& seen) { seen.awake = true; });
        return memory_metric_.empty() ? 0.0 : metric_memory_mb(server, name);
    }
    load_adapter(server, name, cancel);
    record_change(server, [&](SeenState& seen) { seen.adapters.insert(name); });
    return 0.0;
}

void VllmBackend::wake(const Server& server, std::string_view name, const warmup_cancel_token& cancel) {
    const std::string what = "wake-up of model '" + std::string(name) + "'";
    const auto started = Clock::now();
    const auto left_ms = [&] {
        return std::max<int64_t>(
            1,
            load_timeout_ms_ - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
    };
    if (sleep_level_ == 2) {
        // Level 2 discarded the weights: a plain wake-up would serve from memory that no longer holds them. vLLM's
        // sequence: allocate the weights' memory, reload the weights into it, then allocate the KV cache.
        const sdk::HttpResponse weights = server.client.post("/wake_up?tags=weights", "", left_ms(), &cancel);
        if (!weights.succeeded()) throw_for(server.client, weights, what + " (its weights' memory)", kSleepFlags);
        const sdk::HttpResponse reloaded =
            server.client.post("/collective_rpc", R"({"method":"reload_weights"})", left_ms(), &cancel);
        if (!reloaded.succeeded())
            throw_for(server.client, reloaded, what + " (reloading its weights after a level-2 sleep)", kSleepFlags);
        const sdk::HttpResponse cache = server.client.post("/wake_up?tags=kv_cache", "", left_ms(), &cancel);
        if (!cache.succeeded()) throw_for(server.client, cache, what + " (its KV cache)", kSleepFlags);
    } else {
        const sdk::HttpResponse woken = server.client.post("/wake_up", "", load_timeout_ms_, &cancel);
        if (!woken.succeeded()) throw_for(server.client, woken, what, kSleepFlags);
    }
    // vLLM may answer before the engine is awake (its own code says so for some set-ups): wait for is_sleeping false.
    while (true) {
        const int64_t left_ms =
            load_timeout_ms_ - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
        if (left_ms <= 0)
            throw sdk::Error(WARMUP_ERROR_TIMEOUT,
                             "vLLM " + server.client.endpoint().url + ": " + what +
                                 ": still asleep after load_timeout_ms=" + std::to_string(load_timeout_ms_));
        if (!is_sleeping(server, &cancel, std::min(request_timeout_ms_, left_ms))) return;
        const auto poll_until = Clock::now() + std::chrono::milliseconds(wake_poll_ms_);
        while (Clock::now() < poll_until) {
            if (sdk::is_cancelled(&cancel))
                throw sdk::Error(WARMUP_ERROR_CANCELLED, "vLLM " + server.client.endpoint().url + ": " + what +
                                                             " cancelled by the host while the server woke up");
            std::this_thread::sleep_for(std::chrono::milliseconds(sdk::kHttpPollIntervalMs));
        }
    }
}

bool VllmBackend::is_sleeping(const Server& server, const warmup_cancel_token* cancel, int64_t timeout_ms) const {
    const sdk::HttpResponse answer = server.client.get("/is_sleeping", timeout_ms, cancel);
    if (!answer.succeeded()) throw_for(server.client, answer, "sleep state", kSleepFlags);
    const Json parsed = Json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.contains("is_sleeping") || !parsed["is_sleeping"].is_boolean())
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE,
                         "vLLM " + server.client.endpoint().url + ": " + answer.request_line +
                             " answered without a boolean is_sleeping: " + server_error_text(answer.body));
    return parsed["is_sleeping"].get<bool>();
}

double VllmBackend::metric_memory_mb(const Server& server, std::string_view name) const {
    const sdk::HttpResponse answer = server.client.get("/metrics", request_timeout_ms_);
    const auto unknown = [&](const std::string& why) {
        host().warn("vLLM " + server.client.endpoint().url + ": memory of model '" + std::string(name) + "' from " +
                    memory_metric_ + " unknown (" + why + "); the catalog's memory_mb applies");
        return 0.0;
    };
    if (!answer.succeeded())
        return unknown(answer.answered() ? "GET /metrics answered HTTP " + std::to_string(answer.status)
                                         : "GET /metrics: " + answer.transport_error);
    // Prometheus text format: "<name>[{labels}] <value> [timestamp]"; the first sample of the metric is taken.
    std::istringstream lines(answer.body);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(memory_metric_, 0) != 0 || line.size() <= memory_metric_.size()) continue;
        const char next = line[memory_metric_.size()];
        if (next != ' ' && next != '{') continue;
        const std::size_t labels_end = next == '{' ? line.find('}') : memory_metric_.size();
        if (labels_end == std::string::npos) continue;
        char* end = nullptr;
        const std::string value_text = line.substr(labels_end + 1);
        const double bytes = std::strtod(value_text.c_str(), &end);
        if (end == value_text.c_str() || !(bytes > 0)) return unknown("its value is not a positive number");
        return bytes / kBytesPerMebibyte;
    }
    return unknown("GET /metrics has no such metric");
}

std::vector<std::string> VllmBackend::listed_adapters(const Server& server, const warmup_cancel_token* cancel) const {
    const sdk::HttpResponse answer = server.client.get("/v1/models", request_timeout_ms_, cancel);
    if (!answer.succeeded()) throw_for(server.client, answer, "listing of models", kLoraFlags);
    const Json parsed = Json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.contains("data") || !parsed["data"].is_array())
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, "vLLM " + server.client.endpoint().url + ": " + answer.request_line +
                                                       " answered without a data list");
    std::vector<std::string> adapters;
    for (const Json& card : parsed["data"]) {
        // Base models have "parent": null; a LoRA adapter's card names its base model as parent.
        if (!card.is_object() || !card.contains("id") || !card["id"].is_string()) continue;
        if (card.contains("parent") && card["parent"].is_string()) adapters.push_back(card["id"].get<std::string>());
    }
    return adapters;
}

void VllmBackend::load_adapter(const Server& server, std::string_view name, const warmup_cancel_token& cancel) {
    const std::string what = "load of adapter '" + std::string(name) + "'";
    const std::string path = lora_path_for(name);
    if (path.empty())
        throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT, "vLLM " + server.client.endpoint().url + ": " + what +
                                                            ": no params.lora_paths entry matches the model name");
    const std::string body = Json{{"lora_name", name}, {"lora_path", path}}.dump();
    const sdk::HttpResponse loaded = server.client.post("/v1/load_lora_adapter", body, load_timeout_ms_, &cancel);
    // vLLM refuses a second load of an adapter it holds with 400 "... has already been loaded": the goal holds.
    const bool already_loaded = loaded.answered() && loaded.status == 400 &&
                                server_error_text(loaded.body).find("already been loaded") != std::string::npos;
    if (!loaded.succeeded() && !already_loaded) throw_for(server.client, loaded, what, kLoraFlags);

    const std::vector<std::string> adapters = listed_adapters(server, &cancel);
    if (std::find(adapters.begin(), adapters.end(), name) != adapters.end()) return;
    // Half-loaded: the server said yes but does not list it (it failed after answering, or was removed meanwhile).
    // Unload whatever is left so the server and the host's books agree, then fail the load.
    const sdk::HttpResponse cleanup =
        server.client.post("/v1/unload_lora_adapter", Json{{"lora_name", name}}.dump(), request_timeout_ms_);
    throw sdk::Error(WARMUP_ERROR_UNAVAILABLE,
                     "vLLM " + server.client.endpoint().url + ": " + what + ": " + loaded.request_line +
                         " answered HTTP " + std::to_string(loaded.status) + " but GET /v1/models does not list it" +
                         (cleanup.succeeded()                         ? "; unloaded what was left of it"
                          : not_found_by(cleanup) == NotFoundBy::Vllm ? "; the server holds nothing of it"
                                                                      : "; could not unload what is left"));
}

void VllmBackend::unload(const warmup_model_info& model) {
    const std::string name = name_of(model);
    const Server& server = require_server(name);
    if (mode_ == Mode::Sleep) {
        const std::string path = "/sleep?level=" + std::to_string(sleep_level_);
        const sdk::HttpResponse answer = server.client.post(path, "", request_timeout_ms_);
        if (!answer.succeeded()) throw_for(server.client, answer, "sleep of model '" + name + "'", kSleepFlags);
        record_change(server, [](SeenState& seen) { seen.awake = false; });
        return;
    }
    const sdk::HttpResponse answer =
        server.client.post("/v1/unload_lora_adapter", Json{{"lora_name", name}}.dump(), request_timeout_ms_);
    // vLLM answers 404 "... cannot be found" for an adapter it does not hold: it is certainly not resident.
    if (answer.succeeded() || not_found_by(answer) == NotFoundBy::Vllm) {
        record_change(server, [&](SeenState& seen) { seen.adapters.erase(name); });
        return;
    }
    throw_for(server.client, answer, "unload of adapter '" + name + "'", kLoraFlags);
}

std::vector<std::string> VllmBackend::models_served_by(const Server& server) const {
    std::vector<std::string> names;
    const uint32_t count = host().model_count();
    for (warmup_model_index index = 0; index < count; ++index) {
        const auto info = host().model_info(index);
        if (info && server_for(sdk::to_string_view(info->name)) == &server) names.push_back(name_of(*info));
    }
    if (!has_glob_characters(server.glob) && server_for(server.glob) == &server) names.push_back(server.glob);
    return names;
}

std::vector<sdk::ResidentModel> VllmBackend::list_resident() {
    std::vector<sdk::ResidentModel> resident;
    const auto add = [&](const std::string& name, double memory_mb) {
        const bool known = std::any_of(resident.begin(), resident.end(),
                                       [&](const sdk::ResidentModel& entry) { return entry.name == name; });
        if (!known) resident.push_back({name, memory_mb});
    };
    std::size_t servers_asked = 0;
    std::optional<sdk::Error> first_failure;
    for (const Server& server : servers_) {
        uint64_t changes_before = 0;
        {
            std::lock_guard lock(seen_mutex_);
            changes_before = seen_[index_of(server)].changes;
        }
        SeenState now;
        bool answered = false;
        try {
            if (mode_ == Mode::Lora) {
                for (std::string& adapter : listed_adapters(server, nullptr))
                    if (server_for(adapter) == &server) now.adapters.insert(std::move(adapter));
            } else {
                now.awake = !is_sleeping(server, nullptr, request_timeout_ms_);
            }
            answered = true;
            ++servers_asked;
            std::lock_guard lock(seen_mutex_);
            SeenState& seen = seen_[index_of(server)];
            // A load or unload that finished while the server was asked may or may not show in its answer: the
            // state it left stands.
            if (seen.changes == changes_before) {
                seen.awake = now.awake;
                seen.adapters = now.adapters;
            }
        } catch (const sdk::Error& error) {
            // One server without the endpoint (started without the flags, or replaced by one that was) does not stop
            // the others' listing; only when none has it is listing impossible (below).
            if (!first_failure ||
                (first_failure->code() == WARMUP_ERROR_UNSUPPORTED && error.code() != WARMUP_ERROR_UNSUPPORTED))
                first_failure = error;
            host().warn(std::string(error.what()) + "; its models are reported as last seen until it answers");
            std::lock_guard lock(seen_mutex_);
            now = seen_[index_of(server)];
        }
        for (const std::string& adapter : now.adapters) add(adapter, 0.0);
        if (!now.awake) continue;
        // An awake server holds its models (their memory is asked only of a server that answers).
        for (const std::string& name : models_served_by(server))
            add(name, memory_metric_.empty() || !answered ? 0.0 : metric_memory_mb(server, name));
    }
    // No server answered: nothing is known, so the host changes nothing this round. That failure is UNSUPPORTED
    // (the host stops asking) only when no server has the endpoint; otherwise the first other failure (the host asks
    // again). A server that fails while another answers is a warning (above): its models are reported as last seen.
    if (servers_asked == 0 && first_failure) throw *first_failure;
    return resident;
}

}  // namespace warmup::plugins
