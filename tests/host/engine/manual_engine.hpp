// manual_engine.hpp — a WarmupEngine over real plugins, stepped by hand: every request and every load completion is
// an explicit call, so a test knows exactly which plugin calls happen. Shared by the tests of this folder.
//
// Loads start when the engine asks and complete only when the test says so (ManualExecutor records them); so do the
// unloads of an executor that confirms them (ManualEngineSetup::confirm_unloads, as the live workers do).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "engine/warmup_engine.hpp"
#include "loader/plugin_loader.hpp"
#include "loader/plugin_set.hpp"
#include "test_support.hpp"

namespace warmup::test {

/// Records the loads and unloads the engine starts; nothing completes unless the test calls on_load_finished (and,
/// when it confirms unloads, on_unload_finished).
class ManualExecutor final : public host::LoadExecutor {
  public:
    explicit ManualExecutor(bool confirms_unloads = false) : confirms_unloads_(confirms_unloads) {}
    void start_load(warmup_model_index model, uint64_t ticket, warmup_time_ms) override {
        started.push_back({model, ticket});
    }
    void start_unload(warmup_model_index model, uint64_t ticket, warmup_time_ms) override {
        unloads.push_back({model, ticket});
    }
    [[nodiscard]] bool confirms_unloads() const noexcept override { return confirms_unloads_; }
    struct Started {
        warmup_model_index model;
        uint64_t ticket;
    };
    std::vector<Started> started;
    std::vector<Started> unloads;

  private:
    bool confirms_unloads_;
};

/// What a ManualEngine is built from. Components default to the in-tree plugins; `components` overrides a slot
/// with a YAML flow mapping, e.g. {"predictor", "{plugin: org.warmup.test.flaky-predictor, params: {}}"}.
struct ManualEngineSetup {
    std::map<std::string, std::string> components;
    std::vector<std::string> catalog;  ///< YAML flow mappings, e.g. "{model: m, memory_mb: 1024, load_ms: 1000}"
    host::EngineOptions options;       ///< memory_budget_mb and max_concurrent_loads are written to the YAML too
    /// The executor confirms unloads, as the live workers do: an unload's memory stays charged until the test answers
    /// it (finish_next_unload). False: unloads take no time, as in the replay.
    bool confirm_unloads = false;
};

/// Every model 1000 MiB with a 1 s load (catalog entry '*'), the keep-alive predictor keeping each model 10 minutes
/// after its last use, the other slots' defaults (LRU), `budget_mb` of memory, 2 loads at once.
inline ManualEngineSetup keep_alive_setup(double budget_mb) {
    ManualEngineSetup setup;
    setup.options.memory_budget_mb = budget_mb;
    setup.options.max_concurrent_loads = 2;
    setup.components["predictor"] = "{plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 600000}}";
    setup.catalog = {"{model: '*', memory_mb: 1000, load_ms: 1000}"};
    return setup;
}

class ManualEngine {
  public:
    explicit ManualEngine(const ManualEngineSetup& setup)
        : dir_("warmup-manual-engine"), executor_(setup.confirm_unloads) {
        std::map<std::string, std::string> components{{"analyzer", "{plugin: org.warmup.analyzer.usage-pattern}"},
                                                      {"predictor", "{plugin: org.warmup.predictor.keep-alive}"},
                                                      {"performance", "{plugin: org.warmup.performance.calibrated}"},
                                                      {"scheduler", "{plugin: org.warmup.scheduler.lead-time}"},
                                                      {"resource", "{plugin: org.warmup.resource.lru}"},
                                                      {"queue", "{plugin: org.warmup.queue.priority}"},
                                                      {"metrics", "{plugin: org.warmup.metrics.prometheus}"},
                                                      {"backend", "{plugin: org.warmup.backend.sim}"}};
        for (const auto& [slot, value] : setup.components) components[slot] = value;

        const auto file = dir_.path() / "engine.yaml";
        std::ofstream yaml(file);
        yaml << "log_level: error\n"
             << "plugin_dirs: [\"" << WARMUP_TEST_PLUGIN_DIR << "\", \"" << WARMUP_TEST_BAD_PLUGIN_DIR << "\"]\n"
             << "budgets: {memory_mb: " << setup.options.memory_budget_mb
             << ", max_concurrent_warmups: " << setup.options.max_concurrent_loads << "}\n"
             << "components:\n";
        for (const auto& [slot, value] : components) yaml << "  " << slot << ": " << value << "\n";
        yaml << "catalog:\n";
        for (const std::string& entry : setup.catalog) yaml << "  - " << entry << "\n";
        yaml.close();

        config_ = host::load_config_file(file, {});
        catalog_ = std::make_unique<host::Catalog>(config_.catalog);
        loader_ = std::make_unique<host::PluginLoader>(config_.plugin_dirs);
        plugins_ = host::PluginSet::create(config_.components, config_, *loader_, *catalog_, clock_);
        engine_ = std::make_unique<host::WarmupEngine>(plugins_->component_set(), executor_, *catalog_, setup.options);
    }

    [[nodiscard]] warmup_model_index model(const std::string& name) const { return *catalog_->resolve(name); }
    /// The plugins the engine runs now (their vtables and instances).
    [[nodiscard]] host::ComponentSet components() const { return plugins_->component_set(); }

