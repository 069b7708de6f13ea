// Host extensions and warmup_host.free_error (ABI 1.2): what the host answers by id, that every table it answers
// serves the host it was asked through, and a plugin library that finds the clock, gets NULL for an id no host
// offers, and frees an error it made.
#include <gtest/gtest.h>
#include <warmup/warmup.h>

#include <string>
#include <warmup/sdk/error.hpp>

#include "core/errors.hpp"
#include "core/host_services.hpp"
#include "core/reported_call_failure.hpp"
#include "gtest_support.hpp"
#include "plugin_abi_test_support.hpp"

namespace warmup::host {
namespace {

using test::LogCapture;
using test::PluginAbiHost;

struct ServicesFixture {
    PluginAbiHost host;
    HostServices services{host.catalog, host.clock, "org.warmup.test.host-services@1.0.0"};
    const warmup_host* raw = services.raw();
};

TEST(HostExtensions, TheLogIdAnswersATableThatLogsForThePluginItServes) {
    ServicesFixture fixture;
    const auto* log =
        static_cast<const warmup_host_log_extension*>(fixture.raw->get_extension(fixture.raw, WARMUP_HOST_EXT_LOG));
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->struct_size, sizeof(warmup_host_log_extension));
    LogCapture capture;
    log->log(fixture.raw, WARMUP_LOG_WARN, sdk::to_view("through the log extension"));
    EXPECT_CONTAINS(capture.text(), "warning [org.warmup.test.host-services@1.0.0] through the log extension");
}

TEST(HostExtensions, TheCallFailureIdCountsInTheCollectorOpenOnTheThreadElseLogsForThePlugin) {
    ServicesFixture fixture;
    const auto* failures = static_cast<const warmup_host_call_failure_extension*>(
        fixture.raw->get_extension(fixture.raw, WARMUP_HOST_EXT_CALL_FAILURE));
    ASSERT_NE(failures, nullptr);
    EXPECT_EQ(failures->struct_size, sizeof(warmup_host_call_failure_extension));
    LogCapture capture;
    {
        ReportedCallFailure::Collector collector;
        failures->report(fixture.raw, "resource.on_used()", WARMUP_ERROR_UNAVAILABLE, sdk::to_view("first"));
        failures->report(fixture.raw, "resource.on_used()", WARMUP_ERROR_INTERNAL, sdk::to_view("second"));
        EXPECT_TRUE(collector.failed());
        EXPECT_EQ(collector.code(), WARMUP_ERROR_UNAVAILABLE) << "the call's first failure is the one counted";
        EXPECT_EQ(collector.message(), "first");
    }
    EXPECT_EQ(capture.text(), "");
    failures->report(fixture.raw, "resource.on_used()", WARMUP_ERROR_INTERNAL, sdk::to_view("on a thread of its own"));
    EXPECT_CONTAINS(capture.text(),
                    "error [org.warmup.test.host-services@1.0.0] resource.on_used() failed: INTERNAL: "
                    "on a thread of its own");
}

TEST(HostExtensions, TheClockIdAnswersTheHostClock) {
    ServicesFixture fixture;
    const auto* clock =
        static_cast<const warmup_host_clock_extension*>(fixture.raw->get_extension(fixture.raw, WARMUP_HOST_EXT_CLOCK));
    ASSERT_NE(clock, nullptr);
    EXPECT_EQ(clock->struct_size, sizeof(warmup_host_clock_extension));
    fixture.host.clock.set(1'700'000'000'123);
    EXPECT_EQ(clock->now_ms(fixture.raw), 1'700'000'000'123);
}

TEST(HostExtensions, TheCatalogIdAnswersTheHostCatalog) {
    ServicesFixture fixture;
    const auto* catalog = static_cast<const warmup_host_catalog_extension*>(
        fixture.raw->get_extension(fixture.raw, WARMUP_HOST_EXT_CATALOG));
    ASSERT_NE(catalog, nullptr);
    EXPECT_EQ(catalog->struct_size, sizeof(warmup_host_catalog_extension));
    EXPECT_EQ(catalog->model_count(fixture.raw), 0u);
    EXPECT_EQ(catalog->find_model(fixture.raw, sdk::to_view("phi3:mini")), WARMUP_NO_MODEL) << "not seen yet";
    const warmup_model_index index = *fixture.host.catalog.resolve("phi3:mini");
    EXPECT_EQ(catalog->model_count(fixture.raw), 1u);
    EXPECT_EQ(catalog->find_model(fixture.raw, sdk::to_view("phi3:mini")), index);
    warmup_model_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(catalog->model_info(fixture.raw, index, &info), WARMUP_OK);
    EXPECT_EQ(std::string(info.name.data, info.name.size), "phi3:mini");
    EXPECT_EQ(info.memory_mb, 1000.0);
    EXPECT_EQ(catalog->model_info(fixture.raw, index + 1, &info), WARMUP_ERROR_NOT_FOUND);
}

TEST(HostExtensions, AnUnknownIdOrANullIdAnswersNull) {
    ServicesFixture fixture;
    EXPECT_EQ(fixture.raw->get_extension(fixture.raw, "org.warmup.host.no-such-service.v1"), nullptr);
    EXPECT_EQ(fixture.raw->get_extension(fixture.raw, "org.warmup.host.log.v2"), nullptr) << "another version";
    EXPECT_EQ(fixture.raw->get_extension(fixture.raw, WARMUP_EXT_STATE), nullptr) << "a plugin-side id";
    EXPECT_EQ(fixture.raw->get_extension(fixture.raw, ""), nullptr);
    EXPECT_EQ(fixture.raw->get_extension(fixture.raw, nullptr), nullptr);
}

TEST(HostExtensions, TheHostStructOfThisAbiCarriesTheLookupAndTheErrorFree) {
    ServicesFixture fixture;
    EXPECT_EQ(fixture.raw->abi.major, WARMUP_ABI_MAJOR);
    EXPECT_EQ(fixture.raw->abi.minor, WARMUP_ABI_MINOR);
    EXPECT_TRUE(WARMUP_HAS_FIELD(fixture.raw, warmup_host, get_extension));
    EXPECT_TRUE(WARMUP_HAS_FIELD(fixture.raw, warmup_host, free_error));
    EXPECT_NE(fixture.raw->get_extension, nullptr);
    EXPECT_NE(fixture.raw->free_error, nullptr);
}

TEST(HostErrors, FreeErrorReleasesAnErrorThePluginMadeAndIgnoresNull) {
    ServicesFixture fixture;
    const std::size_t before = live_error_count();
    warmup_error* error = fixture.raw->make_error(fixture.raw, WARMUP_ERROR_UNAVAILABLE, sdk::to_view("not returned"));
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(live_error_count(), before + 1);
    fixture.raw->free_error(fixture.raw, error);
    EXPECT_EQ(live_error_count(), before);
    fixture.raw->free_error(fixture.raw, nullptr);
    EXPECT_EQ(live_error_count(), before);
}

TEST(HostExtensionPlugin, APluginFindsTheClockGetsNullForAnUnknownIdAndFreesTheErrorItDropped) {
    PluginAbiHost host;
    // create refuses to start when the clock is missing or the unknown id is answered (see the next two tests).
    const auto instance = host.create("host_extension_probe.so", WARMUP_KIND_PREDICTOR);
    const auto* vtable = instance->vtable<warmup_predictor_vtable>();

    host.clock.set(5'000);
    warmup_usage_pattern pattern{};
    pattern.struct_size = sizeof pattern;
    pattern.model = 3;
    warmup_prediction prediction{};
    prediction.struct_size = sizeof prediction;
    const std::size_t errors_before = live_error_count();
    ErrorPtr error(vtable->predict(instance->self(), 5'000, &pattern, &prediction));
    ASSERT_EQ(error.get(), nullptr) << error->message;
    EXPECT_EQ(prediction.next_arrival_ms, 6'000) << "the clock extension's now (5 s) + 1 s";
    EXPECT_EQ(live_error_count(), errors_before) << "the provisional error the plugin made was freed";
}

/// The probe's descriptor called with a copy of a real host whose get_extension is replaced: the message of the
/// error create returns ("" when it succeeded).
std::string create_probe_with(const warmup_host& host) {
    PluginAbiHost loader_host;
    auto library = loader_host.loader.load(
        PluginRef{"", test::test_plugin("host_extension_probe.so"), "", "components.predictor"}, WARMUP_KIND_PREDICTOR);
    void* instance = nullptr;
    ErrorPtr error(library->descriptor().create(&host, {}, &instance));
    if (error == nullptr) {
        library->descriptor().destroy(instance);
        return "";
    }
    return std::string(status_name(error->code)) + ": " + error->message;
}

TEST(HostExtensionPlugin, APluginOnAHostWithoutTheClockRefusesToStartSayingWhatItMisses) {
    ServicesFixture fixture;
    warmup_host without_extensions = *fixture.raw;
    without_extensions.get_extension = [](const warmup_host*, const char*) -> const void* { return nullptr; };
    EXPECT_EQ(create_probe_with(without_extensions),
              "NOT_FOUND: the host offers no org.warmup.host.clock.v1 extension");
    EXPECT_EQ(create_probe_with(*fixture.raw), "") << "the real host offers it";
}

TEST(HostExtensionPlugin, APluginOnAHostAnsweringEveryIdRefusesToStart) {
    ServicesFixture fixture;
    warmup_host answering_everything = *fixture.raw;
    answering_everything.get_extension = [](const warmup_host* host, const char*) -> const void* {
        return static_cast<const HostServices*>(host->host_data)->raw()->get_extension(host, WARMUP_HOST_EXT_CLOCK);
    };
    EXPECT_EQ(create_probe_with(answering_everything),
              "INTERNAL: the host answered the unknown extension id org.warmup.test.no-such-host-extension");
}

}  // namespace
}  // namespace warmup::host
