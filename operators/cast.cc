#include "operators/cast.h"

#include <cctype>
#include <cmath>

#include "engine/row_format.h"
#include "engine/time_util.h"
#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

std::string Quote(std::string_view s) {
  if (s.size() > 60) return "'" + std::string(s.substr(0, 57)) + "...'";
  return "'" + std::string(s) + "'";
}

bool ParseBool(std::string_view s, bool* out) {
  std::string l;
  for (char c : s) {
    if (c != ' ') l.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (l == "true" || l == "1" || l == "yes" || l == "t" || l == "y") {
    *out = true;
    return true;
  }
  if (l == "false" || l == "0" || l == "no" || l == "f" || l == "n") {
    *out = false;
    return true;
  }
  return false;
}

// Converts row r of `in` into `out`; returns an error reason or "".
std::string ConvertRow(const Column& in, std::size_t r, TypeId to, Column& out) {
  TypeId from = in.type();
  switch (to) {
    case TypeId::kInt64:
      switch (from) {
        case TypeId::kString:
        case TypeId::kRaw: {
          std::int64_t v;
          if (!ParseInt64Strict(in.Str(r), &v)) return Quote(in.Str(r)) + " is not an integer";
          out.AppendInt(v);
          return {};
        }
        case TypeId::kDouble: {
          double d = in.Double(r);
          if (std::trunc(d) != d || std::fabs(d) > 9.2e18)
            return fmt::format("{} is not a whole number", d);
          out.AppendInt(static_cast<std::int64_t>(d));
          return {};
        }
        case TypeId::kBool:
        case TypeId::kInt64:
          out.AppendInt(in.Int(r));
          return {};
        case TypeId::kTimestamp: {
          std::int64_t us = in.Int(r);
          out.AppendInt(us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000));
          return {};
        }
        default:
          break;
      }
      break;
    case TypeId::kDouble:
      switch (from) {
        case TypeId::kString:
        case TypeId::kRaw: {
          double d;
          if (!ParseDoubleStrict(in.Str(r), &d)) return Quote(in.Str(r)) + " is not a number";
          out.AppendDouble(d);
          return {};
        }
        case TypeId::kInt64:
        case TypeId::kBool:
          out.AppendDouble(static_cast<double>(in.Int(r)));
          return {};
        case TypeId::kDouble:
          out.AppendDouble(in.Double(r));
          return {};
        default:
          break;
      }
      break;
    case TypeId::kBool:
      switch (from) {
        case TypeId::kString:
        case TypeId::kRaw: {
          bool b;
          if (!ParseBool(in.Str(r), &b)) return Quote(in.Str(r)) + " is not a boolean";
          out.AppendBool(b);
          return {};
        }
        case TypeId::kInt64:
        case TypeId::kBool:
          out.AppendBool(in.Int(r) != 0);
          return {};
        case TypeId::kDouble:
          out.AppendBool(in.Double(r) != 0);
          return {};
        default:
          break;
      }
      break;
    case TypeId::kTimestamp:
      switch (from) {
        case TypeId::kString:
        case TypeId::kRaw: {
          auto ts = ParseTimestamp(in.Str(r));
          if (!ts.ok()) return ts.status().message();
          out.AppendInt(*ts);
          return {};
        }
        case TypeId::kInt64:
          out.AppendInt(in.Int(r) * 1000000);
          return {};
        case TypeId::kDouble:
          out.AppendInt(static_cast<std::int64_t>(std::llround(in.Double(r) * 1e6)));
          return {};
        case TypeId::kTimestamp:
          out.AppendInt(in.Int(r));
          return {};
        default:
          break;
      }
      break;
    case TypeId::kString:
    case TypeId::kRaw:
      switch (from) {
        case TypeId::kString:
        case TypeId::kRaw:
          out.AppendString(in.Str(r));
          return {};
        case TypeId::kTimestamp:
          out.AppendString(FormatTimestamp(in.Int(r), TimestampStyle::kSql));
          return {};
        default: {
          std::string tmp;
          AppendJsonValue(in, r, &tmp);
          out.AppendString(tmp);
          return {};
        }
      }
    default:
      break;
  }
  return fmt::format("cannot cast {} to {}", TypeName(from), TypeName(to));
}

class Cast : public Operator {
 public:
  explicit Cast(CastConfig c) : config_(std::move(c)) {}
  Status Process(RecordBatch& batch, OperatorContext& ctx) override {
    for (const auto& [name, to] : config_.columns) {
      PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, name, "cast"));
      const Column& in = batch.column(ci);
      if (in.type() == to) continue;
      if (in.type() == TypeId::kNull) {
        batch.SetColumn(ci, Column::Nulls(to, in.size()));
        continue;
      }
      if (in.type() == TypeId::kDoubleArray && to != TypeId::kString) {
        return InvalidArgument(
            fmt::format("cast: column '{}' is array<double> and can only be cast to string", name));
      }
      Column out(to);
      out.Reserve(in.size(), IsBinaryLike(to) ? in.size() * 16 : 0);
      for (std::size_t r = 0; r < in.size(); ++r) {
        if (in.IsNull(r)) {
          out.AppendNull();
          continue;
        }
        std::string why = ConvertRow(in, r, to, out);
        if (!why.empty()) {
          ctx.RejectRow(r, fmt::format("cast {} to {}: {}", name, TypeName(to), why));
          out.AppendNull();
        }
      }
      batch.SetColumn(ci, std::move(out));
    }
    return Status::Ok();
  }

 private:
  CastConfig config_;
};

}  // namespace

std::unique_ptr<Operator> CastOperator(const CastConfig& config) {
  return std::make_unique<Cast>(config);
}

namespace {
constexpr KeyDoc kCastDocs[] = {
    {"columns", KeyType::kMap, "",
     "Required. Column → type (string, int64, double, bool, timestamp, raw). A value that cannot "
     "be converted rejects the row; nulls stay null."},
};
}  // namespace
constexpr ConfigKeys kCastKeys{"operators: cast", "Converts columns to other types.", kCastDocs};

std::shared_ptr<const OperatorSpec> CastFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kCastKeys);
  CastConfig c;
  for (auto& [name, t] : n.Get("columns").Entries()) {
    auto type = ParseTypeName(t.AsString());
    if (!type.ok()) t.Fail(type.status().message());
    if (*type == TypeId::kNull || *type == TypeId::kDoubleArray)
      t.Fail("cast to null or array<double> is not supported");
    c.columns.emplace_back(name, *type);
  }
  if (c.columns.empty()) n.Get("columns").Fail("cast needs at least one column");
  return std::make_shared<StatelessSpec<CastConfig, Cast>>(
      "cast", std::move(c), [](const CastConfig& c, StreamSchema in) -> Result<StreamSchema> {
        for (const auto& [col, to] : c.columns) {
          PS_RETURN_IF_ERROR(RequireColumnIn(in, col, "cast"));
          if (in.TypeOf(col) == TypeId::kDoubleArray && to != TypeId::kString)
            return InvalidArgument(fmt::format(
                "cast: column '{}' is array<double> and can only be cast to string", col));
          in.Put(col, to);
        }
        return in;
      });
}

}  // namespace pinstream::ops
