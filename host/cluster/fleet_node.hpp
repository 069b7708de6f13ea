// cluster/fleet_node.hpp — one warmupd's membership of a fleet that shares membership, placement, forwarded events and
// learned state through Redis (opt-in: the `cluster:` section of the configuration; docs/fleet.md).
//
// What a node does:
//  - Membership: every half heartbeat it writes <prefix>node:<id> (JSON: id, instance, address, budget_mb, free_mb,
//    started and renewed times) with an expiry of 1.5 heartbeats, and lists its id in the sorted set <prefix>nodes
//    (score: last renewal).
//  - One process per id: `instance` is a random nonce of this process. At start the key is claimed only when nobody
//    holds it (SET NX), waiting up to one expiry for a crashed holder's key to lapse; a key still renewed by another
//    process after that refuses the start (NodeIdInUse: exit 2, CLUSTER_NODE_ID_IN_USE). A renewal (and the removal
//    at stop) only touches a key that carries this process's nonce (one Lua script, atomic in Redis); a node that
//    finds its key held by another process (its own lapsed during a pause or an outage, and another claimed it) logs
//    CLUSTER_NODE_ID_CONFLICT, stops renewing and reading its stream, and reports the cluster degraded in health
//    until the key is free again and its renewal claims it back. A node whose key expired is not alive; peers read the
//    membership every quarter heartbeat, so a node that stops renewing is dropped by every peer within two heartbeats
//    of its last renewal.
//  - Placement: from the alive members (id, budget) and the models of the fleet (the catalog's exact names plus every
//    name in <prefix>models, with their catalog memory), every node computes the same placement
//    (core/placement.hpp). The alive node with the smallest id publishes it as JSON in <prefix>placement; every
//    node serves its own view at GET /api/warmup/cluster.
//  - Events: route_events() applies the events of models this node owns and queues the others for their owners (a
//    bounded outbox, cluster.forward_buffer events; beyond that the rest of the request is refused with 503 and
//    counted). A forwarder thread adds them to the owner's stream <prefix>events:<owner>; each node reads its own
//    stream with the consumer group "warmupd" and acknowledges an entry only after its event reached the engines, so
//    an entry read but not applied before a crash is read again at the next start. Events of a replicated model go to
//    every owner. An entry for a model this node no longer owns (forwarded under an older placement) is passed on:
//    the consumer thread adds it to the current owners' streams itself and acknowledges it only once Redis stored it
//    there (an XADD refused leaves it unacknowledged, pending in this node's stream, and the consumer passes it on
//    again a quarter heartbeat later while it goes on reading new entries), so no crash loses it and a refusal tied
//    to one owner's key (WRONGTYPE, an ACL) does not hold up this node's own events; one passed on and not yet
//    acknowledged at a crash is passed on again after the restart (at least once).
//  - Learned state: the primary owner writes each model's per-model state (ext/model_state.h, every component that
//    offers it) to the hash <prefix>state:<model> at the state snapshot interval (models with new events since the
//    last write) and when the model moves away (hand-over, then the old owner forgets it). A new owner imports the
//    hash before it applies the model's events, and again if a hand-over lands within four heartbeats after it took
//    the model (the old owner may write it a little later than the new one took over).
//  - Faults: Redis unreachable -> the node keeps its last placement and keeps deciding for what it owns; events for
//    other nodes wait in the outbox (bounded, counted); when Redis answers again the node registers again, re-reads
//    membership, recomputes the placement and flushes the outbox (routed by the placement of that moment). Meanwhile
//    GET /api/warmup/cluster reports the other nodes' state "unknown", not what the last read said (cluster_json). A
//    node that rejoins under its id computes the same placement as its peers: it takes back exactly the models the
//    placement gives it, with the state their interim owner handed over, and nobody else claims them.
//  - Outbox on disk (with a state folder, state.enabled): every event the outbox takes (accepted with 200 for a model
//    of another node: not stream entries passed on) is also appended to <state.dir>/cluster-outbox.log by the outbox
//    keeper thread, every kOutboxFlushIntervalMs (0.5 s) while the outbox changed, and fdatasync()ed; the file is cut
//    back to its header whenever the outbox is found empty (Redis took everything), and rewritten atomically with the
//    outbox's content when it holds many lines already sent. stop() writes what is left after the threads have ended,
//    whether or not the hand-over reaches Redis; start() puts the file's events back at the head of the outbox before
//    anything is served (they count towards cluster.forward_buffer, and may exceed it), and the forwarder sends them to
//    the owners of the placement in force then (a node started while Redis does not answer keeps them until its first
//    placement). The file is this process's alone (one daemon per state folder: its lock) and records only events for
//    other nodes: the event journal and its replay at start are unchanged, so a restart never applies them to the local
//    engine. Guarantees: an event accepted before a stop (SIGTERM) is sent after the next start when Redis did not take
//    it before (unless that last write fails: then CLUSTER_LEFT counts it lost); one accepted more than one flush
//    interval (plus one write) before a crash (SIGKILL, power loss) is too, like the event journal's local events.
//    Delivery is at least once, not exactly once: an event Redis took after the last write and before a crash is sent
//    again after the restart (and one whose XADD Redis refused for some of its owners reaches the others twice, see
//    forwarder_loop). Order: the outbox is sent oldest first, restored events before new ones; an owner's stream does
//    not order events of different senders. A file that does not read completely is logged
//    (CLUSTER_OUTBOX_RESTORE_ERROR), kept aside (kOutboxDamagedSuffix), what did read is sent, and the "cluster" health
//    component is degraded for the process's life; a write that fails is logged (CLUSTER_OUTBOX_WRITE_ERROR), degrades
//    the component until a write succeeds, and never refuses events or stops the daemon. Without a state folder nothing
//    keeps the outbox: stop() logs how many events it loses.
//  - Dead nodes: the publishing node moves the unread entries of a dead node's stream to the models' new owners. It
//    deletes an entry only once Redis has stored its event in every owner's stream (each XADD answered with an id): an
//    XADD refused (OOM, READONLY) keeps the entry, moved again at the next membership tick (at least once).
//  - Decisions stay local: a node's engine only ever sees events of models it owns, and a model that moves away is
//    forgotten by its plugins, so no node pre-warms or keeps a model for another node.
//
// Threads: three of its own (membership, forwarder, stream consumer), each with its own Redis connection, and with a
// state folder a fourth (the outbox keeper: the outbox file, no Redis; it alone writes the file while it runs).
// route_events, cluster_json and counters may be called from any thread. Plugin state is read and written only through
// LiveRuntime::call_on_control (the control thread).
#pragma once

