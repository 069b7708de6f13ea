// Crash test of warmupd's durable state: the real daemon learns a rhythm, snapshots it every second, is SIGKILLed
// while events stream in, and on restart serves at once with the state of the newest complete snapshot. The event
// journal is off here (state.journal: false) so that the snapshot path alone is pinned; warmupd_journal_test.cpp
// covers the journal replayed after the snapshot. A second daemon on a folder in use is refused, and a killed
// daemon's lock does not block its restart. An emergency stop is saved at once and outlives a SIGKILL.
//
// Every wait is a bounded poll; nothing asserts on elapsed time. The daemon's output goes through a pipe drained by a
// reader thread into an in-memory log; the Daemon destructor SIGKILLs and reaps a child that still runs.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_test_fixture.hpp"
#include "runtime/state/state_store.hpp"
#include "state_daemon_support.hpp"
#include "test_support.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using warmup::test::get_json;
using warmup::test::poll_until;
using warmup::test::rhythm_history_ndjson;
using warmup::test::section_of;
using warmup::test::state_daemon_config;
using warmup::test::system_now_ms;

constexpr auto kPollInterval = 50ms;  // between polls of the daemon's HTTP API and of the state folder

std::string config_yaml(const fs::path& state_dir) {
    return state_daemon_config(state_dir, 200, "snapshot_interval_s: 1, keep: 5, journal: false");
}

/// The prediction entry of `model`, or null.
json prediction_of(const json& predictions, const std::string& model) {
    if (!predictions.is_object()) return nullptr;
    for (const auto& entry : predictions["predictions"])
        if (entry["model"] == model) return entry;
    return nullptr;
}

/// The daemon on its state folder in the test's temporary folder; restarted on the same configuration.
class WarmupdCrash : public test::DaemonTest {
  protected:
    WarmupdCrash() : DaemonTest("warmupd-crash") {}
};

