// The configuration loader: values, defaults, path resolution, arms, locate(), and one test per error kind with its
// exact file:line:col and key path. Positions below are counted by hand from the YAML texts (1-based).
#include "config/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/exceptions.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "test_support.hpp"

namespace warmup::host {
namespace {

namespace fs = std::filesystem;

const fs::path kBaseDir = "/etc/warmup";
const fs::path kExeDir = "/opt/warmup/bin";

// The two required sections, valid, 11 lines. Appended after the text a test is about, so that text starts at line 1.
const std::string kRequiredSections = R"(components:
  analyzer: {plugin: org.warmup.analyzer.usage-pattern}
  predictor: {plugin: org.warmup.predictor.hybrid-histogram, params: {horizon_ms: 60000}}
  performance: {plugin: org.warmup.performance.catalog}
  scheduler: {plugin: org.warmup.scheduler.deadline}
  resource: {plugin: org.warmup.resource.budget}
  queue: {plugin: org.warmup.queue.edf}
  metrics: {plugin: org.warmup.metrics.prometheus}
  backend: {plugin: org.warmup.backend.sim}
catalog:
  - {model: "llama3:8b", memory_mb: 4800, load_ms: 3000}
)";

// The eight slots without `backend`, 8 lines (the `components:` line included).
const std::string kComponentsWithoutBackend = R"(components:
  analyzer: {plugin: org.warmup.analyzer.usage-pattern}
  predictor: {plugin: org.warmup.predictor.hybrid-histogram}
  performance: {plugin: org.warmup.performance.catalog}
  scheduler: {plugin: org.warmup.scheduler.deadline}
  resource: {plugin: org.warmup.resource.budget}
  queue: {plugin: org.warmup.queue.edf}
  metrics: {plugin: org.warmup.metrics.prometheus}
)";

const std::string kCatalog = "catalog:\n  - {model: a, memory_mb: 1, load_ms: 0}\n";

Config load(const std::string& text, const fs::path& exe_dir = kExeDir) {
    return load_config_text(text, "test.yaml", kBaseDir, exe_dir);
}

ConfigError load_error(const std::string& text, const fs::path& exe_dir = kExeDir) {
    try {
        load(text, exe_dir);
    } catch (const ConfigError& error) {
        return error;
    }
    ADD_FAILURE() << "expected a ConfigError for:\n" << text;
    return ConfigError("", 0, 0, "", "");
}

void expect_error(const ConfigError& error, uint32_t line, uint32_t column, const std::string& key_path,
                  const std::string& what) {
    EXPECT_EQ(error.file(), "test.yaml");
    EXPECT_EQ(error.line(), line);
    EXPECT_EQ(error.column(), column);
    EXPECT_EQ(error.key_path(), key_path);
    EXPECT_EQ(std::string(error.what()), what);
}

const std::string kFullConfig = R"(# full configuration
log_level: debug
http:
  bind: 0.0.0.0
  port: 0
  max_body_mb: 2.5
plugin_dirs: ["${WARMUP_EXE_DIR}/../plugins", "./plugins", /abs/plugins]
budgets:
  memory_mb: 8192
  max_concurrent_warmups: 4
  ingest_queue_capacity: 1024
components:
  analyzer: {plugin: org.warmup.analyzer.usage-pattern}
  predictor:
    plugin: org.warmup.predictor.hybrid-histogram
    params:
      horizon_ms: 60000
      weights: [0.5, 0.25]
  performance: {plugin: org.warmup.performance.catalog}
  scheduler: {path: lib/libscheduler.so, sha256: 0123456789ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef}
  resource: {plugin: org.warmup.resource.budget}
  queue: {plugin: org.warmup.queue.edf}
  metrics: {plugin: org.warmup.metrics.prometheus}
  backend: {plugin: org.warmup.backend.sim, params: {}}
catalog:
  - model: "llama3:8b"
    memory_mb: 4800
    load_ms: 3000
    unload_ms: 200
    priority: 0
  - {model: "qwen*", memory_mb: 900.5, load_ms: 0}
arms:
  - name: keepalive-5m
    components:
      predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 300000}}
  - name: oracle
    yardstick: oracle
replay:
  seed: 18446744073709551615
  timeline_buckets: 50
  frontier: true
)";

// ----- values

