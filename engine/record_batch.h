// Columnar data: Column, Schema and RecordBatch.
//
// A RecordBatch is a slice of one micro-batch in columnar form: named, typed columns of equal
// length plus one RowId per row. Operators transform batches in place; sinks consume them.
//
// Storage of a Column (one struct for every type, so that hot loops see plain vectors):
//   validity_   one byte per row, 1 = value present, 0 = null
//   ints_       int64 / timestamp (µs UTC) / bool (0/1) values
//   doubles_    double values; for array<double>, the concatenated elements
//   offsets_    string / raw / array<double>: row i spans [offsets_[i], offsets_[i+1]) of
//               bytes_ (strings) or doubles_ (arrays); size = rows + 1
//   bytes_      the string arena: one allocation for all the strings of a column (a ByteBuffer:
//               growing it does not zero the new bytes, which are always written right after)
// Appending a row never allocates per row (vectors grow geometrically; Reserve() avoids that).
//
// RowId: every row carries a 64-bit id assigned when the source read it: the high 32 bits are
// the index of the source chunk within the micro-batch, the low 32 the row within that chunk.
// Chunks are numbered in plan order, so RowIds give the micro-batch a deterministic total order
// (the engine merges shard outputs by it) and lead back to the raw record and its source
// position (for the dead-letter table). Operators must keep RowIds aligned with their rows.
//
// Weights (changes, DBSP's Z-sets): every row carries an int64 weight — +1 an insert, -1 a
// retraction of an equal row (other values: that many copies). `weights()` EMPTY means every row
// is +1: sources and the cleaning operators never materialise the vector, so insert-only paths
// pay nothing. Take/TakeFrom/Compact/Append keep each row's weight, materialising the vector
// only when some part has weights. Linear operators keep weights as they are; stateful ones
// consume and emit them (engine/operator.h).
//
// Input tag: which named input of its query a batch's rows belong to (config `inputs:`; 0 for
// single-input queries). The engine keeps it through the operators and the exchange, and skips
// the operators of other inputs; a join consumes two tags and emits rows of a new one.
//
// Threading: a batch is owned by one thread at a time; it is moved, never shared, between
// threads. Nothing here is thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/byte_buffer.h"
#include "engine/bytes.h"
#include "engine/check.h"
#include "engine/status.h"
#include "engine/types.h"

namespace pinstream {

using RowId = std::uint64_t;
inline RowId MakeRowId(std::uint32_t chunk, std::uint32_t row) {
  return (static_cast<RowId>(chunk) << 32) | row;
}
inline std::uint32_t RowIdChunk(RowId id) { return static_cast<std::uint32_t>(id >> 32); }
inline std::uint32_t RowIdRow(RowId id) { return static_cast<std::uint32_t>(id); }

class Column {
 public:
  Column() = default;
  explicit Column(TypeId type);

  TypeId type() const { return type_; }
  std::size_t size() const { return validity_.size(); }
  bool empty() const { return validity_.empty(); }

  bool IsNull(std::size_t i) const { return validity_[i] == 0; }
  bool IsValid(std::size_t i) const { return validity_[i] != 0; }
  std::size_t NullCount() const;

