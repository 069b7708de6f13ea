// The readiness probe of the HTTP API, in process: GET /readyz answers 503 "starting" while the plugins are loaded
// but the control loop and the state restore have not run, 200 "ready" once the daemon marks it ready, and 503
// "stopping" after mark_stopping() while every other route is still served. (warmupd itself serves only after the
// restore, so "starting" cannot be seen from outside it; tests/e2e/warmupd_service_test.cpp checks the daemon's
// wiring of "ready" and "stopping".)
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "live_runtime_test_fixture.hpp"

namespace warmup::host {
namespace {

using test::config_text;
using test::TempDir;

using json = nlohmann::json;

std::pair<int, json> get(httplib::Client& client, const std::string& path) {
    const auto result = client.Get(path);
    if (!result) return {0, nullptr};
    return {result->status, json::parse(result->body, nullptr, false)};
}

TEST(Readiness, StartingThenReadyThenStopping) {
    warmup::test::TempDir dir("warmup-readiness");
    // State kept in the temp folder, so "ready" comes after a real (empty) restore.
    LiveRuntime runtime(load_config_text(config_text(1.0, 1, "state: {dir: state}\n"), "ready.yaml", dir.path(), {}));
    // The plugins are loaded now; nothing is started.
    HttpApi api(runtime);
    const int port = api.bind("127.0.0.1", 0);
    api.start();
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(10);

    EXPECT_EQ(get(client, "/readyz"), std::make_pair(503, json{{"status", "starting"}}));
    EXPECT_EQ(get(client, "/healthz").first, 200);  // alive, just not ready

    runtime.start();
    runtime.start_state_keeping();
    ASSERT_NE(runtime.state_store(), nullptr);
    EXPECT_EQ(get(client, "/readyz").first, 503) << "ready before the daemon said so";
    api.mark_ready();
    EXPECT_EQ(get(client, "/readyz"), std::make_pair(200, json{{"status", "ready"}}));

    api.mark_stopping();
    EXPECT_EQ(get(client, "/readyz"), std::make_pair(503, json{{"status", "stopping"}}));
    EXPECT_EQ(get(client, "/healthz").first, 200);
    EXPECT_EQ(get(client, "/api/warmup/status").first, 200);  // still served until the API stops
    // HEAD follows GET (load balancers often probe with HEAD).
    const auto head = client.Head("/readyz");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 503);

    api.stop();
    runtime.stop();
}

}  // namespace
}  // namespace warmup::host
