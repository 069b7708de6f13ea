// warmup-replay --nodes: the fleet replay (host/replay/fleet_replay.hpp) on the AI IDE scenario's first day.
#include "replay/fleet_replay.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "config/config.hpp"
#include "replay/replay_driver.hpp"

namespace warmup::host::replay {
namespace {

Config scenario_config() {
    return load_config_file(std::string(WARMUP_TEST_SOURCE_DIR) + "/configs/bench/synth-ai-ide-medium.yaml",
                            WARMUP_TEST_BIN_DIR);
}

ReplayOptions first_day() {
    ReplayOptions options;
    options.traces = {"synth:" + std::string(WARMUP_TEST_SOURCE_DIR) + "/configs/scenarios/ai-ide.yaml"};
    options.to_ms = 24 * 3'600'000;
    return options;
}

TEST(FleetReplay, OneNodeIsTheSingleNodeReplayOfTheTopLevelComponents) {
    const Config config = scenario_config();
    ReplayOptions single = first_day();
    single.only_arms = {"control"};
    const ReplayReport alone = run_replay(config, single);
    // The configured "control" arm (the frontier's keep-alive curve arms run beside it).
    const auto control =
        std::find_if(alone.arms.begin(), alone.arms.end(), [](const auto& arm) { return arm.name == "control"; });
    ASSERT_NE(control, alone.arms.end());
    FleetReplayOptions fleet;
    fleet.nodes = 1;
    const FleetReplayReport one = run_fleet_replay(config, first_day(), fleet);
    EXPECT_EQ(one.requests, alone.requests);
    EXPECT_EQ(one.cold_requests, control->cold_requests);
    EXPECT_DOUBLE_EQ(one.budget_mb, alone.budget_mb);
    EXPECT_NEAR(one.per_node[0].loaded_gb_h, control->loaded_gb_h, 1e-9);
}

TEST(FleetReplay, NodesShareTheBudgetAndEveryRequestIsServedOnce) {
    const Config config = scenario_config();
    FleetReplayOptions fleet;
    fleet.nodes = 3;
    const FleetReplayReport report = run_fleet_replay(config, first_day(), fleet);
    ASSERT_EQ(report.per_node.size(), 3U);
    uint64_t requests = 0;
    std::size_t owned = 0;
    for (const auto& node : report.per_node) {
        EXPECT_DOUBLE_EQ(node.budget_mb, report.budget_mb / 3);
        EXPECT_GT(node.models_owned, 0U) << node.id;
        // Memory never exceeds the node's own budget (the engine's hard budget, per node).
        EXPECT_LE(node.mean_resident_mb, node.budget_mb) << node.id;
        requests += node.requests;
        owned += node.models_owned;
    }
    EXPECT_EQ(requests, report.requests);
    EXPECT_EQ(owned, report.models);
    EXPECT_EQ(report.placed_over_bound, 0U);
    // Deterministic: the same run gives the same numbers.
    const FleetReplayReport again = run_fleet_replay(config, first_day(), fleet);
    EXPECT_EQ(again.cold_requests, report.cold_requests);
}

TEST(FleetReplay, DroppingANodeMovesItsModelsWithTheirStateAndCountsTheCost) {
    const Config config = scenario_config();
    FleetReplayOptions fleet;
    fleet.nodes = 3;
    const FleetReplayReport before = run_fleet_replay(config, first_day(), fleet);
    fleet.drop_node = "node-1";
    fleet.drop_at_ms = 12 * 3'600'000;
    const FleetReplayReport report = run_fleet_replay(config, first_day(), fleet);
    ASSERT_TRUE(report.drop.has_value());
    const auto& drop = *report.drop;
    EXPECT_EQ(drop.moved_from_dropped, before.per_node[1].models_owned);
    EXPECT_EQ(drop.models_moved, drop.moved_from_dropped + drop.moved_between_survivors);
    EXPECT_LE(drop.moved_between_survivors, 2U);
    EXPECT_GT(drop.states_moved, 0U);
    EXPECT_GT(drop.state_bytes_moved, 0U);
    EXPECT_GT(drop.moved_requests_after, 0U);
    EXPECT_LE(drop.moved_cold_after, drop.moved_requests_after);
    EXPECT_EQ(report.per_node[1].models_owned, 0U);
    EXPECT_EQ(report.per_node[1].dropped_at_ms, fleet.drop_at_ms);
    EXPECT_EQ(report.per_node[0].models_owned + report.per_node[2].models_owned, report.models);
    uint64_t requests = 0;
    for (const auto& node : report.per_node) requests += node.requests;
    EXPECT_EQ(requests, report.requests);
    // A node that is not in the fleet, or a drop after the trace, is refused with the reason.
    fleet.drop_node = "node-7";
    EXPECT_THROW(run_fleet_replay(config, first_day(), fleet), std::invalid_argument);
    fleet.drop_node = "node-1";
    fleet.drop_at_ms = 30LL * 24 * 3'600'000;
    EXPECT_THROW(run_fleet_replay(config, first_day(), fleet), std::invalid_argument);
}

}  // namespace
}  // namespace warmup::host::replay
