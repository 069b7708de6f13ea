// runtime/control_loop.cpp — the control thread: one loop that times out loads (and reports unloads past their
// deadline), takes completions and the ingested batch, runs timers and simulated shadow loads, applies backend listings
// and runs queued commands, then sleeps until the next timer or a wake-up.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "runtime/live_runtime.hpp"
#include "runtime/live_runtime_support.hpp"

namespace warmup::host {
namespace {

// Ingest buffers up to this many events (the default budgets.ingest_queue_capacity, 1.5 MiB) are kept between steps.
constexpr std::size_t kRetainedIngestEvents = 65536;

}  // namespace

void LiveRuntime::wake() {
    {
        std::lock_guard lock(wake_mutex_);
        woken_ = true;
    }
    wake_cv_.notify_one();
}

void LiveRuntime::control_loop() {
    std::vector<warmup_usage_event> batch;
    std::vector<std::vector<warmup_usage_event>> per_arm;
    batch.reserve(4096);
    while (running_.load()) {
        const auto step_started = std::chrono::steady_clock::now();
        step_started_ns_.store(step_started.time_since_epoch().count());
        expire_timed_out_loads();
        expire_timed_out_unloads();
        drop_finished_pools();
        bool worked = take_completions();
        worked = take_ingested(batch, per_arm) || worked;
        const warmup_time_ms now_ms = clock_.now_ms();
        warmup_time_ms next_ms = WARMUP_TIME_NEVER;
        worked = run_due_timers(now_ms, next_ms) || worked;
        worked = take_unload_completions() || worked;
        worked = take_listings() || worked;
        maybe_start_reconcile(std::chrono::steady_clock::now());
        run_commands();

        if (worked) {
            const double step_us =
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - step_started).count();
            arms_.front()->engine->metric(WARMUP_METRIC_DECISION_CYCLE_US, WARMUP_NO_MODEL, now_ms, step_us);
            for (auto& arm : arms_) arm->engine->flush_metrics();
            continue;  // more may have arrived meanwhile
        }

        // Sleep until the next timer (at most 100 ms, so a clock jump is noticed) or until woken.
        step_started_ns_.store(0);
        const auto wait_ms = std::clamp<warmup_time_ms>(next_ms == WARMUP_TIME_NEVER ? 100 : next_ms - now_ms, 0, 100);
        std::unique_lock lock(wake_mutex_);
        wake_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return woken_; });
        woken_ = false;
    }
    // Run the commands still queued so no caller of call_on_control waits forever.
    std::function<void(WarmupEngine&)> command;
    while (commands_.try_pop(command)) command(*arms_.front()->engine);
}

