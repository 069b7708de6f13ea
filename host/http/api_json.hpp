// http/api_json.hpp — the JSON pieces the endpoints of the HTTP API share: the answer writer, times and residencies as
// JSON, an engine's counters and a plugin set as JSON. Pure functions (reply writes only the response it is given):
// any HTTP thread; plugins_json reads plugin descriptors, which are immutable while the set lives.
#pragma once

#include <httplib.h>
#include <warmup/warmup.h>

#include <cstddef>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "engine/warmup_engine.hpp"
#include "loader/plugin_set.hpp"

namespace warmup::host {

inline constexpr const char* kJsonContentType = "application/json";

/// `body` as the text of an answer: pretty-printed (two-space indent), one trailing newline. Never throws: a string
/// (or key) that is not valid UTF-8, such as a message quoting a client's bytes (a query parameter, a path, a model
/// name), has each byte that does not begin a valid UTF-8 sequence written as the four characters \xFF, so the answer
/// stays valid JSON and still shows which byte it was.
std::string answer_text(const nlohmann::json& body);

/// `value` as one line of JSON for a log message: compact, no trailing newline. Never throws: bytes that are not
/// valid UTF-8 (a file path, a plugin's or the dynamic loader's message) are escaped as \xFF as in answer_text.
std::string log_text(const nlohmann::json& value);

/// Answers `status` with answer_text(`body`).
void reply(httplib::Response& response, int status, const nlohmann::json& body);

/// The text of a 400 answer for the first query parameter of `params` that is not in `known` ("unknown query
/// parameter 'modle' (this endpoint takes limit, model, arm)"), or nullopt: a typo would otherwise be ignored and
/// answer something else than what was asked.
std::optional<std::string> unknown_query_parameter(const std::multimap<std::string, std::string>& params,
                                                   std::span<const std::string_view> known);
inline std::optional<std::string> unknown_query_parameter(const std::multimap<std::string, std::string>& params,
                                                          std::initializer_list<std::string_view> known) {
    return unknown_query_parameter(params, std::span(known.begin(), known.size()));
}

/// "<name>: given more than once" for the first query parameter the request's `target` names twice, or nullopt. Read
/// from the raw target: the HTTP library drops a repeated name=value pair (the same value twice) before a handler sees
/// the parameters, so a count of `params` finds only a name repeated with different values.
std::optional<std::string> repeated_query_parameter(std::string_view target);

/// null for WARMUP_TIME_NEVER, else the time in ms.
nlohmann::json time_or_null(warmup_time_ms ms);

/// "absent", "queued", "loading" or "ready".
std::string_view residency_name(warmup_residency residency);

/// Every counter of an engine, by its name in the API.
nlohmann::json counters_json(const EngineCounters& counters);

/// One entry per slot: id, kind, version, ABI, description, file and SHA-256 of its plugin.
nlohmann::json plugins_json(const PluginSet& plugins);

/// After an answer that listed `entries` models: a list of thousands is a tree of small blocks (about 2 KiB per
/// prediction) that malloc keeps once freed, between the daemon's long-lived blocks: the whole predictions list of
/// 10 k models left warmupd ~23 MiB larger for good. malloc_trim hands those pages back (a few ms, on this HTTP
/// thread, only after such an answer).
void return_freed_memory(std::size_t entries);

}  // namespace warmup::host
