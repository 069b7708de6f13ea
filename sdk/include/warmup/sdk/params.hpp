// warmup/sdk/params.hpp — typed, validated access to a plugin's `params` YAML subtree.
//
// The host hands every plugin the YAML text of its params subtree. Params parses it once, gives typed getters with
// defaults and ranges, and — once the plugin's constructor has read what it knows — refuses any key it did not read.
// Every error message starts with the key path ("params.horizon_ms: ..."); the host maps that path back to
// file:line:col in the configuration file.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <iomanip>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>
#include <warmup/sdk/error.hpp>
#include <warmup/sdk/spelling.hpp>

namespace warmup::sdk {

class Params {
  public:
    /// Parses `yaml_text` (may be empty: no params). Throws InvalidArgument if it is not a YAML mapping.
    explicit Params(std::string_view yaml_text, std::string path = "params") : path_(std::move(path)) {
        try {
            root_ = yaml_text.empty() ? YAML::Node(YAML::NodeType::Map) : YAML::Load(std::string(yaml_text));
        } catch (const YAML::Exception& error) {
            throw InvalidArgument(path_ + ": not valid YAML: " + error.what());
        }
        if (root_.IsNull()) root_ = YAML::Node(YAML::NodeType::Map);
        if (!root_.IsMap()) throw InvalidArgument(path_ + ": expected a mapping of parameter names to values");
    }

    Params(YAML::Node node, std::string path) : root_(std::move(node)), path_(std::move(path)) {
        if (!root_.IsMap()) throw InvalidArgument(path_ + ": expected a mapping");
    }

    [[nodiscard]] bool has(const std::string& key) const { return root_[key].IsDefined() && !root_[key].IsNull(); }
    /// "<path>.<key>", e.g. "params.base_url": how messages name a key.
    [[nodiscard]] std::string key_path(const std::string& key) const { return path_ + "." + key; }

    [[nodiscard]] int64_t get_int(const std::string& key, int64_t fallback,
                                  int64_t min = std::numeric_limits<int64_t>::min(),
                                  int64_t max = std::numeric_limits<int64_t>::max()) {
        const YAML::Node node = take(key);
        if (!node) return fallback;
        int64_t value = 0;
        if (!node.IsScalar() || !YAML::convert<int64_t>::decode(node, value))
            throw InvalidArgument(key_path(key) + ": expected an integer, got '" + scalar_text(node) + "'");
        if (value < min || value > max)
            throw InvalidArgument(key_path(key) + ": " + std::to_string(value) + " is outside " +
                                  allowed_range(min, max, std::numeric_limits<int64_t>::min(),
                                                std::numeric_limits<int64_t>::max(),
                                                [](int64_t bound) { return std::to_string(bound); }));
        return value;
    }

    [[nodiscard]] double get_double(const std::string& key, double fallback,
                                    double min = -std::numeric_limits<double>::infinity(),
                                    double max = std::numeric_limits<double>::infinity()) {
        const YAML::Node node = take(key);
        if (!node) return fallback;
        double value = 0;
        if (!node.IsScalar() || !YAML::convert<double>::decode(node, value))
            throw InvalidArgument(key_path(key) + ": expected a number, got '" + scalar_text(node) + "'");
        if (!(value >= min && value <= max))
            throw InvalidArgument(key_path(key) + ": " + scalar_text(node) + " is outside " +
                                  allowed_range(min, max, -std::numeric_limits<double>::infinity(),
                                                std::numeric_limits<double>::infinity(), number_text));
        return value;
    }

    [[nodiscard]] bool get_bool(const std::string& key, bool fallback) {
        const YAML::Node node = take(key);
        if (!node) return fallback;
        bool value = false;
        if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value))
            throw InvalidArgument(key_path(key) + ": expected true or false, got '" + scalar_text(node) + "'");
        return value;
    }

    [[nodiscard]] std::string get_string(const std::string& key, const std::string& fallback) {
        const YAML::Node node = take(key);
        if (!node) return fallback;
        if (!node.IsScalar()) throw InvalidArgument(key_path(key) + ": expected a string");
        return node.Scalar();
    }

    /// One of `choices`; anything else is an error listing them.
    [[nodiscard]] std::string get_choice(const std::string& key, const std::string& fallback,
                                         const std::vector<std::string>& choices) {
        std::string value = get_string(key, fallback);
        for (const auto& choice : choices)
            if (choice == value) return value;
        std::string list;
        for (const auto& choice : choices) list += (list.empty() ? "" : ", ") + choice;
        throw InvalidArgument(key_path(key) + ": '" + value + "' is not one of: " + list);
    }

    /// A list of numbers (e.g. weights); empty fallback when absent.
    [[nodiscard]] std::vector<double> get_double_list(const std::string& key, std::vector<double> fallback,
                                                      double min = -std::numeric_limits<double>::infinity()) {
        const YAML::Node node = take(key);
        if (!node) return fallback;
        if (!node.IsSequence()) throw InvalidArgument(key_path(key) + ": expected a list of numbers");
        std::vector<double> values;
        for (std::size_t i = 0; i < node.size(); ++i) {
            double value = 0;
            if (!node[i].IsScalar() || !YAML::convert<double>::decode(node[i], value) || !(value >= min))
                throw InvalidArgument(key_path(key) + "[" + std::to_string(i) +
                                      "]: expected a number >= " + number_text(min));
            values.push_back(value);
        }
        return values;
    }

    /// A nested mapping, validated the same way (its unknown keys are refused by its own finish()).
    [[nodiscard]] Params get_map(const std::string& key) {
        YAML::Node node = take(key);
        if (!node) return Params(YAML::Node(YAML::NodeType::Map), key_path(key));
        return Params(node, key_path(key));
    }

    /// Throws InvalidArgument naming the first key that no getter asked for (a typo must not be silently ignored), with
    /// the closest key a getter asked for when it is one or two edits away.
    void finish() const {
        for (const auto& entry : root_) {
            const std::string key = entry.first.Scalar();
            if (used_.count(key)) continue;
            const auto suggestion = closest_name(key, used_);  // the keys the plugin asked for are the known ones
            throw InvalidArgument(key_path(key) + ": unknown parameter" +
                                  (suggestion ? "; did you mean '" + *suggestion + "'?" : std::string()));
        }
    }

    [[nodiscard]] const YAML::Node& node() const { return root_; }

  private:
    YAML::Node take(const std::string& key) {
        used_.insert(key);
        YAML::Node node = root_[key];
        if (!node.IsDefined() || node.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
        return node;
    }
    static std::string scalar_text(const YAML::Node& node) {
        return node.IsScalar() ? node.Scalar() : "<not a scalar>";
    }
    /// A bound as people write it: 1, 0.5, 1e-06 (not std::to_string's 1.000000).
    static std::string number_text(double value) {
        std::ostringstream out;
        out << std::setprecision(15) << value;
        return out.str();
    }
    /// The accepted range as people read it: "[0, 1]", or "the range >= 0" where the upper bound is the type's own
    /// (not "[0, 9223372036854775807]"), "<= 10" where the lower one is.
    template <class T, class Text>
    static std::string allowed_range(T min, T max, T lowest, T highest, Text text) {
        if (min != lowest && max == highest) return "the range >= " + text(min);
        if (min == lowest && max != highest) return "the range <= " + text(max);
        return "[" + text(min) + ", " + text(max) + "]";
    }

    YAML::Node root_;
    std::string path_;
    std::set<std::string> used_;
};

}  // namespace warmup::sdk
