// replay/trace/trace.cpp — ModelNames, TraceError, open_trace and the format-independent pieces: clip, merge, the
// csv writer and the A95 measure.
#include "replay/trace/trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <ostream>

#include "replay/trace/line_reader.hpp"
#include "replay/trace/synth_trace.hpp"

namespace warmup::host::replay {

uint32_t ModelNames::intern(std::string_view name) {
    if (const auto found = ids_.find(name); found != ids_.end()) return found->second;
    const auto id = static_cast<uint32_t>(names_.size());
    const std::string& stored = names_.emplace_back(name);
    ids_.emplace(std::string_view(stored), id);
    return id;
}

std::optional<uint32_t> ModelNames::find(std::string_view name) const {
    if (const auto found = ids_.find(name); found != ids_.end()) return found->second;
    return std::nullopt;
}

namespace {

std::string error_message(const std::string& source, uint64_t line, uint64_t column, const std::string& reason) {
    if (line == 0) return fmt::format("{}: {}", source, reason);
    if (column == 0) return fmt::format("{}:{}: {}", source, line, reason);
    return fmt::format("{}:{}:{}: {}", source, line, column, reason);
}

}  // namespace

TraceError::TraceError(std::string source, uint64_t line, const std::string& reason)
    : TraceError(std::move(source), line, 0, reason) {}

TraceError::TraceError(std::string source, uint64_t line, uint64_t column, const std::string& reason)
    : std::runtime_error(error_message(source, line, column, reason)),
      source_(std::move(source)),
      line_(line),
      column_(line == 0 ? 0 : column) {}

TraceReader::~TraceReader() = default;

std::unique_ptr<TraceReader> open_trace(std::string_view spec, ModelNames& models, ModelNames& tenants, uint64_t seed,
                                        std::filesystem::path base_dir) {
    const std::size_t colon = spec.find(':');
    const std::string spec_text(spec);
    if (colon == std::string_view::npos || colon == 0) {
        throw TraceError(spec_text, 0, "expected <kind>:<path> with kind csv, servegen, azure2019, synth or journal");
    }
    const std::string_view kind = spec.substr(0, colon);
    std::filesystem::path path(spec.substr(colon + 1));
    if (path.empty()) throw TraceError(spec_text, 0, "the path after the kind is empty");
    if (path.is_relative() && !base_dir.empty()) path = base_dir / path;

    if (tenants.size() == 0) {
        tenants.intern("");
    } else if (!tenants.name(0).empty()) {
        throw std::invalid_argument("open_trace: the tenants table must hold \"\" (no tenant) at id 0");
    }

    if (kind == "csv") return open_csv_trace(path, models, tenants);
    if (kind == "servegen") {
        // Options follow the folder: servegen:DIR?phase=run|window.
        ServeGenPhase phase = ServeGenPhase::run;
        std::string folder = path.string();
        if (const std::size_t question = folder.rfind('?'); question != std::string::npos) {
            const std::string option = folder.substr(question + 1);
            if (option == "phase=run") {
                phase = ServeGenPhase::run;
            } else if (option == "phase=window") {
                phase = ServeGenPhase::window;
            } else {
                throw TraceError(
                    spec_text, 0,
                    fmt::format("unknown servegen option '{}' (expected phase=run or phase=window)", option));
            }
            folder.resize(question);
        }
        return open_servegen_trace(folder, models, seed, phase);
    }
    if (kind == "azure2019") return open_azure2019_trace(path, models, tenants, seed);
    if (kind == "synth") return open_synth_trace(path, models, tenants, seed);
    if (kind == "journal") return open_journal_trace(path, models, tenants);
    throw TraceError(
        spec_text, 0,
        fmt::format("unknown trace kind '{}' (expected csv, servegen, azure2019, synth or journal)", kind));
}

// ---------------------------------------------------------------------------------------------------------- clip

namespace {

class ClipReader final : public TraceReader {
  public:
    ClipReader(std::unique_ptr<TraceReader> inner, int64_t from_ms, int64_t to_ms)
        : inner_(std::move(inner)), from_ms_(from_ms), to_ms_(to_ms) {}

