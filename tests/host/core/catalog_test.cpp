// The model catalog (host/core/catalog.hpp): which entry a name takes (exact names before globs, globs in
// configuration order) and the dense indexes it hands out. Its speed with tens of thousands of entries is measured by
// build/bench/catalog_bench, not here.
#include "core/catalog.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace warmup::host {
namespace {

CatalogEntry entry(std::string pattern, double memory_mb) {
    return CatalogEntry{std::move(pattern), memory_mb, 1, 0, 1};
}

TEST(Catalog, AnExactNameGoesBeforeEveryGlobWhereverItIsListed) {
    Catalog catalog({entry("llama3:*", 1), entry("*", 2), entry("llama3:8b", 3)});
    const auto index = catalog.resolve("llama3:8b");
    ASSERT_TRUE(index.has_value());
    EXPECT_EQ(catalog.record(*index).memory_mb, 3);
}

TEST(Catalog, GlobsAreTriedInConfigurationOrder) {
    Catalog catalog({entry("exact", 1), entry("embed/*", 2), entry("*", 3), entry("embed/a*", 4)});
    EXPECT_EQ(catalog.record(*catalog.resolve("embed/abc")).memory_mb, 2);
    EXPECT_EQ(catalog.record(*catalog.resolve("other")).memory_mb, 3);
}

TEST(Catalog, ANameEqualToAGlobsTextTakesThatEntry) {
    Catalog catalog({entry("*", 1), entry("a?", 2)});
    EXPECT_EQ(catalog.record(*catalog.resolve("a?")).memory_mb, 2);  // the glob `*` comes first, but this is exact
    EXPECT_EQ(catalog.record(*catalog.resolve("ab")).memory_mb, 1);
}

TEST(Catalog, APatternListedTwiceTakesItsFirstEntry) {
    Catalog catalog({entry("m", 1), entry("m", 2), entry("g*", 3), entry("g*", 4)});
    EXPECT_EQ(catalog.record(*catalog.resolve("m")).memory_mb, 1);
    EXPECT_EQ(catalog.record(*catalog.resolve("gx")).memory_mb, 3);
}

TEST(Catalog, ANameNoEntryCoversIsRefusedAndNotRegistered) {
    Catalog catalog({entry("a", 1), entry("b/*", 2)});
    EXPECT_FALSE(catalog.resolve("c").has_value());
    EXPECT_FALSE(catalog.resolve("b").has_value());
    EXPECT_EQ(catalog.size(), 0u);
    EXPECT_FALSE(catalog.find("c").has_value());
}

TEST(Catalog, BeyondItsModelLimitANewNameIsRefusedAndAKnownOneStillResolves) {
    using Registration = Catalog::Registration;
    Catalog catalog({entry("b/*", 2)}, /*max_models=*/2);
    EXPECT_EQ(catalog.resolve("b/1", Registration::within_limit), 0u);
    EXPECT_FALSE(catalog.full());
    EXPECT_EQ(catalog.resolve("b/2", Registration::within_limit), 1u);
    EXPECT_TRUE(catalog.full());
    EXPECT_FALSE(catalog.resolve("b/3", Registration::within_limit).has_value());
    EXPECT_TRUE(catalog.covers("b/3"));  // an entry matches it: the limit refused it
    EXPECT_EQ(catalog.resolve("b/1", Registration::within_limit), 0u);
    EXPECT_EQ(catalog.size(), 2u);
    // A model the daemon already knew (a snapshot's, restored at a start under a lower limit) is registered anyway.
    EXPECT_EQ(catalog.resolve("b/9"), 2u);
    EXPECT_EQ(catalog.size(), 3u);
    EXPECT_EQ(unknown_model_reason(catalog, "b/3"),
              "model 'b/3' is not registered: this daemon already knows budgets.max_models (2) models (raise it, or "
              "narrow the catalog glob that matches such names)");
    EXPECT_EQ(unknown_model_reason(catalog, "c"), "unknown model 'c' (no catalog entry matches it)");
}

TEST(Catalog, IndexesAreDenseInFirstSightOrderAcrossManyExactEntries) {
    std::vector<CatalogEntry> entries;
    for (int i = 0; i < 20'000; ++i) entries.push_back(entry("model-" + std::to_string(i), i));
    entries.push_back(entry("rest/*", -1));
    Catalog catalog(std::move(entries));
    EXPECT_EQ(*catalog.resolve("model-19999"), 0u);
    EXPECT_EQ(*catalog.resolve("rest/x"), 1u);
    EXPECT_EQ(*catalog.resolve("model-7"), 2u);
    EXPECT_EQ(*catalog.resolve("model-19999"), 0u);  // seen before: the same index
    EXPECT_EQ(catalog.record(2).memory_mb, 7);
    EXPECT_EQ(catalog.record(1).memory_mb, -1);
    EXPECT_FALSE(catalog.resolve("model-20000").has_value());
    EXPECT_EQ(catalog.size(), 3u);
}

}  // namespace
}  // namespace warmup::host
