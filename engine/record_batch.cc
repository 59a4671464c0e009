#include "engine/record_batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

// libxxhash used header-only, so that XXH3 inlines into HashBytes.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace pinstream {

Column::Column(TypeId type) : type_(type) {
  if (type_ == TypeId::kString || type_ == TypeId::kRaw || type_ == TypeId::kDoubleArray) {
    offsets_.push_back(0);
  }
}

std::size_t Column::NullCount() const {
  std::size_t n = 0;
  for (auto v : validity_) n += (v == 0);
  return n;
}

Value Column::GetValue(std::size_t i) const {
  if (IsNull(i)) return Value();
  switch (type_) {
    case TypeId::kNull:
      return Value();
    case TypeId::kBool:
      return Value::Bool(Bool(i));
    case TypeId::kInt64:
      return Value::Int64(Int(i));
    case TypeId::kTimestamp:
      return Value::Timestamp(Int(i));
    case TypeId::kDouble:
      return Value::Double(Double(i));
    case TypeId::kString:
      return Value::String(std::string(Str(i)));
    case TypeId::kRaw:
      return Value::Raw(std::string(Str(i)));
    case TypeId::kDoubleArray: {
      auto a = Array(i);
      return Value::DoubleArray(std::vector<double>(a.begin(), a.end()));
    }
  }
  return Value();
}

void Column::Reserve(std::size_t rows, std::size_t bytes) {
  validity_.reserve(rows);
  switch (type_) {
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      ints_.reserve(rows);
      break;
    case TypeId::kDouble:
      doubles_.reserve(rows);
      break;
    case TypeId::kString:
    case TypeId::kRaw:
      offsets_.reserve(rows + 1);
      bytes_.reserve(bytes);
      break;
    case TypeId::kDoubleArray:
      offsets_.reserve(rows + 1);
      break;
    case TypeId::kNull:
      break;
  }
}

void Column::AppendNull() {
  validity_.push_back(0);
  switch (type_) {
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      ints_.push_back(0);
      break;
    case TypeId::kDouble:
      doubles_.push_back(0);
      break;
    case TypeId::kString:
    case TypeId::kRaw:
      offsets_.push_back(bytes_.size());
      break;
    case TypeId::kDoubleArray:
      offsets_.push_back(doubles_.size());
      break;
    case TypeId::kNull:
      break;
  }
}

void Column::AppendString(std::string_view v) {
  validity_.push_back(1);
  bytes_.append(v.data(), v.size());
  offsets_.push_back(bytes_.size());
}
void Column::AppendArray(std::span<const double> v) {
  validity_.push_back(1);
  doubles_.insert(doubles_.end(), v.begin(), v.end());
  offsets_.push_back(doubles_.size());
}

Status Column::AppendValue(const Value& v) {
  if (v.is_null()) {
    AppendNull();
    return Status::Ok();
  }
  switch (type_) {
    case TypeId::kNull:
      break;
    case TypeId::kBool:
      if (v.type() == TypeId::kBool) {
        AppendBool(v.bool_value());
        return Status::Ok();
      }
      break;
    case TypeId::kInt64:
      if (v.type() == TypeId::kInt64 || v.type() == TypeId::kBool) {
        AppendInt(v.int_value());
        return Status::Ok();
      }
      break;
    case TypeId::kTimestamp:
      if (v.type() == TypeId::kTimestamp || v.type() == TypeId::kInt64) {
        AppendInt(v.int_value());
        return Status::Ok();
      }
      break;
    case TypeId::kDouble:
      if (v.type() == TypeId::kDouble || v.type() == TypeId::kInt64) {
        AppendDouble(v.AsDouble());
        return Status::Ok();
      }
      break;
    case TypeId::kString:
    case TypeId::kRaw:
      if (IsBinaryLike(v.type())) {
        AppendString(v.string_value());
        return Status::Ok();
      }
      break;
    case TypeId::kDoubleArray:
      if (v.type() == TypeId::kDoubleArray) {
        AppendArray(v.array_value());
        return Status::Ok();
      }
      break;
  }
  return InvalidArgument(
      fmt::format("cannot store a {} value in a {} column", TypeName(v.type()), TypeName(type_)));
}

