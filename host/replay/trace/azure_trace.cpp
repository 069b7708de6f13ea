// replay/trace/azure_trace.cpp — Azure Functions 2019 invocation counts (one row per function, 1,440 minutes).
//
// The file is ordered by function, so it is read whole at open: per function its model and tenant ids, per minute
// the (function, count) pairs with a non-zero count. Emission goes minute by minute: the minute's invocations are
// placed uniformly at random in it, merged per model and second, sorted by (second, model), and the minute's pairs
// are released. Each (function, minute) draws from its own stream seeded from (seed, model name, minute), so the
// result depends neither on row order nor on which minutes came before.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "replay/trace/line_reader.hpp"
#include "replay/trace/random.hpp"

namespace warmup::host::replay {
namespace {

constexpr int minutes_per_day = 1440;
constexpr int64_t ms_per_minute = 60000;
constexpr int64_t ms_per_day = ms_per_minute * minutes_per_day;
constexpr std::size_t fixed_columns = 4;  // HashOwner,HashApp,HashFunction,Trigger

/// The NN of "....dNN.csv"; 0 when the name does not end that way.
int day_of_file_name(const std::string& file_name) {
    constexpr std::string_view extension = ".csv";
    if (!file_name.ends_with(extension)) return 0;
    const std::string_view stem = std::string_view(file_name).substr(0, file_name.size() - extension.size());
    const std::size_t dot = stem.rfind('.');
    if (dot == std::string_view::npos || dot + 1 >= stem.size() || stem[dot + 1] != 'd') return 0;
    int day = 0;
    return parse_integer(stem.substr(dot + 2), day) && day > 0 ? day : 0;
}

class Azure2019TraceReader final : public TraceReader {
  public:
    Azure2019TraceReader(const std::filesystem::path& path, ModelNames& models, ModelNames& tenants, uint64_t seed)
        : source_(path.string()), seed_(seed) {
        const int day = day_of_file_name(path.filename().string());
        if (day == 0) {
            throw TraceError(source_, 0,
                             "cannot tell the day: expected a file name ending in .dNN.csv "
                             "(e.g. invocations_per_function_md.anon.d01.csv)");
        }
        day_start_ms_ = (day - 1) * ms_per_day;
        read_file(path, models, tenants);
    }

    bool next(TraceEvent& out) override {
        while (next_pending_ == pending_.size()) {
            if (next_minute_ == minutes_per_day) return false;
            place_minute(next_minute_++);
        }
        out = pending_[next_pending_++];
        return true;
    }

    [[nodiscard]] std::string describe() const override {
        return fmt::format("azure2019:{} (day {}, {} functions, seed {})", source_, day_start_ms_ / ms_per_day + 1,
                           functions_.size(), seed_);
    }

  private:
    struct Function {
        uint32_t model;
        uint32_t tenant;
        uint64_t seed;  // series_seed(seed, model name)
    };
    struct MinuteCount {
        uint32_t function;
        uint32_t count;
    };

