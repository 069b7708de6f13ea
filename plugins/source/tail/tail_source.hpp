// plugins/source/tail/tail_source.hpp — org.warmup.source.tail: follows a JSON-lines file (a gateway's access log:
// nginx or Envoy JSON logs, LiteLLM, an OpenAI-compatible proxy) and turns each line into one usage event.
//
// Each poll reads the lines written since the last one (at most kMaxBytesPerPoll; more waiting: polled again at once),
// parses them (json_line_fields.hpp) and hands the events to the host in order. A line that cannot be read is
// reported to the host (counted and logged there) and skipped, never fatal. Where it got to is committed line by line
// only once the host took the line: when the ingest queue is full the source stops there and offers the rest again.
// The committed position goes to <state folder>/position.json (written to a temporary file, synced, renamed) once it
// is kPositionLagMs old, and the latest one when the instance is destroyed (a stop, a reload); it is picked up at the
// first poll of the next instance: a restart or a reload reads on from there. The lag is for the host's event
// journal, which writes the events it took every 500 ms: a position saved at once could be ahead of the journal, and
// a crash then lost the lines in between. After a crash the lines of the last two seconds are read again.
//
// Threads: poll runs on the source's host thread; the constructor and destructor while it does not. No locks.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <warmup/sdk/plugin.hpp>

#include "followed_file.hpp"
#include "json_line_fields.hpp"

namespace warmup::plugins {

/// The position file's text, and back (nullopt when it is not one: the caller starts afresh).
std::string position_to_json(const FilePosition& position);
std::optional<FilePosition> position_from_json(std::string_view text);

class TailSource final : public sdk::Source {
  public:
    /// Bytes read in one poll at most before the host gets control back (cancel, other work).
    static constexpr std::size_t kMaxBytesPerPoll = 4 << 20;
    /// Wait before offering lines again after the ingest queue was full.
    static constexpr int64_t kQueueFullRetryMs = 200;
    /// A position is saved once it is this old (host clock): by then the host's journal holds its lines.
    static constexpr int64_t kPositionLagMs = 2000;

    /// Reads and checks the params (see README.md). Opens nothing: a missing file is a failed poll, not a refusal.
    TailSource(sdk::Host host, sdk::Params& params);

    /// Saves the latest position (the host has taken and journaled its lines by the time it destroys the source).
    ~TailSource() override;
    TailSource(const TailSource&) = delete;
    TailSource& operator=(const TailSource&) = delete;

    int64_t poll(sdk::SourcePoll& poll) override;

  private:
    void restore_position(const std::filesystem::path& state_dir);
    void save_position(const std::filesystem::path& state_dir, const FilePosition& position);
    /// Notes the position reached by a poll at now_ms and saves the latest one at least kPositionLagMs old.
    void keep_position(const std::filesystem::path& state_dir, int64_t now_ms);

    std::filesystem::path path_;
    LineFields fields_;
    int64_t poll_interval_ms_;
    std::size_t max_line_bytes_;
    FollowedFile file_;
    bool first_poll_ = true;
    std::optional<FilePosition> saved_;  // what position.json holds now
    std::filesystem::path state_dir_;    // the state folder of the polls ("" without one)
    /// Positions reached but not saved yet, oldest first, each with the host time it was reached at.
    std::deque<std::pair<int64_t, FilePosition>> unsaved_;
};

}  // namespace warmup::plugins
