#include "runtime/live_runtime.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/errors.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

namespace warmup::host {

/// Runs backend loads and unloads on a TBB arena with max_concurrent_warmups threads; completions go back to the
/// control thread through a queue. The backend instance is shared by all workers (backends are thread-safe by ABI).
class LiveRuntime::WorkerExecutor final : public LoadExecutor {
  public:
    WorkerExecutor(LiveRuntime& runtime, std::shared_ptr<PluginInstance> backend, uint32_t workers)
        : runtime_(runtime), backend_(std::move(backend)), arena_(static_cast<int>(workers)) {}

    ~WorkerExecutor() override {
        try {
            wait();
        } catch (...) {
            // A backend exception cannot escape the SDK guard; nothing useful to do at destruction.
        }
    }

    void wait() {
        arena_.execute([this] { group_->wait(); });
    }

    void start_load(warmup_model_index model, uint64_t ticket, warmup_time_ms /*now_ms*/) override {
        const ModelRecord& record = runtime_.catalog_.record(model);
        auto backend = backend_;  // a hot-swap may replace backend_; a running load keeps its own
        arena_.execute([this, &record, model, ticket, backend] {
            group_->run([this, &record, model, ticket, backend] {
                warmup_model_info info = to_info(record);
                warmup_load_result result{};
                result.struct_size = sizeof result;
                warmup_cancel_token cancel{&runtime_.running_, [](void* context) {
                                               return static_cast<std::atomic<bool>*>(context)->load() ? 0 : 1;
                                           }};
                const auto started = std::chrono::steady_clock::now();
                warmup_error* error =
                    backend->vtable<warmup_model_backend_vtable>()->load(backend->self(), &info, &cancel, &result);
                const double load_ms =
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
                if (error != nullptr) {
                    ErrorPtr owned(error);
                    spdlog::warn("MODEL_LOAD_ERROR backend {} could not load {}: {}: {}", backend->label(),
                                 record.name, status_name(owned->code), owned->message);
                }
                runtime_.completions_.push({model, ticket, error == nullptr, load_ms, result.memory_mb});
                runtime_.wake();
            });
        });
    }

    void start_unload(warmup_model_index model, warmup_time_ms /*now_ms*/) override {
        const ModelRecord& record = runtime_.catalog_.record(model);
        auto backend = backend_;
        arena_.execute([this, &record, backend] {
            group_->run([&record, backend] {
                warmup_model_info info = to_info(record);
                warmup_error* error = backend->vtable<warmup_model_backend_vtable>()->unload(backend->self(), &info);
                if (error != nullptr) {
                    ErrorPtr owned(error);
                    spdlog::warn("MODEL_UNLOAD_ERROR backend {} could not unload {}: {}", backend->label(),
                                 record.name, owned->message);
                }
            });
        });
    }

    /// [control] The backend for loads started from now on.
    void set_backend(std::shared_ptr<PluginInstance> backend) { backend_ = std::move(backend); }

  private:
    static warmup_model_info to_info(const ModelRecord& record) {
        warmup_model_info info{};
        info.struct_size = sizeof info;
        info.index = record.index;
        info.name = {record.name.data(), record.name.size()};
        info.memory_mb = record.memory_mb;
        info.load_ms = record.load_ms;
        info.unload_ms = record.unload_ms;
        info.priority = record.priority;
        return info;
    }

