// Lowering: a view statement's logical plan → the chain of weighted-change operators
// (view_operators.h) that keeps its result up to date from the changes of the table it reads.
//
// Lowered so far — views over ONE table:
//   Scan T          the stream of T's changes (ViewSelect: T's planned columns, by name, in order)
//   Filter          ViewFilter (WHERE, HAVING)
//   Project         ViewProject
//   Aggregate       a ViewProject computing the group keys, the aggregates' arguments and their
//                   FILTERs, then ViewAggregate (GROUP BY, or one global row)
//   Distinct        ViewDistinct (SELECT DISTINCT, UNION's duplicate removal)
//   Sort (final)    nothing: the view's table is a set; ORDER BY applies when it is read
// Not yet (refused with the construct and file:line:column): joins, top-N (rank / dense_rank /
// row_number with a bound, ORDER BY … LIMIT), UNION ALL, LIMIT / OFFSET of the result, scalar
// subqueries, expressions ScalarExpr refuses.
//
// Not wired into the daemon yet: `pinstream run` still refuses views (views_config.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/operator.h"
#include "views/logical_plan.h"
#include "views/sql_parser.h"

namespace pinstream::views {

struct LoweredView {
  std::string table;  // the table read
  std::vector<std::shared_ptr<const OperatorSpec>> operators;
  std::vector<std::string> graph;  // one line per operator, source first (for explain)
};

// Lowers statement `index` of `sql`, planned as `plan`. InvalidArgument "path:line:col: <construct>
// is not lowered to a running view yet" for what cannot run.
Result<LoweredView> LowerPlan(const ParsedSql& sql, std::size_t index, const PlanNode& plan);

// The operator that heads a lowered view: the batch's columns `names` (planned types `types`),
// found by name and put in that order; a missing column or another type is an error.
std::shared_ptr<const OperatorSpec> MakeViewSelect(std::vector<std::string> names,
                                                   std::vector<TypeId> types);

}  // namespace pinstream::views
