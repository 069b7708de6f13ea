// replay/trace/trace.hpp — streaming readers of usage traces for the offline evaluator (warmup-replay).
//
// A trace is a time-ordered stream of TraceEvent: "at ts_ms, `count` requests arrived for `model`". Readers stream:
// they hold a read buffer and per-model state, never the events, so memory grows with the number of models, not with
// the length of the trace (the Azure reader is the one exception, see open_trace). Events are produced in
// non-decreasing ts_ms; readers that merge several series break ties by model id.
//
// Thread-safety: none. A reader, and the ModelNames tables it interns into, belong to one thread (the replay thread).
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace warmup::host::replay {

/// One event of a trace: `count` requests for `model` in the millisecond ts_ms (readers that merge arrivals per
/// second put ts_ms at the start of that second).
struct TraceEvent {
    int64_t ts_ms = 0;    ///< time since the trace origin, ms
    uint32_t model = 0;   ///< id in the models ModelNames table
    uint32_t count = 1;   ///< requests in this event, >= 1
    uint32_t tenant = 0;  ///< id in the tenants ModelNames table; 0 = none

    friend bool operator==(const TraceEvent&, const TraceEvent&) = default;
};

/// Interns names to dense ids 0, 1, 2, ... in order of first sight. Ids are never reused or renumbered, and the
/// string behind name(id) never moves, so a reference to it stays valid for the table's life.
/// Used for models and for tenants; by convention the tenants table holds "" (no tenant) at id 0 (open_trace
/// ensures it).
class ModelNames {
  public:
    ModelNames() = default;
    ModelNames(const ModelNames&) = delete;  // the index views the stored strings: a copy would dangle
    ModelNames& operator=(const ModelNames&) = delete;
    ModelNames(ModelNames&&) noexcept = default;  // std::deque's move keeps the element addresses
    ModelNames& operator=(ModelNames&&) noexcept = default;

    /// The id of `name`, registering it on first sight.
    uint32_t intern(std::string_view name);
    /// The id of an already interned name, or nullopt.
    [[nodiscard]] std::optional<uint32_t> find(std::string_view name) const;
    /// Precondition: id < size().
    [[nodiscard]] const std::string& name(uint32_t id) const { return names_[id]; }
    [[nodiscard]] uint32_t size() const noexcept { return static_cast<uint32_t>(names_.size()); }

  private:
    std::deque<std::string> names_;                       // never moves an element once inserted
    std::unordered_map<std::string_view, uint32_t> ids_;  // keys view names_
};

/// A trace that cannot be read. what() is "<source>:<line>: <reason>" (or "<source>: <reason>" when no line applies,
/// "<source>:<line>:<column>: <reason>" when a column is given: a scenario file's YAML node),
/// e.g. "trace.csv:17: timestamp 1200 is earlier than the previous line's 1500 (the file must be sorted by time)".
class TraceError : public std::runtime_error {
  public:
    TraceError(std::string source, uint64_t line, const std::string& reason);
    TraceError(std::string source, uint64_t line, uint64_t column, const std::string& reason);
    [[nodiscard]] const std::string& source() const noexcept { return source_; }
    /// 1-based line number, 0 when the error is not about one line.
    [[nodiscard]] uint64_t line() const noexcept { return line_; }
    /// 1-based column, 0 when none applies.
    [[nodiscard]] uint64_t column() const noexcept { return column_; }

  private:
    std::string source_;
    uint64_t line_;
    uint64_t column_ = 0;
};

/// A forward-only stream of events in non-decreasing ts_ms.
class TraceReader {
  public:
    virtual ~TraceReader();
    /// Stores the next event in `out` and returns true; false at the end (and on every later call).
    /// Throws TraceError on a bad line; the reader must not be used after that.
    virtual bool next(TraceEvent& out) = 0;
    /// One line for logs and reports, e.g. "servegen:/data/m-large (162 clients, seed 1)".
    [[nodiscard]] virtual std::string describe() const = 0;
};

/// How a ServeGen reader places a client's runs of non-empty windows in time (see `servegen:DIR` below).
enum class ServeGenPhase {
    window,  ///< as published: every window starts on the 600 s grid
    run,     ///< every run of consecutive non-empty windows shifted by one uniform offset in [0, 600) s
};

/// Opens a trace named by `spec` ("<kind>:<path>"; a relative path is taken relative to base_dir when base_dir is
/// not empty). Models are interned into `models`, tenants into `tenants` (which gets "" at id 0 if it is empty;
/// a non-empty tenants table must already hold "" at id 0). `seed` drives the synthetic arrivals of servegen,
/// azure2019 and synth traces: the same seed gives the same events, byte for byte, on every platform with IEEE doubles
/// and a correctly rounded libm (exp/log/pow are the only library math used, and cos for synth's daily cycle).
///
/// - `csv:PATH` — the native format: a header `ts_ms,model[,count][,tenant]`, then one event per line with those
///   columns (trailing ones may be omitted: count 1, no tenant; an empty tenant field means none), sorted by ts_ms
///   (equal allowed, kept in file order). Blank lines are skipped. No quoting: names cannot contain ',' or newlines.
/// - `servegen:DIR` — Alibaba ServeGen per-client window files `chunk-<client>-trace.csv`; each file is one model
///   named "<category>/<folder>/chunk-<client>" after the last two components of DIR (e.g. language/m-large/chunk-17).
///   Models are interned in client order (numeric clients by value). Per active 600 s window: n = ceil(rate x 600)
///   (rate x 600 within 1e-6 relative of an integer counts as that integer), n gaps drawn from the fitted Weibull or
///   Gamma, scaled to sum to 600 s, arrivals at the cumulative sums (ms resolution, the last one — exactly at the
///   window's end — kept in the window's last millisecond), merged per model and second into one event at the
///   second's start. One random stream per client, seeded from (seed, model name), so file order does not matter.
///   Holds one open file and a 2.4 KB per-second table per client, plus one scratch array of the largest n.
///   `servegen:DIR?phase=run` (the default) shifts each run of consecutive non-empty windows as a whole by one offset
///   drawn uniformly from [0, 600 000) ms, from a stream seeded from (seed, model name + "#phase"), so the arrival
///   draws are those of `?phase=window`, which keeps the published grid. The grid is an artifact of how the data was
///   published: on it a client waking after an idle spell always wakes within seconds of a window start.
/// - `azure2019:FILE` — Azure Functions 2019 `invocations_per_function_md.anon.dNN.csv`: model "HashApp/HashFunction"
///   (a function hash alone is only unique within its app), tenant HashOwner, day NN starting at ts (NN-1) x
///   86,400,000. Each minute's invocations are placed uniformly at random (ms resolution) in that minute and merged per
///   model and second. The file is ordered by function, not time, so it is read once at open and the non-zero
///   per-minute counts are kept (8 bytes each, released minute by minute as they are emitted): memory is bounded by
///   functions x 1440, not by invocations. Rows naming the same model are summed.
/// - `synth:FILE.yaml` — a scenario of human rhythms (working hours in time zones, weekdays, lunch, sessions,
///   periodic jobs, rare use, followers, appearance and drift; docs/scenarios.md), generated with the seed: one random
///   stream per model, seeded from (seed, model name), so adding a model leaves the others' events unchanged. Models
///   are named as written in the file and interned in file order; memory is about one local day of events per model.
///   Errors in the file are TraceErrors located at "<file>:<line>:<column>".
/// - `journal:DIR` — the event journal of a warmupd state folder (runtime/state/journal.hpp): every event the daemon
///   accepted, at its timestamp (a future one as the time it was accepted), model by name, tenant named by its hash
///   ("tenant-<8 hex digits>"). All segments are read at open and kept (20 bytes per event; the journal is in
///   acceptance order, so it is sorted by time once); a torn or corrupt record ends its segment with a JOURNAL_TORN
///   warning, what was read before it is kept. No segment that reads: TraceError.
/// Throws TraceError for an unknown kind, an unreadable path or a bad header (bad lines throw from next()), and
/// std::invalid_argument when a non-empty tenants table does not hold "" at id 0.
std::unique_ptr<TraceReader> open_trace(std::string_view spec, ModelNames& models, ModelNames& tenants, uint64_t seed,
                                        std::filesystem::path base_dir = {});

/// The events of `inner` with from_ms <= ts_ms < to_ms. Stops reading `inner` at the first event at or after to_ms.
/// When `inner` has events but none in the range, next() throws TraceError saying where its events are (the range is
/// in the trace's own clock: an epoch-ms trace clipped with `--to 1h` keeps nothing).
std::unique_ptr<TraceReader> clip(std::unique_ptr<TraceReader> inner, int64_t from_ms, int64_t to_ms);

/// The longest time a replay covers, first event to last: two years. The replay's memory grows with the span (its
/// timeline, its windows), not with the events, so one time in microseconds among milliseconds would make it run out
/// of memory instead of failing.
inline constexpr int64_t kMaxTraceSpanMs = 731LL * 86'400'000;
/// The latest timestamp a trace may hold, and its negation the earliest: the end of the year 9999 in ms since the
/// Unix epoch. A time since the epoch in microseconds or nanoseconds is beyond it.
inline constexpr int64_t kMaxTraceTimestampMs = 253'402'300'799'999;

/// The events of `inner`, each checked against the two bounds above: next() throws TraceError for an event whose
/// |ts_ms| is over kMaxTraceTimestampMs or that comes more than kMaxTraceSpanMs after the first event (naming the
/// event's model from `models`, which must outlive the reader). The replay reads its traces through it after merging
/// them, so the bound holds across several `--trace` files too.
std::unique_ptr<TraceReader> bound_span(std::unique_ptr<TraceReader> inner, const ModelNames& models);

/// k-way merge of time-ordered traces into one: ties on ts_ms go to the lower model id, then to the earlier source
/// in `sources`. O(log k) per event, no allocation after the first event.
std::unique_ptr<TraceReader> merge(std::vector<std::unique_ptr<TraceReader>> sources);

/// Writes the rest of `trace` in the native csv format (header "ts_ms,model,count,tenant", empty tenant for 0), so
/// that open_trace("csv:...") of the output yields the same events (same names, counts, order).
/// Throws std::invalid_argument for a model or tenant name that the format cannot carry (empty model, ',' or a
/// newline), std::runtime_error when the stream fails; TraceError from the trace passes through. Returns the number
/// of events written.
uint64_t write_events_csv(TraceReader& trace, const ModelNames& models, const ModelNames& tenants, std::ostream& out);

/// A95: the 95th percentile of the memory demanded per window. The time axis is cut into windows
/// [k x window_ms, (k+1) x window_ms); for every window from the first event's to the last event's (windows without
/// events count as 0) the demand is the sum of memory_mb_of(model) over the distinct models requested in it.
/// Percentile by nearest rank: with N windows sorted ascending, the value at 1-based rank ceil(0.95 x N).
/// Returns 0 for an empty trace. memory_mb_of is called once per model. Consumes `trace`.
double concurrent_demand_p95_mb(TraceReader& trace, const std::function<double(uint32_t model)>& memory_mb_of,
                                int64_t window_ms = 600000);

}  // namespace warmup::host::replay
