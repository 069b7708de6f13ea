// replay/replay_report.hpp — what one warmup-replay run measured, and the writers of report.json/.md/.html.
//
// report.json holds only what is determined by the inputs and the seed (byte-identical across runs); figures that
// depend on the machine (CPU time, events per second) go to timing.json and the human reports.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace warmup::host::replay {

/// One point of an arm's time series: one fixed-width bucket of the replayed time.
struct TimelineBucket {
    int64_t start_ms = 0;
    int64_t width_ms = 0;
    uint64_t requests = 0;
    uint64_t cold_requests = 0;
    double mean_resident_mb = 0;  ///< time-average of loaded + loading memory over the bucket
};

/// One model's requests under one arm (models with at least one request; the rows of per-model.csv).
struct ModelResult {
    std::string model;
    uint64_t requests = 0;
    uint64_t cold_requests = 0;
    double loaded_gb_h = 0;  ///< memory-time charged to the model (loading or ready), GB x h (GB = 1024 MiB)
};

/// Totals of one arm (a plugin set or a clairvoyant yardstick) over the whole replay.
struct ArmResult {
    std::string name;
    std::string yardstick;             ///< "oracle" / "oracle-lean", or "" for a plugin arm
    bool frontier_curve = false;       ///< one of the keep-alive curve arms that --frontier adds
    int64_t frontier_ttl_ms = 0;       ///< its keep-alive TTL (0 when not a curve arm)
    std::vector<std::string> plugins;  ///< "<slot>=<id>@<version>" per slot (yardsticks: the in-host ones too)
    double budget_mb = 0;              ///< effective budget enforced

    uint64_t events = 0;
    uint64_t requests = 0;
    uint64_t cold_requests = 0;
    uint64_t avoidable_cold_requests = 0;  ///< cold_requests - the report's compulsory_cold_requests, at least 0
    uint64_t failed_requests = 0;
    double cold_rate = 0;                ///< cold_requests / requests
    double per_model_cold_rate_p50 = 0;  ///< distribution over models with at least one request (nearest rank)
    double per_model_cold_rate_p75 = 0;
    double per_model_cold_rate_p95 = 0;
    uint64_t models_with_requests = 0;
    std::vector<ModelResult> per_model;  ///< by model index (first seen first); the percentiles' population
    uint64_t demand_loads = 0;
    uint64_t loads_queued_for_memory = 0;
    double cold_wait_total_s = 0;
    double cold_wait_p50_ms = 0;
    double cold_wait_p99_ms = 0;
    double loaded_gb_h = 0;  ///< memory-time of loaded + loading models, GB x h (GB = 1024 MiB)
    double idle_gb_h = 0;    ///< memory-time a model stayed resident after its last use, GB x h
    uint64_t prewarms_started = 0;
    uint64_t prewarms_used = 0;
    uint64_t prewarms_wasted = 0;
    double precision = 0;  ///< used / (used + wasted); 0 when no pre-warm finished its life
    uint64_t idle_gap_requests = 0;
    uint64_t idle_gap_prewarmed = 0;
    double recall = 0;  ///< idle_gap_prewarmed / idle_gap_requests
    uint64_t evictions = 0;
    uint64_t unloads = 0;
    uint64_t prewarms_skipped = 0;
    uint64_t plugin_errors = 0;
    /// avoidable_cold_requests / the keep-alive curve's avoidable cold requests at this arm's loaded_gb_h (see
    /// frontier.hpp); nullopt without the curve, for a curve arm, or when the curve is at 0 and this arm is not.
    std::optional<double> keepalive_curve_ratio;
    /// The curve's per_model_cold_rate_p75 at this arm's loaded_gb_h, interpolated like the ratio; nullopt likewise.
    std::optional<double> keepalive_curve_p75_cold_rate;
    std::vector<TimelineBucket> timeline;

    // Machine-dependent (timing.json and the human reports only, never report.json):
    double cpu_seconds = 0;  ///< CPU time of this arm's decisions (engine + plugins)
    double decision_cpu_s_per_million_events = 0;
    double events_per_cpu_second = 0;
};

struct ReplayReport {
    std::string config_file;
    std::vector<std::string> traces;
    uint64_t seed = 0;
    int64_t from_ms = 0;  ///< first event time replayed
    int64_t to_ms = 0;    ///< last event time replayed
    uint64_t events = 0;
    uint64_t requests = 0;
    uint64_t models = 0;
    std::string budget_spec;  ///< as configured ("24576 MiB" or "1.5xA95")
    double a95_mb = 0;        ///< 0 when not computed
    double budget_mb = 0;     ///< absolute budget given to every arm
    uint32_t max_concurrent_warmups = 0;
    /// Cold requests of keep-forever with unlimited memory and unbounded concurrency: the requests that wait for
    /// each model's first load, which no online policy avoids (docs/simulation-rules.md, section 8).
    uint64_t compulsory_cold_requests = 0;
    bool frontier = false;  ///< the keep-alive curve arms were run (--frontier or replay.frontier)
    std::vector<ArmResult> arms;

    // Machine-dependent:
    double wall_seconds = 0;
    double events_per_second = 0;             ///< events x arms / wall_seconds
    double compulsory_floor_cpu_seconds = 0;  ///< CPU time of the hidden compulsory-floor arm
};

/// Writes report.json (schema in docs/report-schema.md), timing.json, report.md and report.html (SVG charts) into
/// `out_dir` (created if missing). Throws std::runtime_error when a file cannot be written.
void write_reports(const ReplayReport& report, const std::filesystem::path& out_dir);

/// The Markdown table of the arms (what warmup-replay prints on stdout and puts in report.md).
std::string arms_table_markdown(const ReplayReport& report);

/// One sentence per arm whose plugin calls failed (its figures are then partly the host's fallbacks'), and one per arm
/// with failed requests (counted among its cold requests, which the table alone does not tell); report.md,
/// report.html and warmup-replay's summary show them above the arms.
std::vector<std::string> arm_warnings(const ReplayReport& report);

}  // namespace warmup::host::replay
