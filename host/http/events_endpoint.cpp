// http/events_endpoint.cpp — POST /api/warmup/events: a body of usage events (http/event_parser.hpp) into the ingest
// queue, each refused item named by its line or index with the reason (a JSON array that does not parse is one
// refusal of the whole body, without a line or item, its reason naming the byte). Status: 200 all accepted, 400 some
// refused for their content, 503 some refused because the ingest queue was full: those are the valid events from
// `retry_from` on (retry them).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "http/api_json.hpp"
#include "http/event_parser.hpp"
#include "http/http_api.hpp"

namespace warmup::host {
namespace {

using nlohmann::json;

/// Refusals of one events body, ordered by position: the first kMaxListedRejections are listed, the rest counted.
class RefusalList {
  public:
    explicit RefusalList(bool positions_are_items) : key_(positions_are_items ? "item" : "line") {}

    /// Adds the parser's refusals (already capped, in position order) and its count of unlisted ones.
    void add_parsed(const ParsedBody& body) {
        for (const auto& refusal : body.rejected) add(refusal.position, refusal.reason);
        total_ += body.unlisted_rejections;
    }
    void add(std::size_t position, std::string reason) {
        ++total_;
        // Keep the kMaxListedRejections lowest positions: parser refusals and later per-event refusals interleave.
        listed_.insert(std::upper_bound(listed_.begin(), listed_.end(), position,
                                        [](std::size_t p, const RejectedEvent& r) { return p < r.position; }),
                       RejectedEvent{position, std::move(reason)});
        if (listed_.size() > kMaxListedRejections) listed_.pop_back();
    }
    [[nodiscard]] bool empty() const noexcept { return total_ == 0; }
    [[nodiscard]] std::size_t total() const noexcept { return total_; }
    [[nodiscard]] const std::string& first_reason() const { return listed_.front().reason; }

    /// Into `answer`: "rejected" (the listed ones) and, when some are not listed, "rejected_not_listed".
    void write(json& answer) const {
        json list = json::array();
        for (const auto& refusal : listed_) {
            // A refusal of the whole body (an array that does not parse) names no item: its reason says where.
            json entry = json::object();
            if (refusal.position != kWholeBody) entry[key_] = refusal.position;
            entry["reason"] = refusal.reason;
            list.push_back(std::move(entry));
        }
        answer["rejected"] = std::move(list);
        if (total_ > listed_.size()) answer["rejected_not_listed"] = total_ - listed_.size();
    }

  private:
    const char* key_;
    std::vector<RejectedEvent> listed_;
    std::size_t total_ = 0;
};

}  // namespace

void HttpApi::post_events(const httplib::Request&, httplib::Response& response, const std::string& text) {
    const ParsedBody body = parse_events_body(text, 1 << 20, runtime_.clock().now_ms());
    RefusalList rejected(body.is_array);
    rejected.add_parsed(body);
    const warmup_time_ms now_ms = runtime_.clock().now_ms();
    // The body's valid events go to the runtime as one batch (one lock, at most one wake-up of the control loop),
    // so they reach the engines in one control-loop step: no timer, load completion or command runs between a
    // body's history lines and its requests.
    std::vector<warmup_usage_event> events;
    std::vector<std::size_t> positions;  // positions[i]: the line or item of events[i]
    events.reserve(body.events.size());
    positions.reserve(body.events.size());
    // Each catalog lookup takes the catalog's shared lock, which every HTTP worker contends for; a body names few
    // models, so the first kMaxRemembered distinct names are looked up once per body.
    constexpr std::size_t kMaxRemembered = 16;
    std::vector<std::pair<std::string_view, std::optional<warmup_model_index>>> looked_up;
    const auto resolve = [&](std::string_view name) {
        for (const auto& [known, index] : looked_up)
            if (known == name) return index;
        const auto index = runtime_.catalog().resolve(name, Catalog::Registration::within_limit);
        if (looked_up.size() < kMaxRemembered) looked_up.emplace_back(name, index);
        return index;
    };
    // A model first named by an event the queue then refuses must not join the catalog (it would be listed, planned
    // and kept in the state with nothing learned): the events past the room the queue has now are judged without
    // registering their model, and refused as the queue would refuse them. The room can shrink before try_ingest
    // (other posts), so at worst a model of an event refused there is registered. A fleet node's router has a
    // buffer of its own and is not asked.
    const std::size_t room = event_router_ ? std::numeric_limits<std::size_t>::max() : runtime_.ingest_room();
    const auto unknown_model = [&](std::string_view name) {
        if (runtime_.covered_only_at_next_start(name))
            return fmt::format(
                "unknown model '{}' (no entry of the catalog in force matches it; the catalog a reload read has one, "
                "which takes effect at the next restart)",
                name);
        return unknown_model_reason(runtime_.catalog(), name);
    };
    std::vector<std::size_t> past_room;  // positions of the valid events beyond the room, in order
    for (const auto& parsed : body.events) {
        if (events.size() >= room) {
            if (runtime_.catalog().covers(parsed.model))
                past_room.push_back(parsed.position);
            else
                rejected.add(parsed.position, unknown_model(parsed.model));
            continue;
        }
        const auto model = resolve(parsed.model);
        if (!model) {
            rejected.add(parsed.position, unknown_model(parsed.model));
            continue;
        }
        events.push_back(to_usage_event(parsed, *model, now_ms));
        positions.push_back(parsed.position);
    }
    // The queue takes a prefix of the batch when it is nearly full; the rest is refused, each event by position.
    // A router (the fleet) may refuse for a reason of its own: its buffer for other nodes' events is full.
    RoutedEvents routed;
    if (!events.empty()) routed = event_router_ ? event_router_(events) : RoutedEvents{runtime_.try_ingest(events), ""};
    const std::size_t accepted = routed.accepted;
    // The queue's refusals, in body order: the tail try_ingest did not take, then the events past the room.
    positions.erase(positions.begin(), positions.begin() + static_cast<std::ptrdiff_t>(accepted));
    positions.insert(positions.end(), past_room.begin(), past_room.end());
    const bool queue_full = !positions.empty();
    runtime_.count_invalid_events(rejected.total());  // before the queue's refusals are added
    if (queue_full) {
        if (!past_room.empty()) runtime_.count_refused_events(past_room.size());  // try_ingest counted its own
        const std::string reason =
            routed.refusal.empty() ? runtime_.ingest_refusal_reason(events.size() + past_room.size()) : routed.refusal;
        for (const std::size_t position : positions) rejected.add(position, reason);
    }
    if (!rejected.empty()) {
        const int64_t steady_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
                .count();
        if (uint64_t left_out = 0; refused_events_log_.admit(steady_ms, left_out))
            spdlog::warn("DATA_COLLECTION_ERROR {} of {} posted events refused (first: {}){}", rejected.total(),
                         rejected.total() + accepted, rejected.first_reason(), left_out_note(left_out));
    }
    const int status = rejected.empty() ? 200 : (queue_full ? 503 : 400);
    json answer{{"accepted", accepted}};
    rejected.write(answer);
    // The queue refuses a tail: every event from this line or item on that was not refused for its content. Sending
    // the body again from there later (its bad lines are refused again) loses and repeats nothing.
    if (queue_full) answer["retry_from"] = positions.front();
    reply(response, status, answer);
}

}  // namespace warmup::host
