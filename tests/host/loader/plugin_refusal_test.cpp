// Libraries the loader must refuse, each with a message that names the file and what was expected and found.
// The broken libraries come from tests/host/loader/CMakeLists.txt (one defect each); the real ones from build/plugins.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "loader/plugin_instance.hpp"
#include "loader/plugin_library.hpp"
#include "loader/plugin_loader.hpp"
#include "loader_test_support.hpp"

namespace warmup::test {
namespace {

using host::PluginInstance;
using host::PluginLoader;
using host::PluginLoadError;
using host::PluginRef;

// The expected messages below spell the versions out by hand; a version bump must revisit them.
static_assert(WARMUP_ABI_MAJOR == 1 && WARMUP_ABI_MINOR == 4, "update the ABI versions in the expected messages");

PluginRef by_path(const fs::path& file, std::string where = "components.predictor") {
    return PluginRef{.id = {}, .path = file, .sha256_pin = {}, .where = std::move(where)};
}

TEST(PluginRefusal, TextFileNamedLikeALibraryIsNotASharedObject) {
    PluginLoader loader({});
    const fs::path file = bad_plugin("bad.so");
    const std::string message = message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); });
    EXPECT_EQ(message, "components.predictor: plugin '" + file.string() +
                           "': not a shared object (expected an ELF file, found other content)");
}

TEST(PluginRefusal, EmptyFileIsNotASharedObject) {
    const TempDir folder("warmup-loader-test");
    const fs::path file = folder.path() / "empty.so";
    std::ofstream(file).close();
    PluginLoader loader({});
    const std::string message = message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); });
    EXPECT_CONTAINS(message, "plugin '" + file.string() + "': not a shared object");
    EXPECT_CONTAINS(message, "found an empty file");
}

TEST(PluginRefusal, SharedObjectWithoutEntrySymbol) {
    PluginLoader loader({});
    const fs::path file = bad_plugin("no_entry.so");
    const std::string message = message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); });
    EXPECT_CONTAINS(message, "components.predictor: plugin '" + file.string() + "'");
    EXPECT_CONTAINS(message, "does not export the entry symbol 'warmup_plugin_entry'");
}

TEST(PluginRefusal, AnUndefinedSymbolIsNamedAlsoForABareFileName) {
    // dlopen searches the library path for a name without a slash; the reason must still be the file's own.
    const fs::path file = bad_plugin("undefined_symbol.so");
    const fs::path previous = fs::current_path();
    fs::current_path(file.parent_path());
    PluginLoader loader({});
    const std::string message = message_of<PluginLoadError>(
        [&] { loader.load(by_path(fs::path("undefined_symbol.so")), WARMUP_KIND_PREDICTOR); });
    fs::current_path(previous);
    EXPECT_CONTAINS(message, "plugin 'undefined_symbol.so': cannot be loaded: ");
    EXPECT_CONTAINS(message, "undefined symbol: warmup_test_defined_nowhere");
}

TEST(PluginRefusal, AbiMajorTwoIsRefusedByVersion) {
    PluginLoader loader({});
    const fs::path file = bad_plugin("abi_major_2.so");
    const std::string message = message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); });
    EXPECT_CONTAINS(message, "plugin '" + file.string() + "'");
    EXPECT_CONTAINS(message, "built for plugin ABI 2.4, this host speaks ABI 1.4");
}

TEST(PluginRefusal, AbiMinorNewerThanHostIsRefused) {
    PluginLoader loader({});
    const fs::path file = bad_plugin("abi_minor_newer.so");
    const std::string message = message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); });
    EXPECT_CONTAINS(message, "plugin '" + file.string() + "'");
    EXPECT_CONTAINS(message, "built for plugin ABI 1.5, newer than this host's 1.4");
    EXPECT_CONTAINS(message, "expected a minor <= 4");
}

TEST(PluginRefusal, DescriptorTooSmallToCarryAnAbiVersion) {
    PluginLoader loader({});
    const fs::path file = bad_plugin("descriptor_6_bytes.so");
    const std::string message = message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); });
    EXPECT_CONTAINS(message, "plugin '" + file.string() + "'");
    EXPECT_CONTAINS(message, "descriptor of 6 bytes is too small to carry an ABI version");
}

