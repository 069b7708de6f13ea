// cluster/fleet_node.cpp — a warmupd's membership of the fleet; see fleet_node.hpp.
#include "cluster/fleet_node.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <warmup/ext/model_state.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <thread>
#include <tuple>
#include <utility>

#include "core/errors.hpp"
#include "core/fnv1a.hpp"
#include "runtime/live_runtime.hpp"

namespace warmup::host::cluster {
namespace {

using json = nlohmann::json;

constexpr std::string_view kGroup = "warmupd";
constexpr std::size_t kBatchEvents = 512;          // events per XADD pipeline and per XREADGROUP
constexpr std::size_t kStateBatchModels = 256;     // models per state pipeline
constexpr int64_t kMemberRetentionMs = 3'600'000;  // a dead member stays listed (alive: false) this long
constexpr int kImportRetryHeartbeats = 4;
constexpr std::string_view kSlotFieldPrefix = "slot.";
// Entries kept in one node's stream at most (approximate trim): a node down for long does not fill Redis.
constexpr std::string_view kStreamMaxEntries = "1000000";
// The outbox file is rewritten with the outbox's content (instead of appended to) once it holds more lines than twice
// the outbox plus this many: lines already sent do not pile up while the outbox is never empty at a save.
constexpr std::size_t kOutboxCompactSlackLines = 4096;
// A pass-on refused by one owner's stream again for the same reason is logged at most this often.
constexpr int64_t kPassOnRefusalLogIntervalMs = 60'000;

// Renews a membership key only when it is free or carries this process's instance marker, and lists the node in the
// members' sorted set. KEYS: node key, members set. ARGV: record, expiry ms, instance marker, now ms, node id, oldest
// score kept. Returns nil when renewed, or the record of the process that holds the key.
constexpr std::string_view kRenewScript = R"lua(
local held = redis.call('GET', KEYS[1])
if held and not string.find(held, ARGV[3], 1, true) then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])
if held then return false end
return 1
)lua";

// Removes a membership key only when it carries this process's instance marker. KEYS: node key. ARGV: marker.
constexpr std::string_view kLeaveScript = R"lua(
local held = redis.call('GET', KEYS[1])
if held and string.find(held, ARGV[1], 1, true) then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

/// 128 random bits as hex: a process's instance nonce.
std::string random_instance() {
    std::random_device device;
    return fmt::format("{:08x}{:08x}{:08x}{:08x}", device(), device(), device(), device());
}

/// What a membership record says of the process that wrote it, for a message.
std::string describe_holder(const std::string& record) {
    const json parsed = json::parse(record, nullptr, false);
    if (!parsed.is_object()) return "a process whose record does not parse";
    return fmt::format("the warmupd at {} (instance {}, started at {} Unix ms)", parsed.value("address", "?"),
                       parsed.value("instance", "?"), parsed.value("started_unix_ms", int64_t{0}));
}

std::string host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "warmupd";
    return name;
}

int64_t to_int(const std::string& text, int64_t fallback) {
    int64_t value = fallback;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size() ? value : fallback;
}

double to_double(const std::string& text, double fallback) {
    double value = fallback;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size() ? value : fallback;
}

bool has_glob(std::string_view pattern) { return pattern.find_first_of("*?") != std::string_view::npos; }

/// The per-model state extension of a plugin instance, or nullptr when it offers none (or an older, smaller table).
const warmup_model_state_extension* model_state_of(const PluginInstance& instance) {
    const auto* table = static_cast<const warmup_model_state_extension*>(instance.extension(WARMUP_EXT_MODEL_STATE));
    if (table == nullptr || table->struct_size < sizeof(warmup_model_state_extension)) return nullptr;
    return table;
}

/// A stream entry [id, [field, value, ...]] as a field map.
std::map<std::string, std::string> entry_fields(const RedisValue& entry) {
    std::map<std::string, std::string> fields;
    if (entry.elements.size() < 2) return fields;
    const auto& list = entry.elements[1].elements;
    for (std::size_t i = 0; i + 1 < list.size(); i += 2) fields[list[i].text] = list[i + 1].text;
    return fields;
}

}  // namespace

FleetNode::FleetNode(LiveRuntime& runtime, const Config& config, std::string advertise_url)
    : runtime_(runtime),
      config_(config),
      node_id_(config.cluster.node_id.empty() ? host_name() : config.cluster.node_id),
      advertise_url_(std::move(advertise_url)),
      instance_(random_instance()),
      endpoint_(parse_redis_url(config.cluster.redis_url)),
      started_unix_ms_(now_unix_ms()),
      budget_mb_(config.memory_budget.absolute_mb) {
    std::string inputs = fmt::format("load_slack={};replica_capacity_rps={};", config.cluster.load_slack,
                                     config.cluster.replica_capacity_rps);
    for (const CatalogEntry& entry : config.catalog) inputs += fmt::format("{}={};", entry.pattern, entry.memory_mb);
    placement_inputs_ = fmt::format("{:016x}", fnv1a64(inputs));
    auto initial = std::make_shared<PlacementView>();
    initial->fingerprint = "(none yet)";
    view_ = std::move(initial);
    // One daemon per state folder (its lock): the file is this process's alone.
    if (config.state.enabled && !config.state.dir.empty())
        outbox_file_ = std::make_unique<OutboxFile>(config.state.dir / kOutboxFileName);
}

FleetNode::~FleetNode() { stop(); }

int64_t FleetNode::now_unix_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::shared_ptr<const FleetNode::PlacementView> FleetNode::view() const {
    std::lock_guard lock(view_mutex_);
    return view_;
}

std::vector<std::string> FleetNode::owners_of(const PlacementView& view, const std::string& model) const {
    // No placement computed yet (Redis not reached since the start): every event is applied here.
    if (view.placement->nodes().empty()) return {node_id_};
    return view.placement->owners_of(model);
}

FleetCounters FleetNode::counters() const {
    std::size_t buffered = 0;
    {
        std::lock_guard outbox_lock(outbox_mutex_);  // never under counters_mutex_: route_events nests the other way
        buffered = outbox_.size();
    }
    std::lock_guard lock(counters_mutex_);
    FleetCounters copy = counters_;
    copy.forward_buffered = buffered;
    return copy;
}

void FleetNode::note_redis_error(RedisLink link, const std::exception& error) {
    const bool was_reachable = failing_links_.fetch_or(link) == 0;
    std::lock_guard lock(counters_mutex_);
    ++counters_.redis_errors;
    last_redis_error_unix_ms_ = now_unix_ms();
    if (was_reachable || last_redis_error_.empty())
        spdlog::warn("CLUSTER_REDIS_UNREACHABLE {}; keeping the last placement, buffering events for other nodes",
                     error.what());
    last_redis_error_ = error.what();
}

void FleetNode::note_redis_ok(RedisLink link) {
    const uint8_t was_failing = failing_links_.fetch_and(static_cast<uint8_t>(~link));
    if (was_failing == link) {  // this link was the last one failing
        std::lock_guard lock(counters_mutex_);
        if (!last_redis_error_.empty()) spdlog::info("CLUSTER_REDIS_RECONNECTED {}", endpoint_.describe());
    }
}

FleetHealth FleetNode::health() const {
    FleetHealth health;
    health.redis_url = endpoint_.describe();
    health.redis_reachable = redis_reachable();
    std::lock_guard lock(counters_mutex_);
    health.redis_errors = counters_.redis_errors;
    health.last_redis_error = last_redis_error_;
    health.last_redis_error_unix_ms = last_redis_error_unix_ms_;
    health.node_id_conflict = node_id_conflict_;
    if (!placement_inputs_differ_.empty())
        health.placement_inputs_differ =
            fmt::format("{}; this node's inputs {}", placement_inputs_differ_, placement_inputs_);
    health.outbox_file = outbox_file_ ? outbox_file_->path().string() : std::string();
    health.outbox_restore_problem = outbox_restore_problem_;
    health.outbox_write_failure = outbox_write_failure_;
    health.outbox_file_errors = outbox_file_errors_;
    health.last_outbox_file_error = last_outbox_file_error_;
    health.last_outbox_file_error_unix_ms = last_outbox_file_error_unix_ms_;
    return health;
}

void FleetNode::mark_dirty(const std::string& model) {
    dirty_models_.insert(model);
    demand_counts_[model] += 1;
}

// ---------------------------------------------------------------------------------------------------- start / stop

void FleetNode::start() {
    if (started_) return;
    restore_outbox();  // before the first event is served: restored events are the oldest
    // A restored warm set (at start, or an operator's restore-state) loads the models this node owns only; at start
    // it waits for the first placement (apply_placement).
    runtime_.set_warm_set_owner([this](const std::string& model) {
        const auto owners = owners_of(*view(), model);
        return owners.empty() || std::find(owners.begin(), owners.end(), node_id_) != owners.end();
    });
    for (const CatalogEntry& entry : config_.catalog) {
        if (has_glob(entry.pattern) || !model_names_.insert(entry.pattern).second) continue;
        models_.push_back({entry.pattern, entry.memory_mb, 1});
        registered_names_.insert(entry.pattern);
    }
    // The first placement before any event is served: one synchronous tick (when Redis answers).
    {
        RedisConnection redis(endpoint_,
                              std::chrono::milliseconds(std::max<uint32_t>(config_.cluster.heartbeat_ms, 500)));
        const auto start_without_redis = [&](const std::exception& error) {
            started_ = true;
            note_redis_error(kMembershipLink, error);
            spdlog::warn("CLUSTER_JOINED node {} started without Redis: applying every event here until {} answers",
                         node_id_, endpoint_.describe());
        };
        try {
            claim_node_id(redis);  // NodeIdInUse leaves started_ false: stop() then touches nothing
            started_ = true;
            membership_tick(redis, true);
            note_redis_ok(kMembershipLink);
            spdlog::info("CLUSTER_JOINED node {} in the fleet at {} ({} nodes alive, {} models placed)", node_id_,
                         endpoint_.describe(),
                         std::count_if(view()->members.begin(), view()->members.end(),
                                       [](const FleetMember& m) { return m.alive; }),
                         view()->placement->assignment().size());
        } catch (const RedisUnavailable& error) {
            start_without_redis(error);
        } catch (const RedisCommandError& error) {
            // Redis answers but refuses (AUTH required, still loading its data set after a restart, at its maxmemory,
            // a read-only replica): a start without Redis, as when it does not answer, rather than an aborted daemon.
            // The membership thread keeps trying; the cluster component says why meanwhile.
            start_without_redis(error);
        }
    }
    membership_thread_ = std::thread([this] { membership_loop(); });
    forwarder_thread_ = std::thread([this] { forwarder_loop(); });
    consumer_thread_ = std::thread([this] { consumer_loop(); });
    if (outbox_file_) outbox_keeper_thread_ = std::thread([this] { outbox_keeper_loop(); });
}