#include <warmup/warmup.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cluster/fleet_counters.hpp"
#include "cluster/outbox_file.hpp"
#include "cluster/redis_client.hpp"
#include "config/config.hpp"
#include "core/placement.hpp"

namespace warmup::host {
class LiveRuntime;
}

namespace warmup::host::cluster {

/// One member as read from Redis.
struct FleetMember {
    std::string id;
    std::string address;  ///< advertise URL (where a gateway reaches the node)
    double budget_mb = 0;
    double free_mb = 0;
    int64_t started_unix_ms = 0;
    int64_t renewed_unix_ms = 0;
    bool alive = false;
    std::string
        placement_inputs;  ///< fingerprint of what it places by (catalog, cluster settings); "" from an old node
};

/// Another running warmupd holds this node's id (its membership key is renewed with another instance nonce).
class NodeIdInUse : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// The node's link to the fleet as GET /api/warmup/health/components shows it (the "cluster" component).
struct FleetHealth {
    std::string redis_url;  ///< "redis://host:port[/db]"
    bool redis_reachable = false;
    uint64_t redis_errors = 0;
    std::string last_redis_error;          ///< "" before the first failure
    int64_t last_redis_error_unix_ms = 0;  ///< 0: never
    std::string node_id_conflict;          ///< "" unless another process holds this node's id (what is known of it)
    std::string placement_inputs_differ;   ///< "" unless alive nodes place by other inputs (which, and their inputs)
    // The outbox file (with a state folder; cluster/outbox_file.hpp).
    std::string outbox_file;             ///< its path; "" without a state folder (events for other nodes not kept)
    std::string outbox_restore_problem;  ///< "" unless the file did not read completely at start (what was lost)
    std::string outbox_write_failure;    ///< "" unless the last write failed (until one succeeds)
    uint64_t outbox_file_errors = 0;     ///< failed reads at start and failed writes
    std::string last_outbox_file_error;
    int64_t last_outbox_file_error_unix_ms = 0;  ///< 0: never
};

class FleetNode {
  public:
    /// Does not touch Redis yet. `advertise_url` is published as the node's address.
    FleetNode(LiveRuntime& runtime, const Config& config, std::string advertise_url);
    ~FleetNode();
    FleetNode(const FleetNode&) = delete;
    FleetNode& operator=(const FleetNode&) = delete;

