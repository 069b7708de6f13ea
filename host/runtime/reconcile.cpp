// runtime/reconcile.cpp — reconciliation of the acting arms' books with what the backend's server really holds: a
// listing every reconcile.interval_ms (on the workers' listing thread, never in a load's slot), applied on the control
// thread with its drift counted and logged.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <unordered_set>

#include "core/usage_event.hpp"
#include "core/utf8.hpp"
#include "runtime/live_runtime.hpp"
#include "runtime/live_runtime_support.hpp"

namespace warmup::host {
namespace {

/// After a failed unload the server is listed this much later (or at the next interval, if sooner).
constexpr auto kListingAfterFailedUnload = std::chrono::seconds(2);

}  // namespace

void LiveRuntime::maybe_start_reconcile(std::chrono::steady_clock::time_point now) {
    const int64_t interval_ms = reconcile_interval_ms_.load();
    // Failed unloads waiting for a listing that will not come (a reload turned reconciliation off after they failed)
    // are released, as they are when one fails with it off: else their memory would stay charged for ever.
    if (interval_ms <= 0 && !unload_failed_models_.empty())
        release_unsettled_unloads(WARMUP_NO_MODEL,
                                  "reconcile.interval_ms is 0, so nothing checks; turn reconciliation on to have such "
                                  "models charged and unloaded again");
    // Nothing lists the server any more: what the last listing said of other clients' models is not known to hold.
    if (interval_ms <= 0 && !foreign_models_.empty()) note_foreign_models({});
    if (interval_ms <= 0 || reconcile_in_flight_ || !workers_) return;
    // A backend that said it can never list is not asked again; a hot-swapped backend is asked afresh.
    if (reconcile_unsupported_ && reconcile_unsupported_backend_ == workers_->backend().get()) return;
    const bool early = reconcile_early_ && now >= *reconcile_early_;
    if (!early && reconcile_last_start_ != std::chrono::steady_clock::time_point{} &&
        now - reconcile_last_start_ < std::chrono::milliseconds(interval_ms))
        return;
    reconcile_last_start_ = now;
    reconcile_early_.reset();
    reconcile_in_flight_ = true;
    reconcile_unsupported_ = false;
    reconcile_sequences_.clear();
    for (const auto& arm : arms_) reconcile_sequences_[arm->id] = arm->engine->residency_sequence();
    workers_->start_listing();
}

bool LiveRuntime::take_unload_completions() {
    bool worked = false;
    UnloadCompletion completion;
    while (unload_completions_.try_pop(completion)) {
        worked = true;
        // The engine that charges the unload holds its memory until now: the arm that started it, or the one a
        // reload handed it to when it stopped that arm (hand_over_unloads).
        if (completion.ticket != UnloadCompletion::kNoTicket) {
            const auto [arm, ticket] = unload_owner(completion.arm_id, completion.ticket, /*consume=*/true);
            if (arm != nullptr)
                arm->engine->on_unload_finished(completion.model, ticket, completion.succeeded, clock_.now_ms());
        }
        if (completion.succeeded) continue;
        unloads_failed_.fetch_add(1);
        unload_failed_models_[completion.model] = completion.error;
        if (reconcile_interval_ms_.load() <= 0) {
            release_unsettled_unloads(completion.model,
                                      "reconcile.interval_ms is 0, so nothing checks; turn reconciliation on to have "
                                      "such models charged and unloaded again");
            continue;
        }
        if (reconcile_unsupported_ && workers_ && reconcile_unsupported_backend_ == workers_->backend().get()) {
            release_unsettled_unloads(completion.model, "the backend cannot list what its server holds");
            continue;
        }
        // The engine keeps the model's memory charged: the server may still hold it. A listing soon (not at once: a
        // server that refuses every unload is asked at most every few seconds) settles it: charged again as found if
        // the model is still there (and unloaded again when its keep says so), released if it is gone.
        const auto soon = std::chrono::steady_clock::now() + kListingAfterFailedUnload;
        if (!reconcile_early_ || soon < *reconcile_early_) reconcile_early_ = soon;
    }
    return worked;
}

void LiveRuntime::release_unsettled_unloads(warmup_model_index model, const char* why) {
    const warmup_time_ms now_ms = clock_.now_ms();
    for (auto& arm : arms_)
        if (arm->mode != LiveArm::Mode::Shadow) arm->engine->release_failed_unloads(model, now_ms);
    for (auto failed = unload_failed_models_.begin(); failed != unload_failed_models_.end();) {
        if (model != WARMUP_NO_MODEL && failed->first != model) {
            ++failed;
            continue;
        }
        spdlog::warn("MODEL_UNLOAD_ERROR {} may still be on the server, outside the budget: {}",
                     catalog_.record(failed->first).name, why);
        failed = unload_failed_models_.erase(failed);
    }
}

void LiveRuntime::note_backend_error(const std::string& error) {
    std::lock_guard lock(backend_trouble_mutex_);
    ++backend_errors_;
    backend_last_error_ = error;
    backend_last_error_unix_ms_ = unix_now_ms();
}

void LiveRuntime::note_foreign_models(std::map<std::string, double> foreign) {
    // Another client's models on the server take memory this host cannot unload and does not know by name: each is
    // said once when it appears and once when it goes, and their memory is taken off the budget while they stay (a
    // budget the books alone would fill while the server is already full of them). A server that reports no size for
    // them (Triton) leaves the budget as it is; the line says so.
    for (const auto& [name, memory_mb] : foreign)
        if (!foreign_models_.contains(name)) {
            drift_foreign_.fetch_add(1);
            spdlog::warn(
                "RECONCILE_FOREIGN model='{}': the server holds it and no catalog entry covers it (another client "
                "loaded it); {} (add a catalog entry for it to have it managed)",
                name,
                memory_mb > 0 ? fmt::format("its {:.0f} MiB are taken off this host's budget while it stays", memory_mb)
                              : std::string("the server reports no size for it, so the budget is unchanged"));
        }
    for (const auto& [name, memory_mb] : foreign_models_)
        if (!foreign.contains(name))
            spdlog::info("RECONCILE_FOREIGN_GONE model='{}': no longer on the server{}", name,
                         memory_mb > 0 ? fmt::format("; its {:.0f} MiB are this host's budget again", memory_mb) : "");
    double total_mb = 0;
    for (const auto& [name, memory_mb] : foreign) total_mb += memory_mb;
    foreign_models_ = std::move(foreign);
    if (total_mb == foreign_mb_.load()) return;
    const bool had_room = foreign_mb_.load() < configured_budget_mb_;
    foreign_mb_.store(total_mb);
    if (total_mb >= configured_budget_mb_ && had_room)
        spdlog::error(
            "RECONCILE_FOREIGN the models no catalog entry covers hold {:.0f} MiB, the whole budget of {:.0f} MiB: "
            "this host loads nothing until they leave (its loaded models are evicted, its loads given up)",
            total_mb, configured_budget_mb_);
    assign_budgets(configured_budget_mb_);  // a smaller budget evicts at once
}

void LiveRuntime::apply_reconcile(const ResidentListing& listing) {
    reconcile_in_flight_ = false;
    if (listing.result == ResidentListing::Result::Unsupported) {
        reconcile_unsupported_ = true;
        reconcile_unsupported_backend_ = workers_->backend().get();
        spdlog::info("RECONCILE_OFF backend {}: {}; the host keeps trusting its own books", listing.backend,
                     listing.error);
        note_foreign_models({});  // nothing lists the server: other clients' models are no longer known
        // The failed unloads waiting for this listing will not be settled by any.
        release_unsettled_unloads(WARMUP_NO_MODEL, "the backend cannot list what its server holds");
        return;
    }
    if (listing.result == ResidentListing::Result::Failed) {
        reconcile_failures_.fetch_add(1);
        note_backend_error("listing: " + listing.error);
        spdlog::warn("RECONCILE_ERROR backend {} could not list what its server holds: {}; nothing changed",
                     listing.backend, listing.error);
        return;
    }
    std::vector<ReportedResident> resident;
    std::map<std::string, double> foreign;  // listed, and covered by no catalog entry
    for (const auto& [name, memory_mb] : listing.models) {
        // A listed name passes the check a posted event's model passes (not empty, valid UTF-8, no control
        // character) before the catalog may take it: what is in the catalog is written to answers, logs, the
        // decision log and the state files as it is.
        if (const auto problem = model_name_problem(name)) {
            spdlog::debug("RECONCILE server holds '{}', which is not a model name the daemon accepts ({}): ignored",
                          escape_invalid_utf8(name), *problem);
            continue;
        }
        auto model = catalog_.resolve(name, Catalog::Registration::within_limit);
        // Ollama lists a model pulled without a tag as "<name>:latest", which a catalog may name without it.
        constexpr std::string_view kDefaultTag = ":latest";
        if (!model && name.ends_with(kDefaultTag))
            model =
                catalog_.resolve(name.substr(0, name.size() - kDefaultTag.size()), Catalog::Registration::within_limit);
        if (!model) {
            foreign[name] += std::isfinite(memory_mb) && memory_mb > 0 ? memory_mb : 0.0;
            continue;
        }
        resident.push_back({*model, memory_mb});
    }
    const warmup_time_ms now_ms = clock_.now_ms();
    // Shadow arms never load: only acting arms (the control arm first) have books to reconcile. A model is adopted
    // by the control arm, and only when no other acting arm holds or loads it.
    std::unordered_set<warmup_model_index> held_by_other_arms;
    for (std::size_t i = 1; i < arms_.size(); ++i) {
        if (arms_[i]->mode != LiveArm::Mode::Acting) continue;
        for (const ReportedResident& entry : resident)
            if (arms_[i]->engine->model_status(entry.model).residency != WARMUP_RESIDENCY_ABSENT)
                held_by_other_arms.insert(entry.model);
    }
    for (const auto& arm : arms_) {
        if (arm->mode == LiveArm::Mode::Shadow) continue;
        const auto sequence = reconcile_sequences_.find(arm->id);
        if (sequence == reconcile_sequences_.end()) continue;  // an arm started after the listing began
        const bool is_control = arm->mode == LiveArm::Mode::Control;
        std::unordered_set<warmup_model_index> unsure = listing.unloads_meanwhile;
        if (is_control) unsure.insert(held_by_other_arms.begin(), held_by_other_arms.end());
        const ReconcileOutcome outcome =
            arm->engine->reconcile(resident, sequence->second, unsure, /*adopt=*/is_control, now_ms);
        const auto memory_of = [&](warmup_model_index model) { return arm->engine->model_status(model).memory_mb; };
        for (const warmup_model_index model : outcome.adopted) {
            if (const auto failed = unload_failed_models_.find(model); failed != unload_failed_models_.end())
                spdlog::warn(
                    "RECONCILE_DRIFT kind=adopted model={} arm={}: still resident on the server, its unload failed "
                    "({}); charged again at {:.0f} MiB, and unloaded again when its keep says so",
                    catalog_.record(model).name, arm->name, failed->second, memory_of(model));
            else
                spdlog::warn(
                    "RECONCILE_DRIFT kind=adopted model={} arm={}: resident on the server but not in the host's "
                    "books (loaded by another client); adopted into the budget at {:.0f} MiB",
                    catalog_.record(model).name, arm->name, memory_of(model));
        }
        for (const warmup_model_index model : outcome.gone)
            spdlog::warn(
                "RECONCILE_DRIFT kind=gone model={} arm={}: in the host's books but no longer on the server "
                "(unloaded behind the host's back); marked unloaded, its next request is a cold start",
                catalog_.record(model).name, arm->name);
        if (is_control) {
            // Settled by this listing: adopted back, or not on the server (the unload went through after all). A
            // model the listing was unsure of waits for the next one.
            for (auto failed = unload_failed_models_.begin(); failed != unload_failed_models_.end();)
                failed = unsure.count(failed->first) == 0 ? unload_failed_models_.erase(failed) : std::next(failed);
        }
        drift_adopted_.fetch_add(outcome.adopted.size());
        drift_gone_.fetch_add(outcome.gone.size());
        arm->engine->flush_metrics();
    }
    // After the books took this listing's adopted and gone models: a budget lowered now evicts from what is there.
    note_foreign_models(std::move(foreign));
}

}  // namespace warmup::host
