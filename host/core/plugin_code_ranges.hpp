// core/plugin_code_ranges.hpp — where each loaded plugin library's code lies in memory, for the report of a fatal
// signal on a thread that is in no plugin call the host made.
//
// A plugin may start threads of its own (a source's reader, a backend's connection pool). A crash there is in no call
// the host marked (core/plugin_call_on_thread.hpp), so the report could only name the thread. With the address ranges
// of every plugin library's executable segments, the crash report finds the plugin by the crashing instruction or by
// the frames of the crashing thread's stack (runtime/crash_report.cpp).
//
// Threads: register and unregister from any thread (the loader's); plugin_code_at reads with atomics only and takes
// no lock, so a signal handler may call it while another thread registers. A fixed table of kPluginCodeRanges
// entries: a library past that many open at once is not registered (its crashes are reported by thread, as before).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace warmup::host {

inline constexpr std::size_t kPluginCodeRanges = 256;

/// Registers the executable segments of the library that holds `address_in_library` (any of its symbols) under
/// `label` ("org.warmup.source.tail@1.2.0", cut at 159 bytes). Returns the entry to unregister, or -1 when the address
/// lies in no loaded object or the table is full.
int register_plugin_code(const void* address_in_library, std::string_view label) noexcept;

/// Forgets an entry (before the library is closed: its addresses may be reused by the next one mapped).
void unregister_plugin_code(int entry) noexcept;

/// The label of the plugin whose code holds `address`, or nullptr. Async-signal-safe.
const char* plugin_code_at(uintptr_t address) noexcept;

}  // namespace warmup::host
