// FunctionCatalog: the operators, scalar functions and aggregates a live view may use, and the
// type of each call — the same functions the batch SQL offers for these queries (state/sql:
// SQLite's built-ins plus median, percentile_approx, year, …), so a view and `pinstream sql` read
// a query the same way.
//
// Stateless; every function is safe to call from any thread.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "engine/types.h"

namespace pinstream::views {

// The common type of two operands (int64 and double → double, null → the other), or kNull with
// ok = false when they do not mix.
TypeId CommonType(TypeId a, TypeId b, bool* ok);
bool IsNumeric(TypeId t);  // int64, double, bool (SQLite's booleans are integers)

// The result type of scalar function or operator `name` (lower case; operators by symbol: "+",
// "=", "and", "not", "is null", "in", "between", "like", "||", …) over arguments of `args`
// types; InvalidArgument "<what is wrong>" (without position: the planner adds it) when the
// function is unknown or the arguments do not fit.
Result<TypeId> TypeOfCall(std::string_view name, std::span<const TypeId> args);

// count, sum, avg, min, max, median, percentile_approx, percentile_disc.
bool IsAggregate(std::string_view name);
// The result type of aggregate `name` over `arg` (kNull for count(*)).
Result<TypeId> TypeOfAggregate(std::string_view name, TypeId arg);

// rank, dense_rank, row_number.
bool IsRankFunction(std::string_view name);

// Every scalar function name (for "did you mean").
std::vector<std::string> ScalarFunctionNames();

}  // namespace pinstream::views
