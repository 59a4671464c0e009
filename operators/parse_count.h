// parse_count: parses counts written with k/M/B suffixes into int64.
//
//   - kind: parse_count
//     columns: [follower_count]
//
// "305" → 305, "228k" → 228000, "1.5k" → 1500, "2M" → 2000000, "3B" → 3000000000 (suffixes are
// case-insensitive; a result that is not whole is rounded half away from zero). Nulls stay null.
// Anything else rejects the row to the dead-letter table with the value in the reason.
// A column that is already int64 is left as is.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct ParseCountConfig {
  std::vector<std::string> columns;
};

// The parsing rule itself, for reuse and tests. False when `text` is not a count.
bool ParseCount(std::string_view text, std::int64_t* out);

std::shared_ptr<const OperatorSpec> ParseCountFromConfig(const ConfigNode& node);
extern const ConfigKeys kParseCountKeys;
std::unique_ptr<Operator> ParseCountOperator(const ParseCountConfig& config);

}  // namespace pinstream::ops
