// org.warmup.source.tail in-process: a file being written, rotated and truncated; bad lines; a full ingest queue;
// a restart that keeps the position in the state folder; its parameters.
#include "tail_source.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "backend_test_support.hpp"
#include "plugin_test_host.hpp"
#include "source_test_support.hpp"
#include "test_support.hpp"

namespace warmup::plugins {
namespace {

namespace fs = std::filesystem;
using test::FakeSourcePoll;

void append(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::app | std::ios::binary);
    out << text;
}

std::string line(const std::string& model, int64_t ts_ms) {
    return "{\"model\": \"" + model + "\", \"timestamp\": " + std::to_string(ts_ms) + "}\n";
}

class TailSourceTest : public ::testing::Test {
  protected:
    std::unique_ptr<TailSource> make(const std::string& extra_params = "start_at: beginning") {
        sdk::Params params("path: " + log.string() + "\n" + extra_params);
        auto source = std::make_unique<TailSource>(host.host(), params);
        params.finish();
        return source;
    }
    /// The models one poll of `source` emits, with the state folder (where the position is kept).
    std::vector<std::string> poll_with_state(TailSource& source) {
        FakeSourcePoll poll(state.string());
        poll.poll(source);
        return models(poll);
    }
    std::vector<std::string> models(const FakeSourcePoll& poll) {
        std::vector<std::string> out;
        for (const auto& event : poll.events) out.push_back(event.model);
        return out;
    }

