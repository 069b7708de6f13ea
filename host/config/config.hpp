// config/config.hpp — the host configuration: YAML in, a validated plain-value Config out, or one located error.
//
// Used by warmupd (start-up and live reload), warmup-replay and warmupctl validate. Loading is a pure function of the
// text, the config file's folder and the executable's folder (plus the compiled-in configs/default.yaml, read once for
// the shipped defaults): no mutable globals, callable from any thread. A Config is a value: copy it, hand it to another
// thread.
//
// The schema (every key, its type, default and meaning, one table per section) is docs/configuration.md. The
// reader's own list of the keys it accepts is accepted_config_keys(); tests/host/config/config_schema_doc_test.cpp
// checks that the two name the same keys. In short: `apiVersion: warmup/v1` (absent = v1, with a notice), budgets, a
// catalog, and any of the eight component slots; a slot left out takes the shipped default of configs/default.yaml, and
// an experiment arm lists only the slots (or the params of a slot) that differ from the top level. An unknown key
// anywhere outside a `params` subtree is an error, reported at the key with a "did you mean" suggestion; a duplicate
// key in any mapping is an error too.
//
// Positions: every error and every locate() answer is "<file>:<line>:<col>" with 1-based line and column. A key path
// ("budgets.memory_mb", "catalog[2].load_ms") is located at its KEY (list items at the item), so an error about a value
// points at the line that names it. A missing required key is reported at its parent (the parent's key, or the top of
// the document for top-level keys).
#pragma once

#include <warmup/common.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/catalog.hpp"

namespace warmup::host {

/// The configuration format this loader reads (`apiVersion:`; a file without it is read as this version).
inline constexpr std::string_view kConfigApiVersion = "warmup/v1";
inline constexpr std::string_view kApiVersionKey = "apiVersion";

/// One component slot's choice of plugin: by id (searched in plugin_dirs) or by file path.
struct PluginChoice {
    std::string id;              ///< reverse-DNS plugin id; empty when `path` is used
    std::filesystem::path path;  ///< absolute, normalised library path; empty when `id` is used
    std::string params_yaml;     ///< the params subtree re-emitted in block style; "" when absent
    std::string sha256;          ///< 64 lower-case hex digits, or "" when not pinned
    std::string key_path;        ///< where the choice was written, e.g. "components.predictor" or
                                 ///< "arms[1].components.predictor" (a shipped default: its slot's path, which
                                 ///< locate() finds nowhere in the file); prefix for locating params errors
    /// `state: cold`: when a reload replaces this slot's plugin instance, the new one starts without the running one's
    /// state instead of taking it over (the way to replace a plugin whose state its replacement cannot read: a
    /// hand-off that fails otherwise refuses the reload). Default false (`state: hand-over`).
    bool start_cold = false;

    /// What the plugin is, for logs: the id, or the path.
    [[nodiscard]] std::string describe() const { return id.empty() ? path.string() : id; }

