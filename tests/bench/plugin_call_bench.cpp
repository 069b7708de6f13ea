// plugin_call_bench — what a plugin call through the C ABI costs against a direct virtual call of the same work.
//
// The same plugin code is called two ways, on the same inputs:
//   CAbi    the shipped library (build/plugins/<name>.so) loaded as warmupd loads it (PluginLoader, Boost.DLL,
//           RTLD_NOW | RTLD_LOCAL) and called through its C vtable: vtable->predict(self, now, &pattern, &out), the
//           SDK's thunk casting `self`, catching exceptions and returning a warmup_error* the caller tests;
//   Direct  the plugin's class compiled into this program from the same source, called through a
//           warmup::sdk::Predictor& (a virtual call the compiler cannot resolve statically).
// Each predictor runs on the same 256 patterns, learned by the usage-pattern analyzer from a synthetic week of
// rhythmic traffic (every model has its own period and jitter), and is asked at idle times that vary per call, as the
// engine asks after a use, on a timer and for GET /api/warmup/predictions. The predictors, cheapest first: keep-alive
// (a few arithmetic operations: the fixed cost of the boundary shows most), idle-histogram, cost-curve (the default).
//
// After the table it prints, per predictor, the ratio CAbi / Direct of the mean CPU time per call (the median over
// repetitions when --benchmark_repetitions is given) and checks it against
// --max-ratio (default 1.1; PASS/FAIL, exit code 1 on FAIL).
//
//   build/bench/plugin_call_bench
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/host_services.hpp"
#include "loader/plugin_instance.hpp"
#include "loader/plugin_loader.hpp"
#include "plugins/analyzer/usage_pattern/usage_pattern_analyzer.hpp"
#include "plugins/predictor/cost_curve/cost_curve_predictor.hpp"
#include "plugins/predictor/idle_histogram/idle_histogram_predictor.hpp"
#include "plugins/predictor/keep_alive/keep_alive_predictor.hpp"

namespace {

using namespace warmup::host;

constexpr int kModels = 256;
constexpr warmup_time_ms kStartMs = 1'790'000'000'000;  // a fixed wall-clock time (December 2026)
constexpr warmup_time_ms kWeekMs = 7LL * 24 * 3'600'000;

/// The catalog, the clock, the analyzer's patterns and a host for the directly constructed plugins; built once.
struct Fixture {
    Catalog catalog{{CatalogEntry{"m/*", 1024, 5000, 500, 1}}};
    ManualClock clock{kStartMs + kWeekMs};
    HostServices services{catalog, clock, "plugin_call_bench"};
    std::unique_ptr<warmup::plugins::UsagePatternAnalyzer> analyzer;
    std::vector<warmup_usage_pattern> patterns;  // borrow the analyzer's views: no observe after they are taken

    Fixture() {
        for (int i = 0; i < kModels; ++i) catalog.resolve("m/" + std::to_string(i));
        warmup::sdk::Params params("{idle_bin_ms: 60000, idle_bins: 240}");
        analyzer = std::make_unique<warmup::plugins::UsagePatternAnalyzer>(warmup::sdk::Host(services.raw()), params);
        // A week of traffic: model i is used every (2 + i % 90) minutes, +-25 % (a fixed LCG: the same every run).
        std::vector<warmup_usage_event> events;
        uint64_t lcg = 12345;
        for (warmup_model_index model = 0; model < kModels; ++model) {
            const warmup_time_ms period_ms = (2 + model % 90) * 60'000;
            for (warmup_time_ms t = kStartMs; t < kStartMs + kWeekMs;) {
                events.push_back({t, model, 1, 0, 0});
                lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
                const double jitter = 0.75 + 0.5 * static_cast<double>(lcg >> 11) / static_cast<double>(1ULL << 53);
                t += static_cast<warmup_time_ms>(static_cast<double>(period_ms) * jitter);
            }
        }
        std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.ts_ms < b.ts_ms; });
        analyzer->observe(events);
        patterns.resize(kModels);
        for (warmup_model_index model = 0; model < kModels; ++model) {
            patterns[model].struct_size = sizeof(warmup_usage_pattern);
            analyzer->get_pattern(model, patterns[model]);
        }
    }
};

Fixture& fixture() {
    static Fixture instance;
    return instance;
}

/// The asking time of call `i`: from right after the model's last use to 90 minutes later, varying per call.
warmup_time_ms ask_at(const warmup_usage_pattern& pattern, uint64_t i) {
    return pattern.last_seen_ms + static_cast<warmup_time_ms>((i * 7919) % 5'400'000);
}

