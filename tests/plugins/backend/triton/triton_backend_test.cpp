// The Triton backend against FakeTriton (an httplib server in this process): request paths and bodies, readiness
// check, error codes and messages, cancellation and the cleanup of abandoned loads, name mapping, params validation.
// The class is compiled into the test (its plugin_entry.cpp is not) and called through its C++ methods.
#include "triton_backend.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "backend_test_support.hpp"
#include "fake_triton.hpp"
#include "plugin_test_host.hpp"
#include "test_support.hpp"

namespace warmup::plugins {
namespace {

using std::chrono::milliseconds;
using test::FakeTriton;
using test::PluginTestHost;

std::unique_ptr<TritonBackend> make_backend(PluginTestHost& host, const std::string& yaml) {
    sdk::Params params(yaml);
    auto backend = std::make_unique<TritonBackend>(host.host(), params);
    params.finish();
    return backend;
}

std::string params_for(const FakeTriton& fake, const std::string& extra = "") {
    return "base_url: " + fake.base_url() + "\n" + extra;
}

/// A cancel token the test flips from its own thread.
struct ManualCancel {
    std::atomic<bool> cancelled{false};
    warmup_cancel_token token() {
        return {&cancelled, [](void* context) { return static_cast<std::atomic<bool>*>(context)->load() ? 1 : 0; }};
    }
};

using warmup::test::kNeverCancel;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(TritonBackend, LoadPostsToRepositoryPathThenChecksReadiness) {
    FakeTriton fake;
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake));
    EXPECT_DOUBLE_EQ(backend->load(host.info("llama3:8b"), kNeverCancel), 0.0);  // unknown: catalog figure applies

    const auto requests = fake.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].method, "POST");
    EXPECT_EQ(requests[0].path, "/v2/repository/models/llama3:8b/load");
    EXPECT_EQ(requests[0].body, "{}");
    EXPECT_EQ(requests[1].method, "GET");
    EXPECT_EQ(requests[1].path, "/v2/models/llama3:8b/ready");
    EXPECT_TRUE(backend->pending_orphans().empty());
}

TEST(TritonBackend, VerifyReadyFalseSkipsTheReadinessRequest) {
    FakeTriton fake;
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "verify_ready: false"));
    (void)backend->load(host.info("m"), kNeverCancel);
    const auto requests = fake.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].path, "/v2/repository/models/m/load");
}

TEST(TritonBackend, NotReadyAfterLoadIsUnavailableAndLeftToTheCleanup) {
    FakeTriton fake;
    fake.never_ready("m");
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "orphan_poll_ms: 600000"));
    const auto error = warmup::test::sdk_error_of([&] { (void)backend->load(host.info("m"), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_TRUE(contains(error.what(), "GET " + fake.base_url() + "/v2/models/m/ready answered HTTP 400"))
        << error.what();
    EXPECT_EQ(backend->pending_orphans(), std::vector<std::string>{"m"});
}

TEST(TritonBackend, UnloadPostsToRepositoryPathWithEmptyParameters) {
    FakeTriton fake;
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake));
    backend->unload(host.info("m"));
    const auto requests = fake.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].method, "POST");
    EXPECT_EQ(requests[0].path, "/v2/repository/models/m/unload");
    EXPECT_EQ(requests[0].body, "{}");
    EXPECT_EQ(requests[1].path, "/v2/repository/index") << "then asks whether the unload has finished";
}

TEST(TritonBackend, UnloadReturnsOnlyOnceTritonNoLongerListsTheModelAsUnloading) {
    // Triton answers an unload at once and frees the memory when the model's requests in flight are done: until the
    // index stops saying UNLOADING the host must not count the memory free.
    FakeTriton fake;
    fake.load_directly("m");
    fake.unloads_take(milliseconds(300));
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake));
    const auto started = std::chrono::steady_clock::now();
    backend->unload(host.info("m"));
    EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(300));
    EXPECT_GE(fake.count("POST", "/v2/repository/index"), 2u);
}

TEST(TritonBackend, AnUnloadStillUnderwayAfterTheRequestTimeoutIsTimeoutNamingTheState) {
    FakeTriton fake;
    fake.unloads_take(milliseconds(5000));
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "request_timeout_ms: 200"));
    const auto error = warmup::test::sdk_error_of([&] { backend->unload(host.info("m")); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_TIMEOUT);
    EXPECT_TRUE(contains(error.what(), "still lists it as UNLOADING after request_timeout_ms=200")) << error.what();
}

