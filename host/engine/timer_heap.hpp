// engine/timer_heap.hpp — one pending deadline per model, in an indexed binary min-heap.
//
// Each model has at most one key (the earliest of its pending unload / warm-up / retry times), so the heap never holds
// stale entries and its size is bounded by the number of models, however many times timers are re-planned.
#pragma once

#include <warmup/common.h>

#include <cstdint>
#include <vector>

namespace warmup::host {

class TimerHeap {
  public:
    /// Sets `model`'s key; WARMUP_TIME_NEVER removes it. O(log n).
    void set(warmup_model_index model, warmup_time_ms due_ms) {
        if (model >= position_.size()) position_.resize(model + 1, kAbsent);
        const uint32_t at = position_[model];
        if (due_ms == WARMUP_TIME_NEVER) {
            if (at != kAbsent) remove_at(at);
            return;
        }
        if (at == kAbsent) {
            heap_.push_back({due_ms, model});
            position_[model] = static_cast<uint32_t>(heap_.size() - 1);
            sift_up(static_cast<uint32_t>(heap_.size() - 1));
        } else {
            const warmup_time_ms old = heap_[at].due_ms;
            heap_[at].due_ms = due_ms;
            if (due_ms < old)
                sift_up(at);
            else
                sift_down(at);
        }
    }
    [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
    [[nodiscard]] warmup_time_ms next_due_ms() const noexcept {
        return heap_.empty() ? WARMUP_TIME_NEVER : heap_.front().due_ms;
    }
    [[nodiscard]] warmup_model_index next_model() const noexcept { return heap_.front().model; }
    [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }

  private:
    struct Entry {
        warmup_time_ms due_ms;
        warmup_model_index model;
    };
    static constexpr uint32_t kAbsent = UINT32_MAX;

    // Ties broken by model index so that the firing order is deterministic.
    static bool before(const Entry& a, const Entry& b) noexcept {
        return a.due_ms < b.due_ms || (a.due_ms == b.due_ms && a.model < b.model);
    }
    void place(uint32_t at, const Entry& entry) {
        heap_[at] = entry;
        position_[entry.model] = at;
    }
    void sift_up(uint32_t at) {
        const Entry entry = heap_[at];
        while (at > 0) {
            const uint32_t parent = (at - 1) / 2;
            if (!before(entry, heap_[parent])) break;
            place(at, heap_[parent]);
            at = parent;
        }
        place(at, entry);
    }
    void sift_down(uint32_t at) {
        const Entry entry = heap_[at];
        const auto size = static_cast<uint32_t>(heap_.size());
        for (;;) {
            uint32_t child = 2 * at + 1;
            if (child >= size) break;
            if (child + 1 < size && before(heap_[child + 1], heap_[child])) ++child;
            if (!before(heap_[child], entry)) break;
            place(at, heap_[child]);
            at = child;
        }
        place(at, entry);
    }
    void remove_at(uint32_t at) {
        position_[heap_[at].model] = kAbsent;
        const Entry last = heap_.back();
        heap_.pop_back();
        if (at < heap_.size()) {
            place(at, last);
            sift_up(at);
            sift_down(position_[last.model]);
        }
    }

    std::vector<Entry> heap_;
    std::vector<uint32_t> position_;
};

}  // namespace warmup::host