void Column::AppendFrom(const Column& other, std::size_t i) {
  if (other.type_ == TypeId::kNull || other.IsNull(i)) {
    AppendNull();
    return;
  }
  switch (type_) {
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      validity_.push_back(1);
      ints_.push_back(other.ints_[i]);
      break;
    case TypeId::kDouble:
      validity_.push_back(1);
      doubles_.push_back(other.doubles_[i]);
      break;
    case TypeId::kString:
    case TypeId::kRaw:
      AppendString(other.Str(i));
      break;
    case TypeId::kDoubleArray:
      AppendArray(other.Array(i));
      break;
    case TypeId::kNull:
      validity_.push_back(0);
      break;
  }
}

void Column::AppendRange(const Column& other, std::size_t begin, std::size_t end) {
  if (begin >= end) return;
  if (other.type_ == TypeId::kNull) {
    for (std::size_t i = begin; i < end; ++i) AppendNull();
    return;
  }
  PS_CHECK(other.type_ == type_);
  validity_.insert(validity_.end(), other.validity_.begin() + begin, other.validity_.begin() + end);
  switch (type_) {
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      ints_.insert(ints_.end(), other.ints_.begin() + begin, other.ints_.begin() + end);
      break;
    case TypeId::kDouble:
      doubles_.insert(doubles_.end(), other.doubles_.begin() + begin, other.doubles_.begin() + end);
      break;
    case TypeId::kString:
    case TypeId::kRaw: {
      std::uint64_t base = other.offsets_[begin];
      std::uint64_t shift = bytes_.size();
      bytes_.append(other.bytes_.data() + base, other.offsets_[end] - base);
      for (std::size_t i = begin + 1; i <= end; ++i) {
        offsets_.push_back(other.offsets_[i] - base + shift);
      }
      break;
    }
    case TypeId::kDoubleArray: {
      std::uint64_t base = other.offsets_[begin];
      std::uint64_t shift = doubles_.size();
      doubles_.insert(doubles_.end(), other.doubles_.begin() + static_cast<std::ptrdiff_t>(base),
                      other.doubles_.begin() + static_cast<std::ptrdiff_t>(other.offsets_[end]));
      for (std::size_t i = begin + 1; i <= end; ++i) {
        offsets_.push_back(other.offsets_[i] - base + shift);
      }
      break;
    }
    case TypeId::kNull:
      break;
  }
}

Column Column::Nulls(TypeId type, std::size_t n) {
  Column c(type);
  c.validity_.assign(n, 0);
  switch (type) {
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      c.ints_.assign(n, 0);
      break;
    case TypeId::kDouble:
      c.doubles_.assign(n, 0);
      break;
    case TypeId::kString:
    case TypeId::kRaw:
    case TypeId::kDoubleArray:
      c.offsets_.assign(n + 1, 0);
      break;
    case TypeId::kNull:
      break;
  }
  return c;
}

Column Column::Take(std::span<const std::uint32_t> rows) const {
  const Rows part{this, rows};
  return TakeFrom(type_, std::span<const Rows>(&part, 1));
}

