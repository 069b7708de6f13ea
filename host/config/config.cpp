#include "config/config.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <warmup/sdk/spelling.hpp>

#include "config/yaml_documents.hpp"
#include "core/file_io.hpp"
#include "core/utf8.hpp"

namespace warmup::host {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------------------------------
// Slots

namespace {

struct SlotInfo {
    std::string_view key;
    warmup_plugin_kind kind;
    std::string_view deprecated_key;  ///< the slot's earlier YAML key, still read with a notice; empty when none
};

// Indexed by ComponentSlot; the order of kAllSlots.
constexpr std::array<SlotInfo, kSlotCount> kSlotInfo = {{
    {"analyzer", WARMUP_KIND_ANALYZER, /*deprecated_key=*/"pattern_analyzer"},
    {"predictor", WARMUP_KIND_PREDICTOR, {}},
    {"performance", WARMUP_KIND_PERFORMANCE, /*deprecated_key=*/"performance_model"},
    {"scheduler", WARMUP_KIND_SCHEDULER, {}},
    {"resource", WARMUP_KIND_RESOURCE, /*deprecated_key=*/"resource_policy"},
    {"queue", WARMUP_KIND_QUEUE, /*deprecated_key=*/"queue_policy"},
    {"metrics", WARMUP_KIND_METRICS, {}},
    {"backend", WARMUP_KIND_BACKEND, {}},
}};

}  // namespace

std::string_view slot_key(ComponentSlot slot) noexcept { return kSlotInfo[static_cast<std::size_t>(slot)].key; }

warmup_plugin_kind slot_kind(ComponentSlot slot) noexcept { return kSlotInfo[static_cast<std::size_t>(slot)].kind; }

std::optional<ComponentSlot> slot_from_key(std::string_view key) noexcept {
    for (ComponentSlot slot : kAllSlots)
        if (slot_key(slot) == key) return slot;
    return std::nullopt;
}

std::string_view slot_deprecated_key(ComponentSlot slot) noexcept {
    return kSlotInfo[static_cast<std::size_t>(slot)].deprecated_key;
}

std::optional<ComponentSlot> slot_from_key_or_deprecated(std::string_view key) noexcept {
    if (const auto slot = slot_from_key(key)) return slot;
    for (ComponentSlot slot : kAllSlots)
        if (!slot_deprecated_key(slot).empty() && slot_deprecated_key(slot) == key) return slot;
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------------------
// The schema: every mapping the reader walks and the keys it accepts there. read_mapping() refuses any key that is not
// listed for its section (that is the "unknown key" check) and refuses, as a programming error, a list of read rules
// that differs from its section's entry, so this table and the reader cannot drift apart. docs/configuration.md
// documents exactly these keys; tests/host/config/config_schema_doc_test.cpp holds the two to each other.

namespace {

struct SchemaSection {
    std::string_view path;  ///< as documented: "" (top level), "http", "catalog[]", "components.<slot>", ...
    std::vector<std::string_view> keys;
};

constexpr std::string_view kTopLevel = "";
constexpr std::string_view kComponentsSection = "components";
constexpr std::string_view kSlotSection = "components.<slot>";
constexpr std::string_view kCatalogSection = "catalog[]";
constexpr std::string_view kArmSection = "arms[]";
constexpr std::string_view kSourceSection = "sources[]";

const std::vector<SchemaSection>& schema_sections() {
    static const std::vector<SchemaSection> sections = [] {
        std::vector<std::string_view> slot_keys;
        for (const SlotInfo& slot : kSlotInfo) slot_keys.push_back(slot.key);
        // The earlier names of some slots: accepted, each with one CONFIG_NOTICE (see read_slots), and documented
        // as deprecated aliases.
        for (const SlotInfo& slot : kSlotInfo)
            if (!slot.deprecated_key.empty()) slot_keys.push_back(slot.deprecated_key);
        return std::vector<SchemaSection>{
            {kTopLevel,
             {"apiVersion", "log_level", "log_format", "http", "plugin_dirs", "budgets", "ingest", "components",
              "catalog", "arms", "sources", "replay", "reload", "reconcile", "experiment", "state", "cluster"}},
            {"http",
             {"bind", "port", "max_body_mb", "threads", "request_timeout_ms", "access_token", "access_token_env",
              "loopback_reads_need_token"}},
            {"budgets",
             {"memory_mb", "max_concurrent_warmups", "ingest_queue_capacity", "max_models", "warmup_timeout_ms",
              "unload_timeout_ms", "plugin_call_stall_ms"}},
            {"ingest", {"request_window_ms"}},
            {kComponentsSection, slot_keys},
            {kSlotSection, {"plugin", "path", "params", "sha256", "state"}},
            {kCatalogSection, {"model", "memory_mb", "load_ms", "unload_ms", "priority"}},
            {kArmSection, {"name", "components", "yardstick", "weight", "shadow"}},
            {kSourceSection, {"name", "plugin", "path", "params", "sha256"}},
            {"replay", {"seed", "timeline_buckets", "frontier"}},
            {"reload", {"watch_file", "poll_ms"}},
            {"reconcile", {"interval_ms"}},
            {"experiment", {"enabled", "split", "control_weight"}},
            {"state",
             {"dir", "enabled", "snapshot_interval_s", "keep", "history_retention_h", "journal",
              "journal_retention_h"}},
            {"cluster",
             {"redis", "node_id", "advertise_url", "heartbeat_ms", "load_slack", "replica_capacity_rps",
              "forward_buffer", "key_prefix"}},
        };
    }();
    return sections;
}

const std::vector<std::string_view>& schema_keys(std::string_view section) {
    for (const SchemaSection& entry : schema_sections())
        if (entry.path == section) return entry.keys;
    throw std::logic_error(fmt::format("configuration schema: no section '{}'", section));
}

}  // namespace

std::vector<std::string> accepted_config_keys() {
    std::vector<std::string> keys;
    for (const SchemaSection& section : schema_sections())
        for (std::string_view key : section.keys)
            keys.push_back(section.path.empty() ? std::string(key) : fmt::format("{}.{}", section.path, key));
    return keys;
}

// ---------------------------------------------------------------------------------------------------------------------
// Small value types

std::string MemoryBudget::describe() const {
    if (is_relative()) return fmt::format("{}xA95", a95_multiple);
    return fmt::format("{} MiB", absolute_mb);
}

bool is_plugin_id(std::string_view id) noexcept {
    // Reverse-DNS: at least two dot-separated labels of [A-Za-z0-9_-].
    std::size_t labels = 0;
    std::size_t label_length = 0;
    for (char c : id) {
        if (c == '.') {
            if (label_length == 0) return false;
            ++labels;
            label_length = 0;
        } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') {
            ++label_length;
        } else {
            return false;
        }
    }
    if (label_length == 0) return false;
    return labels + 1 >= 2;
}

namespace {

std::string format_what(const std::string& file, uint32_t line, uint32_t column, const std::string& key_path,
                        const std::string& message) {
    if (key_path.empty()) return fmt::format("{}:{}:{}: {}", file, line, column, message);
    return fmt::format("{}:{}:{}: {}: {}", file, line, column, key_path, message);
}

}  // namespace

ConfigError::ConfigError(std::string file, uint32_t line, uint32_t column, std::string key_path, std::string message)
    : std::runtime_error(format_what(file, line, column, key_path, message)),
      file_(std::move(file)),
      line_(line),
      column_(column),
      key_path_(std::move(key_path)),
      message_(std::move(message)) {}

std::optional<std::string> bind_address_problem(std::string_view address) {
    if (address.empty()) return "expected an IP address or a host name, got an empty string";
    const std::string text(address);
    in_addr v4{};
    in6_addr v6{};
    if (::inet_pton(AF_INET, text.c_str(), &v4) == 1 || ::inet_pton(AF_INET6, text.c_str(), &v6) == 1)
        return std::nullopt;
    const auto is_digit_or_dot = [](char c) { return (c >= '0' && c <= '9') || c == '.'; };
    if (text.find(':') != std::string::npos || text.front() == '[')
        return fmt::format("'{}' is not a valid IPv6 address (written without brackets, e.g. ::1)", text);
    if (std::all_of(text.begin(), text.end(), is_digit_or_dot))
        return fmt::format("'{}' is not a valid IPv4 address (four numbers 0..255, e.g. 127.0.0.1)", text);
    const bool name_characters = std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.';
    });
    if (!name_characters || text.size() > 253 || text.front() == '.' || text.front() == '-' ||
        text.find("..") != std::string::npos)
        return fmt::format("'{}' is neither an IP address nor a host name", text);
    return std::nullopt;
}

