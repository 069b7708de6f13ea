// apps/support/support_bundle.hpp — the pieces of `warmupctl support-bundle`: a redacted copy of a configuration,
// the last lines of a log (a file, or the systemd journal of a unit), and a tar.gz written with libarchive.
//
// Thread-safety: plain functions without shared state. Nothing here shells out.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warmup::host::support {

/// One file of the archive.
struct BundleEntry {
    std::string name;  ///< path inside the archive's top folder, e.g. "status.json"
    std::string content;
};

/// `yaml` with the value of every secret key (at any depth: `access_token`, a backend's or source's `bearer_token` and
/// `api_key`, any key naming a token, password or secret but not a `*_env` or `*_header` key) and the password of
/// every URL (scheme://user:password@host) replaced by "<redacted>", and every occurrence of
/// each of `secrets` (e.g. the token read from the environment) replaced too, even inside comments or other values.
/// Comments and layout are kept: the redaction works on the text, guided by yaml-cpp's parse of it. Throws
/// std::runtime_error when the text does not parse as YAML (then nothing of it may be shipped).
std::string redact_config(std::string_view yaml, const std::vector<std::string>& secrets);

/// The last `lines` lines of `file`. Throws std::runtime_error when it cannot be read.
std::string tail_file(const std::filesystem::path& file, std::size_t lines);

/// The last `lines` messages the systemd journal holds for `unit` ("warmupd.service"), one per line with their time,
/// through libsystemd's sd-journal; nullopt with `why` set when the journal cannot be opened or holds none.
std::optional<std::string> journal_tail(const std::string& unit, std::size_t lines, std::string& why);

/// Writes `entries` under the folder `top` into a gzip-compressed tar (POSIX pax) at `file`, through libarchive.
/// Throws std::runtime_error naming the failing step; a partly written file is removed.
void write_tar_gz(const std::filesystem::path& file, const std::string& top, const std::vector<BundleEntry>& entries);

}  // namespace warmup::host::support
