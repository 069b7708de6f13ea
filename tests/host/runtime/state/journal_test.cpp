// The event journal's format and folder: records round-trip (events by model name, checkpoints), a rotation starts a
// segment that names its models again, a torn or corrupt record ends the reading where it is with a reason (never an
// exception), a segment with a damaged header is refused, pruning keeps what a restart needs, and a failed flush keeps
// its records for the next one without leaving a partial record behind.
#include "runtime/state/journal.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/catalog.hpp"
#include "test_support.hpp"

namespace warmup::host {
namespace {

namespace fs = std::filesystem;
using warmup::test::TempDir;

struct ReadBack {
    struct Event {
        int64_t ts_ms;
        std::string model;
        uint32_t count;
        uint32_t tenant_hash;
        friend bool operator==(const Event&, const Event&) = default;
    };
    std::vector<Event> events;
    std::vector<std::vector<SnapshotSection>> checkpoints;
    JournalReadResult result;
};

ReadBack read_back(const fs::path& file) {
    ReadBack back;
    JournalVisitor visitor;
    visitor.events = [&](std::span<const JournalEvent> events) {
        for (const auto& e : events) back.events.push_back({e.ts_ms, std::string(e.model), e.count, e.tenant_hash});
    };
    visitor.checkpoint = [&](std::vector<SnapshotSection>&& sections) { back.checkpoints.push_back(sections); };
    back.result = read_journal_segment(file, visitor);
    return back;
}

std::string read_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_raw(const fs::path& file, const std::string& bytes) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

class JournalTest : public ::testing::Test {
  protected:
    JournalTest() : catalog_({{"alpha", 100, 10, 1, 1}, {"beta/*", 200, 20, 2, 1}}) {
        alpha_ = *catalog_.resolve("alpha");
        beta_ = *catalog_.resolve("beta/one");
    }
    static warmup_usage_event event(int64_t ts_ms, warmup_model_index model, uint32_t count = 1, uint32_t tenant = 0) {
        return {ts_ms, model, count, tenant, 0};
    }
    TempDir dir_{"journal-test"};
    Catalog catalog_;
    warmup_model_index alpha_ = 0;
    warmup_model_index beta_ = 0;
};

TEST_F(JournalTest, EventsAndCheckpointsRoundTripByModelName) {
    EventJournal journal(dir_.path(), 1234);
    const std::vector<warmup_usage_event> first{event(1000, alpha_, 2, 77), event(1001, beta_)};
    const std::vector<warmup_usage_event> second{event(2000, beta_, 5)};
    journal.append_events(first, catalog_);
    const std::vector<SnapshotSection> checkpoint{{"engine", "schema/1", std::string("{\"x\":1}\0z", 9)}};
    journal.append_checkpoint(checkpoint);
    journal.append_events(second, catalog_);
    journal.flush();

    const auto segments = list_journal_segments(dir_.path());
    ASSERT_EQ(segments.size(), 1u);
    EXPECT_EQ(segments[0].seq, 1u);
    EXPECT_EQ(segments[0].base_ms, 1234u);
    EXPECT_EQ(segments[0].file.filename(), EventJournal::segment_name(1));
    const ReadBack back = read_back(segments[0].file);
    EXPECT_FALSE(back.result.torn) << back.result.torn_reason;
    EXPECT_EQ(back.result.events, 3u);
    const std::vector<ReadBack::Event> expected{
        {1000, "alpha", 2, 77}, {1001, "beta/one", 1, 0}, {2000, "beta/one", 5, 0}};
    EXPECT_EQ(back.events, expected);
    ASSERT_EQ(back.checkpoints.size(), 1u);
    EXPECT_EQ(back.checkpoints[0], checkpoint);
}

TEST_F(JournalTest, RotationStartsANewSegmentThatNamesItsModelsAgain) {
    {
        EventJournal journal(dir_.path(), 0);
        journal.append_events(std::vector{event(10, alpha_)}, catalog_);
        journal.rotate(5000);
        journal.append_events(std::vector{event(20, alpha_), event(21, beta_)}, catalog_);
        journal.flush();
        EXPECT_EQ(journal.current_seq(), 2u);
    }
    // A journal opened again (a restart) continues after the highest segment, whatever its base.
    EventJournal restarted(dir_.path(), 5000);
    EXPECT_EQ(restarted.current_seq(), 3u);
    restarted.append_events(std::vector{event(30, beta_)}, catalog_);
    restarted.flush();

    const auto segments = list_journal_segments(dir_.path());
    ASSERT_EQ(segments.size(), 3u);
    EXPECT_EQ(segments[0].base_ms, 0u);
    EXPECT_EQ(segments[1].base_ms, 5000u);
    EXPECT_EQ(segments[2].base_ms, 5000u);
    EXPECT_EQ(read_back(segments[0].file).events, (std::vector<ReadBack::Event>{{10, "alpha", 1, 0}}));
    // Segment 2 must name "alpha" itself: a reader of segment 2 alone sees names, not segment 1's indexes.
    EXPECT_EQ(read_back(segments[1].file).events,
              (std::vector<ReadBack::Event>{{20, "alpha", 1, 0}, {21, "beta/one", 1, 0}}));
    EXPECT_EQ(read_back(segments[2].file).events, (std::vector<ReadBack::Event>{{30, "beta/one", 1, 0}}));
}

TEST_F(JournalTest, ATornLastRecordIsSkippedWithItsOffsetAtEveryCut) {
    fs::path file;
    std::size_t before_last = 0;
    {
        EventJournal journal(dir_.path(), 0);
        journal.append_events(std::vector{event(1, alpha_), event(2, beta_)}, catalog_);
        journal.flush();
        file = dir_.path() / EventJournal::segment_name(1);
        before_last = fs::file_size(file);
        journal.append_events(std::vector{event(3, alpha_, 9)}, catalog_);
        journal.flush();
    }
    const std::string whole = read_file(file);
    ASSERT_GT(whole.size(), before_last);
    for (std::size_t cut = before_last + 1; cut < whole.size(); ++cut) {
        write_raw(file, whole.substr(0, cut));
        const ReadBack back = read_back(file);
        EXPECT_TRUE(back.result.torn) << "cut at " << cut;
        EXPECT_EQ(back.result.torn_offset, before_last) << "cut at " << cut;
        EXPECT_EQ(back.result.skipped_bytes, cut - before_last);
        EXPECT_NE(back.result.torn_reason.find("torn write"), std::string::npos) << back.result.torn_reason;
        EXPECT_EQ(back.events, (std::vector<ReadBack::Event>{{1, "alpha", 1, 0}, {2, "beta/one", 1, 0}}));
    }
    write_raw(file, whole);
    EXPECT_EQ(read_back(file).events.size(), 3u);
}

TEST_F(JournalTest, AFlippedByteEndsTheReadingAtThatRecordWithAChecksumReason) {
    EventJournal journal(dir_.path(), 0);
    journal.append_events(std::vector{event(1, alpha_)}, catalog_);
    journal.flush();
    const fs::path file = dir_.path() / EventJournal::segment_name(1);
    const std::size_t first_end = fs::file_size(file);
    journal.append_events(std::vector{event(2, alpha_)}, catalog_);
    journal.append_events(std::vector{event(3, alpha_)}, catalog_);
    journal.flush();
    std::string bytes = read_file(file);
    bytes[first_end + 12] ^= 0x40;  // inside the second events record's body
    write_raw(file, bytes);
    const ReadBack back = read_back(file);
    EXPECT_TRUE(back.result.torn);
    EXPECT_EQ(back.result.torn_offset, first_end);
    EXPECT_NE(back.result.torn_reason.find("checksum"), std::string::npos) << back.result.torn_reason;
    EXPECT_EQ(back.events, (std::vector<ReadBack::Event>{{1, "alpha", 1, 0}}));
}

TEST_F(JournalTest, ASegmentWithADamagedHeaderIsRefusedWithItsReason) {
    {
        EventJournal journal(dir_.path(), 0);
        journal.append_events(std::vector{event(1, alpha_)}, catalog_);
        journal.flush();
    }
    write_raw(dir_.path() / EventJournal::segment_name(2), std::string("WUPJRNL\0\x01", 9));  // torn at creation
    std::string damaged = read_file(dir_.path() / EventJournal::segment_name(1));
    damaged[20] ^= 1;  // the seq field: the header checksum no longer matches
    write_raw(dir_.path() / EventJournal::segment_name(3), damaged);
    std::vector<RefusedSnapshot> refused;
    const auto segments = list_journal_segments(dir_.path(), &refused);
    ASSERT_EQ(segments.size(), 1u);
    EXPECT_EQ(segments[0].seq, 1u);
    ASSERT_EQ(refused.size(), 2u);
    std::string reasons = refused[0].reason + " | " + refused[1].reason;
    EXPECT_NE(reasons.find("truncated header"), std::string::npos) << reasons;
    EXPECT_NE(reasons.find("header checksum"), std::string::npos) << reasons;
    EXPECT_THROW(read_journal_segment(dir_.path() / EventJournal::segment_name(2), {}), SnapshotError);
}

TEST_F(JournalTest, AFifoNamedLikeASegmentIsRefusedWithoutBlockingTheStart) {
    {
        EventJournal journal(dir_.path(), 0);
        journal.append_events(std::vector{event(1, alpha_)}, catalog_);
        journal.flush();
    }
    // Before: the header's open waited for a writer that never came, and the daemon's start with it.
    const fs::path fifo = dir_.path() / EventJournal::segment_name(2);
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    std::vector<RefusedSnapshot> refused;
    const auto segments = list_journal_segments(dir_.path(), &refused);
    ASSERT_EQ(segments.size(), 1u);
    EXPECT_EQ(segments[0].seq, 1u);
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0].file, fifo);
    EXPECT_NE(refused[0].reason.find("not a regular file"), std::string::npos) << refused[0].reason;
    try {
        (void)read_journal_segment(fifo, {});
        ADD_FAILURE() << "the FIFO was read";
    } catch (const SnapshotError& error) {
        EXPECT_NE(std::string(error.what()).find("not a regular file"), std::string::npos) << error.what();
    }
}

