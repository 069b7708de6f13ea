// End-to-end reconciliation: the real daemon (build/bin/warmupd) with the Ollama backend against FakeOllama, a stand-in
// of Ollama's documented API inside the test process, and reconcile.interval_ms short. Another client loads a model
// (the daemon adopts it into its budget) and Ollama drops a model the daemon loaded (the daemon marks it unloaded and
// its next request is cold); both are counted in warmup_reconcile_drift_total{kind} and logged RECONCILE_DRIFT. A
// backend built against ABI 1.0 cannot list: the daemon says so once (RECONCILE_OFF) and keeps serving. An eviction
// whose unload the server takes its time over: the load that needs the memory waits, so the server never holds more
// than the budget.
//
// Every wait is a bounded poll of the daemon's state; no assertion is about elapsed time.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "daemon_test_fixture.hpp"
#include "fake_ollama.hpp"
#include "test_support.hpp"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using warmup::test::Daemon;
using warmup::test::FakeOllama;
using warmup::test::poll_until;
using warmup::test::TempDir;

constexpr auto kPollInterval = 50ms;
constexpr auto kWait = 20s;  // bound of every poll (the machine may be busy compiling)
constexpr uint64_t kGiB = 1024ULL * 1024 * 1024;

/// `unload_timeout_ms` 0: budgets.unload_timeout_ms is left at its default.
std::string config_yaml(const std::string& backend, int64_t keep_ms = 600000, int budget_mb = 16384,
                        int64_t unload_timeout_ms = 0) {
    std::ostringstream yaml;
    yaml << "log_level: info\n"
         << "plugin_dirs: [\"" << WARMUP_TEST_PLUGIN_DIR << "\"]\n"
         << "budgets: {memory_mb: " << budget_mb << ", max_concurrent_warmups: 2"
         << (unload_timeout_ms > 0 ? ", unload_timeout_ms: " + std::to_string(unload_timeout_ms) : std::string())
         << "}\n"
         << "reconcile: {interval_ms: 100}\n"
         << "components:\n"
         << "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
         << "  predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: " << keep_ms << "}}\n"
         << "  performance: {plugin: org.warmup.performance.calibrated}\n"
         << "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
         << "  resource: {plugin: org.warmup.resource.lru}\n"
         << "  queue: {plugin: org.warmup.queue.priority}\n"
         << "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
         << "  backend: " << backend << "\n"
         << "catalog:\n"
         << "  - {model: \"*\", memory_mb: 4096, load_ms: 2000}\n";
    return yaml.str();
}

/// config_yaml on `ollama` without its keep-alive refresh (the listing alone sees what the server holds).
std::string ollama_config(const FakeOllama& ollama) {
    return config_yaml("{plugin: org.warmup.backend.ollama, params: {base_url: '" + ollama.url() +
                       "', keep_alive_refresh_ms: 0}}");
}

/// `yaml` (config_yaml's) with its one catalog entry, which covers every name, replaced by `entry`.
std::string with_catalog_entry(std::string yaml, const std::string& entry) {
    const std::string every_model = "  - {model: \"*\", memory_mb: 4096, load_ms: 2000}\n";
    const auto at = yaml.find(every_model);
    if (at == std::string::npos) throw std::logic_error("config_yaml's catalog entry moved");
    return yaml.replace(at, every_model.size(), "  - " + entry + "\n");
}

class WarmupdReconcile : public warmup::test::DaemonTest {
  protected:
    WarmupdReconcile() : DaemonTest("warmupd-reconcile") {}

    void start(const std::string& backend, int64_t keep_ms = 600000, int budget_mb = 16384,
               int64_t unload_timeout_ms = 0) {
        start_daemon(config_yaml(backend, keep_ms, budget_mb, unload_timeout_ms));
    }

