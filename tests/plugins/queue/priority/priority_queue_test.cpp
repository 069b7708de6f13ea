#include "priority_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <tuple>

#include "plugin_library_check.hpp"
#include "plugin_test_host.hpp"

namespace warmup::plugins {
namespace {

PriorityQueue make_queue(test::PluginTestHost& host, const std::string& yaml) {
    sdk::Params params(yaml);
    return PriorityQueue(host.host(), params);
}

warmup_queue_item item(warmup_model_index model, uint32_t priority_class, double cost = 10,
                       warmup_time_ms deadline_ms = WARMUP_TIME_NEVER, uint32_t reason = WARMUP_REASON_PREWARM) {
    warmup_queue_item result{};
    result.model = model;
    result.priority_class = priority_class;
    result.reason = reason;
    result.attempt = 1;
    result.deadline_ms = deadline_ms;
    result.cost = cost;
    return result;
}

std::vector<warmup_model_index> drain(PriorityQueue& queue) {
    std::vector<warmup_model_index> order;
    warmup_queue_item out{};
    while (queue.pop(0, out)) order.push_back(out.model);
    return order;
}

TEST(PriorityQueue, StrictPopsLowestClassFirstFifoInside) {
    test::PluginTestHost host;
    auto queue = make_queue(host, "algorithm: Strict");
    queue.push(item(0, 2));
    queue.push(item(1, 0));
    queue.push(item(2, 1));
    queue.push(item(3, 0));
    queue.push(item(4, 2));
    EXPECT_EQ(drain(queue), (std::vector<warmup_model_index>{1, 3, 2, 0, 4}));
}

TEST(PriorityQueue, EdfPopsEarliestDeadlineThenClassThenFifo) {
    test::PluginTestHost host;
    auto queue = make_queue(host, "algorithm: EDF");
    queue.push(item(0, 0, 10, WARMUP_TIME_NEVER));
    queue.push(item(1, 0, 10, 300));
    queue.push(item(2, 1, 10, 100));
    queue.push(item(3, 1, 10, 100));
    queue.push(item(4, 0, 10, 100));
    queue.push(item(5, 3, 10, 50));
    EXPECT_EQ(drain(queue), (std::vector<warmup_model_index>{5, 4, 2, 3, 1, 0}));
}

TEST(PriorityQueue, WeightedFairGivesTwoPopsPerOneAtWeightsTwoToOne) {
    test::PluginTestHost host;
    auto queue = make_queue(host, "algorithm: WeightedFair\nweights: [2, 1]");
    // Class 0 finishes: 5, 10, 15, 20; class 1: 10, 20 (cost 10); ties go to the lower class.
    for (warmup_model_index model = 0; model < 4; ++model) queue.push(item(model, 0));
    for (warmup_model_index model = 10; model < 12; ++model) queue.push(item(model, 1));
    EXPECT_EQ(drain(queue), (std::vector<warmup_model_index>{0, 1, 10, 2, 3, 11}));
}

TEST(PriorityQueue, WeightedFairLateClassStartsAtVirtualTime) {
    test::PluginTestHost host;
    auto queue = make_queue(host, "algorithm: WeightedFair\nweights: [1, 1]");
    queue.push(item(0, 0, 1));  // finishes 1, 2, 3
    queue.push(item(1, 0, 1));
    queue.push(item(2, 0, 1));
    warmup_queue_item out{};
    ASSERT_TRUE(queue.pop(0, out));  // start 0
    ASSERT_TRUE(queue.pop(0, out));  // start 1: virtual time is now 1
    EXPECT_DOUBLE_EQ(queue.virtual_time(), 1.0);
    // Arriving now, class 1 starts at 1, not at 0: finish 1 + 2 = 3 ties with model 2 and loses on class. Had it
    // been credited for the time it was absent (finish 2) it would jump ahead.
    queue.push(item(20, 1, 2));
    EXPECT_EQ(drain(queue), (std::vector<warmup_model_index>{2, 20}));
}

TEST(PriorityQueue, WeightedFairClassesBeyondListUseLastWeight) {
    test::PluginTestHost host;
    auto queue = make_queue(host, "weights: [4, 1]");  // default algorithm is WeightedFair
    EXPECT_EQ(queue.algorithm(), PriorityQueue::Algorithm::WeightedFair);
    // Class 5 has weight 1 like class 1: finishes 10, 20 vs class 1's 10, 20; class 1 wins ties.
    queue.push(item(50, 5));
    queue.push(item(51, 5));
    queue.push(item(10, 1));
    queue.push(item(11, 1));
    EXPECT_EQ(drain(queue), (std::vector<warmup_model_index>{10, 50, 11, 51}));
}

TEST(PriorityQueue, ZeroCostCountsAsOne) {
    test::PluginTestHost host;
    auto queue = make_queue(host, "weights: [1, 1]");
    queue.push(item(0, 0, 0));  // finish 1, 2
    queue.push(item(1, 0, 0));
    queue.push(item(10, 1, 1.5));  // finish 1.5
    EXPECT_EQ(drain(queue), (std::vector<warmup_model_index>{0, 10, 1}));
}

TEST(PriorityQueue, FullQueueRefusesWithMessageAndCounts) {
    test::PluginTestHost host;
    auto queue = make_queue(host, "capacity: 2");
    const auto first = host.model("first"), second = host.model("second"), third = host.model("llama3:8b");
    queue.push(item(first, 0));
    queue.push(item(second, 0));
    try {
        queue.push(item(third, 0));
        FAIL() << "expected the push to be refused";
    } catch (const sdk::Error& error) {
        EXPECT_EQ(error.code(), WARMUP_ERROR_RESOURCE_EXHAUSTED);
        EXPECT_STREQ(error.what(), "queue full (capacity 2): refused prewarm warm-up of model llama3:8b");
    }
    EXPECT_THROW(queue.push(item(third, 0, 10, WARMUP_TIME_NEVER, WARMUP_REASON_DEMAND)), sdk::Error);
    EXPECT_EQ(queue.rejected_count(), 2u);
    EXPECT_EQ(queue.size(), 2u);
    warmup_queue_item out{};
    ASSERT_TRUE(queue.pop(0, out));
    queue.push(item(third, 0));  // room again
    EXPECT_EQ(queue.size(), 2u);
}

TEST(PriorityQueue, RemoveModelRemovesEveryItemOfThatModel) {
    test::PluginTestHost host;
    auto queue = make_queue(host, "algorithm: Strict");
    queue.push(item(0, 1));
    queue.push(item(1, 1));
    queue.push(item(0, 0));
    queue.push(item(2, 2));
    queue.push(item(0, 2));
    EXPECT_EQ(queue.remove_model(0), 3u);
    EXPECT_EQ(queue.remove_model(0), 0u);
    EXPECT_EQ(queue.remove_model(99), 0u);
    EXPECT_EQ(queue.size(), 2u);
    EXPECT_EQ(drain(queue), (std::vector<warmup_model_index>{1, 2}));
}

TEST(PriorityQueue, ClearEmptiesAndQueueIsReusable) {
    test::PluginTestHost host;
    auto queue = make_queue(host, "algorithm: EDF\ncapacity: 3");
    queue.push(item(0, 0, 10, 30));
    queue.push(item(1, 0, 10, 20));
    queue.push(item(2, 0, 10, 10));
    EXPECT_EQ(queue.clear(), 3u);
    EXPECT_EQ(queue.size(), 0u);
    EXPECT_EQ(queue.remove_model(1), 0u);  // per-model lists were reset too
    queue.push(item(1, 0, 10, 5));
    queue.push(item(2, 0, 10, 1));
    EXPECT_EQ(drain(queue), (std::vector<warmup_model_index>{2, 1}));
}

TEST(PriorityQueue, RejectsBadParams) {
    test::PluginTestHost host;
    EXPECT_THROW(make_queue(host, "algorithm: Fifo"), sdk::InvalidArgument);
    EXPECT_THROW(make_queue(host, "weights: [2, 0]"), sdk::InvalidArgument);
    EXPECT_THROW(make_queue(host, "weights: []"), sdk::InvalidArgument);
    EXPECT_THROW(make_queue(host, "capacity: 0"), sdk::InvalidArgument);
}

// The heap against a plain reference (stable sort by (deadline, class, arrival)) under random push/pop/remove.
TEST(PriorityQueue, EdfMatchesReferenceUnderRandomOperations) {
    test::PluginTestHost host;
    auto queue = make_queue(host, "algorithm: EDF\ncapacity: 64");
    struct Pending {
        warmup_time_ms deadline_ms;
        uint32_t priority_class;
        uint64_t arrival;
        warmup_model_index model;
    };
    std::vector<Pending> reference;
    std::mt19937 rng(12345);
    uint64_t arrival = 0;
    for (int step = 0; step < 5000; ++step) {
        const unsigned action = rng() % 10;
        if (action < 5 && reference.size() < 64) {
            const auto model = static_cast<warmup_model_index>(rng() % 16);
            const auto priority_class = static_cast<uint32_t>(rng() % 4);
            const warmup_time_ms deadline =
                rng() % 5 == 0 ? WARMUP_TIME_NEVER : static_cast<warmup_time_ms>(rng() % 50);
            queue.push(item(model, priority_class, 10, deadline));
            reference.push_back({deadline, priority_class, arrival++, model});
        } else if (action < 9) {
            warmup_queue_item out{};
            const bool popped = queue.pop(0, out);
            ASSERT_EQ(popped, !reference.empty());
            if (!popped) continue;
            const auto best = std::min_element(reference.begin(), reference.end(), [](const auto& a, const auto& b) {
                return std::tie(a.deadline_ms, a.priority_class, a.arrival) <
                       std::tie(b.deadline_ms, b.priority_class, b.arrival);
            });
            ASSERT_EQ(out.model, best->model) << "step " << step;
            ASSERT_EQ(out.deadline_ms, best->deadline_ms);
            reference.erase(best);
        } else {
            const auto model = static_cast<warmup_model_index>(rng() % 16);
            const auto expected = std::erase_if(reference, [&](const Pending& p) { return p.model == model; });
            ASSERT_EQ(queue.remove_model(model), expected);
        }
        ASSERT_EQ(queue.size(), reference.size());
    }
}

}  // namespace
}  // namespace warmup::plugins

// The built library, opened as the host opens it (plugin_library_check.hpp).
INSTANTIATE_TEST_SUITE_P(MechanicsPlugins, PluginLibrary,
                         ::testing::Values(warmup::test::PluginLibraryExpectation{
                             "priority_queue.so", "org.warmup.queue.priority", WARMUP_KIND_QUEUE}),
                         warmup::test::plugin_library_test_name);