void FleetNode::stop() {
    // The runtime outlives this node: it no longer asks which models the node owns.
    try {
        runtime_.set_warm_set_owner({});
    } catch (const std::exception& error) {
        spdlog::warn("CLUSTER_LEFT node {}: {}", node_id_, error.what());
    }
    if (!started_ || stopping_.exchange(true)) return;
    stop_cv_.notify_all();
    outbox_cv_.notify_all();
    if (membership_thread_.joinable()) membership_thread_.join();
    if (forwarder_thread_.joinable()) forwarder_thread_.join();
    if (consumer_thread_.joinable()) consumer_thread_.join();
    if (outbox_keeper_thread_.joinable()) outbox_keeper_thread_.join();
    // Nothing enters or leaves the outbox any more (the HTTP API stopped before): what Redis has not taken goes to the
    // outbox file first, whatever Redis does below.
    std::size_t unsent = 0;
    {
        std::lock_guard lock(outbox_mutex_);
        unsent = outbox_.size();
    }
    const bool kept = save_outbox();
    std::string unsent_note;
    bool lost = false;
    if (unsent > 0 && outbox_file_ && kept) {
        unsent_note = fmt::format("; {} events for other nodes not sent: kept in {}, sent after the next start", unsent,
                                  outbox_file_->path().string());
    } else if (unsent > 0 && outbox_file_) {
        std::lock_guard lock(counters_mutex_);
        unsent_note = fmt::format("; {} events for other nodes not sent and lost: {} cannot be written ({})", unsent,
                                  outbox_file_->path().string(), outbox_write_failure_);
        lost = true;
    } else if (unsent > 0) {
        unsent_note = fmt::format(
            "; {} events for other nodes not sent and lost (without a state folder nothing keeps them across a "
            "restart)",
            unsent);
        lost = true;
    }
    // Hand everything over, then leave at once (peers take over without waiting for the key to expire).
    RedisConnection redis(endpoint_, std::chrono::milliseconds(std::max<uint32_t>(config_.cluster.heartbeat_ms, 500)));
    try {
        const auto current = view();
        std::vector<std::string> owned;
        for (const auto& [model, owners] : current->placement->assignment())
            if (!owners.empty() && current->placement->nodes()[owners.front()].id == node_id_) owned.push_back(model);
        const std::size_t written = write_states(redis, owned);
        redis.checked({"EVAL", kLeaveScript, "1", key("node:" + node_id_), instance_marker()});
        spdlog::log(lost ? spdlog::level::warn : spdlog::level::info,
                    "CLUSTER_LEFT node {} left the fleet: state of {} models handed over{}", node_id_, written,
                    unsent_note);
    } catch (const std::exception& error) {
        spdlog::warn(
            "CLUSTER_LEFT node {} could not hand over its state at stop ({}); peers take over when its "
            "membership expires{}",
            node_id_, error.what(),
            unsent == 0 ? std::string("; no events for other nodes were waiting") : unsent_note);
    }
}

// ---------------------------------------------------------------------------------------------------- events

FleetNode::Routed FleetNode::route_events(std::span<const warmup_usage_event> events) {
    const auto current = view();
    std::vector<std::vector<std::string>> owners(events.size());
    std::vector<bool> local(events.size(), false);
    std::vector<std::string> names(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
        names[i] = runtime_.catalog().record(events[i].model).name;
        owners[i] = owners_of(*current, names[i]);
        // While another process holds this node's id, its models are that process's: their events go to this id's
        // stream, which that process reads, and none is applied here.
        local[i] = !id_held_elsewhere_ && std::find(owners[i].begin(), owners[i].end(), node_id_) != owners[i].end();
    }
    std::size_t accepted = 0;
    std::string outbox_refusal;
    std::vector<std::string> applied_here;
    {
        std::lock_guard lock(outbox_mutex_);
        // The longest prefix whose events for other nodes fit the outbox.
        const std::size_t room =
            config_.cluster.forward_buffer - std::min<std::size_t>(outbox_.size(), config_.cluster.forward_buffer);
        std::size_t needed = 0, fits = 0;
        for (; fits < events.size(); ++fits) {
            const std::size_t remote = owners[fits].size() - (local[fits] ? 1 : 0);
            if (needed + remote > room) break;
            needed += remote;
        }
        // Local events of that prefix to the ingest queue, which may take fewer: the prefix ends at its first refusal.
        std::vector<warmup_usage_event> mine;
        std::vector<std::size_t> positions;
        for (std::size_t i = 0; i < fits; ++i) {
            if (!local[i]) continue;
            mine.push_back(events[i]);
            positions.push_back(i);
        }
        const std::size_t taken = mine.empty() ? 0 : runtime_.try_ingest(mine);
        accepted = taken < mine.size() ? positions[taken] : fits;
        for (std::size_t i = 0; i < accepted; ++i) {
            if (local[i]) applied_here.push_back(names[i]);
            if (owners[i].size() == (local[i] ? 1U : 0U)) continue;
            // One outbox entry per event: the forwarder sends it to every owner but this node.
            enqueue_locked({names[i], events[i].ts_ms, events[i].count, events[i].tenant_hash, local[i]});
        }
        if (accepted == fits && fits < events.size()) {
            std::lock_guard counters_lock(counters_mutex_);
            counters_.forward_refused += events.size() - fits;
            // Said as it is: the ingest queue has room, the events of other nodes' models cannot leave this node.
            outbox_refusal =
                redis_reachable()
                    ? fmt::format(
                          "the buffer for events of other nodes' models is full (cluster.forward_buffer: {} events): "
                          "Redis at {} has not taken the earlier ones yet; retry later",
                          config_.cluster.forward_buffer, endpoint_.describe())
                    : fmt::format(
                          "the buffer for events of other nodes' models is full (cluster.forward_buffer: {} events) "
                          "while Redis at {} does not take them ({}); retry later",
                          config_.cluster.forward_buffer, endpoint_.describe(), last_redis_error_);
        }
    }
    outbox_cv_.notify_one();
    {
        std::lock_guard lock(names_mutex_);
        for (std::size_t i = 0; i < accepted; ++i)
            if (registered_names_.insert(names[i]).second) names_to_register_.push_back(names[i]);
        for (const auto& name : applied_here) mark_dirty(name);
    }
    {
        std::lock_guard lock(counters_mutex_);
        counters_.events_local += applied_here.size();
    }
    return {accepted, std::move(outbox_refusal)};
}

