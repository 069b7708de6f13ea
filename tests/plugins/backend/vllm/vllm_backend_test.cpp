// The vLLM backend (compiled in) against FakeVllm: sleep mode (wake, sleep, is_sleeping) and LoRA mode (load, unload,
// /v1/models), the listing used by reconciliation, and the failure modes: server down, 404 on wake (dev endpoints
// off), adapters the server cannot find, a half-loaded adapter, a cancelled wake, a refused API key, bad params.
#include "vllm_backend.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "backend_test_support.hpp"
#include "fake_vllm.hpp"
#include "plugin_test_host.hpp"
#include "test_support.hpp"

namespace warmup::plugins {
namespace {

using test::FakeVllm;
using test::kNeverCancel;
using test::sdk_error_of;

std::unique_ptr<VllmBackend> make_backend(test::PluginTestHost& host, const std::string& yaml) {
    sdk::Params params(yaml);
    auto backend = std::make_unique<VllmBackend>(host.host(), params);
    params.finish();  // as the SDK does after construction: unknown keys are refused
    return backend;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A loopback URL nothing listens on (a fake started and stopped).
std::string closed_url() {
    int port = 0;
    {
        FakeVllm gone(true, true);
        port = gone.port();
    }
    return "http://127.0.0.1:" + std::to_string(port);
}

class VllmSleepMode : public ::testing::Test {
  protected:
    std::string params(const std::string& extra = "") const {
        return "mode: sleep\nservers: {'llama-8b': '" + fake.url() + "'}\nwake_poll_ms: 10\n" + extra;
    }
    warmup_model_info model(const std::string& name) { return host.info(host.model(name)); }

    test::PluginTestHost host;
    FakeVllm fake{/*dev_mode=*/true, /*runtime_lora=*/false};
};

TEST_F(VllmSleepMode, LoadWakesTheServerAndUnloadPutsItToSleepAtTheConfiguredLevel) {
    auto backend = make_backend(host, params());
    ASSERT_TRUE(fake.sleeping());
    EXPECT_DOUBLE_EQ(backend->load(model("llama-8b"), kNeverCancel), 0.0);  // memory from the catalog
    EXPECT_TRUE(fake.serves_with_its_weights());
    EXPECT_EQ(fake.count("POST", "/wake_up"), 1u);
    EXPECT_EQ(fake.count("GET", "/is_sleeping"), 1u);
    backend->unload(model("llama-8b"));
    EXPECT_TRUE(fake.sleeping());
    EXPECT_EQ(fake.count("POST", "/sleep?level=1"), 1u);
    EXPECT_EQ(fake.last_sleep_level(), 1);
}

TEST_F(VllmSleepMode, AfterALevelTwoSleepTheWakeUpReloadsTheWeightsBeforeTheKvCache) {
    // Level 2 discards the weights: a plain /wake_up would report the server awake while it serves without them.
    auto backend = make_backend(host, params("sleep_level: 2"));
    (void)backend->load(model("llama-8b"), kNeverCancel);
    backend->unload(model("llama-8b"));
    EXPECT_EQ(fake.count("POST", "/sleep?level=2"), 1u);
    ASSERT_FALSE(fake.serves_with_its_weights());
    (void)backend->load(model("llama-8b"), kNeverCancel);
    EXPECT_TRUE(fake.serves_with_its_weights());
    std::vector<std::string> wake_steps;
    for (const auto& request : fake.requests())
        if (request.method == "POST" && request.target != "/sleep?level=2") wake_steps.push_back(request.target);
    const std::vector<std::string> one_wake = {"/wake_up?tags=weights", "/collective_rpc", "/wake_up?tags=kv_cache"};
    ASSERT_EQ(wake_steps.size(), 6u);
    EXPECT_EQ(std::vector<std::string>(wake_steps.begin() + 3, wake_steps.end()), one_wake);
}

TEST_F(VllmSleepMode, RateLimitedIsUnavailableSoTheHostRetriesAndOtherClientErrorsAreInvalidArgument) {
    auto backend = make_backend(host, params());
    fake.answer_every_request_with(429);  // a gateway in front of the server during a burst
    const sdk::Error limited = sdk_error_of([&] { (void)backend->load(model("llama-8b"), kNeverCancel); });
    EXPECT_EQ(limited.code(), WARMUP_ERROR_UNAVAILABLE) << limited.what();
    EXPECT_TRUE(contains(limited.what(), "answered HTTP 429")) << limited.what();
    fake.answer_every_request_with(422);
    EXPECT_EQ(sdk_error_of([&] { (void)backend->load(model("llama-8b"), kNeverCancel); }).code(),
              WARMUP_ERROR_INVALID_ARGUMENT);
}

TEST_F(VllmSleepMode, LoadWaitsUntilTheServerSaysItIsAwake) {
    fake.set_wake_lag(3);  // /wake_up answers at once, the engine reports asleep three more times
    auto backend = make_backend(host, params());
    (void)backend->load(model("llama-8b"), kNeverCancel);
    EXPECT_EQ(fake.count("GET", "/is_sleeping"), 4u);
}

TEST_F(VllmSleepMode, MemoryComesFromTheServersMetricWhenConfigured) {
    fake.set_metrics_text(
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 3.221225472e+09\n");
    auto backend = make_backend(host, params("memory_metric: process_resident_memory_bytes"));
    EXPECT_DOUBLE_EQ(backend->load(model("llama-8b"), kNeverCancel), 3072.0);
}

TEST_F(VllmSleepMode, ListingReportsTheModelsOfAwakeServersOnly) {
    auto backend = make_backend(host, params());
    EXPECT_TRUE(backend->list_resident().empty());
    fake.set_sleeping(false);  // woken by someone else
    const auto resident = backend->list_resident();
    ASSERT_EQ(resident.size(), 1u);
    EXPECT_EQ(resident[0].name, "llama-8b");  // the exact servers key, though the catalog has not met it yet
}

TEST(VllmSleepModeFailures, WakeAnswering404MeansTheDevEndpointsAreOff) {
    FakeVllm fake(/*dev_mode=*/false, /*runtime_lora=*/false);
    test::PluginTestHost host;
    auto backend = make_backend(host, "mode: sleep\nservers: {'*': '" + fake.url() + "'}");
    const sdk::Error error = sdk_error_of([&] { (void)backend->load(host.info(host.model("m")), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNSUPPORTED);
    EXPECT_TRUE(contains(error.what(), "POST /wake_up answered HTTP 404: Not Found")) << error.what();
    EXPECT_TRUE(contains(error.what(), "--enable-sleep-mode")) << error.what();
    EXPECT_TRUE(contains(error.what(), "VLLM_SERVER_DEV_MODE=1")) << error.what();
    EXPECT_EQ(sdk_error_of([&] { (void)backend->list_resident(); }).code(), WARMUP_ERROR_UNSUPPORTED);
}

TEST(VllmSleepModeFailures, ServerDownIsUnavailableForLoadUnloadAndListing) {
    test::PluginTestHost host;
    const std::string url = closed_url();
    auto backend = make_backend(host, "mode: sleep\nservers: {'*': '" + url + "'}");
    const warmup_model_info model = host.info(host.model("m"));
    const sdk::Error load_error = sdk_error_of([&] { (void)backend->load(model, kNeverCancel); });
    EXPECT_EQ(load_error.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_TRUE(contains(load_error.what(), "vLLM " + url + ": wake-up of model 'm'")) << load_error.what();
    EXPECT_TRUE(contains(load_error.what(), "cannot reach the server")) << load_error.what();
    EXPECT_EQ(sdk_error_of([&] { backend->unload(model); }).code(), WARMUP_ERROR_UNAVAILABLE);
    // Reconciliation must not read "server down" as "nothing loaded".
    EXPECT_EQ(sdk_error_of([&] { (void)backend->list_resident(); }).code(), WARMUP_ERROR_UNAVAILABLE);
}

TEST(VllmSleepModeFailures, AServerThatCannotBeAskedIsReportedAsLastSeenAndTheOthersAreStillListed) {
    test::PluginTestHost host;
    FakeVllm healthy(/*dev_mode=*/true, /*runtime_lora=*/false);
    auto failing = std::make_unique<FakeVllm>(/*dev_mode=*/true, /*runtime_lora=*/false);
    const std::string failing_url = failing->url();
    auto backend = make_backend(host, "mode: sleep\nwake_poll_ms: 10\nservers: {'llama-8b': '" + healthy.url() +
                                          "', 'qwen-7b': '" + failing_url + "'}");
    (void)backend->load(host.info(host.model("llama-8b")), kNeverCancel);
    (void)backend->load(host.info(host.model("qwen-7b")), kNeverCancel);
    failing.reset();  // qwen-7b's server goes down, awake when last seen

    const auto names = [&] {
        std::set<std::string> listed;
        for (const auto& model : backend->list_resident()) listed.insert(model.name);
        return listed;
    };
    EXPECT_EQ(names(), (std::set<std::string>{"llama-8b", "qwen-7b"}));
    // Drift on the healthy server is still seen: put to sleep behind the backend's back.
    healthy.set_sleeping(true);
    EXPECT_EQ(names(), std::set<std::string>{"qwen-7b"});
}

TEST(VllmSleepModeFailures, AProxysHtml404IsAServerThatCannotBeAskedNotAMissingEndpoint) {
    // One server's proxy answers 404 with an HTML page while the server restarts: that server's models are reported
    // as last seen, the other server is still listed, and listing is not given up (UNSUPPORTED would stop it for
    // good). Once the proxy has its upstream again, the server is listed as it is.
    test::PluginTestHost host;
    FakeVllm healthy(/*dev_mode=*/true, /*runtime_lora=*/false);
    FakeVllm restarting(/*dev_mode=*/true, /*runtime_lora=*/false);
    auto backend = make_backend(host, "mode: sleep\nwake_poll_ms: 10\nservers: {'llama-8b': '" + healthy.url() +
                                          "', 'qwen-7b': '" + restarting.url() + "'}");
    (void)backend->load(host.info(host.model("qwen-7b")), kNeverCancel);
    restarting.answer_as_a_proxy_without_upstream(true);
    healthy.set_sleeping(false);  // woken behind the backend's back
    const auto names = [&] {
        std::set<std::string> listed;
        for (const auto& model : backend->list_resident()) listed.insert(model.name);
        return listed;
    };
    EXPECT_EQ(names(), (std::set<std::string>{"llama-8b", "qwen-7b"}));

    // Alone, the proxy's 404 is UNAVAILABLE (asked again next time), for a listing and for a load.
    auto alone = make_backend(host, "mode: sleep\nservers: {'qwen-7b': '" + restarting.url() + "'}");
    const sdk::Error listing = sdk_error_of([&] { (void)alone->list_resident(); });
    EXPECT_EQ(listing.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_TRUE(contains(listing.what(), "not vLLM's answer")) << listing.what();
    EXPECT_EQ(sdk_error_of([&] { (void)alone->load(host.info(host.model("qwen-7b")), kNeverCancel); }).code(),
              WARMUP_ERROR_UNAVAILABLE);

    restarting.answer_as_a_proxy_without_upstream(false);
    restarting.set_sleeping(true);
    EXPECT_EQ(names(), std::set<std::string>{"llama-8b"});
}

TEST(VllmSleepModeFailures, OneServerWithoutTheSleepEndpointsDoesNotStopTheOthersListing) {
    test::PluginTestHost host;
    FakeVllm with(/*dev_mode=*/true, /*runtime_lora=*/false);
    FakeVllm without(/*dev_mode=*/false, /*runtime_lora=*/false);
    auto backend = make_backend(
        host, "mode: sleep\nservers: {'llama-8b': '" + with.url() + "', 'qwen-7b': '" + without.url() + "'}");
    with.set_sleeping(false);
    const auto resident = backend->list_resident();
    ASSERT_EQ(resident.size(), 1u);
    EXPECT_EQ(resident[0].name, "llama-8b");
}

TEST(VllmSleepModeFailures, ListingFailsWhenNoServerCanBeAsked) {
    test::PluginTestHost host;
    const std::string url = closed_url();
    auto backend =
        make_backend(host, "mode: sleep\nservers: {'llama-8b': '" + url + "', 'qwen-7b': '" + closed_url() + "'}");
    const sdk::Error error = sdk_error_of([&] { (void)backend->list_resident(); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_TRUE(contains(error.what(), "vLLM " + url + ": sleep state")) << error.what();
}

TEST_F(VllmSleepMode, CancelInterruptsAWakeTheServerHolds) {
    fake.hold_loads();
    auto backend = make_backend(host, params());
    std::atomic<bool> cancelled{false};
    const warmup_cancel_token cancel{&cancelled,
                                     [](void* flag) { return static_cast<std::atomic<bool>*>(flag)->load() ? 1 : 0; }};
    std::thread canceller([&] {
        test::poll_until([&] { return fake.held_now() > 0; }, std::chrono::seconds(10));
        cancelled.store(true);
    });
    const sdk::Error error = sdk_error_of([&] { (void)backend->load(model("llama-8b"), cancel); });
    canceller.join();
    EXPECT_EQ(error.code(), WARMUP_ERROR_CANCELLED) << error.what();
}

TEST_F(VllmSleepMode, AModelNoServerEntryMatchesIsNotFound) {
    auto backend = make_backend(host, params());
    const sdk::Error error = sdk_error_of([&] { (void)backend->load(model("mistral-7b"), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_NOT_FOUND);
    EXPECT_TRUE(contains(error.what(), "no params.servers entry matches model 'mistral-7b'")) << error.what();
    EXPECT_TRUE(fake.requests().empty());
}

TEST_F(VllmSleepMode, ApiKeyIsSentAsBearerToken) {
    fake.set_api_key("sk-test");
    auto without = make_backend(host, params());
    EXPECT_EQ(sdk_error_of([&] { (void)without->load(model("llama-8b"), kNeverCancel); }).code(),
              WARMUP_ERROR_INVALID_ARGUMENT);  // 401
    auto with = make_backend(host, params("bearer_token: sk-test"));
    (void)with->load(model("llama-8b"), kNeverCancel);
    EXPECT_FALSE(fake.sleeping());
}

class VllmLoraMode : public ::testing::Test {
  protected:
    std::string params(const std::string& extra = "") const {
        return "mode: lora\nservers: {'sql-*': '" + fake.url() + "'}\nlora_paths: {'*': '/adapters/${name}/v1'}\n" +
               extra;
    }
    warmup_model_info model(const std::string& name) { return host.info(host.model(name)); }

    test::PluginTestHost host;
    FakeVllm fake{/*dev_mode=*/false, /*runtime_lora=*/true};
};

TEST_F(VllmLoraMode, LoadSendsNameAndPathThenChecksTheListingAndUnloadRemovesIt) {
    fake.add_adapter_path("/adapters/sql-orders/v1");
    auto backend = make_backend(host, params());
    EXPECT_EQ(backend->lora_path_for("sql-orders"), "/adapters/sql-orders/v1");
    (void)backend->load(model("sql-orders"), kNeverCancel);
    EXPECT_EQ(fake.adapters(), (std::set<std::string>{"sql-orders"}));
    const auto requests = fake.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].target, "/v1/load_lora_adapter");
    EXPECT_EQ(nlohmann::json::parse(requests[0].body),
              (nlohmann::json{{"lora_name", "sql-orders"}, {"lora_path", "/adapters/sql-orders/v1"}}));
    EXPECT_EQ(requests[1].target, "/v1/models");  // verified, not taken on trust
    backend->unload(model("sql-orders"));
    EXPECT_TRUE(fake.adapters().empty());
}

TEST_F(VllmLoraMode, ANameThatWouldLeaveTheAdapterFolderIsRefusedWithoutARequest) {
    // A catalog glob admits any name an event brings: "${name}" must not turn it into a path outside /adapters.
    auto backend = make_backend(host, params());
    const sdk::Error error = sdk_error_of([&] { (void)backend->load(model("sql-x/../../../etc"), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(contains(error.what(), "'..' path component")) << error.what();
    EXPECT_TRUE(fake.requests().empty());
    EXPECT_EQ(backend->lora_path_for("sql-a..b/c"), "/adapters/sql-a..b/c/v1") << "'..' inside a component is a name";
}

TEST_F(VllmLoraMode, AnAdapterTheServerAlreadyHoldsCountsAsLoaded) {
    fake.load_adapter_directly("sql-orders", "/elsewhere");
    auto backend = make_backend(host, params());
    (void)backend->load(model("sql-orders"), kNeverCancel);  // 400 "has already been loaded": the goal holds
    EXPECT_EQ(fake.adapters(), (std::set<std::string>{"sql-orders"}));
}

TEST_F(VllmLoraMode, AHalfLoadedAdapterFailsTheLoadAndIsUnloadedAgain) {
    fake.add_adapter_path("/adapters/sql-orders/v1");
    fake.set_half_loads("sql-orders");  // answers 200, never listed
    auto backend = make_backend(host, params());
    const sdk::Error error = sdk_error_of([&] { (void)backend->load(model("sql-orders"), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_TRUE(contains(error.what(), "answered HTTP 200 but GET /v1/models does not list it")) << error.what();
    EXPECT_EQ(fake.count("POST", "/v1/unload_lora_adapter"), 1u);
    // The cleanup's 404 "cannot be found" says the server holds nothing of it.
    EXPECT_TRUE(contains(error.what(), "the server holds nothing of it")) << error.what();
}

TEST_F(VllmLoraMode, AnAdapterPathTheServerCannotFindIsNotFound) {
    auto backend = make_backend(host, params());
    const sdk::Error error = sdk_error_of([&] { (void)backend->load(model("sql-orders"), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_NOT_FOUND);
    EXPECT_TRUE(contains(error.what(), "No adapter found for /adapters/sql-orders/v1")) << error.what();
}

TEST_F(VllmLoraMode, UnloadOfAnAdapterTheServerDoesNotHoldSucceeds) {
    auto backend = make_backend(host, params());
    backend->unload(model("sql-orders"));  // 404 "cannot be found": certainly not resident
    EXPECT_EQ(fake.count("POST", "/v1/unload_lora_adapter"), 1u);
}

TEST_F(VllmLoraMode, ListingReportsAdaptersNotTheBaseModel) {
    fake.load_adapter_directly("sql-orders", "/a");    // loaded by another client
    fake.load_adapter_directly("chat-support", "/b");  // no servers entry of this backend covers it
    auto backend = make_backend(host, params());
    const auto resident = backend->list_resident();
    ASSERT_EQ(resident.size(), 1u);
    EXPECT_EQ(resident[0].name, "sql-orders");
}

TEST(VllmLoraModeFailures, RuntimeLoraUpdatingOffIsUnsupported) {
    FakeVllm fake(/*dev_mode=*/true, /*runtime_lora=*/false);
    test::PluginTestHost host;
    auto backend =
        make_backend(host, "mode: lora\nservers: {'*': '" + fake.url() + "'}\nlora_paths: {'*': '/a/${name}'}");
    const sdk::Error error = sdk_error_of([&] { (void)backend->load(host.info(host.model("x")), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNSUPPORTED);
    EXPECT_TRUE(contains(error.what(), "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True")) << error.what();
}

TEST(VllmLoraPaths, AnAdaptersPathIsItsOwnKeyFirstThenTheFirstMatchingGlob) {
    FakeVllm fake(/*dev_mode=*/true, /*runtime_lora=*/true);
    test::PluginTestHost host;
    auto backend = make_backend(host, "mode: lora\nservers: {'*': '" + fake.url() +
                                          "'}\nlora_paths: {'sql-*': '/a/${name}', '*': '/b/${name}', "
                                          "'sql-legacy': '/old/legacy'}");
    EXPECT_EQ(backend->lora_path_for("sql-orders"), "/a/sql-orders");
    EXPECT_EQ(backend->lora_path_for("sql-legacy"), "/old/legacy");  // its own key, though 'sql-*' comes first
    EXPECT_EQ(backend->lora_path_for("chat"), "/b/chat");
}

TEST(VllmBackendParams, BadParamsAreRefusedWithTheirKeyPath) {
    test::PluginTestHost host;
    const std::pair<const char*, const char*> cases[] = {
        {"servers: {'*': 'http://v:8000'}", "params.mode: required"},
        {"mode: wake\nservers: {'*': 'http://v'}", "params.mode: 'wake' is not one of: sleep, lora"},
        {"mode: sleep", "params.servers: required"},
        {"mode: sleep\nservers: {'*': 'ftp://v'}", "params.servers.*: 'ftp://v': the scheme must be"},
        {"mode: sleep\nservers: {'*': ''}", "params.servers.*: expected a vLLM base URL"},
        {"mode: sleep\nservers: {'*': 'http://v'}\nsleep_level: 3", "params.sleep_level: 3 is outside [1, 2]"},
        {"mode: sleep\nservers: {'*': 'http://v'}\nlora_paths: {'*': /a}", "params.lora_paths: only used with"},
        {"mode: lora\nservers: {'*': 'http://v'}", "params.lora_paths: required with mode: lora"},
        {"mode: lora\nservers: {'*': 'http://v'}\nlora_paths: {'*': /a}\nsleep_level: 1",
         "params.sleep_level: only used with mode: sleep"},
        {"mode: sleep\nservers: {'*': 'http://v'}\nload_timeout_ms: 0", "params.load_timeout_ms: 0 is outside"},
        {"mode: sleep\nservers: {'*': 'http://v'}\nserverz: 1", "params.serverz: unknown parameter"},
    };
    for (const auto& [yaml, expected] : cases) {
        const sdk::Error error = sdk_error_of([&] { (void)make_backend(host, yaml); });
        EXPECT_EQ(error.code(), WARMUP_ERROR_INVALID_ARGUMENT) << yaml;
        EXPECT_EQ(std::string(error.what()).rfind(expected, 0), 0u) << yaml << " -> " << error.what();
    }
}

TEST(VllmBackendParams, ServersResolveExactKeysBeforeGlobsInFileOrder) {
    test::PluginTestHost host;
    auto backend = make_backend(host,
                                "mode: sleep\nservers: {'llama-*': 'http://a:1', 'llama-8b': 'http://b:2', "
                                "'*': 'http://c:3'}");
    EXPECT_EQ(backend->server_for("llama-8b")->client.endpoint().url, "http://b:2");
    EXPECT_EQ(backend->server_for("llama-70b")->client.endpoint().url, "http://a:1");
    EXPECT_EQ(backend->server_for("mistral")->client.endpoint().url, "http://c:3");
    EXPECT_EQ(backend->sleep_level(), 1);  // default
}

}  // namespace
}  // namespace warmup::plugins
