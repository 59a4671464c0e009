// Sink: where a query's output goes, committed with the batch that produced it.
//
// Lifecycle (Open/Close on the query's thread; Prepare, Stage/StagePrepared on the batch's commit
// thread — Stage one batch after the other, each after the previous batch's commit finished):
//   1. Open(ctx) once before the first batch.
//   2. per batch N: Stage(N, output, txn) exactly once per batch attempt, after all operators
//      ran. `output` is the whole batch's output as a list of record batches, in the order
//      described in shard_executor.h (source order for queries without keyed operators).
//      A transactional sink stages its writes into `txn` so that they become durable with the
//      batch's commit marker; it must not make anything visible before the commit (use
//      txn.OnCommitted for in-memory effects). A non-transactional sink must be idempotent for
//      a batch id (a replayed batch N rewrites the same output) or document that it is
//      at-least-once.
//   3. Close() at shutdown.
// A Stage() error fails the batch: nothing of it is committed, and the query stops with that
// error (the same batch is re-run after a restart).
//
// What a sink receives (SinkContext::changes, derived at start from the query's operators):
//   kInsertOnly  rows with weight +1 (every query without an update-mode aggregate or an eager
//                left join): appended.
//   kChanges     weighted rows (engine/operator.h "Weights"): -1 retracts one row equal on
//                SinkContext::key_columns, +1 inserts. A delta table applies them as one changes
//                commit; append-only sinks (files, Kafka) refuse such a query at Open() and
//                any batch with a weight other than +1 (RefuseRetractions).
//   kSnapshot    complete mode: Stage() is called only for batches that changed the result, and
//                `output` is then the whole result (possibly empty) — a delta table writes it as
//                an overwrite version.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/commit_txn.h"
#include "engine/record_batch.h"
#include "engine/status.h"
#include "engine/stream_schema.h"

namespace pinstream {

struct SinkContext {
  std::string query_name;
  std::string query_id;    // stable across restarts (checkpoint metadata)
  std::int64_t epoch = 0;  // bumped by `checkpoint rewind`, part of the txn id
  // What the query's output carries (see the header comment), and its columns as derived.
  ChangeKind changes = ChangeKind::kInsertOnly;
  std::vector<std::string> key_columns = {};
  StreamSchema schema = {};
  // True when every output row of batch N holds schema.watermark_column >= W_{N-1} -
  // schema.watermark_lag_us (W_{N-1}: the watermark of the batch before, told by
  // NoteOutputBound): the rows went through a stateful operator that drops late rows (a join, an
  // aggregate). A delta table records that bound with each version for the queries that read it
  // as a stream (Source::EventTimeFloor).
  bool watermark_bounds_output = false;
};

// For append-only sinks. At Open(): FailedPrecondition unless the query's output is insert-only,
// naming the query, the sink and the remedies. At Stage(): the same for a batch holding a row
// whose weight is not +1.
Status RequireInsertOnly(const SinkContext& ctx, std::string_view sink);
Status RefuseRetractions(const SinkContext& ctx, std::string_view sink,
                         const std::vector<RecordBatch>& output);

class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string_view kind() const = 0;
  // For progress reports: DeltaSink[pin], FileSink[/out].
  virtual std::string Describe() const = 0;
  [[nodiscard]] virtual Status Open(const SinkContext& ctx) = 0;
  [[nodiscard]] virtual Status Stage(std::int64_t batch_id, const std::vector<RecordBatch>& output,
                                     CommitTxn& txn) = 0;

  // Optional two-step staging, for CPU-heavy work that does not depend on earlier batches having
  // committed (a delta table encodes and compresses its chunks). Prepare() runs on the batch's
  // commit thread before it waits for the previous batch's commit — so concurrently with the
  // previous batch's Prepare/Stage: it must not touch what those change — and must make nothing
  // visible. StagePrepared() then replaces Stage() for that batch attempt, with what Prepare()
  // returned. By default nothing is prepared and StagePrepared() is Stage().
  struct Prepared {
    virtual ~Prepared() = default;
  };
  virtual Result<std::unique_ptr<Prepared>> Prepare(std::int64_t batch_id,
                                                    const std::vector<RecordBatch>& output) {
    (void)batch_id;
    (void)output;
    return std::unique_ptr<Prepared>();
  }
  [[nodiscard]] virtual Status StagePrepared(std::int64_t batch_id,
                                             const std::vector<RecordBatch>& output,
                                             std::unique_ptr<Prepared> prepared, CommitTxn& txn) {
    (void)prepared;
    return Stage(batch_id, output, txn);
  }
  // The end offsets of batch `batch_id` (its offsets/N: source → partition → end offset), told on the
  // commit thread just before its Stage/StagePrepared — for a sink that records what its output
  // was computed from (a live view's table: the input versions consumed). Default: ignored.
  virtual void NoteBatchEnds(std::int64_t batch_id,
                             const std::map<std::string, std::map<std::string, std::int64_t>>& ends) {
    (void)batch_id;
    (void)ends;
  }
  // A live view's reset (StreamingQuery::Start, after Open): stages into `txn` a version of the
  // sink's table without rows — so the view, started over from its inputs' first versions,
  // rewrites its answer — or refuses (FailedPrecondition) with the reason: the table's columns
  // are not the query's output columns. Only a table sink can.
  [[nodiscard]] virtual Status StageReset(CommitTxn& txn) {
    (void)txn;
    return FailedPrecondition(Describe() + " cannot be emptied: only a table can be reset");
  }
  // The watermark of the batch before `batch_id`, which bounds this batch's output rows, and
  // batch_id's own, which bounds the later batches' (SinkContext::watermark_bounds_output;
  // kNoWatermark: none), told on the commit thread just before its Stage/StagePrepared.
  // Default: ignored.
  virtual void NoteOutputBound(std::int64_t batch_id, std::int64_t previous_watermark_us,
                               std::int64_t watermark_us) {
    (void)batch_id;
    (void)previous_watermark_us;
    (void)watermark_us;
  }
  virtual void Close() {}
};

}  // namespace pinstream
