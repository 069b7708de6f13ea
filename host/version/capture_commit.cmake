# Writes the build's version and git commit into OUTPUT (from the template INPUT), run with cmake -P at every build:
#   -DSOURCE_DIR=<checkout> -DVERSION=<project version> -DINPUT=<build_commit.cpp.in> -DOUTPUT=<generated .cpp>
# The commit is HEAD's abbreviated hash when SOURCE_DIR is the top of a git work tree (a release tarball unpacked
# inside some other repository does not take that repository's commit), else "unknown". OUTPUT is replaced only when
# its text changes, so an unchanged commit recompiles and relinks nothing.
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
# Written under a private name, then renamed over OUTPUT only when the text changed: builds of several targets may
# run this script at the same time, and a rename is atomic, so a compiler never reads a half-written file.
string(RANDOM LENGTH 12 suffix)
configure_file("${INPUT}" "${OUTPUT}.${suffix}.tmp" @ONLY)
file(READ "${OUTPUT}.${suffix}.tmp" new_text)
set(old_text "")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old_text)
endif()
if(new_text STREQUAL old_text)
  file(REMOVE "${OUTPUT}.${suffix}.tmp")
else()
  file(RENAME "${OUTPUT}.${suffix}.tmp" "${OUTPUT}")
endif()
