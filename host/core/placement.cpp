// core/placement.cpp — weighted, bounded rendezvous placement; see placement.hpp.
#include "core/placement.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "core/fnv1a.hpp"

namespace warmup::host::cluster {
namespace {

uint64_t splitmix64(uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/// Node indexes by descending rendezvous score for `model` (ties by id, i.e. by index: nodes are sorted by id).
void preference(std::string_view model, const std::vector<PlacementNode>& nodes, std::vector<uint32_t>& order,
                std::vector<double>& scores) {
    scores.resize(nodes.size());
    order.resize(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        scores[i] = rendezvous_score(model, nodes[i].id, nodes[i].budget_mb);
        order[i] = static_cast<uint32_t>(i);
    }
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return scores[a] > scores[b]; });
}

}  // namespace

double rendezvous_score(std::string_view model, std::string_view node_id, double budget_mb) noexcept {
    if (!(budget_mb > 0)) return -std::numeric_limits<double>::infinity();
    // One separator byte that a UTF-8 name never holds keeps ("ab", "c") and ("a", "bc") apart.
    uint64_t hash = fnv1a64(model);
    hash = fnv1a64(std::string_view("\xff", 1), hash);
    hash = splitmix64(fnv1a64(node_id, hash));
    const double unit = (static_cast<double>(hash >> 11) + 0.5) * 0x1.0p-53;  // in (0, 1)
    return budget_mb / -std::log(unit);
}

uint32_t replicas_for_demand(double demand_rps, double node_capacity_rps, std::size_t nodes) noexcept {
    if (nodes == 0) return 1;
    if (!(node_capacity_rps > 0) || !(demand_rps > node_capacity_rps)) return 1;
    const double wanted = std::ceil(demand_rps / node_capacity_rps);
    return static_cast<uint32_t>(std::min<double>(wanted, static_cast<double>(nodes)));
}

Placement Placement::compute(std::span<const PlacementNode> nodes, std::span<const PlacementModel> models,
                             const PlacementOptions& options) {
    Placement placement;
    // Canonical inputs: nodes by id, models largest first then by name, first occurrence of a duplicate kept.
    std::set<std::string, std::less<>> seen_nodes;
    for (const PlacementNode& node : nodes)
        if (node.budget_mb > 0 && seen_nodes.insert(node.id).second) placement.nodes_.push_back(node);
    std::sort(placement.nodes_.begin(), placement.nodes_.end(),
              [](const PlacementNode& a, const PlacementNode& b) { return a.id < b.id; });
    const std::size_t node_count = placement.nodes_.size();
    placement.assigned_mb_.assign(node_count, 0);
    placement.bound_mb_.assign(node_count, 0);
    if (node_count == 0) return placement;

    std::vector<const PlacementModel*> order;
    std::set<std::string_view> seen_models;
    for (const PlacementModel& model : models)
        if (seen_models.insert(model.name).second) order.push_back(&model);
    std::sort(order.begin(), order.end(), [](const PlacementModel* a, const PlacementModel* b) {
        return a->memory_mb != b->memory_mb ? a->memory_mb > b->memory_mb : a->name < b->name;
    });

    double total_mb = 0, largest_mb = 0;
    for (const PlacementModel* model : order) {
        const double memory = std::max(0.0, model->memory_mb);
        total_mb += memory * std::min<double>(std::max<uint32_t>(1, model->replicas), static_cast<double>(node_count));
        largest_mb = std::max(largest_mb, memory);
    }
    const double weight_total = std::accumulate(placement.nodes_.begin(), placement.nodes_.end(), 0.0,
                                                [](double sum, const PlacementNode& n) { return sum + n.budget_mb; });
    for (std::size_t i = 0; i < node_count; ++i)
        placement.bound_mb_[i] =
            std::max(largest_mb, (1 + options.load_slack) * total_mb * placement.nodes_[i].budget_mb / weight_total);

    std::vector<uint32_t> preferred;
    std::vector<double> scores;
    placement.assignment_.reserve(order.size());
    for (const PlacementModel* model : order) {
        const double memory = std::max(0.0, model->memory_mb);
        const std::size_t wanted = std::min<std::size_t>(std::max<uint32_t>(1, model->replicas), node_count);
        preference(model->name, placement.nodes_, preferred, scores);
        std::vector<uint32_t> owners;
        for (const uint32_t node : preferred) {
            if (owners.size() == wanted) break;
            if (placement.assigned_mb_[node] + memory <= placement.bound_mb_[node] * (1 + 1e-12))
                owners.push_back(node);
        }
        if (owners.size() < wanted) {
            // No room left on enough nodes (rounding at the bound): the nodes with the most room, preferred first.
            std::vector<uint32_t> by_room = preferred;
            std::stable_sort(by_room.begin(), by_room.end(), [&](uint32_t a, uint32_t b) {
                return placement.bound_mb_[a] - placement.assigned_mb_[a] >
                       placement.bound_mb_[b] - placement.assigned_mb_[b];
            });
            for (const uint32_t node : by_room) {
                if (owners.size() == wanted) break;
                if (std::find(owners.begin(), owners.end(), node) == owners.end()) {
                    owners.push_back(node);
                    ++placement.over_bound_;
                }
            }
        }
        for (const uint32_t node : owners) placement.assigned_mb_[node] += memory;
        placement.assignment_.emplace(model->name, std::move(owners));
    }
    return placement;
}

std::vector<std::string> Placement::owners_of(std::string_view model) const {
    std::vector<std::string> owners;
    if (nodes_.empty()) return owners;
    if (const auto found = assignment_.find(std::string(model)); found != assignment_.end()) {
        for (const uint32_t node : found->second) owners.push_back(nodes_[node].id);
        return owners;
    }
    std::vector<uint32_t> preferred;
    std::vector<double> scores;
    preference(model, nodes_, preferred, scores);
    owners.push_back(nodes_[preferred.front()].id);
    return owners;
}

bool Placement::owns(std::string_view node_id, std::string_view model) const {
    const auto owners = owners_of(model);
    return std::find(owners.begin(), owners.end(), node_id) != owners.end();
}

}  // namespace warmup::host::cluster
