# host/layers.cmake — the layers of the host and the include check that keeps them.
#
#   cmake -DHOST_DIR=<path to host/> -P host/layers.cmake
#
# scans the #include "..." lines of HOST_DIR/**/*.{hpp,cpp} and fails, listing every offence as
#   host/<a>/<file>:<line> includes <b>/..., but <a> is below <b>          (or "... is beside <b>")
# when a folder includes one of a higher or equal rank other than itself. Includes of folders outside the table
# (<warmup/...>, third-party headers) are not the host's layers and are ignored. The tests host_layers and
# host_layers_self_test (tests/host/layers/) run it on the real tree and on trees with a planted violation.
#
# Ranks, lowest first; a folder may include its own files and those of lower ranks only. Folders of one rank stand
# beside each other and include neither. The library targets of host/CMakeLists.txt link in the same order.
#   0 core      errors, catalog, clock, tenant hash, event model, placement rule; version (build info) beside it
#   1 config    the YAML configuration
#     state     runtime/state/: snapshots, journal, metrics history. It includes core only and replay reads the
#               journal, so it is a layer of its own beside config (a longer path prefix wins over runtime/).
#   2 loader    plugin libraries, instances, the PluginSet of a configuration
#   3 engine    the discrete-event warm-up pipeline (one code path for live and replay)
#   4 runtime   the live daemon's runtime (LiveRuntime, sources)
#     replay    the offline evaluator: beside runtime, it uses core, config, state, loader and engine only
#   5 cluster   the fleet: FleetNode drives a LiveRuntime (calls it, takes its engine on the control thread), so it
#               sits above runtime; it includes no http header. Its pure placement rule is in core so that replay
#               can share it.
#   6 http      the operator's HTTP API over a LiveRuntime; above cluster, so that /metrics may show the fleet's
#               counters (warmupd hands them over; the fleet itself is wired in apps)
#   7 apps      warmupd, warmup-replay, warmupctl: may use everything
cmake_minimum_required(VERSION 3.25)

# Folder (relative to host/) -> rank.
set(WARMUP_LAYER_FOLDERS core version config runtime/state loader engine runtime replay cluster http apps)
set(WARMUP_LAYER_RANK_core 0)
set(WARMUP_LAYER_RANK_version 0)
set(WARMUP_LAYER_RANK_config 1)
set(WARMUP_LAYER_RANK_runtime/state 1)
set(WARMUP_LAYER_RANK_loader 2)
set(WARMUP_LAYER_RANK_engine 3)
set(WARMUP_LAYER_RANK_runtime 4)
set(WARMUP_LAYER_RANK_replay 4)
set(WARMUP_LAYER_RANK_cluster 5)
set(WARMUP_LAYER_RANK_http 6)
set(WARMUP_LAYER_RANK_apps 7)

# The layer folder of `path` (relative to host/): the longest table folder that is a prefix of it, or "" if none.
function(warmup_layer_of path out)
  set(best "")
  string(LENGTH "${best}" best_length)
  foreach(folder IN LISTS WARMUP_LAYER_FOLDERS)
    string(LENGTH "${folder}/" length)
    string(SUBSTRING "${path}" 0 ${length} head)
    if(head STREQUAL "${folder}/" AND length GREATER best_length)
      set(best "${folder}")
      set(best_length ${length})
    endif()
  endforeach()
  set(${out} "${best}" PARENT_SCOPE)
endfunction()

# Appends to `out` one line per include in HOST_DIR that breaks the layers.
function(warmup_check_layers host_dir out)
  set(offences)
  file(GLOB_RECURSE files RELATIVE "${host_dir}" "${host_dir}/*.hpp" "${host_dir}/*.cpp")
  list(SORT files)
  foreach(file IN LISTS files)
    warmup_layer_of("${file}" from)
    if(from STREQUAL "")
      continue()  # a file at the top of host/ belongs to no layer
    endif()
    # One list element per line. Semicolons and square brackets are masked first: CMake would split a line at a ';'
    # and would not split lines between an unbalanced '[' and its ']'.
    file(READ "${host_dir}/${file}" text)
    string(REPLACE ";" "<semicolon>" text "${text}")
    string(REPLACE "[" "<open-bracket>" text "${text}")
    string(REPLACE "]" "<close-bracket>" text "${text}")
    string(REPLACE "\n" ";" lines "${text}")
    set(line_number 0)
    foreach(line IN LISTS lines)
      math(EXPR line_number "${line_number} + 1")
      if(NOT line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\"")
        continue()
      endif()
      set(included "${CMAKE_MATCH_1}")
      warmup_layer_of("${included}" to)
      if(to STREQUAL "" OR to STREQUAL from)
        continue()
      endif()
      if(WARMUP_LAYER_RANK_${to} LESS WARMUP_LAYER_RANK_${from})
        continue()
      endif()
      if(WARMUP_LAYER_RANK_${to} EQUAL WARMUP_LAYER_RANK_${from})
        set(relation "beside")
      else()
        set(relation "below")
      endif()
      list(APPEND offences "host/${file}:${line_number} includes ${included}, but ${from} is ${relation} ${to}")
    endforeach()
  endforeach()
  set(${out} "${offences}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  if(NOT HOST_DIR OR NOT IS_DIRECTORY "${HOST_DIR}")
    message(FATAL_ERROR "usage: cmake -DHOST_DIR=<path to host/> -P layers.cmake (got HOST_DIR='${HOST_DIR}')")
  endif()
  warmup_check_layers("${HOST_DIR}" offences)
  list(LENGTH offences count)
  if(count GREATER 0)
    # One unwrapped line per offence (FATAL_ERROR text is re-wrapped), then the failure.
    foreach(offence IN LISTS offences)
      message(NOTICE "${offence}")
    endforeach()
    message(FATAL_ERROR "${count} include(s) against the host's layers (host/layers.cmake), listed above")
  endif()
  message(STATUS "host layers: every include goes down (${HOST_DIR})")
endif()
