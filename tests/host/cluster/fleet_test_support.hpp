// fleet_test_support.hpp — a real redis-server on a free loopback port and warmupd nodes of one fleet, for the fleet
// tests. Header-only; used from the test thread only.
//
// Every wait is a poll with a deadline (poll_until); nothing here sleeps a fixed time. The deadlines are generous
// (a loaded 2-core machine): a fleet that works meets them in a few heartbeats.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cluster/redis_client.hpp"
#include "test_support.hpp"

namespace warmup::test {

using json = nlohmann::json;
using namespace std::chrono_literals;

inline constexpr uint32_t kHeartbeatMs = 1000;
/// How long a fleet may take to settle after a change: many heartbeats, for a machine busy compiling.
inline constexpr std::chrono::milliseconds kSettle{30'000};

inline int64_t system_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// A loopback port nobody listens on right now (bound to port 0, read, closed).
inline int free_loopback_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        if (fd >= 0) close(fd);
        throw std::runtime_error("no free loopback port");
    }
    close(fd);
    return ntohs(address.sin_port);
}

/// redis-server on 127.0.0.1:<port>, without persistence (a restart starts empty, as a lost Redis would).
class RedisServer {
  public:
    explicit RedisServer(int port) : port_(port) { start(); }

    void start() {
        process_ = std::make_unique<Daemon>(
            std::vector<std::string>{"--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--protected-mode", "no"},
            Daemon::Capture::StdoutAndStderr, "/usr/bin/redis-server");
        const bool up = poll_until(
            [&] {
                try {
                    return client().command({"PING"}).text == "PONG";
                } catch (const std::exception&) {
                    return false;
                }
            },
            20'000ms, 20ms);
        if (!up) throw std::runtime_error("redis-server did not answer on port " + std::to_string(port_));
    }
    /// SIGKILL, as a crashed Redis.
    void kill_now() { process_->kill_now(); }

    [[nodiscard]] std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    /// A fresh connection for the test's own reads.
    [[nodiscard]] host::cluster::RedisConnection client() const {
        return host::cluster::RedisConnection(
            host::cluster::RedisEndpoint{"127.0.0.1", static_cast<uint16_t>(port_), 0}, 2000ms);
    }

  private:
    int port_;
    std::unique_ptr<Daemon> process_;
};

/// The YAML of one node: the usage-pattern analyzer with 250 ms bins over 4 minutes and the idle-histogram predictor
/// (a 30 s rhythm is predicted as "next request 30 s after the last"), the simulated backend, a catalog of exact
/// rhythm models (placed from the start) and a glob for the rest. An empty `state_dir`: no state folder.
inline std::string node_config(const std::string& node_id, const std::string& redis_url,
                               const std::filesystem::path& state_dir, const std::string& cluster_extra = "",
                               const std::string& top_level_extra = "") {
    std::ostringstream yaml;
    yaml << "log_level: info\n"
            "http: {bind: 127.0.0.1, port: 0}\n"
            "plugin_dirs: [\""
         << WARMUP_TEST_PLUGIN_DIR
         << "\"]\n"
            "budgets: {memory_mb: 4000, max_concurrent_warmups: 2}\n"
            "components:\n"
            "  analyzer: {plugin: org.warmup.analyzer.usage-pattern, params: {idle_bin_ms: 250, idle_bins: "
            "960}}\n"
            "  predictor: {plugin: org.warmup.predictor.idle-histogram, params: {min_samples: 5}}\n"
            "  performance: {plugin: org.warmup.performance.calibrated}\n"
            "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
            "  resource: {plugin: org.warmup.resource.lru}\n"
            "  queue: {plugin: org.warmup.queue.priority}\n"
            "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
            "  backend: {plugin: org.warmup.backend.sim, params: {time_scale: 0.01}}\n"
            "catalog:\n";
    for (int i = 0; i < 12; ++i) yaml << "  - {model: \"rhythm/" << i << "\", memory_mb: 200, load_ms: 400}\n";
    yaml << "  - {model: \"m/*\", memory_mb: 100, load_ms: 400}\n";
    if (state_dir.empty())
        yaml << "state: {enabled: false}\n";
    else
        yaml << "state: {dir: \"" << state_dir.string() << "\", snapshot_interval_s: 1, journal: false}\n";
    yaml << "cluster: {redis: \"" << redis_url << "\", node_id: " << node_id << ", heartbeat_ms: " << kHeartbeatMs
         << cluster_extra << "}\n"
         << top_level_extra;
    return yaml.str();
}

/// One warmupd of the fleet, with its state folder <dir>/state-<id> (none when `state_folder` is false).
class Node {
  public:
    /// `top_level_extra`: YAML appended to the node's configuration (an experiment, say).
    Node(std::string id, const TempDir& dir, const std::string& redis_url, const std::string& cluster_extra = "",
         bool state_folder = true, const std::string& top_level_extra = "")
        : id_(std::move(id)), state_dir_(state_folder ? dir.path() / ("state-" + id_) : std::filesystem::path()) {
        config_ = dir.write(id_ + ".yaml", node_config(id_, redis_url, state_dir_, cluster_extra, top_level_extra));
        start();
    }