    /// Puts the events of the outbox file (with a state folder) back in the outbox, registers (when Redis answers;
    /// otherwise keeps trying), computes the first placement, imports the state of the models it owns, and starts the
    /// threads. Call after the runtime's state is restored and before the HTTP API serves events: the first
    /// placement is in force when start() returns, also while Redis is down or refuses commands (then every event is
    /// applied here until Redis takes them). Throws NodeIdInUse when another process keeps this node's id registered
    /// (nothing started then: stop() and the destructor leave Redis alone).
    void start();
    /// Clean stop: stops the threads, writes the events Redis has not taken to the outbox file (with a state folder),
    /// hands over the state of every owned model and removes the membership key (peers take over at once instead of
    /// after the expiry). CLUSTER_LEFT says how many events for other nodes were not sent, and whether they are kept
    /// or lost, also when the hand-over fails. Idempotent.
    void stop();

    /// What route_events took.
    struct Routed {
        std::size_t accepted = 0;  ///< always a prefix of the events
        /// Why the rest was refused when the outbox was full; "" when the local ingest queue refused it (the
        /// runtime's LiveRuntime::ingest_refusal_reason then says why) or nothing was refused.
        std::string outbox_refusal;
    };
    /// [any thread] Applies the events of owned models (LiveRuntime::try_ingest) and queues the rest for their
    /// owners. Accepts a prefix of `events` (the local ingest queue or the outbox took no more); the caller refuses
    /// the rest (503).
    Routed route_events(std::span<const warmup_usage_event> events);

    /// [any thread] {"node_id", "redis": {...}, "membership": {...}, "nodes": [...], "owners": {...},
    /// "counters": {...}}. Each node's `alive` and `state` say what is known now: while the membership read is not
    /// current (the membership thread's Redis commands fail, or its last read is older than two heartbeats) every
    /// other node is `"state": "unknown"` (`alive`: null) with the state of the last read in `last_known_state`;
    /// this node itself, which is answering, is always alive.
    [[nodiscard]] nlohmann::json cluster_json() const;
    [[nodiscard]] FleetCounters counters() const;
    /// [any thread] False while a thread's last Redis command failed, unreachable or refused with an error reply (the
    /// node then works on its last placement and buffers events for other nodes), until it succeeds again.
    [[nodiscard]] bool redis_reachable() const noexcept { return failing_links_.load() == 0; }
    [[nodiscard]] const std::string& node_id() const noexcept { return node_id_; }
    /// [any thread] Redis reachability and the last failure, and an id conflict.
    [[nodiscard]] FleetHealth health() const;

  private:
    struct PlacementView {
        std::shared_ptr<const Placement> placement = std::make_shared<const Placement>();
        std::vector<FleetMember> members;  ///< every listed member, alive or not, by id
        /// When `members` was read from Redis (Unix ms, this node's clock); 0: never (started without Redis).
        int64_t members_read_unix_ms = 0;
        std::string fingerprint;  ///< what the placement was computed from
        std::string publisher;    ///< the alive node with the smallest id
    };

