// runtime/experiment_arms.cpp — the arms of a live experiment: building them (an unchanged arm keeps running),
// sharing the memory budget by weight, and routing each event to its arm by a stable hash of its tenant or model.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string_view>
#include <tuple>
#include <utility>

#include "core/fnv1a.hpp"
#include "runtime/live_runtime.hpp"
#include "runtime/state_sections.hpp"

namespace warmup::host {
namespace {

uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/// The split's hash of a model name. Its start value is not FNV's offset basis but has always been this one: kept, so
/// each model stays in the arm it was split to across upgrades.
uint64_t split_hash(std::string_view text) { return fnv1a64(text, 1469598103934665603ULL); }

}  // namespace

std::vector<Arm> live_experiment_arms(const Config& config) {
    std::vector<Arm> arms;
    if (!config.experiment.enabled) return arms;
    for (std::size_t i = 0; i < config.arms.size(); ++i) {
        const Arm& arm = config.arms[i];
        const std::string where = config.locate(fmt::format("arms[{}]", i));
        if (!arm.yardstick.empty())
            throw StartupError(fmt::format("{}: arms: '{}' is a clairvoyant yardstick: it only runs in warmup-replay",
                                           where, arm.name));
        if (arm.name != "control") {
            arms.push_back(arm);
            continue;
        }
        // warmupd always runs the top-level components as the arm named control; a listed arm of that name (as in a
        // replay's configuration) is that arm, and a second one under the same name would merge their counters.
        if (arm.shadow || arm.components != config.components)
            throw StartupError(fmt::format(
                "{}: arms: 'control' is the top-level components' arm in warmupd; give an arm with other components "
                "or `shadow: true` another name",
                where));
        if (arm.weight_given && arm.weight != config.experiment.control_weight)
            throw StartupError(
                fmt::format("{}: arms: the control arm's share is experiment.control_weight ({:g}), "
                            "not the listed arm's weight ({:g})",
                            where, config.experiment.control_weight, arm.weight));
    }
    return arms;
}

EngineCounters LiveArm::counted_in_experiment() const { return counters_since(engine->counters(), counted_from); }

std::unique_ptr<LiveArm> LiveRuntime::make_arm(const Arm& definition, LiveArm::Mode mode, const Config& config) {
    auto arm = std::make_unique<LiveArm>();
    arm->id = next_arm_id_++;
    arm->name = definition.name;
    arm->mode = mode;
    arm->weight = mode == LiveArm::Mode::Control ? config.experiment.control_weight : definition.weight;
    arm->definition = definition;
    arm->plugins = PluginSet::create(definition.components, config, loader_, catalog_, clock_, nullptr,
                                     /*allow_loaded_ids=*/mode != LiveArm::Mode::Control);
    if (mode == LiveArm::Mode::Shadow) {
        arm->executor = std::make_unique<ShadowExecutor>(catalog_);
    } else {
        auto executor = std::make_unique<ArmExecutor>(workers_, arm->name);
        executor->set_arm_id(arm->id);
        arm->executor = std::move(executor);
    }
    return arm;
}

std::vector<std::unique_ptr<LiveArm>> LiveRuntime::build_experiment_arms(
    const Config& config, std::vector<std::unique_ptr<LiveArm>>& current) {
    std::vector<std::unique_ptr<LiveArm>> arms;
    const std::vector<Arm> definitions = live_experiment_arms(config);
    // First every new or changed arm is made, and only then are the unchanged ones moved out of `current`: an arm
    // that fails to start (it throws) leaves `current` whole, for the caller to put back in force.
    constexpr std::size_t kMade = static_cast<std::size_t>(-1);
    std::vector<std::size_t> kept(definitions.size(), kMade);  // per definition: its index in `current`, or kMade
    std::vector<bool> taken(current.size(), false);
    std::vector<std::unique_ptr<LiveArm>> made(definitions.size());
    for (std::size_t i = 0; i < definitions.size(); ++i) {
        const Arm& definition = definitions[i];
        // An arm whose definition did not change keeps running (its engine and what it learned).
        for (std::size_t j = 0; j < current.size(); ++j) {
            const auto& arm = current[j];
            if (!taken[j] && arm && arm->mode != LiveArm::Mode::Control && arm->name == definition.name &&
                arm->definition.components == definition.components && arm->definition.shadow == definition.shadow) {
                kept[i] = j;
                taken[j] = true;
                break;
            }
        }
        if (kept[i] == kMade)
            made[i] = make_arm(definition, definition.shadow ? LiveArm::Mode::Shadow : LiveArm::Mode::Acting, config);
    }
    for (std::size_t i = 0; i < definitions.size(); ++i) {
        if (kept[i] == kMade) {
            arms.push_back(std::move(made[i]));
            continue;
        }
        std::unique_ptr<LiveArm>& arm = current[kept[i]];
        arm->weight = definitions[i].weight;
        arm->definition = definitions[i];
        arms.push_back(std::move(arm));
    }
    return arms;
}

void LiveRuntime::assign_budgets(double configured_mb) {
    // [control or before start] Acting arms share the budget by weight; a shadow arm simulates the whole budget.
    // What the server holds for other clients (models no catalog entry covers) is not this host's to use.
    configured_budget_mb_ = configured_mb;
    const double total_mb = std::max(0.0, configured_mb - foreign_mb_.load());
    double acting_weight = 0;
    for (const auto& arm : arms_)
        if (arm->mode != LiveArm::Mode::Shadow) acting_weight += arm->weight;
    acting_.clear();
    acting_cumulative_.clear();
    double cumulative = 0;
    std::vector<std::string> names;
    for (std::size_t i = 0; i < arms_.size(); ++i) {
        names.push_back(arms_[i]->name);
        LiveArm& arm = *arms_[i];
        const double budget_mb = arm.mode == LiveArm::Mode::Shadow ? total_mb : total_mb * arm.weight / acting_weight;
        if (arm.engine == nullptr) {
            EngineOptions options;
            options.memory_budget_mb = budget_mb;
            options.max_concurrent_loads = config_.max_concurrent_warmups;
            options.arm = arm.name;  // "control" for the top-level set, with or without an experiment
            options.decisions = &decisions_;
            options.call_watch = &call_watch_;
            ComponentSet components = arm.plugins->component_set();
            components.metrics = arms_.front()->plugins->component_set().metrics;  // one sink, arm-labelled
            arm.engine = std::make_unique<WarmupEngine>(components, *arm.executor, catalog_, options);
            // An arm started by a reload during an emergency stop is stopped like the others until it is lifted.
            if (i > 0 && arms_.front()->engine->stopped()) arm.engine->emergency_stop(clock_.now_ms());
        } else {
            arm.engine->set_memory_budget_mb(budget_mb, clock_.now_ms());  // a smaller budget evicts at once
        }
        if (arm.mode != LiveArm::Mode::Shadow) {
            cumulative += arm.weight / acting_weight;
            acting_.push_back(i);
            acting_cumulative_.push_back(cumulative);
        }
    }
    std::lock_guard lock(arm_names_mutex_);
    arm_names_ = std::move(names);
}

void LiveRuntime::route(const warmup_usage_event& event, std::vector<std::vector<warmup_usage_event>>& per_arm) const {
    for (std::size_t i = 0; i < arms_.size(); ++i)
        if (arms_[i]->mode == LiveArm::Mode::Shadow) per_arm[i].push_back(event);
    if (acting_.size() == 1) {
        per_arm[acting_.front()].push_back(event);
        return;
    }
    // Stable split: the same tenant (or model) always lands in the same arm while the weights stay the same. An event
    // without a tenant is split by its model: tenant-less traffic (the Prometheus and tail sources without a tenant
    // field) would otherwise all hash alike and go to one arm.
    const uint64_t key = experiment_.split == "model" || event.tenant_hash == 0
                             ? split_hash(catalog_.record(event.model).name)
                             : static_cast<uint64_t>(event.tenant_hash);
    per_arm[acting_arm_for(key)].push_back(event);
}

std::size_t LiveRuntime::acting_arm_for(uint64_t key) const {
    const double u = static_cast<double>(mix64(key) >> 11) * 0x1.0p-53;
    std::size_t pick = 0;
    while (pick + 1 < acting_cumulative_.size() && u >= acting_cumulative_[pick]) ++pick;
    return acting_[pick];
}

std::size_t LiveRuntime::arm_serving(warmup_model_index model) const {
    // Split by model: the arm its events go to. Split by tenant, every acting arm may serve it: the first (the
    // control arm unless it is a shadow).
    if (acting_.size() > 1 && experiment_.split == "model")
        return acting_arm_for(split_hash(catalog_.record(model).name));
    return acting_.front();
}

std::size_t LiveRuntime::hand_over_resident(const LiveArm& stopped) {
    std::map<std::size_t, std::vector<ReportedResident>> by_arm;
    for (warmup_model_index model = 0; model < stopped.engine->model_count(); ++model) {
        const ModelStatus status = stopped.engine->model_status(model);
        if (status.residency == WARMUP_RESIDENCY_READY) by_arm[arm_serving(model)].push_back({model, status.memory_mb});
    }
    std::size_t handed = 0;
    for (const auto& [arm, models] : by_arm)
        handed += arms_[arm]->engine->adopt_resident(models, clock_.now_ms(), /*handed_over=*/true).size();
    return handed;
}

std::size_t LiveRuntime::hand_over_to_serving_arm(std::size_t arm, warmup_model_index model) {
    if (acting_.size() < 2 || experiment_.split != "model" || arms_[arm]->mode == LiveArm::Mode::Shadow) return 0;
    const std::size_t serving = arm_serving(model);
    if (serving == arm) return 0;
    const warmup_time_ms now_ms = clock_.now_ms();
    const auto handed = arms_[arm]->engine->hand_off_ready(model, now_ms);
    if (!handed) return 0;
    return arms_[serving]->engine->adopt_resident(std::span(&*handed, 1), now_ms, /*handed_over=*/true).size();
}

std::size_t LiveRuntime::hand_over_to_serving_arms() {
    if (acting_.size() < 2 || experiment_.split != "model") return 0;  // one arm serves every model
    std::size_t handed = 0;
    for (std::size_t arm = 0; arm < arms_.size(); ++arm)
        for (warmup_model_index model = 0; model < arms_[arm]->engine->model_count(); ++model)
            handed += hand_over_to_serving_arm(arm, model);
    return handed;
}

std::size_t LiveRuntime::hand_over_unloads(const LiveArm& stopped) {
    // The server holds a model until its unload returns, whichever arm asked for it: the memory stays charged to the
    // budget (now to the arm serving the model) until then, or the arms that share the budget would count it free
    // while the server still holds it. A running unload's one answer is routed to its new owner; a failed one was
    // answered already and waits for a listing, which settles it in its new owner's books (reconcile).
    const warmup_time_ms now_ms = clock_.now_ms();
    std::size_t handed = 0;
    for (const PendingUnload& unload : stopped.engine->pending_unloads()) {
        LiveArm& owner = *arms_[arm_serving(unload.model)];
        const uint64_t ticket = owner.engine->adopt_unload(unload, now_ms);
        if (!unload.failed) unload_handovers_[{stopped.id, unload.ticket}] = {owner.id, ticket};
        ++handed;
    }
    return handed;
}

std::pair<LiveArm*, uint64_t> LiveRuntime::unload_owner(uint32_t arm_id, uint64_t ticket, bool consume) {
    // Each hand-over goes from a stopped arm to one running then, and arm ids are never reused: the chain ends.
    while (true) {
        for (auto& arm : arms_)
            if (arm->id == arm_id) return {arm.get(), ticket};
        const auto found = unload_handovers_.find({arm_id, ticket});
        if (found == unload_handovers_.end()) return {nullptr, 0};
        std::tie(arm_id, ticket) = found->second;
        if (consume) unload_handovers_.erase(found);
    }
}

}  // namespace warmup::host