std::optional<std::string> bind_address_resolution_problem(std::string_view address, bool* temporary) {
    if (temporary != nullptr) *temporary = false;
    if (auto problem = bind_address_problem(address)) return problem;
    // The lookup the HTTP server's bind makes (http/http_server.cpp): what resolves here can be bound to.
    const std::string text(address);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    const int resolved = ::getaddrinfo(text.c_str(), nullptr, &hints, &found);
    if (resolved == 0) {
        ::freeaddrinfo(found);
        return std::nullopt;
    }
    if (resolved == EAI_AGAIN) {
        if (temporary != nullptr) *temporary = true;
        return fmt::format("'{}' cannot be looked up now: {}", text, ::gai_strerror(resolved));
    }
    return fmt::format("'{}' is not an address: the host name does not resolve ({})", text, ::gai_strerror(resolved));
}

const SourcePosition* KeyPositions::find(std::string_view path) const {
    if (!table_) return nullptr;
    const auto& entries = table_->entries;
    const auto found =
        std::lower_bound(entries.begin(), entries.end(), path,
                         [&](const Entry& entry, std::string_view key) { return table_->path(entry) < key; });
    return found != entries.end() && table_->path(*found) == path ? &found->position : nullptr;
}

void KeyPositions::add(std::string_view path, SourcePosition position) {
    if (!table_) {
        table_ = std::make_shared<Table>();
    } else if (table_.use_count() > 1) {
        table_ = std::make_shared<Table>(*table_);
    }
    if (table_->paths.size() + path.size() > std::numeric_limits<uint32_t>::max())
        throw std::length_error("configuration key paths over 4 GiB");
    table_->entries.push_back(
        Entry{static_cast<uint32_t>(table_->paths.size()), static_cast<uint32_t>(path.size()), position});
    table_->paths.append(path);
}

void KeyPositions::sort() {
    if (!table_) return;
    if (table_.use_count() > 1) table_ = std::make_shared<Table>(*table_);  // the copies keep theirs as it is
    // Stable: of two equal paths (a key written with a dot beside the same path nested), the first written is found.
    std::stable_sort(table_->entries.begin(), table_->entries.end(),
                     [&](const Entry& a, const Entry& b) { return table_->path(a) < table_->path(b); });
    table_->paths.shrink_to_fit();
    table_->entries.shrink_to_fit();
}

std::string Config::locate(std::string_view key_path) const {
    const SourcePosition* found = key_positions.find(key_path);
    if (found == nullptr) return display_name;
    return fmt::format("{}:{}:{}", display_name, found->line, found->column);
}

// ---------------------------------------------------------------------------------------------------------------------
// The reader

