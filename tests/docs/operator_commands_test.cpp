// The operator commands of the user's manual, run literally: every ```sh block of the sections in kSections (the
// README's "Walk-through with curl", then "Durable state", "Why was my model cold?" and "Status page" of
// docs/operations.md) is extracted and run with bash (set -eo pipefail) against a real warmupd (build/bin/warmupd on a
// copy of configs/default.yaml, so state is kept beside it, on a free port).
//
// The only changes made to the text are the substitutions in kSubstitutions (the port, and build/bin/ for the build's
// programs, as the script runs in a temporary folder): the walk-through's timing runs as written. Every curl call goes
// through a shell function that records its HTTP status, so a command that breaks fails this test: a curl that cannot
// connect or a grep that finds nothing ends the script with an error (set -e), and every HTTP answer must be 2xx,
// unless the comment lines right above the command name another status (the walk-through's "(400 lists line and
// reason)"): then every call of that command must answer exactly that one. The walk-through's commands run
// kPasteSeconds apart, as a person pastes them, and its story is checked in its output: the rhythm's last event was a
// cold start, the request after it a warm hit.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "doc_sections.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using warmup::test::Daemon;
using warmup::test::read_text_file;
using warmup::test::TempDir;

namespace docs = warmup::test::docs;
using docs::DocSection;

/// Seconds between two commands of the walk-through: a person reading each answer before pasting the next.
constexpr int kPasteSeconds = 4;

/// The sections whose ```sh blocks are run, in this order (one daemon, one shell session for all).
const std::vector<DocSection> kSections = {{"README.md", "## Walk-through with curl"},
                                           {"docs/operations.md", "## Durable state"},
                                           {"docs/operations.md", "## Why was my model cold?"},
                                           {"docs/operations.md", "## Status page"}};

/// One documented command: the lines of one shell command (continued by a trailing '|' or '\') and the comment lines
/// right above it.
struct Command {
    std::string text;
    std::string comment;
    std::string section;
};

std::vector<Command> commands_of(const std::string& block, const std::string& section) {
    std::vector<Command> commands;
    std::istringstream lines(block);
    std::string line, comment;
    Command current;
    bool continuing = false;
    while (std::getline(lines, line)) {
        const auto first = line.find_first_not_of(" \t");
        if (!continuing && (first == std::string::npos || line[first] == '#')) {
            if (first == std::string::npos)
                comment.clear();
            else
                comment += line + "\n";
            continue;
        }
        if (!continuing) current = Command{"", comment, section};
        current.text += line + "\n";
        const auto last = line.find_last_not_of(" \t");
        continuing = last != std::string::npos && (line[last] == '|' || line[last] == '\\');
        if (!continuing) {
            commands.push_back(current);
            comment.clear();
        }
    }
    return commands;
}

/// The status the comment above a command announces ("(400 lists ...)"), or 0 for "any 2xx".
int announced_status(const std::string& comment) {
    static const std::regex kStatus(R"(\b([45]\d\d)\b)");
    std::smatch match;
    return std::regex_search(comment, match, kStatus) ? std::stoi(match[1].str()) : 0;
}

