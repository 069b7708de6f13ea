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

/// One fleet replay: the nodes (equal budgets, each its own plugin instances and engine, one shared virtual clock),
/// the placement in force, and the report being filled. Its stages run in order: measure_models, build_nodes,
/// run_events (with the node drop, if any, at its time), finish and report_nodes. Single-threaded.
class FleetSimulation {
  public:
    FleetSimulation(const Config& config, const ReplayOptions& options, const FleetReplayOptions& fleet)
        : config_(config),
          options_(options),
          fleet_(fleet),
          seed_(options.seed.value_or(config.replay_seed)),
          catalog_(config.catalog) {
        report_.config_file = config.display_name;
        report_.traces = options.traces;
        report_.nodes = fleet.nodes;
        report_.load_slack = fleet.load_slack.value_or(config.cluster.load_slack);
    }

    /// Pre-pass: the models of the trace (the placement needs the model set) and the A95 for a relative budget.
    void measure_models() {
        std::vector<bool> seen;
        {
            auto trace = open_traces(options_, seed_, names_, tenants_);
            ModelCollector collector(*trace, seen);
            const double a95_mb = concurrent_demand_p95_mb(
                collector, [&](uint32_t model) { return catalog_.record(catalog_index(model)).memory_mb; });
            report_.budget_mb = config_.memory_budget.is_relative() ? config_.memory_budget.a95_multiple * a95_mb
                                                                    : config_.memory_budget.absolute_mb;
        }
        if (!(report_.budget_mb > 0)) throw std::runtime_error("the fleet's memory budget is 0 MiB");
        for (uint32_t model = 0; model < seen.size(); ++model)
            if (seen[model])
                placed_.push_back({names_.name(model), catalog_.record(catalog_index(model)).memory_mb, 1});
        report_.models = placed_.size();
    }

    /// The nodes, each with the fleet budget's equal share, and the first placement. Throws StartupError when the
    /// backend cannot be replayed, std::invalid_argument when --drop-node names no node.
    void build_nodes() {
        PluginLoader& loader = loader_.emplace(config_.plugin_dirs);
        nodes_.resize(fleet_.nodes);
        for (uint32_t i = 0; i < fleet_.nodes; ++i) {
            SimNode& node = nodes_[i];
            node.id = "node-" + std::to_string(i);
            node.plugins = PluginSet::create(config_.components, config_, loader, catalog_, clock_);
            const auto& backend = node.plugins->at(ComponentSlot::Backend);
            const auto* simulation =
                static_cast<const warmup_simulation_extension*>(backend->extension(WARMUP_EXT_SIMULATION));
            if (simulation == nullptr)
                throw StartupError(fmt::format("{}: backend {} cannot be replayed: it does not offer the {} extension",
                                               config_.locate(config_.components[ComponentSlot::Backend].key_path),
                                               backend->label(), WARMUP_EXT_SIMULATION));
            node.loads = std::make_unique<VirtualExecutor>(backend, simulation, catalog_, node.id);
            EngineOptions engine_options;
            engine_options.memory_budget_mb = report_.budget_mb / fleet_.nodes;
            engine_options.max_concurrent_loads = config_.max_concurrent_warmups;
            engine_options.arm = node.id;
            engine_options.breaker_call_budget_us = INT64_MAX;  // results must not depend on this machine's speed
            node.engine =
                std::make_unique<WarmupEngine>(node.plugins->component_set(), *node.loads, catalog_, engine_options);
            members_.push_back({node.id, engine_options.memory_budget_mb});
        }
        if (fleet_.drop_node) {
            for (std::size_t i = 0; i < nodes_.size(); ++i)
                if (nodes_[i].id == *fleet_.drop_node) drop_index_ = i;
            if (!drop_index_)
                throw std::invalid_argument(fmt::format("--drop-node {}: the fleet has node-0 .. node-{}",
                                                        *fleet_.drop_node, fleet_.nodes - 1));
        }
        owner_of_ = place(members_);
    }

    /// Main pass: the events of one timestamp go to their owners as one batch each; the node drop happens before
    /// the first event at or after its time. Sets report.events, requests, from_ms, to_ms.
    void run_events() {
        auto trace = open_traces(options_, seed_, names_, tenants_);
        TraceEvent event{};
        bool have = trace->next(event);
        bool dropped = !drop_index_.has_value();
        while (have) {
            const int64_t t = event.ts_ms;
            if (!dropped && t >= fleet_.drop_at_ms) {
                drop(fleet_.drop_at_ms);  // every event before it has been processed: no clock goes back
                dropped = true;
            }
            if (first_ms_ == kNever) first_ms_ = t;
            last_ms_ = t;
            for (SimNode& node : nodes_) node.batch.clear();
            while (have && event.ts_ms == t) {
                const warmup_model_index index = catalog_index(event.model);
                nodes_[owner_of_[index]].batch.push_back(
                    {event.ts_ms, index, event.count, tenant_hash_of(event.tenant), 0});
                ++report_.events;
                report_.requests += event.count;
                have = trace->next(event);
            }
            for (SimNode& node : nodes_) {
                if (node.dropped_at_ms) continue;
                node.advance_to(t, clock_);
                if (!node.batch.empty()) node.engine->on_events(node.batch, t);
            }
        }
        if (report_.events == 0) throw std::runtime_error(no_event_message(options_));
        if (!dropped)
            throw std::invalid_argument(
                fmt::format("--drop-node {}@{}: that is after the last event of the trace ({} ms)", *fleet_.drop_node,
                            fleet_.drop_at_ms, last_ms_));
        report_.from_ms = first_ms_;
        report_.to_ms = last_ms_;
    }

