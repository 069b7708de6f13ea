// replay/trace/synth_scenario.cpp — reads and validates a scenario file (YAML) into a synth::Scenario.
//
// Every unknown key, duplicate key, missing required key and bad value is refused with a TraceError located at the
// node: "<file>:<line>:<col>: <key.path>: <message>". The reader walks only the keys of the schema (never a whole
// tree), so a YAML alias cannot make it loop or explode. Pure function of the file's text.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>

#include "config/yaml_documents.hpp"
#include "core/duration.hpp"
#include "core/file_io.hpp"
#include "replay/trace/line_reader.hpp"
#include "replay/trace/synth_trace.hpp"

namespace warmup::host::replay::synth {
namespace {

constexpr int64_t minute_ms = 60'000;
constexpr int64_t hour_ms = 3'600'000;
constexpr int64_t day_ms = 86'400'000;
constexpr int64_t max_duration_ms = 3660 * day_ms;         // ten years: beyond that a trace is a typo
constexpr uint32_t max_count = 100'000;                    // instances of one entry
constexpr uint32_t max_requests = 1'000'000;               // per burst, occurrence or follow-up
constexpr int64_t monday_reference_epoch_ms = 4 * day_ms;  // 1970-01-05, a Monday

/// A 1-based position for messages; yaml-cpp marks are 0-based and null (-1) for nodes without a position.
struct Where {
    std::string path;
    YAML::Mark mark;
};

Where child(const Where& parent, const std::string& key, const YAML::Mark& mark) {
    return {parent.path.empty() ? key : parent.path + "." + key, mark};
}

Where item(const Where& parent, std::size_t index, const YAML::Mark& mark) {
    return {fmt::format("{}[{}]", parent.path, index), mark};
}

class ScenarioReader {
  public:
    explicit ScenarioReader(std::string file) : file_(std::move(file)) {}

    Scenario read(const std::string& text) {
        YAML::Node root;
        try {
            const YamlDocumentScan scan = scan_yaml_documents(text, 2);
            if (scan.stuck) {
                // A token no document can start with (in yaml-cpp 0.7 nearly always a ',' outside [...] or {...}).
                const YAML::Mark start = scan.starts.back();
                const auto pos = static_cast<std::size_t>(std::max(0, start.pos));
                fail({"", start},
                     fmt::format("unexpected '{}' here; remove or quote it", pos < text.size() ? text[pos] : '?'));
            }
            if (scan.starts.size() == 2) fail({"", scan.starts.back()}, "expected one YAML document, found more");
            root = YAML::Load(text);
        } catch (const YAML::Exception& error) {
            fail({"", error.mark}, error.msg);
        }
        const Where top{"", root.Mark()};
        if (!root.IsMap()) fail(top, "expected a mapping with duration and models, got " + describe_node(root));

        Scenario scenario;
        YAML::Node models_node;  // read after `duration`, which it is checked against
        Where models_where;
        read_mapping(root, top,
                     {
                         {"duration", true,
                          [&](const YAML::Node& value, const Where& where) {
                              scenario.duration_ms = read_duration(value, where);
                              if (scenario.duration_ms <= 0 || scenario.duration_ms > max_duration_ms)
                                  fail(where, "expected a duration above 0 and at most 3660d");
                          }},
                         {"start", false,
                          [&](const YAML::Node& value, const Where& where) {
                              scenario.start_epoch_ms = read_start(value, where);
                          }},
                         {"models", true,
                          [&](const YAML::Node& value, const Where& where) {
                              models_node = value;
                              models_where = where;
                          }},
                     });
        if (!read_start_given_) scenario.start_epoch_ms = monday_reference_epoch_ms;
        duration_ms_ = scenario.duration_ms;
        read_models(models_node, models_where, scenario);
        return scenario;
    }

  private:
    struct KeyRule {
        std::string_view key;
        bool required;
        std::function<void(const YAML::Node& value, const Where& where)> read;
    };

