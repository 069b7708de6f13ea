// Configurations a person writes by hand, as the daemon runs them: budgets and a catalog alone start warmupd on the
// shipped components (configs/default.yaml) and serve a request; a file without apiVersion is read as warmup/v1 with
// one CONFIG_NOTICE; another apiVersion stops warmupd with exit 2 and says which it reads; a file saved as UTF-16 or
// holding NUL bytes is refused as not UTF-8 text at start, reload, replay and validate (a UTF-8 byte-order mark is
// fine); an experiment arm that lists one slot is created with every other slot of the top level (warmupctl validate
// creates each plugin).
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "daemon_test_fixture.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using warmup::test::Daemon;
using warmup::test::poll_until;

const std::string kBudgetsAndCatalog =
    "budgets: {memory_mb: 4096, max_concurrent_warmups: 1}\n"
    "catalog:\n"
    "  - {model: \"phi3:mini\", memory_mb: 2300, load_ms: 50}\n";

/// `ascii` as Windows Notepad and PowerShell save "Unicode": UTF-16 little-endian behind its byte-order mark.
std::string as_utf16_with_mark(const std::string& ascii) {
    std::string out = "\xff\xfe";
    for (const char c : ascii) out += {c, '\0'};
    return out;
}

/// Runs build/bin/`program` with `args` to its end: its exit code (-1 when it did not exit in time) and its output.
std::pair<int, std::string> run_to_end(const std::string& program, const std::vector<std::string>& args) {
    Daemon process(args, Daemon::Capture::StdoutAndStderr, program);
    const auto status = process.wait_exit(30s);
    EXPECT_TRUE(process.wait_for_log_end(10s));
    return {status && status->exited ? status->code : -1, process.log()};
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t count = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
    return count;
}

class HandWrittenConfigTest : public warmup::test::DaemonTest {
  protected:
    HandWrittenConfigTest() : DaemonTest("warmup-config-daemon-test") {}
};

TEST_F(HandWrittenConfigTest, BudgetsAndACatalogAloneRunOnTheShippedComponents) {
    ASSERT_NO_FATAL_FAILURE(start_daemon(kBudgetsAndCatalog));  // no apiVersion either

    const auto plugins = client_->Get("/api/warmup/plugins");
    ASSERT_TRUE(plugins && plugins->status == 200);
    std::map<std::string, std::string> id_by_slot;
    const json answer = json::parse(plugins->body);
    for (const json& plugin : answer["plugins"])
        id_by_slot[plugin["slot"].get<std::string>()] = plugin["id"].get<std::string>();
    EXPECT_EQ(id_by_slot, (std::map<std::string, std::string>{
                              {"analyzer", "org.warmup.analyzer.usage-pattern"},
                              {"predictor", "org.warmup.predictor.cost-curve"},
                              {"performance", "org.warmup.performance.calibrated"},
                              {"scheduler", "org.warmup.scheduler.lead-time"},
                              {"resource", "org.warmup.resource.value"},
                              {"queue", "org.warmup.queue.priority"},
                              {"metrics", "org.warmup.metrics.prometheus"},
                              {"backend", "org.warmup.backend.sim"},
                          }));

    const auto posted = client_->Post("/api/warmup/events", "{\"model\":\"phi3:mini\"}", "application/json");
    ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
    json status;
    const bool warm = poll_until(
        [&] {
            const auto answer = client_->Get("/api/warmup/status");
            if (!answer || answer->status != 200) return false;
            status = json::parse(answer->body, nullptr, false);
            if (!status.is_object()) return false;
            for (const json& model : status["warm"])
                if (model["model"] == "phi3:mini") return true;
            return false;
        },
        10s, 20ms);
    EXPECT_TRUE(warm) << "phi3:mini never became warm: " << status.dump(2);
    EXPECT_DOUBLE_EQ(status["budget_mb"].get<double>(), 4096);

    // Read as warmup/v1, said once.
    EXPECT_EQ(occurrences(daemon_->log(), "CONFIG_NOTICE"), 1u) << daemon_->log();
    EXPECT_NE(daemon_->log().find("no apiVersion, read as warmup/v1"), std::string::npos) << daemon_->log();
}

TEST_F(HandWrittenConfigTest, AWrittenApiVersionV1IsReadWithoutANotice) {
    ASSERT_NO_FATAL_FAILURE(start_daemon("apiVersion: warmup/v1\n" + kBudgetsAndCatalog));
    EXPECT_TRUE(daemon_->wait_for_log("STARTUP", 10s)) << daemon_->log();
    EXPECT_EQ(daemon_->log().find("CONFIG_NOTICE"), std::string::npos) << daemon_->log();
}

TEST(HandWrittenConfig, AnotherApiVersionStopsWarmupdWithExit2) {
    warmup::test::TempDir dir("warmup-config-v2");
    const auto file = dir.write("v2.yaml", "apiVersion: warmup/v2\n" + kBudgetsAndCatalog);
    Daemon daemon({"--config", file.string(), "--port", "0"});
    const auto status = daemon.wait_exit(30s);
    ASSERT_TRUE(status.has_value()) << daemon.log();
    EXPECT_TRUE(status->exited);
    EXPECT_EQ(status->code, 2);
    EXPECT_TRUE(daemon.wait_for_log_end(10s));
    EXPECT_NE(daemon.log().find("CONFIG_ERROR " + file.string() +
                                ":1:1: apiVersion: apiVersion 'warmup/v2' is not supported; this warmupd reads "
                                "warmup/v1"),
              std::string::npos)
        << daemon.log();
}

