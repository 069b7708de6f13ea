// live_runtime_test_fixture.hpp — the in-process daemon the runtime tests drive: a LiveRuntime with its HTTP API on a
// free loopback port (OpsTest), and the YAML it starts from (config_text).
//
// Header-only, included by each test file of tests/host/runtime. Every wait is a bounded poll; nothing asserts on
// elapsed time. Threads: the test thread drives everything; the runtime's own threads are stopped in TearDown.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "config/config.hpp"
#include "http/http_api.hpp"
#include "runtime/live_runtime.hpp"
#include "test_support.hpp"

namespace warmup::test {

/// budgets: 10000 MiB, `workers` warm-up workers; m/* (100 MiB) load in 5 ms x time_scale, slow/* in 60 s x
/// time_scale.
inline constexpr const char* kLearningPredictor =
    "{plugin: org.warmup.predictor.idle-histogram, params: {min_samples: 5}}";

inline std::string config_text(double time_scale, int workers, const std::string& extra = "",
                               const std::string& predictor = kLearningPredictor) {
    return std::string("plugin_dirs: [\"") + WARMUP_TEST_PLUGIN_DIR + "\"]\n" +
           "budgets: {memory_mb: 10000, max_concurrent_warmups: " + std::to_string(workers) +
           "}\n"
           "components:\n"
           "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
           "  predictor: " +
           predictor +
           "\n"
           "  performance: {plugin: org.warmup.performance.calibrated}\n"
           "  scheduler: {plugin: org.warmup.scheduler.lead-time, params: {max_attempts: 1}}\n"
           "  resource: {plugin: org.warmup.resource.lru}\n"
           "  queue: {plugin: org.warmup.queue.priority}\n"
           "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
           "  backend: {plugin: org.warmup.backend.sim, params: {time_scale: " +
           std::to_string(time_scale) +
           "}}\n"
           "catalog:\n"
           "  - {model: \"m/*\", memory_mb: 100, load_ms: 5}\n"
           "  - {model: \"slow/*\", memory_mb: 100, load_ms: 60000}\n" +
           extra;
}

/// A started runtime with its HTTP API on a free loopback port.
class OpsTest : public ::testing::Test {
  protected:
    using json = nlohmann::json;

    void start(host::Config config) {
        runtime_ = std::make_unique<host::LiveRuntime>(std::move(config));
        runtime_->start();
        runtime_->start_state_keeping();
        api_ = std::make_unique<host::HttpApi>(*runtime_);
        port_ = api_->bind("127.0.0.1", 0);
        api_->start();
        client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
        client_->set_read_timeout(10);
    }
    /// Stops the HTTP API and the runtime (its last snapshot is taken), as a clean daemon shutdown does.
    void stop() {
        client_.reset();
        if (api_) api_->stop();
        api_.reset();
        if (runtime_) runtime_->stop();
        runtime_.reset();
    }
    void TearDown() override { stop(); }
    /// The HTTP API's port (for clients of the test's own, e.g. one per thread).
    [[nodiscard]] int port() const noexcept { return port_; }

    std::pair<int, json> post(const std::string& path, const std::string& body = "") {
        const auto result = client_->Post(path, body, "application/json");
        if (!result) return {0, nullptr};
        return {result->status, json::parse(result->body, nullptr, false)};
    }
    std::pair<int, json> get_json(const std::string& path) {
        const auto result = client_->Get(path);
        if (!result) return {0, nullptr};
        return {result->status, json::parse(result->body, nullptr, false)};
    }
    /// The body of GET `path` ("" when the request failed).
    std::string get_text(const std::string& path) {
        const auto result = client_->Get(path);
        return result ? result->body : std::string();
    }

    warmup_model_index model(const std::string& name) { return *runtime_->catalog().resolve(name); }

    void ingest(const std::string& name, warmup_time_ms ts_ms, uint32_t tenant_hash = 0) {
        warmup_usage_event event{};
        event.model = model(name);
        event.ts_ms = ts_ms;
        event.count = 1;
        event.tenant_hash = tenant_hash;
        ASSERT_TRUE(runtime_->try_ingest(event));
    }

    /// Returns once every event ingested before the call has been handed to the engines (see ingest_backlog()).
    void drain() {
        using namespace std::chrono_literals;
        ASSERT_TRUE(warmup::test::poll_until([&] { return runtime_->ingest_backlog() == 0; }, 5s));
        runtime_->call_on_control([](host::WarmupEngine&) { return 0; });
    }

