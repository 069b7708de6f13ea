// Tests of the streaming trace readers (host/replay/trace): formats, errors, ordering, wrappers and A95.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "core/catalog.hpp"
#include "replay/trace/random.hpp"
#include "replay/trace/trace.hpp"
#include "runtime/state/journal.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace warmup::host::replay;
using ::testing::HasSubstr;

namespace {

const fs::path data_dir = fs::path(WARMUP_TEST_SOURCE_DIR) / "tests" / "host" / "replay" / "trace" / "data";
const std::string servegen_dir = (data_dir / "servegen" / "language" / "tiny").string();
const std::string azure_file = (data_dir / "azure" / "invocations_per_function_md.anon.d02.csv").string();

std::vector<TraceEvent> read_all(TraceReader& reader) {
    std::vector<TraceEvent> events;
    TraceEvent event;
    while (reader.next(event)) events.push_back(event);
    return events;
}

/// An event with names instead of ids, to compare traces read into different tables.
using NamedEvent = std::tuple<int64_t, std::string, uint32_t, std::string>;

std::vector<NamedEvent> named(const std::vector<TraceEvent>& events, const ModelNames& models,
                              const ModelNames& tenants) {
    std::vector<NamedEvent> result;
    for (const TraceEvent& e : events)
        result.emplace_back(e.ts_ms, models.name(e.model), e.count, tenants.name(e.tenant));
    return result;
}

/// A trace from a vector, for the wrappers.
class VectorReader final : public TraceReader {
  public:
    explicit VectorReader(std::vector<TraceEvent> events) : events_(std::move(events)) {}
    bool next(TraceEvent& out) override {
        if (position_ == events_.size()) return false;
        out = events_[position_++];
        return true;
    }
    [[nodiscard]] std::string describe() const override { return "vector"; }

  private:
    std::vector<TraceEvent> events_;
    std::size_t position_ = 0;
};

/// A scratch directory per test, removed at the end.
class TraceTest : public ::testing::Test {
  protected:
    fs::path write_file(const std::string& name, const std::string& text) {
        const fs::path path = scratch_ / name;
        std::ofstream(path, std::ios::binary) << text;
        return path;
    }

    /// The message of the TraceError thrown while opening and reading `spec` fully; "" when none is thrown.
    std::string error_reading(const std::string& spec) {
        try {
            auto reader = open_trace(spec, models_, tenants_, 1);
            read_all(*reader);
        } catch (const TraceError& error) {
            return error.what();
        }
        return "";
    }

    const warmup::test::TempDir scratch_dir_{"warmup-replay-trace"};
    const fs::path scratch_ = scratch_dir_.path();
    ModelNames models_;
    ModelNames tenants_;
};

// ------------------------------------------------------------------------------------------------ journal:DIR

/// A journal as warmupd writes it: two segments (a snapshot rotated it), events out of time order across ingest calls.
TEST_F(TraceTest, JournalFolderIsReadAcrossSegmentsInTimeOrderWithNamesAndTenants) {
    using warmup::host::Catalog;
    using warmup::host::EventJournal;
    Catalog catalog({{"m/*", 100, 10, 1, 1}});
    const auto a = *catalog.resolve("m/a");
    const auto b = *catalog.resolve("m/b");
    {
        EventJournal journal(scratch_, 0);
        journal.append_events(std::vector<warmup_usage_event>{{5000, a, 1, 0, 0}, {3000, b, 2, 0xabcdef01, 0}},
                              catalog);
        journal.rotate(6000);
        journal.append_events(std::vector<warmup_usage_event>{{4000, a, 1, 0, 0}, {7000, b, 1, 0, 0}}, catalog);
        journal.flush();
    }
    write_file("not-a-journal.txt", "ignored");
    auto reader = open_trace("journal:" + scratch_.string(), models_, tenants_, 1);
    const auto events = read_all(*reader);
    const std::vector<NamedEvent> expected{
        {3000, "m/b", 2, "tenant-abcdef01"}, {4000, "m/a", 1, ""}, {5000, "m/a", 1, ""}, {7000, "m/b", 1, ""}};
    EXPECT_EQ(named(events, models_, tenants_), expected);
    EXPECT_THAT(reader->describe(), HasSubstr("(2 segment(s))"));
}

TEST_F(TraceTest, JournalWithATornTailKeepsWhatWasReadBeforeIt) {
    using warmup::host::Catalog;
    using warmup::host::EventJournal;
    Catalog catalog({{"m/*", 100, 10, 1, 1}});
    const auto a = *catalog.resolve("m/a");
    {
        EventJournal journal(scratch_, 0);
        journal.append_events(std::vector<warmup_usage_event>{{1000, a, 1, 0, 0}}, catalog);
        journal.append_events(std::vector<warmup_usage_event>{{2000, a, 1, 0, 0}}, catalog);
        journal.flush();
    }
    const fs::path segment = scratch_ / EventJournal::segment_name(1);
    fs::resize_file(segment, fs::file_size(segment) - 3);
    auto reader = open_trace("journal:" + scratch_.string(), models_, tenants_, 1);
    const auto events = read_all(*reader);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].ts_ms, 1000);
    EXPECT_THAT(reader->describe(), HasSubstr("1 torn or unreadable part(s) skipped"));
}

