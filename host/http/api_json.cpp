// http/api_json.cpp — the JSON pieces shared by the endpoints; see api_json.hpp.
#include "http/api_json.hpp"

#include <fmt/format.h>
#include <malloc.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "core/utf8.hpp"
#include "http/http_api.hpp"
#include "loader/plugin_library.hpp"

namespace warmup::host {

using nlohmann::json;

namespace {

/// A copy of `value` whose strings and keys are valid UTF-8 (escape_invalid_utf8).
json with_invalid_utf8_escaped(const json& value) {
    if (value.is_string()) return escape_invalid_utf8(value.get_ref<const std::string&>());
    if (value.is_array()) {
        json out = json::array();
        for (const auto& item : value) out.push_back(with_invalid_utf8_escaped(item));
        return out;
    }
    if (value.is_object()) {
        json out = json::object();
        for (const auto& [key, item] : value.items()) out[escape_invalid_utf8(key)] = with_invalid_utf8_escaped(item);
        return out;
    }
    return value;
}

/// `value` dumped with `indent` (-1: one line), never throwing. The strict dump is the common case and costs nothing
/// extra; it throws type_error 316 only for a string that is not UTF-8, and only then is `value` copied with those
/// bytes escaped. The replace handler of the second dump cannot fire on the escaped copy: it only guarantees that
/// no dump ever ends in an exception.
std::string dump_escaping_invalid_utf8(const json& value, int indent) {
    try {
        return value.dump(indent);
    } catch (const json::type_error&) {
        return with_invalid_utf8_escaped(value).dump(indent, ' ', false, json::error_handler_t::replace);
    }
}

}  // namespace

std::string answer_text(const json& body) { return dump_escaping_invalid_utf8(body, 2) + "\n"; }

std::string log_text(const json& value) { return dump_escaping_invalid_utf8(value, -1); }

void reply(httplib::Response& response, int status, const json& body) {
    response.status = status;
    response.set_content(answer_text(body), kJsonContentType);
}

std::optional<std::string> unknown_query_parameter(const std::multimap<std::string, std::string>& params,
                                                   std::span<const std::string_view> known) {
    for (const auto& [name, value] : params) {
        if (std::find(known.begin(), known.end(), name) != known.end()) continue;
        std::string takes;
        for (const std::string_view key : known) takes += (takes.empty() ? "" : ", ") + std::string(key);
        return fmt::format("unknown query parameter '{}' (this endpoint takes {})", name,
                           takes.empty() ? std::string("none") : takes);
    }
    return std::nullopt;
}

namespace {

/// A query parameter's name with its percent-escapes and '+' decoded (a malformed escape is kept as written).
std::string decoded_name(std::string_view name) {
    std::string decoded;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '+') {
            decoded += ' ';
        } else if (name[i] == '%' && i + 2 < name.size() && std::isxdigit(static_cast<unsigned char>(name[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(name[i + 2]))) {
            decoded += static_cast<char>(std::stoi(std::string(name.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            decoded += name[i];
        }
    }
    return decoded;
}

}  // namespace

std::optional<std::string> repeated_query_parameter(std::string_view target) {
    const auto question = target.find('?');
    if (question == std::string_view::npos) return std::nullopt;
    std::string_view query = target.substr(question + 1);
    if (const auto fragment = query.find('#'); fragment != std::string_view::npos) query = query.substr(0, fragment);
    std::vector<std::string> names;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;
        std::string name = decoded_name(pair.substr(0, pair.find('=')));
        if (std::find(names.begin(), names.end(), name) != names.end())
            return fmt::format("{}: given more than once", name);
        names.push_back(std::move(name));
    }
    return std::nullopt;
}

json time_or_null(warmup_time_ms ms) { return ms == WARMUP_TIME_NEVER ? json(nullptr) : json(ms); }

std::string_view residency_name(warmup_residency residency) {
    switch (residency) {
        case WARMUP_RESIDENCY_ABSENT:
            return "absent";
        case WARMUP_RESIDENCY_QUEUED:
            return "queued";
        case WARMUP_RESIDENCY_LOADING:
            return "loading";
        case WARMUP_RESIDENCY_READY:
            return "ready";
    }
    return "absent";
}

json counters_json(const EngineCounters& c) {
    return json{{"events", c.events},
                {"requests", c.requests},
                {"warm_requests", c.warm_requests},
                {"cold_requests", c.cold_requests},
                {"failed_requests", c.failed_requests},
                {"demand_loads", c.demand_loads},
                {"loads_queued_for_memory", c.loads_queued_for_memory},
                {"prewarms_started", c.prewarms_started},
                {"prewarms_used", c.prewarms_used},
                {"prewarms_wasted", c.prewarms_wasted},
                {"prewarms_skipped", c.prewarms_skipped},
                {"loads_succeeded", c.loads_succeeded},
                {"loads_failed", c.loads_failed},
                {"loads_given_up", c.loads_given_up},
                {"evictions", c.evictions},
                {"unloads", c.unloads},
                {"queue_rejections", c.queue_rejections},
                {"plugin_errors", c.plugin_errors}};
}

json plugins_json(const PluginSet& plugins) {
    json list = json::array();
    for (const ComponentSlot slot : kAllSlots) {
        const auto& instance = plugins.at(slot);
        const auto& descriptor = instance->library().descriptor();
        list.push_back({{"slot", slot_key(slot)},
                        {"id", descriptor.id},
                        {"kind", kind_name(descriptor.kind)},
                        {"version", descriptor.version},
                        {"abi", fmt::format("{}.{}", descriptor.abi.major, descriptor.abi.minor)},
                        {"description", descriptor.description == nullptr ? "" : descriptor.description},
                        {"file", instance->library().file().string()},
                        {"sha256", instance->library().sha256()}});
    }
    return list;
}

void return_freed_memory(std::size_t entries) {
    constexpr std::size_t kLargeAnswerEntries = 1000;
    if (entries >= kLargeAnswerEntries) malloc_trim(0);
}

}  // namespace warmup::host
