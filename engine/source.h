// Source: a replayable input of a streaming query.
//
// A source is a set of named partitions, each an ordered sequence of records addressed by an
// int64 offset (Kafka: the message offset; the HTTP source log: the record's sequence in its
// partition; files: the byte offset of the record in the file, with one partition per file).
// Offsets are opaque to the engine except that they are ordered and that [start, end) ranges
// of them can be read again, returning the same records: this is what makes exactly-once replay
// possible. Positions live only in pinstream's checkpoint (offset log), never in the source.
//
// Lifecycle (all calls from the query's own thread, never concurrently):
//   1. Open()                     once, before anything else; may fail (missing directory, broker
//                                 unreachable: retryable).
//   2. per trigger: LatestOffsets(committed) → the engine plans [committed, latest) ranges, capped
//      with LimitRange(); writes offsets/N; then Read() for each planned range.
//   0. OnRecovered(ends)          once per run, with the checkpoint's committed ends (or none).
//   3. OnBatchCommitted(ends)     after batch N is durable (lag reporting, log retention); by
//                                 then batch N+1 may already have been planned and read (see
//                                 AllowsReadAheadOfCommit).
// Read() must return exactly the records of [start, end) in offset order and call `emit` with
// chunks of at most `max_chunk_rows` records. It must not block forever: a source that cannot
// deliver the planned range returns a retryable Status.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/record_batch.h"
#include "engine/status.h"

namespace pinstream {

// Partition name → offset. Ordered so that plans and their JSON are deterministic.
using PartitionOffsets = std::map<std::string, std::int64_t>;

struct ReadRange {
  std::string partition;
  std::int64_t start = 0;  // inclusive
  std::int64_t end = 0;    // exclusive
};

// A record the source could read but not decode into its schema (e.g. a CSV row with an
// unterminated quote). It goes to the query's dead-letter table; the query goes on.
struct SourceRecordError {
  std::int64_t offset = 0;
  std::string reason;
  std::string raw;
};

// Records read from one partition, in offset order.
struct SourceChunk {
  RecordBatch batch;                  // row ids are assigned by the engine
  std::vector<std::int64_t> offsets;  // offset of each row's record; size = batch.num_rows()
  std::vector<SourceRecordError> errors;
  // When the chunk's records arrived at the source, oldest and newest (µs since the epoch): the
  // source log's fsync time of an HTTP record, a Kafka message's timestamp. -1 when the source
  // does not know (files). Progress reports the time from arrival to commit from these.
  std::int64_t min_arrival_us = -1, max_arrival_us = -1;
};

class Source {
 public:
  virtual ~Source() = default;

  // "file", "http", "kafka", ... (the config kind).
  virtual std::string_view kind() const = 0;
  // One line for progress reports: e.g. FileSource[/data/in], KafkaV2[Subscribe[pin]].
  virtual std::string Describe() const = 0;

  [[nodiscard]] virtual Status Open() = 0;

  // The current end (exclusive) offset of every partition the source has now. `committed` is
  // where the next batch starts: the ends of the last batch planned (empty before the first).
  // That batch may still be committing (see AllowsReadAheadOfCommit) — except on the first call
  // of a run, when nothing is in flight: then `committed` is durable. Durable ends after that
  // arrive through OnBatchCommitted(). Partitions that no longer exist
  // are left out. With `apply_limits`, a source honours its own per-trigger limits (a file
  // source's max_files_per_trigger admits only that many new files); without, it reports
  // everything it has (Trigger.AvailableNow's target).
  virtual Result<PartitionOffsets> LatestOffsets(const PartitionOffsets& committed,
                                                 bool apply_limits) = 0;

  // Where reading starts for a partition that has no committed offset (earliest/latest policy).
  virtual Result<std::int64_t> InitialOffset(const std::string& partition) {
    (void)partition;
    return std::int64_t{0};
  }