TEST_F(TraceTest, JournalFolderWithoutSegmentsIsRefused) {
    EXPECT_THAT(error_reading("journal:" + scratch_.string()), HasSubstr("no journal segment"));
    EXPECT_THAT(error_reading("journal:" + (scratch_ / "missing").string()), HasSubstr("not a folder"));
}

// ------------------------------------------------------------------------------------------------ ModelNames

TEST(ModelNamesTest, InternsDenseIdsInOrderOfFirstSight) {
    ModelNames names;
    EXPECT_EQ(names.intern("b"), 0u);
    EXPECT_EQ(names.intern("a"), 1u);
    EXPECT_EQ(names.intern("b"), 0u);
    EXPECT_EQ(names.size(), 2u);
    EXPECT_EQ(names.name(1), "a");
    EXPECT_EQ(names.find("a"), 1u);
    EXPECT_EQ(names.find("c"), std::nullopt);
}

TEST(ModelNamesTest, NamesKeepTheirAddressWhileTheTableGrows) {
    ModelNames names;
    const std::string* first = &names.name(names.intern("x"));
    for (int i = 0; i < 10000; ++i) names.intern("model-" + std::to_string(i));
    EXPECT_EQ(first, &names.name(0));
    EXPECT_EQ(names.find("x"), 0u);
    EXPECT_EQ(names.find("model-9999"), 10000u);
}

// ------------------------------------------------------------------------------------------------------- csv

TEST_F(TraceTest, CsvReadsEventsWithDefaultsAndTenants) {
    auto reader = open_trace("csv:" + (data_dir / "good.csv").string(), models_, tenants_, 1);
    const auto events = named(read_all(*reader), models_, tenants_);
    const std::vector<NamedEvent> expected = {
        {0, "llama3:8b", 1, "acme"}, {0, "mistral:7b", 3, ""}, {1500, "llama3:8b", 2, "globex"},
        {1500, "llama3:8b", 1, ""},  {2000, "phi3", 1, ""},
    };
    EXPECT_EQ(events, expected);
    EXPECT_EQ(tenants_.name(0), "");
    TraceEvent extra;
    EXPECT_FALSE(reader->next(extra));  // stays at the end
}

TEST_F(TraceTest, CsvRelativePathIsTakenFromBaseDir) {
    auto reader = open_trace("csv:good.csv", models_, tenants_, 1, data_dir);
    EXPECT_EQ(read_all(*reader).size(), 5u);
}

TEST_F(TraceTest, CsvHeaderWithoutOptionalColumns) {
    const fs::path path = write_file("two.csv", "ts_ms,model\n5,a\n7,b\n");
    auto reader = open_trace("csv:" + path.string(), models_, tenants_, 1);
    const auto events = named(read_all(*reader), models_, tenants_);
    EXPECT_EQ(events, (std::vector<NamedEvent>{{5, "a", 1, ""}, {7, "b", 1, ""}}));
}

TEST_F(TraceTest, CsvHeaderAfterAByteOrderMarkIsRead) {
    // Spreadsheets save UTF-8 with a byte order mark before the header.
    const fs::path path = write_file("bom.csv", "\xEF\xBB\xBFts_ms,model\n5,a\n");
    auto reader = open_trace("csv:" + path.string(), models_, tenants_, 1);
    EXPECT_EQ(named(read_all(*reader), models_, tenants_), (std::vector<NamedEvent>{{5, "a", 1, ""}}));
}

TEST_F(TraceTest, CsvQuotedModelNameIsNamed) {
    const fs::path path = write_file("trace.csv", "ts_ms,model\n5,\"team/a\"\n");
    EXPECT_THAT(error_reading("csv:" + path.string()), HasSubstr("trace.csv:2: quoted model name \"team/a\""));
}

TEST_F(TraceTest, CsvUnsortedLineIsNamed) {
    const fs::path path = write_file("trace.csv", "ts_ms,model,count\n1500,a,1\n1200,b,1\n");
    EXPECT_EQ(error_reading("csv:" + path.string()),
              path.string() +
                  ":3: timestamp 1200 is earlier than the previous line's 1500 (the file must be sorted by time)");
}

