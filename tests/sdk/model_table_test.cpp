// warmup::sdk::grown_model_capacity, ModelTable and ModelRows (sdk/include/warmup/sdk/model_table.hpp): how per-model
// tables grow.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>
#include <warmup/sdk/model_table.hpp>

namespace {

using warmup::sdk::grown_model_capacity;

TEST(ModelTableGrowth, ATableThatHoldsTheModelDoesNotGrow) {
    EXPECT_EQ(grown_model_capacity(100, 100, 5000), 100u);
    EXPECT_EQ(grown_model_capacity(100, 7, 5000), 100u);
}

TEST(ModelTableGrowth, ABurstOfNewModelsEndsAtTheCatalogsSizeWithNoUnusedSlot) {
    // 8000 slots, model 8000 appears, the host already knows 10,000: exactly 10,000 (a quarter would be 10,016).
    EXPECT_EQ(grown_model_capacity(8000, 8001, 10'000), 10'000u);
    // A catalog less than 16 models ahead is not worth an exact fit: the quarter step.
    EXPECT_EQ(grown_model_capacity(100, 101, 110), 141u);
}

TEST(ModelTableGrowth, ModelsArrivingOneByOneGrowByAQuarterSoTheCopiesStayLinear) {
    // The catalog grows with the table (a new model per batch): every growth is at least a quarter, never one slot.
    std::size_t capacity = 0;
    std::size_t copied = 0;  // slots moved by all regrowths
    std::size_t regrowths = 0;
    constexpr std::size_t kModels = 100'000;
    for (std::size_t model = 0; model < kModels; ++model) {
        const std::size_t next = grown_model_capacity(capacity, model + 1, model + 1);
        ASSERT_GE(next, model + 1);
        if (next != capacity) {
            copied += capacity;
            ++regrowths;
            EXPECT_GE(next, capacity + capacity / 4) << "at model " << model;
            capacity = next;
        }
    }
    EXPECT_LE(copied, 5 * kModels) << "amortised O(1) per model";
    EXPECT_LT(regrowths, 60u);
    EXPECT_LE(capacity, kModels + kModels / 4 + 16) << "at most a quarter unused";
}

TEST(ModelTableGrowth, ACatalogOnlySlightlyAheadStillGrowsByAQuarter) {
    // 8000 slots, the catalog knows 8100 (less than an eighth more): a step to 8100 would make the next model regrow.
    EXPECT_EQ(grown_model_capacity(8000, 8001, 8100), 10'016u);
    // A catalog beyond the quarter step: the quarter step (the rest may never be seen by this table).
    EXPECT_EQ(grown_model_capacity(8000, 8001, 50'000), 10'016u);
    // An index beyond everything: that index.
    EXPECT_EQ(grown_model_capacity(8000, 20'000, 50'000), 20'000u);
}

struct Entry {
    std::array<uint64_t, 4> counts{};
    int id = -1;
};

TEST(ModelTable, GrowingNeverMovesAnEntryAndNewEntriesStartValueInitialised) {
    warmup::sdk::ModelTable<Entry> table;
    EXPECT_TRUE(table.empty());
    table.resize(1);
    table[0].id = 0;
    const Entry* first = &table[0];
    for (std::size_t model = 1; model < 1000; ++model) {  // many chunks
        table.resize(model + 1);
        EXPECT_EQ(table[model].id, -1);
        EXPECT_EQ(table[model].counts[3], 0u);
        table[model].id = static_cast<int>(model);
    }
    EXPECT_EQ(&table[0], first) << "a reference taken before the table grew is still the entry";
    EXPECT_EQ(table.size(), 1000u);
    int expected = 0;
    for (const Entry& entry : table) EXPECT_EQ(entry.id, expected++);
    EXPECT_EQ(expected, 1000);
    EXPECT_EQ(std::count_if(table.begin(), table.end(), [](const Entry& entry) { return entry.id % 2 == 0; }), 500);

    table.resize(70);  // shrinks into the middle of the second chunk; growing again gives fresh entries
    table.resize(200);
    EXPECT_EQ(table[69].id, 69);
    EXPECT_EQ(table[70].id, -1);
    EXPECT_EQ(table[199].id, -1);
    table.clear();
    EXPECT_EQ(table.size(), 0u);
}

TEST(ModelRows, EachModelHasAContiguousRowThatStaysWhereItIsAsTheTableGrows) {
    warmup::sdk::ModelRows<uint32_t> rows(240);
    rows.resize(3);
    std::fill_n(rows.row(2), 240, 7u);
    const uint32_t* row_two = rows.row(2);
    rows.resize(5000);
    EXPECT_EQ(rows.row(2), row_two);
    EXPECT_TRUE(std::all_of(rows.row(2), rows.row(2) + 240, [](uint32_t value) { return value == 7; }));
    EXPECT_TRUE(std::all_of(rows.row(4999), rows.row(4999) + 240, [](uint32_t value) { return value == 0; }));
    EXPECT_EQ(rows.row(1) + 240, rows.row(2)) << "rows of one chunk are laid out one after another";
    rows.resize(2);
    rows.resize(3);
    EXPECT_TRUE(std::all_of(rows.row(2), rows.row(2) + 240, [](uint32_t value) { return value == 0; }));
    EXPECT_EQ(rows.models(), 3u);
    EXPECT_EQ(rows.width(), 240u);
}

}  // namespace