void FleetNode::forwarder_loop() {
    RedisConnection redis(endpoint_, std::chrono::milliseconds(std::max<uint32_t>(config_.cluster.heartbeat_ms, 500)));
    const auto retry = std::chrono::milliseconds(std::max<uint32_t>(config_.cluster.heartbeat_ms / 4, 25));
    bool failed = false;
    while (!stopping_) {
        std::vector<OutboxEvent> batch;
        {
            std::unique_lock lock(outbox_mutex_);
            if (failed)  // Redis did not answer: try again after a quarter heartbeat (or at stop)
                outbox_cv_.wait_for(lock, retry, [&] { return stopping_.load(); });
            else
                outbox_cv_.wait(lock, [&] { return stopping_ || !outbox_.empty(); });
            if (stopping_) return;
            const std::size_t take = std::min(outbox_.size(), kBatchEvents);
            batch.assign(outbox_.begin(), outbox_.begin() + static_cast<std::ptrdiff_t>(take));
        }
        if (batch.empty()) {
            failed = false;
            continue;
        }
        // Routed by the placement in force now: an event queued under an older one goes to today's owners.
        const auto current = view();
        if (current->placement->nodes().empty()) {
            // No placement yet (started while Redis does not answer): new events are applied here meanwhile, but
            // events restored from the outbox file were meant for other nodes and wait for the first placement.
            failed = true;
            continue;
        }
        std::vector<std::vector<std::string>> commands;
        std::vector<std::size_t> command_event;  // commands[i] carries batch[command_event[i]]
        std::vector<warmup_usage_event> mine;
        std::vector<std::string> mine_names;
        std::vector<std::size_t> mine_event;  // mine[i] is batch[mine_event[i]]
        for (std::size_t e = 0; e < batch.size(); ++e) {
            const OutboxEvent& event = batch[e];
            for (const std::string& owner : owners_of(*current, event.model)) {
                if (owner == node_id_ && !id_held_elsewhere_) {
                    if (event.applied_here) continue;  // a replica here already has it
                    if (const auto index = runtime_.catalog().resolve(event.model)) {
                        mine.push_back({event.ts_ms, *index, event.count, event.tenant_hash, 0});
                        mine_names.push_back(event.model);
                        mine_event.push_back(e);
                    }
                    continue;
                }
                commands.push_back({"XADD", key("events:" + owner), "MAXLEN", "~", std::string(kStreamMaxEntries), "*",
                                    "m", event.model, "t", std::to_string(event.ts_ms), "c",
                                    std::to_string(event.count), "h", std::to_string(event.tenant_hash)});
                command_event.push_back(e);
            }
        }
        std::vector<RedisValue> replies;
        try {
            replies = redis.pipeline(commands);
        } catch (const RedisUnavailable& error) {
            note_redis_error(kForwarderLink, error);
            failed = true;
            continue;
        }
        // An error reply stored nothing: Redis at its maxmemory (OOM), a replica after a fail-over (READONLY), one
        // still loading its data set (LOADING). Those events stay at the head of the outbox and are sent again, as
        // if Redis had not answered; an event sent to some of its owners may then reach those twice (at least once).
        std::vector<bool> refused(batch.size(), false);
        std::string refusal;
        std::size_t delivered = 0;
        for (std::size_t i = 0; i < replies.size(); ++i) {
            if (!replies[i].is_error()) {
                ++delivered;
                continue;
            }
            refused[command_event[i]] = true;
            if (refusal.empty()) refusal = fmt::format("XADD {} refused: {}", commands[i][1], replies[i].text);
        }
        const std::size_t taken = mine.empty() ? 0 : runtime_.try_ingest(mine);
        // The events this node owns that its ingest queue refused (full) stay at the head of the outbox, to be applied
        // here at the next try; they were acknowledged to their clients and must not be lost. Sent to other owners
        // already, they reach those again then (at least once, as after a refusal by Redis).
        const bool local_full = taken < mine.size();
        if (local_full) {
            spdlog::warn(
                "DATA_COLLECTION_ERROR {} events moved here by a new placement wait in the outbox: the ingest queue is "
                "full",
                mine.size() - taken);
            for (std::size_t i = taken; i < mine.size(); ++i) refused[mine_event[i]] = true;
        }
        {
            std::lock_guard lock(outbox_mutex_);
            outbox_.erase(outbox_.begin(), outbox_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
            outbox_sent_since_save_ = true;
            if (!refusal.empty() || local_full) {
                // An event this node also owns was applied here just now: not again when it is sent again (nor after
                // a restart: the file is rewritten with the flag).
                for (std::size_t i = 0; i < taken; ++i) batch[mine_event[i]].applied_here = true;
                if (taken > 0) outbox_rewrite_due_ = true;
                std::vector<OutboxEvent> again;
                for (std::size_t e = 0; e < batch.size(); ++e)
                    if (refused[e]) again.push_back(batch[e]);
                outbox_.insert(outbox_.begin(), again.begin(), again.end());
            }
        }
        if (refusal.empty()) {
            note_redis_ok(kForwarderLink);
            failed = local_full;  // a full queue is tried again after the same pause as a refusal
        } else {
            note_redis_error(kForwarderLink, RedisCommandError(refusal));
            failed = true;
        }
        std::lock_guard names_lock(names_mutex_);
        for (std::size_t i = 0; i < taken; ++i) mark_dirty(mine_names[i]);
        std::lock_guard lock(counters_mutex_);
        counters_.events_forwarded += delivered;
        counters_.events_local += taken;
    }
}

void FleetNode::enqueue_locked(OutboxEvent event) {
    if (outbox_file_) outbox_unsaved_.push_back(event);
    outbox_.push_back(std::move(event));
}

// ---------------------------------------------------------------------------------------------------- outbox file

void FleetNode::outbox_keeper_loop() {
    const auto interval = std::chrono::milliseconds(kOutboxFlushIntervalMs);
    while (!stopping_) {
        {
            std::unique_lock lock(stop_mutex_);
            if (stop_cv_.wait_for(lock, interval, [&] { return stopping_.load(); })) return;  // stop() saves last
        }
        save_outbox();
    }
}

void FleetNode::note_outbox_file_error(const std::string& what, bool restore) {
    std::lock_guard lock(counters_mutex_);
    ++outbox_file_errors_;
    last_outbox_file_error_ = what;
    last_outbox_file_error_unix_ms_ = now_unix_ms();
    if (restore)
        outbox_restore_problem_ = what;
    else
        outbox_write_failure_ = what;
}

void FleetNode::restore_outbox() {
    if (!outbox_file_) return;
    const std::filesystem::path& file = outbox_file_->path();
    // A rewrite cut short by a crash leaves its temporary file (write_file_atomically: ".<name>.tmp-<pid>"); the
    // file itself is the old one, whole.
    try {
        std::error_code ignored;
        const std::string temporary_prefix = "." + file.filename().string() + ".tmp-";
        for (const auto& entry : std::filesystem::directory_iterator(file.parent_path(), ignored))
            if (entry.path().filename().string().starts_with(temporary_prefix))
                std::filesystem::remove(entry.path(), ignored);
    } catch (const std::exception&) {  // a leftover is harmless: never read
    }
    OutboxReadResult read;
    try {
        read = read_outbox_file(file);
    } catch (const std::exception& error) {  // it exists but cannot be read (permissions, an I/O error)
        read.found = true;
        read.problem = error.what();
    }
    if (!read.problem.empty()) {
        // Kept for an operator; the events that did read go to a fresh file below.
        const std::filesystem::path aside = file.string() + std::string(kOutboxDamagedSuffix);
        std::error_code moved;
        std::filesystem::rename(file, aside, moved);
        const std::string problem = fmt::format(
            "the outbox file {} did not read completely ({}): {} event(s) for other nodes restored, the rest lost; {}",
            file.string(), read.problem, read.events.size(),
            moved ? fmt::format("it could not be moved aside ({}) and is replaced", moved.message())
                  : fmt::format("the file is kept as {}", aside.string()));
        spdlog::error("CLUSTER_OUTBOX_RESTORE_ERROR {}", problem);
        note_outbox_file_error(problem, true);
    }
    if (!read.events.empty()) {
        {
            std::lock_guard lock(outbox_mutex_);  // no thread runs yet; taken for the invariant
            outbox_.insert(outbox_.begin(), read.events.begin(), read.events.end());
        }
        spdlog::info(
            "CLUSTER_OUTBOX_RESTORED {} events for other nodes from {}: sent to the owners of the placement in force "
            "once Redis takes them",
            read.events.size(), file.string());
    }
    if (!read.found) return;  // nothing on disk: the file is created by the first save that has something to keep
    try {
        outbox_file_->rewrite(read.events);  // whole again (a torn last line cut off), open for appends
    } catch (const std::exception& error) {
        outbox_save_failed_ = true;
        spdlog::error(
            "CLUSTER_OUTBOX_WRITE_ERROR {}: events for other nodes are not kept on disk until a write succeeds",
            error.what());
        note_outbox_file_error(error.what(), false);
    }
}

bool FleetNode::save_outbox() {
    if (!outbox_file_) return true;
    std::vector<OutboxEvent> fresh, image;
    bool empty = false, rewrite = false;
    {
        std::lock_guard lock(outbox_mutex_);
        if (outbox_unsaved_.empty() && !outbox_sent_since_save_ && !outbox_rewrite_due_ && !outbox_save_failed_)
            return true;  // the file holds the outbox already
        fresh.swap(outbox_unsaved_);
        empty = outbox_.empty();
        rewrite = outbox_save_failed_ || outbox_rewrite_due_ || outbox_file_->needs_rewrite() ||
                  outbox_file_->lines() + fresh.size() > 2 * outbox_.size() + kOutboxCompactSlackLines;
        if (rewrite && !empty) image.assign(outbox_.begin(), outbox_.end());
        outbox_sent_since_save_ = false;
        outbox_rewrite_due_ = false;
    }
    try {
        if (empty)
            outbox_file_->clear();  // Redis took every event the file holds
        else if (rewrite)
            outbox_file_->rewrite(image);
        else
            outbox_file_->append(fresh);  // the file holds every earlier event still in the outbox
    } catch (const std::exception& error) {
        // The events stay in the outbox; the next save rewrites the file with all of them.
        if (!std::exchange(outbox_save_failed_, true))
            spdlog::error(
                "CLUSTER_OUTBOX_WRITE_ERROR {}: events for other nodes are not kept on disk until a write succeeds "
                "(retried every {} ms)",
                error.what(), kOutboxFlushIntervalMs);
        note_outbox_file_error(error.what(), false);
        return false;
    }
    if (std::exchange(outbox_save_failed_, false)) {
        spdlog::info("CLUSTER_OUTBOX_WRITE_RECOVERED {} holds the outbox again", outbox_file_->path().string());
        std::lock_guard lock(counters_mutex_);
        outbox_write_failure_.clear();
    }
    return true;
}

// ---------------------------------------------------------------------------------------------------- consumer

void FleetNode::consumer_loop() {
    // The socket timeout must outlast the blocking read.
    const auto block_ms = std::max<uint32_t>(config_.cluster.heartbeat_ms / 2, 50);
    RedisConnection redis(endpoint_, std::chrono::milliseconds(block_ms + 2000));
    const auto retry = std::chrono::milliseconds(std::max<uint32_t>(config_.cluster.heartbeat_ms / 4, 25));
    const std::string stream = key("events:" + node_id_);
    // Two kinds of reads. A scan of the entries delivered to this node before and never acknowledged (at the start,
    // after a Redis error, and a quarter heartbeat after a pass-on was refused), page by page from `scan_from` (the
    // last id handled: an entry left pending by a refused pass-on is not read again within the same scan), and
    // otherwise new entries (">"). An entry whose pass-on Redis refused stays pending, unacknowledged, and is tried
    // again by the next scan; meanwhile new entries are read and applied as usual, so a refusal tied to one key
    // (WRONGTYPE, an ACL) never holds up the events of this node's own models.
    using Clock = std::chrono::steady_clock;
    bool scanning = true;
    std::string scan_from = "0";
    std::set<std::string> left_pending;          // ids the current scan left unacknowledged
    std::optional<Clock::time_point> rescan_at;  // entries are left pending: scanned again then
    const auto restart_scan = [&] {
        scanning = true;
        scan_from = "0";
        left_pending.clear();
        rescan_at.reset();
    };
    while (!stopping_) {
        if (id_held_elsewhere_) {  // the stream is the other process's to read
            restart_scan();        // and what is pending then, once it is this node's again
            std::unique_lock lock(stop_mutex_);
            stop_cv_.wait_for(lock, retry, [&] { return stopping_.load(); });
            continue;
        }
        try {
            if (!scanning && rescan_at && Clock::now() >= *rescan_at) restart_scan();
            // A blocking read for new entries ends when a scan is due (BLOCK 0 would wait for ever: at least 1 ms).
            auto block = std::chrono::milliseconds(block_ms);
            if (!scanning && rescan_at)
                block = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(*rescan_at - Clock::now()),
                                   std::chrono::milliseconds(1), block);
            const RedisValue reply =
                redis.command({"XREADGROUP", "GROUP", kGroup, node_id_, "COUNT", std::to_string(kBatchEvents), "BLOCK",
                               std::to_string(block.count()), "STREAMS", stream, scanning ? scan_from : ">"});
            if (reply.is_error()) {
                if (reply.text.starts_with("NOGROUP")) {
                    // A new stream, or Redis restarted empty: the group starts at the stream's beginning, so events
                    // forwarded before this node ever read are applied too.
                    const RedisValue created = redis.command({"XGROUP", "CREATE", stream, kGroup, "0", "MKSTREAM"});
                    if (created.is_error() && !created.text.starts_with("BUSYGROUP"))
                        throw RedisCommandError("XGROUP CREATE: " + created.text);
                    restart_scan();
                    continue;
                }
                throw RedisCommandError("XREADGROUP: " + reply.text);
            }
            note_redis_ok(kConsumerLink);
            if (reply.is_nil() || reply.elements.empty()) continue;  // nothing new within the block time
            const RedisValue& entries = reply.elements.front().elements.at(1);
            if (entries.elements.empty()) {
                if (scanning) {  // every pending entry is done, or left pending by a refusal
                    scanning = false;
                    unacknowledged_read_ = left_pending;  // forgets ids no longer pending (moved by a peer)
                    if (!left_pending.empty()) rescan_at = Clock::now() + retry;
                }
                continue;
            }
            const std::vector<std::string> refused = apply_stream_entries(redis, entries);
            if (scanning) {
                for (auto it = entries.elements.rbegin(); it != entries.elements.rend(); ++it)
                    if (!it->elements.empty()) {
                        scan_from = it->elements[0].text;
                        break;
                    }
                left_pending.insert(refused.begin(), refused.end());
            } else if (!refused.empty() && !rescan_at) {
                rescan_at = Clock::now() + retry;
            }
        } catch (const RedisUnavailable& error) {
            note_redis_error(kConsumerLink, error);
            restart_scan();
            std::unique_lock lock(stop_mutex_);
            stop_cv_.wait_for(lock, retry, [&] { return stopping_.load(); });
        } catch (const RedisCommandError& error) {  // Redis answers but refuses (LOADING, NOAUTH ...): as unreachable
            note_redis_error(kConsumerLink, error);
            restart_scan();
            std::unique_lock lock(stop_mutex_);
            stop_cv_.wait_for(lock, retry, [&] { return stopping_.load(); });
        } catch (const std::exception& error) {
            spdlog::error("CLUSTER_STREAM_ERROR {}: {}", stream, error.what());
            std::unique_lock lock(stop_mutex_);
            stop_cv_.wait_for(lock, retry, [&] { return stopping_.load(); });
        }
    }
}