TEST_F(TraceTest, CsvBadTimestampIsNamed) {
    const fs::path path = write_file("trace.csv", "ts_ms,model\n10,a\n1.5,a\n");
    EXPECT_THAT(error_reading("csv:" + path.string()), HasSubstr("trace.csv:3: bad timestamp '1.5'"));
}

TEST_F(TraceTest, CsvBadCountIsNamed) {
    const fs::path path = write_file("trace.csv", "ts_ms,model,count\n10,a,x2\n");
    EXPECT_THAT(error_reading("csv:" + path.string()), HasSubstr("trace.csv:2: bad count 'x2'"));
}

TEST_F(TraceTest, CsvZeroCountIsRejected) {
    const fs::path path = write_file("trace.csv", "ts_ms,model,count\n10,a,1\n11,a,0\n");
    EXPECT_THAT(error_reading("csv:" + path.string()), HasSubstr("trace.csv:3: count 0"));
}

TEST_F(TraceTest, CsvEmptyModelIsRejected) {
    const fs::path path = write_file("trace.csv", "ts_ms,model,count\n10,,1\n");
    EXPECT_THAT(error_reading("csv:" + path.string()), HasSubstr("trace.csv:2: empty model name"));
}

TEST_F(TraceTest, CsvTimestampYearsAfterTheFirstIsRefusedBeforeTheReplayRunsOutOfMemory) {
    // One line in microseconds among milliseconds: the trace would span 53,000 years of timeline.
    const fs::path path =
        write_file("trace.csv", "ts_ms,model\n1733000000000,a\n1733000060000,b\n1733000120000000,a\n");
    EXPECT_THAT(error_reading("csv:" + path.string()),
                HasSubstr("trace.csv:4: timestamp 1733000120000000 is more than 8,000 years from the epoch (is it in "
                          "microseconds or nanoseconds? traces count milliseconds)"));
    // Within those years, more than two years after the first line.
    const fs::path three_years = write_file("three.csv", "ts_ms,model\n0,a\n100000000000,a\n");
    EXPECT_THAT(error_reading("csv:" + three_years.string()),
                HasSubstr("three.csv:3: timestamp 100000000000 is 1157 days after the first line's 0: a trace spans "
                          "at most 731 days (is it in microseconds or nanoseconds?)"));
    // Two years of milliseconds are fine.
    const fs::path two_years = write_file("long.csv", "ts_ms,model\n0,a\n63072000000,a\n");
    EXPECT_EQ(error_reading("csv:" + two_years.string()), "");
    // One line near the end of the 64-bit range (its 10-minute windows would overflow): refused by its line.
    const fs::path far = write_file("far.csv", "ts_ms,model\n9223372036854600000,a\n");
    EXPECT_THAT(error_reading("csv:" + far.string()),
                HasSubstr("far.csv:2: timestamp 9223372036854600000 is more than 8,000 years from the epoch"));
    const fs::path negative = write_file("negative.csv", "ts_ms,model\n-253402300800000,a\n");
    EXPECT_THAT(error_reading("csv:" + negative.string()), HasSubstr("negative.csv:2: timestamp -253402300800000"));
    const fs::path year_9999 = write_file("9999.csv", "ts_ms,model\n253402300799999,a\n");
    EXPECT_EQ(error_reading("csv:" + year_9999.string()), "");
}

TEST_F(TraceTest, TracesInMillisecondsAndMicrosecondsTogetherAreRefusedWhenMerged) {
    // Each file alone is within the bounds; together they would span 50,000 years.
    const fs::path ms = write_file("ms.csv", "ts_ms,model\n1700000000000,m-a\n");
    const fs::path us = write_file("us.csv", "ts_ms,model\n170000000000000,m-b\n");
    std::vector<std::unique_ptr<TraceReader>> sources;
    sources.push_back(open_trace("csv:" + ms.string(), models_, tenants_, 1));
    sources.push_back(open_trace("csv:" + us.string(), models_, tenants_, 1));
    auto bounded = bound_span(merge(std::move(sources)), models_);
    TraceEvent event;
    ASSERT_TRUE(bounded->next(event));
    try {
        bounded->next(event);
        ADD_FAILURE() << "the span over two years was read";
    } catch (const TraceError& error) {
        // The dates say which it is (a unit mistake, or a trace that spans years), and the option that helps.
        EXPECT_THAT(error.what(),
                    HasSubstr("model 'm-b': timestamp 170000000000000 ms (7357-01-31 UTC) is 1947917 days after the "
                              "first event's 1700000000000 ms (2023-11-14 UTC, model 'm-a'): a replay spans at most "
                              "731 days; replay a part of it with --from / --to (--from 170000000000000 starts at this "
                              "event), or, if the trace counts microseconds or nanoseconds, convert it to "
                              "milliseconds"));
    }
    // A timestamp no file reader checks (a wrapper's, or a format without the check) is refused by its size.
    auto far =
        bound_span(std::make_unique<VectorReader>(std::vector<TraceEvent>{{INT64_MAX - 1000, 0, 1, 0}}), models_);
    EXPECT_THROW(far->next(event), TraceError);
}

