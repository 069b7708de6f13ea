// runtime/live_runtime.cpp — the live pipeline (see live_runtime.hpp): worker pools, the control loop and its ingest
// step (history vs requests), experiment arms, and reload / rollback with their re-plans.
// Threads as in the header: the control thread owns engines and plugins; workers call the backend only.
#include "runtime/live_runtime.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "core/errors.hpp"
#include "core/paths.hpp"

namespace warmup::host {
namespace {

// Libraries are loaded from content-addressed copies, so a plugin rebuilt at the same path is really new code.
// One folder per runtime (several runtimes may live in one process, e.g. in tests).
// A daemon killed with SIGKILL cannot remove its folder: the next start removes the folders of processes that no
// longer exist (only this user's, by the loader's ownership rule; a folder it cannot remove is left alone).
std::filesystem::path make_plugin_cache_dir() {
    namespace fs = std::filesystem;
    static std::atomic<uint32_t> counter{0};
    const fs::path temp = fs::temp_directory_path();
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(temp, error)) {
        const std::string name = entry.path().filename().string();
        constexpr std::string_view kPrefix = "warmupd-plugins-";
        if (name.rfind(kPrefix, 0) != 0) continue;
        const std::string pid = name.substr(kPrefix.size(), name.find('-', kPrefix.size()) - kPrefix.size());
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
        if (!fs::exists(fs::path("/proc") / pid, error)) {
            std::error_code ignored;
            fs::remove_all(entry.path(), ignored);
        }
    }
    return temp / fmt::format("warmupd-plugins-{}-{}", ::getpid(), counter.fetch_add(1));
}

// Ingest buffers up to this many events (the default budgets.ingest_queue_capacity, 1.5 MiB) are kept between steps.
constexpr std::size_t kRetainedIngestEvents = 65536;

uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t fnv1a(std::string_view text) {
    uint64_t hash = 1469598103934665603ULL;
    for (const unsigned char c : text) hash = (hash ^ c) * 1099511628211ULL;
    return hash;
}

}  // namespace

/// Orders a late unload against newer loads of the same model, across worker pools (a restart of the workers keeps
/// the old pool's loads running). A load that finished after its timeout is unloaded only if no newer load of that
/// model has started since; and a load that starts while such an unload runs waits for it, so the backend never
/// sees "unload" overtake the load the engine now counts on. Thread-safety: every method from any thread.
class ModelLoadOrder {
  public:
    /// [control] A load of `model` is starting; returns its generation (increasing per model).
    uint64_t starting(warmup_model_index model) {
        std::lock_guard lock(mutex_);
        return ++latest_[model];
    }
    /// [worker] The load of `generation` finished after its timeout: true (and the model is marked as being unloaded)
    /// when no newer load has started, so the caller must unload it and then call unloaded().
    bool claim_late_unload(warmup_model_index model, uint64_t generation) {
        std::lock_guard lock(mutex_);
        if (latest_[model] != generation) return false;
        unloading_.insert(model);
        return true;
    }
    void unloaded(warmup_model_index model) {
        {
            std::lock_guard lock(mutex_);
            unloading_.erase(model);
        }
        unloading_done_.notify_all();
    }
    /// [worker] Blocks while a late unload of `model` runs (it is running on another worker: a bounded wait).
    void wait_for_late_unload(warmup_model_index model) {
        std::unique_lock lock(mutex_);
        unloading_done_.wait(lock, [&] { return unloading_.count(model) == 0; });
    }

    /// [worker] Every backend unload, counted so a reconciliation can tell which models were being unloaded while it
    /// asked the server (the server may list them either way).
    void unload_began(warmup_model_index model) {
        std::lock_guard lock(mutex_);
        ++unloads_[model].began;
    }
    void unload_ended(warmup_model_index model) {
        std::lock_guard lock(mutex_);
        ++unloads_[model].ended;
    }
    /// [any] Per model with any backend unload so far: (unloads begun, unloads ended). Two of these taken around a
    /// listing show which models had an unload running at some moment in between.
    [[nodiscard]] std::map<warmup_model_index, std::pair<uint64_t, uint64_t>> unload_activity() {
        std::lock_guard lock(mutex_);
        std::map<warmup_model_index, std::pair<uint64_t, uint64_t>> activity;
        for (const auto& [model, counts] : unloads_) activity.emplace(model, std::pair{counts.began, counts.ended});
        return activity;
    }

  private:
    std::mutex mutex_;
    std::condition_variable unloading_done_;
    std::unordered_map<warmup_model_index, uint64_t> latest_;  // newest load generation per model
    std::unordered_set<warmup_model_index> unloading_;         // late unloads running now
    struct UnloadCounts {
        uint64_t began = 0;
        uint64_t ended = 0;
    };
    std::unordered_map<warmup_model_index, UnloadCounts> unloads_;  // every backend unload, begun and ended
};

/// Runs backend loads and unloads on a TBB arena with max_concurrent_warmups threads; completions go back to the
/// control thread through a queue. The backend instance is shared by all workers (backends are thread-safe by ABI).
class LiveRuntime::WorkerExecutor {
  public:
    // No arena slot is reserved for the calling (control) thread: it only submits, so all `workers` slots are for
    // worker threads (with the default reservation, an arena of 1 would never run a load).
    /// `load_order`: shared with the pools this one replaces (null: a new one).
    WorkerExecutor(LiveRuntime& runtime, std::shared_ptr<PluginInstance> backend, uint32_t workers,
                   std::shared_ptr<ModelLoadOrder> load_order = nullptr)
        : runtime_(runtime),
          backend_(std::move(backend)),
          load_order_(load_order ? std::move(load_order) : std::make_shared<ModelLoadOrder>()),
          thread_limit_(tbb::global_control::max_allowed_parallelism, thread_limit_for(workers)),
          arena_(static_cast<int>(workers), /*reserved_for_masters=*/0) {}

    ~WorkerExecutor() {
        try {
            wait();
        } catch (...) {
            // A backend exception cannot escape the SDK guard; nothing useful to do at destruction.
        }
    }

