// plugins/source/tail/tail_source.hpp — org.warmup.source.tail: follows a JSON-lines file (a gateway's access log:
// nginx or Envoy JSON logs, LiteLLM, an OpenAI-compatible proxy) and turns each line into one usage event.
//
// Each poll reads the lines written since the last one (at most kMaxBytesPerPoll; more waiting: polled again at once),
// parses them (json_line_fields.hpp) and hands the events to the host in order. A line that cannot be read is
// reported to the host (counted and logged there) and skipped, never fatal. Where it got to is committed line by line
// only once the host took the line: when the ingest queue is full the source stops there and offers the rest again.
// The committed position goes to <state folder>/position.json after every poll that moved it (written to a temporary
// file, synced, renamed), and is picked up at the first poll of the next instance: a restart or a reload reads on
// from there. After a crash the lines of the last poll may be read twice.
//
// Threads: poll runs on the source's host thread; the constructor and destructor while it does not. No locks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
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

    /// Reads and checks the params (see README.md). Opens nothing: a missing file is a failed poll, not a refusal.
    TailSource(sdk::Host host, sdk::Params& params);

    int64_t poll(sdk::SourcePoll& poll) override;

  private:
    void restore_position(const std::filesystem::path& state_dir);
    void save_position(const std::filesystem::path& state_dir);

    std::filesystem::path path_;
    LineFields fields_;
    int64_t poll_interval_ms_;
    std::size_t max_line_bytes_;
    FollowedFile file_;
    bool first_poll_ = true;
    std::optional<FilePosition> saved_;  // what position.json holds now
};

}  // namespace warmup::plugins
