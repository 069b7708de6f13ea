#include "loader/plugin_library.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <warmup/version.h>

#include <array>
#include <fstream>

#include "config/config.hpp"

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
/// Refuses a 64-bit little-endian ELF file (this host's kind) whose program segments or section headers reach past
/// its end: a library still being copied or linked (its folder already lists it). dlopen maps such a file and the
/// process dies of SIGBUS on the first page past the end, so this is checked first.
void require_whole_file(std::ifstream& in, const fs::path& file) {
    Elf64_Ehdr elf{};
    in.clear();
    in.seekg(0);
    if (!in.read(reinterpret_cast<char*>(&elf), sizeof(elf)) || elf.e_ident[EI_CLASS] != ELFCLASS64 ||
        elf.e_ident[EI_DATA] != ELFDATA2LSB)
        return;  // another class: dlopen refuses it with its own reason
    in.seekg(0, std::ios::end);
    const auto size = static_cast<uint64_t>(in.tellg());
    const auto cut_short = [&](uint64_t end) {
        return PluginLoadError(fmt::format(
            "plugin '{}': the file is cut short ({} bytes, its ELF headers reach byte {}): is it still being copied "
            "or built?",
            file.string(), size, end));
    };
    const uint64_t section_headers_end = elf.e_shoff + uint64_t{elf.e_shnum} * elf.e_shentsize;
    if (section_headers_end > size) throw cut_short(section_headers_end);
    for (uint16_t i = 0; i < elf.e_phnum; ++i) {
        Elf64_Phdr segment{};
        in.seekg(static_cast<std::streamoff>(elf.e_phoff + uint64_t{i} * elf.e_phentsize));
        if (!in.read(reinterpret_cast<char*>(&segment), sizeof(segment)))
            throw cut_short(elf.e_phoff + uint64_t{elf.e_phnum} * elf.e_phentsize);
        if (segment.p_offset + segment.p_filesz > size) throw cut_short(segment.p_offset + segment.p_filesz);
    }
}

void require_elf_shared_object(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw PluginLoadError(fmt::format("plugin '{}': cannot open the file", file.string()));
    std::array<unsigned char, 18> header{};
    in.read(reinterpret_cast<char*>(header.data()), header.size());
    const bool is_elf = in.gcount() == static_cast<std::streamsize>(header.size()) && header[0] == 0x7f &&
                        header[1] == 'E' && header[2] == 'L' && header[3] == 'F';
    if (!is_elf)
        throw PluginLoadError(fmt::format("plugin '{}': not a shared object (expected an ELF file, found {})",
                                          file.string(), in.gcount() == 0 ? "an empty file" : "other content"));
    const unsigned elf_type = header[5] == 1 ? header[16] | (header[17] << 8) : (header[16] << 8) | header[17];
    constexpr unsigned kSharedObject = 3;  // ET_DYN
    if (elf_type != kSharedObject)
        throw PluginLoadError(fmt::format(
            "plugin '{}': not a shared object (ELF type {}, expected ET_DYN; build it with warmup_add_plugin())",
            file.string(), elf_type));
    require_whole_file(in, file);
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
    require_elf_shared_object(original_file);  // the same bytes as `file`; messages name what the user configured

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
    return self;
}

}  // namespace warmup::host
