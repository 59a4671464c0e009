#include "operators/concat.h"

#include "engine/row_format.h"
#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

class Concat : public Operator {
 public:
  explicit Concat(ConcatConfig c) : config_(std::move(c)) {}
  Status Process(RecordBatch& batch, OperatorContext&) override {
    std::vector<const Column*> ins;
    for (const auto& name : config_.columns) {
      PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, name, "concat"));
      ins.push_back(&batch.column(ci));
    }
    Column out(TypeId::kString);
    std::string buf;
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      buf.clear();
      bool any = false, any_null = false;
      for (const Column* c : ins) {
        if (c->type() == TypeId::kNull || c->IsNull(r)) {
          any_null = true;
          continue;
        }
        if (any) buf += config_.separator;
        any = true;
        if (IsBinaryLike(c->type())) {
          buf.append(c->Str(r));
        } else {
          buf += DisplayValue(*c, r);
        }
      }
      if (!any || (any_null && !config_.skip_nulls)) {
        out.AppendNull();
      } else {
        out.AppendString(buf);
      }
    }
    PutColumn(batch, config_.into, std::move(out));
    return Status::Ok();
  }

 private:
  ConcatConfig config_;
};

}  // namespace

std::unique_ptr<Operator> ConcatOperator(const ConcatConfig& config) {
  return std::make_unique<Concat>(config);
}

namespace {
constexpr KeyDoc kConcatDocs[] = {
    {"columns", KeyType::kStringList, "", "Required. The columns joined, in order."},
    {"separator", KeyType::kString, "", "Put between the values (default: nothing)."},
    {"into", KeyType::kString, "", "Required. The string column written."},
    {"skip_nulls", KeyType::kBool, "true",
     "true: nulls are left out (all null → null); false: any null → null."},
};
}  // namespace
constexpr ConfigKeys kConcatKeys{
    "operators: concat", "Joins the text of several columns (Spark's concat_ws).", kConcatDocs};

std::shared_ptr<const OperatorSpec> ConcatFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kConcatKeys);
  ConcatConfig c;
  c.columns = n.GetStringList("columns");
  if (c.columns.empty()) n.Get("columns").Fail("concat needs at least one column");
  c.separator = n.GetString("separator", "");
  c.into = n.GetString("into");
  c.skip_nulls = n.GetBool("skip_nulls", true);
  return std::make_shared<StatelessSpec<ConcatConfig, Concat>>(
      "concat", std::move(c), [](const ConcatConfig& c, StreamSchema in) -> Result<StreamSchema> {
        PS_RETURN_IF_ERROR(RequireColumnsIn(in, c.columns, "concat"));
        in.Put(c.into, TypeId::kString);
        return in;
      });
}

}  // namespace pinstream::ops