template <class Plugin>
void BM_Direct(benchmark::State& state) {
    Fixture& f = fixture();
    warmup::sdk::Params params("");
    std::unique_ptr<warmup::sdk::Predictor> owned =
        std::make_unique<Plugin>(warmup::sdk::Host(f.services.raw()), params);
    warmup::sdk::Predictor* predictor = owned.get();
    benchmark::DoNotOptimize(predictor);  // the compiler must not see the dynamic type: a real virtual call
    warmup_prediction out{};
    out.struct_size = sizeof out;
    uint64_t i = 0;
    for (auto _ : state) {
        const warmup_usage_pattern& pattern = f.patterns[i % kModels];
        predictor->predict(ask_at(pattern, i), pattern, out);
        benchmark::DoNotOptimize(out);
        ++i;
    }
    state.SetItemsProcessed(static_cast<int64_t>(i));
}

void BM_CAbi(benchmark::State& state, const std::string& plugin_id) {
    Fixture& f = fixture();
    PluginLoader loader({WARMUP_TEST_PLUGIN_DIR});
    const auto library = loader.load(PluginRef{plugin_id, {}, {}, "plugin_call_bench"}, WARMUP_KIND_PREDICTOR);
    const auto instance = PluginInstance::create(library, "", f.catalog, f.clock);
    const auto* vtable = instance->vtable<warmup_predictor_vtable>();
    void* self = instance->self();
    warmup_prediction out{};
    out.struct_size = sizeof out;
    uint64_t i = 0;
    uint64_t errors = 0;
    for (auto _ : state) {
        const warmup_usage_pattern& pattern = f.patterns[i % kModels];
        if (warmup_error* error = vtable->predict(self, ask_at(pattern, i), &pattern, &out)) {
            ++errors;
            ErrorPtr owned(error);  // created in host memory; freed as the engine frees it
        }
        benchmark::DoNotOptimize(out);
        ++i;
    }
    state.SetItemsProcessed(static_cast<int64_t>(i));
    if (errors > 0) state.SkipWithError("the plugin answered errors");
}

BENCHMARK_TEMPLATE(BM_Direct, warmup::plugins::KeepAlivePredictor)->Name("Direct/keep-alive");
BENCHMARK_CAPTURE(BM_CAbi, keep_alive, std::string("org.warmup.predictor.keep-alive"))->Name("CAbi/keep-alive");
BENCHMARK_TEMPLATE(BM_Direct, warmup::plugins::IdleHistogramPredictor)->Name("Direct/idle-histogram");
BENCHMARK_CAPTURE(BM_CAbi, idle_histogram, std::string("org.warmup.predictor.idle-histogram"))
    ->Name("CAbi/idle-histogram");
BENCHMARK_TEMPLATE(BM_Direct, warmup::plugins::CostCurvePredictor)->Name("Direct/cost-curve");
BENCHMARK_CAPTURE(BM_CAbi, cost_curve, std::string("org.warmup.predictor.cost-curve"))->Name("CAbi/cost-curve");

/// The console table, and the mean time per call of each run by name (medians when repetitions are asked for).
class RatioReporter : public benchmark::ConsoleReporter {
  public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& run : runs) {
            if (run.error_occurred) continue;
            if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
            // CPU time: the machine is shared, and a call preempted by another process is not slower code.
            ns_per_call_[run.run_name.function_name] = run.GetAdjustedCPUTime();
        }
        ConsoleReporter::ReportRuns(runs);
    }
    [[nodiscard]] const std::map<std::string, double>& ns_per_call() const { return ns_per_call_; }

  private:
    std::map<std::string, double> ns_per_call_;
};

}  // namespace

int main(int argc, char** argv) {
    double max_ratio = 1.1;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.rfind("--max-ratio=", 0) == 0)
            max_ratio = std::strtod(arg.c_str() + 12, nullptr);
        else
            args.push_back(argv[i]);
    }
    int count = static_cast<int>(args.size());
    benchmark::Initialize(&count, args.data());
    if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 2;
    fixture();  // learn the patterns before the first timing
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();

    bool passed = true;
    std::printf("\nC ABI call / direct virtual call of the same plugin code (CPU time per call):\n");
    for (const char* plugin : {"keep-alive", "idle-histogram", "cost-curve"}) {
        const auto direct = reporter.ns_per_call().find(std::string("Direct/") + plugin);
        const auto abi = reporter.ns_per_call().find(std::string("CAbi/") + plugin);
        if (direct == reporter.ns_per_call().end() || abi == reporter.ns_per_call().end()) continue;
        const double ratio = abi->second / direct->second;
        const bool ok = ratio <= max_ratio;
        passed = passed && ok;
        std::printf("  %-15s direct %8.1f ns  C ABI %8.1f ns  (+%.1f ns)  ratio %.3f  %s (bound %.2f)\n", plugin,
                    direct->second, abi->second, abi->second - direct->second, ratio, ok ? "PASS" : "FAIL", max_ratio);
    }
    std::printf("%s\n", passed ? "PASS" : "FAIL");
    return passed ? 0 : 1;
}
