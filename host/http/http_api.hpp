// http/http_api.hpp — the operator's HTTP API (cpp-httplib) over a LiveRuntime.
//
// Threads: cpp-httplib's pool runs the handlers; anything that reads plugin or engine state is marshalled onto the
// control thread with LiveRuntime::call_on_control, so plugins still see a single thread.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "runtime/live_runtime.hpp"

namespace warmup::host {

class HttpApi {
  public:
    explicit HttpApi(LiveRuntime& runtime);
    ~HttpApi();

    /// Binds (port 0 = any free port) and returns the bound port. Throws std::runtime_error when it cannot bind.
    int bind(const std::string& address, int port);
    /// Serves on a background thread until stop().
    void start();
    void stop();

  private:
    void routes();

    LiveRuntime& runtime_;
    httplib::Server server_;
    std::thread thread_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

/// The JSON answer of a reload or rollback (also logged by warmupd for SIGHUP and file-watch reloads).
nlohmann::json reload_json(const ReloadResult& result);
void reply_reload(httplib::Response& response, const ReloadResult& result);

/// FNV-1a of a tenant name (0 for none), the tenant_hash carried by usage events.
uint32_t tenant_hash(std::string_view tenant) noexcept;

}  // namespace warmup::host
