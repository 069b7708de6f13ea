// scripted_source.cpp — a source whose first poll emits one batch: "m/first", the bad events `bad` names, "m/last".
// A bad event is one a POST of /api/warmup/events would refuse, here coming in through the source ABI instead:
//   empty     a model name ""                       blank     " \u3000 " (white space only)
//   c0        "m/tab\there" (a C0 control)          del       "m/del\x7f"
//   c1        "m/\u0085nel" (a C1 control)          not-utf8  "m/caf\xe9" (Latin-1)
//   seconds   "m/seconds" at the host's now in seconds, the mistake the ts_ms floor is for
//   future    "m/future" ten minutes after the host's now
//   count     "m/none" for 0 requests, "m/huge" for 1,000,001 (a POST takes 1..1,000,000)
//   all       every one of the above, in this order
// Later polls emit nothing. The good events carry the host's now. Built into build/tests/bad-plugins (never
// build/plugins). Threads: poll on the source's thread only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace {

struct ScriptedEvent {
    std::string model;
    warmup_time_ms ts_ms;
    uint32_t count = 1;
};

class ScriptedSource final : public warmup::sdk::Source {
  public:
    ScriptedSource(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Source(host),
          bad_(params.get_choice(
              "bad", "all", {"empty", "blank", "c0", "del", "c1", "not-utf8", "seconds", "future", "count", "all"})) {}

    int64_t poll(warmup::sdk::SourcePoll& poll) override {
        if (!scripted_) {
            script_ = make_script(host().now_ms());
            scripted_ = true;
        }
        std::vector<warmup_source_event> events;
        for (const ScriptedEvent& event : script_)
            events.push_back(warmup::sdk::source_event(event.model, "", event.ts_ms, event.count));
        const size_t taken = poll.emit(events);  // a full queue takes a prefix: the rest is offered again
        script_.erase(script_.begin(), script_.begin() + static_cast<std::ptrdiff_t>(taken));
        return 10;
    }

  private:
    std::vector<ScriptedEvent> make_script(warmup_time_ms now_ms) const {
        const std::vector<std::pair<std::string, ScriptedEvent>> bad = {
            {"empty", {"", now_ms}},
            {"blank", {" \xe3\x80\x80 ", now_ms}},  // U+3000 ideographic space, between spaces
            {"c0", {"m/tab\there", now_ms}},
            {"del", {"m/del\x7f", now_ms}},
            {"c1",
             {"m/\xc2\x85"
              "nel",
              now_ms}},  // U+0085 next line
            {"not-utf8", {"m/caf\xe9", now_ms}},
            {"seconds", {"m/seconds", now_ms / 1000}},
            {"future", {"m/future", now_ms + 10 * 60 * 1000}},
            {"count", {"m/none", now_ms, 0}},
            {"count", {"m/huge", now_ms, 1'000'001}},
        };
        std::vector<ScriptedEvent> script = {{"m/first", now_ms}};
        for (const auto& [name, event] : bad)
            if (bad_ == "all" || bad_ == name) script.push_back(event);
        script.push_back({"m/last", now_ms});
        return script;
    }

    std::string bad_;
    std::vector<ScriptedEvent> script_;  // what is still to be emitted
    bool scripted_ = false;
};

}  // namespace

WARMUP_PLUGIN(ScriptedSource, "org.warmup.test.scripted-source", "1.0.0",
              "A source whose first poll emits good events and ones a POST would refuse")
