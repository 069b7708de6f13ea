#include "triton_backend.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <nlohmann/json.hpp>
#include <warmup/sdk/glob.hpp>

namespace warmup::plugins {
namespace {

using Clock = std::chrono::steady_clock;
using Milliseconds = std::chrono::milliseconds;

/// Longest server text quoted in an error message, bytes (an HTML error page must not flood the log).
constexpr std::size_t kMaxQuotedBodyBytes = 512;

/// How often an unload asks the repository index whether Triton has finished unloading.
constexpr std::chrono::milliseconds kUnloadPoll{50};

std::string name_of(const warmup_model_info& model) {
    return model.name.data == nullptr ? std::string() : std::string(model.name.data, model.name.size);
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

int64_t elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<Milliseconds>(Clock::now() - since).count();
}

/// Triton's error text: the "error" string of a JSON error body, else the raw body (shortened), else a placeholder.
std::string triton_error_text(const std::string& body) {
    const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_string())
        return parsed["error"].get<std::string>();
    if (body.empty()) return "(empty body)";
    if (body.size() <= kMaxQuotedBodyBytes) return body;
    return body.substr(0, kMaxQuotedBodyBytes) + "...";
}

/// "model 'resnet'" or, when the catalog calls it differently, "model 'resnet' (catalog model 'vision/resnet')".
std::string describe_model(const std::string& repository_model, const std::string& catalog_name) {
    std::string text = "model '" + repository_model + "'";
    if (repository_model != catalog_name) text += " (catalog model '" + catalog_name + "')";
    return text;
}

/// The error for a non-200 answer to a repository call. Codes: 404 or Triton's "model not in any repository" wording
/// -> NOT_FOUND; Triton not in explicit model-control mode -> UNSUPPORTED; everything else -> UNAVAILABLE (the model
/// cannot be made available now; the host retries with back-off). The message quotes Triton's own text.
sdk::Error repository_call_error(const std::string& action, const std::string& method, const std::string& url,
                                 const TritonBackend::HttpAnswer& answer, const std::string& model_description) {
    const std::string text = triton_error_text(answer.body);
    const std::string lower = lowercase(text);
    warmup_status code = WARMUP_ERROR_UNAVAILABLE;
    std::string hint;
    if (answer.status == 404 || lower.find("failed to poll from model repository") != std::string::npos ||
        lower.find("not found in any model repository") != std::string::npos) {
        code = WARMUP_ERROR_NOT_FOUND;
        hint = " (is the model in Triton's --model-repository? map catalog names with params.model_names)";
    } else if (lower.find("not allowed if polling is enabled") != std::string::npos ||
               lower.find("explicit model load / unload is not allowed") != std::string::npos) {
        code = WARMUP_ERROR_UNSUPPORTED;
        hint = " (start tritonserver with --model-control-mode=explicit)";
    }
    return sdk::Error(code, "Triton could not " + action + " " + model_description + ": " + method + " " + url +
                                " answered HTTP " + std::to_string(answer.status) + ": " + text + hint);
}

}  // namespace

TritonBackend::TritonBackend(sdk::Host host, sdk::Params& params) : sdk::Backend(host) {
    config_.endpoint =
        sdk::parse_http_base_url(params.get_string("base_url", "http://127.0.0.1:8000"), "params.base_url", 80);
    const sdk::HttpClientOptions connection = sdk::read_http_client_options(params);
    config_.connect_timeout_ms = connection.connect_timeout_ms;
    client_ = sdk::HttpClient(config_.endpoint, connection);
    config_.load_timeout_ms = params.get_int("load_timeout_ms", 600000, 1, 86400000);
    config_.request_timeout_ms = params.get_int("request_timeout_ms", 30000, 1, 3600000);
    config_.orphan_poll_ms = params.get_int("orphan_poll_ms", 1000, 10, 600000);
    config_.unload_dependents = params.get_bool("unload_dependents", false);
    config_.verify_ready = params.get_bool("verify_ready", true);
    config_.memory_from_stats = params.get_bool("memory_from_stats", false);

    config_.model_names = sdk::read_name_map(params, "model_names", "a Triton model name (a non-empty string)");
    for (const auto& [glob, target] : config_.model_names.entries())
        if (target.find('/') != std::string::npos)
            throw sdk::InvalidArgument("params.model_names." + glob + ": '" + target +
                                       "' contains '/', but a Triton model name is a directory name");
}

