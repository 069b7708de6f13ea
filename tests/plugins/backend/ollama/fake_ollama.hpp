// fake_ollama.hpp — a stand-in for an Ollama server, inside the test process: an httplib::Server on 127.0.0.1 and an
// ephemeral port that speaks the part of the Ollama API the backend uses, records every request, and can hold loads
// (until released), fail them with 500, or answer 404 for a model it does not have.
//
// What it models (facts of the real API): POST /api/generate {"model", "keep_alive"} without a prompt loads the model
// and answers {"model", "done": true, "done_reason": "load"}; keep_alive 0 unloads it ("done_reason": "unload"); an
// unknown model gives 404 {"error": "model \"X\" not found, try pulling it first"}; an embedding-only model refuses
// /api/generate with 400 {"error": "\"X\" does not support generate"} and loads through POST /api/embed; GET /api/ps
// lists loaded models with size and size_vram in bytes. Handlers accept any path prefix (a reverse proxy in front).
// Unloads can be held too (a big model takes seconds to leave a GPU): the model stays loaded until they are released.
// The most memory the server held at once (size_vram of the models loaded or being loaded) is recorded.
//
// Threads: the server runs on its own thread with httplib's pool; every member is guarded by mutex_. The destructor
// releases held loads and unloads, stops the server and joins its thread.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace warmup::test {

class FakeOllama {
  public:
    struct Request {
        std::string method;
        std::string path;
        nlohmann::json body;  // null for GET
    };
    struct Model {
        uint64_t size_bytes;
        uint64_t size_vram_bytes;
        bool embedding_only = false;
    };

