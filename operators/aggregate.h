// aggregate: grouped and windowed aggregation over event time with Spark's
// output modes.
//
//   - kind: aggregate
//     group_by: [category]                               # optional: none = one group
//     window: {column: timestamp, size: 1h}              # tumbling
//     # window: {column: timestamp, size: 1h, slide: 15m}  sliding
//     # window: {column: timestamp, gap: 30m}            session
//     aggregates:
//       - {fn: count, as: posts}                         # rows (with `column`:
//       non-null values)
//       - {fn: count_distinct, column: user_id, as: users}
//       - {fn: sum, column: follower_count, as: followers}   # also avg, min,
//       max
//       - {fn: median, column: follower_count, as: median_followers}
//       - {fn: percentile, column: follower_count, p: 0.9, as: p90}
//     output_mode: append                                # append | update |
//     complete
//
// Output: the group columns, `window_start` and `window_end` (timestamps,
// windowed only), then one column per aggregate (count/count_distinct int64;
// sum int64 for int64 input, else double; avg/median/percentile double, exact,
// linear interpolation between the two nearest values as Spark's `percentile`;
// min/max the input's type). Nulls are skipped; an aggregate over no values is
// null (count: 0).
//
// Input: weighted changes (engine/operator.h): a row of weight w counts w
// times, a retraction (w < 0) takes its values back out, so an aggregate over
// an update-mode aggregate or a join is right. A group whose row count reaches
// 0 disappears (update: its row is retracted).
//
// Output modes (Spark's) and how each lands in a delta table
// (connectors/sinks/delta_sink.h):
//   append   — a window's row is emitted once, when the watermark passes its
//   end, and never
//              changes: insert-only rows, plain appends. Needs a window and a
//              watermark declared on the window's column (refused at start
//              otherwise).
//   update   — at the end of every batch, each group (and window) the batch
//   changed: -1 for its
//              previous row and +1 for the new one, keyed by the group columns
//              (and window): a "changes commit" replaces the rows by key, so
//              the table holds the current answer and each version (time
//              travel) the answer after that batch.
//   complete — the whole result after every batch that changed it: the table is
//   overwritten, so
//              it holds the current answer and each version the answer of its
//              batch.
// Late rows (event time behind the watermark, windowed queries, append and
// update) go to the dead-letter table with reason `late` and count as
// numRowsDroppedByWatermark; the state of a window whose end the watermark
// passed is dropped (append: after its row is emitted). Complete mode keeps
// every group and drops nothing, as Spark does.
//
// Session windows (`gap`, Spark's session_window): a row at t opens the
// session [t, t + gap) of its group; sessions that overlap merge, as rows
// arrive — a row within the gap of two sessions joins them (update mode
// retracts both old rows and emits the merged one). A session is final once
// the watermark passes its end (its last row + gap): append emits it then,
// once. Sessions need insert-only input (a retraction could split one: refused
// at start). State: each session's entry plus an index entry per (group,
// session start), so a group's sessions are one range scan.
//
// Without `group_by` (a global aggregate) every row is in one group (per
// window): the exchange brings all rows to one shard
// (OperatorSpec::gathers_all_rows), whose instance does all the work. In update
// mode over no window its one row is replaced every batch (the table's key is
// then the whole row).
//
// State: one StateTable entry per (group, window) — bounded memory, state
// larger than RAM works. Exact count_distinct/median/percentile (and min/max
// over input with retractions) keep each distinct value with its count in the
// group's entry; count/sum/avg keep numbers only. Not yet supported (refused at
// start with file:line:column): session windows over input with retractions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

enum class AggregateKind { kCount, kCountDistinct, kSum, kAvg, kMin, kMax, kMedian, kPercentile };
enum class OutputMode { kAppend, kUpdate, kComplete };
enum class WindowKind { kNone, kTumbling, kSliding, kSession };

struct AggregateFn {
  AggregateKind kind = AggregateKind::kCount;
  std::string column;  // empty: count rows
  double p = 0.5;      // percentile
  std::string as;
};

struct WindowSpec {
  WindowKind kind = WindowKind::kNone;
  std::string column;
  std::int64_t size_us = 0;
  std::int64_t slide_us = 0;  // = size for tumbling
  std::int64_t gap_us = 0;    // session windows
};

struct AggregateConfig {
  std::vector<std::string> group_by;
  WindowSpec window;
  std::vector<AggregateFn> aggregates;
  OutputMode mode = OutputMode::kAppend;
};

std::shared_ptr<const OperatorSpec> AggregateFromConfig(const ConfigNode& node);
extern const ConfigKeys kAggregateKeys;
extern const ConfigKeys kAggregateWindowKeys;
extern const ConfigKeys kAggregateFnKeys;
std::shared_ptr<const OperatorSpec> MakeAggregateSpec(AggregateConfig config);

}  // namespace pinstream::ops