TritonBackend::~TritonBackend() {
    {
        std::lock_guard lock(orphan_mutex_);
        stopping_ = true;
    }
    orphan_changed_.notify_all();
    if (cleanup_thread_.joinable()) cleanup_thread_.join();
    // Only this thread is left: no lock needed, but take it anyway so the guarded-by rule has no exception.
    std::lock_guard lock(orphan_mutex_);
    for (const auto& [name, deadline] : orphan_deadlines_)
        host().warn("Triton model '" + name +
                    "' whose load was abandoned was never seen ready before the backend was " +
                    "destroyed; if Triton finishes loading it, it stays loaded until unloaded by hand");
}

std::string TritonBackend::repository_name(std::string_view catalog_name) const {
    const auto* mapped = config_.model_names.find(catalog_name);
    return mapped != nullptr ? mapped->second : std::string(catalog_name);
}

std::vector<std::string> TritonBackend::pending_orphans() const {
    std::lock_guard lock(orphan_mutex_);
    std::vector<std::string> names;
    for (const auto& [name, deadline] : orphan_deadlines_) names.push_back(name);
    return names;
}

std::string TritonBackend::model_path(const std::string& repository_model) const {
    return "/v2/models/" + percent_encode_path_segment(repository_model);
}

TritonBackend::RequestOutcome TritonBackend::send(const char* method, const std::string& path, const std::string& body,
                                                  int64_t timeout_ms, const warmup_cancel_token* cancel) const {
    const sdk::HttpResponse response = client_.send({method, path, body, "application/json", timeout_ms, cancel});
    RequestOutcome outcome;
    switch (response.outcome) {
        case sdk::HttpResponse::Outcome::Answered:
            outcome.answer.status = response.status;
            outcome.answer.body = response.body;
            break;
        case sdk::HttpResponse::Outcome::TransportError:
            outcome.answer.transport_error = response.transport_error;
            break;
        case sdk::HttpResponse::Outcome::Cancelled:
            outcome.interrupt = Interrupt::Cancelled;
            outcome.answer.transport_error = "cancelled";
            break;
        case sdk::HttpResponse::Outcome::TimedOut:
            // Status 0 as for no answer, but said apart: a slow server is a TIMEOUT, not an unreachable one.
            outcome.interrupt = Interrupt::DeadlinePassed;
            outcome.answer.transport_error = "no answer within " + std::to_string(timeout_ms) + " ms";
            break;
    }
    return outcome;
}

