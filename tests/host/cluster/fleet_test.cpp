// Three real warmupd nodes sharing a real redis-server (each test starts its own on a free loopback port): events reach
// the owners, a killed node's models and learned rhythm are re-homed, a Redis outage is survived and resynchronised,
// a restarted node rejoins without fighting over its models.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "cluster/outbox_file.hpp"
#include "fleet_test_support.hpp"

namespace warmup::test {
namespace {

constexpr int64_t kRhythmGapMs = 30'000;
constexpr int kRhythmUses = 20;

class FleetTest : public ::testing::Test {
  protected:
    void SetUp() override { redis_ = std::make_unique<RedisServer>(redis_port_); }

    /// Starts nodes "node-0".."node-<count-1>" and waits until they agree on the placement. `cluster_extra_of_node_0`
    /// is added to node-0's cluster section, `cluster_extra` to every node's.
    void start_nodes(int count, const std::string& cluster_extra_of_node_0 = "",
                     const std::string& cluster_extra = "") {
        for (int i = 0; i < count; ++i)
            nodes_.push_back(std::make_unique<Node>("node-" + std::to_string(i), dir_, redis_->url(),
                                                    (i == 0 ? cluster_extra_of_node_0 : "") + cluster_extra));
        ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle)) << nodes_[0]->cluster().dump();
    }
    [[nodiscard]] std::vector<const Node*> all() const {
        std::vector<const Node*> out;
        for (const auto& node : nodes_) out.push_back(node.get());
        return out;
    }
    [[nodiscard]] std::vector<const Node*> all_but(const std::string& id) const {
        std::vector<const Node*> out;
        for (const auto& node : nodes_)
            if (node->id() != id) out.push_back(node.get());
        return out;
    }
    [[nodiscard]] std::vector<std::string> ids() const {
        std::vector<std::string> out;
        for (const auto& node : nodes_) out.push_back(node->id());
        return out;
    }
    Node& node(const std::string& id) {
        for (auto& node : nodes_)
            if (node->id() == id) return *node;
        throw std::runtime_error("no node " + id);
    }
    /// A rhythm model that `owner` owns in node-0's view ("" when none of the twelve is its).
    [[nodiscard]] std::string rhythm_model_owned_by(const std::string& owner) const {
        for (int i = 0; i < 12; ++i)
            if (nodes_[0]->owners("rhythm/" + std::to_string(i)).at(0) == owner) return "rhythm/" + std::to_string(i);
        return "";
    }
    /// Teaches every model of `models` a 30 s rhythm through node-0 (forwarded to the owners), the last use now, and
    /// waits until each owner has written the model's state to Redis after learning it. Returns the last use time.
    int64_t teach_rhythm(const std::vector<std::string>& models) {
        const int64_t last_ms = system_now_ms();
        std::string body;
        for (const auto& model : models) body += rhythm_ndjson(model, last_ms, kRhythmUses, kRhythmGapMs);
        const auto [status, answer] = nodes_[0]->post_events(body);
        EXPECT_EQ(status, 200) << answer.dump();
        auto redis = redis_->client();
        for (const auto& model : models) {
            const std::string owner = nodes_[0]->owners(model).at(0);
            EXPECT_TRUE(poll_until(
                [&] {
                    const auto fields = redis.command({"HMGET", "warmup:state:" + model, "writer", "slot.analyzer"});
                    // The analyzer's per-model state names the request count on its third line: all 20 uses learned.
                    return fields.elements.size() == 2 && fields.elements[0].text == owner &&
                           fields.elements[1].text.find("\n" + std::to_string(kRhythmUses) + " ") != std::string::npos;
                },
                kSettle))
                << model << " owned by " << owner;
        }
        return last_ms;
    }

    TempDir dir_{"warmup-fleet"};
    int redis_port_ = free_loopback_port();
    std::unique_ptr<RedisServer> redis_;
    std::vector<std::unique_ptr<Node>> nodes_;
};

/// The model's prediction says "next use 30 s after the last" (within two histogram bins).
bool predicts_rhythm(const json& prediction, int64_t last_ms) {
    if (!prediction.is_object() || !prediction["next_arrival_ms"].is_number()) return false;
    const int64_t next = prediction["next_arrival_ms"].get<int64_t>();
    return std::abs(next - (last_ms + kRhythmGapMs)) <= 500;
}

TEST_F(FleetTest, EveryNodeComputesAndPublishesTheSamePlacement) {
    start_nodes(3);
    const json view = nodes_[0]->cluster();
    ASSERT_EQ(view["nodes"].size(), 3U);
    for (const auto& member : view["nodes"]) {
        EXPECT_EQ(member["alive"], true);
        EXPECT_EQ(member["state"], "alive");
        EXPECT_EQ(member["budget_mb"].get<double>(), 4000);
        EXPECT_TRUE(member["address"].get<std::string>().starts_with("http://127.0.0.1:"));
    }
    // Every catalog model has exactly one owner, and the three nodes share the work.
    std::map<std::string, int> models_per_node;
    for (int i = 0; i < 12; ++i) {
        const auto owners = view["owners"]["rhythm/" + std::to_string(i)];
        ASSERT_EQ(owners.size(), 1U);
        ++models_per_node[owners[0].get<std::string>()];
    }
    EXPECT_EQ(models_per_node.size(), 3U);
    for (const auto& [id, count] : models_per_node) EXPECT_LE(count, 5) << id;  // bound: 125 % of a third of 12
    // The publisher (smallest id) wrote the same owners to Redis for a gateway.
    auto redis = redis_->client();
    ASSERT_TRUE(poll_until(
        [&] {
            const auto published = redis.command({"GET", "warmup:placement"});
            return !published.is_nil() && json::parse(published.text)["owners"] == view["owners"];
        },
        kSettle));
}

TEST_F(FleetTest, EventsPostedToOneNodeReachTheOwnersAndOnlyOwnersLoad) {
    start_nodes(3);
    // Exact catalog names are placed from the start: each event goes straight to its owner.
    std::string body;
    uint64_t for_other_nodes = 0;  // stream writes the placement calls for: one per owner that is not node 0
    for (int i = 0; i < 12; ++i) {
        body += json{{"model", "rhythm/" + std::to_string(i)}}.dump() + "\n";
        for (const std::string& owner : nodes_[0]->owners("rhythm/" + std::to_string(i)))
            for_other_nodes += owner != nodes_[0]->id() ? 1 : 0;
    }
    ASSERT_GT(for_other_nodes, 0U) << "with three nodes some of twelve models belong to another node";
    const auto [status, answer] = nodes_[0]->post_events(body);
    ASSERT_EQ(status, 200) << answer.dump();
    EXPECT_EQ(answer["accepted"], 12);
    for (int i = 0; i < 12; ++i) {
        const std::string model = "rhythm/" + std::to_string(i);
        const std::string owner = nodes_[0]->owners(model).at(0);
        EXPECT_TRUE(poll_until(
            [&] {
                const auto resident = node(owner).resident();
                return std::find(resident.begin(), resident.end(), model) != resident.end();
            },
            kSettle))
            << model << " never loaded on its owner " << owner;
        for (const Node* other : all_but(owner)) {
            const auto resident = other->resident();
            EXPECT_EQ(std::find(resident.begin(), resident.end(), model), resident.end())
                << model << " loaded on " << other->id() << ", which does not own it";
        }
    }
    // Forwarded events were acknowledged by the owners after they were applied.
    const auto applied = [&] {
        uint64_t total = nodes_[0]->counter("events_local");
        for (const auto& node : nodes_) total += node->counter("events_acknowledged");
        return total;
    };
    EXPECT_TRUE(poll_until([&] { return applied() == 12U; }, kSettle)) << applied();
    EXPECT_EQ(nodes_[0]->counter("events_forwarded"), 12U - nodes_[0]->counter("events_local"));
    // /metrics says the same as a Prometheus server scrapes it: what was posted for models of other nodes was
    // forwarded, the rest applied here, and the owners received and acknowledged the forwarded ones.
    EXPECT_EQ(nodes_[0]->metric("warmup_fleet_events_forwarded_total"), static_cast<double>(for_other_nodes));
    EXPECT_EQ(nodes_[0]->metric("warmup_fleet_events_local_total"), 12.0 - static_cast<double>(for_other_nodes));
    EXPECT_EQ(nodes_[0]->metric("warmup_fleet_redis_up"), 1.0);
    EXPECT_EQ(nodes_[0]->metric("warmup_fleet_forward_buffered"), 0.0);
    double acknowledged_elsewhere = 0;
    for (const Node* other : all_but(nodes_[0]->id()))
        acknowledged_elsewhere += other->metric("warmup_fleet_events_acknowledged_total").value_or(-1);
    EXPECT_EQ(acknowledged_elsewhere, static_cast<double>(for_other_nodes));

    // A model first seen in an event (a glob entry) joins the placement; in the end only its owner keeps it.
    ASSERT_EQ(nodes_[1]->post_events(R"({"model": "m/new"})").first, 200);
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()) && !nodes_[2]->owners("m/new").empty(); }, kSettle));
    const std::string owner = nodes_[0]->owners("m/new").at(0);
    EXPECT_TRUE(poll_until(
        [&] {
            for (const auto& node : nodes_) {
                const auto resident = node->resident();
                const bool has = std::find(resident.begin(), resident.end(), "m/new") != resident.end();
                if (has != (node->id() == owner)) return false;
            }
            return true;
        },
        kSettle))
        << "m/new should end up loaded on its owner " << owner << " only";
}

