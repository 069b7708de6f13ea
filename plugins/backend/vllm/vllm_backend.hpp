// plugins/backend/vllm/vllm_backend.hpp — a backend that drives vLLM OpenAI-compatible servers, one server per
// model (mode sleep) or per family of LoRA adapters (mode lora):
//
//   mode sleep (server started with --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1, which exposes the endpoints):
//     load   = POST {server}/wake_up, then GET {server}/is_sleeping until {"is_sleeping": false}
//     unload = POST {server}/sleep?level={sleep_level}
//     list   = GET {server}/is_sleeping of every server: an awake server's models are resident
//   mode lora (server started with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True):
//     load   = POST {server}/v1/load_lora_adapter {"lora_name": <catalog name>, "lora_path": <lora_paths entry>},
//              then GET {server}/v1/models must list the adapter (else the load failed half-way: it is unloaded again)
//     unload = POST {server}/v1/unload_lora_adapter {"lora_name": <catalog name>}
//     list   = GET {server}/v1/models of every server: the cards with a "parent" (adapters, not base models)
//
// A listing asks every server on its own. When some server cannot be asked (down, an error answer) while others can,
// that server's models are reported as it was last seen (by a listing, or by this backend's own wake, sleep, adapter
// load or unload), so the host neither adopts nor drops them on a guess, and the healthy servers are reconciled all
// the same; the listing fails (nothing changes that round) only when no server could be asked. The ABI has no way
// to say "unknown" for some models: their last seen state is what leaves the host's books for them as they are.
//
// Threads: load, unload and list_resident run on the host's worker threads, concurrently for different models. The
// configuration (servers and their HTTP clients) is immutable after construction; the only mutable state is the last
// seen state of each server, guarded by seen_mutex_; so every call is thread-safe. Cancellation and deadlines come
// from the SDK's HttpClient (within ~10 ms).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <warmup/sdk/http_client.hpp>
#include <warmup/sdk/name_map.hpp>
#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins {

class VllmBackend final : public sdk::Backend {
  public:
    enum class Mode { Sleep, Lora };

    /// One `servers` entry: catalog name glob -> vLLM server.
    struct Server {
        std::string glob;
        sdk::HttpClient client;
    };

    /// Reads and validates every parameter (see README.md). Contacts no server.
    VllmBackend(sdk::Host host, sdk::Params& params);

    /// [worker] sleep: wakes the model's server; lora: loads the model's adapter. Returns resident MiB when known
    /// (sleep mode with memory_metric), else 0 (the catalog's memory_mb applies). Throws sdk::Error: UNAVAILABLE
    /// (server unreachable, 5xx, half-loaded adapter, still asleep at the deadline), NOT_FOUND (no server for the
    /// model, adapter files not found), UNSUPPORTED (the server lacks the endpoints: flags not set), INVALID_ARGUMENT
    /// (other 4xx), CANCELLED, TIMEOUT. Messages name the model, the URL and the server's own text.
    double load(const warmup_model_info& model, const warmup_cancel_token& cancel) override;
    /// [worker] sleep: puts the server to sleep at sleep_level; lora: unloads the adapter (one the server does not hold
    /// counts as unloaded).
    void unload(const warmup_model_info& model) override;
    /// [worker] What the servers hold now (see the top of the file). A server that cannot tell is reported as last
    /// seen (and logged); throws UNAVAILABLE only when no server can tell, UNSUPPORTED when one lacks the endpoints.
    std::vector<sdk::ResidentModel> list_resident() override;

    [[nodiscard]] Mode mode() const noexcept { return mode_; }
    [[nodiscard]] int sleep_level() const noexcept { return sleep_level_; }
    [[nodiscard]] const std::vector<Server>& servers() const noexcept { return servers_; }
    /// [any] The server of `catalog_name`: the first exact `servers` key, else the first matching glob in file
    /// order; nullptr when none matches.
    [[nodiscard]] const Server* server_for(std::string_view catalog_name) const;
    /// [any] The adapter path of `catalog_name` (lora mode): the first matching lora_paths entry with every ${name}
    /// replaced by the catalog name; "" when none matches.
    [[nodiscard]] std::string lora_path_for(std::string_view catalog_name) const;

  private:
    /// What was last seen of one server: awake (sleep mode) or its adapters (lora mode). `changes` counts the loads
    /// and unloads this backend finished on it, so a listing that raced one of them does not overwrite its result.
    struct SeenState {
        bool awake = false;
        std::set<std::string> adapters;
        uint64_t changes = 0;
    };
    /// The catalog models of an awake `server`: every catalog model it serves, and its exact key when the catalog
    /// has not met it yet (a glob key names no model by itself).
    std::vector<std::string> models_served_by(const Server& server) const;
    std::size_t index_of(const Server& server) const { return static_cast<std::size_t>(&server - servers_.data()); }
    /// Records what a finished wake / sleep / adapter load / adapter unload left on `server`.
    void record_change(const Server& server, const std::function<void(SeenState&)>& change);

    const Server& require_server(std::string_view catalog_name) const;
    void wake(const Server& server, std::string_view name, const warmup_cancel_token& cancel);
    void load_adapter(const Server& server, std::string_view name, const warmup_cancel_token& cancel);
    /// The adapter names GET /v1/models lists as LoRA cards (those with a parent). Throws UNAVAILABLE.
    std::vector<std::string> listed_adapters(const Server& server, const warmup_cancel_token* cancel) const;
    /// GET /is_sleeping: true when asleep. Throws UNAVAILABLE (or UNSUPPORTED on 404).
    bool is_sleeping(const Server& server, const warmup_cancel_token* cancel, int64_t timeout_ms) const;
    /// memory_metric from GET /metrics in MiB, or 0 (logged) when it cannot be read.
    double metric_memory_mb(const Server& server, std::string_view name) const;

    Mode mode_ = Mode::Sleep;
    int sleep_level_ = 1;
    std::vector<Server> servers_;  // file order
    sdk::NameMap lora_paths_;      // catalog glob -> adapter path with ${name}
    int64_t load_timeout_ms_ = 600000;
    int64_t request_timeout_ms_ = 30000;
    int64_t wake_poll_ms_ = 200;
    std::string memory_metric_;  // sleep mode: a gauge of the server's /metrics in bytes; "" = catalog memory

    mutable std::mutex seen_mutex_;
    std::vector<SeenState> seen_;  // one per servers_ entry, same order; guarded by seen_mutex_
};

}  // namespace warmup::plugins