TEST(DocCommands, EveryWalkThroughAndOperationsCommandWorksAsWritten) {
    std::vector<Command> commands;
    for (const DocSection& section : kSections) {
        const auto text = docs::section_text(section);
        ASSERT_TRUE(text.has_value()) << section.file << " has no heading line '" << section.heading << "'";
        const auto blocks = docs::shell_blocks(*text);
        ASSERT_FALSE(blocks.empty()) << section.file << " has no ```sh block under '" << section.heading << "'";
        const std::string where = section.file + " " + section.heading;
        for (const auto& block : blocks)
            for (auto& command : commands_of(block, where)) commands.push_back(std::move(command));
    }
    ASSERT_GE(commands.size(), 8u);

    TempDir dir("doc-commands");
    const auto config =
        dir.write("warmupd.yaml", read_text_file(std::string(WARMUP_TEST_SOURCE_DIR) + "/configs/default.yaml"));
    Daemon daemon({"--config", config.string(), "--port", "0"});
    const int port = daemon.wait_until_listening();
    ASSERT_GT(port, 0) << daemon.log();

    // The substitutions, and nothing else: the daemon's port for the documented one and the build's own bin folder
    // for "build/bin/" (warmupctl).
    const std::string address = "127.0.0.1:" + std::to_string(port);
    const std::vector<std::pair<std::string, std::string>> kSubstitutions = {
        {"localhost:3000", address},
        {"127.0.0.1:3000", address},
        {"build/bin/", std::string(WARMUP_TEST_BIN_DIR) + "/"}};

    const auto status_log = dir.path() / "statuses";
    std::ostringstream script;
    script << "set -eo pipefail\n"
              "cd "
           << dir.path().string()
           << "\n"
              "# Every curl call records: <command number> <final HTTP status> <curl exit status>\n"
              "curl() {\n"
              "  local headers rc=0\n"
              "  headers=$(mktemp)\n"
              "  command curl -D \"$headers\" \"$@\" || rc=$?\n"
              "  echo \"$DOC_COMMAND $(grep -a '^HTTP/' \"$headers\" | tail -n 1 | cut -d' ' -f2) $rc\" >> "
           << status_log.string()
           << "\n"
              "  rm -f \"$headers\"\n"
              "  return $rc\n"
              "}\n";
    for (std::size_t i = 0; i < commands.size(); ++i) {
        std::string text = commands[i].text;
        for (const auto& [from, to] : kSubstitutions)
            for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
                text.replace(at, from.size(), to);
        // The walk-through's commands come a few seconds apart, as from someone pasting them one by one: its story
        // must not depend on how fast they follow each other.
        if (i > 0 && commands[i].section == commands[i - 1].section && commands[i].section.starts_with("README.md"))
            script << "sleep " << kPasteSeconds << "\n";
        script << "DOC_COMMAND=" << i << "\n" << text;
    }
    script << "echo DOC_COMMANDS_DONE\n";
    const auto script_file = dir.write("commands.sh", script.str());
    const auto output_file = dir.path() / "output";
    const std::string shell = "timeout 240 bash " + script_file.string() + " > " + output_file.string() + " 2>&1";
    const int shell_status = std::system(shell.c_str());
    const std::string output = read_text_file(output_file.string());
    ASSERT_EQ(shell_status, 0) << "the documented commands failed; script:\n"
                               << script.str() << "\noutput:\n"
                               << output << "\ndaemon log:\n"
                               << daemon.log();
    EXPECT_NE(output.find("DOC_COMMANDS_DONE"), std::string::npos) << output;
    // The walk-through's story, from what its metrics grep printed: one cold start (the rhythm's last event) and the
    // request after it served warm, within the keep the rhythm taught.
    EXPECT_NE(output.find("warmup_requests_total{arm=\"control\",result=\"cold\"} 1\n"), std::string::npos) << output;
    EXPECT_NE(output.find("warmup_requests_total{arm=\"control\",result=\"warm\"} 1\n"), std::string::npos) << output;

    std::map<std::size_t, std::vector<std::pair<int, int>>> calls;  // command -> (status, curl exit status)
    std::istringstream log(read_text_file(status_log.string()));
    std::size_t command = 0;
    int status = 0, curl_exit = 0;
    while (log >> command >> status >> curl_exit) calls[command].emplace_back(status, curl_exit);
    for (std::size_t i = 0; i < commands.size(); ++i) {
        const Command& c = commands[i];
        if (c.text.find("curl ") == std::string::npos) continue;
        ASSERT_FALSE(calls[i].empty()) << c.section << ": no curl call was recorded for\n" << c.text;
        const int expected = announced_status(c.comment);
        for (const auto& [answered, exit_status] : calls[i]) {
            EXPECT_EQ(exit_status, 0) << c.section << ":\n" << c.text;
            if (expected != 0)
                EXPECT_EQ(answered, expected) << c.section << ":\n" << c.text << "\noutput:\n" << output;
            else
                EXPECT_TRUE(answered >= 200 && answered < 300) << c.section << ": HTTP " << answered << " for\n"
                                                               << c.text << "\noutput:\n"
                                                               << output;
        }
    }
}

}  // namespace