    // ----- membership thread
    void membership_loop();
    /// One tick: renew when due, read membership, recompute and apply the placement. Throws RedisUnavailable, and
    /// RedisCommandError for an error reply.
    void membership_tick(RedisConnection& redis, bool force_renew);
    /// Claims <prefix>node:<id> at start (SET NX); see NodeIdInUse.
    void claim_node_id(RedisConnection& redis);
    /// Renews the membership key when it is this process's (or free); otherwise notes the conflict.
    void renew(RedisConnection& redis);
    /// The member record this node publishes, renewed at `now_ms`, with the budget in force now. Membership thread
    /// (and start()).
    [[nodiscard]] std::string member_record(int64_t now_ms);
    /// `"instance":"<nonce>"` as it appears in member_record (what the Lua scripts look for).
    [[nodiscard]] std::string instance_marker() const;
    std::vector<FleetMember> read_members(RedisConnection& redis);
    /// The model set: catalog exact names, plus <prefix>models (re-read when its size changed).
    void refresh_models(RedisConnection& redis);
    /// Replaces the placement, handing over lost models and importing gained ones.
    void apply_placement(RedisConnection& redis, std::shared_ptr<const PlacementView> next);
    /// Writes the per-model state of `models` (names) to Redis; returns how many models had any state that Redis
    /// stored (a refused write is logged CLUSTER_STATE_WRITE_ERROR and not counted).
    std::size_t write_states(RedisConnection& redis, const std::vector<std::string>& models);
    /// Imports the state hashes of `models` into the control arm; returns written_ms per model imported.
    /// A hash this node wrote itself at or before `keep_own_written_up_to_ms` (Unix ms; 0: none) is not imported (and
    /// is returned as if it were): the state this node restored at its start holds everything such a write held.
    std::map<std::string, int64_t> import_states(RedisConnection& redis, const std::vector<std::string>& models,
                                                 int64_t keep_own_written_up_to_ms = 0);
    void forget_models(const std::vector<std::string>& models);
    void publish_placement(RedisConnection& redis, const PlacementView& view);
    /// Moves the entries of dead nodes' streams to their models' owners; deletes each only once every owner's stream
    /// holds its event. Returns why Redis refused a write (those entries kept, moved again later), or "".
    std::string move_dead_streams(RedisConnection& redis, const PlacementView& view);
    void retry_pending_imports(RedisConnection& redis);

    // ----- forwarder thread
    void forwarder_loop();
    /// [outbox_mutex_ held] Queues `event` for its owners, and for the outbox file.
    void enqueue_locked(OutboxEvent event);
    // ----- outbox keeper thread (with a state folder)
    void outbox_keeper_loop();
    /// Puts the outbox file's events at the head of the outbox (start(), before the threads).
    void restore_outbox();
    /// Writes what changed in the outbox since the last call to the outbox file. True when the file now holds every
    /// event of the outbox (or there is no file); false when the write failed (logged, in health). The keeper thread,
    /// or stop() after it ended.
    bool save_outbox();
    void note_outbox_file_error(const std::string& what, bool restore);
    // ----- consumer thread
    void consumer_loop();
    /// Applies stream entries (id, fields) and acknowledges them once they reached the engines; passes those of models
    /// owned elsewhere now on to their owners' streams before it acknowledges them. Returns the ids left
    /// unacknowledged because Redis refused to store a passed-on event (the others are acknowledged); throws
    /// RedisUnavailable (nothing acknowledged).
    std::vector<std::string> apply_stream_entries(RedisConnection& redis, const RedisValue& entries);
    /// The entries of one read of this node's stream, parsed (consumer thread).
    struct StreamRead {
        std::vector<std::string> ids;                   ///< every entry read, in order
        std::vector<warmup_usage_event> events;         ///< the events of catalogued models, applied here
        std::vector<std::string> names;                 ///< events[i]'s model name
        std::vector<std::size_t> entry_of_event;        ///< events[i] came from ids[entry_of_event[i]]
        std::vector<int64_t> passes;                    ///< how often events[i] was passed on before it came here
        uint64_t unknown = 0;                           ///< events of models the catalog does not know (dropped)
        uint64_t first_reads = 0;                       ///< entries not read before (one left pending is read again)
        std::vector<std::vector<std::string>> pass_on;  ///< XADDs of the events owned elsewhere now
        std::vector<std::size_t> entry_of_pass_on;      ///< pass_on[i] carries the event of ids[entry_of_pass_on[i]]
    };
    /// Parses `entries` into events of catalogued models (counting the unknown ones).
    StreamRead read_stream_entries(const RedisValue& entries);
    /// Moves the events this node no longer owns from read.events to read.pass_on, one XADD per owner; an event
    /// already passed on once is applied here instead (two nodes that place the model on each other would otherwise
    /// pass it back and forth for ever), with CLUSTER_PLACEMENT_DISAGREES.
    void route_to_owners(StreamRead& read);
    /// What came of passing events on: the entries left pending (an XADD refused), XADDs stored and refused.
    struct PassOnOutcome {
        std::vector<bool> unsent;  ///< per entry of the read: an XADD of its event was refused
        std::size_t delivered = 0;
        uint64_t refused = 0;
    };
    /// Sends read.pass_on in one pipeline; throws RedisUnavailable (nothing stored is known).
    PassOnOutcome pass_on_to_owners(RedisConnection& redis, const StreamRead& read);
    /// Notes the owner streams whose XADD of a passed-on event was refused (stream -> error reply): counted, in the
    /// last error, logged CLUSTER_PASS_ON_REFUSED (throttled per stream); and those that took one again (logged
    /// CLUSTER_PASS_ON_RESUMED after a refusal).
    void note_pass_on_results(const std::map<std::string, std::string>& refused_keys,
                              const std::set<std::string>& taking_keys);

