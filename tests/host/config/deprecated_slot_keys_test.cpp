// The slots' deprecated YAML keys (pattern_analyzer, performance_model, resource_policy, queue_policy): each still
// loads, at the top level and in an arm, as the same slot as its current key, with one CONFIG_NOTICE per deprecated key
// that names the key to write instead; giving both names of one slot is refused at the second. Also the lookup that
// restores state kept under a deprecated key (snapshot and journal sections, a fleet's shared state).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace warmup::host {
namespace {

Config load(const std::string& text) { return load_config_text(text, "test.yaml", "/etc/warmup", "/opt/warmup/bin"); }

const std::string kHeader = "apiVersion: warmup/v1\ncatalog:\n  - {model: a, memory_mb: 1, load_ms: 0}\n";

struct Rename {
    ComponentSlot slot;
    std::string old_key;
    std::string new_key;
    std::string plugin;  // a plugin id of the slot's kind, written under either key
};

const std::vector<Rename> kRenames = {
    {ComponentSlot::Analyzer, "pattern_analyzer", "analyzer", "org.acme.analyzer.seasonal"},
    {ComponentSlot::Performance, "performance_model", "performance", "org.acme.performance.measured"},
    {ComponentSlot::Resource, "resource_policy", "resource", "org.acme.resource.quota"},
    {ComponentSlot::Queue, "queue_policy", "queue", "org.acme.queue.fifo"},
};

std::string slot_text(const std::string& key, const std::string& plugin) {
    return "components:\n  " + key + ": {plugin: " + plugin + ", params: {depth: 3}}\n";
}

TEST(DeprecatedSlotKeys, EachOldKeyLoadsAsTheSameSlotWithOneNoticeNamingTheNewKey) {
    for (const Rename& rename : kRenames) {
        SCOPED_TRACE(rename.old_key);
        const Config written_new = load(kHeader + slot_text(rename.new_key, rename.plugin));
        const Config written_old = load(kHeader + slot_text(rename.old_key, rename.plugin));

        EXPECT_EQ(written_old.components[rename.slot].id, rename.plugin);
        EXPECT_EQ(written_old.components, written_new.components);
        EXPECT_TRUE(written_new.notices.empty());
        ASSERT_EQ(written_old.notices.size(), 1u);
        EXPECT_EQ(written_old.notices[0], "test.yaml:5:3: components." + rename.old_key + ": '" + rename.old_key +
                                              "' is the deprecated name of the slot '" + rename.new_key +
                                              "' and means the same; write '" + rename.new_key + "' instead");
    }
}

TEST(DeprecatedSlotKeys, AnArmMayUseOldKeysAndEachOldKeyIsNoticedOnce) {
    const Config config = load(kHeader + R"(components:
  queue_policy: {plugin: org.warmup.queue.priority, params: {capacity: 512}}
arms:
  - name: small-queue
    components:
      queue_policy: {params: {capacity: 64}}
      resource_policy: {plugin: org.warmup.resource.greedy-dual}
  - name: value
    components:
      resource: {plugin: org.warmup.resource.value}
)");
    EXPECT_EQ(config.components[ComponentSlot::Queue].id, "org.warmup.queue.priority");
    EXPECT_EQ(config.components[ComponentSlot::Queue].params_yaml, "capacity: 512");
    ASSERT_EQ(config.arms.size(), 2u);
    EXPECT_EQ(config.arms[0].components[ComponentSlot::Queue].id, "org.warmup.queue.priority");
    EXPECT_EQ(config.arms[0].components[ComponentSlot::Queue].params_yaml, "capacity: 64");
    EXPECT_EQ(config.arms[0].components[ComponentSlot::Resource].id, "org.warmup.resource.greedy-dual");
    EXPECT_EQ(config.arms[1].components[ComponentSlot::Resource].id, "org.warmup.resource.value");

    // Slot order: resource before queue. queue_policy is used twice, noticed once with the second place listed.
    ASSERT_EQ(config.notices.size(), 2u);
    EXPECT_EQ(config.notices[0],
              "test.yaml:10:7: arms[0].components.resource_policy: 'resource_policy' is the "
              "deprecated name of the slot 'resource' and means the same; write 'resource' "
              "instead");
    EXPECT_EQ(config.notices[1],
              "test.yaml:5:3: components.queue_policy: 'queue_policy' is the deprecated name of "
              "the slot 'queue' and means the same; write 'queue' instead (also used at 1 more "
              "place: arms[0].components.queue_policy)");
}

TEST(DeprecatedSlotKeys, BothNamesOfOneSlotAreRefusedAtTheSecond) {
    try {
        load(kHeader + R"(components:
  analyzer: {plugin: org.warmup.analyzer.usage-pattern}
  pattern_analyzer: {plugin: org.warmup.analyzer.usage-pattern}
)");
        FAIL() << "both names of the analyzer slot were accepted";
    } catch (const ConfigError& error) {
        EXPECT_EQ(error.line(), 6u);
        EXPECT_EQ(error.column(), 3u);
        EXPECT_EQ(error.key_path(), "components.pattern_analyzer");
        EXPECT_EQ(error.message(), "'analyzer' and 'pattern_analyzer' name the same slot: give only 'analyzer'");
    }
}

TEST(DeprecatedSlotKeys, ATypoOfAnOldKeySuggestsTheNewKey) {
    try {
        load(kHeader + "components:\n  resource_polcy: {plugin: org.warmup.resource.lru}\n");
        FAIL() << "a misspelt slot was accepted";
    } catch (const ConfigError& error) {
        EXPECT_EQ(error.key_path(), "components.resource_polcy");
        EXPECT_EQ(error.message(), "unknown key 'resource_polcy'; did you mean 'resource'?");
    }
}

TEST(DeprecatedSlotKeys, StoredStateUnderAnOldKeyFindsItsSlotWhileTheYamlKeyLookupDoesNot) {
    for (const Rename& rename : kRenames) {
        SCOPED_TRACE(rename.old_key);
        EXPECT_EQ(slot_deprecated_key(rename.slot), rename.old_key);
        EXPECT_EQ(slot_from_key_or_deprecated(rename.old_key), rename.slot);
        EXPECT_EQ(slot_from_key_or_deprecated(rename.new_key), rename.slot);
        EXPECT_EQ(slot_from_key(rename.old_key), std::nullopt);
    }
    EXPECT_EQ(slot_deprecated_key(ComponentSlot::Predictor), "");
    EXPECT_EQ(slot_from_key_or_deprecated("metrics_sink"), std::nullopt);
}

}  // namespace
}  // namespace warmup::host
