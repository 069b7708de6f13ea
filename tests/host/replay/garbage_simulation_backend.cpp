// garbage_simulation_backend.cpp — a backend whose replay simulation answers nonsense, for the replay's checks on a
// backend's simulate_load. Built into build/tests/bad-plugins (never build/plugins).
//
// Params: answer: huge | nan | negative | error (simulate_load's load time is 1e300 ms, NaN or -5000 ms, or the call
//         throws; default huge). Live loads and unloads do nothing (it is for replays only).
// Threading: the replay calls it on the thread that drives the arm; no state.
#include <limits>
#include <string>
#include <utility>
#include <warmup/sdk/plugin.hpp>

namespace {

class GarbageSimulationBackend final : public warmup::sdk::Backend {
  public:
    GarbageSimulationBackend(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Backend(host), answer_(params.get_choice("answer", "huge", {"huge", "nan", "negative", "error"})) {}

    double load(const warmup_model_info& /*model*/, const warmup_cancel_token& /*cancel*/) override { return 0; }
    void unload(const warmup_model_info& /*model*/) override {}
    [[nodiscard]] bool supports_simulation() const override { return true; }
    std::pair<double, bool> simulate_load(const warmup_model_info& /*model*/, warmup_time_ms /*now_ms*/) override {
        if (answer_ == "error") throw warmup::sdk::Error(WARMUP_ERROR_INTERNAL, "no simulation today");
        if (answer_ == "nan") return {std::numeric_limits<double>::quiet_NaN(), true};
        if (answer_ == "negative") return {-5000, true};
        return {1e300, true};
    }

  private:
    std::string answer_;
};

}  // namespace

WARMUP_PLUGIN(GarbageSimulationBackend, "org.warmup.test.garbage-simulation-backend", "1.0.0",
              "Test only: a replay simulation answering load times that are not ones, or failing")
