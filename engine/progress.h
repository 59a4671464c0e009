// QueryProgress: what one micro-batch did, in the shape of Spark's StreamingQueryProgress so that
// dashboards and habits carry over:
//
//   {"id": "...", "runId": "...", "name": "pin", "timestamp": "2026-11-22T10:00:00.000Z",
//    "batchId": 3, "numInputRows": 1200, "inputRowsPerSecond": 2400.0,
//    "processedRowsPerSecond": 15000.0,
//    "durationMs": {"latestOffset": 1, "queryPlanning": 0, "walCommit": 2, "getBatch": 5,
//                   "addBatch": 60, "commitOffsets": 3, "triggerExecution": 71},
//    "sources": [{"description": "...", "startOffset": {...}, "endOffset": {...},
//                 "latestOffset": {...}, "numInputRows": 1200, "inputRowsPerSecond": ...,
//                 "processedRowsPerSecond": ...}],
//    "stateOperators": [{"operatorName": "dedup", "numRowsTotal": 9000, "numRowsUpdated": 1100,
//                        "numRowsRemoved": 0, "memoryUsedBytes": 1441792,
//                        "numRowsDroppedByWatermark": 0, "numShufflePartitions": 2,
//                        "numStateStoreInstances": 2, "customMetrics": {...}}],
//    "eventTime": {"watermark": "2026-11-22T09:50:00.000Z", "min": "...", "max": "...",
//                  "avg": "..."},       (queries with a watermark)
//    "sink": {"description": "DeltaSink[pin]", "numOutputRows": 1100},
//    "deadLetter": {"description": "DeltaSink[pin_errors]", "numOutputRows": 3},
//    "backlogRecords": 0,
//    "committedAt": "2026-11-22T10:00:00.071234Z",
//    "ingestToVisibleMs": {"max": 812, "min": 95}}
//
// Not in Spark: `backlogRecords` (records left for later batches), `committedAt` (when the
// commit that made the batch readable finished, to the microsecond) and `ingestToVisibleMs`, the
// time from a record's arrival at the source (SourceChunk::min_arrival_us) to the commit that
// made it readable: `max` for the batch's oldest record, `min` for its newest. Both are present
// only in the reports the daemon publishes after the commit (not in the copy stored with the
// checkpoint, written before), ingestToVisibleMs only for sources that know arrival times (http,
// kafka). The daemon also observes both ages in the histogram
// pinstream_query_record_age_at_commit_seconds{query, record="oldest"|"newest"} (/metrics).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/source.h"

namespace pinstream {

struct SourceProgress {
  std::string name;
  std::string description;
  PartitionOffsets start_offset, end_offset, latest_offset;
  std::int64_t num_input_rows = 0;
  std::map<std::string, std::string> metrics;  // source-specific (Kafka: offsets behind, data loss)
};

// One stateful operator of the batch, over all shards (Spark's StateOperatorProgress).
struct StateOperatorProgress {
  std::string operator_name;
  std::int64_t num_rows_total = 0;    // keys held after the batch
  std::int64_t num_rows_updated = 0;  // keys written by the batch
  std::int64_t num_rows_removed = 0;  // keys removed by the batch (TTL expiry)
  std::int64_t memory_used_bytes = 0;
  std::int64_t num_rows_dropped_by_watermark = 0;  // late rows of the batch (dead-letter table)
  int num_shuffle_partitions = 1;                  // the shards the keys are partitioned over
  // Spark's customMetrics: e.g. stateOnDiskBytes (the state's bytes in the store).
  std::map<std::string, std::int64_t> custom_metrics;
};

// Event times seen by the batch and the watermark it ran with (Spark's eventTime), as ISO-8601
// UTC strings; empty when the query declares no watermark.
struct EventTimeProgress {
  std::string watermark, min, max, avg;
};

struct QueryProgress {
  std::string id, run_id, name;
  std::int64_t timestamp_ms = 0;  // trigger start
  std::int64_t batch_id = 0;
  std::int64_t num_input_rows = 0;
  double input_rows_per_second = 0;
  double processed_rows_per_second = 0;
  std::map<std::string, std::int64_t> duration_ms;
  std::vector<SourceProgress> sources;
  std::string sink_description;
  std::int64_t num_output_rows = 0;
  std::string dead_letter_description;
  std::int64_t num_dead_letter_rows = 0;
  std::int64_t backlog_records = 0;  // not in Spark: records left for later batches
  // Arrival of the batch's oldest and newest record (µs since the epoch; -1 unknown), and the
  // wall time its commit finished (0 until then): ingestToVisibleMs.
  std::int64_t min_arrival_us = -1, max_arrival_us = -1;
  std::int64_t committed_at_us = 0;
  std::vector<StateOperatorProgress> state_operators;
  std::optional<EventTimeProgress> event_time;

  std::string ToJson() const;
};

using ProgressListener = std::function<void(const QueryProgress&)>;

}  // namespace pinstream
