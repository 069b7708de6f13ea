// engine/decision_log.hpp — what the engine decided about each model, why, and the numbers behind it.
//
// The engine reports every decision (pre-warm, demand load, keep, unload, evict, skip, retry, give up) to a
// DecisionSink when one is installed in its EngineOptions. The live runtime installs a DecisionLog (served by
// GET /api/warmup/decisions and `warmupctl why`); the replay installs none, so it pays one null-pointer test per
// decision point and its results do not depend on this file.
//
// DecisionLog guarantees:
//  - Bounded memory: one global ring of `capacity` entries (default kDefaultDecisionCapacity), allocated at
//    construction; the oldest entry is overwritten when it is full. An entry holds the facts and three small
//    numbers for its labels (the arm, the deciding and the planning plugin), each label text kept once in a table:
//    152 bytes an entry (x86-64), so 16384 entries take 2.4 MiB from the start, full or not. The label table grows
//    with the distinct labels ever recorded (one per arm and plugin version: a handful, a few more after reloads).
//  - A burst of "keep" decisions does not flood the ring: a keep of a model whose newest entry in its arm is a keep
//    by the same component updates that entry in place (its time and numbers become the newest, `repeats` counts
//    the merged decisions, `first_at_ms` keeps the first).
//  - A plugin's own words (Decision::plugin_says) are kept for the newest kPluginWordsKept entries that have them,
//    each cut at kPluginWordsBytes: at most about 250 KiB, allocated as they come.
//  - Thread safety: record() and newest() may be called from any thread; one mutex guards the ring (the control
//    thread records, HTTP threads read copies).
//
// Times are ms on the engine's clock (live: ms since the Unix epoch); memory in MiB.
#pragma once

#include <warmup/warmup.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace warmup::host {

enum class DecisionKind : uint8_t {
    Prewarm,     ///< a pre-warm load started (planned time reached, or an operator's restore of the warm set), or
                 ///< waits for memory being unloaded
    DemandLoad,  ///< a request found its model not ready: it waits for a load (cold), or waits for memory
    Keep,        ///< a plan for a ready model: keep it until `until_ms` (and pre-warm at `prewarm_at_ms`)
    Unload,      ///< idle past its planned unload time: unloaded
    Evict,       ///< removed by the resource plugin to make room (or because the budget shrank)
    Skip,        ///< a planned pre-warm (or its retry) that did not start (no room, refused, emergency stop, too late)
    Retry,       ///< a load failed; another attempt is planned at `until_ms`
    GiveUp,      ///< a load given up: its waiting requests fail
};
inline constexpr std::size_t kDecisionKinds = 8;

/// Stable lower-case name: "prewarm", "demand_load", "keep", "unload", "evict", "skip", "retry", "give_up".
[[nodiscard]] const char* decision_kind_name(DecisionKind kind) noexcept;

/// What one decision was, but for its three labels (the arm and the two plugins): its kind, model, times and numbers.
/// Numbers that do not apply are NEVER (times), NaN (probability) or WARMUP_NO_MODEL. The ring holds these and the
/// labels apart (see DecisionLog).
struct DecisionFacts {
    uint64_t seq = 0;  ///< set by the log: order of recording (1, 2, ...)
    warmup_time_ms at_ms = 0;
    warmup_time_ms first_at_ms = 0;  ///< merged keeps: the first one's time (= at_ms otherwise)
    uint32_t repeats = 1;            ///< merged keeps: how many
    warmup_model_index model = WARMUP_NO_MODEL;
    DecisionKind kind = DecisionKind::Keep;
    const char* reason = "";  ///< plain-language phrase without numbers; a string literal (static storage)
    // What the plan in force was based on (the model's last plan): the prediction.
    bool from_fallback_plan = false;  ///< the plan was the built-in keep-alive (a plugin call failed)
    warmup_time_ms predicted_next_use_ms = WARMUP_TIME_NEVER;
    double p_use = std::nan("");  ///< p(use within horizon) of that prediction
    warmup_time_ms horizon_ms = 0;
    // What was decided.
    warmup_time_ms until_ms = WARMUP_TIME_NEVER;       ///< keep: planned unload; retry: retry time; dropped retry:
                                                       ///< when the pre-warm's keep window ended
    warmup_time_ms prewarm_at_ms = WARMUP_TIME_NEVER;  ///< keep: planned pre-warm start after an unload
    warmup_model_index for_model = WARMUP_NO_MODEL;    ///< evict: the model whose load needed the room
    uint32_t attempt = 0;                              ///< retry / give up / dropped retry: failed attempts so far
    // Memory pressure when it was decided.
    double need_mb = 0;       ///< memory the load in question needs (0 when none)
    double used_mb = 0;       ///< loaded + loading + being unloaded, before this decision took effect
    double unloading_mb = 0;  ///< the part of used_mb whose unloads are not over yet (live)
    double budget_mb = 0;
};

