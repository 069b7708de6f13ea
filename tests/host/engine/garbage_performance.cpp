// garbage_performance.cpp — a performance plugin that answers with nonsense, for the engine's output checks.
// Built into build/tests/bad-plugins (never build/plugins).
//
// Params: answer: nan | infinite | negative (memory_mb and load_ms both get that value; default nan);
//         good_calls: the first N estimate calls answer the catalog's figures correctly (default 0).
// Threading: the host calls it on its control thread only (SDK contract); no locks.
#include <cstdint>
#include <limits>
#include <string>
#include <warmup/sdk/plugin.hpp>

namespace {

class GarbagePerformance final : public warmup::sdk::Performance {
  public:
    GarbagePerformance(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Performance(host),
          garbage_(value_of(params.get_choice("answer", "nan", {"nan", "infinite", "negative"}))),
          good_calls_(params.get_int("good_calls", 0, 0)) {}

    void estimate(warmup_model_index model, warmup_performance_estimate& out) override {
        out.model = model;
        out.confidence = 1.0;
        if (++calls_ <= good_calls_) return;  // the host pre-fills nothing: 0 MiB means "use the catalog"
        out.memory_mb = garbage_;
        out.load_ms = garbage_;
    }
    void observe_load(const warmup_load_observation& /*observation*/) override {}

  private:
    static double value_of(const std::string& answer) {
        if (answer == "infinite") return std::numeric_limits<double>::infinity();
        if (answer == "negative") return -1024.0;
        return std::numeric_limits<double>::quiet_NaN();
    }
    double garbage_;
    int64_t good_calls_;
    int64_t calls_ = 0;
};

}  // namespace

WARMUP_PLUGIN(GarbagePerformance, "org.warmup.test.garbage-performance", "1.0.0",
              "Test only: estimates NaN, infinite or negative memory and load times")
