// http/model_page.cpp — see model_page.hpp.
#include "http/model_page.hpp"

#include <fmt/format.h>

#include <charconv>

#include "http/api_json.hpp"

namespace warmup::host {

namespace {

/// `text` as an integer in [low, high], or nullopt.
template <typename Integer>
std::optional<Integer> integer_in(const std::string& text, Integer low, Integer high) {
    Integer parsed = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    if (error != std::errc{} || end != text.data() + text.size() || parsed < low || parsed > high) return std::nullopt;
    return parsed;
}

}  // namespace

std::optional<std::string> parse_model_page(const std::multimap<std::string, std::string>& params,
                                            const Catalog& catalog, ModelList list, ModelPage& page) {
    page = ModelPage{};
    const bool predictions = list == ModelList::Predictions;
    if (auto unknown = predictions ? unknown_query_parameter(params, {"limit", "after", "soonest", "within_ms"})
                                   : unknown_query_parameter(params, {"limit", "after", "per_state"}))
        return unknown;
    for (const char* name : {"limit", "after", "soonest", "within_ms", "per_state"})
        if (params.count(name) > 1) return fmt::format("{}: given more than once", name);

    if (const auto limit = params.find("limit"); limit != params.end()) {
        const auto parsed = integer_in<std::size_t>(limit->second, 1, kMaxModelPageLimit);
        if (!parsed)
            return fmt::format("limit: expected an integer 1..{}, got '{}'", kMaxModelPageLimit, limit->second);
        page.limit = *parsed;
        page.limited = true;
    }
    const bool paged = page.limited || params.count("after") != 0;
    for (const char* name : {"soonest", "per_state"}) {
        const auto selection = params.find(name);
        if (selection == params.end()) continue;
        const auto parsed = integer_in<std::size_t>(selection->second, 1, kMaxModelPageLimit);
        if (!parsed)
            return fmt::format("{}: expected an integer 1..{}, got '{}'", name, kMaxModelPageLimit, selection->second);
        if (paged) return fmt::format("{}: not with limit or after (the selection is not paginated)", name);
        (predictions ? page.soonest : page.per_state) = *parsed;
    }
    if (const auto within = params.find("within_ms"); within != params.end()) {
        const auto parsed = integer_in<warmup_time_ms>(within->second, 1, kMaxSoonestWindowMs);
        if (!parsed)
            return fmt::format("within_ms: expected an integer 1..{} (milliseconds), got '{}'", kMaxSoonestWindowMs,
                               within->second);
        if (page.soonest == 0) return std::string("within_ms: only with soonest (the window of that selection)");
        page.within_ms = *parsed;
    }
    if (const auto after = params.find("after"); after != params.end()) {
        const std::string& name = after->second;
        if (name.empty())
            return std::string("after: expected the name of a model (the next_after of the previous page)");
        const std::optional<warmup_model_index> index = catalog.find(name);
        if (!index) return fmt::format("after: unknown model '{}': no request or prediction has named it", name);
        page.first = *index + 1;
    }
    return std::nullopt;
}

}  // namespace warmup::host
