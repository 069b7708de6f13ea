// The one exported symbol of usage_pattern_analyzer.so. The class lives in usage_pattern_analyzer.cpp so unit tests
// can compile it directly without this entry point.
#include "usage_pattern_analyzer.hpp"

WARMUP_PLUGIN(warmup::plugins::UsagePatternAnalyzer, "org.warmup.analyzer.usage-pattern", "1.0.0",
              "Per-model request counts, EWMA rate, idle-time histogram, hour/day profile and follower table")