TEST(TritonBackend, AnUnloadStillUnderwayAtItsDeadlineIsListedUntilTritonHasLetTheModelGo) {
    // The host keeps a failed unload's memory charged until a listing no longer finds the model: the listing must
    // find it while the index says UNLOADING, and not after.
    FakeTriton fake;
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "request_timeout_ms: 200"));
    (void)backend->load(host.info("m"), kNeverCancel);
    fake.unloads_take(milliseconds(1500));
    const auto unload_error = warmup::test::sdk_error_of([&] { backend->unload(host.info("m")); });
    ASSERT_EQ(unload_error.code(), WARMUP_ERROR_TIMEOUT);
    const auto listed = [&] {
        std::vector<std::string> names;
        for (const auto& model : backend->list_resident()) names.push_back(model.name);
        return names;
    };
    EXPECT_EQ(listed(), std::vector<std::string>{"m"});
    std::this_thread::sleep_for(milliseconds(1600));  // Triton is done: the index says UNAVAILABLE
    EXPECT_TRUE(listed().empty());
}

TEST(TritonBackend, AnUnloadTritonDoesNotAnswerInTimeIsTimeoutNotUnreachable) {
    FakeTriton fake;
    fake.delay_unload_answers(milliseconds(1000));
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "request_timeout_ms: 100"));
    const auto error = warmup::test::sdk_error_of([&] { backend->unload(host.info("m")); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_TIMEOUT) << error.what();
    EXPECT_TRUE(contains(error.what(), "did not answer the unload of")) << error.what();
    EXPECT_TRUE(contains(error.what(), "request_timeout_ms=100")) << error.what();
}

TEST(TritonBackend, UnloadDependentsIsSentAsParameter) {
    FakeTriton fake;
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "unload_dependents: true"));
    backend->unload(host.info("ensemble"));
    const auto requests = fake.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].path, "/v2/repository/models/ensemble/unload");
    const auto body = nlohmann::json::parse(requests[0].body);
    EXPECT_EQ(body, nlohmann::json::parse(R"({"parameters": {"unload_dependents": true}})"));
}

TEST(TritonBackend, LoadFailureCarriesTritonTextStatusUrlAndModelName) {
    FakeTriton fake;
    fake.fail_loads("broken", 400, R"({"error":"failed to load 'broken', version 1 is at UNAVAILABLE state"})");
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake));
    const auto error = warmup::test::sdk_error_of([&] { (void)backend->load(host.info("broken"), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_EQ(std::string(error.what()),
              "Triton could not load model 'broken': POST " + fake.base_url() +
                  "/v2/repository/models/broken/load answered HTTP 400: failed to load 'broken', version 1 is at "
                  "UNAVAILABLE state");
    EXPECT_EQ(fake.count("GET", "/v2/models/broken/ready"), 0u);  // no readiness check after a failed load
    EXPECT_TRUE(backend->pending_orphans().empty());              // nothing can be resident: nothing to clean up
}

TEST(TritonBackend, AGatewayTimeoutOnALoadLeavesTheModelToTheCleanup) {
    // A proxy in front of Triton gave up on a long load it had forwarded: Triton finishes it, so the cleanup watches
    // for the model and unloads it once ready.
    FakeTriton fake;
    fake.fail_loads("m", 504, "<html>504 Gateway Time-out</html>");
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "orphan_poll_ms: 600000"));
    (void)warmup::test::sdk_error_of([&] { (void)backend->load(host.info("m"), kNeverCancel); });
    EXPECT_EQ(backend->pending_orphans(), std::vector<std::string>{"m"});
    fake.fail_loads("n", 400, R"({"error":"bad config"})");  // refused by Triton itself: nothing to watch
    (void)warmup::test::sdk_error_of([&] { (void)backend->load(host.info("n"), kNeverCancel); });
    EXPECT_EQ(backend->pending_orphans(), std::vector<std::string>{"m"});
}

TEST(TritonBackend, ModelUnknownToTheRepositoryIsNotFound) {
    FakeTriton fake;
    fake.fail_loads("ghost", 400, R"({"error":"failed to load 'ghost', failed to poll from model repository"})");
    fake.fail_loads("gone", 404, R"({"error":"no such model"})");
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake));
    const auto ghost = warmup::test::sdk_error_of([&] { (void)backend->load(host.info("ghost"), kNeverCancel); });
    EXPECT_EQ(ghost.code(), WARMUP_ERROR_NOT_FOUND);
    EXPECT_TRUE(contains(ghost.what(), "failed to poll from model repository")) << ghost.what();
    EXPECT_EQ(warmup::test::sdk_error_of([&] { (void)backend->load(host.info("gone"), kNeverCancel); }).code(),
              WARMUP_ERROR_NOT_FOUND);
}

