#include "operators/strip_prefix.h"

#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

class StripPrefix : public Operator {
 public:
  explicit StripPrefix(StripPrefixConfig c) : config_(std::move(c)) {}
  Status Process(RecordBatch& batch, OperatorContext& ctx) override {
    PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, config_.column, "strip_prefix"));
    const Column& in = batch.column(ci);
    if (in.type() == TypeId::kNull) return Status::Ok();
    if (in.type() != TypeId::kString) {
      return InvalidArgument(fmt::format("strip_prefix: column '{}' is {}, expected string",
                                         config_.column, TypeName(in.type())));
    }
    Column out(TypeId::kString);
    out.Reserve(in.size(), in.bytes().size());
    for (std::size_t r = 0; r < in.size(); ++r) {
      if (in.IsNull(r)) {
        out.AppendNull();
        continue;
      }
      std::string_view v = in.Str(r);
      if (v.substr(0, config_.prefix.size()) == config_.prefix) {
        v.remove_prefix(config_.prefix.size());
      } else if (config_.required) {
        ctx.RejectRow(
            r, fmt::format("{}: '{}' does not start with '{}'", config_.column, v, config_.prefix));
      }
      out.AppendString(v);
    }
    batch.SetColumn(ci, std::move(out));
    return Status::Ok();
  }

 private:
  StripPrefixConfig config_;
};

}  // namespace

std::unique_ptr<Operator> StripPrefixOperator(const StripPrefixConfig& config) {
  return std::make_unique<StripPrefix>(config);
}

namespace {
constexpr KeyDoc kStripPrefixDocs[] = {
    {"column", KeyType::kString, "", "Required. The string column."},
    {"prefix", KeyType::kString, "", "Required. The prefix removed (not empty)."},
    {"required", KeyType::kBool, "false",
     "true: a non-null value without the prefix rejects the row (else it is kept as is)."},
};
}  // namespace
constexpr ConfigKeys kStripPrefixKeys{
    "operators: strip_prefix", "Removes a fixed prefix from string values.", kStripPrefixDocs};

std::shared_ptr<const OperatorSpec> StripPrefixFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kStripPrefixKeys);
  StripPrefixConfig c{n.GetString("column"), n.GetString("prefix"), n.GetBool("required", false)};
  if (c.prefix.empty()) n.Get("prefix").Fail("prefix must not be empty");
  return std::make_shared<StatelessSpec<StripPrefixConfig, StripPrefix>>(
      "strip_prefix", std::move(c),
      [](const StripPrefixConfig& c, StreamSchema in) -> Result<StreamSchema> {
        static constexpr TypeId kIn[] = {TypeId::kString};
        PS_RETURN_IF_ERROR(RequireColumnType(in, c.column, "strip_prefix", kIn));
        return in;
      });
}

}  // namespace pinstream::ops
