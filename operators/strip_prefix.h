// strip_prefix: removes a fixed prefix from string values.
//
//   - kind: strip_prefix
//     column: save_location
//     prefix: "Local save in "
//     required: false      # true: a non-null value without the prefix rejects the row
// "Local save in /data/mens-fashion" → "/data/mens-fashion"; other values are kept as they are.
#pragma once

#include <memory>
#include <string>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct StripPrefixConfig {
  std::string column;
  std::string prefix;
  bool required = false;
};

std::shared_ptr<const OperatorSpec> StripPrefixFromConfig(const ConfigNode& node);
extern const ConfigKeys kStripPrefixKeys;
std::unique_ptr<Operator> StripPrefixOperator(const StripPrefixConfig& config);

}  // namespace pinstream::ops
