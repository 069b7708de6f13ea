// snapshot_corpus_writer DIR — writes the snapshot reader's seed corpus (snapshot_seeds.hpp) into DIR with the
// daemon's own atomic file writer. Regenerate the committed corpus after a deliberate format change with
//   build/tests/snapshot_corpus_writer tests/fuzz/corpus/snapshot_reader
// (fuzz_corpus_replay_test fails until the committed files match the writer again).
#include <cstdio>
#include <exception>
#include <filesystem>

#include "snapshot_seeds.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    try {
        const std::filesystem::path folder = argv[1];
        std::filesystem::create_directories(folder);
        for (const auto& seed : warmup::test::snapshot_seeds()) {
            warmup::host::write_file_atomically(folder / seed.file_name, seed.bytes);
            std::printf("%s (%zu bytes)\n", seed.file_name.c_str(), seed.bytes.size());
        }
    } catch (const std::exception& error) {
        std::fprintf(stderr, "snapshot_corpus_writer: %s\n", error.what());
        return 1;
    }
    return 0;
}
