// Every shippable plugin exports exactly one dynamic symbol, the entry (DESIGN.md, ABI rule 2): anything else exported
// could clash with another plugin's or the host's symbols, or pin the library in memory. Checked on the built files
// with `nm -D --defined-only`, which must be installed (binutils): the test fails rather than skips without it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "loader_test_support.hpp"

namespace warmup::test {
namespace {

/// True when an executable named `program` is found in $PATH.
bool in_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    if (path == nullptr) return false;
    std::stringstream folders(path);
    std::string folder;
    while (std::getline(folders, folder, ':')) {
        const fs::path candidate = fs::path(folder.empty() ? "." : folder) / program;
        std::error_code error;
        if (fs::is_regular_file(candidate, error) && ::access(candidate.c_str(), X_OK) == 0) return true;
    }
    return false;
}

struct DynamicSymbols {
    std::map<std::string, char> type_by_name;  ///< defined dynamic symbols: name -> nm type letter ('T' = text)
    std::string error;                         ///< non-empty when nm failed
};

/// Runs `nm -D --defined-only <file>` and parses "<address> <type> <name>" lines.
DynamicSymbols defined_dynamic_symbols(const fs::path& file) {
    DynamicSymbols symbols;
    const std::string command = "nm -D --defined-only '" + file.string() + "' 2>&1";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), &::pclose);
    if (!pipe) {
        symbols.error = "cannot run: " + command;
        return symbols;
    }
    std::string output;
    char buffer[4096];
    while (std::fgets(buffer, sizeof(buffer), pipe.get()) != nullptr) output += buffer;
    const int status = ::pclose(pipe.release());
    if (status != 0) {
        symbols.error = command + " failed (status " + std::to_string(status) + "): " + output;
        return symbols;
    }
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string address, type, name;
        if (!(fields >> address >> type >> name) || type.size() != 1) {
            symbols.error = "unexpected nm line: '" + line + "'";
            return symbols;
        }
        symbols.type_by_name[name] = type[0];
    }
    return symbols;
}

std::vector<std::string> real_plugin_files() {
    std::vector<std::string> files;
    std::stringstream joined(WARMUP_TEST_REAL_PLUGIN_FILES);
    std::string file;
    while (std::getline(joined, file, ','))
        if (!file.empty()) files.push_back(file);
    return files;
}

TEST(PluginExports, NmIsAvailable) {
    ASSERT_TRUE(in_path("nm")) << "`nm` (GNU binutils) is not in PATH; the export checks need it: install binutils";
}

TEST(PluginExports, EveryRealPluginExportsOnlyTheEntry) {
    ASSERT_TRUE(in_path("nm")) << "`nm` (GNU binutils) is not in PATH; install binutils";
    const std::vector<std::string> files = real_plugin_files();
    // The 11 plugins of plugins/<kind>/<name>/ at the time of writing; more may come, fewer means a plugin vanished.
    ASSERT_GE(files.size(), 11u) << WARMUP_TEST_REAL_PLUGIN_FILES;
    for (const auto& file_name : files) {
        SCOPED_TRACE(file_name);
        const fs::path file = real_plugin(file_name);
        ASSERT_TRUE(fs::is_regular_file(file)) << file << " was not built";
        const DynamicSymbols symbols = defined_dynamic_symbols(file);
        ASSERT_EQ(symbols.error, "");
        std::string listed;
        for (const auto& [name, type] : symbols.type_by_name) listed += std::string(1, type) + " " + name + "\n";
        ASSERT_EQ(symbols.type_by_name.size(), 1u) << "exported:\n" << listed;
        EXPECT_EQ(symbols.type_by_name.begin()->first, "warmup_plugin_entry");
        EXPECT_EQ(symbols.type_by_name.begin()->second, 'T');  // a function in .text
    }
}

TEST(PluginExports, ParserSeesWhatALibraryReallyExports) {
    // The control: no_entry.so exports its descriptor function under a typo, and the parser must report that name
    // (a parser that always answered "warmup_plugin_entry" would pass the test above).
    ASSERT_TRUE(in_path("nm")) << "`nm` (GNU binutils) is not in PATH; install binutils";
    const DynamicSymbols symbols = defined_dynamic_symbols(bad_plugin("no_entry.so"));
    ASSERT_EQ(symbols.error, "");
    EXPECT_EQ(symbols.type_by_name.count("warmup_plugin_entry_v1"), 1u);
    EXPECT_EQ(symbols.type_by_name.count("warmup_plugin_entry"), 0u);
}

}  // namespace
}  // namespace warmup::test