    json status() {
        const auto result = client_->Get("/api/warmup/status");
        return result && result->status == 200 ? json::parse(result->body, nullptr, false) : json();
    }
    bool warm(const std::string& model) {
        const json body = status();
        if (!body.is_object()) return false;
        for (const auto& entry : body["warm"])
            if (entry["model"] == model) return true;
        return false;
    }
    /// The value of one sample line of /metrics, e.g. `warmup_reconcile_drift_total{kind="adopted"}`; -1 when absent.
    double metric(const std::string& series) {
        const auto result = client_->Get("/metrics");
        if (!result) return -1;
        std::istringstream lines(result->body);
        for (std::string line; std::getline(lines, line);)
            if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
        return -1;
    }
    void request(const std::string& model) {
        const auto result = client_->Post("/api/warmup/events", json{{"model", model}}.dump(), "application/json");
        ASSERT_TRUE(result) << httplib::to_string(result.error());
        ASSERT_EQ(result->status, 200) << result->body;
    }
    /// Starts the daemon on `ollama` (given llama3 and mistral, 4 GiB each) with a 6 GiB budget, one model at a time,
    /// and the host's unload deadline `unload_timeout_ms`; loads llama3, then holds the server's unloads and requests
    /// mistral: llama3 is evicted for it, and its unload is held by the server when this returns.
    void evict_llama3_with_its_unload_held(FakeOllama& ollama, int64_t unload_timeout_ms) {
        ollama.add_model("llama3:latest", {4 * kGiB, 4 * kGiB});
        ollama.add_model("mistral:latest", {4 * kGiB, 4 * kGiB});
        start(
            "{plugin: org.warmup.backend.ollama, params: {base_url: '" + ollama.url() + "', keep_alive_refresh_ms: 0}}",
            600000, 6144, unload_timeout_ms);
        ASSERT_NO_FATAL_FAILURE(request("llama3:latest"));
        ASSERT_TRUE(poll_until([&] { return warm("llama3:latest"); }, kWait, kPollInterval));
        ollama.hold_unloads();
        ASSERT_NO_FATAL_FAILURE(request("mistral:latest"));
        ASSERT_TRUE(poll_until([&] { return ollama.unloads_held() == 1; }, kWait, kPollInterval));
    }
    /// SIGTERM with llama3's unload still held by `ollama`: the daemon exits within `within` with status 1 and says
    /// SHUTDOWN_STALLED naming that unload, which had not returned (`why` says what a timeout means).
    void expect_stop_gives_up_on_held_llama3_unload(FakeOllama& ollama, std::chrono::seconds within,
                                                    const std::string& why) {
        ::kill(daemon_->pid(), SIGTERM);
        const auto exit = daemon_->wait_exit(within);
        ASSERT_TRUE(exit.has_value()) << why << "\n" << daemon_->log();
        EXPECT_TRUE(exit->exited && exit->code == 1) << daemon_->log();
        EXPECT_NE(daemon_->log().find("SHUTDOWN_STALLED the backend unload of llama3:latest has not returned"),
                  std::string::npos)
            << daemon_->log();
        EXPECT_EQ(ollama.unloads_held(), 1);  // it had not returned when the daemon exited
    }
};