double TritonBackend::load(const warmup_model_info& model, const warmup_cancel_token& cancel) {
    const std::string catalog_name = name_of(model);
    const std::string repository_model = repository_name(catalog_name);
    const std::string description = describe_model(repository_model, catalog_name);
    if (repository_model.find('/') != std::string::npos)
        throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT,
                         "cannot load " + description +
                             " on Triton: a Triton model name is a directory name and cannot contain '/'; map the "
                             "catalog name to a repository model name with params.model_names");
    reclaim_from_cleanup(repository_model);
    bool others_held = false;
    if (sdk::is_cancelled(&cancel) || !holders_.begin_load(repository_model, catalog_name, cancel, others_held))
        throw sdk::Error(WARMUP_ERROR_CANCELLED, "load of " + description + " on Triton cancelled before it started");
    // Held by this load from now (begin_load waited for any unload of it in flight, which may have left an entry).
    forget_lingering(repository_model);
    // A failed load holds nothing; the cleanup takes out what it may leave only when no other catalog name holds it.
    struct ReleaseIfFailed {
        backend::SharedServerModels& holders;
        const std::string& repository_model;
        const std::string& catalog_name;
        bool loaded = false;
        ~ReleaseIfFailed() {
            if (!loaded) (void)holders.load_failed(repository_model, catalog_name);
        }
    } release{holders_, repository_model, catalog_name};
    const auto hand_to_cleanup = [&] {
        if (!others_held && holders_.holders(repository_model) == std::vector<std::string>{catalog_name})
            adopt_orphan(repository_model);
    };

    const auto started = Clock::now();
    const std::string load_path = "/v2/repository/models/" + percent_encode_path_segment(repository_model) + "/load";
    const auto throw_interrupted = [&](Interrupt interrupt, const std::string& during_url) {
        // Triton goes on with the load whatever happens to our connection: hand the model to the cleanup.
        hand_to_cleanup();
        const std::string follow_up =
            "; Triton may still finish it, so this backend unloads the model once it is ready";
        if (interrupt == Interrupt::Cancelled)
            throw sdk::Error(WARMUP_ERROR_CANCELLED, "load of " + description +
                                                         " on Triton cancelled by the host after " +
                                                         std::to_string(elapsed_ms(started)) + " ms (waiting for " +
                                                         during_url + ")" + follow_up);
        throw sdk::Error(WARMUP_ERROR_TIMEOUT, "Triton did not finish loading " + description + " within " +
                                                   "load_timeout_ms=" + std::to_string(config_.load_timeout_ms) +
                                                   " (waiting for " + during_url + ")" + follow_up);
    };

    const RequestOutcome loaded = send("POST", load_path, "{}", config_.load_timeout_ms, &cancel);
    if (loaded.interrupt != Interrupt::None) throw_interrupted(loaded.interrupt, "POST " + url(load_path));
    if (loaded.answer.status == 0)
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, "cannot reach Triton at " + url(load_path) + " to load " +
                                                       description + ": " + loaded.answer.transport_error +
                                                       " (is tritonserver running at " + config_.endpoint.url + "?)");
    if (loaded.answer.status != 200) {
        // A proxy in front of Triton that gave up on a long load (502, 504) forwarded it: Triton finishes it.
        if (loaded.answer.status == 502 || loaded.answer.status == 504) hand_to_cleanup();
        throw repository_call_error("load", "POST", url(load_path), loaded.answer, description);
    }

    if (config_.verify_ready) {
        const std::string ready_path = model_path(repository_model) + "/ready";
        const int64_t remaining_ms = std::max<int64_t>(1, config_.load_timeout_ms - elapsed_ms(started));
        if (sdk::is_cancelled(&cancel)) throw_interrupted(Interrupt::Cancelled, "GET " + url(ready_path));
        const RequestOutcome ready =
            send("GET", ready_path, "", std::min(config_.request_timeout_ms, remaining_ms), &cancel);
        if (ready.interrupt != Interrupt::None) throw_interrupted(ready.interrupt, "GET " + url(ready_path));
        if (ready.answer.status != 200) {
            hand_to_cleanup();  // Triton said "loaded": make sure it does not stay loaded unnoticed
            const std::string what = ready.answer.status == 0 ? "could not be asked: " + ready.answer.transport_error
                                                              : "answered HTTP " + std::to_string(ready.answer.status) +
                                                                    ": " + triton_error_text(ready.answer.body);
            throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, "Triton accepted the load of " + description + " but GET " +
                                                           url(ready_path) + " " + what +
                                                           "; this backend unloads it if it becomes ready");
        }
    }
    holders_.load_succeeded(repository_model, catalog_name);
    release.loaded = true;
    // The model's memory is charged once: to the name that brought it in, not again to each name sharing it.
    return config_.memory_from_stats && !others_held ? memory_mb_from_stats(repository_model) : 0.0;
}

double TritonBackend::memory_mb_from_stats(const std::string& repository_model) const {
    // Statistics extension: {"model_stats": [{"name": ..., "version": ..., "memory_usage": [{"type": "GPU", "id": 0,
    // "byte_size": N}, ...]}, ...]}. Triton fills memory_usage from what it detected while loading (newer releases
    // only); any other shape means "unknown" (0), never a failed load.
    const std::string stats_path = model_path(repository_model) + "/stats";
    const RequestOutcome stats = send("GET", stats_path, "", config_.request_timeout_ms, nullptr);
    const auto unknown = [&](const std::string& why) {
        host().log(WARMUP_LOG_DEBUG, "no memory figure for Triton model '" + repository_model + "' from GET " +
                                         url(stats_path) + ": " + why + "; the catalog memory_mb applies");
        return 0.0;
    };
    if (stats.answer.status != 200)
        return unknown(stats.answer.status == 0 ? stats.answer.transport_error
                                                : "HTTP " + std::to_string(stats.answer.status));
    const nlohmann::json parsed = nlohmann::json::parse(stats.answer.body, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.contains("model_stats") || !parsed["model_stats"].is_array())
        return unknown("no model_stats array");
    double bytes = 0;
    for (const auto& version_stats : parsed["model_stats"]) {
        if (!version_stats.is_object() || version_stats.value("name", std::string()) != repository_model) continue;
        const auto usage = version_stats.find("memory_usage");
        if (usage == version_stats.end() || !usage->is_array()) continue;
        for (const auto& entry : *usage)
            if (entry.is_object() && entry.contains("byte_size") && entry["byte_size"].is_number())
                bytes += entry["byte_size"].get<double>();
    }
    if (!(bytes > 0)) return unknown("memory_usage is absent or zero");
    return bytes / (1024.0 * 1024.0);
}

