// Lowering: a view statement's logical plan → a graph of weighted-change operators
// (view_operators.h) that keeps its result up to date from the changes of the tables it reads.
//
// The graph has the engine's multi-input query shape (engine/config.h, `inputs:`): one named
// input per table scan of the plan (a table scanned twice — a self-join, a WITH query used twice —
// is two inputs), headed by a ViewSelect; then named nodes, each an operator whose
// OperatorSpec::ConsumedInputs() are the names of the inputs or nodes it reads, so
// BuildQuerySlots gives every node its own tag and every edge is explicit. AddToQuery fills a
// QueryConfig with it.
//
//   Scan T          input `inN`: the changes of T (ViewSelect: T's planned columns, by name)
//   Filter          ViewFilter (WHERE, HAVING)
//   Project         ViewProject
//   Aggregate       a ViewProject computing the group keys, the aggregates' arguments and their
//                   FILTERs, then ViewAggregate (GROUP BY, or one global row)
//   Distinct        ViewDistinct (SELECT DISTINCT, UNION's duplicate removal)
//   Join            ViewJoin (view_join.h), inner or left; key expressions that are not plain
//                   columns are computed by a ViewProject on their side first (and dropped after)
//   scalar subquery the subquery's graph (a one-row global aggregate) left-joined on no key to
//                   the rows of the Filter / Project using it; the expression reads that column
//   TopN            ViewTopN (view_topn.h), partition and order expressions made columns first
//   UnionAll        ViewUnionAll over every input's graph (UNION: then ViewDistinct)
//   Window          ViewWindow (view_window.h): TUMBLE / HOP, a row per window it is in
//   a subplan used twice or more (equal subtrees other than scans: a WITH query inlined at each
//                   use) is lowered once, reading every column, and its last node is read by each
//                   consumer (one operator reading it twice reads a projection of it the second
//                   time)
//   Sort (final)    nothing: the view's table is a set; ORDER BY applies when it is read
//   Limit (final)   over the final Sort: ViewTopN, row_number over the sort keys over one
//                   partition, ranks (offset, offset + limit], rank column dropped
// Refused with the construct and file:line:column: LIMIT without ORDER BY, OFFSET without LIMIT,
// ORDER BY an array, join keys of two types (int64 = double), a scalar subquery inside an
// aggregate's argument, expressions ScalarExpr refuses.
//
// Run by the daemon as a query (view_query.h: AddToQuery, a delta source per input, the sink).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/operator.h"
#include "views/logical_plan.h"
#include "views/sql_parser.h"

namespace pinstream::views {

// One scan of the plan: a query input reading the changes of `table`.
struct LoweredInput {
  std::string name;   // "in1", "in2", …: unique in the view, never a node's name
  std::string table;  // the table read (its changes: new versions +1, retractions -1)
  // Its one operator: MakeViewSelect of the table's planned columns (bare names, plan order).
  std::shared_ptr<const OperatorSpec> select;
};

// One operator of the graph.
struct LoweredNode {
  std::string name;                 // "n1", "n2", …: unique in the view
  std::vector<std::string> inputs;  // the inputs' / earlier nodes' names it reads, in order
  // spec->ConsumedInputs() == inputs; its output tag is named `name`.
  std::shared_ptr<const OperatorSpec> spec;
};

struct LoweredView {
  std::vector<LoweredInput> inputs;
  // In dependency order (a node reads only inputs and nodes before it); every input and every
  // node but the last is read by one node — or by several when it heads a subplan the statement
  // uses more than once (a WITH query read twice: computed once, QueryConfig::shared_inputs);
  // the last node's output is the view's result.
  std::vector<LoweredNode> nodes;
  std::vector<std::string> columns;  // the result's column names (the plan's)
  // One line per input, then per node (for explain): "n3 ← in1, n2: join inner on …".
  std::vector<std::string> graph;

  // The distinct tables read, in first-scan order.
  std::vector<std::string> Tables() const;
};

// Lowers statement `index` of `sql`, planned as `plan`. InvalidArgument "path:line:col: <construct>
// is not lowered to a running view yet" for what cannot run.
Result<LoweredView> LowerPlan(const ParsedSql& sql, std::size_t index, const PlanNode& plan);

// Adds the view's graph to `query` as the engine runs it: query.multi_input, one InputConfig per
// LoweredInput (its name, `sources` left empty — the caller names the source reading its table —
// and the select as its one operator), one query-level OperatorConfig per node (named as the
// node, kind = spec->kind()). Then BuildQuerySlots(query) gives the slots.
void AddToQuery(const LoweredView& view, QueryConfig* query);

// The operator that heads a lowered view: the batch's columns `names` (planned types `types`),
// found by name and put in that order; a missing column or another type is an error. A column
// whose `read` entry is false (the view never reads it) becomes nulls of its type, keeping the
// positions while costing the operators after it (join and top-N rows in state) nothing; an
// empty `read`: every column is read.
std::shared_ptr<const OperatorSpec> MakeViewSelect(std::vector<std::string> names,
                                                   std::vector<TypeId> types,
                                                   std::vector<bool> read = {});

// `spec` reading the named inputs `inputs` of its query (ConsumedInputs()); everything else is
// `spec`'s. A single-input operator's state and output get a tag of their own.
std::shared_ptr<const OperatorSpec> WithInputs(std::shared_ptr<const OperatorSpec> spec,
                                               std::vector<std::string> inputs);

}  // namespace pinstream::views
