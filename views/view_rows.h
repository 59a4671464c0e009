// Internal to views/: rows kept in the view operators' state as EncodeKey bytes
// (engine/record_batch.h: every value type-tagged and self-delimiting, so a row's bytes never
// prefix another row's of the same arity), decoded back to values, and output batches built
// from such rows with their weights.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/bytes.h"
#include "engine/record_batch.h"
#include "engine/status.h"

namespace pinstream::views::internal {

// Decodes one EncodeKey value (engine/record_batch.h).
inline bool DecodeValue(ByteReader& r, Value* out) {
  EncodedValue v;
  if (!ReadKeyValue(r, &v)) return false;
  switch (v.type) {
    case TypeId::kNull:
      *out = Value();
      return true;
    case TypeId::kDoubleArray: {
      std::vector<double> a(v.bytes.size() / 8);
      if (!a.empty()) std::memcpy(a.data(), v.bytes.data(), v.bytes.size());
      *out = Value::DoubleArray(std::move(a));
      return true;
    }
    case TypeId::kRaw:
      *out = Value::Raw(std::string(v.bytes));
      return true;
    case TypeId::kString:
      *out = Value::String(std::string(v.bytes));
      return true;
    case TypeId::kDouble:
      *out = Value::Double(v.d);
      return true;
    case TypeId::kBool:
      *out = Value::Bool(v.i != 0);
      return true;
    case TypeId::kTimestamp:
      *out = Value::Timestamp(v.i);
      return true;
    case TypeId::kInt64:
      *out = Value::Int64(v.i);
      return true;
  }
  return false;
}

// Decodes `n` values (a whole row) from `bytes`.
inline bool DecodeRow(std::string_view bytes, std::size_t n, std::vector<Value>* out) {
  ByteReader r(bytes);
  out->resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!DecodeValue(r, &(*out)[i])) return false;
  }
  return r.remaining() == 0;
}

// The first key after every key starting with `prefix` ("" when there is none).
inline std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto c = static_cast<unsigned char>(prefix.back());
    if (c != 0xff) {
      prefix.back() = static_cast<char>(c + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

// Output rows (values with weights) → one batch whose columns have the planned types; a column
// planned as null (its type unknown before data) takes its first non-null value's type.
class RowsOut {
 public:
  RowsOut(std::vector<std::string> names, std::vector<TypeId> types)
      : names_(std::move(names)), types_(std::move(types)) {}

  // The row is the concatenation of `parts`.
  void Add(std::initializer_list<const std::vector<Value>*> parts, std::int64_t weight) {
    if (weight == 0) return;
    std::vector<Value> row;
    row.reserve(names_.size());
    for (const auto* p : parts) row.insert(row.end(), p->begin(), p->end());
    rows_.push_back(std::move(row));
    weights_.push_back(weight);
  }
  bool empty() const { return rows_.empty(); }

  Result<RecordBatch> Build(std::uint16_t tag) {
    RecordBatch b;
    b.row_ids().resize(rows_.size());
    for (std::size_t c = 0; c < names_.size(); ++c) {
      TypeId t = types_[c];
      if (t == TypeId::kNull) {
        for (const auto& r : rows_) {
          if (!r[c].is_null()) {
            t = r[c].type();
            break;
          }
        }
      }
      ::pinstream::Column col(t);
      for (const auto& r : rows_) {
        if (r.size() != names_.size()) return Internal("view operator: a row of the wrong width");
        if (r[c].is_null() || t == TypeId::kNull) {
          col.AppendNull();
        } else if (r[c].type() == t) {
          PS_RETURN_IF_ERROR(col.AppendValue(r[c]));
        } else if (t == TypeId::kDouble && IsIntegerLike(r[c].type())) {
          col.AppendDouble(static_cast<double>(r[c].int_value()));
        } else {
          return InvalidArgument("column " + names_[c] + " holds " +
                                 std::string(TypeName(r[c].type())) +
                                 " where the view's plan has " + std::string(TypeName(t)));
        }
      }
      b.AddColumn(names_[c], std::move(col));
    }
    b.SetWeights(std::move(weights_));
    b.set_input_tag(tag);
    rows_.clear();
    weights_.clear();
    return b;
  }

 private:
  std::vector<std::string> names_;
  std::vector<TypeId> types_;
  std::vector<std::vector<Value>> rows_;
  std::vector<std::int64_t> weights_;
};

}  // namespace pinstream::views::internal