void TritonBackend::unload(const warmup_model_info& model) {
    const std::string catalog_name = name_of(model);
    const std::string repository_model = repository_name(catalog_name);
    const std::string description = describe_model(repository_model, catalog_name);
    if (repository_model.find('/') != std::string::npos)
        throw sdk::Error(WARMUP_ERROR_INVALID_ARGUMENT,
                         "cannot unload " + description + " on Triton: a Triton model name cannot contain '/'");
    reclaim_from_cleanup(repository_model);
    // Another catalog name mapped to the same repository model still holds it: nothing to ask Triton.
    if (!holders_.begin_unload(repository_model, catalog_name)) return;
    struct UnloadFinished {
        backend::SharedServerModels& holders;
        const std::string& name;
        ~UnloadFinished() { holders.unload_finished(name); }
    } const finished{holders_, repository_model};
    const std::string unload_path =
        "/v2/repository/models/" + percent_encode_path_segment(repository_model) + "/unload";
    const std::string body =
        config_.unload_dependents ? R"({"parameters":{"unload_dependents":true}})" : std::string("{}");
    const auto started = Clock::now();
    const RequestOutcome unloaded = send("POST", unload_path, body, config_.request_timeout_ms, nullptr);
    if (unloaded.interrupt == Interrupt::DeadlinePassed) {
        linger(repository_model, catalog_name);  // Triton may have taken it: listings tell
        throw sdk::Error(WARMUP_ERROR_TIMEOUT,
                         "Triton did not answer the unload of " + description + " (POST " + url(unload_path) +
                             ") within request_timeout_ms=" + std::to_string(config_.request_timeout_ms));
    }
    if (unloaded.answer.status == 0)
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, "cannot reach Triton at " + url(unload_path) + " to unload " +
                                                       description + ": " + unloaded.answer.transport_error);
    if (unloaded.answer.status != 200)
        throw repository_call_error("unload", "POST", url(unload_path), unloaded.answer, description);
    try {
        wait_until_unloaded(repository_model, description, started);
    } catch (const sdk::Error& error) {
        // Accepted, not over by the deadline: Triton still holds the model. The host keeps its memory charged (a
        // failed unload) until a listing no longer finds it: listings report it until the index lets it go.
        if (error.code() == WARMUP_ERROR_TIMEOUT) linger(repository_model, catalog_name);
        throw;
    }
    forget_lingering(repository_model);  // an earlier unload's entry: this one is over
}

void TritonBackend::linger(const std::string& repository_model, const std::string& catalog_name) {
    std::lock_guard lock(lingering_mutex_);
    lingering_unloads_[repository_model] = catalog_name;
}

void TritonBackend::forget_lingering(const std::string& repository_model) {
    std::lock_guard lock(lingering_mutex_);
    lingering_unloads_.erase(repository_model);
}

void TritonBackend::wait_until_unloaded(const std::string& repository_model, const std::string& description,
                                        Clock::time_point started) const {
    // Triton answers the unload request at once and unloads in the background (once the model's requests in flight
    // are done): its memory is free only when the index no longer says READY or UNLOADING for it.
    const std::string index_path = "/v2/repository/index";
    std::string state;
    while (true) {
        const int64_t remaining_ms = config_.request_timeout_ms - elapsed_ms(started);
        if (remaining_ms <= 0) break;
        const RequestOutcome index = send("POST", index_path, "{}", remaining_ms, nullptr);
        if (index.interrupt == Interrupt::DeadlinePassed) break;
        if (index.answer.status != 200) {
            // No index to ask (a server without it, or a failing one): the unload's own answer is all there is.
            host().warn("cannot tell when Triton has finished unloading " + description + ": POST " + url(index_path) +
                        (index.answer.status == 0 ? " could not be asked: " + index.answer.transport_error
                                                  : " answered HTTP " + std::to_string(index.answer.status)));
            return;
        }
        const nlohmann::json parsed = nlohmann::json::parse(index.answer.body, nullptr, /*allow_exceptions=*/false);
        state.clear();
        if (parsed.is_array())
            for (const auto& entry : parsed)
                if (entry.is_object() && entry.value("name", std::string()) == repository_model) {
                    const std::string entry_state = entry.value("state", std::string());
                    if (entry_state == "READY" || entry_state == "UNLOADING") state = entry_state;
                }
        if (state.empty()) return;
        std::this_thread::sleep_for(std::min(kUnloadPoll, Milliseconds(std::max<int64_t>(1, remaining_ms))));
    }
    throw sdk::Error(WARMUP_ERROR_TIMEOUT, "Triton accepted the unload of " + description + " but POST " +
                                               url(index_path) + " still lists it as " +
                                               (state.empty() ? std::string("loaded") : state) + " after " +
                                               "request_timeout_ms=" + std::to_string(config_.request_timeout_ms) +
                                               " (requests in flight on it keep it loaded)");
}

