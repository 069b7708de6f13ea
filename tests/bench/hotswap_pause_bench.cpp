// hotswap_pause_bench — how long a live hot-swap stops the control loop, and whether it loses events, under load.
//
// One benchmark iteration is one whole scenario: a LiveRuntime on the real plugins (build/plugins, sim backend at
// 1/100 of catalog time) is started, a producer thread ingests events continuously (batches of 100, ~100k events/s,
// over 64 models), and the main thread performs 100 reloads alternating the predictor between idle-histogram and
// hybrid-histogram. Then the producer stops, the control loop drains, and the engine's event counter is compared with
// the events the runtime accepted.
//
// Counters (per scenario):
//   pause_median_us, pause_p90_us, pause_max_us  ReloadResult::pause_us: the control loop stood still for this long
//                                                 to publish the new set (loading the library happens before, beside
//                                                 the running set, and is not part of it)
//   reload_median_us                             wall time of the whole reload() call (load + create + publish)
//   events_sent                                  events the runtime accepted (try_ingest true) during the scenario
//   events_lost                                  events_sent - engine counters().events after draining; must be 0
//   reloads_failed                               reloads that did not answer ok; must be 0
//
//   build-x/bench/hotswap_pause_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../support/hotswap_test_config.hpp"
#include "config/config.hpp"
#include "runtime/live_runtime.hpp"

namespace {

using namespace warmup::host;
using namespace warmup::test;
using namespace std::chrono_literals;

constexpr int kSwaps = 100;
constexpr int kModels = 64;
constexpr uint32_t kBatch = 100;  // events per producer burst; one burst per millisecond

double percentile(std::vector<double> values, double fraction) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(rank, values.size() - 1)];
}

void BM_HotSwapPredictorUnderLoad(benchmark::State& state) {
    spdlog::set_level(spdlog::level::warn);  // 200 CONFIG_RELOADED info lines would drown the table
    TempDir dir;
    const Config idle = load_config_file(dir.write("idle.yaml", config_yaml()), {});
    const Config hybrid = load_config_file(
        dir.write("hybrid.yaml", config_yaml({{"predictor", "{plugin: org.warmup.predictor.hybrid-histogram}"}})), {});

    std::vector<double> pauses_us;
    std::vector<double> reloads_us;
    uint64_t events_sent = 0;
    uint64_t events_lost = 0;
    uint64_t reloads_failed = 0;
    for (auto _ : state) {
        auto runtime = std::make_unique<LiveRuntime>(idle);
        runtime->start();
        std::vector<warmup_model_index> models;
        for (int i = 0; i < kModels; ++i) models.push_back(*runtime->catalog().resolve("load/" + std::to_string(i)));

        std::atomic<bool> producing{true};
        std::thread producer([&] {
            uint64_t i = 0;
            while (producing.load(std::memory_order_relaxed)) {
                for (uint32_t k = 0; k < kBatch; ++k, ++i) {
                    warmup_usage_event event{};
                    event.model = models[i % models.size()];
                    event.ts_ms = runtime->clock().now_ms();
                    event.count = 1;
                    runtime->try_ingest(event);  // a refusal (queue full) is not "sent": accepted_events() excludes it
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        });

        for (int swap = 0; swap < kSwaps; ++swap) {
            const auto started = std::chrono::steady_clock::now();
            const ReloadResult result = runtime->reload(swap % 2 == 0 ? hybrid : idle);
            reloads_us.push_back(
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count());
            if (!result.ok || result.changes.size() != 1) {
                ++reloads_failed;
                state.SkipWithError(("reload failed: " + result.stage + ": " + result.error).c_str());
                continue;
            }
            pauses_us.push_back(result.pause_us);
            std::this_thread::sleep_for(std::chrono::milliseconds(5));  // let a few batches through between swaps
        }
        producing = false;
        producer.join();

        // Drain: every accepted event must reach the engine. Bounded wait; a shortfall is reported, not hidden.
        const uint64_t accepted = runtime->accepted_events();
        uint64_t counted = 0;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        do {
            counted = runtime->call_on_control([](WarmupEngine& engine) { return engine.counters().events; });
            if (counted >= accepted) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } while (std::chrono::steady_clock::now() < deadline);
        events_sent += accepted;
        events_lost += accepted - std::min(accepted, counted);
        runtime.reset();
    }

    state.counters["pause_median_us"] = percentile(pauses_us, 0.5);
    state.counters["pause_p90_us"] = percentile(pauses_us, 0.9);
    state.counters["pause_max_us"] = pauses_us.empty() ? 0 : *std::max_element(pauses_us.begin(), pauses_us.end());
    state.counters["reload_median_us"] = percentile(reloads_us, 0.5);
    state.counters["swaps"] = static_cast<double>(pauses_us.size());
    state.counters["events_sent"] = static_cast<double>(events_sent);
    state.counters["events_lost"] = static_cast<double>(events_lost);
    state.counters["reloads_failed"] = static_cast<double>(reloads_failed);
}
BENCHMARK(BM_HotSwapPredictorUnderLoad)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
