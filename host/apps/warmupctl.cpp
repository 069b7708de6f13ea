// warmupctl — the operator's command line: validate a configuration, inspect plugin libraries, operate a daemon.
//
//   warmupctl --version                       version, plugin ABI and git commit of this build
//   warmupctl validate [--config FILE]        load the YAML and create every plugin it names, as warmupd would at start
//                                             (components and experiment arms; no model is loaded, no port is bound)
//   warmupctl inspect PATH...                 what each plugin library declares (id, version, kind, ABI, SHA-256);
//                                             a folder is scanned for *.so
//   warmupctl [--url URL] [--token-env NAME] COMMAND
//       status | health | plugins | predictions | experiments | metrics          (GET)
//       emergency-stop | resume | reset-to-safe | reload | rollback | reset-data-collection | restart-workers (POST)
//       backup [--overwrite] [NAME] | restore [--at-next-start] [NAME]            (POST, optional backup name; an
//                                                                                 existing one is replaced only
//                                                                                 with --overwrite; a restore
//                                                                                 --at-next-start is staged for the
//                                                                                 daemon's next start)
//       why MODEL [--limit N] [--arm NAME]   why MODEL was cold: its last cold request and what unloaded, evicted or
//                                            skipped it before, then its recent decisions, in plain language (local
//                                            time); from GET /api/warmup/decisions
//       history [--since AGE]                the counters of the daemon's metrics history over the last AGE (default
//                                            1h; 90s, 30m, 7d ...) as a table, one row per snapshot interval (local
//                                            time); from GET /api/warmup/history
//       send-events [--body-kb N] [--retry-s S] FILE    (POST an NDJSON file or a JSON array of events; - = stdin)
//           The file is sent in bodies of whole lines of at most N KiB (default 1024, under any sane
//           http.max_body_mb); the answers are summed into one, with positions as line numbers of the file (item
//           numbers for a JSON array). A body the daemon's full ingest queue takes only in part (503) is sent again
//           from its first refused line for up to S seconds (default 60).
//       support-bundle [--config FILE] [--log FILE] [--log-lines N] [--unit NAME] FILE
//           One .tar.gz for a support engineer: versions (warmupctl's and the daemon's), the configuration with every
//           access token redacted (--config, default /etc/warmup/warmupd.yaml when it exists), status, health,
//           plugins, predictions, experiments, recent decisions (when the daemon serves them), metrics, and the last
//           N log lines (default 1000): from --log FILE when the daemon's output goes to a file, else from the systemd
//           journal of --unit (default warmupd.service) through sd-journal. manifest.json says what each file holds
//           or why it is missing. Written with libarchive; the token from the environment is scrubbed from every file.
//
// The bearer token for a daemon bound beyond loopback is read from the environment variable --token-env names
// (default WARMUP_ACCESS_TOKEN, the daemon's default), never from the command line (it would show in `ps`).
//
// Exit status: 0 on success; 1 when the daemon cannot be reached or answers with an error (its JSON answer is
// printed), or when another service answers in its place (a redirect, a refusal without warmupd's JSON "error", a body
// that is not JSON on an /api/ path: said so, its answer not printed); 2 when a configuration or a plugin is refused
// (the message names file:line:col or the library).
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "apps/history/history_table.hpp"
#include "apps/support/support_bundle.hpp"
#include "config/config.hpp"
#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/file_io.hpp"
#include "core/json_objects_over_lines.hpp"
#include "core/paths.hpp"
#include "http/security.hpp"
#include "loader/plugin_instance.hpp"
#include "loader/plugin_library.hpp"
#include "loader/plugin_loader.hpp"
#include "loader/plugin_set.hpp"
#include "runtime/experiment_arms.hpp"
#include "runtime/log_format.hpp"
#include "runtime/sources/sources.hpp"
#include "version/build_info.hpp"

