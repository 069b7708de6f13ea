#include "replay/replay_driver.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <tbb/parallel_for.h>
#include <time.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <future>
#include <limits>
#include <queue>

#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/tenant_hash.hpp"
#include "loader/plugin_loader.hpp"
#include "loader/plugin_set.hpp"
#include "replay/frontier.hpp"
#include "replay/stall_watch.hpp"
#include "replay/trace/trace.hpp"
#include "replay/virtual_executor.hpp"
#include "replay/yardsticks.hpp"

namespace warmup::host::replay {
namespace {

constexpr int64_t kNever = WARMUP_TIME_NEVER;
constexpr int64_t kTimelineResolutionMs = 600'000;  // recorded at 10-minute resolution, merged for the charts
constexpr std::size_t kChunkEvents = 1 << 17;
/// Failed plugin calls (and circuit openings) of one component of one arm logged one by one in a replay.
constexpr uint64_t kLoggedFailuresPerComponent = 10;

double thread_cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

/// Maps trace model ids to catalog indexes, registering models in the catalog on first sight.
class ModelMapping {
  public:
    ModelMapping(Catalog& catalog, const ModelNames& names, const Config& config)
        : catalog_(catalog), names_(names), config_(config) {}
    warmup_model_index operator()(uint32_t trace_model) {
        if (trace_model < to_catalog_.size() && to_catalog_[trace_model] != WARMUP_NO_MODEL)
            return to_catalog_[trace_model];
        if (trace_model >= to_catalog_.size()) to_catalog_.resize(trace_model + 1, WARMUP_NO_MODEL);
        const auto index = catalog_.resolve(names_.name(trace_model));
        if (!index)
            throw std::runtime_error(
                fmt::format("{}: catalog: no entry covers trace model '{}' (add it, a glob such as \"{}\", or \"*\")",
                            config_.locate("catalog"), names_.name(trace_model), glob_hint(names_.name(trace_model))));
        to_catalog_[trace_model] = *index;
        return *index;
    }

  private:
    static std::string glob_hint(const std::string& name) {
        const auto slash = name.rfind('/');
        return slash == std::string::npos ? name : name.substr(0, slash + 1) + "*";
    }
    Catalog& catalog_;
    const ModelNames& names_;
    const Config& config_;
    std::vector<warmup_model_index> to_catalog_;
};

/// One arm: its plugins, its virtual clock, its engine, its time series.
struct ArmRun {
    std::string name;
    std::string yardstick;
    int64_t frontier_ttl_ms = 0;  ///< > 0 for a keep-alive curve arm
    /// The hidden compulsory-floor arm (keep forever, unlimited memory): a request for a model that is ready and
    /// planned to stay ready forever is warm and changes nothing the floor measures, so it is not fed to the engine.
    bool compulsory_floor = false;
    std::vector<warmup_usage_event> unsettled;  // compulsory floor: the events of one timestamp it must see
    ManualClock clock;
    std::unique_ptr<PluginSet> plugins;
    std::vector<std::unique_ptr<InProcessPlugin>> in_process;
    std::unique_ptr<VirtualExecutor> executor;
    std::unique_ptr<WarmupEngine> engine;
    std::vector<std::string> plugin_labels;

    int64_t bucket_start_ms = kNever;
    uint64_t bucket_requests_base = 0;
    uint64_t bucket_cold_base = 0;
    double bucket_loaded_base = 0;
    std::vector<TimelineBucket> timeline;
    double cpu_seconds = 0;
    ArmProgress progress;  ///< read by the stall watch

    /// The arm at work on the calling thread for its lifetime (its progress says so to the stall watch).
    class AtWork {
      public:
        explicit AtWork(ArmProgress& progress) noexcept : progress_(progress) { progress_.enter(); }
        ~AtWork() { progress_.leave(); }
        AtWork(const AtWork&) = delete;
        AtWork& operator=(const AtWork&) = delete;

      private:
        ArmProgress& progress_;
    };

    /// Closes every timeline bucket that ends at or before t.
    void timeline_to(int64_t t) {
        if (bucket_start_ms == kNever) {
            bucket_start_ms = t - (t % kTimelineResolutionMs + kTimelineResolutionMs) % kTimelineResolutionMs;
            return;
        }
        while (t >= bucket_start_ms + kTimelineResolutionMs) {
            const int64_t end = bucket_start_ms + kTimelineResolutionMs;
            engine->settle(end);
            const auto& c = engine->counters();
            timeline.push_back({bucket_start_ms, kTimelineResolutionMs, c.requests - bucket_requests_base,
                                c.cold_requests - bucket_cold_base,
                                (c.loaded_mb_ms - bucket_loaded_base) / static_cast<double>(kTimelineResolutionMs)});
            bucket_requests_base = c.requests;
            bucket_cold_base = c.cold_requests;
            bucket_loaded_base = c.loaded_mb_ms;
            bucket_start_ms = end;
        }
    }