TEST(ConfigLoader, FullValidConfigParsesToExpectedValues) {
    const Config config = load(kFullConfig);
    EXPECT_EQ(config.display_name, "test.yaml");
    EXPECT_TRUE(config.source_file.empty());
    EXPECT_EQ(config.source_text, kFullConfig);
    EXPECT_EQ(config.log_level, "debug");
    EXPECT_EQ(config.http.bind, "0.0.0.0");
    EXPECT_EQ(config.http.port, 0);
    EXPECT_DOUBLE_EQ(config.http.max_body_mb, 2.5);
    EXPECT_EQ(config.plugin_dirs,
              (std::vector<fs::path>{"/opt/warmup/plugins", "/etc/warmup/plugins", "/abs/plugins"}));
    EXPECT_FALSE(config.memory_budget.is_relative());
    EXPECT_DOUBLE_EQ(config.memory_budget.absolute_mb, 8192);
    EXPECT_EQ(config.max_concurrent_warmups, 4u);
    EXPECT_EQ(config.ingest_queue_capacity, 1024u);

    const PluginChoice& predictor = config.components[ComponentSlot::Predictor];
    EXPECT_EQ(predictor.id, "org.warmup.predictor.hybrid-histogram");
    EXPECT_TRUE(predictor.path.empty());
    EXPECT_EQ(predictor.params_yaml, "horizon_ms: 60000\nweights:\n  - 0.5\n  - 0.25");
    EXPECT_EQ(predictor.key_path, "components.predictor");

    const PluginChoice& scheduler = config.components[ComponentSlot::Scheduler];
    EXPECT_TRUE(scheduler.id.empty());
    EXPECT_EQ(scheduler.path, fs::path("/etc/warmup/lib/libscheduler.so"));
    EXPECT_EQ(scheduler.sha256, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    EXPECT_EQ(scheduler.params_yaml, "");

    EXPECT_EQ(config.components[ComponentSlot::Backend].params_yaml, "{}");
    EXPECT_EQ(config.components[ComponentSlot::Metrics].id, "org.warmup.metrics.prometheus");

    ASSERT_EQ(config.catalog.size(), 2u);
    EXPECT_EQ(config.catalog[0].pattern, "llama3:8b");
    EXPECT_DOUBLE_EQ(config.catalog[0].memory_mb, 4800);
    EXPECT_DOUBLE_EQ(config.catalog[0].load_ms, 3000);
    EXPECT_DOUBLE_EQ(config.catalog[0].unload_ms, 200);
    EXPECT_EQ(config.catalog[0].priority, 0u);
    EXPECT_EQ(config.catalog[1].pattern, "qwen*");
    EXPECT_DOUBLE_EQ(config.catalog[1].memory_mb, 900.5);
    EXPECT_DOUBLE_EQ(config.catalog[1].load_ms, 0);
    EXPECT_DOUBLE_EQ(config.catalog[1].unload_ms, 0);  // default
    EXPECT_EQ(config.catalog[1].priority, 1u);         // default

    EXPECT_EQ(config.replay_seed, 18446744073709551615ull);
    EXPECT_EQ(config.timeline_buckets, 50u);
    EXPECT_TRUE(config.replay_frontier);
}

TEST(ConfigLoader, HttpThreadsAndRequestTimeoutAreReadAndRangeChecked) {
    const Config config = load("http: {threads: 12, request_timeout_ms: 2500}\n" + kRequiredSections);
    EXPECT_EQ(config.http.threads, 12u);
    EXPECT_EQ(config.http.request_timeout_ms, 2500);
    const ConfigError error = load_error("http:\n  threads: 0\n" + kRequiredSections);
    expect_error(error, 2, 3, "http.threads", "test.yaml:2:3: http.threads: expected an integer in [1, 1024], got '0'");
}

TEST(ConfigLoader, OmittedOptionalKeysTakeTheDocumentedDefaults) {
    const Config config = load(kRequiredSections);
    EXPECT_EQ(config.log_level, "info");
    EXPECT_EQ(config.http.bind, "127.0.0.1");
    EXPECT_EQ(config.http.port, 3000);
    EXPECT_DOUBLE_EQ(config.http.max_body_mb, 16);
    EXPECT_EQ(config.http.threads, 64u);
    EXPECT_EQ(config.http.request_timeout_ms, 10000);
    EXPECT_EQ(config.plugin_dirs,
              (std::vector<fs::path>{"/opt/warmup/plugins", "/opt/warmup/lib/warmup/plugins", "/etc/warmup/plugins"}));
    EXPECT_DOUBLE_EQ(config.memory_budget.absolute_mb, 16384);
    EXPECT_EQ(config.max_concurrent_warmups, 2u);
    EXPECT_EQ(config.ingest_queue_capacity, 65536u);
    EXPECT_TRUE(config.arms.empty());
    EXPECT_EQ(config.replay_seed, 1u);
    EXPECT_EQ(config.timeline_buckets, 200u);
    EXPECT_FALSE(config.replay_frontier);
    EXPECT_EQ(config.components[ComponentSlot::Analyzer].params_yaml, "");
}

TEST(ConfigLoader, IngestRequestWindowDefaultsToFiveSecondsAndIsRead) {
    EXPECT_EQ(load(kRequiredSections).ingest_request_window_ms, 5000);
    EXPECT_EQ(load("ingest:\n" + kRequiredSections).ingest_request_window_ms, 5000);
    EXPECT_EQ(load("ingest: {request_window_ms: 60000}\n" + kRequiredSections).ingest_request_window_ms, 60000);
}

TEST(ConfigLoaderErrors, IngestRequestWindowOutOfRangeOrUnknownKey) {
    expect_error(load_error("ingest:\n  request_window_ms: 500\n" + kRequiredSections), 2, 3,
                 "ingest.request_window_ms",
                 "test.yaml:2:3: ingest.request_window_ms: expected an integer in [1000, 3600000], got '500'");
    expect_error(load_error("ingest:\n  request_windw_ms: 5000\n" + kRequiredSections), 2, 3, "ingest.request_windw_ms",
                 "test.yaml:2:3: ingest.request_windw_ms: unknown key 'request_windw_ms'; did you mean "
                 "'request_window_ms'?");
}

TEST(ConfigLoader, UnloadTimeoutDefaultsToTwoMinutesAndIsRead) {
    EXPECT_EQ(load(kRequiredSections).unload_timeout_ms, 120000);
    EXPECT_EQ(load("budgets: {unload_timeout_ms: 5000}\n" + kRequiredSections).unload_timeout_ms, 5000);
}

TEST(ConfigLoaderErrors, UnloadTimeoutOutOfRange) {
    expect_error(load_error("budgets:\n  unload_timeout_ms: 999\n" + kRequiredSections), 2, 3,
                 "budgets.unload_timeout_ms",
                 "test.yaml:2:3: budgets.unload_timeout_ms: expected an integer in [1000, 86400000], got '999'");
    expect_error(load_error("budgets:\n  unload_timeout_ms: 86400001\n" + kRequiredSections), 2, 3,
                 "budgets.unload_timeout_ms",
                 "test.yaml:2:3: budgets.unload_timeout_ms: expected an integer in [1000, 86400000], got "
                 "'86400001'");
}

TEST(ConfigLoader, ReconcileIntervalDefaultsToTenSecondsAndZeroSwitchesItOff) {
    EXPECT_EQ(load(kRequiredSections).reconcile_interval_ms, 10000);
    EXPECT_EQ(load("reconcile: {interval_ms: 0}\n" + kRequiredSections).reconcile_interval_ms, 0);
    EXPECT_EQ(load("reconcile:\n  interval_ms: 2500\n" + kRequiredSections).reconcile_interval_ms, 2500);
}

TEST(ConfigLoaderErrors, ReconcileIntervalNegativeOrUnknownKey) {
    expect_error(load_error("reconcile:\n  interval_ms: -1\n" + kRequiredSections), 2, 3, "reconcile.interval_ms",
                 "test.yaml:2:3: reconcile.interval_ms: expected an integer in [0, 86400000], got '-1'");
    expect_error(load_error("reconcile:\n  intervall_ms: 5\n" + kRequiredSections), 2, 3, "reconcile.intervall_ms",
                 "test.yaml:2:3: reconcile.intervall_ms: unknown key 'intervall_ms'; did you mean 'interval_ms'?");
}

TEST(ConfigLoader, EmptySectionsMeanAllDefaults) {
    const Config config = load("http:\nbudgets:\narms:\n" + kRequiredSections);
    EXPECT_EQ(config.http.port, 3000);
    EXPECT_DOUBLE_EQ(config.memory_budget.absolute_mb, 16384);
    EXPECT_TRUE(config.arms.empty());
}

TEST(ConfigLoader, DefaultPluginDirsSkipTheExecutableFolderWhenUnknown) {
    const Config config = load(kRequiredSections, /*exe_dir=*/"");
    EXPECT_EQ(config.plugin_dirs, (std::vector<fs::path>{"/etc/warmup/plugins"}));
}

TEST(ConfigLoader, RelativePathsResolveAgainstTheConfigFilesFolder) {
    const test::TempDir temp("warmup-config-test");
    const fs::path folder = temp.path() / "conf";
    fs::create_directories(folder);
    const fs::path file = folder / "warmup.yaml";
    std::string text = "plugin_dirs: [./plugins, ../shared/plugins]\n" + kRequiredSections;
    text.replace(text.find("backend: {plugin: org.warmup.backend.sim}"),
                 std::string("backend: {plugin: org.warmup.backend.sim}").size(), "backend: {path: lib/backend.so}");
    std::ofstream(file) << text;

    const Config config = load_config_file(file, kExeDir);

    EXPECT_EQ(config.source_file, file);
    EXPECT_EQ(config.display_name, file.string());
    EXPECT_EQ(config.source_text, text);
    EXPECT_EQ(config.plugin_dirs, (std::vector<fs::path>{folder / "plugins", folder.parent_path() / "shared/plugins"}));
    EXPECT_EQ(config.components[ComponentSlot::Backend].path, folder / "lib/backend.so");
    EXPECT_TRUE(config.components[ComponentSlot::Backend].id.empty());
}

TEST(ConfigLoader, WarmupExeDirExpandsToTheExecutablesFolder) {
    std::string text =
        "plugin_dirs: [\"${WARMUP_EXE_DIR}/../lib/warmup\", \"${WARMUP_EXE_DIR}\"]\n" + kRequiredSections;
    text.replace(text.find("backend: {plugin: org.warmup.backend.sim}"),
                 std::string("backend: {plugin: org.warmup.backend.sim}").size(),
                 "backend: {path: \"${WARMUP_EXE_DIR}/backends/sim.so\"}");
    const Config config = load(text);
    EXPECT_EQ(config.plugin_dirs, (std::vector<fs::path>{"/opt/warmup/lib/warmup", "/opt/warmup/bin"}));
    EXPECT_EQ(config.components[ComponentSlot::Backend].path, fs::path("/opt/warmup/bin/backends/sim.so"));
}

TEST(ConfigLoader, RelativeMemoryBudgetIsKeptAsAMultipleOfA95) {
    const Config config = load("budgets:\n  memory_mb: 1.5xA95\n" + kRequiredSections);
    EXPECT_TRUE(config.memory_budget.is_relative());
    EXPECT_DOUBLE_EQ(config.memory_budget.a95_multiple, 1.5);
    EXPECT_DOUBLE_EQ(config.memory_budget.absolute_mb, 0);
    EXPECT_EQ(config.memory_budget.describe(), "1.5xA95");
    EXPECT_EQ((MemoryBudget{16384, 0}).describe(), "16384 MiB");
}

TEST(ConfigLoader, ArmsMergeTheirOverridesOntoTheTopLevelComponents) {
    const Config config = load(kFullConfig);
    ASSERT_EQ(config.arms.size(), 2u);

    const Arm& keepalive = config.arms[0];
    EXPECT_EQ(keepalive.name, "keepalive-5m");
    EXPECT_EQ(keepalive.yardstick, "");
    const PluginChoice& predictor = keepalive.components[ComponentSlot::Predictor];
    EXPECT_EQ(predictor.id, "org.warmup.predictor.keep-alive");
    EXPECT_EQ(predictor.params_yaml, "ttl_ms: 300000");  // replaced wholesale: no horizon_ms from the top level
    EXPECT_EQ(predictor.key_path, "arms[0].components.predictor");
    for (ComponentSlot slot : kAllSlots) {
        if (slot == ComponentSlot::Predictor) continue;
        EXPECT_EQ(keepalive.components[slot], config.components[slot]) << slot_key(slot);
        EXPECT_EQ(keepalive.components[slot].key_path, "components." + std::string(slot_key(slot)));
    }
    EXPECT_FALSE(keepalive.components == config.components);

    const Arm& oracle = config.arms[1];
    EXPECT_EQ(oracle.name, "oracle");
    EXPECT_EQ(oracle.yardstick, "oracle");
    EXPECT_EQ(oracle.components, config.components);
}

TEST(ConfigLoader, ArmsMayComeBeforeComponentsInTheFile) {
    const Config config =
        load("arms:\n  - name: b\n    components: {metrics: {plugin: org.acme.metrics.null}}\n" + kRequiredSections);
    ASSERT_EQ(config.arms.size(), 1u);
    EXPECT_EQ(config.arms[0].components[ComponentSlot::Metrics].id, "org.acme.metrics.null");
    EXPECT_EQ(config.arms[0].components[ComponentSlot::Backend].id, "org.warmup.backend.sim");
}

TEST(ConfigLoader, ParamsWrittenInFlowOrBlockStyleCompareEqual) {
    const Config flow = load(kRequiredSections);
    std::string block_text = kRequiredSections;
    const std::string flow_predictor =
        "  predictor: {plugin: org.warmup.predictor.hybrid-histogram, params: {horizon_ms: 60000}}\n";
    block_text.replace(block_text.find(flow_predictor), flow_predictor.size(),
                       "  predictor:\n    plugin: org.warmup.predictor.hybrid-histogram\n    params:\n"
                       "      horizon_ms: 60000\n");
    const Config block = load(block_text);
    EXPECT_EQ(flow.components[ComponentSlot::Predictor], block.components[ComponentSlot::Predictor]);

    std::string changed_text = kRequiredSections;
    changed_text.replace(changed_text.find("60000"), 5, "60001");
    const Config changed = load(changed_text);
    EXPECT_FALSE(flow.components[ComponentSlot::Predictor] == changed.components[ComponentSlot::Predictor]);
    EXPECT_EQ(flow.components[ComponentSlot::Backend], changed.components[ComponentSlot::Backend]);
}

TEST(ConfigLoader, PluginChoiceEqualityIgnoresWhereItWasWritten) {
    PluginChoice a{"org.acme.x", {}, "k: 1", "", "components.predictor"};
    PluginChoice b = a;
    b.key_path = "arms[3].components.predictor";
    EXPECT_EQ(a, b);
    b.sha256 = std::string(64, 'a');
    EXPECT_FALSE(a == b);
}

TEST(ConfigLoader, UnknownKeysInsideParamsAreAccepted) {
    std::string text = kRequiredSections;
    text.replace(text.find("{horizon_ms: 60000}"), std::string("{horizon_ms: 60000}").size(),
                 "{anything: {nested: [1, {deep: true}]}}");
    const Config config = load(text);
    EXPECT_EQ(config.components[ComponentSlot::Predictor].params_yaml,
              "anything:\n  nested:\n    - 1\n    - deep: true");
}

// ----- locate()

TEST(ConfigLoader, LocateFindsKeysInsideParams) {
    const Config config = load(kFullConfig);
    EXPECT_EQ(config.locate("components.predictor.params.horizon_ms"), "test.yaml:17:7");
    EXPECT_EQ(config.locate("components.predictor.params.weights[1]"), "test.yaml:18:22");
    // `      predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 300000}}`: ttl_ms at column 69.
    EXPECT_EQ(config.locate("arms[0].components.predictor.params.ttl_ms"), "test.yaml:35:69");
    EXPECT_EQ(config.locate("catalog[1]"), "test.yaml:31:5");
    EXPECT_EQ(config.locate("budgets.memory_mb"), "test.yaml:9:3");
    EXPECT_EQ(config.locate("components.predictor.params.no_such_key"), "test.yaml");
}

TEST(ConfigLoader, CopiesShareTheKeyPositionsAndOneThatAddsGetsItsOwn) {
    const Config config = load(kFullConfig);
    Config copy = config;
    EXPECT_EQ(copy.locate("catalog[1]"), "test.yaml:31:5");
    EXPECT_EQ(copy.key_positions.find("catalog[1]"), config.key_positions.find("catalog[1]")) << "one shared table";
    const std::size_t paths = config.key_positions.size();
    copy.key_positions.add("zz.added", warmup::host::SourcePosition{99, 1});
    copy.key_positions.sort();
    EXPECT_EQ(copy.locate("zz.added"), "test.yaml:99:1");
    EXPECT_EQ(config.locate("zz.added"), "test.yaml");
    EXPECT_EQ(config.key_positions.size(), paths);
    EXPECT_EQ(copy.locate("budgets.memory_mb"), "test.yaml:9:3");
    EXPECT_NE(copy.key_positions.find("catalog[1]"), config.key_positions.find("catalog[1]")) << "its own table now";
}

// ----- errors, one kind per test

TEST(ConfigLoaderErrors, UnknownTopLevelKeyIsReportedAtTheKeyWithASuggestion) {
    const ConfigError error = load_error("log_level: info\nbudgetz:\n  memory_mb: 1\n" + kRequiredSections);
    expect_error(error, 2, 1, "budgetz", "test.yaml:2:1: budgetz: unknown key 'budgetz'; did you mean 'budgets'?");
}

TEST(ConfigLoaderErrors, AComponentBesideComponentsIsPointedUnderIt) {
    // Under its current key, also when written under a deprecated one.
    const ConfigError deprecated =
        load_error("pattern_analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n" + kRequiredSections);
    EXPECT_NE(std::string(deprecated.what()).find("(components: {analyzer: ...})"), std::string::npos)
        << deprecated.what();
    const ConfigError error = load_error("predictor: {plugin: org.warmup.predictor.keep-alive}\n" + kRequiredSections);
    expect_error(error, 1, 1, "predictor",
                 "test.yaml:1:1: predictor: unknown key 'predictor'; a component goes under 'components:' "
                 "(components: {predictor: ...})");
}

TEST(ConfigLoaderErrors, UnknownNestedKeyIsReportedAtTheKey) {
    const ConfigError error = load_error("http:\n  bind: 127.0.0.1\n  prot: 8080\n" + kRequiredSections);
    expect_error(error, 3, 3, "http.prot", "test.yaml:3:3: http.prot: unknown key 'prot'; did you mean 'port'?");
}

TEST(ConfigLoaderErrors, UnknownKeyFarFromAnyKnownOneGetsNoSuggestion) {
    const ConfigError error = load_error(kRequiredSections + "colour: blue\n");
    expect_error(error, 12, 1, "colour", "test.yaml:12:1: colour: unknown key 'colour'");
}

TEST(ConfigLoaderErrors, WrongTypeNamesTheKeyAndTheValue) {
    const ConfigError error = load_error("budgets:\n  max_concurrent_warmups: two\n" + kRequiredSections);
    expect_error(error, 2, 3, "budgets.max_concurrent_warmups",
                 "test.yaml:2:3: budgets.max_concurrent_warmups: expected an integer in [1, 1024], got 'two'");
}

TEST(ConfigLoaderErrors, ScalarWhereAMappingIsExpected) {
    const ConfigError error = load_error("log_level: info\nhttp: 8080\n" + kRequiredSections);
    expect_error(error, 2, 1, "http", "test.yaml:2:1: http: expected a mapping, got '8080'");
}

TEST(ConfigLoaderErrors, OutOfRangeValue) {
    const ConfigError error = load_error("http:\n  port: 70000\n" + kRequiredSections);
    expect_error(error, 2, 3, "http.port", "test.yaml:2:3: http.port: expected an integer in [0, 65535], got '70000'");
}

TEST(ConfigLoaderErrors, ReplayFrontierMustBeABoolean) {
    const ConfigError error = load_error("replay:\n  frontier: 5m\n" + kRequiredSections);
    expect_error(error, 2, 3, "replay.frontier", "test.yaml:2:3: replay.frontier: expected true or false, got '5m'");
}

TEST(ConfigLoaderErrors, LogLevelOutsideTheList) {
    const ConfigError error = load_error("log_level: verbose\n" + kRequiredSections);
    expect_error(error, 1, 1, "log_level",
                 "test.yaml:1:1: log_level: expected one of trace | debug | info | warn | error, got 'verbose'");
}

TEST(ConfigLoaderErrors, LogFormatIsTextOrJson) {
    EXPECT_EQ(load(kRequiredSections).log_format, "text");
    EXPECT_EQ(load("log_format: json\n" + kRequiredSections).log_format, "json");
    const ConfigError error = load_error("log_format: yaml\n" + kRequiredSections);
    expect_error(error, 1, 1, "log_format", "test.yaml:1:1: log_format: expected one of text | json, got 'yaml'");
}

TEST(ConfigLoader, OmittedSlotTakesTheShippedDefault) {
    const Config config = load("log_level: info\n" + kComponentsWithoutBackend + kCatalog);
    const PluginChoice& backend = config.components[ComponentSlot::Backend];
    EXPECT_EQ(backend, shipped_default_components()[ComponentSlot::Backend]);
    EXPECT_EQ(backend.id, "org.warmup.backend.sim");
    EXPECT_EQ(backend.params_yaml, "time_scale: 1.0\nfailure_rate: 0.0");  // configs/default.yaml's params
    EXPECT_EQ(backend.key_path, "components.backend");
    EXPECT_EQ(config.locate(backend.key_path), "test.yaml");                        // not written in the file
    EXPECT_EQ(config.components[ComponentSlot::Queue].id, "org.warmup.queue.edf");  // written: kept
}

TEST(ConfigLoaderErrors, MissingTopLevelSectionIsReportedAtTheDocument) {
    // The first line is a comment: the document (its first key) starts at line 2.
    const ConfigError error =
        load_error("# no catalog\n" + kComponentsWithoutBackend + "  backend: {plugin: org.warmup.backend.sim}\n");
    expect_error(error, 2, 1, "", "test.yaml:2:1: missing required key 'catalog'");
}

TEST(ConfigLoaderErrors, EmptyDocumentMissesTheCatalog) {
    const ConfigError error = load_error("");
    expect_error(error, 1, 1, "", "test.yaml:1:1: missing required key 'catalog'");
}

/// `ascii` in UTF-16 (`width` 2) or UTF-32 (`width` 4), little- or big-endian, without a byte-order mark.
std::string widened(std::string_view ascii, std::size_t width, bool little_endian) {
    std::string out;
    for (const char c : ascii) {
        std::string unit(width, '\0');
        unit[little_endian ? 0 : width - 1] = c;
        out += unit;
    }
    return out;
}

TEST(ConfigLoaderErrors, AFileInUtf16OrUtf32IsRefusedAsNotUtf8TextAtItsByteOrderMark) {
    // Each would otherwise be read (yaml-cpp decodes UTF-16 and UTF-32 itself), or, the last, refused as a garbled
    // scalar that is not a mapping.
    const struct {
        std::string text;
        std::string encoding;
    } kCases[] = {
        {"\xff\xfe" + widened(kRequiredSections, 2, true), "UTF-16 (little-endian)"},
        {"\xfe\xff" + widened(kRequiredSections, 2, false), "UTF-16 (big-endian)"},
        {std::string("\xff\xfe\0\0", 4) + widened(kRequiredSections, 4, true), "UTF-32 (little-endian)"},
        {std::string("\0\0\xfe\xff", 4) + widened(kRequiredSections, 4, false), "UTF-32 (big-endian)"},
        {"\xff\xfe" + kRequiredSections, "UTF-16 (little-endian)"},  // a mark in front of UTF-8 text
    };
    for (const auto& one : kCases) {
        SCOPED_TRACE(one.encoding);
        expect_error(load_error(one.text), 1, 1, "",
                     "test.yaml:1:1: not UTF-8 text: it starts with a " + one.encoding +
                         " byte-order mark; save the file as UTF-8");
    }
}

TEST(ConfigLoaderErrors, ANulByteIsRefusedAsNotUtf8TextWhereItIs) {
    // UTF-16 without a byte-order mark: a NUL after the first character.
    expect_error(load_error(widened(kRequiredSections, 2, true)), 1, 2, "",
                 "test.yaml:1:2: not UTF-8 text: it contains NUL bytes, the first here (byte offset 1); save the file "
                 "as UTF-8 (text saved as UTF-16 has a NUL beside every ASCII character)");
    // One NUL in good text, line 2 column 5 (yaml-cpp said "unknown escape character: " and showed nothing).
    std::string text = "log_level: info\nhttp: {port: 0}\n" + kRequiredSections;
    text.insert(text.find("{port"), std::string(1, '\0'));
    const ConfigError error = load_error(text);
    EXPECT_EQ(error.line(), 2u);
    EXPECT_EQ(error.column(), 7u);
    EXPECT_EQ(error.message(),
              "not UTF-8 text: it contains NUL bytes, the first here (byte offset 22); save the file as UTF-8 (text "
              "saved as UTF-16 has a NUL beside every ASCII character)");
}

TEST(ConfigLoaderErrors, AByteThatIsNotUtf8IsRefusedWhereItIsCountedInCharacters) {
    // A catalog name typed with an accented letter and saved as Latin-1: yaml-cpp took it, and no event (UTF-8) could
    // ever name that model. The entry is line 12, and `  - {model: "caf` is 16 characters before the 0xe9.
    const std::string latin1_entry = "  - {model: \"caf\xe9\", memory_mb: 100, load_ms: 100}\n";
    ConfigError error = load_error(kRequiredSections + latin1_entry);
    EXPECT_EQ(error.line(), 12u);
    EXPECT_EQ(error.column(), 17u);
    EXPECT_EQ(error.message(), "not UTF-8 text: the byte 0xe9 here (byte offset " +
                                   std::to_string(kRequiredSections.size() + 16) +
                                   ") does not begin a UTF-8 character; save the file as UTF-8 (text saved as Latin-1 "
                                   "or Windows-1252 has such bytes for accented letters)");
    // The column counts characters: the two bytes of the valid "ï" before it are one column.
    error = load_error("# na\xc3\xafve caf\xe9\n" + kRequiredSections);
    EXPECT_EQ(error.line(), 1u);
    EXPECT_EQ(error.column(), 12u);
    // A sequence cut short at the end of the file, an overlong form and a UTF-16 surrogate are not UTF-8 either.
    for (const std::string bad : {"\xe2\x82", "\xc0\xaf", "\xed\xa0\x80"}) {
        error = load_error(kRequiredSections + "# " + bad);
        EXPECT_NE(error.message().find("not UTF-8 text: the byte 0x"), std::string::npos) << error.message();
    }
    // Valid UTF-8 of every length passes: "é", "€" and "𝄞" in a comment.
    EXPECT_NO_THROW(load(kRequiredSections + "# caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e\n"));
}

TEST(ConfigLoader, AUtf8ByteOrderMarkIsValidAndPositionsCountFromTheTextAfterIt) {
    const Config config = load("\xef\xbb\xbf" + kRequiredSections);
    ASSERT_EQ(config.catalog.size(), 1u);
    EXPECT_EQ(config.catalog[0].pattern, "llama3:8b");
    EXPECT_EQ(config.components[ComponentSlot::Backend].id, "org.warmup.backend.sim");
    // A mistake on the first line is placed as it is without the mark.
    expect_error(load_error("\xef\xbb\xbf"
                            "log_levle: info\n" +
                            kRequiredSections),
                 1, 1, "log_levle", "test.yaml:1:1: log_levle: unknown key 'log_levle'; did you mean 'log_level'?");
}

TEST(ConfigLoaderErrors, AFileThatIsNotUtf8TextIsNamedByItsPath) {
    const test::TempDir temp("warmup-config-utf16");
    const fs::path file = temp.write("windows.yaml", "\xff\xfe" + widened(kRequiredSections, 2, true));
    try {
        load_config_file(file, kExeDir);
        FAIL() << "expected a ConfigError";
    } catch (const ConfigError& error) {
        EXPECT_EQ(std::string(error.what()), file.string() +
                                                 ":1:1: not UTF-8 text: it starts with a UTF-16 (little-endian) "
                                                 "byte-order mark; save the file as UTF-8");
    }
}

TEST(ConfigLoaderErrors, PluginAndPathBothGiven) {
    std::string text = kRequiredSections;
    const std::string line =
        "  predictor: {plugin: org.warmup.predictor.hybrid-histogram, params: {horizon_ms: 60000}}";
    // "  predictor: {plugin: org.x.y, path: lib/p.so}": `path` starts at column 32.
    text.replace(text.find(line), line.size(), "  predictor: {plugin: org.x.y, path: lib/p.so}");
    const ConfigError error = load_error(text);
    expect_error(error, 3, 32, "components.predictor.path",
                 "test.yaml:3:32: components.predictor.path: 'plugin' and 'path' are mutually exclusive: give "
                 "exactly one");
}

TEST(ConfigLoader, SlotWithNeitherPluginNorPathKeepsTheShippedPluginAndChangesItsParams) {
    const Config config = load("components:\n  queue: {params: {capacity: 64, algorithm: EDF}}\n" + kCatalog);
    const PluginChoice& queue = config.components[ComponentSlot::Queue];
    EXPECT_EQ(queue.id, "org.warmup.queue.priority");
    // configs/default.yaml has {algorithm: WeightedFair, capacity: 1024, weights: [8, 4, 2, 1]}: the keys written
    // replace theirs, the others are kept, in the default's order.
    EXPECT_EQ(queue.params_yaml, "algorithm: EDF\ncapacity: 64\nweights:\n  - 8\n  - 4\n  - 2\n  - 1");
    EXPECT_EQ(queue.key_path, "components.queue");
}

TEST(ConfigLoaderErrors, PluginIdMustBeReverseDns) {
    std::string text = kRequiredSections;
    text.replace(text.find("org.warmup.queue.edf"), std::string("org.warmup.queue.edf").size(), "edf");
    const ConfigError error = load_error(text);
    expect_error(error, 7, 11, "components.queue.plugin",
                 "test.yaml:7:11: components.queue.plugin: expected a reverse-DNS plugin id such as "
                 "'org.acme.predictor.seasonal', got 'edf'");
}

TEST(ConfigLoaderErrors, Sha256MustBe64HexDigits) {
    std::string text = kRequiredSections;
    text.replace(text.find("{plugin: org.warmup.backend.sim}"), std::string("{plugin: org.warmup.backend.sim}").size(),
                 "{plugin: org.warmup.backend.sim, sha256: abc}");
    // "  backend: {plugin: org.warmup.backend.sim, sha256: abc}": sha256 at column 45.
    const ConfigError error = load_error(text);
    expect_error(error, 9, 45, "components.backend.sha256",
                 "test.yaml:9:45: components.backend.sha256: expected 64 hexadecimal digits (a SHA-256), got 'abc'");
}

TEST(ConfigLoaderErrors, AComponentsStateIsHandOverOrCold) {
    std::string text = kRequiredSections;
    text.replace(text.find("{plugin: org.warmup.backend.sim}"), std::string("{plugin: org.warmup.backend.sim}").size(),
                 "{plugin: org.warmup.backend.sim, state: warm}");
    const ConfigError error = load_error(text);
    expect_error(error, 9, 45, "components.backend.state",
                 "test.yaml:9:45: components.backend.state: expected 'hand-over' (the default: a reload hands the "
                 "running instance's state to its replacement) or 'cold', got 'warm'");
}

TEST(ConfigLoaderErrors, MalformedYamlReportsTheParsersPosition) {
    const ConfigError error = load_error("a: [1, 2\nb: 3\n");
    EXPECT_EQ(error.key_path(), "");
    EXPECT_EQ(error.line(), 2u);
    EXPECT_EQ(error.column(), 2u);
    EXPECT_EQ(std::string(error.what()), "test.yaml:2:2: " + std::string(YAML::ErrorMsg::END_OF_SEQ_FLOW));
}

TEST(ConfigLoaderErrors, BadIndentationIsASyntaxError) {
    const ConfigError error = load_error("log_level: info\n http: {}\n");
    EXPECT_EQ(error.key_path(), "");
    EXPECT_EQ(error.line(), 2u);
    EXPECT_EQ(std::string(error.what()).rfind("test.yaml:2:", 0), 0u) << error.what();
}

TEST(ConfigLoaderErrors, DuplicateKeyIsRefused) {
    const ConfigError error = load_error("http:\n  port: 1\n  port: 2\n" + kRequiredSections);
    expect_error(error, 3, 3, "http.port", "test.yaml:3:3: http.port: duplicate key 'port' (first given at line 2)");
}

TEST(ConfigLoaderErrors, DuplicateArmName) {
    const ConfigError error = load_error("arms:\n  - name: a\n  - name: b\n  - name: a\n" + kRequiredSections);
    expect_error(error, 4, 5, "arms[2].name", "test.yaml:4:5: arms[2].name: duplicate arm name 'a' (also arms[0])");
}

TEST(ConfigLoaderErrors, ArmNameWithASpace) {
    const ConfigError error = load_error("arms:\n  - name: my arm\n" + kRequiredSections);
    expect_error(error, 2, 5, "arms[0].name",
                 "test.yaml:2:5: arms[0].name: expected a name of [A-Za-z0-9._-]+, got 'my arm'");
}

TEST(ConfigLoaderErrors, YardstickArmWithComponents) {
    const ConfigError error =
        load_error("arms:\n  - name: o\n    yardstick: oracle-lean\n    components: {predictor: {plugin: org.a.b}}\n" +
                   kRequiredSections);
    expect_error(error, 4, 5, "arms[0].components",
                 "test.yaml:4:5: arms[0].components: a yardstick arm runs no plugins: remove 'components' or "
                 "'yardstick'");
}

TEST(ConfigLoaderErrors, UnknownSlotInArmOverrides) {
    // "    components: {predicter: {plugin: org.a.b}}": `predicter` at column 18.
    const ConfigError error =
        load_error("arms:\n  - name: a\n    components: {predicter: {plugin: org.a.b}}\n" + kRequiredSections);
    expect_error(error, 3, 18, "arms[0].components.predicter",
                 "test.yaml:3:18: arms[0].components.predicter: unknown key 'predicter'; did you mean 'predictor'?");
}

TEST(ConfigLoaderErrors, BadRelativeBudget) {
    const std::string expected_message = R"(: budgets.memory_mb: expected a positive number or "<k>xA95", got )";
    for (const std::string value : {"1.5xA96", "0xA95", "xA95", "lots", "-5"}) {
        const ConfigError error = load_error("budgets:\n  memory_mb: " + value + "\n" + kRequiredSections);
        expect_error(error, 2, 3, "budgets.memory_mb", "test.yaml:2:3" + expected_message + "'" + value + "'");
    }
}

TEST(ConfigLoaderErrors, EmbeddedDefaultIsNamedInMessages) {
    try {
        load_config_text("http: {port: -1}\n" + kRequiredSections, "<embedded default.yaml>", "", kExeDir);
        FAIL() << "expected a ConfigError";
    } catch (const ConfigError& error) {
        EXPECT_EQ(error.file(), "<embedded default.yaml>");
        EXPECT_EQ(std::string(error.what()),
                  "<embedded default.yaml>:1:8: http.port: expected an integer in [0, 65535], got '-1'");
    }
}

TEST(ConfigLoaderErrors, CatalogMustNotBeEmpty) {
    const ConfigError error =
        load_error(kComponentsWithoutBackend + "  backend: {plugin: org.warmup.backend.sim}\ncatalog: []\n");
    expect_error(error, 10, 1, "catalog", "test.yaml:10:1: catalog: expected at least one model, got an empty list");
}

TEST(ConfigLoaderErrors, CatalogEntryValues) {
    const std::string head = kComponentsWithoutBackend + "  backend: {plugin: org.warmup.backend.sim}\ncatalog:\n";
    // Lines 11 and 12 are the entries.
    expect_error(
        load_error(head + "  - {model: a, memory_mb: 1, load_ms: 0}\n  - {model: b, memory_mb: 1, load_ms: -5}\n"), 12,
        30, "catalog[1].load_ms", "test.yaml:12:30: catalog[1].load_ms: expected a number >= 0, got '-5'");
    expect_error(load_error(head + "  - {model: a, memory_mb: 1, load_ms: 0}\n  - {model: b, load_ms: 1}\n"), 12, 5,
                 "catalog[1]", "test.yaml:12:5: catalog[1]: missing required key 'memory_mb'");
    expect_error(
        load_error(head + "  - {model: a, memory_mb: 1, load_ms: 0}\n  - {model: a, memory_mb: 2, load_ms: 1}\n"), 12,
        6, "catalog[1].model", "test.yaml:12:6: catalog[1].model: model 'a' is already listed at catalog[0]");
    expect_error(load_error(head + "  - {model: a, memory_mb: 1, load_ms: 0, priority: 16}\n"), 11, 42,
                 "catalog[0].priority",
                 "test.yaml:11:42: catalog[0].priority: expected an integer in [0, 15], got '16'");
}

TEST(ConfigLoaderErrors, WarmupExeDirWithoutAnExecutableFolder) {
    const ConfigError error = load_error("plugin_dirs: [\"${WARMUP_EXE_DIR}/p\"]\n" + kRequiredSections, "");
    expect_error(error, 1, 15, "plugin_dirs[0]",
                 "test.yaml:1:15: plugin_dirs[0]: ${WARMUP_EXE_DIR} is used but the executable's folder is not known "
                 "to this loader");
}

TEST(ConfigLoaderErrors, UnknownVariableInAPath) {
    const ConfigError error = load_error("plugin_dirs: [\"${HOME}/p\"]\n" + kRequiredSections);
    expect_error(error, 1, 15, "plugin_dirs[0]",
                 "test.yaml:1:15: plugin_dirs[0]: unknown variable '${HOME}'; only ${WARMUP_EXE_DIR} is expanded");
}

TEST(ConfigLoader, ACatalogOfFortyThousandModelsIsRead) {
    // Six nodes per entry (the item and its five values): 240 k nodes, more than the alias guard's floor of 200 k.
    // Without aliases a document never has more nodes than bytes, so its size alone must not refuse it.
    constexpr int kModels = 40'000;
    std::string text = "catalog:\n";
    for (int i = 0; i < kModels; ++i)
        text += "- {model: m" + std::to_string(i) + ", memory_mb: 1, load_ms: 1, unload_ms: 0, priority: 1}\n";
    const Config config = load(text);
    ASSERT_EQ(config.catalog.size(), static_cast<std::size_t>(kModels));
    EXPECT_EQ(config.catalog.back().pattern, "m39999");
}

TEST(ConfigLoaderErrors, AnAliasExpandingFarBeyondItsTextIsRefused) {
    // Six levels of ten aliases each: a million nodes from a few hundred bytes.
    std::string text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int level = 1; level <= 6; ++level) {
        const std::string below = "*l" + std::to_string(level - 1);
        text += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
        for (int i = 0; i < 10; ++i) text += (i == 0 ? "" : ", ") + below;
        text += "]\n";
    }
    const ConfigError error = load_error(text);
    EXPECT_NE(std::string(error.what()).find("more than 200000 nodes once aliases are expanded"), std::string::npos)
        << error.what();
}

