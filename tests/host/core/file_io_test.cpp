// Reading a whole file (host/core/file_io.hpp read_file): the bytes of a regular file, a FIFO read to its end when an
// operator names it and refused without blocking when it sits where the daemon expects its own regular files, and
// each failure said in words that follow the file's name.
#include "core/file_io.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "test_support.hpp"

namespace warmup::host {
namespace {

using warmup::test::TempDir;

TEST(ReadFile, ReadsEveryByteOfARegularFile) {
    TempDir dir("warmup-file-io");
    std::string bytes(200'000, '\0');  // more than one read's chunk, with NUL bytes
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
    const auto file = dir.write("data.bin", bytes);
    for (const FileKind kind : {FileKind::any_but_a_folder, FileKind::regular_only}) {
        const FileContent content = read_file(file, kind);
        ASSERT_TRUE(content.read()) << content.problem();
        EXPECT_EQ(content.bytes, bytes);
        EXPECT_EQ(content.problem(), "");
    }
    EXPECT_TRUE(read_file(dir.write("empty", ""), FileKind::regular_only).read());
}

TEST(ReadFile, SaysWhyAMissingFileOrAFolderIsNotRead) {
    TempDir dir("warmup-file-io");
    const FileContent missing = read_file(dir.path() / "absent.yaml", FileKind::any_but_a_folder);
    EXPECT_FALSE(missing.read());
    EXPECT_TRUE(missing.missing());
    EXPECT_EQ(missing.problem(), "No such file or directory");
    const FileContent folder = read_file(dir.path(), FileKind::any_but_a_folder);
    EXPECT_EQ(folder.failure, FileContent::Failure::folder);
    EXPECT_FALSE(folder.missing());
    EXPECT_EQ(folder.problem(), "it is a folder, not a file");
}

TEST(ReadFile, AFifoIsReadToItsEndWhenNamedAndRefusedWithoutBlockingWhereOnlyRegularFilesBelong) {
    TempDir dir("warmup-file-io");
    const auto fifo = dir.path() / "config.yaml";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const FileContent refused = read_file(fifo, FileKind::regular_only);  // no writer: would block if it waited
    EXPECT_EQ(refused.failure, FileContent::Failure::not_regular);
    EXPECT_EQ(refused.problem(), "it is not a regular file (a FIFO or a device)");

    // `warmupd --config <(envsubst < t.yaml)`: a writer fills the FIFO and closes it.
    std::thread writer([&] {
        const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        const std::string text = "catalog: []\n";
        EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
        ::close(fd);
    });
    const FileContent named = read_file(fifo, FileKind::any_but_a_folder);
    writer.join();
    ASSERT_TRUE(named.read()) << named.problem();
    EXPECT_EQ(named.bytes, "catalog: []\n");
}

}  // namespace
}  // namespace warmup::host
