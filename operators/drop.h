// drop: removes columns. Columns that are not present are ignored (as Spark's drop does).
//
//   - kind: drop
//     columns: [latitude, longitude]
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct DropConfig {
  std::vector<std::string> columns;
};

std::shared_ptr<const OperatorSpec> DropFromConfig(const ConfigNode& node);
extern const ConfigKeys kDropKeys;
std::unique_ptr<Operator> DropOperator(const DropConfig& config);

}  // namespace pinstream::ops
