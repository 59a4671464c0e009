#include "operators/parse_count.h"

#include "operators/operator_util.h"

namespace pinstream::ops {

bool ParseCount(std::string_view s, std::int64_t* out) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty()) return false;
  bool neg = false;
  if (s.front() == '-' || s.front() == '+') {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  unsigned __int128 mult = 1;
  char last = s.empty() ? '\0' : s.back();
  if (last == 'k' || last == 'K')
    mult = 1000;
  else if (last == 'm' || last == 'M')
    mult = 1000000;
  else if (last == 'b' || last == 'B')
    mult = 1000000000;
  if (mult != 1) s.remove_suffix(1);
  if (s.empty()) return false;
  unsigned __int128 int_part = 0, frac = 0, scale = 1;
  std::size_t i = 0;
  std::size_t digits = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
    int_part = int_part * 10 + static_cast<unsigned>(s[i] - '0');
    if (int_part > (static_cast<unsigned __int128>(1) << 64)) return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::size_t fd = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++fd) {
      if (fd < 18) {
        frac = frac * 10 + static_cast<unsigned>(s[i] - '0');
        scale *= 10;
      }
    }
    if (fd == 0 && digits == 0) return false;
    digits += fd;
  }
  if (i != s.size() || digits == 0) return false;
  unsigned __int128 total = int_part * mult;
  if (frac != 0) {  // most counts have no decimals: no 128-bit division for them
    unsigned __int128 num = frac * mult;
    unsigned __int128 q = num / scale, rem = num % scale;
    if (rem * 2 >= scale) ++q;  // round half away from zero
    total += q;
  }
  if (total > static_cast<unsigned __int128>(INT64_MAX)) return false;
  *out = neg ? -static_cast<std::int64_t>(total) : static_cast<std::int64_t>(total);
  return true;
}

namespace {

class ParseCountOp : public Operator {
 public:
  explicit ParseCountOp(ParseCountConfig c) : config_(std::move(c)) {}
  Status Process(RecordBatch& batch, OperatorContext& ctx) override {
    for (const auto& name : config_.columns) {
      PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, name, "parse_count"));
      const Column& in = batch.column(ci);
      if (in.type() == TypeId::kInt64) continue;
      if (in.type() == TypeId::kNull) {
        batch.SetColumn(ci, Column::Nulls(TypeId::kInt64, in.size()));
        continue;
      }
      if (in.type() != TypeId::kString) {
        return InvalidArgument(fmt::format("parse_count: column '{}' is {}, expected string", name,
                                           TypeName(in.type())));
      }
      Column out(TypeId::kInt64);
      out.Reserve(in.size());
      for (std::size_t r = 0; r < in.size(); ++r) {
        std::int64_t v;
        if (in.IsNull(r)) {
          out.AppendNull();
        } else if (ParseCount(in.Str(r), &v)) {
          out.AppendInt(v);
        } else {
          ctx.RejectRow(
              r,
              fmt::format("{}: '{}' is not a count (expected digits with an optional k/M/B suffix)",
                          name, in.Str(r)));
          out.AppendNull();
        }
      }
      batch.SetColumn(ci, std::move(out));
    }
    return Status::Ok();
  }

 private:
  ParseCountConfig config_;
};

}  // namespace

std::unique_ptr<Operator> ParseCountOperator(const ParseCountConfig& config) {
  return std::make_unique<ParseCountOp>(config);
}

namespace {
constexpr KeyDoc kParseCountDocs[] = {
    {"columns", KeyType::kStringList, "", "The columns parsed (one of columns, column)."},
    {"column", KeyType::kStringList, "", "Same as columns."},
};
}  // namespace
constexpr ConfigKeys kParseCountKeys{
    "operators: parse_count",
    "Parses counts written with k/M/B suffixes (\"228k\", \"1.5M\") into int64; anything else "
    "rejects the row.",
    kParseCountDocs};

std::shared_ptr<const OperatorSpec> ParseCountFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kParseCountKeys);
  ParseCountConfig c;
  c.columns = n.Has("columns") ? n.GetStringList("columns") : n.GetStringList("column");
  if (c.columns.empty()) n.Fail("parse_count needs 'columns'");
  return std::make_shared<StatelessSpec<ParseCountConfig, ParseCountOp>>(
      "parse_count", std::move(c),
      [](const ParseCountConfig& c, StreamSchema in) -> Result<StreamSchema> {
        static constexpr TypeId kIn[] = {TypeId::kString, TypeId::kInt64};
        for (const auto& col : c.columns) {
          PS_RETURN_IF_ERROR(RequireColumnType(in, col, "parse_count", kIn));
          in.Put(col, TypeId::kInt64);
        }
        return in;
      });
}

}  // namespace pinstream::ops
