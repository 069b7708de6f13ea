// Hot-swap through the real daemon's public surface: SIGHUP, POST /api/warmup/config/{reload,rollback} and the file
// watch (reload.watch_file), whose answers the daemon logs.
//
// build/bin/warmupd runs as a child process on a test configuration in a temp folder (--port 0; the port is read
// from its log). Process hygiene: the Daemon's destructor SIGKILLs and reaps the child if it still runs, so a failed
// assertion never leaves a daemon behind; its output goes through a pipe drained by a reader thread.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "daemon_test_fixture.hpp"
#include "hotswap_test_config.hpp"

namespace {

using nlohmann::json;
using namespace warmup::test;
using namespace std::chrono_literals;

constexpr auto kReloadTimeout = 10s;

class WarmupdReloadTest : public DaemonTest {
  protected:
    WarmupdReloadTest() : DaemonTest("warmup-hotswap") {}
    void SetUp() override { start_daemon(config_yaml()); }

    /// The id the plugins endpoint reports for the predictor slot ("" on any failure, which the caller's
    /// expectation then shows).
    std::string served_predictor() {
        const auto answer = client_->Get("/api/warmup/plugins");
        if (!answer || answer->status != 200) return "";
        const json body = json::parse(answer->body, nullptr, false);
        if (body.is_discarded()) return "";
        for (const auto& plugin : body["plugins"])
            if (plugin["slot"] == "predictor") return plugin["id"].get<std::string>();
        return "";
    }

