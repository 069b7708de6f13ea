#include "ollama_backend.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>
#include <warmup/sdk/glob.hpp>

namespace warmup::plugins {
namespace {

using Json = nlohmann::json;

/// How often a load waiting for a post-cancel cleanup looks at its cancel token. Small enough that a cancel feels
/// immediate, large enough that polling costs nothing.
constexpr std::chrono::milliseconds kCancelPollMs{20};

/// Read timeout of GET /api/ps: a listing answers at once unless the server is wedged.
constexpr int64_t kListTimeoutMs = 10000;

/// Longest piece of an unexpected (non-JSON) answer body quoted in an error message.
constexpr std::size_t kMaxQuotedBodyChars = 300;

constexpr double kBytesPerMebibyte = 1024.0 * 1024.0;

bool is_decimal_number(std::string_view text) {
    // -?digits(.digits)? : what Go's encoding/json and Ollama's keep_alive accept as a number of seconds.
    std::size_t i = 0;
    if (i < text.size() && text[i] == '-') ++i;
    const std::size_t integer_start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == integer_start) return false;
    if (i < text.size() && text[i] == '.') {
        const std::size_t fraction_start = ++i;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
        if (i == fraction_start) return false;
    }
    return i == text.size();
}

/// A decimal number (is_decimal_number) written as JSON writes it: "010" -> "10", "-007.5" -> "-7.5", "0.5" stays.
std::string without_leading_zeros(std::string_view number) {
    const std::size_t digits = number.starts_with('-') ? 1 : 0;
    std::size_t first = digits;
    while (first + 1 < number.size() && number[first] == '0' &&
           std::isdigit(static_cast<unsigned char>(number[first + 1])))
        ++first;
    return std::string(number.substr(0, digits)) + std::string(number.substr(first));
}

/// Only zero digits: "0", "0.0", "0s", "0h0m". Sent on load, such a keep_alive would make Ollama drop the model right
/// after loading it.
bool is_zero_duration(std::string_view text) {
    return std::none_of(text.begin(), text.end(), [](char c) { return c >= '1' && c <= '9'; });
}

/// The "error" text of an Ollama error answer ({"error": "..."}), else the start of the body as it is.
std::string server_error_text(const std::string& body) {
    const Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_string())
        return parsed["error"].get<std::string>();
    if (body.empty()) return "(empty body)";
    return body.size() > kMaxQuotedBodyChars ? body.substr(0, kMaxQuotedBodyChars) + "..." : body;
}

/// The last JSON object of an answer: Ollama answers a load with one object, but a streaming (NDJSON) answer is
/// read by its last line, which carries "done" or "error". Null when there is none.
Json last_json_object(const std::string& body) {
    std::size_t end = body.size();
    while (end > 0) {
        while (end > 0 && (body[end - 1] == '\n' || body[end - 1] == '\r' || body[end - 1] == ' ')) --end;
        if (end == 0) break;
        const std::size_t line_start = body.rfind('\n', end - 1);
        const std::size_t begin = line_start == std::string::npos ? 0 : line_start + 1;
        Json parsed = Json::parse(body.substr(begin, end - begin), nullptr, /*allow_exceptions=*/false);
        if (parsed.is_object()) return parsed;
        end = begin;
    }
    return Json();
}

