// The Ollama backend against FakeOllama (an in-process HTTP stand-in): what it sends, how it reads the answers, how
// every failure maps to an error code and message, cancellation, name mapping and parameter validation. The class is
// compiled into the test (its plugin_entry.cpp is not); ollama_backend_library_test.cpp drives the real .so.
#include "ollama_backend.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "backend_test_support.hpp"
#include "fake_ollama.hpp"
#include "plugin_test_host.hpp"
#include "test_support.hpp"

namespace warmup::plugins {
namespace {

using nlohmann::json;
using test::FakeOllama;

constexpr uint64_t kMebibyte = 1024 * 1024;
using warmup::test::kNeverCancel;

std::unique_ptr<OllamaBackend> make_backend(test::PluginTestHost& host, const std::string& yaml) {
    sdk::Params params(yaml);
    auto backend = std::make_unique<OllamaBackend>(host.host(), params);
    params.finish();  // as the SDK does after construction: unknown keys are refused
    return backend;
}

/// Runs `body`, which must throw sdk::Error with `code`; returns the message.
std::string error_message(const std::function<void()>& body, warmup_status code) {
    try {
        body();
    } catch (const sdk::Error& error) {
        EXPECT_EQ(error.code(), code) << error.what();
        return error.what();
    }
    ADD_FAILURE() << "expected an sdk::Error with code " << code;
    return {};
}

/// A loopback port nothing listens on: bound, read back, closed (connecting to it is refused).
int closed_loopback_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    close(fd);
    return ntohs(address.sin_port);
}

class OllamaBackendTest : public ::testing::Test {
  protected:
    void SetUp() override {
        // 5 GiB total of which 4 GiB in VRAM -> 5120 MiB (size) or 4096 MiB (size_vram).
        fake.add_model("llama3:8b", {5 * 1024 * kMebibyte, 4 * 1024 * kMebibyte});
        fake.add_model("mistral:7b", {3 * 1024 * kMebibyte, 0});
        fake.add_model("nomic-embed-text:latest", {300 * kMebibyte, 300 * kMebibyte, /*embedding_only=*/true});
    }
    warmup_model_info model(const std::string& name) { return host.info(host.model(name)); }
    std::string base_url_yaml() const { return "base_url: " + fake.url() + "\n"; }

    test::PluginTestHost host;
    FakeOllama fake;
};

TEST_F(OllamaBackendTest, LoadPostsModelAndKeepAliveThenReturnsMebibytesFromPs) {
    auto backend = make_backend(host, base_url_yaml());
    EXPECT_DOUBLE_EQ(backend->load(model("llama3:8b"), kNeverCancel), 5120.0);  // 5 GiB of "size"
    const auto requests = fake.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].method, "POST");
    EXPECT_EQ(requests[0].path, "/api/generate");
    EXPECT_EQ(requests[0].body, (json{{"model", "llama3:8b"}, {"keep_alive", -1}}));  // no prompt: load only
    EXPECT_EQ(requests[1].method, "GET");
    EXPECT_EQ(requests[1].path, "/api/ps");
    EXPECT_TRUE(fake.is_loaded("llama3:8b"));
}

TEST_F(OllamaBackendTest, MemoryReportSizeVramReadsTheVramBytes) {
    auto backend = make_backend(host, base_url_yaml() + "memory_report: size_vram");
    EXPECT_DOUBLE_EQ(backend->load(model("llama3:8b"), kNeverCancel), 4096.0);
}

TEST_F(OllamaBackendTest, UntaggedNameIsFoundInPsUnderItsLatestTag) {
    fake.add_model("phi3:latest", {2 * 1024 * kMebibyte, 0});
    auto backend = make_backend(host, base_url_yaml());
    EXPECT_DOUBLE_EQ(backend->load(model("phi3"), kNeverCancel), 2048.0);  // /api/ps lists "phi3:latest"
    EXPECT_EQ(fake.requests()[0].body["model"], "phi3");
}

TEST_F(OllamaBackendTest, KeepAliveDurationGoesOutAsStringAndSecondsAsNumber) {
    auto as_duration = make_backend(host, base_url_yaml() + "keep_alive: 1h30m");
    (void)as_duration->load(model("llama3:8b"), kNeverCancel);
    auto as_seconds = make_backend(host, base_url_yaml() + "keep_alive: 3600");
    (void)as_seconds->load(model("mistral:7b"), kNeverCancel);
    const auto requests = fake.requests();
    ASSERT_EQ(requests.size(), 4u);
    EXPECT_EQ(requests[0].body["keep_alive"], "1h30m");
    EXPECT_EQ(requests[2].body["keep_alive"], 3600);
}

