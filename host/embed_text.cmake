# Turns a text file into a C++ source defining warmup::host::<VARIABLE> (a std::string_view over the file's bytes;
# VARIABLE defaults to embedded_default_config). Used for the embedded default configuration and the status page.
# Every byte is written as a \x escape of one string literal, so UTF-8 text (bytes above 0x7f) needs no narrowing.
if(NOT DEFINED VARIABLE)
  set(VARIABLE embedded_default_config)
endif()
file(READ "${INPUT}" content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" bytes "${content}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT}; do not edit.\n#include <string_view>\nnamespace warmup::host {\nnamespace { constexpr char kBytes[] = \"${bytes}\"; }\nextern const std::string_view ${VARIABLE};\nconst std::string_view ${VARIABLE}(kBytes, sizeof kBytes - 1);\n}\n")
