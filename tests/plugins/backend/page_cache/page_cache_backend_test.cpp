// The page-cache backend driven directly (its classes compiled into the test) over model files the tests write.
// Assertions stay on what the plugin guarantees (files read, bytes, bookkeeping, error codes and messages) and on
// what the kernel guarantees (mlocked pages are resident); never on what the page cache happens to keep.
#include "page_cache_backend.hpp"

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <thread>

#include "page_cache_test_support.hpp"

namespace warmup::plugins::page_cache {
namespace {

using test::kMiB;
using test::kNeverCancel;
using test::write_model_file;

std::unique_ptr<PageCacheBackend> make_backend(test::PluginTestHost& host, const std::string& yaml) {
    sdk::Params params(yaml);
    auto backend = std::make_unique<PageCacheBackend>(host.host(), params);
    params.finish();  // what the SDK does after the constructor
    return backend;
}

TEST(PageCacheModelNames, SubstitutionEscapesGlobCharactersAndRefusesDotDot) {
    EXPECT_EQ(substitute_model_name("/m/${name}/${name}.bin", "a*b?[c]"), "/m/a\\*b\\?\\[c]/a\\*b\\?\\[c].bin");
    EXPECT_EQ(substitute_model_name("/m/fixed.bin", "../x"), "/m/fixed.bin");  // no placeholder: name unused
    EXPECT_EQ(test::sdk_error_of([] { (void)substitute_model_name("/m/${name}", "a/../../etc"); }).code(),
              WARMUP_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(substitute_model_name("/m/${name}", "a..b/..c"), "/m/a..b/..c");  // only a whole ".." component
}

TEST(PageCacheBackend, LoadReadsEveryMatchingFileAndReportsTheirSize) {
    test::TempDir dir("page-cache");
    const auto root = dir.path() / "hf" / "m-large";
    const std::string a = write_model_file(root / "model-00001.safetensors", 3 * kMiB);
    const std::string b = write_model_file(root / "model-00002.safetensors", kMiB + 123);
    const std::string c = write_model_file(root / "model-00003.safetensors", 2 * kMiB);
    write_model_file(root / "README.md", 1000);  // not matched
    test::PluginTestHost host;
    auto backend = make_backend(
        host, "model_files: {'m-*': '" + (dir.path() / "hf" / "${name}" / "*.safetensors").string() + "'}");
    const auto model = host.info("m-large");

    const PageCacheLoadReport report = backend->load_files(model, kNeverCancel);
    EXPECT_EQ(report.files, (std::vector<std::string>{a, b, c}));  // sorted, README.md not among them
    EXPECT_EQ(report.file_bytes, 6 * kMiB + 123);
    EXPECT_EQ(report.bytes_read, 6 * kMiB + 123);
    EXPECT_LE(report.resident_bytes, report.file_bytes);  // never more than the files hold
    EXPECT_EQ(report.locked_files, 0u);
    EXPECT_TRUE(backend->is_loaded(model.index));
    EXPECT_EQ(backend->held_file_count(), 3u);
    EXPECT_EQ(backend->locked_mapping_count(), 0u);
}

TEST(PageCacheBackend, ExactKeyWinsOverGlobsAndGlobsApplyInDocumentOrder) {
    test::TempDir dir("page-cache");
    const std::string exact = write_model_file(dir.path() / "exact.bin", 10);
    const std::string m2 = write_model_file(dir.path() / "glob" / "m-2.bin", 10);
    const std::string any = write_model_file(dir.path() / "any.bin", 10);
    const std::string d = dir.path().string();
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files:\n  'm-*': '" + d + "/glob/${name}.bin'\n  'm-1': '" + d +
                                          "/exact.bin'\n  '*': '" + d + "/any.bin'");
    const auto paths = [&](std::string_view name) {
        std::vector<std::string> out;
        for (const ResolvedFile& file : backend->resolve_files(name, MissingFiles::kError)) out.push_back(file.path);
        return out;
    };
    EXPECT_EQ(paths("m-1"), std::vector<std::string>{exact});  // exact key, although 'm-*' comes first
    EXPECT_EQ(paths("m-2"), std::vector<std::string>{m2});     // first glob in document order
    EXPECT_EQ(paths("other"), std::vector<std::string>{any});
}

TEST(PageCacheBackend, NameSubstitutionMatchesTheNameLiterally) {
    test::TempDir dir("page-cache");
    const std::string star = write_model_file(dir.path() / "a*" / "w.gguf", 2 * kMiB);
    write_model_file(dir.path() / "ab" / "w.gguf", kMiB);  // would match an unescaped "a*"
    const std::string nested = write_model_file(dir.path() / "org" / "m:7b" / "w.gguf", kMiB);
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {'*': '" + dir.path().string() + "/${name}/*.gguf'}");

    const auto star_report = backend->load_files(host.info("a*"), kNeverCancel);
    EXPECT_EQ(star_report.files, std::vector<std::string>{star});
    EXPECT_EQ(star_report.bytes_read, 2 * kMiB);
    EXPECT_EQ(backend->load_files(host.info("org/m:7b"), kNeverCancel).files, std::vector<std::string>{nested});
}

TEST(PageCacheBackend, ListsFoldersAndDuplicatesResolveToEachFileOnce) {
    test::TempDir dir("page-cache");
    const auto base = dir.path() / "base";
    const std::string top = write_model_file(base / "a.bin", kMiB);
    const std::string deep = write_model_file(base / "sub" / "b.bin", 2 * kMiB);
    std::filesystem::create_symlink(top, dir.path() / "link-to-a.bin");
    test::PluginTestHost host;
    const std::string d = dir.path().string();
    // The folder expands to both files; the explicit path and the symlink reach a.bin again: read once.
    auto backend = make_backend(host, "model_files: {m: ['" + d + "/base', '" + top + "', '" + d + "/link-to-a.bin']}");
    const auto report = backend->load_files(host.info("m"), kNeverCancel);
    EXPECT_EQ(report.files, (std::vector<std::string>{top, deep}));
    EXPECT_EQ(report.bytes_read, 3 * kMiB);
    EXPECT_EQ(backend->held_file_count(), 2u);
}

TEST(PageCacheBackend, PatternMatchingNoFileIsNotFoundNamingPatternModelAndFolder) {
    test::TempDir dir("page-cache");
    const std::string pattern = (dir.path() / "ollama" / "${name}" / "*.gguf").string();
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {'llama*': '" + pattern + "'}");
    const auto model = host.info("llama3:8b");
    const sdk::Error error = test::sdk_error_of([&] { (void)backend->load_files(model, kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_NOT_FOUND);
    const std::string folder = (dir.path() / "ollama" / "llama3:8b").string();
    EXPECT_EQ(std::string(error.what()), "page cache load of model 'llama3:8b': pattern '" + pattern +
                                             "' of params.model_files.llama* (for this model '" + folder +
                                             "/*.gguf') matches no file; folder " + folder +
                                             ": No such file or directory");
    EXPECT_FALSE(backend->is_loaded(model.index));
    EXPECT_EQ(backend->held_file_count(), 0u);
}

TEST(PageCacheBackend, ModelNoEntryCoversIsNotFoundListingTheEntries) {
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {'llama*': /m/a.gguf, 'embed/*': /m/b.bin}");
    const sdk::Error error =
        test::sdk_error_of([&] { (void)backend->load_files(host.info("phi3:mini"), kNeverCancel); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_NOT_FOUND);
    EXPECT_STREQ(error.what(),
                 "page cache load of model 'phi3:mini': no params.model_files entry covers it (entries: 'llama*', "
                 "'embed/*')");
}

TEST(PageCacheBackend, MissingFilesSkipLoadsWhatExistsButNotNothing) {
    test::TempDir dir("page-cache");
    const std::string d = dir.path().string();
    const std::string weights = write_model_file(dir.path() / "m" / "w.bin", kMiB);
    test::PluginTestHost host;
    const std::string files = "model_files: {m: ['" + d + "/m/*.bin', '" + d + "/m/*.adapter'], other: '" + d +
                              "/other/*.bin'}\nmissing_files: ";

    auto strict = make_backend(host, files + "error");
    EXPECT_EQ(test::sdk_error_of([&] { (void)strict->load_files(host.info("m"), kNeverCancel); }).code(),
              WARMUP_ERROR_NOT_FOUND);

    auto lenient = make_backend(host, files + "skip");
    EXPECT_EQ(lenient->load_files(host.info("m"), kNeverCancel).files, std::vector<std::string>{weights});
    const sdk::Error nothing = test::sdk_error_of([&] { (void)lenient->load_files(host.info("other"), kNeverCancel); });
    EXPECT_EQ(nothing.code(), WARMUP_ERROR_NOT_FOUND);
    EXPECT_NE(std::string(nothing.what()).find("no existing file matches params.model_files.other"), std::string::npos)
        << nothing.what();
}

TEST(PageCacheBackend, UnreadableFileNamesPathAndErrno) {
    test::TempDir dir("page-cache");
    const std::string d = dir.path().string();
    write_model_file(dir.path() / "m" / "good.bin", kMiB);
    std::filesystem::create_symlink(dir.path() / "nowhere.bin", dir.path() / "m" / "dangling.bin");
    std::filesystem::create_directories(dir.path() / "loop");
    std::filesystem::create_symlink(dir.path() / "loop-b.bin", dir.path() / "loop" / "loop-a.bin");
    std::filesystem::create_symlink(dir.path() / "loop" / "loop-a.bin", dir.path() / "loop-b.bin");
    test::PluginTestHost host;

    auto strict = make_backend(host, "model_files: {m: '" + d + "/m/*.bin', loop: '" + d + "/loop/*.bin'}");
    const sdk::Error dangling = test::sdk_error_of([&] { (void)strict->load_files(host.info("m"), kNeverCancel); });
    EXPECT_EQ(dangling.code(), WARMUP_ERROR_NOT_FOUND);
    EXPECT_STREQ(dangling.what(), ("page cache load of model 'm': cannot open " + d + "/m/dangling.bin (matched by '" +
                                   d + "/m/*.bin'): No such file or directory")
                                      .c_str());

    auto lenient =
        make_backend(host, "model_files: {m: '" + d + "/m/*.bin', loop: '" + d + "/loop/*.bin'}\nmissing_files: skip");
    EXPECT_EQ(lenient->load_files(host.info("m"), kNeverCancel).bytes_read, kMiB);  // the dangling link is skipped
    // A symlink loop is not "missing": skip does not hide it.
    const sdk::Error loop = test::sdk_error_of([&] { (void)lenient->load_files(host.info("loop"), kNeverCancel); });
    EXPECT_EQ(loop.code(), WARMUP_ERROR_UNAVAILABLE);
    EXPECT_NE(std::string(loop.what()).find(d + "/loop/loop-a.bin"), std::string::npos) << loop.what();
    EXPECT_NE(std::string(loop.what()).find("Too many levels of symbolic links"), std::string::npos) << loop.what();
}

TEST(PageCacheBackend, NameWithDotDotComponentIsRefused) {
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {'*': '/models/${name}/*.gguf'}");
    EXPECT_EQ(test::sdk_error_of([&] { (void)backend->load_files(host.info("../../etc"), kNeverCancel); }).code(),
              WARMUP_ERROR_INVALID_ARGUMENT);
}

TEST(PageCacheBackend, CancelledBeforeLoadingReadsNothing) {
    test::TempDir dir("page-cache");
    write_model_file(dir.path() / "m.bin", kMiB);
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {m: '" + dir.path().string() + "/m.bin'}");
    test::CountingCancel cancel;  // fires on the first poll
    const auto token = cancel.token();
    const sdk::Error error = test::sdk_error_of([&] { (void)backend->load_files(host.info("m"), token); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_CANCELLED);
    EXPECT_STREQ(error.what(), "page cache load of model 'm' cancelled");
    EXPECT_EQ(cancel.checks.load(), 1);
    EXPECT_FALSE(backend->is_loaded(host.info("m").index));
}

TEST(PageCacheBackend, CancelledBetweenChunksStopsAtOnceAndReleasesTheFiles) {
    test::TempDir dir("page-cache");
    write_model_file(dir.path() / "m.bin", 4 * kMiB);
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {m: '" + dir.path().string() + "/m.bin'}\nread_chunk_mb: 1");
    // Polls: 1 = start of load, 2 = before the file, 3..6 = before each of the four 1 MiB chunks. Firing on poll 5
    // means two chunks were read and the third is not started.
    test::CountingCancel cancel;
    cancel.cancel_on_check = 5;
    const auto token = cancel.token();
    EXPECT_EQ(test::sdk_error_of([&] { (void)backend->load_files(host.info("m"), token); }).code(),
              WARMUP_ERROR_CANCELLED);
    EXPECT_EQ(cancel.checks.load(), 5);  // not polled again after it fired
    EXPECT_FALSE(backend->is_loaded(host.info("m").index));
    EXPECT_EQ(backend->held_file_count(), 0u);
}

TEST(PageCacheBackend, CancelledWhileLockingLeavesNothingLocked) {
    test::TempDir dir("page-cache");
    if (!test::may_lock(2 * kMiB)) GTEST_SKIP() << "RLIMIT_MEMLOCK too small for this test";
    write_model_file(dir.path() / "m.bin", 2 * kMiB);
    test::PluginTestHost host;
    auto backend =
        make_backend(host, "model_files: {m: '" + dir.path().string() + "/m.bin'}\nread_chunk_mb: 1\nmlock: true");
    // Polls: 1 start, 2 file, 3-4 read chunks, 5-6 lock chunks: firing on 6 cancels after half the file is locked.
    test::CountingCancel cancel;
    cancel.cancel_on_check = 6;
    const auto token = cancel.token();
    EXPECT_EQ(test::sdk_error_of([&] { (void)backend->load_files(host.info("m"), token); }).code(),
              WARMUP_ERROR_CANCELLED);
    EXPECT_EQ(cancel.checks.load(), 6);
    EXPECT_EQ(backend->locked_mapping_count(), 0u);
    EXPECT_EQ(backend->held_file_count(), 0u);
}

TEST(PageCacheBackend, MlockKeepsEveryPageResidentUntilUnload) {
    test::TempDir dir("page-cache");
    // A reload locks the new mappings before releasing the old ones: twice the size at the peak.
    if (!test::may_lock(2 * (3 * kMiB + 5))) GTEST_SKIP() << "RLIMIT_MEMLOCK too small for this test";
    write_model_file(dir.path() / "m" / "a.bin", 2 * kMiB);
    write_model_file(dir.path() / "m" / "b.bin", kMiB + 5);  // a partial last page counts its 5 bytes only
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {m: '" + dir.path().string() + "/m/*.bin'}\nmlock: true");
    const auto model = host.info("m");

    const auto report = backend->load_files(model, kNeverCancel);
    EXPECT_EQ(report.locked_files, 2u);
    EXPECT_EQ(report.resident_bytes, 3 * kMiB + 5);  // locked pages are resident: the kernel guarantees it
    EXPECT_EQ(backend->locked_mapping_count(), 2u);

    // A reload replaces the record: still two locked mappings, two held files.
    (void)backend->load_files(model, kNeverCancel);
    EXPECT_EQ(backend->locked_mapping_count(), 2u);
    EXPECT_EQ(backend->held_file_count(), 2u);

    const PageCacheUnloadReport unloaded = backend->unload_files(model);
    EXPECT_EQ(unloaded.mappings_released, 2u);
    EXPECT_EQ(unloaded.files_advised_dont_need, 2u);
    EXPECT_EQ(unloaded.files_failed, 0u);
    EXPECT_EQ(backend->locked_mapping_count(), 0u);
    EXPECT_EQ(backend->held_file_count(), 0u);
    EXPECT_FALSE(backend->is_loaded(model.index));
}

/// Removes CAP_IPC_LOCK from the calling thread's effective set (capabilities are per thread on Linux), so
/// RLIMIT_MEMLOCK applies to it even when the tests run as root. Returns false if the kernel refused.
bool drop_ipc_lock_capability_of_this_thread() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (syscall(SYS_capget, &header, data) != 0) return false;
    data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
    return syscall(SYS_capset, &header, data) == 0;
}

TEST(PageCacheBackend, MlockRefusedByTheLimitIsResourceExhaustedWithAHint) {
    test::TempDir dir("page-cache");
    const std::string file = write_model_file(dir.path() / "m.bin", 2 * kMiB);
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {m: '" + file + "'}\nmlock: true");

    struct rlimit saved {};
    ASSERT_EQ(getrlimit(RLIMIT_MEMLOCK, &saved), 0);
    struct rlimit small = saved;
    small.rlim_cur = std::min<rlim_t>(64 * 1024, saved.rlim_max);
    ASSERT_EQ(setrlimit(RLIMIT_MEMLOCK, &small), 0);
    std::optional<sdk::Error> error;
    bool dropped = false;
    std::thread worker([&] {  // a worker thread, as in the host, without CAP_IPC_LOCK
        dropped = drop_ipc_lock_capability_of_this_thread();
        error = test::sdk_error_of([&] { (void)backend->load_files(host.info("m"), kNeverCancel); });
    });
    worker.join();
    ASSERT_EQ(setrlimit(RLIMIT_MEMLOCK, &saved), 0);

    ASSERT_TRUE(dropped);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->code(), WARMUP_ERROR_RESOURCE_EXHAUSTED);
    const std::string message = error->what();
    EXPECT_EQ(message.rfind("page cache load of model 'm': mlock of " + file + " (2 MiB) failed at byte offset 0: ", 0),
              0u)
        << message;
    EXPECT_NE(message.find("RLIMIT_MEMLOCK is " + std::to_string(small.rlim_cur / 1024) + " KiB"), std::string::npos)
        << message;
    EXPECT_NE(message.find("params.mlock: false"), std::string::npos) << message;
    EXPECT_EQ(backend->locked_mapping_count(), 0u);
    EXPECT_FALSE(backend->is_loaded(host.info("m").index));
}

TEST(PageCacheBackend, SharedFileIsDroppedOnlyWhenItsLastModelUnloads) {
    test::TempDir dir("page-cache");
    const std::string d = dir.path().string();
    write_model_file(dir.path() / "base.bin", 2 * kMiB);
    write_model_file(dir.path() / "adapter-1.bin", kMiB);
    write_model_file(dir.path() / "adapter-2.bin", kMiB);
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {'adapter-*': ['" + d + "/base.bin', '" + d + "/${name}.bin']}");
    const auto first = host.info("adapter-1");
    const auto second = host.info("adapter-2");
    (void)backend->load_files(first, kNeverCancel);
    (void)backend->load_files(second, kNeverCancel);
    EXPECT_EQ(backend->held_file_count(), 3u);

    const auto first_unload = backend->unload_files(first);
    EXPECT_EQ(first_unload.files_kept_for_other_models, 1u);  // base.bin, still used by adapter-2
    EXPECT_EQ(first_unload.files_advised_dont_need, 1u);      // adapter-1.bin
    EXPECT_EQ(backend->held_file_count(), 2u);

    const auto second_unload = backend->unload_files(second);
    EXPECT_EQ(second_unload.files_kept_for_other_models, 0u);
    EXPECT_EQ(second_unload.files_advised_dont_need, 2u);
    EXPECT_EQ(backend->held_file_count(), 0u);
}

TEST(PageCacheBackend, UnloadOfAModelNotLoadedHereDropsItsFiles) {
    test::TempDir dir("page-cache");
    write_model_file(dir.path() / "m" / "a.bin", kMiB);
    write_model_file(dir.path() / "m" / "b.bin", kMiB);
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {'*': '" + dir.path().string() + "/${name}/*.bin'}");
    const auto report = backend->unload_files(host.info("m"));  // e.g. loaded before a restart
    EXPECT_EQ(report.files_advised_dont_need, 2u);
    EXPECT_EQ(report.mappings_released, 0u);
    const auto nothing = backend->unload_files(host.info("absent"));  // no files: nothing to do, no error
    EXPECT_EQ(nothing.files_advised_dont_need + nothing.files_gone + nothing.files_failed, 0u);
}

TEST(PageCacheBackend, UnloadCountsFilesDeletedOrReplacedSinceTheLoad) {
    test::TempDir dir("page-cache");
    const std::string deleted = write_model_file(dir.path() / "m" / "a.bin", kMiB);
    const std::string replaced = write_model_file(dir.path() / "m" / "b.bin", kMiB);
    write_model_file(dir.path() / "m" / "c.bin", kMiB);
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {m: '" + dir.path().string() + "/m/*.bin'}");
    const auto model = host.info("m");
    (void)backend->load_files(model, kNeverCancel);
    std::filesystem::remove(deleted);
    // Same path, new inode: not the file that was read. The old file is moved aside rather than deleted, so the new
    // one cannot get its freed inode number back (the file system may hand it out again at once).
    std::filesystem::rename(replaced, dir.path() / "old-b.bin");
    write_model_file(replaced, kMiB);
    const auto report = backend->unload_files(model);
    EXPECT_EQ(report.files_gone, 2u);
    EXPECT_EQ(report.files_advised_dont_need, 1u);
}

TEST(PageCacheBackend, LoadReturnsResidentMebibytes) {
    test::TempDir dir("page-cache");
    if (!test::may_lock(3 * kMiB)) GTEST_SKIP() << "RLIMIT_MEMLOCK too small for this test";
    write_model_file(dir.path() / "m.bin", 3 * kMiB);
    test::PluginTestHost host;
    auto backend = make_backend(host, "model_files: {m: '" + dir.path().string() + "/m.bin'}\nmlock: true");
    EXPECT_DOUBLE_EQ(backend->load(host.info("m"), kNeverCancel), 3.0);
    backend->unload(host.info("m"));
    EXPECT_FALSE(backend->is_loaded(host.info("m").index));
}

struct BadParams {
    const char* yaml;
    const char* message_start;
};

class PageCacheBadParams : public ::testing::TestWithParam<BadParams> {};

TEST_P(PageCacheBadParams, AreRefusedNamingTheKeyPath) {
    test::PluginTestHost host;
    const BadParams bad = GetParam();
    const sdk::Error error = test::sdk_error_of([&] { (void)make_backend(host, bad.yaml); });
    EXPECT_EQ(error.code(), WARMUP_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(std::string(error.what()).rfind(bad.message_start, 0), 0u) << error.what();
}

INSTANTIATE_TEST_SUITE_P(
    PageCacheBackend, PageCacheBadParams,
    ::testing::Values(
        BadParams{"", "params.model_files: required: a mapping from catalog model name"},
        BadParams{"model_files: /m/x.bin", "params.model_files: expected a mapping"},
        BadParams{"model_files: {}", "params.model_files: empty mapping"},
        BadParams{"model_files: {m: models/x.bin}", "params.model_files.m: 'models/x.bin' is not an absolute path"},
        BadParams{"model_files: {m: [/a.bin, [b]]}", "params.model_files.m[1]: expected a path pattern (a string)"},
        BadParams{"model_files: {m: []}", "params.model_files.m: empty list of path patterns"},
        BadParams{"model_files: {m: {a: b}}", "params.model_files.m: expected a path pattern or a list"},
        BadParams{"model_files: {m: '/m/${model}/x'}", "params.model_files.m: unknown placeholder '${model}'"},
        BadParams{"model_files: {m: /a.bin}\nread_chunk_mb: 0", "params.read_chunk_mb: 0 is outside [1, 1024]"},
        BadParams{"model_files: {m: /a.bin}\nmissing_files: maybe",
                  "params.missing_files: 'maybe' is not one of: error, skip"},
        BadParams{"model_files: {m: /a.bin}\nmlock: sometimes", "params.mlock: expected true or false"},
        BadParams{"model_files: {m: /a.bin}\nchunk_mb: 4", "params.chunk_mb: unknown parameter"}));

}  // namespace
}  // namespace warmup::plugins::page_cache