/// Ollama's answer for an embedding-only model sent to /api/generate.
bool said_does_not_support_generate(const sdk::HttpResponse& answer) {
    return answer.answered() && answer.status == 400 &&
           server_error_text(answer.body).find("does not support generate") != std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------------
// Parameter helpers

bool is_go_duration(std::string_view text) noexcept {
    // Go's time.ParseDuration grammar: [-+]? ( number unit )+ , or the bare "0".
    std::size_t i = 0;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    if (text.substr(i) == "0") return true;
    if (i == text.size()) return false;
    static constexpr std::string_view kUnits[] = {"ns", "us", "\xC2\xB5s", "\xCE\xBCs", "ms", "s", "m", "h"};
    while (i < text.size()) {
        const std::size_t number_start = i;
        bool has_digit = false;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
            ++i;
            has_digit = true;
        }
        if (i < text.size() && text[i] == '.') {
            ++i;
            while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
                ++i;
                has_digit = true;
            }
        }
        if (!has_digit || i == number_start) return false;
        // Longest unit first where one is a prefix of another ("ms" before "m").
        std::size_t unit_length = 0;
        for (std::string_view unit : kUnits) {
            if (text.substr(i, unit.size()) == unit && unit.size() > unit_length) unit_length = unit.size();
        }
        if (unit_length == 0) return false;
        i += unit_length;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------------------------------
// HTTP exchanges

/// A background unload after a cancelled load; `finished` is set by its thread as its last action.
struct OllamaBackend::CleanupJob {
    std::string ollama_name;
    std::atomic<bool> finished{false};
    std::thread thread;
};

OllamaBackend::Exchange OllamaBackend::post_keep_alive(const std::string& ollama_name,
                                                       const std::string& keep_alive_json,
                                                       const warmup_cancel_token* cancel, int64_t timeout_ms) const {
    // No prompt (generate) / no input (embed): Ollama only schedules the model with this keep_alive and answers.
    const std::string body = Json{{"model", ollama_name}, {"keep_alive", Json::parse(keep_alive_json)}}.dump();
    Exchange answer = client_.post("/api/generate", body, timeout_ms, cancel);
    if (said_does_not_support_generate(answer)) {
        // An embedding-only model: the same request through the embed endpoint loads/unloads it.
        const int64_t left_ms = std::max<int64_t>(1, timeout_ms - answer.elapsed_ms);
        Exchange embed = client_.post("/api/embed", body, left_ms, cancel);
        embed.elapsed_ms += answer.elapsed_ms;
        embed.timeout_ms = timeout_ms;
        return embed;
    }
    return answer;
}

double OllamaBackend::resident_mb(const std::string& ollama_name, const warmup_cancel_token& cancel) const {
    const Exchange listing = client_.get("/api/ps", kListTimeoutMs, &cancel);
    if (!listing.succeeded()) {
        host().warn("ollama: " + listing.request_line + " at " + client_.endpoint().url +
                    " failed; resident memory of model '" + ollama_name + "' unknown (reported as 0)");
        return 0.0;
    }
    const Json parsed = Json::parse(listing.body, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.contains("models") || !parsed["models"].is_array()) {
        host().warn("ollama: " + listing.request_line + " at " + client_.endpoint().url +
                    " answered without a models list");
        return 0.0;
    }
    // Ollama lists a model by its full name: "llama3" is listed as "llama3:latest".
    const bool has_tag = ollama_name.find(':') != std::string::npos;
    const std::string with_default_tag = has_tag ? ollama_name : ollama_name + ":latest";
    const char* size_field = memory_from_vram_ ? "size_vram" : "size";
    for (const Json& entry : parsed["models"]) {
        if (!entry.is_object()) continue;
        bool same_model = false;
        for (const char* name_field : {"model", "name"}) {
            if (entry.contains(name_field) && entry[name_field].is_string()) {
                const auto& listed = entry[name_field].get_ref<const std::string&>();
                same_model = same_model || listed == ollama_name || listed == with_default_tag;
            }
        }
        if (!same_model) continue;
        if (entry.contains(size_field) && entry[size_field].is_number() && entry[size_field].get<double>() >= 0)
            return entry[size_field].get<double>() / kBytesPerMebibyte;
        break;
    }
    host().warn("ollama: " + listing.request_line + " at " + client_.endpoint().url + " does not list model '" +
                ollama_name + "' with a " + size_field + "; resident memory reported as 0 (unknown)");
    return 0.0;
}

void OllamaBackend::throw_for(const Exchange& exchange, const std::string& action, const std::string& ollama_name,
                              std::string_view catalog_name) const {
    const std::string where = "ollama " + client_.endpoint().url + ": " + action;
    switch (exchange.outcome) {
        case Exchange::Outcome::Cancelled:
            throw sdk::Error(WARMUP_ERROR_CANCELLED,
                             where + " cancelled by the host after " + std::to_string(exchange.elapsed_ms) + " ms");
        case Exchange::Outcome::TimedOut:
            throw sdk::Error(WARMUP_ERROR_TIMEOUT, where + ": " + exchange.request_line + " did not finish within " +
                                                       std::to_string(exchange.timeout_ms) + " ms");
        case Exchange::Outcome::TransportError:
            throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, where + ": cannot reach the server (" + exchange.request_line +
                                                           ": " + exchange.transport_error +
                                                           "); is `ollama serve` running at " + client_.endpoint().url +
                                                           "?");
        case Exchange::Outcome::Answered:
            break;
    }
    const std::string server_text = server_error_text(exchange.body);
    const std::string answer =
        exchange.request_line + " answered HTTP " + std::to_string(exchange.status) + ": " + server_text;
    if (exchange.status == 404 && ollama_name.empty())  // no model named: the endpoint itself was not found
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE,
                         where + ": " + answer +
                             "; the endpoint was not found (an Ollama older than it, a path prefix in params.base_url "
                             "that does not lead to Ollama, or a proxy whose server is away)");
    if (exchange.status == 404) {
        const std::string mapping = catalog_name == ollama_name
                                        ? std::string()
                                        : " (mapped from catalog name '" + std::string(catalog_name) + "')";
        throw sdk::Error(WARMUP_ERROR_NOT_FOUND, where + ": " + answer + "; the server does not have model '" +
                                                     ollama_name + "'" + mapping + ": run `ollama pull " + ollama_name +
                                                     "` there or fix params.model_names");
    }
    warmup_status code = WARMUP_ERROR_UNAVAILABLE;  // 5xx and anything unexpected: a retry may succeed
    if (exchange.status == 408 || exchange.status == 504)
        code = WARMUP_ERROR_TIMEOUT;
    else if (exchange.status == 429)
        code = WARMUP_ERROR_UNAVAILABLE;  // rate limited (a gateway in front of the server): a later retry may pass
    else if (exchange.status >= 400 && exchange.status < 500)
        code = WARMUP_ERROR_INVALID_ARGUMENT;  // the request itself is wrong for this model: retrying will not help
    else if (server_text.find("memory") != std::string::npos)
        code = WARMUP_ERROR_RESOURCE_EXHAUSTED;  // e.g. "model requires more system memory (...) than is available"
    throw sdk::Error(code, where + ": " + answer);
}