TEST_F(FleetTest, AModelInMoreDemandThanOneNodeServesGetsReplicasThatAllKeepItWarm) {
    // One node serves 0.5 requests/s of one model: a burst of 300 requests makes rhythm/0 want more owners than
    // there are nodes, so all three own it (its demand halves every heartbeat afterwards).
    start_nodes(3, "", ", replica_capacity_rps: 0.5");
    std::string burst;
    for (int i = 0; i < 300; ++i) burst += json{{"model", "rhythm/0"}}.dump() + "\n";
    ASSERT_EQ(nodes_[1]->post_events(burst).first, 200);
    ASSERT_TRUE(poll_until(
        [&] {
            for (const auto& node : nodes_)
                if (node->owners("rhythm/0").size() != 3) return false;
            return true;
        },
        kSettle))
        << nodes_[0]->cluster().dump();
    // A request posted to one node reaches every replica once: each loads the model (a gateway may route to any).
    const uint64_t acknowledged_before = nodes_[0]->counter("events_acknowledged") +
                                         nodes_[1]->counter("events_acknowledged") +
                                         nodes_[2]->counter("events_acknowledged");
    const auto requests_of = [](const Node& node) {
        const json status = node.get("/api/warmup/status");
        return status.is_object() ? status["counters"]["requests"].get<uint64_t>() : 0;
    };
    const uint64_t requests_before = requests_of(*nodes_[2]);
    ASSERT_EQ(nodes_[2]->post_events(json{{"model", "rhythm/0"}}.dump()).first, 200);
    for (const auto& node : nodes_)
        EXPECT_TRUE(poll_until(
            [&] {
                const auto resident = node->resident();
                return std::find(resident.begin(), resident.end(), "rhythm/0") != resident.end();
            },
            kSettle))
            << node->id();
    // node-2 applied it itself and forwarded it to the two other replicas: two stream entries, not three.
    EXPECT_TRUE(poll_until(
        [&] {
            return nodes_[0]->counter("events_acknowledged") + nodes_[1]->counter("events_acknowledged") +
                       nodes_[2]->counter("events_acknowledged") ==
                   acknowledged_before + 2;
        },
        kSettle));
    // ... and node-2 counted it once (not once more when its forwarder sent it to the others).
    EXPECT_EQ(requests_of(*nodes_[2]), requests_before + 1);
}

TEST_F(FleetTest, AKilledNodesModelsAreRehomedWithTheirLearnedRhythm) {
    start_nodes(3);
    std::vector<std::string> models;
    for (int i = 0; i < 12; ++i) models.push_back("rhythm/" + std::to_string(i));
    const int64_t last_ms = teach_rhythm(models);
    // The victim: a node other than the one events are posted to, owning at least one model.
    const std::string victim = "node-2";
    std::vector<std::string> victims_models;
    for (const auto& model : models)
        if (nodes_[0]->owners(model).at(0) == victim) victims_models.push_back(model);
    ASSERT_FALSE(victims_models.empty());
    ASSERT_TRUE(predicts_rhythm(node(victim).prediction(victims_models[0]), last_ms))
        << node(victim).prediction(victims_models[0]).dump();

    node(victim).kill_now();
    const auto survivors = all_but(victim);
    ASSERT_TRUE(poll_until(
        [&] {
            return converged(survivors, {"node-0", "node-1"});
        },
        kSettle))
        << nodes_[0]->cluster().dump();
    for (const auto& model : victims_models) {
        const std::string new_owner = nodes_[0]->owners(model).at(0);
        ASSERT_NE(new_owner, victim);
        // The new owner never received an event of this model: its prediction comes from the state the victim wrote
        // to Redis, and it is right the first time it is asked.
        EXPECT_TRUE(predicts_rhythm(node(new_owner).prediction(model), last_ms))
            << model << " on " << new_owner << ": " << node(new_owner).prediction(model).dump();
        EXPECT_GT(node(new_owner).counter("state_imports"), 0U);
    }
    // The victim is listed as not alive; the others kept their models.
    bool victim_listed_dead = false;
    const json view = nodes_[0]->cluster();
    for (const auto& member : view["nodes"])
        if (member["id"] == victim) victim_listed_dead = member["alive"] == false && member["state"] == "gone";
    EXPECT_TRUE(victim_listed_dead) << view.dump();
}

TEST_F(FleetTest, RedisKilledAndRestartedNodesKeepWorkingBufferBoundedAndResynchronise) {
    start_nodes(3, ", forward_buffer: 4");
    // A model owned by node-1 and one owned by node-0.
    std::string remote, local;
    for (int i = 0; i < 12; ++i) {
        const std::string model = "rhythm/" + std::to_string(i);
        const std::string owner = nodes_[0]->owners(model).at(0);
        if (owner == "node-1" && remote.empty()) remote = model;
        if (owner == "node-0" && local.empty()) local = model;
    }
    ASSERT_FALSE(remote.empty());
    ASSERT_FALSE(local.empty());

    redis_->kill_now();
    ASSERT_TRUE(poll_until([&] { return nodes_[0]->cluster()["redis"]["reachable"] == false; }, kSettle));
    // node-0 keeps deciding for what it owns.
    ASSERT_EQ(nodes_[0]->post_events(json{{"model", local}}.dump()).first, 200);
    EXPECT_TRUE(poll_until(
        [&] {
            const auto resident = nodes_[0]->resident();
            return std::find(resident.begin(), resident.end(), local) != resident.end();
        },
        kSettle));
    // Events for node-1 wait in the outbox: 4 fit, the rest of the request is refused with 503 and counted.
    std::string six;
    for (int i = 0; i < 6; ++i) six += json{{"model", remote}}.dump() + "\n";
    const auto [status, answer] = nodes_[0]->post_events(six);
    EXPECT_EQ(status, 503) << answer.dump();
    EXPECT_EQ(answer["accepted"], 4);
    // Each refused event says why: the buffer for other nodes is full and Redis does not take it (not the ingest
    // queue, which has room).
    ASSERT_EQ(answer["rejected"].size(), 2U) << answer.dump();
    for (const auto& refused : answer["rejected"]) {
        const std::string reason = refused["reason"];
        EXPECT_NE(reason.find("cluster.forward_buffer: 4 events"), std::string::npos) << reason;
        EXPECT_NE(reason.find("Redis at " + redis_->url() + " does not take them"), std::string::npos) << reason;
    }
    EXPECT_EQ(nodes_[0]->counter("forward_buffered"), 4U);
    EXPECT_EQ(nodes_[0]->counter("forward_refused"), 2U);
    // The placement in force is the last one.
    EXPECT_EQ(nodes_[0]->owners(remote), std::vector<std::string>{"node-1"});

    redis_->start();  // empty: no membership, no streams, no state
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle)) << nodes_[0]->cluster().dump();
    EXPECT_TRUE(poll_until([&] { return nodes_[0]->counter("forward_buffered") == 0; }, kSettle));
    EXPECT_TRUE(poll_until([&] { return nodes_[1]->counter("events_acknowledged") >= 4; }, kSettle))
        << nodes_[1]->cluster().dump();
    auto redis = redis_->client();
    EXPECT_TRUE(poll_until([&] { return !redis.command({"GET", "warmup:placement"}).is_nil(); }, kSettle));
    // The owners wrote their models' state again into the empty Redis.
    EXPECT_TRUE(poll_until([&] { return redis.command({"EXISTS", "warmup:state:" + local}).integer == 1; }, kSettle));
}

TEST_F(FleetTest, ARestartedNodeRejoinsAndTakesBackItsModelsWithoutAFight) {
    start_nodes(3);
    std::vector<std::string> models;
    for (int i = 0; i < 12; ++i) models.push_back("rhythm/" + std::to_string(i));
    const json original_owners = nodes_[0]->cluster()["owners"];
    const int64_t last_ms = teach_rhythm(models);
    std::vector<std::string> its_models;
    for (const auto& model : models)
        if (original_owners[model][0] == "node-1") its_models.push_back(model);
    ASSERT_FALSE(its_models.empty());

    // A clean stop hands the models over at once (no waiting for the membership to expire).
    ASSERT_TRUE(node("node-1").stop_cleanly()) << node("node-1").process().log();
    ASSERT_TRUE(poll_until([&] { return converged(all_but("node-1"), {"node-0", "node-2"}); }, kSettle));
    for (const auto& model : its_models) {
        const std::string interim = nodes_[0]->owners(model).at(0);
        EXPECT_TRUE(predicts_rhythm(node(interim).prediction(model), last_ms)) << model << " on " << interim;
    }

    node("node-1").start();
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle)) << nodes_[0]->cluster().dump();
    // The same membership gives the same placement as before: the node takes back exactly its models ...
    EXPECT_EQ(nodes_[0]->cluster()["owners"], original_owners);
    // ... with the rhythm learned meanwhile by their interim owners, handed back through Redis.
    for (const auto& model : its_models)
        EXPECT_TRUE(poll_until([&] { return predicts_rhythm(node("node-1").prediction(model), last_ms); }, kSettle))
            << model << ": " << node("node-1").prediction(model).dump();
    // Nobody else claims them: the interim owners forgot them (no prediction of a next use any more).
    for (const auto& model : its_models)
        for (const Node* other : all_but("node-1"))
            EXPECT_TRUE(poll_until([&] { return !predicts_rhythm(other->prediction(model), last_ms); }, kSettle))
                << model << " still predicted on " << other->id();
}