    /// [any] The placement in force (never null after start()).
    [[nodiscard]] std::shared_ptr<const PlacementView> view() const;
    [[nodiscard]] std::vector<std::string> owners_of(const PlacementView& view, const std::string& model) const;
    /// The node's three Redis connections, one per thread, as bits of failing_links_.
    enum RedisLink : uint8_t { kMembershipLink = 1, kForwarderLink = 2, kConsumerLink = 4 };
    /// A command on `link` failed: Redis unreachable, or an error reply where success was needed.
    void note_redis_error(RedisLink link, const std::exception& error);
    void note_redis_ok(RedisLink link);
    [[nodiscard]] std::string key(std::string_view suffix) const {
        return config_.cluster.key_prefix + std::string(suffix);
    }
    [[nodiscard]] int64_t now_unix_ms() const;
    void mark_dirty(const std::string& model);

    LiveRuntime& runtime_;
    Config config_;
    std::string node_id_;
    std::string advertise_url_;
    std::string instance_;  // random nonce of this process: tells its membership key from another process's
    RedisEndpoint endpoint_;
    int64_t started_unix_ms_ = 0;
    double budget_mb_ = 0;  // the budget in force as last published (membership thread, and start() before it)

    mutable std::mutex view_mutex_;
    std::shared_ptr<const PlacementView> view_;  // under view_mutex_

    // The placement's model set (membership thread only).
    std::vector<PlacementModel> models_;
    std::unordered_set<std::string> model_names_;
    int64_t models_set_size_ = -1;
    std::map<std::string, uint32_t> replicas_;  // demand-driven replica counts in force

    // Models named by events and not yet in <prefix>models: added by the membership thread. Under names_mutex_.
    std::mutex names_mutex_;
    std::unordered_set<std::string> registered_names_;
    std::vector<std::string> names_to_register_;
    std::unordered_set<std::string> dirty_models_;           // owned models with events since their last state write
    std::unordered_map<std::string, double> demand_counts_;  // events per owned model since the last demand update

