// Plugin files the host must refuse: group/world-writable files or folders on the way to them (checked before
// dlopen, which would run the library's constructors), an unsafe plugin cache, a wrong SHA-256 pin, structs with
// garbage sizes, a NULL create, and a plugin whose constructor throws through the SDK (an error, not a crash).
//
// Every temporary folder is made by mkdtemp (mode 0700) so the checks see the permissions each test sets, nothing else.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/errors.hpp"
#include "gtest_support.hpp"
#include "loader/plugin_instance.hpp"
#include "loader/plugin_loader.hpp"
#include "test_support.hpp"

namespace warmup::host {
namespace {

namespace fs = std::filesystem;
using warmup::test::message_of;

fs::path security_plugin(const std::string& file_name) { return fs::path(WARMUP_TEST_PLUGIN_SAFETY_DIR) / file_name; }

/// A subfolder of `parent` with exactly `mode` (chmod, so the umask does not interfere).
fs::path folder_with_mode(const fs::path& parent, const std::string& name, mode_t mode) {
    const fs::path dir = parent / name;
    fs::create_directory(dir);
    ::chmod(dir.c_str(), mode);
    return dir;
}

/// Copies `source` into `dir` with exactly `mode`.
fs::path install(const fs::path& source, const fs::path& dir, mode_t mode) {
    const fs::path target = dir / source.filename();
    fs::copy_file(source, target, fs::copy_options::overwrite_existing);
    ::chmod(target.c_str(), mode);
    return target;
}

PluginRef by_path(const fs::path& file, std::string sha256_pin = {}) {
    return PluginRef{"", file, std::move(sha256_pin), "components.predictor"};
}

TEST(PluginPermissions, APrivateCopyLoads) {
    const test::TempDir temp("warmup-plugin-safety");
    const fs::path file =
        install(security_plugin("garbage_control.so"), folder_with_mode(temp.path(), "ok", 0755), 0644);
    PluginLoader loader({});
    auto library = loader.load(by_path(file), WARMUP_KIND_PREDICTOR);
    EXPECT_EQ(library->id(), "org.warmup.test.garbage-control");
}

TEST(PluginPermissions, AWorldOrGroupWritableFileIsRefusedNamingItsPathAndMode) {
    const test::TempDir temp("warmup-plugin-safety");
    const fs::path dir = folder_with_mode(temp.path(), "plugins", 0755);
    const fs::path world = install(security_plugin("garbage_control.so"), dir, 0666);
    PluginLoader loader({});
    const std::string world_message =
        message_of<PluginLoadError>([&] { loader.load(by_path(world), WARMUP_KIND_PREDICTOR); });
    EXPECT_CONTAINS(world_message, "components.predictor: plugin '" + world.string() + "': refusing to load");
    EXPECT_CONTAINS(world_message, "the file '" + world.string() + "' is world-writable (mode 0666)");

    ::chmod(world.c_str(), 0664);
    const std::string group_message =
        message_of<PluginLoadError>([&] { loader.load(by_path(world), WARMUP_KIND_PREDICTOR); });
    EXPECT_CONTAINS(group_message, "is group-writable (mode 0664)");
}

TEST(PluginPermissions, AWritableFolderAnywhereAboveTheFileIsRefused) {
    const test::TempDir temp("warmup-plugin-safety");
    const fs::path open = folder_with_mode(temp.path(), "open", 0777);
    const fs::path inner = open / "inner";
    fs::create_directory(inner);
    ::chmod(inner.c_str(), 0755);
    const fs::path file = install(security_plugin("garbage_control.so"), inner, 0644);
    PluginLoader loader({});
    const std::string message = message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); });
    EXPECT_CONTAINS(message, "its folder '" + open.string() + "' is world-writable (mode 0777)");

    ::chmod(open.c_str(), 0775);
    EXPECT_CONTAINS(message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); }),
                    "its folder '" + open.string() + "' is group-writable (mode 0775)");
}

TEST(PluginPermissions, AStickyWorldWritableFolderLikeTmpIsAccepted) {
    const test::TempDir temp("warmup-plugin-safety");
    const fs::path sticky = folder_with_mode(temp.path(), "sticky", 01777);
    const fs::path mine = sticky / "mine";
    fs::create_directory(mine);
    ::chmod(mine.c_str(), 0755);
    const fs::path file = install(security_plugin("garbage_control.so"), mine, 0644);
    EXPECT_NO_THROW(require_safe_plugin_path(file));
}

TEST(PluginPermissions, ASymlinkInAWritableFolderIsRefusedEvenIfItsTargetIsSafe) {
    const test::TempDir temp("warmup-plugin-safety");
    const fs::path target =
        install(security_plugin("garbage_control.so"), folder_with_mode(temp.path(), "safe", 0755), 0644);
    const fs::path link = folder_with_mode(temp.path(), "open", 0777) / "plugin.so";
    fs::create_symlink(target, link);
    EXPECT_CONTAINS(message_of<PluginLoadError>([&] { require_safe_plugin_path(link); }),
                    "its folder '" + link.parent_path().string() + "' is world-writable (mode 0777)");
    // And the other way round: a safe link to a file in a writable folder.
    const fs::path exposed = install(security_plugin("garbage_control.so"), temp.path() / "open", 0644);
    const fs::path safe_link = temp.path() / "safe" / "link.so";
    fs::create_symlink(exposed, safe_link);
    EXPECT_CONTAINS(message_of<PluginLoadError>([&] { require_safe_plugin_path(safe_link); }), "world-writable");
}