TEST_F(WarmupdReconcile, AdoptsWhatAnotherClientLoadedAndForgetsWhatOllamaDropped) {
    FakeOllama ollama;
    ollama.add_model("llama3:8b", {5 * kGiB, 5 * kGiB});
    ollama.add_model("phi3:latest", {2 * kGiB, 2 * kGiB});
    start("{plugin: org.warmup.backend.ollama, params: {base_url: '" + ollama.url() + "', keep_alive_refresh_ms: 0}}");
    ASSERT_EQ(metric("warmup_reconcile_drift_total{kind=\"adopted\"}"), 0);

    // 1. Another client loads llama3:8b: the daemon adopts it, charged with the size Ollama reports (5 GiB).
    ollama.load_directly("llama3:8b");
    ASSERT_TRUE(poll_until([&] { return warm("llama3:8b"); }, kWait, kPollInterval));
    EXPECT_EQ(metric("warmup_reconcile_drift_total{kind=\"adopted\"}"), 1);
    EXPECT_DOUBLE_EQ(status()["used_mb"].get<double>(), 5120.0) << status().dump();
    for (const auto& entry : status()["warm"]) {  // not loaded by the daemon: its cause says so
        if (entry["model"] == "llama3:8b") {
            EXPECT_EQ(entry["cause"], "adopted") << entry.dump();
        }
    }
    EXPECT_TRUE(daemon_->wait_for_log("RECONCILE_DRIFT kind=adopted model=llama3:8b", kWait));
    // A request for it is warm: no load is sent.
    request("llama3:8b");
    ASSERT_TRUE(poll_until([&] { return status()["counters"]["warm_requests"] == 1; }, kWait, kPollInterval));

    // 2. The daemon loads phi3 on demand; then Ollama drops it behind the daemon's back (a client's keep_alive).
    request("phi3");
    ASSERT_TRUE(poll_until([&] { return warm("phi3"); }, kWait, kPollInterval));
    ASSERT_TRUE(ollama.is_loaded("phi3"));
    ollama.unload_directly("phi3");
    ASSERT_TRUE(poll_until([&] { return !warm("phi3"); }, kWait, kPollInterval));
    EXPECT_EQ(metric("warmup_reconcile_drift_total{kind=\"gone\"}"), 1);
    EXPECT_TRUE(daemon_->wait_for_log("RECONCILE_DRIFT kind=gone model=phi3", kWait));
    EXPECT_EQ(status()["counters"]["unloads"], 0);  // not the daemon's unload
    EXPECT_FALSE(ollama.received_unload_of("phi3"));

    // 3. Its next request is a cold start the daemon expects: a demand load brings it back.
    const uint64_t cold_before = status()["counters"]["cold_requests"].get<uint64_t>();
    request("phi3");
    ASSERT_TRUE(poll_until([&] { return warm("phi3") && ollama.is_loaded("phi3"); }, kWait, kPollInterval));
    EXPECT_EQ(status()["counters"]["cold_requests"].get<uint64_t>(), cold_before + 1);
    // Nothing drifted meanwhile: the books and the server agree.
    EXPECT_EQ(metric("warmup_reconcile_drift_total{kind=\"adopted\"}"), 1);
    EXPECT_EQ(metric("warmup_reconcile_drift_total{kind=\"gone\"}"), 1);
}

TEST_F(WarmupdReconcile, AnotherClientsModelNoCatalogEntryCoversIsSaidAndItsMemoryTakenOffTheBudget) {
    // Before, a model the catalog does not cover was left out of the listing without a word: the daemon went on
    // loading into memory the server had already given to it (16 GiB of a 16 GiB budget used twice over).
    FakeOllama ollama;
    ollama.add_model("llama3:8b", {5 * kGiB, 5 * kGiB});
    ollama.add_model("qwen:14b", {9 * kGiB, 9 * kGiB});
    start_daemon(with_catalog_entry(ollama_config(ollama), "{model: \"llama3:*\", memory_mb: 4096, load_ms: 2000}"));
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_DOUBLE_EQ(status()["budget_mb"].get<double>(), 16384.0);

    ollama.load_directly("qwen:14b");
    ASSERT_TRUE(
        poll_until([&] { return status()["budget_mb"].get<double>() == 16384.0 - 9216.0; }, kWait, kPollInterval))
        << status().dump();
    EXPECT_TRUE(
        daemon_->wait_for_log("RECONCILE_FOREIGN model='qwen:14b': the server holds it and no catalog entry "
                              "covers it",
                              kWait));
    EXPECT_EQ(metric("warmup_reconcile_drift_total{kind=\"foreign\"}"), 1);
    EXPECT_EQ(metric("warmup_foreign_memory_bytes"), 9.0 * kGiB);
    // What is left holds one llama3 (5 GiB measured) but is not handed out twice.
    request("llama3:8b");
    ASSERT_TRUE(poll_until([&] { return warm("llama3:8b"); }, kWait, kPollInterval));
    EXPECT_LE(status()["used_mb"].get<double>(), status()["budget_mb"].get<double>()) << status().dump();

    // The other client unloads it: the budget is whole again, and the model was counted once.
    ollama.unload_directly("qwen:14b");
    ASSERT_TRUE(poll_until([&] { return status()["budget_mb"].get<double>() == 16384.0; }, kWait, kPollInterval))
        << status().dump();
    EXPECT_TRUE(daemon_->wait_for_log("RECONCILE_FOREIGN_GONE model='qwen:14b': no longer on the server", kWait));
    EXPECT_EQ(metric("warmup_foreign_memory_bytes"), 0);
    EXPECT_EQ(metric("warmup_reconcile_drift_total{kind=\"foreign\"}"), 1);
}

