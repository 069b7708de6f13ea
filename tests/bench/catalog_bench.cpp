// catalog_bench — what the model catalog costs per name with a catalog written out model by model
// (docs/benchmarks.md, "Ten thousand models on one node").
//
// A catalog of N exact entries ("org<i % 97>/model-<i>:v<i % 7>", as a generated configuration lists them) and three
// globs after them. Two lookups, both on every HTTP thread that takes events:
//   BM_UnknownName        a name no entry covers (every event of a misspelt or retired model): tried against every
//                         entry before it is refused;
//   BM_FirstSightOfModel  the first event of each model, which matches its entry and registers it (items/s: models).
// Both used to scan the entries one by one (O(N) per name, 1.4 ms per unknown name at 20 k entries in a live daemon);
// now one hash lookup and the globs.
//
//   build/bench/catalog_bench
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "core/catalog.hpp"

namespace {

using warmup::host::Catalog;
using warmup::host::CatalogEntry;

std::string model_name(int i) {
    return "org" + std::to_string(i % 97) + "/model-" + std::to_string(i) + ":v" + std::to_string(i % 7);
}

std::vector<CatalogEntry> written_out_catalog(int models) {
    std::vector<CatalogEntry> entries;
    entries.reserve(static_cast<std::size_t>(models) + 3);
    for (int i = 0; i < models; ++i) entries.push_back({model_name(i), 600, 1500, 100, 1});
    for (const char* glob : {"embed/*", "adapters/*/lora-?", "tenant-*:latest"})
        entries.push_back({glob, 300, 400, 50, 2});
    return entries;
}

void BM_UnknownName(benchmark::State& state) {
    Catalog catalog(written_out_catalog(static_cast<int>(state.range(0))));
    const std::string unknown = "org12/model-typo:v3";
    for (auto _ : state) benchmark::DoNotOptimize(catalog.resolve(unknown));
}
BENCHMARK(BM_UnknownName)->Arg(100)->Arg(5'000)->Arg(20'000);

void BM_FirstSightOfModel(benchmark::State& state) {
    const int models = static_cast<int>(state.range(0));
    std::vector<std::string> names;
    for (int i = 0; i < models; ++i) names.push_back(model_name((i * 7919) % models));  // not in catalog order
    for (auto _ : state) {
        state.PauseTiming();
        auto catalog = std::make_unique<Catalog>(written_out_catalog(models));
        state.ResumeTiming();
        for (const std::string& name : names) benchmark::DoNotOptimize(catalog->resolve(name));
        state.PauseTiming();
        catalog.reset();
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * models);
}
BENCHMARK(BM_FirstSightOfModel)->Arg(100)->Arg(5'000)->Arg(20'000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
