// core/plugin_code_ranges.cpp — the table of plugin code ranges; see plugin_code_ranges.hpp.
#include "core/plugin_code_ranges.hpp"

#include <link.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>

namespace warmup::host {
namespace {

/// One library's code: [begin, end) covers its executable segments (they are contiguous in practice; the few bytes
/// between two of them belong to no other object).
struct CodeRange {
    std::atomic<bool> in_use{false};  // written last on register, first on unregister
    std::atomic<uintptr_t> begin{0};
    std::atomic<uintptr_t> end{0};
    std::array<char, 160> label{};
};

std::array<CodeRange, kPluginCodeRanges> g_ranges;
std::mutex g_register_mutex;  // registrations and removals; the signal handler's reads take no lock

struct Search {
    uintptr_t address = 0;
    uintptr_t begin = 0;
    uintptr_t end = 0;
    bool found = false;
};

int find_object(dl_phdr_info* info, size_t /*size*/, void* data) {
    auto* search = static_cast<Search*>(data);
    bool holds = false;
    uintptr_t begin = UINTPTR_MAX;
    uintptr_t end = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& segment = info->dlpi_phdr[i];
        if (segment.p_type != PT_LOAD) continue;
        const uintptr_t start = info->dlpi_addr + segment.p_vaddr;
        const uintptr_t stop = start + segment.p_memsz;
        if (search->address >= start && search->address < stop) holds = true;
        if ((segment.p_flags & PF_X) != 0) {
            begin = std::min(begin, start);
            end = std::max(end, stop);
        }
    }
    if (!holds || end == 0) return 0;
    search->begin = begin;
    search->end = end;
    search->found = true;
    return 1;  // stop: this object holds the address
}

}  // namespace

int register_plugin_code(const void* address_in_library, std::string_view label) noexcept {
    Search search;
    search.address = reinterpret_cast<uintptr_t>(address_in_library);
    ::dl_iterate_phdr(find_object, &search);
    if (!search.found) return -1;
    const std::lock_guard lock(g_register_mutex);
    // A slot never used first: a freed one is taken again only once all have been used, so that a crash report
    // reading a label while a library is registered reads a stable one in all but that case.
    static std::size_t never_used = 0;  // slots [0, never_used) have been used (under g_register_mutex)
    const std::size_t from = never_used < g_ranges.size() ? never_used : 0;
    for (std::size_t i = from; i < g_ranges.size(); ++i) {
        CodeRange& range = g_ranges[i];
        if (range.in_use.load(std::memory_order_relaxed)) continue;
        never_used = std::max(never_used, i + 1);
        const std::size_t length = std::min(label.size(), range.label.size() - 1);
        std::copy_n(label.data(), length, range.label.data());
        range.label[length] = '\0';
        range.begin.store(search.begin, std::memory_order_relaxed);
        range.end.store(search.end, std::memory_order_relaxed);
        range.in_use.store(true, std::memory_order_release);
        return static_cast<int>(i);
    }
    return -1;
}

void unregister_plugin_code(int entry) noexcept {
    if (entry < 0 || static_cast<std::size_t>(entry) >= g_ranges.size()) return;
    const std::lock_guard lock(g_register_mutex);
    g_ranges[static_cast<std::size_t>(entry)].in_use.store(false, std::memory_order_release);
}

const char* plugin_code_at(uintptr_t address) noexcept {
    for (const CodeRange& range : g_ranges) {
        if (!range.in_use.load(std::memory_order_acquire)) continue;
        if (address >= range.begin.load(std::memory_order_relaxed) &&
            address < range.end.load(std::memory_order_relaxed))
            return range.label.data();
    }
    return nullptr;
}

}  // namespace warmup::host