FleetNode::StreamRead FleetNode::read_stream_entries(const RedisValue& entries) {
    StreamRead read;
    for (const RedisValue& entry : entries.elements) {
        if (entry.elements.empty()) continue;
        read.ids.push_back(entry.elements[0].text);
        if (unacknowledged_read_.insert(read.ids.back()).second) ++read.first_reads;
        // An entry whose fields were trimmed away (MAXLEN) has none: acknowledged, nothing to apply.
        auto fields = entry_fields(entry);
        if (fields.empty()) continue;
        const auto index = runtime_.catalog().resolve(fields["m"]);
        if (!index) {
            ++read.unknown;
            spdlog::warn(
                "DATA_COLLECTION_ERROR forwarded event for unknown model '{}' (no catalog entry of node {} "
                "matches it; give every node the same catalog)",
                fields["m"], node_id_);
            continue;
        }
        warmup_usage_event event{};
        event.model = *index;
        event.ts_ms = to_int(fields["t"], runtime_.clock().now_ms());
        event.count = static_cast<uint32_t>(std::max<int64_t>(1, to_int(fields["c"], 1)));
        event.tenant_hash = static_cast<uint32_t>(to_int(fields["h"], 0));
        read.events.push_back(event);
        read.names.push_back(fields["m"]);
        read.entry_of_event.push_back(read.ids.size() - 1);
        read.passes.push_back(std::max<int64_t>(0, to_int(fields["p"], 0)));  // absent: sent by its first node
    }
    return read;
}

void FleetNode::route_to_owners(StreamRead& read) {
    // An event forwarded under a placement this node no longer has (the fleet changed while it was in flight) goes on
    // to the model's owners now instead of being learned here, where nobody would ever read what it taught. It is
    // added to their streams before its entry is acknowledged, and not through the outbox: an entry acknowledged
    // while its event sat in the outbox only (the outbox file is written every 0.5 s, and not at all without a state
    // folder) would be lost by a crash in between. So an entry leaves this node's stream only once Redis has stored
    // its event in every owner's stream (XADD answered with an id). A crash (or a failure) after the XADD and before
    // the XACK sends it again from this stream after the restart: at least once, as the outbox.
    const auto current = view();
    std::size_t kept = 0;
    for (std::size_t i = 0; i < read.events.size(); ++i) {
        const warmup_usage_event event = read.events[i];
        const auto owners = owners_of(*current, read.names[i]);
        const bool owned_here = owners.empty() || std::find(owners.begin(), owners.end(), node_id_) != owners.end();
        // Passed on once already: the node that passed it placed the model here, this one places it elsewhere. One
        // of the two computes the placement from other inputs (a catalog or cluster settings that differ); learned
        // here, the event is not lost and stops travelling.
        const bool applied_anyway = !owned_here && read.passes[i] >= 1;
        if (applied_anyway && placement_disagreements_logged_.insert(read.names[i]).second)
            spdlog::error(
                "CLUSTER_PLACEMENT_DISAGREES model '{}' was passed on to node {}, which places it on {}: the nodes "
                "compute the placement from different catalogs or cluster settings (give every node the same); its "
                "events are applied here meanwhile",
                read.names[i], node_id_, fmt::join(owners, ", "));
        if (owned_here || applied_anyway) {
            read.events[kept] = event;
            read.names[kept] = read.names[i];
            read.entry_of_event[kept] = read.entry_of_event[i];
            read.passes[kept] = read.passes[i];
            ++kept;
            continue;
        }
        for (const std::string& owner : owners) {
            read.pass_on.push_back({"XADD", key("events:" + owner), "MAXLEN", "~", std::string(kStreamMaxEntries), "*",
                                    "m", read.names[i], "t", std::to_string(event.ts_ms), "c",
                                    std::to_string(event.count), "h", std::to_string(event.tenant_hash), "p",
                                    std::to_string(read.passes[i] + 1)});
            read.entry_of_pass_on.push_back(read.entry_of_event[i]);
        }
    }
    read.events.resize(kept);
    read.names.resize(kept);
    read.entry_of_event.resize(kept);
    read.passes.resize(kept);
}

FleetNode::PassOnOutcome FleetNode::pass_on_to_owners(RedisConnection& redis, const StreamRead& read) {
    // An error reply stored nothing: that entry stays unacknowledged, pending in this node's stream, and the consumer
    // tries it again a quarter heartbeat later while it goes on with new entries (its other owners may then receive
    // it twice). A refusal may concern all of Redis (OOM, READONLY: the membership and forwarder threads find it too)
    // or one owner's key only (WRONGTYPE, an ACL on that key): either way it does not make Redis count as down.
    PassOnOutcome outcome;
    outcome.unsent.assign(read.ids.size(), false);
    if (read.pass_on.empty()) return outcome;
    const std::vector<RedisValue> replies = redis.pipeline(read.pass_on);
    std::map<std::string, std::string> refused_keys;  // owner stream -> the first refusal of this batch
    std::set<std::string> taking_keys;
    for (std::size_t i = 0; i < replies.size(); ++i) {
        if (!replies[i].is_error()) {
            ++outcome.delivered;
            taking_keys.insert(read.pass_on[i][1]);
            continue;
        }
        ++outcome.refused;
        outcome.unsent[read.entry_of_pass_on[i]] = true;
        refused_keys.emplace(read.pass_on[i][1], replies[i].text);
    }
    note_pass_on_results(refused_keys, taking_keys);
    return outcome;
}

std::vector<std::string> FleetNode::apply_stream_entries(RedisConnection& redis, const RedisValue& entries) {
    StreamRead read = read_stream_entries(entries);
    route_to_owners(read);
    // Redis unreachable (RedisUnavailable, thrown): nothing is acknowledged, the consumer reads the entries again.
    const PassOnOutcome passed = pass_on_to_owners(redis, read);
    std::set<std::size_t> passed_on_entries;
    std::vector<std::string> left_pending;
    for (const std::size_t entry : read.entry_of_pass_on)
        if (!passed.unsent[entry]) passed_on_entries.insert(entry);
    for (std::size_t i = 0; i < read.ids.size(); ++i)
        if (passed.unsent[i]) left_pending.push_back(read.ids[i]);
    // Into the ingest queue, waiting while it is full (backpressure on the stream, nothing dropped).
    const auto retry = std::chrono::milliseconds(std::max<uint32_t>(config_.cluster.heartbeat_ms / 20, 5));
    for (std::size_t done = 0; done < read.events.size() && !stopping_;) {
        done += runtime_.try_ingest(std::span(read.events).subspan(done));
        if (done < read.events.size()) {
            std::unique_lock lock(stop_mutex_);
            stop_cv_.wait_for(lock, retry, [&] { return stopping_.load(); });
        }
    }
    if (stopping_) return left_pending;  // not acknowledged: read again at the next start
    // A control-loop step hands the taken events to the engines before it runs commands: once this returns, every
    // event above has been applied.
    runtime_.call_on_control([](WarmupEngine&) { return 0; });
    std::vector<std::string> ack{"XACK", key("events:" + node_id_), std::string(kGroup)};
    std::vector<std::string> trim{"XDEL", key("events:" + node_id_)};
    for (std::size_t i = 0; i < read.ids.size(); ++i) {
        if (passed.unsent[i]) continue;
        ack.push_back(read.ids[i]);
        trim.push_back(read.ids[i]);
    }
    const std::size_t acknowledged = ack.size() - 3;
    if (acknowledged > 0) redis.pipeline({ack, trim});
    for (std::size_t i = 0; i < read.ids.size(); ++i)
        if (!passed.unsent[i]) unacknowledged_read_.erase(read.ids[i]);
    {
        std::lock_guard lock(names_mutex_);
        for (const auto& name : read.names) mark_dirty(name);
    }
    {
        std::lock_guard lock(counters_mutex_);
        counters_.events_received += read.first_reads;  // an entry read again (left pending by a refusal) counts once
        counters_.events_acknowledged += acknowledged;
        counters_.events_dropped_unknown += read.unknown;
        counters_.events_passed_on += passed_on_entries.size();
        counters_.events_forwarded += passed.delivered;
        counters_.events_pass_on_refused += passed.refused;
    }
    return left_pending;
}