TEST_F(FleetTest, ANodeStoppedLongerThanItsRegistrationTakesBackWhatItsModelsLearnedMeanwhile) {
    // SIGSTOP (a frozen VM, a long stall): the peers see the node gone and re-home its models; their interim owners
    // learn a new rhythm. Before, the node came back to its old placement without a change of its own, so it never
    // imported what they handed back, and planned from what it knew before the freeze.
    start_nodes(3);
    std::vector<std::string> models;
    for (int i = 0; i < 12; ++i) models.push_back("rhythm/" + std::to_string(i));
    const json original_owners = nodes_[0]->cluster()["owners"];
    teach_rhythm(models);
    std::vector<std::string> its_models;
    for (const auto& model : models)
        if (original_owners[model][0] == "node-1") its_models.push_back(model);
    ASSERT_FALSE(its_models.empty());

    // Past the four heartbeats after node-1's first placement, in which it takes in any newer hand-over anyway.
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * kHeartbeatMs));
    ASSERT_EQ(::kill(node("node-1").process().pid(), SIGSTOP), 0);
    ASSERT_TRUE(poll_until(
        [&] {
            return converged(all_but("node-1"), {"node-0", "node-2"});
        },
        kSettle))
        << nodes_[0]->cluster().dump();
    // A newer rhythm, learned by the interim owners only.
    const int64_t later_ms = system_now_ms();
    std::string body;
    for (const auto& model : its_models) body += rhythm_ndjson(model, later_ms, kRhythmUses, kRhythmGapMs);
    const auto [status, answer] = nodes_[0]->post_events(body);
    ASSERT_EQ(status, 200) << answer.dump();
    for (const auto& model : its_models) {
        const std::string interim = nodes_[0]->owners(model).at(0);
        ASSERT_NE(interim, "node-1");
        ASSERT_TRUE(poll_until([&] { return predicts_rhythm(node(interim).prediction(model), later_ms); }, kSettle))
            << model << " on " << interim << ": " << node(interim).prediction(model).dump();
    }

    ASSERT_EQ(::kill(node("node-1").process().pid(), SIGCONT), 0);
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle)) << nodes_[0]->cluster().dump();
    EXPECT_EQ(nodes_[0]->cluster()["owners"], original_owners);
    for (const auto& model : its_models)
        EXPECT_TRUE(poll_until([&] { return predicts_rhythm(node("node-1").prediction(model), later_ms); }, kSettle))
            << model << ": " << node("node-1").prediction(model).dump();
    EXPECT_GE(node("node-1").counter("rejoins"), 1U);
}

TEST_F(FleetTest, EventsForwardedToAKilledNodeAreAppliedOnceItIsBack) {
    start_nodes(3);
    const std::string model = rhythm_model_owned_by("node-1");
    ASSERT_FALSE(model.empty());

    // Killed: events posted now still go to its stream (or, once it is dropped, to the interim owner).
    node("node-1").kill_now();
    constexpr int kEvents = 7;
    std::string body;
    for (int i = 0; i < kEvents; ++i) body += json{{"model", model}}.dump() + "\n";
    ASSERT_EQ(nodes_[0]->post_events(body).first, 200);
    node("node-1").start();
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle)) << nodes_[0]->cluster().dump();
    ASSERT_EQ(nodes_[0]->owners(model), std::vector<std::string>{"node-1"});
    // They reach node-1 one of two ways, and which one a run takes is a race between node-1's restart and its peers'
    // membership reads that the test does not control:
    //  (a) the restarted node-1 registers before any peer reads the membership without its old registration: it
    //      reads them from its stream and writes the model's state itself;
    //  (b) a peer reads the membership between the lapse of the killed process's key and the new process's claim (up
    //      to a quarter heartbeat, its claim poll, and longer on a busy machine): the publisher moves the unread
    //      entries to an interim owner, which applies them and hands the state back once node-1 is seen again; node-1
    //      imports it, and the state in Redis names the interim owner as its writer until node-1 writes it again,
    //      which it does only at its next event or its stop.
    // Either way node-1 must end up with each event learned exactly once: wait until Redis holds the state of all of
    // them and node-1 learned it (wrote it itself, or imported it), then read what node-1 holds by its clean stop,
    // which writes the state of every model it owns.
    auto redis = redis_->client();
    // The writer of the model's state when the state counts every event ("" otherwise): the analyzer's per-model state
    // names the request count on its third line.
    const auto writer_of_every_event = [&]() -> std::string {
        const auto fields = redis.command({"HMGET", "warmup:state:" + model, "writer", "slot.analyzer"});
        if (fields.elements.size() != 2 || fields.elements[0].is_nil() || fields.elements[1].is_nil() ||
            fields.elements[1].text.find("\n" + std::to_string(kEvents) + " ") == std::string::npos)
            return "";
        return fields.elements[0].text;
    };
    // No other model has events here: node-1's only state import is this model's, from the interim owner.
    ASSERT_TRUE(poll_until(
        [&] {
            const std::string writer = writer_of_every_event();
            return writer == "node-1" || (!writer.empty() && node("node-1").counter("state_imports") > 0);
        },
        kSettle))
        << redis.command({"HGET", "warmup:state:" + model, "slot.analyzer"}).text << node("node-1").cluster().dump();
    ASSERT_TRUE(node("node-1").stop_cleanly()) << node("node-1").process().log();
    EXPECT_EQ(writer_of_every_event(), "node-1")
        << redis.command({"HGET", "warmup:state:" + model, "slot.analyzer"}).text;
}

/// The "cluster" entry of a node's GET /api/warmup/health/components, or null.
json cluster_health(const Node& node) {
    const json health = node.get("/api/warmup/health/components");
    if (!health.is_object()) return nullptr;
    for (const auto& component : health["components"])
        if (component["component"] == "cluster") return component;
    return nullptr;
}

TEST_F(FleetTest, ASecondDaemonWithARunningNodesIdRefusesToStartAndLeavesItsRegistrationAlone) {
    start_nodes(3);
    auto redis = redis_->client();
    const std::string registration = redis.command({"GET", "warmup:node:node-0"}).text;
    const std::string address = json::parse(registration)["address"];

    // node-0's configuration with another port (0: any) and another state folder.
    const auto config =
        dir_.write("node-0-again.yaml", node_config("node-0", redis_->url(), dir_.path() / "state-again"));
    Daemon again({"--config", config.string()});
    const auto status = again.wait_exit(kSettle);
    ASSERT_TRUE(status) << "a second node-0 is running:\n" << again.log();
    EXPECT_TRUE(status->exited && status->code == 2) << again.log();
    EXPECT_NE(again.log().find("CLUSTER_NODE_ID_IN_USE node id 'node-0' is in use: the warmupd at " + address),
              std::string::npos)
        << again.log();
    EXPECT_EQ(again.log().find("CLUSTER_JOINED"), std::string::npos) << again.log();

    // The running node-0 still holds its id, with its own address, and is not disturbed.
    const json record = json::parse(redis.command({"GET", "warmup:node:node-0"}).text);
    EXPECT_EQ(record["address"], address);
    EXPECT_EQ(record["instance"], json::parse(registration)["instance"]);
    EXPECT_TRUE(converged(all(), ids())) << nodes_[0]->cluster().dump();
    EXPECT_EQ(cluster_health(*nodes_[0])["state"], "ok") << cluster_health(*nodes_[0]).dump();
}

TEST_F(FleetTest, ANodeWhoseIdIsTakenByAnotherProcessSaysSoAndReclaimsItOnceFree) {
    start_nodes(3);
    EXPECT_EQ(cluster_health(node("node-1"))["state"], "ok");
    EXPECT_EQ(node("node-1").metric("warmup_component_degraded{component=\"cluster\"}"), 0);

    // Another process's registration under node-1's id (as if node-1's had lapsed and a second node-1 claimed it).
    auto redis = redis_->client();
    const json intruder{{"id", "node-1"},
                        {"instance", "another-process"},
                        {"address", "http://10.0.0.9:3000"},
                        {"budget_mb", 4000},
                        {"free_mb", 4000},
                        {"started_unix_ms", 1},
                        {"renewed_unix_ms", 1}};
    redis.checked({"SET", "warmup:node:node-1", intruder.dump(), "PX", "60000"});
    ASSERT_TRUE(poll_until([&] { return cluster_health(node("node-1"))["state"] == "degraded"; }, kSettle));
    const json degraded = cluster_health(node("node-1"));
    EXPECT_NE(degraded["reason"].get<std::string>().find("http://10.0.0.9:3000 (instance another-process"),
              std::string::npos)
        << degraded.dump();
    EXPECT_EQ(node("node-1").metric("warmup_component_degraded{component=\"cluster\"}"), 1);
    // The log line is written just after the health changes: waited for, not read at once.
    EXPECT_TRUE(node("node-1").process().wait_for_log("CLUSTER_NODE_ID_CONFLICT node id 'node-1'", kSettle));
    // It does not overwrite the other's registration.
    EXPECT_EQ(json::parse(redis.command({"GET", "warmup:node:node-1"}).text)["instance"], "another-process");
    // Its models are the other process's meanwhile: an event posted here for one of them is not applied here but
    // sent on through Redis (to the id's stream, which that process reads, or to another owner once the fleet has
    // placed the models without this id); and nothing learned here is written to Redis.
    const std::string model = rhythm_model_owned_by("node-1");
    ASSERT_FALSE(model.empty());
    const uint64_t local_before = node("node-1").counter("events_local");
    const uint64_t forwarded_before = node("node-1").counter("events_forwarded");
    const uint64_t writes_before = node("node-1").counter("state_writes");
    ASSERT_EQ(node("node-1").post_events("{\"model\":\"" + model + "\"}\n").first, 200);
    EXPECT_TRUE(poll_until([&] { return node("node-1").counter("events_forwarded") > forwarded_before; }, kSettle))
        << node("node-1").cluster().dump();
    EXPECT_EQ(node("node-1").counter("events_local"), local_before);
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * kHeartbeatMs));
    EXPECT_EQ(node("node-1").counter("state_writes"), writes_before);

    // The other process is gone: node-1 registers again and is healthy.
    redis.checked({"DEL", "warmup:node:node-1"});
    ASSERT_TRUE(poll_until([&] { return cluster_health(node("node-1"))["state"] == "ok"; }, kSettle))
        << cluster_health(node("node-1")).dump();
    EXPECT_NE(json::parse(redis.command({"GET", "warmup:node:node-1"}).text)["instance"], "another-process");
}

