// The guard in front of YAML::LoadAll (host/config/config.cpp, refuse_text_yaml_cpp_cannot_finish): yaml-cpp 0.7.0
// never returns from LoadAll on a document that consumes no token (a ',' outside [...] or {...}). Such a text must get
// a located ConfigError, and no text yaml-cpp can read may be refused. Positions are 1-based, counted by hand.
//
// The refused inputs run in a forked child under a memory and CPU-time cap: should the guard regress, LoadAll
// allocates a node per round forever, and the cap turns that into a failed test instead of a swapped-out CI machine.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "config/config.hpp"

namespace warmup::host {
namespace {

namespace fs = std::filesystem;

constexpr rlim_t kChildMemoryBytes = rlim_t{1} << 30;
constexpr rlim_t kChildCpuSeconds = 20;

/// Runs in the forked child: caps memory and CPU time, loads `text`, exits 0 when it throws a ConfigError whose what()
/// is `expected_what`, 1 otherwise (after printing what happened to stderr, which gtest shows on failure).
[[noreturn]] void load_capped_and_exit(const std::string& text, const std::string& expected_what) {
    const rlimit memory{kChildMemoryBytes, kChildMemoryBytes};
    const rlimit cpu{kChildCpuSeconds, kChildCpuSeconds};
    setrlimit(RLIMIT_AS, &memory);
    setrlimit(RLIMIT_CPU, &cpu);
    try {
        load_config_text(text, "test.yaml", "/etc/warmup", "/opt/warmup/bin");
        std::fprintf(stderr, "loaded without an error\n");
    } catch (const ConfigError& error) {
        if (std::string(error.what()) == expected_what) _exit(0);
        std::fprintf(stderr, "got: %s\n", error.what());
    } catch (const std::exception& error) {
        std::fprintf(stderr, "threw something other than ConfigError: %s\n", error.what());
    }
    _exit(1);
}

void load_in_capped_child_and_expect(const std::string& text, const std::string& expected_what) {
    EXPECT_EXIT(load_capped_and_exit(text, expected_what), ::testing::ExitedWithCode(0), "");
}

const std::string kStrayCommaAdvice =
    "outside [...] or {...} a comma cannot start a value: quote the value that holds it, or remove it (yaml-cpp 0.7 "
    "would never finish reading this file)";

TEST(ConfigYamlCppHangGuard, TheFuzzerFoundHangInputGetsALocatedError) {
    // tests/fuzz/corpus/config_loader/yaml_cpp_hang_stray_comma.yaml: "\t, : :\n @\n"; the ',' is line 1, column 2.
    load_in_capped_child_and_expect("\t, : :\n @\n", "test.yaml:1:2: unexpected ',' here; " + kStrayCommaAdvice);
}

TEST(ConfigYamlCppHangGuard, ALoneCommaIsRefusedAtItsPosition) {
    load_in_capped_child_and_expect(",", "test.yaml:1:1: unexpected ',' here; " + kStrayCommaAdvice);
}

TEST(ConfigYamlCppHangGuard, AStrayCommaAfterAValidDocumentIsRefusedAtTheComma) {
    // Document 1 is a whole config; document 2 ("---" on line 3) has a ',' at line 4, column 3 where a value starts.
    load_in_capped_child_and_expect("log_level: info\n# next\n---\n  , b\n",
                                    "test.yaml:4:3: unexpected ',' here; " + kStrayCommaAdvice);
}

TEST(ConfigYamlCppHangGuard, TheRarerKeyIndicatorShapeIsRefusedToo) {
    // "!|" is a tagged empty block scalar; the '?' on line 2, column 1 is a key token no document consumes.
    load_in_capped_child_and_expect("!|\n? \n",
                                    "test.yaml:2:1: unexpected '?' here; remove or quote it (yaml-cpp 0.7 would never "
                                    "finish reading this file)");
}

// ----- nothing yaml-cpp can read is refused

const std::string kMinimalConfigWithCommas = R"(components:
  analyzer: {plugin: org.warmup.analyzer.usage-pattern}
  predictor: {plugin: org.warmup.predictor.hybrid-histogram, params: {weights: [0.5, 0.25], note: a, b}}
  performance: {plugin: org.warmup.performance.catalog}
  scheduler: {plugin: org.warmup.scheduler.deadline}
  resource: {plugin: org.warmup.resource.budget}
  queue: {plugin: org.warmup.queue.edf}
  metrics: {plugin: org.warmup.metrics.prometheus}
  backend:
    plugin: org.warmup.backend.sim
    params:
      label: fast, cheap, local
catalog:
  - model: llama, the big one
    memory_mb: 4800
    load_ms: 3000
  - {model: "quoted, with a comma", memory_mb: 1, load_ms: 0}
  - {model: 'single, quoted', memory_mb: 1, load_ms: 0}
plugin_dirs: [/a, /b,]
)";

TEST(ConfigYamlCppHangGuard, CommasInsidePlainQuotedAndFlowValuesStillLoad) {
    const Config config = load_config_text(kMinimalConfigWithCommas, "test.yaml", "/etc/warmup", "/opt/warmup/bin");
    ASSERT_EQ(config.catalog.size(), 3u);
    EXPECT_EQ(config.catalog[0].pattern, "llama, the big one");
    EXPECT_EQ(config.catalog[1].pattern, "quoted, with a comma");
    EXPECT_EQ(config.catalog[2].pattern, "single, quoted");
    EXPECT_EQ(config.plugin_dirs, (std::vector<fs::path>{"/a", "/b"}));
}

TEST(ConfigYamlCppHangGuard, MultipleDocumentsAreStillReportedAsSuch) {
    // Two documents that each consume tokens: not the hang, so the usual message, at the second document's node.
    try {
        load_config_text("a: 1\n---\nb: 2\n", "test.yaml", "/etc/warmup", "/opt/warmup/bin");
        ADD_FAILURE() << "two documents were accepted";
    } catch (const ConfigError& error) {
        EXPECT_EQ(std::string(error.what()), "test.yaml:3:1: expected one YAML document, found 2");
    }
}

TEST(ConfigYamlCppHangGuard, EveryShippedConfigStillLoads) {
    std::size_t loaded = 0;
    const fs::path configs = fs::path(WARMUP_TEST_SOURCE_DIR) / "configs";
    for (const auto& entry : fs::recursive_directory_iterator(configs)) {
        if (!entry.is_regular_file() || entry.path().extension() != ".yaml") continue;
        // Workload scenarios for `--trace synth:` are not host configurations (tests/host/replay/trace loads them).
        if (entry.path().parent_path() == configs / "scenarios") continue;
        // Prometheus configuration and alert rules (tests/e2e/monitoring_test.cpp checks them with promtool).
        if (entry.path().parent_path() == configs / "monitoring") continue;
        SCOPED_TRACE(entry.path().string());
        EXPECT_NO_THROW(load_config_file(entry.path(), fs::path(WARMUP_TEST_SOURCE_DIR) / "build/bin"));
        ++loaded;
    }
    EXPECT_GE(loaded, 10u) << "configs/ went missing";
}

}  // namespace
}  // namespace warmup::host
