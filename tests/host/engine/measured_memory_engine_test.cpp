// A backend may measure what a model holds once it is loaded (Ollama's /api/ps, Triton's statistics, a vLLM metric).
// The engine charges that figure instead of the estimate the load was admitted with, so the budget counts what the
// servers hold; when the measured size puts the books over the budget, ready models are evicted in the resource
// plugin's order and the model just loaded is kept; a figure above the whole budget is taken for a mistake. Stepped by
// hand over the in-tree plugins (manual_engine.hpp).
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "manual_engine.hpp"

namespace warmup::host {
namespace {

using test::ManualEngine;
using test::ManualEngineSetup;

ManualEngineSetup setup(double budget_mb) { return test::keep_alive_setup(budget_mb); }

TEST(MeasuredMemory, ALoadIsChargedWhatTheBackendMeasuredNotItsEstimate) {
    ManualEngine manual(setup(10000));
    WarmupEngine& engine = manual.engine();
    manual.request("shared-embedding", 1000);
    ASSERT_DOUBLE_EQ(engine.used_mb(), 1000);  // admitted with the catalog's estimate
    manual.complete_next_load(2000, 1000, 4096);
    EXPECT_DOUBLE_EQ(engine.used_mb(), 4096);
    EXPECT_DOUBLE_EQ(engine.model_status(manual.model("shared-embedding")).memory_mb, 4096);

    // Smaller than estimated: the memory the estimate held back is free for others.
    manual.request("small", 3000);
    manual.complete_next_load(4000, 1000, 250);
    EXPECT_DOUBLE_EQ(engine.used_mb(), 4096 + 250);

    // Unknown (0): the estimate stays charged.
    manual.request("unmeasured", 5000);
    manual.complete_next_load(6000, 1000, 0);
    EXPECT_DOUBLE_EQ(engine.used_mb(), 4096 + 250 + 1000);

    // Memory-time follows the charge: 1 s of loading at the estimate, then the measured size.
    manual.run_timers(8000);
    EXPECT_DOUBLE_EQ(engine.model_status(manual.model("shared-embedding")).loaded_mb_ms, 1000.0 * 1000 + 4096.0 * 6000);
}

TEST(MeasuredMemory, ALoadMeasuredOverTheBudgetEvictsOtherReadyModelsAndKeepsItself) {
    ManualEngine manual(setup(3000));
    WarmupEngine& engine = manual.engine();
    manual.request("a", 1000);
    manual.complete_next_load(2000);
    manual.request("b", 3000);
    manual.complete_next_load(4000);
    manual.request("c", 5000);  // admitted: 1000 + 1000 + 1000 fits the 3000 MiB budget
    manual.complete_next_load(6000, 1000, 1800);

    // 1000 + 1000 + 1800 is over 3000: the least recently used (a) makes room; b and c stay.
    EXPECT_EQ(manual.unloaded(), (std::vector<std::string>{"a"}));
    EXPECT_DOUBLE_EQ(engine.used_mb(), 2800);
    EXPECT_EQ(engine.counters().evictions, 1u);
    EXPECT_EQ(engine.model_status(manual.model("c")).residency, WARMUP_RESIDENCY_READY);
    EXPECT_EQ(engine.model_status(manual.model("b")).residency, WARMUP_RESIDENCY_READY);
    // c's request waited for its load and was served by it.
    EXPECT_EQ(engine.counters().cold_requests, 3u);
    EXPECT_EQ(engine.counters().failed_requests, 0u);
}

TEST(MeasuredMemory, AFigureAboveABudgetTheResourcePluginLoweredIsIgnoredToo) {
    // The budget in force is what counts: the resource plugin caps the configured 10,000 MiB at 4,000 (its host
    // limit), so a figure of 6,000 MiB is more than the whole budget.
    const test::TempDir dir("warmup-measured-memory");
    const auto memory_max = dir.write("memory.max", std::to_string(4000LL * 1024 * 1024) + "\n");
    ManualEngineSetup lowered = setup(10000);
    lowered.components["resource"] =
        "{plugin: org.warmup.resource.lru, params: {host_limit: cgroup, "
        "cgroup_memory_max_path: \"" +
        memory_max.string() + "\"}}";
    ManualEngine manual(lowered);
    WarmupEngine& engine = manual.engine();
    ASSERT_DOUBLE_EQ(engine.budget_mb(), 4000);
    manual.request("a", 1000);
    manual.complete_next_load(2000, 1000, 6000);
    EXPECT_DOUBLE_EQ(engine.used_mb(), 1000);
}

TEST(MeasuredMemory, AFigureAboveTheWholeBudgetIsIgnoredAndTheModelStaysServable) {
    // A backend's bad figure (1e12 MiB): charged, it would evict everything; learned, the model would need more than
    // the budget at every later load and its requests would fail for good.
    ManualEngine manual(setup(10000));
    WarmupEngine& engine = manual.engine();
    manual.request("a", 1000);
    manual.complete_next_load(2000, 1000, 1e12);
    EXPECT_DOUBLE_EQ(engine.used_mb(), 1000);
    manual.request("b", 3000);
    manual.complete_next_load(4000, 1000, std::numeric_limits<double>::quiet_NaN());
    EXPECT_DOUBLE_EQ(engine.used_mb(), 2000);

    // Unloaded, then requested again: admitted with a sane estimate, loaded, served.
    manual.run_timers(1000000);  // past the 10-minute keep of both
    ASSERT_DOUBLE_EQ(engine.used_mb(), 0);
    manual.request("a", 1001000);
    ASSERT_EQ(manual.started().size(), 3u);
    manual.complete_next_load(1002000, 1000);
    EXPECT_EQ(engine.model_status(manual.model("a")).residency, WARMUP_RESIDENCY_READY);
    EXPECT_LE(engine.model_status(manual.model("a")).memory_mb, 1000);
    EXPECT_EQ(engine.counters().failed_requests, 0u);
}

}  // namespace
}  // namespace warmup::host