Column Column::TakeFrom(TypeId type, std::span<const Rows> parts) {
  // Gathers each buffer in one pass (sized once), rather than appending row by row: the keyed
  // exchange takes every row of every batch through here.
  Column out(type);
  std::size_t m = 0;
  for (const Rows& p : parts) {
    PS_CHECK(p.column->type_ == type);
    m += p.rows.size();
  }
  out.validity_.resize(m);
  std::size_t at = 0;
  for (const Rows& p : parts) {
    const auto* v = p.column->validity_.data();
    for (auto r : p.rows) out.validity_[at++] = v[r];
  }
  // Fixed-width values, and variable-width ones (bytes of strings, doubles of arrays) behind
  // offsets.
  auto gather_fixed = [&](auto member) {
    auto& dst = out.*member;
    dst.resize(m);
    std::size_t i = 0;
    for (const Rows& p : parts) {
      const auto* src = (p.column->*member).data();
      for (auto r : p.rows) dst[i++] = src[r];
    }
  };
  auto gather_var = [&](auto member) {
    auto& dst = out.*member;
    std::size_t elems = 0;
    for (const Rows& p : parts) {
      const auto* off = p.column->offsets_.data();
      for (auto r : p.rows) elems += off[r + 1] - off[r];
    }
    // Most values are short: those are copied as one 32-byte move (into the slack behind the
    // output, from inside the source buffer) instead of a memcpy call each.
    using Elem = std::remove_reference_t<decltype(*dst.data())>;
    constexpr std::size_t kShort = 32 / sizeof(Elem);
    dst.resize(elems + kShort);
    out.offsets_.resize(m + 1);
    std::uint64_t pos = 0;
    std::size_t i = 0;
    for (const Rows& p : parts) {
      const auto* off = p.column->offsets_.data();
      const auto& src_buf = p.column->*member;
      const auto* src = src_buf.data();
      const std::uint64_t src_size = src_buf.size();
      for (auto r : p.rows) {
        std::uint64_t b = off[r], len = off[r + 1] - b;
        if (len <= kShort && b + kShort <= src_size) {
          std::memcpy(dst.data() + pos, src + b, 32);
        } else if (len != 0) {  // an empty source buffer's data() may be null
          std::memcpy(dst.data() + pos, src + b, len * sizeof(Elem));
        }
        pos += len;
        out.offsets_[++i] = pos;
      }
    }
    dst.resize(elems);
  };
  switch (type) {
    case TypeId::kNull:
      break;
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      gather_fixed(&Column::ints_);
      break;
    case TypeId::kDouble:
      gather_fixed(&Column::doubles_);
      break;
    case TypeId::kString:
    case TypeId::kRaw:
      gather_var(&Column::bytes_);
      break;
    case TypeId::kDoubleArray:
      gather_var(&Column::doubles_);
      break;
  }
  return out;
}

void Column::Compact(std::span<const std::uint8_t> keep) {
  std::size_t n = validity_.size();
  std::size_t w = 0;
  switch (type_) {
    case TypeId::kNull:
      for (std::size_t i = 0; i < n; ++i) w += keep[i] != 0;
      validity_.assign(w, 0);
      return;
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      for (std::size_t i = 0; i < n; ++i) {
        if (keep[i]) {
          validity_[w] = validity_[i];
          ints_[w] = ints_[i];
          ++w;
        }
      }
      ints_.resize(w);
      break;
    case TypeId::kDouble:
      for (std::size_t i = 0; i < n; ++i) {
        if (keep[i]) {
          validity_[w] = validity_[i];
          doubles_[w] = doubles_[i];
          ++w;
        }
      }
      doubles_.resize(w);
      break;
    case TypeId::kString:
    case TypeId::kRaw: {
      std::size_t out_pos = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (!keep[i]) continue;
        std::uint64_t b = offsets_[i], e = offsets_[i + 1];
        if (out_pos != b) std::memmove(bytes_.data() + out_pos, bytes_.data() + b, e - b);
        validity_[w] = validity_[i];
        offsets_[w] = out_pos;  // safe: w <= i, offsets_[i] already read
        out_pos += e - b;
        ++w;
      }
      offsets_[w] = out_pos;
      offsets_.resize(w + 1);
      bytes_.resize(out_pos);
      break;
    }
    case TypeId::kDoubleArray: {
      std::size_t out_pos = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (!keep[i]) continue;
        std::uint64_t b = offsets_[i], e = offsets_[i + 1];
        if (out_pos != b)
          std::memmove(doubles_.data() + out_pos, doubles_.data() + b, (e - b) * sizeof(double));
        validity_[w] = validity_[i];
        offsets_[w] = out_pos;
        out_pos += e - b;
        ++w;
      }
      offsets_[w] = out_pos;
      offsets_.resize(w + 1);
      doubles_.resize(out_pos);
      break;
    }
  }
  validity_.resize(w);
}

