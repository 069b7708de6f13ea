// A resource plugin learns how many requests each use served (ABI 1.4, warmup_resource_vtable.on_used_requests): the
// requests of a usage event served warm, and those that waited for the load that just finished. A plugin built against
// ABI 1.3, whose table ends before that entry, is called on_used once per use, as before.
#include <gtest/gtest.h>

#include <string>

#include "counting_resource.h"
#include "manual_engine.hpp"

namespace warmup {
namespace {

test::ManualEngineSetup counting_setup(const std::string& plugin_id) {
    test::ManualEngineSetup setup;
    setup.components["resource"] = "{plugin: " + plugin_id + "}";
    setup.components["predictor"] = "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: never}}";
    setup.catalog = {"{model: '*', memory_mb: 1000, load_ms: 1000}"};
    setup.options.memory_budget_mb = 10'000;
    setup.options.max_concurrent_loads = 2;
    return setup;
}

const counting_resource& counts_of(const test::ManualEngine& engine) {
    return *static_cast<const counting_resource*>(engine.components().resource.self);
}

TEST(UsedRequests, TheResourceHearsTheRequestsOfEachUse) {
    test::ManualEngine engine(counting_setup("org.warmup.test.counting-resource"));
    EXPECT_EQ(engine.components().resource.vtable->struct_size, sizeof(warmup_resource_vtable));
    engine.request("a", 0, 3);  // a demand load; then 4 more requests wait for it
    engine.request("a", 200, 4);
    EXPECT_EQ(counts_of(engine).uses, 0u);
    engine.complete_next_load(1000);  // the 7 waiting requests are served: one use of 7
    EXPECT_EQ(counts_of(engine).uses, 1u);
    EXPECT_EQ(counts_of(engine).requests, 7u);
    engine.request("a", 2000, 5);  // served warm
    engine.request("a", 2500);
    EXPECT_EQ(counts_of(engine).uses, 3u);
    EXPECT_EQ(counts_of(engine).requests, 13u);
    EXPECT_EQ(counts_of(engine).on_used_calls, 0u);  // on_used_requests instead
}

TEST(UsedRequests, AResourceBuiltAgainstAbi13IsCalledOnUsed) {
    test::ManualEngine engine(counting_setup("org.warmup.test.counting-resource-abi-1-3"));
    EXPECT_EQ(engine.components().resource.vtable->struct_size, offsetof(warmup_resource_vtable, on_used_requests));
    engine.request("a", 0, 3);
    engine.request("a", 200, 4);
    engine.complete_next_load(1000);
    engine.request("a", 2000, 5);
    engine.request("a", 2500);
    // One call per use, whatever the requests: the host reads nothing past the plugin's table.
    EXPECT_EQ(counts_of(engine).on_used_calls, 3u);
    EXPECT_EQ(counts_of(engine).uses, 3u);
    EXPECT_EQ(counts_of(engine).requests, 3u);
    EXPECT_EQ(engine.engine().counters().plugin_errors, 0u);
}

}  // namespace
}  // namespace warmup
