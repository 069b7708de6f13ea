// flaky_predictor.cpp — a deliberately failing predictor for the circuit-breaker tests. Built into
// build/tests/bad-plugins (never build/plugins).
//
// Params (all optional):
//   failing_calls: the first N predict calls throw (default: every call throws);
//   sleep_us:      every predict call sleeps this long first (default 0), to overrun the host's call budget;
//   keep_ms:       once it answers, keep the model this long after its last use (default: never unload);
//   nan_p_use:     its answers carry p_use_within_horizon NaN (a prediction the host must not use; default false);
//   inverted_window: its answers carry a pre-warm window that ends a minute before it starts (default false);
//   create_sleep_us: the constructor sleeps this long first (default 0): a plugin slow to start, or stuck;
//   creations_before_failing: creations of this plugin in the process (every instance counts) past this many throw
//                  (default: none throws): a plugin that starts once, then fails to start again;
//   abort_on_call: the predict call of this number (1 = the first) calls abort() (default 0: none): a plugin that
//                  crashes the process;
//   overflow_on_call: the predict call of this number recurses without end (default 0: none): a stack overflow;
//   abort_on_create: the constructor calls abort() (default false): a plugin that crashes as it starts.
// It never pre-warms (but for inverted_window, a window no host may use). Threading: the host calls it on its control
// thread only (SDK contract); no locks.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>
#include <warmup/sdk/plugin.hpp>

namespace {

class FlakyPredictor final : public warmup::sdk::Predictor {
  public:
    FlakyPredictor(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Predictor(host),
          failing_calls_(params.get_int("failing_calls", std::numeric_limits<int64_t>::max(), 0)),
          sleep_us_(params.get_int("sleep_us", 0, 0, 10'000'000)),
          keep_ms_(params.get_int("keep_ms", WARMUP_TIME_NEVER, 0)),
          nan_p_use_(params.get_bool("nan_p_use", false)),
          inverted_window_(params.get_bool("inverted_window", false)),
          abort_on_call_(params.get_int("abort_on_call", 0, 0)),
          overflow_on_call_(params.get_int("overflow_on_call", 0, 0)) {
        if (params.get_bool("abort_on_create", false)) std::abort();
        const int64_t create_sleep_us = params.get_int("create_sleep_us", 0, 0, 60'000'000);
        if (create_sleep_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(create_sleep_us));
        const int64_t creations_allowed =
            params.get_int("creations_before_failing", std::numeric_limits<int64_t>::max(), 0);
        if (++creations_ > creations_allowed)
            throw warmup::sdk::Error(WARMUP_ERROR_UNAVAILABLE, "flaky test predictor: creation " +
                                                                   std::to_string(creations_) + " fails on purpose");
    }

    void predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) override {
        ++calls_;
        if (calls_ == abort_on_call_) std::abort();
        if (calls_ == overflow_on_call_) (void)recurse(calls_);
        if (sleep_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
        if (calls_ <= failing_calls_)
            throw warmup::sdk::Error(WARMUP_ERROR_INTERNAL,
                                     "flaky test predictor: call " + std::to_string(calls_) + " fails on purpose");
        out.model = pattern.model;
        out.horizon_ms = 60'000;
        out.p_use_within_horizon = nan_p_use_ ? std::numeric_limits<double>::quiet_NaN() : 1.0;
        out.next_arrival_ms = WARMUP_TIME_NEVER;
        out.confidence = 1.0;
        out.warm_at_ms = inverted_window_ ? now_ms + 600'000 : WARMUP_TIME_NEVER;
        out.warm_keep_until_ms = inverted_window_ ? now_ms + 540'000 : WARMUP_TIME_NEVER;
        const bool never = keep_ms_ == WARMUP_TIME_NEVER || pattern.last_seen_ms == WARMUP_TIME_NEVER;
        out.keep_until_ms = never ? WARMUP_TIME_NEVER : pattern.last_seen_ms + keep_ms_;
    }

  private:
    /// Returns only past a depth no stack holds: each level takes a page of the stack, until the stack is gone.
    static int64_t recurse(int64_t depth) {
        volatile char page[4096];
        page[0] = static_cast<char>(depth);
        if (depth > (int64_t{1} << 40)) return page[0];
        return recurse(depth + 1) + page[0];  // not a tail call
    }

    static inline std::atomic<int64_t> creations_{0};  // every instance of this library in the process
    int64_t failing_calls_;
    int64_t sleep_us_;
    int64_t keep_ms_;
    bool nan_p_use_;
    bool inverted_window_;
    int64_t abort_on_call_;
    int64_t overflow_on_call_;
    int64_t calls_ = 0;
};

}  // namespace

WARMUP_PLUGIN(FlakyPredictor, "org.warmup.test.flaky-predictor", "1.0.0",
              "Test only: throws from the first N predict calls, optionally slow; then keeps models loaded")