TEST_F(WarmupdReconcile, AModelListedUnderOllamasDefaultTagIsTheCatalogsAndForeignModelsFillingTheBudgetAreSaid) {
    FakeOllama ollama;
    ollama.add_model("llama3:latest", {4 * kGiB, 4 * kGiB});
    ollama.add_model("giant:70b", {20 * kGiB, 20 * kGiB});
    start_daemon(with_catalog_entry(ollama_config(ollama), "{model: \"llama3\", memory_mb: 4096, load_ms: 2000}"));
    ASSERT_FALSE(HasFatalFailure());
    // Pulled without a tag, Ollama lists it as llama3:latest: the catalog's llama3, adopted, not another client's.
    ollama.load_directly("llama3:latest");
    ASSERT_TRUE(poll_until([&] { return warm("llama3"); }, kWait, kPollInterval)) << status().dump();
    EXPECT_EQ(metric("warmup_reconcile_drift_total{kind=\"foreign\"}"), 0);
    // Another client's model larger than the whole budget: nothing is left to this host, and it says so.
    ollama.load_directly("giant:70b");
    ASSERT_TRUE(poll_until([&] { return status()["budget_mb"].get<double>() == 0.0; }, kWait, kPollInterval))
        << status().dump();
    EXPECT_TRUE(
        daemon_->wait_for_log("RECONCILE_FOREIGN the models no catalog entry covers hold 20480 MiB, the whole "
                              "budget of 16384 MiB",
                              kWait));
    ASSERT_TRUE(poll_until([&] { return !warm("llama3"); }, kWait, kPollInterval)) << status().dump();
    // The resource plugin did nothing wrong with the budget of 0 MiB it was given: no line blames it.
    EXPECT_EQ(daemon_->log().find("RESOURCE_BUDGET_IGNORED"), std::string::npos) << daemon_->log();
}

// An unload the server refuses: the books let the memory go when the unload started, but the server still holds the
// model. A listing soon after charges it again (logged as a failed unload, not as another client's load), the backend
// is degraded in health, and once the server takes unloads again the model is unloaded for good.
TEST_F(WarmupdReconcile, AModelWhoseUnloadFailedIsChargedAgainAndUnloadedOnceTheServerAllowsIt) {
    FakeOllama ollama;
    ollama.add_model("phi3:latest", {2 * kGiB, 2 * kGiB});
    start("{plugin: org.warmup.backend.ollama, params: {base_url: '" + ollama.url() + "', keep_alive_refresh_ms: 0}}",
          2000);
    request("phi3:latest");
    ASSERT_TRUE(poll_until([&] { return warm("phi3:latest"); }, kWait, kPollInterval));
    ollama.fail_unloads_with("internal boom");
    // Its 2-second keep runs out: the unload is refused, the model stays on the server.
    ASSERT_TRUE(daemon_->wait_for_log("MODEL_UNLOAD_ERROR", kWait));
    EXPECT_TRUE(ollama.is_loaded("phi3:latest"));
    EXPECT_TRUE(daemon_->wait_for_log(
        "RECONCILE_DRIFT kind=adopted model=phi3:latest arm=control: still resident on the server, its unload failed",
        kWait));
    EXPECT_GE(metric("warmup_unloads_failed_total"), 1);
    const json health = json::parse(client_->Get("/api/warmup/health/components")->body, nullptr, false);
    bool backend_degraded = false;
    for (const json& component : health["components"])
        if (component["component"] == "backend")
            backend_degraded = component["state"] == "degraded" && component["reason"].get<std::string>().find(
                                                                       "unload of phi3:latest") != std::string::npos;
    EXPECT_TRUE(backend_degraded) << health.dump();

    // The server takes unloads again: the next one (its keep is long over) goes through, and the books agree.
    ollama.fail_unloads_with("");
    // (The server drops the model before its answer reaches the daemon: the memory is free once the unload is over.)
    ASSERT_TRUE(poll_until(
        [&] { return !ollama.is_loaded("phi3:latest") && !warm("phi3:latest") && status()["unloading_mb"] == 0; },
        kWait, kPollInterval))
        << status().dump();
    EXPECT_DOUBLE_EQ(status()["used_mb"].get<double>(), 0.0) << status().dump();
}

