// Operator: one step of a query's per-key pipeline (parse, clean, dedup, ...).
//
// Configuration is parsed once, at config load, into an OperatorSpec (typed config + factory).
// The engine creates one Operator instance per shard from the spec, so an instance is only ever
// called from its shard's worker thread: operators need no locks.
//
// Contract of Process():
//   * It transforms `batch` in place: it may add, replace, remove, rename or reorder columns and
//     drop rows (Compact keeps row ids aligned), but every row it keeps keeps its RowId.
//   * Row-level failures (an unparseable number, a bad timestamp, malformed JSON) are reported
//     with ctx.RejectRow(i, reason) — `i` indexes the batch as Process() returns it — and the
//     operator leaves some value (or null) in that row. After Process() returns the engine
//     removes rejected rows and sends them, with the reason and their source position, to the
//     query's dead-letter table. Row failures never fail the batch.
//   * A returned error Status means the batch cannot be processed at all (e.g. a configured
//     column does not exist in the input). It fails the batch and stops the query with that
//     message; nothing of the batch is committed.
//   * Determinism: the output depends only on the input batch, the operator's committed state
//     and ctx.batch_timestamp_us (never on the wall clock, thread timing or shard count), so a
//     replayed batch produces exactly what the first attempt produced.
//   * Process() must not block on I/O or sleep.
//
// Keyed operators (KeyColumns() non-empty) see every row of a given key on the same shard: the
// engine re-partitions rows by those columns before the operator's stage. An operator keyed by
// no column (OperatorSpec::gathers_all_rows: a global aggregate) gets every row on one shard.
//
// Weights (changes; DBSP's Z-sets; engine/record_batch.h): every row carries a weight, +1 for an
// insert and -1 for a retraction of an equal row. Sources and the cleaning operators produce +1
// rows only (and leave RecordBatch::weights() empty, so they pay nothing for it).
//   * Linear operators (filter, projections, casts, ...) apply to each row and keep its weight:
//     Compact/Take/TakeFrom carry weights along, so an operator that only drops, reorders or
//     rewrites columns needs nothing more.
//   * Stateful operators consume weighted changes and emit weighted changes: an aggregate whose
//     value for a group changes emits -1 for the old row and +1 for the new one; a join emits
//     Δ(A⋈B) = ΔA⋈B + A⋈ΔB + ΔA⋈ΔB with the product of the weights. The next operator handles
//     both. Whether a stream can carry retractions at all is known at start
//     (StreamSchema::changes), so an operator that cannot handle them (dedup, session windows)
//     refuses the config instead of failing later.
//
// Inputs: a query may have several named inputs (config `inputs:`), each a tag on its batches
// (RecordBatch::input_tag). An operator slot of one input sees only that input's batches; a join
// consumes two tags and emits batches of its own output tag. Operator instances never see a batch
// of a tag they do not consume.
//
// End of a batch: Finish() is called once per micro-batch on every shard after every row of the
// batch has passed the operator (also for a batch without data that the engine runs when the
// watermark advanced: Spark's no-data micro-batch). An operator that emits per batch rather than
// per row (an aggregate's changed groups, windows the watermark closed) returns its rows there;
// the engine runs them through the operators after it. Rows emitted in Finish() get fresh RowIds
// from the engine (they lead back to no source record).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/keyed_state.h"
#include "engine/record_batch.h"
#include "engine/state_table.h"
#include "engine/status.h"
#include "engine/stream_schema.h"

namespace pinstream {

struct RowRejection {
  std::uint32_t row = 0;  // index in the batch as Process() returned it
  std::string reason;
  bool late = false;  // dropped because its event time is behind the watermark
};

// No watermark (the query declares none, or nothing has been seen yet).
inline constexpr std::int64_t kNoWatermark = INT64_MIN;

class OperatorContext {
 public:
  std::int64_t batch_id = 0;
  // Deterministic "now" of the batch: the planning time stored in offsets/N.
  std::int64_t batch_timestamp_us = 0;
  // The event-time watermark of the batch (µs UTC; kNoWatermark if none): computed from the
  // batches before this one and stored in offsets/N, so a replay sees the same. Rows whose event
  // time is below it are late: stateful operators drop them with RejectLateRow.
  std::int64_t watermark_us = kNoWatermark;
  int shard = 0;

  void RejectRow(std::size_t row, std::string reason) {
    rejections_.push_back(RowRejection{static_cast<std::uint32_t>(row), std::move(reason), false});
  }
  // A row behind the watermark: to the dead-letter table with a reason starting with "late",
  // counted as the operator's numRowsDroppedByWatermark.
  void RejectLateRow(std::size_t row, std::string reason) {
    rejections_.push_back(RowRejection{static_cast<std::uint32_t>(row), std::move(reason), true});
  }
  std::vector<RowRejection>& rejections() { return rejections_; }

 private:
  std::vector<RowRejection> rejections_;
};

// The size of a stateful operator's state on one shard, for progress reports (Spark's
// StateOperatorProgress). `rows_updated` / `rows_removed` count the batch just processed (the
// engine reads them between Finish() and staging the batch's state); operators on keyed state
// (KeyedStateStore) leave them 0 and the engine counts that store's changes instead.
struct OperatorStateSize {
  std::int64_t rows = 0;
  std::int64_t memory_bytes = 0;
  std::int64_t rows_updated = 0;
  std::int64_t rows_removed = 0;
};

class Operator {
 public:
  virtual ~Operator() = default;
  [[nodiscard]] virtual Status Process(RecordBatch& batch, OperatorContext& ctx) = 0;