// ---------------------------------------------------------------------------------------------------------------------
// Post-cancel cleanup

void OllamaBackend::start_cleanup(const std::string& ollama_name) {
    auto job = std::make_unique<CleanupJob>();
    job->ollama_name = ollama_name;
    CleanupJob* raw_job = job.get();
    job->thread = std::thread([this, raw_job] {
        // Interrupted only by the destructor: a cleanup has no host cancel token of its own.
        const warmup_cancel_token until_shutdown{
            &shutting_down_, [](void* flag) { return static_cast<std::atomic<bool>*>(flag)->load() ? 1 : 0; }};
        try {
            const Exchange answer = post_keep_alive(raw_job->ollama_name, "0", &until_shutdown, unload_timeout_ms_);
            if (!answer.succeeded() && answer.status != 404 && answer.outcome != Exchange::Outcome::Cancelled)
                host().warn("ollama " + client_.endpoint().url + ": unload of model '" + raw_job->ollama_name +
                            "' after its cancelled load failed (" + answer.request_line + "); Ollama may keep it " +
                            "resident outside the memory budget until it is unloaded");
        } catch (...) {
            // A background thread must not throw; the only throwing calls here are allocations.
        }
        holders_.unload_finished(raw_job->ollama_name);  // a load of a name mapped to this model may start now
        raw_job->finished.store(true);
    });
    std::lock_guard lock(cleanup_mutex_);
    cleanups_.push_back(std::move(job));
}

