// The status page (GET /ui) in a real headless Chromium, driven through the DevTools protocol (devtools_browser.hpp),
// against the real daemon (build/bin/warmupd) fed with events over HTTP.
//
// Each test starts its own daemon on a free loopback port and its own browser, waits for what a user would see by
// polling the page with a deadline (the page refreshes itself every 3 s), and then checks that the browser saw no
// failed request, no console error and no uncaught exception. Screenshots go to <build>/tests/ui/ for a reviewer.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_test_fixture.hpp"
#include "devtools_browser.hpp"
#include "fake_ollama.hpp"
#include "gtest_support.hpp"
#include "test_support.hpp"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using warmup::test::BrowserPage;
using warmup::test::DevToolsBrowser;
using warmup::test::poll_until;
using warmup::test::TempDir;

// Generous: the machine may be compiling on every core; a page that works shows it within a refresh or two.
constexpr auto kPageTimeout = 30s;
constexpr auto kDaemonTimeout = 20s;
constexpr int kWideWidth = 1280;
constexpr int kWideHeight = 1500;
constexpr int kNarrowWidth = 390;  // a phone held upright
constexpr int kNarrowHeight = 2400;

const std::string kToken = "status-page-test-token-0123456789";

int64_t system_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

/// configs/default.yaml (the embedded default) with `extra` appended: an experiment, an access token.
std::string default_config_with(const std::string& extra) {
    return read_file(std::string(WARMUP_TEST_SOURCE_DIR) + "/configs/default.yaml") + "\n" + extra;
}

/// Writes a metrics history into `state_dir` in the daemon's own format (runtime/state/metrics_history.hpp), as a
/// daemon that ran before would have left it: cumulative cold requests at the given minutes before now.
void write_cold_request_history(const std::filesystem::path& state_dir,
                                const std::vector<std::pair<int, int>>& minutes_ago_and_cold_requests) {
    std::filesystem::create_directories(state_dir);
    const int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    for (const auto& [minutes_ago, cold_requests] : minutes_ago_and_cold_requests) {
        const int64_t t_ms = now_ms - int64_t{minutes_ago} * 60'000;
        std::ofstream out(state_dir / ("metrics-history-" + std::to_string(t_ms / 3'600'000) + ".tsv"), std::ios::app);
        out << t_ms << "\trequests\t" << cold_requests * 10 << "\n"
            << t_ms << "\tcold_requests\t" << cold_requests << "\n";
    }
}

/// A join of `lines` for failure messages.
std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) out += "  " + line + "\n";
    return out;
}

class StatusPageBrowserTest : public warmup::test::DaemonTest {
  protected:
    StatusPageBrowserTest() : DaemonTest("warmup-ui") {}

    /// Starts warmupd with `args` (plus --port 0) and a browser. Fails the test when either does not start.
    void start(std::vector<std::string> args) {
        start_daemon_with_args(std::move(args));
        if (HasFatalFailure()) return;
        try {
            browser_ = std::make_unique<DevToolsBrowser>(browser_dir_.path());
        } catch (const std::exception& error) {
            FAIL() << error.what();
        }
    }

    void TearDown() override {
        if (HasFailure()) {
            if (browser_) std::cerr << "---- chromium stderr ----\n" << browser_->stderr_log() << "---- end ----\n";
            if (page_) std::cerr << "---- page text ----\n" << page_text() << "\n---- end ----\n";
        }
        page_.reset();
        browser_.reset();
        DaemonTest::TearDown();  // the daemon's log on failure, then the client and the daemon go
    }

    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

    /// Opens /ui in a new tab of the given size and waits until the page has refreshed once.
    void open_page(int width = kWideWidth, int height = kWideHeight) {
        page_ = std::make_unique<BrowserPage>(*browser_, width, height);
        page_->navigate(url("/ui"));
        ASSERT_TRUE(page_->wait_for("Number(document.body && document.body.dataset.refreshes) >= 1", kPageTimeout))
            << "the page never finished a refresh; problems:\n"
            << joined(page_->problems());
    }

    /// Waits until the page has refreshed `more` times after now (so it shows the daemon's state of now).
    bool wait_for_refreshes(int more) {
        const int now = page_->evaluate("Number(document.body.dataset.refreshes)").get<int>();
        return page_->wait_for("Number(document.body.dataset.refreshes) >= " + std::to_string(now + more),
                               kPageTimeout);
    }

    std::string page_text() {
        try {
            return page_->evaluate("document.body.innerText").get<std::string>();
        } catch (const std::exception& error) {
            return error.what();
        }
    }

    json get_json(const std::string& path) {
        const auto result = client_->Get(path);
        if (!result) return nullptr;
        return result->status == 200 ? json::parse(result->body, nullptr, false) : json(nullptr);
    }

    void post_events(const std::string& ndjson) {
        const auto result = client_->Post("/api/warmup/events", ndjson, "application/x-ndjson");
        ASSERT_TRUE(result) << httplib::to_string(result.error());
        ASSERT_EQ(result->status, 200) << result->body;
    }

    /// Waits until the control loop has taken every event posted before: a status read runs on the control thread
    /// after the loop step that took the pending events (the second read covers a step that was already past its
    /// ingest when the first was queued).
    void wait_for_ingest() {
        for (int i = 0; i < 2; ++i) ASSERT_FALSE(get_json("/api/warmup/status").is_null());
    }