TEST_F(FleetTest, WithRedisDownTheClusterComponentIsDegradedWithTheLastError) {
    start_nodes(1);
    redis_->kill_now();
    ASSERT_TRUE(poll_until([&] { return cluster_health(*nodes_[0])["state"] == "degraded"; }, kSettle));
    const json cluster = cluster_health(*nodes_[0]);
    EXPECT_NE(cluster["reason"].get<std::string>().find("Redis at " + redis_->url() + " does not answer"),
              std::string::npos)
        << cluster.dump();
    EXPECT_TRUE(cluster["last_error"].is_string()) << cluster.dump();
    EXPECT_GE(cluster["errors"].get<int>(), 1);
    EXPECT_EQ(nodes_[0]->metric("warmup_component_degraded{component=\"cluster\"}"), 1);

    redis_->start();
    EXPECT_TRUE(poll_until([&] { return cluster_health(*nodes_[0])["state"] == "ok"; }, kSettle))
        << cluster_health(*nodes_[0]).dump();
}

TEST_F(FleetTest, WithRedisDownOtherNodesAreReportedUnknownNotAliveAndThisNodeAlive) {
    start_nodes(2);
    // The membership's age in node-0's answer (-1 when it does not answer or says nothing of it).
    const auto membership_age_ms = [&] {
        const json view = nodes_[0]->cluster();
        return view.is_object() && view.contains("membership") ? view["membership"].value("age_ms", int64_t{-1})
                                                               : int64_t{-1};
    };
    const json fresh = nodes_[0]->cluster();
    ASSERT_TRUE(fresh.contains("membership")) << fresh.dump();
    EXPECT_EQ(fresh["membership"]["current"], true) << fresh.dump();
    EXPECT_GE(membership_age_ms(), 0);
    EXPECT_LE(membership_age_ms(), 2 * int64_t{kHeartbeatMs});

    redis_->kill_now();  // returns once the process is reaped: nothing was read from it after killed_ms
    const int64_t killed_ms = system_now_ms();
    // The next membership read fails (a quarter heartbeat later): from then on node-0 cannot know whether node-1 runs.
    ASSERT_TRUE(poll_until(
        [&] {
            const json view = nodes_[0]->cluster();
            return view.is_object() && view.contains("membership") && view["membership"]["current"] == false;
        },
        kSettle))
        << nodes_[0]->cluster().dump();
    const int64_t asked_ms = system_now_ms();
    const json stale = nodes_[0]->cluster();
    EXPECT_EQ(stale["redis"]["reachable"], false) << stale.dump();
    // Since when: the last read, before Redis went away, and how old it is now.
    EXPECT_LE(stale["membership"]["as_of_unix_ms"].get<int64_t>(), killed_ms) << stale.dump();
    EXPECT_GE(stale["membership"]["age_ms"].get<int64_t>(), asked_ms - killed_ms) << stale.dump();
    ASSERT_EQ(stale["nodes"].size(), 2U) << stale.dump();
    for (const auto& member : stale["nodes"]) {
        if (member["id"] == "node-0") {  // itself: it is the one answering
            EXPECT_EQ(member["alive"], true) << member.dump();
            EXPECT_EQ(member["state"], "alive") << member.dump();
            EXPECT_EQ(member["self"], true) << member.dump();
        } else {  // not "alive": what the last read said, kept apart, with its last renewal seen
            EXPECT_TRUE(member["alive"].is_null()) << member.dump();
            EXPECT_EQ(member["state"], "unknown") << member.dump();
            EXPECT_EQ(member["last_known_state"], "alive") << member.dump();
            EXPECT_LE(member["renewed_unix_ms"].get<int64_t>(), killed_ms) << member.dump();
        }
    }
    // The membership grows older while Redis stays away.
    const int64_t age = stale["membership"]["age_ms"].get<int64_t>();
    EXPECT_TRUE(poll_until([&] { return membership_age_ms() > age; }, kSettle));

    redis_->start();
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle)) << nodes_[0]->cluster().dump();
    const json again = nodes_[0]->cluster();
    EXPECT_EQ(again["membership"]["current"], true) << again.dump();
    for (const auto& member : again["nodes"]) {
        EXPECT_EQ(member["state"], "alive") << member.dump();
        EXPECT_FALSE(member.contains("last_known_state")) << member.dump();
    }
}

TEST_F(FleetTest, AnEventPassedOnToItsNewOwnerLeavesTheStreamOnlyOnceTheOwnersStreamHoldsIt) {
    start_nodes(2);
    const std::string model = rhythm_model_owned_by("node-0");
    ASSERT_FALSE(model.empty());
    const uint64_t acknowledged_before = nodes_[0]->counter("events_acknowledged");

    // An entry in node-1's stream for a model node-0 owns (as one forwarded under an older placement), and in the
    // same transaction a maxmemory that makes Redis refuse every XADD from then on while XREADGROUP, XACK and XDEL
    // still work: node-1 reads the entry (its blocked read is served after EXEC) but cannot pass it on to node-0.
    auto redis = redis_->client();
    const std::string stream = "warmup:events:node-1";
    ASSERT_EQ(redis.checked({"MULTI"}).text, "OK");
    redis.checked({"XADD", stream, "*", "m", model, "t", std::to_string(system_now_ms()), "c", "1", "h", "0"});
    redis.checked({"CONFIG", "SET", "maxmemory", "1"});
    const auto executed = redis.checked({"EXEC"});
    ASSERT_EQ(executed.elements.size(), 2U);
    ASSERT_FALSE(executed.elements[0].is_error()) << executed.elements[0].text;

    // node-1 reads it, is refused, and reads it again a quarter heartbeat later: it never acknowledges it meanwhile,
    // since only its stream holds the event (acknowledged with the event in the outbox alone, a crash before the
    // outbox file's next write would lose it). Three deliveries of the same pending entry show it.
    const auto deliveries = [&]() -> int64_t {
        const auto pending = redis.command({"XPENDING", stream, "warmupd", "-", "+", "10"});
        if (pending.elements.size() != 1 || pending.elements[0].elements.size() < 4) return 0;
        return pending.elements[0].elements[3].integer;
    };
    EXPECT_TRUE(poll_until([&] { return deliveries() >= 3; }, kSettle))
        << "XLEN " << redis.command({"XLEN", stream}).integer << node("node-1").cluster().dump();
    EXPECT_EQ(redis.command({"XLEN", stream}).integer, 1);
    EXPECT_EQ(redis.command({"XLEN", "warmup:events:node-0"}).integer, 0);

    // A crash now loses nothing: the restarted node-1 reads its pending entries first and passes the event on (or the
    // publisher moves it, should it see node-1 gone meanwhile). Delivery is at least once: node-0 applies it.
    node("node-1").kill_now();
    ASSERT_EQ(redis.checked({"CONFIG", "SET", "maxmemory", "0"}).text, "OK");
    node("node-1").start();
    EXPECT_TRUE(poll_until(
        [&] {
            return nodes_[0]->counter("events_acknowledged") >= acknowledged_before + 1 &&
                   redis.command({"XLEN", stream}).integer == 0;
        },
        kSettle))
        << nodes_[0]->cluster().dump() << node("node-1").cluster().dump();
}