// An eviction to make room: Ollama takes its time to unload the evicted model (held here until released). The load
// that needs the memory waits for the unload, so the server never holds both; /api/warmup/status shows the memory
// being unloaded meanwhile, and the decisions say why the load waits.
TEST_F(WarmupdReconcile, ALoadWaitsForTheUnloadOfTheModelEvictedForIt) {
    FakeOllama ollama;
    ollama.add_model("llama3:latest", {4 * kGiB, 4 * kGiB});
    ollama.add_model("mistral:latest", {4 * kGiB, 4 * kGiB});
    // 6 GiB: one 4 GiB model at a time (the catalog charges 4096 MiB each).
    start("{plugin: org.warmup.backend.ollama, params: {base_url: '" + ollama.url() + "', keep_alive_refresh_ms: 0}}",
          600000, 6144);
    request("llama3:latest");
    ASSERT_TRUE(poll_until([&] { return warm("llama3:latest"); }, kWait, kPollInterval));

    ollama.hold_unloads();
    request("mistral:latest");
    // llama3 is evicted for mistral; its unload is under way on the server and still charged to the budget.
    ASSERT_TRUE(poll_until([&] { return ollama.unloads_held() == 1; }, kWait, kPollInterval));
    EXPECT_TRUE(daemon_->wait_for_log("MEMORY_WAIT_UNLOAD demand load of mistral:latest", kWait)) << daemon_->log();
    // The load does not start while the unload runs (a short grace: it would have been sent at once).
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(ollama.loads_received("mistral:latest"), 0);
    EXPECT_TRUE(ollama.is_loaded("llama3:latest"));
    json body = status();
    EXPECT_DOUBLE_EQ(body["unloading_mb"].get<double>(), 4096.0) << body.dump();
    EXPECT_DOUBLE_EQ(body["used_mb"].get<double>(), 4096.0) << body.dump();
    EXPECT_EQ(body["memory_waiters"], 1) << body.dump();
    EXPECT_EQ(body["unloading"].size(), 1u) << body.dump();
    if (body["unloading"].size() == 1) {
        EXPECT_EQ(body["unloading"][0]["model"], "llama3:latest");
        EXPECT_EQ(body["unloading"][0]["failed"], false);
    }
    EXPECT_EQ(metric("warmup_unloading_memory_bytes{arm=\"control\"}"), 4.0 * kGiB);
    const auto decisions = client_->Get("/api/warmup/decisions?model=mistral:latest");
    ASSERT_TRUE(decisions && decisions->status == 200);
    EXPECT_NE(decisions->body.find("demand load waits for memory being unloaded"), std::string::npos)
        << decisions->body;

    // Ollama finishes the unload: the memory is free, and mistral loads.
    ollama.release_held_unloads();
    ASSERT_TRUE(poll_until([&] { return warm("mistral:latest"); }, kWait, kPollInterval)) << status().dump();
    EXPECT_FALSE(ollama.is_loaded("llama3:latest"));
    body = status();
    EXPECT_DOUBLE_EQ(body["unloading_mb"].get<double>(), 0.0) << body.dump();
    EXPECT_DOUBLE_EQ(body["used_mb"].get<double>(), 4096.0) << body.dump();
    EXPECT_TRUE(body["unloading"].empty()) << body.dump();
    // The server never held both.
    EXPECT_LE(ollama.peak_vram_bytes(), 6144ULL * 1024 * 1024);
    EXPECT_EQ(ollama.peak_vram_bytes(), 4 * kGiB);
}

