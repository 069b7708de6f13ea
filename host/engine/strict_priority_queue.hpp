// engine/strict_priority_queue.hpp — the engine's built-in warm-up queue: strict priority, then first come.
//
// Used instead of the queue plugin when that plugin cannot take an item: its circuit is open (the items it held
// are moved here when the circuit opens), a push failed, or it refused a demand load because it was full (a waiting
// request is never dropped). Order: lower priority_class first (0 = demand), then earlier enqueue time, then earlier
// insertion. At most one entry per model: the engine pushes a model only while it is queued nowhere else.
//
// Thread-safety: none; the engine's control thread owns it.
#pragma once

#include <warmup/common.h>

#include <cstdint>
#include <optional>
#include <set>
#include <tuple>

namespace warmup::host {

class StrictPriorityQueue {
  public:
    /// Where an item sits in the order; the engine keeps it to remove the item later.
    struct Key {
        uint32_t priority_class = 0;
        warmup_time_ms enqueued_ms = 0;
        uint64_t sequence = 0;  // insertion order: ties of class and time stay first come, first served
        warmup_model_index model = 0;

        friend bool operator<(const Key& a, const Key& b) noexcept {
            return std::tie(a.priority_class, a.enqueued_ms, a.sequence) <
                   std::tie(b.priority_class, b.enqueued_ms, b.sequence);
        }
    };

    /// Adds `model`. O(log n).
    Key push(warmup_model_index model, uint32_t priority_class, warmup_time_ms enqueued_ms) {
        const Key key{priority_class, enqueued_ms, next_sequence_++, model};
        items_.insert(key);
        return key;
    }

    /// Removes the item with `key` (a cancelled or superseded warm-up). False when it is not queued. O(log n).
    bool erase(const Key& key) { return items_.erase(key) != 0; }

    /// Removes and returns the first model in order, or nothing when empty. O(log n).
    std::optional<warmup_model_index> pop() {
        if (items_.empty()) return std::nullopt;
        const warmup_model_index model = items_.begin()->model;
        items_.erase(items_.begin());
        return model;
    }

    /// The first item in order; nothing when empty.
    [[nodiscard]] std::optional<Key> front() const {
        if (items_.empty()) return std::nullopt;
        return *items_.begin();
    }

    [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
    [[nodiscard]] bool empty() const noexcept { return items_.empty(); }

  private:
    std::set<Key> items_;
    uint64_t next_sequence_ = 0;
};

}  // namespace warmup::host
