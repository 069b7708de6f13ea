// stubborn_backend.cpp — a backend that ignores the cancel token: each of the first `slow_loads` loads (default
// all) sleeps `load_ms` wall milliseconds and then succeeds, as a model server may finish a load its client gave up
// on; later loads succeed at once. Each unload appends the model's name and a newline to the file `unload_log`, and
// each load that returns to the file `load_log` (when set), so a test can see what the backend did.
// With `list_log` set it also lists what it holds (the models whose loads returned, less those unloaded since), as a
// slow server does: each listing appends "listing" to `list_log` when it starts, then waits until a load returns or
// `list_waits_for_load_ms` pass, then appends "listed" and answers. Without it, it cannot list (UNSUPPORTED).
// Built into build/tests/bad-plugins (never build/plugins). Threading: load, unload and list_resident may run
// concurrently (worker threads, the listing thread); the logs and the held models are guarded by one mutex.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace {

class StubbornBackend final : public warmup::sdk::Backend {
  public:
    StubbornBackend(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Backend(host),
          load_ms_(params.get_int("load_ms", 1000, 0, 600'000)),
          slow_loads_(params.get_int("slow_loads", INT64_MAX, 0)),
          unload_log_(params.get_string("unload_log", "")),
          load_log_(params.get_string("load_log", "")),
          list_log_(params.get_string("list_log", "")),
          list_waits_for_load_ms_(params.get_int("list_waits_for_load_ms", 0, 0, 600'000)) {}

    double load(const warmup_model_info& model, const warmup_cancel_token& /*cancel*/) override {
        if (loads_.fetch_add(1) < slow_loads_) std::this_thread::sleep_for(std::chrono::milliseconds(load_ms_));
        {
            std::lock_guard lock(mutex_);
            const std::string name(warmup::sdk::to_string_view(model.name));
            if (!load_log_.empty()) std::ofstream(load_log_, std::ios::app) << name << "\n";
            held_.insert(name);
            ++loads_returned_;
        }
        load_returned_.notify_all();
        return 0;
    }
    void unload(const warmup_model_info& model) override {
        std::lock_guard lock(mutex_);
        const std::string name(warmup::sdk::to_string_view(model.name));
        std::ofstream(unload_log_, std::ios::app) << name << "\n";
        held_.erase(name);
    }
    std::vector<warmup::sdk::ResidentModel> list_resident() override {
        if (list_log_.empty()) return Backend::list_resident();  // throws UNSUPPORTED
        std::unique_lock lock(mutex_);
        std::ofstream(list_log_, std::ios::app) << "listing\n";
        const int64_t loads_before = loads_returned_;
        load_returned_.wait_for(lock, std::chrono::milliseconds(list_waits_for_load_ms_),
                                [&] { return loads_returned_ > loads_before; });
        std::ofstream(list_log_, std::ios::app) << "listed\n";
        std::vector<warmup::sdk::ResidentModel> resident;
        for (const std::string& name : held_) resident.push_back({name, 0});
        return resident;
    }

  private:
    int64_t load_ms_;
    int64_t slow_loads_;
    std::atomic<int64_t> loads_{0};
    std::string unload_log_;
    std::string load_log_;
    std::string list_log_;
    int64_t list_waits_for_load_ms_;
    std::mutex mutex_;
    std::condition_variable load_returned_;
    std::set<std::string> held_;  // under mutex_
    int64_t loads_returned_ = 0;  // under mutex_
};

}  // namespace

WARMUP_PLUGIN(StubbornBackend, "org.warmup.test.stubborn-backend", "1.0.0",
              "Test only: loads ignore the cancel token and succeed late; unloads are logged to a file")
