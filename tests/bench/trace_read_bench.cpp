// Read-only passes over real traces: how many events per second the readers of warmup-replay deliver.
// The ServeGen folders are taken from $WARMUP_SERVEGEN_DIR (default: the shared copy); a missing folder skips.
// Each benchmark is one full pass (several seconds), so it runs a single iteration.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "replay/trace/trace.hpp"

namespace {

using namespace warmup::host::replay;
namespace fs = std::filesystem;

fs::path servegen_root() {
    const char* from_environment = std::getenv("WARMUP_SERVEGEN_DIR");
    return from_environment != nullptr ? fs::path(from_environment) : fs::path(WARMUP_SERVEGEN_DEFAULT_DIR);
}

/// Reads `spec` to the end; reports events, requests and events per second.
void read_pass(benchmark::State& state, const std::string& spec) {
    uint64_t events = 0;
    uint64_t requests = 0;
    for (auto _ : state) {
        ModelNames models, tenants;
        auto reader = open_trace(spec, models, tenants, 1);
        TraceEvent event;
        events = requests = 0;
        while (reader->next(event)) {
            ++events;
            requests += event.count;
        }
        benchmark::DoNotOptimize(requests);
    }
    state.counters["events"] = static_cast<double>(events);
    state.counters["requests"] = static_cast<double>(requests);
    state.counters["events_per_s"] = benchmark::Counter(
        static_cast<double>(events) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void servegen_pass(benchmark::State& state, const char* folder) {
    const fs::path directory = servegen_root() / folder;
    if (!fs::is_directory(directory)) {
        state.SkipWithError(("no ServeGen folder " + directory.string()).c_str());
        for (auto _ : state) {
        }
        return;
    }
    read_pass(state, "servegen:" + directory.string());
}

void BM_ServeGenMLarge(benchmark::State& state) { servegen_pass(state, "language/m-large"); }
void BM_ServeGenMmImage(benchmark::State& state) { servegen_pass(state, "multimodal/mm-image"); }

/// The native csv reader on the first two days of m-large, dumped once to a temporary file.
void BM_CsvTwoDaysOfMLarge(benchmark::State& state) {
    const fs::path directory = servegen_root() / "language/m-large";
    if (!fs::is_directory(directory)) {
        state.SkipWithError(("no ServeGen folder " + directory.string()).c_str());
        for (auto _ : state) {
        }
        return;
    }
    const fs::path dump = fs::temp_directory_path() / ("trace_read_bench_" + std::to_string(::getpid()) + ".csv");
    {
        ModelNames models, tenants;
        auto reader = clip(open_trace("servegen:" + directory.string(), models, tenants, 1), 0, 2 * 86400000LL);
        std::ofstream out(dump, std::ios::binary);
        write_events_csv(*reader, models, tenants, out);
    }
    state.counters["file_mb"] = static_cast<double>(fs::file_size(dump)) / 1e6;
    read_pass(state, "csv:" + dump.string());
    fs::remove(dump);
}

BENCHMARK(BM_ServeGenMLarge)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_ServeGenMmImage)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CsvTwoDaysOfMLarge)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
