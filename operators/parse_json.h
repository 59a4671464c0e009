// parse_json: turns a column of JSON records (raw bytes or text) into typed columns.
//
//   - kind: parse_json
//     column: value                      # input column (default: value)
//     schema:                            # output fields, in order, with their types
//       index: int64
//       unique_id: string
//       latitude: double
//     keep: [key, offset]                # input columns kept beside the parsed ones (default none)
//
// Rules (Spark's from_json in PERMISSIVE mode, made strict where a value cannot be trusted):
//   * a field absent from the record, or JSON null, is null;
//   * fields not in the schema are ignored;
//   * int64 accepts integral JSON numbers and strings holding an integer; double accepts
//     numbers and numeric strings; bool accepts true/false and "true"/"false"; string accepts
//     strings, and keeps the JSON text of numbers, booleans, objects and arrays; timestamp
//     accepts the formats of ParseTimestamp; array<double> accepts an array of numbers;
//   * a record that is not a JSON object, or a field whose value cannot be converted, rejects
//     the row to the dead-letter table with the field and the reason.
// Parsing uses simdjson On-Demand, reusing one parser per shard.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct ParseJsonConfig {
  std::string column = "value";
  std::vector<Field> schema;
  std::vector<std::string> keep;
};

std::shared_ptr<const OperatorSpec> ParseJsonFromConfig(const ConfigNode& node);
extern const ConfigKeys kParseJsonKeys;
std::unique_ptr<Operator> ParseJsonOperator(const ParseJsonConfig& config);

}  // namespace pinstream::ops
