#include "operators/select.h"

#include <algorithm>
#include <set>

#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

class Select : public Operator {
 public:
  explicit Select(SelectConfig c) : config_(std::move(c)) {}
  Status Process(RecordBatch& batch, OperatorContext&) override {
    std::vector<std::size_t> order;
    order.reserve(config_.columns.size());
    for (const auto& name : config_.columns) {
      PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, name, "select"));
      order.push_back(ci);
    }
    batch.SelectColumns(order);
    return Status::Ok();
  }

 private:
  SelectConfig config_;
};

// select reads and outputs exactly its columns: as a query's first operator, the sources may
// leave the others out.
class SelectSpec : public StatelessSpec<SelectConfig, Select> {
 public:
  explicit SelectSpec(SelectConfig c) : StatelessSpec("select", std::move(c)) {}
  std::optional<std::vector<std::string>> InputColumns() const override { return config().columns; }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    StreamSchema in = inputs.empty() ? StreamSchema::Unknown() : inputs.front();
    StreamSchema out = in;
    out.schema = Schema();
    out.complete = true;
    for (const auto& col : config().columns) {
      PS_RETURN_IF_ERROR(RequireColumnIn(in, col, "select"));
      out.Put(col, in.TypeOf(col));
    }
    if (in.Has(in.watermark_column) != StreamSchema::Presence::kPresent ||
        std::find(config().columns.begin(), config().columns.end(), in.watermark_column) ==
            config().columns.end())
      out.watermark_column.clear();
    for (const auto& k : in.key_columns) {
      if (std::find(config().columns.begin(), config().columns.end(), k) ==
          config().columns.end()) {
        return InvalidArgument(fmt::format(
            "select: column '{}' identifies the result rows of the {} before it and must be kept",
            k, ChangeKindName(in.changes)));
      }
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<Operator> SelectOperator(const SelectConfig& config) {
  return std::make_unique<Select>(config);
}

namespace {
constexpr KeyDoc kSelectDocs[] = {
    {"columns", KeyType::kStringList, "", "Required. The columns kept, in this order."},
};
}  // namespace
constexpr ConfigKeys kSelectKeys{"operators: select", "Keeps and orders columns.", kSelectDocs};

std::shared_ptr<const OperatorSpec> SelectFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kSelectKeys);
  SelectConfig c{n.GetStringList("columns")};
  if (c.columns.empty()) n.Get("columns").Fail("select needs at least one column");
  std::set<std::string> seen;
  for (const auto& col : c.columns) {
    if (!seen.insert(col).second)
      n.Get("columns").Fail(fmt::format("column '{}' is selected twice", col));
  }
  return std::make_shared<SelectSpec>(std::move(c));
}

}  // namespace pinstream::ops
