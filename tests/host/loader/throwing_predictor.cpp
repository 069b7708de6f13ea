// throwing_predictor.cpp — an SDK predictor whose constructor throws, for the "crashes at init" test: the SDK's
// create thunk must turn the exception into a warmup_error, and the host must report it instead of terminating.
// THROW_NON_STD: throw an int (not a std::exception) to exercise the SDK's catch-all path.
#include <stdexcept>
#include <warmup/sdk/plugin.hpp>

namespace {

class ThrowingPredictor final : public warmup::sdk::Predictor {
  public:
    ThrowingPredictor(warmup::sdk::Host host, warmup::sdk::Params& /*params*/) : Predictor(host) {
#ifdef THROW_NON_STD
        throw 42;
#else
        throw std::runtime_error("throwing test predictor: constructor failed on purpose");
#endif
    }

    void predict(warmup_time_ms, const warmup_usage_pattern&, warmup_prediction&) override {}
};

}  // namespace

WARMUP_PLUGIN(ThrowingPredictor, TEST_PLUGIN_ID, "1.0.0", "predictor whose constructor throws")
