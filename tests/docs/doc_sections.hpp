// doc_sections.hpp — named sections of the user's manual (README.md and docs/*.md) and their ```sh blocks, for the
// tests that run those commands as written.
//
// Each test names the sections it runs in a small table of {file, heading}; the file is relative to the source tree
// (WARMUP_TEST_SOURCE_DIR). A section is its heading line and everything up to the next heading of the same or a
// higher level, so a "## " section keeps its "### " subsections. Lines inside ``` fences are never headings (a shell
// comment "# ..." is not a title). Header-only; no state.
#pragma once

#include <cstddef>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace warmup::test::docs {

/// One section of one page: `file` relative to the source tree, `heading` the whole heading line ("## Fleet").
struct DocSection {
    std::string file;
    std::string heading;
};

/// The text of a file of the source tree ("" when it cannot be read).
inline std::string read_source_file(const std::string& relative_path) {
    return read_text_file(std::string(WARMUP_TEST_SOURCE_DIR) + "/" + relative_path);
}

/// The level of a Markdown heading line ("## x" -> 2), or 0 when the line is not a heading.
inline int heading_level(const std::string& line) {
    std::size_t hashes = 0;
    while (hashes < line.size() && line[hashes] == '#') ++hashes;
    if (hashes == 0 || hashes > 6 || hashes >= line.size() || line[hashes] != ' ') return 0;
    return static_cast<int>(hashes);
}

/// True for a line that opens or closes a fenced code block.
inline bool is_fence(const std::string& line) { return line.rfind("```", 0) == 0; }

/// The text of the section whose heading line is exactly `heading` in `page`, or nullopt when there is none.
inline std::optional<std::string> section_text(const std::string& page, const std::string& heading) {
    const int level = heading_level(heading);
    std::istringstream lines(page);
    std::string line, text;
    bool inside = false, in_fence = false;
    while (std::getline(lines, line)) {
        if (!in_fence) {
            const int this_level = heading_level(line);
            if (inside && this_level != 0 && this_level <= level) break;
            if (!inside && line == heading) inside = true;
        }
        if (is_fence(line)) in_fence = !in_fence;
        if (inside) text += line + "\n";
    }
    if (!inside) return std::nullopt;
    return text;
}

/// The section `section` of its page, read from the source tree, or nullopt when the page has no such heading.
inline std::optional<std::string> section_text(const DocSection& section) {
    return section_text(read_source_file(section.file), section.heading);
}

/// The bodies of the ```sh blocks of `text`, in order, each ending with a newline.
inline std::vector<std::string> shell_blocks(const std::string& text) {
    std::vector<std::string> blocks;
    std::istringstream lines(text);
    std::string line, body;
    bool in_sh = false, in_other = false;
    while (std::getline(lines, line)) {
        if (in_sh) {
            if (is_fence(line)) {
                blocks.push_back(body);
                body.clear();
                in_sh = false;
            } else {
                body += line + "\n";
            }
        } else if (is_fence(line)) {
            if (in_other)
                in_other = false;
            else if (line == "```sh")
                in_sh = true;
            else
                in_other = true;
        }
    }
    return blocks;
}

}  // namespace warmup::test::docs