namespace {

using namespace warmup::host;
namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitDaemonError = 1;
constexpr int kExitRefused = 2;

// --- validate --------------------------------------------------------------------------------------------------

/// Prints one created plugin set as "slot  id@version  file  sha256-prefix".
void print_plugin_set(const PluginSet& plugins, const std::string& heading) {
    std::cout << heading << "\n";
    for (const ComponentSlot slot : kAllSlots) {
        const PluginLibrary& library = plugins.at(slot)->library();
        std::cout << "  " << std::left << std::setw(18) << slot_key(slot) << " " << std::setw(44)
                  << (library.id() + "@" + library.version()) << " " << library.file().string() << "  sha256 "
                  << library.sha256().substr(0, 12) << "\n";
    }
}

int validate(const std::string& config_file) {
    try {
        const Config config = config_file.empty() ? load_config_text(embedded_default_config, "<embedded default.yaml>",
                                                                     fs::current_path(), executable_dir())
                                                  : load_config_file(config_file, executable_dir());
        for (const std::string& notice : config.notices) std::cout << "notice: " << notice << "\n";
        Catalog catalog(config.catalog);
        PluginLoader loader(config.plugin_dirs);
        SystemClock clock;
        const auto control = PluginSet::create(config.components, config, loader, catalog, clock);
        print_plugin_set(*control, config.display_name + ": components");
        for (const Arm& arm : config.arms) {
            if (!arm.yardstick.empty()) {
                std::cout << "arm " << arm.name << ": yardstick " << arm.yardstick << " (no plugins)\n";
                continue;
            }
            const auto arm_plugins = PluginSet::create(arm.components, config, loader, catalog, clock, control.get(),
                                                       /*allow_loaded_ids=*/true);
            print_plugin_set(*arm_plugins, "arm " + arm.name + (arm.shadow ? " (shadow)" : ""));
        }
        // What warmupd refuses at start beyond loading plugins: its live arms (experiment.enabled) and its token.
        live_experiment_arms(config);
        const std::optional<std::string> token = config.http.resolved_access_token();
        if (const auto refused = bind_refusal_reason(config.http.bind, token, config.http.access_token_source())) {
            // A token that is set but unusable is refused wherever warmupd runs; a missing one may be in the
            // service's environment, which is not this shell's.
            if (token) {
                std::cerr << "warmupctl: SECURITY_ERROR " << *refused << "\n";
                return kExitRefused;
            }
            std::cout << "warning: warmupd refuses to start unless its environment holds the token: " << *refused
                      << "\n";
        }
        if (!config.sources.empty()) {
            // Created as warmupd creates them (params checked), never polled: validate reads no log or endpoint.
            Sources sources(SourceIngest{&catalog, &clock, {}}, {});
            const auto prepared = sources.prepare(config.sources, config, loader, catalog, clock);
            std::cout << "sources\n";
            for (std::size_t i = 0; i < prepared.configs.size(); ++i) {
                const PluginLibrary& library = prepared.new_instances[i]->library();
                std::cout << "  " << std::left << std::setw(18) << prepared.configs[i].name << " " << std::setw(44)
                          << (library.id() + "@" + library.version()) << " " << library.file().string() << "  sha256 "
                          << library.sha256().substr(0, 12) << "\n";
            }
        }
        std::cout << "catalog: " << config.catalog.size() << " entries; budget " << config.memory_budget.describe()
                  << ", " << config.max_concurrent_warmups << " concurrent warm-ups\n";
        // Not an error (the catalog may serve several hosts), but every request for such a model fails.
        for (const CatalogEntry& entry : config.catalog)
            if (!config.memory_budget.is_relative() && entry.memory_mb > config.memory_budget.absolute_mb)
                std::cout << "warning: catalog entry '" << entry.pattern << "' needs " << entry.memory_mb
                          << " MiB, more than the whole budget (" << config.memory_budget.absolute_mb
                          << " MiB): its requests will fail with MODEL_LOAD_ERROR\n";
        std::cout << "OK\n";
        return kExitOk;
    } catch (const ConfigError& error) {
        std::cerr << "warmupctl: CONFIG_ERROR " << error.what() << "\n";
    } catch (const StartupError& error) {
        std::cerr << "warmupctl: PLUGIN_LOAD_ERROR " << error.what() << "\n";
    } catch (const std::exception& error) {
        std::cerr << "warmupctl: " << error.what() << "\n";
    }
    return kExitRefused;
}

// --- inspect ---------------------------------------------------------------------------------------------------

/// Prints what one library declares, or why the host would refuse it. True when it would load.
bool inspect_file(const fs::path& file) {
    try {
        require_safe_plugin_path(file);
        const auto library = PluginLibrary::open(file, file, sha256_of_file(file));
        check_vtable(*library);
        const warmup_plugin_descriptor& descriptor = library->descriptor();
        std::cout << file.string() << "\n"
                  << "  id           " << library->id() << "\n"
                  << "  version      " << library->version() << "\n"
                  << "  kind         " << kind_name(descriptor.kind) << "\n"
                  << "  abi          " << descriptor.abi.major << "." << descriptor.abi.minor
                  << " (this host: " << WARMUP_ABI_MAJOR << "." << WARMUP_ABI_MINOR << ")\n"
                  << "  description  " << (descriptor.description != nullptr ? descriptor.description : "") << "\n"
                  << "  sha256       " << library->sha256() << "\n";
        return true;
    } catch (const std::exception& error) {
        std::cerr << "warmupctl: PLUGIN_LOAD_ERROR " << error.what() << "\n";
        return false;
    }
}

int inspect(const std::vector<std::string>& paths) {
    bool all_loadable = true;
    for (const std::string& path : paths) {
        std::error_code error;
        if (fs::is_directory(path, error)) {
            std::vector<fs::path> libraries;
            for (fs::directory_iterator it(path, error), end; !error && it != end; it.increment(error))
                if (it->path().extension() == ".so") libraries.push_back(it->path());
            if (error) {
                std::cerr << "warmupctl: cannot list " << path << ": " << error.message() << "\n";
                all_loadable = false;
                continue;
            }
            if (libraries.empty()) {
                std::cerr << "warmupctl: " << path << " holds no plugin library (*.so)\n";
                all_loadable = false;
                continue;
            }
            std::sort(libraries.begin(), libraries.end());
            for (const fs::path& library : libraries) all_loadable = inspect_file(library) && all_loadable;
        } else {
            all_loadable = inspect_file(path) && all_loadable;
        }
    }
    return all_loadable ? kExitOk : kExitRefused;
}

// --- operate ---------------------------------------------------------------------------------------------------

/// The daemon's address, from --url.
struct DaemonAddress {
    bool https = false;
    std::string host;  ///< a name, an IPv4 address, or an IPv6 address without its brackets
    int port = 80;
    std::string url;  ///< as given, the scheme lower-cased and a trailing '/' dropped: what messages show
};

/// The address of `url` (http://HOST[:PORT] or https://HOST[:PORT], the scheme in any case, a trailing '/' allowed),
/// or why it cannot be the daemon's.
std::variant<DaemonAddress, std::string> parse_daemon_url(std::string url) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    const std::size_t scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return "it has no scheme";
    for (std::size_t i = 0; i < scheme_end; ++i)
        url[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(url[i])));
    DaemonAddress address;
    const std::string scheme = url.substr(0, scheme_end);
    if (scheme != "http" && scheme != "https") return "the scheme '" + scheme + "' is not http or https";
    address.https = scheme == "https";
    address.port = address.https ? 443 : 80;
    const std::string authority = url.substr(scheme_end + 3);
    if (authority.find_first_of("/?#") != std::string::npos) return "it has a path, a query or a fragment";
    if (authority.find('@') != std::string::npos)
        return "it has user information before '@' (the token goes in the environment variable of --token-env)";
    std::size_t host_end = 0;
    if (authority.starts_with('[')) {  // an IPv6 literal, e.g. [::1], [fd00::a:5], [fe80::1%25eth0] (RFC 6874)
        host_end = authority.find(']');
        if (host_end == std::string::npos) return "its IPv6 address has no closing ']'";
        const std::string literal = authority.substr(1, host_end - 1);
        const std::size_t zone = literal.find('%');
        std::string zone_id;  // an interface, for a link-local address: "%25eth0" in a URL, "%eth0" to the resolver
        if (zone != std::string::npos)
            zone_id = literal.substr(literal.compare(zone, 3, "%25") == 0 ? zone + 3 : zone + 1);
        in6_addr parsed{};
        if (::inet_pton(AF_INET6, literal.substr(0, zone).c_str(), &parsed) != 1 ||
            (zone != std::string::npos && (zone_id.empty() || zone_id.find_first_of("%/?#[]") != std::string::npos)))
            return "'" + literal + "' in brackets is not an IPv6 address (e.g. [::1], [fd00::5], [fe80::1%25eth0])";
        address.host = literal.substr(0, zone) + (zone == std::string::npos ? "" : "%" + zone_id);
        ++host_end;
    } else {
        host_end = std::min(authority.find(':'), authority.size());
        if (host_end == 0) return "it has no host";
        address.host = authority.substr(0, host_end);
    }
    if (host_end < authority.size()) {
        if (authority[host_end] != ':') return "its host is followed by '" + authority.substr(host_end) + "'";
        const std::string port = authority.substr(host_end + 1);
        if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
            std::stoi(port) < 1 || std::stoi(port) > 65535)
            return "its port '" + port + "' is not a number from 1 to 65535";
        address.port = std::stoi(port);
    }
    address.url = std::move(url);
    return address;
}

/// How long the probe of unreachable_reason waits for a connection.
constexpr int kProbeTimeoutMs = 5000;

/// Why connecting to one resolved address failed, from the errno of connect().
std::string connect_failure(int code) {
    switch (code) {
        case ECONNREFUSED:
            return "connection refused (nothing listens on that port: is warmupd running, and on that port?)";
        case ETIMEDOUT:
            return fmt::format("connection timed out after {} s (a host that is down, or a firewall dropping it)",
                               kProbeTimeoutMs / 1000);
        default:
            return std::strerror(code);
    }
}

/// Connects once to `address` (at most kProbeTimeoutMs); 0 when it connects, else the errno.
int probe_connect(const addrinfo& address) {
    const int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address.ai_protocol);
    if (fd < 0) return errno;
    int code = ::connect(fd, address.ai_addr, address.ai_addrlen) == 0 ? 0 : errno;
    if (code == EINPROGRESS) {
        pollfd descriptor{fd, POLLOUT, 0};
        const int ready = ::poll(&descriptor, 1, kProbeTimeoutMs);
        if (ready == 0) {
            code = ETIMEDOUT;
        } else if (ready < 0) {
            code = errno;
        } else {
            socklen_t length = sizeof(code);
            if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) != 0) code = errno;
        }
    }
    ::close(fd);
    return code;
}

/// Why nothing answered at `url` (scheme://host[:port], checked by main) after the HTTP library reported `error`.
/// The library only says "Connection"; the host is resolved and connected to once more here to tell a name that does
/// not resolve from a connection refused or timed out, naming each address tried.
std::string unreachable_reason(const DaemonAddress& daemon, httplib::Error error) {
    switch (error) {
        case httplib::Error::Connection:
        case httplib::Error::ConnectionTimeout:
            break;
        case httplib::Error::Read:
            return "the connection was closed, or the answer did not come in time, after the request was sent";
        case httplib::Error::Write:
            return "the request could not be sent (the connection was closed)";
        case httplib::Error::SSLConnection:
        case httplib::Error::SSLServerVerification:
            return "no TLS handshake with it (the daemon serves plain HTTP unless a proxy in front adds TLS: try "
                   "http://)";
        default:
            return httplib::to_string(error);
    }
    const std::string& host = daemon.host;
    const std::string port = std::to_string(daemon.port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int resolved = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); resolved != 0)
        return fmt::format("the host name '{}' could not be resolved: {}", host,
                           resolved == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(resolved));
    std::vector<std::string> failures;
    bool connected = false;
    for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
        std::array<char, NI_MAXHOST> numeric{};
        ::getnameinfo(address->ai_addr, address->ai_addrlen, numeric.data(), numeric.size(), nullptr, 0,
                      NI_NUMERICHOST);
        const int code = probe_connect(*address);
        if (code == 0) {
            connected = true;
            break;
        }
        // A numeric host is its own address: named once, in the URL.
        failures.push_back(numeric.data() == host ? connect_failure(code)
                                                  : fmt::format("{}: {}", numeric.data(), connect_failure(code)));
    }
    ::freeaddrinfo(found);
    if (connected || failures.empty())
        return fmt::format("the connection failed ({}), although the port accepts connections now",
                           httplib::to_string(error));
    std::string reason;
    for (const std::string& failure : failures) reason += (reason.empty() ? "" : "; ") + failure;
    return reason;
}

