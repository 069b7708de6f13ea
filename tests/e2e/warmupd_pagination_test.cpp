// Pagination of GET /api/warmup/predictions and GET /api/warmup/status (`?limit=N&after=MODEL`) against the real
// daemon: the pages in catalog order add up to the unpaginated answer, `next_after` is the cursor of the next page and
// null on the last, a model first seen between two pages is listed once, on a later page, and every bad value is a
// 400 that names the parameter. The bounded selections a dashboard reads instead of a page (predictions
// `?soonest=N&within_ms=W`, status `?per_state=N`) list at most N models, in their order, with the totals.
//
// The daemon (build/bin/warmupd, --port 0) keeps every model loaded (keep-alive predictor with a day's ttl, a budget
// far above the catalog) and loads in ~1 ms (sim backend at 1/100 of a 100 ms catalog time), so the status's warm list
// is stable once every model is ready. Waits are bounded polls; nothing is timed.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_test_fixture.hpp"
#include "test_support.hpp"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using warmup::test::Daemon;
using warmup::test::poll_until;
using warmup::test::TempDir;

constexpr int kModels = 25;

std::string config_yaml() {
    std::ostringstream yaml;
    yaml << "log_level: info\n"
         << "http: {bind: 127.0.0.1, port: 3000}\n"
         << "plugin_dirs: [\"" << WARMUP_TEST_PLUGIN_DIR << "\"]\n"
         << "budgets: {memory_mb: 100000, max_concurrent_warmups: 4}\n"
         << "components:\n"
         << "  analyzer: {plugin: org.warmup.analyzer.usage-pattern}\n"
         << "  predictor: {plugin: org.warmup.predictor.keep-alive, params: {ttl_ms: 86400000}}\n"
         << "  performance: {plugin: org.warmup.performance.calibrated}\n"
         << "  scheduler: {plugin: org.warmup.scheduler.lead-time}\n"
         << "  resource: {plugin: org.warmup.resource.lru}\n"
         << "  queue: {plugin: org.warmup.queue.priority}\n"
         << "  metrics: {plugin: org.warmup.metrics.prometheus}\n"
         << "  backend: {plugin: org.warmup.backend.sim, params: {time_scale: 0.01}}\n"
         << "catalog:\n"
         << "  - {model: \"m/*\", memory_mb: 100, load_ms: 100, unload_ms: 10}\n";
    return yaml.str();
}

std::string model_name(int i) { return "m/" + std::to_string(i); }

class PaginationTest : public warmup::test::DaemonTest {
  protected:
    PaginationTest() : DaemonTest("warmup-pagination") {}

    void SetUp() override {
        start_daemon(config_yaml());
        if (HasFatalFailure()) return;
        // One body: the models get their catalog indexes in this order.
        post_models(0, kModels);
        ASSERT_TRUE(poll_until([&] { return get("/api/warmup/status")["warm"].size() == kModels; }, 30s, 20ms))
            << get("/api/warmup/status").dump(2);
    }

    void post_models(int from, int to) {
        std::string body;
        for (int i = from; i < to; ++i) body += "{\"model\":\"" + model_name(i) + "\"}\n";
        const auto answer = client_->Post("/api/warmup/events", body, "application/x-ndjson");
        ASSERT_TRUE(answer);
        ASSERT_EQ(answer->status, 200) << answer->body;
    }
    /// GET `path`; the test fails unless the answer is 200 JSON.
    json get(const std::string& path) {
        const auto answer = client_->Get(path);
        if (!answer) {
            ADD_FAILURE() << path << ": no answer";
            return json();
        }
        EXPECT_EQ(answer->status, 200) << path << ": " << answer->body;
        return json::parse(answer->body, nullptr, false);
    }
    /// The model names of one list of an answer.
    static std::vector<std::string> names(const json& list) {
        std::vector<std::string> out;
        for (const auto& entry : list) out.push_back(entry["model"].get<std::string>());
        return out;
    }
};

