// throwing_queue.cpp — an SDK queue plugin whose calls without an error channel throw, for sdk_guard_test.cpp:
// size() and rejected_count() always throw, state_schema() answers once (so the host is offered the state
// extension) and throws from then on. push/pop keep working (last in, first out), so a test can show that the
// instance stays usable after a guarded throw. Built into build/tests/test-plugins (never build/plugins).
// Takes no params. Threading: the host calls it on its control thread only (SDK contract); no locks.
#include <stdexcept>
#include <string>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace {

class ThrowingQueue final : public warmup::sdk::Queue {
  public:
    ThrowingQueue(warmup::sdk::Host host, warmup::sdk::Params& /*params*/) : Queue(host) {}

    void push(const warmup_queue_item& item) override { items_.push_back(item); }
    bool pop(warmup_time_ms /*now_ms*/, warmup_queue_item& out) override {
        if (items_.empty()) return false;
        out = items_.back();
        items_.pop_back();
        return true;
    }
    size_t remove_model(warmup_model_index model) override {
        return static_cast<size_t>(
            std::erase_if(items_, [&](const warmup_queue_item& item) { return item.model == model; }));
    }
    size_t clear() override {
        const size_t removed = items_.size();
        items_.clear();
        return removed;
    }
    [[nodiscard]] size_t size() const override {
        throw std::runtime_error("throwing test queue: size() fails on purpose");
    }
    [[nodiscard]] uint64_t rejected_count() const override {
        throw warmup::sdk::Error(WARMUP_ERROR_UNAVAILABLE, "throwing test queue: rejected_count() fails on purpose");
    }

    [[nodiscard]] const char* state_schema() const override {
        if (schema_calls_++ == 0) return "org.warmup.test.throwing-queue/1";
        throw std::runtime_error("throwing test queue: state_schema() fails after its first answer");
    }
    [[nodiscard]] std::string export_state() const override { return {}; }
    void import_state(std::string_view /*data*/) override {}

  private:
    std::vector<warmup_queue_item> items_;
    mutable int schema_calls_ = 0;
};

}  // namespace

WARMUP_PLUGIN(ThrowingQueue, "org.warmup.test.throwing-queue", "1.0.0",
              "Test only: size(), rejected_count() and (after one answer) state_schema() throw")
