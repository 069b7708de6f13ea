// warmup/sdk/plugin.hpp — C++ base classes per component kind, the generated C vtables and the export macro.
//
// A plugin is one class deriving from one of the bases below, constructed from (Host, Params&). Then
//
//     WARMUP_PLUGIN(MyPredictor, "org.acme.predictor.seasonal", "1.2.0", "Seasonal predictor")
//
// in one .cpp file generates the descriptor and the exported entry `warmup_plugin_entry`. The SDK guarantees:
//  - no exception crosses the ABI: each thunk runs the method inside guard() (an escape becomes the returned error)
//    or, where the C signature returns no error (queue sizes and counts, pop, resource notifications, state schemas,
//    get_extension), inside guard_value()/guard_void() (an escape is logged through the host as an error and the
//    host gets a stated fallback);
//  - create refuses a host whose ABI is not compatible with these headers (warmup_abi_is_compatible);
//  - unknown params keys are refused after the constructor ran (Params::finish);
//  - the state extension is offered when the class overrides state_schema() to return non-null;
//  - the per-model state extension (ext/model_state.h) is offered when, in addition, the class overrides
//    supports_model_state() to return true (and the three *_model_state methods).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <warmup/sdk/error.hpp>
#include <warmup/sdk/host.hpp>
#include <warmup/sdk/params.hpp>

#if defined(_WIN32)
#define WARMUP_PLUGIN_EXPORT extern "C" __declspec(dllexport)
#else
#define WARMUP_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))
#endif

namespace warmup::sdk {

/// Where a plugin's exported state goes: the host's byte writer, in as many pieces as the plugin likes. [control]
/// The host streams the pieces to its snapshot file, so a plugin that writes its state model by model is never held
/// twice in memory, however large it is.
class StateWriter {
  public:
    explicit StateWriter(const warmup_byte_writer& out) noexcept : out_(out) {}
    /// Appends `bytes`. Throws Error(WARMUP_ERROR_RESOURCE_EXHAUSTED) when the host refuses them (its snapshot file
    /// cannot be written): the export should stop.
    void write(std::string_view bytes) const {
        if (!bytes.empty() && out_.write(out_.context, bytes.data(), bytes.size()) != 0)
            throw Error(WARMUP_ERROR_RESOURCE_EXHAUSTED, "the host refused the exported state bytes");
    }
    /// What `produce(StateWriter&)` writes, as one string (a plugin's export_state() on top of its export_state_to()).
    template <class Produce>
    static std::string collect(Produce&& produce) {
        std::string bytes;
        const warmup_byte_writer into_string{&bytes, [](void* context, const char* data, size_t size) {
                                                 static_cast<std::string*>(context)->append(data, size);
                                                 return 0;
                                             }};
        StateWriter writer(into_string);
        produce(writer);
        return bytes;
    }

  private:
    warmup_byte_writer out_;
};

/// What every plugin instance has: the host and optional state export/import.
class PluginBase {
  public:
    explicit PluginBase(Host host) : host_(host) {}
    virtual ~PluginBase() = default;
    PluginBase(const PluginBase&) = delete;
    PluginBase& operator=(const PluginBase&) = delete;

    /// Override to return a static schema id ("org.example.state.thing/1") to offer the state extension.
    [[nodiscard]] virtual const char* state_schema() const { return nullptr; }
    /// The whole learned state as bytes. Called only when state_schema() is non-null.
    [[nodiscard]] virtual std::string export_state() const { return {}; }
    /// The same bytes, written to `out` in pieces: what the host calls. Override it (and implement export_state() as
    /// StateWriter::collect of it) when the state is large, e.g. one write per model. Default: export_state().
    virtual void export_state_to(const StateWriter& out) const { out.write(export_state()); }
    /// Replace the state with bytes from export_state() of the same schema. Throw to refuse; leave state unchanged.
    virtual void import_state(std::string_view /*data*/) {
        throw Error(WARMUP_ERROR_UNSUPPORTED, "this plugin has no importable state");
    }