TEST_F(TraceTest, CsvModelNamesAreCheckedAsWarmupdChecksThem) {
    const fs::path path = write_file("trace.csv", "ts_ms,model\n10,a\n11,a b\x01\n");
    EXPECT_THAT(error_reading("csv:" + path.string()),
                HasSubstr("trace.csv:3: 'model' contains the control character 0x01 at byte 3"));
}

TEST_F(TraceTest, CsvTooManyFieldsIsRejected) {
    const fs::path path = write_file("trace.csv", "ts_ms,model,count\n10,a,1,acme\n");
    EXPECT_THAT(error_reading("csv:" + path.string()),
                HasSubstr("trace.csv:2: 4 fields, but the header declares 3 (ts_ms,model,count)"));
}

TEST_F(TraceTest, CsvBadHeaderIsRejected) {
    const fs::path path = write_file("trace.csv", "time,model\n10,a\n");
    EXPECT_THAT(error_reading("csv:" + path.string()), HasSubstr("trace.csv:1: bad header 'time,model'"));
}

TEST_F(TraceTest, UnknownKindAndMissingFileAreReported) {
    EXPECT_THAT(error_reading("parquet:x"), HasSubstr("unknown trace kind 'parquet'"));
    EXPECT_THAT(error_reading("csv:" + (scratch_ / "absent.csv").string()), HasSubstr("absent.csv: cannot open"));
}

// -------------------------------------------------------------------------------------------------- servegen

/// Sum of counts per (model name, 600 s window).
std::map<std::pair<std::string, int64_t>, uint64_t> counts_per_window(const std::vector<TraceEvent>& events,
                                                                      const ModelNames& models) {
    std::map<std::pair<std::string, int64_t>, uint64_t> counts;
    for (const TraceEvent& e : events) counts[{models.name(e.model), e.ts_ms / 600000}] += e.count;
    return counts;
}

TEST_F(TraceTest, ServeGenNamesModelsAfterTheFolderInClientOrder) {
    auto reader = open_trace("servegen:" + servegen_dir + "/", models_, tenants_, 1);
    ASSERT_EQ(models_.size(), 2u);
    EXPECT_EQ(models_.name(0), "language/tiny/chunk-2");  // numeric order: 2 before 10
    EXPECT_EQ(models_.name(1), "language/tiny/chunk-10");
    EXPECT_THAT(reader->describe(), HasSubstr("2 clients, seed 1"));
}

TEST_F(TraceTest, ServeGenGeneratesCeilRateTimesWindowArrivalsPerWindow) {
    auto reader = open_trace("servegen:" + servegen_dir + "?phase=window", models_, tenants_, 42);
    const auto counts = counts_per_window(read_all(*reader), models_);
    // rate 0.1 -> 60; idle -> none; 0.035 x 600 = 21.000000000000004 in doubles -> 21; 1.5 -> 900; 0.05 -> 30.
    const std::map<std::pair<std::string, int64_t>, uint64_t> expected = {
        {{"language/tiny/chunk-2", 0}, 60},
        {{"language/tiny/chunk-2", 2}, 21},
        {{"language/tiny/chunk-10", 1}, 900},
        {{"language/tiny/chunk-10", 2}, 30},
    };
    EXPECT_EQ(counts, expected);
}

TEST_F(TraceTest, ServeGenEventsAreWholeSecondsOnePerModelAndSecondInOrder) {
    auto reader = open_trace("servegen:" + servegen_dir + "?phase=window", models_, tenants_, 42);
    const auto events = read_all(*reader);
    ASSERT_FALSE(events.empty());
    std::set<std::pair<int64_t, uint32_t>> seen;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const TraceEvent& e = events[i];
        EXPECT_EQ(e.ts_ms % 1000, 0);
        EXPECT_GE(e.count, 1u);
        EXPECT_EQ(e.tenant, 0u);
        EXPECT_TRUE(seen.insert({e.ts_ms, e.model}).second) << "two events for one model in second " << e.ts_ms;
        if (i > 0) {
            const TraceEvent& p = events[i - 1];
            EXPECT_TRUE(p.ts_ms < e.ts_ms || (p.ts_ms == e.ts_ms && p.model < e.model)) << "out of order at " << i;
        }
        // Windows of chunk-2: [0, 600) s and [1200, 1800) s; of chunk-10: [600, 1800) s.
        const int64_t second = e.ts_ms / 1000;
        if (models_.name(e.model) == "language/tiny/chunk-2") {
            EXPECT_TRUE(second < 600 || (second >= 1200 && second < 1800)) << second;
        } else {
            EXPECT_TRUE(second >= 600 && second < 1800) << second;
        }
    }
    // 900 arrivals in 600 s cannot fit one per second: some seconds were merged.
    EXPECT_LT(events.size(), 60u + 21u + 900u + 30u);
}

