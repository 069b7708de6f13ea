// libFuzzer harness: the cost-curve predictor's state text (see fuzz_entry_points.hpp for the promises checked).
// Built only with clang and -DWARMUP_BUILD_FUZZERS=ON; run by scripts/run-fuzzers.sh.
#include <cstddef>
#include <cstdint>

#include "fuzz_entry_points.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    warmup::test::cost_curve_state_one_input(data, size);
    return 0;
}
