// Operators for engine tests, built on the engine's contracts only (no operators/ code):
//
//   RejectValuesSpec   stateless: rejects the rows whose `column` holds one of `values` (reason
//                      "rejected <value>"), as a row-level failure goes to the dead letters.
//   FailOnValueSpec    stateless: fails the whole batch (InvalidArgument) when `column` holds
//                      `value`.
//   KeepFirstSpec      keyed by `column` and stateful: keeps the first row of each key, ever —
//                      its keys live in the checkpoint (KeyedStateStore), one shard's keys in
//                      that shard's instance (the key's hash modulo the shards, as the exchange
//                      routes rows).
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/operator.h"

namespace pinstream::testing {

class RejectValuesSpec : public OperatorSpec {
 public:
  RejectValuesSpec(std::string column, std::set<std::string> values)
      : column_(std::move(column)), values_(std::move(values)) {}
  std::string_view kind() const override { return "reject_values"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override;

 private:
  std::string column_;
  std::set<std::string> values_;
};

class FailOnValueSpec : public OperatorSpec {
 public:
  FailOnValueSpec(std::string column, std::string value)
      : column_(std::move(column)), value_(std::move(value)) {}
  std::string_view kind() const override { return "fail_on_value"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override;

 private:
  std::string column_, value_;
};

class KeepFirstSpec : public OperatorSpec {
 public:
  explicit KeepFirstSpec(std::string column) : column_(std::move(column)) {}
  std::string_view kind() const override { return "keep_first"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override;
  std::vector<std::string> KeyColumns() const override { return {column_}; }
  bool stateful() const override { return true; }
  std::string StateFingerprint() const override { return "keep_first:" + column_; }

 private:
  std::string column_;
};

}  // namespace pinstream::testing