    LiveRuntime& runtime_;
    std::shared_ptr<PluginInstance> backend_;
    tbb::task_arena arena_;
    std::unique_ptr<tbb::task_group> group_ = std::make_unique<tbb::task_group>();
};

namespace {

// Libraries are loaded from content-addressed copies, so a plugin rebuilt at the same path is really new code.
std::filesystem::path plugin_cache_dir() {
    return std::filesystem::temp_directory_path() / fmt::format("warmupd-plugins-{}", ::getpid());
}

}  // namespace

LiveRuntime::LiveRuntime(Config config)
    : config_(std::move(config)), catalog_(config_.catalog), loader_(config_.plugin_dirs, plugin_cache_dir()) {
    running_config_ = config_;
    if (config_.memory_budget.is_relative())
        throw StartupError(fmt::format("{}: budgets.memory_mb: a relative budget ({}) needs a trace; the daemon needs "
                                       "an absolute budget in MiB",
                                       config_.locate("budgets.memory_mb"), config_.memory_budget.describe()));
    plugins_ = PluginSet::create(config_.components, config_, loader_, catalog_, clock_);
    ingest_.set_capacity(static_cast<std::ptrdiff_t>(config_.ingest_queue_capacity));
    executor_ = std::make_unique<WorkerExecutor>(*this, plugins_->at(ComponentSlot::Backend),
                                                 config_.max_concurrent_warmups);
    EngineOptions options;
    options.memory_budget_mb = config_.memory_budget.absolute_mb;
    options.max_concurrent_loads = config_.max_concurrent_warmups;
    engine_ = std::make_unique<WarmupEngine>(plugins_->component_set(), *executor_, catalog_, options);
}

LiveRuntime::~LiveRuntime() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(plugin_cache_dir(), ignored);  // mapped libraries stay valid after unlink
}

void LiveRuntime::start() {
    if (running_.exchange(true)) return;
    control_thread_ = std::thread([this] { control_loop(); });
}

void LiveRuntime::stop() {
    if (!running_.exchange(false)) return;
    wake();
    if (control_thread_.joinable()) control_thread_.join();
    executor_->wait();  // running backend calls see the cancel token and return
}

bool LiveRuntime::try_ingest(const warmup_usage_event& event) {
    if (!ingest_.try_push(event)) {
        refused_events_.fetch_add(1);
        return false;
    }
    accepted_events_.fetch_add(1);
    wake();
    return true;
}

void LiveRuntime::wake() {
    {
        std::lock_guard lock(wake_mutex_);
        woken_ = true;
    }
    wake_cv_.notify_one();
}

void LiveRuntime::control_loop() {
    std::vector<warmup_usage_event> batch;
    batch.reserve(4096);
    warmup_time_ms newest_event_ms = 0;
    while (running_.load()) {
        const auto step_started = std::chrono::steady_clock::now();
        bool worked = false;

        Completion completion{};
        while (completions_.try_pop(completion)) {
            engine_->on_load_finished(completion.model, completion.ticket, completion.succeeded, completion.load_ms,
                                      completion.memory_mb, clock_.now_ms());
            worked = true;
        }

        batch.clear();
        warmup_usage_event event{};
        while (batch.size() < 65536 && ingest_.try_pop(event)) batch.push_back(event);
        if (!batch.empty()) {
            // The analyzer needs time order. Events posted late (older than what was already processed) are counted
            // at the newest time seen, so learned idle gaps never go negative.
            std::stable_sort(batch.begin(), batch.end(),
                             [](const auto& a, const auto& b) { return a.ts_ms < b.ts_ms; });
            for (auto& e : batch) e.ts_ms = std::max(e.ts_ms, newest_event_ms);
            newest_event_ms = batch.back().ts_ms;
            engine_->on_events(batch, std::max(clock_.now_ms(), newest_event_ms));
            engine_->metric(WARMUP_METRIC_EVENTS_ACCEPTED, WARMUP_NO_MODEL, clock_.now_ms(),
                            static_cast<double>(batch.size()));
            worked = true;
        }

        const warmup_time_ms now_ms = clock_.now_ms();
        if (engine_->next_timer_ms() <= now_ms) {
            engine_->run_timers(now_ms);
            worked = true;
        }

        std::function<void(WarmupEngine&)> command;
        while (commands_.try_pop(command)) {
            engine_->flush_metrics();
            command(*engine_);
        }

        if (worked) {
            const double step_us =
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - step_started).count();
            engine_->metric(WARMUP_METRIC_DECISION_CYCLE_US, WARMUP_NO_MODEL, now_ms, step_us);
            engine_->flush_metrics();
            continue;  // more may have arrived meanwhile
        }

        // Sleep until the next timer (at most 100 ms, so a clock jump is noticed) or until woken.
        const warmup_time_ms next_ms = engine_->next_timer_ms();
        const auto wait_ms = std::clamp<warmup_time_ms>(next_ms == WARMUP_TIME_NEVER ? 100 : next_ms - now_ms, 0, 100);
        std::unique_lock lock(wake_mutex_);
        wake_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return woken_; });
        woken_ = false;
    }
    // Run the commands still queued so no caller of call_on_control waits forever.
    std::function<void(WarmupEngine&)> command;
    while (commands_.try_pop(command)) command(*engine_);
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
             running.http.max_body_mb != next.http.max_body_mb,
         "http");
    note(running.plugin_dirs != next.plugin_dirs, "plugin_dirs");
    note(running.max_concurrent_warmups != next.max_concurrent_warmups, "budgets.max_concurrent_warmups");
    note(running.ingest_queue_capacity != next.ingest_queue_capacity, "budgets.ingest_queue_capacity");
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