TEST_F(TraceTest, ServeGenIsDeterministicForASeedAndVariesAcrossSeeds) {
    const auto run = [&](uint64_t seed) {
        ModelNames models, tenants;
        auto reader = open_trace("servegen:" + servegen_dir, models, tenants, seed);
        return read_all(*reader);
    };
    const auto first = run(7);
    EXPECT_EQ(first, run(7));
    EXPECT_NE(first, run(8));
}

TEST_F(TraceTest, ServeGenDoesNotDependOnModelIdOrder) {
    auto reader = open_trace("servegen:" + servegen_dir, models_, tenants_, 5);
    auto events = named(read_all(*reader), models_, tenants_);

    ModelNames reordered, tenants;
    reordered.intern("unrelated");
    reordered.intern("language/tiny/chunk-10");  // ids now differ from the directory order
    auto other = open_trace("servegen:" + servegen_dir, reordered, tenants, 5);
    auto other_events = named(read_all(*other), reordered, tenants);
    std::sort(events.begin(), events.end());
    std::sort(other_events.begin(), other_events.end());
    EXPECT_EQ(events, other_events);
}

/// The events of one model, as (ts_ms, count), in stream order.
std::vector<std::pair<int64_t, uint32_t>> events_of(const std::vector<TraceEvent>& events, const ModelNames& models,
                                                    std::string_view name) {
    std::vector<std::pair<int64_t, uint32_t>> out;
    for (const TraceEvent& e : events)
        if (models.name(e.model) == name) out.emplace_back(e.ts_ms, e.count);
    return out;
}

TEST_F(TraceTest, ServeGenRunPhaseIsTheDefaultAndShiftsEachRunAsAWhole) {
    const auto read = [&](const std::string& spec, ModelNames& models) {
        ModelNames tenants;
        auto reader = open_trace(spec, models, tenants, 42);
        return read_all(*reader);
    };
    ModelNames window_models, run_models, default_models;
    const auto on_grid = read("servegen:" + servegen_dir + "?phase=window", window_models);
    const auto shifted = read("servegen:" + servegen_dir + "?phase=run", run_models);
    EXPECT_EQ(shifted, read("servegen:" + servegen_dir, default_models));

    // chunk-2 has two runs ([0, 600) s and [1200, 1800) s), chunk-10 one run of two windows ([600, 1800) s). Each run
    // keeps its arrival draws and moves by one offset in [0, 600) s; the two runs of chunk-2 move independently.
    std::vector<int64_t> offsets;
    for (const std::string model : {"language/tiny/chunk-2", "language/tiny/chunk-10"}) {
        const auto grid = events_of(on_grid, window_models, model);
        const auto moved = events_of(shifted, run_models, model);
        ASSERT_EQ(grid.size(), moved.size()) << model;
        ASSERT_FALSE(grid.empty());
        int64_t run_offset = -1;
        for (std::size_t i = 0; i < grid.size(); ++i) {
            EXPECT_EQ(grid[i].second, moved[i].second) << model << " event " << i;
            const int64_t offset = moved[i].first - grid[i].first;
            EXPECT_GE(offset, 0);
            EXPECT_LT(offset, 600000);
            const bool run_starts = i == 0 || grid[i].first / 600000 > grid[i - 1].first / 600000 + 1;
            if (run_starts) {
                run_offset = offset;
                offsets.push_back(offset);
            }
            EXPECT_EQ(offset, run_offset) << model << " event " << i << " left its run's offset";
        }
    }
    ASSERT_EQ(offsets.size(), 3u);  // two runs of chunk-2, one of chunk-10
    EXPECT_NE(offsets[0], offsets[1]);
    EXPECT_NE(offsets[0] % 1000, 0);  // ms resolution: off the whole-second grid (fails 1 time in 1000 seeds)

    // Still one time-ordered stream.
    for (std::size_t i = 1; i < shifted.size(); ++i) ASSERT_LE(shifted[i - 1].ts_ms, shifted[i].ts_ms);
}

TEST_F(TraceTest, ServeGenUnknownOptionIsNamed) {
    EXPECT_THAT(error_reading("servegen:" + servegen_dir + "?phase=grid"),
                HasSubstr("unknown servegen option 'phase=grid' (expected phase=run or phase=window)"));
}