    warmup_residency residency(const std::string& name) {
        const auto index = model(name);
        return runtime_->call_on_control(
            [&](host::WarmupEngine& engine) { return engine.model_status(index).residency; });
    }
    host::ModelStatus status_of(const std::string& name) {
        const auto index = model(name);
        return runtime_->call_on_control([&](host::WarmupEngine& engine) { return engine.model_status(index); });
    }
    host::EngineCounters counters() {
        return runtime_->call_on_control([](host::WarmupEngine& engine) { return engine.counters(); });
    }

    /// The control arm's prediction for `name` at `at_ms` (default: now); nullopt when a plugin call failed.
    std::optional<warmup_prediction> prediction(const std::string& name, warmup_time_ms at_ms = WARMUP_TIME_NEVER) {
        const auto index = model(name);
        const warmup_time_ms now_ms = at_ms == WARMUP_TIME_NEVER ? runtime_->clock().now_ms() : at_ms;
        return runtime_->call_on_control([&](host::WarmupEngine& engine) -> std::optional<warmup_prediction> {
            warmup_prediction out{};
            if (engine.predict_now(index, now_ms, out)) return std::nullopt;  // it says why it failed
            return out;
        });
    }
    double confidence(const std::string& name) {
        const auto found = prediction(name);
        return found ? found->confidence : -1.0;
    }

    /// The requests of `name` the analyzer of arm `arm` (0: the control arm) has learned; UINT64_MAX when it fails.
    uint64_t requests_learned(std::size_t arm, const std::string& name) {
        return runtime_->call_on_control([&](host::WarmupEngine&) -> uint64_t {
            const auto& analyzer = runtime_->arms()[arm]->plugins->at(host::ComponentSlot::Analyzer);
            warmup_usage_pattern pattern{};
            pattern.struct_size = sizeof pattern;
            host::ErrorPtr error{analyzer->vtable<warmup_analyzer_vtable>()->get_pattern(
                analyzer->self(), *runtime_->catalog().find(name), &pattern)};
            return error ? UINT64_MAX : pattern.request_count;
        });
    }

    /// 20 requests of `name` 1 s apart ending now: 19 idle gaps in one bin. Returns once the control thread has taken
    /// all 20 (ingest is batched: a prediction polled earlier may come from part of them).
    void learn_rhythm(const std::string& name) {
        const warmup_time_ms now_ms = runtime_->clock().now_ms();
        for (int i = 0; i < 20; ++i) ingest(name, now_ms - (19 - i) * 1000);
        drain();
    }

    std::unique_ptr<host::LiveRuntime> runtime_;
    std::unique_ptr<host::HttpApi> api_;
    std::unique_ptr<httplib::Client> client_;
    int port_ = 0;
};

/// A keep-alive predictor slot whose keep_until is the last use + `ttl_ms`.
inline std::string keep_alive_predictor(warmup_time_ms ttl_ms) {
    return "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: " + std::to_string(ttl_ms) + "}}";
}

/// The value of the Prometheus sample line "<series> <value>", or nullopt.
inline std::optional<double> metric_value(const std::string& text, const std::string& series) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    return std::nullopt;
}

/// The component `name` of a /api/warmup/health/components answer (null when absent).
inline nlohmann::json health_component(const nlohmann::json& health, const std::string& name) {
    for (const auto& entry : health["components"])
        if (entry["component"] == name) return entry;
    return nullptr;
}

/// Transitions that change what is in force without any event (a reload, a rollback, reset-to-safe, a restart, a
/// restore): an OpsTest whose configuration and state folder live in one temporary folder, kept across stop() and
/// start() so a restart finds the state the first run left.
class TransitionsTest : public OpsTest {
  protected:
    host::Config config(const std::string& predictor, const std::string& extra = "") {
        return host::load_config_text(config_text(0, 2, extra, predictor), "transitions.yaml", dir_.path(), {});
    }
    /// A request of `name` now; returns its timestamp once the model is ready.
    warmup_time_ms use_and_wait_ready(const std::string& name) {
        using namespace std::chrono_literals;
        const warmup_time_ms ts_ms = runtime_->clock().now_ms();
        ingest(name, ts_ms);
        EXPECT_TRUE(warmup::test::poll_until([&] { return residency(name) == WARMUP_RESIDENCY_READY; }, 5s)) << name;
        return ts_ms;
    }
    TempDir dir_{"warmup-transitions"};
};

}  // namespace warmup::test
