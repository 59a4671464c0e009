// The operators a live view lowers to: weighted-change operators (engine/operator.h; DBSP's
// Z-sets) whose accumulated output equals the view's SELECT over the accumulated input, batch by
// batch.
//
//   ViewFilter     rows whose predicate is true (ScalarExpr); weights pass through
//   ViewProject    the batch's columns replaced by expressions' values; weights pass through
//   ViewDistinct   each distinct row once while its weighted count is positive: emits +1 when a
//                  row's count rises from 0, -1 when it falls back to 0
//   ViewAggregate  GROUP BY with count, count(DISTINCT), sum, avg, min, max, median,
//                  percentile_approx, percentile_disc (FILTER (WHERE …) too): per group one
//                  StateTable entry; emits -old +new for every group a batch changed (nothing
//                  when its row did not change); without group columns one global row, which
//                  exists from the first batch on (count 0, the others null), every row
//                  gathered on the shard of the empty key (gathers_all_rows)
//
// The join, UNION ALL (view_join.h) and top-N (view_topn.h) have headers of their own.
//
// The aggregate's input columns are positional — its group columns first, then the column each
// aggregate reads and the column of its FILTER — as the lowering's Project before it computes
// them. Its semantics are the batch SQL's: count(x) counts non-null values; sum of no value is
// null; sum over int64 is int64 (overflow an error, as SQLite's); avg is a double; median and
// percentiles take the value at rank max(1, ceil(p·n)) of the non-null values in ascending
// order (state/sql/sql_functions.h). min / max / median / percentiles and DISTINCT keep each
// group's values with their counts (a retraction may remove the extreme), count / sum / avg
// keep numbers. A double sum under retractions equals the batch SQL's up to the rounding of the
// order of additions.
//
// State: one StateTable per operator (OperatorSpec::uses_state_table), committed with the batch.
// Limit: a group's values live in its one entry, rewritten when the group changes — fine for
// the groups of the shipped queries (thousands of distinct values), not for a group with
// millions of distinct values under a median.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/operator.h"
#include "views/scalar_expr.h"

namespace pinstream::views {

std::shared_ptr<const OperatorSpec> MakeViewFilter(ScalarExpr predicate);

std::shared_ptr<const OperatorSpec> MakeViewProject(std::vector<ScalarExpr> exprs,
                                                    std::vector<std::string> names);

// `columns`: the output's names (the input's, unchanged).
std::shared_ptr<const OperatorSpec> MakeViewDistinct(std::vector<std::string> columns);

struct ViewAggregateCall {
  std::string function;  // count, sum, avg, min, max, median, percentile_approx, percentile_disc
  int arg = -1;          // input column (-1: count(*))
  int filter = -1;       // input column of FILTER (WHERE …), -1: none
  bool distinct = false;
  double fraction = 0.5;
  TypeId type = TypeId::kNull;  // the result's (function_catalog's TypeOfAggregate)
};

struct ViewAggregateConfig {
  int groups = 0;                        // input columns [0, groups) are the group
  std::vector<TypeId> group_types;       // their types
  std::vector<ViewAggregateCall> calls;  // after the groups in the output
  std::vector<std::string> names;        // output column names: groups, then calls
  std::string fingerprint;               // what the state means (the plan's text)
};

std::shared_ptr<const OperatorSpec> MakeViewAggregate(ViewAggregateConfig config);

}  // namespace pinstream::views
