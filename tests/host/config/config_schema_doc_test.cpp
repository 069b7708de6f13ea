// docs/configuration.md against the loader: every key the loader accepts (accepted_config_keys(), the same table that
// refuses unknown keys) has a row in the document's tables, and every row names a key the loader accepts. Also: the
// read rules of every section agree with that table (a load that walks every section would throw std::logic_error
// otherwise), and the check itself reports a key left out of the document.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace warmup::host {
namespace {

std::string read_text(const std::string& file) {
    std::ifstream in(file);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string trim(const std::string& text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos) return "";
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

/// The first cells of the rows of every table whose header row starts with "| key |", without their backticks, in
/// document order (a key given twice is listed twice).
std::vector<std::string> documented_keys(const std::string& markdown) {
    std::vector<std::string> keys;
    std::istringstream lines(markdown);
    std::string line;
    bool in_key_table = false;
    while (std::getline(lines, line)) {
        if (!line.starts_with("|")) {
            in_key_table = false;
            continue;
        }
        const std::string first_cell = trim(line.substr(1, line.find('|', 1) - 1));
        if (first_cell == "key") {
            in_key_table = true;
            continue;
        }
        if (!in_key_table || first_cell.starts_with("---")) continue;
        if (first_cell.size() >= 2 && first_cell.front() == '`' && first_cell.back() == '`')
            keys.push_back(first_cell.substr(1, first_cell.size() - 2));
        else
            keys.push_back(first_cell);  // reported below as not accepted: a key is written `in.backticks`
    }
    return keys;
}

/// One line per disagreement between the document's keys and the loader's, empty when they agree.
std::vector<std::string> coverage_problems(const std::vector<std::string>& documented,
                                           const std::vector<std::string>& accepted) {
    std::vector<std::string> problems;
    const std::set<std::string> accepted_set(accepted.begin(), accepted.end());
    std::set<std::string> documented_set;
    for (const std::string& key : documented) {
        if (!documented_set.insert(key).second) problems.push_back("'" + key + "' is documented twice");
        if (!accepted_set.contains(key))
            problems.push_back("'" + key + "' is documented but the loader does not accept it");
    }
    for (const std::string& key : accepted)
        if (!documented_set.contains(key))
            problems.push_back("'" + key + "' is accepted by the loader but not documented in docs/configuration.md");
    return problems;
}

std::string join(const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines) text += line + "\n";
    return text;
}

const std::string kDocument = std::string(WARMUP_TEST_SOURCE_DIR) + "/docs/configuration.md";

TEST(ConfigSchemaDoc, EveryAcceptedKeyIsDocumentedAndEveryDocumentedKeyIsAccepted) {
    const std::string markdown = read_text(kDocument);
    ASSERT_FALSE(markdown.empty()) << "cannot read " << kDocument;
    const std::vector<std::string> documented = documented_keys(markdown);
    const std::vector<std::string> accepted = accepted_config_keys();
    ASSERT_GT(accepted.size(), 60u);  // the loader's table is not empty or cut short
    const std::vector<std::string> problems = coverage_problems(documented, accepted);
    EXPECT_TRUE(problems.empty()) << join(problems);
}

TEST(ConfigSchemaDoc, AKeyLeftOutOfTheDocumentIsReported) {
    std::string markdown = read_text(kDocument);
    const std::string row_start = "| `http.threads` |";
    const auto row = markdown.find(row_start);
    ASSERT_NE(row, std::string::npos) << "the document has no row for http.threads";
    markdown.erase(row, markdown.find('\n', row) - row + 1);
    EXPECT_EQ(coverage_problems(documented_keys(markdown), accepted_config_keys()),
              std::vector<std::string>{
                  "'http.threads' is accepted by the loader but not documented in docs/configuration.md"});
}

TEST(ConfigSchemaDoc, ARowForAKeyTheLoaderRefusesIsReported) {
    std::string markdown = read_text(kDocument);
    const std::string row_start = "| `http.threads` |";
    const auto row = markdown.find(row_start);
    ASSERT_NE(row, std::string::npos);
    markdown.insert(row, "| `http.thread_count` | integer | 64 | a key the loader never had |\n");
    EXPECT_EQ(coverage_problems(documented_keys(markdown), accepted_config_keys()),
              std::vector<std::string>{"'http.thread_count' is documented but the loader does not accept it"});
}

TEST(ConfigSchemaDoc, AcceptedKeysAreTheOnesTheLoaderReads) {
    // Every section of the schema, walked once: read_mapping() throws std::logic_error when a section's read rules
    // and the table differ, so this load proves the table is what the loader reads.
    const std::string every_section = R"(apiVersion: warmup/v1
log_level: info
log_format: text
http: {bind: 127.0.0.1, port: 0, max_body_mb: 1, threads: 2, request_timeout_ms: 1000, access_token: "",
       access_token_env: TOKEN, loopback_reads_need_token: false}
plugin_dirs: [./plugins]
budgets: {memory_mb: 1024, max_concurrent_warmups: 1, ingest_queue_capacity: 16, warmup_timeout_ms: 1000,
         unload_timeout_ms: 1000}
ingest: {request_window_ms: 1000}
components:
  predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 1000}}
  backend: {path: ./sim.so, sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}
catalog:
  - {model: a, memory_mb: 1, load_ms: 0, unload_ms: 0, priority: 1}
arms:
  - {name: b, weight: 2, shadow: true, components: {predictor: {params: {ttl_ms: 2000}}}}
  - {name: o, yardstick: oracle}
sources:
  - {name: log, plugin: org.warmup.source.tail, params: {path: /tmp/a.json}}
replay: {seed: 2, timeline_buckets: 10, frontier: false}
reload: {watch_file: false, poll_ms: 100}
reconcile: {interval_ms: 0}
experiment: {enabled: true, split: model, control_weight: 1}
state: {dir: ./state, enabled: true, snapshot_interval_s: 1, keep: 1, history_retention_h: 1, journal: true,
        journal_retention_h: 1}
cluster: {redis: "redis://127.0.0.1:6379", node_id: n, advertise_url: "", heartbeat_ms: 100, load_slack: 0,
          replica_capacity_rps: 0, forward_buffer: 1, key_prefix: "w:"}
)";
    const Config config = load_config_text(every_section, "every.yaml", "/etc/warmup", "/opt/warmup/bin");
    EXPECT_TRUE(config.notices.empty());
    EXPECT_TRUE(config.cluster.enabled);
    ASSERT_EQ(config.arms.size(), 2u);
    EXPECT_EQ(config.arms[0].components[ComponentSlot::Predictor].params_yaml, "ttl_ms: 2000");
    // Every key the document lists under the top level is one of these sections.
    for (const std::string& key : accepted_config_keys()) {
        if (key.find('.') != std::string::npos || key.find('[') != std::string::npos) continue;
        EXPECT_NE(every_section.find(key + ":"), std::string::npos) << key << " is not walked by this test";
    }
}

}  // namespace
}  // namespace warmup::host
