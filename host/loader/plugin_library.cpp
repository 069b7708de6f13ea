#include "loader/plugin_library.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <warmup/version.h>

#include <array>
#include <fstream>

#include "config/config.hpp"
#include "core/file_io.hpp"
#include "core/plugin_code_ranges.hpp"

namespace warmup::host {
namespace fs = std::filesystem;

std::string_view kind_name(uint32_t kind) noexcept {
    switch (kind) {
        case WARMUP_KIND_ANALYZER:
            return "analyzer";
        case WARMUP_KIND_PREDICTOR:
            return "predictor";
        case WARMUP_KIND_PERFORMANCE:
            return "performance";
        case WARMUP_KIND_SCHEDULER:
            return "scheduler";
        case WARMUP_KIND_RESOURCE:
            return "resource";
        case WARMUP_KIND_QUEUE:
            return "queue";
        case WARMUP_KIND_METRICS:
            return "metrics";
        case WARMUP_KIND_BACKEND:
            return "backend";
        case WARMUP_KIND_SOURCE:
            return "source";
        default:
            return "unknown";
    }
}

std::string sha256_of_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error(fmt::format("cannot read '{}'", file.string()));
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr);
    std::array<char, 1 << 16> buffer{};
    while (in) {
        in.read(buffer.data(), buffer.size());
        EVP_DigestUpdate(context.get(), buffer.data(), static_cast<size_t>(in.gcount()));
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    EVP_DigestFinal_ex(context.get(), digest.data(), &length);
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
    return hex;
}

namespace {

// Checks the ELF header ourselves: Boost.DLL discards dlerror(), and "not a shared object" deserves a clear message.
/// An open file, closed when this goes out of scope.
struct OpenFile {
    int fd = -1;
    ~OpenFile() {
        if (fd >= 0) ::close(fd);
    }
    /// Whether `size` bytes at `offset` were read whole.
    bool read_at(void* out, std::size_t size, uint64_t offset) const {
        return ::pread(fd, out, size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size);
    }
};

/// Whether [offset, offset + length) lies within `size` bytes (no overflow for crafted headers).
bool within(uint64_t offset, uint64_t length, uint64_t size) { return offset <= size && length <= size - offset; }

/// Refuses what dlopen must not be given: anything but a regular file (a FIFO would block), a file that is not an ELF
/// shared object, and a 64-bit little-endian ELF file (this host's kind) whose program segments or section headers
/// reach past its end: a library still being copied or linked (its folder already lists it), which dlopen maps and the
/// process dies of SIGBUS at the first page past the end. `file` is read; messages name `name` (what the user
/// configured, where `file` is its cached copy).
void require_elf_shared_object(const fs::path& file, const std::string& name) {
    const OpenedRegularFile opened = open_regular_file(file);
    if (opened.fd < 0) throw PluginLoadError(fmt::format("plugin '{}': {}", name, opened.problem));
    const OpenFile in{opened.fd};
    const uint64_t size = opened.size;
    std::array<unsigned char, 18> header{};
    const bool is_elf = in.read_at(header.data(), header.size(), 0) && header[0] == 0x7f && header[1] == 'E' &&
                        header[2] == 'L' && header[3] == 'F';
    if (!is_elf)
        throw PluginLoadError(fmt::format("plugin '{}': not a shared object (expected an ELF file, found {})", name,
                                          size == 0 ? "an empty file" : "other content"));
    const unsigned elf_type = header[5] == 1 ? header[16] | (header[17] << 8) : (header[16] << 8) | header[17];
    constexpr unsigned kSharedObject = 3;  // ET_DYN
    if (elf_type != kSharedObject)
        throw PluginLoadError(fmt::format(
            "plugin '{}': not a shared object (ELF type {}, expected ET_DYN; build it with warmup_add_plugin())", name,
            elf_type));
    Elf64_Ehdr elf{};
    if (!in.read_at(&elf, sizeof(elf), 0) || elf.e_ident[EI_CLASS] != ELFCLASS64 || elf.e_ident[EI_DATA] != ELFDATA2LSB)
        return;  // another class: dlopen refuses it with its own reason
    const auto cut_short = [&](const char* what) {
        return PluginLoadError(fmt::format(
            "plugin '{}': the file is cut short ({} bytes, its {} reach past its end): is it still being copied or "
            "built?",
            name, size, what));
    };
    if (!within(elf.e_shoff, uint64_t{elf.e_shnum} * elf.e_shentsize, size)) throw cut_short("section headers");
    if (!within(elf.e_phoff, uint64_t{elf.e_phnum} * elf.e_phentsize, size)) throw cut_short("program headers");
    if (elf.e_phentsize < sizeof(Elf64_Phdr)) return;  // malformed: dlopen refuses it with its own reason
    for (uint16_t i = 0; i < elf.e_phnum; ++i) {
        Elf64_Phdr segment{};
        if (!in.read_at(&segment, sizeof(segment), elf.e_phoff + uint64_t{i} * elf.e_phentsize))
            throw cut_short("program headers");
        if (!within(segment.p_offset, segment.p_filesz, size)) throw cut_short("segments");
    }
}

std::string dlopen_reason(const fs::path& file) {
    ::dlerror();
    // Absolute: dlopen searches the library path for a name without a slash ("plugin.so"), and would then report
    // that file missing instead of why the one named could not be loaded.
    std::error_code ignored;
    const fs::path absolute = fs::absolute(file, ignored);
    void* handle = ::dlopen((absolute.empty() ? file : absolute).c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) {
        ::dlclose(handle);
        return "unknown reason";
    }
    const char* reason = ::dlerror();
    return reason != nullptr ? reason : "unknown reason";
}

}  // namespace

