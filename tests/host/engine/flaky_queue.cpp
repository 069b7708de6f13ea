// flaky_queue.cpp — a deliberately misbehaving queue plugin for the queue-fallback tests. Built into
// build/tests/bad-plugins (never build/plugins).
//
// Order: last in, first out, so a test can tell the plugin's order from the host's built-in one (strict priority,
// then first come). Params (all optional):
//   fail_pushes_after: pushes numbered above N fail with INTERNAL (default: none fails);
//   fail_push_count:   only this many pushes fail, later ones succeed again (default: all of them);
//   lose_items:        pop never returns anything (the plugin "loses" what it was given; default false);
//   garble_models:     pop returns its items with a model index far beyond the catalog (default false);
//   throw_on_pop:      pop throws (a failure in a call that returns no error; default false);
//   throw_on_remove:   remove_model throws after removing the item (default false).
// Threading: the host calls it on its control thread only (SDK contract); no locks.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace {

class FlakyQueue final : public warmup::sdk::Queue {
  public:
    FlakyQueue(warmup::sdk::Host host, warmup::sdk::Params& params)
        : Queue(host),
          fail_pushes_after_(params.get_int("fail_pushes_after", std::numeric_limits<int64_t>::max(), 0)),
          fail_push_count_(params.get_int("fail_push_count", std::numeric_limits<int64_t>::max(), 0)),
          lose_items_(params.get_bool("lose_items", false)),
          garble_models_(params.get_bool("garble_models", false)),
          throw_on_pop_(params.get_bool("throw_on_pop", false)),
          throw_on_remove_(params.get_bool("throw_on_remove", false)) {}

    void push(const warmup_queue_item& item) override {
        ++pushes_;
        if (pushes_ > fail_pushes_after_ && pushes_ - fail_pushes_after_ <= fail_push_count_)
            throw warmup::sdk::Error(WARMUP_ERROR_INTERNAL,
                                     "flaky test queue: push " + std::to_string(pushes_) + " fails on purpose");
        items_.push_back(item);
    }
    bool pop(warmup_time_ms /*now_ms*/, warmup_queue_item& out) override {
        if (throw_on_pop_) throw warmup::sdk::Error(WARMUP_ERROR_INTERNAL, "flaky test queue: pop fails on purpose");
        if (lose_items_ || items_.empty()) return false;
        out = items_.back();
        items_.pop_back();
        if (garble_models_) out.model = 123456;
        return true;
    }
    size_t remove_model(warmup_model_index model) override {
        const auto removed = std::erase_if(items_, [&](const warmup_queue_item& item) { return item.model == model; });
        if (throw_on_remove_)
            throw warmup::sdk::Error(WARMUP_ERROR_INTERNAL, "flaky test queue: remove_model fails on purpose");
        return static_cast<size_t>(removed);
    }
    size_t clear() override {
        const size_t removed = items_.size();
        items_.clear();
        return removed;
    }
    [[nodiscard]] size_t size() const override { return items_.size(); }
    [[nodiscard]] uint64_t rejected_count() const override { return 0; }

  private:
    int64_t fail_pushes_after_;
    int64_t fail_push_count_;
    bool lose_items_;
    bool garble_models_;
    bool throw_on_pop_;
    bool throw_on_remove_;
    int64_t pushes_ = 0;
    std::vector<warmup_queue_item> items_;
};

}  // namespace

WARMUP_PLUGIN(FlakyQueue, "org.warmup.test.flaky-queue", "1.0.0",
              "Test only: LIFO queue whose pushes fail on purpose, or that loses its items")