  // Typed reads; the caller knows the type (PS_CHECKed in debug-free builds only by tests).
  std::int64_t Int(std::size_t i) const { return ints_[i]; }
  bool Bool(std::size_t i) const { return ints_[i] != 0; }
  double Double(std::size_t i) const { return doubles_[i]; }
  std::string_view Str(std::size_t i) const {
    return std::string_view(bytes_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  std::span<const double> Array(std::size_t i) const {
    return std::span<const double>(doubles_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  // The value as a Value (slow path: stats, errors, display).
  Value GetValue(std::size_t i) const;

  void Reserve(std::size_t rows, std::size_t bytes = 0);
  void AppendNull();
  void AppendBool(bool v) {
    validity_.push_back(1);
    ints_.push_back(v ? 1 : 0);
  }
  void AppendInt(std::int64_t v) {  // int64 and timestamp
    validity_.push_back(1);
    ints_.push_back(v);
  }
  void AppendDouble(double v) {
    validity_.push_back(1);
    doubles_.push_back(v);
  }
  void AppendString(std::string_view v);  // string and raw
  // AppendString for a value whose source stays addressable for at least kShortCopy (64) bytes
  // from its start (a field inside a simdjson-padded input buffer): a value of up to 64 bytes is
  // copied as one fixed-size move instead of a memcpy call. Inlined into the parser's field loop.
  [[gnu::always_inline]] void AppendStringFromPadded(std::string_view v) {
    validity_.push_back(1);
    std::size_t at = bytes_.size();
    if (v.size() <= kShortCopy) {
      bytes_.resize(at + kShortCopy);
      std::memcpy(bytes_.data() + at, v.data(), kShortCopy);
      bytes_.resize(at + v.size());
    } else {
      bytes_.resize(at + v.size());
      std::memcpy(bytes_.data() + at, v.data(), v.size());
    }
    offsets_.push_back(at + v.size());
  }
  static constexpr std::size_t kShortCopy = 64;
  void AppendArray(std::span<const double> v);
  // Appends `v` converted to this column's type; InvalidArgument when it cannot be.
  Status AppendValue(const Value& v);
  // Appends row `i` of `other`, which must have the same type (or be a null column).
  void AppendFrom(const Column& other, std::size_t i);
  // Appends rows [begin, end) of `other` (same type).
  void AppendRange(const Column& other, std::size_t begin, std::size_t end);

  // A column of `n` nulls of type `type`.
  static Column Nulls(TypeId type, std::size_t n);
  // Gathers `rows` (in order) into a new column.
  Column Take(std::span<const std::uint32_t> rows) const;
  // Gathers the rows of several columns of this type, part after part, into one new column.
  struct Rows {
    const Column* column;
    std::span<const std::uint32_t> rows;
  };
  static Column TakeFrom(TypeId type, std::span<const Rows> parts);
  // Keeps rows whose keep[i] != 0, in place.
  void Compact(std::span<const std::uint8_t> keep);

  // Bytes held (approximate): used for memory accounting and benchmarks.
  std::size_t ByteSize() const;

  // Direct access for encoders and fast paths.
  const std::vector<std::uint8_t>& validity() const { return validity_; }
  const std::vector<std::int64_t>& ints() const { return ints_; }
  const std::vector<double>& doubles() const { return doubles_; }
  const std::vector<std::uint64_t>& offsets() const { return offsets_; }
  const ByteBuffer& bytes() const { return bytes_; }
  std::vector<std::uint8_t>& mutable_validity() { return validity_; }
  std::vector<std::int64_t>& mutable_ints() { return ints_; }
  std::vector<double>& mutable_doubles() { return doubles_; }
  std::vector<std::uint64_t>& mutable_offsets() { return offsets_; }
  ByteBuffer& mutable_bytes() { return bytes_; }
  // Sets the value of row i to null (keeps storage aligned).
  void SetNull(std::size_t i) { validity_[i] = 0; }

  // Verifies internal invariants (sizes agree). For decoders of stored data.
  Status Validate() const;

 private:
  TypeId type_ = TypeId::kNull;
  std::vector<std::uint8_t> validity_;
  std::vector<std::int64_t> ints_;
  std::vector<double> doubles_;
  std::vector<std::uint64_t> offsets_;
  ByteBuffer bytes_;
};

struct Field {
  std::string name;
  TypeId type = TypeId::kNull;
  bool nullable = true;
  bool operator==(const Field& o) const {
    return name == o.name && type == o.type && nullable == o.nullable;
  }
};

class Schema {
 public:
  Schema() = default;
  explicit Schema(std::vector<Field> fields) : fields_(std::move(fields)) {}

  const std::vector<Field>& fields() const { return fields_; }
  std::size_t size() const { return fields_.size(); }
  const Field& field(std::size_t i) const { return fields_[i]; }
  int FieldIndex(std::string_view name) const;  // -1 when absent
  void AddField(Field f) { fields_.push_back(std::move(f)); }
  bool operator==(const Schema& o) const { return fields_ == o.fields_; }

  // "ind: int64, country: string, ..." for messages.
  std::string ToString() const;
  // JSON form stored with tables: [{"name":..,"type":..,"nullable":..}, ...]
  std::string ToJson() const;
  static Result<Schema> FromJson(std::string_view json);

 private:
  std::vector<Field> fields_;
};

class RecordBatch {
 public:
  RecordBatch() = default;

  std::size_t num_rows() const { return row_ids_.size(); }
  std::size_t num_columns() const { return columns_.size(); }
  const std::string& name(std::size_t i) const { return names_[i]; }
  const std::vector<std::string>& names() const { return names_; }
  Column& column(std::size_t i) { return columns_[i]; }
  const Column& column(std::size_t i) const { return columns_[i]; }
  int FindColumn(std::string_view name) const;  // -1 when absent

  std::vector<RowId>& row_ids() { return row_ids_; }
  const std::vector<RowId>& row_ids() const { return row_ids_; }

  // Per-row weights; empty = every row +1 (see the header comment).
  const std::vector<std::int64_t>& weights() const { return weights_; }
  bool has_weights() const { return !weights_.empty(); }
  std::int64_t weight(std::size_t row) const { return weights_.empty() ? 1 : weights_[row]; }
  // Materialises the weights (all +1 if there were none) and returns them for writing; their
  // size is num_rows().
  std::vector<std::int64_t>& mutable_weights();
  // Sets the weights (size num_rows(), or empty for all +1).
  void SetWeights(std::vector<std::int64_t> weights);
  // True when some row's weight is not +1.
  bool HasRetractionsOrMultiples() const;

  // The named input of the query these rows belong to (0 unless the query has several inputs).
  std::uint16_t input_tag() const { return input_tag_; }
  void set_input_tag(std::uint16_t tag) { input_tag_ = tag; }

  // Adds a column; its size must equal num_rows() (an empty batch takes the column's size only
  // if it has no rows and no columns yet and row ids are then set by the caller).
  void AddColumn(std::string name, Column column);
  void SetColumn(std::size_t i, Column column) { columns_[i] = std::move(column); }
  void RemoveColumn(std::size_t i);
  void RenameColumn(std::size_t i, std::string name) { names_[i] = std::move(name); }
  // Keeps the columns at `order`, in that order.
  void SelectColumns(std::span<const std::size_t> order);

  Schema schema() const;
  // Gathers rows into a new batch with the same columns (and input tag, and the rows' weights).
  RecordBatch Take(std::span<const std::uint32_t> rows) const;
  // Gathers the rows of several batches, part after part, into one new batch. Every part's batch
  // must have the same columns (SameColumns) and input tag — the first part's.
  struct Rows {
    const RecordBatch* batch;
    std::span<const std::uint32_t> rows;
  };
  static RecordBatch TakeFrom(std::span<const Rows> parts);
  // Same column names and types, in the same order.
  bool SameColumns(const RecordBatch& other) const;
  // Keeps rows with keep[i] != 0, in place.
  void Compact(std::span<const std::uint8_t> keep);
  // Appends all rows of `other` (with their weights); columns are matched by name. Columns
  // missing on one side are filled with nulls; a type mismatch is an InvalidArgument naming the
  // column and both types. An empty batch without columns takes `other`'s input tag.
  Status Append(const RecordBatch& other);
  std::size_t ByteSize() const;

  // Consistency check (all columns num_rows long). For tests and decoders.
  Status Validate() const;

 private:
  std::vector<std::string> names_;
  std::vector<Column> columns_;
  std::vector<RowId> row_ids_;
  std::vector<std::int64_t> weights_;  // empty = all +1
  std::uint16_t input_tag_ = 0;
};

// 64-bit hash of a byte string (XXH3), stable within a process run. Used for shard routing and
// keyed state partitioning (never persisted as a key).
std::uint64_t HashBytes(std::string_view bytes);
// Appends a canonical byte encoding of the values of `key_columns` in row `row` to *out
// (type-tagged and length-prefixed, so distinct keys never encode alike). Keyed operators store
// state under this encoding; it is also what the exchange hashes. `Buffer`: std::string or
// ByteBuffer (the hot callers: inline appends).
template <typename Buffer>
void EncodeKey(const RecordBatch& batch, std::span<const int> key_columns, std::size_t row,
               Buffer* out) {
  auto put = [out](const void* p, std::size_t n) { out->append(static_cast<const char*>(p), n); };
  for (int ci : key_columns) {
    const Column& c = batch.column(static_cast<std::size_t>(ci));
    if (c.type() == TypeId::kNull || c.IsNull(row)) {
      out->push_back('\0');
      continue;
    }
    out->push_back(static_cast<char>(1 + static_cast<int>(c.type())));
    if (IsBinaryLike(c.type())) {
      std::string_view v = c.Str(row);
      auto len = static_cast<std::uint32_t>(v.size());
      put(&len, 4);
      put(v.data(), v.size());
    } else if (IsIntegerLike(c.type())) {
      std::int64_t v = c.Int(row);
      put(&v, 8);
    } else if (c.type() == TypeId::kDouble) {
      double v = c.Double(row);
      put(&v, 8);
    } else {
      auto a = c.Array(row);
      auto len = static_cast<std::uint32_t>(a.size());
      put(&len, 4);
      put(a.data(), a.size() * 8);
    }
  }
}
// One value of EncodeKey's bytes, read in place by ReadKeyValue: its type (kNull for a null) and
// its value — `i` for the integer-like types (a bool's 0 or 1, a timestamp's µs), `d` for a
// double, `bytes` for a string or raw value and for an array (its elements' 8 bytes each).
struct EncodedValue {
  TypeId type = TypeId::kNull;
  std::int64_t i = 0;
  double d = 0;
  std::string_view bytes;
  std::string_view encoded;  // the value's whole encoding, its type tag included
};
// Reads the next value of EncodeKey bytes: false when they end inside it (damaged bytes).
bool ReadKeyValue(ByteReader& r, EncodedValue* v);
// Appends a value read back to `col`, which holds its type (a null: a null of any type; an
// integer-like value also goes to a double column, as a double).
void AppendKeyValue(const EncodedValue& v, Column& col);

// HashBytes(EncodeKey(...)): the shard of a key is ShardOfHash(HashRow(...), shards), and a keyed
// operator can recompute it from a stored state key with ShardOfHash(HashBytes(key), shards).
std::uint64_t HashRow(const RecordBatch& batch, std::span<const int> key_columns, std::size_t row);

// Keys are spread over a fixed number of state partitions; a shard owns the partitions p with
// p % shards == shard. Large keyed state (StateTable) is stored by partition, so a shard's range
// scans touch only its own keys and the shard count may change between runs.
inline constexpr int kStatePartitions = 256;
inline std::uint8_t StatePartitionOf(std::uint64_t hash) {
  return static_cast<std::uint8_t>(hash % kStatePartitions);
}
inline int ShardOfHash(std::uint64_t hash, int shards) {
  return static_cast<int>(StatePartitionOf(hash) % static_cast<unsigned>(shards));
}

}  // namespace pinstream