TEST(PluginPermissions, TheDirectoryScanSkipsUnsafeLibrariesWithoutOpeningThem) {
    const test::TempDir temp("warmup-plugin-safety");
    const fs::path dir = folder_with_mode(temp.path(), "plugins", 0755);
    install(security_plugin("garbage_control.so"), dir, 0666);
    PluginLoader loader({dir});
    EXPECT_FALSE(loader.find_by_id("org.warmup.test.garbage-control").has_value());
    ::chmod((dir / "garbage_control.so").c_str(), 0644);
    PluginLoader rescanned({dir});
    EXPECT_EQ(rescanned.find_by_id("org.warmup.test.garbage-control"), dir / "garbage_control.so");
}

TEST(PluginPermissions, AShaPinMismatchIsStillRefusedAndAMatchLoads) {
    const test::TempDir temp("warmup-plugin-safety");
    const fs::path file =
        install(security_plugin("garbage_control.so"), folder_with_mode(temp.path(), "p", 0755), 0644);
    const std::string actual = sha256_of_file(file);
    PluginLoader loader({});
    const std::string wrong(64, '0');
    EXPECT_CONTAINS(message_of<PluginLoadError>([&] { loader.load(by_path(file, wrong), WARMUP_KIND_PREDICTOR); }),
                    "SHA-256 is " + actual + ", but the configuration pins " + wrong);
    EXPECT_NO_THROW(loader.load(by_path(file, actual), WARMUP_KIND_PREDICTOR));
}

TEST(PluginCache, AnExistingCacheFolderThatOthersCanWriteIsRefused) {
    const test::TempDir temp("warmup-plugin-safety");
    const fs::path file =
        install(security_plugin("garbage_control.so"), folder_with_mode(temp.path(), "p", 0755), 0644);
    const fs::path cache = folder_with_mode(temp.path(), "cache", 0777);
    PluginLoader loader({}, cache);
    EXPECT_CONTAINS(message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); }),
                    "plugin cache '" + cache.string() + "': is group- or world-writable (mode 0777)");
}

TEST(PluginCache, ACacheFolderReplacedByASymlinkIsRefused) {
    const test::TempDir temp("warmup-plugin-safety");
    const fs::path file =
        install(security_plugin("garbage_control.so"), folder_with_mode(temp.path(), "p", 0755), 0644);
    const fs::path elsewhere = folder_with_mode(temp.path(), "elsewhere", 0700);
    const fs::path cache = temp.path() / "cache";
    fs::create_symlink(elsewhere, cache);
    PluginLoader loader({}, cache);
    EXPECT_CONTAINS(message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); }),
                    "is not a folder");
}

