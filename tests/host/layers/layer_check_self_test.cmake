# tests/host/layers/layer_check_self_test.cmake — runs host/layers.cmake on small trees written here and checks its verdict:
# a tree whose includes all go down passes; an include upwards, one between two folders of the same rank and one into
# the runtime/ folder from replay, and one after a line with an unbalanced '[', each fail with the offending file, line and layers named; runtime/state/ stays
# usable from replay. Any wrong verdict fails this script (FATAL_ERROR, so ctest reports the test failed).
cmake_minimum_required(VERSION 3.25)

# Writes `files` (pairs of path, content) under WORK_DIR/<name>/host and runs the checker on it.
function(check_tree name expect_pass expected_message)
  set(root "${WORK_DIR}/${name}/host")
  file(REMOVE_RECURSE "${WORK_DIR}/${name}")
  set(pairs ${ARGN})
  list(LENGTH pairs count)
  math(EXPR last "${count} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET pairs ${i} path)
    list(GET pairs ${j} content)
    file(WRITE "${root}/${path}" "${content}\n")
  endforeach()
  execute_process(COMMAND "${CMAKE_COMMAND}" -DHOST_DIR=${root} -P "${CHECKER}" RESULT_VARIABLE result
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(expect_pass AND NOT result EQUAL 0)
    message(FATAL_ERROR "${name}: expected the layer check to pass, it failed:\n${out}${err}")
  endif()
  if(NOT expect_pass)
    if(result EQUAL 0)
      message(FATAL_ERROR "${name}: expected the layer check to fail, it passed:\n${out}${err}")
    endif()
    string(FIND "${err}" "${expected_message}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${name}: the failure does not say '${expected_message}':\n${err}")
    endif()
  endif()
  message(STATUS "${name}: as expected")
endfunction()

set(clean
  "core/clock.hpp" "#pragma once"
  "config/config.hpp" "#include \"core/clock.hpp\""
  "engine/engine.cpp" "#include <warmup/warmup.h>\n#include \"config/config.hpp\"\n#include \"engine/engine.hpp\""
  "runtime/state/journal.hpp" "#include \"core/clock.hpp\""
  "replay/trace/journal_trace.cpp" "#include \"runtime/state/journal.hpp\"\n#include \"engine/engine.hpp\""
  "apps/main.cpp" "#include \"replay/driver.hpp\"\n#include \"http/api.hpp\"")

check_tree(clean TRUE "" ${clean})
check_tree(upwards FALSE "host/engine/bad.cpp:2 includes runtime/live_runtime.hpp, but engine is below runtime"
  ${clean} "engine/bad.cpp" "#include \"core/clock.hpp\"\n#include \"runtime/live_runtime.hpp\"")
check_tree(core_upwards FALSE "host/core/bad.hpp:1 includes http/http_api.hpp, but core is below http"
  ${clean} "core/bad.hpp" "  #  include \"http/http_api.hpp\"")
check_tree(beside FALSE "host/replay/driver.cpp:1 includes runtime/live_runtime.hpp, but replay is beside runtime"
  ${clean} "replay/driver.cpp" "#include \"runtime/live_runtime.hpp\"")
# A '[' without its ']' on an earlier line (an array index, a lambda capture) must not hide the lines after it.
check_tree(after_open_bracket FALSE "host/loader/bad.cpp:3 includes engine/engine.hpp, but loader is below engine"
  ${clean} "loader/bad.cpp" "int first = values[0\n// a ; and a [ in a comment\n#include \"engine/engine.hpp\"")
check_tree(state_upwards FALSE "host/runtime/state/bad.cpp:1 includes runtime/live_runtime.hpp, but runtime/state is below runtime"
  ${clean} "runtime/state/bad.cpp" "#include \"runtime/live_runtime.hpp\"")
