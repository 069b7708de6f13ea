// replay/trace/journal_trace.cpp — `journal:DIR`: the event journal of a warmupd state folder as a trace, so a team can
// replay its own live traffic through other policies offline (runtime/state/journal.hpp has the format).
//
// Every segment of the folder is read in sequence order (segments hold disjoint events: each accepted event was
// journaled once), the events are kept in memory (one TraceEvent, 20 bytes, per event: the journal is in acceptance
// order, not time order, so it is sorted once at open) and produced in time order, ties in journal order. A torn or
// corrupt record ends its segment's reading with a warning (what was read before it is kept); a folder without a
// readable segment is a TraceError. Tenants are journaled as their 32-bit hash: the tenant is named by that hash in
// hex ("tenant-1a2b3c4d"), so a tenant split keeps tenants apart but draws other arms than the live daemon did.
// Thread-safety: none (a trace reader belongs to the replay thread).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "replay/trace/line_reader.hpp"
#include "runtime/state/journal.hpp"

namespace warmup::host::replay {
namespace {

class JournalTraceReader final : public TraceReader {
  public:
    JournalTraceReader(const std::filesystem::path& dir, ModelNames& models, ModelNames& tenants) : dir_(dir) {
        std::error_code error;
        if (!std::filesystem::is_directory(dir, error))
            throw TraceError("journal:" + dir.string(), 0, "not a folder (expected a warmupd state folder)");
        std::vector<RefusedSnapshot> refused;
        const auto segments = list_journal_segments(dir, &refused);
        for (const auto& bad : refused) {
            spdlog::warn("JOURNAL_TORN {}: {} (segment skipped)", bad.file.string(), bad.reason);
            ++torn_;
        }
        if (segments.empty())
            throw TraceError("journal:" + dir.string(), 0,
                             "no journal segment (journal-*.wjournal) that reads in this folder");
        JournalVisitor visitor;
        visitor.events = [&](std::span<const JournalEvent> events) {
            for (const JournalEvent& event : events) {
                const uint32_t tenant =
                    event.tenant_hash == 0 ? 0 : tenants.intern(fmt::format("tenant-{:08x}", event.tenant_hash));
                events_.push_back(
                    {event.ts_ms, models.intern(event.model), event.count == 0 ? 1 : event.count, tenant});
            }
        };
        for (const auto& segment : segments) {
            try {
                const JournalReadResult read = read_journal_segment(segment.file, visitor);
                if (read.torn) {
                    spdlog::warn("JOURNAL_TORN {}: {} at byte {}; the {} byte(s) after it skipped",
                                 segment.file.string(), read.torn_reason, read.torn_offset, read.skipped_bytes);
                    ++torn_;
                }
            } catch (const SnapshotError& failure) {
                spdlog::warn("JOURNAL_TORN {}: {} (segment skipped)", segment.file.string(), failure.what());
                ++torn_;
            }
        }
        segments_ = segments.size();
        std::stable_sort(events_.begin(), events_.end(),
                         [](const TraceEvent& a, const TraceEvent& b) { return a.ts_ms < b.ts_ms; });
    }

    bool next(TraceEvent& out) override {
        if (at_ >= events_.size()) {
            std::vector<TraceEvent>().swap(events_);  // done: give the memory back
            at_ = 0;
            return false;
        }
        out = events_[at_++];
        return true;
    }

    [[nodiscard]] std::string describe() const override {
        return fmt::format("journal:{} ({} segment(s){})", dir_.string(), segments_,
                           torn_ == 0 ? std::string() : fmt::format(", {} torn or unreadable part(s) skipped", torn_));
    }

  private:
    std::filesystem::path dir_;
    std::vector<TraceEvent> events_;
    std::size_t at_ = 0;
    std::size_t segments_ = 0;
    std::size_t torn_ = 0;
};

}  // namespace

std::unique_ptr<TraceReader> open_journal_trace(const std::filesystem::path& dir, ModelNames& models,
                                                ModelNames& tenants) {
    return std::make_unique<JournalTraceReader>(dir, models, tenants);
}

}  // namespace warmup::host::replay
