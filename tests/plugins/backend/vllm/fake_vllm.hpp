// fake_vllm.hpp — a stand-in for one vLLM OpenAI-compatible server, inside the test process: an httplib::Server on
// 127.0.0.1 and an ephemeral port that speaks the part of vLLM's HTTP API the vLLM backend uses, records every
// request, and can be told to misbehave.
//
// What it models (vLLM's documented endpoints, as in vllm/entrypoints/serve/dev/sleep/api_router.py,
// vllm/entrypoints/serve/lora/api_router.py and vllm/entrypoints/openai/serving_models.py):
//  - sleep mode (only with dev_mode, as VLLM_SERVER_DEV_MODE=1): POST /sleep?level=N and POST /wake_up answer 200 with
//    an empty body; GET /is_sleeping answers {"is_sleeping": bool}. Level 2 discards the weights: /wake_up?tags=weights
//    allocates their memory, POST /collective_rpc {"method": "reload_weights"} loads them again, /wake_up?tags=kv_cache
//    allocates the KV cache (docs/features/sleep_mode.md); a plain /wake_up after level 2 serves without weights.
//    Without dev mode the routes do not exist: FastAPI answers 404 {"detail": "Not Found"}.
//  - LoRA (only with runtime_lora, as VLLM_ALLOW_RUNTIME_LORA_UPDATING=True): POST /v1/load_lora_adapter
//    {"lora_name", "lora_path"} answers 200 "Success: ..."; 400 "The lora adapter 'x' has already been loaded."; 404
//    NotFoundError "No adapter found for ..." when the path is unknown. POST /v1/unload_lora_adapter {"lora_name"}
//    answers 200, or 404 "The lora adapter 'x' cannot be found.". Errors are {"error": {"message", "type", "code"}}.
//  - GET /v1/models: {"object": "list", "data": [cards]}: the base model with "parent": null, every adapter with its
//    base model as "parent".
//  - with api_key set (vllm serve --api-key): every request without "Authorization: Bearer <key>" gets 401.
//
// Threads: the server runs on its own thread with httplib's pool; every member is guarded by mutex_.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace warmup::test {

class FakeVllm {
  public:
    struct Request {
        std::string method;
        std::string target;  // path plus query, e.g. "/sleep?level=2"
        std::string body;    // POST bodies of the adapter endpoints (the pre-routing hook runs before the body is read)
    };