TEST(TritonBackend, ServerNotInExplicitModeIsUnsupportedWithAHint) {
    FakeTriton fake;
    fake.fail_loads("m", 400, R"({"error":"explicit model load / unload is not allowed if polling is enabled"})");
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake));
    const auto error = warmup::test::sdk_error_of([&] { (void)backend->load(host.info("m"), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNSUPPORTED);
    EXPECT_TRUE(contains(error.what(), "--model-control-mode=explicit")) << error.what();
}

TEST(TritonBackend, ServerDownIsUnavailableAndNamesTheUrl) {
    int closed_port = 0;
    {
        FakeTriton gone;  // take an ephemeral port, then close it: connections to it are refused
        closed_port = gone.port();
    }
    PluginTestHost host;
    const std::string base_url = "http://127.0.0.1:" + std::to_string(closed_port);
    auto backend = make_backend(host, "base_url: " + base_url + "\nconnect_timeout_ms: 2000");
    const auto load_error = warmup::test::sdk_error_of([&] { (void)backend->load(host.info("m"), kNeverCancel); });
    EXPECT_EQ(load_error.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_TRUE(contains(load_error.what(), "cannot reach Triton at " + base_url + "/v2/repository/models/m/load"))
        << load_error.what();
    const auto unload_error = warmup::test::sdk_error_of([&] { backend->unload(host.info("m")); });
    EXPECT_EQ(unload_error.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_TRUE(contains(unload_error.what(), base_url + "/v2/repository/models/m/unload")) << unload_error.what();
}

TEST(TritonBackend, CancelDuringSlowLoadReturnsCancelledAndUnloadsOnceTritonFinishes) {
    FakeTriton fake;
    fake.hold_loads();
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "orphan_poll_ms: 10"));
    ManualCancel cancel;
    const warmup_cancel_token token = cancel.token();
    const warmup_model_info model = host.info("big");
    auto load = std::async(std::launch::async, [&] { return backend->load(model, token); });
    ASSERT_TRUE(test::poll_until([&] { return fake.loads_held_now() == 1; }, milliseconds(5000)));

    cancel.cancelled = true;
    const auto error = warmup::test::sdk_error_of([&] { (void)load.get(); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_CANCELLED);
    EXPECT_TRUE(contains(error.what(), "model 'big'")) << error.what();
    // Prompt: the load returned while Triton is still holding it (the fake never answers on its own).
    EXPECT_EQ(fake.loads_held_now(), 1);
    EXPECT_EQ(backend->pending_orphans(), std::vector<std::string>{"big"});
    EXPECT_EQ(fake.count("POST", "/v2/repository/models/big/unload"), 0u);  // not ready yet: nothing to unload

    fake.release_loads();  // Triton finishes the abandoned load: the cleanup must unload it
    EXPECT_TRUE(test::poll_until([&] { return fake.count("POST", "/v2/repository/models/big/unload") == 1; },
                                 milliseconds(5000)));
    EXPECT_TRUE(test::poll_until([&] { return backend->pending_orphans().empty(); }, milliseconds(5000)));
    EXPECT_FALSE(fake.is_ready("big"));
}

TEST(TritonBackend, NewLoadTakesAnAbandonedModelBackFromTheCleanup) {
    FakeTriton fake;
    fake.hold_loads();
    PluginTestHost host;
    // A long poll interval: after its first look the cleanup sleeps for the rest of the test.
    auto backend = make_backend(host, params_for(fake, "orphan_poll_ms: 600000"));
    ManualCancel cancel;
    const warmup_cancel_token token = cancel.token();
    const warmup_model_info model = host.info("m");
    auto first = std::async(std::launch::async, [&] { return backend->load(model, token); });
    ASSERT_TRUE(test::poll_until([&] { return fake.loads_held_now() == 1; }, milliseconds(5000)));
    cancel.cancelled = true;
    EXPECT_EQ(warmup::test::sdk_error_of([&] { (void)first.get(); }).code(), WARMUP_ERROR_CANCELLED);
    // The cleanup looked once (not ready: still loading) and now waits.
    ASSERT_TRUE(test::poll_until([&] { return fake.count("GET", "/v2/models/m/ready") >= 1; }, milliseconds(5000)));
    fake.release_loads();

    (void)backend->load(model, kNeverCancel);  // the host wants the model again
    EXPECT_TRUE(backend->pending_orphans().empty());
    backend.reset();  // joins the cleanup thread
    EXPECT_EQ(fake.count("POST", "/v2/repository/models/m/unload"), 0u);
    EXPECT_TRUE(fake.is_ready("m"));
}

TEST(TritonBackend, LoadLongerThanLoadTimeoutIsTimeout) {
    FakeTriton fake;
    fake.hold_loads();
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "load_timeout_ms: 100\norphan_poll_ms: 600000"));
    const auto error = warmup::test::sdk_error_of([&] { (void)backend->load(host.info("slow"), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_TIMEOUT);
    EXPECT_TRUE(contains(error.what(), "load_timeout_ms=100")) << error.what();
    EXPECT_EQ(backend->pending_orphans(), std::vector<std::string>{"slow"});
}

TEST(TritonBackend, ModelNamesMapAnExactNameFirstThenTheFirstMatchingGlob) {
    FakeTriton fake;
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake,
                                                 "model_names: {'vision/*': resnet50, 'llm-?b': llm_small, "
                                                 "'llm-*': llm_any, 'vision/vit': vit_b16}"));
    EXPECT_EQ(backend->repository_name("vision/resnet"), "resnet50");
    EXPECT_EQ(backend->repository_name("vision/vit"), "vit_b16");   // its own key, though a glob before it matches
    EXPECT_EQ(backend->repository_name("llm-7b"), "llm_small");     // both llm globs match: the first listed wins
    EXPECT_EQ(backend->repository_name("llm-13b"), "llm_any");      // '?' is exactly one character
    EXPECT_EQ(backend->repository_name("phi3:mini"), "phi3:mini");  // unmapped: same name

    (void)backend->load(host.info("vision/resnet"), kNeverCancel);
    backend->unload(host.info("vision/resnet"));
    EXPECT_EQ(fake.count("POST", "/v2/repository/models/resnet50/load"), 1u);
    EXPECT_EQ(fake.count("GET", "/v2/models/resnet50/ready"), 1u);
    EXPECT_EQ(fake.count("POST", "/v2/repository/models/resnet50/unload"), 1u);
}

