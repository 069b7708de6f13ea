// replay/fleet_replay.cpp — warmup-replay --nodes N; see fleet_replay.hpp.
#include "replay/fleet_replay.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <warmup/ext/model_state.h>
#include <warmup/ext/simulation.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/placement.hpp"
#include "core/tenant_hash.hpp"
#include "loader/plugin_loader.hpp"
#include "loader/plugin_set.hpp"
#include "replay/trace/trace.hpp"
#include "replay/virtual_executor.hpp"

namespace warmup::host::replay {
namespace {

constexpr int64_t kNever = WARMUP_TIME_NEVER;
constexpr double kMbMsPerGbH = 1024.0 * 3600.0 * 1000.0;

struct SimNode {
    std::string id;
    std::unique_ptr<PluginSet> plugins;
    std::unique_ptr<VirtualExecutor> loads;
    std::unique_ptr<WarmupEngine> engine;
    std::optional<int64_t> dropped_at_ms;
    std::vector<warmup_usage_event> batch;  // this timestamp's events for this node

    /// Completions up to and including t, timers strictly before t, in time order (as the single-node replay).
    void advance_to(int64_t t, ManualClock& clock) {
        for (;;) {
            const int64_t completion_ms = loads->next_completion_ms();
            const int64_t due_ms = engine->next_timer_ms();
            const int64_t timer_ms = due_ms == kNever ? kNever : std::max(due_ms, clock.now_ms());
            if (completion_ms <= t && completion_ms <= timer_ms) {
                clock.set(completion_ms);
                const auto done = loads->pop();
                engine->on_load_finished(done.model, done.ticket, done.succeeded, done.duration_ms, 0, done.done_ms);
                continue;
            }
            if (timer_ms < t) {
                clock.set(timer_ms);
                engine->run_timers(timer_ms);
                continue;
            }
            break;
        }
        clock.set(t);
    }
};

const warmup_model_state_extension* model_state_of(const PluginInstance& instance) {
    const auto* table = static_cast<const warmup_model_state_extension*>(instance.extension(WARMUP_EXT_MODEL_STATE));
    return table != nullptr && table->struct_size >= sizeof(warmup_model_state_extension) ? table : nullptr;
}

/// The traces of `options`, merged and clipped (a fresh reader per pass: readers are streaming and deterministic).
std::unique_ptr<TraceReader> open_fleet_traces(const ReplayOptions& options, uint64_t seed, ModelNames& models,
                                               ModelNames& tenants) {
    if (options.traces.empty()) throw std::runtime_error("no --trace given");
    std::vector<std::unique_ptr<TraceReader>> readers;
    for (const auto& spec : options.traces)
        readers.push_back(open_trace(spec, models, tenants, seed, std::filesystem::current_path()));
    auto trace = readers.size() == 1 ? std::move(readers.front()) : merge(std::move(readers));
    if (options.from_ms || options.to_ms)
        trace = clip(std::move(trace), options.from_ms.value_or(INT64_MIN), options.to_ms.value_or(INT64_MAX));
    return trace;
}

/// Passes events through and notes every model it reads (the pre-pass: the placement needs the model set).
class ModelCollector final : public TraceReader {
  public:
    ModelCollector(TraceReader& inner, std::vector<bool>& seen) : inner_(inner), seen_(seen) {}
    bool next(TraceEvent& out) override {
        if (!inner_.next(out)) return false;
        if (out.model >= seen_.size()) seen_.resize(out.model + 1, false);
        seen_[out.model] = true;
        return true;
    }
    [[nodiscard]] std::string describe() const override { return inner_.describe(); }

