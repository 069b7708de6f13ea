// runtime/experiment_arms.hpp — which arms of a configuration warmupd runs live beside the control arm (also checked
// by warmupctl validate, so that a configuration it accepts is one warmupd starts).
#pragma once

#include <vector>

#include "config/config.hpp"

namespace warmup::host {

/// The arms warmupd runs beside the control arm: none unless `experiment.enabled`. A listed arm named `control` is the
/// control arm itself (the top-level components) and is left out; one with other components, `shadow` or a weight
/// other than `experiment.control_weight` is refused, as is a replay-only yardstick. Throws StartupError. Pure.
std::vector<Arm> live_experiment_arms(const Config& config);

}  // namespace warmup::host
