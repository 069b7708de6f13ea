// The decision ring on its own: bounded, newest first, filtered by model and arm, repeated keeps merged, safe to read
// while another thread records.
#include "engine/decision_log.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace warmup::host {
namespace {

Decision made(DecisionKind kind, warmup_model_index model, warmup_time_ms at_ms, std::string decided_by = "p@1",
              std::string arm = "control") {
    Decision decision;
    decision.kind = kind;
    decision.model = model;
    decision.at_ms = at_ms;
    decision.decided_by = std::move(decided_by);
    decision.arm = std::move(arm);
    decision.reason = "test";
    return decision;
}

std::vector<warmup_time_ms> times(const std::vector<Decision>& decisions) {
    std::vector<warmup_time_ms> out;
    for (const Decision& decision : decisions) out.push_back(decision.at_ms);
    return out;
}

TEST(DecisionLog, HoldsAtMostItsCapacityAndDropsTheOldest) {
    DecisionLog log(4);
    for (warmup_time_ms t = 1; t <= 10; ++t) log.record(made(DecisionKind::Unload, 0, t));
    EXPECT_EQ(log.size(), 4u);
    EXPECT_EQ(log.recorded(), 10u);
    EXPECT_EQ(times(log.newest(std::nullopt, 100)), (std::vector<warmup_time_ms>{10, 9, 8, 7}));
}

TEST(DecisionLog, ListsNewestFirstByTimeThenByRecordingOrder) {
    DecisionLog log(16);
    log.record(made(DecisionKind::DemandLoad, 0, 100));
    log.record(made(DecisionKind::Unload, 1, 50));  // a late arrival: older time, recorded later
    log.record(made(DecisionKind::Evict, 2, 100));
    const auto listed = log.newest(std::nullopt, 16);
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[0].kind, DecisionKind::Evict);  // same time as the demand load, recorded after it
    EXPECT_EQ(listed[1].kind, DecisionKind::DemandLoad);
    EXPECT_EQ(listed[2].kind, DecisionKind::Unload);
    EXPECT_GT(listed[0].seq, listed[1].seq);
}

TEST(DecisionLog, FiltersByModelAndArmAndHonoursTheLimit) {
    DecisionLog log(64);
    for (warmup_time_ms t = 0; t < 30; ++t)
        log.record(made(t % 2 == 0 ? DecisionKind::Unload : DecisionKind::Evict, static_cast<warmup_model_index>(t % 3),
                        t, "p@1", t % 5 == 0 ? "shadow" : "control"));
    const auto model_1 = log.newest(warmup_model_index{1}, 100);
    ASSERT_EQ(model_1.size(), 10u);
    for (const Decision& decision : model_1) EXPECT_EQ(decision.model, 1u);
    EXPECT_EQ(model_1.front().at_ms, 28);

    EXPECT_EQ(times(log.newest(warmup_model_index{1}, 3)), (std::vector<warmup_time_ms>{28, 25, 22}));
    EXPECT_EQ(times(log.newest(warmup_model_index{1}, 3, std::string("shadow"))),
              (std::vector<warmup_time_ms>{25, 10}));
    EXPECT_TRUE(log.newest(warmup_model_index{7}, 10).empty());
    EXPECT_TRUE(log.newest(std::nullopt, 0).empty());
}

TEST(DecisionLog, MergesRepeatedKeepsOfAModelIntoItsNewestEntry) {
    DecisionLog log(8);
    log.record(made(DecisionKind::DemandLoad, 0, 10));
    for (warmup_time_ms t = 20; t <= 50; t += 10) {
        Decision keep = made(DecisionKind::Keep, 0, t);
        keep.until_ms = t + 1000;
        log.record(std::move(keep));
        log.record(made(DecisionKind::Keep, 1, t));  // another model's keeps do not break model 0's run
    }
    const auto model_0 = log.newest(warmup_model_index{0}, 10);
    ASSERT_EQ(model_0.size(), 2u);
    EXPECT_EQ(model_0[0].kind, DecisionKind::Keep);
    EXPECT_EQ(model_0[0].repeats, 4u);
    EXPECT_EQ(model_0[0].first_at_ms, 20);
    EXPECT_EQ(model_0[0].at_ms, 50);
    EXPECT_EQ(model_0[0].until_ms, 1050) << "the merged entry carries the newest numbers";
    EXPECT_EQ(log.size(), 3u) << "eight keeps took two slots";
    EXPECT_EQ(log.recorded(), 9u);
}

