// StreamSchema: what is known, before a query runs, about the rows flowing at one point of it —
// so that a config asking for something undefined (a window on a string column, a join key one
// side lacks, append mode without a watermark) is refused at start with file:line:column rather
// than after an hour of data.
//
// Sources declare what they know (SourceSpec::DeclaredSchema: a delta table's schema, the log
// chunk shape of http/kafka, typed files); every OperatorSpec derives its output from its input
// (OperatorSpec::DeriveSchema). Where a source cannot know its columns (a directory of untyped
// CSV files) the schema is `complete = false`: checks on columns it does not list are deferred,
// and the engine runs the same DeriveSchema on the first batches' actual columns, failing the
// query with the same message (ShardExecutor).
//
// Besides the columns a StreamSchema says what kind of changes the stream carries (engine/
// operator.h "Weights"): insert-only rows, changes with retractions (and the columns that key a
// result row, which a sink writing a table in update mode replaces by), or whole-result snapshots
// (complete mode); and the event-time column a watermark is declared on, while it flows.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/record_batch.h"
#include "engine/status.h"

namespace pinstream {

enum class ChangeKind : std::uint8_t {
  kInsertOnly,  // every row has weight +1 (sources, and linear operators over them)
  kChanges,     // rows may be retracted (-1): an aggregate in update mode, an eager left join
  kSnapshot,    // each batch with output holds the whole result (an aggregate in complete mode)
};
std::string_view ChangeKindName(ChangeKind kind);

struct StreamSchema {
  Schema schema;          // the columns known, in order; type kNull: not known before the data
  bool complete = false;  // true: exactly these columns; false: these and maybe others
  // When not complete: the type every column not listed has, when the source knows it though it
  // cannot name the columns (a CSV file's header fields are strings); kNull: not known.
  TypeId unlisted_type = TypeId::kNull;
  ChangeKind changes = ChangeKind::kInsertOnly;
  // kChanges / kSnapshot: the columns that identify a result row (group columns and window).
  std::vector<std::string> key_columns;
  // The column a watermark is declared on (config `watermark:`), while it flows through.
  std::string watermark_column;
  // How far behind the watermark the values of watermark_column may be in the rows arriving here:
  // the rows of batch N+1 hold values >= W_N - watermark_lag_us (W_N: batch N's watermark). 0 for
  // a query input's rows (those behind the watermark are dropped as late where they enter a
  // stateful operator); a join's output holds rows it kept in its state, up to its time range's
  // bound behind (a chained join or an aggregate after it must not drop them as late: it skips
  // the late check for such rows and evicts by W - lag). A join that cannot bound it clears
  // watermark_column instead.
  std::int64_t watermark_lag_us = 0;

  // Nothing known: no columns listed, not complete, insert-only.
  static StreamSchema Unknown() { return StreamSchema(); }
  // Exactly the columns of a batch (a batch's actual shape).
  static StreamSchema Of(const RecordBatch& batch);

  enum class Presence { kPresent, kAbsent, kUnknown };
  Presence Has(std::string_view column) const;
  // The column's type when listed (kNull if listed without a known type); not listed: kNull
  // when complete (absent), else unlisted_type.
  TypeId TypeOf(std::string_view column) const;
  // Adds the column, or sets the type of the one listed.
  void Put(const std::string& column, TypeId type);
  void Remove(std::string_view column);
  // "a: int64, b: timestamp" (+ ", ..." when not complete).
  std::string Describe() const;
};

// InvalidArgument "<what>: column '<c>' does not exist in its input (columns: ...)" when the
// schema is complete and lacks `column`; OK when it has it or cannot tell.
Status RequireColumnIn(const StreamSchema& in, std::string_view column, std::string_view what);
// As RequireColumnIn, and when the column's type is known it must be one of `types`.
Status RequireColumnType(const StreamSchema& in, std::string_view column, std::string_view what,
                         std::span<const TypeId> types);

}  // namespace pinstream