    test::PluginTestHost host;
    test::TempDir dir{"tail-source"};
    fs::path log = dir.path() / "gateway.json";
    fs::path state = dir.path() / "state";
    static constexpr int64_t kT = 1796217528000;
};

using Models = std::vector<std::string>;

TEST_F(TailSourceTest, OneEventPerLineWithModelTimeAndTenant) {
    append(log, R"({"req": {"model": "llama3:8b"}, "at": "2026-12-02T13:18:48.5Z", "team": "search"})"
                "\n"
                R"({"req": {"model": "phi3:mini"}, "at": 1796217529000})"
                "\n");
    auto source = make(
        "start_at: beginning\nmodel_field: req.model\ntime_field: at\ntenant_field: team\n"
        "poll_interval_ms: 250");
    FakeSourcePoll poll;
    EXPECT_EQ(poll.poll(*source), 250);
    ASSERT_EQ(poll.events.size(), 2u);
    EXPECT_EQ(poll.events[0].model, "llama3:8b");
    EXPECT_EQ(poll.events[0].ts_ms, kT + 500);
    EXPECT_EQ(poll.events[0].tenant, "search");
    EXPECT_EQ(poll.events[0].count, 1u);
    EXPECT_EQ(poll.events[1].model, "phi3:mini");
    EXPECT_EQ(poll.events[1].ts_ms, kT + 1000);
    EXPECT_EQ(poll.events[1].tenant, "");
    EXPECT_TRUE(poll.rejects.empty());
}

TEST_F(TailSourceTest, LinesWithoutTimeAreStampedWithTheReadTime) {
    host.clock.set(kT + 123);
    append(log, "{\"model\": \"m\"}\n");
    auto source = make();
    FakeSourcePoll poll;
    poll.poll(*source);
    ASSERT_EQ(poll.events.size(), 1u);
    EXPECT_EQ(poll.events[0].ts_ms, kT + 123);
}

TEST_F(TailSourceTest, BadLinesAreReportedWithWhereAndWhyAndTheRestGoesOn) {
    append(log, line("a", kT) + "garbage\n" + "{\"nomodel\": 1}\n\n" + line("b", kT + 1));
    auto source = make();
    FakeSourcePoll poll;
    poll.poll(*source);
    EXPECT_EQ(models(poll), (Models{"a", "b"}));
    ASSERT_EQ(poll.rejects.size(), 2u);  // the blank line is no record
    const auto first_bad_at = line("a", kT).size();
    EXPECT_EQ(poll.rejects[0], "'" + log.string() + "' byte " + std::to_string(first_bad_at) + ": not JSON");
    EXPECT_NE(poll.rejects[1].find(": no field 'model'"), std::string::npos) << poll.rejects[1];
    poll.poll(*source);  // nothing new: nothing reported twice
    EXPECT_EQ(poll.rejects.size(), 2u);
    EXPECT_EQ(poll.events.size(), 2u);
}

TEST_F(TailSourceTest, AFullQueueStopsTheSourceWhereItWasAndTheRestComesLater) {
    append(log, line("a", kT) + line("b", kT) + "bad\n" + line("c", kT) + line("d", kT));
    auto source = make();
    FakeSourcePoll poll;
    poll.room = 1;
    EXPECT_EQ(poll.poll(*source), TailSource::kQueueFullRetryMs);
    EXPECT_EQ(models(poll), Models{"a"});
    EXPECT_TRUE(poll.rejects.empty());  // "bad" comes after "b", which was not taken yet
    poll.room = 1;
    poll.poll(*source);
    EXPECT_EQ(models(poll), (Models{"a", "b"}));
    poll.room = SIZE_MAX;
    EXPECT_EQ(poll.poll(*source), 500);
    EXPECT_EQ(models(poll), (Models{"a", "b", "c", "d"}));  // every line once, in file order
    EXPECT_EQ(poll.rejects.size(), 1u);                     // and the bad one reported once
}

TEST_F(TailSourceTest, FollowsTheFileThroughRenameAndTruncation) {
    append(log, line("a", kT));
    // No grace after the rename: the writer here switched files at once (followed_file_test covers the grace).
    auto source = make("start_at: beginning\nrotation_grace_ms: 0");
    FakeSourcePoll poll;
    poll.poll(*source);
    append(log, line("b", kT));
    fs::rename(log, dir.path() / "gateway.json.1");  // logrotate's default: rename, then a new file
    append(log, line("c", kT));
    poll.poll(*source);
    poll.poll(*source);
    EXPECT_EQ(models(poll), (Models{"a", "b", "c"}));
    fs::resize_file(log, 0);  // copytruncate
    append(log, line("d", kT));
    poll.poll(*source);
    EXPECT_EQ(models(poll), (Models{"a", "b", "c", "d"}));
}

TEST_F(TailSourceTest, ARestartReadsOnFromThePositionKeptInTheStateFolder) {
    fs::create_directories(state);
    append(log, line("a", kT) + line("b", kT));
    EXPECT_EQ(poll_with_state(*make()), (Models{"a", "b"}));  // the source is destroyed after its poll: a stop
    ASSERT_TRUE(fs::exists(state / "position.json"));
    append(log, line("c", kT));
    EXPECT_EQ(poll_with_state(*make()), Models{"c"});  // start_at: beginning, yet the saved position wins
}

TEST_F(TailSourceTest, APositionIsKeptOnceTheJournalHoldsItsLinesAndTheLatestAtAStop) {
    fs::create_directories(state);
    append(log, line("a", kT) + line("b", kT));
    auto source = make();
    FakeSourcePoll poll(state.string());
    poll.poll(*source);
    EXPECT_EQ(models(poll), (Models{"a", "b"}));
    // Saved at once, the position ran ahead of the host's journal (written every 500 ms), and a crash then lost the
    // lines in between: nothing is kept until the position is two seconds old.
    EXPECT_FALSE(fs::exists(state / "position.json"));
    host.clock.advance(TailSource::kPositionLagMs - 1);
    poll.poll(*source);
    EXPECT_FALSE(fs::exists(state / "position.json"));
    host.clock.advance(1);
    poll.poll(*source);
    ASSERT_TRUE(fs::exists(state / "position.json"));
    append(log, line("c", kT));
    EXPECT_EQ(poll_with_state(*make()), Models{"c"});  // what a crash now finds: the position after b
    // That instance was destroyed (a stop): the latest position is kept, so nothing is read twice.
    EXPECT_EQ(poll_with_state(*make()), Models{});
}

TEST_F(TailSourceTest, WithoutAStateFolderARestartStartsAfresh) {
    append(log, line("a", kT));
    {
        auto source = make();
        FakeSourcePoll poll;
        poll.poll(*source);
    }
    append(log, line("b", kT));
    auto restarted = make();
    FakeSourcePoll poll;
    poll.poll(*restarted);
    EXPECT_EQ(models(poll), (Models{"a", "b"}));  // start_at: beginning, nothing remembered
}

TEST_F(TailSourceTest, ACorruptPositionFileIsIgnored) {
    fs::create_directories(state);
    std::ofstream(state / "position.json") << "{ not a position";
    append(log, line("a", kT));
    auto source = make();
    FakeSourcePoll poll(state.string());
    poll.poll(*source);
    EXPECT_EQ(models(poll), Models{"a"});
    source.reset();  // a stop keeps the latest position
    std::ifstream saved(state / "position.json");
    const std::string text(std::istreambuf_iterator<char>(saved), {});
    EXPECT_NE(position_from_json(text), std::nullopt) << text;  // replaced by a valid position
}

TEST_F(TailSourceTest, StartAtEndReadsOnlyWhatIsWrittenAfterTheFirstPoll) {
    append(log, line("old", kT));
    auto source = make("");  // default start_at: end
    FakeSourcePoll poll;
    poll.poll(*source);
    append(log, line("new", kT));
    poll.poll(*source);
    EXPECT_EQ(models(poll), Models{"new"});
}

TEST_F(TailSourceTest, AMissingFileIsAFailedPollNamingIt) {
    auto source = make();
    FakeSourcePoll poll;
    const sdk::Error error = test::sdk_error_of([&] { poll.poll(*source); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_NOT_FOUND);  // looked for again every second, not after a growing back-off
    EXPECT_NE(std::string(error.what()).find("cannot open '" + log.string() + "'"), std::string::npos);
    append(log, line("a", kT));
    poll.poll(*source);
    EXPECT_EQ(models(poll), Models{"a"});
}

TEST_F(TailSourceTest, PositionFileRoundTrips) {
    const FilePosition position{"/var/log/x.json",      64769, 1234567, 98765, std::string("{\"a\"\0\xff", 6), false,
                                std::string("}\n\0", 3)};
    EXPECT_EQ(position_from_json(position_to_json(position)), position);
    const FilePosition inside{"/var/log/x.json", 1, 2, 3, "{", /*inside_long_line=*/true, "{"};
    EXPECT_EQ(position_from_json(position_to_json(inside)), inside);
    EXPECT_EQ(position_to_json(position).find("inside_long_line"), std::string::npos);  // as earlier versions wrote
    EXPECT_EQ(position_from_json("{\"path\": \"/x\"}"), std::nullopt);
    // A position of an earlier version (no tail_hex) is read with no bytes before the offset to check.
    const auto earlier =
        position_from_json(R"({"path": "/x", "device": 1, "inode": 2, "offset": 30, "head_hex": "7b"})");
    ASSERT_TRUE(earlier.has_value());
    EXPECT_EQ(earlier->tail, "");
    // More bytes before the offset than the offset itself: not a position.
    EXPECT_EQ(position_from_json(R"({"path": "/x", "device": 1, "inode": 2, "offset": 1, "head_hex": "7b",)"
                                 R"( "tail_hex": "7b7b"})"),
              std::nullopt);
}

TEST_F(TailSourceTest, ParamsAreChecked) {
    const auto refusal = [&](const std::string& yaml) {
        try {
            sdk::Params params(yaml);
            TailSource source(host.host(), params);
            params.finish();
        } catch (const sdk::InvalidArgument& error) {
            return std::string(error.what());
        }
        return std::string("accepted");
    };
    EXPECT_EQ(refusal(""), "params.path: required: the JSON-lines file to follow");
    EXPECT_EQ(refusal("path: relative/file.json"), "params.path: expected an absolute path, got 'relative/file.json'");
    EXPECT_EQ(refusal("path: /x.json\nstart_at: middle"), "params.start_at: 'middle' is not one of: end, beginning");
    EXPECT_EQ(refusal("path: /x.json\nmodel_feld: m"),
              "params.model_feld: unknown parameter; did you mean 'model_field'?");
    EXPECT_EQ(refusal("path: /x.json\npoll_interval_ms: 0"), "params.poll_interval_ms: 0 is outside [10, 60000]");
    EXPECT_EQ(refusal("path: /x.json"), "accepted");
}

}  // namespace
}  // namespace warmup::plugins
