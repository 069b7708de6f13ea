// host_extension_probe.cpp — an SDK predictor that uses the host the way ABI 1.2 lets a plugin use it, for
// host_extensions_test.cpp. Built into build/tests/test-plugins (never build/plugins).
//
//  - create: asks for the clock extension through the SDK's typed helper (refuses to start, NOT_FOUND, when the host
//    does not offer it) and for an id no host offers (refuses to start, INTERNAL, when the host answers anything
//    but NULL for it);
//  - predict: makes a provisional error with make_error, recovers and frees it with free_error (so the host's count
//    of live errors is unchanged by a successful predict), and answers next_arrival_ms = the clock extension's now + 1
//    s.
// Takes no params. Threading: the host calls it on its control thread only (SDK contract); no locks.
#include <string>
#include <warmup/sdk/plugin.hpp>

namespace {

constexpr const char* kUnknownExtensionId = "org.warmup.test.no-such-host-extension";
constexpr warmup_time_ms kNextArrivalAfterMs = 1000;

class HostExtensionProbe final : public warmup::sdk::Predictor {
  public:
    HostExtensionProbe(warmup::sdk::Host host, warmup::sdk::Params& /*params*/)
        : Predictor(host), clock_(host.extension<warmup_host_clock_extension>()) {
        if (clock_ == nullptr)
            throw warmup::sdk::Error(WARMUP_ERROR_NOT_FOUND,
                                     std::string("the host offers no ") + WARMUP_HOST_EXT_CLOCK + " extension");
        if (host.extension(kUnknownExtensionId) != nullptr)
            throw warmup::sdk::Error(WARMUP_ERROR_INTERNAL,
                                     std::string("the host answered the unknown extension id ") + kUnknownExtensionId);
    }

    void predict(warmup_time_ms /*now_ms*/, const warmup_usage_pattern& pattern, warmup_prediction& out) override {
        const warmup_host* raw = host().raw();
        // A C-style helper would hand back an error here; this plugin recovers, so it drops the error it made.
        warmup_error* provisional =
            raw->make_error(raw, WARMUP_ERROR_UNAVAILABLE, warmup::sdk::to_view("provisional, recovered from"));
        host().free_error(provisional);

        out.model = pattern.model;
        out.horizon_ms = 60'000;
        out.p_use_within_horizon = 0.0;
        out.next_arrival_ms = clock_->now_ms(raw) + kNextArrivalAfterMs;
        out.confidence = 0.0;
        out.keep_until_ms = WARMUP_TIME_NEVER;
        out.warm_at_ms = WARMUP_TIME_NEVER;
        out.warm_keep_until_ms = WARMUP_TIME_NEVER;
    }

  private:
    const warmup_host_clock_extension* clock_;  // the host's table, valid as long as the host
};

}  // namespace

WARMUP_PLUGIN(HostExtensionProbe, "org.warmup.test.host-extension-probe", "1.0.0",
              "Test only: asks the host for its clock extension and an unknown one, frees an error it made")