TEST_F(FleetTest, ADeadNodesEntriesLeaveItsStreamOnlyOnceRedisStoredThemForTheirOwner) {
    start_nodes(2);
    node("node-1").kill_now();
    ASSERT_TRUE(poll_until([&] { return converged({nodes_[0].get()}, {"node-0"}); }, kSettle))
        << nodes_[0]->cluster().dump();
    const std::string model = "rhythm/0";  // node-0 owns every model now
    ASSERT_EQ(nodes_[0]->owners(model), std::vector<std::string>{"node-0"});
    const uint64_t acknowledged_before = nodes_[0]->counter("events_acknowledged");
    const uint64_t moved_before = nodes_[0]->counter("dead_stream_entries_moved");

    // Three unread entries for node-1's stream, staged under another key: a small one, then two of 1 MiB each (a
    // timestamp with a million leading zeros, still read as the same number).
    auto redis = redis_->client();
    const std::string staging = "warmup:staging";
    const std::string stream = "warmup:events:node-1";
    const std::string now = std::to_string(system_now_ms());
    const std::string padded = std::string(std::size_t{1} << 20, '0') + now;
    for (const std::string* t : {&now, &padded, &padded})
        ASSERT_FALSE(redis.checked({"XADD", staging, "*", "m", model, "t", *t, "c", "1", "h", "0"}).is_nil());
    const std::string info = redis.checked({"INFO", "memory"}).text;
    const auto at = info.find("used_memory:");
    ASSERT_NE(at, std::string::npos) << info;
    const int64_t used = std::stoll(info.substr(at + 12));

    // In one transaction: the entries become the dead node's stream, and maxmemory is set half an entry above what
    // Redis holds. The publisher's small commands (its renewal, XRANGE, XDEL) still pass; the XADD of the small
    // entry too; an XADD carrying a large one is refused (-OOM: its argument alone crosses the limit) while Redis
    // still takes the XDEL that follows it, as under a real maxmemory.
    ASSERT_EQ(redis.checked({"MULTI"}).text, "OK");
    redis.checked({"RENAME", staging, stream});
    redis.checked({"CONFIG", "SET", "maxmemory", std::to_string(used + (int64_t{1} << 19))});
    const auto executed = redis.checked({"EXEC"});
    ASSERT_EQ(executed.elements.size(), 2U);
    ASSERT_FALSE(executed.elements[0].is_error()) << executed.elements[0].text;
    ASSERT_FALSE(executed.elements[1].is_error()) << executed.elements[1].text;

    // The small entry is moved to node-0 and applied there; the two large ones stay in node-1's stream, however often
    // the publisher tries (deleted there, an event whose XADD was refused would be lost), and the node says why.
    EXPECT_TRUE(poll_until(
        [&] {
            const json health = cluster_health(*nodes_[0]);
            return nodes_[0]->counter("events_acknowledged") >= acknowledged_before + 1 && health.is_object() &&
                   health["reason"].is_string() &&
                   health["reason"].get<std::string>().find("XADD warmup:events:node-0 refused: OOM") !=
                       std::string::npos;
        },
        kSettle))
        << cluster_health(*nodes_[0]).dump() << nodes_[0]->cluster().dump();
    EXPECT_EQ(redis.command({"XLEN", stream}).integer, 2);
    EXPECT_EQ(nodes_[0]->counter("dead_stream_entries_moved"), moved_before + 1);

    // Redis takes writes again: the publisher moves the two others, and node-0 applies every event.
    ASSERT_EQ(redis.checked({"CONFIG", "SET", "maxmemory", "0"}).text, "OK");
    EXPECT_TRUE(poll_until(
        [&] {
            return nodes_[0]->counter("events_acknowledged") >= acknowledged_before + 3 &&
                   redis.command({"XLEN", stream}).integer == 0;
        },
        kSettle))
        << nodes_[0]->cluster().dump();
    EXPECT_EQ(nodes_[0]->counter("dead_stream_entries_moved"), moved_before + 3);
    EXPECT_TRUE(poll_until([&] { return cluster_health(*nodes_[0])["state"] == "ok"; }, kSettle))
        << cluster_health(*nodes_[0]).dump();
}

TEST_F(FleetTest, APassOnRefusedByOneOwnersStreamHoldsUpNeitherTheNodesOwnEventsNorRedisUp) {
    start_nodes(2);
    std::string mine, theirs;  // owned by node-1 alone; by node-0 alone
    for (int i = 0; i < 12; ++i) {
        const std::string model = "rhythm/" + std::to_string(i);
        const auto owners = nodes_[1]->owners(model);
        if (mine.empty() && owners == std::vector<std::string>{"node-1"}) mine = model;
        if (theirs.empty() && owners == std::vector<std::string>{"node-0"}) theirs = model;
    }
    ASSERT_FALSE(mine.empty());
    ASSERT_FALSE(theirs.empty());
    Node& receiver = node("node-1");
    const uint64_t received_before = receiver.counter("events_received");
    const uint64_t acknowledged_before = receiver.counter("events_acknowledged");
    const uint64_t passed_on_before = receiver.counter("events_passed_on");
    const uint64_t owner_acknowledged_before = nodes_[0]->counter("events_acknowledged");

    // node-0's stream key made to hold a string: Redis refuses every XADD to it (WRONGTYPE), and only to it. Then an
    // entry in node-1's stream for node-0's model (as one forwarded under an older placement): node-1 cannot pass it
    // on, leaves it pending, and passes it on again a quarter heartbeat later.
    auto redis = redis_->client();
    const std::string stream = "warmup:events:node-1";
    ASSERT_EQ(redis.checked({"SET", "warmup:events:node-0", "not a stream"}).text, "OK");
    const auto xadd = [&](const std::string& model) {
        return redis
            .checked({"XADD", stream, "*", "m", model, "t", std::to_string(system_now_ms()), "c", "1", "h", "0"})
            .text;
    };
    const std::string refused_id = xadd(theirs);
    const auto pending = [&]() -> std::pair<std::string, int64_t> {  // node-1's only pending entry, deliveries
        const auto entries = redis.command({"XPENDING", stream, "warmupd", "-", "+", "10"});
        if (entries.elements.size() != 1 || entries.elements[0].elements.size() < 4) return {"", 0};
        return {entries.elements[0].elements[0].text, entries.elements[0].elements[3].integer};
    };
    ASSERT_TRUE(poll_until([&] { return pending().second >= 2; }, kSettle))
        << "XLEN " << redis.command({"XLEN", stream}).integer << receiver.cluster().dump();

    // Events of node-1's own model that arrive meanwhile are read and applied as ever: the refused entry does not
    // hold up the stream.
    for (int i = 0; i < 3; ++i) xadd(mine);
    EXPECT_TRUE(poll_until([&] { return receiver.counter("events_acknowledged") >= acknowledged_before + 3; }, kSettle))
        << receiver.cluster().dump();
    // The refused entry is still there, unacknowledged, and tried again.
    const int64_t deliveries = pending().second;
    EXPECT_EQ(pending().first, refused_id);
    EXPECT_TRUE(poll_until([&] { return pending().second > deliveries; }, kSettle)) << receiver.cluster().dump();
    EXPECT_EQ(pending().first, refused_id);
    EXPECT_EQ(redis.command({"XLEN", stream}).integer, 1);
    EXPECT_EQ(receiver.counter("events_acknowledged"), acknowledged_before + 3);
    // Each entry counted once as received, however often the refused one was read.
    EXPECT_EQ(receiver.counter("events_received"), received_before + 4);
    EXPECT_GE(receiver.counter("events_pass_on_refused"), 2U);
    // A refusal tied to one key does not make Redis count as down on node-1 (its other commands succeed), and says
    // why in the cluster's last error.
    const json view = receiver.cluster();
    EXPECT_EQ(view["redis"]["reachable"], true) << view.dump();
    EXPECT_NE(view["redis"]["last_error"].get<std::string>().find("WRONGTYPE"), std::string::npos) << view.dump();
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(receiver.metric("warmup_fleet_redis_up"), 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(kHeartbeatMs / 10));
    }
    // Logged once (again only after a minute), not at every attempt.
    const auto occurrences = [&](const std::string& needle) {
        const std::string log = receiver.process().log();
        std::size_t count = 0;
        for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++count;
        return count;
    };
    EXPECT_EQ(occurrences("CLUSTER_PASS_ON_REFUSED XADD warmup:events:node-0 refused: WRONGTYPE"), 1U)
        << receiver.process().log();

    // Once the key takes streams again, the pending entry reaches node-0, which applies it, and leaves node-1's stream.
    ASSERT_EQ(redis.checked({"DEL", "warmup:events:node-0"}).integer, 1);
    EXPECT_TRUE(poll_until(
        [&] {
            return nodes_[0]->counter("events_acknowledged") >= owner_acknowledged_before + 1 &&
                   redis.command({"XLEN", stream}).integer == 0 && pending().first.empty();
        },
        kSettle))
        << nodes_[0]->cluster().dump() << receiver.cluster().dump();
    EXPECT_EQ(receiver.counter("events_acknowledged"), acknowledged_before + 4);
    EXPECT_EQ(receiver.counter("events_received"), received_before + 4);
    EXPECT_EQ(receiver.counter("events_passed_on"), passed_on_before + 1);
    EXPECT_EQ(occurrences("CLUSTER_PASS_ON_RESUMED warmup:events:node-0"), 1U) << receiver.process().log();
}

