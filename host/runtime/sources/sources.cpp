#include "runtime/sources/sources.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/errors.hpp"
#include "loader/plugin_set.hpp"

namespace warmup::host {

Sources::Sources(SourceIngest ingest, std::filesystem::path state_root)
    : ingest_(std::move(ingest)), state_root_(std::move(state_root)) {}

Sources::~Sources() { stop(); }

std::filesystem::path Sources::state_dir_of(const std::string& name) const {
    return state_root_.empty() ? std::filesystem::path() : state_root_ / name;
}

Sources::Prepared Sources::prepare(const std::vector<SourceConfig>& sources, const Config& config, PluginLoader& loader,
                                   Catalog& catalog, const Clock& clock) const {
    Prepared prepared;
    prepared.configs = sources;
    std::lock_guard lock(mutex_);
    for (const SourceConfig& source : sources) {
        const PluginChoice& choice = source.choice;
        PluginRef ref{choice.id, choice.path, choice.sha256, choice.key_path};
        try {
            // Another version of a running source's plugin may load beside it (it replaces the old one).
            auto library = loader.load(ref, WARMUP_KIND_SOURCE, /*replacing_id=*/true);
            // Unchanged means the same name, choice, params and library content: it keeps running.
            const auto running = std::find_if(runners_.begin(), runners_.end(), [&](const auto& runner) {
                return runner->config() == source && runner->instance()->library_ptr() == library;
            });
            if (running != runners_.end()) {
                prepared.new_instances.push_back(nullptr);
                continue;
            }
            prepared.new_instances.push_back(
                PluginInstance::create(std::move(library), choice.params_yaml, catalog, clock));
        } catch (const PluginCallError& error) {
            throw StartupError(locate_plugin_error(config, choice, error.plugin_message()) +
                               fmt::format(" (source '{}': plugin {} refused to start: {})", source.name,
                                           choice.describe(), status_name(error.code())));
        } catch (const std::exception& error) {
            throw StartupError(fmt::format("{}: {}", config.locate(choice.key_path), error.what()));
        }
    }
    return prepared;
}

std::vector<Sources::Change> Sources::publish(Prepared prepared) {
    std::lock_guard lock(mutex_);
    std::vector<Change> changes;
    std::vector<std::unique_ptr<SourceRunner>> old_runners = std::move(runners_);
    runners_.clear();
    std::vector<SourceRunner*> to_start;
    for (std::size_t i = 0; i < prepared.configs.size(); ++i) {
        const SourceConfig& source = prepared.configs[i];
        const auto same_name = std::find_if(old_runners.begin(), old_runners.end(), [&](const auto& runner) {
            return runner && runner->config().name == source.name;
        });
        if (!prepared.new_instances[i]) {  // unchanged: keeps running
            runners_.push_back(std::move(*same_name));
            continue;
        }
        std::string from;
        if (same_name != old_runners.end()) {
            from = (*same_name)->instance()->label();
            (*same_name)->stop();  // its last poll has returned before the successor's first one
            same_name->reset();
        }
        changes.push_back({source.name, from, prepared.new_instances[i]->label()});
        runners_.push_back(std::make_unique<SourceRunner>(source, std::move(prepared.new_instances[i]),
                                                          state_dir_of(source.name), ingest_));
        to_start.push_back(runners_.back().get());
    }
    for (auto& removed : old_runners)
        if (removed) {
            removed->stop();
            changes.push_back({removed->config().name, removed->instance()->label(), ""});
        }
    old_runners.clear();  // instances destroyed here, with their threads stopped
    if (started_)
        for (SourceRunner* runner : to_start) runner->start();
    return changes;
}

void Sources::start() {
    std::lock_guard lock(mutex_);
    started_ = true;
    for (auto& runner : runners_) runner->start();
}

void Sources::stop() {
    std::lock_guard lock(mutex_);
    for (auto& runner : runners_) runner->stop();
}

std::vector<NamedSourceHealth> Sources::health() const {
    std::lock_guard lock(mutex_);
    std::vector<NamedSourceHealth> out;
    for (const auto& runner : runners_)
        out.push_back({runner->config().name, runner->instance()->label(), runner->health()});
    return out;
}

std::size_t Sources::size() const {
    std::lock_guard lock(mutex_);
    return runners_.size();
}

}  // namespace warmup::host
