#include "priority_queue.hpp"

#include <algorithm>

namespace warmup::plugins {
namespace {

const char* reason_name(uint32_t reason) {
    switch (reason) {
        case WARMUP_REASON_DEMAND:
            return "demand";
        case WARMUP_REASON_PREWARM:
            return "prewarm";
        case WARMUP_REASON_RETRY:
            return "retry";
        default:
            return "unknown-reason";
    }
}

}  // namespace

PriorityQueue::PriorityQueue(sdk::Host host, sdk::Params& params) : sdk::Queue(host) {
    const std::string algorithm = params.get_choice("algorithm", "WeightedFair", {"Strict", "WeightedFair", "EDF"});
    algorithm_ = algorithm == "Strict" ? Algorithm::Strict
                 : algorithm == "EDF"  ? Algorithm::Edf
                                       : Algorithm::WeightedFair;
    capacity_ = static_cast<std::size_t>(params.get_int("capacity", 1024, 1, int64_t{1} << 30));
    weights_ = params.get_double_list("weights", {8, 4, 2, 1}, 0.0);
    if (weights_.empty()) throw sdk::InvalidArgument("params.weights: expected at least one weight");
    for (std::size_t i = 0; i < weights_.size(); ++i)
        if (!(weights_[i] > 0))
            throw sdk::InvalidArgument("params.weights[" + std::to_string(i) + "]: a weight must be greater than 0");
    const std::size_t initial = std::min<std::size_t>(capacity_, 1024);
    slots_.reserve(initial);
    free_slots_.reserve(initial);
    heap_.reserve(initial);
}

double PriorityQueue::weight_of(uint32_t priority_class) const {
    return weights_[std::min<std::size_t>(priority_class, weights_.size() - 1)];
}

std::string PriorityQueue::describe_model(warmup_model_index model) const {
    if (const auto info = host().model_info(model); info && info->name.data != nullptr)
        return std::string(info->name.data, info->name.size);
    std::string text = "#";  // appended, not operator+: GCC 12 warns falsely (-Wrestrict) on "#" + std::string
    text += std::to_string(model);
    return text;
}

void PriorityQueue::push(const warmup_queue_item& item) {
    if (heap_.size() >= capacity_) {
        ++rejected_count_;
        throw sdk::Error(WARMUP_ERROR_RESOURCE_EXHAUSTED, "queue full (capacity " + std::to_string(capacity_) +
                                                              "): refused " + reason_name(item.reason) +
                                                              " warm-up of model " + describe_model(item.model));
    }
    uint32_t slot_index;
    if (!free_slots_.empty()) {
        slot_index = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot_index = static_cast<uint32_t>(slots_.size());
        slots_.emplace_back();
    }
    Slot& slot = slots_[slot_index];
    slot.item = item;
    slot.arrival = next_arrival_++;
    if (algorithm_ == Algorithm::WeightedFair) {
        double& last_finish = class_last_finish_[item.priority_class];
        slot.start_tag = std::max(virtual_time_, last_finish);
        // Cost is the expected load time (ms); at least 1 so a zero-cost item still takes its turn.
        slot.finish_tag = slot.start_tag + std::max(item.cost, 1.0) / weight_of(item.priority_class);
        last_finish = slot.finish_tag;
        largest_finish_tag_ = std::max(largest_finish_tag_, slot.finish_tag);
    }
    // Link into the model's list (at the head: order inside the list does not matter).
    slot.previous_of_model = kNone;
    slot.next_of_model = kNone;
    if (item.model != WARMUP_NO_MODEL) {
        if (item.model >= model_head_.size()) model_head_.resize(static_cast<std::size_t>(item.model) + 1, kNone);
        slot.next_of_model = model_head_[item.model];
        if (slot.next_of_model != kNone) slots_[slot.next_of_model].previous_of_model = slot_index;
        model_head_[item.model] = slot_index;
    }
    heap_.push_back(slot_index);
    sift_up(static_cast<uint32_t>(heap_.size() - 1));
}

bool PriorityQueue::pop(warmup_time_ms /*now_ms*/, warmup_queue_item& out) {
    if (heap_.empty()) return false;
    const uint32_t slot_index = heap_.front();
    const Slot& slot = slots_[slot_index];
    out = slot.item;
    if (algorithm_ == Algorithm::WeightedFair) virtual_time_ = std::max(virtual_time_, slot.start_tag);
    erase_slot(slot_index);
    if (heap_.empty()) on_became_empty();
    return true;
}

size_t PriorityQueue::remove_model(warmup_model_index model) {
    if (model >= model_head_.size()) return 0;
    size_t removed = 0;
    while (model_head_[model] != kNone) {
        erase_slot(model_head_[model]);
        ++removed;
    }
    if (removed > 0 && heap_.empty()) on_became_empty();
    return removed;
}

size_t PriorityQueue::clear() {
    const size_t removed = heap_.size();
    for (const uint32_t slot_index : heap_) {
        Slot& slot = slots_[slot_index];
        if (slot.item.model != WARMUP_NO_MODEL) model_head_[slot.item.model] = kNone;
        slot.heap_position = kNone;
        free_slots_.push_back(slot_index);
    }
    heap_.clear();
    if (removed > 0) on_became_empty();
    return removed;
}

void PriorityQueue::on_became_empty() {
    // Nothing pending: every class restarts from the same virtual time (see the header).
    virtual_time_ = std::max(virtual_time_, largest_finish_tag_);
}

void PriorityQueue::erase_slot(uint32_t slot_index) {
    Slot& slot = slots_[slot_index];
    // Unlink from the model's list.
    if (slot.item.model != WARMUP_NO_MODEL) {
        if (slot.previous_of_model != kNone)
            slots_[slot.previous_of_model].next_of_model = slot.next_of_model;
        else
            model_head_[slot.item.model] = slot.next_of_model;
        if (slot.next_of_model != kNone) slots_[slot.next_of_model].previous_of_model = slot.previous_of_model;
    }
    // Remove from the heap: move the last element into the hole and restore order in whichever direction it needs.
    const uint32_t position = slot.heap_position;
    const uint32_t last = heap_.back();
    heap_.pop_back();
    slot.heap_position = kNone;
    if (position < heap_.size()) {
        place(position, last);
        if (position > 0 && pops_before(last, heap_[(position - 1) / 2]))
            sift_up(position);
        else
            sift_down(position);
    }
    free_slots_.push_back(slot_index);
}

bool PriorityQueue::pops_before(uint32_t a, uint32_t b) const {
    const Slot& left = slots_[a];
    const Slot& right = slots_[b];
    switch (algorithm_) {
        case Algorithm::Edf:
            if (left.item.deadline_ms != right.item.deadline_ms) return left.item.deadline_ms < right.item.deadline_ms;
            break;
        case Algorithm::WeightedFair:
            if (left.finish_tag != right.finish_tag) return left.finish_tag < right.finish_tag;
            break;
        case Algorithm::Strict:
            break;
    }
    if (left.item.priority_class != right.item.priority_class)
        return left.item.priority_class < right.item.priority_class;
    return left.arrival < right.arrival;
}

void PriorityQueue::place(uint32_t position, uint32_t slot_index) {
    heap_[position] = slot_index;
    slots_[slot_index].heap_position = position;
}

void PriorityQueue::sift_up(uint32_t position) {
    const uint32_t moving = heap_[position];
    while (position > 0) {
        const uint32_t parent = (position - 1) / 2;
        if (!pops_before(moving, heap_[parent])) break;
        place(position, heap_[parent]);
        position = parent;
    }
    place(position, moving);
}

void PriorityQueue::sift_down(uint32_t position) {
    const uint32_t moving = heap_[position];
    const auto count = static_cast<uint32_t>(heap_.size());
    while (true) {
        const uint32_t left = 2 * position + 1;
        if (left >= count) break;
        uint32_t child = left;
        if (left + 1 < count && pops_before(heap_[left + 1], heap_[left])) child = left + 1;
        if (!pops_before(heap_[child], moving)) break;
        place(position, heap_[child]);
        position = child;
    }
    place(position, moving);
}

}  // namespace warmup::plugins
