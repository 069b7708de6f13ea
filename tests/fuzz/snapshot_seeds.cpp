#include "snapshot_seeds.hpp"

#include <cstdint>
#include <utility>

namespace warmup::test {
namespace {

using host::Snapshot;
using host::SnapshotSection;

void put_u32_at(std::string& bytes, std::size_t at, uint32_t value) {
    for (int i = 0; i < 4; ++i) bytes[at + static_cast<std::size_t>(i)] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

/// Recomputes both checksums, so a damaged payload gets past the CRC checks and reaches the payload decoder.
std::string with_fresh_checksums(std::string bytes) {
    const std::string_view payload = std::string_view(bytes).substr(host::kSnapshotHeaderBytes);
    put_u32_at(bytes, 24, host::crc32(payload));
    put_u32_at(bytes, 28, host::crc32(std::string_view(bytes).substr(0, 28)));
    return bytes;
}

Snapshot empty_snapshot() { return Snapshot{.created_unix_ms = 0, .models = {}, .warm_models = {}, .sections = {}}; }

Snapshot small_catalog_snapshot() {
    return Snapshot{
        .created_unix_ms = 1'700'000'123'456,
        .models = {"llama3:8b", "mistral:7b", "phi3:mini"},
        .warm_models = {"llama3:8b"},
        .sections = {
            {.slot = "predictor",
             .schema = "org.warmup.state.hybrid-histogram/1",
             .data = "org.warmup.state.hybrid-histogram/1\n0 1700000120000 3 60000 61000 59500\n2 1700000000000 1 "
                     "3600000\n"},
        }};
}

Snapshot full_snapshot() {
    std::string binary_state;
    for (int i = 0; i < 256; ++i) binary_state.push_back(static_cast<char>(i));  // every byte value, NUL included
    return Snapshot{
        .created_unix_ms = UINT64_MAX,
        .models = {"a", "", "org/model-with-a-long-name:70b-instruct-q4_K_M", "ünïcödé"},
        .warm_models = {"a", "ünïcödé"},
        .sections = {
            {.slot = "analyzer", .schema = "org.warmup.state.usage-pattern/1", .data = binary_state},
            {.slot = "performance",
             .schema = "org.warmup.state.calibrated-performance/1",
             .data = "org.warmup.state.calibrated-performance/1\n0 3100 4800\n"},
            {.slot = "metrics",
             .schema = "org.warmup.state.prometheus-counters/1",
             .data = "org.warmup.state.prometheus-counters/1\narm =control\ncounter cold_requests 7\nend\n"},
            {.slot = "scheduler", .schema = "", .data = ""},
        }};
}

}  // namespace

std::vector<SnapshotSeed> snapshot_seeds() {
    std::vector<SnapshotSeed> seeds;
    auto add_valid = [&](std::string name, const Snapshot& snapshot) {
        seeds.push_back({std::move(name), host::encode_snapshot(snapshot), snapshot, ""});
    };
    auto add_invalid = [&](std::string name, std::string bytes, std::string refusal) {
        seeds.push_back({std::move(name), std::move(bytes), std::nullopt, std::move(refusal)});
    };

    add_valid("valid_empty.snap", empty_snapshot());
    add_valid("valid_small_catalog.snap", small_catalog_snapshot());
    add_valid("valid_full.snap", full_snapshot());

    const std::string small = host::encode_snapshot(small_catalog_snapshot());
    const std::string full = host::encode_snapshot(full_snapshot());

    add_invalid("truncated_header.snap", small.substr(0, 20), "truncated: header has 20 of 32");
    add_invalid("truncated_payload.snap", small.substr(0, small.size() / 2), "truncated: payload has");
    add_invalid("truncated_last_byte.snap", full.substr(0, full.size() - 1), "truncated: payload has");
    std::string flipped_payload = full;
    flipped_payload[host::kSnapshotHeaderBytes + 40] ^= 0x10;
    add_invalid("payload_bit_flip.snap", flipped_payload, "corrupt payload: checksum mismatch");
    std::string flipped_length = small;
    flipped_length[16] ^= 0x01;  // payload_length, caught by the header checksum
    add_invalid("header_length_bit_flip.snap", flipped_length, "corrupt header: header checksum mismatch");
    std::string bad_magic = small;
    bad_magic[0] = 'X';
    add_invalid("bad_magic.snap", bad_magic, "not a warmup snapshot (bad magic)");
    std::string future_version = small;
    put_u32_at(future_version, 8, host::kSnapshotFormatVersion + 1);
    add_invalid("future_version.snap", with_fresh_checksums(future_version), "written by a newer version (snapshot format 2");
    add_invalid("trailing_bytes.snap", full + "extra", "5 unexpected bytes after the payload");

    // Correct checksums around malformed payloads: only the payload decoder can refuse these.
    std::string huge_model_count = small;
    put_u32_at(huge_model_count, host::kSnapshotHeaderBytes + 8, 0xFFFFFFFFu);  // models: u32 after created_unix_ms
    add_invalid("checksummed_huge_model_count.snap", with_fresh_checksums(huge_model_count),
                "malformed payload: model count 4294967295 does not fit");
    std::string overlong_name = small;
    put_u32_at(overlong_name, host::kSnapshotHeaderBytes + 12, 0x7FFFFFFFu);  // length of the first model name
    add_invalid("checksummed_overlong_name.snap", with_fresh_checksums(overlong_name),
                "malformed payload: model name of 2147483647 bytes");
    std::string missing_section_count = small;
    missing_section_count.resize(host::kSnapshotHeaderBytes + 8 + 4);  // created time and a model count only
    put_u32_at(missing_section_count, 16, 12);
    put_u32_at(missing_section_count, 20, 0);
    add_invalid("checksummed_cut_payload.snap", with_fresh_checksums(missing_section_count),
                "malformed payload: model count 3 does not fit in the 0 remaining bytes");
    return seeds;
}

}  // namespace warmup::test