    /// `model` used every `gap_ms` in the past, `count` times, the last use `last_ago_ms` ago: history the
    /// predictor learns (older than the request window), nothing is loaded for it. The last `separate` uses are
    /// posted one by one, each after the control loop took the ones before: the default predictor (cost-curve)
    /// learns the gaps of one batch as one history, and places a pre-warm window only on gaps it saw end one by one
    /// (at least 3). The earlier uses go in one body, so no window is placed before the last gap: a window placed
    /// on an older gap would have its pre-warm time in the past, and start it at once.
    void post_history(const std::string& model, int count, int64_t gap_ms, int64_t last_ago_ms, int separate) {
        const int64_t now = system_now_ms();
        std::string body;
        for (int i = count - 1; i >= 0; --i) {
            body += json{{"model", model}, {"ts_ms", now - last_ago_ms - i * gap_ms}}.dump() + "\n";
            if (i <= separate) {
                ASSERT_NO_FATAL_FAILURE(post_events(body));
                ASSERT_NO_FATAL_FAILURE(wait_for_ingest());
                body.clear();
            }
        }
    }

    /// The selector of a model's entry in a list of the page.
    static std::string with_model(const std::string& selector, const std::string& model) {
        return selector + "[data-model=" + json(model).dump() + "]";
    }
    static std::string exists(const std::string& selector) {
        return "document.querySelector(" + json(selector).dump() + ") !== null";
    }
    std::string text_of(const std::string& selector) {
        const json text = page_->evaluate("(document.querySelector(" + json(selector).dump() +
                                          ") || {textContent: null}).textContent");
        return text.is_string() ? text.get<std::string>() : std::string("<no element>");
    }

    /// Clicks `button`, checks the confirmation dialog opens with the operation's own text, and confirms it.
    void confirm_operation(const std::string& button, const std::string& title) {
        page_->click(button);
        ASSERT_TRUE(page_->wait_for("document.getElementById('confirm-dialog').open", kPageTimeout))
            << button << " opened no confirmation";
        EXPECT_EQ(text_of("#confirm-title"), title);
        page_->click("#confirm-ok");
    }

    void expect_no_problems(const std::vector<std::pair<std::string, int>>& expected_status = {}) {
        const auto problems = page_->problems(expected_status);
        EXPECT_TRUE(problems.empty()) << "the browser saw problems:\n" << joined(problems);
        EXPECT_EQ(page_->evaluate("document.getElementById('alert').hidden"), true)
            << "the page shows an error: " << text_of("#alert");
    }

    /// How many answers with `status` the tab received for URLs containing `part`.
    int responses(const std::string& part, int status) const {
        int count = 0;
        for (const auto& [response_url, response_status] : page_->responses())
            if (response_status == status && response_url.find(part) != std::string::npos) ++count;
        return count;
    }

    std::filesystem::path screenshot_path(const std::string& name) const {
        return std::filesystem::path(WARMUP_TEST_OUTPUT_DIR) / name;
    }

    TempDir browser_dir_{"warmup-ui-chromium"};
    std::unique_ptr<DevToolsBrowser> browser_;
    std::unique_ptr<BrowserPage> page_;
};

