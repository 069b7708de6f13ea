// cluster/redis_client.hpp — the one place the fleet talks to Redis: a small C++ wrapper over hiredis (the plain C
// client of Debian's libhiredis-dev), so the protocol is never written by hand.
//
// What it guarantees:
//  - Commands are argument vectors (redisCommandArgv): every argument is binary-safe (state bytes may hold NUL), and
//    nothing is ever formatted into a command string.
//  - A reply is copied into a RedisValue tree and the hiredis reply freed at once: no hiredis pointer escapes.
//  - A transport failure (refused, reset, timeout) throws RedisUnavailable and drops the connection; the next command
//    connects again. An error *reply* ("-ERR ...", "-NOGROUP ...") is not an exception: it is a RedisValue of type
//    Error, because callers act on some of them (NOGROUP, BUSYGROUP).
//  - Connecting and every command are bounded by the timeout given at construction (connect and socket timeouts), so
//    a Redis that stops answering costs a caller at most that long per command.
//
// Threads: one RedisConnection per thread (hiredis contexts are not thread-safe); no locking inside.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;

namespace warmup::host::cluster {

/// Where a Redis listens, parsed from "redis://host:port" (port defaults to 6379; a trailing "/<db>" selects a
/// database number).
struct RedisEndpoint {
    std::string host;
    uint16_t port = 6379;
    uint32_t database = 0;
    [[nodiscard]] std::string describe() const;  ///< "redis://host:port[/db]"
};

/// Parses a redis:// URL. Throws std::invalid_argument with the reason ("expected redis://host:port, got ...").
RedisEndpoint parse_redis_url(std::string_view url);

/// Redis could not be reached or stopped answering. The connection is dropped; the next command reconnects.
class RedisUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// One reply, owned. Strings are byte strings (may hold NUL). A nil reply has type Nil.
struct RedisValue {
    enum class Type : uint8_t { Nil, String, Status, Error, Integer, Array };
    Type type = Type::Nil;
    std::string text;  ///< String, Status and Error replies
    int64_t integer = 0;
    std::vector<RedisValue> elements;  ///< Array replies

    [[nodiscard]] bool is_nil() const noexcept { return type == Type::Nil; }
    [[nodiscard]] bool is_error() const noexcept { return type == Type::Error; }
    /// The text of a String or Status reply; nullopt for any other type.
    [[nodiscard]] std::optional<std::string> string() const {
        return type == Type::String || type == Type::Status ? std::optional<std::string>(text) : std::nullopt;
    }
};

/// A Redis error reply where the caller expected success: what() is "<command>: <redis error text>".
class RedisCommandError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class RedisConnection {
  public:
    /// Does not connect yet: the first command does (so a daemon starts while Redis is down).
    RedisConnection(RedisEndpoint endpoint, std::chrono::milliseconds timeout);
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    /// Runs one command. Throws RedisUnavailable on a transport failure; an error reply is returned as a value.
    RedisValue command(const std::vector<std::string>& arguments);
    RedisValue command(std::initializer_list<std::string_view> arguments);
    /// As command(), but an error reply throws RedisCommandError.
    RedisValue checked(std::initializer_list<std::string_view> arguments);
    RedisValue checked(const std::vector<std::string>& arguments);

    /// Sends every command of `batch` in one round trip (hiredis pipelining) and returns their replies in order.
    /// Throws RedisUnavailable when the transport fails part way (the caller then cannot know which ran: the fleet
    /// only pipelines idempotent writes or re-sends whole batches whose duplicates are tolerated).
    std::vector<RedisValue> pipeline(const std::vector<std::vector<std::string>>& batch);

    /// True while a connection is open (it may still fail on the next command).
    [[nodiscard]] bool connected() const noexcept { return context_ != nullptr; }
    /// Closes the connection now (the next command reconnects).
    void disconnect() noexcept;
    [[nodiscard]] const RedisEndpoint& endpoint() const noexcept { return endpoint_; }

  private:
    void ensure_connected();
    [[noreturn]] void fail(const std::string& what);

    RedisEndpoint endpoint_;
    std::chrono::milliseconds timeout_;
    redisContext* context_ = nullptr;  // owned; nullptr while disconnected
};

}  // namespace warmup::host::cluster