/// One decision as the engine reports it and the log lists it: the facts and the labels.
struct Decision : DecisionFacts {
    std::string arm;         ///< the engine's experiment arm ("control" live)
    std::string decided_by;  ///< "<id>@<version>" of the plugin that decided, or "engine" / "built-in keep-alive"
    std::string planned_by;  ///< the predictor whose prediction was in force, "built-in keep-alive", "" = no plan yet
    /// The deciding plugin's own words, when it gave any: a resource plugin's reason for refusing a pre-warm or
    /// delaying a demand load (at most kPluginWordsBytes, cut there). "" otherwise.
    std::string plugin_says;
};

/// The longest `plugin_says` a log keeps; and how many of the newest entries with such words keep them (the words
/// are kept beside the ring, not in its entries, so the ring's size does not grow with them).
inline constexpr std::size_t kPluginWordsBytes = 240;
inline constexpr std::size_t kPluginWordsKept = 1024;

/// Where an engine reports decisions. Called on the engine's (control) thread.
class DecisionSink {
  public:
    virtual ~DecisionSink() = default;
    /// `decision` is borrowed for the call (the engine reuses it).
    virtual void record(const Decision& decision) = 0;
};

inline constexpr std::size_t kDefaultDecisionCapacity = 16384;

class DecisionLog final : public DecisionSink {
  public:
    /// `capacity` >= 1 entries.
    explicit DecisionLog(std::size_t capacity = kDefaultDecisionCapacity);

    /// [any thread] Appends `decision` (or merges a repeated keep into the model's newest entry).
    void record(const Decision& decision) override;

    /// [any thread] Up to `limit` entries, newest first (by time, then by recording order); only `model`'s when
    /// given, only `arm`'s when given.
    [[nodiscard]] std::vector<Decision> newest(std::optional<warmup_model_index> model, std::size_t limit,
                                               std::optional<std::string> arm = std::nullopt) const;

    /// [any thread] The arms that have recorded a decision since start, by first appearance (an arm a reload stopped
    /// stays listed while the ring may still hold its entries).
    [[nodiscard]] std::vector<std::string> arms() const;

    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    /// [any thread] Entries held now (<= capacity) and decisions recorded since start (merged keeps count).
    [[nodiscard]] std::size_t size() const;
    [[nodiscard]] uint64_t recorded() const;

  private:
    /// One ring entry: the facts, the arm as its index in arms_, the plugins as indexes in labels_.
    struct Entry {
        DecisionFacts facts;
        uint32_t arm = 0;
        uint32_t decided_by = 0;
        uint32_t planned_by = 0;
    };

    /// The ring slot of the entry with sequence number `seq`, if it is still held.
    [[nodiscard]] std::optional<std::size_t> slot_of(uint64_t seq) const noexcept;
    /// The index of `label` in labels_, added on first use. Caller holds mutex_.
    [[nodiscard]] uint32_t label_index(const std::string& label);
    /// The decision an entry stands for, labels written out. Caller holds mutex_.
    [[nodiscard]] Decision written_out(const Entry& entry) const;

    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::vector<Entry> ring_;  // capacity_ entries, allocated at construction; entry seq is ring_[seq % capacity_]
    uint64_t next_seq_ = 1;
    uint64_t recorded_ = 0;
    // Per arm (by first appearance) and model: the sequence number of that model's newest entry (0 = none). Grows
    // with the model indexes the engine uses (8 bytes a model and arm).
    std::vector<std::string> arms_;
    std::vector<std::vector<uint64_t>> newest_seq_;
    // The plugin labels recorded since start ("" is index 0: no plan yet), and each one's index.
    std::vector<std::string> labels_{std::string()};
    std::unordered_map<std::string, uint32_t> label_indexes_{{std::string(), 0}};
    // The plugins' own words of the newest entries that have any, by sequence number (increasing), at most
    // kPluginWordsKept.
    std::deque<std::pair<uint64_t, std::string>> plugin_words_;
};

}  // namespace warmup::host
