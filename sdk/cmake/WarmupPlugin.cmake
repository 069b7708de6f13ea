# warmup_add_plugin(<name> SOURCES <files...> [OUTPUT_DIRECTORY <dir>] [LINK_LIBRARIES <libs...>])
#
# Builds a plugin as a MODULE library the host can load: hidden visibility (the only exported symbol is
# warmup_plugin_entry, enforced by a version script), -fvisibility-inlines-hidden, -fno-gnu-unique (a GNU unique
# symbol would pin the library in memory and defeat hot-swap), and -Wl,-z,defs (an unresolved symbol fails the link,
# not the dlopen). The library is named <name>.so, without the "lib" prefix, so a YAML `path:` reads naturally.
#
# Needs: the `warmup::plugin-api` and `warmup::sdk` targets (defined by the host tree or by find_package(WarmupSDK)).
include_guard(GLOBAL)

set(WARMUP_PLUGIN_VERSION_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/warmup_plugin.map"
    CACHE INTERNAL "Linker version script for warmup plugins")

function(warmup_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;LINK_LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "warmup_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE warmup::sdk ${ARG_LINK_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON
    LINK_DEPENDS "${WARMUP_PLUGIN_VERSION_SCRIPT}")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU")
    target_compile_options(${name} PRIVATE -fno-gnu-unique)
  endif()
  target_link_options(${name} PRIVATE
    "LINKER:--version-script=${WARMUP_PLUGIN_VERSION_SCRIPT}"
    "LINKER:-z,defs")
endfunction()
