#include "fuzz_entry_points.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "http/event_parser.hpp"
#include "runtime/state/snapshot.hpp"

namespace warmup::test {
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

void put_u32(std::string& out, uint32_t value) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

/// A header that passes every check of decode_snapshot for `payload` (layout in snapshot.hpp).
std::string valid_header_for(std::string_view payload) {
    std::string header("WUPSNAP\0", 8);
    put_u32(header, host::kSnapshotFormatVersion);
    put_u32(header, 0);  // flags
    const uint64_t length = payload.size();
    put_u32(header, static_cast<uint32_t>(length & 0xFFFFFFFFu));
    put_u32(header, static_cast<uint32_t>(length >> 32));
    put_u32(header, host::crc32(payload));
    put_u32(header, host::crc32(header));
    return header;
}

/// One decode: a snapshot that re-encodes to exactly `file`, or a SnapshotError whose message starts with
/// `required_error_prefix` (empty: any reason).
void decode_keeps_its_promises(std::string_view file, std::string_view required_error_prefix) {
    try {
        const host::Snapshot snapshot = host::decode_snapshot(file);
        FUZZ_REQUIRE(host::encode_snapshot(snapshot) == file);
    } catch (const host::SnapshotError& error) {
        FUZZ_REQUIRE(std::string_view(error.what()).starts_with(required_error_prefix));
    } catch (const std::exception& error) {
        std::fprintf(stderr, "fuzz: decode_snapshot threw something other than SnapshotError: %s\n", error.what());
        std::abort();
    }
}

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
    FUZZ_REQUIRE(body.rejected.size() <= host::kMaxListedRejections);
    std::size_t previous_position = 0;
    for (const auto& event : body.events) {
        FUZZ_REQUIRE(event.position >= 1 && event.position > previous_position);
        previous_position = event.position;
        FUZZ_REQUIRE(!event.model.empty() && event.model.size() <= host::kMaxModelNameBytes);
        FUZZ_REQUIRE(event.count >= 1 && event.count <= 1'000'000);
        if (event.ts_ms)
            FUZZ_REQUIRE(*event.ts_ms >= host::kMinEventTsMs && *event.ts_ms <= kServerNowMs + host::kMaxFutureSkewMs);
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

    // NDJSON lines are read by a fast reader that may only accept what the reference reader (the one JSON arrays
    // use) accepts, with the same values; refusals are the reference reader's. An input that is one NDJSON line and,
    // wrapped in [ ], one array item must mean the same both ways.
    if (body.is_array || text.find('\n') != std::string_view::npos || text.size() > kMaxLineBytes) return;
    const host::ParsedBody as_item =
        host::parse_events_body("[" + std::string(text) + "]", kMaxLineBytes, kServerNowMs);
    if (as_item.events.size() + as_item.rejected.size() != 1 || body.events.size() + body.rejected.size() != 1) return;
    if (!as_item.rejected.empty() && as_item.rejected[0].position == 0) return;  // not one item
    FUZZ_REQUIRE(as_item.events.size() == body.events.size());
    if (!body.events.empty()) {
        const host::ParsedEvent& line = body.events[0];
        const host::ParsedEvent& item = as_item.events[0];
        FUZZ_REQUIRE(line.model == item.model && line.ts_ms == item.ts_ms && line.tenant == item.tenant &&
                     line.count == item.count);
    } else if (!body.rejected[0].reason.starts_with("malformed JSON")) {
        FUZZ_REQUIRE(body.rejected[0].reason == as_item.rejected[0].reason);
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

void snapshot_reader_one_input(const uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    decode_keeps_its_promises(input, "");

    // Past the checksums: only the payload decoder can refuse this file, so it must say the payload is malformed.
    const std::string_view payload =
        size >= host::kSnapshotHeaderBytes ? input.substr(host::kSnapshotHeaderBytes) : input;
    const std::string checksummed_file = valid_header_for(payload) + std::string(payload);
    FUZZ_REQUIRE(checksummed_file.size() == host::kSnapshotHeaderBytes + payload.size());
    decode_keeps_its_promises(checksummed_file, "malformed payload: ");
}

}  // namespace warmup::test
