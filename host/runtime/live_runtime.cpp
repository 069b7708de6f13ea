#include "runtime/live_runtime.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/errors.hpp"

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
        arena_.execute([this, &record, model, ticket] {
            group_->run([this, &record, model, ticket] {
                warmup_model_info info = to_info(record);
                warmup_load_result result{};
                result.struct_size = sizeof result;
                warmup_cancel_token cancel{&runtime_.running_, [](void* context) {
                                               return static_cast<std::atomic<bool>*>(context)->load() ? 0 : 1;
                                           }};
                const auto started = std::chrono::steady_clock::now();
                warmup_error* error = backend_->vtable<warmup_model_backend_vtable>()->load(backend_->self(), &info,
                                                                                            &cancel, &result);
                const double load_ms =
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
                if (error != nullptr) {
                    ErrorPtr owned(error);
                    spdlog::warn("MODEL_LOAD_ERROR backend {} could not load {}: {}: {}", backend_->label(),
                                 record.name, status_name(owned->code), owned->message);
                }
                runtime_.completions_.push({model, ticket, error == nullptr, load_ms, result.memory_mb});
                runtime_.wake();
            });
        });
    }

    void start_unload(warmup_model_index model, warmup_time_ms /*now_ms*/) override {
        const ModelRecord& record = runtime_.catalog_.record(model);
        arena_.execute([this, &record] {
            group_->run([this, &record] {
                warmup_model_info info = to_info(record);
                warmup_error* error =
                    backend_->vtable<warmup_model_backend_vtable>()->unload(backend_->self(), &info);
                if (error != nullptr) {
                    ErrorPtr owned(error);
                    spdlog::warn("MODEL_UNLOAD_ERROR backend {} could not unload {}: {}", backend_->label(),
                                 record.name, owned->message);
                }
            });
        });
    }

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

LiveRuntime::LiveRuntime(Config config)
    : config_(std::move(config)), catalog_(config_.catalog), loader_(config_.plugin_dirs) {
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

LiveRuntime::~LiveRuntime() { stop(); }

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