TEST(PluginRefusal, DescriptorSmallerThanAbi10) {
    PluginLoader loader({});
    const fs::path file = bad_plugin("descriptor_40_bytes.so");
    const std::string message = message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); });
    EXPECT_CONTAINS(message, "plugin '" + file.string() + "'");
    // 72 = sizeof(warmup_plugin_descriptor) on LP64, pinned by tests/plugin-api/abi_promises.h.
    EXPECT_CONTAINS(message, "descriptor is 40 bytes, expected at least 72 for ABI 1.0");
}

TEST(PluginRefusal, UnknownKind) {
    PluginLoader loader({});
    const fs::path file = bad_plugin("kind_99.so");
    const std::string message = message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); });
    EXPECT_CONTAINS(message, "plugin '" + file.string() + "' (id org.warmup.test.kind-99): unknown kind 99");
}

TEST(PluginRefusal, VtableSmallerThanAbi10IsRefusedBeforeCreate) {
    // The descriptor is fine, so the library loads; the instance must not be created from a short vtable.
    PluginLoader loader({});
    const fs::path file = bad_plugin("vtable_8_bytes.so");
    auto library = loader.load(by_path(file), WARMUP_KIND_PREDICTOR);
    host::Catalog catalog;
    host::ManualClock clock;
    const std::string message =
        message_of<PluginLoadError>([&] { PluginInstance::create(library, "", catalog, clock); });
    // 16 = sizeof(warmup_predictor_vtable) on LP64: struct_size, 4 bytes of padding, one function pointer.
    EXPECT_EQ(message, "plugin '" + file.string() +
                           "' (id org.warmup.test.vtable-8-bytes): predictor vtable is 8 bytes, expected at least 16");
}

TEST(PluginRefusal, PredictorInSchedulerSlot) {
    PluginLoader loader({WARMUP_TEST_PLUGIN_DIR});
    const PluginRef ref{
        .id = "org.warmup.predictor.keep-alive", .path = {}, .sha256_pin = {}, .where = "components.scheduler"};
    const std::string message = message_of<PluginLoadError>([&] { loader.load(ref, WARMUP_KIND_SCHEDULER); });
    EXPECT_EQ(message, "components.scheduler: plugin '" + real_plugin("keep_alive_predictor.so").string() +
                           "' (id org.warmup.predictor.keep-alive) is a predictor plugin, but this slot needs a "
                           "scheduler plugin");
}

TEST(PluginRefusal, TwoFilesDeclaringTheSameId) {
    PluginLoader loader({});
    const fs::path first = bad_plugin("c_predictor.so");
    const fs::path second = bad_plugin("c_predictor_v2.so");
    auto held = loader.load(by_path(first), WARMUP_KIND_PREDICTOR);
    const std::string message = message_of<PluginLoadError>(
        [&] { loader.load(by_path(second, "arms[0].components.predictor"), WARMUP_KIND_PREDICTOR); });
    EXPECT_EQ(message, "arms[0].components.predictor: plugin '" + second.string() +
                           "' declares id 'org.warmup.test.c-predictor', which is already loaded from '" +
                           first.string() + "' (ids must be unique)");
}

