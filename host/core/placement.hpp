// core/placement.hpp — which node owns which model: weighted, bounded rendezvous hashing. Pure and deterministic,
// shared by warmupd's fleet (host/cluster/fleet_node.hpp) and warmup-replay --nodes (host/replay/fleet_replay.hpp), so
// a placement strategy compared offline is exactly the one that runs live.
//
// The rule, for a membership (node ids with memory budgets) and a model set (names, memory, wanted replicas):
//  1. Preference: every node scores each model with weighted rendezvous hashing, score = budget / -ln(u) where u in
//     (0, 1) is a 64-bit hash of (model, node id) (FNV-1a then the SplitMix64 finaliser: the same bytes on every
//     machine and compiler, never std::hash). Nodes are preferred by descending score (ties by id). Without the bound
//     below, a node gets a share of the models proportional to its budget, and removing a node moves only its models.
//  2. Bound: a node may carry at most (1 + load_slack) x its budget share of the total model memory (times replicas),
//     and never less than the largest model. Models are assigned largest first (ties by name), each to its most
//     preferred nodes that still have room; when no node has room (possible only through rounding), to the nodes
//     with the most room left, so every model always has an owner.
//  3. Replicas: a model whose predicted demand one node cannot carry gets `replicas` > 1 distinct owners (at most the
//     number of nodes), the first of them the primary.
//
// Guarantees the tests pin (tests/host/core/placement_test.cpp): the same inputs in any order give the same owners;
// no node's assigned memory exceeds its bound; when a node leaves, its models move and few others do.
//
// It lives in core, not beside the fleet in cluster/, because replay shares it and replay sits below the fleet
// (host/layers.cmake); the namespace keeps naming it the fleet's.
//
// Thread-safety: compute() is a pure function; a Placement is an immutable value, safe to read from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace warmup::host::cluster {

struct PlacementNode {
    std::string id;
    double budget_mb = 0;  ///< the node's memory budget: its weight (must be > 0)
};

struct PlacementModel {
    std::string name;
    double memory_mb = 1;   ///< the model's memory as the catalog says (its load on the owner)
    uint32_t replicas = 1;  ///< owners wanted (>= 1; capped at the number of nodes)
};

struct PlacementOptions {
    /// How far above its budget share a node may be loaded (0.25: at most 125 % of its share).
    double load_slack = 0.25;
};

/// The rendezvous score of `model` on a node with this id and budget (higher is preferred). Exposed for the tests.
double rendezvous_score(std::string_view model, std::string_view node_id, double budget_mb) noexcept;

/// Owners wanted for a model with `demand_rps` requests per second when one node carries `node_capacity_rps` of one
/// model (0 = no replicas): ceil(demand / capacity), at least 1, at most `nodes`.
uint32_t replicas_for_demand(double demand_rps, double node_capacity_rps, std::size_t nodes) noexcept;

class Placement {
  public:
    Placement() = default;

    /// The placement of `models` over `nodes` (see the rule above). Duplicate node ids or model names keep the first.
    /// Nodes with a budget <= 0 own nothing. No node: every model has no owner.
    static Placement compute(std::span<const PlacementNode> nodes, std::span<const PlacementModel> models,
                             const PlacementOptions& options = {});

    /// The owners of `model`, primary first. A model outside the computed set gets its most preferred node by plain
    /// weighted rendezvous (no bound): the node the next computation most likely assigns it to. Empty without nodes.
    [[nodiscard]] std::vector<std::string> owners_of(std::string_view model) const;
    /// True when `node_id` is one of the owners of `model`.
    [[nodiscard]] bool owns(std::string_view node_id, std::string_view model) const;

    /// The nodes, sorted by id.
    [[nodiscard]] const std::vector<PlacementNode>& nodes() const noexcept { return nodes_; }
    /// Every placed model with its owners (node indexes into nodes(), primary first).
    [[nodiscard]] const std::unordered_map<std::string, std::vector<uint32_t>>& assignment() const noexcept {
        return assignment_;
    }
    /// Memory assigned to node i (sum of its models' memory) and its bound.
    [[nodiscard]] double assigned_mb(std::size_t node) const { return assigned_mb_.at(node); }
    [[nodiscard]] double bound_mb(std::size_t node) const { return bound_mb_.at(node); }
    /// Models placed over the bound because no node had room (0 in every case the tests know of).
    [[nodiscard]] std::size_t over_bound() const noexcept { return over_bound_; }

    friend bool operator==(const Placement& a, const Placement& b) {
        if (a.assignment_.size() != b.assignment_.size() || a.nodes_.size() != b.nodes_.size()) return false;
        for (std::size_t i = 0; i < a.nodes_.size(); ++i)
            if (a.nodes_[i].id != b.nodes_[i].id || a.nodes_[i].budget_mb != b.nodes_[i].budget_mb) return false;
        return a.assignment_ == b.assignment_;
    }

  private:
    std::vector<PlacementNode> nodes_;
    std::unordered_map<std::string, std::vector<uint32_t>> assignment_;
    std::vector<double> assigned_mb_;
    std::vector<double> bound_mb_;
    std::size_t over_bound_ = 0;
};

}  // namespace warmup::host::cluster