void FleetNode::note_pass_on_results(const std::map<std::string, std::string>& refused_keys,
                                     const std::set<std::string>& taking_keys) {
    const int64_t now = now_unix_ms();
    for (const auto& [stream, reason] : refused_keys) {
        const std::string what = fmt::format("XADD {} refused: {}", stream, reason);
        {
            // In the cluster's last error (GET /api/warmup/cluster, the cluster component) and its error count, not
            // as Redis down: the node's other commands succeed.
            std::lock_guard lock(counters_mutex_);
            ++counters_.redis_errors;
            last_redis_error_ = what;
            last_redis_error_unix_ms_ = now;
        }
        PassOnRefusal& seen = pass_on_refusals_[stream];
        if (seen.reason == reason && now - seen.logged_unix_ms < kPassOnRefusalLogIntervalMs) continue;
        seen.reason = reason;
        seen.logged_unix_ms = now;
        spdlog::warn(
            "CLUSTER_PASS_ON_REFUSED {}: the entries of {} to pass on there stay unacknowledged and are passed on "
            "again every {} ms until Redis takes them; this node's own events are still applied (logged again every "
            "{} s while it lasts)",
            what, key("events:" + node_id_), std::max<uint32_t>(config_.cluster.heartbeat_ms / 4, 25),
            kPassOnRefusalLogIntervalMs / 1000);
    }
    for (const std::string& stream : taking_keys) {
        if (refused_keys.contains(stream)) continue;
        if (pass_on_refusals_.erase(stream) > 0)
            spdlog::info("CLUSTER_PASS_ON_RESUMED {} takes events passed on by node {} again", stream, node_id_);
    }
}

// ---------------------------------------------------------------------------------------------------- membership

void FleetNode::membership_loop() {
    RedisConnection redis(endpoint_, std::chrono::milliseconds(std::max<uint32_t>(config_.cluster.heartbeat_ms, 500)));
    const auto tick = std::chrono::milliseconds(std::max<uint32_t>(config_.cluster.heartbeat_ms / 4, 25));
    bool reachable = (failing_links_.load() & kMembershipLink) == 0;
    while (!stopping_) {
        {
            std::unique_lock lock(stop_mutex_);
            if (stop_cv_.wait_for(lock, tick, [&] { return stopping_.load(); })) return;
        }
        try {
            // Back after an outage: register at once and write every owned model's state again (Redis may have
            // restarted empty).
            const bool resync = !reachable;
            if (resync) {
                std::lock_guard lock(names_mutex_);
                for (const auto& name : model_names_) names_to_register_.push_back(name);
                models_set_size_ = -1;
                next_state_write_unix_ms_ = 0;
                // One heartbeat for the peers to register again (an emptied Redis lists only the first back), also
                // before a first placement: placed on itself alone, a node started during the outage would apply
                // other nodes' events and write their models' state.
                hold_placement_until_unix_ms_ = now_unix_ms() + config_.cluster.heartbeat_ms;
                const auto current = view();
                for (const auto& [model, owners] : current->placement->assignment())
                    if (!owners.empty() && current->placement->nodes()[owners.front()].id == node_id_)
                        dirty_models_.insert(model);
            }
            membership_tick(redis, resync);
            note_redis_ok(kMembershipLink);
            reachable = true;
        } catch (const RedisUnavailable& error) {
            note_redis_error(kMembershipLink, error);
            reachable = false;
        } catch (const RedisCommandError& error) {
            // Redis answers but refuses (at its maxmemory, a read-only replica, still loading, AUTH required): as
            // unusable as an unreachable one, and resynchronised the same way once it takes commands again.
            note_redis_error(kMembershipLink, error);
            reachable = false;
        } catch (const std::exception& error) {
            spdlog::error("CLUSTER_ERROR membership of node {}: {}", node_id_, error.what());
        }
    }
}

std::string FleetNode::member_record(int64_t now_ms) {
    // The budget in force, not the one of the start: a reload or a reset-to-safe (half the budget) changes it, and
    // the placement must follow (a node that holds half as much gets its models' share for half as much). With an
    // experiment the acting arms share it; a shadow arm loads nothing.
    double used_mb = 0;
    try {
        std::tie(budget_mb_, used_mb) = runtime_.call_on_control([this](WarmupEngine&) {
            double budget = 0, used = 0;
            for (const auto& arm : runtime_.arms()) {
                if (arm->mode == LiveArm::Mode::Shadow) continue;
                budget += arm->engine->budget_mb();
                used += arm->engine->used_mb();
            }
            return std::pair{budget, used};
        });
    } catch (const std::exception&) {  // the control loop is stopping: the last budget, the use unknown (0)
    }
    const json member{{"id", node_id_},
                      {"instance", instance_},
                      {"address", advertise_url_},
                      {"budget_mb", budget_mb_},
                      {"free_mb", std::max(0.0, budget_mb_ - used_mb)},
                      {"started_unix_ms", started_unix_ms_},
                      {"renewed_unix_ms", now_ms},
                      {"placement_inputs", placement_inputs_}};
    return member.dump();
}

std::string FleetNode::instance_marker() const {
    const std::string object = json{{"instance", instance_}}.dump();  // {"instance":"<nonce>"}
    return object.substr(1, object.size() - 2);
}

void FleetNode::claim_node_id(RedisConnection& redis) {
    const uint32_t heartbeat_ms = config_.cluster.heartbeat_ms;
    const std::string node_key = key("node:" + node_id_);
    const auto ttl_ms = std::to_string(heartbeat_ms * 3 / 2);
    // A holder that crashed stops renewing: its key lapses within one expiry (1.5 heartbeats) of its last renewal. A
    // holder that still renews after that (and half a heartbeat more) is alive.
    const int64_t deadline = now_unix_ms() + heartbeat_ms * 3 / 2 + heartbeat_ms / 2;
    bool waited = false;
    for (;;) {
        const RedisValue claimed = redis.command({"SET", node_key, member_record(now_unix_ms()), "NX", "PX", ttl_ms});
        if (claimed.is_error()) throw RedisCommandError("SET NX " + node_key + ": " + claimed.text);
        if (!claimed.is_nil()) return;
        const RedisValue held = redis.checked({"GET", node_key});
        if (held.is_nil()) continue;  // lapsed between the two commands
        if (now_unix_ms() >= deadline)
            throw NodeIdInUse(fmt::format(
                "node id '{}' is in use: {} keeps {} registered at {}; give every node its own cluster.node_id (a "
                "restarted node may reuse its id once the old process is gone: its registration lapses within {} ms)",
                node_id_, describe_holder(held.text), node_key, endpoint_.describe(), heartbeat_ms * 3 / 2));
        if (!waited) {
            spdlog::info("CLUSTER_JOINING node id '{}' is registered by {}; waiting up to {} ms for it to lapse",
                         node_id_, describe_holder(held.text), heartbeat_ms * 2);
            waited = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(std::max<uint32_t>(heartbeat_ms / 4, 25)));
    }
}

void FleetNode::renew(RedisConnection& redis) {
    const int64_t now = now_unix_ms();
    const RedisValue held =
        redis.checked({"EVAL", kRenewScript, "2", key("node:" + node_id_), key("nodes"), member_record(now),
                       std::to_string(config_.cluster.heartbeat_ms * 3 / 2), instance_marker(), std::to_string(now),
                       node_id_, std::to_string(now - kMemberRetentionMs)});
    // nil: renewed; 1: registered again, the key having lapsed (or Redis having lost it); a record: another
    // process holds the id.
    if (held.is_nil() || held.type == RedisValue::Type::Integer) {
        if (held.type == RedisValue::Type::Integer && last_renewed_unix_ms_ != 0) {
            // The registration lapsed before this renewal (the process was stopped or stalled, or cut off from
            // Redis): the peers saw this node gone and may have placed its models on others, which learned from their
            // events meanwhile and write that back when they see this node again (within a heartbeat). Each model
            // it is the primary owner of imports what another node writes after this node's last renewal, as a node
            // taking a model over does, and its own state of them is not written meanwhile (it would overwrite
            // that hand-back). The placement applied in the next heartbeat is read as after a start: the models it
            // moves away are forgotten, not handed over (another node has owned them since the lapse).
            const auto current = view();
            const int64_t deadline = now + int64_t{kImportRetryHeartbeats} * config_.cluster.heartbeat_ms;
            std::size_t owned = 0;
            for (const auto& [model, owners] : current->placement->assignment()) {
                if (owners.empty() || current->placement->nodes()[owners.front()].id != node_id_) continue;
                auto& pending = pending_imports_[model];
                pending.imported_written_ms = std::max(pending.imported_written_ms, last_renewed_unix_ms_);
                pending.deadline_unix_ms = std::max(pending.deadline_unix_ms, deadline);
                pending.hold_writes = true;
                ++owned;
            }
            rejoined_until_unix_ms_ = now + config_.cluster.heartbeat_ms;
            spdlog::warn(
                "CLUSTER_REJOINED node {} found its registration lapsed, {} ms after its last renewal (the process "
                "was stopped or stalled, or Redis out of its reach): its peers may have placed its models elsewhere "
                "meanwhile; the state they hand back for its {} model(s) is imported",
                node_id_, now - last_renewed_unix_ms_, owned);
            std::lock_guard lock(counters_mutex_);
            ++counters_.rejoins;
        }
        last_renewed_unix_ms_ = now;
        if (id_held_elsewhere_.exchange(false)) {
            std::lock_guard lock(counters_mutex_);
            node_id_conflict_.clear();
            spdlog::warn("CLUSTER_NODE_ID_RECLAIMED node {} holds its id again (instance {})", node_id_, instance_);
        }
        return;
    }
    const std::string holder = describe_holder(held.text);
    std::lock_guard lock(counters_mutex_);
    const bool first = !id_held_elsewhere_.exchange(true) || node_id_conflict_ != holder;
    node_id_conflict_ = holder;
    if (first)
        spdlog::error(
            "CLUSTER_NODE_ID_CONFLICT node id '{}' is now registered by {}, not by this process (instance {}): two "
            "warmupd share one cluster.node_id. This one stops renewing it and reading its event stream until the id "
            "is free again; give every node its own cluster.node_id",
            node_id_, holder, instance_);
}

