#include "runtime/sources/source_runner.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>
#include <vector>

#include "core/errors.hpp"
#include "core/usage_event.hpp"

namespace warmup::host {
namespace {

/// SOURCE_BAD_RECORD lines: the first at once, then at most one per this interval per source (with how many more
/// there were), so a file of garbage cannot flood the log.
constexpr int64_t kBadRecordLogIntervalMs = 10'000;

int64_t unix_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string_view view(warmup_string_view text) noexcept {
    return text.data == nullptr ? std::string_view{} : std::string_view(text.data, text.size);
}

// Makes `dir` (and its parents) and keeps it private to the daemon's user: a source's position file says which
// log files it read and how far.
std::string prepare_state_dir(const std::filesystem::path& dir) {
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) return fmt::format("cannot create the state folder '{}': {}", dir.string(), error.message());
    // A folder this user may write but not chmod (owned by another) still keeps the position: said, not refused.
    if (::chmod(dir.c_str(), 0700) != 0)
        spdlog::warn("SOURCE_ERROR cannot make the state folder '{}' private (chmod 0700): {}; it is used as it is",
                     dir.string(), std::strerror(errno));
    return {};
}

}  // namespace

SourceRunner::SourceRunner(SourceConfig config, std::shared_ptr<PluginInstance> instance,
                           std::filesystem::path state_dir, SourceIngest ingest)
    : config_(std::move(config)),
      instance_(std::move(instance)),
      state_dir_(std::move(state_dir)),
      ingest_(std::move(ingest)) {}

SourceRunner::~SourceRunner() { stop(); }

void SourceRunner::start() {
    if (thread_.joinable()) return;
    if (!state_dir_.empty()) {
        if (std::string problem = prepare_state_dir(state_dir_); problem.empty()) {
            state_dir_text_ = state_dir_.string();
        } else {
            spdlog::error("SOURCE_ERROR source '{}' ({}): {}; it runs without remembering its position", config_.name,
                          instance_->label(), problem);
            std::lock_guard lock(health_mutex_);
            health_.state_problem = problem;
        }
    }
    thread_ = std::thread([this] { run(); });
}

void SourceRunner::stop() {
    {
        std::lock_guard lock(wait_mutex_);
        stopping_.store(true);
    }
    wait_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool SourceRunner::wait(int64_t delay_ms) {
    std::unique_lock lock(wait_mutex_);
    wait_cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(0, delay_ms)),
                      [this] { return stopping_.load(); });
    return !stopping_.load();
}

SourceHealth SourceRunner::health() const {
    std::lock_guard lock(health_mutex_);
    return health_;
}

void SourceRunner::run() {
    const auto* vtable = instance_->vtable<warmup_source_vtable>();
    warmup_cancel_token cancel{
        this, [](void* context) { return static_cast<SourceRunner*>(context)->stopping_.load() ? 1 : 0; }};
    warmup_source_poll call{};
    call.struct_size = sizeof call;
    call.source_name = {config_.name.data(), config_.name.size()};
    call.state_dir = {state_dir_text_.data(), state_dir_text_.size()};
    call.cancel = &cancel;
    call.sink_context = this;
    call.emit = [](void* context, const warmup_source_event* events, size_t count) -> size_t {
        return static_cast<SourceRunner*>(context)->emit(events, count);
    };
    call.reject = [](void* context, warmup_string_view reason) {
        static_cast<SourceRunner*>(context)->reject(view(reason));
    };

    int64_t backoff_ms = kFirstBackoffMs;
    while (!stopping_.load()) {
        warmup_source_poll_result result{};
        result.struct_size = sizeof result;
        result.next_poll_in_ms = kFirstBackoffMs;
        ErrorPtr error(vtable->poll(instance_->self(), &call, &result));
        const int64_t now_unix_ms = unix_now_ms();
        int64_t delay_ms = std::max<int64_t>(0, result.next_poll_in_ms);
        bool was_failing = false;
        {
            std::lock_guard lock(health_mutex_);
            was_failing = health_.failing;
            ++health_.polls;
            health_.last_poll_unix_ms = now_unix_ms;
            health_.failing = error != nullptr;
            if (error) {
                ++health_.failed_polls;
                health_.last_error = fmt::format("{}: {}", status_name(error->code), error->message);
                health_.last_error_unix_ms = now_unix_ms;
            }
        }
        if (error) {
            // NOT_FOUND (a followed file not there yet) costs the source a look, not a server: it is looked for again
            // every second whatever failed before, so what is written to it once it appears is read while it is new.
            if (error->code == WARMUP_ERROR_NOT_FOUND) backoff_ms = kFirstBackoffMs;
            // The first failure and every change of message are logged; a source that keeps failing the same way
            // is logged again at most once per back-off ceiling.
            if (!was_failing || backoff_ms >= kMaxBackoffMs)
                spdlog::error("SOURCE_ERROR source '{}' ({}): poll failed: {}: {} (polled again in {} ms)",
                              config_.name, instance_->label(), status_name(error->code), error->message,
                              std::max(delay_ms, backoff_ms));
            if (error->code == WARMUP_ERROR_CANCELLED && stopping_.load()) break;
            delay_ms = std::max(delay_ms, backoff_ms);
            if (error->code != WARMUP_ERROR_NOT_FOUND) backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
        } else {
            if (was_failing)
                spdlog::info("SOURCE_RECOVERED source '{}' ({}) polls again", config_.name, instance_->label());
            backoff_ms = kFirstBackoffMs;
        }
        if (!wait(delay_ms)) break;
    }
}