    /// Completions up to and including t, timers strictly before t, in time order (completions first on ties).
    void advance_to(int64_t t) {
        for (;;) {
            progress.step();
            const int64_t completion_ms = executor->next_completion_ms();
            // A plan may set a time that has already gone by (e.g. "unload right after the use" decided when the
            // load completes): such a timer fires now, never back in time, or a load would start in the past.
            const int64_t due_ms = engine->next_timer_ms();
            const int64_t timer_ms = due_ms == kNever ? kNever : std::max(due_ms, clock.now_ms());
            if (completion_ms <= t && completion_ms <= timer_ms) {
                timeline_to(completion_ms);
                clock.set(completion_ms);
                const auto done = executor->pop();
                engine->on_load_finished(done.model, done.ticket, done.succeeded, done.duration_ms, 0, done.done_ms);
                continue;
            }
            if (timer_ms < t) {
                timeline_to(timer_ms);
                clock.set(timer_ms);
                engine->run_timers(timer_ms);
                continue;
            }
            break;
        }
        timeline_to(t);
        clock.set(t);
    }

    void process(std::span<const warmup_usage_event> events) {
        const AtWork at_work(progress);
        const double started = thread_cpu_seconds();
        std::size_t i = 0;
        while (i < events.size()) {
            const int64_t t = events[i].ts_ms;
            std::size_t j = i + 1;
            while (j < events.size() && events[j].ts_ms == t) ++j;
            advance_to(t);
            if (compulsory_floor) {
                unsettled.clear();
                for (std::size_t k = i; k < j; ++k)
                    if (!settled(events[k].model)) unsettled.push_back(events[k]);
                if (!unsettled.empty()) engine->on_events(unsettled, t);
            } else {
                engine->on_events(events.subspan(i, j - i), t);
            }
            i = j;
        }
        engine->flush_metrics();
        cpu_seconds += thread_cpu_seconds() - started;
    }

    /// Ready, and no unload or pre-warm planned: with the floor's keep-forever predictor and unlimited budget nothing
    /// can remove it any more, so its later requests are all warm.
    [[nodiscard]] bool settled(warmup_model_index model) const {
        const ModelStatus status = engine->model_status(model);
        return status.residency == WARMUP_RESIDENCY_READY && status.unload_at_ms == kNever &&
               status.warm_start_at_ms == kNever;
    }