TEST(ConfigLoaderErrors, UnreadableFile) {
    const fs::path missing = "/nonexistent/warmup-config-test.yaml";
    try {
        load_config_file(missing, kExeDir);
        FAIL() << "expected a ConfigError";
    } catch (const ConfigError& error) {
        EXPECT_EQ(error.file(), missing.string());
        EXPECT_EQ(error.line(), 1u);
        EXPECT_EQ(std::string(error.what()).rfind("/nonexistent/warmup-config-test.yaml:1:1: cannot open the file", 0),
                  0u)
            << error.what();
    }
}

TEST(ConfigLoaderErrors, AFolderIsSaidToBeOneNotAConfigurationWithoutItsKeys) {
    const fs::path folder = fs::temp_directory_path();
    try {
        load_config_file(folder, kExeDir);
        FAIL() << "expected a ConfigError";
    } catch (const ConfigError& error) {
        // Before: "missing required key 'catalog'", as for an empty file.
        EXPECT_NE(std::string(error.what()).find(":1:1: is a folder, not a configuration file"), std::string::npos)
            << error.what();
    }
}

// ----- apiVersion

TEST(ConfigApiVersion, WrittenV1IsReadWithoutANotice) {
    const Config config = load("apiVersion: warmup/v1\n" + kRequiredSections);
    EXPECT_EQ(config.api_version, "warmup/v1");
    EXPECT_TRUE(config.notices.empty());
}

