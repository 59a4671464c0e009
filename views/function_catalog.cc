#include "views/function_catalog.h"

#include <algorithm>
#include <array>

namespace pinstream::views {
namespace {

struct ScalarFunction {
  std::string_view name;
  int min_args;
  int max_args;  // -1: any number
};

// SQLite's built-ins the views support and pinstream's own functions (state/sql/sql_functions.h).
constexpr std::array kScalars = {
    ScalarFunction{"year", 1, 1},
    ScalarFunction{"month", 1, 1},
    ScalarFunction{"day", 1, 1},
    ScalarFunction{"hour", 1, 1},
    ScalarFunction{"minute", 1, 1},
    ScalarFunction{"second", 1, 1},
    ScalarFunction{"unix_timestamp", 1, 2},
    ScalarFunction{"unix_micros", 1, 1},
    ScalarFunction{"to_timestamp", 1, 2},
    ScalarFunction{"concat_ws", 2, -1},
    ScalarFunction{"lower", 1, 1},
    ScalarFunction{"upper", 1, 1},
    ScalarFunction{"trim", 1, 1},
    ScalarFunction{"length", 1, 1},
    ScalarFunction{"substr", 2, 3},
    ScalarFunction{"abs", 1, 1},
    ScalarFunction{"round", 1, 2},
    ScalarFunction{"coalesce", 2, -1},
    ScalarFunction{"ifnull", 2, 2},
    ScalarFunction{"nullif", 2, 2},
};

std::string Type(TypeId t) { return std::string(TypeName(t)); }

bool IsTextual(TypeId t) { return t == TypeId::kString || t == TypeId::kNull; }
bool IsTimeLike(TypeId t) { return t == TypeId::kTimestamp || IsTextual(t); }

// Comparable: numbers with numbers, strings with strings, timestamps with timestamps (a string
// literal compared with a timestamp is converted by the planner first), null with anything.
bool Comparable(TypeId a, TypeId b) {
  if (a == TypeId::kNull || b == TypeId::kNull) return true;
  if (IsNumeric(a) && IsNumeric(b)) return true;
  return a == b && a != TypeId::kDoubleArray && a != TypeId::kRaw;
}

Status Mismatch(std::string_view name, std::span<const TypeId> args) {
  std::string types;
  for (TypeId t : args) types += (types.empty() ? "" : ", ") + Type(t);
  return InvalidArgument("cannot apply " + std::string(name) + " to (" + types + ")");
}

}  // namespace

bool IsNumeric(TypeId t) {
  return t == TypeId::kInt64 || t == TypeId::kDouble || t == TypeId::kBool;
}

TypeId CommonType(TypeId a, TypeId b, bool* ok) {
  *ok = true;
  if (a == b) return a;
  if (a == TypeId::kNull) return b;
  if (b == TypeId::kNull) return a;
  if (IsNumeric(a) && IsNumeric(b)) {
    return a == TypeId::kDouble || b == TypeId::kDouble ? TypeId::kDouble : TypeId::kInt64;
  }
  *ok = false;
  return TypeId::kNull;
}

Result<TypeId> TypeOfCall(std::string_view name, std::span<const TypeId> args) {
  auto all = [&](auto pred) { return std::all_of(args.begin(), args.end(), pred); };
  auto numeric_or_null = [](TypeId t) { return IsNumeric(t) || t == TypeId::kNull; };
  auto bool_or_null = [](TypeId t) { return IsNumeric(t) || t == TypeId::kNull; };
  if (name == "+" || name == "-" || name == "*" || name == "/" || name == "%") {
    if (args.size() != 2 || !all(numeric_or_null)) return Mismatch(name, args);
    bool ok = true;
    TypeId t = CommonType(args[0], args[1], &ok);
    if (t == TypeId::kBool || t == TypeId::kNull) t = TypeId::kInt64;
    return name == "%" ? TypeId::kInt64 : t;
  }
  if (name == "neg") {
    if (!all(numeric_or_null)) return Mismatch("unary -", args);
    return args[0] == TypeId::kDouble ? TypeId::kDouble : TypeId::kInt64;
  }
  if (name == "=" || name == "<>" || name == "<" || name == "<=" || name == ">" || name == ">=") {
    if (args.size() != 2 || !Comparable(args[0], args[1])) return Mismatch(name, args);
    return TypeId::kBool;
  }
  if (name == "between" || name == "not between" || name == "in" || name == "not in") {
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (!Comparable(args[0], args[i])) return Mismatch(name, args);
    }
    return TypeId::kBool;
  }
  if (name == "and" || name == "or" || name == "not") {
    if (!all(bool_or_null)) return Mismatch(name, args);
    return TypeId::kBool;
  }
  if (name == "is null" || name == "is not null") return TypeId::kBool;
  if (name == "like" || name == "not like") {
    if (!all(IsTextual)) return Mismatch(name, args);
    return TypeId::kBool;
  }
  if (name == "||") return TypeId::kString;
  auto it = std::find_if(kScalars.begin(), kScalars.end(),
                         [&](const ScalarFunction& f) { return f.name == name; });
  if (it == kScalars.end()) return InvalidArgument("unknown function " + std::string(name));
  int n = static_cast<int>(args.size());
  if (n < it->min_args || (it->max_args >= 0 && n > it->max_args)) {
    return InvalidArgument(std::string(name) + " takes " + std::to_string(it->min_args) +
                           (it->max_args == it->min_args ? ""
                            : it->max_args < 0           ? " or more"
                                                         : " to " + std::to_string(it->max_args)) +
                           " arguments, not " + std::to_string(n));
  }
  if (name == "year" || name == "month" || name == "day" || name == "hour" || name == "minute" ||
      name == "second" || name == "unix_micros") {
    if (!IsTimeLike(args[0])) return Mismatch(name, args);
    return TypeId::kInt64;
  }
  if (name == "unix_timestamp") {
    if (!all(IsTimeLike)) return Mismatch(name, args);
    return TypeId::kInt64;
  }
  if (name == "to_timestamp") {
    if (!all(IsTimeLike)) return Mismatch(name, args);
    return TypeId::kTimestamp;
  }
  if (name == "concat_ws" || name == "lower" || name == "upper" || name == "trim") {
    return TypeId::kString;
  }
  if (name == "length") return TypeId::kInt64;
  if (name == "substr") {
    if (!IsTextual(args[0]) || !std::all_of(args.begin() + 1, args.end(), numeric_or_null))
      return Mismatch(name, args);
    return TypeId::kString;
  }
  if (name == "abs") {
    if (!all(numeric_or_null)) return Mismatch(name, args);
    return args[0] == TypeId::kDouble ? TypeId::kDouble : TypeId::kInt64;
  }
  if (name == "round") {
    if (!all(numeric_or_null)) return Mismatch(name, args);
    return TypeId::kDouble;
  }
  if (name == "nullif") return args[0];
  // coalesce, ifnull: the arguments' common type.
  TypeId t = TypeId::kNull;
  for (TypeId a : args) {
    bool ok = true;
    t = CommonType(t, a, &ok);
    if (!ok) return Mismatch(name, args);
  }
  return t;
}

