// cluster/redis_client.cpp — hiredis behind RedisConnection; see redis_client.hpp.
#include "cluster/redis_client.hpp"

#include <hiredis/hiredis.h>

#include <charconv>

namespace warmup::host::cluster {
namespace {

RedisValue copy_reply(const redisReply* reply) {
    RedisValue value;
    switch (reply->type) {
        case REDIS_REPLY_STRING:
            value.type = RedisValue::Type::String;
            value.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_STATUS:
            value.type = RedisValue::Type::Status;
            value.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_ERROR:
            value.type = RedisValue::Type::Error;
            value.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_INTEGER:
            value.type = RedisValue::Type::Integer;
            value.integer = reply->integer;
            break;
        case REDIS_REPLY_ARRAY:
            value.type = RedisValue::Type::Array;
            value.elements.reserve(reply->elements);
            for (std::size_t i = 0; i < reply->elements; ++i) value.elements.push_back(copy_reply(reply->element[i]));
            break;
        default:
            value.type = RedisValue::Type::Nil;
            break;
    }
    return value;
}

timeval to_timeval(std::chrono::milliseconds timeout) {
    const auto ms = timeout.count();
    return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

std::string command_name(const std::vector<std::string>& arguments) {
    return arguments.empty() ? std::string("(empty command)") : arguments.front();
}

}  // namespace

std::string RedisEndpoint::describe() const {
    std::string text = "redis://" + host + ":" + std::to_string(port);
    if (database != 0) text += "/" + std::to_string(database);
    return text;
}

RedisEndpoint parse_redis_url(std::string_view url) {
    const auto refuse = [&](const std::string& why) {
        throw std::invalid_argument("expected redis://host:port (" + why + "), got '" + std::string(url) + "'");
    };
    constexpr std::string_view kScheme = "redis://";
    if (!url.starts_with(kScheme)) refuse("the scheme must be redis://");
    std::string_view rest = url.substr(kScheme.size());
    RedisEndpoint endpoint;
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
        const std::string_view db = rest.substr(slash + 1);
        if (!db.empty()) {
            const auto [end, error] = std::from_chars(db.data(), db.data() + db.size(), endpoint.database);
            if (error != std::errc() || end != db.data() + db.size()) refuse("the database must be a number");
        }
        rest = rest.substr(0, slash);
    }
    if (rest.find('@') != std::string_view::npos) refuse("credentials in the URL are not supported");
    const auto colon = rest.rfind(':');
    endpoint.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
        const std::string_view port = rest.substr(colon + 1);
        unsigned value = 0;
        const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
            refuse("the port must be 1..65535");
        endpoint.port = static_cast<uint16_t>(value);
    }
    if (endpoint.host.empty()) refuse("the host is empty");
    return endpoint;
}

RedisConnection::RedisConnection(RedisEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

RedisConnection::~RedisConnection() { disconnect(); }

void RedisConnection::disconnect() noexcept {
    if (context_ != nullptr) redisFree(context_);
    context_ = nullptr;
}

void RedisConnection::fail(const std::string& what) {
    std::string reason = what;
    if (context_ != nullptr && context_->err != 0) reason += ": " + std::string(context_->errstr);
    disconnect();
    throw RedisUnavailable(endpoint_.describe() + ": " + reason);
}

void RedisConnection::ensure_connected() {
    if (context_ != nullptr) return;
    context_ = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, to_timeval(timeout_));
    if (context_ == nullptr) throw RedisUnavailable(endpoint_.describe() + ": cannot allocate a connection");
    if (context_->err != 0) fail("cannot connect");
    if (redisSetTimeout(context_, to_timeval(timeout_)) != REDIS_OK) fail("cannot set the socket timeout");
    if (endpoint_.database != 0) {
        const RedisValue selected = command({"SELECT", std::to_string(endpoint_.database)});
        if (selected.is_error()) fail("SELECT " + std::to_string(endpoint_.database) + " refused: " + selected.text);
    }
}

RedisValue RedisConnection::command(std::initializer_list<std::string_view> arguments) {
    return command(std::vector<std::string>(arguments.begin(), arguments.end()));
}

RedisValue RedisConnection::command(const std::vector<std::string>& arguments) {
    ensure_connected();
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(arguments.size());
    lengths.reserve(arguments.size());
    for (const auto& argument : arguments) {
        argv.push_back(argument.data());
        lengths.push_back(argument.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (reply == nullptr) fail(command_name(arguments) + " failed");
    RedisValue value = copy_reply(reply);
    freeReplyObject(reply);
    return value;
}

RedisValue RedisConnection::checked(std::initializer_list<std::string_view> arguments) {
    return checked(std::vector<std::string>(arguments.begin(), arguments.end()));
}

RedisValue RedisConnection::checked(const std::vector<std::string>& arguments) {
    RedisValue value = command(arguments);
    if (value.is_error()) throw RedisCommandError(command_name(arguments) + ": " + value.text);
    return value;
}

std::vector<RedisValue> RedisConnection::pipeline(const std::vector<std::vector<std::string>>& batch) {
    std::vector<RedisValue> replies;
    if (batch.empty()) return replies;
    ensure_connected();
    for (const auto& arguments : batch) {
        std::vector<const char*> argv;
        std::vector<std::size_t> lengths;
        for (const auto& argument : arguments) {
            argv.push_back(argument.data());
            lengths.push_back(argument.size());
        }
        if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()) != REDIS_OK)
            fail(command_name(arguments) + " could not be queued");
    }
    replies.reserve(batch.size());
    for (const auto& arguments : batch) {
        void* raw = nullptr;
        if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) fail(command_name(arguments) + " failed");
        auto* reply = static_cast<redisReply*>(raw);
        replies.push_back(copy_reply(reply));
        freeReplyObject(reply);
    }
    return replies;
}

}  // namespace warmup::host::cluster