std::vector<FleetMember> FleetNode::read_members(RedisConnection& redis) {
    const RedisValue ids = redis.checked({"ZRANGE", key("nodes"), "0", "-1"});
    std::vector<FleetMember> members;
    if (ids.elements.empty()) return members;
    std::vector<std::string> get{"MGET"};
    for (const auto& id : ids.elements) get.push_back(key("node:" + id.text));
    const RedisValue values = redis.checked(get);
    for (std::size_t i = 0; i < ids.elements.size(); ++i) {
        FleetMember member;
        member.id = ids.elements[i].text;
        if (i < values.elements.size() && !values.elements[i].is_nil()) {
            const json parsed = json::parse(values.elements[i].text, nullptr, false);
            if (parsed.is_object()) {
                member.alive = true;
                member.address = parsed.value("address", "");
                member.budget_mb = parsed.value("budget_mb", 0.0);
                member.free_mb = parsed.value("free_mb", 0.0);
                member.started_unix_ms = parsed.value("started_unix_ms", int64_t{0});
                member.renewed_unix_ms = parsed.value("renewed_unix_ms", int64_t{0});
                member.placement_inputs = parsed.value("placement_inputs", "");
            }
        }
        members.push_back(std::move(member));
    }
    std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return members;
}

void FleetNode::refresh_models(RedisConnection& redis) {
    std::vector<std::string> fresh;
    {
        std::lock_guard lock(names_mutex_);
        fresh.swap(names_to_register_);
    }
    if (!fresh.empty()) {
        std::vector<std::string> add{"SADD", key("models")};
        add.insert(add.end(), fresh.begin(), fresh.end());
        redis.checked(add);
    }
    const RedisValue size = redis.checked({"SCARD", key("models")});
    if (size.integer == models_set_size_) return;  // models are only ever added: same size, same set
    const RedisValue names = redis.checked({"SMEMBERS", key("models")});
    for (const auto& name : names.elements) {
        if (!model_names_.insert(name.text).second) continue;
        const auto index = runtime_.catalog().resolve(name.text);
        if (!index) continue;  // no catalog entry here: this node cannot own it (its events are refused here too)
        models_.push_back({name.text, runtime_.catalog().record(*index).memory_mb, 1});
    }
    models_set_size_ = size.integer;
}

// Long: one heartbeat's steps in their required order (renew, members, replicas, placement, publish).
void FleetNode::membership_tick(RedisConnection& redis, bool force_renew) {
    const int64_t now = now_unix_ms();
    if (force_renew || now >= next_renew_unix_ms_) {
        renew(redis);
        next_renew_unix_ms_ = now + config_.cluster.heartbeat_ms / 2;
    }
    refresh_models(redis);
    std::vector<FleetMember> members = read_members(redis);
    // A member that is gone keeps its last known figures in the listing (alive: false), for operators.
    for (FleetMember& member : members) {
        if (member.alive) continue;
        for (const FleetMember& known : view()->members)
            if (known.id == member.id) {
                member = known;
                member.alive = false;
            }
    }

    // Nodes that place by other inputs compute another placement: said once per change, and in the health.
    std::string differ;
    for (const FleetMember& member : members)
        if (member.alive && !member.placement_inputs.empty() && member.placement_inputs != placement_inputs_)
            differ += fmt::format("{}{} (inputs {})", differ.empty() ? "" : ", ", member.id, member.placement_inputs);
    {
        std::lock_guard lock(counters_mutex_);
        if (differ != placement_inputs_differ_ && !differ.empty())
            spdlog::error(
                "CLUSTER_PLACEMENT_INPUTS_DIFFER {} compute the placement from another catalog or other cluster "
                "settings than node {} (inputs {}): they place some models elsewhere; give every node the same",
                differ, node_id_, placement_inputs_);
        placement_inputs_differ_ = differ;
    }

    // Demand-driven replicas: the primary owners publish their models' request rates; everyone reads the same hash.
    if (config_.cluster.replica_capacity_rps > 0) {
        const double seconds = last_demand_unix_ms_ == 0 ? 0 : static_cast<double>(now - last_demand_unix_ms_) / 1e3;
        if (seconds >= config_.cluster.heartbeat_ms / 1e3) {
            std::unordered_map<std::string, double> counts;
            {
                std::lock_guard lock(names_mutex_);
                counts.swap(demand_counts_);
            }
            const auto current = view();
            std::vector<std::string> write{"HSET", key("demand")};
            for (auto& [model, rate] : demand_rps_) rate *= 0.5;  // a half-life of one update
            for (const auto& [model, count] : counts) demand_rps_[model] += 0.5 * count / seconds;
            for (const auto& [model, rate] : demand_rps_) {
                const auto owners = owners_of(*current, model);
                if (owners.empty() || owners.front() != node_id_) continue;
                write.push_back(model);
                write.push_back(fmt::format("{:.3f}", rate));
            }
            if (write.size() > 2) redis.checked(write);
            last_demand_unix_ms_ = now;
        } else if (last_demand_unix_ms_ == 0) {
            last_demand_unix_ms_ = now;
        }
        const RedisValue demand = redis.checked({"HGETALL", key("demand")});
        const auto alive = static_cast<std::size_t>(
            std::count_if(members.begin(), members.end(), [](const FleetMember& m) { return m.alive; }));
        replicas_.clear();
        for (std::size_t i = 0; i + 1 < demand.elements.size(); i += 2) {
            const uint32_t replicas = replicas_for_demand(to_double(demand.elements[i + 1].text, 0),
                                                          config_.cluster.replica_capacity_rps, alive);
            if (replicas > 1) replicas_[demand.elements[i].text] = replicas;
        }
    }

    std::string fingerprint;
    std::vector<PlacementNode> nodes;
    std::string publisher;
    for (const FleetMember& member : members) {
        if (!member.alive || !(member.budget_mb > 0)) continue;
        nodes.push_back({member.id, member.budget_mb});
        fingerprint += fmt::format("{}={};", member.id, member.budget_mb);
        if (publisher.empty()) publisher = member.id;  // members are sorted by id
    }
    fingerprint += fmt::format("|{}|", models_.size());
    for (const auto& [model, replicas] : replicas_) fingerprint += fmt::format("{}x{};", model, replicas);

    const auto current = view();
    if (fingerprint != current->fingerprint && now >= hold_placement_until_unix_ms_) {
        for (PlacementModel& model : models_) {
            const auto found = replicas_.find(model.name);
            model.replicas = found == replicas_.end() ? 1 : found->second;
        }
        auto next = std::make_shared<PlacementView>();
        next->placement = std::make_shared<const Placement>(
            Placement::compute(nodes, models_, PlacementOptions{config_.cluster.load_slack}));
        next->members = std::move(members);
        next->members_read_unix_ms = now;
        next->fingerprint = std::move(fingerprint);
        next->publisher = publisher;
        apply_placement(redis, next);
        if (publisher == node_id_) publish_placement(redis, *next);
    } else {
        // Redis came back (possibly restarted empty): the publisher writes the placement in force again.
        if (force_renew && current->publisher == node_id_) publish_placement(redis, *current);
        // Same placement; fresh member figures (free memory, renewal times) for GET /api/warmup/cluster.
        auto next = std::make_shared<PlacementView>(*current);
        next->members = std::move(members);
        next->members_read_unix_ms = now;
        std::lock_guard lock(view_mutex_);
        view_ = std::move(next);
    }
    const auto in_force = view();
    const std::string move_refused = in_force->publisher == node_id_ ? move_dead_streams(redis, *in_force) : "";
    retry_pending_imports(redis);

    if (now >= next_state_write_unix_ms_) {
        std::vector<std::string> dirty;
        {
            std::lock_guard lock(names_mutex_);
            for (auto it = dirty_models_.begin(); it != dirty_models_.end();) {
                const auto owners = owners_of(*in_force, *it);
                const auto pending = pending_imports_.find(*it);
                if (pending != pending_imports_.end() && pending->second.hold_writes) {
                    ++it;  // waits for the hand-back after a lapse (or the end of its window), still dirty
                    continue;
                }
                if (!owners.empty() && owners.front() == node_id_) dirty.push_back(*it);
                it = dirty_models_.erase(it);
            }
        }
        write_states(redis, dirty);
        next_state_write_unix_ms_ = now + int64_t{config_.state.snapshot_interval_s} * 1000;
    }
    // Redis refused to store a moved entry (the entry stays in the dead node's stream): as any refusal, noted by
    // membership_loop (the cluster component says why), and the next tick resynchronises and moves it again.
    if (!move_refused.empty()) throw RedisCommandError(move_refused);
}

