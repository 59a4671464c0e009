#include "operators/make_array.h"

#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

class MakeArray : public Operator {
 public:
  explicit MakeArray(MakeArrayConfig c) : config_(std::move(c)) {}
  Status Process(RecordBatch& batch, OperatorContext& ctx) override {
    std::vector<const Column*> ins;
    for (const auto& name : config_.columns) {
      PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, name, "make_array"));
      const Column* c = &batch.column(ci);
      TypeId t = c->type();
      if (t != TypeId::kDouble && t != TypeId::kInt64 && t != TypeId::kString &&
          t != TypeId::kNull) {
        return InvalidArgument(
            fmt::format("make_array: column '{}' is {}, expected a number", name, TypeName(t)));
      }
      ins.push_back(c);
    }
    Column out(TypeId::kDoubleArray);
    out.Reserve(batch.num_rows());
    std::vector<double> elems(ins.size());
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      bool null = false;
      std::string bad;
      for (std::size_t i = 0; i < ins.size(); ++i) {
        const Column* c = ins[i];
        if (c->type() == TypeId::kNull || c->IsNull(r)) {
          null = true;
          break;
        }
        if (c->type() == TypeId::kDouble) {
          elems[i] = c->Double(r);
        } else if (c->type() == TypeId::kInt64) {
          elems[i] = static_cast<double>(c->Int(r));
        } else if (!ParseDoubleStrict(c->Str(r), &elems[i])) {
          bad = fmt::format("make_array: {} = '{}' is not a number", config_.columns[i], c->Str(r));
          break;
        }
      }
      if (!bad.empty()) {
        ctx.RejectRow(r, std::move(bad));
        out.AppendNull();
      } else if (null) {
        out.AppendNull();
      } else {
        out.AppendArray(elems);
      }
    }
    PutColumn(batch, config_.into, std::move(out));
    return Status::Ok();
  }

 private:
  MakeArrayConfig config_;
};

}  // namespace

std::unique_ptr<Operator> MakeArrayOperator(const MakeArrayConfig& config) {
  return std::make_unique<MakeArray>(config);
}

namespace {
constexpr KeyDoc kMakeArrayDocs[] = {
    {"columns", KeyType::kStringList, "", "Required. Numeric columns (or numeric strings)."},
    {"into", KeyType::kString, "", "Required. The array<double> column written."},
};
}  // namespace
constexpr ConfigKeys kMakeArrayKeys{"operators: make_array",
                                    "Builds an array<double> column from numeric columns.",
                                    kMakeArrayDocs};

std::shared_ptr<const OperatorSpec> MakeArrayFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kMakeArrayKeys);
  MakeArrayConfig c;
  c.columns = n.GetStringList("columns");
  if (c.columns.empty()) n.Get("columns").Fail("make_array needs at least one column");
  c.into = n.GetString("into");
  return std::make_shared<StatelessSpec<MakeArrayConfig, MakeArray>>(
      "make_array", std::move(c),
      [](const MakeArrayConfig& c, StreamSchema in) -> Result<StreamSchema> {
        PS_RETURN_IF_ERROR(RequireColumnsIn(in, c.columns, "make_array"));
        in.Put(c.into, TypeId::kDoubleArray);
        return in;
      });
}

}  // namespace pinstream::ops
