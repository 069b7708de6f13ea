#include "lru_resource.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "plugin_library_check.hpp"
#include "plugin_test_host.hpp"
#include "test_support.hpp"

namespace warmup::plugins {
namespace {

using Order = std::vector<warmup_model_index>;

LruResource make_policy(test::PluginTestHost& host, const std::string& yaml = "") {
    sdk::Params params(yaml);
    return LruResource(host.host(), params);
}

warmup_admission admit(LruResource& policy, double memory_mb, double budget_mb, bool demand) {
    warmup_admission_request request{sizeof(warmup_admission_request), 0, 7, memory_mb, 0, budget_mb, demand ? 1u : 0u};
    warmup_admission out{};
    out.struct_size = sizeof out;
    policy.admit(request, out);
    return out;
}

TEST(LruResource, UseMovesModelToMostRecentEnd) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto a = host.model("a"), b = host.model("b"), c = host.model("c");
    policy.on_ready(a, 1000, 2000, 1);
    policy.on_ready(b, 1000, 2000, 2);
    policy.on_ready(c, 1000, 2000, 3);
    policy.on_used(a, 4);
    EXPECT_EQ(policy.order_least_recent_first(), (Order{b, c, a}));
    policy.on_used(c, 5);
    EXPECT_EQ(policy.order_least_recent_first(), (Order{b, a, c}));
}

TEST(LruResource, VictimIsLeastRecentAndRemovalAdvancesIt) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto a = host.model("a"), b = host.model("b"), c = host.model("c");
    EXPECT_EQ(policy.pick_victim(0), WARMUP_NO_MODEL);
    policy.on_ready(a, 1000, 2000, 1);
    policy.on_ready(b, 1000, 2000, 2);
    policy.on_ready(c, 1000, 2000, 3);
    policy.on_used(a, 4);
    EXPECT_EQ(policy.pick_victim(5), b);
    policy.on_removed(b, 5);
    EXPECT_EQ(policy.pick_victim(6), c);
    policy.on_removed(a, 6);  // removing a middle or last element keeps the list intact
    EXPECT_EQ(policy.order_least_recent_first(), (Order{c}));
    policy.on_removed(c, 7);
    EXPECT_EQ(policy.pick_victim(8), WARMUP_NO_MODEL);
}

TEST(LruResource, UnknownModelsAreIgnored) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto a = host.model("a"), b = host.model("b");
    policy.on_ready(a, 1000, 2000, 1);
    policy.on_used(b, 2);     // never ready
    policy.on_removed(b, 3);  // never ready
    policy.on_removed(500, 3);
    EXPECT_EQ(policy.order_least_recent_first(), (Order{a}));
}

TEST(LruResource, NoHostLimitKeepsConfiguredBudget) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "reserve_mb: 100");
    EXPECT_DOUBLE_EQ(policy.effective_budget_mb(5000), 5000);
}

TEST(LruResource, CgroupLimitMinusReserveCapsBudget) {
    test::PluginTestHost host;
    const test::TempDir limit_dir("lru-host-limit");
    const std::string limit = limit_dir.write("memory.max", "2147483648\n");  // 2 GiB = 2048 MiB
    auto policy = make_policy(host, "host_limit: cgroup\nreserve_mb: 48\ncgroup_memory_max_path: " + limit);
    EXPECT_DOUBLE_EQ(policy.effective_budget_mb(4000), 2000);
    EXPECT_DOUBLE_EQ(policy.effective_budget_mb(1500), 1500);
}

TEST(LruResource, CgroupMaxMeansUnlimited) {
    test::PluginTestHost host;
    const test::TempDir limit_dir("lru-host-limit");
    const std::string limit = limit_dir.write("memory.max", "max\n");
    auto policy = make_policy(host, "host_limit: cgroup\ncgroup_memory_max_path: " + limit);
    EXPECT_DOUBLE_EQ(policy.effective_budget_mb(123456), 123456);
}

TEST(LruResource, MeminfoTotalMinusReserveCapsBudget) {
    test::PluginTestHost host;
    const test::TempDir meminfo_dir("lru-host-limit");
    const std::string meminfo =
        meminfo_dir.write("meminfo", "MemFree:  100 kB\nMemTotal:       8388608 kB\nBuffers: 1 kB\n");  // 8192 MiB
    auto policy = make_policy(host, "host_limit: meminfo\nreserve_mb: 192\nmeminfo_path: " + meminfo);
    EXPECT_DOUBLE_EQ(policy.effective_budget_mb(9000), 8000);
}

TEST(LruResource, UnreadableHostLimitIsAConfigurationError) {
    test::PluginTestHost host;
    try {
        make_policy(host, "host_limit: cgroup\ncgroup_memory_max_path: /nonexistent/memory.max");
        FAIL() << "expected InvalidArgument";
    } catch (const sdk::Error& error) {
        EXPECT_EQ(error.code(), WARMUP_ERROR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(error.what()).find("params.host_limit"), std::string::npos);
        EXPECT_NE(std::string(error.what()).find("/nonexistent/memory.max"), std::string::npos);
    }
    const test::TempDir garbage_dir("lru-host-limit");
    const std::string garbage = garbage_dir.write("memory.max-garbage", "lots\n");
    EXPECT_THROW(make_policy(host, "host_limit: cgroup\ncgroup_memory_max_path: " + garbage), sdk::Error);
}

TEST(LruResource, DemandAlwaysAdmittedWithEviction) {
    test::PluginTestHost host;
    auto policy = make_policy(host, "prewarm_may_evict: false");
    const auto out = admit(policy, 5000, 1000, true);  // even larger than the budget: a request is waiting
    EXPECT_EQ(out.admit, 1u);
    EXPECT_EQ(out.may_evict, 1u);
}

TEST(LruResource, PrewarmEvictionFollowsParam) {
    test::PluginTestHost host;
    auto evicting = make_policy(host);
    EXPECT_EQ(admit(evicting, 500, 1000, false).may_evict, 1u);
    auto polite = make_policy(host, "prewarm_may_evict: false");
    const auto out = admit(polite, 500, 1000, false);
    EXPECT_EQ(out.admit, 1u);
    EXPECT_EQ(out.may_evict, 0u);
}

TEST(LruResource, PrewarmLargerThanBudgetRefusedWithReason) {
    test::PluginTestHost host;
    auto policy = make_policy(host);
    const auto out = admit(policy, 1500, 1000, false);
    EXPECT_EQ(out.admit, 0u);
    const std::string reason(out.reason.data, out.reason.size);
    EXPECT_NE(reason.find("pre-warm"), std::string::npos) << reason;
    EXPECT_NE(reason.find("1500.0 MiB"), std::string::npos) << reason;
    EXPECT_NE(reason.find("1000.0 MiB"), std::string::npos) << reason;
}

}  // namespace
}  // namespace warmup::plugins

// The built library, opened as the host opens it (plugin_library_check.hpp).
INSTANTIATE_TEST_SUITE_P(MechanicsPlugins, PluginLibrary,
                         ::testing::Values(warmup::test::PluginLibraryExpectation{
                             "lru_resource.so", "org.warmup.resource.lru", WARMUP_KIND_RESOURCE}),
                         warmup::test::plugin_library_test_name);
