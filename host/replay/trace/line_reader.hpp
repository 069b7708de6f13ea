// replay/trace/line_reader.hpp — buffered line reading and field parsing shared by the trace readers (internal).
//
// LineReader reads a file in large blocks with fread and hands out lines as string_views into its buffer: no
// allocation per line, no iostream. A view stays valid until the next call to next(). Not thread-safe.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "replay/trace/trace.hpp"

namespace warmup::host::replay {

class LineReader {
  public:
    /// Opens `path`; `source` names the file in error messages. Throws TraceError when it cannot be opened.
    LineReader(const std::filesystem::path& path, std::string source, std::size_t buffer_bytes = std::size_t{1} << 20);

    /// The next line without its "\n" or "\r\n"; false at the end of the file. The view is valid until the next call.
    bool next(std::string_view& line);

    /// 1-based number of the line last returned (0 before the first).
    [[nodiscard]] uint64_t line_number() const noexcept { return line_number_; }
    [[nodiscard]] const std::string& source() const noexcept { return source_; }

    /// Throws TraceError "<source>:<line>: <reason>" about the line last returned.
    [[noreturn]] void fail(const std::string& reason) const;

  private:
    struct FileCloser {
        void operator()(std::FILE* file) const noexcept { std::fclose(file); }
    };

    void refill();

    std::unique_ptr<std::FILE, FileCloser> file_;
    std::string source_;
    std::vector<char> buffer_;
    std::size_t begin_ = 0;  // first unread byte
    std::size_t end_ = 0;    // one past the last valid byte
    bool at_eof_ = false;
    uint64_t line_number_ = 0;
};

/// Splits `line` at ',' into `fields` and returns the number of fields found. When the line has more fields than
/// fields.size(), returns fields.size() + 1 and leaves the extra text in no field.
std::size_t split_fields(std::string_view line, std::span<std::string_view> fields) noexcept;

/// The whole of `text` as an integer of type T (decimal, optional leading '-' for signed types).
template <typename T>
bool parse_integer(std::string_view text, T& out) noexcept {
    if (text.empty()) return false;
    const char* last = text.data() + text.size();
    const auto [end, error] = std::from_chars(text.data(), last, out);
    return error == std::errc() && end == last;
}

/// The whole of `text` as a finite double.
inline bool parse_double(std::string_view text, double& out) noexcept {
    if (text.empty()) return false;
    const char* last = text.data() + text.size();
    const auto [end, error] = std::from_chars(text.data(), last, out);
    return error == std::errc() && end == last && std::isfinite(out);
}

// Factories behind open_trace (one per format), each in its own .cpp. Paths are already resolved.
std::unique_ptr<TraceReader> open_csv_trace(const std::filesystem::path& path, ModelNames& models, ModelNames& tenants);
std::unique_ptr<TraceReader> open_servegen_trace(const std::filesystem::path& directory, ModelNames& models,
                                                 uint64_t seed, ServeGenPhase phase);
std::unique_ptr<TraceReader> open_azure2019_trace(const std::filesystem::path& path, ModelNames& models,
                                                  ModelNames& tenants, uint64_t seed);
std::unique_ptr<TraceReader> open_journal_trace(const std::filesystem::path& dir, ModelNames& models,
                                                ModelNames& tenants);
/// merge() with a description of the caller's choosing (the servegen reader names the directory).
std::unique_ptr<TraceReader> merge_described(std::vector<std::unique_ptr<TraceReader>> sources,
                                             std::string description);

}  // namespace warmup::host::replay
