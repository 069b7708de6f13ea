#include "replay/yardsticks.hpp"

#include <algorithm>

namespace warmup::host::replay {
namespace {
constexpr int64_t kNever = WARMUP_TIME_NEVER;
constexpr int64_t kNotReady = INT64_MIN;
}  // namespace

void FutureIndex::add(warmup_model_index model, int64_t ts_ms) {
    if (model >= arrivals_.size()) arrivals_.resize(model + 1);
    auto& times = arrivals_[model];
    if (times.empty() || times.back() != ts_ms) {
        times.push_back(ts_ms);
        ++total_;
    }
}

int64_t FutureIndex::next_after(warmup_model_index model, int64_t ts_ms) const {
    if (model >= arrivals_.size()) return kNever;
    const auto& times = arrivals_[model];
    const auto it = std::upper_bound(times.begin(), times.end(), ts_ms);
    return it == times.end() ? kNever : *it;
}

OraclePredictor::OraclePredictor(sdk::Host host, const FutureIndex& future, bool lean)
    : sdk::Predictor(host), future_(future), lean_(lean) {}

void OraclePredictor::predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) {
    out.model = pattern.model;
    out.horizon_ms = 600000;
    out.confidence = 1;
    const int64_t anchor = pattern.last_seen_ms == kNever ? now_ms : pattern.last_seen_ms;
    const int64_t next = future_.next_after(pattern.model, std::max(anchor, now_ms - 1));
    out.next_arrival_ms = next;
    out.p_use_within_horizon = next != kNever && next - now_ms < out.horizon_ms ? 1.0 : 0.0;
    out.warm_at_ms = next;
    out.warm_keep_until_ms = kNever;
    if (!lean_) {
        out.keep_until_ms = kNever;
        return;
    }
    const auto info = host().model_info(pattern.model);
    const double load_ms = info ? info->load_ms : 0;
    // Lean: unload after use unless the next request comes within one load time (then reloading could not make it).
    // A model never used yet is planned ahead of its first request: pre-warm it rather than hold it from now on.
    if (pattern.last_seen_ms == kNever || next == kNever || static_cast<double>(next - anchor) > load_ms) {
        out.keep_until_ms = anchor;
    } else {
        out.keep_until_ms = next;
    }
}

void OracleScheduler::plan(const warmup_plan_input& input, warmup_plan& out) {
    const warmup_prediction& p = *input.prediction;
    out.model = input.model;
    out.priority_class = 1;
    out.warm_start_at_ms = out.warm_ready_by_ms = out.warm_unload_at_ms = kNever;
    if (input.trigger == WARMUP_TRIGGER_WARMED) {
        out.unload_at_ms = kNever;  // loaded for a request that will come
        return;
    }
    out.unload_at_ms = p.keep_until_ms;
    if (p.warm_at_ms != kNever && p.keep_until_ms != kNever && p.keep_until_ms < p.warm_at_ms) {
        out.warm_start_at_ms = p.warm_at_ms - static_cast<int64_t>(std::ceil(input.estimate->load_ms));
        out.warm_ready_by_ms = p.warm_at_ms;
    } else if (p.warm_at_ms != kNever && p.keep_until_ms == kNever) {
        // Kept loaded; if an eviction removes it, be back exactly in time.
        out.warm_start_at_ms = p.warm_at_ms - static_cast<int64_t>(std::ceil(input.estimate->load_ms));
        out.warm_ready_by_ms = p.warm_at_ms;
    }
}

warmup_time_ms OracleScheduler::on_warmup_failed(warmup_model_index, uint32_t attempt, warmup_time_ms now_ms) {
    return attempt >= 3 ? kNever : now_ms + 1000;
}

void KeepForeverPredictor::predict(warmup_time_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) {
    out.model = pattern.model;
    out.horizon_ms = 600000;
    out.p_use_within_horizon = 0;
    out.next_arrival_ms = kNever;
    out.confidence = 0;
    out.keep_until_ms = kNever;
    out.warm_at_ms = kNever;
    out.warm_keep_until_ms = kNever;
}

void UnlimitedResource::admit(const warmup_admission_request&, warmup_admission& out) {
    out.admit = 1;
    out.may_evict = 0;  // nothing to evict: the budget is unlimited
    out.reason = {nullptr, 0};
}

OracleResource::OracleResource(sdk::Host host, const FutureIndex& future) : sdk::Resource(host), future_(future) {}

void OracleResource::track(warmup_model_index model, int64_t next_use_ms) {
    if (model >= next_use_of_.size()) {
        next_use_of_.resize(model + 1, kNotReady);
        memory_of_.resize(model + 1, 0);
    }
    if (next_use_of_[model] != kNotReady) by_next_use_.erase({next_use_of_[model], model});
    next_use_of_[model] = next_use_ms;
    if (next_use_ms != kNotReady) by_next_use_.insert({next_use_ms, model});
}

void OracleResource::admit(const warmup_admission_request& request, warmup_admission& out) {
    out.admit = 1;
    out.may_evict = 1;
    out.reason = {nullptr, 0};
    if (request.is_demand != 0) return;
    const double shortfall = request.used_mb + request.memory_mb - request.budget_mb;
    if (shortfall <= 0) return;
    // A pre-warm may only displace models whose next request comes after this model's.
    const int64_t needed_at = future_.next_after(request.model, request.now_ms - 1);
    double available = 0;
    for (auto it = by_next_use_.rbegin(); it != by_next_use_.rend() && it->next_use_ms > needed_at; ++it) {
        available += memory_of_[it->model];
        if (available >= shortfall) return;
    }
    out.admit = 0;
    reason_ = "would have to evict a model needed sooner";
    out.reason = {reason_.data(), reason_.size()};
}

void OracleResource::on_ready(warmup_model_index model, double memory_mb, double, warmup_time_ms now_ms) {
    track(model, future_.next_after(model, now_ms - 1));
    memory_of_[model] = memory_mb;
}

void OracleResource::on_used(warmup_model_index model, warmup_time_ms now_ms) {
    if (model < next_use_of_.size() && next_use_of_[model] != kNotReady)
        track(model, future_.next_after(model, now_ms));
}

void OracleResource::on_removed(warmup_model_index model, warmup_time_ms) {
    if (model < next_use_of_.size()) track(model, kNotReady);
}

warmup_model_index OracleResource::pick_victim(warmup_time_ms) {
    return by_next_use_.empty() ? WARMUP_NO_MODEL : by_next_use_.rbegin()->model;
}

}  // namespace warmup::host::replay
