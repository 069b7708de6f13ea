// http/model_page.cpp — see model_page.hpp.
#include "http/model_page.hpp"

#include <fmt/format.h>

#include <charconv>

#include "http/api_json.hpp"

namespace warmup::host {

std::optional<std::string> parse_model_page(const std::multimap<std::string, std::string>& params,
                                            const Catalog& catalog, ModelPage& page) {
    page = ModelPage{};
    if (auto unknown = unknown_query_parameter(params, {"limit", "after"})) return unknown;
    for (const char* name : {"limit", "after"})
        if (params.count(name) > 1) return fmt::format("{}: given more than once", name);

    if (const auto limit = params.find("limit"); limit != params.end()) {
        const std::string& text = limit->second;
        std::size_t parsed = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
        if (error != std::errc{} || end != text.data() + text.size() || parsed < 1 || parsed > kMaxModelPageLimit)
            return fmt::format("limit: expected an integer 1..{}, got '{}'", kMaxModelPageLimit, text);
        page.limit = parsed;
        page.limited = true;
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