    /// Same plugin, same params, same pin. key_path is deliberately ignored: moving a choice within the file is not
    /// a change a reload must act on. So is start_cold: it says what a replacement does, not what to run (written
    /// alone it replaces nothing, and an arm that inherits it is not rebuilt for it).
    friend bool operator==(const PluginChoice& a, const PluginChoice& b) {
        return a.id == b.id && a.path == b.path && a.params_yaml == b.params_yaml && a.sha256 == b.sha256;
    }
};

/// The eight component slots of the pipeline, in pipeline order.
enum class ComponentSlot : std::size_t {
    Analyzer,
    Predictor,
    Performance,
    Scheduler,
    Resource,
    Queue,
    Metrics,
    Backend,
};

inline constexpr std::size_t kSlotCount = 8;

inline constexpr std::array<ComponentSlot, kSlotCount> kAllSlots = {
    ComponentSlot::Analyzer, ComponentSlot::Predictor, ComponentSlot::Performance, ComponentSlot::Scheduler,
    ComponentSlot::Resource, ComponentSlot::Queue,     ComponentSlot::Metrics,     ComponentSlot::Backend,
};

/// The YAML key of a slot: "analyzer", "predictor", "performance", "scheduler", "resource", "queue", "metrics",
/// "backend". It is also the word the host reports for the slot's plugin kind and the slot's name in logs, metrics
/// labels and snapshot sections.
std::string_view slot_key(ComponentSlot slot) noexcept;

/// The slot's earlier YAML key, still read in `components` (top level and arms) with one CONFIG_NOTICE naming the
/// current key, or "" when the slot kept its name. The deprecated keys are listed in docs/configuration.md.
std::string_view slot_deprecated_key(ComponentSlot slot) noexcept;

/// The ABI kind a plugin in this slot must declare.
warmup_plugin_kind slot_kind(ComponentSlot slot) noexcept;

/// The slot whose YAML key is `key`, or nullopt.
std::optional<ComponentSlot> slot_from_key(std::string_view key) noexcept;

/// The slot whose YAML key or deprecated key is `key`, or nullopt: for names written by an earlier warmupd (snapshot
/// and journal sections, a fleet's shared state), so state kept under a slot's old name is restored after an upgrade.
std::optional<ComponentSlot> slot_from_key_or_deprecated(std::string_view key) noexcept;

/// One plugin choice per slot, indexed by ComponentSlot.
struct Components {
    std::array<PluginChoice, kSlotCount> slots;

    PluginChoice& operator[](ComponentSlot slot) { return slots[static_cast<std::size_t>(slot)]; }
    const PluginChoice& operator[](ComponentSlot slot) const { return slots[static_cast<std::size_t>(slot)]; }

    friend bool operator==(const Components&, const Components&) = default;
};

/// The memory budget: absolute (MiB) live and in replay, or relative to a replayed trace's demand.
struct MemoryBudget {
    double absolute_mb = 0;   ///< > 0 when absolute, else 0
    double a95_multiple = 0;  ///< k of "<k>xA95" when relative, else 0

    [[nodiscard]] bool is_relative() const noexcept { return a95_multiple > 0; }
    /// "16384 MiB" or "1.5xA95".
    [[nodiscard]] std::string describe() const;

    friend bool operator==(const MemoryBudget&, const MemoryBudget&) = default;
};

/// One arm of an experiment: the top-level components with this arm's overrides applied, or a yardstick.
struct Arm {
    std::string name;
    Components components;  ///< top-level choices with the arm's slots applied (their key_paths name the arm): a slot
                            ///< naming a plugin replaces the choice, one naming none changes its params keys
    std::string yardstick;  ///< "oracle" or "oracle-lean" for a clairvoyant reference arm; "" for plugin arms
    double weight = 1;      ///< live experiments: share of the split traffic (and of the budget) of an acting arm
    bool shadow = false;    ///< live experiments: sees every event, predicts and is scored, never loads anything
    bool weight_given = false;  ///< `weight` was written (an arm named control must then match control_weight)
};

/// One entry of `sources:`: a source plugin and the name it runs under.
struct SourceConfig {
    std::string name;     ///< unique among the sources, [A-Za-z0-9._-]+
    PluginChoice choice;  ///< key_path "sources[i]"
    friend bool operator==(const SourceConfig&, const SourceConfig&) = default;
};

/// Live A/B experiment (warmupd): the top-level components are the "control" arm; `arms` are the others.
struct ExperimentConfig {
    bool enabled = false;          ///< experiment.enabled: warmupd runs the arms (replay always runs them)
    std::string split = "tenant";  ///< experiment.split: stable hash of the tenant or of the model picks the arm
    double control_weight = 1;     ///< experiment.control_weight
    friend bool operator==(const ExperimentConfig&, const ExperimentConfig&) = default;
};

/// state: durable state of warmupd.
struct StateConfig {
    bool enabled = false;       ///< state.enabled (defaults in docs/configuration.md)
    std::filesystem::path dir;  ///< absolute, normalised
    uint32_t snapshot_interval_s = 60;
    uint32_t keep = 10;
    uint32_t history_retention_h = 168;  ///< 0 = no metrics history
    bool journal = true;                 ///< state.journal: the event journal (runtime/state/journal.hpp)
    uint32_t journal_retention_h = 24;   ///< hours of journal segments kept beyond what a restart replays
    friend bool operator==(const StateConfig&, const StateConfig&) = default;
};

/// cluster: the opt-in fleet (host/cluster/fleet_node.hpp). Restart-only.
struct ClusterConfig {
    bool enabled = false;       ///< a `cluster:` section is present
    std::string redis_url;      ///< cluster.redis
    std::string node_id;        ///< cluster.node_id (default: the host name)
    std::string advertise_url;  ///< cluster.advertise_url ("" = http://<bind>:<bound port>)
    uint32_t heartbeat_ms = 1000;
    double load_slack = 0.25;
    double replica_capacity_rps = 0;
    uint32_t forward_buffer = 65536;
    std::string key_prefix = "warmup:";
    friend bool operator==(const ClusterConfig&, const ClusterConfig&) = default;
};

struct HttpConfig {
    std::string bind = "127.0.0.1";
    uint16_t port = 3000;  ///< 0 = let the OS pick a free port
    double max_body_mb = 16;
    uint32_t threads = 64;               ///< http.threads: connections served at once
    int64_t request_timeout_ms = 10000;  ///< http.request_timeout_ms: deadline for receiving one request
    std::string access_token;            ///< http.access_token (prefer the environment variable)
    std::string access_token_env = "WARMUP_ACCESS_TOKEN";  ///< http.access_token_env: where to read the token
    /// http.loopback_reads_need_token: with a token, reads on a loopback address need it too (a reverse proxy on the
    /// same host reaches the daemon through loopback, and would otherwise open every read to its clients).
    bool loopback_reads_need_token = false;