TEST_F(OllamaBackendTest, KeepAliveSecondsWithLeadingZerosGoOutAsAJsonNumber) {
    // "010" is a number of seconds to a person and is not JSON: sent as it is, every load would fail to be encoded.
    auto backend = make_backend(host, base_url_yaml() + "keep_alive: '010'");
    EXPECT_DOUBLE_EQ(backend->load(model("llama3:8b"), kNeverCancel), 5120.0);
    const auto requests = fake.requests();
    ASSERT_FALSE(requests.empty());
    EXPECT_EQ(requests[0].body["keep_alive"], 10);
}

TEST_F(OllamaBackendTest, UnloadPostsKeepAliveZero) {
    auto backend = make_backend(host, base_url_yaml());
    (void)backend->load(model("llama3:8b"), kNeverCancel);
    backend->unload(model("llama3:8b"));
    const auto requests = fake.requests();
    ASSERT_EQ(requests.size(), 3u);
    EXPECT_EQ(requests[2].path, "/api/generate");
    EXPECT_EQ(requests[2].body, (json{{"model", "llama3:8b"}, {"keep_alive", 0}}));
    EXPECT_FALSE(fake.is_loaded("llama3:8b"));
}

TEST_F(OllamaBackendTest, UnloadOfAModelTheServerDoesNotHaveSucceeds) {
    auto backend = make_backend(host, base_url_yaml());
    EXPECT_NO_THROW(backend->unload(model("never-pulled")));  // 404: certainly not resident
}

TEST_F(OllamaBackendTest, UnknownModelIsNotFoundNamingModelUrlAndServerText) {
    auto backend = make_backend(host, base_url_yaml());
    const std::string message =
        error_message([&] { (void)backend->load(model("gemma:2b"), kNeverCancel); }, WARMUP_ERROR_NOT_FOUND);
    EXPECT_NE(message.find("'gemma:2b'"), std::string::npos) << message;
    EXPECT_NE(message.find(fake.url()), std::string::npos) << message;
    EXPECT_NE(message.find("HTTP 404"), std::string::npos) << message;
    EXPECT_NE(message.find("model \"gemma:2b\" not found, try pulling it first"), std::string::npos) << message;
    EXPECT_NE(message.find("ollama pull gemma:2b"), std::string::npos) << message;
}

