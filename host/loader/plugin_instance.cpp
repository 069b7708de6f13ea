#include "loader/plugin_instance.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "core/errors.hpp"

namespace warmup::host {

std::size_t required_vtable_size(uint32_t kind) noexcept {
    switch (kind) {
        case WARMUP_KIND_ANALYZER:
            return sizeof(warmup_analyzer_vtable);
        case WARMUP_KIND_PREDICTOR:
            return sizeof(warmup_predictor_vtable);
        case WARMUP_KIND_PERFORMANCE:
            return sizeof(warmup_performance_vtable);
        case WARMUP_KIND_SCHEDULER:
            return sizeof(warmup_scheduler_vtable);
        case WARMUP_KIND_RESOURCE:
            // ABI 1.4 appended the optional on_used_requests: a 1.3 resource's table ends right before it.
            return offsetof(warmup_resource_vtable, on_used_requests);
        case WARMUP_KIND_QUEUE:
            return sizeof(warmup_queue_vtable);
        case WARMUP_KIND_METRICS:
            return sizeof(warmup_metrics_vtable);
        case WARMUP_KIND_BACKEND:
            // ABI 1.1 appended the optional list_resident: a 1.0 backend's table ends right before it.
            return offsetof(warmup_backend_vtable, list_resident);
        case WARMUP_KIND_SOURCE:
            return sizeof(warmup_source_vtable);
        default:
            return SIZE_MAX;
    }
}

std::size_t largest_vtable_size(uint32_t kind) noexcept {
    // The headers this host is compiled with describe ABI WARMUP_ABI_MINOR, so sizeof is that minor's table.
    if (kind == WARMUP_KIND_BACKEND) return sizeof(warmup_backend_vtable);
    if (kind == WARMUP_KIND_RESOURCE) return sizeof(warmup_resource_vtable);
    return required_vtable_size(kind);
}

ListResidentFn list_resident_of(const PluginInstance& backend) noexcept {
    const auto* table = backend.vtable<warmup_backend_vtable>();
    if (!WARMUP_HAS_FIELD(table, warmup_backend_vtable, list_resident)) return nullptr;  // an ABI 1.0 backend
    return table->list_resident;
}

#define WARMUP_FUNCTION(table, name) \
    VtableFunction { offsetof(table, name), #name }

std::vector<VtableFunction> vtable_functions(uint32_t kind) {
    switch (kind) {
        case WARMUP_KIND_ANALYZER:
            return {WARMUP_FUNCTION(warmup_analyzer_vtable, observe),
                    WARMUP_FUNCTION(warmup_analyzer_vtable, get_pattern),
                    WARMUP_FUNCTION(warmup_analyzer_vtable, reset)};
        case WARMUP_KIND_PREDICTOR:
            return {WARMUP_FUNCTION(warmup_predictor_vtable, predict)};
        case WARMUP_KIND_PERFORMANCE:
            return {WARMUP_FUNCTION(warmup_performance_vtable, estimate),
                    WARMUP_FUNCTION(warmup_performance_vtable, observe_load)};
        case WARMUP_KIND_SCHEDULER:
            return {WARMUP_FUNCTION(warmup_scheduler_vtable, plan),
                    WARMUP_FUNCTION(warmup_scheduler_vtable, on_warmup_failed)};
        case WARMUP_KIND_RESOURCE:
            return {WARMUP_FUNCTION(warmup_resource_vtable, effective_budget_mb),
                    WARMUP_FUNCTION(warmup_resource_vtable, admit),
                    WARMUP_FUNCTION(warmup_resource_vtable, on_ready),
                    WARMUP_FUNCTION(warmup_resource_vtable, on_used),
                    WARMUP_FUNCTION(warmup_resource_vtable, on_removed),
                    WARMUP_FUNCTION(warmup_resource_vtable, pick_victim),
                    WARMUP_FUNCTION(warmup_resource_vtable, on_used_requests)};
        case WARMUP_KIND_QUEUE:
            return {WARMUP_FUNCTION(warmup_queue_vtable, push),
                    WARMUP_FUNCTION(warmup_queue_vtable, pop),
                    WARMUP_FUNCTION(warmup_queue_vtable, remove_model),
                    WARMUP_FUNCTION(warmup_queue_vtable, clear),
                    WARMUP_FUNCTION(warmup_queue_vtable, size),
                    WARMUP_FUNCTION(warmup_queue_vtable, rejected_count)};
        case WARMUP_KIND_METRICS:
            return {WARMUP_FUNCTION(warmup_metrics_vtable, record), WARMUP_FUNCTION(warmup_metrics_vtable, render)};
        case WARMUP_KIND_BACKEND:
            return {WARMUP_FUNCTION(warmup_backend_vtable, load), WARMUP_FUNCTION(warmup_backend_vtable, unload),
                    WARMUP_FUNCTION(warmup_backend_vtable, list_resident)};
        case WARMUP_KIND_SOURCE:
            return {WARMUP_FUNCTION(warmup_source_vtable, poll)};
        default:
            return {};
    }
}

#undef WARMUP_FUNCTION

void check_vtable(const PluginLibrary& library) {
    const warmup_plugin_descriptor& descriptor = library.descriptor();
    // Every vtable starts with its own size; a table smaller than ABI 1.0's lacks functions this host calls.
    const auto vtable_size = *static_cast<const uint32_t*>(descriptor.vtable);
    if (vtable_size < required_vtable_size(descriptor.kind))
        throw PluginLoadError(fmt::format("plugin '{}' (id {}): {} vtable is {} bytes, expected at least {}",
                                          library.file().string(), descriptor.id, kind_name(descriptor.kind),
                                          vtable_size, required_vtable_size(descriptor.kind)));
    // A plugin's ABI minor is never newer than the host's (checked at open), and minors only append, so its table
    // cannot legitimately be larger than this host's: a larger size is garbage, and trusting it would let the host
    // read function pointers past the end of the plugin's table once a later minor adds optional entries.
    if (vtable_size > largest_vtable_size(descriptor.kind))
        throw PluginLoadError(fmt::format(
            "plugin '{}' (id {}): {} vtable claims {} bytes, more than the {} bytes of ABI {}.{} (the plugin declares "
            "ABI {}.{}); its struct_size is garbage",
            library.file().string(), descriptor.id, kind_name(descriptor.kind), vtable_size,
            largest_vtable_size(descriptor.kind), WARMUP_ABI_MAJOR, WARMUP_ABI_MINOR, descriptor.abi.major,
            descriptor.abi.minor));

    // Every function of ABI 1.0's table is required (later minors append optional ones): a NULL entry would crash
    // the host at its first call, so it is refused here, by the name the kind's header gives it.
    using Function = void (*)();
    const auto* table = static_cast<const unsigned char*>(descriptor.vtable);
    const std::size_t required_size = required_vtable_size(descriptor.kind);
    for (const VtableFunction& entry : vtable_functions(descriptor.kind)) {
        if (entry.offset + sizeof(Function) > required_size) break;  // the optional ones later minors appended
        Function function = nullptr;
        std::memcpy(&function, table + entry.offset, sizeof function);
        if (function == nullptr)
            throw PluginLoadError(fmt::format(
                "plugin '{}' (id {}): {} vtable function {} (byte offset {}) is NULL; every function of ABI 1.0's "
                "table is required",
                library.file().string(), descriptor.id, kind_name(descriptor.kind), entry.name, entry.offset));
    }
}

std::unique_ptr<PluginInstance> PluginInstance::create(std::shared_ptr<PluginLibrary> library,
                                                       std::string_view params_yaml, Catalog& catalog,
                                                       const Clock& clock) {
    check_vtable(*library);
    const warmup_plugin_descriptor& descriptor = library->descriptor();

    std::unique_ptr<PluginInstance> self(new PluginInstance());
    self->library_ = std::move(library);
    self->params_yaml_ = std::string(params_yaml);
    self->services_ =
        std::make_unique<HostServices>(catalog, clock, fmt::format("{}@{}", descriptor.id, descriptor.version));
    void* instance = nullptr;
    warmup_error* error = nullptr;
    {
        const PluginCallScope in_call(kind_name(descriptor.kind).data(), self->services_->plugin_label(), "create");
        error = descriptor.create(self->services_->raw(), {self->params_yaml_.data(), self->params_yaml_.size()},
                                  &instance);
    }
    throw_if_error(error, fmt::format("plugin {} ('{}') refused to start", self->services_->plugin_label(),
                                      self->library_->file().string()));
    if (instance == nullptr)
        throw PluginLoadError(fmt::format("plugin {}: create succeeded but returned no instance", self->label()));
    self->instance_ = instance;
    return self;
}

PluginInstance::~PluginInstance() {
    if (instance_ == nullptr) return;
    const auto in_call = marked("destroy");
    library_->descriptor().destroy(instance_);
}

PluginCallScope PluginInstance::marked(const char* what, const std::string* arm) const noexcept {
    // kind_name answers string literals, so its text is NUL-terminated and static.
    return PluginCallScope(kind_name(library_->descriptor().kind).data(), label(), what, arm);
}

const void* PluginInstance::extension(const char* extension_id) const {
    const auto get = library_->descriptor().get_extension;
    return get == nullptr ? nullptr : get(instance_, extension_id);
}

}  // namespace warmup::host