TEST_F(FleetTest, AnEventPassedOnOnceIsAppliedWhereItArrivesInsteadOfTravellingOn) {
    // Two nodes that compute the placement from different inputs (a catalog that differs) would pass a model's
    // events back and forth for ever, each sending them to the node the other thinks owns it. An event already
    // passed on once is learned where it arrives, and that is said once.
    start_nodes(2);
    std::string theirs;  // owned by node-0 alone
    for (int i = 0; i < 12 && theirs.empty(); ++i)
        if (nodes_[1]->owners("rhythm/" + std::to_string(i)) == std::vector<std::string>{"node-0"})
            theirs = "rhythm/" + std::to_string(i);
    ASSERT_FALSE(theirs.empty());
    Node& receiver = node("node-1");
    const uint64_t acknowledged_before = receiver.counter("events_acknowledged");
    const uint64_t passed_on_before = receiver.counter("events_passed_on");
    const uint64_t owner_received_before = nodes_[0]->counter("events_received");
    auto redis = redis_->client();
    for (int i = 0; i < 2; ++i)  // as node-0 would pass it on if it placed the model on node-1
        redis.checked({"XADD", "warmup:events:node-1", "*", "m", theirs, "t", std::to_string(system_now_ms()), "c", "1",
                       "h", "0", "p", "1"});
    ASSERT_TRUE(poll_until([&] { return receiver.counter("events_acknowledged") >= acknowledged_before + 2; }, kSettle))
        << receiver.cluster().dump();
    EXPECT_EQ(receiver.counter("events_passed_on"), passed_on_before);
    EXPECT_EQ(nodes_[0]->counter("events_received"), owner_received_before);
    const std::string said = "CLUSTER_PLACEMENT_DISAGREES model '" + theirs + "' was passed on to node node-1";
    EXPECT_TRUE(receiver.process().wait_for_log(said, kSettle)) << receiver.process().log();
    const std::string log = receiver.process().log();
    EXPECT_EQ(log.find(said, log.find(said) + 1), std::string::npos) << "said once per model";
}

TEST_F(FleetTest, EventsWhoseForwardRedisRefusesStayBufferedAndAreDeliveredOnceItTakesThemAgain) {
    start_nodes(2);
    const std::string remote = rhythm_model_owned_by("node-1");
    ASSERT_FALSE(remote.empty());
    const uint64_t acknowledged_before = nodes_[1]->counter("events_acknowledged");

    // Redis answers but refuses every write (used memory above maxmemory: -OOM), as a full Redis does.
    auto redis = redis_->client();
    ASSERT_EQ(redis.checked({"CONFIG", "SET", "maxmemory", "1"}).text, "OK");
    std::string three;
    for (int i = 0; i < 3; ++i) three += json{{"model", remote}}.dump() + "\n";
    ASSERT_EQ(nodes_[0]->post_events(three).first, 200);
    ASSERT_TRUE(poll_until(
        [&] { return nodes_[0]->counter("events_forwarded") > 0 || cluster_health(*nodes_[0])["state"] == "degraded"; },
        kSettle));
    // Not written to node-1's stream: still waiting, not counted as forwarded, and the node says why.
    EXPECT_EQ(nodes_[0]->counter("events_forwarded"), 0U);
    EXPECT_EQ(nodes_[0]->counter("forward_buffered"), 3U);
    const json degraded = cluster_health(*nodes_[0]);
    EXPECT_EQ(degraded["state"], "degraded") << degraded.dump();
    EXPECT_NE(degraded["reason"].get<std::string>().find("OOM"), std::string::npos) << degraded.dump();
    EXPECT_EQ(nodes_[0]->metric("warmup_fleet_redis_up"), 0);

    ASSERT_EQ(redis.checked({"CONFIG", "SET", "maxmemory", "0"}).text, "OK");
    EXPECT_TRUE(poll_until([&] { return nodes_[0]->counter("forward_buffered") == 0; }, kSettle));
    // Delivered to the owner (or applied on node-0, should the placement have moved the model meanwhile).
    EXPECT_TRUE(poll_until(
        [&] {
            return nodes_[1]->counter("events_acknowledged") - acknowledged_before +
                       nodes_[0]->counter("events_local") >=
                   3;
        },
        kSettle))
        << nodes_[1]->cluster().dump();
    EXPECT_TRUE(poll_until([&] { return nodes_[0]->metric("warmup_fleet_redis_up") == 1; }, kSettle));
    EXPECT_EQ(cluster_health(*nodes_[0])["state"], "ok") << cluster_health(*nodes_[0]).dump();
}

TEST_F(FleetTest, ANodeStartedWhileRedisRefusesCommandsServesAndJoinsOnceItTakesThem) {
    // Redis answers every write with an error (-OOM here; -NOAUTH, -LOADING and -READONLY are refusals alike).
    auto redis = redis_->client();
    ASSERT_EQ(redis.checked({"CONFIG", "SET", "maxmemory", "1"}).text, "OK");
    nodes_.push_back(std::make_unique<Node>("node-0", dir_, redis_->url()));  // throws when the daemon exits
    const json degraded = cluster_health(*nodes_[0]);
    EXPECT_EQ(degraded["state"], "degraded") << degraded.dump();
    EXPECT_NE(degraded.value("reason", "").find("OOM"), std::string::npos) << degraded.dump();
    // Meanwhile it applies every event itself.
    EXPECT_EQ(nodes_[0]->post_events(json{{"model", "rhythm/0"}}.dump()).first, 200);
    EXPECT_TRUE(poll_until(
        [&] {
            const auto resident = nodes_[0]->resident();
            return std::find(resident.begin(), resident.end(), "rhythm/0") != resident.end();
        },
        kSettle));

    ASSERT_EQ(redis.checked({"CONFIG", "SET", "maxmemory", "0"}).text, "OK");
    EXPECT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle)) << nodes_[0]->cluster().dump();
    EXPECT_TRUE(poll_until([&] { return cluster_health(*nodes_[0])["state"] == "ok"; }, kSettle))
        << cluster_health(*nodes_[0]).dump();
}

TEST_F(FleetTest, ANodesBudgetChangedAtRunTimeIsWhatTheFleetPlacesBy) {
    start_nodes(2);
    const auto member = [&](const Node& viewer, const std::string& id) {
        const json view = viewer.cluster();
        for (const auto& entry : view["nodes"])
            if (entry["id"] == id) return entry;
        return json();
    };
    ASSERT_EQ(member(*nodes_[0], "node-1")["budget_mb"], 4000);
    // Reset to safe halves node-1's budget at once (as a reload of budgets.memory_mb changes it).
    ASSERT_EQ(nodes_[1]->post("/api/warmup/reset-to-safe"), 200);
    ASSERT_EQ(nodes_[1]->get("/api/warmup/status")["budget_mb"], 2000);
    EXPECT_TRUE(poll_until([&] { return member(*nodes_[0], "node-1")["budget_mb"] == 2000; }, kSettle))
        << nodes_[0]->cluster().dump();
    EXPECT_LE(member(*nodes_[0], "node-1")["free_mb"].get<double>(), 2000);
    // The placement follows: node-1 holds at most its bounded share of a third of the 12 x 200 MiB (1000 MiB).
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle));
    int owned_by_node_1 = 0;
    for (const auto& [model, owners] : nodes_[0]->cluster()["owners"].items()) owned_by_node_1 += owners[0] == "node-1";
    EXPECT_LE(owned_by_node_1, 5);
}

TEST_F(FleetTest, AStateWriteKeepsTheSlotsItDoesNotCarry) {
    // A node whose plugin keeps no per-model state for a slot (the safe configuration's keep-alive predictor; here
    // the idle-histogram predictor) writes the model's other slots: the slot another node wrote stays for the next
    // owner, instead of being erased from the fleet.
    start_nodes(2);
    const std::string remote = rhythm_model_owned_by("node-1");
    ASSERT_FALSE(remote.empty());
    auto redis = redis_->client();
    const std::string predictor_state = "org.warmup.state.cost-curve-model/1\nwritten by another node";
    redis.checked({"HSET", "warmup:state:" + remote, "slot.predictor", predictor_state});
    teach_rhythm({remote});  // node-1 writes the model's analyzer slot
    EXPECT_EQ(redis.command({"HGET", "warmup:state:" + remote, "slot.predictor"}).text, predictor_state);
    EXPECT_EQ(redis.command({"HGET", "warmup:state:" + remote, "writer"}).text, "node-1");
}

TEST_F(FleetTest, ARestartedNodeKeepsTheStateItRestoredOverItsOwnOlderWriteInRedis) {
    // A node killed and restarted restores its snapshot (and journal): the state it wrote to Redis before that
    // snapshot holds nothing newer, and imported over it at the first placement it would undo what was restored.
    start_nodes(1);
    const std::string model = "rhythm/0";
    teach_rhythm({model});
    std::this_thread::sleep_for(1500ms);  // a periodic snapshot (every second) after the last use
    node("node-0").kill_now();
    auto redis = redis_->client();
    redis.checked({"HSET", "warmup:state:" + model, "writer", "node-0", "written_ms", "1"});
    node("node-0").start();
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle));
    EXPECT_TRUE(poll_until(
        [&] { return node("node-0").process().log().find("CLUSTER_STATE_KEPT") != std::string::npos; }, kSettle))
        << node("node-0").process().log();
    EXPECT_EQ(node("node-0").counter("state_imports"), 0U);
    // A write of another node's (it owned the model meanwhile) is newer, and imported: tested by the rehoming tests.
}