void TritonBackend::adopt_orphan(const std::string& repository_model) {
    {
        std::lock_guard lock(orphan_mutex_);
        // The cleanup waits at most as long as a load may take, counted from now.
        orphan_deadlines_[repository_model] = Clock::now() + Milliseconds(config_.load_timeout_ms);
        if (!cleanup_thread_.joinable() && !stopping_) cleanup_thread_ = std::thread([this] { cleanup_loop(); });
    }
    orphan_changed_.notify_all();
}

void TritonBackend::reclaim_from_cleanup(const std::string& repository_model) {
    std::unique_lock lock(orphan_mutex_);
    // Wait first, then erase: the cleanup may put the name back (failed unload) before it clears the in-progress mark.
    orphan_changed_.wait(lock, [&] { return orphans_being_unloaded_.count(repository_model) == 0; });
    orphan_deadlines_.erase(repository_model);
}

void TritonBackend::cleanup_loop() {
    // The cleanup's requests are cancelled by the destructor through this token, so joining never waits long.
    warmup_cancel_token stop_token{
        &stopping_, [](void* context) { return static_cast<std::atomic<bool>*>(context)->load() ? 1 : 0; }};
    const std::string unload_body =
        config_.unload_dependents ? R"({"parameters":{"unload_dependents":true}})" : std::string("{}");
    std::unique_lock lock(orphan_mutex_);
    while (!stopping_) {
        if (orphan_deadlines_.empty()) {
            orphan_changed_.wait(lock, [&] { return stopping_ || !orphan_deadlines_.empty(); });
            continue;
        }
        std::vector<std::string> names;
        for (const auto& [name, deadline] : orphan_deadlines_) names.push_back(name);
        for (const std::string& name : names) {
            if (stopping_) break;
            auto orphan = orphan_deadlines_.find(name);
            if (orphan == orphan_deadlines_.end()) continue;  // reclaimed by a load or unload meanwhile
            if (Clock::now() >= orphan->second) {
                orphan_deadlines_.erase(orphan);
                host().warn("stopped waiting for Triton model '" + name + "' (load abandoned by the host) after " +
                            "load_timeout_ms=" + std::to_string(config_.load_timeout_ms) +
                            " without seeing it ready; if it loads later it stays loaded until unloaded by hand");
                continue;
            }
            const std::string ready_path = model_path(name) + "/ready";
            lock.unlock();
            const RequestOutcome ready = send("GET", ready_path, "", config_.request_timeout_ms, &stop_token);
            lock.lock();
            // Not ready: still loading, failed to load, or Triton unreachable. Look again on the next round.
            if (ready.interrupt != Interrupt::None || ready.answer.status != 200) continue;
            orphan = orphan_deadlines_.find(name);
            if (orphan == orphan_deadlines_.end()) continue;  // reclaimed while we asked: the host wants it now
            const auto deadline = orphan->second;
            orphan_deadlines_.erase(orphan);
            orphans_being_unloaded_.insert(name);
            lock.unlock();
            const std::string unload_path = "/v2/repository/models/" + percent_encode_path_segment(name) + "/unload";
            const RequestOutcome unloaded =
                send("POST", unload_path, unload_body, config_.request_timeout_ms, &stop_token);
            lock.lock();
            if (unloaded.answer.status == 200) {
                host().info("unloaded Triton model '" + name + "', whose load the host had abandoned");
            } else {
                // Retry next round (or be reported by the destructor). Put back before the in-progress mark is
                // cleared, so a waiting reclaim_from_cleanup() always sees and removes it.
                orphan_deadlines_.emplace(name, deadline);
            }
            orphans_being_unloaded_.erase(name);
            orphan_changed_.notify_all();
        }
        orphan_changed_.wait_for(lock, Milliseconds(config_.orphan_poll_ms), [&] { return stopping_.load(); });
    }
}

