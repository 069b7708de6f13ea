// warmup/sdk/name_map.hpp — catalog-name globs mapped to strings, as a backend reads them from its params (a model's
// name on the server, the server that serves it, an adapter's path), with one lookup rule for all of them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "error.hpp"
#include "glob.hpp"
#include "params.hpp"

namespace warmup::sdk {

/// (glob, value) entries in the order the configuration wrote them. find(): a key equal to the name wins, else the
/// first glob in that order that matches it (glob.hpp's dialect), so `{"*": a, "chat": b}` sends `chat` to b.
/// Thread-safety: const methods are pure; build it before sharing it.
class NameMap {
  public:
    using Entry = std::pair<std::string, std::string>;

    void add(std::string glob, std::string value) { entries_.emplace_back(std::move(glob), std::move(value)); }

    /// The entry that maps `name`, or nullptr when none does.
    [[nodiscard]] const Entry* find(std::string_view name) const noexcept {
        for (const Entry& entry : entries_)
            if (entry.first == name) return &entry;
        for (const Entry& entry : entries_)
            if (glob_match(entry.first, name)) return &entry;
        return nullptr;
    }

    [[nodiscard]] const std::vector<Entry>& entries() const noexcept { return entries_; }
    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }

  private:
    std::vector<Entry> entries_;
};

/// Reads the mapping params.`key` (absent: empty). Throws InvalidArgument naming the entry for a key that is empty or
/// not a string, and for a value that is not a non-empty string ("params.<key>.<glob>: expected <describe_value>").
inline NameMap read_name_map(Params& params, const std::string& key, const std::string& describe_value) {
    NameMap map;
    // The nested Params marks `key` as read; its own finish() is not called, since every key in it is a glob.
    const Params entries = params.get_map(key);
    for (const auto& entry : entries.node()) {
        const std::string glob = entry.first.IsScalar() ? entry.first.Scalar() : std::string();
        if (glob.empty()) throw InvalidArgument("params." + key + ": a key is empty or not a string");
        if (!entry.second.IsScalar() || entry.second.Scalar().empty())
            throw InvalidArgument("params." + key + "." + glob + ": expected " + describe_value);
        map.add(glob, entry.second.Scalar());
    }
    return map;
}

}  // namespace warmup::sdk
