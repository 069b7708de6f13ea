// warmup::sdk::grown_model_capacity (sdk/include/warmup/sdk/model_table.hpp): how per-model tables grow.
#include <gtest/gtest.h>

#include <cstddef>
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

}  // namespace
