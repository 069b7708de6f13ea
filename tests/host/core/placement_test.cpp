// The fleet's placement (host/core/placement.hpp): deterministic, bounded, weighted, and moving little when a node
// leaves.
#include "core/placement.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace warmup::host::cluster {
namespace {

std::vector<PlacementModel> models(std::size_t count, double memory_mb = 1000) {
    std::vector<PlacementModel> out;
    for (std::size_t i = 0; i < count; ++i) out.push_back({"model-" + std::to_string(i), memory_mb, 1});
    return out;
}

std::vector<PlacementNode> nodes(std::size_t count, double budget_mb = 16000) {
    std::vector<PlacementNode> out;
    for (std::size_t i = 0; i < count; ++i) out.push_back({"node-" + std::to_string(i), budget_mb});
    return out;
}

std::map<std::string, std::vector<std::string>> owners(const Placement& placement,
                                                       const std::vector<PlacementModel>& placed) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& model : placed) out[model.name] = placement.owners_of(model.name);
    return out;
}

TEST(Placement, SameMembershipInAnyOrderGivesTheSameOwners) {
    auto placed = models(500);
    auto members = nodes(5);
    const Placement first = Placement::compute(members, placed);
    std::mt19937 shuffle(7);
    for (int round = 0; round < 5; ++round) {
        std::shuffle(placed.begin(), placed.end(), shuffle);
        std::shuffle(members.begin(), members.end(), shuffle);
        const Placement again = Placement::compute(members, placed);
        EXPECT_TRUE(again == first);
        EXPECT_EQ(owners(again, placed), owners(first, placed));
    }
}

TEST(Placement, ScoresMatchAnIndependentComputationSoEveryBuildAgrees) {
    // The score is part of the fleet's contract: nodes of different builds must agree on owners. The expected values
    // were computed apart from this code (a few lines of Python: FNV-1a 64 of model, 0xff, node id; SplitMix64
    // finaliser; u = ((h >> 11) + 0.5) / 2^53; score = budget / -ln u).
    EXPECT_NEAR(rendezvous_score("llama3:8b", "node-a", 1.0), 4.514579148320605, 1e-12);
    EXPECT_NEAR(rendezvous_score("llama3:8b", "node-b", 1.0), 1.2300106500380548, 1e-12);
    EXPECT_NEAR(rendezvous_score("phi3:mini", "node-c", 1.0), 1.905855523177733, 1e-12);
    // The budget scales the score linearly; a node without budget is never preferred.
    EXPECT_NEAR(rendezvous_score("llama3:8b", "node-a", 3.0), 3 * 4.514579148320605, 1e-11);
    EXPECT_EQ(rendezvous_score("x", "node-a", 0), -std::numeric_limits<double>::infinity());
}

TEST(Placement, EveryNodeStaysWithinItsBoundAndSharesFollowBudgets) {
    const auto placed = models(3000, 100);
    const std::vector<PlacementNode> members{{"big", 32000}, {"mid", 16000}, {"small", 8000}};
    const PlacementOptions options{0.25};
    const Placement placement = Placement::compute(members, placed, options);
    EXPECT_EQ(placement.over_bound(), 0U);
    double total = 0;
    for (std::size_t i = 0; i < placement.nodes().size(); ++i) {
        EXPECT_LE(placement.assigned_mb(i), placement.bound_mb(i) + 1e-6) << placement.nodes()[i].id;
        total += placement.assigned_mb(i);
    }
    EXPECT_DOUBLE_EQ(total, 3000 * 100.0);
    // Shares roughly follow the budgets (4:2:1): the big node carries more than the mid one, the mid more than the
    // small one, and none more than its bound of 125 % of its share.
    const auto share = [&](const std::string& id) {
        for (std::size_t i = 0; i < placement.nodes().size(); ++i)
            if (placement.nodes()[i].id == id) return placement.assigned_mb(i) / total;
        return -1.0;
    };
    EXPECT_GT(share("big"), share("mid"));
    EXPECT_GT(share("mid"), share("small"));
    EXPECT_LE(share("big"), 1.25 * 4.0 / 7.0 + 1e-9);
    EXPECT_GT(share("small"), 0.5 * 1.0 / 7.0);
}

