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
// engine re-partitions rows by those columns before the operator's stage.
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
#include "engine/status.h"

namespace pinstream {

struct RowRejection {
  std::uint32_t row = 0;  // index in the batch as Process() returned it
  std::string reason;
};

class OperatorContext {
 public:
  std::int64_t batch_id = 0;
  // Deterministic "now" of the batch: the planning time stored in offsets/N.
  std::int64_t batch_timestamp_us = 0;
  int shard = 0;

  void RejectRow(std::size_t row, std::string reason) {
    rejections_.push_back(RowRejection{static_cast<std::uint32_t>(row), std::move(reason)});
  }
  std::vector<RowRejection>& rejections() { return rejections_; }

 private:
  std::vector<RowRejection> rejections_;
};

// The size of a stateful operator's in-memory state on one shard, for progress reports
// (Spark's StateOperatorProgress numRowsTotal / memoryUsedBytes).
struct OperatorStateSize {
  std::int64_t rows = 0;
  std::int64_t memory_bytes = 0;
};

class Operator {
 public:
  virtual ~Operator() = default;
  [[nodiscard]] virtual Status Process(RecordBatch& batch, OperatorContext& ctx) = 0;

  // Stateful operators: the keys held and the memory they take now (read by the query thread
  // between batches, when the shard is idle).
  virtual OperatorStateSize StateSize() const { return {}; }

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
  int operator_index = 0;  // position in the query's operator list
  int shard = 0;
  int num_shards = 1;
  // Non-null for stateful operators: this shard's view of the operator's durable state.
  KeyedStateStore* state = nullptr;
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
  // Set when the operator reads only these input columns and its output holds none of the
  // others (parse_json: its raw column and `keep`). As a query's first operator, this lets the
  // engine prune the sources' columns to these (Source::PruneColumns).
  virtual std::optional<std::vector<std::string>> InputColumns() const { return std::nullopt; }
  // True when the operator keeps state in the checkpoint.
  virtual bool stateful() const { return false; }
  // Everything about the config that the state's meaning depends on (e.g. dedup key columns).
  // Stored in the checkpoint metadata; a change between runs is refused (it would corrupt state).
  virtual std::string StateFingerprint() const { return std::string(kind()); }
};

}  // namespace pinstream