  private:
    TraceReader& inner_;
    std::vector<bool>& seen_;
};

}  // namespace

FleetReplayReport run_fleet_replay(const Config& config, const ReplayOptions& options,
                                   const FleetReplayOptions& fleet) {
    const auto wall_started = std::chrono::steady_clock::now();
    if (fleet.nodes == 0) throw std::invalid_argument("--nodes must be at least 1");
    const uint64_t seed = options.seed.value_or(config.replay_seed);
    FleetReplayReport report;
    report.config_file = config.display_name;
    report.traces = options.traces;
    report.nodes = fleet.nodes;
    report.load_slack = fleet.load_slack.value_or(config.cluster.load_slack);

    Catalog catalog(config.catalog);
    ModelNames names, tenants;
    std::vector<warmup_model_index> to_catalog;  // trace model id -> catalog index
    auto catalog_index = [&](uint32_t trace_model) {
        if (trace_model < to_catalog.size() && to_catalog[trace_model] != WARMUP_NO_MODEL)
            return to_catalog[trace_model];
        if (trace_model >= to_catalog.size()) to_catalog.resize(trace_model + 1, WARMUP_NO_MODEL);
        const auto index = catalog.resolve(names.name(trace_model));
        if (!index)
            throw std::runtime_error(fmt::format("{}: catalog: no entry covers trace model '{}'",
                                                 config.locate("catalog"), names.name(trace_model)));
        return to_catalog[trace_model] = *index;
    };

    // Pre-pass: the models of the trace (and the A95 for a relative budget).
    std::vector<bool> seen;
    {
        auto trace = open_fleet_traces(options, seed, names, tenants);
        ModelCollector collector(*trace, seen);
        const double a95_mb = concurrent_demand_p95_mb(
            collector, [&](uint32_t model) { return catalog.record(catalog_index(model)).memory_mb; });
        report.budget_mb = config.memory_budget.is_relative() ? config.memory_budget.a95_multiple * a95_mb
                                                              : config.memory_budget.absolute_mb;
    }
    if (!(report.budget_mb > 0)) throw std::runtime_error("the fleet's memory budget is 0 MiB");
    std::vector<cluster::PlacementModel> placed;
    for (uint32_t model = 0; model < seen.size(); ++model)
        if (seen[model]) placed.push_back({names.name(model), catalog.record(catalog_index(model)).memory_mb, 1});
    report.models = placed.size();

    // The nodes: equal budgets, each its own plugin instances and engine, one shared virtual clock.
    ManualClock clock;
    PluginLoader loader(config.plugin_dirs);
    std::vector<SimNode> nodes(fleet.nodes);
    std::vector<cluster::PlacementNode> members;
    for (uint32_t i = 0; i < fleet.nodes; ++i) {
        SimNode& node = nodes[i];
        node.id = "node-" + std::to_string(i);
        node.plugins = PluginSet::create(config.components, config, loader, catalog, clock);
        const auto& backend = node.plugins->at(ComponentSlot::Backend);
        const auto* simulation =
            static_cast<const warmup_simulation_extension*>(backend->extension(WARMUP_EXT_SIMULATION));
        if (simulation == nullptr)
            throw StartupError(fmt::format("{}: backend {} cannot be replayed: it does not offer the {} extension",
                                           config.locate(config.components[ComponentSlot::Backend].key_path),
                                           backend->label(), WARMUP_EXT_SIMULATION));
        node.loads = std::make_unique<VirtualExecutor>(backend, simulation, catalog);
        EngineOptions engine_options;
        engine_options.memory_budget_mb = report.budget_mb / fleet.nodes;
        engine_options.max_concurrent_loads = config.max_concurrent_warmups;
        engine_options.arm = node.id;
        engine_options.breaker_call_budget_us = INT64_MAX;  // results must not depend on this machine's speed
        node.engine =
            std::make_unique<WarmupEngine>(node.plugins->component_set(), *node.loads, catalog, engine_options);
        members.push_back({node.id, engine_options.memory_budget_mb});
    }
    std::optional<std::size_t> drop_index;
    if (fleet.drop_node) {
        for (std::size_t i = 0; i < nodes.size(); ++i)
            if (nodes[i].id == *fleet.drop_node) drop_index = i;
        if (!drop_index)
            throw std::invalid_argument(
                fmt::format("--drop-node {}: the fleet has node-0 .. node-{}", *fleet.drop_node, fleet.nodes - 1));
    }

    // owner_of[catalog index]: the node that owns the model under the placement in force.
    std::vector<uint32_t> owner_of;
    auto place = [&](const std::vector<cluster::PlacementNode>& alive) {
        const auto placement = cluster::Placement::compute(alive, placed, cluster::PlacementOptions{report.load_slack});
        report.placed_over_bound = std::max(report.placed_over_bound, placement.over_bound());
        std::unordered_map<std::string, uint32_t> node_index;
        for (uint32_t i = 0; i < nodes.size(); ++i) node_index[nodes[i].id] = i;
        std::vector<uint32_t> owners(catalog.size(), 0);
        for (const auto& model : placed)
            owners[*catalog.resolve(model.name)] = node_index.at(placement.owners_of(model.name).front());
        return owners;
    };
    owner_of = place(members);

    struct MovedModel {
        warmup_model_index model;
        uint32_t to;
        uint64_t requests_base;
        uint64_t cold_base;
    };
    std::vector<MovedModel> moved;
    auto drop = [&](int64_t at_ms) {
        FleetReplayReport::Drop result;
        result.node = nodes[*drop_index].id;
        result.at_ms = at_ms;
        for (SimNode& node : nodes)
            if (!node.dropped_at_ms) node.advance_to(at_ms, clock);
        SimNode& gone = nodes[*drop_index];
        gone.engine->settle(at_ms);
        gone.engine->account_resident_idle(at_ms);
        gone.dropped_at_ms = at_ms;
        std::vector<cluster::PlacementNode> survivors;
        for (std::size_t i = 0; i < nodes.size(); ++i)
            if (!nodes[i].dropped_at_ms) survivors.push_back(members[i]);
        const auto next = place(survivors);
        for (const auto& model : placed) {
            const warmup_model_index index = *catalog.resolve(model.name);
            const uint32_t from = owner_of[index], to = next[index];
            if (from == to) continue;
            ++result.models_moved;
            ++(from == *drop_index ? result.moved_from_dropped : result.moved_between_survivors);
            SimNode& source = nodes[from];
            SimNode& target = nodes[to];
            for (const ComponentSlot slot : kAllSlots) {
                const auto& out = source.plugins->at(slot);
                const auto& in = target.plugins->at(slot);
                const auto* out_table = model_state_of(*out);
                const auto* in_table = model_state_of(*in);
                if (out_table == nullptr || in_table == nullptr ||
                    std::string_view(out_table->schema(out->self())) != in_table->schema(in->self()))
                    continue;
                std::string bytes;
                const warmup_byte_writer writer{&bytes, [](void* context, const char* data, size_t size) {
                                                    static_cast<std::string*>(context)->append(data, size);
                                                    return 0;
                                                }};
                if (ErrorPtr error{out_table->export_model(out->self(), index, &writer)}) continue;
                if (bytes.empty()) continue;
                if (ErrorPtr error{in_table->import_model(in->self(), index, {bytes.data(), bytes.size()})}) {
                    spdlog::warn("CLUSTER_STATE_IMPORT_ERROR {} import_model({}): {}", in->label(), model.name,
                                 error->message);
                    continue;
                }
                ++result.states_moved;
                result.state_bytes_moved += bytes.size();
                if (!source.dropped_at_ms) out_table->forget_model(out->self(), index);
            }
            for (SimNode* node : {&source, &target}) {
                if (node->dropped_at_ms) continue;
                const ModelStatus status = node->engine->model_status(index);
                if (status.residency == WARMUP_RESIDENCY_READY || status.residency == WARMUP_RESIDENCY_ABSENT)
                    node->engine->plan_ahead(index, at_ms);
            }
            const ModelStatus status = target.engine->model_status(index);
            moved.push_back({index, to, status.requests, status.cold_requests});
        }
        owner_of = next;
        report.drop = result;
    };

    // Main pass: the events of one timestamp go to their owners as one batch each.
    auto trace = open_fleet_traces(options, seed, names, tenants);
    std::vector<uint32_t> tenant_hashes;
    TraceEvent event{};
    bool have = trace->next(event);
    int64_t first_ms = kNever, last_ms = kNever;
    bool dropped = !drop_index.has_value();
    while (have) {
        const int64_t t = event.ts_ms;
        if (!dropped && t >= fleet.drop_at_ms) {
            drop(fleet.drop_at_ms);  // every event before it has been processed: no clock goes back
            dropped = true;
        }
        if (first_ms == kNever) first_ms = t;
        last_ms = t;
        for (SimNode& node : nodes) node.batch.clear();
        while (have && event.ts_ms == t) {
            if (event.tenant >= tenant_hashes.size()) {
                const auto old = tenant_hashes.size();
                tenant_hashes.resize(event.tenant + 1);
                for (auto id = old; id < tenant_hashes.size(); ++id)
                    tenant_hashes[id] = id == 0 ? 0 : tenant_hash(tenants.name(static_cast<uint32_t>(id)));
            }
            const warmup_model_index index = catalog_index(event.model);
            nodes[owner_of[index]].batch.push_back({event.ts_ms, index, event.count, tenant_hashes[event.tenant], 0});
            ++report.events;
            report.requests += event.count;
            have = trace->next(event);
        }
        for (SimNode& node : nodes) {
            if (node.dropped_at_ms) continue;
            node.advance_to(t, clock);
            if (!node.batch.empty()) node.engine->on_events(node.batch, t);
        }
    }
    if (report.events == 0) throw std::runtime_error("the traces hold no event in the chosen time range");
    if (!dropped)
        throw std::invalid_argument(fmt::format("--drop-node {}@{}: that is after the last event of the trace ({} ms)",
                                                *fleet.drop_node, fleet.drop_at_ms, last_ms));
    for (SimNode& node : nodes) {
        if (node.dropped_at_ms) continue;
        node.advance_to(last_ms, clock);
        node.engine->run_timers(last_ms);
        node.engine->settle(last_ms);
        node.engine->account_resident_idle(last_ms);
        node.engine->flush_metrics();
    }

    report.from_ms = first_ms;
    report.to_ms = last_ms;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const SimNode& node = nodes[i];
        const EngineCounters& c = node.engine->counters();
        FleetNodeResult r;
        r.id = node.id;
        r.budget_mb = members[i].budget_mb;
        r.dropped_at_ms = node.dropped_at_ms;
        if (!node.dropped_at_ms)
            r.models_owned = static_cast<std::size_t>(std::count_if(
                placed.begin(), placed.end(),
                [&](const cluster::PlacementModel& model) { return owner_of[*catalog.resolve(model.name)] == i; }));
        r.requests = c.requests;
        r.cold_requests = c.cold_requests;
        r.cold_rate = c.requests == 0 ? 0 : static_cast<double>(c.cold_requests) / static_cast<double>(c.requests);
        r.loaded_gb_h = c.loaded_mb_ms / kMbMsPerGbH;
        r.idle_gb_h = c.idle_mb_ms / kMbMsPerGbH;
        const int64_t span_ms = node.dropped_at_ms.value_or(last_ms) - first_ms;
        r.mean_resident_mb = span_ms > 0 ? c.loaded_mb_ms / static_cast<double>(span_ms) : 0;
        report.cold_requests += c.cold_requests;
        report.per_node.push_back(r);
    }
    report.cold_rate =
        report.requests == 0 ? 0 : static_cast<double>(report.cold_requests) / static_cast<double>(report.requests);
    if (report.drop) {
        for (const MovedModel& model : moved) {
            const ModelStatus status = nodes[model.to].engine->model_status(model.model);
            report.drop->moved_requests_after += status.requests - model.requests_base;
            report.drop->moved_cold_after += status.cold_requests - model.cold_base;
        }
    }
    report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_started).count();
    return report;
}