std::size_t Column::ByteSize() const {
  return validity_.size() + ints_.size() * 8 + doubles_.size() * 8 + offsets_.size() * 8 +
         bytes_.size();
}

Status Column::Validate() const {
  std::size_t n = validity_.size();
  switch (type_) {
    case TypeId::kNull:
      return Status::Ok();
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      if (ints_.size() != n) return Corruption("int column length mismatch");
      return Status::Ok();
    case TypeId::kDouble:
      if (doubles_.size() != n) return Corruption("double column length mismatch");
      return Status::Ok();
    case TypeId::kString:
    case TypeId::kRaw:
    case TypeId::kDoubleArray: {
      if (offsets_.size() != n + 1 || offsets_[0] != 0)
        return Corruption("offsets length mismatch");
      for (std::size_t i = 0; i < n; ++i) {
        if (offsets_[i] > offsets_[i + 1]) return Corruption("offsets not monotonic");
      }
      std::size_t limit = type_ == TypeId::kDoubleArray ? doubles_.size() : bytes_.size();
      if (offsets_[n] != limit) return Corruption("offsets do not cover the data");
      return Status::Ok();
    }
  }
  return Corruption("unknown column type");
}

int Schema::FieldIndex(std::string_view name) const {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string Schema::ToString() const {
  std::string out;
  for (const auto& f : fields_) {
    if (!out.empty()) out += ", ";
    out += f.name;
    out += ": ";
    out += TypeName(f.type);
    if (!f.nullable) out += " not null";
  }
  return out;
}

std::string Schema::ToJson() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& f : fields_) {
    arr.push_back(
        {{"name", f.name}, {"type", std::string(TypeName(f.type))}, {"nullable", f.nullable}});
  }
  return arr.dump();
}

Result<Schema> Schema::FromJson(std::string_view json) {
  nlohmann::json arr = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!arr.is_array()) return Corruption("schema is not a JSON array");
  Schema s;
  for (const auto& f : arr) {
    if (!f.is_object() || !f.contains("name") || !f.contains("type")) {
      return Corruption("schema field lacks name or type");
    }
    PS_ASSIGN_OR_RETURN(TypeId t, ParseTypeName(f["type"].get<std::string>()));
    s.AddField(Field{f["name"].get<std::string>(), t, f.value("nullable", true)});
  }
  return s;
}

