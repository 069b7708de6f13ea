// fake_triton.hpp — an in-process stand-in for Triton's HTTP model repository API, for the triton backend tests.
//
// It serves on 127.0.0.1 (an ephemeral port) exactly the endpoints the backend uses:
//   POST {prefix}/v2/repository/models/{name}/load     -> 200 {} and the model becomes ready, or a scripted failure
//   POST {prefix}/v2/repository/models/{name}/unload   -> 200 {} and the model is no longer ready (UNLOADING in the
//                                                         index for unloads_take(), then UNAVAILABLE)
//   POST {prefix}/v2/repository/index                  -> [{"name", "version", "state"}]
//   GET  {prefix}/v2/models/{name}/ready               -> 200 when ready, else 400 (Triton answers 400 too)
//   GET  {prefix}/v2/models/{name}/stats               -> a scripted statistics body, else 400
// and records every request (method, decoded path, raw target, body). It can hold loads until the test releases them
// (a "slow" load that never answers on its own), fail a model's load with a given status and body, and keep a loaded
// model "not ready".
//
// Threads: httplib serves on its own threads; every member is guarded by one mutex, so the test thread may script and
// inspect at any time. The destructor releases held loads first, so stopping the server never waits on a handler.
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
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace warmup::test {

class FakeTriton {
  public:
    struct Request {
        std::string method;
        std::string path;    // as httplib decoded it
        std::string target;  // as sent on the wire (percent-encoding intact)
        std::string body;
    };

    explicit FakeTriton(std::string path_prefix = "") : prefix_(std::move(path_prefix)) {
        const std::string name = "([^/]+)";
        server_.Post(
            prefix_ + "/v2/repository/models/" + name + "/load",
            [this](const httplib::Request& request, httplib::Response& response) { on_load(request, response); });
        server_.Post(prefix_ + "/v2/repository/models/" + name + "/unload",
                     [this](const httplib::Request& request, httplib::Response& response) {
                         record(request);
                         std::this_thread::sleep_for(unload_answer_delay());
                         std::lock_guard lock(mutex_);
                         ready_.erase(request.matches[1]);
                         if (unload_takes_ > std::chrono::milliseconds(0))
                             unloading_until_[request.matches[1]] = std::chrono::steady_clock::now() + unload_takes_;
                         reply(response, 200, "{}");
                     });
        server_.Get(prefix_ + "/v2/models/" + name + "/ready", [this](const httplib::Request& request,
                                                                      httplib::Response& response) {
            record(request);
            std::lock_guard lock(mutex_);
            const bool ready = ready_.count(request.matches[1]) != 0 && never_ready_.count(request.matches[1]) == 0;
            reply(response, ready ? 200 : 400, ready ? "" : R"({"error":"model is not ready"})");
        });
        server_.Get(prefix_ + "/v2/models/" + name + "/stats",
                    [this](const httplib::Request& request, httplib::Response& response) {
                        record(request);
                        std::lock_guard lock(mutex_);
                        const auto stats = stats_.find(request.matches[1]);
                        if (stats == stats_.end())
                            reply(response, 400, R"({"error":"statistics not available"})");
                        else
                            reply(response, 200, stats->second);
                    });
        // Model repository index: every model the repository holds with its state; {"ready": true} asks for the
        // ready ones only (this fake holds only ready models and the ones a test added as unavailable).
        server_.Post(prefix_ + "/v2/repository/index", [this](const httplib::Request& request,
                                                              httplib::Response& response) {
            record(request);
            std::lock_guard lock(mutex_);
            nlohmann::json index = nlohmann::json::array();
            for (const std::string& model : ready_)
                index.push_back({{"name", model}, {"version", "1"}, {"state", "READY"}});
            for (const std::string& model : unavailable_)
                index.push_back({{"name", model}, {"version", "1"}, {"state", "UNAVAILABLE"}, {"reason", "unloaded"}});
            for (const auto& [model, until] : unloading_until_)
                index.push_back({{"name", model},
                                 {"version", "1"},
                                 {"state", std::chrono::steady_clock::now() < until ? "UNLOADING" : "UNAVAILABLE"}});
            reply(response, 200, index.dump());
        });
        server_.set_tcp_nodelay(true);
        port_ = server_.bind_to_any_port("127.0.0.1");  // listening from here on: connections queue until accepted
        serving_thread_ = std::thread([this] { server_.listen_after_bind(); });
        // stop() is a no-op until the accept loop runs, so the destructor could otherwise join a server that never
        // stops. Bounded wait: the loop starts within microseconds of the thread.
        // listen_after_bind starts on the thread: wait (bounded) until the server accepts.
        poll_until([&] { return server_.is_running(); }, std::chrono::seconds(5), std::chrono::milliseconds(1));
    }

    ~FakeTriton() {
        release_loads();
        server_.stop();
        serving_thread_.join();
    }

    FakeTriton(const FakeTriton&) = delete;
    FakeTriton& operator=(const FakeTriton&) = delete;

    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + prefix_; }

    /// From now on every load waits until release_loads() (or the destructor).
    void hold_loads() {
        std::lock_guard lock(mutex_);
        holding_loads_ = true;
    }
    /// Lets every held load finish (the model becomes ready) and stops holding new ones.
    void release_loads() {
        {
            std::lock_guard lock(mutex_);
            holding_loads_ = false;
        }
        loads_released_.notify_all();
    }
    /// Loads of `model` answer `status` with `body` instead of succeeding.
    void fail_loads(const std::string& model, int status, const std::string& body) {
        std::lock_guard lock(mutex_);
        load_failures_[model] = {status, body};
    }
    /// `model` loads (200) but its ready endpoint keeps answering 400.
    void never_ready(const std::string& model) {
        std::lock_guard lock(mutex_);
        never_ready_.insert(model);
    }
    /// Another client loads `model` (ready without a request of the backend under test), or unloads it: it stays in the
    /// repository index as UNAVAILABLE.
    void load_directly(const std::string& model) {
        std::lock_guard lock(mutex_);
        ready_.insert(model);
        unavailable_.erase(model);
    }
    void unload_directly(const std::string& model) {
        std::lock_guard lock(mutex_);
        ready_.erase(model);
        unavailable_.insert(model);
    }
    /// From now on an unload is answered at once, as Triton does, and the model stays UNLOADING in the index for
    /// `duration` (its requests in flight finishing), then UNAVAILABLE.
    void unloads_take(std::chrono::milliseconds duration) {
        std::lock_guard lock(mutex_);
        unload_takes_ = duration;
    }
    /// From now on the unload request itself is answered only after `delay` (a server too busy to answer).
    void delay_unload_answers(std::chrono::milliseconds delay) {
        std::lock_guard lock(mutex_);
        unload_answer_delay_ = delay;
    }
    void set_stats(const std::string& model, const std::string& body) {
        std::lock_guard lock(mutex_);
        stats_[model] = body;
    }

    [[nodiscard]] std::vector<Request> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    [[nodiscard]] std::size_t count(const std::string& method, const std::string& path) const {
        std::lock_guard lock(mutex_);
        std::size_t matches = 0;
        for (const auto& request : requests_) matches += request.method == method && request.path == path ? 1 : 0;
        return matches;
    }
    [[nodiscard]] int loads_held_now() const {
        std::lock_guard lock(mutex_);
        return loads_held_now_;
    }
    [[nodiscard]] bool is_ready(const std::string& model) const {
        std::lock_guard lock(mutex_);
        return ready_.count(model) != 0;
    }

  private:
    std::chrono::milliseconds unload_answer_delay() const {
        std::lock_guard lock(mutex_);
        return unload_answer_delay_;
    }

    static void reply(httplib::Response& response, int status, const std::string& body) {
        response.status = status;
        response.set_content(body, "application/json");
    }

    void record(const httplib::Request& request) {
        std::lock_guard lock(mutex_);
        requests_.push_back({request.method, request.path, request.target, request.body});
    }

    void on_load(const httplib::Request& request, httplib::Response& response) {
        record(request);
        const std::string model = request.matches[1];
        std::unique_lock lock(mutex_);
        ++loads_held_now_;
        loads_released_.wait(lock, [&] { return !holding_loads_; });
        --loads_held_now_;
        const auto failure = load_failures_.find(model);
        if (failure != load_failures_.end()) {
            reply(response, failure->second.first, failure->second.second);
            return;
        }
        ready_.insert(model);  // Triton finishes a load even when the client has gone away
        reply(response, 200, "{}");
    }

    const std::string prefix_;
    httplib::Server server_;
    int port_ = -1;
    std::thread serving_thread_;

    mutable std::mutex mutex_;
    std::condition_variable loads_released_;
    bool holding_loads_ = false;
    int loads_held_now_ = 0;
    std::vector<Request> requests_;
    std::set<std::string> ready_;
    std::set<std::string> unavailable_;  // in the index, not ready (unloaded)
    std::set<std::string> never_ready_;
    std::chrono::milliseconds unload_takes_{0};
    std::chrono::milliseconds unload_answer_delay_{0};
    std::map<std::string, std::chrono::steady_clock::time_point> unloading_until_;  // unloaded by a request
    std::map<std::string, std::pair<int, std::string>> load_failures_;
    std::map<std::string, std::string> stats_;
};

}  // namespace warmup::test
