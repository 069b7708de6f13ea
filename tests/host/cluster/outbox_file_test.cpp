// The outbox file of a fleet node (cluster/outbox_file.hpp): what is written reads back in order, appends after a
// rewrite, a cut back file is empty, and a damaged file reads as far as it can and says what it left out.
#include "cluster/outbox_file.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "runtime/state/snapshot.hpp"
#include "test_support.hpp"

namespace warmup::test {
namespace {

using host::cluster::OutboxEvent;
using host::cluster::OutboxFile;
using host::cluster::read_outbox_file;

std::string file_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::vector<OutboxEvent> kEvents{
    {"rhythm/1", 1'700'000'000'000, 1, 0, false},
    {"m/a \"quoted\"\nname", -5, 7, 4'000'000'000U, true},
    {"m/b", 0, UINT32_MAX, 42, false},
};

TEST(OutboxFileTest, AMissingFileReadsAsEmpty) {
    TempDir dir("warmup-outbox");
    const auto read = read_outbox_file(dir.path() / "cluster-outbox.log");
    EXPECT_FALSE(read.found);
    EXPECT_TRUE(read.events.empty());
    EXPECT_TRUE(read.problem.empty());
}

TEST(OutboxFileTest, AFifoInItsPlaceIsRefusedWithoutBlocking) {
    // The node's start reads it; a FIFO would have blocked that read for good. The node sets the file aside on a throw.
    TempDir dir("warmup-outbox");
    const auto fifo = dir.path() / "cluster-outbox.log";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    try {
        (void)read_outbox_file(fifo);
        ADD_FAILURE() << "the FIFO was read";
    } catch (const std::exception& error) {
        EXPECT_NE(std::string(error.what()).find("not a regular file"), std::string::npos) << error.what();
        EXPECT_NE(std::string(error.what()).find(fifo.string()), std::string::npos) << error.what();
    }
}

TEST(OutboxFileTest, WrittenEventsReadBackInOrderAcrossRewriteAppendAndClear) {
    TempDir dir("warmup-outbox");
    OutboxFile file(dir.path() / "cluster-outbox.log");
    EXPECT_TRUE(file.needs_rewrite());
    EXPECT_THROW(file.append(kEvents), std::logic_error);
    file.rewrite(std::span(kEvents).first(1));
    EXPECT_FALSE(file.needs_rewrite());
    file.append(std::span(kEvents).subspan(1));
    EXPECT_EQ(file.lines(), 3U);
    auto read = read_outbox_file(file.path());
    EXPECT_TRUE(read.found);
    EXPECT_EQ(read.events, kEvents);
    EXPECT_TRUE(read.problem.empty()) << read.problem;

    file.clear();
    EXPECT_EQ(file.lines(), 0U);
    EXPECT_EQ(file_text(file.path()), host::cluster::kOutboxHeader);
    EXPECT_TRUE(read_outbox_file(file.path()).events.empty());
    file.append(std::span(kEvents).last(1));  // appends after a cut go after the header
    read = read_outbox_file(file.path());
    ASSERT_EQ(read.events.size(), 1U);
    EXPECT_EQ(read.events[0], kEvents[2]);
    // No temporary file is left beside it.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 1);
}

TEST(OutboxFileTest, DamagedLinesAreLeftOutAndNamedTheOthersRead) {
    TempDir dir("warmup-outbox");
    std::string flipped = host::cluster::encode_outbox_line(kEvents[1]);
    flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == '1' ? '0' : '1';  // inside the JSON: CRC mismatch
    const auto file =
        dir.write("outbox", std::string(host::cluster::kOutboxHeader) + host::cluster::encode_outbox_line(kEvents[0]) +
                                flipped + "zz\n" + host::cluster::encode_outbox_line(kEvents[2]) + "0123abcd [\"torn");
    const auto read = read_outbox_file(file);
    ASSERT_EQ(read.events.size(), 2U);
    EXPECT_EQ(read.events[0], kEvents[0]);
    EXPECT_EQ(read.events[1], kEvents[2]);
    EXPECT_EQ(read.bad_lines, 3U);
    EXPECT_NE(read.problem.find("3 line(s) left out: line 3: CRC mismatch, line 4: no CRC, line 6: torn"),
              std::string::npos)
        << read.problem;
}

TEST(OutboxFileTest, AFileWithAnotherHeaderReadsNothingAndSaysWhy) {
    TempDir dir("warmup-outbox");
    const auto other =
        read_outbox_file(dir.write("other", "warmupd-outbox 2\n" + host::cluster::encode_outbox_line(kEvents[0])));
    EXPECT_TRUE(other.found);
    EXPECT_TRUE(other.events.empty());
    EXPECT_NE(other.problem.find("the header is not \"warmupd-outbox 1\""), std::string::npos) << other.problem;
    const auto empty = read_outbox_file(dir.write("empty", ""));
    EXPECT_NE(empty.problem.find("empty"), std::string::npos) << empty.problem;
    // A line whose CRC is right but whose fields are not an event's (a count of 0).
    const std::string text = R"(["m/a",1,0,0,0])";
    const auto zero = read_outbox_file(dir.write(
        "zero", std::string(host::cluster::kOutboxHeader) + fmt::format("{:08x} {}\n", host::crc32(text), text)));
    EXPECT_TRUE(zero.events.empty());
    EXPECT_NE(zero.problem.find("line 2: not an event"), std::string::npos) << zero.problem;
}

}  // namespace
}  // namespace warmup::test