/// `text` cut to its first line and at most 80 bytes, with every byte outside printable ASCII shown as '?': a sample of
/// a foreign answer for a message, which must not carry its control characters to the terminal.
std::string printable_excerpt(std::string_view text) {
    constexpr std::size_t kMaxBytes = 80;
    const std::size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    text.remove_prefix(first);
    text = text.substr(0, text.find_first_of("\r\n"));
    std::string excerpt;
    for (const char c : text.substr(0, kMaxBytes)) excerpt += c >= 0x20 && c < 0x7f ? c : '?';
    while (!excerpt.empty() && excerpt.back() == ' ') excerpt.pop_back();
    return text.size() > kMaxBytes ? excerpt + "..." : excerpt;
}

/// The <title> of an HTML page (first 80 bytes, printable), or "" when it has none.
std::string html_title(std::string_view page) {
    std::string lower(page.substr(0, 1 << 16));  // a title is near the top
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::size_t open = lower.find("<title");
    if (open == std::string::npos) return {};
    const std::size_t start = lower.find('>', open);
    const std::size_t end = start == std::string::npos ? std::string::npos : lower.find("</title", start);
    if (end == std::string::npos) return {};
    std::string title(page.substr(start + 1, end - start - 1));
    std::replace_if(
        title.begin(), title.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
    return printable_excerpt(title);
}

/// What a body is, for a message about an answer that is not warmupd's: "an HTML page titled 'Grafana'", "an empty
/// body", "a body that is not JSON: '404 page not found'", "JSON without warmupd's \"error\": {...}".
std::string describe_body(const httplib::Response& response, const nlohmann::json& parsed) {
    const std::string& body = response.body;
    if (body.find_first_not_of(" \t\r\n") == std::string::npos) return "an empty body";
    std::string start = printable_excerpt(body);
    std::transform(start.begin(), start.end(), start.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (response.get_header_value("Content-Type").find("html") != std::string::npos ||
        start.starts_with("<!doctype html") || start.starts_with("<html")) {
        const std::string title = html_title(body);
        return title.empty() ? "an HTML page" : fmt::format("an HTML page titled '{}'", title);
    }
    if (parsed.is_object())
        return fmt::format("JSON without warmupd's \"error\": {}", printable_excerpt(parsed.dump()));
    if (!parsed.is_discarded()) return fmt::format("JSON that is not an object: {}", printable_excerpt(parsed.dump()));
    return fmt::format("a body that is not JSON: '{}'", printable_excerpt(body));
}

/// Nullopt when `response` (to a request for `path`) may be warmupd's; else what was answered ("HTTP 404 (an HTML
/// page)"), for a message asking whether warmupd listens there. warmupd never redirects, answers every /api/ path with
/// a JSON object, and every refusal (4xx, 5xx) with a JSON object holding "error" (its own answers to events it
/// refuses also hold "accepted": send_events reads those). Outside /api/ (GET /metrics) it answers text, and 500
/// with the metrics plugin's message when rendering failed, so there only a redirect or a 404 is foreign.
std::optional<std::string> foreign_answer(const httplib::Response& response, std::string_view path) {
    const int status = response.status;
    if (status >= 300 && status < 400) {
        const std::string location = response.get_header_value("Location");
        return fmt::format("HTTP {} (a redirect{})", status,
                           location.empty() ? "" : " to " + printable_excerpt(location));
    }
    const bool api_path = path.starts_with("/api/");
    const nlohmann::json parsed = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (status >= 400) {
        if (parsed.is_object() && (parsed.contains("error") || parsed.contains("accepted"))) return std::nullopt;
        if (!api_path && status != 404) return std::nullopt;
    } else if (path == "/metrics") {
        // warmupd's page always carries its build; another exporter's, or an HTML page, does not.
        if (response.body.find("warmup_build_info{") != std::string::npos) return std::nullopt;
    } else if (!api_path || parsed.is_object()) {
        return std::nullopt;
    }
    return fmt::format("HTTP {} ({})", status, describe_body(response, parsed));
}

/// One HTTP exchange with the daemon; prints the answer (JSON pretty-printed) and maps the status to an exit code.
class DaemonClient {
  public:
    DaemonClient(DaemonAddress daemon, const std::string& token_env)
        : client_(daemon.https ? std::make_unique<httplib::SSLClient>(daemon.host, daemon.port)
                               : std::make_unique<httplib::ClientImpl>(daemon.host, daemon.port)),
          daemon_(std::move(daemon)),
          token_env_(token_env) {
        client_->set_connection_timeout(5);
        client_->set_read_timeout(60);  // a backup or restore writes and fsyncs files
        if (daemon_.host.find(':') != std::string::npos) {
            // An IPv6 address goes in brackets in the Host header, zone id and all (RFC 6874); the HTTP library leaves
            // them out on the default port (Host: ::1), which warmupd and proxies refuse.
            const std::size_t zone = daemon_.host.find('%');
            std::string host = "[" + daemon_.host.substr(0, zone) +
                               (zone == std::string::npos ? "" : "%25" + daemon_.host.substr(zone + 1)) + "]";
            if (daemon_.port != (daemon_.https ? 443 : 80)) host += ":" + std::to_string(daemon_.port);
            client_->set_default_headers({{"Host", host}});
        }
        if (const char* token = std::getenv(token_env.c_str()); token != nullptr && *token != '\0') {
            client_->set_bearer_token_auth(token);
            token_sent_ = true;
        }
    }

    int get(const std::string& path) { return report(client_->Get(path), path); }

    int post(const std::string& path, const std::string& body = "{}", const std::string& type = "application/json") {
        return report(client_->Post(path, body, type), path);
    }

    /// One GET whose answer the caller handles (query parameters, if any, are URL-encoded).
    httplib::Result get_quietly(const std::string& path, const httplib::Params& params = {}) {
        return client_->Get(path, params, httplib::Headers{});
    }

    /// One POST whose answer the caller handles.
    httplib::Result post_quietly(const std::string& path, const std::string& body, const std::string& type) {
        return client_->Post(path, body, type);
    }

    /// The daemon's URL as --url gave it (the scheme lower-cased, a trailing '/' dropped).
    [[nodiscard]] const std::string& url() const noexcept { return daemon_.url; }

    /// "cannot reach the daemon at URL: why", for a request that got no answer.
    [[nodiscard]] std::string unreachable(const httplib::Result& result) const {
        return fmt::format("cannot reach the daemon at {}: {}", daemon_.url,
                           unreachable_reason(daemon_, result.error()));
    }

    /// "the server at URL answered WHAT for PATH: is warmupd listening there? ...", for an answer that is not
    /// warmupd's (`what` from foreign_answer).
    [[nodiscard]] std::string not_warmupd(std::string_view what, std::string_view path) const {
        return fmt::format(
            "the server at {} answered {} for {}: is warmupd listening there? (it may be another service)", daemon_.url,
            what, path);
    }

    /// Prints the answer to a request for `path` and maps it to an exit code. An answer that is not warmupd's is not
    /// printed: one line says what answered instead.
    int report(const httplib::Result& result, std::string_view path) {
        if (!result) {
            std::cerr << "warmupctl: " << unreachable(result) << "\n";
            return kExitDaemonError;
        }
        if (const auto foreign = foreign_answer(*result, path)) {
            std::cerr << "warmupctl: " << not_warmupd(*foreign, path) << "\n";
            return kExitDaemonError;
        }
        const std::string& body = result->body;
        const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
        (result->status < 400 ? std::cout : std::cerr)
            << (parsed.is_discarded() ? body : parsed.dump(2) + "\n") << std::flush;
        if (result->status >= 400) {
            std::cerr << "warmupctl: the daemon answered HTTP " << result->status << hint(result->status, path, body)
                      << "\n";
            return kExitDaemonError;
        }
        return kExitOk;
    }

  private:
    /// What to do about a refusal, in warmupctl's terms ("" when the daemon's own message says it all).
    [[nodiscard]] std::string hint(int status, std::string_view path, const std::string& body) const {
        if (status == 401)
            return token_sent_ ? fmt::format(": the token in {} is not the daemon's", token_env_)
                               : fmt::format(
                                     ": put the daemon's access token in the environment variable {} (or "
                                     "name another with --token-env)",
                                     token_env_);
        if (status == 409 && path == "/api/warmup/backup-state" && body.find("exists") != std::string::npos)
            return ": `warmupctl backup --overwrite NAME` replaces a backup of that name";
        return "";
    }

    std::unique_ptr<httplib::ClientImpl> client_;  // an SSLClient for https://
    DaemonAddress daemon_;
    std::string token_env_;    // the environment variable the token is read from
    bool token_sent_ = false;  // that variable was set: every request carries its token
};

// --- support-bundle ---------------------------------------------------------------------------------------------

struct BundleOptions {
    std::string file;
    std::string config_file;  // "" = /etc/warmup/warmupd.yaml when it exists
    std::string log_file;     // "" = the systemd journal of `unit`
    std::size_t log_lines = 1000;
    std::string unit = "warmupd.service";
};

/// Gathers the bundle, writes it and prints one line per file. Exit 0 when written with everything the daemon serves,
/// 1 when written but the daemon could not be reached or another service answered in its place, 2 when the archive
/// could not be written.
// Long: the bundle's files in archive order, each with its manifest line; split, that order would be scattered.
int support_bundle(DaemonClient& daemon, const std::string& token_env, const BundleOptions& options) {
    using nlohmann::json;
    namespace support = warmup::host::support;
    std::vector<support::BundleEntry> entries;
    json manifest{{"created_by", version_line("warmupctl")}, {"url", daemon.url()}, {"files", json::object()}};
    const auto add = [&](const std::string& name, std::string content, const std::string& what) {
        manifest["files"][name] = what;
        entries.push_back({name, std::move(content)});
    };
    const auto missing = [&](const std::string& name, const std::string& why) { manifest["files"][name] = why; };

    // The daemon's answers. A daemon that cannot be reached still gets a bundle (logs and configuration are what is
    // needed then).
    bool reachable = true;
    bool another_service = false;  // an answer warmupd would not give (foreign_answer)
    json status;
    const struct {
        const char* name;
        const char* path;
    } kAnswers[] = {{"status.json", "/api/warmup/status"},
                    {"health.json", "/api/warmup/health/components"},
                    {"plugins.json", "/api/warmup/plugins"},
                    {"predictions.json", "/api/warmup/predictions"},
                    {"experiments.json", "/api/warmup/experiments"},
                    {"decisions.json", "/api/warmup/decisions?limit=500"},
                    {"metrics.txt", "/metrics"}};
    for (const auto& answer : kAnswers) {
        if (!reachable) {
            missing(answer.name, "not fetched: the daemon could not be reached");
            continue;
        }
        const httplib::Result result = daemon.get_quietly(answer.path);
        if (!result) {
            reachable = false;
            missing(answer.name, daemon.unreachable(result));
            continue;
        }
        if (const auto foreign = foreign_answer(*result, answer.path)) {
            another_service = true;
            missing(answer.name, fmt::format("GET {} answered {}: not warmupd's answer (is warmupd listening at {}?)",
                                             answer.path, *foreign, daemon.url()));
            continue;
        }
        if (result->status != 200) {
            missing(answer.name, fmt::format("GET {} answered HTTP {}", answer.path, result->status));
            continue;
        }
        if (std::string_view(answer.name) == "status.json") status = json::parse(result->body, nullptr, false);
        add(answer.name, result->body, fmt::format("GET {}", answer.path));
    }

    std::string versions = version_line("warmupctl") + "\n";
    if (status.is_object())
        versions += fmt::format("warmupd {} (plugin ABI {}, commit {}), started {}\n", status.value("version", "?"),
                                status.value("abi", "?"), status.value("commit", "?"), status.value("started_at", "?"));
    else
        versions += "warmupd: unknown (no /api/warmup/status answer)\n";
    add("version.txt", versions, "versions of warmupctl and of the daemon");

    // Every secret known here is scrubbed from every file, whatever it came in.
    std::vector<std::string> secrets;
    if (const char* token = std::getenv(token_env.c_str()); token != nullptr && *token != '\0')
        secrets.emplace_back(token);

    std::string config_file = options.config_file;
    if (config_file.empty() && fs::exists("/etc/warmup/warmupd.yaml")) config_file = "/etc/warmup/warmupd.yaml";
    if (config_file.empty()) {
        missing("config.yaml", "no configuration given (--config FILE) and no /etc/warmup/warmupd.yaml");
    } else {
        const FileContent text = read_file(config_file, FileKind::any_but_a_folder);
        if (!text.read()) {
            missing("config.yaml", "cannot read " + config_file + ": " + text.problem());
        } else {
            try {
                add("config.yaml", support::redact_config(text.bytes, secrets),
                    config_file + " with every access_token value (and the token of $" + token_env + ") redacted");
            } catch (const std::exception& error) {
                missing("config.yaml", config_file + " left out: " + error.what());
            }
        }
    }

    if (!options.log_file.empty()) {
        try {
            add("logs.txt", support::tail_file(options.log_file, options.log_lines),
                fmt::format("the last {} lines of {}", options.log_lines, options.log_file));
        } catch (const std::exception& error) {
            missing("logs.txt", error.what());
        }
    } else {
        std::string why;
        if (auto lines = support::journal_tail(options.unit, options.log_lines, why))
            add("logs.txt", std::move(*lines),
                fmt::format("the last {} messages of {} in the systemd journal", options.log_lines, options.unit));
        else
            missing("logs.txt", why);
    }

    for (auto& entry : entries)
        for (const std::string& secret : secrets)
            for (std::size_t at = entry.content.find(secret); at != std::string::npos;
                 at = entry.content.find(secret, at))
                entry.content.replace(at, secret.size(), "<redacted>");
    // Paths and error messages in the manifest come from the command line and the system: U+FFFD for a byte that
    // is not UTF-8 keeps the bundle writable.
    entries.push_back({"manifest.json", manifest.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"});

    const std::string top = fmt::format("warmup-support-{}", std::time(nullptr));
    try {
        support::write_tar_gz(options.file, top, entries);
    } catch (const std::exception& error) {
        std::cerr << "warmupctl: cannot write the support bundle: " << error.what() << "\n";
        return kExitRefused;
    }
    std::cout << "support bundle " << options.file << " (" << top << "/):\n";
    for (const auto& [name, what] : manifest["files"].items())
        std::cout << "  " << std::left << std::setw(18) << name << " " << what.get<std::string>() << "\n";
    if (!reachable) {
        std::cerr << "warmupctl: the daemon could not be reached; the bundle holds what was available here\n";
        return kExitDaemonError;
    }
    if (another_service) {
        std::cerr << "warmupctl: the server at " << daemon.url()
                  << " did not answer as warmupd (is warmupd listening there? it may be another service); the bundle "
                     "holds what was available here\n";
        return kExitDaemonError;
    }
    return kExitOk;
}

std::string named_body(const std::optional<std::string>& name) {
    // A name from the command line may hold bytes that are not UTF-8: sent as U+FFFD, the daemon refuses it as an
    // invalid backup name (400) instead of this program stopping on the JSON writer's exception.
    return name ? nlohmann::json{{"name", *name}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                : std::string("{}");
}

/// Event objects written over several lines (pretty-printed, as `jq .` writes them) with each object on the line it
/// starts on, the lines it spanned left blank after it: the file's line numbers stay those the daemon reports, and
/// the file can be split at any line end without cutting an object. The daemon's own reading of such a body is
/// followed: a line break ends a string (a JSON string holds none) and a '{' at the start of a line while an object
/// is open starts the next one, so a malformed object does not take the ones after it along. Only line breaks inside
/// an object change: outside strings to a space, inside one to a tab (a raw tab in a string is as malformed as the
/// line break was), so each object means what it meant, a malformed one included.
std::string one_line_per_object(const std::string& text) {
    ObjectsOverLines objects_over_lines;
    std::size_t spanned = 0;  // line breaks of the object being read, moved after its end
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        switch (objects_over_lines.step(text, i)) {
            case ObjectsOverLines::Seen::LineBreak:
                out += ' ';
                ++spanned;
                break;
            case ObjectsOverLines::Seen::LineBreakInString:
                out += '\t';
                ++spanned;
                break;
            case ObjectsOverLines::Seen::NextObjectStarts:  // the open object ends here, unclosed
            case ObjectsOverLines::Seen::ObjectClosed:
                out += text[i];
                out.append(std::exchange(spanned, 0), '\n');
                break;
            case ObjectsOverLines::Seen::Other:
                out += text[i];
                break;
        }
    }
    out.append(spanned, '\n');  // an object the file ends inside
    return out;
}

/// Usage events as NDJSON lines: the text itself, one line per item when it is a JSON array, or one line per object
/// when the objects are written over several lines (one_line_per_object), so that it can be split at line ends.
/// Throws std::runtime_error when it starts like an array but is not valid JSON.
std::string events_as_ndjson(std::string text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return text;
    if (text[first] == '{') {
        // Pretty-printed when its first line is not a whole JSON value (the daemon's own test for that form).
        const auto end = text.find('\n', first);
        if (end == std::string::npos ||
            !nlohmann::json::parse(std::string_view(text).substr(first, end - first), nullptr, false).is_discarded())
            return text;
        return one_line_per_object(text);
    }
    if (text[first] != '[') return text;
    const nlohmann::json array = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (array.is_discarded() || !array.is_array())
        throw std::runtime_error("the file starts with '[' but is not a valid JSON array");
    std::string lines;
    for (const auto& item : array) lines += item.dump() + "\n";
    return lines;
}

/// Splits NDJSON into bodies of whole lines, each at most `max_bytes` (a longer line travels alone; the daemon
/// judges it). Returns each body with the file line number of its first line.
std::vector<std::pair<std::string_view, std::size_t>> split_into_bodies(std::string_view text, std::size_t max_bytes) {
    std::vector<std::pair<std::string_view, std::size_t>> bodies;
    std::size_t start = 0, line = 1, body_start = 0, body_first_line = 1;
    while (start < text.size()) {
        const std::size_t newline = text.find('\n', start);
        const std::size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
        if (end - body_start > max_bytes && start > body_start) {  // this line would overflow the current body
            bodies.emplace_back(text.substr(body_start, start - body_start), body_first_line);
            body_start = start;
            body_first_line = line;
        }
        start = end;
        ++line;
    }
    if (body_start < text.size()) bodies.emplace_back(text.substr(body_start), body_first_line);
    return bodies;
}

/// Lines of `text` with something other than spaces and tabs: the daemon reads each as one event (it skips blank ones).
std::size_t event_lines(std::string_view text) {
    std::size_t count = 0;
    for (std::size_t start = 0; start < text.size();) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find_first_not_of(" \t") != std::string_view::npos) ++count;
        start = end + 1;
    }
    return count;
}

/// Sends the events in bodies under `max_body_bytes` and prints one summed answer (positions are the file's line
/// numbers). When the daemon's ingest queue is full it takes a body in part and answers 503 with `retry_from`: the
/// body is sent again from that line after a pause (0.1 s, doubling up to 2 s while nothing is taken) until it is
/// taken, or until `retry_for` has passed without an event taken; the lines it refuses for their content are counted
/// once, from the last answer that judged them. Exit 0 when every event was accepted, 1 otherwise.
int send_events(DaemonClient& daemon, const std::string& text, std::size_t max_body_bytes,
                std::chrono::milliseconds retry_for) {
    using nlohmann::json;
    using Clock = std::chrono::steady_clock;
    constexpr std::string_view kEventsPath = "/api/warmup/events";
    uint64_t accepted = 0;
    std::size_t refused = 0, retries = 0;
    json listed = json::array();
    int worst_status = 200;
    std::string full_reason;  // the error of the last 503 answer
    const auto bodies = split_into_bodies(text, max_body_bytes);
    for (const auto& [whole_body, body_first_line] : bodies) {
        std::string_view body = whole_body;
        std::size_t first_line = body_first_line;
        auto give_up_at = Clock::now() + retry_for;
        auto pause = std::chrono::milliseconds(100);
        for (;;) {
            const httplib::Result result =
                daemon.post_quietly(std::string(kEventsPath), std::string(body), "application/x-ndjson");
            if (!result) {
                // A daemon that refuses a body over its limit answers 413 and closes the connection as soon as it has
                // read the headers: the rest of the body cannot be written.
                const bool cut_off = result.error() == httplib::Error::Write && body.size() > 1024 * 1024;
                std::cerr << "warmupctl: " << daemon.unreachable(result) << " (after " << accepted
                          << " accepted events; the body from line " << first_line << " on was not sent"
                          << (cut_off ? fmt::format("; a body of {} KiB may be over the daemon's http.max_body_mb: "
                                                    "smaller bodies: --body-kb",
                                                    body.size() / 1024)
                                      : std::string())
                          << ")\n";
                return kExitDaemonError;
            }
            if (const auto foreign = foreign_answer(*result, kEventsPath)) {
                std::cerr << "warmupctl: " << daemon.not_warmupd(*foreign, kEventsPath) << "; the events from line "
                          << first_line << " on did not reach warmupd (" << accepted << " accepted before)\n";
                return kExitDaemonError;
            }
            const json answer = json::parse(result->body, nullptr, /*allow_exceptions=*/false);
            if (result->status != 200 && (!answer.is_object() || !answer.contains("accepted"))) {
                std::cerr << result->body << "warmupctl: the daemon answered HTTP " << result->status
                          << " to the body of lines " << first_line << ".."
                          << first_line + std::count(body.begin(), body.end(), '\n')
                          << (result->status == 413 ? " (smaller bodies: --body-kb)" : "") << "\n";
                return kExitDaemonError;
            }
            const auto taken = answer.value("accepted", uint64_t{0});
            accepted += taken;
            // What was full (the ingest queue, or a fleet node's buffer for other nodes' events): the reason the
            // daemon gives for the first line it refused for room.
            if (const auto at = answer.find("retry_from"); result->status == 503 && at != answer.end())
                for (const auto& refusal : answer.value("rejected", json::array()))
                    if (refusal.value("line", json()) == *at) full_reason = refusal.value("reason", std::string());
            if (taken > 0) {  // the queue is draining: the wait for it starts again
                give_up_at = Clock::now() + retry_for;
                pause = std::chrono::milliseconds(100);
            }
            // The line (of this body) from which the queue refused what it did not refuse for content.
            std::optional<std::size_t> retry_from;
            if (const auto at = answer.find("retry_from");
                result->status == 503 && at != answer.end() && at->is_number_unsigned() && at->get<std::size_t>() >= 1)
                retry_from = at->get<std::size_t>();
            const bool retry = retry_from && Clock::now() + pause < give_up_at;
            std::size_t line_offset = first_line - 1;
            std::string_view rest;
            if (retry) {
                // The part sent again is judged again: its lines' refusals count from the next answer.
                std::size_t at = 0;
                for (std::size_t line = 1; line < *retry_from && at < body.size(); ++line) {
                    const std::size_t newline = body.find('\n', at);
                    at = newline == std::string_view::npos ? body.size() : newline + 1;
                }
                rest = body.substr(at);
                const std::size_t judged_again = event_lines(rest);
                const std::size_t refused_here = answer.value("rejected", json::array()).size() +
                                                 answer.value("rejected_not_listed", std::size_t{0});
                refused += refused_here - std::min(refused_here, judged_again);
                worst_status = std::max(worst_status, refused_here > judged_again ? 400 : 200);
            } else {
                worst_status = std::max(worst_status, result->status);
                refused += answer.value("rejected_not_listed", std::size_t{0});
            }
            for (auto refusal : answer.value("rejected", json::array())) {
                const std::size_t line = refusal.value("line", std::size_t{0});
                if (retry && line >= *retry_from) continue;
                if (!retry) ++refused;
                if (line > 0) refusal["line"] = line + line_offset;
                if (listed.size() < 100) listed.push_back(std::move(refusal));
            }
            if (!retry) break;
            body = rest;
            first_line += *retry_from - 1;
            ++retries;
            std::this_thread::sleep_for(pause);
            pause = std::min(pause * 2, std::chrono::milliseconds(2000));
        }
    }
    json summary{{"accepted", accepted}, {"rejected", listed}, {"bodies", bodies.size()}};
    if (refused > listed.size()) summary["rejected_not_listed"] = refused - listed.size();
    if (retries > 0) summary["resent_after_queue_full"] = retries;
    (worst_status == 200 ? std::cout : std::cerr) << summary.dump(2) << "\n";
    if (worst_status != 200) {
        std::cerr << "warmupctl: the daemon answered HTTP " << worst_status << " (" << refused << " events refused"
                  << (worst_status == 503 ? fmt::format("; still full after --retry-s {}{}", retry_for.count() / 1000,
                                                        full_reason.empty() ? std::string() : ": " + full_reason)
                                          : std::string())
                  << ")\n";
        return kExitDaemonError;
    }
    return kExitOk;
}

// --- why ------------------------------------------------------------------------------------------------------

/// "10:42:07" for a time of today (local time), "2026-12-01 10:42:07" for another day.
/// Whether unix_ms falls on today's local date.
bool local_today(int64_t unix_ms) {
    const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
    const std::time_t now = std::time(nullptr);
    std::tm at{}, today{};
    localtime_r(&seconds, &at);
    localtime_r(&now, &today);
    return at.tm_year == today.tm_year && at.tm_yday == today.tm_yday;
}

/// Local date and time; `with_date` false leaves the date out.
std::string local_time(int64_t unix_ms, bool with_date) {
    const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
    std::tm at{};
    localtime_r(&seconds, &at);
    char text[32];
    std::strftime(text, sizeof text, with_date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &at);
    return text;
}

/// Local time, with the date unless it is today.
std::string local_time(int64_t unix_ms) { return local_time(unix_ms, !local_today(unix_ms)); }

std::string mib(const nlohmann::json& value) {
    std::ostringstream text;
    text << std::fixed << std::setprecision(0) << value.get<double>();
    return text.str();
}

/// "by org.warmup.predictor.keep-alive@1.0.0 plan, predicted next use 11:20:00 with p=0.12" for a plan-driven
/// decision (the prediction the plan in force came from).
std::string plan_basis(const nlohmann::json& decision) {
    const nlohmann::json& plan = decision.at("plan");
    if (plan.value("fallback", false))
        return "by the built-in keep-alive (a plugin call had failed or its circuit was open)";
    if (!plan.contains("by") || plan.at("by").is_null()) return "no plan yet";
    std::string text = "by " + plan.at("by").get<std::string>() + " plan";
    const nlohmann::json& next = plan.at("predicted_next_use_ms");
    text += next.is_null() ? ", no next use predicted" : ", predicted next use " + local_time(next.get<int64_t>());
    const nlohmann::json& p = plan.at("p_use_within_horizon");
    if (!p.is_null()) {
        std::ostringstream probability;
        probability << std::setprecision(2) << p.get<double>();
        text += " with p=" + probability.str();
        if (plan.value("horizon_ms", int64_t{0}) > 0)
            text += " within " + std::to_string(plan.value("horizon_ms", int64_t{0}) / 60000) + " min";
    }
    return text;
}

std::string memory_note(const nlohmann::json& decision) {
    const nlohmann::json& memory = decision.at("memory");
    std::string text = mib(memory.at("used_mb")) + " of " + mib(memory.at("budget_mb")) + " MiB in use";
    // A daemon before unloads held the budget does not send it.
    if (memory.contains("unloading_mb") && memory.at("unloading_mb").get<double>() > 0)
        text += " (" + mib(memory.at("unloading_mb")) + " being unloaded)";
    if (memory.at("need_mb").get<double>() > 0) text += ", needs " + mib(memory.at("need_mb")) + " MiB";
    return text;
}

/// One decision as a line of plain language.
std::string describe_decision(const nlohmann::json& d) {
    const std::string kind = d.at("decision").get<std::string>();
    std::string line =
        local_time(d.at("at_ms").get<int64_t>()) + "  " + kind + ": " + d.at("reason").get<std::string>();
    if (d.contains("plugin_says")) line += ": \"" + d.at("plugin_says").get<std::string>() + "\"";
    if (kind == "keep" || kind == "unload" || kind == "prewarm") {
        if (d.contains("until_ms")) line += "; keep until " + local_time(d.at("until_ms").get<int64_t>());
        if (d.contains("prewarm_at_ms")) line += ", pre-warm at " + local_time(d.at("prewarm_at_ms").get<int64_t>());
        line += " (" + plan_basis(d) + ")";
    } else {
        line += " (by " + d.value("decided_by", std::string("?"));
        if (d.contains("for_model") && !d.at("for_model").is_null())
            line += ", for " + d.at("for_model").get<std::string>();
        if (d.contains("until_ms")) line += ", next attempt " + local_time(d.at("until_ms").get<int64_t>());
        if (d.contains("attempt")) line += ", attempt " + std::to_string(d.at("attempt").get<int>());
        line += "; " + memory_note(d) + ")";
    }
    if (d.contains("repeats"))
        line += " [x" + std::to_string(d.at("repeats").get<int>()) + " since " +
                local_time(d.at("first_at_ms").get<int64_t>()) + "]";
    if (d.value("arm", std::string("control")) != "control") line += " [arm " + d.at("arm").get<std::string>() + "]";
    return line;
}

/// Why the newest cold request of the list (newest first) was cold, from the decisions before it; nullopt when the
/// list holds no cold request.
std::optional<std::string> explain_last_cold(const nlohmann::json& decisions) {
    std::size_t cold = 0;
    while (cold < decisions.size() && !(decisions[cold].at("decision") == "demand_load" &&
                                        decisions[cold].at("reason").get<std::string>().rfind("a request", 0) == 0))
        ++cold;
    if (cold == decisions.size()) return std::nullopt;
    const nlohmann::json& request = decisions[cold];
    const std::string reason = request.at("reason").get<std::string>();
    std::string text = "cold at " + local_time(request.at("at_ms").get<int64_t>()) + ": ";
    std::string skipped;  // a pre-warm skipped between the removal and the request
    for (std::size_t i = cold + 1; i < decisions.size(); ++i) {
        const nlohmann::json& d = decisions[i];
        const std::string kind = d.at("decision").get<std::string>();
        const std::string at = local_time(d.at("at_ms").get<int64_t>());
        if (kind == "skip" && skipped.empty()) {
            const std::string says =
                d.contains("plugin_says") ? ": \"" + d.at("plugin_says").get<std::string>() + "\"" : "";
            skipped = "; a pre-warm was skipped at " + at + " (" + d.at("reason").get<std::string>() + says + ", by " +
                      d.value("decided_by", std::string("?")) + "; " + memory_note(d) + ")";
        } else if (kind == "prewarm" && reason.find("pre-warm") != std::string::npos) {
            return text + reason + " (pre-warm started at " + at + ", " + plan_basis(d) + ")";
        } else if (kind == "unload") {
            return text + "unloaded at " + at + " " + plan_basis(d) + skipped;
        } else if (kind == "evict") {
            std::string evicted = "evicted at " + at + " by " + d.value("decided_by", std::string("?"));
            if (d.contains("for_model") && !d.at("for_model").is_null())
                evicted += " to make room for " + d.at("for_model").get<std::string>();
            return text + evicted + " (" + memory_note(d) + "; its plan: " + plan_basis(d) + ")" + skipped;
        } else if (kind == "give_up") {
            return text + "its load was given up at " + at + " (" + d.at("reason").get<std::string>() + ")" + skipped;
        }
    }
    return text + reason + "; no earlier unload or eviction of it is recorded (its first load since the daemon " +
           "started, or older than the decisions fetched)" + skipped;
}

int why(DaemonClient& daemon, const std::string& model, std::size_t limit, const std::string& arm) {
    constexpr std::string_view kPath = "/api/warmup/decisions";
    const httplib::Result result =
        daemon.get_quietly(std::string(kPath), {{"model", model}, {"limit", std::to_string(limit)}, {"arm", arm}});
    if (!result || result->status != 200) return daemon.report(result, kPath);
    const nlohmann::json answer = nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
    if (!answer.is_object()) return daemon.report(result, kPath);
    if (!answer.contains("decisions")) {
        std::cerr << "warmupctl: " << daemon.not_warmupd("HTTP 200 (JSON without \"decisions\")", kPath) << "\n";
        return kExitDaemonError;
    }
    const nlohmann::json& decisions = answer.at("decisions");
    try {
        std::cout << model << " (arm " << arm << "; local time):\n";
        const auto cold = explain_last_cold(decisions);
        if (cold)
            std::cout << *cold << "\n";
        else if (!decisions.empty())
            std::cout << "no cold request among its last " << decisions.size() << " decisions\n";
        if (decisions.empty()) {
            // During an experiment a model's decisions may all be another arm's (its events split there).
            const httplib::Result any_arm =
                daemon.get_quietly(std::string(kPath), {{"model", model}, {"limit", std::to_string(limit)}});
            const nlohmann::json others =
                any_arm && any_arm->status == 200
                    ? nlohmann::json::parse(any_arm->body, nullptr, /*allow_exceptions=*/false)
                    : nlohmann::json();
            std::vector<std::string> arms;
            if (others.is_object() && others.contains("decisions"))
                for (const auto& decision : others.at("decisions"))
                    if (const std::string other = decision.value("arm", std::string());
                        !other.empty() && other != arm && std::find(arms.begin(), arms.end(), other) == arms.end())
                        arms.push_back(other);
            if (!arms.empty()) {
                std::cout << "no decisions recorded for it in arm " << arm << "; arm(s) with decisions for it:";
                for (const std::string& other : arms) std::cout << " " << other;
                std::cout << " (warmupctl why " << model << " --arm " << arms.front() << ")\n";
                return kExitOk;
            }
            std::cout << "no decisions recorded for it (none since the daemon started, or pushed out of the log)\n";
            return kExitOk;
        }
        std::cout << "recent decisions, newest first:\n";
        for (const auto& decision : decisions) std::cout << "  " << describe_decision(decision) << "\n";
    } catch (const nlohmann::json::exception& error) {
        std::cerr << "warmupctl: unexpected answer from the daemon: " << error.what() << "\n";
        return kExitDaemonError;
    }
    return kExitOk;
}

// --- history --------------------------------------------------------------------------------------------------

int history(DaemonClient& daemon, const std::string& since) {
    const std::optional<int64_t> age_ms = parse_age_ms(since);
    if (!age_ms) {
        std::cerr << "warmupctl: --since expects a duration such as 90s, 30m, 1h or 7d, got '" << since << "'\n";
        return kExitRefused;
    }
    const int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    constexpr std::string_view kPath = "/api/warmup/history";
    const httplib::Result result =
        daemon.get_quietly(std::string(kPath), {{"since_ms", std::to_string(std::max<int64_t>(0, now_ms - *age_ms))}});
    if (!result || result->status != 200) return daemon.report(result, kPath);
    const nlohmann::json answer = nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
    if (!answer.is_object()) return daemon.report(result, kPath);
    if (!answer.contains("enabled")) {
        std::cerr << "warmupctl: " << daemon.not_warmupd("HTTP 200 (JSON without \"enabled\")", kPath) << "\n";
        return kExitDaemonError;
    }
    if (!answer.value("enabled", false)) {
        std::cerr << "warmupctl: " << answer.value("reason", "the daemon keeps no metrics history") << "\n";
        return kExitDaemonError;
    }
    try {
        // A window that began before today gives every time its date: "from <yesterday> to 20:20:00" read as a
        // window of no length.
        const bool dated = !local_today(answer.at("since_ms").get<int64_t>());
        std::cout << history_table(answer, [dated](int64_t unix_ms) { return local_time(unix_ms, dated); })
                  << "(local time)\n";
    } catch (const nlohmann::json::exception& error) {
        std::cerr << "warmupctl: unexpected answer from the daemon: " << error.what() << "\n";
        return kExitDaemonError;
    }
    return kExitOk;
}

/// The events of `file` ("-": standard input), or (`error` set) why they cannot be read.
struct EventsFile {
    std::string text;
    std::string error;
};
EventsFile read_events(const std::string& file) {
    if (file == "-")
        return {std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()), {}};
    FileContent read = read_file(file, FileKind::any_but_a_folder);
    return {std::move(read.bytes), read.problem()};
}

}  // namespace