    /// Every surviving node runs to the last event and settles its loads.
    void finish() {
        for (SimNode& node : nodes_) {
            if (node.dropped_at_ms) continue;
            node.advance_to(last_ms_, clock_);
            node.engine->run_timers(last_ms_);
            node.engine->settle(last_ms_);
            node.engine->account_resident_idle(last_ms_);
            node.engine->flush_metrics();
        }
    }

    /// Per-node results, the fleet's cold rate and, after a drop, what the moved models saw on their new owners.
    FleetReplayReport report_nodes() {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            FleetNodeResult result = node_result(i);
            report_.cold_requests += result.cold_requests;
            report_.per_node.push_back(std::move(result));
        }
        report_.cold_rate = report_.requests == 0
                                ? 0
                                : static_cast<double>(report_.cold_requests) / static_cast<double>(report_.requests);
        if (report_.drop) {
            for (const MovedModel& model : moved_) {
                const ModelStatus status = nodes_[model.to].engine->model_status(model.model);
                report_.drop->moved_requests_after += status.requests - model.requests_base;
                report_.drop->moved_cold_after += status.cold_requests - model.cold_base;
            }
        }
        return std::move(report_);
    }

  private:
    /// A model that changed owner at the drop, with its new owner's counts then (what it saw after is the difference).
    struct MovedModel {
        warmup_model_index model;
        uint32_t to;
        uint64_t requests_base;
        uint64_t cold_base;
    };

    /// The catalog index of a trace model id, registering it on first sight; throws when no catalog entry covers it.
    warmup_model_index catalog_index(uint32_t trace_model) {
        if (trace_model < to_catalog_.size() && to_catalog_[trace_model] != WARMUP_NO_MODEL)
            return to_catalog_[trace_model];
        if (trace_model >= to_catalog_.size()) to_catalog_.resize(trace_model + 1, WARMUP_NO_MODEL);
        const auto index = catalog_.resolve(names_.name(trace_model));
        if (!index)
            throw std::runtime_error(fmt::format("{}: catalog: no entry covers trace model '{}'",
                                                 config_.locate("catalog"), names_.name(trace_model)));
        return to_catalog_[trace_model] = *index;
    }

    /// The tenant's hash, computed once per trace tenant id (0: none).
    uint32_t tenant_hash_of(uint32_t tenant) {
        if (tenant >= tenant_hashes_.size()) {
            const auto old = tenant_hashes_.size();
            tenant_hashes_.resize(tenant + 1);
            for (auto id = old; id < tenant_hashes_.size(); ++id)
                tenant_hashes_[id] = id == 0 ? 0 : tenant_hash(tenants_.name(static_cast<uint32_t>(id)));
        }
        return tenant_hashes_[tenant];
    }

    /// owners[catalog index]: the node that owns each placed model when `alive` are the members.
    std::vector<uint32_t> place(const std::vector<cluster::PlacementNode>& alive) {
        const auto placement =
            cluster::Placement::compute(alive, placed_, cluster::PlacementOptions{report_.load_slack});
        report_.placed_over_bound = std::max(report_.placed_over_bound, placement.over_bound());
        std::unordered_map<std::string, uint32_t> node_index;
        for (uint32_t i = 0; i < nodes_.size(); ++i) node_index[nodes_[i].id] = i;
        std::vector<uint32_t> owners(catalog_.size(), 0);
        for (const auto& model : placed_)
            owners[*catalog_.resolve(model.name)] = node_index.at(placement.owners_of(model.name).front());
        return owners;
    }

    /// The drop of node drop_index_ at `at_ms`: every node runs up to it, the dropped one settles and stops, the
    /// survivors are placed again and each moved model's state follows it (move_model).
    void drop(int64_t at_ms) {
        FleetReplayReport::Drop result;
        result.node = nodes_[*drop_index_].id;
        result.at_ms = at_ms;
        for (SimNode& node : nodes_)
            if (!node.dropped_at_ms) node.advance_to(at_ms, clock_);
        SimNode& gone = nodes_[*drop_index_];
        gone.engine->settle(at_ms);
        gone.engine->account_resident_idle(at_ms);
        gone.dropped_at_ms = at_ms;
        std::vector<cluster::PlacementNode> survivors;
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            if (!nodes_[i].dropped_at_ms) survivors.push_back(members_[i]);
        const auto next = place(survivors);
        for (const auto& model : placed_) {
            const warmup_model_index index = *catalog_.resolve(model.name);
            const uint32_t from = owner_of_[index], to = next[index];
            if (from == to) continue;
            ++result.models_moved;
            ++(from == *drop_index_ ? result.moved_from_dropped : result.moved_between_survivors);
            move_model(model.name, index, nodes_[from], nodes_[to], at_ms, result);
            const ModelStatus status = nodes_[to].engine->model_status(index);
            moved_.push_back({index, to, status.requests, status.cold_requests});
        }
        owner_of_ = next;
        report_.drop = result;
    }

    /// Hands `index`'s per-model state from `source` to `target` for every slot whose plugins share a model-state
    /// schema (the source forgets it unless it was dropped), then lets both plan the model anew.
    void move_model(const std::string& name, warmup_model_index index, SimNode& source, SimNode& target, int64_t at_ms,
                    FleetReplayReport::Drop& result) {
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
            {
                const auto in_call = out->marked("export_model");
                if (ErrorPtr error{out_table->export_model(out->self(), index, &writer)}) continue;
            }
            if (bytes.empty()) continue;
            {
                const auto in_call = in->marked("import_model");
                if (ErrorPtr error{in_table->import_model(in->self(), index, {bytes.data(), bytes.size()})}) {
                    spdlog::warn("CLUSTER_STATE_IMPORT_ERROR {} import_model({}): {}", in->label(), name,
                                 error->message);
                    continue;
                }
            }
            ++result.states_moved;
            result.state_bytes_moved += bytes.size();
            if (!source.dropped_at_ms) {
                const auto in_call = out->marked("forget_model");
                if (ErrorPtr error{out_table->forget_model(out->self(), index)})
                    spdlog::warn("CLUSTER_STATE_FORGET_ERROR {} forget_model({}): {}", out->label(), name,
                                 error->message);
            }
        }
        for (SimNode* node : {&source, &target}) {
            if (node->dropped_at_ms) continue;
            node->engine->replan_now(index, at_ms);
        }
    }

    FleetNodeResult node_result(std::size_t i) {
        const SimNode& node = nodes_[i];
        const EngineCounters& c = node.engine->counters();
        FleetNodeResult r;
        r.id = node.id;
        r.budget_mb = members_[i].budget_mb;
        r.dropped_at_ms = node.dropped_at_ms;
        if (!node.dropped_at_ms)
            r.models_owned = static_cast<std::size_t>(std::count_if(
                placed_.begin(), placed_.end(),
                [&](const cluster::PlacementModel& model) { return owner_of_[*catalog_.resolve(model.name)] == i; }));
        r.requests = c.requests;
        r.cold_requests = c.cold_requests;
        r.cold_rate = c.requests == 0 ? 0 : static_cast<double>(c.cold_requests) / static_cast<double>(c.requests);
        r.loaded_gb_h = c.loaded_mb_ms / kMbMsPerGbH;
        r.idle_gb_h = c.idle_mb_ms / kMbMsPerGbH;
        const int64_t span_ms = node.dropped_at_ms.value_or(last_ms_) - first_ms_;
        r.mean_resident_mb = span_ms > 0 ? c.loaded_mb_ms / static_cast<double>(span_ms) : 0;
        return r;
    }

    const Config& config_;
    const ReplayOptions& options_;
    const FleetReplayOptions& fleet_;
    const uint64_t seed_;
    FleetReplayReport report_;
    Catalog catalog_;
    ModelNames names_, tenants_;
    std::vector<warmup_model_index> to_catalog_;  // trace model id -> catalog index
    std::vector<uint32_t> tenant_hashes_;         // trace tenant id -> tenant hash
    std::vector<cluster::PlacementModel> placed_;
    ManualClock clock_;
    std::optional<PluginLoader> loader_;  // built with the nodes; outlives their plugin sets (declared before nodes_)
    std::vector<SimNode> nodes_;
    std::vector<cluster::PlacementNode> members_;
    std::optional<std::size_t> drop_index_;
    std::vector<uint32_t> owner_of_;  // [catalog index]: the node that owns the model under the placement in force
    std::vector<MovedModel> moved_;
    int64_t first_ms_ = kNever, last_ms_ = kNever;
};

}  // namespace

// Measure the models, build the nodes, run the trace (with the drop), finish, report.
FleetReplayReport run_fleet_replay(const Config& config, const ReplayOptions& options,
                                   const FleetReplayOptions& fleet) {
    const auto wall_started = std::chrono::steady_clock::now();
    if (fleet.nodes == 0) throw std::invalid_argument("--nodes must be at least 1");
    FleetSimulation simulation(config, options, fleet);
    simulation.measure_models();
    simulation.build_nodes();
    simulation.run_events();
    simulation.finish();
    FleetReplayReport report = simulation.report_nodes();
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
