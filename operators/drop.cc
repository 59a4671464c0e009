#include "operators/drop.h"

#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

class Drop : public Operator {
 public:
  explicit Drop(DropConfig c) : config_(std::move(c)) {}
  Status Process(RecordBatch& batch, OperatorContext&) override {
    for (const auto& name : config_.columns) {
      int ci = batch.FindColumn(name);
      if (ci >= 0) batch.RemoveColumn(static_cast<std::size_t>(ci));
    }
    return Status::Ok();
  }

 private:
  DropConfig config_;
};

}  // namespace

std::unique_ptr<Operator> DropOperator(const DropConfig& config) {
  return std::make_unique<Drop>(config);
}

namespace {
constexpr KeyDoc kDropDocs[] = {
    {"columns", KeyType::kStringList, "", "Required. The columns removed."},
};
}  // namespace
constexpr ConfigKeys kDropKeys{"operators: drop", "Removes columns.", kDropDocs};

std::shared_ptr<const OperatorSpec> DropFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kDropKeys);
  DropConfig c{n.GetStringList("columns")};
  if (c.columns.empty()) n.Get("columns").Fail("drop needs at least one column");
  return std::make_shared<StatelessSpec<DropConfig, Drop>>(
      "drop", std::move(c), [](const DropConfig& c, StreamSchema in) -> Result<StreamSchema> {
        for (const auto& col : c.columns) in.Remove(col);  // absent ones are ignored, as in Spark
        return in;
      });
}

}  // namespace pinstream::ops