    void read_file(const std::filesystem::path& path, ModelNames& models, ModelNames& tenants) {
        LineReader lines(path, source_);
        std::string_view line;
        if (!lines.next(line))
            lines.fail("empty file (expected the header HashOwner,HashApp,HashFunction,Trigger,1,...,1440)");
        check_header(lines, line);

        std::string model_name;
        while (lines.next(line)) {
            if (line.empty()) continue;
            std::array<std::string_view, fixed_columns> names;
            std::size_t position = 0;
            for (std::string_view& name : names) {
                const std::size_t comma = line.find(',', position);
                if (comma == std::string_view::npos)
                    lines.fail("expected HashOwner,HashApp,HashFunction,Trigger,1,...,1440");
                name = line.substr(position, comma - position);
                position = comma + 1;
            }
            if (names[1].empty() || names[2].empty()) lines.fail("empty HashApp or HashFunction");
            model_name.assign(names[1]);
            model_name += '/';
            model_name += names[2];
            const auto function = static_cast<uint32_t>(functions_.size());
            functions_.push_back(Function{models.intern(model_name), names[0].empty() ? 0 : tenants.intern(names[0]),
                                          series_seed(seed_, model_name)});

            int minute = 0;
            for (; minute < minutes_per_day && position <= line.size(); ++minute) {
                std::size_t comma = line.find(',', position);
                if (comma == std::string_view::npos) comma = line.size();
                const std::string_view text = line.substr(position, comma - position);
                uint32_t count = 0;
                if (!parse_integer(text, count)) {
                    lines.fail(
                        fmt::format("bad count '{}' for minute {} (expected an integer >= 0)", text, minute + 1));
                }
                if (count != 0) by_minute_[minute].push_back(MinuteCount{function, count});
                position = comma + 1;
            }
            if (minute != minutes_per_day) lines.fail(fmt::format("{} minute counts, expected 1440", minute));
            if (position <= line.size()) lines.fail("more than 1440 minute counts");
        }
    }

    static void check_header(const LineReader& lines, std::string_view header) {
        std::string expected = "HashOwner,HashApp,HashFunction,Trigger";
        for (int minute = 1; minute <= minutes_per_day; ++minute)
            fmt::format_to(std::back_inserter(expected), ",{}", minute);
        if (header != expected) {
            lines.fail(fmt::format("bad header '{}...' (expected HashOwner,HashApp,HashFunction,Trigger,1,2,...,1440)",
                                   header.substr(0, 60)));
        }
    }

    void place_minute(int minute) {
        pending_.clear();
        next_pending_ = 0;
        const int64_t minute_start_ms = day_start_ms_ + minute * ms_per_minute;
        for (const MinuteCount& entry : by_minute_[minute]) {
            const Function& function = functions_[entry.function];
            RandomStream random(mix64(function.seed ^ mix64(static_cast<uint64_t>(minute))));
            std::array<uint32_t, 60> per_second{};
            for (uint32_t i = 0; i < entry.count; ++i) ++per_second[random.below(ms_per_minute) / 1000];
            for (int second = 0; second < 60; ++second) {
                if (per_second[second] != 0) {
                    pending_.push_back(TraceEvent{minute_start_ms + second * 1000, function.model, per_second[second],
                                                  function.tenant});
                }
            }
        }
        std::vector<MinuteCount>().swap(by_minute_[minute]);  // emitted: give the memory back
        std::sort(pending_.begin(), pending_.end(), [](const TraceEvent& a, const TraceEvent& b) {
            return a.ts_ms != b.ts_ms ? a.ts_ms < b.ts_ms : a.model < b.model;
        });
        // Rows naming the same model: one event per model and second.
        std::size_t kept = 0;
        for (std::size_t i = 0; i < pending_.size(); ++i) {
            if (kept > 0 && pending_[kept - 1].ts_ms == pending_[i].ts_ms &&
                pending_[kept - 1].model == pending_[i].model) {
                pending_[kept - 1].count += pending_[i].count;
            } else {
                pending_[kept++] = pending_[i];
            }
        }
        pending_.resize(kept);
    }

    std::string source_;
    uint64_t seed_;
    int64_t day_start_ms_ = 0;
    std::vector<Function> functions_;
    std::array<std::vector<MinuteCount>, minutes_per_day> by_minute_;
    int next_minute_ = 0;
    std::vector<TraceEvent> pending_;  // the current minute's events, reused
    std::size_t next_pending_ = 0;
};

}  // namespace

std::unique_ptr<TraceReader> open_azure2019_trace(const std::filesystem::path& path, ModelNames& models,
                                                  ModelNames& tenants, uint64_t seed) {
    return std::make_unique<Azure2019TraceReader>(path, models, tenants, seed);
}

}  // namespace warmup::host::replay