    void finish(int64_t end_ms) {
        const AtWork at_work(progress);
        const double started = thread_cpu_seconds();
        advance_to(end_ms);
        engine->run_timers(end_ms);
        engine->settle(end_ms);
        engine->account_resident_idle(end_ms);
        engine->flush_metrics();
        // The last bucket is partial: it ends with the replay. Settling past end_ms would add memory-time that
        // depends only on where the 10-minute grid falls.
        const auto& c = engine->counters();
        const int64_t width_ms = end_ms - bucket_start_ms;
        if (width_ms > 0 || c.requests > bucket_requests_base)
            timeline.push_back({bucket_start_ms, width_ms, c.requests - bucket_requests_base,
                                c.cold_requests - bucket_cold_base,
                                width_ms > 0 ? (c.loaded_mb_ms - bucket_loaded_base) / static_cast<double>(width_ms)
                                             : engine->used_mb()});
        cpu_seconds += thread_cpu_seconds() - started;
    }
};

std::vector<std::string> labels_of(const ComponentSet& set, const PluginSet& plugins) {
    std::vector<std::string> labels{
        "analyzer=" + set.analyzer.label,       "predictor=" + set.predictor.label,
        "performance=" + set.performance.label, "scheduler=" + set.scheduler.label,
        "resource=" + set.resource.label,       "queue=" + set.queue.label,
        "metrics=" + set.metrics.label,         "backend=" + plugins.at(ComponentSlot::Backend)->label()};
    return labels;
}

double nearest_rank(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

std::vector<TimelineBucket> downsample(const std::vector<TimelineBucket>& fine, uint32_t target) {
    if (fine.size() <= target || target == 0) return fine;
    const std::size_t group = (fine.size() + target - 1) / target;
    std::vector<TimelineBucket> coarse;
    for (std::size_t i = 0; i < fine.size(); i += group) {
        TimelineBucket bucket{fine[i].start_ms, 0, 0, 0, 0};
        double weighted = 0;
        for (std::size_t k = i; k < std::min(fine.size(), i + group); ++k) {
            bucket.width_ms += fine[k].width_ms;
            bucket.requests += fine[k].requests;
            bucket.cold_requests += fine[k].cold_requests;
            weighted += fine[k].mean_resident_mb * static_cast<double>(fine[k].width_ms);
        }
        bucket.mean_resident_mb = bucket.width_ms > 0 ? weighted / static_cast<double>(bucket.width_ms) : 0;
        coarse.push_back(bucket);
    }
    return coarse;
}

ArmResult summarize(ArmRun& arm, Catalog& catalog, uint32_t timeline_buckets) {
    const WarmupEngine& engine = *arm.engine;
    const EngineCounters& c = engine.counters();
    ArmResult r;
    r.name = arm.name;
    r.yardstick = arm.yardstick;
    r.frontier_curve = arm.frontier_ttl_ms > 0;
    r.frontier_ttl_ms = arm.frontier_ttl_ms;
    r.plugins = arm.plugin_labels;
    r.budget_mb = engine.budget_mb();
    r.events = c.events;
    r.requests = c.requests;
    r.cold_requests = c.cold_requests;
    r.failed_requests = c.failed_requests;
    r.cold_rate = c.requests == 0 ? 0 : static_cast<double>(c.cold_requests) / static_cast<double>(c.requests);
    constexpr double kMbMsPerGbH = 1024.0 * 3600.0 * 1000.0;
    std::vector<double> per_model;
    for (warmup_model_index model = 0; model < std::min(engine.model_count(), catalog.size()); ++model) {
        const ModelStatus s = engine.model_status(model);
        if (s.requests == 0) continue;
        per_model.push_back(static_cast<double>(s.cold_requests) / static_cast<double>(s.requests));
        r.per_model.push_back({catalog.record(model).name, s.requests, s.cold_requests, s.loaded_mb_ms / kMbMsPerGbH});
    }
    r.models_with_requests = per_model.size();
    r.per_model_cold_rate_p50 = nearest_rank(per_model, 50);
    r.per_model_cold_rate_p75 = nearest_rank(per_model, 75);
    r.per_model_cold_rate_p95 = nearest_rank(per_model, 95);
    r.demand_loads = c.demand_loads;
    r.loads_queued_for_memory = c.loads_queued_for_memory;
    r.cold_wait_total_s = engine.cold_waits_ms().sum() / 1000.0;
    r.cold_wait_p50_ms = engine.cold_waits_ms().percentile(50);
    r.cold_wait_p99_ms = engine.cold_waits_ms().percentile(99);
    r.loaded_gb_h = c.loaded_mb_ms / kMbMsPerGbH;
    r.idle_gb_h = c.idle_mb_ms / kMbMsPerGbH;
    r.prewarms_started = c.prewarms_started;
    r.prewarms_used = c.prewarms_used;
    r.prewarms_wasted = c.prewarms_wasted;
    r.precision = c.prewarms_used + c.prewarms_wasted == 0
                      ? 0
                      : static_cast<double>(c.prewarms_used) / static_cast<double>(c.prewarms_used + c.prewarms_wasted);
    r.idle_gap_requests = c.idle_gap_requests;
    r.idle_gap_prewarmed = c.idle_gap_prewarmed;
    r.recall = c.idle_gap_requests == 0
                   ? 0
                   : static_cast<double>(c.idle_gap_prewarmed) / static_cast<double>(c.idle_gap_requests);
    r.evictions = c.evictions;
    r.unloads = c.unloads;
    r.prewarms_skipped = c.prewarms_skipped;
    r.plugin_errors = c.plugin_errors + (arm.executor ? arm.executor->simulation_failures() : 0);
    r.timeline = downsample(arm.timeline, timeline_buckets);
    r.cpu_seconds = arm.cpu_seconds;
    r.decision_cpu_s_per_million_events = c.events == 0 ? 0 : arm.cpu_seconds / static_cast<double>(c.events) * 1e6;
    r.events_per_cpu_second = arm.cpu_seconds > 0 ? static_cast<double>(c.events) / arm.cpu_seconds : 0;
    return r;
}

/// A pass-through reader that also records what it reads (for the A95 and future-index pre-pass).
class RecordingReader final : public TraceReader {
  public:
    RecordingReader(TraceReader& inner, std::function<void(const TraceEvent&)> record)
        : inner_(inner), record_(std::move(record)) {}
    bool next(TraceEvent& out) override {
        if (!inner_.next(out)) return false;
        record_(out);
        return true;
    }
    [[nodiscard]] std::string describe() const override { return inner_.describe(); }

  private:
    TraceReader& inner_;
    std::function<void(const TraceEvent&)> record_;
};

class Progress {
  public:
    explicit Progress(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO) != 0) {}
    void update(uint64_t events, uint64_t total, int64_t span_ms) {
        if (!enabled_) return;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_ < std::chrono::milliseconds(250)) return;
        last_ = now;
        const double seconds = std::chrono::duration<double>(now - started_).count();
        const double rate = seconds > 0 ? static_cast<double>(events) / seconds : 0;
        if (total > 0) {
            const double share = std::min(1.0, static_cast<double>(events) / static_cast<double>(total));
            const int filled = static_cast<int>(share * 30);
            fmt::print(stderr, "\r[{:<30}] {:5.1f}%  {:.1f} M events  {:.1f} M events/s  ", std::string(filled, '#'),
                       share * 100, static_cast<double>(events) / 1e6, rate / 1e6);
        } else {
            fmt::print(stderr, "\r{:.1f} M events, {:.1f} days replayed, {:.1f} M events/s  ",
                       static_cast<double>(events) / 1e6, static_cast<double>(span_ms) / 86400000.0, rate / 1e6);
        }
    }
    void done() {
        if (enabled_) fmt::print(stderr, "\n");
    }