// The embedded default configuration: a model loaded on demand shows in the budget bar and the list (with why and
// since), a learned rhythm shows its planned pre-warm on the timeline, a click on the model shows its decisions, and
// the emergency stop button (after its confirmation) puts the daemon into emergency mode, shown in red.
TEST_F(StatusPageBrowserTest, ShowsWarmModelPlannedPrewarmAndStopsOnTheEmbeddedDefault) {
    ASSERT_NO_FATAL_FAILURE(start({}));
    // llama3:8b was used every 30 min for the last 6 hours, the last time 25 min ago: the default predictor
    // (cost-curve) plans a pre-warm shortly before the next use, in about 5 min. phi3:mini is requested now: a demand
    // load.
    ASSERT_NO_FATAL_FAILURE(post_history("llama3:8b", 12, 30 * 60'000, 25 * 60'000, 3));
    ASSERT_NO_FATAL_FAILURE(post_events(R"({"model": "phi3:mini"})"));
    json prewarm_plan;
    ASSERT_TRUE(poll_until(
        [&] {
            const json answer = get_json("/api/warmup/predictions");
            if (answer.is_null()) return false;
            for (const json& p : answer["predictions"])
                if (p["model"] == "llama3:8b" && p["planned_warm_start_at_ms"].is_number() &&
                    p["planned_warm_start_at_ms"].get<int64_t>() > answer["now_ms"].get<int64_t>() &&
                    p["planned_warm_start_at_ms"].get<int64_t>() <= answer["now_ms"].get<int64_t>() + 3600'000)
                    prewarm_plan = p;
            return !prewarm_plan.is_null();
        },
        kDaemonTimeout))
        << "the daemon planned no pre-warm of llama3:8b within the hour: " << get_json("/api/warmup/predictions");
    ASSERT_TRUE(poll_until(
        [&] {
            const json status = get_json("/api/warmup/status");
            return !status.is_null() && status["warm"].size() == 1 && status["warm"][0]["model"] == "phi3:mini";
        },
        kDaemonTimeout))
        << "phi3:mini did not become warm: " << get_json("/api/warmup/status");

    ASSERT_NO_FATAL_FAILURE(open_page());
    const std::string bar_segment = with_model("#budget-bar .segment", "phi3:mini");
    const std::string list_row = with_model("#model-rows tr", "phi3:mini");
    const std::string prewarm_mark = with_model("#timeline-chart [data-kind=\"prewarm\"]", "llama3:8b");
    ASSERT_TRUE(
        page_->wait_for(exists(bar_segment) + " && " + exists(list_row) + " && " + exists(prewarm_mark), kPageTimeout))
        << "page text:\n"
        << page_text();
    EXPECT_EQ(page_->evaluate("document.querySelector(" + json(bar_segment).dump() + ").dataset.state"), "loaded");
    EXPECT_CONTAINS(
        page_->evaluate("document.querySelector(" + json(bar_segment).dump() + ").title").get<std::string>(),
        "2.2 GiB loaded (demand)");  // 2300 MiB in the catalog
    EXPECT_EQ(text_of(list_row + " td.cause"), "demand");
    EXPECT_EQ(text_of(list_row + " td:nth-child(3)"), "2.2 GiB");
    EXPECT_CONTAINS(text_of(list_row + " td:nth-child(4)"), " ago");
    // The segment's width is the model's share of the 16 GiB budget: 2300 / 16384 = 14 %.
    const double share =
        page_->evaluate("parseFloat(document.querySelector(" + json(bar_segment).dump() + ").style.width)");
    EXPECT_NEAR(share, 100.0 * 2300 / 16384, 0.01);
    EXPECT_EQ(text_of("#mode"), "running");
    // The embedded default keeps no state: the backup button says so instead of a 409 after its dialog.
    EXPECT_TRUE(page_->wait_for("document.getElementById('backup-state').disabled === true", kPageTimeout));
    EXPECT_CONTAINS(page_->evaluate("document.getElementById('backup-state').title").get<std::string>(),
                    "State keeping is off");
    page_->screenshot(screenshot_path("status-page.png"));

    // A click on the model shows its decisions: the demand load that brought it in.
    page_->click(list_row);
    ASSERT_TRUE(page_->wait_for(exists("#decision-rows tr[data-decision=\"demand_load\"]"), kPageTimeout))
        << "no demand_load decision shown; page text:\n"
        << page_text();
    EXPECT_EQ(text_of("#decisions-model"), "phi3:mini");

    // Emergency stop through the button and its confirmation.
    ASSERT_NO_FATAL_FAILURE(confirm_operation("#emergency-stop", "Emergency stop"));
    ASSERT_TRUE(page_->wait_for("document.getElementById('mode').textContent === 'EMERGENCY STOP'", kPageTimeout))
        << "page text:\n"
        << page_text();
    EXPECT_TRUE(get_json("/api/warmup/status")["emergency_stop"].get<bool>());
    EXPECT_EQ(page_->evaluate("document.getElementById('operations').classList.contains('emergency')"), true);
    EXPECT_EQ(page_->evaluate("document.getElementById('emergency-stop').disabled"), true);
    EXPECT_CONTAINS(text_of("#operation-result"), "Emergency stop: done.");
    page_->screenshot(screenshot_path("status-page-emergency.png"));

    // The checks above are only worth something if the page really talked to the daemon.
    EXPECT_GE(responses("/api/warmup/status", 200), 2);
    EXPECT_EQ(responses("/api/warmup/emergency-stop", 200), 1);
    expect_no_problems();
}

// The last hour's cold-request rate counts the requests between the daemon's last history sample and the page's
// first sample (before, they were counted nowhere until the tab was opened again after the next snapshot).
TEST_F(StatusPageBrowserTest, TheHoursColdRateCountsTheRequestsSinceTheLastHistorySample) {
    const auto config = dir_.write("warmupd.yaml", default_config_with(""));  // state/ beside it, snapshots hourly
    write_cold_request_history(dir_.path() / "state", {{40, 0}, {20, 0}});    // a previous run that saw nothing
    ASSERT_NO_FATAL_FAILURE(start({"--config", config.string()}));
    ASSERT_NO_FATAL_FAILURE(post_events("{\"model\": \"phi3:mini\"}\n{\"model\": \"llama3:8b\"}"));
    ASSERT_TRUE(poll_until([&] { return get_json("/api/warmup/status")["counters"]["requests"] == 2; },
                           std::chrono::seconds(10)));
    ASSERT_NO_FATAL_FAILURE(open_page());
    ASSERT_TRUE(
        page_->wait_for("document.getElementById('cold-rate').textContent.includes('of 2 requests')", kPageTimeout))
        << text_of("#cold-rate");
    EXPECT_CONTAINS(text_of("#cold-rate"), "2 of 2 requests");
}

// Backup (with the name typed into its confirmation) and reset to safe go through their buttons; the page shows the
// backup's file and then safe mode. The daemon keeps state, so the cold-request chart also shows the metrics history
// it finds in its state folder, from before the page was opened.
TEST_F(StatusPageBrowserTest, ALongModelNameStaysInsideItsTimelineLabelAndItsTableCell) {
    // Names up to 1024 bytes are accepted; one of 300 characters ran across the whole timeline and pushed the table's
    // other columns off the screen.
    ASSERT_NO_FATAL_FAILURE(start({}));
    const std::string name = "embed/" + std::string(280, 'x') + "-q8";
    ASSERT_NO_FATAL_FAILURE(post_events("{\"model\": \"" + name + "\"}"));
    ASSERT_TRUE(poll_until(
        [&] {
            const json status = get_json("/api/warmup/status");
            return !status.is_null() && status["warm"].size() == 1;
        },
        kDaemonTimeout));
    ASSERT_NO_FATAL_FAILURE(open_page());
    const std::string row = with_model("#model-rows tr", name);
    ASSERT_TRUE(page_->wait_for(exists(row) + " && document.querySelector('#timeline-chart .row-label')", kPageTimeout))
        << page_text();
    // The label: shortened in its middle (the start and the end of the name kept), within the label column (at most
    // 170 px), the whole name in its title.
    const json label = page_->evaluate(
        "(() => { const l = document.querySelector('#timeline-chart .row-label');"
        " return {text: l.firstChild.textContent, width: l.getComputedTextLength(),"
        " title: l.querySelector('title').textContent}; })()");
    EXPECT_LE(label["width"].get<double>(), 170.0) << label.dump();
    EXPECT_TRUE(label["text"].get<std::string>().starts_with("embed/xx")) << label.dump();
    EXPECT_TRUE(label["text"].get<std::string>().ends_with("xx-q8")) << label.dump();
    EXPECT_CONTAINS(label["title"].get<std::string>(), name);
    // The table cell wraps the name: the row's other cells stay on the screen.
    const double state_right = page_
                                   ->evaluate("document.querySelector(" + json(row).dump() +
                                              " + ' td:nth-child(2)').getBoundingClientRect().right")
                                   .get<double>();
    const double viewport = page_->evaluate("document.documentElement.clientWidth").get<double>();
    EXPECT_LE(state_right, viewport);
    expect_no_problems();
}

TEST_F(StatusPageBrowserTest, TheHoursColdRateStartsFromTheHistorysSampleBeforeTheHour) {
    // 90 and 70 minutes ago (before the hour): 4 cold requests in all; 30 minutes ago 9. The hour saw 5 of them, the
    // change from the sample 70 minutes ago, not 9 (everything) nor 0 (the first sample of the hour as its start).
    const auto config = dir_.write("warmupd.yaml", default_config_with(""));
    write_cold_request_history(dir_.path() / "state", {{90, 1}, {70, 4}, {30, 9}});
    ASSERT_NO_FATAL_FAILURE(start({"--config", config.string()}));
    ASSERT_NO_FATAL_FAILURE(open_page());
    ASSERT_TRUE(
        page_->wait_for("document.getElementById('cold-rate').textContent.includes('of 50 requests')", kPageTimeout))
        << text_of("#cold-rate");
    EXPECT_CONTAINS(text_of("#cold-rate"), "5 of 50 requests");
}

TEST_F(StatusPageBrowserTest, BacksUpStateAndResetsToSafeThroughTheButtons) {
    const auto config = dir_.write("warmupd.yaml", default_config_with(""));  // state/ beside it
    write_cold_request_history(dir_.path() / "state", {{40, 1}, {30, 3}, {20, 6}});
    ASSERT_NO_FATAL_FAILURE(start({"--config", config.string()}));
    ASSERT_NO_FATAL_FAILURE(open_page());

    // One bar per minute with a cold request: 2 cold requests 30 min ago and 3 20 min ago, read from the history, and
    // the one of its first sample, 40 min ago: the history began within the hour (no sample before it), so its counters
    // were at zero before that sample (they were once counted nowhere: a daemon's requests before its first snapshot).
    const json bars =
        page_->evaluate("[...document.querySelectorAll('#cold-chart rect.bar')].map((bar) => bar.textContent).sort()");
    EXPECT_EQ(bars,
              json({"1 cold request(s), 40 min ago", "2 cold request(s), 30 min ago", "3 cold request(s), 20 min ago"}))
        << bars.dump();
    EXPECT_CONTAINS(text_of("#cold-rate"), "6 of 60 requests");

    page_->click("#backup-state");
    ASSERT_TRUE(page_->wait_for("document.getElementById('confirm-dialog').open", kPageTimeout));
    EXPECT_EQ(page_->evaluate("document.getElementById('confirm-name-label').hidden"), false);
    page_->click("#confirm-name");
    page_->type_text("from-the-page");
    page_->click("#confirm-ok");
    ASSERT_TRUE(
        page_->wait_for("document.getElementById('operation-result').textContent.includes('done')", kPageTimeout))
        << text_of("#operation-result");
    EXPECT_CONTAINS(text_of("#operation-result"), "from-the-page");
    bool backup_written = false;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path() / "state"))
        backup_written = backup_written || entry.path().filename().string().find("from-the-page") != std::string::npos;
    EXPECT_TRUE(backup_written) << "no backup file named from-the-page in " << (dir_.path() / "state");

    ASSERT_NO_FATAL_FAILURE(confirm_operation("#reset-to-safe", "Reset to safe"));
    ASSERT_TRUE(page_->wait_for("document.getElementById('mode').textContent === 'safe mode'", kPageTimeout))
        << page_text();
    EXPECT_TRUE(get_json("/api/warmup/status")["safe_mode"].get<bool>());
    EXPECT_EQ(responses("/api/warmup/backup-state", 200), 1);
    EXPECT_EQ(responses("/api/warmup/reset-to-safe", 200), 1);
    expect_no_problems();
}