    bool next(TraceEvent& out) override {
        while (!done_ && inner_->next(out)) {
            if (!seen_any_) first_seen_ms_ = out.ts_ms;
            seen_any_ = true;
            last_seen_ms_ = out.ts_ms;
            if (out.ts_ms >= to_ms_) break;  // time-ordered: nothing later can be inside
            if (out.ts_ms >= from_ms_) {
                kept_any_ = true;
                return true;
            }
            last_before_ms_ = out.ts_ms;
        }
        done_ = true;
        if (seen_any_ && !kept_any_) throw_nothing_kept();
        return false;
    }

    [[nodiscard]] std::string describe() const override {
        return fmt::format("{} clipped to [{} ms, {} ms)", inner_->describe(), from_ms_, to_ms_);
    }

  private:
    /// The range kept nothing of a trace that has events: say where they are, in the trace's own clock.
    [[noreturn]] void throw_nothing_kept() const {
        const auto bound = [](int64_t ms, int64_t unbounded) {
            return ms == unbounded ? std::string("-") : fmt::format("{} ms", ms);
        };
        // last_seen_ms_ is the last event read: the trace's last when all were before the range, else the first
        // at or after its end.
        std::string where;
        if (last_seen_ms_ < from_ms_)
            where = fmt::format("its events run from {} ms to {} ms", first_seen_ms_, last_seen_ms_);
        else if (first_seen_ms_ >= from_ms_)
            where = fmt::format("its first event is at {} ms", first_seen_ms_);
        else
            where = fmt::format("it has an event at {} ms and the next at {} ms", last_before_ms_, last_seen_ms_);
        throw TraceError(inner_->describe(), 0,
                         fmt::format("no event in the chosen time range [{}, {}): {} (--from and --to count in the "
                                     "trace's own clock, as its timestamps do)",
                                     bound(from_ms_, INT64_MIN), bound(to_ms_, INT64_MAX), where));
    }

    std::unique_ptr<TraceReader> inner_;
    int64_t from_ms_;
    int64_t to_ms_;
    bool done_ = false;
    bool seen_any_ = false;  // inner_ gave at least one event
    bool kept_any_ = false;  // ... and one of them was in range
    int64_t first_seen_ms_ = 0;
    int64_t last_seen_ms_ = 0;
    int64_t last_before_ms_ = 0;  // the last event before from_ms_
};

// ---------------------------------------------------------------------------------------------------- bound_span

namespace {
/// A timestamp (ms since the epoch, within kMaxTraceTimestampMs) as a UTC date, for messages.
std::string utc_date(int64_t ts_ms) {
    const std::chrono::sys_days day{std::chrono::floor<std::chrono::days>(std::chrono::milliseconds(ts_ms))};
    const std::chrono::year_month_day date{day};
    return fmt::format("{:04d}-{:02d}-{:02d} UTC", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                       static_cast<unsigned>(date.day()));
}
}  // namespace

class SpanBoundReader final : public TraceReader {
  public:
    SpanBoundReader(std::unique_ptr<TraceReader> inner, const ModelNames& models)
        : inner_(std::move(inner)), models_(models) {}

    bool next(TraceEvent& out) override {
        if (!inner_->next(out)) return false;
        if (out.ts_ms > kMaxTraceTimestampMs || out.ts_ms < -kMaxTraceTimestampMs) {
            throw TraceError(
                inner_->describe(), 0,
                fmt::format("model '{}': timestamp {} ms is more than 8,000 years from the epoch (is it in "
                            "microseconds or nanoseconds? traces count milliseconds)",
                            models_.name(out.model), out.ts_ms));
        }
        if (!has_first_) {
            first_ms_ = out.ts_ms;
            first_model_ = out.model;
            has_first_ = true;
        }
        if (out.ts_ms - first_ms_ > kMaxTraceSpanMs) {
            constexpr double ms_per_day = 86'400'000.0;
            // Either a unit mistake (microseconds read as milliseconds) or a trace that really spans years (a journal
            // with one event back-filled from long ago): the dates tell which, and --from / --to replay a part.
            throw TraceError(
                inner_->describe(), 0,
                fmt::format(
                    "model '{}': timestamp {} ms ({}) is {:.0f} days after the first event's {} ms ({}, model "
                    "'{}'): a replay spans at most {:.0f} days; replay a part of it with --from / --to (--from {} "
                    "starts at this event), or, if the trace counts microseconds or nanoseconds, convert it to "
                    "milliseconds",
                    models_.name(out.model), out.ts_ms, utc_date(out.ts_ms),
                    static_cast<double>(out.ts_ms - first_ms_) / ms_per_day, first_ms_, utc_date(first_ms_),
                    models_.name(first_model_), static_cast<double>(kMaxTraceSpanMs) / ms_per_day, out.ts_ms));
        }
        return true;
    }

