// apps/support/support_bundle.cpp — see support_bundle.hpp: config redaction (yaml-cpp), log tails (a file, or
// sd-journal from libsystemd) and the tar.gz (libarchive).
#include "apps/support/support_bundle.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace warmup::host::support {
namespace {

constexpr std::string_view kRedacted = "<redacted>";

/// Whether a key's value is a secret: the access token, a backend's or source's `bearer_token` and `api_key`, and
/// any key naming a token, password or secret; not the keys that name where a secret is (`*_env`, an `api_key_header`).
bool is_secret_key(std::string key) {
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    if (key.ends_with("_env") || key.ends_with("_header") || key.ends_with("_file")) return false;
    return key.find("token") != std::string::npos || key.find("password") != std::string::npos ||
           key.find("secret") != std::string::npos || key == "api_key" || key.ends_with("_api_key");
}

/// The password of a URL's user information (scheme://user:password@host), or "".
std::string url_password(const std::string& value) {
    const auto scheme_end = value.find("://");
    if (scheme_end == std::string::npos) return {};
    const auto at = value.find('@', scheme_end + 3);
    const auto slash = value.find('/', scheme_end + 3);
    if (at == std::string::npos || (slash != std::string::npos && slash < at)) return {};
    const auto colon = value.find(':', scheme_end + 3);
    if (colon == std::string::npos || colon > at) return {};
    return value.substr(colon + 1, at - colon - 1);
}

/// The non-empty scalar values of every secret key under `node` (is_secret_key), and the passwords in URLs.
void collect_tokens(const YAML::Node& node, std::vector<std::string>& out) {
    if (node.IsMap()) {
        for (const auto& item : node) {
            // A number is a limit (max_tokens: 100), not a secret: replacing it everywhere would mangle the text.
            if (item.first.IsScalar() && is_secret_key(item.first.Scalar()) && item.second.IsScalar() &&
                !item.second.Scalar().empty() &&
                item.second.Scalar().find_first_not_of("0123456789") != std::string::npos)
                out.push_back(item.second.Scalar());
            collect_tokens(item.second, out);
        }
    } else if (node.IsSequence()) {
        for (const auto& item : node) collect_tokens(item, out);
    } else if (node.IsScalar()) {
        if (std::string password = url_password(node.Scalar()); !password.empty()) out.push_back(std::move(password));
    }
}

void replace_all(std::string& text, const std::string& what, std::string_view with) {
    if (what.empty()) return;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size()))
        text.replace(at, what.size(), with);
}

YAML::Node parse(const std::string& text) {
    try {
        return YAML::Load(text);
    } catch (const YAML::Exception& error) {
        throw std::runtime_error(fmt::format("the configuration does not parse as YAML: {}", error.what()));
    }
}

}  // namespace

std::string redact_config(std::string_view yaml, const std::vector<std::string>& secrets) {
    std::string text(yaml);
    std::vector<std::string> tokens = secrets;
    collect_tokens(parse(text), tokens);
    for (const std::string& token : tokens) replace_all(text, token, kRedacted);
    // A token written with escapes (a quoted scalar) does not appear verbatim: then it is still there, and the copy
    // is refused rather than shipped.
    std::vector<std::string> left;
    collect_tokens(parse(text), left);
    for (const std::string& token : left)
        if (token != kRedacted)
            throw std::runtime_error(
                "a secret value (access_token, bearer_token, api_key, a password) could not be redacted (written "
                "with escapes?)");
    return text;
}

std::string tail_file(const std::filesystem::path& file, std::size_t lines) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error(fmt::format("cannot read {}", file.string()));
    std::deque<std::string> last;
    for (std::string line; std::getline(in, line);) {
        last.push_back(std::move(line));
        if (last.size() > lines) last.pop_front();
    }
    std::string out;
    for (const auto& line : last) out += line + "\n";
    return out;
}

