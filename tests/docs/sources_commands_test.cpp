// The "Sources" commands of docs/operations.md, run as written: the ```sh blocks of the section in kSection are
// extracted and run with bash (set -eo pipefail) in one session. They start build/bin/warmupd on a copy of
// configs/examples/sources.yaml that follows a file, append a gateway line and a bad line, and wait until the daemon
// counted them.
//
// The only changes made to the text: a free port for 3000, the build's bin folder for "build/bin/", the source tree's
// configs/ for "configs/", and a temporary folder for /tmp/warmup-sources. The script runs under `timeout`, and an
// EXIT/TERM trap stops the daemon it started, so a command that never succeeds fails the test instead of hanging it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "doc_sections.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using warmup::test::Daemon;
using warmup::test::TempDir;

namespace docs = warmup::test::docs;

/// The section whose ```sh blocks are run.
const docs::DocSection kSection{"docs/operations.md", "## Sources"};

void replace_all(std::string& text, const std::string& from, const std::string& to) {
    for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size())
        text.replace(at, from.size(), to);
}

/// A loopback port nothing listens on right now (bound and released).
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        throw std::runtime_error("cannot find a free port");
    ::close(fd);
    return ntohs(address.sin_port);
}

TEST(SourcesCommands, TheSourcesCommandsWorkAsWritten) {
    const auto section = docs::section_text(kSection);
    ASSERT_TRUE(section.has_value()) << kSection.file << " has no heading line '" << kSection.heading << "'";
    std::string commands;
    for (const auto& block : docs::shell_blocks(*section)) commands += block;
    ASSERT_NE(commands.find("build/bin/warmupd --config"), std::string::npos) << "no commands in the section";

    TempDir dir("doc-sources");
    const std::string port = std::to_string(free_port());
    replace_all(commands, "localhost:3000", "127.0.0.1:" + port);
    replace_all(commands, "--port 3000", "--port " + port);
    replace_all(commands, "build/bin/", std::string(WARMUP_TEST_BIN_DIR) + "/");
    replace_all(commands, " configs/", std::string(" ") + WARMUP_TEST_SOURCE_DIR + "/configs/");
    replace_all(commands, "/tmp/warmup-sources", (dir.path() / "warmup-sources").string());

    const std::string script = "set -eo pipefail\ncd " + dir.path().string() +
                               "\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT TERM\n" + commands;
    const auto script_file = dir.write("commands.sh", script);
    Daemon run({"-s", "TERM", "-k", "5", "60", "bash", script_file.string()}, Daemon::Capture::StdoutAndStderr,
               "/usr/bin/timeout");
    const auto status = run.wait_exit(90s);
    ASSERT_TRUE(status.has_value()) << run.log();
    EXPECT_TRUE(status->exited && status->code == 0) << "exit " << status->code << "\n" << script << "\n" << run.log();
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "warmup-sources/state/sources/sources/gateway-log/position.json"));
    EXPECT_NE(run.log().find("SOURCE_BAD_RECORD source 'gateway-log'"), std::string::npos) << run.log();
    EXPECT_NE(run.log().find("gateway-log        org.warmup.source.tail@1.0.0"), std::string::npos) << run.log();
}

}  // namespace
