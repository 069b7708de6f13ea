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

uint32_t DecisionLog::label_index(const std::string& label) {
    const auto [found, added] = label_indexes_.try_emplace(label, static_cast<uint32_t>(labels_.size()));
    if (added) labels_.push_back(label);
    return found->second;
}

Decision DecisionLog::written_out(const Entry& entry) const {
    Decision decision;
    static_cast<DecisionFacts&>(decision) = entry.facts;
    decision.arm = arms_[entry.arm];
    decision.decided_by = labels_[entry.decided_by];
    decision.planned_by = labels_[entry.planned_by];
    const auto words = std::lower_bound(plugin_words_.begin(), plugin_words_.end(), entry.facts.seq,
                                        [](const auto& kept, uint64_t seq) { return kept.first < seq; });
    if (words != plugin_words_.end() && words->first == entry.facts.seq) decision.plugin_says = words->second;
    return decision;
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
    const Entry made{decision, static_cast<uint32_t>(arm), label_index(decision.decided_by),
                     label_index(decision.planned_by)};

    if (decision.kind == DecisionKind::Keep && model_newest != nullptr) {
        if (const auto slot = slot_of(*model_newest)) {
            Entry& previous = ring_[*slot];
            if (previous.facts.kind == DecisionKind::Keep && previous.decided_by == made.decided_by) {
                const uint64_t seq = previous.facts.seq;
                const warmup_time_ms first_at_ms = previous.facts.first_at_ms;
                const uint32_t repeats = previous.facts.repeats + 1;
                previous = made;
                previous.facts.seq = seq;
                previous.facts.first_at_ms = first_at_ms;
                previous.facts.repeats = repeats;
                return;
            }
        }
    }
    const uint64_t seq = next_seq_++;
    if (model_newest != nullptr) *model_newest = seq;
    Entry& entry = ring_[static_cast<std::size_t>(seq % capacity_)];
    entry = made;
    entry.facts.seq = seq;
    entry.facts.first_at_ms = decision.at_ms;
    entry.facts.repeats = 1;
    if (!decision.plugin_says.empty()) {
        if (plugin_words_.size() == kPluginWordsKept) plugin_words_.pop_front();
        // Cut at a character's first byte, not inside a UTF-8 sequence.
        std::size_t length = std::min(decision.plugin_says.size(), kPluginWordsBytes);
        while (length < decision.plugin_says.size() && length > 0 &&
               (static_cast<unsigned char>(decision.plugin_says[length]) & 0xC0) == 0x80)
            --length;
        plugin_words_.emplace_back(seq, decision.plugin_says.substr(0, length));
    }
}

std::vector<Decision> DecisionLog::newest(std::optional<warmup_model_index> model, std::size_t limit,
                                          std::optional<std::string> arm) const {
    std::vector<Decision> found;
    if (limit == 0) return found;
    std::lock_guard lock(mutex_);
    std::optional<uint32_t> arm_index;
    if (arm) {
        const auto listed = std::find(arms_.begin(), arms_.end(), *arm);
        if (listed == arms_.end()) return found;
        arm_index = static_cast<uint32_t>(listed - arms_.begin());
    }
    // The matching entries' facts are sorted, and only the `limit` listed are written out with their labels.
    std::vector<const Entry*> matching;
    const uint64_t held = std::min<uint64_t>(next_seq_ - 1, capacity_);
    for (uint64_t seq = next_seq_ - held; seq < next_seq_; ++seq) {
        const Entry& entry = ring_[static_cast<std::size_t>(seq % capacity_)];
        if (model && entry.facts.model != *model) continue;
        if (arm_index && entry.arm != *arm_index) continue;
        matching.push_back(&entry);
    }
    const auto newer = [](const Entry* a, const Entry* b) {
        return a->facts.at_ms != b->facts.at_ms ? a->facts.at_ms > b->facts.at_ms : a->facts.seq > b->facts.seq;
    };
    const std::size_t listed = std::min(limit, matching.size());
    std::partial_sort(matching.begin(), matching.begin() + static_cast<std::ptrdiff_t>(listed), matching.end(), newer);
    found.reserve(listed);
    for (std::size_t i = 0; i < listed; ++i) found.push_back(written_out(*matching[i]));
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