    void start() {
        process_ = std::make_unique<Daemon>(std::vector<std::string>{"--config", config_.string()});
        port_ = process_->wait_until_listening();
        if (port_ == 0) throw std::runtime_error("node " + id_ + " did not start:\n" + process_->log());
        client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
        client_->set_read_timeout(10, 0);
    }
    /// SIGKILL: no hand-over, no goodbye; peers notice when its membership expires.
    void kill_now() { process_->kill_now(); }
    /// SIGTERM and wait: the node hands its models over and leaves at once.
    bool stop_cleanly() {
        kill(process_->pid(), SIGTERM);
        const auto status = process_->wait_exit(30'000ms);
        return status && status->exited && status->code == 0;
    }

    [[nodiscard]] json get(const std::string& path) const {
        const auto result = client_->Get(path);
        if (!result || result->status != 200) return nullptr;
        return json::parse(result->body, nullptr, false);
    }
    /// POSTs an NDJSON body of events; returns {status, body} (status 0 when there was no answer).
    std::pair<int, json> post_events(const std::string& ndjson) const {
        const auto result = client_->Post("/api/warmup/events", ndjson, "application/x-ndjson");
        if (!result) return {0, nullptr};
        return {result->status, json::parse(result->body, nullptr, false)};
    }

    /// POSTs `body` (JSON) to `path`; returns the status (0 when there was no answer).
    int post(const std::string& path, const std::string& body = "") const {
        const auto result = client_->Post(path, body, "application/json");
        return result ? result->status : 0;
    }

    [[nodiscard]] json cluster() const { return get("/api/warmup/cluster"); }
    /// The owners of `model` in this node's view (empty when unknown or the node does not answer).
    [[nodiscard]] std::vector<std::string> owners(const std::string& model) const {
        const json view = cluster();
        if (!view.is_object() || !view["owners"].contains(model)) return {};
        return view["owners"][model].get<std::vector<std::string>>();
    }
    /// The node's prediction for `model`, or null.
    [[nodiscard]] json prediction(const std::string& model) const {
        const json body = get("/api/warmup/predictions");
        if (!body.is_object()) return nullptr;
        for (const auto& p : body["predictions"])
            if (p["model"] == model) return p;
        return nullptr;
    }
    /// Models ready or loading on this node.
    [[nodiscard]] std::vector<std::string> resident() const {
        std::vector<std::string> out;
        const json status = get("/api/warmup/status");
        if (!status.is_object()) return out;
        for (const auto* list : {"warm", "loading"})
            for (const auto& entry : status[list]) out.push_back(entry["model"].get<std::string>());
        return out;
    }
    [[nodiscard]] uint64_t counter(const std::string& name) const {
        const json view = cluster();
        return view.is_object() ? view["counters"].value(name, uint64_t{0}) : 0;
    }

    /// The value of the sample `name` (with its labels as rendered, if any) on GET /metrics; nullopt when the node does
    /// not answer or the page has no such sample. Also checks that the family has a HELP line.
    [[nodiscard]] std::optional<double> metric(const std::string& name) const {
        const auto result = client_->Get("/metrics");
        if (!result || result->status != 200) return std::nullopt;
        const std::string& page = result->body;
        if (page.find("# HELP " + name.substr(0, name.find('{')) + " ") == std::string::npos) return std::nullopt;
        const std::string prefix = "\n" + name + " ";
        const auto at = page.find(prefix);
        if (at == std::string::npos) return std::nullopt;
        return std::stod(page.substr(at + prefix.size(), page.find('\n', at + 1) - at - prefix.size()));
    }

    [[nodiscard]] const std::string& id() const noexcept { return id_; }
    [[nodiscard]] Daemon& process() { return *process_; }
    /// Empty without a state folder.
    [[nodiscard]] const std::filesystem::path& state_dir() const noexcept { return state_dir_; }

  private:
    std::string id_;
    std::filesystem::path state_dir_;
    std::filesystem::path config_;
    std::unique_ptr<Daemon> process_;
    int port_ = 0;
    std::unique_ptr<httplib::Client> client_;
};

/// True when every node in `nodes` sees exactly `alive` alive members and all agree on the owners of every model.
inline bool converged(const std::vector<const Node*>& nodes, const std::vector<std::string>& alive) {
    json first_owners;
    for (const Node* node : nodes) {
        const json view = node->cluster();
        if (!view.is_object()) return false;
        std::vector<std::string> seen;
        for (const auto& member : view["nodes"])
            if (member["alive"] == true) seen.push_back(member["id"].get<std::string>());  // null: not known now
        if (seen != alive) return false;
        if (first_owners.is_null())
            first_owners = view["owners"];
        else if (view["owners"] != first_owners)
            return false;
    }
    return true;
}

/// NDJSON: `count` uses of `model`, `gap_ms` apart, the last at `last_ms`.
inline std::string rhythm_ndjson(const std::string& model, int64_t last_ms, int count, int64_t gap_ms) {
    std::string body;
    for (int i = count - 1; i >= 0; --i) body += json{{"model", model}, {"ts_ms", last_ms - i * gap_ms}}.dump() + "\n";
    return body;
}

}  // namespace warmup::test
