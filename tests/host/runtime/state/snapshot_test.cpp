// The snapshot format refuses every damaged file with a reason, round-trips exactly, and is written atomically; the
// state folder keeps the newest `keep` snapshots and skips corrupt ones, and is held by one lock at a time; the
// metrics history honours its retention.
#include "runtime/state/snapshot.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "runtime/state/metrics_history.hpp"
#include "runtime/state/snapshot_writer.hpp"
#include "runtime/state/state_lock.hpp"
#include "runtime/state/state_store.hpp"
#include "test_support.hpp"

namespace warmup::host {
namespace {

namespace fs = std::filesystem;

using warmup::test::TempDir;

Snapshot sample_snapshot(uint64_t created_ms = 1'700'000'000'000) {
    Snapshot snapshot;
    snapshot.created_unix_ms = created_ms;
    snapshot.models = {"rhythm/a", "embed/x"};
    snapshot.warm_models = {"embed/x"};
    snapshot.sections = {{"analyzer", "org.warmup.state.usage-pattern/1", std::string("\x00\x01\x02zz", 5)},
                         {"metrics", "org.warmup.state.prometheus/1", "counters"}};
    return snapshot;
}

std::string read_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_raw(const fs::path& file, const std::string& bytes) {
    std::ofstream out(file, std::ios::binary);
    out << bytes;
}

void put_u32_at(std::string& bytes, std::size_t at, uint32_t value) {
    for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

/// Re-seals a header after a deliberate edit of bytes 0..27, so the test reaches the check behind the header CRC.
void reseal_header(std::string& bytes) { put_u32_at(bytes, 28, crc32(std::string_view(bytes).substr(0, 28))); }

TEST(SnapshotFormat, Crc32MatchesTheStandardCheckValue) {
    EXPECT_EQ(crc32("123456789"), 0xCBF43926u);  // the CRC-32/ISO-HDLC check value
    EXPECT_EQ(crc32(""), 0u);
    EXPECT_EQ(crc32("The quick brown fox jumps over the lazy dog"), 0x414FA339u);  // zlib.crc32 of the same bytes
}

/// A version-1 file as every earlier daemon wrote it, built apart from this code (Python's struct and zlib.crc32):
/// created 1700000000000, model and warm model "rhythm/a", one section ("predictor", "s/1", "abc").
const std::string kVersion1File(
    "\x57\x55\x50\x53\x4e\x41\x50\x00\x01\x00\x00\x00\x00\x00\x00\x00\x4b\x00\x00\x00\x00\x00\x00\x00\xad\xb4\x74"
    "\xab\xf6\x23\x67\x53\x00\x68\xe5\xcf\x8b\x01\x00\x00\x01\x00\x00\x00\x08\x00\x00\x00\x72\x68\x79\x74\x68"
    "\x6d\x2f\x61\x01\x00\x00\x00\x08\x00\x00\x00\x72\x68\x79\x74\x68\x6d\x2f\x61\x01\x00\x00\x00\x09\x00\x00"
    "\x00\x70\x72\x65\x64\x69\x63\x74\x6f\x72\x03\x00\x00\x00\x73\x2f\x31\x03\x00\x00\x00\x00\x00\x00\x00\x61"
    "\x62\x63",
    107);

Snapshot version1_content() {
    Snapshot snapshot;
    snapshot.created_unix_ms = 1'700'000'000'000;
    snapshot.models = {"rhythm/a"};
    snapshot.warm_models = {"rhythm/a"};
    snapshot.sections = {{"predictor", "s/1", "abc"}};
    return snapshot;
}

TEST(SnapshotFormat, AFileOfAnEarlierDaemonVerifiesWithItsKnownChecksums) {
    EXPECT_EQ(crc32(std::string_view(kVersion1File).substr(32)), 0xAB74B4ADu);     // the payload CRC at offset 24
    EXPECT_EQ(crc32(std::string_view(kVersion1File).substr(0, 28)), 0x536723F6u);  // the header CRC at offset 28
    EXPECT_EQ(decode_snapshot(kVersion1File), version1_content());
    EXPECT_EQ(encode_snapshot(version1_content()), kVersion1File);  // and is still what is written

    TempDir dir("warmup-state");
    write_raw(dir.path() / "old.wsnap", kVersion1File);
    EXPECT_EQ(read_snapshot_file(dir.path() / "old.wsnap"), version1_content());
    EXPECT_EQ(read_snapshot_created_unix_ms(dir.path() / "old.wsnap"), 1'700'000'000'000u);
}

TEST(SnapshotFormat, RoundTripKeepsEveryFieldAndByte) {
    const Snapshot snapshot = sample_snapshot();
    const std::string bytes = encode_snapshot(snapshot);
    // 32-byte header + payload: 8 (time) + 4 + (4+8) + (4+7) + 4 + (4+7) + 4 + sections.
    const std::size_t section_bytes = (4 + 8) + (4 + 32) + (8 + 5) + (4 + 7) + (4 + 29) + (8 + 8);
    EXPECT_EQ(bytes.size(), 32u + 8 + 4 + 12 + 11 + 4 + 11 + 4 + section_bytes);
    EXPECT_EQ(bytes.substr(0, 8), std::string("WUPSNAP\0", 8));
    EXPECT_EQ(decode_snapshot(bytes), snapshot);
    EXPECT_EQ(decode_snapshot(encode_snapshot(Snapshot{})), Snapshot{});
}

TEST(SnapshotFormat, ReaderRefusesDamagedFilesWithAClearReason) {
    const std::string good = encode_snapshot(sample_snapshot());
    struct Case {
        std::string name;
        std::string bytes;
        std::string reason;  // a substring of the SnapshotError
    };
    std::vector<Case> cases;
    cases.push_back({"empty file", "", "truncated: header has 0 of 32 bytes"});
    cases.push_back({"half a header", good.substr(0, 16), "truncated: header has 16 of 32 bytes"});
    cases.push_back({"garbage", std::string(100, 'x'), "not a warmup snapshot (bad magic)"});
    cases.push_back({"short garbage", "hello world", "not a warmup snapshot (bad magic)"});
    cases.push_back({"truncated payload", good.substr(0, good.size() - 10),
                     fmt::format("truncated: payload has {} of {} bytes", good.size() - 42, good.size() - 32)});
    cases.push_back(
        {"header only", good.substr(0, 32), fmt::format("truncated: payload has 0 of {}", good.size() - 32)});
    cases.push_back({"trailing bytes", good + "xyz", "3 unexpected bytes after the payload"});
    {
        std::string flipped = good;
        flipped[good.size() - 3] ^= 0x40;  // inside the last section's data
        cases.push_back({"payload bit flip", flipped, "corrupt payload: checksum mismatch"});
    }
    {
        std::string flipped = good;
        flipped[17] ^= 0x01;  // payload length, header CRC not updated
        cases.push_back({"header bit flip", flipped, "corrupt header: header checksum mismatch"});
    }
    {
        std::string future = good;
        put_u32_at(future, 8, 2);
        reseal_header(future);
        cases.push_back(
            {"newer format", future, "written by a newer version (snapshot format 2; this daemon reads format 1)"});
    }
    {
        std::string flags = good;
        put_u32_at(flags, 12, 1);
        reseal_header(flags);
        cases.push_back({"unknown flags", flags, "unsupported flags"});
    }
    {
        // A valid envelope around a payload whose section count promises more than it holds.
        std::string payload(8, '\0');
        payload += std::string("\0\0\0\0", 4) + std::string("\0\0\0\0", 4) + std::string("\xff\xff\xff\x0f", 4);
        std::string bytes = encode_snapshot(Snapshot{});
        bytes.resize(32);
        bytes += payload;
        for (int i = 0; i < 8; ++i) bytes[16 + i] = static_cast<char>((payload.size() >> (8 * i)) & 0xFF);
        put_u32_at(bytes, 24, crc32(payload));
        reseal_header(bytes);
        cases.push_back({"impossible count", bytes, "malformed payload: section count 268435455 does not fit"});
    }
    {
        // A section whose data length runs past the end.
        Snapshot one;
        one.sections = {{"predictor", "s/1", "abcd"}};
        std::string bytes = encode_snapshot(one);
        std::string payload = bytes.substr(32);
        payload[payload.size() - 12] = 100;  // low byte of the data length: 4 -> 100
        bytes = bytes.substr(0, 32) + payload;
        put_u32_at(bytes, 24, crc32(payload));
        reseal_header(bytes);
        cases.push_back({"section overrun", bytes, "section data of 100 bytes at offset"});
    }
    for (const Case& c : cases) {
        try {
            (void)decode_snapshot(c.bytes);
            ADD_FAILURE() << c.name << ": accepted";
        } catch (const SnapshotError& error) {
            EXPECT_NE(std::string(error.what()).find(c.reason), std::string::npos)
                << c.name << ": got '" << error.what() << "', expected '" << c.reason << "'";
        }
    }
}

TEST(SnapshotFiles, AFifoOrAFolderNamedLikeASnapshotIsRefusedWithoutBlocking) {
    TempDir dir("warmup-state");
    const fs::path fifo = dir.path() / "backup-f.wsnap";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const fs::path folder = dir.path() / "backup-d.wsnap";
    fs::create_directory(folder);
    for (const fs::path& file : {fifo, folder}) {
        // Before: open() of the FIFO waited for a writer that never came (a restore-state handler hung for good).
        try {
            (void)read_snapshot_file(file);
            ADD_FAILURE() << file << " was read";
        } catch (const SnapshotError& error) {
            EXPECT_NE(std::string(error.what()).find("not a regular file"), std::string::npos) << error.what();
        }
        EXPECT_EQ(snapshot_header_format(file), std::nullopt) << file;
    }
}

TEST(SnapshotFiles, AtomicWriteReplacesTheFileAndLeavesNoTemporary) {
    TempDir dir("warmup-state");
    const fs::path file = dir.path() / "a.wsnap";
    write_file_atomically(file, "first");
    write_file_atomically(file, "second, longer");
    EXPECT_EQ(read_file(file), "second, longer");
    EXPECT_EQ(dir.names(), std::vector<std::string>{"a.wsnap"});
}

TEST(SnapshotFiles, FailedAtomicWriteKeepsTheOldTargetAndRemovesItsTemporary) {
    TempDir dir("warmup-state");
    // rename() cannot replace a non-empty directory: the write fails after the temporary file was written.
    const fs::path target = dir.path() / "busy";
    fs::create_directory(target);
    write_raw(target / "keep", "old");
    EXPECT_THROW(write_file_atomically(target, "new"), std::system_error);
    EXPECT_EQ(dir.names(), std::vector<std::string>{"busy"});
    EXPECT_EQ(read_file(target / "keep"), "old");
}

/// A snapshot larger than the writer's buffer in every part: its model count, warm count and section lengths are
/// filled in after the bytes around them reached the file.
Snapshot large_snapshot() {
    Snapshot snapshot;
    snapshot.created_unix_ms = 1'700'000'123'456;
    for (int i = 0; i < 9000; ++i) snapshot.models.push_back(fmt::format("family-{}/model-{}", i % 7, i));
    for (int i = 0; i < 9000; i += 3) snapshot.warm_models.push_back(snapshot.models[i]);
    std::string big(3 * SnapshotFileWriter::kBufferBytes + 17, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
    snapshot.sections = {{"analyzer", "org.warmup.state.usage-pattern/1", big},
                         {"queue", "q/1", ""},
                         {"predictor", "org.warmup.state.cost-curve/2", big.substr(0, 1000)}};
    return snapshot;
}

/// Streams `snapshot` into `writer`, each section's data in pieces of `piece` bytes.
void stream_into(SnapshotFileWriter& writer, const Snapshot& snapshot, std::size_t piece) {
    writer.begin(snapshot.created_unix_ms);
    for (const auto& name : snapshot.models) writer.add_model(name);
    for (const auto& name : snapshot.warm_models) writer.add_warm_model(name);
    for (const auto& section : snapshot.sections) {
        writer.begin_section(section.slot, section.schema);
        for (std::size_t at = 0; at < section.data.size(); at += piece)
            EXPECT_TRUE(writer.append_section_data(std::string_view(section.data).substr(at, piece)));
        writer.end_section();
    }
}

TEST(SnapshotStreaming, TheWritersFileIsByteForByteTheEncodedSnapshotAndReadsBack) {
    TempDir dir("warmup-state");
    for (const Snapshot& snapshot : {Snapshot{}, sample_snapshot(), large_snapshot()}) {
        for (const std::size_t piece : {std::size_t{1000}, std::size_t{200'000}}) {
            SnapshotFileWriter writer(dir.path() / ".writing.tmp-1");
            stream_into(writer, snapshot, piece);
            writer.commit(dir.path() / "streamed.wsnap");
            EXPECT_EQ(writer.model_count(), snapshot.models.size());
            EXPECT_EQ(writer.warm_model_count(), snapshot.warm_models.size());
            EXPECT_EQ(writer.section_count(), snapshot.sections.size());
            const std::string bytes = read_file(dir.path() / "streamed.wsnap");
            EXPECT_EQ(bytes.size(), writer.size());
            EXPECT_TRUE(bytes == encode_snapshot(snapshot)) << snapshot.models.size() << " models, pieces of " << piece;
            EXPECT_EQ(read_snapshot_file(dir.path() / "streamed.wsnap"), snapshot);
            EXPECT_EQ(read_snapshot_created_unix_ms(dir.path() / "streamed.wsnap"), snapshot.created_unix_ms);
            EXPECT_EQ(dir.names(), std::vector<std::string>{"streamed.wsnap"});  // the temporary was renamed
        }
    }
}

TEST(SnapshotStreaming, ADiscardedSectionLeavesNoTraceWhetherBufferedOrWritten) {
    TempDir dir("warmup-state");
    const Snapshot kept = large_snapshot();
    for (const std::size_t failed_bytes : {std::size_t{10}, 5 * SnapshotFileWriter::kBufferBytes}) {
        SnapshotFileWriter writer(dir.path() / ".writing.tmp-1");
        writer.begin(kept.created_unix_ms);
        for (const auto& name : kept.models) writer.add_model(name);
        for (const auto& name : kept.warm_models) writer.add_warm_model(name);
        writer.add_section(kept.sections[0].slot, kept.sections[0].schema, kept.sections[0].data);
        // A plugin that wrote part of its state, then failed.
        writer.begin_section("scheduler", "s/1");
        writer.append_section_data(std::string(failed_bytes, 'x'));
        writer.discard_section();
        for (std::size_t i = 1; i < kept.sections.size(); ++i)
            writer.add_section(kept.sections[i].slot, kept.sections[i].schema, kept.sections[i].data);
        writer.commit(dir.path() / "kept.wsnap");
        EXPECT_TRUE(read_file(dir.path() / "kept.wsnap") == encode_snapshot(kept)) << failed_bytes;
    }
}

TEST(SnapshotStreaming, AnUncommittedOrFailedWriteLeavesTheTargetAndNoTemporary) {
    TempDir dir("warmup-state");
    {
        SnapshotFileWriter abandoned(dir.path() / ".writing.tmp-1");
        stream_into(abandoned, large_snapshot(), 4096);
    }
    EXPECT_TRUE(dir.names().empty()) << "a capture that was not committed leaves nothing";

    // rename() cannot replace a non-empty directory: the commit fails after the whole file was written.
    const fs::path target = dir.path() / "busy";
    fs::create_directory(target);
    write_raw(target / "keep", "old");
    SnapshotFileWriter writer(dir.path() / ".writing.tmp-2");
    stream_into(writer, sample_snapshot(), 3);
    EXPECT_THROW(writer.commit(target), std::system_error);
    EXPECT_EQ(dir.names(), std::vector<std::string>{"busy"});
    EXPECT_EQ(read_file(target / "keep"), "old");

    SnapshotFileWriter out_of_order(dir.path() / ".writing.tmp-3");
    EXPECT_THROW(out_of_order.add_model("m"), std::logic_error);  // before begin()
    out_of_order.begin(1);
    out_of_order.begin_section("a", "b");
    EXPECT_THROW(out_of_order.add_warm_model("m"), std::logic_error);
    EXPECT_THROW(out_of_order.commit(dir.path() / "x.wsnap"), std::logic_error);
}

TEST(SnapshotStreaming, TheFileReaderRefusesWhatTheMemoryDecoderRefusesWithTheSameReason) {
    TempDir dir("warmup-state");
    const std::string good = encode_snapshot(large_snapshot());
    std::string flipped = good;
    flipped[good.size() / 2] ^= 0x10;
    std::string bad_header = good;
    bad_header[20] ^= 0x01;
    for (const std::string& bytes : {good.substr(0, good.size() - 1), good.substr(0, 20), flipped, bad_header,
                                     good + "x", std::string("WUPSNAQ")}) {
        std::string expected;
        try {
            (void)decode_snapshot(bytes);
            ADD_FAILURE() << "accepted";
        } catch (const SnapshotError& error) {
            expected = error.what();
        }
        write_raw(dir.path() / "bad.wsnap", bytes);
        try {
            (void)read_snapshot_file(dir.path() / "bad.wsnap");
            ADD_FAILURE() << "the file reader accepted what decode_snapshot refused: " << expected;
        } catch (const SnapshotError& error) {
            EXPECT_EQ(std::string(error.what()), expected);
        }
        EXPECT_THROW((void)read_snapshot_created_unix_ms(dir.path() / "bad.wsnap"), SnapshotError);
    }
}

TEST(StateFolder, KeepsTheNewestSnapshotsAndRemovesCrashLeftovers) {
    TempDir dir("warmup-state");
    write_raw(dir.path() / ".snapshot-x.wsnap.tmp-123", "half written");
    StateStore store(dir.path(), 2);
    EXPECT_TRUE(dir.names().empty()) << "the temporary file of a crashed write must go";
    for (uint64_t ms : {1000, 2000, 3000}) store.write_snapshot(sample_snapshot(ms));
    const auto files = store.snapshots();
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(files[0].filename(), "snapshot-0000000000003000-000000.wsnap");
    EXPECT_EQ(files[1].filename(), "snapshot-0000000000002000-000000.wsnap");
    // Same millisecond: a distinct, later-sorting name.
    store.write_snapshot(sample_snapshot(3000));
    EXPECT_EQ(store.snapshots()[0].filename(), "snapshot-0000000000003000-000001.wsnap");
}

TEST(StateFolder, AfterTheClockSteppedBackANewSnapshotStillSortsNewestAndIsKept) {
    TempDir dir("warmup-state");
    StateStore store(dir.path(), 2);
    store.write_snapshot(sample_snapshot(9000));
    store.write_snapshot(sample_snapshot(9500));
    // The clock went back (or these files came from a host whose clock was ahead): the next two are older by time.
    const fs::path first = store.write_snapshot(sample_snapshot(3000));
    const fs::path second = store.write_snapshot(sample_snapshot(3100));
    EXPECT_EQ(first.filename(), "snapshot-0000000000009500-000001.wsnap");
    EXPECT_EQ(second.filename(), "snapshot-0000000000009500-000002.wsnap");
    const auto files = store.snapshots();
    ASSERT_EQ(files, (std::vector<fs::path>{second, first}));  // the two written last are the two kept
    EXPECT_EQ(read_snapshot_created_unix_ms(second), 3100u);   // the content keeps its true time
}

TEST(StateFolder, SnapshotsOfANewerFormatAreNeitherDeletedNorCounted) {
    TempDir dir("warmup-state");
    // A newer daemon's files (format 2), left behind by a rollback to this version.
    std::string newer = encode_snapshot(sample_snapshot(1000));
    put_u32_at(newer, 8, 2);
    reseal_header(newer);
    write_raw(dir.path() / "snapshot-0000000000001000-000000.wsnap", newer);
    write_raw(dir.path() / "snapshot-0000000000001500-000000.wsnap", newer);
    StateStore store(dir.path(), 2);
    for (uint64_t ms : {2000, 3000, 4000}) store.write_snapshot(sample_snapshot(ms));
    EXPECT_EQ(store.snapshots().size(), 4u);  // the two of the newer format, and the newest two of this one
    EXPECT_TRUE(fs::exists(dir.path() / "snapshot-0000000000001000-000000.wsnap"));
    EXPECT_TRUE(fs::exists(dir.path() / "snapshot-0000000000001500-000000.wsnap"));
    EXPECT_FALSE(fs::exists(dir.path() / "snapshot-0000000000002000-000000.wsnap"));
    EXPECT_EQ(snapshot_header_format(dir.path() / "snapshot-0000000000001000-000000.wsnap"), 2u);
    // A damaged file is not a newer daemon's: it is pruned like any old snapshot.
    write_raw(dir.path() / "snapshot-0000000000000500-000000.wsnap", "garbage");
    EXPECT_EQ(snapshot_header_format(dir.path() / "snapshot-0000000000000500-000000.wsnap"), std::nullopt);
    store.write_snapshot(sample_snapshot(5000));
    EXPECT_FALSE(fs::exists(dir.path() / "snapshot-0000000000000500-000000.wsnap"));
    EXPECT_EQ(store.snapshots().size(), 4u);
}

TEST(StateFolder, OneLockHolderAtATimeNamedByPid) {
    TempDir dir("warmup-state");
    const fs::path state = dir.path() / "state";
    {
        const StateDirLock first(state);  // creates the folder
        EXPECT_EQ(first.file(), state / "warmupd.lock");
        EXPECT_EQ(read_file(first.file()), fmt::format("{}\n", ::getpid()));
        try {
            const StateDirLock second(state);
            ADD_FAILURE() << "a second lock of the same folder was granted";
        } catch (const StateDirBusy& busy) {
            EXPECT_EQ(busy.holder(), ::getpid());
            const std::string message = busy.what();
            EXPECT_NE(message.find(state.string()), std::string::npos) << message;
            EXPECT_NE(message.find(fmt::format("pid {}", ::getpid())), std::string::npos) << message;
        }
    }
    // Released with its holder; the file stays and is taken again.
    EXPECT_NO_THROW(StateDirLock again(state));
    EXPECT_TRUE(fs::exists(state / "warmupd.lock"));
}

TEST(StateFolder, TheLockOfAKilledProcessDoesNotBlock) {
    TempDir dir("warmup-state");
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {  // holds the lock until killed
        const StateDirLock held(dir.path());
        const char byte = 1;
        if (::write(ready[1], &byte, 1) != 1) ::_exit(1);
        for (;;) ::pause();
    }
    ::close(ready[1]);
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
    ::close(ready[0]);
    try {
        const StateDirLock refused(dir.path());
        ADD_FAILURE() << "the folder of a running holder was granted";
    } catch (const StateDirBusy& busy) {
        EXPECT_EQ(busy.holder(), child);
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    // The lock file still names the dead process; the kernel released its lock.
    EXPECT_EQ(read_file(dir.path() / "warmupd.lock"), fmt::format("{}\n", child));
    const StateDirLock taken(dir.path());
    EXPECT_EQ(read_file(taken.file()), fmt::format("{}\n", ::getpid()));
}

TEST(StateFolder, NewestValidSnapshotSkipsCorruptAndTruncatedOnes) {
    TempDir dir("warmup-state");
    StateStore store(dir.path(), 10);
    const fs::path good = store.write_snapshot(sample_snapshot(1000));
    const fs::path truncated = store.write_snapshot(sample_snapshot(2000));
    const fs::path corrupt = store.write_snapshot(sample_snapshot(3000));
    const std::string bytes = read_file(truncated);
    write_raw(truncated, bytes.substr(0, bytes.size() / 2));
    std::string flipped = read_file(corrupt);
    flipped[flipped.size() - 1] ^= 1;
    write_raw(corrupt, flipped);

    std::vector<RefusedSnapshot> refused;
    const auto loaded = store.newest_valid_snapshot(refused);
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->file, good);
    EXPECT_EQ(loaded->snapshot.created_unix_ms, 1000u);
    ASSERT_EQ(refused.size(), 2u);
    EXPECT_EQ(refused[0].file, corrupt);
    EXPECT_EQ(refused[0].reason, "corrupt payload: checksum mismatch");
    EXPECT_EQ(refused[1].file, truncated);
    EXPECT_NE(refused[1].reason.find("truncated: payload has"), std::string::npos) << refused[1].reason;
}

TEST(StateFolder, BackupsByNameAndNewestByDefault) {
    TempDir dir("warmup-state");
    StateStore store(dir.path(), 10);
    store.write_backup("first", sample_snapshot(1000));
    store.write_backup("second", sample_snapshot(2000));
    fs::last_write_time(dir.path() / "backup-first.wsnap", fs::file_time_type::clock::now() - std::chrono::hours(1));
    EXPECT_EQ(store.read_backup("").snapshot.created_unix_ms, 2000u);
    EXPECT_EQ(store.read_backup("first").snapshot.created_unix_ms, 1000u);
    EXPECT_THROW(store.write_backup("../evil", sample_snapshot()), std::invalid_argument);
    EXPECT_THROW(store.write_backup(".hidden", sample_snapshot()), std::invalid_argument);
    try {
        (void)store.read_backup("missing");
        ADD_FAILURE() << "a missing backup was read";
    } catch (const SnapshotError& error) {
        EXPECT_NE(std::string(error.what()).find("no backup named 'missing'"), std::string::npos) << error.what();
    }
}

TEST(StateFolder, NewestBackupByDefaultSkipsACorruptNewerOneAndSaysSo) {
    TempDir dir("warmup-state");
    StateStore store(dir.path(), 10);
    const fs::path older = store.write_backup("older", sample_snapshot(1000));
    const fs::path newest = store.write_backup("newest", sample_snapshot(2000));
    fs::last_write_time(older, fs::file_time_type::clock::now() - std::chrono::hours(1));
    const std::string bytes = read_file(newest);
    write_raw(newest, bytes.substr(0, bytes.size() - 3));
    fs::last_write_time(newest, fs::file_time_type::clock::now());

    std::vector<RefusedSnapshot> skipped;
    const LoadedSnapshot loaded = store.read_backup("", &skipped);
    EXPECT_EQ(loaded.file, older);
    EXPECT_EQ(loaded.snapshot.created_unix_ms, 1000u);
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0].file, newest);
    EXPECT_NE(skipped[0].reason.find("truncated"), std::string::npos) << skipped[0].reason;

    // Named, the corrupt one is refused with its reason; with every backup corrupt, "newest" names them all.
    EXPECT_THROW((void)store.read_backup("newest"), SnapshotError);
    write_raw(older, "garbage");
    try {
        (void)store.read_backup("");
        ADD_FAILURE() << "a corrupt backup was read";
    } catch (const SnapshotError& error) {
        const std::string reason = error.what();
        EXPECT_NE(reason.find("no valid backup"), std::string::npos) << reason;
        EXPECT_NE(reason.find("backup-older.wsnap"), std::string::npos) << reason;
        EXPECT_NE(reason.find("backup-newest.wsnap"), std::string::npos) << reason;
    }
}

TEST(MetricsHistoryFile, KeepsSamplesWithinRetentionAndSkipsATornLine) {
    TempDir dir("warmup-state");
    constexpr int64_t kHourMs = 3600 * 1000;
    MetricsHistory history(dir.path(), 2 * kHourMs);
    history.append(10 * kHourMs + 5, {{"requests", 1}, {"cold_requests", 1}});
    history.append(11 * kHourMs + 5, {{"requests", 7}});
    // A crash mid-append: a line without its newline (and without a value) at the end of the newest segment.
    {
        std::ofstream out(dir.path() / "metrics-history-11.tsv", std::ios::app);
        out << (11 * kHourMs + 9) << "\trequests\t";
    }
    auto samples = history.read(0);
    ASSERT_EQ(samples.size(), 3u);
    EXPECT_EQ(samples[0].unix_ms, 10 * kHourMs + 5);
    EXPECT_EQ(samples[0].counter, "requests");
    EXPECT_EQ(samples[2].value, 7);
    EXPECT_EQ(history.read(11 * kHourMs).size(), 1u);
    // 13h + 1: the cutoff is 11h + 1, so segment 10 ([10h, 11h)) ends before it and goes; segment 11 stays.
    history.append(13 * kHourMs + 1, {{"requests", 9}});
    samples = history.read(0);
    ASSERT_EQ(samples.size(), 2u);
    EXPECT_EQ(samples[0].value, 7);
    EXPECT_EQ(samples[1].value, 9);
}

TEST(MetricsHistoryFile, AFifoNamedLikeASegmentIsSkippedWithoutBlockingTheRead) {
    // GET /api/warmup/history reads every segment of the window; a FIFO among them held that handler (and the stop).
    TempDir dir("warmup-state");
    constexpr int64_t kHourMs = 3600 * 1000;
    MetricsHistory history(dir.path(), 24 * kHourMs);
    history.append(10 * kHourMs + 5, {{"requests", 3}});
    const fs::path fifo = dir.path() / "metrics-history-11.tsv";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const auto samples = history.read(0);
    ASSERT_EQ(samples.size(), 1u);
    EXPECT_EQ(samples[0].value, 3);
}

TEST(StateConfigKeys, DefaultsBesideTheFileAndLocatedErrors) {
    TempDir dir("warmup-state");
    const std::string base = std::string("components:\n") +
                             "  analyzer: {plugin: a.b}\n  predictor: {plugin: a.b}\n"
                             "  performance: {plugin: a.b}\n  scheduler: {plugin: a.b}\n"
                             "  resource: {plugin: a.b}\n  queue: {plugin: a.b}\n"
                             "  metrics: {plugin: a.b}\n  backend: {plugin: a.b}\n"
                             "catalog: [{model: m, memory_mb: 1, load_ms: 1}]\n";
    write_raw(dir.path() / "plain.yaml", base);
    const Config plain = load_config_file(dir.path() / "plain.yaml", {});
    EXPECT_TRUE(plain.state.enabled);
    EXPECT_EQ(plain.state.dir, dir.path() / "state");
    EXPECT_EQ(plain.state.snapshot_interval_s, 60u);
    EXPECT_EQ(plain.state.keep, 10u);
    EXPECT_EQ(plain.warmup_timeout_ms, 600000);
    EXPECT_FALSE(load_config_text(base, "embedded", dir.path(), {}).state.enabled);

    const Config given = load_config_text(base +
                                              "state: {dir: snaps, snapshot_interval_s: 1, keep: 3, "
                                              "history_retention_h: 0}\nbudgets: {warmup_timeout_ms: 5000}\n",
                                          "t.yaml", dir.path(), {});
    EXPECT_TRUE(given.state.enabled);
    EXPECT_EQ(given.state.dir, dir.path() / "snaps");
    EXPECT_EQ(given.state.snapshot_interval_s, 1u);
    EXPECT_EQ(given.state.keep, 3u);
    EXPECT_EQ(given.state.history_retention_h, 0u);
    EXPECT_EQ(given.warmup_timeout_ms, 5000);
    write_raw(dir.path() / "off.yaml", base + "state: {enabled: false}\n");
    EXPECT_FALSE(load_config_file(dir.path() / "off.yaml", {}).state.enabled);

    try {
        (void)load_config_text(base + "state:\n  snapshot_interval_s: 0\n", "t.yaml", dir.path(), {});
        ADD_FAILURE() << "accepted";
    } catch (const ConfigError& error) {
        EXPECT_EQ(std::string(error.what()),
                  "t.yaml:12:3: state.snapshot_interval_s: expected an integer in [1, 86400], got '0'");
    }
    try {
        (void)load_config_text(base + "state:\n  kep: 3\n", "t.yaml", dir.path(), {});
        ADD_FAILURE() << "accepted";
    } catch (const ConfigError& error) {
        EXPECT_EQ(std::string(error.what()), "t.yaml:12:3: state.kep: unknown key 'kep'; did you mean 'keep'?");
    }
}

}  // namespace
}  // namespace warmup::host