// Cancelling the confirmation changes nothing: no POST is sent.
TEST_F(StatusPageBrowserTest, CancelledConfirmationSendsNothing) {
    ASSERT_NO_FATAL_FAILURE(start({}));
    ASSERT_NO_FATAL_FAILURE(open_page());
    page_->click("#emergency-stop");
    ASSERT_TRUE(page_->wait_for("document.getElementById('confirm-dialog').open", kPageTimeout));
    page_->click("#confirm-cancel");
    ASSERT_TRUE(
        page_->wait_for("document.getElementById('operation-result').textContent.includes('cancelled')", kPageTimeout));
    ASSERT_TRUE(wait_for_refreshes(1));
    EXPECT_EQ(text_of("#mode"), "running");
    EXPECT_FALSE(get_json("/api/warmup/status")["emergency_stop"].get<bool>());
    for (const json& request : page_->requests()) EXPECT_NE(request["method"], "POST") << request.dump();
    expect_no_problems();
}

// The checks the other tests end with see what they look for: a console error, a failed request, a blocked inline
// style (the page's Content-Security-Policy) and an uncaught exception, each reported once.
TEST_F(StatusPageBrowserTest, TheProblemCheckSeesConsoleErrorsFailedRequestsAndPolicyViolations) {
    ASSERT_NO_FATAL_FAILURE(start({}));
    ASSERT_NO_FATAL_FAILURE(open_page());
    EXPECT_TRUE(page_->problems().empty()) << joined(page_->problems());
    page_->evaluate("console.error('planted console error')");
    page_->evaluate("fetch('/api/warmup/no-such-endpoint').then(() => true)");
    page_->evaluate("document.body.insertAdjacentHTML('beforeend', '<style>body { color: red; }</style>')");
    page_->evaluate("setTimeout(() => { throw new Error('planted exception'); }, 0)");
    const auto seen = [&](const std::string& part) {
        for (const auto& problem : page_->problems())
            if (problem.find(part) != std::string::npos) return true;
        return false;
    };
    EXPECT_TRUE(poll_until([&] { return seen("planted console error"); }, kPageTimeout)) << joined(page_->problems());
    EXPECT_TRUE(poll_until([&] { return seen("HTTP 404: " + url("/api/warmup/no-such-endpoint")); }, kPageTimeout))
        << joined(page_->problems());
    EXPECT_TRUE(poll_until([&] { return seen("Content Security Policy"); }, kPageTimeout)) << joined(page_->problems());
    EXPECT_TRUE(poll_until([&] { return seen("planted exception"); }, kPageTimeout)) << joined(page_->problems());
    // An expected status is not a problem, and takes its "Failed to load resource" log line with it.
    EXPECT_FALSE(poll_until(
        [&] {
            for (const auto& problem : page_->problems({{"/api/warmup/no-such-endpoint", 404}}))
                if (problem.find("no-such-endpoint") != std::string::npos) return true;
            return false;
        },
        1s))
        << joined(page_->problems({{"/api/warmup/no-such-endpoint", 404}}));
}