  private:
    bool enabled_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_{};
};

/// One arm to run: a configured arm, a keep-alive curve arm of the frontier, or the hidden compulsory floor.
struct ArmSpec {
    Arm arm;
    int64_t frontier_ttl_ms = 0;
    bool compulsory_floor = false;
};

/// The resource choice of a curve arm, from the configuration's: the configured one when it is LRU already (its
/// params, pin and path kept), otherwise LRU with those of the configured params it shares
/// (kKeepAliveCurveResourceParams) and the configured key_path, so an error in them points where they were written.
/// `configured.params_yaml` is a YAML map or "" (as the config loader re-emits it).
PluginChoice keepalive_curve_resource(const PluginChoice& configured) {
    if (configured.id == kKeepAliveCurveResourceId) return configured;
    PluginChoice lru{kKeepAliveCurveResourceId, {}, "", "", configured.key_path};
    if (configured.params_yaml.empty()) return lru;
    const YAML::Node params = YAML::Load(configured.params_yaml);
    if (!params.IsMap()) return lru;
    YAML::Node kept(YAML::NodeType::Map);
    for (const char* key : kKeepAliveCurveResourceParams)
        if (params[key]) kept[key] = params[key];
    if (kept.size() == 0) return lru;
    YAML::Emitter out;
    out << kept;
    lru.params_yaml = out.c_str();
    return lru;
}

/// A keep-alive timer of `ttl_ms` on the top-level components, evicting as the curve's timers do
/// (keepalive_curve_resource); `key_path` locates a plugin error about it (the frontier's config key, or "").
Arm keepalive_timer_arm(std::string name, int64_t ttl_ms, const Config& config, const std::string& key_path) {
    Arm arm{std::move(name), config.components, ""};
    arm.components[ComponentSlot::Predictor] =
        PluginChoice{kKeepAlivePredictorId, {}, fmt::format("ttl_ms: {}", ttl_ms), "", key_path};
    arm.components[ComponentSlot::Resource] = keepalive_curve_resource(config.components[ComponentSlot::Resource]);
    return arm;
}

/// What runs: the selected arms; with the frontier, one keep-alive arm per curve TTL on the top-level components
/// (evicting by LRU: keepalive_curve_resource); last, the hidden compulsory floor (keep forever, unlimited memory and
/// concurrency; never reported as an arm).
std::vector<ArmSpec> arm_specs(const Config& config, const ReplayOptions& options, bool frontier) {
    std::vector<Arm> arms = config.arms;
    // Without arms the top-level components run alone, under the name warmupd gives them: the control arm. A live
    // experiment's configuration (experiment.enabled) runs them first beside its arms, as warmupd does, unless an arm
    // of that name is listed.
    const bool control_listed =
        std::any_of(arms.begin(), arms.end(), [](const Arm& arm) { return arm.name == "control"; });
    if (arms.empty() || (config.experiment.enabled && !control_listed))
        arms.insert(arms.begin(), Arm{"control", config.components, ""});
    if (!options.only_arms.empty()) {
        // A name that matches no arm is refused, not skipped: a typo would otherwise drop an arm from the comparison.
        for (const std::string& wanted : options.only_arms) {
            if (std::none_of(arms.begin(), arms.end(), [&](const Arm& arm) { return arm.name == wanted; })) {
                std::string configured;
                for (const Arm& arm : arms) configured += (configured.empty() ? "" : ", ") + arm.name;
                throw std::invalid_argument(
                    fmt::format("--arms: no configured arm is named '{}' (configured: {})", wanted, configured));
            }
        }
        std::erase_if(arms, [&](const Arm& arm) {
            return std::find(options.only_arms.begin(), options.only_arms.end(), arm.name) == options.only_arms.end();
        });
    }
    std::vector<ArmSpec> specs;
    std::vector<std::string> names;
    for (Arm& arm : arms) {
        names.push_back(arm.name);
        specs.push_back({std::move(arm)});
    }
    if (frontier) {
        // A plugin error about a curve arm points at the config key, or at the file when --frontier asked for it.
        const std::string key_path = config.replay_frontier ? "replay.frontier" : "";
        for (const int64_t minutes : kKeepAliveCurveMinutes) {
            const int64_t ttl_ms = minutes * 60'000;
            Arm arm = keepalive_timer_arm(keepalive_curve_arm_name(minutes, names), ttl_ms, config, key_path);
            names.push_back(arm.name);
            specs.push_back({std::move(arm), ttl_ms});
        }
    }
    // Timers between the curve's points: the same components as a curve arm, reported as arms of their own.
    for (const double minutes : options.keep_alive_minutes) {
        Arm arm = keepalive_timer_arm(distinct_arm_name(fmt::format("keepalive-{:g}m", minutes), names),
                                      static_cast<int64_t>(std::llround(minutes * 60'000)), config, "");
        names.push_back(arm.name);
        specs.push_back({std::move(arm)});
    }
    specs.push_back({Arm{"compulsory-floor", config.components, ""}, 0, true});
    return specs;
}

/// What the pre-pass over the traces learned: the number of events and, for the yardsticks, every future arrival.
struct Prepass {
    FutureIndex future;
    uint64_t events = 0;
};

/// Pre-pass (only when needed): A95 for a relative budget, and the future arrivals for the yardsticks. Sets
/// report.a95_mb and report.budget_mb; throws when the budget is not positive.
Prepass measure_traces(const Config& config, const ReplayOptions& options, bool needs_future, ModelNames& models,
                       ModelNames& tenants, ModelMapping& to_catalog, Catalog& catalog, ReplayReport& report) {
    Prepass prepass;
    if (config.memory_budget.is_relative() || needs_future) {
        auto trace = open_traces(options, report.seed, models, tenants);
        RecordingReader recording(*trace, [&](const TraceEvent& event) {
            ++prepass.events;
            if (needs_future) prepass.future.add(to_catalog(event.model), event.ts_ms);
        });
        report.a95_mb = concurrent_demand_p95_mb(
            recording, [&](uint32_t model) { return catalog.record(to_catalog(model)).memory_mb; });
        // No event: say so, rather than that a budget relative to the trace's (empty) demand is 0 MiB.
        if (prepass.events == 0) throw std::runtime_error(no_event_message(options));
    }
    report.budget_mb = config.memory_budget.is_relative() ? config.memory_budget.a95_multiple * report.a95_mb
                                                          : config.memory_budget.absolute_mb;
    if (!(report.budget_mb > 0))
        throw std::runtime_error(fmt::format("{}: budgets.memory_mb: the budget is {} MiB (A95 of the trace is {} MiB)",
                                             config.locate("budgets.memory_mb"), report.budget_mb, report.a95_mb));
    return prepass;
}

/// The components `run` drives: its plugin set's, with the yardstick's oracles or the floor's keep-forever predictor
/// and unlimited resource plugin in place of the plugins they replace (kept alive in run.in_process).
ComponentSet arm_components(ArmRun& run, const ArmSpec& spec, Catalog& catalog, const FutureIndex& future) {
    ComponentSet components = run.plugins->component_set();
    if (!spec.arm.yardstick.empty()) {
        const bool lean = spec.arm.yardstick == "oracle-lean";
        run.in_process.push_back(InProcessPlugin::make<OraclePredictor>(
            catalog, run.clock, "yardstick." + spec.arm.yardstick + ".predictor", future, lean));
        run.in_process.push_back(
            InProcessPlugin::make<OracleScheduler>(catalog, run.clock, "yardstick.oracle.scheduler"));
        run.in_process.push_back(
            InProcessPlugin::make<OracleResource>(catalog, run.clock, "yardstick.oracle.belady", future));
        components.predictor = run.in_process[0]->component<warmup_predictor_vtable>();
        components.scheduler = run.in_process[1]->component<warmup_scheduler_vtable>();
        components.resource = run.in_process[2]->component<warmup_resource_vtable>();
    }
    if (spec.compulsory_floor) {
        run.in_process.push_back(
            InProcessPlugin::make<KeepForeverPredictor>(catalog, run.clock, "floor.keep-forever.predictor"));
        run.in_process.push_back(
            InProcessPlugin::make<UnlimitedResource>(catalog, run.clock, "floor.unlimited.resource"));
        components.predictor = run.in_process[0]->component<warmup_predictor_vtable>();
        components.resource = run.in_process[1]->component<warmup_resource_vtable>();
    }
    return components;
}

/// One arm ready to run: plugin set from the config, a virtual executor over its backend's simulation extension,
/// its engine on `budget_mb` (the floor: unlimited). Throws StartupError when the backend cannot be replayed.
std::unique_ptr<ArmRun> build_arm_run(const ArmSpec& spec, const Config& config, PluginLoader& loader, Catalog& catalog,
                                      const FutureIndex& future, double budget_mb) {
    const Arm& arm = spec.arm;
    auto run = std::make_unique<ArmRun>();
    run->name = arm.name;
    run->yardstick = arm.yardstick;
    run->frontier_ttl_ms = spec.frontier_ttl_ms;
    run->compulsory_floor = spec.compulsory_floor;
    // Arms run apart, so two may load different builds of one plugin id: the comparison an arm is for.
    run->plugins = PluginSet::create(arm.components, config, loader, catalog, run->clock, /*previous=*/nullptr,
                                     /*allow_loaded_ids=*/true);
    const auto& backend = run->plugins->at(ComponentSlot::Backend);
    const auto* simulation = static_cast<const warmup_simulation_extension*>(backend->extension(WARMUP_EXT_SIMULATION));
    if (simulation == nullptr)
        throw StartupError(fmt::format("{}: backend {} cannot be replayed: it does not offer the {} extension",
                                       config.locate(arm.components[ComponentSlot::Backend].key_path), backend->label(),
                                       WARMUP_EXT_SIMULATION));
    run->executor = std::make_unique<VirtualExecutor>(backend, simulation, catalog, arm.name);
    const ComponentSet components = arm_components(*run, spec, catalog, future);
    run->plugin_labels = labels_of(components, *run->plugins);
    EngineOptions engine_options;
    engine_options.memory_budget_mb = spec.compulsory_floor ? std::numeric_limits<double>::infinity() : budget_mb;
    // Yardsticks measure what the memory budget alone allows and the floor what no policy can avoid: the warm-up
    // concurrency cap binds neither.
    engine_options.max_concurrent_loads =
        arm.yardstick.empty() && !spec.compulsory_floor ? config.max_concurrent_warmups : UINT32_MAX;
    engine_options.arm = arm.name;
    // A replay must not depend on how fast this machine is: no wall-clock time budget on plugin calls (errors
    // still trip the circuit breakers, deterministically).
    engine_options.breaker_call_budget_us = INT64_MAX;
    // Days of engine time pass in seconds: a failing plugin's first calls are logged, the rest counted (the report
    // flags the arm with its plugin_errors).
    engine_options.logged_failures_per_component = kLoggedFailuresPerComponent;
    run->engine = std::make_unique<WarmupEngine>(components, *run->executor, catalog, engine_options);
    return run;
}

/// The yardsticks know every model's first request too: plan each model before the trace starts, early enough for
/// the slowest load.
void prime_yardsticks(std::vector<std::unique_ptr<ArmRun>>& runs, Catalog& catalog, const FutureIndex& future) {
    double max_load_ms = 0;
    int64_t first_arrival_ms = kNever;
    for (warmup_model_index model = 0; model < catalog.size(); ++model) {
        max_load_ms = std::max(max_load_ms, catalog.record(model).load_ms);
        first_arrival_ms = std::min(first_arrival_ms, future.next_after(model, INT64_MIN));
    }
    const int64_t prime_ms = first_arrival_ms - static_cast<int64_t>(std::ceil(max_load_ms));
    for (auto& run : runs) {
        if (run->yardstick.empty()) continue;
        run->clock.set(prime_ms);
        for (warmup_model_index model = 0; model < catalog.size(); ++model) run->engine->plan_ahead(model, prime_ms);
    }
}

/// The main pass's reader: the trace in chunks of engine events. A chunk never splits the events of one timestamp
/// (the engine must see them as one batch). Used by one thread at a time (the reader), overlapping the arms' work.
class ChunkReader {
  public:
    ChunkReader(std::unique_ptr<TraceReader> trace, ModelMapping& to_catalog, const ModelNames& tenants)
        : trace_(std::move(trace)), to_catalog_(to_catalog), tenants_(tenants) {}

    /// Fills `chunk` with the next events; false at the end. Rethrows the trace's TraceError.
    bool read(std::vector<warmup_usage_event>& chunk) {
        chunk.clear();
        while (pending_ || (more_ && (more_ = trace_->next(event_)))) {
            if (chunk.size() >= kChunkEvents && event_.ts_ms != chunk.back().ts_ms) {
                pending_ = true;
                break;
            }
            pending_ = false;
            chunk.push_back({event_.ts_ms, to_catalog_(event_.model), event_.count, tenant_hash_of(event_.tenant), 0});
            requests_ += event_.count;
        }
        return !chunk.empty();
    }
    /// Requests read so far (an event counts its `count`).
    [[nodiscard]] uint64_t requests() const noexcept { return requests_; }

  private:
    /// The tenant's hash, computed once per trace tenant id (0: none).
    uint32_t tenant_hash_of(uint32_t tenant) {
        if (tenant >= tenant_hashes_.size()) {
            const auto old = tenant_hashes_.size();
            tenant_hashes_.resize(tenant + 1);
            for (auto id = old; id < tenant_hashes_.size(); ++id)
                tenant_hashes_[id] = id == 0 ? 0 : tenant_hash(tenants_.name(static_cast<uint32_t>(id)));
        }
        return tenant_hashes_[tenant];
    }

    std::unique_ptr<TraceReader> trace_;
    ModelMapping& to_catalog_;
    const ModelNames& tenants_;
    std::vector<uint32_t> tenant_hashes_;
    TraceEvent event_{};
    bool more_ = true;
    bool pending_ = false;  // event_ was read but belongs to the next chunk
    uint64_t requests_ = 0;
};

/// Main pass: chunks of events, each chunk fed to every arm in parallel while the next one is read (double
/// buffering). Sets report.events, requests, from_ms and to_ms; throws when the traces hold no event.
void run_arms(ChunkReader& reader, std::vector<std::unique_ptr<ArmRun>>& runs, Progress& progress,
              uint64_t prepass_events, const ReplayOptions& options, const Config& config, ReplayReport& report) {
    std::vector<StallWatch::Arm> watched;
    for (const auto& run : runs)
        watched.push_back({run->compulsory_floor ? "(the compulsory floor)" : run->name, &run->progress});
    const StallWatch stall_watch(std::move(watched), std::chrono::milliseconds(config.plugin_call_stall_ms),
                                 [](const std::string& line) { spdlog::warn("{}", line); });
    int64_t first_ms = kNever, last_ms = kNever;
    std::vector<warmup_usage_event> current, next;
    current.reserve(kChunkEvents);
    next.reserve(kChunkEvents);
    bool have_current = reader.read(current);
    while (have_current) {
        if (first_ms == kNever) first_ms = current.front().ts_ms;
        last_ms = current.back().ts_ms;
        report.events += current.size();
        auto reading = std::async(std::launch::async, [&] { return reader.read(next); });
        tbb::parallel_for(std::size_t{0}, runs.size(), [&](std::size_t i) { runs[i]->process(current); });
        const bool have_next = reading.get();  // rethrows a TraceError from the reader
        progress.update(report.events, prepass_events, last_ms - first_ms);
        std::swap(current, next);
        have_current = have_next;
    }
    progress.done();
    report.requests = reader.requests();
    if (report.events == 0) throw std::runtime_error(no_event_message(options));
    tbb::parallel_for(std::size_t{0}, runs.size(), [&](std::size_t i) { runs[i]->finish(last_ms); });
    report.from_ms = first_ms;
    report.to_ms = last_ms;
}

/// Every arm's results into `report` (the floor as the compulsory cold requests, not as an arm), then the frontier.
void report_arms(std::vector<std::unique_ptr<ArmRun>>& runs, Catalog& catalog, const Config& config, bool frontier,
                 ReplayReport& report) {
    report.models = catalog.size();
    for (auto& run : runs) {
        if (run->compulsory_floor) {
            report.compulsory_cold_requests = run->engine->counters().cold_requests;
            report.compulsory_floor_cpu_seconds = run->cpu_seconds;
            continue;
        }
        report.arms.push_back(summarize(*run, catalog, config.timeline_buckets));
    }
    report.frontier = frontier;
    apply_frontier(report);
}

}  // namespace

std::unique_ptr<TraceReader> open_traces(const ReplayOptions& options, uint64_t seed, ModelNames& models,
                                         ModelNames& tenants) {
    if (options.traces.empty()) throw std::runtime_error("no --trace given");
    std::vector<std::unique_ptr<TraceReader>> readers;
    for (const auto& spec : options.traces)
        readers.push_back(open_trace(spec, models, tenants, seed, std::filesystem::current_path()));
    auto trace = readers.size() == 1 ? std::move(readers.front()) : merge(std::move(readers));
    if (options.from_ms || options.to_ms)
        trace = clip(std::move(trace), options.from_ms.value_or(INT64_MIN), options.to_ms.value_or(INT64_MAX));
    return bound_span(std::move(trace), models);
}

std::string no_event_message(const ReplayOptions& options) {
    if (!options.from_ms && !options.to_ms) return "the traces hold no event";
    const auto bound = [](const std::optional<int64_t>& ms) {
        return ms ? fmt::format("{} ms", *ms) : std::string("-");
    };
    return fmt::format("the traces hold no event in the chosen time range [{}, {})", bound(options.from_ms),
                       bound(options.to_ms));
}

uint64_t dump_events(const Config& config, const ReplayOptions& options, const std::filesystem::path& file) {
    ModelNames models, tenants;
    auto trace = open_traces(options, options.seed.value_or(config.replay_seed), models, tenants);
    std::ofstream out(file, std::ios::binary);
    if (!out) throw std::runtime_error(fmt::format("cannot write '{}'", file.string()));
    // A trace that fails part-way, or holds no event, leaves no file behind: a half-written dump would read back as a
    // shorter trace.
    uint64_t events = 0;
    try {
        events = write_events_csv(*trace, models, tenants, out);
        out.close();
        if (!out) throw std::runtime_error(fmt::format("cannot write '{}'", file.string()));
        if (events == 0) throw std::runtime_error(no_event_message(options));
    } catch (...) {
        out.close();
        std::error_code ignored;
        std::filesystem::remove(file, ignored);
        throw;
    }
    return events;
}

// Open traces (pre-pass), build arms, run them over the trace, report.
ReplayReport run_replay(const Config& config, const ReplayOptions& options) {
    const auto wall_started = std::chrono::steady_clock::now();
    Catalog catalog(config.catalog);
    ModelNames models, tenants;
    ModelMapping to_catalog(catalog, models, config);
    const bool frontier = options.frontier || config.replay_frontier;
    const std::vector<ArmSpec> specs = arm_specs(config, options, frontier);
    const bool needs_future =
        std::any_of(specs.begin(), specs.end(), [](const ArmSpec& spec) { return !spec.arm.yardstick.empty(); });

    ReplayReport report;
    report.config_file = config.display_name;
    report.traces = options.traces;
    report.seed = options.seed.value_or(config.replay_seed);
    report.budget_spec = config.memory_budget.describe();
    report.max_concurrent_warmups = config.max_concurrent_warmups;
    const Prepass prepass = measure_traces(config, options, needs_future, models, tenants, to_catalog, catalog, report);

    PluginLoader loader(config.plugin_dirs);
    std::vector<std::unique_ptr<ArmRun>> runs;
    for (const ArmSpec& spec : specs)
        runs.push_back(build_arm_run(spec, config, loader, catalog, prepass.future, report.budget_mb));
    if (needs_future && prepass.events > 0) prime_yardsticks(runs, catalog, prepass.future);

    ChunkReader reader(open_traces(options, report.seed, models, tenants), to_catalog, tenants);
    Progress progress(options.progress);
    run_arms(reader, runs, progress, prepass.events, options, config, report);

    report_arms(runs, catalog, config, frontier, report);
    report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_started).count();
    report.events_per_second =
        report.wall_seconds > 0 ? static_cast<double>(report.events * report.arms.size()) / report.wall_seconds : 0;
    return report;
}

}  // namespace warmup::host::replay