TEST(ConfigApiVersion, MissingIsReadAsV1WithOneNotice) {
    const Config config = load(kRequiredSections);
    EXPECT_EQ(config.api_version, "warmup/v1");
    ASSERT_EQ(config.notices.size(), 1u);
    EXPECT_EQ(config.notices[0],
              "test.yaml: no apiVersion, read as warmup/v1; add 'apiVersion: warmup/v1' at the top "
              "to say so");
}

TEST(ConfigApiVersionErrors, AnotherVersionIsRefusedAtTheKey) {
    expect_error(load_error("log_level: info\napiVersion: warmup/v2\n" + kRequiredSections), 2, 1, "apiVersion",
                 "test.yaml:2:1: apiVersion: apiVersion 'warmup/v2' is not supported; this warmupd reads warmup/v1");
}

TEST(ConfigApiVersionErrors, AnotherVersionIsRefusedBeforeKeysItMayDefine) {
    // A later version's keys are not judged by this version's schema: the version is the error.
    const ConfigError error = load_error("apiVersion: warmup/v2\nprofiles: []\n" + kRequiredSections);
    EXPECT_EQ(error.key_path(), "apiVersion");
    EXPECT_EQ(error.message(), "apiVersion 'warmup/v2' is not supported; this warmupd reads warmup/v1");
}

