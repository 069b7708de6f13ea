// The fleet commands of docs/fleet.md, run literally with bash against a real redis-server and three real warmupd
// nodes, then the fleet replay: the ```sh blocks of the sections in kSections, in order. The only changes to the text:
// free loopback ports for 3101-3103 and 6390, build/bin/ and configs/ made absolute, the example node files copied
// with those ports and a temporary state folder, output and log paths in a temporary folder; and a trap that kills
// what the commands started if one of them fails (the page's last lines stop them).
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

#include "doc_sections.hpp"
#include "fleet_test_support.hpp"

namespace warmup::test {
namespace {

/// The sections whose ```sh blocks are run, in this order: three nodes on one machine, then the fleet replay.
const std::vector<docs::DocSection> kSections = {{"docs/fleet.md", "## Three nodes on one machine"},
                                                 {"docs/fleet.md", "## Offline: warmup-replay --nodes"}};

void replace_all(std::string& text, const std::string& from, const std::string& to) {
    for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size())
        text.replace(at, from.size(), to);
}

/// Every documented port by its free port, in one pass: a free port may contain another documented one (33103 holds
/// 3103), and replacing one after the other would then rewrite inside an inserted port.
void replace_ports(std::string& text, const std::vector<std::pair<std::string, std::string>>& ports) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t at = 0; at < text.size();) {
        const auto match = std::find_if(ports.begin(), ports.end(), [&](const auto& port) {
            return text.compare(at, port.first.size(), port.first) == 0;
        });
        if (match == ports.end()) {
            out += text[at++];
            continue;
        }
        out += match->second;
        at += match->first.size();
    }
    text = std::move(out);
}

TEST(FleetCommands, TheThreeNodeExampleRunsAsWritten) {
    const std::string source = WARMUP_TEST_SOURCE_DIR;
    std::string script;
    for (const auto& section : kSections) {
        const auto text = docs::section_text(section);
        ASSERT_TRUE(text.has_value()) << section.file << " has no heading line '" << section.heading << "'";
        const auto blocks = docs::shell_blocks(*text);
        ASSERT_FALSE(blocks.empty()) << section.file << " has no ```sh block under '" << section.heading << "'";
        for (const auto& block : blocks) script += block;
    }
    ASSERT_NE(script.find("warmupd --config configs/examples/fleet/node-$n.yaml"), std::string::npos);

    TempDir dir("warmup-fleet-commands");
    const std::vector<std::pair<std::string, std::string>> ports{{"3101", std::to_string(free_loopback_port())},
                                                                 {"3102", std::to_string(free_loopback_port())},
                                                                 {"3103", std::to_string(free_loopback_port())},
                                                                 {"6390", std::to_string(free_loopback_port())}};
    for (int n = 0; n < 3; ++n) {
        std::string node = read_text_file(source + "/configs/examples/fleet/node-" + std::to_string(n) + ".yaml");
        replace_ports(node, ports);
        replace_all(node, "/tmp/warmup-fleet/", (dir.path() / "state").string() + "/");
        replace_all(node, "${WARMUP_EXE_DIR}/../plugins", WARMUP_TEST_PLUGIN_DIR);
        dir.write("node-" + std::to_string(n) + ".yaml", node);
    }
    // The page's own paths first, so that no replacement matches inside an inserted one.
    replace_all(script, "/tmp/warmup-fleet-", "FLEET_LOG_DIR/log-");
    replace_all(script, "configs/examples/fleet/", "FLEET_NODE_DIR/");
    replace_all(script, "configs/", source + "/configs/");
    replace_all(script, "build/bin/", std::string(WARMUP_TEST_BIN_DIR) + "/");
    replace_all(script, "FLEET_LOG_DIR", dir.path().string());
    replace_all(script, "FLEET_NODE_DIR", dir.path().string());
    replace_all(script, "out/fleet-ai-ide", (dir.path() / "replay").string());
    replace_ports(script, ports);
    const std::string redis_port = ports.back().second;
    const std::string guarded =
        "set -eo pipefail\n"
        "trap 'for pid in \"${pids[@]}\"; do kill -9 \"$pid\" 2>/dev/null || true; done; "
        "redis-cli -p " +
        redis_port + " shutdown nosave > /dev/null 2>&1 || true' EXIT\ntrap 'exit 143' TERM\ncd '" +
        dir.path().string() + "'\n" + script + "echo FLEET_COMMANDS_DONE\n";
    const auto script_file = dir.write("fleet.sh", guarded);

    Daemon shell({script_file.string()}, Daemon::Capture::StdoutAndStderr, "/bin/bash");
    auto status = shell.wait_exit(std::chrono::milliseconds(90'000));
    if (!status) {  // stuck: SIGTERM lets the trap stop what the commands started
        kill(shell.pid(), SIGTERM);
        status = shell.wait_exit(std::chrono::milliseconds(20'000));
    }
    const auto node_logs = [&] {
        std::string logs;
        for (int n = 0; n < 3; ++n)
            logs += "\n--- node-" + std::to_string(n) + " log:\n" +
                    read_text_file((dir.path() / ("log-" + std::to_string(n) + ".log")).string());
        return logs;
    };
    ASSERT_TRUE(status.has_value()) << "the commands did not finish:\n" << shell.log() << node_logs();
    ASSERT_NE(status->signal, SIGTERM) << "the commands did not finish in 90 s:\n"
                                       << shell.log() << node_logs() << "\nscript:\n"
                                       << guarded;
    ASSERT_TRUE(shell.wait_for_log_end(10'000ms));
    const std::string output = shell.log();
    ASSERT_EQ(status->code, 0) << output << node_logs() << "\nscript:\n" << guarded;
    EXPECT_NE(output.find("FLEET_COMMANDS_DONE"), std::string::npos) << output;
    // The owner's prediction and the new owner's, after the kill: both name a next use, about the same one.
    static const std::regex kPrediction(R"(\{"next_arrival_ms":(\d+),)");
    std::vector<int64_t> next;
    for (std::sregex_iterator it(output.begin(), output.end(), kPrediction), last; it != last; ++it)
        next.push_back(std::stoll((*it)[1].str()));
    ASSERT_EQ(next.size(), 2U) << output;
    EXPECT_LE(std::abs(next[0] - next[1]), 5000) << output;
    // The replay wrote its reports.
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "replay" / "fleet.json")) << output;
    EXPECT_NE(output.find("Re-homing after node-1 left"), std::string::npos) << output;
}

}  // namespace
}  // namespace warmup::test
