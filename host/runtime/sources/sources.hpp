// runtime/sources/sources.hpp — the `sources:` of the running configuration: one SourceRunner per entry,
// created at start and swapped by reloads like the component slots.
//
// A reload prepares first (loads and creates every source whose choice, params or library content changed, beside
// the running ones; any failure throws and changes nothing), then publishes: stops the sources that were removed or
// replaced, and starts the new ones. A replaced source is stopped (its last poll returns) before its successor's
// first poll, so a source that keeps its position in its state folder picks up where the old one stopped: the folder
// belongs to the name, not to the plugin.
//
// Thread-safety: prepare, publish, start and stop from one thread at a time (start-up, the reload lock, shutdown);
// health() from any thread.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "loader/plugin_loader.hpp"
#include "runtime/sources/source_runner.hpp"

namespace warmup::host {

/// One source's health line for /api/warmup/health/components.
struct NamedSourceHealth {
    std::string name;
    std::string label;  ///< "<id>@<version>"
    SourceHealth health;
};

class Sources {
  public:
    /// `state_root`: <state.dir>/sources, or empty when the daemon keeps no state. Fixed for the daemon's life
    /// (state.dir is restart-only).
    Sources(SourceIngest ingest, std::filesystem::path state_root);
    ~Sources();
    Sources(const Sources&) = delete;
    Sources& operator=(const Sources&) = delete;

    /// The outcome of prepare(): for each configured source, a new instance, or null to keep the running one.
    struct Prepared {
        std::vector<SourceConfig> configs;
        std::vector<std::shared_ptr<PluginInstance>> new_instances;
    };

    /// Loads and creates what `sources` needs beyond the running set. Throws StartupError with the located reason
    /// (a plugin that is not an source, refused params ...); then nothing was changed.
    Prepared prepare(const std::vector<SourceConfig>& sources, const Config& config, PluginLoader& loader,
                     Catalog& catalog, const Clock& clock) const;

    /// What publish() changed, for the reload answer and log.
    struct Change {
        std::string name;
        std::string from;  ///< "<id>@<version>", "" when added
        std::string to;    ///< "<id>@<version>", "" when removed
    };

    /// Stops the removed and replaced sources, then starts the new ones (only once start() was called: before, they
    /// wait for it). Never throws.
    std::vector<Change> publish(Prepared prepared);

    /// Starts every source (the daemon calls this once it serves: plugins loaded, state restored).
    void start();
    /// Stops every source and waits for their threads. Idempotent.
    void stop();

    [[nodiscard]] std::vector<NamedSourceHealth> health() const;
    [[nodiscard]] std::size_t size() const;

  private:
    [[nodiscard]] std::filesystem::path state_dir_of(const std::string& name) const;

    SourceIngest ingest_;
    std::filesystem::path state_root_;
    mutable std::mutex mutex_;                            // guards runners_ and started_
    std::vector<std::unique_ptr<SourceRunner>> runners_;  // in configuration order
    bool started_ = false;
};

}  // namespace warmup::host