ReloadResult LiveRuntime::reload(Config next) { return apply(std::move(next), /*is_rollback=*/false); }

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
        result.error = "the daemon runs the embedded default configuration: there is no file to reload (start it "
                       "with --config FILE)";
        return result;
    }
    try {
        std::error_code error;
        const auto exe = std::filesystem::read_symlink("/proc/self/exe", error);
        Config next = load_config_file(file, error ? std::filesystem::path{} : exe.parent_path());
        if (bind_override_) next.http.bind = *bind_override_;
        if (port_override_) next.http.port = *port_override_;
        return reload(std::move(next));
    } catch (const std::exception& failure) {
        result.http_status = 400;
        result.stage = "config";
        result.error = failure.what();
        spdlog::error("CONFIG_RELOAD_FAILED {}", result.error);
        return result;
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
        return result;
    }
    return apply(std::move(*previous), /*is_rollback=*/true);
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

    // 1. Load and create what changed, beside the running set (no pause yet). Unchanged slots reuse their instances.
    std::unique_ptr<PluginSet> next_set;
    try {
        next_set = PluginSet::create(next.components, next, loader_, catalog_, clock_, plugins_.get());
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
        double pause_us = 0;
    };
    const double next_budget_mb = next.memory_budget.absolute_mb;
    const bool budget_changed = next_budget_mb != running_config_.memory_budget.absolute_mb;
    Published published = call_on_control([&](WarmupEngine& engine) {
        Published out;
        const auto started = std::chrono::steady_clock::now();
        for (const ComponentSlot slot : kAllSlots) {
            const auto& old_instance = plugins_->at(slot);
            const auto& new_instance = next_set->at(slot);
            if (old_instance == new_instance) continue;
            ReloadResult::SlotChange change{std::string(slot_key(slot)), instance_label(*old_instance),
                                            instance_label(*new_instance), ""};
            const auto* old_state = static_cast<const warmup_state_extension*>(old_instance->extension(WARMUP_EXT_STATE));
            const auto* new_state = static_cast<const warmup_state_extension*>(new_instance->extension(WARMUP_EXT_STATE));
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
                if (error == nullptr) error = new_state->import_state(new_instance->self(), {bytes.data(), bytes.size()});
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
        engine.flush_metrics();
        engine.replace_components(next_set->component_set(), clock_.now_ms());
        if (plugins_->at(ComponentSlot::Backend) != next_set->at(ComponentSlot::Backend))
            executor_->set_backend(next_set->at(ComponentSlot::Backend));
        if (budget_changed) engine.set_memory_budget_mb(next_budget_mb);
        std::swap(plugins_, next_set);
        out.pause_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
        next_set.reset();  // the replaced instances are destroyed here, on the control thread; their libraries go
                           // when nothing else holds them
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
    result.pause_us = published.pause_us;
    if (budget_changed)
        result.notes.push_back(fmt::format("budgets.memory_mb: {} -> {} MiB", running_config_.memory_budget.absolute_mb,
                                           next_budget_mb));
    if (!result.changes.empty() || budget_changed) {
        if (!is_rollback) previous_config_ = running_config_;
        else previous_config_.reset();
    }
    running_config_ = std::move(next);
    for (const auto& change : result.changes)
        spdlog::info("CONFIG_RELOADED {}: {} -> {} ({})", change.slot, change.from, change.to, change.state);
    spdlog::info("CONFIG_RELOADED {} component(s) replaced{}, control loop paused {:.0f} us",
                 result.changes.size(), is_rollback ? " by rollback" : "", result.pause_us);
    return result;
}

}  // namespace warmup::host
