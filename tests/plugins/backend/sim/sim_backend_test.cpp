#include "sim_backend.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <warmup/sdk/glob.hpp>

#include "backend_test_support.hpp"
#include "plugin_library_check.hpp"
#include "plugin_test_host.hpp"

namespace warmup::plugins {
namespace {

SimBackend make_backend(test::PluginTestHost& host, const std::string& yaml) {
    sdk::Params params(yaml);
    return SimBackend(host.host(), params);
}

using warmup::test::CountingCancel;
using warmup::test::kNeverCancel;

// The SDK glob dialect the sim backend (fail_models), the other backends' name maps and the catalog share.
TEST(SdkGlob, StarCrossesEverythingQuestionMarkIsOneCharacter) {
    EXPECT_TRUE(warmup::sdk::glob_match("llama*:?b", "llama3:8b"));
    EXPECT_TRUE(warmup::sdk::glob_match("a*b", "ab"));
    EXPECT_TRUE(warmup::sdk::glob_match("*", ""));
    EXPECT_TRUE(warmup::sdk::glob_match("*-bad-*", "x-bad-y"));
    EXPECT_FALSE(warmup::sdk::glob_match("a?c", "ac"));
    EXPECT_FALSE(warmup::sdk::glob_match("bad-*", "good-1"));
    EXPECT_FALSE(warmup::sdk::glob_match("abc", "abcd"));
    EXPECT_TRUE(warmup::sdk::glob_match("embed/*", "embed/a/b"));  // '*' crosses '/'
    EXPECT_FALSE(warmup::sdk::glob_match("llama*", "xllama"));
}

TEST(SimBackend, FailModelsAlwaysFailOthersLoad) {
    test::PluginTestHost host;
    auto backend = make_backend(host, "time_scale: 0\nfail_models: ['bad-*', 'x?']");
    const auto bad = host.info(host.model("bad-1"));
    const auto good = host.info(host.model("good"));
    try {
        (void)backend.load(bad, kNeverCancel);
        FAIL() << "expected a simulated failure";
    } catch (const sdk::Error& error) {
        EXPECT_EQ(error.code(), WARMUP_ERROR_UNAVAILABLE);
        EXPECT_STREQ(error.what(), "simulated load failure of model bad-1");
    }
    EXPECT_FALSE(backend.is_loaded(bad.index));
    EXPECT_DOUBLE_EQ(backend.load(good, kNeverCancel), 1000.0);  // catalog memory_mb
    EXPECT_TRUE(backend.is_loaded(good.index));
    EXPECT_FALSE(backend.simulate_load(bad, 0).second);
    EXPECT_TRUE(backend.simulate_load(good, 0).second);
}

TEST(SimBackend, FailModelsAcceptsSingleStringAndMarksKeyUsed) {
    test::PluginTestHost host;
    sdk::Params params("fail_models: 'bad-*'\ntime_scale: 0");
    SimBackend backend(host.host(), params);
    EXPECT_NO_THROW(params.finish());
    EXPECT_FALSE(backend.simulate_load(host.info(host.model("bad-2")), 0).second);

    sdk::Params list_params("fail_models: [a, b]");
    SimBackend list_backend(host.host(), list_params);
    EXPECT_NO_THROW(list_params.finish());  // a list must not be reported as an unknown key
    EXPECT_THROW(make_backend(host, "fail_models: [[a]]"), sdk::InvalidArgument);
    EXPECT_THROW(make_backend(host, "failure_rate: 1.5"), sdk::InvalidArgument);
}

TEST(SimBackend, FailureRateOneFailsEveryLoad) {
    test::PluginTestHost host;
    auto backend = make_backend(host, "time_scale: 0\nfailure_rate: 1");
    const auto model = host.info(host.model("m"));
    EXPECT_THROW((void)backend.load(model, kNeverCancel), sdk::Error);
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(backend.simulate_load(model, i).second);
}

TEST(SimBackend, CancelledLoadStopsWithCancelled) {
    test::PluginTestHost host;
    auto backend = make_backend(host, "time_scale: 1");  // 2000 ms of wall time if not cancelled
    const auto model = host.info(host.model("m"));
    CountingCancel cancel;
    cancel.cancel_on_check = 3;  // cancelled after two 50 ms slices
    const warmup_cancel_token token = cancel.token();
    try {
        (void)backend.load(model, token);
        FAIL() << "expected CANCELLED";
    } catch (const sdk::Error& error) {
        EXPECT_EQ(error.code(), WARMUP_ERROR_CANCELLED);
    }
    EXPECT_EQ(cancel.checks.load(), 3);
    EXPECT_FALSE(backend.is_loaded(model.index));
}

TEST(SimBackend, LoadingLoadedModelIsNoOpAndUnloadOfAbsentIsNoOp) {
    test::PluginTestHost host;
    auto backend = make_backend(host, "time_scale: 0");
    const auto model = host.info(host.model("m"));
    const auto other = host.info(host.model("other"));
    EXPECT_NO_THROW(backend.unload(other));
    EXPECT_DOUBLE_EQ(backend.load(model, kNeverCancel), 1000.0);
    CountingCancel cancelled_at_once;
    const warmup_cancel_token token = cancelled_at_once.token();
    EXPECT_DOUBLE_EQ(backend.load(model, token), 1000.0);  // already loaded: returns before looking at the token
    EXPECT_EQ(cancelled_at_once.checks.load(), 0);
    backend.unload(model);
    EXPECT_FALSE(backend.is_loaded(model.index));
    EXPECT_THROW((void)backend.load(model, token), sdk::Error);  // absent again: a real (cancelled) load
}

TEST(SimBackend, SimulateLoadIsDeterministicForASeed) {
    test::PluginTestHost host;
    const std::string params = "load_jitter: 0.5\nfailure_rate: 0.3\ntime_scale: 0\nseed: 7";
    auto first = make_backend(host, params);
    auto second = make_backend(host, params);
    auto other_seed = make_backend(host, "load_jitter: 0.5\nfailure_rate: 0.3\ntime_scale: 0\nseed: 8");
    const auto model = host.info(host.model("m"));
    int failures = 0;
    bool differs_from_other_seed = false;
    for (int i = 0; i < 1000; ++i) {
        if (i % 100 == 0) {
            // Live loads on one instance only: they use their own RNG, so the simulated sequence must not move.
            try {
                (void)first.load(model, kNeverCancel);
            } catch (const sdk::Error&) {
            }
            first.unload(model);
        }
        const auto [duration_ms, succeeds] = first.simulate_load(model, i);
        const auto [again_ms, again_succeeds] = second.simulate_load(model, i);
        ASSERT_EQ(duration_ms, again_ms) << "call " << i;
        ASSERT_EQ(succeeds, again_succeeds) << "call " << i;
        EXPECT_GE(duration_ms, 1000.0);  // 2000 x (1 +- 0.5)
        EXPECT_LE(duration_ms, 3000.0);
        failures += succeeds ? 0 : 1;
        if (other_seed.simulate_load(model, i).first != duration_ms) differs_from_other_seed = true;
    }
    EXPECT_TRUE(differs_from_other_seed);
    // Deterministic for this seed, so not flaky: ~300 of 1000 fail at rate 0.3.
    EXPECT_GT(failures, 250);
    EXPECT_LT(failures, 350);
}

TEST(SimBackend, NoJitterMeansCatalogLoadTimeAndUnloadTime) {
    test::PluginTestHost host;
    auto backend = make_backend(host, "");
    const auto model = host.info(host.model("m"));
    EXPECT_EQ(backend.simulate_load(model, 0), std::make_pair(2000.0, true));
    EXPECT_DOUBLE_EQ(backend.simulate_unload(model, 0), 100.0);
    EXPECT_TRUE(backend.supports_simulation());
}

}  // namespace
}  // namespace warmup::plugins

// The built library, opened as the host opens it (plugin_library_check.hpp).
INSTANTIATE_TEST_SUITE_P(MechanicsPlugins, PluginLibrary,
                         ::testing::Values(warmup::test::PluginLibraryExpectation{
                             "sim_backend.so", "org.warmup.backend.sim", WARMUP_KIND_BACKEND}),
                         warmup::test::plugin_library_test_name);