// An unload the server never answers (held here far beyond budgets.unload_timeout_ms; the backend's own
// unload_timeout_ms is 60 s): past the host's deadline the daemon says so (MODEL_UNLOAD_TIMEOUT, the status, /metrics,
// the workers' health), keeps the memory charged (the server still holds the model), and gives up the load that could
// only fit once that memory is free instead of leaving it waiting. When the unload returns at last, the memory is
// released once and the model loads on its next request.
TEST_F(WarmupdReconcile, AnUnloadPastItsDeadlineIsReportedStaysChargedAndNoLoadWaitsForIt) {
    FakeOllama ollama;
    // The host's unload deadline 1 s (the smallest it takes).
    ASSERT_NO_FATAL_FAILURE(evict_llama3_with_its_unload_held(ollama, 1000));
    ASSERT_TRUE(daemon_->wait_for_log("MODEL_UNLOAD_TIMEOUT unload of llama3:latest has not returned after", kWait))
        << daemon_->log();
    EXPECT_TRUE(
        daemon_->wait_for_log("LOAD_BLOCKED_BY_UNLOAD demand load of mistral:latest (4096 MiB) given up", kWait))
        << daemon_->log();

    // The memory stays charged, shown as timed out; mistral waits for nothing and was never sent to the server.
    json body = status();
    EXPECT_DOUBLE_EQ(body["used_mb"].get<double>(), 4096.0) << body.dump();
    EXPECT_DOUBLE_EQ(body["unloading_mb"].get<double>(), 4096.0) << body.dump();
    EXPECT_EQ(body["memory_waiters"], 0) << body.dump();
    EXPECT_EQ(body["queued_count"], 0) << body.dump();
    ASSERT_EQ(body["unloading"].size(), 1u) << body.dump();
    EXPECT_EQ(body["unloading"][0]["model"], "llama3:latest");
    EXPECT_EQ(body["unloading"][0]["timed_out"], true) << body.dump();
    EXPECT_EQ(body["unloading"][0]["failed"], false) << body.dump();
    EXPECT_EQ(body["counters"]["loads_given_up"], 1) << body.dump();
    EXPECT_EQ(ollama.loads_received("mistral:latest"), 0);
    EXPECT_TRUE(ollama.is_loaded("llama3:latest"));
    const auto decisions = client_->Get("/api/warmup/decisions?model=mistral:latest");
    ASSERT_TRUE(decisions && decisions->status == 200);
    EXPECT_NE(decisions->body.find("memory held by unloads past their deadline"), std::string::npos) << decisions->body;
    EXPECT_EQ(metric("warmup_unload_timeouts_total"), 1);
    EXPECT_EQ(metric("warmup_unloads_overdue"), 1);
    EXPECT_EQ(metric("warmup_component_degraded{component=\"workers\"}"), 1);
    const auto health = client_->Get("/api/warmup/health/components");
    ASSERT_TRUE(health && health->status == 200);
    for (const auto& component : json::parse(health->body)["components"])
        if (component["component"] == "workers") {
            EXPECT_EQ(component["degraded"], true) << component.dump();
            EXPECT_NE(component["reason"].get<std::string>().find("past budgets.unload_timeout_ms have not returned "
                                                                  "(llama3:latest for "),
                      std::string::npos)
                << component.dump();
        }

    // The server finishes the unload at last: the memory is released once (not below zero), nothing is overdue.
    ollama.release_held_unloads();
    ASSERT_TRUE(poll_until([&] { return status()["unloading"].empty(); }, kWait, kPollInterval)) << status().dump();
    EXPECT_TRUE(daemon_->wait_for_log("MODEL_UNLOAD_RETURNED unload of llama3:latest returned after", kWait))
        << daemon_->log();
    body = status();
    EXPECT_DOUBLE_EQ(body["used_mb"].get<double>(), 0.0) << body.dump();
    EXPECT_DOUBLE_EQ(body["unloading_mb"].get<double>(), 0.0) << body.dump();
    EXPECT_FALSE(ollama.is_loaded("llama3:latest"));
    ASSERT_TRUE(poll_until([&] { return metric("warmup_unloads_overdue") == 0; }, kWait, kPollInterval));
    EXPECT_EQ(metric("warmup_unload_timeouts_total"), 1);

    // mistral's next request loads it.
    request("mistral:latest");
    ASSERT_TRUE(poll_until([&] { return warm("mistral:latest"); }, kWait, kPollInterval)) << status().dump();
    EXPECT_DOUBLE_EQ(status()["used_mb"].get<double>(), 4096.0);
    EXPECT_LE(ollama.peak_vram_bytes(), 6144ULL * 1024 * 1024);
}

