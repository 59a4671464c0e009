// join: stream-stream join of two named inputs of one query (Spark's
// `left.join(right, on, how)`), inner or left outer, on equality keys, with an optional
// event-time range condition.
//
//   inputs:
//     pin: {source: pin_clean, watermark: {column: ts, delay: 10m}}
//     geo: {source: geo_clean, watermark: {column: timestamp, delay: 1h}}
//   operators:
//     - kind: join
//       name: pin_geo                    # what a later operator (a second join) calls the output
//       left: pin
//       right: geo
//       on: [ind]                        # a column both sides have, or "pin.user = geo.ind"
//       how: left_outer                  # inner (default) | left_outer
//       time_range: geo.timestamp BETWEEN pin.ts - 1h AND pin.ts + 1h      # optional
//       ttl: 6h                          # optional: drop buffered rows 6h (processing time)
//                                        # after the batch that stored them
//
// Output columns: the left's columns in their order, then the right's. A key given by one name
// (`on: [ind]`, Spark's join on column names) appears once, with the left's value. Any other
// right column whose name the left already has is renamed `<right input>_<column>` (geo's
// `timestamp` beside a left `timestamp` becomes `geo_timestamp`); if that name is taken too the
// config is refused. Left outer rows without a match have nulls in the right's columns.
//
// Semantics (Spark's stream-stream joins, over weighted changes: engine/operator.h):
//   - Both sides are buffered in the operator's StateTable, one entry per key holding that
//     key's rows of both sides; a row of side X meets the other side's buffered rows of its key (and the
//     rows earlier in the same batch), so a batch emits ΔA⋈B + A⋈ΔB + ΔA⋈ΔB, each output row
//     with the product of the weights (a retraction, −1, retracts what its row produced).
//   - Late rows: a row whose input declares a watermark and whose watermark column is behind the
//     batch's watermark goes to the dead-letter table with reason `late` (numRowsDroppedBy-
//     Watermark). Retractions of rows already evicted are late too.
//   - State eviction with a time range `right.r BETWEEN left.l + a AND left.l + b`: a left row
//     goes once `l + b` is behind the watermark, if the right input's watermark is on `r` (no
//     later right row can match it then); a right row once `r − a` is, if the left input's
//     watermark is on `l`. Without a range condition (or without those watermarks) rows stay
//     until `ttl`, or forever.
//   - Left outer: a left row that matched nothing is emitted once, with nulls, when it is
//     evicted — after the watermark passes (or by ttl) — never before; the join's output stays
//     insert-only when its inputs are. Needs the time range and a watermark on the right input's
//     range column (Spark requires the same), else it is refused at start. A left row whose key
//     or range column is null can never match: it is final when it arrives and is emitted with
//     nulls at once, never buffered, so never emitted again (Spark buffers it and emits it when
//     the watermark passes: the same rows, ours earlier; a late one still goes to the dead
//     letters).
//   - A row with a null key (or null range column) never matches; for an inner join it adds
//     nothing and is not buffered.
//   - Chained joins (a join's output, by its `name`, as another join's input; an aggregate
//     after a join): the output's rows carry their left row's watermark column, and a buffered
//     left row goes out (matched later, or with nulls) up to the range's upper bound after the
//     watermark passed its time. So the output's event times may be that far behind the
//     watermark (StreamSchema::watermark_lag_us = max(left's lag, right's lag + upper, 0)); the
//     next stateful operator takes such rows without a late check (they were checked where they
//     entered the query) and evicts (a join: the other side's rows; an aggregate: its windows)
//     at the watermark minus that lag — Spark's watermark propagation between stateful
//     operators. Without a time range (or with the watermark on another column than the range's)
//     nothing bounds how old a buffered left row is: the output has no watermark column.
//     A query reading a join's output table as a stream (kind: delta) sees the same lag in its
//     input: the writing query records with each version of its table the bound of its later
//     rows' event times (its watermark minus the lag: DeltaSink, commit info metric
//     eventTimeFloor.<column>), and the reading query caps that input's watermark with it
//     (Source::EventTimeFloor, WatermarkTracker), so the null-padded rows the writer emits after
//     its watermark passed are not late there, whatever that input's delay (e2e
//     join_outer_chain).
// Bad config is refused at start with file:line:column: a key missing from one side, key types
// that differ, a range condition on a non-timestamp column, left outer without the right
// watermark, colliding output names.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

enum class JoinType { kInner, kLeftOuter };

struct JoinKey {
  std::string left, right;
  bool shared = false;  // `on: [ind]`: one output column, the left's
};

// right.right_column BETWEEN left.left_column + lower_us AND left.left_column + upper_us
struct JoinTimeRange {
  bool set = false;
  std::string left_column, right_column;
  std::int64_t lower_us = 0, upper_us = 0;
};

struct JoinConfig {
  std::string left, right;  // input names (or earlier joins' names)
  JoinType type = JoinType::kInner;
  std::vector<JoinKey> on;
  JoinTimeRange range;
  std::int64_t ttl_us = 0;  // 0: none
};

std::shared_ptr<const OperatorSpec> JoinFromConfig(const ConfigNode& node);
extern const ConfigKeys kJoinKeys;
std::shared_ptr<const OperatorSpec> MakeJoinSpec(JoinConfig config);

}  // namespace pinstream::ops
