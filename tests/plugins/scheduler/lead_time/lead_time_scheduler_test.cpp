#include "scheduler/lead_time/lead_time_scheduler.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "plugin_test_host.hpp"

namespace warmup::test {
namespace {

using plugins::LeadTimeScheduler;

constexpr warmup_time_ms kLastSeenMs = 50'000'000;

struct PlanCase {
    warmup_prediction prediction{};
    warmup_performance_estimate estimate{};

    PlanCase(warmup_time_ms keep_until_ms, warmup_time_ms warm_at_ms, warmup_time_ms warm_keep_until_ms,
             double load_ms = 2'000) {
        prediction.struct_size = sizeof prediction;
        prediction.model = kLlama;
        prediction.keep_until_ms = keep_until_ms;
        prediction.warm_at_ms = warm_at_ms;
        prediction.warm_keep_until_ms = warm_keep_until_ms;
        prediction.next_arrival_ms = WARMUP_TIME_NEVER;
        estimate.struct_size = sizeof estimate;
        estimate.model = kLlama;
        estimate.load_ms = load_ms;
    }

    warmup_plan plan(LeadTimeScheduler& scheduler, warmup_plan_trigger trigger,
                     warmup_model_index model = kLlama) const {
        warmup_plan_input input{};
        input.struct_size = sizeof input;
        input.now_ms = kLastSeenMs;
        input.model = model;
        input.trigger = trigger;
        input.residency = WARMUP_RESIDENCY_READY;
        input.prediction = &prediction;
        input.estimate = &estimate;
        warmup_plan out{};
        out.struct_size = sizeof out;
        scheduler.plan(input, out);
        return out;
    }
};

TEST(LeadTimeScheduler, LeadIsLoadTimePlusFractionPlusFixedMargin) {
    PluginTestHost test_host = two_models_host();
    auto scheduler = test_host.make<LeadTimeScheduler>();
    EXPECT_EQ(scheduler->lead_ms(2'000), 3'200);  // 2000 x 1.1 + 1000
    EXPECT_EQ(scheduler->lead_ms(0), 1'000);
}

TEST(LeadTimeScheduler, NoPrewarmUnloadsAtKeepUntil) {
    PluginTestHost test_host = two_models_host();
    auto scheduler = test_host.make<LeadTimeScheduler>();
    const warmup_plan plan =
        PlanCase(kLastSeenMs + 300'000, WARMUP_TIME_NEVER, WARMUP_TIME_NEVER).plan(*scheduler, WARMUP_TRIGGER_USED);
    EXPECT_EQ(plan.model, kLlama);
    EXPECT_EQ(plan.unload_at_ms, kLastSeenMs + 300'000);
    EXPECT_EQ(plan.warm_start_at_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(plan.warm_ready_by_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(plan.warm_unload_at_ms, WARMUP_TIME_NEVER);
}

TEST(LeadTimeScheduler, DistantPrewarmUnloadsNowAndStartsOneLeadBeforeWarmAt) {
    PluginTestHost test_host = two_models_host();
    auto scheduler = test_host.make<LeadTimeScheduler>();
    const PlanCase hybrid(kLastSeenMs, kLastSeenMs + 540'000, kLastSeenMs + 726'000);
    for (const warmup_plan_trigger trigger : {WARMUP_TRIGGER_USED, WARMUP_TRIGGER_TIMER}) {
        const warmup_plan plan = hybrid.plan(*scheduler, trigger);
        EXPECT_EQ(plan.unload_at_ms, kLastSeenMs);
        EXPECT_EQ(plan.warm_start_at_ms, kLastSeenMs + 536'800);  // 540 000 - 3 200
        EXPECT_EQ(plan.warm_ready_by_ms, kLastSeenMs + 540'000);
        EXPECT_EQ(plan.warm_unload_at_ms, kLastSeenMs + 726'000);
    }
}

TEST(LeadTimeScheduler, TimesAtTheEndsOfTheClockSaturateInsteadOfWrappingRound) {
    // A pre-warm "long ago" (a predictor's bad answer) starts at once: one lead before it is the earliest time, not
    // a time far in the future (signed overflow wrapped round to one).
    PluginTestHost test_host = two_models_host();
    auto scheduler = test_host.make<LeadTimeScheduler>();
    constexpr warmup_time_ms kEarliest = std::numeric_limits<warmup_time_ms>::min();
    const warmup_plan plan =
        PlanCase(kLastSeenMs, kEarliest + 5, kLastSeenMs + 60'000).plan(*scheduler, WARMUP_TRIGGER_USED);
    EXPECT_LE(plan.unload_at_ms, kLastSeenMs + 60'000);
    EXPECT_TRUE(plan.warm_start_at_ms == WARMUP_TIME_NEVER || plan.warm_start_at_ms <= kLastSeenMs)
        << plan.warm_start_at_ms;
    // keep_until at the earliest time and a pre-warm far ahead: the gap between them is the longest one, not negative.
    const warmup_plan far =
        PlanCase(kEarliest, kLastSeenMs + 540'000, kLastSeenMs + 726'000).plan(*scheduler, WARMUP_TRIGGER_USED);
    EXPECT_EQ(far.unload_at_ms, kEarliest);
    EXPECT_EQ(far.warm_start_at_ms, kLastSeenMs + 536'800);
}

TEST(LeadTimeScheduler, ShortGapBetweenUnloadAndPrewarmIsMergedIntoOneStay) {
    PluginTestHost test_host = two_models_host();
    auto scheduler = test_host.make<LeadTimeScheduler>();
    // Pre-warm would start at +298 800, before keep_until +300 000: stay loaded until warm_keep_until.
    const warmup_plan plan = PlanCase(kLastSeenMs + 300'000, kLastSeenMs + 302'000, kLastSeenMs + 400'000)
                                 .plan(*scheduler, WARMUP_TRIGGER_USED);
    EXPECT_EQ(plan.unload_at_ms, kLastSeenMs + 400'000);
    EXPECT_EQ(plan.warm_start_at_ms, WARMUP_TIME_NEVER);
    // The merged stay never ends before keep_until even if the pre-warm window closes earlier.
    const warmup_plan early = PlanCase(kLastSeenMs + 300'000, kLastSeenMs + 302'000, kLastSeenMs + 250'000)
                                  .plan(*scheduler, WARMUP_TRIGGER_USED);
    EXPECT_EQ(early.unload_at_ms, kLastSeenMs + 300'000);
}

TEST(LeadTimeScheduler, KeptUntilEvictedWithAPreWarmPlansThePreWarmForTheCaseItIsEvicted) {
    PluginTestHost test_host = two_models_host();
    auto scheduler = test_host.make<LeadTimeScheduler>();
    // keep_until NEVER: never unloaded by a timer, however near the pre-warm; the pre-warm stays planned (one lead
    // before warm_at), for the host to start if the budget has evicted the model by then.
    const warmup_plan forever =
        PlanCase(WARMUP_TIME_NEVER, kLastSeenMs + 302'000, kLastSeenMs + 400'000).plan(*scheduler, WARMUP_TRIGGER_USED);
    EXPECT_EQ(forever.unload_at_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(forever.warm_start_at_ms, kLastSeenMs + 302'000 - 3'200);
    EXPECT_EQ(forever.warm_ready_by_ms, kLastSeenMs + 302'000);
    EXPECT_EQ(forever.warm_unload_at_ms, kLastSeenMs + 400'000);
    // Without a pre-warm: kept, nothing planned.
    const warmup_plan kept =
        PlanCase(WARMUP_TIME_NEVER, WARMUP_TIME_NEVER, WARMUP_TIME_NEVER).plan(*scheduler, WARMUP_TRIGGER_USED);
    EXPECT_EQ(kept.unload_at_ms, WARMUP_TIME_NEVER);
    EXPECT_EQ(kept.warm_start_at_ms, WARMUP_TIME_NEVER);
}

TEST(LeadTimeScheduler, MinIdleToUnloadMergesGapsShorterThanIt) {
    PluginTestHost test_host = two_models_host();
    const PlanCase soon(kLastSeenMs, kLastSeenMs + 50'000, kLastSeenMs + 80'000);  // start at +46 800
    auto lenient = test_host.make<LeadTimeScheduler>();
    EXPECT_EQ(soon.plan(*lenient, WARMUP_TRIGGER_USED).warm_start_at_ms, kLastSeenMs + 46'800);
    auto strict = test_host.make<LeadTimeScheduler>("min_idle_to_unload_ms: 60000");
    const warmup_plan merged = soon.plan(*strict, WARMUP_TRIGGER_USED);
    EXPECT_EQ(merged.unload_at_ms, kLastSeenMs + 80'000);
    EXPECT_EQ(merged.warm_start_at_ms, WARMUP_TIME_NEVER);
}

TEST(LeadTimeScheduler, WarmedHoldsUntilWarmKeepUntilOrKeepUntilWithoutPrewarm) {
    PluginTestHost test_host = two_models_host();
    auto scheduler = test_host.make<LeadTimeScheduler>();
    const warmup_plan warmed =
        PlanCase(kLastSeenMs, kLastSeenMs + 540'000, kLastSeenMs + 726'000).plan(*scheduler, WARMUP_TRIGGER_WARMED);
    EXPECT_EQ(warmed.unload_at_ms, kLastSeenMs + 726'000);
    EXPECT_EQ(warmed.warm_start_at_ms, WARMUP_TIME_NEVER);
    const warmup_plan plain =
        PlanCase(kLastSeenMs + 300'000, WARMUP_TIME_NEVER, 7).plan(*scheduler, WARMUP_TRIGGER_WARMED);
    EXPECT_EQ(plain.unload_at_ms, kLastSeenMs + 300'000);
}

TEST(LeadTimeScheduler, PriorityClassIsTheCatalogPriorityClamped) {
    PluginTestHost test_host = two_models_host();
    const PlanCase any(kLastSeenMs, WARMUP_TIME_NEVER, WARMUP_TIME_NEVER);
    auto scheduler = test_host.make<LeadTimeScheduler>();
    EXPECT_EQ(any.plan(*scheduler, WARMUP_TRIGGER_USED, kLlama).priority_class, 1u);
    EXPECT_EQ(any.plan(*scheduler, WARMUP_TRIGGER_USED, kBig).priority_class, 3u);  // 7 -> 3
    auto flat = test_host.make<LeadTimeScheduler>("max_priority_class: 0");
    EXPECT_EQ(any.plan(*flat, WARMUP_TRIGGER_USED, kLlama).priority_class, 0u);
}

TEST(LeadTimeScheduler, FailedWarmupsBackOffExponentiallyThenGiveUp) {
    PluginTestHost test_host = two_models_host();
    auto scheduler = test_host.make<LeadTimeScheduler>();
    EXPECT_EQ(scheduler->on_warmup_failed(kLlama, 1, 10'000), 11'000);
    EXPECT_EQ(scheduler->on_warmup_failed(kLlama, 2, 10'000), 12'000);
    EXPECT_EQ(scheduler->on_warmup_failed(kLlama, 3, 10'000), WARMUP_TIME_NEVER);

    auto patient = test_host.make<LeadTimeScheduler>("max_attempts: 100\nretry_max_ms: 5000");
    EXPECT_EQ(patient->on_warmup_failed(kLlama, 3, 0), 4'000);
    EXPECT_EQ(patient->on_warmup_failed(kLlama, 4, 0), 5'000);   // 8000 capped
    EXPECT_EQ(patient->on_warmup_failed(kLlama, 99, 0), 5'000);  // no overflow
}

TEST(LeadTimeScheduler, MissingPredictionIsAnError) {
    PluginTestHost test_host = two_models_host();
    auto scheduler = test_host.make<LeadTimeScheduler>();
    warmup_plan_input input{};
    input.struct_size = sizeof input;
    warmup_plan out{};
    out.struct_size = sizeof out;
    EXPECT_THROW(scheduler->plan(input, out), sdk::Error);
}

TEST(LeadTimeScheduler, ParamsErrorsNameTheKey) {
    PluginTestHost test_host = two_models_host();
    EXPECT_EQ(test_host.create_error<LeadTimeScheduler>("lead_margin_fraction: 0.2\nlead_margin_ms: 500"), "");
    EXPECT_EQ(test_host.create_error<LeadTimeScheduler>("max_attempts: 0").rfind("params.max_attempts: ", 0), 0u);
    EXPECT_EQ(test_host.create_error<LeadTimeScheduler>("retry_base_ms: 5000\nretry_max_ms: 1000")
                  .rfind("params.retry_max_ms: ", 0),
              0u);
    EXPECT_EQ(test_host.create_error<LeadTimeScheduler>("lead_margin_ms: -1").rfind("params.lead_margin_ms: ", 0), 0u);
    EXPECT_EQ(test_host.create_error<LeadTimeScheduler>("jitter: 1"), "params.jitter: unknown parameter");
}

}  // namespace
}  // namespace warmup::test
