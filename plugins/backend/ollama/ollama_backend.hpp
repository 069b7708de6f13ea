// plugins/backend/ollama/ollama_backend.hpp — a backend that drives an Ollama server over its HTTP API:
// a load is POST /api/generate {"model", "keep_alive"} with no prompt (Ollama answers once the model is in memory),
// an unload is the same request with keep_alive 0, and the resident size comes from GET /api/ps. Embedding-only
// models refuse /api/generate with HTTP 400 "... does not support generate"; they are loaded and unloaded through
// POST /api/embed with the same body instead.
//
// Threads: load and unload run on the host's worker threads, concurrently for different models (never twice at once
// for the same model). Every HTTP exchange goes through the SDK's HttpClient, which opens a connection per request, so
// requests share no connection state; the parameters are immutable after construction; the only shared mutable state is
// the list of post-cancel cleanups, guarded by cleanup_mutex_. So load and unload are thread-safe.
//
// Cancellation: every request honours the host's cancel token and its own deadline through the SDK's HttpClient
// (within ~10 ms; at worst connect_timeout_ms while a connect is in progress).
//
// Several catalog names may map to one Ollama model (model_names "embed/*" -> nomic-embed-text): the backend counts
// the names that hold it (common/shared_server_models.hpp) and sends keep_alive 0 only for the last one; the others'
// unloads succeed without a request. Only the load that brings the model in reports its /api/ps size; a load of a
// further name reports 0 (the host charges that name its catalog memory_mb), so the model is not counted twice over.
//
// After a cancelled (or timed-out) load Ollama may still finish loading the model and, with keep_alive -1, keep it
// resident forever, outside the host's memory accounting. So the backend then sends an unload for that model on a
// background thread it owns (joined in the destructor, interrupted the same way); a later load of the same model
// waits for that cleanup first, so the cleanup can never unload a model the host has just loaded again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>
#include <warmup/sdk/http_client.hpp>
#include <warmup/sdk/name_map.hpp>
#include <warmup/sdk/plugin.hpp>

#include "common/shared_server_models.hpp"

namespace warmup::plugins {

/// True when `text` is a Go time.Duration as Ollama parses keep_alive ("-1", "0", "5m", "1h30m", "-1m", "2.5s"):
/// an optional sign, then one or more <decimal number><unit> with unit in ns, us, µs, ms, s, m, h; or a bare "0".
bool is_go_duration(std::string_view text) noexcept;

class OllamaBackend final : public sdk::Backend {
  public:
    /// Reads and validates every parameter (see README.md). Contacts no server: a host can be configured before
    /// Ollama is up; the first load then reports UNAVAILABLE until it is.
    OllamaBackend(sdk::Host host, sdk::Params& params);
    /// Interrupts and joins the post-cancel cleanups still running.
    ~OllamaBackend() override;

    /// [worker] Loads the model and returns its resident MiB from /api/ps (0 when /api/ps does not list it).
    /// Throws sdk::Error: UNAVAILABLE (server not reachable, 5xx), NOT_FOUND (404: Ollama does not have the model),
    /// INVALID_ARGUMENT (other 4xx), RESOURCE_EXHAUSTED (Ollama says the model does not fit in memory), CANCELLED,
    /// TIMEOUT (load_timeout_ms). Every message names the model, the URL and, from the server, its status and text.
    double load(const warmup_model_info& model, const warmup_cancel_token& cancel) override;
    /// [worker] Asks Ollama to drop the model now (keep_alive 0). Unloading a model Ollama has not loaded succeeds.
    void unload(const warmup_model_info& model) override;
    /// [worker] The models GET /api/ps lists, by catalog name (see README.md, Reconciliation). Throws UNAVAILABLE.
    std::vector<sdk::ResidentModel> list_resident() override;
    /// [any] Sends keep_alive again for every model this backend loaded and Ollama still lists (what the refresher
    /// thread does every keep_alive_refresh_ms). Returns how many were refreshed.
    std::size_t refresh_keep_alive();

