// ProgressHistory: a bounded history of every query's progress reports (engine/progress.h), kept
// by the daemon so that the console's charts (GET /queries/<q>/history) cover the time since the
// query started without any external store.
//
// Per query: the newest kRecent batches one point each, and before them a tail of at most kTail
// buckets. A point leaving the recent part joins the newest tail bucket while that bucket spans
// less than the tail's bucket width, else it starts a new bucket; when the tail is full,
// neighbouring buckets merge pairwise and the width doubles (from kFirstBucketMs). So the tail's
// resolution halves as the query ages, and its memory does not grow. A point keeps sums (rows,
// the time since the previous trigger, the batches' durations), so a merged bucket's totals and
// rates are exact; latency keeps the extremes, backlog and state the newest values.
//
// Memory: at most kRecent + kTail = 768 points per query, each ~200 bytes plus ~80 per stateful
// operator — under 200 KiB per query for the queries of conf/pinterest.yaml, whatever their age.
//
// Threading: Add from the queries' commit threads, the readers from HTTP threads; one mutex.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/progress.h"

namespace pinstream::app {

class ProgressHistory {
 public:
  static constexpr std::size_t kRecent = 512;
  static constexpr std::size_t kTail = 256;
  static constexpr std::int64_t kFirstBucketMs = 1000;
  // The durationMs parts a point keeps (QueryProgress::ToJson's).
  static constexpr std::array<const char*, 9> kDurationParts = {
      "latestOffset", "queryPlanning", "getBatch",      "execution",       "commitWait",
      "walCommit",    "addBatch",      "commitOffsets", "triggerExecution"};

  // One committed batch (Add's argument folded into a point), or a bucket of several.
  struct Point {
    std::int64_t first_ms = 0, last_ms = 0;  // trigger start of the first and last batch
    std::int64_t first_batch = 0, last_batch = 0;
    std::int64_t batches = 0;
    std::int64_t input_rows = 0, output_rows = 0, dead_letter_rows = 0;
    // Time from the previous trigger to this one, summed with the input rows of the batches
    // that had a previous trigger: their input rate (Spark's inputRowsPerSecond).
    std::int64_t interval_ms = 0, interval_rows = 0;
    std::array<std::int64_t, kDurationParts.size()> duration_ms{};  // sums
    std::int64_t latency_max_ms = -1, latency_min_ms = -1;          // ingestToVisibleMs
    std::int64_t backlog_records = 0;                               // the newest batch's
    std::int64_t watermark_ms = -1;  // the newest batch's event-time watermark; -1 none
    struct State {
      std::string name;
      std::int64_t rows_total = 0, memory_bytes = 0;  // the newest batch's
      std::int64_t rows_updated = 0, rows_removed = 0, rows_dropped_by_watermark = 0;  // sums
    };
    std::vector<State> state;

    // Folds `next` (later in time) into this point.
    void Merge(const Point& next);
  };

  void Add(const QueryProgress& p);

  // {"name", "recentPoints", "tailPoints", "tailBucketMs", "points": [...]}, oldest first; null
  // when the query has not reported a batch. Each point: startMs, endMs, batches, batchIds
  // [first, last], numInputRows, numOutputRows, numDeadLetterRows, inputRowsPerSecond,
  // processedRowsPerSecond, durationMs {part: mean per batch}, ingestToVisibleMs {max, min} or
  // null, backlogRecords, watermarkMs (null without a watermark), stateOperators [{operatorName,
  // numRowsTotal, memoryUsedBytes, numRowsUpdated, numRowsRemoved, numRowsDroppedByWatermark}].
  std::optional<std::string> Json(const std::string& query) const;

  // What the overview shows of a query: its newest batch and its input rate over the last
  // `window_ms` before `now_ms` (rows of the batches that started then, per second).
  struct Summary {
    std::int64_t last_batch_ms = 0;
    double input_rows_per_second = 0, processed_rows_per_second = 0;
    std::int64_t batch_duration_ms = 0;
    std::int64_t latency_max_ms = -1;
    double recent_input_rows_per_second = 0;
  };
  std::optional<Summary> Summarize(const std::string& query, std::int64_t now_ms,
                                   std::int64_t window_ms) const;

  // Points held for `query` (tests: the bound).
  std::size_t size(const std::string& query) const;

 private:
  struct Series {
    std::deque<Point> recent;
    std::vector<Point> tail;
    std::int64_t bucket_ms = kFirstBucketMs;
    std::int64_t last_trigger_ms = -1;
  };
  static std::string PointJson(const Point& p);

  mutable std::mutex mu_;
  std::map<std::string, Series> series_;
};

}  // namespace pinstream::app
