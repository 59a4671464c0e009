// ShardExecutor: runs a query's operator chain on N shard worker threads.
//
// The query's operators are cut into stages at every keyed operator (one whose spec declares
// KeyColumns(), or gathers_all_rows(): keyed by no column, every row to one shard). Stage 0
// receives whole source chunks, round-robin: a chunk holds records of one source partition, and
// source partitions are themselves assigned by partition key (Kinesis' MD5 ranges, Kafka's key
// hash), so stage 0 is partitioned by partition key at partition granularity without copying a
// record. Stage 0 is stateless; where co-location by key matters
// (keyed operators) the exchange below routes rows by the operator's own key. Between stages,
// each shard partitions its output by the next stage's key columns, and shard j processes bucket
// j of every shard in RowId order — the "exchange" (Spark's shuffle). Every row of a key
// therefore meets the same operator instance, in the same order whatever the number of shards or
// the thread timing. RowId order costs no merge: each batch in flight holds rows of one source
// chunk, whose RowIds form one range, so sorting the pieces by their first RowId suffices.
// A piece is not copied by its producer: it names rows of the producer's batch (shared,
// read-only), and the receiving shard copies them out. When the stage's first operator only
// drops rows (Operator::SupportsSelectRows, e.g. dedup), it decides on the producer's rows first
// — with the key hashes the exchange computed — and only the rows it keeps are copied. In the
// last stage the rows of consecutive pieces are copied into one batch of at least 8,192 rows
// (RecordBatch::TakeFrom), so that the sink gets a few big batches; in a stage followed by
// another exchange each piece stays a batch of its own, inside one chunk's RowId range, which
// is what lets the next exchange order pieces by their first RowId.
//
// Per micro-batch (query thread):
//   BeginBatch(id, ts) → SubmitChunk(chunk, index)* → Finish() → BatchOutput (the output
//   batches in order, plus every row rejected by an operator).
// Output order: batches are ordered by their first RowId. Without keyed operators that is source
// order exactly (chunks stay whole). After a keyed exchange, each shard's rows are in RowId order
// but shards are not interleaved row by row (that would cost a full copy): the order is
// deterministic for a given shard count, and a table's contents never depend on it.
// Submit() blocks when the shard's bounded channel is full (backpressure on the reader).
// After Finish() the query thread may touch the shards' keyed state (StageStateChanges) — the
// workers are idle between Finish() and the next Submit().
//
// Inputs (RecordBatch::input_tag): a slot consumes some tags (OperatorSlot::input_tags; empty =
// every tag) and a batch of another tag passes it by. A slot that joins inputs (a join) emits
// its rows under its output tag. A stage's exchange routes each consumed tag's rows by that tag's
// key columns; rows of a tag the stage's head does not consume stay on their shard.
// End of batch: once a stage has received all of the batch's rows (stage 0: after the barrier;
// later stages: after their gather), each of its operators' Finish() runs in order and what it
// emits runs through the operators after it — so an aggregate in stage s emits its groups once
// all their rows have arrived. Emitted rows get RowIds of their own (kEmittedChunkBit set in the
// chunk half: slot and shard), ordered after every source row.
// Schemas: each slot knows what was derived for it at start (OperatorSlot::input_schemas); a batch
// whose actual columns differ from the last ones checked on that shard is checked again with the
// spec's DeriveSchema, so a check that could not be made at start fails the batch with the same
// file:line:column message.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/channel.h"
#include "engine/commit_txn.h"
#include "engine/keyed_state.h"
#include "engine/operator.h"
#include "engine/progress.h"
#include "engine/record_batch.h"
#include "engine/status.h"
#include "engine/watermark.h"

