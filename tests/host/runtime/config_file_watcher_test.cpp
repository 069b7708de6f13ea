// reload.watch_file's polling thread (host/runtime/config_file_watcher.cpp) on its own: where a watch turned on starts
// comparing from, and a callback that throws. The reloads it triggers in a runtime are tested in reload_test.cpp.
//
// Every edit changes the file's size as well as its content, so that a change never depends on the file system's
// timestamp granularity. Waits are bounded polls.
#include "runtime/config_file_watcher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "test_support.hpp"

namespace {

using namespace warmup::host;
using namespace std::chrono_literals;
using warmup::test::poll_until;
using warmup::test::TempDir;

constexpr uint32_t kPollMs = 100;
constexpr auto kChangeTimeout = 10s;  // generous: the machine may be busy compiling; success returns at once

TEST(ConfigFileWatcherTest, AnEditSavedBeforeTheWatchIsTurnedOnIsAChangeWhenTheReadStampPredatesIt) {
    TempDir dir("warmup-watcher");
    const auto file = dir.write("watched.yaml", "a: 1\n");
    const FileStamp read_stamp = file_stamp(file);  // as load_config_file takes it, before reading
    dir.write("watched.yaml", "a: 22\n");           // saved while the reload was still under way
    ASSERT_NE(file_stamp(file), read_stamp);

    std::atomic<int> calls{0};
    ConfigFileWatcher watcher;
    watcher.start([&] { calls.fetch_add(1); });
    watcher.configure(file, true, kPollMs, read_stamp);
    EXPECT_TRUE(poll_until([&] { return calls.load() == 1; }, kChangeTimeout));
    std::this_thread::sleep_for(5 * std::chrono::milliseconds(kPollMs));
    EXPECT_EQ(calls.load(), 1) << "one edit, one call";
}

TEST(ConfigFileWatcherTest, WithoutAReadStampTheFileAsItIsWhenTheWatchIsTurnedOnIsTheReference) {
    TempDir dir("warmup-watcher");
    const auto file = dir.write("watched.yaml", "a: 1\n");
    std::atomic<int> calls{0};
    ConfigFileWatcher watcher;
    watcher.start([&] { calls.fetch_add(1); });
    watcher.configure(file, true, kPollMs, std::nullopt);
    std::this_thread::sleep_for(5 * std::chrono::milliseconds(kPollMs));
    EXPECT_EQ(calls.load(), 0);
    dir.write("watched.yaml", "a: 22\n");
    EXPECT_TRUE(poll_until([&] { return calls.load() == 1; }, kChangeTimeout));
}

TEST(ConfigFileWatcherTest, ACallbackThatThrowsIsLoggedAndTheWatchGoesOn) {
    TempDir dir("warmup-watcher");
    const auto file = dir.write("watched.yaml", "a: 1\n");
    std::atomic<int> calls{0};
    ConfigFileWatcher watcher;
    // As warmupd's callback could before its answers were logged with log_text: a type_error out of a strict dump.
    watcher.start([&] {
        if (calls.fetch_add(1) == 0) throw std::runtime_error("invalid UTF-8 byte at index 7: 0xFF");
    });
    watcher.configure(file, true, kPollMs, file_stamp(file));

    dir.write("watched.yaml", "a: 22\n");
    ASSERT_TRUE(poll_until([&] { return calls.load() == 1; }, kChangeTimeout));
    dir.write("watched.yaml", "a: 333\n");  // still watching: the next edit calls back again
    EXPECT_TRUE(poll_until([&] { return calls.load() == 2; }, kChangeTimeout));
}

}  // namespace
