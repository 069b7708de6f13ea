// What the loader guarantees to code that holds plugins: lookup by id, instances keeping their library mapped,
// one library per file content, and the content-addressed cache copy that makes a rebuilt file new code.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/errors.hpp"
#include "loader/plugin_instance.hpp"
#include "loader/plugin_library.hpp"
#include "loader/plugin_loader.hpp"
#include "loader_test_support.hpp"

namespace warmup::test {
namespace {

using host::PluginInstance;
using host::PluginLibrary;
using host::PluginLoader;
using host::PluginRef;

PluginRef by_path(const fs::path& file) {
    return PluginRef{.id = {}, .path = file, .sha256_pin = {}, .where = "components.predictor"};
}

/// True while the dynamic linker has `file` mapped in this process (RTLD_NOLOAD never loads it).
bool is_mapped(const fs::path& file) {
    void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (handle == nullptr) return false;
    ::dlclose(handle);  // undo the reference RTLD_NOLOAD added
    return true;
}

/// One model used once, at 1000 ms, with no measurable rate yet.
warmup_usage_pattern pattern_used_once_at_1000_ms() {
    warmup_usage_pattern pattern{};
    pattern.struct_size = sizeof(pattern);
    pattern.model = 3;
    pattern.request_count = 1;
    pattern.first_seen_ms = 1000;
    pattern.last_seen_ms = 1000;
    pattern.previous_seen_ms = WARMUP_TIME_NEVER;
    pattern.ewma_rate_per_s = 0.0;
    return pattern;
}

/// Calls predict through the instance's C vtable, exactly as the engine does.
warmup_prediction predict_through_vtable(const PluginInstance& instance, warmup_time_ms now_ms,
                                         const warmup_usage_pattern& pattern) {
    warmup_prediction prediction{};
    prediction.struct_size = sizeof(prediction);
    const auto* vtable = instance.vtable<warmup_predictor_vtable>();
    host::throw_if_error(vtable->predict(instance.self(), now_ms, &pattern, &prediction), "predict");
    return prediction;
}

class PluginLifetime : public ::testing::Test {
  protected:
    host::Catalog catalog_;
    host::ManualClock clock_{0};
};

TEST_F(PluginLifetime, FindsRealPluginById) {
    PluginLoader loader({WARMUP_TEST_PLUGIN_DIR});
    EXPECT_EQ(loader.find_by_id("org.warmup.predictor.keep-alive"), real_plugin("keep_alive_predictor.so"));
    EXPECT_EQ(loader.find_by_id("org.warmup.scheduler.lead-time"), real_plugin("lead_time_scheduler.so"));
    EXPECT_EQ(loader.find_by_id("org.warmup.predictor.no-such-thing"), std::nullopt);

    const PluginRef ref{
        .id = "org.warmup.predictor.keep-alive", .path = {}, .sha256_pin = {}, .where = "components.predictor"};
    auto library = loader.load(ref, WARMUP_KIND_PREDICTOR);
    EXPECT_EQ(library->id(), "org.warmup.predictor.keep-alive");
    EXPECT_EQ(library->file(), real_plugin("keep_alive_predictor.so"));
    EXPECT_EQ(library->descriptor().kind, static_cast<uint32_t>(WARMUP_KIND_PREDICTOR));
}

TEST_F(PluginLifetime, ScanSkipsBrokenLibrariesAndTheFirstFileWinsForADuplicateId) {
    // The bad-plugins folder holds every defect at once; the scan must not stop at them.
    PluginLoader loader({WARMUP_TEST_BAD_PLUGIN_DIR, WARMUP_TEST_PLUGIN_DIR});
    EXPECT_EQ(loader.find_by_id("org.warmup.predictor.keep-alive"), real_plugin("keep_alive_predictor.so"));
    // c_predictor.so and c_predictor_v2.so both declare this id; files are scanned in name order.
    EXPECT_EQ(loader.find_by_id("org.warmup.test.c-predictor"), bad_plugin("c_predictor.so"));
    EXPECT_EQ(loader.find_by_id("org.warmup.test.abi-major-2"), std::nullopt);
    EXPECT_EQ(loader.find_by_id("org.warmup.test.descriptor-40-bytes"), std::nullopt);
    // A short vtable is only detected at create time, so the scan still indexes it.
    EXPECT_EQ(loader.find_by_id("org.warmup.test.vtable-8-bytes"), bad_plugin("vtable_8_bytes.so"));
}

TEST_F(PluginLifetime, HandWrittenCPluginLoadsAndRunsWhenNotCorrupted) {
    // The control for the refusal tests: the same C source, without a defect, is accepted.
    PluginLoader loader({});
    auto library = loader.load(by_path(bad_plugin("c_predictor.so")), WARMUP_KIND_PREDICTOR);
    auto instance = PluginInstance::create(library, "", catalog_, clock_);
    EXPECT_EQ(instance->label(), "org.warmup.test.c-predictor@1.0.0");
    const warmup_prediction prediction = predict_through_vtable(*instance, 1500, pattern_used_once_at_1000_ms());
    EXPECT_EQ(prediction.model, 3u);
    EXPECT_EQ(prediction.keep_until_ms, 2000);  // last use 1000 + the plugin's fixed 1000 ms keep-alive
    EXPECT_EQ(prediction.warm_at_ms, WARMUP_TIME_NEVER);

    const std::string message =
        message_of<host::PluginCallError>([&] { PluginInstance::create(library, "ttl_ms: 5\n", catalog_, clock_); });
    EXPECT_CONTAINS(message, "plugin org.warmup.test.c-predictor@1.0.0 ('" + bad_plugin("c_predictor.so").string() +
                                 "') refused to start: INVALID_ARGUMENT: params: this test plugin takes no parameters");
}

TEST_F(PluginLifetime, InstanceKeepsItsLibraryAliveAfterTheCallerDropsIt) {
    PluginLoader loader({});
    const fs::path file = real_plugin("keep_alive_predictor.so");
    auto library = loader.load(by_path(file), WARMUP_KIND_PREDICTOR);
    std::weak_ptr<PluginLibrary> watch = library;
    auto instance = PluginInstance::create(library, "ttl_ms: 60000\n", catalog_, clock_);
    library.reset();  // the loader keeps only a weak reference: the instance is now the sole owner

    ASSERT_FALSE(watch.expired());
    ASSERT_TRUE(is_mapped(file));
    const warmup_prediction prediction = predict_through_vtable(*instance, 1500, pattern_used_once_at_1000_ms());
    EXPECT_EQ(prediction.keep_until_ms, 61000);                // last use 1000 + ttl 60000
    EXPECT_EQ(prediction.next_arrival_ms, WARMUP_TIME_NEVER);  // no rate yet
    EXPECT_EQ(prediction.p_use_within_horizon, 0.0);           // 1 - exp(0)
    EXPECT_DOUBLE_EQ(prediction.confidence, 1.0 / 11.0);       // n / (n + 10) with n = 1

    instance.reset();
    EXPECT_TRUE(watch.expired());
    // Nothing else holds it, so the code is gone too (-fno-gnu-unique keeps plugins unloadable).
    EXPECT_FALSE(is_mapped(file));
}

TEST_F(PluginLifetime, TwoInstancesShareOneLibrary) {
    PluginLoader loader({});
    const fs::path file = real_plugin("keep_alive_predictor.so");
    auto library = loader.load(by_path(file), WARMUP_KIND_PREDICTOR);
    EXPECT_EQ(loader.load(by_path(file), WARMUP_KIND_PREDICTOR), library);  // same file: the same library

    // Same content under another name: still one library (it is keyed by SHA-256, not by path).
    const TempDir folder("warmup-loader-test");
    const fs::path copy = folder.path() / "keep_alive_copy.so";
    fs::copy_file(file, copy);
    EXPECT_EQ(loader.load(by_path(copy), WARMUP_KIND_PREDICTOR), library);

    auto short_ttl = PluginInstance::create(library, "ttl_ms: 10\n", catalog_, clock_);
    auto long_ttl = PluginInstance::create(library, "ttl_ms: 20000\n", catalog_, clock_);
    EXPECT_EQ(short_ttl->library_ptr(), long_ttl->library_ptr());
    EXPECT_NE(short_ttl->self(), long_ttl->self());  // separate instances with their own params
    std::weak_ptr<PluginLibrary> watch = library;
    library.reset();
    EXPECT_EQ(watch.use_count(), 2);  // one reference per instance

    short_ttl.reset();
    ASSERT_FALSE(watch.expired());
    const warmup_prediction prediction = predict_through_vtable(*long_ttl, 1500, pattern_used_once_at_1000_ms());
    EXPECT_EQ(prediction.keep_until_ms, 21000);  // 1000 + 20000: the survivor still runs with its own params
    long_ttl.reset();
    EXPECT_TRUE(watch.expired());
}

TEST_F(PluginLifetime, APluginInstalledOrRenamedAfterTheFirstLookUpIsFoundByTheNext) {
    const TempDir folder("warmup-loader-test");
    const fs::path plugins = folder.path() / "plugins";
    fs::create_directory(plugins);
    PluginLoader loader({plugins});
    EXPECT_EQ(loader.find_by_id("org.warmup.predictor.keep-alive"), std::nullopt);
    // Installed while the daemon runs (a reload then asks for it): before, the folder was read once per process.
    fs::copy_file(real_plugin("keep_alive_predictor.so"), plugins / "keep_alive.so");
    EXPECT_EQ(loader.find_by_id("org.warmup.predictor.keep-alive"), plugins / "keep_alive.so");
    // A new version under another file name, the old one removed.
    fs::copy_file(real_plugin("keep_alive_predictor.so"), plugins / "keep_alive_v2.so");
    fs::remove(plugins / "keep_alive.so");
    EXPECT_EQ(loader.find_by_id("org.warmup.predictor.keep-alive"), plugins / "keep_alive_v2.so");
    fs::remove(plugins / "keep_alive_v2.so");
    EXPECT_EQ(loader.find_by_id("org.warmup.predictor.keep-alive"), std::nullopt);
}

TEST_F(PluginLifetime, CacheCopyIsNamedBySha256AndMakesARebuiltFileNewCode) {
    const TempDir folder("warmup-loader-test");
    const fs::path cache_dir = folder.path() / "cache";
    const fs::path plugin_file = folder.path() / "my_predictor.so";
    fs::copy_file(real_plugin("keep_alive_predictor.so"), plugin_file);
    PluginLoader loader({}, cache_dir);

    auto first = loader.load(by_path(plugin_file), WARMUP_KIND_PREDICTOR);
    const std::string first_sha = host::sha256_of_file(plugin_file);
    EXPECT_EQ(first->sha256(), first_sha);
    EXPECT_EQ(first->file(), plugin_file);  // messages name what the user wrote
    EXPECT_EQ(first->loaded_file(), cache_dir / (first_sha + ".so"));
    EXPECT_EQ(host::sha256_of_file(first->loaded_file()), first_sha);
    EXPECT_TRUE(is_mapped(first->loaded_file()));
    EXPECT_FALSE(is_mapped(plugin_file));  // the user's file itself was never dlopened
    auto first_instance = PluginInstance::create(first, "", catalog_, clock_);

    // "Rebuild" the plugin at the same path: another predictor overwrites the file in place.
    fs::copy_file(real_plugin("idle_histogram_predictor.so"), plugin_file, fs::copy_options::overwrite_existing);
    auto second = loader.load(by_path(plugin_file), WARMUP_KIND_PREDICTOR);
    const std::string second_sha = host::sha256_of_file(plugin_file);
    ASSERT_NE(second_sha, first_sha);
    EXPECT_NE(second, first);
    EXPECT_EQ(second->id(), "org.warmup.predictor.idle-histogram");  // the new code, not the resident old one
    EXPECT_EQ(second->loaded_file(), cache_dir / (second_sha + ".so"));
    EXPECT_EQ(first->id(), "org.warmup.predictor.keep-alive");  // the old library is untouched and still works
    EXPECT_EQ(predict_through_vtable(*first_instance, 1500, pattern_used_once_at_1000_ms()).keep_until_ms,
              301000);  // 1000 + the default ttl of 300000

    std::size_t cached_libraries = 0;
    for (const auto& entry : fs::directory_iterator(cache_dir)) {
        EXPECT_EQ(entry.path().extension(), ".so") << "leftover " << entry.path();
        ++cached_libraries;
    }
    EXPECT_EQ(cached_libraries, 2u);
}

}  // namespace
}  // namespace warmup::test
