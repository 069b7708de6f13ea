// A complete example plugin: a predictor that keeps a model loaded through the hours of the day in which it
// is usually requested, and pre-warms it ahead of the next such hour.
//
// Copy this folder, rename the class and the id, and build with the CMakeLists.txt beside this file.
// Thread: every method runs on the host's control thread; no locking needed.
#include <algorithm>
#include <cmath>
#include <warmup/sdk/plugin.hpp>

namespace {

constexpr warmup_time_ms kHourMs = 3600 * 1000;

class HourOfDayPredictor final : public warmup::sdk::Predictor {
  public:
    HourOfDayPredictor(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Predictor(host),
          // Params are validated here; an unknown key is refused by the SDK after the constructor.
          busy_share_(params.get_double("busy_share", 0.08, 0.0, 1.0)),
          keep_alive_ms_(params.get_int("keep_alive_ms", 5 * 60 * 1000, 0)) {}

    void predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) override {
        out.model = pattern.model;
        out.horizon_ms = kHourMs;
        out.warm_keep_until_ms = WARMUP_TIME_NEVER;
        if (pattern.request_count == 0 || pattern.hour_of_day == nullptr) {
            out.keep_until_ms = now_ms;  // never seen: nothing to keep
            out.warm_at_ms = out.next_arrival_ms = WARMUP_TIME_NEVER;
            out.p_use_within_horizon = out.confidence = 0;
            return;
        }
        const warmup_time_ms last = pattern.last_seen_ms;
        const int hour = hour_of(last);
        // Inside a busy hour: keep the model until the end of the run of busy hours; otherwise plain keep-alive.
        out.keep_until_ms = busy(pattern, hour) ? end_of_busy_run(pattern, last) : last + keep_alive_ms_;
        // Next busy hour after the keep window: be ready at its start.
        out.warm_at_ms = next_busy_start(pattern, out.keep_until_ms);
        if (out.warm_at_ms != WARMUP_TIME_NEVER) out.warm_keep_until_ms = out.warm_at_ms + kHourMs;
        out.next_arrival_ms = out.warm_at_ms;
        out.p_use_within_horizon = std::min(1.0, pattern.hour_of_day[hour_of(now_ms)] * 24.0);
        out.confidence = 1.0 - std::exp(-static_cast<double>(pattern.request_count) / 50.0);
    }

  private:
    static int hour_of(warmup_time_ms ms) { return static_cast<int>(((ms / kHourMs) % 24 + 24) % 24); }
    bool busy(const warmup_usage_pattern& pattern, int hour) const { return pattern.hour_of_day[hour] >= busy_share_; }
    warmup_time_ms end_of_busy_run(const warmup_usage_pattern& pattern, warmup_time_ms from) const {
        warmup_time_ms hour_start = from - from % kHourMs;
        for (int step = 0; step < 24 && busy(pattern, hour_of(hour_start)); ++step) hour_start += kHourMs;
        return hour_start;
    }
    warmup_time_ms next_busy_start(const warmup_usage_pattern& pattern, warmup_time_ms from) const {
        warmup_time_ms hour_start = from - from % kHourMs + kHourMs;
        for (int step = 0; step < 24; ++step, hour_start += kHourMs)
            if (busy(pattern, hour_of(hour_start))) return hour_start;
        return WARMUP_TIME_NEVER;
    }

    double busy_share_;
    warmup_time_ms keep_alive_ms_;
};

}  // namespace

WARMUP_PLUGIN(HourOfDayPredictor, "org.example.predictor.hour-of-day", "1.0.0",
              "Keeps models through their usual busy hours and pre-warms them before the next one")
