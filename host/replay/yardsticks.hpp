// replay/yardsticks.hpp — the clairvoyant reference arms of warmup-replay. They see future arrivals, so they are
// yardsticks, not policies:
//   oracle      — never unloads on its own; evicts the ready model whose next request is farthest away (Belady);
//                 loads each model exactly its load time before its next request when that fits by evicting only
//                 models needed later than it.
//   oracle-lean — the same, but unloads a model right after use when its next request is more than one load time
//                 away: the least memory a zero-cold-start policy needs.
// They are written with the SDK like any plugin and run through the same engine; only their construction differs
// (in process, with access to the future).
//
// Also here, the two in-host components of the compulsory floor (the hidden arm that counts the cold requests no
// online policy avoids): a keep-forever predictor and a resource plugin for an unlimited budget. They see no future.
#pragma once

#include <memory>
#include <set>
#include <vector>
#include <warmup/sdk/plugin.hpp>

#include "core/catalog.hpp"
#include "core/host_services.hpp"
#include "engine/warmup_engine.hpp"

namespace warmup::host::replay {

/// Every model's distinct arrival times, for look-ups of "the next request after t". Built once before the replay
/// (8 bytes per distinct (model, time) pair: the one part of warmup-replay whose memory grows with the trace).
class FutureIndex {
  public:
    void add(warmup_model_index model, int64_t ts_ms);  ///< in non-decreasing time order per model
    /// The first arrival of `model` strictly after `ts_ms`, or WARMUP_TIME_NEVER.
    [[nodiscard]] int64_t next_after(warmup_model_index model, int64_t ts_ms) const;
    [[nodiscard]] std::size_t arrivals() const noexcept { return total_; }

  private:
    std::vector<std::vector<int64_t>> arrivals_;
    std::size_t total_ = 0;
};

/// A plugin object created in this process (no shared library) and destroyed with it.
class InProcessPlugin {
  public:
    template <class T, class... Args>
    static std::unique_ptr<InProcessPlugin> make(Catalog& catalog, const Clock& clock, std::string label,
                                                 Args&&... args) {
        auto plugin = std::unique_ptr<InProcessPlugin>(new InProcessPlugin());
        plugin->services_ = std::make_unique<HostServices>(catalog, clock, label);
        plugin->object_ = std::make_unique<T>(sdk::Host(plugin->services_->raw()), std::forward<Args>(args)...);
        plugin->vtable_ = &sdk::detail::VTable<T, T::kKind>::table;
        plugin->label_ = std::move(label);
        return plugin;
    }
    template <class VTable>
    [[nodiscard]] Component<VTable> component() const {
        return {static_cast<const VTable*>(vtable_), static_cast<sdk::PluginBase*>(object_.get()), label_};
    }

  private:
    InProcessPlugin() = default;
    std::unique_ptr<HostServices> services_;
    std::unique_ptr<sdk::PluginBase> object_;
    const void* vtable_ = nullptr;
    std::string label_;
};

/// Predicts the true next arrival. keep_until: NEVER (oracle) or, for oracle-lean, the last use when the next request
/// is more than one load time away (else the next request).
class OraclePredictor final : public sdk::Predictor {
  public:
    OraclePredictor(sdk::Host host, const FutureIndex& future, bool lean);
    void predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) override;

  private:
    const FutureIndex& future_;
    bool lean_;
};

/// The floor's predictor: a used model is kept forever (keep_until NEVER), nothing is ever pre-warmed. Stateless.
class KeepForeverPredictor final : public sdk::Predictor {
  public:
    using sdk::Predictor::Predictor;
    void predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) override;
};

/// The floor's resource plugin: its budget is unlimited, so every load is admitted and nothing is ever a victim.
/// Unlike the shipped policies it applies no host memory limit. Stateless.
class UnlimitedResource final : public sdk::Resource {
  public:
    using sdk::Resource::Resource;
    void admit(const warmup_admission_request& request, warmup_admission& out) override;
    void on_ready(warmup_model_index, double, double, warmup_time_ms) override {}
    void on_used(warmup_model_index, warmup_time_ms) override {}
    void on_removed(warmup_model_index, warmup_time_ms) override {}
    warmup_model_index pick_victim(warmup_time_ms) override { return WARMUP_NO_MODEL; }
};

/// Loads exactly load_ms before the predicted arrival; no margin, no retries beyond the first failure's back-off.
class OracleScheduler final : public sdk::Scheduler {
  public:
    using sdk::Scheduler::Scheduler;
    void plan(const warmup_plan_input& input, warmup_plan& out) override;
    warmup_time_ms on_warmup_failed(warmup_model_index model, uint32_t attempt, warmup_time_ms now_ms) override;
};

/// Belady eviction (farthest next request first) and pre-warm admission only when the room can be made from models
/// needed later than the one being loaded.
class OracleResource final : public sdk::Resource {
  public:
    OracleResource(sdk::Host host, const FutureIndex& future);
    void admit(const warmup_admission_request& request, warmup_admission& out) override;
    void on_ready(warmup_model_index model, double memory_mb, double load_ms, warmup_time_ms now_ms) override;
    void on_used(warmup_model_index model, warmup_time_ms now_ms) override;
    void on_removed(warmup_model_index model, warmup_time_ms now_ms) override;
    warmup_model_index pick_victim(warmup_time_ms now_ms) override;

  private:
    struct Ready {
        int64_t next_use_ms;
        warmup_model_index model;
        auto operator<=>(const Ready&) const = default;
    };
    void track(warmup_model_index model, int64_t next_use_ms);

    const FutureIndex& future_;
    std::set<Ready> by_next_use_;       // ascending next use; the victim is the last
    std::vector<int64_t> next_use_of_;  // per model, NEVER-1 when not ready
    std::vector<double> memory_of_;
    std::string reason_;
};

}  // namespace warmup::host::replay