TEST_F(JournalTest, PruneKeepsTheSegmentsARestartReplaysAndTheRetention) {
    EventJournal journal(dir_.path(), 100);
    for (uint64_t base : {200, 300, 400}) {
        journal.append_events(std::vector{event(static_cast<int64_t>(base), alpha_)}, catalog_);
        journal.rotate(base);
    }
    journal.append_events(std::vector{event(500, alpha_)}, catalog_);
    journal.flush();
    ASSERT_EQ(list_journal_segments(dir_.path()).size(), 4u);  // bases 100, 200, 300, 400
    // Retention of one hour: nothing is old enough yet.
    EXPECT_EQ(journal.prune(300, 3'600'000), 0u);
    // No retention: the segments before the one following the oldest needed state (300) go.
    EXPECT_EQ(journal.prune(300, 0), 2u);
    const auto left = list_journal_segments(dir_.path());
    ASSERT_EQ(left.size(), 2u);
    EXPECT_EQ(left[0].base_ms, 300u);
    EXPECT_EQ(left[1].base_ms, 400u);
    // The current segment is never pruned, even when it follows no needed state.
    EXPECT_EQ(journal.prune(10'000, 0), 1u);
    ASSERT_EQ(list_journal_segments(dir_.path()).size(), 1u);
    EXPECT_EQ(list_journal_segments(dir_.path())[0].seq, journal.current_seq());
}

TEST_F(JournalTest, AFailedFlushKeepsItsRecordsAndWritesThemOnceTheFolderIsBack) {
    const fs::path gone = dir_.path() / "gone";
    fs::create_directories(gone);
    EventJournal journal(gone, 0);
    journal.append_events(std::vector{event(1, alpha_)}, catalog_);
    fs::remove_all(gone);
    EXPECT_THROW(journal.flush(), std::system_error);
    EXPECT_TRUE(journal.write_failing());
    EXPECT_NE(journal.write_failure().find("cannot open"), std::string::npos) << journal.write_failure();
    EXPECT_EQ(journal.dropped_bytes(), 0u);
    EXPECT_GT(journal.buffered_bytes(), 0u);    // still held, and counted against the ingest cap
    EXPECT_EQ(journal.unwritten_events(), 1u);  // what a stop now would lose, unless a snapshot holds it
    fs::create_directories(gone);
    journal.append_events(std::vector{event(2, alpha_)}, catalog_);
    EXPECT_EQ(journal.unwritten_events(), 2u);
    journal.flush();
    EXPECT_EQ(journal.unwritten_events(), 0u);
    EXPECT_FALSE(journal.write_failing());
    EXPECT_EQ(journal.write_failure(), "");
    EXPECT_EQ(journal.buffered_bytes(), 0u);
    const auto segments = list_journal_segments(gone);
    ASSERT_EQ(segments.size(), 1u);
    EXPECT_EQ(read_back(segments[0].file).events,
              (std::vector<ReadBack::Event>{{1, "alpha", 1, 0}, {2, "alpha", 1, 0}}));
}

TEST_F(JournalTest, ASegmentRemovedWhileOpenIsAFailedWriteUntilTheFolderIsBack) {
    // The state folder deleted by hand: writes to the open descriptor would succeed and reach no file.
    const fs::path folder = dir_.path() / "state";
    fs::create_directories(folder);
    EventJournal journal(folder, 0);
    journal.append_events(std::vector{event(1, alpha_)}, catalog_);
    journal.flush();
    fs::remove_all(folder);
    journal.append_events(std::vector{event(2, beta_)}, catalog_);
    EXPECT_THROW(journal.flush(), std::system_error);
    EXPECT_TRUE(journal.write_failing());
    EXPECT_NE(journal.write_failure().find("was removed while open"), std::string::npos) << journal.write_failure();
    EXPECT_GT(journal.dropped_bytes(), 0u);  // went with the file
    EXPECT_EQ(journal.unwritten_events(), 0u);
    // Nothing to write, and still failing: a new segment cannot be made while the folder is gone.
    EXPECT_THROW(journal.flush(), std::system_error);
    EXPECT_TRUE(journal.write_failing());
    // No folder: a new segment cannot be made; what is appended meanwhile is kept (and events are refused).
    journal.append_events(std::vector{event(3, alpha_)}, catalog_);
    EXPECT_THROW(journal.flush(), std::system_error);
    EXPECT_TRUE(journal.write_failing());
    EXPECT_EQ(journal.unwritten_events(), 1u);

    fs::create_directories(folder);
    journal.append_events(std::vector{event(4, beta_)}, catalog_);
    journal.flush();
    EXPECT_FALSE(journal.write_failing());
    const auto segments = list_journal_segments(folder);
    ASSERT_EQ(segments.size(), 1u);
    const ReadBack back = read_back(segments[0].file);
    EXPECT_FALSE(back.result.torn) << back.result.torn_reason;
    // Their models named in the new segment.
    EXPECT_EQ(back.events, (std::vector<ReadBack::Event>{{3, "alpha", 1, 0}, {4, "beta/one", 1, 0}}));
}

// A full disk: the file size limit stands for it (writes past it fail with EFBIG, as ENOSPC would, after a short
// write). The failed flush takes the segment back to its last complete record, and the next one writes the kept
// records whole: nothing torn, nothing lost, no empty segment left behind.
TEST_F(JournalTest, AFlushThatRunsOutOfSpaceLeavesNoPartialRecordAndLosesNothing) {
    EventJournal journal(dir_.path(), 0);
    journal.append_events(std::vector{event(1, alpha_)}, catalog_);
    journal.flush();
    const fs::path file = dir_.path() / EventJournal::segment_name(journal.current_seq());
    const auto size_before = fs::file_size(file);

    std::vector<warmup_usage_event> many;
    for (int64_t t = 2; t < 2002; ++t) many.push_back(event(t, t % 2 == 0 ? beta_ : alpha_));
    journal.append_events(many, catalog_);
    struct rlimit saved {};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
    const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = saved;
    small.rlim_cur = static_cast<rlim_t>(size_before + 1000);  // room for part of the new record only
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    EXPECT_THROW(journal.flush(), std::system_error);
    EXPECT_THROW(journal.flush(), std::system_error);  // retried while the disk is still full
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
    EXPECT_EQ(journal.unwritten_events(), 2000u);
    std::signal(SIGXFSZ, previous_handler);
    EXPECT_TRUE(journal.write_failing());
    EXPECT_EQ(fs::file_size(file), size_before);  // taken back: no partial record at its end
    EXPECT_EQ(journal.dropped_bytes(), 0u);

    journal.append_events(std::vector{event(5000, alpha_)}, catalog_);
    journal.flush();
    EXPECT_FALSE(journal.write_failing());
    const auto segments = list_journal_segments(dir_.path());
    ASSERT_EQ(segments.size(), 1u);
    const ReadBack back = read_back(segments[0].file);
    EXPECT_FALSE(back.result.torn) << back.result.torn_reason;
    ASSERT_EQ(back.events.size(), 2002u);
    EXPECT_EQ(back.events[0], (ReadBack::Event{1, "alpha", 1, 0}));
    EXPECT_EQ(back.events[1], (ReadBack::Event{2, "beta/one", 1, 0}));
    EXPECT_EQ(back.events.back(), (ReadBack::Event{5000, "alpha", 1, 0}));
}

}  // namespace
}  // namespace warmup::host
