#include "engine/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

namespace pinstream {
namespace {

// Routes the default logger into a string stream with `format`, restoring it afterwards.
class LoggingTest : public ::testing::Test {
 protected:
  void Use(LogFormat format) {
    previous_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_formatter(MakeLogFormatter(format));
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override {
    if (previous_) spdlog::set_default_logger(previous_);
  }
  std::vector<std::string> Lines() {
    std::vector<std::string> lines;
    std::string line;
    std::istringstream in(out_.str());
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
  }

  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(LoggingTest, JsonLinesAreObjectsWithUtcTimeLevelMessageAndFields) {
  Use(LogFormat::kJson);
  std::string query = "geo";
  LogInfo({{"query", query},
           {"batch", std::int64_t{3}},
           {"rows", std::size_t{120}},
           {"ratio", 0.5},
           {"ok", true}},
          "batch {} committed", 3);
  LogWarn({{"error", "bad \"quote\"\n\xff"}}, "with escapes: \x01 \\ done");
  spdlog::error("a line without fields");
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 3u) << out_.str();
  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_TRUE(std::regex_match(first["time"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")))
      << first["time"];
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["message"], "batch 3 committed");
  EXPECT_EQ(first["query"], "geo");
  EXPECT_EQ(first["batch"], 3);
  EXPECT_EQ(first["rows"], 120);
  EXPECT_EQ(first["ratio"], 0.5);
  EXPECT_EQ(first["ok"], true);
  EXPECT_TRUE(first["thread"].is_string());
  auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["level"], "warning");
  EXPECT_EQ(second["message"], "with escapes: \x01 \\ done");
  EXPECT_EQ(second["error"], "bad \"quote\"\n\xef\xbf\xbd");  // invalid UTF-8 → U+FFFD
  auto third = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(third["message"], "a line without fields");
  EXPECT_FALSE(third.contains("query"));  // the fields of a call do not leak into the next
}

TEST_F(LoggingTest, TextLinesHaveUtcTimestampsWithTheZoneAndLogfmtFields) {
  Use(LogFormat::kText);
  std::vector<LogField> fields = {{"query", "pin"}, {"error", "disk full"}, {"empty", ""}};
  LogError(fields, "query failed");
  spdlog::info("plain");
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(std::regex_match(
      lines[0],
      std::regex(
          R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z error query failed query=pin error="disk full" empty="")")))
      << lines[0];
  EXPECT_TRUE(std::regex_search(lines[1], std::regex(R"(Z info  plain$)"))) << lines[1];
}

TEST_F(LoggingTest, LinesBelowTheLevelAreNotWritten) {
  Use(LogFormat::kJson);
  spdlog::default_logger()->set_level(spdlog::level::warn);
  LogInfo({{"query", "q"}}, "hidden");
  EXPECT_TRUE(Lines().empty());
  LogWarn({{"query", "q"}}, "shown");
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(Lines()[0])["query"], "q");
}

}  // namespace
}  // namespace pinstream