// A stop waits for running backend calls, but an unload cannot be cancelled: with one past budgets.unload_timeout_ms
// the daemon does not wait for ever (here: until FakeOllama's 10 s safety cap), it says so and exits with status 1.
TEST_F(WarmupdReconcile, AStopDoesNotWaitForAnUnloadPastItsDeadline) {
    FakeOllama ollama;
    ASSERT_NO_FATAL_FAILURE(evict_llama3_with_its_unload_held(ollama, 1000));
    ASSERT_TRUE(daemon_->wait_for_log("MODEL_UNLOAD_TIMEOUT unload of llama3:latest", kWait)) << daemon_->log();
    ASSERT_EQ(ollama.unloads_held(), 1);

    ASSERT_NO_FATAL_FAILURE(
        expect_stop_gives_up_on_held_llama3_unload(ollama, 5s, "warmupd waited for the unload past its deadline"));
}

// The unload deadline is watched on every worker pool when the daemon stops: restart-workers retires the pool whose
// worker runs a held unload (within its deadline still), and the stop that follows neither waits for ever on it (here:
// until FakeOllama's 10 s safety cap) nor misses it because the control loop that used to watch it has ended.
TEST_F(WarmupdReconcile, AStopWatchesTheDeadlineOfAnUnloadOnRetiredWorkers) {
    FakeOllama ollama;
    // A deadline long enough to restart the workers and stop within it.
    ASSERT_NO_FATAL_FAILURE(evict_llama3_with_its_unload_held(ollama, 3000));
    const auto restarted = client_->Post("/api/warmup/queue/restart-workers", "", "application/json");
    ASSERT_TRUE(restarted && restarted->status == 200) << (restarted ? restarted->body : "no answer");

    ASSERT_NO_FATAL_FAILURE(
        expect_stop_gives_up_on_held_llama3_unload(ollama, 8s, "warmupd waited for the unload on the retired workers"));
}

// The deadline of an unload runs from its backend call: an unload waiting for a worker (both taken by loads the server
// holds) is not overdue, however long it waits; once a worker calls the backend and the call is held past the deadline,
// it is.
TEST_F(WarmupdReconcile, AnUnloadWaitingForAWorkerIsNotOverdue) {
    FakeOllama ollama;
    for (const char* name : {"llama3:latest", "mistral:latest", "phi3:latest"})
        ollama.add_model(name, {4 * kGiB, 4 * kGiB});
    // Models are kept 3 s after their last request; two workers (max_concurrent_warmups 2); the host's unload deadline
    // 1 s.
    start("{plugin: org.warmup.backend.ollama, params: {base_url: '" + ollama.url() + "', keep_alive_refresh_ms: 0}}",
          3000, 16384, 1000);
    request("llama3:latest");
    ASSERT_TRUE(poll_until([&] { return warm("llama3:latest"); }, kWait, kPollInterval));

    // Both workers are taken by loads the server holds when llama3's keep-alive ends: its unload waits for a worker.
    ollama.hold_loads();
    ollama.hold_unloads();
    request("mistral:latest");
    request("phi3:latest");
    ASSERT_TRUE(poll_until([&] { return ollama.loads_held() == 2; }, kWait, kPollInterval));
    ASSERT_TRUE(poll_until([&] { return status()["unloading"].size() == 1; }, kWait, kPollInterval)) << status().dump();
    // Well past the deadline, counted from the unload's start: still not asked of the server, so not overdue.
    std::this_thread::sleep_for(2500ms);
    ASSERT_EQ(ollama.loads_held(), 2);
    EXPECT_FALSE(ollama.received_unload_of("llama3:latest"));
    json body = status();
    ASSERT_EQ(body["unloading"].size(), 1u) << body.dump();
    EXPECT_EQ(body["unloading"][0]["model"], "llama3:latest");
    EXPECT_EQ(body["unloading"][0]["timed_out"], false) << body.dump();
    EXPECT_EQ(metric("warmup_unload_timeouts_total"), 0);
    EXPECT_EQ(metric("warmup_unloads_overdue"), 0);
    EXPECT_EQ(daemon_->log().find("MODEL_UNLOAD_TIMEOUT"), std::string::npos) << daemon_->log();

    // The loads return; a worker calls the backend, which holds the unload past the deadline: now it is overdue.
    ollama.release_held_loads();
    ASSERT_TRUE(poll_until([&] { return ollama.received_unload_of("llama3:latest"); }, kWait, kPollInterval));
    ASSERT_TRUE(daemon_->wait_for_log("MODEL_UNLOAD_TIMEOUT unload of llama3:latest has not returned after", kWait))
        << daemon_->log();
    EXPECT_GE(metric("warmup_unload_timeouts_total"), 1);
    body = status();
    bool reported = false;
    for (const auto& unload : body["unloading"])
        if (unload["model"] == "llama3:latest") reported = unload["timed_out"] == true;
    EXPECT_TRUE(reported) << body.dump();
    ollama.release_held_unloads();
    ASSERT_TRUE(poll_until([&] { return status()["unloading"].empty(); }, kWait, kPollInterval)) << status().dump();
}