namespace pinstream {

struct RejectedRow {
  RowId row_id = 0;
  std::string operator_name;
  std::string reason;
  // For a row an operator emitted (no source record behind it): the row as JSON.
  std::string emitted_row;
};

// The chunk half of the RowIds of rows emitted by operators (Operator::Finish).
inline constexpr std::uint32_t kEmittedChunkBit = 0x80000000u;
inline bool IsEmittedRow(RowId id) { return (RowIdChunk(id) & kEmittedChunkBit) != 0; }

struct BatchOutput {
  std::vector<RecordBatch> batches;  // non-empty batches, ordered by first RowId
  std::vector<RejectedRow> rejected;
  std::size_t num_rows() const {
    std::size_t n = 0;
    for (const auto& b : batches) n += b.num_rows();
    return n;
  }
};

class ShardExecutor {
 public:
  struct OperatorSlot {
    std::string name;
    const OperatorSpec* spec;
    // The tags consumed (empty: every tag) and their key columns (per entry; empty = not keyed
    // for that tag, or KeyColumns() for every tag when input_tags is empty).
    std::vector<std::uint16_t> input_tags = {};
    std::vector<std::vector<std::string>> key_columns = {};
    std::uint16_t output_tag = 0;
    bool joins_inputs = false;
    std::string where = {};     // file:line:column of the operator, for schema errors
    std::string state_id = {};  // its state is "<query>/<state_id>" (default: the slot index)
    std::vector<StreamSchema> input_schemas = {};  // derived at start, per input_tags entry
    // Consumed tags a later slot consumes too: the slot gets a copy, the batch goes on.
    std::vector<std::uint16_t> passes_on = {};
  };

  // Creates the per-shard operator instances (stateful ones load their state now) and starts
  // the workers. `state_reader` backs the keyed state (may be null if no operator is stateful).
  // `state_cache_bytes`: the point-read cache of the StateTables, split evenly among them.
  static Result<std::unique_ptr<ShardExecutor>> Create(std::string query_name, int num_shards,
                                                       std::size_t queue_capacity,
                                                       std::vector<OperatorSlot> operators,
                                                       StateReader* state_reader,
                                                       std::size_t state_cache_bytes = 64 << 20);
  ~ShardExecutor();

  int num_shards() const { return static_cast<int>(shards_.size()); }

  void BeginBatch(std::int64_t batch_id, std::int64_t batch_timestamp_us,
                  std::int64_t watermark_us = kNoWatermark);
  // Hands chunk number `chunk_index` of the batch to shard chunk_index % shards.
  void SubmitChunk(RecordBatch chunk, std::uint32_t chunk_index);
  void Submit(int shard, RecordBatch batch);
  Result<BatchOutput> Finish();

  // Stages every shard's pending keyed-state changes into `txn`. Call after Finish().
  // The stateful operators' progress for the batch just finished (call before
  // StageStateChanges, which clears the counts of updated and removed keys).
  std::vector<StateOperatorProgress> StateProgress() const;
  void StageStateChanges(std::int64_t batch_id, CommitTxn& txn);
  void DiscardStateChanges();
  // The event times the watermark slots saw in the batch just finished, by input tag (and reset).
  std::map<std::uint16_t, EventTimeStats> TakeEventTimeStats();
  // Whether a complete-mode operator changed its result in the batch just finished (any shard).
  bool ResultChanged() const;

 private:
  struct Stage {
    std::size_t first_op = 0, end_op = 0;  // [first, end) in operators_
    bool exchange = false;                 // rows are routed by key before this stage
  };
  struct Task;
  struct Piece;
  struct Shard;

  ShardExecutor() = default;
  void WorkerLoop(Shard* shard);
  void RunStage(Shard* shard, std::size_t stage, RecordBatch batch);
  void RunStage(Shard* shard, std::size_t stage, RecordBatch batch, std::size_t from_op);
  // The Finish() of each operator of the stage, in order (see the header comment).
  void FinishStage(Shard* shard, std::size_t stage);
  bool Consumes(std::size_t op, std::uint16_t tag) const;
  // The key columns slot `op` routes tag `tag` by (empty: not routed).
  const std::vector<std::string>* KeysFor(std::size_t op, std::uint16_t tag) const;
  Status CheckSchema(Shard* shard, std::size_t op, const RecordBatch& batch);
  OperatorContext MakeContext(const Shard* shard) const;
  void PartitionForStage(Shard* shard, std::size_t stage);
  void Gather(Shard* shard, std::size_t stage);
  void RunAllShards(std::size_t stage, int kind);

  std::string query_name_;
  std::vector<OperatorSlot> operators_;
  std::vector<Stage> stages_;
  std::vector<std::unique_ptr<Shard>> shards_;
  BatchLatch latch_;
  std::int64_t batch_id_ = 0;
  std::int64_t batch_ts_us_ = 0;
  std::int64_t watermark_us_ = kNoWatermark;
  StateReader* state_reader_ = nullptr;
};

}  // namespace pinstream