    [[noreturn]] void fail(const Where& where, const std::string& message) const {
        const bool located = !where.mark.is_null() && where.mark.line >= 0 && where.mark.column >= 0;
        const std::string reason = where.path.empty() ? message : where.path + ": " + message;
        if (!located) throw TraceError(file_, 0, reason);
        throw TraceError(file_, static_cast<uint64_t>(where.mark.line) + 1,
                         static_cast<uint64_t>(where.mark.column) + 1, reason);
    }

    /// The node's own position when it has one, else `where`'s (the key that names it).
    static Where at(const YAML::Node& node, const Where& where) {
        const YAML::Mark mark = node.Mark();
        return {where.path, mark.is_null() || mark.line < 0 ? where.mark : mark};
    }

    /// Hands each key of `node` (a mapping) to its rule in document order; refuses unknown and duplicate keys, then
    /// reports a missing required key at the mapping.
    void read_mapping(const YAML::Node& node, const Where& where, const std::vector<KeyRule>& rules) {
        if (!node.IsMap()) fail(at(node, where), "expected a mapping, got " + describe_node(node));
        std::vector<bool> seen(rules.size(), false);
        for (const auto& entry : node) {
            if (!entry.first.IsScalar())
                fail(at(entry.first, where), "expected a plain key, got " + describe_node(entry.first));
            const std::string& key = entry.first.Scalar();
            const Where key_where = child(where, key, entry.first.Mark());
            const auto rule = std::find_if(rules.begin(), rules.end(), [&](const KeyRule& r) { return r.key == key; });
            if (rule == rules.end()) {
                std::string known;
                for (const KeyRule& r : rules) known += (known.empty() ? "" : ", ") + std::string(r.key);
                fail(key_where, fmt::format("unknown key '{}' (expected one of: {})", key, known));
            }
            const auto index = static_cast<std::size_t>(rule - rules.begin());
            if (seen[index]) fail(key_where, fmt::format("duplicate key '{}'", key));
            seen[index] = true;
            rule->read(entry.second, at(entry.second, key_where));
        }
        for (std::size_t index = 0; index < rules.size(); ++index)
            if (rules[index].required && !seen[index])
                fail(where, fmt::format("missing required key '{}'", rules[index].key));
    }

    // ----- scalars

    std::string read_string(const YAML::Node& node, const Where& where) {
        if (!node.IsScalar()) fail(where, "expected a string, got " + describe_node(node));
        return node.Scalar();
    }

    double read_number(const YAML::Node& node, const Where& where, double min, double max) {
        double value = 0;
        std::string_view text = node.IsScalar() ? std::string_view(node.Scalar()) : std::string_view();
        if (!text.empty() && text.front() == '+') text.remove_prefix(1);
        if (!node.IsScalar() || !parse_double(text, value) || value < min || value > max)
            fail(where, fmt::format("expected a number in [{}, {}], got {}", min, max, describe_node(node)));
        return value;
    }

    /// A number in (0, max]; every refusal states that range.
    double read_positive(const YAML::Node& node, const Where& where, double max) {
        double value = 0;
        std::string_view text = node.IsScalar() ? std::string_view(node.Scalar()) : std::string_view();
        if (!text.empty() && text.front() == '+') text.remove_prefix(1);
        if (!node.IsScalar() || !parse_double(text, value) || value <= 0 || value > max)
            fail(where, fmt::format("expected a number above 0 and at most {}, got {}", max, describe_node(node)));
        return value;
    }

    int64_t read_integer(const YAML::Node& node, const Where& where, int64_t min, int64_t max) {
        int64_t value = 0;
        if (!node.IsScalar() || !parse_integer(node.Scalar(), value) || value < min || value > max)
            fail(where, fmt::format("expected an integer in [{}, {}], got {}", min, max, describe_node(node)));
        return value;
    }