void OllamaBackend::wait_for_cleanup(const std::string& ollama_name, const warmup_cancel_token& cancel,
                                     std::string_view catalog_name) {
    while (true) {
        bool pending = false;
        std::vector<std::unique_ptr<CleanupJob>> finished_jobs;
        {
            std::lock_guard lock(cleanup_mutex_);
            for (auto it = cleanups_.begin(); it != cleanups_.end();) {
                if ((*it)->finished.load()) {
                    finished_jobs.push_back(std::move(*it));
                    it = cleanups_.erase(it);
                } else {
                    pending = pending || (*it)->ollama_name == ollama_name;
                    ++it;
                }
            }
        }
        for (auto& job : finished_jobs) job->thread.join();  // already past its last statement: returns at once
        if (!pending) return;
        if (sdk::is_cancelled(&cancel))
            throw sdk::Error(WARMUP_ERROR_CANCELLED, "ollama " + client_.endpoint().url + ": load of model '" +
                                                         std::string(catalog_name) +
                                                         "' cancelled while waiting for the unload that follows its "
                                                         "previous cancelled load");
        std::this_thread::sleep_for(kCancelPollMs);
    }
}

std::size_t OllamaBackend::cleanups_running() const {
    std::lock_guard lock(cleanup_mutex_);
    return static_cast<std::size_t>(
        std::count_if(cleanups_.begin(), cleanups_.end(), [](const auto& job) { return !job->finished.load(); }));
}

// ---------------------------------------------------------------------------------------------------------------------
// The backend

OllamaBackend::OllamaBackend(sdk::Host host, sdk::Params& params) : sdk::Backend(host) {
    const sdk::HttpEndpoint endpoint =
        sdk::parse_http_base_url(params.get_string("base_url", "http://127.0.0.1:11434"), "params.base_url", 11434);

    // keep_alive: YAML gives a scalar either way; a number goes out as a JSON number of seconds, a Go duration as a
    // JSON string. Negative = keep until we unload (the host decides unloads, hence the default -1).
    const std::string keep_alive = params.get_string("keep_alive", "-1");
    if (is_decimal_number(keep_alive))
        keep_alive_json_ = without_leading_zeros(keep_alive);  // "010" is 10 s; JSON has no leading zeros
    else if (is_go_duration(keep_alive))
        keep_alive_json_ = Json(keep_alive).dump();
    else
        throw sdk::InvalidArgument("params.keep_alive: '" + keep_alive +
                                   "' is neither a number of seconds nor a duration such as 30m or 1h30m "
                                   "(negative = keep loaded until the host unloads it)");
    if (is_zero_duration(keep_alive))
        throw sdk::InvalidArgument("params.keep_alive: '" + keep_alive +
                                   "' would make Ollama unload each model right after loading it; use -1 (keep until "
                                   "the host unloads) or a positive duration");

    client_ = sdk::HttpClient(endpoint, sdk::read_http_client_options(params));
    load_timeout_ms_ = params.get_int("load_timeout_ms", 600000, 1, 86400000);
    unload_timeout_ms_ = params.get_int("unload_timeout_ms", 60000, 1, 86400000);
    memory_from_vram_ = params.get_choice("memory_report", "size", {"size", "size_vram"}) == "size_vram";
    keep_alive_refresh_ms_ = params.get_int("keep_alive_refresh_ms", 60000, 0, 86400000);

    model_names_ = sdk::read_name_map(params, "model_names", "an Ollama model name (a non-empty string)");
    if (keep_alive_refresh_ms_ > 0) refresher_ = std::thread([this] { refresher_loop(); });
}

