// select: keeps the listed columns, in the listed order (a projection).
//
//   - kind: select
//     columns: [ind, country, coordinates, timestamp]
// A listed column that does not exist fails the batch, naming the columns that do.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct SelectConfig {
  std::vector<std::string> columns;
};

std::shared_ptr<const OperatorSpec> SelectFromConfig(const ConfigNode& node);
extern const ConfigKeys kSelectKeys;
std::unique_ptr<Operator> SelectOperator(const SelectConfig& config);

}  // namespace pinstream::ops
