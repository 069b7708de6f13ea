// http/status_page/status_page.hpp — the operator's status page, GET /ui: one HTML page with its stylesheet and
// script, compiled into the binary (host/CMakeLists.txt embeds status_page.html, .css and .js of this folder with
// host/embed_text.cmake), so the page works wherever warmupd runs, with no file beside it and no network.
//
// The page reads the JSON endpoints a read-only API client may read and calls the same authenticated POST endpoints
// as warmupctl; see status_page.js. The page itself and its two assets carry no secret and no state, so the request
// guard serves them without a token also on a non-loopback address (security.cpp, is_public_read); the HTML tells the
// script whether it must ask for the token (PageAccess).
//
// Thread-safety: every function here is pure (reads its arguments and the embedded constants).
#pragma once

#include <httplib.h>

#include <optional>
#include <string>
#include <string_view>

namespace warmup::host {

/// What the page needs an access token for, as the request guard decides for the connection it is served on.
enum class PageAccess {
    Open,     ///< no token configured: nothing needs one
    Changes,  ///< token configured, loopback connection: reads are open, the buttons need it
    All,      ///< token configured, non-loopback connection: every request but the page itself needs it
};

/// The access mode for a daemon with or without `token_configured`, serving a connection accepted on
/// `local_address` (the same loopback rule as decide_request, including http.loopback_reads_need_token).
PageAccess page_access(bool token_configured, std::string_view local_address,
                       bool loopback_reads_need_token = false) noexcept;

/// The page's paths: "/ui" (the HTML) and its assets, and the daemon's root "/", which sends a browser to "/ui" (an
/// operator who opens http://127.0.0.1:3000/ lands on the page rather than on a JSON 404).
inline constexpr std::string_view kStatusPagePath = "/ui";
inline constexpr std::string_view kStatusPageStylePath = "/ui/status_page.css";
inline constexpr std::string_view kStatusPageScriptPath = "/ui/status_page.js";
inline constexpr std::string_view kRootPath = "/";

/// True for the four paths above: GET/HEAD of them need no token (they hold no data).
bool is_status_page_path(std::string_view path) noexcept;

/// Answers a GET of one of the page's paths: body, Content-Type, and headers that keep the page to itself (a
/// Content-Security-Policy allowing only the daemon's own scripts, styles and fetches, no framing, no sniffing, no
/// caching of a page that changes with the binary). Returns false (response untouched) for any other path.
bool serve_status_page(std::string_view path, PageAccess access, httplib::Response& response);

}  // namespace warmup::host
