// The planner: a parsed SELECT (libpg_query's tree) → its typed logical plan (logical_plan.h),
// with every column resolved against the tables' schemas and every construct either planned or
// refused with its name and file:line:column.
//
// Supported: FROM with tables, subqueries and WITH queries (inlined where used), inner and left
// joins on equality keys (JOIN … ON/USING, and comma joins whose equalities are in WHERE; any
// number of tables, joined left-deep), WHERE, GROUP BY (expressions, output names, ordinals) and
// HAVING, count / count(DISTINCT) / sum / avg / min / max / median / percentile_approx /
// percentile_disc … WITHIN GROUP (aggregates may carry FILTER (WHERE …)), CASE, BETWEEN, IN
// (lists), IS [NOT] NULL, LIKE, arithmetic, comparisons, the scalar functions of
// function_catalog.h, CAST, uncorrelated scalar subqueries that return one row (an aggregate
// without GROUP BY), SELECT DISTINCT, rank / dense_rank / row_number over a partition when a
// filter above bounds the rank (top-N per group), ORDER BY … LIMIT inside a subquery (a top-N),
// UNION ALL and UNION, ORDER BY / LIMIT / OFFSET of the final result, and the window table
// functions TUMBLE(t, time, INTERVAL size) / HOP(t, time, INTERVAL slide, INTERVAL size) in FROM
// (a Window node: t's columns and window_start, window_end).
//
// Refused (each with its name and position): RIGHT / FULL / NATURAL / CROSS joins and joins
// without an equality key, correlated subqueries, IN (SELECT …), EXISTS, INTERSECT / EXCEPT,
// WITH RECURSIVE, window functions other than the three ranks or without a bound on their value,
// GROUPING SETS / ROLLUP / CUBE, DISTINCT ON, LIMIT without ORDER BY inside a subquery, VALUES,
// functions in FROM other than TUMBLE / HOP, and any operator or function not listed.
//
// Name resolution follows SQLite where the two dialects differ and the query is valid in both:
// identifiers are case-insensitive, ORDER BY names an output column before an input column;
// GROUP BY names an input column before an output column (both agree on the shipped queries).
// A column neither grouped nor aggregated is an error (SQLite would pick a row's value).
//
// Stateless apart from its arguments; PlanStatement may be called from any thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/status.h"
#include "views/logical_plan.h"
#include "views/sql_parser.h"

namespace pinstream::views {

// The tables a view may read: name → columns (in order, typed).
struct TableInfo {
  std::string name;
  std::vector<Column> columns;
  // False when the table may have columns not listed (its writer's schema is not fully known
  // before data arrives): a column not listed is refused as unknown.
  bool complete = true;
  std::string origin;  // where the schema comes from, for messages ("query pin's sink")
};

class SchemaCatalog {
 public:
  void Add(TableInfo table);
  const TableInfo* Find(std::string_view name) const;  // case-insensitive
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, TableInfo> tables_;  // by lower-case name
};

// Plans statement `index` of `sql`. Errors are InvalidArgument "path:line:col: message".
Result<PlanPtr> PlanStatement(const ParsedSql& sql, std::size_t index,
                              const SchemaCatalog& catalog);

}  // namespace pinstream::views
