// cost_curve_state_entry.cpp — the fuzz entry point of the default predictor's state text (cost-curve's
// import_state), kept apart from fuzz_entry_points.cpp because it compiles the predictor in.
//
// A state text is input the daemon reads from disk (a snapshot, a backup an operator restores) and from another
// instance at a hot-swap; the successions' records name models by index, so a record that passes the reader must not
// let a later use index outside the predictor's tables.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "cost_curve_predictor.hpp"
#include "fuzz_entry_points.hpp"
#include "plugin_test_host.hpp"

namespace warmup::test {
namespace {

[[noreturn]] void broken_promise(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "fuzz: broken promise: %s %s\n", what, detail.c_str());
    std::abort();
}

constexpr uint32_t kModels = 8;
constexpr const char* kParams = "{lean_memory_share: 0}";

}  // namespace

void cost_curve_state_one_input(const uint8_t* data, std::size_t size) {
    const PluginTestHost host = numbered_models_host(kModels);
    Built<plugins::CostCurvePredictor> predictor(host, kParams);
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        predictor.plugin.import_state(text);
    } catch (const sdk::Error&) {
        // Refused whole: the state is the one it had (empty), which it writes as such.
        Built<plugins::CostCurvePredictor> fresh(host, kParams);
        if (predictor.plugin.export_state() != fresh.plugin.export_state())
            broken_promise("a refused import changed the state");
        return;
    } catch (const std::exception& other) {
        broken_promise("import_state threw something other than sdk::Error:", other.what());
    }
    // Accepted: what it writes reads back to the same text (one encoding per state once read).
    const std::string once = predictor.plugin.export_state();
    Built<plugins::CostCurvePredictor> again(host, kParams);
    try {
        again.plugin.import_state(once);
    } catch (const std::exception& error) {
        broken_promise("its own export was refused:", error.what());
    }
    if (again.plugin.export_state() != once) broken_promise("export, import, export is not the same text");
    // And it runs: every model used in turn, 90 s apart, so every imported pair is scored and every follower named
    // is looked up. The patterns are made here rather than by an analyzer: one that had not seen the state's history
    // would report fewer requests than the state counts, which the predictor takes for an analyzer reset and forgets
    // the model, pairs included. Counted from 10^15, so every use is a new one whatever the state says.
    static constexpr double kNoShares[24] = {};
    std::array<warmup_time_ms, kModels> last_ms;
    last_ms.fill(WARMUP_TIME_NEVER);
    std::array<uint64_t, kModels> requests;
    requests.fill(1'000'000'000'000'000);
    warmup_time_ms t = 1'800'000'000'000;  // after the seeds' times (2023)
    for (int step = 0; step < 4 * static_cast<int>(kModels); ++step, t += 90'000) {
        const auto model = static_cast<warmup_model_index>((step * 3) % kModels);
        warmup_usage_pattern pattern{};
        pattern.struct_size = sizeof pattern;
        pattern.model = model;
        pattern.request_count = ++requests[model];
        pattern.first_seen_ms = 1'800'000'000'000;
        pattern.previous_seen_ms = last_ms[model];
        pattern.last_seen_ms = t;
        pattern.hour_of_day = kNoShares;
        pattern.day_of_week = kNoShares;
        last_ms[model] = t;
        warmup_prediction prediction{};
        prediction.struct_size = sizeof prediction;
        predictor.plugin.predict(t, pattern, prediction);
        for (uint32_t i = 0; i < prediction.replan_count; ++i)
            if (prediction.replan_models[i] >= kModels) broken_promise("a follower named outside the catalog");
    }
}

}  // namespace warmup::test