TEST(PluginRefusal, AnIdTwoLibrariesOfOneFolderDeclareIsAmbiguousByIdButEachLoadsByPath) {
    // Which file the id meant would depend on file names (a newer build copied in beside the old one under another
    // name): refused, naming both. An earlier folder's library of that id still wins, as a search path does.
    const TempDir folder("warmup-loader-test");
    fs::copy_file(bad_plugin("c_predictor.so"), folder.path() / "m_predictor.so");
    fs::copy_file(bad_plugin("c_predictor_v2.so"), folder.path() / "z_predictor_v2.so");
    PluginLoader loader({folder.path()});
    const PluginRef by_id{
        .id = "org.warmup.test.c-predictor", .path = {}, .sha256_pin = {}, .where = "components.predictor"};
    const std::string message = message_of<PluginLoadError>([&] { loader.load(by_id, WARMUP_KIND_PREDICTOR); });
    EXPECT_EQ(message, "components.predictor: plugin id 'org.warmup.test.c-predictor' is declared by 2 libraries in " +
                           folder.path().string() +
                           " (m_predictor.so, z_predictor_v2.so): which one is meant cannot be told; remove all but "
                           "one, or name one with path:");
    EXPECT_EQ(loader.load(by_path(folder.path() / "z_predictor_v2.so"), WARMUP_KIND_PREDICTOR)->version(), "2.0.0");

    // The same library under a second name (a version symlink, a copy) is no ambiguity.
    const TempDir linked("warmup-loader-test");
    fs::copy_file(bad_plugin("c_predictor_v2.so"), linked.path() / "c_predictor-2.0.0.so");
    fs::create_symlink(linked.path() / "c_predictor-2.0.0.so", linked.path() / "c_predictor.so");
    fs::copy_file(bad_plugin("c_predictor_v2.so"), linked.path() / "c_predictor_copy.so");
    PluginLoader one_library({linked.path()});
    EXPECT_EQ(one_library.load(by_id, WARMUP_KIND_PREDICTOR)->version(), "2.0.0");

    const TempDir first("warmup-loader-test");
    fs::copy_file(bad_plugin("c_predictor.so"), first.path() / "c_predictor.so");
    PluginLoader searched({first.path(), folder.path()});
    EXPECT_EQ(searched.load(by_id, WARMUP_KIND_PREDICTOR)->version(), "1.0.0");
}

TEST(PluginRefusal, SameIdIsAllowedWhenReplacingForHotSwap) {
    PluginLoader loader({});
    auto old_version = loader.load(by_path(bad_plugin("c_predictor.so")), WARMUP_KIND_PREDICTOR);
    auto new_version =
        loader.load(by_path(bad_plugin("c_predictor_v2.so")), WARMUP_KIND_PREDICTOR, /*replacing_id=*/true);
    EXPECT_NE(old_version, new_version);
    EXPECT_EQ(old_version->version(), "1.0.0");
    EXPECT_EQ(new_version->version(), "2.0.0");
    EXPECT_EQ(old_version->id(), new_version->id());
}

TEST(PluginRefusal, SameIdIsFreeAgainOnceTheFirstLibraryIsReleased) {
    PluginLoader loader({});
    loader.load(by_path(bad_plugin("c_predictor.so")), WARMUP_KIND_PREDICTOR).reset();
    auto second = loader.load(by_path(bad_plugin("c_predictor_v2.so")), WARMUP_KIND_PREDICTOR);
    EXPECT_EQ(second->version(), "2.0.0");
}

TEST(PluginRefusal, Sha256PinMismatch) {
    PluginLoader loader({});
    const fs::path file = real_plugin("keep_alive_predictor.so");
    const std::string actual = host::sha256_of_file(file);
    const std::string pin(64, '0');
    PluginRef ref = by_path(file);
    ref.sha256_pin = pin;
    const std::string message = message_of<PluginLoadError>([&] { loader.load(ref, WARMUP_KIND_PREDICTOR); });
    EXPECT_EQ(message, "components.predictor: plugin '" + file.string() + "': SHA-256 is " + actual +
                           ", but the configuration pins " + pin);

    ref.sha256_pin = actual;  // the right pin loads
    EXPECT_EQ(loader.load(ref, WARMUP_KIND_PREDICTOR)->sha256(), actual);
}

