// fake_metrics_endpoint.hpp — an in-process stand-in for a model server's Prometheus metrics page (Triton's
// :8002/metrics, vLLM's /metrics): GET {path} answers the text the test set last (text format 0.0.4, as both servers
// serve it), or a scripted status. Helpers write the counters in each server's own spelling, so a test can make them
// grow, reset them (a server restart) or take the page away.
//
// Threads: httplib serves on its own threads; the page and status are guarded by a mutex, so the test thread may
// change them at any time. Counts GETs.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "test_support.hpp"

namespace warmup::test {

class FakeMetricsEndpoint {
  public:
    explicit FakeMetricsEndpoint(std::string path = "/metrics") : path_(std::move(path)) {
        server_.Get(path_, [this](const httplib::Request& request, httplib::Response& response) {
            ++scrapes_;
            std::lock_guard lock(mutex_);
            if (require_bearer_ && request.get_header_value("Authorization") != "Bearer " + *require_bearer_) {
                response.status = 401;
                response.set_content("unauthorized", "text/plain");
                return;
            }
            response.status = status_;
            response.set_content(page_, content_type_);
        });
        server_.set_tcp_nodelay(true);
        port_ = server_.bind_to_any_port("127.0.0.1");
        serving_thread_ = std::thread([this] { server_.listen_after_bind(); });
        // listen_after_bind starts on the thread: wait (bounded) until the server accepts.
        poll_until([&] { return server_.is_running(); }, std::chrono::seconds(5), std::chrono::milliseconds(1));
    }
    ~FakeMetricsEndpoint() {
        server_.stop();
        serving_thread_.join();
    }
    FakeMetricsEndpoint(const FakeMetricsEndpoint&) = delete;
    FakeMetricsEndpoint& operator=(const FakeMetricsEndpoint&) = delete;

    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + path_; }
    [[nodiscard]] int scrapes() const { return scrapes_.load(); }

    void set_page(std::string page, int status = 200,
                  std::string content_type = "text/plain; version=0.0.4; charset=utf-8") {
        std::lock_guard lock(mutex_);
        page_ = std::move(page);
        status_ = status;
        content_type_ = std::move(content_type);
    }
    void require_bearer(std::string token) {
        std::lock_guard lock(mutex_);
        require_bearer_ = std::move(token);
    }

    /// Triton's page: nv_inference_request_success per model and version, with the other families around it.
    static std::string triton_page(const std::map<std::string, double>& successes) {
        std::string page =
            "# HELP nv_inference_request_success Number of successful inference requests, all batch sizes\n"
            "# TYPE nv_inference_request_success counter\n";
        for (const auto& [model, count] : successes)
            page += "nv_inference_request_success{model=\"" + model + "\",version=\"1\"} " + number(count) + "\n";
        page +=
            "# HELP nv_inference_request_failure Number of failed inference requests, all batch sizes\n"
            "# TYPE nv_inference_request_failure counter\n";
        for (const auto& [model, count] : successes)
            page += "nv_inference_request_failure{model=\"" + model + "\",reason=\"OTHER\",version=\"1\"} 3\n";
        page +=
            "# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)\n# TYPE nv_gpu_utilization gauge\n"
            "nv_gpu_utilization{gpu_uuid=\"GPU-0\"} 0.5\n";
        return page;
    }

    /// vLLM's page: vllm:request_success_total per model_name and finished_reason (two series per model: stop and
    /// length, `count` split between them), and a histogram family whose names start the same way.
    static std::string vllm_page(const std::map<std::string, double>& successes) {
        std::string page =
            "# HELP vllm:request_success_total Count of successfully processed requests.\n"
            "# TYPE vllm:request_success_total counter\n";
        for (const auto& [model, count] : successes) {
            const double stopped = static_cast<double>(static_cast<int64_t>(count) / 2);
            page += "vllm:request_success_total{finished_reason=\"stop\",model_name=\"" + model + "\"} " +
                    number(stopped) + "\n";
            page += "vllm:request_success_total{finished_reason=\"length\",model_name=\"" + model + "\"} " +
                    number(count - stopped) + "\n";
        }
        page +=
            "# HELP vllm:request_success_created Count of successfully processed requests.\n"
            "# TYPE vllm:request_success_created gauge\n";
        for (const auto& [model, count] : successes)
            page +=
                "vllm:request_success_created{finished_reason=\"stop\",model_name=\"" + model + "\"} 1.7962175e+09\n";
        return page;
    }

  private:
    static std::string number(double value) {
        std::string text = std::to_string(value);  // "12.000000": what Python's client writes is "12.0"
        text.erase(text.find_last_not_of('0') + 1);
        if (text.back() == '.') text += '0';
        return text;
    }

    std::string path_;
    httplib::Server server_;
    std::thread serving_thread_;
    int port_ = 0;
    std::atomic<int> scrapes_{0};
    std::mutex mutex_;
    std::string page_;                                                       // under mutex_
    int status_ = 200;                                                       // under mutex_
    std::string content_type_ = "text/plain; version=0.0.4; charset=utf-8";  // under mutex_
    std::optional<std::string> require_bearer_;                              // under mutex_
};

}  // namespace warmup::test
