// PluginSet::create turns loader and plugin failures into StartupError messages located in the configuration
// ("<file>:<line>:<col>: <key path>: <reason>"), and builds every slot from real plugins when nothing is wrong.
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "loader/plugin_loader.hpp"
#include "loader/plugin_set.hpp"
#include "loader_test_support.hpp"

namespace warmup::test {
namespace {

using host::ComponentSlot;
using host::PluginSet;
using host::StartupError;

constexpr const char* kDisplayName = "loader-test.yaml";

/// Replaces every `placeholder` in `text` with `value`.
std::string replace_all(std::string text, const std::string& placeholder, const std::string& value) {
    for (auto at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at + value.size()))
        text.replace(at, placeholder.size(), value);
    return text;
}

/// A complete configuration over the real plugins. Line numbers matter to the tests: `ttl_ms` is on line 8 at column
/// 7 and the `scheduler` key on line 10 at column 3.
std::string config_text(const std::string& predictor_ttl, const std::string& scheduler_id) {
    std::string text = R"(plugin_dirs: ["@PLUGIN_DIR@"]
components:
  analyzer: {plugin: org.warmup.analyzer.usage-pattern}
  predictor:
    plugin: org.warmup.predictor.keep-alive
    params:
      horizon_ms: 600000
      ttl_ms: @TTL@
  performance: {plugin: org.warmup.performance.calibrated}
  scheduler: {plugin: @SCHEDULER@}
  resource: {plugin: org.warmup.resource.lru}
  queue: {plugin: org.warmup.queue.priority}
  metrics: {plugin: org.warmup.metrics.prometheus}
  backend: {plugin: org.warmup.backend.sim}
catalog:
  - {model: "llama3:8b", memory_mb: 4800, load_ms: 3000}
)";
    text = replace_all(std::move(text), "@PLUGIN_DIR@", WARMUP_TEST_PLUGIN_DIR);
    text = replace_all(std::move(text), "@TTL@", predictor_ttl);
    return replace_all(std::move(text), "@SCHEDULER@", scheduler_id);
}

class StartupErrors : public ::testing::Test {
  protected:
    host::Config load(const std::string& text) { return host::load_config_text(text, kDisplayName, {}, {}); }

    host::ManualClock clock_{0};
    host::Catalog catalog_;
};

TEST_F(StartupErrors, PluginRefusingItsParamsIsLocatedAtTheParam) {
    const host::Config config = load(config_text("-5", "org.warmup.scheduler.lead-time"));
    host::PluginLoader loader(config.plugin_dirs);
    const std::string message =
        message_of<StartupError>([&] { PluginSet::create(config.components, config, loader, catalog_, clock_); });
    EXPECT_EQ(message,
              "loader-test.yaml:8:7: components.predictor.params.ttl_ms: expected milliseconds (an integer >= 0) or "
              "'never', got '-5' (plugin org.warmup.predictor.keep-alive refused to start: INVALID_ARGUMENT)");
}

TEST_F(StartupErrors, AParamOutOfItsRangeIsNamedOnceWithItsBoundsAsWritten) {
    std::string text = config_text("60000", "org.warmup.scheduler.lead-time");
    text = replace_all(std::move(text), "backend: {plugin: org.warmup.backend.sim}",
                       "backend: {plugin: org.warmup.backend.sim, params: {failure_rate: 7}}");
    const host::Config config = load(text);
    host::PluginLoader loader(config.plugin_dirs);
    const std::string message =
        message_of<StartupError>([&] { PluginSet::create(config.components, config, loader, catalog_, clock_); });
    EXPECT_EQ(message,
              "loader-test.yaml:14:54: components.backend.params.failure_rate: 7 is outside [0, 1] (plugin "
              "org.warmup.backend.sim refused to start: INVALID_ARGUMENT)");
}

TEST_F(StartupErrors, PredictorInSchedulerSlotIsLocatedAtTheSlot) {
    const host::Config config = load(config_text("60000", "org.warmup.predictor.keep-alive"));
    host::PluginLoader loader(config.plugin_dirs);
    const std::string message =
        message_of<StartupError>([&] { PluginSet::create(config.components, config, loader, catalog_, clock_); });
    EXPECT_EQ(message, "loader-test.yaml:10:3: components.scheduler: plugin '" +
                           real_plugin("keep_alive_predictor.so").string() +
                           "' (id org.warmup.predictor.keep-alive) is a predictor plugin, but this slot needs a "
                           "scheduler plugin");
}

TEST_F(StartupErrors, EverySlotIsCreatedFromRealPlugins) {
    const host::Config config = load(config_text("60000", "org.warmup.scheduler.lead-time"));
    host::PluginLoader loader(config.plugin_dirs);
    const auto set = PluginSet::create(config.components, config, loader, catalog_, clock_);
    for (const ComponentSlot slot : host::kAllSlots) {
        SCOPED_TRACE(std::string(host::slot_key(slot)));
        ASSERT_NE(set->at(slot), nullptr);
        EXPECT_EQ(set->at(slot)->library().descriptor().kind, static_cast<uint32_t>(host::slot_kind(slot)));
    }
    EXPECT_EQ(set->at(ComponentSlot::Predictor)->label(), "org.warmup.predictor.keep-alive@1.0.0");
    EXPECT_EQ(set->at(ComponentSlot::Predictor)->params_yaml(), "horizon_ms: 600000\nttl_ms: 60000");
}

TEST_F(StartupErrors, ReloadReusesUnchangedSlotsAndRecreatesChangedOnes) {
    const host::Config before = load(config_text("60000", "org.warmup.scheduler.lead-time"));
    const host::Config after = load(config_text("120000", "org.warmup.scheduler.lead-time"));
    host::PluginLoader loader(before.plugin_dirs);
    const auto old_set = PluginSet::create(before.components, before, loader, catalog_, clock_);
    const auto new_set = PluginSet::create(after.components, after, loader, catalog_, clock_, old_set.get());
    EXPECT_EQ(new_set->at(ComponentSlot::Scheduler), old_set->at(ComponentSlot::Scheduler));
    EXPECT_NE(new_set->at(ComponentSlot::Predictor), old_set->at(ComponentSlot::Predictor));
    // Same file, so the new predictor instance runs from the library the old one already holds.
    EXPECT_EQ(new_set->at(ComponentSlot::Predictor)->library_ptr(),
              old_set->at(ComponentSlot::Predictor)->library_ptr());
}

}  // namespace
}  // namespace warmup::test
