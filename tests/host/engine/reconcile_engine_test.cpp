// WarmupEngine::reconcile: what the engine does with a backend's listing of what its server holds. A model ready in
// the books but not listed is marked absent without an unload; a listed model absent in the books is adopted (charged,
// announced to the resource plugin, planned) and the budget still holds; models whose residency changed after the
// listing started, models in flight and models an unload touched are left alone.
#include <gtest/gtest.h>

#include <unordered_set>
#include <vector>

#include "manual_engine.hpp"

namespace warmup::host {
namespace {

using test::ManualEngine;
using test::ManualEngineSetup;

ManualEngineSetup setup(double budget_mb) { return test::keep_alive_setup(budget_mb); }

const std::unordered_set<warmup_model_index> kNoneUnsure;

TEST(ReconcileEngine, AModelGoneFromTheServerIsMarkedAbsentWithoutAnUnload) {
    ManualEngine manual(setup(4000));
    manual.request("a", 1000);
    manual.complete_next_load(2000);
    WarmupEngine& engine = manual.engine();
    ASSERT_EQ(engine.model_status(manual.model("a")).residency, WARMUP_RESIDENCY_READY);
    const uint64_t unloads_before = engine.counters().unloads;

    const ReconcileOutcome outcome = engine.reconcile({}, engine.residency_sequence(), kNoneUnsure, true, 3000);
    EXPECT_EQ(outcome.gone, std::vector<warmup_model_index>{manual.model("a")});
    EXPECT_TRUE(outcome.adopted.empty());
    EXPECT_EQ(engine.model_status(manual.model("a")).residency, WARMUP_RESIDENCY_ABSENT);
    EXPECT_DOUBLE_EQ(engine.used_mb(), 0);
    EXPECT_EQ(engine.counters().unloads, unloads_before);  // the server dropped it: not our unload
    EXPECT_EQ(engine.counters().evictions, 0u);

    // Its next request is a cold start the engine now expects: a demand load.
    const uint64_t cold_before = engine.counters().cold_requests;
    manual.request("a", 4000);
    EXPECT_EQ(engine.counters().cold_requests, cold_before + 1);
    EXPECT_EQ(manual.started(), (std::vector<std::string>{"a", "a"}));
}

TEST(ReconcileEngine, AModelResidentButUnknownIsAdoptedChargedAndPlanned) {
    ManualEngine manual(setup(4000));
    WarmupEngine& engine = manual.engine();
    const warmup_model_index b = manual.model("b");
    const warmup_model_index c = manual.model("c");
    const std::vector<ReportedResident> listed{{b, 0}, {c, 1500}};
    const ReconcileOutcome outcome = engine.reconcile(listed, engine.residency_sequence(), kNoneUnsure, true, 1000);
    EXPECT_EQ(outcome.adopted, (std::vector<warmup_model_index>{b, c}));
    EXPECT_EQ(engine.model_status(b).residency, WARMUP_RESIDENCY_READY);
    EXPECT_DOUBLE_EQ(engine.model_status(b).memory_mb, 1000);  // unknown: the catalog's figure
    EXPECT_DOUBLE_EQ(engine.model_status(c).memory_mb, 1500);  // as the server reported it
    EXPECT_DOUBLE_EQ(engine.used_mb(), 2500);
    // Planned like any loaded model: the keep-alive predictor sets an unload time.
    EXPECT_NE(engine.model_status(b).unload_at_ms, WARMUP_TIME_NEVER);
    // A request for an adopted model is warm.
    const uint64_t warm_before = engine.counters().warm_requests;
    manual.request("b", 2000);
    EXPECT_EQ(engine.counters().warm_requests, warm_before + 1);
    EXPECT_TRUE(manual.started().empty());
}

TEST(ReconcileEngine, AnAdoptedModelNeverRequestedHereKeepsItsKeepAliveWhenEveryModelIsPlannedAgain) {
    // A reload plans every model again (replan_all). A model adopted without a request in this engine's books has no
    // history to plan from: it keeps the built-in keep-alive adoption gave it, instead of the plan of a model never
    // used (the predictor's unload now), until its first request plans it.
    ManualEngine manual(setup(4000));
    WarmupEngine& engine = manual.engine();
    const warmup_model_index b = manual.model("b");
    const std::vector<ReportedResident> listed{{b, 0}};
    ASSERT_EQ(engine.reconcile(listed, engine.residency_sequence(), kNoneUnsure, true, 1000).adopted.size(), 1u);
    const warmup_time_ms kept_until = engine.model_status(b).unload_at_ms;
    ASSERT_NE(kept_until, WARMUP_TIME_NEVER);

    engine.replan_all(2000);
    EXPECT_EQ(engine.model_status(b).unload_at_ms, kept_until);
    engine.run_timers(kept_until - 1);
    EXPECT_EQ(engine.model_status(b).residency, WARMUP_RESIDENCY_READY);
    // Its first request plans it like any model.
    manual.request("b", kept_until - 1);
    EXPECT_EQ(engine.counters().warm_requests, 1u);
    EXPECT_NE(engine.model_status(b).unload_at_ms, kept_until);
}

TEST(ReconcileEngine, RequestsWaitingForAFailedLoadAreServedWhenTheModelIsAdopted) {
    // The load failed and a retry is planned; meanwhile the server loaded the model for its own client and a listing
    // adopts it. The waiting request is served then (its wait recorded once), not left waiting for ever.
    ManualEngine manual(setup(4000));
    WarmupEngine& engine = manual.engine();
    const warmup_model_index a = manual.model("a");
    manual.request("a", 1000);
    manual.fail_next_load(2000);
    ASSERT_EQ(engine.model_status(a).residency, WARMUP_RESIDENCY_ABSENT);
    const auto waits_before = engine.cold_waits_ms().count();
    const std::vector<ReportedResident> listed{{a, 0}};
    const ReconcileOutcome outcome = engine.reconcile(listed, engine.residency_sequence(), kNoneUnsure, true, 2600);
    EXPECT_EQ(outcome.adopted, std::vector<warmup_model_index>{a});
    EXPECT_EQ(engine.cold_waits_ms().count(), waits_before + 1) << "the request that waited is served now";
    EXPECT_EQ(engine.counters().failed_requests, 0u);
    // Its next load, after an unload, is a pre-warm or a demand of its own: no old request rides on it.
    const uint64_t demand_before = engine.counters().demand_loads;
    manual.run_timers(2600 + 3'600'000);
    EXPECT_EQ(engine.model_status(a).residency, WARMUP_RESIDENCY_ABSENT);
    EXPECT_EQ(engine.counters().demand_loads, demand_before);
    EXPECT_EQ(engine.cold_waits_ms().count(), waits_before + 1);
}

TEST(ReconcileEngine, AdoptionBeyondTheBudgetEvictsUntilItFits) {
    ManualEngine manual(setup(2500));
    manual.request("a", 1000);
    manual.complete_next_load(2000);
    WarmupEngine& engine = manual.engine();
    const std::vector<ReportedResident> listed{{manual.model("a"), 0}, {manual.model("b"), 0}, {manual.model("c"), 0}};
    const ReconcileOutcome outcome = engine.reconcile(listed, engine.residency_sequence(), kNoneUnsure, true, 3000);
    EXPECT_EQ(outcome.adopted.size(), 2u);
    EXPECT_LE(engine.used_mb(), engine.budget_mb());
    EXPECT_EQ(engine.counters().evictions, 1u);  // 3000 MiB resident in a 2500 MiB budget: one model goes
}

TEST(ReconcileEngine, ModelsThatChangedSinceTheListingStartedOrWereUnloadingAreLeftAlone) {
    ManualEngine manual(setup(4000));
    WarmupEngine& engine = manual.engine();
    const uint64_t listing_started = engine.residency_sequence();
    manual.request("a", 1000);  // queued and loading after the listing started
    const std::vector<ReportedResident> none;
    EXPECT_TRUE(engine.reconcile(none, listing_started, kNoneUnsure, true, 1500).gone.empty());
    manual.complete_next_load(2000);  // ready, but only since after the listing started
    ReconcileOutcome outcome = engine.reconcile(none, listing_started, kNoneUnsure, true, 2500);
    EXPECT_TRUE(outcome.gone.empty());
    EXPECT_EQ(engine.model_status(manual.model("a")).residency, WARMUP_RESIDENCY_READY);

    // An unload ran while the server was asked: the model is undecided either way.
    const std::unordered_set<warmup_model_index> unsure{manual.model("x")};
    outcome = engine.reconcile(std::vector<ReportedResident>{{manual.model("x"), 0}}, engine.residency_sequence(),
                               unsure, true, 3000);
    EXPECT_TRUE(outcome.adopted.empty());
    EXPECT_EQ(engine.model_status(manual.model("x")).residency, WARMUP_RESIDENCY_ABSENT);
}

TEST(ReconcileEngine, AnArmThatDoesNotAdoptOnlyMarksGoneModels) {
    ManualEngine manual(setup(4000));
    manual.request("a", 1000);
    manual.complete_next_load(2000);
    WarmupEngine& engine = manual.engine();
    const std::vector<ReportedResident> listed{{manual.model("b"), 0}};
    const ReconcileOutcome outcome = engine.reconcile(listed, engine.residency_sequence(), kNoneUnsure, false, 3000);
    EXPECT_TRUE(outcome.adopted.empty());
    EXPECT_EQ(outcome.gone, std::vector<warmup_model_index>{manual.model("a")});
    EXPECT_EQ(engine.model_status(manual.model("b")).residency, WARMUP_RESIDENCY_ABSENT);
}

}  // namespace
}  // namespace warmup::host