OllamaBackend::~OllamaBackend() {
    {
        std::lock_guard lock(kept_mutex_);
        refresher_stopping_ = true;
    }
    refresher_wake_.notify_all();
    shutting_down_.store(true);  // also interrupts a refresh request in flight
    if (refresher_.joinable()) refresher_.join();
    std::vector<std::unique_ptr<CleanupJob>> jobs;
    {
        std::lock_guard lock(cleanup_mutex_);
        jobs.swap(cleanups_);
    }
    for (auto& job : jobs)
        job->thread.join();  // each returns within ~10 ms (or connect_timeout_ms): the SDK client polls
}

std::string OllamaBackend::ollama_name_for(std::string_view catalog_name) const {
    const auto* mapped = model_names_.find(catalog_name);
    return mapped != nullptr ? mapped->second : std::string(catalog_name);
}

double OllamaBackend::load(const warmup_model_info& model, const warmup_cancel_token& cancel) {
    const std::string_view catalog_name = sdk::to_string_view(model.name);
    const std::string ollama_name = ollama_name_for(catalog_name);
    const std::string action = "load of model '" + ollama_name + "'";
    wait_for_cleanup(ollama_name, cancel, catalog_name);
    bool others_held = false;
    if (!holders_.begin_load(ollama_name, std::string(catalog_name), cancel, others_held))
        throw sdk::Error(WARMUP_ERROR_CANCELLED, "ollama " + client_.endpoint().url + ": " + action +
                                                     " cancelled while the unload of another catalog name mapped to "
                                                     "it was still running");
    // A failed load holds nothing; what it may have left on the server is taken out unless another name holds it.
    bool loaded = false;
    const auto release_on_failure = [&](bool may_be_on_server) {
        if (holders_.load_failed(ollama_name, std::string(catalog_name), /*cleaning_up=*/may_be_on_server) &&
            may_be_on_server)
            start_cleanup(ollama_name);
    };
    struct FailureGuard {
        const bool& loaded;
        std::function<void()> on_failure;
        ~FailureGuard() {
            if (!loaded) on_failure();
        }
    };
    bool may_be_on_server = false;
    const FailureGuard guard{loaded, [&] { release_on_failure(may_be_on_server); }};

    const Exchange answer = post_keep_alive(ollama_name, keep_alive_json_, &cancel, load_timeout_ms_);
    const bool interrupted =
        answer.outcome == Exchange::Outcome::Cancelled || answer.outcome == Exchange::Outcome::TimedOut;
    // Ollama may finish the load anyway: take it out. So too after a gateway's 502 or 504 (a proxy in front of
    // Ollama gave up on a long load it had forwarded).
    may_be_on_server =
        (interrupted && answer.sent) || (answer.answered() && (answer.status == 502 || answer.status == 504));
    if (!answer.succeeded()) throw_for(answer, action, ollama_name, catalog_name);

    // A 200 can still carry an error (a streamed answer reports failures in its last line).
    const Json last = last_json_object(answer.body);
    if (last.is_null()) {
        // Not Ollama's answer (cut short, or a proxy's page): nothing says the model is in memory, so the load fails.
        // Ollama may have loaded it all the same: take it out, as after an interrupted load.
        may_be_on_server = true;
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE,
                         "ollama " + client_.endpoint().url + ": " + action + ": " + answer.request_line +
                             " answered 200 with a body that is not JSON: " + server_error_text(answer.body));
    }
    if (last.is_object() && last.contains("error"))
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE,
                         "ollama " + client_.endpoint().url + ": " + action + ": " + answer.request_line +
                             " answered 200 with an error: " + server_error_text(last.dump()));
    {
        std::lock_guard lock(kept_mutex_);
        kept_.insert(ollama_name);
    }
    holders_.load_succeeded(ollama_name, std::string(catalog_name));
    loaded = true;
    // The model's size is charged once: to the name that brought it in, not again to each name sharing it.
    return others_held ? 0.0 : resident_mb(ollama_name, cancel);
}

