# `cpack -G DEB` (run in the build folder) makes warmup-host_<version>_<arch>.deb: every install component
# (runtime, sdk, and service: /usr/lib/systemd/system/warmupd.service, /usr/lib/sysusers.d/warmup.conf,
# /etc/warmup/warmupd.yaml as a conffile) under /usr, one package. The maintainer scripts in packaging/debian create
# the `warmup` system user; the service is not enabled by the package. Runtime library dependencies are computed by
# dpkg-shlibdeps; building plugins against the SDK also needs a C++20 compiler and libyaml-cpp-dev (Recommends).
# Included from the top-level CMakeLists.txt after packaging/install.cmake.
set(CPACK_PACKAGE_NAME warmup-host)
set(CPACK_PACKAGE_VENDOR "warmup-host")
# Debian requires a maintainer; whoever builds packages for distribution sets theirs.
set(WARMUP_PACKAGE_MAINTAINER "warmup-host maintainers <root@localhost>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${WARMUP_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "model warm-up daemon: loads models shortly before they are needed")
set(CPACK_PACKAGE_DESCRIPTION
    "warmupd watches model-usage events, learns each model's rhythm, pre-loads a\n\
model shortly before its next request and unloads it when it will not be used,\n\
inside a hard memory budget. With warmup-replay (offline evaluation of\n\
policies), warmupctl (operations), the shipped plugins and the plugin SDK\n\
(CMake package WarmupSDK).")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL runtime sdk service)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEB_COMPONENT_INSTALL ON)  # with ALL_COMPONENTS_IN_ONE: one package of every listed component
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser | systemd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libyaml-cpp-dev, g++, cmake")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(warmup_conffiles ${CMAKE_CURRENT_BINARY_DIR}/packaging/conffiles)
file(WRITE ${warmup_conffiles} "/etc/warmup/warmupd.yaml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${warmup_conffiles}
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_GENERATOR DEB)
# `make package_source`: the tracked tree as a tar.gz, without build trees, replay outputs or version control.
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_PACKAGE_FILE_NAME "warmup-host-${PROJECT_VERSION}")
set(CPACK_SOURCE_IGNORE_FILES "/\\.git/" "/build[^/]*/" "/out/" "/_CPack_Packages/" "\\.swp$")
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_SOURCE_DIR}/packaging/cpack-project.cmake)
include(CPack)
