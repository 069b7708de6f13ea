// Live A/B experiments (host/runtime/experiment_arms.cpp): the split is stable per tenant and follows the weights;
// shadow arms never call the backend.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "config/config.hpp"
#include "fake_ollama.hpp"
#include "http/http_api.hpp"
#include "runtime/live_runtime.hpp"
#include "test_support.hpp"

namespace warmup::host {
namespace {

std::string config_text(const std::string& arms, const std::string& backend_params, const std::string& split) {
    return std::string("plugin_dirs: [\"") + WARMUP_TEST_PLUGIN_DIR + "\"]\n" +
           "budgets: {memory_mb: 100000, max_concurrent_warmups: 4}\n"
           "components:\n"
           "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
           "  predictor: {plugin: org.warmup.predictor.idle-histogram}\n"
           "  performance: {plugin: org.warmup.performance.calibrated}\n"
           "  scheduler: {plugin: org.warmup.scheduler.lead-time, params: {max_attempts: 1}}\n"
           "  resource: {plugin: org.warmup.resource.lru}\n"
           "  queue: {plugin: org.warmup.queue.priority}\n"
           "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
           "  backend: {plugin: org.warmup.backend.sim, params: " +
           backend_params +
           "}\n"
           "catalog:\n"
           "  - {model: \"m/*\", memory_mb: 100, load_ms: 5}\n"
           "experiment: {enabled: true, split: " +
           split + ", control_weight: 1}\n" + arms;
}

/// Waits (bounded) until the control loop has processed `expected` events across the acting arms.
uint64_t wait_for_events(LiveRuntime& runtime, uint64_t expected, bool acting_only = true) {
    uint64_t seen = 0;
    test::poll_until(
        [&] {
            seen = runtime.call_on_control([&](WarmupEngine&) {
                uint64_t total = 0;
                for (const auto& arm : runtime.arms())
                    if (!acting_only || arm->mode != LiveArm::Mode::Shadow) total += arm->engine->counters().events;
                return total;
            });
            return seen >= expected;
        },
        std::chrono::seconds(10));
    return seen;
}

/// One request of each of m/0 .. m/<models - 1>, now; true when the ingest queue took them all.
bool request_models(LiveRuntime& runtime, int models) {
    for (int i = 0; i < models; ++i) {
        warmup_usage_event event{};
        event.model = *runtime.catalog().resolve("m/" + std::to_string(i));
        event.ts_ms = runtime.clock().now_ms();
        event.count = 1;
        if (!runtime.try_ingest(event)) return false;
    }
    return true;
}

uint64_t events_of(LiveRuntime& runtime, const std::string& arm_name) {
    return runtime.call_on_control([&](WarmupEngine&) -> uint64_t {
        for (const auto& arm : runtime.arms())
            if (arm->name == arm_name) return arm->engine->counters().events;
        return UINT64_MAX;
    });
}

TEST(LiveExperiment, SplitFollowsTheWeightsAndIsStablePerTenant) {
    const Config config =
        load_config_text(config_text("arms:\n  - {name: treatment, weight: 3, components: {predictor: {plugin: "
                                     "org.warmup.predictor.keep-alive}}}\n",
                                     "{time_scale: 0}", "tenant"),
                         "experiment.yaml", {}, {});
    LiveRuntime runtime(config);
    runtime.start();
    const auto model = *runtime.catalog().resolve("m/a");
    constexpr int kTenants = 4000;
    for (int i = 0; i < kTenants; ++i) {
        warmup_usage_event event{};
        event.model = model;
        event.ts_ms = runtime.clock().now_ms();  // a request now (an old timestamp would be history, not scored)
        event.count = 1;
        event.tenant_hash = tenant_hash("tenant-" + std::to_string(i));
        ASSERT_TRUE(runtime.try_ingest(event));
    }
    ASSERT_EQ(wait_for_events(runtime, kTenants), static_cast<uint64_t>(kTenants));
    const double treatment_share = static_cast<double>(events_of(runtime, "treatment")) / kTenants;
    // Weights 1 (control) : 3 (treatment) -> 75 %; 4000 independent tenants: the binomial s.d. is 0.7 %.
    EXPECT_NEAR(treatment_share, 0.75, 0.035);

    // The same tenant always lands in the same arm.
    const uint64_t control_before = events_of(runtime, "control");
    const uint64_t treatment_before = events_of(runtime, "treatment");
    for (int i = 0; i < 50; ++i) {
        warmup_usage_event event{};
        event.model = model;
        event.ts_ms = runtime.clock().now_ms();
        event.count = 1;
        event.tenant_hash = tenant_hash("one-tenant");
        ASSERT_TRUE(runtime.try_ingest(event));
    }
    ASSERT_EQ(wait_for_events(runtime, kTenants + 50), static_cast<uint64_t>(kTenants + 50));
    const uint64_t to_control = events_of(runtime, "control") - control_before;
    const uint64_t to_treatment = events_of(runtime, "treatment") - treatment_before;
    EXPECT_TRUE((to_control == 50 && to_treatment == 0) || (to_control == 0 && to_treatment == 50))
        << "control got " << to_control << ", treatment got " << to_treatment;
    runtime.stop();
}

TEST(LiveExperiment, ATenantSplitSendsEventsWithoutATenantByTheirModel) {
    // Sources without a tenant field, and the README's own events, carry no tenant: they are split by model, not all
    // sent to the one arm an empty tenant hashes to.
    const Config config = load_config_text(config_text("arms:\n  - {name: treatment, components: {predictor: {plugin: "
                                                       "org.warmup.predictor.keep-alive}}}\n",
                                                       "{time_scale: 0}", "tenant"),
                                           "experiment.yaml", {}, {});
    LiveRuntime runtime(config);
    runtime.start();
    constexpr int kModels = 400;
    ASSERT_TRUE(request_models(runtime, kModels));
    ASSERT_EQ(wait_for_events(runtime, kModels), static_cast<uint64_t>(kModels));
    // Weights 1 : 1 over 400 models: the binomial s.d. of a share is 2.5 %.
    const double treatment_share = static_cast<double>(events_of(runtime, "treatment")) / kModels;
    EXPECT_NEAR(treatment_share, 0.5, 0.1);
    // One model's tenant-less events all go to one arm.
    const uint64_t control_before = events_of(runtime, "control");
    ASSERT_TRUE(request_models(runtime, 1));
    ASSERT_TRUE(request_models(runtime, 1));
    ASSERT_EQ(wait_for_events(runtime, kModels + 2), static_cast<uint64_t>(kModels + 2));
    const uint64_t to_control = events_of(runtime, "control") - control_before;
    EXPECT_TRUE(to_control == 0 || to_control == 2) << to_control;
    runtime.stop();
}

TEST(LiveExperiment, AListedArmNamedControlIsTheControlArmAndOneThatDiffersIsRefused) {
    // As in a replay's configuration: `control` listing nothing is the top-level components, run once.
    const Config listed = load_config_text(
        config_text("arms:\n  - {name: treatment, components: {predictor: {plugin: org.warmup.predictor.keep-alive}}}"
                    "\n  - {name: control}\n",
                    "{time_scale: 0}", "model"),
        "experiment.yaml", {}, {});
    LiveRuntime runtime(listed);
    runtime.start();
    std::vector<std::string> names;
    for (const auto& arm : runtime.arms()) names.push_back(arm->name);
    EXPECT_EQ(names, (std::vector<std::string>{"control", "treatment"}));
    // A reload to a `control` arm with other components is refused, and the experiment runs on as it was.
    const ReloadResult refused = runtime.reload(load_config_text(
        config_text("arms:\n  - {name: treatment, components: {predictor: {plugin: org.warmup.predictor.keep-alive}}}"
                    "\n  - {name: control, components: {predictor: {plugin: org.warmup.predictor.hybrid-histogram}}}\n",
                    "{time_scale: 0}", "model"),
        "experiment.yaml", {}, {}));
    EXPECT_FALSE(refused.ok);
    EXPECT_NE(refused.error.find("'control' is the top-level components' arm"), std::string::npos) << refused.error;
    EXPECT_EQ(runtime.arms().size(), 2u);
    runtime.stop();
    // At start too, and a weight written other than control_weight (1 here; a weight of 1 written when it is 3).
    for (const auto& [arm, control_weight] : {std::pair{"{name: control, shadow: true}", 1},
                                              {"{name: control, weight: 3}", 1},
                                              {"{name: control, weight: 1}", 3}}) {
        std::string text = config_text("arms:\n  - " + std::string(arm) + "\n", "{time_scale: 0}", "model");
        text.replace(text.find("control_weight: 1"), 17, "control_weight: " + std::to_string(control_weight));
        const Config config = load_config_text(text, "e.yaml", {}, {});
        EXPECT_THROW(LiveRuntime{config}, StartupError) << arm;
    }
}

TEST(LiveExperiment, ShadowArmSeesEveryEventButNeverCallsTheBackend) {
    // Every real backend load fails; the shadow arm's loads are simulated, so they all succeed.
    const Config config =
        load_config_text(config_text("arms:\n  - {name: shadow, shadow: true, components: {predictor: {plugin: "
                                     "org.warmup.predictor.hybrid-histogram}}}\n",
                                     "{time_scale: 0, fail_models: [\"*\"]}", "model"),
                         "experiment.yaml", {}, {});
    LiveRuntime runtime(config);
    runtime.start();
    constexpr int kEvents = 20;
    ASSERT_TRUE(request_models(runtime, kEvents));
    ASSERT_EQ(wait_for_events(runtime, 2 * kEvents, /*acting_only=*/false), 2u * kEvents);
    // Bounded wait for the loads to finish in both arms (simulated: 5 ms; real: immediate failure).
    EngineCounters control{}, shadow{};
    test::poll_until(
        [&] {
            std::tie(control, shadow) = runtime.call_on_control([&](WarmupEngine&) {
                return std::pair{runtime.arms()[0]->engine->counters(), runtime.arms()[1]->engine->counters()};
            });
            return control.loads_failed >= kEvents && shadow.loads_succeeded >= kEvents;
        },
        std::chrono::seconds(10));
    EXPECT_EQ(shadow.events, static_cast<uint64_t>(kEvents));   // every event, not a split share
    EXPECT_EQ(control.events, static_cast<uint64_t>(kEvents));  // the only acting arm gets all the traffic
    EXPECT_EQ(control.loads_failed, static_cast<uint64_t>(kEvents));
    EXPECT_EQ(control.loads_succeeded, 0u);
    EXPECT_EQ(shadow.loads_succeeded, static_cast<uint64_t>(kEvents));
    EXPECT_EQ(shadow.loads_failed, 0u);
    runtime.stop();
}

TEST(LiveExperiment, StartingAndStoppingAnExperimentIsAReload) {
    const std::string arms =
        "arms:\n  - {name: treatment, components: {predictor: {plugin: org.warmup.predictor.keep-alive}}}\n";
    Config without = load_config_text(config_text(arms, "{time_scale: 0}", "tenant"), "a.yaml", {}, {});
    without.experiment.enabled = false;
    LiveRuntime runtime(without);
    runtime.start();
    EXPECT_EQ(runtime.call_on_control([&](WarmupEngine&) { return runtime.arms().size(); }), 1u);

    const ReloadResult started =
        runtime.reload(load_config_text(config_text(arms, "{time_scale: 0}", "tenant"), "b.yaml", {}, {}));
    ASSERT_TRUE(started.ok) << started.error;
    EXPECT_TRUE(started.changes.empty());  // the control arm's components stay; only an arm starts
    EXPECT_EQ(reload_json(started)["status"], "reloaded");
    EXPECT_EQ(runtime.call_on_control([&](WarmupEngine&) { return runtime.arms().size(); }), 2u);
    ASSERT_FALSE(started.notes.empty());
    EXPECT_NE(started.notes.back().find("experiment arm 'treatment' started"), std::string::npos);

    const ReloadResult stopped = runtime.rollback();
    ASSERT_TRUE(stopped.ok) << stopped.error;
    EXPECT_EQ(reload_json(stopped)["status"], "reloaded");  // stopping an experiment is a change, not "unchanged"
    EXPECT_NE(reload_json(stopped)["notes"].dump().find("experiment arm 'treatment' stopped"), std::string::npos);
    EXPECT_EQ(runtime.call_on_control([&](WarmupEngine&) { return runtime.arms().size(); }), 1u);
    // A reload of the same configuration changes nothing and says so.
    EXPECT_EQ(reload_json(runtime.reload(without))["status"], "unchanged");
    runtime.stop();
}

TEST(LiveExperiment, AReloadThatMovesTheSplitOrTheWeightsSaysSo) {
    // The arms run on and their components do not change, but traffic and budget shares move: the answer says
    // "reloaded" with a note per setting, not "unchanged".
    const std::string arms =
        "arms:\n  - {name: treatment, components: {predictor: {plugin: org.warmup.predictor.keep-alive}}}\n";
    LiveRuntime runtime(load_config_text(config_text(arms, "{time_scale: 0}", "tenant"), "a.yaml", {}, {}));
    runtime.start();
    Config moved = load_config_text(config_text(arms, "{time_scale: 0}", "model"), "b.yaml", {}, {});
    moved.experiment.control_weight = 3;
    moved.arms.at(0).weight = 2;
    const auto answer = reload_json(runtime.reload(moved));
    EXPECT_EQ(answer["status"], "reloaded") << answer.dump();
    const std::string notes = answer["notes"].dump();
    EXPECT_NE(notes.find("experiment.split: tenant -> model"), std::string::npos) << notes;
    EXPECT_NE(notes.find("experiment.control_weight: 1 -> 3"), std::string::npos) << notes;
    EXPECT_NE(notes.find("arms.treatment.weight: 1 -> 2"), std::string::npos) << notes;
    EXPECT_EQ(reload_json(runtime.reload(moved))["status"], "unchanged");
    runtime.stop();
}

TEST(LiveExperiment, AReloadWhoseNewArmFailsToStartLeavesTheRunningArmsAsTheyWere) {
    // The new arm's predictor starts once (the reload's check) and fails the second time (the arm itself): the
    // unchanged arm must still be there and running, not destroyed with the half-built list.
    const std::string kept = "  - {name: kept, components: {predictor: {plugin: org.warmup.predictor.keep-alive}}}\n";
    const std::string flaky =
        (std::filesystem::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "engine_breaker_flaky_predictor.so").string();
    LiveRuntime runtime(load_config_text(config_text("arms:\n" + kept, "{time_scale: 0}", "model"), "a.yaml", {}, {}));
    runtime.start();
    const ReloadResult failed = runtime.reload(
        load_config_text(config_text("arms:\n" + kept + "  - {name: broken, components: {predictor: {path: \"" + flaky +
                                         "\", params: {creations_before_failing: 1}}}}\n",
                                     "{time_scale: 0}", "model"),
                         "b.yaml", {}, {}));
    EXPECT_FALSE(failed.ok);
    EXPECT_NE(failed.error.find("fails on purpose"), std::string::npos) << failed.error;
    const auto names = runtime.call_on_control([&](WarmupEngine&) {
        std::vector<std::string> arms;
        for (const auto& arm : runtime.arms()) arms.push_back(arm ? arm->name : "(none)");
        return arms;
    });
    EXPECT_EQ(names, (std::vector<std::string>{"control", "kept"}));
    // The control loop goes on with both arms.
    ASSERT_TRUE(request_models(runtime, 20));
    EXPECT_EQ(wait_for_events(runtime, 20), 20u);
    runtime.stop();
}

TEST(LiveExperiment, AnArmWhosePluginFailsIsReportedDegradedByName) {
    // The arm's predictor throws on every call: the control arm's components stay ok, and the health list has an
    // entry for the arm that says which of its plugins fails (an acting arm serves real traffic).
    const std::string flaky =
        (std::filesystem::path(WARMUP_TEST_BAD_PLUGIN_DIR) / "engine_breaker_flaky_predictor.so").string();
    LiveRuntime runtime(
        load_config_text(config_text("arms:\n  - {name: broken, components: {predictor: {path: \"" + flaky + "\"}}}\n",
                                     "{time_scale: 0}", "model"),
                         "a.yaml", {}, {}));
    // The log lines of its failures name the arm too (the same plugin may serve the control arm).
    std::ostringstream log;
    struct LogTo {  // the default logger writes into `log` until the end of the test, however it ends
        std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
        explicit LogTo(std::ostringstream& out) {
            auto logger =
                std::make_shared<spdlog::logger>("arm-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
            logger->set_pattern("%l %v");
            spdlog::set_default_logger(logger);
        }
        ~LogTo() { spdlog::set_default_logger(previous); }
    } const log_to(log);
    runtime.start();
    ASSERT_TRUE(request_models(runtime, 20));
    ASSERT_EQ(wait_for_events(runtime, 20), 20u);
    const auto find = [](const std::vector<ComponentHealth>& health, const std::string& name) {
        const auto it = std::find_if(health.begin(), health.end(),
                                     [&](const ComponentHealth& component) { return component.component == name; });
        return it == health.end() ? std::optional<ComponentHealth>{} : std::optional<ComponentHealth>{*it};
    };
    std::optional<ComponentHealth> arm;
    test::poll_until(
        [&] {
            arm = find(runtime.component_health(), "arm:broken");
            return arm && arm->degraded;
        },
        std::chrono::seconds(10));
    ASSERT_TRUE(arm.has_value());
    EXPECT_TRUE(arm->degraded);
    EXPECT_GT(arm->errors, 0u);
    EXPECT_NE(arm->reason.find("predictor org.warmup.test.flaky-predictor"), std::string::npos) << arm->reason;
    const std::vector<ComponentHealth> health = runtime.component_health();
    ASSERT_TRUE(find(health, "predictor").has_value());
    EXPECT_FALSE(find(health, "predictor")->degraded);  // the control arm's predictor is fine
    runtime.stop();
    EXPECT_TRUE(std::regex_search(
        log.str(),
        std::regex(R"(error PLUGIN_CALL_ERROR org\.warmup\.test\.flaky-predictor@\S+ \(arm broken\) predict: )")))
        << log.str().substr(0, 2000);
}

TEST(LiveExperiment, StartingAnExperimentSplitByModelHandsEachLoadedModelToTheArmThatServesItNow) {
    // The control arm loaded 30 models; an experiment split by model sends some of their requests to a new arm.
    // Those models go to that arm's books (no second load, no double charge), and the control arm, which no longer
    // sees their requests, does not unload them under it.
    const std::string arms =
        "arms:\n  - {name: treatment, components: {predictor: {plugin: org.warmup.predictor.keep-alive, "
        "params: {ttl_ms: never}}}}\n";
    const std::string control_keeps_forever = "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: never}}";
    auto text = config_text(arms, "{time_scale: 0}", "model");
    text.replace(text.find("{plugin: org.warmup.predictor.idle-histogram}"),
                 std::string("{plugin: org.warmup.predictor.idle-histogram}").size(), control_keeps_forever);
    Config without = load_config_text(text, "a.yaml", {}, {});
    without.experiment.enabled = false;
    LiveRuntime runtime(without);
    runtime.start();
    constexpr int kModels = 30;
    ASSERT_TRUE(request_models(runtime, kModels));
    ASSERT_EQ(wait_for_events(runtime, kModels), static_cast<uint64_t>(kModels));
    ASSERT_TRUE(test::poll_until(
        [&] {
            return runtime.call_on_control([&](WarmupEngine& engine) { return engine.counters().loads_succeeded; }) ==
                   kModels;
        },
        std::chrono::seconds(10)));

    const ReloadResult started = runtime.reload(load_config_text(text, "b.yaml", {}, {}));
    ASSERT_TRUE(started.ok) << started.error;
    EXPECT_NE(reload_json(started)["notes"].dump().find("handed to the experiment arms that serve them now"),
              std::string::npos)
        << reload_json(started).dump();
    const auto ready_per_arm = [&] {
        return runtime.call_on_control([&](WarmupEngine&) {
            std::vector<int> ready(kModels, 0);
            std::vector<int> per_arm;
            for (const auto& arm : runtime.arms()) {
                int count = 0;
                for (int i = 0; i < kModels; ++i)
                    if (arm->engine->model_status(*runtime.catalog().find("m/" + std::to_string(i))).residency ==
                        WARMUP_RESIDENCY_READY) {
                        ++ready[i];
                        ++count;
                    }
                per_arm.push_back(count);
            }
            return std::pair{ready, per_arm};
        });
    };
    const auto [ready, per_arm] = ready_per_arm();
    EXPECT_EQ(ready, std::vector<int>(kModels, 1)) << "each model in exactly one arm's books";
    ASSERT_EQ(per_arm.size(), 2u);
    EXPECT_GT(per_arm[1], 0) << "the treatment serves some of them now";
    EXPECT_EQ(per_arm[0] + per_arm[1], kModels);

    // Their next requests are warm in the arm that serves them: no arm loads anything again.
    const auto loads = [&] {
        return runtime.call_on_control([&](WarmupEngine&) {
            uint64_t started_loads = 0;
            for (const auto& arm : runtime.arms()) started_loads += arm->engine->counters().demand_loads;
            return started_loads;
        });
    };
    const uint64_t loads_before = loads();
    ASSERT_TRUE(request_models(runtime, kModels));
    ASSERT_EQ(wait_for_events(runtime, 2 * kModels), static_cast<uint64_t>(2 * kModels));
    EXPECT_EQ(loads(), loads_before);
    runtime.stop();
}

TEST(LiveExperiment, WhatAStoppedArmHadLoadedGoesToTheArmThatServesItNow) {
    // Split by model: each model's requests go to one arm, which loads it. The treatment keeps models forever.
    const auto arms = [](const std::string& ttl) {
        return "arms:\n  - {name: treatment, components: {predictor: {plugin: org.warmup.predictor.keep-alive, "
               "params: {ttl_ms: " +
               ttl + "}}}}\n";
    };
    LiveRuntime runtime(load_config_text(config_text(arms("never"), "{time_scale: 0}", "model"), "a.yaml", {}, {}));
    runtime.start();
    constexpr int kModels = 40;
    ASSERT_TRUE(request_models(runtime, kModels));
    ASSERT_EQ(wait_for_events(runtime, kModels), static_cast<uint64_t>(kModels));
    // The treatment's ready models (its loads take no time here; wait until none is loading).
    std::vector<warmup_model_index> loaded;
    ASSERT_TRUE(test::poll_until(
        [&] {
            loaded = runtime.call_on_control([&](WarmupEngine&) {
                std::vector<warmup_model_index> ready;
                const WarmupEngine& treatment = *runtime.arms().at(1)->engine;
                if (treatment.loads_in_flight() > 0) return std::vector<warmup_model_index>{};
                for (warmup_model_index model = 0; model < treatment.model_count(); ++model)
                    if (treatment.model_status(model).residency == WARMUP_RESIDENCY_READY) ready.push_back(model);
                return ready;
            });
            return !loaded.empty();
        },
        std::chrono::seconds(10)));

    // The experiment stops: the control arm serves every model now and takes what the treatment had loaded.
    Config stopped_config = load_config_text(config_text(arms("never"), "{time_scale: 0}", "model"), "b.yaml", {}, {});
    stopped_config.experiment.enabled = false;
    const ReloadResult stopped = runtime.reload(stopped_config);
    ASSERT_TRUE(stopped.ok) << stopped.error;
    EXPECT_NE(
        reload_json(stopped)["notes"].dump().find("experiment arm 'treatment': its " + std::to_string(loaded.size()) +
                                                  " loaded model(s) were handed to the arms that serve them now"),
        std::string::npos)
        << reload_json(stopped).dump();
    const auto [control_ready, demand_loads_before] = runtime.call_on_control([&](WarmupEngine& control) {
        std::size_t ready = 0;
        for (const warmup_model_index model : loaded)
            if (control.model_status(model).residency == WARMUP_RESIDENCY_READY) ++ready;
        return std::pair{ready, control.counters().demand_loads};
    });
    EXPECT_EQ(control_ready, loaded.size());
    // Their next request is warm: no second load of a model the backend already holds.
    for (const warmup_model_index model : loaded) {
        warmup_usage_event event{};
        event.model = model;
        event.ts_ms = runtime.clock().now_ms();
        event.count = 1;
        ASSERT_TRUE(runtime.try_ingest(event));
    }
    ASSERT_TRUE(test::poll_until(
        [&] {
            // Its own models' first requests and the treatment's models' second ones.
            return runtime.call_on_control(
                [&](WarmupEngine& control) { return control.counters().requests >= kModels; });
        },
        std::chrono::seconds(10)));
    EXPECT_EQ(runtime.call_on_control([&](WarmupEngine& control) { return control.counters().demand_loads; }),
              demand_loads_before);
    runtime.stop();
}

TEST(LiveExperiment, StartingASplitByModelHandsModelsOverBeforeTheHalvedBudgetEvicts) {
    // 30 models of 100 MiB, kept until evicted, loaded by the control arm under 5,000 MiB. An experiment split by model
    // halves the control arm's budget to 2,500 MiB, below the 3,000 it holds; the models whose events go to the
    // treatment now are handed to it first, after which each arm's models fit its half: nothing is evicted.
    const auto text = [](bool experiment) {
        std::string yaml = config_text(
            "arms:\n  - {name: treatment, components: {predictor: {plugin: org.warmup.predictor.keep-alive, params: "
            "{ttl_ms: never}}}}\n",
            "{time_scale: 0}", "model");
        const auto replace = [&](const std::string& from, const std::string& to) {
            const auto at = yaml.find(from);
            ASSERT_NE(at, std::string::npos) << from;
            yaml.replace(at, from.size(), to);
        };
        replace("memory_mb: 100000", "memory_mb: 5000");
        replace("{plugin: org.warmup.predictor.idle-histogram}",
                "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: never}}");
        Config config = load_config_text(yaml, "a.yaml", {}, {});
        config.experiment.enabled = experiment;
        return config;
    };
    LiveRuntime runtime(text(false));
    runtime.start();
    constexpr int kModels = 30;
    ASSERT_TRUE(request_models(runtime, kModels));
    ASSERT_EQ(wait_for_events(runtime, kModels), static_cast<uint64_t>(kModels));
    // [control thread] The ready models of an arm.
    const auto ready_in = [&](std::size_t arm) {
        const WarmupEngine& engine = *runtime.arms().at(arm)->engine;
        std::size_t ready = 0;
        for (warmup_model_index model = 0; model < engine.model_count(); ++model)
            if (engine.model_status(model).residency == WARMUP_RESIDENCY_READY) ++ready;
        return ready;
    };
    ASSERT_TRUE(
        test::poll_until([&] { return runtime.call_on_control([&](WarmupEngine&) { return ready_in(0); }) == kModels; },
                         std::chrono::seconds(10)));

    const ReloadResult started = runtime.reload(text(true));
    ASSERT_TRUE(started.ok) << started.error;
    const auto [control_ready, treatment_ready, evictions] = runtime.call_on_control([&](WarmupEngine&) {
        uint64_t evicted = 0;
        for (const auto& arm : runtime.arms()) evicted += arm->engine->counters().evictions;
        return std::tuple{ready_in(0), ready_in(1), evicted};
    });
    EXPECT_EQ(evictions, 0u) << reload_json(started).dump();
    EXPECT_EQ(control_ready + treatment_ready, static_cast<std::size_t>(kModels));
    EXPECT_GT(treatment_ready, 0u);  // the split gave the treatment some of them...
    EXPECT_LE(control_ready, 25u);   // ...and left the control arm what fits its half
    // The treatment's decision log says where its models came from: handed over, not found on the server.
    const auto kept = runtime.decisions().newest(std::nullopt, 1000, std::string("treatment"));
    ASSERT_FALSE(kept.empty());
    for (const Decision& decision : kept)
        EXPECT_EQ(std::string(decision.reason).rfind("adopted: handed over by the arm that loaded it", 0), 0u)
            << decision.reason;
    runtime.stop();
}

/// The Ollama backend at `ollama_url` with a `memory_mb` budget, models of 4 GiB, no reconciliation (only the unloads'
/// answers settle the books), split by model between the control arm (keeps models 10 min) and a treatment that
/// keeps them 1 s; `experiment` false: the same configuration with the experiment stopped.
Config ollama_arms_config(const std::string& ollama_url, int memory_mb, bool experiment) {
    Config parsed = load_config_text(
        std::string("plugin_dirs: [\"") + WARMUP_TEST_PLUGIN_DIR + "\"]\n" +
            "budgets: {memory_mb: " + std::to_string(memory_mb) + ", max_concurrent_warmups: 4}\n" +
            "reconcile: {interval_ms: 0}\n"
            "components:\n"
            "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
            "  predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 600000}}\n"
            "  performance: {plugin: org.warmup.performance.calibrated}\n"
            "  scheduler: {plugin: org.warmup.scheduler.lead-time, params: {max_attempts: 1}}\n"
            "  resource: {plugin: org.warmup.resource.lru}\n"
            "  queue: {plugin: org.warmup.queue.priority}\n"
            "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
            "  backend: {plugin: org.warmup.backend.ollama, params: {base_url: '" +
            ollama_url +
            "', keep_alive_refresh_ms: 0}}\n"
            "catalog:\n"
            "  - {model: \"*\", memory_mb: 4096, load_ms: 2000}\n"
            "experiment: {enabled: true, split: model, control_weight: 1}\n"
            "arms:\n"
            "  - {name: treatment, components: {predictor: {plugin: org.warmup.predictor.keep-alive, params: "
            "{ttl_ms: 1000}}}}\n",
        "arms.yaml", {}, {});
    parsed.experiment.enabled = experiment;
    return parsed;
}

// An arm stopped by a reload while unloads it asked for still run: the server holds those models until the unloads
// return, so their memory stays charged (to the arm that serves those models now) until then, and is released once
// when they return. The Ollama backend against FakeOllama, which holds every unload until the test releases it.
TEST(LiveExperiment, UnloadsAStoppedArmHadRunningStayChargedUntilTheBackendAnswers) {
    constexpr uint64_t kGiB = 1024ULL * 1024 * 1024;
    test::FakeOllama ollama;
    std::vector<std::string> names;
    for (int i = 0; i < 8; ++i) {
        names.push_back("m" + std::to_string(i) + ":latest");
        ollama.add_model(names.back(), {4 * kGiB, 4 * kGiB});
    }
    ollama.hold_unloads();
    // Split by model between the control arm (keeps models for 10 min) and the treatment (keeps them 1 s: its models
    // are unloaded soon after their load, and the server holds those unloads). No reconciliation: only the unloads'
    // answers settle the books.
    const auto config = [&](bool experiment) { return ollama_arms_config(ollama.url(), 100000, experiment); };
    LiveRuntime runtime(config(true));
    runtime.start();
    for (const std::string& name : names) {
        warmup_usage_event event{};
        event.model = *runtime.catalog().resolve(name);
        event.ts_ms = runtime.clock().now_ms();
        event.count = 1;
        ASSERT_TRUE(runtime.try_ingest(event));
    }
    // The treatment's unloads, held by the server: their models and the memory its books charge for them, once every
    // model it loaded is being unloaded.
    std::vector<PendingUnload> running;
    ASSERT_TRUE(test::poll_until(
        [&] {
            bool all_unloading = false;
            running = runtime.call_on_control([&](WarmupEngine&) {
                const WarmupEngine& treatment = *runtime.arms().at(1)->engine;
                all_unloading = treatment.loads_in_flight() == 0 && treatment.queue_depth() == 0;
                for (warmup_model_index model = 0; model < treatment.model_count(); ++model)
                    if (treatment.model_status(model).residency != WARMUP_RESIDENCY_ABSENT) all_unloading = false;
                return treatment.pending_unloads();
            });
            return all_unloading && !running.empty() && ollama.unloads_held() == static_cast<int>(running.size());
        },
        std::chrono::seconds(20)))
        << "the treatment's models were not unloaded (no model of 8 routed to it?)";
    double running_mb = 0;
    for (const PendingUnload& unload : running) running_mb += unload.memory_mb;
    ASSERT_GT(running_mb, 0);

    // The experiment stops while those unloads run: the control arm serves every model now, and charges them.
    const ReloadResult stopped = runtime.reload(config(false));
    ASSERT_TRUE(stopped.ok) << stopped.error;
    EXPECT_NE(
        reload_json(stopped)["notes"].dump().find("experiment arm 'treatment': its " + std::to_string(running.size()) +
                                                  " unload(s) not over yet stay charged"),
        std::string::npos)
        << reload_json(stopped).dump();
    // The control arm's books: what it charges, of which for unloads, and for its loaded and loading models.
    struct Books {
        std::size_t arms = 0;
        double used_mb = 0, unloading_mb = 0, resident_mb = 0;
        std::vector<warmup_model_index> unloading;
    };
    const auto books = [&] {
        return runtime.call_on_control([&](WarmupEngine& control) {
            Books out{runtime.arms().size(), control.used_mb(), control.unloading_mb(), 0, {}};
            for (warmup_model_index model = 0; model < control.model_count(); ++model)
                out.resident_mb += control.model_status(model).memory_mb;
            for (const PendingUnload& unload : control.pending_unloads()) out.unloading.push_back(unload.model);
            return out;
        });
    };
    const Books after_reload = books();
    ASSERT_EQ(after_reload.arms, 1u);
    EXPECT_DOUBLE_EQ(after_reload.unloading_mb, running_mb);
    EXPECT_DOUBLE_EQ(after_reload.used_mb, after_reload.resident_mb + running_mb);
    std::vector<warmup_model_index> expected;
    for (const PendingUnload& unload : running) expected.push_back(unload.model);
    EXPECT_EQ(after_reload.unloading, expected);
    EXPECT_EQ(ollama.unloads_held(), static_cast<int>(running.size()));  // they are still running

    // The server finishes them: each answer reaches the control arm, which releases the memory once.
    ollama.release_held_unloads();
    Books settled;
    ASSERT_TRUE(test::poll_until(
        [&] {
            settled = books();
            return settled.unloading.empty();
        },
        std::chrono::seconds(20)));
    EXPECT_DOUBLE_EQ(settled.unloading_mb, 0);
    EXPECT_DOUBLE_EQ(settled.used_mb, settled.resident_mb);
    EXPECT_GT(settled.used_mb, 0);  // the control arm's own models, still loaded
    for (const std::string& name : names) {
        const warmup_model_index model = *runtime.catalog().resolve(name);
        if (std::find(expected.begin(), expected.end(), model) != expected.end()) {
            EXPECT_FALSE(ollama.is_loaded(name)) << name;
        }
    }
    runtime.stop();
}

// The arm a model's events go to with `split: model` and two acting arms of equal weight (index 0: control, 1: the
// other), as experiment_arms.cpp computes it (a stable hash of the model's name). The test checks it on the way.
std::size_t arm_of_model(const std::string& name) {
    uint64_t hash = 1469598103934665603ULL;
    for (const unsigned char c : name) hash = (hash ^ c) * 1099511628211ULL;
    uint64_t x = hash + 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return static_cast<double>(x >> 11) * 0x1.0p-53 < 0.5 ? 0 : 1;
}

// The experiment stops while the treatment's unload is held by the server and the control arm has a demand load
// waiting for memory: the control arm's budget grows to the whole of it, but the treatment's unload reaches its books
// before any load starts, so the waiting load waits for the unloads instead of taking memory the server still holds.
// Neither the books nor the server (FakeOllama's peak) ever go over the budget.
TEST(LiveExperiment, AStoppedArmsUnloadsAreChargedBeforeAnyLoadStartsUnderTheGrownBudget) {
    constexpr uint64_t kGiB = 1024ULL * 1024 * 1024;
    test::FakeOllama ollama;
    std::vector<std::string> control_models, treatment_models;
    for (int i = 0; i < 32 && (control_models.size() < 2 || treatment_models.empty()); ++i) {
        const std::string name = "m" + std::to_string(i) + ":latest";
        ollama.add_model(name, {4 * kGiB, 4 * kGiB});
        (arm_of_model(name) == 0 ? control_models : treatment_models).push_back(name);
    }
    ASSERT_GE(control_models.size(), 2u);
    ASSERT_GE(treatment_models.size(), 1u);
    ollama.hold_unloads();
    // 8 GiB split between the control arm (keeps models 10 min) and the treatment (keeps them 1 s): 4 GiB each, one
    // model each. No reconciliation: only the unloads' answers settle the books.
    const auto config = [&](bool experiment) { return ollama_arms_config(ollama.url(), 8192, experiment); };
    LiveRuntime runtime(config(true));
    runtime.start();
    const auto request = [&](const std::string& name) {
        warmup_usage_event event{};
        event.model = *runtime.catalog().resolve(name);
        event.ts_ms = runtime.clock().now_ms();
        event.count = 1;
        ASSERT_TRUE(runtime.try_ingest(event));
    };
    const auto residency = [&](std::size_t arm, const std::string& name) {
        const warmup_model_index model = *runtime.catalog().resolve(name);
        return runtime.call_on_control([&](WarmupEngine&) {
            const WarmupEngine& engine = *runtime.arms().at(arm)->engine;
            return model < engine.model_count() ? engine.model_status(model).residency : WARMUP_RESIDENCY_ABSENT;
        });
    };
    // Every arm's books within its budget, and the server within the whole budget.
    const auto within_budget = [&] {
        return runtime.call_on_control([&](WarmupEngine&) {
            bool within = true;
            for (const auto& arm : runtime.arms())
                if (arm->engine->used_mb() > arm->engine->budget_mb() + 1e-6) within = false;
            return within;
        });
    };
    const std::string& treatment_model = treatment_models.front();
    const std::string& first = control_models[0];
    const std::string& second = control_models[1];

    // The treatment loads its model and unloads it a second later; the server holds that unload.
    request(treatment_model);
    ASSERT_TRUE(test::poll_until([&] { return residency(1, treatment_model) == WARMUP_RESIDENCY_READY; },
                                 std::chrono::seconds(20)));
    ASSERT_TRUE(test::poll_until([&] { return ollama.unloads_held() == 1; }, std::chrono::seconds(20)));
    // The control arm loads one model, then a second evicts it (its unload held too) and waits for that memory.
    request(first);
    ASSERT_TRUE(
        test::poll_until([&] { return residency(0, first) == WARMUP_RESIDENCY_READY; }, std::chrono::seconds(20)));
    request(second);
    ASSERT_TRUE(test::poll_until([&] { return ollama.unloads_held() == 2; }, std::chrono::seconds(20)));
    ASSERT_EQ(residency(0, second), WARMUP_RESIDENCY_QUEUED);
    ASSERT_TRUE(within_budget());
    ASSERT_LE(ollama.peak_vram_bytes(), 8 * kGiB);

    // The experiment stops: the control arm's budget doubles, and it takes the treatment's unload.
    const ReloadResult stopped = runtime.reload(config(false));
    ASSERT_TRUE(stopped.ok) << stopped.error;
    const auto [used_mb, budget_mb, unloading_mb] = runtime.call_on_control([&](WarmupEngine& control) {
        return std::tuple{control.used_mb(), control.budget_mb(), control.unloading_mb()};
    });
    EXPECT_DOUBLE_EQ(budget_mb, 8192);
    EXPECT_DOUBLE_EQ(unloading_mb, 8192);
    EXPECT_LE(used_mb, budget_mb) << "a load started on memory the server still holds";
    EXPECT_EQ(residency(0, second), WARMUP_RESIDENCY_QUEUED);  // it waits for the unloads
    // A load started by mistake would reach the server within this while the unloads are still held.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(ollama.loads_received(second), 0);
    EXPECT_LE(ollama.peak_vram_bytes(), 8 * kGiB);

    // The server answers the unloads: the waiting load starts, and fits.
    ollama.release_held_unloads();
    bool within = true;
    ASSERT_TRUE(test::poll_until(
        [&] {
            within = within_budget() && within;
            return residency(0, second) == WARMUP_RESIDENCY_READY;
        },
        std::chrono::seconds(20)));
    EXPECT_TRUE(within);
    EXPECT_LE(ollama.peak_vram_bytes(), 8 * kGiB);
    EXPECT_EQ(ollama.loads_received(second), 1);
    runtime.stop();
}

}  // namespace
}  // namespace warmup::host
