#include "tests/testing/fake_operators.h"

#include <fmt/format.h>

#include <unordered_set>

#include "engine/keyed_state.h"
#include "engine/record_batch.h"

namespace pinstream::testing {

namespace {

Result<std::size_t> Find(const RecordBatch& batch, const std::string& column) {
  int c = batch.FindColumn(column);
  if (c < 0) return InvalidArgument(fmt::format("no column '{}'", column));
  return static_cast<std::size_t>(c);
}

std::string ValueAt(const Column& c, std::size_t row) {
  return c.IsNull(row) ? std::string() : std::string(c.Str(row));
}

class RejectValues : public Operator {
 public:
  RejectValues(std::string column, std::set<std::string> values)
      : column_(std::move(column)), values_(std::move(values)) {}
  Status Process(RecordBatch& batch, OperatorContext& ctx) override {
    PS_ASSIGN_OR_RETURN(std::size_t c, Find(batch, column_));
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      std::string v = ValueAt(batch.column(c), r);
      if (values_.count(v)) ctx.RejectRow(r, "rejected " + v);
    }
    return Status::Ok();
  }

 private:
  std::string column_;
  std::set<std::string> values_;
};

class FailOnValue : public Operator {
 public:
  FailOnValue(std::string column, std::string value)
      : column_(std::move(column)), value_(std::move(value)) {}
  Status Process(RecordBatch& batch, OperatorContext&) override {
    PS_ASSIGN_OR_RETURN(std::size_t c, Find(batch, column_));
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      if (ValueAt(batch.column(c), r) == value_)
        return InvalidArgument(fmt::format("found '{}'", value_));
    }
    return Status::Ok();
  }

 private:
  std::string column_, value_;
};

class KeepFirst : public Operator {
 public:
  KeepFirst(std::string column, KeyedStateStore* state)
      : column_(std::move(column)), state_(state) {}
  Status Load(int shard, int num_shards) {
    return state_->ScanCommitted([&](std::string_view key, std::string_view, std::int64_t) {
      if (ShardOfHash(HashBytes(key), num_shards) == shard) {
        seen_.emplace(key);
      }
    });
  }
  Status Process(RecordBatch& batch, OperatorContext&) override {
    PS_ASSIGN_OR_RETURN(std::size_t c, Find(batch, column_));
    const int key_columns[] = {static_cast<int>(c)};
    std::vector<std::uint8_t> keep(batch.num_rows(), 0);
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      std::string key;
      EncodeKey(batch, key_columns, r, &key);
      if (seen_.insert(key).second) {
        keep[r] = 1;
        state_->Put(key, "");
      }
    }
    batch.Compact(keep);
    return Status::Ok();
  }
  OperatorStateSize StateSize() const override {
    return {static_cast<std::int64_t>(seen_.size()), static_cast<std::int64_t>(seen_.size() * 32)};
  }

 private:
  std::string column_;
  KeyedStateStore* state_;
  std::unordered_set<std::string> seen_;
};

}  // namespace

Result<std::unique_ptr<Operator>> RejectValuesSpec::Create(const OperatorInitContext&) const {
  return std::unique_ptr<Operator>(std::make_unique<RejectValues>(column_, values_));
}

Result<std::unique_ptr<Operator>> FailOnValueSpec::Create(const OperatorInitContext&) const {
  return std::unique_ptr<Operator>(std::make_unique<FailOnValue>(column_, value_));
}

Result<std::unique_ptr<Operator>> KeepFirstSpec::Create(const OperatorInitContext& ctx) const {
  if (ctx.state == nullptr) return Internal("keep_first needs its keyed state");
  auto op = std::make_unique<KeepFirst>(column_, ctx.state);
  PS_RETURN_IF_ERROR(op->Load(ctx.shard, ctx.num_shards));
  return std::unique_ptr<Operator>(std::move(op));
}

}  // namespace pinstream::testing