TEST_F(WarmupdCrash, SigkillWhileEventsStreamThenRestartServesTheLastSnapshotAtOnce) {
    const fs::path state_dir = dir_.path() / "state";
    start_daemon(config_yaml(state_dir));
    ASSERT_FALSE(HasFatalFailure());
    const int port = port_;
    httplib::Client& client = *client_;

    // 1. Learn a rhythm: 20 requests 3 s apart, the last one now -> 19 idle gaps.
    const int64_t last_ms = system_now_ms();
    const auto posted = client.Post("/api/warmup/events", rhythm_history_ndjson(last_ms), "application/x-ndjson");
    ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
    json learned;
    ASSERT_TRUE(poll_until(
        [&] {
            learned = prediction_of(get_json(client, "/api/warmup/predictions"), "rhythm/a");
            return !learned.is_null() && learned["confidence"].get<double>() > 0;
        },
        10s, kPollInterval))
        << daemon_->log();
    const double learned_confidence = learned["confidence"].get<double>();

    // 2. Wait for a snapshot taken after the pattern was learned.
    const uint64_t learned_at_ms = static_cast<uint64_t>(system_now_ms());
    StateStore store(state_dir, 5);
    ASSERT_TRUE(poll_until(
        [&] {
            std::vector<RefusedSnapshot> refused;
            const auto newest = store.newest_valid_snapshot(refused);
            return newest && newest->snapshot.created_unix_ms > learned_at_ms;
        },
        10s, kPollInterval))
        << daemon_->log();

    // 3. Stream events of another model and SIGKILL the daemon in the middle of the stream.
    std::atomic<bool> streaming{true};
    std::atomic<int> accepted{0};
    std::thread streamer([&] {
        httplib::Client stream_client("127.0.0.1", port);
        stream_client.set_connection_timeout(1);
        stream_client.set_read_timeout(2);
        while (streaming) {
            const auto answer = stream_client.Post("/api/warmup/events",
                                                   R"({"model": "embed/x"})"
                                                   "\n",
                                                   "application/x-ndjson");
            if (answer && answer->status == 200) ++accepted;
            std::this_thread::sleep_for(5ms);
        }
    });
    const bool streamed = poll_until([&] { return accepted.load() >= 50; }, 10s, kPollInterval);
    daemon_->kill_now();
    streaming = false;
    streamer.join();
    ASSERT_TRUE(streamed) << "the stream did not get going";

    // 4. The newest complete snapshot on disk is what a restart must bring back.
    std::vector<RefusedSnapshot> refused;
    const auto last = store.newest_valid_snapshot(refused);
    ASSERT_TRUE(last.has_value());
    const SnapshotSection* last_patterns = section_of(last->snapshot, "analyzer");
    ASSERT_NE(last_patterns, nullptr);
    ASSERT_NE(section_of(last->snapshot, "metrics"), nullptr);

    start_daemon(config_yaml(state_dir));  // the same configuration file, rewritten; a new port
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_NE(daemon_->log().find("STATE_RESTORED " + last->file.string()), std::string::npos) << daemon_->log();
    for (const auto& bad : refused)  // a snapshot torn by the kill is reported, never loaded
        EXPECT_NE(daemon_->log().find("STATE_RESTORE_ERROR " + bad.file.string()), std::string::npos);

    // 5. Serves at once: the very first request sees the learned pattern.
    httplib::Client& restarted = *client_;
    const json prediction = prediction_of(get_json(restarted, "/api/warmup/predictions"), "rhythm/a");
    ASSERT_FALSE(prediction.is_null()) << daemon_->log();
    EXPECT_DOUBLE_EQ(prediction["confidence"].get<double>(), learned_confidence);  // 19 / (19 + 10), as learned

    // 6. Exactly the last snapshot's patterns (no event since the restart), and its counters.
    const auto backup = restarted.Post("/api/warmup/backup-state", R"({"name": "after-restart"})", "application/json");
    ASSERT_TRUE(backup && backup->status == 200) << (backup ? backup->body : "no answer");
    const Snapshot now = store.read_backup("after-restart").snapshot;
    const SnapshotSection* now_patterns = section_of(now, "analyzer");
    ASSERT_NE(now_patterns, nullptr);
    EXPECT_EQ(now_patterns->data, last_patterns->data);
    EXPECT_EQ(now.models, last->snapshot.models);
    const auto metrics = restarted.Get("/metrics");
    ASSERT_TRUE(metrics && metrics->status == 200);
    static const std::regex kCold(R"(warmup_requests_total\{arm="control",result="cold"\} (\d+))");
    std::smatch match;
    ASSERT_TRUE(std::regex_search(metrics->body, match, kCold)) << metrics->body;
    // The rhythm's last request (its older uses are history, not requests) and the streamed ones of the snapshot,
    // restored from it; /status continues from the same totals.
    EXPECT_GE(std::stoi(match[1].str()), 1);
    const json status = get_json(restarted, "/api/warmup/status");
    EXPECT_EQ(status["counters"]["cold_requests"].get<int>(), std::stoi(match[1].str())) << status.dump();
}

