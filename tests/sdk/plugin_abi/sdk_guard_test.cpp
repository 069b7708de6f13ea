// The SDK's guard on calls whose C signature has no error to return: a queue plugin whose size() and
// rejected_count() throw, and whose state_schema() throws after its first answer. The host gets the stated fallback,
// the failure is logged as an error of the plugin, and the instance keeps serving its other calls.
#include <gtest/gtest.h>
#include <warmup/warmup.h>

#include <string>

#include "core/errors.hpp"
#include "core/reported_call_failure.hpp"
#include "gtest_support.hpp"
#include "plugin_abi_test_support.hpp"

namespace warmup::host {
namespace {

using test::LogCapture;
using test::PluginAbiHost;

constexpr const char* kLabel = "[org.warmup.test.throwing-queue@1.0.0]";

struct ThrowingQueueFixture {
    PluginAbiHost host;
    std::unique_ptr<PluginInstance> instance = host.create("throwing_queue.so", WARMUP_KIND_QUEUE);
    const warmup_queue_vtable* vtable = instance->vtable<warmup_queue_vtable>();

    void push(warmup_model_index model) {
        warmup_queue_item item{};
        item.model = model;
        ErrorPtr error(vtable->push(instance->self(), &item));
        ASSERT_EQ(error.get(), nullptr) << error->message;
    }
    /// The model popped next, or WARMUP_NO_MODEL when the plugin popped nothing.
    warmup_model_index pop() {
        warmup_queue_item item{};
        return vtable->pop(instance->self(), 0, &item) == 1 ? item.model : WARMUP_NO_MODEL;
    }
};

TEST(SdkGuard, AThrowingSizeAnswersZeroLogsAnErrorOfThePluginAndTheQueueKeepsWorking) {
    ThrowingQueueFixture queue;
    queue.push(1);
    queue.push(2);
    LogCapture log;
    EXPECT_EQ(queue.vtable->size(queue.instance->self()), 0u);
    EXPECT_CONTAINS(log.text(), std::string("error ") + kLabel +
                                    " queue.size() failed: INTERNAL: throwing test queue: size() fails on "
                                    "purpose; the host got 0\n");
    EXPECT_EQ(queue.pop(), 2u) << "last in, first out: the instance still holds both items";
    EXPECT_EQ(queue.pop(), 1u);
    EXPECT_EQ(queue.pop(), WARMUP_NO_MODEL);
}

TEST(SdkGuard, AFailureInACallTheHostCountsIsReportedToItNotLogged) {
    // The engine opens a collector around the calls it counts (WarmupEngine::NotificationScope): the SDK's report
    // lands there, once per call, and the engine logs it as PLUGIN_CALL_ERROR (throttled) instead of a line per call.
    ThrowingQueueFixture queue;
    LogCapture log;
    {
        ReportedCallFailure::Collector collector;
        EXPECT_EQ(queue.vtable->size(queue.instance->self()), 0u);
        EXPECT_EQ(queue.vtable->size(queue.instance->self()), 0u);
        ASSERT_TRUE(collector.failed());
        EXPECT_EQ(collector.code(), WARMUP_ERROR_INTERNAL);
        EXPECT_EQ(collector.message(), "throwing test queue: size() fails on purpose; the host got 0");
    }
    EXPECT_EQ(log.text().find("failed"), std::string::npos) << log.text();
}

TEST(SdkGuard, AThrowingRejectedCountAnswersZeroAndTheLogKeepsTheErrorCodeThePluginThrew) {
    ThrowingQueueFixture queue;
    LogCapture log;
    EXPECT_EQ(queue.vtable->rejected_count(queue.instance->self()), 0u);
    EXPECT_CONTAINS(log.text(), std::string("error ") + kLabel +
                                    " queue.rejected_count() failed: UNAVAILABLE: throwing test queue: "
                                    "rejected_count() fails on purpose; the host got 0\n");
}

TEST(SdkGuard, AThrowingStateSchemaAnswersTheEmptySchemaNeverNull) {
    ThrowingQueueFixture queue;
    // The first state_schema() call (inside get_extension) answers, so the state extension is offered.
    const auto* state = static_cast<const warmup_state_extension*>(queue.instance->extension(WARMUP_EXT_STATE));
    ASSERT_NE(state, nullptr);
    LogCapture log;
    const char* schema = state->schema(queue.instance->self());
    ASSERT_NE(schema, nullptr);
    EXPECT_STREQ(schema, "");
    EXPECT_CONTAINS(log.text(), std::string("error ") + kLabel +
                                    " state extension schema() failed: INTERNAL: throwing test queue: state_schema() "
                                    "fails after its first answer; the host got the empty schema\n");
}

TEST(SdkGuard, AThrowInsideGetExtensionMeansTheExtensionIsNotOffered) {
    ThrowingQueueFixture queue;
    ASSERT_NE(queue.instance->extension(WARMUP_EXT_STATE), nullptr);
    LogCapture log;
    EXPECT_EQ(queue.instance->extension(WARMUP_EXT_STATE), nullptr) << "state_schema() throws from its second call";
    EXPECT_CONTAINS(log.text(), std::string("error ") + kLabel +
                                    " get_extension() failed: INTERNAL: throwing test queue: state_schema() fails "
                                    "after its first answer; the host got no extension\n");
}

}  // namespace
}  // namespace warmup::host