namespace {

SourcePosition to_position(const YAML::Mark& mark) {
    // yaml-cpp marks are 0-based; a null mark (line -1) comes from an empty document.
    if (mark.is_null() || mark.line < 0 || mark.column < 0) return {};
    return {static_cast<uint32_t>(mark.line) + 1, static_cast<uint32_t>(mark.column) + 1};
}

std::string child_path(const std::string& parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    std::string path = parent;
    path += '.';
    path += key;
    return path;
}

std::string item_path(const std::string& parent, std::size_t index) { return fmt::format("{}[{}]", parent, index); }

/// Parses the whole of `text` as a finite double (an optional leading '+' is allowed, as YAML allows it).
std::optional<double> parse_finite_double(std::string_view text) {
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
    return value;
}

template <typename Integer>
std::optional<Integer> parse_integer(std::string_view text) {
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    Integer value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

bool is_plain_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

/// Turns the flow style the author may have used into block style everywhere, so params_yaml is the same text
/// however the params were written (a reload does not see `{a: 1}` vs `a: 1` as a change).
void force_block_style(YAML::Node node) {
    if (node.IsMap()) {
        node.SetStyle(YAML::EmitterStyle::Block);
        for (auto entry : node) {
            force_block_style(entry.first);
            force_block_style(entry.second);
        }
    } else if (node.IsSequence()) {
        node.SetStyle(YAML::EmitterStyle::Block);
        for (auto item : node) force_block_style(item);
    }
}

/// One key of a mapping the reader knows: whether it must be there, and what to do with its value.
struct KeyRule {
    std::string_view key;
    bool required;
    std::function<void(const YAML::Node& value, const std::string& path)> read;
};

/// A slot as written in `components` or in an arm's `components`: a whole choice when it names its plugin (`plugin:`
/// or `path:`), else changes to the choice it inherits (the shipped default at the top level, the top-level choice in
/// an arm).
struct SlotOverride {
    PluginChoice choice;        ///< key_path always set; id and path empty when the slot names no plugin
    bool names_plugin = false;  ///< `plugin:` or `path:` given
    bool has_state = false;     ///< `state:` given (choice.start_cold)
    bool has_params = false;    ///< `params:` given
    YAML::Node params;          ///< the params as written (a clone), when has_params
};

using SlotOverrides = std::array<std::optional<SlotOverride>, kSlotCount>;

struct PendingArm {
    std::string name;
    SlotOverrides overrides;
    std::string yardstick;
    double weight = 1;
    bool shadow = false;
    bool weight_given = false;
};

/// Reads one YAML document into a Config. Not reusable: one instance per load. Throws ConfigError on the first
/// problem it meets, in document order within each mapping.
class ConfigReader {
  public:
    ConfigReader(Config& config, const fs::path& base_dir, const fs::path& exe_dir) : config_(config) {
        base_dir_ = base_dir.empty() ? fs::current_path() : fs::absolute(base_dir);
        if (!exe_dir.empty()) exe_dir_ = fs::absolute(exe_dir);
    }

    // Long: the table of top-level keys with their readers, then the defaults each key falls back to, in file order.
    void read(const YAML::Node& root) {
        record_positions(root, "");
        config_.key_positions.sort();
        if (!root.IsNull() && !root.IsMap())
            fail("", "expected a mapping of settings at the top level, got " + describe_node(root));

        read_api_version(root);
        bool plugin_dirs_given = false;
        read_mapping(
            root, "", kTopLevel,
            {
                {"log_level", false,
                 [&](const YAML::Node& value, const std::string& path) {
                     config_.log_level = read_choice(value, path, {"trace", "debug", "info", "warn", "error"});
                 }},
                {"log_format", false,
                 [&](const YAML::Node& value, const std::string& path) {
                     config_.log_format = read_choice(value, path, {"text", "json"});
                 }},
                {"http", false, [&](const YAML::Node& value, const std::string& path) { read_http(value, path); }},
                {"plugin_dirs", false,
                 [&](const YAML::Node& value, const std::string& path) {
                     plugin_dirs_given = true;
                     read_plugin_dirs(value, path);
                 }},
                {"budgets", false,
                 [&](const YAML::Node& value, const std::string& path) { read_budgets(value, path); }},
                {"ingest", false, [&](const YAML::Node& value, const std::string& path) { read_ingest(value, path); }},
                {"apiVersion", false,
                 [](const YAML::Node&, const std::string&) {
                     // Read first, by read_api_version(): a file of another version is refused as a whole before
                     // its keys are judged by this version's schema.
                 }},
                {"components", false,
                 [&](const YAML::Node& value, const std::string& path) { top_level_slots_ = read_slots(value, path); }},
                {"catalog", true, [&](const YAML::Node& value, const std::string& path) { read_catalog(value, path); }},
                {"arms", false, [&](const YAML::Node& value, const std::string& path) { read_arms(value, path); }},
                {"sources", false,
                 [&](const YAML::Node& value, const std::string& path) { read_sources(value, path); }},
                {"replay", false, [&](const YAML::Node& value, const std::string& path) { read_replay(value, path); }},
                {"reload", false, [&](const YAML::Node& value, const std::string& path) { read_reload(value, path); }},
                {"reconcile", false,
                 [&](const YAML::Node& value, const std::string& path) { read_reconcile(value, path); }},
                {"experiment", false,
                 [&](const YAML::Node& value, const std::string& path) { read_experiment(value, path); }},
                {"state", false, [&](const YAML::Node& value, const std::string& path) { read_state(value, path); }},
                {"cluster", false,
                 [&](const YAML::Node& value, const std::string& path) { read_cluster(value, path); }},
            });

        // state: given a folder, on unless switched off; otherwise off here (load_config_file turns it on for files).
        if (config_.state.dir.empty()) config_.state.dir = (base_dir_ / "state").lexically_normal();
        config_.state.enabled = state_enabled_.value_or(state_dir_given_);

        if (!plugin_dirs_given) {
            // The schema's documented default: the plugins shipped next to the executable (build tree, then
            // installed layout), then ./plugins.
            config_.plugin_dirs.clear();
            if (!exe_dir_.empty()) {
                config_.plugin_dirs.push_back((exe_dir_ / ".." / "plugins").lexically_normal());
                config_.plugin_dirs.push_back((exe_dir_ / ".." / "lib" / "warmup" / "plugins").lexically_normal());
            }
            config_.plugin_dirs.push_back((base_dir_ / "plugins").lexically_normal());
        }

        // A slot the file leaves out, or writes without naming a plugin, starts from the shipped default
        // (configs/default.yaml), so a configuration may be only budgets and a catalog.
        for (ComponentSlot slot : kAllSlots) {
            const std::optional<SlotOverride>& written = top_level_slots_[static_cast<std::size_t>(slot)];
            if (written && written->names_plugin) {
                config_.components[slot] = written->choice;
                continue;
            }
            PluginChoice shipped = shipped_default_components()[slot];
            shipped.key_path = child_path("components", slot_key(slot));
            config_.components[slot] = written ? apply_slot(shipped, *written) : shipped;
        }

        // Arms are merged last: `components` may come after `arms` in the file. An arm lists only what differs.
        for (PendingArm& pending : pending_arms_) {
            Arm arm{std::move(pending.name), config_.components, std::move(pending.yardstick),
                    pending.weight,          pending.shadow,     pending.weight_given};
            for (ComponentSlot slot : kAllSlots)
                if (const auto& change = pending.overrides[static_cast<std::size_t>(slot)])
                    arm.components[slot] = apply_slot(config_.components[slot], *change);
            config_.arms.push_back(std::move(arm));
        }

        add_deprecated_slot_notices();
    }

    /// The `components` of the shipped default text (configs/default.yaml), every slot naming its plugin.
    Components read_shipped_components(const YAML::Node& root) {
        record_positions(root, "");
        config_.key_positions.sort();
        const std::string path(kComponentsSection);
        if (!root.IsMap() || !root[path]) fail("", "the shipped default configuration has no 'components'");
        const SlotOverrides slots = read_slots(root[path], path);
        Components components;
        for (ComponentSlot slot : kAllSlots) {
            const std::optional<SlotOverride>& written = slots[static_cast<std::size_t>(slot)];
            const std::string slot_path = child_path(path, slot_key(slot));
            if (!written || !written->names_plugin)
                fail(slot_path, "the shipped default configuration must name the plugin of every slot");
            components[slot] = written->choice;
        }
        return components;
    }

  private:
    /// apiVersion: absent means warmup/v1 (with a notice for the caller to log); any other version is refused.
    void read_api_version(const YAML::Node& root) {
        if (!root.IsMap()) return;
        const YAML::Node written = root[std::string(kApiVersionKey)];
        if (!written) {
            config_.notices.push_back(
                fmt::format("{}: no apiVersion, read as {}; add 'apiVersion: {}' at the top to say so",
                            config_.display_name, kConfigApiVersion, kConfigApiVersion));
            return;
        }
        const std::string path(kApiVersionKey);
        if (!written.IsScalar() || written.Scalar().empty())
            fail(path, fmt::format("expected {}, got {}", kConfigApiVersion, describe_node(written)));
        if (written.Scalar() != kConfigApiVersion)
            fail(path, fmt::format("apiVersion '{}' is not supported; this warmupd reads {}", written.Scalar(),
                                   kConfigApiVersion));
        config_.api_version = written.Scalar();
    }

    // ----- positions and errors

    /// Records the position of every key path under `node` (mapping entries at their key, list items at the item)
    /// and refuses duplicate keys anywhere, params included: yaml-cpp keeps both entries and node[key] silently
    /// returns the first, so a duplicate would otherwise be a setting that is quietly ignored.
    /// `recorded`: the caller recorded `path` already (a mapping entry, at its key).
    void record_positions(const YAML::Node& node, const std::string& path, std::size_t depth = 0,
                          bool recorded = false) {
        // YAML aliases make a document a graph: a self-referencing alias is an endless tree and nested aliases can
        // expand to billions of nodes from a few bytes. A configuration is shallow; refuse what is not. Without
        // aliases every node takes at least one byte of the text (a value, or the key or `-` before an empty one),
        // so the node bound grows with the text: a large catalog (tens of thousands of models, six nodes each) is
        // never refused, while an alias expanding far beyond its text still is.
        constexpr std::size_t kMaxDepth = 64;
        constexpr std::size_t kMinMaxNodes = 200'000;
        const std::size_t max_nodes = std::max(kMinMaxNodes, config_.source_text.size());
        if (depth > kMaxDepth || ++nodes_visited_ > max_nodes) {
            const SourcePosition position = to_position(node.Mark());
            throw ConfigError(config_.display_name, position.line, position.column, path,
                              depth > kMaxDepth
                                  ? fmt::format("nested deeper than {} levels (a self-referencing alias?)", kMaxDepth)
                                  : fmt::format("more than {} nodes once aliases are expanded", max_nodes));
        }
        if (!recorded) config_.key_positions.add(path, to_position(node.Mark()));
        if (node.IsMap()) {
            std::unordered_map<std::string, SourcePosition> seen;
            for (const auto& entry : node) {
                if (!entry.first.IsScalar()) continue;  // a complex key has no key path; refused later if not in params
                const std::string& key = entry.first.Scalar();
                const std::string path_of_key = child_path(path, key);
                const SourcePosition position = to_position(entry.first.Mark());
                if (const auto previous = seen.find(key); previous != seen.end()) {
                    throw ConfigError(
                        config_.display_name, position.line, position.column, path_of_key,
                        fmt::format("duplicate key '{}' (first given at line {})", key, previous->second.line));
                }
                seen.emplace(key, position);
                config_.key_positions.add(path_of_key, position);
                record_positions(entry.second, path_of_key, depth + 1, true);
            }
        } else if (node.IsSequence()) {
            for (std::size_t index = 0; index < node.size(); ++index)
                record_positions(node[index], item_path(path, index), depth + 1);
        }
    }

    /// The recorded position of `path`, or of its nearest recorded ancestor.
    SourcePosition position_of(std::string path) const {
        for (;;) {
            if (const SourcePosition* found = config_.key_positions.find(path)) return *found;
            const std::size_t cut = path.find_last_of(".[");
            if (cut == std::string::npos) {
                if (path.empty()) return {};
                path.clear();
            } else {
                path.resize(cut);
            }
        }
    }

    [[noreturn]] void fail(const std::string& key_path, const std::string& message) const {
        const SourcePosition position = position_of(key_path);
        throw ConfigError(config_.display_name, position.line, position.column, key_path, message);
    }

    // ----- generic shapes

    /// Walks `node` (a mapping, or null meaning an empty one) in document order, refuses keys the schema does not
    /// list for `section` (with a suggestion), hands each known key to its rule, then reports the first missing
    /// required key at `path`. `rules` must cover exactly the schema's keys of `section` (std::logic_error otherwise:
    /// a key read but undocumented, or documented but never read, is a defect of this file, not of the input).
    void read_mapping(const YAML::Node& node, const std::string& path, std::string_view section,
                      const std::vector<KeyRule>& rules) {
        const std::vector<std::string_view>& known = schema_keys(section);
        check_rules_match_schema(section, known, rules);
        if (!node.IsNull() && !node.IsMap()) fail(path, "expected a mapping, got " + describe_node(node));
        std::vector<bool> seen(rules.size(), false);
        if (node.IsMap()) {
            for (const auto& entry : node) {
                if (!entry.first.IsScalar()) {
                    const SourcePosition position = to_position(entry.first.Mark());
                    throw ConfigError(config_.display_name, position.line, position.column, path,
                                      "expected a plain key, got " + describe_node(entry.first));
                }
                const std::string& key = entry.first.Scalar();
                if (std::find(known.begin(), known.end(), key) == known.end())
                    fail(child_path(path, key), unknown_key_message(key, known));
                const auto rule = std::find_if(rules.begin(), rules.end(),
                                               [&](const KeyRule& candidate) { return candidate.key == key; });
                seen[static_cast<std::size_t>(rule - rules.begin())] = true;
                rule->read(entry.second, child_path(path, key));
            }
        }
        std::size_t index = 0;
        for (const KeyRule& rule : rules) {
            if (rule.required && !seen[index]) fail(path, fmt::format("missing required key '{}'", rule.key));
            ++index;
        }
    }

    static void check_rules_match_schema(std::string_view section, const std::vector<std::string_view>& known,
                                         const std::vector<KeyRule>& rules) {
        const auto has_rule = [&](std::string_view key) {
            return std::any_of(rules.begin(), rules.end(), [&](const KeyRule& rule) { return rule.key == key; });
        };
        for (std::string_view key : known)
            if (!has_rule(key))
                throw std::logic_error(
                    fmt::format("configuration schema: '{}' in section '{}' has no read rule", key, section));
        for (const KeyRule& rule : rules)
            if (std::find(known.begin(), known.end(), rule.key) == known.end())
                throw std::logic_error(
                    fmt::format("configuration schema: read rule '{}' is not in section '{}'", rule.key, section));
    }

    static std::string unknown_key_message(const std::string& key, const std::vector<std::string_view>& known) {
        std::string message = fmt::format("unknown key '{}'", key);
        if (auto best = sdk::closest_name(key, known)) {
            // A typo of a deprecated slot key is pointed at the key to write now.
            for (const SlotInfo& slot : kSlotInfo)
                if (!slot.deprecated_key.empty() && *best == slot.deprecated_key) best = std::string(slot.key);
            return message + fmt::format("; did you mean '{}'?", *best);
        }
        // A component written beside `components:` rather than under it (predictor: {path: ...} at the top level).
        if (const auto slot = slot_from_key_or_deprecated(key);
            slot && std::find(known.begin(), known.end(), "components") != known.end())
            message += fmt::format("; a component goes under 'components:' (components: {{{}: ...}})", slot_key(*slot));
        return message;
    }

    std::string read_string(const YAML::Node& node, const std::string& path) {
        if (!node.IsScalar()) fail(path, "expected a string, got " + describe_node(node));
        return node.Scalar();
    }

    std::string read_non_empty_string(const YAML::Node& node, const std::string& path) {
        std::string text = read_string(node, path);
        if (text.empty()) fail(path, "expected a non-empty string");
        return text;
    }

    std::string read_choice(const YAML::Node& node, const std::string& path,
                            std::initializer_list<std::string_view> choices) {
        std::string text = node.IsScalar() ? node.Scalar() : std::string();
        if (node.IsScalar() && std::find(choices.begin(), choices.end(), text) != choices.end()) return text;
        std::string list;
        for (std::string_view choice : choices) list += (list.empty() ? "" : " | ") + std::string(choice);
        fail(path, fmt::format("expected one of {}, got {}", list, describe_node(node)));
    }

    double read_positive_number(const YAML::Node& node, const std::string& path) {
        const auto value = node.IsScalar() ? parse_finite_double(node.Scalar()) : std::nullopt;
        if (!value || *value <= 0) fail(path, "expected a positive number, got " + describe_node(node));
        return *value;
    }

    double read_non_negative_number(const YAML::Node& node, const std::string& path) {
        const auto value = node.IsScalar() ? parse_finite_double(node.Scalar()) : std::nullopt;
        if (!value || *value < 0) fail(path, "expected a number >= 0, got " + describe_node(node));
        return *value;
    }

    int64_t read_integer(const YAML::Node& node, const std::string& path, int64_t min, int64_t max) {
        const auto value = node.IsScalar() ? parse_integer<int64_t>(node.Scalar()) : std::nullopt;
        if (!value || *value < min || *value > max)
            fail(path, fmt::format("expected an integer in [{}, {}], got {}", min, max, describe_node(node)));
        return *value;
    }

    /// Expands ${WARMUP_EXE_DIR}, anchors a relative result at the config file's folder and normalises it.
    fs::path read_path(const YAML::Node& node, const std::string& path) {
        const std::string text = read_non_empty_string(node, path);
        std::string expanded;
        std::size_t cursor = 0;
        while (cursor < text.size()) {
            const std::size_t open = text.find("${", cursor);
            if (open == std::string::npos) {
                expanded.append(text, cursor);
                break;
            }
            expanded.append(text, cursor, open - cursor);
            const std::size_t close = text.find('}', open);
            if (close == std::string::npos) fail(path, fmt::format("unterminated '${{' in '{}'", text));
            const std::string name = text.substr(open + 2, close - open - 2);
            if (name != "WARMUP_EXE_DIR")
                fail(path, fmt::format("unknown variable '${{{}}}'; only ${{WARMUP_EXE_DIR}} is expanded", name));
            if (exe_dir_.empty())
                fail(path, "${WARMUP_EXE_DIR} is used but the executable's folder is not known to this loader");
            expanded += exe_dir_.string();
            cursor = close + 1;
        }
        fs::path result(expanded);
        if (result.is_relative()) result = base_dir_ / result;
        return result.lexically_normal();
    }

    // ----- sections

    void read_http(const YAML::Node& node, const std::string& path) {
        read_mapping(node, path, "http",
                     {
                         {"bind", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.http.bind = read_non_empty_string(value, key_path);
                              if (auto problem = bind_address_problem(config_.http.bind)) fail(key_path, *problem);
                          }},
                         {"port", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.http.port = static_cast<uint16_t>(read_integer(value, key_path, 0, 65535));
                          }},
                         {"max_body_mb", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.http.max_body_mb = read_positive_number(value, key_path);
                          }},
                         {"threads", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.http.threads = static_cast<uint32_t>(read_integer(value, key_path, 1, 1024));
                          }},
                         {"request_timeout_ms", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.http.request_timeout_ms = read_integer(value, key_path, 100, 600000);
                          }},
                         {"access_token", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.http.access_token = read_string(value, key_path);
                          }},
                         {"access_token_env", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.http.access_token_env = read_string(value, key_path);
                          }},
                         {"loopback_reads_need_token", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.http.loopback_reads_need_token = read_flag(value, key_path);
                          }},
                     });
    }

    void read_plugin_dirs(const YAML::Node& node, const std::string& path) {
        if (!node.IsSequence()) fail(path, "expected a list of folders, got " + describe_node(node));
        config_.plugin_dirs.clear();
        for (std::size_t index = 0; index < node.size(); ++index)
            config_.plugin_dirs.push_back(read_path(node[index], item_path(path, index)));
    }

    void read_budgets(const YAML::Node& node, const std::string& path) {
        read_mapping(
            node, path, "budgets",
            {
                {"memory_mb", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.memory_budget = read_memory_budget(value, key_path);
                 }},
                {"max_concurrent_warmups", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.max_concurrent_warmups = static_cast<uint32_t>(read_integer(value, key_path, 1, 1024));
                 }},
                {"ingest_queue_capacity", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.ingest_queue_capacity =
                         static_cast<uint32_t>(read_integer(value, key_path, 1, int64_t{1} << 24));
                 }},
                {"max_models", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.max_models = static_cast<uint32_t>(read_integer(value, key_path, 1, int64_t{1} << 24));
                 }},
                {"warmup_timeout_ms", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.warmup_timeout_ms = read_integer(value, key_path, 1000, 86400000);
                 }},
                {"unload_timeout_ms", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.unload_timeout_ms = read_integer(value, key_path, 1000, 86400000);
                 }},
                {"plugin_call_stall_ms", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.plugin_call_stall_ms = read_integer(value, key_path, 100, 3600000);
                 }},
            });
    }

    void read_reconcile(const YAML::Node& node, const std::string& path) {
        read_mapping(node, path, "reconcile",
                     {
                         {"interval_ms", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.reconcile_interval_ms = read_integer(value, key_path, 0, 86400000);
                          }},
                     });
    }

    void read_ingest(const YAML::Node& node, const std::string& path) {
        read_mapping(node, path, "ingest",
                     {
                         {"request_window_ms", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.ingest_request_window_ms = read_integer(value, key_path, 1000, 3600000);
                          }},
                     });
    }

    MemoryBudget read_memory_budget(const YAML::Node& node, const std::string& path) {
        if (node.IsScalar()) {
            const std::string& text = node.Scalar();
            if (const auto absolute = parse_finite_double(text); absolute && *absolute > 0) return {*absolute, 0};
            constexpr std::string_view kSuffix = "xA95";
            if (text.size() > kSuffix.size() && text.ends_with(kSuffix)) {
                const auto multiple =
                    parse_finite_double(std::string_view(text).substr(0, text.size() - kSuffix.size()));
                if (multiple && *multiple > 0) return {0, *multiple};
            }
        }
        fail(path, "expected a positive number or \"<k>xA95\", got " + describe_node(node));
    }

    /// The slots of a `components` mapping (top level or an arm's): any subset, each as written.
    /// A slot may also be written under its deprecated key (same meaning, one notice per deprecated key and file);
    /// a mapping that gives both keys of one slot is refused.
    SlotOverrides read_slots(const YAML::Node& node, const std::string& path) {
        SlotOverrides slots;
        std::array<std::string, kSlotCount> written_as;  // the key each slot was read under, for the both-keys check
        std::vector<KeyRule> rules;
        for (ComponentSlot slot : kAllSlots) {
            const auto index = static_cast<std::size_t>(slot);
            auto read_slot = [this, index, &slots, &written_as](const YAML::Node& value, const std::string& key_path,
                                                                std::string_view key) {
                if (!written_as[index].empty())
                    fail(key_path, fmt::format("'{}' and '{}' name the same slot: give only '{}'", written_as[index],
                                               key, slot_key(static_cast<ComponentSlot>(index))));
                written_as[index] = std::string(key);
                slots[index] = read_plugin_choice(value, key_path, kSlotSection, {}, /*with_state=*/true);
            };
            rules.push_back(
                {slot_key(slot), false, [read_slot, slot](const YAML::Node& value, const std::string& key_path) {
                     read_slot(value, key_path, slot_key(slot));
                 }});
            if (slot_deprecated_key(slot).empty()) continue;
            rules.push_back({slot_deprecated_key(slot), false,
                             [this, read_slot, slot](const YAML::Node& value, const std::string& key_path) {
                                 deprecated_slot_uses_[static_cast<std::size_t>(slot)].push_back(key_path);
                                 read_slot(value, key_path, slot_deprecated_key(slot));
                             }});
        }
        read_mapping(node, path, kComponentsSection, rules);
        return slots;
    }

    /// One CONFIG_NOTICE per deprecated slot key the file used, at its first use, naming the key to write instead.
    void add_deprecated_slot_notices() {
        for (ComponentSlot slot : kAllSlots) {
            const std::vector<std::string>& uses = deprecated_slot_uses_[static_cast<std::size_t>(slot)];
            if (uses.empty()) continue;
            std::string notice = fmt::format(
                "{}: {}: '{}' is the deprecated name of the slot '{}' and means the same; write '{}' instead",
                config_.locate(uses.front()), uses.front(), slot_deprecated_key(slot), slot_key(slot), slot_key(slot));
            if (uses.size() > 1) {
                notice += fmt::format(" (also used at {} more place{}:", uses.size() - 1, uses.size() > 2 ? "s" : "");
                for (std::size_t i = 1; i < uses.size(); ++i) notice += " " + uses[i];
                notice += ")";
            }
            config_.notices.push_back(std::move(notice));
        }
    }

    /// A plugin choice mapping of schema section `section`; `extra_rules` are the section's keys beside
    /// plugin/path/params/sha256 (a source's `name`). Naming the plugin is left to the caller to require: a slot
    /// that names none keeps the plugin it inherits.
    SlotOverride read_plugin_choice(const YAML::Node& node, const std::string& path, std::string_view section,
                                    std::vector<KeyRule> extra_rules = {}, bool with_state = false) {
        SlotOverride slot;
        PluginChoice& choice = slot.choice;
        if (with_state)
            extra_rules.push_back({"state", false, [&](const YAML::Node& value, const std::string& key_path) {
                                       const std::string text = read_non_empty_string(value, key_path);
                                       if (text != "cold" && text != "hand-over")
                                           fail(key_path, fmt::format("expected 'hand-over' (the default: a reload "
                                                                      "hands the running instance's state to its "
                                                                      "replacement) or 'cold', got '{}'",
                                                                      text));
                                       choice.start_cold = text == "cold";
                                       slot.has_state = true;
                                   }});
        choice.key_path = path;
        std::string_view named_by;  // "plugin" or "path", whichever came first
        auto name_once = [&](std::string_view key, const std::string& key_path) {
            if (!named_by.empty())
                fail(key_path, fmt::format("'{}' and '{}' are mutually exclusive: give exactly one", named_by, key));
            named_by = key;
        };
        std::vector<KeyRule> rules = std::move(extra_rules);
        rules.push_back({"plugin", false, [&](const YAML::Node& value, const std::string& key_path) {
                             name_once("plugin", key_path);
                             choice.id = read_non_empty_string(value, key_path);
                             if (!is_plugin_id(choice.id))
                                 fail(key_path, fmt::format("expected a reverse-DNS plugin id such as "
                                                            "'org.acme.predictor.seasonal', got '{}'",
                                                            choice.id));
                         }});
        rules.push_back({"path", false, [&](const YAML::Node& value, const std::string& key_path) {
                             name_once("path", key_path);
                             choice.path = read_path(value, key_path);
                         }});
        rules.push_back({"params", false, [&](const YAML::Node& value, const std::string& key_path) {
                             choice.params_yaml = read_params(value, key_path);
                             slot.params = YAML::Clone(value);
                             slot.has_params = true;
                         }});
        rules.push_back({"sha256", false, [&](const YAML::Node& value, const std::string& key_path) {
                             choice.sha256 = read_sha256(value, key_path);
                         }});
        read_mapping(node, path, section, rules);
        slot.names_plugin = !named_by.empty();
        return slot;
    }

    /// The choice in force for a slot written as `change` over the choice it inherits: a slot that names its plugin
    /// replaces the inherited choice whole (another plugin's params rarely mean anything to this one); a slot that
    /// names none keeps the inherited plugin and pin, its params keys replacing those keys of the inherited params
    /// (each key's whole value; the other keys are kept).
    PluginChoice apply_slot(const PluginChoice& inherited, const SlotOverride& change) {
        if (change.names_plugin) return change.choice;
        PluginChoice result = inherited;
        result.key_path = change.choice.key_path;
        if (!change.choice.sha256.empty()) result.sha256 = change.choice.sha256;
        if (change.has_state) result.start_cold = change.choice.start_cold;
        if (change.has_params && change.params.IsMap()) {
            const std::string params_path = child_path(change.choice.key_path, "params");
            YAML::Node merged(YAML::NodeType::Map);
            try {
                // Text this reader emitted itself, so it parses; a mapping unless the inherited params were empty.
                if (!inherited.params_yaml.empty()) merged = YAML::Load(inherited.params_yaml);
            } catch (const YAML::Exception& error) {
                fail(params_path, "cannot read the inherited params: " + error.msg);
            }
            if (!merged.IsMap()) merged = YAML::Node(YAML::NodeType::Map);
            for (const auto& entry : change.params) {
                if (!entry.first.IsScalar())
                    fail(params_path,
                         "a params key that changes an inherited plugin's params must be a plain key, "
                         "got " +
                             describe_node(entry.first));
                merged[entry.first.Scalar()] = YAML::Clone(entry.second);
            }
            result.params_yaml = emit_block_style(merged, params_path);
        }
        return result;
    }

    std::string read_params(const YAML::Node& node, const std::string& path) {
        if (node.IsNull()) return {};
        if (!node.IsMap()) fail(path, "expected a mapping of parameter names to values, got " + describe_node(node));
        return emit_block_style(YAML::Clone(node), path);
    }

    /// `params` (a mapping this reader owns) re-emitted in block style: the text a PluginChoice keeps.
    std::string emit_block_style(YAML::Node params, const std::string& path) {
        force_block_style(params);
        YAML::Emitter emitter;
        emitter << params;
        if (!emitter.good()) fail(path, "cannot re-emit the params as YAML: " + emitter.GetLastError());
        return emitter.c_str();
    }

    std::string read_sha256(const YAML::Node& node, const std::string& path) {
        std::string digest = node.IsScalar() ? node.Scalar() : std::string();
        const bool valid = digest.size() == 64 && std::all_of(digest.begin(), digest.end(), [](char c) {
                               return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                           });
        if (!valid) fail(path, "expected 64 hexadecimal digits (a SHA-256), got " + describe_node(node));
        std::transform(digest.begin(), digest.end(), digest.begin(),
                       [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
        return digest;
    }

    void read_catalog(const YAML::Node& node, const std::string& path) {
        if (!node.IsSequence() || node.size() == 0)
            fail(path, node.IsSequence() ? std::string("expected at least one model, got an empty list")
                                         : "expected a non-empty list of models, got " + describe_node(node));
        std::unordered_map<std::string, std::size_t> first_index_of_pattern;
        for (std::size_t index = 0; index < node.size(); ++index) {
            const std::string entry_path = item_path(path, index);
            CatalogEntry entry;
            read_mapping(node[index], entry_path, kCatalogSection,
                         {
                             {"model", true,
                              [&](const YAML::Node& value, const std::string& key_path) {
                                  entry.pattern = read_non_empty_string(value, key_path);
                                  const auto [previous, inserted] =
                                      first_index_of_pattern.emplace(entry.pattern, index);
                                  if (!inserted)
                                      fail(key_path, fmt::format("model '{}' is already listed at {}", entry.pattern,
                                                                 item_path(path, previous->second)));
                              }},
                             {"memory_mb", true,
                              [&](const YAML::Node& value, const std::string& key_path) {
                                  entry.memory_mb = read_positive_number(value, key_path);
                              }},
                             {"load_ms", true,
                              [&](const YAML::Node& value, const std::string& key_path) {
                                  entry.load_ms = read_non_negative_number(value, key_path);
                              }},
                             {"unload_ms", false,
                              [&](const YAML::Node& value, const std::string& key_path) {
                                  entry.unload_ms = read_non_negative_number(value, key_path);
                              }},
                             {"priority", false,
                              [&](const YAML::Node& value, const std::string& key_path) {
                                  entry.priority = static_cast<uint32_t>(read_integer(value, key_path, 0, 15));
                              }},
                         });
            config_.catalog.push_back(std::move(entry));
        }
    }

    void read_arms(const YAML::Node& node, const std::string& path) {
        if (node.IsNull()) return;
        if (!node.IsSequence()) fail(path, "expected a list of arms, got " + describe_node(node));
        std::unordered_map<std::string, std::size_t> first_index_of_name;
        for (std::size_t index = 0; index < node.size(); ++index) {
            const std::string arm_path = item_path(path, index);
            PendingArm arm;
            bool has_components = false;
            read_mapping(node[index], arm_path, kArmSection,
                         {
                             {"name", true,
                              [&](const YAML::Node& value, const std::string& key_path) {
                                  arm.name = read_string(value, key_path);
                                  if (!is_plain_name(arm.name))
                                      fail(key_path,
                                           fmt::format("expected a name of [A-Za-z0-9._-]+, got '{}'", arm.name));
                                  const auto [previous, inserted] = first_index_of_name.emplace(arm.name, index);
                                  if (!inserted)
                                      fail(key_path, fmt::format("duplicate arm name '{}' (also {})", arm.name,
                                                                 item_path(path, previous->second)));
                              }},
                             {"components", false,
                              [&](const YAML::Node& value, const std::string& key_path) {
                                  has_components = true;
                                  arm.overrides = read_slots(value, key_path);
                              }},
                             {"yardstick", false,
                              [&](const YAML::Node& value, const std::string& key_path) {
                                  arm.yardstick = read_choice(value, key_path, {"oracle", "oracle-lean"});
                              }},
                             {"weight", false,
                              [&](const YAML::Node& value, const std::string& key_path) {
                                  arm.weight = read_positive_number(value, key_path);
                                  arm.weight_given = true;
                              }},
                             {"shadow", false,
                              [&](const YAML::Node& value, const std::string& key_path) {
                                  arm.shadow = read_flag(value, key_path);
                              }},
                         });
            if (has_components && !arm.yardstick.empty())
                fail(child_path(arm_path, "components"),
                     "a yardstick arm runs no plugins: remove 'components' or 'yardstick'");
            pending_arms_.push_back(std::move(arm));
        }
    }

    void read_sources(const YAML::Node& node, const std::string& path) {
        if (node.IsNull()) return;
        if (!node.IsSequence()) fail(path, "expected a list of sources, got " + describe_node(node));
        std::unordered_map<std::string, std::size_t> first_index_of_name;
        for (std::size_t index = 0; index < node.size(); ++index) {
            const std::string source_path = item_path(path, index);
            SourceConfig source;
            const auto read_name = [&](const YAML::Node& value, const std::string& key_path) {
                source.name = read_string(value, key_path);
                // The name is also a folder name under the state folder: "." and ".." would leave it.
                if (!is_plain_name(source.name) || source.name == "." || source.name == "..")
                    fail(key_path,
                         fmt::format("expected a name of [A-Za-z0-9._-]+ (not '.' or '..'), got '{}'", source.name));
                const auto [previous, inserted] = first_index_of_name.emplace(source.name, index);
                if (!inserted)
                    fail(key_path, fmt::format("duplicate source name '{}' (also {})", source.name,
                                               item_path(path, previous->second)));
            };
            const SlotOverride written =
                read_plugin_choice(node[index], source_path, kSourceSection, {{"name", true, read_name}});
            if (!written.names_plugin) fail(source_path, "missing required key 'plugin' (or 'path')");
            source.choice = written.choice;
            config_.sources.push_back(std::move(source));
        }
    }

    void read_replay(const YAML::Node& node, const std::string& path) {
        read_mapping(
            node, path, "replay",
            {
                {"seed", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     const auto seed = value.IsScalar() ? parse_integer<uint64_t>(value.Scalar()) : std::nullopt;
                     if (!seed)
                         fail(key_path,
                              "expected an integer in [0, 18446744073709551615], got " + describe_node(value));
                     config_.replay_seed = *seed;
                 }},
                {"timeline_buckets", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.timeline_buckets = static_cast<uint32_t>(read_integer(value, key_path, 10, 10000));
                 }},
                {"frontier", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.replay_frontier = read_flag(value, key_path);
                 }},
            });
    }

    bool read_flag(const YAML::Node& value, const std::string& key_path) {
        bool flag = false;
        if (!value.IsScalar() || !YAML::convert<bool>::decode(value, flag))
            fail(key_path, "expected true or false, got " + describe_node(value));
        return flag;
    }

    void read_experiment(const YAML::Node& node, const std::string& path) {
        read_mapping(node, path, "experiment",
                     {
                         {"enabled", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.experiment.enabled = read_flag(value, key_path);
                          }},
                         {"split", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.experiment.split = read_choice(value, key_path, {"tenant", "model"});
                          }},
                         {"control_weight", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.experiment.control_weight = read_positive_number(value, key_path);
                          }},
                     });
    }

    void read_reload(const YAML::Node& node, const std::string& path) {
        read_mapping(node, path, "reload",
                     {
                         {"watch_file", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              bool watch = false;
                              if (!value.IsScalar() || !YAML::convert<bool>::decode(value, watch))
                                  fail(key_path, "expected true or false, got " + describe_node(value));
                              config_.reload_watch_file = watch;
                          }},
                         {"poll_ms", false,
                          [&](const YAML::Node& value, const std::string& key_path) {
                              config_.reload_poll_ms =
                                  static_cast<uint32_t>(read_integer(value, key_path, 100, 3600000));
                          }},
                     });
    }

    void read_state(const YAML::Node& node, const std::string& path) {
        read_mapping(
            node, path, "state",
            {
                {"dir", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.state.dir = read_path(value, key_path);
                     state_dir_given_ = true;
                 }},
                {"enabled", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     state_enabled_ = read_flag(value, key_path);
                 }},
                {"snapshot_interval_s", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.state.snapshot_interval_s = static_cast<uint32_t>(read_integer(value, key_path, 1, 86400));
                 }},
                {"keep", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.state.keep = static_cast<uint32_t>(read_integer(value, key_path, 1, 1000));
                 }},
                {"history_retention_h", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.state.history_retention_h = static_cast<uint32_t>(read_integer(value, key_path, 0, 87600));
                 }},
                {"journal", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.state.journal = read_flag(value, key_path);
                 }},
                {"journal_retention_h", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     config_.state.journal_retention_h = static_cast<uint32_t>(read_integer(value, key_path, 0, 87600));
                 }},
            });
    }

    void read_cluster(const YAML::Node& node, const std::string& path) {
        ClusterConfig& cluster = config_.cluster;
        cluster.enabled = true;
        read_mapping(
            node, path, "cluster",
            {
                {"redis", true,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     cluster.redis_url = read_non_empty_string(value, key_path);
                     if (!cluster.redis_url.starts_with("redis://"))
                         fail(key_path, "expected redis://host:port, got '" + cluster.redis_url + "'");
                 }},
                {"node_id", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     cluster.node_id = read_non_empty_string(value, key_path);
                     const bool valid = std::all_of(cluster.node_id.begin(), cluster.node_id.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
                     });
                     if (!valid || cluster.node_id.size() > 128)
                         fail(key_path,
                              "expected [A-Za-z0-9._-]+ (at most 128 characters), got '" + cluster.node_id + "'");
                 }},
                {"advertise_url", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     cluster.advertise_url = read_string(value, key_path);
                 }},
                {"heartbeat_ms", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     cluster.heartbeat_ms = static_cast<uint32_t>(read_integer(value, key_path, 100, 60000));
                 }},
                {"load_slack", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     cluster.load_slack = read_non_negative_number(value, key_path);
                     if (cluster.load_slack > 4) fail(key_path, "expected a number 0..4");
                 }},
                {"replica_capacity_rps", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     cluster.replica_capacity_rps = read_non_negative_number(value, key_path);
                 }},
                {"forward_buffer", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     cluster.forward_buffer = static_cast<uint32_t>(read_integer(value, key_path, 1, 1 << 24));
                 }},
                {"key_prefix", false,
                 [&](const YAML::Node& value, const std::string& key_path) {
                     cluster.key_prefix = read_non_empty_string(value, key_path);
                 }},
            });
    }

    Config& config_;
    std::optional<bool> state_enabled_;  // state.enabled as written
    bool state_dir_given_ = false;       // state.dir written
    fs::path base_dir_;
    fs::path exe_dir_;
    std::vector<PendingArm> pending_arms_;
    SlotOverrides top_level_slots_;  // `components` as written; resolved against the shipped defaults at the end
    std::size_t nodes_visited_ = 0;
    // Where each slot was written under its deprecated key (key paths, document order), for the notices.
    std::array<std::vector<std::string>, kSlotCount> deprecated_slot_uses_;
};

