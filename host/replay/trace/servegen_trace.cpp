// replay/trace/servegen_trace.cpp — Alibaba ServeGen per-client window files turned into arrivals.
//
// Each client file is read one window at a time. For an active window the n arrivals are generated at once into the
// client's per-second table (600 counters), then handed out second by second; the files of a directory are merged
// by the k-way merge of trace.cpp. Memory: per client one open file, a 32 KiB read buffer and the table; plus one
// scratch array of gaps shared by the clients of a directory, as long as the busiest window's n.
//
// Phase. ServeGen publishes rates per 10-minute window, so spreading each window's arrivals over the window makes a
// client that wakes after an idle spell wake within seconds of a window start, every time: an artifact of the grid,
// not of the client. With ServeGenPhase::run (the default) every run of consecutive non-empty windows is shifted as
// a whole by one offset drawn uniformly from [0, 600 000) ms, from a random stream of its own (the arrival draws stay
// exactly those of ServeGenPhase::window). Runs never interleave: an empty window separates two runs, and a shift is
// shorter than a window.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "replay/trace/line_reader.hpp"
#include "replay/trace/random.hpp"

namespace warmup::host::replay {
namespace {

constexpr int64_t window_seconds = 600;
constexpr int64_t window_ms = window_seconds * 1000;
// Guards the scratch array against a corrupt rate: 2^31 arrivals in 10 minutes is 3.6 M requests per second.
constexpr double max_arrivals_per_window = 2147483648.0;

/// n = ceil(rate x 600), robust to rates stored as k/600 in floating point: 0.035 x 600 is 21.000000000000004,
/// which is 21 arrivals, not 22.
uint64_t arrivals_in_window(double rate_rps) {
    const double expected = rate_rps * static_cast<double>(window_seconds);
    const double nearest = std::round(expected);
    if (std::abs(expected - nearest) <= 1e-6 * nearest) return static_cast<uint64_t>(nearest);
    return static_cast<uint64_t>(std::ceil(expected));
}

class ServeGenClientReader final : public TraceReader {
  public:
    ServeGenClientReader(const std::filesystem::path& path, uint32_t model, uint64_t rng_seed, uint64_t phase_seed,
                         ServeGenPhase phase, std::shared_ptr<std::vector<double>> scratch_gaps)
        : lines_(path, path.string(), std::size_t{32} << 10),
          model_(model),
          random_(rng_seed),
          phase_random_(phase_seed),
          phase_(phase),
          scratch_gaps_(std::move(scratch_gaps)) {}

    bool next(TraceEvent& out) override {
        for (;;) {
            while (next_second_ < window_seconds) {
                const int64_t second = next_second_++;
                if (const uint32_t count = arrivals_per_second_[second]; count != 0) {
                    arrivals_per_second_[second] = 0;
                    out = TraceEvent{window_start_ms_ + second * 1000, model_, count, 0};
                    return true;
                }
            }
            if (!generate_next_active_window()) return false;
        }
    }

    [[nodiscard]] std::string describe() const override { return "servegen client " + lines_.source(); }

  private:
    /// Reads lines up to the next window with a positive rate and fills arrivals_per_second_; false at the end.
    bool generate_next_active_window() {
        std::string_view line;
        for (;;) {
            if (!lines_.next(line)) return false;
            if (line.empty()) continue;
            std::array<std::string_view, 6> fields;
            const std::size_t field_count = split_fields(line, fields);
            if (field_count > fields.size())
                lines_.fail("more than 6 fields (window_start_s,rate_rps,cv,distribution,shape,scale)");
            if (field_count < 2) lines_.fail("expected window_start_s,rate_rps,cv,distribution,shape,scale");

            int64_t start_s = 0;
            if (!parse_integer(fields[0], start_s) || start_s < 0) {
                lines_.fail(fmt::format("bad window start '{}' (expected whole seconds >= 0)", fields[0]));
            }
            if (has_previous_ && start_s < previous_start_s_ + window_seconds) {
                lines_.fail(
                    fmt::format("window start {} s is less than 600 s after the previous window's {} s "
                                "(windows must be in time order)",
                                start_s, previous_start_s_));
            }
            previous_start_s_ = start_s;
            has_previous_ = true;

            double rate_rps = 0;
            if (!parse_double(fields[1], rate_rps) || rate_rps < 0) {
                lines_.fail(fmt::format("bad rate '{}' (expected requests per second >= 0)", fields[1]));
            }
            if (rate_rps == 0) continue;  // idle window
            if (field_count != 6)
                lines_.fail("an active window needs 6 fields (window_start_s,rate_rps,cv,distribution,shape,scale)");
            if (rate_rps * window_seconds >= max_arrivals_per_window) {
                lines_.fail(fmt::format("rate {} rps is beyond what a replay can generate", rate_rps));
            }

            double shape = 0, scale = 0;
            if (!parse_double(fields[4], shape) || shape <= 0)
                lines_.fail(fmt::format("bad shape '{}' (expected > 0)", fields[4]));
            if (!parse_double(fields[5], scale) || scale <= 0)
                lines_.fail(fmt::format("bad scale '{}' (expected > 0)", fields[5]));
            const std::string_view distribution = fields[3];
            const uint64_t arrivals = arrivals_in_window(rate_rps);
            if (distribution == "Weibull") {
                place_arrivals(arrivals, WeibullSampler(shape, scale));
            } else if (distribution == "Gamma") {
                place_arrivals(arrivals, GammaSampler(shape, scale));
            } else {
                lines_.fail(fmt::format("unknown distribution '{}' (expected Weibull or Gamma)", distribution));
            }
            const bool continues_run = has_active_ && start_s == last_active_start_s_ + window_seconds;
            if (!continues_run && phase_ == ServeGenPhase::run) {
                run_offset_ms_ = static_cast<int64_t>(phase_random_.uniform01() * static_cast<double>(window_ms));
            }
            has_active_ = true;
            last_active_start_s_ = start_s;
            window_start_ms_ = start_s * 1000 + run_offset_ms_;
            next_second_ = 0;
            return true;
        }
    }

