// http/metrics_endpoint.cpp — GET /metrics: the metrics plugin's Prometheus text (rendered on the control thread)
// followed by the daemon's own series (http/daemon_metrics.hpp); 500 with the plugin's message when it cannot render.
// GET /api/warmup/history: counters over time from the state folder (http/history_endpoint.hpp); it reads files, not
// the control loop.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "http/api_json.hpp"
#include "http/daemon_metrics.hpp"
#include "http/history_endpoint.hpp"
#include "http/http_api.hpp"

namespace warmup::host {

void HttpApi::get_metrics(const httplib::Request&, httplib::Response& response) {
    DaemonMetrics daemon;
    auto [ok, text] = runtime_.call_on_control([this, &daemon](WarmupEngine& engine) {
        daemon.arms = arm_metrics_views(runtime_);
        daemon.emergency_stop = engine.stopped();
        engine.flush_metrics();
        std::string out;
        warmup_byte_writer writer{&out, [](void* context, const char* data, size_t size) {
                                      static_cast<std::string*>(context)->append(data, size);
                                      return 0;
                                  }};
        warmup_error* error = engine.render_metrics("prometheus", &writer);
        if (error != nullptr) {
            ErrorPtr owned(error);
            spdlog::error("METRICS_STORAGE_ERROR {} render failed: {}", engine.components().metrics.label,
                          owned->message);
            return std::pair{false, owned->message};
        }
        return std::pair{true, out};
    });
    if (ok) {
        daemon.started = started_wall_;
        daemon.now = std::chrono::system_clock::now();
        daemon.events_refused = runtime_.refused_events();
        daemon.events_invalid = runtime_.invalid_events();
        daemon.reloads = runtime_.reload_counts();
        daemon.reconcile_adopted = runtime_.reconcile_drift_adopted();
        daemon.reconcile_gone = runtime_.reconcile_drift_gone();
        daemon.reconcile_foreign = runtime_.reconcile_foreign_seen();
        daemon.foreign_mb = runtime_.foreign_memory_mb();
        daemon.reconcile_failures = runtime_.reconcile_failures();
        daemon.unloads_failed = runtime_.unloads_failed();
        daemon.unload_timeouts = runtime_.unload_timeouts();
        daemon.unloads_overdue = runtime_.unloads_overdue();
        daemon.state_kept = runtime_.state_store() != nullptr;
        daemon.snapshot_interval_s = runtime_.config().state.snapshot_interval_s;
        daemon.last_snapshot_unix_ms = runtime_.last_snapshot_unix_ms();
        daemon.sources = runtime_.source_health();
        if (fleet_metrics_) daemon.fleet = fleet_metrics_();
        daemon.safe_mode = runtime_.safe_mode();
        for (const ComponentHealth& health : component_health())
            daemon.components.emplace_back(health.component, health.degraded);
        text += render_daemon_metrics(daemon);
    }
    response.status = ok ? 200 : 500;
    response.set_content(text, ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain");
}

void HttpApi::get_history(const httplib::Request& request, httplib::Response& response) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const HistoryAnswer answer = history_answer(runtime_.metrics_history(), request.params,
                                                std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
    reply(response, answer.status, answer.body);
}

}  // namespace warmup::host