    /// The token in force: access_token if set, else the environment variable; nullopt when neither is set.
    [[nodiscard]] std::optional<std::string> resolved_access_token() const {
        if (!access_token.empty()) return access_token;
        const char* from_environment = access_token_env.empty() ? nullptr : std::getenv(access_token_env.c_str());
        if (from_environment == nullptr || *from_environment == '\0') return std::nullopt;
        return std::string(from_environment);
    }
    /// Where the token in force is (or would be) set, for messages: "http.access_token" when the YAML sets it, else
    /// "the environment variable <access_token_env>".
    [[nodiscard]] std::string access_token_source() const {
        if (!access_token.empty()) return "http.access_token";
        if (access_token_env.empty()) return "http.access_token (http.access_token_env names no variable)";
        return "the environment variable " + access_token_env;
    }
};

/// What reload.watch_file compares to see that a file changed: its modification time and size.
struct FileStamp {
    std::filesystem::file_time_type modified{};
    std::uintmax_t size = 0;
    friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

/// `file`'s stamp now. A missing or unreadable file reads as zero for both, so its coming back is a change too.
[[nodiscard]] FileStamp file_stamp(const std::filesystem::path& file);

/// A 1-based position in the configuration text.
struct SourcePosition {
    uint32_t line = 1;
    uint32_t column = 1;
};

/// Every key path of a configuration document mapped to the position of its key (or of the item, for list items).
/// One sorted table of paths kept in one block of text and shared by every copy of the Config: a catalog of 20,000
/// listed models records about 100,000 paths, which as a std::map took ~7.6 MB per copy of the Config (the daemon
/// keeps three) in 200,000 small blocks scattered among the YAML parser's, whose memory then could not go back to the
/// system. Filled by the configuration reader only (add, then sort); read-only after, from any thread.
class KeyPositions {
  public:
    /// The position of `path`, or nullptr when the document has no such path.
    [[nodiscard]] const SourcePosition* find(std::string_view path) const;
    [[nodiscard]] bool contains(std::string_view path) const { return find(path) != nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return table_ ? table_->entries.size() : 0; }

    /// Appends a path not added before (the reader records each path once). find() needs sort() after the last add.
    void add(std::string_view path, SourcePosition position);
    void sort();