    /// "<number><unit>" with unit ms, s, m, h or d, e.g. 90s, 1.5h, 14d. Whole milliseconds.
    int64_t read_duration(const YAML::Node& node, const Where& where) {
        // The command line's reader (--from, --to), so a duration is written the same way everywhere.
        const auto ms = node.IsScalar() ? parse_duration_ms(node.Scalar(), /*bare_number_is_ms=*/false) : std::nullopt;
        if (!ms || *ms > max_duration_ms)
            fail(where, fmt::format("expected a duration like 500ms, 90s, 30m, 12h or 7d, at most 3660d, got {}",
                                    describe_node(node)));
        return *ms;
    }

    /// Epoch milliseconds, or a UTC date "YYYY-MM-DD" optionally followed by "THH:MM" or " HH:MM".
    int64_t read_start(const YAML::Node& node, const Where& where) {
        read_start_given_ = true;
        const std::string text = node.IsScalar() ? node.Scalar() : std::string();
        if (int64_t epoch_ms = 0; parse_integer(text, epoch_ms)) {
            if (epoch_ms < 0) fail(where, "expected epoch milliseconds >= 0");
            return epoch_ms;
        }
        int year = 0;
        unsigned month = 0, day = 0, hour = 0, minute = 0;
        const bool date_only = text.size() == 10;
        const bool with_time = text.size() == 16 && (text[10] == 'T' || text[10] == ' ') && text[13] == ':';
        const bool parsed = (date_only || with_time) && text[4] == '-' && text[7] == '-' &&
                            parse_integer(std::string_view(text).substr(0, 4), year) &&
                            parse_integer(std::string_view(text).substr(5, 2), month) &&
                            parse_integer(std::string_view(text).substr(8, 2), day) &&
                            (date_only || (parse_integer(std::string_view(text).substr(11, 2), hour) &&
                                           parse_integer(std::string_view(text).substr(14, 2), minute)));
        const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                               std::chrono::day(day)};
        if (!parsed || year < 1970 || !date.ok() || hour > 23 || minute > 59)
            fail(where, fmt::format("expected epoch milliseconds or a UTC date like 2024-06-03 or 2024-06-03T08:00, "
                                    "got {}",
                                    describe_node(node)));
        const auto days = std::chrono::sys_days(date).time_since_epoch().count();
        return static_cast<int64_t>(days) * day_ms + static_cast<int64_t>(hour) * hour_ms + minute * minute_ms;
    }

    /// [min, max] of numbers in [low, high], min <= max; a single number means [x, x].
    std::pair<double, double> read_range(const YAML::Node& node, const Where& where, double low, double high) {
        if (node.IsScalar()) {
            const double value = read_number(node, where, low, high);
            return {value, value};
        }
        if (!node.IsSequence() || node.size() != 2)
            fail(where, "expected a number or a list [min, max], got " + describe_node(node));
        const double first = read_number(node[0], item(where, 0, node[0].Mark()), low, high);
        const double second = read_number(node[1], item(where, 1, node[1].Mark()), low, high);
        if (first > second)
            fail(where, fmt::format("expected [min, max] with min <= max, got [{}, {}]", first, second));
        return {first, second};
    }

    CountRange read_count_range(const YAML::Node& node, const Where& where) {
        const auto [low, high] = read_range(node, where, 1, max_requests);
        if (low != std::floor(low) || high != std::floor(high)) fail(where, "expected whole numbers of requests");
        return {static_cast<uint32_t>(low), static_cast<uint32_t>(high)};
    }

    /// {mean: x, cv: y} (cv default 1), or a number meaning {mean: x}.
    Spread read_spread(const YAML::Node& node, const Where& where, double max_mean) {
        Spread spread;
        if (node.IsScalar()) {
            spread.mean = read_positive(node, where, max_mean);
            return spread;
        }
        read_mapping(
            node, where,
            {
                {"mean", true,
                 [&](const YAML::Node& v, const Where& w) { spread.mean = read_positive(v, w, max_mean); }},
                {"cv", false, [&](const YAML::Node& v, const Where& w) { spread.cv = read_number(v, w, 0, 10); }},
            });
        return spread;
    }

