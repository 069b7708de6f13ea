#include "greedy_dual_resource.hpp"

#include <algorithm>
#include <limits>

namespace warmup::plugins {

GreedyDualResource::GreedyDualResource(sdk::Host host, sdk::Params& params) : sdk::Resource(host), admission_(params) {}

double GreedyDualResource::effective_budget_mb(double configured_budget_mb) {
    return admission_.effective_budget_mb(configured_budget_mb);
}

void GreedyDualResource::admit(const warmup_admission_request& request, warmup_admission& out) {
    admission_.admit(request, out);
}

double GreedyDualResource::priority_now(const Entry& entry) const {
    return clock_ + static_cast<double>(entry.frequency) * entry.cost_ms / entry.size_mb;
}

void GreedyDualResource::on_ready(warmup_model_index model, double memory_mb, double load_ms, warmup_time_ms now_ms) {
    if (model == WARMUP_NO_MODEL) return;
    if (model >= entries_.size()) entries_.resize(static_cast<std::size_t>(model) + 1);
    Entry& entry = entries_[model];
    // The host reports the measured load time; when it has none (0) fall back to the catalog's declared one.
    double cost_ms = load_ms;
    if (!(cost_ms > 0)) {
        const auto info = host().model_info(model);
        cost_ms = info ? std::max(0.0, info->load_ms) : 0.0;
    }
    entry.cost_ms = cost_ms;
    // A model declared with no memory would get an infinite priority; count it as 1 MiB instead.
    entry.size_mb = memory_mb >= 1.0 ? memory_mb : 1.0;
    entry.last_used_ms = now_ms;
    if (entry.heap_position == kNotInHeap) {
        entry.frequency = 1;
        entry.priority = priority_now(entry);
        heap_.push_back(model);
        entry.heap_position = static_cast<uint32_t>(heap_.size() - 1);
        sift_up(entry.heap_position);
    } else {
        // Reported ready again while still ready (a reload): keep its frequency, refresh cost, size and priority.
        entry.priority = priority_now(entry);
        restore_heap_at(entry.heap_position);
    }
}

void GreedyDualResource::on_used(warmup_model_index model, warmup_time_ms now_ms) {
    if (model >= entries_.size() || entries_[model].heap_position == kNotInHeap) return;
    Entry& entry = entries_[model];
    ++entry.frequency;
    entry.last_used_ms = now_ms;
    entry.priority = priority_now(entry);
    restore_heap_at(entry.heap_position);
}

void GreedyDualResource::on_removed(warmup_model_index model, warmup_time_ms /*now_ms*/) {
    if (model >= entries_.size() || entries_[model].heap_position == kNotInHeap) return;
    Entry& entry = entries_[model];
    // Only an eviction this policy chose inflates the clock; an unload the scheduler planned, or a failure, must not
    // age every other model.
    if (model == last_picked_victim_) {
        clock_ = std::max(clock_, entry.priority);
        last_picked_victim_ = WARMUP_NO_MODEL;
    }
    const uint32_t position = entry.heap_position;
    const warmup_model_index last = heap_.back();
    heap_.pop_back();
    entry.heap_position = kNotInHeap;
    entry.frequency = 0;
    if (position < heap_.size()) {
        place(position, last);
        restore_heap_at(position);
    }
}

warmup_model_index GreedyDualResource::pick_victim(warmup_time_ms /*now_ms*/) {
    last_picked_victim_ = heap_.empty() ? WARMUP_NO_MODEL : heap_.front();
    return last_picked_victim_;
}

double GreedyDualResource::priority_of(warmup_model_index model) const {
    if (model >= entries_.size() || entries_[model].heap_position == kNotInHeap)
        return std::numeric_limits<double>::quiet_NaN();
    return entries_[model].priority;
}

uint64_t GreedyDualResource::frequency_of(warmup_model_index model) const {
    if (model >= entries_.size() || entries_[model].heap_position == kNotInHeap) return 0;
    return entries_[model].frequency;
}

bool GreedyDualResource::evicts_before(warmup_model_index a, warmup_model_index b) const {
    const Entry& left = entries_[a];
    const Entry& right = entries_[b];
    if (left.priority != right.priority) return left.priority < right.priority;
    if (left.last_used_ms != right.last_used_ms) return left.last_used_ms < right.last_used_ms;
    return a < b;
}

void GreedyDualResource::place(uint32_t position, warmup_model_index model) {
    heap_[position] = model;
    entries_[model].heap_position = position;
}

void GreedyDualResource::sift_up(uint32_t position) {
    const warmup_model_index model = heap_[position];
    while (position > 0) {
        const uint32_t parent = (position - 1) / 2;
        if (!evicts_before(model, heap_[parent])) break;
        place(position, heap_[parent]);
        position = parent;
    }
    place(position, model);
}

void GreedyDualResource::sift_down(uint32_t position) {
    const warmup_model_index model = heap_[position];
    const auto count = static_cast<uint32_t>(heap_.size());
    while (true) {
        const uint32_t left = 2 * position + 1;
        if (left >= count) break;
        uint32_t child = left;
        if (left + 1 < count && evicts_before(heap_[left + 1], heap_[left])) child = left + 1;
        if (!evicts_before(heap_[child], model)) break;
        place(position, heap_[child]);
        position = child;
    }
    place(position, model);
}

void GreedyDualResource::restore_heap_at(uint32_t position) {
    if (position > 0 && evicts_before(heap_[position], heap_[(position - 1) / 2]))
        sift_up(position);
    else
        sift_down(position);
}

}  // namespace warmup::plugins