  // Where to resume a partition the query has read up to `committed_end`: nullopt (or the same
  // offset) to go on from there. A Kafka consumer group member returns the group's committed
  // offset when another member advanced the partition meanwhile; a source that skips records
  // deleted by retention returns the first offset still there. The planner records a moved start
  // in the offset log, so a replay of the batch starts there too.
  virtual Result<std::optional<std::int64_t>> ResumeOffset(const std::string& partition,
                                                           std::int64_t committed_end) {
    (void)partition;
    (void)committed_end;
    return std::optional<std::int64_t>();
  }

  // True when end - start is the number of records in a range (log-like sources). When false,
  // the engine asks LimitRange() to cap a range by record count.
  virtual bool OffsetsCountRecords() const { return true; }

  // The end offset of the first `max_records` records of [start, end). Only called when
  // OffsetsCountRecords() is false.
  struct Limited {
    std::int64_t end = 0;      // new end offset
    std::int64_t records = 0;  // records in [start, end)
  };
  virtual Result<Limited> LimitRange(const std::string& partition, std::int64_t start,
                                     std::int64_t end, std::int64_t max_records) {
    (void)partition;
    std::int64_t e = std::min(end, start + max_records);
    return Limited{e, e - start};
  }

  // Column pruning (Spark's SupportsPushDownRequiredColumns): the query reads only `required`
  // of the columns this source emits. Called after Open(), before the first Read(); a source may
  // then leave the other columns out of its chunks. A source whose records have a raw form keeps
  // it (the `value` column) whatever is asked: dead-letter rows show it (RawRecordText).
  virtual void PruneColumns(const std::vector<std::string>& required) { (void)required; }

  // Called before a batch's Read() calls with all of this source's ranges of the batch (in the
  // order they will be read), so that a source can fetch them concurrently.
  [[nodiscard]] virtual Status PrepareRead(const std::vector<ReadRange>& ranges) {
    (void)ranges;
    return Status::Ok();
  }

  using ChunkConsumer = std::function<Status(SourceChunk&&)>;
  [[nodiscard]] virtual Status Read(const ReadRange& range, std::size_t max_chunk_rows,
                                    const ChunkConsumer& emit) = 0;

  // A position as users read it: "user_data.csv:line 17", "pin-topic/0@41".
  virtual std::string DescribePosition(const std::string& partition, std::int64_t offset) const {
    return partition + "@" + std::to_string(offset);
  }

  virtual void OnBatchCommitted(const PartitionOffsets& committed_ends) { (void)committed_ends; }

  // Once per run, from the query's Start() (before the daemon is ready, so before table
  // maintenance first runs): the ends of the last committed batch, recovered from the
  // checkpoint — where the query goes on from (empty: no batch committed yet). A source whose
  // position needs something kept outside the checkpoint (a delta table's versions, which VACUUM
  // deletes) takes it here. The source may not be open yet (Open() failed and is retried);
  // nothing is read.
  virtual void OnRecovered(const PartitionOffsets& committed_ends) { (void)committed_ends; }

  // Whether the engine may plan and read batch N+1 while batch N is still committing (it then
  // calls LatestOffsets/PrepareRead/Read for N+1 before OnBatchCommitted for N). A source whose
  // partitions can be taken away between batches and that hands over its committed ends when
  // that happens (a Kafka consumer-group member) returns false.
  virtual bool AllowsReadAheadOfCommit() const { return true; }

  // A lower bound on `column` (an event time, µs) of every record at or after `ends` (a batch's
  // end offsets): the records this source has not delivered yet, now or later. A delta table
  // written by a query whose watermark bounds its output records that bound with each version
  // ("eventTimeFloor.<column>" in its commit info: the writer's watermark minus its output's
  // lag), so a query reading the table caps its watermark for this input with it and never drops
  // those rows as late (WatermarkTracker). nullopt: no bound known (the default).
  virtual std::optional<std::int64_t> EventTimeFloor(const PartitionOffsets& ends,
                                                     const std::string& column) {
    (void)ends;
    (void)column;
    return std::nullopt;
  }

  // Source-specific numbers for the batch's progress report ("metrics" of a source in Spark's
  // StreamingQueryProgress), e.g. Kafka's maxOffsetsBehindLatest.
  virtual std::map<std::string, std::string> ProgressMetrics() const { return {}; }
};

}  // namespace pinstream