    /// "HH:MM", "Ddd HH:MM" (Mon..Sun) or a duration: the offset of the firings within the period.
    int64_t read_at(const YAML::Node& node, const Where& where) {
        static constexpr std::array<std::string_view, 7> weekdays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
        std::string text = node.IsScalar() ? node.Scalar() : std::string();
        int64_t offset_ms = 0;
        if (text.size() > 4 && text[3] == ' ') {
            const auto day = std::find(weekdays.begin(), weekdays.end(), std::string_view(text).substr(0, 3));
            if (day == weekdays.end()) fail(where, fmt::format("unknown weekday in '{}' (expected Mon..Sun)", text));
            offset_ms = (day - weekdays.begin()) * day_ms;
            text = text.substr(4);
        }
        unsigned hour = 0, minute = 0;
        if (text.size() == 5 && text[2] == ':' && parse_integer(std::string_view(text).substr(0, 2), hour) &&
            parse_integer(std::string_view(text).substr(3, 2), minute) && hour <= 23 && minute <= 59)
            return offset_ms + hour * hour_ms + minute * minute_ms;
        if (offset_ms != 0 || !node.IsScalar() || node.Scalar().find(':') != std::string::npos)
            fail(where, fmt::format("expected HH:MM, Ddd HH:MM or a duration, got {}", describe_node(node)));
        return read_duration(node, where);
    }

    /// A time within the trace: a duration from ts 0, at most the trace's duration.
    int64_t read_trace_time(const YAML::Node& node, const Where& where) {
        const int64_t value = read_duration(node, where);
        if (value > duration_ms_)
            fail(where, fmt::format("{} is after the end of the trace (duration {} h)", describe_node(node),
                                    static_cast<double>(duration_ms_) / hour_ms));
        return value;
    }

    // ----- rhythms

    static RhythmKind kind_of(const std::string& name) {
        if (name == "working_hours") return RhythmKind::working_hours;
        if (name == "periodic") return RhythmKind::periodic;
        if (name == "poisson") return RhythmKind::poisson;
        return RhythmKind::rare;
    }

    static Rhythm defaults_of(RhythmKind kind) {
        Rhythm rhythm;
        rhythm.kind = kind;
        rhythm.weekend_factor = kind == RhythmKind::working_hours ? 0 : 1;
        return rhythm;
    }