TEST(TritonBackend, MappedModelErrorsNameBothNames) {
    FakeTriton fake;
    fake.fail_loads("resnet50", 400, R"({"error":"bad config"})");
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "model_names: {'vision/*': resnet50}"));
    const auto error =
        warmup::test::sdk_error_of([&] { (void)backend->load(host.info("vision/resnet"), kNeverCancel); });
    EXPECT_TRUE(contains(error.what(), "model 'resnet50' (catalog model 'vision/resnet')")) << error.what();
}

TEST(TritonBackend, UnmappedNameWithSlashIsRefusedWithoutARequest) {
    FakeTriton fake;
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake));
    const auto error =
        warmup::test::sdk_error_of([&] { (void)backend->load(host.info("language/m-large"), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(contains(error.what(), "params.model_names")) << error.what();
    EXPECT_TRUE(fake.requests().empty());
}

TEST(TritonBackend, ModelNameIsPercentEncodedInThePath) {
    EXPECT_EQ(percent_encode_path_segment("llama3:8b"), "llama3:8b");
    EXPECT_EQ(percent_encode_path_segment("a b%c?d#e"), "a%20b%25c%3Fd%23e");
    EXPECT_EQ(percent_encode_path_segment("\xC3\xA9"), "%C3%A9");  // UTF-8 bytes one by one

    FakeTriton fake;
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "verify_ready: false"));
    (void)backend->load(host.info("my model"), kNeverCancel);
    const auto requests = fake.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].target, "/v2/repository/models/my%20model/load");
}

TEST(TritonBackend, BaseUrlPathPrefixIsPutBeforeEveryPath) {
    FakeTriton fake("/triton");
    PluginTestHost host;
    auto backend = make_backend(host, "base_url: " + fake.base_url() + "/");  // trailing slash is dropped
    (void)backend->load(host.info("m"), kNeverCancel);
    backend->unload(host.info("m"));
    EXPECT_EQ(fake.count("POST", "/triton/v2/repository/models/m/load"), 1u);
    EXPECT_EQ(fake.count("GET", "/triton/v2/models/m/ready"), 1u);
    EXPECT_EQ(fake.count("POST", "/triton/v2/repository/models/m/unload"), 1u);
}

