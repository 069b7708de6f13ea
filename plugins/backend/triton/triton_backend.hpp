// plugins/backend/triton/triton_backend.hpp — a backend that drives a Triton Inference Server through its
// model repository API (HTTP/REST, KServe v2 extension; Triton started with --model-control-mode=explicit):
//   load   = POST {base}/v2/repository/models/{name}/load, then (verify_ready) GET {base}/v2/models/{name}/ready
//   unload = POST {base}/v2/repository/models/{name}/unload   (body {"parameters":{"unload_dependents":...}}), then
//            POST {base}/v2/repository/index until the model is neither READY nor UNLOADING (Triton answers the
//            unload at once and frees the memory later)
//
// Threads: load and unload run on the host's worker threads, concurrently for different models (never twice at once
// for the same catalog model). The configuration is immutable after construction; every HTTP request goes through the
// SDK's HttpClient, which opens a connection per request, so requests share nothing. The only shared mutable state is
// the orphan set (below), guarded by orphan_mutex_.
//
// Cancellation: Triton's load call blocks until the model is loaded (minutes for a large model). The SDK's HttpClient
// interrupts it within ~10 ms of the host's cancel token or the load deadline; the backend then throws CANCELLED /
// TIMEOUT. No thread outlives the call.
//
// Orphans: closing the connection does not stop Triton: it finishes the load anyway, and the host (which saw the load
// fail) would never unload it. Such a repository model is recorded as an orphan; one cleanup thread (started on first
// need, joined by the destructor) polls GET /v2/models/{name}/ready and unloads the model as soon as it is ready, or
// drops it when load_timeout_ms passed without it becoming ready. A new load() or unload() of the same repository
// model takes the model back from the cleanup (it waits for an unload the cleanup is sending right now), so the
// cleanup never unloads a model the host wants.
//
// Several catalog names may map to one repository model (model_names "vision/resnet*" -> resnet50_trt): the backend
// counts the names that hold it (common/shared_server_models.hpp) and asks Triton to unload it only with the last
// one; the others' unloads succeed without a request. With memory_from_stats only the load that brings the model in
// reports its memory; a further name reports 0 (the host charges it its catalog memory_mb).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
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

using sdk::percent_encode_path_segment;

/// The validated params (see README.md for meanings and defaults).
struct TritonBackendConfig {
    sdk::HttpEndpoint endpoint;
    int64_t connect_timeout_ms = 2000;
    int64_t load_timeout_ms = 600000;
    int64_t request_timeout_ms = 30000;
    int64_t orphan_poll_ms = 1000;
    bool unload_dependents = false;
    bool verify_ready = true;
    bool memory_from_stats = false;
    /// (catalog name glob, Triton repository model name), in file order; the first matching glob wins.
    sdk::NameMap model_names;  ///< catalog glob -> repository model name
};

class TritonBackend final : public sdk::Backend {
  public:
    TritonBackend(sdk::Host host, sdk::Params& params);
    /// Stops and joins the cleanup thread (its request in flight is aborted). Orphans still pending are logged.
    ~TritonBackend() override;

    /// [worker] Returns 0 (unknown: the host charges the catalog memory_mb) unless memory_from_stats is on and Triton
    /// reports memory_usage for the model, then the sum of its byte_size values in MiB.
    double load(const warmup_model_info& model, const warmup_cancel_token& cancel) override;
    /// [worker] Unloading a model Triton does not have loaded succeeds (Triton treats it as a no-op).
    void unload(const warmup_model_info& model) override;
    /// [worker] The models POST /v2/repository/index lists with state READY, by catalog name (each catalog model whose
    /// repository model is ready; a ready repository model no model_names entry maps to goes by its own name).
    /// Throws UNAVAILABLE when Triton cannot be asked.
    std::vector<sdk::ResidentModel> list_resident() override;

    [[nodiscard]] const TritonBackendConfig& config() const noexcept { return config_; }
    /// The Triton repository model name for a catalog model name: the model_names entry equal to it, else the first
    /// whose glob matches (file order), else the name itself. [any]
    [[nodiscard]] std::string repository_name(std::string_view catalog_name) const;
    /// Repository model names the cleanup still watches (sorted). [any]
    [[nodiscard]] std::vector<std::string> pending_orphans() const;

    /// One HTTP exchange. `status` is 0 when no HTTP answer arrived (then `transport_error` says why).
    struct HttpAnswer {
        int status = 0;
        std::string body;
        std::string transport_error;
    };

  private:
    enum class Interrupt { None, Cancelled, DeadlinePassed };
    struct RequestOutcome {
        HttpAnswer answer;
        Interrupt interrupt = Interrupt::None;
    };
    /// Sends one request and waits at most `timeout_ms` for the whole exchange. With a `cancel` token the request runs
    /// on a helper thread and the caller polls the token; the helper is always joined before returning.
    RequestOutcome send(const char* method, const std::string& path, const std::string& body, int64_t timeout_ms,
                        const warmup_cancel_token* cancel) const;
    [[nodiscard]] std::string url(const std::string& path) const { return config_.endpoint.url + path; }
    [[nodiscard]] std::string model_path(const std::string& repository_model) const;
    [[nodiscard]] double memory_mb_from_stats(const std::string& repository_model) const;
    /// After Triton accepted an unload: polls POST /v2/repository/index until no version of the model is READY or
    /// UNLOADING (Triton unloads in the background), until request_timeout_ms after `started` (then throws TIMEOUT).
    /// A server whose index cannot be asked is taken at its word (a warning is logged).
    void wait_until_unloaded(const std::string& repository_model, const std::string& description,
                             std::chrono::steady_clock::time_point started) const;

    /// Hands `repository_model` to the cleanup thread (starting it if needed).
    void adopt_orphan(const std::string& repository_model);
    /// Takes `repository_model` back from the cleanup; waits while the cleanup is unloading it right now.
    void reclaim_from_cleanup(const std::string& repository_model);
    void cleanup_loop();

    TritonBackendConfig config_;
    sdk::HttpClient client_;  // config_.endpoint with the connection settings; immutable after construction

    /// Repository model -> the catalog name whose unload Triton accepted but had not finished by request_timeout_ms
    /// (still READY or UNLOADING in the index): listings report it under that name until the index no longer holds
    /// it, so the host keeps its memory charged meanwhile; a new load of it ends that. Guarded by lingering_mutex_.
    std::map<std::string, std::string> lingering_unloads_;
    void linger(const std::string& repository_model, const std::string& catalog_name);
    void forget_lingering(const std::string& repository_model);
    mutable std::mutex lingering_mutex_;
    mutable std::mutex orphan_mutex_;
    std::condition_variable orphan_changed_;
    /// Repository model name -> when the cleanup stops waiting for it to become ready. Guarded by orphan_mutex_.
    std::map<std::string, std::chrono::steady_clock::time_point> orphan_deadlines_;
    /// Names the cleanup thread is sending an unload for right now. Guarded by orphan_mutex_.
    std::set<std::string> orphans_being_unloaded_;
    std::thread cleanup_thread_;           // started by the first adopt_orphan; joined by the destructor
    std::atomic<bool> stopping_{false};    // set by the destructor; doubles as the cleanup's cancel token
    backend::SharedServerModels holders_;  // which catalog names hold each repository model (thread-safe)
};

}  // namespace warmup::plugins
