// A backend whose load is one GET of the server's /status: enough to compile and link against warmup::sdk-http.
#include <warmup/sdk/http_client.hpp>
#include <warmup/sdk/plugin.hpp>

class HttpStatusBackend final : public warmup::sdk::Backend {
  public:
    HttpStatusBackend(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Backend(host),
          client_(warmup::sdk::parse_http_base_url(params.get_string("base_url", "http://127.0.0.1:8080"),
                                                   "params.base_url", 80),
                  warmup::sdk::read_http_client_options(params)) {}

    double load(const warmup_model_info& model, const warmup_cancel_token& cancel) override {
        const warmup::sdk::HttpResponse answer = client_.get("/status", 2000, &cancel);
        if (!answer.succeeded()) throw warmup::sdk::Error(WARMUP_ERROR_UNAVAILABLE, answer.transport_error);
        return model.memory_mb;
    }
    void unload(const warmup_model_info& /*model*/) override {}

  private:
    warmup::sdk::HttpClient client_;
};

WARMUP_PLUGIN(HttpStatusBackend, "org.example.backend.http-status", "1.0.0", "loads by asking a server's /status")
