// runtime/load_workers.cpp — backend calls on the worker arena; see load_workers.hpp.
#include "runtime/load_workers.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/errors.hpp"

namespace warmup::host {

void LoadWorkers::start_load(uint32_t arm_id, warmup_model_index model, uint64_t ticket) {
    const ModelRecord& record = catalog_.record(model);
    auto backend = backend_;  // a hot-swap may replace backend_; a running load keeps its own
    auto cancel_state = std::make_shared<CancelState>(outbox_.running);
    const uint64_t generation = load_order_->starting(model);
    calls_pending_.fetch_add(1);  // until the task below ends, whatever it calls
    uint64_t serial = 0;
    {
        std::lock_guard lock(running_mutex_);
        serial = ++next_serial_;
        running_.emplace(serial, Running{arm_id, model, ticket, std::chrono::steady_clock::now(), cancel_state});
    }
    arena_.enqueue(group_->defer([this, &record, arm_id, model, ticket, backend, cancel_state, serial, generation] {
        const PendingCall pending(calls_pending_);
        {
            // budgets.warmup_timeout_ms runs from when a worker takes the load, not from the submission: a load
            // waiting for a worker (taken by other loads and unloads) has not been asked of the backend yet.
            std::lock_guard lock(running_mutex_);
            if (const auto found = running_.find(serial); found != running_.end()) {
                found->second.started = std::chrono::steady_clock::now();
                found->second.taken = true;
            }
        }
        load_order_->wait_for_late_unload(model);
        warmup_model_info info = record.to_info();
        warmup_load_result result{};
        result.struct_size = sizeof result;
        warmup_cancel_token cancel{
            cancel_state.get(), [](void* context) { return static_cast<CancelState*>(context)->cancelled() ? 1 : 0; }};
        const auto started = std::chrono::steady_clock::now();
        warmup_error* error = nullptr;
        {
            const auto in_call = backend->marked("load");
            error = backend->vtable<warmup_backend_vtable>()->load(backend->self(), &info, &cancel, &result);
        }
        const double load_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        // A load the daemon's stop cancelled did not fail: it is not reported as an error, and not answered to
        // the engine, whose control loop is stopping (it would count a failed load and plan a retry).
        const bool cancelled_by_shutdown =
            error != nullptr && error->code == WARMUP_ERROR_CANCELLED && cancel_state->by_shutdown();
        bool permanent_failure = false;
        if (error != nullptr) {
            ErrorPtr owned(error);
            permanent_failure = owned->code == WARMUP_ERROR_NOT_FOUND || owned->code == WARMUP_ERROR_INVALID_ARGUMENT ||
                                owned->code == WARMUP_ERROR_UNSUPPORTED;
            if (cancelled_by_shutdown)
                spdlog::info("MODEL_LOAD_CANCELLED load of {} cancelled by the shutdown after {:.0f} ms", record.name,
                             load_ms);
            else {
                spdlog::warn("MODEL_LOAD_ERROR backend {} could not load {}: {}: {}", backend->label(), record.name,
                             status_name(owned->code), owned->message);
                if (outbox_.backend_error)
                    outbox_.backend_error(fmt::format("load of {}: {}", record.name, owned->message));
            }
        }
        // Whoever removes the entry answers the engine: this worker, or expire() after a timeout (then the
        // late result is dropped: the engine was already told the load failed).
        bool owned_completion = false;
        {
            std::lock_guard lock(running_mutex_);
            owned_completion = running_.erase(serial) == 1;
        }
        if (owned_completion && !cancelled_by_shutdown) {
            outbox_.completions->push(
                {arm_id, model, ticket, error == nullptr, load_ms, result.memory_mb, permanent_failure});
            outbox_.wake();
        } else if (error == nullptr) {
            // The load outlived its timeout (the engine counted it failed and freed its memory) but the
            // backend finished it anyway: unload it, or it would stay resident outside the budget; unless a
            // newer load of the model has started since, which the engine now counts on.
            if (load_order_->claim_late_unload(model, generation)) {
                spdlog::warn(
                    "MODEL_LOAD_TIMEOUT load of {} finished {:.0f} ms after it started, past its "
                    "timeout; unloading it",
                    record.name, load_ms);
                load_order_->unload_began(model);
                const uint64_t unload_serial = unload_starting(arm_id, model, UnloadCompletion::kNoTicket);
                const auto failed = unload_now(*backend, record);
                unload_returned(unload_serial, record, failed.has_value());
                load_order_->unload_ended(model);
                load_order_->unloaded(model);
                // No engine charges this load any more: only a failure is news (the model may be on the server).
                if (failed) report_unload({arm_id, model, UnloadCompletion::kNoTicket, false, *failed});
            } else {
                spdlog::warn(
                    "MODEL_LOAD_TIMEOUT load of {} finished {:.0f} ms after it started, past its "
                    "timeout; a newer load of it has started, so it stays loaded",
                    record.name, load_ms);
            }
        }
    }));
}

uint64_t LoadWorkers::expire(int64_t timeout_ms) {
    const auto now = std::chrono::steady_clock::now();
    std::vector<Running> expired;
    {
        std::lock_guard lock(running_mutex_);
        for (auto it = running_.begin(); it != running_.end();) {
            // A load still waiting for a worker has not been asked of the backend: its timeout has not started.
            if (it->second.taken && now - it->second.started > std::chrono::milliseconds(timeout_ms)) {
                it->second.cancel->cancel();
                expired.push_back(it->second);
                it = running_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (const Running& load : expired) {
        const double load_ms = std::chrono::duration<double, std::milli>(now - load.started).count();
        spdlog::warn("MODEL_LOAD_TIMEOUT load of {} cancelled after {:.0f} ms (budgets.warmup_timeout_ms {})",
                     catalog_.record(load.model).name, load_ms, timeout_ms);
        outbox_.completions->push({load.arm_id, load.model, load.ticket, false, load_ms, 0});
    }
    return expired.size();
}

void LoadWorkers::start_unload(uint32_t arm_id, warmup_model_index model, uint64_t ticket) {
    const ModelRecord& record = catalog_.record(model);
    auto backend = backend_;
    auto load_order = load_order_;
    load_order->unload_began(model);  // counted from now: a listing started after this sees the unload
    calls_pending_.fetch_add(1);
    arena_.enqueue(group_->defer([this, &record, backend, load_order, arm_id, model, ticket] {
        const PendingCall pending(calls_pending_);
        // Watched from the backend call (budgets.unload_timeout_ms), not from the submission: the worker slots are
        // shared with loads that may run for minutes, and an unload waiting for one is not overdue, it has not
        // been asked of the backend yet.
        const uint64_t serial = unload_starting(arm_id, model, ticket);
        const auto failed = unload_now(*backend, record);
        unload_returned(serial, record, failed.has_value());
        // Ended before it is reported: a listing that starts once the engine knows sees no unload running.
        load_order->unload_ended(model);
        report_unload({arm_id, model, ticket, !failed.has_value(), failed.value_or(std::string())});
    }));
}

uint64_t LoadWorkers::unload_starting(uint32_t arm_id, warmup_model_index model, uint64_t ticket) {
    std::lock_guard lock(running_mutex_);
    const uint64_t serial = ++next_serial_;
    unloads_running_.emplace(serial, RunningUnload{arm_id, model, ticket, std::chrono::steady_clock::now(), false});
    return serial;
}

void LoadWorkers::unload_returned(uint64_t serial, const ModelRecord& record, bool failed) {
    RunningUnload unload;
    {
        std::lock_guard lock(running_mutex_);
        const auto found = unloads_running_.find(serial);
        if (found == unloads_running_.end()) return;
        unload = found->second;
        unloads_running_.erase(found);
    }
    if (!unload.timed_out) return;
    const double unload_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - unload.started).count();
    spdlog::warn("MODEL_UNLOAD_RETURNED unload of {} {} after {:.0f} ms, past its deadline; its memory is settled now",
                 record.name, failed ? "failed" : "returned", unload_ms);
}

std::vector<RunningUnload> LoadWorkers::expire_unloads(int64_t timeout_ms) {
    const auto now = std::chrono::steady_clock::now();
    std::vector<RunningUnload> expired;
    std::lock_guard lock(running_mutex_);
    for (auto& [serial, unload] : unloads_running_) {
        if (unload.timed_out || now - unload.started <= std::chrono::milliseconds(timeout_ms)) continue;
        unload.timed_out = true;
        expired.push_back(unload);
    }
    return expired;
}

std::vector<RunningUnload> LoadWorkers::timed_out_unloads() {
    std::vector<RunningUnload> stuck;
    std::lock_guard lock(running_mutex_);
    for (const auto& [serial, unload] : unloads_running_)
        if (unload.timed_out) stuck.push_back(unload);
    return stuck;
}

void LoadWorkers::start_listing() {
    {
        std::lock_guard lock(listing_mutex_);
        listings_wanted_.push_back(backend_);  // a hot-swap may replace backend_; this listing keeps the one asked
        listing_thread_stopping_ = false;
    }
    if (!listing_thread_.joinable()) listing_thread_ = std::thread([this] { listing_loop(); });
    listing_wanted_.notify_one();
}

void LoadWorkers::stop_listing_thread() {
    {
        std::lock_guard lock(listing_mutex_);
        listing_thread_stopping_ = true;
    }
    listing_wanted_.notify_one();
    if (listing_thread_.joinable()) listing_thread_.join();
}

void LoadWorkers::listing_loop() {
    std::unique_lock lock(listing_mutex_);
    while (true) {
        listing_wanted_.wait(lock, [this] { return !listings_wanted_.empty() || listing_thread_stopping_; });
        if (listings_wanted_.empty()) return;  // stopping, and every listing asked for has run
        const std::shared_ptr<PluginInstance> backend = std::move(listings_wanted_.front());
        listings_wanted_.pop_front();
        listing_now_ = true;
        lock.unlock();
        list_resident_now(*backend);
        lock.lock();
        listing_now_ = false;
    }
}

void LoadWorkers::list_resident_now(const PluginInstance& backend) {
    ResidentListing listing;
    listing.backend = backend.label();
    try {
        const auto before = load_order_->unload_activity();
        const ListResidentFn list = list_resident_of(backend);
        if (list == nullptr) {
            listing.result = ResidentListing::Result::Unsupported;
            listing.error = "the backend cannot list what its server holds (ABI 1.0, or no list_resident)";
        } else {
            const warmup_resident_model_writer writer{
                &listing, [](void* context, const warmup_resident_model* model) {
                    auto* out = static_cast<ResidentListing*>(context);
                    if (model == nullptr || model->name.data == nullptr) return 0;
                    const double memory_mb =
                        WARMUP_HAS_FIELD(model, warmup_resident_model, memory_mb) ? model->memory_mb : 0.0;
                    out->models.emplace_back(std::string(model->name.data, model->name.size), memory_mb);
                    return 0;
                }};
            warmup_error* error = nullptr;
            {
                const auto in_call = backend.marked("list_resident");
                error = list(backend.self(), &writer);
            }
            if (error == nullptr) {
                listing.result = ResidentListing::Result::Listed;
            } else {
                ErrorPtr owned(error);
                listing.result = owned->code == WARMUP_ERROR_UNSUPPORTED ? ResidentListing::Result::Unsupported
                                                                         : ResidentListing::Result::Failed;
                listing.error = std::string(status_name(owned->code)) + ": " + owned->message;
                listing.models.clear();
            }
        }
        // An unload that ran at any moment while the server was asked leaves that model undecided.
        const auto after = load_order_->unload_activity();
        for (const auto& [model, counts] : after) {
            const auto earlier = before.find(model);
            const bool running = counts.first != counts.second ||
                                 (earlier != before.end() && earlier->second.first != earlier->second.second);
            if (running || earlier == before.end() || earlier->second.first != counts.first)
                listing.unloads_meanwhile.insert(model);
        }
    } catch (const std::exception& error) {
        // Out of memory while copying the answer: this round fails, as with an unreachable server; the runtime, which
        // asks for no other listing until this one is answered, is answered all the same.
        listing.result = ResidentListing::Result::Failed;
        listing.error = std::string("INTERNAL: ") + error.what();
        listing.models.clear();
        listing.unloads_meanwhile.clear();
    }
    outbox_.listings->push(std::move(listing));
    outbox_.wake();
}

std::optional<std::string> LoadWorkers::unload_now(const PluginInstance& backend, const ModelRecord& record) {
    warmup_model_info info = record.to_info();
    warmup_error* error = nullptr;
    {
        const auto in_call = backend.marked("unload");
        error = backend.vtable<warmup_backend_vtable>()->unload(backend.self(), &info);
    }
    if (error == nullptr) return std::nullopt;
    ErrorPtr owned(error);
    spdlog::warn("MODEL_UNLOAD_ERROR backend {} could not unload {}: {}", backend.label(), record.name, owned->message);
    return std::string(owned->message);
}

void LoadWorkers::report_unload(UnloadCompletion completion) const {
    if (!completion.succeeded && outbox_.backend_error)
        outbox_.backend_error(
            fmt::format("unload of {}: {}", catalog_.record(completion.model).name, completion.error));
    if (outbox_.unload_completions == nullptr) return;
    outbox_.unload_completions->push(std::move(completion));
    outbox_.wake();
}

}  // namespace warmup::host
