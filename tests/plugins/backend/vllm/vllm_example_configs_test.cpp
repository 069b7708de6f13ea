// The vLLM example configurations as a user runs them: `build/bin/warmupctl validate --config <file>` loads the YAML
// and creates every plugin with its params (the vLLM backend contacts no server when created), so a typo in a key or a
// value the backend refuses fails here.
#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace {

using warmup::test::Daemon;

void expect_valid(const std::string& example) {
    const std::string file = std::string(WARMUP_TEST_SOURCE_DIR) + "/configs/examples/" + example;
    Daemon ctl({"validate", "--config", file}, Daemon::Capture::StdoutAndStderr, "warmupctl");
    const auto status = ctl.wait_exit(std::chrono::seconds(60));
    ASSERT_TRUE(status && status->exited) << ctl.log();
    EXPECT_EQ(status->code, 0) << ctl.log();
    EXPECT_TRUE(ctl.wait_for_log_end(std::chrono::seconds(10)));
    EXPECT_NE(ctl.log().find("org.warmup.backend.vllm"), std::string::npos) << ctl.log();
}

TEST(VllmExampleConfigs, SleepModeExampleValidates) { expect_valid("vllm-sleep.yaml"); }

TEST(VllmExampleConfigs, LoraModeExampleValidates) { expect_valid("vllm-lora.yaml"); }

}  // namespace
