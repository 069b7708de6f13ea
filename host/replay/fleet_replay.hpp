// replay/fleet_replay.hpp — warmup-replay --nodes N: a fleet of N simulated nodes on one trace, with the placement
// code the daemons run (core/placement.hpp), so placement strategies are compared offline like policies.
//
// The fleet: node-0 .. node-<N-1>, each with its own instances of the configuration's top-level components and its
// own engine, each with the memory budget divided equally (budgets.memory_mb / N; a "<k>xA95" budget is k times the
// trace's A95 first). Placement: every model of the trace (a pre-pass reads them) placed over the nodes by weighted,
// bounded rendezvous with `load_slack` (the cluster section's, or --load-slack). Each event goes to its model's owner,
// on one virtual clock shared by every node (the same event order rules as the single-node replay).
//
// --drop-node NODE@TIME removes NODE at TIME (ms from the trace origin, as --from): its engine stops (its resident
// memory is released, accounted up to TIME), the placement is recomputed over the survivors, and every model whose
// owner changed moves with its learned state through the per-model state extension (ext/model_state.h): exported
// from the old owner (the dropped one included: its state was written at its last snapshot, which the replay takes
// as TIME), imported by the new owner, which plans the model at once; a survivor that lost a model forgets it. The
// re-homing cost reported: models moved (from the dropped node and between survivors), state bytes moved, and the
// requests and cold requests of the moved models after the drop.
//
// Thread: one (the fleet is replayed sequentially; arms of the single-node replay run in parallel, nodes do not).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "replay/replay_driver.hpp"

namespace warmup::host::replay {

struct FleetReplayOptions {
    uint32_t nodes = 1;
    std::optional<double> load_slack;  ///< overrides cluster.load_slack
    std::optional<std::string> drop_node;
    int64_t drop_at_ms = 0;  ///< with drop_node
};

struct FleetNodeResult {
    std::string id;
    double budget_mb = 0;
    std::size_t models_owned = 0;  ///< at the end (0 for a dropped node)
    uint64_t requests = 0;
    uint64_t cold_requests = 0;
    double cold_rate = 0;
    double loaded_gb_h = 0;
    double idle_gb_h = 0;
    double mean_resident_mb = 0;  ///< loaded memory-time / the node's time in the fleet
    std::optional<int64_t> dropped_at_ms;
};

struct FleetReplayReport {
    std::string config_file;
    std::vector<std::string> traces;
    uint32_t nodes = 0;
    double load_slack = 0;
    double budget_mb = 0;  ///< the whole fleet's
    int64_t from_ms = 0, to_ms = 0;
    uint64_t events = 0;
    uint64_t requests = 0;
    uint64_t cold_requests = 0;
    double cold_rate = 0;
    std::size_t models = 0;
    std::size_t placed_over_bound = 0;
    std::vector<FleetNodeResult> per_node;
    struct Drop {
        std::string node;
        int64_t at_ms = 0;
        std::size_t models_moved = 0;             ///< owner changed
        std::size_t moved_from_dropped = 0;       ///< ... because their owner was the dropped node
        std::size_t moved_between_survivors = 0;  ///< ... by the load bound
        std::size_t states_moved = 0;             ///< per-model states imported (one per model and component)
        uint64_t state_bytes_moved = 0;
        uint64_t moved_requests_after = 0;  ///< requests of the moved models after the drop
        uint64_t moved_cold_after = 0;      ///< ... of which cold
    };
    std::optional<Drop> drop;
    double wall_seconds = 0;
};

/// Replays the traces of `options` over a fleet. Throws as run_replay does, plus std::invalid_argument for --nodes 0
/// or a --drop-node naming no node of the fleet.
FleetReplayReport run_fleet_replay(const Config& config, const ReplayOptions& options, const FleetReplayOptions& fleet);

/// fleet.json and fleet.md in `dir` (created when missing).
void write_fleet_reports(const FleetReplayReport& report, const std::filesystem::path& dir);
/// The per-node table (Markdown), as printed by warmup-replay and written in fleet.md.
std::string fleet_table_markdown(const FleetReplayReport& report);

}  // namespace warmup::host::replay