  private:
    struct Entry {
        uint32_t offset = 0;  ///< of the path in Table::paths
        uint32_t length = 0;
        SourcePosition position;
    };
    struct Table {
        std::string paths;  ///< every path, one after the other
        std::vector<Entry> entries;
        [[nodiscard]] std::string_view path(const Entry& entry) const {
            return {paths.data() + entry.offset, entry.length};
        }
    };
    std::shared_ptr<Table> table_;  ///< shared by the copies; a copy that adds gets its own first
};

/// A plugin id as configurations and descriptors write it: reverse-DNS, at least two dot-separated labels of
/// [A-Za-z0-9_-] (e.g. "org.acme.predictor.seasonal").
[[nodiscard]] bool is_plugin_id(std::string_view id) noexcept;

struct Config {
    std::string api_version{kConfigApiVersion};  ///< apiVersion as written, or kConfigApiVersion when absent
    /// Things the reader of this file should hear that are not errors (e.g. "no apiVersion"), one line each, located
    /// by file name; the program that loaded the file logs them once (warmupd at start, warmup-replay, warmupctl).
    std::vector<std::string> notices;
    std::filesystem::path source_file;  ///< the file loaded; empty for load_config_text (nothing to re-read)
    std::string display_name;           ///< the file name used in messages ("<embedded default.yaml>" for the default)
    /// source_file's stamp taken just before load_config_file opened it (unset for load_config_text). An edit saved
    /// after that moment, even while the file was being read, leaves the file with another stamp, unless it keeps
    /// the size and lands in the same tick of the file system's clock (which no poll can tell apart). The file watch
    /// starts from it (ConfigFileWatcher::configure), so such an edit is reloaded rather than taken as already read.
    std::optional<FileStamp> source_stamp;
    std::string log_level = "info";
    std::string log_format = "text";  ///< "text" or "json" (warmupd; takes effect at start)
    HttpConfig http;
    std::vector<std::filesystem::path> plugin_dirs;  ///< absolute, normalised, in search order
    MemoryBudget memory_budget{16384, 0};
    uint32_t max_concurrent_warmups = 2;
    uint32_t ingest_queue_capacity = 65536;
    /// The most models the daemon registers (budgets.max_models): names a catalog glob matches beyond it are refused.
    uint32_t max_models = 100'000;
    int64_t warmup_timeout_ms = 600000;  ///< budgets.warmup_timeout_ms
    /// budgets.unload_timeout_ms: a backend unload running longer is reported (MODEL_UNLOAD_TIMEOUT) and no longer
    /// counted on to free its memory; the memory stays charged until the call returns. Above the shipped backends' own
    /// unload timeouts (Ollama's 60 s), so that one that keeps its deadline answers first.
    int64_t unload_timeout_ms = 120000;
    /// budgets.plugin_call_stall_ms: a plugin call (or a control-loop step) running longer stalls the daemon: it says
    /// so and stops waiting for the control loop (warmupd; takes effect at start)
    int64_t plugin_call_stall_ms = 10000;
    /// ingest.request_window_ms: events older than the clock by more than this are history (learned, not scored)
    int64_t ingest_request_window_ms = 5000;
    Components components;  ///< every slot: as written, or the shipped default (shipped_default_components())
    std::vector<CatalogEntry> catalog;
    std::vector<Arm> arms;
    std::vector<SourceConfig> sources;  ///< sources: source plugins, in file order (warmupd only)
    uint64_t replay_seed = 1;
    uint32_t timeline_buckets = 200;
    bool replay_frontier = false;  ///< replay.frontier: run the keep-alive curve arms (warmup-replay --frontier)
    ExperimentConfig experiment;
    int64_t reconcile_interval_ms = 10000;  ///< reconcile.interval_ms: 0 = off
    bool reload_watch_file = false;         ///< reload.watch_file: reload when the file changes (opt-in)
    uint32_t reload_poll_ms = 1000;         ///< reload.poll_ms: how often the file is checked, 100..3600000
    StateConfig state;                      ///< state: snapshots, backups, metrics history
    ClusterConfig cluster;                  ///< cluster: the opt-in fleet
    std::string source_text;                ///< the raw YAML, as loaded