TEST_F(PaginationTest, PredictionPagesInCatalogOrderAddUpToTheWholeList) {
    const json whole = get("/api/warmup/predictions");
    ASSERT_EQ(whole["predictions"].size(), kModels);
    EXPECT_TRUE(whole["next_after"].is_null()) << "the unpaginated answer is complete";
    std::vector<std::string> expected;
    for (int i = 0; i < kModels; ++i) expected.push_back(model_name(i));
    EXPECT_EQ(names(whole["predictions"]), expected) << "catalog order: the order the daemon first saw the models";

    const json first = get("/api/warmup/predictions?limit=10");
    EXPECT_EQ(names(first["predictions"]), std::vector<std::string>(expected.begin(), expected.begin() + 10));
    EXPECT_EQ(first["next_after"], "m/9");
    const json second = get("/api/warmup/predictions?limit=10&after=m/9");
    EXPECT_EQ(names(second["predictions"]), std::vector<std::string>(expected.begin() + 10, expected.begin() + 20));
    EXPECT_EQ(second["next_after"], "m/19");
    const json last = get("/api/warmup/predictions?limit=10&after=m/19");
    EXPECT_EQ(names(last["predictions"]), std::vector<std::string>(expected.begin() + 20, expected.end()));
    EXPECT_TRUE(last["next_after"].is_null()) << last.dump(2);

    // A page's entries are the whole list's entries (same fields), not a reduced form.
    EXPECT_EQ(first["predictions"][3]["model"], whole["predictions"][3]["model"]);
    EXPECT_EQ(first["predictions"][3].size(), whole["predictions"][3].size());
    // `after` alone: the rest of the list.
    EXPECT_EQ(get("/api/warmup/predictions?after=m/21")["predictions"].size(), 3u);
}

TEST_F(PaginationTest, AModelFirstSeenBetweenTwoPagesIsListedOnceOnALaterPage) {
    std::vector<std::string> walked;
    json page = get("/api/warmup/predictions?limit=7");
    for (const auto& name : names(page["predictions"])) walked.push_back(name);
    post_models(kModels, kModels + 1);  // m/25, new: appended after every model the daemon knew
    ASSERT_TRUE(poll_until([&] { return get("/api/warmup/predictions")["predictions"].size() == kModels + 1; }, 10s));
    int pages = 1;
    while (!page["next_after"].is_null() && pages < 20) {
        page = get("/api/warmup/predictions?limit=7&after=" + page["next_after"].get<std::string>());
        for (const auto& name : names(page["predictions"])) walked.push_back(name);
        ++pages;
    }
    std::vector<std::string> expected;
    for (int i = 0; i <= kModels; ++i) expected.push_back(model_name(i));
    EXPECT_EQ(walked, expected);
    EXPECT_EQ(pages, 4);  // 7 + 7 + 7 + 5
}

TEST_F(PaginationTest, StatusPagesListTheWarmModelsOnceAndKeepTheTotalsOnEveryPage) {
    const json whole = get("/api/warmup/status");
    ASSERT_EQ(whole["warm"].size(), kModels);
    EXPECT_TRUE(whole["next_after"].is_null());

    std::vector<std::string> walked;
    json page = get("/api/warmup/status?limit=12");
    int pages = 1;
    while (true) {
        EXPECT_LE(page["warm"].size() + page["loading"].size() + page["queued"].size(), 12u);
        EXPECT_EQ(page["used_mb"], whole["used_mb"]) << "totals cover every model, not the page";
        EXPECT_EQ(page["counters"]["demand_loads"], whole["counters"]["demand_loads"]);
        for (const auto& name : names(page["warm"])) walked.push_back(name);
        if (page["next_after"].is_null() || pages == 10) break;
        page = get("/api/warmup/status?limit=12&after=" + page["next_after"].get<std::string>());
        ++pages;
    }
    EXPECT_EQ(walked, names(whole["warm"]));
    EXPECT_EQ(pages, 3);  // 12 + 12 + 1
    EXPECT_EQ(get("/api/warmup/status?limit=25")["next_after"], nullptr) << "a page that holds the rest is the last";
}

TEST_F(PaginationTest, BadLimitOrCursorIsA400NamingTheParameter) {
    for (const std::string endpoint : {"/api/warmup/predictions", "/api/warmup/status"}) {
        for (const std::string query :
             {"?limit=0", "?limit=-1", "?limit=ten", "?limit=10001", "?limit=5x", "?limit=", "?limit=2&limit=3"}) {
            const auto answer = client_->Get(endpoint + query);
            ASSERT_TRUE(answer);
            EXPECT_EQ(answer->status, 400) << endpoint << query;
            const json body = json::parse(answer->body, nullptr, false);
            EXPECT_TRUE(body.contains("error") && body["error"].get<std::string>().starts_with("limit: "))
                << endpoint << query << ": " << answer->body;
        }
        for (const std::string query : {"?after=", "?after=no-such-model", "?limit=5&after=m/999"}) {
            const auto answer = client_->Get(endpoint + query);
            ASSERT_TRUE(answer);
            EXPECT_EQ(answer->status, 400) << endpoint << query;
            const json body = json::parse(answer->body, nullptr, false);
            EXPECT_TRUE(body.contains("error") && body["error"].get<std::string>().starts_with("after: "))
                << endpoint << query << ": " << answer->body;
        }
        // The largest limit is accepted.
        const auto largest = client_->Get(endpoint + "?limit=10000");
        ASSERT_TRUE(largest);
        EXPECT_EQ(largest->status, 200) << largest->body;
    }
}