    /// As ServeGen: draw the gaps, scale them to sum to the window, put arrival i at the sum of gaps 0..i.
    template <typename Sampler>
    void place_arrivals(uint64_t arrivals, const Sampler& sample_gap) {
        std::vector<double>& gaps = *scratch_gaps_;
        if (gaps.size() < arrivals) gaps.resize(arrivals);
        double total = 0;
        for (uint64_t i = 0; i < arrivals; ++i) {
            gaps[i] = sample_gap(random_);
            total += gaps[i];
        }
        // All gaps can underflow to 0 for a tiny Gamma shape; then the window gets evenly spaced arrivals.
        const bool degenerate = !(total > 0) || !std::isfinite(total);
        const double ms_per_unit = degenerate ? static_cast<double>(window_ms) / static_cast<double>(arrivals)
                                              : static_cast<double>(window_ms) / total;
        double cumulative = 0;
        for (uint64_t i = 0; i < arrivals; ++i) {
            cumulative += degenerate ? 1.0 : gaps[i];
            // The last arrival lands on the window's end (600 000 ms): keep it in the window's last millisecond.
            const auto offset_ms =
                std::clamp<int64_t>(static_cast<int64_t>(cumulative * ms_per_unit), 0, window_ms - 1);
            ++arrivals_per_second_[offset_ms / 1000];
        }
    }

    LineReader lines_;
    uint32_t model_;
    RandomStream random_;        // arrival draws: identical in both phases
    RandomStream phase_random_;  // one draw per run of non-empty windows (ServeGenPhase::run)
    ServeGenPhase phase_;
    std::shared_ptr<std::vector<double>> scratch_gaps_;
    std::array<uint32_t, window_seconds> arrivals_per_second_{};
    int64_t window_start_ms_ = 0;
    int64_t next_second_ = window_seconds;  // == window_seconds: table empty
    int64_t previous_start_s_ = 0;
    bool has_previous_ = false;
    int64_t last_active_start_s_ = 0;  // the latest non-empty window, to tell a continued run from a new one
    bool has_active_ = false;
    int64_t run_offset_ms_ = 0;  // shift of the current run, [0, 600 000) ms; 0 with ServeGenPhase::window
};

struct ClientFile {
    std::filesystem::path path;
    std::string client;  // the <client> of chunk-<client>-trace.csv
};

/// Numeric clients by value, then the others by name, so chunk-2 comes before chunk-10.
bool client_order(const ClientFile& a, const ClientFile& b) {
    const bool a_numeric = std::all_of(a.client.begin(), a.client.end(), [](char c) { return c >= '0' && c <= '9'; });
    const bool b_numeric = std::all_of(b.client.begin(), b.client.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (a_numeric != b_numeric) return a_numeric;
    if (a_numeric && a.client.size() != b.client.size()) return a.client.size() < b.client.size();
    return a.client < b.client;
}

}  // namespace

std::unique_ptr<TraceReader> open_servegen_trace(const std::filesystem::path& directory, ModelNames& models,
                                                 uint64_t seed, ServeGenPhase phase) {
    const std::string source = directory.string();
    std::error_code error;
    if (!std::filesystem::is_directory(directory, error)) throw TraceError(source, 0, "not a directory");

    std::filesystem::path normal = std::filesystem::absolute(directory).lexically_normal();
    if (normal.filename().empty()) normal = normal.parent_path();  // a trailing '/'
    const std::string prefix =
        fmt::format("{}/{}/", normal.parent_path().filename().string(), normal.filename().string());

    std::vector<ClientFile> files;
    constexpr std::string_view head = "chunk-";
    constexpr std::string_view tail = "-trace.csv";
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
        const std::string name = entry.path().filename().string();
        if (!entry.is_regular_file() || name.size() <= head.size() + tail.size() || !name.starts_with(head) ||
            !name.ends_with(tail)) {
            continue;
        }
        files.push_back({entry.path(), name.substr(head.size(), name.size() - head.size() - tail.size())});
    }
    if (files.empty()) throw TraceError(source, 0, "no chunk-<client>-trace.csv files");
    std::sort(files.begin(), files.end(), client_order);

    auto scratch_gaps = std::make_shared<std::vector<double>>();
    std::vector<std::unique_ptr<TraceReader>> clients;
    clients.reserve(files.size());
    for (const ClientFile& file : files) {
        const std::string model_name = prefix + "chunk-" + file.client;
        const uint32_t model = models.intern(model_name);
        clients.push_back(std::make_unique<ServeGenClientReader>(file.path, model, series_seed(seed, model_name),
                                                                 series_seed(seed, model_name + "#phase"), phase,
                                                                 scratch_gaps));
    }
    std::string description =
        fmt::format("servegen:{} ({} clients, seed {}, phase {})", source, clients.size(), seed,
                    phase == ServeGenPhase::run ? "run" : "window");
    return merge_described(std::move(clients), std::move(description));
}

}  // namespace warmup::host::replay
