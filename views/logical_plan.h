// The logical plan of a live view: what its SELECT computes, as a tree of relational nodes over
// typed columns, before it is lowered to the streaming operators that keep it up to date.
//
//   Scan       a table's rows (a delta table: the view reads its new versions as changes)
//   Filter     rows whose predicate is true (WHERE, HAVING, conditions of joins on one side)
//   Project    computed columns (the select list, CASE, functions, arithmetic)
//   Join       inner or left join on equality keys (one expression per side and key), a left
//              join with a residual condition deciding which rows of the key match
//   Aggregate  GROUP BY groups with count, count(DISTINCT), sum, avg, min, max, median,
//              percentile_approx, percentile_disc (no group expressions: one global row)
//   Distinct   SELECT DISTINCT / UNION
//   TopN       rank / dense_rank / row_number over a partition, keeping the rows whose rank is at
//              most `limit` (the rank itself is the node's last column)
//   UnionAll   the rows of every input
//   Window     TUMBLE / HOP in FROM: the input's columns and window_start, window_end (timestamps);
//              a row once per window of `window_size_us` starting at a multiple of
//              `window_slide_us` that holds its time column (a null time: no window)
//   Sort       ORDER BY of the final result (presentation: the view's table is a set)
//   Limit      LIMIT / OFFSET of the final result
//
// Expressions refer to the columns of their node's input by index (for a Join: the left input's
// columns, then the right's). Every expression and node is typed with pinstream's TypeIds.
//
// Plans are immutable once built (the planner shares subtrees; nothing mutates them after
// PlanView returns) and may be read from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/types.h"

namespace pinstream::views {

struct Expr;
struct PlanNode;
using ExprPtr = std::shared_ptr<const Expr>;
using PlanPtr = std::shared_ptr<const PlanNode>;

enum class ExprKind : std::uint8_t {
  kColumn,    // input column `column`
  kLiteral,   // `value`
  kCall,      // operator or scalar function `name` over `args` (see function_catalog.h);
              // add_interval(t, µs): timestamp t ± an INTERVAL constant (args[1], signed µs)
  kCase,      // CASE: args = [when1, then1, when2, then2, …, else]
  kSubquery,  // an uncorrelated scalar subquery: `subquery` has one column and at most one row
  // Only while planning, replaced by columns of an Aggregate / TopN before a plan is returned:
  kAggregate,  // aggregate call `name` over `args` (`distinct`, `filter`, `fraction`)
  kWindow,     // rank / dense_rank / row_number: args = partition, `order`
};

struct SortKey {
  ExprPtr expr;
  bool descending = false;
  bool nulls_first = false;  // SQLite's default: nulls first ascending, last descending
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  TypeId type = TypeId::kNull;
  int location = -1;  // offset in the rewritten SQL text (SqlText::Location), -1 unknown
  int column = -1;    // kColumn
  std::string name;   // kColumn: display name ("p.ind"); kCall/kAggregate/kWindow: function
  Value value;        // kLiteral
  std::vector<ExprPtr> args;
  bool distinct = false;       // kAggregate: count(DISTINCT x)
  bool star = false;           // kAggregate: count(*)
  ExprPtr filter;              // kAggregate: FILTER (WHERE …)
  double fraction = 0.5;       // kAggregate: percentile fraction (median: 0.5)
  std::vector<SortKey> order;  // kWindow: ORDER BY of the window
  PlanPtr subquery;            // kSubquery

  // Structural equality (same computation over the same input columns).
  bool SameAs(const Expr& other) const;
  // SQL-like text, columns by display name: "year(g.timestamp) >= 2018".
  std::string ToString() const;
};

struct Column {
  std::string name;
  TypeId type = TypeId::kNull;
};

enum class NodeKind : std::uint8_t {
  kScan,
  kFilter,
  kProject,
  kJoin,
  kAggregate,
  kDistinct,
  kTopN,
  kUnionAll,
  kWindow,
  kSort,
  kLimit,
};
std::string_view NodeKindName(NodeKind kind);

enum class JoinKind : std::uint8_t { kInner, kLeft };

struct AggregateCall {
  std::string function;  // count, sum, avg, min, max, median, percentile_approx, percentile_disc
  ExprPtr arg;           // null for count(*)
  bool distinct = false;
  ExprPtr filter;         // FILTER (WHERE …), or null
  double fraction = 0.5;  // percentile_approx / percentile_disc / median
  TypeId type = TypeId::kNull;
  std::string ToString() const;
};

struct PlanNode {
  NodeKind kind = NodeKind::kScan;
  std::vector<Column> columns;  // the node's output
  std::vector<PlanPtr> inputs;
  int location = -1;

  std::string table;                           // kScan: the table read
  std::string alias;                           // kScan: as named in the query (display)
  ExprPtr predicate;                           // kFilter
  std::vector<ExprPtr> exprs;                  // kProject: one per output column
  JoinKind join = JoinKind::kInner;            // kJoin
  std::vector<ExprPtr> left_keys, right_keys;  // kJoin: over each input's columns
  // kJoin, left only: the ON conditions beside the keys, over the joined row (left columns, then
  // right): a left row is matched by the right rows of its key for which it is true, and passes
  // with nulls when there is none (an inner join's are a Filter above it). Null: none.
  ExprPtr residual;
  std::vector<ExprPtr> group;                  // kAggregate: output columns first
  std::vector<AggregateCall> aggregates;       // kAggregate: after the groups
  std::string rank_function;                   // kTopN
  std::vector<ExprPtr> partition;              // kTopN
  std::vector<SortKey> order;                  // kTopN, kSort
  std::int64_t limit = -1;                     // kTopN (rank ≤ limit), kLimit (-1: none)
  std::int64_t offset = 0;                     // kLimit
  int time_column = -1;                        // kWindow: the input column of event time
  std::int64_t window_size_us = 0;             // kWindow
  std::int64_t window_slide_us = 0;            // kWindow (= size: TUMBLE)
};

// The plan as an indented tree, one node per line with what it computes and, where it makes
// new columns, their names and types (scalar subqueries under the node using them), e.g.
//   Sort country, category
//     Project counts.country AS country, …  → (country: string, …)
//       TopN rank() over (partition by counts.country order by counts.category_count DESC) <= 1
//       AS r  → (input, r: int64)
//         …
std::string Explain(const PlanNode& root);

// Convenience constructors used by the planner and tests.
ExprPtr ColumnRef(int column, std::string name, TypeId type, int location = -1);
ExprPtr Literal(Value value, int location = -1);

}  // namespace pinstream::views