TEST_F(HandWrittenConfigTest, AFileThatIsNotUtf8TextIsRefusedAsSuchAtStartReloadReplayAndValidate) {
    // A UTF-8 byte-order mark is valid YAML: warmupd starts on such a file.
    ASSERT_NO_FATAL_FAILURE(start_daemon("\xef\xbb\xbf" + kBudgetsAndCatalog));
    EXPECT_TRUE(daemon_->wait_for_log("STARTUP", 10s)) << daemon_->log();

    // The same file saved as UTF-16: a reload refuses it and the running configuration stays.
    const auto file = dir_.write("warmupd.yaml", as_utf16_with_mark(kBudgetsAndCatalog));
    const std::string not_utf8 = file.string() +
                                 ":1:1: not UTF-8 text: it starts with a UTF-16 (little-endian) byte-order mark; save "
                                 "the file as UTF-8";
    const auto reload = client_->Post("/api/warmup/config/reload", "{}", "application/json");
    ASSERT_TRUE(reload);
    EXPECT_EQ(reload->status, 400) << reload->body;
    EXPECT_EQ(json::parse(reload->body, nullptr, false).value("error", ""), not_utf8) << reload->body;
    const auto status = client_->Get("/api/warmup/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->status, 200);

    // Every other reader of a configuration file refuses it the same way, with exit status 2.
    const auto [warmupd_code, warmupd_output] = run_to_end("warmupd", {"--config", file.string(), "--port", "0"});
    EXPECT_EQ(warmupd_code, 2) << warmupd_output;
    EXPECT_NE(warmupd_output.find("CONFIG_ERROR " + not_utf8), std::string::npos) << warmupd_output;
    const auto trace = dir_.write("trace.csv", "ts_ms,model\n1700000000000,phi3:mini\n");
    const auto [replay_code, replay_output] = run_to_end(
        "warmup-replay",
        {"--config", file.string(), "--trace", "csv:" + trace.string(), "--out", (dir_.path() / "replay").string()});
    EXPECT_EQ(replay_code, 2) << replay_output;
    EXPECT_NE(replay_output.find("CONFIG_ERROR " + not_utf8), std::string::npos) << replay_output;
    const auto [validate_code, validate_output] = run_to_end("warmupctl", {"validate", "--config", file.string()});
    EXPECT_EQ(validate_code, 2) << validate_output;
    EXPECT_NE(validate_output.find("CONFIG_ERROR " + not_utf8), std::string::npos) << validate_output;

    // A NUL byte, here after the last line, is placed where it is.
    const auto with_nul = dir_.write("nul.yaml", kBudgetsAndCatalog + std::string(1, '\0'));
    const auto [nul_code, nul_output] = run_to_end("warmupd", {"--config", with_nul.string(), "--port", "0"});
    EXPECT_EQ(nul_code, 2) << nul_output;
    EXPECT_NE(nul_output.find("CONFIG_ERROR " + with_nul.string() + ":4:1: not UTF-8 text: it contains NUL bytes"),
              std::string::npos)
        << nul_output;
}

TEST(HandWrittenConfig, WarmupReplayNamesAMistypedOptionBeforeAMissingOne) {
    // CLI11 checks required options before unknown ones: "--bogus" alone was answered "--config is required".
    const auto [bogus_code, bogus_output] = run_to_end("warmup-replay", {"--bogus"});
    EXPECT_EQ(bogus_code, 2) << bogus_output;
    EXPECT_NE(bogus_output.find("not expected: --bogus"), std::string::npos) << bogus_output;
    const auto [missing_code, missing_output] = run_to_end("warmup-replay", {"--config", "x.yaml"});
    EXPECT_EQ(missing_code, 2) << missing_output;
    EXPECT_NE(missing_output.find("--trace is required"), std::string::npos) << missing_output;
}

TEST(HandWrittenConfig, AnArmListingOneSlotIsCreatedWithTheOthersInherited) {
    warmup::test::TempDir dir("warmup-config-arm");
    const auto file = dir.write("arm.yaml", "apiVersion: warmup/v1\n" + kBudgetsAndCatalog +
                                                "arms:\n"
                                                "  - name: keep-alive\n"
                                                "    components: {predictor: {plugin: org.warmup.predictor.keep-alive,"
                                                " params: {ttl_ms: 60000}}}\n"
                                                "  - name: short-queue\n"
                                                "    components: {queue: {params: {capacity: 16}}}\n");
    Daemon validate({"validate", "--config", file.string()}, Daemon::Capture::StdoutAndStderr, "warmupctl");
    const auto status = validate.wait_exit(30s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(validate.wait_for_log_end(10s));
    const std::string output = validate.log();
    ASSERT_EQ(status->code, 0) << output;
    const auto arm = output.find("arm keep-alive");
    const auto second_arm = output.find("arm short-queue");
    ASSERT_NE(arm, std::string::npos) << output;
    ASSERT_NE(second_arm, std::string::npos) << output;
    const std::string keep_alive_arm = output.substr(arm, second_arm - arm);
    EXPECT_NE(keep_alive_arm.find("predictor          org.warmup.predictor.keep-alive@"), std::string::npos) << output;
    EXPECT_NE(keep_alive_arm.find("backend            org.warmup.backend.sim@"), std::string::npos) << output;
    EXPECT_NE(keep_alive_arm.find("queue              org.warmup.queue.priority@"), std::string::npos) << output;
    const std::string short_queue_arm = output.substr(second_arm);
    EXPECT_NE(short_queue_arm.find("predictor          org.warmup.predictor.cost-curve@"), std::string::npos) << output;
    EXPECT_NE(short_queue_arm.find("queue              org.warmup.queue.priority@"), std::string::npos) << output;
    EXPECT_EQ(output.find("notice:"), std::string::npos) << output;
}

}  // namespace
