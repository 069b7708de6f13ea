// warmup::sdk::Params (sdk/include/warmup/sdk/params.hpp): what a plugin's refusal of a parameter says.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <warmup/sdk/params.hpp>

namespace {

using warmup::sdk::Params;

/// The message of the InvalidArgument `read` throws, or "" when it throws none.
template <class Read>
std::string refusal(const std::string& yaml, Read read) {
    Params params(yaml);
    try {
        read(params);
    } catch (const warmup::sdk::InvalidArgument& error) {
        return error.what();
    }
    return "";
}

TEST(Params, ARangeOpenAtOneEndIsSaidAsABoundNotAsTheTypesLimit) {
    constexpr int64_t kMost = std::numeric_limits<int64_t>::max();
    constexpr int64_t kLeast = std::numeric_limits<int64_t>::min();
    EXPECT_EQ(refusal("keep_ms: -5", [](Params& p) { (void)p.get_int("keep_ms", 0, 0, kMost); }),
              "params.keep_ms: -5 is outside the range >= 0");
    EXPECT_EQ(refusal("offset: 12", [](Params& p) { (void)p.get_int("offset", 0, kLeast, 10); }),
              "params.offset: 12 is outside the range <= 10");
    EXPECT_EQ(refusal("slots: 0", [](Params& p) { (void)p.get_int("slots", 1, 1, 64); }),
              "params.slots: 0 is outside [1, 64]");
    EXPECT_EQ(refusal("share: -0.5",
                      [](Params& p) { (void)p.get_double("share", 1, 0, std::numeric_limits<double>::infinity()); }),
              "params.share: -0.5 is outside the range >= 0");
    EXPECT_EQ(refusal("share: 1.5", [](Params& p) { (void)p.get_double("share", 1, 0, 1); }),
              "params.share: 1.5 is outside [0, 1]");
    EXPECT_EQ(refusal("share: 0.5", [](Params& p) { (void)p.get_double("share", 1, 0, 1); }), "");
}

}  // namespace
