// The JSON log formatter (runtime/log_format.hpp): one object per line whatever the message holds, the stable code
// split off the message, UTC time stamps with milliseconds.
#include "runtime/log_format.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace warmup::host {
namespace {

using nlohmann::json;

/// Logs each message at `level` through a JsonLogFormatter and returns the lines written.
std::vector<std::string> json_lines(const std::vector<std::string>& messages,
                                    spdlog::level::level_enum level = spdlog::level::info) {
    std::ostringstream out;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    spdlog::logger logger("json-test", sink);
    logger.set_formatter(std::make_unique<JsonLogFormatter>());
    for (const std::string& message : messages) logger.log(level, "{}", message);
    logger.flush();
    std::vector<std::string> lines;
    std::istringstream text(out.str());
    for (std::string line; std::getline(text, line);) lines.push_back(line);
    return lines;
}

json only_line(const std::string& message, spdlog::level::level_enum level = spdlog::level::info) {
    const auto lines = json_lines({message}, level);
    EXPECT_EQ(lines.size(), 1u) << "a message must stay on one line";
    if (lines.empty()) return nullptr;
    const json parsed = json::parse(lines.front(), nullptr, false);
    EXPECT_TRUE(parsed.is_object()) << lines.front();
    return parsed;
}

TEST(TextLogFormat, TextFromOutsideCannotStartALineOfItsOwn) {
    // A model server's error body, logged in a message: its line feeds would start lines that read like the daemon's.
    std::ostringstream out;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    spdlog::logger logger("text-test", sink);
    logger.set_formatter(std::make_unique<OneLineFormatter>(std::make_unique<spdlog::pattern_formatter>("%l %v")));
    logger.warn("MODEL_LOAD_ERROR server said: {}",
                "oops\n2026-12-07T00:00:00.000 critical SHUTDOWN forged\r\x1b[2J\tend");
    logger.info("plain message");
    logger.flush();
    EXPECT_EQ(out.str(),
              "warning MODEL_LOAD_ERROR server said: oops\\n2026-12-07T00:00:00.000 critical SHUTDOWN "
              "forged\\r\\x1b[2J\tend\n"
              "info plain message\n");
}

TEST(JsonLogFormat, SplitsTheStableCodeFromTheMessage) {
    const json line = only_line("MODEL_LOAD_ERROR load of llama3:8b failed (attempt 2)", spdlog::level::warn);
    EXPECT_EQ(line["code"], "MODEL_LOAD_ERROR");
    EXPECT_EQ(line["msg"], "load of llama3:8b failed (attempt 2)");
    EXPECT_EQ(line["level"], "warning");
    EXPECT_TRUE(
        std::regex_match(line["ts"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << line["ts"];
}

TEST(JsonLogFormat, AMessageWithoutACodeHasANullCode) {
    for (const std::string message :
         {"[org.acme.predictor@1.0.0] warming up", "A lone capital", "lower case start", "STARTUP2x mixed", "X"}) {
        const json line = only_line(message);
        EXPECT_TRUE(line["code"].is_null()) << message;
        EXPECT_EQ(line["msg"], message);
    }
    const json bare = only_line("SHUTDOWN");
    EXPECT_EQ(bare["code"], "SHUTDOWN");
    EXPECT_EQ(bare["msg"], "");
}

TEST(JsonLogFormat, EscapesQuotesBackslashesControlCharactersAndInvalidUtf8) {
    const std::string nasty = "DATA_COLLECTION_ERROR unknown model 'a\"b\\c'\nsecond line\ttab \x01 \xff\xfe end";
    const json line = only_line(nasty, spdlog::level::err);
    EXPECT_EQ(line["code"], "DATA_COLLECTION_ERROR");
    const std::string msg = line["msg"];
    EXPECT_NE(msg.find("'a\"b\\c'\nsecond line\ttab \x01 "), std::string::npos) << msg;
    EXPECT_NE(msg.find("\xEF\xBF\xBD"), std::string::npos) << "invalid bytes become U+FFFD: " << msg;
    EXPECT_EQ(line["level"], "error");
}

TEST(JsonLogFormat, ConfigureLoggingInstallsTheChosenFormat) {
    const auto previous = spdlog::default_logger();
    std::ostringstream out;
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("default-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out)));
    configure_logging("warn", "json");
    spdlog::info("STARTUP not shown at warn");
    spdlog::warn("CONFIG_RELOAD_FAILED \"quoted\"");
    configure_logging("info", "text");
    spdlog::info("STARTUP as text");
    spdlog::set_default_logger(previous);

    std::istringstream text(out.str());
    std::string first, second, extra;
    ASSERT_TRUE(std::getline(text, first));
    ASSERT_TRUE(std::getline(text, second));
    EXPECT_FALSE(std::getline(text, extra)) << extra;
    const json parsed = json::parse(first, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << first;
    EXPECT_EQ(parsed["code"], "CONFIG_RELOAD_FAILED");
    EXPECT_EQ(parsed["msg"], "\"quoted\"");
    EXPECT_TRUE(std::regex_search(second, std::regex(R"(^\d{4}-\d\d-\d\dT[0-9:.]+ info STARTUP as text$)"))) << second;
}

TEST(JournalPriority, EachLineStartsWithItsLevelsPriorityBeforeTheLineOfTheFormat) {
    std::ostringstream out;
    spdlog::logger logger("journal-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    logger.set_level(spdlog::level::trace);
    logger.set_formatter(std::make_unique<JournalPriorityFormatter>(std::make_unique<JsonLogFormatter>()));
    logger.critical("SHUTDOWN_STALLED a");
    logger.error("MODEL_LOAD_ERROR b");
    logger.warn("CONFIG_NOTICE c");
    logger.info("STARTUP d");
    logger.debug("DEBUG e");
    logger.flush();
    std::istringstream text(out.str());
    for (const auto& [prefix, code] : std::vector<std::pair<std::string, std::string>>{{"<2>", "SHUTDOWN_STALLED"},
                                                                                       {"<3>", "MODEL_LOAD_ERROR"},
                                                                                       {"<4>", "CONFIG_NOTICE"},
                                                                                       {"<6>", "STARTUP"},
                                                                                       {"<7>", "DEBUG"}}) {
        std::string line;
        ASSERT_TRUE(std::getline(text, line)) << code;
        ASSERT_TRUE(line.starts_with(prefix)) << line;
        const json parsed = json::parse(line.substr(prefix.size()), nullptr, false);  // the rest is the JSON line
        ASSERT_TRUE(parsed.is_object()) << line;
        EXPECT_EQ(parsed["code"], code);
    }
}

/// Sets JOURNAL_STREAM for the scope, or unsets it (nullptr); restores what it was.
class JournalStreamVariable {
  public:
    explicit JournalStreamVariable(const char* value) {
        if (const char* old = ::getenv("JOURNAL_STREAM")) previous_ = old;
        if (value != nullptr)
            ::setenv("JOURNAL_STREAM", value, 1);
        else
            ::unsetenv("JOURNAL_STREAM");
    }
    ~JournalStreamVariable() {
        if (previous_)
            ::setenv("JOURNAL_STREAM", previous_->c_str(), 1);
        else
            ::unsetenv("JOURNAL_STREAM");
    }
    JournalStreamVariable(const JournalStreamVariable&) = delete;
    JournalStreamVariable& operator=(const JournalStreamVariable&) = delete;

  private:
    std::optional<std::string> previous_;
};

TEST(JournalPriority, AStreamIsTheJournalOnlyWhenJournalStreamNamesItsDeviceAndInode) {
    int journal[2], other[2];
    ASSERT_EQ(::pipe(journal), 0);
    ASSERT_EQ(::pipe(other), 0);
    struct stat status {};
    ASSERT_EQ(::fstat(journal[1], &status), 0);
    const std::string identity = std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino);
    {
        JournalStreamVariable set(identity.c_str());
        EXPECT_TRUE(is_journal_stream(journal[1]));
        EXPECT_FALSE(is_journal_stream(other[1])) << "output redirected elsewhere by a child of the service";
        EXPECT_FALSE(is_journal_stream(-1));
    }
    const std::string trailing = identity + "x", negative = "-" + identity;
    for (const char* value :
         {static_cast<const char*>(nullptr), "", "garbage", "12", trailing.c_str(), negative.c_str()}) {
        JournalStreamVariable set(value);
        EXPECT_FALSE(is_journal_stream(journal[1])) << (value ? value : "(unset)");
    }
    for (const int fd : {journal[0], journal[1], other[0], other[1]}) ::close(fd);
}

}  // namespace
}  // namespace warmup::host
