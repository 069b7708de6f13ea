// replay/frontier.cpp — avoidable cold requests, interpolation on the keep-alive curve and the curve ratio.
// Only std and the report structs: compiled into the host library and, alone, into the report tests.
#include "replay/frontier.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace warmup::host::replay {

std::string distinct_arm_name(const std::string& base, const std::vector<std::string>& taken) {
    const auto is_taken = [&](const std::string& name) {
        return std::find(taken.begin(), taken.end(), name) != taken.end();
    };
    std::string name = base;
    for (int suffix = 2; is_taken(name); ++suffix) name = fmt::format("{}-{}", base, suffix);
    return name;
}

std::string keepalive_curve_arm_name(int64_t minutes, const std::vector<std::string>& taken) {
    return distinct_arm_name(fmt::format("keepalive-curve-{}m", minutes), taken);
}

std::optional<double> interpolate_on_curve(std::vector<CurvePoint> points, double loaded_gb_h) {
    std::erase_if(points, [](const CurvePoint& p) { return !std::isfinite(p.loaded_gb_h) || !std::isfinite(p.value); });
    if (points.empty() || !std::isfinite(loaded_gb_h)) return std::nullopt;
    std::stable_sort(points.begin(), points.end(),
                     [](const CurvePoint& a, const CurvePoint& b) { return a.loaded_gb_h < b.loaded_gb_h; });
    // The first point at or right of x; its left neighbour is then strictly left of x, so the span is never 0.
    const auto right =
        std::find_if(points.begin(), points.end(), [&](const CurvePoint& p) { return p.loaded_gb_h >= loaded_gb_h; });
    if (right == points.begin()) return right->value;
    if (right == points.end()) return points.back().value;
    const CurvePoint& left = *(right - 1);
    const double share = (loaded_gb_h - left.loaded_gb_h) / (right->loaded_gb_h - left.loaded_gb_h);
    return left.value + share * (right->value - left.value);
}

std::optional<double> keepalive_curve_ratio(double arm_avoidable, double curve_avoidable) {
    if (!std::isfinite(arm_avoidable) || !std::isfinite(curve_avoidable)) return std::nullopt;
    if (curve_avoidable > 0) return arm_avoidable / curve_avoidable;
    if (arm_avoidable <= 0) return 1.0;
    return std::nullopt;
}

void apply_frontier(ReplayReport& report) {
    std::vector<CurvePoint> avoidable_curve, p75_curve;
    for (ArmResult& arm : report.arms) {
        arm.avoidable_cold_requests = arm.cold_requests > report.compulsory_cold_requests
                                          ? arm.cold_requests - report.compulsory_cold_requests
                                          : 0;
        arm.keepalive_curve_ratio.reset();
        arm.keepalive_curve_p75_cold_rate.reset();
        if (!arm.frontier_curve) continue;
        avoidable_curve.push_back({arm.loaded_gb_h, static_cast<double>(arm.avoidable_cold_requests)});
        p75_curve.push_back({arm.loaded_gb_h, arm.per_model_cold_rate_p75});
    }
    if (avoidable_curve.empty()) return;
    for (ArmResult& arm : report.arms) {
        if (arm.frontier_curve) continue;
        if (const auto curve = interpolate_on_curve(avoidable_curve, arm.loaded_gb_h))
            arm.keepalive_curve_ratio = keepalive_curve_ratio(static_cast<double>(arm.avoidable_cold_requests), *curve);
        arm.keepalive_curve_p75_cold_rate = interpolate_on_curve(p75_curve, arm.loaded_gb_h);
    }
}

}  // namespace warmup::host::replay
