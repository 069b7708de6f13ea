// devtools_browser.hpp — a headless Chromium driven through the Chrome DevTools Protocol over
// --remote-debugging-pipe, for the status page's browser tests.
//
// Why the pipe: Chromium reads protocol messages from fd 3 and writes its own to fd 4, each a JSON text ended by a
// NUL byte. That needs no websocket, no port to discover and no extra package (chromium-driver, a websocket library):
// two pipes and nlohmann::json. The protocol is Chromium's own (https://chromedevtools.github.io/devtools-protocol/):
// Target.createTarget + Target.attachToTarget {flatten: true} give a session whose commands carry its sessionId.
//
// What a test gets: DevToolsBrowser::open(url) returns a Page (one tab) on which it can evaluate JavaScript, click
// an element with real mouse events, type text, change the viewport and take a screenshot; every protocol event of
// the tab (console calls, exceptions, log entries, network requests and responses) is recorded for the test to check.
//
// Guarantees:
//  - Chromium runs in its own process group; the destructor asks it to close (Browser.close), waits up to 5 s, then
//    SIGKILLs that group, so no browser process outlives the test. The reader thread is joined.
//  - Every wait has a deadline: call() throws std::runtime_error when no answer came in time, or when the browser
//    has exited; nothing blocks forever.
//  - find_chromium() looks at $WARMUP_TEST_CHROMIUM, then chromium / chromium-browser on $PATH and /usr/bin; the
//    constructor throws with an installation hint when none is found (a test fails, it never skips silently).
//
// Threads: one reader thread owns the read end of the browser's pipe; call() and the accessors may be used from the
// test thread while it runs (a mutex guards the answers and the event log).
#pragma once

#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test_support.hpp"

extern char** environ;