/// Refuses a text that is not UTF-8, saying so, before yaml-cpp reads it. A configuration is UTF-8 text: it is kept
/// and handled as UTF-8 bytes (the support bundle redacts its tokens by searching for them in it; an operator greps and
/// diffs it). yaml-cpp on its own guesses: it decodes UTF-16 and UTF-32, reads UTF-8 text behind a UTF-16 mark as one
/// garbled scalar (refused as "expected a mapping of settings"), stops at a NUL byte with an "unknown escape
/// character" it shows as nothing, and takes a byte that is not UTF-8 (an accented letter saved as Latin-1) into a
/// name that no event can then match (events are UTF-8). So a UTF-16 or UTF-32 byte-order mark is refused at 1:1, a
/// NUL byte (no YAML character; UTF-16 text without a mark has one beside every ASCII character) and any other byte
/// that does not begin a valid UTF-8 sequence at its line and column (in characters, as an editor counts them). A
/// UTF-8 byte-order mark is valid YAML and passes: yaml-cpp skips it.
void refuse_text_that_is_not_utf8(std::string_view yaml_text, const std::string& display_name) {
    constexpr std::string_view kSaveAsUtf8 = "save the file as UTF-8";
    // Longest first: the UTF-32 little-endian mark begins with the UTF-16 one.
    static constexpr std::pair<std::string_view, std::string_view> kForeignMarks[] = {
        {std::string_view("\x00\x00\xfe\xff", 4), "UTF-32 (big-endian)"},
        {std::string_view("\xff\xfe\x00\x00", 4), "UTF-32 (little-endian)"},
        {"\xfe\xff", "UTF-16 (big-endian)"},
        {"\xff\xfe", "UTF-16 (little-endian)"},
    };
    for (const auto& [mark, encoding] : kForeignMarks)
        if (yaml_text.starts_with(mark))
            throw ConfigError(
                display_name, 1, 1, "",
                fmt::format("not UTF-8 text: it starts with a {} byte-order mark; {}", encoding, kSaveAsUtf8));
    // Line and column (1-based, in characters: continuation bytes do not count) of the byte at `offset`.
    const auto refuse_at = [&](std::size_t offset, const std::string& message) {
        const std::string_view before = yaml_text.substr(0, offset);
        const std::size_t last_newline = before.rfind('\n');
        const std::string_view line_before =
            last_newline == std::string_view::npos ? before : before.substr(last_newline + 1);
        const auto line = static_cast<uint32_t>(std::count(before.begin(), before.end(), '\n') + 1);
        const auto characters = std::count_if(line_before.begin(), line_before.end(),
                                              [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; });
        throw ConfigError(display_name, line, static_cast<uint32_t>(characters + 1), "", message);
    };
    if (const std::size_t nul = yaml_text.find('\0'); nul != std::string_view::npos)
        refuse_at(nul, fmt::format("not UTF-8 text: it contains NUL bytes, the first here (byte offset {}); {} (text "
                                   "saved as UTF-16 has a NUL beside every ASCII character)",
                                   nul, kSaveAsUtf8));
    if (const std::optional<std::size_t> bad = first_invalid_utf8(yaml_text))
        refuse_at(*bad,
                  fmt::format("not UTF-8 text: the byte 0x{:02x} here (byte offset {}) does not begin a UTF-8 "
                              "character; {} (text saved as Latin-1 or Windows-1252 has such bytes for "
                              "accented letters)",
                              static_cast<unsigned>(static_cast<unsigned char>(yaml_text[*bad])), *bad, kSaveAsUtf8));
}

