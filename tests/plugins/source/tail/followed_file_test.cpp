// FollowedFile: a file being written and rotated (rename and truncate), read line by line with explicit commits.
#include "followed_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace warmup::plugins {
namespace {

namespace fs = std::filesystem;

void append(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::app | std::ios::binary);
    out << text;
}

/// Reads what is there, commits all of it, and returns the text lines.
std::vector<std::string> read_all(FollowedFile& file, std::size_t max_bytes = 1 << 20) {
    std::vector<std::string> texts;
    for (const FileLine& line : file.read(max_bytes)) {
        if (line.kind == FileLine::Kind::Text) texts.emplace_back(line.text);
        if (line.kind == FileLine::Kind::TooLong) texts.push_back("<too long>");
        file.commit(line.end_offset);
    }
    return texts;
}

using Lines = std::vector<std::string>;

class FollowedFileTest : public ::testing::Test {
  protected:
    /// Writes "a" to the log, reads it to its end as a reader that then stops, and returns the position it keeps.
    FilePosition position_of_a_reader_that_read_a_line() {
        append(log, "a\n");
        FollowedFile file(log, 1024, false);
        EXPECT_EQ(read_all(file), Lines{"a"});
        return *file.position();
    }

    test::TempDir dir{"followed-file"};
    fs::path log = dir.path() / "access.json";
};

TEST_F(FollowedFileTest, HandsOutOnlyWholeLines) {
    append(log, "one\ntw");
    FollowedFile file(log, 1024, /*start_at_end=*/false);
    EXPECT_EQ(read_all(file), (Lines{"one"}));
    EXPECT_EQ(read_all(file), Lines{});
    append(log, "o\r\nthree\n");
    EXPECT_EQ(read_all(file), (Lines{"two", "three"}));  // "\r\n" endings lose the '\r'
}

TEST_F(FollowedFileTest, UncommittedLinesComeAgain) {
    append(log, "a\nb\nc\n");
    FollowedFile file(log, 1024, false);
    const auto first = file.read(1 << 20);
    ASSERT_EQ(first.size(), 3u);
    file.commit(first[0].end_offset);  // only "a" was handled
    EXPECT_EQ(read_all(file), (Lines{"b", "c"}));
}

TEST_F(FollowedFileTest, RenameRotationReadsTheOldFileToItsEndThenTheNewOne) {
    append(log, "a\n");
    FollowedFile file(log, 1024, false);
    EXPECT_EQ(read_all(file), Lines{"a"});
    append(log, "b\nunterminated");  // written before the writer switched files
    fs::rename(log, dir.path() / "access.json.1");
    append(log, "c\n");
    EXPECT_EQ(read_all(file), (Lines{"b", "unterminated"}));  // the old file, to its end
    EXPECT_EQ(read_all(file), Lines{"c"});                    // then the new one from its start
    append(log, "d\n");
    EXPECT_EQ(read_all(file), Lines{"d"});
    const auto notes = file.take_notes();
    ASSERT_FALSE(notes.empty());
    EXPECT_NE(notes.front().find("was rotated"), std::string::npos) << notes.front();
}

TEST_F(FollowedFileTest, AfterARenameTheOldFileIsReadOnWhileTheWriterStillAppendsToIt) {
    // nginx after logrotate: the file is renamed and a new one created, but nginx writes to the renamed one until its
    // USR1 reopen. Those lines, and a last line it is still writing, must not be lost or cut.
    append(log, "a\n");
    FollowedFile file(log, 1024, false, std::chrono::milliseconds(300));
    EXPECT_EQ(read_all(file), Lines{"a"});
    const fs::path renamed = dir.path() / "access.json.1";
    fs::rename(log, renamed);
    append(log, "new 1\n");
    append(renamed, "late 1\nhalf");
    EXPECT_EQ(read_all(file), Lines{"late 1"}) << "the half-written line is not whole yet";
    append(renamed, " done\nlate 2\n");  // the writer goes on in the renamed file
    EXPECT_EQ(read_all(file), (Lines{"half done", "late 2"}));
    append(renamed, "last, unterminated");
    EXPECT_EQ(read_all(file), Lines{});
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the writer reopened: the old file is still
    EXPECT_EQ(read_all(file), Lines{"last, unterminated"});
    EXPECT_EQ(read_all(file), Lines{"new 1"});
}