    // Models taken over recently, or owned while this node was away: a hand-over written after this node imported
    // (or after its last renewal before it was away) is imported again until the deadline. Membership thread only.
    struct PendingImport {
        int64_t imported_written_ms = 0;
        int64_t deadline_unix_ms = 0;
        bool hold_writes = false;  // after a lapse: this node's state of it is not written until the hand-back is in
    };
    std::map<std::string, PendingImport> pending_imports_;
    int64_t next_state_write_unix_ms_ = 0;
    int64_t next_renew_unix_ms_ = 0;
    // When this node last renewed its registration (membership thread only): the time after which what another node
    // writes of its models, once Redis says its registration had lapsed (renew), is a hand-back to import.
    int64_t last_renewed_unix_ms_ = 0;
    // Until then, a placement applied follows a lapse of the registration (renew): the models it moves away are
    // forgotten, not handed over. Membership thread only.
    int64_t rejoined_until_unix_ms_ = 0;
    // After Redis came back: the placement is held for one heartbeat so every node has registered again before
    // anyone recomputes (a restarted, empty Redis lists only the nodes that renewed so far). Membership thread only.
    int64_t hold_placement_until_unix_ms_ = 0;
    std::unordered_map<std::string, double> demand_rps_;  // EWMA of owned models' request rates (membership thread)
    int64_t last_demand_unix_ms_ = 0;

    // Outbox: events for other nodes, oldest first. Under outbox_mutex_ (lock order: outbox_mutex_, then the
    // runtime's ingest lock inside try_ingest).
    mutable std::mutex outbox_mutex_;
    std::condition_variable outbox_cv_;
    std::deque<OutboxEvent> outbox_;
    // The outbox file: null without a state folder. Used by the keeper thread while it runs, else by start()/stop().
    std::unique_ptr<OutboxFile> outbox_file_;
    std::vector<OutboxEvent> outbox_unsaved_;     // under outbox_mutex_: queued since the last save (with a file)
    bool outbox_sent_since_save_ = false;         // under outbox_mutex_: events left the outbox since the last save
    bool outbox_rewrite_due_ = false;             // under outbox_mutex_: an event in the file changed (applied here)
    bool outbox_save_failed_ = false;             // keeper (or stop()): the last save failed, the next one rewrites
    std::string outbox_restore_problem_;          // under counters_mutex_
    std::string outbox_write_failure_;            // under counters_mutex_
    uint64_t outbox_file_errors_ = 0;             // under counters_mutex_
    std::string last_outbox_file_error_;          // under counters_mutex_
    int64_t last_outbox_file_error_unix_ms_ = 0;  // under counters_mutex_

    mutable std::mutex counters_mutex_;
    FleetCounters counters_;
    // The links whose last command failed. Per link, so that one whose commands succeed (reads, while Redis refuses
    // writes at its maxmemory) does not report Redis usable while another's keep failing. Redis is not reached
    // before start().
    std::atomic<uint8_t> failing_links_{kMembershipLink};
    std::string last_redis_error_;          // under counters_mutex_
    int64_t last_redis_error_unix_ms_ = 0;  // under counters_mutex_
    std::string node_id_conflict_;          // under counters_mutex_: "" unless another process holds the id
    // A fingerprint of the inputs this node computes the placement from besides the membership: its catalog (patterns
    // and memory, in order) and the cluster settings the placement reads. Published in its member record, so that a
    // node whose inputs differ (and so places models elsewhere) is seen. Set at construction.
    std::string placement_inputs_;
    std::string placement_inputs_differ_;  // under counters_mutex_: FleetHealth::placement_inputs_differ
    std::atomic<bool> id_held_elsewhere_{false};

    // Consumer thread only. Entries of this node's stream read and not acknowledged yet (counted in events_received
    // once, however often they are read again); replaced by what is still pending at the end of each scan.
    std::set<std::string> unacknowledged_read_;
    // Consumer thread only. Models whose placement this node and the one that passed an event on disagree about
    // (CLUSTER_PLACEMENT_DISAGREES is logged once per model and process).
    std::set<std::string> placement_disagreements_logged_;
    // Owner streams that refused a passed-on event: the last reason logged and when.
    struct PassOnRefusal {
        std::string reason;
        int64_t logged_unix_ms = 0;
    };
    std::map<std::string, PassOnRefusal> pass_on_refusals_;

    std::mutex stop_mutex_;
    std::condition_variable stop_cv_;
    std::atomic<bool> stopping_{false};
    bool started_ = false;
    std::thread membership_thread_;
    std::thread forwarder_thread_;
    std::thread consumer_thread_;
    std::thread outbox_keeper_thread_;
};

}  // namespace warmup::host::cluster