std::shared_ptr<PluginLibrary> PluginLibrary::open(const fs::path& file, const fs::path& original_file,
                                                   std::string sha256) {
    const std::string name = original_file.string();
    // The bytes that will be mapped (a cached copy may have been taken while the original was cut short); messages
    // name what the user configured.
    require_elf_shared_object(file, name);

    std::shared_ptr<PluginLibrary> self(new PluginLibrary());
    self->original_file_ = original_file;
    self->loaded_file_ = file;
    self->sha256_ = std::move(sha256);

    boost::dll::fs::error_code error;
    self->library_.load(file, error, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    if (error || !self->library_.is_loaded())
        throw PluginLoadError(fmt::format("plugin '{}': cannot be loaded: {}", name, dlopen_reason(file)));

    if (!self->library_.has(WARMUP_PLUGIN_ENTRY_SYMBOL))
        throw PluginLoadError(
            fmt::format("plugin '{}': does not export the entry symbol '{}' (expected a library built with the SDK's "
                        "WARMUP_PLUGIN(...) macro and warmup_add_plugin())",
                        name, WARMUP_PLUGIN_ENTRY_SYMBOL));

    auto& entry = self->library_.get<const warmup_plugin_descriptor*()>(WARMUP_PLUGIN_ENTRY_SYMBOL);
    const warmup_plugin_descriptor* descriptor = entry();
    if (descriptor == nullptr)
        throw PluginLoadError(
            fmt::format("plugin '{}': the entry '{}' returned no descriptor", name, WARMUP_PLUGIN_ENTRY_SYMBOL));
    // The ABI version sits right after struct_size and is read before anything else, so even a descriptor from a
    // future major (whose layout may differ) is reported by version, not as garbage.
    if (descriptor->struct_size < offsetof(warmup_plugin_descriptor, kind))
        throw PluginLoadError(fmt::format("plugin '{}': descriptor of {} bytes is too small to carry an ABI version",
                                          name, descriptor->struct_size));
    // One rule for host and plugins (warmup/version.h); the two messages say which half of it failed.
    const warmup_abi_version abi = descriptor->abi;
    constexpr warmup_abi_version host_abi = WARMUP_ABI_VERSION_INIT;
    if (!warmup_abi_is_compatible(host_abi, abi)) {
        if (abi.major != host_abi.major)
            throw PluginLoadError(fmt::format(
                "plugin '{}': built for plugin ABI {}.{}, this host speaks ABI {}.{} (the majors must match; rebuild "
                "the plugin against this SDK)",
                name, abi.major, abi.minor, host_abi.major, host_abi.minor));
        throw PluginLoadError(fmt::format(
            "plugin '{}': built for plugin ABI {}.{}, newer than this host's {}.{} (expected a minor <= {}; upgrade "
            "the host or rebuild the plugin against ABI {}.{})",
            name, abi.major, abi.minor, host_abi.major, host_abi.minor, host_abi.minor, host_abi.major,
            host_abi.minor));
    }
    if (descriptor->struct_size < sizeof(warmup_plugin_descriptor))
        throw PluginLoadError(fmt::format("plugin '{}': descriptor is {} bytes, expected at least {} for ABI {}.0",
                                          name, descriptor->struct_size, sizeof(warmup_plugin_descriptor),
                                          WARMUP_ABI_MAJOR));
    // Same reasoning as for vtables: a descriptor of ABI minor <= the host's is at most the host's size.
    if (descriptor->struct_size > sizeof(warmup_plugin_descriptor))
        throw PluginLoadError(fmt::format(
            "plugin '{}': descriptor claims {} bytes, more than the {} bytes of ABI {}.{}; its struct_size is garbage",
            name, descriptor->struct_size, sizeof(warmup_plugin_descriptor), WARMUP_ABI_MAJOR, WARMUP_ABI_MINOR));
    if (descriptor->id == nullptr || descriptor->id[0] == '\0' || descriptor->version == nullptr ||
        descriptor->create == nullptr || descriptor->destroy == nullptr || descriptor->vtable == nullptr)
        throw PluginLoadError(fmt::format(
            "plugin '{}': incomplete descriptor (id, version, create, destroy and vtable are required)", name));
    // The id names the plugin in configurations, metrics labels and state: one a configuration could not name is
    // refused here too, also for a plugin loaded by path.
    if (!is_plugin_id(descriptor->id))
        throw PluginLoadError(
            fmt::format("plugin '{}': its id '{}' is not a plugin id (reverse-DNS: at least two "
                        "dot-separated labels of A-Z, a-z, 0-9, '_' and '-')",
                        name, descriptor->id));
    if (kind_name(descriptor->kind) == "unknown")
        throw PluginLoadError(
            fmt::format("plugin '{}' (id {}): unknown kind {}", name, descriptor->id, descriptor->kind));
    self->descriptor_ = descriptor;
    self->code_entry_ = register_plugin_code(descriptor, fmt::format("{}@{}", descriptor->id, descriptor->version));
    return self;
}

PluginLibrary::~PluginLibrary() {
    unregister_plugin_code(code_entry_);  // before library_ is closed and its addresses can be reused
}

}  // namespace warmup::host