TEST_F(FollowedFileTest, APathGoneForAWhileKeepsTheOldFileOpen) {
    append(log, "a\n");
    FollowedFile file(log, 1024, false);
    EXPECT_EQ(read_all(file), Lines{"a"});
    fs::rename(log, dir.path() / "access.json.1");
    EXPECT_EQ(read_all(file), Lines{});  // no new file yet: no error
    append(dir.path() / "access.json.1", "late\n");
    EXPECT_EQ(read_all(file), Lines{"late"});
    append(log, "new\n");
    EXPECT_EQ(read_all(file), Lines{"new"});
}

TEST_F(FollowedFileTest, ADeletedFileWhosePathDoesNotComeBackIsClosedOnceReadAndSaysSo) {
    append(log, "a\n");
    FollowedFile file(log, 1024, false);  // no rotation grace: closed at the first read that finds it still
    EXPECT_EQ(read_all(file), Lines{"a"});
    fs::remove(log);
    // Before: held open for good (its disk space never freed) and no error.
    try {
        file.read(1024);
        FAIL() << "expected an error";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("was deleted and is not back"), std::string::npos) << error.what();
    }
    EXPECT_THROW(file.read(1024), std::runtime_error);  // cannot open: still gone
    append(log, "new\n");
    EXPECT_EQ(read_all(file), Lines{"new"});
}

TEST_F(FollowedFileTest, TruncationStartsOverAtTheBeginning) {
    append(log, "first line\nsecond line\n");
    FollowedFile file(log, 1024, false);
    EXPECT_EQ(read_all(file), (Lines{"first line", "second line"}));
    fs::resize_file(log, 0);  // copytruncate
    append(log, "x\n");
    EXPECT_EQ(read_all(file), Lines{"x"});
}

TEST_F(FollowedFileTest, TruncatedAndWrittenPastTheOldPositionIsNoticedByItsFirstBytes) {
    append(log, "{\"n\": 1}\n");
    FollowedFile file(log, 1024, false);
    EXPECT_EQ(read_all(file), Lines{"{\"n\": 1}"});
    fs::resize_file(log, 0);
    append(log, "{\"n\": 2, \"longer\": true}\n{\"n\": 3}\n");  // already longer than the old position
    EXPECT_EQ(read_all(file), (Lines{"{\"n\": 2, \"longer\": true}", "{\"n\": 3}"}));
}

TEST_F(FollowedFileTest, RewrittenWithFewerBytesThanItsFirstOnesIsNoticedToo) {
    append(log, "{\"model\":\"o1\"}\n{\"model\":\"o2_partial_line_xx");  // a line being written
    FollowedFile file(log, 1024, false);
    EXPECT_EQ(read_all(file), Lines{"{\"model\":\"o1\"}"});
    fs::resize_file(log, 0);
    append(log, "{\"model\":\"n1\"}\n{\"model\":\"n2\"}\n");  // past the old position, shorter than the old head
    // Before: compared only when the new first bytes were as many as the old ones, so n1 was skipped.
    EXPECT_EQ(read_all(file), (Lines{"{\"model\":\"n1\"}", "{\"model\":\"n2\"}"}));
}

TEST_F(FollowedFileTest, TruncatedAndWrittenPastThePositionIsNoticedWhenEveryLineBeginsAlike) {
    // Every line starts with the same 64 bytes or more, so the first bytes stay the same after a copytruncate: the
    // bytes before the position (the end of the last line read) are another line's.
    const std::string prefix = R"({"kind": "access-log-v1", "service": "gateway-production-eu-west-1", "n": )";
    const auto lines = [&](int from, int to) {
        std::string text;
        for (int n = from; n < to; ++n) text += prefix + std::to_string(n) + "}\n";
        return text;
    };
    append(log, lines(0, 5));
    FollowedFile file(log, 1024, false);
    EXPECT_EQ(read_all(file).size(), 5u);
    fs::resize_file(log, 0);
    append(log, lines(100, 112));  // written again past the old position between two reads
    const Lines again = read_all(file);
    ASSERT_EQ(again.size(), 12u) << "all of the new lines, from the start";
    EXPECT_EQ(again.front(), prefix + "100}");
    EXPECT_NE(file.take_notes().back().find("the bytes before the position changed"), std::string::npos);

    // The same across a restart (the position keeps those bytes).
    const FilePosition saved = *file.position();
    fs::resize_file(log, 0);
    append(log, lines(200, 215));
    FollowedFile restarted(log, 1024, false);
    restarted.restore(saved);
    EXPECT_EQ(read_all(restarted).front(), prefix + "200}");
}

