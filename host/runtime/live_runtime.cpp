// runtime/live_runtime.cpp — the LiveRuntime's life: loading the configuration's plugins and arms, starting and
// stopping the control thread, the workers and the sources. The rest of the class is split by responsibility:
// ingest.cpp (try_ingest and a step's batch), control_loop.cpp, reconcile.cpp, experiment_arms.cpp, reload.cpp,
// operations.cpp, component_health.cpp and state_keeping.cpp; the workers are load_workers.hpp.
// Threads as in the header: the control thread owns engines and plugins; workers call the backend only.
#include "runtime/live_runtime.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>

#include "runtime/crash_report.hpp"

namespace warmup::host {
namespace {

// Libraries are loaded from content-addressed copies, so a plugin rebuilt at the same path is really new code.
// One folder per runtime (several runtimes may live in one process, e.g. in tests).
// A daemon killed with SIGKILL cannot remove its folder: the next start removes the folders of processes that no
// longer exist (only this user's, by the loader's ownership rule; a folder it cannot remove is left alone).
std::filesystem::path make_plugin_cache_dir() {
    namespace fs = std::filesystem;
    static std::atomic<uint32_t> counter{0};
    std::error_code temp_error;
    const fs::path temp = fs::temp_directory_path(temp_error);
    if (temp_error) {
        const char* tmpdir = std::getenv("TMPDIR");
        throw std::runtime_error(
            fmt::format("plugin cache: no folder for temporary files ({}{}): {}; set TMPDIR to a writable folder",
                        tmpdir != nullptr ? "TMPDIR=" : "/tmp", tmpdir != nullptr ? tmpdir : "", temp_error.message()));
    }
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

}  // namespace

LiveRuntime::LiveRuntime(Config config)
    : config_(std::move(config)),
      catalog_(config_.catalog, config_.max_models),
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
    workers_ = std::make_unique<LoadWorkers>(catalog_, worker_outbox(), control_plugins->at(ComponentSlot::Backend),
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
    // From the file's stamp before it was read, not from now: an edit saved while the plugins were loading (or later,
    // before the watch starts) is reloaded at the first poll.
    config_file_watcher_.configure(config_.source_file, config_.reload_watch_file, config_.reload_poll_ms,
                                   config_.source_stamp);
    warmup_timeout_ms_.store(config_.warmup_timeout_ms);
    unload_timeout_ms_.store(config_.unload_timeout_ms);
    request_window_ms_.store(config_.ingest_request_window_ms);
    reconcile_interval_ms_.store(config_.reconcile_interval_ms);
    assign_budgets(config_.memory_budget.absolute_mb);
    // Sources: created now (a bad source refuses the start like a bad component), polled from start_sources().
    SourceIngest ingest{&catalog_, &clock_, [this](std::span<const warmup_usage_event> events) {
                            return try_ingest(events, /*count_refusals=*/false);  // the source keeps the rest
                        }};
    sources_ = std::make_unique<Sources>(
        std::move(ingest), config_.state.enabled ? config_.state.dir / "sources" : std::filesystem::path());
    sources_->publish(sources_->prepare(config_.sources, config_, loader_, catalog_, clock_));
}

LiveRuntime::~LiveRuntime() {
    stop();
    sources_.reset();  // their threads call try_ingest: gone before anything they use
    arms_.clear();
    workers_.reset();
}  // plugin_cache_removal_ removes the library copies

WorkerOutbox LiveRuntime::worker_outbox() {
    return WorkerOutbox{&completions_,        &listings_,
                        [this] { wake(); },   &running_,
                        &unload_completions_, [this](const std::string& error) { note_backend_error(error); }};
}

void LiveRuntime::start() {
    if (running_.exchange(true)) return;
    control_thread_ = std::thread([this] {
        use_alternate_signal_stack();  // a plugin's stack overflow is still reported (runtime/crash_report.hpp)
        control_loop();
        control_exited_.store(true);
    });
    stall_watch_thread_ = std::thread([this] { watch_for_stalls(); });
}

std::optional<LiveRuntime::ControlStall> LiveRuntime::control_stall() const {
    const auto threshold = std::chrono::milliseconds(config_.plugin_call_stall_ms);
    const auto as_ms = [](auto duration) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
    };
    if (const auto call = call_watch_.current(); call && call->running >= threshold)
        return ControlStall{fmt::format("{} {}: {}", call->slot, call->label, call->what), as_ms(call->running)};
    const int64_t step_started_ns = step_started_ns_.load();
    if (step_started_ns == 0) return std::nullopt;
    const auto running =
        std::chrono::steady_clock::now().time_since_epoch() - std::chrono::steady_clock::duration(step_started_ns);
    if (running < threshold) return std::nullopt;
    // A step of many calls (a reload planning every model again), each under the threshold or not yet past it: the
    // call it is in now names the plugin.
    if (const auto call = call_watch_.current())
        return ControlStall{fmt::format("a control-loop step (now in {} {}: {}, for {:.1f} s)", call->slot, call->label,
                                        call->what, std::chrono::duration<double>(call->running).count()),
                            as_ms(running)};
    return ControlStall{"a control-loop step", as_ms(running)};
}

std::optional<std::string> LiveRuntime::stalled_in_plugin() const {
    if (const auto stall = control_stall()) return describe(*stall);
    if (reload_stall(/*creating_plugins_only=*/false)) return reload_busy_message();
    return std::nullopt;
}

std::string LiveRuntime::describe(const ControlStall& stall) {
    return fmt::format("the control loop is stalled: {} has not returned for {:.1f} s", stall.where,
                       static_cast<double>(stall.for_ms) / 1000.0);
}

// The stall watch's thread: logs a stall once when it starts and once when it ends (the loop resumed). What a stall
// changes elsewhere (503 from /healthz and /readyz, call_on_control giving up) reads control_stall() directly.
void LiveRuntime::watch_for_stalls() {
    std::optional<ControlStall> reported;
    bool reload_reported = false;
    std::unique_lock lock(stall_watch_mutex_);
    while (!stall_watch_cv_.wait_for(lock, kStallCheckInterval, [this] { return stall_watch_stopping_; })) {
        // A reload whose plugin constructor does not return holds no decision (it runs on the caller's thread), but
        // every later reload is refused meanwhile: said once when it passes the stall threshold, and once it ends.
        const bool reload_stalled = reload_stall(/*creating_plugins_only=*/true).has_value();
        if (reload_stalled && !reload_reported)
            spdlog::error("RELOAD_STALLED {}", reload_busy_message());
        else if (!reload_stalled && reload_reported)
            spdlog::warn("RELOAD_RESUMED the stalled reload has returned; reloads are taken again");
        reload_reported = reload_stalled;
        // The stall is named as first seen (a plugin call); once that call returns, the rest of its step may still
        // count as stalled for a moment, and the end is reported under the first name.
        const std::optional<ControlStall> stall = control_stall();
        if (stall && !reported) {
            spdlog::error(
                "CONTROL_LOOP_STALLED {}: no decision is made until it returns; events are queued (refused with 503 "
                "once the queue is full), /healthz and /readyz answer 503, and requests that need the control loop "
                "answer 503",
                describe(*stall));
            reported = stall;
        } else if (!stall && reported) {
            spdlog::warn("CONTROL_LOOP_RESUMED {} returned; decisions resume", reported->where);
            reported.reset();
        }
    }
}

void LiveRuntime::start_sources() { sources_->start(); }

bool LiveRuntime::stop() {
    // No reload starts from a file change once stopping: the watcher's callback would reload a runtime going away.
    config_file_watcher_.stop();
    // Sources first: no new events while the rest stops (and a source never waits on a stopped control loop).
    if (sources_) sources_->stop();
    if (!running_.load()) return true;
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
    if (!running_.exchange(false)) return true;
    wake();
    // The control thread ends after its current step; one stalled in a plugin call may never end.
    while (!control_exited_.load()) {
        if (const auto stall = control_stall()) {
            spdlog::critical("SHUTDOWN_STALLED {}; the daemon cannot stop cleanly", describe(*stall));
            control_thread_.detach();
            stop_stall_watch();
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (control_thread_.joinable()) control_thread_.join();
    stop_stall_watch();
    if (!wait_for_unloads_at_stop()) return false;
    workers_->wait();  // every load and unload has ended: this ends the listings
    for (auto& retired : retired_workers_) retired->wait();
    return true;
}

bool LiveRuntime::wait_for_unloads_at_stop() {
    // Loads see the cancel token and return; an unload has none, and waiting on the workers for one that never returns
    // would hang the stop for good. So the workers are waited for here, on every pool (the retired ones too), until
    // none has a load or an unload left; and as nothing else watches the unloads now (the control loop has ended),
    // this loop marks those past budgets.unload_timeout_ms: once one is, the stop gives up as it does for a stalled
    // control loop. Until the pools are idle, an unload may still start (one queued for a worker, or the unload of a
    // load that finished after its timeout): it is watched the same way.
    const int64_t timeout_ms = unload_timeout_ms_.load();
    std::vector<LoadWorkers*> pools{workers_.get()};
    for (auto& retired : retired_workers_) pools.push_back(retired.get());
    while (true) {
        bool idle = true;
        std::vector<RunningUnload> stuck;
        for (LoadWorkers* pool : pools) {
            idle = pool->idle() && idle;  // before the unloads: one that starts after this is seen next round
            pool->expire_unloads(timeout_ms);
            for (RunningUnload& unload : pool->timed_out_unloads()) stuck.push_back(unload);
        }
        if (!stuck.empty()) {
            spdlog::critical(
                "SHUTDOWN_STALLED the backend unload of {} has not returned after budgets.unload_timeout_ms ({} ms); "
                "the daemon cannot stop cleanly",
                catalog_.record(stuck.front().model).name, timeout_ms);
            return false;
        }
        if (idle) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void LiveRuntime::stop_stall_watch() {
    {
        std::lock_guard lock(stall_watch_mutex_);
        stall_watch_stopping_ = true;
    }
    stall_watch_cv_.notify_all();
    if (stall_watch_thread_.joinable()) stall_watch_thread_.join();
}

}  // namespace warmup::host
