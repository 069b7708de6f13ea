// Replays the committed corpus of nasty inputs (tests/fuzz/corpus/<target>/*) through the same entry points the
// libFuzzer harnesses use, so a gcc build (CI) exercises them without clang. An entry point aborts on a broken
// promise, which fails this test binary. Inputs that once crashed a fuzzer belong in the corpus too.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_entry_points.hpp"
#include "snapshot_seeds.hpp"

namespace warmup::test {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus(const std::string& target) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(fs::path(WARMUP_TEST_SOURCE_DIR) / "tests/fuzz/corpus" / target))
        if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

std::string read_bytes(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void replay(const std::string& target, void (*entry)(const uint8_t*, std::size_t), std::size_t min_files = 10) {
    const auto files = corpus(target);
    ASSERT_GE(files.size(), min_files) << "the " << target << " corpus went missing";
    for (const auto& file : files) {
        SCOPED_TRACE(file.filename().string());
        const std::string bytes = read_bytes(file);
        entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        // Every prefix too: truncated input is the commonest kind of bad input (a cut connection, a partial write).
        for (std::size_t cut = 1; cut < bytes.size() && cut <= 256; cut += 7)
            entry(reinterpret_cast<const uint8_t*>(bytes.data()), cut);
    }
}

TEST(FuzzCorpusReplay, EventParserKeepsItsPromisesOnEveryCorpusInput) {
    replay("event_parser", &event_parser_one_input);
}

TEST(FuzzCorpusReplay, ConfigLoaderOnlyEverThrowsConfigErrorOnEveryCorpusInput) {
    replay("config_loader", &config_loader_one_input);
}

TEST(FuzzCorpusReplay, SnapshotReaderKeepsItsPromisesOnEveryCorpusInput) {
    replay("snapshot_reader", &snapshot_reader_one_input);
}

TEST(FuzzCorpusReplay, CostCurveStateKeepsItsPromisesOnEveryCorpusInput) {
    replay("cost_curve_state", &cost_curve_state_one_input);
}

// The committed seeds are what today's writer produces (regenerate with snapshot_corpus_writer), and the valid ones
// decode to the snapshots they were made from: a change of the file format fails here, not silently in the fuzzer.
TEST(FuzzCorpusReplay, SnapshotSeedsMatchTheWriterAndDecodeAsExpected) {
    const auto seeds = snapshot_seeds();
    ASSERT_EQ(seeds.size(), corpus("snapshot_reader").size()) << "a committed seed is stale or missing";
    for (const auto& seed : seeds) {
        SCOPED_TRACE(seed.file_name);
        const fs::path file = fs::path(WARMUP_TEST_SOURCE_DIR) / "tests/fuzz/corpus/snapshot_reader" / seed.file_name;
        EXPECT_EQ(read_bytes(file), seed.bytes);
        if (seed.decoded) {
            EXPECT_EQ(host::decode_snapshot(seed.bytes), *seed.decoded);
        } else {
            try {
                host::decode_snapshot(seed.bytes);
                ADD_FAILURE() << "decoded a damaged snapshot";
            } catch (const host::SnapshotError& error) {
                EXPECT_TRUE(std::string_view(error.what()).starts_with(seed.refusal))
                    << error.what() << "\ndoes not start with\n"
                    << seed.refusal;
            }
        }
    }
}

TEST(FuzzCorpusReplay, TheEntryPointsAcceptAnEmptyInput) {
    event_parser_one_input(nullptr, 0);
    config_loader_one_input(nullptr, 0);
    snapshot_reader_one_input(nullptr, 0);
}

}  // namespace
}  // namespace warmup::test