TEST_F(FollowedFileTest, NulBytesBeforeALineAreNotPartOfIt) {
    // A writer without O_APPEND goes on at its old offset after a copytruncate: the file holds a hole of NUL bytes,
    // then its next line.
    append(log, "{\"n\": 1}\n");
    FollowedFile file(log, 1024, false);
    EXPECT_EQ(read_all(file), Lines{"{\"n\": 1}"});
    fs::resize_file(log, 0);
    append(log, std::string(40, '\0') + "{\"n\": 2}\n{\"n\": 3}\n");
    EXPECT_EQ(read_all(file), (Lines{"{\"n\": 2}", "{\"n\": 3}"}));

    // The hole is as long as the writer's old offset: megabytes, far more than a line may be and than one read takes.
    fs::resize_file(log, 0);
    append(log, std::string(3 << 20, '\0') + "{\"n\": 4}\n");
    Lines after_big_hole;
    for (int read = 0; read < 1000 && after_big_hole.empty(); ++read)
        for (const std::string& line : read_all(file, 64 << 10)) after_big_hole.push_back(line);
    EXPECT_EQ(after_big_hole, Lines{"{\"n\": 4}"});
}

TEST_F(FollowedFileTest, StartAtEndSkipsWhatIsThereButNotTheLineBeingWritten) {
    append(log, "old 1\nold 2\nhalf");
    FollowedFile file(log, 1024, /*start_at_end=*/true);
    EXPECT_EQ(read_all(file), Lines{});
    append(log, " done\nnew\n");
    EXPECT_EQ(read_all(file), (Lines{"half done", "new"}));
}

TEST_F(FollowedFileTest, RestoredPositionOfTheSameFileResumes) {
    append(log, "a\nb\n");
    FilePosition saved;
    {
        FollowedFile file(log, 1024, false);
        EXPECT_EQ(read_all(file), (Lines{"a", "b"}));
        saved = *file.position();
    }
    append(log, "c\n");
    FollowedFile file(log, 1024, false);
    file.restore(saved);
    EXPECT_EQ(read_all(file), Lines{"c"});
}

TEST_F(FollowedFileTest, RestoredPositionOfARotatedFileReadsTheNewFileFromItsStart) {
    append(log, "a\nb\n");
    FilePosition saved;
    {
        FollowedFile file(log, 1024, true);
        EXPECT_EQ(read_all(file), Lines{});  // opened at its end
        append(log, "c\n");
        EXPECT_EQ(read_all(file), Lines{"c"});
        saved = *file.position();
    }
    fs::rename(log, dir.path() / "access.json.1");
    append(log, "d\n");  // a new file (another inode) while nobody read
    FollowedFile file(log, 1024, true);
    file.restore(saved);
    EXPECT_EQ(read_all(file), Lines{"d"});  // not "start at end": it is a file written since the saved position
}

