// The hiredis wrapper (host/cluster/redis_client.hpp) against a real redis-server on a free loopback port.
#include "cluster/redis_client.hpp"

#include <gtest/gtest.h>

#include "fleet_test_support.hpp"

namespace warmup::host::cluster {
namespace {

using namespace std::chrono_literals;

TEST(RedisUrl, ParsesHostPortAndDatabaseAndRefusesTheRest) {
    const auto endpoint = parse_redis_url("redis://10.0.0.7:6380/2");
    EXPECT_EQ(endpoint.host, "10.0.0.7");
    EXPECT_EQ(endpoint.port, 6380);
    EXPECT_EQ(endpoint.database, 2U);
    EXPECT_EQ(endpoint.describe(), "redis://10.0.0.7:6380/2");
    EXPECT_EQ(parse_redis_url("redis://redis.default.svc").port, 6379);
    EXPECT_THROW(parse_redis_url("http://localhost:6379"), std::invalid_argument);
    EXPECT_THROW(parse_redis_url("redis://localhost:0"), std::invalid_argument);
    EXPECT_THROW(parse_redis_url("redis://localhost:99999"), std::invalid_argument);
    EXPECT_THROW(parse_redis_url("redis://:6379"), std::invalid_argument);
    EXPECT_THROW(parse_redis_url("redis://user:secret@localhost:6379"), std::invalid_argument);
}

TEST(RedisConnection, BinarySafeValuesErrorRepliesAndPipelines) {
    const int port = test::free_loopback_port();
    test::RedisServer server(port);
    RedisConnection redis(RedisEndpoint{"127.0.0.1", static_cast<uint16_t>(port), 0}, 2000ms);
    const std::string bytes("a\0b\nc", 5);
    EXPECT_EQ(redis.checked({"SET", "k", bytes}).text, "OK");
    EXPECT_EQ(redis.checked({"GET", "k"}).text, bytes);
    EXPECT_TRUE(redis.checked({"GET", "missing"}).is_nil());
    // An error reply is a value (callers act on NOGROUP, BUSYGROUP); checked() turns it into an exception.
    const RedisValue wrong = redis.command({"INCR", "k"});
    EXPECT_TRUE(wrong.is_error());
    EXPECT_THROW(redis.checked({"INCR", "k"}), RedisCommandError);
    const auto replies = redis.pipeline({{"DEL", "n"}, {"INCR", "n"}, {"INCR", "n"}, {"LRANGE", "none", "0", "-1"}});
    ASSERT_EQ(replies.size(), 4U);
    EXPECT_EQ(replies[2].integer, 2);
    EXPECT_EQ(replies[3].type, RedisValue::Type::Array);
}

TEST(RedisConnection, AnUnreachableRedisThrowsAndTheNextCommandReconnects) {
    const int port = test::free_loopback_port();
    RedisConnection redis(RedisEndpoint{"127.0.0.1", static_cast<uint16_t>(port), 0}, 500ms);
    EXPECT_THROW(redis.command({"PING"}), RedisUnavailable);
    EXPECT_FALSE(redis.connected());
    test::RedisServer server(port);
    EXPECT_EQ(redis.command({"PING"}).text, "PONG");
    server.kill_now();
    EXPECT_THROW(redis.command({"PING"}), RedisUnavailable);
    server.start();
    EXPECT_EQ(redis.command({"PING"}).text, "PONG");
}

}  // namespace
}  // namespace warmup::host::cluster
