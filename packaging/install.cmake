# What `cmake --install build --prefix P` installs (and `cpack -G DEB` packages, with prefix /usr):
#   P/bin/                         warmupd, warmup-replay, warmupctl
#   P/lib/warmup/plugins/          every shipped plugin (the targets built into build/plugins); the default
#                                  configuration's plugin_dirs find them from P/bin/warmupd with no config
#   P/include/warmup/              the C ABI headers, and sdk/ with the C++ SDK headers
#   P/lib/cmake/WarmupSDK/         the CMake package: find_package(WarmupSDK) gives warmup::plugin-api, warmup::sdk,
#                                  warmup::sdk-http (when cpp-httplib is installed) and warmup_add_plugin()
#   P/share/warmup/sdk-template/   the plugin template (sdk/template), buildable against the installed package
#   P/share/warmup/monitoring/     configs/monitoring: Grafana dashboard, Prometheus alert rules and their unit tests,
#                                  example Prometheus configuration
#   P/share/doc/warmup-host/       README.md and docs/ (the user's manual: the README links its pages as docs/*.md)
# The `service` component (the systemd unit, the sysusers.d entry and /etc/warmup/warmupd.yaml) is installed only
# into the Debian package, never by a plain `cmake --install`: it holds absolute paths such as /etc.
# Included from the top-level CMakeLists.txt after every target is defined.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(WARMUP_INSTALL_PLUGIN_DIR lib/warmup/plugins)  # fixed: warmupd looks for ${WARMUP_EXE_DIR}/../lib/warmup/plugins
set(WARMUP_INSTALL_CMAKE_DIR lib/cmake/WarmupSDK)

install(TARGETS warmupd warmup-replay warmupctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

# Shipped plugins: the module libraries that build into ${WARMUP_PLUGIN_OUTPUT_DIR} (test plugins build elsewhere).
set(shipped_plugins "")
file(GLOB plugin_source_dirs LIST_DIRECTORIES true ${PROJECT_SOURCE_DIR}/plugins/*/*)
foreach(dir IN LISTS plugin_source_dirs)
  if(NOT EXISTS ${dir}/CMakeLists.txt)
    continue()
  endif()
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    get_target_property(output_dir ${target} LIBRARY_OUTPUT_DIRECTORY)
    if(type STREQUAL "MODULE_LIBRARY" AND output_dir STREQUAL WARMUP_PLUGIN_OUTPUT_DIR)
      list(APPEND shipped_plugins ${target})
    endif()
  endforeach()
endforeach()
if(NOT shipped_plugins)
  message(FATAL_ERROR "install: no shipped plugin found under ${PROJECT_SOURCE_DIR}/plugins")
endif()
install(TARGETS ${shipped_plugins} LIBRARY DESTINATION ${WARMUP_INSTALL_PLUGIN_DIR} COMPONENT runtime)

# The SDK: headers, targets, package files.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/plugin-api/include/ ${PROJECT_SOURCE_DIR}/sdk/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT sdk)
set_target_properties(warmup-plugin-api PROPERTIES EXPORT_NAME plugin-api)
set_target_properties(warmup-sdk PROPERTIES EXPORT_NAME sdk)
set_target_properties(warmup-sdk-http PROPERTIES EXPORT_NAME sdk-http)
install(TARGETS warmup-plugin-api warmup-sdk warmup-sdk-http EXPORT WarmupSDKTargets COMPONENT sdk)
install(EXPORT WarmupSDKTargets NAMESPACE warmup:: DESTINATION ${WARMUP_INSTALL_CMAKE_DIR} COMPONENT sdk)

file(STRINGS ${PROJECT_SOURCE_DIR}/plugin-api/include/warmup/version.h abi_major_line
     REGEX "^#define WARMUP_ABI_MAJOR [0-9]+$")
file(STRINGS ${PROJECT_SOURCE_DIR}/plugin-api/include/warmup/version.h abi_minor_line
     REGEX "^#define WARMUP_ABI_MINOR [0-9]+$")
string(REGEX REPLACE ".* " "" abi_major "${abi_major_line}")
string(REGEX REPLACE ".* " "" abi_minor "${abi_minor_line}")
if(abi_major STREQUAL "" OR abi_minor STREQUAL "")
  message(FATAL_ERROR "install: cannot read WARMUP_ABI_MAJOR/MINOR from plugin-api/include/warmup/version.h")
endif()
set(WARMUP_ABI_VERSION "${abi_major}.${abi_minor}")
configure_package_config_file(${PROJECT_SOURCE_DIR}/sdk/cmake/WarmupSDKConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/WarmupSDKConfig.cmake
                              INSTALL_DESTINATION ${WARMUP_INSTALL_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/WarmupSDKConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/WarmupSDKConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/WarmupSDKConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/sdk/cmake/WarmupPlugin.cmake ${PROJECT_SOURCE_DIR}/sdk/cmake/warmup_plugin.map
        DESTINATION ${WARMUP_INSTALL_CMAKE_DIR} COMPONENT sdk)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/sdk/template/ DESTINATION ${CMAKE_INSTALL_DATADIR}/warmup/sdk-template
        COMPONENT sdk)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs/monitoring/ DESTINATION ${CMAKE_INSTALL_DATADIR}/warmup/monitoring
        COMPONENT runtime)
# The example, benchmark, evaluation and scenario configurations the docs name (configs/<folder>/...): each lists the
# installed plugin folder beside the build's, so the installed warmup-replay and warmupd run them from
# <prefix>/share/warmup/configs as the docs run them from a checkout.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs/examples ${PROJECT_SOURCE_DIR}/configs/bench
                  ${PROJECT_SOURCE_DIR}/configs/evaluation ${PROJECT_SOURCE_DIR}/configs/scenarios
        DESTINATION ${CMAKE_INSTALL_DATADIR}/warmup/configs COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/configs/default.yaml DESTINATION ${CMAKE_INSTALL_DATADIR}/warmup/configs
        COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs COMPONENT runtime)

# The service component: Debian package only (EXCLUDE_FROM_ALL keeps it out of a plain `cmake --install`).
set(packaged_config ${CMAKE_CURRENT_BINARY_DIR}/packaging/warmupd.yaml)
add_custom_command(
  OUTPUT ${packaged_config}
  COMMAND ${CMAKE_COMMAND} -DINPUT=${PROJECT_SOURCE_DIR}/configs/default.yaml -DOUTPUT=${packaged_config}
          -P ${PROJECT_SOURCE_DIR}/packaging/make_packaged_config.cmake
  DEPENDS ${PROJECT_SOURCE_DIR}/configs/default.yaml ${PROJECT_SOURCE_DIR}/packaging/make_packaged_config.cmake
  VERBATIM)
add_custom_target(warmup-packaged-config ALL DEPENDS ${packaged_config})
install(FILES ${packaged_config} DESTINATION /etc/warmup COMPONENT service EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/warmupd.service DESTINATION lib/systemd/system COMPONENT service
        EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/warmup.sysusers DESTINATION lib/sysusers.d RENAME warmup.conf
        COMPONENT service EXCLUDE_FROM_ALL)