TEST(ConfigApiVersionErrors, NonStringOrEmptyVersionIsRefused) {
    expect_error(load_error("apiVersion: [warmup/v1]\n" + kRequiredSections), 1, 1, "apiVersion",
                 "test.yaml:1:1: apiVersion: expected warmup/v1, got a list");
    expect_error(load_error("apiVersion: \"\"\n" + kRequiredSections), 1, 1, "apiVersion",
                 "test.yaml:1:1: apiVersion: expected warmup/v1, got ''");
}

// ----- shipped defaults and arms that list only what differs

TEST(ConfigShippedDefaults, AreTheComponentsOfConfigsDefaultYaml) {
    const Config shipped = load_config_text(embedded_default_config, "<embedded default.yaml>", kBaseDir, kExeDir);
    EXPECT_TRUE(shipped.notices.empty()) << "configs/default.yaml should say its apiVersion";
    EXPECT_EQ(shipped.components, shipped_default_components());
    EXPECT_EQ(shipped_default_components()[ComponentSlot::Predictor].id, "org.warmup.predictor.cost-curve");
    EXPECT_EQ(shipped_default_components()[ComponentSlot::Analyzer].params_yaml, "idle_bin_ms: 60000\nidle_bins: 240");
}

TEST(ConfigShippedDefaults, BudgetsAndACatalogAloneTakeEveryShippedSlot) {
    const Config config = load("apiVersion: warmup/v1\nbudgets: {memory_mb: 4096}\n" + kCatalog);
    EXPECT_DOUBLE_EQ(config.memory_budget.absolute_mb, 4096);
    ASSERT_EQ(config.catalog.size(), 1u);
    EXPECT_EQ(config.components, shipped_default_components());
    for (ComponentSlot slot : kAllSlots)
        EXPECT_EQ(config.components[slot].key_path, "components." + std::string(slot_key(slot))) << slot_key(slot);
}