    /// Override to return true (with state_schema() non-null) to offer the per-model state extension: a fleet moves
    /// one model's learned state between hosts with the three methods below.
    [[nodiscard]] virtual bool supports_model_state() const { return false; }
    /// What was learned about `model` as bytes that name no model index ("" when nothing was learned).
    [[nodiscard]] virtual std::string export_model_state(warmup_model_index /*model*/) const { return {}; }
    /// Replace what is known about `model` with bytes from export_model_state() of the same schema (another
    /// process's export of the same model). Throw to refuse; leave the state unchanged then.
    virtual void import_model_state(warmup_model_index /*model*/, std::string_view /*data*/) {
        throw Error(WARMUP_ERROR_UNSUPPORTED, "this plugin has no per-model state");
    }
    /// Forget `model` as if it had never been seen.
    virtual void forget_model_state(warmup_model_index /*model*/) {}

    [[nodiscard]] const Host& host() const noexcept { return host_; }

  private:
    Host host_;
};

class Analyzer : public PluginBase {
  public:
    static constexpr warmup_plugin_kind kKind = WARMUP_KIND_ANALYZER;
    using PluginBase::PluginBase;
    virtual void observe(std::span<const warmup_usage_event> events) = 0;
    /// Fill `out` (struct_size already set by the caller). Pointers inside stay valid until the next observe/reset.
    virtual void get_pattern(warmup_model_index model, warmup_usage_pattern& out) = 0;
    virtual void reset() = 0;
};

class Predictor : public PluginBase {
  public:
    static constexpr warmup_plugin_kind kKind = WARMUP_KIND_PREDICTOR;
    using PluginBase::PluginBase;
    virtual void predict(warmup_time_ms now_ms, const warmup_usage_pattern& pattern, warmup_prediction& out) = 0;
};

class Performance : public PluginBase {
  public:
    static constexpr warmup_plugin_kind kKind = WARMUP_KIND_PERFORMANCE;
    using PluginBase::PluginBase;
    virtual void estimate(warmup_model_index model, warmup_performance_estimate& out) = 0;
    virtual void observe_load(const warmup_load_observation& observation) = 0;
};

class Scheduler : public PluginBase {
  public:
    static constexpr warmup_plugin_kind kKind = WARMUP_KIND_SCHEDULER;
    using PluginBase::PluginBase;
    virtual void plan(const warmup_plan_input& input, warmup_plan& out) = 0;
    /// When to retry the attempt-th failed warm-up, or WARMUP_TIME_NEVER to give up.
    virtual warmup_time_ms on_warmup_failed(warmup_model_index model, uint32_t attempt, warmup_time_ms now_ms) = 0;
};

class Resource : public PluginBase {
  public:
    static constexpr warmup_plugin_kind kKind = WARMUP_KIND_RESOURCE;
    using PluginBase::PluginBase;
    virtual double effective_budget_mb(double configured_budget_mb) { return configured_budget_mb; }
    /// Fill `out` (admit, may_evict, reason). The reason view must stay valid until the next call.
    virtual void admit(const warmup_admission_request& request, warmup_admission& out) = 0;
    virtual void on_ready(warmup_model_index model, double memory_mb, double load_ms, warmup_time_ms now_ms) = 0;
    virtual void on_used(warmup_model_index model, warmup_time_ms now_ms) = 0;
    /// A use with the number of requests it served (>= 1; ABI 1.4): the requests of one usage event, or those that
    /// waited for the load that just finished. The host calls this instead of on_used; by default it is on_used, for a
    /// policy that counts uses rather than requests.
    virtual void on_used_requests(warmup_model_index model, uint32_t requests, warmup_time_ms now_ms) {
        (void)requests;
        on_used(model, now_ms);
    }
    virtual void on_removed(warmup_model_index model, warmup_time_ms now_ms) = 0;
    /// The model to evict first, or WARMUP_NO_MODEL when none is ready.
    virtual warmup_model_index pick_victim(warmup_time_ms now_ms) = 0;
};

class Queue : public PluginBase {
  public:
    static constexpr warmup_plugin_kind kKind = WARMUP_KIND_QUEUE;
    using PluginBase::PluginBase;
    /// Throw Error(WARMUP_ERROR_RESOURCE_EXHAUSTED, reason) when full (and count it).
    virtual void push(const warmup_queue_item& item) = 0;
    virtual bool pop(warmup_time_ms now_ms, warmup_queue_item& out) = 0;
    virtual size_t remove_model(warmup_model_index model) = 0;
    virtual size_t clear() = 0;
    [[nodiscard]] virtual size_t size() const = 0;
    [[nodiscard]] virtual uint64_t rejected_count() const = 0;
};

class Metrics : public PluginBase {
  public:
    static constexpr warmup_plugin_kind kKind = WARMUP_KIND_METRICS;
    using PluginBase::PluginBase;
    virtual void record(std::span<const warmup_metric_event> events) = 0;
    /// Append the rendering in `format` to `out`; throw Error(WARMUP_ERROR_UNSUPPORTED) for an unknown format.
    virtual void render(std::string_view format, std::string& out) = 0;
};

/// One model a backend's server holds now (Backend::list_resident).
struct ResidentModel {
    std::string name;      ///< the catalog model name
    double memory_mb = 0;  ///< resident MiB as the server reports it, 0 = unknown
};

class Backend : public PluginBase {
  public:
    static constexpr warmup_plugin_kind kKind = WARMUP_KIND_BACKEND;
    using PluginBase::PluginBase;
    /// [worker, concurrent for different models] Returns resident memory in MiB after the load (0 = unknown).
    virtual double load(const warmup_model_info& model, const warmup_cancel_token& cancel) = 0;
    virtual void unload(const warmup_model_info& model) = 0;
    /// [worker, concurrent with load and unload] Every model the server holds now, by catalog name (ABI 1.1), for the
    /// host's reconciliation. Throw Error(UNAVAILABLE, ...) when the server cannot tell (nothing changes this round);
    /// the default throws UNSUPPORTED: the host then never asks again.
    virtual std::vector<ResidentModel> list_resident() {
        throw Error(WARMUP_ERROR_UNSUPPORTED, "this backend cannot list the models its server holds");
    }
    /// Override both and return true from supports_simulation() to offer the simulation extension (replay).
    [[nodiscard]] virtual bool supports_simulation() const { return false; }
    /// Returns {duration_ms, succeeds}.
    virtual std::pair<double, bool> simulate_load(const warmup_model_info& /*model*/, warmup_time_ms /*now_ms*/) {
        throw Error(WARMUP_ERROR_UNSUPPORTED, "no simulation");
    }
    virtual double simulate_unload(const warmup_model_info& model, warmup_time_ms /*now_ms*/) {
        return model.unload_ms;
    }
};

/// What one poll of a source gets from the host: a sink for events and for records it could not read, the
/// source's private state folder and the cancel flag. Borrowed for the poll call; use it on the calling thread only.
class SourcePoll {
  public:
    explicit SourcePoll(const warmup_source_poll& raw) noexcept : raw_(raw) {}