void OllamaBackend::unload(const warmup_model_info& model) {
    const std::string_view catalog_name = sdk::to_string_view(model.name);
    const std::string ollama_name = ollama_name_for(catalog_name);
    // Another catalog name mapped to the same Ollama model still holds it: nothing to ask the server.
    if (!holders_.begin_unload(ollama_name, std::string(catalog_name))) return;
    struct UnloadFinished {
        backend::SharedServerModels& holders;
        const std::string& name;
        ~UnloadFinished() { holders.unload_finished(name); }
    } const finished{holders_, ollama_name};
    {
        // Out of kept_ first, so the refresher sends nothing more for it; a refresh already sent is waited for (at
        // most its own unload_timeout_ms), so that keep_alive 0 reaches Ollama after it and not before.
        std::unique_lock lock(kept_mutex_);
        kept_.erase(ollama_name);
        refresh_answered_.wait(lock, [&] { return refreshing_ != ollama_name; });
    }
    const Exchange answer = post_keep_alive(ollama_name, "0", nullptr, unload_timeout_ms_);
    // 404: the server does not have the model at all, so it is certainly not resident: the unload's goal holds.
    if (answer.succeeded() || (answer.outcome == Exchange::Outcome::Answered && answer.status == 404)) return;
    throw_for(answer, "unload of model '" + ollama_name + "'", ollama_name, catalog_name);
}

// ---------------------------------------------------------------------------------------------------------------------
// Reconciliation and keep_alive refresh

std::vector<std::pair<std::string, double>> OllamaBackend::listed_models(const warmup_cancel_token* cancel) const {
    const Exchange listing = client_.get("/api/ps", kListTimeoutMs, cancel);
    if (!listing.succeeded()) throw_for(listing, "listing of loaded models", "", "");
    const Json parsed = Json::parse(listing.body, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.contains("models") || !parsed["models"].is_array())
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, "ollama " + client_.endpoint().url + ": " + listing.request_line +
                                                       " answered without a models list");
    const char* size_field = memory_from_vram_ ? "size_vram" : "size";
    std::vector<std::pair<std::string, double>> models;
    for (const Json& entry : parsed["models"]) {
        if (!entry.is_object()) continue;
        const char* name_field = entry.contains("model") && entry["model"].is_string() ? "model" : "name";
        if (!entry.contains(name_field) || !entry[name_field].is_string()) continue;
        const double bytes = entry.contains(size_field) && entry[size_field].is_number()
                                 ? std::max(0.0, entry[size_field].get<double>())
                                 : 0.0;
        models.emplace_back(entry[name_field].get<std::string>(), bytes / kBytesPerMebibyte);
    }
    return models;
}

std::vector<sdk::ResidentModel> OllamaBackend::list_resident() {
    const uint64_t listing_started = holders_.listing_started();
    const auto listed = listed_models(nullptr);
    // Ollama spells names with their tag ("llama3:latest"); the catalog may not.
    const auto find_listed = [&](const std::string& ollama_name) -> const std::pair<std::string, double>* {
        const std::string tagged = ollama_name.find(':') == std::string::npos ? ollama_name + ":latest" : ollama_name;
        for (const auto& entry : listed)
            if (entry.first == ollama_name || entry.first == tagged) return &entry;
        return nullptr;
    };
    std::vector<sdk::ResidentModel> resident;
    std::set<std::string> reported_ollama_names;
    std::set<std::string> listed_held_names;  // as configured ("nomic-embed-text"), for forget_gone
    const uint32_t count = host().model_count();
    for (warmup_model_index index = 0; index < count; ++index) {
        const auto info = host().model_info(index);
        if (!info) continue;
        const std::string catalog_name(sdk::to_string_view(info->name));
        const std::string ollama_name = ollama_name_for(catalog_name);
        const auto* entry = find_listed(ollama_name);
        if (entry == nullptr) continue;
        listed_held_names.insert(ollama_name);
        // Every catalog name holding the model is reported; one nobody holds (another client loaded it) goes by the
        // first catalog name mapped to it, which holds it from now. Its size goes with the first name reported only.
        const std::vector<std::string> holders = holders_.holders(ollama_name);
        const bool holds = std::find(holders.begin(), holders.end(), catalog_name) != holders.end();
        if (!holds && !(holders.empty() && holders_.adopt(ollama_name, catalog_name))) {
            if (holders.empty()) reported_ollama_names.insert(entry->first);  // being unloaded: left undecided
            continue;
        }
        const bool first = reported_ollama_names.insert(entry->first).second;
        resident.push_back({catalog_name, first ? entry->second : 0.0});
    }
    holders_.forget_gone(listing_started, listed_held_names);
    // A listed model the catalog has not met yet goes by its Ollama name (the host adopts it when a catalog entry
    // covers that name), unless it is the target of a model_names mapping: then its catalog name is unknown.
    for (const auto& [ollama_name, memory_mb] : listed) {
        if (reported_ollama_names.count(ollama_name)) continue;
        const bool mapped =
            std::any_of(model_names_.entries().begin(), model_names_.entries().end(), [&](const auto& mapping) {
                return mapping.second == ollama_name || mapping.second + ":latest" == ollama_name;
            });
        if (!mapped) resident.push_back({ollama_name, memory_mb});
    }
    return resident;
}

