// core/json_objects_over_lines.hpp — where each event object of a text written over several lines (pretty-printed,
// as `jq .` writes them) begins and ends. One rule for the daemon's reading of such a body (http/event_parser.cpp)
// and warmupctl's flattening of such a file (apps/warmupctl.cpp), so both number and refuse the same objects.
//
// Braces count outside strings only (a quote opens a string inside an object; a backslash escapes the next
// character). A line break ends a string, since a JSON string holds none (a missing quote must not swallow the
// objects after it), and a '{' that starts a line while an object is open starts the next object (the open one was
// cut short; jq indents what it nests). Pure; one instance per text, read front to back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace warmup::host {

class ObjectsOverLines {
  public:
    enum class Seen : uint8_t {
        Other,              ///< any other character
        LineBreak,          ///< a line break inside an object, outside a string
        LineBreakInString,  ///< a line break inside a string (which it ends: the object is malformed)
        ObjectClosed,       ///< the brace that closes the outermost object
        NextObjectStarts,   ///< a line break before a '{' that starts a line while an object is open
    };

    /// What text[at] is, given every character before it was stepped over.
    Seen step(std::string_view text, std::size_t at) noexcept {
        const char c = text[at];
        if (c == '\n' && depth_ > 0) {
            const bool was_in_string = in_string_;
            in_string_ = false;
            escaped_ = false;
            if (at + 1 < text.size() && text[at + 1] == '{') {
                depth_ = 0;
                return Seen::NextObjectStarts;
            }
            return was_in_string ? Seen::LineBreakInString : Seen::LineBreak;
        }
        if (in_string_) {
            if (escaped_)
                escaped_ = false;
            else if (c == '\\')
                escaped_ = true;
            else if (c == '"')
                in_string_ = false;
        } else if (c == '"') {
            in_string_ = depth_ > 0;
        } else if (c == '{') {
            ++depth_;
        } else if (c == '}' && depth_ > 0 && --depth_ == 0) {
            return Seen::ObjectClosed;
        }
        return Seen::Other;
    }

  private:
    std::size_t depth_ = 0;
    bool in_string_ = false;
    bool escaped_ = false;
};

}  // namespace warmup::host