    /// The source's `name` in the configuration.
    [[nodiscard]] std::string_view source_name() const noexcept { return to_string_view(raw_.source_name); }
    /// The folder where the source remembers how far it read; empty when the host keeps no state.
    [[nodiscard]] std::string_view state_dir() const noexcept { return to_string_view(raw_.state_dir); }
    /// True once the host stops the source: return from poll soon.
    [[nodiscard]] bool cancelled() const noexcept {
        return raw_.cancel != nullptr && raw_.cancel->is_cancelled(raw_.cancel->context) != 0;
    }
    /// Hands events to the host; returns how many it took (a prefix). Fewer than given: the ingest queue is full,
    /// offer the rest again at a later poll. The views inside `events` need to live only for this call.
    size_t emit(std::span<const warmup_source_event> events) const {
        return events.empty() ? 0 : raw_.emit(raw_.sink_context, events.data(), events.size());
    }
    /// Counts and logs a record that could not be read (never fatal): say what and where.
    void reject(std::string_view reason) const { raw_.reject(raw_.sink_context, to_view(reason)); }

    [[nodiscard]] const warmup_source_poll& raw() const noexcept { return raw_; }

  private:
    const warmup_source_poll& raw_;
};

/// A usage event for SourcePoll::emit. `model` and `tenant` are borrowed: keep the strings alive until emit returns.
inline warmup_source_event source_event(std::string_view model, std::string_view tenant, warmup_time_ms ts_ms,
                                        uint32_t count = 1) noexcept {
    return warmup_source_event{to_view(model), to_view(tenant), ts_ms, count, 0};
}

/// Reads usage events from outside the host (a log file, a metrics endpoint). [source] thread: poll is called again
/// and again on the source's own host thread, never concurrently with itself; the constructor and destructor run
/// while the source is not polled.
class Source : public PluginBase {
  public:
    static constexpr warmup_plugin_kind kKind = WARMUP_KIND_SOURCE;
    using PluginBase::PluginBase;
    /// Reads what is new since the last poll and emits it; returns how long to wait before the next poll, ms (0 =
    /// at once). Throw Error (e.g. WARMUP_ERROR_UNAVAILABLE) for a failed poll: the host shows the source as degraded
    /// with the message and polls again after a back-off.
    virtual int64_t poll(SourcePoll& poll) = 0;
};

namespace detail {

/// The instance pointer the host sees is the PluginBase*; it also remembers the raw host for error creation.
template <class T>
T* self(void* instance) noexcept {
    return static_cast<T*>(static_cast<PluginBase*>(instance));
}
template <class T>
const warmup_host* host_of(void* instance) noexcept {
    return self<T>(instance)->host().raw();
}

inline int write_all(const warmup_byte_writer* out, const std::string& bytes) {
    return out->write(out->context, bytes.data(), bytes.size());
}

/// The schema thunk of both state extensions. The ABI promises a NUL-terminated string, never NULL, so a throwing or
/// NULL-returning state_schema() answers "": a schema no instance that works declares, so no state is handed over
/// to or from it (the host says the schemas differ).
template <class T>
const char* guarded_schema(void* instance, const char* call) noexcept {
    const char* schema =
        guard_value(host_of<T>(instance), call, static_cast<const char*>(nullptr), "the host got the empty schema",
                    [&] { return self<T>(instance)->state_schema(); });
    return schema != nullptr ? schema : "";
}

template <class T>
struct StateThunks {
    static const char* schema(void* instance) { return guarded_schema<T>(instance, "state extension schema()"); }
    static warmup_error* export_state(void* instance, const warmup_byte_writer* out) {
        return guard(host_of<T>(instance), [&] { self<T>(instance)->export_state_to(StateWriter(*out)); });
    }
    static warmup_error* import_state(void* instance, warmup_string_view data) {
        return guard(host_of<T>(instance), [&] { self<T>(instance)->import_state(to_string_view(data)); });
    }
    static constexpr warmup_state_extension table{sizeof(warmup_state_extension), &schema, &export_state,
                                                  &import_state};
};

template <class T>
struct ModelStateThunks {
    static const char* schema(void* instance) { return guarded_schema<T>(instance, "model-state extension schema()"); }
    static warmup_error* export_model(void* instance, warmup_model_index model, const warmup_byte_writer* out) {
        return guard(host_of<T>(instance), [&] {
            const std::string bytes = self<T>(instance)->export_model_state(model);
            if (!bytes.empty() && write_all(out, bytes) != 0)
                throw Error(WARMUP_ERROR_RESOURCE_EXHAUSTED, "the host refused the exported model state bytes");
        });
    }
    static warmup_error* import_model(void* instance, warmup_model_index model, warmup_string_view data) {
        return guard(host_of<T>(instance), [&] { self<T>(instance)->import_model_state(model, to_string_view(data)); });
    }
    static warmup_error* forget_model(void* instance, warmup_model_index model) {
        return guard(host_of<T>(instance), [&] { self<T>(instance)->forget_model_state(model); });
    }
    static constexpr warmup_model_state_extension table{sizeof(warmup_model_state_extension), &schema, &export_model,
                                                        &import_model, &forget_model};
};

template <class T>
struct SimulationThunks {
    static warmup_error* simulate_load(void* instance, const warmup_model_info* model, warmup_time_ms now_ms,
                                       double* out_duration_ms, int* out_succeeds) {
        return guard(host_of<T>(instance), [&] {
            auto [duration_ms, succeeds] = self<T>(instance)->simulate_load(*model, now_ms);
            *out_duration_ms = duration_ms;
            *out_succeeds = succeeds ? 1 : 0;
        });
    }
    static warmup_error* simulate_unload(void* instance, const warmup_model_info* model, warmup_time_ms now_ms,
                                         double* out_duration_ms) {
        return guard(host_of<T>(instance),
                     [&] { *out_duration_ms = self<T>(instance)->simulate_unload(*model, now_ms); });
    }
    static constexpr warmup_simulation_extension table{sizeof(warmup_simulation_extension), &simulate_load,
                                                       &simulate_unload};
};

// One VTable<T, Kind> specialisation per kind generates the C vtable from T's virtual methods.
template <class T, warmup_plugin_kind Kind>
struct VTable;

template <class T>
struct VTable<T, WARMUP_KIND_ANALYZER> {
    static warmup_error* observe(void* s, const warmup_usage_event* events, size_t count) {
        return guard(host_of<T>(s), [&] { self<T>(s)->observe(std::span<const warmup_usage_event>(events, count)); });
    }
    static warmup_error* get_pattern(void* s, warmup_model_index model, warmup_usage_pattern* out) {
        return guard(host_of<T>(s), [&] { self<T>(s)->get_pattern(model, *out); });
    }
    static warmup_error* reset(void* s) {
        return guard(host_of<T>(s), [&] { self<T>(s)->reset(); });
    }
    static constexpr warmup_analyzer_vtable table{sizeof(warmup_analyzer_vtable), &observe, &get_pattern, &reset};
};

template <class T>
struct VTable<T, WARMUP_KIND_PREDICTOR> {
    static warmup_error* predict(void* s, warmup_time_ms now_ms, const warmup_usage_pattern* pattern,
                                 warmup_prediction* out) {
        return guard(host_of<T>(s), [&] { self<T>(s)->predict(now_ms, *pattern, *out); });
    }
    static constexpr warmup_predictor_vtable table{sizeof(warmup_predictor_vtable), &predict};
};

template <class T>
struct VTable<T, WARMUP_KIND_PERFORMANCE> {
    static warmup_error* estimate(void* s, warmup_model_index model, warmup_performance_estimate* out) {
        return guard(host_of<T>(s), [&] { self<T>(s)->estimate(model, *out); });
    }
    static warmup_error* observe_load(void* s, const warmup_load_observation* observation) {
        return guard(host_of<T>(s), [&] { self<T>(s)->observe_load(*observation); });
    }
    static constexpr warmup_performance_vtable table{sizeof(warmup_performance_vtable), &estimate, &observe_load};
};

template <class T>
struct VTable<T, WARMUP_KIND_SCHEDULER> {
    static warmup_error* plan(void* s, const warmup_plan_input* input, warmup_plan* out) {
        return guard(host_of<T>(s), [&] { self<T>(s)->plan(*input, *out); });
    }
    static warmup_error* on_warmup_failed(void* s, warmup_model_index model, uint32_t attempt, warmup_time_ms now_ms,
                                          warmup_time_ms* out_retry_at_ms) {
        return guard(host_of<T>(s), [&] { *out_retry_at_ms = self<T>(s)->on_warmup_failed(model, attempt, now_ms); });
    }
    static constexpr warmup_scheduler_vtable table{sizeof(warmup_scheduler_vtable), &plan, &on_warmup_failed};
};

template <class T>
struct VTable<T, WARMUP_KIND_RESOURCE> {
    static double effective_budget_mb(void* s, double configured) {
        // A policy that cannot read the host limit falls back to the configured budget.
        return guard_value(host_of<T>(s), "resource.effective_budget_mb()", configured,
                           "the host enforces the configured budget",
                           [&] { return self<T>(s)->effective_budget_mb(configured); });
    }
    static warmup_error* admit(void* s, const warmup_admission_request* request, warmup_admission* out) {
        return guard(host_of<T>(s), [&] { self<T>(s)->admit(*request, *out); });
    }
    static void on_ready(void* s, warmup_model_index model, double memory_mb, double load_ms, warmup_time_ms now) {
        guard_void(host_of<T>(s), "resource.on_ready()", "the policy may have missed a ready model",
                   [&] { self<T>(s)->on_ready(model, memory_mb, load_ms, now); });
    }
    static void on_used(void* s, warmup_model_index model, warmup_time_ms now) {
        guard_void(host_of<T>(s), "resource.on_used()", "the policy may have missed a use",
                   [&] { self<T>(s)->on_used(model, now); });
    }
    static void on_used_requests(void* s, warmup_model_index model, uint32_t requests, warmup_time_ms now) {
        guard_void(host_of<T>(s), "resource.on_used_requests()", "the policy may have missed a use",
                   [&] { self<T>(s)->on_used_requests(model, requests, now); });
    }
    static void on_removed(void* s, warmup_model_index model, warmup_time_ms now) {
        guard_void(host_of<T>(s), "resource.on_removed()", "the policy may have missed a removal",
                   [&] { self<T>(s)->on_removed(model, now); });
    }
    static warmup_error* pick_victim(void* s, warmup_time_ms now, warmup_model_index* out) {
        return guard(host_of<T>(s), [&] {
            *out = self<T>(s)->pick_victim(now);
            if (*out == WARMUP_NO_MODEL) throw Error(WARMUP_ERROR_NOT_FOUND, "no ready model to evict");
        });
    }
    static constexpr warmup_resource_vtable table{sizeof(warmup_resource_vtable),
                                                  &effective_budget_mb,
                                                  &admit,
                                                  &on_ready,
                                                  &on_used,
                                                  &on_removed,
                                                  &pick_victim,
                                                  &on_used_requests};
};

template <class T>
struct VTable<T, WARMUP_KIND_QUEUE> {
    static warmup_error* push(void* s, const warmup_queue_item* item) {
        return guard(host_of<T>(s), [&] { self<T>(s)->push(*item); });
    }
    // Calls without an error in their C signature: an escape is logged and the host gets "nothing popped / removed"
    // or a zero count (for pop, the host then notices that the plugin lost what it was given).
    static int pop(void* s, warmup_time_ms now, warmup_queue_item* out) {
        return guard_value(host_of<T>(s), "queue.pop()", 0, "the host got no item",
                           [&] { return self<T>(s)->pop(now, *out) ? 1 : 0; });
    }
    static size_t remove_model(void* s, warmup_model_index model) {
        return guard_value(host_of<T>(s), "queue.remove_model()", size_t{0}, "the host got 0",
                           [&] { return self<T>(s)->remove_model(model); });
    }
    static size_t clear(void* s) {
        return guard_value(host_of<T>(s), "queue.clear()", size_t{0}, "the host got 0",
                           [&] { return self<T>(s)->clear(); });
    }
    static size_t size(void* s) {
        return guard_value(host_of<T>(s), "queue.size()", size_t{0}, "the host got 0",
                           [&] { return self<T>(s)->size(); });
    }
    static uint64_t rejected_count(void* s) {
        return guard_value(host_of<T>(s), "queue.rejected_count()", uint64_t{0}, "the host got 0",
                           [&] { return self<T>(s)->rejected_count(); });
    }
    static constexpr warmup_queue_vtable table{
        sizeof(warmup_queue_vtable), &push, &pop, &remove_model, &clear, &size, &rejected_count};
};

template <class T>
struct VTable<T, WARMUP_KIND_METRICS> {
    static warmup_error* record(void* s, const warmup_metric_event* events, size_t count) {
        return guard(host_of<T>(s), [&] { self<T>(s)->record(std::span<const warmup_metric_event>(events, count)); });
    }
    static warmup_error* render(void* s, const char* format, const warmup_byte_writer* out) {
        return guard(host_of<T>(s), [&] {
            std::string text;
            self<T>(s)->render(format, text);
            if (write_all(out, text) != 0) throw Error(WARMUP_ERROR_RESOURCE_EXHAUSTED, "the host refused the output");
        });
    }
    static constexpr warmup_metrics_vtable table{sizeof(warmup_metrics_vtable), &record, &render};
};

template <class T>
struct VTable<T, WARMUP_KIND_BACKEND> {
    static warmup_error* load(void* s, const warmup_model_info* model, const warmup_cancel_token* cancel,
                              warmup_load_result* out) {
        return guard(host_of<T>(s), [&] {
            const double memory_mb = self<T>(s)->load(*model, *cancel);
            if (WARMUP_HAS_FIELD(out, warmup_load_result, memory_mb)) out->memory_mb = memory_mb;
        });
    }
    static warmup_error* unload(void* s, const warmup_model_info* model) {
        return guard(host_of<T>(s), [&] { self<T>(s)->unload(*model); });
    }
    static warmup_error* list_resident(void* s, const warmup_resident_model_writer* out) {
        return guard(host_of<T>(s), [&] {
            for (const ResidentModel& model : self<T>(s)->list_resident()) {
                const warmup_resident_model entry{sizeof(warmup_resident_model), to_view(model.name), model.memory_mb};
                out->add(out->context, &entry);
            }
        });
    }
    static constexpr warmup_backend_vtable table{sizeof(warmup_backend_vtable), &load, &unload, &list_resident};
};

template <class T>
struct VTable<T, WARMUP_KIND_SOURCE> {
    static warmup_error* poll(void* s, const warmup_source_poll* call, warmup_source_poll_result* out) {
        return guard(host_of<T>(s), [&] {
            SourcePoll poll(*call);
            const int64_t next_poll_in_ms = self<T>(s)->poll(poll);
            if (WARMUP_HAS_FIELD(out, warmup_source_poll_result, next_poll_in_ms))
                out->next_poll_in_ms = next_poll_in_ms;
        });
    }
    static constexpr warmup_source_vtable table{sizeof(warmup_source_vtable), &poll};
};

/// The descriptor for plugin class T.
template <class T>
struct Descriptor {
    static warmup_error* create(const warmup_host* host, warmup_string_view params_yaml, void** out_instance) {
        return guard(host, [&] {
            // The loader of a conforming host has already applied this rule; a host that did not gets a clear error
            // instead of a plugin reading host fields it does not have.
            constexpr warmup_abi_version plugin_abi = WARMUP_ABI_VERSION_INIT;
            if (!warmup_abi_is_compatible(host->abi, plugin_abi))
                throw Error(WARMUP_ERROR_UNSUPPORTED,
                            "this plugin was built for plugin ABI " + std::to_string(plugin_abi.major) + "." +
                                std::to_string(plugin_abi.minor) + ", the host speaks ABI " +
                                std::to_string(host->abi.major) + "." + std::to_string(host->abi.minor));
            Params params(to_string_view(params_yaml));
            auto* instance = new T(Host(host), params);
            try {
                params.finish();
            } catch (...) {
                delete instance;
                throw;
            }
            *out_instance = static_cast<PluginBase*>(instance);
        });
    }
    static void destroy(void* instance) { delete self<T>(instance); }
    static const void* get_extension(void* instance, const char* extension_id) {
        // state_schema() and the supports_*() methods are plugin code: a throw means "not offered".
        return guard_value(
            host_of<T>(instance), "get_extension()", static_cast<const void*>(nullptr), "the host got no extension",
            [&]() -> const void* {
                const std::string_view id(extension_id == nullptr ? "" : extension_id);
                PluginBase* base = static_cast<PluginBase*>(instance);
                if (id == WARMUP_EXT_STATE && base->state_schema() != nullptr) return &StateThunks<T>::table;
                if (id == WARMUP_EXT_MODEL_STATE && base->state_schema() != nullptr && base->supports_model_state())
                    return &ModelStateThunks<T>::table;
                if constexpr (T::kKind == WARMUP_KIND_BACKEND) {
                    if (id == WARMUP_EXT_SIMULATION && self<T>(instance)->supports_simulation())
                        return &SimulationThunks<T>::table;
                }
                return nullptr;
            });
    }
    static warmup_plugin_descriptor make(const char* id, const char* version, const char* description) {
        return warmup_plugin_descriptor{sizeof(warmup_plugin_descriptor),
                                        WARMUP_ABI_VERSION_INIT,
                                        static_cast<uint32_t>(T::kKind),
                                        id,
                                        version,
                                        description,
                                        &create,
                                        &destroy,
                                        &VTable<T, T::kKind>::table,
                                        &get_extension};
    }
};

}  // namespace detail
}  // namespace warmup::sdk

/// Generates the descriptor and the exported entry for plugin class `Class`. Use once per library, in one .cpp file,
/// at global namespace scope. `id`, `version` and `description` are string literals.
#define WARMUP_PLUGIN(Class, id, version, description)                            \
    namespace {                                                                   \
    const warmup_plugin_descriptor warmup_sdk_descriptor =                        \
        ::warmup::sdk::detail::Descriptor<Class>::make(id, version, description); \
    }                                                                             \
    WARMUP_PLUGIN_EXPORT const warmup_plugin_descriptor* warmup_plugin_entry(void) { return &warmup_sdk_descriptor; }
