// cast: converts columns to other types.
//
//   - kind: cast
//     columns: {ind: int64, downloaded: int64, timestamp: timestamp, latitude: double}
//
// From string: int64 (an integer, spaces allowed around it), double, bool (true/false/1/0/yes/no,
// any case), timestamp ('YYYY-MM-DD HH:MM:SS' or ISO-8601 with 'T', fractions and zone offsets,
// normalised to UTC; see engine/time_util.h), raw.
// Between numbers: int64 → double; double → int64 only when whole; bool ↔ int64.
// int64 → timestamp reads epoch seconds (as Spark does); timestamp → int64 gives epoch seconds.
// Anything → string: its text form (timestamps as 'YYYY-MM-DD HH:MM:SS', arrays as JSON).
// A value that cannot be converted rejects the row with the column, the value and the reason;
// nulls stay null.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct CastConfig {
  std::vector<std::pair<std::string, TypeId>> columns;
};

std::shared_ptr<const OperatorSpec> CastFromConfig(const ConfigNode& node);
extern const ConfigKeys kCastKeys;
std::unique_ptr<Operator> CastOperator(const CastConfig& config);

}  // namespace pinstream::ops