namespace warmup::test {

/// The Chromium executable: $WARMUP_TEST_CHROMIUM when set, else the first of chromium, chromium-browser found on
/// $PATH or in /usr/bin; nullopt when there is none.
inline std::optional<std::filesystem::path> find_chromium() {
    if (const char* chosen = std::getenv("WARMUP_TEST_CHROMIUM"); chosen != nullptr && chosen[0] != '\0')
        return std::filesystem::path(chosen);
    std::vector<std::filesystem::path> folders;
    if (const char* path = std::getenv("PATH")) {
        std::stringstream list(path);
        for (std::string folder; std::getline(list, folder, ':');)
            if (!folder.empty()) folders.emplace_back(folder);
    }
    folders.emplace_back("/usr/bin");
    for (const char* name : {"chromium", "chromium-browser"})
        for (const auto& folder : folders)
            if (access((folder / name).c_str(), X_OK) == 0) return folder / name;
    return std::nullopt;
}

/// Decodes standard base64 (the screenshot data of Page.captureScreenshot) with OpenSSL.
inline std::string decode_base64(const std::string& text) {
    std::string out(text.size() / 4 * 3 + 3, '\0');
    const int length =
        EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (length < 0) throw std::runtime_error("screenshot data is not base64");
    std::size_t padding = 0;  // EVP_DecodeBlock counts the '=' padding as zero bytes
    for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++padding;
    out.resize(static_cast<std::size_t>(length) - padding);
    return out;
}

class DevToolsBrowser {
  public:
    using json = nlohmann::json;
    static constexpr std::chrono::milliseconds kCallTimeout{30'000};

    /// Starts Chromium headless with a fresh profile in `profile_dir` (its stderr goes to <profile_dir>/stderr.log,
    /// see stderr_log()). Throws when Chromium is missing or does not answer its first command.
    explicit DevToolsBrowser(const std::filesystem::path& profile_dir) : profile_dir_(profile_dir) {
        const auto chromium = find_chromium();
        if (!chromium)
            throw std::runtime_error(
                "Chromium not found: the status page tests need a headless browser. Install the Debian package "
                "'chromium' (scripts/install-deps.sh does), or set WARMUP_TEST_CHROMIUM to its executable.");
        signal(SIGPIPE, SIG_IGN);  // a browser that died must fail a write, not kill the test
        int to_browser[2], from_browser[2];
        if (pipe2(to_browser, O_CLOEXEC) != 0 || pipe2(from_browser, O_CLOEXEC) != 0)
            throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
        // Keep the child's ends away from 3 and 4, so that dup2 onto 3 and 4 always copies (and clears CLOEXEC).
        const int child_reads = fcntl(to_browser[0], F_DUPFD_CLOEXEC, 10);
        const int child_writes = fcntl(from_browser[1], F_DUPFD_CLOEXEC, 10);
        close(to_browser[0]);
        close(from_browser[1]);

        std::vector<std::string> args{chromium->string(),
                                      "--headless",
                                      "--remote-debugging-pipe",
                                      "--user-data-dir=" + profile_dir.string(),
                                      "--no-first-run",
                                      "--no-default-browser-check",
                                      "--disable-gpu",
                                      "--disable-dev-shm-usage",
                                      "--disable-extensions",
                                      "--disable-background-networking",
                                      "--disable-component-update",
                                      "--disable-sync",
                                      "--mute-audio",
                                      "--hide-scrollbars",
                                      "about:blank"};
        // Chromium refuses to run as root with its sandbox; the tests run as root in CI containers.
        if (geteuid() == 0) args.insert(args.begin() + 1, "--no-sandbox");
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);

        const std::string stderr_path = (profile_dir / "stderr.log").string();
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0600);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
        posix_spawn_file_actions_adddup2(&actions, child_reads, 3);
        posix_spawn_file_actions_adddup2(&actions, child_writes, 4);
        posix_spawnattr_t attributes;
        posix_spawnattr_init(&attributes);
        posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attributes, 0);  // its own group: the destructor ends the browser and its helpers
        const int spawn_error = posix_spawn(&pid_, chromium->c_str(), &actions, &attributes, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attributes);
        close(child_reads);
        close(child_writes);
        if (spawn_error != 0) {
            close(to_browser[1]);
            close(from_browser[0]);
            pid_ = -1;
            throw std::runtime_error("cannot start " + chromium->string() + ": " + std::strerror(spawn_error));
        }
        write_fd_ = to_browser[1];
        try {
            reader_ = std::thread([this, fd = from_browser[0]] { read_messages(fd); });
            version_ = call("Browser.getVersion");  // the first answer proves the pipe works
        } catch (...) {  // no destructor runs for a throwing constructor: end the browser here
            if (!reader_.joinable()) close(from_browser[0]);
            shut_down();
            throw;
        }
    }

    ~DevToolsBrowser() { shut_down(); }
    DevToolsBrowser(const DevToolsBrowser&) = delete;
    DevToolsBrowser& operator=(const DevToolsBrowser&) = delete;

    /// The browser's answer to Browser.getVersion (product, protocolVersion ...).
    [[nodiscard]] const json& version() const { return version_; }

    /// What Chromium wrote to stderr so far (for failure messages).
    [[nodiscard]] std::string stderr_log() const {
        std::ifstream in(profile_dir_ / "stderr.log");
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

    /// Sends a command (to the browser, or to a tab's `session_id`) and returns its result. Throws on a protocol error,
    /// when the browser has gone, or when no answer came within `timeout`.
    json call(const std::string& method, json params = json::object(), const std::string& session_id = {},
              std::chrono::milliseconds timeout = kCallTimeout) {
        const int id = send_only(method, std::move(params), session_id);
        std::unique_lock lock(mutex_);
        const bool answered = cv_.wait_for(lock, timeout, [&] { return answers_.count(id) != 0 || closed_; });
        if (!answered || answers_.count(id) == 0)
            throw std::runtime_error(method + ": " + (closed_ ? "the browser has exited" : "no answer in time"));
        json answer = std::move(answers_[id]);
        answers_.erase(id);
        if (answer.contains("error")) throw std::runtime_error(method + ": " + answer["error"].dump());
        return answer.value("result", json::object());
    }

    /// Every event received so far for `session_id` (method and params), in arrival order.
    [[nodiscard]] std::vector<json> events(const std::string& session_id) const {
        std::lock_guard lock(mutex_);
        std::vector<json> out;
        for (const auto& event : events_)
            if (event.value("sessionId", "") == session_id) out.push_back(event);
        return out;
    }

  private:
    /// Asks the browser to close, waits up to 5 s, then SIGKILLs its process group and joins the reader thread.
    void shut_down() {
        if (pid_ > 0) {
            send_only("Browser.close");
            const bool exited = poll_until(
                [&] {
                    int raw = 0;
                    return waitpid(pid_, &raw, WNOHANG) == pid_;
                },
                std::chrono::milliseconds(5000), std::chrono::milliseconds(20));
            kill(-pid_, SIGKILL);  // the helpers (renderer, zygote) of the group that remain
            if (!exited) {
                int raw = 0;
                while (waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
                }
            }
            pid_ = -1;
        }
        if (write_fd_ >= 0) close(write_fd_);
        write_fd_ = -1;
        if (reader_.joinable()) reader_.join();
    }

    int send_only(const std::string& method, json params = json::object(), const std::string& session_id = {}) {
        int id = 0;
        {
            std::lock_guard lock(mutex_);
            id = ++last_id_;
        }
        json message{{"id", id}, {"method", method}, {"params", std::move(params)}};
        if (!session_id.empty()) message["sessionId"] = session_id;
        std::string text = message.dump();
        text.push_back('\0');
        std::lock_guard write_lock(write_mutex_);
        for (std::size_t done = 0; done < text.size();) {
            const ssize_t wrote = write(write_fd_, text.data() + done, text.size() - done);
            if (wrote < 0 && errno == EINTR) continue;
            if (wrote <= 0) break;  // the browser has gone: call() then reports it
            done += static_cast<std::size_t>(wrote);
        }
        return id;
    }

    void read_messages(int fd) {
        std::string pending;
        char buffer[65536];
        while (true) {
            const ssize_t got = read(fd, buffer, sizeof buffer);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            pending.append(buffer, static_cast<std::size_t>(got));
            std::size_t end = 0;
            while ((end = pending.find('\0')) != std::string::npos) {
                json message = json::parse(pending.substr(0, end), nullptr, false);
                pending.erase(0, end + 1);
                if (message.is_discarded()) continue;
                {
                    std::lock_guard lock(mutex_);
                    if (message.contains("id") && message["id"].is_number_integer()) {
                        const int id = message["id"].get<int>();  // read before the message is moved away
                        answers_[id] = std::move(message);
                    } else
                        events_.push_back(std::move(message));
                }
                cv_.notify_all();
            }
        }
        close(fd);
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        cv_.notify_all();
    }

    std::filesystem::path profile_dir_;
    pid_t pid_ = -1;
    int write_fd_ = -1;
    std::mutex write_mutex_;  // one message at a time on the pipe
    std::thread reader_;
    mutable std::mutex mutex_;  // guards everything below
    std::condition_variable cv_;
    int last_id_ = 0;
    std::map<int, json> answers_;
    std::vector<json> events_;
    bool closed_ = false;
    json version_;
};