    /// A rhythm mapping. With `base` (a drift), the keys given change `base` and nothing is required, unless `kind`
    /// names another kind: then it is a new rhythm of that kind, read as from scratch.
    // Long: one block per rhythm kind and its keys, in the order docs/scenarios.md documents them.
    Rhythm read_rhythm(const YAML::Node& node, const Where& where, const Rhythm* base) {
        if (!node.IsMap()) fail(where, "expected a mapping with kind and its settings, got " + describe_node(node));
        std::optional<RhythmKind> kind;
        for (const auto& entry : node) {
            if (!entry.first.IsScalar() || entry.first.Scalar() != "kind") continue;
            const Where kind_where = at(entry.second, child(where, "kind", entry.first.Mark()));
            const std::string name = entry.second.IsScalar() ? entry.second.Scalar() : std::string();
            if (name != "working_hours" && name != "periodic" && name != "poisson" && name != "rare")
                fail(kind_where,
                     "expected one of working_hours | periodic | poisson | rare, got " + describe_node(entry.second));
            kind = kind_of(name);
        }
        if (!kind && !base) fail(where, "missing required key 'kind'");
        const bool fresh = !base || (kind && *kind != base->kind);
        Rhythm rhythm = fresh ? defaults_of(*kind) : *base;
        const bool required = fresh;

        std::vector<KeyRule> rules = {
            {"kind", false, [](const YAML::Node&, const Where&) {}},
            {"weekend_factor", false,
             [&](const YAML::Node& v, const Where& w) { rhythm.weekend_factor = read_number(v, w, 0, 1); }},
        };
        std::optional<std::pair<double, double>> lunch;
        switch (rhythm.kind) {
            case RhythmKind::working_hours:
                rules.push_back({"hours", required, [&](const YAML::Node& v, const Where& w) {
                                     std::tie(rhythm.hours_begin_h, rhythm.hours_end_h) = read_range(v, w, 0, 24);
                                     if (rhythm.hours_begin_h == rhythm.hours_end_h)
                                         fail(w, "expected [begin, end] local hours with begin < end");
                                 }});
                rules.push_back(
                    {"lunch", false, [&](const YAML::Node& v, const Where& w) { lunch = read_range(v, w, 0, 24); }});
                rules.push_back({"lunch_factor", false, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.lunch_factor = read_number(v, w, 0, 1);
                                 }});
                rules.push_back({"sessions_per_day", required, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.sessions_per_day = read_positive(v, w, 100'000);
                                 }});
                rules.push_back({"session_minutes", required, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.session_minutes = read_spread(v, w, 24 * 60);
                                 }});
                rules.push_back({"requests_per_minute_in_session", required, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.requests_per_minute = read_spread(v, w, 6000);
                                 }});
                break;
            case RhythmKind::periodic:
                rules.push_back({"every", required, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.every_ms = read_duration(v, w);
                                     if (rhythm.every_ms < minute_ms) fail(w, "expected a period of at least 1m");
                                 }});
                rules.push_back(
                    {"at", false, [&](const YAML::Node& v, const Where& w) { rhythm.at_ms = read_at(v, w); }});
                rules.push_back({"jitter_minutes", false, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.jitter_minutes = read_number(v, w, 0, 7 * 24 * 60);
                                 }});
                rules.push_back({"burst_requests", required, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.burst_requests = read_count_range(v, w);
                                 }});
                rules.push_back({"burst_minutes", false, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.burst_minutes = read_number(v, w, 0, 7 * 24 * 60);
                                 }});
                rules.push_back({"probability", false, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.probability = read_number(v, w, 0, 1);
                                 }});
                break;
            case RhythmKind::poisson:
                rules.push_back({"rate_per_hour", required, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.occurrences_per_hour = read_positive(v, w, 3.6e6);
                                 }});
                rules.push_back({"diurnal_amplitude", false, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.diurnal_amplitude = read_number(v, w, 0, 1);
                                 }});
                rules.push_back({"peak_hour", false, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.peak_hour = read_number(v, w, 0, 24);
                                 }});
                break;
            case RhythmKind::rare:
                rules.push_back({"mean_gap_hours", required, [&](const YAML::Node& v, const Where& w) {
                                     rhythm.occurrences_per_hour = 1.0 / read_positive(v, w, 1e6);
                                 }});
                break;
        }
        if (rhythm.kind == RhythmKind::poisson || rhythm.kind == RhythmKind::rare) {
            rules.push_back({"requests", false,
                             [&](const YAML::Node& v, const Where& w) { rhythm.requests = read_count_range(v, w); }});
            rules.push_back({"request_gap_seconds", false, [&](const YAML::Node& v, const Where& w) {
                                 rhythm.request_gap_seconds = read_positive(v, w, 86'400);
                             }});
        }
        read_mapping(node, where, rules);

        if (rhythm.kind == RhythmKind::working_hours) {
            if (lunch) std::tie(rhythm.lunch_begin_h, rhythm.lunch_end_h) = *lunch;
            if (rhythm.lunch_begin_h < rhythm.lunch_end_h &&
                (rhythm.lunch_begin_h < rhythm.hours_begin_h || rhythm.lunch_end_h > rhythm.hours_end_h))
                fail(where, fmt::format("lunch [{}, {}] must lie inside hours [{}, {}]", rhythm.lunch_begin_h,
                                        rhythm.lunch_end_h, rhythm.hours_begin_h, rhythm.hours_end_h));
        }
        if (rhythm.kind == RhythmKind::periodic && rhythm.at_ms >= rhythm.every_ms)
            fail(where, fmt::format("at ({} min into the period) must be less than every ({} min)",
                                    rhythm.at_ms / minute_ms, rhythm.every_ms / minute_ms));
        return rhythm;
    }

    // ----- models

    /// A value given once for all instances, or a list of one per instance.
    template <typename T, typename ReadOne>
    std::vector<T> read_per_instance(const YAML::Node& node, const Where& where, uint32_t count, ReadOne read_one) {
        std::vector<T> values;
        if (node.IsSequence()) {
            if (node.size() != count)
                fail(where, fmt::format("expected one value or a list of {} (one per instance, count {}), got a list "
                                        "of {}",
                                        count, count, node.size()));
            for (std::size_t i = 0; i < node.size(); ++i)
                values.push_back(read_one(node[i], item(where, i, node[i].Mark())));
        } else {
            values.assign(count, read_one(node, where));
        }
        return values;
    }

    static std::string expand(const std::string& pattern, uint32_t index) {
        std::string text = pattern;
        for (std::size_t at = text.find("{i}"); at != std::string::npos; at = text.find("{i}", at)) {
            const std::string digits = std::to_string(index);
            text.replace(at, 3, digits);
            at += digits.size();
        }
        return text;
    }

    /// A name pattern: non-empty, no ',' or newline (the native csv format carries it), '{' and '}' only in {i}.
    std::string read_name_pattern(const YAML::Node& node, const Where& where, bool allow_empty) {
        const std::string text = read_string(node, where);
        if (text.empty() && !allow_empty) fail(where, "expected a non-empty name");
        if (text.find_first_of(",\r\n") != std::string::npos) fail(where, "a name cannot contain ',' or a line break");
        const std::string without = [&] {
            std::string copy = text;
            for (std::size_t at = copy.find("{i}"); at != std::string::npos; at = copy.find("{i}")) copy.erase(at, 3);
            return copy;
        }();
        if (without.find_first_of("{}") != std::string::npos)
            fail(where, "'{' and '}' are allowed only as {i} (the instance index)");
        return text;
    }

    struct PendingFollower {
        std::string leader;
        Follower follower;
        Where where;  // of the follower's `model` value
    };

    // Long: one block per key of a model entry, in the order docs/scenarios.md documents them.
    void read_models(const YAML::Node& node, const Where& where, Scenario& scenario) {
        if (!node.IsSequence() || node.size() == 0) fail(where, "expected a non-empty list of models");
        std::map<std::string, Where> names;
        std::vector<PendingFollower> followers;
        std::vector<bool> followed;

        for (std::size_t entry_index = 0; entry_index < node.size(); ++entry_index) {
            const YAML::Node entry = node[entry_index];
            const Where entry_where = item(where, entry_index, entry.Mark());
            std::string name_pattern, tenant_pattern;
            Where name_where;
            uint32_t count = 1;
            // Kept for after the mapping (handles share the document's nodes); read once `count` is known.
            std::optional<YAML::Node> timezones, appears, retires, rhythm_node, drift_node, followers_node;
            Where timezones_where, appears_where, retires_where, rhythm_where, drift_where, followers_where;
            double activity_min = 1, activity_max = 1;
            const auto keep = [](std::optional<YAML::Node>& slot, Where& slot_where) {
                return [&slot, &slot_where](const YAML::Node& v, const Where& w) {
                    slot = v;
                    slot_where = w;
                };
            };
            read_mapping(
                entry, entry_where,
                {
                    {"name", true,
                     [&](const YAML::Node& v, const Where& w) {
                         name_pattern = read_name_pattern(v, w, false);
                         name_where = w;
                     }},
                    {"count", false,
                     [&](const YAML::Node& v, const Where& w) {
                         count = static_cast<uint32_t>(read_integer(v, w, 1, max_count));
                     }},
                    {"tenant", false,
                     [&](const YAML::Node& v, const Where& w) { tenant_pattern = read_name_pattern(v, w, true); }},
                    {"timezone_offset_h", false, keep(timezones, timezones_where)},
                    {"appears_at", false, keep(appears, appears_where)},
                    {"retires_at", false, keep(retires, retires_where)},
                    {"activity", false,
                     [&](const YAML::Node& v, const Where& w) {
                         std::tie(activity_min, activity_max) = read_range(v, w, 1e-3, 1e3);
                         if (activity_min <= 0) fail(w, "expected factors above 0");
                     }},
                    {"rhythm", false, keep(rhythm_node, rhythm_where)},
                    {"drift", false, keep(drift_node, drift_where)},
                    {"followers", false, keep(followers_node, followers_where)},
                });
            if (count > 1 && name_pattern.find("{i}") == std::string::npos)
                fail(name_where, fmt::format("count is {}: the name needs {{i}} to tell the instances apart", count));

            // Per-instance values (the count is known only now: keys may come in any order).
            const auto timezone_of = [&](const YAML::Node& v, const Where& w) { return read_number(v, w, -14, 14); };
            const auto time_of = [&](const YAML::Node& v, const Where& w) { return read_trace_time(v, w); };
            const std::vector<double> offsets =
                timezones ? read_per_instance<double>(*timezones, timezones_where, count, timezone_of)
                          : std::vector<double>(count, 0.0);
            const std::vector<int64_t> appears_ms =
                appears ? read_per_instance<int64_t>(*appears, appears_where, count, time_of)
                        : std::vector<int64_t>(count, 0);
            const std::vector<int64_t> retires_ms =
                retires ? read_per_instance<int64_t>(*retires, retires_where, count, time_of)
                        : std::vector<int64_t>(count, scenario.duration_ms);

            std::vector<RhythmPhase> phases;
            if (rhythm_node) phases.push_back({0, read_rhythm(*rhythm_node, rhythm_where, nullptr)});
            if (drift_node) read_drift(*drift_node, drift_where, phases);

            std::vector<std::pair<std::string, Follower>> follower_patterns;
            std::vector<Where> follower_wheres;
            if (followers_node) {
                if (!followers_node->IsSequence())
                    fail(followers_where, "expected a list of followers, got " + describe_node(*followers_node));
                for (std::size_t i = 0; i < followers_node->size(); ++i) {
                    const YAML::Node f = (*followers_node)[i];
                    Where model_where;
                    Follower follower = read_follower(f, item(followers_where, i, f.Mark()), model_where);
                    follower_patterns.emplace_back(follower.model, follower);
                    follower_wheres.push_back(model_where);
                }
            }

            for (uint32_t index = 0; index < count; ++index) {
                ModelSpec model;
                model.name = expand(name_pattern, index);
                model.tenant = expand(tenant_pattern, index);
                model.timezone_offset_h = offsets[index];
                model.appears_ms = appears_ms[index];
                model.retires_ms = retires_ms[index];
                if (model.retires_ms <= model.appears_ms)
                    fail(retires ? retires_where : appears_where,
                         fmt::format("model '{}' retires at or before it appears", model.name));
                model.activity_min = activity_min;
                model.activity_max = activity_max;
                model.phases = phases;
                for (std::size_t f = 0; f < follower_patterns.size(); ++f) {
                    Follower follower = follower_patterns[f].second;
                    follower.model = expand(follower_patterns[f].first, index);
                    followers.push_back({model.name, follower, follower_wheres[f]});
                    model.followers.push_back(std::move(follower));
                }
                if (const auto [previous, inserted] = names.emplace(model.name, name_where); !inserted)
                    fail(name_where, fmt::format("model '{}' is also named by {}", model.name, previous->second.path));
                scenario.models.push_back(std::move(model));
            }
        }

        // Every follower names a model of the scenario; a model without a rhythm must be someone's follower.
        std::map<std::string, std::size_t> index_of;
        for (std::size_t i = 0; i < scenario.models.size(); ++i) index_of.emplace(scenario.models[i].name, i);
        followed.assign(scenario.models.size(), false);
        for (const PendingFollower& pending : followers) {
            const auto found = index_of.find(pending.follower.model);
            if (found == index_of.end())
                fail(pending.where, fmt::format("'{}' (follower of '{}') is not a model of this scenario",
                                                pending.follower.model, pending.leader));
            if (pending.follower.model == pending.leader)
                fail(pending.where, fmt::format("'{}' cannot follow itself", pending.leader));
            followed[found->second] = true;
        }
        for (std::size_t i = 0; i < scenario.models.size(); ++i) {
            if (scenario.models[i].phases.empty() && !followed[i])
                fail(names.at(scenario.models[i].name),
                     fmt::format("model '{}' has no rhythm and follows no model: it would never be requested",
                                 scenario.models[i].name));
        }
    }

    /// `drift`: one mapping or a list of {at, rhythm}, `at` increasing; each changes the rhythm in force.
    void read_drift(const YAML::Node& node, const Where& where, std::vector<RhythmPhase>& phases) {
        std::vector<std::pair<YAML::Node, Where>> entries;
        if (node.IsMap()) {
            entries.emplace_back(node, where);
        } else if (node.IsSequence() && node.size() > 0) {
            for (std::size_t i = 0; i < node.size(); ++i) entries.emplace_back(node[i], item(where, i, node[i].Mark()));
        } else {
            fail(where, "expected {at: <time>, rhythm: {...}} or a list of them, got " + describe_node(node));
        }
        for (const auto& [entry, entry_where] : entries) {
            int64_t at_ms = 0;
            Where at_where;
            YAML::Node rhythm_node;
            Where rhythm_where;
            read_mapping(entry, entry_where,
                         {
                             {"at", true,
                              [&](const YAML::Node& v, const Where& w) {
                                  at_ms = read_trace_time(v, w);
                                  at_where = w;
                              }},
                             {"rhythm", true,
                              [&](const YAML::Node& v, const Where& w) {
                                  rhythm_node = v;
                                  rhythm_where = w;
                              }},
                         });
            if (!phases.empty() && at_ms <= phases.back().from_ms)
                fail(at_where, "drift times must increase (and come after 0, where `rhythm` starts)");
            const Rhythm* base = phases.empty() ? nullptr : &phases.back().rhythm;
            Rhythm rhythm = read_rhythm(rhythm_node, rhythm_where, base);
            phases.push_back({at_ms, std::move(rhythm)});
        }
    }

    Follower read_follower(const YAML::Node& node, const Where& where, Where& model_where) {
        Follower follower;
        read_mapping(
            node, where,
            {
                {"model", true,
                 [&](const YAML::Node& v, const Where& w) {
                     follower.model = read_name_pattern(v, w, false);
                     model_where = w;
                 }},
                {"probability", false,
                 [&](const YAML::Node& v, const Where& w) { follower.probability = read_number(v, w, 0, 1); }},
                {"delay_minutes", true,
                 [&](const YAML::Node& v, const Where& w) {
                     std::tie(follower.delay_min_minutes, follower.delay_max_minutes) = read_range(v, w, 0, 24 * 60);
                 }},
                {"requests", false,
                 [&](const YAML::Node& v, const Where& w) { follower.requests = read_count_range(v, w); }},
                {"gap_seconds", false,
                 [&](const YAML::Node& v, const Where& w) { follower.gap_seconds = read_positive(v, w, 86'400); }},
                {"after", false,
                 [&](const YAML::Node& v, const Where& w) {
                     const std::string text = v.IsScalar() ? v.Scalar() : std::string();
                     if (text != "start" && text != "end")
                         fail(w, "expected start or end (of the leader's session), got " + describe_node(v));
                     follower.after_end = text == "end";
                 }},
            });
        return follower;
    }

    std::string file_;
    int64_t duration_ms_ = 0;
    bool read_start_given_ = false;
};

}  // namespace

Scenario load_scenario(const std::filesystem::path& file) {
    const std::string source = file.string();
    const FileContent text = read_file(file, FileKind::any_but_a_folder);
    if (!text.read())
        throw TraceError(
            source, 0,
            fmt::format("cannot {} the scenario file: {}",
                        text.failure == FileContent::Failure::cannot_open ? "open" : "read", text.problem()));
    return ScenarioReader(source).read(text.bytes);
}

}  // namespace warmup::host::replay::synth
