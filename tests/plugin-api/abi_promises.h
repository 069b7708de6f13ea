/*
 * abi_promises.h — compile-time checks of what ABI 1.x promises about the first bytes of its structs. Included by the
 * C11 and the C++17/C++20 test programs, so a header change that moves these fields breaks the build in every language.
 *
 * Why these fields: the host reads a descriptor's struct_size and abi before it trusts anything else (a plugin from
 * another major may lay out the rest differently), and reads every vtable's struct_size through a `const void *`
 * before calling into it. Those reads are only sound if the fields sit at these offsets with these sizes forever.
 */
#ifndef WARMUP_TEST_ABI_PROMISES_H
#define WARMUP_TEST_ABI_PROMISES_H

#include <warmup/warmup.h>

#ifdef __cplusplus
#define WARMUP_STATIC_ASSERT(condition, message) static_assert(condition, message)
#else
#define WARMUP_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif

/* This file pins ABI 1.x. A new major may move anything; then write a new set of promises. */
WARMUP_STATIC_ASSERT(WARMUP_ABI_MAJOR == 1, "abi_promises.h describes ABI 1.x");

/* The descriptor: struct_size at 0, abi right after, kind after that, on every platform. */
WARMUP_STATIC_ASSERT(offsetof(warmup_plugin_descriptor, struct_size) == 0, "descriptor.struct_size must stay at 0");
WARMUP_STATIC_ASSERT(sizeof(((warmup_plugin_descriptor*)0)->struct_size) == 4, "descriptor.struct_size is 32-bit");
WARMUP_STATIC_ASSERT(offsetof(warmup_plugin_descriptor, abi) == 4, "descriptor.abi must follow struct_size");
WARMUP_STATIC_ASSERT(sizeof(warmup_abi_version) == 4, "warmup_abi_version is two uint16_t");
WARMUP_STATIC_ASSERT(offsetof(warmup_abi_version, major) == 0, "abi.major comes first");
WARMUP_STATIC_ASSERT(offsetof(warmup_abi_version, minor) == 2, "abi.minor follows major");
WARMUP_STATIC_ASSERT(offsetof(warmup_plugin_descriptor, kind) == 8, "descriptor.kind follows abi");
WARMUP_STATIC_ASSERT(sizeof(((warmup_plugin_descriptor*)0)->kind) == 4, "descriptor.kind is 32-bit");

/* The host receives the same version header. */
WARMUP_STATIC_ASSERT(offsetof(warmup_host, struct_size) == 0, "host.struct_size must stay at 0");
WARMUP_STATIC_ASSERT(offsetof(warmup_host, abi) == 4, "host.abi must follow struct_size");

/* Every vtable and extension table starts with a 32-bit struct_size (the host reads it through a const void *). */
#define WARMUP_ASSERT_STARTS_WITH_SIZE(type)                                                     \
    WARMUP_STATIC_ASSERT(offsetof(type, struct_size) == 0, #type ".struct_size must stay at 0"); \
    WARMUP_STATIC_ASSERT(sizeof(((type*)0)->struct_size) == 4, #type ".struct_size is 32-bit")
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_analyzer_vtable);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_predictor_vtable);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_performance_vtable);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_scheduler_vtable);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_resource_vtable);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_queue_vtable);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_metrics_vtable);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_backend_vtable);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_resident_model);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_state_extension);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_simulation_extension);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_source_vtable);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_model_state_extension);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_host_log_extension);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_host_clock_extension);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_host_catalog_extension);
WARMUP_ASSERT_STARTS_WITH_SIZE(warmup_host_call_failure_extension);

/* On LP64 (every platform the host ships on today) the whole ABI 1.0 descriptor is fixed: hand-computed as
 * 4 + 4 + 4 (+4 padding) + 3 strings * 8 + 4 function/table pointers * 8 = 72 bytes. The loader's message "expected
 * at least 72" and the bad-plugin tests in tests/host/loader rely on these numbers. */
#if UINTPTR_MAX == UINT64_MAX
WARMUP_STATIC_ASSERT(offsetof(warmup_plugin_descriptor, id) == 16, "descriptor.id at 16 on LP64");
WARMUP_STATIC_ASSERT(offsetof(warmup_plugin_descriptor, create) == 40, "descriptor.create at 40 on LP64");
WARMUP_STATIC_ASSERT(offsetof(warmup_plugin_descriptor, vtable) == 56, "descriptor.vtable at 56 on LP64");
WARMUP_STATIC_ASSERT(sizeof(warmup_plugin_descriptor) == 72, "ABI 1.0 descriptor is 72 bytes on LP64");
WARMUP_STATIC_ASSERT(sizeof(warmup_predictor_vtable) == 16, "ABI 1.0 predictor vtable is 16 bytes on LP64");
/* ABI 1.1 appended list_resident to the backend vtable: the 1.0 table (struct_size, load, unload) is 24 bytes and
 * ends exactly where list_resident starts, so a 1.0 backend's struct_size (24) tells the host the field is absent. */
WARMUP_STATIC_ASSERT(offsetof(warmup_backend_vtable, load) == 8, "backend vtable.load at 8 on LP64");
WARMUP_STATIC_ASSERT(offsetof(warmup_backend_vtable, unload) == 16, "backend vtable.unload at 16 on LP64");
WARMUP_STATIC_ASSERT(offsetof(warmup_backend_vtable, list_resident) == 24,
                     "backend vtable.list_resident (ABI 1.1) right after the 24 bytes of ABI 1.0 on LP64");
WARMUP_STATIC_ASSERT(sizeof(warmup_backend_vtable) == 32, "ABI 1.1 backend vtable is 32 bytes on LP64");
/* ABI 1.2 appended get_extension and free_error to the host: the 1.1 host (struct_size, abi, host_data, six
 * functions) is 4 + 4 + 8 + 6 * 8 = 64 bytes, so a plugin of ABI 1.0 or 1.1 reads exactly the fields it knows, at the
 * offsets it was compiled with. */
WARMUP_STATIC_ASSERT(offsetof(warmup_host, host_data) == 8, "host.host_data at 8 on LP64");
WARMUP_STATIC_ASSERT(offsetof(warmup_host, find_model) == 56, "host.find_model (the last 1.1 field) at 56 on LP64");
WARMUP_STATIC_ASSERT(offsetof(warmup_host, get_extension) == 64,
                     "host.get_extension (ABI 1.2) right after the 64 bytes of ABI 1.1 on LP64");
WARMUP_STATIC_ASSERT(offsetof(warmup_host, free_error) == 72, "host.free_error (ABI 1.2) at 72 on LP64");
WARMUP_STATIC_ASSERT(sizeof(warmup_host) == 80, "ABI 1.2 host is 80 bytes on LP64");
#endif

#endif /* WARMUP_TEST_ABI_PROMISES_H */
