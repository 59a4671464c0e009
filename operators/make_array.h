// make_array: builds an array<double> column from numeric columns.
//
//   - kind: make_array
//     columns: [latitude, longitude]
//     into: coordinates
// Inputs may be double, int64 or numeric strings. A null input gives a null array; a string that
// is not a number rejects the row.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct MakeArrayConfig {
  std::vector<std::string> columns;
  std::string into;
};

std::shared_ptr<const OperatorSpec> MakeArrayFromConfig(const ConfigNode& node);
extern const ConfigKeys kMakeArrayKeys;
std::unique_ptr<Operator> MakeArrayOperator(const MakeArrayConfig& config);

}  // namespace pinstream::ops
