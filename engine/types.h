// Value types of pinstream's columnar data model.
//
//   null         a column whose every value is null (e.g. a JSON field never seen)
//   bool
//   int64
//   double
//   string       UTF-8 text
//   timestamp    microseconds since the Unix epoch, UTC
//   array<double>
//   raw          uninterpreted bytes (a source record before parsing)
//
// `Value` holds one value of any of these types. It is used for literals (filter operands,
// null_if lists) and for per-column statistics; it is NOT used on the per-row hot path, where
// operators read typed column vectors directly (record_batch.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace pinstream {

enum class TypeId : std::uint8_t {
  kNull = 0,
  kBool = 1,
  kInt64 = 2,
  kDouble = 3,
  kString = 4,
  kTimestamp = 5,
  kDoubleArray = 6,
  kRaw = 7,
};

// Canonical names: null, bool, int64, double, string, timestamp, array<double>, raw.
std::string_view TypeName(TypeId type);

// Accepts the canonical names and the aliases data engineers type out of habit
// (int, long, bigint, integer, float, boolean, str, text, binary, bytes, array<float>, ...).
Result<TypeId> ParseTypeName(std::string_view name);

// True for types stored in the 64-bit integer vector of a Column.
inline bool IsIntegerLike(TypeId t) {
  return t == TypeId::kBool || t == TypeId::kInt64 || t == TypeId::kTimestamp;
}
// True for types stored as variable-length bytes.
inline bool IsBinaryLike(TypeId t) { return t == TypeId::kString || t == TypeId::kRaw; }

class Value {
 public:
  Value() = default;  // null
  static Value Bool(bool v);
  static Value Int64(std::int64_t v);
  static Value Double(double v);
  static Value String(std::string v);
  static Value Timestamp(std::int64_t micros);
  static Value Raw(std::string bytes);
  static Value DoubleArray(std::vector<double> v);

  TypeId type() const { return type_; }
  bool is_null() const { return type_ == TypeId::kNull; }
  bool bool_value() const { return i_ != 0; }
  std::int64_t int_value() const { return i_; }  // int64, timestamp, bool
  double double_value() const { return d_; }
  const std::string& string_value() const { return s_; }  // string, raw
  const std::vector<double>& array_value() const { return arr_; }

  // Numeric view for comparisons across int64/double/timestamp.
  double AsDouble() const;

  // Total order within one type; numbers compare numerically across int64/double/timestamp.
  // Returns <0, 0, >0. Nulls sort first.
  int Compare(const Value& other) const;
  bool operator==(const Value& other) const { return Compare(other) == 0; }

  // Human-readable form, as shown by `pinstream history` stats and error messages.
  std::string ToString() const;

 private:
  TypeId type_ = TypeId::kNull;
  std::int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::vector<double> arr_;
};

}  // namespace pinstream