TEST_F(FleetTest, ARestoredWarmSetLoadsOnlyTheModelsThisNodeOwnsNow) {
    // A backup taken while node-0 held every model (node-1 away) restored once node-1 is back: node-0 pre-warms the
    // models it owns now, not node-1's (each would be held twice in the fleet). Likewise a restart of node-0 loads
    // its warm set once it knows what it owns.
    start_nodes(2);
    ASSERT_TRUE(node("node-1").stop_cleanly());
    ASSERT_TRUE(poll_until([&] { return converged(all_but("node-1"), {"node-0"}); }, kSettle));
    std::string body;
    for (int i = 0; i < 12; ++i) body += "{\"model\":\"rhythm/" + std::to_string(i) + "\"}\n";
    ASSERT_EQ(nodes_[0]->post_events(body).first, 200);
    ASSERT_TRUE(poll_until([&] { return nodes_[0]->resident().size() == 12; }, kSettle));
    ASSERT_EQ(nodes_[0]->post("/api/warmup/backup-state", R"({"name": "all-here"})"), 200);
    node("node-1").start();
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle));
    const auto owned_by_node_0 = [&](const std::vector<std::string>& models) {
        for (const auto& model : models)
            if (nodes_[0]->owners(model) != std::vector<std::string>{"node-0"}) return false;
        return true;
    };
    ASSERT_TRUE(poll_until([&] { return nodes_[0]->resident().size() < 12 && owned_by_node_0(nodes_[0]->resident()); },
                           kSettle));

    ASSERT_EQ(nodes_[0]->post("/api/warmup/restore-state", R"({"name": "all-here"})"), 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * kHeartbeatMs));
    EXPECT_TRUE(owned_by_node_0(nodes_[0]->resident())) << nodes_[0]->get("/api/warmup/status").dump();

    ASSERT_TRUE(node("node-0").stop_cleanly());
    node("node-0").start();
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle));
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * kHeartbeatMs));
    EXPECT_FALSE(nodes_[0]->resident().empty());
    EXPECT_TRUE(owned_by_node_0(nodes_[0]->resident())) << nodes_[0]->get("/api/warmup/status").dump();
    const json decisions = nodes_[0]->get("/api/warmup/decisions?limit=500");
    for (const auto& decision : decisions["decisions"]) {
        if (decision["decision"] != "prewarm") continue;
        EXPECT_EQ(nodes_[0]->owners(decision["model"].get<std::string>()), std::vector<std::string>{"node-0"})
            << decision.dump();
    }
}

TEST_F(FleetTest, NodesThatPlaceByOtherInputsAreSeenAndSaidDegraded) {
    // node-0's cluster settings differ (replica_capacity_rps): each node sees the other's published inputs differ
    // and says so in its cluster component, whose placement could otherwise differ without a word.
    start_nodes(2, ", replica_capacity_rps: 1000");
    for (const std::string id : {"node-0", "node-1"}) {
        const std::string other = id == "node-0" ? "node-1" : "node-0";
        EXPECT_TRUE(poll_until([&] { return cluster_health(node(id))["state"] == "degraded"; }, kSettle)) << id;
        const std::string reason = cluster_health(node(id)).value("reason", "");
        EXPECT_NE(reason.find("nodes place models by another catalog or other cluster settings"), std::string::npos)
            << reason;
        EXPECT_NE(reason.find(other + " (inputs "), std::string::npos) << reason;
        EXPECT_TRUE(node(id).process().wait_for_log("CLUSTER_PLACEMENT_INPUTS_DIFFER " + other, kSettle));
    }
    const json nodes = nodes_[0]->cluster()["nodes"];
    ASSERT_EQ(nodes.size(), 2U);
    EXPECT_NE(nodes[0]["placement_inputs"], nodes[1]["placement_inputs"]) << nodes.dump();
}

TEST_F(FleetTest, AnExperimentArmReleasesTheModelsThatMoveToAnotherNode) {
    // node-0 runs a live experiment split by model; its arm keeps models for an hour. When node-1 joins and takes some
    // of them over, node-0's arms keep none of those (before, the arm went on holding them: loaded on two nodes).
    nodes_.push_back(std::make_unique<Node>(
        "node-0", dir_, redis_->url(), "", true,
        "experiment: {enabled: true, split: model}\narms:\n  - {name: alt, components: {predictor: {plugin: "
        "org.warmup.predictor.keep-alive, params: {ttl_ms: 3600000}}}}\n"));
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle));
    std::string body;
    for (int i = 0; i < 12; ++i) body += "{\"model\":\"rhythm/" + std::to_string(i) + "\"}\n";
    ASSERT_EQ(nodes_[0]->post_events(body).first, 200);
    ASSERT_TRUE(
        poll_until([&] { return nodes_[0]->metric("warmup_models{arm=\"alt\",state=\"ready\"}") > 0; }, kSettle));
    std::set<std::string> in_alt;  // the models the split sends to the arm (it decided for them)
    const json alt_decisions = nodes_[0]->get("/api/warmup/decisions?arm=alt&limit=100");
    for (const auto& decision : alt_decisions["decisions"]) in_alt.insert(decision["model"].get<std::string>());
    ASSERT_FALSE(in_alt.empty()) << alt_decisions.dump();
    nodes_.push_back(std::make_unique<Node>("node-1", dir_, redis_->url()));
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle));
    std::size_t still_owned = 0;
    for (const auto& model : in_alt) still_owned += nodes_[0]->owners(model) == std::vector<std::string>{"node-0"};
    ASSERT_LT(still_owned, in_alt.size()) << "node-1 takes some of the arm's models";
    EXPECT_TRUE(poll_until(
        [&] { return nodes_[0]->metric("warmup_models{arm=\"alt\",state=\"ready\"}") == double(still_owned); },
        kSettle))
        << nodes_[0]->get("/api/warmup/experiments").dump();
}

TEST_F(FleetTest, OnlyModelsThatMovedAwayAreCountedAsHandedOver) {
    start_nodes(3);
    const json original_owners = nodes_[0]->cluster()["owners"];
    std::size_t its_models = 0;
    for (const auto& [model, owners] : original_owners.items()) its_models += owners[0] == "node-2";
    ASSERT_GT(its_models, 0U);

    // node-2 leaves and comes back under its id: its interim owners hand its models back to it. Its own first
    // placement after the restart hands nothing over: the models of the other nodes were never its own.
    ASSERT_TRUE(node("node-2").stop_cleanly()) << node("node-2").process().log();
    ASSERT_TRUE(poll_until([&] { return converged(all_but("node-2"), {"node-0", "node-1"}); }, kSettle));
    node("node-2").start();
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle)) << nodes_[0]->cluster().dump();
    ASSERT_EQ(nodes_[0]->cluster()["owners"], original_owners);
    EXPECT_EQ(node("node-2").counter("models_handed_over"), 0U);
    EXPECT_EQ(node("node-2").metric("warmup_fleet_models_handed_over_total"), 0);
    EXPECT_GE(node("node-0").counter("models_handed_over") + node("node-1").counter("models_handed_over"), its_models);
}

TEST_F(FleetTest, AStateHandOverRedisRefusesIsLoggedAndNotCountedAsHandedOver) {
    start_nodes(2);
    const std::string remote = rhythm_model_owned_by("node-1");
    ASSERT_FALSE(remote.empty());
    teach_rhythm({remote});

    // Redis answers but refuses every write (-OOM: each model's MULTI/EXEC answers EXECABORT), as a full Redis or a
    // replica after a fail-over (-READONLY) does. node-1 leaves: its hand-over must not be counted as stored.
    auto redis = redis_->client();
    ASSERT_EQ(redis.checked({"CONFIG", "SET", "maxmemory", "1"}).text, "OK");
    ASSERT_TRUE(node("node-1").stop_cleanly()) << node("node-1").process().log();
    const std::string log = node("node-1").process().log();
    EXPECT_NE(log.find("CLUSTER_STATE_WRITE_ERROR Redis stored the state of 0 of 1 model(s) only (first refused: " +
                       remote + ": EXECABORT"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("state of 0 models handed over"), std::string::npos) << log;
    ASSERT_EQ(redis.checked({"CONFIG", "SET", "maxmemory", "0"}).text, "OK");
}

/// The events of the outbox file in `state_dir` (none when it is missing or does not read).
std::vector<host::cluster::OutboxEvent> outbox_file_events(const std::filesystem::path& state_dir) {
    return host::cluster::read_outbox_file(state_dir / host::cluster::kOutboxFileName).events;
}

/// Outbox tests: node-0 takes events for a model node-1 owns while Redis is down, and goes away before Redis is back.
class FleetOutboxTest : public FleetTest {
  protected:
    /// Starts the fleet (node-0 with a state folder or not), stops Redis and waits until node-0 knows; returns a model
    /// node-1 owns.
    std::string start_fleet_then_lose_redis(bool node_0_state_folder = true) {
        nodes_.push_back(std::make_unique<Node>("node-0", dir_, redis_->url(), "", node_0_state_folder));
        for (int i = 1; i < 3; ++i)
            nodes_.push_back(std::make_unique<Node>("node-" + std::to_string(i), dir_, redis_->url()));
        EXPECT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle)) << nodes_[0]->cluster().dump();
        const std::string remote = rhythm_model_owned_by("node-1");
        EXPECT_FALSE(remote.empty());
        redis_->kill_now();
        EXPECT_TRUE(poll_until([&] { return nodes_[0]->cluster()["redis"]["reachable"] == false; }, kSettle));
        return remote;
    }
    /// Posts `count` events of `model` to node-0 one request each (every answer 200); they wait in its outbox.
    void post_for_node_1(const std::string& model, int count) {
        for (int i = 0; i < count; ++i) {
            const auto [status, answer] = nodes_[0]->post_events(json{{"model", model}}.dump());
            ASSERT_EQ(status, 200) << answer.dump();
        }
        ASSERT_EQ(nodes_[0]->counter("forward_buffered"), static_cast<uint64_t>(count));
    }
    /// Starts Redis again (empty), waits until node-1 and node-2 are registered again, then starts node-0 again (so
    /// its first placement is the fleet's: node-1 still owns the model).
    void restart_redis_then_node_0() {
        redis_->start();
        ASSERT_TRUE(poll_until(
            [&] {
                return converged(all_but("node-0"), {"node-1", "node-2"});
            },
            kSettle))
            << nodes_[1]->cluster().dump();
        nodes_[0]->start();
        ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle)) << nodes_[0]->cluster().dump();
    }
    /// Waits until nothing is on its way to node-1 any more (node-0's outbox and file empty, node-1's stream read and
    /// acknowledged, at least `expected` events received) and returns how many events node-1 received.
    uint64_t events_node_1_received(uint64_t expected) {
        auto redis = redis_->client();
        EXPECT_TRUE(poll_until(
            [&] {
                return nodes_[0]->counter("forward_buffered") == 0 &&
                       outbox_file_events(nodes_[0]->state_dir()).empty() &&
                       redis.command({"XLEN", "warmup:events:node-1"}).integer == 0 &&
                       nodes_[1]->counter("events_acknowledged") >= expected;
            },
            kSettle))
            << nodes_[0]->cluster().dump() << nodes_[1]->cluster().dump();
        return nodes_[1]->counter("events_received");
    }
};