void FleetNode::apply_placement(RedisConnection& redis, std::shared_ptr<const PlacementView> next) {
    const auto previous = view();
    // The first placement since the start: what this node holds from its local snapshot for models it does not own
    // is forgotten, not written (the owners' state in Redis is the newer one).
    const bool first = previous->placement->nodes().empty();
    // Just back from a lapse of its registration (renew): what it held of the models moving away now is older than
    // what their owners since the lapse learned, so it is forgotten, not handed over.
    const bool back_from_lapse = now_unix_ms() < rejoined_until_unix_ms_;
    // Ownership before counts the models the previous placement had not placed yet too: their events were routed by
    // plain rendezvous (owners_of), possibly to this node.
    std::set<std::string> universe;
    for (const auto& [model, owners] : next->placement->assignment()) universe.insert(model);
    for (const auto& [model, owners] : previous->placement->assignment()) universe.insert(model);
    // Lost: owned here before and no more (handed over). At the first placement nothing was owned before; the models
    // of other nodes are only forgotten here (whatever a local snapshot held of them), not counted as handed over.
    std::vector<std::string> gained, lost, others_at_first;
    std::size_t owned_after = 0;
    for (const auto& model : universe) {
        const auto before = owners_of(*previous, model);
        const auto after = owners_of(*next, model);
        const bool had = !first && std::find(before.begin(), before.end(), node_id_) != before.end();
        const bool has = std::find(after.begin(), after.end(), node_id_) != after.end();
        owned_after += has ? 1 : 0;
        if (has && !had) gained.push_back(model);
        if (had && !has) lost.push_back(model);
        if (first && !has) others_at_first.push_back(model);
    }

    // 1. Gained models: their state in before their events are applied here. At the first placement after a start
    // that restored this node's own state, what this node wrote itself before that state was taken is in it, and
    // with the journal (replayed after it) so is everything it wrote up to its stop or crash: not imported over it.
    int64_t keep_own_written_up_to_ms = 0;
    if (const auto restored = runtime_.restored_state_created_unix_ms(); first && restored)
        keep_own_written_up_to_ms = config_.state.journal ? std::numeric_limits<int64_t>::max() : *restored;
    const auto imported = import_states(redis, gained, keep_own_written_up_to_ms);
    const int64_t deadline = now_unix_ms() + int64_t{kImportRetryHeartbeats} * config_.cluster.heartbeat_ms;
    for (const auto& model : gained)
        pending_imports_[model] = {imported.contains(model) ? imported.at(model) : 0, deadline};
    // 2. The new placement in force: events are routed by it from now on.
    {
        std::lock_guard lock(view_mutex_);
        view_ = next;
    }
    // 3. Lost models: hand over what was learned here (including the events applied until step 2), then forget.
    std::vector<std::string> primary_lost;
    for (const auto& model : lost) {
        const auto owners = owners_of(*previous, model);
        if (!owners.empty() && owners.front() == node_id_) primary_lost.push_back(model);
        pending_imports_.erase(model);
    }
    const std::size_t handed = back_from_lapse ? 0 : write_states(redis, primary_lost);
    forget_models(lost);
    forget_models(others_at_first);
    // The warm set the start restored: the models this node owns now, once their state is in (step 1).
    if (first) runtime_.load_pending_warm_sets();

    std::size_t alive = 0;
    for (const auto& member : next->members) alive += member.alive ? 1 : 0;
    {
        std::lock_guard lock(counters_mutex_);
        ++counters_.placement_changes;
        counters_.models_taken_over += gained.size();
        counters_.models_handed_over += lost.size();
    }
    spdlog::info(
        "CLUSTER_PLACEMENT node {}: {} nodes alive, {} models placed, {} owned here ({} taken over, {} with "
        "state imported; {} handed over, {} with state written{})",
        node_id_, alive, next->placement->assignment().size(), owned_after, gained.size(), imported.size(), lost.size(),
        handed,
        first ? fmt::format("; first placement here: {} models of other nodes forgotten", others_at_first.size()) : "");
}

void FleetNode::retry_pending_imports(RedisConnection& redis) {
    if (pending_imports_.empty()) return;
    const int64_t now = now_unix_ms();
    std::vector<std::string> models;
    std::vector<std::vector<std::string>> reads;
    for (auto it = pending_imports_.begin(); it != pending_imports_.end();) {
        if (now > it->second.deadline_unix_ms) {
            it = pending_imports_.erase(it);
            continue;
        }
        models.push_back(it->first);
        reads.push_back({"HMGET", key("state:" + it->first), "writer", "written_ms"});
        ++it;
    }
    const auto replies = redis.pipeline(reads);
    std::vector<std::string> newer;
    for (std::size_t i = 0; i < models.size(); ++i) {
        const auto& fields = replies[i].elements;
        if (fields.size() < 2 || fields[0].is_nil() || fields[1].is_nil()) continue;
        if (fields[0].text == node_id_) continue;  // written by this node since
        if (to_int(fields[1].text, 0) > pending_imports_[models[i]].imported_written_ms) newer.push_back(models[i]);
    }
    if (newer.empty()) return;
    for (const auto& [model, written_ms] : import_states(redis, newer)) {
        pending_imports_[model].imported_written_ms = written_ms;
        pending_imports_[model].hold_writes = false;  // the hand-back is in: this node's state is the newest now
    }
}

void FleetNode::publish_placement(RedisConnection& redis, const PlacementView& view) {
    json owners = json::object();
    for (const auto& [model, nodes] : view.placement->assignment()) {
        json list = json::array();
        for (const uint32_t node : nodes) list.push_back(view.placement->nodes()[node].id);
        owners[model] = std::move(list);
    }
    json nodes = json::array();
    for (const auto& member : view.members)
        nodes.push_back(
            {{"id", member.id}, {"alive", member.alive}, {"budget_mb", member.budget_mb}, {"address", member.address}});
    redis.checked(
        {"SET", key("placement"),
         json{{"publisher", node_id_}, {"computed_unix_ms", now_unix_ms()}, {"nodes", nodes}, {"owners", owners}}
             .dump()});
}

std::string FleetNode::move_dead_streams(RedisConnection& redis, const PlacementView& view) {
    // An entry leaves the dead node's stream only once Redis has stored its event in every owner's stream (each XADD
    // answered with an id), so nothing is lost between the two: a write refused (OOM at maxmemory, where Redis still
    // takes XDEL; READONLY) keeps the entry, moved again at the next membership tick. An entry of a replicated model
    // that some owners took before the refusal reaches those twice (at least once), as one moved again after a crash
    // between the XADDs and the XDEL does.
    std::string refusal;
    for (const FleetMember& member : view.members) {
        if (member.alive || member.id == node_id_) continue;
        const std::string stream = key("events:" + member.id);
        for (;;) {
            const RedisValue entries =
                redis.checked({"XRANGE", stream, "-", "+", "COUNT", std::to_string(kBatchEvents)});
            if (entries.elements.empty()) break;
            std::vector<std::vector<std::string>> commands;
            std::vector<std::size_t> command_entry;  // commands[i] carries the event of entries.elements[i]
            for (std::size_t e = 0; e < entries.elements.size(); ++e) {
                auto fields = entry_fields(entries.elements[e]);
                if (fields.empty()) continue;
                for (const std::string& owner : owners_of(view, fields["m"])) {
                    commands.push_back({"XADD", key("events:" + owner), "MAXLEN", "~", std::string(kStreamMaxEntries),
                                        "*", "m", fields["m"], "t", fields["t"], "c", fields["c"], "h", fields["h"]});
                    command_entry.push_back(e);
                }
            }
            std::vector<bool> refused(entries.elements.size(), false);
            std::string refused_here;
            const std::vector<RedisValue> replies = redis.pipeline(commands);
            for (std::size_t i = 0; i < replies.size(); ++i) {
                if (!replies[i].is_error()) continue;
                refused[command_entry[i]] = true;
                if (refused_here.empty())
                    refused_here =
                        fmt::format("moving {}: XADD {} refused: {}", stream, commands[i][1], replies[i].text);
            }
            std::vector<std::string> remove{"XDEL", stream};
            for (std::size_t e = 0; e < entries.elements.size(); ++e)
                if (!refused[e]) remove.push_back(entries.elements[e].elements.at(0).text);
            std::size_t moved = 0;
            if (remove.size() > 2) {
                const RedisValue removed = redis.command(remove);
                if (removed.is_error()) {
                    // Moved but still there: moved again later (at least once), not again and again in this loop.
                    if (refused_here.empty()) refused_here = fmt::format("XDEL {} refused: {}", stream, removed.text);
                } else {
                    moved = remove.size() - 2;
                }
            }
            {
                std::lock_guard lock(counters_mutex_);
                counters_.dead_stream_entries_moved += moved;
            }
            if (refused_here.empty()) continue;
            // The rest of this stream waits for the next tick: read from its start again here, the entries kept
            // would only be refused again.
            if (refusal.empty()) refusal = std::move(refused_here);
            break;
        }
    }
    return refusal;
}

// ---------------------------------------------------------------------------------------------------- state

std::size_t FleetNode::write_states(RedisConnection& redis, const std::vector<std::string>& models) {
    // A node whose id another process holds writes nothing: the models are that process's now.
    if (models.empty() || id_held_elsewhere_) return 0;
    struct Exported {
        std::string model;
        std::vector<std::pair<std::string, std::string>> fields;  // "slot.<key>" -> "<schema>\n<bytes>"
    };
    std::size_t written = 0;
    for (std::size_t start = 0; start < models.size(); start += kStateBatchModels) {
        const std::vector<std::string> chunk(
            models.begin() + static_cast<std::ptrdiff_t>(start),
            models.begin() + static_cast<std::ptrdiff_t>(std::min(models.size(), start + kStateBatchModels)));
        const auto exported = runtime_.call_on_control([&](WarmupEngine&) {
            std::vector<Exported> out;
            const PluginSet& plugins = runtime_.plugins();
            for (const auto& model : chunk) {
                const auto index = runtime_.catalog().resolve(model);
                if (!index) continue;
                Exported entry{model, {}};
                for (const ComponentSlot slot : kAllSlots) {
                    const auto& instance = plugins.at(slot);
                    const auto* table = instance ? model_state_of(*instance) : nullptr;
                    if (table == nullptr) continue;
                    std::string bytes;
                    const warmup_byte_writer writer{&bytes, [](void* context, const char* data, size_t size) {
                                                        static_cast<std::string*>(context)->append(data, size);
                                                        return 0;
                                                    }};
                    const auto in_call = instance->marked("export_model");
                    if (ErrorPtr error{table->export_model(instance->self(), *index, &writer)}) {
                        spdlog::warn("CLUSTER_STATE_EXPORT_ERROR {} export_model({}): {}", instance->label(), model,
                                     error->message);
                        continue;
                    }
                    if (bytes.empty()) continue;
                    entry.fields.emplace_back(std::string(kSlotFieldPrefix) + std::string(slot_key(slot)),
                                              std::string(table->schema(instance->self())) + "\n" + bytes);
                }
                if (!entry.fields.empty()) out.push_back(std::move(entry));
            }
            return out;
        });
        std::vector<std::vector<std::string>> commands;
        const std::string now = std::to_string(now_unix_ms());
        for (const Exported& entry : exported) {
            // MULTI/EXEC: a reader sees every slot of this write or none. A slot this write does not carry (its
            // plugin keeps no per-model state, as the safe configuration's keep-alive predictor) keeps what the last
            // write that had it held: a spell in safe mode does not erase the predictor's state from the fleet. The
            // importer takes a slot only under its plugin's own schema.
            std::vector<std::string> set{"HSET", key("state:" + entry.model), "writer", node_id_, "written_ms", now};
            for (const auto& [field, value] : entry.fields) {
                set.push_back(field);
                set.push_back(value);
            }
            commands.push_back({"MULTI"});
            commands.push_back(std::move(set));
            commands.push_back({"EXEC"});
        }
        const std::vector<RedisValue> replies = redis.pipeline(commands);
        // Each model's write is MULTI, HSET, EXEC: its EXEC answers an error (EXECABORT after Redis refused a
        // queued command: OOM at maxmemory, READONLY after a fail-over) or nil when nothing was stored.
        std::size_t slots = 0;
        std::size_t failed = 0;
        std::string first_failure;
        for (std::size_t i = 0; i < exported.size(); ++i) {
            const std::size_t exec = 3 * i + 2;
            const bool stored = exec < replies.size() && !replies[exec].is_error() && !replies[exec].is_nil();
            if (!stored) {
                if (failed++ == 0)
                    first_failure = fmt::format(
                        "{}: {}", exported[i].model,
                        exec < replies.size() && replies[exec].is_error() ? replies[exec].text : "no reply");
                continue;
            }
            ++written;
            slots += exported[i].fields.size();
        }
        if (failed > 0)
            spdlog::error(
                "CLUSTER_STATE_WRITE_ERROR Redis stored the state of {} of {} model(s) only (first refused: "
                "{}); the others' state is not there for their next owner",
                exported.size() - failed, exported.size(), first_failure);
        std::lock_guard lock(counters_mutex_);
        counters_.state_writes += slots;
    }
    return written;
}

