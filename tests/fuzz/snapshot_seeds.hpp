// snapshot_seeds.hpp — the seed corpus of the snapshot reader fuzzer (tests/fuzz/corpus/snapshot_reader/), defined in
// code so the committed files can be regenerated (snapshot_corpus_writer) and checked against the real writer
// (fuzz_corpus_replay_test): a change of encode_snapshot's output fails that test instead of silently leaving the
// fuzzer with seeds of an old format.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/state/snapshot.hpp"

namespace warmup::test {

struct SnapshotSeed {
    std::string file_name;                  ///< name inside tests/fuzz/corpus/snapshot_reader/
    std::string bytes;                      ///< the file image
    std::optional<host::Snapshot> decoded;  ///< what decode_snapshot returns; empty when it must refuse the bytes
    std::string refusal;                    ///< when refused: the start of decode_snapshot's SnapshotError message
};

/// Valid snapshots from encode_snapshot (empty, a small catalog, sections with the in-tree plugins' state formats and
/// binary bytes), then damaged copies of them: truncated header and payload, flipped payload and header bytes, a
/// future format version, trailing bytes, and payloads with correct checksums but malformed contents.
std::vector<SnapshotSeed> snapshot_seeds();

}  // namespace warmup::test