    /// One usage event of `count` requests for `name` at t_ms (timers due by then run first); no load is completed.
    void request(const std::string& name, int64_t t_ms, uint32_t count = 1) {
        clock_.set(t_ms);
        warmup_usage_event event{};
        event.ts_ms = t_ms;
        event.model = model(name);
        event.count = count;
        engine_->run_timers(t_ms);
        engine_->on_events(std::span<const warmup_usage_event>(&event, 1), t_ms);
    }

    /// Completes the oldest started load not yet completed, at t_ms, as a success taking load_ms; memory_mb: what the
    /// backend measured the model holds (0: it cannot tell).
    void complete_next_load(int64_t t_ms, double load_ms = 1000, double memory_mb = 0) {
        ASSERT_LT(completed_, executor_.started.size()) << "no load is running";
        clock_.set(t_ms);
        const auto load = executor_.started[completed_++];
        engine_->on_load_finished(load.model, load.ticket, true, load_ms, memory_mb, t_ms);
    }

    /// Fails the oldest started load not yet completed, at t_ms, as a transient failure (the scheduler may plan a
    /// retry).
    void fail_next_load(int64_t t_ms, double load_ms = 1000) {
        ASSERT_LT(completed_, executor_.started.size()) << "no load is running";
        clock_.set(t_ms);
        const auto load = executor_.started[completed_++];
        engine_->on_load_finished(load.model, load.ticket, false, load_ms, 0, t_ms);
    }

    /// Hands the engine new instances of every component, built from the same configuration (a reload that swaps
    /// them all), at t_ms. The replaced instances stay alive until the test ends.
    void replace_components(int64_t t_ms) {
        clock_.set(t_ms);
        replaced_.push_back(std::move(plugins_));
        plugins_ = host::PluginSet::create(config_.components, config_, *loader_, *catalog_, clock_);
        engine_->replace_components(plugins_->component_set(), t_ms);
    }

    /// Fires the timers due by t_ms (unloads, pre-warms, retries), at t_ms.
    void run_timers(int64_t t_ms) {
        clock_.set(t_ms);
        engine_->run_timers(t_ms);
    }

    /// Completes loads one after another, 1 s apart from t_ms, until none runs.
    void complete_all_loads(int64_t t_ms) {
        for (; completed_ < executor_.started.size(); t_ms += 1000) complete_next_load(t_ms);
    }

    /// Answers the oldest unload not answered yet, at t_ms (with confirm_unloads).
    void finish_next_unload(int64_t t_ms, bool succeeded = true) {
        ASSERT_LT(unloads_answered_, executor_.unloads.size()) << "no unload is running";
        clock_.set(t_ms);
        const auto unload = executor_.unloads[unloads_answered_++];
        engine_->on_unload_finished(unload.model, unload.ticket, succeeded, t_ms);
    }
    /// Unloads started and not answered yet.
    [[nodiscard]] std::size_t unloads_running() const { return executor_.unloads.size() - unloads_answered_; }
    /// Reports the `index`th unload started (0: the first) as past the host's deadline, at t_ms (as the live runtime
    /// does at budgets.unload_timeout_ms); returns the engine's answer (the memory it holds, or nullopt).
    std::optional<double> time_out_unload(int64_t t_ms, std::size_t index) {
        clock_.set(t_ms);
        const auto unload = executor_.unloads.at(index);
        return engine_->on_unload_timed_out(unload.model, unload.ticket, t_ms);
    }
    /// Answers the `index`th unload started (0: the first) at t_ms, in any order (and again, for a late duplicate).
    /// Does not count towards finish_next_unload's order: use one or the other in a test.
    void answer_unload(int64_t t_ms, std::size_t index, bool succeeded = true) {
        clock_.set(t_ms);
        const auto unload = executor_.unloads.at(index);
        engine_->on_unload_finished(unload.model, unload.ticket, succeeded, t_ms);
    }

    /// Names of the models whose unloads started, in start order.
    [[nodiscard]] std::vector<std::string> unloaded() const {
        std::vector<std::string> names;
        for (const auto& unload : executor_.unloads) names.push_back(catalog_->record(unload.model).name);
        return names;
    }

    /// Names of the models whose loads started, in start order.
    [[nodiscard]] std::vector<std::string> started() const {
        std::vector<std::string> names;
        for (const auto& load : executor_.started) names.push_back(catalog_->record(load.model).name);
        return names;
    }

    /// Failed calls recorded for the component of `kind`.
    [[nodiscard]] uint64_t errors(host::ComponentKind kind) const {
        const auto& errors = engine_->component_errors();
        const auto found = errors.find(engine_->component_label(kind));
        return found == errors.end() ? 0 : found->second.errors;
    }

    host::WarmupEngine& engine() { return *engine_; }
    [[nodiscard]] const host::WarmupEngine& engine() const { return *engine_; }

  private:
    warmup::test::TempDir dir_;
    host::Config config_;
    std::unique_ptr<host::Catalog> catalog_;
    host::ManualClock clock_;
    std::unique_ptr<host::PluginLoader> loader_;
    std::unique_ptr<host::PluginSet> plugins_;
    std::vector<std::unique_ptr<host::PluginSet>> replaced_;  // instances replace_components took out of service
    ManualExecutor executor_;
    std::unique_ptr<host::WarmupEngine> engine_;
    std::size_t completed_ = 0;         // loads completed so far (a prefix of executor_.started)
    std::size_t unloads_answered_ = 0;  // unloads answered so far (a prefix of executor_.unloads)
};

}  // namespace warmup::test
