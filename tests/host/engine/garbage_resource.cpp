// garbage_resource.cpp — a resource plugin that answers with nonsense, for the engine's checks on eviction and budget.
// Built into build/tests/bad-plugins (never build/plugins).
//
// Params: victim: out-of-range | error | none (pick_victim names model 4,000,000,000, throws, or says nothing is
//         evictable; default out-of-range);
//         budget_factor: effective_budget_mb answers the configured budget times this (default 1; NaN with "nan");
//         abort_on_use: on_used calls abort() (default false): a plugin that crashes in a call the host does not time;
//         throw_on_use: on_used throws (default false): a failure in a call whose C signature returns no error;
//         refuse_demand: when not empty, every demand load is refused (delayed) with this as the reason (default "");
//         crash_on_own_thread: abort | segv | "" (default): a thread the plugin starts as it is created calls abort()
//         or writes through a null pointer 200 ms later (a plugin's own thread, in no call the host makes).
// Admits every load and lets it evict. Threading: the host calls it on its control thread only; the crashing thread
// is the plugin's own, stopped and joined by the destructor if it has not crashed yet.
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <warmup/sdk/plugin.hpp>

namespace {

class GarbageResource final : public warmup::sdk::Resource {
  public:
    GarbageResource(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Resource(host),
          victim_(params.get_choice("victim", "out-of-range", {"out-of-range", "error", "none"})),
          budget_factor_(params.get_string("budget_factor", "1")),
          abort_on_use_(params.get_bool("abort_on_use", false)),
          throw_on_use_(params.get_bool("throw_on_use", false)),
          refuse_demand_(params.get_string("refuse_demand", "")) {
        const std::string crash = params.get_choice("crash_on_own_thread", "", {"", "abort", "segv"});
        if (!crash.empty()) crasher_ = std::thread([this, crash] { crash_soon(crash); });
    }
    ~GarbageResource() override {
        {
            const std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        stop_.notify_all();
        if (crasher_.joinable()) crasher_.join();
    }
    GarbageResource(const GarbageResource&) = delete;
    GarbageResource& operator=(const GarbageResource&) = delete;

    double effective_budget_mb(double configured_budget_mb) override {
        if (budget_factor_ == "nan") return std::numeric_limits<double>::quiet_NaN();
        return configured_budget_mb * std::stod(budget_factor_);
    }
    void admit(const warmup_admission_request& request, warmup_admission& out) override {
        out.admit = 1;
        out.may_evict = 1;
        if (request.is_demand != 0 && !refuse_demand_.empty()) {
            out.admit = 0;
            out.reason = {refuse_demand_.data(), refuse_demand_.size()};
        }
    }
    void on_ready(warmup_model_index, double, double, warmup_time_ms) override {}
    void on_used(warmup_model_index, warmup_time_ms) override {
        if (abort_on_use_) std::abort();
        if (throw_on_use_) throw warmup::sdk::Error(WARMUP_ERROR_INTERNAL, "on_used fails on purpose");
    }
    void on_removed(warmup_model_index, warmup_time_ms) override {}
    warmup_model_index pick_victim(warmup_time_ms /*now_ms*/) override {
        if (victim_ == "error") throw warmup::sdk::Error(WARMUP_ERROR_INTERNAL, "no victim today");
        if (victim_ == "none") return WARMUP_NO_MODEL;
        return 4'000'000'000u;
    }

  private:
    void crash_soon(const std::string& how) {
        std::unique_lock lock(mutex_);
        if (stop_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_; })) return;
        if (how == "abort") std::abort();
        volatile int* nowhere = nullptr;
        *nowhere = 1;  // a fault in this library's own code
    }

    std::string victim_;
    std::string budget_factor_;
    bool abort_on_use_;
    bool throw_on_use_;
    std::string refuse_demand_;  // the reason handed out (owned here: valid until the next call)
    std::mutex mutex_;
    std::condition_variable stop_;
    bool stopping_ = false;  // under mutex_
    std::thread crasher_;    // started last: the members it reads exist
};

}  // namespace

WARMUP_PLUGIN(GarbageResource, "org.warmup.test.garbage-resource", "1.0.0",
              "Test only: names models that are not ready as victims, fails, or answers a budget it may not")
