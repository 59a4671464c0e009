// concat: joins the text of several columns into a new column (Spark's concat_ws).
//
//   - kind: concat
//     columns: [first_name, last_name]
//     separator: " "
//     into: user_name
//     skip_nulls: true    # true: nulls are left out (all null → null); false: any null → null
// Non-string inputs contribute their text form.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct ConcatConfig {
  std::vector<std::string> columns;
  std::string separator;
  std::string into;
  bool skip_nulls = true;
};

std::shared_ptr<const OperatorSpec> ConcatFromConfig(const ConfigNode& node);
extern const ConfigKeys kConcatKeys;
std::unique_ptr<Operator> ConcatOperator(const ConcatConfig& config);

}  // namespace pinstream::ops