    void wait() {
        arena_.execute([this] { group_->wait(); });
    }

    void start_load(uint32_t arm_id, warmup_model_index model, uint64_t ticket) {
        const ModelRecord& record = runtime_.catalog_.record(model);
        auto backend = backend_;  // a hot-swap may replace backend_; a running load keeps its own
        auto cancel_state = std::make_shared<CancelState>(&runtime_.running_);
        const uint64_t generation = load_order_->starting(model);
        uint64_t serial = 0;
        {
            std::lock_guard lock(running_mutex_);
            serial = ++next_serial_;
            running_.emplace(serial, Running{arm_id, model, ticket, std::chrono::steady_clock::now(), cancel_state});
        }
        arena_.execute([this, &record, arm_id, model, ticket, backend, cancel_state, serial, generation] {
            group_->run([this, &record, arm_id, model, ticket, backend, cancel_state, serial, generation] {
                load_order_->wait_for_late_unload(model);
                warmup_model_info info = record.to_info();
                warmup_load_result result{};
                result.struct_size = sizeof result;
                warmup_cancel_token cancel{cancel_state.get(), [](void* context) {
                                               return static_cast<CancelState*>(context)->cancelled() ? 1 : 0;
                                           }};
                const auto started = std::chrono::steady_clock::now();
                warmup_error* error =
                    backend->vtable<warmup_model_backend_vtable>()->load(backend->self(), &info, &cancel, &result);
                const double load_ms =
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
                if (error != nullptr) {
                    ErrorPtr owned(error);
                    spdlog::warn("MODEL_LOAD_ERROR backend {} could not load {}: {}: {}", backend->label(), record.name,
                                 status_name(owned->code), owned->message);
                }
                // Whoever removes the entry answers the engine: this worker, or expire() after a timeout (then the
                // late result is dropped: the engine was already told the load failed).
                bool owned_completion = false;
                {
                    std::lock_guard lock(running_mutex_);
                    owned_completion = running_.erase(serial) == 1;
                }
                if (owned_completion) {
                    runtime_.completions_.push({arm_id, model, ticket, error == nullptr, load_ms, result.memory_mb});
                    runtime_.wake();
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
                        unload_now(*backend, record);
                        load_order_->unload_ended(model);
                        load_order_->unloaded(model);
                    } else {
                        spdlog::warn(
                            "MODEL_LOAD_TIMEOUT load of {} finished {:.0f} ms after it started, past its "
                            "timeout; a newer load of it has started, so it stays loaded",
                            record.name, load_ms);
                    }
                }
            });
        });
    }

    /// [control] Cancels (through their cancel token) the loads running longer than timeout_ms and answers the
    /// engine with a failure for each at once, so the model can be retried. Returns how many timed out.
    uint64_t expire(int64_t timeout_ms) {
        const auto now = std::chrono::steady_clock::now();
        std::vector<Running> expired;
        {
            std::lock_guard lock(running_mutex_);
            for (auto it = running_.begin(); it != running_.end();) {
                if (now - it->second.started > std::chrono::milliseconds(timeout_ms)) {
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
                         runtime_.catalog_.record(load.model).name, load_ms, timeout_ms);
            runtime_.completions_.push({load.arm_id, load.model, load.ticket, false, load_ms, 0});
        }
        return expired.size();
    }

    /// [any] Loads started and not yet answered.
    std::size_t loads_running() {
        std::lock_guard lock(running_mutex_);
        return running_.size();
    }

    void start_unload(warmup_model_index model) {
        const ModelRecord& record = runtime_.catalog_.record(model);
        auto backend = backend_;
        auto load_order = load_order_;
        load_order->unload_began(model);  // counted from now: a listing started after this sees the unload
        arena_.execute([this, &record, backend, load_order, model] {
            group_->run([&record, backend, load_order, model] {
                unload_now(*backend, record);
                load_order->unload_ended(model);
            });
        });
    }

    /// [control] Asks the backend (on a worker) what its server holds now; the answer goes to runtime_.listings_.
    void start_listing() {
        auto backend = backend_;
        auto load_order = load_order_;
        arena_.execute([this, backend, load_order] {
            group_->run([this, backend, load_order] {
                ResidentListing listing;
                listing.backend = backend->label();
                const auto before = load_order->unload_activity();
                const ListResidentFn list = list_resident_of(*backend);
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
                    warmup_error* error = list(backend->self(), &writer);
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
                const auto after = load_order->unload_activity();
                for (const auto& [model, counts] : after) {
                    const auto earlier = before.find(model);
                    const bool running = counts.first != counts.second ||
                                         (earlier != before.end() && earlier->second.first != earlier->second.second);
                    if (running || earlier == before.end() || earlier->second.first != counts.first)
                        listing.unloads_meanwhile.insert(model);
                }
                runtime_.listings_.push(std::move(listing));
                runtime_.wake();
            });
        });
    }

    /// [worker] Unloads `record`'s model through `backend`; a failure is logged (MODEL_UNLOAD_ERROR), not retried.
    static void unload_now(const PluginInstance& backend, const ModelRecord& record) {
        warmup_model_info info = record.to_info();
        warmup_error* error = backend.vtable<warmup_model_backend_vtable>()->unload(backend.self(), &info);
        if (error != nullptr) {
            ErrorPtr owned(error);
            spdlog::warn("MODEL_UNLOAD_ERROR backend {} could not unload {}: {}", backend.label(), record.name,
                         owned->message);
        }
    }

    /// [control] The backend for loads started from now on.
    void set_backend(std::shared_ptr<PluginInstance> backend) { backend_ = std::move(backend); }
    [[nodiscard]] const std::shared_ptr<PluginInstance>& backend() const { return backend_; }
    [[nodiscard]] const std::shared_ptr<ModelLoadOrder>& load_order() const { return load_order_; }

  private:
    /// A load's cancel token: set when the daemon stops or the load times out. Shared by the worker and expire().
    class CancelState {
      public:
        explicit CancelState(const std::atomic<bool>* daemon_running) : daemon_running_(daemon_running) {}
        [[nodiscard]] bool cancelled() const { return cancelled_.load() || !daemon_running_->load(); }
        void cancel() { cancelled_.store(true); }

      private:
        const std::atomic<bool>* daemon_running_;
        std::atomic<bool> cancelled_{false};
    };
    struct Running {
        uint32_t arm_id;
        warmup_model_index model;
        uint64_t ticket;
        std::chrono::steady_clock::time_point started;
        std::shared_ptr<CancelState> cancel;
    };

    /// TBB's process-wide thread pool defaults to one thread per core, the submitting thread included, so an arena
    /// of `workers` slots on a 2-core machine would get one worker thread. Backend calls mostly wait (HTTP, disk), so
    /// the pool is raised to serve this arena's slots plus those of one retired pool (restart-workers leaves stuck
    /// loads running there). TBB applies the smallest active limit; every pool asks for the same figure.
    static std::size_t thread_limit_for(uint32_t workers) {
        return std::max<std::size_t>(static_cast<std::size_t>(tbb::info::default_concurrency()),
                                     2 * static_cast<std::size_t>(workers) + 1);
    }

    LiveRuntime& runtime_;
    std::shared_ptr<PluginInstance> backend_;
    std::shared_ptr<ModelLoadOrder> load_order_;
    tbb::global_control thread_limit_;
    std::mutex running_mutex_;
    std::map<uint64_t, Running> running_;  // by serial, under running_mutex_
    uint64_t next_serial_ = 0;             // under running_mutex_
    tbb::task_arena arena_;
    std::unique_ptr<tbb::task_group> group_ = std::make_unique<tbb::task_group>();
};

