// http/security.hpp — who may drive the daemon over HTTP: the bind policy (a non-loopback bind needs an access
// token), the bearer-token check of each request (against a token a reload may replace), and JSON bodies for the
// errors cpp-httplib answers by itself (400 malformed request, 414 URI too long).
//
// Policy:
//  - Binding to anything but 127.0.0.0/8, ::1 (or "localhost") requires an access token; warmupd refuses to start
//    without one (exit 2).
//  - When a token is configured, every mutating request (any method but GET/HEAD) needs `Authorization: Bearer
//    <token>`, else 401 with a JSON body.
//  - A request that arrived on a non-loopback local address needs the token for reads too, except GET /healthz
//    (liveness probes carry no secrets) and the status page's GET /ui and its stylesheet and script (they hold no
//    data; the page asks for the token and sends it with its own requests). Without a configured token such a request
//    is refused with 403: the guard fails closed even if an embedding program skipped the start-up check.
//  - A request let through loopback without a token (any request when none is configured; reads with one) is refused
//    (403) when a web browser on this machine sent it for another site: its Host is not a loopback name, or it changes
//    something from another origin (see loopback_browser_problem).
// Token comparison is constant-time (SHA-256 of both sides compared with CRYPTO_memcmp), so neither the content nor
// the length of the configured token leaks through response timing.
//
// Thread-safety: every function is pure or reads only its arguments; the installed handlers capture an immutable
// RequestGuard and may run on any cpp-httplib worker thread concurrently.
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace warmup::host {

/// The environment variable that carries the access token unless http.access_token_env names another.
inline constexpr const char* kAccessTokenEnvironmentVariable = "WARMUP_ACCESS_TOKEN";

/// Shortest token accepted: 16 bytes keeps a random token out of reach of online guessing.
inline constexpr std::size_t kMinAccessTokenBytes = 16;

/// True for "localhost", an IPv4 address in 127.0.0.0/8, "::1" and IPv4-mapped loopback (::ffff:127.x.y.z).
/// Anything else — including wildcard binds (0.0.0.0, ::) and host names other than localhost — is not loopback.
bool is_loopback_address(std::string_view address) noexcept;

/// Why `token` is unusable (too short, or contains whitespace/control characters that cannot travel in a header),
/// or nullopt when it is fine.
std::optional<std::string> access_token_problem(std::string_view token);

/// Why binding to `bind_address` with `token` must be refused, or nullopt when it is allowed. A loopback bind is
/// always allowed (a malformed token is still reported, since POSTs would check it). `token_source` says where the
/// token is set, for the message (HttpConfig::access_token_source(): the YAML key or the environment variable read).
std::optional<std::string> bind_refusal_reason(std::string_view bind_address, const std::optional<std::string>& token,
                                               std::string_view token_source);

/// Constant-time equality of two secrets (time independent of where they differ and of their lengths).
bool secrets_equal(std::string_view a, std::string_view b) noexcept;

/// What the guard needs to decide on a request. Immutable once installed.
struct RequestGuard {
    std::optional<std::string> access_token;  ///< nullopt: no token configured
    /// With a token: reads through a loopback address need it too (except the probes and the status page itself).
    bool loopback_reads_need_token = false;
};

/// The guard's decision on one request: allowed (status 0), or refused with an HTTP status and a reason.
struct GuardDecision {
    int status = 0;  ///< 0 = allowed, 401 = missing/wrong token, 403 = non-loopback request without a configured token
    std::string reason;
    /// Allowed because it presented the configured token (checked). A request let through for another reason (an open
    /// read, a loopback read or any loopback request without a configured token) is not, whatever header it sent.
    bool authenticated = false;
};

/// Decides on one request. `local_address` is the address the connection was accepted on; `authorization` the raw
/// Authorization header value ("" when absent). Pure.
GuardDecision decide_request(const RequestGuard& guard, std::string_view method, std::string_view path,
                             std::string_view local_address, std::string_view authorization);

/// Why a request let through loopback without the access token must be refused (403), or nullopt: its
/// Host names something else than a loopback name (localhost and Debian's other names for it, *.localhost, a loopback
/// address, this machine's name: a page whose DNS name was pointed at 127.0.0.1 to read the API is DNS rebinding),
/// or it changes something (not GET/HEAD) and a browser says it was sent from another site (Sec-Fetch-Site other than
/// same-origin or none; without that header, an Origin that is not the host addressed): a form or fetch() of another
/// site, cross-site request forgery. The probes and the status page's own files are open to reads whatever the Host.
/// `host`, `origin` and `fetch_site` are the raw header values ("" when absent: programs send no Origin, HTTP/1.0
/// clients may send no Host). Pure but for reading the machine's name once.
std::optional<std::string> loopback_browser_problem(std::string_view method, std::string_view path,
                                                    std::string_view host, std::string_view origin,
                                                    std::string_view fetch_site);

/// The guard in force, replaceable while requests are being served (a reload that changes the access token applies
/// it at once). Thread-safe: any number of readers and writers.
class GuardHolder {
  public:
    explicit GuardHolder(RequestGuard guard) : guard_(std::make_shared<const RequestGuard>(std::move(guard))) {}
    [[nodiscard]] std::shared_ptr<const RequestGuard> current() const { return guard_.load(); }
    void replace(RequestGuard guard) { guard_.store(std::make_shared<const RequestGuard>(std::move(guard))); }

  private:
    std::atomic<std::shared_ptr<const RequestGuard>> guard_;
};

/// Installs the guard as `server`'s pre-routing handler (runs before the body is read, so an unauthorised upload is
/// never buffered) and an error handler that gives bodiless error answers (413, 404, 400) a JSON body
/// {"error": ...}. A request the guard lets through goes to `then` (e.g. the route check), if given. A refusal of a
/// request that carries a body closes the connection (the body is never read). Call once, before the server starts.
void install_request_guard(httplib::Server& server, std::shared_ptr<const GuardHolder> guard,
                           httplib::Server::HandlerWithResponse then = nullptr);

}  // namespace warmup::host
