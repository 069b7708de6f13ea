// failing_source.cpp — a source whose every poll fails, to show that a broken source leaves the host running
// and says so. `throw: error` throws the SDK's Error (UNAVAILABLE, `message`); `throw: exception` a plain
// std::logic_error, which the SDK's guard turns into INTERNAL at the boundary. Built into build/tests/bad-plugins
// (never build/plugins). Threads: poll on the source's thread only; no shared state.
#include <stdexcept>
#include <string>
#include <warmup/sdk/plugin.hpp>

namespace {

class FailingSource final : public warmup::sdk::Source {
  public:
    FailingSource(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Source(host),
          message_(params.get_string("message", "the upstream is down")),
          plain_exception_(params.get_choice("throw", "error", {"error", "exception"}) == "exception") {}

    int64_t poll(warmup::sdk::SourcePoll& /*poll*/) override {
        if (plain_exception_) throw std::logic_error(message_);
        throw warmup::sdk::Error(WARMUP_ERROR_UNAVAILABLE, message_);
    }

  private:
    std::string message_;
    bool plain_exception_;
};

}  // namespace

WARMUP_PLUGIN(FailingSource, "org.warmup.test.failing-source", "1.0.0", "A source whose polls all fail")
