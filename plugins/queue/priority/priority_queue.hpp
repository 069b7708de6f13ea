// plugins/queue/priority/priority_queue.hpp — queue plugin with three orderings: Strict priority, WeightedFair
// (weighted fair queuing across priority classes) and EDF (earliest deadline first).
//
// All three reduce to one total order over pending items, so one indexed binary heap serves them all:
//   Strict:       (priority_class, arrival)
//   EDF:          (deadline_ms, priority_class, arrival)        NEVER sorts after every real deadline
//   WeightedFair: (virtual finish, priority_class, arrival)
// For WeightedFair each class is a FIFO whose items get finish tags at push:
//   start = max(virtual_time, class's last finish), finish = start + max(cost, 1) / weight(class)
// so a class's finish tags strictly increase in push order and the heap minimum is always some class's head. Popping
// moves virtual_time to max(virtual_time, the popped item's start). When the queue empties, virtual_time jumps to the
// largest finish handed out, so every class restarts level (a class that was drained by remove_model/clear is not
// penalised for work that never ran).
//
// Threads: control thread only, no locks. Cost: push/pop O(log n), remove_model O(k log n) for k items of that model
// (a per-model intrusive list), clear O(n). Items live in a slot pool that grows up to `capacity` and is then reused,
// so steady state allocates nothing (a new priority class or model index may allocate once).
// Ordering is deterministic: it depends only on the sequence of calls.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins {

class PriorityQueue final : public sdk::Queue {
  public:
    enum class Algorithm { Strict, WeightedFair, Edf };

    PriorityQueue(sdk::Host host, sdk::Params& params);

    void push(const warmup_queue_item& item) override;
    bool pop(warmup_time_ms now_ms, warmup_queue_item& out) override;
    size_t remove_model(warmup_model_index model) override;
    size_t clear() override;
    [[nodiscard]] size_t size() const override { return heap_.size(); }
    [[nodiscard]] uint64_t rejected_count() const override { return rejected_count_; }

    [[nodiscard]] Algorithm algorithm() const noexcept { return algorithm_; }
    [[nodiscard]] double virtual_time() const noexcept { return virtual_time_; }

  private:
    static constexpr uint32_t kNone = UINT32_MAX;

    struct Slot {
        warmup_queue_item item{};
        uint64_t arrival = 0;   // push sequence number: FIFO tie-break
        double start_tag = 0;   // WeightedFair only
        double finish_tag = 0;  // WeightedFair only
        uint32_t heap_position = kNone;
        uint32_t previous_of_model = kNone;  // intrusive list of the slots holding the same model
        uint32_t next_of_model = kNone;
    };

    [[nodiscard]] bool pops_before(uint32_t a, uint32_t b) const;
    [[nodiscard]] double weight_of(uint32_t priority_class) const;
    [[nodiscard]] std::string describe_model(warmup_model_index model) const;
    void sift_up(uint32_t position);
    void sift_down(uint32_t position);
    void place(uint32_t position, uint32_t slot);
    void erase_slot(uint32_t slot);
    void on_became_empty();

    Algorithm algorithm_ = Algorithm::WeightedFair;
    std::size_t capacity_ = 1024;
    std::vector<double> weights_;

    std::vector<Slot> slots_;           // grows up to capacity_, never shrinks
    std::vector<uint32_t> free_slots_;  // indexes into slots_ available for reuse
    std::vector<uint32_t> heap_;        // slot indexes, min-heap by pops_before
    std::vector<uint32_t> model_head_;  // per model index: first slot of that model, kNone when none

    uint64_t next_arrival_ = 0;
    uint64_t rejected_count_ = 0;
    double virtual_time_ = 0;
    double largest_finish_tag_ = 0;
    std::unordered_map<uint32_t, double> class_last_finish_;
};

}  // namespace warmup::plugins