TEST(ConfigArms, AnArmListingOneSlotInheritsTheRestFromTheTopLevel) {
    const Config config = load(kCatalog +
                               "components: {resource: {plugin: org.warmup.resource.greedy-dual}}\n"
                               "arms:\n  - name: keep-alive\n"
                               "    components: {predictor: {plugin: org.warmup.predictor.keep-alive}}\n");
    ASSERT_EQ(config.arms.size(), 1u);
    const Components& arm = config.arms[0].components;
    EXPECT_EQ(arm[ComponentSlot::Predictor].id, "org.warmup.predictor.keep-alive");
    EXPECT_EQ(arm[ComponentSlot::Predictor].params_yaml, "");
    EXPECT_EQ(arm[ComponentSlot::Resource].id, "org.warmup.resource.greedy-dual");  // the top level's
    for (ComponentSlot slot : kAllSlots) {
        if (slot == ComponentSlot::Predictor) continue;
        EXPECT_EQ(arm[slot], config.components[slot]) << slot_key(slot);
    }
    EXPECT_EQ(arm[ComponentSlot::Backend], shipped_default_components()[ComponentSlot::Backend]);
}

TEST(ConfigArms, AnArmChangingOnlyParamsKeepsThePluginAndTheOtherParams) {
    const Config config =
        load(kCatalog +
             "components: {queue: {plugin: org.warmup.queue.priority, params: {algorithm: Strict, capacity: 8}}}\n"
             "arms:\n  - {name: roomy, components: {queue: {params: {capacity: 4096}}}}\n");
    const PluginChoice& queue = config.arms[0].components[ComponentSlot::Queue];
    EXPECT_EQ(queue.id, "org.warmup.queue.priority");
    EXPECT_EQ(queue.params_yaml, "algorithm: Strict\ncapacity: 4096");
    EXPECT_EQ(queue.key_path, "arms[0].components.queue");
    // The old form, naming the plugin, still replaces the whole slot (its params are not merged).
    const Config replaced =
        load(kCatalog +
             "components: {queue: {plugin: org.warmup.queue.priority, params: {algorithm: Strict, capacity: 8}}}\n"
             "arms:\n  - {name: roomy, components: {queue: {plugin: org.warmup.queue.priority, "
             "params: {capacity: 4096}}}}\n");
    EXPECT_EQ(replaced.arms[0].components[ComponentSlot::Queue].params_yaml, "capacity: 4096");
}