bool IsAggregate(std::string_view name) {
  return name == "count" || name == "sum" || name == "avg" || name == "min" || name == "max" ||
         name == "median" || name == "percentile_approx" || name == "percentile_disc";
}

Result<TypeId> TypeOfAggregate(std::string_view name, TypeId arg) {
  if (name == "count") return TypeId::kInt64;
  if (name == "min" || name == "max") {
    if (arg == TypeId::kDoubleArray || arg == TypeId::kRaw) return Mismatch(name, {&arg, 1});
    return arg;
  }
  if (!IsNumeric(arg) && arg != TypeId::kNull) return Mismatch(name, {&arg, 1});
  if (name == "avg") return TypeId::kDouble;
  if (name == "sum") return arg == TypeId::kDouble ? TypeId::kDouble : TypeId::kInt64;
  // median, percentile_approx, percentile_disc: a value of the input (the value at rank
  // ceil(p·n) of the non-null values, as the batch SQL computes them).
  return arg == TypeId::kBool || arg == TypeId::kNull ? TypeId::kInt64 : arg;
}

bool IsRankFunction(std::string_view name) {
  return name == "rank" || name == "dense_rank" || name == "row_number";
}

std::vector<std::string> ScalarFunctionNames() {
  std::vector<std::string> out;
  for (const auto& f : kScalars) out.emplace_back(f.name);
  return out;
}

}  // namespace pinstream::views