    /// [any] The Ollama model name for a catalog name: the first model_names entry whose key is the exact name,
    /// else the first whose glob matches (in file order), else the catalog name itself.
    [[nodiscard]] std::string ollama_name_for(std::string_view catalog_name) const;

    /// [any] Post-cancel cleanups started and not yet finished (for tests and introspection).
    [[nodiscard]] std::size_t cleanups_running() const;
    /// [any] Ollama model names this backend loaded and has not unloaded since (what the refresher keeps).
    [[nodiscard]] std::vector<std::string> kept_models() const;

  private:
    using Exchange = sdk::HttpResponse;
    struct CleanupJob;  // a background unload after a cancelled load
    enum class Endpoint { Generate, Embed };

    /// POSTs `{"model": ollama_name, "keep_alive": keep_alive_json}` to /api/generate, falling back to /api/embed
    /// when Ollama says the model does not support generate. Returns the answer of the endpoint that accepted it.
    Exchange post_keep_alive(const std::string& ollama_name, const std::string& keep_alive_json,
                             const warmup_cancel_token* cancel, int64_t timeout_ms) const;
    /// GET /api/ps and the resident MiB of `ollama_name` in it; 0 (logged) when it cannot tell.
    double resident_mb(const std::string& ollama_name, const warmup_cancel_token& cancel) const;
    /// Throws the sdk::Error that describes a failed exchange; `action` is e.g. "load of model llama3:8b".
    [[noreturn]] void throw_for(const Exchange& exchange, const std::string& action, const std::string& ollama_name,
                                std::string_view catalog_name) const;

    void start_cleanup(const std::string& ollama_name);
    /// Waits (polling `cancel`) until no cleanup of `ollama_name` is running; joins finished cleanups.
    void wait_for_cleanup(const std::string& ollama_name, const warmup_cancel_token& cancel, std::string_view name);

    sdk::HttpClient client_;       // the server (base_url) and connection settings; immutable after construction
    std::string keep_alive_json_;  // the JSON value sent as keep_alive on load: a number (seconds) or a string
    int64_t load_timeout_ms_ = 600000;
    int64_t unload_timeout_ms_ = 60000;
    bool memory_from_vram_ = false;        // memory_report: size_vram instead of size
    sdk::NameMap model_names_;             // catalog glob -> Ollama name
    backend::SharedServerModels holders_;  // which catalog names hold each Ollama model (thread-safe)

    mutable std::mutex cleanup_mutex_;  // guards cleanups_
    std::vector<std::unique_ptr<CleanupJob>> cleanups_;
    std::atomic<bool> shutting_down_{false};  // set by the destructor: interrupts running cleanups

    /// GET /api/ps: the listed names (as Ollama spells them, "llama3:latest") and their resident MiB. Throws.
    std::vector<std::pair<std::string, double>> listed_models(const warmup_cancel_token* cancel) const;
    void refresher_loop();

    // Re-sending keep_alive (keep_alive_refresh_ms): a client request with its own keep_alive (or the server's
    // OLLAMA_KEEP_ALIVE, 5 minutes by default) resets a model's expiry, and Ollama would unload it behind the host's
    // back; the refresher asserts the host's keep_alive again. kept_, refreshing_ and refresher_stopping_ are guarded
    // by kept_mutex_; the thread is started by the constructor when the interval is > 0 and joined by the destructor.
    // An unload waits for a refresh of its model in flight to be answered before it sends keep_alive 0: a refresh
    // that reached Ollama after the unload would load the model again, outside the host's books.
    int64_t keep_alive_refresh_ms_ = 60000;
    mutable std::mutex kept_mutex_;
    std::condition_variable refresher_wake_;
    std::condition_variable refresh_answered_;  // notified when refreshing_ is cleared
    bool refresher_stopping_ = false;
    std::set<std::string> kept_;
    std::string refreshing_;  // the Ollama name whose refresh is in flight, "" when none
    std::thread refresher_;
};

}  // namespace warmup::plugins
