// stubborn_backend.cpp — a backend that ignores the cancel token: each of the first `slow_loads` loads (default
// all) sleeps `load_ms` wall milliseconds and then succeeds, as a model server may finish a load its client gave up
// on; later loads succeed at once. Each unload appends the model's name and a newline to the file `unload_log`, and
// each load that returns to the file `load_log` (when set), so a test can see what the backend did.
// Built into build/tests/bad-plugins (never build/plugins). Threading: load and unload may run concurrently for
// different models (worker threads); the log is appended under a mutex.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <warmup/sdk/plugin.hpp>

namespace {

class StubbornBackend final : public warmup::sdk::Backend {
  public:
    StubbornBackend(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Backend(host),
          load_ms_(params.get_int("load_ms", 1000, 0, 600'000)),
          slow_loads_(params.get_int("slow_loads", INT64_MAX, 0)),
          unload_log_(params.get_string("unload_log", "")),
          load_log_(params.get_string("load_log", "")) {}

    double load(const warmup_model_info& model, const warmup_cancel_token& /*cancel*/) override {
        if (loads_.fetch_add(1) < slow_loads_) std::this_thread::sleep_for(std::chrono::milliseconds(load_ms_));
        if (!load_log_.empty()) {
            std::lock_guard lock(mutex_);
            std::ofstream(load_log_, std::ios::app) << warmup::sdk::to_string_view(model.name) << "\n";
        }
        return 0;
    }
    void unload(const warmup_model_info& model) override {
        std::lock_guard lock(mutex_);
        std::ofstream(unload_log_, std::ios::app) << warmup::sdk::to_string_view(model.name) << "\n";
    }

  private:
    int64_t load_ms_;
    int64_t slow_loads_;
    std::atomic<int64_t> loads_{0};
    std::string unload_log_;
    std::string load_log_;
    std::mutex mutex_;
};

}  // namespace

WARMUP_PLUGIN(StubbornBackend, "org.warmup.test.stubborn-backend", "1.0.0",
              "Test only: loads ignore the cancel token and succeed late; unloads are logged to a file")