/// One tab of a DevToolsBrowser, attached with its own session; records its console, log and network events.
class BrowserPage {
  public:
    using json = nlohmann::json;

    /// Opens a new tab of `width` x `height` CSS pixels on about:blank (navigate() loads a page).
    BrowserPage(DevToolsBrowser& browser, int width, int height) : browser_(browser) {
        target_id_ = browser_.call("Target.createTarget", {{"url", "about:blank"}})["targetId"];
        session_id_ =
            browser_.call("Target.attachToTarget", {{"targetId", target_id_}, {"flatten", true}})["sessionId"];
        for (const char* domain : {"Page.enable", "Runtime.enable", "Log.enable", "Network.enable"}) call(domain);
        set_viewport(width, height);
    }

    json call(const std::string& method, json params = json::object()) {
        return browser_.call(method, std::move(params), session_id_);
    }

    void navigate(const std::string& url) {
        const json answer = call("Page.navigate", {{"url", url}});
        if (answer.contains("errorText")) throw std::runtime_error("navigate " + url + ": " + answer.dump());
    }

    void set_viewport(int width, int height) {
        call("Emulation.setDeviceMetricsOverride",
             {{"width", width}, {"height", height}, {"deviceScaleFactor", 1}, {"mobile", false}});
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value; throws when it threw.
    json evaluate(const std::string& expression) {
        const json answer =
            call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}});
        if (answer.contains("exceptionDetails"))
            throw std::runtime_error("page script threw: " + answer["exceptionDetails"].dump());
        return answer["result"].value("value", json());
    }

    /// Polls `expression` until it is true (returns true) or `timeout` passed (false).
    bool wait_for(const std::string& expression, std::chrono::milliseconds timeout) {
        return poll_until([&] { return evaluate("Boolean(" + expression + ")") == true; }, timeout,
                          std::chrono::milliseconds(100));
    }

    /// Clicks the centre of the first element matching `selector` with real mouse events (press and release), as a
    /// user would: the element must be visible and on top there. Throws when no element matches.
    void click(const std::string& selector) {
        const json centre = evaluate("(() => { const e = document.querySelector(" + json(selector).dump() +
                                     "); if (!e) return null; e.scrollIntoView({block: 'center'}); "
                                     "const r = e.getBoundingClientRect(); "
                                     "return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()");
        if (centre.is_null()) throw std::runtime_error("click: nothing matches " + selector);
        for (const char* type : {"mouseMoved", "mousePressed", "mouseReleased"})
            call("Input.dispatchMouseEvent", {{"type", type},
                                              {"x", centre["x"]},
                                              {"y", centre["y"]},
                                              {"button", "left"},
                                              {"buttons", std::string(type) == "mousePressed" ? 1 : 0},
                                              {"clickCount", 1}});
    }

    /// Types `text` into the focused element (as an input method would).
    void type_text(const std::string& text) { call("Input.insertText", {{"text", text}}); }

    /// A PNG of the viewport, written to `file`.
    void screenshot(const std::filesystem::path& file) {
        const json answer = call("Page.captureScreenshot", {{"format", "png"}});
        const std::string png = decode_base64(answer["data"].get<std::string>());
        std::filesystem::create_directories(file.parent_path());
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out.write(png.data(), static_cast<std::streamsize>(png.size()));
        if (!out) throw std::runtime_error("cannot write " + file.string());
    }

    /// Every event of this tab so far.
    [[nodiscard]] std::vector<json> events() const { return browser_.events(session_id_); }

    /// The problems a user would see in the developer tools: console.error / console.assert calls, uncaught
    /// exceptions, log entries of level error (failed loads, Content-Security-Policy violations ...), responses with
    /// a status >= 400 (except those `expected_status` lists, by URL substring) and requests that failed.
    [[nodiscard]] std::vector<std::string> problems(
        const std::vector<std::pair<std::string, int>>& expected_status = {}) const {
        std::vector<std::string> out;
        for (const json& event : events()) {
            const std::string method = event.value("method", "");
            const json& params = event["params"];
            if (method == "Runtime.consoleAPICalled" &&
                (params.value("type", "") == "error" || params.value("type", "") == "assert"))
                out.push_back("console." + params.value("type", "") + ": " + params["args"].dump());
            else if (method == "Runtime.exceptionThrown")
                out.push_back("uncaught exception: " + params["exceptionDetails"].dump());
            else if (method == "Log.entryAdded" && params["entry"].value("level", "") == "error" &&
                     !is_expected_log(params["entry"], expected_status))
                out.push_back("log error: " + params["entry"].dump());
            else if (method == "Network.loadingFailed")
                out.push_back("request failed: " + params.dump());
            else if (method == "Network.responseReceived") {
                const json& response = params["response"];
                const int status = response.value("status", 0);
                if (status >= 400 && !is_expected(response.value("url", ""), status, expected_status))
                    out.push_back("HTTP " + std::to_string(status) + ": " + response.value("url", ""));
            }
        }
        return out;
    }

    /// The requests the tab sent (Network.requestWillBeSent's request objects: url, method, headers ...).
    [[nodiscard]] std::vector<json> requests() const {
        std::vector<json> out;
        for (const json& event : events())
            if (event.value("method", "") == "Network.requestWillBeSent") out.push_back(event["params"]["request"]);
        return out;
    }

    /// The responses the tab received: {url, status}.
    [[nodiscard]] std::vector<std::pair<std::string, int>> responses() const {
        std::vector<std::pair<std::string, int>> out;
        for (const json& event : events())
            if (event.value("method", "") == "Network.responseReceived")
                out.emplace_back(event["params"]["response"].value("url", ""),
                                 event["params"]["response"].value("status", 0));
        return out;
    }

  private:
    static bool is_expected(const std::string& url, int status,
                            const std::vector<std::pair<std::string, int>>& expected_status) {
        for (const auto& [part, code] : expected_status)
            if (code == status && url.find(part) != std::string::npos) return true;
        return false;
    }
    // Chromium also logs an expected error status as "Failed to load resource" (source network) with the URL.
    static bool is_expected_log(const json& entry, const std::vector<std::pair<std::string, int>>& expected_status) {
        if (entry.value("source", "") != "network") return false;
        const std::string text = entry.value("text", "");
        for (const auto& [part, code] : expected_status)
            if (text.find("status of " + std::to_string(code)) != std::string::npos &&
                entry.value("url", "").find(part) != std::string::npos)
                return true;
        return false;
    }

    DevToolsBrowser& browser_;
    std::string target_id_;
    std::string session_id_;
};

}  // namespace warmup::test