// Long: the declaration of every subcommand and option, one after another as --help lists them.
int main(int argc, char** argv) {
    // A daemon that closes a connection while a body is being written (413 before the end of a large body) must end
    // in an error this program reports, not in SIGPIPE killing it without a word.
    std::signal(SIGPIPE, SIG_IGN);
    // The loader's info lines are noise here; warnings and errors stay, on standard error (the answer is on stdout).
    log_to_standard_error(spdlog::level::warn);
    CLI::App app{"warmupctl: validate configurations, inspect plugins, operate a running warmupd"};
    app.require_subcommand(1);
    app.fallthrough();  // --url and --token-env after the subcommand too (warmupctl status --url ...)
    app.set_version_flag("--version", version_line("warmupctl"), "print the version, plugin ABI and git commit");
    std::string url = "http://127.0.0.1:3000";
    std::string token_env = "WARMUP_ACCESS_TOKEN";
    app.add_option("--url", url, "the daemon's address")->capture_default_str();
    auto* token_env_option = app.add_option("--token-env", token_env, "environment variable holding the bearer token")
                                 ->capture_default_str();

    std::string config_file;
    auto* validate_command = app.add_subcommand("validate", "load a configuration and create every plugin it names");
    validate_command->add_option("--config", config_file, "YAML file (default: the embedded configs/default.yaml)");

    std::vector<std::string> inspect_paths;
    auto* inspect_command =
        app.add_subcommand("inspect", "show what plugin libraries declare, or why they are refused");
    inspect_command->add_option("paths", inspect_paths, "plugin .so files or folders")->required();

    struct Endpoint {
        const char* command;
        const char* method;
        const char* path;
        const char* help;
    };
    static constexpr Endpoint kEndpoints[] = {
        {"status", "GET", "/api/warmup/status", "budget, memory, warm/loading/queued models, counters"},
        {"health", "GET", "/api/warmup/health/components", "each component: ok, degraded or open circuit"},
        {"plugins", "GET", "/api/warmup/plugins", "loaded plugins per slot"},
        {"predictions", "GET", "/api/warmup/predictions", "per model: use probability, next arrival, plans"},
        {"experiments", "GET", "/api/warmup/experiments", "per arm figures"},
        {"metrics", "GET", "/metrics", "Prometheus text"},
        {"emergency-stop", "POST", "/api/warmup/emergency-stop", "no new warm-ups; queued ones cancelled"},
        {"resume", "POST", "/api/warmup/resume", "lift the emergency stop on the running configuration"},
        {"reset-to-safe", "POST", "/api/warmup/reset-to-safe", "leave emergency mode on the safe configuration"},
        {"reload", "POST", "/api/warmup/config/reload", "re-read the config file and hot-swap what changed"},
        {"rollback", "POST", "/api/warmup/config/rollback", "return to the configuration before the last reload"},
        {"reset-data-collection", "POST", "/api/warmup/reset-data-collection", "forget the learned patterns"},
        {"restart-workers", "POST", "/api/warmup/queue/restart-workers", "replace stuck warm-up workers"},
    };
    std::vector<std::pair<const Endpoint*, CLI::App*>> endpoint_commands;
    for (const Endpoint& endpoint : kEndpoints)
        endpoint_commands.emplace_back(&endpoint, app.add_subcommand(endpoint.command, endpoint.help));

    std::optional<std::string> backup_name;
    std::optional<std::string> restore_name;
    bool backup_overwrite = false;
    auto* backup_command = app.add_subcommand("backup", "write the learned state to a named backup");
    backup_command->add_option("name", backup_name, "backup name (default: a time stamp)");
    backup_command->add_flag("--overwrite", backup_overwrite, "replace a backup of that name (else refused: 409)");
    bool restore_at_next_start = false;
    auto* restore_command = app.add_subcommand("restore", "restore a backup (default: the newest)");
    restore_command->add_option("name", restore_name, "backup name");
    restore_command->add_flag("--at-next-start", restore_at_next_start,
                              "stage it for the daemon's next start instead (202): for a state whose models this run "
                              "numbers in another order");

    std::string why_model;
    std::size_t why_limit = 20;
    std::string why_arm = "control";
    auto* why_command =
        app.add_subcommand("why", "why a model was cold: its last cold request and its recent decisions");
    why_command->add_option("model", why_model, "model name")->required();
    why_command->add_option("--limit", why_limit, "decisions fetched, newest first")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{16384}));
    why_command->add_option("--arm", why_arm, "experiment arm")->capture_default_str();

    std::string history_since = "1h";
    auto* history_command =
        app.add_subcommand("history", "the metrics history (counters per snapshot interval) as a table");
    history_command->add_option("--since", history_since, "how far back: 90s, 30m, 1h, 7d ...")->capture_default_str();

    std::string events_file;
    std::size_t body_kb = 1024;
    int retry_s = 60;
    auto* send_command = app.add_subcommand("send-events", "POST an NDJSON file (or JSON array) of usage events");
    send_command->add_option("file", events_file, "NDJSON file, or - for stdin")->required();
    send_command->add_option("--body-kb", body_kb, "largest body sent, KiB (the file is split at line ends)")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
    send_command
        ->add_option("--retry-s", retry_s,
                     "how long a body the daemon's full ingest queue refused in part is sent again (0: not at all)")
        ->capture_default_str()
        ->check(CLI::Range(0, 86400));

    BundleOptions bundle;
    auto* bundle_command =
        app.add_subcommand("support-bundle", "pack versions, redacted config, status, metrics and logs into a tar.gz");
    bundle_command->add_option("file", bundle.file, "the .tar.gz to write")->required();
    bundle_command->add_option("--config", bundle.config_file,
                               "the daemon's configuration (default: /etc/warmup/warmupd.yaml when it exists)");
    bundle_command->add_option("--log", bundle.log_file,
                               "the file the daemon logs to (default: the systemd journal of --unit)");
    bundle_command->add_option("--log-lines", bundle.log_lines, "log lines to include")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
    bundle_command->add_option("--unit", bundle.unit, "systemd unit whose journal is read")->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        // A word that is not a subcommand reaches CLI11 as an extra argument, and it then says only that a subcommand
        // is required: name the word instead.
        if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr && app.get_subcommands().empty() &&
            !app.remaining().empty()) {
            std::cerr << "warmupctl: '" << app.remaining().front()
                      << "' is not a subcommand (warmupctl --help lists them)\n";
            return kExitRefused;
        }
        // --help and --version exit 0 through CLI11; any usage error is a refused input: exit 2, as documented.
        const int printed = app.exit(error);
        return printed == 0 ? kExitOk : kExitRefused;
    }

    if (*validate_command) return validate(config_file);
    if (*inspect_command) return inspect(inspect_paths);

    auto parsed_url = parse_daemon_url(url);
    if (const auto* problem = std::get_if<std::string>(&parsed_url)) {
        std::cerr << "warmupctl: --url must be http://HOST[:PORT] or https://HOST[:PORT] (no path), not '" << url
                  << "': " << *problem << "\n";
        return kExitRefused;
    }
    // A token the HTTP library cannot send (a newline from `echo`, a space) would be left out without a word, and
    // the daemon's 401 would then say no token was sent.
    if (const char* token = std::getenv(token_env.c_str()); token != nullptr && *token != '\0') {
        for (const char* c = token; *c != '\0'; ++c)
            if (static_cast<unsigned char>(*c) <= 0x20 || *c == 0x7f) {
                std::cerr << "warmupctl: the token in " << token_env
                          << " contains whitespace or control characters (a trailing newline?): it cannot be sent "
                             "in an HTTP header\n";
                return kExitRefused;
            }
    }
    // A variable named on purpose and not set is a mistake worth saying (the daemon would only answer 401).
    if (token_env_option->count() > 0) {
        const char* token = std::getenv(token_env.c_str());
        if (token == nullptr || *token == '\0')
            std::cerr << "warmupctl: warning: --token-env " << token_env
                      << " names an environment variable that is not set (or empty): no token is sent\n";
    }
    DaemonClient daemon(std::get<DaemonAddress>(std::move(parsed_url)), token_env);
    for (const auto& [endpoint, command] : endpoint_commands) {
        if (!*command) continue;
        return std::string_view(endpoint->method) == "GET" ? daemon.get(endpoint->path) : daemon.post(endpoint->path);
    }
    if (*bundle_command) return support_bundle(daemon, token_env, bundle);
    if (*backup_command) {
        nlohmann::json body = nlohmann::json::parse(named_body(backup_name));
        if (backup_overwrite) body["overwrite"] = true;
        return daemon.post("/api/warmup/backup-state", body.dump());
    }
    if (*restore_command) {
        nlohmann::json body = nlohmann::json::parse(named_body(restore_name));
        if (restore_at_next_start) body["at_next_start"] = true;
        return daemon.post("/api/warmup/restore-state", body.dump());
    }
    if (*why_command) return why(daemon, why_model, why_limit, why_arm);
    if (*history_command) return history(daemon, history_since);
    if (*send_command) {
        const EventsFile body = read_events(events_file);
        if (!body.error.empty()) {
            std::cerr << "warmupctl: cannot read " << events_file << ": " << body.error << "\n";
            return kExitRefused;
        }
        std::string lines;
        try {
            lines = events_as_ndjson(body.text);
        } catch (const std::exception& error) {
            std::cerr << "warmupctl: " << events_file << ": " << error.what() << "\n";
            return kExitRefused;
        }
        return send_events(daemon, lines, body_kb * 1024, std::chrono::seconds(retry_s));
    }
    return kExitRefused;  // unreachable: CLI11 requires one subcommand
}