TEST_F(FleetOutboxTest, EventsForAnotherNodeTakenWhileRedisIsDownSurviveAStopAndReachTheOwnerOnce) {
    const std::string remote = start_fleet_then_lose_redis();
    post_for_node_1(remote, 3);

    // The stop cannot hand over (no Redis): the outbox goes to the state folder, and the log says so.
    ASSERT_TRUE(nodes_[0]->stop_cleanly()) << nodes_[0]->process().log();
    const std::string stop_log = nodes_[0]->process().log();
    EXPECT_NE(stop_log.find("3 events for other nodes not sent: kept in"), std::string::npos) << stop_log;
    EXPECT_EQ(outbox_file_events(nodes_[0]->state_dir()).size(), 3U);

    const uint64_t before = nodes_[1]->counter("events_received");
    restart_redis_then_node_0();
    EXPECT_TRUE(nodes_[0]->process().wait_for_log("CLUSTER_OUTBOX_RESTORED 3 events", kSettle))
        << nodes_[0]->process().log();
    // Each event reached its owner exactly once.
    EXPECT_EQ(events_node_1_received(before + 3), before + 3);
    EXPECT_EQ(cluster_health(*nodes_[0])["state"], "ok") << cluster_health(*nodes_[0]).dump();

    // Nothing is sent again by a later restart: the file was cut back once Redis took them.
    ASSERT_TRUE(nodes_[0]->stop_cleanly()) << nodes_[0]->process().log();
    nodes_[0]->start();
    EXPECT_EQ(nodes_[0]->process().log().find("CLUSTER_OUTBOX_RESTORED"), std::string::npos)
        << nodes_[0]->process().log();
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle));
    EXPECT_EQ(events_node_1_received(before + 3), before + 3);
}

TEST_F(FleetOutboxTest, EventsForAnotherNodeTakenWhileRedisIsDownSurviveACrashAndReachTheOwnerOnce) {
    const std::string remote = start_fleet_then_lose_redis();
    post_for_node_1(remote, 2);
    // Within a flush interval the outbox file has them; then the node is killed.
    ASSERT_TRUE(poll_until([&] { return outbox_file_events(nodes_[0]->state_dir()).size() == 2; }, kSettle));
    const auto kept = outbox_file_events(nodes_[0]->state_dir());
    EXPECT_EQ(kept[0].model, remote);
    EXPECT_FALSE(kept[0].applied_here);
    nodes_[0]->kill_now();

    const uint64_t before = nodes_[1]->counter("events_received");
    restart_redis_then_node_0();
    EXPECT_EQ(events_node_1_received(before + 2), before + 2);
}

TEST_F(FleetOutboxTest, RestoredEventsWaitForAPlacementWhenTheNodeStartsWhileRedisIsDown) {
    const std::string remote = start_fleet_then_lose_redis();
    post_for_node_1(remote, 3);
    ASSERT_TRUE(nodes_[0]->stop_cleanly()) << nodes_[0]->process().log();

    // Started without Redis, node-0 applies new events itself, but the restored ones are other nodes' and wait.
    nodes_[0]->start();
    ASSERT_TRUE(nodes_[0]->process().wait_for_log("CLUSTER_OUTBOX_RESTORED 3 events", kSettle));
    // A few failed Redis attempts later (a quarter heartbeat each), the forwarder has had its chances.
    ASSERT_TRUE(poll_until([&] { return nodes_[0]->counter("redis_errors") >= 3; }, kSettle));
    EXPECT_EQ(nodes_[0]->counter("forward_buffered"), 3U);
    EXPECT_EQ(nodes_[0]->counter("events_local"), 0U);
    EXPECT_EQ(outbox_file_events(nodes_[0]->state_dir()).size(), 3U);

    // Once Redis is back (empty) node-0 waits a heartbeat for its peers to register again before its first placement
    // (placed on itself alone it would apply them), then they go to their owner: node-1 receives all three.
    const uint64_t received_before = nodes_[1]->counter("events_received");
    redis_->start();
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle)) << nodes_[0]->cluster().dump();
    EXPECT_TRUE(poll_until(
        [&] {
            return nodes_[0]->counter("forward_buffered") == 0 && outbox_file_events(nodes_[0]->state_dir()).empty() &&
                   nodes_[1]->counter("events_received") >= received_before + 3;
        },
        kSettle))
        << nodes_[0]->cluster().dump();
    EXPECT_EQ(nodes_[0]->counter("events_local"), 0U);
    EXPECT_EQ(nodes_[0]->process().log().find("node-0: 1 nodes alive"), std::string::npos)
        << nodes_[0]->process().log();
}

TEST_F(FleetOutboxTest, WithoutAStateFolderTheStopSaysHowManyEventsForOtherNodesAreLost) {
    const std::string remote = start_fleet_then_lose_redis(false);
    post_for_node_1(remote, 2);
    ASSERT_TRUE(nodes_[0]->stop_cleanly()) << nodes_[0]->process().log();
    const std::string log = nodes_[0]->process().log();
    EXPECT_NE(log.find("could not hand over its state at stop"), std::string::npos) << log;
    EXPECT_NE(log.find("2 events for other nodes not sent and lost (without a state folder"), std::string::npos) << log;
}

TEST_F(FleetOutboxTest, ADamagedOutboxFileIsReportedItsReadableEventsSentAndTheNodeStillStarts) {
    start_nodes(3);
    const std::string remote = rhythm_model_owned_by("node-1");
    ASSERT_FALSE(remote.empty());
    ASSERT_TRUE(nodes_[0]->stop_cleanly()) << nodes_[0]->process().log();
    ASSERT_TRUE(poll_until([&] { return converged(all_but("node-0"), {"node-1", "node-2"}); }, kSettle));

    // One good line, one whose CRC does not match, one that is not an event, and a torn last line.
    const host::cluster::OutboxEvent good{remote, system_now_ms(), 1, 0, false};
    std::string bad_crc = host::cluster::encode_outbox_line(good);
    bad_crc[0] = bad_crc[0] == '0' ? '1' : '0';
    const std::string file = (nodes_[0]->state_dir() / host::cluster::kOutboxFileName).string();
    dir_.write("state-node-0/" + std::string(host::cluster::kOutboxFileName),
               std::string(host::cluster::kOutboxHeader) + host::cluster::encode_outbox_line(good) + bad_crc +
                   "00000000 [\"x\"]\n" + host::cluster::encode_outbox_line(good).substr(0, 12));

    const uint64_t before = nodes_[1]->counter("events_received");
    nodes_[0]->start();  // throws when the daemon does not start
    ASSERT_TRUE(poll_until([&] { return converged(all(), ids()); }, kSettle));
    const std::string log = nodes_[0]->process().log();
    EXPECT_NE(log.find("CLUSTER_OUTBOX_RESTORE_ERROR the outbox file " + file + " did not read completely (3 line(s)"),
              std::string::npos)
        << log;
    EXPECT_TRUE(std::filesystem::exists(file + ".damaged"));
    const json health = cluster_health(*nodes_[0]);
    EXPECT_EQ(health["state"], "degraded") << health.dump();
    EXPECT_NE(health["reason"].get<std::string>().find("1 event(s) for other nodes restored, the rest lost"),
              std::string::npos)
        << health.dump();
    EXPECT_EQ(events_node_1_received(before + 1), before + 1);

    // A file that is not an outbox file at all: reported, nothing restored, the node starts.
    ASSERT_TRUE(nodes_[0]->stop_cleanly()) << nodes_[0]->process().log();
    dir_.write("state-node-0/" + std::string(host::cluster::kOutboxFileName),
               "\x7f"
               "ELF garbage\n");
    nodes_[0]->start();
    const std::string second_log = nodes_[0]->process().log();
    EXPECT_NE(second_log.find("CLUSTER_OUTBOX_RESTORE_ERROR"), std::string::npos) << second_log;
    EXPECT_EQ(second_log.find("CLUSTER_OUTBOX_RESTORED"), std::string::npos) << second_log;
    EXPECT_EQ(cluster_health(*nodes_[0])["state"], "degraded");
}

}  // namespace
}  // namespace warmup::test