std::vector<sdk::ResidentModel> TritonBackend::list_resident() {
    // Model repository extension: POST v2/repository/index {} answers [{"name", "version", "state"}] for every model
    // of the repository. A model holds memory while READY and while UNLOADING (its requests in flight finish first):
    // an unload that failed on its deadline (still UNLOADING) must stay charged until Triton has let the model go.
    const std::string index_path = "/v2/repository/index";
    const uint64_t listing_started = holders_.listing_started();
    const RequestOutcome index = send("POST", index_path, "{}", config_.request_timeout_ms, nullptr);
    if (index.interrupt == Interrupt::DeadlinePassed)
        throw sdk::Error(WARMUP_ERROR_TIMEOUT, "Triton did not answer POST " + url(index_path) +
                                                   " (the listing of its ready models) within request_timeout_ms=" +
                                                   std::to_string(config_.request_timeout_ms));
    if (index.answer.status == 0)
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, "cannot reach Triton at " + url(index_path) +
                                                       " to list its models: " + index.answer.transport_error);
    if (index.answer.status != 200)
        throw repository_call_error("list", "POST", url(index_path), index.answer, "the ready models");
    const nlohmann::json parsed = nlohmann::json::parse(index.answer.body, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_array())
        throw sdk::Error(WARMUP_ERROR_UNAVAILABLE, "POST " + url(index_path) + " answered without a JSON array");
    std::set<std::string> ready;     // READY
    std::set<std::string> resident;  // READY or UNLOADING: the model still holds memory
    for (const auto& entry : parsed) {
        if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string()) continue;
        const std::string state = entry.value("state", std::string());
        if (state == "READY") ready.insert(entry["name"].get<std::string>());
        if (state == "READY" || state == "UNLOADING") resident.insert(entry["name"].get<std::string>());
    }

    std::vector<sdk::ResidentModel> listed;
    std::set<std::string> lingering_reported;
    {
        // Unloads that failed on their deadline: reported under the name that unloaded them while Triton still holds
        // them (the host keeps their memory charged), forgotten once it does not.
        std::lock_guard lock(lingering_mutex_);
        for (auto lingering = lingering_unloads_.begin(); lingering != lingering_unloads_.end();) {
            // Gone from the index, or held again by a name loaded since (reported below as held): nothing lingers.
            if (resident.count(lingering->first) == 0 || !holders_.holders(lingering->first).empty()) {
                lingering = lingering_unloads_.erase(lingering);
                continue;
            }
            listed.push_back({lingering->second, 0.0});
            lingering_reported.insert(lingering->first);
            ++lingering;
        }
    }

    std::set<std::string> reported = lingering_reported;
    const uint32_t count = host().model_count();
    for (warmup_model_index index_of_model = 0; index_of_model < count; ++index_of_model) {
        const auto info = host().model_info(index_of_model);
        if (!info) continue;
        const std::string catalog_name = name_of(*info);
        const std::string repository_model = repository_name(catalog_name);
        if (ready.count(repository_model) == 0 || lingering_reported.count(repository_model) != 0) continue;
        reported.insert(repository_model);
        // Every catalog name holding the model is reported; one nobody holds (another client loaded it) goes by the
        // first catalog name mapped to it, which holds it from now (adopted once, not once per name).
        const std::vector<std::string> holders = holders_.holders(repository_model);
        const bool holds = std::find(holders.begin(), holders.end(), catalog_name) != holders.end();
        if (holds || (holders.empty() && holders_.adopt(repository_model, catalog_name)))
            listed.push_back({catalog_name, 0.0});
    }
    holders_.forget_gone(listing_started, ready);
    for (const std::string& name : ready) {
        if (reported.count(name)) continue;
        const auto& names = config_.model_names.entries();
        const bool mapped =
            std::any_of(names.begin(), names.end(), [&](const auto& mapping) { return mapping.second == name; });
        if (!mapped) listed.push_back({name, 0.0});
    }
    return listed;
}

}  // namespace warmup::plugins
