// rename: renames columns.
//
//   - kind: rename
//     columns: {index: ind}
// Renaming a column that does not exist, or onto a name already present, fails the batch.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct RenameConfig {
  std::vector<std::pair<std::string, std::string>> columns;  // from → to
};

std::shared_ptr<const OperatorSpec> RenameFromConfig(const ConfigNode& node);
extern const ConfigKeys kRenameKeys;
std::unique_ptr<Operator> RenameOperator(const RenameConfig& config);

}  // namespace pinstream::ops