TEST_F(FollowedFileTest, LinesWrittenBeforeARotationWhileStoppedAreReadFromTheRotatedFileFirst) {
    append(log, "a\nb\n");
    FilePosition saved;
    {
        FollowedFile file(log, 1024, false);
        EXPECT_EQ(read_all(file), (Lines{"a", "b"}));
        saved = *file.position();
    }
    // While stopped: the writer appends, logrotate renames the file (keeping older ones), a new file is written.
    append(dir.path() / "access.json.1", "older\n");
    append(log, "c\nlast without newline");
    fs::rename(log, dir.path() / "access.json.3");
    append(dir.path() / "access.jsonl", "not a rotation of access.json\n");
    append(log, "d\n");
    FollowedFile file(log, 1024, true);
    file.restore(saved);
    Lines lines = read_all(file);
    for (const std::string& line : read_all(file)) lines.push_back(line);
    EXPECT_EQ(lines, (Lines{"c", "last without newline", "d"}));
    const std::vector<std::string> notes = file.take_notes();
    ASSERT_FALSE(notes.empty());
    EXPECT_NE(notes.front().find("reading on in '" + (dir.path() / "access.json.3").string() + "' from byte 4"),
              std::string::npos)
        << notes.front();
    EXPECT_EQ(file.position()->offset, 2u);  // now in the new file, after "d\n"
    append(log, "e\n");
    EXPECT_EQ(read_all(file), Lines{"e"});
}

TEST_F(FollowedFileTest, TwoRotationsWhileStoppedReadEveryRotatedFileOldestFirst) {
    // Size-based rotation during an upgrade: the saved file went to .1 then .2, and the file in between to .1.
    const FilePosition saved = position_of_a_reader_that_read_a_line();
    const auto now = fs::file_time_type::clock::now();
    append(dir.path() / "access.json.4", "a much older rotation\n");
    fs::last_write_time(dir.path() / "access.json.4", now - std::chrono::hours(5));
    append(log, "b\n");
    fs::last_write_time(log, now - std::chrono::hours(2));
    fs::rename(log, dir.path() / "access.json.1");
    append(log, "c\n");
    fs::last_write_time(log, now - std::chrono::hours(1));
    fs::rename(dir.path() / "access.json.1", dir.path() / "access.json.2");
    fs::rename(log, dir.path() / "access.json.1");
    append(dir.path() / "access.json.1.gz", "compressed\n");  // another file, not read
    append(log, "d\n");
    FollowedFile file(log, 1024, false);
    file.restore(saved);
    Lines lines;
    for (int read = 0; read < 4; ++read)
        for (const std::string& line : read_all(file)) lines.push_back(line);
    EXPECT_EQ(lines, (Lines{"b", "c", "d"}));
    const std::vector<std::string> notes = file.take_notes();
    ASSERT_FALSE(notes.empty());
    EXPECT_NE(notes.front().find("then the files rotated since (access.json.1), then the new file"), std::string::npos)
        << notes.front();
}

TEST_F(FollowedFileTest, ARotationWhileCatchingUpFindsTheNextFileUnderItsNewName) {
    // The saved file is in .2 and the one rotated after it in .1; while the reader is still in .2, logrotate runs
    // again (.2 -> .3, .1 -> .2, the file at the path -> .1). The next file is the one now named .2, found by its
    // identity, not the one now named .1.
    const FilePosition saved = position_of_a_reader_that_read_a_line();
    const auto now = fs::file_time_type::clock::now();
    append(log, "b\n");
    fs::last_write_time(log, now - std::chrono::hours(3));
    fs::rename(log, dir.path() / "access.json.2");
    append(dir.path() / "access.json.1", "c\n");
    fs::last_write_time(dir.path() / "access.json.1", now - std::chrono::hours(2));
    append(log, "d\n");
    FollowedFile file(log, 1024, false, std::chrono::milliseconds(0));
    file.restore(saved);
    Lines lines = read_all(file, 2);  // reads on in .2 ("b")
    fs::rename(dir.path() / "access.json.2", dir.path() / "access.json.3");
    fs::rename(dir.path() / "access.json.1", dir.path() / "access.json.2");
    fs::rename(log, dir.path() / "access.json.1");
    append(log, "e\n");
    for (int read = 0; read < 6; ++read)
        for (const std::string& line : read_all(file)) lines.push_back(line);
    EXPECT_EQ(lines, (Lines{"b", "c", "d", "e"}));
}

TEST_F(FollowedFileTest, ALineLongerThanTheLimitIsReportedOnceAndSkipped) {
    append(log, "ok\n" + std::string(3000, 'x') + "\nafter\n");
    FollowedFile file(log, 1024, false);
    EXPECT_EQ(read_all(file), (Lines{"ok", "<too long>", "after"}));
}