TEST_F(PaginationTest, AQueryParameterTheEndpointDoesNotTakeIsA400NamingItAndWhatItTakes) {
    // A typo must not be ignored: "?modle=x" would otherwise answer for every model.
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/api/warmup/predictions?lmit=5",
         "unknown query parameter 'lmit' (this endpoint takes limit, after, soonest, within_ms)"},
        {"/api/warmup/status?limit=5&foo=1",
         "unknown query parameter 'foo' (this endpoint takes limit, after, per_state)"},
        {"/api/warmup/status?soonest=5",
         "unknown query parameter 'soonest' (this endpoint takes limit, after, per_state)"},
        {"/api/warmup/predictions?per_state=5",
         "unknown query parameter 'per_state' (this endpoint takes limit, after, soonest, within_ms)"},
        {"/api/warmup/decisions?modle=m/1&limit=1",
         "unknown query parameter 'modle' (this endpoint takes limit, model, arm)"},
        {"/api/warmup/history?since=0", "unknown query parameter 'since' (this endpoint takes since_ms, until_ms)"},
    };
    for (const auto& [target, expected] : cases) {
        const auto answer = client_->Get(target);
        ASSERT_TRUE(answer) << target;
        EXPECT_EQ(answer->status, 400) << target << ": " << answer->body;
        const json body = json::parse(answer->body, nullptr, false);
        EXPECT_EQ(body.value("error", ""), expected) << target;
    }
    // The parameters each takes are still taken.
    for (const std::string target :
         {"/api/warmup/predictions?limit=1", "/api/warmup/decisions?limit=1", "/api/warmup/history?since_ms=0"}) {
        const auto answer = client_->Get(target);
        ASSERT_TRUE(answer) << target;
        EXPECT_EQ(answer->status, 200) << target << ": " << answer->body;
    }
}

/// The first of an entry's predicted next use, planned pre-warm and planned unload within [from, to] (-1: none).
int64_t first_event_within(const json& entry, int64_t from, int64_t to) {
    int64_t first = -1;
    for (const char* field : {"next_arrival_ms", "planned_warm_start_at_ms", "planned_unload_at_ms"}) {
        if (!entry.contains(field) || !entry[field].is_number()) continue;
        const int64_t at = entry[field].get<int64_t>();
        if (at >= from && at <= to && (first < 0 || at < first)) first = at;
    }
    return first;
}

TEST_F(PaginationTest, SoonestSelectsTheModelsWhoseNextEventIsSoonestSortedByThatTimeWithTheTotal) {
    // Ten more models, each last used 100 ms before the one before it (all within the request window, so each is a
    // request that loads it): m/109 the longest ago, so its planned unload (a day after its last use, keep-alive)
    // comes before those of m/108 ... m/100.
    const int64_t now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::string body;
    for (int i = 0; i < 10; ++i)
        body += json{{"model", "m/" + std::to_string(100 + i)}, {"ts_ms", now - (i + 1) * 100}}.dump() + "\n";
    const auto posted = client_->Post("/api/warmup/events", body, "application/x-ndjson");
    ASSERT_TRUE(posted);
    ASSERT_EQ(posted->status, 200) << posted->body;
    ASSERT_TRUE(poll_until([&] { return get("/api/warmup/status")["warm"].size() == kModels + 10; }, 30s, 20ms))
        << get("/api/warmup/status").dump(2);

    const std::string two_days = std::to_string(2 * 86'400'000);
    const json whole = get("/api/warmup/predictions");
    const json five = get("/api/warmup/predictions?soonest=5&within_ms=" + two_days);
    ASSERT_EQ(five["predictions"].size(), 5u) << five.dump(2);
    EXPECT_EQ(five["total"], kModels + 10) << "every model has its planned unload within two days";
    EXPECT_EQ(five["within_ms"], 2 * 86'400'000);
    EXPECT_TRUE(five["next_after"].is_null()) << "a selection, not a page";
    // The entries are the list's entries (same fields).
    EXPECT_EQ(five["predictions"][0].size(), whole["predictions"][0].size());

    // All of them: sorted by their first event within the window, ties in catalog order; nothing listed twice.
    const json all = get("/api/warmup/predictions?soonest=100&within_ms=" + two_days);
    ASSERT_EQ(all["predictions"].size(), kModels + 10u) << all.dump(2);
    EXPECT_EQ(all["total"], kModels + 10);
    const int64_t from = all["now_ms"].get<int64_t>();
    int64_t previous = 0;
    std::set<std::string> seen;
    for (const json& entry : all["predictions"]) {
        const int64_t at = first_event_within(entry, from, from + 2 * 86'400'000);
        EXPECT_GE(at, previous) << entry.dump();
        previous = at;
        EXPECT_TRUE(seen.insert(entry["model"].get<std::string>()).second) << entry["model"];
    }
    const std::vector<std::string> order = names(all["predictions"]);
    EXPECT_EQ(std::vector<std::string>(order.begin(), order.begin() + 5), names(five["predictions"]))
        << "the five soonest are the first five of the whole selection";
    std::vector<std::string> later_models;
    for (const std::string& name : order)
        if (name.size() == 5 && name.starts_with("m/10")) later_models.push_back(name);
    EXPECT_EQ(later_models, (std::vector<std::string>{"m/109", "m/108", "m/107", "m/106", "m/105", "m/104", "m/103",
                                                      "m/102", "m/101", "m/100"}));

    // The default window is the next hour: only models with an event in it are listed, and counted.
    const json hour = get("/api/warmup/predictions?soonest=5");
    EXPECT_EQ(hour["within_ms"], 3'600'000);
    for (const json& entry : hour["predictions"])
        EXPECT_GE(first_event_within(entry, hour["now_ms"].get<int64_t>(), hour["now_ms"].get<int64_t>() + 3'600'000),
                  0)
            << entry.dump();
    EXPECT_LE(hour["total"].get<std::size_t>(), kModels + 10u);
    EXPECT_EQ(hour["predictions"].size(), std::min<std::size_t>(5, hour["total"].get<std::size_t>()));

    // Without the new parameters the answer is the one current clients read: the whole list, no total.
    EXPECT_EQ(whole["predictions"].size(), kModels + 10u);
    EXPECT_FALSE(whole.contains("total"));
}