TEST_F(OllamaBackendTest, ServerDownIsUnavailableNamingTheUrl) {
    const int port = closed_loopback_port();
    auto backend = make_backend(host, "base_url: http://127.0.0.1:" + std::to_string(port));
    const std::string message =
        error_message([&] { (void)backend->load(model("llama3:8b"), kNeverCancel); }, WARMUP_ERROR_UNAVAILABLE);
    EXPECT_NE(message.find("http://127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
    EXPECT_NE(message.find("'llama3:8b'"), std::string::npos) << message;
    EXPECT_NE(message.find("POST /api/generate"), std::string::npos) << message;
    error_message([&] { backend->unload(model("llama3:8b")); }, WARMUP_ERROR_UNAVAILABLE);
}

TEST_F(OllamaBackendTest, ServerErrorIsUnavailableWithTheServerText) {
    fake.fail_loads_with("llama runner process has terminated: signal: killed");
    auto backend = make_backend(host, base_url_yaml());
    const std::string message =
        error_message([&] { (void)backend->load(model("llama3:8b"), kNeverCancel); }, WARMUP_ERROR_UNAVAILABLE);
    EXPECT_NE(message.find("HTTP 500: llama runner process has terminated: signal: killed"), std::string::npos)
        << message;
}

TEST_F(OllamaBackendTest, MalformedOkAnswerFailsTheLoadQuotingTheBodyAndUnloadsTheModel) {
    fake.answer_loads_with_body(R"({"done": tru)");
    auto backend = make_backend(host, base_url_yaml());
    const std::string message =
        error_message([&] { (void)backend->load(model("mistral:7b"), kNeverCancel); }, WARMUP_ERROR_UNAVAILABLE);
    EXPECT_NE(message.find("not JSON"), std::string::npos) << message;
    EXPECT_NE(message.find(R"({"done": tru)"), std::string::npos) << message;
    EXPECT_NE(message.find(fake.url()), std::string::npos) << message;
    EXPECT_TRUE(backend->kept_models().empty());  // never refreshed: the host does not count it loaded
    // The server did load it: the backend takes it out, so it does not stay outside the memory budget.
    EXPECT_TRUE(test::poll_until([&] { return !fake.is_loaded("mistral:7b"); }, std::chrono::seconds(5),
                                 std::chrono::milliseconds(5)));
}

TEST_F(OllamaBackendTest, RateLimitedIsUnavailableSoTheHostRetriesAndOtherClientErrorsAreInvalidArgument) {
    auto backend = make_backend(host, base_url_yaml());
    fake.fail_loads_with("too many requests", 429);  // a gateway in front of Ollama during a burst
    const std::string message =
        error_message([&] { (void)backend->load(model("llama3:8b"), kNeverCancel); }, WARMUP_ERROR_UNAVAILABLE);
    EXPECT_NE(message.find("answered HTTP 429: too many requests"), std::string::npos) << message;
    fake.fail_loads_with("invalid options", 400);
    (void)error_message([&] { (void)backend->load(model("llama3:8b"), kNeverCancel); }, WARMUP_ERROR_INVALID_ARGUMENT);
}

TEST_F(OllamaBackendTest, AGatewayTimeoutOnALoadIsFollowedByAnUnloadOfWhatOllamaMayFinish) {
    // nginx in front of Ollama gives up after proxy_read_timeout (504) while Ollama goes on loading the model: it
    // must be taken out, as after a cancelled load, or it stays resident outside the budget.
    auto backend = make_backend(host, base_url_yaml());
    fake.fail_loads_with("gateway timeout", 504);
    (void)error_message([&] { (void)backend->load(model("llama3:8b"), kNeverCancel); }, WARMUP_ERROR_TIMEOUT);
    EXPECT_TRUE(test::poll_until([&] { return fake.received_unload_of("llama3:8b"); }, std::chrono::seconds(5)));
    fake.fail_loads_with("bad request", 400);  // refused by Ollama itself: nothing to take out
    (void)error_message([&] { (void)backend->load(model("mistral:7b"), kNeverCancel); }, WARMUP_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(test::poll_until([&] { return backend->cleanups_running() == 0; }, std::chrono::seconds(5)));
    EXPECT_FALSE(fake.received_unload_of("mistral:7b"));
}

TEST_F(OllamaBackendTest, ServerOutOfMemoryIsResourceExhausted) {
    fake.fail_loads_with("model requires more system memory (41.0 GiB) than is available (15.2 GiB)");
    auto backend = make_backend(host, base_url_yaml());
    error_message([&] { (void)backend->load(model("llama3:8b"), kNeverCancel); }, WARMUP_ERROR_RESOURCE_EXHAUSTED);
}

TEST_F(OllamaBackendTest, CancelDuringSlowLoadIsCancelledWhileTheServerStillHoldsTheRequest) {
    fake.hold_loads();
    auto backend = make_backend(host, base_url_yaml());
    // Cancelled as soon as the server is holding the load: only an interrupted request can return now.
    const warmup_cancel_token cancel_once_held{
        &fake, [](void* context) { return static_cast<FakeOllama*>(context)->loads_held() > 0 ? 1 : 0; }};
    const std::string message =
        error_message([&] { (void)backend->load(model("llama3:8b"), cancel_once_held); }, WARMUP_ERROR_CANCELLED);
    EXPECT_NE(message.find("'llama3:8b'"), std::string::npos) << message;
    EXPECT_EQ(fake.loads_held(), 1) << "load() returned only after the server answered: not interrupted";
    // Ollama may still finish that load: the backend takes the model back out with an unload (keep_alive 0).
    EXPECT_TRUE(test::poll_until([&] { return fake.received_unload_of("llama3:8b"); }, std::chrono::seconds(5)));
    EXPECT_TRUE(test::poll_until([&] { return backend->cleanups_running() == 0; }, std::chrono::seconds(5)));
    fake.release_held_loads();
}

TEST_F(OllamaBackendTest, AlreadyCancelledLoadSendsNothing) {
    auto backend = make_backend(host, base_url_yaml());
    const warmup_cancel_token cancelled{nullptr, [](void*) { return 1; }};
    error_message([&] { (void)backend->load(model("llama3:8b"), cancelled); }, WARMUP_ERROR_CANCELLED);
    EXPECT_EQ(backend->cleanups_running(), 0u);  // nothing was sent, so there is nothing to take back
    EXPECT_TRUE(fake.requests().empty());
}

TEST_F(OllamaBackendTest, LoadOverLoadTimeoutIsTimeoutNamingTheLimit) {
    fake.hold_loads();
    auto backend = make_backend(host, base_url_yaml() + "load_timeout_ms: 150");
    const std::string message =
        error_message([&] { (void)backend->load(model("llama3:8b"), kNeverCancel); }, WARMUP_ERROR_TIMEOUT);
    EXPECT_NE(message.find("within 150 ms"), std::string::npos) << message;
    EXPECT_TRUE(test::poll_until([&] { return fake.received_unload_of("llama3:8b"); }, std::chrono::seconds(5)));
    fake.release_held_loads();
}

TEST_F(OllamaBackendTest, ModelNamesMapExactNamesFirstThenGlobsInOrder) {
    auto backend = make_backend(host, base_url_yaml() +
                                          "model_names:\n"
                                          "  'chat/*': 'llama3:8b'\n"
                                          "  'chat/fast': 'mistral:7b'\n"
                                          "  'chat/f*': 'never-used'\n"
                                          "  'embed/?': 'nomic-embed-text:latest'\n");
    EXPECT_EQ(backend->ollama_name_for("chat/fast"), "mistral:7b");  // exact beats the earlier glob
    EXPECT_EQ(backend->ollama_name_for("chat/free"), "llama3:8b");   // first matching glob in file order
    EXPECT_EQ(backend->ollama_name_for("embed/a"), "nomic-embed-text:latest");
    EXPECT_EQ(backend->ollama_name_for("embed/ab"), "embed/ab");  // '?' is one character: no match, same name
    EXPECT_DOUBLE_EQ(backend->load(model("chat/big"), kNeverCancel), 5120.0);
    EXPECT_EQ(fake.requests()[0].body["model"], "llama3:8b");
}

TEST_F(OllamaBackendTest, NotFoundForAMappedNameNamesBothNames) {
    auto backend = make_backend(host, base_url_yaml() + "model_names: {'team/*': 'qwen2:72b'}");
    const std::string message =
        error_message([&] { (void)backend->load(model("team/x"), kNeverCancel); }, WARMUP_ERROR_NOT_FOUND);
    EXPECT_NE(message.find("'qwen2:72b'"), std::string::npos) << message;
    EXPECT_NE(message.find("catalog name 'team/x'"), std::string::npos) << message;
}

TEST_F(OllamaBackendTest, EmbeddingModelLoadsAndUnloadsThroughTheEmbedEndpoint) {
    auto backend = make_backend(host, base_url_yaml());
    EXPECT_DOUBLE_EQ(backend->load(model("nomic-embed-text:latest"), kNeverCancel), 300.0);
    backend->unload(model("nomic-embed-text:latest"));
    const auto requests = fake.requests();
    ASSERT_EQ(requests.size(), 5u);
    EXPECT_EQ(requests[0].path, "/api/generate");  // refused with 400 "does not support generate"
    EXPECT_EQ(requests[1].path, "/api/embed");
    EXPECT_EQ(requests[1].body, (json{{"model", "nomic-embed-text:latest"}, {"keep_alive", -1}}));
    EXPECT_EQ(requests[2].path, "/api/ps");
    EXPECT_EQ(requests[4].path, "/api/embed");
    EXPECT_EQ(requests[4].body["keep_alive"], 0);
    EXPECT_FALSE(fake.is_loaded("nomic-embed-text:latest"));
}

TEST_F(OllamaBackendTest, BaseUrlPathPrefixIsPrependedToEveryRequest) {
    auto backend = make_backend(host, "base_url: " + fake.url() + "/ollama/");
    (void)backend->load(model("llama3:8b"), kNeverCancel);
    const auto requests = fake.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].path, "/ollama/api/generate");
    EXPECT_EQ(requests[1].path, "/ollama/api/ps");
}

TEST_F(OllamaBackendTest, ListingReportsPsModelsByCatalogName) {
    auto backend = make_backend(host, base_url_yaml() + "model_names: {'chat/default': 'llama3:8b'}");
    (void)host.model("chat/default");  // the catalog has met it
    fake.load_directly("llama3:8b");   // loaded by another client
    fake.load_directly("mistral:7b");  // not mapped: reported under Ollama's name
    std::map<std::string, double> listed;
    for (const auto& model : backend->list_resident()) listed[model.name] = model.memory_mb;
    EXPECT_EQ(listed, (std::map<std::string, double>{{"chat/default", 5120.0}, {"mistral:7b", 3072.0}}));
    fake.unload_directly("llama3:8b");
    EXPECT_EQ(backend->list_resident().size(), 1u);
}

TEST_F(OllamaBackendTest, CatalogNamesSharingAnOllamaModelUnloadItOnlyWithTheLastOne) {
    auto backend = make_backend(host, base_url_yaml() + "model_names: {'embed/*': 'nomic-embed-text'}");
    EXPECT_DOUBLE_EQ(backend->load(model("embed/a"), kNeverCancel), 300.0);  // brings it in: charged its size
    EXPECT_DOUBLE_EQ(backend->load(model("embed/b"), kNeverCancel), 0.0);    // shares it: the catalog's figure
    const auto listed = [&] {
        std::map<std::string, double> names;
        for (const auto& entry : backend->list_resident()) names[entry.name] = entry.memory_mb;
        return names;
    };
    EXPECT_EQ(listed(), (std::map<std::string, double>{{"embed/a", 300.0}, {"embed/b", 0.0}}));

    backend->unload(model("embed/a"));  // embed/b still holds it: no request to the server
    EXPECT_FALSE(fake.received_unload_of("nomic-embed-text"));
    EXPECT_TRUE(fake.is_loaded("nomic-embed-text"));
    EXPECT_EQ(listed(), (std::map<std::string, double>{{"embed/b", 300.0}}));  // embed/a is not reported resident
    EXPECT_EQ(backend->kept_models(), std::vector<std::string>{"nomic-embed-text"});

    backend->unload(model("embed/b"));  // the last one: now Ollama lets it go
    EXPECT_TRUE(fake.received_unload_of("nomic-embed-text"));
    EXPECT_FALSE(fake.is_loaded("nomic-embed-text"));
    EXPECT_TRUE(listed().empty());
}

TEST_F(OllamaBackendTest, ASharedModelLoadedByAnotherClientIsReportedUnderOneCatalogName) {
    auto backend = make_backend(host, base_url_yaml() + "model_names: {'embed/*': 'nomic-embed-text'}");
    (void)host.model("embed/a");
    (void)host.model("embed/b");
    fake.load_directly("nomic-embed-text");
    auto resident = backend->list_resident();
    ASSERT_EQ(resident.size(), 1u);  // adopted once, not once per catalog name
    EXPECT_EQ(resident[0].name, "embed/a");
    // The host adopted embed/a and now loads embed/b too; unloading embed/b keeps the model for embed/a.
    (void)backend->load(model("embed/b"), kNeverCancel);
    backend->unload(model("embed/b"));
    EXPECT_TRUE(fake.is_loaded("nomic-embed-text"));
    backend->unload(model("embed/a"));
    EXPECT_FALSE(fake.is_loaded("nomic-embed-text"));
}

TEST_F(OllamaBackendTest, ASharedModelDroppedBehindTheHostsBackIsForgottenByItsHolders) {
    auto backend = make_backend(host, base_url_yaml() + "model_names: {'embed/*': 'nomic-embed-text'}");
    (void)backend->load(model("embed/a"), kNeverCancel);
    fake.unload_directly("nomic-embed-text");  // its keep_alive expired: the host marks embed/a unloaded
    EXPECT_TRUE(backend->list_resident().empty());
    (void)backend->load(model("embed/b"), kNeverCancel);
    backend->unload(model("embed/b"));  // embed/a no longer holds it: the server is asked
    EXPECT_FALSE(fake.is_loaded("nomic-embed-text"));
}

TEST_F(OllamaBackendTest, ListingFailsWhenOllamaCannotBeAsked) {
    auto backend = make_backend(host, "base_url: http://127.0.0.1:" + std::to_string(closed_loopback_port()));
    const std::string message = error_message([&] { (void)backend->list_resident(); }, WARMUP_ERROR_UNAVAILABLE);
    EXPECT_NE(message.find("GET /api/ps"), std::string::npos) << message;
}

TEST_F(OllamaBackendTest, AListingAnswered404SaysTheEndpointWasNotFoundNotThatAModelIsMissing) {
    // A server without /api/ps (an older Ollama, or what a wrong path prefix leads to) answers 404 as Go's default
    // handler does. No model is named, so the error must not tell the operator to pull one.
    httplib::Server elsewhere;
    elsewhere.Get(".*", [](const httplib::Request&, httplib::Response& response) {
        response.status = 404;
        response.set_content("404 page not found", "text/plain");
    });
    const int port = elsewhere.bind_to_any_port("127.0.0.1");
    std::thread serving([&] { elsewhere.listen_after_bind(); });
    test::poll_until([&] { return elsewhere.is_running(); }, std::chrono::seconds(5), std::chrono::milliseconds(1));
    auto backend = make_backend(host, "base_url: http://127.0.0.1:" + std::to_string(port) + "\n");
    const std::string message = error_message([&] { (void)backend->list_resident(); }, WARMUP_ERROR_UNAVAILABLE);
    elsewhere.stop();
    serving.join();
    EXPECT_NE(message.find("GET /api/ps answered HTTP 404"), std::string::npos) << message;
    EXPECT_NE(message.find("the endpoint was not found"), std::string::npos) << message;
    EXPECT_EQ(message.find("ollama pull"), std::string::npos) << message;
}

TEST_F(OllamaBackendTest, KeepAliveRefreshReassertsOnlyModelsTheHostLoadedAndOllamaStillHolds) {
    auto backend = make_backend(host, base_url_yaml() + "keep_alive_refresh_ms: 0");
    (void)backend->load(model("llama3:8b"), kNeverCancel);
    (void)backend->load(model("mistral:7b"), kNeverCancel);
    backend->unload(model("mistral:7b"));  // the host let it go: never refreshed again
    EXPECT_EQ(backend->kept_models(), std::vector<std::string>{"llama3:8b"});
    const auto posts_of_llama = [&] {
        std::size_t posts = 0;
        for (const auto& request : fake.requests())
            posts += request.method == "POST" && request.body.is_object() && request.body["model"] == "llama3:8b" &&
                     request.body["keep_alive"] == -1;
        return posts;
    };
    ASSERT_EQ(posts_of_llama(), 1u);
    EXPECT_EQ(backend->refresh_keep_alive(), 1u);
    EXPECT_EQ(posts_of_llama(), 2u);  // keep_alive -1 sent again: a client's shorter keep_alive is overridden
    // Gone behind the host's back: the refresh must not load it again (reconciliation marks it unloaded instead).
    fake.unload_directly("llama3:8b");
    EXPECT_EQ(backend->refresh_keep_alive(), 0u);
    EXPECT_EQ(posts_of_llama(), 2u);
    EXPECT_FALSE(fake.is_loaded("llama3:8b"));
}

TEST_F(OllamaBackendTest, AnUnloadDuringARefreshOfItsModelIsSentAfterTheRefreshIsAnswered) {
    // Ollama queues a keep_alive request behind a busy scheduler but may take keep_alive 0 at once: a refresh answered
    // after the unload would load the model again behind the host's back. The unload waits for the refresh.
    auto backend = make_backend(host, base_url_yaml() + "keep_alive_refresh_ms: 0");
    (void)backend->load(model("llama3:8b"), kNeverCancel);
    fake.hold_loads();
    std::thread refresher([&] { (void)backend->refresh_keep_alive(); });
    ASSERT_TRUE(test::poll_until([&] { return fake.loads_held() == 1; }, std::chrono::seconds(5)));
    std::thread unloader([&] { backend->unload(model("llama3:8b")); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(fake.received_unload_of("llama3:8b")) << "keep_alive 0 sent while the refresh was still in flight";
    fake.release_held_loads();
    refresher.join();
    unloader.join();
    EXPECT_TRUE(fake.received_unload_of("llama3:8b"));
    EXPECT_FALSE(fake.is_loaded("llama3:8b")) << "the refresh brought the unloaded model back";
    EXPECT_EQ(backend->refresh_keep_alive(), 0u);
}

TEST_F(OllamaBackendTest, ConstructionContactsNoServer) {
    auto backend = make_backend(host, base_url_yaml());
    EXPECT_TRUE(fake.requests().empty());
}

TEST(SharedServerModels, ATakeOutAfterAFailedLoadHoldsBackALoadOfAnotherNameUntilTheServerAnswered) {
    // The failed load's take-out is an unload in flight from the moment the load is dropped: a load of another catalog
    // name mapped to the same server model must not reach the server before it, or the take-out unloads that load.
    backend::SharedServerModels holders;
    bool others_held = false;
    ASSERT_TRUE(holders.begin_load("llama3:8b", "chat/a", kNeverCancel, others_held));
    ASSERT_TRUE(holders.load_failed("llama3:8b", "chat/a", /*cleaning_up=*/true));
    std::atomic<bool> started{false};
    std::thread other([&] {
        bool held = false;
        EXPECT_TRUE(holders.begin_load("llama3:8b", "chat/b", kNeverCancel, held));
        started = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(started.load()) << "the other name's load started before the take-out was answered";
    holders.unload_finished("llama3:8b");
    other.join();
    EXPECT_TRUE(started.load());
    EXPECT_EQ(holders.holders("llama3:8b"), std::vector<std::string>{"chat/b"});
}

TEST(OllamaBackendParams, BadParamsAreRefusedWithTheirKeyPath) {
    test::PluginTestHost host;
    const std::pair<const char*, const char*> cases[] = {
        {"base_url: ftp://host", "params.base_url: 'ftp://host': the scheme must be http:// or https://"},
        {"base_url: http://host:70000", "params.base_url: 'http://host:70000': the port must be"},
        {"base_url: 'http://:8080'", "params.base_url: 'http://:8080': no host"},
        {"base_url: http://host/x?y=1", "params.base_url: 'http://host/x?y=1': user info"},
        {"keep_alive: soon", "params.keep_alive: 'soon' is neither"},
        {"keep_alive: 5x", "params.keep_alive: '5x' is neither"},
        {"keep_alive: 0", "params.keep_alive: '0' would make Ollama unload"},
        {"keep_alive: 0m", "params.keep_alive: '0m' would make Ollama unload"},
        {"connect_timeout_ms: 0", "params.connect_timeout_ms: 0 is outside"},
        {"load_timeout_ms: soon", "params.load_timeout_ms: expected an integer"},
        {"unload_timeout_ms: -5", "params.unload_timeout_ms: -5 is outside"},
        {"memory_report: rss", "params.memory_report: 'rss' is not one of: size, size_vram"},
        {"keep_alive_refresh_ms: -1", "params.keep_alive_refresh_ms: -1 is outside"},
        {"model_names: [a, b]", "params.model_names: expected a mapping"},
        {"model_names: {'chat/*': ''}",
         "params.model_names.chat/*: expected an Ollama model name (a non-empty string)"},
        {"model_names: {'chat/*': [x]}",
         "params.model_names.chat/*: expected an Ollama model name (a non-empty string)"},
        {"base_urll: http://x", "params.base_urll: unknown parameter"},
    };
    for (const auto& [yaml, expected] : cases) {
        const std::string message =
            error_message([&] { (void)make_backend(host, yaml); }, WARMUP_ERROR_INVALID_ARGUMENT);
        EXPECT_EQ(message.rfind(expected, 0), 0u) << "yaml: " << yaml << "\nmessage: " << message;
    }
}

TEST(OllamaBackendParams, BaseUrlDefaultsToOllamaPort) {
    test::PluginTestHost host;
    // Nothing listens on that port: the load fails, and its message shows the URL the backend derived from base_url
    // (the trailing slash dropped).
    const std::string url = "http://127.0.0.1:" + std::to_string(closed_loopback_port()) + "/ollama";
    auto backend = make_backend(host, "base_url: " + url + "/");
    const std::string message =
        error_message([&] { (void)backend->load(host.info(host.model("m")), kNeverCancel); }, WARMUP_ERROR_UNAVAILABLE);
    EXPECT_NE(message.find(url + ": load of model 'm': cannot reach the server"), std::string::npos) << message;
    EXPECT_EQ(sdk::parse_http_base_url("http://localhost", "k", 11434).url, "http://localhost:11434");
}

TEST(OllamaBackendParams, GoDurationGrammar) {
    for (const char* good : {"0", "5m", "1h30m", "-1m", "+2h", "2.5s", "300ms", ".5h", "10us", "1h0m0s"})
        EXPECT_TRUE(is_go_duration(good)) << good;
    for (const char* bad : {"", "-", "5", "m", "1x", "5m3", "1.h.m", "1 h", "h5"})
        EXPECT_FALSE(is_go_duration(bad)) << bad;
}

}  // namespace
}  // namespace warmup::plugins