// A component that failed and recovered is "ok", and its last error shows as past, with its age: an operator must not
// read an error of long ago as the state of now. The daemon calls a component degraded for a minute after a failure;
// rather than wait that long, the page's own reads of the health are aged: the first component's answer says it is
// ok and failed five minutes before the daemon's now. A component with a reason (degraded) still shows the reason.
TEST_F(StatusPageBrowserTest, ARecoveredComponentShowsItsLastErrorAsPastWithItsAge) {
    ASSERT_NO_FATAL_FAILURE(start({}));
    ASSERT_NO_FATAL_FAILURE(open_page());
    page_->evaluate(R"((() => {
      const realFetch = window.fetch;
      window.fetch = async (path, init) => {
        const response = await realFetch(path, init);
        if (!String(path).startsWith('/api/warmup/health/components')) return response;
        const answer = await response.json();
        answer.status = 'degraded';
        answer.components[0].state = 'ok';
        answer.components[0].reason = null;
        answer.components[0].errors = 3;
        answer.components[0].last_error = 'INTERNAL planted failure';
        answer.components[0].last_error_unix_ms = Date.now() - 5 * 60 * 1000;
        answer.components[1].state = 'degraded';
        answer.components[1].reason = 'a call failed 2.0 s ago: planted current failure';
        answer.components[1].last_error = 'planted current failure';
        answer.components[1].last_error_unix_ms = Date.now() - 2000;
        return new Response(JSON.stringify(answer), {status: 200, headers: {'Content-Type': 'application/json'}});
      };
      return true;
    })())");
    ASSERT_TRUE(wait_for_refreshes(2)) << page_text();
    const json names = page_->evaluate(
        "Array.from(document.querySelectorAll('#health-rows tr')).slice(0, 2).map((row) => row.dataset.component)");
    ASSERT_EQ(names.size(), 2U) << page_text();
    const std::string recovered = "#health-rows tr[data-component=" + names[0].dump() + "]";
    const std::string degraded = "#health-rows tr[data-component=" + names[1].dump() + "]";
    EXPECT_EQ(text_of(recovered + " td.reason span"), "ok");
    EXPECT_EQ(text_of(recovered + " .past-error"), "recovered; last error 5 min ago: INTERNAL planted failure");
    EXPECT_EQ(text_of(degraded + " td.reason span"), "degraded");
    EXPECT_EQ(text_of(degraded + " td.reason .detail"), "a call failed 2.0 s ago: planted current failure");
    EXPECT_EQ(page_->evaluate("document.querySelector(" + json(degraded + " .past-error").dump() + ") === null"), true);
    // A degraded component is said at the top too, not only in its panel.
    EXPECT_EQ(text_of("#mode"), "running, degraded");
    expect_no_problems();

    // A daemon that does not answer any more: the badge says so instead of the last state it showed.
    page_->evaluate(
        "(() => { window.fetch = async () => { throw new TypeError('Failed to fetch'); }; return true; })()");
    ASSERT_TRUE(page_->wait_for("document.getElementById('mode').textContent === 'not answering'", kPageTimeout))
        << page_text();
    EXPECT_CONTAINS(text_of("#alert"), "Cannot read the daemon: Failed to fetch");
}