TEST(Placement, ABoundedNodeSpillsToItsNextPreference) {
    // Two models of 600 MiB and one node with a bound far below its unbounded share would take both: the bound makes
    // the second one go to the other node.
    const std::vector<PlacementModel> placed{{"a", 600, 1}, {"b", 600, 1}, {"c", 600, 1}, {"d", 600, 1}};
    const std::vector<PlacementNode> members{{"n1", 1000}, {"n2", 1000}};
    const Placement placement = Placement::compute(members, placed, PlacementOptions{0.0});
    for (std::size_t i = 0; i < 2; ++i) EXPECT_DOUBLE_EQ(placement.assigned_mb(i), 1200);
}

TEST(Placement, WhenANodeLeavesItsModelsMoveAndFewOthersDo) {
    const auto placed = models(2000, 100);
    const auto members = nodes(4);
    const Placement before = Placement::compute(members, placed);
    std::vector<PlacementNode> survivors(members.begin(), members.end());
    survivors.erase(survivors.begin() + 2);  // node-2 leaves
    const Placement after = Placement::compute(survivors, placed);
    std::size_t moved_from_leaver = 0, moved_others = 0;
    for (const auto& model : placed) {
        const auto was = before.owners_of(model.name).front();
        const auto now = after.owners_of(model.name).front();
        EXPECT_NE(now, "node-2");
        if (was == "node-2")
            ++moved_from_leaver;
        else if (was != now)
            ++moved_others;
    }
    EXPECT_GT(moved_from_leaver, 0U);
    // Plain rendezvous moves none of the others; the bound may push a few (a model whose preferred node filled up
    // with the leaver's models). At most 5 % of all models.
    EXPECT_LE(moved_others, placed.size() / 20) << moved_others << " models moved between surviving nodes";
}

TEST(Placement, ANodeThatRejoinsTakesBackWhatItHad) {
    const auto placed = models(1000, 100);
    const auto members = nodes(3);
    const Placement full = Placement::compute(members, placed);
    const std::vector<PlacementNode> two{members[0], members[2]};
    const Placement without = Placement::compute(two, placed);
    const Placement rejoined = Placement::compute(members, placed);
    EXPECT_TRUE(rejoined == full);
    EXPECT_FALSE(without == full);
}

TEST(Placement, ReplicasAreDistinctNodesWithThePrimaryFirst) {
    std::vector<PlacementModel> placed = models(50, 100);
    placed.push_back({"hot", 100, 3});
    const auto members = nodes(4);
    const Placement placement = Placement::compute(members, placed);
    const auto hot = placement.owners_of("hot");
    ASSERT_EQ(hot.size(), 3U);
    EXPECT_NE(hot[0], hot[1]);
    EXPECT_NE(hot[1], hot[2]);
    EXPECT_NE(hot[0], hot[2]);
    // More replicas than nodes: one per node.
    placed.back().replicas = 9;
    EXPECT_EQ(Placement::compute(members, placed).owners_of("hot").size(), 4U);
    EXPECT_EQ(placement.owners_of("model-1").size(), 1U);
}

TEST(Placement, ReplicasFollowDemand) {
    EXPECT_EQ(replicas_for_demand(5, 0, 3), 1U);     // no capacity configured: never replicated
    EXPECT_EQ(replicas_for_demand(5, 10, 3), 1U);    // one node carries it
    EXPECT_EQ(replicas_for_demand(25, 10, 3), 3U);   // ceil(2.5)
    EXPECT_EQ(replicas_for_demand(250, 10, 3), 3U);  // at most one per node
    EXPECT_EQ(replicas_for_demand(25, 10, 0), 1U);
}

TEST(Placement, AModelOutsideThePlacementGoesToItsMostPreferredNode) {
    const auto members = nodes(3);
    const Placement placement = Placement::compute(members, models(10));
    const auto owners_of_new = placement.owners_of("never-seen");
    ASSERT_EQ(owners_of_new.size(), 1U);
    std::string best;
    double best_score = -1;
    for (const auto& node : members) {
        const double score = rendezvous_score("never-seen", node.id, node.budget_mb);
        if (score > best_score) best_score = score, best = node.id;
    }
    EXPECT_EQ(owners_of_new.front(), best);
    EXPECT_TRUE(Placement::compute({}, models(3)).owners_of("model-1").empty());
}

}  // namespace
}  // namespace warmup::host::cluster