TEST(PluginCache, ANewCacheFolderIsPrivateAndACorruptCachedCopyIsReplaced) {
    const test::TempDir temp("warmup-plugin-safety");
    const fs::path file =
        install(security_plugin("garbage_control.so"), folder_with_mode(temp.path(), "p", 0755), 0644);
    const fs::path cache = temp.path() / "cache";
    const std::string sha = sha256_of_file(file);
    {
        PluginLoader loader({}, cache);
        // A truncated copy left behind under the right name must not be loaded.
        fs::create_directory(cache);
        ::chmod(cache.c_str(), 0700);
        std::ofstream(cache / (sha + ".so")) << "truncated";
        auto library = loader.load(by_path(file), WARMUP_KIND_PREDICTOR);
        EXPECT_EQ(library->loaded_file(), cache / (sha + ".so"));
        EXPECT_EQ(sha256_of_file(cache / (sha + ".so")), sha);
    }
    fs::remove_all(cache);
    PluginLoader fresh({}, cache);
    fresh.load(by_path(file), WARMUP_KIND_PREDICTOR);
    struct stat info {};
    ASSERT_EQ(::stat(cache.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0700u);
}

class GarbagePlugins : public ::testing::Test {
  protected:
    Catalog catalog_;
    ManualClock clock_{0};
    PluginLoader loader_{{}};
};

TEST_F(GarbagePlugins, AHugeVtableSizeIsRefusedBeforeCreate) {
    auto library = loader_.load(by_path(security_plugin("garbage_vtable_size.so")), WARMUP_KIND_PREDICTOR);
    const std::string message =
        message_of<PluginLoadError>([&] { PluginInstance::create(library, "", catalog_, clock_); });
    EXPECT_CONTAINS(message, "predictor vtable claims 4294967295 bytes, more than the " +
                                 std::to_string(sizeof(warmup_predictor_vtable)) + " bytes of ABI " +
                                 std::to_string(WARMUP_ABI_MAJOR) + "." + std::to_string(WARMUP_ABI_MINOR));
}

// The names a NULL entry is refused by cover each kind's whole table: a function appended to a header without its
// name here would leave a gap or a shorter table.
TEST(VtableFunctions, EveryKindsTableIsListedEntryByEntryToItsEnd) {
    for (uint32_t kind = WARMUP_KIND_ANALYZER; kind <= WARMUP_KIND_SOURCE; ++kind) {
        SCOPED_TRACE("kind " + std::to_string(kind));
        const auto functions = vtable_functions(kind);
        ASSERT_FALSE(functions.empty());
        // The functions follow struct_size, pointer-aligned, one pointer each.
        std::size_t expected_offset = sizeof(void (*)());
        for (const VtableFunction& function : functions) {
            EXPECT_EQ(function.offset, expected_offset) << function.name;
            EXPECT_NE(std::string(function.name), "");
            expected_offset += sizeof(void (*)());
        }
        EXPECT_EQ(expected_offset, largest_vtable_size(kind));
    }
    EXPECT_TRUE(vtable_functions(0).empty());
    EXPECT_TRUE(vtable_functions(WARMUP_KIND_SOURCE + 1).empty());
}

TEST_F(GarbagePlugins, ANullFunctionInTheVtableIsRefusedBeforeCreate) {
    // The host would crash at the first call; refused at load, naming the entry.
    auto library = loader_.load(by_path(security_plugin("garbage_null_function.so")), WARMUP_KIND_PREDICTOR);
    const std::string message =
        message_of<PluginLoadError>([&] { PluginInstance::create(library, "", catalog_, clock_); });
    EXPECT_CONTAINS(message,
                    "(id org.warmup.test.garbage-null-function): predictor vtable function predict (byte offset 8) "
                    "is NULL; every function of ABI 1.0's table is required");
    // The same plugin without the defect starts.
    auto control = loader_.load(by_path(security_plugin("garbage_control.so")), WARMUP_KIND_PREDICTOR);
    EXPECT_NE(PluginInstance::create(control, "", catalog_, clock_), nullptr);
}

TEST_F(GarbagePlugins, AnIdNoConfigurationCouldNameIsRefusedAlsoByPath) {
    const fs::path file = security_plugin("garbage_bad_id.so");
    EXPECT_CONTAINS(message_of<PluginLoadError>([&] { loader_.load(by_path(file), WARMUP_KIND_PREDICTOR); }),
                    "plugin '" + file.string() +
                        "': its id 'bad id!' is not a plugin id (reverse-DNS: at least two dot-separated labels of "
                        "A-Z, a-z, 0-9, '_' and '-')");
}

TEST_F(GarbagePlugins, AHugeDescriptorSizeIsRefused) {
    EXPECT_CONTAINS(message_of<PluginLoadError>([&] {
                        loader_.load(by_path(security_plugin("garbage_descriptor_size.so")), WARMUP_KIND_PREDICTOR);
                    }),
                    "descriptor claims 2147483647 bytes, more than the " +
                        std::to_string(sizeof(warmup_plugin_descriptor)) + " bytes of ABI " +
                        std::to_string(WARMUP_ABI_MAJOR) + "." + std::to_string(WARMUP_ABI_MINOR));
}

TEST_F(GarbagePlugins, ANullCreateIsRefused) {
    EXPECT_CONTAINS(message_of<PluginLoadError>([&] {
                        loader_.load(by_path(security_plugin("garbage_null_create.so")), WARMUP_KIND_PREDICTOR);
                    }),
                    "incomplete descriptor (id, version, create, destroy and vtable are required)");
}

TEST_F(GarbagePlugins, ACreateThatReturnsNoInstanceIsRefused) {
    auto library = loader_.load(by_path(security_plugin("garbage_null_instance.so")), WARMUP_KIND_PREDICTOR);
    EXPECT_CONTAINS(message_of<PluginLoadError>([&] { PluginInstance::create(library, "", catalog_, clock_); }),
                    "create succeeded but returned no instance");
}

TEST_F(GarbagePlugins, AConstructorThatThrowsComesBackAsAnErrorNotACrash) {
    auto library = loader_.load(by_path(security_plugin("throwing_predictor.so")), WARMUP_KIND_PREDICTOR);
    const std::string message =
        message_of<PluginCallError>([&] { PluginInstance::create(library, "", catalog_, clock_); });
    EXPECT_CONTAINS(message, "refused to start");
    EXPECT_CONTAINS(message, "throwing test predictor: constructor failed on purpose");
    // The library stays usable: a second attempt fails the same way instead of touching freed state.
    EXPECT_CONTAINS(message_of<PluginCallError>([&] { PluginInstance::create(library, "", catalog_, clock_); }),
                    "constructor failed on purpose");
}

TEST_F(GarbagePlugins, AConstructorThatThrowsANonStandardExceptionComesBackAsAnError) {
    auto library = loader_.load(by_path(security_plugin("throwing_non_std_predictor.so")), WARMUP_KIND_PREDICTOR);
    EXPECT_CONTAINS(message_of<PluginCallError>([&] { PluginInstance::create(library, "", catalog_, clock_); }),
                    "refused to start");
}

}  // namespace
}  // namespace warmup::host