std::string fleet_table_markdown(const FleetReplayReport& report) {
    std::string text = fmt::format(
        "Fleet of {} nodes, {:.0f} MiB in all ({:.0f} MiB each), load slack {}: {} requests, {} cold ({:.2f} %), "
        "{} models\n\n",
        report.nodes, report.budget_mb, report.budget_mb / report.nodes, report.load_slack, report.requests,
        report.cold_requests, 100 * report.cold_rate, report.models);
    text +=
        "| node | models owned | requests | cold | cold rate | loaded GB·h | idle GB·h | mean resident MiB | "
        "dropped at ms |\n|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& node : report.per_node)
        text += fmt::format("| {} | {} | {} | {} | {:.2f} % | {:.3f} | {:.3f} | {:.0f} | {} |\n", node.id,
                            node.models_owned, node.requests, node.cold_requests, 100 * node.cold_rate,
                            node.loaded_gb_h, node.idle_gb_h, node.mean_resident_mb,
                            node.dropped_at_ms ? std::to_string(*node.dropped_at_ms) : std::string("-"));
    if (report.drop) {
        const auto& d = *report.drop;
        text += fmt::format(
            "\nRe-homing after {} left at {} ms: {} models moved ({} from it, {} between survivors by the load "
            "bound), {} per-model states ({} bytes) handed over; the moved models then had {} requests, {} cold.\n",
            d.node, d.at_ms, d.models_moved, d.moved_from_dropped, d.moved_between_survivors, d.states_moved,
            d.state_bytes_moved, d.moved_requests_after, d.moved_cold_after);
    }
    return text;
}

