#include "engine/daemon.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <future>

namespace pinstream {
namespace {

// A process whose clean-up blocks after its work is committed still exits: with the exit code
// it was armed with, saying what it was releasing. (Runs in a child process: a death test.)
TEST(ExitWatchdogDeathTest, ExitsWithTheArmedCodeWhenReleasingBlocks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        spdlog::set_default_logger(
            spdlog::stderr_logger_st("watchdog-test"));  // as the daemon logs
        ArmExitWatchdog(std::chrono::milliseconds(100), 3, "leaving a stuck consumer group");
        std::promise<void>().get_future().wait();  // a clean-up that never finishes
      },
      ::testing::ExitedWithCode(3),
      "stopping took longer than 100 ms.*leaving a stuck consumer group");
}

}  // namespace
}  // namespace pinstream
