// warmup/sdk/prometheus_text.hpp — label values in the Prometheus text exposition format, shared by the daemon's own
// /api/warmup/metrics series and by metrics plugins that render their own, so a model or arm name with a quote,
// a backslash or a line feed reads back the same everywhere.
#pragma once

#include <string>
#include <string_view>

namespace warmup::sdk {

/// Appends `value` to `out` escaped as the text format's label values require: backslash, double quote and line
/// feed become `\\`, `\"` and `\n`; every other byte is copied (the format's label values are UTF-8, checked by no
/// one here). Thread-safety: pure.
inline void append_prometheus_label_value(std::string& out, std::string_view value) {
    for (const char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
}

}  // namespace warmup::sdk
