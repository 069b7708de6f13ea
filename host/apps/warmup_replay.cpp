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

#include <CLI/CLI.hpp>
#include <charconv>
#include <filesystem>
#include <iostream>

#include "config/config.hpp"
#include "core/duration.hpp"
#include "core/paths.hpp"
#include "replay/fleet_replay.hpp"
#include "replay/replay_driver.hpp"
#include "replay/replay_report.hpp"
#include "version/build_info.hpp"

namespace {

/// A time on the trace's clock: a bare number is milliseconds ("90000", "90s", "36h").
std::optional<int64_t> parse_time_ms(const std::string& text) { return warmup::host::parse_duration_ms(text, true); }

}  // namespace

// Long: the declaration of every option, one after another as --help lists them, then one call per output.
int main(int argc, char** argv) {
    using namespace warmup::host;
    CLI::App app{"warmup-replay: evaluate warm-up policies on traces, side by side, with clairvoyant yardsticks"};
    std::string config_file, out_dir, dump_file, from_text, to_text, arms_text;
    std::vector<std::string> traces;
    std::string seed_text;
    bool quiet = false;
    bool frontier = false;
    app.add_option("--config", config_file, "scenario YAML (catalog, budget, arms)")->required();
    app.add_option("--trace", traces,
                   "csv:PATH | servegen:DIR | azure2019:FILE | synth:FILE.yaml | journal:DIR (repeatable)")
        ->required();
    app.add_option("--out", out_dir, "folder for report.json, report.md, report.html, per-model.csv, timing.json");
    app.add_option("--seed", seed_text, "random seed for arrival generation, 0 to 2^64-1 (default: replay.seed)");
    app.add_option("--from", from_text, "replay events at or after this time (ms, or 90s/30m/12h/7d)");
    app.add_option("--to", to_text, "replay events before this time");
    app.add_option("--arms", arms_text, "comma-separated subset of the configured arms");
    app.add_option("--dump-events", dump_file, "write the merged event stream as native CSV");
    app.add_flag("--frontier", frontier,
                 "add the keep-alive curve arms (1, 2, 5, 10, 20, 30, 60, 120, 240 min) and each arm's ratio to it");
    app.add_flag("--quiet", quiet, "no progress line");
    uint32_t fleet_nodes = 0;
    std::string drop_node_text;
    std::optional<double> load_slack;
    app.add_option("--nodes", fleet_nodes,
                   "replay a fleet of N nodes sharing the budget, placed as warmupd's fleet (fleet.json, fleet.md)")
        ->check(CLI::Range(1U, 1024U));
    app.add_option("--drop-node", drop_node_text, "with --nodes: remove NODE (node-0 ..) at time T (NODE@T)");
    app.add_option("--load-slack", load_slack, "with --nodes: placement bound, a node owns at most (1 + X) x its share")
        ->check(CLI::Range(0.0, 4.0));
    app.set_version_flag("--version", version_line("warmup-replay"), "print the version, plugin ABI and git commit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        // --help and --version exit 0 through CLI11; a usage error is refused input: exit 2, like a bad config.
        return app.exit(error) == 0 ? 0 : 2;
    }
    spdlog::set_level(spdlog::level::warn);

    replay::ReplayOptions options;
    options.traces = traces;
    if (!seed_text.empty()) {
        // Parsed here, not by CLI11: its conversion wraps "-1" and saturates past 2^64-1, where the config's
        // replay.seed is refused.
        uint64_t seed = 0;
        const char* end = seed_text.data() + seed_text.size();
        const auto [stop, error] = std::from_chars(seed_text.data(), end, seed);
        if (error != std::errc{} || stop != end) {
            std::cerr << "warmup-replay: bad --seed '" << seed_text
                      << "' (expected an integer in [0, 18446744073709551615])\n";
            return 2;
        }
        options.seed = seed;
    }
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
    if (options.from_ms && options.to_ms && *options.from_ms >= *options.to_ms) {
        std::cerr << "warmup-replay: --from " << from_text << " is not before --to " << to_text
                  << " (events are replayed in [from, to))\n";
        return 2;
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

    // Options that belong to one mode are refused in the other rather than ignored.
    if (fleet_nodes == 0 && load_slack) {
        std::cerr << "warmup-replay: --load-slack applies to a fleet replay: give --nodes N too\n";
        return 2;
    }
    if (fleet_nodes > 0 && (!arms_text.empty() || frontier || !dump_file.empty())) {
        std::cerr << "warmup-replay: --nodes replays the configuration's top-level components on every node: "
                     "--arms, --frontier and --dump-events do not apply to it\n";
        return 2;
    }

    replay::FleetReplayOptions fleet;
    fleet.nodes = fleet_nodes;
    fleet.load_slack = load_slack;
    if (!drop_node_text.empty()) {
        const auto at = drop_node_text.rfind('@');
        const auto time = at == std::string::npos ? std::nullopt : parse_time_ms(drop_node_text.substr(at + 1));
        if (fleet_nodes == 0 || at == std::string::npos || at == 0 || !time) {
            std::cerr << "warmup-replay: --drop-node expects NODE@TIME with --nodes (e.g. node-1@6h), got '"
                      << drop_node_text << "'\n";
            return 2;
        }
        fleet.drop_node = drop_node_text.substr(0, at);
        fleet.drop_at_ms = *time;
    }

    try {
        const Config config = load_config_file(config_file, executable_dir());
        for (const std::string& notice : config.notices) std::cerr << "warmup-replay: CONFIG_NOTICE " << notice << "\n";
        if (fleet_nodes > 0) {
            if (out_dir.empty()) {
                std::cerr << "warmup-replay: --nodes needs --out DIR\n";
                return 2;
            }
            const replay::FleetReplayReport report = replay::run_fleet_replay(config, options, fleet);
            replay::write_fleet_reports(report, out_dir);
            std::cout << replay::fleet_table_markdown(report)
                      << fmt::format("\n{} events over {} nodes in {:.1f} s; reports in {}\n", report.events,
                                     report.nodes, report.wall_seconds, out_dir);
            return 0;
        }
        if (!dump_file.empty()) replay::dump_events(config, options, dump_file);
        if (out_dir.empty()) return 0;
        const replay::ReplayReport report = replay::run_replay(config, options);
        replay::write_reports(report, out_dir);
        std::cout << replay::arms_table_markdown(report);
        for (const std::string& warning : replay::plugin_error_warnings(report))
            std::cerr << "warmup-replay: WARNING " << warning << "\n";
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
