// null_if: replaces values that mean "no data" with null.
//
//   - kind: null_if
//     columns:                       # column → values that become null
//       description: ["No description available Story format", "No description available"]
//       follower_count: ["User Info Error"]
//     empty_strings: true            # also every "" in every string column
// Values are compared as the column's type (strings exactly; numbers numerically).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct NullIfConfig {
  std::vector<std::pair<std::string, std::vector<std::string>>> columns;
  bool empty_strings = false;
};

std::shared_ptr<const OperatorSpec> NullIfFromConfig(const ConfigNode& node);
extern const ConfigKeys kNullIfKeys;
std::unique_ptr<Operator> NullIfOperator(const NullIfConfig& config);

}  // namespace pinstream::ops
