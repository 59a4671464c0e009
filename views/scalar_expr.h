// ScalarExpr: a view's scalar expression (logical_plan.h's Expr) evaluated over a RecordBatch,
// column at a time — the WHERE conditions, select items, group keys and join keys of a lowered
// view. The results are the batch SQL's (`pinstream sql`: SQLite plus state/sql's functions) for
// the same expression over the same rows:
//
//   arithmetic    + - * / % and unary -; int64 op int64 is int64 (division truncates toward
//                 zero), a double operand makes it double; x / 0 and x % 0 are null; an int64
//                 result that overflows is an error (the batch SQL would turn it into a double)
//   comparisons   = <> < <= > >=, numbers across int64/double/bool, strings bytewise (SQLite's
//                 BINARY collation), timestamps by time (the batch SQL's canonical text orders
//                 the same); a null operand gives null
//   logic         AND, OR, NOT with SQL's three-valued logic; a number is true when not 0
//   timestamps   t ± INTERVAL (the planner's add_interval: µs added; an overflow is an error —
//                 the batch SQL writes it to_timestamp(unix_micros(t) + µs))
//   CASE, BETWEEN, IN (null when x is null, or when x is not found and the list has a null),
//   IS [NOT] NULL, LIKE (SQLite's: case-insensitive for ASCII, % and _, no escape), ||
//   CAST          to int64 / double / string as SQLite casts (a string's leading number, 0 when
//                 none; a double truncated and clamped); casts from or to timestamp and bool are
//                 refused at Compile (SQLite reads CAST(x AS timestamp) as a number)
//   functions     year month day hour minute second unix_timestamp unix_micros to_timestamp
//                 (one argument) concat_ws lower upper trim length substr abs round coalesce
//                 ifnull nullif — SQLite's and state/sql/sql_functions.h's definitions (numbers
//                 turned to text as SQLite prints them: 2.0, 1.0e+20)
//
// A value the batch SQL would fail on (year('not a time'), abs of the smallest int64) fails the
// evaluation with a message naming it: the batch SQL fails the whole query there, so a view must
// not invent a value.
//
// Expressions refer to the batch's columns by index (the Expr's input). A column of the batch
// whose type differs from the plan's is an error, except an all-null column (type null).
//
// Immutable after Compile; Evaluate may be called from several threads at once.
#pragma once

#include <memory>

#include "engine/record_batch.h"
#include "engine/status.h"
#include "views/logical_plan.h"

namespace pinstream::views {

class ScalarExpr {
 public:
  // InvalidArgument "<construct> is not supported in live views yet" for what this evaluator
  // cannot compute the batch SQL's way (aggregates, window functions and subqueries must have
  // been lowered into columns before).
  static Result<ScalarExpr> Compile(ExprPtr expr);

  TypeId type() const { return expr_->type; }
  const Expr& expr() const { return *expr_; }

  // The expression over every row of `batch`: a column of type() (a null column for type null)
  // with batch.num_rows() rows.
  Result<pinstream::Column> Evaluate(const RecordBatch& batch) const;

  // A condition's rows that are true (not false, not null), as 0/1 per row.
  Result<std::vector<std::uint8_t>> EvaluateTrue(const RecordBatch& batch) const;

 private:
  explicit ScalarExpr(ExprPtr e) : expr_(std::move(e)) {}
  ExprPtr expr_;
};

// A double as SQLite prints it (its "%!.15g": 15 significant digits and always a '.' or an
// exponent: 2.0, 0.1, 1.0e+20); used where a number becomes text.
std::string SqliteDoubleText(double v);

}  // namespace pinstream::views
