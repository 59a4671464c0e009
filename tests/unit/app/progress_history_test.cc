// The daemon's bounded progress history: exact sums and rates per point, a bounded number of
// points that still covers the time since the first batch, and the overview's summary.
#include "app/progress_history.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace pinstream::app {
namespace {

using nlohmann::json;

QueryProgress Batch(std::int64_t id, std::int64_t t_ms, std::int64_t rows, std::int64_t total_ms) {
  QueryProgress p;
  p.name = "q";
  p.batch_id = id;
  p.timestamp_ms = t_ms;
  p.num_input_rows = rows;
  p.num_output_rows = rows - 1;
  p.num_dead_letter_rows = 1;
  p.duration_ms = {{"addBatch", total_ms / 2}, {"triggerExecution", total_ms}};
  p.backlog_records = 10 * id;
  StateOperatorProgress dedup;
  dedup.operator_name = "dedup";
  dedup.num_rows_total = 100 * id;
  dedup.num_rows_updated = rows;
  dedup.memory_used_bytes = 1000 * id;
  p.state_operators.push_back(dedup);
  return p;
}

TEST(ProgressHistoryTest, PointsKeepTheBatchesNumbersAndRates) {
  ProgressHistory h;
  EXPECT_FALSE(h.Json("q").has_value());
  h.Add(Batch(0, 10'000, 100, 50));
  QueryProgress second = Batch(1, 10'500, 400, 200);  // 500 ms after the first trigger
  second.min_arrival_us = 10'000'000;
  second.max_arrival_us = 10'400'000;
  second.committed_at_us = 10'700'000;
  second.event_time = EventTimeProgress{"1970-01-01T00:00:09.000Z", "", "", ""};
  second.state_operators[0].num_rows_dropped_by_watermark = 2;
  h.Add(second);
  json j = json::parse(*h.Json("q"));
  EXPECT_EQ(j["name"], "q");
  ASSERT_EQ(j["points"].size(), 2u);
  json p0 = j["points"][0], p1 = j["points"][1];
  EXPECT_EQ(p0["inputRowsPerSecond"], 0.0);         // no trigger before it
  EXPECT_EQ(p0["processedRowsPerSecond"], 2000.0);  // 100 rows in 50 ms
  EXPECT_EQ(p0["ingestToVisibleMs"], nullptr);
  EXPECT_EQ(p1["startMs"], 10'500);
  EXPECT_EQ(p1["numInputRows"], 400);
  EXPECT_EQ(p1["numOutputRows"], 399);
  EXPECT_EQ(p1["numDeadLetterRows"], 1);
  EXPECT_EQ(p1["inputRowsPerSecond"], 800.0);       // 400 rows since the trigger 500 ms before
  EXPECT_EQ(p1["processedRowsPerSecond"], 2000.0);  // 400 rows in 200 ms
  EXPECT_EQ(p1["durationMs"]["addBatch"], 100.0);
  EXPECT_EQ(p1["durationMs"]["triggerExecution"], 200.0);
  EXPECT_EQ(p1["ingestToVisibleMs"]["max"], 700);
  EXPECT_EQ(p1["ingestToVisibleMs"]["min"], 300);
  EXPECT_EQ(p1["backlogRecords"], 10);
  EXPECT_EQ(p0["watermarkMs"], nullptr);
  EXPECT_EQ(p1["watermarkMs"], 9000);
  EXPECT_EQ(p1["stateOperators"][0]["numRowsDroppedByWatermark"], 2);
  ASSERT_EQ(p1["stateOperators"].size(), 1u);
  EXPECT_EQ(p1["stateOperators"][0]["operatorName"], "dedup");
  EXPECT_EQ(p1["stateOperators"][0]["numRowsTotal"], 100);
  EXPECT_EQ(p1["stateOperators"][0]["memoryUsedBytes"], 1000);
}

// A query that ran for days: the points stay bounded, the first still starts at the first batch,
// and the buckets' sums add up to every batch.
TEST(ProgressHistoryTest, MemoryIsBoundedAndTheHistoryCoversTheTimeSinceStart) {
  ProgressHistory h;
  const int n = 200'000;  // one batch every 2 s: ~4.6 days
  for (int i = 0; i < n; ++i) h.Add(Batch(i, 1'000'000 + 2000LL * i, 10, 5));
  EXPECT_LE(h.size("q"), ProgressHistory::kRecent + ProgressHistory::kTail);
  json j = json::parse(*h.Json("q"));
  const json& pts = j["points"];
  EXPECT_EQ(pts.front()["startMs"], 1'000'000);
  EXPECT_EQ(pts.back()["endMs"], 1'000'000 + 2000LL * (n - 1));
  std::int64_t batches = 0, rows = 0;
  std::int64_t prev_end = -1;
  for (const auto& p : pts) {
    batches += p["batches"].get<std::int64_t>();
    rows += p["numInputRows"].get<std::int64_t>();
    EXPECT_GT(p["startMs"].get<std::int64_t>(), prev_end);  // in time order, no overlap
    prev_end = p["endMs"].get<std::int64_t>();
    // Every bucket's rate is the steady 10 rows per 2 s, merged or not (the first batch has
    // no trigger before it).
    if (p["batchIds"][0] != 0) {
      EXPECT_DOUBLE_EQ(p["inputRowsPerSecond"].get<double>(), 5.0);
    }
    EXPECT_DOUBLE_EQ(p["durationMs"]["triggerExecution"].get<double>(), 5.0);
  }
  EXPECT_EQ(batches, n);
  EXPECT_EQ(rows, 10LL * n);
  EXPECT_EQ(j["recentPoints"], ProgressHistory::kRecent);
  // The newest state wins in a bucket; the per-batch updates add up.
  const json& last_tail = pts[j["tailPoints"].get<std::size_t>() - 1];
  EXPECT_EQ(last_tail["stateOperators"][0]["numRowsTotal"],
            100 * last_tail["batchIds"][1].get<std::int64_t>());
  EXPECT_EQ(last_tail["stateOperators"][0]["numRowsUpdated"],
            10 * last_tail["batches"].get<std::int64_t>());
}

TEST(ProgressHistoryTest, SummaryTellsTheNewestBatchAndTheRecentInputRate) {
  ProgressHistory h;
  EXPECT_FALSE(h.Summarize("q", 0, 10'000).has_value());
  h.Add(Batch(0, 1'000, 500, 10));   // outside the window
  h.Add(Batch(1, 6'000, 300, 20));   // inside
  h.Add(Batch(2, 10'000, 200, 40));  // inside
  auto s = h.Summarize("q", 12'000, 10'000);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->last_batch_ms, 10'000);
  EXPECT_DOUBLE_EQ(s->input_rows_per_second, 50.0);        // 200 rows, 4 s after the trigger
  EXPECT_DOUBLE_EQ(s->processed_rows_per_second, 5000.0);  // 200 rows in 40 ms
  EXPECT_EQ(s->batch_duration_ms, 40);
  EXPECT_DOUBLE_EQ(s->recent_input_rows_per_second, 50.0);  // 500 rows in the last 10 s
  EXPECT_DOUBLE_EQ(h.Summarize("q", 100'000, 10'000)->recent_input_rows_per_second, 0.0);
}

}  // namespace
}  // namespace pinstream::app