TEST_F(WarmupdCrash, ASecondDaemonOnTheSameStateFolderIsRefusedAndAKilledDaemonsLockDoesNotBlock) {
    const fs::path state_dir = dir_.path() / "state";
    start_daemon(config_yaml(state_dir));
    ASSERT_FALSE(HasFatalFailure());
    const auto first = client_->Post("/api/warmup/events", R"({"model": "embed/x"})", "application/json");
    ASSERT_TRUE(first && first->status == 200) << (first ? first->body : "no answer");

    // Another port, the same folder: refused before it touches the folder, naming it and the running daemon.
    test::Daemon second({"--config", (dir_.path() / "warmupd.yaml").string(), "--port", "0"});
    const auto ended = second.wait_exit(20s);
    ASSERT_TRUE(ended.has_value()) << "the second daemon still runs; log:\n" << second.log();
    EXPECT_TRUE(ended->exited);
    EXPECT_EQ(ended->code, 2) << second.log();
    ASSERT_TRUE(second.wait_for_log_end(10s));
    const std::string refusal = second.log();
    EXPECT_NE(refusal.find("STATE_DIR_IN_USE"), std::string::npos) << refusal;
    EXPECT_NE(refusal.find(state_dir.string()), std::string::npos) << refusal;
    EXPECT_NE(refusal.find("pid " + std::to_string(daemon_->pid())), std::string::npos) << refusal;
    EXPECT_EQ(refusal.find("STATE_RESTORED"), std::string::npos) << refusal;
    // Nor did its control loop start: it asked the model server nothing (the first daemon's loop says what its
    // backend can list at its start).
    EXPECT_NE(daemon_->log().find("RECONCILE_"), std::string::npos) << daemon_->log();
    EXPECT_EQ(refusal.find("RECONCILE_"), std::string::npos) << refusal;
    // The first one still serves.
    const auto still = client_->Post("/api/warmup/events", R"({"model": "embed/x"})", "application/json");
    ASSERT_TRUE(still && still->status == 200) << (still ? still->body : "no answer");

    // SIGKILLed, it leaves its lock file; the kernel released the lock, so the restart is not blocked.
    daemon_->kill_now();
    ASSERT_TRUE(fs::exists(state_dir / "warmupd.lock"));
    start_daemon(config_yaml(state_dir));
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_EQ(daemon_->log().find("STATE_DIR_IN_USE"), std::string::npos) << daemon_->log();
    EXPECT_EQ(test::read_text_file(state_dir / "warmupd.lock"), std::to_string(daemon_->pid()) + "\n");
}

TEST_F(WarmupdCrash, AnEmergencyStopSurvivesAKillAndARestartUntilResetToSafeLiftsIt) {
    const fs::path state_dir = dir_.path() / "state";
    // A snapshot interval far beyond the test: only the stop itself can have saved it.
    const std::string yaml = state_daemon_config(state_dir, 200, "snapshot_interval_s: 3600, keep: 5, journal: false");
    start_daemon(yaml);
    ASSERT_FALSE(HasFatalFailure());
    const auto stopped = client_->Post("/api/warmup/emergency-stop", "", "application/json");
    ASSERT_TRUE(stopped && stopped->status == 200) << (stopped ? stopped->body : "no answer");
    daemon_->kill_now();  // SIGKILL right after the answer: no snapshot at a clean stop

    start_daemon(yaml);
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_TRUE(daemon_->wait_for_log("EMERGENCY_STOP still in force", 5s)) << daemon_->log();
    EXPECT_NE(daemon_->log().find("no pre-warm starts until POST /api/warmup/resume (or POST "
                                  "/api/warmup/reset-to-safe, on the safe configuration)"),
              std::string::npos)
        << daemon_->log();
    EXPECT_EQ(get_json(*client_, "/api/warmup/status")["emergency_stop"], true);
    const auto lifted = client_->Post("/api/warmup/reset-to-safe", "", "application/json");
    ASSERT_TRUE(lifted && lifted->status == 200) << (lifted ? lifted->body : "no answer");
    EXPECT_EQ(get_json(*client_, "/api/warmup/status")["emergency_stop"], false);

    // SIGTERM: a clean stop, and a start without the warning.
    ASSERT_EQ(::kill(daemon_->pid(), SIGTERM), 0);
    const auto ended = daemon_->wait_exit(20s);
    ASSERT_TRUE(ended && ended->exited && ended->code == 0) << daemon_->log();
    start_daemon(yaml);
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_EQ(get_json(*client_, "/api/warmup/status")["emergency_stop"], false);
    EXPECT_EQ(daemon_->log().find("EMERGENCY_STOP still in force"), std::string::npos) << daemon_->log();
}

}  // namespace
}  // namespace warmup::host