TEST_F(TraceTest, ServeGenOverlappingWindowIsNamed) {
    const fs::path dir = scratch_ / "cat" / "bad";
    fs::create_directories(dir);
    std::ofstream(dir / "chunk-1-trace.csv") << "0,0,0,,0,0\n600,0.1,1,Gamma,1,1\n900,0.1,1,Gamma,1,1\n";
    EXPECT_THAT(
        error_reading("servegen:" + dir.string()),
        HasSubstr("chunk-1-trace.csv:3: window start 900 s is less than 600 s after the previous window's 600 s"));
}

TEST_F(TraceTest, ServeGenUnknownDistributionIsNamed) {
    const fs::path dir = scratch_ / "cat" / "bad";
    fs::create_directories(dir);
    std::ofstream(dir / "chunk-1-trace.csv") << "0,0.1,1,Lognormal,1,1\n";
    EXPECT_THAT(error_reading("servegen:" + dir.string()),
                HasSubstr("chunk-1-trace.csv:1: unknown distribution 'Lognormal'"));
}

// ----------------------------------------------------------------------------------------------------- azure

TEST_F(TraceTest, AzureKeepsEveryMinutesCountInsideItsMinute) {
    auto reader = open_trace("azure2019:" + azure_file, models_, tenants_, 3);
    const auto events = read_all(*reader);
    constexpr int64_t day2_ms = 86400000;
    std::map<std::pair<std::string, int64_t>, uint64_t> per_minute;  // (model, minute 1..1440) -> invocations
    std::set<std::pair<int64_t, uint32_t>> seen;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const TraceEvent& e = events[i];
        ASSERT_GE(e.ts_ms, day2_ms);
        EXPECT_EQ(e.ts_ms % 1000, 0);
        EXPECT_TRUE(seen.insert({e.ts_ms, e.model}).second);
        if (i > 0) {
            EXPECT_TRUE(events[i - 1].ts_ms < e.ts_ms ||
                        (events[i - 1].ts_ms == e.ts_ms && events[i - 1].model < e.model));
        }
        per_minute[{models_.name(e.model), (e.ts_ms - day2_ms) / 60000 + 1}] += e.count;
    }
    const std::map<std::pair<std::string, int64_t>, uint64_t> expected = {
        {{"app1/func1", 1}, 5}, {{"app1/func1", 3}, 120},  {{"app1/func1", 1440}, 1},
        {{"app1/func2", 1}, 2}, {{"app2/func1", 2}, 7000},
    };
    EXPECT_EQ(per_minute, expected);
    // 7,000 invocations in one minute: every one of its 60 seconds is hit, one event each.
    EXPECT_EQ(std::count_if(events.begin(), events.end(),
                            [&](const TraceEvent& e) { return models_.name(e.model) == "app2/func1"; }),
              60);
}

TEST_F(TraceTest, AzureTenantIsTheOwner) {
    auto reader = open_trace("azure2019:" + azure_file, models_, tenants_, 3);
    for (const TraceEvent& e : read_all(*reader)) {
        const std::string& model = models_.name(e.model);
        EXPECT_EQ(tenants_.name(e.tenant), model.starts_with("app2/") ? "owner2" : "owner1") << model;
    }
}

TEST_F(TraceTest, AzureIsDeterministicForASeedAndVariesAcrossSeeds) {
    const auto run = [&](uint64_t seed) {
        ModelNames models, tenants;
        auto reader = open_trace("azure2019:" + azure_file, models, tenants, seed);
        return read_all(*reader);
    };
    EXPECT_EQ(run(11), run(11));
    EXPECT_NE(run(11), run(12));
}

TEST_F(TraceTest, AzureFileNameMustCarryTheDay) {
    const fs::path copy = scratch_ / "invocations.csv";
    fs::copy_file(azure_file, copy);
    EXPECT_THAT(error_reading("azure2019:" + copy.string()), HasSubstr("cannot tell the day"));
}

TEST_F(TraceTest, AzureShortRowIsNamed) {
    std::string text = "HashOwner,HashApp,HashFunction,Trigger";
    for (int m = 1; m <= 1440; ++m) text.append(",").append(std::to_string(m));
    text += "\no,a,f,http,1,2,3\n";
    const fs::path path = write_file("x.d01.csv", text);
    EXPECT_THAT(error_reading("azure2019:" + path.string()), HasSubstr("x.d01.csv:2: 3 minute counts, expected 1440"));
}

// -------------------------------------------------------------------------------------------- merge and clip