TEST(DecisionLog, DoesNotMergeKeepsAcrossAnotherDecisionOrAnotherDecider) {
    DecisionLog log(8);
    log.record(made(DecisionKind::Keep, 0, 1));
    log.record(made(DecisionKind::Keep, 0, 2, "other@1"));  // a hot-swapped predictor decided this one
    log.record(made(DecisionKind::Unload, 0, 3));
    log.record(made(DecisionKind::Keep, 0, 4));
    log.record(made(DecisionKind::Keep, 0, 5, "other@1", "arm-b"));  // another arm's keeps run separately
    log.record(made(DecisionKind::Keep, 0, 6));
    const auto listed = log.newest(warmup_model_index{0}, 10);
    EXPECT_EQ(times(listed), (std::vector<warmup_time_ms>{6, 5, 3, 2, 1}));
    EXPECT_EQ(listed[0].repeats, 2u);
    EXPECT_EQ(listed[0].first_at_ms, 4);
}

TEST(DecisionLog, AKeepWhoseEntryWasOverwrittenStartsANewOne) {
    DecisionLog log(2);
    log.record(made(DecisionKind::Keep, 0, 1));
    log.record(made(DecisionKind::Unload, 1, 2));
    log.record(made(DecisionKind::Unload, 2, 3));  // overwrites model 0's keep
    log.record(made(DecisionKind::Keep, 0, 4));
    const auto listed = log.newest(warmup_model_index{0}, 10);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].repeats, 1u);
    EXPECT_EQ(listed[0].first_at_ms, 4);
}

TEST(DecisionLog, ListsEachEntryWithTheLabelsItWasRecordedWith) {
    // The ring keeps each label once and an index per entry: what is listed must still be each entry's own labels.
    DecisionLog log(8);
    Decision first = made(DecisionKind::DemandLoad, 0, 1, "engine", "control");
    log.record(first);
    Decision second = made(DecisionKind::Keep, 1, 2, "cost-curve@1.10.0", "arm-b");
    second.planned_by = "cost-curve@1.10.0";
    log.record(second);
    Decision merged = made(DecisionKind::Keep, 1, 3, "cost-curve@1.10.0", "arm-b");
    merged.planned_by = "built-in keep-alive";  // a merged keep takes the newest decision's labels
    log.record(merged);
    const auto listed = log.newest(std::nullopt, 10);
    ASSERT_EQ(listed.size(), 2u);
    EXPECT_EQ(listed[0].arm, "arm-b");
    EXPECT_EQ(listed[0].decided_by, "cost-curve@1.10.0");
    EXPECT_EQ(listed[0].planned_by, "built-in keep-alive");
    EXPECT_EQ(listed[0].repeats, 2u);
    EXPECT_EQ(listed[1].arm, "control");
    EXPECT_EQ(listed[1].decided_by, "engine");
    EXPECT_EQ(listed[1].planned_by, "") << "no plan yet";
    EXPECT_EQ(listed[1].reason, std::string("test"));
    EXPECT_TRUE(log.newest(std::nullopt, 10, std::string("arm-never-seen")).empty());
}

TEST(DecisionLog, RefusesAZeroCapacity) { EXPECT_THROW(DecisionLog(0), std::invalid_argument); }

TEST(DecisionLog, ReadersSeeWholeEntriesWhileTheControlThreadRecords) {
    DecisionLog log(128);
    std::atomic<bool> reading{false};
    std::atomic<bool> done{false};
    std::thread writer([&] {
        while (!reading) std::this_thread::yield();  // record while the reader reads, however the threads are scheduled
        for (warmup_time_ms t = 0; t < 20000; ++t)
            log.record(made(t % 3 == 0 ? DecisionKind::Keep : DecisionKind::Evict,
                            static_cast<warmup_model_index>(t % 7), t, "org.example.long-enough-to-allocate@1.0.0"));
        done = true;
    });
    do {
        for (const Decision& decision : log.newest(std::nullopt, 50)) {
            ASSERT_EQ(decision.decided_by, "org.example.long-enough-to-allocate@1.0.0");
            ASSERT_LT(decision.model, 7u);
        }
        reading = true;
    } while (!done);
    writer.join();
    EXPECT_EQ(log.size(), 128u);
}

}  // namespace
}  // namespace warmup::host