    [[nodiscard]] std::string describe() const override { return inner_->describe(); }

  private:
    std::unique_ptr<TraceReader> inner_;
    const ModelNames& models_;
    bool has_first_ = false;
    int64_t first_ms_ = 0;
    uint32_t first_model_ = 0;
};

// --------------------------------------------------------------------------------------------------------- merge

/// k-way merge with a binary min-heap of one pending event per source. The first event of every source is read on
/// the first call to next(), so that errors surface from next() as documented.
class MergeReader final : public TraceReader {
  public:
    MergeReader(std::vector<std::unique_ptr<TraceReader>> sources, std::string description)
        : sources_(std::move(sources)), description_(std::move(description)) {}

    bool next(TraceEvent& out) override {
        if (!primed_) prime();
        if (heap_.empty()) return false;
        out = heap_.front().event;
        Head& top = heap_.front();
        if (!sources_[top.source]->next(top.event)) {
            top = heap_.back();
            heap_.pop_back();
        }
        if (!heap_.empty()) sift_down(0);
        return true;
    }

    [[nodiscard]] std::string describe() const override { return description_; }

  private:
    struct Head {
        TraceEvent event;
        uint32_t source;
        uint64_t tie_key() const noexcept { return (uint64_t{event.model} << 32) | source; }
    };

    // Two integer comparisons: (ts, model, source) with model and source packed into one key.
    static bool before(const Head& a, const Head& b) noexcept {
        if (a.event.ts_ms != b.event.ts_ms) return a.event.ts_ms < b.event.ts_ms;
        return a.tie_key() < b.tie_key();
    }

    void prime() {
        primed_ = true;
        heap_.reserve(sources_.size());
        for (uint32_t source = 0; source < sources_.size(); ++source) {
            Head head{{}, source};
            if (sources_[source]->next(head.event)) heap_.push_back(head);
        }
        for (std::size_t i = heap_.size() / 2; i-- > 0;) sift_down(i);
    }

    void sift_down(std::size_t index) noexcept {
        const std::size_t size = heap_.size();
        const Head moving = heap_[index];
        for (;;) {
            std::size_t child = 2 * index + 1;
            if (child >= size) break;
            if (child + 1 < size && before(heap_[child + 1], heap_[child])) ++child;
            if (!before(heap_[child], moving)) break;
            heap_[index] = heap_[child];
            index = child;
        }
        heap_[index] = moving;
    }

