// The usage-pattern analyzer's per-model state extension (ext/model_state.h): one model's learned state moves to
// another instance under another index, leaves every other model alone, is refused whole when damaged, and is
// forgotten on its own. This is what a fleet relies on when a model changes owner.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plugin_test_host.hpp"
#include "usage_pattern_analyzer.hpp"

namespace {

using warmup::plugins::UsagePatternAnalyzer;
using warmup::test::Built;
using warmup::test::numbered_models_host;
using warmup::test::PluginTestHost;

constexpr int64_t kStartMs = 1'700'000'000'000;
constexpr const char* kAnalyzerParams = "{idle_bin_ms: 1000, idle_bins: 120}";

void observe_rhythm(UsagePatternAnalyzer& analyzer, warmup_model_index model, int uses, int64_t gap_ms) {
    std::vector<warmup_usage_event> events;
    for (int i = 0; i < uses; ++i) events.push_back({kStartMs + i * gap_ms, model, 1, 0, 0});
    analyzer.observe(events);
}

warmup_usage_pattern pattern_of(UsagePatternAnalyzer& analyzer, warmup_model_index model) {
    warmup_usage_pattern pattern{};
    pattern.struct_size = sizeof pattern;
    analyzer.get_pattern(model, pattern);
    return pattern;
}

std::vector<uint32_t> histogram_of(const warmup_usage_pattern& pattern) {
    return {pattern.idle_histogram, pattern.idle_histogram + pattern.idle_histogram_bins};
}

TEST(UsagePatternModelState, OneModelMovesToAnotherIndexOfAnotherInstance) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> source(host, kAnalyzerParams);
    observe_rhythm(source.plugin, 0, 20, 30'000);
    Built<UsagePatternAnalyzer> target(host, kAnalyzerParams);
    observe_rhythm(target.plugin, 1, 5, 7'000);  // what the target already knows of another model
    const auto other_before = pattern_of(target.plugin, 1);
    const auto other_histogram = histogram_of(other_before);

    const std::string state = source.plugin.export_model_state(0);
    ASSERT_FALSE(state.empty());
    target.plugin.import_model_state(5, state);

    const auto moved = pattern_of(target.plugin, 5);
    const auto original = pattern_of(source.plugin, 0);
    EXPECT_EQ(moved.request_count, 20U);
    EXPECT_EQ(moved.last_seen_ms, original.last_seen_ms);
    EXPECT_EQ(moved.previous_seen_ms, original.previous_seen_ms);
    EXPECT_EQ(histogram_of(moved), histogram_of(original));
    EXPECT_EQ(histogram_of(moved)[30], 19U);  // 19 gaps of 30 s in the 30th one-second bin
    // The other model is untouched, and the exported text is the same on both sides.
    EXPECT_EQ(pattern_of(target.plugin, 1).request_count, other_before.request_count);
    EXPECT_EQ(histogram_of(pattern_of(target.plugin, 1)), other_histogram);
    EXPECT_EQ(target.plugin.export_model_state(5), state);
    // A model never seen exports nothing.
    EXPECT_EQ(source.plugin.export_model_state(3), "");
}

TEST(UsagePatternModelState, ADamagedOrForeignStateIsRefusedAndChangesNothing) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> source(host, kAnalyzerParams);
    observe_rhythm(source.plugin, 0, 10, 30'000);
    const std::string state = source.plugin.export_model_state(0);
    Built<UsagePatternAnalyzer> target(host, kAnalyzerParams);
    observe_rhythm(target.plugin, 2, 4, 5'000);
    const std::string before = target.plugin.export_model_state(2);

    std::string lying = state;  // request count 10 -> 11: the calendar no longer adds up
    lying.replace(lying.find("\n10 "), 4, "\n11 ");
    EXPECT_THROW(target.plugin.import_model_state(2, lying), warmup::sdk::Error);
    EXPECT_THROW(target.plugin.import_model_state(2, state.substr(0, state.size() / 2)), warmup::sdk::Error);
    EXPECT_THROW(target.plugin.import_model_state(2, "org.warmup.state.other/1\n"), warmup::sdk::Error);
    EXPECT_THROW(target.plugin.import_model_state(1000, state), warmup::sdk::Error);  // not in the catalog
    // Another histogram geometry: refused with the reason, not silently re-binned.
    Built<UsagePatternAnalyzer> other_geometry(host, "{idle_bin_ms: 500, idle_bins: 120}");
    try {
        other_geometry.plugin.import_model_state(2, state);
        ADD_FAILURE() << "a state of another geometry was imported";
    } catch (const warmup::sdk::Error& error) {
        EXPECT_NE(std::string(error.what()).find("same idle_bin_ms"), std::string::npos) << error.what();
    }
    EXPECT_EQ(target.plugin.export_model_state(2), before);
}

TEST(UsagePatternModelState, ForgettingOneModelLeavesTheOthers) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> analyzer(host, kAnalyzerParams);
    observe_rhythm(analyzer.plugin, 0, 10, 30'000);
    observe_rhythm(analyzer.plugin, 1, 10, 20'000);
    const std::string kept = analyzer.plugin.export_model_state(1);
    analyzer.plugin.forget_model_state(0);
    EXPECT_EQ(pattern_of(analyzer.plugin, 0).request_count, 0U);
    EXPECT_EQ(analyzer.plugin.export_model_state(0), "");
    EXPECT_EQ(analyzer.plugin.export_model_state(1), kept);
    analyzer.plugin.forget_model_state(7);  // never seen: nothing to do
}

TEST(UsagePatternModelState, TheSdkOffersTheExtensionWithTheWholeStateSchema) {
    PluginTestHost host = numbered_models_host();
    Built<UsagePatternAnalyzer> analyzer(host, kAnalyzerParams);
    using Descriptor = warmup::sdk::detail::Descriptor<UsagePatternAnalyzer>;
    void* instance = static_cast<warmup::sdk::PluginBase*>(&analyzer.plugin);
    const auto* table =
        static_cast<const warmup_model_state_extension*>(Descriptor::get_extension(instance, WARMUP_EXT_MODEL_STATE));
    ASSERT_NE(table, nullptr);
    EXPECT_EQ(table->struct_size, sizeof(warmup_model_state_extension));
    EXPECT_STREQ(table->schema(instance), UsagePatternAnalyzer::kStateSchema);
}

}  // namespace