/// An acting arm's view of the shared workers: its completions come back tagged with its name.
class LiveRuntime::ArmExecutor final : public LoadExecutor {
  public:
    /// `workers` is the runtime's pointer: restart_workers() may replace the executor it points to.
    ArmExecutor(std::unique_ptr<WorkerExecutor>& workers, const std::string& name) : workers_(workers), name_(name) {}
    void set_arm_id(uint32_t arm_id) { arm_id_ = arm_id; }
    void start_load(warmup_model_index model, uint64_t ticket, warmup_time_ms) override {
        workers_->start_load(arm_id_, model, ticket);
    }
    void start_unload(warmup_model_index model, warmup_time_ms) override { workers_->start_unload(model); }

  private:
    std::unique_ptr<WorkerExecutor>& workers_;
    std::string name_;
    uint32_t arm_id_ = 0;
};

/// A shadow arm never touches the backend: a load "completes" after the catalog's load time on the wall clock.
class LiveRuntime::ShadowExecutor final : public LoadExecutor {
  public:
    explicit ShadowExecutor(Catalog& catalog) : catalog_(catalog) {}
    void start_load(warmup_model_index model, uint64_t ticket, warmup_time_ms now_ms) override {
        const auto done = now_ms + static_cast<warmup_time_ms>(std::ceil(catalog_.record(model).load_ms));
        pending_.push({done, model, ticket});
    }
    void start_unload(warmup_model_index, warmup_time_ms) override {}
    /// [control] Completes the simulated loads due by now_ms.
    void complete_due(WarmupEngine& engine, warmup_time_ms now_ms) {
        while (!pending_.empty() && pending_.top().done_ms <= now_ms) {
            const Pending done = pending_.top();
            pending_.pop();
            engine.on_load_finished(done.model, done.ticket, true, catalog_.record(done.model).load_ms, 0, now_ms);
        }
    }
    [[nodiscard]] warmup_time_ms next_due_ms() const {
        return pending_.empty() ? WARMUP_TIME_NEVER : pending_.top().done_ms;
    }

  private:
    struct Pending {
        warmup_time_ms done_ms;
        warmup_model_index model;
        uint64_t ticket;
        bool operator>(const Pending& other) const { return done_ms > other.done_ms; }
    };
    Catalog& catalog_;
    std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending_;
};

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

LiveRuntime::LiveRuntime(Config config)
    : config_(std::move(config)),
      catalog_(config_.catalog),
      plugin_cache_dir_(make_plugin_cache_dir()),
      loader_(config_.plugin_dirs, plugin_cache_dir_) {
    if (config_.memory_budget.is_relative())
        throw StartupError(
            fmt::format("{}: budgets.memory_mb: a relative budget ({}) needs a trace; the daemon needs "
                        "an absolute budget in MiB",
                        config_.locate("budgets.memory_mb"), config_.memory_budget.describe()));
    Arm control{"control", config_.components, "", config_.experiment.control_weight, false};
    // The workers need the backend before any arm can start a load; the control arm's backend serves every arm.
    auto control_plugins = PluginSet::create(config_.components, config_, loader_, catalog_, clock_);
    workers_ = std::make_unique<WorkerExecutor>(*this, control_plugins->at(ComponentSlot::Backend),
                                                config_.max_concurrent_warmups);
    auto control_arm = std::make_unique<LiveArm>();
    control_arm->id = next_arm_id_++;
    control_arm->name = "control";
    control_arm->mode = LiveArm::Mode::Control;
    control_arm->weight = config_.experiment.control_weight;
    control_arm->definition = control;
    control_arm->plugins = std::move(control_plugins);
    auto control_executor = std::make_unique<ArmExecutor>(workers_, "control");
    control_executor->set_arm_id(control_arm->id);
    control_arm->executor = std::move(control_executor);
    arms_.push_back(std::move(control_arm));
    std::vector<std::unique_ptr<LiveArm>> none;
    for (auto& arm : build_experiment_arms(config_, none)) arms_.push_back(std::move(arm));
    experiment_ = config_.experiment;
    running_config_ = config_;
    warmup_timeout_ms_.store(config_.warmup_timeout_ms);
    request_window_ms_.store(config_.ingest_request_window_ms);
    reconcile_interval_ms_.store(config_.reconcile_interval_ms);
    assign_budgets(config_.memory_budget.absolute_mb);
    // Event sources: created now (a bad source refuses the start like a bad component), polled from start_sources().
    SourceIngest ingest{&catalog_, &clock_, [this](std::span<const warmup_usage_event> events) {
                            return try_ingest(events, /*count_refusals=*/false);  // the source keeps the rest
                        }};
    sources_ = std::make_unique<EventSources>(
        std::move(ingest), config_.state.enabled ? config_.state.dir / "sources" : std::filesystem::path());
    sources_->publish(sources_->prepare(config_.sources, config_, loader_, catalog_, clock_));
}

