#include "operators/rename.h"

#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

class Rename : public Operator {
 public:
  explicit Rename(RenameConfig c) : config_(std::move(c)) {}
  Status Process(RecordBatch& batch, OperatorContext&) override {
    for (const auto& [from, to] : config_.columns) {
      PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, from, "rename"));
      if (batch.FindColumn(to) >= 0) {
        return InvalidArgument(fmt::format(
            "rename: cannot rename '{}' to '{}': a column '{}' already exists", from, to, to));
      }
      batch.RenameColumn(ci, to);
    }
    return Status::Ok();
  }

 private:
  RenameConfig config_;
};

}  // namespace

std::unique_ptr<Operator> RenameOperator(const RenameConfig& config) {
  return std::make_unique<Rename>(config);
}

namespace {
constexpr KeyDoc kRenameDocs[] = {
    {"columns", KeyType::kMap, "", "Required. Old name → new name."},
};
}  // namespace
constexpr ConfigKeys kRenameKeys{"operators: rename", "Renames columns.", kRenameDocs};

std::shared_ptr<const OperatorSpec> RenameFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kRenameKeys);
  RenameConfig c;
  for (auto& [from, to] : n.Get("columns").Entries()) c.columns.emplace_back(from, to.AsString());
  if (c.columns.empty()) n.Get("columns").Fail("rename needs at least one column");
  return std::make_shared<StatelessSpec<RenameConfig, Rename>>(
      "rename", std::move(c), [](const RenameConfig& c, StreamSchema in) -> Result<StreamSchema> {
        for (const auto& [from, to] : c.columns) {
          PS_RETURN_IF_ERROR(RequireColumnIn(in, from, "rename"));
          if (in.Has(to) == StreamSchema::Presence::kPresent)
            return InvalidArgument(fmt::format(
                "rename: cannot rename '{}' to '{}': a column '{}' already exists", from, to, to));
          std::vector<Field> fields = in.schema.fields();
          bool listed = false;
          for (auto& f : fields) {
            if (f.name == from) {
              f.name = to;
              listed = true;
            }
          }
          if (!listed) fields.push_back(Field{to, TypeId::kNull, true});
          in.schema = Schema(std::move(fields));
          if (in.watermark_column == from) in.watermark_column = to;
          for (auto& k : in.key_columns) {
            if (k == from) k = to;
          }
        }
        return in;
      });
}

}  // namespace pinstream::ops
