// cluster/fleet_counters.hpp — what a fleet node counts (cluster/fleet_node.hpp), on its own so that the HTTP layer
// can show it on /metrics without depending on the node itself. A plain value; copy it under the node's lock.
#pragma once

#include <cstdint>

namespace warmup::host::cluster {

/// Totals since the node started (GET /api/warmup/cluster "counters", and /metrics).
struct FleetCounters {
    uint64_t events_local = 0;            ///< events of owned models applied here directly
    uint64_t events_forwarded = 0;        ///< events written to another node's stream
    uint64_t events_received = 0;         ///< entries read from this node's stream (each once, however often read)
    uint64_t events_acknowledged = 0;     ///< ... applied and acknowledged
    uint64_t events_dropped_unknown = 0;  ///< received for a model no catalog entry covers (acknowledged, logged)
    uint64_t forward_refused = 0;         ///< refused because the outbox was full (the client got 503)
    uint64_t forward_buffered = 0;        ///< in the outbox now
    uint64_t placement_changes = 0;
    uint64_t models_taken_over = 0;   ///< models this node started to own
    uint64_t models_handed_over = 0;  ///< models that moved away (state written, then forgotten here)
    uint64_t state_imports = 0;       ///< per-model states imported (one per model and component)
    uint64_t state_import_errors = 0;
    uint64_t state_writes = 0;  ///< per-model states written to Redis
    uint64_t redis_errors = 0;  ///< commands that failed: Redis unreachable, or an error reply where success was needed
    uint64_t dead_stream_entries_moved = 0;
    uint64_t events_passed_on = 0;  ///< received for a model this node no longer owns: forwarded to its owners now
    uint64_t events_pass_on_refused = 0;  ///< XADDs of such an event Redis refused (entry left pending, tried again)
    uint64_t rejoins = 0;  ///< times this node renewed after its registration had lapsed (it was stopped or stalled)
};

}  // namespace warmup::host::cluster