std::vector<std::unique_ptr<LiveArm>> LiveRuntime::build_experiment_arms(
    const Config& config, std::vector<std::unique_ptr<LiveArm>>& current) {
    std::vector<std::unique_ptr<LiveArm>> arms;
    if (!config.experiment.enabled) return arms;
    for (const Arm& definition : config.arms) {
        if (!definition.yardstick.empty())
            throw StartupError(fmt::format("{}: arms: '{}' is a clairvoyant yardstick: it only runs in warmup-replay",
                                           config.locate("arms"), definition.name));
        const auto mode = definition.shadow ? LiveArm::Mode::Shadow : LiveArm::Mode::Acting;
        // An arm whose definition did not change keeps running (its engine and what it learned).
        auto same = std::find_if(current.begin(), current.end(), [&](const std::unique_ptr<LiveArm>& arm) {
            return arm && arm->mode != LiveArm::Mode::Control && arm->name == definition.name &&
                   arm->definition.components == definition.components && arm->definition.shadow == definition.shadow;
        });
        if (same != current.end()) {
            (*same)->weight = definition.weight;
            (*same)->definition = definition;
            arms.push_back(std::move(*same));
        } else {
            arms.push_back(make_arm(definition, mode, config));
        }
    }
    return arms;
}

void LiveRuntime::assign_budgets(double total_mb) {
    // [control or before start] Acting arms share the budget by weight; a shadow arm simulates the whole budget.
    double acting_weight = 0;
    for (const auto& arm : arms_)
        if (arm->mode != LiveArm::Mode::Shadow) acting_weight += arm->weight;
    acting_.clear();
    acting_cumulative_.clear();
    double cumulative = 0;
    for (std::size_t i = 0; i < arms_.size(); ++i) {
        LiveArm& arm = *arms_[i];
        const double budget_mb = arm.mode == LiveArm::Mode::Shadow ? total_mb : total_mb * arm.weight / acting_weight;
        if (arm.engine == nullptr) {
            EngineOptions options;
            options.memory_budget_mb = budget_mb;
            options.max_concurrent_loads = config_.max_concurrent_warmups;
            options.arm = arm.name;  // "control" for the top-level set, with or without an experiment
            options.decisions = &decisions_;
            ComponentSet components = arm.plugins->component_set();
            components.metrics = arms_.front()->plugins->component_set().metrics;  // one sink, arm-labelled
            arm.engine = std::make_unique<WarmupEngine>(components, *arm.executor, catalog_, options);
        } else {
            arm.engine->set_memory_budget_mb(budget_mb, clock_.now_ms());  // a smaller budget evicts at once
        }
        if (arm.mode != LiveArm::Mode::Shadow) {
            cumulative += arm.weight / acting_weight;
            acting_.push_back(i);
            acting_cumulative_.push_back(cumulative);
        }
    }
}

void LiveRuntime::route(const warmup_usage_event& event, std::vector<std::vector<warmup_usage_event>>& per_arm) const {
    for (std::size_t i = 0; i < arms_.size(); ++i)
        if (arms_[i]->mode == LiveArm::Mode::Shadow) per_arm[i].push_back(event);
    if (acting_.size() == 1) {
        per_arm[acting_.front()].push_back(event);
        return;
    }
    // Stable split: the same tenant (or model) always lands in the same arm while the weights stay the same.
    const uint64_t key = experiment_.split == "model" ? fnv1a(catalog_.record(event.model).name)
                                                      : static_cast<uint64_t>(event.tenant_hash);
    const double u = static_cast<double>(mix64(key) >> 11) * 0x1.0p-53;
    std::size_t pick = 0;
    while (pick + 1 < acting_cumulative_.size() && u >= acting_cumulative_[pick]) ++pick;
    per_arm[acting_[pick]].push_back(event);
}

LiveRuntime::~LiveRuntime() {
    stop();
    sources_.reset();  // their threads call try_ingest: gone before anything they use
    arms_.clear();
    workers_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(plugin_cache_dir_, ignored);  // mapped libraries stay valid after unlink
}

void LiveRuntime::start() {
    if (running_.exchange(true)) return;
    control_thread_ = std::thread([this] { control_loop(); });
}

void LiveRuntime::start_sources() { sources_->start(); }

void LiveRuntime::stop() {
    // Sources first: no new events while the rest stops (and a source never waits on a stopped control loop).
    if (sources_) sources_->stop();
    if (!running_.load()) return;
    // The state thread needs the control loop for its last snapshot: stop it first; then the journal thread, whose
    // last flush writes what was accepted up to the last snapshot's rotation and after.
    if (state_thread_.joinable()) {
        {
            std::lock_guard lock(state_mutex_);
            state_stopping_ = true;
        }
        state_cv_.notify_all();
        state_thread_.join();
    }
    if (journal_thread_.joinable()) {
        {
            std::lock_guard lock(state_mutex_);
            journal_stopping_ = true;
        }
        state_cv_.notify_all();
        journal_thread_.join();
    }
    if (!running_.exchange(false)) return;
    wake();
    if (control_thread_.joinable()) control_thread_.join();
    workers_->wait();  // running backend calls see the cancel token and return
    for (auto& retired : retired_workers_) retired->wait();
}

