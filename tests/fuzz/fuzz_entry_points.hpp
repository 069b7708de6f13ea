// fuzz_entry_points.hpp — the entry points the libFuzzer harnesses and the corpus replay test share: each feeds one
// input to a host parser and checks the promises its header makes about the result. A broken promise (or an
// exception a parser must not leak) aborts with a message, which libFuzzer reports as a crash and GoogleTest as a
// dead test, so both builds catch the same defects.
//
// Thread-safety: each call is independent (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>

namespace warmup::test {

/// parse_events_body on `data` with a fixed server time and a 256-byte line cap (so the cap path is reached).
void event_parser_one_input(const uint8_t* data, std::size_t size);

/// load_config_text on `data`: must return a Config or throw ConfigError, never anything else.
void config_loader_one_input(const uint8_t* data, std::size_t size);

/// decode_snapshot on `data`, twice: once as is (the CRCs stop most mutations, which is what a real corrupt file
/// meets), then with a freshly built valid header (magic, version, flags, length and both CRCs) in front of the bytes
/// after offset 32 (the whole input when it is shorter than a header), so mutations reach the payload decoder. Each
/// pass must either return a snapshot whose encode_snapshot is byte-for-byte the decoded input (the format has one
/// encoding per snapshot), or throw SnapshotError (in the second pass, only "malformed payload: ..."); anything else
/// aborts.
void snapshot_reader_one_input(const uint8_t* data, std::size_t size);

/// The default predictor's import_state on `data` (a catalog of 8 models): must either refuse it with sdk::Error and
/// keep its empty state, or accept it; then its export must read back to the same text, and 32 uses of the models
/// in turn (every imported pair scored, every named follower looked up) must run without a follower named outside
/// the catalog. In cost_curve_state_entry.cpp; scripts/run-fuzzers.sh builds it with the standard library's own checks
/// on, which catch an index past a table's size (a record naming a follower the table does not hold did).
void cost_curve_state_one_input(const uint8_t* data, std::size_t size);

}  // namespace warmup::test
