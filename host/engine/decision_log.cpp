// engine/decision_log.cpp — the bounded ring of engine decisions; see decision_log.hpp (one mutex, any thread).
#include "engine/decision_log.hpp"

#include <algorithm>
#include <stdexcept>

namespace warmup::host {

const char* decision_kind_name(DecisionKind kind) noexcept {
    switch (kind) {
        case DecisionKind::Prewarm:
            return "prewarm";
        case DecisionKind::DemandLoad:
            return "demand_load";
        case DecisionKind::Keep:
            return "keep";
        case DecisionKind::Unload:
            return "unload";
        case DecisionKind::Evict:
            return "evict";
        case DecisionKind::Skip:
            return "skip";
        case DecisionKind::Retry:
            return "retry";
        case DecisionKind::GiveUp:
            return "give_up";
    }
    return "keep";
}

DecisionLog::DecisionLog(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw std::invalid_argument("a decision log needs a capacity of at least 1");
    ring_.resize(capacity);
}

std::optional<std::size_t> DecisionLog::slot_of(uint64_t seq) const noexcept {
    // Held: the newest min(capacity, recorded) sequence numbers.
    if (seq == 0 || seq >= next_seq_ || next_seq_ - seq > capacity_) return std::nullopt;
    return static_cast<std::size_t>(seq % capacity_);
}

void DecisionLog::record(const Decision& decision) {
    std::lock_guard lock(mutex_);
    ++recorded_;
    std::size_t arm = 0;
    while (arm < arms_.size() && arms_[arm] != decision.arm) ++arm;
    if (arm == arms_.size()) {
        arms_.push_back(decision.arm);
        newest_seq_.emplace_back();
    }
    std::vector<uint64_t>& newest = newest_seq_[arm];
    if (decision.model != WARMUP_NO_MODEL && decision.model >= newest.size()) newest.resize(decision.model + 1, 0);
    uint64_t* model_newest = decision.model == WARMUP_NO_MODEL ? nullptr : &newest[decision.model];

    // Copy-assigned into a slot that held an entry before: its strings keep their capacity (no allocation once the
    // ring has been round once).
    if (decision.kind == DecisionKind::Keep && model_newest != nullptr) {
        if (const auto slot = slot_of(*model_newest)) {
            Decision& previous = ring_[*slot];
            if (previous.kind == DecisionKind::Keep && previous.decided_by == decision.decided_by) {
                const uint64_t seq = previous.seq;
                const warmup_time_ms first_at_ms = previous.first_at_ms;
                const uint32_t repeats = previous.repeats + 1;
                previous = decision;
                previous.seq = seq;
                previous.first_at_ms = first_at_ms;
                previous.repeats = repeats;
                return;
            }
        }
    }
    const uint64_t seq = next_seq_++;
    if (model_newest != nullptr) *model_newest = seq;
    Decision& entry = ring_[static_cast<std::size_t>(seq % capacity_)];
    entry = decision;
    entry.seq = seq;
    entry.first_at_ms = decision.at_ms;
    entry.repeats = 1;
}

std::vector<Decision> DecisionLog::newest(std::optional<warmup_model_index> model, std::size_t limit,
                                          std::optional<std::string> arm) const {
    std::vector<Decision> found;
    if (limit == 0) return found;
    {
        std::lock_guard lock(mutex_);
        const uint64_t held = std::min<uint64_t>(next_seq_ - 1, capacity_);
        for (uint64_t seq = next_seq_ - held; seq < next_seq_; ++seq) {
            const Decision& decision = ring_[static_cast<std::size_t>(seq % capacity_)];
            if (model && decision.model != *model) continue;
            if (arm && decision.arm != *arm) continue;
            found.push_back(decision);
        }
    }
    const auto newer = [](const Decision& a, const Decision& b) {
        return a.at_ms != b.at_ms ? a.at_ms > b.at_ms : a.seq > b.seq;
    };
    if (found.size() > limit) {
        std::partial_sort(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(limit), found.end(), newer);
        found.resize(limit);
    } else {
        std::sort(found.begin(), found.end(), newer);
    }
    return found;
}

std::vector<std::string> DecisionLog::arms() const {
    std::lock_guard lock(mutex_);
    return arms_;
}

std::size_t DecisionLog::size() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::min<uint64_t>(next_seq_ - 1, capacity_));
}

uint64_t DecisionLog::recorded() const {
    std::lock_guard lock(mutex_);
    return recorded_;
}

}  // namespace warmup::host