  // Called once per micro-batch after the batch's last row (see the header comment); rows to
  // emit go to *out (any number of batches, each with this operator's output tag).
  [[nodiscard]] virtual Status Finish(OperatorContext& ctx, std::vector<RecordBatch>* out) {
    (void)ctx, (void)out;
    return Status::Ok();
  }

  // Stateful operators: the keys held and the memory they take now (read by the query thread
  // between batches, when the shard is idle).
  virtual OperatorStateSize StateSize() const { return {}; }
  // Complete-mode (snapshot) operators: whether the last batch changed the result. The engine
  // writes a snapshot only for a batch where some shard's operator says so.
  virtual bool ChangedResult() const { return false; }

  // Optional fast path for a keyed operator that only drops rows — never changes, reorders or
  // rejects them — such as dedup. When the operator heads a stage, the exchange asks it which
  // of `rows` (ascending indexes into `in`, a batch of another shard, read-only) to keep and
  // copies only those, instead of copying every row and letting Process() drop some.
  // `key_hashes[i]` is HashRow(in, key columns, rows[i]). It must append to *kept exactly the
  // rows Process() would keep of in.Take(rows), in order, with the same effect on its state.
  virtual bool SupportsSelectRows() const { return false; }
  [[nodiscard]] virtual Status SelectRows(const RecordBatch& in,
                                          std::span<const std::uint32_t> rows,
                                          std::span<const std::uint64_t> key_hashes,
                                          OperatorContext& ctx, std::vector<std::uint32_t>* kept) {
    (void)in, (void)rows, (void)key_hashes, (void)ctx, (void)kept;
    return Internal("SelectRows is not supported by this operator");
  }
};

struct OperatorInitContext {
  std::string query_name;
  int operator_index = 0;  // position in the query's operator slots (state namespace)
  int shard = 0;
  int num_shards = 1;
  // Non-null for stateful operators: this shard's view of the operator's durable state — a
  // StateTable for those that ask for one (OperatorSpec::uses_state_table), else a
  // KeyedStateStore.
  KeyedStateStore* state = nullptr;
  StateTable* table = nullptr;
  // The tags of the inputs the operator consumes (one per ConsumedInputs() name; else the one
  // stream it is placed on) and the tag of what it emits.
  std::vector<std::uint16_t> input_tags;
  std::uint16_t output_tag = 0;
  // What was derived at start for each consumed input (DeriveSchema's inputs).
  std::vector<StreamSchema> input_schemas;
};

class OperatorSpec {
 public:
  virtual ~OperatorSpec() = default;
  // The config kind ("parse_json", "dedup", ...).
  virtual std::string_view kind() const = 0;
  // Creates the instance for one shard; stateful operators load their committed state here.
  virtual Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const = 0;
  // Non-empty for keyed operators: the engine routes rows by these columns before this operator.
  virtual std::vector<std::string> KeyColumns() const { return {}; }
  // Keyed by no column at all: every row must meet one instance (an aggregate without group_by).
  // The exchange sends all rows to the shard of the empty key, ShardOfHash(HashBytes("")), which
  // owns the state partition of the empty key. KeyColumns() is then empty.
  virtual bool gathers_all_rows() const { return false; }
  // Set when the operator reads only these input columns and its output holds none of the
  // others (parse_json: its raw column and `keep`). As a query's first operator, this lets the
  // engine prune the sources' columns to these (Source::PruneColumns).
  virtual std::optional<std::vector<std::string>> InputColumns() const { return std::nullopt; }
  // True when the operator keeps state in the checkpoint.
  virtual bool stateful() const { return false; }
  // Stateful operators whose state may outgrow memory: the engine gives each instance a
  // StateTable (OperatorInitContext::table) instead of a KeyedStateStore.
  virtual bool uses_state_table() const { return false; }
  // For a StateTable: the kinds (the byte after the partition byte) of the operator's index keys,
  // kept beside its entries and not counted as state rows in progress (StateTable's header).
  virtual std::string_view state_index_kinds() const { return {}; }
  // Everything about the config that the state's meaning depends on (e.g. dedup key columns).
  // Stored in the checkpoint metadata; a change between runs is refused (it would corrupt state).
  virtual std::string StateFingerprint() const { return std::string(kind()); }

  // Operators over several named inputs of the query (a join: its left and right input, by
  // config name): those names. Empty: the operator works on the stream it is placed on.
  virtual std::vector<std::string> ConsumedInputs() const { return {}; }
  // The key columns of consumed input `input` (index into ConsumedInputs()); KeyColumns() by
  // default. The exchange routes each input's rows by its own key columns.
  virtual std::vector<std::string> KeyColumnsOf(std::size_t input) const {
    (void)input;
    return KeyColumns();
  }
  // The schema of what the operator emits, from what it receives (one StreamSchema per consumed
  // input; one for a single-stream operator). An error says what is wrong in the operator's own
  // terms ("window column 'ts' is string, not timestamp"); the engine adds the operator's
  // file:line:column. Called at start with what is known (StreamSchema::complete may be false)
  // and — where that was not everything — on the actual columns of batches, so a check that could
  // not be made at start fails the query on its first batch with the same message. The default:
  // the rows pass with their columns unchanged (a filter).
  virtual Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const {
    if (inputs.empty()) return StreamSchema::Unknown();
    return inputs.front();
  }
};

}  // namespace pinstream
