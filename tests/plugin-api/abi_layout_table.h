/*
 * abi_layout_table.h — every struct and field of the plugin ABI, listed once, so the same list can be measured by the
 * C compiler (abi_layout_c.c) and by the C++ compiler (cpp_compile.cpp) and the two measurements compared.
 *
 * Why: the ABI promises that a plugin built as C and a host built as C++ (17 or 20) see the same bytes. A header
 * change that C and C++ lay out differently (a C++-only default member initializer, a bool, an enum-typed field
 * whose size differs) is caught here rather than as a corrupted call at run time.
 *
 * Keep it complete: a field added to a header must be added here (the per-struct sizeof check fails otherwise only
 * when padding changes, so reviewers add fields here together with the header change).
 */
#ifndef WARMUP_TEST_ABI_LAYOUT_TABLE_H
#define WARMUP_TEST_ABI_LAYOUT_TABLE_H

#include <warmup/warmup.h>

#ifdef __cplusplus
extern "C" {
#endif

/* STRUCT(type) for every struct type of the ABI. */
#define WARMUP_ABI_STRUCTS(STRUCT)       \
    STRUCT(warmup_abi_version)           \
    STRUCT(warmup_string_view)           \
    STRUCT(warmup_byte_writer)           \
    STRUCT(warmup_model_info)            \
    STRUCT(warmup_host)                  \
    STRUCT(warmup_plugin_descriptor)     \
    STRUCT(warmup_usage_event)           \
    STRUCT(warmup_follower)              \
    STRUCT(warmup_usage_pattern)         \
    STRUCT(warmup_analyzer_vtable)       \
    STRUCT(warmup_prediction)            \
    STRUCT(warmup_predictor_vtable)      \
    STRUCT(warmup_performance_estimate)  \
    STRUCT(warmup_load_observation)      \
    STRUCT(warmup_performance_vtable)    \
    STRUCT(warmup_plan_input)            \
    STRUCT(warmup_plan)                  \
    STRUCT(warmup_scheduler_vtable)      \
    STRUCT(warmup_admission_request)     \
    STRUCT(warmup_admission)             \
    STRUCT(warmup_resource_vtable)       \
    STRUCT(warmup_queue_item)            \
    STRUCT(warmup_queue_vtable)          \
    STRUCT(warmup_metric_event)          \
    STRUCT(warmup_metrics_vtable)        \
    STRUCT(warmup_cancel_token)          \
    STRUCT(warmup_load_result)           \
    STRUCT(warmup_resident_model)        \
    STRUCT(warmup_resident_model_writer) \
    STRUCT(warmup_backend_vtable)        \
    STRUCT(warmup_state_extension)       \
    STRUCT(warmup_simulation_extension)  \
    STRUCT(warmup_source_event)          \
    STRUCT(warmup_source_poll)           \
    STRUCT(warmup_source_poll_result)    \
    STRUCT(warmup_source_vtable)         \
    STRUCT(warmup_model_state_extension) \
    STRUCT(warmup_host_log_extension)    \
    STRUCT(warmup_host_clock_extension)  \
    STRUCT(warmup_host_catalog_extension) \
    STRUCT(warmup_host_call_failure_extension)

/* FIELD(type, field) for every field of every struct above, in declaration order. */
#define WARMUP_ABI_FIELDS(FIELD)                        \
    FIELD(warmup_abi_version, major)                    \
    FIELD(warmup_abi_version, minor)                    \
    FIELD(warmup_string_view, data)                     \
    FIELD(warmup_string_view, size)                     \
    FIELD(warmup_byte_writer, context)                  \
    FIELD(warmup_byte_writer, write)                    \
    FIELD(warmup_model_info, struct_size)               \
    FIELD(warmup_model_info, index)                     \
    FIELD(warmup_model_info, name)                      \
    FIELD(warmup_model_info, memory_mb)                 \
    FIELD(warmup_model_info, load_ms)                   \
    FIELD(warmup_model_info, unload_ms)                 \
    FIELD(warmup_model_info, priority)                  \
    FIELD(warmup_host, struct_size)                     \
    FIELD(warmup_host, abi)                             \
    FIELD(warmup_host, host_data)                       \
    FIELD(warmup_host, make_error)                      \
    FIELD(warmup_host, log)                             \
    FIELD(warmup_host, now_ms)                          \
    FIELD(warmup_host, model_count)                     \
    FIELD(warmup_host, model_info)                      \
    FIELD(warmup_host, find_model)                      \
    FIELD(warmup_host, get_extension)                   \
    FIELD(warmup_host, free_error)                      \
    FIELD(warmup_plugin_descriptor, struct_size)        \
    FIELD(warmup_plugin_descriptor, abi)                \
    FIELD(warmup_plugin_descriptor, kind)               \
    FIELD(warmup_plugin_descriptor, id)                 \
    FIELD(warmup_plugin_descriptor, version)            \
    FIELD(warmup_plugin_descriptor, description)        \
    FIELD(warmup_plugin_descriptor, create)             \
    FIELD(warmup_plugin_descriptor, destroy)            \
    FIELD(warmup_plugin_descriptor, vtable)             \
    FIELD(warmup_plugin_descriptor, get_extension)      \
    FIELD(warmup_usage_event, ts_ms)                    \
    FIELD(warmup_usage_event, model)                    \
    FIELD(warmup_usage_event, count)                    \
    FIELD(warmup_usage_event, tenant_hash)              \
    FIELD(warmup_usage_event, reserved)                 \
    FIELD(warmup_follower, model)                       \
    FIELD(warmup_follower, share)                       \
    FIELD(warmup_usage_pattern, struct_size)            \
    FIELD(warmup_usage_pattern, model)                  \
    FIELD(warmup_usage_pattern, request_count)          \
    FIELD(warmup_usage_pattern, first_seen_ms)          \
    FIELD(warmup_usage_pattern, last_seen_ms)           \
    FIELD(warmup_usage_pattern, previous_seen_ms)       \
    FIELD(warmup_usage_pattern, ewma_rate_per_s)        \
    FIELD(warmup_usage_pattern, idle_histogram)         \
    FIELD(warmup_usage_pattern, idle_histogram_bins)    \
    FIELD(warmup_usage_pattern, idle_bin_ms)            \
    FIELD(warmup_usage_pattern, idle_samples)           \
    FIELD(warmup_usage_pattern, idle_out_of_range)      \
    FIELD(warmup_usage_pattern, hour_of_day)            \
    FIELD(warmup_usage_pattern, day_of_week)            \
    FIELD(warmup_usage_pattern, followers)              \
    FIELD(warmup_usage_pattern, follower_count)         \
    FIELD(warmup_analyzer_vtable, struct_size)          \
    FIELD(warmup_analyzer_vtable, observe)              \
    FIELD(warmup_analyzer_vtable, get_pattern)          \
    FIELD(warmup_analyzer_vtable, reset)                \
    FIELD(warmup_prediction, struct_size)               \
    FIELD(warmup_prediction, model)                     \
    FIELD(warmup_prediction, horizon_ms)                \
    FIELD(warmup_prediction, p_use_within_horizon)      \
    FIELD(warmup_prediction, next_arrival_ms)           \
    FIELD(warmup_prediction, confidence)                \
    FIELD(warmup_prediction, keep_until_ms)             \
    FIELD(warmup_prediction, warm_at_ms)                \
    FIELD(warmup_prediction, warm_keep_until_ms)        \
    FIELD(warmup_predictor_vtable, struct_size)         \
    FIELD(warmup_predictor_vtable, predict)             \
    FIELD(warmup_performance_estimate, struct_size)     \
    FIELD(warmup_performance_estimate, model)           \
    FIELD(warmup_performance_estimate, load_ms)         \
    FIELD(warmup_performance_estimate, unload_ms)       \
    FIELD(warmup_performance_estimate, memory_mb)       \
    FIELD(warmup_performance_estimate, confidence)      \
    FIELD(warmup_load_observation, struct_size)         \
    FIELD(warmup_load_observation, model)               \
    FIELD(warmup_load_observation, finished_ms)         \
    FIELD(warmup_load_observation, load_ms)             \
    FIELD(warmup_load_observation, memory_mb)           \
    FIELD(warmup_load_observation, succeeded)           \
    FIELD(warmup_performance_vtable, struct_size)       \
    FIELD(warmup_performance_vtable, estimate)          \
    FIELD(warmup_performance_vtable, observe_load)      \
    FIELD(warmup_plan_input, struct_size)               \
    FIELD(warmup_plan_input, now_ms)                    \
    FIELD(warmup_plan_input, model)                     \
    FIELD(warmup_plan_input, trigger)                   \
    FIELD(warmup_plan_input, residency)                 \
    FIELD(warmup_plan_input, prediction)                \
    FIELD(warmup_plan_input, estimate)                  \
    FIELD(warmup_plan, struct_size)                     \
    FIELD(warmup_plan, model)                           \
    FIELD(warmup_plan, unload_at_ms)                    \
    FIELD(warmup_plan, warm_start_at_ms)                \
    FIELD(warmup_plan, warm_ready_by_ms)                \
    FIELD(warmup_plan, warm_unload_at_ms)               \
    FIELD(warmup_plan, priority_class)                  \
    FIELD(warmup_scheduler_vtable, struct_size)         \
    FIELD(warmup_scheduler_vtable, plan)                \
    FIELD(warmup_scheduler_vtable, on_warmup_failed)    \
    FIELD(warmup_admission_request, struct_size)        \
    FIELD(warmup_admission_request, now_ms)             \
    FIELD(warmup_admission_request, model)              \
    FIELD(warmup_admission_request, memory_mb)          \
    FIELD(warmup_admission_request, used_mb)            \
    FIELD(warmup_admission_request, budget_mb)          \
    FIELD(warmup_admission_request, is_demand)          \
    FIELD(warmup_admission, struct_size)                \
    FIELD(warmup_admission, admit)                      \
    FIELD(warmup_admission, may_evict)                  \
    FIELD(warmup_admission, reason)                     \
    FIELD(warmup_resource_vtable, struct_size)          \
    FIELD(warmup_resource_vtable, effective_budget_mb)  \
    FIELD(warmup_resource_vtable, admit)                \
    FIELD(warmup_resource_vtable, on_ready)             \
    FIELD(warmup_resource_vtable, on_used)              \
    FIELD(warmup_resource_vtable, on_removed)           \
    FIELD(warmup_resource_vtable, pick_victim)          \
    FIELD(warmup_resource_vtable, on_used_requests)     \
    FIELD(warmup_queue_item, model)                     \
    FIELD(warmup_queue_item, priority_class)            \
    FIELD(warmup_queue_item, reason)                    \
    FIELD(warmup_queue_item, attempt)                   \
    FIELD(warmup_queue_item, tenant_hash)               \
    FIELD(warmup_queue_item, reserved)                  \
    FIELD(warmup_queue_item, enqueued_ms)               \
    FIELD(warmup_queue_item, deadline_ms)               \
    FIELD(warmup_queue_item, cost)                      \
    FIELD(warmup_queue_vtable, struct_size)             \
    FIELD(warmup_queue_vtable, push)                    \
    FIELD(warmup_queue_vtable, pop)                     \
    FIELD(warmup_queue_vtable, remove_model)            \
    FIELD(warmup_queue_vtable, clear)                   \
    FIELD(warmup_queue_vtable, size)                    \
    FIELD(warmup_queue_vtable, rejected_count)          \
    FIELD(warmup_metric_event, kind)                    \
    FIELD(warmup_metric_event, model)                   \
    FIELD(warmup_metric_event, ts_ms)                   \
    FIELD(warmup_metric_event, value)                   \
    FIELD(warmup_metric_event, arm)                     \
    FIELD(warmup_metrics_vtable, struct_size)           \
    FIELD(warmup_metrics_vtable, record)                \
    FIELD(warmup_metrics_vtable, render)                \
    FIELD(warmup_cancel_token, context)                 \
    FIELD(warmup_cancel_token, is_cancelled)            \
    FIELD(warmup_load_result, struct_size)              \
    FIELD(warmup_load_result, memory_mb)                \
    FIELD(warmup_backend_vtable, struct_size)           \
    FIELD(warmup_backend_vtable, load)                  \
    FIELD(warmup_backend_vtable, unload)                \
    FIELD(warmup_backend_vtable, list_resident)         \
    FIELD(warmup_resident_model, struct_size)           \
    FIELD(warmup_resident_model, name)                  \
    FIELD(warmup_resident_model, memory_mb)             \
    FIELD(warmup_resident_model_writer, context)        \
    FIELD(warmup_resident_model_writer, add)            \
    FIELD(warmup_state_extension, struct_size)          \
    FIELD(warmup_state_extension, schema)               \
    FIELD(warmup_state_extension, export_state)         \
    FIELD(warmup_state_extension, import_state)         \
    FIELD(warmup_simulation_extension, struct_size)     \
    FIELD(warmup_simulation_extension, simulate_load)   \
    FIELD(warmup_simulation_extension, simulate_unload) \
    FIELD(warmup_source_event, model)                   \
    FIELD(warmup_source_event, tenant)                  \
    FIELD(warmup_source_event, ts_ms)                   \
    FIELD(warmup_source_event, count)                   \
    FIELD(warmup_source_event, reserved)                \
    FIELD(warmup_source_poll, struct_size)              \
    FIELD(warmup_source_poll, source_name)              \
    FIELD(warmup_source_poll, state_dir)                \
    FIELD(warmup_source_poll, cancel)                   \
    FIELD(warmup_source_poll, sink_context)             \
    FIELD(warmup_source_poll, emit)                     \
    FIELD(warmup_source_poll, reject)                   \
    FIELD(warmup_source_poll_result, struct_size)       \
    FIELD(warmup_source_poll_result, next_poll_in_ms)   \
    FIELD(warmup_source_vtable, struct_size)            \
    FIELD(warmup_source_vtable, poll)                   \
    FIELD(warmup_model_state_extension, struct_size)    \
    FIELD(warmup_model_state_extension, schema)         \
    FIELD(warmup_model_state_extension, export_model)   \
    FIELD(warmup_model_state_extension, import_model)   \
    FIELD(warmup_model_state_extension, forget_model)   \
    FIELD(warmup_host_log_extension, struct_size)       \
    FIELD(warmup_host_log_extension, log)               \
    FIELD(warmup_host_clock_extension, struct_size)     \
    FIELD(warmup_host_clock_extension, now_ms)          \
    FIELD(warmup_host_catalog_extension, struct_size)   \
    FIELD(warmup_host_catalog_extension, model_count)   \
    FIELD(warmup_host_catalog_extension, model_info)    \
    FIELD(warmup_host_catalog_extension, find_model)    \
    FIELD(warmup_host_call_failure_extension, struct_size) \
    FIELD(warmup_host_call_failure_extension, report)

/* One measurement: a struct (field == "", offset = alignment) or one of its fields. */
typedef struct warmup_abi_layout_entry {
    const char* type_name;
    const char* field_name;
    size_t offset; /* offsetof(type, field), or the struct's alignment for a struct entry */
    size_t size;   /* sizeof the field, or of the struct */
} warmup_abi_layout_entry;

/* The layout as the C11 compiler sees it (abi_layout_c.c). Static storage; *out_count receives the entry count. */
const warmup_abi_layout_entry* warmup_abi_layout_as_c(size_t* out_count);

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_TEST_ABI_LAYOUT_TABLE_H */
