# Read by cpack for each generator: the source tarball (TGZ) holds the tree at its top, not under the binary
# package's /usr prefix.
if(CPACK_GENERATOR STREQUAL "TGZ")
  set(CPACK_PACKAGING_INSTALL_PREFIX "")
endif()