    FakeOllama() {
        server_.Post(R"((.*)/api/(generate|embed))",
                     [this](const httplib::Request& request, httplib::Response& response) {
                         handle_keep_alive(request, response);
                     });
        server_.Get(R"((.*)/api/ps)", [this](const httplib::Request& request, httplib::Response& response) {
            std::lock_guard lock(mutex_);
            requests_.push_back({"GET", request.path, nullptr});
            nlohmann::json models = nlohmann::json::array();
            for (const std::string& name : loaded_) {
                const Model& model = models_.at(name);
                models.push_back({{"name", name},
                                  {"model", name},
                                  {"size", model.size_bytes},
                                  {"size_vram", model.size_vram_bytes},
                                  {"expires_at", "2318-08-29T05:25:00Z"}});
            }
            response.set_content(nlohmann::json{{"models", models}}.dump(), "application/json");
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        // listen_after_bind starts on the thread: wait (bounded) until the server accepts.
        poll_until([&] { return server_.is_running(); }, std::chrono::seconds(5), std::chrono::milliseconds(1));
    }

    ~FakeOllama() {
        release_held_loads();
        release_held_unloads();
        server_.stop();
        thread_.join();
    }
    FakeOllama(const FakeOllama&) = delete;
    FakeOllama& operator=(const FakeOllama&) = delete;

    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    /// `name` with its tag ("phi3:latest"): a request for the untagged name finds it, as in Ollama.
    void add_model(const std::string& name, Model model) {
        std::lock_guard lock(mutex_);
        models_[name] = model;
    }
    /// Loads (keep_alive != 0) answer `status` (500 unless given) with this error text, or normally when empty.
    void fail_loads_with(const std::string& error_text, int status = 500) {
        std::lock_guard lock(mutex_);
        load_error_ = error_text;
        load_error_status_ = status;
    }
    /// Unloads (keep_alive 0) answer 500 with this error text and leave the model loaded, or work when empty.
    void fail_unloads_with(const std::string& error_text) {
        std::lock_guard lock(mutex_);
        unload_error_ = error_text;
    }
    /// Loads (keep_alive != 0) load the model but answer 200 with this body as it is (e.g. cut short), or normally
    /// when empty.
    void answer_loads_with_body(const std::string& body) {
        std::lock_guard lock(mutex_);
        load_body_ = body;
    }
    /// Loads (keep_alive != 0) wait until release_held_loads() (or 10 s as a safety cap, then succeed).
    void hold_loads() {
        std::lock_guard lock(mutex_);
        hold_loads_ = true;
    }
    void release_held_loads() {
        std::lock_guard lock(mutex_);
        hold_loads_ = false;
        changed_.notify_all();
    }
    /// Unloads (keep_alive 0) wait until release_held_unloads() (or `safety_cap`, so a failed test does not hang),
    /// the model still loaded.
    void hold_unloads(std::chrono::seconds safety_cap = std::chrono::seconds(10)) {
        std::lock_guard lock(mutex_);
        hold_unloads_ = true;
        unload_hold_cap_ = safety_cap;
    }
    void release_held_unloads() {
        std::lock_guard lock(mutex_);
        hold_unloads_ = false;
        changed_.notify_all();
    }
    /// Unloads waiting in hold_unloads() right now.
    [[nodiscard]] int unloads_held() const {
        std::lock_guard lock(mutex_);
        return unloads_held_;
    }
    /// The most VRAM (bytes) the models loaded or being loaded held at any one time.
    [[nodiscard]] uint64_t peak_vram_bytes() const {
        std::lock_guard lock(mutex_);
        return peak_vram_bytes_;
    }
    /// Load requests (keep_alive not 0) received for `name`.
    [[nodiscard]] int loads_received(const std::string& name) const {
        std::lock_guard lock(mutex_);
        int loads = 0;
        for (const Request& request : requests_)
            if (request.method == "POST" && request.body.is_object() &&
                canonical(request.body.value("model", "")) == canonical(name) &&
                !(request.body.contains("keep_alive") && request.body["keep_alive"] == 0))
                ++loads;
        return loads;
    }
    /// Loads waiting in hold_loads() right now.
    [[nodiscard]] int loads_held() const {
        std::lock_guard lock(mutex_);
        return loads_held_;
    }
    [[nodiscard]] std::vector<Request> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    /// Another client of the server loads `name` (which must have been added), or its keep_alive expires and Ollama
    /// drops it: the server's state changes without any request from the backend under test.
    void load_directly(const std::string& name) {
        std::lock_guard lock(mutex_);
        loaded_.insert(canonical(name));
        note_vram();
    }
    void unload_directly(const std::string& name) {
        std::lock_guard lock(mutex_);
        loaded_.erase(canonical(name));
    }
    [[nodiscard]] bool is_loaded(const std::string& name) const {
        std::lock_guard lock(mutex_);
        return loaded_.count(canonical(name)) != 0;
    }
    /// Whether a request with keep_alive 0 (an unload) for `name` has arrived.
    [[nodiscard]] bool received_unload_of(const std::string& name) const {
        std::lock_guard lock(mutex_);
        for (const Request& request : requests_)
            if (request.method == "POST" && request.body.is_object() &&
                canonical(request.body.value("model", "")) == canonical(name) && request.body.contains("keep_alive") &&
                request.body["keep_alive"] == 0)
                return true;
        return false;
    }

  private:
    /// Ollama's full name of a model: an untagged name means the ":latest" tag ("phi3" is "phi3:latest").
    static std::string canonical(const std::string& name) {
        return name.find(':') == std::string::npos ? name + ":latest" : name;
    }

    void handle_keep_alive(const httplib::Request& request, httplib::Response& response) {
        const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
        std::unique_lock lock(mutex_);
        requests_.push_back({"POST", request.path, body});
        const std::string name = canonical(body.is_object() ? body.value("model", "") : "");
        const bool embed_endpoint =
            request.path.size() >= 6 && request.path.substr(request.path.size() - 6) == "/embed";
        const auto error = [&](int status, const std::string& text) {
            response.status = status;
            response.set_content(nlohmann::json{{"error", text}}.dump(), "application/json");
        };
        const auto model = models_.find(name);
        if (model == models_.end()) return error(404, "model \"" + name + "\" not found, try pulling it first");
        if (model->second.embedding_only && !embed_endpoint)
            return error(400, "\"" + name + "\" does not support generate");
        const bool unload = body.contains("keep_alive") && body["keep_alive"] == 0;
        if (unload) {
            if (!unload_error_.empty()) return error(500, unload_error_);
            if (hold_unloads_) {
                ++unloads_held_;
                changed_.wait_for(lock, unload_hold_cap_, [&] { return !hold_unloads_; });
                --unloads_held_;
            }
            loaded_.erase(name);
            response.set_content(nlohmann::json{{"model", name}, {"done", true}, {"done_reason", "unload"}}.dump(),
                                 "application/json");
            return;
        }
        if (!load_error_.empty()) return error(load_error_status_, load_error_);
        // The memory is taken while the model loads.
        ++loading_[name];
        note_vram();
        if (hold_loads_) {
            ++loads_held_;
            changed_.wait_for(lock, std::chrono::seconds(10), [&] { return !hold_loads_; });
            --loads_held_;
        }
        if (--loading_[name] == 0) loading_.erase(name);
        loaded_.insert(name);
        if (!load_body_.empty()) return response.set_content(load_body_, "application/json");
        response.set_content(nlohmann::json{{"model", name}, {"done", true}, {"done_reason", "load"}}.dump(),
                             "application/json");
    }

    /// [under mutex_] Records the VRAM of the models loaded or being loaded, if it is the most so far.
    void note_vram() {
        uint64_t vram = 0;
        for (const std::string& name : loaded_) vram += models_.at(name).size_vram_bytes;
        for (const auto& [name, loads] : loading_)
            if (loaded_.count(name) == 0) vram += models_.at(name).size_vram_bytes;
        peak_vram_bytes_ = std::max(peak_vram_bytes_, vram);
    }

    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, Model> models_;
    std::set<std::string> loaded_;
    std::vector<Request> requests_;
    std::string load_error_;
    int load_error_status_ = 500;
    std::string unload_error_;
    std::string load_body_;
    bool hold_loads_ = false;
    int loads_held_ = 0;
    bool hold_unloads_ = false;
    std::chrono::seconds unload_hold_cap_{10};  // under mutex_
    int unloads_held_ = 0;
    std::map<std::string, int> loading_;  // loads in progress per model
    uint64_t peak_vram_bytes_ = 0;
};

}  // namespace warmup::test