TEST(ConfigArms, AnArmPinningOnlyTheLibraryKeepsThePluginAndParams) {
    const std::string pin = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const Config config = load(kCatalog + "arms:\n  - {name: pinned, components: {backend: {sha256: " + pin + "}}}\n");
    const PluginChoice& backend = config.arms[0].components[ComponentSlot::Backend];
    EXPECT_EQ(backend.id, "org.warmup.backend.sim");
    EXPECT_EQ(backend.sha256, pin);
    EXPECT_EQ(backend.params_yaml, shipped_default_components()[ComponentSlot::Backend].params_yaml);
}

TEST(ConfigArms, AnArmWritingOnlyTheStateKeepsThePluginAndIsNoChange) {
    const Config config = load(kCatalog + "arms:\n  - {name: cold, components: {predictor: {state: cold}}}\n");
    const PluginChoice& predictor = config.arms[0].components[ComponentSlot::Predictor];
    EXPECT_EQ(predictor.id, shipped_default_components()[ComponentSlot::Predictor].id);
    EXPECT_TRUE(predictor.start_cold);
    EXPECT_FALSE(config.components[ComponentSlot::Predictor].start_cold);
    // What a replacement does, not what to run: the instance (and an arm inheriting it) is not rebuilt for it.
    EXPECT_TRUE(predictor == config.components[ComponentSlot::Predictor]);
}