void write_fleet_reports(const FleetReplayReport& report, const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& node : report.per_node)
        nodes.push_back({{"id", node.id},
                         {"budget_mb", node.budget_mb},
                         {"models_owned", node.models_owned},
                         {"requests", node.requests},
                         {"cold_requests", node.cold_requests},
                         {"cold_rate", node.cold_rate},
                         {"loaded_gb_h", node.loaded_gb_h},
                         {"idle_gb_h", node.idle_gb_h},
                         {"mean_resident_mb", node.mean_resident_mb},
                         {"dropped_at_ms", node.dropped_at_ms ? nlohmann::json(*node.dropped_at_ms) : nullptr}});
    nlohmann::json body{{"config", report.config_file},
                        {"traces", report.traces},
                        {"nodes", report.nodes},
                        {"load_slack", report.load_slack},
                        {"budget_mb", report.budget_mb},
                        {"from_ms", report.from_ms},
                        {"to_ms", report.to_ms},
                        {"events", report.events},
                        {"requests", report.requests},
                        {"cold_requests", report.cold_requests},
                        {"cold_rate", report.cold_rate},
                        {"models", report.models},
                        {"placed_over_bound", report.placed_over_bound},
                        {"per_node", nodes},
                        {"drop", nullptr},
                        {"wall_seconds", report.wall_seconds}};
    if (report.drop) {
        const auto& d = *report.drop;
        body["drop"] = {{"node", d.node},
                        {"at_ms", d.at_ms},
                        {"models_moved", d.models_moved},
                        {"moved_from_dropped", d.moved_from_dropped},
                        {"moved_between_survivors", d.moved_between_survivors},
                        {"states_moved", d.states_moved},
                        {"state_bytes_moved", d.state_bytes_moved},
                        {"moved_requests_after", d.moved_requests_after},
                        {"moved_cold_after", d.moved_cold_after}};
    }
    std::ofstream json_file(dir / "fleet.json");
    json_file << body.dump(2) << "\n";
    std::ofstream markdown(dir / "fleet.md");
    markdown << "# Fleet replay\n\n" << fleet_table_markdown(report);
    if (!json_file || !markdown) throw std::runtime_error("cannot write the fleet reports in " + dir.string());
}

}  // namespace warmup::host::replay