    /// POSTs an empty body to `path`; returns (HTTP status, parsed body), status 0 on a transport error.
    std::pair<int, json> post(const std::string& path) {
        const auto answer = client_->Post(path, "", "application/json");
        if (!answer) return {0, nullptr};
        return {answer->status, json::parse(answer->body, nullptr, false)};
    }
};

TEST_F(WarmupdReloadTest, SighupReloadsTheConfigurationFile) {
    ASSERT_EQ(served_predictor(), kIdlePredictorId);
    dir_.write("warmupd.yaml", config_yaml({{"predictor", "{plugin: org.warmup.predictor.keep-alive}"}}));

    ASSERT_EQ(kill(daemon_->pid(), SIGHUP), 0);

    std::string served;
    EXPECT_TRUE(poll_until([&] { return (served = served_predictor()) == kKeepAlivePredictorId; }, kReloadTimeout))
        << "predictor still " << served;
}

TEST_F(WarmupdReloadTest, HttpReloadAnswersTheChangedSlotsThePauseAndTheNotes) {
    dir_.write("warmupd.yaml", config_yaml({{"predictor", "{plugin: org.warmup.predictor.hybrid-histogram}"}}));

    const auto [status, body] = post("/api/warmup/config/reload");

    ASSERT_EQ(status, 200) << body.dump();
    EXPECT_EQ(body["status"], "reloaded");
    ASSERT_TRUE(body["changed"].is_array()) << body.dump();
    ASSERT_EQ(body["changed"].size(), 1u) << body.dump();
    const json& change = body["changed"][0];
    EXPECT_EQ(change["slot"], "predictor");
    EXPECT_EQ(id_of(change["from"].get<std::string>()), kIdlePredictorId);
    EXPECT_EQ(id_of(change["to"].get<std::string>()), kHybridPredictorId);
    // idle-histogram has no state extension, so the new predictor starts cold and the answer says why, naming it.
    EXPECT_EQ(change["state"],
              "started cold: " + change["from"].get<std::string>() + " (the replaced one) has no state extension");
    ASSERT_TRUE(body["pause_us"].is_number()) << body.dump();
    EXPECT_GE(body["pause_us"].get<double>(), 0.0);
    EXPECT_EQ(body["notes"], json::array());  // nothing restart-only changed
    EXPECT_EQ(served_predictor(), kHybridPredictorId);
}

TEST_F(WarmupdReloadTest, AReloadThatChangesNothingSaysSo) {
    // Before, the log said "CONFIG_RELOADED 0 component(s) replaced", as if something had been reloaded.
    const auto [status, body] = post("/api/warmup/config/reload");
    ASSERT_EQ(status, 200) << body.dump();
    EXPECT_EQ(body["changed"], json::array()) << body.dump();
    EXPECT_TRUE(daemon_->wait_for_log("CONFIG_RELOADED nothing changed: every component and setting is as it was",
                                      kReloadTimeout))
        << daemon_->log();
    EXPECT_EQ(daemon_->log().find("0 component(s) replaced"), std::string::npos) << daemon_->log();
}

TEST_F(WarmupdReloadTest, HttpReloadOfAPredictorRefusingItsParamsAnswers422AndKeepsTheRunningOne) {
    dir_.write("warmupd.yaml",
               config_yaml({{"predictor", "{plugin: org.warmup.predictor.hybrid-histogram, params: {margin: 2}}"}}));

    const auto [status, body] = post("/api/warmup/config/reload");

    EXPECT_EQ(status, 422) << body.dump();
    EXPECT_EQ(body["status"], "failed");
    EXPECT_EQ(body["stage"], "load");
    ASSERT_TRUE(body["error"].is_string()) << body.dump();
    EXPECT_NE(body["error"].get<std::string>().find("params.margin"), std::string::npos) << body.dump();
    EXPECT_EQ(served_predictor(), kIdlePredictorId);
}

TEST_F(WarmupdReloadTest, HttpRollbackAnswers200ThenNothingToRollBack409) {
    dir_.write("warmupd.yaml", config_yaml({{"predictor", "{plugin: org.warmup.predictor.keep-alive}"}}));
    ASSERT_EQ(post("/api/warmup/config/reload").first, 200);
    ASSERT_EQ(served_predictor(), kKeepAlivePredictorId);

    const auto [back_status, back] = post("/api/warmup/config/rollback");
    EXPECT_EQ(back_status, 200) << back.dump();
    EXPECT_EQ(back["status"], "reloaded");
    EXPECT_EQ(served_predictor(), kIdlePredictorId);

    const auto [again_status, again] = post("/api/warmup/config/rollback");
    EXPECT_EQ(again_status, 409) << again.dump();
    EXPECT_EQ(again["stage"], "config");
    EXPECT_EQ(served_predictor(), kIdlePredictorId);
}

// A reload's answer may quote bytes that are not UTF-8: here the path of a configuration file in a folder whose name
// has the byte 0xFF, in the error about a file that is no longer valid. Both paths that log the answer (the file watch
// on its own thread, SIGHUP on the main thread) write it with that byte escaped, and the daemon keeps running.
TEST_F(WarmupdReloadTest, AReloadAnswerQuotingANonUtf8PathIsLoggedEscapedByTheWatchAndBySighup) {
    const std::filesystem::path folder = dir_.path() / "conf-\xff";
    std::filesystem::create_directory(folder);
    const std::filesystem::path config = folder / "warmupd.yaml";
    dir_.write("conf-\xff/warmupd.yaml", config_yaml() + "reload: {watch_file: true, poll_ms: 100}\n");
    start_daemon_with_args({"--config", config.string()});
    ASSERT_FALSE(HasFatalFailure());
    // log_text writes the byte as the four characters \xFF, whose backslash the JSON text escapes in turn.
    const std::string escaped = R"(conf-\\xFF/warmupd.yaml)";
    const auto logged_answers = [&] {
        const std::string log = daemon_->log();
        int count = 0;
        for (auto at = log.find(escaped); at != std::string::npos; at = log.find(escaped, at + 1)) ++count;
        return count;
    };
    ASSERT_EQ(logged_answers(), 0);

    // Longer than before: its size changes with its content, whatever the file system's timestamp granularity.
    dir_.write("conf-\xff/warmupd.yaml", config_yaml() + "reload: {watch_file: true, poll_ms: 100}\nno_such_key: 1\n");
    EXPECT_TRUE(poll_until([&] { return logged_answers() == 1; }, kReloadTimeout)) << "the watch's reload";
    ASSERT_EQ(kill(daemon_->pid(), SIGHUP), 0);
    EXPECT_TRUE(poll_until([&] { return logged_answers() == 2; }, kReloadTimeout)) << "the SIGHUP reload";

    EXPECT_FALSE(daemon_->wait_exit(0ms).has_value()) << "the daemon ended";
    EXPECT_EQ(served_predictor(), kIdlePredictorId);
}

}  // namespace
