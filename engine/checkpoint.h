// Checkpoint: the write-ahead offset log, the commit log and the metadata of one query — the
// micro-batch exactly-once protocol (README.md "How a batch becomes exactly-once").
//
//   offsets/N   written durably BEFORE batch N runs: the end offset of every source partition
//               the batch reads, and the batch timestamp. Batch N reads [end of N-1, end of N).
//   commits/N   written in the same atomic write as batch N's output and state (CommitTxn).
//   metadata    query id, sources, stateful operators, epoch: checked on every start.
//
// Recovery (StreamingQuery::Start): if offsets/N exists without commits/N, batch N is re-run
// with exactly the offsets recorded in offsets/N; otherwise batch N+1 is planned from the
// committed ends. Sinks refuse a second commit of the same (query, epoch, batch).
//
// The RocksDB implementation lives in state/ (state::RocksCheckpointStore). This header also
// provides InMemoryCheckpointStore: FOR TESTS ONLY — nothing it holds survives the process.
//
// Threading: a QueryCheckpoint is used by its query's thread; ScanState may be called from shard
// workers while the query thread waits for them (never concurrently with Commit).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/commit_txn.h"
#include "engine/keyed_state.h"
#include "engine/source.h"
#include "engine/status.h"

namespace pinstream {

// offsets/N. Serialised like Spark's offset log: a version line, a metadata line, then one JSON
// object line per source ({"<source name>": {"<partition>": <end offset>, ...}}).
struct OffsetLogEntry {
  std::int64_t batch_id = 0;
  std::int64_t batch_timestamp_ms = 0;
  std::map<std::string, PartitionOffsets> sources;  // source name → end offsets
  // Where reading started for partitions first seen in this batch (their start is not the end
  // of the previous batch). Kept so that a replay reads exactly the same range even when the
  // source's initial-offset policy is time-dependent (e.g. Kafka "latest").
  std::map<std::string, PartitionOffsets> new_partition_starts;
  // The event-time watermark the batch runs with (µs UTC; kNoWatermark = none) and, per input,
  // the value it was computed from (max event time − delay). Serialised as Spark's
  // batchWatermarkMs plus "batchWatermarkUs" and "inputWatermarksUs".
  std::int64_t batch_watermark_us = INT64_MIN;
  std::map<std::string, std::int64_t> input_watermarks_us;

  std::string Serialize() const;
  static Result<OffsetLogEntry> Parse(std::int64_t batch_id, std::string_view text);
};

// commits/N. Serialised as "v1\n<json>".
struct CommitLogEntry {
  std::int64_t batch_id = 0;
  std::int64_t committed_at_ms = 0;
  std::int64_t num_input_rows = 0;
  std::int64_t num_output_rows = 0;
  std::int64_t num_dead_letter_rows = 0;
  std::string progress_json;  // the batch's StreamingQueryProgress
  // Per input with a watermark: the largest event time (µs UTC) seen by batches 0..N; what the
  // watermark of later batches is computed from after a restart.
  std::map<std::string, std::int64_t> event_time_max_us;
  // Per input reading a table whose writer bounds its event times: that bound after batch N
  // (WatermarkTracker::floors, Source::EventTimeFloor), which caps the input's watermark.
  std::map<std::string, std::int64_t> event_time_floor_us;

  std::string Serialize() const;
  static Result<CommitLogEntry> Parse(std::int64_t batch_id, std::string_view text);
};

struct QueryMetadata {
  std::string id;    // UUID, stable for the life of the checkpoint
  std::string name;  // query name in config
  std::int64_t created_ms = 0;
  std::int64_t epoch = 0;  // incremented by `checkpoint rewind`
  // "<name>:<kind>:<descriptor>" per source, in config order.
  std::vector<std::string> sources;
  // "<index>:<kind>:<fingerprint>" per stateful operator.
  std::vector<std::string> stateful_operators;
  // Queries with several named inputs: "<input>=<source>+<source>" per input, in tag order (the
  // tags of the rows in the operators' state). Empty for single-input queries.
  std::vector<std::string> inputs;
  // A live view's query (QueryConfig::view): the statement its state and table were computed
  // with. Another statement resets the view (StreamingQuery::Start) instead of continuing.
  std::string view_sql;
  // Number of sinks/tables is not part of compatibility: adding a sink is allowed.

  std::string Serialize() const;
  static Result<QueryMetadata> Parse(std::string_view text);
};

// Explains why a checkpoint written with `stored` cannot be continued with `current`, or OK.
Status CheckMetadataCompatible(const QueryMetadata& stored, const QueryMetadata& current);

class QueryCheckpoint : public StateReader {
 public:
  ~QueryCheckpoint() override = default;

  virtual Result<std::optional<QueryMetadata>> ReadMetadata() = 0;
  [[nodiscard]] virtual Status WriteMetadata(const QueryMetadata& meta) = 0;

  // The highest batch id with an offsets entry, and that entry.
  virtual Result<std::optional<OffsetLogEntry>> LatestOffsets() = 0;
  virtual Result<std::optional<OffsetLogEntry>> GetOffsets(std::int64_t batch_id) = 0;
  // The highest batch id with a commits entry.
  virtual Result<std::optional<std::int64_t>> LatestCommittedBatch() = 0;
  virtual Result<std::optional<CommitLogEntry>> GetCommit(std::int64_t batch_id) = 0;

  // Durable (synced) before it returns.
  [[nodiscard]] virtual Status WriteOffsets(const OffsetLogEntry& entry) = 0;

  virtual std::unique_ptr<CommitTxn> BeginCommit(std::int64_t batch_id) = 0;
  // Applies `txn` plus commits/N atomically and durably; runs the txn's OnCommitted hooks.
  // Also drops offsets/commits entries older than the retention window.
  [[nodiscard]] virtual Status Commit(std::unique_ptr<CommitTxn> txn,
                                      const CommitLogEntry& entry) = 0;
  // Applies a maintenance transaction (e.g. a state compaction) atomically and durably, without a
  // commit-log entry.
  [[nodiscard]] virtual Status Apply(std::unique_ptr<CommitTxn> txn) = 0;
  // Stages into `txn` the deletion of everything this query's checkpoint holds: metadata,
  // offsets, commits and operator state (a live view reset with its table, in one transaction).
  virtual void StageReset(CommitTxn& txn) = 0;
};

class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;
  virtual Result<std::unique_ptr<QueryCheckpoint>> OpenQuery(const std::string& query_name) = 0;
};

// FOR TESTS ONLY: keeps every query's checkpoint and state in process memory. Crash-recovery
// semantics can be exercised within one process by opening the same query twice.
class InMemoryCheckpointStore : public CheckpointStore {
 public:
  struct Data;  // shared by all queries opened from this store
  InMemoryCheckpointStore();
  ~InMemoryCheckpointStore() override;
  Result<std::unique_ptr<QueryCheckpoint>> OpenQuery(const std::string& query_name) override;
  // Bytes stored in a key space (tests inspect sink output through this).
  std::map<std::string, std::string> Dump(CommitSpace space) const;
  // Makes the next Commit() fail with `st` (failure-injection in tests).
  void FailNextCommit(Status st);
  // Makes reading `query`'s checkpoint (its metadata) fail with `st`, as a damaged entry does.
  void DamageCheckpointOf(const std::string& query, Status st);

 private:
  std::shared_ptr<Data> data_;
};

}  // namespace pinstream