// An unload the model server does not answer within budgets.unload_timeout_ms shows in the model list as overdue,
// with its memory and why it still counts, until the server answers; then the row goes.
TEST_F(StatusPageBrowserTest, AnUnloadPastItsDeadlineIsListedAsOverdueUntilTheServerAnswers) {
    constexpr uint64_t kGiB = 1024ULL * 1024 * 1024;
    warmup::test::FakeOllama ollama;
    ollama.add_model("llama3:latest", {4 * kGiB, 4 * kGiB});
    ollama.add_model("mistral:latest", {4 * kGiB, 4 * kGiB});
    // 6 GiB: one 4 GiB model at a time, so mistral evicts llama3; the host's unload deadline 1 s.
    std::ostringstream yaml;
    yaml << "plugin_dirs: [\"" << WARMUP_TEST_PLUGIN_DIR << "\"]\n"
         << "budgets: {memory_mb: 6144, unload_timeout_ms: 1000}\n"
         << "components:\n"
         << "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
         << "  predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 600000}}\n"
         << "  performance: {plugin: org.warmup.performance.calibrated}\n"
         << "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
         << "  resource: {plugin: org.warmup.resource.lru}\n"
         << "  queue: {plugin: org.warmup.queue.priority}\n"
         << "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
         << "  backend: {plugin: org.warmup.backend.ollama, params: {base_url: '" << ollama.url()
         << "', keep_alive_refresh_ms: 0}}\n"
         << "catalog:\n"
         << "  - {model: \"*\", memory_mb: 4096, load_ms: 2000}\n";
    const auto config = dir_.write("warmupd.yaml", yaml.str());
    ASSERT_NO_FATAL_FAILURE(start({"--config", config.string()}));
    ASSERT_NO_FATAL_FAILURE(post_events(R"({"model": "llama3:latest"})"));
    const std::string row = with_model("#model-rows tr", "llama3:latest");
    ASSERT_NO_FATAL_FAILURE(open_page());
    ASSERT_TRUE(page_->wait_for(exists(row + "[data-state=\"ready\"]"), kPageTimeout)) << page_text();

    ollama.hold_unloads(std::chrono::seconds(120));  // released below
    ASSERT_NO_FATAL_FAILURE(post_events(R"({"model": "mistral:latest"})"));
    ASSERT_TRUE(page_->wait_for(exists(row + "[data-state=\"unload-trouble\"]"), kPageTimeout)) << page_text();
    EXPECT_EQ(text_of(row + " td:nth-child(2)"), "unload overdue");
    EXPECT_EQ(text_of(row + " td:nth-child(3)"), "4.0 GiB");
    EXPECT_CONTAINS(text_of(row + " td.cause"), "past its deadline: the server has not answered");
    EXPECT_EQ(ollama.unloads_held(), 1);

    ollama.release_held_unloads();
    ASSERT_TRUE(page_->wait_for("!(" + exists(row) + ")", kPageTimeout)) << page_text();
    expect_no_problems();
}

TEST_F(StatusPageBrowserTest, TheTimelineDrawsAModelStillLoadingApartFromTheLoadedOnes) {
    // Before, a model still loading had the loaded band; and the budget's "loaded" swatch was the timeline's pale one.
    std::ostringstream yaml;
    yaml << "plugin_dirs: [\"" << WARMUP_TEST_PLUGIN_DIR << "\"]\n"
         << "budgets: {memory_mb: 4000}\n"
         << "components:\n"
         << "  predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 600000}}\n"
         << "  backend: {plugin: org.warmup.backend.sim, params: {time_scale: 1.0}}\n"
         << "catalog:\n"
         << "  - {model: \"fast/*\", memory_mb: 100, load_ms: 5}\n"
         << "  - {model: \"slow/*\", memory_mb: 100, load_ms: 600000}\n"
         << "state: {enabled: false}\n";
    const auto config = dir_.write("warmupd.yaml", yaml.str());
    ASSERT_NO_FATAL_FAILURE(start({"--config", config.string()}));
    ASSERT_NO_FATAL_FAILURE(post_events(R"({"model": "fast/a"})"));
    ASSERT_NO_FATAL_FAILURE(post_events(R"({"model": "slow/b"})"));
    ASSERT_NO_FATAL_FAILURE(open_page());
    const std::string loaded = with_model("#timeline-chart rect[data-kind]", "fast/a");
    const std::string loading = with_model("#timeline-chart rect[data-kind]", "slow/b");
    ASSERT_TRUE(page_->wait_for(
        exists(loaded + "[data-kind=\"loaded\"]") + " && " + exists(loading + "[data-kind=\"loading\"]"), kPageTimeout))
        << page_text();
    const auto fill = [&](const std::string& selector) {
        return page_->evaluate("getComputedStyle(document.querySelector(" + json(selector).dump() + ")).fill")
            .get<std::string>();
    };
    EXPECT_NE(fill(loaded), fill(loading));
    EXPECT_CONTAINS(text_of("#timeline .legend"), "loading");
    // The budget legend's swatch is as solid as the bar's segment it names.
    const auto opacity = [&](const std::string& selector) {
        return page_->evaluate("getComputedStyle(document.querySelector(" + json(selector).dump() + ")).opacity")
            .get<std::string>();
    };
    ASSERT_TRUE(page_->wait_for(exists("#budget-legend .key-loaded"), kPageTimeout)) << page_text();
    EXPECT_EQ(opacity("#budget-legend .key-loaded"), "1");
    expect_no_problems();
}

// On a phone-sized screen every panel is one column and nothing is wider than the screen.
TEST_F(StatusPageBrowserTest, FitsANarrowScreen) {
    ASSERT_NO_FATAL_FAILURE(start({}));
    ASSERT_NO_FATAL_FAILURE(post_events(R"({"model": "embed/a"})"));
    ASSERT_NO_FATAL_FAILURE(open_page(kNarrowWidth, kNarrowHeight));
    ASSERT_TRUE(page_->wait_for(exists(with_model("#model-rows tr", "embed/a")), kPageTimeout)) << page_text();
    EXPECT_LE(page_->evaluate("document.documentElement.scrollWidth").get<int>(), kNarrowWidth);
    // One column: the panels are stacked, each as wide as the next.
    EXPECT_EQ(page_->evaluate("(() => { const a = document.getElementById('models').getBoundingClientRect(); "
                              "const b = document.getElementById('cold').getBoundingClientRect(); "
                              "return a.left === b.left && a.width === b.width && b.top > a.top; })()"),
              true);
    page_->screenshot(screenshot_path("status-page-narrow.png"));
    expect_no_problems();
}

