// filter: keeps the rows that satisfy a condition.
//
//   - kind: filter
//     where: {column: age, op: ">=", value: 18}
//   - kind: filter
//     all:                                       # every condition holds
//       - {column: country, op: not_null}
//       - any:                                   # at least one holds
//           - {column: category, op: in, values: [art, travel]}
//           - {column: follower_count, op: ">", value: 1000}
//       - not: {column: title, op: "==", value: ""}
//
// Operators: ==, !=, <, <=, >, >=, in, not_in, is_null, not_null. Literals are read as the
// column's type (numbers for numeric columns, timestamps in any ParseTimestamp form for
// timestamp columns). As in SQL, a comparison with a null value is false.
// Filtered-out rows are dropped (they are not errors and do not go to the dead-letter table).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct FilterCondition {
  enum class Kind { kCompare, kAll, kAny, kNot };
  Kind kind = Kind::kCompare;
  std::string column;
  std::string op;
  std::vector<std::string> values;  // literals as written
  std::vector<FilterCondition> children;
};

struct FilterConfig {
  FilterCondition root;
};

std::shared_ptr<const OperatorSpec> FilterFromConfig(const ConfigNode& node);
extern const ConfigKeys kFilterKeys;
extern const ConfigKeys kFilterConditionKeys;
extern const ConfigKeys kFilterAllAnyKeys;
extern const ConfigKeys kFilterNotKeys;
std::unique_ptr<Operator> FilterOperator(const FilterConfig& config);

}  // namespace pinstream::ops
