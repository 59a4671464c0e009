// Helpers shared by the operators: column lookup with errors that name the operator, and a
// generic spec for stateless operators whose instances are built from their typed config.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"
#include "engine/record_batch.h"

namespace pinstream::ops {

// The index of column `name`, or an InvalidArgument naming the operator and the columns present.
Result<std::size_t> RequireColumn(const RecordBatch& batch, std::string_view name,
                                  std::string_view op_kind);

// Puts `column` into the batch as `name`: it replaces the column of that name, or is appended.
void PutColumn(RecordBatch& batch, const std::string& name, Column column);

// Reads a YAML mapping {column: value} in document order.
std::vector<std::pair<std::string, ConfigNode>> OrderedEntries(const ConfigNode& node);

// Stateless operator spec: Create() copies the config into a new instance per shard.
// `derive` (OperatorSpec::DeriveSchema for one input stream): its output from its input; none =
// the columns pass unchanged.
template <typename Config, typename Op>
class StatelessSpec : public OperatorSpec {
 public:
  using Derive = Result<StreamSchema> (*)(const Config& config, StreamSchema in);
  StatelessSpec(std::string_view kind, Config config, Derive derive = nullptr)
      : kind_(kind), config_(std::move(config)), derive_(derive) {}
  std::string_view kind() const override { return kind_; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext&) const override {
    return std::unique_ptr<Operator>(std::make_unique<Op>(config_));
  }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    StreamSchema in = inputs.empty() ? StreamSchema::Unknown() : inputs.front();
    return derive_ == nullptr ? in : derive_(config_, std::move(in));
  }
  const Config& config() const { return config_; }

 private:
  std::string_view kind_;
  Config config_;
  Derive derive_;
};

// DeriveSchema helpers: every column of `columns` must be in `in` (when `in` can tell).
Status RequireColumnsIn(const StreamSchema& in, const std::vector<std::string>& columns,
                        std::string_view what);
// Sets `column` to `type` (adds it when absent).
void PutDerived(StreamSchema& s, const std::string& column, TypeId type);

// Parses `text` as an int64 (optional sign, digits, surrounding spaces). False on anything else.
bool ParseInt64Strict(std::string_view text, std::int64_t* out);
// Parses `text` as a finite double (strtod syntax, surrounding spaces). False on anything else.
bool ParseDoubleStrict(std::string_view text, double* out);

}  // namespace pinstream::ops
