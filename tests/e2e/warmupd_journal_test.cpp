// Crash test of warmupd's event journal: the real daemon learns a rhythm, an operator backup is taken, events of new
// models stream in and the daemon is SIGKILLed in the middle of the stream, long before its next snapshot. The
// restarted daemon restores the backup (the newest state on disk), replays the journal after it (a torn record at the
// end, as a crash during a write leaves, is skipped with a log line) and must hold every event acknowledged more than
// a second before the kill, in its learned patterns (read back with the analyzer itself from a backup taken after the
// restart) and in its counters. Then warmup-replay reads the same state folder as a trace (journal:DIR) and replays
// every journaled event.
//
// Every wait is a bounded poll; the only timing the test relies on is the journal's documented flush interval
// (0.5 s) against the 1 s margin it checks.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_test_fixture.hpp"
#include "plugin_test_host.hpp"
#include "runtime/state/journal.hpp"
#include "runtime/state/state_store.hpp"
#include "state_daemon_support.hpp"
#include "test_support.hpp"
#include "usage_pattern_analyzer.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using warmup::test::Daemon;
using warmup::test::get_json;
using warmup::test::poll_until;
using warmup::test::rhythm_history_ndjson;
using warmup::test::section_of;
using warmup::test::state_daemon_config;
using warmup::test::system_now_ms;

constexpr auto kPollInterval = 50ms;
constexpr std::string_view kAnalyzerParams = "idle_bin_ms: 250\nidle_bins: 240\n";

// No periodic snapshot during the test: what survives the kill is the backup plus the journal.
std::string config_yaml(const fs::path& state_dir) {
    return state_daemon_config(state_dir, 10, "snapshot_interval_s: 3600, keep: 5");
}