std::size_t LiveRuntime::try_ingest(std::span<const warmup_usage_event> events, bool count_refusals) {
    std::size_t accepted = 0;
    bool was_empty = false;
    {
        std::lock_guard lock(ingest_mutex_);
        const std::size_t capacity = config_.ingest_queue_capacity;
        const std::size_t room = capacity - std::min(capacity, ingest_pending_.size());
        accepted = std::min(room, events.size());
        // A journal whose disk is slower than the traffic refuses like a full queue (503), never grows memory.
        if (const EventJournal* journal = journal_.load();
            journal != nullptr && journal->buffered_bytes() >= kJournalMaxBufferedBytes)
            accepted = 0;
        was_empty = ingest_pending_.empty();
        const auto first_new = static_cast<std::ptrdiff_t>(ingest_pending_.size());
        ingest_pending_.insert(ingest_pending_.end(), events.begin(),
                               events.begin() + static_cast<std::ptrdiff_t>(accepted));
        ingest_backlog_.store(ingest_pending_.size());
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

void LiveRuntime::wake() {
    {
        std::lock_guard lock(wake_mutex_);
        woken_ = true;
    }
    wake_cv_.notify_one();
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
    std::stable_sort(batch.begin(), batch.end(), [](const auto& a, const auto& b) { return a.ts_ms < b.ts_ms; });
    // History (older than the request window) is learned but not scored; the rest are requests. History goes to the
    // analyzer first, so each arm's analyzer still sees this batch in time order.
    const warmup_time_ms requests_from_ms = now_ms - request_window_ms_.load();
    const auto first_request = std::partition_point(
        batch.begin(), batch.end(), [&](const warmup_usage_event& e) { return e.ts_ms < requests_from_ms; });
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

void LiveRuntime::maybe_start_reconcile(std::chrono::steady_clock::time_point now) {
    const int64_t interval_ms = reconcile_interval_ms_.load();
    if (interval_ms <= 0 || reconcile_in_flight_ || !workers_) return;
    // A backend that said it can never list is not asked again; a hot-swapped backend is asked afresh.
    if (reconcile_unsupported_ && reconcile_unsupported_backend_ == workers_->backend().get()) return;
    if (reconcile_last_start_ != std::chrono::steady_clock::time_point{} &&
        now - reconcile_last_start_ < std::chrono::milliseconds(interval_ms))
        return;
    reconcile_last_start_ = now;
    reconcile_in_flight_ = true;
    reconcile_unsupported_ = false;
    reconcile_sequences_.clear();
    for (const auto& arm : arms_) reconcile_sequences_[arm->id] = arm->engine->residency_sequence();
    workers_->start_listing();
}

void LiveRuntime::apply_reconcile(const ResidentListing& listing) {
    reconcile_in_flight_ = false;
    if (listing.result == ResidentListing::Result::Unsupported) {
        reconcile_unsupported_ = true;
        reconcile_unsupported_backend_ = workers_->backend().get();
        spdlog::info("RECONCILE_OFF backend {}: {}; the host keeps trusting its own books", listing.backend,
                     listing.error);
        return;
    }
    if (listing.result == ResidentListing::Result::Failed) {
        reconcile_failures_.fetch_add(1);
        spdlog::warn("RECONCILE_ERROR backend {} could not list what its server holds: {}; nothing changed",
                     listing.backend, listing.error);
        return;
    }
    std::vector<ReportedResident> resident;
    for (const auto& [name, memory_mb] : listing.models) {
        const auto model = catalog_.resolve(name);
        if (!model) {
            spdlog::debug("RECONCILE server holds '{}', which no catalog entry covers: ignored", name);
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
        for (const warmup_model_index model : outcome.adopted)
            spdlog::warn(
                "RECONCILE_DRIFT kind=adopted model={} arm={}: resident on the server but not in the host's "
                "books (loaded by another client); adopted into the budget at {:.0f} MiB",
                catalog_.record(model).name, arm->name, memory_of(model));
        for (const warmup_model_index model : outcome.gone)
            spdlog::warn(
                "RECONCILE_DRIFT kind=gone model={} arm={}: in the host's books but no longer on the server "
                "(unloaded behind the host's back); marked unloaded, its next request is a cold start",
                catalog_.record(model).name, arm->name);
        drift_adopted_.fetch_add(outcome.adopted.size());
        drift_gone_.fetch_add(outcome.gone.size());
        arm->engine->flush_metrics();
    }
}

void LiveRuntime::control_loop() {
    std::vector<warmup_usage_event> batch;
    std::vector<std::vector<warmup_usage_event>> per_arm;
    batch.reserve(4096);
    while (running_.load()) {
        const auto step_started = std::chrono::steady_clock::now();
        bool worked = false;

        // Loads past budgets.warmup_timeout_ms are cancelled and answered as failed (the loop wakes at least every
        // 100 ms, so a timeout is acted on within that).
        const int64_t timeout_ms = warmup_timeout_ms_.load();
        uint64_t timed_out = workers_->expire(timeout_ms);
        for (auto& retired : retired_workers_) timed_out += retired->expire(timeout_ms);
        if (timed_out > 0) {
            timed_out_loads_.fetch_add(timed_out);
            last_timeout_unix_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
        }

        Completion completion{};
        while (completions_.try_pop(completion)) {
            // An arm stopped by a reload no longer exists; its late completions match no arm and are dropped.
            for (auto& arm : arms_)
                if (arm->id == completion.arm_id)
                    arm->engine->on_load_finished(completion.model, completion.ticket, completion.succeeded,
                                                  completion.load_ms, completion.memory_mb, clock_.now_ms());
            worked = true;
        }

        // Everything pending, in one swap: whole requests only (an append is atomic under the lock), at most
        // ingest_queue_capacity events. The emptied `batch` buffer goes back to the producers, so steady load
        // allocates nothing.
        batch.clear();
        {
            std::lock_guard lock(ingest_mutex_);
            batch.swap(ingest_pending_);
            ingest_backlog_.store(0);
        }
        if (!batch.empty()) {
            ingest_batch(batch, per_arm);
            worked = true;
        }
        // A burst beyond the default queue capacity (a larger budgets.ingest_queue_capacity) leaves a large buffer
        // behind; once steps use less than a quarter of it, it is freed (each of the two buffers passes here in turn).
        if (batch.capacity() > kRetainedIngestEvents && batch.size() < batch.capacity() / 4)
            std::vector<warmup_usage_event>().swap(batch);

        const warmup_time_ms now_ms = clock_.now_ms();
        warmup_time_ms next_ms = WARMUP_TIME_NEVER;
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

        ResidentListing listing;
        while (listings_.try_pop(listing)) {
            apply_reconcile(listing);
            worked = true;
        }
        maybe_start_reconcile(std::chrono::steady_clock::now());

        std::function<void(WarmupEngine&)> command;
        while (commands_.try_pop(command)) {
            for (auto& arm : arms_) arm->engine->flush_metrics();
            command(*arms_.front()->engine);
        }

        if (worked) {
            const double step_us =
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - step_started).count();
            arms_.front()->engine->metric(WARMUP_METRIC_DECISION_CYCLE_US, WARMUP_NO_MODEL, now_ms, step_us);
            for (auto& arm : arms_) arm->engine->flush_metrics();
            continue;  // more may have arrived meanwhile
        }

        // Sleep until the next timer (at most 100 ms, so a clock jump is noticed) or until woken.
        const auto wait_ms = std::clamp<warmup_time_ms>(next_ms == WARMUP_TIME_NEVER ? 100 : next_ms - now_ms, 0, 100);
        std::unique_lock lock(wake_mutex_);
        wake_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return woken_; });
        woken_ = false;
    }
    // Run the commands still queued so no caller of call_on_control waits forever.
    std::function<void(WarmupEngine&)> command;
    while (commands_.try_pop(command)) command(*arms_.front()->engine);
}

}  // namespace warmup::host
namespace warmup::host {
namespace {

std::string instance_label(const PluginInstance& instance) {
    return fmt::format("{}@{}", instance.library().id(), instance.library().version());
}

/// Settings a reload cannot change in a running daemon (they size threads, sockets or the catalog).
std::vector<std::string> restart_only_changes(const Config& running, const Config& next) {
    std::vector<std::string> notes;
    auto note = [&](bool changed, std::string_view key) {
        if (changed) notes.push_back(fmt::format("{} changed: takes effect at the next restart", key));
    };
    note(running.http.bind != next.http.bind || running.http.port != next.http.port ||
             running.http.max_body_mb != next.http.max_body_mb || running.http.threads != next.http.threads ||
             running.http.request_timeout_ms != next.http.request_timeout_ms,
         "http");
    note(running.plugin_dirs != next.plugin_dirs, "plugin_dirs");
    note(running.log_format != next.log_format, "log_format");
    note(running.max_concurrent_warmups != next.max_concurrent_warmups, "budgets.max_concurrent_warmups");
    note(running.ingest_queue_capacity != next.ingest_queue_capacity, "budgets.ingest_queue_capacity");
    note(running.state != next.state, "state");
    note(running.cluster != next.cluster, "cluster");
    bool catalog_changed = running.catalog.size() != next.catalog.size();
    for (std::size_t i = 0; !catalog_changed && i < running.catalog.size(); ++i) {
        const auto& a = running.catalog[i];
        const auto& b = next.catalog[i];
        catalog_changed = a.pattern != b.pattern || a.memory_mb != b.memory_mb || a.load_ms != b.load_ms ||
                          a.unload_ms != b.unload_ms || a.priority != b.priority;
    }
    note(catalog_changed, "catalog");
    return notes;
}

}  // namespace

ReloadResult LiveRuntime::counted(ReloadResult result) noexcept {
    (result.ok ? (result.changed ? reloads_changed_ : reloads_unchanged_) : reloads_failed_).fetch_add(1);
    return result;
}

ReloadResult LiveRuntime::reload(Config next) {
    ReloadResult result = apply(std::move(next), /*is_rollback=*/false);
    if (result.ok) safe_mode_.store(false);  // a normal reload leaves the safe configuration
    return counted(std::move(result));
}

ReloadResult LiveRuntime::reload_from_file() {
    std::filesystem::path file;
    {
        std::lock_guard lock(reload_mutex_);
        file = running_config_.source_file;
    }
    ReloadResult result;
    if (file.empty()) {
        result.http_status = 409;
        result.stage = "config";
        result.error =
            "the daemon runs the embedded default configuration: there is no file to reload (start it "
            "with --config FILE)";
        return counted(std::move(result));
    }
    try {
        Config next = load_config_file(file, executable_dir());
        if (bind_override_) next.http.bind = *bind_override_;
        if (port_override_) next.http.port = *port_override_;
        return reload(std::move(next));
    } catch (const std::exception& failure) {
        result.http_status = 400;
        result.stage = "config";
        result.error = failure.what();
        spdlog::error("CONFIG_RELOAD_FAILED {}", result.error);
        return counted(std::move(result));
    }
}

ReloadResult LiveRuntime::rollback() {
    std::optional<Config> previous;
    {
        std::lock_guard lock(reload_mutex_);
        previous = previous_config_;
    }
    if (!previous) {
        ReloadResult result;
        result.http_status = 409;
        result.stage = "config";
        result.error = "no previous configuration to roll back to (no successful reload yet)";
        return counted(std::move(result));
    }
    ReloadResult result = apply(std::move(*previous), /*is_rollback=*/true);
    if (result.ok) safe_mode_.store(false);
    return counted(std::move(result));
}

ReloadResult LiveRuntime::apply(Config next, bool is_rollback) {
    std::lock_guard lock(reload_mutex_);
    ReloadResult result;
    result.notes = restart_only_changes(running_config_, next);
    if (next.memory_budget.is_relative()) {
        result.http_status = 400;
        result.stage = "config";
        result.error = fmt::format("{}: budgets.memory_mb: a relative budget ({}) only makes sense in replay",
                                   next.locate("budgets.memory_mb"), next.memory_budget.describe());
        return result;
    }
    if (reload_listener_.check)
        if (auto refusal = reload_listener_.check(running_config_, next)) {
            result.http_status = 400;
            result.stage = "config";
            result.error = std::move(*refusal);
            spdlog::error("CONFIG_RELOAD_FAILED {}", result.error);
            return result;
        }

    // 1. Load and create what changed, beside the running set (no pause yet). Unchanged slots reuse their instances;
    //    experiment arms whose definition is unchanged keep running. Nothing here touches what the control thread
    //    uses: arms_ is only read (the pointers), and moved-from arms are put back on failure.
    std::unique_ptr<PluginSet> next_control;
    std::vector<std::unique_ptr<LiveArm>> next_arms;
    std::vector<std::unique_ptr<PluginSet>> validated_arms;  // keeps their libraries loaded until published
    EventSources::Prepared next_sources;
    try {
        next_sources = sources_->prepare(next.sources, next, loader_, catalog_, clock_);
        next_control =
            PluginSet::create(next.components, next, loader_, catalog_, clock_, arms_.front()->plugins.get());
        // Experiment arms are rebuilt on the control thread below (they own engines); here only validate that
        // their plugins load and start, so a failure is reported before anything changes.
        if (next.experiment.enabled)
            for (const Arm& arm : next.arms) {
                if (!arm.yardstick.empty())
                    throw StartupError(
                        fmt::format("{}: arms: '{}' is a clairvoyant yardstick: it only runs in "
                                    "warmup-replay",
                                    next.locate("arms"), arm.name));
                validated_arms.push_back(
                    PluginSet::create(arm.components, next, loader_, catalog_, clock_, nullptr, true));
            }
    } catch (const std::exception& failure) {
        result.http_status = 422;
        result.stage = "load";
        result.error = failure.what();
        spdlog::error("CONFIG_RELOAD_FAILED PLUGIN_LOAD_ERROR {} (the running plugins are unchanged)", result.error);
        return result;
    }

    // 2. On the control thread, between two steps: hand state over, publish, then drop the old instances.
    struct Published {
        bool ok = true;
        std::string error;
        std::vector<ReloadResult::SlotChange> changes;
        std::vector<std::string> notes;
        bool changed = false;
        double pause_us = 0;
    };
    const double next_budget_mb = next.memory_budget.absolute_mb;
    const bool budget_changed = next_budget_mb != running_config_.memory_budget.absolute_mb;
    Published published = call_on_control([&](WarmupEngine& engine) {
        Published out;
        const auto started = std::chrono::steady_clock::now();
        LiveArm& control = *arms_.front();
        for (const ComponentSlot slot : kAllSlots) {
            const auto& old_instance = control.plugins->at(slot);
            const auto& new_instance = next_control->at(slot);
            if (old_instance == new_instance) continue;
            ReloadResult::SlotChange change{std::string(slot_key(slot)), instance_label(*old_instance),
                                            instance_label(*new_instance), ""};
            const auto* old_state =
                static_cast<const warmup_state_extension*>(old_instance->extension(WARMUP_EXT_STATE));
            const auto* new_state =
                static_cast<const warmup_state_extension*>(new_instance->extension(WARMUP_EXT_STATE));
            const char* old_schema = old_state != nullptr ? old_state->schema(old_instance->self()) : nullptr;
            const char* new_schema = new_state != nullptr ? new_state->schema(new_instance->self()) : nullptr;
            if (old_schema == nullptr || new_schema == nullptr) {
                change.state = fmt::format("started cold: {} has no state extension",
                                           old_schema == nullptr ? "the old plugin" : "the new plugin");
            } else if (std::string_view(old_schema) != std::string_view(new_schema)) {
                change.state = fmt::format("started cold: state schemas differ ('{}' vs '{}')", old_schema, new_schema);
            } else {
                std::string bytes;
                warmup_byte_writer writer{&bytes, [](void* context, const char* data, size_t size) {
                                              static_cast<std::string*>(context)->append(data, size);
                                              return 0;
                                          }};
                warmup_error* error = old_state->export_state(old_instance->self(), &writer);
                if (error == nullptr)
                    error = new_state->import_state(new_instance->self(), {bytes.data(), bytes.size()});
                if (error != nullptr) {
                    ErrorPtr owned(error);
                    out.ok = false;
                    out.error = fmt::format("state hand-off of {} from {} to {} failed: {}: {}", slot_key(slot),
                                            change.from, change.to, status_name(owned->code), owned->message);
                    return out;  // nothing published yet: the running set is untouched
                }
                change.state = fmt::format("handed over ({}, {} bytes)", old_schema, bytes.size());
            }
            out.changes.push_back(std::move(change));
        }

        // Experiment arms: unchanged ones keep running, new or changed ones start cold, removed ones stop.
        for (auto& arm : arms_) arm->engine->flush_metrics();  // into the sink that is about to be replaced
        std::vector<std::unique_ptr<LiveArm>> old_arms;
        for (std::size_t i = 1; i < arms_.size(); ++i) old_arms.push_back(std::move(arms_[i]));
        std::vector<std::unique_ptr<LiveArm>> new_arms;
        try {
            new_arms = build_experiment_arms(next, old_arms);
        } catch (const std::exception& failure) {
            for (std::size_t i = 1; i < arms_.size(); ++i) arms_[i] = std::move(old_arms[i - 1]);
            out.ok = false;
            out.error = failure.what();
            return out;
        }
        for (const auto& arm : old_arms)
            if (arm) out.notes.push_back(fmt::format("experiment arm '{}' stopped", arm->name));
        for (const auto& arm : new_arms)
            if (!arm->engine)
                out.notes.push_back(fmt::format("experiment arm '{}' started ({})", arm->name,
                                                arm->mode == LiveArm::Mode::Shadow ? "shadow" : "acting"));

        engine.replace_components(next_control->component_set(), clock_.now_ms());
        if (control.plugins->at(ComponentSlot::Backend) != next_control->at(ComponentSlot::Backend))
            workers_->set_backend(next_control->at(ComponentSlot::Backend));
        std::swap(control.plugins, next_control);
        control.weight = next.experiment.control_weight;
        arms_.resize(1);
        for (auto& arm : new_arms) arms_.push_back(std::move(arm));
        experiment_ = next.experiment;
        // Arms that kept running need the (possibly new) shared metrics sink.
        for (std::size_t i = 1; i < arms_.size(); ++i)
            if (arms_[i]->engine) {
                ComponentSet components = arms_[i]->plugins->component_set();
                components.metrics = control.plugins->component_set().metrics;
                arms_[i]->engine->replace_components(components, clock_.now_ms());
            }
        assign_budgets(next_budget_mb);
        // A new predictor, analyzer or scheduler (or a rollback to the old ones) would plan differently: every model
        // gets a fresh plan now, not at its next event, so loaded models drop the old unload plan and planned
        // pre-warms come back.
        out.changed = !out.changes.empty() || !out.notes.empty() || budget_changed;
        if (out.changed)
            for (auto& arm : arms_) arm->engine->replan_all(clock_.now_ms());
        out.pause_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
        next_control.reset();  // replaced instances are destroyed here, on the control thread; their libraries go
        old_arms.clear();      // when nothing else holds them
        return out;
    });

    if (!published.ok) {
        result.http_status = 500;
        result.stage = "state";
        result.error = published.error;
        spdlog::error("CONFIG_RELOAD_FAILED STATE_HANDOFF_ERROR {} (the running plugins are unchanged)", result.error);
        return result;
    }
    result.ok = true;
    result.changes = std::move(published.changes);
    // Event sources are swapped after the components: a replaced source stops before its successor starts.
    for (const EventSources::Change& change : sources_->publish(std::move(next_sources))) {
        result.changed = true;
        if (change.from.empty())
            result.notes.push_back(fmt::format("source '{}' started ({})", change.name, change.to));
        else if (change.to.empty())
            result.notes.push_back(fmt::format("source '{}' stopped ({})", change.name, change.from));
        else
            result.changes.push_back({"sources." + change.name, change.from, change.to,
                                      "started from the position in its state folder, if any"});
    }
    result.pause_us = published.pause_us;
    for (auto& note : published.notes) result.notes.push_back(std::move(note));
    if (budget_changed)
        result.notes.push_back(
            fmt::format("budgets.memory_mb: {} -> {} MiB", running_config_.memory_budget.absolute_mb, next_budget_mb));
    result.changed = result.changed || published.changed;
    // Settings applied without touching a component (read by the control loop and the workers' timeout check).
    const auto setting = [&](bool differs, std::string note) {
        if (!differs) return;
        result.notes.push_back(std::move(note));
        result.changed = true;
    };
    setting(next.warmup_timeout_ms != running_config_.warmup_timeout_ms,
            fmt::format("budgets.warmup_timeout_ms: {} -> {} ms", running_config_.warmup_timeout_ms,
                        next.warmup_timeout_ms));
    setting(next.ingest_request_window_ms != running_config_.ingest_request_window_ms,
            fmt::format("ingest.request_window_ms: {} -> {} ms", running_config_.ingest_request_window_ms,
                        next.ingest_request_window_ms));
    setting(next.reconcile_interval_ms != running_config_.reconcile_interval_ms,
            fmt::format("reconcile.interval_ms: {} -> {} ms", running_config_.reconcile_interval_ms,
                        next.reconcile_interval_ms));
    if (reload_listener_.apply)
        for (auto& note : reload_listener_.apply(running_config_, next)) setting(true, std::move(note));
    if (result.changed) {
        if (!is_rollback)
            previous_config_ = running_config_;
        else
            previous_config_.reset();
    }
    warmup_timeout_ms_.store(next.warmup_timeout_ms);
    request_window_ms_.store(next.ingest_request_window_ms);
    reconcile_interval_ms_.store(next.reconcile_interval_ms);
    running_config_ = std::move(next);
    for (const auto& change : result.changes)
        spdlog::info("CONFIG_RELOADED {}: {} -> {} ({})", change.slot, change.from, change.to, change.state);
    spdlog::info("CONFIG_RELOADED {} component(s) replaced{}, control loop paused {:.0f} us", result.changes.size(),
                 is_rollback ? " by rollback" : "", result.pause_us);
    return result;
}

}  // namespace warmup::host