std::map<std::string, int64_t> FleetNode::import_states(RedisConnection& redis, const std::vector<std::string>& models,
                                                        int64_t keep_own_written_up_to_ms) {
    std::map<std::string, int64_t> imported;
    std::size_t kept_own = 0;
    for (std::size_t start = 0; start < models.size(); start += kStateBatchModels) {
        std::vector<std::string> chunk;
        std::vector<std::vector<std::string>> reads;
        for (std::size_t i = start; i < std::min(models.size(), start + kStateBatchModels); ++i) {
            chunk.push_back(models[i]);
            reads.push_back({"HGETALL", key("state:" + models[i])});
        }
        const auto replies = redis.pipeline(reads);
        struct Found {
            std::string model;
            int64_t written_ms = 0;
            std::string writer;
            std::vector<std::pair<ComponentSlot, std::string>> slots;  // slot -> "<schema>\n<bytes>"
        };
        std::vector<Found> found;
        for (std::size_t i = 0; i < chunk.size(); ++i) {
            Found entry{chunk[i], 0, "", {}};
            const auto& list = replies[i].elements;
            for (std::size_t f = 0; f + 1 < list.size(); f += 2) {
                const std::string& field = list[f].text;
                if (field == "written_ms") entry.written_ms = to_int(list[f + 1].text, 0);
                if (field == "writer") entry.writer = list[f + 1].text;
                if (!field.starts_with(kSlotFieldPrefix)) continue;
                if (const auto slot =
                        slot_from_key_or_deprecated(std::string_view(field).substr(kSlotFieldPrefix.size())))
                    entry.slots.emplace_back(*slot, list[f + 1].text);
            }
            if (entry.writer == node_id_ && entry.written_ms <= keep_own_written_up_to_ms) {
                imported[entry.model] = entry.written_ms;
                ++kept_own;
                continue;
            }
            if (!entry.slots.empty()) found.push_back(std::move(entry));
        }
        if (found.empty()) continue;
        const auto [imports, errors] = runtime_.call_on_control([&](WarmupEngine& engine) {
            uint64_t ok = 0, failed = 0;
            const PluginSet& plugins = runtime_.plugins();
            const warmup_time_ms now_ms = runtime_.clock().now_ms();
            for (const Found& entry : found) {
                const auto index = runtime_.catalog().resolve(entry.model);
                if (!index) continue;
                for (const auto& [slot, value] : entry.slots) {
                    const auto& instance = plugins.at(slot);
                    const auto* table = instance ? model_state_of(*instance) : nullptr;
                    const auto newline = value.find('\n');
                    if (table == nullptr || newline == std::string::npos) continue;
                    const std::string_view schema(value.data(), newline);
                    if (schema != table->schema(instance->self())) {
                        spdlog::warn(
                            "CLUSTER_STATE_IMPORT_ERROR {} of {}: schema {} written by {}, this node's {} "
                            "has {} (the model starts cold in this slot)",
                            slot_key(slot), entry.model, schema, entry.writer, instance->label(),
                            table->schema(instance->self()));
                        ++failed;
                        continue;
                    }
                    const std::string_view bytes = std::string_view(value).substr(newline + 1);
                    const auto in_call = instance->marked("import_model");
                    if (ErrorPtr error{table->import_model(instance->self(), *index,
                                                           warmup_string_view{bytes.data(), bytes.size()})}) {
                        spdlog::warn("CLUSTER_STATE_IMPORT_ERROR {} import_model({}) of the state written by {}: {}",
                                     instance->label(), entry.model, entry.writer, error->message);
                        ++failed;
                        continue;
                    }
                    ++ok;
                }
                // Decide with what was imported: a fresh plan now (a rhythm due soon is pre-warmed on time).
                engine.replan_now(*index, now_ms);
            }
            return std::pair{ok, failed};
        });
        for (const Found& entry : found) imported[entry.model] = entry.written_ms;
        std::lock_guard lock(counters_mutex_);
        counters_.state_imports += imports;
        counters_.state_import_errors += errors;
    }
    if (kept_own > 0)
        spdlog::info(
            "CLUSTER_STATE_KEPT {} model(s) whose state in Redis this node wrote before its restart keep the state it "
            "restored (its snapshot and the journal after it are newer)",
            kept_own);
    return imported;
}

void FleetNode::forget_models(const std::vector<std::string>& models) {
    if (models.empty()) return;
    // Every arm of a live experiment too (its own plugin instances and books): a model another node owns now is kept
    // or pre-warmed by no arm here.
    runtime_.call_on_control([&](WarmupEngine&) {
        const warmup_time_ms now_ms = runtime_.clock().now_ms();
        for (const auto& model : models) {
            const auto index = runtime_.catalog().resolve(model);
            if (!index) continue;
            for (const auto& arm : runtime_.arms()) {
                if (!arm || !arm->plugins || !arm->engine) continue;
                for (const ComponentSlot slot : kAllSlots) {
                    const auto& instance = arm->plugins->at(slot);
                    const auto* table = instance ? model_state_of(*instance) : nullptr;
                    if (table == nullptr) continue;
                    const auto in_call = instance->marked("forget_model");
                    if (ErrorPtr error{table->forget_model(instance->self(), *index)})
                        spdlog::warn("CLUSTER_STATE_FORGET_ERROR {} forget_model({}): {}", instance->label(), model,
                                     error->message);
                }
                // A plan from what is left (nothing): the model is no longer kept or pre-warmed for this node.
                arm->engine->replan_now(*index, now_ms);
            }
        }
        return 0;
    });
}

// ---------------------------------------------------------------------------------------------------- HTTP

json FleetNode::cluster_json() const {
    const auto current = view();
    // The membership is current while the membership thread's commands succeed and its last read is at most two
    // heartbeats old: the bound within which every peer notices a node that stopped renewing anyway. Past that (Redis
    // unreachable or refusing, or the thread held up), what the last read said of other nodes may be wrong by now in
    // either direction, so they are reported "unknown", never "alive" or "gone" from an old read.
    const int64_t now = now_unix_ms();
    const int64_t read_ms = current->members_read_unix_ms;
    const bool membership_current = (failing_links_.load() & kMembershipLink) == 0 && read_ms > 0 &&
                                    now - read_ms <= 2 * int64_t{config_.cluster.heartbeat_ms};
    json nodes = json::array();
    for (const FleetMember& member : current->members) {
        const bool self = member.id == node_id_;
        const std::string_view read_state = member.alive ? "alive" : "gone";
        json entry{{"id", member.id}};
        if (self) {  // this process is answering: alive, whatever Redis holds (its key may lapse during an outage)
            entry["alive"] = true;
            entry["state"] = "alive";
        } else if (membership_current) {
            entry["alive"] = member.alive;
            entry["state"] = read_state;
        } else {
            entry["alive"] = nullptr;
            entry["state"] = "unknown";
            entry["last_known_state"] = read_state;
        }
        entry.update(json{{"budget_mb", member.budget_mb},
                          {"free_mb", member.free_mb},
                          {"address", member.address},
                          {"started_unix_ms", member.started_unix_ms},
                          {"renewed_unix_ms", member.renewed_unix_ms},
                          {"placement_inputs", member.placement_inputs},
                          {"self", self}});
        nodes.push_back(std::move(entry));
    }
    json owners = json::object();
    for (const auto& [model, list] : current->placement->assignment()) {
        json ids = json::array();
        for (const uint32_t node : list) ids.push_back(current->placement->nodes()[node].id);
        owners[model] = std::move(ids);
    }
    const FleetCounters c = counters();
    std::string last_error;
    {
        std::lock_guard lock(counters_mutex_);
        last_error = last_redis_error_;
    }
    return json{
        {"enabled", true},
        {"node_id", node_id_},
        {"redis", {{"url", endpoint_.describe()}, {"reachable", redis_reachable()}, {"last_error", last_error}}},
        {"membership",
         {{"current", membership_current},
          {"as_of_unix_ms", read_ms > 0 ? json(read_ms) : json(nullptr)},
          {"age_ms", read_ms > 0 ? json(std::max<int64_t>(0, now - read_ms)) : json(nullptr)}}},
        {"publisher", current->publisher},
        {"nodes", nodes},
        {"owners", owners},
        {"counters",
         {{"events_local", c.events_local},
          {"events_forwarded", c.events_forwarded},
          {"events_received", c.events_received},
          {"events_acknowledged", c.events_acknowledged},
          {"events_dropped_unknown", c.events_dropped_unknown},
          {"forward_buffered", c.forward_buffered},
          {"forward_refused", c.forward_refused},
          {"placement_changes", c.placement_changes},
          {"models_taken_over", c.models_taken_over},
          {"models_handed_over", c.models_handed_over},
          {"state_imports", c.state_imports},
          {"state_import_errors", c.state_import_errors},
          {"state_writes", c.state_writes},
          {"redis_errors", c.redis_errors},
          {"dead_stream_entries_moved", c.dead_stream_entries_moved},
          {"events_passed_on", c.events_passed_on},
          {"events_pass_on_refused", c.events_pass_on_refused},
          {"rejoins", c.rejoins}}}};
}

}  // namespace warmup::host::cluster