// With an experiment running, its arms are shown side by side with their own figures.
TEST_F(StatusPageBrowserTest, ShowsTheArmsOfARunningExperimentSideBySide) {
    const auto config = dir_.write(
        "experiment.yaml",
        default_config_with("experiment: {enabled: true, split: model}\n"
                            "arms:\n"
                            "  - name: keepalive-5m\n"
                            "    components:\n"
                            "      predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 300000}}\n"
                            "  - name: shadow-hybrid\n"
                            "    shadow: true\n"
                            "    components:\n"
                            "      predictor: {plugin: org.warmup.predictor.hybrid-histogram}\n"));
    ASSERT_NO_FATAL_FAILURE(start({"--config", config.string()}));
    std::string requests;
    for (const char* model : {"embed/a", "embed/b", "embed/c", "embed/d", "phi3:mini"})
        requests += json{{"model", model}}.dump() + "\n";
    ASSERT_NO_FATAL_FAILURE(post_events(requests));
    ASSERT_TRUE(poll_until(
        [&] {
            const json answer = get_json("/api/warmup/experiments");
            if (answer.is_null()) return false;
            uint64_t acting = 0;  // every request goes to exactly one acting arm
            for (const json& arm : answer["arms"])
                if (arm["mode"] != "shadow") acting += arm["requests"].get<uint64_t>();
            return acting == 5;
        },
        kDaemonTimeout))
        << get_json("/api/warmup/experiments");

    ASSERT_NO_FATAL_FAILURE(open_page());
    ASSERT_TRUE(
        page_->wait_for("!document.getElementById('experiment').hidden && "
                        "document.querySelectorAll('#arms .arm').length === 3",
                        kPageTimeout))
        << page_text();
    ASSERT_TRUE(wait_for_refreshes(1));
    const json experiments = get_json("/api/warmup/experiments");
    for (const json& arm : experiments["arms"]) {
        const std::string card = "#arms .arm[data-arm=" + arm["name"].dump() + "]";
        const std::string text = text_of(card);
        EXPECT_CONTAINS(text, arm["mode"].get<std::string>());
        EXPECT_CONTAINS(text, "requests" + std::to_string(arm["requests"].get<uint64_t>()));
    }
    EXPECT_CONTAINS(text_of("#arms .arm[data-arm=\"keepalive-5m\"]"), "keep-alive");
    EXPECT_CONTAINS(text_of("#arms .arm[data-arm=\"shadow-hybrid\"]"), "hybrid-histogram");
    // Side by side: the three cards share one row on a wide screen.
    EXPECT_EQ(page_->evaluate("new Set([...document.querySelectorAll('#arms .arm')]"
                              ".map((card) => Math.round(card.getBoundingClientRect().top))).size"),
              1);
    EXPECT_CONTAINS(text_of("#budget-scope"), "control arm");
    page_->screenshot(screenshot_path("status-page-experiment.png"));
    expect_no_problems();
}

// With an access token, the page asks for it when a button needs it, sends it as a bearer header (never in a URL),
// and asks again when the daemon refuses a wrong one.
TEST_F(StatusPageBrowserTest, AsksForTheAccessTokenAndSendsItAsBearer) {
    std::string yaml = default_config_with("");
    yaml.replace(yaml.find("http:\n"), 6, "http:\n  access_token: \"" + kToken + "\"\n");  // in its http section
    const auto config = dir_.write("token.yaml", yaml);
    ASSERT_NO_FATAL_FAILURE(start({"--config", config.string()}));
    ASSERT_NO_FATAL_FAILURE(open_page());
    EXPECT_EQ(page_->evaluate("document.querySelector('meta[name=\"warmup-access\"]').content"), "changes");

    // A wrong token first: the daemon answers 401, the page forgets it and asks again.
    ASSERT_NO_FATAL_FAILURE(confirm_operation("#emergency-stop", "Emergency stop"));
    ASSERT_TRUE(page_->wait_for("document.getElementById('token-dialog').open", kPageTimeout))
        << "the page did not ask for the token; page text:\n"
        << page_text();
    page_->click("#token-input");
    page_->type_text("not-the-right-token-at-all");
    page_->click("#token-ok");
    ASSERT_TRUE(
        page_->wait_for("document.getElementById('token-dialog').open && "
                        "document.getElementById('token-reason').textContent.includes('refused')",
                        kPageTimeout))
        << "the page did not ask again after a refused token; page text:\n"
        << page_text();
    EXPECT_FALSE(get_json("/api/warmup/status")["emergency_stop"].get<bool>());

    page_->click("#token-input");
    page_->type_text(kToken);
    page_->click("#token-ok");
    ASSERT_TRUE(page_->wait_for("document.getElementById('mode').textContent === 'EMERGENCY STOP'", kPageTimeout))
        << page_text();
    EXPECT_TRUE(get_json("/api/warmup/status")["emergency_stop"].get<bool>());

    int bearer_posts = 0;
    for (const json& request : page_->requests()) {
        EXPECT_EQ(request["url"].get<std::string>().find(kToken), std::string::npos)
            << "the token is in a URL: " << request["url"];
        if (request["method"] == "POST" && request["headers"].value("Authorization", "") == "Bearer " + kToken)
            ++bearer_posts;
    }
    EXPECT_EQ(bearer_posts, 1);
    EXPECT_EQ(responses("/api/warmup/emergency-stop", 401), 1);
    EXPECT_EQ(responses("/api/warmup/emergency-stop", 200), 1);
    // The token is kept for this tab only (sessionStorage), not in a cookie or localStorage.
    EXPECT_EQ(page_->evaluate("sessionStorage.getItem('warmup.accessToken')"), kToken);
    EXPECT_EQ(page_->evaluate("document.cookie + localStorage.length"), "0");
    expect_no_problems({{"/api/warmup/emergency-stop", 401}});  // the wrong token's answer, asked for above
}

