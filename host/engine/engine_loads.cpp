// engine/engine_loads.cpp — the engine's loads: the warm-up queue (its plugin and the fallback FIFO), admission,
// evictions to make room, load and unload completions, the memory FIFO, and reconciliation with what the servers
// report. Part of WarmupEngine (warmup_engine.hpp); same thread, units and replay guarantee as warmup_engine.cpp.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "engine/engine_internal.hpp"
#include "engine/warmup_engine.hpp"

namespace warmup::host {

using namespace engine_internal;

bool WarmupEngine::estimate(warmup_model_index model, warmup_performance_estimate& out) {
    return guarded(ComponentKind::Performance, "estimate", [&]() -> warmup_error* {
        if (warmup_error* error = components_.performance.vtable->estimate(components_.performance.self, model, &out))
            return error;
        // A NaN, infinite or negative figure is garbage: trusting it would charge the budget nonsense (an infinite
        // need would block every demand load behind it) or mislead the scheduler. It fails the call like an error.
        if (std::isfinite(out.memory_mb) && out.memory_mb >= 0 && std::isfinite(out.load_ms) && out.load_ms >= 0)
            return nullptr;
        return make_error(WARMUP_ERROR_INVALID_ARGUMENT, fmt::format("memory_mb {} load_ms {} for {}", out.memory_mb,
                                                                     out.load_ms, catalog_.record(model).name));
    });
}

double WarmupEngine::estimate_memory_mb(warmup_model_index model, double* load_ms) {
    warmup_performance_estimate estimate = sized<warmup_performance_estimate>();
    estimate.model = model;
    const ModelRecord& record = catalog_.record(model);
    // 0 MiB means "no estimate": the catalog's figures are used, as they are after a failed call.
    if (this->estimate(model, estimate) && estimate.memory_mb > 0) {
        if (load_ms != nullptr) *load_ms = estimate.load_ms;
        return estimate.memory_mb;
    }
    if (load_ms != nullptr) *load_ms = record.load_ms;
    return record.memory_mb;
}

void WarmupEngine::enqueue_again(warmup_model_index model, LoadReason reason, bool restoring, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    const bool handed_over = state.restore_handed_over;
    enqueue_load(model, reason, now_ms);
    if (restoring && state.residency == WARMUP_RESIDENCY_QUEUED) {
        state.operator_prewarm = true;
        state.restore_handed_over = handed_over;
    }
}

void WarmupEngine::enqueue_load(warmup_model_index model, LoadReason reason, warmup_time_ms now_ms) {
    ModelSlot& state = slot(model);
    if (state.residency != WARMUP_RESIDENCY_ABSENT) return;
    state.retry_at = kNever;            // this load supersedes a pending retry (a pre-warm or a request came first)
    state.operator_prewarm = false;     // request_prewarm sets it again for its own
    state.restore_handed_over = false;  // so does a hand-over's restore (request_prewarm, resume, its retries)
    double load_ms = 0;
    state.need_mb = estimate_memory_mb(model, &load_ms);
    state.reason = reason;
    set_residency(state, WARMUP_RESIDENCY_QUEUED);
    state.queued_in = QueuedIn::Nowhere;
    // Demand loads are class 0 (a request is waiting); pre-warms and retries use the plan's class, at least 1.
    state.queued_class = reason == LoadReason::Demand ? 0 : std::max<uint32_t>(1, state.priority_class);
    state.queued_at_ms = now_ms;

    // A full queue (RESOURCE_EXHAUSTED) is the policy's normal refusal: a demand load then goes to the built-in queue
    // (a waiting request is never dropped) and a pre-warm is skipped. A failed push or an open circuit sends either
    // kind to the built-in strict-priority queue (the queue component's fallback).
    const CallOutcome pushed = push_to_queue_plugin(model, load_ms);
    if (pushed == CallOutcome::Ok && !circuit_open(ComponentKind::Queue)) {
        state.queued_in = QueuedIn::Plugin;
        ++queued_in_plugin_;
        if (reason == LoadReason::Demand) {
            oldest_demand_in_plugin();  // drops the entries at the front the plugin no longer holds
            demand_in_plugin_.emplace_back(model, now_ms);
        }
    } else if (pushed == CallOutcome::Tolerated && reason != LoadReason::Demand) {
        ++counters_.queue_rejections;
        metric(WARMUP_METRIC_QUEUE_REJECTED, model, now_ms, 1);
        set_residency(state, WARMUP_RESIDENCY_ABSENT);
        ++counters_.prewarms_skipped;
        metric(WARMUP_METRIC_PREWARM_SKIPPED, model, now_ms, 1);
        if (options_.decisions != nullptr) {
            Decision& skip = decision(DecisionKind::Skip, model, "pre-warm refused by the queue plugin (full)",
                                      components_.queue.label, now_ms);
            skip.need_mb = state.need_mb;
            options_.decisions->record(skip);
        }
        spdlog::debug("RESOURCE_ALLOCATION_FAILED pre-warm of {} refused by the queue: {}", catalog_.record(model).name,
                      tolerated_message_);
    } else {
        // Refused demand, failed push, open circuit, or a push slow enough to open the circuit (its item in the
        // plugin is then stale and skipped when popped).
        if (pushed == CallOutcome::Tolerated) ++counters_.queue_rejections;
        if (pushed == CallOutcome::Tolerated || pushed == CallOutcome::Failed)
            metric(WARMUP_METRIC_QUEUE_REJECTED, model, now_ms, 1);
        push_fallback(model);
    }
    metric(WARMUP_METRIC_QUEUE_DEPTH, WARMUP_NO_MODEL, now_ms, static_cast<double>(queue_depth()));
}

WarmupEngine::CallOutcome WarmupEngine::push_to_queue_plugin(warmup_model_index model, double load_ms) {
    const ModelSlot& state = models_[model];
    warmup_queue_item item{};
    item.model = model;
    item.reason = static_cast<uint32_t>(state.reason);
    item.attempt = state.attempt + 1;
    item.enqueued_ms = state.queued_at_ms;
    item.priority_class = state.queued_class;
    item.deadline_ms = state.reason == LoadReason::Demand ? state.queued_at_ms : state.warm_ready_by;
    item.cost = load_ms;
    return guarded_call(
        ComponentKind::Queue, "push", [&] { return components_.queue.vtable->push(components_.queue.self, &item); },
        WARMUP_ERROR_RESOURCE_EXHAUSTED);
}

void WarmupEngine::hand_back_set_aside(warmup_time_ms now_ms) {
    const std::vector<warmup_model_index> models = std::exchange(set_aside_, {});
    for (const warmup_model_index model : models) {
        ModelSlot& state = models_[model];
        // Started, cancelled, or a demand load now (a request came for it): not a set-aside item any more.
        if (state.queued_in != QueuedIn::Fallback || state.residency != WARMUP_RESIDENCY_QUEUED ||
            state.in_memory_fifo || state.reason == LoadReason::Demand || !state.waiting.empty())
            continue;
        if (circuit_open(ComponentKind::Queue)) return;  // the rest wait in the built-in queue, as the circuit says
        fallback_queue_.erase(state.fallback_key);
        state.queued_in = QueuedIn::Nowhere;
        double load_ms = 0;
        estimate_memory_mb(model, &load_ms);
        if (push_to_queue_plugin(model, load_ms) == CallOutcome::Ok && !circuit_open(ComponentKind::Queue)) {
            state.queued_in = QueuedIn::Plugin;
            ++queued_in_plugin_;
        } else {
            push_fallback(model);  // refused (full) or failed: it waits in the built-in queue, as before
        }
    }
    metric(WARMUP_METRIC_QUEUE_DEPTH, WARMUP_NO_MODEL, now_ms, static_cast<double>(queue_depth()));
}

std::optional<warmup_time_ms> WarmupEngine::oldest_demand_in_plugin() {
    if (queued_in_plugin_ == 0) demand_in_plugin_.clear();  // the plugin holds nothing of ours: every entry is stale
    while (!demand_in_plugin_.empty()) {
        const auto [model, queued_at_ms] = demand_in_plugin_.front();
        const ModelSlot& state = models_[model];
        if (state.queued_in == QueuedIn::Plugin && state.reason == LoadReason::Demand &&
            state.queued_at_ms == queued_at_ms)
            return queued_at_ms;
        demand_in_plugin_.pop_front();  // served, cancelled or moved to the built-in queue since
    }
    return std::nullopt;
}

void WarmupEngine::push_fallback(warmup_model_index model) {
    ModelSlot& state = models_[model];
    state.fallback_key = fallback_queue_.push(model, state.queued_class, state.queued_at_ms);
    state.queued_in = QueuedIn::Fallback;
}

void WarmupEngine::unqueue(warmup_model_index model) {
    ModelSlot& state = models_[model];
    std::optional<ReportedFailure> failure;
    if (state.queued_in == QueuedIn::Plugin) {
        // With the circuit open the plugin is not called: its item turns stale (skipped if popped, removed once the
        // circuit has closed again).
        if (circuit_open(ComponentKind::Queue)) {
            stale_plugin_items_.push_back(model);
        } else {
            failure = notify(ComponentKind::Queue, "remove_model",
                             [&] { components_.queue.vtable->remove_model(components_.queue.self, model); });
        }
        --queued_in_plugin_;
    } else if (state.queued_in == QueuedIn::Fallback) {
        fallback_queue_.erase(state.fallback_key);
    }
    state.queued_in = QueuedIn::Nowhere;
    // Counted once the model is out of the books: a failure that opens the circuit moves the plugin's other items.
    if (failure) settle_notification(ComponentKind::Queue, "remove_model", failure);
}

void WarmupEngine::move_queue_plugin_items_to_fallback() {
    if (queued_in_plugin_ == 0) return;
    std::size_t moved = 0;
    for (warmup_model_index model = 0; model < models_.size(); ++model) {
        if (models_[model].queued_in != QueuedIn::Plugin) continue;
        push_fallback(model);
        stale_plugin_items_.push_back(model);  // the plugin's copy: removed from it once its circuit has closed
        ++moved;
    }
    queued_in_plugin_ = 0;
    spdlog::warn("QUEUE_FALLBACK {} queued warm-ups moved from {} to the built-in strict-priority queue", moved,
                 components_.queue.label);
}

void WarmupEngine::remove_stale_plugin_items() {
    // Only once the circuit is really closed (a successful trial): until then the plugin is not called. A model queued
    // in the plugin again since keeps its new item (its old one, if still there, is skipped when popped).
    if (stale_plugin_items_.empty() ||
        circuits_[static_cast<std::size_t>(ComponentKind::Queue)].state != CircuitState::Closed)
        return;
    std::vector<warmup_model_index> stale;
    stale.swap(stale_plugin_items_);
    for (std::size_t i = 0; i < stale.size(); ++i) {
        // A failure below may open the circuit again: the items not removed yet stay stale until it closes.
        if (circuit_open(ComponentKind::Queue)) {
            stale_plugin_items_.insert(stale_plugin_items_.end(), stale.begin() + static_cast<std::ptrdiff_t>(i),
                                       stale.end());
            break;
        }
        const warmup_model_index model = stale[i];
        if (models_[model].queued_in != QueuedIn::Plugin)
            notified(ComponentKind::Queue, "remove_model",
                     [&] { components_.queue.vtable->remove_model(components_.queue.self, model); });
    }
}

void WarmupEngine::dispatch(warmup_time_ms now_ms) {
    if (loads_held_) return;  // release_loads() dispatches
    // 1. Demand loads waiting for memory, strictly first come, first served (head-of-line blocking is the rule).
    while (!memory_fifo_.empty() && in_flight_ < options_.max_concurrent_loads) {
        const warmup_model_index model = memory_fifo_.front();
        ModelSlot& state = models_[model];
        if (const char* blocked = blocked_by_timed_out_unloads(model, state.need_mb)) {
            // It would wait for a backend call that may never return: out of the FIFO, so the loads behind it go on.
            memory_fifo_.pop_front();
            state.in_memory_fifo = false;
            if (state.reason == LoadReason::Demand || !state.waiting.empty())
                give_up_blocked(model, blocked, now_ms);
            else
                skip_prewarm(model, blocked, by_engine(), now_ms);
            continue;
        }
        if (state.reason != LoadReason::Demand && state.waiting.empty()) {
            // A pre-warm waits only for the memory already being unloaded when it came: it evicts nothing more.
            if (make_room(model, state.need_mb, /*may_evict=*/false, now_ms)) {
                memory_fifo_.pop_front();
                state.in_memory_fifo = false;
                start_load(model, now_ms);
                continue;
            }
            if (waits_for_unloads(model, state.need_mb)) break;
            skip_waiting_prewarms("pre-warm no longer fits: the memory it waited for went to other loads", now_ms);
            continue;
        }
        if (state.need_mb > budget_mb_ + 1e-9) {
            // The budget shrank under it (reload, reset-to-safe): it can never fit, and waiting would block the rest.
            memory_fifo_.pop_front();
            state.in_memory_fifo = false;
            give_up_oversized(model, now_ms);
            continue;
        }
        if (!make_room(model, state.need_mb, true, now_ms)) break;
        memory_fifo_.pop_front();
        state.in_memory_fifo = false;
        start_load(model, now_ms);
    }
    // 2. The built-in queue's demand loads (class 0: refused by the full queue plugin, or taken from it when its
    //    circuit opened) once they are older than every demand load the plugin holds (a burst of requests larger than
    //    the plugin's capacity is served first come, first served, not its overflow first), then the queue plugin's
    //    order while its circuit is closed, then the rest of the built-in queue (pre-warms and retries it took over),
    //    so a speculative load never goes before a waiting request.
    remove_stale_plugin_items();
    while (in_flight_ < options_.max_concurrent_loads) {
        warmup_model_index model = WARMUP_NO_MODEL;
        std::optional<StrictPriorityQueue::Key> builtin = fallback_queue_.front();
        if (!set_aside_.empty() && !(builtin && builtin->priority_class == 0) && !circuit_open(ComponentKind::Queue)) {
            hand_back_set_aside(now_ms);  // no request waits in the built-in queue any more
            builtin = fallback_queue_.front();
        }
        const bool plugin_usable = !circuit_open(ComponentKind::Queue) && queued_in_plugin_ > 0;
        const auto builtin_demand_first = [&] {
            if (builtin->priority_class != 0) return false;
            const std::optional<warmup_time_ms> plugin_oldest = oldest_demand_in_plugin();
            return !plugin_oldest || builtin->enqueued_ms < *plugin_oldest;
        };
        if (builtin && (!plugin_usable || builtin_demand_first())) {
            model = *fallback_queue_.pop();
            models_[model].queued_in = QueuedIn::Nowhere;
        } else {
            warmup_queue_item item{};
            if (!plugin_usable) break;
            int popped = 0;
            const auto failure = notify(ComponentKind::Queue, "pop", [&] {
                popped = components_.queue.vtable->pop(components_.queue.self, now_ms, &item);
            });
            if (popped == 0 && failure) {
                // It failed (the SDK answers "nothing popped" for an exception): the warm-ups it holds cannot be
                // served through it, so the circuit opens at once, as for a pop that lost them.
                settle_notification(ComponentKind::Queue, "pop", failure, /*trip_now=*/true);
                continue;
            }
            settle_notification(ComponentKind::Queue, "pop", failure);
            if (popped == 0) {
                // Empty while it should hold warm-ups: the plugin lost items. Waiting would not bring them back (a
                // broken contract, not a passing error), so the circuit opens at once and the lost warm-ups move to
                // the built-in queue, which this loop serves next.
                circuit_failed(ComponentKind::Queue, "pop",
                               record_failure(components_.queue.label,
                                              fmt::format("pop: INTERNAL: the queue is empty but holds {} warm-ups",
                                                          queued_in_plugin_)),
                               /*trip_now=*/true);
                continue;
            }
            model = item.model;
            if (model >= models_.size()) {
                // A model index the host never pushed: the item it stands for is lost in the plugin, a broken
                // contract like an empty pop, so the circuit opens at once and the queued warm-ups move to the
                // built-in queue.
                circuit_failed(ComponentKind::Queue, "pop",
                               record_failure(components_.queue.label,
                                              fmt::format("pop: INVALID_ARGUMENT: gave model index {}, which the host "
                                                          "never pushed (the catalog has {} models)",
                                                          model, catalog_.size())),
                               /*trip_now=*/true);
                continue;
            }
            // An item of a model the plugin no longer holds for us (cancelled, or moved to the built-in queue while
            // the circuit was open) is stale.
            if (models_[model].queued_in != QueuedIn::Plugin) continue;
            models_[model].queued_in = QueuedIn::Nowhere;
            --queued_in_plugin_;
            // The plugin was asked for its older demand loads, and gave a speculative load (WeightedFair interleaves
            // the classes): it waits in the built-in queue, behind every request, so that a pre-warm never goes before
            // a waiting request.
            if (builtin && builtin->priority_class == 0 && models_[model].residency == WARMUP_RESIDENCY_QUEUED &&
                !models_[model].in_memory_fifo && models_[model].reason != LoadReason::Demand &&
                models_[model].waiting.empty()) {
                push_fallback(model);
                set_aside_.push_back(model);
                continue;
            }
        }
        ModelSlot& state = models_[model];
        if (state.residency != WARMUP_RESIDENCY_QUEUED || state.in_memory_fifo) continue;  // stale item
        const bool is_demand = state.reason == LoadReason::Demand || !state.waiting.empty();
        if (!is_demand && (stopped_ || !memory_fifo_.empty())) {
            // Emergency stop, or demand loads are waiting for memory: a pre-warm must not take memory before them. A
            // restore of the warm set the stop cancels (a failed one's retry, queued by its timer) waits for resume.
            if (stopped_ && state.operator_prewarm) keep_restore_for_resume(model);
            set_residency(state, WARMUP_RESIDENCY_ABSENT);
            ++counters_.prewarms_skipped;
            metric(WARMUP_METRIC_PREWARM_SKIPPED, model, now_ms, 1);
            if (options_.decisions != nullptr) {
                Decision& skip = decision(DecisionKind::Skip, model,
                                          stopped_ ? "pre-warm cancelled by an emergency stop"
                                                   : "pre-warm held back: loads are waiting for memory",
                                          by_engine(), now_ms);
                skip.need_mb = state.need_mb;
                options_.decisions->record(skip);
            }
            refresh_timer(model);
            continue;
        }
        try_start(model, is_demand, now_ms);
    }
    metric(WARMUP_METRIC_RESIDENT_MB, WARMUP_NO_MODEL, now_ms, used_mb_);
}

bool WarmupEngine::try_start(warmup_model_index model, bool is_demand, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    if (is_demand && state.need_mb > budget_mb_ + 1e-9) {
        // Larger than the whole budget: no eviction can make room, and in the memory FIFO it would block every demand
        // load behind it. (A pre-warm of it is skipped below, as make_room fails.)
        give_up_oversized(model, now_ms);
        return false;
    }
    if (const char* blocked = blocked_by_timed_out_unloads(model, state.need_mb)) {
        if (is_demand)
            give_up_blocked(model, blocked, now_ms);
        else
            skip_prewarm(model, blocked, by_engine(), now_ms);
        return false;
    }
    warmup_admission_request request = sized<warmup_admission_request>();
    request.now_ms = now_ms;
    request.model = model;
    request.memory_mb = state.need_mb;
    request.used_mb =
        used_mb_ - freeing_mb();  // ready and loading models (as documented); unloads under way are freeing
    request.budget_mb = budget_mb_;
    request.is_demand = is_demand ? 1 : 0;
    warmup_admission admission = sized<warmup_admission>();
    admission.admit = 1;
    admission.may_evict = 1;
    if (!guarded(ComponentKind::Resource, "admit",
                 [&] { return components_.resource.vtable->admit(components_.resource.self, &request, &admission); })) {
        admission.admit = is_demand ? 1 : 0;  // safe choice: demand goes on, speculation stops
        admission.may_evict = 1;
        refusal_words_.clear();
    } else if (options_.decisions != nullptr) {
        // The plugin's own words for a refusal go with the decision it leads to (`warmupctl why` shows them).
        if (admission.admit == 0 && admission.reason.data != nullptr)
            refusal_words_.assign(admission.reason.data, std::min<std::size_t>(admission.reason.size, 4096));
        else
            refusal_words_.clear();
    }
    if (is_demand) {
        // A demand load is never refused outright (a request waits for it): the policy may only delay it. It may
        // always evict (may_evict binds pre-warms only): waiting for memory that only an eviction would free could
        // leave its requests waiting for ever.
        if (admission.admit != 0 && make_room(model, state.need_mb, /*may_evict=*/true, now_ms)) {
            start_load(model, now_ms);
            return true;
        }
        // A waiting request goes before any speculative load: a pre-warm waiting for unloads gives way.
        skip_waiting_prewarms("pre-warm gave way to a demand load waiting for memory", now_ms);
        wait_for_memory(model, /*is_demand=*/true, admission.admit != 0, now_ms);
        return false;
    }
    if (admission.admit != 0 && make_room(model, state.need_mb, admission.may_evict != 0, now_ms)) {
        start_load(model, now_ms);
        return true;
    }
    if (admission.admit != 0 && waits_for_unloads(model, state.need_mb)) {
        // Its room is being freed (by its own evictions, or by unloads already running): it waits for the unloads,
        // alone in the memory FIFO (no pre-warm is taken while loads wait for memory).
        wait_for_memory(model, /*is_demand=*/false, true, now_ms);
        return false;
    }
    const char* reason = admission.admit == 0       ? "pre-warm refused by the resource plugin"
                         : admission.may_evict == 0 ? "pre-warm does not fit and the resource plugin allows no eviction"
                                                    : "pre-warm does not fit in the budget, even after evictions";
    skip_prewarm(model, reason, components_.resource.label, now_ms,
                 admission.admit == 0 ? std::string_view(refusal_words_) : std::string_view());
    return false;
}

void WarmupEngine::skip_prewarm(warmup_model_index model, const char* reason, const std::string& decided_by,
                                warmup_time_ms now_ms, std::string_view plugin_says) {
    ModelSlot& state = models_[model];
    set_residency(state, WARMUP_RESIDENCY_ABSENT);
    ++counters_.prewarms_skipped;
    metric(WARMUP_METRIC_PREWARM_SKIPPED, model, now_ms, 1);
    if (options_.decisions != nullptr) {
        Decision& skip = decision(DecisionKind::Skip, model, reason, decided_by, now_ms);
        skip.need_mb = state.need_mb;
        skip.plugin_says = plugin_says;
        options_.decisions->record(skip);
    }
    refresh_timer(model);
}

bool WarmupEngine::make_room(warmup_model_index model, double need_mb, bool may_evict, warmup_time_ms now_ms) {
    const double takes_over_mb = own_failed_unloads_mb(model);
    if (takes_over_mb < 0) return false;  // its own unload is running
    if (used_mb_ - takes_over_mb + need_mb <= budget_mb_ + 1e-9) return true;
    if (!may_evict) return false;
    // Evicting every ready model would not be enough, even once every unload under way is over (loading models cannot
    // be evicted, timed-out unloads are not counted on): evict nothing. (unloading_mb_ is exactly 0 with an executor
    // that does not confirm unloads.)
    if (used_mb_ - ready_mb_ - freeing_mb() + need_mb > budget_mb_ + 1e-9) return false;
    evict_until_fits(model, need_mb, now_ms);
    return used_mb_ - takes_over_mb + need_mb <= budget_mb_ + 1e-9;
}

double WarmupEngine::own_failed_unloads_mb(warmup_model_index model) const noexcept {
    if (models_[model].pending_unloads == 0) return 0;
    double failed_mb = 0;
    for (const PendingUnload& unload : pending_unloads_) {
        if (unload.model != model) continue;
        // A load must not overtake a running unload of the same model: the backend could carry them out in either
        // order.
        if (!unload.failed) return -1;
        failed_mb += unload.memory_mb;
    }
    return failed_mb;
}

bool WarmupEngine::waits_for_unloads(warmup_model_index model, double need_mb) const noexcept {
    if (pending_unloads_.empty()) return false;
    if (blocked_by_timed_out_unloads(model, need_mb) != nullptr) return false;  // nothing it could wait for in time
    if (own_failed_unloads_mb(model) < 0) return true;  // its own unload runs: it waits whatever the memory
    return used_mb_ - freeing_mb() + need_mb <= budget_mb_ + 1e-9;
}

const char* WarmupEngine::blocked_by_timed_out_unloads(warmup_model_index model, double need_mb) const noexcept {
    if (overdue_mb_ <= 0) return nullptr;
    if (models_[model].pending_unloads != 0)
        for (const PendingUnload& unload : pending_unloads_)
            if (unload.model == model && unload.timed_out)
                return "its own unload has not returned past its deadline (the server may still be unloading it)";
    // Everything else charged comes free in time (ready models by eviction, loads when they finish, failed unloads at
    // the next listing); the timed-out unloads only if their calls return.
    if (need_mb <= budget_mb_ + 1e-9 && need_mb + overdue_mb_ > budget_mb_ + 1e-9)
        return "memory held by unloads past their deadline leaves too little of the budget until they return";
    return nullptr;
}

void WarmupEngine::give_up_blocked(warmup_model_index model, const char* why, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    set_residency(state, WARMUP_RESIDENCY_ABSENT);
    ++counters_.loads_given_up;
    if (options_.decisions != nullptr) {
        Decision& give_up = decision(DecisionKind::GiveUp, model, why, by_engine(), now_ms);
        give_up.need_mb = state.need_mb;
        options_.decisions->record(give_up);
    }
    metric(WARMUP_METRIC_WARMUP_FAILED, model, now_ms, 1);
    if (uint64_t left_out = 0; blocked_load_log_.admit(now_ms, left_out))
        spdlog::error(
            "LOAD_BLOCKED_BY_UNLOAD demand load of {} ({:.0f} MiB) given up, its requests fail: {} ({:.0f} of "
            "{:.0f} MiB held by unloads past their deadline; a later request tries again){}",
            catalog_.record(model).name, state.need_mb, why, overdue_mb_, budget_mb_, left_out_note(left_out));
    fail_waiters(state);
    refresh_timer(model);
}

bool WarmupEngine::evict_until_fits(warmup_model_index model, double need_mb, warmup_time_ms now_ms,
                                    const char* reason) {
    std::size_t guard = models_.size() + 1;
    // Memory being unloaded is counted as freed (it will be, without another eviction): the evictions stop once the
    // load fits after the unloads, and the load waits for them. Not so the memory of timed-out unloads: their calls
    // may never return, so other models are evicted in their place.
    while (used_mb_ - freeing_mb() + need_mb > budget_mb_ + 1e-9 && guard-- > 0) {
        warmup_model_index victim = WARMUP_NO_MODEL;
        bool by_plugin = false;
        if (!circuit_open(ComponentKind::Resource)) {
            // A victim that is not a ready model is the plugin's error (its books are off): a failed call, counted
            // once and fed to the breaker like any other, and the plugin is told to forget that model.
            bool named_unready = false;
            const CallOutcome picked = guarded_call(
                ComponentKind::Resource, "pick_victim",
                [&]() -> warmup_error* {
                    warmup_error* error =
                        components_.resource.vtable->pick_victim(components_.resource.self, now_ms, &victim);
                    if (error != nullptr) return error;
                    named_unready = victim == model || victim >= models_.size() ||
                                    models_[victim].residency != WARMUP_RESIDENCY_READY;
                    if (!named_unready) return nullptr;
                    return make_error(WARMUP_ERROR_INVALID_ARGUMENT,
                                      fmt::format("named model {}, which is not a ready model", victim));
                },
                WARMUP_ERROR_NOT_FOUND);
            if (picked == CallOutcome::Tolerated) return false;  // the policy has nothing evictable: the load waits
            by_plugin = picked == CallOutcome::Ok;
            if (named_unready && victim != model && victim < models_.size())
                notified(ComponentKind::Resource, "on_removed",
                         [&] { components_.resource.vtable->on_removed(components_.resource.self, victim, now_ms); });
        }
        if (!by_plugin) {
            // The built-in choice while the circuit is open, and the documented fallback of a failed call: the ready
            // model idle the longest (O(models) per victim), so that a load (a demand load's requests wait on it) is
            // not left waiting for an event that may never come.
            victim = oldest_ready_model(model);
            if (victim == WARMUP_NO_MODEL) return false;
        }
        record_eviction(victim, model, need_mb, by_plugin ? components_.resource.label : by_builtin_oldest_idle(),
                        now_ms, reason);
        remove_from_memory(victim, /*eviction=*/true, now_ms);
    }
    return used_mb_ + need_mb <= budget_mb_ + 1e-9;
}

void WarmupEngine::record_eviction(warmup_model_index victim, warmup_model_index for_model, double need_mb,
                                   const std::string& decided_by, warmup_time_ms now_ms, const char* reason) {
    if (options_.decisions == nullptr) return;
    if (reason == nullptr)
        reason = for_model == WARMUP_NO_MODEL ? "evicted: the memory budget shrank below what is loaded"
                                              : "evicted to make room for another model's load";
    Decision& evict = decision(DecisionKind::Evict, victim, reason, decided_by, now_ms);
    evict.for_model = for_model;
    evict.need_mb = need_mb;
    options_.decisions->record(evict);
}

void WarmupEngine::start_load(warmup_model_index model, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    // Failed unloads of this model (make_room let no running one through): the server may still hold it, and this
    // load's charge takes their place.
    for (std::size_t i = 0; state.pending_unloads != 0 && i < pending_unloads_.size();) {
        if (pending_unloads_[i].model == model) {
            release_unload(i, now_ms);
        } else {
            ++i;
        }
    }
    set_residency(state, WARMUP_RESIDENCY_LOADING);
    charge(state, state.need_mb, now_ms);
    ++in_flight_;
    ++state.ticket;
    state.loading_since_ms = now_ms;
    state.loaded_for = cause_of(state);
    if (state.reason == LoadReason::Demand || !state.waiting.empty()) {
        ++counters_.demand_loads;
    } else {
        ++counters_.prewarms_started;
        if (options_.decisions != nullptr) {
            const bool retry = state.reason == LoadReason::Retry;
            const char* reason = retry ? "retry of a failed pre-warm" : "pre-warm started: its planned time came";
            if (state.operator_prewarm)
                reason =
                    retry ? "retry of a failed restore of the warm set" : "pre-warm started: restore of the warm set";
            Decision& prewarm = decision(DecisionKind::Prewarm, model, reason,
                                         state.operator_prewarm ? by_engine() : plan_author(state), now_ms);
            prewarm.need_mb = state.need_mb;
            prewarm.used_mb -= state.charged_mb;  // before this load was charged
            options_.decisions->record(prewarm);
        }
    }
    state.operator_prewarm = false;  // it describes the queued load, which has started
    metric(WARMUP_METRIC_WARMUP_STARTED, model, now_ms, 1);
    executor_.start_load(model, state.ticket, now_ms);
}

// Long: a completion's cases (stale, failed with retry or give-up, succeeded) in the order the simulation rules give.
void WarmupEngine::on_load_finished(warmup_model_index model, uint64_t ticket, bool succeeded, double load_ms,
                                    double memory_mb, warmup_time_ms now_ms, bool permanent_failure) {
    if (model >= models_.size()) return;
    ModelSlot& state = models_[model];
    if (state.residency != WARMUP_RESIDENCY_LOADING || state.ticket != ticket) return;  // cancelled or stale
    advance(now_ms);
    --in_flight_;
    if (!std::isfinite(memory_mb) || memory_mb < 0) memory_mb = 0;  // unknown
    if (succeeded && memory_mb > budget_mb_) {
        // Taken for a backend's mistake: learned, it would make the model need more than the budget for good (its
        // requests would fail at every later load), and charged, it would evict every other model. The budget in
        // force, which a resource plugin may have lowered below the configured one.
        if (uint64_t left_out = 0; implausible_memory_log_.admit(now_ms, left_out))
            spdlog::warn(
                "LOAD_MEMORY_IMPLAUSIBLE the backend measured {} at {:.0f} MiB, more than the whole memory budget of "
                "{:.0f} MiB: the figure is ignored ({:.0f} MiB, its estimate, stays charged){}",
                catalog_.record(model).name, memory_mb, budget_mb_, state.charged_mb, left_out_note(left_out));
        memory_mb = 0;
    }

    warmup_load_observation observation = sized<warmup_load_observation>();
    observation.model = model;
    observation.finished_ms = now_ms;
    observation.load_ms = load_ms;
    observation.memory_mb = memory_mb;
    observation.succeeded = succeeded ? 1 : 0;
    guarded(ComponentKind::Performance, "observe_load",
            [&] { return components_.performance.vtable->observe_load(components_.performance.self, &observation); });

    if (!succeeded) {
        release_charge(state, now_ms);
        set_residency(state, WARMUP_RESIDENCY_ABSENT);
        ++counters_.loads_failed;
        metric(WARMUP_METRIC_WARMUP_FAILED, model, now_ms, 1);
        ++state.attempt;
        warmup_time_ms retry_at = kNever;
        if (!permanent_failure && !guarded(ComponentKind::Scheduler, "on_warmup_failed", [&] {
                return components_.scheduler.vtable->on_warmup_failed(components_.scheduler.self, model, state.attempt,
                                                                      now_ms, &retry_at);
            }))
            retry_at = kNever;
        // No sooner than kMinRetryDelayMs after the failure, whatever the scheduler asks: a server that fails at once
        // would otherwise be asked again in a loop as fast as the host can go.
        if (retry_at != kNever) retry_at = std::max(retry_at, now_ms + kMinRetryDelayMs);
        spdlog::warn("MODEL_LOAD_ERROR load of {} failed (attempt {}){}", catalog_.record(model).name, state.attempt,
                     retry_at == kNever ? ", giving up" : "");
        if (options_.decisions != nullptr) {
            Decision& after_failure =
                decision(retry_at == kNever ? DecisionKind::GiveUp : DecisionKind::Retry, model,
                         permanent_failure
                             ? "the load failed with an error no retry can fix (the backend does not have the model, "
                               "or refused its name): waiting requests fail"
                         : retry_at == kNever ? "the load failed and the scheduler gave up: waiting requests fail"
                                              : "the load failed; the scheduler planned another attempt",
                         components_.scheduler.label, now_ms);
            after_failure.until_ms = retry_at;
            after_failure.attempt = state.attempt;
            options_.decisions->record(after_failure);
        }
        if (retry_at == kNever) {
            ++counters_.loads_given_up;
            state.attempt = 0;
            state.restore_handed_over = false;
            fail_waiters(state);
        } else {
            state.retry_at = retry_at;
        }
        refresh_timer(model);
        dispatch(now_ms);
        return;
    }

    state.attempt = 0;
    if (memory_mb > 0 && memory_mb != state.charged_mb) {
        // The books hold what the server says the model holds, not the estimate admission planned with (a first load,
        // a catalog entry that is off). Larger, and over the budget then: ready models make room for the difference
        // first, while this one still counts as loading (never a victim), in the resource plugin's order.
        const double estimated_mb = state.charged_mb;
        const double more_mb = memory_mb - estimated_mb;
        if (more_mb > 0 && used_mb_ - freeing_mb() + more_mb > budget_mb_ + 1e-9) {
            const uint64_t evictions_before = counters_.evictions;
            evict_until_fits(model, more_mb, now_ms, "evicted: a model just loaded holds more than its estimate");
            spdlog::warn(
                "LOAD_LARGER_THAN_ESTIMATED {} holds {:.0f} MiB, {:.0f} MiB more than the {:.0f} MiB it was admitted "
                "with: {} ready model(s) evicted, {:.0f} of {:.0f} MiB in use",
                catalog_.record(model).name, memory_mb, more_mb, estimated_mb, counters_.evictions - evictions_before,
                used_mb_ + more_mb, budget_mb_);
        }
        recharge(state, memory_mb, now_ms);
    }
    const bool handed_over = std::exchange(state.restore_handed_over, false);
    set_residency(state, WARMUP_RESIDENCY_READY);
    state.ready_since_ms = now_ms;
    if (!state.waiting.empty()) state.loaded_for = LoadCause::Demand;  // a request waited for it: it was needed
    ready_mb_ += state.charged_mb;
    ++counters_.loads_succeeded;
    metric(WARMUP_METRIC_WARMUP_SUCCEEDED, model, now_ms, load_ms);
    notified(ComponentKind::Resource, "on_ready", [&] {
        components_.resource.vtable->on_ready(components_.resource.self, model, state.charged_mb, load_ms, now_ms);
    });

    if (const uint64_t served = serve_waiters(model, state, now_ms); served > 0) {  // before anything can evict it
        if (state.reason != LoadReason::Demand) {
            ++counters_.prewarms_used;  // the pre-warm was already under way when the request came
            metric(WARMUP_METRIC_PREWARM_USED, model, now_ms, 1);
        }
        state.last_use_ms = now_ms;
        notify_resource_used(model, served, now_ms);
        plan(model, WARMUP_TRIGGER_USED, now_ms);
        plan_followers_of(std::span(&model, 1), now_ms);
    } else if (handed_over && state.last_request_ms == kNever) {
        // Restored here from another arm's warm set: a plan from these books, which never saw it requested, would
        // unload it at once. Kept like a model adopted from another arm until its first request here plans it.
        state.prewarmed_unused = true;
        state.last_use_ms = kNever;
        state.loaded_for = LoadCause::Adopted;
        keep_for_builtin_keep_alive(model, now_ms,
                                    "restored from the warm set another arm held, never requested in these books; "
                                    "kept for the built-in keep-alive until a request plans it");
    } else {
        state.prewarmed_unused = state.reason != LoadReason::Demand;
        state.last_use_ms = kNever;
        plan(model, WARMUP_TRIGGER_WARMED, now_ms);
    }
    dispatch(now_ms);
}

uint64_t WarmupEngine::serve_waiters(warmup_model_index model, ModelSlot& state, warmup_time_ms now_ms) {
    uint64_t requests = 0;
    for (const Waiting& waiting : state.waiting) {
        requests += waiting.count;
        const double wait_ms = static_cast<double>(now_ms - waiting.ts_ms);
        cold_waits_ms_.add(wait_ms, waiting.count);
        metric(WARMUP_METRIC_COLD_WAIT_MS, model, now_ms, wait_ms);
    }
    state.waiting.clear();
    return requests;
}

void WarmupEngine::notify_resource_used(warmup_model_index model, uint64_t requests, warmup_time_ms now_ms) {
    const auto& resource = components_.resource;
    if (WARMUP_HAS_FIELD(resource.vtable, warmup_resource_vtable, on_used_requests) &&
        resource.vtable->on_used_requests != nullptr) {
        const auto count = static_cast<uint32_t>(std::clamp<uint64_t>(requests, 1, UINT32_MAX));
        notified(ComponentKind::Resource, "on_used_requests",
                 [&] { resource.vtable->on_used_requests(resource.self, model, count, now_ms); });
        return;
    }
    notified(ComponentKind::Resource, "on_used", [&] { resource.vtable->on_used(resource.self, model, now_ms); });
}

warmup_model_index WarmupEngine::oldest_ready_model(warmup_model_index except) const {
    warmup_model_index oldest = WARMUP_NO_MODEL;
    warmup_time_ms oldest_idle_since = kNever;
    for (warmup_model_index model = 0; model < models_.size(); ++model) {
        const ModelSlot& state = models_[model];
        if (model == except || state.residency != WARMUP_RESIDENCY_READY) continue;
        const warmup_time_ms idle_since =
            state.last_use_ms == kNever ? state.ready_since_ms : std::max(state.last_use_ms, state.ready_since_ms);
        if (oldest == WARMUP_NO_MODEL || idle_since < oldest_idle_since) {
            oldest = model;
            oldest_idle_since = idle_since;
        }
    }
    return oldest;
}

void WarmupEngine::give_up_oversized(warmup_model_index model, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    set_residency(state, WARMUP_RESIDENCY_ABSENT);
    ++counters_.loads_given_up;
    if (options_.decisions != nullptr) {
        Decision& give_up = decision(DecisionKind::GiveUp, model,
                                     "needs more memory than the whole budget: its requests fail", by_engine(), now_ms);
        give_up.need_mb = state.need_mb;
        options_.decisions->record(give_up);
    }
    metric(WARMUP_METRIC_WARMUP_FAILED, model, now_ms, 1);
    if (!state.oversize_logged) {  // once per model: every later request for it would say the same
        state.oversize_logged = true;
        spdlog::error(
            "MODEL_LOAD_ERROR {} needs {:.0f} MiB, more than the whole memory budget of {:.0f} MiB: its "
            "requests fail until the budget or its memory figure changes",
            catalog_.record(model).name, state.need_mb, budget_mb_);
    }
    fail_waiters(state);
    refresh_timer(model);
}

void WarmupEngine::fail_waiters(ModelSlot& state) {
    for (const Waiting& waiting : state.waiting) counters_.failed_requests += waiting.count;
    state.waiting.clear();
}

void WarmupEngine::remove_from_memory(warmup_model_index model, bool eviction, warmup_time_ms now_ms) {
    forget_resident(model, eviction ? Removal::Eviction : Removal::Unload, now_ms);
}

void WarmupEngine::forget_resident(warmup_model_index model, Removal removal, warmup_time_ms now_ms) {
    const bool eviction = removal == Removal::Eviction;
    ModelSlot& state = models_[model];
    // A pre-warm whose time came while the model was loaded is over, as run_timers would have found had its timer run
    // before this removal (timers due now run after events and completions).
    if (prewarm_passed_while_loaded(state, now_ms)) state.warm_start_at = kNever;
    // Idle memory-time: from the last use (or from readiness when never used) to now.
    const warmup_time_ms idle_since =
        state.last_use_ms == kNever ? state.ready_since_ms : std::max(state.last_use_ms, state.ready_since_ms);
    if (idle_since != kNever && now_ms > idle_since)
        counters_.idle_mb_ms += state.charged_mb * static_cast<double>(now_ms - idle_since);
    if (state.prewarmed_unused) {
        ++counters_.prewarms_wasted;
        metric(WARMUP_METRIC_PREWARM_WASTED, model, now_ms, 1);
        state.prewarmed_unused = false;
    }
    ready_mb_ -= state.charged_mb;
    if (ready_mb_ < 1e-9) ready_mb_ = 0;
    const double freed_mb = state.charged_mb;
    const uint64_t unload_ticket = ++unload_tickets_;
    if (unloads_confirmed_ && removal != Removal::Vanished) {
        // The server holds the model until its unload is over: the charge moves to the unload and stays in used_mb_
        // until on_unload_finished (or, after a failure, until a listing settles it).
        state.released_mb_ms += current_charge_mb_ms(state, now_ms);
        pending_unloads_.push_back({model, unload_ticket, freed_mb, now_ms, false});
        unloading_mb_ += freed_mb;
        ++state.pending_unloads;
        state.charged_mb = 0;
        state.charged_since_ms = kNever;
    } else {
        release_charge(state, now_ms);
    }
    set_residency(state, WARMUP_RESIDENCY_ABSENT);
    state.unload_at = kNever;
    state.last_use_ms = kNever;
    state.left_memory_at = now_ms;
    notified(ComponentKind::Resource, "on_removed",
             [&] { components_.resource.vtable->on_removed(components_.resource.self, model, now_ms); });
    refresh_timer(model);
    if (removal == Removal::Vanished) return;  // the server dropped it on its own: nothing to unload, not our unload
    if (eviction) {
        ++counters_.evictions;
        metric(WARMUP_METRIC_EVICTION, model, now_ms, freed_mb);
    } else {
        ++counters_.unloads;
        metric(WARMUP_METRIC_UNLOAD, model, now_ms, freed_mb);
    }
    executor_.start_unload(model, unload_ticket, now_ms);
}

void WarmupEngine::release_unload(std::size_t index, warmup_time_ms now_ms) {
    const PendingUnload unload = pending_unloads_[index];
    ModelSlot& state = models_[unload.model];
    if (now_ms > unload.since_ms)
        state.released_mb_ms += unload.memory_mb * static_cast<double>(now_ms - unload.since_ms);
    --state.pending_unloads;
    used_mb_ -= unload.memory_mb;
    if (used_mb_ < 1e-9) used_mb_ = 0;
    unloading_mb_ -= unload.memory_mb;
    if (unload.timed_out) overdue_mb_ -= unload.memory_mb;
    pending_unloads_.erase(pending_unloads_.begin() + static_cast<std::ptrdiff_t>(index));
    if (pending_unloads_.empty() || unloading_mb_ < 1e-9) unloading_mb_ = 0;
    if (pending_unloads_.empty() || overdue_mb_ < 1e-9) overdue_mb_ = 0;
}

void WarmupEngine::on_unload_finished(warmup_model_index model, uint64_t ticket, bool succeeded,
                                      warmup_time_ms now_ms) {
    const auto found = std::find_if(pending_unloads_.begin(), pending_unloads_.end(), [&](const PendingUnload& unload) {
        return unload.ticket == ticket && unload.model == model;
    });
    if (found == pending_unloads_.end() || found->failed) return;  // settled already, or answered twice
    advance(now_ms);
    if (!succeeded) {
        // The server may still hold the model: its memory stays charged until a listing says (reconcile). A timed-out
        // one is a failed one now, which the next listing settles.
        if (found->timed_out) {
            found->timed_out = false;
            overdue_mb_ -= found->memory_mb;
            if (overdue_mb_ < 1e-9) overdue_mb_ = 0;
        }
        found->failed = true;
        spdlog::warn(
            "UNLOAD_UNCONFIRMED {:.0f} MiB of {} stay charged to the budget until a listing of the server "
            "settles its failed unload",
            found->memory_mb, catalog_.record(model).name);
        return;
    }
    release_unload(static_cast<std::size_t>(found - pending_unloads_.begin()), now_ms);
    dispatch(now_ms);
}

std::optional<double> WarmupEngine::on_unload_timed_out(warmup_model_index model, uint64_t ticket,
                                                        warmup_time_ms now_ms) {
    const auto found = std::find_if(pending_unloads_.begin(), pending_unloads_.end(), [&](const PendingUnload& unload) {
        return unload.ticket == ticket && unload.model == model;
    });
    if (found == pending_unloads_.end() || found->failed || found->timed_out) return std::nullopt;
    advance(now_ms);
    found->timed_out = true;
    overdue_mb_ += found->memory_mb;
    const double memory_mb = found->memory_mb;
    // The loads waiting for memory are decided again: evictions in its place, or given up (see dispatch).
    dispatch(now_ms);
    return memory_mb;
}

uint64_t WarmupEngine::adopt_unload(const PendingUnload& unload, warmup_time_ms now_ms) {
    advance(now_ms);
    ModelSlot& state = slot(unload.model);
    PendingUnload adopted = unload;
    adopted.ticket = ++unload_tickets_;
    pending_unloads_.push_back(adopted);
    ++state.pending_unloads;
    used_mb_ += adopted.memory_mb;
    unloading_mb_ += adopted.memory_mb;
    if (adopted.timed_out) overdue_mb_ += adopted.memory_mb;
    // Over the budget even once the unloads that will come free are over (a timed-out one may never): other models
    // are evicted in its place. Loads waiting for memory see it from here on.
    if (!loads_held_ && used_mb_ - freeing_mb() > budget_mb_ + 1e-9) evict_until_fits(WARMUP_NO_MODEL, 0, now_ms);
    dispatch(now_ms);
    return adopted.ticket;
}

void WarmupEngine::publish_gauges(warmup_time_ms now_ms, bool stopped) {
    metric(WARMUP_METRIC_RESIDENT_MB, WARMUP_NO_MODEL, now_ms, stopped ? 0.0 : used_mb_);
    flush_metrics();  // with the queue depth
}

void WarmupEngine::release_loads(warmup_time_ms now_ms) {
    loads_held_ = false;
    advance(now_ms);
    // What the hold deferred: the evictions of a budget that shrank (said as BUDGET_SHRUNK), or of models and unloads
    // adopted over it (evict_until_fits does nothing when the memory in use fits).
    if (std::exchange(budget_shrunk_while_held_, false))
        evict_over_budget(now_ms);
    else
        evict_until_fits(WARMUP_NO_MODEL, 0, now_ms);
    dispatch(now_ms);
}

std::size_t WarmupEngine::release_failed_unloads(warmup_model_index model, warmup_time_ms now_ms) {
    advance(now_ms);
    std::size_t released = 0;
    for (std::size_t i = 0; i < pending_unloads_.size();) {
        const PendingUnload& unload = pending_unloads_[i];
        if (unload.failed && (model == WARMUP_NO_MODEL || unload.model == model)) {
            release_unload(i, now_ms);
            ++released;
        } else {
            ++i;
        }
    }
    if (released != 0) dispatch(now_ms);
    return released;
}

void WarmupEngine::wait_for_memory(warmup_model_index model, bool is_demand, bool admitted, warmup_time_ms now_ms) {
    ModelSlot& state = models_[model];
    state.in_memory_fifo = true;
    memory_fifo_.push_back(model);
    if (is_demand) ++counters_.loads_queued_for_memory;
    if (is_demand && !admitted) {
        state.delayed_demand_until = now_ms + kDelayedDemandRecheckMs;
        refresh_timer(model);
    }
    const bool for_unloads = admitted && waits_for_unloads(model, state.need_mb);
    // Only live (replay unloads take no time), since the wait lasts an unload. A budget that churns makes nearly
    // every load wait (hundreds a second at a few thousand models): one line per 10 s of the engine's clock, which
    // counts the others; each wait is still a decision, recorded below.
    if (uint64_t left_out = 0; for_unloads && memory_wait_log_.admit(now_ms, left_out))
        spdlog::info(
            "MEMORY_WAIT_UNLOAD {} of {} ({:.0f} MiB) waits for unloads to finish: {:.0f} of {:.0f} MiB in "
            "use, {:.0f} MiB being unloaded{}",
            is_demand ? "demand load" : "pre-warm", catalog_.record(model).name, state.need_mb, used_mb_, budget_mb_,
            unloading_mb_, left_out_note(left_out));
    if (options_.decisions == nullptr) return;
    // Its own unload still running holds it back whatever the memory: no load of a model starts while one of its
    // unloads runs (the server would be asked to load what it is unloading). The engine's rule, not the budget's.
    const bool own_unload = for_unloads && own_failed_unloads_mb(model) < 0;
    const char* reason = !admitted     ? "demand load delayed by the resource plugin"
                         : own_unload  ? (is_demand ? "demand load waits for the model's own unload to return"
                                                    : "pre-warm waits for the model's own unload to return")
                         : for_unloads ? (is_demand ? "demand load waits for memory being unloaded (first come, "
                                                      "first served)"
                                                    : "pre-warm waits for memory being unloaded")
                                       : "demand load waits for memory (first come, first served)";
    Decision& wait = decision(is_demand ? DecisionKind::DemandLoad : DecisionKind::Prewarm, model, reason,
                              own_unload               ? by_engine()
                              : is_demand              ? components_.resource.label
                              : state.operator_prewarm ? by_engine()
                                                       : plan_author(state),
                              now_ms);
    wait.need_mb = state.need_mb;
    if (!admitted) wait.plugin_says = refusal_words_;
    options_.decisions->record(wait);
}

void WarmupEngine::skip_waiting_prewarms(const char* reason, warmup_time_ms now_ms) {
    for (auto it = memory_fifo_.begin(); it != memory_fifo_.end();) {
        const warmup_model_index model = *it;
        ModelSlot& state = models_[model];
        if (state.reason == LoadReason::Demand || !state.waiting.empty()) {
            ++it;
            continue;
        }
        it = memory_fifo_.erase(it);
        state.in_memory_fifo = false;
        set_residency(state, WARMUP_RESIDENCY_ABSENT);
        ++counters_.prewarms_skipped;
        metric(WARMUP_METRIC_PREWARM_SKIPPED, model, now_ms, 1);
        if (options_.decisions != nullptr) {
            Decision& skip = decision(DecisionKind::Skip, model, reason, by_engine(), now_ms);
            skip.need_mb = state.need_mb;
            options_.decisions->record(skip);
        }
        refresh_timer(model);
    }
}

ReconcileOutcome WarmupEngine::reconcile(std::span<const ReportedResident> resident, uint64_t listed_after_sequence,
                                         const std::unordered_set<warmup_model_index>& unsure, bool adopt,
                                         warmup_time_ms now_ms) {
    advance(now_ms);
    ReconcileOutcome outcome;
    std::unordered_map<warmup_model_index, double> listed;
    for (const ReportedResident& entry : resident) listed.emplace(entry.model, entry.memory_mb);
    // A model whose residency changed after the listing started (a load finished or began, an unload started), or
    // whose unload ran while the server was asked, may be listed either way: it is left as it is this round.
    const auto settled = [&](warmup_model_index model) {
        return model < models_.size() && models_[model].residency_sequence <= listed_after_sequence &&
               unsure.count(model) == 0;
    };
    // A failed unload that this listing is sure of is settled (its residency changed when the unload started, so a
    // listing that started after that and saw no unload running tells what the failure left): its memory leaves the
    // books, and a model still on the server is adopted below, charged as the server reports it. A model still on
    // the server whose load is queued keeps the charge: its load takes it over when it starts (start_load).
    for (std::size_t i = 0; i < pending_unloads_.size();) {
        const PendingUnload& unload = pending_unloads_[i];
        const bool queued_and_resident =
            listed.count(unload.model) != 0 && models_[unload.model].residency == WARMUP_RESIDENCY_QUEUED;
        if (unload.failed && settled(unload.model) && !queued_and_resident) {
            release_unload(i, now_ms);
        } else {
            ++i;
        }
    }
    for (warmup_model_index model = 0; model < models_.size(); ++model) {
        if (models_[model].residency != WARMUP_RESIDENCY_READY || listed.count(model) != 0 || !settled(model)) continue;
        forget_resident(model, Removal::Vanished, now_ms);
        outcome.gone.push_back(model);
    }
    if (adopt) {
        std::vector<ReportedResident> absent;
        for (const auto& [model, reported_mb] : listed) {
            // A model beyond the table has never changed residency here; an unsure one waits all the same.
            const bool take = model >= models_.size() ? unsure.count(model) == 0 : settled(model);
            if (take) absent.push_back({model, reported_mb});
        }
        outcome.adopted = adopt_resident(absent, now_ms);  // dispatches
        return outcome;
    }
    dispatch(now_ms);
    return outcome;
}

std::optional<ReportedResident> WarmupEngine::hand_off_ready(warmup_model_index model, warmup_time_ms now_ms) {
    advance(now_ms);
    if (model >= models_.size() || models_[model].residency != WARMUP_RESIDENCY_READY) return std::nullopt;
    ModelSlot& state = models_[model];
    const ReportedResident handed{model, state.charged_mb};
    state.prewarmed_unused = false;  // not wasted: the engine that serves it now may use it
    forget_resident(model, Removal::Vanished, now_ms);
    // Served by another engine now: a pre-warm or retry planned here would load it a second time.
    state.warm_start_at = kNever;
    state.retry_at = kNever;
    refresh_timer(model);
    dispatch(now_ms);  // the memory it held is this engine's to use again
    return handed;
}

std::vector<warmup_model_index> WarmupEngine::adopt_resident(std::span<const ReportedResident> models,
                                                             warmup_time_ms now_ms, bool handed_over) {
    advance(now_ms);
    std::vector<warmup_model_index> adopted;
    for (const auto& [model, reported_mb] : models) {
        ModelSlot& state = slot(model);
        if (state.residency != WARMUP_RESIDENCY_ABSENT) continue;
        double memory_mb = reported_mb;
        if (!(memory_mb > 0)) memory_mb = estimate_memory_mb(model, nullptr);
        set_residency(state, WARMUP_RESIDENCY_READY);
        charge(state, memory_mb, now_ms);
        state.ready_since_ms = now_ms;
        state.last_use_ms = kNever;
        state.prewarmed_unused = false;
        state.loaded_for = LoadCause::Adopted;
        // A retry of a failed load planned before is moot now that the model is resident; kept, it would fire as soon
        // as the model is unloaded and load it again.
        state.retry_at = kNever;
        state.attempt = 0;
        ready_mb_ += memory_mb;
        notified(ComponentKind::Resource, "on_ready", [&] {
            components_.resource.vtable->on_ready(components_.resource.self, model, memory_mb, 0, now_ms);
        });
        // Requests still waiting (their load failed, a retry was planned) are served by the model now resident: the
        // server loaded it for them, most likely. Left waiting, they would never be served or counted failed.
        if (const uint64_t served = serve_waiters(model, state, now_ms); served > 0) {
            state.loaded_for = LoadCause::Demand;
            state.last_use_ms = now_ms;
            notify_resource_used(model, served, now_ms);
        }
        adopted.push_back(model);
    }
    std::sort(adopted.begin(), adopted.end());
    // A model with requests in its history is planned from what was learned. One never requested here has no
    // pattern to plan from (a policy would unload it at once, under the client that just loaded it): it is kept
    // for the built-in keep-alive from now, and its first request plans it like any other.
    std::vector<warmup_model_index> used;  // adopted models that served waiting requests: their followers next
    for (const warmup_model_index model : adopted) {
        ModelSlot& state = models_[model];
        if (state.last_request_ms != kNever) {
            const bool served = state.loaded_for == LoadCause::Demand;
            plan(model, served ? WARMUP_TRIGGER_USED : WARMUP_TRIGGER_TIMER, now_ms);
            if (served) used.push_back(model);
            continue;
        }
        keep_for_builtin_keep_alive(model, now_ms,
                                    handed_over ? "adopted: handed over by the arm that loaded it, never requested "
                                                  "in these books; kept for the built-in keep-alive until a "
                                                  "request plans it"
                                                : "adopted: resident on the server but not in the books; kept for "
                                                  "the built-in keep-alive until a request plans it");
    }
    plan_followers_of(used, now_ms);
    if (!loads_held_ && used_mb_ > budget_mb_ + 1e-9) evict_until_fits(WARMUP_NO_MODEL, 0, now_ms);
    dispatch(now_ms);
    return adopted;
}

}  // namespace warmup::host
