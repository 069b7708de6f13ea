// Hot-swap through the real daemon's public surface: SIGHUP and POST /api/warmup/config/{reload,rollback}.
//
// build/bin/warmupd runs as a child process on a test configuration in a temp folder (--port 0; the port is read
// from its log). Process hygiene: the Daemon's destructor SIGKILLs and reaps the child if it still runs, so a failed
// assertion never leaves a daemon behind; its output goes through a pipe drained by a reader thread.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "hotswap_test_support.hpp"

extern char** environ;

namespace {

using nlohmann::json;
using namespace warmup::hotswap_test;

constexpr auto kStartupTimeout = 20s;  // generous: the machine may be busy compiling; success returns at once
constexpr auto kReloadTimeout = 10s;

/// A warmupd child process and its captured stdout + stderr.
class Daemon {
  public:
    explicit Daemon(const std::vector<std::string>& args) {
        const std::string binary = std::string(WARMUP_TEST_BIN_DIR) + "/warmupd";
        std::vector<std::string> argv_strings{binary};
        argv_strings.insert(argv_strings.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& arg : argv_strings) argv.push_back(arg.data());
        argv.push_back(nullptr);

        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
        const int spawn_error = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        close(fds[1]);  // the child holds the only write end now: EOF means it has exited
        if (spawn_error != 0) {
            close(fds[0]);
            pid_ = -1;
            throw std::runtime_error("posix_spawn " + binary + " failed: " + std::strerror(spawn_error));
        }
        reader_ = std::thread([this, read_fd = fds[0]] { drain(read_fd); });
    }

    ~Daemon() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            int raw = 0;
            waitpid(pid_, &raw, 0);
        }
        if (reader_.joinable()) reader_.join();
    }
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }

    [[nodiscard]] std::string log() const {
        std::lock_guard lock(mutex_);
        return log_;
    }

    /// Waits for the "listening on http://127.0.0.1:<port> " line and returns the port (0 when it never came).
    int wait_until_listening() {
        static const std::regex kListening(R"(listening on http://127\.0\.0\.1:(\d+) )");
        std::unique_lock lock(mutex_);
        std::smatch match;
        const bool found = cv_.wait_for(lock, kStartupTimeout, [&] {
            return std::regex_search(log_, match, kListening) || log_closed_;
        }) && !match.empty();
        return found ? std::stoi(match[1].str()) : 0;
    }

  private:
    void drain(int read_fd) {
        char buffer[4096];
        while (true) {
            const ssize_t got = read(read_fd, buffer, sizeof buffer);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            {
                std::lock_guard lock(mutex_);
                log_.append(buffer, static_cast<std::size_t>(got));
            }
            cv_.notify_all();
        }
        close(read_fd);
        {
            std::lock_guard lock(mutex_);
            log_closed_ = true;
        }
        cv_.notify_all();
    }

    pid_t pid_ = -1;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::string log_;
    bool log_closed_ = false;
    std::thread reader_;
};

class WarmupdReloadTest : public ::testing::Test {
  protected:
    void SetUp() override {
        config_file_ = dir_.write("warmupd.yaml", config_yaml());
        daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"--config", config_file_.string(), "--port", "0"});
        port_ = daemon_->wait_until_listening();
        ASSERT_GT(port_, 0) << "warmupd did not report its port; log:\n" << daemon_->log();
        client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
        client_->set_connection_timeout(5);
        client_->set_read_timeout(10);
    }

    void TearDown() override {
        if (HasFailure() && daemon_) std::cerr << "---- warmupd log ----\n" << daemon_->log() << "---- end ----\n";
        client_.reset();
        daemon_.reset();
    }

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

    TempDir dir_;
    std::filesystem::path config_file_;
    std::unique_ptr<Daemon> daemon_;
    int port_ = 0;
    std::unique_ptr<httplib::Client> client_;
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
    // idle-histogram has no state extension, so the new predictor starts cold and the answer says why.
    EXPECT_EQ(change["state"], "started cold: the old plugin has no state extension");
    ASSERT_TRUE(body["pause_us"].is_number()) << body.dump();
    EXPECT_GE(body["pause_us"].get<double>(), 0.0);
    EXPECT_EQ(body["notes"], json::array());  // nothing restart-only changed
    EXPECT_EQ(served_predictor(), kHybridPredictorId);
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

}  // namespace