void LiveRuntime::expire_timed_out_loads() {
    // Loads past budgets.warmup_timeout_ms are cancelled and answered as failed (the loop wakes at least every
    // 100 ms, so a timeout is acted on within that).
    const int64_t timeout_ms = warmup_timeout_ms_.load();
    uint64_t timed_out = workers_->expire(timeout_ms);
    for (auto& retired : retired_workers_) timed_out += retired->expire(timeout_ms);
    if (timed_out > 0) {
        timed_out_loads_.fetch_add(timed_out);
        last_timeout_unix_ms_.store(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
    }
}

void LiveRuntime::drop_finished_pools() {
    // A pool restart-workers retired is kept while anything may still run on it (a stuck backend call: its task group
    // must not be destroyed under it); once all has ended it goes, with its threads.
    std::erase_if(retired_workers_, [](const std::unique_ptr<LoadWorkers>& pool) {
        if (!pool->finished()) return false;
        pool->wait();  // returns at once: nothing runs on it
        return true;
    });
}

void LiveRuntime::expire_timed_out_unloads() {
    // An unload has no cancel token: past budgets.unload_timeout_ms the host can only say so and stop counting on its
    // memory. The memory stays charged to the budget until the call returns (the server may still hold the model, and
    // a call that never returns is not evidence that it freed it); the engine gives up or re-plans the loads that
    // were waiting for it (WarmupEngine::on_unload_timed_out), so none waits for a call that may never return.
    const int64_t timeout_ms = unload_timeout_ms_.load();
    std::vector<RunningUnload> expired = workers_->expire_unloads(timeout_ms);
    std::size_t overdue = workers_->unloads_overdue();
    for (auto& retired : retired_workers_) {
        for (RunningUnload& unload : retired->expire_unloads(timeout_ms)) expired.push_back(unload);
        overdue += retired->unloads_overdue();
    }
    unloads_overdue_.store(overdue);
    if (expired.empty()) return;
    timed_out_unloads_.fetch_add(expired.size());
    last_unload_timeout_unix_ms_.store(unix_now_ms());
    const auto now = std::chrono::steady_clock::now();
    const warmup_time_ms now_ms = clock_.now_ms();
    for (const RunningUnload& unload : expired) {
        const std::string& name = catalog_.record(unload.model).name;
        const double running_ms = std::chrono::duration<double, std::milli>(now - unload.started).count();
        note_backend_error(fmt::format("unload of {}: no answer after {:.0f} ms (budgets.unload_timeout_ms {})", name,
                                       running_ms, timeout_ms));
        if (unload.ticket == UnloadCompletion::kNoTicket) {
            spdlog::error(
                "MODEL_UNLOAD_TIMEOUT unload of {} (a load that finished after its timeout) has not returned after "
                "{:.0f} ms (budgets.unload_timeout_ms {}); no budget charges it, so the server may hold it outside "
                "the budget; loads of it wait for the call",
                name, running_ms, timeout_ms);
            continue;
        }
        const auto [arm, ticket] = unload_owner(unload.arm_id, unload.ticket, /*consume=*/false);
        const std::optional<double> held_mb =
            arm != nullptr ? arm->engine->on_unload_timed_out(unload.model, ticket, now_ms) : std::nullopt;
        if (held_mb)
            spdlog::error(
                "MODEL_UNLOAD_TIMEOUT unload of {} has not returned after {:.0f} ms (budgets.unload_timeout_ms {}); "
                "its {:.0f} MiB stay charged to arm '{}' until it returns; loads that need that memory evict other "
                "models or are given up (LOAD_BLOCKED_BY_UNLOAD) instead of waiting for it",
                name, running_ms, timeout_ms, *held_mb, arm->name);
        else
            spdlog::error(
                "MODEL_UNLOAD_TIMEOUT unload of {} has not returned after {:.0f} ms (budgets.unload_timeout_ms "
                "{}); no arm charges it any more",
                name, running_ms, timeout_ms);
    }
}

bool LiveRuntime::take_completions() {
    bool worked = false;
    LoadCompletion completion{};
    while (completions_.try_pop(completion)) {
        bool matched = false;
        for (std::size_t i = 0; i < arms_.size(); ++i)
            if (arms_[i]->id == completion.arm_id) {
                arms_[i]->engine->on_load_finished(completion.model, completion.ticket, completion.succeeded,
                                                   completion.load_ms, completion.memory_mb, clock_.now_ms(),
                                                   completion.permanent_failure);
                matched = true;
                // Started before a reload moved the model to another arm (split by model): that arm takes it.
                if (completion.succeeded) (void)hand_over_to_serving_arm(i, completion.model);
            }
        // An arm stopped by a reload no longer exists; a load it started that succeeded left the model on the
        // backend: the arm that serves the model now takes it.
        if (!matched && completion.succeeded) {
            const ReportedResident loaded{completion.model, completion.memory_mb};
            arms_[arm_serving(completion.model)]->engine->adopt_resident(std::span(&loaded, 1), clock_.now_ms(),
                                                                         /*handed_over=*/true);
        }
        worked = true;
    }
    return worked;
}

bool LiveRuntime::take_ingested(std::vector<warmup_usage_event>& batch,
                                std::vector<std::vector<warmup_usage_event>>& per_arm) {
    // Everything pending, in one swap: whole requests only (an append is atomic under the lock), at most
    // ingest_queue_capacity events. The emptied `batch` buffer goes back to the producers, so steady load allocates
    // nothing.
    batch.clear();
    {
        std::lock_guard lock(ingest_mutex_);
        batch.swap(ingest_pending_);
        ingest_backlog_.store(0);
    }
    const bool worked = !batch.empty();
    if (worked) ingest_batch(batch, per_arm);
    // A burst beyond the default queue capacity (a larger budgets.ingest_queue_capacity) leaves a large buffer
    // behind; once steps use less than a quarter of it, it is freed (each of the two buffers passes here in turn).
    if (batch.capacity() > kRetainedIngestEvents && batch.size() < batch.capacity() / 4)
        std::vector<warmup_usage_event>().swap(batch);
    return worked;
}

bool LiveRuntime::run_due_timers(warmup_time_ms now_ms, warmup_time_ms& next_ms) {
    bool worked = false;
    for (auto& arm : arms_) {
        if (auto* shadow = dynamic_cast<ShadowExecutor*>(arm->executor.get())) {
            if (shadow->next_due_ms() <= now_ms) {
                shadow->complete_due(*arm->engine, now_ms);
                worked = true;
            }
            next_ms = std::min(next_ms, shadow->next_due_ms());
        }
        if (arm->engine->next_timer_ms() <= now_ms) {
            arm->engine->run_timers(now_ms);
            worked = true;
        }
        next_ms = std::min(next_ms, arm->engine->next_timer_ms());
    }
    return worked;
}

bool LiveRuntime::take_listings() {
    bool worked = false;
    ResidentListing listing;
    while (listings_.try_pop(listing)) {
        apply_reconcile(listing);
        worked = true;
    }
    return worked;
}

void LiveRuntime::run_commands() {
    std::function<void(WarmupEngine&)> command;
    while (commands_.try_pop(command)) {
        for (auto& arm : arms_) arm->engine->flush_metrics();
        command(*arms_.front()->engine);
    }
}

}  // namespace warmup::host