// A model the server does not have (Ollama: 404, "try pulling it first"): no retry can fix that, so the daemon gives
// up after the first attempt instead of sending the same load again (each a demand load in the counters).
TEST_F(WarmupdReconcile, ALoadTheServerCannotEverServeIsNotRetried) {
    FakeOllama ollama;
    start("{plugin: org.warmup.backend.ollama, params: {base_url: '" + ollama.url() + "', keep_alive_refresh_ms: 0}}");
    request("missing:1");
    ASSERT_TRUE(daemon_->wait_for_log("MODEL_LOAD_ERROR load of missing:1 failed (attempt 1), giving up", kWait))
        << daemon_->log();
    // "giving up" at the first attempt: no retry was planned (before, the scheduler planned three more loads).
    EXPECT_EQ(status()["counters"]["demand_loads"], 1) << status().dump();
    const auto decisions = client_->Get("/api/warmup/decisions?model=missing:1");
    ASSERT_TRUE(decisions && decisions->status == 200);
    EXPECT_NE(decisions->body.find("the load failed with an error no retry can fix"), std::string::npos)
        << decisions->body;
}

TEST_F(WarmupdReconcile, AServerThatCannotBeReachedChangesNothingAndIsCounted) {
    int closed_port = 0;
    {
        FakeOllama gone;
        closed_port = gone.port();
    }
    start("{plugin: org.warmup.backend.ollama, params: {base_url: 'http://127.0.0.1:" + std::to_string(closed_port) +
          "', keep_alive_refresh_ms: 0}}");
    ASSERT_TRUE(poll_until([&] { return metric("warmup_reconcile_failures_total") >= 2; }, kWait, kPollInterval));
    EXPECT_TRUE(daemon_->wait_for_log("RECONCILE_ERROR backend org.warmup.backend.ollama@", kWait));
    EXPECT_EQ(metric("warmup_reconcile_drift_total{kind=\"gone\"}"), 0);
}

TEST_F(WarmupdReconcile, ABackendBuiltAgainstAbi10StillServesAndReconciliationIsOff) {
    start("{path: \"" + std::string(WARMUP_TEST_BAD_PLUGIN_DIR) + "/c_backend_abi_1_0.so\"}");
    EXPECT_TRUE(daemon_->wait_for_log("RECONCILE_OFF backend org.warmup.test.backend-abi-1-0@1.0.0", kWait));
    request("m");
    ASSERT_TRUE(poll_until([&] { return warm("m"); }, kWait, kPollInterval));
    const auto plugins = client_->Get("/api/warmup/plugins");
    ASSERT_TRUE(plugins);
    EXPECT_NE(plugins->body.find("\"1.0\""), std::string::npos) << plugins->body;  // its ABI, as loaded
    EXPECT_EQ(metric("warmup_reconcile_failures_total"), 0);
}

}  // namespace