std::optional<std::string> journal_tail(const std::string& unit, std::size_t lines, std::string& why) {
    sd_journal* journal = nullptr;
    if (const int error = sd_journal_open(&journal, SD_JOURNAL_LOCAL_ONLY); error < 0) {
        why = fmt::format("the systemd journal cannot be opened: {}", std::strerror(-error));
        return std::nullopt;
    }
    const std::unique_ptr<sd_journal, decltype(&sd_journal_close)> owned(journal, &sd_journal_close);
    const std::string match = "_SYSTEMD_UNIT=" + unit;
    if (const int error = sd_journal_add_match(journal, match.data(), match.size()); error < 0) {
        why = fmt::format("sd_journal_add_match: {}", std::strerror(-error));
        return std::nullopt;
    }
    std::deque<std::string> last;
    if (sd_journal_seek_tail(journal) >= 0)
        while (last.size() < lines && sd_journal_previous(journal) > 0) {
            const void* data = nullptr;
            std::size_t length = 0;
            if (sd_journal_get_data(journal, "MESSAGE", &data, &length) < 0) continue;
            std::string_view message(static_cast<const char*>(data), length);
            message.remove_prefix(std::min<std::size_t>(message.size(), 8));  // "MESSAGE="
            uint64_t usec = 0;
            sd_journal_get_realtime_usec(journal, &usec);
            const std::time_t seconds = static_cast<std::time_t>(usec / 1'000'000);
            std::tm utc{};
            gmtime_r(&seconds, &utc);
            char stamp[32];
            std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
            last.push_front(fmt::format("{} {}", stamp, message));
        }
    if (last.empty()) {
        why = fmt::format(
            "the systemd journal holds no message of {} (not run under systemd here, or no permission "
            "to read its journal: give --log FILE)",
            unit);
        return std::nullopt;
    }
    std::string out;
    for (const auto& line : last) out += line + "\n";
    return out;
}

void write_tar_gz(const std::filesystem::path& file, const std::string& top, const std::vector<BundleEntry>& entries) {
    const std::unique_ptr<archive, decltype(&archive_write_free)> writer(archive_write_new(), &archive_write_free);
    if (!writer) throw std::runtime_error("archive_write_new failed");
    archive* a = writer.get();
    const auto check = [&](int status, std::string_view step) {
        if (status == ARCHIVE_OK) return;
        const std::string reason = fmt::format("{}: {}: {}", file.string(), step,
                                               archive_error_string(a) != nullptr ? archive_error_string(a) : "failed");
        archive_write_close(a);
        std::error_code ignored;
        std::filesystem::remove(file, ignored);
        throw std::runtime_error(reason);
    };
    check(archive_write_add_filter_gzip(a), "gzip filter");
    check(archive_write_set_format_pax_restricted(a), "tar format");
    // Owner-only: the bundle holds the daemon's configuration, its status and its logs.
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ::fchmod(fd, 0600) != 0) {
        const std::string reason = fmt::format("{}: open: {}", file.string(), std::strerror(errno));
        if (fd >= 0) ::close(fd);
        throw std::runtime_error(reason);
    }
    const std::unique_ptr<int, void (*)(int*)> close_fd(new int(fd), [](int* open_fd) {
        ::close(*open_fd);
        delete open_fd;
    });
    check(archive_write_open_fd(a, fd), "open");
    const std::time_t now = std::time(nullptr);
    for (const BundleEntry& entry : entries) {
        const std::unique_ptr<archive_entry, decltype(&archive_entry_free)> header(archive_entry_new(),
                                                                                   &archive_entry_free);
        const std::string path = top + "/" + entry.name;
        archive_entry_set_pathname(header.get(), path.c_str());
        archive_entry_set_size(header.get(), static_cast<la_int64_t>(entry.content.size()));
        archive_entry_set_filetype(header.get(), AE_IFREG);
        archive_entry_set_perm(header.get(), 0600);
        archive_entry_set_mtime(header.get(), now, 0);
        check(archive_write_header(a, header.get()), "header of " + entry.name);
        if (!entry.content.empty() && archive_write_data(a, entry.content.data(), entry.content.size()) !=
                                          static_cast<la_ssize_t>(entry.content.size()))
            check(ARCHIVE_FATAL, "data of " + entry.name);
    }
    check(archive_write_close(a), "close");
}

}  // namespace warmup::host::support
