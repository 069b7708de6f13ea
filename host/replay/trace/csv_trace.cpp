// replay/trace/csv_trace.cpp — the native format: "ts_ms,model[,count][,tenant]" lines sorted by time.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "core/usage_event.hpp"
#include "replay/trace/line_reader.hpp"

namespace warmup::host::replay {
namespace {

constexpr std::size_t max_columns = 4;

class CsvTraceReader final : public TraceReader {
  public:
    CsvTraceReader(const std::filesystem::path& path, ModelNames& models, ModelNames& tenants)
        : lines_(path, path.string()), models_(models), tenants_(tenants) {
        read_header();
    }

    bool next(TraceEvent& out) override {
        std::string_view line;
        do {
            if (!lines_.next(line)) return false;
        } while (line.empty());  // blank lines carry nothing

        std::array<std::string_view, max_columns> fields;
        const std::size_t field_count = split_fields(line, fields);
        if (field_count > column_count_) {
            lines_.fail(fmt::format("{} fields, but the header declares {} ({})",
                                    std::count(line.begin(), line.end(), ',') + 1, column_count_, header_));
        }
        if (field_count < 2) lines_.fail("expected at least ts_ms,model");

        int64_t ts_ms = 0;
        if (!parse_integer(fields[0], ts_ms)) {
            lines_.fail(fmt::format("bad timestamp '{}' (expected an integer number of milliseconds)", fields[0]));
        }
        if (has_previous_ && ts_ms < previous_ts_ms_) {
            lines_.fail(
                fmt::format("timestamp {} is earlier than the previous line's {} (the file must be sorted by time)",
                            ts_ms, previous_ts_ms_));
        }
        if (!has_previous_) first_ts_ms_ = ts_ms;
        // The replay's memory grows with the span it covers (its timeline, its windows), not with the events: one
        // time in microseconds among milliseconds would make it years long, and the replay run out of memory.
        // (bound_span checks the same across several files; here the line can be named.)
        if (ts_ms > kMaxTraceTimestampMs || ts_ms < -kMaxTraceTimestampMs) {
            lines_.fail(fmt::format(
                "timestamp {} is more than 8,000 years from the epoch (is it in microseconds or nanoseconds? "
                "traces count milliseconds)",
                ts_ms));
        }
        if (ts_ms - first_ts_ms_ > kMaxTraceSpanMs) {
            lines_.fail(
                fmt::format("timestamp {} is {:.0f} days after the first line's {}: a trace spans at most {} "
                            "days (is it in microseconds or nanoseconds?)",
                            ts_ms, static_cast<double>(ts_ms - first_ts_ms_) / kMsPerDay, first_ts_ms_,
                            kMaxTraceSpanMs / kMsPerDay));
        }
        if (fields[1].empty()) lines_.fail("empty model name");
        if (fields[1].front() == '"') {
            lines_.fail(
                fmt::format("quoted model name {} (names are written as they are, unquoted: no ',' or newline "
                            "can be part of one)",
                            fields[1]));
        }
        if (const auto problem = model_name_problem(fields[1])) lines_.fail(*problem);  // as warmupd refuses it

        uint32_t count = 1;
        if (count_column_ != 0 && field_count > count_column_) {
            const std::string_view text = fields[count_column_];
            if (!parse_integer(text, count)) {
                lines_.fail(fmt::format("bad count '{}' (expected an integer from 1 to 4294967295)", text));
            }
            if (count == 0) lines_.fail("count 0 (an event is at least one request)");
        }
        uint32_t tenant = 0;
        if (tenant_column_ != 0 && field_count > tenant_column_ && !fields[tenant_column_].empty()) {
            tenant = tenants_.intern(fields[tenant_column_]);
        }

        // Consecutive lines usually repeat a model: skip the hash lookup then.
        if (fields[1] != last_model_name_) {
            last_model_ = models_.intern(fields[1]);
            last_model_name_ = models_.name(last_model_);
        }
        previous_ts_ms_ = ts_ms;
        has_previous_ = true;
        out = TraceEvent{ts_ms, last_model_, count, tenant};
        return true;
    }

    [[nodiscard]] std::string describe() const override { return "csv:" + lines_.source(); }

  private:
    void read_header() {
        std::string_view line;
        if (!lines_.next(line)) lines_.fail("empty file (expected a header ts_ms,model[,count][,tenant])");
        // A UTF-8 byte order mark (as spreadsheets write one) is not part of the first column's name.
        constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";
        if (line.starts_with(byte_order_mark)) line.remove_prefix(byte_order_mark.size());
        header_ = std::string(line);
        std::array<std::string_view, max_columns> names;
        const std::size_t count = split_fields(line, names);
        const auto bad_header = [&] {
            lines_.fail(fmt::format("bad header '{}' (expected ts_ms,model[,count][,tenant])", header_));
        };
        if (count < 2 || count > max_columns || names[0] != "ts_ms" || names[1] != "model") bad_header();
        std::size_t column = 2;
        if (column < count && names[column] == "count") count_column_ = column++;
        if (column < count && names[column] == "tenant") tenant_column_ = column++;
        if (column != count) bad_header();
        column_count_ = count;
    }

    LineReader lines_;
    ModelNames& models_;
    ModelNames& tenants_;
    std::string header_;
    std::size_t column_count_ = 2;
    std::size_t count_column_ = 0;   // 0 = absent (column 0 is always ts_ms)
    std::size_t tenant_column_ = 0;  // 0 = absent
    static constexpr int64_t kMsPerDay = 86'400'000;
    int64_t first_ts_ms_ = 0;
    int64_t previous_ts_ms_ = 0;
    bool has_previous_ = false;
    uint32_t last_model_ = 0;
    std::string_view last_model_name_;  // views the models table, which never moves its strings
};

}  // namespace

std::unique_ptr<TraceReader> open_csv_trace(const std::filesystem::path& path, ModelNames& models,
                                            ModelNames& tenants) {
    return std::make_unique<CsvTraceReader>(path, models, tenants);
}

}  // namespace warmup::host::replay