uint64_t metric_value(const std::string& metrics, const std::string& series) {
    const std::regex pattern(std::regex_replace(series, std::regex(R"([{}"])"), R"(\$&)") + R"( (\d+))");
    std::smatch match;
    return std::regex_search(metrics, match, pattern) ? std::stoull(match[1].str()) : 0;
}

struct Acked {
    int index;
    int64_t acked_unix_ms;
};

/// The daemon on its state folder in the test's temporary folder; restarted on the same configuration.
class WarmupdJournal : public test::DaemonTest {
  protected:
    WarmupdJournal() : DaemonTest("warmupd-journal") {}
};

TEST_F(WarmupdJournal, EveryEventAcknowledgedASecondBeforeASigkillIsRestoredFromTheJournal) {
    const fs::path state_dir = dir_.path() / "state";
    start_daemon(config_yaml(state_dir));
    ASSERT_FALSE(HasFatalFailure());
    const int port = port_;
    httplib::Client& client = *client_;

    // 1. A rhythm learned as history (20 uses 3 s apart, the last one now), then an operator backup: the newest
    //    state on disk from then on, and the journal starts a new segment after it.
    const int64_t last_ms = system_now_ms();
    const auto posted = client.Post("/api/warmup/events", rhythm_history_ndjson(last_ms), "application/x-ndjson");
    ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
    const auto backup = client.Post("/api/warmup/backup-state", R"({"name": "mid"})", "application/json");
    ASSERT_TRUE(backup && backup->status == 200) << (backup ? backup->body : "no answer");
    StateStore store(state_dir, 5);
    ASSERT_NE(section_of(store.read_backup("mid").snapshot, "analyzer"), nullptr);

    // 2. One new model per request, each acknowledged with 200 at a known time; SIGKILL in the middle of the stream,
    //    once more than a second of acknowledged events lies behind.
    std::mutex acked_mutex;
    std::vector<Acked> acked;
    std::atomic<bool> streaming{true};
    std::thread streamer([&] {
        httplib::Client stream_client("127.0.0.1", port);
        stream_client.set_connection_timeout(1);
        stream_client.set_read_timeout(2);
        for (int i = 0; streaming; ++i) {
            const std::string body = json{{"model", "embed/" + std::to_string(i)}}.dump() + "\n";
            const auto answer = stream_client.Post("/api/warmup/events", body, "application/x-ndjson");
            if (answer && answer->status == 200) {
                std::lock_guard lock(acked_mutex);
                acked.push_back({i, system_now_ms()});
            }
            std::this_thread::sleep_for(5ms);
        }
    });
    const auto acked_count = [&] {
        std::lock_guard lock(acked_mutex);
        return acked.size();
    };
    const auto acked_before = [&](int64_t unix_ms) {
        std::lock_guard lock(acked_mutex);
        return std::count_if(acked.begin(), acked.end(),
                             [&](const Acked& event) { return event.acked_unix_ms < unix_ms; });
    };
    const bool streamed = poll_until([&] { return acked_count() >= 40; }, 10s, kPollInterval);
    // The stream goes on until the kill; wait (bounded) until its first 40 acknowledgements are over a second old.
    const bool aged = poll_until([&] { return acked_before(system_now_ms() - 1000) >= 40; }, 20s, kPollInterval);
    const int64_t kill_unix_ms = system_now_ms();
    daemon_->kill_now();
    streaming = false;
    streamer.join();
    ASSERT_TRUE(streamed) << "the stream did not get going";
    ASSERT_TRUE(aged) << acked_count() << " acknowledged, fewer than 40 of them a second before the kill";
    std::vector<Acked> old;  // acknowledged more than a second before the kill: must survive it
    for (const Acked& event : acked)
        if (event.acked_unix_ms < kill_unix_ms - 1000) old.push_back(event);
    ASSERT_GE(old.size(), 20u) << acked.size() << " acknowledged in all";

    // 3. A crash in the middle of a write leaves a torn record at the end of the newest segment.
    const auto segments = list_journal_segments(state_dir);
    ASSERT_GE(segments.size(), 2u);
    std::ofstream(segments.back().file, std::ios::binary | std::ios::app) << std::string("\x40\x00\x00\x00\x12", 5);

    // 4. The restart restores the backup (no periodic snapshot exists) and replays the journal after it.
    start_daemon(config_yaml(state_dir));  // the same configuration file, rewritten; a new port
    ASSERT_FALSE(HasFatalFailure());
    const std::string log = daemon_->log();
    EXPECT_NE(log.find("STATE_RESTORED " + (state_dir / "backup-mid.wsnap").string()), std::string::npos) << log;
    EXPECT_NE(log.find("JOURNAL_TORN " + segments.back().file.string()), std::string::npos) << log;
    std::smatch replayed_match;
    ASSERT_TRUE(std::regex_search(log, replayed_match, std::regex(R"(JOURNAL_REPLAYED (\d+) event)"))) << log;
    const uint64_t replayed = std::stoull(replayed_match[1].str());
    EXPECT_GE(replayed, old.size());
    EXPECT_LE(replayed, acked.size());  // nothing invented (an event is journaled only once it is accepted)

    // 5. Patterns: every old event's model was learned, and the rhythm of the backup is still there.
    httplib::Client& restarted = *client_;
    const auto after = restarted.Post("/api/warmup/backup-state", R"({"name": "after-restart"})", "application/json");
    ASSERT_TRUE(after && after->status == 200) << (after ? after->body : "no answer");
    const Snapshot now = store.read_backup("after-restart").snapshot;
    const SnapshotSection* patterns = section_of(now, "analyzer");
    ASSERT_NE(patterns, nullptr);
    test::PluginTestHost host = test::numbered_models_host();
    test::Built<plugins::UsagePatternAnalyzer> analyzer(host, kAnalyzerParams);
    analyzer.plugin.import_state(patterns->data);
    const auto request_count = [&](const std::string& model) -> uint64_t {
        const auto at = std::find(now.models.begin(), now.models.end(), model);
        if (at == now.models.end()) return 0;
        warmup_usage_pattern pattern{};
        pattern.struct_size = sizeof pattern;
        analyzer.plugin.get_pattern(static_cast<warmup_model_index>(at - now.models.begin()), pattern);
        return pattern.request_count;
    };
    EXPECT_EQ(request_count("rhythm/a"), 20u);
    std::size_t missing = 0;
    for (const Acked& event : old)
        if (request_count("embed/" + std::to_string(event.index)) != 1) ++missing;
    EXPECT_EQ(missing, 0u) << "of " << old.size() << " events acknowledged more than 1 s before the kill";

    // 6. Counters: every old event is counted as accepted and as a request; /status and /metrics agree.
    const json status = get_json(restarted, "/api/warmup/status");
    ASSERT_TRUE(status.is_object());
    const json& counters = status["counters"];
    EXPECT_GE(counters["events_accepted"].get<uint64_t>(), 20 + old.size()) << status.dump();
    const uint64_t requests = counters["warm_requests"].get<uint64_t>() + counters["cold_requests"].get<uint64_t>() +
                              counters["failed_requests"].get<uint64_t>();
    EXPECT_GE(requests, 1 + old.size()) << status.dump();  // the rhythm's last use and the streamed ones
    const auto metrics = restarted.Get("/metrics");
    ASSERT_TRUE(metrics && metrics->status == 200);
    EXPECT_EQ(metric_value(metrics->body, R"(warmup_requests_total{arm="control",result="cold"})"),
              counters["cold_requests"].get<uint64_t>());
    EXPECT_EQ(metric_value(metrics->body, R"(warmup_requests_total{arm="control",result="warm"})"),
              counters["warm_requests"].get<uint64_t>());

    // 7. The same folder replayed offline: every journaled event, the rhythm's 20 and the stream's.
    const fs::path out = dir_.path() / "replay";
    Daemon replay({"--config", (dir_.path() / "warmupd.yaml").string(), "--trace", "journal:" + state_dir.string(),
                   "--out", out.string()},
                  Daemon::Capture::StdoutAndStderr, "warmup-replay");
    const auto exit = replay.wait_exit(120s);
    ASSERT_TRUE(exit && exit->exited && exit->code == 0) << replay.log();
    std::ifstream report_file(out / "report.json");
    const json report = json::parse(report_file, nullptr, false);
    ASSERT_TRUE(report.is_object()) << replay.log();
    EXPECT_EQ(report["events"].get<uint64_t>(), 20 + replayed) << replay.log();
    EXPECT_EQ(report["traces"][0].get<std::string>(), "journal:" + state_dir.string());
}

TEST_F(WarmupdJournal, AnIdleDaemonWritesNoCheckpointsAfterItsLastChange) {
    const fs::path state_dir = dir_.path() / "state";
    start_daemon(config_yaml(state_dir));
    ASSERT_FALSE(HasFatalFailure());
    // History only (no loads, nothing left to change), then idle.
    const auto posted =
        client_->Post("/api/warmup/events", rhythm_history_ndjson(system_now_ms() - 60'000), "application/x-ndjson");
    ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
    const auto journal_bytes = [&] {
        uintmax_t bytes = 0;
        for (const JournalSegment& segment : list_journal_segments(state_dir)) bytes += fs::file_size(segment.file);
        return bytes;
    };
    // The events and one checkpoint of what they changed are written within a flush interval or two.
    ASSERT_TRUE(poll_until([&] { return journal_bytes() > 0; }, 10s, kPollInterval));
    std::this_thread::sleep_for(1500ms);
    const uintmax_t settled = journal_bytes();
    std::this_thread::sleep_for(2s);  // four more flush intervals, each of which used to append a checkpoint
    EXPECT_EQ(journal_bytes(), settled);
}

// A checkpoint holds the metrics plugin's counts of every model that had requests (about 40 bytes each): with
// thousands of models it outweighs the events of a flush interval many times over. Written at every flush that
// changed a counter, it grew the journal by its whole size twice a second under any traffic at all (1.6 MB/s at 20 k
// models). A large checkpoint now waits until the events journaled since the previous one weigh as much (or 30 s).
TEST_F(WarmupdJournal, ALargeCheckpointIsNotRewrittenAtEveryFlushOfAFewEvents) {
    const fs::path state_dir = dir_.path() / "state";
    start_daemon(config_yaml(state_dir));
    ASSERT_FALSE(HasFatalFailure());
    const auto journal_bytes = [&] {
        uintmax_t bytes = 0;
        for (const JournalSegment& segment : list_journal_segments(state_dir)) bytes += fs::file_size(segment.file);
        return bytes;
    };
    // One request of each of 4000 models: the metrics section alone is about 160 KB.
    std::string requests;
    for (int i = 0; i < 4000; ++i) requests += json{{"model", "embed/model-number-" + std::to_string(i)}}.dump() + "\n";
    const auto posted = client_->Post("/api/warmup/events", requests, "application/x-ndjson");
    ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
    ASSERT_TRUE(poll_until([&] { return journal_bytes() > 150'000; }, 10s, kPollInterval)) << journal_bytes();
    std::this_thread::sleep_for(1s);  // the loads the requests started finish and are checkpointed
    // Now a trickle: one request every 100 ms for 3 s, each changing the counters of six flush intervals.
    const uintmax_t before = journal_bytes();
    for (int i = 0; i < 30; ++i) {
        const auto one =
            client_->Post("/api/warmup/events", R"({"model": "embed/model-number-7"})", "application/json");
        ASSERT_TRUE(one && one->status == 200) << (one ? one->body : "no answer");
        std::this_thread::sleep_for(100ms);
    }
    std::this_thread::sleep_for(1s);  // two more flushes
    const uintmax_t grown = journal_bytes() - before;
    // 30 events are about 1 KB with their records; one more checkpoint of every model would be 150 KB or more.
    EXPECT_LT(grown, 64u * 1024) << "the journal grew by " << grown << " bytes for 30 events";
}

// A full disk: the daemon's file size limit, set to one byte from outside (prlimit), stands for it: every write that
// grows a file fails (EFBIG, as ENOSPC would). While the journal cannot write, events are refused with 503 naming it
// and health says so; once it can, health is whole again, what was acknowledged before is written, and a SIGKILL then
// loses none of it.
TEST_F(WarmupdJournal, WhileTheDiskIsFullEventsAreRefusedAndNoneAcknowledgedIsLost) {
    const fs::path state_dir = dir_.path() / "state";
    start_daemon(config_yaml(state_dir));
    ASSERT_FALSE(HasFatalFailure());
    int next_model = 0;
    std::size_t acknowledged = 0;
    int last_status = 0;
    std::string last_body;
    const auto post_one = [&] {  // true when refused with 503
        const std::string body = json{{"model", "embed/" + std::to_string(next_model++)}}.dump() + "\n";
        const auto answer = client_->Post("/api/warmup/events", body, "application/x-ndjson");
        last_status = answer ? answer->status : 0;
        last_body = answer ? answer->body : "no answer";
        if (last_status == 200) ++acknowledged;
        return last_status == 503;
    };
    for (int i = 0; i < 10; ++i) post_one();
    ASSERT_EQ(acknowledged, 10u);

    struct rlimit saved {};
    const struct rlimit full { 1, RLIM_INFINITY };
    ASSERT_EQ(::prlimit(daemon_->pid(), RLIMIT_FSIZE, &full, &saved), 0) << std::strerror(errno);
    // Refused from the first flush that fails (at most a flush interval away), never acknowledged and dropped.
    ASSERT_TRUE(poll_until(post_one, 10s, 20ms)) << last_body;
    EXPECT_NE(last_body.find("the event journal cannot write to the state folder"), std::string::npos) << last_body;
    const json health = get_json(*client_, "/api/warmup/health/components");
    bool state_degraded = false;
    for (const json& component : health["components"])
        if (component["component"] == "state")
            state_degraded =
                component["state"] == "degraded" &&
                component["reason"].get<std::string>().find("the event journal cannot write") != std::string::npos;
    EXPECT_TRUE(state_degraded) << health.dump();

    ASSERT_EQ(::prlimit(daemon_->pid(), RLIMIT_FSIZE, &saved, nullptr), 0) << std::strerror(errno);
    ASSERT_TRUE(poll_until([&] { return !post_one(); }, 10s, 50ms)) << last_body;
    ASSERT_TRUE(poll_until([&] { return daemon_->log().find("JOURNAL_WRITE_RECOVERED") != std::string::npos; }, 10s,
                           kPollInterval));
    // Health is whole again: no snapshot failed (none is due in this test), so the journal's failure, now over, is
    // not said as one.
    std::string state_after;
    const bool state_ok = poll_until(
        [&] {
            const json components = get_json(*client_, "/api/warmup/health/components");
            state_after = components.dump();
            for (const json& component : components["components"])
                if (component["component"] == "state") return component["state"] == "ok";
            return false;
        },
        5s, kPollInterval);
    EXPECT_TRUE(state_ok) << state_after;
    const std::size_t acknowledged_in_all = acknowledged;
    std::this_thread::sleep_for(1500ms);  // the events acknowledged after the recovery: three flush intervals
    daemon_->kill_now();
    EXPECT_NE(daemon_->log().find("JOURNAL_WRITE_ERROR journal write failed, events kept in memory and refused (503)"),
              std::string::npos)
        << daemon_->log();

    start_daemon(config_yaml(state_dir));
    ASSERT_FALSE(HasFatalFailure());
    const std::string log = daemon_->log();
    std::smatch replayed;
    ASSERT_TRUE(std::regex_search(log, replayed, std::regex(R"(JOURNAL_REPLAYED (\d+) event)"))) << log;
    EXPECT_EQ(std::stoul(replayed[1].str()), acknowledged_in_all) << log;
    EXPECT_EQ(log.find("JOURNAL_TORN"), std::string::npos) << log;
}

// A stop whose last snapshot cannot be written (the disk full, as above) is not a clean stop: exit status 1, so that a
// supervisor records it, while a stop that saved everything exits 0.
TEST_F(WarmupdJournal, AStopThatCannotSaveItsStateExitsWithStatus1) {
    const fs::path state_dir = dir_.path() / "state";
    start_daemon(config_yaml(state_dir));
    ASSERT_FALSE(HasFatalFailure());
    const auto posted =
        client_->Post("/api/warmup/events", rhythm_history_ndjson(system_now_ms()), "application/x-ndjson");
    ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
    const struct rlimit full { 1, RLIM_INFINITY };
    ASSERT_EQ(::prlimit(daemon_->pid(), RLIMIT_FSIZE, &full, nullptr), 0) << std::strerror(errno);
    ASSERT_EQ(::kill(daemon_->pid(), SIGTERM), 0);
    const auto ended = daemon_->wait_exit(20s);
    ASSERT_TRUE(ended && ended->exited) << daemon_->log();
    EXPECT_EQ(ended->code, 1) << daemon_->log();
    EXPECT_NE(daemon_->log().find("SHUTDOWN the last snapshot or journal write failed"), std::string::npos)
        << daemon_->log();

    start_daemon(config_yaml(state_dir));  // the disk has room again: the same stop is clean
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_EQ(::kill(daemon_->pid(), SIGTERM), 0);
    const auto clean = daemon_->wait_exit(20s);
    ASSERT_TRUE(clean && clean->exited) << daemon_->log();
    EXPECT_EQ(clean->code, 0) << daemon_->log();
}

}  // namespace
}  // namespace warmup::host
