# Writes the build's version and git commit into OUTPUT (from the template INPUT), run with cmake -P at every build:
#   -DSOURCE_DIR=<checkout> -DVERSION=<project version> -DINPUT=<build_commit.cpp.in> -DOUTPUT=<generated .cpp>
# The commit is HEAD's abbreviated hash when SOURCE_DIR is the top of a git work tree (a release tarball unpacked
# inside some other repository does not take that repository's commit), else "unknown". configure_file rewrites
# OUTPUT only when its text changes, so an unchanged commit recompiles and relinks nothing.
set(WARMUP_VERSION "${VERSION}")
set(WARMUP_COMMIT "unknown")
find_program(GIT_EXECUTABLE git)
if(GIT_EXECUTABLE)
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --show-toplevel
                  OUTPUT_VARIABLE toplevel RESULT_VARIABLE toplevel_status
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(toplevel_status EQUAL 0)
    file(REAL_PATH "${toplevel}" toplevel)
    file(REAL_PATH "${SOURCE_DIR}" source_dir)
    if(toplevel STREQUAL source_dir)
      execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                      OUTPUT_VARIABLE commit RESULT_VARIABLE commit_status
                      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(commit_status EQUAL 0 AND commit MATCHES "^[0-9a-f]+$")
        set(WARMUP_COMMIT "${commit}")
      endif()
    endif()
  endif()
endif()
configure_file("${INPUT}" "${OUTPUT}" @ONLY)
