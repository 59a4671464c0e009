#include "operators/regex_extract.h"

#include <regex>

#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

class RegexExtract : public Operator {
 public:
  explicit RegexExtract(RegexExtractConfig c)
      : config_(std::move(c)), re_(config_.pattern, std::regex::ECMAScript) {}
  Status Process(RecordBatch& batch, OperatorContext& ctx) override {
    PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, config_.column, "regex_extract"));
    const Column& in = batch.column(ci);
    if (in.type() != TypeId::kString && in.type() != TypeId::kNull) {
      return InvalidArgument(fmt::format("regex_extract: column '{}' is {}, expected string",
                                         config_.column, TypeName(in.type())));
    }
    Column out(TypeId::kString);
    std::cmatch m;
    for (std::size_t r = 0; r < in.size(); ++r) {
      if (in.type() == TypeId::kNull || in.IsNull(r)) {
        out.AppendNull();
        continue;
      }
      std::string_view v = in.Str(r);
      if (std::regex_search(v.data(), v.data() + v.size(), m, re_) &&
          static_cast<std::size_t>(config_.group) < m.size() &&
          m[static_cast<std::size_t>(config_.group)].matched) {
        const auto& g = m[static_cast<std::size_t>(config_.group)];
        out.AppendString(std::string_view(g.first, static_cast<std::size_t>(g.length())));
      } else {
        if (config_.required)
          ctx.RejectRow(
              r, fmt::format("{}: '{}' does not match /{}/", config_.column, v, config_.pattern));
        out.AppendNull();
      }
    }
    PutColumn(batch, config_.into.empty() ? config_.column : config_.into, std::move(out));
    return Status::Ok();
  }

 private:
  RegexExtractConfig config_;
  std::regex re_;
};

}  // namespace

std::unique_ptr<Operator> RegexExtractOperator(const RegexExtractConfig& config) {
  return std::make_unique<RegexExtract>(config);
}

namespace {
constexpr KeyDoc kRegexExtractDocs[] = {
    {"column", KeyType::kString, "", "Required. The string column read."},
    {"pattern", KeyType::kString, "", "Required. An ECMAScript regular expression."},
    {"group", KeyType::kInt, "1", "The capture group extracted."},
    {"into", KeyType::kString, "", "The column written (default: replace `column`)."},
    {"required", KeyType::kBool, "false",
     "true: a non-null value that does not match rejects the row (else it becomes null)."},
};
}  // namespace
constexpr ConfigKeys kRegexExtractKeys{"operators: regex_extract",
                                       "Extracts a capture group of a regular expression.",
                                       kRegexExtractDocs};

std::shared_ptr<const OperatorSpec> RegexExtractFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kRegexExtractKeys);
  RegexExtractConfig c;
  c.column = n.GetString("column");
  c.pattern = n.GetString("pattern");
  c.group = static_cast<int>(n.GetInt("group", 1));
  c.into = n.GetString("into", "");
  c.required = n.GetBool("required", false);
  try {
    std::regex re(c.pattern, std::regex::ECMAScript);
    if (c.group < 0 || static_cast<std::size_t>(c.group) > re.mark_count()) {
      n.Get("group").Fail(fmt::format("the pattern has {} groups; group {} does not exist",
                                      re.mark_count(), c.group));
    }
  } catch (const std::regex_error& e) {
    n.Get("pattern").Fail(fmt::format("invalid regular expression: {}", e.what()));
  }
  return std::make_shared<StatelessSpec<RegexExtractConfig, RegexExtract>>(
      "regex_extract", std::move(c),
      [](const RegexExtractConfig& c, StreamSchema in) -> Result<StreamSchema> {
        static constexpr TypeId kIn[] = {TypeId::kString};
        PS_RETURN_IF_ERROR(RequireColumnType(in, c.column, "regex_extract", kIn));
        in.Put(c.into.empty() ? c.column : c.into, TypeId::kString);
        return in;
      });
}

}  // namespace pinstream::ops