TEST(TritonBackend, MemoryFromStatsSumsReportedByteSizes) {
    FakeTriton fake;
    // 300 MiB GPU + 12 MiB CPU for version 1 of "m"; another model's entry must not count.
    fake.set_stats("m", R"({"model_stats":[
        {"name":"m","version":"1","memory_usage":[{"type":"GPU","id":0,"byte_size":314572800},
                                                 {"type":"CPU","id":0,"byte_size":12582912}]},
        {"name":"other","version":"1","memory_usage":[{"type":"GPU","id":0,"byte_size":1073741824}]}]})");
    fake.set_stats("old", R"({"model_stats":[{"name":"old","version":"1","inference_count":0}]})");
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "memory_from_stats: true"));
    EXPECT_DOUBLE_EQ(backend->load(host.info("m"), kNeverCancel), 312.0);
    EXPECT_DOUBLE_EQ(backend->load(host.info("old"), kNeverCancel), 0.0);      // no memory_usage: unknown
    EXPECT_DOUBLE_EQ(backend->load(host.info("nostats"), kNeverCancel), 0.0);  // stats refused: unknown, not an error
}

TEST(TritonBackend, ListingReportsReadyRepositoryModelsByCatalogName) {
    FakeTriton fake;
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "model_names: {'vision/resnet*': resnet50_trt}"));
    (void)host.info("vision/resnet50");  // the catalog has met it
    fake.load_directly("resnet50_trt");  // loaded by another client of Triton
    fake.load_directly("bert");          // not mapped: reported under its own name
    fake.unload_directly("old");         // in the index, but UNAVAILABLE: not resident
    std::vector<std::string> names;
    for (const auto& model : backend->list_resident()) names.push_back(model.name);
    EXPECT_EQ(names, (std::vector<std::string>{"vision/resnet50", "bert"}));
    EXPECT_EQ(fake.count("POST", "/v2/repository/index"), 1u);
}

TEST(TritonBackend, CatalogNamesSharingARepositoryModelUnloadItOnlyWithTheLastOne) {
    FakeTriton fake;
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "model_names: {'vision/resnet*': resnet50_trt}"));
    (void)backend->load(host.info("vision/resnet50"), kNeverCancel);
    (void)backend->load(host.info("vision/resnet101"), kNeverCancel);
    const auto listed = [&] {
        std::set<std::string> names;
        for (const auto& model : backend->list_resident()) names.insert(model.name);
        return names;
    };
    EXPECT_EQ(listed(), (std::set<std::string>{"vision/resnet50", "vision/resnet101"}));

    backend->unload(host.info("vision/resnet50"));  // vision/resnet101 still holds it: Triton is not asked
    EXPECT_EQ(fake.count("POST", "/v2/repository/models/resnet50_trt/unload"), 0u);
    EXPECT_TRUE(fake.is_ready("resnet50_trt"));
    EXPECT_EQ(listed(), std::set<std::string>{"vision/resnet101"});  // no RECONCILE_DRIFT kind=gone for it

    backend->unload(host.info("vision/resnet101"));  // the last one
    EXPECT_EQ(fake.count("POST", "/v2/repository/models/resnet50_trt/unload"), 1u);
    EXPECT_FALSE(fake.is_ready("resnet50_trt"));
    EXPECT_TRUE(listed().empty());
}

TEST(TritonBackend, ANameLoadedAfterAnotherNamesUnloadTimedOutIsTheOneListed) {
    // Two catalog names share one repository model. The first one's unload is still under way at its deadline: the
    // listing reports it (its memory stays charged) until the second name loads the model again; from then the
    // listing names the one that holds it, not the one whose unload lingered.
    FakeTriton fake;
    PluginTestHost host;
    auto backend =
        make_backend(host, params_for(fake, "request_timeout_ms: 200\nmodel_names: {'vision/resnet*': resnet50_trt}"));
    (void)backend->load(host.info("vision/resnet50"), kNeverCancel);
    fake.unloads_take(milliseconds(1500));
    ASSERT_EQ(warmup::test::sdk_error_of([&] { backend->unload(host.info("vision/resnet50")); }).code(),
              WARMUP_ERROR_TIMEOUT);
    const auto listed = [&] {
        std::set<std::string> names;
        for (const auto& model : backend->list_resident()) names.insert(model.name);
        return names;
    };
    EXPECT_EQ(listed(), std::set<std::string>{"vision/resnet50"});
    (void)backend->load(host.info("vision/resnet101"), kNeverCancel);
    EXPECT_EQ(listed(), std::set<std::string>{"vision/resnet101"});
}

