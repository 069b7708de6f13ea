// Shared by the crash tests of warmupd's durable state (warmupd_crash_test, warmupd_journal_test): the daemon's
// configuration (a rhythm model and an embedding family on the simulated backend, state in `state_dir`), the wall
// clock the daemon stamps events with, the rhythm both teach it, a tolerant JSON GET and a snapshot section lookup.
// Header-only; any thread.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "runtime/state/state_store.hpp"

namespace warmup::test {

inline int64_t system_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// warmupd's configuration for the crash tests: `embed_memory_mb` per embedding model, and `state_options` appended
/// to the `state:` mapping after its dir (e.g. "snapshot_interval_s: 1, keep: 5, journal: false").
inline std::string state_daemon_config(const std::filesystem::path& state_dir, int embed_memory_mb,
                                       std::string_view state_options) {
    std::ostringstream yaml;
    yaml << "log_level: info\n"
            "http: {bind: 127.0.0.1, port: 3000}\n"
            "plugin_dirs: [\""
         << WARMUP_TEST_PLUGIN_DIR
         << "\"]\n"
            "budgets: {memory_mb: 4000, max_concurrent_warmups: 2}\n"
            "components:\n"
            "  analyzer: {plugin: org.warmup.analyzer.usage-pattern, params: {idle_bin_ms: 250, idle_bins: "
            "240}}\n"
            "  predictor: {plugin: org.warmup.predictor.idle-histogram, params: {min_samples: 5}}\n"
            "  performance: {plugin: org.warmup.performance.calibrated}\n"
            "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
            "  resource: {plugin: org.warmup.resource.lru}\n"
            "  queue: {plugin: org.warmup.queue.priority}\n"
            "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
            "  backend: {plugin: org.warmup.backend.sim, params: {time_scale: 0.01}}\n"
            "catalog:\n"
            "  - {model: \"rhythm/a\", memory_mb: 1000, load_ms: 400}\n"
            "  - {model: \"embed/*\", memory_mb: "
         << embed_memory_mb
         << ", load_ms: 100}\n"
            "state: {dir: \""
         << state_dir.string() << "\", " << state_options << "}\n";
    return yaml.str();
}

/// The JSON body of a GET answered 200, or null (no answer, another status, or a body that is not JSON).
inline nlohmann::json get_json(httplib::Client& client, const std::string& path) {
    const auto result = client.Get(path);
    if (!result || result->status != 200) return nullptr;
    return nlohmann::json::parse(result->body, nullptr, false);
}

/// The rhythm both tests teach the daemon, as an NDJSON body: 20 uses of rhythm/a 3 s apart, the last at `last_ms`
/// (19 idle gaps).
inline std::string rhythm_history_ndjson(int64_t last_ms) {
    std::string history;
    for (int i = 0; i < 20; ++i)
        history += nlohmann::json{{"model", "rhythm/a"}, {"ts_ms", last_ms - (19 - i) * 3000}}.dump() + "\n";
    return history;
}

/// The section of `snapshot` written by the component in `slot`, or nullptr.
inline const host::SnapshotSection* section_of(const host::Snapshot& snapshot, const std::string& slot) {
    for (const auto& section : snapshot.sections)
        if (section.slot == slot) return &section;
    return nullptr;
}

}  // namespace warmup::test