namespace warmup::host {

OperationResult LiveRuntime::restart_workers() {
    // On the control thread: no load can start while the executor is swapped. Loads running on the old arena keep
    // their entries there and still answer the engine (or time out through expire()); the old arena is kept until
    // stop(), because a task_group must not be destroyed while a stuck backend call still runs in it.
    OperationResult result;
    const auto [still_running, workers] = call_on_control([this](WarmupEngine&) {
        const std::size_t running = workers_->loads_running();
        auto fresh = std::make_unique<WorkerExecutor>(*this, workers_->backend(), running_config_workers(),
                                                      workers_->load_order());
        retired_workers_.push_back(std::exchange(workers_, std::move(fresh)));
        return std::pair{running, running_config_workers()};
    });
    worker_restarts_.fetch_add(1);
    result.facts = {{"loads_left_on_old_workers", static_cast<double>(still_running)},
                    {"workers", static_cast<double>(workers)},
                    {"worker_restarts", static_cast<double>(worker_restarts_.load())},
                    {"timed_out_loads", static_cast<double>(timed_out_loads_.load())}};
    spdlog::info("WORKERS_RESTARTED {} worker thread(s); {} load(s) left running on the old workers", workers,
                 still_running);
    return result;
}

std::size_t LiveRuntime::loads_running_on_workers() {
    std::size_t running = workers_->loads_running();
    for (auto& retired : retired_workers_) running += retired->loads_running();
    return running;
}

}  // namespace warmup::host
