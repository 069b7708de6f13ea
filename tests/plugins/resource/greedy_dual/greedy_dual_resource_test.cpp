#include "greedy_dual_resource.hpp"

#include <gtest/gtest.h>

#include "plugin_library_check.hpp"
#include "plugin_test_host.hpp"

namespace warmup::plugins {
namespace {

GreedyDualResource make_policy(test::PluginTestHost& host, const std::string& yaml = "") {
    sdk::Params params(yaml);
    return GreedyDualResource(host.host(), params);
}

// priority = clock + frequency x load_ms / memory_mb, all hand-computed below.
TEST(GreedyDualResource, PrioritiesAndClockInflation) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto a = host.model("a"), b = host.model("b"), c = host.model("c"), d = host.model("d");
    policy.on_ready(a, 1000, 2000, 10);  // 0 + 1 x 2000/1000 = 2
    policy.on_ready(b, 500, 3000, 20);   // 0 + 1 x 3000/500  = 6
    policy.on_ready(c, 2000, 1000, 30);  // 0 + 1 x 1000/2000 = 0.5
    EXPECT_DOUBLE_EQ(policy.priority_of(a), 2.0);
    EXPECT_DOUBLE_EQ(policy.priority_of(b), 6.0);
    EXPECT_DOUBLE_EQ(policy.priority_of(c), 0.5);

    ASSERT_EQ(policy.pick_victim(40), c);
    policy.on_removed(c, 40);
    EXPECT_DOUBLE_EQ(policy.clock(), 0.5);

    policy.on_used(a, 50);  // frequency 2: 0.5 + 2 x 2 = 4.5
    EXPECT_EQ(policy.frequency_of(a), 2u);
    EXPECT_DOUBLE_EQ(policy.priority_of(a), 4.5);

    ASSERT_EQ(policy.pick_victim(60), a);  // 4.5 < 6
    policy.on_removed(a, 60);
    EXPECT_DOUBLE_EQ(policy.clock(), 4.5);

    policy.on_ready(d, 1000, 1000, 70);  // 4.5 + 1 x 1 = 5.5: a fresh model starts from the inflated clock
    EXPECT_DOUBLE_EQ(policy.priority_of(d), 5.5);
    EXPECT_EQ(policy.pick_victim(80), d);  // still below b's 6, which has not been used since the clock was 0
    policy.on_used(b, 90);                 // 4.5 + 2 x 6 = 16.5
    EXPECT_DOUBLE_EQ(policy.priority_of(b), 16.5);
    EXPECT_EQ(policy.pick_victim(100), d);
}

TEST(GreedyDualResource, RemovalNotChosenByPickVictimKeepsClock) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto a = host.model("a"), b = host.model("b");
    policy.on_ready(a, 1000, 2000, 1);  // 2
    policy.on_ready(b, 1000, 4000, 2);  // 4
    policy.on_removed(b, 3);            // a planned unload, not an eviction
    EXPECT_DOUBLE_EQ(policy.clock(), 0.0);
    ASSERT_EQ(policy.pick_victim(4), a);
    policy.on_removed(a, 4);
    EXPECT_DOUBLE_EQ(policy.clock(), 2.0);
    EXPECT_EQ(policy.pick_victim(5), WARMUP_NO_MODEL);
}

TEST(GreedyDualResource, PickedVictimRemovedLaterStillInflatesOnlyOnce) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto a = host.model("a"), b = host.model("b");
    policy.on_ready(a, 1000, 2000, 1);  // 2
    policy.on_ready(b, 1000, 8000, 2);  // 8
    ASSERT_EQ(policy.pick_victim(3), a);
    policy.on_removed(b, 3);  // the host removed something else first: no inflation
    EXPECT_DOUBLE_EQ(policy.clock(), 0.0);
    policy.on_removed(a, 4);
    EXPECT_DOUBLE_EQ(policy.clock(), 2.0);
}

TEST(GreedyDualResource, FrequencyRestartsAfterEviction) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto a = host.model("a");
    policy.on_ready(a, 1000, 2000, 1);
    policy.on_used(a, 2);
    policy.on_used(a, 3);
    EXPECT_EQ(policy.frequency_of(a), 3u);
    policy.on_removed(a, 4);
    EXPECT_EQ(policy.frequency_of(a), 0u);
    policy.on_ready(a, 1000, 2000, 5);
    EXPECT_EQ(policy.frequency_of(a), 1u);
    EXPECT_DOUBLE_EQ(policy.priority_of(a), 2.0);
}

TEST(GreedyDualResource, TiesGoToLeastRecentlyUsedThenLowestIndex) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto a = host.model("a"), b = host.model("b"), c = host.model("c");
    policy.on_ready(c, 1000, 2000, 5);  // all priority 2
    policy.on_ready(b, 1000, 2000, 5);
    policy.on_ready(a, 1000, 2000, 9);
    EXPECT_EQ(policy.pick_victim(10), b);  // b and c used at 5, b has the lower index; a is more recent
    policy.on_removed(c, 10);              // not the picked one
    EXPECT_EQ(policy.pick_victim(11), b);
}

TEST(GreedyDualResource, MissingLoadTimeFallsBackToCatalog) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto a = host.model("a");
    policy.on_ready(a, 500, 0, 1);  // catalog load_ms = 2000: 2000 / 500 = 4
    EXPECT_DOUBLE_EQ(policy.priority_of(a), 4.0);
}

TEST(GreedyDualResource, SharesAdmissionRules) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "prewarm_may_evict: false");
    warmup_admission_request request{sizeof(warmup_admission_request), 0, 0, 300, 0, 1000, 0};
    warmup_admission out{};
    out.struct_size = sizeof out;
    policy.admit(request, out);
    EXPECT_EQ(out.admit, 1u);
    EXPECT_EQ(out.may_evict, 0u);
}

TEST(GreedyDualResource, ManyModelsEvictInPriorityOrder) {
    // Heap invariants under many updates: evicting everything must yield non-decreasing priorities.
    test::PluginTestHost host;
    auto policy = make_policy(host);
    std::vector<warmup_model_index> models;
    for (int i = 0; i < 200; ++i) {
        std::string name = "m";  // appended: GCC 12 warns falsely (-Wrestrict) on "m" + std::string
        name += std::to_string(i);
        models.push_back(host.model(name));
        policy.on_ready(models.back(), 100 + (i * 37) % 900, 500 + (i * 91) % 4000, i);
    }
    for (int i = 0; i < 400; ++i) policy.on_used(models[(i * 53) % 200], 1000 + i);
    double previous = -1;
    for (int i = 0; i < 200; ++i) {
        const warmup_model_index victim = policy.pick_victim(5000);
        ASSERT_NE(victim, WARMUP_NO_MODEL);
        const double priority = policy.priority_of(victim);
        EXPECT_GE(priority, previous);
        previous = priority;
        policy.on_removed(victim, 5000);
    }
    EXPECT_EQ(policy.pick_victim(6000), WARMUP_NO_MODEL);
}

}  // namespace
}  // namespace warmup::plugins

// The built library, opened as the host opens it (plugin_library_check.hpp).
INSTANTIATE_TEST_SUITE_P(MechanicsPlugins, PluginLibrary,
                         ::testing::Values(warmup::test::PluginLibraryExpectation{
                             "greedy_dual_resource.so", "org.warmup.resource.greedy-dual", WARMUP_KIND_RESOURCE}),
                         warmup::test::plugin_library_test_name);