    /// `dev_mode`: the sleep endpoints exist; `runtime_lora`: the adapter endpoints exist.
    FakeVllm(bool dev_mode, bool runtime_lora, std::string base_model = "meta-llama/Llama-3.1-8B-Instruct")
        : base_model_(std::move(base_model)) {
        server_.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
            std::string target = request.path;
            if (!request.params.empty()) {
                target += "?";
                for (const auto& [key, value] : request.params) target += key + "=" + value + "&";
                target.pop_back();
            }
            std::lock_guard lock(mutex_);
            requests_.push_back({request.method, target, request.body});
            if (forced_status_ != 0) {
                error(response, forced_status_, "Forced", "answered by the test");
                return httplib::Server::HandlerResponse::Handled;
            }
            if (proxy_404_) {  // a proxy or ingress whose upstream is gone: HTML, not vLLM's JSON
                response.status = 404;
                response.set_content("<html><body>404 Not Found</body></html>", "text/html");
                return httplib::Server::HandlerResponse::Handled;
            }
            if (!api_key_.empty() && request.get_header_value("Authorization") != "Bearer " + api_key_) {
                response.status = 401;
                response.set_content(R"({"error": "Unauthorized"})", "application/json");
                return httplib::Server::HandlerResponse::Handled;
            }
            return httplib::Server::HandlerResponse::Unhandled;
        });
        // FastAPI's answer for a route that does not exist.
        server_.set_error_handler([](const httplib::Request&, httplib::Response& response) {
            if (response.status == 404 && response.body.empty())
                response.set_content(R"({"detail":"Not Found"})", "application/json");
        });
        if (dev_mode) add_sleep_routes();
        if (runtime_lora) add_lora_routes();
        server_.Get("/v1/models", [this](const httplib::Request&, httplib::Response& response) {
            std::lock_guard lock(mutex_);
            nlohmann::json cards = nlohmann::json::array();
            cards.push_back({{"id", base_model_}, {"object", "model"}, {"root", base_model_}, {"parent", nullptr}});
            for (const auto& [name, path] : adapters_)
                cards.push_back({{"id", name}, {"object", "model"}, {"root", path}, {"parent", base_model_}});
            response.set_content(nlohmann::json{{"object", "list"}, {"data", cards}}.dump(), "application/json");
        });
        server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
            std::lock_guard lock(mutex_);
            response.set_content(metrics_text_, "text/plain; version=0.0.4");
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        // listen_after_bind starts on the thread: wait (bounded) until the server accepts.
        poll_until([&] { return server_.is_running(); }, std::chrono::seconds(5), std::chrono::milliseconds(1));
    }
    ~FakeVllm() {
        release_held();
        server_.stop();
        thread_.join();
    }
    FakeVllm(const FakeVllm&) = delete;
    FakeVllm& operator=(const FakeVllm&) = delete;

    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    [[nodiscard]] int port() const { return port_; }

    // ----- state and behaviour (any thread)
    void set_sleeping(bool sleeping) {
        locked([&] { sleeping_ = sleeping; });
    }
    [[nodiscard]] bool sleeping() {
        return locked([&] { return sleeping_; });
    }
    /// Every request from now on is answered with this status and an error object (0: served normally again).
    void answer_every_request_with(int status) {
        locked([&] { forced_status_ = status; });
    }
    /// Every request from now on is answered 404 with an HTML page, as a proxy in front of a server that is gone
    /// answers (false: served normally again).
    void answer_as_a_proxy_without_upstream(bool on) {
        locked([&] { proxy_404_ = on; });
    }
    /// Awake with the model's weights in GPU memory (after a level-2 sleep, only once they were reloaded).
    [[nodiscard]] bool serves_with_its_weights() {
        return locked([&] { return !sleeping_ && weights_valid_; });
    }
    [[nodiscard]] int last_sleep_level() {
        return locked([&] { return last_sleep_level_; });
    }
    /// /wake_up answers 200 but the engine stays asleep for this many more /is_sleeping calls.
    void set_wake_lag(int is_sleeping_calls) {
        locked([&] { wake_lag_ = is_sleeping_calls; });
    }
    /// Adapter paths that exist on the server (a load of another path answers 404 "No adapter found").
    void add_adapter_path(const std::string& path) {
        locked([&] { adapter_paths_.insert(path); });
    }
    /// Loads of this adapter answer 200 but never show up in /v1/models (failed after answering).
    void set_half_loads(const std::string& name) {
        locked([&] { half_loaded_.insert(name); });
    }
    /// An adapter loaded by someone else (another client of the server).
    void load_adapter_directly(const std::string& name, const std::string& path) {
        locked([&] { adapters_[name] = path; });
    }
    void unload_adapter_directly(const std::string& name) {
        locked([&] { adapters_.erase(name); });
    }
    [[nodiscard]] std::set<std::string> adapters() {
        return locked([&] {
            std::set<std::string> names;
            for (const auto& [name, path] : adapters_) names.insert(name);
            return names;
        });
    }
    /// Holds /wake_up and /v1/load_lora_adapter until release_held() (or the fake's destruction).
    void hold_loads() {
        locked([&] { holding_ = true; });
    }
    void release_held() {
        locked([&] { holding_ = false; });
        held_changed_.notify_all();
    }
    [[nodiscard]] int held_now() {
        return locked([&] { return held_now_; });
    }
    void set_api_key(const std::string& key) {
        locked([&] { api_key_ = key; });
    }
    void set_metrics_text(const std::string& text) {
        locked([&] { metrics_text_ = text; });
    }
    [[nodiscard]] std::vector<Request> requests() {
        return locked([&] { return requests_; });
    }
    [[nodiscard]] std::size_t count(const std::string& method, const std::string& target) {
        return locked([&] {
            std::size_t n = 0;
            for (const Request& request : requests_) n += request.method == method && request.target == target;
            return n;
        });
    }

  private:
    template <class Body>
    auto locked(Body&& body) -> decltype(body()) {
        std::lock_guard lock(mutex_);
        return body();
    }

    static void error(httplib::Response& response, int status, const std::string& type, const std::string& message) {
        response.status = status;
        response.set_content(
            nlohmann::json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", status}}}}
                .dump(),
            "application/json");
    }

    /// Records the body of the newest recorded request to the same path (called with the lock held).
    void note_body(const httplib::Request& request) {
        for (auto it = requests_.rbegin(); it != requests_.rend(); ++it)
            if (it->method == request.method && it->target == request.path) {
                it->body = request.body;
                return;
            }
    }

    /// Waits while loads are held (called with the lock held through `lock`).
    void wait_while_held(std::unique_lock<std::mutex>& lock) {
        ++held_now_;
        held_changed_.wait_for(lock, std::chrono::seconds(30), [&] { return !holding_; });
        --held_now_;
    }

    void add_sleep_routes() {
        server_.Post("/sleep", [this](const httplib::Request& request, httplib::Response&) {
            std::lock_guard lock(mutex_);
            last_sleep_level_ = std::stoi(request.has_param("level") ? request.get_param_value("level") : "1");
            sleeping_ = true;
            weights_awake_ = kv_cache_awake_ = false;
            if (last_sleep_level_ == 2) weights_valid_ = false;  // level 2 discards the weights
        });
        // ?tags=weights / ?tags=kv_cache wakes that part only; no tags wakes both.
        server_.Post("/wake_up", [this](const httplib::Request& request, httplib::Response&) {
            std::unique_lock lock(mutex_);
            if (holding_) wait_while_held(lock);
            const std::size_t tags = request.get_param_value_count("tags");
            for (std::size_t i = 0; i < tags; ++i) {
                const std::string tag = request.get_param_value("tags", i);
                weights_awake_ = weights_awake_ || tag == "weights";
                kv_cache_awake_ = kv_cache_awake_ || tag == "kv_cache";
            }
            if (tags == 0) weights_awake_ = kv_cache_awake_ = true;
            sleeping_ = !(weights_awake_ && kv_cache_awake_);
        });
        // POST /collective_rpc {"method": "reload_weights"}: loads the weights again into their (woken) memory.
        server_.Post("/collective_rpc", [this](const httplib::Request& request, httplib::Response& response) {
            const auto body = nlohmann::json::parse(request.body, nullptr, false);
            std::lock_guard lock(mutex_);
            note_body(request);
            if (!body.is_object() || body.value("method", "") != "reload_weights")
                return error(response, 400, "BadRequestError", "unknown method");
            if (!weights_awake_) return error(response, 500, "InternalServerError", "the weights' memory is asleep");
            weights_valid_ = true;
            response.set_content(R"({"results": [null]})", "application/json");
        });
        server_.Get("/is_sleeping", [this](const httplib::Request&, httplib::Response& response) {
            std::lock_guard lock(mutex_);
            bool reported = sleeping_;
            if (!sleeping_ && wake_lag_ > 0) {
                --wake_lag_;
                reported = true;
            }
            response.set_content(nlohmann::json{{"is_sleeping", reported}}.dump(), "application/json");
        });
    }

    void add_lora_routes() {
        server_.Post("/v1/load_lora_adapter", [this](const httplib::Request& request, httplib::Response& response) {
            const auto body = nlohmann::json::parse(request.body, nullptr, false);
            std::unique_lock lock(mutex_);
            note_body(request);
            if (holding_) wait_while_held(lock);
            if (!body.is_object() || !body.contains("lora_name") || !body.contains("lora_path"))
                return error(response, 400, "InvalidUserInput", "Both 'lora_name' and 'lora_path' must be provided.");
            const std::string name = body["lora_name"], path = body["lora_path"];
            if (adapters_.count(name))
                return error(response, 400, "InvalidUserInput",
                             "The lora adapter '" + name + "' has already been loaded.");
            if (!adapter_paths_.count(path))
                return error(response, 404, "NotFoundError", "No adapter found for " + path);
            if (!half_loaded_.count(name)) adapters_[name] = path;
            response.set_content("Success: LoRA adapter '" + name + "' added successfully.", "text/plain");
        });
        server_.Post("/v1/unload_lora_adapter", [this](const httplib::Request& request, httplib::Response& response) {
            const auto body = nlohmann::json::parse(request.body, nullptr, false);
            std::lock_guard lock(mutex_);
            note_body(request);
            const std::string name = body.is_object() && body.contains("lora_name") ? body["lora_name"] : "";
            if (adapters_.erase(name) == 0)
                return error(response, 404, "NotFoundError", "The lora adapter '" + name + "' cannot be found.");
            response.set_content("Success: LoRA adapter '" + name + "' removed successfully.", "text/plain");
        });
    }

    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable held_changed_;
    std::string base_model_;
    bool sleeping_ = true;
    bool weights_awake_ = false;   // the weights' GPU memory is allocated
    bool kv_cache_awake_ = false;  // the KV cache's GPU memory is allocated
    bool weights_valid_ = true;    // that memory holds the model's weights (false after a level-2 sleep until reloaded)
    int last_sleep_level_ = 0;
    int wake_lag_ = 0;
    bool holding_ = false;
    int held_now_ = 0;
    std::string api_key_;
    int forced_status_ = 0;
    bool proxy_404_ = false;
    std::string metrics_text_;
    std::map<std::string, std::string> adapters_;  // name -> path
    std::set<std::string> adapter_paths_;
    std::set<std::string> half_loaded_;
    std::vector<Request> requests_;
};

}  // namespace warmup::test
