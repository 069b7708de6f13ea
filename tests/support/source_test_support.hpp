// source_test_support.hpp — drives a source plugin class in-process, as the host's source thread would: a
// warmup_source_poll whose emit and reject record what the source handed over, with an ingest queue whose room a
// test can limit (to see a source stop at a full queue and offer the rest again).
//
// Threads: one test thread calls poll(); nothing here is shared.
#pragma once

#include <warmup/source.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>
#include <warmup/sdk/plugin.hpp>

namespace warmup::test {

/// One event as the host received it (the views copied).
struct ReceivedEvent {
    std::string model;
    std::string tenant;
    int64_t ts_ms = 0;
    uint32_t count = 0;
};

class FakeSourcePoll {
  public:
    /// `state_dir` empty: the source keeps no state.
    explicit FakeSourcePoll(std::string state_dir = {}, std::string name = "test-source")
        : state_dir_(std::move(state_dir)), name_(std::move(name)) {
        cancel_ = warmup_cancel_token{
            this, [](void* context) { return static_cast<FakeSourcePoll*>(context)->cancelled ? 1 : 0; }};
        call_.struct_size = sizeof call_;
        call_.source_name = {name_.data(), name_.size()};
        call_.state_dir = {state_dir_.data(), state_dir_.size()};
        call_.cancel = &cancel_;
        call_.sink_context = this;
        call_.emit = [](void* context, const warmup_source_event* events, size_t count) -> size_t {
            auto* self = static_cast<FakeSourcePoll*>(context);
            const std::size_t taken = std::min(count, self->room);
            for (std::size_t i = 0; i < taken; ++i)
                self->events.push_back({std::string(events[i].model.data, events[i].model.size),
                                        std::string(events[i].tenant.data, events[i].tenant.size), events[i].ts_ms,
                                        events[i].count});
            self->room -= taken;
            return taken;
        };
        call_.reject = [](void* context, warmup_string_view reason) {
            static_cast<FakeSourcePoll*>(context)->rejects.emplace_back(reason.data, reason.size);
        };
    }
    FakeSourcePoll(const FakeSourcePoll&) = delete;
    FakeSourcePoll& operator=(const FakeSourcePoll&) = delete;

    /// One poll of `source`; returns its next_poll_in_ms.
    template <class Source>
    int64_t poll(Source& source) {
        sdk::SourcePoll poll(call_);
        return source.poll(poll);
    }

    [[nodiscard]] const warmup_source_poll& raw() const noexcept { return call_; }

    std::vector<ReceivedEvent> events;
    std::vector<std::string> rejects;
    /// Events the "ingest queue" still takes; emit takes at most this many and reports the rest as not taken.
    std::size_t room = std::numeric_limits<std::size_t>::max();
    bool cancelled = false;

  private:
    std::string state_dir_;
    std::string name_;
    warmup_cancel_token cancel_{};
    warmup_source_poll call_{};
};

}  // namespace warmup::test
