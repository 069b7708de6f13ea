#include "fuzz_entry_points.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string_view>

#include "config/config.hpp"
#include "http/event_parser.hpp"

namespace warmup::fuzz {
namespace {

[[noreturn]] void broken_promise(const char* what) {
    std::fprintf(stderr, "fuzz: broken promise: %s\n", what);
    std::abort();
}

#define FUZZ_REQUIRE(condition)                       \
    do {                                              \
        if (!(condition)) broken_promise(#condition); \
    } while (false)

constexpr int64_t kServerNowMs = 1'700'000'000'000;
constexpr std::size_t kMaxLineBytes = 256;

}  // namespace

void event_parser_one_input(const uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    host::ParsedBody body;
    try {
        body = host::parse_events_body(text, kMaxLineBytes, kServerNowMs);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "fuzz: parse_events_body threw: %s\n", error.what());
        std::abort();
    }
    FUZZ_REQUIRE(body.rejected.size() <= host::kMaxListedRejections + 1);
    std::size_t previous_position = 0;
    for (const auto& event : body.events) {
        FUZZ_REQUIRE(event.position >= 1 && event.position > previous_position);
        previous_position = event.position;
        FUZZ_REQUIRE(!event.model.empty() && event.model.size() <= host::kMaxModelNameBytes);
        FUZZ_REQUIRE(event.count >= 1 && event.count <= 1'000'000);
        if (event.ts_ms) FUZZ_REQUIRE(*event.ts_ms >= 0 && *event.ts_ms <= kServerNowMs + host::kMaxFutureSkewMs);
    }
    // No item is both accepted and refused: the positions of events and refusals are distinct. Position 0 is the
    // "whole body" refusal of a malformed array, which comes with no events.
    std::set<std::size_t> positions;
    for (const auto& event : body.events) positions.insert(event.position);
    for (const auto& refusal : body.rejected) {
        FUZZ_REQUIRE(!refusal.reason.empty());
        if (refusal.position == 0) {
            FUZZ_REQUIRE(body.events.empty());
            continue;
        }
        FUZZ_REQUIRE(positions.insert(refusal.position).second);
    }
}

void config_loader_one_input(const uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const host::Config config =
            host::load_config_text(text, "<fuzz>", "/nonexistent-fuzz-base", "/nonexistent-fuzz-exe");
        // A config that loads satisfies the schema's promises.
        FUZZ_REQUIRE(!config.catalog.empty());
        FUZZ_REQUIRE(config.http.max_body_mb > 0);
    } catch (const host::ConfigError&) {
        // The documented way to refuse a configuration.
    } catch (const std::exception& error) {
        std::fprintf(stderr, "fuzz: load_config_text threw something other than ConfigError: %s\n", error.what());
        std::abort();
    }
}

}  // namespace warmup::fuzz