std::size_t SourceRunner::emit(const warmup_source_event* events, std::size_t count) {
    if (events == nullptr || count == 0) return 0;
    const warmup_time_ms now_ms = ingest_.clock->now_ms();
    std::vector<warmup_usage_event> batch;
    std::vector<std::size_t> positions;                         // positions[i]: index in `events` of batch[i]
    std::vector<std::pair<std::size_t, std::string>> refusals;  // index in `events`, reason
    batch.reserve(count);
    positions.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const warmup_source_event& in = events[i];
        const std::string_view model = view(in.model);
        std::string problem;
        std::optional<warmup_model_index> index;
        // The name and the time pass the checks a POSTed event passes (core/usage_event.hpp), so a source cannot
        // bring in what a POST is refused; a refused name is not echoed (it may hold control characters).
        if (auto name_problem = model_name_problem(model)) {
            problem = std::move(*name_problem);
        } else if (auto count_problem = event_count_problem(in.count)) {
            problem = fmt::format("model '{}': {} (it is {})", model, *count_problem, in.count);
        } else if (auto time_problem = event_time_problem(in.ts_ms, now_ms)) {
            problem = fmt::format("model '{}': {}", model, *time_problem);
        } else if (index = ingest_.catalog->resolve(model, Catalog::Registration::within_limit); !index) {
            problem = unknown_model_reason(*ingest_.catalog, model);
        }
        if (!problem.empty()) {
            refusals.emplace_back(i, std::move(problem));
            continue;
        }
        batch.push_back(make_usage_event(*index, in.ts_ms, in.count, view(in.tenant)));
        positions.push_back(i);
    }
    const std::size_t accepted = batch.empty() ? 0 : ingest_.ingest(batch);
    // Everything before the first event the queue had no room for was taken (queued or refused for its content);
    // a refused event after it is not taken: the source offers it again, and it is counted then, once.
    const std::size_t taken = accepted < batch.size() ? positions[accepted] : count;
    uint64_t refused = 0;
    for (auto& [index, reason] : refusals) {
        if (index >= taken) break;
        ++refused;
        note_bad("event refused: " + reason, /*is_refused_event=*/true);
    }
    std::lock_guard lock(health_mutex_);
    health_.events_accepted += accepted;
    health_.events_refused += refused;
    return taken;
}

void SourceRunner::reject(std::string_view reason) {
    note_bad(std::string(reason.empty() ? std::string_view("a record the source could not read") : reason),
             /*is_refused_event=*/false);
}

void SourceRunner::note_bad(std::string reason, bool is_refused_event) {
    const int64_t now_unix_ms = unix_now_ms();
    {
        std::lock_guard lock(health_mutex_);
        if (!is_refused_event) ++health_.bad_records;
        health_.last_bad_record = reason;
    }
    ++bad_since_last_log_;
    if (last_bad_log_unix_ms_ != 0 && now_unix_ms - last_bad_log_unix_ms_ < kBadRecordLogIntervalMs) return;
    if (bad_since_last_log_ > 1)
        spdlog::warn("SOURCE_BAD_RECORD source '{}' ({}): {} (and {} more since the last such line)", config_.name,
                     instance_->label(), reason, bad_since_last_log_ - 1);
    else
        spdlog::warn("SOURCE_BAD_RECORD source '{}' ({}): {}", config_.name, instance_->label(), reason);
    last_bad_log_unix_ms_ = now_unix_ms;
    bad_since_last_log_ = 0;
}

}  // namespace warmup::host
