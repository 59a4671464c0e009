#include "engine/types.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "engine/time_util.h"

namespace pinstream {

std::string_view TypeName(TypeId type) {
  switch (type) {
    case TypeId::kNull:
      return "null";
    case TypeId::kBool:
      return "bool";
    case TypeId::kInt64:
      return "int64";
    case TypeId::kDouble:
      return "double";
    case TypeId::kString:
      return "string";
    case TypeId::kTimestamp:
      return "timestamp";
    case TypeId::kDoubleArray:
      return "array<double>";
    case TypeId::kRaw:
      return "raw";
  }
  return "unknown";
}

Result<TypeId> ParseTypeName(std::string_view name) {
  std::string n;
  for (char c : name) {
    if (c != ' ') n.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (n == "null" || n == "void") return TypeId::kNull;
  if (n == "bool" || n == "boolean") return TypeId::kBool;
  if (n == "int64" || n == "int" || n == "integer" || n == "long" || n == "bigint" ||
      n == "int32" || n == "smallint" || n == "tinyint")
    return TypeId::kInt64;
  if (n == "double" || n == "float" || n == "float64" || n == "real") return TypeId::kDouble;
  if (n == "string" || n == "str" || n == "text" || n == "varchar") return TypeId::kString;
  if (n == "timestamp" || n == "datetime") return TypeId::kTimestamp;
  if (n == "array<double>" || n == "array<float>" || n == "array<float64>") {
    return TypeId::kDoubleArray;
  }
  if (n == "raw" || n == "binary" || n == "bytes") return TypeId::kRaw;
  return InvalidArgument(
      fmt::format("unknown type '{}' (expected one of: bool, int64, double, string, timestamp, "
                  "array<double>, raw)",
                  name));
}

Value Value::Bool(bool v) {
  Value x;
  x.type_ = TypeId::kBool;
  x.i_ = v ? 1 : 0;
  return x;
}
Value Value::Int64(std::int64_t v) {
  Value x;
  x.type_ = TypeId::kInt64;
  x.i_ = v;
  return x;
}
Value Value::Double(double v) {
  Value x;
  x.type_ = TypeId::kDouble;
  x.d_ = v;
  return x;
}
Value Value::String(std::string v) {
  Value x;
  x.type_ = TypeId::kString;
  x.s_ = std::move(v);
  return x;
}
Value Value::Timestamp(std::int64_t micros) {
  Value x;
  x.type_ = TypeId::kTimestamp;
  x.i_ = micros;
  return x;
}
Value Value::Raw(std::string bytes) {
  Value x;
  x.type_ = TypeId::kRaw;
  x.s_ = std::move(bytes);
  return x;
}
Value Value::DoubleArray(std::vector<double> v) {
  Value x;
  x.type_ = TypeId::kDoubleArray;
  x.arr_ = std::move(v);
  return x;
}

double Value::AsDouble() const {
  switch (type_) {
    case TypeId::kDouble:
      return d_;
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      return static_cast<double>(i_);
    default:
      return std::nan("");
  }
}

namespace {
bool IsNumeric(TypeId t) {
  return t == TypeId::kInt64 || t == TypeId::kDouble || t == TypeId::kTimestamp ||
         t == TypeId::kBool;
}
template <typename T>
int Cmp(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}
}  // namespace

int Value::Compare(const Value& o) const {
  if (is_null() || o.is_null()) return Cmp(is_null() ? 0 : 1, o.is_null() ? 0 : 1);
  if (IsNumeric(type_) && IsNumeric(o.type_)) {
    if (type_ != TypeId::kDouble && o.type_ != TypeId::kDouble) return Cmp(i_, o.i_);
    return Cmp(AsDouble(), o.AsDouble());
  }
  if (IsBinaryLike(type_) && IsBinaryLike(o.type_))
    return s_.compare(o.s_) < 0 ? -1 : (s_ == o.s_ ? 0 : 1);
  if (type_ == TypeId::kDoubleArray && o.type_ == TypeId::kDoubleArray) return Cmp(arr_, o.arr_);
  return Cmp(static_cast<int>(type_), static_cast<int>(o.type_));
}

std::string Value::ToString() const {
  switch (type_) {
    case TypeId::kNull:
      return "null";
    case TypeId::kBool:
      return i_ ? "true" : "false";
    case TypeId::kInt64:
      return std::to_string(i_);
    case TypeId::kDouble:
      return fmt::format("{}", d_);
    case TypeId::kString:
    case TypeId::kRaw:
      return s_;
    case TypeId::kTimestamp:
      return FormatTimestamp(i_, TimestampStyle::kSql);
    case TypeId::kDoubleArray:
      return fmt::format("[{}]", fmt::join(arr_, ","));
  }
  return "?";
}

}  // namespace pinstream
