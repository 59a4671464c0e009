// The ingest monitor over the process's HTTP metrics: rates over its window, refusals (429/503)
// apart from other errors, records acknowledged, the latency of the window's acknowledgements,
// and a bounded per-second history.
#include "app/ingest_monitor.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace pinstream::app {
namespace {

using nlohmann::json;

void Requests(const std::string& api, int status, int n) {
  Metrics()
      .GetCounter("pinstream_http_requests_total", "HTTP requests by API and status",
                  {{"api", api}, {"status", std::to_string(status)}})
      ->Inc(static_cast<std::uint64_t>(n));
}

json Api(const json& j, const std::string& name) {
  for (const auto& a : j["apis"]) {
    if (a["api"] == name) return a;
  }
  return json();
}

TEST(IngestMonitorTest, RatesRefusalsRecordsAndLatencyOverTheWindow) {
  IngestMonitor m;
  m.Sample(1'000'000);
  json before = json::parse(m.Json());
  // 10 s of traffic on the REST Proxy: 20 acknowledged requests with 100 records, 5 refused
  // (429 and 503), 2 bad requests; and admin requests, which are not ingest.
  Requests("kafka-rest", 200, 20);
  Requests("kafka-rest", 429, 3);
  Requests("kafka-rest", 503, 2);
  Requests("kafka-rest", 400, 2);
  Requests("admin", 200, 50);
  Metrics()
      .GetCounter("pinstream_http_records_total", "Records in produce requests by API and outcome",
                  {{"api", "kafka-rest"}, {"status", "200"}})
      ->Inc(100);
  Histogram* ack = Metrics().GetHistogram(
      "pinstream_http_ack_latency_seconds",
      "Time from a produce request's arrival to its durable acknowledgement", {}, LatencyBuckets());
  for (int i = 0; i < 20; ++i) ack->Observe(0.003);
  m.Sample(1'010'000);
  json j = json::parse(m.Json());
  EXPECT_EQ(j["windowSeconds"], IngestMonitor::kWindowSeconds);
  json rest = Api(j, "kafka-rest");
  ASSERT_TRUE(rest.is_object()) << j.dump();
  json rest0 = Api(before, "kafka-rest");
  EXPECT_EQ(rest["requests"].get<std::uint64_t>() - rest0["requests"].get<std::uint64_t>(), 27u);
  EXPECT_DOUBLE_EQ(rest["requestsPerSecond"].get<double>(), 2.7);
  EXPECT_DOUBLE_EQ(rest["refusedPerSecond"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(rest["errorsPerSecond"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(rest["recordsPerSecond"].get<double>(), 10.0);
  EXPECT_GE(rest["byStatus"]["429"].get<std::uint64_t>(), 3u);
  EXPECT_DOUBLE_EQ(Api(j, "kinesis")["requestsPerSecond"].get<double>(), 0.0);
  EXPECT_TRUE(Api(j, "admin").is_null());
  EXPECT_DOUBLE_EQ(j["total"]["requestsPerSecond"].get<double>(), 2.7);
  EXPECT_EQ(j["ackLatencyMs"]["count"], 20);
  EXPECT_GT(j["ackLatencyMs"]["p99"].get<double>(), 1.0);
  EXPECT_LE(j["ackLatencyMs"]["p99"].get<double>(), 5.0);
  ASSERT_EQ(j["history"].size(), 1u);
  EXPECT_EQ(j["history"][0]["timeMs"], 1'010'000);
  EXPECT_DOUBLE_EQ(j["history"][0]["refusedPerSecond"].get<double>(), 0.5);
  EXPECT_GT(j["history"][0]["ackP99Ms"].get<double>(), 1.0);

  // Quiet for longer than the window: the rates fall to 0; the history stays bounded.
  for (int s = 1; s <= static_cast<int>(IngestMonitor::kHistory) + 20; ++s)
    m.Sample(1'010'000 + 1000LL * s);
  j = json::parse(m.Json());
  EXPECT_DOUBLE_EQ(Api(j, "kafka-rest")["requestsPerSecond"].get<double>(), 0.0);
  EXPECT_EQ(j["ackLatencyMs"]["count"], 0);
  EXPECT_EQ(j["history"].size(), IngestMonitor::kHistory);
  // A second without acknowledgements has no latency (null: a gap in the chart, not 0 ms).
  EXPECT_TRUE(j["history"].back()["ackP50Ms"].is_null()) << j["history"].back().dump();
  EXPECT_TRUE(j["history"].back()["ackP99Ms"].is_null());
}

TEST(IngestMonitorTest, TheSamplingThreadStartsAndStops) {
  IngestMonitor m;
  ASSERT_TRUE(m.Start().ok());
  m.Stop();
  m.Stop();  // idempotent; the destructor stops too
  EXPECT_TRUE(json::parse(m.Json()).contains("apis"));
}

}  // namespace
}  // namespace pinstream::app
