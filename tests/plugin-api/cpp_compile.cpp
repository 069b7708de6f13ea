// cpp_compile.cpp — the ABI headers as the host (and a C++ plugin) use them, built once as C++17 and once as C++20
// with -Wall -Wextra -pedantic -Werror. Checks at compile time what ABI 1.x promises (abi_promises.h) and at run time
// that this C++ compiler lays out every struct and field exactly as the C11 compiler did (abi_layout_c.c, linked in).
// Exit status 0 = all checks passed.
#include <warmup/warmup.h>

#include <cstdio>
#include <cstring>
#include <type_traits>

#include "abi_layout_table.h"
#include "abi_promises.h"

namespace {

// The host reads these through `const void*` and copies them by value: they must stay plain C data.
#define WARMUP_ASSERT_PLAIN_DATA(type)                                                   \
    static_assert(std::is_standard_layout_v<type> && std::is_trivially_copyable_v<type>, \
                  #type " must stay a standard-layout, trivially copyable C struct");
WARMUP_ABI_STRUCTS(WARMUP_ASSERT_PLAIN_DATA)

#define WARMUP_LAYOUT_STRUCT_ENTRY(type) warmup_abi_layout_entry{#type, "", alignof(type), sizeof(type)},
#define WARMUP_LAYOUT_FIELD_ENTRY(type, field) \
    warmup_abi_layout_entry{#type, #field, offsetof(type, field), sizeof(static_cast<type*>(nullptr)->field)},

const warmup_abi_layout_entry layout_as_cpp[] = {WARMUP_ABI_STRUCTS(WARMUP_LAYOUT_STRUCT_ENTRY)
                                                     WARMUP_ABI_FIELDS(WARMUP_LAYOUT_FIELD_ENTRY)};

// The growth rule works in C++ constant expressions too (a C++ host may size-check at compile time).
constexpr warmup_prediction older_prediction() {
    warmup_prediction prediction{};
    prediction.struct_size = static_cast<uint32_t>(offsetof(warmup_prediction, confidence));
    return prediction;
}

}  // namespace

int main() {
    int failures = 0;
    std::size_t c_count = 0;
    const warmup_abi_layout_entry* as_c = warmup_abi_layout_as_c(&c_count);
    constexpr std::size_t cpp_count = sizeof(layout_as_cpp) / sizeof(layout_as_cpp[0]);
    if (c_count != cpp_count) {
        std::fprintf(stderr, "C sees %zu layout entries, C++ sees %zu\n", c_count, cpp_count);
        return 1;
    }
    for (std::size_t i = 0; i < cpp_count; ++i) {
        const auto& c = as_c[i];
        const auto& cpp = layout_as_cpp[i];
        const bool is_struct = cpp.field_name[0] == '\0';
        if (std::strcmp(c.type_name, cpp.type_name) != 0 || std::strcmp(c.field_name, cpp.field_name) != 0 ||
            c.offset != cpp.offset || c.size != cpp.size) {
            std::fprintf(stderr, "%s%s%s: C11 %s %zu size %zu, C++%ld %s %zu size %zu\n", cpp.type_name,
                         is_struct ? "" : ".", cpp.field_name, is_struct ? "align" : "offset", c.offset, c.size,
                         static_cast<long>(__cplusplus), is_struct ? "align" : "offset", cpp.offset, cpp.size);
            ++failures;
        }
    }

    const warmup_prediction older = older_prediction();
    if (!WARMUP_HAS_FIELD(&older, warmup_prediction, next_arrival_ms) ||
        WARMUP_HAS_FIELD(&older, warmup_prediction, confidence)) {
        std::fprintf(stderr, "WARMUP_HAS_FIELD misjudges a prediction cut before `confidence`\n");
        ++failures;
    }

    if (failures != 0) {
        std::fprintf(stderr, "%d layout difference(s) between C11 and C++ (__cplusplus %ld)\n", failures,
                     static_cast<long>(__cplusplus));
        return 1;
    }
    std::printf("C++ (__cplusplus %ld): ABI headers compile; %zu layout entries identical to C11\n",
                static_cast<long>(__cplusplus), cpp_count);
    return 0;
}