    std::vector<std::unique_ptr<TraceReader>> sources_;
    std::string description_;
    std::vector<Head> heap_;
    bool primed_ = false;
};

}  // namespace

std::unique_ptr<TraceReader> clip(std::unique_ptr<TraceReader> inner, int64_t from_ms, int64_t to_ms) {
    return std::make_unique<ClipReader>(std::move(inner), from_ms, to_ms);
}

std::unique_ptr<TraceReader> bound_span(std::unique_ptr<TraceReader> inner, const ModelNames& models) {
    return std::make_unique<SpanBoundReader>(std::move(inner), models);
}

std::unique_ptr<TraceReader> merge_described(std::vector<std::unique_ptr<TraceReader>> sources,
                                             std::string description) {
    return std::make_unique<MergeReader>(std::move(sources), std::move(description));
}

std::unique_ptr<TraceReader> merge(std::vector<std::unique_ptr<TraceReader>> sources) {
    std::string description = fmt::format("merge of {} traces", sources.size());
    for (std::size_t i = 0; i < sources.size(); ++i) {
        description += (i == 0 ? ": " : " + ") + sources[i]->describe();
    }
    return merge_described(std::move(sources), std::move(description));
}

// ------------------------------------------------------------------------------------------------ csv writer

namespace {

void check_writable_name(const std::string& name, bool empty_allowed, const char* what) {
    if ((name.empty() && !empty_allowed) || name.find_first_of(",\r\n") != std::string::npos) {
        throw std::invalid_argument(fmt::format(
            "write_events_csv: {} name '{}' cannot be written in the csv format (empty, or contains ',' or a newline)",
            what, name));
    }
}

template <typename T>
void append_integer(std::string& text, T value) {
    char digits[24];
    const auto result = std::to_chars(digits, digits + sizeof digits, value);
    text.append(digits, result.ptr);
}

}  // namespace

uint64_t write_events_csv(TraceReader& trace, const ModelNames& models, const ModelNames& tenants, std::ostream& out) {
    constexpr std::size_t flush_bytes = std::size_t{1} << 16;
    std::string text;
    text.reserve(flush_bytes + 256);
    text = "ts_ms,model,count,tenant\n";
    std::vector<bool> model_checked(models.size());
    std::vector<bool> tenant_checked(tenants.size());
    const auto flush = [&] {
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        if (!out) throw std::runtime_error("write_events_csv: the output stream failed");
        text.clear();
    };

    uint64_t events = 0;
    TraceEvent event;
    while (trace.next(event)) {
        // Tables may grow while the trace is read (the csv reader interns as it goes).
        if (event.model >= model_checked.size()) model_checked.resize(models.size());
        if (event.tenant >= tenant_checked.size()) tenant_checked.resize(tenants.size());
        const std::string& model = models.name(event.model);
        if (!model_checked[event.model]) {
            check_writable_name(model, false, "model");
            model_checked[event.model] = true;
        }
        append_integer(text, event.ts_ms);
        text += ',';
        text += model;
        text += ',';
        append_integer(text, event.count);
        text += ',';
        if (event.tenant != 0) {
            const std::string& tenant = tenants.name(event.tenant);
            if (!tenant_checked[event.tenant]) {
                check_writable_name(tenant, true, "tenant");
                tenant_checked[event.tenant] = true;
            }
            text += tenant;
        }
        text += '\n';
        ++events;
        if (text.size() >= flush_bytes) flush();
    }
    flush();
    return events;
}

// ------------------------------------------------------------------------------------------------------- A95

namespace {

int64_t floor_divide(int64_t value, int64_t divisor) noexcept {
    const int64_t quotient = value / divisor;
    return (value % divisor != 0 && ((value < 0) != (divisor < 0))) ? quotient - 1 : quotient;
}

}  // namespace

double concurrent_demand_p95_mb(TraceReader& trace, const std::function<double(uint32_t model)>& memory_mb_of,
                                int64_t window_ms) {
    if (window_ms <= 0) throw std::invalid_argument("concurrent_demand_p95_mb: window_ms must be positive");
    // Per model: its memory (NaN until asked) and the ordinal + 1 of the last window it was counted in.
    std::vector<double> memory_mb;
    std::vector<uint64_t> counted_in_window;
    std::vector<double> demand_per_window_mb;  // one entry per window, closed windows only

    TraceEvent event;
    bool any = false;
    int64_t first_window = 0;
    int64_t current_window = 0;
    double current_demand_mb = 0;
    while (trace.next(event)) {
        const int64_t window = floor_divide(event.ts_ms, window_ms);
        if (!any) {
            any = true;
            first_window = current_window = window;
        }
        if (window < current_window) {
            throw std::invalid_argument(
                fmt::format("concurrent_demand_p95_mb: {} is not in time order (ts {} ms after a later window)",
                            trace.describe(), event.ts_ms));
        }
        if (window != current_window) {
            demand_per_window_mb.push_back(current_demand_mb);
            demand_per_window_mb.resize(
                demand_per_window_mb.size() + static_cast<std::size_t>(window - current_window - 1), 0.0);
            current_window = window;
            current_demand_mb = 0;
        }
        if (event.model >= memory_mb.size()) {
            memory_mb.resize(event.model + 1, std::numeric_limits<double>::quiet_NaN());
            counted_in_window.resize(event.model + 1, 0);
        }
        const auto ordinal = static_cast<uint64_t>(window - first_window) + 1;
        if (counted_in_window[event.model] != ordinal) {
            counted_in_window[event.model] = ordinal;
            if (std::isnan(memory_mb[event.model])) memory_mb[event.model] = memory_mb_of(event.model);
            current_demand_mb += memory_mb[event.model];
        }
    }
    if (!any) return 0.0;
    demand_per_window_mb.push_back(current_demand_mb);

    const std::size_t windows = demand_per_window_mb.size();
    const std::size_t rank = (95 * windows + 99) / 100;  // ceil(0.95 N), 1-based
    const auto nth = demand_per_window_mb.begin() + static_cast<std::ptrdiff_t>(rank - 1);
    std::nth_element(demand_per_window_mb.begin(), nth, demand_per_window_mb.end());
    return *nth;
}

}  // namespace warmup::host::replay
