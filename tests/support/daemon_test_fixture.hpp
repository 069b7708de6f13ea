// daemon_test_fixture.hpp — the base of tests that drive build/bin/warmupd over HTTP: the daemon started on a
// configuration written to the test's own temporary folder, on a free port, and a client bound to it. The daemon's
// log is printed when the test failed. Needs WARMUP_TEST_BIN_DIR (every warmup_add_test target has it).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace warmup::test {

class DaemonTest : public ::testing::Test {
  protected:
    /// `dir_prefix` names the temporary folder (removed with the test).
    explicit DaemonTest(const std::string& dir_prefix) : dir_(dir_prefix) {}

    /// Writes `yaml` as warmupd.yaml in dir_ and starts warmupd on it with --port 0 plus `extra_args`. The test fails
    /// (fatally: callers check HasFatalFailure()) when the daemon reports no port. Connect timeout 5 s, read 10 s.
    /// Called again, it stops the running daemon (SIGKILL) and starts a new one on the rewritten file.
    void start_daemon(const std::string& yaml, const std::vector<std::string>& extra_args = {}) {
        const auto config = dir_.write("warmupd.yaml", yaml);
        std::vector<std::string> args{"--config", config.string()};
        args.insert(args.end(), extra_args.begin(), extra_args.end());
        start_daemon_with_args(std::move(args));
    }

    /// Starts warmupd with `args` plus --port 0 as they are: without --config it runs on the embedded default.
    void start_daemon_with_args(std::vector<std::string> args) {
        args.insert(args.end(), {"--port", "0"});
        client_.reset();
        daemon_.reset();  // a running daemon is killed before the next one starts on the same folder
        daemon_ = std::make_unique<Daemon>(args);
        port_ = daemon_->wait_until_listening();
        ASSERT_GT(port_, 0) << "warmupd did not report its port; log:\n" << daemon_->log();
        client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
        client_->set_connection_timeout(5);
        client_->set_read_timeout(10);
    }

    void TearDown() override {
        if (HasFailure() && daemon_) std::cerr << "---- warmupd log ----\n" << daemon_->log() << "---- end ----\n";
        client_.reset();
        daemon_.reset();  // SIGKILL and reap if it still runs
    }

    TempDir dir_;
    std::unique_ptr<Daemon> daemon_;
    int port_ = 0;
    std::unique_ptr<httplib::Client> client_;
};

}  // namespace warmup::test