// A large fleet: thousands of models, all queued behind two loads that take minutes, each with a predicted next use
// within the hour. The page asks for bounded lists (at most 50 timeline rows, 50 models of each state), shows no more
// rows than that and says how many more there are; the totals it shows cover every model.
TEST_F(StatusPageBrowserTest, ShowsABoundedViewOfThousandsOfQueuedAndPlannedModels) {
    constexpr int kModels = 3000;
    std::ostringstream yaml;
    yaml << "log_level: info\n"
         << "http: {bind: 127.0.0.1, port: 3000}\n"
         << "plugin_dirs: [\"" << WARMUP_TEST_PLUGIN_DIR << "\"]\n"
         << "budgets: {memory_mb: 1000, max_concurrent_warmups: 2}\n"
         << "components:\n"
         << "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
         << "  predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 86400000}}\n"
         << "  performance: {plugin: org.warmup.performance.calibrated}\n"
         << "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
         << "  resource: {plugin: org.warmup.resource.lru}\n"
         << "  queue: {plugin: org.warmup.queue.priority, params: {capacity: 100000}}\n"
         << "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
         << "  backend: {plugin: org.warmup.backend.sim}\n"
         << "catalog:\n"
         << "  - {model: \"fleet/*\", memory_mb: 400, load_ms: 600000, unload_ms: 10}\n";
    const auto config = dir_.write("fleet.yaml", yaml.str());
    ASSERT_NO_FATAL_FAILURE(start({"--config", config.string()}));
    // Each model used 10 minutes ago and now: its predicted next use is within the hour, and the request of now
    // demand-loads it: two loads of 10 minutes hold the budget, the rest wait in the queue.
    const int64_t now = system_now_ms();
    std::string body;
    for (const int64_t ago : {int64_t{10 * 60'000}, int64_t{0}})
        for (int i = 0; i < kModels; ++i)
            body += json{{"model", "fleet/" + std::to_string(i)}, {"ts_ms", now - ago}}.dump() + "\n";
    ASSERT_NO_FATAL_FAILURE(post_events(body));
    ASSERT_NO_FATAL_FAILURE(wait_for_ingest());
    const json status = get_json("/api/warmup/status?per_state=1");
    ASSERT_FALSE(status.is_null());
    const int queued = status["queued_count"].get<int>();
    const int loading = status["loading_count"].get<int>();
    ASSERT_GE(queued, kModels - 10) << status.dump(2);
    const json planned = get_json("/api/warmup/predictions?soonest=1");
    ASSERT_FALSE(planned.is_null());
    const int total = planned["total"].get<int>();
    ASSERT_GT(total, 100) << "the models have no predicted use within the hour: " << planned.dump(2);

    ASSERT_NO_FATAL_FAILURE(open_page());
    ASSERT_TRUE(wait_for_refreshes(1));
    // The model table: at most 50 rows per state, each list followed by how many more there are.
    const int model_rows = page_->evaluate("document.querySelectorAll('#model-rows tr.model-row').length").get<int>();
    const int queued_rows =
        page_->evaluate("document.querySelectorAll('#model-rows tr.model-row[data-state=\"queued\"]').length")
            .get<int>();
    EXPECT_EQ(queued_rows, 50);
    EXPECT_LE(model_rows, 150);
    EXPECT_EQ(model_rows, 50 + std::min(loading, 50));
    const std::string more_queued = "#model-rows tr.more-row[data-state=\"queued\"]";
    ASSERT_TRUE(page_->wait_for(exists(more_queued), kPageTimeout)) << page_text();
    const int queued_now = get_json("/api/warmup/status?per_state=1")["queued_count"].get<int>();
    const int more = std::stoi(
        page_->evaluate("document.querySelector(" + json(more_queued).dump() + ").dataset.more").get<std::string>());
    EXPECT_NEAR(more, queued_now - 50, 20) << "the loads finish in 10 minutes: the queue barely moves";
    EXPECT_CONTAINS(text_of(more_queued), " more queued (");
    EXPECT_CONTAINS(text_of(more_queued), " in all)");

    // The timeline: the 50 soonest predicted uses, then how many more models have one in the hour.
    const int timeline_rows =
        page_->evaluate("document.querySelectorAll('#timeline-chart .timeline-row').length").get<int>();
    EXPECT_EQ(timeline_rows, 50);
    EXPECT_EQ(page_->evaluate("document.getElementById('timeline-more').hidden"), false);
    const int timeline_more =
        std::stoi(page_->evaluate("document.getElementById('timeline-more').dataset.more").get<std::string>());
    EXPECT_NEAR(timeline_more, total - 50, 20);
    EXPECT_CONTAINS(text_of("#timeline-more"), " more models (");
    // The soonest first: the rows' predicted uses do not go back in time, top to bottom.
    EXPECT_EQ(page_->evaluate("(() => { const xs = [...document.querySelectorAll('#timeline-chart .timeline-row')]"
                              ".map((row) => { const mark = row.querySelector('[data-kind]'); "
                              "return mark ? Number(mark.getAttribute('cx') || mark.getAttribute('x') || 0) : 0; }); "
                              "return xs.every((x, i) => i === 0 || x >= xs[i - 1] - 1); })()"),
              true);
    // The legend counts every queued model, not the listed ones, written as the list's "more" line writes it (1,234).
    EXPECT_TRUE(std::regex_search(text_of("#budget-legend"), std::regex("\\d{1,3}(,\\d{3})+ queued")))
        << text_of("#budget-legend");

    // Every request of the page for a per-model list is bounded; none asks for the whole list.
    int status_reads = 0, prediction_reads = 0;
    for (const json& request : page_->requests()) {
        const std::string request_url = request["url"].get<std::string>();
        if (request_url.find("/api/warmup/status") != std::string::npos) {
            ++status_reads;
            EXPECT_CONTAINS(request_url, "per_state=50");
        }
        if (request_url.find("/api/warmup/predictions") != std::string::npos) {
            ++prediction_reads;
            EXPECT_CONTAINS(request_url, "soonest=50");
        }
    }
    EXPECT_GE(status_reads, 2);
    EXPECT_GE(prediction_reads, 2);
    page_->screenshot(screenshot_path("status-page-fleet.png"));
    expect_no_problems();
}

}  // namespace
