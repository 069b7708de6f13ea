// warmup/sdk/state_text.hpp — reading a line-oriented plugin state (the state extension's export format of the
// in-tree plugins that keep a few numbers per model): a schema line, then one record per line, fields separated by
// spaces, blank lines ignored.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace warmup::sdk {

/// Walks the records of a state text. Every refusal goes through `refuse`, which must throw (typically an Error
/// naming the plugin, so its message keeps the plugin's prefix); the reader never returns from a refusal.
/// Thread-safety: one reader per thread; `data` must outlive it.
class StateTextReader {
  public:
    using Refuse = void (*)(const std::string& why);

    /// Refuses an empty text ("empty state") and one whose first line is not `schema`.
    StateTextReader(std::string_view data, std::string_view schema, Refuse refuse) : data_(data), refuse_(refuse) {
        if (data_.empty()) fail("empty state");
        if (next_line() != schema) fail("the first line is not '" + std::string(schema) + "'");
    }

    /// Moves to the next non-blank line; false when there is none.
    bool next_record() {
        while (next_ < data_.size()) {
            record_ = next_line();
            field_ = 0;
            if (!record_.empty()) return true;
        }
        return false;
    }

    /// The record's next field as `Number`; refuses anything else with "expected a number <what>" ("an integer" for
    /// integral types).
    template <class Number>
    Number field(const char* what) {
        skip_spaces();
        Number value{};
        const char* begin = record_.data() + field_;
        const auto [end, error] = std::from_chars(begin, record_.data() + record_.size(), value);
        if (error != std::errc{} || end == begin)
            fail(std::string(std::is_integral_v<Number> ? "expected an integer " : "expected a number ") + what);
        field_ = static_cast<std::size_t>(end - record_.data());
        return value;
    }

    /// True when the record has no more fields (trailing spaces allowed).
    bool at_record_end() {
        skip_spaces();
        return field_ == record_.size();
    }

  private:
    std::string_view next_line() {
        std::size_t end = data_.find('\n', next_);
        if (end == std::string_view::npos) end = data_.size();
        const std::string_view line = data_.substr(next_, end - next_);
        next_ = end + 1;
        return line;
    }
    void skip_spaces() {
        while (field_ < record_.size() && record_[field_] == ' ') ++field_;
    }
    [[noreturn]] void fail(const std::string& why) {
        refuse_(why);
        std::abort();  // `refuse` broke its contract by returning
    }

    std::string_view data_;
    Refuse refuse_;
    std::size_t next_ = 0;     // start of the next line in data_
    std::string_view record_;  // the current record
    std::size_t field_ = 0;    // position in record_
};

}  // namespace warmup::sdk