int RecordBatch::FindColumn(std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

void RecordBatch::AddColumn(std::string name, Column column) {
  PS_CHECK_MSG(column.size() == num_rows(), "column length differs from batch rows");
  names_.push_back(std::move(name));
  columns_.push_back(std::move(column));
}

void RecordBatch::RemoveColumn(std::size_t i) {
  names_.erase(names_.begin() + static_cast<std::ptrdiff_t>(i));
  columns_.erase(columns_.begin() + static_cast<std::ptrdiff_t>(i));
}

void RecordBatch::SelectColumns(std::span<const std::size_t> order) {
  std::vector<std::string> names;
  std::vector<Column> cols;
  names.reserve(order.size());
  cols.reserve(order.size());
  for (auto i : order) {
    names.push_back(names_[i]);
    cols.push_back(std::move(columns_[i]));
  }
  names_ = std::move(names);
  columns_ = std::move(cols);
}

Schema RecordBatch::schema() const {
  Schema s;
  for (std::size_t i = 0; i < names_.size(); ++i)
    s.AddField(Field{names_[i], columns_[i].type(), true});
  return s;
}

std::vector<std::int64_t>& RecordBatch::mutable_weights() {
  if (weights_.size() != row_ids_.size()) weights_.assign(row_ids_.size(), 1);
  return weights_;
}

void RecordBatch::SetWeights(std::vector<std::int64_t> weights) {
  PS_CHECK_MSG(weights.empty() || weights.size() == num_rows(), "weights differ from batch rows");
  weights_ = std::move(weights);
}

bool RecordBatch::HasRetractionsOrMultiples() const {
  for (auto w : weights_) {
    if (w != 1) return true;
  }
  return false;
}

RecordBatch RecordBatch::Take(std::span<const std::uint32_t> rows) const {
  const Rows part{this, rows};
  return TakeFrom(std::span<const Rows>(&part, 1));
}

RecordBatch RecordBatch::TakeFrom(std::span<const Rows> parts) {
  RecordBatch out;
  if (parts.empty()) return out;
  const RecordBatch& first = *parts.front().batch;
  out.input_tag_ = first.input_tag_;
  std::size_t m = 0;
  bool weighted = false;
  for (const Rows& p : parts) {
    m += p.rows.size();
    weighted = weighted || p.batch->has_weights();
  }
  out.row_ids_.reserve(m);
  for (const Rows& p : parts) {
    PS_CHECK(p.batch == &first || p.batch->SameColumns(first));
    PS_CHECK(p.batch->input_tag_ == first.input_tag_);
    for (auto r : p.rows) out.row_ids_.push_back(p.batch->row_ids_[r]);
  }
  if (weighted) {
    out.weights_.reserve(m);
    for (const Rows& p : parts) {
      for (auto r : p.rows) out.weights_.push_back(p.batch->weight(r));
    }
  }
  std::vector<Column::Rows> cols(parts.size());
  for (std::size_t c = 0; c < first.columns_.size(); ++c) {
    for (std::size_t i = 0; i < parts.size(); ++i)
      cols[i] = {&parts[i].batch->columns_[c], parts[i].rows};
    out.names_.push_back(first.names_[c]);
    out.columns_.push_back(Column::TakeFrom(first.columns_[c].type(), cols));
  }
  return out;
}

bool RecordBatch::SameColumns(const RecordBatch& other) const {
  if (names_ != other.names_) return false;
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (columns_[c].type() != other.columns_[c].type()) return false;
  }
  return true;
}

void RecordBatch::Compact(std::span<const std::uint8_t> keep) {
  for (auto& c : columns_) c.Compact(keep);
  std::size_t w = 0;
  const bool weighted = !weights_.empty();
  for (std::size_t i = 0; i < row_ids_.size(); ++i) {
    if (keep[i]) {
      if (weighted) weights_[w] = weights_[i];
      row_ids_[w++] = row_ids_[i];
    }
  }
  row_ids_.resize(w);
  if (weighted) weights_.resize(w);
}

Status RecordBatch::Append(const RecordBatch& other) {
  std::size_t before = num_rows();
  if (columns_.empty() && before == 0) {
    *this = other;
    return Status::Ok();
  }
  // Columns of `other` not present here are added as nulls first.
  for (std::size_t oc = 0; oc < other.columns_.size(); ++oc) {
    int idx = FindColumn(other.names_[oc]);
    if (idx < 0) {
      names_.push_back(other.names_[oc]);
      columns_.push_back(Column::Nulls(other.columns_[oc].type(), before));
    } else if (columns_[static_cast<std::size_t>(idx)].type() == TypeId::kNull &&
               other.columns_[oc].type() != TypeId::kNull) {
      columns_[static_cast<std::size_t>(idx)] = Column::Nulls(other.columns_[oc].type(), before);
    }
  }
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    int oc = other.FindColumn(names_[c]);
    if (oc < 0) {
      for (std::size_t i = 0; i < other.num_rows(); ++i) columns_[c].AppendNull();
      continue;
    }
    const Column& src = other.columns_[static_cast<std::size_t>(oc)];
    if (src.type() != columns_[c].type() && src.type() != TypeId::kNull) {
      return InvalidArgument(fmt::format("column '{}' is {} in one batch and {} in another",
                                         names_[c], TypeName(columns_[c].type()),
                                         TypeName(src.type())));
    }
    columns_[c].AppendRange(src, 0, src.size());
  }
  if (has_weights() || other.has_weights()) {
    std::vector<std::int64_t>& w = mutable_weights();  // this batch's rows only, so far
    w.resize(before, 1);
    for (std::size_t i = 0; i < other.num_rows(); ++i) w.push_back(other.weight(i));
  }
  row_ids_.insert(row_ids_.end(), other.row_ids_.begin(), other.row_ids_.end());
  return Status::Ok();
}