    /// Every key path of the document (including inside params subtrees and list items, e.g.
    /// "components.predictor.params.horizon_ms", "catalog[2]", "arms[0].components.predictor.params.ttl_ms"), mapped
    /// to the position of its key (or of the item, for list items). The root is "".
    KeyPositions key_positions;

    /// "<display_name>:<line>:<col>" of `key_path`, or display_name alone when the path is not in the document.
    [[nodiscard]] std::string locate(std::string_view key_path) const;
};

/// A configuration that cannot be used. what() is "<file>:<line>:<col>: <key.path>: <message>", or
/// "<file>:<line>:<col>: <message>" when no key path applies (YAML syntax errors).
class ConfigError : public std::runtime_error {
  public:
    ConfigError(std::string file, uint32_t line, uint32_t column, std::string key_path, std::string message);

    [[nodiscard]] const std::string& file() const noexcept { return file_; }
    [[nodiscard]] uint32_t line() const noexcept { return line_; }      ///< 1-based
    [[nodiscard]] uint32_t column() const noexcept { return column_; }  ///< 1-based
    [[nodiscard]] const std::string& key_path() const noexcept { return key_path_; }
    [[nodiscard]] const std::string& message() const noexcept { return message_; }  ///< without position and path

  private:
    std::string file_;
    uint32_t line_;
    uint32_t column_;
    std::string key_path_;
    std::string message_;
};

/// The compiled-in text of configs/default.yaml (generated at build time by host/embed_text.cmake).
extern const std::string_view embedded_default_config;

/// The component choices of configs/default.yaml, which a configuration's omitted slots take. Read from
/// embedded_default_config on first use (thread-safe); throws ConfigError only if that text is broken.
const Components& shipped_default_components();

/// Every key the loader accepts, as docs/configuration.md names it: "apiVersion", "http.bind", "catalog[].model",
/// "components.predictor", "components.<slot>.params", "arms[].components", "sources[].name", ... The same table
/// refuses unknown keys, so this list is exactly what a file may contain (outside `params` subtrees).
std::vector<std::string> accepted_config_keys();

/// Why `address` cannot be listened on (http.bind, warmupd --bind), or nullopt. Accepted: an IPv4 address in dotted
/// decimal (four parts of 0..255), an IPv6 address (without brackets), or a host name of letters, digits, '-' and '.'
/// (resolved when warmupd starts: bind_address_resolution_problem). Anything else, such as 999.1.1.1, is refused here,
/// before a bind could fail with an unrelated system error.
std::optional<std::string> bind_address_problem(std::string_view address);

/// Why `address` names no address to listen on now, or nullopt: bind_address_problem, then, for a host name, that it
/// does not resolve ("'notanaddr' is not an address: the host name does not resolve (...)"). It asks the resolver
/// (/etc/hosts, DNS), so it may wait on DNS: warmupd calls it once at start, on --bind or http.bind, before the
/// access-token check, which could otherwise refuse a name that names nothing as "not a loopback address". Reading a
/// configuration (a reload, warmup-replay, a check on another host) does not resolve names. `temporary`, when given,
/// is set when the lookup failed for a reason that may pass (EAI_AGAIN: no resolver reachable yet, as at boot before
/// the network is up), and cleared otherwise.
std::optional<std::string> bind_address_resolution_problem(std::string_view address, bool* temporary = nullptr);

/// Reads and validates `file`. Relative paths in it resolve against the file's folder (made absolute), and
/// ${WARMUP_EXE_DIR} expands to `exe_dir` (may be empty when the caller has none; then using the variable is an
/// error). Throws ConfigError (also when the file cannot be read: position 1:1).
Config load_config_file(const std::filesystem::path& file, const std::filesystem::path& exe_dir);

/// Validates `yaml_text`; `display_name` names it in messages, `base_dir` anchors relative paths (empty = the
/// current directory). Throws ConfigError.
Config load_config_text(std::string_view yaml_text, const std::string& display_name,
                        const std::filesystem::path& base_dir, const std::filesystem::path& exe_dir);

}  // namespace warmup::host
