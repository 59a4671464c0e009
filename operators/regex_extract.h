// regex_extract: extracts a capture group of a regular expression (ECMAScript syntax).
//
//   - kind: regex_extract
//     column: save_location
//     pattern: "^Local save in (.*)$"
//     group: 1             # default 1
//     into: save_path      # default: replace `column`
//     required: false      # true: a non-null value that does not match rejects the row
// A value that does not match becomes null (Spark returns ""; null keeps "no data" honest).
#pragma once

#include <memory>
#include <string>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct RegexExtractConfig {
  std::string column;
  std::string pattern;
  int group = 1;
  std::string into;
  bool required = false;
};

std::shared_ptr<const OperatorSpec> RegexExtractFromConfig(const ConfigNode& node);
extern const ConfigKeys kRegexExtractKeys;
std::unique_ptr<Operator> RegexExtractOperator(const RegexExtractConfig& config);

}  // namespace pinstream::ops
