// The `cluster:` section of the configuration: defaults, ranges, and errors located at the key.
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace warmup::host {
namespace {

const std::string kRequired = R"(components:
  analyzer: {plugin: org.warmup.analyzer.usage-pattern}
  predictor: {plugin: org.warmup.predictor.cost-curve}
  performance: {plugin: org.warmup.performance.calibrated}
  scheduler: {plugin: org.warmup.scheduler.lead-time}
  resource: {plugin: org.warmup.resource.lru}
  queue: {plugin: org.warmup.queue.priority}
  metrics: {plugin: org.warmup.metrics.prometheus}
  backend: {plugin: org.warmup.backend.sim}
catalog:
  - {model: "llama3:8b", memory_mb: 4800, load_ms: 3000}
)";

Config load(const std::string& cluster) { return load_config_text(cluster + kRequired, "fleet.yaml", "/tmp", "/tmp"); }

std::string error_of(const std::string& cluster) {
    try {
        load(cluster);
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "(accepted)";
}

TEST(ClusterConfig, AbsentMeansOneNode) { EXPECT_FALSE(load("").cluster.enabled); }

TEST(ClusterConfig, DefaultsAndGivenValues) {
    const Config defaults = load("cluster: {redis: \"redis://127.0.0.1:6379\"}\n");
    EXPECT_TRUE(defaults.cluster.enabled);
    EXPECT_EQ(defaults.cluster.redis_url, "redis://127.0.0.1:6379");
    EXPECT_EQ(defaults.cluster.node_id, "");  // the host name at start
    EXPECT_EQ(defaults.cluster.heartbeat_ms, 1000U);
    EXPECT_DOUBLE_EQ(defaults.cluster.load_slack, 0.25);
    EXPECT_DOUBLE_EQ(defaults.cluster.replica_capacity_rps, 0);
    EXPECT_EQ(defaults.cluster.forward_buffer, 65536U);
    EXPECT_EQ(defaults.cluster.key_prefix, "warmup:");
    const Config given = load(
        "cluster: {redis: \"redis://redis:6379/1\", node_id: node-a.1, heartbeat_ms: 500, load_slack: 0.5, "
        "replica_capacity_rps: 20, forward_buffer: 100, key_prefix: \"prod:\", advertise_url: "
        "\"http://10.0.0.5:3000\"}\n");
    EXPECT_EQ(given.cluster.node_id, "node-a.1");
    EXPECT_EQ(given.cluster.heartbeat_ms, 500U);
    EXPECT_DOUBLE_EQ(given.cluster.load_slack, 0.5);
    EXPECT_DOUBLE_EQ(given.cluster.replica_capacity_rps, 20);
    EXPECT_EQ(given.cluster.forward_buffer, 100U);
    EXPECT_EQ(given.cluster.key_prefix, "prod:");
    EXPECT_EQ(given.cluster.advertise_url, "http://10.0.0.5:3000");
}

TEST(ClusterConfig, MistakesAreLocatedAtTheirKey) {
    EXPECT_NE(error_of("cluster: {node_id: a}\n").find("fleet.yaml:1:1: cluster"), std::string::npos)
        << error_of("cluster: {node_id: a}\n");
    EXPECT_NE(error_of("cluster: {redis: \"http://x:1\"}\n").find("cluster.redis: expected redis://host:port"),
              std::string::npos);
    EXPECT_NE(error_of("cluster: {redis: \"redis://x:1\", node_id: \"a b\"}\n").find("cluster.node_id"),
              std::string::npos);
    EXPECT_NE(error_of("cluster: {redis: \"redis://x:1\", heartbeat_ms: 10}\n").find("cluster.heartbeat_ms"),
              std::string::npos);
    EXPECT_NE(error_of("cluster: {redis: \"redis://x:1\", load_slack: 9}\n").find("cluster.load_slack"),
              std::string::npos);
    EXPECT_NE(error_of("cluster: {redis: \"redis://x:1\", heartbeet_ms: 10}\n").find("did you mean 'heartbeat_ms'"),
              std::string::npos);
}

}  // namespace
}  // namespace warmup::host