std::size_t OllamaBackend::refresh_keep_alive() {
    const std::vector<std::string> kept = kept_models();
    const warmup_cancel_token until_shutdown{
        &shutting_down_, [](void* flag) { return static_cast<std::atomic<bool>*>(flag)->load() ? 1 : 0; }};
    std::size_t refreshed = 0;
    for (const std::string& ollama_name : kept) {
        // Only a model Ollama still holds: re-sending keep_alive for a gone one would load it behind the host's back
        // (reconciliation marks it unloaded instead). Listed again for each model, so that the answer is not as old
        // as the refreshes before it (each may take up to unload_timeout_ms).
        std::vector<std::pair<std::string, double>> listed;
        try {
            listed = listed_models(&until_shutdown);
        } catch (const sdk::Error& error) {
            host().warn(std::string("ollama: keep_alive refresh skipped: ") + error.what());
            return refreshed;
        }
        const std::string tagged = ollama_name.find(':') == std::string::npos ? ollama_name + ":latest" : ollama_name;
        const bool still_loaded = std::any_of(listed.begin(), listed.end(), [&](const auto& entry) {
            return entry.first == ollama_name || entry.first == tagged;
        });
        {
            std::lock_guard lock(kept_mutex_);
            if (!still_loaded || kept_.count(ollama_name) == 0) continue;  // gone, or unloaded by the host meanwhile
            refreshing_ = ollama_name;  // an unload of it from now waits for this refresh's answer
        }
        struct RefreshAnswered {
            OllamaBackend& backend;
            ~RefreshAnswered() {
                {
                    std::lock_guard lock(backend.kept_mutex_);
                    backend.refreshing_.clear();
                }
                backend.refresh_answered_.notify_all();
            }
        } const answered{*this};
        const Exchange answer = post_keep_alive(ollama_name, keep_alive_json_, &until_shutdown, unload_timeout_ms_);
        if (answer.succeeded())
            ++refreshed;
        else if (!answer.interrupted())
            host().warn("ollama " + client_.endpoint().url + ": keep_alive refresh of model '" + ollama_name +
                        "' failed (" + answer.request_line + ")");
    }
    return refreshed;
}

std::vector<std::string> OllamaBackend::kept_models() const {
    std::lock_guard lock(kept_mutex_);
    return {kept_.begin(), kept_.end()};
}

void OllamaBackend::refresher_loop() {
    std::unique_lock lock(kept_mutex_);
    while (!refresher_stopping_) {
        refresher_wake_.wait_for(lock, std::chrono::milliseconds(keep_alive_refresh_ms_),
                                 [&] { return refresher_stopping_; });
        if (refresher_stopping_) break;
        lock.unlock();
        try {
            (void)refresh_keep_alive();
        } catch (...) {
            // A background thread must not throw; the only throwing calls left here are allocations.
        }
        lock.lock();
    }
}

}  // namespace warmup::plugins