std::size_t RecordBatch::ByteSize() const {
  std::size_t n = row_ids_.size() * 8 + weights_.size() * 8;
  for (const auto& c : columns_) n += c.ByteSize();
  return n;
}

Status RecordBatch::Validate() const {
  if (names_.size() != columns_.size()) return Internal("names/columns size mismatch");
  if (!weights_.empty() && weights_.size() != num_rows())
    return Internal(fmt::format("{} weights for {} rows", weights_.size(), num_rows()));
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (columns_[c].size() != num_rows()) {
      return Internal(fmt::format("column '{}' has {} rows, batch has {}", names_[c],
                                  columns_[c].size(), num_rows()));
    }
    PS_RETURN_IF_ERROR(columns_[c].Validate());
  }
  return Status::Ok();
}

bool ReadKeyValue(ByteReader& r, EncodedValue* v) {
  const char* start = r.position();
  std::uint8_t tag = 0;
  if (!r.GetByte(&tag)) return false;
  *v = EncodedValue{};
  if (tag != 0) {
    v->type = static_cast<TypeId>(tag - 1);
    std::string_view b;
    if (IsBinaryLike(v->type) || v->type == TypeId::kDoubleArray) {
      std::uint32_t len;
      if (!r.GetBytes(4, &b)) return false;
      std::memcpy(&len, b.data(), 4);
      if (!r.GetBytes(v->type == TypeId::kDoubleArray ? len * 8ULL : len, &v->bytes)) return false;
    } else if (!r.GetBytes(8, &b)) {
      return false;
    } else if (v->type == TypeId::kDouble) {
      std::memcpy(&v->d, b.data(), 8);
    } else if (IsIntegerLike(v->type)) {
      std::memcpy(&v->i, b.data(), 8);
    } else {
      return false;  // no type EncodeKey writes
    }
  }
  v->encoded = std::string_view(start, static_cast<std::size_t>(r.position() - start));
  return true;
}

void AppendKeyValue(const EncodedValue& v, Column& col) {
  if (v.type == TypeId::kNull) {
    col.AppendNull();
  } else if (IsBinaryLike(v.type)) {
    col.AppendString(v.bytes);
  } else if (v.type == TypeId::kDoubleArray) {
    std::vector<double> a(v.bytes.size() / 8);
    if (!a.empty()) std::memcpy(a.data(), v.bytes.data(), v.bytes.size());
    col.AppendArray(a);
  } else if (v.type == TypeId::kDouble) {
    col.AppendDouble(v.d);
  } else if (col.type() == TypeId::kDouble) {
    col.AppendDouble(static_cast<double>(v.i));
  } else if (v.type == TypeId::kBool) {
    col.AppendBool(v.i != 0);
  } else {
    col.AppendInt(v.i);
  }
}

std::uint64_t HashBytes(std::string_view s) {
  // XXH3 (libxxhash, inlined): keys are short (a UUID key is 41 bytes), where XXH3's
  // independent multiply lanes take ~5 ns against ~14 for a chained mix per 8 bytes.
  return XXH3_64bits(s.data(), s.size());
}

std::uint64_t HashRow(const RecordBatch& batch, std::span<const int> key_columns, std::size_t row) {
  thread_local ByteBuffer buf;
  buf.clear();
  EncodeKey(batch, key_columns, row, &buf);
  return HashBytes(buf.view());
}

}  // namespace pinstream
