# Turns a text file into a C++ source defining warmup::host::embedded_default_config (std::string_view).
file(READ "${INPUT}" content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT}; do not edit.\n#include <string_view>\nnamespace warmup::host {\nnamespace { constexpr char kBytes[] = {${bytes} 0}; }\nextern const std::string_view embedded_default_config;\nconst std::string_view embedded_default_config(kBytes, sizeof kBytes - 1);\n}\n")
