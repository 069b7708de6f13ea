// plugin_abi_test_support.hpp — for the tests of this folder: the test plugins' folder, a host over a one-glob
// catalog and a manual clock, and a capture of what the host logs while a test runs.
#pragma once

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "loader/plugin_instance.hpp"
#include "loader/plugin_loader.hpp"

namespace warmup::test {

/// A plugin library built by this folder into build/tests/test-plugins, e.g. test_plugin("throwing_queue.so").
inline std::filesystem::path test_plugin(std::string_view file_name) {
    return std::filesystem::path(WARMUP_TEST_PLUGIN_ABI_DIR) / file_name;
}

/// What a plugin instance needs from the host: a catalog where every model is 1000 MiB (2 s load, 100 ms unload,
/// priority class 1) and a manual clock.
struct PluginAbiHost {
    host::Catalog catalog{std::vector<host::CatalogEntry>{{"*", 1000, 2000, 100, 1}}};
    host::ManualClock clock{0};
    host::PluginLoader loader{{}};

    /// Loads `file_name` from the test plugins (expecting `kind`) and creates an instance without params.
    std::unique_ptr<host::PluginInstance> create(std::string_view file_name, uint32_t kind) {
        auto library = loader.load(host::PluginRef{"", test_plugin(file_name), "", "components.test"}, kind);
        return host::PluginInstance::create(std::move(library), "", catalog, clock);
    }
};

/// Sends everything logged through spdlog's default logger to a string while it lives (pattern "<level> <message>"),
/// then puts the previous default logger back. Not thread-safe against other code replacing the default logger.
class LogCapture {
  public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
        auto logger = std::make_shared<spdlog::logger>("plugin-abi-test", sink);
        logger->set_pattern("%l %v");
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    /// Everything logged so far, one line per message.
    [[nodiscard]] std::string text() const {
        spdlog::default_logger()->flush();
        return text_.str();
    }

  private:
    std::shared_ptr<spdlog::logger> previous_;
    std::ostringstream text_;
};

}  // namespace warmup::test
