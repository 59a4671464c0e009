#include "operators/null_if.h"

#include <algorithm>

#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

class NullIf : public Operator {
 public:
  explicit NullIf(NullIfConfig c) : config_(std::move(c)) {}

  Status Process(RecordBatch& batch, OperatorContext&) override {
    std::size_t n = batch.num_rows();
    if (config_.empty_strings) {
      for (std::size_t ci = 0; ci < batch.num_columns(); ++ci) {
        Column& col = batch.column(ci);
        if (col.type() != TypeId::kString) continue;
        auto& valid = col.mutable_validity();
        const auto& off = col.offsets();
        for (std::size_t r = 0; r < n; ++r) {
          if (off[r + 1] == off[r]) valid[r] = 0;
        }
      }
    }
    for (const auto& [name, values] : config_.columns) {
      PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, name, "null_if"));
      Column& col = batch.column(ci);
      auto& valid = col.mutable_validity();
      switch (col.type()) {
        case TypeId::kString:
        case TypeId::kRaw:
          for (std::size_t r = 0; r < n; ++r) {
            if (!valid[r]) continue;
            std::string_view v = col.Str(r);
            for (const auto& x : values) {
              if (v == x) {
                valid[r] = 0;
                break;
              }
            }
          }
          break;
        case TypeId::kInt64:
        case TypeId::kDouble: {
          std::vector<double> nums;
          for (const auto& x : values) {
            double d;
            if (ParseDoubleStrict(x, &d)) nums.push_back(d);
          }
          for (std::size_t r = 0; r < n; ++r) {
            if (!valid[r]) continue;
            double v =
                col.type() == TypeId::kInt64 ? static_cast<double>(col.Int(r)) : col.Double(r);
            if (std::find(nums.begin(), nums.end(), v) != nums.end()) valid[r] = 0;
          }
          break;
        }
        default:
          return InvalidArgument(fmt::format(
              "null_if: column '{}' is {}; only string and numeric columns are supported", name,
              TypeName(col.type())));
      }
    }
    return Status::Ok();
  }

 private:
  NullIfConfig config_;
};

}  // namespace

std::unique_ptr<Operator> NullIfOperator(const NullIfConfig& config) {
  return std::make_unique<NullIf>(config);
}

namespace {
constexpr KeyDoc kNullIfDocs[] = {
    {"columns", KeyType::kMap, "",
     "Column → the values that become null (compared as the column's type)."},
    {"empty_strings", KeyType::kBool, "false", "Also every \"\" in every string column."},
};
}  // namespace
constexpr ConfigKeys kNullIfKeys{"operators: null_if",
                                 "Replaces values that mean \"no data\" with null.", kNullIfDocs};

std::shared_ptr<const OperatorSpec> NullIfFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kNullIfKeys);
  NullIfConfig c;
  c.empty_strings = n.GetBool("empty_strings", false);
  if (auto cols = n.Find("columns")) {
    for (auto& [name, vals] : cols->Entries()) c.columns.emplace_back(name, vals.AsStringList());
  }
  if (c.columns.empty() && !c.empty_strings)
    n.Fail("null_if needs 'columns' or 'empty_strings: true'");
  return std::make_shared<StatelessSpec<NullIfConfig, NullIf>>(
      "null_if", std::move(c), [](const NullIfConfig& c, StreamSchema in) -> Result<StreamSchema> {
        for (const auto& [col, values] : c.columns)
          PS_RETURN_IF_ERROR(RequireColumnIn(in, col, "null_if"));
        return in;
      });
}

}  // namespace pinstream::ops
