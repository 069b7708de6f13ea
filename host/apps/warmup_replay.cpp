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
//   warmup-replay --config FILE --trace SPEC --out DIR --nodes N [--drop-node NODE@T] [--load-slack X]
//                 a fleet of N simulated nodes (node-0 ..) sharing the budget, placed as warmupd's fleet places
//                 models; --drop-node removes a node at T and reports the re-homing cost (replay/fleet_replay.hpp)
//
// T is milliseconds, or a number with a unit: 90s, 30m, 12h, 7d. Exit status: 0 done (also --help, --version), 2 bad
// command line/config/trace/plugin.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <tbb/task_scheduler_observer.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <string_view>

#include "config/config.hpp"
#include "core/duration.hpp"
#include "core/paths.hpp"
#include "replay/fleet_replay.hpp"
#include "replay/replay_driver.hpp"
#include "replay/replay_report.hpp"
#include "runtime/crash_report.hpp"
#include "runtime/log_format.hpp"
#include "version/build_info.hpp"

namespace {

using namespace warmup::host;

/// A time on the trace's clock: a bare number is milliseconds ("90000", "90s", "36h").
std::optional<int64_t> parse_time_ms(const std::string& text) { return parse_duration_ms(text, true); }

/// The command line as given (strings not yet interpreted).
struct CommandLine {
    std::string config_file, out_dir, dump_file, from_text, to_text, arms_text, seed_text, drop_node_text,
        keep_alive_text;
    const CLI::Option* arms_option = nullptr;  ///< to tell `--arms ""` from no --arms
    std::vector<std::string> traces;
    bool quiet = false;
    bool frontier = false;
    uint32_t fleet_nodes = 0;
    std::optional<double> load_slack;
};

/// What to run, read from the command line and checked.
struct Run {
    std::string config_file, out_dir, dump_file;
    replay::ReplayOptions options;
    replay::FleetReplayOptions fleet;  ///< fleet.nodes 0: one node with its arms
};

/// Declares every option, in the order --help lists them.
void declare_options(CLI::App& app, CommandLine& line) {
    // --config and --trace are required, checked after the parse (main): CLI11 checks required options before it
    // looks for unknown ones, so a mistyped option was answered "--config is required".
    app.add_option("--config", line.config_file, "scenario YAML (catalog, budget, arms); required");
    app.add_option("--trace", line.traces,
                   "csv:PATH | servegen:DIR | azure2019:FILE | synth:FILE.yaml | journal:DIR (repeatable); required");
    app.add_option("--out", line.out_dir, "folder for report.json, report.md, report.html, per-model.csv, timing.json");
    app.add_option("--seed", line.seed_text, "random seed for arrival generation, 0 to 2^64-1 (default: replay.seed)");
    app.add_option("--from", line.from_text, "replay events at or after this time (ms, or 90s/30m/12h/7d)");
    app.add_option("--to", line.to_text, "replay events before this time");
    line.arms_option = app.add_option("--arms", line.arms_text, "comma-separated subset of the configured arms");
    app.add_option("--dump-events", line.dump_file, "write the merged event stream as native CSV");
    app.add_flag("--frontier", line.frontier,
                 "add the keep-alive curve arms (1, 2, 5, 10, 20, 30, 60, 120, 240 min) and each arm's ratio to it");
    app.add_option("--keep-alive", line.keep_alive_text,
                   "add keep-alive timers at these keeps (minutes, comma-separated), built like the curve's arms, as "
                   "arms keepalive-<K>m with their ratio");
    app.add_flag("--quiet", line.quiet, "no progress line");
    app.add_option("--nodes", line.fleet_nodes,
                   "replay a fleet of N nodes sharing the budget, placed as warmupd's fleet (fleet.json, fleet.md)")
        ->check(CLI::Range(1U, 1024U));
    app.add_option("--drop-node", line.drop_node_text, "with --nodes: remove NODE (node-0 ..) at time T (NODE@T)");
    app.add_option("--load-slack", line.load_slack,
                   "with --nodes: placement bound, a node owns at most (1 + X) x its share")
        ->check(CLI::Range(0.0, 4.0));
    app.set_version_flag("--version", version_line("warmup-replay"), "print the version, plugin ABI and git commit");
}

/// The pieces of `text` between commas, each without the spaces around it, empty ones included ("" gives none,
/// "a,,b" three, "a, b" "a" and "b").
std::vector<std::string> comma_separated(const std::string& text) {
    std::vector<std::string> pieces;
    for (std::size_t start = 0; start < text.size();) {
        const auto comma = text.find(',', start);
        const auto end = comma == std::string::npos ? text.size() : comma;
        std::string_view piece(text.data() + start, end - start);
        while (!piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
        while (!piece.empty() && piece.back() == ' ') piece.remove_suffix(1);
        pieces.emplace_back(piece);
        start = end + 1;
    }
    return pieces;
}

/// Interprets and checks what CLI11 could not: the seed, the times, the arms, and the options that belong to one mode
/// (refused in the other rather than ignored). Returns the reason for a refusal (exit 2) or fills `run`.
std::optional<std::string> interpret(const CommandLine& line, Run& run) {
    run.config_file = line.config_file;
    run.out_dir = line.out_dir;
    run.dump_file = line.dump_file;
    replay::ReplayOptions& options = run.options;
    options.traces = line.traces;
    if (!line.seed_text.empty()) {
        // Parsed here, not by CLI11: its conversion wraps "-1" and saturates past 2^64-1, where the config's
        // replay.seed is refused.
        uint64_t seed = 0;
        const char* end = line.seed_text.data() + line.seed_text.size();
        const auto [stop, error] = std::from_chars(line.seed_text.data(), end, seed);
        if (error != std::errc{} || stop != end)
            return "bad --seed '" + line.seed_text + "' (expected an integer in [0, 18446744073709551615])";
        options.seed = seed;
    }
    options.progress = !line.quiet;
    options.frontier = line.frontier;
    for (const auto& [text, target] :
         {std::pair{&line.from_text, &options.from_ms}, std::pair{&line.to_text, &options.to_ms}}) {
        if (text->empty()) continue;
        *target = parse_time_ms(*text);
        if (!*target) return "bad time '" + *text + "' (expected ms, or a number with s, m, h or d)";
    }
    if (options.from_ms && options.to_ms && *options.from_ms >= *options.to_ms)
        return "--from " + line.from_text + " is not before --to " + line.to_text +
               " (events are replayed in [from, to))";
    for (std::string& name : comma_separated(line.arms_text))
        if (!name.empty()) options.only_arms.push_back(std::move(name));
    if (line.arms_option != nullptr && line.arms_option->count() > 0 && options.only_arms.empty())
        return "--arms names no arm (give configured arm names, comma-separated; leave --arms out for all of them)";
    if (line.out_dir.empty() && line.dump_file.empty()) return "give --out DIR (reports) and/or --dump-events FILE";
    for (const std::string& keep : comma_separated(line.keep_alive_text)) {
        double minutes = 0;
        const auto [stop, error] = std::from_chars(keep.data(), keep.data() + keep.size(), minutes);
        if (keep.empty() || error != std::errc{} || stop != keep.data() + keep.size() || !(minutes * 60'000 >= 1) ||
            !std::isfinite(minutes))
            return "bad --keep-alive '" + keep + "' (expected keeps in minutes, comma-separated, each at least 1 ms)";
        options.keep_alive_minutes.push_back(minutes);
    }

    if (line.fleet_nodes == 0 && line.load_slack) return "--load-slack applies to a fleet replay: give --nodes N too";
    if (line.fleet_nodes > 0 &&
        (!line.arms_text.empty() || line.frontier || !line.dump_file.empty() || !line.keep_alive_text.empty()))
        return "--nodes replays the configuration's top-level components on every node: --arms, --frontier, "
               "--keep-alive and --dump-events do not apply to it";
    replay::FleetReplayOptions& fleet = run.fleet;
    fleet.nodes = line.fleet_nodes;
    fleet.load_slack = line.load_slack;
    if (!line.drop_node_text.empty()) {
        const auto at = line.drop_node_text.rfind('@');
        const auto time = at == std::string::npos ? std::nullopt : parse_time_ms(line.drop_node_text.substr(at + 1));
        if (line.fleet_nodes == 0 || at == std::string::npos || at == 0 || !time)
            return "--drop-node expects NODE@TIME with --nodes (e.g. node-1@6h), got '" + line.drop_node_text + "'";
        fleet.drop_node = line.drop_node_text.substr(0, at);
        fleet.drop_at_ms = *time;
    }
    if (fleet.nodes > 0 && line.out_dir.empty()) return "--nodes needs --out DIR";
    return std::nullopt;
}

/// Replays and writes the reports. Throws on a configuration, trace or plugin that cannot be used.
void replay_and_report(const Run& run) {
    const Config config = load_config_file(run.config_file, executable_dir());
    for (const std::string& notice : config.notices) std::cerr << "warmup-replay: CONFIG_NOTICE " << notice << "\n";
    if (run.fleet.nodes > 0) {
        const replay::FleetReplayReport report = replay::run_fleet_replay(config, run.options, run.fleet);
        replay::write_fleet_reports(report, run.out_dir);
        std::cout << replay::fleet_table_markdown(report)
                  << fmt::format("\n{} events over {} nodes in {:.1f} s; reports in {}\n", report.events, report.nodes,
                                 report.wall_seconds, run.out_dir);
        return;
    }
    if (!run.dump_file.empty()) replay::dump_events(config, run.options, run.dump_file);
    if (run.out_dir.empty()) return;
    const replay::ReplayReport report = replay::run_replay(config, run.options);
    replay::write_reports(report, run.out_dir);
    std::cout << replay::arms_table_markdown(report);
    for (const std::string& warning : replay::arm_warnings(report))
        std::cerr << "warmup-replay: WARNING " << warning << "\n";
    std::cout << fmt::format("\n{} events x {} arms in {:.1f} s ({:.2f} M events/s); reports in {}\n", report.events,
                             report.arms.size(), report.wall_seconds, report.events_per_second / 1e6, run.out_dir);
}

}  // namespace

/// Gives every worker thread that runs arms an alternate signal stack, so a plugin's endless recursion in an arm is
/// reported like any other crash (runtime/crash_report.hpp).
class AlternateStacksForWorkers final : public tbb::task_scheduler_observer {
  public:
    AlternateStacksForWorkers() { observe(true); }
    ~AlternateStacksForWorkers() override { observe(false); }
    void on_scheduler_entry(bool /*is_worker*/) override { use_alternate_signal_stack(); }
};

int main(int argc, char** argv) {
    CLI::App app{"warmup-replay: evaluate warm-up policies on traces, side by side, with clairvoyant yardsticks"};
    CommandLine line;
    declare_options(app, line);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        // --help and --version exit 0 through CLI11; a usage error is refused input: exit 2, like a bad config.
        return app.exit(error) == 0 ? 0 : 2;
    }
    for (const auto& [missing, name] :
         {std::pair{line.config_file.empty(), "--config"}, std::pair{line.traces.empty(), "--trace"}})
        if (missing) {
            std::cerr << name << " is required\nRun with --help for more information.\n";
            return 2;
        }
    log_to_standard_error(spdlog::level::warn);  // standard output is the run's summary
    Run run;
    if (const auto refused = interpret(line, run)) {
        std::cerr << "warmup-replay: " << *refused << "\n";
        return 2;
    }
    // A plugin that crashes the replay is named, with its arm, on the way out.
    const CrashReport crash_report(CrashReportText{
        "warmup-replay",
        "Replay that arm alone (--arms NAME) to see it again, or take the plugin out of the configuration.",
        "the replay itself, or a thread a plugin started", nullptr});
    const AlternateStacksForWorkers alternate_stacks;
    try {
        replay_and_report(run);
    } catch (const ConfigError& error) {
        std::cerr << "warmup-replay: CONFIG_ERROR " << error.what() << "\n";
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "warmup-replay: " << error.what() << "\n";
        return 2;
    }
    return 0;
}
