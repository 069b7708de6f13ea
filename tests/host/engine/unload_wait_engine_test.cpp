// An unload takes time live, and the server holds the model until it is over: with an executor that confirms unloads
// (as the live workers do), the engine keeps an unloading model's memory charged until the unload is answered, and a
// load that needs that memory waits for it in the memory FIFO. Stepped by hand over the in-tree plugins
// (manual_engine.hpp); every unload is answered by the test. The replay's executor does not confirm unloads: there
// memory is free when the unload starts (the first test also pins that this rule did not change).
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/decision_log.hpp"
#include "manual_engine.hpp"

namespace warmup::host {
namespace {

using test::ManualEngine;
using test::ManualEngineSetup;

constexpr double kModelMb = 1000;

/// Every model 1000 MiB; `budget_mb` for `models_that_fit` of them. Keep-alive predictor (LRU resource plugin).
ManualEngineSetup setup(double budget_mb, DecisionLog* log = nullptr, int64_t ttl_ms = 600000,
                        bool confirm_unloads = true) {
    ManualEngineSetup setup;
    setup.options.memory_budget_mb = budget_mb;
    setup.options.max_concurrent_loads = 2;
    setup.options.decisions = log;
    setup.confirm_unloads = confirm_unloads;
    setup.components["predictor"] =
        "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: " + std::to_string(ttl_ms) + "}}";
    setup.catalog = {"{model: '*', memory_mb: 1000, load_ms: 1000}"};
    return setup;
}

/// Loads `names` one after another from t_ms (a request, then its load completes 1 s later); returns the time after.
int64_t load_ready(ManualEngine& manual, const std::vector<std::string>& names, int64_t t_ms) {
    for (const std::string& name : names) {
        manual.request(name, t_ms);
        manual.complete_next_load(t_ms + 1000);
        t_ms += 2000;
    }
    return t_ms;
}

bool has_reason(const std::vector<Decision>& decisions, const std::string& reason) {
    for (const Decision& decision : decisions)
        if (reason == decision.reason) return true;
    return false;
}

TEST(UnloadWaitEngine, ALoadNeedingAnEvictedModelsMemoryStartsOnlyOnceItsUnloadIsOver) {
    DecisionLog log;
    ManualEngine manual(setup(2 * kModelMb, &log));
    WarmupEngine& engine = manual.engine();
    int64_t t = load_ready(manual, {"a", "b"}, 1000);  // the budget is full
    ASSERT_DOUBLE_EQ(engine.used_mb(), 2 * kModelMb);

    // c needs a's memory: a is evicted, and its memory stays charged while the backend unloads it.
    manual.request("c", t);
    EXPECT_EQ(manual.unloaded(), std::vector<std::string>{"a"});
    EXPECT_EQ(engine.counters().evictions, 1u);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b"}));  // c has not started
    EXPECT_EQ(engine.model_status(manual.model("a")).residency, WARMUP_RESIDENCY_ABSENT);
    EXPECT_DOUBLE_EQ(engine.model_status(manual.model("a")).unloading_mb, kModelMb);
    EXPECT_DOUBLE_EQ(engine.unloading_mb(), kModelMb);
    EXPECT_DOUBLE_EQ(engine.used_mb(), 2 * kModelMb);  // b ready + a being unloaded
    EXPECT_EQ(engine.memory_waiters(), 1u);
    ASSERT_EQ(engine.pending_unloads().size(), 1u);
    EXPECT_EQ(engine.pending_unloads().front().model, manual.model("a"));
    EXPECT_FALSE(engine.pending_unloads().front().failed);
    const std::vector<Decision> of_c = log.newest(manual.model("c"), 10);
    EXPECT_TRUE(has_reason(of_c, "demand load waits for memory being unloaded (first come, first served)"));
    for (const Decision& decision : of_c) EXPECT_LE(decision.used_mb, decision.budget_mb);

    // Requests meanwhile change nothing: c still waits, and nothing else is evicted for it.
    manual.request("c", t + 500);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(engine.counters().evictions, 1u);

    // The backend answers: the memory is free, and c starts at once.
    manual.finish_next_unload(t + 3000);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_DOUBLE_EQ(engine.unloading_mb(), 0);
    EXPECT_TRUE(engine.pending_unloads().empty());
    EXPECT_DOUBLE_EQ(engine.used_mb(), 2 * kModelMb);  // b ready + c loading
    EXPECT_EQ(engine.memory_waiters(), 0u);
    // a's memory-time ran from the start of its load (at 1000) until its unload was over, not until it started.
    EXPECT_DOUBLE_EQ(engine.model_status(manual.model("a")).loaded_mb_ms,
                     kModelMb * static_cast<double>(t + 3000 - 1000));

    // The replay's rule is unchanged: with an executor that does not confirm unloads (an unload takes no time), the
    // same steps start c at once.
    ManualEngine replay_like(setup(2 * kModelMb, nullptr, 600000, /*confirm_unloads=*/false));
    t = load_ready(replay_like, {"a", "b"}, 1000);
    replay_like.request("c", t);
    EXPECT_EQ(replay_like.unloaded(), std::vector<std::string>{"a"});
    EXPECT_EQ(replay_like.started(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_DOUBLE_EQ(replay_like.engine().unloading_mb(), 0);
    EXPECT_TRUE(replay_like.engine().pending_unloads().empty());
}

TEST(UnloadWaitEngine, AFailedUnloadKeepsItsMemoryChargedUntilAListingSettlesIt) {
    ManualEngine manual(setup(2 * kModelMb));
    WarmupEngine& engine = manual.engine();
    const int64_t t = load_ready(manual, {"a", "b"}, 1000);
    manual.request("c", t);
    manual.finish_next_unload(t + 1000, /*succeeded=*/false);
    // The server may still hold a: its memory stays charged, and c keeps waiting.
    EXPECT_DOUBLE_EQ(engine.unloading_mb(), kModelMb);
    EXPECT_DOUBLE_EQ(engine.used_mb(), 2 * kModelMb);
    ASSERT_EQ(engine.pending_unloads().size(), 1u);
    EXPECT_TRUE(engine.pending_unloads().front().failed);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b"}));

    // A listing that started before the failure was known, while the unload ran, settles nothing.
    const std::unordered_set<warmup_model_index> unsure{manual.model("a")};
    const std::vector<ReportedResident> a_and_b{{manual.model("a"), 0}, {manual.model("b"), 0}};
    engine.reconcile(a_and_b, engine.residency_sequence(), unsure, /*adopt=*/true, t + 1500);
    EXPECT_DOUBLE_EQ(engine.unloading_mb(), kModelMb);
    EXPECT_EQ(engine.model_status(manual.model("a")).residency, WARMUP_RESIDENCY_ABSENT);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b"}));

    // The next listing says a is still on the server: the unload's charge goes, a is adopted as found, and the budget
    // still holds: c's need evicts again (the least recently used of a and b) and c waits for that unload.
    const ReconcileOutcome outcome =
        engine.reconcile(a_and_b, engine.residency_sequence(), {}, /*adopt=*/true, t + 2000);
    EXPECT_EQ(outcome.adopted, std::vector<warmup_model_index>{manual.model("a")});
    EXPECT_LE(engine.used_mb(), engine.budget_mb());
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(manual.unloads_running(), 1u);
    EXPECT_DOUBLE_EQ(engine.unloading_mb(), kModelMb);
    manual.finish_next_unload(t + 3000);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_LE(engine.used_mb(), engine.budget_mb());
}

TEST(UnloadWaitEngine, AFailedUnloadOfAModelGoneFromTheServerIsReleasedByTheListing) {
    ManualEngine manual(setup(2 * kModelMb));
    WarmupEngine& engine = manual.engine();
    const int64_t t = load_ready(manual, {"a", "b"}, 1000);
    manual.request("c", t);
    manual.finish_next_unload(t + 1000, /*succeeded=*/false);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b"}));
    // Listed without a: the unload went through after all; its memory is released and c starts.
    const std::vector<ReportedResident> only_b{{manual.model("b"), 0}};
    const ReconcileOutcome outcome = engine.reconcile(only_b, engine.residency_sequence(), {}, true, t + 2000);
    EXPECT_TRUE(outcome.adopted.empty());
    EXPECT_TRUE(outcome.gone.empty());
    EXPECT_DOUBLE_EQ(engine.unloading_mb(), 0);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(UnloadWaitEngine, AFailedUnloadNoListingWillSettleIsReleasedOnRequest) {
    ManualEngine manual(setup(2 * kModelMb));
    WarmupEngine& engine = manual.engine();
    const int64_t t = load_ready(manual, {"a", "b"}, 1000);
    manual.request("c", t);
    EXPECT_EQ(engine.release_failed_unloads(WARMUP_NO_MODEL, t + 500), 0u);  // still running: not failed
    manual.finish_next_unload(t + 1000, /*succeeded=*/false);
    EXPECT_EQ(engine.release_failed_unloads(manual.model("b"), t + 1500), 0u);  // another model's
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(engine.release_failed_unloads(manual.model("a"), t + 2000), 1u);
    EXPECT_DOUBLE_EQ(engine.unloading_mb(), 0);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_DOUBLE_EQ(engine.used_mb(), 2 * kModelMb);  // b ready + c loading
}

// An unload whose backend call runs past the host's deadline (budgets.unload_timeout_ms live): the server may still
// hold the model, so its memory stays charged until the call returns, but the load that waited for it evicts another
// model instead. The late answer releases the memory once; a duplicate answer or report changes nothing.
TEST(UnloadWaitEngine, ATimedOutUnloadStaysChargedUntilItReturnsAndTheLoadEvictsAnotherModelInstead) {
    ManualEngine manual(setup(3 * kModelMb));
    WarmupEngine& engine = manual.engine();
    const int64_t t = load_ready(manual, {"a", "b", "c"}, 1000);  // the budget is full
    manual.request("d", t);  // a, the least recently used, is evicted; d waits for its unload
    ASSERT_EQ(manual.unloaded(), std::vector<std::string>{"a"});
    ASSERT_EQ(engine.memory_waiters(), 1u);

    const std::optional<double> held_mb = manual.time_out_unload(t + 1000, 0);
    ASSERT_TRUE(held_mb.has_value());
    EXPECT_DOUBLE_EQ(*held_mb, kModelMb);
    ASSERT_EQ(engine.pending_unloads().size(), 2u);
    EXPECT_EQ(engine.pending_unloads().front().model, manual.model("a"));
    EXPECT_TRUE(engine.pending_unloads().front().timed_out);
    EXPECT_DOUBLE_EQ(engine.timed_out_unloads_mb(), kModelMb);
    // a stays charged; b is evicted in its place, and d now waits for b's unload (within its deadline).
    EXPECT_EQ(manual.unloaded(), (std::vector<std::string>{"a", "b"}));
    EXPECT_DOUBLE_EQ(engine.used_mb(), 3 * kModelMb);
    EXPECT_DOUBLE_EQ(engine.unloading_mb(), 2 * kModelMb);
    EXPECT_EQ(engine.memory_waiters(), 1u);
    // Reported twice: nothing more happens.
    EXPECT_FALSE(manual.time_out_unload(t + 1100, 0).has_value());
    EXPECT_EQ(manual.unloaded().size(), 2u);
    EXPECT_DOUBLE_EQ(engine.timed_out_unloads_mb(), kModelMb);

    manual.answer_unload(t + 1500, 1);  // b's unload is over: d starts beside the stuck one
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b", "c", "d"}));
    EXPECT_EQ(engine.memory_waiters(), 0u);
    EXPECT_DOUBLE_EQ(engine.used_mb(), 3 * kModelMb);  // c ready, d loading, a still charged
    EXPECT_LE(engine.used_mb(), engine.budget_mb());

    // a's unload returns at last: its memory is released, once.
    manual.answer_unload(t + 60000, 0);
    EXPECT_DOUBLE_EQ(engine.used_mb(), 2 * kModelMb);
    EXPECT_DOUBLE_EQ(engine.unloading_mb(), 0);
    EXPECT_DOUBLE_EQ(engine.timed_out_unloads_mb(), 0);
    EXPECT_TRUE(engine.pending_unloads().empty());
    manual.answer_unload(t + 60001, 0);                              // a duplicate answer
    EXPECT_FALSE(manual.time_out_unload(t + 60002, 0).has_value());  // a report that comes after the answer
    EXPECT_DOUBLE_EQ(engine.used_mb(), 2 * kModelMb);
    EXPECT_DOUBLE_EQ(engine.unloading_mb(), 0);
    EXPECT_DOUBLE_EQ(engine.timed_out_unloads_mb(), 0);
}

// A load that cannot fit until a timed-out unload returns (the budget holds one model, the stuck unload holds it) is
// not left waiting for a call that may never return: it is given up with its reason, and its requests fail. So is a
// load of the model whose own unload is stuck (the backend could carry out the two in either order). Once the unload
// returns, the next request loads again.
TEST(UnloadWaitEngine, ALoadThatCannotFitUntilATimedOutUnloadReturnsIsGivenUpNotLeftWaiting) {
    DecisionLog log;
    ManualEngine manual(setup(kModelMb, &log));
    WarmupEngine& engine = manual.engine();
    const int64_t t = load_ready(manual, {"a"}, 1000);
    manual.request("b", t);  // a is evicted for b, which waits for a's unload
    ASSERT_EQ(manual.unloaded(), std::vector<std::string>{"a"});
    ASSERT_EQ(engine.memory_waiters(), 1u);
    ASSERT_EQ(engine.counters().failed_requests, 0u);

    ASSERT_TRUE(manual.time_out_unload(t + 1000, 0).has_value());
    EXPECT_EQ(engine.memory_waiters(), 0u);
    EXPECT_EQ(engine.model_status(manual.model("b")).residency, WARMUP_RESIDENCY_ABSENT);
    EXPECT_EQ(engine.counters().loads_given_up, 1u);
    EXPECT_EQ(engine.counters().failed_requests, 1u);
    EXPECT_TRUE(has_reason(log.newest(manual.model("b"), 10),
                           "memory held by unloads past their deadline leaves too little of the budget until they "
                           "return"));
    EXPECT_DOUBLE_EQ(engine.used_mb(), kModelMb);  // a is still charged: the server may hold it

    // Requests meanwhile fail at once instead of waiting.
    manual.request("b", t + 2000);
    EXPECT_EQ(engine.counters().failed_requests, 2u);
    EXPECT_EQ(engine.memory_waiters(), 0u);
    manual.request("a", t + 2500);
    EXPECT_EQ(engine.counters().failed_requests, 3u);
    EXPECT_TRUE(has_reason(log.newest(manual.model("a"), 10),
                           "its own unload has not returned past its deadline (the server may still be unloading it)"));
    EXPECT_EQ(manual.started(), std::vector<std::string>{"a"});

    manual.answer_unload(t + 30000, 0);
    EXPECT_DOUBLE_EQ(engine.used_mb(), 0);
    manual.request("b", t + 31000);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(engine.counters().failed_requests, 3u);
}

TEST(UnloadWaitEngine, AModelIsNotLoadedAgainWhileItsOwnUnloadRuns) {
    // A 10 s keep: a is unloaded on its timer, with room to spare, and requested again while the unload runs.
    DecisionLog log;
    ManualEngine manual(setup(4 * kModelMb, &log, /*ttl_ms=*/10000));
    WarmupEngine& engine = manual.engine();
    load_ready(manual, {"a"}, 1000);
    engine.run_timers(20000);
    ASSERT_EQ(manual.unloaded(), std::vector<std::string>{"a"});
    EXPECT_DOUBLE_EQ(engine.used_mb(), kModelMb);  // a plain unload holds the budget too
    manual.request("a", 20500);
    EXPECT_EQ(manual.started(), std::vector<std::string>{"a"});  // the backend would see load and unload race
    EXPECT_EQ(engine.model_status(manual.model("a")).residency, WARMUP_RESIDENCY_QUEUED);
    // Said as what holds it back, the engine's rule, not memory (3 of 4 models' room is free).
    const std::vector<Decision> of_a = log.newest(manual.model("a"), 10);
    EXPECT_TRUE(has_reason(of_a, "demand load waits for the model's own unload to return"));
    EXPECT_FALSE(has_reason(of_a, "demand load waits for memory being unloaded (first come, first served)"));
    manual.finish_next_unload(21000);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "a"}));
    EXPECT_DOUBLE_EQ(engine.used_mb(), kModelMb);  // the new load only
}

TEST(UnloadWaitEngine, APrewarmWaitsForTheMemoryBeingUnloadedAndGivesWayToADemandLoad) {
    DecisionLog log;
    ManualEngine manual(setup(2 * kModelMb, &log));
    WarmupEngine& engine = manual.engine();
    const int64_t t = load_ready(manual, {"a", "b"}, 1000);

    // An operator's restore pre-warms c: a is evicted for it, and the pre-warm waits for a's unload.
    engine.request_prewarm(manual.model("c"), t);
    EXPECT_EQ(manual.unloaded(), std::vector<std::string>{"a"});
    EXPECT_EQ(engine.memory_waiters(), 1u);
    EXPECT_EQ(engine.counters().prewarms_skipped, 0u);
    EXPECT_TRUE(has_reason(log.newest(manual.model("c"), 10), "pre-warm waits for memory being unloaded"));
    manual.finish_next_unload(t + 1000);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(engine.counters().prewarms_started, 1u);
    manual.complete_next_load(t + 2000);

    // Again with d; this time a request for e needs the memory while d's pre-warm waits: the request goes first.
    engine.request_prewarm(manual.model("d"), t + 3000);
    EXPECT_EQ(manual.unloads_running(), 1u);
    manual.request("e", t + 3500);
    EXPECT_EQ(engine.counters().prewarms_skipped, 1u);
    EXPECT_EQ(engine.model_status(manual.model("d")).residency, WARMUP_RESIDENCY_ABSENT);
    EXPECT_TRUE(has_reason(log.newest(manual.model("d"), 10), "pre-warm gave way to a demand load waiting for memory"));
    manual.finish_next_unload(t + 4000);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "b", "c", "e"}));
    EXPECT_LE(engine.used_mb(), engine.budget_mb());
}

