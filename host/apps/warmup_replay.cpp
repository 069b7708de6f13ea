// warmup-replay — evaluates warm-up policies offline: replays traces through the same engine and plugins as warmupd
// on a virtual clock, every configured arm side by side, plus the clairvoyant yardsticks.
//
//   warmup-replay --config FILE --trace SPEC [--trace SPEC ...] --out DIR [--seed N] [--from T] [--to T]
//                 [--arms a,b] [--frontier] [--dump-events FILE]
//   warmup-replay --version                       version, plugin ABI and git commit of this build
//
// --frontier adds the keep-alive curve arms (1..240 min) and each other arm's ratio to that curve (also
// `replay: {frontier: true}`); the compulsory cold requests are always measured.
//
// T is milliseconds, or a number with a unit: 90s, 30m, 12h, 7d. Exit status: 0 done, 2 bad config/trace/plugin.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <filesystem>
#include <iostream>

#include "config/config.hpp"
#include "core/paths.hpp"
#include "replay/replay_driver.hpp"
#include "replay/replay_report.hpp"
#include "version/build_info.hpp"

namespace {

std::optional<int64_t> parse_time_ms(const std::string& text) {
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || value < 0) return std::nullopt;
    const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
    double scale = 1;
    if (unit == "" || unit == "ms")
        scale = 1;
    else if (unit == "s")
        scale = 1e3;
    else if (unit == "m")
        scale = 60e3;
    else if (unit == "h")
        scale = 3600e3;
    else if (unit == "d")
        scale = 86400e3;
    else
        return std::nullopt;
    return static_cast<int64_t>(value * scale);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace warmup::host;
    CLI::App app{"warmup-replay: evaluate warm-up policies on traces, side by side, with clairvoyant yardsticks"};
    std::string config_file, out_dir, dump_file, from_text, to_text, arms_text;
    std::vector<std::string> traces;
    std::optional<uint64_t> seed;
    bool quiet = false;
    bool frontier = false;
    app.add_option("--config", config_file, "scenario YAML (catalog, budget, arms)")->required();
    app.add_option("--trace", traces,
                   "csv:PATH | servegen:DIR | azure2019:FILE | synth:FILE.yaml | journal:DIR (repeatable)")
        ->required();
    app.add_option("--out", out_dir, "folder for report.json, report.md, report.html, timing.json");
    app.add_option("--seed", seed, "random seed for arrival generation (default: replay.seed)");
    app.add_option("--from", from_text, "replay events at or after this time (ms, or 90s/30m/12h/7d)");
    app.add_option("--to", to_text, "replay events before this time");
    app.add_option("--arms", arms_text, "comma-separated subset of the configured arms");
    app.add_option("--dump-events", dump_file, "write the merged event stream as native CSV");
    app.add_flag("--frontier", frontier,
                 "add the keep-alive curve arms (1, 2, 5, 10, 20, 30, 60, 120, 240 min) and each arm's ratio to it");
    app.add_flag("--quiet", quiet, "no progress line");
    app.set_version_flag("--version", version_line("warmup-replay"), "print the version, plugin ABI and git commit");
    CLI11_PARSE(app, argc, argv);
    spdlog::set_level(spdlog::level::warn);

    replay::ReplayOptions options;
    options.traces = traces;
    options.seed = seed;
    options.progress = !quiet;
    options.frontier = frontier;
    for (const auto& [text, target] : {std::pair{&from_text, &options.from_ms}, std::pair{&to_text, &options.to_ms}}) {
        if (text->empty()) continue;
        *target = parse_time_ms(*text);
        if (!*target) {
            std::cerr << "warmup-replay: bad time '" << *text << "' (expected ms, or a number with s, m, h or d)\n";
            return 2;
        }
    }
    for (std::size_t start = 0; start < arms_text.size();) {
        const auto comma = arms_text.find(',', start);
        const auto end = comma == std::string::npos ? arms_text.size() : comma;
        if (end > start) options.only_arms.push_back(arms_text.substr(start, end - start));
        start = end + 1;
    }
    if (out_dir.empty() && dump_file.empty()) {
        std::cerr << "warmup-replay: give --out DIR (reports) and/or --dump-events FILE\n";
        return 2;
    }

    try {
        const Config config = load_config_file(config_file, executable_dir());
        if (!dump_file.empty()) replay::dump_events(config, options, dump_file);
        if (out_dir.empty()) return 0;
        const replay::ReplayReport report = replay::run_replay(config, options);
        replay::write_reports(report, out_dir);
        std::cout << replay::arms_table_markdown(report);
        std::cout << fmt::format("\n{} events x {} arms in {:.1f} s ({:.2f} M events/s); reports in {}\n",
                                 report.events, report.arms.size(), report.wall_seconds, report.events_per_second / 1e6,
                                 out_dir);
    } catch (const ConfigError& error) {
        std::cerr << "warmup-replay: CONFIG_ERROR " << error.what() << "\n";
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "warmup-replay: " << error.what() << "\n";
        return 2;
    }
    return 0;
}