TEST(PluginRefusal, Sha256OfFileMatchesTheStandardTestVector) {
    // FIPS 180-2 example: SHA-256("abc").
    const TempDir folder("warmup-loader-test");
    const fs::path file = folder.path() / "abc.txt";
    std::ofstream(file, std::ios::binary) << "abc";
    EXPECT_EQ(host::sha256_of_file(file), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(PluginRefusal, UnknownIdNamesTheSearchedDirectories) {
    PluginLoader loader({WARMUP_TEST_PLUGIN_DIR});
    const PluginRef ref{
        .id = "org.example.predictor.missing", .path = {}, .sha256_pin = {}, .where = "components.predictor"};
    const std::string message = message_of<PluginLoadError>([&] { loader.load(ref, WARMUP_KIND_PREDICTOR); });
    EXPECT_EQ(message, std::string("components.predictor: no plugin with id 'org.example.predictor.missing' in the "
                                   "plugin directories [") +
                           WARMUP_TEST_PLUGIN_DIR + "]");
}

TEST(PluginRefusal, AMistypedIdIsPointedAtTheClosestOneFound) {
    PluginLoader loader({WARMUP_TEST_PLUGIN_DIR});
    const PluginRef ref{
        .id = "org.warmup.predictor.keep-alvie", .path = {}, .sha256_pin = {}, .where = "components.predictor"};
    const std::string message = message_of<PluginLoadError>([&] { loader.load(ref, WARMUP_KIND_PREDICTOR); });
    EXPECT_TRUE(message.ends_with("; did you mean 'org.warmup.predictor.keep-alive'?")) << message;
}

TEST(PluginRefusal, ALibraryCutShortIsRefusedBeforeItIsMappedAndSkippedByTheScan) {
    const TempDir folder("warmup-loader-test");
    // A copy in progress: the folder lists the file before its content is all there. Mapped, it killed the process
    // with SIGBUS at the first page past its end (a reload that scanned the folder at that moment).
    std::ifstream whole(real_plugin("keep_alive_predictor.so"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(whole)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 60'000u);
    const fs::path cut = folder.path() / "keep_alive_predictor.so";
    std::ofstream(cut, std::ios::binary).write(bytes.data(), 60'000);
    const std::string message = message_of<PluginLoadError>([&] { host::PluginLibrary::open(cut, cut, ""); });
    EXPECT_NE(message.find("the file is cut short (60000 bytes"), std::string::npos) << message;
    PluginLoader loader({folder.path()});
    EXPECT_EQ(loader.find_by_id("org.warmup.predictor.keep-alive"), std::nullopt);
    // Once the copy is complete, the next look-up finds it (the folder's time need not have changed).
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    EXPECT_EQ(loader.find_by_id("org.warmup.predictor.keep-alive"), cut);
}

TEST(PluginRefusal, AnUnknownIdSaysWhichPluginFolderDoesNotExist) {
    PluginLoader loader({"/nonexistent/warmup-plugins", WARMUP_TEST_PLUGIN_DIR});
    const PluginRef ref{
        .id = "org.example.predictor.missing", .path = {}, .sha256_pin = {}, .where = "components.predictor"};
    const std::string message = message_of<PluginLoadError>([&] { loader.load(ref, WARMUP_KIND_PREDICTOR); });
    EXPECT_NE(
        message.find("[/nonexistent/warmup-plugins (no such folder), " + std::string(WARMUP_TEST_PLUGIN_DIR) + "]"),
        std::string::npos)
        << message;
}

TEST(PluginRefusal, IdAndPathThatDisagree) {
    PluginLoader loader({});
    const fs::path file = real_plugin("keep_alive_predictor.so");
    const PluginRef ref{
        .id = "org.warmup.predictor.idle-histogram", .path = file, .sha256_pin = {}, .where = "components.predictor"};
    const std::string message = message_of<PluginLoadError>([&] { loader.load(ref, WARMUP_KIND_PREDICTOR); });
    EXPECT_EQ(message, "components.predictor: plugin '" + file.string() +
                           "' declares id 'org.warmup.predictor.keep-alive', expected "
                           "'org.warmup.predictor.idle-histogram'");
}

TEST(PluginRefusal, MissingFile) {
    PluginLoader loader({});
    const fs::path file = bad_plugin("does_not_exist.so");
    const std::string message = message_of<PluginLoadError>([&] { loader.load(by_path(file), WARMUP_KIND_PREDICTOR); });
    EXPECT_EQ(message, "components.predictor: plugin '" + file.string() + "': no such file");
}

}  // namespace
}  // namespace warmup::test
