// hotswap_test_config.hpp — the configuration of the hot-swap tests (tests/host/runtime/reload_test.cpp,
// tests/e2e/warmupd_reload_test.cpp, tests/bench/hotswap_pause_bench.cpp): every slot a real plugin from build/plugins,
// any slot replaceable by one line of YAML.
//
// Every wait in these tests is a bounded poll of observable state; nothing asserts on elapsed time.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>

// Found beside this header, without the include path: the hot-swap benchmark (tests/bench, not a warmup_add_test
// target) includes this header too.
#include "test_support.hpp"

namespace warmup::test {

// Plugin ids. Versions are not pinned here (plugins evolve); ReloadResult labels are "<id>@<version>".
inline constexpr const char* kAnalyzerId = "org.warmup.analyzer.usage-pattern";
inline constexpr const char* kIdlePredictorId = "org.warmup.predictor.idle-histogram";
inline constexpr const char* kHybridPredictorId = "org.warmup.predictor.hybrid-histogram";
inline constexpr const char* kKeepAlivePredictorId = "org.warmup.predictor.keep-alive";
/// The id part of a "<id>@<version>" label.
inline std::string id_of(const std::string& label) { return label.substr(0, label.find('@')); }

// The learnable rhythm of the hand-off test: idle gaps of exactly 3000 ms land at the start of bin 12 of a 250 ms
// histogram ([3000, 3250) ms).
inline constexpr int64_t kIdleBinMs = 250;
inline constexpr int64_t kReadyMarginMs = 1000;

/// The slot lines of the test configuration, each a YAML flow mapping. Replace one to build a variant.
inline std::map<std::string, std::string> default_slots() {
    return {
        {"analyzer", "{plugin: org.warmup.analyzer.usage-pattern, params: {idle_bin_ms: " + std::to_string(kIdleBinMs) +
                         ", idle_bins: 240}}"},
        {"predictor", "{plugin: org.warmup.predictor.idle-histogram, params: {min_samples: 5, ready_margin_ms: " +
                          std::to_string(kReadyMarginMs) + "}}"},
        {"performance", "{plugin: org.warmup.performance.calibrated}"},
        {"scheduler", "{plugin: org.warmup.scheduler.lead-time}"},
        {"resource", "{plugin: org.warmup.resource.lru}"},
        {"queue", "{plugin: org.warmup.queue.priority}"},
        {"metrics", "{plugin: org.warmup.metrics.prometheus}"},
        // Loads sleep load_ms x 0.01 of wall time: the pipeline really loads, but a test never waits on it long.
        {"backend", "{plugin: org.warmup.backend.sim, params: {time_scale: 0.01}}"},
    };
}

/// A complete configuration: plugin_dirs = the tree's build/plugins, a budget every catalog model fits in, and
/// `overrides` replacing slot lines of default_slots(). Catalog: "rhythm/a" plus the glob "load/*".
inline std::string config_yaml(const std::map<std::string, std::string>& overrides = {}) {
    auto slots = default_slots();
    for (const auto& [slot, line] : overrides) slots[slot] = line;
    std::ostringstream yaml;
    yaml << "log_level: info\n"  // warmupd logs its port at info
            "http: {bind: 127.0.0.1, port: 3000}\n"
            "plugin_dirs:\n"
            "  - \""
         << WARMUP_TEST_PLUGIN_DIR
         << "\"\n"
            "budgets:\n"
            "  memory_mb: 100000\n"
            "components:\n";
    for (const char* slot :
         {"analyzer", "predictor", "performance", "scheduler", "resource", "queue", "metrics", "backend"})
        yaml << "  " << slot << ": " << slots.at(slot) << "\n";
    yaml << "catalog:\n"
            "  - {model: \"rhythm/a\", memory_mb: 1000, load_ms: 400, unload_ms: 50}\n"
            "  - {model: \"load/*\", memory_mb: 10, load_ms: 20}\n";
    return yaml.str();
}

}  // namespace warmup::test