/// Refuses, with its position, a text on which YAML::LoadAll of yaml-cpp 0.7.0 (Debian 12) never returns.
///
/// Why it hangs: SingleDocParser::HandleNode answers a token it has no case for with a null node and does not consume
/// the token; LoadAll then asks for the next document, which starts at the same token, forever, allocating a node
/// per round. At the top of a document, in 0.7.0, that token is nearly always a ',' outside any [...] or {...} (e.g.
/// "\t, : :" or a line starting with ","): of the 376,593 hanging texts among all texts of up to 5 characters over the
/// YAML indicators, blanks and a letter, all but 6 stop at a ','; those 6 stop at a '?' after a tagged empty block
/// scalar ("!|\n? "). Upstream: jbeder/yaml-cpp#1040; LoadAll was fixed by #1319 (2024), after 0.8.0.
///
/// How this knows: it walks the documents with yaml-cpp's own Parser, whose HandleNextDocument parses one document
/// and returns, and stops at the first document that starts where the previous one did, i.e. one that consumed no
/// token. That is exactly LoadAll's non-terminating case: a document that consumes a token moves the start of the
/// next one, and the tokens are finite. So no text LoadAll can read is refused, and the check costs one extra parse
/// of the text (configuration files are small). YAML::Exception (a plain syntax error) passes through to the caller.
void refuse_text_yaml_cpp_cannot_finish(const std::string& yaml_text, const std::string& display_name) {
    const YamlDocumentScan scan = scan_yaml_documents(yaml_text);
    if (!scan.stuck) return;
    const YAML::Mark start = scan.starts.back();  // the next document would start here again
    const SourcePosition position = to_position(start);
    const char token = start.pos >= 0 && static_cast<std::size_t>(start.pos) < yaml_text.size()
                           ? yaml_text[static_cast<std::size_t>(start.pos)]
                           : '?';
    const std::string advice = token == ','
                                   ? "outside [...] or {...} a comma cannot start a value: quote the value that holds "
                                     "it, or remove it"
                                   : "remove or quote it";
    throw ConfigError(
        display_name, position.line, position.column, "",
        fmt::format("unexpected '{}' here; {} (yaml-cpp 0.7 would never finish reading this file)", token, advice));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------------
// Entry points

const Components& shipped_default_components() {
    // Read once from the compiled-in configs/default.yaml; a C++ static initialised on first use is thread-safe.
    static const Components components = [] {
        Config scratch;
        scratch.display_name = "<embedded default.yaml>";
        YAML::Node root;
        try {
            root = YAML::Load(std::string(embedded_default_config));
        } catch (const YAML::Exception& error) {
            const SourcePosition position = to_position(error.mark);
            throw ConfigError(scratch.display_name, position.line, position.column, "", error.msg);
        }
        return ConfigReader(scratch, "/", {}).read_shipped_components(root);
    }();
    return components;
}

Config load_config_text(std::string_view yaml_text, const std::string& display_name, const fs::path& base_dir,
                        const fs::path& exe_dir) {
    Config config;
    config.display_name = display_name;
    config.source_text = std::string(yaml_text);

    refuse_text_that_is_not_utf8(config.source_text, display_name);
    std::vector<YAML::Node> documents;
    try {
        refuse_text_yaml_cpp_cannot_finish(config.source_text, display_name);  // before LoadAll, which would hang
        documents = YAML::LoadAll(config.source_text);
    } catch (const YAML::Exception& error) {
        const SourcePosition position = to_position(error.mark);
        throw ConfigError(display_name, position.line, position.column, "", error.msg);
    }
    if (documents.size() > 1) {
        const SourcePosition position = to_position(documents[1].Mark());
        throw ConfigError(display_name, position.line, position.column, "",
                          fmt::format("expected one YAML document, found {}", documents.size()));
    }
    const YAML::Node root = documents.empty() ? YAML::Node() : documents.front();

    ConfigReader(config, base_dir, exe_dir).read(root);
    return config;
}

FileStamp file_stamp(const fs::path& file) {
    std::error_code time_error;
    std::error_code size_error;
    const auto modified = fs::last_write_time(file, time_error);
    const auto size = fs::file_size(file, size_error);
    return {time_error ? fs::file_time_type{} : modified, size_error ? 0 : size};
}

Config load_config_file(const fs::path& file, const fs::path& exe_dir) {
    // Before the file is opened: an edit saved from here on, during the read included, gives another stamp.
    const FileStamp stamp = file_stamp(file);
    const FileContent text = read_file(file, FileKind::any_but_a_folder);
    switch (text.failure) {
        case FileContent::Failure::none:
            break;
        case FileContent::Failure::folder:  // a folder read as empty would be reported as its first missing key
            throw ConfigError(file.string(), 1, 1, "", "is a folder, not a configuration file");
        case FileContent::Failure::cannot_open:
            throw ConfigError(file.string(), 1, 1, "", "cannot open the file: " + text.problem());
        default:
            throw ConfigError(file.string(), 1, 1, "",
                              fmt::format("cannot read the file: {}", std::strerror(text.error)));
    }

    const fs::path absolute_file = fs::absolute(file).lexically_normal();
    Config config = load_config_text(text.bytes, file.string(), absolute_file.parent_path(), exe_dir);
    config.source_file = absolute_file;
    config.source_stamp = stamp;
    // A daemon started from a file keeps its state beside it unless the file says otherwise.
    if (!config.key_positions.contains("state.enabled") && !config.key_positions.contains("state.dir"))
        config.state.enabled = true;
    return config;
}

}  // namespace warmup::host
