// Every relative link of the user's manual points somewhere. In README.md, docs/*.md and the other Markdown pages of
// the source tree (plugins, sdk, plugin-api, tests, configs, packaging, host), each [text](target), ![alt](target) and
// reference definition "[name]: target" outside code must name a file or folder that exists, relative to its page,
// and a #anchor must name a heading of the Markdown page it points to (or of the same page), as GitHub derives
// anchors from headings. Links with a scheme (https:, mailto:) are not followed. The checker is tested on a page with
// known broken links first, so it is shown to fail where it should.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "doc_sections.hpp"
#include "test_support.hpp"

namespace warmup::test::docs {
namespace {

namespace fs = std::filesystem;

/// The next UTF-8 code point of `text` at `at` (advanced past it); a malformed byte is returned as itself.
char32_t next_code_point(const std::string& text, std::size_t& at) {
    const auto byte = static_cast<unsigned char>(text[at++]);
    const int extra = byte >= 0xF0 ? 3 : byte >= 0xE0 ? 2 : byte >= 0xC0 ? 1 : 0;
    char32_t code = extra == 3 ? byte & 0x07 : extra == 2 ? byte & 0x0F : extra == 1 ? byte & 0x1F : byte;
    for (int i = 0; i < extra && at < text.size(); ++i)
        code = (code << 6) | (static_cast<unsigned char>(text[at++]) & 0x3F);
    return code;
}

/// Punctuation and symbols beyond ASCII that GitHub drops from an anchor (it keeps letters, marks, digits, '_', '-'
/// and turns spaces into '-'): Latin-1 punctuation and signs, general punctuation (dashes, quotes, the ellipsis),
/// arrows and mathematical operators. Other code points are taken as letters.
bool is_dropped_symbol(char32_t code) {
    return (code >= 0xA0 && code <= 0xBF) || code == 0xD7 || code == 0xF7 || (code >= 0x2000 && code <= 0x206F) ||
           (code >= 0x2190 && code <= 0x22FF);
}

/// The anchor GitHub gives a heading: its rendered text (links without their targets, HTML entities decoded),
/// lower-cased, punctuation dropped, spaces made '-'.
std::string anchor_of(std::string heading) {
    static const std::regex kLink(R"(\[([^\]]*)\]\([^)]*\))");
    heading = std::regex_replace(heading, kLink, "$1");
    for (const auto& [entity, character] : {std::pair{"&lt;", "<"}, std::pair{"&gt;", ">"}, std::pair{"&quot;", "\""},
                                            std::pair{"&#39;", "'"}, std::pair{"&amp;", "&"}})
        heading = std::regex_replace(heading, std::regex(entity), character);
    std::string anchor;
    for (std::size_t at = 0; at < heading.size();) {
        const std::size_t start = at;
        const char32_t code = next_code_point(heading, at);
        if (code < 0x80) {
            const char c = static_cast<char>(code);
            if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')
                anchor += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            else if (c == ' ')
                anchor += '-';
        } else if (!is_dropped_symbol(code)) {
            anchor += heading.substr(start, at - start);
        }
    }
    return anchor;
}

/// The anchors of every heading of a Markdown page (outside code fences); a repeated anchor gets "-1", "-2", ...
std::set<std::string> anchors_of(const std::string& page) {
    std::set<std::string> anchors;
    std::istringstream lines(page);
    std::string line;
    bool in_fence = false;
    while (std::getline(lines, line)) {
        if (is_fence(line)) in_fence = !in_fence;
        const int level = in_fence ? 0 : heading_level(line);
        if (level == 0) continue;
        const std::string anchor = anchor_of(line.substr(static_cast<std::size_t>(level) + 1));
        std::string unique = anchor;
        for (int n = 1; anchors.count(unique) != 0; ++n) unique = anchor + "-" + std::to_string(n);
        anchors.insert(unique);
    }
    return anchors;
}

/// `page` with the lines of code fences and the inline code spans blanked (line breaks kept, so positions still
/// give line numbers): what is left is text whose links a reader can follow.
std::string without_code(const std::string& page) {
    std::string prose;
    std::istringstream lines(page);
    std::string line;
    bool in_fence = false;
    static const std::regex kInlineCode("`[^`\n]*`");
    while (std::getline(lines, line)) {
        const bool fence = is_fence(line);
        if (fence) in_fence = !in_fence;
        prose += (fence || in_fence) ? "" : std::regex_replace(line, kInlineCode, "``");
        prose += "\n";
    }
    return prose;
}

struct BrokenLink {
    std::string page;  // relative to the checked root
    int line = 0;
    std::string target;
    std::string reason;
};

std::ostream& operator<<(std::ostream& out, const BrokenLink& link) {
    return out << link.page << ":" << link.line << ": (" << link.target << ") " << link.reason;
}

/// The relative links of `pages` (paths below `root`) that name no existing file or folder, or no heading.
std::vector<BrokenLink> broken_links(const fs::path& root, const std::vector<fs::path>& pages) {
    // [text](target "title"), ![alt](target), and reference definitions "[name]: target".
    // A link's text stays on one line (none of the pages breaks one), which also bounds how far std::regex searches.
    static const std::regex kInline(R"(\[(?:[^\[\]\n]|\[[^\]\n]*\])*\]\([ \t]*([^()\s]*)(?:[ \t]+"[^"\n]*")?[ \t]*\))");
    static const std::regex kDefinition(R"((?:^|\n) {0,3}\[[^\]\n]+\]:[ \t]*(\S+))");
    static const std::regex kScheme("^[A-Za-z][A-Za-z0-9+.-]*:");
    std::vector<BrokenLink> broken;
    for (const fs::path& page : pages) {
        const std::string prose = without_code(read_text_file(root / page));
        std::vector<std::pair<std::size_t, std::string>> links;  // position, target
        for (const std::regex* pattern : {&kInline, &kDefinition})
            for (std::sregex_iterator it(prose.begin(), prose.end(), *pattern), last; it != last; ++it)
                links.emplace_back(static_cast<std::size_t>(it->position(1)), (*it)[1].str());
        for (const auto& [position, target] : links) {
            if (std::regex_search(target, kScheme)) continue;
            const int line = 1 + static_cast<int>(std::count(prose.begin(), prose.begin() + position, '\n'));
            const auto hash = target.find('#');
            const std::string path = target.substr(0, hash);
            const std::string anchor = hash == std::string::npos ? "" : target.substr(hash + 1);
            const fs::path file = path.empty() ? root / page : (root / page).parent_path() / path;
            if (target.empty()) {
                broken.push_back({page.string(), line, target, "empty link"});
            } else if (!fs::exists(file)) {
                broken.push_back({page.string(), line, target, "no such file or folder"});
            } else if (!anchor.empty() && file.extension() == ".md" &&
                       anchors_of(read_text_file(file)).count(anchor) == 0) {
                broken.push_back({page.string(), line, target, "no heading with this anchor"});
            }
        }
    }
    return broken;
}

/// The Markdown pages of the manual and of the source tree: README.md, docs/, and every *.md below the folders a
/// reader browses (build folders excluded), relative to the source tree.
std::vector<fs::path> manual_pages(const fs::path& root) {
    std::vector<fs::path> pages{"README.md"};
    for (const char* folder : {"docs", "plugins", "sdk", "plugin-api", "tests", "configs", "packaging", "host"}) {
        if (!fs::exists(root / folder)) continue;
        for (auto it = fs::recursive_directory_iterator(root / folder); it != fs::recursive_directory_iterator();
             ++it) {
            if (it->is_directory() && it->path().filename().string().rfind("build", 0) == 0) {
                it.disable_recursion_pending();
                continue;
            }
            if (it->is_regular_file() && it->path().extension() == ".md")
                pages.push_back(fs::relative(it->path(), root));
        }
    }
    std::sort(pages.begin(), pages.end());
    return pages;
}

TEST(DocLinks, AnchorsFollowGitHubsRule) {
    EXPECT_EQ(anchor_of("Why was my model cold?"), "why-was-my-model-cold");
    EXPECT_EQ(anchor_of("Hot-swap and live A/B experiments"), "hot-swap-and-live-ab-experiments");
    EXPECT_EQ(anchor_of("HTTP API (127.0.0.1:3000 by default; `--port 0` picks a free port and logs it)"),
              "http-api-1270013000-by-default---port-0-picks-a-free-port-and-logs-it");
    EXPECT_EQ(anchor_of("`components.<slot>`"), "componentsslot");
    EXPECT_EQ(anchor_of("components.&lt;slot&gt;"), "componentsslot");  // the rendered text counts
    EXPECT_EQ(anchor_of("Plugin author's quick start"), "plugin-authors-quick-start");
    EXPECT_EQ(anchor_of("warmup-host — load models"), "warmup-host--load-models");
    EXPECT_EQ(anchor_of("Offline: warmup-replay --nodes"), "offline-warmup-replay---nodes");
    EXPECT_EQ(anchors_of("# A\n## A\n```sh\n# A\n```\n## B_c\n"), (std::set<std::string>{"a", "a-1", "b_c"}));
}

TEST(DocLinks, TheCheckerFindsAMissingFileAndAMissingHeadingAndNothingElse) {
    TempDir dir("doc-links");
    dir.write("other.md", "# Other\n\n## A heading\n");
    std::filesystem::create_directory(dir.path() / "folder");
    dir.write("page.md",
              "# Page\n"
              "[fine](other.md), [also fine](other.md#a-heading), [here](#page), [a folder](folder/),\n"
              "![image](missing.png) and [web](https://example.invalid/missing.md)\n"
              "[gone](other.md#no-such-heading)\n"
              "```sh\n"
              "[not a link](inside-code.md)\n"
              "```\n"
              "`[not a link either](in-inline-code.md)` [nowhere](#nowhere)\n"
              "[ref]: missing-reference.md\n");
    const auto broken = broken_links(dir.path(), {"page.md", "other.md"});
    std::ostringstream found;
    for (const auto& link : broken) found << link << "\n";
    ASSERT_EQ(broken.size(), 4u) << found.str();
    EXPECT_EQ(broken[0].target, "missing.png");
    EXPECT_EQ(broken[0].line, 3);
    EXPECT_EQ(broken[1].target, "other.md#no-such-heading");
    EXPECT_EQ(broken[1].reason, "no heading with this anchor");
    EXPECT_EQ(broken[2].target, "#nowhere");
    EXPECT_EQ(broken[2].line, 8);
    EXPECT_EQ(broken[3].target, "missing-reference.md");
}

TEST(DocLinks, EveryRelativeLinkOfTheManualResolves) {
    const fs::path root = WARMUP_TEST_SOURCE_DIR;
    const auto pages = manual_pages(root);
    ASSERT_GE(pages.size(), 10u);
    const auto broken = broken_links(root, pages);
    std::ostringstream found;
    for (const auto& link : broken) found << link << "\n";
    EXPECT_TRUE(broken.empty()) << broken.size() << " broken link(s):\n" << found.str();
}

TEST(DocLinks, TheReadmesDocumentationSectionLinksEveryDocsPage) {
    const auto section = section_text(DocSection{"README.md", "## Documentation"});
    ASSERT_TRUE(section.has_value()) << "README.md has no '## Documentation' section";
    for (const auto& entry : fs::directory_iterator(fs::path(WARMUP_TEST_SOURCE_DIR) / "docs")) {
        if (entry.path().extension() != ".md") continue;
        const std::string link = "](docs/" + entry.path().filename().string() + ")";
        EXPECT_NE(section->find(link), std::string::npos) << "README.md's Documentation section does not link "
                                                          << "docs/" << entry.path().filename().string();
    }
}

}  // namespace
}  // namespace warmup::test::docs
