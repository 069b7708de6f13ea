// runtime/ingest.cpp — events into the live pipeline: try_ingest (any thread) appends a whole request to the pending
// batch and journals it; a control-loop step takes the batch and feeds it to the arms (ingest_batch: history apart
// from requests, each event to its arm).
#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "runtime/live_runtime.hpp"

namespace warmup::host {

std::size_t LiveRuntime::try_ingest(std::span<const warmup_usage_event> events, bool count_refusals) {
    std::size_t accepted = 0;
    bool was_empty = false;
    {
        std::lock_guard lock(ingest_mutex_);
        accepted = std::min(ingest_room_locked(), events.size());
        was_empty = ingest_pending_.empty();
        const auto first_new = static_cast<std::ptrdiff_t>(ingest_pending_.size());
        ingest_pending_.insert(ingest_pending_.end(), events.begin(),
                               events.begin() + static_cast<std::ptrdiff_t>(accepted));
        ingest_backlog_.store(ingest_pending_.size());
        // History or request is decided now, as its sender is answered: a control loop held up by a slow plugin call
        // must not turn the requests that waited in the queue into history (ingest_batch reads the mark).
        const warmup_time_ms history_before_ms = clock_.now_ms() - request_window_ms_.load();
        for (auto it = ingest_pending_.begin() + first_new; it != ingest_pending_.end(); ++it)
            it->reserved = it->ts_ms < history_before_ms ? kHistoryMark : 0;
        // Journaled in the same critical section: a rotation (under this lock too) cuts between two ingest calls,
        // and a checkpoint's events_accepted counts exactly the events journaled before it. A timestamp ahead of the
        // clock is journaled as now, which is when the engine counts it.
        if (EventJournal* journal = journal_.load(); journal != nullptr && accepted > 0) {
            const warmup_time_ms now_ms = clock_.now_ms();
            const std::span<warmup_usage_event> added(ingest_pending_.data() + first_new, accepted);
            for (auto& e : added) e.ts_ms = std::min(e.ts_ms, now_ms);
            journal->append_events(added, catalog_);
        }
        accepted_events_.fetch_add(accepted);
    }
    if (accepted < events.size() && count_refusals) refused_events_.fetch_add(events.size() - accepted);
    // One wake-up per batch, and only for the append that made the pending batch non-empty: an append to a non-empty
    // batch follows one whose wake() has not been acted on yet (the control loop has not swapped since), and the step
    // that acts on it takes this append too.
    if (accepted > 0 && was_empty) wake();
    return accepted;
}

std::size_t LiveRuntime::ingest_room_locked() const {
    // A journal whose disk is slower than the traffic refuses like a full queue (503), never grows memory; one that
    // cannot write (a full disk) refuses until it can, so that no event is acknowledged and then lost.
    if (const EventJournal* journal = journal_.load();
        journal != nullptr && (journal->write_failing() || journal->buffered_bytes() >= kJournalMaxBufferedBytes))
        return 0;
    const std::size_t capacity = config_.ingest_queue_capacity;
    return capacity - std::min(capacity, ingest_pending_.size());
}

std::size_t LiveRuntime::ingest_room() const {
    std::lock_guard lock(ingest_mutex_);
    return ingest_room_locked();
}

std::string LiveRuntime::ingest_refusal_reason(std::size_t body_events) const {
    if (const EventJournal* journal = journal_.load(); journal != nullptr) {
        if (journal->write_failing())
            return fmt::format(
                "the event journal cannot write to the state folder ({}): events are refused until it "
                "can, so that none is acknowledged and lost; retry later",
                journal->write_failure());
        if (journal->buffered_bytes() >= kJournalMaxBufferedBytes)
            return "the event journal is behind (the state folder's disk is slower than the events), retry later";
    }
    // Retrying a body larger than the whole queue as it is would never succeed: say what does.
    if (body_events > config_.ingest_queue_capacity)
        return fmt::format(
            "the body holds {} events, more than the ingest queue takes at once (budgets.ingest_queue_capacity: {}): "
            "send the rest from retry_from, or smaller bodies",
            body_events, config_.ingest_queue_capacity);
    return "ingest queue full, retry later";
}

void LiveRuntime::take_pending_events(const std::function<void()>& under_lock) {
    std::vector<warmup_usage_event> taken;
    {
        std::lock_guard lock(ingest_mutex_);
        taken.swap(ingest_pending_);
        ingest_backlog_.store(0);
        under_lock();
    }
    if (taken.empty()) return;
    std::vector<std::vector<warmup_usage_event>> per_arm;
    ingest_batch(taken, per_arm);
    for (auto& arm : arms_) arm->engine->flush_metrics();
}

void LiveRuntime::ingest_batch(std::vector<warmup_usage_event>& batch,
                               std::vector<std::vector<warmup_usage_event>>& per_arm) {
    // Every event is learned at its own timestamp; no event moves another's. A timestamp ahead of the daemon's clock
    // (the event parser allows a few minutes of client clock skew) is a request arriving now: it is counted and learned
    // at now, so no model's last use lies in the future and no other model's clock moves.
    const warmup_time_ms now_ms = clock_.now_ms();
    for (auto& e : batch) e.ts_ms = std::min(e.ts_ms, now_ms);
    // The analyzer needs each batch in time order. Events older than what it saw of their model (a back-fill after a
    // newer event of the same model) add requests to its counts but no idle gap: see the analyzer's contract.
    // History (older than the request window when it was accepted: try_ingest marked it) is learned but not scored;
    // the rest are requests. History goes to the analyzer first, each part in time order; the analyzer sees the whole
    // batch in time order unless the loop was held up long enough for a request to be older than later history.
    std::stable_sort(batch.begin(), batch.end(), [](const auto& a, const auto& b) {
        return a.reserved != b.reserved ? a.reserved > b.reserved : a.ts_ms < b.ts_ms;
    });
    const auto first_request = std::partition_point(
        batch.begin(), batch.end(), [](const warmup_usage_event& e) { return e.reserved == kHistoryMark; });
    for (auto& e : batch) e.reserved = 0;  // the field plugins see is 0
    const std::span<const warmup_usage_event> history(batch.data(),
                                                      static_cast<std::size_t>(first_request - batch.begin()));
    const std::span<const warmup_usage_event> requests(batch.data() + history.size(), batch.size() - history.size());
    if (arms_.size() == 1) {
        arms_.front()->engine->on_history(history, now_ms);
        arms_.front()->engine->on_events(requests, now_ms);
    } else {
        for (const bool is_history : {true, false}) {
            per_arm.assign(arms_.size(), {});
            for (const auto& e : is_history ? history : requests) route(e, per_arm);
            for (std::size_t i = 0; i < arms_.size(); ++i) {
                if (is_history)
                    arms_[i]->engine->on_history(per_arm[i], now_ms);
                else
                    arms_[i]->engine->on_events(per_arm[i], now_ms);
            }
        }
    }
    arms_.front()->engine->metric(WARMUP_METRIC_EVENTS_ACCEPTED, WARMUP_NO_MODEL, now_ms,
                                  static_cast<double>(batch.size()));
}

}  // namespace warmup::host
