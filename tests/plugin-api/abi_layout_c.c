/* abi_layout_c.c — the ABI layout as the C11 compiler sees it, for comparison with the C++ compilers' view. */
#include "abi_layout_table.h"

#define WARMUP_LAYOUT_STRUCT_ENTRY(type) {#type, "", _Alignof(type), sizeof(type)},
#define WARMUP_LAYOUT_FIELD_ENTRY(type, field) {#type, #field, offsetof(type, field), sizeof(((type*)0)->field)},

static const warmup_abi_layout_entry layout_as_c[] = {WARMUP_ABI_STRUCTS(WARMUP_LAYOUT_STRUCT_ENTRY)
                                                          WARMUP_ABI_FIELDS(WARMUP_LAYOUT_FIELD_ENTRY)};

const warmup_abi_layout_entry* warmup_abi_layout_as_c(size_t* out_count) {
    *out_count = sizeof(layout_as_c) / sizeof(layout_as_c[0]);
    return layout_as_c;
}
