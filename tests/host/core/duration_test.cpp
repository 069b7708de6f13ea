// Durations as typed on a command line (host/core/duration.hpp): every unit, fractions, rounding, and what is refused.
#include "core/duration.hpp"

#include <gtest/gtest.h>

namespace warmup::host {
namespace {

TEST(ParseDurationMs, ReadsEveryUnitAndFractions) {
    EXPECT_EQ(parse_duration_ms("250ms", false), 250);
    EXPECT_EQ(parse_duration_ms("90s", false), 90'000);
    EXPECT_EQ(parse_duration_ms("15m", false), 900'000);
    EXPECT_EQ(parse_duration_ms("1.5h", false), 5'400'000);
    EXPECT_EQ(parse_duration_ms("7d", false), 604'800'000);
    EXPECT_EQ(parse_duration_ms("0.0004s", false), 0);  // rounded to the nearest millisecond
    EXPECT_EQ(parse_duration_ms("0.0006s", false), 1);
}

TEST(ParseDurationMs, ABareNumberIsMillisecondsOnlyWhenAsked) {
    EXPECT_EQ(parse_duration_ms("90000", true), 90'000);
    EXPECT_EQ(parse_duration_ms("90000", false), std::nullopt);
}

TEST(ParseDurationMs, RefusesWhatIsNotADuration) {
    for (const char* text : {"", "s", "-1s", "1w", "1 h", "1hh", "nan", "inf", "h1", "1e17d"})
        EXPECT_EQ(parse_duration_ms(text, true), std::nullopt) << text;
}

}  // namespace
}  // namespace warmup::host
