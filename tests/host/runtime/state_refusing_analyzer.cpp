// state_refusing_analyzer.cpp — a deliberately defective analyzer for the hot-swap failure test. Built into
// build/tests/bad-plugins (never build/plugins).
//
// It offers the state extension with the SAME schema as org.warmup.analyzer.usage-pattern
// ("org.warmup.state.usage-pattern/1"), so the host tries a hand-off from the running usage-pattern analyzer into it,
// and its import_state throws: the reload must fail at stage "state" and leave the running set untouched. With params
// {refuse_import: false} it accepts (and ignores) any state instead, and still exports an empty one, which the real
// analyzer refuses: the rollback test's running instance whose state the taken-back one cannot read. With
// {refuse_export: true} its export throws (a snapshot that lacks what it learned); with {throw_schema: true} its
// state_schema throws after its first answer (the one that offers the extension).
//
// Apart from that defect it is a working (minimal) analyzer: per-model request counts and last/previous arrival, no
// histogram, no calendar, no followers — so that if a host wrongly published it anyway, the pipeline would still run.
// Threading: every method runs on the host's control thread (SDK contract); no locks.
#include <stdexcept>
#include <string>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace {

class StateRefusingAnalyzer final : public warmup::sdk::Analyzer {
  public:
    StateRefusingAnalyzer(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Analyzer(host),
          refuse_import_(params.get_bool("refuse_import", true)),
          refuse_export_(params.get_bool("refuse_export", false)),
          throw_schema_(params.get_bool("throw_schema", false)) {}

    void observe(std::span<const warmup_usage_event> events) override {
        for (const auto& event : events) {
            if (event.model >= models_.size()) models_.resize(event.model + 1);
            Seen& seen = models_[event.model];
            seen.request_count += event.count == 0 ? 1 : event.count;
            if (seen.first_ms == WARMUP_TIME_NEVER) seen.first_ms = event.ts_ms;
            if (event.ts_ms != seen.last_ms) {
                seen.previous_ms = seen.last_ms;
                seen.last_ms = event.ts_ms;
            }
        }
    }

    void get_pattern(warmup_model_index model, warmup_usage_pattern& out) override {
        const Seen seen = model < models_.size() ? models_[model] : Seen{};
        out.model = model;
        out.request_count = seen.request_count;
        out.first_seen_ms = seen.first_ms;
        out.last_seen_ms = seen.last_ms;
        out.previous_seen_ms = seen.previous_ms;
        out.ewma_rate_per_s = 0;
        out.idle_histogram = nullptr;
        out.idle_histogram_bins = 0;
        out.idle_bin_ms = 0;
        out.idle_samples = 0;
        out.idle_out_of_range = 0;
        out.hour_of_day = kNoShares;
        out.day_of_week = kNoShares;
        out.followers = nullptr;
        out.follower_count = 0;
    }

    void reset() override { models_.clear(); }

    /// The schema of org.warmup.analyzer.usage-pattern, deliberately: the host must attempt the hand-off.
    [[nodiscard]] const char* state_schema() const override {
        if (throw_schema_ && schema_answers_++ > 0) throw std::runtime_error("schema refused on purpose");
        return "org.warmup.state.usage-pattern/1";
    }
    [[nodiscard]] std::string export_state() const override {
        if (refuse_export_) throw warmup::sdk::Error(WARMUP_ERROR_INTERNAL, "export refused on purpose");
        return {};
    }
    void import_state(std::string_view data) override {
        if (!refuse_import_) return;
        throw warmup::sdk::Error(WARMUP_ERROR_INTERNAL, "state-refusing test analyzer: import of " +
                                                            std::to_string(data.size()) + " bytes refused on purpose");
    }

  private:
    struct Seen {
        uint64_t request_count = 0;
        warmup_time_ms first_ms = WARMUP_TIME_NEVER;
        warmup_time_ms last_ms = WARMUP_TIME_NEVER;
        warmup_time_ms previous_ms = WARMUP_TIME_NEVER;
    };
    static constexpr double kNoShares[24] = {};  // no calendar profile (zeros, the "never seen" shape)
    bool refuse_import_ = true;
    bool refuse_export_ = false;
    bool throw_schema_ = false;
    mutable int schema_answers_ = 0;  // state_schema's answers so far
    std::vector<Seen> models_;
};

}  // namespace

WARMUP_PLUGIN(StateRefusingAnalyzer, "org.warmup.test.analyzer.state-refusing", "1.0.0",
              "Test only: offers the usage-pattern state schema but refuses every import")