TEST(TritonBackend, ASharedModelLoadedByAnotherClientIsReportedUnderOneCatalogName) {
    FakeTriton fake;
    PluginTestHost host;
    auto backend = make_backend(host, params_for(fake, "model_names: {'vision/resnet*': resnet50_trt}"));
    (void)host.info("vision/resnet50");
    (void)host.info("vision/resnet101");
    fake.load_directly("resnet50_trt");
    std::vector<std::string> names;
    for (const auto& model : backend->list_resident()) names.push_back(model.name);
    EXPECT_EQ(names, std::vector<std::string>{"vision/resnet50"});  // adopted once, not once per name
}

TEST(TritonBackend, ListingFailsWhenTritonCannotBeAsked) {
    int closed_port = 0;
    {
        FakeTriton gone;
        closed_port = gone.port();
    }
    PluginTestHost host;
    auto backend = make_backend(host, "base_url: http://127.0.0.1:" + std::to_string(closed_port));
    const auto error = warmup::test::sdk_error_of([&] { (void)backend->list_resident(); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_TRUE(contains(error.what(), "/v2/repository/index")) << error.what();
}

TEST(TritonBackend, BadParamsAreRefusedWithTheirKeyPath) {
    PluginTestHost host;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"base_url: ftp://triton", "params.base_url: 'ftp://triton': the scheme must be http:// or https://"},
        {"base_url: 'http://:8000'", "params.base_url: 'http://:8000': no host"},
        {"base_url: 'http://triton:0'", "params.base_url: 'http://triton:0': the port must be"},
        {"base_url: 'http://triton:99999'", "params.base_url: 'http://triton:99999': the port must be"},
        {"base_url: 'http://triton:8000/?x=1'",
         "params.base_url: 'http://triton:8000/?x=1': user info, spaces, a query"},
        {"base_url: 'http://user@triton'", "params.base_url: 'http://user@triton': user info"},
        {"connect_timeout_ms: 0", "params.connect_timeout_ms: 0 is outside"},
        {"load_timeout_ms: -5", "params.load_timeout_ms: -5 is outside"},
        {"load_timeout_ms: soon", "params.load_timeout_ms: expected an integer"},
        {"request_timeout_ms: 0", "params.request_timeout_ms: 0 is outside"},
        {"orphan_poll_ms: 1", "params.orphan_poll_ms: 1 is outside"},
        {"unload_dependents: maybe", "params.unload_dependents: expected true or false"},
        {"verify_ready: 2", "params.verify_ready: expected true or false"},
        {"memory_from_stats: [true]", "params.memory_from_stats: expected true or false"},
        {"model_names: [a, b]", "params.model_names: expected a mapping"},
        {"model_names: {'x*': ''}", "params.model_names.x*: expected a Triton model name"},
        {"model_names: {'x*': [a]}", "params.model_names.x*: expected a Triton model name"},
        {"model_names: {'x*': 'a/b'}", "params.model_names.x*: 'a/b' contains '/'"},
        {"base_urll: http://triton", "params.base_urll: unknown parameter"},
    };
    for (const auto& [yaml, expected_start] : cases) {
        const auto error = warmup::test::sdk_error_of([&] { (void)make_backend(host, yaml); });
        EXPECT_EQ(error.code(), WARMUP_ERROR_INVALID_ARGUMENT) << yaml;
        EXPECT_EQ(std::string(error.what()).rfind(expected_start, 0), 0u) << yaml << " -> " << error.what();
    }
}

TEST(TritonBackend, DefaultsMatchTheReadme) {
    PluginTestHost host;
    auto backend = make_backend(host, "");
    const TritonBackendConfig& config = backend->config();
    EXPECT_EQ(config.endpoint.url, "http://127.0.0.1:8000");
    EXPECT_EQ(config.connect_timeout_ms, 2000);
    EXPECT_EQ(config.load_timeout_ms, 600000);
    EXPECT_EQ(config.request_timeout_ms, 30000);
    EXPECT_EQ(config.orphan_poll_ms, 1000);
    EXPECT_FALSE(config.unload_dependents);
    EXPECT_TRUE(config.verify_ready);
    EXPECT_FALSE(config.memory_from_stats);
    EXPECT_TRUE(config.model_names.empty());
}

}  // namespace
}  // namespace warmup::plugins