TEST(TraceWrappersTest, MergeOrdersByTimeThenModelId) {
    std::vector<std::unique_ptr<TraceReader>> sources;
    sources.push_back(
        std::make_unique<VectorReader>(std::vector<TraceEvent>{{0, 2, 1, 0}, {10, 5, 1, 0}, {30, 1, 1, 0}}));
    sources.push_back(std::make_unique<VectorReader>(std::vector<TraceEvent>{{0, 1, 2, 0}, {10, 3, 2, 0}}));
    sources.push_back(std::make_unique<VectorReader>(std::vector<TraceEvent>{}));
    sources.push_back(std::make_unique<VectorReader>(std::vector<TraceEvent>{{10, 5, 3, 0}, {20, 0, 3, 0}}));
    auto merged = merge(std::move(sources));
    const std::vector<TraceEvent> expected = {{0, 1, 2, 0},  {0, 2, 1, 0},  {10, 3, 2, 0}, {10, 5, 1, 0},
                                              {10, 5, 3, 0}, {20, 0, 3, 0}, {30, 1, 1, 0}};
    EXPECT_EQ(read_all(*merged), expected);
}

TEST(TraceWrappersTest, ClipKeepsTheHalfOpenInterval) {
    auto clipped = clip(std::make_unique<VectorReader>(
                            std::vector<TraceEvent>{{999, 0, 1, 0}, {1000, 1, 1, 0}, {1500, 0, 1, 0}, {2000, 1, 1, 0}}),
                        1000, 2000);
    EXPECT_EQ(read_all(*clipped), (std::vector<TraceEvent>{{1000, 1, 1, 0}, {1500, 0, 1, 0}}));
}

TEST(TraceWrappersTest, ClipThatKeepsNothingSaysWhereTheEventsAre) {
    const std::vector<TraceEvent> events = {{1700000000000, 0, 1, 0}, {1700000600000, 0, 1, 0}};
    const auto message = [&](int64_t from_ms, int64_t to_ms) -> std::string {
        auto clipped = clip(std::make_unique<VectorReader>(events), from_ms, to_ms);
        try {
            read_all(*clipped);
        } catch (const TraceError& error) {
            return error.what();
        }
        return "";
    };
    // An epoch-ms trace clipped with `--to 1h`: every event is after the range.
    EXPECT_THAT(message(INT64_MIN, 3600000),
                HasSubstr("no event in the chosen time range [-, 3600000 ms): its first event is at 1700000000000 ms"));
    EXPECT_THAT(message(1800000000000, INT64_MAX),
                HasSubstr("[1800000000000 ms, -): its events run from 1700000000000 ms to 1700000600000 ms"));
    // A range between two events keeps nothing either; a trace with no event is not an error here.
    EXPECT_THAT(message(1700000000001, 1700000600000),
                HasSubstr("it has an event at 1700000000000 ms and the next at 1700000600000 ms"));
    auto empty = clip(std::make_unique<VectorReader>(std::vector<TraceEvent>{}), 0, 10);
    EXPECT_TRUE(read_all(*empty).empty());
}

// ------------------------------------------------------------------------------------------------------ dump

TEST_F(TraceTest, DumpOfServeGenReadsBackAsTheSameEvents) {
    auto original = open_trace("servegen:" + servegen_dir, models_, tenants_, 9);
    const fs::path dump = scratch_ / "dump.csv";
    {
        std::ofstream out(dump, std::ios::binary);
        write_events_csv(*original, models_, tenants_, out);
    }
    auto again = open_trace("servegen:" + servegen_dir, models_, tenants_, 9);
    const auto expected = named(read_all(*again), models_, tenants_);

    ModelNames models, tenants;
    auto replayed = open_trace("csv:" + dump.string(), models, tenants, 0);
    EXPECT_EQ(named(read_all(*replayed), models, tenants), expected);
}

TEST_F(TraceTest, DumpKeepsTenantsAndWritesTheNativeHeader) {
    auto original = open_trace("csv:" + (data_dir / "good.csv").string(), models_, tenants_, 1);
    std::ostringstream out;
    write_events_csv(*original, models_, tenants_, out);
    EXPECT_EQ(out.str(),
              "ts_ms,model,count,tenant\n0,llama3:8b,1,acme\n0,mistral:7b,3,\n1500,llama3:8b,2,globex\n"
              "1500,llama3:8b,1,\n2000,phi3,1,\n");
}

TEST(TraceWrappersTest, DumpRefusesANameWithAComma) {
    ModelNames models, tenants;
    tenants.intern("");
    models.intern("a,b");
    VectorReader reader({{0, 0, 1, 0}});
    std::ostringstream out;
    EXPECT_THROW(write_events_csv(reader, models, tenants, out), std::invalid_argument);
}

// ------------------------------------------------------------------------------------------------------- A95