TEST_F(FollowedFileTest, ALongLineStillBeingWrittenIsSkippedToItsEnd) {
    append(log, std::string(1500, 'x'));  // no newline yet, already too long
    FollowedFile file(log, 1024, false);
    EXPECT_EQ(read_all(file), Lines{"<too long>"});
    append(log, std::string(500, 'y'));
    EXPECT_EQ(read_all(file), Lines{});  // the rest of that line is skipped, nothing reported again
    append(log, "yy\nnext\n");
    EXPECT_EQ(read_all(file), Lines{"next"});
}

TEST_F(FollowedFileTest, ALongLineThatSpansARestartIsReportedOnce) {
    append(log, std::string(1500, 'x'));  // no newline yet, already too long
    FilePosition position;
    {
        FollowedFile file(log, 1024, false);
        EXPECT_EQ(read_all(file), Lines{"<too long>"});
        ASSERT_TRUE(file.position());
        position = *file.position();
    }
    EXPECT_TRUE(position.inside_long_line);
    append(log, "zz\"}\nnext\n");
    FollowedFile restarted(log, 1024, false);
    restarted.restore(position);
    // Before: the rest of the line was read as a line of its own ("zz\"}": a second bad record).
    EXPECT_EQ(read_all(restarted), Lines{"next"});
}

TEST_F(FollowedFileTest, AMissingFileIsAnErrorNamingThePath) {
    FollowedFile file(log, 1024, false);
    try {
        file.read(1024);
        FAIL() << "expected an error";
    } catch (const FileMissing& error) {  // a missing file, not another failure: the source looks again soon
        EXPECT_NE(std::string(error.what()).find("cannot open '" + log.string() + "'"), std::string::npos)
            << error.what();
    }
    append(log, "later\n");
    EXPECT_EQ(read_all(file), Lines{"later"});  // once it exists
}

TEST_F(FollowedFileTest, AFileCreatedAfterTheFirstAttemptIsReadFromItsStartEvenWithStartAtEnd) {
    FollowedFile file(log, 1024, /*start_at_end=*/true);
    EXPECT_THROW(file.read(1024), std::runtime_error);
    append(log, "first\nsecond\n");  // written before the next poll: new traffic all the same
    EXPECT_EQ(read_all(file), (Lines{"first", "second"}));
}

/// The body of the next test, in a child process: as a user whom file permissions bind (root drops to nobody; anyone
/// else is bound already), a log that exists but cannot be opened at the first poll is read from its end once it can
/// be, as start_at: end says (only a file missing at the first poll is new traffic from its start). Exits 0 when so.
[[noreturn]] void run_permission_denied_at_start() {
    if (::geteuid() == 0 && (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0))
        std::_Exit(2);
    char folder[] = "/tmp/followed-file-denied-XXXXXX";
    if (::mkdtemp(folder) == nullptr) std::_Exit(3);
    const fs::path log = fs::path(folder) / "access.json";
    append(log, "written before the reader started\n");
    fs::permissions(log, fs::perms::none);
    FollowedFile file(log, 1024, /*start_at_end=*/true);
    bool refused = false;
    try {
        (void)file.read(1024);
    } catch (const std::runtime_error&) {
        refused = true;  // permission denied
    }
    fs::permissions(log, fs::perms::owner_read | fs::perms::owner_write);
    const Lines history = read_all(file);  // opened now: what it held before the reader started is skipped
    append(log, "new\n");
    const Lines after = read_all(file);
    const bool from_its_end = history.empty() && after == Lines{"new"};
    if (!refused || !from_its_end)
        std::fprintf(stderr, "refused: %d, lines at the first open: %zu, then: %zu\n", refused ? 1 : 0, history.size(),
                     after.size());
    fs::remove_all(folder);
    std::_Exit(refused && from_its_end ? 0 : 1);
}

TEST(FollowedFilePermissions, AFileThatCannotBeOpenedAtStartIsReadFromItsEndOnceItCanBe) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(run_permission_denied_at_start(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace warmup::plugins