TEST(ConfigShippedDefaults, EveryShippedHostConfigurationSaysItsApiVersionAndLoads) {
    // The host configurations under configs/ (those with a catalog; configs/scenarios are trace specifications).
    std::size_t loaded = 0;
    for (const auto& entry : fs::recursive_directory_iterator(fs::path(WARMUP_TEST_SOURCE_DIR) / "configs")) {
        if (entry.path().extension() != ".yaml") continue;
        std::ifstream in(entry.path());
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (text.find("\ncatalog:") == std::string::npos) continue;
        const Config config = load_config_file(entry.path(), kExeDir);
        EXPECT_TRUE(config.notices.empty()) << entry.path() << ": " << config.notices.front();
        ++loaded;
    }
    EXPECT_GE(loaded, 40u);
}

// ----- slots

TEST(ConfigSlots, KeysKindsAndLookupAgree) {
    EXPECT_EQ(slot_key(ComponentSlot::Analyzer), "analyzer");
    EXPECT_EQ(slot_key(ComponentSlot::Performance), "performance");
    EXPECT_EQ(slot_key(ComponentSlot::Backend), "backend");
    EXPECT_EQ(slot_kind(ComponentSlot::Metrics), WARMUP_KIND_METRICS);
    EXPECT_EQ(slot_kind(ComponentSlot::Queue), WARMUP_KIND_QUEUE);
    EXPECT_EQ(slot_kind(ComponentSlot::Backend), WARMUP_KIND_BACKEND);
    for (ComponentSlot slot : kAllSlots) EXPECT_EQ(slot_from_key(slot_key(slot)), slot) << slot_key(slot);
    EXPECT_EQ(slot_from_key("predicter"), std::nullopt);
}

TEST(ConfigSources, NamedPluginChoicesInFileOrder) {
    const Config config = load(
        "sources:\n"
        "  - {name: gateway-log, plugin: org.warmup.source.tail, params: {path: /var/log/a.json}}\n"
        "  - name: triton\n"
        "    path: plugins/prometheus_source.so\n"
        "    params: {url: \"http://127.0.0.1:8002/metrics\", metric: nv_inference_request_success}\n" +
        kRequiredSections);
    ASSERT_EQ(config.sources.size(), 2u);
    EXPECT_EQ(config.sources[0].name, "gateway-log");
    EXPECT_EQ(config.sources[0].choice.id, "org.warmup.source.tail");
    EXPECT_EQ(config.sources[0].choice.params_yaml, "path: /var/log/a.json");
    EXPECT_EQ(config.sources[0].choice.key_path, "sources[0]");
    EXPECT_EQ(config.sources[1].name, "triton");
    EXPECT_EQ(config.sources[1].choice.path, kBaseDir / "plugins/prometheus_source.so");
    EXPECT_EQ(config.locate("sources[1].params.metric"), "test.yaml:5:52");
    EXPECT_TRUE(load(kRequiredSections).sources.empty());
}

TEST(ConfigSources, MistakesAreLocated) {
    expect_error(load_error("sources:\n  - {plugin: org.warmup.source.tail}\n" + kRequiredSections), 2, 5, "sources[0]",
                 "test.yaml:2:5: sources[0]: missing required key 'name'");
    expect_error(load_error("sources:\n  - {name: a, plugin: x.y}\n  - {name: a, plugin: x.z}\n" + kRequiredSections),
                 3, 6, "sources[1].name",
                 "test.yaml:3:6: sources[1].name: duplicate source name 'a' (also sources[0])");
    expect_error(load_error("sources:\n  - {name: .., plugin: x.y}\n" + kRequiredSections), 2, 6, "sources[0].name",
                 "test.yaml:2:6: sources[0].name: expected a name of [A-Za-z0-9._-]+ (not '.' or '..'), got '..'");
    expect_error(load_error("sources:\n  - {name: a, plugin: x.y, parms: {}}\n" + kRequiredSections), 2, 28,
                 "sources[0].parms", "test.yaml:2:28: sources[0].parms: unknown key 'parms'; did you mean 'params'?");
    expect_error(load_error("sources:\n  - {name: a}\n" + kRequiredSections), 2, 5, "sources[0]",
                 "test.yaml:2:5: sources[0]: missing required key 'plugin' (or 'path')");
    expect_error(load_error("sources: {name: a}\n" + kRequiredSections), 1, 1, "sources",
                 "test.yaml:1:1: sources: expected a list of sources, got a mapping");
}

}  // namespace
}  // namespace warmup::host