TEST(ConcurrentDemandTest, NearestRankP95OverWindowsIncludingEmptyOnes) {
    // Models: 0 = 100 MB, 1 = 50 MB, 2 = 10 MB. Windows of 1 s, from window 0 to window 19 (20 windows).
    VectorReader reader({
        {0, 0, 1, 0},
        {500, 1, 1, 0},  // window 0: 150
        {5000, 0, 1, 0},
        {5100, 0, 4, 0},
        {5200, 1, 1, 0},
        {5900, 2, 1, 0},   // window 5: 160 (model 0 once)
        {7000, 2, 1, 0},   // window 7: 10
        {19999, 0, 1, 0},  // window 19: 100
    });
    const std::vector<double> memory_mb = {100, 50, 10};
    // Sorted demands: 16 x 0, 10, 100, 150, 160. Rank ceil(0.95 x 20) = 19 -> 150.
    EXPECT_DOUBLE_EQ(concurrent_demand_p95_mb(
                         reader, [&](uint32_t m) { return memory_mb[m]; }, 1000),
                     150.0);
}

TEST(ConcurrentDemandTest, SmallTraceTakesTheMaximumAndEmptyTraceIsZero) {
    // 3 windows: rank ceil(2.85) = 3 -> the largest.
    VectorReader reader({{0, 0, 1, 0}, {1200000, 1, 1, 0}});
    EXPECT_DOUBLE_EQ(concurrent_demand_p95_mb(reader, [](uint32_t m) { return m == 0 ? 7.0 : 3.0; }), 7.0);
    VectorReader empty({});
    EXPECT_DOUBLE_EQ(concurrent_demand_p95_mb(empty, [](uint32_t) { return 1.0; }), 0.0);
}

// ---------------------------------------------------------------------------------------------- distributions

double mean_of(const std::function<double(RandomStream&)>& sample, uint64_t seed) {
    RandomStream random(seed);
    double sum = 0;
    constexpr int draws = 200000;
    for (int i = 0; i < draws; ++i) sum += sample(random);
    return sum / draws;
}

TEST(RandomTest, GammaMeanIsShapeTimesScaleBelowAndAboveShapeOne) {
    // Standard error of the mean: sqrt(k theta^2 / 200000) <= 0.004; tolerance 0.03.
    EXPECT_NEAR(mean_of(GammaSampler(0.5, 2.0), 1), 1.0, 0.03);
    EXPECT_NEAR(mean_of(GammaSampler(3.0, 0.5), 2), 1.5, 0.03);
}

TEST(RandomTest, WeibullMeanIsScaleTimesGammaOfOnePlusInverseShape) {
    EXPECT_NEAR(mean_of(WeibullSampler(2.0, 1.0), 3), std::tgamma(1.5), 0.01);
    EXPECT_NEAR(mean_of(WeibullSampler(0.5, 1.0), 4), std::tgamma(3.0), 0.15);  // heavy tail: sd 4.5/sqrt(2e5)
}

TEST(RandomTest, ZigguratNormalHasUnitVarianceAndTheRightTail) {
    RandomStream random(9);
    constexpr int draws = 400000;
    double sum = 0, sum_of_squares = 0;
    int beyond_tail_start = 0, beyond_one = 0;
    for (int i = 0; i < draws; ++i) {
        const double x = random.normal();
        sum += x;
        sum_of_squares += x * x;
        beyond_tail_start += std::abs(x) > NormalZiggurat::tail_start;
        beyond_one += std::abs(x) > 1.0;
    }
    EXPECT_NEAR(sum / draws, 0.0, 0.01);
    EXPECT_NEAR(sum_of_squares / draws, 1.0, 0.01);
    // P(|X| > 1) = 0.3173; P(|X| > 3.4426) = 5.76e-4 (about 230 of 400,000; sd 15).
    EXPECT_NEAR(static_cast<double>(beyond_one) / draws, 0.3173, 0.003);
    EXPECT_NEAR(beyond_tail_start, 230, 60);
}

TEST(RandomTest, ZigguratExponentialHasUnitMeanAndTheRightTail) {
    RandomStream random(10);
    constexpr int draws = 400000;
    double sum = 0;
    int beyond_one = 0, beyond_tail_start = 0;
    for (int i = 0; i < draws; ++i) {
        const double x = random.exponential();
        ASSERT_GE(x, 0.0);
        sum += x;
        beyond_one += x > 1.0;
        beyond_tail_start += x > ExponentialZiggurat::tail_start;
    }
    EXPECT_NEAR(sum / draws, 1.0, 0.01);
    // P(E > 1) = 0.3679; P(E > 7.6971) = 4.54e-4 (about 182 of 400,000; sd 13.5).
    EXPECT_NEAR(static_cast<double>(beyond_one) / draws, 0.3679, 0.003);
    EXPECT_NEAR(beyond_tail_start, 182, 55);
}

TEST(RandomTest, BelowStaysInRangeAndCoversIt) {
    RandomStream random(5);
    std::vector<int> hits(60);
    for (int i = 0; i < 60000; ++i) {
        const uint32_t value = random.below(60);
        ASSERT_LT(value, 60u);
        ++hits[value];
    }
    for (int hit : hits) EXPECT_NEAR(hit, 1000, 150);
}

}  // namespace