TEST_F(PaginationTest, PerStateListsTheFirstModelsOfEachListAndTheStatusCountsEveryModel) {
    const json whole = get("/api/warmup/status");
    EXPECT_EQ(whole["warm_count"], kModels);
    EXPECT_EQ(whole["loading_count"], 0);
    EXPECT_EQ(whole["queued_count"], 0);
    EXPECT_DOUBLE_EQ(whole["warm_mb"].get<double>(), 100.0 * kModels);
    const json bounded = get("/api/warmup/status?per_state=10");
    const std::vector<std::string> all_warm = names(whole["warm"]);
    EXPECT_EQ(names(bounded["warm"]), std::vector<std::string>(all_warm.begin(), all_warm.begin() + 10));
    EXPECT_EQ(bounded["warm_count"], kModels) << "the counts cover every model, not the listed ones";
    EXPECT_EQ(bounded["used_mb"], whole["used_mb"]);
    EXPECT_TRUE(bounded["next_after"].is_null());
    // A page of the paginated list also counts every model.
    EXPECT_EQ(get("/api/warmup/status?limit=3")["warm_count"], kModels);
}

TEST_F(PaginationTest, BadSelectionIsA400NamingTheParameter) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/api/warmup/predictions?soonest=0", "soonest: "},
        {"/api/warmup/predictions?soonest=ten", "soonest: "},
        {"/api/warmup/predictions?soonest=10001", "soonest: "},
        {"/api/warmup/predictions?soonest=", "soonest: "},
        {"/api/warmup/predictions?soonest=5&soonest=6", "soonest: "},
        {"/api/warmup/predictions?soonest=5&limit=5", "soonest: "},
        {"/api/warmup/predictions?soonest=5&after=m/1", "soonest: "},
        {"/api/warmup/predictions?soonest=5&within_ms=0", "within_ms: "},
        {"/api/warmup/predictions?soonest=5&within_ms=-1", "within_ms: "},
        {"/api/warmup/predictions?soonest=5&within_ms=1h", "within_ms: "},
        {"/api/warmup/predictions?soonest=5&within_ms=604800001", "within_ms: "},
        {"/api/warmup/predictions?within_ms=60000", "within_ms: "},
        {"/api/warmup/status?per_state=0", "per_state: "},
        {"/api/warmup/status?per_state=x", "per_state: "},
        {"/api/warmup/status?per_state=10001", "per_state: "},
        {"/api/warmup/status?per_state=5&limit=5", "per_state: "},
        {"/api/warmup/status?per_state=5&after=m/1", "per_state: "},
    };
    for (const auto& [target, prefix] : cases) {
        const auto answer = client_->Get(target);
        ASSERT_TRUE(answer) << target;
        EXPECT_EQ(answer->status, 400) << target << ": " << answer->body;
        const json body = json::parse(answer->body, nullptr, false);
        EXPECT_TRUE(body.contains("error") && body["error"].get<std::string>().starts_with(prefix))
            << target << ": " << answer->body;
    }
    for (const std::string target : {"/api/warmup/predictions?soonest=10000&within_ms=604800000",
                                     "/api/warmup/predictions?soonest=1", "/api/warmup/status?per_state=10000"}) {
        const auto answer = client_->Get(target);
        ASSERT_TRUE(answer) << target;
        EXPECT_EQ(answer->status, 200) << target << ": " << answer->body;
    }
}

}  // namespace
