// Internal to views/: rows kept in the view operators' state as EncodeKey bytes
// (engine/record_batch.h: every value type-tagged and self-delimiting, so a row's bytes never
// prefix another row's of the same arity), and output batches built from such rows with their
// weights, each value decoded straight into its column.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/bytes.h"
#include "engine/record_batch.h"
#include "engine/status.h"

namespace pinstream::views::internal {

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

// Output rows kept as their EncodeKey bytes (a join's two sides' rows, concatenated) with their
// weights → one batch, each value decoded straight into its column (no Value per cell), the
// columns of the planned types; a column planned as null takes its first non-null value's type.
class RowsOut {
 public:
  RowsOut(std::vector<std::string> names, std::vector<TypeId> types)
      : names_(std::move(names)), types_(std::move(types)) {}

  // The row is `a` then `b` (each EncodeKey bytes of some of the row's columns).
  void Add(std::string_view a, std::string_view b, std::int64_t weight) {
    if (weight == 0) return;
    ends_.push_back(bytes_.size());
    bytes_.append(a);
    bytes_.append(b);
    weights_.push_back(weight);
  }
  bool empty() const { return weights_.empty(); }

  Result<RecordBatch> Build(std::uint16_t tag) {
    const std::size_t n = weights_.size();
    ends_.push_back(bytes_.size());  // ends_[i]: row i's start, ends_[i + 1] its end
    std::vector<TypeId> types = types_;
    EncodedValue v;
    for (std::size_t c = 0; c < types.size(); ++c) {
      if (types[c] != TypeId::kNull) continue;
      for (std::size_t r = 0; r < n && types[c] == TypeId::kNull; ++r) {
        ByteReader rd(Row(r));
        for (std::size_t i = 0; i <= c; ++i) {
          if (!ReadKeyValue(rd, &v)) return Internal("view operator: an output row is damaged");
        }
        types[c] = v.type;
      }
    }
    std::vector<::pinstream::Column> cols;
    cols.reserve(types.size());
    for (TypeId t : types) cols.emplace_back(t);
    for (std::size_t r = 0; r < n; ++r) {
      ByteReader rd(Row(r));
      for (std::size_t c = 0; c < cols.size(); ++c) {
        if (!ReadKeyValue(rd, &v)) return Internal("view operator: an output row is damaged");
        const TypeId t = types[c];
        if (v.type == TypeId::kNull || t == TypeId::kNull) {
          cols[c].AppendNull();
        } else if (v.type == t || (t == TypeId::kDouble && IsIntegerLike(v.type))) {
          AppendKeyValue(v, cols[c]);
        } else {
          return InvalidArgument("column " + names_[c] + " holds " + std::string(TypeName(v.type)) +
                                 " where the view's plan has " + std::string(TypeName(t)));
        }
      }
      if (rd.remaining() != 0) return Internal("view operator: an output row of the wrong width");
    }
    RecordBatch b;
    b.row_ids().resize(n);
    for (std::size_t c = 0; c < cols.size(); ++c) b.AddColumn(names_[c], std::move(cols[c]));
    b.SetWeights(std::move(weights_));
    b.set_input_tag(tag);
    bytes_.clear();
    ends_.clear();
    weights_.clear();
    return b;
  }

 private:
  std::string_view Row(std::size_t r) const {
    return std::string_view(bytes_).substr(ends_[r], ends_[r + 1] - ends_[r]);
  }

  std::vector<std::string> names_;
  std::vector<TypeId> types_;
  std::string bytes_;
  std::vector<std::size_t> ends_;
  std::vector<std::int64_t> weights_;
};

}  // namespace pinstream::views::internal