TEST(UnloadWaitEngine, TheServerNeverHoldsMoreThanTheBudget) {
    // What the server holds, as the executor sees it: a model from the start of a load of it until an unload of it is
    // answered with success (a failed unload leaves it there). Requests, load completions, unload answers (one in five
    // failed) and timers with a listing of the server come in a fixed pseudo-random order; after every step the
    // server must fit the budget and the engine's books must cover what it holds.
    constexpr double kBudgetMb = 4 * kModelMb;
    ManualEngine manual(setup(kBudgetMb, nullptr, /*ttl_ms=*/5000));
    WarmupEngine& engine = manual.engine();
    uint64_t seed = 12345;
    const auto next = [&](uint64_t bound) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        return (seed >> 33) % bound;
    };
    std::unordered_set<std::string> on_server;
    std::size_t loads_seen = 0;
    std::size_t loads_done = 0;
    std::size_t unloads_done = 0;
    uint64_t failed_unloads = 0;
    int64_t t = 1000;
    for (int step = 0; step < 3000; ++step, t += 250) {
        const uint64_t action = next(10);
        if (action < 4) {
            manual.request("m" + std::to_string(next(12)), t);
        } else if (action < 6 && loads_done < manual.started().size()) {
            manual.complete_next_load(t);
            ++loads_done;
        } else if (action < 9 && manual.unloads_running() != 0) {
            const std::string model = manual.unloaded()[unloads_done++];
            const bool succeeded = next(5) != 0;
            manual.finish_next_unload(t, succeeded);
            if (succeeded) on_server.erase(model);
            failed_unloads += succeeded ? 0 : 1;
        } else {
            engine.run_timers(t);
            // The server lists what it holds; models with an unload running are left undecided, as live.
            std::vector<ReportedResident> listed;
            for (const std::string& model : on_server) listed.push_back({manual.model(model), 0});
            std::unordered_set<warmup_model_index> unsure;
            for (const PendingUnload& unload : engine.pending_unloads())
                if (!unload.failed) unsure.insert(unload.model);
            engine.reconcile(listed, engine.residency_sequence(), unsure, true, t);
        }
        const std::vector<std::string> started = manual.started();
        for (; loads_seen < started.size(); ++loads_seen) on_server.insert(started[loads_seen]);
        const double server_mb = static_cast<double>(on_server.size()) * kModelMb;
        ASSERT_LE(server_mb, kBudgetMb) << "step " << step;
        ASSERT_LE(server_mb, engine.used_mb() + 1e-6) << "step " << step;
        ASSERT_LE(engine.used_mb(), kBudgetMb + 1e-6) << "step " << step;
    }
    // The sequence did what it is meant to test.
    EXPECT_GT(engine.counters().evictions, 20u);
    EXPECT_GT(engine.counters().unloads, 20u);
    EXPECT_GT(engine.counters().loads_queued_for_memory, 20u);
    EXPECT_GT(failed_unloads, 10u);
}

TEST(UnloadWaitEngine, AModelsNextLoadTakesOverTheMemoryOfItsFailedUnload) {
    ManualEngine manual(setup(2 * kModelMb, nullptr, /*ttl_ms=*/10000));
    WarmupEngine& engine = manual.engine();
    load_ready(manual, {"a"}, 1000);
    engine.run_timers(20000);
    manual.finish_next_unload(20500, /*succeeded=*/false);
    EXPECT_DOUBLE_EQ(engine.used_mb(), kModelMb);
    // The server may still hold a; its next load does not wait for a listing, and is not charged twice.
    manual.request("a", 21000);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "a"}));
    EXPECT_DOUBLE_EQ(engine.used_mb(), kModelMb);
    EXPECT_TRUE(engine.pending_unloads().empty());
}

}  // namespace
}  // namespace warmup::host
